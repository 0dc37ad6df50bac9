import { describe, expect, it } from 'vitest';
import { sipHash24 } from '../src/siphash.js';
import { generateIsn, timestampOffset } from '../src/isn.js';
import { parseIpAddress } from '@netstack/ip';

const hex = (out: Uint32Array): string => out[1]!.toString(16).padStart(8, '0') + out[0]!.toString(16).padStart(8, '0');
const key = Uint8Array.from({ length: 16 }, (_, i) => i);
const msg = Uint8Array.from({ length: 64 }, (_, i) => i);

describe('SipHash-2-4 (the reference vectors)', () => {
  // The paper's Appendix A (key 00..0f, message 00..0e) and the reference implementation's
  // vectors.h (message 00..len-1), as 64-bit numbers.
  const vectors: [number, string][] = [
    [0, '726fdb47dd0e0e31'],
    [1, '74f839c593dc67fd'],
    [7, 'ab0200f58b01d137'],
    [8, '93f5f5799a932462'],
    [15, 'a129ca6149be45e5'],
    [16, '3f2acc7f57c29bdb'],
    [63, '958a324ceb064572'],
  ];
  for (const [len, want] of vectors) {
    it(`${len} bytes`, () => {
      const out = new Uint32Array(2);
      sipHash24(key, msg, len, out);
      expect(hex(out)).toBe(want);
    });
  }
});

describe('the ISN hash (RFC 6528 §3)', () => {
  it('depends on each tuple element and the key, and on nothing else', () => {
    const a = parseIpAddress('10.0.2.100')!, b = parseIpAddress('10.8.0.1')!;
    const isn = (k: Uint8Array, lp: number): number => generateIsn(k, 0, a, lp, b, 80);
    const k2 = key.slice(); k2[15]! ^= 1;
    expect(isn(key, 40000)).toBe(isn(key, 40000));
    expect(isn(key, 40000)).not.toBe(isn(key, 40001));
    expect(isn(key, 40000)).not.toBe(isn(k2, 40000));
    // The ISN and the timestamp offset of one tuple are different values.
    expect(timestampOffset(key, a, 40000, b, 80)).not.toBe(isn(key, 40000));
    // A key of another length works (derived once).
    const long = new Uint8Array(32).fill(7);
    expect(generateIsn(long, 0, a, 1, b, 2)).toBe(generateIsn(long, 0, a, 1, b, 2));
  });
});
