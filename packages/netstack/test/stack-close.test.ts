/**
 * Closing a stack ends every socket the way the kernel ends those of
 * a process that exits, and tells the local side: RST to the peer (it reaches the peer over
 * a link pair), 'error' ECONNABORTED then 'close' to each open socket, pending connects
 * fail, servers close, UDP sockets close, pending pings reject; afterwards every call
 * fails with ERR_STACK_CLOSED instead of hanging. Then the same under node:http2 and
 * node:tls with open streams: no late `write EPIPE` from a socket the stack had ended.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { dirname, resolve } from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createLinkPair, createStack, type Stack } from '../src/index.js';
import type { Socket } from '../src/net/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const A = '10.0.0.1';
const B = '10.0.0.2';

let stacks: Stack[] = [];
afterEach(async () => {
  for (const s of stacks) await s.close();
  stacks = [];
});

async function two(): Promise<{ a: Stack; b: Stack }> {
  const pair = createLinkPair();
  const a = await createStack({ link: pair.a, address: A, tcpOptions: { rtoInitial: 100, synRetries: 2 } });
  const b = await createStack({ link: pair.b, address: B });
  stacks.push(a, b);
  return { a, b };
}

/** Resolves on 'close' (events.once would reject on the 'error' before it). */
function closed(e: NodeJS.EventEmitter): Promise<void> {
  return new Promise((r) => e.once('close', () => r()));
}

/** The events a socket emits, in order, with the error's code. */
function record(s: Socket | tls.TLSSocket): string[] {
  const seen: string[] = [];
  s.on('error', (e: NodeJS.ErrnoException) => seen.push(`error ${e.code}`));
  s.on('close', (hadError: boolean) => seen.push(`close ${hadError}`));
  return seen;
}

async function connected(a: Stack, b: Stack): Promise<{ client: Socket; server: Socket }> {
  const srv = b.tcp.createServer();
  await new Promise<void>((r) => srv.listen(7, r));
  const accepted = once(srv, 'connection');
  const client = a.tcp.connect(7, B);
  await once(client, 'connect');
  const [server] = (await accepted) as [Socket];
  return { client, server };
}

describe('stack.close()', () => {
  it("open sockets get 'error' ECONNABORTED then 'close'; the peer gets the RST (ECONNRESET)", async () => {
    const { a, b } = await two();
    const { client, server } = await connected(a, b);
    const local = record(client);
    const peer = record(server);
    const rstsBefore = a.stats().tcp?.['OutRsts'] ?? 0;
    await a.close();
    await closed(client);
    expect(local).toEqual(['error ECONNABORTED', 'close true']);
    expect(client.destroyed).toBe(true);
    expect(a.stats().tcp?.['OutRsts']).toBe(rstsBefore + 1);
    await closed(server);
    expect(peer).toEqual(['error ECONNRESET', 'close true']);
  });

  it('a pending connect fails with ECONNABORTED (syscall connect)', async () => {
    const { a } = await two();
    const c = a.tcp.connect(7, '10.0.0.3');
    const errors: (NodeJS.ErrnoException & { address?: string; port?: number })[] = [];
    c.on('error', (e) => errors.push(e));
    await new Promise((r) => setImmediate(r)); // the SYN is out
    expect(c.connecting).toBe(true);
    await a.close();
    await closed(c);
    expect(errors.map((e) => [e.code, e.syscall, e.address, e.port])).toEqual([['ECONNABORTED', 'connect', '10.0.0.3', 7]]);
  });

  it("listeners emit 'close'; UDP sockets emit 'close'; a pending ping rejects with ECONNABORTED", async () => {
    const { a } = await two();
    const srv = a.tcp.createServer();
    await new Promise<void>((r) => srv.listen(80, r));
    const u = a.udp.createSocket('udp4');
    await new Promise<void>((r) => u.bind(53, r));
    const ping = a.ping('10.0.0.3', { timeout: 60_000 });
    const srvClosed = closed(srv);
    const uClosed = closed(u);
    await a.close();
    await srvClosed;
    await uClosed;
    expect(srv.listening).toBe(false);
    await expect(ping).rejects.toMatchObject({ code: 'ECONNABORTED', syscall: 'ping' });
  });

  it('after close() every call fails with ERR_STACK_CLOSED instead of hanging', async () => {
    const { a } = await two();
    await a.close();
    expect(a.closed).toBe(true);
    const c = a.tcp.connect(7, B);
    const seen = record(c);
    await closed(c);
    expect(seen).toEqual(['error ERR_STACK_CLOSED', 'close true']);
    const srv = a.tcp.createServer();
    srv.listen(80);
    expect((await once(srv, 'error'))[0]).toMatchObject({ code: 'ERR_STACK_CLOSED', syscall: 'listen' });
    const u = a.udp.createSocket('udp4');
    u.bind(53);
    expect((await once(u, 'error'))[0]).toMatchObject({ code: 'ERR_STACK_CLOSED', syscall: 'bind' });
    const v = a.udp.createSocket('udp4');
    const sent = await new Promise<Error | null>((r) => { v.once('error', r); v.send('x', 7, B, (e) => r(e)); });
    expect(sent).toMatchObject({ code: 'ERR_STACK_CLOSED' });
    await expect(a.ping(B)).rejects.toMatchObject({ code: 'ERR_STACK_CLOSED' });
    await expect(a.capture('/nonexistent/x.pcap')).rejects.toMatchObject({ code: 'ERR_STACK_CLOSED' });
    await a.close(); // idempotent
  });

  it("closing from inside a 'data' handler works (the event queue is not in the way)", async () => {
    const { a, b } = await two();
    const { client, server } = await connected(a, b);
    const local = record(client);
    const peer = record(server);
    server.on('data', () => { void b.close(); });
    client.write('hello');
    await closed(server);
    expect(peer).toEqual(['error ECONNABORTED', 'close true']);
    await closed(client);
    expect(local).toEqual(['error ECONNRESET', 'close true']);
  });

  it('a server with accepted sockets: the sockets are aborted, then the server closes', async () => {
    const { a, b } = await two();
    const srv = b.tcp.createServer((s) => { s.on('error', () => {}); });
    await new Promise<void>((r) => srv.listen(7, r));
    const clients = [0, 1, 2].map(() => a.tcp.connect(7, B));
    const resets = clients.map((c) => new Promise<string>((r) => c.on('error', (e: NodeJS.ErrnoException) => r(e.code!))));
    await Promise.all(clients.map((c) => once(c, 'connect')));
    await new Promise((r) => setImmediate(r));
    const srvClosed = closed(srv);
    await b.close();
    await srvClosed;
    expect(await Promise.all(resets)).toEqual(['ECONNRESET', 'ECONNRESET', 'ECONNRESET']);
  });
});

describe('teardown under protocols with open streams', () => {
  it('http2: session.close() then stack.close() with a stream open: ECONNABORTED to the session, no write EPIPE', async () => {
    const { a, b } = await two();
    const server = http2.createServer();
    const serverErrors: string[] = [];
    server.on('stream', (stream) => {
      stream.on('error', (e: NodeJS.ErrnoException) => serverErrors.push(e.code!));
      stream.respond({ ':status': 200 });
      stream.write('hello'); // and never ends: the stream stays open
    });
    b.tcp.createServer((s) => server.emit('connection', s)).listen(80);
    const session = http2.connect(`http://${B}`, { createConnection: () => a.tcp.connect(80, B) as unknown as import('node:stream').Duplex });
    const sessionErrors: string[] = [];
    session.on('error', (e: NodeJS.ErrnoException) => sessionErrors.push(e.code!));
    const req = session.request({ ':path': '/' });
    const reqErrors: string[] = [];
    req.on('error', (e: NodeJS.ErrnoException) => reqErrors.push(e.code!));
    const [chunk] = (await once(req, 'data')) as [Buffer];
    expect(chunk.toString()).toBe('hello');
    session.close();
    const sessionClosed = closed(session);
    await a.close();
    await sessionClosed;
    // The socket's ECONNABORTED, at close time: the session and its stream are destroyed with it.
    expect(sessionErrors).toEqual(['ECONNABORTED']);
    expect(reqErrors).toEqual(['ECONNABORTED']);
    expect([...sessionErrors, ...reqErrors, ...serverErrors]).not.toContain('EPIPE');
    // The server side sees the client's RST.
    await b.close();
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    expect(serverErrors.every((c) => c === 'ECONNRESET' || c === 'ECONNABORTED')).toBe(true);
  });

  it('http2: session.destroy() then stack.close(): the client side sees no error at all', async () => {
    const { a, b } = await two();
    const server = http2.createServer();
    server.on('stream', (stream) => {
      stream.on('error', () => {});
      stream.respond({ ':status': 200 });
      stream.write('hello');
    });
    b.tcp.createServer((s) => { s.on('error', () => {}); server.emit('connection', s); }).listen(80);
    const session = http2.connect(`http://${B}`, { createConnection: () => a.tcp.connect(80, B) as unknown as import('node:stream').Duplex });
    const errors: string[] = [];
    session.on('error', (e: NodeJS.ErrnoException) => errors.push(`session ${e.code}`));
    const req = session.request({ ':path': '/' });
    req.on('error', (e: NodeJS.ErrnoException) => errors.push(`req ${e.code}`));
    await once(req, 'data');
    const sessionClosed = closed(session);
    session.destroy();
    await a.close();
    await sessionClosed;
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    expect(errors).toEqual([]);
  });

  it('TLS over the stack: data flows, then stack.close() ends both TLS sockets with an error and close', async () => {
    const { a, b } = await two();
    const key = readFileSync(resolve(here, 'fixtures/tls-key.pem'));
    const cert = readFileSync(resolve(here, 'fixtures/tls-cert.pem'));
    let rawSeen: string[] = [];
    const accepted = new Promise<tls.TLSSocket>((done) => {
      b.tcp.createServer((s) => {
        rawSeen = record(s);
        const t = new tls.TLSSocket(s as unknown as import('node:net').Socket, { isServer: true, key, cert });
        done(t);
      }).listen(443);
    });
    const client = tls.connect({ socket: a.tcp.connect(443, B) as unknown as import('node:net').Socket, ca: cert, servername: undefined as unknown as string, host: B });
    const clientSeen = record(client);
    await once(client, 'secureConnect');
    expect(client.authorized).toBe(true);
    const server = await accepted;
    const serverSeen = record(server);
    server.write('over tls');
    const [data] = (await once(client, 'data')) as [Buffer];
    expect(data.toString()).toBe('over tls');
    await a.close();
    await closed(client);
    // (a TLSSocket's 'close' carries its own hadError, false here: only the order is ours)
    expect(clientSeen.map((e) => e.split(' ')[0])).toEqual(['error', 'close']);
    expect(clientSeen[0]).toBe('error ECONNABORTED');
    // The peer's TCP socket sees the RST; its TLSSocket (over a JS stream) closes.
    await closed(server);
    expect(serverSeen.at(-1)).toMatch(/^close/);
    expect(rawSeen).toEqual(['error ECONNRESET', 'close true']);
  });
});
