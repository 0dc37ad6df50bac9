/**
 * acceptAnyDestination (any-address termination): foreign unicast destinations are
 * delivered flagged `foreign` only under the option; martians are still dropped and
 * counted; a foreign source is used only with the option and `transparent`.
 */
import { describe, expect, it } from 'vitest';
import { PROTO_UDP, parseIpv4, emptyIpv4Repr, type InboundDatagram, type TransportProtocol } from '@netstack/ip';
import { FAR, FakeLink, PEER, US, ip, makeLayer, packet } from './harness.js';
import { FAR6, PEER6, US6, makeLayer6, pkt6, v6 } from './harness6.js';

class Rec implements TransportProtocol {
  readonly protocol = PROTO_UDP;
  got: { src: unknown; dst: unknown; foreign: boolean | undefined }[] = [];
  receive(d: InboundDatagram): void { this.got.push({ src: d.src, dst: d.dst, foreign: d.foreign }); }
}

const body = new Uint8Array(8);

describe('IPv4 acceptAnyDestination', () => {
  function setup(any: boolean) {
    const { layer, link } = makeLayer({ gateway: PEER, ...(any ? { acceptAnyDestination: true } : {}) });
    const t = new Rec();
    layer.register(t);
    return { layer, link, t };
  }

  it('delivers a foreign unicast destination flagged, only under the option', () => {
    const off = setup(false);
    off.layer.input(packet(body, { dst: FAR }), 0);
    expect(off.t.got).toEqual([]);
    expect(off.layer.stats().dropped.InNotForUs).toBe(1);
    const on = setup(true);
    on.layer.input(packet(body, { dst: FAR }), 0);
    on.layer.input(packet(body, { dst: US }), 0);
    expect(on.t.got).toEqual([{ src: PEER, dst: FAR, foreign: true }, { src: PEER, dst: US, foreign: false }]);
    expect(on.layer.stats().InForeign).toBe(1);
  });

  it('still drops martians: bad sources, broadcast and unjoined multicast destinations, 0/8 and 127/8', () => {
    const { layer, t } = setup(true);
    layer.multicastFilter = () => false;
    const cases: [string, string][] = [
      ['0.0.0.0', '93.184.216.34'], // unspecified source to a foreign destination
      ['10.7.0.255', '93.184.216.34'], // our directed broadcast as source
      ['127.0.0.1', '93.184.216.34'], // loopback from a link
      ['10.7.0.1', '239.1.2.3'], // multicast not joined
      ['10.7.0.1', '0.0.0.0'],
      ['10.7.0.1', '127.0.0.9'],
      ['10.7.0.1', '240.0.0.1'], // class E
    ];
    for (const [src, dst] of cases) layer.input(packet(body, { src: ip(src), dst: ip(dst) }), 0);
    expect(t.got).toEqual([]);
    const s = layer.stats();
    expect(s.InAddrErrors + s.InHdrErrors).toBe(cases.length);
    expect(s.InForeign).toBe(0);
  });

  it('sends from a foreign source only with the option and transparent', () => {
    for (const [any, transparent, want] of [[false, true, US], [true, false, US], [true, true, FAR]] as const) {
      const { layer, link } = setup(any);
      // Without both, a source that is not ours is refused (a socket on a removed address,
      // ENETUNREACH), unless the sender takes any source of ours instead (sourceFallback: ICMP).
      const opts = { source: FAR, ...(transparent ? { transparent: true } : {}) };
      if (want === US) {
        expect(layer.send(PEER, PROTO_UDP, body, opts)).toBe('ENETUNREACH');
        expect(link.sent).toHaveLength(0);
        expect(layer.send(PEER, PROTO_UDP, body, { ...opts, sourceFallback: true })).toBeUndefined();
      } else {
        expect(layer.send(PEER, PROTO_UDP, body, opts)).toBeUndefined();
      }
      const r = parseIpv4(link.sent[0]!, emptyIpv4Repr());
      expect(typeof r === 'string' ? r : r.src, `any=${any} transparent=${transparent}`).toBe(want);
      expect(layer.stats().OutTransparent).toBe(want === FAR ? 1 : 0);
    }
    // Never a martian source, even transparent.
    const { layer, link } = setup(true);
    layer.send(PEER, PROTO_UDP, body, { source: ip('224.0.0.5'), transparent: true });
    const r = parseIpv4(link.sent[0]!, emptyIpv4Repr());
    expect(typeof r === 'string' ? r : r.src).toBe(US);
  });
});

describe('ICMP errors about datagrams sent from a foreign source', () => {
  it('are routed to the transport only on a layer that may have sent them (isOwnSource)', () => {
    for (const any of [false, true]) {
      const { layer } = makeLayer({ gateway: PEER, ...(any ? { acceptAnyDestination: true } : {}) });
      const errors: unknown[] = [];
      layer.register({ protocol: PROTO_UDP, receive() {}, receiveError: (e) => { errors.push(e.src); } });
      expect(layer.isOwnSource(FAR)).toBe(any);
      expect(layer.isOwnSource(US)).toBe(true);
      expect(layer.isOwnSource(ip('224.0.0.1'))).toBe(false);
      layer.deliverError({ icmpType: 3, icmpCode: 3, reporter: PEER, src: FAR, dst: PEER, protocol: PROTO_UDP, quoted: new Uint8Array(8), nextHopMtu: 0 }, 0);
      expect(errors).toEqual(any ? [FAR] : []);
      expect(layer.stats().dropped.ErrorNotOurs).toBe(any ? 0 : 1);
    }
  });
});

describe('IPv6 acceptAnyDestination', () => {
  function setup(any: boolean) {
    const { layer, link } = makeLayer6({ link: new FakeLink(1500), ...(any ? { acceptAnyDestination: true } : {}) });
    const t = new Rec();
    layer.register(t);
    return { layer, link, t };
  }

  it('delivers a foreign unicast destination flagged, only under the option; martians dropped', () => {
    const off = setup(false);
    off.layer.input(pkt6(body, { dst: FAR6 }), 0);
    expect(off.t.got).toEqual([]);
    const on = setup(true);
    on.layer.input(pkt6(body, { dst: FAR6 }), 0);
    on.layer.input(pkt6(body, { dst: US6 }), 0);
    expect(on.t.got).toEqual([{ src: PEER6, dst: FAR6, foreign: true }, { src: PEER6, dst: US6, foreign: false }]);
    on.layer.input(pkt6(body, { src: v6('::'), dst: FAR6 }), 0);
    on.layer.input(pkt6(body, { src: v6('ff02::1'), dst: FAR6 }), 0);
    on.layer.input(pkt6(body, { dst: v6('ff05::9') }), 0); // multicast not joined
    on.layer.input(pkt6(body, { dst: v6('::1') }), 0);
    expect(on.t.got).toHaveLength(2);
    const s = on.layer.stats();
    expect(s.Ip6InForeign).toBe(1);
    expect(s.dropped.Ip6InMartianSrc + s.dropped.Ip6InNotForUs + s.dropped.Ip6InLoopbackFromLink).toBeGreaterThanOrEqual(3);
  });

  it('sends from a foreign source only with the option and transparent', () => {
    for (const [any, transparent, want] of [[false, true, US6], [true, false, US6], [true, true, FAR6]] as const) {
      const { layer, link } = setup(any);
      expect(layer.send(PEER6, PROTO_UDP, body, { source: FAR6, ...(transparent ? { transparent: true } : {}) })).toBeUndefined();
      const src = String.fromCharCode(...link.sent[0]!.subarray(8, 24));
      expect(src, `any=${any} transparent=${transparent}`).toBe(want);
    }
  });
});
