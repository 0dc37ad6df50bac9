/**
 * The IP layer's offload path (registration.ts LinkOutput/IpOutput offload members):
 * sendSegment emits ONE datagram, larger than the MTU only through sendOffload and only
 * with TSO; output buffers keep the link's headroom; input takes the link's meta.
 */
import { describe, expect, it } from 'vitest';
import { Ipv4Layer, parseIpv4, emptyIpv4Repr, PROTO_TCP, PROTO_UDP, type InboundDatagram, type LinkOutput, type PayloadWriter } from '@netstack/ip';
import { FakeLink, PEER, US, packet } from './harness.js';

class OffloadLink implements LinkOutput {
  sent: Uint8Array[] = [];
  offloaded: { packet: Uint8Array; gsoSize: number; csumStart: number; csumOffset: number; headroom: Uint8Array }[] = [];
  readonly offloadHeadroom = 12;
  constructor(public mtu = 1500, public offload: { tso4: boolean; csum: boolean } | undefined = { tso4: true, csum: true }) {}
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
