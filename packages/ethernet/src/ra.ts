/**
 * Router discovery on the wire (RFC 4861 §4.1, §4.2, §6): the Router Advertisement a host
 * reads, and the Router Solicitation it sends, as whole IPv6 packets.
 *
 * - `parseRa(packet)`: an IPv6 packet → `RaRepr` when it is an RA that passes §6.1.2
 *   validation (source link-local, hop limit 255, ICMPv6 checksum, code 0, 16 bytes or
 *   more, no zero-length option), 'not-ra' for any other packet, or the drop reason.
 *   Options read: Source Link-layer Address (§4.6.1), Prefix Information (§4.6.2; at most
 *   16 kept), MTU (§4.6.4); others skipped.
 * - `emitRs(src, mac, buf, off)`: an RS to ff02::2 with hop limit 255, with the SLLA
 *   option, or without it from :: (§4.1: "MUST NOT be included if the source is the
 *   unspecified address").
 */
import { internetSum } from './igmp.js';
import { readMac, writeMac, type MacAddress } from './mac.js';
import { IPV6_UNSPECIFIED, bytesToAddress, isLinkLocal6, writeAddress } from './ndp.js';

export const ICMPV6_RS = 133;
export const ICMPV6_RA = 134;
const NH_ICMPV6 = 58;
const MAX_PREFIXES = 16;
/** ff02::2, all routers. */
const ALL_ROUTERS = '\xff\x02' + '\0'.repeat(13) + '\x02';

export interface PrefixInfo {
  prefix: string;
  prefixLength: number;
  /** L: on-link. */
  onLink: boolean;
  /** A: autonomous address configuration (SLAAC). */
  autonomous: boolean;
  /** Seconds; 0xffffffff is infinity. */
  validLifetime: number;
  preferredLifetime: number;
}

export interface RaRepr {
  src: string;
  curHopLimit: number;
  managed: boolean;
  other: boolean;
  /** Seconds as a default router (0: not a default router). */
  routerLifetime: number;
  reachableTimeMs: number;
  retransTimerMs: number;
  linkAddress: MacAddress | undefined;
  mtu: number | undefined;
  prefixes: PrefixInfo[];
}

export type RaDropReason = 'truncated' | 'hop-limit' | 'checksum' | 'bad-code' | 'bad-source' | 'bad-option';

function icmpSum(p: Uint8Array, len: number): number {
  let sum = internetSum(p, 8, 40);
  sum += (len >>> 16) + (len & 0xffff) + NH_ICMPV6;
  return internetSum(p, 40, 40 + len, sum);
}

const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

export function parseRa(packet: Uint8Array): RaRepr | 'not-ra' | RaDropReason {
  if (packet.length < 41 || packet[0]! >>> 4 !== 6 || packet[6] !== NH_ICMPV6 || packet[40] !== ICMPV6_RA) return 'not-ra';
  const len = (packet[4]! << 8) | packet[5]!;
  if (len < 16 || packet.length < 40 + len) return 'truncated';
  if (packet[7] !== 255) return 'hop-limit';
  if (icmpSum(packet, len) !== 0xffff) return 'checksum';
  if (packet[41] !== 0) return 'bad-code';
  const src = bytesToAddress(packet, 8);
  if (!isLinkLocal6(src)) return 'bad-source';
  const ra: RaRepr = {
    src, curHopLimit: packet[44]!, managed: (packet[45]! & 0x80) !== 0, other: (packet[45]! & 0x40) !== 0,
    routerLifetime: (packet[46]! << 8) | packet[47]!, reachableTimeMs: u32(packet, 48), retransTimerMs: u32(packet, 52),
    linkAddress: undefined, mtu: undefined, prefixes: [],
  };
  const end = 40 + len;
  for (let off = 56; off < end;) {
    if (off + 2 > end) return 'bad-option';
    const olen = packet[off + 1]! * 8;
    if (olen === 0 || off + olen > end) return 'bad-option';
    const t = packet[off]!;
    if (t === 1 && olen === 8) ra.linkAddress = readMac(packet, off + 2);
    else if (t === 5 && olen === 8) ra.mtu = u32(packet, off + 4);
    else if (t === 3 && olen === 32 && ra.prefixes.length < MAX_PREFIXES) {
      ra.prefixes.push({
        prefixLength: packet[off + 2]!, onLink: (packet[off + 3]! & 0x80) !== 0, autonomous: (packet[off + 3]! & 0x40) !== 0,
        validLifetime: u32(packet, off + 4), preferredLifetime: u32(packet, off + 8), prefix: bytesToAddress(packet, off + 16),
      });
    }
    off += olen;
  }
  return ra;
}

/** Writes an RS (from `src`; with the SLLA of `mac` unless `src` is ::); returns its length (56 or 48). */
export function emitRs(src: string, mac: MacAddress, buf: Uint8Array, off = 0): number {
  const withLl = src !== IPV6_UNSPECIFIED;
  const len = withLl ? 16 : 8;
  const p = buf.subarray(off, off + 40 + len);
  if (p.length < 40 + len) throw new RangeError('buffer too small for an RS');
  p.fill(0);
  p[0] = 0x60;
  p[5] = len;
  p[6] = NH_ICMPV6;
  p[7] = 255;
  writeAddress(p, 8, src);
  writeAddress(p, 24, ALL_ROUTERS);
  p[40] = ICMPV6_RS;
  if (withLl) {
    p[48] = 1;
    p[49] = 1;
    writeMac(p, 50, mac);
  }
  const ck = ~icmpSum(p, len) & 0xffff;
  p[42] = ck >>> 8;
  p[43] = ck & 0xff;
  return 40 + len;
}

/** RFC 4291 §2.5.1 / RFC 2464 §4: the modified EUI-64 interface identifier of a MAC (8 bytes as latin1). */
export function eui64(mac: MacAddress): string {
  const b = [0, 1, 2, 3, 4, 5].map((i) => Math.floor(mac / 2 ** (8 * (5 - i))) % 256);
  const o = [b[0]! ^ 0x02, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!];
  return String.fromCharCode(...o);
}
