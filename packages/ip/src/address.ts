/**
 * IPv4 addresses inside the stack are unsigned 32-bit numbers (host order, as the
 * value reads: 10.7.0.2 === 0x0a070002). Strings exist only at the API edge.
 */
import ipaddr from 'ipaddr.js';

export type Ipv4Address = number;

export const ANY: Ipv4Address = 0;
export const BROADCAST: Ipv4Address = 0xffffffff;

/** Parses dotted-quad text; returns undefined for anything that is not a strict IPv4 address. */
export function parseAddress(text: string): Ipv4Address | undefined {
  if (typeof text !== 'string' || !ipaddr.IPv4.isValidFourPartDecimal(text)) return undefined;
  const b = ipaddr.IPv4.parse(text).octets;
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

export function formatAddress(a: Ipv4Address): string {
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

export function isMulticast(a: Ipv4Address): boolean {
  return a >>> 28 === 0xe;
}

/** Limited broadcast, or the directed broadcast of the given subnet. */
export function isBroadcast(a: Ipv4Address, subnet?: { address: Ipv4Address; prefixLength: number }): boolean {
  if (a === BROADCAST) return true;
  if (!subnet || subnet.prefixLength >= 31) return false;
  const host = ~prefixMask(subnet.prefixLength) >>> 0;
  return sameSubnet(a, subnet.address, subnet.prefixLength) && ((a & host) >>> 0) === host;
}

/** Writes `a` big-endian at `off`. */
export function writeAddress(buf: Uint8Array, off: number, a: Ipv4Address): void {
  buf[off] = a >>> 24;
  buf[off + 1] = (a >>> 16) & 255;
  buf[off + 2] = (a >>> 8) & 255;
  buf[off + 3] = a & 255;
}

export function readAddress(buf: Uint8Array, off: number): Ipv4Address {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}
