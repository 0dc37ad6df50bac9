/**
 * The one fake IP layer of the transport tests (icmp, udp, tcp): records what is sent and
 * answers route and path-MTU questions from fields the test sets. `sendWith` writes at a
 * non-zero offset, into a buffer with slack after it, to catch writers that ignore the offset.
 */
import { parseAddress } from '@netstack/ip';
import type { InboundDatagram, IpAddress, IpOutput, Ipv4Address, PayloadWriter, SendError, SendOptions, TransportError } from '@netstack/ip';

export interface Sent<A extends IpAddress = Ipv4Address> {
  src: A;
  dst: A;
  protocol: number;
  /** The transport bytes (a copy). */
  payload: Uint8Array;
  /** The TOS byte asked for (`options.tos`, else 0). */
  tos: number;
  options: SendOptions | undefined;
}

/** A dotted-quad address as an Ipv4Address (throws on a bad one: test input). */
export function ip(text: string): Ipv4Address {
  const a = parseAddress(text);
  if (a === undefined) throw new Error(`bad address ${text}`);
  return a;
}

/**
 * For IPv4 by default; `FakeIp<Ipv6Address>` (constructed with an IPv6 address) for the
 * IPv6 transports' tests. `options.source` is honoured as the IPv6 layer does.
 */
export class FakeIp<A extends IpAddress = Ipv4Address> implements IpOutput {
  readonly address: A;
  mtu = 1500;
  sent: Sent<A>[] = [];
  /** Path MTU per destination (else `mtu`). */
  pmtu = new Map<IpAddress, number>();
  /** Destinations without a route: no source address, `sendWith` fails with ENETUNREACH. */
  noRoute = new Set<A>();
  /** Every send fails with this while set. */
  failWith: SendError | undefined = undefined;
  /** The next `sendWith` fails with this (once). */
  failNext: SendError | undefined = undefined;
  /** What `reportUnreachable` was asked. */
  unreachable: { code: number; datagram: InboundDatagram }[] = [];
  /** Errors given to `deliverError` (copies). */
  delivered: TransportError[] = [];
  /** Where delivered errors go next (e.g. back to the icmp layer for protocol 1). */
  route: ((e: TransportError, now: number) => void) | undefined = undefined;

  constructor(own: IpAddress | string = '10.0.0.2') {
    // A string of 16 characters is an Ipv6Address (address.ts); dotted text is parsed.
    this.address = (typeof own === 'string' && own.length !== 16 ? ip(own) : own) as A;
  }
  sourceFor(dst: A): A | undefined {
    return this.noRoute.has(dst) ? undefined : this.address;
  }
  pathMtu(dst: A): number {
    return this.pmtu.get(dst) ?? this.mtu;
  }
  send(dst: A, protocol: number, payload: Uint8Array, options?: SendOptions): SendError | undefined {
    if (this.failWith) return this.failWith;
    this.record(dst, protocol, payload.slice(), options);
    return undefined;
  }
  sendWith(dst: A, protocol: number, length: number, writer: PayloadWriter, options?: SendOptions): SendError | undefined {
    if (this.noRoute.has(dst)) return 'ENETUNREACH';
    if (this.failNext !== undefined) { const e = this.failNext; this.failNext = undefined; return e; }
    if (this.failWith) return this.failWith;
    const headroom = typeof dst === 'number' ? 20 : 40;
    const buf = new Uint8Array(headroom + length + 7).fill(0xee);
    writer.writePayload(buf, headroom, this.sourceOf(options), dst);
    if (buf.subarray(headroom + length).some((b) => b !== 0xee)) throw new Error('the writer wrote past its length');
    this.record(dst, protocol, buf.slice(headroom, headroom + length), options);
    return undefined;
  }
  reportUnreachable(code: number, datagram: InboundDatagram): void {
    this.unreachable.push({ code, datagram });
  }
  deliverError(e: TransportError, now: number): void {
    this.delivered.push({ ...e, quoted: e.quoted.slice() });
    this.route?.(e, now);
  }
  /** Everything sent since the last call. */
  take(): Sent<A>[] {
    const s = this.sent;
    this.sent = [];
    return s;
  }
  /** The source a send uses: `options.source` when given (the IPv6 layer honours it for its own addresses), else ours. */
  protected sourceOf(options: SendOptions | undefined): A {
    return (options?.source as A | undefined) ?? this.address;
  }
  protected record(dst: A, protocol: number, payload: Uint8Array, options: SendOptions | undefined): void {
    this.sent.push({ src: this.sourceOf(options), dst, protocol, payload, tos: options?.tos ?? 0, options: options === undefined ? undefined : { ...options } });
  }
}
