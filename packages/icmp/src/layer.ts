/**
 * The ICMP layer (protocol 1) of a host: RFC 792 and RFC 1122 §3.2.2.
 *
 * - Answers echo requests (RFC 1122 §3.2.2.6), except those sent to a broadcast or
 *   multicast address (Linux's icmp_echo_ignore_broadcasts=1).
 * - Is the stack's `ErrorReporter`: sends destination unreachable about received
 *   datagrams, under RFC 1122 §3.2.2's "never about" rules and a token bucket.
 * - Decodes received ICMP errors (types 3, 4, 11, 12) and hands them back to the
 *   IP layer (`deliverError`), which routes them to the transport they quote.
 * - Is a ping client: echo requests keyed by (identifier, sequence number) with a
 *   timeout driven by `pollAt()` / `poll(now)`.
 *
 * Pure protocol logic: time is the `now` argument (milliseconds); no clock, no timer.
 * Bad input from the wire is counted and dropped; nothing is thrown from `receive`.
 */
import {
  BROADCAST,
  PROTO_ICMP,
  PROTO_TCP,
  PROTO_UDP,
  checksumUpdate16,
  finish,
  pseudoHeaderSum,
  formatAddress,
  sum16,
  isBroadcast,
  isMulticast,
  type ErrorReporter,
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
import { errnoError, icmpErrorErrno, invalidArgType, outOfRange, validateInteger, type ErrnoError } from '@netstack/ip';
import { ICMP_HEADER_LEN, IcmpPacket, IcmpType, UnreachableCode, parseIcmp, parseQuotedIpv4 } from './wire.js';

/** What the ICMP layer needs from the IP layer: its output, and the error router. */
export interface IcmpIp extends IpOutput {
  /** Routes a decoded ICMP error to the transport named in the quoted header. */
  deliverError(error: TransportError, now: number): void;
}

export interface IcmpOptions {
  /** Token refill rate of the error rate limiter. Default 1000/s (Linux icmp_msgs_per_sec). */
  errorRatePerSecond?: number;
  /** Bucket size of the error rate limiter. Default 50 (Linux icmp_msgs_burst). */
  errorBurst?: number;
  /** Largest ICMP error datagram, IP header included. Default 576 (Linux; RFC 1812 §4.3.2.3). */
  errorDatagramLimit?: number;
  /** Bound on outstanding pings. Default 1024. */
  maxOutstandingPings?: number;
  /** Our subnet, to recognise its directed broadcast as a non-unicast source. */
  subnet?: { address: Ipv4Address; prefixLength: number };
  /** Random source in [0, 1) for the default echo identifier. Default Math.random. */
  random?: () => number;
}

/** Counters named after /proc/net/snmp `Icmp:`, plus the reasons behind what was not sent. */
export interface IcmpStats {
  InMsgs: number;
  InErrors: number;
  InCsumErrors: number;
  InDestUnreachs: number;
  InTimeExcds: number;
  InParmProbs: number;
  InSrcQuenchs: number;
  InRedirects: number;
  InEchos: number;
  InEchoReps: number;
  /** Received types this host does not handle (timestamp, address mask, unknown). */
  InOther: number;
  OutMsgs: number;
  OutErrors: number;
  OutDestUnreachs: number;
  OutTimeExcds: number;
  OutEchos: number;
  OutEchoReps: number;
  /** Errors not sent because the token bucket was empty. */
  RateLimited: number;
  /** Errors not sent by RFC 1122 §3.2.2's rules (sum of the four below). */
  Suppressed: number;
  SuppressedIcmpError: number;
  SuppressedBroadcast: number;
  SuppressedFragment: number;
  SuppressedSource: number;
  /** Echo requests not answered: to a broadcast/multicast address or from a non-unicast source. */
  EchoIgnored: number;
  /** Echo replies matching no outstanding ping (or from the wrong host). */
  EchoReplyUnmatched: number;
  /** Echo replies matching a ping whose data differs from what was sent. */
  EchoReplyCorrupt: number;
  /** Messages too short for their type (counted in InErrors too). */
  InTruncated: number;
  /** Errors (types 3, 4, 11, 12) handed to the IP layer, which routes them to the transport they quote. */
  InErrorsRouted: number;
  /** Errors dropped: sent to a broadcast address, or quoting no datagram of ours (counted in InErrors too). */
  InErrorsNotOurs: number;
}

/**
 * Every received message (InMsgs) ends in exactly one of: InErrors (= InCsumErrors +
 * InTruncated + InErrorsNotOurs), InEchos (answered, or EchoIgnored), InEchoReps (matched,
 * or EchoReplyUnmatched / EchoReplyCorrupt), InRedirects, InOther (both ignored) or
 * InErrorsRouted. So InMsgs = InErrors + InEchos + InEchoReps + InRedirects + InOther + InErrorsRouted.
 */

/**
 * A token bucket: `ratePerSecond` tokens a second up to `burst`; one per message.
 * Starts full. Time is the `now` argument (ms); time going backwards refills nothing.
 */
export class TokenBucket {
  private tokens: number;
  private last = Number.NaN;
  constructor(readonly ratePerSecond: number, readonly burst: number) {
    this.tokens = burst;
  }
  take(now: number): boolean {
    if (Number.isNaN(this.last)) this.last = now;
    else if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.ratePerSecond) / 1000);
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export interface PingOptions {
  /** Echo data bytes, 0..65507. Default 56 (ping's default). */
  size?: number;
  /** Echo identifier, 0..65535. Default: one random identifier per layer (like ping's pid). */
  id?: number;
  /** Milliseconds until the ping fails with ETIMEDOUT. Default 1000. */
  timeout?: number;
  ttl?: number;
}

export interface PingResult {
  rttMs: number;
  /** ICMP bytes of the reply (8 + data), as ping prints "64 bytes from". */
  bytes: number;
  ttl: number;
  id: number;
  seq: number;
  address: Ipv4Address;
}

export type PingError = ErrnoError;
export type PingCallback = (err: PingError | null, result: PingResult | undefined) => void;
export interface PingHandle {
  readonly id: number;
  readonly seq: number;
  /** Forgets the ping: its callback will not be called. False when it had already completed. */
  cancel(): boolean;
}

interface PendingPing {
  id: number;
  seq: number;
  dst: Ipv4Address;
  size: number;
  sentAt: number;
  deadline: number;
  callback: PingCallback;
  /** Set once the callback ran or the ping was cancelled. */
  done: boolean;
  /** A failure found when sending, delivered by the next `poll`. */
  failure: PingError | undefined;
}

class Handle implements PingHandle {
  constructor(private readonly layer: IcmpLayer, private readonly entry: PendingPing) {}
  get id(): number { return this.entry.id; }
  get seq(): number { return this.entry.seq; }
  cancel(): boolean { return this.layer.cancelPing(this); }
  /** @internal */ get pending(): PendingPing { return this.entry; }
}

/** Largest echo data: 65535 - 20 (IP header) - 8 (ICMP header). */
export const MAX_ECHO_DATA = 65507;

/** Informational types (RFC 792, RFC 950): an ICMP message of any other type is treated as an error (like Linux). */
function isInformational(type: number): boolean {
  return type === 0 || type === 8 || type === 9 || type === 10 || (type >= 13 && type <= 18);
}

/** RFC 1122 §3.2.2: a source that does not define a single host. */
function isNonUnicastSource(a: IpAddress, subnet: IcmpOptions['subnet']): boolean {
  if (typeof a !== 'number') return true; // ICMPv4 answers IPv4 hosts only
  return (
    a === 0 || // zero address
    // 127/8 is a host here: the IP layer admits it only through its loopback (RFC 1122
    // §3.2.1.3 (g)), where 127.0.0.1 pings and is told of closed ports as on Linux's lo.
    a === BROADCAST ||
    (subnet !== undefined && isBroadcast(a, subnet)) ||
    isMulticast(a) || // class D
    a >>> 28 === 0xf // class E
  );
}

/** Writes an echo reply that mirrors a request: same identifier, sequence number and data. */
class EchoReplyWriter implements PayloadWriter {
  request: Uint8Array = new Uint8Array(0);
  writePayload(buf: Uint8Array, offset: number): void {
    const req = this.request;
    buf.set(req, offset);
    // Type 8/code c → type 0/code 0: one 16-bit word changes; RFC 1624 update of the
    // (already verified) request checksum instead of summing up to 64 KiB again.
    const oldWord = (req[0]! << 8) | req[1]!;
    const hc = checksumUpdate16((req[2]! << 8) | req[3]!, oldWord, 0);
    buf[offset] = IcmpType.EchoReply;
    buf[offset + 1] = 0;
    buf[offset + 2] = hc >>> 8;
    buf[offset + 3] = hc & 0xff;
  }
}

/**
 * The quoted datagram's transport checksum as its sender meant it to be on the wire. A
 * datagram from the local kernel over an offload link (checksumVerified: virtio NEEDS_CSUM
 * or DATA_VALID) may carry only the pseudo-header sum in its TCP/UDP checksum field: the
 * kernel left completing it to the "hardware", which is us. A host across a wire would
 * have received, and quoted, the complete value, so the quote carries that (computed over
 * the whole datagram, also when the quote is cut short; for a DATA_VALID datagram it is the
 * value already there). Returns the field's offset in the quote and sets `w.sumValue`, or
 * -1 to quote the bytes as they are: not vouched for by the link, not TCP/UDP, a UDP
 * datagram without checksum (0, RFC 768), or the field not inside the quote.
 */
function completedSum(d: InboundDatagram, quotedLength: number, w: ErrorWriter): number {
  if (d.checksumVerified !== true || d.reassembled) return -1;
  const field = d.protocol === PROTO_TCP ? 16 : d.protocol === PROTO_UDP ? 6 : -1;
  const t = d.payload;
  const at = d.headerLength + field;
  if (field < 0 || t.length < field + 2 || at + 2 > quotedLength) return -1;
  const old = (t[field]! << 8) | t[field + 1]!;
  if (d.protocol === PROTO_UDP && old === 0) return -1;
  // RFC 1071 over pseudo-header and segment with the field taken as 0: the field's word is
  // added back in one's complement (+ ~old), so the payload is not copied.
  let value = finish(sum16(t, 0, t.length, pseudoHeaderSum(d.src, d.dst, d.protocol, t.length)) + (~old & 0xffff));
  if (value === 0 && d.protocol === PROTO_UDP) value = 0xffff; // RFC 768: computed 0 is sent as all ones
  w.sumValue = value;
  return at;
}

/** Writes an ICMP error: 8-byte header, then the quoted datagram. */
class ErrorWriter implements PayloadWriter {
  type = 0;
  code = 0;
  rest = 0;
  quoted: Uint8Array = new Uint8Array(0);
  /** Offset in `quoted` of a transport checksum to write as `sumValue` (see completedSum), or -1. */
  sumAt = -1;
  sumValue = 0;
  writePayload(buf: Uint8Array, offset: number): void {
    const end = offset + ICMP_HEADER_LEN + this.quoted.length;
    const p = new IcmpPacket(buf.subarray(offset, end));
    p.msgType = this.type;
    p.msgCode = this.code;
    p.rest = this.rest;
    buf.set(this.quoted, offset + ICMP_HEADER_LEN);
    if (this.sumAt >= 0) {
      buf[offset + ICMP_HEADER_LEN + this.sumAt] = this.sumValue >>> 8;
      buf[offset + ICMP_HEADER_LEN + this.sumAt + 1] = this.sumValue & 0xff;
    }
    p.fillChecksum();
  }
}

/** Writes an echo request with ping's data pattern (see `fillPingPattern`). */
class EchoRequestWriter implements PayloadWriter {
  id = 0;
  seq = 0;
  sentAt = 0;
  length = 0;
  writePayload(buf: Uint8Array, offset: number): void {
    const len = this.length;
    const msg = buf.subarray(offset, offset + len);
    const p = new IcmpPacket(msg);
    p.msgType = IcmpType.EchoRequest;
    p.msgCode = 0;
    p.echoIdent = this.id;
    p.echoSeqNo = this.seq;
    fillPingPattern(msg.subarray(ICMP_HEADER_LEN), this.sentAt);
    p.fillChecksum();
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

function newStats(): IcmpStats {
  return {
    InMsgs: 0, InErrors: 0, InCsumErrors: 0, InDestUnreachs: 0, InTimeExcds: 0, InParmProbs: 0,
    InSrcQuenchs: 0, InRedirects: 0, InEchos: 0, InEchoReps: 0, InOther: 0,
    OutMsgs: 0, OutErrors: 0, OutDestUnreachs: 0, OutTimeExcds: 0, OutEchos: 0, OutEchoReps: 0,
    RateLimited: 0, Suppressed: 0, SuppressedIcmpError: 0, SuppressedBroadcast: 0, SuppressedFragment: 0,
    SuppressedSource: 0, EchoIgnored: 0, EchoReplyUnmatched: 0, EchoReplyCorrupt: 0,
    InTruncated: 0, InErrorsRouted: 0, InErrorsNotOurs: 0,
  };
}

export class IcmpLayer implements TransportProtocol, ErrorReporter {
  readonly protocol = PROTO_ICMP;
  private readonly ip: IcmpIp;
  private readonly counters = newStats();
  private readonly bucket: TokenBucket;
  private readonly errorDatagramLimit: number;
  private readonly maxOutstanding: number;
  private readonly subnet: IcmpOptions['subnet'];
  private readonly defaultId: number;
  private nextSeq = 1;
  /** Outstanding pings by id * 65536 + seq. Bounded by `maxOutstandingPings`. */
  private readonly pings = new Map<number, PendingPing>();
  /** Pings that failed when sent, for the next `poll` (bounded by `maxOutstandingPings`). */
  private failed: PendingPing[] = [];
  private earliest = Infinity;
  private earliestStale = false;
  private readonly replyWriter = new EchoReplyWriter();
  /** The options of every echo reply, reused (its TOS is the request's). */
  private readonly replyOptions: SendOptions = { tos: 0 };
  private readonly errorWriter = new ErrorWriter();
  private readonly requestWriter = new EchoRequestWriter();

  constructor(ip: IcmpIp, options: IcmpOptions = {}) {
    this.ip = ip;
    const rate = options.errorRatePerSecond ?? 1000;
    const burst = options.errorBurst ?? 50;
    if (!(rate >= 0) || !Number.isFinite(rate)) throw outOfRange('options.errorRatePerSecond', 'a finite number >= 0', rate);
    validateInteger(burst, 'options.errorBurst', 0, 2 ** 31 - 1);
    this.bucket = new TokenBucket(rate, burst);
    // At least room for a 20-byte IP header, the 8-byte ICMP header and 28 quoted bytes (header + 8).
    this.errorDatagramLimit = validateInteger(options.errorDatagramLimit ?? 576, 'options.errorDatagramLimit', 56, 65535);
    this.maxOutstanding = validateInteger(options.maxOutstandingPings ?? 1024, 'options.maxOutstandingPings', 1, 65536);
    this.subnet = options.subnet;
    this.defaultId = Math.floor((options.random ?? Math.random)() * 0x10000) & 0xffff;
  }

  stats(): Readonly<IcmpStats> {
    return { ...this.counters };
  }

  /** RFC 792 / RFC 1122 §3.2.2: one received ICMP message. Valid only during the call. */
  receive(d: InboundDatagram, now: number): void {
    const s = this.counters;
    s.InMsgs++;
    // The echo request, first and without a view or record object: ping floods are the
    // volume. Same checks as parseIcmp's (length, checksum over the whole message).
    const b = d.payload;
    if (b.length >= ICMP_HEADER_LEN && b[0] === IcmpType.EchoRequest) {
      if (sum16(b) !== 0xffff) {
        s.InCsumErrors++;
        s.InErrors++;
        return;
      }
      s.InEchos++;
      this.answerEcho(d, now);
      return;
    }
    const packet = IcmpPacket.checked(b);
    if (packet === undefined) {
      s.InTruncated++;
      s.InErrors++;
      return;
    }
    const repr = parseIcmp(packet);
    if (repr === 'checksum') {
      s.InCsumErrors++;
      s.InErrors++;
      return;
    }
    if (repr === 'truncated') {
      s.InTruncated++;
      s.InErrors++;
      return;
    }
    if (repr === 'unsupported') {
      // RFC 1122 §3.2.2.2: a host may update its routes on a redirect; routing is the
      // IP layer's and it takes none from ICMP, so redirects are counted and ignored.
      if (packet.msgType === IcmpType.Redirect) s.InRedirects++;
      else s.InOther++;
      return;
    }
    switch (repr.kind) {
      case 'echoRequest':
        s.InEchos++;
        this.answerEcho(d, now);
        return;
      case 'echoReply':
        s.InEchoReps++;
        this.matchReply(d.src, repr.ident, repr.seqNo, repr.data, d.ttl, now);
        return;
      case 'destinationUnreachable':
        s.InDestUnreachs++;
        break;
      case 'timeExceeded':
        s.InTimeExcds++;
        break;
      case 'parameterProblem':
        s.InParmProbs++;
        break;
      case 'sourceQuench':
        s.InSrcQuenchs++;
        break;
    }
    // An ICMP error. RFC 1122 §3.2.2: it quotes the IP header of the datagram in
    // error and at least 8 bytes of its data (the ports). It must quote one of ours.
    if (d.toBroadcast) {
      s.InErrorsNotOurs++;
      s.InErrors++; // errors are never sent to broadcast addresses (RFC 1122 §3.2.2)
      return;
    }
    const q = parseQuotedIpv4(repr.quoted);
    // Ours: from our address, or from 127/8 over the IP layer's loopback.
    if (q === undefined || !(this.ip.isLocalAddress?.(q.src) ?? q.src === this.ip.address)) {
      s.InErrorsNotOurs++;
      s.InErrors++;
      return;
    }
    s.InErrorsRouted++;
    const nextHopMtu = repr.kind === 'destinationUnreachable' && repr.code === UnreachableCode.FragmentationNeeded ? repr.nextHopMtu : 0;
    this.ip.deliverError(
      {
        icmpType: packet.msgType,
        icmpCode: packet.msgCode,
        reporter: d.src,
        src: q.src,
        dst: q.dst,
        protocol: q.protocol,
        quoted: q.transport,
        nextHopMtu,
        // The quoted Total Length: the IP layer's RFC 1191 §5 plateau guess when nextHopMtu is 0.
        originalLength: (repr.quoted[2]! << 8) | repr.quoted[3]!,
      },
      now,
    );
  }

  /**
   * An ICMP error about an ICMP message we sent, routed back by the IP layer.
   * An error quoting one of our echo requests fails that ping with the errno Linux
   * would give (host unreachable → EHOSTUNREACH, and so on).
   */
  receiveError(e: TransportError, _now: number): void {
    const q = e.quoted;
    if (q.length < 8 || q[0] !== IcmpType.EchoRequest) return;
    const id = (q[4]! << 8) | q[5]!;
    const seq = (q[6]! << 8) | q[7]!;
    const entry = this.pings.get(id * 0x10000 + seq);
    if (entry === undefined || entry.dst !== e.dst) return;
    const errno = icmpErrorErrno(e.icmpType, e.icmpCode);
    if (errno === undefined) return;
    this.removePing(entry);
    entry.done = true;
    entry.callback(errnoError(errno.code, 'ping', formatAddress(entry.dst)), undefined);
  }

  /** RFC 1122 §3.2.2.6: echo reply with the request's identifier, sequence number and data. */
  private answerEcho(d: InboundDatagram, _now: number): void {
    const s = this.counters;
    // RFC 1122 §3.2.2.6: an echo request to a broadcast or multicast address MAY be
    // silently discarded (Linux: icmp_echo_ignore_broadcasts=1). A request from a
    // source that is no single host cannot be answered (RFC 1122 §3.2.1.3).
    if (d.toBroadcast || isNonUnicastSource(d.src, this.subnet)) {
      s.EchoIgnored++;
      return;
    }
    this.replyWriter.request = d.payload;
    this.replyOptions.tos = d.tos;
    const err = this.ip.sendWith(d.src, PROTO_ICMP, d.payload.length, this.replyWriter, this.replyOptions);
    this.replyWriter.request = EMPTY;
    if (err === undefined) {
      s.OutMsgs++;
      s.OutEchoReps++;
    } else s.OutErrors++;
  }

  /**
   * ErrorReporter: destination unreachable about `original` (RFC 792), quoting as much of
   * it as fits in a 576-byte datagram (Linux; RFC 1812 §4.3.2.3; RFC 1122 §3.2.2 requires
   * at least the IP header and 8 bytes). Never about (RFC 1122 §3.2.2):
   *   - an ICMP error message,
   *   - a datagram sent to a broadcast or multicast address,
   *   - a fragment other than the first,
   *   - a datagram whose source is not a single host (zero, loopback, broadcast,
   *     multicast, class E).
   * Then rate-limited by a token bucket (RFC 1812 §4.3.2.8; Linux icmp_msgs_per_sec /
   * icmp_msgs_burst): 1000 a second with a burst of 50 by default.
   */
  destinationUnreachable(code: number, original: InboundDatagram, now: number): void {
    // RFC 1191 §4: code 4 carries the next-hop MTU in the low 16 bits; we are a host, so
    // the only "next hop" we know is our own link.
    const rest = (code & 0xff) === UnreachableCode.FragmentationNeeded ? this.ip.mtu & 0xffff : 0;
    if (this.sendError(IcmpType.DestinationUnreachable, code, rest, original, now)) this.counters.OutDestUnreachs++;
  }

  /**
   * ErrorReporter: time exceeded (RFC 792 type 11). The IP layer asks for code 1
   * (fragment reassembly time exceeded, RFC 1122 §3.3.2) quoting the first fragment.
   * Same rules, quoting and rate limit as `destinationUnreachable`.
   */
  timeExceeded(code: number, original: InboundDatagram, now: number): void {
    if (this.sendError(IcmpType.TimeExceeded, code, 0, original, now)) this.counters.OutTimeExcds++;
  }

  /** Checks the rules and the bucket, then sends; true when the error left. */
  private sendError(type: number, code: number, rest: number, original: InboundDatagram, now: number): boolean {
    const s = this.counters;
    const reason = this.suppression(original);
    if (reason !== undefined) {
      s.Suppressed++;
      s[reason]++;
      return false;
    }
    if (!this.bucket.take(now)) {
      s.RateLimited++;
      return false;
    }
    const w = this.errorWriter;
    w.type = type;
    w.code = code & 0xff;
    w.rest = rest;
    const room = this.errorDatagramLimit - 20 - ICMP_HEADER_LEN;
    w.quoted = original.packet.subarray(0, Math.min(original.packet.length, room));
    w.sumAt = completedSum(original, w.quoted.length, w);
    const err = this.ip.sendWith(original.src, PROTO_ICMP, ICMP_HEADER_LEN + w.quoted.length, w);
    w.quoted = EMPTY;
    w.sumAt = -1;
    if (err !== undefined) {
      s.OutErrors++;
      return false;
    }
    s.OutMsgs++;
    return true;
  }

  private suppression(original: InboundDatagram): 'SuppressedIcmpError' | 'SuppressedBroadcast' | 'SuppressedFragment' | 'SuppressedSource' | undefined {
    if (original.protocol === PROTO_ICMP) {
      const type = original.payload[0];
      if (type === undefined || !isInformational(type)) return 'SuppressedIcmpError';
    }
    if (original.toBroadcast || original.dst === BROADCAST || isMulticast(original.dst)) return 'SuppressedBroadcast';
    const p = original.packet;
    // A reassembled datagram includes fragment 0 (its rebuilt header says so too).
    const fragmentOffset = !original.reassembled && p.length >= 8 ? ((p[6]! << 8) | p[7]!) & 0x1fff : 0;
    if (fragmentOffset !== 0) return 'SuppressedFragment';
    if (isNonUnicastSource(original.src, this.subnet)) return 'SuppressedSource';
    return undefined;
  }

  // ---- ping client ----------------------------------------------------------

  /**
   * Sends one echo request to `dst`; `callback` is called exactly once, never from inside
   * this call: with the result when the matching reply arrives (from `receive`); with an
   * ICMP-derived error (EHOSTUNREACH…) when an error about the request arrives; with
   * ETIMEDOUT from `poll(now)` once `now >= sent + timeout`; or, when nothing could be
   * sent (ENOBUFS: `maxOutstandingPings` outstanding; the IP layer's ENETUNREACH,
   * EMSGSIZE, ENOBUFS), from the next `poll` (`pollAt()` then returns the ping's `now`).
   *
   * Bad arguments throw (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE). So does calling it
   * with `2 × maxOutstandingPings` pings unfinished and never polling (ENOBUFS): the
   * queue of failures waiting for `poll` is bounded too.
   */
  ping(dst: Ipv4Address, options: PingOptions, now: number, callback: PingCallback): PingHandle {
    if (typeof dst !== 'number') throw invalidArgType('dst', 'of type number', dst);
    validateInteger(dst, 'dst', 0, 0xffffffff);
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
    const size = options.size === undefined ? 56 : validateInteger(options.size, 'options.size', 0, MAX_ECHO_DATA);
    const id = options.id === undefined ? this.defaultId : validateInteger(options.id, 'options.id', 0, 0xffff);
    const timeout = options.timeout ?? 1000;
    if (typeof timeout !== 'number') throw invalidArgType('options.timeout', 'of type number', timeout);
    if (!(timeout > 0) || !Number.isFinite(timeout)) throw outOfRange('options.timeout', 'a finite number > 0', timeout);
    const ttl = options.ttl === undefined ? undefined : validateInteger(options.ttl, 'options.ttl', 1, 255);
    if (typeof now !== 'number' || Number.isNaN(now)) throw invalidArgType('now', 'of type number', now);
    if (typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback);

    const address = formatAddress(dst);
    const entry: PendingPing = { id, seq: 0, dst, size, sentAt: now, deadline: now, callback, done: false, failure: undefined };
    if (this.pings.size >= this.maxOutstanding) {
      this.fail(entry, errnoError('ENOBUFS', 'ping', address));
      return new Handle(this, entry);
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
    const err: SendError | undefined = this.ip.sendWith(dst, PROTO_ICMP, w.length, w, ttl === undefined ? {} : { ttl });
    if (err !== undefined) {
      this.counters.OutErrors++;
      this.fail(entry, errnoError(err, 'ping', address));
      return new Handle(this, entry);
    }
    this.counters.OutMsgs++;
    this.counters.OutEchos++;
    entry.deadline = now + timeout;
    this.pings.set(id * 0x10000 + seq, entry);
    if (entry.deadline < this.earliest) this.earliest = entry.deadline;
    return new Handle(this, entry);
  }

  /** Queues a failure for the next poll (bounded: see `ping`). */
  private fail(entry: PendingPing, error: PingError): void {
    if (this.failed.length >= this.maxOutstanding) throw error;
    entry.failure = error;
    this.failed.push(entry);
  }

  /** Forgets a ping without calling its callback (for AbortSignal at the facade). */
  cancelPing(handle: PingHandle): boolean {
    const entry = handle instanceof Handle ? handle.pending : this.pings.get(handle.id * 0x10000 + handle.seq);
    if (entry === undefined || entry.done) return false;
    entry.done = true;
    if (entry.failure === undefined) this.removePing(entry);
    // A queued failure stays in `failed` and is skipped by poll.
    return true;
  }

  /** Pings sent and waiting for a reply. */
  get outstandingPings(): number {
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
      p.callback(errnoError('ETIMEDOUT', 'ping', formatAddress(p.dst)), undefined);
    }
  }

  private removePing(p: PendingPing): void {
    this.pings.delete(p.id * 0x10000 + p.seq);
    if (p.deadline <= this.earliest) this.earliestStale = true;
  }

  private matchReply(src: IpAddress, id: number, seq: number, data: Uint8Array, ttl: number, now: number): void {
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
    entry.callback(null, { rttMs: now - entry.sentAt, bytes: ICMP_HEADER_LEN + data.length, ttl, id, seq, address: src });
  }
}

const EMPTY = new Uint8Array(0);
