/**
 * The UDP core is address-family neutral: the same port table, checksum and send path
 * serve an IPv6 4-tuple (RFC 8200 §8.1 pseudo-header) as they serve IPv4. There is no
 * IPv6 layer yet; a minimal IPv6 `IpOutput` stands in for it here.
 */
import { describe, expect, it } from 'vitest';
import {
  PROTO_UDP, parseIpv6Address, sum16, writeAddress,
  type InboundDatagram, type IpAddress, type IpOutput, type Ipv6Address, type PayloadWriter, type SendError,
} from '@netstack/ip';
import { UdpLayer, UdpPacket, emitUdp, udpBufferLen, type UdpEndpoint } from '../src/index.js';

const OWN = parseIpv6Address('fd07::2')!;
const PEER = parseIpv6Address('fd07::1')!;

/** An IPv6 "layer" that routes everything on-link and records what the transport wrote. */
class Ip6 implements IpOutput {
  readonly address = OWN;
  readonly mtu = 1500;
  sent: { src: IpAddress; dst: IpAddress; bytes: Uint8Array }[] = [];
  unreachable = 0;
  sourceFor(): IpAddress { return OWN; }
  pathMtu(): number { return this.mtu; }
  send(dst: IpAddress, _protocol: number, payload: Uint8Array): SendError | undefined {
    this.sent.push({ src: OWN, dst, bytes: payload.slice() });
    return undefined;
  }
  sendWith(dst: IpAddress, _protocol: number, length: number, writer: PayloadWriter): SendError | undefined {
    const buf = new Uint8Array(length + 48);
    writer.writePayload(buf, 40, OWN, dst);
    this.sent.push({ src: OWN, dst, bytes: buf.slice(40, 40 + length) });
    return undefined;
  }
  reportUnreachable(): void { this.unreachable++; }
}

function endpoint(got: { payload: string; src: IpAddress; port: number }[]): UdpEndpoint {
  return {
    localAddr: OWN, localPort: 0, remoteAddr: 0, remotePort: 0, reuseAddr: false, order: 0, mcTtl: 1, mcLoop: true, memberships: [],
    onDatagram(payload, src, srcPort) { got.push({ payload: Buffer.from(payload).toString(), src, port: srcPort }); return true; },
    onError() {},
    close() {},
  };
}

function datagramIn(src: Ipv6Address, dst: Ipv6Address, srcPort: number, dstPort: number, text: string, corrupt = false): InboundDatagram {
  const repr = { srcPort, dstPort, payload: Buffer.from(text) };
  const bytes = new Uint8Array(udpBufferLen(repr));
  emitUdp(repr, new UdpPacket(bytes), src, dst);
  if (corrupt) bytes[bytes.length - 1]! ^= 1;
  const packet = new Uint8Array(40 + bytes.length);
  packet[0] = 0x60;
  packet.set(bytes, 40);
  return { src, dst, protocol: PROTO_UDP, ttl: 64, tos: 0, payload: packet.subarray(40), packet, headerLength: 40, toBroadcast: false, reassembled: false };
}

/** RFC 8200 §8.1: the checksum over the laid-out IPv6 pseudo-header and the datagram verifies. */
function verifies6(src: Ipv6Address, dst: Ipv6Address, udp: Uint8Array): boolean {
  const ph = new Uint8Array(40);
  writeAddress(ph, 0, src);
  writeAddress(ph, 16, dst);
  new DataView(ph.buffer).setUint32(32, udp.length);
  ph[39] = PROTO_UDP;
  return sum16(udp, 0, udp.length, sum16(ph)) === 0xffff;
}

describe('UDP over an IPv6 4-tuple (core endpoints)', () => {
  it('delivers to the endpoint bound to the IPv6 address, with the IPv6 source as it came', () => {
    const ip6 = new Ip6();
    const udp = new UdpLayer(ip6, { portKey: new Uint8Array(16).fill(1) });
    const got: { payload: string; src: IpAddress; port: number }[] = [];
    const ep = endpoint(got);
    expect(udp.bind(ep, OWN, 7)).toBeUndefined();
    udp.receive(datagramIn(PEER, OWN, 40000, 7, 'hello'), 0);
    expect(got).toEqual([{ payload: 'hello', src: PEER, port: 40000 }]);
    // Another destination address, or a bad checksum: not delivered.
    udp.receive(datagramIn(PEER, parseIpv6Address('fd07::3')!, 40000, 7, 'elsewhere'), 0);
    udp.receive(datagramIn(PEER, OWN, 40000, 7, 'bad', true), 0);
    expect(got.length).toBe(1);
    expect(udp.stats().InCsumErrors).toBe(1);
    expect(ip6.unreachable).toBe(1); // the one to fd07::3:7
  });

  it('an IPv4-style checksum is wrong for IPv6: the pseudo-header is RFC 8200 §8.1', () => {
    const udp = new UdpLayer(new Ip6(), { portKey: new Uint8Array(16).fill(1) });
    const got: { payload: string; src: IpAddress; port: number }[] = [];
    expect(udp.bind(endpoint(got), OWN, 7)).toBeUndefined();
    const d = datagramIn(PEER, OWN, 40000, 7, 'x');
    // Recompute the checksum over an IPv4 pseudo-header made of the addresses' last 4 bytes.
    const u = d.payload;
    u[6] = 0; u[7] = 0;
    let s = sum16(u) + 0x0000 + 1 + 0x0000 + 2 + PROTO_UDP + u.length;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    const c = ~s & 0xffff || 0xffff;
    u[6] = c >>> 8; u[7] = c & 255;
    udp.receive(d, 0);
    expect(got).toEqual([]);
    expect(udp.stats().InCsumErrors).toBe(1);
  });

  it('connects and sends to an IPv6 peer with a checksum that verifies over the IPv6 pseudo-header', () => {
    const ip6 = new Ip6();
    const udp = new UdpLayer(ip6, { portKey: new Uint8Array(16).fill(1) });
    const got: { payload: string; src: IpAddress; port: number }[] = [];
    const ep = endpoint(got);
    expect(udp.bind(ep, OWN, 0)).toBeUndefined(); // an ephemeral port for an IPv6 address
    expect(ep.localPort).toBeGreaterThanOrEqual(49152);
    expect(udp.connect(ep, PEER, 9)).toBeUndefined();
    expect(udp.send(ep, PEER, 9, [Buffer.from('abc'), Buffer.from('de')], 5)).toBeUndefined();
    expect(ip6.sent).toHaveLength(1);
    const out = ip6.sent[0]!;
    expect(out.dst).toBe(PEER);
    expect(Array.from(out.bytes.subarray(0, 6))).toEqual([ep.localPort >>> 8, ep.localPort & 255, 0, 9, 0, 13]);
    expect(Buffer.from(out.bytes.subarray(8)).toString()).toBe('abcde');
    expect(verifies6(OWN, PEER, out.bytes)).toBe(true);
    // The connected endpoint takes its peer's datagrams and no one else's.
    udp.receive(datagramIn(PEER, OWN, 9, ep.localPort, 'reply'), 0);
    udp.receive(datagramIn(parseIpv6Address('fd07::9')!, OWN, 9, ep.localPort, 'stranger'), 0);
    expect(got.map((g) => g.payload)).toEqual(['reply']);
  });
});

describe('wildcards and the dual-stack port table (Linux inet_bind_conflict, compute_score)', () => {
  const ANY6 = parseIpv6Address('::')!;
  const ep = (got: { payload: string; src: IpAddress; port: number }[], localAddr: IpAddress, v6?: 'dual' | 'only', reuseAddr = false): UdpEndpoint =>
    ({ ...endpoint(got), localAddr, reuseAddr, ...(v6 !== undefined ? { v6 } : {}) });

  it('0.0.0.0 hears IPv4 only: an IPv6 datagram to its port is NoPorts; `::` hears it', () => {
    const udp = new UdpLayer(new Ip6(), { portKey: new Uint8Array(16).fill(1) });
    const got4: { payload: string; src: IpAddress; port: number }[] = [];
    expect(udp.bind(ep(got4, 0), 0, 7)).toBeUndefined();
    udp.receive(datagramIn(PEER, OWN, 40000, 7, 'v6'), 0);
    expect(got4).toEqual([]);
    expect(udp.stats().NoPorts).toBe(1);
    const got6: { payload: string; src: IpAddress; port: number }[] = [];
    expect(udp.bind(ep(got6, ANY6, 'only'), ANY6, 7)).toBeUndefined(); // ipv6Only: no IPv4 overlap
    udp.receive(datagramIn(PEER, OWN, 40000, 7, 'v6'), 0);
    expect(got6.map((g) => g.payload)).toEqual(['v6']);
  });

  it('a dual `::` bind clashes with 0.0.0.0 and any IPv4 address on its port, either way round; ipv6Only does not', () => {
    const udp = new UdpLayer(new Ip6(), { portKey: new Uint8Array(16).fill(1) });
    const none: { payload: string; src: IpAddress; port: number }[] = [];
    expect(udp.bind(ep(none, ANY6, 'dual'), ANY6, 7)).toBeUndefined();
    expect(udp.bind(ep(none, 0), 0, 7)).toBe('EADDRINUSE');
    expect(udp.bind(ep(none, ANY6, 'only'), ANY6, 7)).toBe('EADDRINUSE');
    expect(udp.bind(ep(none, 0), 0, 8)).toBeUndefined();
    expect(udp.bind(ep(none, ANY6, 'dual'), ANY6, 8)).toBe('EADDRINUSE');
    expect(udp.bind(ep(none, ANY6, 'only'), ANY6, 8)).toBeUndefined();
    expect(udp.bind(ep(none, OWN), OWN, 8)).toBe('EADDRINUSE'); // under the ipv6Only `::`
    expect(udp.bind(ep(none, OWN), OWN, 9)).toBeUndefined();
    expect(udp.bind(ep(none, 0), 0, 9)).toBeUndefined(); // an IPv6 address leaves IPv4 free
  });
});
