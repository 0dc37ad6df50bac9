/** createStack's address 'slaac' (RFC 4862 over a TAP): what is refused before anything opens. */
import { describe, expect, it } from 'vitest';
import { createStack } from '@netstack/netstack';

describe("address 'slaac'", () => {
  it('needs a TAP (a TUN carries no router advertisements) and is given once', async () => {
    await expect(createStack({ tun: {}, address: ['10.7.0.2', 'slaac'] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', option: 'address', message: /needs an Ethernet segment: options.tap/ });
    await expect(createStack({ tap: {}, address: ['10.7.0.2', 'slaac', 'slaac'] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', option: 'address', message: /must not repeat 'slaac'/ });
  });
});
