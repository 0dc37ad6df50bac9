/**
 * `kWriteNow` (the gateway relay's write, gateway.ts `Pump`): bytes go straight into the
 * core's send buffer when nothing is queued in the stream; what the core does not take,
 * and everything while the stream has queued writes, goes through write(). Mixed, the
 * peer receives every byte in order; the stream's cases (connecting, ended) answer -1.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { kWriteNow, type Socket } from '../src/net/socket.js';
import { B_ADDR, createPair, randomBytes, type Pair } from './harness-net.js';

let pair: Pair | undefined;
afterEach(() => { pair?.close(); pair = undefined; });

describe('Socket kWriteNow', () => {
  it('mixed with write(), every byte arrives in order; -1 while connecting and after end()', async () => {
    pair = createPair({ virtual: true });
    const data = randomBytes(3 << 20, 5);
    const got: Buffer[] = [];
    const server = pair.b.api.createServer((s) => { s.on('data', (d: Buffer) => got.push(d)); });
    server.listen(7);
    await once(server, 'listening');
    const s = pair.a.api.connect({ host: B_ADDR, port: 7 }) as Socket;
    expect(s[kWriteNow](data.subarray(0, 10))).toBe(-1); // connecting: the stream queues it
    await once(s, 'connect');
    let off = 0;
    let direct = 0;
    let partial = 0;
    let refused = 0;
    while (off < data.length) {
      const chunk = data.subarray(off, Math.min(data.length, off + 50_000));
      off += chunk.length;
      const n = s[kWriteNow](chunk);
      if (n === chunk.length) { direct++; continue; }
      if (n < 0) refused++; else partial++;
      // The rest the stream's way; the next direct write waits until it is written.
      if (!s.write(n > 0 ? chunk.subarray(n) : chunk)) await once(s, 'drain');
      while (s.writableLength > 0) await new Promise((r) => setImmediate(r));
    }
    s.end();
    expect(s[kWriteNow](Buffer.from('x'))).toBe(-1);
    await once(s, 'finish');
    while (Buffer.concat(got).length < data.length) await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(got).equals(data)).toBe(true);
    // Both paths ran: some chunks went in whole, some only in part (the send buffer was full).
    expect(direct).toBeGreaterThan(0);
    expect(partial + refused).toBeGreaterThan(0);
    expect(s.bytesWritten).toBe(data.length);
    s.destroy();
  });
});
