/** UdpLayer wired to the real Ipv4Layer and a collecting link. */
import { describe, expect, it } from 'vitest';
import {
  Ipv4Layer, PROTO_UDP, emitIpv4, parseIpv4, type ErrorReporter, type InboundDatagram, type Ipv4Repr, type LinkOutput,
} from '@netstack/ip';
import { UdpPacket, emitUdp, parseUdp, udpBufferLen } from '@netstack/udp';
import { dgramLayer, ip, tick } from './helpers.js';

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

function stack() {
  const link = new Link();
  const layer = new Ipv4Layer({ address: US, prefixLength: 24, link, initialIdentification: 1 });
  const udp = dgramLayer(layer);
  layer.register(udp);
  const reports: { code: number; packet: Uint8Array }[] = [];
  const reporter: ErrorReporter = { destinationUnreachable: (code: number, d: InboundDatagram) => { reports.push({ code, packet: d.packet.slice() }); } };
  layer.setErrorReporter(reporter);
  return { link, layer, udp, reports };
}

function ipPacket(payload: Uint8Array, over: Partial<Ipv4Repr> = {}): Uint8Array {
  const r: Ipv4Repr = {
    src: PEER, dst: US, protocol: PROTO_UDP, ttl: 64, tos: 0, identification: 7, dontFragment: false, moreFragments: false,
    fragmentOffset: 0, headerLength: 20, totalLength: 20 + payload.length, payloadLength: payload.length, ...over,
  };
  const b = new Uint8Array(r.totalLength);
  emitIpv4(r, b, 0);
  b.set(payload, 20);
  return b;
}

function udpPacket(srcPort: number, dstPort: number, data: Uint8Array, src = PEER, dst = US, over: Partial<Ipv4Repr> = {}): Uint8Array {
  const repr = { srcPort, dstPort, payload: data };
  const b = new Uint8Array(udpBufferLen(repr));
  emitUdp(repr, new UdpPacket(b), src, dst);
  return ipPacket(b, { src, dst, ...over });
}

describe('udp over Ipv4Layer', () => {
  it('echoes a datagram: message in, reply out with a checksum that verifies', async () => {
    const { link, layer, udp } = stack();
    const s = udp.createSocket('udp4');
    s.on('message', (msg, rinfo) => s.send(msg, rinfo.port, rinfo.address));
    await new Promise<void>((r) => s.bind(7, r));
    layer.input(udpPacket(40000, 7, Buffer.from('hello')), 0);
    expect(link.sent).toHaveLength(1);
    const r = parseIpv4(link.sent[0]!);
    if (typeof r === 'string') throw new Error(r);
    expect(r).toMatchObject({ src: US, dst: PEER, protocol: PROTO_UDP });
    const u = parseUdp(new UdpPacket(link.sent[0]!.subarray(20)), US, PEER);
    expect(u).toMatchObject({ srcPort: 7, dstPort: 40000 });
    expect(Buffer.from((u as { payload: Uint8Array }).payload).toString()).toBe('hello');
  });
  it('receives a fragmented 3000-byte datagram reassembled by the IP layer', async () => {
    const { layer, udp } = stack();
    const s = udp.createSocket('udp4');
    const got: Buffer[] = [];
    s.on('message', (m) => got.push(m));
    await new Promise<void>((r) => s.bind(9, r));
    const data = Buffer.alloc(3000, 'z');
    const whole = udpPacket(1, 9, data);
    const body = whole.subarray(20);
    layer.input(ipPacket(body.subarray(0, 1480), { moreFragments: true }), 0);
    layer.input(ipPacket(body.subarray(1480), { fragmentOffset: 1480 }), 1);
    expect(got.map((m) => m.length)).toEqual([3000]);
  });
  it('sends a 65507-byte datagram as fragments; 65508 is EMSGSIZE', async () => {
    const { link, udp } = stack();
    const s = udp.createSocket('udp4');
    const ok = await new Promise<Error | null>((r) => s.send(Buffer.alloc(65507), 9, '10.7.0.1', r));
    expect(ok).toBeNull();
    expect(link.sent.length).toBe(45);
    const err = await new Promise<Error | null>((r) => s.send(Buffer.alloc(65508), 9, '10.7.0.1', r));
    expect(err).toMatchObject({ code: 'EMSGSIZE' });
  });
  it('asks for port unreachable for a closed port, not for a broadcast', () => {
    const { layer, reports } = stack();
    layer.input(udpPacket(1, 9999, new Uint8Array(4)), 0);
    layer.input(udpPacket(1, 9999, new Uint8Array(4), PEER, ip('10.7.0.255')), 0);
    expect(reports.map((r) => r.code)).toEqual([3]);
  });
  it('turns a port unreachable about a connected socket’s datagram into ECONNREFUSED', async () => {
    const { layer, udp } = stack();
    const s = udp.createSocket('udp4');
    await new Promise<void>((r) => s.connect(53, '10.7.0.1', r));
    const errors: string[] = [];
    s.on('error', (e) => errors.push((e as NodeJS.ErrnoException).code!));
    const sport = s.address().port;
    const quoted = udpPacket(sport, 53, new Uint8Array(4), US, PEER);
    layer.deliverError({ icmpType: 3, icmpCode: 3, reporter: PEER, src: US, dst: PEER, protocol: PROTO_UDP, quoted: quoted.subarray(20), nextHopMtu: 0 }, 0);
    expect(errors).toEqual([]);
    await tick();
    expect(errors).toEqual(['ECONNREFUSED']);
  });
  it('connect without a route fails with ENETUNREACH', async () => {
    const { udp } = stack();
    const s = udp.createSocket('udp4');
    const err = await new Promise<unknown>((r) => s.connect(53, '127.0.0.1', r as () => void));
    expect(err).toMatchObject({ code: 'ENETUNREACH', syscall: 'connect' });
  });
});
