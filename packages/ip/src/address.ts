/**
 * Addresses inside the stack, of both families, as values that compare with `===` and
 * serve as `Map` keys as they are:
 *
 * - an IPv4 address is an unsigned 32-bit number (host order, as the value reads:
 *   10.7.0.2 === 0x0a070002), so the IPv4 path stays on small integers;
 * - an IPv6 address is a 16-character string, one character per byte in network
 *   order (char codes 0..255, what `Buffer.toString('latin1')` gives), branded so
 *   text cannot be passed for it. V8 hashes and compares it by content, so equal
 *   addresses are `===` and one `Map` key with no intern table to bound.
 *
 * The family is the JavaScript type (`addressFamily`). Text exists only at the API edge:
 * `parseIpAddress` / `formatAddress` (RFC 4291 §2.2 in, RFC 5952 out).
 */
import ipaddr from 'ipaddr.js';

export type Ipv4Address = number;
declare const ipv6Brand: unique symbol;
/** 16 bytes in network order, one latin1 character each (see the top of this file). */
export type Ipv6Address = string & { readonly [ipv6Brand]: true };
/** An address of either family; the family is `typeof` (number: IPv4, string: IPv6). */
export type IpAddress = Ipv4Address | Ipv6Address;
export type AddressFamily = 'IPv4' | 'IPv6';

export function addressFamily(a: IpAddress): AddressFamily {
  return typeof a === 'number' ? 'IPv4' : 'IPv6';
}

/** 4 or 16: the bytes of `a` on the wire. */
export function addressLength(a: IpAddress): 4 | 16 {
  return typeof a === 'number' ? 4 : 16;
}

/**
 * Bytes of the fixed network header in front of a transport header towards `a`: 20 for
 * IPv4 without options (RFC 791 §3.1), 40 for IPv6 without extension headers (RFC 8200 §3).
 * The IP layer answers per destination through `IpOutput.networkHeaderLength`; this is
 * the floor it falls back to.
 */
export function minHeaderLength(a: IpAddress): 20 | 40 {
  return typeof a === 'number' ? 20 : 40;
}

/** The unspecified IPv6 address `::` (RFC 4291 §2.5.2). */
export const IPV6_ANY = '\0'.repeat(16) as Ipv6Address;

/** The IPv6 address in `buf[off..off+16)`. */
export function readIpv6Address(buf: Uint8Array, off: number): Ipv6Address {
  return String.fromCharCode(
    buf[off]!, buf[off + 1]!, buf[off + 2]!, buf[off + 3]!, buf[off + 4]!, buf[off + 5]!, buf[off + 6]!, buf[off + 7]!,
    buf[off + 8]!, buf[off + 9]!, buf[off + 10]!, buf[off + 11]!, buf[off + 12]!, buf[off + 13]!, buf[off + 14]!, buf[off + 15]!,
  ) as Ipv6Address;
}

/** The IPv6 address of 16 bytes; undefined for any other length. */
export function ipv6FromBytes(bytes: ArrayLike<number>): Ipv6Address | undefined {
  if (bytes.length !== 16) return undefined;
  let s = '';
  for (let i = 0; i < 16; i++) s += String.fromCharCode(bytes[i]! & 255);
  return s as Ipv6Address;
}

/** The wire bytes of `a` (4 or 16), in a new array. */
export function addressBytes(a: IpAddress): Uint8Array {
  const out = new Uint8Array(addressLength(a));
  writeAddress(out, 0, a);
  return out;
}

/**
 * Parses IPv6 text (RFC 4291 §2.2: eight groups of up to four hex digits, one `::`,
 * an optional dotted-quad tail); undefined for anything else, and for a zone id
 * (`fe80::1%tun0`: a zone is not part of the address, the caller splits it off).
 */
export function parseIpv6Address(text: string): Ipv6Address | undefined {
  if (typeof text !== 'string' || text.length > 45 || text.includes('%') || !text.includes(':')) return undefined;
  const dot = text.indexOf('.');
  let v4Tail: Ipv4Address | undefined;
  let head = text;
  if (dot >= 0) {
    // The dotted tail follows the last colon and is a strict dotted quad (no octal, no short forms).
    const colon = text.lastIndexOf(':');
    if (colon > dot) return undefined;
    v4Tail = parseAddress(text.slice(colon + 1));
    if (v4Tail === undefined) return undefined;
    // Two groups stand for it; ipaddr.js reads "::a.b.c.d" as ::ffff:a.b.c.d, not as RFC 4291 §2.5.5.1 says.
    head = `${text.slice(0, colon + 1)}${(v4Tail >>> 16).toString(16)}:${(v4Tail & 0xffff).toString(16)}`;
  }
  if (!/^[0-9a-fA-F:]+$/.test(head) || !ipaddr.IPv6.isValid(head)) return undefined;
  return ipv6FromBytes(ipaddr.IPv6.parse(head).toByteArray());
}

/**
 * RFC 5952 §4 canonical text: lower case, no leading zeros, the longest run of two or
 * more zero groups as `::` (the first when tied). IPv4-mapped addresses (::ffff:0:0/96)
 * end in dotted-quad form (RFC 5952 §5), as Node and Linux print them.
 */
export function formatIpv6Address(a: Ipv6Address): string {
  const parts = new Array<number>(8);
  for (let i = 0; i < 8; i++) parts[i] = (a.charCodeAt(2 * i) << 8) | a.charCodeAt(2 * i + 1);
  if (parts[0] === 0 && parts[1] === 0 && parts[2] === 0 && parts[3] === 0 && parts[4] === 0 && parts[5] === 0xffff) {
    return `::ffff:${formatAddress(((parts[6]! << 16) | parts[7]!) >>> 0)}`;
  }
  return new ipaddr.IPv6(parts).toRFC5952String();
}

/** Parses an address of either family (dotted quad, or IPv6 text as `parseIpv6Address`). */
export function parseIpAddress(text: string): IpAddress | undefined {
  return parseAddress(text) ?? parseIpv6Address(text);
}

export const ANY: Ipv4Address = 0;
export const BROADCAST: Ipv4Address = 0xffffffff;

/** Parses dotted-quad text; returns undefined for anything that is not a strict IPv4 address. */
export function parseAddress(text: string): Ipv4Address | undefined {
  if (typeof text !== 'string' || !ipaddr.IPv4.isValidFourPartDecimal(text)) return undefined;
  const b = ipaddr.IPv4.parse(text).octets;
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

/** Text of an address of either family: dotted quad, or RFC 5952 for IPv6. */
export function formatAddress(a: IpAddress): string {
  if (typeof a !== 'number') return formatIpv6Address(a);
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}

/** Parses "a.b.c.d/len". */
export function parseCidr(text: string): { address: Ipv4Address; prefixLength: number } | undefined {
  const slash = typeof text === 'string' ? text.indexOf('/') : -1;
  if (slash < 0) return undefined;
  const address = parseAddress(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (address === undefined || !/^\d{1,2}$/.test(lenText)) return undefined;
  const prefixLength = Number(lenText);
  if (prefixLength > 32) return undefined;
  return { address, prefixLength };
}

export function prefixMask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export function sameSubnet(a: Ipv4Address, b: Ipv4Address, prefixLength: number): boolean {
  const m = prefixMask(prefixLength);
  return ((a & m) >>> 0) === ((b & m) >>> 0);
}

/** 224.0.0.0/4 (RFC 5771), or ff00::/8 (RFC 4291 §2.7). */
export function isMulticast(a: IpAddress): boolean {
  return typeof a === 'number' ? a >>> 28 === 0xe : a.charCodeAt(0) === 0xff;
}

/** Limited broadcast, or the directed broadcast of the given subnet. */
export function isBroadcast(a: Ipv4Address, subnet?: { address: Ipv4Address; prefixLength: number }): boolean {
  if (a === BROADCAST) return true;
  if (!subnet || subnet.prefixLength >= 31) return false;
  const host = ~prefixMask(subnet.prefixLength) >>> 0;
  return sameSubnet(a, subnet.address, subnet.prefixLength) && ((a & host) >>> 0) === host;
}

/** Writes `a` in network order at `off`; returns its length (4 or 16). */
export function writeAddress(buf: Uint8Array, off: number, a: IpAddress): number {
  if (typeof a !== 'number') {
    for (let i = 0; i < 16; i++) buf[off + i] = a.charCodeAt(i);
    return 16;
  }
  buf[off] = a >>> 24;
  buf[off + 1] = (a >>> 16) & 255;
  buf[off + 2] = (a >>> 8) & 255;
  buf[off + 3] = a & 255;
  return 4;
}

/** The IPv4 address in `buf[off..off+4)` (`readIpv6Address` for 16 bytes). */
export function readAddress(buf: Uint8Array, off: number): Ipv4Address {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

/**
 * An exact key for a transport 4-tuple of either family: distinct tuples give distinct
 * keys (addresses as 16-bit characters, 2 per IPv4 address and 8 per IPv6 one, after
 * one character naming the family; then the two ports), so a `Map` keyed by it needs no
 * collision chain. The IPv4 fast paths (tcp's bucket hash) keep numbers; this is for
 * the rest.
 */
export function tupleKey(localAddr: IpAddress, localPort: number, remoteAddr: IpAddress, remotePort: number): string {
  return keyPart(localAddr) + keyPart(remoteAddr) + String.fromCharCode(localPort & 0xffff, remotePort & 0xffff);
}

function keyPart(a: IpAddress): string {
  if (typeof a === 'number') return String.fromCharCode(4, a >>> 16, a & 0xffff);
  let s = '\u0006';
  for (let i = 0; i < 16; i += 2) s += String.fromCharCode((a.charCodeAt(i) << 8) | a.charCodeAt(i + 1));
  return s;
}
