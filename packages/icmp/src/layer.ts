/**
 * The ICMP layer (protocol 1) of a host: RFC 792 and RFC 1122 §3.2.2.
 *
 * - Answers echo requests (RFC 1122 §3.2.2.6), except those sent to a broadcast or
 *   multicast address (Linux's icmp_echo_ignore_broadcasts=1).
 * - Is the stack's `ErrorReporter` through its `IcmpErrorSender` (`reporter.ts`):
 *   destination unreachable and time exceeded about received datagrams, under RFC 1122
 *   §3.2.2's "never about" rules and a token bucket.
 * - Decodes received ICMP errors (types 3, 4, 11, 12) and hands them back to the
 *   IP layer (`deliverError`), which routes them to the transport they quote.
 * - Holds the ping client (`ping.ts`): hands it echo replies and the errors about its
 *   requests; `ping`, `pollAt` and `poll` are its.
 *
 * Pure protocol logic: time is the `now` argument (milliseconds); no clock, no timer.
 * Bad input from the wire is counted and dropped; nothing is thrown from `receive`.
 */
import {
  PROTO_ICMP,
  checksumUpdate16,
  sum16,
  type ErrorReporter,
  type InboundDatagram,
  type IpOutput,
  type Ipv4Address,
  type PayloadWriter,
  type SendOptions,
  type TransportError,
  type TransportProtocol,
} from '@netstack/ip';
import { checkInteger, rangeError } from '@netstack/ip';
import { ICMP_HEADER_LEN, IcmpPacket, IcmpType, UnreachableCode, parseIcmp, parseQuotedIpv4 } from './wire.js';
import { IcmpErrorSender, TokenBucket, isNonUnicastSource, type ErrorSenderCounters, type Subnet } from './reporter.js';
import { PingClient, type PingCallback, type PingCounters, type PingHandle, type PingOptions } from './ping.js';

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
  subnet?: Subnet;
  /** Random source in [0, 1) for the default echo identifier. Default Math.random. */
  random?: () => number;
}

/**
 * Counters named after /proc/net/snmp `Icmp:`, plus the reasons behind what was not sent.
 * The error reporter's and the ping client's counters are declared beside them
 * (`ErrorSenderCounters`, reporter.ts; `PingCounters`, ping.ts): one object holds all.
 */
export interface IcmpStats extends ErrorSenderCounters, PingCounters {
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
  OutEchoReps: number;
  /** Echo requests not answered: to a broadcast/multicast address or from a non-unicast source. */
  EchoIgnored: number;
  /**
   * Echo requests to a foreign destination (an IP layer with `acceptAnyDestination`) the
   * stack did not answer itself: the host did not take them through `foreignEcho`.
   */
  EchoForeign: number;
  /** Echo requests to a foreign destination taken by the `foreignEcho` hook (the echo relay). */
  EchoForeignTaken: number;
  /** Echo replies sent for taken requests (`answerForeignEcho`: the relay's destination answered). Not in OutEchoReps. */
  OutEchoRepsRelayed: number;
  /** Messages too short for their type (counted in InErrors too). */
  InTruncated: number;
  /** Errors (types 3, 4, 11, 12) handed to the IP layer, which routes them to the transport they quote. */
  InErrorsRouted: number;
  /** Errors dropped: sent to a broadcast address, or quoting no datagram of ours (counted in InErrors too). */
  InErrorsNotOurs: number;
}

/**
 * Every received message (InMsgs) ends in exactly one of: InErrors (= InCsumErrors +
 * InTruncated + InErrorsNotOurs), InEchos (answered, or EchoIgnored, EchoForeign, EchoForeignTaken), InEchoReps (matched,
 * or EchoReplyUnmatched / EchoReplyCorrupt), InRedirects, InOther (both ignored) or
 * InErrorsRouted. So InMsgs = InErrors + InEchos + InEchoReps + InRedirects + InOther + InErrorsRouted.
 */

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

function newStats(): IcmpStats {
  return {
    InMsgs: 0, InErrors: 0, InCsumErrors: 0, InDestUnreachs: 0, InTimeExcds: 0, InParmProbs: 0,
    InSrcQuenchs: 0, InRedirects: 0, InEchos: 0, InEchoReps: 0, InOther: 0,
    OutMsgs: 0, OutErrors: 0, OutDestUnreachs: 0, OutTimeExcds: 0, OutEchos: 0, OutEchoReps: 0,
    RateLimited: 0, Suppressed: 0, SuppressedIcmpError: 0, SuppressedBroadcast: 0, SuppressedFragment: 0,
    SuppressedSource: 0, EchoIgnored: 0, EchoForeign: 0, EchoForeignTaken: 0, OutEchoRepsRelayed: 0, EchoReplyUnmatched: 0, EchoReplyCorrupt: 0,
    InTruncated: 0, InErrorsRouted: 0, InErrorsNotOurs: 0,
  };
}

export class IcmpLayer implements TransportProtocol, ErrorReporter {
  readonly protocol = PROTO_ICMP;
  private readonly ip: IcmpIp;
  private readonly counters = newStats();
  private readonly errors: IcmpErrorSender;
  private readonly subnet: Subnet | undefined;
  private readonly pinger: PingClient;
  private readonly replyWriter = new EchoReplyWriter();
  /** The options of every echo reply, reused (its TOS is the request's). */
  private readonly replyOptions: SendOptions = { tos: 0, source: undefined, sourceFallback: true };
  /** The options of a relayed echo reply: from the request's foreign destination (IP_TRANSPARENT). */
  private readonly relayOptions: SendOptions = { tos: 0, source: undefined, transparent: true };

  constructor(ip: IcmpIp, options: IcmpOptions = {}) {
    this.ip = ip;
    const rate = options.errorRatePerSecond ?? 1000;
    const burst = options.errorBurst ?? 50;
    if (!(rate >= 0) || !Number.isFinite(rate)) throw rangeError('options.errorRatePerSecond', 'a finite number >= 0', rate);
    checkInteger(burst, 'options.errorBurst', 0, 2 ** 31 - 1);
    // At least room for a 20-byte IP header, the 8-byte ICMP header and 28 quoted bytes (header + 8).
    const errorDatagramLimit = checkInteger(options.errorDatagramLimit ?? 576, 'options.errorDatagramLimit', 56, 65535);
    const maxOutstanding = checkInteger(options.maxOutstandingPings ?? 1024, 'options.maxOutstandingPings', 1, 65536);
    this.subnet = options.subnet;
    this.errors = new IcmpErrorSender(ip, this.counters, new TokenBucket(rate, burst), errorDatagramLimit, options.subnet);
    const defaultId = Math.floor((options.random ?? Math.random)() * 0x10000) & 0xffff;
    this.pinger = new PingClient(ip, this.counters, maxOutstanding, defaultId);
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
        this.pinger.receiveReply(d.src, repr.ident, repr.seqNo, repr.data, d.ttl, now);
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
    if (q === undefined || !(this.ip.isOwnSource?.(q.src) ?? this.ip.isLocalAddress?.(q.src) ?? q.src === this.ip.address)) {
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
   * An ICMP error about an ICMP message we sent, routed back by the IP layer. Only echo
   * requests are ours to send: the ping client fails the ping it quotes (see `PingClient`).
   */
  receiveError(e: TransportError, _now: number): void {
    this.pinger.receiveError(e);
  }

  /**
   * An echo request to a destination that is not ours (`InboundDatagram.foreign`: the IP
   * layer terminates any address): never answered by the stack itself, which would claim
   * the host is there. The hook (the later echo relay) returns true when it takes it
   * (counted EchoForeignTaken); otherwise it is dropped, counted EchoForeign.
   */
  foreignEcho: ((request: InboundDatagram, now: number) => boolean) | undefined = undefined;

  /**
   * The echo reply to a foreign echo request the `foreignEcho` hook took, once the relay's
   * real destination answered: mirrors `request` (identifier, sequence number and data,
   * RFC 792) FROM its destination (a foreign source: `SendOptions.transparent`, which the
   * IP layer allows only with `acceptAnyDestination`), with its TOS. `request` is the
   * hook's datagram or a copy kept since (its checksum was verified before the hook ran).
   * True when it left (counted OutMsgs and OutEchoRepsRelayed; else OutErrors).
   */
  answerForeignEcho(request: InboundDatagram): boolean {
    const s = this.counters;
    this.replyWriter.request = request.payload;
    this.relayOptions.tos = request.tos;
    this.relayOptions.source = request.dst;
    const err = this.ip.sendWith(request.src, PROTO_ICMP, request.payload.length, this.replyWriter, this.relayOptions);
    this.replyWriter.request = EMPTY;
    if (err !== undefined) {
      s.OutErrors++;
      return false;
    }
    s.OutMsgs++;
    s.OutEchoRepsRelayed++;
    return true;
  }

  /** RFC 1122 §3.2.2.6: echo reply with the request's identifier, sequence number and data. */
  private answerEcho(d: InboundDatagram, now: number): void {
    const s = this.counters;
    if (d.foreign === true) {
      if (this.foreignEcho !== undefined && this.foreignEcho(d, now)) s.EchoForeignTaken++;
      else s.EchoForeign++;
      return;
    }
    // RFC 1122 §3.2.2.6: an echo request to a broadcast or multicast address MAY be
    // silently discarded (Linux: icmp_echo_ignore_broadcasts=1). A request from a
    // source that is no single host cannot be answered (RFC 1122 §3.2.1.3).
    if (d.toBroadcast || isNonUnicastSource(d.src, this.subnet)) {
      s.EchoIgnored++;
      return;
    }
    this.replyWriter.request = d.payload;
    this.replyOptions.tos = d.tos;
    // From the address the request was sent to (the host may have several; RFC 1122
    // §3.2.2.6, Linux icmp_reply: the reply's source is the request's destination).
    this.replyOptions.source = d.dst;
    const err = this.ip.sendWith(d.src, PROTO_ICMP, d.payload.length, this.replyWriter, this.replyOptions);
    this.replyWriter.request = EMPTY;
    if (err === undefined) {
      s.OutMsgs++;
      s.OutEchoReps++;
    } else s.OutErrors++;
  }

  // ---- the error reporter (reporter.ts) ---------------------------------------

  /** ErrorReporter: destination unreachable about `original`. See `IcmpErrorSender.destinationUnreachable`. */
  destinationUnreachable(code: number, original: InboundDatagram, now: number): void {
    this.errors.destinationUnreachable(code, original, now);
  }

  /** ErrorReporter: time exceeded about `original`. See `IcmpErrorSender.timeExceeded`. */
  timeExceeded(code: number, original: InboundDatagram, now: number): void {
    this.errors.timeExceeded(code, original, now);
  }

  /**
   * The echo relay's errors: an ICMP error (3 destination unreachable, with `mtu` for code
   * 4 fragmentation needed; 11 time exceeded) that a router or host beyond the stack sent
   * about what the relay re-sent for `original` (the guest's datagram), passed on FROM
   * `from` (that router: a foreign source, sent transparent), quoting `original`, so the
   * guest's traceroute sees each hop and its PMTU the real next-hop MTU. Same rules and
   * rate limit as the stack's own errors. True when it left.
   */
  relayError(type: 3 | 11, code: number, mtu: number, original: InboundDatagram, from: Ipv4Address, now: number): boolean {
    return this.errors.relay(type, code, mtu, original, from, now);
  }

  // ---- the ping client (ping.ts) ---------------------------------------------

  /**
   * Sends one echo request to `dst`; `callback` is called exactly once, never from inside
   * this call. See `PingClient.ping` for the outcomes and errors.
   */
  ping(dst: Ipv4Address, options: PingOptions, now: number, callback: PingCallback): PingHandle {
    return this.pinger.ping(dst, options, now, callback);
  }

  /** Forgets a ping without calling its callback (for AbortSignal at the facade). */
  cancelPing(handle: PingHandle): boolean {
    return this.pinger.cancel(handle);
  }

  /** Pings sent and waiting for a reply. */
  get outstandingPings(): number {
    return this.pinger.outstanding;
  }

  /** The earliest time `poll` has work: a queued ping failure or the first ping deadline; Infinity when none. */
  pollAt(): number {
    return this.pinger.pollAt();
  }

  /** Delivers queued ping send failures, then fails the pings whose deadline is `<= now` with ETIMEDOUT. */
  poll(now: number): void {
    this.pinger.poll(now);
  }
}

const EMPTY = new Uint8Array(0);
