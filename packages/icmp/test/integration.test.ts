/** IcmpLayer wired to the real Ipv4Layer and a collecting link. */
import { describe, expect, it } from 'vitest';
import {
  Ipv4Layer, PROTO_UDP, emitIpv4, parseIpv4, type InboundDatagram, type Ipv4Repr, type LinkOutput, type TransportProtocol,
} from '@netstack/ip';
import { IcmpLayer, IcmpPacket, emitIcmp, icmpBufferLen, parseIcmp, type IcmpRepr, type PingResult } from '../src/index.js';
import { ip } from './helpers.js';

class Link implements LinkOutput {
  sent: Uint8Array[] = [];
  constructor(readonly mtu = 1500) {}
  send(p: Uint8Array): boolean {
    this.sent.push(p.slice());
    return true;
  }
}

const US = ip('10.7.0.2');
const PEER = ip('10.7.0.1');

function stack(mtu = 1500) {
  const link = new Link(mtu);
  const layer = new Ipv4Layer({ address: US, prefixLength: 24, link, initialIdentification: 1 });
  const icmp = new IcmpLayer(layer, { random: () => 0.25 });
  layer.register(icmp);
  layer.setErrorReporter(icmp);
  return { link, layer, icmp };
}

function ipPacket(protocol: number, payload: Uint8Array, over: Partial<Ipv4Repr> = {}): Uint8Array {
  const r: Ipv4Repr = {
    src: PEER, dst: US, protocol, ttl: 64, tos: 0, identification: 7, dontFragment: false, moreFragments: false,
    fragmentOffset: 0, headerLength: 20, totalLength: 20 + payload.length, payloadLength: payload.length, ...over,
  };
  const b = new Uint8Array(r.totalLength);
  emitIpv4(r, b, 0);
  b.set(payload, 20);
  return b;
}

function icmpBytes(repr: IcmpRepr): Uint8Array {
  const b = new Uint8Array(icmpBufferLen(repr));
  emitIcmp(repr, new IcmpPacket(b));
  return b;
}

/** Parses what left on the link: the IP header and the ICMP message. */
function out(packet: Uint8Array) {
  const r = parseIpv4(packet);
  if (typeof r === 'string') throw new Error(r);
  const m = parseIcmp(IcmpPacket.checked(packet.subarray(20, r.totalLength))!);
  if (typeof m === 'string') throw new Error(m);
  return { ip: { ...r }, icmp: m };
}

describe('icmp over Ipv4Layer', () => {
  it('answers an echo request arriving from the link', () => {
    const { link, layer } = stack();
    const data = Uint8Array.from({ length: 100 }, (_, i) => i);
    layer.input(ipPacket(1, icmpBytes({ kind: 'echoRequest', ident: 9, seqNo: 3, data })), 0);
    expect(link.sent).toHaveLength(1);
    const o = out(link.sent[0]!);
    expect(o.ip).toMatchObject({ src: US, dst: PEER, protocol: 1 });
    expect(o.icmp).toEqual({ kind: 'echoReply', ident: 9, seqNo: 3, data });
  });
  it('answers a fragmented 4000-byte echo request with a fragmented reply', () => {
    const { link, layer } = stack();
    const data = Uint8Array.from({ length: 4000 }, (_, i) => (i * 13) & 0xff);
    const msg = icmpBytes({ kind: 'echoRequest', ident: 1, seqNo: 1, data });
    layer.input(ipPacket(1, msg.subarray(0, 1480), { moreFragments: true }), 0);
    layer.input(ipPacket(1, msg.subarray(1480), { fragmentOffset: 1480 }), 1);
    expect(link.sent.length).toBeGreaterThan(1);
    const total = link.sent.reduce((n, p) => n + p.length - 20, 0);
    expect(total).toBe(8 + 4000);
  });
  it('sends protocol unreachable for an unknown protocol, and port unreachable on a transport’s request', () => {
    const { link, layer } = stack();
    const probe = ipPacket(99, new Uint8Array(12));
    layer.input(probe, 0);
    expect(out(link.sent[0]!).icmp).toEqual({ kind: 'destinationUnreachable', code: 2, nextHopMtu: 0, quoted: probe });
    const udp: TransportProtocol = { protocol: PROTO_UDP, receive: (d: InboundDatagram, now: number) => layer.reportUnreachable(3, d, now) };
    layer.register(udp);
    const dgram = ipPacket(PROTO_UDP, new Uint8Array(12));
    layer.input(dgram, 1);
    expect(out(link.sent[1]!).icmp).toMatchObject({ kind: 'destinationUnreachable', code: 3, quoted: dgram });
    layer.input(ipPacket(PROTO_UDP, new Uint8Array(12), { dst: ip('10.7.0.255') }), 2);
    expect(link.sent).toHaveLength(2);
  });
  it('pings a peer and matches the reply that comes back through the link', () => {
    const { link, layer, icmp } = stack();
    const results: PingResult[] = [];
    icmp.ping(PEER, { size: 32 }, 10, (err, r) => { if (err) throw err; results.push(r!); });
    const req = out(link.sent[0]!);
    if (req.icmp.kind !== 'echoRequest') throw new Error('no echo request');
    layer.input(ipPacket(1, icmpBytes({ kind: 'echoReply', ident: req.icmp.ident, seqNo: req.icmp.seqNo, data: req.icmp.data }), { ttl: 63 }), 14);
    expect(results).toEqual([{ rttMs: 4, bytes: 40, ttl: 63, id: req.icmp.ident, seq: req.icmp.seqNo, address: PEER }]);
  });
  it('routes a received port unreachable back to the transport that sent the datagram', () => {
    const { layer } = stack();
    const errors: unknown[] = [];
    layer.register({ protocol: PROTO_UDP, receive: () => {}, receiveError: (e) => errors.push({ ...e, quoted: e.quoted.slice() }) });
    const ours = ipPacket(PROTO_UDP, Uint8Array.from([0x13, 0x88, 0, 53, 0, 8, 0, 0]), { src: US, dst: PEER });
    layer.input(ipPacket(1, icmpBytes({ kind: 'destinationUnreachable', code: 3, nextHopMtu: 0, quoted: ours })), 0);
    expect(errors).toEqual([expect.objectContaining({ icmpType: 3, icmpCode: 3, src: US, dst: PEER, protocol: PROTO_UDP, quoted: ours.subarray(20), originalLength: 28 })]);
  });
  it('times out a ping to a silent peer through pollAt/poll', () => {
    const { icmp } = stack();
    const errs: string[] = [];
    icmp.ping(PEER, { timeout: 1000 }, 0, (err) => errs.push(err!.code));
    icmp.poll(999);
    expect(errs).toEqual([]);
    icmp.poll(icmp.pollAt());
    expect(errs).toEqual(['ETIMEDOUT']);
  });
});
