/** Test fixtures: a fake IP layer that records what is sent, and datagram builders. */
import {
  checksum,
  parseAddress,
  writeAddress,
  type InboundDatagram,
  type Ipv4Address,
  type PayloadWriter,
  type SendError,
  type SendOptions,
  type TransportError,
} from '@netstack/ip';
import type { IcmpIp } from '../src/index.js';

export function ip(text: string): Ipv4Address {
  const a = parseAddress(text);
  if (a === undefined) throw new Error(`bad address ${text}`);
  return a;
}

export interface Sent {
  src: Ipv4Address;
  dst: Ipv4Address;
  protocol: number;
  payload: Uint8Array;
  options: SendOptions | undefined;
}

/** Collects sent payloads; `sendWith` writes at a non-zero offset to catch writers that ignore it. */
export class FakeIp implements IcmpIp {
  readonly address: Ipv4Address;
  readonly mtu = 1500;
  sent: Sent[] = [];
  delivered: TransportError[] = [];
  failWith: SendError | undefined;
  /** Where delivered errors go next (e.g. back to the icmp layer for protocol 1). */
  route: ((e: TransportError, now: number) => void) | undefined;
  constructor(address = '10.0.0.2') {
    this.address = ip(address);
  }
  sourceFor(): Ipv4Address | undefined {
    return this.address;
  }
  pathMtu(): number {
    return this.mtu;
  }
  send(dst: Ipv4Address, protocol: number, payload: Uint8Array, options?: SendOptions): SendError | undefined {
    if (this.failWith) return this.failWith;
    this.sent.push({ src: this.address, dst, protocol, payload: payload.slice(), options });
    return undefined;
  }
  sendWith(dst: Ipv4Address, protocol: number, length: number, writer: PayloadWriter, options?: SendOptions): SendError | undefined {
    if (this.failWith) return this.failWith;
    const headroom = 20;
    const buf = new Uint8Array(headroom + length + 7).fill(0xee);
    writer.writePayload(buf, headroom, this.address, dst);
    this.sent.push({ src: this.address, dst, protocol, payload: buf.slice(headroom, headroom + length), options });
    return undefined;
  }
  reportUnreachable(): void {
    throw new Error('icmp never asks for unreachable');
  }
  deliverError(e: TransportError, now: number): void {
    this.delivered.push({ ...e, quoted: e.quoted.slice() });
    this.route?.(e, now);
  }
  take(): Sent[] {
    const s = this.sent;
    this.sent = [];
    return s;
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
