/**
 * The TCP layer: `TransportProtocol` 6 over an `IpOutput`, and the non-blocking
 * core endpoint API that the Node-style facade (packages/netstack) builds on.
 *
 * ## Endpoint API (after gVisor's endpoints)
 *
 *   const tcp = new TcpLayer(ip, { isnKey });   // ip: IpOutput
 *   ipLayer.register(tcp);                               // whoever owns IP registers it
 *
 *   // active open: SYN leaves at once; handler.onEstablished / onClosed(ECONNREFUSED|ETIMEDOUT) follow
 *   const conn = tcp.connect({ remoteAddress, remotePort, localPort?, localAddress?, options? }, now, handler);
 *
 *   // passive open: completed connections wait in a bounded accept queue
 *   const l = tcp.listen({ port, address?, backlog? }, { onAcceptable(l) { let c; while ((c = l.accept(h))) ... } });
 *   l.close(now);
 *
 *   conn.write(bytes, now) -> accepted count (0 when the send buffer is full; onWritable later)
 *   conn.read(into, now)   -> bytes taken (0 when empty); may send a window update
 *   conn.shutdown(now)     half-close: FIN after queued data
 *   conn.close(now)        shutdown + no more reading (RST if unread data remains)
 *   conn.abort(now)        RST, CLOSED at once
 *   conn.setNoDelay(b), conn.setKeepAlive(enable, initialDelayMs, now)
 *   conn.state, localAddress/Port, remoteAddress/Port, bytesInFlight, readableLength,
 *   writableLength, writableSpace, remoteFinReceived, error, stats
 *
 *   tcp.pollAt() -> earliest deadline (ms) or Infinity;  tcp.poll(now) runs due timers
 *   tcp.stats()  -> /proc/net/snmp-style counters (a snapshot)
 *
 * Addresses are `IpAddress` values of either family (numbers for IPv4; see @netstack/ip).
 *
 * ## Events and re-entrancy
 * Handler callbacks (`TcpHandler`, `ListenHandler`) run synchronously but only
 * after the state machine finished the current event: the layer queues them and
 * delivers them at the end of the outermost `receive` / `receiveError` / `poll` /
 * user call. Inside a callback any method may be called (write, read, close,
 * connect, accept...); events those calls cause are delivered in the same flush.
 * Node's "emit on a later tick" rule is the facade's business.
 *
 * ## Errors
 * API misuse throws an `Error` with a Node-style `code` (ERR_INVALID_ARG_VALUE,
 * EADDRINUSE, EADDRNOTAVAIL, ENETUNREACH, ENOBUFS, EPIPE). Operational failures
 * (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EHOSTUNREACH) arrive as `onClosed(conn, err)`.
 * Bad wire input is counted in `stats` and dropped, never thrown.
 *
 * ## Accepted connections
 * `listener.accept(handler)` returns an ESTABLISHED (or already CLOSE-WAIT)
 * connection. `onEstablished` is not called for it; `onReadable` / `onRemoteFin`
 * are replayed (in the flush that ends the outermost call) when data or a FIN
 * arrived while it was queued. A queued connection that is reset is removed
 * from the queue silently.
 */
import { randomBytes } from 'node:crypto';
import { EphemeralPorts, IPV6_ANY, MAX_UNREACH_CODE, PROTO_TCP, icmpErrorErrno, isMulticast, pseudoHeaderSum, tupleKey } from '@netstack/ip';
import type { IcmpErrnoCode, InboundDatagram, IpAddress, IpOutput, PayloadWriter, SendError, TransportError, TransportProtocol } from '@netstack/ip';
import { NewReno } from './congestion.js';
import type { CongestionControl, CongestionControlName } from './congestion.js';
import { Cubic } from './cubic.js';
import { EV_CLOSED, TcpConnection } from './connection.js';
import type { TcpConnectionOptions, TcpHandler, TcpState } from './connection.js';
import { TcpError, usageError } from './errors.js';
import { DeadlineHeap } from './heap.js';
import { MemoryAccount } from './ring.js';
import { COOKIE_MSS_TABLE, COOKIE_PERIOD_MS, checkSynCookie, cookieMssIndex, generateIsn, makeSynCookie, timestampOffset } from './isn.js';
import { seqAdd, seqLe } from './seq.js';
import { ACK, FIN, RST, SYN, emitTcpHeader, fillTcpChecksum, mssForMtu, newTcpRepr, parseTcp, tcpHeaderLen } from './wire.js';
import type { SackBlock, TcpRepr } from './wire.js';

/** The message of the TcpError an ICMP error gives (strerror-like, as before). */
const ICMP_ERROR_TEXT: Readonly<Record<IcmpErrnoCode, string>> = {
  ENETUNREACH: 'network unreachable',
  EHOSTUNREACH: 'host unreachable',
  ENOPROTOOPT: 'protocol unreachable',
  ECONNREFUSED: 'connection refused',
  EMSGSIZE: 'message too long',
  EOPNOTSUPP: 'source route failed',
  EHOSTDOWN: 'host is down',
  ENONET: 'machine is not on the network',
  EPROTO: 'protocol error',
};

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

/** @internal */
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

export interface ListenHandler {
  /** A connection completed its handshake and waits in the accept queue. */
  onAcceptable?(listener: TcpListener): void;
}

export interface ListenOptions {
  /** 0: an ephemeral port (RFC 6056), read it back from `TcpListener.port`. */
  port: number;
  /** Local address to accept on; default ANY (0). */
  address?: IpAddress;
  /** Accept queue bound (completed connections not yet accepted). Default 128. */
  backlog?: number;
  /** SYN queue bound (SYN-RECEIVED connections). Default: backlog. */
  synBacklog?: number;
  /** Options for accepted connections. */
  options?: TcpConnectionOptions;
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

/** A passive open (LISTEN). */
export class TcpListener {
  readonly port: number;
  readonly address: IpAddress;
  readonly backlog: number;
  readonly synBacklog: number;
  readonly options: TcpConnectionOptions;
  /** @internal */ synQueueLength = 0;
  /** @internal */ readonly acceptQueue: TcpConnection[] = [];
  /** @internal every connection still owned by this listener (SYN queue + accept queue) */
  readonly children = new Set<TcpConnection>();
  /** @internal */ notifyPending = false;
  /** @internal when this listener last answered with a SYN cookie (-Infinity: never) */
  lastCookieAt = -Infinity;
  private closed = false;

  /** @internal */
  constructor(private readonly layer: TcpLayer, opts: ListenOptions, readonly handler: ListenHandler) {
    this.port = opts.port;
    this.address = opts.address ?? 0;
    this.backlog = opts.backlog ?? 128;
    this.synBacklog = opts.synBacklog ?? this.backlog;
    this.options = opts.options ?? {};
  }

  get isClosed(): boolean { return this.closed; }
  /** Completed connections waiting for `accept`. */
  get pending(): number { return this.acceptQueue.length; }

  /** @internal */
  acceptQueueFull(): boolean { return this.acceptQueue.length >= this.backlog; }

  /** Takes the oldest completed connection and attaches `handler`; undefined when none waits. */
  accept(handler: TcpHandler): TcpConnection | undefined {
    const c = this.acceptQueue.shift();
    if (c === undefined) return undefined;
    c.inAcceptQueue = false;
    c.listener = undefined;
    this.children.delete(c);
    c.handler = handler;
    // What happened while queued is replayed to the new handler (onReadable, onRemoteFin).
    this.layer.run(() => c.replayForAccept(), c);
    return c;
  }

  /** Stops listening; connections not yet accepted are reset. */
  close(now: number): void {
    if (this.closed) return;
    this.closed = true;
    this.layer.closeListener(this, now);
  }
}

/** IPv4: a hash of the 4-tuple (bucket chains resolve collisions); IPv6: the exact `tupleKey`. */
function bucketKey(localAddr: IpAddress, localPort: number, remoteAddr: IpAddress, remotePort: number): number | string {
  if (typeof localAddr !== 'number' || typeof remoteAddr !== 'number') return tupleKey(localAddr, localPort, remoteAddr, remotePort);
  let h = Math.imul(remoteAddr ^ 0x9e3779b9, 0x85ebca6b);
  h ^= Math.imul((remotePort << 16) | localPort, 0xc2b2ae35);
  h ^= Math.imul(localAddr, 0x27d4eb2f);
  h ^= h >>> 15;
  return h | 0;
}

function zeroDrops(): TcpDropCounters {
  return {
    truncated: 0, badDataOffset: 0, badOption: 0, badChecksum: 0, badPort: 0, broadcast: 0,
    outOfWindow: 0, noAck: 0, badAck: 0, ackUnsent: 0, ackTooOld: 0, reassemblyFull: 0,
    listenNoSyn: 0, tableFull: 0, icmpIgnored: 0,
    noSocket: 0, listenRst: 0, listenAck: 0, listenOverflow: 0, synQueueFull: 0,
  };
}

/** Offset of the checksum field in the TCP header (RFC 9293 §3.1): virtio csum_offset. */
const TCP_CSUM_OFFSET = 16;
/** RFC 3168 §5: the ECN field's ECT(0) codepoint. */
const ECT0 = 2;

/**
 * The reused writer handed to `ip.sendWith` / `ip.sendSegment`: header from `repr`,
 * payload from a send buffer. With `partial` the checksum is left to the link
 * (virtio spec §5.1.6.2, CHECKSUM_PARTIAL): the field holds the folded pseudo-header sum
 * over the whole TCP length, NOT complemented (Linux's tcp_v4_send_check), so the device's
 * "sum from csum_start, complement, store" gives the right value (and, for a super-segment,
 * the kernel's GSO adjusts the length per piece, tcp4_gso_segment).
 */
class SegmentWriter implements PayloadWriter {
  repr: TcpRepr = newTcpRepr();
  conn: TcpConnection | undefined = undefined;
  dataOff = 0;
  dataLen = 0;
  partial = false;
  writePayload(buf: Uint8Array, offset: number, src: IpAddress, dst: IpAddress): void {
    const hl = emitTcpHeader(this.repr, buf, offset);
    if (this.dataLen > 0 && this.conn !== undefined) this.conn.sendBuf.peek(this.dataOff, this.dataLen, buf, offset + hl);
    if (this.partial) {
      const p = pseudoHeaderSum(src, dst, PROTO_TCP, hl + this.dataLen);
      buf[offset + TCP_CSUM_OFFSET] = p >>> 8;
      buf[offset + TCP_CSUM_OFFSET + 1] = p & 255;
    } else {
      fillTcpChecksum(buf, offset, hl + this.dataLen, src, dst);
    }
  }
}

export class TcpLayer implements TransportProtocol {
  readonly protocol = PROTO_TCP;
  /** @internal */ readonly ip: IpOutput;
  /** @internal */ readonly config: ResolvedConfig;
  /** @internal live counters; read them through `stats()` */
  readonly counters: TcpStats;
  private readonly table = new Map<number | string, TcpConnection>();
  private connCount = 0;
  private readonly listeners = new Map<number, TcpListener[]>();
  /** RFC 6056 Algorithm 4, keyed by isnKey: connect's, and listen(0)'s, ports. */
  private readonly ports: EphemeralPorts;
  private readonly timers = new DeadlineHeap<TcpConnection>();
  private readonly rx: TcpRepr = newTcpRepr();
  private readonly writer = new SegmentWriter();
  private readonly tsVal = { tsVal: 0, tsEcr: 0 };
  /** Preallocated SACK blocks, and views of the first 1..4 of them (emitSegment allocates nothing). */
  private readonly sackBlocks: SackBlock[] = [{ left: 0, right: 0 }, { left: 0, right: 0 }, { left: 0, right: 0 }, { left: 0, right: 0 }];
  private readonly sackViews: SackBlock[][] = [1, 2, 3, 4].map((n) => this.sackBlocks.slice(0, n));
  private readonly eventQueue: TcpConnection[] = [];
  private readonly listenQueue: TcpListener[] = [];
  private depth = 0;
  private readonly sendOpts = { dontFragment: true };
  /** RFC 3168 §5: ECT(0) in the IP header's ECN field. */
  private readonly sendOptsEct = { dontFragment: true, tos: ECT0 };

  constructor(ip: IpOutput, options: TcpLayerOptions = {}) {
    this.ip = ip;
    const o = options;
    this.config = {
      isnKey: o.isnKey ?? new Uint8Array(randomBytes(16)),
      msl: o.msl ?? 30_000,
      rtoMin: o.rtoMin ?? 200,
      rtoMax: o.rtoMax ?? 60_000,
      rtoInitial: o.rtoInitial ?? 1000,
      clockGranularity: 1,
      maxRetries: o.maxRetries ?? 15,
      synRetries: o.synRetries ?? 6,
      delayedAckMs: o.delayedAckMs ?? 40,
      sendBufferSize: o.sendBufferSize ?? 256 * 1024,
      receiveBufferSize: o.receiveBufferSize ?? 256 * 1024,
      maxOutOfOrderRanges: o.maxOutOfOrderRanges ?? 64,
      maxConnections: o.maxConnections ?? 65_536,
      memory: new MemoryAccount(o.maxBufferMemory ?? 256 * 1024 * 1024),
      windowScaling: o.windowScaling ?? true,
      timestamps: o.timestamps ?? true,
      sack: o.sack ?? true,
      rack: o.rack ?? true,
      ecn: o.ecn ?? 'passive',
      synCookies: o.synCookies ?? true,
      keepAliveIdle: o.keepAliveIdle ?? 7_200_000,
      keepAliveInterval: o.keepAliveInterval ?? 75_000,
      keepAliveCount: o.keepAliveCount ?? 9,
      finWait2Timeout: o.finWait2Timeout ?? 60_000,
      challengeAckLimit: o.challengeAckLimit ?? 10,
      minMss: o.minMss ?? 88,
      verifyChecksum: o.verifyChecksum ?? true,
      congestionControl: congestionFactory(o.congestionControl),
    };
    if (!(this.config.memory.limit >= 0)) throw usageError('ERR_INVALID_ARG_VALUE', 'option maxBufferMemory must be a non-negative number');
    this.ports = new EphemeralPorts(this.config.isnKey);
    for (const [k, v] of Object.entries(this.config)) {
      if (typeof v === 'number' && !(v >= 0)) throw usageError('ERR_INVALID_ARG_VALUE', `option ${k} must be a non-negative number`);
    }
    this.counters = {
      activeOpens: 0, passiveOpens: 0, attemptFails: 0, estabResets: 0, currEstab: 0,
      inSegs: 0, outSegs: 0, retransSegs: 0, inErrs: 0, outRsts: 0, inCsumErrors: 0,
      synCookiesSent: 0, synCookiesRecv: 0, synCookiesFailed: 0, listenOverflows: 0, listenDrops: 0,
      pawsDrops: 0, challengeAcks: 0, challengeAcksSuppressed: 0, rstsReceived: 0, dupAcks: 0,
      fastRetransmits: 0, sackRecoveries: 0, sackRetransmits: 0,
      rackRecoveries: 0, rackLostBytes: 0, tlpProbes: 0, lostRetransmits: 0, tlpRecoveries: 0, dsacksReceived: 0, spuriousRecoveries: 0,
      ecnNegotiated: 0, ecnCeReceived: 0, ecnEceReductions: 0, ecnCwrSent: 0, ecnCwrReceived: 0, outOfOrder: 0, timeouts: 0, windowProbes: 0, keepaliveProbes: 0,
      keepaliveTimeouts: 0, finWait2Timeouts: 0, timeWaitReused: 0, sendErrors: 0,
      outCsumOffloaded: 0, outGsoSegs: 0, inCsumTrusted: 0, inDelivers: 0, bufferMemory: 0, memoryPressure: 0,
      drops: zeroDrops(),
    };
  }

  /** A snapshot of the counters (/proc/net/snmp `Tcp:` names, plus drop reasons and extras). */
  stats(): TcpStats {
    const m = this.config.memory;
    return { ...this.counters, bufferMemory: m.used, memoryPressure: m.pressureEvents, drops: { ...this.counters.drops } };
  }

  /** Connections in the table (all states but LISTEN, TIME-WAIT included). */
  get connectionCount(): number { return this.connCount; }

  /** Every connection in the table (for diagnostics and tests; allocates). */
  connections(): TcpConnection[] {
    const out: TcpConnection[] = [];
    for (const head of this.table.values()) {
      for (let x: TcpConnection | undefined = head; x !== undefined; x = x.nextInBucket) out.push(x);
    }
    return out;
  }

  // ================================================================ time

  /** Earliest timer deadline (ms), Infinity when nothing is armed. O(1). */
  pollAt(): number {
    return this.timers.peekDeadline();
  }

  /** Runs every timer due at `now`. */
  poll(now: number): void {
    this.run(() => {
      for (;;) {
        const c = this.timers.peek();
        if (c === undefined || c.heapDeadline > now) break;
        c.onTimer(now);
        this.reschedule(c);
        if (c.heapIndex >= 0 && c.heapDeadline <= now) {
          // Defensive: a timer that did not move would spin; push it forward.
          this.timers.schedule(c, now + 1);
        }
      }
    }, undefined);
  }

  /** @internal runs `fn` as one event; delivers queued callbacks when the outermost event ends. */
  /** @internal opens an event without allocating a closure (hot user calls: write, read). */
  enter(): void {
    this.depth++;
  }

  /** @internal closes an event opened by `enter`. */
  exit(conn: TcpConnection | undefined): void {
    if (conn !== undefined) this.reschedule(conn);
    this.depth--;
    if (this.depth === 0) this.flushEvents();
  }

  run<T>(fn: () => T, conn: TcpConnection | undefined): T {
    this.depth++;
    try {
      return fn();
    } finally {
      if (conn !== undefined) this.reschedule(conn);
      this.depth--;
      if (this.depth === 0) this.flushEvents();
    }
  }

  private flushEvents(): void {
    this.depth++;
    try {
      while (this.eventQueue.length > 0 || this.listenQueue.length > 0) {
        const c = this.eventQueue.shift();
        if (c !== undefined) {
          c.eventQueued = false;
          c.deliverEvents();
          continue;
        }
        const l = this.listenQueue.shift()!;
        l.notifyPending = false;
        if (l.acceptQueue.length > 0 && !l.isClosed) l.handler.onAcceptable?.(l);
      }
    } finally {
      this.depth--;
    }
  }

  /** @internal */
  queueEvents(c: TcpConnection): void {
    if (c.eventQueued) return;
    c.eventQueued = true;
    this.eventQueue.push(c);
  }

  /** @internal */
  reschedule(c: TcpConnection): void {
    if (!c.inTable) { this.timers.remove(c); return; }
    this.timers.schedule(c, c.nextDeadline());
  }

  // ================================================================ table

  private lookup(localAddr: IpAddress, localPort: number, remoteAddr: IpAddress, remotePort: number): TcpConnection | undefined {
    let c = this.table.get(bucketKey(localAddr, localPort, remoteAddr, remotePort));
    while (c !== undefined) {
      if (c.localPort === localPort && c.remotePort === remotePort && c.remoteAddress === remoteAddr && c.localAddress === localAddr) return c;
      c = c.nextInBucket;
    }
    return undefined;
  }

  private attach(c: TcpConnection): void {
    const k = bucketKey(c.localAddress, c.localPort, c.remoteAddress, c.remotePort);
    c.key = k;
    c.nextInBucket = this.table.get(k);
    this.table.set(k, c);
    c.inTable = true;
    this.connCount++;
  }

  /** @internal removes a CLOSED connection from the table, the timers and its listener. */
  detach(c: TcpConnection): void {
    if (!c.inTable) return;
    c.inTable = false;
    this.connCount--;
    let head = this.table.get(c.key);
    if (head === c) {
      if (c.nextInBucket === undefined) this.table.delete(c.key); else this.table.set(c.key, c.nextInBucket);
    } else {
      while (head !== undefined && head.nextInBucket !== c) head = head.nextInBucket;
      if (head !== undefined) head.nextInBucket = c.nextInBucket;
    }
    c.nextInBucket = undefined;
    this.timers.remove(c);
    const l = c.listener;
    if (l !== undefined) {
      if (c.inAcceptQueue) {
        const i = l.acceptQueue.indexOf(c);
        if (i >= 0) l.acceptQueue.splice(i, 1);
        c.inAcceptQueue = false;
      }
      c.listener = undefined;
      l.children.delete(c);
      // Nobody holds this connection yet: no callbacks to deliver.
      c.events &= ~EV_CLOSED;
    }
  }

  /** @internal bookkeeping for every state change (the choke point calls this). */
  onStateChange(c: TcpConnection, prev: TcpState, next: TcpState): void {
    const st = this.counters;
    const wasEst = prev === 'ESTABLISHED' || prev === 'CLOSE-WAIT';
    const isEst = next === 'ESTABLISHED' || next === 'CLOSE-WAIT';
    if (wasEst && !isEst) st.currEstab--;
    if (!wasEst && isEst) st.currEstab++;
    // RFC 1213 tcpEstabResets: ESTABLISHED/CLOSE-WAIT -> CLOSED.
    if (wasEst && next === 'CLOSED') st.estabResets++;
    const l = c.listener;
    if (l !== undefined && prev === 'SYN-RECEIVED') {
      l.synQueueLength--;
      if (next !== 'CLOSED' && !l.isClosed) {
        c.inAcceptQueue = true;
        l.acceptQueue.push(c);
        if (!l.notifyPending) { l.notifyPending = true; this.listenQueue.push(l); }
      }
    }
  }

  // ================================================================ user calls

  /**
   * Active OPEN (RFC 9293 §3.10.1): sends a SYN now. Throws EADDRINUSE when the
   * 4-tuple exists, EADDRNOTAVAIL when no ephemeral port is free, ENETUNREACH
   * without a route, ENOBUFS when the table is full.
   */
  connect(opts: ConnectOptions, now: number, handler: TcpHandler): TcpConnection {
    return this.run(() => {
      const remote = typeof opts.remoteAddress === 'number' ? opts.remoteAddress >>> 0 : opts.remoteAddress;
      if (!validPort(opts.remotePort)) throw usageError('ERR_INVALID_ARG_VALUE', `invalid remote port ${opts.remotePort}`);
      checkCongestionControl(opts.options?.congestionControl);
      if (opts.localPort !== undefined && !validPort(opts.localPort)) throw usageError('ERR_INVALID_ARG_VALUE', `invalid local port ${opts.localPort}`);
      if (remote === 0 || remote === 0xffffffff || remote === IPV6_ANY || isMulticast(remote)) throw usageError('ERR_INVALID_ARG_VALUE', 'invalid remote address');
      const local = opts.localAddress ?? this.ip.sourceFor(remote);
      if (local === undefined) throw usageError('ENETUNREACH', 'no route to the remote address');
      if (this.connCount >= this.config.maxConnections) throw usageError('ENOBUFS', 'connection table full');
      let port = opts.localPort;
      if (port === undefined) {
        // RFC 6056: a port no listener holds and no connection uses towards this remote.
        const remotePort = opts.remotePort;
        port = this.ports.select(local, remote, remotePort, (p) => !this.listeners.has(p) && this.lookup(local, p, remote, remotePort) === undefined);
        if (port === undefined) throw usageError('EADDRNOTAVAIL', 'no ephemeral port available');
      }
      else if (this.lookup(local, port, remote, opts.remotePort) !== undefined) throw usageError('EADDRINUSE', `address in use: port ${port}`);
      const c = new TcpConnection(this, this.config, local, port, remote, opts.remotePort, opts.options ?? {}, handler);
      const iss = generateIsn(this.config.isnKey, now, local, port, remote, opts.remotePort);
      c.initOpen(iss, now, timestampOffset(this.config.isnKey, local, port, remote, opts.remotePort), this.config.windowScaling, this.config.timestamps, this.config.sack);
      this.attach(c);
      this.counters.activeOpens++;
      c.setState('SYN-SENT', now);
      c.output(now);
      this.reschedule(c);
      return c;
    }, undefined);
  }

  /**
   * Passive OPEN (RFC 9293 §3.10.1). Port 0 picks an ephemeral port (RFC 6056, the same
   * allocator as connect; `listener.port` tells which). Throws EADDRINUSE when the port is
   * already listened on, or for port 0 when every ephemeral port is.
   */
  listen(opts: ListenOptions, handler: ListenHandler = {}): TcpListener {
    if (!(opts.port === 0 || validPort(opts.port))) throw usageError('ERR_INVALID_ARG_VALUE', `invalid port ${opts.port}`);
    checkCongestionControl(opts.options?.congestionControl);
    if (opts.backlog !== undefined && !(opts.backlog >= 1)) throw usageError('ERR_INVALID_ARG_VALUE', 'backlog must be >= 1');
    const addr = opts.address ?? 0;
    let port = opts.port;
    if (port === 0) {
      const p = this.ports.select(addr, 0, 0, (q) => !this.listenClash(q, addr));
      if (p === undefined) throw usageError('EADDRINUSE', 'no ephemeral port available');
      port = p;
      opts = { ...opts, port };
    } else if (this.listenClash(port, addr)) throw usageError('EADDRINUSE', `port ${port} is in use`);
    const l = new TcpListener(this, opts, handler);
    const list = this.listeners.get(port);
    if (list === undefined) this.listeners.set(port, [l]);
    else list.push(l);
    return l;
  }

  /** A listener on `port` whose address overlaps `addr` (0.0.0.0 overlaps every address). */
  private listenClash(port: number, addr: IpAddress): boolean {
    const list = this.listeners.get(port);
    return list !== undefined && list.some((l) => l.address === addr || l.address === 0 || addr === 0);
  }

  /** @internal */
  closeListener(l: TcpListener, now: number): void {
    this.run(() => {
      const list = this.listeners.get(l.port);
      if (list !== undefined) {
        const i = list.indexOf(l);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.listeners.delete(l.port);
      }
      // Reset the half-open and the not-yet-accepted connections (Linux behaviour).
      for (const c of [...l.children]) c.abortInternal(now);
    }, undefined);
  }

  private findListener(addr: IpAddress, port: number): TcpListener | undefined {
    const list = this.listeners.get(port);
    if (list === undefined) return undefined;
    for (const l of list) if (l.address === addr) return l;
    for (const l of list) if (l.address === 0) return l;
    return undefined;
  }

  // ================================================================ input

  receive(d: InboundDatagram, now: number): void {
    this.depth++;
    try {
      this.receiveInner(d, now);
    } finally {
      this.depth--;
      if (this.depth === 0) this.flushEvents();
    }
  }

  private receiveInner(d: InboundDatagram, now: number): void {
    const st = this.counters;
    st.inSegs++;
    // The link vouched for the checksum (a partial one from the local kernel holds only the
    // pseudo-header sum): verifying it would reject good segments.
    const trusted = d.checksumVerified === true;
    if (trusted) st.inCsumTrusted++;
    const seg = parseTcp(d.payload, d.src, d.dst, this.config.verifyChecksum && !trusted, this.rx);
    if (typeof seg === 'string') {
      st.inErrs++;
      switch (seg) {
        case 'truncated': st.drops.truncated++; break;
        case 'bad-data-offset': st.drops.badDataOffset++; break;
        case 'bad-option': st.drops.badOption++; break;
        case 'bad-checksum': st.drops.badChecksum++; st.inCsumErrors++; break;
        case 'bad-port': st.drops.badPort++; break;
      }
      return;
    }
    // RFC 1122 §4.2.3.10: segments to broadcast/multicast addresses are not TCP's.
    if (d.toBroadcast) { st.drops.broadcast++; return; }
    let c = this.lookup(d.dst, seg.dstPort, d.src, seg.srcPort);
    let minIss: number | undefined;
    if (c !== undefined && c.state === 'TIME-WAIT' && (seg.flags & (SYN | ACK | RST)) === SYN && c.acceptsNewSyn(seg) &&
      this.findListener(d.dst, seg.dstPort) !== undefined) {
      // RFC 9293 §3.10.7.4 / RFC 6191: a new SYN may reopen a TIME-WAIT connection,
      // with an ISS above the old SND.NXT.
      minIss = seqAdd(c.sndNxt, 0x20000);
      st.timeWaitReused++;
      c.setState('CLOSED', now);
      c = undefined;
    }
    if (c !== undefined) {
      st.inDelivers++;
      c.inEcn = d.tos & 3;
      c.input(seg, now);
      this.reschedule(c);
      return;
    }
    const l = this.findListener(d.dst, seg.dstPort);
    if (l !== undefined) { this.listenInput(l, seg, d, now, minIss); return; }
    st.drops.noSocket++;
    this.resetNowhere(seg, d.src);
  }

  /** RFC 9293 §3.10.7.1: a segment for no connection is answered with RST (never an RST). */
  private resetNowhere(seg: TcpRepr, remote: IpAddress): void {
    if (seg.flags & RST) return;
    if (seg.flags & ACK) {
      this.sendRaw(remote, seg.dstPort, seg.srcPort, seg.ack, 0, RST, 0, false);
    } else {
      const len = seg.payload.length + (seg.flags & SYN ? 1 : 0) + (seg.flags & FIN ? 1 : 0);
      this.sendRaw(remote, seg.dstPort, seg.srcPort, 0, seqAdd(seg.seq, len), RST | ACK, 0, false);
    }
  }

  /** RFC 9293 §3.10.7.2: SEGMENT ARRIVES in LISTEN. */
  private listenInput(l: TcpListener, seg: TcpRepr, d: InboundDatagram, now: number, minIss: number | undefined): void {
    const st = this.counters;
    const f = seg.flags;
    // first: RST is ignored
    if (f & RST) { st.drops.listenRst++; return; }
    // second: an ACK is answered by RST <SEQ=SEG.ACK> -- unless it carries a valid SYN cookie.
    if (f & ACK) {
      // Cookies are only checked while they may be outstanding (Linux's
      // tcp_synq_no_recent_overflow): a stray-ACK flood costs no hashing otherwise.
      if (!(f & SYN) && this.config.synCookies && now - l.lastCookieAt <= 2 * COOKIE_PERIOD_MS && this.tryCookie(l, seg, d, now)) return;
      st.drops.listenAck++;
      this.resetNowhere(seg, d.src);
      return;
    }
    // third: SYN
    if (!(f & SYN)) { st.drops.listenNoSyn++; return; }
    if (l.acceptQueueFull()) { st.drops.listenOverflow++; st.listenOverflows++; st.listenDrops++; return; }
    if (l.synQueueLength >= l.synBacklog) {
      if (this.config.synCookies) { st.inDelivers++; this.sendCookie(l, seg, d, now); return; }
      st.drops.synQueueFull++;
      st.listenDrops++;
      return;
    }
    if (this.connCount >= this.config.maxConnections) { st.drops.tableFull++; st.listenDrops++; return; }
    const c = new TcpConnection(this, this.config, d.dst, seg.dstPort, d.src, seg.srcPort, l.options, undefined);
    let iss = generateIsn(this.config.isnKey, now, d.dst, seg.dstPort, d.src, seg.srcPort);
    if (minIss !== undefined && seqLe(iss, minIss)) iss = minIss;
    c.initOpen(iss, now, timestampOffset(this.config.isnKey, d.dst, seg.dstPort, d.src, seg.srcPort), this.config.windowScaling && seg.options.windowScale !== undefined, this.config.timestamps && seg.options.timestamp !== undefined, this.config.sack && seg.options.sackPermitted === true);
    c.listener = l;
    l.children.add(c);
    l.synQueueLength++;
    this.attach(c);
    c.initPassive(seg, now);
    c.setState('SYN-RECEIVED', now);
    st.passiveOpens++;
    st.inDelivers++;
    // Data and FIN on a SYN are not queued (the peer retransmits them).
    c.output(now);
    this.reschedule(c);
  }

  private sendCookie(l: TcpListener, seg: TcpRepr, d: InboundDatagram, now: number): void {
    const mssIdx = cookieMssIndex(seg.options.mss ?? 536);
    const cookie = makeSynCookie(this.config.isnKey, now, d.dst, seg.dstPort, d.src, seg.srcPort, seg.seq, mssIdx);
    this.counters.synCookiesSent++;
    l.lastCookieAt = now;
    this.sendRaw(d.src, seg.dstPort, seg.srcPort, cookie, seqAdd(seg.seq, 1), SYN | ACK, Math.min(l.options.receiveBufferSize ?? this.config.receiveBufferSize, 0xffff), true);
  }

  private tryCookie(l: TcpListener, seg: TcpRepr, d: InboundDatagram, now: number): boolean {
    const st = this.counters;
    const cookie = seqAdd(seg.ack, -1);
    const idx = checkSynCookie(this.config.isnKey, now, cookie, d.dst, seg.dstPort, d.src, seg.srcPort, seqAdd(seg.seq, -1));
    if (idx < 0) {
      st.synCookiesFailed++;
      return false;
    }
    if (l.acceptQueueFull()) { st.drops.listenOverflow++; st.listenOverflows++; return true; }
    if (this.connCount >= this.config.maxConnections) { st.drops.tableFull++; st.listenOverflows++; return true; }
    st.synCookiesRecv++;
    st.inDelivers++;
    const c = new TcpConnection(this, this.config, d.dst, seg.dstPort, d.src, seg.srcPort, l.options, undefined);
    c.initOpen(cookie, now, 0, false, false, false);
    c.initFromCookie(seg, COOKIE_MSS_TABLE[idx]!, now);
    c.listener = l;
    l.children.add(c);
    this.attach(c);
    st.passiveOpens++;
    // Straight to ESTABLISHED (the listener's SYN queue never held it).
    l.synQueueLength++;
    c.setState('SYN-RECEIVED', now);
    c.setState('ESTABLISHED', now);
    // Text (and FIN) on the completing ACK.
    c.inEcn = 0; // the cookie does not remember an ECN negotiation: the connection runs without
    c.input(seg, now);
    this.reschedule(c);
    return true;
  }

  /**
   * ICMP errors (RFC 1122 §4.2.3.9, RFC 5927 §4.1 sequence check, RFC 1191 PMTU).
   * Destination unreachable only, through the one table (`icmpErrorErrno`, Linux's
   * icmp_err_convert): a fatal code in SYN-SENT ends the connect with its errno
   * (port → ECONNREFUSED, protocol → ENOPROTOOPT, …); any other is a soft error,
   * reported only if the connection times out (RFC 1122 §4.2.3.9, RFC 5461 §4.1).
   * Codes above 15 are ignored (Linux tcp_v4_err).
   */
  receiveError(err: TransportError, now: number): void {
    this.run(() => {
      const st = this.counters;
      const q = err.quoted;
      if (err.protocol !== PROTO_TCP || q.length < 8) { st.drops.icmpIgnored++; return; }
      const srcPort = (q[0]! << 8) | q[1]!;
      const dstPort = (q[2]! << 8) | q[3]!;
      const seq = ((q[4]! << 24) | (q[5]! << 16) | (q[6]! << 8) | q[7]!) >>> 0;
      const c = this.lookup(err.src, srcPort, err.dst, dstPort);
      if (c === undefined) { st.drops.icmpIgnored++; return; }
      // RFC 5927 §4.1: the quoted sequence number must be in SND.UNA..SND.MAX.
      if (!(seqLe(c.sndUna, seq) && seqLe(seq, c.sndMax))) { st.drops.icmpIgnored++; return; }
      if (err.icmpType !== 3 || err.icmpCode > MAX_UNREACH_CODE) { st.drops.icmpIgnored++; return; } // source quench is deprecated (RFC 6633)
      if (err.icmpCode === 4) {
        // fragmentation needed (RFC 1191 §6.4)
        if (err.nextHopMtu >= 68) c.onPathMtu(err.nextHopMtu, now);
      } else {
        const errno = icmpErrorErrno(3, err.icmpCode)!;
        const e = new TcpError(errno.code, ICMP_ERROR_TEXT[errno.code]);
        if (errno.fatal && c.state === 'SYN-SENT') c.onHardError(e, now);
        else c.softError = e;
      }
      this.reschedule(c);
    }, undefined);
  }

  // ================================================================ output

  /** @internal emits one segment of connection `c`. */
  emitSegment(c: TcpConnection, seq: number, flags: number, dataOff: number, len: number, now: number, ect = false): void {
    const w = this.writer;
    const r = w.repr;
    const o = r.options;
    r.srcPort = c.localPort;
    r.dstPort = c.remotePort;
    r.seq = seq;
    r.ack = flags & ACK ? c.rcvNxt : 0;
    r.flags = flags;
    r.urgent = 0;
    o.mss = undefined;
    o.windowScale = undefined;
    o.sackPermitted = undefined;
    o.sackBlocks = undefined;
    o.timestamp = undefined;
    const syn = (flags & SYN) !== 0;
    if (flags & RST) {
      r.window = 0;
    } else {
      r.window = c.windowField(syn);
    }
    if (syn) {
      o.mss = c.advMss;
      if (c.wsOffered) o.windowScale = c.rcvShift;
      if (c.sackOffered) o.sackPermitted = true; // RFC 2018 §2
      if (c.tsOffered) {
        this.tsVal.tsVal = c.tsNow(now);
        this.tsVal.tsEcr = flags & ACK ? c.tsRecent : 0;
        o.timestamp = this.tsVal;
      }
    } else if (c.tsOk && !(flags & RST)) {
      // RFC 7323 §3.2: TSopt in every non-RST segment once negotiated.
      this.tsVal.tsVal = c.tsNow(now);
      this.tsVal.tsEcr = c.tsRecent;
      o.timestamp = this.tsVal;
    }
    if (c.sackOk && flags & ACK && !syn && !(flags & RST)) {
      // RFC 2018 §3: at most 40 option bytes: 3 blocks with timestamps (12 + 2 + 2 + 8*3 = 40),
      // 4 without (2 + 2 + 8*4 = 36). sndMss leaves room for the TS option only, so on a data
      // segment the blocks must fit in what the payload leaves of the MSS (never on a
      // super-segment: each piece would carry them). Pure ACKs always have room.
      const max = o.timestamp !== undefined ? 3 : 4;
      const fit = len === 0 ? max : len > c.sndMss ? 0 : Math.min(max, Math.floor((c.sndMss - len - 4) / 8));
      const n = fit > 0 ? c.fillSackBlocks(this.sackBlocks, fit) : 0;
      if (n > 0) o.sackBlocks = this.sackViews[n - 1];
    }
    w.conn = c;
    w.dataOff = dataOff;
    w.dataLen = len;
    if (flags & ACK && !(flags & RST)) c.onAckSent();
    if (flags & RST) this.counters.outRsts++;
    this.counters.outSegs++;
    const ip = this.ip;
    let e: SendError | undefined;
    if (ip.checksumOffload === true && ip.sendSegment !== undefined) {
      // Offload path: checksum left partial; more than one MSS of data is a super-segment
      // that the link cuts into pieces of exactly c.sndMss payload bytes (the MSS after
      // TCP options, from the peer's MSS and the path MTU: RFC 9293 §3.7.1, RFC 6691).
      const gso = len > c.sndMss ? c.sndMss : 0;
      w.partial = true;
      e = ip.sendSegment(c.remoteAddress, PROTO_TCP, tcpHeaderLen(r) + len, w, gso, TCP_CSUM_OFFSET, ect ? this.sendOptsEct : this.sendOpts);
      w.partial = false;
      if (e === undefined) {
        this.counters.outCsumOffloaded++;
        if (gso > 0) this.counters.outGsoSegs++;
      }
    } else {
      e = ip.sendWith(c.remoteAddress, PROTO_TCP, tcpHeaderLen(r) + len, w, ect ? this.sendOptsEct : this.sendOpts);
    }
    w.conn = undefined;
    if (e !== undefined) {
      this.counters.sendErrors++;
      // RFC 1191: the path is narrower than we thought; the retransmission uses the smaller MSS.
      if (e === 'EMSGSIZE') c.updateSndMss();
    }
  }

  /** @internal RST from a connection to an unacceptable segment (SEQ=seg.ack). */
  sendRstFor(c: TcpConnection, seq: number, ack: number, flags: number): void {
    this.sendRaw(c.remoteAddress, c.localPort, c.remotePort, seq, ack, flags, 0, false);
  }

  /** Sends a segment that belongs to no connection (RST, SYN-cookie SYN-ACK). */
  private sendRaw(remote: IpAddress, localPort: number, remotePort: number, seq: number, ack: number, flags: number, window: number, mss: boolean): void {
    const w = this.writer;
    const r = w.repr;
    const o = r.options;
    r.srcPort = localPort;
    r.dstPort = remotePort;
    r.seq = seq;
    r.ack = ack;
    r.flags = flags;
    r.window = window;
    r.urgent = 0;
    o.mss = mss ? Math.max(this.config.minMss, mssForMtu(this.ip.interfaceMtu?.(remote) ?? this.ip.mtu, this.ip, remote)) : undefined;
    o.windowScale = undefined;
    o.sackPermitted = undefined;
    o.sackBlocks = undefined;
    o.timestamp = undefined;
    w.conn = undefined;
    w.dataLen = 0;
    if (flags & RST) this.counters.outRsts++;
    this.counters.outSegs++;
    const e = this.ip.sendWith(remote, PROTO_TCP, tcpHeaderLen(r), w, this.sendOpts);
    if (e !== undefined) this.counters.sendErrors++;
  }
}

/** The layer's congestion control; a connection's choice by name overrides it. */
function congestionFactory(c: TcpLayerOptions['congestionControl']): ResolvedConfig['congestionControl'] {
  if (typeof c !== 'function') checkCongestionControl(c);
  const byName = (name: CongestionControlName, smss: number): CongestionControl => (name === 'cubic' ? new Cubic(smss) : new NewReno(smss));
  return (smss, choice) => (choice !== undefined ? byName(choice, smss) : typeof c === 'function' ? c(smss) : byName(c ?? 'cubic', smss));
}

function checkCongestionControl(name: unknown): void {
  if (name !== undefined && name !== 'newreno' && name !== 'cubic') throw usageError('ERR_INVALID_ARG_VALUE', `congestionControl must be 'newreno' or 'cubic'`);
}

function validPort(p: unknown): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= 1 && p <= 65535;
}
