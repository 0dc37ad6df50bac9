import { describe, expect, it } from 'vitest';
import { RingBuffer } from '../src/index.js';

describe('RingBuffer storage (lazy, doubling, bounded)', () => {
  it('holds no storage until the first write, then the smallest doubling of 64 B that fits', () => {
    const r = new RingBuffer(256 * 1024);
    expect(r.allocated).toBe(0);
    // Reading, peeking and discarding nothing on an empty ring keep it empty and usable.
    expect(r.read(new Uint8Array(10))).toBe(0);
    r.peek(0, 0, new Uint8Array(0), 0);
    r.discard(0);
    r.discard(5);
    expect(r.allocated).toBe(0);
    expect(r.write(Uint8Array.from([1, 2, 3]))).toBe(3);
    expect(r.allocated).toBe(64);
    r.write(new Uint8Array(100));
    expect(r.allocated).toBe(128);
    r.write(new Uint8Array(1000));
    expect(r.allocated).toBe(2048);
    const out = new Uint8Array(3);
    r.read(out);
    expect(Array.from(out)).toEqual([1, 2, 3]);
  });

  it('never allocates past capacity, and a first write larger than minAlloc goes straight to its size', () => {
    const r = new RingBuffer(1000);
    expect(r.write(new Uint8Array(5000))).toBe(1000);
    expect(r.allocated).toBe(1000);
    const s = new RingBuffer(1 << 20);
    s.write(new Uint8Array(16 * 1024));
    expect(s.allocated).toBe(16 * 1024);
  });

  it('after release() a write allocates again from the minimum', () => {
    const r = new RingBuffer(4096);
    r.write(new Uint8Array(3000));
    r.read(new Uint8Array(3000));
    r.release();
    expect(r.allocated).toBe(0);
    r.discard(0);
    r.write(Uint8Array.from([9]));
    expect(r.allocated).toBe(64);
    const out = new Uint8Array(1);
    r.read(out);
    expect(out[0]).toBe(9);
  });

  it('reassembles out of order into a ring that held nothing yet', () => {
    const r = new RingBuffer(1024);
    r.writeAt(100, Uint8Array.from([4, 5]));
    expect(r.allocated).toBe(128);
    r.writeAt(0, new Uint8Array(100).fill(7));
    r.commit(102);
    const out = new Uint8Array(102);
    expect(r.read(out)).toBe(102);
    expect(out[99]).toBe(7);
    expect(Array.from(out.subarray(100))).toEqual([4, 5]);
  });
});
