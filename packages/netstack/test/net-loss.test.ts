/**
 * The same API over a lossy link: the core retransmits, the sockets see exact
 * bytes. One-way bulk plus a short reply. (A zero-window probe with data flowing the
 * other way, which once wedged the connection, is net-zero-window.test.ts.)
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { B_ADDR, collect, createPair, randomBytes, type Pair } from './harness-net.js';

let pair: Pair | undefined;
afterEach(() => { pair?.close(); pair = undefined; });

describe('lossy link', () => {
  it('256 KiB with 3% loss each way arrives exactly', { timeout: 30_000 }, async () => {
    pair = createPair({ tcp: { rtoMin: 20, rtoInitial: 50 }, virtual: true });
    let x = 99;
    const lose = (): boolean => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return (x >>> 8) % 100 < 3; };
    pair.a.dropOutgoing = lose;
    pair.b.dropOutgoing = lose;
    // allowHalfOpen: the reply goes out after the client's FIN.
    const server = pair.b.api.createServer({ allowHalfOpen: true }, (s) => {
      void collect(s).then((body) => s.end(`${body.length} ${createHash('sha256').update(body).digest('hex')}`));
    }).listen(7);
    await once(server, 'listening');
    const data = randomBytes(256 * 1024, 4);
    const c = pair.a.api.connect({ host: B_ADDR, port: 7 });
    const reply = collect(c);
    c.end(data);
    expect((await reply).toString()).toBe(`${data.length} ${createHash('sha256').update(data).digest('hex')}`);
    expect(pair.a.tcp.stats().RetransSegs + pair.b.tcp.stats().RetransSegs).toBeGreaterThan(0);
    await once(server.close(), 'close');
  });
});
