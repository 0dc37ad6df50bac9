/**
 * createStack({ wireguard }) refuses bad keys and options with Node's error codes, the
 * property path in the message and `option: 'wireguard'`, before any socket is bound (so
 * these run without a namespace: nothing reaches the network). Before wireguard-options.ts,
 * a port of 70000, an endpoint 'nope' and a keepalive of -1 were accepted, a peers string
 * threw "options.peers.map is not a function", and a misspelt allowedIps made a peer with
 * no routes without a word (checked on the merge of i14-wt).
 */
import { describe, expect, it } from 'vitest';
import { createStack } from '../src/index.js';
import { checkWireGuardOptions } from '../src/wireguard-options.js';

const K1 = 'yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=';
const K2 = 'xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=';
const peer = { publicKey: K2, allowedIPs: ['10.100.0.1/32', 'fd00:100::/64'], endpoint: { address: '192.0.2.1', port: 51820 }, persistentKeepalive: 25 };

async function refusal(wireguard: unknown): Promise<Error & { code?: string; option?: string }> {
  try {
    const s = await createStack({ wireguard: wireguard as never, address: '10.100.0.2' });
    await s.close();
  } catch (err) {
    return err as Error & { code?: string; option?: string };
  }
  throw new Error('accepted');
}

describe('createStack({ wireguard }): Node-style argument errors', () => {
  const cases: Array<[string, unknown, string, RegExp]> = [
    ['not an object', 'wg0.conf', 'ERR_INVALID_ARG_TYPE', /"options\.wireguard" property must be of type object/],
    ['no key', { peers: [peer] }, 'ERR_INVALID_ARG_VALUE', /options\.wireguard' must have a privateKey/],
    ['short key', { privateKey: 'abcd', peers: [peer] }, 'ERR_INVALID_ARG_VALUE', /options\.wireguard\.privateKey' must be 32 bytes in base64/],
    ['key of 31 bytes', { privateKey: new Uint8Array(31), peers: [peer] }, 'ERR_INVALID_ARG_VALUE', /options\.wireguard\.privateKey' must be 32 bytes/],
    ['key a number', { privateKey: 42, peers: [peer] }, 'ERR_INVALID_ARG_TYPE', /"options\.wireguard\.privateKey" property must be of type string/],
    ['port 70000', { privateKey: K1, listenPort: 70000, peers: [peer] }, 'ERR_OUT_OF_RANGE', /"options\.wireguard\.listenPort" is out of range/],
    ['mtu 10', { privateKey: K1, mtu: 10, peers: [peer] }, 'ERR_OUT_OF_RANGE', /"options\.wireguard\.mtu" is out of range/],
    ['peers a string', { privateKey: K1, peers: 'x' }, 'ERR_INVALID_ARG_TYPE', /"options\.wireguard\.peers" property must be an instance of Array/],
    ['no peers', { privateKey: K1 }, 'ERR_INVALID_ARG_TYPE', /"options\.wireguard\.peers" property/],
    ['bad public key', { privateKey: K1, peers: [{ ...peer, publicKey: K2.slice(1) }] }, 'ERR_INVALID_ARG_VALUE', /peers\[0\]\.publicKey' must be 32 bytes/],
    ['repeated peer', { privateKey: K1, peers: [peer, peer] }, 'ERR_INVALID_ARG_VALUE', /peers\[1\]\.publicKey' must not repeat/],
    ['bad psk', { privateKey: K1, peers: [{ ...peer, presharedKey: 'x' }] }, 'ERR_INVALID_ARG_VALUE', /peers\[0\]\.presharedKey'/],
    ['allowedIps misspelt', { privateKey: K1, peers: [{ publicKey: K2, allowedIps: ['10.0.0.0/24'] }] }, 'ERR_INVALID_ARG_TYPE', /peers\[0\]\.allowedIPs" property .* \(spelt allowedIPs/],
    ['allowedIPs a string', { privateKey: K1, peers: [{ publicKey: K2, allowedIPs: '10.0.0.0/24' }] }, 'ERR_INVALID_ARG_TYPE', /peers\[0\]\.allowedIPs" property must be an instance of Array/],
    ['bad prefix', { privateKey: K1, peers: [{ ...peer, allowedIPs: ['10.0.0.0/33'] }] }, 'ERR_INVALID_ARG_VALUE', /peers\[0\]\.allowedIPs\[0\]' must be an IPv4 or IPv6 prefix/],
    ['endpoint a host name', { privateKey: K1, peers: [{ ...peer, endpoint: { address: 'vpn.example', port: 51820 } }] }, 'ERR_INVALID_ARG_VALUE', /endpoint\.address' must be an IPv4 or IPv6 address/],
    ['endpoint port 0', { privateKey: K1, peers: [{ ...peer, endpoint: { address: '192.0.2.1', port: 0 } }] }, 'ERR_OUT_OF_RANGE', /endpoint\.port" is out of range/],
    ['endpoint a string', { privateKey: K1, peers: [{ ...peer, endpoint: '192.0.2.1:51820' }] }, 'ERR_INVALID_ARG_TYPE', /peers\[0\]\.endpoint" property must be of type object/],
    ['keepalive -1', { privateKey: K1, peers: [{ ...peer, persistentKeepalive: -1 }] }, 'ERR_OUT_OF_RANGE', /persistentKeepalive" is out of range/],
    ['config a number', { config: 1 }, 'ERR_INVALID_ARG_TYPE', /"options\.wireguard\.config" property must be of type string/],
  ];
  for (const [what, wireguard, code, message] of cases) {
    it(`${what}: ${code}`, async () => {
      const err = await refusal(wireguard);
      expect(err.code).toBe(code);
      expect(err.message).toMatch(message);
      expect(err.option).toBe('wireguard');
    });
  }

  it('with options.tun, options.tap or options.link as well: ERR_INVALID_ARG_VALUE', async () => {
    for (const other of [{ tun: {} }, { tap: {} }]) {
      const err = await createStack({ wireguard: { privateKey: K1, peers: [peer] }, address: '10.100.0.2', ...other } as never).then(() => undefined, (e: unknown) => e as Error & { code?: string });
      expect(err?.code).toBe('ERR_INVALID_ARG_VALUE');
      expect(err?.message).toMatch(/exactly one of options\.tun, options\.tap, options\.link and options\.wireguard/);
    }
  });

  it('accepts what createWireGuardLink takes: base64 or 32-byte keys, IPv4 and IPv6 prefixes and endpoints, or a config alone', () => {
    expect(() => checkWireGuardOptions({ privateKey: K1, listenPort: 51820, mtu: 1420, peers: [peer] })).not.toThrow();
    expect(() => checkWireGuardOptions({ privateKey: new Uint8Array(32), peers: [{ publicKey: Buffer.from(K2, 'base64'), presharedKey: K1, allowedIPs: ['0.0.0.0/0', '::/0'], endpoint: { address: 'fd99::2', port: 1 } }] })).not.toThrow();
    expect(() => checkWireGuardOptions({ privateKey: K1, peers: [] })).not.toThrow();
    expect(() => checkWireGuardOptions({ config: '[Interface]\nPrivateKey = ' + K1 + '\n' })).not.toThrow();
  });
});
