/**
 * One TCP connection: the RFC 9293 state machine as a pure object. Time is an
 * argument (`now`, ms); timers are deadlines the host keeps in its heap; each segment
 * is built whole here (`transmit`) and handed to the host (`TcpHost` in host.ts, which
 * the layer implements: it owns the wire, the table and the timers).
 *
 * Reading guide (RFC 9293 §3.10 event processing):
 *  - `input()`        SEGMENT ARRIVES for every state but LISTEN (§3.10.7.3, §3.10.7.4)
 *  - `output()`       what to send now: SYN/SYN-ACK, data within min(SND.WND, cwnd), FIN, ACK
 *  - `onTimer()`      retransmission (RFC 6298), delayed ACK (RFC 1122 §4.2.3.2),
 *                     persist (§3.8.6.1), keepalive (RFC 1122 §4.2.3.6), TIME-WAIT, FIN-WAIT-2,
 *                     pacing (pacing.ts: data that waited for its departure time)
 *  - `setState()`     the one choke point for state changes
 *  - the public methods (`write`, `read`, `shutdown`, `close`, `abort`...) are the
 *    user calls of §3.10.1-§3.10.6; see `layer.ts` for the endpoint API contract.
 *
 * This file imports neither `layer.ts` nor `listener.ts`: it sees them only as the
 * `TcpHost` and `TcpParent` interfaces of host.ts.
 */
import type { IpAddress } from '@netstack/ip';
import { initialWindow } from './congestion.js';
import type { CongestionControl } from './congestion.js';
import { TcpError, usageError } from './errors.js';
import type { HeapEntry } from './heap.js';
import { flowLabel } from './isn.js';
import { newSegmentOut } from './host.js';
import type { TcpHost, TcpParent } from './host.js';
import { Rack } from './rack.js';
import { Pacer } from './pacing.js';
import { LossRecovery } from './recovery.js';
import { Assembler, RingBuffer } from './ring.js';
import { SackReport } from './sack-report.js';
import { isDsack, Scoreboard } from './scoreboard.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt, seqMax } from './seq.js';
import { ACK, CWR, ECE, FIN, RST, SYN, PSH, clearTcpOptions } from './wire.js';
import type { SackBlock, TcpRepr } from './wire.js';
import type { ResolvedConfig, TcpConnectionOptions, TcpState } from './types.js';

/** RFC 3168 §5: the IP header's ECN field, Not-ECT and ECT(0). */
const NOT_ECT = 0;
const ECT0 = 2;
/**
 * The one outgoing segment record every connection fills and hands to its host (sending
 * is synchronous and the host keeps nothing of it: no allocation per segment), with its
 * timestamp option and preallocated SACK blocks (views of the first 1..4 of them).
 */
const TX = newSegmentOut();
const TX_TS = { tsVal: 0, tsEcr: 0 };
const TX_SACK: SackBlock[] = [{ left: 0, right: 0 }, { left: 0, right: 0 }, { left: 0, right: 0 }, { left: 0, right: 0 }];
const TX_SACK_VIEWS: SackBlock[][] = [1, 2, 3, 4].map((n) => TX_SACK.slice(0, n));

/**
 * Event callbacks of one connection. All are optional and invoked synchronously,
 * but never from inside segment processing: the layer queues them and delivers
 * them when the outermost call (`receive`, `poll`, or a user call) finishes, so a
 * callback may call any method of the connection or layer (re-entrancy is safe).
 */
export interface TcpHandler {
  /** The three-way handshake completed (active open). */
  onEstablished?(conn: TcpConnection): void;
  /** New in-order bytes are readable (`conn.readableLength > 0`). */
  onReadable?(conn: TcpConnection): void;
  /** Send-buffer space was freed after a `write` accepted fewer bytes than offered. */
  onWritable?(conn: TcpConnection): void;
  /** The peer's FIN arrived: no more bytes will become readable after what is buffered. */
  onRemoteFin?(conn: TcpConnection): void;
  /**
   * The connection is over for the user: it reached CLOSED, or TIME-WAIT (which the
   * layer finishes alone). `error` is set for resets, refusals and timeouts. Called once.
   */
  onClosed?(conn: TcpConnection, error?: TcpError): void;
}

export interface TcpConnectionStats {
  bytesWritten: number;
  bytesSent: number;
  bytesRetransmitted: number;
  bytesReceived: number;
  bytesRead: number;
  segmentsIn: number;
  segmentsOut: number;
  retransmits: number;
  /** Loss recoveries run with the SACK scoreboard (RFC 6675). */
  sackRecoveries: number;
  /** Segments retransmitted by SACK-based loss recovery (RFC 6675 NextSeg). */
  sackRetransmits: number;
  /** Tail loss probes sent (RFC 8985 §7). */
  tlpProbes: number;
  /** Zero-window probes sent (RFC 9293 §3.8.6.1): pure ACKs at SND.UNA - 1, no data. */
  windowProbes: number;
  srtt: number;
  rttvar: number;
  rto: number;
  cwnd: number;
  ssthresh: number;
  sndMss: number;
  sndWnd: number;
  rcvWnd: number;
  sndWndShift: number;
  rcvWndShift: number;
  timestamps: boolean;
}

export const EV_ESTABLISHED = 1;
export const EV_READABLE = 2;
export const EV_WRITABLE = 4;
export const EV_REMOTE_FIN = 8;
export const EV_CLOSED = 16;

const NOOP_HANDLER: TcpHandler = {};
/** writeSpace's answer when nothing may be written. */
const NO_SPACE = new Uint8Array(0);
/**
 * RFC 6675 §4: bound on the SACK scoreboard (disjoint SACKed ranges above SND.UNA), as many
 * as a netstack receiver keeps out-of-order ranges (maxOutOfOrderRanges). At 32, a window of
 * ~2000 segments with 25 % of them reordered (bench --sim (d), pacing off) kept more holes:
 * the SACKs of ranges above the 32nd were dropped, the SACKed bytes stopped growing, PRR
 * (RFC 6937 DeliveredData) counted nothing delivered and sent nothing, and the recovery sat
 * until the RTO. Linux keeps SACK state per skb, unbounded. 8 bytes a range, grown as used.
 */
const SB_MAX = 256;
/** RFC 7323 §5.5: TS.Recent is invalid after 24 days idle. */
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000;
/** Linux's tcp_invalid_ratelimit: at most one reply per this many ms to PAWS-rejected pure ACKs. */
const PAWS_ACK_INTERVAL_MS = 500;
/**
 * Bound of RACK's sent log (records; a record is a run of segments sent at one instant,
 * split where SACK blocks or retransmissions end): at least this many, and two per full
 * segment the send buffer can hold at its largest (sndBufMax), see rackMaxRecords. Beyond
 * the bound RACK degrades (see rack.ts).
 */
const RACK_MIN_RECORDS = 1024;
/** RFC 8985 §7.2 WCDelAckT: the worst-case delayed ACK timer the PTO allows for (200 ms). */
const WC_DEL_ACK_MS = 200;

export class TcpConnection implements HeapEntry {
  /** HeapEntry (kept in the published types, as the interface requires): owned by the layer's timer heap, not for users. */
  heapIndex = -1;
  /** HeapEntry: owned by the layer's timer heap. */
  heapDeadline = Infinity;
  /** @internal hash-bucket chain in the connection table */
  nextInBucket: TcpConnection | undefined = undefined;
  /** @internal */
  key: number | string = 0;
  /** @internal set while the connection is in the table */
  inTable = false;
  /** @internal passive open not yet accepted */
  listener: TcpParent<TcpConnection> | undefined = undefined;
  /** @internal in the listener's accept queue */
  inAcceptQueue = false;
  /** @internal pending handler events (EV_*) */
  events = 0;
  /** @internal queued for event delivery */
  eventQueued = false;

  private _state: TcpState = 'CLOSED';
  handler: TcpHandler;
  readonly localAddress: IpAddress;
  readonly localPort: number;
  readonly remoteAddress: IpAddress;
  readonly remotePort: number;
  /**
   * The IPv6 Flow Label of every segment this connection sends (RFC 6437 §3: a keyed hash
   * of the 4-tuple, 20 bits, non-zero; isn.ts `flowLabel`), fixed at creation; 0 over IPv4.
   */
  readonly flowLabel: number;

  // --- Send sequence variables (RFC 9293 §3.3.1) ---
  /** @internal */ iss = 0;
  /** @internal SND.UNA */ sndUna = 0;
  /** @internal SND.NXT (rewound to SND.UNA on timeout: go-back-N) */ sndNxt = 0;
  /** @internal highest sequence number sent + 1 */ sndMax = 0;
  /** @internal SND.WND, in bytes (scaled) */ sndWnd = 0;
  /** @internal SND.WL1 */ sndWl1 = 0;
  /** @internal SND.WL2 */ sndWl2 = 0;
  /** @internal MAX.SND.WND (RFC 5961 §5, RFC 1122 §4.2.3.4) */ maxSndWnd = 0;
  // --- Receive sequence variables ---
  /** @internal IRS */ irs = 0;
  /** @internal RCV.NXT */ rcvNxt = 0;
  /** @internal RCV.NXT + RCV.WND as last advertised: the right edge never moves left */ rcvAdv = 0;
  // --- Options (RFC 7323, RFC 9293 §3.7.1) ---
  /** @internal */ sndShift = 0;
  /** @internal */ rcvShift = 0;
  /** @internal */ wsOffered = false;
  /** @internal */ tsOffered = false;
  /** @internal */ tsOk = false;
  /** @internal TS.Recent */ tsRecent = 0;
  /** @internal */ tsRecentAge = 0;
  /** @internal */ tsOffset = 0;
  /** @internal Last.ACK.sent */ lastAckSent = 0;
  /** @internal we send SACK-permitted on our SYN / SYN-ACK (RFC 2018 §2) */ sackOffered = false;
  /** @internal both SYNs carried SACK-permitted: our ACKs carry SACK blocks (RFC 2018 §3) */ sackOk = false;
  /**
   * @internal RecoveryHost: RFC 5682 F-RTO (its SACK-enhanced algorithm, §3, as Linux's default
   * tcp_frto=2) judges a timeout when SACK is on and timestamps are off; with timestamps RFC 3522
   * Eifel detection does (recovery.ts onAckAfterRto).
   */
  get frtoOk(): boolean { return this.sackOk && !this.tsOk; }
  /** @internal the SACK and D-SACK blocks our ACKs carry (RFC 2018 §4, RFC 2883 §4) */
  readonly sackReport = new SackReport();
  /** @internal payload bytes per full segment we send (peer MSS, path MTU, minus TS option) */ sndMss = 536;
  /**
   * @internal most payload bytes one emit may carry: sndMss, or k*sndMss when the IP layer
   * offloads segmentation (a super-segment the link cuts into sndMss pieces; k so that the
   * datagram stays within 65535 bytes with the IP and TCP headers)
   */
  sndBurst = 536;
  /** @internal the MSS we advertise */ advMss = 536;
  /** @internal the peer's MSS option (or 536) */ peerMss = 536;
  /** @internal largest segment payload received (for "full-sized" in RFC 1122 §4.2.3.2) */ rcvMssSeen = 536;

  // --- Buffers ---
  /** @internal */ readonly sendBuf: RingBuffer;
  /** @internal */ readonly recvBuf: RingBuffer;
  // Receive-buffer autotuning (Linux's Dynamic Right-Sizing: tcp_rcv_space_adjust, tcp_rcv_rtt_*).
  /** @internal the largest the receive buffer may grow to (receiveBufferMax) */ readonly rcvBufMax: number;
  /** @internal bytes the application read in the last measured round trip (Linux rcvq_space.space); 0 before the first read */ rcvSpace = 0;
  /** @internal bytesRead when the current measurement began (rcvq_space.seq) */ private rcvSpaceRead = 0;
  /** @internal when the current measurement began (rcvq_space.time) */ private rcvSpaceTime = 0;
  /** @internal rcvSpace is a measurement, not the initial window's guess (see rcvSpaceAdjust) */ private rcvSpaceMeasured = false;
  /** @internal the receiver's RTT estimate in ms (Linux rcv_rtt_est), from the TSecr of arriving data; 0 before a sample */ rcvRtt = 0;
  /** @internal the TSecr of the last RTT sample: one sample per echoed value */ private rcvRttEcr = -1;
  /** @internal capacity granted above the initial size, given back to the layer's budget at CLOSED */ private rcvGrown = 0;
  // Send-buffer autotuning (Linux's tcp_sndbuf_expand, from tcp_new_space).
  /** @internal the largest the send buffer may grow to (sendBufferMax) */ readonly sndBufMax: number;
  /** @internal send capacity granted above the initial size, given back to the layer's budget at TIME-WAIT or CLOSED */ private sndGrown = 0;
  /** @internal an ACK freed send-buffer space for a writer that found it full: consider growing it once the ACK's sending is done */ private sndSpaceFreed = false;
  // Congestion-window validation (RFC 7661 §4.2's rule as Linux's tcp_cwnd_validate keeps it):
  // the window grows on an ACK only when the sender used it.
  /** @internal the last window's sending filled cwnd (Linux tp->is_cwnd_limited) */ cwndLimitedFlag = false;
  /** @internal the most bytes outstanding in the window since cwndUsageSeq (Linux max_packets_out, in bytes) */ maxFlightOut = 0;
  /** @internal the window measured ends when SND.UNA reaches this (Linux cwnd_usage_seq); undefined before the first send */ private cwndUsageSeq: number | undefined = undefined;
  /** @internal */ readonly asm: Assembler;
  /** @internal the user shut down the sending side: FIN queued at finSeq */ finQueued = false;
  /** @internal */ finSeq = 0;
  /** @internal sequence number of an out-of-order FIN */ rcvFinSeq: number | undefined = undefined;
  private remoteFin = false;
  /** @internal close() was called: the user reads nothing more */ userClosed = false;
  private wantWritable = false;

  // --- Timers (deadlines, ms; Infinity when unarmed) ---
  /** @internal */ rtxAt = Infinity;
  /** @internal */ delackAt = Infinity;
  /** @internal */ persistAt = Infinity;
  /**
   * @internal persist (RFC 9293 §3.8.6.1): zero-window probes sent in this episode, the
   * exponent of the probe interval (RTO * 2^n, at most rtoMax). Its own backoff, as Linux's
   * icsk_backoff for ICSK_TIME_PROBE0: the RTO is never doubled by probes. Cleared when
   * the window opens (Linux tcp_ack_probe).
   */
  persistBackoff = 0;
  /**
   * @internal zero-window probes sent since the last ACK arrived (Linux icsk_probes_out):
   * a peer that answers is probed forever (RFC 1122 §4.2.2.17); maxRetries unanswered
   * probes time the connection out (Linux: tcp_retries2).
   */
  persistProbes = 0;
  /** @internal */ keepaliveAt = Infinity;
  /** @internal */ timeWaitAt = Infinity;
  /** @internal */ finWait2At = Infinity;

  // --- RTT estimation (RFC 6298) ---
  /** @internal 0 until the first sample */ srtt = 0;
  /** @internal */ rttvar = 0;
  /** @internal */ rto: number;
  private rttActive = false;
  private rttSeq = 0;
  private rttStart = 0;
  /** @internal consecutive timeouts of the current segment */ retries = 0;
  private synRetransmitted = false;
  /** @internal */ readonly cc: CongestionControl;
  // --- Fast retransmit / NewReno (RFC 5681 §3.2, RFC 6582) ---
  /** @internal */ dupAcks = 0;
  /** @internal the scoreboard (RFC 6675 §3): the peer's SACKed ranges within (SND.UNA, SND.MAX], at most SB_MAX */
  readonly scoreboard = new Scoreboard(SB_MAX);
  /**
   * @internal loss recovery (RFC 6582, RFC 6675 §5, RFC 8985 glue, RFC 3708/3522 undo):
   * inRecovery, "recover", HighRxt... (recovery.ts)
   */
  readonly recovery: LossRecovery;
  /**
   * @internal RACK-TLP (RFC 8985): the sent log and RACK's state; created at the first
   * data sent on a connection that negotiated SACK (with the layer's `rack` option).
   */
  rack: Rack | undefined = undefined;
  /** @internal RACK's reordering timer (RFC 8985 §6.3) */ rackAt = Infinity;
  /** @internal the tail loss probe timer (RFC 8985 §7.2) */ tlpAt = Infinity;
  /**
   * @internal sender pacing (pacing.ts, Linux's internal pacing): the departure-time clock
   * and rate; undefined when the connection does not pace (the layer's or its own `pacing`).
   */
  readonly pacer: Pacer | undefined;
  /** @internal the pacing timer (Linux's tcp_pace_kick): data waits for its departure time */ paceAt = Infinity;

  // --- ECN (RFC 3168 §6.1) ---
  /** @internal our SYN asked for ECN (ECE|CWR) */ ecnOffered = false;
  /** @internal both ends agreed on ECN: new data goes out ECT(0) */ ecnOk = false;
  /** @internal a CE mark arrived: every segment carries ECE until the peer's CWR (§6.1.3) */ ecnEcho = false;
  /** @internal the window was reduced: the next new data segment carries CWR (§6.1.2) */ cwrPending = false;
  /** @internal an ECE reduces the window only once SND.UNA passes this (once per window, §6.1.2) */ ecnRecover = 0;
  /** @internal the persist timer is sending (SWS override): never ECT, as a window probe (§6.1.6) */ private probing = false;

  // --- ACK generation ---
  /** @internal */ ackNow = false;
  private fullSegsUnacked = 0;
  /**
   * The ACK waiting (delayed) covers a "pushed" segment: 1 after a full-sized segment with PSH
   * or a small one, 2 after a second small one (Linux's ICSK_ACK_PUSHED / ICSK_ACK_PUSHED2, set
   * in tcp_measure_rcv_mss). A read that empties the receive buffer then sends it at once (see
   * `read`, Linux's tcp_cleanup_rbuf). Cleared with every ACK sent.
   */
  private ackPushed = 0;
  /**
   * Interactive (Linux's pingpong mode, inet_csk_in_pingpong_mode): we sent data within a
   * delayed-ACK interval of receiving some (tcp_event_data_sent), so our ACKs ride on our
   * replies and a read does not ACK a pushed segment alone; left when the delayed-ACK timer
   * fires (tcp_delack_timer_handler).
   */
  private pingpong = false;
  /** When in-order data last arrived (Linux's icsk_ack.lrcvtime). */
  private lastDataAt = -Infinity;

  // --- Options of this connection ---
  private noDelay: boolean;
  private keepAlive: boolean;
  private keepIdle: number;
  private keepProbes = 0;
  private lastRecvAt = 0;
  private lastSendAt = 0;
  private challengeWindowStart = -Infinity;
  private challengeCount = 0;
  /** When the last duplicate ACK answering a PAWS-rejected pure ACK left (Linux's last_oow_ack_time). */
  private pawsAckAt = -Infinity;
  /** @internal last soft error (ICMP), reported if the connection times out */ softError: TcpError | undefined = undefined;
  private _error: TcpError | undefined = undefined;
  private closedNotified = false;

  private readonly s = {
    bytesWritten: 0, bytesSent: 0, bytesRetransmitted: 0, bytesReceived: 0, bytesRead: 0,
    segmentsIn: 0, segmentsOut: 0, retransmits: 0, sackRecoveries: 0, sackRetransmits: 0, tlpProbes: 0,
    windowProbes: 0,
  };

  private readonly cfg: ResolvedConfig;

  /** Created by the layer only (not tagged internal: a stripped constructor would read as a public one without arguments). */
  constructor(
    private readonly layer: TcpHost<TcpConnection>,
    localAddress: IpAddress,
    localPort: number,
    remoteAddress: IpAddress,
    remotePort: number,
    options: TcpConnectionOptions,
    handler: TcpHandler | undefined,
  ) {
    this.localAddress = localAddress;
    this.localPort = localPort;
    this.remoteAddress = remoteAddress;
    this.remotePort = remotePort;
    this.handler = handler ?? NOOP_HANDLER;
    const cfg = this.cfg = layer.config;
    // RFC 6437 §3: one label for the connection's life, from its 4-tuple and the stack's key.
    this.flowLabel = typeof remoteAddress === 'string' ? flowLabel(cfg.isnKey, localAddress, localPort, remoteAddress, remotePort) : 0;
    this.sendBuf = new RingBuffer(options.sendBufferSize ?? cfg.sendBufferSize, 64, cfg.memory);
    // As Linux: a per-socket size (SO_SNDBUF) is not autotuned unless a maximum is given too.
    this.sndBufMax = Math.max(this.sendBuf.capacity,
      options.sendBufferMax ?? (options.sendBufferSize !== undefined ? 0 : cfg.sendBufferMax));
    this.recvBuf = new RingBuffer(options.receiveBufferSize ?? cfg.receiveBufferSize, 64, cfg.memory);
    // As Linux: a per-socket size (SO_RCVBUF) is not autotuned unless a maximum is given too.
    this.rcvBufMax = Math.max(this.recvBuf.capacity,
      options.receiveBufferMax ?? (options.receiveBufferSize !== undefined ? 0 : cfg.receiveBufferMax));
    this.asm = new Assembler(cfg.maxOutOfOrderRanges);
    this.noDelay = options.noDelay ?? false;
    this.keepAlive = options.keepAlive ?? false;
    this.keepIdle = options.keepAliveInitialDelay !== undefined && options.keepAliveInitialDelay > 0 ? options.keepAliveInitialDelay : cfg.keepAliveIdle;
    this.rto = cfg.rtoInitial;
    // RFC 9293 §3.7.1: the MSS we can receive, from the MTU of the interface towards the
    // peer (loopback: 65535, as Linux's lo gives 65483 with options).
    this.advMss = Math.max(cfg.minMss, layer.mssForMtu(layer.interfaceMtu(remoteAddress), remoteAddress));
    this.cc = cfg.congestionControl(this.sndMss, options.congestionControl);
    this.recovery = new LossRecovery(this, this.scoreboard, layer.counters, this.s);
    this.pacer = (options.pacing ?? cfg.pacing) ? new Pacer(cfg.pacingSsRatio, cfg.pacingCaRatio) : undefined;
    // RFC 7323 §2.3: the smallest shift whose scaled 16-bit window covers the largest buffer
    // autotuning may grow to (Linux picks it from tcp_rmem[2] the same way).
    let shift = 0;
    while (shift < 14 && this.rcvBufMax >>> shift > 0xffff) shift++;
    this.rcvShift = shift;
  }

  // ================================================================== getters

  get state(): TcpState { return this._state; }
  /** Bytes sent and not yet acknowledged (sequence space, SYN/FIN included). */
  get bytesInFlight(): number { return seqDiff(this.sndMax, this.sndUna); }
  /** Bytes waiting in the send buffer (unsent + unacknowledged). */
  get writableLength(): number { return this.sendBuf.length; }
  /** Free space in the send buffer: what `write` would accept now. */
  get writableSpace(): number { return this.canWrite() ? this.sendBuf.free : 0; }
  /** Bytes ready for `read`. */
  get readableLength(): number { return this.recvBuf.length; }
  /** The peer's FIN has been received (and everything before it). */
  get remoteFinReceived(): boolean { return this.remoteFin; }
  /** The error that closed the connection, if any. */
  get error(): TcpError | undefined { return this._error; }
  get noDelayEnabled(): boolean { return this.noDelay; }
  get keepAliveEnabled(): boolean { return this.keepAlive; }
  get stats(): TcpConnectionStats {
    return {
      ...this.s,
      srtt: this.srtt, rttvar: this.rttvar, rto: this.rto,
      cwnd: this.cc.cwnd, ssthresh: this.cc.ssthresh,
      sndMss: this.sndMss, sndWnd: this.sndWnd, rcvWnd: Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt)),
      sndWndShift: this.sndShift, rcvWndShift: this.rcvShift, timestamps: this.tsOk,
    };
  }

  // ================================================================== user calls (RFC 9293 §3.10.1-6)

  /**
   * SEND (§3.10.2): copies as much of `data` as fits into the send buffer and
   * returns the count (0 when full; `onWritable` follows when space frees up).
   * Throws EPIPE after shutdown/close or once the connection is closed.
   */
  write(data: Uint8Array, now: number): number {
    if (!(data instanceof Uint8Array)) throw usageError('ERR_INVALID_ARG_TYPE', 'data must be a Uint8Array');
    if (!this.canWrite()) throw usageError('EPIPE', `write after end (state ${this._state})`);
    this.layer.enter();
    try {
      const n = this.sendBuf.write(data);
      this.s.bytesWritten += n;
      if (n < data.length) this.wantWritable = true;
      if (n > 0) this.output(now);
      return n;
    } finally {
      this.layer.exit(this);
    }
  }

  /**
   * SEND in place, first half: a view of up to `max` bytes of free send-buffer storage to
   * fill (a socket read straight into it: no copy of the data into the buffer), empty when
   * nothing may be written now (the buffer is full, or sending was shut down). Then
   * `commitWrite` with the view and the count filled; nothing else may write to the
   * connection in between (its bytes would land in the same storage).
   */
  writeSpace(max: number): Uint8Array {
    if (!this.canWrite()) return NO_SPACE;
    return this.sendBuf.tailSpace(max);
  }

  /** Bytes the send buffer may still take now (what `write` would take at most). */
  get sendFree(): number {
    return this.canWrite() ? this.sendBuf.free : 0;
  }

  /**
   * Asks for EV_WRITABLE (onWritable) at the next ACK that frees send-buffer space, as a
   * `write` the buffer could not take all of does: a writer in place (writeSpace) that
   * found too little room waits for it so.
   */
  wantSpace(): void {
    this.wantWritable = true;
  }

  /**
   * SEND in place, second half: the first `n` bytes of `space` (from `writeSpace`) join the
   * send buffer as `write` would have taken them, and go out as the window allows. If the
   * view is no longer the buffer's free tail (its storage was released: a connection torn
   * down meanwhile), they are handed to `write` instead (which takes what it can, or throws
   * EPIPE as it would). Returns the bytes taken.
   */
  commitWrite(space: Uint8Array, n: number, now: number): number {
    if (!this.canWrite() || !this.sendBuf.commitTail(space, n)) return this.write(space.subarray(0, n), now);
    this.layer.enter();
    try {
      this.s.bytesWritten += n;
      this.output(now);
      return n;
    } finally {
      this.layer.exit(this);
    }
  }

  /**
   * RECEIVE (§3.10.3): moves up to `into.length` buffered bytes into `into` and
   * returns the count (0 when nothing is buffered). Taking bytes opens the window
   * and may send a window update (RFC 1122 §4.2.3.3).
   */
  read(into: Uint8Array, now: number): number {
    this.layer.enter();
    try {
      const n = this.recvBuf.read(into);
      if (n === 0) return 0;
      this.s.bytesRead += n;
      if (this.rcvBufMax > this.recvBuf.capacity) this.rcvSpaceAdjust(now);
      if (this._state === 'TIME-WAIT') this.recvBuf.release();
      if (this.isSynchronized() && this._state !== 'TIME-WAIT' && !this.remoteFin) {
        // Linux's tcp_cleanup_rbuf: a waiting ACK that covers a pushed segment goes now when
        // this read took everything received (unless interactive and pushed once only: the
        // reply will carry it). RFC 1122 §4.2.3.2 leaves the delay to the receiver ("SHOULD
        // implement a delayed ACK", never "must delay"); a sender that ended a write with PSH
        // and waits on its window gets the ACK a round trip sooner than the next segment or
        // the timer would give it.
        if (this.ackPushed > 0 && this.delackAt !== Infinity && this.recvBuf.length === 0 && (this.ackPushed === 2 || !this.pingpong)) {
          this.ackNow = true;
        }
        // Send a window update when the window would at least double and grow by a
        // segment (receiver SWS avoidance, RFC 1122 §4.2.3.3; Linux's rule).
        const cur = Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt));
        const next = this.windowToAdvertise();
        if (next >= 2 * cur && next - cur >= Math.min(this.recvBuf.capacity / 2, this.advMss)) this.ackNow = true;
        if (this.ackNow) this.output(now);
      }
      return n;
    } finally {
      this.layer.exit(this);
    }
  }

  /** CLOSE of the sending side only (half-close): FIN after all queued data (§3.10.4). */
  shutdown(now: number): void {
    this.layer.enter();
    try {
      this.doShutdown(now);
    } finally {
      this.layer.exit(this);
    }
  }

  /**
   * CLOSE (§3.10.4): shutdown plus "the user reads nothing more". Unread data, or
   * data arriving afterwards, aborts with RST (RFC 1122 §4.2.2.13). In SYN-SENT the
   * connection is simply deleted. A closed connection lingers in FIN-WAIT-2 at most
   * finWait2Timeout.
   */
  close(now: number): void {
    this.layer.enter();
    try {
      if (this._state === 'CLOSED' || this.userClosed) return;
      this.userClosed = true;
      if (this._state === 'SYN-SENT') { this.setState('CLOSED', now); return; }
      if (this.recvBuf.length > 0) { this.doAbort(now, undefined); return; }
      this.doShutdown(now);
      if (this._state === 'FIN-WAIT-2') this.finWait2At = now + this.cfg.finWait2Timeout;
    } finally {
      this.layer.exit(this);
    }
  }

  /** ABORT (§3.10.5): sends RST in synchronized states and closes at once. `onClosed` gets no error. */
  abort(now: number): void {
    this.layer.enter();
    try {
      this.doAbort(now, undefined);
    } finally {
      this.layer.exit(this);
    }
  }

  /** Nagle's algorithm off (true) or on (false). */
  setNoDelay(noDelay = true): void {
    this.noDelay = noDelay;
  }

  /** Keepalive on/off; `initialDelayMs` > 0 sets the idle time before the first probe. */
  setKeepAlive(enable: boolean, initialDelayMs: number, now: number): void {
    this.keepAlive = enable;
    if (initialDelayMs > 0) this.keepIdle = initialDelayMs;
    this.lastRecvAt = now;
    this.keepProbes = 0;
    this.layer.enter();
    try {
      this.armKeepalive();
    } finally {
      this.layer.exit(this);
    }
  }

  // ================================================================== state

  /** @internal */
  isSynchronized(): boolean {
    const s = this._state;
    return s !== 'CLOSED' && s !== 'LISTEN' && s !== 'SYN-SENT' && s !== 'SYN-RECEIVED';
  }

  private canWrite(): boolean {
    const s = this._state;
    return !this.finQueued && (s === 'SYN-SENT' || s === 'SYN-RECEIVED' || s === 'ESTABLISHED' || s === 'CLOSE-WAIT');
  }

  /** Our FIN may be (re)sent in these states (it is queued and the state says we closed). */
  private finSendable(): boolean {
    const s = this._state;
    return this.finQueued && (s === 'FIN-WAIT-1' || s === 'CLOSING' || s === 'LAST-ACK');
  }

  /** The one choke point for state changes (smoltcp `set_state`). */
  setState(next: TcpState, now: number): void {
    const prev = this._state;
    if (prev === next) return;
    this._state = next;
    this.layer.onStateChange(this, prev, next);
    switch (next) {
      case 'ESTABLISHED':
        this.lastRecvAt = now;
        this.armKeepalive();
        if (this.listener === undefined) this.raise(EV_ESTABLISHED);
        // A shutdown requested during the handshake takes effect now (§3.10.4).
        if (this.finQueued) this.setState('FIN-WAIT-1', now);
        break;
      case 'CLOSE-WAIT':
        this.armKeepalive();
        break;
      case 'FIN-WAIT-2':
        if (this.userClosed) this.finWait2At = now + this.cfg.finWait2Timeout;
        break;
      case 'TIME-WAIT':
        // RFC 9293 §3.10.7.4: stay 2 MSL, then delete the TCB.
        this.rtxAt = this.persistAt = this.keepaliveAt = this.finWait2At = this.delackAt = this.rackAt = this.tlpAt = this.paceAt = Infinity;
        this.timeWaitAt = now + 2 * this.cfg.msl;
        this.rack = undefined;
        // No data moves in TIME-WAIT: all we sent is acknowledged; what was received
        // and not yet read stays until read (see read()).
        this.sendBuf.clear();
        this.recvBuf.dispose(); // given back once the user has read what is left
        this.giveBackSndGrowth();
        this.notifyClosed(undefined);
        if (this.layer.timeWaitCount > this.cfg.maxTimeWait) {
          // Linux tcp_time_wait beyond tcp_max_tw_buckets ("time wait bucket table overflow"):
          // no TIME-WAIT, the TCB goes now. The peer's FIN is acknowledged first, as Linux's
          // tcp_fin does before tcp_time_wait; RFC 9293 §3.10.7.4's 2 MSL is given up for
          // this one connection (timestamps and the ISS clock still guard the next one).
          this.layer.counters.TimeWaitOverflows++;
          if (this.ackNow) this.sendAck(now);
          this.setState('CLOSED', now);
        }
        break;
      case 'CLOSED':
        this.rtxAt = this.persistAt = this.keepaliveAt = this.finWait2At = this.delackAt = this.timeWaitAt = Infinity;
        this.rackAt = this.tlpAt = this.paceAt = Infinity;
        this.rack = undefined;
        // The storage goes back to the layer's account: unsent data is void, received
        // data once the user has read it.
        this.sendBuf.clear();
        this.recvBuf.dispose();
        // The window autotuning promised goes back to the layer's budget.
        this.cfg.memory.grown -= this.rcvGrown;
        this.rcvGrown = 0;
        this.giveBackSndGrowth();
        this.notifyClosed(this._error);
        this.layer.detach(this);
        break;
      default:
        break;
    }
    if (next !== 'ESTABLISHED' && next !== 'CLOSE-WAIT') this.keepaliveAt = Infinity;
  }

  private notifyClosed(error: TcpError | undefined): void {
    if (this.closedNotified) return;
    this.closedNotified = true;
    if (error !== undefined) this._error = error;
    this.raise(EV_CLOSED);
  }

  /** @internal */
  raise(ev: number): void {
    this.events |= ev;
    this.layer.queueEvents(this);
  }

  /** @internal delivers pending events to the handler (called by the layer, outside processing) */
  deliverEvents(): void {
    const ev = this.events;
    this.events = 0;
    const h = this.handler;
    if (ev & EV_ESTABLISHED) h.onEstablished?.(this);
    if (ev & EV_READABLE && this.recvBuf.length > 0) h.onReadable?.(this);
    if (ev & EV_REMOTE_FIN) h.onRemoteFin?.(this);
    if (ev & EV_WRITABLE) h.onWritable?.(this);
    if (ev & EV_CLOSED) {
      if (this._error !== undefined) h.onClosed?.(this, this._error);
      else h.onClosed?.(this);
    }
  }

  /** @internal raises the events a freshly accepted connection's handler has missed. */
  replayForAccept(): void {
    this.events = 0;
    if (this.recvBuf.length > 0) this.raise(EV_READABLE);
    if (this.remoteFin) this.raise(EV_REMOTE_FIN);
  }

  /** Closes with `error` (reset, refused, timeout). */
  private fail(error: TcpError | undefined, now: number): void {
    if (error !== undefined) this._error = error;
    this.setState('CLOSED', now);
  }

  private doShutdown(now: number): void {
    if (this.finQueued) return;
    const s = this._state;
    if (s === 'CLOSED' || s === 'TIME-WAIT' || s === 'CLOSING' || s === 'LAST-ACK' || s === 'FIN-WAIT-1' || s === 'FIN-WAIT-2') return;
    this.finQueued = true;
    this.finSeq = seqAdd(this.dataStartSeq(), this.sendBuf.length);
    if (s === 'ESTABLISHED') this.setState('FIN-WAIT-1', now);
    else if (s === 'CLOSE-WAIT') this.setState('LAST-ACK', now);
    // SYN-SENT / SYN-RECEIVED: queued until ESTABLISHED (see setState).
    this.output(now);
  }

  private doAbort(now: number, error: TcpError | undefined): void {
    const s = this._state;
    if (s === 'CLOSED') return;
    // §3.10.5: RST in SYN-RECEIVED, ESTABLISHED, FIN-WAIT-*, CLOSE-WAIT; not in SYN-SENT, CLOSING, LAST-ACK, TIME-WAIT.
    if (s === 'SYN-RECEIVED' || s === 'ESTABLISHED' || s === 'FIN-WAIT-1' || s === 'FIN-WAIT-2' || s === 'CLOSE-WAIT') {
      this.sendRst(this.sndMax, now); // the peer's RCV.NXT is at most SND.MAX (RFC 5961 §3 exact match)
    }
    this.fail(error, now);
  }

  // ================================================================== segment arrival

  /** @internal SEGMENT ARRIVES, SYN-SENT (§3.10.7.3). */
  private inputSynSent(seg: TcpRepr, now: number): void {
    const f = seg.flags;
    let ackOk = false;
    // first: check the ACK bit
    if (f & ACK) {
      // §3.10.7.3: SEG.ACK =< ISS or SEG.ACK > SND.NXT is unacceptable: RST (unless RST).
      if (seqLe(seg.ack, this.iss) || seqGt(seg.ack, this.sndMax)) {
        if (!(f & RST)) this.sendRstFor(seg.ack);
        this.layer.counters.dropped.BadAck++;
        return;
      }
      ackOk = true;
    }
    // second: the RST bit (RFC 5961 §3.2: acceptable only if it acknowledges our SYN)
    if (f & RST) {
      if (ackOk) {
        this.layer.counters.AttemptFails++;
        this.fail(new TcpError('ECONNREFUSED', 'connection refused'), now);
      }
      return;
    }
    // fourth: the SYN bit
    if (!(f & SYN)) return;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.rcvAdv = this.rcvNxt;
    this.negotiateOptions(seg, now);
    this.lastRecvAt = now;
    if (ackOk) {
      // RFC 3168 §6.1.1: an ECN-setup SYN-ACK (ECE without CWR) answers our ECN-setup SYN.
      if (this.ecnOffered && (seg.flags & (ECE | CWR)) === ECE) {
        this.ecnOk = true;
        this.layer.counters.EcnNegotiated++;
      }
      this.sndUna = seg.ack;
      if (seqLt(this.sndNxt, this.sndUna)) this.sndNxt = this.sndUna;
      // RFC 9293 §3.10.7.4 fifth (window): the SYN-ACK's window is never scaled (RFC 7323 §2.2).
      this.updateWindow(seg.window, seg.seq, seg.ack, true);
      this.rttOnAck(seg, now);
      this.onHandshakeAcked(now);
      this.rtxAt = seqLt(this.sndUna, this.sndMax) ? now + this.rto : Infinity; // RFC 6298 §5.2
      this.setState('ESTABLISHED', now);
      this.ackNow = true;
    } else {
      // Simultaneous open (§3.10.7.3, Figure 8): SYN-RECEIVED, send SYN,ACK with the same ISS.
      this.sndWnd = seg.window;
      this.sndWl1 = seg.seq;
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
      this.setState('SYN-RECEIVED', now);
      this.sndNxt = this.iss;
      this.rtxAt = Infinity;
    }
    this.output(now);
  }

  /** @internal handshake-time option negotiation from the peer's SYN (or SYN-ACK). */
  negotiateOptions(seg: TcpRepr, now: number): void {
    const o = seg.options;
    // RFC 7323 §1.3: window scaling only when both sides sent the option.
    if (this.wsOffered && o.windowScale !== undefined) {
      this.sndShift = Math.min(14, o.windowScale); // RFC 7323 §2.3: clamp to 14
    } else {
      this.wsOffered = false;
      this.sndShift = 0;
      this.rcvShift = 0;
    }
    // RFC 7323 §3.2: timestamps only when both sides sent TSopt on the SYNs.
    if (this.tsOffered && o.timestamp !== undefined) {
      this.tsOk = true;
      this.tsRecent = o.timestamp.tsVal;
      this.tsRecentAge = now;
    } else {
      this.tsOk = false;
    }
    // RFC 2018 §2: SACK only when both SYNs carried SACK-permitted.
    this.sackOk = this.sackOffered && o.sackPermitted === true;
    if (!this.sackOk) this.sackOffered = false;
    // RFC 9293 §3.7.1: 536 when the option is absent; RFC 6691: options come out of the MSS.
    this.peerMss = o.mss ?? 536;
    this.updateSndMss();
  }

  /** @internal */
  updateSndMss(pathMtu = this.layer.pathMtu(this.remoteAddress)): void {
    const mss = Math.max(this.cfg.minMss, Math.min(this.peerMss, this.layer.mssForMtu(pathMtu, this.remoteAddress)));
    const eff = mss - (this.tsOk ? 12 : 0);
    if (eff !== this.sndMss) {
      this.sndMss = eff;
      this.cc.setMss(eff);
    }
    this.updateSndBurst();
  }

  /**
   * @internal With segmentation offload one emit may carry several MSS: as many whole
   * sndMss pieces as fit in the largest transport length the IP layer takes
   * (`maxSegmentPayload`, 65515 with TSO) after the TCP header with its options.
   * The pieces still respect the peer's MSS and the path MTU: sndMss is derived from both.
   */
  updateSndBurst(): void {
    const max = this.layer.maxSegmentPayload(this.remoteAddress);
    const room = max - 20 - (this.tsOk ? 12 : 0);
    this.sndBurst = room >= 2 * this.sndMss ? Math.floor(room / this.sndMss) * this.sndMss : this.sndMss;
  }

  /** @internal the SYN was acknowledged (either side). */
  private onHandshakeAcked(_now: number): void {
    // RFC 6298 §5.7: a retransmitted SYN re-initializes RTO to 3 s for the data phase
    // (unless a valid RTT sample arrived, which Karn's rule forbids after a retransmission).
    if (this.synRetransmitted && this.srtt === 0) this.rto = Math.max(this.rto, 3000);
    if (this.synRetransmitted) this.cc.onSynLoss();
    this.retries = 0;
  }

  /**
   * @internal SEGMENT ARRIVES in SYN-RECEIVED and all synchronized states (§3.10.7.4).
   * `seg` is the layer's reused record: valid only during this call. `ecn` is the ECN
   * field of the IP header it came in (RFC 3168 §5: 3 is CE).
   */
  input(seg: TcpRepr, now: number, ecn: number): void {
    this.s.segmentsIn++;
    const st = this.layer.counters;
    if (this._state === 'SYN-SENT') { this.inputSynSent(seg, now); return; }
    if (this._state === 'CLOSED' || this._state === 'LISTEN') return;
    let flags = seg.flags;
    let seq = seg.seq;
    let payload = seg.payload;
    const ts = seg.options.timestamp;

    // SYN-RECEIVED: a repeated SYN (seq = IRS) is a retransmitted SYN, or the peer's
    // SYN-ACK in a simultaneous open. The former is answered with our SYN-ACK again;
    // in the latter the SYN is old and only its ACK is processed.
    if (this._state === 'SYN-RECEIVED' && flags & SYN && !(flags & RST) && seq === this.irs) {
      if (!(flags & ACK)) {
        this.sndNxt = this.iss;
        this.output(now);
        return;
      }
      flags &= ~SYN;
      seq = seqAdd(seq, 1);
    }

    // RFC 7323 §5.3 PAWS (R1): a segment whose TSval is older than TS.Recent is a
    // duplicate from an earlier incarnation of the sequence space: ACK and drop.
    // Deliberate deviation from R1 (which drops every such segment), as Linux's
    // tcp_disordered_ack: a reordered pure duplicate ACK is let through, without a
    // window update and without touching TS.Recent (see isDisorderedAck).
    let disordered = false;
    if (this.tsOk && ts !== undefined && !(flags & RST)) {
      const older = seqLt(ts.tsVal, this.tsRecent) && now - this.tsRecentAge <= PAWS_IDLE_MS;
      if (older) disordered = this.isDisorderedAck(seg, flags, seq, payload.length, ts.tsVal);
      if (older && !disordered) {
        st.PawsDrops++;
        this.noteDuplicate(seq, payload.length);
        // RFC 7323 §5.3 R1 says "send an acknowledgment in reply"; for a segment without data
        // (nor SYN) Linux answers at most once per tcp_invalid_ratelimit (500 ms) per connection
        // (tcp_oow_rate_limited, against ACK loops). The common case is an older cumulative ACK
        // (SEG.ACK < SND.UNA) the network reordered behind a newer one: measured in
        // `bench --impaired` (d), a Linux receiver's ACKs failed PAWS ~700 times in 8 MiB, all of
        // them such ACKs, and each drew a useless duplicate ACK. Data is always answered (D-SACK).
        if (payload.length === 0 && !(flags & SYN)) {
          if (now - this.pawsAckAt < PAWS_ACK_INTERVAL_MS) { st.PawsAcksSuppressed++; return; }
          this.pawsAckAt = now;
        }
        this.sendAck(now);
        return;
      }
    }

    // first: sequence number check (§3.10.7.4 acceptability table).
    const segLen = payload.length + (flags & SYN ? 1 : 0) + (flags & FIN ? 1 : 0);
    const wnd = Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt));
    if (!this.acceptable(seq, segLen, wnd)) {
      st.dropped.OutOfWindow++;
      if (flags & SYN) {
        // RFC 5961 §4 / §3.10.7.4: a SYN, whatever its sequence number, gets a (rate-limited) challenge ACK.
        this.challengeAck(now);
      } else if (!(flags & RST)) {
        // §3.10.7.4: an unacceptable segment is answered with an ACK (unless RST).
        this.noteDuplicate(seq, payload.length);
        this.sendAck(now);
        // A retransmitted FIN in TIME-WAIT restarts the 2 MSL timeout.
        if (this._state === 'TIME-WAIT' && flags & FIN) this.timeWaitAt = now + 2 * this.cfg.msl;
      }
      return;
    }
    this.lastRecvAt = now;
    this.keepProbes = 0;

    // RFC 7323 §4.3: TS.Recent <- SEG.TSval when SEG.SEQ =< Last.ACK.sent.
    if (this.tsOk && ts !== undefined && seqGe(ts.tsVal, this.tsRecent) && seqLe(seq, this.lastAckSent)) {
      this.tsRecent = ts.tsVal;
      this.tsRecentAge = now;
    }

    // second: the RST bit (RFC 5961 §3.2).
    if (flags & RST) {
      if (seq !== this.rcvNxt) {
        // In window but not exact: challenge ACK.
        this.challengeAck(now);
        return;
      }
      st.RstsReceived++;
      switch (this._state) {
        case 'SYN-RECEIVED':
          if (this.listener !== undefined) { this.setState('CLOSED', now); return; } // back to LISTEN
          st.AttemptFails++;
          this.fail(new TcpError('ECONNREFUSED', 'connection refused'), now);
          return;
        case 'ESTABLISHED': case 'FIN-WAIT-1': case 'FIN-WAIT-2': case 'CLOSE-WAIT':
          this.fail(new TcpError('ECONNRESET', 'connection reset by peer'), now);
          return;
        default: // CLOSING, LAST-ACK, TIME-WAIT
          this.setState('CLOSED', now);
          return;
      }
    }

    // fourth: the SYN bit.
    if (flags & SYN) {
      if (this._state === 'SYN-RECEIVED' && this.listener !== undefined) {
        // §3.10.7.4: passive open returns to LISTEN.
        this.setState('CLOSED', now);
        return;
      }
      // RFC 5961 §4: a SYN in a synchronized state gets a challenge ACK, nothing else.
      this.challengeAck(now);
      return;
    }

    // fifth: the ACK field.
    if (!(flags & ACK)) { st.dropped.NoAck++; return; }
    const ack = seg.ack;
    if (this._state === 'SYN-RECEIVED') {
      // §3.10.7.4: SND.UNA < SEG.ACK =< SND.NXT moves to ESTABLISHED, else RST.
      if (!(seqLt(this.sndUna, ack) && seqLe(ack, this.sndMax))) {
        this.sendRstFor(ack);
        st.dropped.BadAck++;
        return;
      }
      const l = this.listener;
      if (l !== undefined && l.acceptQueueFull()) {
        // Accept queue full: drop the ACK and stay in SYN-RECEIVED (Linux behaviour);
        // the SYN-ACK retransmission gives the application time to accept.
        st.ListenOverflows++;
        return;
      }
      this.sndUna = ack;
      this.sndWnd = seg.window << this.sndShift;
      this.sndWl1 = seq;
      this.sndWl2 = ack;
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
      this.rttOnAck(seg, now);
      this.onHandshakeAcked(now);
      this.rtxAt = seqLt(this.sndUna, this.sndMax) ? now + this.rto : Infinity;
      this.setState('ESTABLISHED', now);
      if ((this._state as TcpState) === 'CLOSED') return;
    } else {
      // RFC 5961 §5.2: acceptable iff (SND.UNA - MAX.SND.WND) =< SEG.ACK =< SND.NXT.
      if (seqGt(ack, this.sndMax)) {
        st.dropped.AckUnsent++;
        this.challengeAck(now);
        return;
      }
      if (seqLt(ack, (this.sndUna - this.maxSndWnd) >>> 0)) {
        st.dropped.AckTooOld++;
        this.challengeAck(now);
        return;
      }
      const oldWnd = this.sndWnd;
      // RFC 6675 §5: the scoreboard is updated from every acceptable ACK's SACK blocks.
      const sb = seg.options.sackBlocks;
      let dsack = false;
      // RFC 6675 §2: with SACK blocks, an ACK is a duplicate only if it SACKs new data (an ACK
      // carrying just a D-SACK, or blocks already known, says nothing about a new arrival).
      let sackNews = true;
      // RFC 6937 DeliveredData = change in SND.UNA + change in SACKed octets (for PRR, below).
      const una0 = this.sndUna;
      const sacked0 = this.scoreboard.count > 0 ? this.scoreboard.sackedBytes() : 0;
      // RFC 5682 F-RTO: what the timeout had not resent, before this ACK (recovery.ts).
      const frtoOrig = this.recovery.frtoOriginals();
      const lost0 = st.RackLostBytes;
      if (this.sackOk && sb !== undefined && sb.length > 0) {
        dsack = isDsack(sb, ack);
        if (dsack) st.DsacksReceived++;
        sackNews = this.scoreboard.update(sb, ack, this.sndUna, this.sndMax);
      }
      const flightBefore = seqDiff(this.sndMax, this.sndUna);
      const rack = this.rack;
      // RFC 8985 §6.2 steps 1-3: what this ACK delivered, cumulatively or selectively.
      if (rack !== undefined) rack.onAck(ack, sb, now, this.echoTime(seg, now), this.recovery.inRtoEpisode());
      let dupAck = false;
      if (seqGt(ack, this.sndUna)) {
        this.onNewAck(seg, ack, now, frtoOrig);
      } else {
        if (ack === this.sndUna && payload.length === 0 && !(flags & (SYN | FIN)) &&
          seqLt(this.sndUna, this.sndMax) && (seg.window << this.sndShift) === oldWnd && oldWnd !== 0) {
          // RFC 5681 §2 duplicate ACK (RFC 6675 §2 with SACK).
          dupAck = true;
          if (sackNews) this.onDupAck(now);
        }
        // RFC 5682 §3.1 steps 2-3 on an ACK that does not move SND.UNA.
        if (this.recovery.frto !== 0) this.recovery.frtoOnAck(frtoOrig, (dupAck || (sb !== undefined && sb.length > 0)) && sackNews);
      }
      if (this.ecnOk && flags & ECE) this.onEce();
      if (rack !== undefined && this.rack !== undefined) {
        this.recovery.rackOnAck(rack, ack, dsack ? sb![0] : undefined, dupAck && (sb === undefined || sb.length === 0), flightBefore, now);
      }
      if (this.recovery.sackRecovery) {
        // RFC 6937 §3.1: PRR's sndcnt for this ACK (the recovery may have begun on it).
        const delivered = seqDiff(this.sndUna, una0) + (this.scoreboard.count > 0 ? this.scoreboard.sackedBytes() : 0) - sacked0;
        this.recovery.prrOnAck(delivered, seqGt(this.sndUna, una0) && st.RackLostBytes === lost0);
      }
      // §3.10.7.4 fifth: update the send window if the segment is not older than the last update
      // (never from a reordered ACK that PAWS let through: Linux does not either).
      if (!disordered) this.updateWindow(seg.window, seq, ack, false);
      // RFC 1122 §4.2.2.17: a responsive zero window is not a dead peer: an ACK restarts the
      // count of unanswered probes. A window that opened ends the episode and its backoff
      // (Linux tcp_ack_probe): output() below sends from SND.NXT = SND.UNA at once, or arms
      // the SWS override timer afresh at RTO for a window smaller than an MSS.
      this.persistProbes = 0;
      if (this.sndWnd === 0) this.retries = 0;
      else if (this.persistBackoff > 0) { this.persistBackoff = 0; this.persistAt = Infinity; }
      if (this._state === 'FIN-WAIT-1' && this.finAcked()) this.setState('FIN-WAIT-2', now);
      else if (this._state === 'CLOSING' && this.finAcked()) { this.setState('TIME-WAIT', now); return; }
      else if (this._state === 'LAST-ACK' && this.finAcked()) { this.setState('CLOSED', now); return; }
    }

    // sixth: URG is not supported (RFC 6093 recommends against it); urgent data is ordinary data.

    // RFC 3168 §6.1.3: CWR ends the echo; CE on in-window data (re)starts it (ECE on every
    // segment from now on; the first one is ACKed at once so the sender learns it in one RTT).
    if (this.ecnOk) {
      if (flags & CWR) { this.ecnEcho = false; st.EcnCwrReceived++; }
      if (ecn === 3 && payload.length > 0) {
        st.EcnCeReceived++;
        if (!this.ecnEcho) this.ackNow = true;
        this.ecnEcho = true;
      }
    }

    // seventh: segment text (ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2).
    const st2 = this._state;
    const textOk = st2 === 'ESTABLISHED' || st2 === 'FIN-WAIT-1' || st2 === 'FIN-WAIT-2';
    const finSeqNo = seqAdd(seq, payload.length);
    let finInWindow = (flags & FIN) !== 0;
    if (textOk && payload.length > 0) {
      // Trim what we already have (§3.10.7.4 "straddle") and what exceeds the buffer.
      let start = seq;
      const behind = seqDiff(this.rcvNxt, start);
      if (behind > 0) {
        // RFC 2883 §4 (as Linux): the part below RCV.NXT is reported as a D-SACK.
        if (this.sackOk) this.sackReport.setDsack(start, seqAdd(start, Math.min(behind, payload.length)));
        payload = payload.subarray(Math.min(behind, payload.length));
        start = this.rcvNxt;
      }
      const off = seqDiff(start, this.rcvNxt);
      const room = this.recvBuf.free - off;
      if (payload.length > room) {
        payload = payload.subarray(0, Math.max(0, room));
        finInWindow = false;
      }
      if (payload.length > 0 && this.userClosed) {
        // RFC 1122 §4.2.2.13 / RFC 9293 §3.10.4: nobody will read this: reset.
        this.doAbort(now, undefined);
        return;
      }
      if (payload.length > 0 && ts !== undefined && this.tsOk) this.rcvRttSample(ts.tsEcr, payload.length, now);
      if (payload.length > 0) this.receiveText(payload, off, (flags & PSH) !== 0, now);
      else if (behind > 0) this.ackNow = true; // pure duplicate data: ACK at once (RFC 5681 §4.2)
    }

    // eighth: the FIN bit.
    if (finInWindow) {
      if (st2 === 'CLOSE-WAIT' || st2 === 'CLOSING' || st2 === 'LAST-ACK' || st2 === 'TIME-WAIT') {
        // A retransmitted FIN: acknowledge again; in TIME-WAIT restart the 2 MSL timeout.
        this.ackNow = true;
        if (st2 === 'TIME-WAIT') this.timeWaitAt = now + 2 * this.cfg.msl;
      } else if (textOk && !this.remoteFin) {
        if (seqGt(finSeqNo, this.rcvNxt)) {
          // FIN past a hole: remembered until the hole fills.
          this.rcvFinSeq = finSeqNo;
          this.ackNow = true;
        } else if (finSeqNo === this.rcvNxt) {
          this.receiveFin(now);
        }
      }
    }
    if (this.rcvFinSeq !== undefined && this.rcvNxt === this.rcvFinSeq) this.receiveFin(now);
    this.output(now);
    this.recovery.holdRetransmits = false;
    if (this.sndSpaceFreed) { this.sndSpaceFreed = false; this.sndBufExpand(); }
  }

  /**
   * Send-buffer autotuning, as Linux's tcp_new_space / tcp_should_expand_sndbuf /
   * tcp_sndbuf_expand: after an ACK freed space for a writer that found the buffer full, and
   * after that ACK's sending, if the congestion window is not full (what limited the
   * connection was the buffer, or the peer's window, not cwnd), the buffer grows to twice the
   * congestion window in segments (at least the initial window's, and the reordering degree +
   * 1; Linux's factor 2 covers fast recovery, in which SND.UNA stands still while data after
   * it keeps going out: "Cubic needs 1.7", rounded up), up to `sndBufMax` (tcp_wmem[2]).
   * Linux counts each segment's memory (about 3x its payload without GSO), this counts payload.
   * Never shrinks. Not done while buffer storage is at maxBufferMemory (Linux: not under
   * tcp_mem pressure), and bounded by the layer's sendBufferBudget over all connections. The
   * storage itself still grows lazily as the application writes.
   */
  private sndBufExpand(): void {
    const cap = this.sendBuf.capacity;
    const max = this.sndBufMax;
    if (max <= cap || !this.isSynchronized()) return;
    const m = this.cfg.memory;
    if (m.used >= m.limit) return;
    // tcp_should_expand_sndbuf: "If we filled the congestion window, do not expand."
    if (this.cwndRoom() < this.sndMss) return;
    const mss = this.sndMss;
    // nr_segs = max(TCP_INIT_CWND, cwnd, reordering + 1), with Linux's initial tp->reordering of 3.
    const segs = Math.max(Math.ceil(this.cc.cwnd / mss), Math.ceil(initialWindow(mss) / mss), 4);
    const want = Math.min(2 * segs * mss, max);
    if (want <= cap) return;
    const grant = Math.min(want - cap, Math.max(0, m.sndGrowLimit - m.sndGrown));
    if (grant <= 0) return;
    this.sendBuf.grow(cap + grant);
    m.sndGrown += grant;
    this.sndGrown += grant;
    this.layer.counters.SndBufGrowths++;
  }

  /**
   * Linux's tcp_is_cwnd_limited (RFC 7661 §4.2: no growth while the window is not used): the
   * last window's sending was limited by cwnd; or, in slow start, cwnd is below twice the most
   * that was outstanding in it (so slow start still doubles what the sender really sent, one
   * RTT behind: Linux's "ensure cwnd grows to twice what was ACKed").
   */
  private isCwndLimited(): boolean {
    if (this.cwndLimitedFlag) return true;
    const cc = this.cc;
    return cc.cwnd < cc.ssthresh && cc.cwnd < 2 * this.maxFlightOut;
  }

  /**
   * Linux's tcp_cwnd_validate, after each round of sending: a window (SND.UNA reaching the
   * SND.MAX of the window's start) that was cwnd-limited at any point counts as such; else the
   * most outstanding in it is kept. `limited`: what is in flight fills cwnd now.
   */
  private cwndValidate(limited: boolean): void {
    const out = seqDiff(this.sndMax, this.sndUna);
    const u = this.cwndUsageSeq;
    if (u === undefined || seqGe(this.sndUna, u) || limited || (!this.cwndLimitedFlag && out > this.maxFlightOut)) {
      this.cwndLimitedFlag = limited;
      this.maxFlightOut = out;
      this.cwndUsageSeq = this.sndMax;
    }
  }

  /** What the congestion window allows to send now beyond what is in flight (negative: over it). */
  private cwndRoom(): number {
    const r = this.recovery;
    if (r.sackRecovery) return r.sendBudget();
    return this.cc.cwnd - this.windowFlight();
  }

  /**
   * What counts against cwnd outside SACK recovery: SND.NXT - SND.UNA, except while going
   * back N after a timeout (SND.UNA below "recover", not in a fast recovery) with a
   * scoreboard kept across it (LossRecovery.onRto): then what the peer SACKed below SND.NXT
   * is not in flight, and what lies above SND.NXT unSACKed counts as lost, as Linux's
   * tcp_packets_in_flight in the loss state (packets_out - sacked_out - lost_out +
   * retrans_out, every unSACKed segment marked lost by tcp_timeout_mark_lost) and RFC 6675
   * §4 SetPipe: only the holes resent since the timeout are in flight.
   */
  private windowFlight(): number {
    const r = this.recovery;
    // (recover <= SND.MAX too: a "recover" left 2^31 octets behind by a long clean transfer
    // would pass seqLt again.)
    if (this.scoreboard.count > 0 && !r.inRecovery && seqLt(this.sndUna, r.recover) && seqLe(r.recover, this.sndMax)) {
      return this.scoreboard.unsackedIn(this.sndUna, this.sndNxt);
    }
    return seqDiff(this.sndNxt, this.sndUna);
  }

  /** The send-buffer capacity autotuning granted goes back to the layer's budget (no more data to send). */
  private giveBackSndGrowth(): void {
    this.cfg.memory.sndGrown -= this.sndGrown;
    this.sndGrown = 0;
  }

  /**
   * Linux's tcp_disordered_ack: a segment failing PAWS is still accepted when it is
   * (1) a pure ACK (ACK only, no data, SYN or FIN) with SEG.SEQ = RCV.NXT, (2) a duplicate
   * ACK (SEG.ACK = SND.UNA), (3) not a window update by Linux's tcp_may_update_window
   * (SEG.ACK not past SND.UNA, SEG.SEQ not past SND.WL1, and at SND.WL1 neither a larger
   * nor a zero window), and (4) TS.Recent - SEG.TSval within the replay window of one RTO
   * (Linux's tcp_tsval_replay; the peer's TS clock is taken as ~1 ms a tick).
   * Such a segment can change nothing but the duplicate-ACK count: it is an ACK that
   * the network reordered behind a later one, not an old duplicate from an earlier
   * incarnation of the sequence space (what RFC 7323 §5.3 R1 guards against).
   */
  private isDisorderedAck(seg: TcpRepr, flags: number, seq: number, len: number, tsVal: number): boolean {
    if (!(flags & ACK) || flags & (SYN | FIN | RST) || len !== 0) return false;
    if (seq !== this.rcvNxt || seg.ack !== this.sndUna) return false;
    const nwin = seg.window << this.sndShift;
    if (seqGt(seq, this.sndWl1) || (seq === this.sndWl1 && (nwin > this.sndWnd || nwin === 0))) return false;
    return seqDiff(this.tsRecent, tsVal) <= this.rto;
  }

  /** §3.10.7.4 acceptability table. */
  private acceptable(seq: number, len: number, wnd: number): boolean {
    const rn = this.rcvNxt;
    if (len === 0) {
      if (wnd === 0) return seq === rn;
      return seqLe(rn, seq) && seqLt(seq, seqAdd(rn, wnd));
    }
    if (wnd === 0) return false;
    const end = seqAdd(rn, wnd);
    const last = seqAdd(seq, len - 1);
    return (seqLe(rn, seq) && seqLt(seq, end)) || (seqLe(rn, last) && seqLt(last, end));
  }

  /** Places in-window text at offset `off` from RCV.NXT (reassembly of out-of-order segments). */
  private receiveText(data: Uint8Array, off: number, psh: boolean, now: number): void {
    const st = this.layer.counters;
    if (off === 0) {
      const hadHoles = !this.asm.isEmpty;
      const n = this.recvBuf.write(data);
      this.asm.advance(n);
      let total = n;
      // Data held out of order that is now contiguous joins the readable bytes.
      const more = this.asm.frontContiguous();
      if (more > 0) {
        this.recvBuf.commit(more);
        this.asm.advance(more);
        total += more;
      }
      this.rcvNxt = seqAdd(this.rcvNxt, total);
      this.s.bytesReceived += total;
      if (data.length > this.rcvMssSeen) this.rcvMssSeen = Math.min(data.length, this.advMss);
      // A super-segment (GSO from the local kernel) counts as the full-sized segments it holds,
      // so it is ACKed at once like the pieces it stands for (RFC 1122 §4.2.3.2).
      if (data.length >= this.rcvMssSeen) this.fullSegsUnacked += Math.floor(data.length / this.rcvMssSeen);
      if (hadHoles) this.ackNow = true; // RFC 5681 §4.2: filling a hole is ACKed at once
      if (this.asm.isEmpty) this.sackReport.clearBlocks();
      if (this.fullSegsUnacked >= 2) this.ackNow = true; // RFC 1122 §4.2.3.2: every second full-sized segment
      if (!this.ackNow && this.delackAt === Infinity) this.delackAt = now + this.cfg.delayedAckMs;
      // Linux's tcp_measure_rcv_mss: a full-sized segment with PSH (the end of a sender's write:
      // it may be waiting for this ACK, cwnd- or buffer-bound) or a small segment marks the
      // waiting ACK "pushed"; a second small one "pushed twice". `read` then ACKs at once
      // once the application has taken everything (tcp_cleanup_rbuf), not at the next segment
      // or the delayed-ACK timer. Deliberately not for the connection's first data (Linux
      // quick-ACKs that instead): a new connection's first request is usually answered at
      // once, and its reply carries the ACK (one packet less per request/response connection).
      const first = this.lastDataAt === -Infinity;
      this.lastDataAt = now;
      if (!this.ackNow && !first) {
        if (data.length < this.rcvMssSeen) this.ackPushed = this.ackPushed > 0 ? 2 : 1;
        else if (psh && this.ackPushed === 0) this.ackPushed = 1;
      }
      this.raise(EV_READABLE);
    } else {
      // Out of order: keep it if the assembler has room, and send a duplicate ACK at once (RFC 5681 §4.2).
      // RFC 2883 §4: data already held out of order is a duplicate: D-SACK it (the
      // block holding it follows as the second block, see SackReport).
      if (this.sackOk && this.asm.covers(off, off + data.length)) this.sackReport.setDsack(seqAdd(this.rcvNxt, off), seqAdd(this.rcvNxt, off + data.length));
      if (this.asm.add(off, off + data.length)) {
        this.recvBuf.writeAt(off, data);
        if (this.sackOk) this.sackReport.noteBlock(seqAdd(this.rcvNxt, off), this.asm, this.rcvNxt);
      } else {
        st.dropped.ReassemblyFull++;
      }
      st.OutOfOrder++;
      this.ackNow = true;
    }
  }

  private receiveFin(now: number): void {
    if (this.remoteFin) return;
    this.rcvFinSeq = undefined;
    this.remoteFin = true;
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.ackNow = true; // §3.10.7.4 eighth: ACK the FIN
    this.raise(EV_REMOTE_FIN);
    switch (this._state) {
      case 'SYN-RECEIVED': case 'ESTABLISHED':
        this.setState('CLOSE-WAIT', now);
        break;
      case 'FIN-WAIT-1':
        // Our FIN acked too (it was processed above) would have moved us to FIN-WAIT-2.
        this.setState('CLOSING', now);
        break;
      case 'FIN-WAIT-2':
        this.setState('TIME-WAIT', now);
        break;
      default:
        break;
    }
  }

  private finAcked(): boolean {
    return this.finQueued && seqGt(this.sndUna, this.finSeq);
  }

  /** First sequence number of the send buffer (data starts after the SYN). */
  private dataStartSeq(): number {
    return this.sndUna === this.iss && !this.isSynchronizedOrAcked() ? seqAdd(this.iss, 1) : this.sndUna;
  }

  private isSynchronizedOrAcked(): boolean {
    return seqGt(this.sndUna, this.iss);
  }

  /** §3.10.7.4 fifth: SND.WND update guarded by SND.WL1/WL2. */
  private updateWindow(window: number, seq: number, ack: number, syn: boolean): void {
    if (syn || seqLt(this.sndWl1, seq) || (this.sndWl1 === seq && seqLe(this.sndWl2, ack))) {
      this.sndWnd = syn ? window : window << this.sndShift;
      this.sndWl1 = seq;
      this.sndWl2 = ack;
      if (this.sndWnd > this.maxSndWnd) this.maxSndWnd = this.sndWnd;
    }
  }

  /** SND.UNA < SEG.ACK =< SND.MAX: new data acknowledged. */
  private onNewAck(seg: TcpRepr, ack: number, now: number, frtoOrig = 0): void {
    const dataStart = this.dataStartSeq();
    const dataAcked = Math.max(0, Math.min(seqDiff(ack, dataStart), this.sendBuf.length));
    const flight = seqDiff(this.sndNxt, this.sndUna);
    const wasLoss = this.recovery.inLossState();
    this.sendBuf.discard(dataAcked);
    this.sndUna = ack;
    if (this.scoreboard.count > 0) this.scoreboard.prune(ack);
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    this.rttOnAck(seg, now);
    this.retries = 0;
    // RFC 6582 §3.2 steps 4-5, RFC 6675 §5 (A)-(C), RFC 3708/3522 undo: recovery.ts.
    if (this.recovery.inRecovery) this.recovery.onAckInRecovery(ack, dataAcked, this.echoedTs(seg), now);
    else {
      // After a timeout: Eifel detection may undo it (recovery.ts onAckAfterRto), before growth.
      this.recovery.onAckAfterRto(wasLoss, this.echoedTs(seg), frtoOrig);
      this.cc.onAck(dataAcked, flight, now, this.isCwndLimited());
    }
    this.dupAcks = 0;
    // RFC 6298 §5.2/§5.3: stop the timer when all is acknowledged, else restart it.
    if (this.sndUna === this.sndMax) this.rtxAt = Infinity;
    else if (!this.recovery.inRecovery || this.rtxAt === Infinity) this.rtxAt = now + this.rto;
    if (this.rack !== undefined) this.armTlp(now);
    if (dataAcked > 0 && this.wantWritable) {
      this.wantWritable = false;
      // Linux's tcp_check_space: the queue shrank under a writer that found it full (SOCK_NOSPACE):
      // tcp_new_space may grow the buffer, once this ACK's sending is done (see input()).
      if (this.sndBufMax > this.sendBuf.capacity) this.sndSpaceFreed = true;
      this.raise(EV_WRITABLE);
    }
  }

  /** RFC 5681 §3.2 / RFC 6582 §3.2 steps 2-3 (recovery entry: recovery.ts). */
  private onDupAck(now: number): void {
    this.dupAcks++;
    this.layer.counters.DupAcks++;
    this.recovery.onDupAck(this.dupAcks, now);
  }

  /**
   * Go-back-N after a timeout with SACK information (RFC 6675 §5.1: use the SACK
   * information that arrives during the recovery following an RTO): moves SND.NXT past
   * SACKed data and returns how many octets from there precede the next SACKed range.
   */
  private sackSkip(): number {
    this.sndNxt = this.scoreboard.holeStart(this.sndNxt);
    const next = this.scoreboard.nextSacked(this.sndNxt);
    return next < 0 ? Infinity : seqDiff(next, this.sndNxt);
  }

  // ------------------------------------------------------------------ RACK-TLP (RFC 8985)

  /**
   * The send time an ACK's timestamp echoes (RFC 8985 §6.2 step 2 compares it with a
   * retransmission's send time), with one tick of slack for the 1 ms TS clock; +Infinity
   * without timestamps (the check is then skipped).
   */
  private echoTime(seg: TcpRepr, now: number): number {
    const ts = seg.options.timestamp;
    if (!this.tsOk || ts === undefined || ts.tsEcr === 0) return Infinity;
    return now - seqDiff(this.tsNow(now), ts.tsEcr) + 1;
  }

  /** The ACK's echoed timestamp for RFC 3522 Eifel detection (recovery.ts); 0 without one. */
  private echoedTs(seg: TcpRepr): number {
    const ts = seg.options.timestamp;
    return this.tsOk && ts !== undefined ? ts.tsEcr : 0;
  }

  /**
   * RFC 8985 §7.2: (re)start the probe timeout after new data was sent or new data was
   * acknowledged, unless in recovery (fast or after a timeout), with SACKed data
   * outstanding, with a probe outstanding, or with nothing in flight.
   */
  private armTlp(now: number): void {
    const rack = this.rack!;
    const s = this._state;
    if (this.recovery.inRecovery || !seqGe(this.sndUna, this.recovery.recover) || this.scoreboard.count > 0 || rack.tlpActive ||
      !seqLt(this.sndUna, this.sndMax) || this.sndWnd === 0 || (s !== 'ESTABLISHED' && s !== 'CLOSE-WAIT' && s !== 'FIN-WAIT-1' && s !== 'CLOSING' && s !== 'LAST-ACK')) {
      this.tlpAt = Infinity;
      return;
    }
    let pto = Rack.pto(this.srtt, seqDiff(this.sndMax, this.sndUna) <= this.sndMss, WC_DEL_ACK_MS);
    const rtoLeft = this.rtxAt - now;
    if (pto > rtoLeft) pto = rtoLeft > 0 ? rtoLeft : 0;
    this.tlpAt = now + pto;
  }

  /** RFC 8985 §7.3: the probe timeout expired: send one segment of new data, or resend the last one. */
  private onTlp(now: number): void {
    const rack = this.rack;
    if (rack === undefined || !this.isSynchronized() || !seqLt(this.sndUna, this.sndMax) || this.recovery.inRecovery) return;
    const dataStart = this.dataStartSeq();
    const dataEnd = seqAdd(dataStart, this.sendBuf.length);
    const flight = seqDiff(this.sndMax, this.sndUna);
    const unsent = seqDiff(dataEnd, this.sndNxt);
    const room = this.sndWnd - flight;
    let retrans = false;
    if (this.sndNxt === this.sndMax && unsent > 0 && room > 0) {
      // New data, one SMSS at most, within the receive window (cwnd does not apply).
      const used = this.transmitAt(this.sndNxt, Math.min(unsent, this.sndMss, room), now);
      if (used === 0) return;
      this.sndNxt = this.sndMax = seqAdd(this.sndNxt, used);
    } else {
      // The highest-sequence segment sent: the last SMSS of data (with the FIN, if sent).
      const dataSent = Math.max(0, seqDiff(seqGt(this.sndMax, dataEnd) ? dataEnd : this.sndMax, this.sndUna));
      const len = Math.min(this.sndMss, dataSent);
      const seq = seqAdd(seqGt(this.sndMax, dataEnd) ? dataEnd : this.sndMax, -len);
      if (this.transmitAt(seq, len, now) === 0) return;
      retrans = true;
    }
    rack.onProbeSent(this.sndMax, retrans);
    this.layer.counters.TlpProbes++;
    this.s.tlpProbes++;
    this.rtxAt = now + this.rto; // §7.3: the RTO timer is armed after the probe
  }

  /** RFC 6298 §2/§3 and RFC 7323 §4 (RTTM). */
  private rttOnAck(seg: TcpRepr, now: number): void {
    let sample = -1;
    const ts = seg.options.timestamp;
    if (this.tsOk && ts !== undefined && ts.tsEcr !== 0) {
      // RFC 7323 §4.1: RTT from the echoed timestamp (valid even for retransmissions).
      const d = seqDiff(this.tsNow(now), ts.tsEcr);
      if (d >= 0) sample = d;
    } else if (this.rttActive && seqGe(seg.ack, this.rttSeq)) {
      sample = now - this.rttStart; // Karn: rttActive is cleared on any retransmission
    }
    if (seqGe(seg.ack, this.rttSeq)) this.rttActive = false;
    if (sample < 0) return;
    // A 0 ms timestamp sample says "under one tick", not 0: RACK's min_RTT would freeze its
    // reordering window at 0. RACK also takes RTTs from its own send times (rack.ts).
    if (sample > 0) this.rack?.onRttSample(sample);
    this.cc.onRttSample?.(sample, now);
    const cfg = this.cfg;
    if (this.srtt === 0) {
      // RFC 6298 §2.2: first measurement.
      this.srtt = Math.max(sample, 0.001);
      this.rttvar = sample / 2;
    } else {
      // RFC 6298 §2.3: beta = 1/4, alpha = 1/8.
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - sample);
      this.srtt = 0.875 * this.srtt + 0.125 * sample;
    }
    // RFC 6298 §2.4: RTO = SRTT + max(G, K*RTTVAR), clamped to [rtoMin, rtoMax] (§2.4, §2.5).
    this.rto = Math.min(cfg.rtoMax, Math.max(cfg.rtoMin, this.srtt + Math.max(cfg.clockGranularity, 4 * this.rttvar)));
  }

  /** @internal our TSval clock: 1 ms ticks plus a per-connection offset (RFC 7323 §5.4). */
  tsNow(now: number): number {
    // RFC 7323 §5.4: the TSval clock must be monotonic, or the peer's PAWS check
    // (§5.3) discards our segments. Callers may pass a slightly older `now` (a batch
    // read the clock once at its start), so never go below the last value sent.
    const ts = (Math.floor(now) + this.tsOffset) >>> 0;
    if (this.tsStarted && ((ts - this.lastTsVal) | 0) < 0) return this.lastTsVal;
    this.tsStarted = true;
    this.lastTsVal = ts;
    return ts;
  }
  /** @internal the last TSval handed out (see tsNow) */
  lastTsVal = 0;
  /** @internal */
  tsStarted = false;

  /** RFC 5961 §7: challenge ACKs, at most `challengeAckLimit` per second per connection. */
  private challengeAck(now: number): void {
    const st = this.layer.counters;
    if (now - this.challengeWindowStart >= 1000) {
      this.challengeWindowStart = now;
      this.challengeCount = 0;
    }
    if (this.challengeCount >= this.cfg.challengeAckLimit) { st.ChallengeAcksSuppressed++; return; }
    this.challengeCount++;
    st.ChallengeAcks++;
    this.sendAck(now);
  }

  // ================================================================== output

  /**
   * The receiver's RTT (Linux's tcp_rcv_rtt_measure_ts): a full-sized data segment echoes the
   * TSval of the ACK that released it, so now minus that TSval is a round trip as the receiver
   * sees it. One sample per echoed value; smoothed with gain 1/8 (tcp_rcv_rtt_update).
   */
  private rcvRttSample(tsEcr: number, len: number, now: number): void {
    if (this.rcvBufMax <= this.recvBuf.capacity || tsEcr === 0 || tsEcr === this.rcvRttEcr || len < Math.min(this.advMss, 536)) return;
    this.rcvRttEcr = tsEcr;
    const d = seqDiff(this.tsNow(now), tsEcr);
    if (d < 0 || d > 60_000) return; // not an echo of ours (or from before a wrap)
    const sample = Math.max(d, 1);
    this.rcvRtt = this.rcvRtt === 0 ? sample : this.rcvRtt + (sample - this.rcvRtt) / 8;
  }

  /**
   * Receive-buffer autotuning, Linux's Dynamic Right-Sizing (tcp_rcv_space_adjust; RFC 7323 §6
   * allows the large windows, §2.3 the scale): once per receiver RTT, if the application read
   * more than in the last one (`copied`), the buffer, and so the window, grows to
   * 2 * copied + 16 * MSS (2x to ride out a loss without the window limiting the sender), plus
   * twice the relative growth again to keep up with a sender in slow start, up to
   * `rcvBufMax`. Never shrinks. Only reads grow it: an application that does not read keeps
   * today's buffer. Bounded by the layer's budget (receiveBufferBudget) and not done at all while
   * buffer storage is at maxBufferMemory (Linux does not grow under tcp_mem pressure).
   */
  private rcvSpaceAdjust(now: number): void {
    const bytesRead = this.s.bytesRead;
    if (this.rcvSpace === 0) {
      // The first read starts the first measurement, from an initial window's worth as Linux's
      // tcp_init_buffer_space (rcvq_space.space = min(rcv_wnd, TCP_INIT_CWND * advmss)): a
      // sender in slow start doubles what arrives each RTT from its initial window on, and the
      // window must stay ahead of it. (It started from half the 256 KiB buffer: growth only once
      // 128 KiB arrived in one RTT, by when the next RTT's 256 KiB already met the window: a
      // Linux CUBIC sender at 50 ms RTT was window-limited at 300-550 segments of cwnd, sent the
      // backlog in a burst when the window opened, and its HyStart left slow start on the delay
      // that burst made in the bottleneck queue (bench --impaired (c) up, tcp_probe traces).)
      // Unlike Linux, the first measurement that beats this guess grows by 2 * copied + 16 MSS
      // only, without the slow-start term: our 256 KiB start (Linux's is 128 KiB) covers a slow
      // start's first rounds, and a reader that takes a steady 32 KiB per RTT keeps today's
      // buffer instead of being taken for a sender doubling from 10 segments.
      this.rcvSpace = Math.max(this.advMss, Math.min(this.recvBuf.capacity, 10 * this.advMss));
      this.rcvSpaceRead = 0;
      this.rcvSpaceTime = now;
      return;
    }
    const rtt = this.rcvRtt > 0 ? this.rcvRtt : this.srtt;
    if (rtt <= 0 || now - this.rcvSpaceTime < rtt) return;
    const copied = bytesRead - this.rcvSpaceRead;
    if (copied > this.rcvSpace) {
      let win = 2 * copied + 16 * this.advMss;
      if (this.rcvSpaceMeasured) win += 2 * Math.floor(win * (copied - this.rcvSpace) / this.rcvSpace);
      this.rcvSpaceMeasured = true;
      const cap = this.recvBuf.capacity;
      const m = this.cfg.memory;
      if (win > cap && m.used < m.limit) {
        const grant = Math.min(Math.min(win, this.rcvBufMax) - cap, Math.max(0, m.growLimit - m.grown));
        if (grant > 0) {
          this.recvBuf.grow(cap + grant);
          m.grown += grant;
          this.rcvGrown += grant;
          this.layer.counters.RcvBufGrowths++;
        }
      }
      this.rcvSpace = copied;
    }
    this.rcvSpaceRead = bytesRead;
    this.rcvSpaceTime = now;
  }

  /** The window to advertise, with receiver SWS avoidance (RFC 1122 §4.2.3.3). */
  private windowToAdvertise(): number {
    const free = this.recvBuf.free;
    const cur = Math.max(0, seqDiff(this.rcvAdv, this.rcvNxt));
    // Move the right edge only by at least min(buffer/2, MSS); never move it left (RFC 9293 §3.8.6.2.2).
    const wnd = free - cur >= Math.min(this.recvBuf.capacity / 2, this.advMss) ? free : cur;
    return Math.min(wnd, 0xffff << this.rcvShift);
  }

  /** @internal fills the window field for a segment about to leave and records the advertised edge. */
  windowField(syn: boolean): number {
    if (syn) {
      // RFC 7323 §2.2: the window in a SYN is never scaled.
      const w = Math.min(this.recvBuf.free, 0xffff);
      if (seqGt(seqAdd(this.rcvNxt, w), this.rcvAdv)) this.rcvAdv = seqAdd(this.rcvNxt, w);
      return w;
    }
    const field = this.windowToAdvertise() >>> this.rcvShift;
    const edge = seqAdd(this.rcvNxt, field << this.rcvShift);
    if (seqGt(edge, this.rcvAdv)) this.rcvAdv = edge;
    return field;
  }

  /** RFC 2883: a segment wholly below RCV.NXT (already received) is reported in a D-SACK. */
  private noteDuplicate(seq: number, len: number): void {
    if (this.sackOk && len > 0 && seqLe(seqAdd(seq, len), this.rcvNxt)) this.sackReport.setDsack(seq, seqAdd(seq, len));
  }

  /**
   * @internal Fills `out` with up to `max` SACK blocks for the ACK being sent (RFC 2018 §4, sack-report.ts):
   * a pending D-SACK first (RFC 2883), then the block holding the most recently received
   * out-of-order segment, then the most recently reported other blocks, then any other
   * held blocks. Returns the count. Allocation-free: `out` is the preallocated `TX_SACK`.
   * This is the receiver side; the peer's blocks feed the sender's scoreboard (RFC 6675, scoreboard.ts).
   */
  fillSackBlocks(out: readonly SackBlock[], max: number): number {
    return this.sackReport.fill(out, max, this.asm, this.rcvNxt);
  }

  /** @internal called by `transmit` for every segment carrying ACK */
  onAckSent(): void {
    this.sackReport.onAckSent();
    this.lastAckSent = this.rcvNxt;
    this.ackNow = false;
    this.delackAt = Infinity;
    this.fullSegsUnacked = 0;
    this.ackPushed = 0;
  }

  /**
   * A bare ACK carries SEG.SEQ = the highest sequence number sent (SND.MAX):
   * SND.NXT is rewound by go-back-N retransmission, and a peer that already
   * received up to SND.MAX would find SND.NXT outside its window and ignore
   * the ACK field (§3.10.7.4) -- a deadlock when both sides rewound.
   * But never beyond the peer's window end (SND.UNA + SND.WND): after a peer
   * shrank its window to zero, SND.MAX lies beyond the window, and an ACK
   * there is unacceptable to the peer (§3.10.7.4), so the peer would never see
   * its own data acknowledged. Linux does the same (tcp_acceptable_seq).
   */
  private sendAck(now: number): void {
    const wndEnd = seqAdd(this.sndUna, this.sndWnd);
    this.transmit(seqGt(this.sndMax, wndEnd) ? wndEnd : this.sndMax, ACK, 0, 0, now);
  }

  private sendRst(seq: number, now: number): void {
    this.transmit(seq, RST | ACK, 0, 0, now);
  }

  /**
   * Builds one segment whole and hands it to the host: `len` bytes from the send buffer
   * at `dataOff`, the window field, timestamps, SACK blocks and the ECN marks.
   */
  private transmit(seq: number, flags: number, dataOff: number, len: number, now: number): void {
    this.s.segmentsOut++;
    // Linux's tcp_event_data_sent: data sent within a delayed-ACK interval of receiving some
    // is a reply: the connection is interactive (pingpong) until the delayed-ACK timer fires.
    if (len > 0 && now - this.lastDataAt < this.cfg.delayedAckMs) this.pingpong = true;
    let ecn = NOT_ECT;
    if (this.ecnOk && !(flags & (SYN | RST))) {
      // RFC 3168 §6.1.3: ECE on every segment while a CE mark waits for the peer's CWR.
      if (this.ecnEcho) flags |= ECE;
      // §6.1.4-§6.1.6: only new data is ECT: not pure ACKs, retransmissions, or window probes.
      if (len > 0 && seqGe(seq, this.sndMax) && !this.probing) {
        ecn = ECT0;
        if (this.cwrPending) {
          // §6.1.2: CWR on the first new data segment after a window reduction.
          flags |= CWR;
          this.cwrPending = false;
          this.layer.counters.EcnCwrSent++;
        }
      }
    }
    const out = TX;
    const r = out.repr;
    const o = r.options;
    const syn = (flags & SYN) !== 0;
    const rst = (flags & RST) !== 0;
    r.srcPort = this.localPort;
    r.dstPort = this.remotePort;
    r.seq = seq;
    r.ack = flags & ACK ? this.rcvNxt : 0;
    r.flags = flags;
    r.urgent = 0;
    r.window = rst ? 0 : this.windowField(syn);
    clearTcpOptions(o);
    if (syn) {
      o.mss = this.advMss;
      if (this.wsOffered) o.windowScale = this.rcvShift;
      if (this.sackOffered) o.sackPermitted = true; // RFC 2018 §2
      if (this.tsOffered) {
        TX_TS.tsVal = this.tsNow(now);
        TX_TS.tsEcr = flags & ACK ? this.tsRecent : 0;
        o.timestamp = TX_TS;
      }
    } else if (this.tsOk && !rst) {
      // RFC 7323 §3.2: TSopt in every non-RST segment once negotiated.
      TX_TS.tsVal = this.tsNow(now);
      TX_TS.tsEcr = this.tsRecent;
      o.timestamp = TX_TS;
    }
    if (this.sackOk && flags & ACK && !syn && !rst) {
      // RFC 2018 §3: at most 40 option bytes: 3 blocks with timestamps (12 + 2 + 2 + 8*3 = 40),
      // 4 without (2 + 2 + 8*4 = 36). sndMss leaves room for the TS option only, so on a data
      // segment the blocks must fit in what the payload leaves of the MSS (never on a
      // super-segment: each piece would carry them). Pure ACKs always have room.
      const max = o.timestamp !== undefined ? 3 : 4;
      const fit = len === 0 ? max : len > this.sndMss ? 0 : Math.min(max, Math.floor((this.sndMss - len - 4) / 8));
      const n = fit > 0 ? this.fillSackBlocks(TX_SACK, fit) : 0;
      if (n > 0) o.sackBlocks = TX_SACK_VIEWS[n - 1];
    }
    if (flags & ACK && !rst) this.onAckSent();
    out.payload = this.sendBuf;
    out.dataOff = dataOff;
    out.dataLen = len;
    out.ecn = ecn;
    out.offload = true;
    out.gsoMss = this.sndMss;
    out.flowLabel = this.flowLabel;
    // RFC 1191: the path is narrower than we thought; the retransmission uses the smaller MSS.
    if (this.layer.send(this.remoteAddress, out, this.localAddress) === 'EMSGSIZE') this.updateSndMss();
  }

  /**
   * An RST <SEQ=seq> in answer to an unacceptable segment (§3.10.7.3, §3.10.7.4): no
   * options, no window, checksummed here as the layer's RSTs for no connection are.
   */
  private sendRstFor(seq: number): void {
    const out = TX;
    const r = out.repr;
    const o = r.options;
    r.srcPort = this.localPort;
    r.dstPort = this.remotePort;
    r.seq = seq;
    r.ack = 0;
    r.flags = RST;
    r.window = 0;
    r.urgent = 0;
    clearTcpOptions(o);
    out.payload = undefined;
    out.dataOff = 0;
    out.dataLen = 0;
    out.ecn = NOT_ECT;
    out.offload = false;
    out.gsoMss = 0;
    out.flowLabel = this.flowLabel;
    this.layer.send(this.remoteAddress, out, this.localAddress);
  }

  /**
   * RFC 3168 §6.1.2: the window was reduced (loss recovery, timeout or ECE): the next new
   * data carries CWR, and ECE does not reduce again within this window of data.
   */
  /** @internal */
  noteReduction(): void {
    if (!this.ecnOk) return;
    this.cwrPending = true;
    this.ecnRecover = this.sndMax;
  }

  /** RFC 3168 §6.1.2: an ACK with ECE: congestion on the path, reduce as for a loss, once per window. */
  private onEce(): void {
    if (this.recovery.inRecovery || !seqGe(this.sndUna, this.ecnRecover)) return;
    if (this.cc.onEcnEcho === undefined) return;
    this.cc.onEcnEcho(seqDiff(this.sndMax, this.sndUna));
    this.layer.counters.EcnEceReductions++;
    this.noteReduction();
  }

  /**
   * Sends the segment that starts at `seq` with at most `maxData` bytes, with SYN
   * and FIN as the state requires. Returns the sequence space it used.
   */
  /** @internal */
  transmitAt(seq: number, maxData: number, now: number): number {
    const s = this._state;
    if (s === 'SYN-SENT' || s === 'SYN-RECEIVED') {
      if (seq !== this.iss) return 0;
      // RFC 3168 §6.1.1: an ECN-setup SYN carries ECE|CWR (not on retransmissions: a path that
      // drops it then still connects, as Linux's fallback), an ECN-setup SYN-ACK carries ECE.
      const ecn = s === 'SYN-SENT' ? (this.ecnOffered && !this.synRetransmitted ? ECE | CWR : 0) : (this.ecnOk ? ECE : 0);
      this.transmit(seq, (s === 'SYN-SENT' ? SYN : SYN | ACK) | ecn, 0, 0, now);
      return 1;
    }
    const dataStart = this.dataStartSeq();
    const off = seqDiff(seq, dataStart);
    const avail = this.sendBuf.length - off;
    const len = Math.max(0, Math.min(maxData, avail));
    let flags = ACK;
    let used = len;
    if (this.finSendable() && seqAdd(seq, len) === this.finSeq) { flags |= FIN; used++; }
    if (len > 0 && len === avail) flags |= PSH;
    if (used === 0) return 0;
    const retransmit = seqLt(seq, this.sndMax);
    if (retransmit) {
      this.s.retransmits++;
      this.s.bytesRetransmitted += len;
      this.layer.counters.RetransSegs++;
      this.rttActive = false; // Karn's algorithm (RFC 6298 §3)
    } else {
      this.s.bytesSent += len;
    }
    this.transmit(seq, flags, off, len, now);
    this.lastSendAt = now;
    // Linux's tcp_update_skb_after_send: every data segment (new, retransmitted, probe) moves
    // the departure time on (pacing.ts).
    if (len > 0) this.pacer?.onSent(len, Math.ceil(len / this.sndMss), now);
    let rack = this.rack;
    if (rack === undefined && this.sackOk && this.cfg.rack) {
      // Two records per segment in flight: each unSACKed run sent at one instant (one segment
      // a record when every ACK releases one or two, without pacing) and a SACKed run between
      // two (rack.ts merges adjacent SACKed ones at the bound). A fixed 1024 was filled by a
      // send buffer autotuned to MBs: 2000 segments in flight in bench --sim (d) without pacing
      // then split no more, a retransmission marked its whole record resent and the rest of it
      // was never sent (a hole at SND.UNA until the RTO, on a path that loses nothing).
      // 25 bytes a record: 4 MiB in 1448-byte segments is 5794 records, 145 KiB at most,
      // grown by doubling as used.
      rack = this.rack = new Rack(Math.max(RACK_MIN_RECORDS, 2 * Math.ceil(this.sndBufMax / this.sndMss)));
      // The handshake's RTT (RFC 8985 §6.2 step 1), when it measured more than a tick.
      if (this.srtt >= 1) rack.onRttSample(this.srtt);
    }
    if (rack !== undefined) rack.onSent(seq, seqAdd(seq, used), now, this.sndMax);
    return used;
  }

  /**
   * RFC 5682 §3.1 step 2b: the ACK of the timeout's retransmission came and did not reach
   * RecoveryPoint: up to two new (never sent) segments go at SND.MAX, whatever cwnd (SND.NXT,
   * go-back-N's position, stays). Returns whether F-RTO holds go-back-N (step 3): false when no
   * new data can go (none queued, or the peer's window): then conventional RTO recovery
   * ("refrain from entering step 3").
   */
  private frtoSend(now: number): boolean {
    const r = this.recovery;
    const allowed = r.frtoNew;
    if (allowed === 0) return true; // sent already: waiting for the next ACK
    r.frtoNew = 0;
    const dataEnd = seqAdd(this.dataStartSeq(), this.sendBuf.length);
    let room = Math.min(allowed, seqDiff(dataEnd, this.sndMax), seqDiff(seqAdd(this.sndUna, this.sndWnd), this.sndMax));
    let sent = false;
    while (room > 0) {
      const used = this.transmitAt(this.sndMax, Math.min(room, this.sndMss), now);
      if (used === 0) break;
      this.sndMax = seqAdd(this.sndMax, used);
      room -= used;
      sent = true;
    }
    if (!sent) r.frto = 0;
    return sent;
  }

  /** @internal RecoveryHost: go-back-N after a timeout stops; SND.NXT = SND.MAX (recovery.ts). */
  endGoBackN(): void {
    this.sndNxt = this.sndMax;
  }

  /** Retransmits the earliest unacknowledged segment (fast retransmit, partial ACK, RTO). */
  /** @internal */
  retransmitFirst(now: number): void {
    const outstanding = seqDiff(this.sndMax, this.sndUna);
    if (outstanding <= 0) return;
    const used = this.transmitAt(this.sndUna, Math.min(this.sndMss, outstanding), now);
    if (seqLt(this.sndNxt, seqAdd(this.sndUna, used))) this.sndNxt = seqAdd(this.sndUna, used);
  }

  /** @internal decides what to send now (smoltcp `dispatch`). */
  output(now: number): void {
    const s = this._state;
    if (s === 'CLOSED' || s === 'LISTEN') return;
    if (s === 'TIME-WAIT') {
      if (this.ackNow) this.sendAck(now);
      return;
    }
    if (s === 'SYN-SENT' || s === 'SYN-RECEIVED') {
      if (this.sndNxt === this.iss) {
        // Time the SYN unless it is a retransmission (RFC 6298 §3, Karn).
        if (!this.synRetransmitted && this.sndMax === this.iss) {
          this.rttActive = true;
          this.rttSeq = seqAdd(this.iss, 1);
          this.rttStart = now;
        }
        this.transmitAt(this.iss, 0, now);
        this.sndNxt = seqAdd(this.iss, 1);
        this.sndMax = seqMax(this.sndMax, this.sndNxt);
        if (this.rtxAt === Infinity) this.rtxAt = now + this.rto;
      } else if (this.ackNow && s === 'SYN-RECEIVED') {
        this.sendAck(now);
      }
      return;
    }
    let sent = false;
    let sentNew = false;
    // RFC 6675 §5 (C): in SACK recovery, NextSeg() rule 1 (lost segments) first; new data
    // (rule 2) then gets what is left of cwnd - pipe; rules 3-4 follow the loop.
    let budget = Infinity;
    const recovery = this.recovery;
    if (recovery.sackRecovery) {
      if (recovery.send(true, now)) sent = true;
      // RFC 6937: what PRR's sndcnt leaves after rule 1's retransmissions.
      budget = recovery.sendBudget();
      if (budget < this.sndMss) budget = 0;
    }
    // Sender pacing (pacing.ts): the rate from this moment's cwnd and SRTT, as Linux's
    // tcp_update_pacing_rate after each ACK; the super-segment size autosized from it.
    const pacer = this.pacer;
    let burst = this.sndBurst;
    if (pacer !== undefined) {
      this.paceAt = Infinity;
      pacer.update(this.cc.cwnd, this.cc.ssthresh, seqDiff(this.sndMax, this.sndUna), this.srtt);
      if (burst > this.sndMss) burst = pacer.autosize(this.sndMss, burst, Math.min(this.rack?.minRtt ?? Infinity, this.srtt));
    }
    // RFC 5682 §3.1 step 2b (F-RTO): new data in place of retransmissions; go-back-N holds
    // until the next ACK shows whether the timeout was spurious (recovery.ts).
    const frtoHold = recovery.frto === 2 && this.frtoSend(now);
    for (;;) {
      if (frtoHold) break;
      // Go-back-N (after a timeout) skips data the peer SACKed since.
      const hole = this.scoreboard.count > 0 && seqLt(this.sndNxt, this.sndMax) ? this.sackSkip() : Infinity;
      const dataEnd = seqAdd(this.dataStartSeq(), this.sendBuf.length);
      const flight = seqDiff(this.sndNxt, this.sndUna);
      const unsent = Math.max(0, seqDiff(dataEnd, this.sndNxt));
      const finPending = this.finSendable() && seqLe(this.sndNxt, this.finSeq);
      if (unsent === 0 && !finPending) { this.persistAt = Infinity; break; }
      // RFC 3042 limited transmit: the first two duplicate ACKs may each release one
      // segment of new (never sent) data.
      const limited = recovery.inRecovery || this.sndNxt !== this.sndMax ? 0 : Math.min(this.dupAcks, 2) * this.sndMss;
      const avail = recovery.sackRecovery ? Math.min(this.sndWnd - flight, budget) : Math.min(this.cc.cwnd + limited - this.windowFlight(), this.sndWnd - flight);
      // A CWR segment goes alone, not in a super-segment (whose pieces would all repeat it).
      let len = Math.max(0, Math.min(unsent, this.cwrPending ? this.sndMss : burst, avail, hole));
      if (len > this.sndMss && len % this.sndMss !== 0 && (len < unsent || !(this.noDelay || finPending))) {
        // A super-segment (offload) ends on a whole MSS unless its tail is the last data and
        // Nagle would let that tail go at once: exactly what MSS-at-a-time sending does
        // (the sub-MSS remainder then faces the Nagle/SWS test below on the next round).
        len -= len % this.sndMss;
      }
      if (unsent > 0 && len === 0) {
        // Window-limited. With nothing in flight no ACK will come to reopen it:
        // the persist timer probes (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17).
        if (flight === 0 && this.sndWnd < Math.min(unsent, this.sndMss) && this.persistAt === Infinity) {
          this.persistAt = now + this.persistInterval();
        }
        break;
      }
      const isLast = len === unsent;
      if (len > 0 && len < this.sndMss && len !== hole) {
        // (A retransmission cut short by SACKed data is not a small segment.)
        // Nagle (RFC 896, RFC 1122 §4.2.3.4): a small segment waits while data is unacknowledged.
        // Sender SWS avoidance (RFC 1122 §4.2.3.4): send only the last data, or at least Fs*Maxsnd.
        const nagleOk = flight === 0 || this.noDelay || (isLast && finPending);
        const swsOk = isLast || len >= this.maxSndWnd / 2;
        if (!(nagleOk && swsOk)) {
          if (flight === 0 && this.persistAt === Infinity) this.persistAt = now + this.rto; // SWS override timer
          break;
        }
      }
      if (pacer !== undefined) {
        // Linux's tcp_pacing_check: the data waits for its departure time; the pacing timer
        // sends it then (onTimer), unless an ACK's output comes first.
        const until = pacer.blockedUntil(now);
        if (until > now) {
          this.paceAt = until;
          this.layer.counters.PacingDelays++;
          break;
        }
      }
      const seq = this.sndNxt;
      // RFC 5681 §4.1: after an idle period longer than RTO, restart from the restart window.
      if (flight === 0 && seqGe(seq, this.sndMax) && now - this.lastSendAt > this.rto) this.cc.onIdleRestart?.();
      const used = this.transmitAt(seq, len, now);
      if (used === 0) break;
      sent = true;
      if (seqGe(seq, this.sndMax)) sentNew = true;
      budget -= used;
      if (recovery.sackRecovery) recovery.noteSent(used); // RFC 6937 prr_out
      this.sndNxt = seqAdd(seq, used);
      if (seqGt(this.sndNxt, this.sndMax)) {
        // Time one segment per RTT when timestamps are off (RFC 6298 §3, Karn).
        if (!this.rttActive && !this.tsOk && seqGe(seq, this.sndMax)) {
          this.rttActive = true;
          this.rttSeq = this.sndNxt;
          this.rttStart = now;
        }
        this.sndMax = this.sndNxt;
      }
      this.persistAt = Infinity;
      if (this.rtxAt === Infinity) this.rtxAt = now + this.rto; // RFC 6298 §5.1
      if (used === len + 1) break; // FIN sent
    }
    if (recovery.sackRecovery && recovery.send(false, now)) sent = true;
    // Linux tcp_write_xmit: is_cwnd_limited |= (packets_in_flight >= cwnd), then tcp_cwnd_validate.
    const cwndFull = this.cwndRoom() < this.sndMss;
    if (sent || cwndFull) this.cwndValidate(cwndFull);
    // RFC 8985 §7.2: (re)start the probe timer after new data was sent.
    if (sentNew && this.rack !== undefined) this.armTlp(now);
    if (this.ackNow && !sent) this.sendAck(now);
  }

  // ================================================================== timers

  /** @internal the earliest armed deadline */
  nextDeadline(): number {
    return Math.min(this.rtxAt, this.delackAt, this.persistAt, this.keepaliveAt, this.timeWaitAt, this.finWait2At,
      this.rackAt, this.tlpAt, this.paceAt);
  }

  /** @internal runs every timer whose deadline has passed. */
  onTimer(now: number): void {
    if (this.timeWaitAt <= now) {
      this.timeWaitAt = Infinity;
      this.setState('CLOSED', now); // RFC 9293 §3.10.8: TIME-WAIT timeout deletes the TCB
      return;
    }
    if (this.finWait2At <= now) {
      this.finWait2At = Infinity;
      this.layer.counters.FinWait2Timeouts++;
      this.setState('CLOSED', now);
      return;
    }
    if (this.tlpAt <= now) {
      // Before the RTO: a PTO clipped to the RTO's deadline fires in its place (RFC 8985 §7.2).
      this.tlpAt = Infinity;
      this.onTlp(now);
    }
    if (this.rtxAt <= now) {
      this.rtxAt = Infinity;
      this.onRetransmitTimeout(now);
      if (this._state === 'CLOSED') return;
    }
    if (this.rackAt <= now) {
      this.rackAt = Infinity;
      const rack = this.rack;
      if (rack !== undefined) {
        this.recovery.rackDetect(rack, now, true);
        this.output(now);
      }
    }
    if (this.paceAt <= now) {
      // Linux's tcp_pace_kick: the departure time came; send what waited for it.
      this.paceAt = Infinity;
      this.output(now);
    }
    if (this.persistAt <= now) {
      this.persistAt = Infinity;
      this.onPersist(now);
    }
    if (this.delackAt <= now) {
      this.delackAt = Infinity;
      this.pingpong = false; // Linux's tcp_delack_timer_handler: inet_csk_exit_pingpong_mode
      if (this.isSynchronized()) this.sendAck(now);
    }
    if (this.keepaliveAt <= now) {
      this.keepaliveAt = Infinity;
      this.onKeepalive(now);
    }
  }

  /** RFC 6298 §5.4-§5.7: the retransmission timer expired. */
  private onRetransmitTimeout(now: number): void {
    if (seqGe(this.sndUna, this.sndMax)) return;
    const s = this._state;
    const handshake = s === 'SYN-SENT' || s === 'SYN-RECEIVED';
    const limit = handshake ? this.cfg.synRetries : this.cfg.maxRetries;
    if (this.retries >= limit) {
      // Bounded retries (RFC 1122 §4.2.3.5 R2): give up.
      this.layer.counters.Timeouts++;
      if (handshake) this.layer.counters.AttemptFails++;
      if (s === 'SYN-RECEIVED' && this.listener !== undefined) { this.setState('CLOSED', now); return; }
      this.fail(this.softError ?? new TcpError('ETIMEDOUT', 'connection timed out'), now);
      return;
    }
    if (!handshake && this.sndWnd === 0 && seqLt(this.sndUna, seqAdd(this.dataStartSeq(), this.sendBuf.length))) {
      // The peer shrank its window to zero with data in flight (it ACKed some and closed the
      // window): what is outstanding lies beyond the window and cannot be accepted. Not a
      // loss (no congestion response, no RTO backoff: RFC 1122 §4.2.2.17) but a zero window:
      // go back to SND.UNA and probe it without data as the persist timer does, so that the
      // window update is followed by the data from SND.UNA at once, which a receiver that
      // keeps no out-of-order data can take. (Linux's tcp_retransmit_timer also goes back to
      // SND.UNA here, tcp_enter_loss, and does not time out a peer that answers; its probe is
      // the head segment, retransmitted into the zero window, and its RTO doubles.)
      this.sndNxt = this.sndUna;
      this.rttActive = false; // Karn: what follows is retransmitted
      if (this.rack !== undefined) { this.rack.onRto(); this.rackAt = Infinity; this.tlpAt = Infinity; }
      this.onPersist(now);
      return;
    }
    this.retries++;
    if (handshake) {
      this.synRetransmitted = true;
      this.layer.counters.RetransSegs++;
      this.s.retransmits++;
    } else if (this.sndWnd > 0) {
      // RFC 5681 §3.1 eq. 4 and RFC 6582 §3.2 (recover := highest sent after a timeout). A
      // timeout that begins a loss episode may be undone (recovery.ts onAckAfterRto).
      this.cc.onRto(seqDiff(this.sndMax, this.sndUna), !this.recovery.inRecovery && !this.recovery.inLossState());
      this.noteReduction();
      // The scoreboard survives unless the receiver reneged (Linux's tcp_timeout_mark_lost,
      // RFC 6675 §5.1): go-back-N below then resends only what the peer has not SACKed.
      const reneged = this.recovery.onRto(now);
      this.dupAcks = 0;
      if (this.rack !== undefined) {
        this.rack.onRto(reneged);
        this.rackAt = Infinity;
        this.tlpAt = Infinity;
      }
    }
    this.rto = Math.min(this.cfg.rtoMax, this.rto * 2); // RFC 6298 §5.5: back off
    this.rttActive = false; // Karn
    this.sndNxt = this.sndUna; // go back N: the rest follows as the window opens
    if (handshake) {
      this.transmitAt(this.iss, 0, now);
      this.sndNxt = seqAdd(this.iss, 1);
    } else {
      this.retransmitFirst(now);
    }
    this.rtxAt = now + this.rto; // RFC 6298 §5.6
  }

  /** The persist timer's interval: RTO * 2^persistBackoff, at most rtoMax (RFC 6298 §5.5 doubling, RFC 1122 §4.2.2.17). */
  private persistInterval(): number {
    return Math.min(this.cfg.rtoMax, this.rto * 2 ** this.persistBackoff);
  }

  /**
   * The persist timer (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17) with nothing in flight and
   * data queued. A window too small for the queued data (the sender SWS override,
   * §3.8.6.2.1): send what fits, from SND.NXT = SND.UNA. A zero window: probe with a pure
   * ACK at SEG.SEQ = SND.UNA - 1, no data (as Linux's tcp_xmit_probe_skb; §3.8.6.1 allows
   * either). The peer answers it with an ACK and its window (§3.10.7.4); no octet is sent
   * beyond the window, so when it opens the queued data leaves from SND.UNA at once,
   * which a receiver that keeps no out-of-order data (lwIP, smoltcp) takes. A probe that
   * carried an octet at SND.NXT left SND.NXT = SND.UNA + 1 behind it: the window update
   * was followed by data the receiver dropped, and the octet at SND.UNA waited for a
   * retransmission timer the probes had backed off.
   */
  private onPersist(now: number): void {
    if (!this.isSynchronized()) return;
    const dataEnd = seqAdd(this.dataStartSeq(), this.sendBuf.length);
    const unsent = seqDiff(dataEnd, this.sndNxt);
    if (unsent <= 0 || seqLt(this.sndUna, this.sndNxt)) {
      // Nothing to probe for, or data in flight (the retransmission timer watches the peer).
      this.persistBackoff = this.persistProbes = 0;
      return;
    }
    if (this.sndWnd > 0) {
      // SWS override: what the window holds, at most an MSS (Linux tcp_write_wakeup).
      const len = Math.min(unsent, this.sndMss, this.sndWnd);
      this.probing = true;
      const used = this.transmitAt(this.sndNxt, len, now);
      this.probing = false;
      this.sndNxt = seqAdd(this.sndNxt, used);
      if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
      if (this.rtxAt === Infinity) this.rtxAt = now + this.rto;
      this.persistBackoff = this.persistProbes = 0;
      return;
    }
    if (this.persistProbes >= this.cfg.maxRetries) {
      // maxRetries probes in a row without an ACK (Linux: tcp_retries2): the peer is gone.
      this.layer.counters.Timeouts++;
      this.fail(this.softError ?? new TcpError('ETIMEDOUT', 'connection timed out (zero-window probes unanswered)'), now);
      return;
    }
    if (this.userClosed && this.persistInterval() >= this.cfg.rtoMax) {
      // An orphan (close() was called: no user waits for it) is not kept forever by a peer
      // that answers every probe but never opens its window: that would pin the send buffer
      // at the peer's will. As Linux (tcp_probe_timer, SOCK_DEAD with tcp_orphan_retries = 0):
      // given up once the probe interval reached its cap; RST, since the peer is alive.
      this.layer.counters.Timeouts++;
      this.doAbort(now, new TcpError('ETIMEDOUT', 'closed connection timed out behind a zero window'));
      return;
    }
    this.persistProbes++;
    this.layer.counters.WindowProbes++;
    this.s.windowProbes++;
    this.transmit(seqAdd(this.sndUna, -1), ACK, 0, 0, now);
    if (this.persistInterval() < this.cfg.rtoMax) this.persistBackoff++;
    this.persistAt = now + this.persistInterval();
  }

  private armKeepalive(): void {
    const s = this._state;
    if (!this.keepAlive || (s !== 'ESTABLISHED' && s !== 'CLOSE-WAIT')) { this.keepaliveAt = Infinity; return; }
    this.keepaliveAt = this.lastRecvAt + this.keepIdle + this.keepProbes * this.cfg.keepAliveInterval;
  }

  /** RFC 1122 §4.2.3.6: probe an idle connection with SEG.SEQ = SND.NXT - 1. */
  private onKeepalive(now: number): void {
    const s = this._state;
    if (!this.keepAlive || (s !== 'ESTABLISHED' && s !== 'CLOSE-WAIT')) return;
    const idleDeadline = this.lastRecvAt + this.keepIdle + this.keepProbes * this.cfg.keepAliveInterval;
    if (idleDeadline > now) { this.armKeepalive(); return; }
    if (seqLt(this.sndUna, this.sndMax) || this.sendBuf.length > 0) {
      // Not idle: the retransmission timer watches the peer.
      this.lastRecvAt = now;
      this.keepProbes = 0;
      this.armKeepalive();
      return;
    }
    if (this.keepProbes >= this.cfg.keepAliveCount) {
      this.layer.counters.KeepaliveTimeouts++;
      this.fail(new TcpError('ETIMEDOUT', 'keepalive timed out'), now);
      return;
    }
    this.keepProbes++;
    this.layer.counters.KeepaliveProbes++;
    this.transmit(seqAdd(this.sndNxt, -1), ACK, 0, 0, now);
    this.armKeepalive();
  }

  // ================================================================== layer hooks

  /** @internal TIME-WAIT assassination check for a new SYN (RFC 9293 §3.10.7.4, RFC 6191). */
  acceptsNewSyn(seg: TcpRepr): boolean {
    const ts = seg.options.timestamp;
    if (this.tsOk && ts !== undefined) return seqGt(ts.tsVal, this.tsRecent); // RFC 6191 §2
    return seqGt(seg.seq, this.rcvNxt); // RFC 1122 §4.2.2.13
  }

  /** @internal ICMP fragmentation needed (RFC 1191 §6.4): shrink the MSS and resend. */
  onPathMtu(mtu: number, now: number): void {
    const before = this.sndMss;
    this.updateSndMss(Math.min(mtu, this.layer.pathMtu(this.remoteAddress)));
    if (this.sndMss < before && this.isSynchronized() && seqLt(this.sndUna, this.sndMax)) {
      this.sndNxt = this.sndUna;
      this.retransmitFirst(now);
      this.output(now);
    }
  }

  /** @internal hard ICMP error */
  onHardError(error: TcpError, now: number): void {
    this.layer.counters.AttemptFails++;
    this.fail(error, now);
  }

  /** @internal the listener went away or the layer is closing: reset. */
  abortInternal(now: number): void {
    this.doAbort(now, undefined);
  }

  /** @internal initialises an active or passive open. */
  initOpen(iss: number, now: number, tsOffset: number, offerWs: boolean, offerTs: boolean, offerSack: boolean): void {
    this.iss = iss;
    this.sndUna = iss;
    this.sndNxt = iss;
    this.sndMax = iss;
    this.recovery.recover = iss;
    this.wsOffered = offerWs;
    this.tsOffered = offerTs;
    this.sackOffered = offerSack;
    this.ecnOffered = this.cfg.ecn === true;
    this.ecnRecover = iss;
    if (!offerWs) this.rcvShift = 0;
    this.tsOffset = tsOffset;
    this.lastRecvAt = now;
    this.sndMss = Math.max(this.cfg.minMss, Math.min(536, this.advMss));
    this.sndBurst = this.sndMss;
    this.cc.setMss(this.sndMss);
  }

  /** @internal a passive open from a SYN (§3.10.7.2). */
  initPassive(seg: TcpRepr, now: number): void {
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    this.rcvAdv = this.rcvNxt;
    this.negotiateOptions(seg, now);
    // RFC 3168 §6.1.1: an ECN-setup SYN (ECE and CWR) is answered with an ECN-setup SYN-ACK.
    if (this.cfg.ecn !== false && (seg.flags & (ECE | CWR)) === (ECE | CWR)) {
      this.ecnOk = true;
      this.layer.counters.EcnNegotiated++;
    }
    this.sndWnd = seg.window; // unscaled in a SYN (RFC 7323 §2.2)
    this.sndWl1 = seg.seq;
    this.maxSndWnd = this.sndWnd;
  }

  /** @internal a passive open completed by a valid SYN cookie (RFC 4987 §3.6): ESTABLISHED at once. */
  initFromCookie(seg: TcpRepr, mss: number, now: number): void {
    this.irs = seqAdd(seg.seq, -1);
    this.rcvNxt = seg.seq;
    // The cookie SYN-ACK advertised min(buffer, 65535) unscaled.
    this.rcvAdv = seqAdd(seg.seq, Math.min(this.recvBuf.free, 0xffff));
    this.sndUna = seg.ack;
    this.sndNxt = seg.ack;
    this.sndMax = seg.ack;
    this.recovery.recover = seg.ack;
    this.wsOffered = false;
    this.tsOffered = false;
    this.sackOffered = false; // the cookie does not encode SACK-permitted
    this.sackOk = false;
    this.sndShift = 0;
    this.rcvShift = 0;
    this.tsOk = false;
    this.peerMss = mss;
    this.updateSndMss();
    this.sndWnd = seg.window;
    this.sndWl1 = seg.seq;
    this.sndWl2 = seg.ack;
    this.maxSndWnd = this.sndWnd;
    this.lastRecvAt = now;
  }
}
