/**
 * DualStackIp (dual.ts): input demultiplexed by the version nibble, output and every
 * per-destination question by the destination's family, registration on both layers,
 * and the IPv4 path byte-identical to a bare Ipv4Layer's.
 */
import { describe, expect, it } from 'vitest';
import {
  DualStackIp, Ipv4Layer, Ipv6Layer, PROTO_UDP, parseIpv4, parseIpv6, type PayloadWriter, type TransportError,
} from '@netstack/ip';
import { FakeLink, FakeTransport, PEER, US, bytes, ip, packet, sameBytes } from './harness.js';
import { PEER6, US6, pkt6, v6 } from './harness6.js';

function setup(withV6 = true) {
  const link = new FakeLink(1500);
  const v4 = new Ipv4Layer({ address: US, prefixLength: 24, link, initialIdentification: 0x1000 });
  const v6l = withV6 ? new Ipv6Layer({ addresses: [US6], link, reassembler: v4.reassembler }) : undefined;
  const dual = new DualStackIp(v4, v6l);
  const udp = new FakeTransport(PROTO_UDP);
  dual.register(udp);
  return { link, v4, v6: v6l, dual, udp };
}

describe('input: by version nibble', () => {
  it('4 to the IPv4 layer, 6 to the IPv6 layer, to the one transport registered on both', () => {
    const { dual, udp } = setup();
    dual.input(packet(Uint8Array.of(4)), 0);
    dual.input(pkt6(Uint8Array.of(6)), 0);
    expect(udp.received.map((d) => [typeof d.src, d.payload[0]])).toEqual([['number', 4], ['string', 6]]);
    const s = dual.stats();
    expect([s.ipv4.InDelivers, s.ipv6?.Ip6InDelivers, s.dispatch.InReceives]).toEqual([1, 1, 2]);
  });
  it('any other version, an empty packet, or 6 without an IPv6 layer: counted, never delivered', () => {
    const { dual, udp } = setup();
    dual.input(Object.assign(packet(Uint8Array.of(1)), { 0: 0x55 }), 0);
    dual.input(new Uint8Array(0), 0);
    const bare = setup(false);
    bare.dual.input(pkt6(Uint8Array.of(6)), 0);
    expect(udp.received.length + bare.udp.received.length).toBe(0);
    expect(dual.stats().dispatch).toMatchObject({ InReceives: 2, InBadVersion: 2, InNoIpv6: 0 });
    expect(dual.stats().ipv4.InReceives).toBe(0);
    expect(bare.dual.stats().dispatch).toMatchObject({ InNoIpv6: 1 });
    expect(bare.dual.stats().ipv6).toBeUndefined();
  });
  it('unregister removes the transport from both families', () => {
    const { dual, udp } = setup();
    dual.unregister(PROTO_UDP);
    dual.input(packet(Uint8Array.of(4)), 0);
    dual.input(pkt6(Uint8Array.of(6)), 0);
    expect(udp.received).toHaveLength(0);
    const s = dual.stats();
    expect([s.ipv4.InUnknownProtos, s.ipv6?.Ip6InUnknownProtos]).toEqual([1, 1]);
  });
});

describe('output: by destination family', () => {
  it('a number goes out as IPv4, a string as IPv6, with the right source', () => {
    const { dual, link } = setup();
    expect(dual.send(PEER, PROTO_UDP, Uint8Array.of(1))).toBeUndefined();
    const w: PayloadWriter = { writePayload(buf, off) { buf[off] = 2; } };
    expect(dual.sendWith(PEER6, PROTO_UDP, 1, w)).toBeUndefined();
    expect(link.sent.map((p) => p[0]! >>> 4)).toEqual([4, 6]);
    expect(parseIpv4(link.sent[0]!)).toMatchObject({ src: US, dst: PEER });
    expect(parseIpv6(link.sent[1]!)).toMatchObject({ src: US6, dst: PEER6 });
    expect([dual.sourceFor(PEER), dual.sourceFor(PEER6)]).toEqual([US, US6]);
    expect([dual.networkHeaderLength(PEER), dual.networkHeaderLength(PEER6)]).toEqual([20, 40]);
    expect([dual.isLocalAddress(US), dual.isLocalAddress(US6), dual.isLocalAddress(PEER6)]).toEqual([true, true, false]);
    expect(dual.address).toBe(US);
  });
  it('without an IPv6 layer an IPv6 destination has no route', () => {
    const { dual, link } = setup(false);
    expect(dual.sourceFor(PEER6)).toBeUndefined();
    expect(dual.send(PEER6, PROTO_UDP, Uint8Array.of(1))).toBe('ENETUNREACH');
    expect(link.sent).toHaveLength(0);
    expect(dual.stats().dispatch.OutNoIpv6).toBe(1);
  });
  it('path MTU per family: a Packet Too Big lowers the IPv6 path only; errors route by family', () => {
    const { dual, udp } = setup();
    const e: TransportError = {
      icmpType: 3, icmpCode: 4, reporter: v6('fd07::fe'), src: US6, dst: PEER6, protocol: PROTO_UDP, quoted: new Uint8Array(8), nextHopMtu: 1000,
    };
    dual.deliverError(e, 0);
    expect([dual.pathMtu(PEER6), dual.pathMtu(PEER), dual.maxSegmentPayload(PEER6)]).toEqual([1280, 1500, 1240]);
    dual.deliverError({ ...e, reporter: ip('10.7.0.254'), src: US, dst: PEER, nextHopMtu: 1400 }, 0);
    expect([dual.pathMtu(PEER6), dual.pathMtu(PEER)]).toEqual([1280, 1400]);
    expect(udp.errors.map((x) => typeof x.dst)).toEqual(['string', 'number']);
    expect(dual.pollAt()).toBe(600_000);
  });
  it('sendSegment over a link without offload throws for either family (offload.test.ts has the offload path)', () => {
    const { dual } = setup();
    const w: PayloadWriter = { writePayload() {} };
    expect([dual.checksumOffloadTo(PEER), dual.checksumOffloadTo(PEER6)]).toEqual([false, false]);
    expect(() => dual.sendSegment(PEER6, 6, 20, w, 0, 16)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
    expect(() => dual.sendSegment(PEER, 6, 20, w, 0, 16)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
  });
});

describe('the IPv4 path is unchanged', () => {
  it('the same sends and receives give the same bytes and counters as a bare Ipv4Layer', () => {
    const bareLink = new FakeLink(1500);
    const bare = new Ipv4Layer({ address: US, prefixLength: 24, link: bareLink, initialIdentification: 0x1000 });
    const bareUdp = new FakeTransport(PROTO_UDP);
    bare.register(bareUdp);
    const { dual, link, udp } = setup();
    for (const [n, seed] of [[10, 1], [3000, 2], [1472, 3]] as const) {
      bare.send(PEER, PROTO_UDP, bytes(n, seed), { tos: 2 });
      dual.send(PEER, PROTO_UDP, bytes(n, seed), { tos: 2 });
    }
    expect(link.sent.length).toBe(bareLink.sent.length);
    expect(link.sent.every((p, i) => sameBytes(p, bareLink.sent[i]!))).toBe(true);
    for (const p of bareLink.sent.map((x) => x.slice())) {
      // Back as if the peer sent them to us: swap the addresses' roles through a fresh packet.
      const r = parseIpv4(p);
      if (typeof r === 'string') throw new Error(r);
      const back = packet(p.subarray(20), { src: PEER, dst: US, identification: r.identification, moreFragments: r.moreFragments, fragmentOffset: r.fragmentOffset });
      bare.input(back, 0);
      dual.input(back, 0);
    }
    expect(udp.received.map((d) => d.payload.length)).toEqual(bareUdp.received.map((d) => d.payload.length));
    expect(dual.stats().ipv4).toEqual(bare.stats());
  });
});
