// RFC 9293 §3.8.6.1 / §3.10.7.4: while probing a zero window, our ACKs must stay
// acceptable to a peer whose window is zero, or the peer never sees its own data
// acknowledged (found by the socket tests: it ended in 'read ETIMEDOUT').
import { once } from 'node:events';
import { expect, it } from 'vitest';
import type { Socket } from '../src/net/index.js';
import { B_ADDR, coreConn, createPair, until } from './harness-net.js';

it('a zero-window probe does not wedge the reverse direction; all bytes arrive once the reader reads', { timeout: 20_000 }, async () => {
  const pair = createPair({ tcp: { rtoMin: 10, rtoInitial: 30, receiveBufferSize: 4096, maxRetries: 4 }, virtual: true });
  const server = pair.b.api.createServer({ pauseOnConnect: true }).listen(7); // B does not read yet
  await once(server, 'listening');
  const c = pair.a.api.connect({ host: B_ADDR, port: 7 });
  const [[s]] = (await Promise.all([once(server, 'connection'), once(c, 'connect')])) as [[Socket], unknown];
  let bError: Error | undefined;
  s.on('error', (e) => { bError = e; });
  const sent = Buffer.alloc(20_000);
  for (let i = 0; i < sent.length; i++) sent[i] = (i * 7) & 0xff;
  c.write(sent); // fills B's 4 KiB window
  const aConn = coreConn(pair.a, c.localPort!)!;
  await until(() => aConn.stats.sndWnd === 0 && aConn.stats.windowProbes > 0); // A is probing B's zero window
  const b = coreConn(pair.b, s.localPort!)!;
  s.write('hello'); // B -> A: A's window is open
  const [d] = (await once(c, 'data')) as [Buffer];
  expect(d.toString()).toBe('hello');
  await until(() => b.writableLength === 0); // B saw A's ACK of 'hello'
  expect(b.stats.retransmits).toBeLessThanOrEqual(1);
  const got: Buffer[] = [];
  s.on('data', (chunk: Buffer) => got.push(chunk));
  s.resume();
  await until(() => got.reduce((n, x) => n + x.length, 0) >= sent.length);
  expect(Buffer.concat(got).equals(sent)).toBe(true);
  expect(bError).toBeUndefined();
  pair.close();
});
