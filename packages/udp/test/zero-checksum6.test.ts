/**
 * RFC 8200 §8.1: "IPv6 receivers must discard UDP packets containing a zero checksum".
 * Over IPv4 a zero field still means "no checksum" (RFC 768). Found by the kernel test
 * test/kernel/ipv6-udp-bulk.test.ts (a kernel socket with UDP_NO_CHECK6_TX was echoed).
 * Linux counts such a datagram in Udp6InCsumErrors / InErrors and sends no ICMPv6 for it,
 * even to a closed port.
 */
import { describe, expect, it } from 'vitest';
import {
  PROTO_UDP, ViewCache, parseIpv6Address,
  type InboundDatagram, type IpAddress, type IpOutput, type PayloadWriter, type SendError,
} from '@netstack/ip';
import { UdpLayer, UdpPacket, emitUdp, parseUdp, parseUdpInto, udpBufferLen, type UdpEndpoint, type UdpRepr } from '../src/index.js';

const OWN = parseIpv6Address('fd07::2')!;
const PEER = parseIpv6Address('fd07::1')!;
const OWN4 = 0x0a070002;
const PEER4 = 0x0a070001;

/** A UDP datagram src → dst with its checksum field set to 0 (as UDP_NO_CHECK6_TX sends it). */
function zeroChecksum(src: IpAddress, dst: IpAddress, dstPort: number): Uint8Array {
  const repr = { srcPort: 40000, dstPort, payload: Buffer.from('zero') };
  const bytes = new Uint8Array(udpBufferLen(repr));
  emitUdp(repr, new UdpPacket(bytes), src, dst);
  bytes[6] = 0;
  bytes[7] = 0;
  return bytes;
}

function inbound(src: IpAddress, dst: IpAddress, udp: Uint8Array, checksumVerified: boolean): InboundDatagram {
  const hl = typeof src === 'number' ? 20 : 40;
  const packet = new Uint8Array(hl + udp.length);
  packet[0] = typeof src === 'number' ? 0x45 : 0x60;
  packet.set(udp, hl);
  return {
    src, dst, protocol: PROTO_UDP, ttl: 64, tos: 0, payload: packet.subarray(hl), packet, headerLength: hl, toBroadcast: false, reassembled: false,
    checksumVerified,
  };
}

class Ip implements IpOutput {
  readonly mtu = 1500;
  unreachable = 0;
  constructor(readonly address: IpAddress) {}
  sourceFor(): IpAddress { return this.address; }
  pathMtu(): number { return this.mtu; }
  send(): SendError | undefined { return undefined; }
  sendWith(_dst: IpAddress, _protocol: number, _length: number, _writer: PayloadWriter): SendError | undefined { return undefined; }
  reportUnreachable(): void { this.unreachable++; }
}

function endpoint(local: IpAddress, got: string[]): UdpEndpoint {
  return {
    localAddr: local, localPort: 0, remoteAddr: 0, remotePort: 0, reuseAddr: false, order: 0, mcTtl: 1, mcLoop: true, memberships: [],
    onDatagram(payload) { got.push(Buffer.from(payload).toString()); return true; },
    onError() {},
    close() {},
  };
}

describe('a zero UDP checksum (RFC 8200 §8.1)', () => {
  it('parseUdp / parseUdpInto: refused over IPv6, verified or not; still "none" over IPv4', () => {
    const six = zeroChecksum(PEER, OWN, 7);
    const four = zeroChecksum(PEER4, OWN4, 7);
    const into: UdpRepr = { srcPort: 0, dstPort: 0, payload: new Uint8Array(0) };
    const views = new ViewCache();
    for (const verify of [true, false]) {
      expect(parseUdp(new UdpPacket(six), PEER, OWN, verify)).toBe('checksum');
      expect(parseUdpInto(six, PEER, OWN, verify, into, views)).toBe('checksum');
      expect(parseUdp(new UdpPacket(four), PEER4, OWN4, verify)).toMatchObject({ srcPort: 40000, dstPort: 7 });
      expect(parseUdpInto(four, PEER4, OWN4, verify, into, views)).toMatchObject({ srcPort: 40000, dstPort: 7 });
    }
    expect(new UdpPacket(six).verifyChecksum(PEER, OWN)).toBe(false);
    expect(new UdpPacket(four).verifyChecksum(PEER4, OWN4)).toBe(true);
  });

  it('the layer drops it over IPv6 and counts InCsumErrors / InErrors: not delivered, no port unreachable', () => {
    const ip = new Ip(OWN);
    const udp = new UdpLayer(ip, { portKey: new Uint8Array(16).fill(1) });
    const got: string[] = [];
    expect(udp.bind(endpoint(OWN, got), OWN, 7)).toBeUndefined();
    udp.receive(inbound(PEER, OWN, zeroChecksum(PEER, OWN, 7), false), 0);
    udp.receive(inbound(PEER, OWN, zeroChecksum(PEER, OWN, 7), true), 0);
    // To a closed port: a checksum error, not a port unreachable.
    udp.receive(inbound(PEER, OWN, zeroChecksum(PEER, OWN, 9), false), 0);
    expect(got).toEqual([]);
    expect(ip.unreachable).toBe(0);
    expect(udp.stats()).toMatchObject({ InReceives: 3, InCsumErrors: 3, InErrors: 3, InDatagrams: 0, NoPorts: 0 });
  });

  it('over IPv4 the layer still delivers it (RFC 768: no checksum)', () => {
    const ip = new Ip(OWN4);
    const udp = new UdpLayer(ip, { portKey: new Uint8Array(16).fill(1) });
    const got: string[] = [];
    expect(udp.bind(endpoint(OWN4, got), OWN4, 7)).toBeUndefined();
    udp.receive(inbound(PEER4, OWN4, zeroChecksum(PEER4, OWN4, 7), false), 0);
    expect(got).toEqual(['zero']);
    expect(udp.stats()).toMatchObject({ InCsumErrors: 0, InDatagrams: 1 });
  });
});
