/**
 * The dual-stack IP layer: one `IpOutput` over an `Ipv4Layer` and an optional
 * `Ipv6Layer`, so transports see one IP layer for both families.
 *
 * - Out: every IpOutput method dispatches on the destination's family, `typeof dst ===
 *   'number'` (address.ts): IPv4 to the IPv4 layer, IPv6 to the IPv6 layer. Without an
 *   IPv6 layer an IPv6 destination has no route (sourceFor undefined, ENETUNREACH).
 * - In: `input(packet, now, meta)` (Ipv4Layer.input's signature, so the stack's link
 *   receiver stays as it is) demultiplexes on the version nibble (a TUN device in
 *   IFF_NO_PI mode carries both): 4 → IPv4, 6 → IPv6, anything else (or 6 without an
 *   IPv6 layer, or an empty packet) is dropped and counted in `stats().dispatch`.
 * - `address`, `mtu`, `directedBroadcast` and `checksumOffload` are the IPv4 layer's:
 *   existing IPv4-only callers are unchanged. Per-destination questions (`pathMtu`,
 *   `interfaceMtu`, `networkHeaderLength`, `sourceFor`) answer for the right family.
 * - `register`/`unregister` install a transport on both layers; `pollAt`/`poll` cover
 *   both (the IPv4 layer first: it drives a shared Reassembler); `stats()` gives both.
 * - Offload: `sendSegment` goes to the layer of the destination's family (TSO4 / TSO6 as
 *   the link agreed: each layer's `maxSegmentPayload` says whether super-segments may go);
 *   `checksumOffloadTo(dst)` says, per family, whether it may be used. Without an IPv6
 *   layer an IPv6 destination gets ENETUNREACH, as for `sendWith`.
 */
import type { IpAddress, Ipv4Address, Ipv6Address } from './address.js';
import { codedError } from './errors.js';
import type { Ipv4Layer } from './layer.js';
import type { Ipv6Layer } from './layer6.js';
import type {
  ErrorReporter, ErrorReporter6, InboundDatagram, IpOutput, LinkPacketMeta, PayloadWriter, SendError, SendOptions, TransportError,
  TransportProtocol,
} from './registration.js';
import type { Ipv4Stats } from './stats.js';
import type { Ipv6Stats } from './stats6.js';

/** Counters of the version demultiplexer. */
export interface DualDispatchStats {
  /** Packets handed to `input`. */
  InReceives: number;
  /** Empty, or a version nibble other than 4 and 6. */
  InBadVersion: number;
  /** Version 6 without an IPv6 layer. */
  InNoIpv6: number;
  /** Sends to an IPv6 destination without an IPv6 layer (ENETUNREACH). */
  OutNoIpv6: number;
}

export interface DualStackStats {
  ipv4: Ipv4Stats;
  /** Undefined without an IPv6 layer. */
  ipv6: Ipv6Stats | undefined;
  dispatch: DualDispatchStats;
}

export class DualStackIp implements IpOutput {
  readonly v4: Ipv4Layer;
  readonly v6: Ipv6Layer | undefined;
  private readonly d: DualDispatchStats = { InReceives: 0, InBadVersion: 0, InNoIpv6: 0, OutNoIpv6: 0 };

  constructor(v4: Ipv4Layer, v6?: Ipv6Layer) {
    if (typeof v4 !== 'object' || v4 === null || typeof v4.input !== 'function') throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'v4 must be an Ipv4Layer');
    if (v6 !== undefined && (typeof v6 !== 'object' || v6 === null || typeof v6.input !== 'function')) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'v6 must be an Ipv6Layer');
    this.v4 = v4;
    this.v6 = v6;
  }

  /** The IPv4 layer's address (IPv4-only callers keep working); `v6.addresses` for IPv6. */
  get address(): Ipv4Address {
    return this.v4.address;
  }

  get directedBroadcast(): number {
    return this.v4.directedBroadcast;
  }

  /** The IPv4 layer's link MTU (both share the link). */
  get mtu(): number {
    return this.v4.mtu;
  }

  /** The IPv4 layer's (IpOutput: for IPv4 destinations); `checksumOffloadTo` answers per family. */
  get checksumOffload(): boolean {
    return this.v4.checksumOffload;
  }

  /** The checksum offload of the layer of `dst`'s family. */
  checksumOffloadTo(dst: IpAddress): boolean {
    if (typeof dst === 'number') return this.v4.checksumOffload;
    return this.v6 !== undefined && this.v6.checksumOffload;
  }

  // ---- registration ----------------------------------------------------------------------

  register(t: TransportProtocol): void {
    this.v4.register(t);
    this.v6?.register(t);
  }

  unregister(protocol: number): void {
    this.v4.unregister(protocol);
    this.v6?.unregister(protocol);
  }

  setErrorReporter(r: ErrorReporter | undefined): void {
    this.v4.setErrorReporter(r);
  }

  setErrorReporter6(r: ErrorReporter6 | undefined): void {
    this.v6?.setErrorReporter6(r);
  }

  // ---- per destination ----------------------------------------------------------------

  sourceFor(dst: IpAddress): IpAddress | undefined {
    if (typeof dst === 'number') return this.v4.sourceFor(dst);
    return this.v6?.sourceFor(dst);
  }

  networkHeaderLength(dst: IpAddress): number {
    return typeof dst === 'number' ? this.v4.networkHeaderLength() : 40;
  }

  interfaceMtu(dst: IpAddress): number {
    if (typeof dst === 'number') return this.v4.interfaceMtu(dst);
    return this.v6 !== undefined ? this.v6.interfaceMtu(dst) : this.v4.mtu;
  }

  isLocalAddress(a: IpAddress): boolean {
    if (typeof a === 'number') return this.v4.isLocalAddress(a);
    return this.v6 !== undefined && this.v6.isLocalAddress(a);
  }

  isOwnSource(a: IpAddress): boolean {
    if (typeof a === 'number') return this.v4.isOwnSource(a);
    return this.v6 !== undefined && this.v6.isOwnSource(a);
  }

  pathMtu(dst: IpAddress): number {
    if (typeof dst === 'number') return this.v4.pathMtu(dst);
    return this.v6 !== undefined ? this.v6.pathMtu(dst) : this.v4.mtu;
  }

  maxSegmentPayload(dst: IpAddress): number {
    if (typeof dst === 'number') return this.v4.maxSegmentPayload(dst);
    return this.v6 !== undefined ? this.v6.maxSegmentPayload(dst) : this.v4.mtu - 40;
  }

  send(dst: IpAddress, protocol: number, payload: Uint8Array, options?: SendOptions): SendError | undefined {
    if (typeof dst === 'number') return this.v4.send(dst, protocol, payload, options);
    if (this.v6 === undefined) return this.noIpv6();
    return this.v6.send(dst, protocol, payload, options);
  }

  sendWith(dst: IpAddress, protocol: number, length: number, writer: PayloadWriter, options?: SendOptions): SendError | undefined {
    if (typeof dst === 'number') return this.v4.sendWith(dst, protocol, length, writer, options);
    if (this.v6 === undefined) return this.noIpv6();
    return this.v6.sendWith(dst, protocol, length, writer, options);
  }

  sendSegment(
    dst: IpAddress, protocol: number, length: number, writer: PayloadWriter, gsoSize: number, csumOffset: number, options?: SendOptions,
  ): SendError | undefined {
    if (typeof dst === 'number') return this.v4.sendSegment(dst, protocol, length, writer, gsoSize, csumOffset, options);
    if (this.v6 === undefined) return this.noIpv6();
    return this.v6.sendSegment(dst, protocol, length, writer, gsoSize, csumOffset, options);
  }

  private noIpv6(): SendError {
    this.d.OutNoIpv6++;
    return 'ENETUNREACH';
  }

  /** By the family of the datagram (as the transport received it). */
  reportUnreachable(code: number, datagram: InboundDatagram, now: number): void {
    if (typeof datagram.src === 'number') this.v4.reportUnreachable(code, datagram, now);
    else this.v6?.reportUnreachable(code, datagram, now);
  }

  /** An ICMP(v6) error about a datagram we sent, by the family of its destination. */
  deliverError(e: TransportError, now: number): void {
    if (typeof e.dst === 'number') this.v4.deliverError(e, now);
    else this.v6?.deliverError(e, now);
  }

  // ---- receive --------------------------------------------------------------------------

  /** One packet from the link: demultiplexed by the version nibble (RFC 791 §3.1, RFC 8200 §3). */
  input(packet: Uint8Array, now: number, meta?: LinkPacketMeta): void {
    const d = this.d;
    d.InReceives++;
    const version = packet.length === 0 ? 0 : packet[0]! >>> 4;
    if (version === 4) {
      this.v4.input(packet, now, meta);
    } else if (version === 6) {
      if (this.v6 === undefined) d.InNoIpv6++;
      else this.v6.input(packet, now, meta);
    } else {
      d.InBadVersion++;
    }
  }

  get loopbackPending(): number {
    return this.v4.loopbackPending + (this.v6?.loopbackPending ?? 0);
  }

  /** Both loopback queues, IPv4 first; returns how many datagrams. */
  deliverLoopback(now: number): number {
    return this.v4.deliverLoopback(now) + (this.v6?.deliverLoopback(now) ?? 0);
  }

  // ---- time and introspection -------------------------------------------------------------

  pollAt(): number {
    return Math.min(this.v4.pollAt(), this.v6?.pollAt() ?? Infinity);
  }

  poll(now: number): void {
    this.v4.poll(now);
    this.v6?.poll(now);
  }

  stats(): DualStackStats {
    return { ipv4: this.v4.stats(), ipv6: this.v6?.stats(), dispatch: { ...this.d } };
  }

  /** The IPv6 address(es), or none. */
  get addresses6(): readonly Ipv6Address[] {
    return this.v6?.addresses ?? [];
  }
}
