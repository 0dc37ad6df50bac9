/**
 * The option, configuration and counter types of the TCP layer (no code but the
 * counters' zero record): what `TcpLayer` takes (`TcpLayerOptions`), what every
 * connection reads (`ResolvedConfig`), what `stats()` returns (`TcpStats`).
 */
import type { Ipv4Address } from '@netstack/ip';
import type { CongestionControl, CongestionControlName } from './congestion.js';
import type { MemoryAccount } from './ring.js';

/** RFC 9293 §3.3.2 connection states. */
export type TcpState =
  | 'CLOSED'
  | 'LISTEN'
  | 'SYN-SENT'
  | 'SYN-RECEIVED'
  | 'ESTABLISHED'
  | 'FIN-WAIT-1'
  | 'FIN-WAIT-2'
  | 'CLOSE-WAIT'
  | 'CLOSING'
  | 'LAST-ACK'
  | 'TIME-WAIT';

/** Per-connection options (connect options, or inherited from the listener). */
export interface TcpConnectionOptions {
  /** Disable Nagle's algorithm (RFC 1122 §4.2.3.4). Default false. */
  noDelay?: boolean;
  /** Keepalive (RFC 1122 §4.2.3.6). Default false. */
  keepAlive?: boolean;
  /** Idle time before the first keepalive probe, ms. Default: the layer's keepAliveIdle (2 h). */
  keepAliveInitialDelay?: number;
  /** Send buffer bound in bytes. Default: the layer's sendBufferSize. */
  sendBufferSize?: number;
  /** Receive buffer bound in bytes (and so the largest window). Default: the layer's receiveBufferSize. */
  receiveBufferSize?: number;
  /** Congestion control for this connection. Default: the layer's congestionControl. */
  congestionControl?: CongestionControlName;
}

export interface TcpLayerOptions {
  /** Secret for RFC 6528 ISNs, SYN cookies and RFC 6056 ephemeral ports. Default: 16 random bytes. */
  isnKey?: Uint8Array;
  /** Maximum segment lifetime, ms. TIME-WAIT lasts 2*MSL. Default 30 000 (TIME-WAIT 60 s, as Linux). */
  msl?: number;
  /** RFC 6298 §2.4 lower bound on RTO, ms. Default 200 (Linux; RFC 6298 says 1 s). */
  rtoMin?: number;
  /** Upper bound on RTO, ms. Default 60 000 (RFC 6298 §2.5). */
  rtoMax?: number;
  /** Initial RTO, ms. Default 1000 (RFC 6298 §2.1). */
  rtoInitial?: number;
  /** Timeouts of one segment before ETIMEDOUT. Default 15 (Linux tcp_retries2). */
  maxRetries?: number;
  /** SYN / SYN-ACK retransmissions before giving up. Default 6 (Linux tcp_syn_retries). */
  synRetries?: number;
  /** Delayed-ACK timeout, ms (RFC 1122 §4.2.3.2: < 500). Default 40 (Linux's minimum). */
  delayedAckMs?: number;
  /** Default send buffer per connection, bytes. Default 256 KiB. */
  sendBufferSize?: number;
  /** Default receive buffer per connection, bytes (bounds the window). Default 256 KiB. */
  receiveBufferSize?: number;
  /** Out-of-order ranges kept per connection (the reassembly queue bound; storage grows with use). Default 64: heavy reordering at a full window makes dozens of holes. */
  maxOutOfOrderRanges?: number;
  /** Connections in the table, all states. Default 65 536. */
  maxConnections?: number;
  /**
   * Bytes of send and receive buffer storage all connections may hold together (Linux's
   * tcp_mem): past it buffers stop growing, so writes take fewer bytes and receive
   * windows close towards what is stored; every buffer may still grow to 4 KiB, so no
   * connection stalls. Default 256 MiB.
   */
  maxBufferMemory?: number;
  /** Offer window scaling (RFC 7323). Default true. */
  windowScaling?: boolean;
  /** Offer timestamps (RFC 7323). Default true. */
  timestamps?: boolean;
  /** Offer SACK (RFC 2018: receiver side, SACK and D-SACK blocks in our ACKs). Default true. */
  sack?: boolean;
  /**
   * RACK-TLP loss detection (RFC 8985) on connections with SACK: time-based loss marking
   * with an adaptive reordering window, and tail loss probes. When false, SACK recovery
   * starts on DupThresh (RFC 6675 §5) as before. Default true (as Linux's tcp_recovery).
   */
  rack?: boolean;
  /**
   * Explicit Congestion Notification (RFC 3168). 'passive' (the default, as Linux's
   * tcp_ecn=2): accepted when a peer's SYN asks for it; true: also asked for on our own
   * connections (ECN-setup SYN); false: never. With ECN, new data leaves as ECT(0), CE marks
   * are echoed with ECE until the peer's CWR, and an ECE halves the window once per window of data.
   */
  ecn?: boolean | 'passive';
  /** SYN cookies when a listener's SYN queue is full (RFC 4987 §3.6). Default true. */
  synCookies?: boolean;
  /** Keepalive idle time, ms. Default 7 200 000 (RFC 1122 §4.2.3.6: >= 2 h). */
  keepAliveIdle?: number;
  /** Keepalive probe interval, ms. Default 75 000. */
  keepAliveInterval?: number;
  /** Unanswered keepalive probes before ETIMEDOUT. Default 9. */
  keepAliveCount?: number;
  /** A closed connection stays in FIN-WAIT-2 at most this long, ms. Default 60 000. */
  finWait2Timeout?: number;
  /** Challenge ACKs per connection per second (RFC 5961 §7). Default 10. */
  challengeAckLimit?: number;
  /** Smallest MSS accepted from a peer or ICMP. Default 88. */
  minMss?: number;
  /** Verify checksums on input. Default true. */
  verifyChecksum?: boolean;
  /** Congestion control by name, or a factory. Default 'cubic' (RFC 9438 with HyStart++, as Linux); 'newreno' (RFC 5681, RFC 6582) selectable per stack and per connection. */
  congestionControl?: CongestionControlName | ((smss: number) => CongestionControl);
}

/** The layer's options with every default applied, as connections read them (in the published types because the connection's host names it). */
export interface ResolvedConfig {
  isnKey: Uint8Array;
  msl: number;
  rtoMin: number;
  rtoMax: number;
  rtoInitial: number;
  clockGranularity: number;
  maxRetries: number;
  synRetries: number;
  delayedAckMs: number;
  sendBufferSize: number;
  receiveBufferSize: number;
  maxOutOfOrderRanges: number;
  maxConnections: number;
  /** The storage of every connection's buffers, against maxBufferMemory. */
  memory: MemoryAccount;
  windowScaling: boolean;
  timestamps: boolean;
  sack: boolean;
  rack: boolean;
  ecn: boolean | 'passive';
  synCookies: boolean;
  keepAliveIdle: number;
  keepAliveInterval: number;
  keepAliveCount: number;
  finWait2Timeout: number;
  challengeAckLimit: number;
  minMss: number;
  verifyChecksum: boolean;
  congestionControl: (smss: number, choice?: CongestionControlName) => CongestionControl;
}

/** Drop reasons (bad or unwanted input), counted and never thrown. */
export interface TcpDropCounters {
  truncated: number;
  badDataOffset: number;
  badOption: number;
  badChecksum: number;
  badPort: number;
  broadcast: number;
  outOfWindow: number;
  noAck: number;
  badAck: number;
  ackUnsent: number;
  ackTooOld: number;
  reassemblyFull: number;
  listenNoSyn: number;
  tableFull: number;
  icmpIgnored: number;
  /** No connection and no listener: answered with RST (unless itself an RST, RFC 9293 §3.10.7.1). */
  noSocket: number;
  /** An RST to a listener: ignored (RFC 9293 §3.10.7.2 first). */
  listenRst: number;
  /** An ACK to a listener that completes no SYN cookie: answered with RST (§3.10.7.2 second). */
  listenAck: number;
  /** A SYN (or a cookie-completing ACK) refused because the accept queue was full (also listenOverflows). */
  listenOverflow: number;
  /** A SYN refused because the SYN queue was full and SYN cookies are off (also listenDrops). */
  synQueueFull: number;
}

/**
 * Receive accounting: every segment the IP layer hands over (inSegs) ends in exactly one
 * of inDelivers (a connection took it, or a listener made one of it or answered it with a
 * SYN cookie) or one layer-level drop reason: the parse errors (inErrs = truncated +
 * badDataOffset + badOption + badChecksum + badPort), broadcast, noSocket, listenRst,
 * listenAck, listenNoSyn, listenOverflow, synQueueFull, tableFull. So
 *   inSegs = inDelivers + inErrs + broadcast + noSocket + listenRst + listenAck + listenNoSyn
 *            + listenOverflow + synQueueFull + tableFull
 * Of the delivered ones, a connection may still discard the segment (or its data) and
 * count why: outOfWindow, noAck, badAck, ackUnsent, ackTooOld, reassemblyFull, pawsDrops,
 * challenge ACKs. icmpIgnored counts ICMP errors, not segments.
 */

/** /proc/net/snmp `Tcp:` style counters plus drop reasons and TcpExt-like extras. */
export interface TcpStats {
  activeOpens: number;
  passiveOpens: number;
  attemptFails: number;
  estabResets: number;
  /** Connections in ESTABLISHED or CLOSE-WAIT now. */
  currEstab: number;
  inSegs: number;
  outSegs: number;
  retransSegs: number;
  inErrs: number;
  outRsts: number;
  inCsumErrors: number;
  synCookiesSent: number;
  synCookiesRecv: number;
  synCookiesFailed: number;
  listenOverflows: number;
  listenDrops: number;
  pawsDrops: number;
  challengeAcks: number;
  challengeAcksSuppressed: number;
  rstsReceived: number;
  dupAcks: number;
  fastRetransmits: number;
  /** Loss recoveries run with the SACK scoreboard (RFC 6675 §5); also counted in fastRetransmits. */
  sackRecoveries: number;
  /** Segments retransmitted by RFC 6675 NextSeg() (rules 1, 3, 4) and the recovery's first retransmission. */
  sackRetransmits: number;
  /** Of the SACK recoveries, those started by RACK's time-based loss marking (RFC 8985 §6). */
  rackRecoveries: number;
  /** Bytes RACK marked lost (RFC 8985 §6.2 step 5). */
  rackLostBytes: number;
  /** Tail loss probes sent (RFC 8985 §7.3). */
  tlpProbes: number;
  /** Retransmissions found lost again by RACK during a recovery (a further reduction, RFC 8985 §9.3). */
  lostRetransmits: number;
  /** Probes that repaired a loss: a congestion response without a recovery (RFC 8985 §7.4). */
  tlpRecoveries: number;
  /** ACKs carrying a D-SACK (RFC 2883): a retransmission (or duplication) the peer did not need. */
  dsacksReceived: number;
  /** Recoveries undone: every retransmission came back as a D-SACK (RFC 3708; RFC 9438 §4.9). */
  spuriousRecoveries: number;
  /** Connections that negotiated ECN (RFC 3168 §6.1.1). */
  ecnNegotiated: number;
  /** Data segments received with CE (congestion experienced) in the IP header. */
  ecnCeReceived: number;
  /** Window reductions in answer to ECE (RFC 3168 §6.1.2). */
  ecnEceReductions: number;
  /** Segments sent with CWR, and received with CWR. */
  ecnCwrSent: number;
  ecnCwrReceived: number;
  outOfOrder: number;
  timeouts: number;
  /** Zero-window probes sent (RFC 9293 §3.8.6.1): pure ACKs at SND.UNA - 1, no data. */
  windowProbes: number;
  keepaliveProbes: number;
  keepaliveTimeouts: number;
  finWait2Timeouts: number;
  timeWaitReused: number;
  sendErrors: number;
  /** Segments sent with the checksum left to the link (IpOutput.sendSegment). */
  outCsumOffloaded: number;
  /** Of those, super-segments of several MSS that the link segments (TSO/GSO). */
  outGsoSegs: number;
  /** Segments received whose checksum the link vouched for (not verified here). */
  inCsumTrusted: number;
  /** Segments a connection took (or a listener turned into one, or answered with a SYN cookie). */
  inDelivers: number;
  /** Gauge: bytes of buffer storage held by all connections now (against maxBufferMemory). */
  bufferMemory: number;
  /** Times buffer storage reached maxBufferMemory, plus writes cut short by it (not by the buffer's own size). */
  memoryPressure: number;
  drops: TcpDropCounters;
}

export interface ListenOptions {
  /** 0: an ephemeral port (RFC 6056), read it back from `TcpListener.port`. */
  port: number;
  /** Local address to accept on; default ANY (0). */
  address?: Ipv4Address;
  /** Accept queue bound (completed connections not yet accepted). Default 128. */
  backlog?: number;
  /** SYN queue bound (SYN-RECEIVED connections). Default: backlog. */
  synBacklog?: number;
  /** Options for accepted connections. */
  options?: TcpConnectionOptions;
}

export interface ConnectOptions {
  remoteAddress: Ipv4Address;
  remotePort: number;
  /** Default: the IP layer's source address towards the remote. */
  localAddress?: Ipv4Address;
  /** Default: an ephemeral port in 49152-65535 (RFC 6335), chosen by RFC 6056 Algorithm 4. */
  localPort?: number;
  options?: TcpConnectionOptions;
}

/** The counters at zero (`bufferMemory` and `memoryPressure` are filled in by `stats()`). */
export function newTcpStats(): TcpStats {
  return {
    activeOpens: 0, passiveOpens: 0, attemptFails: 0, estabResets: 0, currEstab: 0,
    inSegs: 0, outSegs: 0, retransSegs: 0, inErrs: 0, outRsts: 0, inCsumErrors: 0,
    synCookiesSent: 0, synCookiesRecv: 0, synCookiesFailed: 0, listenOverflows: 0, listenDrops: 0,
    pawsDrops: 0, challengeAcks: 0, challengeAcksSuppressed: 0, rstsReceived: 0, dupAcks: 0,
    fastRetransmits: 0, sackRecoveries: 0, sackRetransmits: 0,
    rackRecoveries: 0, rackLostBytes: 0, tlpProbes: 0, lostRetransmits: 0, tlpRecoveries: 0, dsacksReceived: 0, spuriousRecoveries: 0,
    ecnNegotiated: 0, ecnCeReceived: 0, ecnEceReductions: 0, ecnCwrSent: 0, ecnCwrReceived: 0, outOfOrder: 0, timeouts: 0, windowProbes: 0, keepaliveProbes: 0,
    keepaliveTimeouts: 0, finWait2Timeouts: 0, timeWaitReused: 0, sendErrors: 0,
    outCsumOffloaded: 0, outGsoSegs: 0, inCsumTrusted: 0, inDelivers: 0, bufferMemory: 0, memoryPressure: 0,
    drops: {
      truncated: 0, badDataOffset: 0, badOption: 0, badChecksum: 0, badPort: 0, broadcast: 0,
      outOfWindow: 0, noAck: 0, badAck: 0, ackUnsent: 0, ackTooOld: 0, reassemblyFull: 0,
      listenNoSyn: 0, tableFull: 0, icmpIgnored: 0,
      noSocket: 0, listenRst: 0, listenAck: 0, listenOverflow: 0, synQueueFull: 0,
    },
  };
}
