/** Test fixtures: a collecting link, a recording transport and reporter, packet builders. */
import {
  Ipv4Layer, emitIpv4, parseAddress, type ErrorReporter, type InboundDatagram, type Ipv4LayerOptions, type Ipv4Repr,
  type IpAddress, type LinkOutput, type TransportError, type TransportProtocol,
} from '@netstack/ip';

export const ip = (s: string): number => {
  const a = parseAddress(s);
  if (a === undefined) throw new Error(`bad address ${s}`);
  return a;
};

export const US = ip('10.7.0.2');
export const PEER = ip('10.7.0.1');
export const FAR = ip('93.184.216.34');

/** Collects copies of what is sent (the layer reuses its buffer). */
export class FakeLink implements LinkOutput {
  sent: Uint8Array[] = [];
  accept = true;
  constructor(public mtu = 1500) {}
  send(packet: Uint8Array): boolean {
    if (!this.accept) return false;
    this.sent.push(packet.slice());
    return true;
  }
}

export interface Received {
  src: IpAddress;
  dst: IpAddress;
  protocol: number;
  ttl: number;
  payload: Uint8Array;
  packet: Uint8Array;
  toBroadcast: boolean;
  reassembled: boolean;
}

export class FakeTransport implements TransportProtocol {
  received: Received[] = [];
  errors: TransportError[] = [];
  constructor(readonly protocol: number) {}
  receive(d: InboundDatagram): void {
    this.received.push({
      src: d.src, dst: d.dst, protocol: d.protocol, ttl: d.ttl, payload: d.payload.slice(), packet: d.packet.slice(),
      toBroadcast: d.toBroadcast, reassembled: d.reassembled,
    });
  }
  receiveError(e: TransportError): void {
    this.errors.push({ ...e });
  }
  /** Absent unless a test sets it (then the IP layer asks it before lowering a path MTU). */
  acceptsPathMtu?: (e: TransportError) => boolean;
}

export class FakeReporter implements ErrorReporter {
  unreachable: { code: number; packet: Uint8Array; toBroadcast: boolean }[] = [];
  timeExceededCalls: { code: number; packet: Uint8Array; now: number }[] = [];
  destinationUnreachable(code: number, original: InboundDatagram): void {
    this.unreachable.push({ code, packet: original.packet.slice(), toBroadcast: original.toBroadcast });
  }
  timeExceeded(code: number, original: InboundDatagram, now: number): void {
    this.timeExceededCalls.push({ code, packet: original.packet.slice(), now });
  }
}

export function makeLayer(over: Partial<Ipv4LayerOptions> = {}): { layer: Ipv4Layer; link: FakeLink } {
  const link = (over.link as FakeLink | undefined) ?? new FakeLink();
  const layer = new Ipv4Layer({ address: US, prefixLength: 24, link, initialIdentification: 0x1000, ...over });
  return { layer, link };
}

export function repr(over: Partial<Ipv4Repr> & { payloadLength: number }): Ipv4Repr {
  const r: Ipv4Repr = {
    src: PEER, dst: US, protocol: 17, ttl: 64, tos: 0, identification: 1, dontFragment: false, moreFragments: false,
    fragmentOffset: 0, headerLength: 20, totalLength: 0, ...over,
  };
  r.totalLength = r.headerLength + r.payloadLength;
  return r;
}

/** A full packet: header from `over`, then `payload`. */
export function packet(payload: Uint8Array, over: Partial<Ipv4Repr> = {}): Uint8Array {
  const r = repr({ ...over, payloadLength: payload.length });
  const b = new Uint8Array(r.totalLength);
  emitIpv4(r, b, 0);
  b.set(payload, r.headerLength);
  return b;
}

/** Deterministic pseudo-random bytes (cheap for 64 KiB payloads in properties). */
export function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = (seed | 0) ^ 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** Splits `payload` at the given (8-aligned, increasing) cut points into fragments of datagram `id`. */
export function fragments(payload: Uint8Array, cuts: number[], over: Partial<Ipv4Repr> = {}): Uint8Array[] {
  const bounds = [0, ...cuts, payload.length];
  const out: Uint8Array[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const s = bounds[i]!;
    const e = bounds[i + 1]!;
    out.push(packet(payload.subarray(s, e), { ...over, fragmentOffset: s, moreFragments: e < payload.length }));
  }
  return out;
}

/** Fast byte equality (vitest's deep equality is slow on 64 KiB arrays). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
