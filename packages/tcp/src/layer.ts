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
import { EphemeralPorts, IPV6_ANY, IPV6_MIN_MTU, addressFamily, MAX_UNREACH_CODE, PROTO_TCP, icmpErrorErrno, isMulticast, pseudoHeaderSum, tupleKey } from '@netstack/ip';
import type { GatherWriter, IcmpErrnoCode, InboundDatagram, IpAddress, IpOutput, SendError, SendOptions, TransportError, TransportProtocol } from '@netstack/ip';
import { NewReno } from './congestion.js';
import type { CongestionControl, CongestionControlName } from './congestion.js';
import { Cubic } from './cubic.js';
import { TcpConnection } from './connection.js';
import type { TcpHandler } from './connection.js';
import { TcpError, usageError } from './errors.js';
import { DeadlineHeap } from './heap.js';
import type { SegmentPayload, TcpSegmentOut } from './host.js';
import { flowLabel, generateIsn, timestampOffset } from './isn.js';
import { TcpListener, openPassive } from './listener.js';
import { InterceptRequest, PendingIntercepts, interceptCost, resolveInterceptLimits } from './intercept.js';
import type { InterceptHandler, InterceptRefusal } from './intercept.js';
import type { ListenHandler } from './listener.js';
import { MemoryAccount } from './ring.js';
import { seqAdd, seqLe } from './seq.js';
import { newTcpStats } from './types.js';
import type { ConnectOptions, ListenOptions, ResolvedConfig, TcpConnectionOptions, TcpLayerOptions, TcpState, TcpStats } from './types.js';
import { ACK, FIN, RST, SYN, clearTcpOptions, emitTcpHeader, fillTcpChecksum, mssForMtu, newTcpRepr, parseTcp, tcpHeaderLen } from './wire.js';
import type { TcpRepr } from './wire.js';

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

/** Bytes i..i+3 of an IPv6 address (16 latin1 characters) as a 32-bit word. */
function word6(a: string, i: number): number {
  return (a.charCodeAt(i) << 24) | (a.charCodeAt(i + 1) << 16) | (a.charCodeAt(i + 2) << 8) | a.charCodeAt(i + 3);
}

/**
 * A hash of the 4-tuple, for either family (bucket chains resolve collisions): no string
 * is built per segment (an IPv6 `tupleKey` is a 38-character string, built, flattened and
 * hashed on every lookup). A mixed pair, which no connection has, keys by `tupleKey`.
 * Exported for the tests only (not from the package index).
 */
export function bucketKey(localAddr: IpAddress, localPort: number, remoteAddr: IpAddress, remotePort: number): number | string {
  if (typeof localAddr === 'string' && typeof remoteAddr === 'string') {
    let h = Math.imul(((remotePort << 16) | localPort) ^ 0x9e3779b9, 0xc2b2ae35);
    for (let i = 0; i < 16; i += 4) {
      h = Math.imul(h ^ word6(remoteAddr, i), 0x85ebca6b);
      h ^= h >>> 13;
      h = Math.imul(h ^ word6(localAddr, i), 0x27d4eb2f);
      h ^= h >>> 15;
    }
    return h | 0;
  }
  if (typeof localAddr !== 'number' || typeof remoteAddr !== 'number') return tupleKey(localAddr, localPort, remoteAddr, remotePort);
  let h = Math.imul(remoteAddr ^ 0x9e3779b9, 0x85ebca6b);
  h ^= Math.imul((remotePort << 16) | localPort, 0xc2b2ae35);
  h ^= Math.imul(localAddr, 0x27d4eb2f);
  h ^= h >>> 15;
  return h | 0;
}

/** Offset of the checksum field in the TCP header (RFC 9293 §3.1): virtio csum_offset. */
const TCP_CSUM_OFFSET = 16;
/**
 * Segments with at least this much data leave from the send buffer in place where the link
 * takes a packet in pieces (`SegmentWriter.gatherLength`); smaller ones are copied, which
 * costs less than a writev of three pieces (and their buffer may be one V8 keeps on its heap).
 */
const GATHER_MIN = 1024;
const NO_BYTES = new Uint8Array(0);

/**
 * The reused writer handed to `ip.sendWith` / `ip.sendSegment`: header from `repr`,
 * payload from a send buffer (`payload`). With `partial` the checksum is left to the link
 * (virtio spec §5.1.6.2, CHECKSUM_PARTIAL): the field holds the folded pseudo-header sum
 * over the whole TCP length, NOT complemented (Linux's tcp_v4_send_check), so the device's
 * "sum from csum_start, complement, store" gives the right value (and, for a super-segment,
 * the kernel's GSO adjusts the length per piece, tcp4_gso_segment).
 */
class SegmentWriter implements GatherWriter {
  /** The layer's own record, for segments of no connection (`sendRaw`). */
  readonly own: TcpRepr = newTcpRepr();
  repr: TcpRepr = this.own;
  payload: SegmentPayload | undefined = undefined;
  dataOff = 0;
  dataLen = 0;
  partial = false;
  /** GatherWriter: the data where the send buffer keeps it (writeHead), dropped after each send. */
  gathered: Uint8Array = NO_BYTES;
  gathered2: Uint8Array | undefined = undefined;
  writePayload(buf: Uint8Array, offset: number, src: IpAddress, dst: IpAddress): void {
    const hl = emitTcpHeader(this.repr, buf, offset);
    if (this.dataLen > 0 && this.payload !== undefined) this.payload.peek(this.dataOff, this.dataLen, buf, offset + hl);
    if (this.partial) {
      this.partialSum(buf, offset, hl, src, dst);
    } else {
      fillTcpChecksum(buf, offset, hl + this.dataLen, src, dst);
    }
  }
  /**
   * GatherWriter: a partial-checksum segment's data (GATHER_MIN bytes or more) may leave from
   * the send buffer itself (the link writes the headers and the data in one writev): its
   * checksum is the link's to complete, so the data is never read here.
   */
  gatherLength(): number {
    const p = this.payload;
    return this.partial && this.dataLen >= GATHER_MIN && p !== undefined && p.viewInto !== undefined ? this.dataLen : 0;
  }
  writeHead(buf: Uint8Array, offset: number, src: IpAddress, dst: IpAddress): void {
    const hl = emitTcpHeader(this.repr, buf, offset);
    this.payload!.viewInto!(this.dataOff, this.dataLen, this);
    this.partialSum(buf, offset, hl, src, dst);
  }
  private partialSum(buf: Uint8Array, offset: number, hl: number, src: IpAddress, dst: IpAddress): void {
    const p = pseudoHeaderSum(src, dst, PROTO_TCP, hl + this.dataLen);
    buf[offset + TCP_CSUM_OFFSET] = p >>> 8;
    buf[offset + TCP_CSUM_OFFSET + 1] = p & 255;
  }
}

/**
 * The layer is the `ListenerHost` (and so the `TcpHost`, host.ts) of its listeners and
 * connections: all they see of it (checked where it hands itself to them, `new
 * TcpConnection(this, ...)`, `new TcpListener(this, ...)`; not an \`implements\` clause,
 * which would put the members kept out of the published types back into them). It demultiplexes
 * segments to them, serialises what they build, and keeps the table and the timers.
 */
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
  private readonly eventQueue: TcpConnection[] = [];
  private readonly listenQueue: TcpListener[] = [];
  /** Events open (see `enter`): callbacks wait until it is back at 0. */
  private depth = 0;
  /**
   * The IP options with an ECN codepoint (RFC 3168 §5), by codepoint: ECT(0) is 2. `source`
   * is set per segment: the connection's local address (one of several the host may have).
   */
  // `transparent`: a connection accepted on a foreign address (intercept.ts) sends from it;
  // the IP layer honours that only when it terminates any address.
  private readonly sendOptsEcn: SendOptions[] = [0, 1, 2, 3].map((tos) => ({ dontFragment: true, tos, source: undefined, transparent: true }));
  private readonly sendOpts = this.sendOptsEcn[0]!;
  /** The same with a Flow Label (RFC 6437), set per segment: IPv6 segments of a connection. */
  private readonly sendOptsLabel: SendOptions[] = [0, 1, 2, 3].map((tos) => ({ dontFragment: true, tos, flowLabel: 0, source: undefined, transparent: true }));
  /** The interception hook (setIntercept) and its pending requests (intercept.ts). */
  private interceptHandler: InterceptHandler | undefined = undefined;
  private readonly intercepts: PendingIntercepts;
  /** Requests to hand to the hook, and cancellations to report, when the outermost event closes. */
  private readonly interceptQueue: { req: InterceptRequest; why: 'new' | 'reset' | 'expired' | 'closed'; now: number }[] = [];

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
      // Linux's tcp_wmem[2] (4 MiB); a sendBufferSize given alone stays fixed.
      sendBufferMax: Math.max(o.sendBufferMax ?? (o.sendBufferSize !== undefined ? 0 : 4 * 1024 * 1024), o.sendBufferSize ?? 256 * 1024),
      receiveBufferSize: o.receiveBufferSize ?? 256 * 1024,
      // Linux's tcp_rmem[2] (6 MiB); a receiveBufferSize given alone stays fixed.
      receiveBufferMax: Math.max(o.receiveBufferMax ?? (o.receiveBufferSize !== undefined ? 0 : 6 * 1024 * 1024), o.receiveBufferSize ?? 256 * 1024),
      // 256: with autotuned send and receive buffers, 25 % reordering over a window of MBs makes
      // hundreds of holes; at 64 the receiver dropped 600-800 segments per 4 MiB (sndbuf.test.ts's note).
      maxOutOfOrderRanges: o.maxOutOfOrderRanges ?? 256,
      maxConnections: o.maxConnections ?? 65_536,
      maxTimeWait: o.maxTimeWait ?? 16_384,
      memory: new MemoryAccount(o.maxBufferMemory ?? 256 * 1024 * 1024, 4096, o.receiveBufferBudget ?? 64 * 1024 * 1024,
        o.sendBufferBudget ?? 64 * 1024 * 1024),
      windowScaling: o.windowScaling ?? true,
      timestamps: o.timestamps ?? true,
      sack: o.sack ?? true,
      rack: o.rack ?? true,
      ecn: o.ecn ?? 'passive',
      pacing: o.pacing ?? true,
      pacingSsRatio: o.pacingSsRatio ?? 200,
      pacingCaRatio: o.pacingCaRatio ?? 120,
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
    if (!(this.config.memory.growLimit >= 0)) throw usageError('ERR_INVALID_ARG_VALUE', 'option receiveBufferBudget must be a non-negative number');
    if (!(this.config.memory.sndGrowLimit >= 0)) throw usageError('ERR_INVALID_ARG_VALUE', 'option sendBufferBudget must be a non-negative number');
    this.ports = new EphemeralPorts(this.config.isnKey);
    for (const [k, v] of Object.entries(this.config)) {
      if (typeof v === 'number' && !(v >= 0)) throw usageError('ERR_INVALID_ARG_VALUE', `option ${k} must be a non-negative number`);
    }
    this.counters = newTcpStats();
    this.intercepts = new PendingIntercepts(resolveInterceptLimits(o.intercept));
  }

  /**
   * Installs (or, with undefined, removes) the interception hook (intercept.ts): it sees
   * every SYN for a foreign destination (an IP layer with `acceptAnyDestination`) that no
   * connection takes, and every SYN to a listener flagged `intercept`, before anything is
   * answered, and decides with `request.accept(...)` / `request.refuse(...)`. Without a
   * hook such SYNs are answered as always (a foreign one with RST from its destination).
   * Removing it leaves pending requests to expire.
   */
  setIntercept(handler: InterceptHandler | undefined): void {
    if (handler !== undefined && typeof handler !== 'function') throw usageError('ERR_INVALID_ARG_TYPE', 'intercept handler must be a function');
    this.interceptHandler = handler;
  }

  /**
   * Ends every pending interception request ('closed': `oncancel` runs, later decisions are
   * no-ops); a stack closing calls it. Nothing is sent: the clients' SYNs time out.
   */
  cancelIntercepts(now: number): void {
    this.enter();
    try {
      for (const r of this.intercepts.clear()) {
        r.outcomeValue = 'closed';
        this.interceptQueue.push({ req: r, why: 'closed', now });
      }
    } finally {
      this.exit(undefined);
    }
  }

  /** Interception requests pending now. */
  get pendingIntercepts(): number { return this.intercepts.size; }

  /** A snapshot of the counters (/proc/net/snmp `Tcp:` names, plus drop reasons and extras). */
  stats(): TcpStats {
    const m = this.config.memory;
    return {
      ...this.counters, BufferMemory: m.used, MemoryPressure: m.pressureEvents, RcvBufAutotuned: m.grown, SndBufAutotuned: m.sndGrown,
      InterceptPending: this.intercepts.size, InterceptPendingBytes: this.intercepts.bytes, dropped: { ...this.counters.dropped },
    };
  }

  /** Connections in the table (all states but LISTEN, TIME-WAIT included). */
  get connectionCount(): number { return this.connCount; }

  /** @internal Connections in TIME-WAIT now (kept by onStateChange; bounded by config.maxTimeWait). */
  timeWaitCount = 0;

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
    return Math.min(this.timers.peekDeadline(), this.intercepts.pollAt());
  }

  /** Runs every timer due at `now`. */
  poll(now: number): void {
    this.enter();
    try {
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
      if (this.intercepts.size > 0) {
        for (const r of this.intercepts.expire(now)) {
          r.outcomeValue = 'expired';
          this.counters.InterceptExpired++;
          this.interceptQueue.push({ req: r, why: 'expired', now });
        }
      }
    } finally {
      this.exit(undefined);
    }
  }

  // ================================================================ events

  /**
   * @internal The one event bracket: every entry point (a segment, an ICMP error, the
   * timers, each user call of the layer, a connection or a listener) is
   *   enter(); try { ... } finally { exit(conn) }
   * Handler callbacks queued meanwhile are delivered when the outermost event closes, so
   * they never run inside the state machine. No closure: the hot paths allocate nothing.
   */
  enter(): void {
    this.depth++;
  }

  /** @internal closes an event opened by `enter`: re-arms `conn`'s timer, flushes callbacks when outermost. */
  exit(conn: TcpConnection | undefined): void {
    if (conn !== undefined) this.reschedule(conn);
    if (--this.depth === 0) this.flushEvents();
  }

  /** Delivers queued callbacks; inside them the depth is 1, so calls they make do not flush again. */
  private flushEvents(): void {
    this.depth++;
    try {
      while (this.eventQueue.length > 0 || this.listenQueue.length > 0 || this.interceptQueue.length > 0) {
        const c = this.eventQueue.shift();
        if (c !== undefined) {
          c.eventQueued = false;
          c.deliverEvents();
          continue;
        }
        const l = this.listenQueue.shift();
        if (l !== undefined) { l.deliverEvents(); continue; }
        const { req, why, now } = this.interceptQueue.shift()!;
        if (why === 'new') {
          // Decided (or cancelled) before its turn: nothing to ask.
          if (req.pending) {
            const h = this.interceptHandler;
            if (h !== undefined) h(req, now);
          }
        } else {
          req.oncancel?.(req, why);
        }
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
  queueAcceptable(l: TcpListener): void {
    this.listenQueue.push(l);
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

  /** @internal puts a new connection into the table. */
  attach(c: TcpConnection): void {
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
    c.listener?.childDetached(c);
  }

  /** @internal bookkeeping for every state change (the choke point calls this). */
  onStateChange(c: TcpConnection, prev: TcpState, next: TcpState): void {
    const st = this.counters;
    const wasEst = prev === 'ESTABLISHED' || prev === 'CLOSE-WAIT';
    const isEst = next === 'ESTABLISHED' || next === 'CLOSE-WAIT';
    if (wasEst && !isEst) st.CurrEstab--;
    if (!wasEst && isEst) st.CurrEstab++;
    // RFC 1213 tcpEstabResets: ESTABLISHED/CLOSE-WAIT -> CLOSED.
    if (wasEst && next === 'CLOSED') st.EstabResets++;
    if (next === 'TIME-WAIT') this.timeWaitCount++;
    else if (prev === 'TIME-WAIT') this.timeWaitCount--;
    c.listener?.childStateChanged(c, prev, next);
  }

  // ================================================================ user calls

  /**
   * Active OPEN (RFC 9293 §3.10.1): sends a SYN now. Throws EADDRINUSE when the
   * 4-tuple exists, EADDRNOTAVAIL when no ephemeral port is free, ENETUNREACH
   * without a route, ENOBUFS when the table is full.
   */
  connect(opts: ConnectOptions, now: number, handler: TcpHandler): TcpConnection {
    this.enter();
    try {
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
      const c = new TcpConnection(this, local, port, remote, opts.remotePort, opts.options ?? {}, handler);
      const iss = generateIsn(this.config.isnKey, now, local, port, remote, opts.remotePort);
      c.initOpen(iss, now, timestampOffset(this.config.isnKey, local, port, remote, opts.remotePort), this.config.windowScaling, this.config.timestamps, this.config.sack);
      this.attach(c);
      this.counters.ActiveOpens++;
      c.setState('SYN-SENT', now);
      c.output(now);
      this.reschedule(c);
      return c;
    } finally {
      this.exit(undefined);
    }
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
    const fam = addr === 0 ? opts.family : undefined;
    let port = opts.port;
    if (port === 0) {
      const p = this.ports.select(addr, 0, 0, (q) => !this.listenClash(q, addr, fam));
      if (p === undefined) throw usageError('EADDRINUSE', 'no ephemeral port available');
      port = p;
      opts = { ...opts, port };
    } else if (this.listenClash(port, addr, fam)) throw usageError('EADDRINUSE', `port ${port} is in use`);
    const l = new TcpListener(this, opts, handler);
    const list = this.listeners.get(port);
    if (list === undefined) this.listeners.set(port, [l]);
    else list.push(l);
    return l;
  }

  /**
   * A listener on `port` whose address overlaps `addr` (ANY overlaps every address of the
   * families it accepts: a `family`-limited ANY leaves the other family's addresses free).
   */
  private listenClash(port: number, addr: IpAddress, fam: 'IPv4' | 'IPv6' | undefined): boolean {
    const list = this.listeners.get(port);
    if (list === undefined) return false;
    const takes = (f: 'IPv4' | 'IPv6' | undefined, b: IpAddress): boolean => f === undefined || addressFamily(b) === f;
    return list.some((l) => {
      if (l.address === 0 && addr === 0) return l.family === undefined || fam === undefined || l.family === fam;
      if (l.address === 0) return takes(l.family, addr);
      if (addr === 0) return takes(fam, l.address);
      return l.address === addr;
    });
  }

  /** @internal */
  closeListener(l: TcpListener, now: number): void {
    this.enter();
    try {
      const list = this.listeners.get(l.port);
      if (list !== undefined) {
        const i = list.indexOf(l);
        if (i >= 0) list.splice(i, 1);
        if (list.length === 0) this.listeners.delete(l.port);
      }
      // Reset the half-open and the not-yet-accepted connections (Linux behaviour).
      for (const c of [...l.children]) c.abortInternal(now);
    } finally {
      this.exit(undefined);
    }
  }

  private findListener(addr: IpAddress, port: number): TcpListener | undefined {
    const list = this.listeners.get(port);
    if (list === undefined) return undefined;
    for (const l of list) if (l.address === addr) return l;
    for (const l of list) if (l.address === 0 && (l.family === undefined || l.family === addressFamily(addr))) return l;
    return undefined;
  }

  // ================================================================ input

  receive(d: InboundDatagram, now: number): void {
    this.enter();
    try {
      this.receiveInner(d, now);
    } finally {
      this.exit(undefined);
    }
  }

  private receiveInner(d: InboundDatagram, now: number): void {
    const st = this.counters;
    st.InSegs++;
    // The link vouched for the checksum (a partial one from the local kernel holds only the
    // pseudo-header sum): verifying it would reject good segments.
    const trusted = d.checksumVerified === true;
    if (trusted) st.InCsumTrusted++;
    const seg = parseTcp(d.payload, d.src, d.dst, this.config.verifyChecksum && !trusted, this.rx);
    if (typeof seg === 'string') {
      st.InErrs++;
      switch (seg) {
        case 'truncated': st.dropped.Truncated++; break;
        case 'bad-data-offset': st.dropped.BadDataOffset++; break;
        case 'bad-option': st.dropped.BadOption++; break;
        case 'bad-checksum': st.dropped.BadChecksum++; st.InCsumErrors++; break;
        case 'bad-port': st.dropped.BadPort++; break;
      }
      return;
    }
    // RFC 1122 §4.2.3.10: segments to broadcast/multicast addresses are not TCP's.
    if (d.toBroadcast) { st.dropped.Broadcast++; return; }
    let c = this.lookup(d.dst, seg.dstPort, d.src, seg.srcPort);
    let minIss: number | undefined;
    const foreignHook = d.foreign === true && this.interceptHandler !== undefined;
    if (c !== undefined && c.state === 'TIME-WAIT' && (seg.flags & (SYN | ACK | RST)) === SYN && c.acceptsNewSyn(seg) &&
      (foreignHook || (d.foreign !== true && this.findListener(d.dst, seg.dstPort) !== undefined))) {
      // RFC 9293 §3.10.7.4 / RFC 6191: a new SYN may reopen a TIME-WAIT connection,
      // with an ISS above the old SND.NXT.
      minIss = seqAdd(c.sndNxt, 0x20000);
      st.TimeWaitReused++;
      c.setState('CLOSED', now);
      c = undefined;
    }
    if (c !== undefined) {
      st.InDelivers++;
      c.input(seg, now, d.tos & 3);
      this.reschedule(c);
      return;
    }
    if (this.intercepts.size > 0) {
      const r = this.intercepts.get(tupleKey(d.dst, seg.dstPort, d.src, seg.srcPort));
      if (r !== undefined) { this.pendingSegment(r, seg, now); return; }
    }
    // Listeners take our own addresses only: a wildcard listener is not IP_TRANSPARENT, so a
    // foreign destination goes to the interception hook (or is reset), never to it.
    const l = d.foreign === true ? undefined : this.findListener(d.dst, seg.dstPort);
    const pureSyn = (seg.flags & (SYN | ACK | RST)) === SYN;
    if (l !== undefined && !(l.intercept && pureSyn && this.interceptHandler !== undefined)) { l.input(seg, d, now, minIss); return; }
    if (pureSyn && (l !== undefined || foreignHook)) {
      this.interceptSyn(seg, d, now, minIss, l?.options);
      return;
    }
    st.dropped.NoSocket++;
    this.resetNowhere(seg, d.src, d.dst);
  }

  // ================================================================ interception (intercept.ts)

  /** A SYN becomes a pending request, handed to the hook when the event closes. */
  private interceptSyn(seg: TcpRepr, d: InboundDatagram, now: number, minIss: number | undefined, listenerOptions: TcpConnectionOptions | undefined): void {
    const st = this.counters;
    const key = tupleKey(d.dst, seg.dstPort, d.src, seg.srcPort);
    // Bounded before anything is copied (the request's cost: intercept.ts).
    if (!this.intercepts.hasRoom(interceptCost(d.packet.length))) { st.dropped.InterceptFull++; return; }
    const r = new InterceptRequest(this, seg, d.dst, d.src, d.packet, d.headerLength, d.ttl, d.tos, now, d.foreign === true, minIss, listenerOptions, key);
    this.intercepts.add(r);
    st.InDelivers++;
    st.InterceptRequests++;
    this.interceptQueue.push({ req: r, why: 'new', now });
  }

  /**
   * A segment for a tuple whose interception is pending. A SYN (the client's
   * retransmission) is absorbed; an RST whose sequence number is the SYN's (+1) ends the
   * request (RFC 9293 §3.10.7.3's check, we having sent nothing); anything else is dropped.
   */
  private pendingSegment(r: InterceptRequest, seg: TcpRepr, now: number): void {
    const st = this.counters;
    if (seg.flags & RST) {
      if (seg.seq === r.syn.seq || seg.seq === seqAdd(r.syn.seq, 1)) {
        this.intercepts.remove(r);
        r.outcomeValue = 'reset';
        st.InDelivers++;
        st.InterceptClientResets++;
        this.interceptQueue.push({ req: r, why: 'reset', now });
        return;
      }
      st.dropped.InterceptStray++;
      return;
    }
    if ((seg.flags & (SYN | ACK)) === SYN) { st.dropped.InterceptSynAbsorbed++; return; }
    st.dropped.InterceptStray++;
  }

  /** @internal (the requests' `InterceptOwner`: no `implements` clause, which would publish these) `InterceptRequest.accept`. */
  acceptIntercept(r: InterceptRequest, handler: TcpHandler, options: TcpConnectionOptions | undefined, now: number): TcpConnection | undefined {
    checkCongestionControl(options?.congestionControl);
    if (this.connCount >= this.config.maxConnections) throw usageError('ENOBUFS', 'connection table full');
    this.enter();
    let c: TcpConnection | undefined;
    try {
      this.intercepts.remove(r);
      r.outcomeValue = 'accepted';
      this.counters.InterceptAccepted++;
      c = openPassive(this, r.syn, r.localAddress, r.remoteAddress, options ?? r.listenerOptions ?? {}, handler, undefined, r.minIss, now);
      return c;
    } finally {
      this.exit(c);
    }
  }

  /** @internal (InterceptOwner) `InterceptRequest.refuse`. */
  refuseIntercept(r: InterceptRequest, kind: InterceptRefusal, now: number): boolean {
    this.enter();
    try {
      this.intercepts.remove(r);
      r.outcomeValue = 'refused';
      const st = this.counters;
      switch (kind) {
        case 'rst':
          // The answer of a closed port (RFC 9293 §3.10.7.1), from the original destination.
          st.InterceptRefusedRst++;
          this.resetNowhere(r.syn, r.remoteAddress, r.localAddress);
          break;
        case 'drop':
          st.InterceptDropped++;
          break;
        default: {
          st.InterceptRefusedIcmp++;
          // Destination unreachable quoting the SYN, in ICMPv4 codes as transports speak
          // them (RFC 792 / RFC 1812 §5.2.7.1): 0 net, 1 host, 13 communication
          // administratively prohibited. The IPv6 layer answers each with its RFC 4443 §3.1
          // code (0 no route, 3 address unreachable, 1 administratively prohibited).
          const code = kind === 'net-unreachable' ? 0 : kind === 'host-unreachable' ? 1 : 13;
          const p = r.packet;
          this.ip.reportUnreachable(code, {
            src: r.remoteAddress, dst: r.localAddress, protocol: PROTO_TCP, ttl: r.ttl, tos: r.tos, payload: p.subarray(r.headerLength),
            packet: p, headerLength: r.headerLength, toBroadcast: false, reassembled: false, checksumVerified: false, foreign: r.foreign,
          }, now);
        }
      }
      return true;
    } finally {
      this.exit(undefined);
    }
  }

  /** @internal RFC 9293 §3.10.7.1: a segment for no connection is answered with RST (never an RST). */
  resetNowhere(seg: TcpRepr, remote: IpAddress, local?: IpAddress): void {
    if (seg.flags & RST) return;
    if (seg.flags & ACK) {
      this.sendRaw(remote, seg.dstPort, seg.srcPort, seg.ack, 0, RST, 0, false, local);
    } else {
      const len = seg.payload.length + (seg.flags & SYN ? 1 : 0) + (seg.flags & FIN ? 1 : 0);
      this.sendRaw(remote, seg.dstPort, seg.srcPort, 0, seqAdd(seg.seq, len), RST | ACK, 0, false, local);
    }
  }

  /**
   * ICMP errors (RFC 1122 §4.2.3.9, RFC 5927 §4.1 sequence check, RFC 1191 PMTU):
   * destination unreachable (codes 0..15), time exceeded and parameter problem, through the
   * one table (`icmpErrorErrno`, Linux's icmp_err_convert). In SYN-SENT any of them ends the
   * connect at once with its errno (port → ECONNREFUSED, host unreachable → EHOSTUNREACH,
   * time exceeded → EHOSTUNREACH, …), as Linux's tcp_v4_err/tcp_v6_err do for a connect in
   * progress (what a Node client on Linux sees; RFC 1122 §4.2.3.9 would keep the soft codes
   * soft, RFC 5461 §4.1 discusses why stacks abort). Once connected, every one is a soft
   * error, reported only if the connection times out. Unreachable codes above 15 and other
   * types are ignored (Linux tcp_v4_err).
   */
  receiveError(err: TransportError, now: number): void {
    this.enter();
    try {
      const st = this.counters;
      const c = this.errorConnection(err);
      if (c === undefined) { st.dropped.IcmpIgnored++; return; }
      const known = (err.icmpType === 3 && err.icmpCode <= MAX_UNREACH_CODE) || err.icmpType === 11 || err.icmpType === 12;
      if (!known) { st.dropped.IcmpIgnored++; return; } // source quench is deprecated (RFC 6633)
      if (err.icmpType === 3 && err.icmpCode === 4) {
        // fragmentation needed (RFC 1191 §6.4), or an ICMPv6 Packet Too Big translated to it:
        // an IPv6 path MTU is never below 1280, a smaller report means 1280 (RFC 8201 §4).
        if (typeof err.dst !== 'number') c.onPathMtu(Math.max(IPV6_MIN_MTU, err.nextHopMtu), now);
        else if (err.nextHopMtu >= 68) c.onPathMtu(err.nextHopMtu, now);
      } else {
        const errno = icmpErrorErrno(err.icmpType, err.icmpCode)!;
        const e = new TcpError(errno.code, ICMP_ERROR_TEXT[errno.code]);
        if (c.state === 'SYN-SENT') c.onHardError(e, now);
        else c.softError = e;
      }
      this.reschedule(c);
    } finally {
      this.exit(undefined);
    }
  }

  /**
   * The connection an ICMP error is about, or undefined: RFC 5927 §4.1, the quoted
   * 4-tuple must be a connection and its sequence number in SND.UNA..SND.MAX.
   */
  private errorConnection(err: TransportError): TcpConnection | undefined {
    const q = err.quoted;
    if (err.protocol !== PROTO_TCP || q.length < 8) return undefined;
    const srcPort = (q[0]! << 8) | q[1]!;
    const dstPort = (q[2]! << 8) | q[3]!;
    const seq = ((q[4]! << 24) | (q[5]! << 16) | (q[6]! << 8) | q[7]!) >>> 0;
    const c = this.lookup(err.src, srcPort, err.dst, dstPort);
    if (c === undefined || !(seqLe(c.sndUna, seq) && seqLe(seq, c.sndMax))) return undefined;
    return c;
  }

  /**
   * The IP layer asks before a fragmentation-needed / Packet Too Big lowers its path MTU:
   * only a report about a segment in flight may (RFC 5927 §7.2: a blind forged report
   * would otherwise take every connection to that destination down to the PMTU floor).
   */
  acceptsPathMtu(err: TransportError): boolean {
    return this.errorConnection(err) !== undefined;
  }

  // ================================================================ output

  /**
   * @internal Sends a segment a connection built (host.ts `TcpHost.send`): serialises it
   * (checksum here, or left to the link with segmentation offload) and counts it.
   */
  send(remote: IpAddress, seg: TcpSegmentOut, local?: IpAddress): SendError | undefined {
    const w = this.writer;
    const len = seg.dataLen;
    w.repr = seg.repr;
    w.payload = seg.payload;
    w.dataOff = seg.dataOff;
    w.dataLen = len;
    if (seg.repr.flags & RST) this.counters.OutRsts++;
    this.counters.OutSegs++;
    const ip = this.ip;
    let opts: SendOptions;
    if (seg.flowLabel !== 0) {
      opts = this.sendOptsLabel[seg.ecn & 3]!;
      opts.flowLabel = seg.flowLabel;
    } else {
      opts = this.sendOptsEcn[seg.ecn & 3]!;
    }
    opts.source = local; // the connection's address: ours, one of several (the IP layer checks)
    let e: SendError | undefined;
    // Offload (checksum and segmentation) where the IP layer has it towards `remote`'s
    // family (`offloadTo`); otherwise checksummed here, one MSS at most per datagram.
    if (seg.offload && this.offloadTo(remote) && ip.sendSegment !== undefined) {
      // Offload path: checksum left partial; more than one MSS of data is a super-segment
      // that the link cuts into pieces of exactly gsoMss payload bytes (the connection's MSS
      // after TCP options, from the peer's MSS and the path MTU: RFC 9293 §3.7.1, RFC 6691).
      const gso = len > seg.gsoMss ? seg.gsoMss : 0;
      w.partial = true;
      e = ip.sendSegment(remote, PROTO_TCP, tcpHeaderLen(seg.repr) + len, w, gso, TCP_CSUM_OFFSET, opts);
      w.partial = false;
      if (e === undefined) {
        this.counters.OutCsumOffloaded++;
        if (gso > 0) this.counters.OutGsoSegs++;
      }
    } else {
      e = ip.sendWith(remote, PROTO_TCP, tcpHeaderLen(seg.repr) + len, w, opts);
    }
    w.repr = w.own;
    w.payload = undefined;
    w.gathered = NO_BYTES;
    w.gathered2 = undefined;
    if (e !== undefined) this.counters.SendErrors++;
    return e;
  }

  /** @internal (TcpHost) the MTU of the interface towards `remote`. */
  interfaceMtu(remote: IpAddress): number {
    return this.ip.interfaceMtu?.(remote) ?? this.ip.mtu;
  }

  /** @internal (TcpHost) */
  pathMtu(remote: IpAddress): number {
    return this.ip.pathMtu(remote);
  }

  /** @internal (TcpHost) MTU less the IP layer's header towards `remote` and the fixed TCP header (RFC 9293 §3.7.1). */
  mssForMtu(mtu: number, remote: IpAddress): number {
    return mssForMtu(mtu, this.ip, remote);
  }

  /**
   * The IP layer takes segments with a partial checksum towards `remote`
   * (`IpOutput.checksumOffloadTo`; without it, `checksumOffload` for IPv4 remotes only).
   */
  private offloadTo(remote: IpAddress): boolean {
    const ip = this.ip;
    if (ip.checksumOffloadTo !== undefined) return ip.checksumOffloadTo(remote);
    return typeof remote === 'number' && ip.checksumOffload === true;
  }

  /**
   * @internal (TcpHost) the largest transport length with segmentation offload; 0 without.
   * The IP layer's answer says whether super-segments may go (TSO4 / TSO6 as the link agreed).
   */
  maxSegmentPayload(remote: IpAddress): number {
    const ip = this.ip;
    return ip.maxSegmentPayload !== undefined && this.offloadTo(remote) ? ip.maxSegmentPayload(remote) : 0;
  }

  /** @internal Sends a segment that belongs to no connection (RST, SYN-cookie SYN-ACK). */
  sendRaw(remote: IpAddress, localPort: number, remotePort: number, seq: number, ack: number, flags: number, window: number, mss: boolean, local?: IpAddress): void {
    const w = this.writer;
    const r = w.own;
    const o = r.options;
    r.srcPort = localPort;
    r.dstPort = remotePort;
    r.seq = seq;
    r.ack = ack;
    r.flags = flags;
    r.window = window;
    r.urgent = 0;
    clearTcpOptions(o);
    if (mss) o.mss = Math.max(this.config.minMss, this.mssForMtu(this.interfaceMtu(remote), remote));
    w.repr = r;
    w.payload = undefined;
    w.dataLen = 0;
    if (flags & RST) this.counters.OutRsts++;
    this.counters.OutSegs++;
    let opts: SendOptions = this.sendOpts;
    if (typeof remote === 'string') {
      // The label the connection of this tuple has (or would have): RFC 6437 §3. Our
      // address is the one the IP layer sends from (the connection's, with one address).
      opts = this.sendOptsLabel[0]!;
      opts.flowLabel = flowLabel(this.config.isnKey, local ?? this.ip.sourceFor(remote) ?? remote, localPort, remote, remotePort);
    }
    // From the address the segment we answer was sent to (one of several the host may have).
    opts.source = local;
    const e = this.ip.sendWith(remote, PROTO_TCP, tcpHeaderLen(r), w, opts);
    if (e !== undefined) this.counters.SendErrors++;
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
