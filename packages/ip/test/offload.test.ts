/**
 * The IP layer's offload path (registration.ts LinkOutput/IpOutput offload members):
 * sendSegment emits ONE datagram, larger than the MTU only through sendOffload and only
 * with TSO; output buffers keep the link's headroom; input takes the link's meta.
 */
import { describe, expect, it } from 'vitest';
import {
  DualStackIp, Ipv4Layer, Ipv6Layer, parseIpv4, parseIpv6, emptyIpv4Repr, PROTO_TCP, PROTO_UDP, type InboundDatagram, type LinkOutput,
  type PayloadWriter,
} from '@netstack/ip';
import { FakeLink, PEER, US, packet } from './harness.js';
import { PEER6, US6, pkt6 } from './harness6.js';

class OffloadLink implements LinkOutput {
  sent: Uint8Array[] = [];
  offloaded: { packet: Uint8Array; gsoSize: number; csumStart: number; csumOffset: number; headroom: Uint8Array }[] = [];
  readonly offloadHeadroom = 12;
  constructor(public mtu = 1500, public offload: LinkOutput['offload'] = { tso4: true, tso6: true, csum: true }) {}
  send(p: Uint8Array): boolean { this.sent.push(p.slice()); return true; }
  sendOffload(p: Uint8Array, gsoSize: number, csumStart: number, csumOffset: number): boolean {
    // The headroom is ours to write during the call (Link contract).
    const headroom = new Uint8Array(p.buffer, p.byteOffset - 12, 12);
    headroom.fill(0xaa);
    this.offloaded.push({ packet: p.slice(), gsoSize, csumStart, csumOffset, headroom: headroom.slice() });
    return true;
  }
}

const fill = (length: number): PayloadWriter => ({
  writePayload(buf, off) { for (let i = 0; i < length; i++) buf[off + i] = i & 0xff; },
});

describe('sendSegment', () => {
  it('emits a datagram larger than the MTU only via sendOffload, DF set, one piece', () => {
    const link = new OffloadLink();
    const layer = new Ipv4Layer({ address: US, prefixLength: 24, link, initialIdentification: 7 });
    expect(layer.checksumOffload).toBe(true);
    expect(layer.maxSegmentPayload(PEER)).toBe(65515);
    expect(layer.sendSegment(PEER, PROTO_TCP, 60_000, fill(60_000), 1448, 16)).toBeUndefined();
    expect(link.sent).toHaveLength(0);
    expect(link.offloaded).toHaveLength(1);
    const o = link.offloaded[0]!;
    expect(o).toMatchObject({ gsoSize: 1448, csumStart: 20, csumOffset: 16 });
    expect(o.packet.length).toBe(60_020);
    const r = parseIpv4(o.packet, emptyIpv4Repr());
    expect(r).toMatchObject({ totalLength: 60_020, dontFragment: true, moreFragments: false, protocol: PROTO_TCP, src: US, dst: PEER });
    expect(layer.stats()).toMatchObject({ OutOffloaded: 1, OutGsoDatagrams: 1, FragCreates: 0 });
  });

  it('without TSO a datagram over the path MTU is EMSGSIZE, never fragmented; sendWith still fragments', () => {
    const link = new OffloadLink(1500, { tso4: false, csum: true });
    const layer = new Ipv4Layer({ address: US, prefixLength: 24, link });
    expect(layer.maxSegmentPayload(PEER)).toBe(1480);
    expect(layer.sendSegment(PEER, PROTO_TCP, 3000, fill(3000), 1448, 16)).toBe('EMSGSIZE');
    expect(layer.sendSegment(PEER, PROTO_TCP, 1480, fill(1480), 0, 16)).toBeUndefined();
    expect(link.offloaded).toHaveLength(1);
    expect(layer.sendWith(PEER, PROTO_UDP, 3000, fill(3000))).toBeUndefined();
    expect(link.sent.map((p) => p.length)).toEqual([1500, 1500, 60]);
  });

  it('a link without offload: no checksumOffload, maxSegmentPayload = pathMtu - 20, sendSegment throws', () => {
    const layer = new Ipv4Layer({ address: US, prefixLength: 24, link: new FakeLink(1500) });
    expect(layer.checksumOffload).toBe(false);
    expect(layer.maxSegmentPayload(PEER)).toBe(1480);
    expect(() => layer.sendSegment(PEER, PROTO_TCP, 100, fill(100), 0, 16)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
  });

  it('reserves the headroom in front of every output datagram, fragments included', () => {
    const link = new OffloadLink(576);
    const layer = new Ipv4Layer({ address: US, prefixLength: 24, link });
    const seen: number[] = [];
    link.send = (p) => { seen.push(p.byteOffset); return true; };
    layer.sendWith(PEER, PROTO_UDP, 2000, fill(2000));
    expect(seen.length).toBeGreaterThan(1);
    for (const off of seen) expect(off).toBeGreaterThanOrEqual(12);
    layer.sendSegment(PEER, PROTO_TCP, 100, fill(100), 0, 16);
    expect(link.offloaded[0]!.headroom.every((b) => b === 0xaa)).toBe(true);
  });
});

describe('input with meta', () => {
  function setup() {
    const layer = new Ipv4Layer({ address: US, prefixLength: 24, link: new FakeLink(1500) });
    const got: { verified: boolean | undefined; len: number }[] = [];
    layer.register({ protocol: PROTO_TCP, receive: (d: InboundDatagram) => { got.push({ verified: d.checksumVerified, len: d.payload.length }); } });
    return { layer, got };
  }
  const meta = (csumPartial: boolean, dataValid = false, gsoType = 0, gsoSize = 0) => ({ csumPartial, dataValid, gsoType, gsoSize });

  it('NEEDS_CSUM or DATA_VALID become checksumVerified; none or no meta do not', () => {
    const { layer, got } = setup();
    const p = packet(new Uint8Array(100), { protocol: PROTO_TCP, src: PEER, dst: US });
    layer.input(p, 0);
    layer.input(p, 0, meta(false));
    layer.input(p, 0, meta(true));
    layer.input(p, 0, meta(false, true));
    expect(got.map((g) => g.verified)).toEqual([false, false, true, true]);
    expect(layer.stats().InChecksumVerified).toBe(2);
  });

  it('accepts a GSO super-segment larger than the link MTU', () => {
    const { layer, got } = setup();
    layer.input(packet(new Uint8Array(64_000), { protocol: PROTO_TCP, src: PEER, dst: US }), 0, meta(true, false, 1, 1448));
    expect(got).toEqual([{ verified: true, len: 64_000 }]);
    expect(layer.stats()).toMatchObject({ InGsoDatagrams: 1, InDelivers: 1 });
  });
});

describe('IPv6 sendSegment (TSO6)', () => {
  const layer6 = (link: OffloadLink) => new Ipv6Layer({ addresses: [US6], link });

  it('with TSO6 a TCP/IPv6 datagram larger than the MTU leaves whole via sendOffload: csum_start 40, no fragment header', () => {
    const link = new OffloadLink();
    const layer = layer6(link);
    expect(layer.checksumOffload).toBe(true);
    expect(layer.maxSegmentPayload(PEER6)).toBe(65495);
    expect(layer.sendSegment(PEER6, PROTO_TCP, 60_000, fill(60_000), 1428, 16, { flowLabel: 0x12345, tos: 2 })).toBeUndefined();
    expect(link.sent).toHaveLength(0);
    expect(link.offloaded).toHaveLength(1);
    const o = link.offloaded[0]!;
    expect(o).toMatchObject({ gsoSize: 1428, csumStart: 40, csumOffset: 16 });
    expect(o.packet.length).toBe(60_040);
    const r = parseIpv6(o.packet);
    expect(r).toMatchObject({ payloadLength: 60_000, nextHeader: PROTO_TCP, src: US6, dst: PEER6, flowLabel: 0x12345, trafficClass: 2 });
    expect(o.packet[40 + 59_999]).toBe(59_999 & 0xff);
    expect(o.headroom.every((b) => b === 0xaa)).toBe(true); // the link's headroom is in front of the datagram
    expect(layer.stats()).toMatchObject({ Ip6OutOffloaded: 1, Ip6OutGsoDatagrams: 1, Ip6FragCreates: 0 });
    // The largest: 65535 bytes in all.
    expect(layer.sendSegment(PEER6, PROTO_TCP, 65_495, fill(65_495), 1428, 16)).toBeUndefined();
    expect(layer.sendSegment(PEER6, PROTO_TCP, 65_496, fill(65_496), 1428, 16)).toBe('EMSGSIZE');
  });

  it('a link with TSO4 only: no IPv6 super-segment (EMSGSIZE, never fragmented), maxSegmentPayload = pathMtu - 40, checksum offload still used', () => {
    const link = new OffloadLink(1500, { tso4: true, csum: true });
    const layer = layer6(link);
    expect(layer.checksumOffload).toBe(true);
    expect(layer.maxSegmentPayload(PEER6)).toBe(1460);
    expect(layer.sendSegment(PEER6, PROTO_TCP, 3000, fill(3000), 1428, 16)).toBe('EMSGSIZE');
    expect(layer.sendSegment(PEER6, PROTO_TCP, 1460, fill(1460), 0, 16)).toBeUndefined();
    expect(link.offloaded.map((o) => o.packet.length)).toEqual([1500]);
    expect(link.sent).toHaveLength(0);
    expect(layer.stats()).toMatchObject({ Ip6OutOffloaded: 1, Ip6OutGsoDatagrams: 0, Ip6FragCreates: 0 });
  });

  it('a link without offload: no checksumOffload, sendSegment throws', () => {
    const layer = new Ipv6Layer({ addresses: [US6], link: new FakeLink(1500) });
    expect(layer.checksumOffload).toBe(false);
    expect(layer.maxSegmentPayload(PEER6)).toBe(1460);
    expect(() => layer.sendSegment(PEER6, PROTO_TCP, 100, fill(100), 0, 16)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
  });

  it('the flow label is the layer\'s keyed one when none is given, and the given one otherwise', () => {
    const link = new OffloadLink();
    const layer = new Ipv6Layer({ addresses: [US6], link, flowLabelKey: new Uint8Array(16).fill(3) });
    layer.sendSegment(PEER6, PROTO_TCP, 100, fill(100), 0, 16);
    layer.sendSegment(PEER6, PROTO_TCP, 100, fill(100), 0, 16, { flowLabel: 77 });
    const labels = link.offloaded.map((o) => parseIpv6(o.packet)).map((r) => (typeof r === 'string' ? -1 : r.flowLabel));
    expect(labels[0]).toBeGreaterThan(0);
    expect(labels[1]).toBe(77);
  });

  it('DualStackIp: sendSegment and checksumOffloadTo by family; TSO4 and TSO6 each as the link agreed', () => {
    const link = new OffloadLink(1500, { tso4: true, tso6: false, csum: true });
    const v4 = new Ipv4Layer({ address: US, prefixLength: 24, link });
    const dual = new DualStackIp(v4, new Ipv6Layer({ addresses: [US6], link, reassembler: v4.reassembler }));
    expect([dual.checksumOffloadTo(PEER), dual.checksumOffloadTo(PEER6)]).toEqual([true, true]);
    expect([dual.maxSegmentPayload(PEER), dual.maxSegmentPayload(PEER6)]).toEqual([65515, 1460]);
    expect(dual.sendSegment(PEER6, PROTO_TCP, 1000, fill(1000), 0, 16)).toBeUndefined();
    expect(parseIpv6(link.offloaded[0]!.packet)).toMatchObject({ dst: PEER6 });
    expect(new DualStackIp(new Ipv4Layer({ address: US, prefixLength: 24, link })).checksumOffloadTo(PEER6)).toBe(false);
  });
});

describe('IPv6 input with meta', () => {
  it('a TCPV6 super-segment larger than the link MTU is delivered whole, checksum trusted, counted', () => {
    const layer = new Ipv6Layer({ addresses: [US6], link: new FakeLink(1500) });
    const got: { verified: boolean | undefined; len: number }[] = [];
    layer.register({ protocol: PROTO_TCP, receive: (d: InboundDatagram) => { got.push({ verified: d.checksumVerified, len: d.payload.length }); } });
    layer.input(pkt6(new Uint8Array(64_000), { nh: PROTO_TCP }), 0, { csumPartial: true, dataValid: false, gsoType: 4, gsoSize: 1428 });
    layer.input(pkt6(new Uint8Array(1000), { nh: PROTO_TCP }), 0);
    expect(got).toEqual([{ verified: true, len: 64_000 }, { verified: false, len: 1000 }]);
    expect(layer.stats()).toMatchObject({ Ip6InGsoDatagrams: 1, Ip6InChecksumVerified: 1, Ip6InDelivers: 2 });
  });
});
