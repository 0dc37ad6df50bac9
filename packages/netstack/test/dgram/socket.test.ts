import { describe, expect, it } from 'vitest';
import type { UdpSocket } from '../../src/index.js';
import { dgramLayer, FakeIp, ip, parseSent, tick, udpIn } from './helpers.js';

function setup() {
  const net = new FakeIp('10.0.0.2');
  const udp = dgramLayer(net, { ephemeralRange: [49152, 49152] }); // one ephemeral port: bind(0) takes 49152
  return { net, udp };
}

/** Records events in order, with whether they fired during the call under test. */
function recorder(s: UdpSocket) {
  const events: string[] = [];
  let inCall = false;
  for (const name of ['listening', 'connect', 'close', 'error'] as const) {
    s.on(name, (e?: unknown) => events.push(`${name}${inCall ? '(sync!)' : ''}${e instanceof Error ? ` ${(e as NodeJS.ErrnoException).code}` : ''}`));
  }
  return {
    events,
    call<T>(f: () => T): T {
      inCall = true;
      try { return f(); } finally { inCall = false; }
    },
  };
}

const code = (c: string) => expect.objectContaining({ code: c });

describe('bind and listening', () => {
  it('emits listening on a later tick, then address() reports the binding', async () => {
    const { udp } = setup();
    const s = udp.createSocket('udp4');
    const r = recorder(s);
    r.call(() => s.bind(4000));
    expect(r.events).toEqual([]);
    await tick();
    expect(r.events).toEqual(['listening']);
    expect(s.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 4000 });
  });
  it('accepts bind(options, cb), bind(cb) and bind(port, address, cb)', async () => {
    const { udp } = setup();
    const a = udp.createSocket('udp4');
    await new Promise<void>((r) => a.bind({ port: 4001, address: '10.0.0.2' }, r));
    expect(a.address()).toEqual({ address: '10.0.0.2', family: 'IPv4', port: 4001 });
    const b = udp.createSocket('udp4');
    await new Promise<void>((r) => b.bind(r));
    expect(b.address().port).toBe(49152);
    const c = udp.createSocket('udp4');
    await new Promise<void>((r) => c.bind(4002, '10.0.0.2', r));
    expect(c.address().address).toBe('10.0.0.2');
  });
  it('reports EADDRINUSE on a later tick, never during the call, and the bind callback is not called', async () => {
    const { udp } = setup();
    udp.createSocket('udp4').bind(4000);
    const s = udp.createSocket('udp4');
    const r = recorder(s);
    let called = false;
    r.call(() => s.bind(4000, () => { called = true; }));
    expect(r.events).toEqual([]);
    await tick();
    expect(r.events).toEqual(['error EADDRINUSE']);
    expect(called).toBe(false);
    // The failed socket may bind again.
    s.bind(4003);
    await tick();
    expect(s.address().port).toBe(4003);
  });
  it('throws Node’s argument errors at once', () => {
    const { udp } = setup();
    const s = udp.createSocket('udp4');
    expect(() => s.bind(70000)).toThrow(code('ERR_SOCKET_BAD_PORT'));
    expect(() => s.bind(-1)).toThrow(code('ERR_SOCKET_BAD_PORT'));
    expect(() => s.bind(1, 7 as unknown as string)).toThrow(code('ERR_INVALID_ARG_TYPE'));
    s.bind(4000);
    expect(() => s.bind(4001)).toThrow(code('ERR_SOCKET_ALREADY_BOUND'));
    expect(() => udp.createSocket('udp5' as 'udp4')).toThrow(code('ERR_SOCKET_BAD_TYPE'));
    expect(() => udp.createSocket({ type: 'udp4', recvBufferSize: -1 })).toThrow(code('ERR_SOCKET_BAD_BUFFER_SIZE'));
  });
  it('address() throws EBADF before bind (like getsockname on an unbound socket)', () => {
    const { udp } = setup();
    expect(() => udp.createSocket('udp4').address()).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'getsockname' }));
  });
});

describe('send', () => {
  it('from an unbound socket binds an ephemeral port on 0.0.0.0 and emits listening before the callback', async () => {
    const { udp, net } = setup();
    const s = udp.createSocket('udp4');
    const r = recorder(s);
    const order: string[] = [];
    s.on('listening', () => order.push('listening'));
    r.call(() => s.send('hi', 53, '10.0.0.7', (err, bytes) => order.push(`sent ${err} ${bytes}`)));
    expect(order).toEqual([]);
    await tick();
    expect(order).toEqual(['listening', 'sent null 2']);
    expect(s.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 49152 });
    expect(parseSent(net.take()[0]!)).toMatchObject({ srcPort: 49152, dstPort: 53 });
  });
  it('sends 65507 bytes; 65508 fails with EMSGSIZE through the callback', async () => {
    const { udp, net } = setup();
    const s = udp.createSocket('udp4');
    const ok = await new Promise<[Error | null, number | undefined]>((r) => s.send(Buffer.alloc(65507, 1), 53, '10.0.0.7', (e, n) => r([e, n])));
    expect(ok).toEqual([null, 65507]);
    expect(net.take()[0]!.payload.length).toBe(65515);
    const [err] = await new Promise<[Error | null]>((r) => s.send(Buffer.alloc(65508), 53, '10.0.0.7', (e) => r([e])));
    expect(err).toMatchObject({ code: 'EMSGSIZE', errno: -90, syscall: 'send', address: '10.0.0.7', port: 53, message: 'send EMSGSIZE 10.0.0.7:53' });
    expect(net.sent).toEqual([]);
  });
  it('without a callback, emits the error on a later tick', async () => {
    const { udp } = setup();
    const s = udp.createSocket('udp4');
    const r = recorder(s);
    r.call(() => s.send(Buffer.alloc(65508), 53, '10.0.0.7'));
    await tick();
    expect(r.events).toEqual(['listening', 'error EMSGSIZE']);
  });
  it('passes the IP layer’s ENETUNREACH to the callback', async () => {
    const { udp, net } = setup();
    net.noRoute.add(ip('192.0.2.1'));
    const s = udp.createSocket('udp4');
    const err = await new Promise<Error | null>((r) => s.send('x', 9, '192.0.2.1', r));
    expect(err).toMatchObject({ code: 'ENETUNREACH', syscall: 'send', address: '192.0.2.1', port: 9 });
  });
  it('supports offset/length, arrays of chunks, strings and typed arrays', async () => {
    const { udp, net } = setup();
    const s = udp.createSocket('udp4');
    s.send(Buffer.from('0123456789'), 2, 3, 53, '10.0.0.7');
    s.send(['ab', Buffer.from('cd'), Uint8Array.from([0x65])], 53, '10.0.0.7');
    s.send(new Uint16Array([0x4142]), 53, '10.0.0.7');
    s.send([], 53, '10.0.0.7');
    const sent = net.take().map((x) => Buffer.from(parseSent(x).payload).toString('latin1'));
    expect(sent).toEqual(['234', 'abcde', String.fromCharCode(0x42, 0x41), '']);
  });
  it('fails to resolve names other than literals with ENOTFOUND', async () => {
    const { udp } = setup();
    const s = udp.createSocket('udp4');
    const err = await new Promise<Error | null>((r) => s.send('x', 9, 'example.invalid', r));
    expect(err).toMatchObject({ code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname: 'example.invalid' });
  });
  it('needs setBroadcast for 255.255.255.255 (EACCES)', async () => {
    const { udp, net } = setup();
    const s = udp.createSocket('udp4');
    const err = await new Promise<Error | null>((r) => s.send('x', 67, '255.255.255.255', r));
    expect(err).toMatchObject({ code: 'EACCES' });
    s.setBroadcast(true);
    expect(await new Promise<Error | null>((r) => s.send('x', 67, '255.255.255.255', r))).toBeNull();
    expect(net.sent).toHaveLength(1);
  });
  it('uses the TTL from setTTL', async () => {
    const { udp, net } = setup();
    const s = udp.createSocket('udp4');
    expect(() => s.setTTL(5)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'setTTL' }));
    s.bind(0);
    expect(() => s.setTTL(0)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => s.setTTL('x' as unknown as number)).toThrow(code('ERR_INVALID_ARG_TYPE'));
    s.setTTL(5);
    s.send('x', 9, '10.0.0.7');
    expect(net.take()[0]!.options).toEqual({ ttl: 5 });
  });
  it('throws Node’s argument errors at once', () => {
    const { udp, net } = setup();
    const s = udp.createSocket('udp4');
    expect(() => s.send(5 as unknown as string, 1, '10.0.0.7')).toThrow(code('ERR_INVALID_ARG_TYPE'));
    expect(() => s.send([{}] as unknown as string[], 1, '10.0.0.7')).toThrow(code('ERR_INVALID_ARG_TYPE'));
    expect(() => s.send('x', 0, '10.0.0.7')).toThrow(code('ERR_SOCKET_BAD_PORT'));
    expect(() => s.send('x', 65536, '10.0.0.7')).toThrow(code('ERR_SOCKET_BAD_PORT'));
    expect(() => s.send('x')).toThrow(code('ERR_SOCKET_BAD_PORT'));
    expect(() => s.send('x', 9, 5 as unknown as string)).toThrow(code('ERR_INVALID_ARG_TYPE'));
    expect(() => s.send(Buffer.alloc(4), 5, 1, 9, '10.0.0.7')).toThrow(code('ERR_BUFFER_OUT_OF_BOUNDS'));
    expect(net.sent).toEqual([]);
    expect(() => s.address()).toThrow(code('EBADF')); // nothing was bound by the failed calls
  });
});

describe('connect', () => {
  it('emits connect on a later tick; remoteAddress, the source address, send(msg, cb) and disconnect', async () => {
    const { udp, net } = setup();
    const s = udp.createSocket('udp4');
    const r = recorder(s);
    r.call(() => s.connect(53, '10.0.0.7'));
    expect(r.events).toEqual([]);
    expect(() => s.remoteAddress()).toThrow(code('ERR_SOCKET_DGRAM_NOT_CONNECTED'));
    await tick();
    expect(r.events).toEqual(['listening', 'connect']);
    expect(s.remoteAddress()).toEqual({ address: '10.0.0.7', family: 'IPv4', port: 53 });
    expect(s.address()).toEqual({ address: '10.0.0.2', family: 'IPv4', port: 49152 });
    const n = await new Promise<number | undefined>((res) => s.send('q', (_e, bytes) => res(bytes)));
    expect(n).toBe(1);
    expect(net.take()[0]!.dst).toBe(ip('10.0.0.7'));
    // (Like Node, send('q', 53, addr) on a connected socket reads 53 as the callback slot; the offset/length form does not.)
    expect(() => s.send(Buffer.from('q'), 0, 1, 53, '10.0.0.7')).toThrow(code('ERR_SOCKET_DGRAM_IS_CONNECTED'));
    expect(() => s.connect(54, '10.0.0.7')).toThrow(code('ERR_SOCKET_DGRAM_IS_CONNECTED'));
    s.disconnect();
    expect(s.address().address).toBe('0.0.0.0');
    expect(() => s.remoteAddress()).toThrow(code('ERR_SOCKET_DGRAM_NOT_CONNECTED'));
    expect(() => s.disconnect()).toThrow(code('ERR_SOCKET_DGRAM_NOT_CONNECTED'));
  });
  it('only takes datagrams from its peer', async () => {
    const { udp } = setup();
    const s = udp.createSocket('udp4');
    const got: string[] = [];
    s.on('message', (m, ri) => got.push(`${ri.address}:${ri.port} ${m}`));
    await new Promise<void>((r) => s.connect(53, '10.0.0.7', r));
    const port = s.address().port;
    udp.receive(udpIn({ src: '10.0.0.7', srcPort: 53, dstPort: port, payload: 'yes' }), 0);
    udp.receive(udpIn({ src: '10.0.0.7', srcPort: 54, dstPort: port, payload: 'no' }), 0);
    udp.receive(udpIn({ src: '10.0.0.8', srcPort: 53, dstPort: port, payload: 'no' }), 0);
    expect(got).toEqual(['10.0.0.7:53 yes']);
    expect(udp.stats().NoPorts).toBe(2);
  });
  it('reports ENETUNREACH to the callback when there is no route', async () => {
    const { udp, net } = setup();
    net.noRoute.add(ip('192.0.2.1'));
    const s = udp.createSocket('udp4');
    const err = await new Promise<unknown>((r) => s.connect(53, '192.0.2.1', r as () => void));
    expect(err).toMatchObject({ code: 'ENETUNREACH', syscall: 'connect', address: '192.0.2.1', port: 53 });
    expect(() => s.remoteAddress()).toThrow(code('ERR_SOCKET_DGRAM_NOT_CONNECTED'));
  });
  it('validates its arguments', () => {
    const { udp } = setup();
    const s = udp.createSocket('udp4');
    expect(() => s.connect(0, '10.0.0.7')).toThrow(code('ERR_SOCKET_BAD_PORT'));
    expect(() => s.connect(53, 7 as unknown as string)).toThrow(code('ERR_INVALID_ARG_TYPE'));
  });
});

describe('close', () => {
  it('emits close on a later tick; later calls throw ERR_SOCKET_DGRAM_NOT_RUNNING', async () => {
    const { udp } = setup();
    const s = udp.createSocket('udp4');
    s.bind(4000);
    await tick();
    const r = recorder(s);
    let cb = false;
    r.call(() => s.close(() => { cb = true; }));
    expect(r.events).toEqual([]);
    await tick();
    expect(r.events).toEqual(['close']);
    expect(cb).toBe(true);
    for (const f of [() => s.send('x', 9, '10.0.0.7'), () => s.close(), () => s.bind(1), () => s.address(), () => s.remoteAddress(), () => s.getRecvBufferSize()]) {
      expect(f).toThrow(code('ERR_SOCKET_DGRAM_NOT_RUNNING'));
    }
  });
  it('stops delivery and frees the port: later datagrams are NoPorts', async () => {
    const { udp, net } = setup();
    const s = udp.createSocket('udp4');
    let got = 0;
    s.on('message', () => got++);
    s.bind(4000);
    await tick();
    s.close();
    udp.receive(udpIn({ dstPort: 4000 }), 0);
    expect(got).toBe(0);
    expect(net.unreachable).toHaveLength(1);
  });
  it('closing before listening: no listening event, queued datagrams dropped', async () => {
    const { udp } = setup();
    const s = udp.createSocket('udp4');
    const r = recorder(s);
    let got = 0;
    s.on('message', () => got++);
    s.bind(4000);
    udp.receive(udpIn({ dstPort: 4000 }), 0);
    s.close();
    await tick();
    expect(r.events).toEqual(['close']);
    expect(got).toBe(0);
  });
  it('Symbol.asyncDispose closes once, and is a no-op after close', async () => {
    const { udp } = setup();
    const s = udp.createSocket('udp4');
    s.bind(4000);
    const r = recorder(s);
    await s[Symbol.asyncDispose]();
    expect(r.events).toEqual(['close']);
    await s[Symbol.asyncDispose]();
    expect(r.events).toEqual(['close']);
    expect(() => s.send('x', 9, '10.0.0.7')).toThrow(code('ERR_SOCKET_DGRAM_NOT_RUNNING'));
  });
  it('an AbortSignal closes the socket', async () => {
    const { udp } = setup();
    const ac = new AbortController();
    const s = udp.createSocket({ type: 'udp4', signal: ac.signal });
    const r = recorder(s);
    s.bind(4000);
    ac.abort();
    await tick();
    expect(r.events).toEqual(['close']);
  });
});

describe('buffer sizes, ref/unref', () => {
  it('doubles like Linux, caps at rmem_max, and needs a bound socket', async () => {
    const { udp } = setup();
    const s = udp.createSocket('udp4');
    expect(() => s.getRecvBufferSize()).toThrow(code('ERR_SOCKET_BUFFER_SIZE'));
    expect(() => s.setRecvBufferSize(-1)).toThrow(code('ERR_SOCKET_BAD_BUFFER_SIZE'));
    s.bind(0);
    expect(s.getRecvBufferSize()).toBe(212992);
    s.setRecvBufferSize(10_000);
    expect(s.getRecvBufferSize()).toBe(20_000);
    s.setRecvBufferSize(10_000_000);
    expect(s.getRecvBufferSize()).toBe(425_984);
    s.setSendBufferSize(100);
    expect(s.getSendBufferSize()).toBe(4608);
    expect(s.ref()).toBe(s);
    expect(s.unref()).toBe(s);
  });
});

describe('UdpLayer.close', () => {
  it('closes every bound socket', async () => {
    const { udp } = setup();
    const a = udp.createSocket('udp4');
    const b = udp.createSocket('udp4');
    a.bind(1000);
    b.bind(1001);
    const ra = recorder(a);
    const rb = recorder(b);
    udp.close();
    await tick();
    expect([ra.events, rb.events]).toEqual([['close'], ['close']]);
    expect(udp.boundAddresses()).toEqual([]);
  });
});
