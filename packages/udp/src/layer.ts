/**
 * The UDP layer (protocol 17, RFC 768; RFC 1122 §4.1): a port table, demultiplexing,
 * ephemeral ports, checksums, ICMP error routing. Sockets are facades over its endpoints
 * (endpoint.ts; node:dgram's is in @netstack/netstack): the layer reports their failures
 * as errno codes and makes no Node errors.
 *
 * Sockets never touch bytes: the layer parses, finds the endpoint that accepts the
 * datagram and hands it the (borrowed) payload. Bad input is counted and dropped.
 *
 * Port table (Linux semantics without SO_REUSEADDR; with it when every socket on the
 * port sets `reuseAddr`): binding (addr, port) clashes with every socket on `port`
 * whose address is the same, or when either is the wildcard of that family
 * (EADDRINUSE). An IPv6 socket bound to `::` without IPV6_V6ONLY (`v6: 'dual'`) is a
 * wildcard of both families: it clashes with any IPv4 bind on the port, as on Linux
 * (inet_bind_conflict / ipv6_rcv_saddr_equal); with IPV6_V6ONLY it covers IPv6 only.
 * Demultiplexing of unicast (Linux compute_score): a connected socket whose 4-tuple
 * matches beats one bound to the exact local address, which beats one bound to
 * a wildcard; then an AF_INET socket beats a dual-stack one for IPv4; ties go to the
 * most recently bound. Broadcast and multicast datagrams go
 * to every matching socket (Linux __udp4_lib_mcast_deliver) and are never answered
 * with port unreachable (RFC 1122 §3.2.2).
 *
 * Multicast (RFC 1112 §6, RFC 3678 for the socket calls, Linux net/ipv4/igmp.c for the
 * rules): sockets join groups with an optional source filter. The IP layer asks
 * `acceptsGroup` whether the host is a member (224.0.0.1 always; else some membership
 * whose filter allows the source: Linux ip_check_mc_rcu) and drops the datagram
 * otherwise. A member datagram then goes to every socket on the port whose own filter
 * allows it: a socket with a membership of that group needs its filter to agree; a
 * socket without one receives it too (Linux's IP_MULTICAST_ALL, on by default and not
 * settable from node:dgram). Over TUN no IGMP/MLD reports are sent (a point-to-point
 * device has no multicast router to tell; membership filters delivery only); over
 * Ethernet `onGroupChange` tells the interface, which reports (@netstack/ethernet mcast.ts).
 * Multicast sends use the socket's multicast TTL (default 1) and, with IP_MULTICAST_LOOP
 * (default on), a copy of a datagram to a group this host joined is delivered locally as
 * Linux's ip_mc_output does; so is a copy of every broadcast (Linux loops broadcasts
 * unconditionally). The copy goes through the IP layer's loopback (SendOptions.loopback):
 * received on a later turn of the event loop, never inside `send`, and counted as any
 * received datagram.
 */
import {
  ANY,
  BROADCAST,
  IPV6_ANY,
  EphemeralPorts,
  tupleKey,
  PROTO_UDP,
  isMulticast,
  ViewCache,
  formatAddress,
  icmpErrorErrno,
  rangeError,
  codedError,
  type InboundDatagram,
  type IpOutput,
  type Ipv4Address,
  type IpAddress,
  type PayloadWriter,
  type SendError,
  type SendOptions,
  type TransportError,
  type TransportProtocol,
} from '@netstack/ip';
import { randomBytes } from 'node:crypto';
import { UDP_HEADER_LEN, emitUdpHeader, parseUdpInto, type UdpRepr } from './wire.js';
import { FLOW_OVERHEAD, FLOW_QUOTE_MAX, FlowTable, UdpFlow, resolveFlowLimits, type FlowDatagramInfo, type UdpFlowCloseReason, type UdpFlowHandler, type UdpFlowLimits } from './flows.js';
import { MAX_MEMBERSHIPS, MAX_SOURCES, type Membership, type MembershipOp, type SocketHost, type UdpEndpoint } from './endpoint.js';

export type { UdpEndpoint } from './endpoint.js';

export interface UdpLayerOptions {
  /** Ephemeral ports, inclusive. Default [49152, 65535] (RFC 6335 §6 dynamic ports). */
  ephemeralRange?: readonly [number, number];
  /** Bound on bound sockets (the port table). Default 65536; beyond it bind fails with EMFILE. */
  maxSockets?: number;
  /** Secret key of the RFC 6056 ephemeral port allocator (a stack passes its own). Default: 16 random bytes. */
  portKey?: Uint8Array;
  /**
   * net.core.rmem_max and wmem_max: what setRecvBufferSize / setSendBufferSize may ask for
   * (Linux then doubles it). Default 212992, Linux's default for both.
   */
  rmemMax?: number;
  wmemMax?: number;
  /**
   * The host joined (`true`: the first membership of `group` among all sockets) or left
   * (`false`: its last one went) a group, IPv4 (a number) or IPv6 (an Ipv6Address): what a
   * link below must hear of, e.g. an Ethernet interface's multicast MAC filter and its
   * IGMP/MLD reports (RFC 1112 §6.4, RFC 2464 §7; netstack over TAP).
   */
  onGroupChange?: (group: IpAddress, joined: boolean) => void;
  /**
   * The host's reception state for `group` changed (RFC 3376 §3.2, Linux ip_mc_msfilter's
   * merge of the sockets' filters): 'exclude' with no sources when some membership is
   * any-source, else 'include' with the union of the source-specific memberships' sources;
   * ('include', []) when no socket is a member any more. What IGMPv3 / MLDv2 report.
   */
  onFilterChange?: (group: IpAddress, mode: 'include' | 'exclude', sources: IpAddress[]) => void;
  /** Bounds and idle timeout of flows to foreign destinations (flows.ts, `setFlowHandler`). */
  flows?: UdpFlowLimits;
}

/** 224.0.0.1: every multicast-capable interface is a member (RFC 1112 §4). */
const ALL_HOSTS = 0xe0000001;

/** Linux ip_mc_sf_allow for one membership: does its source filter let `src` through? */
function allows(m: Membership, src: IpAddress): boolean {
  return m.mode === 'exclude' ? !m.sources.includes(src) : m.sources.includes(src);
}

function findMembership(ep: UdpEndpoint, group: IpAddress): Membership | undefined {
  for (const m of ep.memberships) if (m.group === group) return m;
  return undefined;
}


/** Counters named after /proc/net/snmp `Udp:`. */
export interface UdpStats {
  InDatagrams: number;
  NoPorts: number;
  InErrors: number;
  InCsumErrors: number;
  RcvbufErrors: number;
  OutDatagrams: number;
  SndbufErrors: number;
  IgnoredMulti: number;
  /** Datagrams the IP layer handed to UDP. */
  InReceives: number;
  /** Datagrams delivered to a socket (broadcast/multicast: to at least one; InDatagrams counts each copy). */
  InDelivers: number;
  /** Truncated, or a length field below 8 or beyond the datagram (counted in InErrors too). */
  InHdrErrors: number;
  /** Datagrams no socket took because every matching socket's buffer was full (RcvbufErrors counts each copy). */
  RcvbufDrops: number;
  /** Flows (flows.ts): datagrams for a foreign destination without a flow handler (dropped, no ICMP). */
  ForeignDrops: number;
  /** Flows made, refused by the handler, refused because the table holds none (maxFlows 0) or out of bytes. */
  FlowsCreated: number;
  FlowRefused: number;
  FlowTableFull: number;
  /** Flows ended to make room for a new one in a full table (the least recently active first). */
  FlowEvicted: number;
  FlowMemoryDrops: number;
  /** Datagrams of a flow its handler could not take. */
  FlowRcvbufErrors: number;
  /** Flows expired idle, and closed by their handler. */
  FlowExpired: number;
  FlowClosed: number;
  /** ICMP errors quoting a flow's datagram, handed to the handler's onError. */
  FlowIcmpErrors: number;
  /** Datagrams sent through flows (from the original destination; also in OutDatagrams). */
  FlowOutDatagrams: number;
  /** ICMP destination unreachables asked for a flow's client (`UdpFlow.reportUnreachable`: the relay's upstream failed). */
  FlowUnreachReports: number;
  /** Gauges: flows now, and the bytes charged for them. */
  Flows: number;
  FlowBytes: number;
}

/**
 * Every received datagram (InReceives) ends in exactly one of InDelivers, InCsumErrors,
 * InHdrErrors, NoPorts, IgnoredMulti (broadcast/multicast for no socket), RcvbufDrops, or
 * for a foreign destination (flows.ts) ForeignDrops, FlowRefused, FlowTableFull,
 * FlowMemoryDrops, FlowRcvbufErrors:
 *   InReceives = InDelivers + InCsumErrors + InHdrErrors + NoPorts + IgnoredMulti + RcvbufDrops
 *              + ForeignDrops + FlowRefused + FlowTableFull + FlowMemoryDrops + FlowRcvbufErrors
 */

/** Writes the gathered chunks, then the UDP header and checksum, straight into the IP output buffer (no view object). */
class DatagramWriter implements PayloadWriter {
  srcPort = 0;
  dstPort = 0;
  chunks: readonly Uint8Array[] = [];
  length = 0;
  writePayload(buf: Uint8Array, offset: number, src: IpAddress, dst: IpAddress): void {
    let at = offset + UDP_HEADER_LEN;
    const chunks = this.chunks;
    for (let i = 0; i < chunks.length; i++) {
      const c = chunks[i]!;
      buf.set(c, at);
      at += c.length;
    }
    emitUdpHeader(buf, offset, this.srcPort, this.dstPort, this.length, src, dst);
  }
}

const NO_CHUNKS: readonly Uint8Array[] = [];

/** Structurally the `FlowOwner` of its flows too (no `implements` clause: the internal side stays out of the published types). */
export class UdpLayer implements TransportProtocol, SocketHost {
  readonly protocol = PROTO_UDP;
  private readonly ip: IpOutput;
  /** RFC 6056 Algorithm 4 over ephemeralRange: bind(0)'s ports. */
  private readonly ephemeral: EphemeralPorts;
  private readonly maxSockets: number;
  /** close() ran: sockets bound before were closed; new binds fail (SocketHost.closed). */
  closed = false;
  /** Bound endpoints by local port. */
  private readonly ports = new Map<number, UdpEndpoint[]>();
  private bound = 0;
  private order = 0;
  private readonly counters: UdpStats = {
    InDatagrams: 0, NoPorts: 0, InErrors: 0, InCsumErrors: 0, RcvbufErrors: 0, OutDatagrams: 0, SndbufErrors: 0, IgnoredMulti: 0,
    InReceives: 0, InDelivers: 0, InHdrErrors: 0, RcvbufDrops: 0,
    ForeignDrops: 0, FlowsCreated: 0, FlowRefused: 0, FlowTableFull: 0, FlowEvicted: 0, FlowMemoryDrops: 0, FlowRcvbufErrors: 0,
    FlowExpired: 0, FlowClosed: 0, FlowIcmpErrors: 0, FlowOutDatagrams: 0, FlowUnreachReports: 0, Flows: 0, FlowBytes: 0,
  };
  private flowHandler: UdpFlowHandler | undefined = undefined;
  private readonly flows: FlowTable;
  /** The options of flow sends: from the original destination (IP_TRANSPARENT). */
  private readonly flowOptions: SendOptions = { source: undefined, transparent: true };
  /** The per-datagram info lent to the flow handler (reused). */
  private readonly flowInfo: FlowDatagramInfo = { ttl: 0, dontFragment: false };
  readonly rmemMax: number;
  readonly wmemMax: number;
  /** Every membership of every socket, by group (the interface's state: what `acceptsGroup` reads). */
  private readonly groups = new Map<IpAddress, Membership[]>();
  private readonly onGroupChange: ((group: IpAddress, joined: boolean) => void) | undefined;
  private readonly onFilterChange: UdpLayerOptions['onFilterChange'];

  private readonly writer = new DatagramWriter();
  /** The receive path's record and payload views, reused (nothing allocated per datagram). */
  private readonly rxRepr: UdpRepr = { srcPort: 0, dstPort: 0, payload: new Uint8Array(0) };
  private readonly rxViews = new ViewCache();
  /** The send options when a socket sets its TTL, or a copy is looped back (reused). */
  // `source` is set per send: the socket's bound address (the host may have several).
  private readonly plainOptions: SendOptions = { source: undefined };
  private readonly ttlOptions: SendOptions = { ttl: 64, source: undefined };
  private readonly loopOptions: SendOptions = { loopback: true, source: undefined };
  private readonly loopTtlOptions: SendOptions = { ttl: 64, loopback: true, source: undefined };

  constructor(ip: IpOutput, options: UdpLayerOptions = {}) {
    this.ip = ip;
    const [lo, hi] = options.ephemeralRange ?? [49152, 65535];
    if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 65535 || lo > hi) {
      throw rangeError('options.ephemeralRange', 'integers 1 <= low <= high <= 65535', options.ephemeralRange);
    }
    this.ephemeral = new EphemeralPorts(options.portKey ?? new Uint8Array(randomBytes(16)), lo, hi, 17);
    this.maxSockets = options.maxSockets ?? 65536;
    this.onGroupChange = options.onGroupChange;
    this.onFilterChange = options.onFilterChange;
    this.rmemMax = options.rmemMax ?? 212992;
    this.wmemMax = options.wmemMax ?? 212992;
    for (const k of ['rmemMax', 'wmemMax'] as const) {
      if (!Number.isInteger(this[k]) || this[k] < 1 || this[k] > 0x3fffffff) throw rangeError(`options.${k}`, 'an integer in [1, 2**30)', options[k]);
    }
    this.flows = new FlowTable(resolveFlowLimits(options.flows));
  }

  stats(): Readonly<UdpStats> {
    return { ...this.counters, Flows: this.flows.size, FlowBytes: this.flows.bytes };
  }

  // ---- flows to foreign destinations (flows.ts) ----------------------------------

  /**
   * Installs (or, with undefined, removes) the handler of flows to foreign destinations
   * (an IP layer with `acceptAnyDestination`). Without one such datagrams are dropped
   * (ForeignDrops): ordinary sockets, even wildcard ones, never see them.
   */
  setFlowHandler(handler: UdpFlowHandler | undefined): void {
    if (handler !== undefined && (typeof handler !== 'object' || handler === null || typeof handler.onFlow !== 'function' || typeof handler.onDatagram !== 'function')) {
      throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'handler must be a UdpFlowHandler');
    }
    this.flowHandler = handler;
  }

  /** Flows now. */
  get flowCount(): number { return this.flows.size; }

  /** Earliest flow idle expiry; Infinity when none. */
  pollAt(): number {
    return this.flows.pollAt();
  }

  /** Expires flows idle at `now` (their handler's onClose 'idle'). */
  poll(now: number): void {
    if (this.flows.size === 0) return;
    for (const f of this.flows.expire(now)) {
      f.closedFlag = true;
      this.counters.FlowExpired++;
      this.flowHandler?.onClose?.(f, 'idle', now);
    }
  }

  private flowInput(d: InboundDatagram, srcPort: number, dstPort: number, payload: Uint8Array, now: number): void {
    const s = this.counters;
    const h = this.flowHandler;
    if (h === undefined) { s.ForeignDrops++; return; }
    const key = tupleKey(d.dst, dstPort, d.src, srcPort);
    const t = this.flows;
    let f = t.get(key);
    if (f === undefined) {
      if (t.size >= t.limits.maxFlows) {
        // Full: the least recently active flow gives way (flows.ts), its handler told first.
        const old = t.oldest();
        if (old === undefined) { s.FlowTableFull++; return; }
        s.FlowEvicted++;
        this.flowClose(old, 'evicted', now);
      }
      if (t.bytes + FLOW_OVERHEAD + payload.length > t.limits.maxFlowBytes) { s.FlowMemoryDrops++; return; }
      f = new UdpFlow(this, key, d.dst, dstPort, d.src, srcPort, now);
      // The first datagram's IP and UDP headers, kept for an ICMP error about the flow
      // (UdpFlow.reportUnreachable): what the client's kernel finds its socket by.
      const ql = d.headerLength + UDP_HEADER_LEN;
      if (ql <= FLOW_QUOTE_MAX && d.packet.length >= ql) f.quote = d.packet.slice(0, ql);
      f.quoteHeaderLength = d.headerLength;
      if (h.onFlow(f, now) === false) { s.FlowRefused++; return; }
      t.add(f);
      s.FlowsCreated++;
    } else if (t.bytes + payload.length > t.limits.maxFlowBytes) {
      s.FlowMemoryDrops++;
      return;
    }
    t.touch(f, now);
    const info = this.flowInfo;
    info.ttl = d.ttl;
    // RFC 791 DF (the header's flags, octet 6, 0x40); IPv6: arrived whole (RFC 8200 §5: routers never fragment).
    info.dontFragment = typeof d.src === 'number' ? !d.reassembled && ((d.packet[6] ?? 0) & 0x40) !== 0 : !d.reassembled;
    const kept = h.onDatagram(f, payload, now, info);
    if (kept < 0) { s.FlowRcvbufErrors++; return; }
    if (!f.closedFlag && kept > 0) { f.held += kept; t.bytes += kept; }
    f.datagramsIn++;
    f.bytesIn += payload.length;
    s.InDatagrams++;
    s.InDelivers++;
  }

  /** @internal (FlowOwner) */
  flowSend(f: UdpFlow, chunks: readonly Uint8Array[], length: number, now: number): SendError | undefined {
    if (this.flows.get(f.key) === f) this.flows.touch(f, now);
    const w = this.writer;
    w.srcPort = f.localPort;
    w.dstPort = f.remotePort;
    w.chunks = chunks;
    w.length = UDP_HEADER_LEN + length;
    const o = this.flowOptions;
    o.source = f.localAddress;
    const err = this.ip.sendWith(f.remoteAddress, PROTO_UDP, w.length, w, o);
    w.chunks = NO_CHUNKS;
    if (err === undefined) { this.counters.OutDatagrams++; this.counters.FlowOutDatagrams++; }
    else if (err === 'ENOBUFS') this.counters.SndbufErrors++;
    return err;
  }

  /** @internal (FlowOwner) RFC 1122 §4.1.3.1 / RFC 792: destination unreachable to the client, quoting its first datagram. */
  flowUnreachable(f: UdpFlow, code: number, now: number): boolean {
    const q = f.quote;
    if (q === undefined) return false;
    this.counters.FlowUnreachReports++;
    this.ip.reportUnreachable(code, {
      src: f.remoteAddress, dst: f.localAddress, protocol: PROTO_UDP, ttl: 64, tos: 0, payload: q.subarray(f.quoteHeaderLength),
      packet: q, headerLength: f.quoteHeaderLength, toBroadcast: false, reassembled: false, checksumVerified: false, foreign: true,
    }, now);
    return true;
  }

  /** @internal (FlowOwner) */
  flowRelease(f: UdpFlow, n: number): void {
    const give = Math.max(0, Math.min(n, f.held));
    f.held -= give;
    if (this.flows.get(f.key) === f) this.flows.bytes -= give;
  }

  /** @internal (FlowOwner) */
  flowClose(f: UdpFlow, why: UdpFlowCloseReason, now: number): void {
    this.flows.remove(f);
    f.closedFlag = true;
    if (why === 'closed') this.counters.FlowClosed++;
    this.flowHandler?.onClose?.(f, why, now);
  }

  // ---- receive path -----------------------------------------------------------

  /** RFC 768: one received datagram; `d` and its views are valid only during the call. */
  receive(d: InboundDatagram, now: number): void {
    const s = this.counters;
    s.InReceives++;
    const repr = parseUdpInto(d.payload, d.src, d.dst, d.checksumVerified !== true, this.rxRepr, this.rxViews);
    if (typeof repr === 'string') {
      if (repr === 'checksum') s.InCsumErrors++;
      else s.InHdrErrors++;
      s.InErrors++;
      return;
    }
    // Out of the reused record at once: a socket's 'message' listener runs inside
    // deliver() and may, through a link that delivers synchronously, land here again.
    const srcPort = repr.srcPort;
    const dstPort = repr.dstPort;
    const payload = repr.payload;
    if (d.foreign === true) {
      // Any-address termination: a flow, never a socket (a wildcard socket is not IP_TRANSPARENT).
      this.flowInput(d, srcPort, dstPort, payload, now);
      return;
    }
    if (d.toBroadcast) {
      // Every socket that matches gets its own copy; no ICMP either way (RFC 1122 §3.2.2).
      this.deliverGroup(d.src, srcPort, d.dst, dstPort, payload, now);
      return;
    }
    const ep = this.lookup(dstPort, d.src, srcPort, d.dst);
    if (ep === undefined) {
      // RFC 1122 §4.1.3.1: no one listening → ICMP port unreachable (rate limits and
      // the "never about" rules are the ErrorReporter's).
      s.NoPorts++;
      this.ip.reportUnreachable(3, d, now);
      return;
    }
    if (this.deliver(ep, payload, d.src, srcPort, now)) s.InDelivers++;
    else s.RcvbufDrops++;
  }

  /**
   * A broadcast or multicast datagram to every socket on `dstPort` that matches (Linux
   * __udp4_lib_mcast_deliver); for multicast, each socket's own filter (ip_mc_sf_allow)
   * decides too. Counted once: IgnoredMulti (no socket matched), InDelivers (at least one
   * took a copy) or RcvbufDrops (every matching buffer was full).
   */
  private deliverGroup(src: IpAddress, srcPort: number, dst: IpAddress, dstPort: number, payload: Uint8Array, now: number): void {
    const list = this.ports.get(dstPort);
    const multicast = isMulticast(dst);
    let matched = 0;
    let taken = 0;
    if (list !== undefined) {
      for (const ep of list.slice()) {
        if (score(ep, src, srcPort, dst) < 0) continue;
        if (multicast) {
          const m = findMembership(ep, dst);
          if (m !== undefined && !allows(m, src)) continue;
        }
        matched++;
        if (this.deliver(ep, payload, src, srcPort, now)) taken++;
      }
    }
    const s = this.counters;
    if (matched === 0) s.IgnoredMulti++;
    else if (taken > 0) s.InDelivers++;
    else s.RcvbufDrops++;
  }

  /**
   * The IP layer's "member of group" question (Linux ip_check_mc_rcu): 224.0.0.1, or a
   * group some socket joined with a filter that lets `src` through.
   */
  acceptsGroup(group: IpAddress, src: IpAddress): boolean {
    if (group === ALL_HOSTS) return true;
    const list = this.groups.get(group);
    if (list === undefined) return false;
    for (const m of list) if (allows(m, src)) return true;
    return false;
  }

  /** One copy to one socket; false when its buffer was full (counted). */
  private deliver(ep: UdpEndpoint, payload: Uint8Array, src: IpAddress, srcPort: number, now: number): boolean {
    if (ep.onDatagram(payload, src, srcPort, now)) {
      this.counters.InDatagrams++;
      return true;
    }
    this.counters.RcvbufErrors++;
    this.counters.InErrors++;
    return false;
  }

  /** The best endpoint for a unicast datagram src:sport → dst:dport, or undefined. */
  private lookup(dport: number, src: IpAddress, sport: number, dst: IpAddress): UdpEndpoint | undefined {
    const list = this.ports.get(dport);
    if (list === undefined) return undefined;
    let best: UdpEndpoint | undefined;
    let bestScore = -1;
    for (const ep of list) {
      const sc = score(ep, src, sport, dst);
      if (sc > bestScore || (sc === bestScore && sc >= 0 && ep.order > best!.order)) {
        best = ep;
        bestScore = sc;
      }
    }
    return best;
  }

  /**
   * An ICMP error quoting one of our datagrams (src:sport → dst:dport). Like Linux
   * udp_err: find the socket that would receive the reverse traffic; report hard errors
   * to it only when it is connected (unconnected sockets hear nothing without IP_RECVERR).
   */
  receiveError(e: TransportError, now: number): void {
    if (e.protocol !== PROTO_UDP || e.quoted.length < 4) return;
    const q = e.quoted;
    const sport = (q[0]! << 8) | q[1]!;
    const dport = (q[2]! << 8) | q[3]!;
    if (this.flows.size > 0 && !(this.ip.isLocalAddress?.(e.src) ?? e.src === this.ip.address)) {
      // A datagram a flow sent from its original destination (flows.ts).
      const f = this.flows.get(tupleKey(e.src, sport, e.dst, dport));
      const errno = icmpErrorErrno(e.icmpType, e.icmpCode);
      if (f !== undefined && errno !== undefined) {
        this.counters.FlowIcmpErrors++;
        this.flowHandler?.onError?.(f, errno.code, errno.fatal, e.icmpType, e.icmpCode, now);
      }
      return;
    }
    const ep = this.lookup(sport, e.dst, dport, e.src);
    if (ep === undefined || ep.remotePort === 0) return;
    // Like Linux udp_err with IP_RECVERR off: only the fatal ones (icmp_err_convert's flag).
    // Fragmentation needed is the IP layer's path MTU business and is not reported; time
    // exceeded is not fatal, and source quench (RFC 6633 §3) reports nothing.
    if (e.icmpType === 3 && e.icmpCode === 4) return;
    const errno = icmpErrorErrno(e.icmpType, e.icmpCode);
    if (errno !== undefined && errno.fatal) ep.onError(errno.code, now);
  }

  // ---- port table (SocketHost: used by the socket facades) ----------------------------

  /** Binds `ep` to (addr, port); port 0 picks an ephemeral port. Returns an errno code on failure. */
  bind(ep: UdpEndpoint, addr: IpAddress, port: number): 'EADDRINUSE' | 'EADDRNOTAVAIL' | 'EMFILE' | undefined {
    if (this.closed) throw codedError(Error, 'ERR_INVALID_STATE', 'UdpLayer.bind after close (the socket checks SocketHost.closed first)');
    // Linux inet_bind: a local, multicast or broadcast address (a socket bound to a group
    // or broadcast address hears only datagrams sent there).
    if (addr !== ANY && addr !== IPV6_ANY && !(this.ip.isLocalAddress?.(addr) ?? addr === this.ip.address) && !isMulticast(addr) && !this.isBroadcast(addr)) return 'EADDRNOTAVAIL';
    if (this.bound >= this.maxSockets) return 'EMFILE';
    if (port === 0) {
      const p = this.ephemeral.select(addr, 0, 0, (q) => !this.ports.has(q));
      if (p === undefined) return 'EADDRINUSE';
      port = p;
    } else if (this.clashes(addr, port, ep.reuseAddr, ep.v6)) return 'EADDRINUSE';
    ep.localAddr = addr;
    ep.localPort = port;
    ep.order = ++this.order;
    let list = this.ports.get(port);
    if (list === undefined) this.ports.set(port, (list = []));
    list.push(ep);
    this.bound++;
    return undefined;
  }

  unbind(ep: UdpEndpoint): void {
    const list = this.ports.get(ep.localPort);
    const i = list === undefined ? -1 : list.indexOf(ep);
    if (i < 0) return;
    list!.splice(i, 1);
    if (list!.length === 0) this.ports.delete(ep.localPort);
    this.bound--;
  }

  /**
   * Connects a bound `ep` to (addr, port). Like Linux ip4_datagram_connect, a socket
   * bound to 0.0.0.0 takes the route's source address as its local address.
   */
  connect(ep: UdpEndpoint, addr: IpAddress, port: number): 'ENETUNREACH' | undefined {
    const src = this.ip.sourceFor(addr);
    if (src === undefined) return 'ENETUNREACH';
    if (ep.localAddr === ANY || ep.localAddr === IPV6_ANY) ep.localAddr = src;
    ep.remoteAddr = addr;
    ep.remotePort = port;
    return undefined;
  }

  /** Undoes `connect`; the local address returns to what bind chose (Linux udp_disconnect). */
  disconnect(ep: UdpEndpoint, boundAddr: IpAddress): void {
    ep.localAddr = boundAddr;
    ep.remoteAddr = ANY;
    ep.remotePort = 0;
  }

  /** Sends one datagram from `ep` gathered from `chunks` (`length` bytes in all). */
  send(ep: UdpEndpoint, dst: IpAddress, dstPort: number, chunks: readonly Uint8Array[], length: number, ttl?: number): SendError | undefined {
    const w = this.writer;
    w.srcPort = ep.localPort;
    w.dstPort = dstPort;
    w.chunks = chunks;
    w.length = UDP_HEADER_LEN + length;
    const multicast = isMulticast(dst);
    if (multicast) ttl = ep.mcTtl; // IP_MULTICAST_TTL, not IP_TTL (Linux ip_select_ttl's caller)
    // Linux ip_mc_output: multicast to a group this host is a member of loops back when
    // IP_MULTICAST_LOOP is set; a broadcast always does.
    const loop = multicast ? ep.mcLoop && this.acceptsGroup(dst, this.ip.address) : this.isBroadcast(dst);
    let options: SendOptions;
    if (loop) {
      options = ttl === undefined ? this.loopOptions : this.loopTtlOptions;
      if (ttl !== undefined) options.ttl = ttl;
    } else if (ttl !== undefined) {
      options = this.ttlOptions;
      options.ttl = ttl;
    } else {
      options = this.plainOptions;
    }
    // A socket bound (or connected) to one of our addresses sends from it (Linux
    // ip_route_output with the socket's saddr); bound to the wildcard, the IP layer chooses.
    const local = ep.localAddr;
    options.source = local === ANY || local === IPV6_ANY ? undefined : local;
    // Multicast TTL 0 without a local copy goes nowhere (and is not an error).
    const err = ttl === 0 && !loop ? undefined : this.ip.sendWith(dst, PROTO_UDP, w.length, w, options);
    w.chunks = NO_CHUNKS;
    if (err === undefined) this.counters.OutDatagrams++;
    else if (err === 'ENOBUFS') this.counters.SndbufErrors++;
    return err;
  }

  /** True for 255.255.255.255 and the subnet's directed broadcast (SocketHost). */
  isBroadcast(addr: IpAddress): boolean {
    return addr === BROADCAST || (this.ip.directedBroadcast !== undefined && addr === this.ip.directedBroadcast);
  }

  /** This host's one interface: one of its IPv4 addresses, or 0.0.0.0 for "the default" (SocketHost). */
  isLocalInterface(addr: IpAddress): boolean {
    return addr === ANY || (typeof addr === 'number' && addr >>> 24 !== 127 && (this.ip.isLocalAddress?.(addr) ?? addr === this.ip.address));
  }

  // ---- multicast membership (Linux net/ipv4/igmp.c, per socket) ------------------------

  /**
   * IP_ADD_MEMBERSHIP ('join', ip_mc_join_group), IP_DROP_MEMBERSHIP ('leave',
   * ip_mc_leave_group), IP_ADD_SOURCE_MEMBERSHIP ('join-source') and
   * IP_DROP_SOURCE_MEMBERSHIP ('leave-source', ip_mc_source), with Linux's errno for each
   * refusal. `iface` is 0.0.0.0 or the interface's address.
   */
  membership(ep: UdpEndpoint, op: MembershipOp, group: IpAddress, iface: Ipv4Address, source: IpAddress): string | undefined {
    const code = this.changeMembership(ep, op, group, iface, source);
    if (code === undefined) this.filterChanged(group);
    return code;
  }

  /** The merged filter of `group` to `onFilterChange` (RFC 3376 §3.2: any EXCLUDE wins, with the intersection of their lists, here always empty). */
  private filterChanged(group: IpAddress): void {
    if (this.onFilterChange === undefined) return;
    const list = this.groups.get(group);
    if (list === undefined || list.length === 0) {
      this.onFilterChange(group, 'include', []);
      return;
    }
    if (list.some((m) => m.mode === 'exclude')) {
      this.onFilterChange(group, 'exclude', []);
      return;
    }
    const sources = new Set<IpAddress>();
    for (const m of list) for (const x of m.sources) sources.add(x);
    this.onFilterChange(group, 'include', [...sources]);
  }

  private changeMembership(ep: UdpEndpoint, op: MembershipOp, group: IpAddress, iface: Ipv4Address, source: IpAddress): string | undefined {
    if (op === 'leave') {
      // ip_mc_leave_group matches the interface address given at join: none other was possible here.
      if (!this.isLocalInterface(iface)) return 'EADDRNOTAVAIL';
      const m = findMembership(ep, group);
      if (m === undefined) return 'EADDRNOTAVAIL';
      this.remove(ep, m);
      return undefined;
    }
    if (!isMulticast(group)) return 'EINVAL';
    if (!this.isLocalInterface(iface)) return 'ENODEV';
    let m = findMembership(ep, group);
    if (op === 'join' || op === 'join-source') {
      // __ip_mc_join_group; a source join ignores its EADDRINUSE and goes on to add the source.
      if (m !== undefined) {
        if (op === 'join') return 'EADDRINUSE';
      } else {
        if (ep.memberships.length >= MAX_MEMBERSHIPS) return 'ENOBUFS';
        m = { group, mode: op === 'join' ? 'exclude' : 'include', sources: [] };
        ep.memberships.push(m);
        let list = this.groups.get(group);
        if (list === undefined) {
          this.groups.set(group, (list = []));
          this.onGroupChange?.(group, true);
        }
        list.push(m);
      }
      if (op === 'join') return undefined;
    }
    // ip_mc_source(add, MCAST_INCLUDE, ...)
    if (m === undefined) return 'EINVAL'; // no prior join
    if (m.mode !== 'include') {
      if (m.sources.length > 0) return 'EINVAL';
      m.mode = 'include'; // "allow mode switches for empty-set filters"
    }
    const i = m.sources.indexOf(source);
    if (op === 'leave-source') {
      if (i < 0) return 'EADDRNOTAVAIL';
      // (INCLUDE, empty) is a leave.
      if (m.sources.length === 1) this.remove(ep, m);
      else m.sources.splice(i, 1);
      return undefined;
    }
    if (m.sources.length >= MAX_SOURCES) return 'ENOBUFS';
    if (i >= 0) return 'EADDRNOTAVAIL'; // already there
    m.sources.push(source);
    return undefined;
  }

  leaveAll(ep: UdpEndpoint): void {
    while (ep.memberships.length > 0) this.remove(ep, ep.memberships[ep.memberships.length - 1]!);
  }

  private remove(ep: UdpEndpoint, m: Membership): void {
    ep.memberships.splice(ep.memberships.indexOf(m), 1);
    const list = this.groups.get(m.group);
    if (list === undefined) return;
    list.splice(list.indexOf(m), 1);
    if (list.length === 0) {
      this.groups.delete(m.group);
      this.onGroupChange?.(m.group, false);
    }
    this.filterChanged(m.group);
  }

  private clashes(addr: IpAddress, port: number, reuseAddr: boolean, v6: 'dual' | 'only' | undefined): boolean {
    const list = this.ports.get(port);
    if (list === undefined) return false;
    const mine4 = cover4(addr, v6);
    const mine6 = typeof addr === 'string' ? addr : undefined;
    for (const other of list) {
      if (reuseAddr && other.reuseAddr) continue;
      const o4 = cover4(other.localAddr, other.v6);
      if (mine4 !== undefined && o4 !== undefined && (mine4 === o4 || mine4 === ANY || o4 === ANY)) return true;
      const o6 = typeof other.localAddr === 'string' ? other.localAddr : undefined;
      if (mine6 !== undefined && o6 !== undefined && (mine6 === o6 || mine6 === IPV6_ANY || o6 === IPV6_ANY)) return true;
    }
    return false;
  }

  /**
   * Closes every bound endpoint (`UdpEndpoint.close`: a dgram socket emits 'close' on a
   * later tick), e.g. when the stack shuts down; `closed` is then true, and a facade fails
   * later binds itself (node:dgram's with ERR_STACK_CLOSED).
   */
  close(): void {
    this.closed = true;
    for (const f of this.flows.all()) this.flowClose(f, 'shutdown', 0);
    const all: UdpEndpoint[] = [];
    for (const list of this.ports.values()) all.push(...list);
    for (const ep of all) ep.close();
  }

  /** For diagnostics: "addr:port" of every bound endpoint. */
  boundAddresses(): string[] {
    const out: string[] = [];
    for (const [port, list] of this.ports) for (const ep of list) out.push(`${formatAddress(ep.localAddr)}:${port}`);
    return out;
  }
}

/**
 * The IPv4 addresses a bind covers: the address, ANY for all of them (0.0.0.0, or `::`
 * on a dual-stack socket), undefined for none (an IPv6 address, `::` with IPV6_V6ONLY).
 */
function cover4(addr: IpAddress, v6: 'dual' | 'only' | undefined): Ipv4Address | undefined {
  if (typeof addr === 'number') return addr;
  return addr === IPV6_ANY && v6 === 'dual' ? ANY : undefined;
}

/**
 * Linux compute_score (udp4 and udp6), reduced: -1 when `ep` cannot take src:sport →
 * dst, else 4 for a connected match, plus 2 for an exact local address, plus 1 for a
 * socket of the datagram's own family (an AF_INET socket beats a dual-stack one for IPv4).
 * A wildcard hears its own family only: 0.0.0.0 IPv4, `::` IPv6 (and IPv4 when dual).
 */
function score(ep: UdpEndpoint, src: IpAddress, sport: number, dst: IpAddress): number {
  const local = ep.localAddr;
  let sc: number;
  if (local === ANY) {
    if (typeof dst !== 'number') return -1;
    sc = 0;
  } else if (local === IPV6_ANY) {
    if (typeof dst === 'number' && ep.v6 !== 'dual') return -1;
    sc = 0;
  } else if (local !== dst) return -1;
  else sc = 2;
  if (ep.remotePort !== 0) {
    if (ep.remoteAddr !== src || ep.remotePort !== sport) return -1;
    sc += 4;
  }
  return sc + (typeof dst === 'string' || ep.v6 === undefined ? 1 : 0);
}
