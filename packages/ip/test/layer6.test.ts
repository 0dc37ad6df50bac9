/**
 * The IPv6 layer (layer6.ts) through its public surface, over a collecting fake link:
 * receive and deliver, not-for-us, extension headers and the parameter problems asked of
 * a recording ErrorReporter6, reassembly through the layer, sending and fragmentation at
 * the source, path MTU from a translated Packet Too Big, and the counters' identity.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Ipv4Layer, Ipv6Layer, PROTO_TCP, PROTO_UDP, parseIpv6, solicitedNodeGroup, walkIpv6Extensions, isIpv6ExtDrop,
  type Ipv6Address, type Ipv6Stats, type PayloadWriter, type TransportError,
} from '@netstack/ip';
import { FakeLink, FakeTransport, US, bytes, sameBytes } from './harness.js';
import { FAR6, PEER6, Reporter6, US6, concat, frag6, makeLayer6, optsHeader, pkt6, v6 } from './harness6.js';

function setup(over: Parameters<typeof makeLayer6>[0] = {}) {
  const { layer, link } = makeLayer6(over);
  const udp = new FakeTransport(PROTO_UDP);
  const reporter = new Reporter6();
  layer.register(udp);
  layer.setErrorReporter6(reporter);
  return { layer, link, udp, reporter };
}

/** The receive-path accounting identity documented in stats6.ts. */
function balanced(s: Ipv6Stats): boolean {
  return s.Ip6InReceives + s.Ip6ReasmOKs
    === s.Ip6InTruncatedPkts + s.Ip6InHdrErrors + s.Ip6InAddrErrors + s.Ip6ReasmReqds + s.Ip6InUnknownProtos + s.Ip6InDelivers;
}

/** Every fragment handed to (an own) reassembler is held, used, or dropped under one reason. */
function fragmentsBalanced(layer: Ipv6Layer): boolean {
  const s = layer.stats();
  const dropped = Object.entries(s.dropped).filter(([k]) => k.startsWith('Ip6Reasm')).reduce((n, [, v]) => n + v, 0);
  return s.Ip6ReasmReqds === layer.reassembler.fragments + s.Ip6ReasmFragsUsed + dropped;
}

describe('receive and deliver', () => {
  it('hands the payload, addresses, hop limit and traffic class to the transport; link padding trimmed', () => {
    const { layer, udp } = setup();
    const p = pkt6(Uint8Array.of(9, 8, 7), { hop: 33, tc: 0xb9 });
    const padded = concat(p, new Uint8Array(5).fill(0xaa));
    layer.input(padded, 5);
    expect(udp.received).toHaveLength(1);
    const r = udp.received[0]!;
    expect(Array.from(r.payload)).toEqual([9, 8, 7]);
    expect(sameBytes(r.packet, p)).toBe(true);
    expect(r).toMatchObject({ src: PEER6, dst: US6, protocol: PROTO_UDP, ttl: 33, toBroadcast: false, reassembled: false });
    const s = layer.stats();
    expect([s.Ip6InReceives, s.Ip6InDelivers]).toEqual([1, 1]);
    expect(balanced(s)).toBe(true);
  });
  it('any of several own addresses is ours; each has its solicited-node group', () => {
    const second = v6('2001:db8:1::5');
    const { layer, udp } = setup({ addresses: [US6, second] });
    layer.input(pkt6(Uint8Array.of(1), { dst: second }), 0);
    layer.input(pkt6(Uint8Array.of(2), { dst: solicitedNodeGroup(second) }), 0);
    layer.input(pkt6(Uint8Array.of(3), { dst: solicitedNodeGroup(US6) }), 0);
    layer.input(pkt6(Uint8Array.of(4), { dst: v6('ff02::1') }), 0);
    expect(udp.received.map((d) => [d.payload[0], d.toBroadcast])).toEqual([[1, false], [2, true], [3, true], [4, true]]);
    expect(layer.stats().Ip6InMcastPkts).toBe(3);
    expect(layer.isLocalAddress(second)).toBe(true);
    expect(layer.isLocalAddress(FAR6)).toBe(false);
  });
  it.each([
    ['another host', () => pkt6(Uint8Array.of(1), { dst: v6('fd07::3') }), 'Ip6InNotForUs', 'Ip6InAddrErrors'],
    ['a group we are not in', () => pkt6(Uint8Array.of(1), { dst: v6('ff02::1:ff00:99') }), 'Ip6InNotForUs', 'Ip6InAddrErrors'],
    ['::1 from the link', () => pkt6(Uint8Array.of(1), { dst: v6('::1') }), 'Ip6InLoopbackFromLink', 'Ip6InHdrErrors'],
    ['::1 source from the link', () => pkt6(Uint8Array.of(1), { src: v6('::1') }), 'Ip6InLoopbackFromLink', 'Ip6InHdrErrors'],
    ['truncated', () => pkt6(Uint8Array.of(1, 2, 3)).subarray(0, 42), 'Ip6InTruncatedPkts', 'Ip6InTruncatedPkts'],
    ['version 5', () => Object.assign(pkt6(Uint8Array.of(1)), { 0: 0x50 }), 'Ip6InBadVersion', 'Ip6InHdrErrors'],
    ['multicast source', () => pkt6(Uint8Array.of(1), { src: v6('ff02::1') }), 'Ip6InMartianSrc', 'Ip6InHdrErrors'],
  ] as const)('drops %s, counted', (_n, make, reason, counter) => {
    const { layer, udp, reporter } = setup();
    layer.input(make(), 0);
    const s = layer.stats();
    expect(udp.received).toHaveLength(0);
    expect(reporter.calls).toHaveLength(0);
    expect(s.dropped[reason]).toBe(1);
    expect(s[counter]).toBe(1);
    expect(balanced(s)).toBe(true);
  });
  it('multicastFilter admits other groups, asked with group and source', () => {
    const { layer, udp } = setup();
    const G = v6('ff05::fb');
    const asked: [Ipv6Address, Ipv6Address][] = [];
    layer.multicastFilter = (g, src) => { asked.push([g, src]); return g === G; };
    layer.input(pkt6(Uint8Array.of(1), { dst: G }), 0);
    layer.input(pkt6(Uint8Array.of(2), { dst: v6('ff05::fc') }), 0);
    expect(asked).toEqual([[G, PEER6], [v6('ff05::fc'), PEER6]]);
    expect(udp.received.map((d) => d.payload[0])).toEqual([1]);
    expect(layer.stats().dropped.Ip6InNotForUs).toBe(1);
  });
});

describe('extension headers and parameter problems', () => {
  it('a destination option with action 00 is skipped: delivered after the header', () => {
    const { layer, udp } = setup();
    layer.input(pkt6(concat(optsHeader(17, [0x1e, 2, 0, 0]), Uint8Array.of(5, 6)), { nh: 60 }), 0);
    expect(udp.received.map((d) => Array.from(d.payload))).toEqual([[5, 6]]);
  });
  it('unknown option action 10: dropped, parameter problem code 2 pointing at the option type', () => {
    const { layer, udp, reporter } = setup();
    const p = pkt6(concat(optsHeader(17, [0x80, 0]), Uint8Array.of(1)), { nh: 60 });
    layer.input(p, 0);
    expect(udp.received).toHaveLength(0);
    expect(reporter.calls.map((c) => [c.kind, c.code, c.pointer])).toEqual([['param', 2, 42]]);
    expect(sameBytes(reporter.calls[0]!.packet, p)).toBe(true);
    const s = layer.stats();
    expect(s.dropped.Ip6InUnknownOption).toBe(1);
    expect(s.Ip6InHdrErrors).toBe(1);
    expect(balanced(s)).toBe(true);
  });
  it('action 11 to a multicast group: dropped silently (RFC 8200 §4.2); action 10 is answered even then', () => {
    const { layer, reporter } = setup();
    layer.input(pkt6(concat(optsHeader(17, [0xc2, 0]), Uint8Array.of(1)), { nh: 60, dst: v6('ff02::1') }), 0);
    expect(reporter.calls).toHaveLength(0);
    layer.input(pkt6(concat(optsHeader(17, [0x82, 0]), Uint8Array.of(1)), { nh: 60, dst: v6('ff02::1') }), 0);
    expect(reporter.calls.map((c) => [c.code, c.pointer])).toEqual([[2, 42]]);
    expect(layer.stats().dropped.Ip6InUnknownOption).toBe(2);
  });
  it('routing type 0 with segments left: parameter problem code 0 at the routing type (RFC 5095)', () => {
    const { layer, reporter } = setup();
    const rh = new Uint8Array(24);
    rh[0] = 17; rh[1] = 2; rh[2] = 0; rh[3] = 1;
    layer.input(pkt6(concat(rh, Uint8Array.of(1)), { nh: 43 }), 0);
    expect(reporter.calls.map((c) => [c.kind, c.code, c.pointer])).toEqual([['param', 0, 42]]);
    expect(layer.stats().dropped.Ip6InRoutingType0).toBe(1);
  });
  it('unknown next header: Ip6InUnknownProtos and parameter problem code 1 at the Next Header field that names it', () => {
    const { layer, reporter } = setup();
    layer.input(pkt6(Uint8Array.of(1, 2), { nh: 99 }), 0);
    layer.input(pkt6(concat(optsHeader(99, []), Uint8Array.of(1)), { nh: 60 }), 0);
    expect(reporter.calls.map((c) => [c.kind, c.code, c.pointer, c.protocol])).toEqual([['param', 1, 6, 99], ['param', 1, 40, 99]]);
    const s = layer.stats();
    expect([s.Ip6InUnknownProtos, s.dropped.Ip6InUnknownProtos]).toEqual([2, 2]);
    expect(balanced(s)).toBe(true);
  });
  it('unknown next header to a multicast group or from :: is not answered (RFC 4443 §2.4 (e))', () => {
    const { layer, reporter } = setup();
    layer.input(pkt6(Uint8Array.of(1), { nh: 99, dst: v6('ff02::1') }), 0);
    layer.input(pkt6(Uint8Array.of(1), { nh: 99, src: v6('::') }), 0);
    expect(reporter.calls).toHaveLength(0);
    const s = layer.stats();
    expect([s.Ip6InUnknownProtos, s.Ip6OutErrorReportsSuppressed]).toEqual([2, 2]);
  });
  it('reportUnreachable maps ICMPv4 codes: 3 → unreachable code 4, 2 → parameter problem 1 at the Next Header field', () => {
    const { layer, udp, reporter } = setup();
    layer.input(pkt6(concat(optsHeader(17, []), Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)), { nh: 60 }), 0);
    const dg = udp.received[0]!;
    const quoted = { ...dg, tos: 0, headerLength: 48 };
    layer.reportUnreachable(3, quoted, 0);
    layer.reportUnreachable(2, quoted, 0);
    layer.reportUnreachable(4, quoted, 0); // fragmentation needed has no IPv6 unreachable: not reported
    expect(reporter.calls.map((c) => [c.kind, c.code, c.pointer])).toEqual([['unreachable', 4, undefined], ['param', 1, 40]]);
    layer.reportUnreachable(3, { ...quoted, dst: v6('ff02::1') }, 0);
    expect(reporter.calls).toHaveLength(2);
  });
  it('any byte soup never throws and keeps the identity', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 200 }), fc.boolean(), (body, ext) => {
      const { layer } = setup();
      const p = pkt6(body, { nh: ext ? 60 : body[0] ?? 17 });
      layer.input(p, 0);
      layer.input(p.subarray(0, Math.min(p.length, 40 + (body[1] ?? 0))), 0);
      return balanced(layer.stats());
    }), { numRuns: 300 });
  });
});

/** Cuts [0, n) at sorted multiples of 8: at least one (no atomic fragment: that has its own test). */
const cutsArb = (n: number) => fc.uniqueArray(fc.integer({ min: 1, max: Math.floor((n - 1) / 8) }), { minLength: 1, maxLength: 12 })
  .map((a) => a.map((x) => x * 8).filter((x) => x < n).sort((x, y) => x - y));

describe('reassembly through the layer', () => {
  it('any fragmentation, any order, with duplicates: delivered exactly once, exactly (fast-check)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 9, max: 6000 }).chain((n) => fc.tuple(fc.constant(n), cutsArb(n), fc.integer(), fc.boolean())),
      fc.array(fc.nat(), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 5 }),
      ([n, cuts, seed, withUnfrag], order, dups) => {
        const { layer, udp } = setup();
        const udpData = bytes(n, seed);
        const bounds = [0, ...cuts, n];
        const unfrag = withUnfrag ? optsHeader(44, [0x1e, 0]) : undefined;
        const frags: Uint8Array[] = [];
        for (let i = 0; i + 1 < bounds.length; i++) {
          frags.push(frag6(udpData, bounds[i]!, bounds[i + 1]!, i + 2 < bounds.length, unfrag ? { unfrag } : {}));
        }
        // A permutation from `order`, then duplicates of some fragments.
        const pool = frags.slice();
        const seq: Uint8Array[] = [];
        for (const o of order) if (pool.length > 0) seq.push(pool.splice(o % pool.length, 1)[0]!);
        seq.push(...pool);
        // Duplicates before the last original (a copy after completion is a new datagram, as for any reassembler).
        const final = seq[seq.length - 1]!;
        const others = seq.slice(0, -1);
        for (const d of dups) seq.splice(d % seq.length, 0, others[d % others.length]!);
        if (seq[seq.length - 1] !== final) return false;
        for (const f of seq) layer.input(f, 1);
        if (udp.received.length !== 1) return false;
        const got = udp.received[0]!;
        if (!got.reassembled || !sameBytes(got.payload, udpData)) return false;
        // The rebuilt packet: unfragmentable part, then the data; Payload Length and Next Header fixed (RFC 8200 §4.5).
        const r = parseIpv6(got.packet);
        if (typeof r === 'string' || r.payloadLength !== got.packet.length - 40) return false;
        const s = layer.stats();
        return s.Ip6ReasmOKs === 1 && balanced(s) && fragmentsBalanced(layer);
      },
    ), { numRuns: 150 });
  });
  it('mutated fragments (any byte of any fragment changed) never throw and keep both identities (fast-check)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 17, max: 3000 }), fc.array(fc.tuple(fc.nat(), fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
      (n, muts) => {
        const { layer } = setup();
        const data = bytes(n, n);
        const mid = (n >>> 4) << 3;
        const frags = [frag6(data, 0, mid, true), frag6(data, mid, n, false)];
        for (const [which, at, v] of muts) {
          const f = frags[which % 2]!;
          f[at % f.length] = v;
        }
        for (const f of frags) layer.input(f, 0);
        layer.poll(120_000);
        return balanced(layer.stats()) && fragmentsBalanced(layer);
      },
    ), { numRuns: 300 });
  });
  it('a reassembled datagram holding another Fragment header is dropped, not reassembled twice', () => {
    const { layer, udp } = setup();
    // The inner packet's fragmentable part: a (non-atomic) Fragment header, then data.
    const inner = concat(Uint8Array.of(17, 0, 0, 1, 0, 0, 0, 9), new Uint8Array(16));
    layer.input(frag6(inner, 0, 16, true, { nh: 44 }), 0); // the whole chain in the first fragment (RFC 7112)
    layer.input(frag6(inner, 16, inner.length, false, { nh: 44 }), 0);
    expect(udp.received).toHaveLength(0);
    const s = layer.stats();
    expect([s.Ip6ReasmOKs, s.dropped.Ip6InNestedFragment, s.Ip6InHdrErrors]).toEqual([1, 1, 1]);
    expect(balanced(s)).toBe(true);
  });
  it('a flood of IPv6 fragments through a layer sharing the IPv4 reassembler stays within the one bound', () => {
    const link = new FakeLink(1500);
    const limits = { maxReassemblyBytes: 256 * 1024, maxReassemblyBytesPerSource: 64 * 1024 };
    const v4 = new Ipv4Layer({ address: US, prefixLength: 24, link, limits });
    const { layer } = setup({ reassembler: v4.reassembler, link });
    const data = bytes(1024, 5);
    let peak = 0;
    for (let i = 0; i < 2000; i++) {
      const src = v6(`fd07:${(i % 50).toString(16)}::${(i + 1).toString(16)}`);
      layer.input(frag6(data, 0, 1024, true, { id: i, src }), i);
      peak = Math.max(peak, v4.reassemblyUsage().bytes);
    }
    expect(peak).toBeLessThanOrEqual(limits.maxReassemblyBytes);
    expect(peak).toBeGreaterThan(limits.maxReassemblyBytes / 2); // charged to the shared instance
    expect(layer.stats().Ip6ReasmEvicted).toBeGreaterThan(0);
    expect(balanced(layer.stats())).toBe(true);
  });
  it('atomic fragment (RFC 6946): delivered at once, counted as reassembled', () => {
    const { layer, udp } = setup();
    const data = Uint8Array.of(1, 2, 3);
    layer.input(frag6(data, 0, 3, false), 0);
    expect(udp.received.map((d) => Array.from(d.payload))).toEqual([[1, 2, 3]]);
    const s = layer.stats();
    expect([s.Ip6ReasmReqds, s.Ip6ReasmOKs, s.Ip6ReasmAtomic]).toEqual([1, 1, 1]);
    expect(balanced(s)).toBe(true);
  });
  it('M set with a length not a multiple of 8: parameter problem code 0 at Payload Length', () => {
    const { layer, reporter } = setup();
    layer.input(frag6(bytes(100, 1), 0, 13, true), 0);
    expect(reporter.calls.map((c) => [c.kind, c.code, c.pointer])).toEqual([['param', 0, 4]]);
    expect(balanced(layer.stats())).toBe(true);
  });
  it('timeout with the first fragment held: time exceeded code 1 quoting it; held fragments counted', () => {
    const { layer, reporter } = setup();
    const first = frag6(bytes(64, 2), 0, 32, true);
    layer.input(first, 0);
    expect(layer.pollAt()).toBe(60_000);
    layer.poll(59_999);
    expect(reporter.calls).toHaveLength(0);
    layer.poll(60_000);
    expect(reporter.calls.map((c) => [c.kind, c.code])).toEqual([['time', 1]]);
    expect(sameBytes(reporter.calls[0]!.packet, first)).toBe(true);
    const s = layer.stats();
    expect([s.Ip6ReasmTimeout, s.dropped.Ip6ReasmTimeoutFrags]).toEqual([1, 1]);
    expect(fragmentsBalanced(layer)).toBe(true);
  });
  it('a Reassembler shared with the IPv4 layer: one memory bound; the IPv4 layer polls it and IPv6 timeouts are still reported', () => {
    const link = new FakeLink(1500);
    const v4 = new Ipv4Layer({ address: US, prefixLength: 24, link });
    const { layer, reporter } = setup({ reassembler: v4.reassembler, link });
    layer.input(frag6(bytes(64, 3), 0, 32, true), 0);
    expect(v4.reassemblyUsage().datagrams).toBe(1);
    expect(v4.reassemblyUsage().bytes).toBeGreaterThan(0);
    expect(v4.pollAt()).toBe(60_000);
    expect(layer.pollAt()).toBe(Infinity); // the IPv4 layer drives it
    v4.poll(60_000);
    expect(reporter.calls.map((c) => [c.kind, c.code])).toEqual([['time', 1]]);
    expect(layer.stats().Ip6ReasmTimeout).toBe(1);
    expect(v4.stats().ReasmTimeout).toBe(0);
  });
});

/** Reassembles what a layer sent, by hand: returns [identification, payload] per datagram. */
function reassembleSent(sent: Uint8Array[]): { id: number; nh: number; payload: Uint8Array }[] {
  const byId = new Map<number, { parts: [number, Uint8Array][]; nh: number; last: number }>();
  for (const p of sent) {
    const w = walkIpv6Extensions(p);
    if (isIpv6ExtDrop(w) || w.fragment === undefined) throw new Error('not a fragment');
    const f = w.fragment;
    const e = byId.get(f.identification) ?? { parts: [], nh: f.nextHeader, last: -1 };
    e.parts.push([f.offset, p.subarray(f.dataOffset, w.end)]);
    if (!f.more) e.last = f.offset + w.end - f.dataOffset;
    byId.set(f.identification, e);
  }
  return [...byId].map(([id, e]) => {
    const out = new Uint8Array(e.last);
    let covered = 0;
    for (const [o, d] of e.parts) { out.set(d, o); covered += d.length; }
    if (covered !== e.last) throw new Error('gap');
    return { id, nh: e.nh, payload: out };
  });
}

describe('send', () => {
  it('builds the fixed header: hop limit 64, traffic class from tos, flow label 0 without a key, next header', () => {
    const { layer, link } = setup();
    expect(layer.send(PEER6, PROTO_UDP, Uint8Array.of(1, 2, 3), { tos: 0x02 })).toBeUndefined();
    expect(layer.send(PEER6, PROTO_TCP, Uint8Array.of(4), { ttl: 7 })).toBeUndefined();
    const [a, b] = link.sent.map((p) => parseIpv6(p));
    expect(a).toMatchObject({ src: US6, dst: PEER6, nextHeader: PROTO_UDP, hopLimit: 64, trafficClass: 2, flowLabel: 0, payloadLength: 3 });
    expect(b).toMatchObject({ nextHeader: PROTO_TCP, hopLimit: 7, trafficClass: 0, payloadLength: 1 });
    expect(Array.from(link.sent[0]!.subarray(40))).toEqual([1, 2, 3]);
    expect(layer.stats().Ip6OutRequests).toBe(2);
  });
  it('sendWith: the writer writes in place and is given the source and destination', () => {
    const { layer, link } = setup();
    const seen: unknown[] = [];
    const w: PayloadWriter = { writePayload(buf, off, src, dst) { seen.push(src, dst); buf.set([7, 7], off); } };
    expect(layer.sendWith(PEER6, PROTO_UDP, 2, w)).toBeUndefined();
    expect(seen).toEqual([US6, PEER6]);
    expect(Array.from(link.sent[0]!.subarray(40))).toEqual([7, 7]);
  });
  it('flow label with a key: one label per (src, dst, protocol), 20 bits, not 0; SendOptions.flowLabel overrides', () => {
    const { layer, link } = setup({ flowLabelKey: new Uint8Array(16).fill(7) });
    layer.send(PEER6, PROTO_UDP, Uint8Array.of(1));
    layer.send(PEER6, PROTO_UDP, Uint8Array.of(2));
    layer.send(PEER6, PROTO_UDP, Uint8Array.of(3), { flowLabel: 0x12345 });
    const labels = link.sent.map((p) => (parseIpv6(p) as { flowLabel: number }).flowLabel);
    expect(labels[0]).toBe(labels[1]);
    expect(labels[0]).toBeGreaterThan(0);
    expect(labels[2]).toBe(0x12345);
    // Other keys give other labels (a keyed hash, not a constant).
    const other = setup({ flowLabelKey: new Uint8Array(16).fill(8) });
    other.layer.send(PEER6, PROTO_UDP, Uint8Array.of(1));
    expect((parseIpv6(other.link.sent[0]!) as { flowLabel: number }).flowLabel).not.toBe(labels[0]);
  });
  it('flow label: interleaved flows each keep their own label (destination and protocol both count)', () => {
    const { layer, link } = setup({ flowLabelKey: new Uint8Array(16).fill(7) });
    const other = v6('fd07::9');
    // Each send changes one of destination and protocol from the one before.
    const flows: [Ipv6Address, number][] = [[PEER6, PROTO_UDP], [PEER6, PROTO_TCP], [other, PROTO_TCP], [other, PROTO_UDP]];
    for (let round = 0; round < 3; round++) for (const [d, p] of flows) layer.send(d, p, Uint8Array.of(round));
    const labels = link.sent.map((p) => (parseIpv6(p) as { flowLabel: number }).flowLabel);
    expect(labels.slice(4)).toEqual([...labels.slice(0, 4), ...labels.slice(0, 4)]);
    expect(new Set(labels.slice(0, 4)).size).toBe(4);
  });
  it('routing: on-link prefix and fe80::/10 direct; off-link needs the gateway; :: and ::1 never', () => {
    const bare = setup();
    expect(bare.layer.sourceFor(v6('fe80::1'))).toBe(US6);
    expect(bare.layer.sourceFor(FAR6)).toBeUndefined();
    expect(bare.layer.send(FAR6, PROTO_UDP, Uint8Array.of(1))).toBe('ENETUNREACH');
    expect(bare.layer.send(v6('::1'), PROTO_UDP, Uint8Array.of(1))).toBe('ENETUNREACH');
    expect(bare.layer.stats().dropped.Ip6OutNoRoutes).toBe(2);
    expect(bare.layer.sourceFor(10)).toBeUndefined(); // IPv4: not this layer's
    const gw = setup({ gateway: 'fe80::1' });
    expect(gw.layer.send(FAR6, PROTO_UDP, Uint8Array.of(1))).toBeUndefined();
    expect(() => setup({ gateway: FAR6 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => makeLayer6({ link: new FakeLink(1200) })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });
  it('source selection: same scope, then longest common prefix (RFC 6724 rules 2, 8)', () => {
    const ll = v6('fe80::2');
    const g = v6('2001:db8:1::2');
    const { layer } = setup({ addresses: [US6, ll, g], gateway: 'fe80::1' });
    expect(layer.sourceFor(v6('fe80::1'))).toBe(ll);
    expect(layer.sourceFor(v6('2001:db8:1::9'))).toBe(g);
    expect(layer.sourceFor(PEER6)).toBe(US6);
  });
  it('SendOptions.source picks one of our addresses (RFC 4443 §2.2 replies); an address not ours is ignored', () => {
    const second = v6('fd07::3');
    const { layer, link } = setup({ addresses: [US6, second] });
    expect(layer.send(PEER6, PROTO_UDP, bytes(8, 1), { source: second })).toBeUndefined();
    expect(layer.send(PEER6, PROTO_UDP, bytes(8, 2), { source: v6('fd07::99') })).toBeUndefined();
    expect(layer.send(PEER6, PROTO_UDP, bytes(8, 3))).toBeUndefined();
    expect(link.sent.map((p) => (parseIpv6(p) as { src: Ipv6Address }).src)).toEqual([second, US6, US6]);
  });
  it('4000 bytes over MTU 1280: fragments of at most 1280 bytes, data multiples of 8, reassembled exactly; identification differs per datagram', () => {
    const { layer, link } = setup({ link: new FakeLink(1280) });
    const a = bytes(4000, 11);
    const b = bytes(4000, 12);
    expect(layer.send(PEER6, PROTO_UDP, a)).toBeUndefined();
    const nA = link.sent.length;
    expect(layer.send(PEER6, PROTO_UDP, b)).toBeUndefined();
    expect(nA).toBe(Math.ceil(4000 / 1232));
    for (const p of link.sent) {
      expect(p.length).toBeLessThanOrEqual(1280);
      const r = parseIpv6(p);
      expect(r).toMatchObject({ src: US6, dst: PEER6, nextHeader: 44, payloadLength: p.length - 40 });
    }
    for (const p of [...link.sent.slice(0, nA - 1)]) expect((p.length - 48) % 8).toBe(0);
    const got = reassembleSent(link.sent);
    expect(got).toHaveLength(2);
    expect(got[0]!.id).not.toBe(got[1]!.id);
    expect(got.map((g) => g.nh)).toEqual([PROTO_UDP, PROTO_UDP]);
    expect(sameBytes(got[0]!.payload, a) && sameBytes(got[1]!.payload, b)).toBe(true);
    const s = layer.stats();
    expect([s.Ip6FragOKs, s.Ip6FragCreates]).toEqual([2, link.sent.length]);
    // And another IPv6 layer, as the peer, reassembles them into the one datagram.
    const peer = new Ipv6Layer({ addresses: [PEER6], link: new FakeLink(1280) });
    const t = new FakeTransport(PROTO_UDP);
    peer.register(t);
    for (const p of link.sent.slice(0, nA).reverse()) peer.input(p, 0);
    expect(t.received).toHaveLength(1);
    expect(sameBytes(t.received[0]!.payload, a)).toBe(true);
  });
  it('too large for IPv6 without jumbograms: EMSGSIZE; the link refusing a fragment: ENOBUFS, Ip6FragFails', () => {
    const { layer, link } = setup();
    expect(layer.send(PEER6, PROTO_UDP, new Uint8Array(65536))).toBe('EMSGSIZE');
    expect(layer.send(PEER6, PROTO_UDP, new Uint8Array(65535))).toBeUndefined();
    link.accept = false;
    expect(layer.send(PEER6, PROTO_UDP, new Uint8Array(3000))).toBe('ENOBUFS');
    const s = layer.stats();
    expect([s.dropped.Ip6OutTooBig, s.Ip6FragFails, s.Ip6OutDiscards]).toEqual([1, 1, 1]);
  });
  it('loopback: to our own address or ::1, queued and received without touching the link', () => {
    let wakes = 0;
    const { layer, link, udp } = setup({ onLoopback: () => wakes++ });
    expect(layer.sourceFor(v6('::1'))).toBe(v6('::1'));
    expect(layer.send(US6, PROTO_UDP, bytes(3000, 1))).toBeUndefined();
    expect(layer.send(v6('::1'), PROTO_UDP, Uint8Array.of(9))).toBeUndefined();
    expect([link.sent.length, layer.loopbackPending, wakes]).toEqual([0, 2, 1]);
    expect(layer.deliverLoopback(0)).toBe(2);
    expect(udp.received.map((d) => [d.src, d.dst, d.payload.length])).toEqual([[US6, US6, 3000], [v6('::1'), v6('::1'), 1]]);
    expect(balanced(layer.stats())).toBe(true);
  });
  it('loopback and link sends interleaved: each destination goes its own way every time', () => {
    const { layer, link } = setup({ onLoopback: () => {} });
    for (let i = 0; i < 3; i++) {
      expect(layer.send(US6, PROTO_UDP, Uint8Array.of(i))).toBeUndefined();
      expect(layer.send(PEER6, PROTO_UDP, Uint8Array.of(i))).toBeUndefined();
      expect(layer.send(PEER6, PROTO_UDP, Uint8Array.of(i))).toBeUndefined();
      expect(layer.send(v6('::1'), PROTO_UDP, Uint8Array.of(i))).toBeUndefined();
    }
    expect([link.sent.length, layer.loopbackPending]).toEqual([6, 6]);
    expect(layer.pathMtu(US6)).toBe(65535);
    expect(layer.pathMtu(PEER6)).toBe(1500);
  });
  it('a destination that is no Ipv6Address throws, also right after a good one', () => {
    const { layer } = setup();
    // First of all, before any destination passed.
    expect(() => layer.send(undefined as unknown as Ipv6Address, PROTO_UDP, Uint8Array.of(1))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    for (const bad of [undefined, 'fd07::1', PEER6.slice(0, 15), `${PEER6}\0`, 7, '\u0100'.repeat(16)]) {
      expect(layer.send(PEER6, PROTO_UDP, Uint8Array.of(1))).toBeUndefined();
      expect(() => layer.send(bad as Ipv6Address, PROTO_UDP, Uint8Array.of(1))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
      const w: PayloadWriter = { writePayload() {} };
      expect(() => layer.sendWith(bad as Ipv6Address, PROTO_UDP, 0, w)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    }
  });
});

describe('multicast send with a local copy', () => {
  it('SendOptions.loopback: a whole copy through the loopback queue beside the send; hop limit 0 stays on this host', () => {
    const { layer, link, udp } = setup({ onLoopback: () => {} });
    const G = v6('ff02::1');
    expect(layer.send(G, PROTO_UDP, bytes(2000, 4), { loopback: true, ttl: 1 })).toBeUndefined();
    expect(layer.send(G, PROTO_UDP, Uint8Array.of(7), { loopback: true, ttl: 0 })).toBeUndefined();
    expect(link.sent.length).toBe(2); // the first, fragmented at 1500; the second not sent
    expect(layer.deliverLoopback(0)).toBe(2);
    expect(udp.received.map((d) => [d.payload.length, d.ttl, d.toBroadcast])).toEqual([[2000, 1, true], [1, 0, true]]);
    expect(() => layer.send(G, PROTO_UDP, Uint8Array.of(7), { ttl: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(layer.stats().Ip6OutMcastPkts).toBe(2);
  });
});

describe('path MTU from a translated Packet Too Big (RFC 8201)', () => {
  const ptb = (mtu: number, over: Partial<TransportError> = {}): TransportError => ({
    icmpType: 3, icmpCode: 4, reporter: v6('fd07::fe'), src: US6, dst: PEER6, protocol: PROTO_UDP,
    quoted: new Uint8Array(8), nextHopMtu: mtu, ...over,
  });
  it('lowers the path MTU, never below 1280, never raises it; the transport then sees the error', () => {
    const { layer, udp, link } = setup();
    expect(layer.pathMtu(PEER6)).toBe(1500);
    layer.deliverError(ptb(1400), 0);
    expect(layer.pathMtu(PEER6)).toBe(1400);
    expect(layer.maxSegmentPayload(PEER6)).toBe(1360);
    layer.deliverError(ptb(1450), 0);
    expect(layer.pathMtu(PEER6)).toBe(1400);
    layer.deliverError(ptb(600), 0);
    expect(layer.pathMtu(PEER6)).toBe(1280);
    expect(layer.pathMtu(v6('fd07::7'))).toBe(1500);
    expect(udp.errors).toHaveLength(3);
    expect(layer.stats().Ip6PmtuUpdates).toBe(2);
    layer.send(PEER6, PROTO_UDP, new Uint8Array(1300));
    expect(link.sent.map((p) => p.length <= 1280)).toEqual([true, true]);
    // Ages out like IPv4's (RFC 8201 §4: 10 minutes by default).
    expect(layer.pollAt()).toBe(600_000);
    layer.poll(600_000);
    expect(layer.pathMtu(PEER6)).toBe(1500);
  });
  it('errors not about our datagrams, or for a protocol without a transport, are dropped and counted', () => {
    const { layer } = setup();
    layer.deliverError(ptb(1400, { src: FAR6 }), 0);
    layer.deliverError(ptb(1400, { protocol: 99 }), 0);
    const s = layer.stats();
    expect([s.dropped.Ip6ErrorNotOurs, s.dropped.Ip6ErrorNoTransport]).toEqual([1, 1]);
  });
});
