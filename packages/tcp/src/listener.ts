/**
 * A passive open (LISTEN): its SYN queue and accept queue, and RFC 9293 §3.10.7.2
 * (SEGMENT ARRIVES in LISTEN) with SYN cookies (RFC 4987 §3.6) for when the SYN queue
 * is full. The layer finds the listener for a segment no connection takes and calls
 * `input`; the listener makes connections and hands them to the layer's table.
 */
import type { InboundDatagram, IpAddress } from '@netstack/ip';
import { EV_CLOSED, TcpConnection } from './connection.js';
import type { TcpHandler } from './connection.js';
import type { TcpHost } from './host.js';
import { COOKIE_MSS_TABLE, COOKIE_PERIOD_MS, checkSynCookie, cookieMssIndex, generateIsn, makeSynCookie, timestampOffset } from './isn.js';
import { seqAdd, seqLe } from './seq.js';
import type { ListenOptions, TcpConnectionOptions, TcpState } from './types.js';
import { ACK, RST, SYN } from './wire.js';
import type { TcpRepr } from './wire.js';

export interface ListenHandler {
  /** A connection completed its handshake and waits in the accept queue. */
  onAcceptable?(listener: TcpListener): void;
}

/** What a listener needs of the layer beyond what its connections need. */
export interface ListenerHost extends TcpHost<TcpConnection> {
  /** Connections in the table (against `config.maxConnections`). */
  readonly connectionCount: number;
  /** Puts a new connection into the table. */
  attach(c: TcpConnection): void;
  /** Re-arms `c`'s timer. */
  reschedule(c: TcpConnection): void;
  /** RFC 9293 §3.10.7.1: RST for a segment that belongs to no connection (never to an RST). */
  resetNowhere(seg: TcpRepr, remote: IpAddress, local?: IpAddress): void;
  /**
   * A segment that belongs to no connection (the cookie SYN-ACK); `mss`: with our MSS option;
   * `local`: our address the answer comes from (the one the segment answered was sent to),
   * else the IP layer's choice.
   */
  sendRaw(remote: IpAddress, localPort: number, remotePort: number, seq: number, ack: number, flags: number, window: number, mss: boolean, local?: IpAddress): void;
  /** The listener has completed connections: call `deliverEvents` when the outermost event closes. */
  queueAcceptable(l: TcpListener): void;
  /** Stops listening: out of the port table, children reset. */
  closeListener(l: TcpListener, now: number): void;
}

/**
 * RFC 9293 §3.10.7.2 third (SYN in LISTEN), the part that makes the connection: ISS (RFC
 * 6528, above `minIss` for a TIME-WAIT reuse, RFC 6191), the options offered back only
 * where the SYN offered them (window scale, timestamps, SACK-permitted: RFC 7323 §1.3,
 * RFC 2018 §2; MSS and ECN setup in `initPassive`), SYN-RECEIVED, and the SYN-ACK sent.
 * `parent`: the listener that owns it until accepted; none for an intercepted SYN accepted
 * by its hook (intercept.ts), whose `handler` holds it from the start. `local`/`remote`:
 * the SYN's destination and source.
 */
export function openPassive(
  host: ListenerHost, seg: TcpRepr, local: IpAddress, remote: IpAddress, options: TcpConnectionOptions, handler: TcpHandler | undefined,
  parent: TcpListener | undefined, minIss: number | undefined, now: number,
): TcpConnection {
  const cfg = host.config;
  const c = new TcpConnection(host, local, seg.dstPort, remote, seg.srcPort, options, handler);
  let iss = generateIsn(cfg.isnKey, now, local, seg.dstPort, remote, seg.srcPort);
  if (minIss !== undefined && seqLe(iss, minIss)) iss = minIss;
  c.initOpen(iss, now, timestampOffset(cfg.isnKey, local, seg.dstPort, remote, seg.srcPort), cfg.windowScaling && seg.options.windowScale !== undefined, cfg.timestamps && seg.options.timestamp !== undefined, cfg.sack && seg.options.sackPermitted === true);
  if (parent !== undefined) {
    c.listener = parent;
    parent.children.add(c);
    parent.synQueueLength++;
  }
  host.attach(c);
  c.initPassive(seg, now);
  c.setState('SYN-RECEIVED', now);
  host.counters.PassiveOpens++;
  // Data and FIN on a SYN are not queued (the peer retransmits them).
  c.output(now);
  host.reschedule(c);
  return c;
}

/** A passive open (LISTEN). */
/** Structurally the `TcpParent` (host.ts) of its connections (no `implements` clause: its parent side stays out of the published types). */
export class TcpListener {
  readonly port: number;
  readonly address: IpAddress;
  /** With address ANY: the one family accepted (ListenOptions.family); undefined: both. */
  readonly family: 'IPv4' | 'IPv6' | undefined;
  readonly backlog: number;
  readonly synBacklog: number;
  readonly options: TcpConnectionOptions;
  /** New connections go to the layer's interception hook first (ListenOptions.intercept). */
  readonly intercept: boolean;
  /** @internal */ synQueueLength = 0;
  /** @internal */ readonly acceptQueue: TcpConnection[] = [];
  /** @internal every connection still owned by this listener (SYN queue + accept queue) */
  readonly children = new Set<TcpConnection>();
  /** @internal */ notifyPending = false;
  /** @internal when this listener last answered with a SYN cookie (-Infinity: never) */
  lastCookieAt = -Infinity;
  private closed = false;

  /** Made by TcpLayer.listen(), not by users (not tagged internal: a stripped constructor would read as a public one without arguments). */
  constructor(private readonly host: ListenerHost, opts: ListenOptions, readonly handler: ListenHandler) {
    this.port = opts.port;
    this.address = opts.address ?? 0;
    this.family = this.address === 0 ? opts.family : undefined;
    this.backlog = opts.backlog ?? 128;
    this.synBacklog = opts.synBacklog ?? this.backlog;
    this.options = opts.options ?? {};
    this.intercept = opts.intercept === true;
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
    this.host.enter();
    try {
      c.replayForAccept();
    } finally {
      this.host.exit(c);
    }
    return c;
  }

  /** Stops listening; connections not yet accepted are reset. */
  close(now: number): void {
    if (this.closed) return;
    this.closed = true;
    this.host.closeListener(this, now);
  }

  /** @internal a child left SYN-RECEIVED: into the accept queue unless it closed. */
  childStateChanged(c: TcpConnection, prev: TcpState, next: TcpState): void {
    if (prev !== 'SYN-RECEIVED') return;
    this.synQueueLength--;
    if (next !== 'CLOSED' && !this.closed) {
      c.inAcceptQueue = true;
      this.acceptQueue.push(c);
      if (!this.notifyPending) { this.notifyPending = true; this.host.queueAcceptable(this); }
    }
  }

  /** @internal a child closed before it was accepted. */
  childDetached(c: TcpConnection): void {
    if (c.inAcceptQueue) {
      const i = this.acceptQueue.indexOf(c);
      if (i >= 0) this.acceptQueue.splice(i, 1);
      c.inAcceptQueue = false;
    }
    c.listener = undefined;
    this.children.delete(c);
    // Nobody holds this connection yet: no callbacks to deliver.
    c.events &= ~EV_CLOSED;
  }

  /** @internal tells the handler that connections wait (called by the layer, outside processing). */
  deliverEvents(): void {
    this.notifyPending = false;
    if (this.acceptQueue.length > 0 && !this.closed) this.handler.onAcceptable?.(this);
  }

  /**
   * @internal RFC 9293 §3.10.7.2: SEGMENT ARRIVES in LISTEN. `minIss`: a SYN that reopens
   * a TIME-WAIT connection must start above its old SND.NXT (RFC 6191).
   */
  input(seg: TcpRepr, d: InboundDatagram, now: number, minIss: number | undefined): void {
    const host = this.host;
    const cfg = host.config;
    const st = host.counters;
    const f = seg.flags;
    // first: RST is ignored
    if (f & RST) { st.dropped.ListenRst++; return; }
    // second: an ACK is answered by RST <SEQ=SEG.ACK> -- unless it carries a valid SYN cookie.
    if (f & ACK) {
      // Cookies are only checked while they may be outstanding (Linux's
      // tcp_synq_no_recent_overflow): a stray-ACK flood costs no hashing otherwise.
      if (!(f & SYN) && cfg.synCookies && now - this.lastCookieAt <= 2 * COOKIE_PERIOD_MS && this.tryCookie(seg, d, now)) return;
      st.dropped.ListenAck++;
      host.resetNowhere(seg, d.src, d.dst);
      return;
    }
    // third: SYN
    if (!(f & SYN)) { st.dropped.ListenNoSyn++; return; }
    if (this.acceptQueueFull()) { st.dropped.ListenOverflow++; st.ListenOverflows++; st.ListenDrops++; return; }
    if (this.synQueueLength >= this.synBacklog) {
      if (cfg.synCookies) { st.InDelivers++; this.sendCookie(seg, d, now); return; }
      st.dropped.SynQueueFull++;
      st.ListenDrops++;
      return;
    }
    if (host.connectionCount >= cfg.maxConnections) { st.dropped.TableFull++; st.ListenDrops++; return; }
    st.InDelivers++;
    openPassive(host, seg, d.dst, d.src, this.options, undefined, this, minIss, now);
  }

  /** RFC 4987 §3.6: the SYN queue is full: answer with a SYN-ACK whose ISS is a cookie, keep no state. */
  private sendCookie(seg: TcpRepr, d: InboundDatagram, now: number): void {
    const host = this.host;
    const mssIdx = cookieMssIndex(seg.options.mss ?? 536);
    const cookie = makeSynCookie(host.config.isnKey, now, d.dst, seg.dstPort, d.src, seg.srcPort, seg.seq, mssIdx);
    host.counters.SyncookiesSent++;
    this.lastCookieAt = now;
    host.sendRaw(d.src, seg.dstPort, seg.srcPort, cookie, seqAdd(seg.seq, 1), SYN | ACK, Math.min(this.options.receiveBufferSize ?? host.config.receiveBufferSize, 0xffff), true, d.dst);
  }

  /** An ACK that may complete a SYN cookie: true when it was one (and so handled). */
  private tryCookie(seg: TcpRepr, d: InboundDatagram, now: number): boolean {
    const host = this.host;
    const cfg = host.config;
    const st = host.counters;
    const cookie = seqAdd(seg.ack, -1);
    const idx = checkSynCookie(cfg.isnKey, now, cookie, d.dst, seg.dstPort, d.src, seg.srcPort, seqAdd(seg.seq, -1));
    if (idx < 0) {
      st.SyncookiesFailed++;
      return false;
    }
    if (this.acceptQueueFull()) { st.dropped.ListenOverflow++; st.ListenOverflows++; return true; }
    if (host.connectionCount >= cfg.maxConnections) { st.dropped.TableFull++; st.ListenOverflows++; return true; }
    st.SyncookiesRecv++;
    st.InDelivers++;
    const c = new TcpConnection(host, d.dst, seg.dstPort, d.src, seg.srcPort, this.options, undefined);
    c.initOpen(cookie, now, 0, false, false, false);
    c.initFromCookie(seg, COOKIE_MSS_TABLE[idx]!, now);
    c.listener = this;
    this.children.add(c);
    host.attach(c);
    st.PassiveOpens++;
    // Straight to ESTABLISHED (the listener's SYN queue never held it).
    this.synQueueLength++;
    c.setState('SYN-RECEIVED', now);
    c.setState('ESTABLISHED', now);
    // Text (and FIN) on the completing ACK. ECN codepoint 0: the cookie does not remember
    // an ECN negotiation, so the connection runs without.
    c.input(seg, now, 0);
    host.reschedule(c);
    return true;
  }
}
