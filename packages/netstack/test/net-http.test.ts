/**
 * The proof of a Node-native socket: node's own http server serves over our
 * sockets, and node's http client and undici's Client fetch over them.
 */
import http from 'node:http';
import type net from 'node:net';
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { Client } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Server } from '../src/net/index.js';
import { B_ADDR, createPair, randomBytes, type Pair } from './harness-net.js';

let pair: Pair;
let tcpServer: Server;
let httpServer: http.Server;
/** Local ports of the client connections the server accepted, one per connection. */
let accepted: number[];

const BIG = randomBytes(1 << 20, 99);
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

beforeEach(async () => {
  pair = createPair();
  accepted = [];
  httpServer = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => parts.push(d));
    req.on('end', () => {
      const body = Buffer.concat(parts);
      if (req.url === '/big') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BIG.length });
        res.end(BIG);
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain', 'x-port': String(req.socket.remotePort) });
      res.end(`${req.method} ${req.url} ${body.length} ${sha(body)}`);
    });
  });
  tcpServer = pair.b.api.createServer((socket) => {
    accepted.push(socket.remotePort!);
    httpServer.emit('connection', socket);
  }).listen(80);
  await once(tcpServer, 'listening');
});

afterEach(async () => {
  httpServer.closeAllConnections();
  tcpServer.close();
  pair.close();
});

function request(options: http.RequestOptions, body?: Buffer): Promise<{ res: http.IncomingMessage; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: B_ADDR,
      port: 80,
      ...options,
      createConnection: () => pair.a.api.connect({ host: B_ADDR, port: 80 }) as unknown as net.Socket,
    }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ res, body: Buffer.concat(parts) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('http.createServer over our sockets, node http client', () => {
  it('GET', async () => {
    const { res, body } = await request({ path: '/hello' });
    expect(res.statusCode).toBe(200);
    expect(body.toString()).toBe(`GET /hello 0 ${sha(Buffer.alloc(0))}`);
  });

  it('POST a 1 MB body; GET a 1 MB body', async () => {
    const { body } = await request({ method: 'POST', path: '/upload', headers: { 'content-length': BIG.length } }, BIG);
    expect(body.toString()).toBe(`POST /upload ${BIG.length} ${sha(BIG)}`);
    const big = await request({ path: '/big' });
    expect(big.body.length).toBe(BIG.length);
    expect(big.body.equals(BIG)).toBe(true);
  });

  it('keep-alive: several requests on one connection through an Agent', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    // http.Agent's documented hook: its sockets come from our stack.
    (agent as unknown as { createConnection: () => unknown }).createConnection = () => pair.a.api.connect({ host: B_ADDR, port: 80 });
    const ports: string[] = [];
    for (let i = 0; i < 4; i++) {
      const { res, body } = await new Promise<{ res: http.IncomingMessage; body: Buffer }>((resolve, reject) => {
        const req = http.request({ host: B_ADDR, port: 80, path: `/k${i}`, agent }, (r) => {
          const parts: Buffer[] = [];
          r.on('data', (d: Buffer) => parts.push(d));
          r.on('end', () => resolve({ res: r, body: Buffer.concat(parts) }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(body.toString()).toMatch(new RegExp(`^GET /k${i} 0 `));
      ports.push(String(res.headers['x-port']));
    }
    agent.destroy();
    expect(new Set(ports).size).toBe(1);
    expect(accepted.length).toBe(1);
  });
});

describe("undici's Client over our sockets", () => {
  function client(): Client {
    return new Client(`http://${B_ADDR}:80`, {
      connect: (_opts, cb) => {
        const s = pair.a.api.connect({ host: B_ADDR, port: 80 });
        s.once('connect', () => cb(null, s as unknown as net.Socket));
        s.once('error', (e) => cb(e, null));
        return s as unknown as net.Socket;
      },
    });
  }

  it('GET and POST 1 MB, keep-alive on one connection', async () => {
    const c = client();
    try {
      const r1 = await c.request({ method: 'GET', path: '/a' });
      expect(r1.statusCode).toBe(200);
      expect(await r1.body.text()).toBe(`GET /a 0 ${sha(Buffer.alloc(0))}`);
      const r2 = await c.request({ method: 'POST', path: '/b', body: BIG });
      expect(await r2.body.text()).toBe(`POST /b ${BIG.length} ${sha(BIG)}`);
      const r3 = await c.request({ method: 'GET', path: '/big' });
      const got = Buffer.from(await r3.body.arrayBuffer());
      expect(got.equals(BIG)).toBe(true);
      const r4 = await c.request({ method: 'GET', path: '/c' });
      await r4.body.text();
      expect(new Set([r1, r2, r4].map((r) => r.headers['x-port'])).size).toBe(1);
      expect(accepted.length).toBe(1);
    } finally {
      await c.close();
    }
  });

  it('pipelined requests on one connection', async () => {
    const c = new Client(`http://${B_ADDR}:80`, {
      pipelining: 4,
      connect: (_opts, cb) => {
        const s = pair.a.api.connect({ host: B_ADDR, port: 80 });
        s.once('connect', () => cb(null, s as unknown as net.Socket));
        s.once('error', (e) => cb(e, null));
        return s as unknown as net.Socket;
      },
    });
    try {
      const texts = await Promise.all([0, 1, 2, 3, 4, 5].map(async (i) => (await c.request({ method: 'GET', path: `/p${i}` })).body.text()));
      texts.forEach((t, i) => expect(t.startsWith(`GET /p${i} 0 `)).toBe(true));
      expect(accepted.length).toBe(1);
    } finally {
      await c.close();
    }
  });

  it('connection refused surfaces as ECONNREFUSED', async () => {
    const c = new Client(`http://${B_ADDR}:81`, {
      connect: (_opts, cb) => {
        const s = pair.a.api.connect({ host: B_ADDR, port: 81 });
        s.once('connect', () => cb(null, s as unknown as net.Socket));
        s.once('error', (e) => cb(e, null));
        return s as unknown as net.Socket;
      },
    });
    await expect(c.request({ method: 'GET', path: '/' })).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await c.destroy();
  });
});
