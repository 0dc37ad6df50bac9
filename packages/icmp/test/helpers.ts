/** Test fixtures: a fake IP layer that records what is sent, and datagram builders. */
import { checksum, writeAddress, type InboundDatagram } from '@netstack/ip';
import type { IcmpIp } from '../src/index.js';
import { FakeIp as SharedFakeIp, ip } from '../../ip/test/fake-ip.js';

export { ip, type Sent } from '../../ip/test/fake-ip.js';

/** The shared fake IP layer; the ICMP layer never asks it to report an unreachable. */
export class FakeIp extends SharedFakeIp implements IcmpIp {
  override reportUnreachable(): void {
    throw new Error('icmp never asks for unreachable');
  }
}

export interface DatagramSpec {
  src: string;
  dst: string;
  protocol: number;
  payload: Uint8Array;
  ttl?: number;
  toBroadcast?: boolean;
  /** Fragment offset in 8-byte units. */
  fragmentOffset?: number;
  moreFragments?: boolean;
  id?: number;
}

/** A 20-byte IPv4 header (checksummed) followed by `payload`. */
export function ipv4Packet(spec: DatagramSpec): Uint8Array {
  const total = 20 + spec.payload.length;
  const p = new Uint8Array(total);
  p[0] = 0x45;
  p[2] = total >>> 8;
  p[3] = total & 0xff;
  p[4] = (spec.id ?? 1) >>> 8;
  p[5] = (spec.id ?? 1) & 0xff;
  const frag = ((spec.moreFragments ? 0x2000 : 0) | (spec.fragmentOffset ?? 0)) & 0xffff;
  p[6] = frag >>> 8;
  p[7] = frag & 0xff;
  p[8] = spec.ttl ?? 64;
  p[9] = spec.protocol;
  writeAddress(p, 12, ip(spec.src));
  writeAddress(p, 16, ip(spec.dst));
  const c = checksum(p, 0, 20);
  p[10] = c >>> 8;
  p[11] = c & 0xff;
  p.set(spec.payload, 20);
  return p;
}

export function datagram(spec: DatagramSpec): InboundDatagram {
  const packet = ipv4Packet(spec);
  return {
    src: ip(spec.src),
    dst: ip(spec.dst),
    protocol: spec.protocol,
    ttl: spec.ttl ?? 64,
    tos: 0,
    payload: packet.subarray(20),
    packet,
    headerLength: 20,
    toBroadcast: spec.toBroadcast ?? false,
    reassembled: false,
  };
}

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
