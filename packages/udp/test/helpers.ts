/**
 * Test fixtures: a fake IP layer that records what is sent, and datagram builders.
 * Family: the `udp` vitest project runs the family-neutral tests over IPv4, `udp6` over
 * IPv6 (test/family.ts); `addr(v4, v6)` picks the run's text, `at(v4, v6)` parses it, and
 * the builders take either family's text. Sent datagrams are checked against the
 * pseudo-header laid out by hand (RFC 768, RFC 8200 §8.1).
 */
import { PROTO_UDP, parseIpAddress, type InboundDatagram, type IpAddress } from '@netstack/ip';
import { type Sent } from '../../ip/test/fake-ip.js';
import { FAMILY, checksumVerifies } from '../../../test/family.js';
import { UdpPacket, emitUdp, parseUdp, udpBufferLen, type UdpRepr } from '../src/index.js';

export { FakeIp, ip, type Sent } from '../../ip/test/fake-ip.js';
export { FAMILY, FAMILY_NAME } from '../../../test/family.js';

/** The run's family's text of an address: `v4` in the udp project, `v6` in udp6. */
export const addr = (v4: string, v6: string): string => (FAMILY === 6 ? v6 : v4);
/** Parses either family's text (throws on a bad one: test input). */
export function anyIp(text: string): IpAddress {
  const a = parseIpAddress(text);
  if (a === undefined) throw new Error(`bad address ${text}`);
  return a;
}
/** `addr(v4, v6)` parsed. */
export const at = (v4: string, v6: string): IpAddress => anyIp(addr(v4, v6));

/** Parses a sent UDP payload (checking its checksum) into ports and data. */
export function parseSent(s: Sent<IpAddress>): UdpRepr & { checksum: number } {
  if (!checksumVerifies(PROTO_UDP, s.src, s.dst, s.payload)) throw new Error('sent a UDP datagram whose checksum does not verify over the pseudo-header');
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
  const src = anyIp(spec.src ?? addr('10.0.0.1', 'fd00::1'));
  const dst = anyIp(spec.dst ?? addr('10.0.0.2', 'fd00::2'));
  const data = typeof spec.payload === 'string' ? Buffer.from(spec.payload) : (spec.payload ?? new Uint8Array(0));
  const repr = { srcPort: spec.srcPort ?? 40000, dstPort: spec.dstPort, payload: data };
  const bytes = new Uint8Array(udpBufferLen(repr));
  emitUdp(repr, new UdpPacket(bytes), src, dst);
  return rawIn(bytes, spec);
}

/** An inbound datagram with the given UDP bytes as IP payload. */
export function rawIn(bytes: Uint8Array, spec: { src?: string; dst?: string; toBroadcast?: boolean } = {}): InboundDatagram {
  const src = anyIp(spec.src ?? addr('10.0.0.1', 'fd00::1'));
  const dst = anyIp(spec.dst ?? addr('10.0.0.2', 'fd00::2'));
  const hl = typeof src === 'number' ? 20 : 40;
  const packet = new Uint8Array(hl + bytes.length);
  packet[0] = hl === 20 ? 0x45 : 0x60;
  packet.set(bytes, hl);
  return {
    src,
    dst,
    protocol: PROTO_UDP,
    ttl: 64,
    tos: 0,
    payload: packet.subarray(hl),
    packet,
    headerLength: hl,
    toBroadcast: spec.toBroadcast ?? false,
    reassembled: false,
  };
}

/** Lets process.nextTick callbacks (and one turn of the loop) run; not a sleep. */
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
