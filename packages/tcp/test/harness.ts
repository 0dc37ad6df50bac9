/**
 * Test harness in smoltcp's style: a fake IpOutput that collects what the layer
 * sends, segment templates, `send` (inject from the peer) and `recv` (assert what
 * left), and fixtures that build a connection in a given state.
 *
 * Family: the `tcp` vitest project runs the trace tests over IPv4, `tcp6` over IPv6
 * (test/family.ts). LOCAL/REMOTE are 10.0.0.1/10.0.0.2 or fd00::1/fd00::2; every segment
 * that leaves or is injected has its checksum verified against the family's pseudo-header
 * laid out by hand (RFC 8200 §8.1 for IPv6). The fake link's MTU is MSS + 40 over IPv4 and
 * MSS + 60 over IPv6 (RFC 9293 §3.7.1, RFC 8200 §5), so both families segment at the same
 * MSS (1460) and the traces' numbers hold for both; family.test.ts checks 1500 → 1440.
 */
import { expect } from 'vitest';
import { PROTO_TCP, parseIpv6Address } from '@netstack/ip';
import type { InboundDatagram, IpAddress, TransportError } from '@netstack/ip';
import { seededRandom } from '@netstack/common';
import { FakeIp as SharedFakeIp } from '../../ip/test/fake-ip.js';
import { FAMILY, NET_HEADER, checksumVerifies } from '../../../test/family.js';
import {
  ACK, FIN, SYN, TcpLayer, emitTcp, newTcpRepr, parseTcp, tcpHeaderLen,
} from '../src/index.js';
import type { TcpConnection, TcpError, TcpHandler, TcpLayerOptions, TcpOptions, TcpRepr } from '../src/index.js';

export { FAMILY, FAMILY_NAME, NET_HEADER } from '../../../test/family.js';

const v6 = (text: string): IpAddress => parseIpv6Address(text)!;
/** Host `n` of the test network: 10.0.0.n over IPv4, fd00::n over IPv6. */
export const hostAddress = (n: number): IpAddress => (FAMILY === 6 ? v6(`fd00::${n.toString(16)}`) : (0x0a000000 | n));
export const LOCAL: IpAddress = hostAddress(1);
export const REMOTE: IpAddress = hostAddress(2);
export const LOCAL_PORT = 49500;
export const REMOTE_PORT = 80;
export const REMOTE_ISS = 10_000;
/** The MSS both families use in the traces (what the link MTU is set from). */
export const MSS = 1460;
/** The fake link's MTU: MSS + the family's network header + 20 (TCP). */
export const MTU = MSS + NET_HEADER + 20;

/** The shared fake IP layer, at LOCAL by default, with the family's MTU. */
export class FakeIp extends SharedFakeIp<IpAddress> {
  constructor(address: IpAddress = LOCAL) {
    super(address);
    this.mtu = MTU;
  }
}

/** A segment as tests write it: flags and numbers, payload as a string or bytes. */
export interface Seg {
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  payload?: string | Uint8Array;
  options?: TcpOptions;
  srcPort?: number;
  dstPort?: number;
}

export function datagram(bytes: Uint8Array, src: IpAddress, dst: IpAddress, tos = 0): InboundDatagram {
  return { src, dst, protocol: 6, ttl: 64, tos, payload: bytes, packet: bytes, headerLength: 0, toBroadcast: false, reassembled: false };
}

export function toBytes(p: string | Uint8Array | undefined): Uint8Array {
  if (p === undefined) return new Uint8Array(0);
  return typeof p === 'string' ? new TextEncoder().encode(p) : p;
}

export function encode(s: Seg, src = REMOTE, dst = LOCAL): Uint8Array {
  const r: TcpRepr = {
    srcPort: s.srcPort ?? REMOTE_PORT, dstPort: s.dstPort ?? LOCAL_PORT,
    seq: s.seq >>> 0, ack: (s.ack ?? 0) >>> 0, flags: s.flags, window: s.window ?? 65535, urgent: 0,
    options: s.options ?? {}, payload: toBytes(s.payload),
  };
  const buf = new Uint8Array(tcpHeaderLen(r) + r.payload.length);
  emitTcp(r, buf, 0, src, dst);
  if (!checksumVerifies(PROTO_TCP, src, dst, buf)) throw new Error('emitTcp wrote a checksum the pseudo-header does not verify');
  return buf;
}

export function decode(bytes: Uint8Array, src = LOCAL, dst = REMOTE): TcpRepr {
  if (!checksumVerifies(PROTO_TCP, src, dst, bytes)) throw new Error('layer sent a segment whose checksum does not verify over the pseudo-header');
  const r = parseTcp(bytes, src, dst, true, newTcpRepr());
  if (typeof r === 'string') throw new Error(`layer sent a bad segment: ${r}`);
  r.payload = r.payload.slice();
  return r;
}

export function flagNames(f: number): string {
  const n = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'];
  return n.filter((_, i) => f & (1 << i)).join('|') || 'none';
}

export interface Events { log: string[]; closedError: TcpError | undefined | null }

/** One local layer talking to a scripted remote. */
export class Ctx {
  ip: FakeIp;
  layer: TcpLayer;
  now = 0;
  events: Events = { log: [], closedError: null };
  handler: TcpHandler;
  conn!: TcpConnection;
  /** Remote's next sequence number (what the local side should ack). */
  rseq = REMOTE_ISS + 1;
  /** Local ISS (learnt from the SYN / SYN-ACK). */
  iss = 0;
  /** TSval of our SYN (0 without timestamps), for a SYN-ACK that echoes it. */
  synTsVal = 0;

  constructor(options: TcpLayerOptions = {}) {
    this.ip = new FakeIp();
    // Traces script when each segment leaves: unpaced unless a test asks (pacing.test.ts).
    this.layer = new TcpLayer(this.ip, {
      isnKey: new Uint8Array(16).fill(7), timestamps: false, windowScaling: false, pacing: false,
      ...options,
    });
    const ev = this.events;
    this.handler = {
      onEstablished: () => ev.log.push('established'),
      onReadable: () => ev.log.push('readable'),
      onWritable: () => ev.log.push('writable'),
      onRemoteFin: () => ev.log.push('remote-fin'),
      onClosed: (_c, err) => { ev.log.push(err ? `closed:${err.code}` : 'closed'); ev.closedError = err; },
    };
  }

  /** Injects a segment from the peer. */
  send(s: Seg, src: IpAddress = REMOTE, tos = 0): void {
    this.layer.receive(datagram(encode(s, src, LOCAL), src, LOCAL, tos), this.now);
  }

  /** Takes everything the layer sent since the last call. */
  drain(): TcpRepr[] {
    const out = this.ip.sent.map((x) => decode(x.payload, x.src, x.dst));
    this.ip.sent = [];
    return out;
  }

  /** Asserts exactly one segment left, matching `exp` (fields given), and returns it. */
  recv(exp: Partial<Omit<Seg, 'payload'>> & { payload?: string | Uint8Array; len?: number }): TcpRepr {
    const segs = this.drain();
    expect(segs.map((s) => describeSeg(s)), 'exactly one segment').toHaveLength(1);
    const s = segs[0]!;
    matchSeg(s, exp);
    return s;
  }

  /** Asserts nothing left. */
  recvNothing(): void {
    expect(this.drain().map((s) => describeSeg(s))).toEqual([]);
  }

  /** Moves virtual time to `t` and runs due timers. */
  advance(t: number): void {
    this.now = t;
    this.layer.poll(t);
  }

  /** Sets the clock and polls even if nothing is due. */
  step(ms: number): void { this.advance(this.now + ms); }

  write(s: string | Uint8Array): number { return this.conn.write(toBytes(s), this.now); }

  read(max = 65536): string {
    const b = new Uint8Array(max);
    const n = this.conn.read(b, this.now);
    return new TextDecoder().decode(b.subarray(0, n));
  }
}

export function matchSeg(s: TcpRepr, exp: Partial<Omit<Seg, 'payload'>> & { payload?: string | Uint8Array; len?: number }): void {
  const d = describeSeg(s);
  if (exp.flags !== undefined) expect(flagNames(s.flags), d).toBe(flagNames(exp.flags));
  if (exp.seq !== undefined) expect(s.seq, `seq of ${d}`).toBe(exp.seq >>> 0);
  if (exp.ack !== undefined) expect(s.ack, `ack of ${d}`).toBe(exp.ack >>> 0);
  if (exp.window !== undefined) expect(s.window, `window of ${d}`).toBe(exp.window);
  if (exp.payload !== undefined) expect(new TextDecoder().decode(s.payload), d).toBe(new TextDecoder().decode(toBytes(exp.payload)));
  if (exp.len !== undefined) expect(s.payload.length, `len of ${d}`).toBe(exp.len);
  if (exp.options !== undefined) {
    for (const [k, v] of Object.entries(exp.options)) expect((s.options as Record<string, unknown>)[k], `${k} of ${d}`).toEqual(v);
  }
}

export function describeSeg(s: TcpRepr): string {
  return `${flagNames(s.flags)} seq=${s.seq} ack=${s.ack} win=${s.window} len=${s.payload.length}`;
}

/** Mulberry32: the shared seeded PRNG. */
export const seeded = seededRandom;

// ------------------------------------------------------------------ fixtures

/** Active open: SYN sent, nothing else. */
export function synSent(options: TcpLayerOptions = {}, connOpts: Parameters<TcpLayer['connect']>[0]['options'] = {}): Ctx {
  const t = new Ctx(options);
  t.conn = t.layer.connect({ remoteAddress: REMOTE, remotePort: REMOTE_PORT, localPort: LOCAL_PORT, options: connOpts }, t.now, t.handler);
  const syn = t.recv({ flags: SYN });
  t.iss = syn.seq;
  t.synTsVal = syn.options.timestamp?.tsVal ?? 0;
  return t;
}

/** ESTABLISHED via an active open; the peer offers MSS 1460 and `peerOptions`. */
export function established(options: TcpLayerOptions = {}, peerOptions: TcpOptions = {}, window = 65535): Ctx {
  const t = synSent(options);
  t.send({ seq: REMOTE_ISS, ack: t.iss + 1, flags: SYN | ACK, window, options: { mss: 1460, ...peerOptions } });
  t.recv({ flags: ACK, seq: t.iss + 1, ack: REMOTE_ISS + 1 });
  expect(t.conn.state).toBe('ESTABLISHED');
  t.events.log = [];
  return t;
}

/** A listener on LOCAL_PORT; `t.listener` accepts into `t.conn` when asked. */
export function listening(options: TcpLayerOptions = {}, backlog = 8, synBacklog?: number) {
  const t = new Ctx(options);
  const accepted: TcpConnection[] = [];
  const listener = t.layer.listen({ port: LOCAL_PORT, backlog, ...(synBacklog !== undefined ? { synBacklog } : {}) }, {
    onAcceptable: (l) => { let c; while ((c = l.accept(t.handler)) !== undefined) { accepted.push(c); t.conn = c; } },
  });
  return { t, listener, accepted };
}

export { ACK, FIN, SYN };
export type { TransportError };
