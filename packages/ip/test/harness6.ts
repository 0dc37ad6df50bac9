/** IPv6 test fixtures: addresses, packet and fragment builders, a recording ErrorReporter6. */
import {
  Ipv6Layer, parseIpv6Address, writeAddress, type ErrorReporter6, type InboundDatagram, type Ipv6Address, type Ipv6LayerOptions,
} from '@netstack/ip';
import { FakeLink } from './harness.js';

export const v6 = (t: string): Ipv6Address => {
  const a = parseIpv6Address(t);
  if (a === undefined) throw new Error(`bad address ${t}`);
  return a;
};
export const US6 = v6('fd07::2');
export const PEER6 = v6('fd07::1');
export const FAR6 = v6('2001:db8::99');

export interface Hdr {
  src?: Ipv6Address;
  dst?: Ipv6Address;
  /** Next Header of the fixed header. */
  nh?: number;
  hop?: number;
  tc?: number;
  flow?: number;
}

/** Fixed header + `body` (extension headers and payload as given). */
export function pkt6(body: Uint8Array, h: Hdr = {}): Uint8Array {
  const p = new Uint8Array(40 + body.length);
  const tc = h.tc ?? 0;
  const flow = h.flow ?? 0;
  p[0] = 0x60 | (tc >>> 4);
  p[1] = ((tc & 15) << 4) | (flow >>> 16);
  p[2] = (flow >>> 8) & 255;
  p[3] = flow & 255;
  p[4] = body.length >>> 8;
  p[5] = body.length & 255;
  p[6] = h.nh ?? 17;
  p[7] = h.hop ?? 64;
  writeAddress(p, 8, h.src ?? PEER6);
  writeAddress(p, 24, h.dst ?? US6);
  p.set(body, 40);
  return p;
}

/** An options header (Hop-by-Hop or Destination Options): next header, then `options` padded with PadN to a multiple of 8. */
export function optsHeader(next: number, options: number[]): Uint8Array {
  let len = 2 + options.length;
  const pad = (8 - (len % 8)) % 8;
  len += pad;
  const h = new Uint8Array(len);
  h[0] = next;
  h[1] = len / 8 - 1;
  h.set(options, 2);
  if (pad === 1) h[2 + options.length] = 0;
  else if (pad > 1) { h[2 + options.length] = 1; h[3 + options.length] = pad - 2; }
  return h;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** The fragment of `data[start, end)` (the fragmentable part) at offset `start`, behind `unfrag` (extension headers whose last names 44). */
export function frag6(
  data: Uint8Array, start: number, end: number, more: boolean,
  o: { id?: number; nh?: number; src?: Ipv6Address; dst?: Ipv6Address; unfrag?: Uint8Array } = {},
): Uint8Array {
  const fh = new Uint8Array(8);
  const id = o.id ?? 0x01020304;
  fh[0] = o.nh ?? 17;
  fh[2] = start >>> 8;
  fh[3] = (start & 0xf8) | (more ? 1 : 0);
  fh[4] = id >>> 24; fh[5] = (id >>> 16) & 255; fh[6] = (id >>> 8) & 255; fh[7] = id & 255;
  const unfrag = o.unfrag ?? new Uint8Array(0);
  return pkt6(concat(unfrag, fh, data.subarray(start, end)), { nh: unfrag.length > 0 ? 60 : 44, ...(o.src ? { src: o.src } : {}), ...(o.dst ? { dst: o.dst } : {}) });
}

export interface Reported {
  kind: 'unreachable' | 'param' | 'time';
  code: number;
  pointer?: number;
  packet: Uint8Array;
  protocol: number;
}

export class Reporter6 implements ErrorReporter6 {
  calls: Reported[] = [];
  destinationUnreachable(code: number, o: InboundDatagram<Ipv6Address>): void {
    this.calls.push({ kind: 'unreachable', code, packet: o.packet.slice(), protocol: o.protocol });
  }
  parameterProblem(code: number, pointer: number, o: InboundDatagram<Ipv6Address>): void {
    this.calls.push({ kind: 'param', code, pointer, packet: o.packet.slice(), protocol: o.protocol });
  }
  timeExceeded(code: number, o: InboundDatagram<Ipv6Address>): void {
    this.calls.push({ kind: 'time', code, packet: o.packet.slice(), protocol: o.protocol });
  }
}

export function makeLayer6(over: Partial<Ipv6LayerOptions> = {}): { layer: Ipv6Layer; link: FakeLink } {
  const link = (over.link as FakeLink | undefined) ?? new FakeLink(1500);
  const layer = new Ipv6Layer({ addresses: [US6], link, ...over });
  return { layer, link };
}
