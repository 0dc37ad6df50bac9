import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ViewCache } from '@netstack/ip';

describe('ViewCache (views.ts): subarray without a view per packet', () => {
  it('always returns a view equal to buf.subarray(start, end), over the same memory', () => {
    const a = new Uint8Array(300).map((_, i) => i);
    const b = new Uint8Array(300).map((_, i) => 255 - i);
    const bufs = [a, b, a.subarray(7), b.subarray(100, 250)];
    const cache = new ViewCache();
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.nat(300), fc.nat(300)), { maxLength: 200 }), (ops) => {
      for (const [k, x, y] of ops) {
        const buf = bufs[k]!;
        const start = Math.min(x, y, buf.length);
        const end = Math.min(Math.max(x, y), buf.length);
        const v = cache.view(buf, start, end);
        const want = buf.subarray(start, end);
        expect(v.buffer).toBe(want.buffer);
        expect(v.byteOffset).toBe(want.byteOffset);
        expect(v.length).toBe(want.length);
      }
    }));
  });

  it('hands back the same view object for the same range (no allocation once warm)', () => {
    const buf = new Uint8Array(65535);
    const cache = new ViewCache();
    const data = cache.view(buf, 20, 1500);
    const ack = cache.view(buf, 20, 52);
    expect(cache.view(buf, 20, 1500)).toBe(data);
    expect(cache.view(buf, 20, 52)).toBe(ack);
    expect(cache.view(buf, 24, 1504)).not.toBe(data); // another start
    expect(cache.view(new Uint8Array(65535), 20, 52)).not.toBe(ack); // another buffer
  });
});
