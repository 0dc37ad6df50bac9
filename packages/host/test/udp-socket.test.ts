import { describe, expect, it } from 'vitest';
import { UdpSocket, type HostLibc, type MsgBuffers, type UdpSocketError } from '../src/index.js';

interface Entry { c: Uint8Array; clen: number; msg: Uint8Array }

/** A scripted libc: records setsockopt/connect/send, serves an error queue and a receive queue. */
function scripted() {
  let errno = 0;
  const opts: [number, number, number][] = [];
  const connects: Uint8Array[] = [];
  const sends: number[] = [];
  /** What the next send() does: undefined takes it, a number fails with that errno. */
  const sendFails: (number | undefined)[] = [];
  const errq: Entry[] = [];
  const rxq: Uint8Array[] = [];
  const control = new Uint8Array(256);
  const data = new Uint8Array(576);
  let clen = 0;
  const block: MsgBuffers = { ptr: null, header: new DataView(new ArrayBuffer(72)), name: new Uint8Array(32), control, data, reset() {}, controlLength: () => clen };
  let onPoll: ((status: number) => void) | undefined;
  let restarted = 0;
  const sys: HostLibc = {
    socket: () => 9,
    close: () => 0,
    sendto: () => -1,
    recvfrom: (_fd, buf) => {
      const m = rxq.shift();
      if (m === undefined) { errno = 11; return -1; }
      buf.set(m);
      return m.length;
    },
    connect: (_fd, addr, len) => { connects.push(addr.slice(0, len)); return 0; },
    send: (_fd, _buf, len) => {
      const f = sendFails.shift();
      if (f !== undefined) { errno = f; return -1; }
      sends.push(len);
      return len;
    },
    getsockname: () => 0,
    setsockoptInt: (_fd, level, name, value) => { opts.push([level, name, value]); return 0; },
    recvmsg: (_fd, b, flags) => {
      expect(flags).toBe(0x2000); // MSG_ERRQUEUE
      const e = errq.shift();
      if (e === undefined) { errno = 11; return -1; }
      clen = e.clen;
      b.control.fill(0);
      b.control.set(e.c);
      b.data.set(e.msg);
      return e.msg.length;
    },
    msgBuffers: () => block,
    freeMsgBuffers: () => {},
    readText: () => undefined,
    errno: () => errno,
    poll: (_fd, cb) => {
      onPoll = (st) => cb(st, { readable: true, writable: false, disconnect: false });
      return { start: () => { restarted++; }, stop() {}, close() {}, ref() {}, unref() {} };
    },
  };
  return { sys, opts, connects, sends, sendFails, errq, rxq, poll: (st: number) => onPoll!(st), restarted: () => restarted };
}

/** One error queue entry as Linux writes it: cmsg IP_RECVERR (sock_extended_err, offender sockaddr_in). */
function entry(origin: number, errno: number, type: number, code: number, info: number, offender: number[], payload: number[]): Entry {
  const c = new Uint8Array(256);
  const v = new DataView(c.buffer);
  const len = 16 + 16 + 16;
  v.setBigUint64(0, BigInt(len), true); v.setInt32(8, 0, true); v.setInt32(12, 11, true); // SOL_IP, IP_RECVERR
  v.setUint32(16, errno, true); c[20] = origin; c[21] = type; c[22] = code; v.setUint32(24, info, true);
  v.setUint16(32, 2, true); c.set(offender, 36);
  return { c, clen: len, msg: Uint8Array.from(payload) };
}

describe('UdpSocket', () => {
  it('open turns IP_RECVERR on; connect writes a sockaddr_in with the port in network order', () => {
    const t = scripted();
    const s = UdpSocket.open({ family: 4, onMessage: () => {}, onError: () => {}, libc: t.sys });
    expect(t.opts).toEqual([[0, 11, 1]]);
    expect(s.connect('10.8.1.2', 33434)).toBeUndefined();
    expect([...t.connects[0]!]).toEqual([2, 0, 0x82, 0x9a, 10, 8, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(s.connect('fd08::1', 1)).toBe('EINVAL'); // another family
    s.close();
    expect(s.send(Uint8Array.of(1))).toBe('EBADF');
  });

  it('send: TTL and DF set only when they change (IP_TTL, IP_MTU_DISCOVER DO / DONT); IPv6 uses IPV6_UNICAST_HOPS / IPV6_MTU_DISCOVER', () => {
    const t = scripted();
    const s = UdpSocket.open({ family: 4, onMessage: () => {}, onError: () => {}, libc: t.sys });
    s.send(new Uint8Array(10), { ttl: 1, dontFragment: true });
    s.send(new Uint8Array(10), { ttl: 1, dontFragment: true });
    s.send(new Uint8Array(10), { ttl: 63, dontFragment: false });
    s.send(new Uint8Array(10));
    expect(t.opts).toEqual([[0, 11, 1], [0, 2, 1], [0, 10, 2], [0, 2, 63], [0, 10, 0]]);
    expect(t.sends).toEqual([10, 10, 10, 10]);
    const t6 = scripted();
    const s6 = UdpSocket.open({ family: 6, onMessage: () => {}, onError: () => {}, libc: t6.sys });
    s6.send(new Uint8Array(3), { ttl: 2, dontFragment: true });
    expect(t6.opts).toEqual([[41, 25, 1], [41, 16, 2], [41, 23, 2]]);
  });

  it('a POLLERR drains the error queue: ICMP errors with their offender and MTU, local EMSGSIZE with the path MTU; then datagrams; the watch restarts', () => {
    const t = scripted();
    const got: UdpSocketError[] = [];
    const rx: number[][] = [];
    UdpSocket.open({ family: 4, onMessage: (d) => rx.push([...d]), onError: (e) => got.push({ ...e, offender: e.offender.slice(), message: e.message.slice() }), libc: t.sys });
    t.errq.push(entry(2, 113, 11, 0, 0, [10, 8, 0, 1], [1, 2]), entry(1, 90, 0, 0, 1280, [0, 0, 0, 0], [3]), entry(2, 90, 3, 4, 1280, [10, 8, 0, 1], [4]));
    t.rxq.push(Uint8Array.of(9, 9));
    t.poll(-9); // UV_EBADF: libuv saw POLLERR and stopped the watch
    expect(got.map((e) => [e.origin, e.type, e.code, e.info, e.errno, [...e.offender], [...e.message]])).toEqual([
      ['icmp', 11, 0, 0, 'EHOSTUNREACH', [10, 8, 0, 1], [1, 2]],
      ['local', 0, 0, 1280, 'EMSGSIZE', [], [3]],
      ['icmp', 3, 4, 1280, 'EMSGSIZE', [10, 8, 0, 1], [4]],
    ]);
    expect(rx).toEqual([[9, 9]]);
    expect(t.restarted()).toBe(1);
  });

  it('a readable turn (status 0) reads datagrams with recvfrom() only: the error queue is read on POLLERR alone (it is what raises POLLERR)', () => {
    const t = scripted();
    let recvmsgs = 0;
    const inner = t.sys.recvmsg;
    t.sys.recvmsg = (fd, b, flags) => { recvmsgs++; return inner(fd, b, flags); };
    const rx: number[][] = [];
    UdpSocket.open({ family: 4, onMessage: (d) => rx.push([...d]), onError: () => {}, libc: t.sys });
    t.rxq.push(Uint8Array.of(1), Uint8Array.of(2));
    t.poll(0);
    expect(rx).toEqual([[1], [2]]);
    expect(recvmsgs).toBe(0);
    expect(t.restarted()).toBe(0);
    t.poll(-9); // POLLERR: the queue is read (empty here: one recvmsg, EAGAIN)
    expect(recvmsgs).toBe(1);
    expect(t.restarted()).toBe(1);
  });

  it('a send failed by an ICMP error\'s pending socket error drains the queue (the error is reported) and is sent once more; EMSGSIZE is not retried', () => {
    const t = scripted();
    const got: string[] = [];
    const s = UdpSocket.open({ family: 4, onMessage: () => {}, onError: (e) => got.push(`${e.origin} ${e.errno}`), libc: t.sys });
    t.errq.push(entry(2, 111, 3, 3, 0, [10, 8, 1, 2], []));
    t.sendFails.push(111); // ECONNREFUSED pending
    expect(s.send(new Uint8Array(5))).toBeUndefined();
    expect(got).toEqual(['icmp ECONNREFUSED']);
    expect(t.sends).toEqual([5]);
    // A synchronous failure with nothing queued: reported as is, not retried.
    t.sendFails.push(101);
    expect(s.send(new Uint8Array(6))).toBe('ENETUNREACH');
    // EMSGSIZE: its local error is read (the caller hears the MTU at once), no second send.
    t.errq.push(entry(1, 90, 0, 0, 1500, [0, 0, 0, 0], []));
    t.sendFails.push(90);
    expect(s.send(new Uint8Array(4000), { dontFragment: true })).toBe('EMSGSIZE');
    expect(got).toEqual(['icmp ECONNREFUSED', 'local EMSGSIZE']);
    expect(t.sends).toEqual([5]);
    expect(s.stats()).toMatchObject({ OutDatagrams: 1, OutErrors: 2, InIcmpErrors: 1, InLocalErrors: 1 });
  });
});
