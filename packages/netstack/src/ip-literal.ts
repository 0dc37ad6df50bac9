/**
 * IP literals at the API edge, shared by the node:net and node:dgram facades: both
 * families' text, zone ids (`fe80::1%tun0`, RFC 4007 §11), and IPv4-mapped IPv6 addresses
 * (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2) as Node's AF_INET6 sockets use them.
 *
 * Zones as Node on Linux (measured with node 20 in a network namespace): a literal may
 * carry `%zone` (one or more of `[0-9a-zA-Z.:-]`, net.isIPv6's rule); libuv turns the zone
 * into a scope id by interface name, and the kernel needs one for a link-local address
 * (fe80::/10): bind, listen and connect without it (or with a name that is no interface)
 * fail with EINVAL, while a UDP `send` goes out without one. For any other address the
 * zone is ignored (`::1%nosuch` binds as ::1). Addresses are reported back as Node does:
 * a link-local one with `%<interface name>` (`fe80::5%d0`), others without. The stack has
 * one interface: its name is `linkInfo().name` (the TUN device's name, 'memory' on a link
 * pair); a numeric zone names no interface, as in node on Linux (libuv looks zones up with
 * if_nametoindex, so `fe80::5%2` is EINVAL there too).
 */
import { formatAddress, parseAddress, parseIpv6Address, type IpAddress, type Ipv4Address, type Ipv6Address } from '@netstack/ip';

/** ::ffff:0:0/96 (RFC 4291 §2.5.5.2). */
const MAPPED_PREFIX = '\0\0\0\0\0\0\0\0\0\0\xff\xff';
/** ::1 (RFC 4291 §2.5.3). */
export const IPV6_LOOPBACK = `${'\0'.repeat(15)}\x01` as Ipv6Address;
/** A zone as net.isIPv6 accepts it. */
const ZONE = /^[0-9a-zA-Z.:-]+$/;

/** An IPv6 literal and its zone (undefined: none), or undefined when the text is not one. */
export function splitIpv6Literal(text: string): { address: Ipv6Address; zone: string | undefined } | undefined {
  const i = text.indexOf('%');
  const zone = i < 0 ? undefined : text.slice(i + 1);
  if (zone !== undefined && !ZONE.test(zone)) return undefined;
  const address = parseIpv6Address(i < 0 ? text : text.slice(0, i));
  return address === undefined ? undefined : { address, zone };
}

/** An IPv6 literal (a zone split off), or undefined. */
export function parseIpv6Literal(text: string): Ipv6Address | undefined {
  return splitIpv6Literal(text)?.address;
}

/** An IPv4 or IPv6 literal (RFC 4291 §2.2 text for IPv6, a zone split off), or undefined. */
export function parseIpLiteral(text: string): IpAddress | undefined {
  return parseAddress(text) ?? parseIpv6Literal(text);
}

/** fe80::/10 (RFC 4291 §2.5.6): an address that needs a zone. */
export function isLinkLocal6(a: IpAddress): boolean {
  return typeof a === 'string' && a.charCodeAt(0) === 0xfe && (a.charCodeAt(1) & 0xc0) === 0x80;
}

/**
 * Whether `zone` gives a link-local `a` its interface, as the kernel requires for bind,
 * listen and connect (EINVAL otherwise): the zone must name the stack's interface.
 * Addresses of other scopes need no zone and ignore one.
 */
export function zoneOk(a: IpAddress, zone: string | undefined, interfaceName: string): boolean {
  return !isLinkLocal6(a) || zone === interfaceName;
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

/**
 * `a` as Node reports it (address(), remoteAddress, rinfo): RFC 5952 text, IPv4-mapped on
 * an AF_INET6 socket (`mapped`), and a link-local address with its interface's name.
 */
export function formatReported(a: IpAddress, mapped: boolean, interfaceName: string): string {
  if (typeof a === 'number') return mapped ? `::ffff:${formatAddress(a)}` : formatAddress(a);
  return isLinkLocal6(a) ? `${formatAddress(a)}%${interfaceName}` : formatAddress(a);
}
