/**
 * Lifecycle: half-open, idle timeouts, keepalive, server close and limits,
 * pauseOnConnect, async disposal.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { DropInfo, ErrnoError, Socket } from '../src/net/index.js';
import { A_ADDR, B_ADDR, collect, createPair, until, type Pair } from './harness-net.js';

let pair: Pair | undefined;
afterEach(() => { pair?.close(); pair = undefined; });

function closeOf(s: NodeJS.EventEmitter): Promise<boolean> {
  return new Promise((resolve) => s.once('close', (hadError: boolean) => resolve(hadError)));
}

async function connected(p: Pair, port: number, opts: { allowHalfOpen?: boolean } = {}): Promise<[Socket, Socket]> {
  const server = p.b.api.createServer({ allowHalfOpen: opts.allowHalfOpen ?? false });
  server.listen(port);
  await once(server, 'listening');
  const c = p.a.api.connect({ host: B_ADDR, port, allowHalfOpen: opts.allowHalfOpen ?? false });
  const [[s]] = await Promise.all([once(server, 'connection'), once(c, 'connect')]) as [[Socket], unknown];
  server.close();
  return [c, s];
}

describe('allowHalfOpen', () => {
  it('false (default): the peer FIN ends our side too; both close without error', async () => {
    pair = createPair();
    const [c, s] = await connected(pair, 7);
    expect(c.allowHalfOpen).toBe(false);
    const log: string[] = [];
    c.on('end', () => log.push('end'));
    c.on('finish', () => log.push('finish'));
    const cClosed = closeOf(c);
    const sClosed = closeOf(s);
    c.resume();
    s.resume();
    s.end('bye');
    expect(await cClosed).toBe(false);
    expect(await sClosed).toBe(false);
    expect(log).toEqual(['end', 'finish']);
  });

  it('true: after the peer FIN we keep writing, and the peer receives it', async () => {
    pair = createPair();
    const [c, s] = await connected(pair, 7, { allowHalfOpen: true });
    expect(c.allowHalfOpen).toBe(true);
    const atServer = collect(s);
    s.end();
    const fromServer = await collect(c);
    expect(fromServer.length).toBe(0);
    expect(c.writable).toBe(true);
    expect(c.readyState).toBe('writeOnly');
    c.end('written after the peer FIN');
    expect((await atServer).toString()).toBe('written after the peer FIN');
    await Promise.all([closeOf(c), closeOf(s)]);
  });
});

describe('timeouts and keepalive', () => {
  it("setTimeout fires 'timeout' when idle and does not close; activity restarts it; 0 disables", async () => {
    pair = createPair();
    const [c, s] = await connected(pair, 7);
    const t0 = performance.now();
    let fired = 0;
    c.setTimeout(40, () => { fired++; });
    expect(c.timeout).toBe(40);
    await once(c, 'timeout');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(39);
    expect(fired).toBe(1);
    expect(c.destroyed).toBe(false);
    // Activity: data arrives, the idle timer restarts; it fires once more after that.
    s.write('ping');
    await once(c, 'data');
    const t1 = performance.now();
    await once(c, 'timeout');
    expect(performance.now() - t1).toBeGreaterThanOrEqual(39);
    c.setTimeout(0);
    expect(c.timeout).toBe(0);
    c.destroy();
    s.destroy();
  });

  it('the connect timeout option arms the idle timer', async () => {
    pair = createPair();
    const server = pair.b.api.createServer().listen(7);
    await once(server, 'listening');
    const c = pair.a.api.connect({ host: B_ADDR, port: 7, timeout: 30 });
    await once(c, 'timeout');
    expect(c.destroyed).toBe(false);
    c.destroy();
    server.close();
  });

  it('setKeepAlive reaches the core: a silent peer times out with ETIMEDOUT', async () => {
    pair = createPair({ tcp: { keepAliveInterval: 20, keepAliveCount: 2 } });
    const [c, s] = await connected(pair, 7);
    c.setKeepAlive(true, 30);
    // The peer goes silent: everything it sends is lost.
    pair.b.dropOutgoing = () => true;
    const [err] = await once(c, 'error').catch((e: unknown) => [e]) as [ErrnoError];
    expect(err).toMatchObject({ code: 'ETIMEDOUT', errno: -110, syscall: 'read' });
    expect(pair.a.tcp.stats().KeepaliveProbes).toBeGreaterThanOrEqual(2);
    s.destroy();
  });

  it('setNoDelay and setKeepAlive before connect are applied at connect', async () => {
    pair = createPair();
    const server = pair.b.api.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 5000 }).listen(7);
    await once(server, 'listening');
    const c = pair.a.api.connect({ host: B_ADDR, port: 7 }).setNoDelay(true).setKeepAlive(true, 1000);
    const [[s]] = await Promise.all([once(server, 'connection'), once(c, 'connect')]) as [[Socket], unknown];
    const core = (h: Pair['a'], port: number) => h.tcp.connections().find((x) => x.localPort === port)!;
    expect(core(pair.a, c.localPort!).noDelayEnabled).toBe(true);
    expect(core(pair.a, c.localPort!).keepAliveEnabled).toBe(true);
    expect(core(pair.b, s.localPort!).noDelayEnabled).toBe(true);
    expect(core(pair.b, s.localPort!).keepAliveEnabled).toBe(true);
    c.setNoDelay(false);
    expect(core(pair.a, c.localPort!).noDelayEnabled).toBe(false);
    c.destroy();
    s.destroy();
    await once(server.close(), 'close');
  });
});

describe('server', () => {
  it("close() stops accepting at once but 'close' waits for the open connections", async () => {
    pair = createPair();
    const server = pair.b.api.createServer((s) => s.pipe(s)).listen(7);
    await once(server, 'listening');
    const c = pair.a.api.connect({ host: B_ADDR, port: 7 });
    await once(server, 'connection');
    let serverClosed = false;
    let cbArg: unknown = 'not called';
    expect(server.close((e) => { cbArg = e; })).toBe(server);
    server.on('close', () => { serverClosed = true; });
    expect(server.listening).toBe(false);
    // New connections are refused...
    const refused = pair.a.api.connect({ host: B_ADDR, port: 7 });
    const [err] = await once(refused, 'error').catch((e: unknown) => [e]) as [ErrnoError];
    expect(err.code).toBe('ECONNREFUSED');
    // ...while the accepted one still works.
    c.write('still here');
    const [echo] = await once(c, 'data') as [Buffer];
    expect(echo.toString()).toBe('still here');
    expect(serverClosed).toBe(false);
    const [n] = await new Promise<[number]>((resolve) => server.getConnections((_e, count) => resolve([count])));
    expect(n).toBe(1);
    c.end();
    await once(server, 'close');
    expect(cbArg).toBe(undefined);
  });

  it('close() on a server that is not listening: the callback gets ERR_SERVER_NOT_RUNNING', async () => {
    pair = createPair();
    const server = pair.b.api.createServer();
    const err = await new Promise<Error | undefined>((resolve) => server.close(resolve));
    expect(err).toMatchObject({ code: 'ERR_SERVER_NOT_RUNNING' });
  });

  it("maxConnections: extra connections emit 'drop' and are closed", async () => {
    pair = createPair();
    const server = pair.b.api.createServer((s) => { s.write('welcome'); });
    server.maxConnections = 2;
    server.listen(7);
    await once(server, 'listening');
    const drops: DropInfo[] = [];
    server.on('drop', (d: DropInfo) => drops.push(d));
    const results: string[] = [];
    const sockets: Socket[] = [];
    for (let i = 0; i < 3; i++) {
      const c = pair.a.api.connect({ host: B_ADDR, port: 7 });
      sockets.push(c);
      const data = collect(c);
      if (i < 2) {
        const [d] = await once(c, 'data') as [Buffer];
        results.push(d.toString());
      } else {
        results.push(`dropped:${(await data).length}`);
      }
    }
    expect(results).toEqual(['welcome', 'welcome', 'dropped:0']);
    expect(drops.length).toBe(1);
    expect(drops[0]).toMatchObject({ localAddress: B_ADDR, localPort: 7, remoteAddress: A_ADDR, remotePort: sockets[2]!.localPort, remoteFamily: 'IPv4' });
    for (const s of sockets) s.destroy();
    await once(server.close(), 'close');
  });

  it('pauseOnConnect: the accepted socket reads nothing until resume()', async () => {
    pair = createPair();
    const server = pair.b.api.createServer({ pauseOnConnect: true }).listen(7);
    await once(server, 'listening');
    const c = pair.a.api.connect({ host: B_ADDR, port: 7 }, () => c.end('queued'));
    const finished = once(c, 'finish');
    const [s] = await once(server, 'connection') as [Socket];
    expect(s.isPaused()).toBe(true);
    expect(s.readableFlowing).toBe(false);
    let early = 0;
    s.on('data', () => { early++; });
    await finished;
    // Let the data and the FIN reach the server's core.
    await until(() => pair!.b.tcp.connections().some((x) => x.remoteFinReceived && x.readableLength === 6));
    expect(early).toBe(0);
    const body = collect(s);
    s.resume();
    expect((await body).toString()).toBe('queued');
    await once(server.close(), 'close');
  });

  it('[Symbol.asyncDispose] closes server and socket', async () => {
    pair = createPair();
    const server = pair.b.api.createServer((s) => s.resume()).listen(7);
    await once(server, 'listening');
    const c = pair.a.api.connect({ host: B_ADDR, port: 7 });
    await once(c, 'connect');
    await c[Symbol.asyncDispose]();
    expect(c.destroyed).toBe(true);
    await server[Symbol.asyncDispose]();
    expect(server.listening).toBe(false);
  });
});

describe('listener exceptions', () => {
  it("a throwing 'connection' listener surfaces as an uncaught exception on a later tick; the stack keeps working", async () => {
    pair = createPair();
    const seen: unknown[] = [];
    const onUncaught = (e: unknown): void => { seen.push(e); };
    // vitest installs its own handler; take the exceptions ourselves for this test.
    const saved = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
    try {
      let n = 0;
      const server = pair.b.api.createServer((s) => {
        s.pipe(s);
        if (++n === 1) throw new Error('boom in connection');
      }).listen(7);
      await once(server, 'listening');
      const c1 = pair.a.api.connect({ host: B_ADDR, port: 7 });
      const c2 = pair.a.api.connect({ host: B_ADDR, port: 7 });
      c1.end('one');
      c2.end('two');
      expect((await collect(c1)).toString()).toBe('one');
      expect((await collect(c2)).toString()).toBe('two');
      expect(seen.map((e) => (e as Error).message)).toEqual(['boom in connection']);
      await once(server.close(), 'close');
    } finally {
      process.removeListener('uncaughtException', onUncaught);
      for (const l of saved) process.on('uncaughtException', l);
    }
  });
});
