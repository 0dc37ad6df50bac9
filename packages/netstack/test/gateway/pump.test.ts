/**
 * The relay's Pump (gateway.ts): upstream reads go into the guest connection's send buffer in
 * place only once the flow has shown it is a bulk one (a read of 16 KiB, or of a segment), and
 * are offered at most twice the last read: handing out send-buffer storage makes the ring take
 * it at once, so a request/response connection must not be offered a whole 256 KiB read.
 */
import { describe, expect, it } from 'vitest';
import { Pump } from '../../src/gateway/gateway.js';
import { kCommitSpace, kWhenSpace, kWriteNow, kWriteSpace } from '../../src/net/socket.js';

/** A stack Socket as the Pump sees it: free send-buffer storage on request, every ask recorded. */
function fakeSink() {
  const storage = new Uint8Array(1 << 20);
  const asks: number[] = [];
  const written: number[] = [];
  let committed = 0;
  const sink = {
    writableLength: 0, destroyed: false, writableEnded: false,
    write: (chunk: Buffer) => { written.push(chunk.length); return true; },
    end: () => {},
    [kWriteNow]: (c: Uint8Array) => { written.push(c.length); return c.length; },
    [kWriteSpace]: (max: number) => { asks.push(max); return storage.subarray(committed, committed + max); },
    [kCommitSpace]: (_space: Uint8Array, n: number) => { committed += n; return n; },
    [kWhenSpace]: () => true,
  };
  return { sink, asks, written, committed: () => committed };
}
const source = () => ({ resume() {}, pause() {}, destroyed: false, once() {} });

describe('Pump: in-place reads only for bulk flows', () => {
  it('a request/response flow (reads of a few hundred bytes) is never offered send-buffer storage', () => {
    const p = new Pump(1460);
    const { sink, asks, written } = fakeSink();
    p.attach(source(), sink as never);
    for (let i = 0; i < 50; i++) {
      const buf = p.nextBuffer();
      expect(buf.buffer === p.buffer.buffer, 'the pooled buffer (copied in)').toBe(true);
      expect(p.onRead(300, buf)).toBe(true);
    }
    expect(asks).toEqual([]);
    expect(written).toEqual(Array(50).fill(300));
    expect(p.inPlace).toBe(0);
  });

  it('after a read of 16 KiB the next reads go in place, offered twice the last read (at least a segment), up to the buffer', () => {
    const p = new Pump(1460);
    const { sink, asks, committed } = fakeSink();
    p.attach(source(), sink as never);
    let buf = p.nextBuffer();
    p.onRead(16 * 1024, buf); // copied (the first read), and marks the flow bulk
    buf = p.nextBuffer();
    expect(asks).toEqual([32 * 1024]);
    // Whole segments of what was offered.
    expect(buf.length).toBe(Math.floor(32 * 1024 / 1460) * 1460);
    p.onRead(buf.length, buf);
    expect(p.inPlace).toBe(buf.length);
    expect(committed()).toBe(buf.length);
    // A small read later: the next offer is a segment, not a whole read's worth.
    buf = p.nextBuffer();
    p.onRead(100, buf);
    p.nextBuffer();
    expect(asks.at(-1)).toBe(1460);
    // Large reads double the offer up to the pooled buffer's size.
    for (let i = 0; i < 12; i++) {
      buf = p.nextBuffer();
      p.onRead(buf.length, buf);
    }
    expect(Math.max(...asks)).toBe(p.buffer.length);
  });

  it('a read of one segment where segments are larger than 16 KiB (MTU 65520) also marks the flow bulk', () => {
    const p = new Pump(65_468);
    const { sink, asks } = fakeSink();
    p.attach(source(), sink as never);
    const buf = p.nextBuffer();
    p.onRead(8 * 1024, buf);
    p.nextBuffer();
    expect(asks).toEqual([]);
    p.onRead(16 * 1024, p.buffer);
    p.nextBuffer();
    expect(asks).toEqual([65_468]);
  });
});
