/**
 * Counters of the IPv6 layer (layer6.ts), named as /proc/net/snmp6 (RFC 4293
 * ipSystemStats for IPv6), plus one counter per drop reason.
 *
 * Accounting identity for the receive path (tested in test/layer6.test.ts), as IPv4's
 * (stats.ts): every `input()` call adds one to Ip6InReceives and exactly one of
 * Ip6InTruncatedPkts, Ip6InHdrErrors, Ip6InAddrErrors, Ip6ReasmReqds (a Fragment header
 * handed to reassembly; an atomic fragment counts here and in Ip6ReasmOKs, as on Linux)
 * or the dispatch counters; every reassembled datagram (Ip6ReasmOKs) is walked again and
 * then counted the same way. Dispatch adds one to Ip6InDelivers or Ip6InUnknownProtos. So
 *
 *   Ip6InReceives + Ip6ReasmOKs ===
 *     Ip6InTruncatedPkts + Ip6InHdrErrors + Ip6InAddrErrors + Ip6ReasmReqds + Ip6InUnknownProtos + Ip6InDelivers
 *
 * (Linux counts No Next Header as delivered, and so does this: `IPV6_DROP_COUNTER`.) With a
 * reassembler of its own, every fragment handed to it is exactly one of: held, used
 * (Ip6ReasmFragsUsed), or dropped under one `Ip6Reasm*` reason.
 */
import { IPV6_DROP_COUNTER, IPV6_DROP_REASONS, type Ipv6DropCounter, type Ipv6DropReason } from './ipv6.js';
import { IPV6_REASM_DROP_REASONS, type Ipv6ReasmCounters, type Ipv6ReasmDropReason } from './reassembly.js';

/** Reasons the layer adds to the wire ones of ipv6.ts. */
export type Ipv6LayerDropReason =
  /** ::1 as source or destination arriving from a link (RFC 4291 §2.5.3: never leaves a node; Linux ip6_rcv_core, InHdrErrors). */
  | 'Ip6InLoopbackFromLink'
  /** Destination not one of our addresses nor a multicast group we are in (a host does not forward, RFC 8200 §1; Ip6InAddrErrors). */
  | 'Ip6InNotForUs'
  /** `acceptAnyDestination`: a datagram for a foreign destination from :: or a multicast source (Ip6InAddrErrors). */
  | 'Ip6InMartianSrc'
  /** No transport for the upper-layer protocol (all of Ip6InUnknownProtos, beside Ip6InHopByHopNotFirst). */
  | 'Ip6InUnknownProtos'
  /** A reassembled datagram holding another (non-atomic) Fragment header: not reassembled twice (Ip6InHdrErrors). */
  | 'Ip6InNestedFragment'
  /** Payload > 65535 (no jumbograms): EMSGSIZE. */
  | 'Ip6OutTooBig'
  /** No route (all of Ip6OutNoRoutes, ENETUNREACH). */
  | 'Ip6OutNoRoutes'
  /** The link refused a packet (part of Ip6OutDiscards, ENOBUFS). */
  | 'Ip6OutLinkDiscards'
  /** The loopback queue was full (part of Ip6OutDiscards, ENOBUFS). */
  | 'Ip6OutLoopbackDiscards'
  /** An ICMPv6 error quoting a datagram not sent from one of our addresses. */
  | 'Ip6ErrorNotOurs'
  /** An ICMPv6 error for a protocol without a transport (or one without receiveError). */
  | 'Ip6ErrorNoTransport';

export const IPV6_LAYER_DROP_REASONS: readonly Ipv6LayerDropReason[] = [
  'Ip6InLoopbackFromLink', 'Ip6InNotForUs', 'Ip6InMartianSrc', 'Ip6InUnknownProtos', 'Ip6InNestedFragment',
  'Ip6OutTooBig', 'Ip6OutNoRoutes', 'Ip6OutLinkDiscards', 'Ip6OutLoopbackDiscards', 'Ip6ErrorNotOurs', 'Ip6ErrorNoTransport',
];

/** Every reason in `Ipv6Stats.dropped`: the wire's, the layer's, and reassembly's (prefixed Ip6, counting fragments). */
export type Ipv6StatsDropReason = Ipv6DropReason | Ipv6LayerDropReason | `Ip6${Ipv6ReasmDropReason}`;

/** The snmp6 counter each receive-side layer reason adds to (beside `IPV6_DROP_COUNTER`). */
export const IPV6_LAYER_DROP_COUNTER: Readonly<Partial<Record<Ipv6LayerDropReason, Ipv6DropCounter | 'Ip6InAddrErrors'>>> = {
  Ip6InLoopbackFromLink: 'Ip6InHdrErrors',
  Ip6InNotForUs: 'Ip6InAddrErrors',
  Ip6InMartianSrc: 'Ip6InAddrErrors',
  Ip6InUnknownProtos: 'Ip6InUnknownProtos',
  Ip6InNestedFragment: 'Ip6InHdrErrors',
};

export interface Ipv6LayerCounters {
  /** Every call to input() (and every datagram received from the loopback queue). */
  Ip6InReceives: number;
  Ip6InHdrErrors: number;
  /** Not for us. */
  Ip6InAddrErrors: number;
  Ip6InUnknownProtos: number;
  Ip6InTruncatedPkts: number;
  /** Datagrams handed to a transport (and No Next Header, as Linux). */
  Ip6InDelivers: number;
  /** Datagrams received for a multicast group (counted when accepted). */
  Ip6InMcastPkts: number;
  /** send()/sendWith() calls that passed argument validation. */
  Ip6OutRequests: number;
  Ip6OutNoRoutes: number;
  /** Packets (datagrams or fragments) the link or the loopback queue refused. */
  Ip6OutDiscards: number;
  Ip6OutMcastPkts: number;
  /** Datagrams fragmented at the source (RFC 8200 §4.5). */
  Ip6FragOKs: number;
  /** Datagrams whose fragments the link refused. */
  Ip6FragFails: number;
  Ip6FragCreates: number;
  /** ICMPv6 errors asked of the ErrorReporter6. */
  Ip6OutErrorReports: number;
  /** Errors not asked: no reporter, multicast destination (RFC 4443 §2.4 (e)), unspecified source. */
  Ip6OutErrorReportsSuppressed: number;
  /** Times a Packet Too Big lowered a path MTU (RFC 8201). */
  Ip6PmtuUpdates: number;
  /** Datagrams sent to our own addresses or ::1, looped back without touching the link. */
  Ip6OutLoopback: number;
  /** Datagrams delivered with checksumVerified (the link vouched for the transport checksum). */
  Ip6InChecksumVerified: number;
  /** Datagrams sent through the link's offload path (sendSegment), partial checksum. */
  Ip6OutOffloaded: number;
  /** Of those, datagrams larger than the path MTU (TSO6 super-segments the link segments). */
  Ip6OutGsoDatagrams: number;
  /** Datagrams received from the link larger than its MTU (TCPV6 super-segments from the kernel's GSO). */
  Ip6InGsoDatagrams: number;
  /** Datagrams for a destination not ours delivered flagged `foreign` (`acceptAnyDestination`). */
  Ip6InForeign: number;
  /** Datagrams sent from a foreign source (`SendOptions.transparent`). */
  Ip6OutTransparent: number;
  dropped: Record<Ipv6DropReason | Ipv6LayerDropReason, number>;
}

export type Ipv6Stats = Omit<Ipv6LayerCounters, 'dropped'> & Omit<Ipv6ReasmCounters, 'dropped'> & {
  dropped: Record<Ipv6StatsDropReason, number>;
};

export function newIpv6LayerCounters(): Ipv6LayerCounters {
  const dropped = {} as Record<Ipv6DropReason | Ipv6LayerDropReason, number>;
  for (const r of IPV6_DROP_REASONS) dropped[r] = 0;
  for (const r of IPV6_LAYER_DROP_REASONS) dropped[r] = 0;
  return {
    Ip6InReceives: 0, Ip6InHdrErrors: 0, Ip6InAddrErrors: 0, Ip6InUnknownProtos: 0, Ip6InTruncatedPkts: 0,
    Ip6InDelivers: 0, Ip6InMcastPkts: 0, Ip6OutRequests: 0, Ip6OutNoRoutes: 0, Ip6OutDiscards: 0, Ip6OutMcastPkts: 0,
    Ip6FragOKs: 0, Ip6FragFails: 0, Ip6FragCreates: 0, Ip6OutErrorReports: 0, Ip6OutErrorReportsSuppressed: 0,
    Ip6PmtuUpdates: 0, Ip6OutLoopback: 0, Ip6InChecksumVerified: 0, Ip6OutOffloaded: 0, Ip6OutGsoDatagrams: 0,
    Ip6InGsoDatagrams: 0, Ip6InForeign: 0, Ip6OutTransparent: 0, dropped,
  };
}

/** Counts one receive-side drop under its reason and its snmp6 counter. */
export function countIpv6Drop(c: Ipv6LayerCounters, reason: Ipv6DropReason | Ipv6LayerDropReason): void {
  c.dropped[reason]++;
  const counter = (IPV6_DROP_COUNTER as Partial<Record<string, Ipv6DropCounter>>)[reason] ?? IPV6_LAYER_DROP_COUNTER[reason as Ipv6LayerDropReason];
  if (counter !== undefined) c[counter]++;
}

/** A detached copy of the layer's and the reassembler's IPv6 counters. */
export function snapshotIpv6Counters(c: Ipv6LayerCounters, r: Ipv6ReasmCounters): Ipv6Stats {
  const { dropped, ...layer } = c;
  const { dropped: rd, ...reasm } = r;
  const all = { ...dropped } as Record<Ipv6StatsDropReason, number>;
  for (const k of IPV6_REASM_DROP_REASONS) all[`Ip6${k}`] = rd[k];
  return { ...layer, ...reasm, dropped: all };
}
