/**
 * Slowloris against the HTTP service `netstack serve` runs (startServices): a client that
 * trickles one header line at a time, never finishing its request, and one that sends
 * garbage and never closes its side. Both must end up closed, counted, while a normal
 * request is served. node:http's own deadlines do it (headersTimeout, requestTimeout);
 * here they are shortened so the test takes a second, not a minute. Before the fix the
 * HTTP server never armed them (it never listens itself) and the trickling client held
 * its connection for as long as it liked.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createLinkPair, type LinkPair } from '@netstack/tun';
import { createStack, type Stack } from '../src/index.js';
import type { Socket } from '../src/net/index.js';
import { startServices, type Services } from '../src/services.js';

const SERVER = '10.0.0.2';
let pair: LinkPair | undefined;
let server: Stack | undefined;
let client: Stack | undefined;
let services: Services | undefined;

afterAll(async () => {
  await services?.close();
  await client?.close();
  await server?.close();
  pair?.close();
});

/** What a client socket received, and whether the server ended it; resolves on 'close' (bounded by the test timeout). */
function collect(s: Socket): Promise<{ text: string; ended: boolean }> {
  return new Promise((resolve) => {
    let text = '';
    let ended = false;
    s.on('data', (d: Buffer) => { text += d.toString('latin1'); });
    s.on('end', () => { ended = true; });
    s.on('error', () => {});
    s.on('close', () => resolve({ text, ended }));
  });
}

describe('HTTP service under slowloris (node:http deadlines)', () => {
  it('a client trickling headers gets 408 and is closed at headersTimeout; one sending garbage gets 400; a normal GET is served meanwhile', { timeout: 20_000 }, async () => {
    pair = createLinkPair({ mtu: 1500 });
    server = await createStack({ link: pair.b, address: SERVER });
    client = await createStack({ link: pair.a, address: '10.0.0.1' });
    services = await startServices(server, { http: { headersTimeout: 400, requestTimeout: 800, connectionsCheckingInterval: 50 } });

    const slow = client.tcp.connect({ host: SERVER, port: 80 });
    const slowDone = collect(slow);
    slow.once('connect', () => slow.write('GET / HTTP/1.1\r\nHost: x\r\n'));
    // One more header line every 50 ms, bounded (3 s): each arrives well inside any idle timeout.
    let lines = 0;
    const trickle = setInterval(() => {
      if (!slow.writable || ++lines > 60) { clearInterval(trickle); return; }
      slow.write(`X-Line-${lines}: x\r\n`);
    }, 50);

    const garbage = client.tcp.connect({ host: SERVER, port: 80, allowHalfOpen: true });
    const garbageDone = new Promise<string>((resolve) => {
      let text = '';
      garbage.on('data', (d: Buffer) => { text += d.toString('latin1'); });
      garbage.on('error', () => {});
      garbage.on('end', () => resolve(text)); // the server's FIN; this side stays open
    });
    garbage.once('connect', () => garbage.write('\x00\x01 not http\r\n\r\n'));

    const ok = client.tcp.connect({ host: SERVER, port: 80 });
    const okDone = collect(ok);
    ok.once('connect', () => ok.end('GET /bytes/1000 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));

    const [s, g, o] = await Promise.all([slowDone, garbageDone, okDone]);
    clearInterval(trickle);
    expect(o.text).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(s.text).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
    expect(s.ended).toBe(true);
    expect(lines).toBeLessThan(60); // closed by the deadline, not by running out of lines
    expect(g).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    expect(services.stats()).toMatchObject({ HttpRequestTimeouts: 1, HttpBadRequests: 1 });
  });

  it('an idle echo or discard connection is closed after idleTimeout; one that keeps talking is not', { timeout: 20_000 }, async () => {
    const p = createLinkPair({ mtu: 1500 });
    const srv = await createStack({ link: p.b, address: SERVER });
    const cli = await createStack({ link: p.a, address: '10.0.0.1' });
    const svc = await startServices(srv, { idleTimeout: 300 });
    try {
      const idle = [7, 9].map((port) => {
        const s = cli.tcp.connect({ host: SERVER, port });
        return collect(s);
      });
      // A talker on echo: a byte every 100 ms for 1 s (bounded), each echoed back.
      const talker = cli.tcp.connect({ host: SERVER, port: 7 });
      const talkerDone = collect(talker);
      let sent = 0;
      await new Promise<void>((resolve) => {
        const tick = setInterval(() => {
          if (++sent > 10) { clearInterval(tick); resolve(); return; }
          talker.write('x');
        }, 100);
      });
      const [e, d] = await Promise.all(idle);
      expect(e!.ended && d!.ended).toBe(true); // both idle ones were closed by the server
      expect(talker.destroyed).toBe(false); // 1 s of traffic, each gap 100 ms < 300 ms
      talker.end();
      expect((await talkerDone).text).toBe('x'.repeat(10));
      expect(svc.stats().TcpIdleTimeouts).toBe(2);
    } finally {
      await svc.close();
      await cli.close();
      await srv.close();
      p.close();
    }
  });
});
