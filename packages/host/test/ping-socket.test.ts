import { describe, expect, it } from 'vitest';
import { PingSocket, addressBytes, pingGroupRange, type HostLibc } from '../src/index.js';

/** A libc that records calls: socket() fails with `socketErrno` when set. */
function fakeLibc(socketErrno?: number, range = '1\t0\n'): HostLibc & { sent: { addr: Uint8Array; len: number; msg: Uint8Array }[]; polled: number[] } {
  let errno = 0;
  const sent: { addr: Uint8Array; len: number; msg: Uint8Array }[] = [];
  const polled: number[] = [];
  return {
    sent,
    polled,
    socket: () => (socketErrno === undefined ? 7 : ((errno = socketErrno), -1)),
    close: () => 0,
    sendto: (_fd, buf, len, _flags, addr, addrLen) => { sent.push({ addr: addr.slice(0, addrLen), len, msg: buf.slice(0, len) }); return len; },
    recvfrom: () => ((errno = 11), -1),
    getsockname: (_fd, addr) => { addr[2] = 0x12; addr[3] = 0x34; return 0; },
    setsockoptInt: () => 0,
    readText: () => range,
    errno: () => errno,
    poll: (fd) => { polled.push(fd); return { stop() {}, close() {}, ref() {}, unref() {} }; },
  };
}

describe('PingSocket', () => {
  it('open: EACCES (ping_group_range) is a CodedError naming the sysctl', () => {
    const sys = fakeLibc(13);
    let err: (Error & { code?: string; syscall?: string }) | undefined;
    try { PingSocket.open({ family: 4, onMessage: () => {}, libc: sys }); } catch (e) { err = e as Error; }
    expect(err?.code).toBe('EACCES');
    expect(err?.syscall).toBe('socket');
    expect(err?.message).toMatch(/ping_group_range/);
    expect(sys.polled).toEqual([]);
  });

  it('send: a sockaddr_in / sockaddr_in6 for the destination, the message as given; the id read back after the first send', () => {
    const sys = fakeLibc();
    const s4 = PingSocket.open({ family: 4, onMessage: () => {}, libc: sys });
    expect(s4.id).toBe(0);
    const msg = Uint8Array.of(8, 0, 0, 0, 0, 0, 0, 1, 0xaa);
    expect(s4.send('10.8.0.1', msg)).toBeUndefined();
    expect(s4.id).toBe(0x1234);
    expect([...sys.sent[0]!.addr]).toEqual([2, 0, 0, 0, 10, 8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect([...sys.sent[0]!.msg]).toEqual([...msg]);
    const s6 = PingSocket.open({ family: 6, onMessage: () => {}, libc: sys });
    expect(s6.send('fd08::1', msg)).toBeUndefined();
    const a = sys.sent[1]!.addr;
    expect(a.length).toBe(28);
    expect([a[0], a[1]]).toEqual([10, 0]);
    expect([...a.subarray(8, 24)]).toEqual([0xfd, 0x08, ...new Array(13).fill(0), 1]);
    // The wrong family or no address: EINVAL, nothing sent.
    expect(s4.send('fd08::1', msg)).toBe('EINVAL');
    expect(s6.send('nope', msg)).toBe('EINVAL');
    expect(sys.sent).toHaveLength(2);
    s4.close();
    expect(s4.send('10.8.0.1', msg)).toBe('EBADF');
  });

  it('pingGroupRange reads the sysctl', () => {
    expect(pingGroupRange(fakeLibc(undefined, '1\t0\n'))).toEqual({ low: 1, high: 0 });
    expect(pingGroupRange(fakeLibc(undefined, '0 2147483647\n'))).toEqual({ low: 0, high: 2147483647 });
  });
});

describe('addressBytes', () => {
  it('IPv4 and IPv6 text, embedded dotted quads, :: anywhere; junk and zones refused', () => {
    expect([...addressBytes('10.8.0.1')!]).toEqual([10, 8, 0, 1]);
    expect([...addressBytes('::1')!]).toEqual([...new Array(15).fill(0), 1]);
    expect([...addressBytes('::')!]).toEqual(new Array(16).fill(0));
    expect([...addressBytes('fd08::')!]).toEqual([0xfd, 8, ...new Array(14).fill(0)]);
    expect([...addressBytes('1:2:3:4:5:6:7:8')!]).toEqual([0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8]);
    expect([...addressBytes('::ffff:10.8.0.1')!]).toEqual([...new Array(10).fill(0), 0xff, 0xff, 10, 8, 0, 1]);
    expect([...addressBytes('64:ff9b::192.0.2.1')!]).toEqual([0, 0x64, 0xff, 0x9b, ...new Array(8).fill(0), 192, 0, 2, 1]);
    expect(addressBytes('fe80::1%eth0')).toBeUndefined();
    expect(addressBytes('10.8.0')).toBeUndefined();
    expect(addressBytes('example.com')).toBeUndefined();
  });
});
