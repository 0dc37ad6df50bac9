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
import type { Ipv4Address } from './address.js';

export const PROTO_ICMP = 1;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;

/** Where the IP layer writes packets. Structurally the same as `Link` in @netstack/tun. */
export interface LinkOutput {
  readonly mtu: number;
  /** Borrows `packet` for the call only. Returns false when the packet was dropped. */
  send(packet: Uint8Array): boolean;
}

/**
 * One received datagram, as the IP layer hands it to a transport. The record and
 * its views are reused: valid only during the `receive` call. Keep bytes by copying.
 */
export interface InboundDatagram {
  src: Ipv4Address;
  dst: Ipv4Address;
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
}

/** An ICMP error, decoded by icmp and routed by ip to the transport named in the quoted header. */
export interface TransportError {
  /** ICMP type: 3 destination unreachable, 11 time exceeded, 12 parameter problem, 4 source quench. */
  icmpType: number;
  icmpCode: number;
  /** Who sent the ICMP error. */
  reporter: Ipv4Address;
  /** Fields of the quoted (our own, earlier sent) datagram. */
  src: Ipv4Address;
  dst: Ipv4Address;
  protocol: number;
  /** The quoted transport bytes after the quoted IP header (at least 8: ports, TCP sequence number). */
  quoted: Uint8Array;
  /** Next-hop MTU of a fragmentation-needed error (RFC 1191 §4), else 0. */
  nextHopMtu: number;
  /**
   * ADDED: Total Length of the quoted IP header, when icmp has it. Used for the
   * RFC 1191 §5 plateau search when an old router reports nextHopMtu 0.
   */
  originalLength?: number;
}

/** What a transport (icmp, udp, tcp) implements to receive from the IP layer. */
export interface TransportProtocol {
  readonly protocol: number;
  /** Bad transport input is dropped and counted here, never thrown. */
  receive(datagram: InboundDatagram, now: number): void;
  receiveError?(error: TransportError, now: number): void;
}

/** Installed by the icmp package: sends ICMP errors about a received datagram. */
export interface ErrorReporter {
  /** Destination unreachable (RFC 792) with `code` (2 protocol, 3 port) quoting `original`. */
  destinationUnreachable(code: number, original: InboundDatagram, now: number): void;
  /**
   * ADDED, optional: time exceeded (RFC 792 type 11) with `code` quoting `original`.
   * The IP layer calls it with code 1 (fragment reassembly time exceeded) for a
   * reassembly that timed out holding its first fragment; `original` is that first
   * fragment as received (RFC 1122 §3.3.2). Never for a broadcast/multicast datagram.
   */
  timeExceeded?(code: number, original: InboundDatagram, now: number): void;
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
}

/**
 * Writes a transport payload straight into the IP layer's output buffer (no copy
 * of the payload on the way out). Implemented on a reused object, not a closure.
 */
export interface PayloadWriter {
  /** Writes exactly the announced number of bytes at `buf[offset...]`; `src` is the chosen source address (pseudo-header). */
  writePayload(buf: Uint8Array, offset: number, src: Ipv4Address, dst: Ipv4Address): void;
}

/** The IP layer as transports see it. */
export interface IpOutput {
  /** The stack's own address. */
  readonly address: Ipv4Address;
  /** The link MTU. */
  readonly mtu: number;
  /** Source address to use towards `dst`, or undefined when there is no route. */
  sourceFor(dst: Ipv4Address): Ipv4Address | undefined;
  /** Path MTU towards `dst` (link MTU unless lowered by RFC 1191). */
  pathMtu(dst: Ipv4Address): number;
  /** Sends `payload` (borrowed for the call) as one datagram, fragmenting when needed and allowed. */
  send(dst: Ipv4Address, protocol: number, payload: Uint8Array, options?: SendOptions): SendError | undefined;
  /** Like `send`, but the payload of `length` bytes is written by `writer` into the output buffer. */
  sendWith(dst: Ipv4Address, protocol: number, length: number, writer: PayloadWriter, options?: SendOptions): SendError | undefined;
  /** Asks the installed ErrorReporter to answer `datagram` with destination unreachable `code`. */
  reportUnreachable(code: number, datagram: InboundDatagram, now: number): void;
}
