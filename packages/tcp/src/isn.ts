/**
 * Initial sequence numbers (RFC 6528) and SYN cookies (RFC 4987 §3.6).
 * Pure computation over a secret key and the time passed in; no clock reads.
 */
import { createHash } from 'node:crypto';
import { writeAddress, type IpAddress } from '@netstack/ip';
import { sipHash24 } from './siphash.js';

/** The message of `hash32` (at most two IPv6 addresses and four words) and its result. */
const scratch = new Uint8Array(48);
const scratchView = new DataView(scratch.buffer);
const digest = new Uint32Array(2);
/** 16-byte SipHash keys for keys of another length (SHA-256 of the key, the first 16 bytes), made once per key. */
const derived = new WeakMap<Uint8Array, Uint8Array>();

function sipKey(key: Uint8Array): Uint8Array {
  if (key.length === 16) return key;
  let k = derived.get(key);
  if (k === undefined) {
    k = new Uint8Array(createHash('sha256').update(key).digest().subarray(0, 16));
    derived.set(key, k);
  }
  return k;
}

/**
 * A keyed hash over two addresses and four 32-bit words: the message is the address bytes
 * of either family (4 or 16 each, RFC 6528 §3 "localip, remoteip") with the words in
 * between and after. SipHash-2-4 (siphash.ts; Linux's choice for the same values,
 * net/core/secure_seq.c), the low 32 bits of its result, under the stack's 16-byte key.
 * RFC 6528 §3 asks F to be a cryptographic hash (a PRF) of the tuple and the secret: it
 * was SHA-256 through node:crypto, whose per-call objects cost ~3 % of a gateway's CPU
 * per new connection.
 */
function hash32(key: Uint8Array, a: IpAddress, b: number, c: IpAddress, d: number, e: number, f: number): number {
  const msg = scratch;
  const dv = scratchView;
  let o = writeAddress(msg, 0, a);
  dv.setUint32(o, b >>> 0);
  o += 4;
  o += writeAddress(msg, o, c);
  dv.setUint32(o, d >>> 0);
  dv.setUint32(o + 4, e >>> 0);
  dv.setUint32(o + 8, f >>> 0);
  sipHash24(sipKey(key), msg, o + 12, digest);
  return digest[0]!;
}

/**
 * RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey),
 * M a timer ticking every 4 µs, F a keyed hash (SipHash-2-4 here, as Linux).
 */
export function generateIsn(key: Uint8Array, now: number, localAddr: IpAddress, localPort: number, remoteAddr: IpAddress, remotePort: number): number {
  const m = Math.floor(now * 250); // ms -> 4 µs ticks
  const f = hash32(key, localAddr, localPort, remoteAddr, remotePort, 0x6528, 0);
  return (m + f) >>> 0;
}

/**
 * RFC 7323 §5.4 (and Appendix G): the TSval offset of a connection comes from a
 * keyed hash of its 4-tuple, not from a fresh random number. So a new incarnation
 * of the same 4-tuple keeps a monotonic TSval clock, and a peer in TIME-WAIT
 * accepts its SYN (RFC 6191 §2); a random offset made that fail half of the time.
 */
export function timestampOffset(key: Uint8Array, localAddr: IpAddress, localPort: number, remoteAddr: IpAddress, remotePort: number): number {
  return hash32(key, localAddr, localPort, remoteAddr, remotePort, 0x7323, 0);
}

/**
 * RFC 6437 §3 (and Appendix A): the IPv6 Flow Label of a connection, a keyed hash of its
 * 4-tuple (addresses and ports, the stack's secret key), 20 bits, never 0 (0 means
 * "unlabelled"). A pure function of the tuple, so every segment of the connection, the
 * SYN-cookie SYN-ACK sent before it exists and the RSTs about it carry the same label, and
 * a new connection (other ports) gets another one. Never taken from the peer: each
 * direction of a flow has its own label (§3: labels are not echoed).
 */
export function flowLabel(key: Uint8Array, localAddr: IpAddress, localPort: number, remoteAddr: IpAddress, remotePort: number): number {
  const l = hash32(key, localAddr, localPort, remoteAddr, remotePort, 0x6437, 0) & 0xfffff;
  return l === 0 ? 1 : l;
}

/** MSS values a cookie can encode (3 bits); the largest not above the peer's is used. */
export const COOKIE_MSS_TABLE = [216, 536, 1024, 1220, 1360, 1440, 1460, 8960] as const;
/** Cookie time counter period: 64 s (RFC 4987 §3.6 "t, a slowly incrementing counter"). */
export const COOKIE_PERIOD_MS = 64_000;

export function cookieMssIndex(mss: number): number {
  let idx = 0;
  for (let i = 0; i < COOKIE_MSS_TABLE.length; i++) if (COOKIE_MSS_TABLE[i]! <= mss) idx = i;
  return idx;
}

/**
 * RFC 4987 §3.6 cookie: top 5 bits t (time counter mod 32), next 3 bits the MSS
 * index, low 24 bits a keyed hash of the 4-tuple, t and the client's ISN.
 */
export function makeSynCookie(key: Uint8Array, now: number, localAddr: IpAddress, localPort: number, remoteAddr: IpAddress, remotePort: number, peerIsn: number, mssIndex: number): number {
  const t = Math.floor(now / COOKIE_PERIOD_MS) & 31;
  const h = hash32(key, localAddr, (localPort << 16) | remotePort, remoteAddr, peerIsn, t, 0x4987) & 0xffffff;
  return ((t << 27) | ((mssIndex & 7) << 24) | h) >>> 0;
}

/** Checks a cookie (the ACK's SEG.ACK - 1); returns the MSS index or -1 when invalid or older than two periods. */
export function checkSynCookie(key: Uint8Array, now: number, cookie: number, localAddr: IpAddress, localPort: number, remoteAddr: IpAddress, remotePort: number, peerIsn: number): number {
  const t = cookie >>> 27;
  const nowT = Math.floor(now / COOKIE_PERIOD_MS) & 31;
  const age = (nowT - t) & 31;
  if (age > 1) return -1;
  const mssIndex = (cookie >>> 24) & 7;
  const h = hash32(key, localAddr, (localPort << 16) | remotePort, remoteAddr, peerIsn, t, 0x4987) & 0xffffff;
  return (cookie & 0xffffff) === h ? mssIndex : -1;
}
