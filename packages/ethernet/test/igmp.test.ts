/**
 * IGMP (RFC 2236, RFC 3376) and MLD (RFC 2710, RFC 3810) host reports from an
 * EthernetInterface on a switched segment, on virtual time: what a join, a leave and each
 * kind of query put on the wire and when, the version fallback, suppression, golden bytes,
 * and arbitrary IGMP/MLD packets counted and never thrown.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EthernetInterface, GroupMembership, parseEthernet, parseIgmp, parseMld, solicitedNodeAddress, type EthernetInterfaceOptions, type McastMessage,
} from '../src/index.js';
import { Segment, frame, ip, mac, toHex } from './helpers.js';

const US_MAC = mac('02:00:5e:10:00:02');
const ROUTER_MAC = mac('52:54:00:12:34:56');
const US = ip('10.7.0.2');
const GROUP = ip('239.1.2.3');
const GROUP2 = ip('239.9.9.9');

/** One's-complement sum, independent of the code under test. */
function sum16(b: Uint8Array, start: number, end: number, init = 0): number {
  let s = init;
  for (let i = start; i < end; i += 2) s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** An IGMP query as an IPv4 packet from the router 10.7.0.1 (built here, not by the code under test). */
function igmpQuery(opts: { version: 1 | 2 | 3; group?: number; code?: number; sources?: number[]; qrv?: number; qqic?: number; dst?: number }): Uint8Array {
  const srcs = opts.sources ?? [];
  const len = opts.version === 3 ? 12 + 4 * srcs.length : 8;
  const p = new Uint8Array(24 + len);
  const dv = new DataView(p.buffer);
  p[0] = 0x46; dv.setUint16(2, p.length); p[8] = 1; p[9] = 2;
  dv.setUint32(12, ip('10.7.0.1'));
  dv.setUint32(16, opts.dst ?? (opts.group ?? 0xe0000001));
  p[20] = 0x94; p[21] = 4;
  dv.setUint16(10, ~sum16(p, 0, 24) & 0xffff);
  p[24] = 0x11;
  p[25] = opts.version === 1 ? 0 : (opts.code ?? 100);
  dv.setUint32(28, opts.group ?? 0);
  if (opts.version === 3) {
    p[32] = opts.qrv ?? 2; p[33] = opts.qqic ?? 125;
    dv.setUint16(34, srcs.length);
    srcs.forEach((s, i) => dv.setUint32(36 + 4 * i, s));
  }
  dv.setUint16(26, ~sum16(p, 24, p.length) & 0xffff);
  return p;
}

/** Another host's IGMPv2 report of `group`. */
function igmpV2Report(group: number): Uint8Array {
  const p = new Uint8Array(32);
  const dv = new DataView(p.buffer);
  p[0] = 0x46; dv.setUint16(2, 32); p[8] = 1; p[9] = 2;
  dv.setUint32(12, ip('10.7.0.9')); dv.setUint32(16, group);
  p[20] = 0x94; p[21] = 4;
  dv.setUint16(10, ~sum16(p, 0, 24) & 0xffff);
  p[24] = 0x16; dv.setUint32(28, group);
  dv.setUint16(26, ~sum16(p, 24, 32) & 0xffff);
  return p;
}

const v4mac = (g: number): number => 0x01005e000000 + (g & 0x7fffff);

function setup(over: Partial<EthernetInterfaceOptions> = {}) {
  const seg = new Segment();
  const router = seg.capture();
  const port = seg.sw.port();
  const received: Uint8Array[] = [];
  const eth = new EthernetInterface({
    link: port, mac: US_MAC, clock: seg.clock, random: () => 0.5,
    ipv4: { address: US, prefixLength: 24 },
    ...over,
  });
  eth.setReceiver({ packet: (p) => { received.push(p.slice()); } });
  seg.run(5000); // the address's two announcements
  router.take();
  const takeIgmp = () => router.take().filter((f) => f[12] === 0x08 && f[13] === 0x00 && f[23] === 2);
  const inject = (p: Uint8Array, dstMac = v4mac(0xe0000001)) => router.port.send(frame(dstMac, ROUTER_MAC, 0x0800, p));
  return { seg, router, eth, received, takeIgmp, inject };
}

/** Decodes an IGMP report frame into what a test compares. */
function report(f: Uint8Array) {
  const e = parseEthernet(f);
  if (typeof e === 'string') throw new Error(e);
  const p = f.subarray(14);
  const dv = new DataView(p.buffer, p.byteOffset);
  const type = p[24]!;
  const out: { dstMac: string; dst: string; type: number; group?: string; records?: { type: number; group: string; n: number }[] } = {
    dstMac: e.dst.toString(16), dst: [16, 17, 18, 19].map((i) => p[i]).join('.'), type,
  };
  if (type === 0x22) {
    out.records = [];
    let o = 32;
    for (let i = 0; i < dv.getUint16(30); i++) {
      out.records.push({ type: p[o]!, group: [4, 5, 6, 7].map((k) => p[o + k]).join('.'), n: dv.getUint16(o + 2) });
      o += 8 + 4 * dv.getUint16(o + 2);
    }
  } else out.group = [28, 29, 30, 31].map((i) => p[i]).join('.');
  return out;
}

describe('IGMPv3 (RFC 3376) from the interface', () => {
  it('a join is reported at once and once more within the Unsolicited Report Interval (golden bytes: TTL 1, Router Alert, 224.0.0.22)', () => {
    const { seg, eth, takeIgmp } = setup();
    expect(eth.joinIpv4Group(GROUP)).toBe(true);
    seg.run(0);
    const first = takeIgmp();
    expect(first.map(toHex)).toEqual([
      // Ethernet: 01:00:5e:00:00:16 ← us, IPv4
      '01005e000016' + '02005e100002' + '0800' +
      // IPv4: IHL 6, TOS 0xc0, length 40, id 1, TTL 1, protocol 2, checksum, 10.7.0.2 → 224.0.0.22, Router Alert
      '46c00028' + '00010000' + '0102' + toHex(first[0]!.subarray(24, 26)) + '0a070002' + 'e0000016' + '94040000' +
      // IGMPv3 report: type 0x22, checksum, 1 record: CHANGE_TO_EXCLUDE_MODE, 0 sources, 239.1.2.3
      '2200' + toHex(first[0]!.subarray(40, 42)) + '00000001' + '04000000' + 'ef010203',
    ]);
    // Both checksums verify by an independent sum.
    const p = first[0]!.subarray(14);
    expect(sum16(p, 0, 24)).toBe(0xffff);
    expect(sum16(p, 24, 40)).toBe(0xffff);
    // The codec of this package reads it as a report for routers (not a query).
    expect(parseIgmp(p)).toEqual({ type: 'other' });
    // Robustness 2: one retransmission at random × 1 s = 500 ms, then silence.
    seg.run(499);
    expect(takeIgmp()).toEqual([]);
    seg.run(1);
    expect(takeIgmp().map(report)).toEqual([{ dstMac: '1005e000016', dst: '224.0.0.22', type: 0x22, records: [{ type: 4, group: '239.1.2.3', n: 0 }] }]);
    seg.run(300_000);
    expect(takeIgmp()).toEqual([]);
    expect(eth.igmp.groups()).toEqual([GROUP]);
  });

  it('joins are reference counted; the last leave sends CHANGE_TO_INCLUDE_MODE({}) twice, then the group is gone', () => {
    const { seg, eth, takeIgmp } = setup();
    eth.joinIpv4Group(GROUP);
    eth.joinIpv4Group(GROUP);
    seg.run(2000);
    expect(takeIgmp()).toHaveLength(2);
    eth.leaveIpv4Group(GROUP);
    seg.run(2000);
    expect(takeIgmp()).toEqual([]);
    eth.leaveIpv4Group(GROUP);
    seg.run(0);
    expect(takeIgmp().map(report)).toEqual([{ dstMac: '1005e000016', dst: '224.0.0.22', type: 0x22, records: [{ type: 3, group: '239.1.2.3', n: 0 }] }]);
    seg.run(500);
    expect(takeIgmp().map((f) => report(f).records)).toEqual([[{ type: 3, group: '239.1.2.3', n: 0 }]]);
    seg.run(300_000);
    expect(takeIgmp()).toEqual([]);
    expect(eth.igmp.groups()).toEqual([]);
    // The MAC filter closed with it.
    expect(eth.counters().igmp).toMatchObject({ Joins: 1, Leaves: 1, Groups: 0 });
  });

  it('224.0.0.1 is never reported (RFC 2236 §6)', () => {
    const { seg, eth, takeIgmp } = setup();
    eth.joinIpv4Group('224.0.0.1');
    seg.run(60_000);
    expect(takeIgmp()).toEqual([]);
  });

  it('a general query is answered after random × Max Resp Time with every group as MODE_IS_EXCLUDE({}); the query is not handed up', () => {
    const { seg, eth, takeIgmp, inject, received } = setup();
    eth.joinIpv4Group(GROUP);
    eth.joinIpv4Group(GROUP2);
    seg.run(2000);
    takeIgmp();
    inject(igmpQuery({ version: 3, code: 100 })); // 10 s
    seg.run(4999);
    expect(takeIgmp()).toEqual([]);
    seg.run(1);
    expect(takeIgmp().map((f) => report(f).records)).toEqual([[{ type: 2, group: '239.1.2.3', n: 0 }, { type: 2, group: '239.9.9.9', n: 0 }]]);
    seg.run(300_000);
    expect(takeIgmp()).toEqual([]);
    expect(received).toEqual([]);
    expect(eth.counters().ethernet).toMatchObject({ IgmpInQueries: 1, InIpv4: 0 });
  });

  it('a group-specific query gets that group only; a group-and-source query the queried sources as MODE_IS_INCLUDE', () => {
    const { seg, eth, takeIgmp, inject } = setup();
    eth.joinIpv4Group(GROUP);
    eth.joinIpv4Group(GROUP2);
    seg.run(2000);
    takeIgmp();
    inject(igmpQuery({ version: 3, group: GROUP2, code: 10 }), v4mac(GROUP2)); // 1 s
    seg.run(500);
    expect(takeIgmp().map((f) => report(f).records)).toEqual([[{ type: 2, group: '239.9.9.9', n: 0 }]]);
    inject(igmpQuery({ version: 3, group: GROUP, code: 10, sources: [ip('10.1.1.1'), ip('10.1.1.2')] }), v4mac(GROUP));
    seg.run(500);
    expect(takeIgmp().map((f) => report(f).records)).toEqual([[{ type: 1, group: '239.1.2.3', n: 2 }]]);
    // A query for a group we are not in: nothing.
    inject(igmpQuery({ version: 3, group: ip('239.7.7.7'), code: 10 }), v4mac(ip('239.7.7.7')));
    seg.run(60_000);
    expect(takeIgmp()).toEqual([]);
  });

  it('a v3 query\'s QRV is adopted: robustness 3 sends a join three times', () => {
    const { seg, eth, takeIgmp, inject } = setup();
    inject(igmpQuery({ version: 3, code: 10, qrv: 3 }));
    seg.run(10_000);
    eth.joinIpv4Group(GROUP);
    seg.run(5000);
    expect(takeIgmp()).toHaveLength(3);
  });

  it('an IGMPv2 querier switches the host to v2 (RFC 3376 §7.2.1): v2 reports to the group, suppression, a Leave when last reporter; back to v3 after 260 s', () => {
    const { seg, eth, takeIgmp, inject } = setup();
    eth.joinIpv4Group(GROUP);
    seg.run(2000);
    takeIgmp();
    inject(igmpQuery({ version: 2, code: 100 }));
    seg.run(0);
    expect(eth.igmp.version(seg.clock.now())).toBe(2);
    seg.run(5000);
    expect(takeIgmp().map(report)).toEqual([{ dstMac: '1005e010203', dst: '239.1.2.3', type: 0x16, group: '239.1.2.3' }]);
    // Another host answers first: ours is suppressed.
    inject(igmpQuery({ version: 2, code: 100 }));
    seg.run(1000);
    inject(igmpV2Report(GROUP), v4mac(GROUP));
    seg.run(20_000);
    expect(takeIgmp()).toEqual([]);
    expect(eth.counters().igmp.Suppressed).toBe(1);
    // Not the last reporter: no Leave (RFC 2236 §3 "may"... Linux neither).
    eth.leaveIpv4Group(GROUP);
    seg.run(20_000);
    expect(takeIgmp()).toEqual([]);
    // A v2 join: a report at once and one repeat within 10 s; its leave goes to 224.0.0.2.
    eth.joinIpv4Group(GROUP2);
    seg.run(0);
    expect(takeIgmp().map((f) => report(f).type)).toEqual([0x16]);
    seg.run(5000);
    expect(takeIgmp().map((f) => report(f).type)).toEqual([0x16]);
    eth.leaveIpv4Group(GROUP2);
    seg.run(0);
    expect(takeIgmp().map(report)).toEqual([{ dstMac: '1005e000002', dst: '224.0.0.2', type: 0x17, group: '239.9.9.9' }]);
    // 2 × 125 s + 10 s after the last v2 query, v3 again.
    seg.run(260_000);
    expect(eth.igmp.version(seg.clock.now())).toBe(3);
    eth.joinIpv4Group(GROUP);
    seg.run(0);
    expect(takeIgmp().map((f) => report(f).type)).toEqual([0x22]);
  });

  it('an IGMPv1 query (Max Resp Time 0) gets v1 reports after random × 10 s', () => {
    const { seg, eth, takeIgmp, inject } = setup();
    eth.joinIpv4Group(GROUP);
    seg.run(2000);
    takeIgmp();
    inject(igmpQuery({ version: 1 }));
    seg.run(5000);
    expect(takeIgmp().map(report)).toEqual([{ dstMac: '1005e010203', dst: '239.1.2.3', type: 0x12, group: '239.1.2.3' }]);
  });

  it('a v3 report too big for one packet is split by the MTU', () => {
    const { seg, eth, takeIgmp, inject } = setup({ mtu: 100 });
    for (let i = 0; i < 20; i++) eth.joinIpv4Group(ip('239.2.0.0') + i);
    seg.run(5000);
    takeIgmp();
    inject(igmpQuery({ version: 3, code: 10 }));
    seg.run(1000);
    const parts = takeIgmp();
    expect(parts.every((f) => f.length - 14 <= 100)).toBe(true);
    expect(parts.flatMap((f) => report(f).records!.map((r) => r.group)).length).toBe(20);
  });

  it('bad IGMP (checksums, truncation, fragments) is counted, never thrown, never handed up; arbitrary bytes too', () => {
    const { seg, eth, inject, received } = setup();
    eth.joinIpv4Group(GROUP);
    const q = igmpQuery({ version: 3, code: 10 });
    const badSum = q.slice(); badSum[30]! ^= 1;
    const badIp = q.slice(); badIp[10]! ^= 1;
    const frag = q.slice(); frag[6] = 0x20;
    for (const p of [badSum, badIp, frag, q.subarray(0, 30)]) inject(p);
    seg.run(0);
    expect(eth.counters().ethernet.IgmpInInvalid).toBe(4);
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 80 }), (tail) => {
      const p = new Uint8Array(24 + tail.length);
      p.set(q.subarray(0, 24));
      p.set(tail, 24);
      inject(p);
      expect(() => seg.run(0)).not.toThrow();
    }), { numRuns: 300 });
    expect(received).toEqual([]);
    const c = eth.counters().ethernet;
    expect(c.IgmpInInvalid + c.IgmpInQueries + c.IgmpInReports + c.IgmpInOther).toBe(304);
  });
});

describe('the machine alone (mcast.ts)', () => {
  it('a leave during the join\'s retransmissions replaces them; a rejoin during the leave\'s turns them back', () => {
    const sent: { t: number; m: McastMessage<number> }[] = [];
    const m = new GroupMembership<number>((msg, t) => sent.push({ t, m: msg }), {}, () => 0.5);
    m.join(1, 0);
    m.poll(0);
    m.leave(1, 100);
    expect(m.pollAt()).toBe(100);
    m.poll(100);
    m.poll(600);
    m.join(1, 700);
    m.poll(700);
    m.poll(1200);
    m.poll(5000);
    expect(sent.map((s) => [s.t, s.m.kind === 'v3' ? s.m.records.map((r) => r.type) : s.m.kind])).toEqual([
      [0, [4]], [100, [3]], [600, [3]], [700, [4]], [1200, [4]],
    ]);
    expect(m.groups()).toEqual([1]);
    expect(m.pollAt()).toBe(Infinity);
  });

  it('a Max Resp Time of 0 (v2/v3) is answered at once; a v1 query (no time) within 10 s', () => {
    const sent: { t: number; m: McastMessage<number> }[] = [];
    const m = new GroupMembership<number>((msg, t) => sent.push({ t, m: msg }), {}, () => 0.99);
    m.join(1, 0);
    m.poll(0);
    m.poll(5000);
    sent.length = 0;
    m.query({ version: 3, group: undefined, maxRespMs: 0, sources: [], qrv: 0, qqiMs: 0 }, 10_000);
    expect(m.pollAt()).toBe(10_001);
    m.poll(10_001);
    m.query({ version: 1, group: undefined, maxRespMs: 0, sources: [], qrv: 0, qqiMs: 0 }, 20_000);
    expect(m.pollAt()).toBe(20_000 + 9900);
    m.poll(29_900);
    expect(sent.map((x) => [x.t, x.m.kind === 'report' ? `v${x.m.version}` : x.m.kind])).toEqual([[10_001, 'v3'], [29_900, 'v1']]);
  });

  it('source filters (RFC 3376 §5.1): ALLOW / BLOCK within a mode, TO_EX / TO_IN across, the whole state when a change is still pending; queries answered with the sources', () => {
    const sent: { t: number; m: McastMessage<number> }[] = [];
    const m = new GroupMembership<number>((msg, t) => sent.push({ t, m: msg }), {}, () => 0.5);
    const S1 = 11;
    const S2 = 12;
    const S3 = 13;
    const recs = () => sent.splice(0).map((x) => (x.m.kind === 'v3' ? x.m.records.map((r) => [r.type, [...r.sources].sort()]) : x.m.kind));
    // INCLUDE {} → INCLUDE {S1}: ALLOW(S1), twice.
    m.setFilter(1, { mode: 'include', sources: [S1] }, 0);
    m.poll(0);
    m.poll(500);
    expect(recs()).toEqual([[[5, [S1]]], [[5, [S1]]]]);
    expect(m.has(1)).toBe(true);
    // → INCLUDE {S2} (nothing pending): ALLOW(S2) and BLOCK(S1).
    m.setFilter(1, { mode: 'include', sources: [S2] }, 1000);
    m.poll(1000);
    expect(recs()).toEqual([[[5, [S2]], [6, [S1]]]]);
    // → INCLUDE {S2, S3} while the last is pending: the whole state, TO_IN({S2, S3}).
    m.setFilter(1, { mode: 'include', sources: [S2, S3] }, 1100);
    m.poll(1100);
    m.poll(1600);
    expect(recs()).toEqual([[[3, [S2, S3]]], [[3, [S2, S3]]]]);
    // Queries: general → IS_IN({S2, S3}); group-and-source for {S1, S3} → IS_IN({S3}); for {S1} → nothing.
    m.query({ version: 3, group: undefined, maxRespMs: 1000, sources: [], qrv: 2, qqiMs: 125_000 }, 5000);
    m.poll(5500);
    m.query({ version: 3, group: 1, maxRespMs: 1000, sources: [S1, S3], qrv: 2, qqiMs: 125_000 }, 6000);
    m.poll(6500);
    m.query({ version: 3, group: 1, maxRespMs: 1000, sources: [S1], qrv: 2, qqiMs: 125_000 }, 7000);
    m.poll(7500);
    expect(recs()).toEqual([[[1, [S2, S3]]], [[1, [S3]]]]);
    // An any-source join on top: EXCLUDE {} (TO_EX); its leave: back to the filter, TO_IN({S2, S3}).
    m.join(1, 10_000);
    m.poll(10_000);
    m.poll(10_500);
    m.leave(1, 11_000);
    m.poll(11_000);
    m.poll(11_500);
    expect(recs()).toEqual([[[4, []]], [[4, []]], [[3, [S2, S3]]], [[3, [S2, S3]]]]);
    // INCLUDE {} at last: BLOCK({S2, S3}), and the group is gone.
    m.setFilter(1, { mode: 'include', sources: [] }, 20_000);
    m.poll(20_000);
    m.poll(20_500);
    expect(recs()).toEqual([[[6, [S2, S3]]], [[6, [S2, S3]]]]);
    expect(m.has(1)).toBe(false);
    expect(m.stats()).toMatchObject({ Groups: 0, Joins: 1, Leaves: 1 });
  });

  it('is bounded: past maxGroups a join is refused and counted', () => {
    const m = new GroupMembership<number>(() => {}, { maxGroups: 2 }, () => 0.5);
    expect([m.join(1, 0), m.join(2, 0), m.join(3, 0)]).toEqual([true, true, false]);
    expect(m.stats()).toMatchObject({ Groups: 2, GroupsFull: 1 });
  });
});

/** An MLD query (IPv6 + Hop-by-Hop Router Alert + ICMPv6 130) from fe80::1. */
function mldQuery(opts: { v1?: boolean; group?: string; code?: number }): Uint8Array {
  const icmpLen = opts.v1 ? 24 : 28;
  const p = new Uint8Array(48 + icmpLen);
  const dv = new DataView(p.buffer);
  p[0] = 0x60; dv.setUint16(4, 8 + icmpLen); p[6] = 0; p[7] = 1;
  p[8] = 0xfe; p[9] = 0x80; p[23] = 1;
  const dst = opts.group ?? '\xff\x02' + '\0'.repeat(13) + '\x01';
  for (let i = 0; i < 16; i++) p[24 + i] = dst.charCodeAt(i);
  p[40] = 58; p[42] = 5; p[43] = 2; p[46] = 1;
  p[48] = 130;
  dv.setUint16(52, opts.code ?? 1000);
  if (opts.group !== undefined) for (let i = 0; i < 16; i++) p[56 + i] = opts.group.charCodeAt(i);
  if (!opts.v1) { p[72] = 2; p[73] = 125; }
  // Pseudo-header: src, dst, length, next header 58.
  let s = sum16(p, 8, 40);
  s = sum16(p, 48, p.length, s + icmpLen + 58);
  dv.setUint16(50, ~s & 0xffff);
  return p;
}

const addr6 = (hexText: string): string => Buffer.from(hexText, 'hex').toString('latin1');
const LL = addr6('fe80000000000000' + '00005efffe100002');
const GLOBAL = addr6('fd070000000000000000000000000002');

describe('MLDv2 (RFC 3810) for the solicited-node groups', () => {
  function setup6() {
    const s = setup({ ipv4: undefined as never });
    const takeMld = () => s.router.take().filter((f) => f[12] === 0x86 && f[13] === 0xdd && f[14 + 6] === 0);
    return { ...s, takeMld };
  }

  it('configuring addresses reports their solicited-node groups from the link-local address, hop limit 1, Router Alert; a query is answered', () => {
    const { seg, eth, takeMld, router } = setup6();
    eth.configureIpv6({ addresses: [LL, GLOBAL], prefixLength: 64 });
    seg.run(0);
    // Both addresses' groups in one report (changes made together share it).
    const [f, ...rest] = takeMld();
    expect(rest).toEqual([]);
    const p = f!.subarray(14);
    // 33:33:00:00:00:16 (ff02::16), hop limit 1, HbH with Router Alert (type 5, value 0), ICMPv6 143.
    expect(toHex(f!.subarray(0, 6))).toBe('333300000016');
    expect(p[7]).toBe(1);
    expect(toHex(p.subarray(8, 24))).toBe(toHex(Buffer.from(LL, 'latin1')));
    expect(toHex(p.subarray(40, 48))).toBe('3a00050200000100');
    expect(p[48]).toBe(143);
    expect(parseMld(p)).toEqual({ type: 'other' }); // checksum verified by the parser
    const n = (p[54]! << 8) | p[55]!;
    const groups = Array.from({ length: n }, (_, i) => ({ type: p[56 + 20 * i]!, group: toHex(p.subarray(60 + 20 * i, 76 + 20 * i)) }));
    expect(groups).toEqual([LL, GLOBAL].map((a) => ({ type: 4, group: toHex(Buffer.from(solicitedNodeAddress(a), 'latin1')) })));
    seg.run(500);
    expect(takeMld()).toHaveLength(1);
    seg.run(60_000);
    expect(takeMld()).toEqual([]);
    // A general MLDv2 query with Max Resp Code 1000 ms: answered after 500 ms with MODE_IS_EXCLUDE.
    router.port.send(frame(0x333300000001, ROUTER_MAC, 0x86dd, mldQuery({})));
    seg.run(499);
    expect(takeMld()).toEqual([]);
    seg.run(1);
    const [a] = takeMld();
    expect(a![14 + 48]).toBe(143);
    expect(a![14 + 56]).toBe(2);
    expect(eth.counters().ethernet).toMatchObject({ MldInQueries: 1, InIpv6: 0 });
  });

  it('an MLDv1 query switches to MLDv1: a report (131) to the group itself', () => {
    const { seg, eth, takeMld, router } = setup6();
    eth.configureIpv6({ addresses: [GLOBAL], prefixLength: 64 });
    seg.run(5000);
    // No link-local address: reported from :: (RFC 3810 §5.2.13).
    router.port.send(frame(0x333300000001, ROUTER_MAC, 0x86dd, mldQuery({ v1: true, code: 2000 })));
    seg.run(1000);
    const all = takeMld();
    const last = all[all.length - 1]!.subarray(14);
    expect(last[48]).toBe(131);
    expect(toHex(last.subarray(24, 40))).toBe(toHex(Buffer.from(solicitedNodeAddress(GLOBAL), 'latin1')));
    expect(toHex(last.subarray(8, 24))).toBe('0'.repeat(32));
    expect(eth.mld.version(seg.clock.now())).toBe(2);
  });

  it('ff02::1 and interface-local groups are never reported', () => {
    const { seg, eth, takeMld } = setup6();
    eth.configureIpv6({ addresses: [LL], prefixLength: 64 });
    seg.run(5000);
    takeMld();
    eth.joinIpv6Group(addr6('ff020000000000000000000000000001'));
    eth.joinIpv6Group(addr6('ff010000000000000000000000000007'));
    seg.run(5000);
    expect(takeMld()).toEqual([]);
    eth.joinIpv6Group(addr6('ff0e0000000000000000000000000007'));
    seg.run(5000);
    expect(takeMld()).toHaveLength(2);
  });
});
