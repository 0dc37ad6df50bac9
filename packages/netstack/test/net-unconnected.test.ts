/**
 * Unconnected sockets: `new stack.tcp.Socket()` then
 * `socket.connect(port, host)`, as drivers that make their own socket do. Proven with
 * real third-party partners over two stacks on an in-memory link: the `pg` client
 * (its `stream` option) against a small PostgreSQL wire-protocol server on the other
 * stack, `http.Agent#createConnection`, and undici's `Client` with `connect`. Each
 * server checks that its peer is the client stack's address, and the client stack's
 * TCP counters show the connection: none of it can pass through the kernel.
 * Plus the type test: a netstack Socket where Node's types want a net.Socket.
 */
import http from 'node:http';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Client as UndiciClient } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createStack, createLinkPair, Socket, type Stack } from '@netstack/netstack';

const here = dirname(fileURLToPath(import.meta.url));
const A = '10.0.0.1';
const B = '10.0.0.2';
const open: Stack[] = [];

async function pair(): Promise<[Stack, Stack]> {
  const link = createLinkPair();
  const a = await createStack({ link: link.a, address: A });
  const b = await createStack({ link: link.b, address: B });
  open.push(a, b);
  return [a, b];
}
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

const ActiveOpens = (s: Stack): number => s.stats().tcp!.ActiveOpens!;

describe('new stack.tcp.Socket() then connect()', () => {
  it('starts unconnected, connects when asked, and is a Socket', async () => {
    const [a, b] = await pair();
    const server = b.tcp.createServer((c) => c.pipe(c)).listen(7);
    await once(server, 'listening');
    const s = new a.tcp.Socket();
    expect(s).toBeInstanceOf(Socket);
    expect(s.constructor.name).toBe('Socket');
    expect([s.pending, s.connecting, s.remoteAddress, s.localAddress]).toEqual([true, false, undefined, undefined]);
    const r = s.connect(7, B);
    expect(r).toBe(s);
    expect(s.connecting).toBe(true);
    await once(s, 'connect');
    expect([s.pending, s.connecting, s.remoteAddress, s.remotePort, s.localAddress]).toEqual([false, false, B, 7, A]);
    s.end('echo me');
    const chunks: Buffer[] = [];
    for await (const d of s) chunks.push(d as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('echo me');
    server.close();
  });

  it('takes options (allowHalfOpen, noDelay) and writes made before connect leave once connected', async () => {
    const [a, b] = await pair();
    const got: Buffer[] = [];
    const server = b.tcp.createServer((c) => c.on('data', (d: Buffer) => got.push(d)).on('end', () => c.end('bye'))).listen(9);
    await once(server, 'listening');
    const s = new a.tcp.Socket({ allowHalfOpen: true });
    expect(s.allowHalfOpen).toBe(true);
    s.connect({ port: 9, host: B, noDelay: true });
    s.write('early ');
    s.end('and late');
    const reply: Buffer[] = [];
    for await (const d of s) reply.push(d as Buffer);
    expect(Buffer.concat(got).toString()).toBe('early and late');
    expect(Buffer.concat(reply).toString()).toBe('bye');
    server.close();
  });

  it('a Socket made without a stack still refuses connect with a clear error', () => {
    expect(() => new Socket().connect(7, B)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE', message: expect.stringContaining('new stack.tcp.Socket()') }));
  });
});

// ---- a PostgreSQL wire-protocol server (protocol 3.0, simple query only) -----------------

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const cstr = (s: string): Buffer => Buffer.from(`${s}\0`);
const int32 = (n: number): Buffer => { const b = Buffer.alloc(4); b.writeInt32BE(n); return b; };
const int16 = (n: number): Buffer => { const b = Buffer.alloc(2); b.writeInt16BE(n); return b; };

interface PgLog { startup: Record<string, string>; queries: string[]; terminated: boolean; peer: string | undefined }

/** Serves one connection: startup → AuthenticationOk, ParameterStatus, BackendKeyData, ReadyForQuery; 'SELECT n' → one int4 row. */
function servePg(conn: Socket, log: PgLog): void {
  log.peer = conn.remoteAddress;
  let buf = Buffer.alloc(0);
  let started = false;
  conn.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (!started) {
        if (buf.length < 4 || buf.length < buf.readInt32BE(0)) return;
        const len = buf.readInt32BE(0);
        const version = buf.readInt32BE(4);
        expect(version).toBe(196608); // 3.0
        const parts = buf.subarray(8, len - 1).toString().split('\0');
        for (let i = 0; i + 1 < parts.length; i += 2) log.startup[parts[i]!] = parts[i + 1]!;
        buf = buf.subarray(len);
        started = true;
        conn.write(Buffer.concat([
          message('R', int32(0)), // AuthenticationOk
          message('S', Buffer.concat([cstr('server_version'), cstr('16.0')])),
          message('S', Buffer.concat([cstr('client_encoding'), cstr('UTF8')])),
          message('K', Buffer.concat([int32(4242), int32(777)])), // BackendKeyData
          message('Z', Buffer.from('I')), // ReadyForQuery, idle
        ]));
        continue;
      }
      if (buf.length < 5 || buf.length < 1 + buf.readInt32BE(1)) return;
      const type = String.fromCharCode(buf[0]!);
      const len = buf.readInt32BE(1);
      const body = buf.subarray(5, 1 + len);
      buf = buf.subarray(1 + len);
      if (type === 'X') {
        log.terminated = true;
        conn.end();
        return;
      }
      if (type !== 'Q') throw new Error(`unexpected message ${type}`);
      const sql = body.subarray(0, body.length - 1).toString();
      log.queries.push(sql);
      const n = /^SELECT (\d+)$/i.exec(sql)?.[1] ?? '0';
      conn.write(Buffer.concat([
        // RowDescription: one field "n", int4 (OID 23), text format.
        message('T', Buffer.concat([int16(1), cstr('n'), int32(0), int16(0), int32(23), int16(4), int32(-1), int16(0)])),
        message('D', Buffer.concat([int16(1), int32(n.length), Buffer.from(n)])),
        message('C', cstr('SELECT 1')),
        message('Z', Buffer.from('I')),
      ]));
    }
  });
}

describe('third-party drivers that make their own socket', () => {
  it('pg: Client({ stream }) connects, queries and terminates over the stack', async () => {
    const [a, b] = await pair();
    const log: PgLog = { startup: {}, queries: [], terminated: false, peer: undefined };
    const server = b.tcp.createServer((c) => servePg(c, log)).listen(5432);
    await once(server, 'listening');
    const opens = ActiveOpens(a);
    let made = 0;
    const client = new pg.Client({
      host: B,
      port: 5432,
      user: 'netstack',
      database: 'demo',
      // pg 8 calls this (or takes a socket) and then calls stream.connect(port, host) itself.
      stream: () => {
        made++;
        return new a.tcp.Socket();
      },
    });
    await client.connect();
    const r = await client.query('SELECT 42');
    expect(r.rows).toEqual([{ n: 42 }]); // int4 parsed by pg's type parser
    expect(r.fields.map((f) => f.name)).toEqual(['n']);
    await client.end();
    expect(made).toBe(1);
    expect(log.startup).toMatchObject({ user: 'netstack', database: 'demo' });
    expect(log.queries).toEqual(['SELECT 42']);
    expect(log.terminated).toBe(true);
    expect(log.peer).toBe(A); // the server's peer is the client stack
    expect(ActiveOpens(a) - opens).toBe(1);
    server.close();
  });

  it('http.Agent: createConnection returns an unconnected-then-connected socket; keep-alive reuses it', async () => {
    const [a, b] = await pair();
    const peers: string[] = [];
    const httpServer = http.createServer((req, res) => res.end(`${req.method} ${req.url} from ${req.socket.remoteAddress}`));
    const server = b.tcp.createServer((c) => {
      peers.push(c.remoteAddress!);
      httpServer.emit('connection', c);
    }).listen(80);
    await once(server, 'listening');
    class StackAgent extends http.Agent {
      override createConnection(opts: http.ClientRequestArgs): ReturnType<http.Agent['createConnection']> {
        const s = new a.tcp.Socket();
        return s.connect(Number(opts.port), String(opts.host));
      }
    }
    const agent = new StackAgent({ keepAlive: true, maxSockets: 1 });
    const opens = ActiveOpens(a);
    const get = (path: string): Promise<string> => new Promise((resolveGet, reject) => {
      http.get({ host: B, port: 80, path, agent }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d)).on('end', () => resolveGet(Buffer.concat(parts).toString()));
      }).on('error', reject);
    });
    expect(await get('/one')).toBe(`GET /one from ${A}`);
    expect(await get('/two')).toBe(`GET /two from ${A}`);
    expect(peers).toEqual([A]); // one connection, reused
    expect(ActiveOpens(a) - opens).toBe(1);
    agent.destroy();
    httpServer.closeAllConnections();
    server.close();
  });

  it('undici: Client with a connect function that makes and connects the socket itself', async () => {
    const [a, b] = await pair();
    const httpServer = http.createServer((req, res) => res.end(`hello ${req.socket.remoteAddress}`));
    const server = b.tcp.createServer((c) => httpServer.emit('connection', c)).listen(8080);
    await once(server, 'listening');
    const opens = ActiveOpens(a);
    const client = new UndiciClient(`http://${B}:8080`, {
      connect: (opts, cb) => {
        const s = new a.tcp.Socket();
        s.connect(Number(opts.port), opts.hostname);
        s.once('connect', () => cb(null, s as never));
        s.once('error', (e) => cb(e, null));
        return s as never;
      },
    });
    const res = await client.request({ path: '/', method: 'GET' });
    expect(await res.body.text()).toBe(`hello ${A}`);
    expect(ActiveOpens(a) - opens).toBe(1);
    await client.close();
    httpServer.closeAllConnections();
    server.close();
  });
});

describe('types', () => {
  it('a netstack Socket is a net.Socket to TypeScript, and the classes and option types are exported (tsc --noEmit)', () => {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', resolve(here, '../tsconfig.typecheck.json')], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 120_000);
});
