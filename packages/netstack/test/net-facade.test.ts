/**
 * The same API through the real facade: `createStack({ link })` on both ends of
 * `createLinkPair()`, users writing `stack.tcp.createServer()` / `stack.tcp.connect()`.
 */
import http from 'node:http';
import type net from 'node:net';
import { once } from 'node:events';
import { Client } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { createLinkPair, createStack, type Stack } from '@netstack/netstack';
import { collect, randomBytes } from './harness-net.js';

const open: Stack[] = [];
afterEach(async () => { await Promise.all(open.splice(0).map((s) => s.close())); });

async function stacks(): Promise<[Stack, Stack]> {
  const { a, b } = createLinkPair();
  const s1 = await createStack({ link: a, address: '10.0.0.1' });
  const s2 = await createStack({ link: b, address: '10.0.0.2' });
  open.push(s1, s2);
  return [s1, s2];
}

describe('stack.tcp through createStack', () => {
  it('1 MB echo is exact; ECONNREFUSED on a closed port', async () => {
    const [s1, s2] = await stacks();
    const server = s2.tcp.createServer((s) => s.pipe(s)).listen(7);
    await once(server, 'listening');
    const data = randomBytes(1 << 20, 21);
    const c = s1.tcp.connect({ host: '10.0.0.2', port: 7 });
    const back = collect(c);
    c.end(data);
    expect((await back).equals(data)).toBe(true);
    const refused = s1.tcp.connect({ host: '10.0.0.2', port: 8 });
    const [err] = await once(refused, 'error').catch((e: unknown) => [e]) as [NodeJS.ErrnoException];
    expect(err).toMatchObject({ code: 'ECONNREFUSED', syscall: 'connect', address: '10.0.0.2', port: 8 });
    await once(server.close(), 'close');
  });

  it('http.createServer served over stack.tcp, fetched with undici', async () => {
    const [s1, s2] = await stacks();
    const httpServer = http.createServer((req, res) => res.end(`hello ${req.url}`));
    const server = s2.tcp.createServer((s) => httpServer.emit('connection', s)).listen(80);
    await once(server, 'listening');
    const client = new Client('http://10.0.0.2', {
      connect: (_o, cb) => {
        const s = s1.tcp.connect({ host: '10.0.0.2', port: 80 });
        s.once('connect', () => cb(null, s as unknown as net.Socket));
        s.once('error', (e) => cb(e, null));
        return s as unknown as net.Socket;
      },
    });
    const r = await client.request({ method: 'GET', path: '/x' });
    expect(await r.body.text()).toBe('hello /x');
    await client.close();
    httpServer.closeAllConnections();
    server.close();
  });
});
