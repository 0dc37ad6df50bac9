/** Test fixtures: a fake IP layer that records what is sent, and datagram builders. */
import {
  PROTO_UDP,
  parseAddress,
  type InboundDatagram,
  type IpOutput,
  type Ipv4Address,
  type PayloadWriter,
  type SendError,
  type SendOptions,
} from '@netstack/ip';
import { UdpPacket, emitUdp, parseUdp, udpBufferLen, type UdpRepr } from '../src/index.js';

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

export class FakeIp implements IpOutput {
  readonly address: Ipv4Address;
  readonly mtu = 1500;
  sent: Sent[] = [];
  unreachable: { code: number; datagram: InboundDatagram }[] = [];
  failWith: SendError | undefined;
  /** Destinations without a route. */
  noRoute = new Set<Ipv4Address>();
  constructor(address = '10.0.0.2') {
    this.address = ip(address);
  }
  sourceFor(dst: Ipv4Address): Ipv4Address | undefined {
    return this.noRoute.has(dst) ? undefined : this.address;
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
    if (this.noRoute.has(dst)) return 'ENETUNREACH';
    if (this.failWith) return this.failWith;
    const headroom = 20;
    const buf = new Uint8Array(headroom + length + 5).fill(0xee);
    writer.writePayload(buf, headroom, this.address, dst);
    this.sent.push({ src: this.address, dst, protocol, payload: buf.slice(headroom, headroom + length), options: options === undefined ? undefined : { ...options } });
    return undefined;
  }
  reportUnreachable(code: number, datagram: InboundDatagram): void {
    this.unreachable.push({ code, datagram });
  }
  take(): Sent[] {
    const s = this.sent;
    this.sent = [];
    return s;
  }
}

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
