/**
 * IGMP on the wire (RFC 2236 v2 with RFC 1112's v1 messages, RFC 3376 v3), as whole IPv4
 * packets: the interface consumes IGMP itself (as it does NS/NA), so the IP layer never
 * sees protocol 2.
 *
 * - `parseIgmp(packet)`: an IPv4 packet → a query (`McastQuery` of mcast.ts), another
 *   host's v1/v2 report, something else IGMP that a host ignores (v2 leave, v3 report), or
 *   'not-igmp' (any other IPv4 packet: left to the IP layer), or a drop reason. The IPv4
 *   header is checked here (version, IHL, total length, header checksum, not a fragment)
 *   because the IP layer does not see the packet; then the IGMP checksum and length.
 *   Queries: 8 bytes with Max Resp Time 0 is v1, 8 bytes otherwise v2, 12 or more v3
 *   (RFC 3376 §7.1: 9..11 bytes are ignored); the group is 0 (general) or multicast.
 * - `emitIgmp(message, src, id, buf, off, records?)`: a report or leave as an IPv4 packet
 *   with TTL 1, TOS 0xc0 (internetwork control, as Linux) and the Router Alert option
 *   (RFC 2113; RFC 2236 §2, RFC 3376 §4): v1/v2 reports to the group, the v2 leave to
 *   224.0.0.2, v3 reports to 224.0.0.22 (RFC 3376 §4.2.14).
 */
import type { McastMessage, McastQuery } from './mcast.js';

export const IPPROTO_IGMP = 2;
export const IGMP_QUERY = 0x11;
export const IGMP_V1_REPORT = 0x12;
export const IGMP_V2_REPORT = 0x16;
export const IGMP_V2_LEAVE = 0x17;
export const IGMP_V3_REPORT = 0x22;
/** 224.0.0.1 all-systems, 224.0.0.2 all-routers, 224.0.0.22 IGMPv3-capable routers. */
export const ALL_SYSTEMS = 0xe0000001;
export const ALL_ROUTERS = 0xe0000002;
export const IGMPV3_ROUTERS = 0xe0000016;
/** IPv4 header with the 4-byte Router Alert option. */
export const IGMP_IP_HEADER_LEN = 24;

export type IgmpDropReason = 'truncated' | 'ip-checksum' | 'fragment' | 'checksum' | 'bad-group' | 'bad-length';

export type IgmpMessage =
  | { type: 'query'; query: McastQuery<number> }
  | { type: 'report'; group: number }
  /** Leaves and v3 reports: for routers. */
  | { type: 'other' };

/** One's-complement sum of bytes [start, end), folded to 16 bits. */
export function internetSum(b: Uint8Array, start: number, end: number, initial = 0): number {
  let sum = initial;
  let i = start;
  for (; i + 1 < end; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
  if (i < end) sum += b[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

/** RFC 3376 §4.1.1 / §4.1.7: a code < 128 is itself, else (mant | 0x10) << (exp + 3). */
export function decodeCode8(code: number): number {
  return code < 128 ? code : ((code & 0x0f) | 0x10) << (((code >>> 4) & 0x07) + 3);
}

export function parseIgmp(packet: Uint8Array): IgmpMessage | 'not-igmp' | IgmpDropReason {
  if (packet.length < 20 || packet[0]! >>> 4 !== 4 || packet[9] !== IPPROTO_IGMP) return 'not-igmp';
  const ihl = (packet[0]! & 0x0f) * 4;
  const total = (packet[2]! << 8) | packet[3]!;
  if (ihl < 20 || total < ihl || packet.length < total) return 'truncated';
  if (internetSum(packet, 0, ihl) !== 0xffff) return 'ip-checksum';
  if ((packet[6]! & 0x3f) !== 0 || packet[7] !== 0) return 'fragment'; // MF or an offset
  const len = total - ihl;
  if (len < 8) return 'truncated';
  if (internetSum(packet, ihl, total) !== 0xffff) return 'checksum';
  const o = ihl;
  const type = packet[o]!;
  const group = u32(packet, o + 4);
  if (type === IGMP_V1_REPORT || type === IGMP_V2_REPORT) {
    if (group >>> 28 !== 0xe) return 'bad-group';
    return { type: 'report', group };
  }
  if (type !== IGMP_QUERY) return { type: 'other' };
  if (group !== 0 && group >>> 28 !== 0xe) return 'bad-group';
  const code = packet[o + 1]!;
  if (len === 8) {
    // RFC 2236 §4: Max Resp Time 0 means a v1 querier (whose field is "unused").
    const version = code === 0 ? 1 : 2;
    return { type: 'query', query: { version, group: group === 0 ? undefined : group, maxRespMs: code * 100, sources: [], qrv: 0, qqiMs: 0 } };
  }
  if (len < 12) return 'bad-length';
  const n = (packet[o + 10]! << 8) | packet[o + 11]!;
  if (len < 12 + 4 * n) return 'truncated';
  const sources: number[] = [];
  for (let i = 0; i < n; i++) sources.push(u32(packet, o + 12 + 4 * i));
  // A source list on a general query is meaningless (RFC 3376 §4.1.9): treat it as general.
  return {
    type: 'query',
    query: {
      version: 3, group: group === 0 ? undefined : group, maxRespMs: decodeCode8(code) * 100, sources: group === 0 ? [] : sources,
      qrv: packet[o + 8]! & 0x07, qqiMs: decodeCode8(packet[o + 9]!) * 1000,
    },
  };
}

/** The IGMP message's length for a message (v3: its records). */
export function igmpLength(m: McastMessage<number>): number {
  if (m.kind !== 'v3') return 8;
  let n = 8;
  for (const r of m.records) n += 8 + 4 * r.sources.length;
  return n;
}

/** Writes the whole IPv4 packet of `m` from `src` at `off` of `buf`; returns its length. */
export function emitIgmp(m: McastMessage<number>, src: number, id: number, buf: Uint8Array, off = 0): number {
  const len = igmpLength(m);
  const total = IGMP_IP_HEADER_LEN + len;
  const p = buf.subarray(off, off + total);
  if (p.length < total) throw new RangeError('buffer too small for the IGMP packet');
  p.fill(0);
  const dst = m.kind === 'v3' ? IGMPV3_ROUTERS : m.kind === 'leave' ? ALL_ROUTERS : m.group;
  p[0] = 0x46;
  p[1] = 0xc0;
  p[2] = total >>> 8;
  p[3] = total & 0xff;
  p[4] = (id >>> 8) & 0xff;
  p[5] = id & 0xff;
  p[8] = 1; // TTL 1: never beyond the link
  p[9] = IPPROTO_IGMP;
  w32(p, 12, src);
  w32(p, 16, dst);
  // RFC 2113: Router Alert, copied, option 20, length 4, value 0 ("examine the packet").
  p[20] = 0x94;
  p[21] = 4;
  const hck = ~internetSum(p, 0, IGMP_IP_HEADER_LEN) & 0xffff;
  p[10] = hck >>> 8;
  p[11] = hck & 0xff;
  const o = IGMP_IP_HEADER_LEN;
  if (m.kind === 'v3') {
    p[o] = IGMP_V3_REPORT;
    p[o + 6] = m.records.length >>> 8;
    p[o + 7] = m.records.length & 0xff;
    let r = o + 8;
    for (const rec of m.records) {
      p[r] = rec.type;
      p[r + 2] = rec.sources.length >>> 8;
      p[r + 3] = rec.sources.length & 0xff;
      w32(p, r + 4, rec.group);
      r += 8;
      for (const s of rec.sources) { w32(p, r, s); r += 4; }
    }
  } else {
    p[o] = m.kind === 'leave' ? IGMP_V2_LEAVE : m.version === 1 ? IGMP_V1_REPORT : IGMP_V2_REPORT;
    w32(p, o + 4, m.group);
  }
  const ck = ~internetSum(p, o, total) & 0xffff;
  p[o + 2] = ck >>> 8;
  p[o + 3] = ck & 0xff;
  return total;
}

function w32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}
