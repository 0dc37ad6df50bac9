/**
 * The ping client of the ICMP layers (RFC 792 echo, RFC 1122 §3.2.2.6; ICMPv6 echo, RFC 4443
 * §4.1/§4.2): echo requests keyed by (identifier, sequence number), with a timeout driven by
 * `pollAt()` / `poll(now)`. `IcmpLayer` owns one for IPv4 and `Icmp6Layer` one for IPv6
 * (`PingFamily`: the request's type, its checksum, the destination check); each hands it the
 * echo replies and the errors that quote one of its requests; `stack.ping()` reaches them
 * through `IcmpLayer.ping` / `Icmp6Layer.ping`.
 *
 * Pure protocol logic: time is the `now` argument (milliseconds); no clock, no timer.
 */
import { PROTO_ICMP, formatAddress, type IpAddress, type IpOutput, type Ipv4Address, type PayloadWriter, type SendError, type TransportError } from '@netstack/ip';
import { argTypeError, checkInteger, icmpErrorErrno, opError, rangeError, type OpError } from '@netstack/ip';
import { ICMP_HEADER_LEN, IcmpPacket, IcmpType } from './wire.js';

/** Largest echo data: 65535 - 20 (IP header) - 8 (ICMP header). */
export const MAX_ECHO_DATA = 65507;

/**
 * What differs between ICMPv4 and ICMPv6 echo (the rest of the client is shared): the
 * protocol number, the request's type, the largest data, how a destination is checked and
 * how the checksum is filled (RFC 792: over the message; RFC 4443 §2.3: with the IPv6
 * pseudo-header, over the `src`/`dst` the IP layer hands the writer).
 */
export interface PingFamily<A extends IpAddress> {
  readonly protocol: number;
  readonly echoRequestType: number;
  readonly maxData: number;
  /** Throws ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE unless `dst` is an address of the family. */
  checkDestination(dst: unknown): asserts dst is A;
  /** Fills the checksum of the echo request `msg` (its checksum field is zero). */
  fillChecksum(msg: Uint8Array, src: IpAddress, dst: IpAddress): void;
}

/** ICMPv4 echo (RFC 792): type 8, checksum over the message. */
export const PING_IPV4: PingFamily<Ipv4Address> = {
  protocol: PROTO_ICMP,
  echoRequestType: IcmpType.EchoRequest,
  maxData: MAX_ECHO_DATA,
  checkDestination(dst: unknown): asserts dst is Ipv4Address {
    checkInteger(dst, 'dst', 0, 0xffffffff);
  },
  fillChecksum(msg: Uint8Array): void {
    new IcmpPacket(msg).fillChecksum();
  },
};

export interface PingOptions {
  /** Echo data bytes, 0..65507. Default 56 (ping's default). */
  size?: number;
  /** Echo identifier, 0..65535. Default: one random identifier per layer (like ping's pid). */
  id?: number;
  /** Milliseconds until the ping fails with ETIMEDOUT. Default 1000. */
  timeout?: number;
  ttl?: number;
}

export interface PingResult<A extends IpAddress = Ipv4Address> {
  rttMs: number;
  /** ICMP bytes of the reply (8 + data), as ping prints "64 bytes from". */
  bytes: number;
  ttl: number;
  id: number;
  seq: number;
  address: A;
}

/** A ping's failure: `code` (ETIMEDOUT, EHOSTUNREACH...), syscall 'ping', `address`; the facade makes Node's error of it. */
export type PingError = OpError;
export type PingCallback<A extends IpAddress = Ipv4Address> = (err: PingError | null, result: PingResult<A> | undefined) => void;
export interface PingHandle {
  readonly id: number;
  readonly seq: number;
  /** Forgets the ping: its callback will not be called. False when it had already completed. */
  cancel(): boolean;
}

interface PendingPing {
  id: number;
  seq: number;
  dst: IpAddress;
  size: number;
  sentAt: number;
  deadline: number;
  /** Called with `address` of the client's family only (a PingCallback<A>, see PingClient.ping). */
  callback: PingCallback<IpAddress>;
  /** Set once the callback ran or the ping was cancelled. */
  done: boolean;
  /** A failure found when sending, delivered by the next `poll`. */
  failure: PingError | undefined;
}

class Handle implements PingHandle {
  constructor(private readonly client: PingClient<IpAddress>, readonly entry: PendingPing) {}
  get id(): number { return this.entry.id; }
  get seq(): number { return this.entry.seq; }
  cancel(): boolean { return this.client.cancel(this); }
}

/** The ICMP layer's counters (`IcmpStats`) that the ping client moves. */
export interface PingCounters {
  OutMsgs: number;
  OutErrors: number;
  OutEchos: number;
  /** Echo replies matching no outstanding ping (or from the wrong host). */
  EchoReplyUnmatched: number;
  /** Echo replies matching a ping whose data differs from what was sent. */
  EchoReplyCorrupt: number;
}

/** Writes an echo request with ping's data pattern (see `fillPingPattern`). */
class EchoRequestWriter implements PayloadWriter {
  constructor(private readonly family: PingFamily<IpAddress>) {}
  id = 0;
  seq = 0;
  sentAt = 0;
  length = 0;
  writePayload(buf: Uint8Array, offset: number, src: IpAddress, dst: IpAddress): void {
    const len = this.length;
    const msg = buf.subarray(offset, offset + len);
    const p = new IcmpPacket(msg); // the echo header is the same in both families
    p.msgType = this.family.echoRequestType;
    p.msgCode = 0;
    p.checksum = 0;
    p.echoIdent = this.id;
    p.echoSeqNo = this.seq;
    fillPingPattern(msg.subarray(ICMP_HEADER_LEN), this.sentAt);
    this.family.fillChecksum(msg, src, dst);
  }
}

/**
 * Ping's echo data, as iputils ping lays it out: the send time first (here a
 * float64, big-endian, when the data has room for it), then byte i = i & 0xff.
 */
export function fillPingPattern(data: Uint8Array, sentAt: number): void {
  for (let i = 0; i < data.length; i++) data[i] = i & 0xff;
  if (data.length >= 8) new DataView(data.buffer, data.byteOffset, 8).setFloat64(0, sentAt);
}

function matchesPingPattern(data: Uint8Array, sentAt: number): boolean {
  if (data.length >= 8 && new DataView(data.buffer, data.byteOffset, 8).getFloat64(0) !== sentAt) {
    return false;
  }
  for (let i = data.length >= 8 ? 8 : 0; i < data.length; i++) if (data[i] !== (i & 0xff)) return false;
  return true;
}

/**
 * Outstanding pings and their deadlines. Bounded: `maxOutstanding` pings waiting for a
 * reply, and as many send failures waiting for the next `poll`.
 */
export class PingClient<A extends IpAddress = Ipv4Address> {
  private nextSeq = 1;
  /** Outstanding pings by id * 65536 + seq. Bounded by `maxOutstanding`. */
  private readonly pings = new Map<number, PendingPing>();
  /** Pings that failed when sent, for the next `poll` (bounded by `maxOutstanding`). */
  private failed: PendingPing[] = [];
  private earliest = Infinity;
  private earliestStale = false;
  private readonly requestWriter: EchoRequestWriter;

  /**
   * `ip` sends the requests; `counters` are the layer's (shared, updated in place);
   * `defaultId` is the identifier of pings that name none (like ping's pid); `family` is
   * ICMPv4's (`PING_IPV4`, the default) or ICMPv6's (`PING_IPV6`, layer6.ts).
   */
  constructor(
    private readonly ip: IpOutput,
    private readonly counters: PingCounters,
    private readonly maxOutstanding: number,
    private readonly defaultId: number,
    private readonly family: PingFamily<A> = PING_IPV4 as unknown as PingFamily<A>,
  ) {
    this.requestWriter = new EchoRequestWriter(family as unknown as PingFamily<IpAddress>);
  }

  /**
   * Sends one echo request to `dst`; `callback` is called exactly once, never from inside
   * this call: with the result when the matching reply arrives (from `receiveReply`); with an
   * ICMP-derived error (EHOSTUNREACH…) when an error about the request arrives; with
   * ETIMEDOUT from `poll(now)` once `now >= sent + timeout`; or, when nothing could be
   * sent (ENOBUFS: `maxOutstandingPings` outstanding; the IP layer's ENETUNREACH,
   * EMSGSIZE, ENOBUFS), from the next `poll` (`pollAt()` then returns the ping's `now`).
   *
   * Bad arguments throw (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE). So does calling it
   * with `2 × maxOutstandingPings` pings unfinished and never polling (ENOBUFS): the
   * queue of failures waiting for `poll` is bounded too.
   */
  ping(dst: A, options: PingOptions, now: number, callback: PingCallback<A>): PingHandle {
    this.family.checkDestination(dst);
    if (options === null || typeof options !== 'object') throw argTypeError('options', 'an object', options);
    const size = options.size === undefined ? 56 : checkInteger(options.size, 'options.size', 0, this.family.maxData);
    const id = options.id === undefined ? this.defaultId : checkInteger(options.id, 'options.id', 0, 0xffff);
    const timeout = options.timeout ?? 1000;
    if (typeof timeout !== 'number') throw argTypeError('options.timeout', 'a number', timeout);
    if (!(timeout > 0) || !Number.isFinite(timeout)) throw rangeError('options.timeout', 'a finite number > 0', timeout);
    const ttl = options.ttl === undefined ? undefined : checkInteger(options.ttl, 'options.ttl', 1, 255);
    if (typeof now !== 'number' || Number.isNaN(now)) throw argTypeError('now', 'a number', now);
    if (typeof callback !== 'function') throw argTypeError('callback', 'a function', callback);

    const address = formatAddress(dst);
    const entry: PendingPing = {
      id, seq: 0, dst, size, sentAt: now, deadline: now, callback: callback as PingCallback<IpAddress>, done: false, failure: undefined,
    };
    if (this.pings.size >= this.maxOutstanding) {
      this.fail(entry, opError('ENOBUFS', 'ping', address));
      return new Handle(this as unknown as PingClient<IpAddress>, entry);
    }
    // The next sequence number whose (id, seq) is free; the table is smaller than 2^16.
    let seq = this.nextSeq;
    while (this.pings.has(id * 0x10000 + seq)) seq = (seq + 1) & 0xffff;
    this.nextSeq = (seq + 1) & 0xffff;
    entry.seq = seq;

    const w = this.requestWriter;
    w.id = id;
    w.seq = seq;
    w.sentAt = now;
    w.length = ICMP_HEADER_LEN + size;
    const err: SendError | undefined = this.ip.sendWith(dst, this.family.protocol, w.length, w, ttl === undefined ? {} : { ttl });
    if (err !== undefined) {
      this.counters.OutErrors++;
      this.fail(entry, opError(err, 'ping', address));
      return new Handle(this as unknown as PingClient<IpAddress>, entry);
    }
    this.counters.OutMsgs++;
    this.counters.OutEchos++;
    entry.deadline = now + timeout;
    this.pings.set(id * 0x10000 + seq, entry);
    if (entry.deadline < this.earliest) this.earliest = entry.deadline;
    return new Handle(this as unknown as PingClient<IpAddress>, entry);
  }

  /** Queues a failure for the next poll (bounded: see `ping`). */
  private fail(entry: PendingPing, error: PingError): void {
    if (this.failed.length >= this.maxOutstanding) throw error;
    entry.failure = error;
    this.failed.push(entry);
  }

  /** Forgets a ping without calling its callback (for AbortSignal at the facade). */
  cancel(handle: PingHandle): boolean {
    const entry = handle instanceof Handle ? handle.entry : this.pings.get(handle.id * 0x10000 + handle.seq);
    if (entry === undefined || entry.done) return false;
    entry.done = true;
    if (entry.failure === undefined) this.removePing(entry);
    // A queued failure stays in `failed` and is skipped by poll.
    return true;
  }

  /** Pings sent and waiting for a reply. */
  get outstanding(): number {
    return this.pings.size;
  }

  /** The earliest time `poll` has work: a queued send failure or the first ping deadline; Infinity when none. */
  pollAt(): number {
    // Asked after every receive batch: no iterator unless there is something to look at.
    if (this.earliestStale) {
      this.earliestStale = false;
      let min = Infinity;
      if (this.pings.size > 0) for (const p of this.pings.values()) if (p.deadline < min) min = p.deadline;
      this.earliest = min;
    }
    let at = this.earliest;
    const failed = this.failed;
    for (let i = 0; i < failed.length; i++) {
      const f = failed[i]!;
      if (!f.done && f.deadline < at) at = f.deadline;
    }
    return at;
  }

  /** Delivers queued send failures, then fails the pings whose deadline is `<= now` with ETIMEDOUT. */
  poll(now: number): void {
    if (now < this.pollAt()) return;
    const failed = this.failed;
    this.failed = [];
    const expired: PendingPing[] = [];
    for (const p of this.pings.values()) if (p.deadline <= now) expired.push(p);
    for (const p of expired) this.removePing(p);
    // Callbacks run after the tables are consistent: they may ping again.
    for (const p of failed) {
      if (p.done) continue;
      p.done = true;
      p.callback(p.failure!, undefined);
    }
    for (const p of expired) {
      if (p.done) continue;
      p.done = true;
      p.callback(opError('ETIMEDOUT', 'ping', formatAddress(p.dst)), undefined);
    }
  }

  private removePing(p: PendingPing): void {
    this.pings.delete(p.id * 0x10000 + p.seq);
    if (p.deadline <= this.earliest) this.earliestStale = true;
  }

  /** An echo reply (RFC 792) received by the layer: completes the ping it matches, or is counted. */
  receiveReply(src: IpAddress, id: number, seq: number, data: Uint8Array, ttl: number, now: number): void {
    const entry = this.pings.get(id * 0x10000 + seq);
    if (entry === undefined || entry.dst !== src) {
      this.counters.EchoReplyUnmatched++;
      return;
    }
    if (data.length !== entry.size || !matchesPingPattern(data, entry.sentAt)) {
      this.counters.EchoReplyCorrupt++;
      return;
    }
    this.removePing(entry);
    entry.done = true;
    entry.callback(null, { rttMs: now - entry.sentAt, bytes: ICMP_HEADER_LEN + data.length, ttl, id, seq, address: src as A });
  }

  /**
   * An ICMP error about a message we sent (routed back by the IP layer). An error quoting
   * one of our echo requests fails that ping with the errno Linux would give (host
   * unreachable → EHOSTUNREACH, and so on); any other is ignored. ICMPv6 errors arrive
   * translated to ICMPv4's type/code (layer6.ts's table).
   */
  receiveError(e: TransportError): void {
    const q = e.quoted;
    if (q.length < 8 || q[0] !== this.family.echoRequestType) return;
    const id = (q[4]! << 8) | q[5]!;
    const seq = (q[6]! << 8) | q[7]!;
    const entry = this.pings.get(id * 0x10000 + seq);
    if (entry === undefined || entry.dst !== e.dst) return;
    const errno = icmpErrorErrno(e.icmpType, e.icmpCode);
    if (errno === undefined) return;
    this.removePing(entry);
    entry.done = true;
    entry.callback(opError(errno.code, 'ping', formatAddress(entry.dst)), undefined);
  }
}
