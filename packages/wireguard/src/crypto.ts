/**
 * WireGuard's primitives (whitepaper §5.4 "Cryptographic primitives"), over node:crypto:
 *
 * - DH: X25519 (RFC 7748) with `crypto.diffieHellman` on KeyObjects made from raw 32-byte
 *   keys. A public key is wrapped as a JWK (about 7 µs here; the DER/SPKI route costs about
 *   75 µs, more than the scalar multiplication itself); a private key's KeyObject is made once
 *   and cached in `PrivateKey`.
 * - AEAD: ChaCha20-Poly1305 (RFC 8439) with the 96-bit nonce = 32 zero bits ‖ a 64-bit
 *   little-endian counter.
 * - XAEAD: XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha), for the cookie reply only: HChaCha20
 *   is recovered from OpenSSL's ChaCha20 block function (below), then ChaCha20-Poly1305.
 * - HASH: BLAKE2s-256 (node's 'blake2s256'); HMAC: HMAC-BLAKE2s (node's createHmac, checked
 *   against our own BLAKE2s in the tests); MAC: keyed BLAKE2s-128 (blake2s.ts).
 * - KDF1/2/3: HKDF (RFC 5869) over HMAC-BLAKE2s, as whitepaper §5.4 writes it.
 * - TAI64N timestamps (§5.4.2).
 *
 * Nothing here throws on input from the wire: `open` and `dh` return undefined on failure.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, createPrivateKey, createPublicKey, diffieHellman, randomBytes, type KeyObject } from 'node:crypto';
import { blake2s } from './blake2s.js';

export const KEY_LEN = 32;
export const TAG_LEN = 16;

/** HASH(input): BLAKE2s-256 of the concatenation of `parts`. */
export function hash(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('blake2s256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** HMAC(key, input) with BLAKE2s-256 (RFC 2104, 64-byte block). */
export function hmac(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const h = createHmac('blake2s256', key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** MAC(key, input): keyed BLAKE2s with a 16-byte output (§5.4.4's MAC1 and MAC2). */
export function mac(key: Uint8Array, input: Uint8Array): Uint8Array {
  return blake2s(input, 16, key);
}

const ONE = Uint8Array.of(1);
const TWO = Uint8Array.of(2);
const THREE = Uint8Array.of(3);

/** KDF_n(key, input) of whitepaper §5.4: τ0 = HMAC(key, input), τi = HMAC(τ0, τ(i-1) ‖ i). */
export function kdf1(key: Uint8Array, input: Uint8Array): Uint8Array {
  const t0 = hmac(key, input);
  return hmac(t0, ONE);
}
export function kdf2(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array] {
  const t0 = hmac(key, input);
  const t1 = hmac(t0, ONE);
  return [t1, hmac(t0, t1, TWO)];
}
export function kdf3(key: Uint8Array, input: Uint8Array): [Uint8Array, Uint8Array, Uint8Array] {
  const t0 = hmac(key, input);
  const t1 = hmac(t0, ONE);
  const t2 = hmac(t0, t1, TWO);
  return [t1, t2, hmac(t0, t2, THREE)];
}

// ---------------------------------------------------------------- X25519 (RFC 7748)

function publicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw.buffer, raw.byteOffset, 32).toString('base64url') }, format: 'jwk' });
}

/** RFC 8410 §7: the PKCS#8 prefix of a raw X25519 private key. */
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');

/** A Curve25519 private key: its raw bytes, its public key and its cached KeyObject. */
export class PrivateKey {
  readonly raw: Uint8Array;
  readonly publicKey: Uint8Array;
  private readonly object: KeyObject;

  /** `raw`: 32 bytes (clamped by X25519 itself, RFC 7748 §5). Throws RangeError on a bad length. */
  constructor(raw: Uint8Array) {
    if (raw.length !== 32) throw new RangeError('a Curve25519 private key is 32 bytes');
    this.raw = Uint8Array.from(raw);
    const d = Buffer.from(this.raw).toString('base64url');
    // A JWK private key must carry `x` (the public half), which is what we want to compute:
    // Node (20, 22) builds the key from `d` alone, so a placeholder `x` gets OpenSSL to derive
    // the real one; should a Node check `x`, the PKCS#8 route (about 5 times slower) does it.
    let probe: KeyObject;
    try {
      probe = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d, x: d }, format: 'jwk' });
    } catch {
      probe = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, this.raw]), format: 'der', type: 'pkcs8' });
    }
    const x = createPublicKey(probe).export({ format: 'jwk' }).x!;
    this.object = createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d, x }, format: 'jwk' });
    this.publicKey = Uint8Array.from(Buffer.from(x, 'base64url'));
  }

  /** A fresh random key (ephemeral keys, tests). */
  static generate(random: (n: number) => Uint8Array = randomBytes): PrivateKey {
    return new PrivateKey(random(32));
  }

  /**
   * DH(this, pub): X25519 shared secret, or undefined when it is all zeros (a small-order
   * point: OpenSSL refuses it, and WireGuard rejects the zero secret too).
   */
  dh(pub: Uint8Array): Uint8Array | undefined {
    try {
      const s = diffieHellman({ privateKey: this.object, publicKey: publicKeyObject(pub) });
      return isZero(s) ? undefined : s;
    } catch {
      return undefined;
    }
  }
}

/** X25519(scalar, u) for the RFC 7748 known-answer tests. */
export function x25519(scalar: Uint8Array, u: Uint8Array): Uint8Array | undefined {
  return new PrivateKey(scalar).dh(u);
}

export function isZero(b: Uint8Array): boolean {
  let acc = 0;
  for (let i = 0; i < b.length; i++) acc |= b[i]!;
  return acc === 0;
}

/** Constant-time comparison of two byte strings of the same length. */
export function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc |= a[i]! ^ b[i]!;
  return acc === 0;
}

// ---------------------------------------------------------------- ChaCha20-Poly1305 (RFC 8439)

const nonceBuf = Buffer.alloc(12);

/** The AEAD nonce of §5.4.6: 4 zero bytes, then the counter as 64-bit little endian. */
export function counterNonce(counter: number, out: Buffer = nonceBuf): Buffer {
  out.writeUInt32LE(0, 0);
  out.writeUInt32LE(counter >>> 0, 4);
  out.writeUInt32LE(Math.floor(counter / 0x100000000) >>> 0, 8);
  return out;
}

/** AEAD with a raw 12-byte nonce: ciphertext ‖ 16-byte tag written at `out[offset..]` (or a new buffer). */
export function sealRaw(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad?: Uint8Array, out?: Uint8Array, offset = 0): Uint8Array {
  const c = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LEN });
  if (ad !== undefined) c.setAAD(ad, { plaintextLength: plaintext.length });
  const body = c.update(plaintext);
  c.final();
  const tag = c.getAuthTag();
  const dst = out ?? new Uint8Array(plaintext.length + TAG_LEN);
  dst.set(body, offset);
  dst.set(tag, offset + body.length);
  return out === undefined ? dst : dst.subarray(offset, offset + plaintext.length + TAG_LEN);
}

/** Opens ciphertext ‖ tag; undefined when it does not authenticate. */
export function openRaw(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad?: Uint8Array): Uint8Array | undefined {
  if (sealed.length < TAG_LEN) return undefined;
  const n = sealed.length - TAG_LEN;
  try {
    const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_LEN });
    d.setAuthTag(sealed.subarray(n));
    if (ad !== undefined) d.setAAD(ad, { plaintextLength: n });
    const body = d.update(sealed.subarray(0, n));
    d.final(); // throws when the tag does not match
    return body;
  } catch {
    return undefined;
  }
}

/** AEAD(key, counter, plain, ad) of §5.4. */
export function seal(key: Uint8Array, counter: number, plaintext: Uint8Array, ad?: Uint8Array): Uint8Array {
  return sealRaw(key, counterNonce(counter), plaintext, ad);
}
export function open(key: Uint8Array, counter: number, sealed: Uint8Array, ad?: Uint8Array): Uint8Array | undefined {
  return openRaw(key, counterNonce(counter), sealed, ad);
}

// ---------------------------------------------------------------- XChaCha20-Poly1305

/** "expand 32-byte k", the ChaCha20 constants (RFC 8439 §2.3). */
const SIGMA_WORDS = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574];
const ZERO64 = new Uint8Array(64);

/**
 * HChaCha20(key, nonce16) (draft-irtf-cfrg-xchacha §2.2): the 20 ChaCha rounds over
 * constants ‖ key ‖ nonce, output words 0..3 and 12..15 without the final addition.
 * OpenSSL's 'chacha20' takes a 16-byte IV that is exactly state words 12..15 (its counter
 * word then the 96-bit nonce), and its keystream is rounds(state) + state; so encrypting a
 * zero block and subtracting the known input words of those eight positions gives
 * HChaCha20 without a ChaCha implementation of our own.
 */
export function hchacha20(key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  const c = createCipheriv('chacha20', key, nonce16);
  const ks = c.update(ZERO64);
  const out = new Uint8Array(32);
  const o = new DataView(out.buffer);
  const n = new DataView(nonce16.buffer, nonce16.byteOffset, 16);
  for (let i = 0; i < 4; i++) {
    o.setUint32(i * 4, (ks.readUInt32LE(i * 4) - SIGMA_WORDS[i]!) >>> 0, true);
    o.setUint32(16 + i * 4, (ks.readUInt32LE(48 + i * 4) - n.getUint32(i * 4, true)) >>> 0, true);
  }
  return out;
}

function xNonce(nonce24: Uint8Array): Uint8Array {
  const n = new Uint8Array(12);
  n.set(nonce24.subarray(16, 24), 4);
  return n;
}

/** XAEAD(key, nonce24, plain, ad). */
export function xseal(key: Uint8Array, nonce24: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array {
  return sealRaw(hchacha20(key, nonce24.subarray(0, 16)), xNonce(nonce24), plaintext, ad);
}
export function xopen(key: Uint8Array, nonce24: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | undefined {
  return openRaw(hchacha20(key, nonce24.subarray(0, 16)), xNonce(nonce24), sealed, ad);
}

// ---------------------------------------------------------------- TAI64N (§5.4.2)

/**
 * TAI64N of a wall-clock time in ms since the Unix epoch: 8 bytes big-endian seconds
 * (2^62 + seconds, as the label the format gives UTC; leap seconds ignored, as wireguard-go
 * does) and 4 bytes big-endian nanoseconds. The nanoseconds are rounded down to a multiple
 * of 2^24 (about 16.8 ms), as wireguard-go does, so the timestamp does not leak fine timing.
 */
export function tai64n(wallMs: number): Uint8Array {
  const out = new Uint8Array(12);
  const d = new DataView(out.buffer);
  const secs = Math.floor(wallMs / 1000);
  const nanos = Math.floor((wallMs - secs * 1000) * 1e6);
  d.setUint32(0, 0x40000000 + Math.floor(secs / 0x100000000), false);
  d.setUint32(4, secs >>> 0, false);
  d.setUint32(8, (nanos & ~0xffffff) >>> 0, false);
  return out;
}

/** a > b for two TAI64N labels (big endian: byte-wise comparison). */
export function taiAfter(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 12; i++) {
    if (a[i]! !== b[i]!) return a[i]! > b[i]!;
  }
  return false;
}
