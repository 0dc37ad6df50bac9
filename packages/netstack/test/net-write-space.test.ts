/**
 * `kWriteSpace` / `kCommitSpace` (the gateway relay's read straight into the core's send
 * buffer, gateway.ts `Pump.nextBuffer`): a view of free send-buffer storage is filled in
 * place and committed; mixed with write() and kWriteNow the peer receives every byte in
 * order; while the stream has queued writes, is connecting or has ended, no space is given
 * and a commit answers -1.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { kCommitSpace, kWhenSpace, kWriteNow, kWriteSpace, type Socket } from '../src/net/socket.js';
import { B_ADDR, createPair, randomBytes, type Pair } from './harness-net.js';

let pair: Pair | undefined;
afterEach(() => { pair?.close(); pair = undefined; });

describe('Socket kWriteSpace / kCommitSpace', () => {
  it('bytes filled into the send buffer in place arrive in order, mixed with write(); no space while connecting, queued or ended', async () => {
    pair = createPair({ virtual: true });
    const data = randomBytes(3 << 20, 9);
    const got: Buffer[] = [];
    const server = pair.b.api.createServer((s) => { s.on('data', (d: Buffer) => got.push(d)); });
    server.listen(7);
    await once(server, 'listening');
    const s = pair.a.api.connect({ host: B_ADDR, port: 7 }) as Socket;
    expect(s[kWriteSpace](1000).length).toBe(0); // connecting
    expect(s[kCommitSpace](new Uint8Array(10), 10)).toBe(-1);
    await once(s, 'connect');
    let off = 0;
    let inPlace = 0;
    let full = 0;
    let round = 0;
    while (off < data.length) {
      round++;
      if (round % 5 === 0) {
        // Now and then the stream's way, and then nothing in place while it is queued.
        const chunk = data.subarray(off, Math.min(data.length, off + 70_000));
        off += chunk.length;
        const n = s[kWriteNow](chunk);
        if (n < chunk.length) {
          s.write(n > 0 ? chunk.subarray(n) : chunk);
          expect(s[kWriteSpace](1000).length).toBe(0);
        }
        while (s.writableLength > 0) await new Promise((r) => setImmediate(r));
        continue;
      }
      const space = s[kWriteSpace](Math.min(60_000, data.length - off));
      if (space.length === 0) { full++; await new Promise((r) => setImmediate(r)); continue; }
      // A read would fill it: copy the next bytes into the send buffer's own storage.
      const n = Math.min(space.length, data.length - off, 40_000);
      space.set(data.subarray(off, off + n));
      expect(s[kCommitSpace](space, n)).toBe(n);
      off += n;
      inPlace++;
    }
    s.end();
    expect(s[kWriteSpace](1000).length).toBe(0);
    expect(s[kCommitSpace](new Uint8Array(10), 10)).toBe(-1);
    await once(s, 'finish');
    while (Buffer.concat(got).length < data.length) await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(got).equals(data)).toBe(true);
    expect(inPlace).toBeGreaterThan(20);
    expect(full).toBeGreaterThan(0); // the send buffer filled: no space until ACKs freed some
    expect(s.bytesWritten).toBe(data.length);
    s.destroy();
  });

  it('kWhenSpace: true while the send buffer has the room; else the callback once ACKs free the later amount', async () => {
    pair = createPair({ virtual: true });
    let reading = false;
    const server = pair.b.api.createServer({ pauseOnConnect: true }, (s) => {
      s.on('data', () => {});
      const go = (): void => { if (reading) s.resume(); else setImmediate(go); };
      go();
    });
    server.listen(7);
    await once(server, 'listening');
    const s = pair.a.api.connect({ host: B_ADDR, port: 7 }) as Socket;
    await once(s, 'connect');
    expect(s[kWhenSpace](1000, 1000, () => { throw new Error('not called when there is room'); })).toBe(true);
    // Fill the send buffer while the peer does not read (its window closes).
    let filled = 0;
    let idle = 0;
    for (let i = 0; i < 10_000 && idle < 50; i++) {
      const space = s[kWriteSpace](65_536);
      if (space.length === 0) {
        idle++;
        await new Promise((r) => setImmediate(r));
        continue;
      }
      idle = 0;
      space.fill(7);
      expect(s[kCommitSpace](space, space.length)).toBe(space.length);
      filled += space.length;
    }
    expect(idle).toBe(50); // the peer's window closed: the send buffer stays full
    expect(filled).toBeGreaterThan(0);
    let called = 0;
    expect(s[kWhenSpace](1, 100_000, () => { called++; })).toBe(false);
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(called).toBe(0); // nobody reads: no ACK frees room
    reading = true;
    while (called === 0) await new Promise((r) => setImmediate(r));
    expect(called).toBe(1);
    expect(s[kWriteSpace](200_000).length).toBeGreaterThan(0);
    s.destroy();
  });
});
