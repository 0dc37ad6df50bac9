/** Test fixtures: a fake IP layer that records what is sent, and datagram builders. */
import { PROTO_UDP, type InboundDatagram } from '@netstack/ip';
import { ip, type Sent } from '../../ip/test/fake-ip.js';
import { UdpPacket, emitUdp, parseUdp, udpBufferLen, type UdpRepr } from '../src/index.js';

export { FakeIp, ip, type Sent } from '../../ip/test/fake-ip.js';

/** Parses a sent UDP payload (checking its checksum) into ports and data. */
export function parseSent(s: Sent): UdpRepr & { checksum: number } {
  const p = UdpPacket.checked(s.payload)!;
  const r = parseUdp(p, s.src, s.dst);
  if (typeof r === 'string') throw new Error(`sent a bad UDP datagram: ${r}`);
  return { ...r, payload: r.payload.slice(), checksum: p.checksum };
}

export interface UdpSpec {
  src?: string;
  dst?: string;
  srcPort?: number;
  dstPort: number;
  payload?: Uint8Array | string;
  toBroadcast?: boolean;
}

/** An inbound datagram carrying a valid UDP datagram. */
export function udpIn(spec: UdpSpec): InboundDatagram {
  const src = ip(spec.src ?? '10.0.0.1');
  const dst = ip(spec.dst ?? '10.0.0.2');
  const data = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? new Uint8Array(0));
  const repr = { srcPort: spec.srcPort ?? 40000, dstPort: spec.dstPort, payload: data };
  const bytes = new Uint8Array(udpBufferLen(repr));
  emitUdp(repr, new UdpPacket(bytes), src, dst);
  return rawIn(bytes, spec);
}

/** An inbound datagram with the given UDP bytes as IP payload. */
export function rawIn(bytes: Uint8Array, spec: { src?: string; dst?: string; toBroadcast?: boolean } = {}): InboundDatagram {
  const packet = new Uint8Array(20 + bytes.length);
  packet[0] = 0x45;
  packet.set(bytes, 20);
  return {
    src: ip(spec.src ?? '10.0.0.1'),
    dst: ip(spec.dst ?? '10.0.0.2'),
    protocol: PROTO_UDP,
    ttl: 64,
    tos: 0,
    payload: packet.subarray(20),
    packet,
    headerLength: 20,
    toBroadcast: spec.toBroadcast ?? false,
    reassembled: false,
  };
}

/** Lets process.nextTick callbacks (and one turn of the loop) run; not a sleep. */
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
