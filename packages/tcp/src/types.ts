/**
 * The option, configuration and counter types of the TCP layer (no code but the
 * counters' zero record): what `TcpLayer` takes (`TcpLayerOptions`), what every
 * connection reads (`ResolvedConfig`), what `stats()` returns (`TcpStats`).
 */
import type { IpAddress } from '@netstack/ip';
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
  /**
   * Send buffer in bytes at the start. Default: the layer's sendBufferSize. Set here without
   * `sendBufferMax`, it is fixed (no autotuning), as Linux's SO_SNDBUF locks the buffer.
   */
  sendBufferSize?: number;
  /**
   * The largest send buffer autotuning may grow this connection's to (Linux's
   * tcp_sndbuf_expand: twice the congestion window). Default: the layer's sendBufferMax, or
   * `sendBufferSize` when that is set here.
   */
  sendBufferMax?: number;
  /**
   * Receive buffer in bytes at the start (and so the initial window). Default: the layer's
   * receiveBufferSize. Set here without `receiveBufferMax`, it is fixed (no autotuning), as
   * Linux's SO_RCVBUF locks the buffer.
   */
  receiveBufferSize?: number;
  /**
   * The largest receive buffer autotuning may grow this connection's to (Linux's Dynamic
   * Right-Sizing, tcp_rcv_space_adjust). Default: the layer's receiveBufferMax, or
   * `receiveBufferSize` when that is set here. Also sets the window scale we offer.
   */
  receiveBufferMax?: number;
  /** Congestion control for this connection. Default: the layer's congestionControl. */
  congestionControl?: CongestionControlName;
  /** Sender pacing for this connection (see the layer's `pacing`). Default: the layer's. */
  pacing?: boolean;
}

/** Bounds and timeout of pending interception requests (intercept.ts). */
export interface InterceptLimits {
  /** Requests pending at once. Default 1024 (gVisor's forwarder: maxInFlight). */
  maxPending?: number;
  /** Bytes they may hold together (the stored SYN and its datagram, plus a fixed overhead). Default 1 MiB. */
  maxPendingBytes?: number;
  /** A request not decided within this many ms is forgotten. Default 75 000 (a client's connect timeout, Linux tcp_syn_retries 6 is ~127 s, BSD's 75 s). */
  pendingTimeout?: number;
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
  /** Default send buffer per connection at the start, bytes. Default 256 KiB. */
  sendBufferSize?: number;
  /**
   * Send-buffer autotuning (Linux's tcp_sndbuf_expand): when an ACK frees space for a writer
   * that found the buffer full, and the congestion window is not what limits the connection, the
   * buffer grows to twice the congestion window, up to this many bytes (Linux's tcp_wmem[2]).
   * Default 4 MiB, or `sendBufferSize` when only that is set (a fixed size stays fixed).
   */
  sendBufferMax?: number;
  /**
   * Bytes of send-buffer capacity autotuning may add above the connections' initial sizes, all
   * connections together. Growth also stops while buffer storage is at maxBufferMemory.
   * Default 64 MiB.
   */
  sendBufferBudget?: number;
  /** Default receive buffer per connection at the start, bytes (the initial window). Default 256 KiB. */
  receiveBufferSize?: number;
  /**
   * Receive-buffer autotuning (Linux's Dynamic Right-Sizing, tcp_rcv_space_adjust): while the
   * application reads fast, a connection's receive buffer grows to about twice what it read in
   * the last round trip, up to this many bytes (Linux's tcp_rmem[2]). Default 6 MiB, or
   * `receiveBufferSize` when only that is set (a fixed size stays fixed). Also sets the window
   * scale offered (RFC 7323 §2.3: 7 for 6 MiB).
   */
  receiveBufferMax?: number;
  /**
   * Bytes of receive-buffer capacity autotuning may add above the connections' initial sizes,
   * all connections together. Growth also stops while buffer storage is at maxBufferMemory.
   * Default 64 MiB.
   */
  receiveBufferBudget?: number;
  /** Out-of-order ranges kept per connection (the reassembly queue bound; storage grows with use). Default 256: 25 % reordering at an autotuned window of megabytes makes hundreds of holes. */
  maxOutOfOrderRanges?: number;
  /** Connections in the table, all states. Default 65 536. */
  maxConnections?: number;
  /**
   * Connections in TIME-WAIT at most (Linux's tcp_max_tw_buckets). Beyond it a connection
   * that would enter TIME-WAIT is deleted at once (after the ACK of the peer's FIN),
   * counted in TimeWaitOverflows: a peer opening and closing connections fast must not
   * fill the table with TIME-WAIT and lock every new connection out for 2 MSL. Default
   * 16 384 (a quarter of the table; each costs a whole idle TCB here, ~7.5 KiB).
   */
  maxTimeWait?: number;
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
  /**
   * Sender pacing (pacing.ts), as Linux's internal pacing: data leaves at a rate of
   * max(cwnd, flight) / SRTT times `pacingSsRatio` % in slow start (cwnd < ssthresh / 2), else
   * `pacingCaRatio` %, instead of everything an ACK opens back to back; offload super-segments
   * carry about 1 ms of that rate (Linux's tcp_tso_autosize). The first 10 segments are not
   * paced. Default true.
   */
  pacing?: boolean;
  /** Pacing rate in slow start, percent of cwnd / SRTT. Default 200 (Linux's tcp_pacing_ss_ratio). */
  pacingSsRatio?: number;
  /** Pacing rate otherwise, percent of cwnd / SRTT. Default 120 (Linux's tcp_pacing_ca_ratio). */
  pacingCaRatio?: number;
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
  /** Bounds and timeout of pending interception requests (see `TcpLayer.setIntercept`). */
  intercept?: InterceptLimits;
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
  sendBufferMax: number;
  receiveBufferSize: number;
  receiveBufferMax: number;
  maxOutOfOrderRanges: number;
  maxConnections: number;
  maxTimeWait: number;
  /** The storage of every connection's buffers, against maxBufferMemory. */
  memory: MemoryAccount;
  windowScaling: boolean;
  timestamps: boolean;
  sack: boolean;
  rack: boolean;
  ecn: boolean | 'passive';
  pacing: boolean;
  pacingSsRatio: number;
  pacingCaRatio: number;
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
  Truncated: number;
  BadDataOffset: number;
  BadOption: number;
  BadChecksum: number;
  BadPort: number;
  Broadcast: number;
  OutOfWindow: number;
  NoAck: number;
  BadAck: number;
  AckUnsent: number;
  AckTooOld: number;
  ReassemblyFull: number;
  ListenNoSyn: number;
  TableFull: number;
  IcmpIgnored: number;
  /** No connection and no listener: answered with RST (unless itself an RST, RFC 9293 §3.10.7.1). */
  NoSocket: number;
  /** An RST to a listener: ignored (RFC 9293 §3.10.7.2 first). */
  ListenRst: number;
  /** An ACK to a listener that completes no SYN cookie: answered with RST (§3.10.7.2 second). */
  ListenAck: number;
  /** A SYN (or a cookie-completing ACK) refused because the accept queue was full (also ListenOverflows). */
  ListenOverflow: number;
  /** A SYN refused because the SYN queue was full and SYN cookies are off (also ListenDrops). */
  SynQueueFull: number;
  /** A SYN retransmitted for a tuple whose interception is still pending: absorbed (intercept.ts). */
  InterceptSynAbsorbed: number;
  /** A SYN to intercept refused because the pending requests are at their count or byte bound. */
  InterceptFull: number;
  /** Any other segment (not SYN, not RST) for a tuple whose interception is pending: dropped. */
  InterceptStray: number;
}

/**
 * Receive accounting: every segment the IP layer hands over (InSegs) ends in exactly one
 * of InDelivers (a connection took it, or a listener made one of it or answered it with a
 * SYN cookie) or one layer-level drop reason: the parse errors (InErrs = Truncated +
 * BadDataOffset + BadOption + BadChecksum + BadPort), Broadcast, NoSocket, ListenRst,
 * ListenAck, ListenNoSyn, ListenOverflow, SynQueueFull, TableFull. So
 *   InSegs = InDelivers + InErrs + Broadcast + NoSocket + ListenRst + ListenAck + ListenNoSyn
 *            + ListenOverflow + SynQueueFull + TableFull + InterceptSynAbsorbed + InterceptFull + InterceptStray
 * (a SYN that becomes an interception request, and a client's RST that ends one, are InDelivers)
 * Of the delivered ones, a connection may still discard the segment (or its data) and
 * count why: OutOfWindow, NoAck, BadAck, AckUnsent, AckTooOld, ReassemblyFull, PawsDrops,
 * challenge ACKs. IcmpIgnored counts ICMP errors, not segments.
 */

/** /proc/net/snmp `Tcp:` style counters plus drop reasons and TcpExt-like extras. */
export interface TcpStats {
  ActiveOpens: number;
  PassiveOpens: number;
  AttemptFails: number;
  EstabResets: number;
  /** Connections in ESTABLISHED or CLOSE-WAIT now. */
  CurrEstab: number;
  InSegs: number;
  OutSegs: number;
  RetransSegs: number;
  InErrs: number;
  OutRsts: number;
  InCsumErrors: number;
  SyncookiesSent: number;
  SyncookiesRecv: number;
  SyncookiesFailed: number;
  ListenOverflows: number;
  ListenDrops: number;
  PawsDrops: number;
  /**
   * PAWS-rejected pure ACKs not answered with a duplicate ACK: at most one such answer per
   * 500 ms per connection (Linux's tcp_oow_rate_limited, TcpExtTCPACKSkippedPAWS).
   */
  PawsAcksSuppressed: number;
  ChallengeAcks: number;
  ChallengeAcksSuppressed: number;
  RstsReceived: number;
  DupAcks: number;
  FastRetransmits: number;
  /** Loss recoveries run with the SACK scoreboard (RFC 6675 §5); also counted in FastRetransmits. */
  SackRecoveries: number;
  /** Segments retransmitted by RFC 6675 NextSeg() (rules 1, 3, 4) and the recovery's first retransmission. */
  SackRetransmits: number;
  /** Of the SACK recoveries, those started by RACK's time-based loss marking (RFC 8985 §6). */
  RackRecoveries: number;
  /** Bytes RACK marked lost (RFC 8985 §6.2 step 5). */
  RackLostBytes: number;
  /** Tail loss probes sent (RFC 8985 §7.3). */
  TlpProbes: number;
  /** Retransmissions found lost again by RACK during a recovery (a further reduction, RFC 8985 §9.3). */
  LostRetransmits: number;
  /** Probes that repaired a loss: a congestion response without a recovery (RFC 8985 §7.4). */
  TlpRecoveries: number;
  /** ACKs carrying a D-SACK (RFC 2883): a retransmission (or duplication) the peer did not need. */
  DsacksReceived: number;
  /** Recoveries undone: every retransmission came back as a D-SACK (RFC 3708; RFC 9438 §4.9). */
  SpuriousRecoveries: number;
  /** Spurious recoveries undone at a partial ACK by Eifel detection (Linux tcp_try_undo_partial, TCPPartialUndo). */
  PartialUndos: number;
  /** Partial ACKs that showed the hole filled by a delayed original while retransmissions were out: nothing more marked lost or resent on them (Linux tcp_try_undo_partial). */
  PartialUndoHolds: number;
  /** Retransmission timeouts that found the receiver reneging on its SACKs (the segment at SND.UNA SACKed): the scoreboard expunged, as Linux's TCPSACKReneging; otherwise it survives the timeout. */
  SackRenegings: number;
  /** Retransmission timeouts that fired with data outstanding (Linux's TcpExt TCPTimeouts; `Timeouts` counts connections given up). */
  RetransTimeouts: number;
  /** Retransmission timeouts undone: an ACK echoed a timestamp from before the first retransmission (RFC 3522 Eifel detection, Linux's tcp_try_undo_loss, TCPLossUndo), or F-RTO showed the timeout spurious (SpuriousRtos). */
  LossUndos: number;
  /** Retransmissions sent after a timeout that RACK found lost again: a recovery started at once (Linux's FLAG_LOST_RETRANS in TCP_CA_Loss) instead of another timeout. */
  RtoLostRetransmits: number;
  /** Retransmission timeouts shown spurious by RFC 5682 F-RTO (SACK on, timestamps off: data the timeout had not resent was acknowledged or SACKed) and undone; Linux's TCPSpuriousRTOs. Also in LossUndos. */
  SpuriousRtos: number;
  /** Connections that negotiated ECN (RFC 3168 §6.1.1). */
  EcnNegotiated: number;
  /** Data segments received with CE (congestion experienced) in the IP header. */
  EcnCeReceived: number;
  /** Window reductions in answer to ECE (RFC 3168 §6.1.2). */
  EcnEceReductions: number;
  /** Segments sent with CWR, and received with CWR. */
  EcnCwrSent: number;
  EcnCwrReceived: number;
  OutOfOrder: number;
  Timeouts: number;
  /** Zero-window probes sent (RFC 9293 §3.8.6.1): pure ACKs at SND.UNA - 1, no data. */
  WindowProbes: number;
  KeepaliveProbes: number;
  KeepaliveTimeouts: number;
  FinWait2Timeouts: number;
  TimeWaitReused: number;
  /** Connections deleted on entering TIME-WAIT because maxTimeWait were there (Linux TCPTimeWaitOverflow). */
  TimeWaitOverflows: number;
  SendErrors: number;
  /** Segments sent with the checksum left to the link (IpOutput.sendSegment). */
  OutCsumOffloaded: number;
  /** Of those, super-segments of several MSS that the link segments (TSO/GSO). */
  OutGsoSegs: number;
  /** Segments received whose checksum the link vouched for (not verified here). */
  InCsumTrusted: number;
  /** Segments a connection took (or a listener turned into one, or answered with a SYN cookie). */
  InDelivers: number;
  /** Gauge: bytes of buffer storage held by all connections now (against maxBufferMemory). */
  BufferMemory: number;
  /** Times buffer storage reached maxBufferMemory, plus writes cut short by it (not by the buffer's own size). */
  MemoryPressure: number;
  /** Receive-buffer autotuning: times a connection's receive buffer grew. */
  RcvBufGrowths: number;
  /** Gauge: receive-buffer capacity autotuning granted above the initial sizes, all connections (against receiveBufferBudget). */
  RcvBufAutotuned: number;
  /** Send-buffer autotuning: times a connection's send buffer grew. */
  SndBufGrowths: number;
  /** Gauge: send-buffer capacity autotuning granted above the initial sizes, all connections (against sendBufferBudget). */
  SndBufAutotuned: number;
  /** Sender pacing: times a connection's data waited for its departure time (the pacing timer armed). */
  PacingDelays: number;
  /** Interception (intercept.ts): SYNs handed to the hook as requests. */
  InterceptRequests: number;
  /** Requests accepted (the SYN-ACK went out from the original destination then). */
  InterceptAccepted: number;
  /** Requests refused with RST, with an ICMP error, or dropped by decision. */
  InterceptRefusedRst: number;
  InterceptRefusedIcmp: number;
  InterceptDropped: number;
  /** Requests the client ended with RST while pending. */
  InterceptClientResets: number;
  /** Requests not decided within `intercept.pendingTimeout`: forgotten (the client's SYN times out). */
  InterceptExpired: number;
  /** Gauges: requests pending now, and the bytes they hold (against the bounds). */
  InterceptPending: number;
  InterceptPendingBytes: number;
  dropped: TcpDropCounters;
}

export interface ListenOptions {
  /** 0: an ephemeral port (RFC 6056), read it back from `TcpListener.port`. */
  port: number;
  /** Local address to accept on; default ANY (0), which accepts both families. */
  address?: IpAddress;
  /**
   * With address ANY: accept this family only (`'IPv4'`: node's `0.0.0.0` on a dual stack;
   * `'IPv6'`: `::` with IPV6_V6ONLY, RFC 3493 §5.3). Default: both.
   */
  family?: 'IPv4' | 'IPv6';
  /** Accept queue bound (completed connections not yet accepted). Default 128. */
  backlog?: number;
  /** SYN queue bound (SYN-RECEIVED connections). Default: backlog. */
  synBacklog?: number;
  /** Options for accepted connections. */
  options?: TcpConnectionOptions;
  /**
   * New connections on this listener go to the layer's interception hook first
   * (`TcpLayer.setIntercept`): the SYN-ACK leaves only when the hook accepts. Without a
   * hook installed the listener answers SYNs itself. Default false.
   */
  intercept?: boolean;
}

export interface ConnectOptions {
  remoteAddress: IpAddress;
  remotePort: number;
  /** Default: the IP layer's source address towards the remote. */
  localAddress?: IpAddress;
  /** Default: an ephemeral port in 49152-65535 (RFC 6335), chosen by RFC 6056 Algorithm 4. */
  localPort?: number;
  options?: TcpConnectionOptions;
}

/** The counters at zero (`BufferMemory`, `MemoryPressure`, `RcvBufAutotuned` and `SndBufAutotuned` are filled in by `stats()`). */
export function newTcpStats(): TcpStats {
  return {
    ActiveOpens: 0, PassiveOpens: 0, AttemptFails: 0, EstabResets: 0, CurrEstab: 0,
    InSegs: 0, OutSegs: 0, RetransSegs: 0, InErrs: 0, OutRsts: 0, InCsumErrors: 0,
    SyncookiesSent: 0, SyncookiesRecv: 0, SyncookiesFailed: 0, ListenOverflows: 0, ListenDrops: 0,
    PawsDrops: 0, PawsAcksSuppressed: 0, ChallengeAcks: 0, ChallengeAcksSuppressed: 0, RstsReceived: 0, DupAcks: 0,
    FastRetransmits: 0, SackRecoveries: 0, SackRetransmits: 0,
    RackRecoveries: 0, RackLostBytes: 0, TlpProbes: 0, LostRetransmits: 0, TlpRecoveries: 0, DsacksReceived: 0, SpuriousRecoveries: 0, PartialUndos: 0, PartialUndoHolds: 0, SackRenegings: 0, RetransTimeouts: 0, LossUndos: 0, RtoLostRetransmits: 0, SpuriousRtos: 0,
    EcnNegotiated: 0, EcnCeReceived: 0, EcnEceReductions: 0, EcnCwrSent: 0, EcnCwrReceived: 0, OutOfOrder: 0, Timeouts: 0, WindowProbes: 0, KeepaliveProbes: 0,
    KeepaliveTimeouts: 0, FinWait2Timeouts: 0, TimeWaitReused: 0, TimeWaitOverflows: 0, SendErrors: 0,
    OutCsumOffloaded: 0, OutGsoSegs: 0, InCsumTrusted: 0, InDelivers: 0, BufferMemory: 0, MemoryPressure: 0, RcvBufGrowths: 0, RcvBufAutotuned: 0, SndBufGrowths: 0, SndBufAutotuned: 0, PacingDelays: 0,
    InterceptRequests: 0, InterceptAccepted: 0, InterceptRefusedRst: 0, InterceptRefusedIcmp: 0, InterceptDropped: 0,
    InterceptClientResets: 0, InterceptExpired: 0, InterceptPending: 0, InterceptPendingBytes: 0,
    dropped: {
      Truncated: 0, BadDataOffset: 0, BadOption: 0, BadChecksum: 0, BadPort: 0, Broadcast: 0,
      OutOfWindow: 0, NoAck: 0, BadAck: 0, AckUnsent: 0, AckTooOld: 0, ReassemblyFull: 0,
      ListenNoSyn: 0, TableFull: 0, IcmpIgnored: 0,
      NoSocket: 0, ListenRst: 0, ListenAck: 0, ListenOverflow: 0, SynQueueFull: 0,
      InterceptSynAbsorbed: 0, InterceptFull: 0, InterceptStray: 0,
    },
  };
}
