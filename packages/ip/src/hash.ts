/**
 * The keyed 32-bit mixing the IPv6 code hashes addresses with (murmur3's round and
 * finaliser): flow labels and fragment identifications (layer6.ts, RFC 6437, RFC 7739)
 * and the reassembler's IPv6 keys (reassembly.ts). Not cryptographic: the key is what makes
 * the outputs unpredictable from outside, as Linux's siphash keys do (a weaker mix; said in
 * the README).
 */

/** Bytes i..i+3 of an IPv6 address (a 16-character latin1 string) as a 32-bit word. */
export function word(a: string, i: number): number {
  return (a.charCodeAt(i) << 24) | (a.charCodeAt(i + 1) << 16) | (a.charCodeAt(i + 2) << 8) | a.charCodeAt(i + 3);
}

/** One murmur3 round of `k` into `h`. */
export function mix(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** murmur3's finaliser (a signed 32-bit result; `>>> 0` for the unsigned one). */
export function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}
