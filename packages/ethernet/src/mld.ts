/**
 * MLD on the wire (RFC 2710 MLDv1, RFC 3810 MLDv2), as whole IPv6 packets: the interface
 * consumes MLD itself (as NS/NA), so the IP layer never sees it.
 *
 * - `parseMld(packet)`: an IPv6 packet, directly ICMPv6 or behind one Hop-by-Hop header
 *   (where the Router Alert option rides, RFC 2711) → a query (`McastQuery` of mcast.ts),
 *   another node's MLDv1 report, something a host ignores (Done, MLDv2 reports), 'not-mld'
 *   (any other packet: left to the IP layer), or a drop reason. Checked: the ICMPv6
 *   checksum, code 0, lengths; a query must come from a link-local source (RFC 3810
 *   §5.1.14, RFC 2710 §3) and name a multicast group or none.
 * - `emitMld(message, src, buf, off)`: a report or Done as an IPv6 packet with hop limit 1
 *   and a Hop-by-Hop header carrying Router Alert (value 0: MLD): MLDv1 reports to the
 *   group, Done to ff02::2, MLDv2 reports to ff02::16 (RFC 3810 §5.2.14). The source is a
 *   link-local address of ours, or :: when none is usable yet (RFC 3810 §5.2.13: during
 *   DAD of the link-local address).
 */
import type { McastMessage, McastQuery } from './mcast.js';
import { internetSum } from './igmp.js';
import { bytesToAddress, isLinkLocal6, writeAddress } from './ndp.js';

export const MLD_QUERY = 130;
export const MLD_V1_REPORT = 131;
export const MLD_V1_DONE = 132;
export const MLD_V2_REPORT = 143;
/** ff02::2 all-routers, ff02::16 all MLDv2-capable routers. */
export const IPV6_ALL_ROUTERS = '\xff\x02' + '\0'.repeat(13) + '\x02';
export const IPV6_MLDV2_ROUTERS = '\xff\x02' + '\0'.repeat(13) + '\x16';
/** IPv6 header and the 8-byte Hop-by-Hop header with Router Alert. */
export const MLD_HEADERS_LEN = 48;
const NH_HOP_BY_HOP = 0;
const NH_ICMPV6 = 58;

export type MldDropReason = 'truncated' | 'checksum' | 'bad-code' | 'bad-source' | 'bad-group' | 'bad-length';

export type MldMessage =
  | { type: 'query'; query: McastQuery<string> }
  | { type: 'report'; group: string }
  | { type: 'other' };

/** RFC 3810 §5.1.3: a code < 32768 is itself, else (mant | 0x1000) << (exp + 3). */
export function decodeCode16(code: number): number {
  return code < 0x8000 ? code : ((code & 0x0fff) | 0x1000) << (((code >>> 12) & 0x07) + 3);
}

/** RFC 3810 §5.1.9 QQIC: as IGMPv3's. */
function decodeCode8(code: number): number {
  return code < 128 ? code : ((code & 0x0f) | 0x10) << (((code >>> 4) & 0x07) + 3);
}

/** The ICMPv6 sum with the RFC 8200 §8.1 pseudo-header (0xffff when the checksum is right). */
function icmpSum(p: Uint8Array, icmpOff: number, len: number, dst: string): number {
  let sum = internetSum(p, 8, 24);
  for (let i = 0; i < 16; i += 2) sum += (dst.charCodeAt(i) << 8) | dst.charCodeAt(i + 1);
  sum += (len >>> 16) + (len & 0xffff) + NH_ICMPV6;
  return internetSum(p, icmpOff, icmpOff + len, sum);
}

export function parseMld(packet: Uint8Array): MldMessage | 'not-mld' | MldDropReason {
  if (packet.length < 40 || packet[0]! >>> 4 !== 6) return 'not-mld';
  const end = 40 + ((packet[4]! << 8) | packet[5]!);
  let off = 40;
  let nh = packet[6]!;
  if (nh === NH_HOP_BY_HOP) {
    if (packet.length < 48 || end < 48) return 'not-mld';
    nh = packet[40]!;
    off = 40 + (packet[41]! + 1) * 8;
  }
  if (nh !== NH_ICMPV6 || packet.length < off + 1 || end < off + 1) return 'not-mld';
  const type = packet[off]!;
  if (type !== MLD_QUERY && type !== MLD_V1_REPORT && type !== MLD_V1_DONE && type !== MLD_V2_REPORT) return 'not-mld';
  if (packet.length < end) return 'truncated';
  const len = end - off;
  if (len < 24) return 'truncated';
  if (icmpSum(packet, off, len, bytesToAddress(packet, 24)) !== 0xffff) return 'checksum';
  if (packet[off + 1] !== 0) return 'bad-code';
  if (type === MLD_V1_DONE || type === MLD_V2_REPORT) return { type: 'other' };
  const group = bytesToAddress(packet, off + 8);
  const unspecified = group === '\0'.repeat(16);
  if (!unspecified && group.charCodeAt(0) !== 0xff) return 'bad-group';
  if (type === MLD_V1_REPORT) return unspecified ? 'bad-group' : { type: 'report', group };
  // A query: from a link-local source (a router on this link).
  if (!isLinkLocal6(bytesToAddress(packet, 8))) return 'bad-source';
  const code = (packet[off + 4]! << 8) | packet[off + 5]!;
  if (len === 24) {
    return { type: 'query', query: { version: 2, group: unspecified ? undefined : group, maxRespMs: code, sources: [], qrv: 0, qqiMs: 0 } };
  }
  if (len < 28) return 'bad-length';
  const n = (packet[off + 26]! << 8) | packet[off + 27]!;
  if (len < 28 + 16 * n) return 'truncated';
  const sources: string[] = [];
  if (!unspecified) for (let i = 0; i < n; i++) sources.push(bytesToAddress(packet, off + 28 + 16 * i));
  return {
    type: 'query',
    query: {
      version: 3, group: unspecified ? undefined : group, maxRespMs: decodeCode16(code), sources,
      qrv: packet[off + 24]! & 0x07, qqiMs: decodeCode8(packet[off + 25]!) * 1000,
    },
  };
}

/** The ICMPv6 message's length for a message (MLDv2: its records). */
export function mldLength(m: McastMessage<string>): number {
  if (m.kind !== 'v3') return 24;
  let n = 8;
  for (const r of m.records) n += 20 + 16 * r.sources.length;
  return n;
}

/** Writes the whole IPv6 packet of `m` from `src` at `off` of `buf`; returns its length. */
export function emitMld(m: McastMessage<string>, src: string, buf: Uint8Array, off = 0): number {
  const len = mldLength(m);
  const total = MLD_HEADERS_LEN + len;
  const p = buf.subarray(off, off + total);
  if (p.length < total) throw new RangeError('buffer too small for the MLD packet');
  p.fill(0);
  const dst = m.kind === 'v3' ? IPV6_MLDV2_ROUTERS : m.kind === 'leave' ? IPV6_ALL_ROUTERS : m.group;
  p[0] = 0x60;
  p[4] = (8 + len) >>> 8;
  p[5] = (8 + len) & 0xff;
  p[6] = NH_HOP_BY_HOP;
  p[7] = 1; // hop limit 1
  writeAddress(p, 8, src);
  writeAddress(p, 24, dst);
  // Hop-by-Hop: next header ICMPv6, length 0 (8 bytes), Router Alert (type 5, len 2, value 0: MLD), PadN (2 bytes).
  p[40] = NH_ICMPV6;
  p[42] = 5;
  p[43] = 2;
  p[46] = 1;
  const o = MLD_HEADERS_LEN;
  if (m.kind === 'v3') {
    p[o] = MLD_V2_REPORT;
    p[o + 6] = m.records.length >>> 8;
    p[o + 7] = m.records.length & 0xff;
    let r = o + 8;
    for (const rec of m.records) {
      p[r] = rec.type;
      p[r + 2] = rec.sources.length >>> 8;
      p[r + 3] = rec.sources.length & 0xff;
      writeAddress(p, r + 4, rec.group);
      r += 20;
      for (const s of rec.sources) { writeAddress(p, r, s); r += 16; }
    }
  } else {
    p[o] = m.kind === 'leave' ? MLD_V1_DONE : MLD_V1_REPORT;
    writeAddress(p, o + 8, m.group);
  }
  const ck = ~icmpSum(p, o, len, dst) & 0xffff;
  p[o + 2] = ck >>> 8;
  p[o + 3] = ck & 0xff;
  return total;
}
