/**
 * The ICMPv6 layer (next header 58) of a host: RFC 4443, beside ICMPv4's `layer.ts`.
 *
 * - Answers echo requests of any size (RFC 4443 §4.2): to the requester, same identifier,
 *   sequence number and data; from the address the request was sent to, or from our own
 *   unicast address when that was a multicast address. The IP layer fragments.
 * - Router solicitations/advertisements, neighbour solicitations/advertisements, redirects
 *   (RFC 4861) and MLD queries/reports (RFC 2710, RFC 3810), which a TUN link carries as
 *   soon as it is up: recognised and counted, never answered, never answered with an error.
 * - Decodes received errors (destination unreachable, packet too big, time exceeded,
 *   parameter problem), translates them to the ICMPv4 type/code that `TransportError` and
 *   ip's `icmpErrorErrno` speak (table below), and hands them to the IP layer
 *   (`deliverError`), which lowers its path MTU on Packet Too Big and routes them to the
 *   transport they quote.
 * - Is the IPv6 layer's `ErrorReporter6`: destination unreachable, parameter problem and
 *   time exceeded about a received packet, under RFC 4443 §2.4(e) (`mayAnswerWithError6`)
 *   and a token bucket (§2.4(f)), quoting as much as fits in 1280 bytes (§2.4(c)).
 *
 * - Holds the ICMPv6 ping client (ping.ts's `PingClient` with `PING_IPV6`, RFC 4443 §4.1):
 *   hands it echo replies and the errors that quote its requests; `ping`, `cancelPing`,
 *   `pollAt` and `poll` are its, as on `IcmpLayer`.
 *
 * Pure protocol logic: time is the `now` argument (milliseconds); no clock, no timer.
 * Bad input from the wire is counted and dropped; nothing is thrown from `receive`.
 *
 * ## Received errors as ICMPv4 type/code (`TransportError`)
 *
 * | ICMPv6 (RFC 4443)               | icmpType/icmpCode          | icmpErrorErrno        | Linux icmpv6_err_convert |
 * | ------------------------------- | -------------------------- | --------------------- | ------------------------ |
 * | 1/0 no route                    | 3/0 net unreachable        | ENETUNREACH, soft     | same                     |
 * | 1/1 administratively prohibited | 3/13 comm. admin prohibited| EHOSTUNREACH, fatal   | EACCES, fatal            |
 * | 1/2 beyond scope of source      | 3/1 host unreachable       | EHOSTUNREACH, soft    | same                     |
 * | 1/3 address unreachable         | 3/1 host unreachable       | EHOSTUNREACH, soft    | same                     |
 * | 1/4 port unreachable            | 3/3 port unreachable       | ECONNREFUSED, fatal   | same                     |
 * | 1/5 source policy failed        | 3/13                       | EHOSTUNREACH, fatal   | EACCES, fatal            |
 * | 1/6 reject route                | 3/13                       | EHOSTUNREACH, fatal   | EACCES, fatal            |
 * | 1/7+ (unassigned)               | 3/1 host unreachable       | EHOSTUNREACH, soft    | EPROTO, fatal            |
 * | 2 packet too big                | 3/4, nextHopMtu = MTU      | EMSGSIZE, soft        | same                     |
 * | 3/c time exceeded               | 11/c (0 hop limit, 1 reassembly) | EHOSTUNREACH, soft | same                  |
 * | 4/c parameter problem           | 12/0                       | EPROTO, fatal         | same                     |
 *
 * The differences (EACCES for codes 1, 5, 6; EPROTO for unassigned codes) are documented
 * rather than expressed: ip's `IcmpErrnoCode` has no EACCES and tcp keeps a text per code,
 * so adding it is a change across packages for the lead to weigh. The fatal flag, which
 * is what UDP and TCP act on, is Linux's in every row but the unassigned codes.
 *
 * Unknown error types (< 128; RFC 4443 §2.4(a) would pass them up) are counted
 * (`Icmp6InUnknownErrors`) and not delivered: no ICMPv4 type says "unknown", and Linux's
 * conversion of them (EPROTO, soft) changes no socket without IPV6_RECVERR.
 */
import {
  IPV6_ANY,
  checksumUpdate16,
  finish,
  isMulticast,
  pseudoHeaderSum,
  sum16,
  type ErrorReporter6,
  type InboundDatagram,
  type IpAddress,
  type IpOutput,
  type Ipv6Address,
  type PayloadWriter,
  type SendOptions,
  type TransportError,
  type TransportProtocol,
} from '@netstack/ip';
import { argTypeError, checkInteger, rangeError } from '@netstack/ip';
import {
  ICMP6_HEADER_LEN,
  ICMP6_MAX_QUOTE,
  IPPROTO_ICMPV6,
  Icmp6Packet,
  Icmp6Type,
  mayAnswerWithError6,
  parseIcmp6,
  parseQuotedIpv6,
  type Icmp6ErrorType,
  type Icmp6NoErrorReason,
} from './wire6.js';
import { TokenBucket, completedSum } from './reporter.js';
import { PingClient, type PingCallback, type PingCounters, type PingFamily, type PingHandle, type PingOptions } from './ping.js';

/** Largest ICMPv6 echo data: 65535 (the Payload Length field, no jumbograms) - 8 (ICMPv6 header). */
export const MAX_ECHO6_DATA = 65527;

/** ICMPv6 echo (RFC 4443 §4.1): type 128, checksum over the IPv6 pseudo-header (§2.3) and the message. */
export const PING_IPV6: PingFamily<Ipv6Address> = {
  protocol: IPPROTO_ICMPV6,
  echoRequestType: Icmp6Type.EchoRequest,
  maxData: MAX_ECHO6_DATA,
  checkDestination(dst: unknown): asserts dst is Ipv6Address {
    if (typeof dst !== 'string' || dst.length !== 16) throw argTypeError('dst', 'an Ipv6Address (16 bytes)', dst);
  },
  fillChecksum(msg: Uint8Array, src: IpAddress, dst: IpAddress): void {
    new Icmp6Packet(msg).fillChecksum(src as Ipv6Address, dst as Ipv6Address);
  },
};

/** What the ICMPv6 layer needs from the IP layer: its output, and the error router (as `IcmpIp`). */
export interface Icmp6Ip extends IpOutput {
  /** Routes a decoded ICMP error to the transport named in the quoted header. */
  deliverError(error: TransportError, now: number): void;
}

/** The IPv6 layer's error reporter (RFC 4443 §3), declared beside the IPv6 layer in @netstack/ip. */
export type { ErrorReporter6 } from '@netstack/ip';

/**
 * The send options this layer passes: `source` is the address a reply or error must come
 * from (RFC 4443 §2.2). NOTE for the lead: ip's `SendOptions` has no source; the IPv6
 * layer should honour this field (else it picks `sourceFor(dst)`; the checksum is right
 * either way, since the writer sums over the `src` the IP layer hands it).
 */
export interface Icmp6SendOptions extends SendOptions {
  source?: Ipv6Address;
}

export interface Icmp6Options {
  /** Token refill rate of the error rate limiter. Default 1000/s (as ICMPv4's). */
  errorRatePerSecond?: number;
  /** Bucket size of the error rate limiter. Default 50 (as ICMPv4's). */
  errorBurst?: number;
  /** Bound on outstanding pings. Default 1024 (as ICMPv4's). */
  maxOutstandingPings?: number;
  /** Random source in [0, 1) for the default echo identifier. Default Math.random. */
  random?: () => number;
}

/**
 * Counters named after Linux's /proc/net/snmp6 `Icmp6*` lines, plus the reasons behind
 * what was not answered or not sent (names without a Linux twin say so).
 *
 * Accounting identities (tested over random message streams):
 *
 *   Icmp6InMsgs = Icmp6InErrors + Icmp6InEchos + Icmp6InEchoReplies + Icmp6InInformational
 *               + Icmp6InUnknown + Icmp6InUnknownErrors + Icmp6InErrorsRouted
 *   Icmp6InErrors = Icmp6InCsumErrors + Icmp6InTruncated + Icmp6InErrorsNotOurs + Icmp6InWrongFamily
 *   Icmp6InInformational = the sum of the In counters of types 130-137 and 143
 *   Icmp6InDestUnreachs + Icmp6InPktTooBigs + Icmp6InTimeExcds + Icmp6InParmProblems
 *               = Icmp6InErrorsRouted + Icmp6InErrorsNotOurs
 *   Icmp6InEchos = Icmp6OutEchoReplies + Icmp6EchoIgnored + Icmp6EchoSendFailed + Icmp6EchoForeign + Icmp6EchoForeignTaken
 *   Icmp6ErrorsAsked = Icmp6OutDestUnreachs + Icmp6OutTimeExcds + Icmp6OutParmProblems + Icmp6OutPktTooBigs
 *               + Icmp6Suppressed + Icmp6RateLimited + Icmp6ErrorSendFailed
 *   Icmp6Suppressed = the sum of the four Icmp6Suppressed* reasons
 *   Icmp6InEchoReplies >= Icmp6EchoReplyUnmatched + Icmp6EchoReplyCorrupt (the rest matched a ping)
 *   Icmp6OutMsgs = Icmp6OutEchoReplies + Icmp6OutDestUnreachs + Icmp6OutTimeExcds + Icmp6OutParmProblems
 *               + Icmp6OutPktTooBigs + Icmp6OutEchos + Icmp6OutEchoRepliesRelayed
 *   Icmp6OutErrors = Icmp6EchoSendFailed + Icmp6ErrorSendFailed + Icmp6PingSendFailed + Icmp6RelaySendFailed
 */
export interface Icmp6Stats {
  Icmp6InMsgs: number;
  Icmp6InErrors: number;
  Icmp6InCsumErrors: number;
  Icmp6InDestUnreachs: number;
  Icmp6InPktTooBigs: number;
  Icmp6InTimeExcds: number;
  Icmp6InParmProblems: number;
  Icmp6InEchos: number;
  Icmp6InEchoReplies: number;
  Icmp6InGroupMembQueries: number;
  Icmp6InGroupMembResponses: number;
  Icmp6InGroupMembReductions: number;
  Icmp6InRouterSolicits: number;
  Icmp6InRouterAdvertisements: number;
  Icmp6InNeighborSolicits: number;
  Icmp6InNeighborAdvertisements: number;
  Icmp6InRedirects: number;
  Icmp6InMLDv2Reports: number;
  /** (not Linux) The sum of the nine informational In counters above (130-137, 143). */
  Icmp6InInformational: number;
  /** (not Linux) Unknown informational types (>= 128), ignored (RFC 4443 §2.4(b)). */
  Icmp6InUnknown: number;
  /** (not Linux) Unknown error types (< 128): counted, not delivered (see the top of the file). */
  Icmp6InUnknownErrors: number;
  /** (not Linux) Too short for the header or its type (counted in Icmp6InErrors too). */
  Icmp6InTruncated: number;
  /** (not Linux) Handed an IPv4 datagram: a wiring bug, counted in Icmp6InErrors too. */
  Icmp6InWrongFamily: number;
  /** (not Linux) Errors handed to the IP layer's `deliverError`. */
  Icmp6InErrorsRouted: number;
  /**
   * (not Linux) Errors dropped (counted in Icmp6InErrors too): sent to a multicast address,
   * quoting no packet of ours, quoting a packet with extension headers we never send, or
   * quoting a non-first fragment (no transport header) in anything but a Packet Too Big.
   */
  Icmp6InErrorsNotOurs: number;
  /** (not Linux) Echo requests not answered: from `::` or a multicast source. */
  Icmp6EchoIgnored: number;
  /** (not Linux) Echo requests to a foreign destination (`acceptAnyDestination`) not answered: no `foreignEcho` hook took them. */
  Icmp6EchoForeign: number;
  /** (not Linux) Echo requests to a foreign destination taken by the `foreignEcho` hook. */
  Icmp6EchoForeignTaken: number;
  /** (not Linux) Echo replies sent for taken requests (`answerForeignEcho`: the relay's destination answered). Not in Icmp6OutEchoReplies. */
  Icmp6OutEchoRepliesRelayed: number;
  /** (not Linux) Relayed echo replies the IP layer refused (`answerForeignEcho`). */
  Icmp6RelaySendFailed: number;
  /** (not Linux) Echo replies the IP layer refused to send (counted in Icmp6OutErrors). */
  Icmp6EchoSendFailed: number;
  /** (not Linux) Echo replies matching no outstanding ping (or from the wrong host). */
  Icmp6EchoReplyUnmatched: number;
  /** (not Linux) Echo replies matching a ping whose data differs from what was sent. */
  Icmp6EchoReplyCorrupt: number;
  Icmp6OutMsgs: number;
  Icmp6OutErrors: number;
  /** Echo requests sent by the ping client. */
  Icmp6OutEchos: number;
  /** (not Linux) Echo requests the IP layer refused to send (counted in Icmp6OutErrors). */
  Icmp6PingSendFailed: number;
  Icmp6OutEchoReplies: number;
  Icmp6OutDestUnreachs: number;
  Icmp6OutTimeExcds: number;
  Icmp6OutParmProblems: number;
  /** (not Linux) Calls of the error reporter. */
  Icmp6ErrorsAsked: number;
  /** Packet too big sent (only relayed: `relayError`, the gateway's echo relay; a host never sends its own). */
  Icmp6OutPktTooBigs: number;
  /** (not Linux) Errors not sent: token bucket empty (RFC 4443 §2.4(f)). */
  Icmp6RateLimited: number;
  /** (not Linux) Errors not sent by RFC 4443 §2.4(e): the sum of the four below. */
  Icmp6Suppressed: number;
  /** §2.4(e.1): about an ICMPv6 error message. */
  Icmp6SuppressedAboutError: number;
  /** §2.4(e.2): about a redirect. */
  Icmp6SuppressedAboutRedirect: number;
  /** §2.4(e.3-5): to a multicast address (or link multicast/broadcast), not excepted. */
  Icmp6SuppressedMulticast: number;
  /** §2.4(e.6): from `::`, a multicast or an anycast source. */
  Icmp6SuppressedSource: number;
  /** (not Linux) Errors the IP layer refused to send (counted in Icmp6OutErrors). */
  Icmp6ErrorSendFailed: number;
}

function newStats(): Icmp6Stats {
  return {
    Icmp6InMsgs: 0, Icmp6InErrors: 0, Icmp6InCsumErrors: 0, Icmp6InDestUnreachs: 0, Icmp6InPktTooBigs: 0,
    Icmp6InTimeExcds: 0, Icmp6InParmProblems: 0, Icmp6InEchos: 0, Icmp6InEchoReplies: 0,
    Icmp6InGroupMembQueries: 0, Icmp6InGroupMembResponses: 0, Icmp6InGroupMembReductions: 0,
    Icmp6InRouterSolicits: 0, Icmp6InRouterAdvertisements: 0, Icmp6InNeighborSolicits: 0,
    Icmp6InNeighborAdvertisements: 0, Icmp6InRedirects: 0, Icmp6InMLDv2Reports: 0, Icmp6InInformational: 0,
    Icmp6InUnknown: 0, Icmp6InUnknownErrors: 0, Icmp6InTruncated: 0, Icmp6InWrongFamily: 0,
    Icmp6InErrorsRouted: 0, Icmp6InErrorsNotOurs: 0, Icmp6EchoIgnored: 0, Icmp6EchoForeign: 0, Icmp6EchoForeignTaken: 0, Icmp6OutEchoRepliesRelayed: 0, Icmp6RelaySendFailed: 0, Icmp6EchoSendFailed: 0,
    Icmp6OutMsgs: 0, Icmp6OutErrors: 0, Icmp6OutEchoReplies: 0, Icmp6OutDestUnreachs: 0, Icmp6OutTimeExcds: 0,
    Icmp6OutParmProblems: 0, Icmp6ErrorsAsked: 0, Icmp6OutPktTooBigs: 0, Icmp6RateLimited: 0, Icmp6Suppressed: 0,
    Icmp6SuppressedAboutError: 0, Icmp6SuppressedAboutRedirect: 0, Icmp6SuppressedMulticast: 0,
    Icmp6SuppressedSource: 0, Icmp6ErrorSendFailed: 0,
    Icmp6EchoReplyUnmatched: 0, Icmp6EchoReplyCorrupt: 0, Icmp6OutEchos: 0, Icmp6PingSendFailed: 0,
  };
}

/** The ping client's counters (ping.ts `PingCounters`) as views of the `Icmp6*` ones. */
function pingCounters(s: Icmp6Stats): PingCounters {
  return {
    get OutMsgs() { return s.Icmp6OutMsgs; },
    set OutMsgs(v) { s.Icmp6OutMsgs = v; },
    get OutErrors() { return s.Icmp6OutErrors; },
    set OutErrors(v) { s.Icmp6PingSendFailed += v - s.Icmp6OutErrors; s.Icmp6OutErrors = v; },
    get OutEchos() { return s.Icmp6OutEchos; },
    set OutEchos(v) { s.Icmp6OutEchos = v; },
    get EchoReplyUnmatched() { return s.Icmp6EchoReplyUnmatched; },
    set EchoReplyUnmatched(v) { s.Icmp6EchoReplyUnmatched = v; },
    get EchoReplyCorrupt() { return s.Icmp6EchoReplyCorrupt; },
    set EchoReplyCorrupt(v) { s.Icmp6EchoReplyCorrupt = v; },
  };
}

/** The In counter of each recognised informational type (RFC 4861 §4, RFC 2710 §3, RFC 3810 §5). */
const INFORMATIONAL: Readonly<Record<number, keyof Icmp6Stats>> = {
  [Icmp6Type.MldQuery]: 'Icmp6InGroupMembQueries',
  [Icmp6Type.MldReport]: 'Icmp6InGroupMembResponses',
  [Icmp6Type.MldDone]: 'Icmp6InGroupMembReductions',
  [Icmp6Type.RouterSolicitation]: 'Icmp6InRouterSolicits',
  [Icmp6Type.RouterAdvertisement]: 'Icmp6InRouterAdvertisements',
  [Icmp6Type.NeighborSolicitation]: 'Icmp6InNeighborSolicits',
  [Icmp6Type.NeighborAdvertisement]: 'Icmp6InNeighborAdvertisements',
  [Icmp6Type.Redirect]: 'Icmp6InRedirects',
  [Icmp6Type.Mldv2Report]: 'Icmp6InMLDv2Reports',
};

const SUPPRESSION: Readonly<Record<Icmp6NoErrorReason, keyof Icmp6Stats>> = {
  aboutError: 'Icmp6SuppressedAboutError',
  aboutRedirect: 'Icmp6SuppressedAboutRedirect',
  multicastDestination: 'Icmp6SuppressedMulticast',
  linkMulticast: 'Icmp6SuppressedMulticast',
  linkBroadcast: 'Icmp6SuppressedMulticast',
  sourceNotUnique: 'Icmp6SuppressedSource',
};

/** ICMPv4 destination unreachable code for each ICMPv6 one (the table at the top of the file). */
const UNREACH_AS_V4: readonly number[] = [
  0, // no route → net unreachable
  13, // administratively prohibited → communication administratively prohibited
  1, // beyond scope of source address → host unreachable
  1, // address unreachable → host unreachable
  3, // port unreachable → port unreachable
  13, // source address failed ingress/egress policy
  13, // reject route to destination
];
const UNREACH_UNASSIGNED_AS_V4 = 1;

/** The ICMPv4 type/code of a received ICMPv6 error (the table at the top of the file). */
export function icmp6ErrorAsIcmp4(type: Icmp6ErrorType, code: number): { icmpType: number; icmpCode: number } {
  switch (type) {
    case Icmp6Type.DestinationUnreachable:
      return { icmpType: 3, icmpCode: UNREACH_AS_V4[code] ?? UNREACH_UNASSIGNED_AS_V4 };
    case Icmp6Type.PacketTooBig:
      return { icmpType: 3, icmpCode: 4 };
    case Icmp6Type.TimeExceeded:
      return { icmpType: 11, icmpCode: code };
    case Icmp6Type.ParameterProblem:
      return { icmpType: 12, icmpCode: 0 };
  }
}

/**
 * Writes an echo reply mirroring a request: same identifier, sequence number and data.
 * When the reply swaps the request's addresses (the pseudo-header sum is unchanged) and the
 * request's checksum was verified here, one RFC 1624 update of the type word; else (a
 * multicast request answered from our unicast, or a checksum the link vouched for and may
 * have left partial) the full sum over the pseudo-header and the message.
 */
class EchoReply6Writer implements PayloadWriter {
  request: Uint8Array = EMPTY;
  requestSrc: IpAddress = 0;
  requestDst: IpAddress = 0;
  checksumValid = false;
  writePayload(buf: Uint8Array, offset: number, src: IpAddress, dst: IpAddress): void {
    const req = this.request;
    buf.set(req, offset);
    buf[offset] = Icmp6Type.EchoReply;
    buf[offset + 1] = 0;
    if (this.checksumValid && src === this.requestDst && dst === this.requestSrc) {
      const oldWord = (req[0]! << 8) | req[1]!;
      const hc = checksumUpdate16((req[2]! << 8) | req[3]!, oldWord, Icmp6Type.EchoReply << 8);
      buf[offset + 2] = hc >>> 8;
      buf[offset + 3] = hc & 0xff;
      return;
    }
    buf[offset + 2] = 0;
    buf[offset + 3] = 0;
    const c = finish(sum16(buf, offset, offset + req.length, pseudoHeaderSum(src, dst, IPPROTO_ICMPV6, req.length)));
    buf[offset + 2] = c >>> 8;
    buf[offset + 3] = c & 0xff;
  }
}

/** Writes an ICMPv6 error: 8-byte header (type, code, checksum, 32-bit MTU/pointer/unused), then the quote. */
class Error6Writer implements PayloadWriter {
  type = 0;
  code = 0;
  rest = 0;
  quoted: Uint8Array = EMPTY;
  /** Offset in `quoted` of a transport checksum to write as `sumValue` (reporter.ts completedSum), or -1. */
  sumAt = -1;
  sumValue = 0;
  writePayload(buf: Uint8Array, offset: number, src: IpAddress, dst: IpAddress): void {
    const p = new Icmp6Packet(buf.subarray(offset, offset + ICMP6_HEADER_LEN + this.quoted.length));
    p.msgType = this.type;
    p.msgCode = this.code;
    p.rest = this.rest;
    buf.set(this.quoted, offset + ICMP6_HEADER_LEN);
    if (this.sumAt >= 0) {
      buf[offset + ICMP6_HEADER_LEN + this.sumAt] = this.sumValue >>> 8;
      buf[offset + ICMP6_HEADER_LEN + this.sumAt + 1] = this.sumValue & 0xff;
    }
    p.fillChecksum(src as Ipv6Address, dst as Ipv6Address);
  }
}

export class Icmp6Layer implements TransportProtocol, ErrorReporter6 {
  readonly protocol = IPPROTO_ICMPV6;
  private readonly ip: Icmp6Ip;
  private readonly counters = newStats();
  private readonly bucket: TokenBucket;
  private readonly replyWriter = new EchoReply6Writer();
  private readonly errorWriter = new Error6Writer();
  /** Reused options of every reply and error. */
  private readonly sendOptions: Icmp6SendOptions = { tos: 0 };
  /** The source of the error being relayed (`relayError`), else undefined. */
  private relayFrom: Ipv6Address | undefined = undefined;
  private readonly pinger: PingClient<Ipv6Address>;

  constructor(ip: Icmp6Ip, options: Icmp6Options = {}) {
    this.ip = ip;
    const rate = options.errorRatePerSecond ?? 1000;
    const burst = options.errorBurst ?? 50;
    if (!(rate >= 0) || !Number.isFinite(rate)) throw rangeError('options.errorRatePerSecond', 'a finite number >= 0', rate);
    checkInteger(burst, 'options.errorBurst', 0, 2 ** 31 - 1);
    this.bucket = new TokenBucket(rate, burst);
    const maxOutstanding = checkInteger(options.maxOutstandingPings ?? 1024, 'options.maxOutstandingPings', 1, 65536);
    const defaultId = Math.floor((options.random ?? Math.random)() * 0x10000) & 0xffff;
    this.pinger = new PingClient<Ipv6Address>(ip, pingCounters(this.counters), maxOutstanding, defaultId, PING_IPV6);
  }

  stats(): Readonly<Icmp6Stats> {
    return { ...this.counters };
  }

  /** RFC 4443: one received ICMPv6 message. Valid only during the call. */
  receive(d: InboundDatagram, now: number): void {
    const s = this.counters;
    s.Icmp6InMsgs++;
    if (typeof d.src !== 'string' || typeof d.dst !== 'string') {
      s.Icmp6InWrongFamily++;
      s.Icmp6InErrors++;
      return;
    }
    const src = d.src;
    const dst = d.dst;
    // RFC 4443 §2.3: the checksum covers the pseudo-header; skipped when the link vouched for it.
    const verify = d.checksumVerified !== true;
    // The echo request, first and without a view or record object, as ICMPv4's: ping floods
    // are the volume. The same checks as parseIcmp6's for it (8 bytes, then the checksum).
    const b = d.payload;
    if (b.length >= ICMP6_HEADER_LEN && b[0] === Icmp6Type.EchoRequest) {
      if (verify && sum16(b, 0, b.length, pseudoHeaderSum(src, dst, IPPROTO_ICMPV6, b.length)) !== 0xffff) {
        s.Icmp6InCsumErrors++;
        s.Icmp6InErrors++;
        return;
      }
      s.Icmp6InEchos++;
      if (d.foreign === true) {
        // As IcmpLayer.foreignEcho: never answered by the stack for a foreign destination
        // (this fast path answered them from our own address before: no guest ping matched).
        if (this.foreignEcho !== undefined && this.foreignEcho(d as InboundDatagram<Ipv6Address>, now)) s.Icmp6EchoForeignTaken++;
        else s.Icmp6EchoForeign++;
        return;
      }
      this.answerEcho(d as InboundDatagram<Ipv6Address>, verify);
      return;
    }
    const repr = parseIcmp6(b, src, dst, { verifyChecksum: verify });
    if (repr === 'checksum') {
      s.Icmp6InCsumErrors++;
      s.Icmp6InErrors++;
      return;
    }
    if (repr === 'truncated') {
      s.Icmp6InTruncated++;
      s.Icmp6InErrors++;
      return;
    }
    if (repr === 'unsupported') {
      s.Icmp6InUnknown++; // RFC 4443 §2.4(b): unknown informational types are discarded
      return;
    }
    switch (repr.kind) {
      case 'echoRequest':
        s.Icmp6InEchos++;
        if (d.foreign === true) {
          // As IcmpLayer.foreignEcho: never answered by the stack for a foreign destination.
          if (this.foreignEcho !== undefined && this.foreignEcho(d as InboundDatagram<Ipv6Address>, now)) s.Icmp6EchoForeignTaken++;
          else s.Icmp6EchoForeign++;
          return;
        }
        this.answerEcho(d as InboundDatagram<Ipv6Address>, verify);
        return;
      case 'echoReply':
        s.Icmp6InEchoReplies++;
        this.pinger.receiveReply(src, repr.ident, repr.seqNo, repr.data, d.ttl, now);
        return;
      case 'other':
        // RS, RA, NS, NA, redirect, MLD: a host on a TUN link (no link layer, no router
        // role) takes nothing from them and answers none (RFC 4861 belongs with TAP).
        s[INFORMATIONAL[repr.type]!]++;
        s.Icmp6InInformational++;
        return;
      case 'unknownError':
        s.Icmp6InUnknownErrors++;
        return;
      case 'destinationUnreachable':
        s.Icmp6InDestUnreachs++;
        break;
      case 'packetTooBig':
        s.Icmp6InPktTooBigs++;
        break;
      case 'timeExceeded':
        s.Icmp6InTimeExcds++;
        break;
      case 'parameterProblem':
        s.Icmp6InParmProblems++;
        break;
    }
    // An error: it quotes as much of the invoking packet as fits (RFC 4443 §2.4(c)), which
    // must be one of ours. Errors are never sent to a multicast address (its source is one,
    // and errors go to the invoking packet's source, §2.4(e.6)).
    const q = isMulticast(dst) || d.toBroadcast ? undefined : parseQuotedIpv6(repr.quoted);
    const isPtb = repr.kind === 'packetTooBig';
    if (
      q === undefined || q.unparsed || (q.fragmentOffset !== 0 && !isPtb)
      || !(this.ip.isOwnSource?.(q.src) ?? this.ip.isLocalAddress?.(q.src) ?? q.src === this.ip.address)
    ) {
      s.Icmp6InErrorsNotOurs++;
      s.Icmp6InErrors++;
      return;
    }
    s.Icmp6InErrorsRouted++;
    const type: Icmp6ErrorType = repr.kind === 'destinationUnreachable' ? 1 : isPtb ? 2 : repr.kind === 'timeExceeded' ? 3 : 4;
    const v4 = icmp6ErrorAsIcmp4(type, repr.code);
    this.ip.deliverError(
      {
        icmpType: v4.icmpType,
        icmpCode: v4.icmpCode,
        reporter: src,
        src: q.src,
        dst: q.dst,
        protocol: q.protocol,
        // A non-first fragment quotes no transport header: only the path MTU can use it.
        quoted: q.fragmentOffset === 0 ? q.transport : EMPTY,
        // RFC 8201 §4: the IP layer lowers its path MTU to this, never below 1280.
        nextHopMtu: isPtb ? repr.mtu : 0,
        // The quoted Payload Length plus the fixed header.
        originalLength: 40 + ((repr.quoted[4]! << 8) | repr.quoted[5]!),
      },
      now,
    );
  }

  /**
   * An ICMP error about an ICMPv6 message we sent, routed back by the IP layer (translated to
   * ICMPv4's type/code, the table at the top). One quoting an echo request fails that ping
   * with the errno Linux would give (ping.ts); about our replies and errors nothing can be done.
   */
  receiveError(e: TransportError, _now: number): void {
    this.pinger.receiveError(e);
  }

  // ---- the ping client (ping.ts, PING_IPV6) ------------------------------------

  /**
   * Sends one ICMPv6 echo request (RFC 4443 §4.1) with `options.size` data bytes
   * (0..65527) to `dst`; `callback` is called exactly once, never from inside this call.
   * `options.ttl` is the hop limit. See `PingClient.ping` for the outcomes and errors.
   */
  ping(dst: Ipv6Address, options: PingOptions, now: number, callback: PingCallback<Ipv6Address>): PingHandle {
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

  /** Echo requests to a foreign destination (`InboundDatagram.foreign`): true when taken (the later echo relay). */
  foreignEcho: ((request: InboundDatagram<Ipv6Address>, now: number) => boolean) | undefined = undefined;

  /**
   * As IcmpLayer.answerForeignEcho: the echo reply (RFC 4443 §4.2) to a foreign request the
   * `foreignEcho` hook took, FROM its destination (`SendOptions.transparent`), checksum
   * computed afresh. True when it left (Icmp6OutMsgs, Icmp6OutEchoRepliesRelayed; else Icmp6RelaySendFailed).
   */
  answerForeignEcho(request: InboundDatagram<Ipv6Address>): boolean {
    const s = this.counters;
    const w = this.replyWriter;
    w.request = request.payload;
    w.requestSrc = request.src;
    w.requestDst = request.dst;
    w.checksumValid = false;
    const o = this.sendOptions;
    o.tos = request.tos;
    o.source = request.dst;
    o.transparent = true;
    const err = this.ip.sendWith(request.src, IPPROTO_ICMPV6, request.payload.length, w, o);
    o.transparent = false;
    w.request = EMPTY;
    if (err !== undefined) {
      s.Icmp6OutErrors++;
      s.Icmp6RelaySendFailed++;
      return false;
    }
    s.Icmp6OutMsgs++;
    s.Icmp6OutEchoRepliesRelayed++;
    return true;
  }

  /** RFC 4443 §4.2: echo reply with the request's identifier, sequence number and data. */
  private answerEcho(d: InboundDatagram<Ipv6Address>, checksumValid: boolean): void {
    const s = this.counters;
    // A reply goes to the request's source, which must be a single node (RFC 4443 §2.2).
    if (d.src === IPV6_ANY || isMulticast(d.src)) {
      s.Icmp6EchoIgnored++;
      return;
    }
    const w = this.replyWriter;
    w.request = d.payload;
    w.requestSrc = d.src;
    w.requestDst = d.dst;
    w.checksumValid = checksumValid;
    const o = this.sendOptions;
    o.tos = d.tos; // the request's traffic class, as Linux's icmpv6_echo_reply
    // RFC 4443 §2.2 and §4.2: from the address the request was sent to, unless multicast.
    o.source = this.sourceAnswering(d);
    const err = this.ip.sendWith(d.src, IPPROTO_ICMPV6, d.payload.length, w, o);
    w.request = EMPTY;
    if (err === undefined) {
      s.Icmp6OutMsgs++;
      s.Icmp6OutEchoReplies++;
    } else {
      s.Icmp6OutErrors++;
      s.Icmp6EchoSendFailed++;
    }
  }

  /** The source of an answer to `d`: its destination when that is ours and unicast, else our address towards its source. */
  private sourceAnswering(d: InboundDatagram<Ipv6Address>): Ipv6Address {
    const ip = this.ip;
    if (!isMulticast(d.dst) && (ip.isLocalAddress?.(d.dst) ?? d.dst === ip.address)) return d.dst;
    return (ip.sourceFor(d.src) ?? ip.address) as Ipv6Address;
  }

  // ---- the error reporter (ErrorReporter6) -------------------------------------

  /** RFC 4443 §3.1: destination unreachable `code` (4: port, 3: address, 1: prohibited) about `original`. */
  destinationUnreachable(code: number, original: InboundDatagram<Ipv6Address>, now: number): void {
    if (this.sendError(Icmp6Type.DestinationUnreachable, code, 0, original, now)) this.counters.Icmp6OutDestUnreachs++;
  }

  /** RFC 4443 §3.4: parameter problem `code` with `pointer` (octet offset in `original.packet`). */
  parameterProblem(code: number, pointer: number, original: InboundDatagram<Ipv6Address>, now: number): void {
    if (this.sendError(Icmp6Type.ParameterProblem, code, pointer >>> 0, original, now)) this.counters.Icmp6OutParmProblems++;
  }

  /** RFC 4443 §3.3: time exceeded (code 1: fragment reassembly time exceeded, RFC 8200 §4.5). */
  timeExceeded(code: number, original: InboundDatagram<Ipv6Address>, now: number): void {
    if (this.sendError(Icmp6Type.TimeExceeded, code, 0, original, now)) this.counters.Icmp6OutTimeExcds++;
  }

  /**
   * The echo relay's errors, as IcmpLayer.relayError: an ICMPv6 error (1 destination
   * unreachable, 2 packet too big with `rest` the MTU, 3 time exceeded) a router or host
   * beyond the stack sent about what the relay re-sent for `original`, passed on FROM
   * `from` (transparent), quoting `original`. Same rules and rate limit as our own.
   */
  relayError(type: 1 | 2 | 3, code: number, rest: number, original: InboundDatagram<Ipv6Address>, from: Ipv6Address, now: number): boolean {
    this.relayFrom = from;
    try {
      const sent = this.sendError(type as Icmp6ErrorType, code, type === 2 ? rest >>> 0 : 0, original, now);
      if (sent) {
        const s = this.counters;
        if (type === 1) s.Icmp6OutDestUnreachs++;
        else if (type === 2) s.Icmp6OutPktTooBigs++;
        else s.Icmp6OutTimeExcds++;
      }
      return sent;
    } finally {
      this.relayFrom = undefined;
    }
  }

  /** RFC 4443 §2.4(e) rules, then the bucket (§2.4(f)), then the send; true when the error left. */
  private sendError(type: Icmp6ErrorType, code: number, rest: number, original: InboundDatagram<Ipv6Address>, now: number): boolean {
    const s = this.counters;
    s.Icmp6ErrorsAsked++;
    const p = original.packet;
    const verdict = mayAnswerWithError6(
      {
        src: original.src,
        dst: original.dst,
        icmp6Type: original.protocol === IPPROTO_ICMPV6 ? (original.payload[0] ?? 0) : undefined,
        linkMulticast: original.toBroadcast,
        // Parameter problem code 2 points at the unrecognised option's type byte (RFC 4443 §3.4).
        optionType: type === Icmp6Type.ParameterProblem ? p[rest] : undefined,
      },
      type,
      code,
    );
    if (verdict !== true) {
      s.Icmp6Suppressed++;
      s[SUPPRESSION[verdict]]++;
      return false;
    }
    if (!this.bucket.take(now)) {
      s.Icmp6RateLimited++;
      return false;
    }
    const w = this.errorWriter;
    w.type = type;
    w.code = code & 0xff;
    w.rest = rest;
    // RFC 4443 §2.4(c): as much of the invoking packet as fits in the minimum MTU.
    w.quoted = p.subarray(0, Math.min(p.length, ICMP6_MAX_QUOTE));
    w.sumAt = completedSum(original, w.quoted.length, w);
    const o = this.sendOptions;
    o.tos = 0;
    o.source = this.relayFrom ?? this.sourceAnswering(original);
    o.transparent = this.relayFrom !== undefined;
    const err = this.ip.sendWith(original.src, IPPROTO_ICMPV6, ICMP6_HEADER_LEN + w.quoted.length, w, o);
    o.transparent = false;
    w.quoted = EMPTY;
    w.sumAt = -1;
    if (err !== undefined) {
      s.Icmp6OutErrors++;
      s.Icmp6ErrorSendFailed++;
      return false;
    }
    s.Icmp6OutMsgs++;
    return true;
  }
}

const EMPTY = new Uint8Array(0);
