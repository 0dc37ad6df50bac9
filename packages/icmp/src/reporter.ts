/**
 * The ICMP error reporter of a host (RFC 792, RFC 1122 §3.2.2): destination unreachable and
 * time exceeded about a received datagram, under RFC 1122 §3.2.2's "never about" rules and a
 * token bucket (RFC 1812 §4.3.2.8). `IcmpLayer` owns one and is the IP layer's
 * `ErrorReporter` through it.
 *
 * Pure protocol logic: time is the `now` argument (milliseconds); no clock, no timer.
 */
import {
  BROADCAST,
  PROTO_ICMP,
  PROTO_TCP,
  PROTO_UDP,
  finish,
  pseudoHeaderSum,
  sum16,
  isBroadcast,
  isMulticast,
  type InboundDatagram,
  type IpOutput,
  type IpAddress,
  type Ipv4Address,
  type PayloadWriter,
  type SendOptions,
} from '@netstack/ip';
import { ICMP_HEADER_LEN, IcmpPacket, IcmpType, UnreachableCode } from './wire.js';

/** A subnet: its directed broadcast is a non-unicast address. */
export interface Subnet {
  address: Ipv4Address;
  prefixLength: number;
}

/** The ICMP layer's counters (`IcmpStats`) that the error reporter moves. */
export interface ErrorSenderCounters {
  OutMsgs: number;
  OutErrors: number;
  OutDestUnreachs: number;
  OutTimeExcds: number;
  /** Errors not sent because the token bucket was empty. */
  RateLimited: number;
  /** Errors not sent by RFC 1122 §3.2.2's rules (sum of the four below). */
  Suppressed: number;
  SuppressedIcmpError: number;
  SuppressedBroadcast: number;
  SuppressedFragment: number;
  SuppressedSource: number;
}

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

/** Informational types (RFC 792, RFC 950): an ICMP message of any other type is treated as an error (like Linux). */
function isInformational(type: number): boolean {
  return type === 0 || type === 8 || type === 9 || type === 10 || (type >= 13 && type <= 18);
}

/** RFC 1122 §3.2.2: a source that does not define a single host. */
export function isNonUnicastSource(a: IpAddress, subnet: Subnet | undefined): boolean {
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

/**
 * The quoted datagram's transport checksum as its sender meant it to be on the wire. A
 * datagram from the local kernel over an offload link (checksumVerified: virtio NEEDS_CSUM
 * or DATA_VALID) may carry only the pseudo-header sum in its TCP/UDP checksum field: the
 * kernel left completing it to the "hardware", which is us. A host across a wire would
 * have received, and quoted, the complete value, so the quote carries that (computed over
 * the whole datagram, also when the quote is cut short; for a DATA_VALID datagram it is the
 * value already there). Returns the field's offset in the quote and sets `w.sumValue`, or
 * -1 to quote the bytes as they are: not vouched for by the link, not TCP/UDP, a UDP
 * datagram without checksum (0, RFC 768), or the field not inside the quote. Family-neutral
 * (the pseudo-header of either family): ICMPv6's reporter (layer6.ts) uses it too.
 */
export function completedSum(d: InboundDatagram, quotedLength: number, w: { sumValue: number }): number {
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

/**
 * Sends ICMP errors about received datagrams. Holds one token bucket and one reused
 * writer: a flood of offending datagrams costs no memory.
 */
export class IcmpErrorSender {
  private readonly writer = new ErrorWriter();
  /** The error's source: the offending datagram's destination when it is ours (Linux __icmp_send; the IP layer checks). */
  private readonly options: SendOptions = { source: undefined, sourceFallback: true, transparent: false };
  /** The source of the error being relayed (`relay`), else undefined: the offending datagram's destination. */
  private from: Ipv4Address | undefined = undefined;

  /**
   * `ip` sends the errors; `counters` are the layer's (shared, updated in place);
   * `datagramLimit` bounds an error datagram, IP header included; `subnet` names our
   * directed broadcast.
   */
  constructor(
    private readonly ip: IpOutput,
    private readonly counters: ErrorSenderCounters,
    private readonly bucket: TokenBucket,
    private readonly datagramLimit: number,
    private readonly subnet: Subnet | undefined,
  ) {}

  /**
   * Destination unreachable about `original` (RFC 792), quoting as much of
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
    if (this.send(IcmpType.DestinationUnreachable, code, rest, original, now)) this.counters.OutDestUnreachs++;
  }

  /**
   * Time exceeded (RFC 792 type 11). The IP layer asks for code 1
   * (fragment reassembly time exceeded, RFC 1122 §3.3.2) quoting the first fragment.
   * Same rules, quoting and rate limit as `destinationUnreachable`.
   */
  timeExceeded(code: number, original: InboundDatagram, now: number): void {
    if (this.send(IcmpType.TimeExceeded, code, 0, original, now)) this.counters.OutTimeExcds++;
  }

  /**
   * An error a router or host beyond us sent about what a relay re-sent for `original`
   * (the gateway's echo relay: the host kernel's IP_RECVERR): destination unreachable
   * (`rest` the next-hop MTU for code 4, RFC 1191 §4) or time exceeded, FROM `from` (a
   * foreign source: `SendOptions.transparent`), quoting `original`. Same rules and rate
   * limit as our own errors; counted as they are (OutDestUnreachs, OutTimeExcds).
   */
  relay(type: typeof IcmpType.DestinationUnreachable | typeof IcmpType.TimeExceeded, code: number, rest: number, original: InboundDatagram, from: Ipv4Address, now: number): boolean {
    this.from = from;
    try {
      const sent = this.send(type, code, type === IcmpType.DestinationUnreachable && code === UnreachableCode.FragmentationNeeded ? rest & 0xffff : 0, original, now);
      if (sent) {
        if (type === IcmpType.DestinationUnreachable) this.counters.OutDestUnreachs++;
        else this.counters.OutTimeExcds++;
      }
      return sent;
    } finally {
      this.from = undefined;
    }
  }

  /** Checks the rules and the bucket, then sends; true when the error left. */
  private send(type: number, code: number, rest: number, original: InboundDatagram, now: number): boolean {
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
    const w = this.writer;
    w.type = type;
    w.code = code & 0xff;
    w.rest = rest;
    const room = this.datagramLimit - 20 - ICMP_HEADER_LEN;
    w.quoted = original.packet.subarray(0, Math.min(original.packet.length, room));
    w.sumAt = completedSum(original, w.quoted.length, w);
    this.options.source = this.from ?? original.dst;
    this.options.transparent = this.from !== undefined;
    const err = this.ip.sendWith(original.src, PROTO_ICMP, ICMP_HEADER_LEN + w.quoted.length, w, this.options);
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
}

const EMPTY = new Uint8Array(0);
