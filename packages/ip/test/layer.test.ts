import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Ipv4Layer, Ipv4Packet, parseIpv4, PROTO_TCP, PROTO_UDP, type IpAddress, type Ipv4Stats, type PayloadWriter, type TransportError,
} from '@netstack/ip';
import { FAR, FakeLink, FakeReporter, FakeTransport, PEER, US, bytes, fragments, ip, makeLayer, packet, sameBytes } from './harness.js';

function setup(over: Parameters<typeof makeLayer>[0] = {}) {
  const { layer, link } = makeLayer(over);
  const udp = new FakeTransport(PROTO_UDP);
  const reporter = new FakeReporter();
  layer.register(udp);
  layer.setErrorReporter(reporter);
  return { layer, link, udp, reporter };
}

/** The receive-path accounting identity documented in stats.ts. */
function balanced(s: Ipv4Stats): boolean {
  return s.InReceives + s.ReasmOKs === s.InHdrErrors + s.InAddrErrors + s.ReasmReqds + s.InUnknownProtos + s.InDelivers;
}

describe('input: validation drops are counted by reason', () => {
  const good = () => packet(Uint8Array.of(1, 2, 3, 4));
  const fix = (b: Uint8Array) => { new Ipv4Packet(b).fillChecksum(); return b; };
  it.each([
    ['bad version', () => fix(Object.assign(good(), { 0: 0x65 })), 'InBadVersion', 'InHdrErrors'],
    ['IHL < 5', () => Object.assign(good(), { 0: 0x43 }), 'InBadHeaderLength', 'InHdrErrors'],
    ['truncated', () => good().subarray(0, 22), 'InTruncatedPkts', 'InHdrErrors'],
    ['bad checksum', () => Object.assign(good(), { 10: 0 }), 'InCsumErrors', 'InHdrErrors'],
    ['multicast source', () => packet(Uint8Array.of(1), { src: ip('239.1.2.3') }), 'InMartianSrc', 'InAddrErrors'],
    ['directed-broadcast source', () => packet(Uint8Array.of(1), { src: ip('10.7.0.255') }), 'InMartianSrc', 'InAddrErrors'],
    ['another host’s address', () => packet(Uint8Array.of(1), { dst: ip('10.7.0.3') }), 'InNotForUs', 'InAddrErrors'],
  ] as const)('%s', (_n, make, reason, counter) => {
    const { layer, udp } = setup();
    layer.input(make(), 0);
    const s = layer.stats();
    expect(udp.received).toHaveLength(0);
    expect(s.dropped[reason]).toBe(1);
    expect(s[counter]).toBe(1);
    expect(s.InReceives).toBe(1);
    expect(s.InDelivers).toBe(0);
    expect(balanced(s)).toBe(true);
  });
});

describe('input: dispatch', () => {
  it('hands exactly the payload, with src/dst, to the registered transport', () => {
    const { layer, udp } = setup();
    const p = packet(Uint8Array.of(9, 8, 7), { ttl: 33 });
    const padded = new Uint8Array(p.length + 6).fill(0xaa); // link padding is trimmed
    padded.set(p);
    layer.input(padded, 5);
    expect(udp.received).toHaveLength(1);
    const r = udp.received[0]!;
    expect(Array.from(r.payload)).toEqual([9, 8, 7]);
    expect(Array.from(r.packet)).toEqual(Array.from(p));
    expect(r).toMatchObject({ src: PEER, dst: US, protocol: PROTO_UDP, ttl: 33, toBroadcast: false, reassembled: false });
    expect(layer.stats().InDelivers).toBe(1);
  });
  it.each([
    ['limited broadcast', '255.255.255.255'],
    ['directed broadcast', '10.7.0.255'],
    ['multicast', '224.0.0.251'],
  ])('accepts %s with toBroadcast set', (_n, dst) => {
    const { layer, udp } = setup();
    layer.input(packet(Uint8Array.of(1), { dst: ip(dst) }), 0);
    expect(udp.received[0]?.toBroadcast).toBe(true);
  });
  it('multicastFilter: a group the host is no member of is dropped as InNotForUs (RFC 1112 §6.2), asked with group and source', () => {
    const { layer, udp } = setup();
    const asked: string[] = [];
    layer.multicastFilter = (group, src) => {
      asked.push(`${group >>> 24}.${(group >>> 16) & 255}.${(group >>> 8) & 255}.${group & 255} ${src === PEER}`);
      return group === ip('239.1.1.1');
    };
    layer.input(packet(Uint8Array.of(1), { dst: ip('239.2.2.2') }), 0);
    layer.input(packet(Uint8Array.of(2), { dst: ip('239.1.1.1') }), 0);
    layer.input(packet(Uint8Array.of(3), { dst: ip('255.255.255.255') }), 0); // not multicast: not asked
    expect(asked).toEqual(['239.2.2.2 true', '239.1.1.1 true']);
    expect(udp.received.map((d) => d.payload[0])).toEqual([2, 3]);
    const s = layer.stats();
    expect(s.dropped.InNotForUs).toBe(1);
    expect(s.InAddrErrors).toBe(1);
    expect(balanced(s)).toBe(true);
  });
  it('with loopback on, a datagram from the link whose source is our own address is a martian (bad-source)', () => {
    const { layer, udp } = setup({ onLoopback: () => {} });
    layer.input(packet(Uint8Array.of(1), { src: US }), 0);
    expect(udp.received).toHaveLength(0);
    expect(layer.stats().dropped.InMartianSrc).toBe(1);
    const bare = setup();
    bare.layer.input(packet(Uint8Array.of(1), { src: US }), 0);
    expect(bare.udp.received).toHaveLength(1); // without loopback, as before
  });
  it('SendOptions.loopback: a whole local copy beside the send (even when fragmented); TTL 0 only with it, and then never sent', () => {
    let wake = 0;
    const { layer, link, udp } = setup({ onLoopback: () => wake++ });
    layer.multicastFilter = () => true;
    const G = ip('239.1.1.1');
    expect(layer.send(G, PROTO_UDP, new Uint8Array(3000), { loopback: true, ttl: 1 })).toBeUndefined();
    expect(link.sent.length).toBe(3); // fragmented on the link (MTU 1500)
    expect([layer.loopbackPending, wake]).toEqual([1, 1]);
    expect(layer.send(G, PROTO_UDP, Uint8Array.of(7), { loopback: true, ttl: 0 })).toBeUndefined();
    expect(link.sent.length).toBe(3); // TTL 0: not on the link
    expect(layer.deliverLoopback(0)).toBe(2);
    expect(udp.received.map((d) => [d.payload.length, d.ttl, d.toBroadcast])).toEqual([[3000, 1, true], [1, 0, true]]);
    expect(() => layer.send(G, PROTO_UDP, Uint8Array.of(7), { ttl: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    // Without loopback on, the option only sends (and TTL 0 goes nowhere).
    const bare = setup();
    expect(bare.layer.send(G, PROTO_UDP, Uint8Array.of(1), { loopback: true, ttl: 0 })).toBeUndefined();
    expect(bare.layer.send(G, PROTO_UDP, Uint8Array.of(1), { loopback: true })).toBeUndefined();
    expect(bare.link.sent.length).toBe(1);
  });
  it('unknown protocol: counted, and protocol unreachable (code 2) quoting the datagram', () => {
    const { layer, reporter } = setup();
    const p = packet(Uint8Array.of(1, 2), { protocol: 99 });
    layer.input(p, 0);
    expect(reporter.unreachable).toHaveLength(1);
    expect(reporter.unreachable[0]!.code).toBe(2);
    expect(Array.from(reporter.unreachable[0]!.packet)).toEqual(Array.from(p));
    const s = layer.stats();
    expect(s.InUnknownProtos).toBe(1);
    expect(s.dropped.InUnknownProtos).toBe(1);
    expect(balanced(s)).toBe(true);
  });
  it('unknown protocol to a broadcast/multicast destination never triggers an ICMP error', () => {
    const { layer, reporter } = setup();
    for (const dst of ['255.255.255.255', '10.7.0.255', '224.0.0.1']) layer.input(packet(Uint8Array.of(1), { protocol: 99, dst: ip(dst) }), 0);
    expect(reporter.unreachable).toHaveLength(0);
    expect(layer.stats().InUnknownProtos).toBe(3);
    expect(layer.stats().OutErrorReportsSuppressed).toBe(3);
  });
  it('unknown protocol without a reporter is only counted', () => {
    const { layer } = makeLayer();
    expect(() => layer.input(packet(Uint8Array.of(1), { protocol: 99 }), 0)).not.toThrow();
    expect(layer.stats().InUnknownProtos).toBe(1);
  });
  it('reportUnreachable: never for a non-first fragment or a non-host source; fine for a reassembled datagram', () => {
    const { layer, reporter } = setup();
    const dg = (over: object) => ({
      src: PEER, dst: US, protocol: 17, ttl: 64, tos: 0, payload: new Uint8Array(8), packet: packet(new Uint8Array(8)),
      headerLength: 20, toBroadcast: false, reassembled: false, ...over,
    });
    layer.reportUnreachable(3, dg({ packet: packet(new Uint8Array(8), { fragmentOffset: 8 }) }), 0);
    layer.reportUnreachable(3, dg({ src: 0 }), 0);
    layer.reportUnreachable(3, dg({ toBroadcast: true }), 0);
    expect(reporter.unreachable).toHaveLength(0);
    layer.reportUnreachable(3, dg({ reassembled: true, packet: packet(new Uint8Array(8), { fragmentOffset: 0 }) }), 0);
    layer.reportUnreachable(3, dg({}), 0);
    expect(reporter.unreachable.map((u) => u.code)).toEqual([3, 3]);
  });
  it('register refuses a second transport for a protocol', () => {
    const { layer } = setup();
    expect(() => layer.register(new FakeTransport(PROTO_UDP))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
  });
});

describe('routing and send', () => {
  const GW = ip('10.7.0.1');
  it('on-link goes direct, off-link to the gateway, else ENETUNREACH', () => {
    const withGw = makeLayer({ gateway: GW }).layer;
    const noGw = makeLayer().layer;
    expect(withGw.route(ip('10.7.0.9'))).toBe(ip('10.7.0.9'));
    expect(withGw.route(FAR)).toBe(GW);
    expect(withGw.sourceFor(FAR)).toBe(US);
    expect(noGw.route(FAR)).toBeUndefined();
    expect(noGw.sourceFor(FAR)).toBeUndefined();
    expect(noGw.route(ip('255.255.255.255'))).toBe(ip('255.255.255.255'));
    expect(noGw.send(FAR, PROTO_UDP, new Uint8Array(10))).toBe('ENETUNREACH');
    expect(noGw.stats().OutNoRoutes).toBe(1);
    expect(withGw.send(FAR, PROTO_UDP, new Uint8Array(10))).toBeUndefined();
    expect(withGw.send(ip('127.0.0.1'), PROTO_UDP, new Uint8Array(10))).toBe('ENETUNREACH');
  });
  it('sends one well-formed datagram: TTL 64, our source, incrementing identification', () => {
    const { layer, link } = makeLayer();
    expect(layer.send(PEER, PROTO_TCP, Uint8Array.of(1, 2, 3))).toBeUndefined();
    expect(layer.send(PEER, PROTO_TCP, Uint8Array.of(4), { ttl: 5, tos: 0x10, dontFragment: true })).toBeUndefined();
    const [a, b] = link.sent.map((p) => parseIpv4(p));
    expect(a).toMatchObject({ src: US, dst: PEER, protocol: PROTO_TCP, ttl: 64, identification: 0x1000, totalLength: 23, dontFragment: false });
    expect(b).toMatchObject({ ttl: 5, tos: 0x10, identification: 0x1001, dontFragment: true });
    expect(Array.from(link.sent[0]!.subarray(20))).toEqual([1, 2, 3]);
  });
  it('sendWith lets the writer fill the payload in place, given the source address', () => {
    const { layer, link } = makeLayer();
    const seen: IpAddress[] = [];
    const w: PayloadWriter = { writePayload(buf, off, src, dst) { seen.push(src, dst); buf.fill(7, off, off + 5); } };
    expect(layer.sendWith(PEER, PROTO_UDP, 5, w)).toBeUndefined();
    expect(seen).toEqual([US, PEER]);
    expect(Array.from(link.sent[0]!.subarray(20))).toEqual([7, 7, 7, 7, 7]);
  });
  it('EMSGSIZE above 65515 bytes of payload; ENOBUFS when the link refuses', () => {
    const { layer, link } = makeLayer();
    expect(layer.send(PEER, PROTO_UDP, new Uint8Array(65516))).toBe('EMSGSIZE');
    expect(layer.send(PEER, PROTO_UDP, new Uint8Array(65515))).toBeUndefined();
    link.accept = false;
    expect(layer.send(PEER, PROTO_UDP, new Uint8Array(10))).toBe('ENOBUFS');
    expect(layer.send(PEER, PROTO_UDP, new Uint8Array(4000))).toBe('ENOBUFS');
    const s = layer.stats();
    expect(s.OutDiscards).toBe(2);
    expect(s.FragFails).toBe(1);
    expect(s.OutRequests).toBe(4);
  });
  it('bad arguments throw coded errors', () => {
    const { layer } = makeLayer();
    expect(() => layer.send(PEER, 256, new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => layer.send(PEER, 17, new Uint8Array(1), { ttl: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => layer.send(-1, 17, new Uint8Array(1))).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => layer.send(PEER, 17, [1] as unknown as Uint8Array)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => new Ipv4Layer({ address: 'nope', prefixLength: 24, link: new FakeLink() })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => new Ipv4Layer({ address: US, prefixLength: 33, link: new FakeLink() })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => new Ipv4Layer({ address: US, prefixLength: 24, gateway: FAR, link: new FakeLink() })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => new Ipv4Layer({ address: US, prefixLength: 24, link: new FakeLink(), limits: { maxReassemblies: 0 } })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });
});

describe('fragmentation on send (RFC 791 §3.2)', () => {
  it('4000 bytes at MTU 1500: three fragments with the right offsets, MF, lengths, checksums', () => {
    const { layer, link } = makeLayer();
    const data = bytes(4000, 1);
    expect(layer.send(PEER, PROTO_UDP, data)).toBeUndefined();
    expect(link.sent).toHaveLength(3);
    const rs = link.sent.map((p) => parseIpv4(p)); // a string here would be a bad checksum/length
    expect(rs.map((r) => typeof r === 'string' ? r : [r.fragmentOffset, r.moreFragments, r.totalLength, r.identification]))
      .toEqual([[0, true, 1500, 0x1000], [1480, true, 1500, 0x1000], [2960, false, 1060, 0x1000]]);
    expect(link.sent.map((p) => (p[6]! << 8) | p[7]!)).toEqual([0x2000, 0x2000 | 185, 370]); // offsets in 8-byte units
    expect(link.sent.every((p) => new Ipv4Packet(p).verifyChecksum())).toBe(true);
    const joined = new Uint8Array(4000);
    for (const p of link.sent) joined.set(p.subarray(20), (((p[6]! << 8) | p[7]!) & 0x1fff) * 8);
    expect(joined).toEqual(data);
    const s = layer.stats();
    expect([s.FragOKs, s.FragCreates, s.FragFails]).toEqual([1, 3, 0]);
  });
  it('the fragments reassemble in another layer, delivered once with reassembled: true', () => {
    const aLink = new FakeLink();
    const sender = new Ipv4Layer({ address: PEER, prefixLength: 24, link: aLink, initialIdentification: 7 });
    const { layer: receiver, udp } = setup();
    const data = bytes(4000, 2);
    sender.send(US, PROTO_UDP, data);
    for (const p of aLink.sent.reverse()) receiver.input(p, 0);
    expect(udp.received).toHaveLength(1);
    expect(udp.received[0]!.reassembled).toBe(true);
    expect(udp.received[0]!.payload).toEqual(data);
    const hdr = parseIpv4(udp.received[0]!.packet);
    expect(hdr).toMatchObject({ totalLength: 4020, moreFragments: false, fragmentOffset: 0, identification: 7, src: PEER });
    expect(receiver.reassemblyUsage()).toEqual({ datagrams: 0, bytes: 0 });
  });
  it('DF and too big: EMSGSIZE, nothing sent, FragFails', () => {
    const { layer, link } = makeLayer();
    expect(layer.send(PEER, PROTO_UDP, new Uint8Array(1481), { dontFragment: true })).toBe('EMSGSIZE');
    expect(layer.send(PEER, PROTO_UDP, new Uint8Array(1480), { dontFragment: true })).toBeUndefined();
    expect(link.sent).toHaveLength(1);
    expect(layer.stats().FragFails).toBe(1);
  });
  it('any payload at any MTU: fragments fit the MTU, carry 8-aligned pieces, and reassemble exactly', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 65515 }), fc.integer({ min: 68, max: 9000 }), fc.nat(), (len, mtu, seed) => {
      const link = new FakeLink(mtu);
      const sender = new Ipv4Layer({ address: PEER, prefixLength: 24, link, initialIdentification: 1 });
      const { layer: receiver, udp } = setup({ limits: { maxReassemblyBytes: 1 << 20 } });
      const data = bytes(len, seed);
      expect(sender.send(US, PROTO_UDP, data)).toBeUndefined();
      for (const p of link.sent) {
        if (p.length > mtu) throw new Error(`fragment of ${p.length} > MTU ${mtu}`);
        const r = parseIpv4(p);
        if (typeof r === 'string') throw new Error(r);
        if (r.moreFragments && r.payloadLength % 8 !== 0) throw new Error('unaligned fragment');
        receiver.input(p, 0);
      }
      expect(udp.received).toHaveLength(1);
      expect(sameBytes(udp.received[0]!.payload, data)).toBe(true);
    }), { numRuns: 40 });
  });
});

describe('path MTU (RFC 1191)', () => {
  const err = (over: Partial<TransportError>): TransportError => ({
    icmpType: 3, icmpCode: 4, reporter: ip('10.7.0.1'), src: US, dst: FAR, protocol: PROTO_UDP, quoted: new Uint8Array(8), nextHopMtu: 1400, ...over,
  });
  it('fragmentation-needed lowers pathMtu(dst) before the transport hears of it; fragments follow', () => {
    const { layer, link, udp } = setup({ gateway: ip('10.7.0.1') });
    let seenMtu = 0;
    udp.receiveError = (e) => { seenMtu = layer.pathMtu(e.dst); };
    layer.deliverError(err({}), 0);
    expect(layer.pathMtu(FAR)).toBe(1400);
    expect(seenMtu).toBe(1400);
    expect(layer.pathMtu(PEER)).toBe(1500);
    layer.send(FAR, PROTO_UDP, new Uint8Array(1400));
    expect(link.sent.map((p) => p.length)).toEqual([1396, 44]);
    expect(layer.send(FAR, PROTO_UDP, new Uint8Array(1400), { dontFragment: true })).toBe('EMSGSIZE');
  });
  it('never increases; never below minPmtu (552): a lower report locks the path there and DF is dropped', () => {
    const { layer, link } = setup({ gateway: ip('10.7.0.1') });
    layer.deliverError(err({ nextHopMtu: 1000 }), 0);
    layer.deliverError(err({ nextHopMtu: 1200 }), 0);
    expect(layer.pathMtu(FAR)).toBe(1000);
    layer.send(FAR, PROTO_UDP, new Uint8Array(100), { dontFragment: true });
    expect(parseIpv4(link.sent.pop()!)).toMatchObject({ dontFragment: true });
    // A (possibly forged) report of 20 bytes: clamped to the floor, the path locked.
    layer.deliverError(err({ nextHopMtu: 20 }), 0);
    expect(layer.pathMtu(FAR)).toBe(552);
    expect(layer.send(FAR, PROTO_UDP, new Uint8Array(100), { dontFragment: true })).toBeUndefined();
    expect(parseIpv4(link.sent.pop()!)).toMatchObject({ dontFragment: false, totalLength: 120 });
    // Locked at the floor, a DF datagram larger than 552 is fragmented rather than refused.
    expect(layer.send(FAR, PROTO_UDP, new Uint8Array(1000), { dontFragment: true })).toBeUndefined();
    expect(link.sent.splice(0).map((p) => p.length)).toEqual([548, 492]);
    // Other destinations keep DF.
    layer.send(PEER, PROTO_UDP, new Uint8Array(10), { dontFragment: true });
    expect(parseIpv4(link.sent.pop()!)).toMatchObject({ dontFragment: true });
    // The lock ages out with the entry (RFC 1191 §6.3).
    layer.poll(600_001);
    expect(layer.pathMtu(FAR)).toBe(1500);
    layer.send(FAR, PROTO_UDP, new Uint8Array(10), { dontFragment: true });
    expect(parseIpv4(link.sent.pop()!)).toMatchObject({ dontFragment: true });
  });
  it('the transport hears the estimate in use, not the raw report: a forged 68 or 20 gives 552, an old router\'s 0 the plateau (RFC 5927 §7.3)', () => {
    // A forged fragmentation-needed of 68 used to reach TCP as 68, and TCP took its MSS to
    // its own 88-byte floor although the cache kept 552 (seen against netstack serve).
    const { layer, udp } = setup({ gateway: ip('10.7.0.1') });
    const seen: number[] = [];
    udp.receiveError = (e) => { seen.push(e.nextHopMtu); };
    for (const nextHopMtu of [68, 20, 1000]) layer.deliverError(err({ nextHopMtu }), 0);
    expect(seen).toEqual([552, 552, 552]);
    const fresh = setup();
    fresh.udp.receiveError = (e) => { seen.push(e.nextHopMtu); };
    fresh.layer.deliverError(err({ nextHopMtu: 0, originalLength: 1500 }), 0);
    fresh.layer.deliverError(err({ icmpCode: 3, nextHopMtu: 0 }), 0); // not code 4: untouched
    expect(seen.slice(3)).toEqual([1492, 0]);
  });
  it('a report the transport says it cannot have caused (acceptsPathMtu false: a blind forgery) lowers nothing, and still reaches it (RFC 5927 §7.2)', () => {
    // Before: any fragmentation-needed quoting our address lowered the cache, so a forged one
    // with a made-up TCP sequence number took netstack serve's connections to that
    // destination down to 552 (EMSGSIZE, then MSS 512) although TCP ignored it.
    const { layer, udp } = setup({ gateway: ip('10.7.0.1') });
    let accept = false;
    udp.acceptsPathMtu = () => accept;
    const seen: number[] = [];
    udp.receiveError = (e) => { seen.push(e.nextHopMtu); };
    layer.deliverError(err({ nextHopMtu: 68 }), 0);
    expect(layer.pathMtu(FAR)).toBe(1500);
    expect(layer.stats().PmtuUpdates).toBe(0);
    accept = true;
    layer.deliverError(err({ nextHopMtu: 1000 }), 0);
    expect(layer.pathMtu(FAR)).toBe(1000);
    expect(seen).toEqual([68, 1000]);
  });
  it('limits.minPmtu: 68 restores the absolute floor of RFC 791', () => {
    const { layer } = setup({ limits: { minPmtu: 68 } });
    layer.deliverError(err({ nextHopMtu: 20 }), 0);
    expect(layer.pathMtu(FAR)).toBe(68);
  });
  it('nextHopMtu 0 (old router): plateau below the quoted length, else below the current estimate', () => {
    const { layer } = setup();
    layer.deliverError(err({ nextHopMtu: 0, originalLength: 1500 }), 0);
    expect(layer.pathMtu(FAR)).toBe(1492);
    layer.deliverError(err({ nextHopMtu: 0 }), 0);
    expect(layer.pathMtu(FAR)).toBe(1006);
  });
  it('other ICMP errors are routed to the transport without touching the PMTU', () => {
    const { layer, udp } = setup();
    layer.deliverError(err({ icmpCode: 3, nextHopMtu: 0 }), 0);
    expect(udp.errors).toHaveLength(1);
    expect(udp.errors[0]!.icmpCode).toBe(3);
    expect(layer.pathMtu(FAR)).toBe(1500);
    layer.deliverError(err({ protocol: 99 }), 0);
    layer.deliverError(err({ src: ip('10.7.0.77') }), 0);
    expect(layer.stats().dropped.ErrorNoTransport).toBe(1);
    expect(layer.stats().dropped.ErrorNotOurs).toBe(1);
  });
  it('ages out 10 minutes after the last decrease (pollAt/poll)', () => {
    const { layer } = setup();
    expect(layer.pollAt()).toBe(Infinity);
    layer.deliverError(err({}), 1000);
    expect(layer.pollAt()).toBe(601_000);
    layer.poll(600_999);
    expect(layer.pathMtu(FAR)).toBe(1400);
    layer.poll(601_000);
    expect(layer.pathMtu(FAR)).toBe(1500);
    expect(layer.pollAt()).toBe(Infinity);
  });
  it('the cache is bounded: the oldest estimate is evicted', () => {
    const { layer } = setup({ limits: { maxPmtuEntries: 3 } });
    for (let i = 0; i < 5; i++) layer.deliverError(err({ dst: FAR + i }), i);
    expect(layer.pmtuCacheSize()).toBe(3);
    expect(layer.pathMtu(FAR)).toBe(1500);
    expect(layer.pathMtu(FAR + 4)).toBe(1400);
  });
});

describe('input never throws, and every packet is delivered or counted', () => {
  // Valid-looking packets for us (some fragmented), then mangled at random.
  const validish = fc
    .record({
      payload: fc.uint8Array({ maxLength: 64 }),
      protocol: fc.constantFrom(6, 17, 99),
      dst: fc.constantFrom(US, ip('10.7.0.255'), ip('10.7.0.9'), 0xffffffff),
      id: fc.nat({ max: 3 }),
      off: fc.nat({ max: 8 }).map((x) => x * 8),
      mf: fc.boolean(),
      flips: fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { maxLength: 3 }),
      cut: fc.option(fc.nat()),
    })
    .map(({ payload, protocol, dst, id, off, mf, flips, cut }) => {
      let p = packet(payload, { protocol, dst, identification: id, fragmentOffset: off, moreFragments: mf });
      for (const [at, v] of flips) p[at % p.length] = v;
      if (cut !== null) p = p.subarray(0, cut % (p.length + 1));
      return p;
    });
  it('holds for arbitrary bytes and mangled packets', () => {
    fc.assert(fc.property(fc.array(fc.oneof(fc.uint8Array({ maxLength: 80 }), validish), { maxLength: 40 }), (pkts) => {
      const { layer, udp } = setup({ limits: { maxReassemblies: 4, maxReassemblyBytes: 5000 } });
      layer.register(new FakeTransport(PROTO_TCP));
      let t = 0;
      for (const p of pkts) {
        expect(() => layer.input(p, t)).not.toThrow();
        t += 1000;
        layer.poll(t);
      }
      const s = layer.stats();
      expect(s.InReceives).toBe(pkts.length);
      expect(balanced(s)).toBe(true);
      expect(udp.received.length).toBeLessThanOrEqual(s.InDelivers);
      expect(layer.reassemblyUsage().bytes).toBeLessThanOrEqual(5000);
    }), { numRuns: 300 });
  });
});

describe('re-entrancy', () => {
  it('a send from inside link.send (mid-fragmentation) does not corrupt the outer datagram', () => {
    const link = new FakeLink(576);
    const sender = new Ipv4Layer({ address: PEER, prefixLength: 24, link, initialIdentification: 1 });
    const inner = bytes(1000, 21);
    const outer = bytes(3000, 22);
    const plain = link.send.bind(link);
    let nested = false;
    link.send = (p) => {
      const ok = plain(p);
      if (!nested) { nested = true; expect(sender.send(US, PROTO_UDP, inner)).toBeUndefined(); }
      return ok;
    };
    expect(sender.send(US, PROTO_UDP, outer)).toBeUndefined();
    const { layer: receiver, udp } = setup();
    for (const p of link.sent) receiver.input(p, 0);
    const got = udp.received.map((r) => r.payload.length).sort((a, b) => a - b);
    expect(got).toEqual([1000, 3000]);
    expect(sameBytes(udp.received.find((r) => r.payload.length === 3000)!.payload, outer)).toBe(true);
    expect(sameBytes(udp.received.find((r) => r.payload.length === 1000)!.payload, inner)).toBe(true);
  });
  it('input from inside a transport’s receive gets its own scratch', () => {
    const { layer } = setup();
    const seen: number[][] = [];
    let depth = 0;
    layer.register({
      protocol: 6,
      receive(d) {
        const before = Array.from(d.payload);
        if (depth++ === 0) for (const p of fragments(bytes(64, 23), [32], { protocol: 6, identification: 77 })) layer.input(p, 0);
        seen.push(before, Array.from(d.payload));
      },
    });
    for (const p of fragments(bytes(80, 24), [40], { protocol: 6, identification: 78 })) layer.input(p, 0);
    // inner datagram first (pushed before the outer finishes), then the outer: unchanged across the nested input
    expect(seen).toHaveLength(4);
    expect(seen[2]).toEqual(seen[3]);
    expect(seen[2]).toEqual(Array.from(bytes(80, 24)));
  });
});
