/**
 * IP literals at the API edge, shared by the node:net and node:dgram facades: both
 * families' text, a zone id split off (`fe80::1%tun0`), and IPv4-mapped IPv6 addresses
 * (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) as Node's AF_INET6 sockets use them.
 */
import { formatAddress, parseAddress, parseIpv6Address, type IpAddress, type Ipv4Address, type Ipv6Address } from '@netstack/ip';

/** ::ffff:0:0/96 (RFC 4291 §2.5.5.2). */
const MAPPED_PREFIX = '\0\0\0\0\0\0\0\0\0\0\xff\xff';

/** An IPv6 literal (a zone id split off), or undefined. */
export function parseIpv6Literal(text: string): Ipv6Address | undefined {
  return parseIpv6Address(text.split('%')[0]!);
}

/** An IPv4 or IPv6 literal (RFC 4291 §2.2 text for IPv6, a zone split off), or undefined. */
export function parseIpLiteral(text: string): IpAddress | undefined {
  return parseAddress(text) ?? parseIpv6Literal(text);
}

/** The IPv4 address inside an IPv4-mapped IPv6 address, or undefined for any other. */
export function unmapIpv4(a: Ipv6Address): Ipv4Address | undefined {
  if (!a.startsWith(MAPPED_PREFIX)) return undefined;
  return ((a.charCodeAt(12) << 24) | (a.charCodeAt(13) << 16) | (a.charCodeAt(14) << 8) | a.charCodeAt(15)) >>> 0;
}

/** `a` as an AF_INET6 socket reports it: an IPv4 address IPv4-mapped (`::ffff:10.7.0.1`). */
export function formatMapped(a: IpAddress): string {
  return typeof a === 'number' ? `::ffff:${formatAddress(a)}` : formatAddress(a);
}
