/**
 * SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast short-input PRF", 2012): the keyed
 * hash Linux uses for its TCP initial sequence numbers and timestamp offsets
 * (net/core/secure_seq.c, `siphash_3u32` / `siphash_4u32`), here for RFC 6528's F (isn.ts).
 * A 128-bit key, any message, a 64-bit result; 64-bit words held as two unsigned 32-bit
 * halves (JavaScript has no 64-bit integer arithmetic without BigInt, which allocates).
 * Pure, no allocation: a SHA-256 through node:crypto costs a Hash object, two updates and a
 * digest Buffer per call (two calls per new connection were ~3 % of the gateway's CPU per
 * connection).
 */

const le32 = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;

/**
 * SipHash-2-4 of the first `n` bytes of `msg` under the 16-byte `key` (its first 16 bytes;
 * the caller checks the length): the 64-bit result's low and high 32-bit halves as
 * `[low, high]` in `out`. One function with the state in locals (module-level numbers
 * outside the small-integer range would be boxed on every store).
 */
export function sipHash24(key: Uint8Array, msg: Uint8Array, n: number, out: Uint32Array): void {
  const k0l = le32(key, 0), k0h = le32(key, 4), k1l = le32(key, 8), k1h = le32(key, 12);
  // v0..v3 as high and low halves; the constants spell "somepseudorandomlygeneratedbytes".
  let v0h = (k0h ^ 0x736f6d65) >>> 0, v0l = (k0l ^ 0x70736575) >>> 0;
  let v1h = (k1h ^ 0x646f7261) >>> 0, v1l = (k1l ^ 0x6e646f6d) >>> 0;
  let v2h = (k0h ^ 0x6c796765) >>> 0, v2l = (k0l ^ 0x6e657261) >>> 0;
  let v3h = (k1h ^ 0x74656462) >>> 0, v3l = (k1l ^ 0x79746573) >>> 0;
  let h: number, l: number;
  const whole = n - (n & 7);
  // Every 8-byte word, little-endian, then the last: the remaining bytes and n mod 256 in
  // its top byte. Each word: v3 ^= m, two rounds, v0 ^= m; then v2 ^= 0xff and four rounds.
  for (let i = 0; i <= whole; i += 8) {
    let ml: number, mh: number;
    if (i < whole) {
      ml = le32(msg, i); mh = le32(msg, i + 4);
    } else {
      ml = 0; mh = (n & 0xff) << 24;
      for (let k = whole; k < n; k++) {
        const j = k - whole;
        if (j < 4) ml |= msg[k]! << (8 * j); else mh |= msg[k]! << (8 * (j - 4));
      }
      ml >>>= 0; mh >>>= 0;
    }
    v3h = (v3h ^ mh) >>> 0; v3l = (v3l ^ ml) >>> 0;
    // Two rounds per word; after the last word's two, v0 ^= m and v2 ^= 0xff, then four more.
    const rounds = i < whole ? 2 : 6;
    for (let r = 0; r < rounds; r++) {
      if (r === 2) { v0h = (v0h ^ mh) >>> 0; v0l = (v0l ^ ml) >>> 0; v2l = (v2l ^ 0xff) >>> 0; }
      // v0 += v1; v1 = rotl(v1, 13); v1 ^= v0; v0 = rotl(v0, 32)
      l = (v0l + v1l) >>> 0; v0h = (v0h + v1h + (l < v0l ? 1 : 0)) >>> 0; v0l = l;
      h = ((v1h << 13) | (v1l >>> 19)) >>> 0; l = ((v1l << 13) | (v1h >>> 19)) >>> 0;
      v1h = (h ^ v0h) >>> 0; v1l = (l ^ v0l) >>> 0;
      h = v0h; v0h = v0l; v0l = h;
      // v2 += v3; v3 = rotl(v3, 16); v3 ^= v2
      l = (v2l + v3l) >>> 0; v2h = (v2h + v3h + (l < v2l ? 1 : 0)) >>> 0; v2l = l;
      h = ((v3h << 16) | (v3l >>> 16)) >>> 0; l = ((v3l << 16) | (v3h >>> 16)) >>> 0;
      v3h = (h ^ v2h) >>> 0; v3l = (l ^ v2l) >>> 0;
      // v0 += v3; v3 = rotl(v3, 21); v3 ^= v0
      l = (v0l + v3l) >>> 0; v0h = (v0h + v3h + (l < v0l ? 1 : 0)) >>> 0; v0l = l;
      h = ((v3h << 21) | (v3l >>> 11)) >>> 0; l = ((v3l << 21) | (v3h >>> 11)) >>> 0;
      v3h = (h ^ v0h) >>> 0; v3l = (l ^ v0l) >>> 0;
      // v2 += v1; v1 = rotl(v1, 17); v1 ^= v2; v2 = rotl(v2, 32)
      l = (v2l + v1l) >>> 0; v2h = (v2h + v1h + (l < v2l ? 1 : 0)) >>> 0; v2l = l;
      h = ((v1h << 17) | (v1l >>> 15)) >>> 0; l = ((v1l << 17) | (v1h >>> 15)) >>> 0;
      v1h = (h ^ v2h) >>> 0; v1l = (l ^ v2l) >>> 0;
      h = v2h; v2h = v2l; v2l = h;
    }
    if (i < whole) { v0h = (v0h ^ mh) >>> 0; v0l = (v0l ^ ml) >>> 0; }
  }
  out[0] = v0l ^ v1l ^ v2l ^ v3l;
  out[1] = v0h ^ v1h ^ v2h ^ v3h;
}
