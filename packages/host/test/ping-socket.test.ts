import { describe, expect, it } from 'vitest';
import { PingSocket, addressBytes, pingGroupRange, type HostLibc, type MsgBuffers, type PingSocketError } from '../src/index.js';

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
    connect: () => 0,
    send: () => 0,
    getsockname: (_fd, addr) => { addr[2] = 0x12; addr[3] = 0x34; return 0; },
    setsockoptInt: () => 0,
    readText: () => range,
    errno: () => errno,
    recvmsg: () => ((errno = 11), -1),
    msgBuffers: () => { throw new Error('not used without onError'); },
    freeMsgBuffers: () => {},
    poll: (fd) => { polled.push(fd); return { start() {}, stop() {}, close() {}, ref() {}, unref() {} }; },
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

  it('onError: IP_RECVERR on; a POLLERR drains the error queue (cmsg IP_RECVERR: sock_extended_err + offender), hands on ICMP errors, skips local ones, restarts the poll', () => {
    const sys = fakeLibc();
    const opts: [number, number, number][] = [];
    sys.setsockoptInt = (_fd, level, name, value) => { opts.push([level, name, value]); return 0; };
    // Plain memory in place of the native block; recvmsg fills it as the kernel would.
    const control = new Uint8Array(256);
    const data = new Uint8Array(576);
    let current = { clen: 0 };
    const block: MsgBuffers = { ptr: null, header: new DataView(new ArrayBuffer(72)), name: new Uint8Array(32), control, data, reset() {}, controlLength: () => current.clen };
    sys.msgBuffers = () => block;
    const entry = (origin: number, type: number, code: number, info: number, offender: number[], seq: number) => {
      const c = new Uint8Array(256);
      const v = new DataView(c.buffer);
      const len = 16 + 16 + 16; // cmsghdr + sock_extended_err + sockaddr_in
      v.setBigUint64(0, BigInt(len), true); v.setInt32(8, 0, true); v.setInt32(12, 11, true); // SOL_IP, IP_RECVERR
      v.setUint32(16, 113, true); c[20] = origin; c[21] = type; c[22] = code; v.setUint32(24, info, true);
      v.setUint16(32, 2, true); c.set(offender, 36);
      return { c, clen: len, msg: Uint8Array.of(8, 0, 0, 0, 0x12, 0x34, seq >> 8, seq & 0xff) };
    };
    // An ICMP time exceeded, a local error (origin 1: not ICMP), a fragmentation needed with its MTU.
    const queue = [entry(2, 11, 0, 0, [10, 8, 0, 1], 7), entry(1, 0, 0, 1400, [0, 0, 0, 0], 8), entry(2, 3, 4, 1400, [10, 8, 0, 9], 9)];
    sys.errno = () => 11; // EAGAIN once the queue is empty
    sys.recvmsg = (_fd, b, flags) => {
      expect(flags).toBe(0x2000); // MSG_ERRQUEUE
      const e = queue.shift();
      if (e === undefined) return -1;
      current = e;
      b.control.set(e.c);
      b.data.set(e.msg);
      return e.msg.length;
    };
    let restarted = 0;
    let onPoll: ((status: number) => void) | undefined;
    sys.poll = (_fd, cb) => { onPoll = (st) => cb(st, { readable: false, writable: false, disconnect: false }); return { start: () => { restarted++; }, stop() {}, close() {}, ref() {}, unref() {} }; };
    const got: PingSocketError[] = [];
    const s = PingSocket.open({ family: 4, onMessage: () => {}, onError: (e) => got.push({ ...e, offender: e.offender.slice(), message: e.message.slice() }), libc: sys });
    expect(opts).toEqual([[0, 11, 1]]); // SOL_IP, IP_RECVERR
    onPoll!(-9); // UV_EBADF: libuv saw POLLERR and stopped the watch
    expect(got.map((e) => [e.type, e.code, e.info, e.errno, [...e.offender], (e.message[6]! << 8) | e.message[7]!])).toEqual([
      [11, 0, 0, 'EHOSTUNREACH', [10, 8, 0, 1], 7],
      [3, 4, 1400, 'EHOSTUNREACH', [10, 8, 0, 9], 9],
    ]);
    expect(s.stats()).toMatchObject({ InIcmpErrors: 2, InOtherErrors: 1 });
    expect(restarted).toBe(1);
    // A hop limit per send: one setsockopt when it changes.
    s.send('10.8.0.1', Uint8Array.of(8, 0, 0, 0, 0, 0, 0, 1), 5);
    s.send('10.8.0.1', Uint8Array.of(8, 0, 0, 0, 0, 0, 0, 2), 5);
    expect(opts).toEqual([[0, 11, 1], [0, 2, 5]]); // IP_TTL
    s.close();
  });

  it('a readable turn (status 0) reads replies with recvfrom() only: the error queue is read on POLLERR alone', () => {
    const sys = fakeLibc();
    const rxq: number[][] = [[0, 0, 0, 0, 0x12, 0x34, 0, 1]];
    let recvmsgs = 0;
    sys.msgBuffers = () => ({ ptr: null, header: new DataView(new ArrayBuffer(72)), name: new Uint8Array(32), control: new Uint8Array(256), data: new Uint8Array(576), reset() {}, controlLength: () => 0 });
    sys.recvmsg = () => { recvmsgs++; return -1; }; // errno 0 here: the drain stops at any failure
    sys.recvfrom = (_fd, buf, _len, _flags, addr, addrLen) => {
      const m = rxq.shift();
      if (m === undefined) return -1; // errno() is EAGAIN (11) below
      buf.set(m);
      addr.set([2, 0, 0, 0, 10, 8, 0, 1]);
      addrLen[0] = 16;
      return m.length;
    };
    sys.errno = () => 11;
    let onPoll: ((status: number) => void) | undefined;
    sys.poll = (_fd, cb) => { onPoll = (st) => cb(st, { readable: true, writable: false, disconnect: false }); return { start() {}, stop() {}, close() {}, ref() {}, unref() {} }; };
    const got: number[][] = [];
    const s = PingSocket.open({ family: 4, onMessage: (m, from) => got.push([...m, ...from]), onError: () => {}, libc: sys });
    onPoll!(0);
    expect(got).toEqual([[0, 0, 0, 0, 0x12, 0x34, 0, 1, 10, 8, 0, 1]]);
    expect(recvmsgs).toBe(0);
    onPoll!(-9); // POLLERR: now the error queue is read
    expect(recvmsgs).toBe(1);
    expect(s.stats()).toMatchObject({ InMsgs: 1, InMsgsNow: 0 });
    s.close();
  });

  it('receiveNow: reads the replies already queued at once (counted InMsgsNow); none from inside onMessage; 0 once closed', () => {
    const sys = fakeLibc();
    const rxq: number[][] = [];
    sys.recvfrom = (_fd, buf, _len, _flags, addr, addrLen) => {
      const m = rxq.shift();
      if (m === undefined) return -1;
      buf.set(m);
      addr.set([2, 0, 0, 0, 10, 8, 0, 1]);
      addrLen[0] = 16;
      return m.length;
    };
    sys.errno = () => 11;
    const got: number[] = [];
    let nested = -1;
    const s: PingSocket = PingSocket.open({ family: 4, onMessage: (m) => { got.push(m[7]!); if (m[7] === 2) nested = s.receiveNow(); }, libc: sys });
    expect(s.receiveNow()).toBe(0); // nothing queued: one EAGAIN
    rxq.push([0, 0, 0, 0, 0x12, 0x34, 0, 1], [0, 0, 0, 0, 0x12, 0x34, 0, 2], [0, 0, 0, 0, 0x12, 0x34, 0, 3]);
    expect(s.receiveNow()).toBe(3);
    expect(got).toEqual([1, 2, 3]);
    expect(nested).toBe(0); // from inside onMessage: the running drain reads the rest
    expect(s.stats()).toMatchObject({ InMsgs: 3, InMsgsNow: 3 });
    s.close();
    rxq.push([0, 0, 0, 0, 0x12, 0x34, 0, 4]);
    expect(s.receiveNow()).toBe(0);
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
