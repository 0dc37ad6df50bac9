import { describe, expect, it } from 'vitest';
import { MemoryAccount, RingBuffer } from '../src/index.js';

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

describe('RingBuffer with a MemoryAccount (maxBufferMemory)', () => {
  it('grows freely under the limit, stops at it, keeps the guaranteed minimum, and gives storage back', () => {
    const acct = new MemoryAccount(10_000, 4096);
    const a = new RingBuffer(65536, 64, acct);
    const b = new RingBuffer(65536, 64, acct);
    expect(a.free).toBe(10_000); // the headroom, not the 64 KiB capacity
    expect(a.write(new Uint8Array(9000))).toBe(9000);
    expect(acct.used).toBe(a.allocated);
    // a holds 16384 (doubling past the limit is cut to the grant): over the limit now.
    expect(acct.used).toBeGreaterThanOrEqual(9000);
    expect(acct.used).toBeLessThanOrEqual(10_000);
    // b: no headroom left, but its guaranteed 4 KiB.
    expect(b.free).toBe(4096);
    expect(b.write(new Uint8Array(8000))).toBe(4096);
    expect(acct.pressureEvents).toBeGreaterThan(0);
    expect(acct.used).toBe(a.allocated + b.allocated);
    // Reading frees ring space but not account storage; dispose gives it back once empty.
    const into = new Uint8Array(9000);
    a.dispose();
    expect(acct.used).toBe(a.allocated + b.allocated);
    expect(a.read(into)).toBe(9000);
    expect(a.allocated).toBe(0);
    b.clear();
    expect(acct.used).toBe(0);
  });

  it('without an account nothing changes: free is capacity - length', () => {
    const r = new RingBuffer(1000);
    expect(r.free).toBe(1000);
    r.write(new Uint8Array(300));
    expect(r.free).toBe(700);
  });
});

describe('RingBuffer tailSpace / commitTail (filled in place)', () => {
  const read = (r: RingBuffer): number[] => {
    const out = new Uint8Array(r.length);
    r.read(out);
    return [...out];
  };

  it('hands out the contiguous free storage after the readable bytes (grown first), up to the end or the head', () => {
    const r = new RingBuffer(16, 4);
    const a = r.tailSpace(6);
    expect(a.length).toBe(6);
    expect(r.allocated).toBe(8); // grown as a 6-byte write would grow it
    a.set([1, 2, 3, 4, 5, 6]);
    expect(r.commitTail(a, 6)).toBe(true);
    expect(r.length).toBe(6);
    r.discard(4); // head at 4: free storage is [6, 8) then [0, 4)
    const b = r.tailSpace(16);
    // Grown to 16 (the whole capacity): the readable bytes unwrapped to 0, the tail at 2.
    expect(r.allocated).toBe(16);
    expect(b.length).toBe(14);
    b.set([7, 8, 9], 0);
    expect(r.commitTail(b, 3)).toBe(true);
    expect(read(r)).toEqual([5, 6, 7, 8, 9]);
  });

  it('stops at the head where the free storage wraps, and is empty when full', () => {
    const r = new RingBuffer(8, 8);
    r.write(Uint8Array.of(1, 2, 3, 4, 5, 6));
    r.discard(5); // head 5, one readable byte; the tail at 6
    const a = r.tailSpace(8);
    expect(a.length).toBe(2); // [6, 8): the storage's end
    a.set([7, 8]);
    expect(r.commitTail(a, 2)).toBe(true);
    const b = r.tailSpace(8);
    expect(b.length).toBe(5); // [0, 5): up to the head
    b.set([9, 10, 11, 12, 13]);
    expect(r.commitTail(b, 5)).toBe(true);
    expect(r.free).toBe(0);
    expect(r.tailSpace(8).length).toBe(0);
    expect(read(r)).toEqual([6, 7, 8, 9, 10, 11, 12, 13]);
  });

  it('refuses a view that is no longer the tail: written after, grown, released, or n beyond it', () => {
    const r = new RingBuffer(64, 4);
    const a = r.tailSpace(4);
    r.write(Uint8Array.of(1)); // the tail moved
    expect(r.commitTail(a, 1)).toBe(false);
    const b = r.tailSpace(3);
    expect(r.commitTail(b, 4)).toBe(false); // more than the view
    expect(r.commitTail(b, 0)).toBe(false);
    r.write(new Uint8Array(20)); // grows: the storage b points into is gone
    expect(r.commitTail(b, 1)).toBe(false);
    r.clear();
    const c = r.tailSpace(8);
    r.release(); // nothing stored: released
    expect(r.commitTail(c, 1)).toBe(false);
    expect(r.length).toBe(0);
  });
});
