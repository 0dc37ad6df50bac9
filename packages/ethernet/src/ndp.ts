/**
 * IPv6 neighbour discovery over Ethernet (RFC 4861), the part that replaces ARP: Neighbor
 * Solicitation (type 135) and Neighbor Advertisement (type 136) with their link-layer
 * address options (RFC 4861 §4.6.1, RFC 2464 §6), as whole IPv6 packets. Router discovery
 * is ra.ts, DAD and SLAAC addr6.ts, MLD mld.ts; redirects are not done (README: TODO).
 *
 * Addresses are @netstack/ip's `Ipv6Address` form, structurally: a 16-character string,
 * one latin1 character per byte in network order (so they are Map keys as they are).
 *
 * `parseNdp(packet)` reads an IPv6 packet and returns an `NdpRepr` when it is an NS or NA
 * that passes RFC 4861 §7.1.1 / §7.1.2 validation (hop limit 255, ICMPv6 checksum, code
 * 0, length, target not multicast, no zero-length option, for NS: a unicast target, and
 * no SLLA option from the unspecified source; for NA: Solicited clear when sent to a
 * multicast address), 'not-ndp' for any other packet (left to the IP layer), or the drop
 * reason. No extension header before ICMPv6 is walked: NS/NA carry none in practice, and
 * one would send the packet up to the IP layer, which counts it as an unknown ICMPv6.
 */
import { readMac, writeMac, type MacAddress } from './mac.js';

export const ICMPV6_NS = 135;
export const ICMPV6_NA = 136;
const IPV6_HEADER_LEN = 40;
const NEXT_HEADER_ICMPV6 = 58;
/** NS/NA header: type, code, checksum, 4 bytes (flags / reserved), target (16). */
const ND_LEN = 24;
const OPT_SLLA = 1;
const OPT_TLLA = 2;

export type NdpDropReason = 'truncated' | 'hop-limit' | 'checksum' | 'bad-code' | 'bad-target' | 'bad-option' | 'bad-dad';

export interface NdpRepr {
  type: typeof ICMPV6_NS | typeof ICMPV6_NA;
  src: string;
  dst: string;
  target: string;
  /** NA flags (RFC 4861 §4.4): Router, Solicited, Override. False in an NS. */
  router: boolean;
  solicited: boolean;
  override: boolean;
  /** The source (NS) or target (NA) link-layer address option, when present. */
  linkAddress: MacAddress | undefined;
}

export const IPV6_UNSPECIFIED = '\0'.repeat(16);
/** ff02::1, all nodes. */
export const IPV6_ALL_NODES = bytesToAddress(Uint8Array.from([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]));

export function bytesToAddress(b: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < 16; i++) s += String.fromCharCode(b[off + i]!);
  return s;
}

export function writeAddress(b: Uint8Array, off: number, a: string): void {
  for (let i = 0; i < 16; i++) b[off + i] = a.charCodeAt(i) & 0xff;
}

export function isMulticast6(a: string): boolean {
  return a.charCodeAt(0) === 0xff;
}

/** RFC 4291 §2.7.1: ff02::1:ffXX:XXXX, the low 24 bits of `a`. */
export function solicitedNodeAddress(a: string): string {
  return '\xff\x02' + '\0'.repeat(9) + '\x01\xff' + a.slice(13);
}

/** fe80::/10 (RFC 4291 §2.5.6): always on-link (RFC 4861 §5.2). */
export function isLinkLocal6(a: string): boolean {
  return a.charCodeAt(0) === 0xfe && (a.charCodeAt(1) & 0xc0) === 0x80;
}

export function sameprefix6(a: string, b: string, prefixLength: number): boolean {
  for (let i = 0, bits = prefixLength; bits > 0; i++, bits -= 8) {
    const m = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a.charCodeAt(i) & m) !== (b.charCodeAt(i) & m)) return false;
  }
  return true;
}

/** RFC 8200 §8.1 pseudo-header + ICMPv6 message sum, folded (0xffff when the checksum field is right). */
function icmp6Sum(packet: Uint8Array, length: number): number {
  let sum = 0;
  for (let i = 8; i < 40; i += 2) sum += (packet[i]! << 8) | packet[i + 1]!;
  sum += (length >>> 16) + (length & 0xffff) + NEXT_HEADER_ICMPV6;
  const end = IPV6_HEADER_LEN + length;
  let i = IPV6_HEADER_LEN;
  for (; i + 1 < end; i += 2) sum += (packet[i]! << 8) | packet[i + 1]!;
  if (i < end) sum += packet[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Reads an NS or NA (RFC 4861 §4.3, §4.4) out of an IPv6 packet; see the module comment. */
export function parseNdp(packet: Uint8Array): NdpRepr | 'not-ndp' | NdpDropReason {
  if (packet.length < IPV6_HEADER_LEN + 4 || packet[0]! >>> 4 !== 6 || packet[6] !== NEXT_HEADER_ICMPV6) return 'not-ndp';
  const type = packet[40]!;
  if (type !== ICMPV6_NS && type !== ICMPV6_NA) return 'not-ndp';
  const payloadLength = (packet[4]! << 8) | packet[5]!;
  if (payloadLength < ND_LEN || packet.length < IPV6_HEADER_LEN + payloadLength) return 'truncated';
  // §7.1.1: the IP Hop Limit is 255, so the packet cannot come from off-link.
  if (packet[7] !== 255) return 'hop-limit';
  if (icmp6Sum(packet, payloadLength) !== 0xffff) return 'checksum';
  if (packet[41] !== 0) return 'bad-code';
  const src = bytesToAddress(packet, 8);
  const dst = bytesToAddress(packet, 24);
  const target = bytesToAddress(packet, 48);
  if (isMulticast6(target)) return 'bad-target';
  let linkAddress: MacAddress | undefined;
  const end = IPV6_HEADER_LEN + payloadLength;
  for (let off = IPV6_HEADER_LEN + ND_LEN; off < end;) {
    if (off + 2 > end) return 'bad-option';
    const len = packet[off + 1]! * 8;
    if (len === 0 || off + len > end) return 'bad-option';
    const t = packet[off]!;
    // RFC 2464 §6: one 8-byte option, the MAC at offset 2.
    if (((type === ICMPV6_NS && t === OPT_SLLA) || (type === ICMPV6_NA && t === OPT_TLLA)) && len === 8) linkAddress = readMac(packet, off + 2);
    off += len;
  }
  const flags = packet[44]!;
  const repr: NdpRepr = {
    type, src, dst, target, router: false, solicited: false, override: false, linkAddress,
  };
  if (type === ICMPV6_NS) {
    // §7.1.1: from the unspecified address (DAD) only to a solicited-node address, without SLLA.
    if (src === IPV6_UNSPECIFIED && (linkAddress !== undefined || !dst.startsWith('\xff\x02' + '\0'.repeat(9) + '\x01\xff'))) return 'bad-dad';
    return repr;
  }
  repr.router = (flags & 0x80) !== 0;
  repr.solicited = (flags & 0x40) !== 0;
  repr.override = (flags & 0x20) !== 0;
  // §7.1.2: Solicited set towards a multicast destination is invalid.
  if (repr.solicited && isMulticast6(dst)) return 'bad-target';
  return repr;
}

/** The bytes of an NS or NA with one link-layer option (32 bytes of ICMPv6): 72 in all. */
export const NDP_PACKET_LEN = IPV6_HEADER_LEN + ND_LEN + 8;

/**
 * Writes a whole IPv6 packet (hop limit 255, RFC 4861 §7.1) carrying an NS (with SLLA) or
 * an NA (with TLLA) at `off` of `buf`; returns its length (72; 64 for a DAD NS from ::,
 * which carries no option).
 */
export function emitNdp(repr: NdpRepr, mac: MacAddress, buf: Uint8Array, off = 0): number {
  const p = buf.subarray(off, off + NDP_PACKET_LEN);
  if (p.length < NDP_PACKET_LEN) throw new RangeError('buffer too small for an NDP packet');
  p.fill(0);
  p[0] = 0x60;
  p[5] = ND_LEN + 8;
  p[6] = NEXT_HEADER_ICMPV6;
  p[7] = 255;
  writeAddress(p, 8, repr.src);
  writeAddress(p, 24, repr.dst);
  p[40] = repr.type;
  if (repr.type === ICMPV6_NA) p[44] = (repr.router ? 0x80 : 0) | (repr.solicited ? 0x40 : 0) | (repr.override ? 0x20 : 0);
  writeAddress(p, 48, repr.target);
  // RFC 4861 §4.3: no SLLA from the unspecified address (a DAD probe, RFC 4862 §5.4.2).
  const withOption = !(repr.type === ICMPV6_NS && repr.src === IPV6_UNSPECIFIED);
  if (withOption) {
    p[64] = repr.type === ICMPV6_NS ? OPT_SLLA : OPT_TLLA;
    p[65] = 1;
    writeMac(p, 66, mac);
  } else p[5] = ND_LEN;
  const sum = icmp6Sum(p, withOption ? ND_LEN + 8 : ND_LEN);
  const ck = ~sum & 0xffff;
  p[42] = ck >>> 8;
  p[43] = ck & 0xff;
  return withOption ? NDP_PACKET_LEN : NDP_PACKET_LEN - 8;
}
