/**
 * Ipv6Layer.configure: the IPv6 addressing replaced at runtime (SLAAC: an address formed
 * from a router's prefix, a router learnt or gone, an address expired). Acceptance, routes
 * and the source choice follow at once.
 */
import { describe, expect, it } from 'vitest';
import { Ipv6Layer, PROTO_UDP } from '@netstack/ip';
import { FakeLink, FakeTransport } from './harness.js';
import { pkt6, v6 } from './harness6.js';

const LL = v6('fe80::ff:fe00:f02');
const SLAAC = v6('fd07::ff:fe00:f02');
const ROUTER = v6('fe80::1');
const PEER = v6('fd07::1');
const FAR = v6('2001:db8::9');
const srcOf = (p: Uint8Array): string => Buffer.from(p.subarray(8, 24)).toString('hex');
const hex = (a: string): string => Buffer.from(a, 'latin1').toString('hex');

describe('Ipv6Layer.configure', () => {
  it('from the link-local address alone to a SLAAC address and a router, and back', () => {
    const link = new FakeLink();
    const layer = new Ipv6Layer({ addresses: [LL], prefixLength: 64, link });
    const udp = new FakeTransport(PROTO_UDP);
    layer.register(udp);
    const udpBody = Uint8Array.of(0, 1, 0, 2, 0, 9, 0, 0, 7);
    layer.input(pkt6(udpBody, { src: PEER, dst: SLAAC }), 0);
    expect(udp.received).toHaveLength(0);
    expect(layer.send(FAR, PROTO_UDP, Uint8Array.of(1))).toBe('ENETUNREACH');

    expect(layer.configure({ addresses: [LL, SLAAC], gateway: ROUTER })).toBe(true);
    expect([layer.address, layer.addresses, layer.prefixLength, layer.gateway]).toEqual([LL, [LL, SLAAC], 64, ROUTER]);
    layer.input(pkt6(udpBody, { src: PEER, dst: SLAAC }), 0);
    expect(udp.received.map((r) => r.dst)).toEqual([SLAAC]);
    // fd07::1 is on-link by the second address's prefix; far away goes to the router; the source is the global address.
    expect(layer.route(PEER)).toBe(PEER);
    expect(layer.route(FAR)).toBe(ROUTER);
    expect(layer.send(FAR, PROTO_UDP, Uint8Array.of(1))).toBeUndefined();
    expect(layer.send(ROUTER, PROTO_UDP, Uint8Array.of(1))).toBeUndefined();
    expect(link.sent.map(srcOf)).toEqual([hex(SLAAC), hex(LL)]);
    expect(layer.configure({ addresses: [LL, SLAAC], gateway: ROUTER })).toBe(false);
    // The address expired and the router went.
    expect(layer.configure({ addresses: [LL] })).toBe(true);
    expect(layer.route(FAR)).toBeUndefined();
    layer.input(pkt6(udpBody, { src: PEER, dst: SLAAC }), 0);
    expect(udp.received).toHaveLength(1);
    expect(() => layer.configure({ addresses: [] })).toThrow(/at least one/);
  });

  it('setLinkParams (an RA\'s MTU and Cur Hop Limit, RFC 4861 §6.3.4): new datagrams fragment to the MTU and carry the hop limit', () => {
    const link = new FakeLink(1500);
    const layer = new Ipv6Layer({ addresses: [LL, SLAAC], prefixLength: 64, link });
    expect([layer.mtu, layer.hopLimit, layer.pathMtu(PEER)]).toEqual([1500, 64, 1500]);
    const body = new Uint8Array(1440);
    expect(layer.send(PEER, PROTO_UDP, body)).toBeUndefined();
    expect(link.sent.map((p) => [p.length, p[7]])).toEqual([[1480, 64]]);
    expect(layer.setLinkParams({ mtu: 1400, hopLimit: 37 })).toBe(true);
    expect(layer.setLinkParams({ mtu: 1400, hopLimit: 37 })).toBe(false);
    expect([layer.mtu, layer.hopLimit, layer.pathMtu(PEER)]).toEqual([1400, 37, 1400]);
    link.sent.length = 0;
    expect(layer.send(PEER, PROTO_UDP, body)).toBeUndefined();
    // 1440 + 40 > 1400: two fragments, each within 1400, each with Hop Limit 37.
    expect(link.sent.length).toBe(2);
    for (const p of link.sent) {
      expect(p.length).toBeLessThanOrEqual(1400);
      expect(p[7]).toBe(37);
      expect(p[6]).toBe(44);
    }
    // An explicit ttl still wins; the hop limit alone changes only the hop limit.
    link.sent.length = 0;
    layer.send(PEER, PROTO_UDP, Uint8Array.of(1), { ttl: 5 });
    expect(link.sent[0]![7]).toBe(5);
    expect(layer.setLinkParams({ hopLimit: 255 })).toBe(true);
    expect(layer.mtu).toBe(1400);
    // Out of range: below IPv6's 1280 or above the link's MTU, a hop limit of 0.
    for (const bad of [{ mtu: 1279 }, { mtu: 1501 }, { hopLimit: 0 }, { hopLimit: 256 }, { mtu: 1400.5 }]) {
      expect(() => layer.setLinkParams(bad)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    }
    expect([layer.mtu, layer.hopLimit]).toEqual([1400, 255]);
  });
});
