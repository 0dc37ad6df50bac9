/**
 * Counters of the IPv4 layer, in the spirit of /proc/net/snmp "Ip:" and RFC 4293
 * ipSystemStats (names kept from there), plus one counter per drop reason.
 *
 * Accounting identity for the receive path (tested): every `input()` call adds one to
 * InReceives and exactly one of InHdrErrors, InAddrErrors, ReasmReqds (a fragment
 * handed to reassembly) or the dispatch counters; every reassembled datagram
 * (ReasmOKs) is dispatched too. Dispatch adds one to InDelivers or InUnknownProtos. So
 *
 *   InReceives + ReasmOKs === InHdrErrors + InAddrErrors + ReasmReqds + InUnknownProtos + InDelivers
 *
 * and every fragment handed to reassembly is, at any time, exactly one of: held (the
 * Reassembler's `fragments`), used in a reassembled datagram, or dropped for one reason:
 *
 *   ReasmReqds === fragments held + ReasmFragsUsed + sum of dropped['Reasm*']
 */
import type { Ipv4ParseError } from './ipv4.js';

/**
 * Why a packet was dropped: one counter each in `dropped`, PascalCase like the counters
 * above them and like /proc/net/snmp. A reason keeps the Linux name where Linux counts
 * exactly that (InTruncatedPkts, InCsumErrors of IpExt), and the name of the counter it is
 * all of where it is all of one (InUnknownProtos, OutNoRoutes, ReasmDuplicates). A reason
 * that is one part of a counter gets its own name, never the counter's: InHdrErrors is the
 * sum of five reasons, InAddrErrors of two, OutDiscards of two. Reassembly reasons count
 * FRAGMENTS (suffix Frags), where ReasmTimeout, ReasmFails... count datagrams.
 */
export type Ipv4DropReason =
  // Receive, per packet. InHdrErrors = the first five; InAddrErrors = InMartianSrc + InNotForUs.
  /** Shorter than 20 bytes, than IHL*4, or than Total Length says (parse error 'truncated'; Linux's IpExt InTruncatedPkts is the last case). */
  | 'InTruncatedPkts'
  /** Version is not 4 (parse error 'bad-version'). */
  | 'InBadVersion'
  /** IHL < 5 (RFC 791 §3.1; parse error 'bad-ihl'). */
  | 'InBadHeaderLength'
  /** Total Length smaller than the header (parse error 'bad-total-length'). */
  | 'InBadTotalLength'
  /** Header checksum wrong (RFC 791 §3.1; parse error 'bad-checksum'; Linux's IpExt InCsumErrors). */
  | 'InCsumErrors'
  /** Source is multicast, limited or our directed broadcast, 127/8 from a link, or our own address from a link (RFC 1122 §3.2.1.3; Linux's martian source, rt_cache in_martian_src). */
  | 'InMartianSrc'
  /** Destination is not our address, our directed broadcast, 255.255.255.255 or a multicast group this host joined (RFC 1122 §3.3.1: a host does not forward; RFC 1112 §6.2). */
  | 'InNotForUs'
  /** No transport registered for the protocol (all of InUnknownProtos). */
  | 'InUnknownProtos'
  // Reassembly, counted in FRAGMENTS. When a datagram in progress is discarded, each
  // fragment it held (and the one that caused it) counts under the reason:
  /** RFC 791 §3.2 reassembly timer ran out (ReasmTimeout counts the datagrams). */
  | 'ReasmTimeoutFrags'
  /** A fragment overlapped received data without being an exact duplicate (ReasmOverlaps counts the datagrams). */
  | 'ReasmOverlapFrags'
  /** The datagram would exceed 65535 bytes. */
  | 'ReasmTooBigFrags'
  /** Fragments disagree on where the datagram ends. */
  | 'ReasmInconsistentFrags'
  /** Storing the fragment would exceed the reassembly memory cap even after evicting every other datagram. */
  | 'ReasmNoMemoryFrags'
  /** Evicted (oldest first) to make room for newer fragments: the source's quota or the table was full (ReasmEvicted counts the datagrams). */
  | 'ReasmEvictedFrags'
  // Per fragment:
  /** MF set with a length that is zero or not a multiple of 8 (RFC 791 §3.2). */
  | 'ReasmBadFrags'
  /** A fragment of a datagram already discarded (kept as a tombstone until its timer runs out). */
  | 'ReasmDeadFrags'
  /** An exact copy of a fragment already held (all of ReasmDuplicates). */
  | 'ReasmDuplicates'
  // Send, per datagram:
  /** Payload > 65515, or DF with a datagram larger than the path MTU (EMSGSIZE). */
  | 'OutTooBig'
  /** No route (all of OutNoRoutes, ENETUNREACH). */
  | 'OutNoRoutes'
  /** The link refused a packet (part of OutDiscards, ENOBUFS). */
  | 'OutLinkDiscards'
  /** The loopback queue was full (part of OutDiscards, ENOBUFS; Linux's netdev_max_backlog). */
  | 'OutLoopbackDiscards'
  // ICMP errors routed through deliverError:
  /** The quoted datagram was not sent from our address. */
  | 'ErrorNotOurs'
  /** No transport registered for the quoted protocol. */
  | 'ErrorNoTransport';

export const IPV4_DROP_REASONS: readonly Ipv4DropReason[] = [
  'InTruncatedPkts', 'InBadVersion', 'InBadHeaderLength', 'InBadTotalLength', 'InCsumErrors', 'InMartianSrc',
  'InNotForUs', 'InUnknownProtos',
  'ReasmTimeoutFrags', 'ReasmOverlapFrags', 'ReasmTooBigFrags', 'ReasmInconsistentFrags', 'ReasmNoMemoryFrags',
  'ReasmEvictedFrags', 'ReasmBadFrags', 'ReasmDeadFrags', 'ReasmDuplicates',
  'OutTooBig', 'OutNoRoutes', 'OutLinkDiscards', 'OutLoopbackDiscards',
  'ErrorNotOurs', 'ErrorNoTransport',
];

/** The drop reason of each `parseIpv4` refusal. */
export const PARSE_DROP_REASON: Readonly<Record<Ipv4ParseError, Ipv4DropReason>> = {
  'truncated': 'InTruncatedPkts',
  'bad-version': 'InBadVersion',
  'bad-ihl': 'InBadHeaderLength',
  'bad-total-length': 'InBadTotalLength',
  'bad-checksum': 'InCsumErrors',
  'bad-source': 'InMartianSrc',
};

export interface Ipv4Stats {
  /** Every call to input(). */
  InReceives: number;
  /** Bad version, IHL, length, checksum (also: truncated). */
  InHdrErrors: number;
  /** Not for us, or an impossible source address. */
  InAddrErrors: number;
  InUnknownProtos: number;
  /** Datagrams handed to a transport (reassembled ones included). */
  InDelivers: number;
  /** send()/sendWith() calls that passed argument validation. */
  OutRequests: number;
  OutNoRoutes: number;
  /** Packets (whole datagrams or fragments) the link refused. */
  OutDiscards: number;
  /** Fragments received (handed to reassembly). */
  ReasmReqds: number;
  /** Datagrams reassembled. */
  ReasmOKs: number;
  /** Datagrams given up (timeout, overlap, too big, inconsistent, no memory, evicted) and fragments refused (bad fragment, no memory). */
  ReasmFails: number;
  ReasmTimeout: number;
  ReasmOverlaps: number;
  ReasmDuplicates: number;
  /** Datagrams in progress evicted to make room (oldest first: per-source quota, then the whole table). */
  ReasmEvicted: number;
  /** Fragments that went into reassembled datagrams. */
  ReasmFragsUsed: number;
  /** Datagrams fragmented successfully on send. */
  FragOKs: number;
  /** Datagrams that needed fragmenting but could not be (DF set, or the link refused a fragment). */
  FragFails: number;
  /** Fragments created on send. */
  FragCreates: number;
  /** ICMP destination unreachable / time exceeded asked of the ErrorReporter. */
  OutErrorReports: number;
  /** Error reports not made: broadcast/multicast destination, non-first fragment, non-unicast source, no reporter. */
  OutErrorReportsSuppressed: number;
  /** Times the path-MTU cache lowered an estimate (RFC 1191). */
  PmtuUpdates: number;
  /** Datagrams sent through the link's offload path (sendSegment), partial checksum. */
  OutOffloaded: number;
  /** Of those, datagrams larger than the path MTU (GSO super-segments the link segments). */
  OutGsoDatagrams: number;
  /** Datagrams received larger than the link MTU (GSO super-segments from the link). */
  InGsoDatagrams: number;
  /** Datagrams delivered with checksumVerified (the link vouched for the transport checksum). */
  InChecksumVerified: number;
  /** Datagrams sent to our own addresses (and 127/8), looped back without touching the link (Linux's lo). */
  OutLoopback: number;
  /** Datagrams for a destination not ours delivered to the transports (`acceptAnyDestination`), flagged `foreign`. */
  InForeign: number;
  /** Datagrams sent from a foreign source (`SendOptions.transparent` under `acceptAnyDestination`). */
  OutTransparent: number;
  dropped: Record<Ipv4DropReason, number>;
}

export type Ipv4Counters = Omit<Ipv4Stats, 'dropped'> & { dropped: Record<Ipv4DropReason, number> };

export function newIpv4Counters(): Ipv4Counters {
  const dropped = {} as Record<Ipv4DropReason, number>;
  for (const r of IPV4_DROP_REASONS) dropped[r] = 0;
  return {
    InReceives: 0, InHdrErrors: 0, InAddrErrors: 0, InUnknownProtos: 0, InDelivers: 0,
    OutRequests: 0, OutNoRoutes: 0, OutDiscards: 0,
    ReasmReqds: 0, ReasmOKs: 0, ReasmFails: 0, ReasmTimeout: 0, ReasmOverlaps: 0, ReasmDuplicates: 0,
    ReasmEvicted: 0, ReasmFragsUsed: 0,
    FragOKs: 0, FragFails: 0, FragCreates: 0,
    OutErrorReports: 0, OutErrorReportsSuppressed: 0, PmtuUpdates: 0,
    OutOffloaded: 0, OutGsoDatagrams: 0, InGsoDatagrams: 0, InChecksumVerified: 0, OutLoopback: 0,
    InForeign: 0, OutTransparent: 0,
    dropped,
  };
}

/** A detached copy (a plain object the caller may keep). */
export function snapshotIpv4Counters(c: Ipv4Counters): Ipv4Stats {
  return { ...c, dropped: { ...c.dropped } };
}
