/**
 * BLAKE2s (RFC 7693) in TypeScript, for what node:crypto cannot do: a key and an output
 * shorter than 32 bytes. WireGuard's MAC1 and MAC2 are keyed BLAKE2s-128 (whitepaper §5.4.4),
 * and OpenSSL's 'blake2s256' digest takes neither a key nor a length. The unkeyed 32-byte
 * hash (HASH in the whitepaper) goes through node:crypto instead (crypto.ts), which is faster.
 *
 * Written from the RFC's description (§2 parameters, §3.1 G, §3.2 F, §3.3 the padding and
 * the parameter block); checked against RFC 7693 Appendix B, the Appendix E self-test
 * and the BLAKE2 team's keyed test vectors (test/crypto.test.ts).
 */

/** RFC 7693 §2.6: BLAKE2s's IV is SHA-256's. */
const IV = new Uint32Array([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

/** RFC 7693 §2.7: the message word schedule of each of the 10 rounds. */
const SIGMA = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
  [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
  [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
  [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
  [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
].flatMap((r) => r);

const v = new Uint32Array(16);
const m = new Uint32Array(16);

function rotr(x: number, n: number): number {
  return (x >>> n) | (x << (32 - n));
}

/** RFC 7693 §3.1: the mixing function G, rotations (16, 12, 8, 7) for BLAKE2s. */
function g(a: number, b: number, c: number, d: number, x: number, y: number): void {
  v[a] = (v[a]! + v[b]! + x) | 0;
  v[d] = rotr(v[d]! ^ v[a]!, 16);
  v[c] = (v[c]! + v[d]!) | 0;
  v[b] = rotr(v[b]! ^ v[c]!, 12);
  v[a] = (v[a]! + v[b]! + y) | 0;
  v[d] = rotr(v[d]! ^ v[a]!, 8);
  v[c] = (v[c]! + v[d]!) | 0;
  v[b] = rotr(v[b]! ^ v[c]!, 7);
}

/** RFC 7693 §3.2: the compression function F over one 64-byte block at `off`. */
function compress(h: Uint32Array, block: Uint8Array, off: number, t: number, last: boolean): void {
  for (let i = 0; i < 16; i++) {
    const p = off + i * 4;
    m[i] = block[p]! | (block[p + 1]! << 8) | (block[p + 2]! << 16) | (block[p + 3]! << 24);
  }
  for (let i = 0; i < 8; i++) {
    v[i] = h[i]!;
    v[i + 8] = IV[i]!;
  }
  v[12] = (v[12]! ^ t) >>> 0; // low word of the byte counter
  v[13] = (v[13]! ^ Math.floor(t / 0x100000000)) >>> 0; // high word
  if (last) v[14] = ~v[14]!;
  for (let r = 0; r < 10; r++) {
    const s = r * 16;
    g(0, 4, 8, 12, m[SIGMA[s]!]!, m[SIGMA[s + 1]!]!);
    g(1, 5, 9, 13, m[SIGMA[s + 2]!]!, m[SIGMA[s + 3]!]!);
    g(2, 6, 10, 14, m[SIGMA[s + 4]!]!, m[SIGMA[s + 5]!]!);
    g(3, 7, 11, 15, m[SIGMA[s + 6]!]!, m[SIGMA[s + 7]!]!);
    g(0, 5, 10, 15, m[SIGMA[s + 8]!]!, m[SIGMA[s + 9]!]!);
    g(1, 6, 11, 12, m[SIGMA[s + 10]!]!, m[SIGMA[s + 11]!]!);
    g(2, 7, 8, 13, m[SIGMA[s + 12]!]!, m[SIGMA[s + 13]!]!);
    g(3, 4, 9, 14, m[SIGMA[s + 14]!]!, m[SIGMA[s + 15]!]!);
  }
  for (let i = 0; i < 8; i++) h[i] = h[i]! ^ v[i]! ^ v[i + 8]!;
}

const pad = new Uint8Array(64);

/**
 * BLAKE2s of `input` with an optional key (0..32 bytes) and an output of `outLen` bytes
 * (1..32), RFC 7693 §3.3. Throws RangeError on a bad key or output length (a programming
 * error, never reached from the wire: every caller passes constants).
 */
export function blake2s(input: Uint8Array, outLen = 32, key?: Uint8Array): Uint8Array {
  const kk = key?.length ?? 0;
  if (outLen < 1 || outLen > 32 || kk > 32) throw new RangeError('blake2s: output 1..32 bytes, key 0..32 bytes');
  const h = IV.slice();
  h[0] = h[0]! ^ 0x01010000 ^ (kk << 8) ^ outLen; // parameter block: fanout 1, depth 1
  let t = 0;
  // A key is processed as a first full block of its own, zero padded (§3.3).
  let data = input;
  if (kk > 0) {
    data = new Uint8Array(64 + input.length);
    data.set(key!, 0);
    data.set(input, 64);
  }
  const n = data.length;
  let off = 0;
  // Every block but the last is compressed as it stands; the last one (possibly partial, or
  // the empty message's single zero block) is padded with zeros and flagged final.
  while (n - off > 64) {
    t += 64;
    compress(h, data, off, t, false);
    off += 64;
  }
  const rest = n - off;
  pad.fill(0);
  pad.set(data.subarray(off, n), 0);
  t += rest;
  compress(h, pad, 0, t, true);
  const out = new Uint8Array(outLen);
  for (let i = 0; i < outLen; i++) out[i] = (h[i >> 2]! >>> (8 * (i & 3))) & 0xff;
  return out;
}
