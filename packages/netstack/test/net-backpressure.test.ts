/**
 * Back-pressure follows TCP end to end: a reader that stops reading closes the
 * advertised window, the writer's send buffer fills, write() returns false, and
 * 'drain' comes only after the reader resumes. No byte is lost.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { Socket } from '../src/net/index.js';
import { B_ADDR, collect, coreConn, createPair, randomBytes, until, type Pair } from './harness-net.js';

let pair: Pair | undefined;
afterEach(() => { pair?.close(); pair = undefined; });

/** Writes `data` in `size`-byte chunks, waiting for 'drain' whenever write() says so. Counts the waits. */
async function pump(s: Socket, data: Buffer, size: number, stats: { falses: number; drains: number }): Promise<void> {
  for (let off = 0; off < data.length; off += size) {
    if (!s.write(data.subarray(off, off + size))) {
      stats.falses++;
      await once(s, 'drain');
      stats.drains++;
    }
  }
  s.end();
}

describe('back-pressure', () => {
  it('a paused reader closes the window; write() returns false; drain follows resume; bytes exact', async () => {
    pair = createPair({ virtual: true });
    const { a, b } = pair;
    const server = b.api.createServer().listen(7);
    await once(server, 'listening');
    const writer = a.api.connect({ host: B_ADDR, port: 7 });
    const [[reader]] = await Promise.all([once(server, 'connection'), once(writer, 'connect')]) as [[Socket], unknown];
    reader.pause();
    const data = randomBytes(4 << 20, 8);
    const stats = { falses: 0, drains: 0 };
    const done = pump(writer, data, 16 * 1024, stats);

    const sendCore = coreConn(a, writer.localPort!)!;
    const recvCore = coreConn(b, reader.localPort!)!;
    // The stall: the reader's core buffer is full and advertises a zero window, the
    // writer's core send buffer is full, and the writer's stream holds the rest.
    // (a zero window on the wire: with window scale 7 what is left of the edge is under 128 bytes)
    await until(() => recvCore.stats.rcvWnd < 1 << recvCore.stats.rcvWndShift && sendCore.writableSpace === 0 && writer.writableNeedDrain);
    expect(stats.falses).toBeGreaterThan(0);
    expect(stats.drains).toBe(stats.falses - 1);
    expect(writer.writableLength).toBeGreaterThan(0);
    // Unread bytes wait in the reader's core (256 KiB receive buffer by default).
    expect(recvCore.readableLength).toBeGreaterThan(128 * 1024);
    // The reader's stream took about one high-water mark's worth (push() said stop
    // after the chunk that crossed it) and stopped taking from the core.
    expect(reader.readableLength).toBeGreaterThanOrEqual(reader.readableHighWaterMark);
    expect(reader.readableLength).toBeLessThan(2 * reader.readableHighWaterMark);
    expect(reader.bytesRead).toBe(reader.readableLength);
    // Bytes held: reader stream + reader core + in the writer's core (sent or not) + writer stream.
    const handedToWriter = writer.bytesWritten;
    expect(handedToWriter).toBeLessThan(data.length);

    const drainsBefore = stats.drains;
    const got = collect(reader);
    reader.resume();
    const received = await got;
    await done;
    expect(stats.drains).toBeGreaterThan(drainsBefore);
    expect(received.length).toBe(data.length);
    expect(received.equals(data)).toBe(true);
    expect(writer.bytesWritten).toBe(data.length);
    expect(reader.bytesRead).toBe(data.length);
    await once(server.close(), 'close');
  });

  it('tiny buffers and a reader that pauses and resumes at random: bytes exact both ways', async () => {
    const tcp = { sendBufferSize: 4096, receiveBufferSize: 4096 };
    pair = createPair({ tcp, virtual: true });
    const { a, b } = pair;
    let x = 12345;
    const rnd = (): number => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x; };
    const server = b.api.createServer({ highWaterMark: 1024 }, (sock) => {
      // A stuttering echo: pause after some chunks, resume on a later turn.
      sock.on('data', (d: Buffer) => {
        if (!sock.write(d)) { sock.pause(); sock.once('drain', () => sock.resume()); return; }
        if (rnd() % 4 === 0) { sock.pause(); setImmediate(() => sock.resume()); }
      });
      sock.on('end', () => sock.end());
    }).listen(7);
    await once(server, 'listening');
    const data = randomBytes(300_000, 77);
    const c = a.api.connect({ host: B_ADDR, port: 7, highWaterMark: 2048 });
    const back = collect(c);
    const stats = { falses: 0, drains: 0 };
    await pump(c, data, 1000, stats);
    const got = await back;
    expect(stats.falses).toBeGreaterThan(10);
    expect(got.equals(data)).toBe(true);
    await once(server.close(), 'close');
  });
});
