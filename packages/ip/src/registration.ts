/**
 * The boundaries around the IPv4 layer, in one file (after gVisor's
 * pkg/tcpip/stack/registration.go). Who owns which buffer is said at each one.
 *
 *   link (packages/tun)  --packet-->  Ipv4Layer.input()  --InboundDatagram-->  TransportProtocol.receive()
 *   TransportProtocol  --IpOutput.send()-->  Ipv4Layer  --LinkOutput.send()-->  link
 *   icmp  --Ipv4Layer.deliverError()-->  TransportProtocol.receiveError()
 *   transport  --IpOutput.reportUnreachable()-->  ErrorReporter (icmp)
 *
 * `ip` knows no transport and no device: transports register themselves, the
 * device is reached through the structural `LinkOutput`, and ICMP errors are sent
 * through an `ErrorReporter` that the facade installs.
 */
import type { PacketMeta } from '@netstack/common';
import type { IpAddress, Ipv6Address } from './address.js';

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

/**
 * Where the IP layer writes packets, and what the link says about a received one: the
 * link contract, declared once in @netstack/common (the device implements it structurally;
 * ip and tun may not import each other). `LinkPacketMeta` is given to `Ipv4Layer.input` by
 * links with offloads: a reused record, valid during the call.
 */
import type { LinkOutput } from '@netstack/common';
export type { LinkOutput } from '@netstack/common';
export type LinkPacketMeta = Readonly<PacketMeta>;

/**
 * One received datagram, as the IP layer hands it to a transport. The record and
 * its views are reused: valid only during the `receive` call. Keep bytes by copying.
 */
export interface InboundDatagram<A extends IpAddress = IpAddress> {
  /** Of the family of the layer that delivers it (the IPv4 layer: `InboundDatagram<Ipv4Address>`). */
  src: A;
  dst: A;
  protocol: number;
  ttl: number;
  tos: number;
  /** The transport bytes (the IP payload, after reassembly when fragmented). */
  payload: Uint8Array;
  /** The whole datagram, IP header first (rebuilt when reassembled): ICMP errors quote it. */
  packet: Uint8Array;
  /** Length of the IP header at the start of `packet`. */
  headerLength: number;
  /** Sent to a broadcast or multicast address: never answered with an ICMP error (RFC 1122 §3.2.2). */
  toBroadcast: boolean;
  /** Rebuilt from fragments (RFC 791 §3.2 reassembly). */
  reassembled: boolean;
  /**
   * The link vouched for the transport checksum (meta NEEDS_CSUM or DATA_VALID): the bytes
   * come from the local kernel and were never on a wire. Transports must then NOT verify
   * their checksum (with NEEDS_CSUM it holds only the pseudo-header sum). Absent = false.
   */
  checksumVerified?: boolean;
  /**
   * The destination is not one of ours: delivered only by a layer with
   * `acceptAnyDestination` (any-address termination). A transport answers it from `dst`
   * with `SendOptions.transparent`, or hands it to an interception hook. Absent = false.
   */
  foreign?: boolean;
}

/** An ICMP error, decoded by icmp and routed by ip to the transport named in the quoted header. */
export interface TransportError<A extends IpAddress = IpAddress> {
  /** ICMP type: 3 destination unreachable, 11 time exceeded, 12 parameter problem, 4 source quench. */
  icmpType: number;
  icmpCode: number;
  /** Who sent the ICMP error. */
  reporter: A;
  /** Fields of the quoted (our own, earlier sent) datagram. */
  src: A;
  dst: A;
  protocol: number;
  /** The quoted transport bytes after the quoted IP header (at least 8: ports, TCP sequence number). */
  quoted: Uint8Array;
  /** Next-hop MTU of a fragmentation-needed error (RFC 1191 §4), else 0. */
  nextHopMtu: number;
  /**
   * Total Length of the quoted IP header, when icmp has it. Used for the
   * RFC 1191 §5 plateau search when an old router reports nextHopMtu 0.
   */
  originalLength?: number;
}

/** The errno codes an ICMP error converts to (`icmpErrorErrno`). */
export type IcmpErrnoCode =
  | 'ENETUNREACH'
  | 'EHOSTUNREACH'
  | 'ENOPROTOOPT'
  | 'ECONNREFUSED'
  | 'EMSGSIZE'
  | 'EOPNOTSUPP'
  | 'EHOSTDOWN'
  | 'ENONET'
  | 'EPROTO';

/**
 * What an ICMP error means to a socket: an errno `code`, and `fatal` (a "hard" error:
 * Linux reports it at once on a connected socket; a soft one is only remembered).
 */
export interface IcmpErrno {
  readonly code: IcmpErrnoCode;
  readonly fatal: boolean;
}

/**
 * Destination unreachable codes 0-15 (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1), as
 * Linux's icmp_err_convert table in net/ipv4/icmp.c maps them. The one table every
 * transport reads (icmp's ping client, udp, tcp).
 */
const UNREACH_ERRNO: readonly IcmpErrno[] = [
  { code: 'ENETUNREACH', fatal: false }, // 0 net unreachable
  { code: 'EHOSTUNREACH', fatal: false }, // 1 host unreachable
  { code: 'ENOPROTOOPT', fatal: true }, // 2 protocol unreachable
  { code: 'ECONNREFUSED', fatal: true }, // 3 port unreachable
  { code: 'EMSGSIZE', fatal: false }, // 4 fragmentation needed (path MTU: RFC 1191)
  { code: 'EOPNOTSUPP', fatal: false }, // 5 source route failed
  { code: 'ENETUNREACH', fatal: true }, // 6 destination network unknown
  { code: 'EHOSTDOWN', fatal: true }, // 7 destination host unknown
  { code: 'ENONET', fatal: true }, // 8 source host isolated
  { code: 'ENETUNREACH', fatal: true }, // 9 network administratively prohibited
  { code: 'EHOSTUNREACH', fatal: true }, // 10 host administratively prohibited
  { code: 'ENETUNREACH', fatal: false }, // 11 network unreachable for TOS
  { code: 'EHOSTUNREACH', fatal: false }, // 12 host unreachable for TOS
  { code: 'EHOSTUNREACH', fatal: true }, // 13 communication administratively prohibited
  { code: 'EHOSTUNREACH', fatal: true }, // 14 host precedence violation
  { code: 'EHOSTUNREACH', fatal: true }, // 15 precedence cutoff in effect
];
/** Highest destination unreachable code in the table (Linux NR_ICMP_UNREACH). */
export const MAX_UNREACH_CODE = 15;

const UNREACH_UNKNOWN: IcmpErrno = { code: 'EHOSTUNREACH', fatal: false };
const TIME_EXCEEDED: IcmpErrno = { code: 'EHOSTUNREACH', fatal: false };
const PARAMETER_PROBLEM: IcmpErrno = { code: 'EPROTO', fatal: true };

/**
 * The errno of an ICMP error (a `TransportError`'s icmpType/icmpCode), as Linux's
 * udp_err/ping_err derive it: destination unreachable through the table above (a code
 * above 15: EHOSTUNREACH, not fatal), time exceeded EHOSTUNREACH (not fatal), parameter
 * problem EPROTO (fatal). Undefined for messages that report nothing (source quench:
 * RFC 6633 §3; any other type). Each transport decides what to do with `fatal`.
 */
export function icmpErrorErrno(icmpType: number, icmpCode: number): IcmpErrno | undefined {
  switch (icmpType) {
    case 3: return UNREACH_ERRNO[icmpCode] ?? UNREACH_UNKNOWN;
    case 11: return TIME_EXCEEDED;
    case 12: return PARAMETER_PROBLEM;
    default: return undefined;
  }
}

/** What a transport (icmp, udp, tcp) implements to receive from the IP layer. */
export interface TransportProtocol {
  readonly protocol: number;
  /** Bad transport input is dropped and counted here, never thrown. */
  receive(datagram: InboundDatagram, now: number): void;
  receiveError?(error: TransportError, now: number): void;
  /**
   * Asked before a fragmentation-needed / Packet Too Big lowers the path MTU: false when
   * the quoted datagram is not one this transport could have sent now (TCP: no such
   * connection, or a sequence number outside SND.UNA..SND.MAX), so a blind forged report
   * changes nothing (RFC 5927 §4.1 and §7.2, as Linux validates in tcp_v4_err before it
   * updates the route). Absent = accepted.
   */
  acceptsPathMtu?(error: TransportError): boolean;
}

/** Installed by the icmp package: sends ICMP errors about a received datagram. */
export interface ErrorReporter {
  /** Destination unreachable (RFC 792) with `code` (2 protocol, 3 port) quoting `original`. */
  destinationUnreachable(code: number, original: InboundDatagram, now: number): void;
  /**
   * Optional: time exceeded (RFC 792 type 11) with `code` quoting `original`.
   * The IP layer calls it with code 1 (fragment reassembly time exceeded) for a
   * reassembly that timed out holding its first fragment; `original` is that first
   * fragment as received (RFC 1122 §3.3.2). Never for a broadcast/multicast datagram.
   */
  timeExceeded?(code: number, original: InboundDatagram, now: number): void;
}

/** What the IPv6 layer asks of ICMPv6 (RFC 4443): implemented by @netstack/icmp's Icmp6Layer. */
export interface ErrorReporter6 {
  /** Destination unreachable (RFC 4443 §3.1), e.g. code 4 port unreachable, quoting `original`. */
  destinationUnreachable(code: number, original: InboundDatagram<Ipv6Address>, now: number): void;
  /** Parameter problem (RFC 4443 §3.4): `code` 0/1/2/3, `pointer` the offset of the offending octet in `original.packet`. */
  parameterProblem(code: number, pointer: number, original: InboundDatagram<Ipv6Address>, now: number): void;
  /** Time exceeded (RFC 4443 §3.3), code 1: fragment reassembly time exceeded. */
  timeExceeded?(code: number, original: InboundDatagram<Ipv6Address>, now: number): void;
}

export type SendError =
  /** Larger than the path allows with DF set, or larger than 65535 in all. */
  | 'EMSGSIZE'
  /** No route to the destination. */
  | 'ENETUNREACH'
  /** The link dropped the packet (queue full, device gone). */
  | 'ENOBUFS';

export interface SendOptions {
  /** Set DF; a payload larger than the path MTU then fails with EMSGSIZE instead of fragmenting. */
  dontFragment?: boolean;
  /** Default 64 (RFC 1700 / Linux default). */
  ttl?: number;
  tos?: number;
  /**
   * Also deliver a copy to this host, whole, before the datagram is sent (Linux
   * ip_mc_output, for multicast with IP_MULTICAST_LOOP and for broadcast): through the
   * loopback queue, so only when the layer has loopback on. With `ttl: 0` (allowed only
   * here) the datagram stays on this host and is never sent.
   */
  loopback?: boolean;
  /**
   * IPv6 only: the Flow Label (20 bits, RFC 6437) for this datagram, e.g. one a transport
   * derives per connection; without it the IPv6 layer labels by its own keyed hash (or 0).
   */
  flowLabel?: number;
  /**
   * The source address, when it must be a particular one of ours: a socket bound to one of
   * several addresses, a connection accepted on one, an ICMP reply from the address the
   * request was sent to (RFC 1122 §3.2.2.6, RFC 4443 §2.2). Ignored unless it is one of the
   * layer's own addresses (IPv4: or 127/8 towards a local destination); then the layer's
   * own choice (`sourceFor`).
   */
  source?: IpAddress | undefined;
  /**
   * `source` is only a preference: when it is not (or no longer) one of ours, the layer
   * chooses as for no `source` (ICMP replies and errors about a datagram to an address that
   * is not ours, e.g. one terminated by `acceptAnyDestination`: Linux icmp_reply/__icmp_send
   * then take the route's source). Without it, an IPv4 unicast `source` that is not ours
   * (a socket bound to an address `configure` removed) fails with ENETUNREACH.
   */
  sourceFallback?: boolean;
  /**
   * IP_TRANSPARENT: `source` may be any unicast address, not only one of ours (the original
   * destination of an intercepted connection or flow). Honoured only by a layer with
   * `acceptAnyDestination`; otherwise the rule above applies.
   */
  transparent?: boolean;
}

/**
 * Writes a transport payload straight into the IP layer's output buffer (no copy
 * of the payload on the way out). Implemented on a reused object, not a closure.
 */
export interface PayloadWriter {
  /** Writes exactly the announced number of bytes at `buf[offset...]`; `src` is the chosen source address (pseudo-header). */
  writePayload(buf: Uint8Array, offset: number, src: IpAddress, dst: IpAddress): void;
}

/**
 * A PayloadWriter whose last bytes may leave from where they are kept: `sendSegment` over a
 * link with `sendOffloadGather` (a TCP send buffer's bytes written to the TUN device in
 * place, not copied into the IP layer's buffer first). Implemented on a reused object.
 */
export interface GatherWriter extends PayloadWriter {
  /** Bytes at the end of the payload that `writeHead` leaves out (0: none; writePayload is used). */
  gatherLength(): number;
  /**
   * Writes the first `length - gatherLength()` bytes at `buf[offset...]` as writePayload
   * would (the checksum field partial: `sendSegment` only), and points `gathered` (and
   * `gathered2`, else undefined) at the rest, in order: valid until the next call.
   */
  writeHead(buf: Uint8Array, offset: number, src: IpAddress, dst: IpAddress): void;
  gathered: Uint8Array;
  gathered2: Uint8Array | undefined;
}

/** Bytes of `writer`'s payload that `sendSegment` leaves in place over `link` (0: all copied into the datagram). */
export function gatherLength(writer: PayloadWriter, link: LinkOutput): number {
  if (link.sendOffloadGather === undefined) return 0;
  const w = writer as Partial<GatherWriter>;
  return w.gatherLength === undefined ? 0 : w.gatherLength();
}

/** The IP layer as transports see it. */
export interface IpOutput {
  /** The stack's own (IPv4 primary) address; `isLocalAddress` knows every one of them. */
  readonly address: IpAddress;
  /** The on-link subnet's broadcast address (-1 for /31 and /32: none). */
  readonly directedBroadcast?: number;
  /** The link MTU. */
  readonly mtu: number;
  /** Source address to use towards `dst`, or undefined when there is no route. */
  sourceFor(dst: IpAddress): IpAddress | undefined;
  /**
   * Bytes of network-layer header in front of a transport header towards `dst` (20 for
   * IPv4 without options); `minHeaderLength(dst)` when absent. Transports derive their
   * MSS from it: MTU - this - the TCP header (RFC 9293 §3.7.1, RFC 8200 §5).
   */
  networkHeaderLength?(dst: IpAddress): number;
  /** The MTU of the interface towards `dst` (65535 for loopback destinations); `mtu` when absent. */
  interfaceMtu?(dst: IpAddress): number;
  /** An address sockets may bind (ours, or 127/8 with loopback); `address` alone when absent. */
  isLocalAddress?(a: IpAddress): boolean;
  /**
   * An address our datagrams may carry as source: `isLocalAddress`, and on a layer with
   * `acceptAnyDestination` any foreign unicast address (sent with `transparent`). An ICMP
   * error quoting a datagram from such a source is ours (routed to its transport).
   * `isLocalAddress` when absent.
   */
  isOwnSource?(a: IpAddress): boolean;
  /** Path MTU towards `dst` (link MTU unless lowered by RFC 1191 / RFC 8201). */
  pathMtu(dst: IpAddress): number;
  /** Sends `payload` (borrowed for the call) as one datagram, fragmenting when needed and allowed. */
  send(dst: IpAddress, protocol: number, payload: Uint8Array, options?: SendOptions): SendError | undefined;
  /** Like `send`, but the payload of `length` bytes is written by `writer` into the output buffer. */
  sendWith(dst: IpAddress, protocol: number, length: number, writer: PayloadWriter, options?: SendOptions): SendError | undefined;
  /** Asks the installed ErrorReporter to answer `datagram` with destination unreachable `code`. */
  reportUnreachable(code: number, datagram: InboundDatagram, now: number): void;

  // ---- offloads (optional; absent on IP outputs without them) ----

  /**
   * The largest transport length (header + data) one `sendSegment` may carry towards `dst`:
   * 65515 (65535 - 20) over IPv4 when the link does TSO4, 65495 (65535 - 40) over IPv6 when
   * it does TSO6, else pathMtu less the network header.
   */
  maxSegmentPayload?(dst: IpAddress): number;
  /**
   * True when `sendSegment` may be used towards IPv4 destinations: the link completes
   * partial transport checksums. Without `checksumOffloadTo`, IPv6 destinations never use
   * `sendSegment` (an IP output that offloads for IPv4 only).
   */
  readonly checksumOffload?: boolean;
  /**
   * Whether `sendSegment` may be used towards `dst`, of either family (DualStackIp: the
   * layer of `dst`'s family has checksum offload). Absent: `checksumOffload` for IPv4
   * destinations, false for IPv6 ones.
   */
  checksumOffloadTo?(dst: IpAddress): boolean;
  /**
   * Sends ONE datagram (IPv4: DF set; never fragmented) with a transport checksum left
   * partial: `writer` writes `length` bytes with the checksum field at `csumOffset` from the
   * transport header holding the folded pseudo-header sum (not complemented). With
   * `gsoSize > 0` the datagram may exceed the MTU (up to `maxSegmentPayload`) and the link
   * cuts it into `gsoSize`-byte payloads (TCP only; TSO4 or TSO6 by family). EMSGSIZE when
   * it does not fit; ENOBUFS when the link dropped it. Only valid while offload is on
   * towards `dst` (`checksumOffloadTo`, else `checksumOffload` for IPv4).
   */
  sendSegment?(
    dst: IpAddress, protocol: number, length: number, writer: PayloadWriter, gsoSize: number, csumOffset: number,
    options?: SendOptions,
  ): SendError | undefined;
}
