/** openRelay over the scripted libc: a side that cannot be opened leaves nothing open (the kernel side is test/kernel/relay.test.ts). */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeLibc } from './fake-libc.js';

const holder = vi.hoisted(() => ({ libc: undefined as unknown }));
vi.mock('../src/libc.js', () => ({ libc: () => holder.libc }));

const { openRelay, closeAllTunDevices } = await import('../src/index.js');

let sys: FakeLibc;
beforeEach(() => {
  sys = new FakeLibc();
  holder.libc = sys;
});
afterEach(() => {
  closeAllTunDevices();
});

describe('openRelay', () => {
  it('opens both sides without offloads (no IFF_VNET_HDR, no TUNSETOFFLOAD) and closes both on close()', () => {
    const relay = openRelay({ name: 'ra' }, { name: 'rb' });
    expect(sys.openFds.size).toBe(2);
    expect(relay.a.offload).toBeUndefined();
    expect(relay.b.offload).toBeUndefined();
    relay.close();
    expect(sys.openFds.size).toBe(0);
  });

  it('B missing (ENOENT): the error is thrown and A, already made, is closed again', () => {
    const open = sys.open.bind(sys);
    sys.open = (path: string, flags: number): number => {
      if (path === '/run/netns/missing-b') {
        sys.calls.push({ fn: 'open', args: [path, flags] });
        sys.lastErrno = 2;
        return -1;
      }
      return open(path, flags);
    };
    expect(() => openRelay({ name: 'ra' }, { name: 'rb', netns: 'missing-b' })).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(sys.calls.filter((c) => c.fn === 'open' && c.args[0] === '/dev/net/tun')).toHaveLength(1);
    expect(sys.openFds.size).toBe(0);
  });
});
