import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { NumberTable } from '../src/numtable.js';

describe('NumberTable (seeded open addressing, backward-shift deletion)', () => {
  it('behaves like a Map under any sequence of set/get/delete, and its size follows the keys', () => {
    // Few distinct keys, so runs collide, wrap around and get deleted from the middle.
    const key = fc.oneof(fc.nat({ max: 40 }), fc.nat({ max: 40 }).map((k) => k * 65536 + 0x0a070001 * 65536));
    const op = fc.oneof(
      fc.record({ t: fc.constant('set' as const), k: key, v: fc.nat() }),
      fc.record({ t: fc.constant('del' as const), k: key }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 400 }), fc.nat(), fc.nat(), (ops, a, b) => {
      const t = new NumberTable<{ v: number }>(Uint32Array.of(a, b));
      const m = new Map<number, { v: number }>();
      for (const o of ops) {
        if (o.t === 'set') {
          const v = { v: o.v };
          t.set(o.k, v);
          m.set(o.k, v);
        } else {
          expect(t.delete(o.k)).toBe(m.delete(o.k));
        }
        expect(t.size).toBe(m.size);
        for (const [k, v] of m) if (t.get(k) !== v) throw new Error(`lost ${k}`);
        expect(t.get(123456789)).toBeUndefined();
        expect(t.slots).toBeLessThanOrEqual(Math.max(16, 8 * m.size));
      }
    }), { numRuns: 200 });
  });

  it('shrinks back after many keys leave', () => {
    const t = new NumberTable<number>();
    for (let i = 0; i < 10_000; i++) t.set(i * 7919, i);
    expect(t.slots).toBeGreaterThanOrEqual(20_000);
    for (let i = 0; i < 10_000; i++) t.delete(i * 7919);
    expect([t.size, t.slots]).toEqual([0, 16]);
  });
});
