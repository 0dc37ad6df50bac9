/**
 * Errors and lifecycle as node:net has them: codes, errno, syscall, address,
 * port; emitted on a later tick; RST vs FIN on destroy; half-open; timeouts;
 * server close and maxConnections; argument errors thrown at once.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { ErrnoError, Socket } from '../src/net/index.js';
import { Socket as NetSocket } from '../src/net/index.js';
import { A_ADDR, B_ADDR, coreConn, createPair, randomBytes, until, type Pair } from './harness-net.js';

let pair: Pair | undefined;
afterEach(() => { pair?.close(); pair = undefined; });

function errorOf(s: NodeJS.EventEmitter): Promise<ErrnoError> {
  return once(s, 'error').then(([e]) => e as ErrnoError);
}

/** 'close' with its hadError argument (events.once would reject on the 'error' before it). */
function closeOf(s: NodeJS.EventEmitter): Promise<boolean> {
  return new Promise((resolve) => s.once('close', (hadError: boolean) => resolve(hadError)));
}

describe('connect errors', () => {
  it('ECONNREFUSED with errno, syscall, address, port, on a later tick', async () => {
    pair = createPair();
    let returned = false;
    let errorBeforeReturn = false;
    const s = pair.a.api.connect({ host: B_ADDR, port: 81 });
    s.on('error', () => { if (!returned) errorBeforeReturn = true; });
    returned = true;
    expect(s.connecting).toBe(true);
    expect(s.pending).toBe(true);
    expect(s.readyState).toBe('opening');
    const closed = closeOf(s);
    const err = await errorOf(s);
    expect(errorBeforeReturn).toBe(false);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toBe(`connect ECONNREFUSED ${B_ADDR}:81`);
    expect(err).toMatchObject({ code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: B_ADDR, port: 81 });
    expect(await closed).toBe(true);
    expect(s.destroyed).toBe(true);
    expect(s.connecting).toBe(false);
  });

  it('ETIMEDOUT when nobody answers the SYN', async () => {
    pair = createPair({ tcp: { synRetries: 1, rtoInitial: 20 } });
    const s = pair.a.api.connect({ host: '10.0.0.3', port: 80 });
    const err = await errorOf(s);
    expect(err).toMatchObject({ code: 'ETIMEDOUT', errno: -110, syscall: 'connect', address: '10.0.0.3', port: 80 });
  });

  it('EADDRNOTAVAIL for a localAddress that is not ours', async () => {
    pair = createPair();
    const s = pair.a.api.connect({ host: B_ADDR, port: 80, localAddress: '10.0.0.9' });
    const err = await errorOf(s);
    expect(err).toMatchObject({ code: 'EADDRNOTAVAIL', errno: -99, syscall: 'bind', address: '10.0.0.9' });
  });

  it('an aborted signal destroys the connecting socket with AbortError', async () => {
    pair = createPair();
    const server = pair.b.api.createServer().listen(80);
    await once(server, 'listening');
    const ac = new AbortController();
    const s = pair.a.api.connect({ host: B_ADDR, port: 80, signal: ac.signal });
    ac.abort();
    const err = await errorOf(s);
    expect(err).toMatchObject({ name: 'AbortError', code: 'ABORT_ERR' });
    await once(server.close(), 'close');
  });
});

describe('argument errors throw at once', () => {
  it('mirror node', () => {
    pair = createPair();
    const api = pair.a.api;
    const codeOf = (f: () => unknown): string | undefined => {
      try { f(); } catch (e) { return (e as { code?: string }).code; }
      return undefined;
    };
    expect(codeOf(() => api.connect({ host: B_ADDR, port: 70000 }))).toBe('ERR_SOCKET_BAD_PORT');
    expect(codeOf(() => api.connect({ host: B_ADDR, port: -1 }))).toBe('ERR_SOCKET_BAD_PORT');
    expect(codeOf(() => api.connect({ host: B_ADDR, port: true as unknown as number }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(codeOf(() => api.connect({} as { port: number }))).toBe('ERR_MISSING_ARGS');
    expect(codeOf(() => (api.connect as () => unknown)())).toBe('ERR_MISSING_ARGS');
    // A name (and the default host, 'localhost') goes to `lookup`, as in node: no throw (dns.test.ts).
    expect(codeOf(() => api.connect({ host: 'example.com', port: 80, lookup: 5 as never }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(codeOf(() => api.connect({ host: 5 as unknown as string, port: 80 }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(codeOf(() => api.connect({ host: B_ADDR, port: 80, localAddress: 'x' }))).toBe('ERR_INVALID_IP_ADDRESS');
    expect(codeOf(() => api.connect({ host: B_ADDR, port: 80, localPort: 'x' as unknown as number }))).toBe('ERR_INVALID_ARG_TYPE');
    expect(codeOf(() => api.connect({ host: B_ADDR, port: 80, family: 5 }))).toBe('ERR_INVALID_ARG_VALUE');
    expect(codeOf(() => api.createServer().listen(70000))).toBe('ERR_SOCKET_BAD_PORT');
    expect(codeOf(() => api.createServer().listen({ port: 'x' }))).toBe('ERR_SOCKET_BAD_PORT');
    expect(codeOf(() => api.createServer(5 as never))).toBe('ERR_INVALID_ARG_TYPE');
    const s = new NetSocket();
    expect(codeOf(() => s.setTimeout(-1))).toBe('ERR_OUT_OF_RANGE');
    expect(codeOf(() => s.setTimeout('a' as unknown as number))).toBe('ERR_INVALID_ARG_TYPE');
    expect(codeOf(() => s.connect({ host: B_ADDR, port: 80 }))).toBe('ERR_INVALID_STATE');
    const srv = api.createServer().listen(0);
    expect(codeOf(() => srv.listen(0))).toBe('ERR_SERVER_ALREADY_LISTEN');
    srv.close();
  });
});

describe('listen', () => {
  it('EADDRINUSE on a second listen, on a later tick', async () => {
    pair = createPair();
    const first = pair.b.api.createServer().listen(7);
    await once(first, 'listening');
    const second = pair.b.api.createServer();
    second.listen(7, () => { throw new Error('must not listen'); });
    // The listener is attached after listen() returned and still sees the error.
    const err = await errorOf(second);
    expect(err.message).toBe('listen EADDRINUSE: address already in use 0.0.0.0:7');
    expect(err).toMatchObject({ code: 'EADDRINUSE', errno: -98, syscall: 'listen', address: '0.0.0.0', port: 7 });
    expect(second.listening).toBe(false);
    expect(second.address()).toBe(null);
    // A specific address on the same port conflicts with the wildcard too.
    const third = pair.b.api.createServer().listen(7, B_ADDR);
    expect((await errorOf(third)).code).toBe('EADDRINUSE');
    first.close();
  });

  it('EADDRNOTAVAIL for a host that is not ours', async () => {
    pair = createPair();
    const s = pair.b.api.createServer().listen(7, '10.9.9.9');
    const err = await errorOf(s);
    expect(err).toMatchObject({ code: 'EADDRNOTAVAIL', errno: -99, syscall: 'listen', address: '10.9.9.9', port: 7 });
  });

  it('port 0 picks an ephemeral port; address() reports it; host and options forms', async () => {
    pair = createPair();
    const s = pair.b.api.createServer();
    expect(s.address()).toBe(null);
    s.listen({ port: 0, host: B_ADDR, backlog: 4 });
    // address() is valid as soon as listen() returned, as in node.
    const addr = s.address()!;
    expect(addr.family).toBe('IPv4');
    expect(addr.address).toBe(B_ADDR);
    expect(addr.port).toBeGreaterThanOrEqual(49152);
    expect(s.listening).toBe(true);
    await once(s, 'listening');
    const c = pair.a.api.connect(addr.port, B_ADDR);
    const [[sock]] = await Promise.all([once(s, 'connection'), once(c, 'connect')]) as [[Socket], unknown];
    expect(sock.localPort).toBe(addr.port);
    expect(sock.localAddress).toBe(B_ADDR);
    expect(sock.remoteAddress).toBe(A_ADDR);
    expect(sock.remotePort).toBe(c.localPort);
    expect(sock.remoteFamily).toBe('IPv4');
    expect(c.remoteAddress).toBe(B_ADDR);
    expect(c.remotePort).toBe(addr.port);
    expect(c.address()).toEqual({ address: A_ADDR, family: 'IPv4', port: c.localPort });
    c.destroy();
    sock.destroy();
    await once(s.close(), 'close');
    expect(s.address()).toBe(null);
  });

  it('a listen signal closes the server', async () => {
    pair = createPair();
    const ac = new AbortController();
    const s = pair.b.api.createServer().listen({ port: 7, signal: ac.signal });
    await once(s, 'listening');
    ac.abort();
    await once(s, 'close');
    expect(s.listening).toBe(false);
  });
});

describe('resets', () => {
  it("ECONNRESET when the peer calls resetAndDestroy()", async () => {
    pair = createPair();
    const server = pair.b.api.createServer((sock) => {
      sock.once('data', () => sock.resetAndDestroy());
    }).listen(7);
    await once(server, 'listening');
    const [serverSock] = await Promise.all([
      once(server, 'connection').then(([s]) => s as Socket),
      (async () => {
        const c = pair!.a.api.connect({ host: B_ADDR, port: 7 }, () => c.write('x'));
        const closed = closeOf(c);
        const err = await errorOf(c);
        expect(err.message).toBe('read ECONNRESET');
        expect(err).toMatchObject({ code: 'ECONNRESET', errno: -104, syscall: 'read' });
        expect(await closed).toBe(true);
      })(),
    ]);
    // The resetting side closes without error.
    expect(serverSock.destroyed).toBe(true);
    await once(server.close(), 'close');
  });

  it('destroy() with unread data sends RST: the peer sees ECONNRESET', async () => {
    pair = createPair();
    const { a, b } = pair;
    const big = randomBytes(1 << 20, 5);
    const server = b.api.createServer((sock) => { sock.write(big); }).listen(7);
    await once(server, 'listening');
    const c = a.api.connect({ host: B_ADDR, port: 7 }).pause();
    const [[sock]] = await Promise.all([once(server, 'connection'), once(c, 'connect')]) as [[Socket], unknown];
    const core = coreConn(a, c.localPort!)!;
    // Wait until the client's core holds bytes nobody read and its window is closed.
    // (a zero window on the wire: with window scale 7 what is left of the edge is under 128 bytes)
    await until(() => core.readableLength > 0 && core.stats.rcvWnd < 1 << core.stats.rcvWndShift);
    const rstsBefore = a.tcp.stats().OutRsts;
    const serverErr = errorOf(sock);
    c.destroy();
    expect(a.tcp.stats().OutRsts).toBe(rstsBefore + 1);
    const err = await serverErr;
    expect(err.code).toBe('ECONNRESET');
    await once(server.close(), 'close');
  });

  it('destroy() after reading everything sends FIN: the peer sees end, no error', async () => {
    pair = createPair();
    const server = pair.b.api.createServer((sock) => { sock.write('hello'); sock.resume(); }).listen(7);
    await once(server, 'listening');
    const c = pair.a.api.connect({ host: B_ADDR, port: 7 });
    const [[sock]] = await Promise.all([once(server, 'connection'), once(c, 'data')]) as [[Socket], unknown];
    const rsts = pair.a.tcp.stats().OutRsts;
    const serverEnd = once(sock as Socket, 'end');
    (sock as Socket).on('error', () => { throw new Error('no error expected'); });
    c.destroy();
    await serverEnd;
    expect(pair.a.tcp.stats().OutRsts).toBe(rsts);
    await once(server.close(), 'close');
  });
});

