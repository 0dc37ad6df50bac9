/**
 * ICMPv6 on the wire (RFC 4443), beside ICMPv4's `wire.ts` and in the same two levels:
 *
 * - `Icmp6Packet`: a thin view over the bytes of one ICMPv6 message, with named field
 *   offsets. `Icmp6Packet.checked(bytes)` makes the one length check (8 bytes: type,
 *   code, checksum and the 4 type-specific bytes every message has, RFC 4443 §2.1);
 *   after it no accessor can read out of bounds.
 * - `Icmp6Repr`: a small record of the messages this stack understands (echo
 *   request/reply, the four errors of RFC 4443 §3), plus `other` for the informational
 *   messages a TUN link carries that we only recognise and count (router and neighbour
 *   discovery, RFC 4861; MLD, RFC 2710 and RFC 3810), and `unknownError` for error
 *   types we do not know (RFC 4443 §2.4(a): they still go to the upper layer).
 *   `parseIcmp6`, `emitIcmp6`, `icmp6BufferLen`.
 *
 * Unlike ICMPv4's, the checksum also covers the IPv6 pseudo-header (RFC 4443 §2.3,
 * RFC 8200 §8.1: source, destination, upper-layer length, next header 58), so parse and
 * emit take the two addresses. The upper-layer length is the length of the message as
 * the IP layer delivers it (after any extension headers). Parsing never throws: it
 * returns a reason string that the layer counts. `Uint8Array`s in a parsed record are
 * views into the packet, valid as long as its bytes are.
 *
 * Reserved fields are ignored on receive and written as zero on emit (RFC 4443 §3.1,
 * §3.3). An error message never exceeds the IPv6 minimum MTU (RFC 4443 §2.4(c)):
 * `emitIcmp6` quotes at most `ICMP6_MAX_QUOTE` bytes of the invoking packet.
 */
import { IPV6_ANY, isMulticast, pseudoHeaderSum, readIpv6Address, sum16, finish, type Ipv6Address } from '@netstack/ip';
import { ICMP_HEADER_LEN, IcmpHeaderView } from './header.js';

/** The IPv6 next-header value of ICMPv6 (RFC 4443 §1). */
export const IPPROTO_ICMPV6 = 58;

/** The IPv6 minimum link MTU (RFC 8200 §5). */
export const IPV6_MIN_MTU = 1280;

/** ICMPv6 message types (RFC 4443 §2.1, §3, §4; RFC 4861 §4; RFC 2710 §3; RFC 3810 §5). */
export const Icmp6Type = {
  DestinationUnreachable: 1,
  PacketTooBig: 2,
  TimeExceeded: 3,
  ParameterProblem: 4,
  EchoRequest: 128,
  EchoReply: 129,
  MldQuery: 130,
  MldReport: 131,
  MldDone: 132,
  RouterSolicitation: 133,
  RouterAdvertisement: 134,
  NeighborSolicitation: 135,
  NeighborAdvertisement: 136,
  Redirect: 137,
  Mldv2Report: 143,
} as const;

/** Destination unreachable codes (RFC 4443 §3.1). */
export const Unreachable6Code = {
  NoRoute: 0,
  AdminProhibited: 1,
  BeyondScope: 2,
  Address: 3,
  Port: 4,
  SourcePolicyFailed: 5,
  RejectRoute: 6,
} as const;

/** Time exceeded codes (RFC 4443 §3.3). */
export const TimeExceeded6Code = {
  HopLimit: 0,
  FragmentReassembly: 1,
} as const;

/** Parameter problem codes (RFC 4443 §3.4). */
export const ParameterProblem6Code = {
  ErroneousHeaderField: 0,
  UnrecognizedNextHeader: 1,
  UnrecognizedOption: 2,
} as const;

/** The four error types this stack sends. */
export type Icmp6ErrorType = 1 | 2 | 3 | 4;

/** Error messages have types 0..127, informational ones 128..255 (RFC 4443 §2.1). */
export function isIcmp6ErrorType(type: number): boolean {
  return type < 128;
}

/** Length of the fixed ICMPv6 header: type, code, checksum, 4 type-specific bytes. */
export const ICMP6_HEADER_LEN = ICMP_HEADER_LEN;

/** The fixed IPv6 header (RFC 8200 §3). */
const IPV6_HEADER_LEN = 40;

/**
 * Most bytes of the invoking packet an error quotes: what fits in an IPv6 packet of the
 * minimum MTU after the 40-byte IPv6 header and the 8-byte ICMPv6 header (RFC 4443
 * §2.4(c)). Our errors carry no extension headers.
 */
export const ICMP6_MAX_QUOTE = IPV6_MIN_MTU - IPV6_HEADER_LEN - ICMP6_HEADER_LEN;

/**
 * The smallest valid message of each informational type we recognise; shorter ones are
 * `truncated` (RFC 4861 §6.1.1, §6.1.2, §7.1.1, §7.1.2, §8.1; RFC 2710 §3; RFC 3810 §5.2).
 */
const MIN_LENGTH: Readonly<Record<number, number>> = {
  130: 24, // MLD query (an MLDv2 query, RFC 3810 §5.1, is longer)
  131: 24, // MLDv1 report
  132: 24, // MLD done
  133: 8, // router solicitation
  134: 16, // router advertisement
  135: 24, // neighbour solicitation
  136: 24, // neighbour advertisement
  137: 40, // redirect
  143: 8, // MLDv2 report
};

const MTU = 4; // packet too big (RFC 4443 §3.2)
const POINTER = 4; // parameter problem (RFC 4443 §3.4)

/** A view over one ICMPv6 message (the header shared with ICMPv4 in header.ts). Valid while `bytes` is. */
export class Icmp6Packet extends IcmpHeaderView {
  /** The one length check: undefined when shorter than the fixed header. */
  static checked(bytes: Uint8Array): Icmp6Packet | undefined {
    return bytes.length >= ICMP6_HEADER_LEN ? new Icmp6Packet(bytes) : undefined;
  }

  /** Packet too big: the MTU of the next-hop link (32 bits). */
  get mtu(): number { return this.view.getUint32(MTU); }
  set mtu(v: number) { this.view.setUint32(MTU, v); }
  /** Parameter problem: the octet offset of the error in the invoking packet (32 bits). */
  get pointer(): number { return this.view.getUint32(POINTER); }
  set pointer(v: number) { this.view.setUint32(POINTER, v); }

  /** The sum over the pseudo-header and the whole message is 0xffff when intact (RFC 4443 §2.3). */
  verifyChecksum(src: Ipv6Address, dst: Ipv6Address): boolean {
    const len = this.bytes.length;
    return sum16(this.bytes, 0, len, pseudoHeaderSum(src, dst, IPPROTO_ICMPV6, len)) === 0xffff;
  }

  fillChecksum(src: Ipv6Address, dst: Ipv6Address): void {
    const len = this.bytes.length;
    this.checksum = 0;
    this.checksum = finish(sum16(this.bytes, 0, len, pseudoHeaderSum(src, dst, IPPROTO_ICMPV6, len)));
  }
}

/** The informational types recognised and only counted (`kind: 'other'`). */
export type Icmp6OtherType = 130 | 131 | 132 | 133 | 134 | 135 | 136 | 137 | 143;

export type Icmp6Repr =
  | { kind: 'echoRequest'; ident: number; seqNo: number; data: Uint8Array }
  | { kind: 'echoReply'; ident: number; seqNo: number; data: Uint8Array }
  /** `quoted`: the leading bytes of the invoking packet, its IPv6 header first. */
  | { kind: 'destinationUnreachable'; code: number; quoted: Uint8Array }
  | { kind: 'packetTooBig'; code: number; mtu: number; quoted: Uint8Array }
  | { kind: 'timeExceeded'; code: number; quoted: Uint8Array }
  | { kind: 'parameterProblem'; code: number; pointer: number; quoted: Uint8Array }
  /** An error type we do not know (< 128): still for the upper layer (RFC 4443 §2.4(a)). */
  | { kind: 'unknownError'; type: number; code: number; quoted: Uint8Array }
  /** A recognised informational message we do not process: `body` is everything after the checksum. */
  | { kind: 'other'; type: Icmp6OtherType; code: number; body: Uint8Array };

/** Why a received message was not turned into a record. `unsupported`: an unknown informational type (RFC 4443 §2.4(b)). */
export type Icmp6ParseError = 'truncated' | 'checksum' | 'unsupported';

/**
 * Parses one received ICMPv6 message, `bytes` being the whole upper-layer payload
 * (its length is the pseudo-header's), sent from `src` to `dst`. Echo codes other
 * than 0 are accepted, as are error codes not yet assigned (the receiver maps them).
 * Never throws.
 */
export function parseIcmp6(
  bytes: Uint8Array,
  src: Ipv6Address,
  dst: Ipv6Address,
  options?: { verifyChecksum?: boolean },
): Icmp6Repr | Icmp6ParseError {
  const packet = Icmp6Packet.checked(bytes);
  if (packet === undefined) return 'truncated';
  // The checksum first, so a corrupted type byte counts as a checksum error.
  if (options?.verifyChecksum !== false && !packet.verifyChecksum(src, dst)) return 'checksum';
  const type = packet.msgType;
  const minLength = MIN_LENGTH[type];
  if (minLength !== undefined && bytes.length < minLength) return 'truncated';
  const code = packet.msgCode;
  switch (type) {
    case Icmp6Type.EchoRequest:
      return { kind: 'echoRequest', ident: packet.echoIdent, seqNo: packet.echoSeqNo, data: packet.data };
    case Icmp6Type.EchoReply:
      return { kind: 'echoReply', ident: packet.echoIdent, seqNo: packet.echoSeqNo, data: packet.data };
    case Icmp6Type.DestinationUnreachable:
      return { kind: 'destinationUnreachable', code, quoted: packet.data };
    case Icmp6Type.PacketTooBig:
      return { kind: 'packetTooBig', code, mtu: packet.mtu, quoted: packet.data };
    case Icmp6Type.TimeExceeded:
      return { kind: 'timeExceeded', code, quoted: packet.data };
    case Icmp6Type.ParameterProblem:
      return { kind: 'parameterProblem', code, pointer: packet.pointer, quoted: packet.data };
    default:
      if (minLength !== undefined) return { kind: 'other', type: type as Icmp6OtherType, code, body: bytes.subarray(4) };
      if (isIcmp6ErrorType(type)) return { kind: 'unknownError', type, code, quoted: packet.data };
      return 'unsupported';
  }
}

/** The bytes `emitIcmp6` writes for `repr`: errors quote at most `ICMP6_MAX_QUOTE` bytes. */
export function icmp6BufferLen(repr: Icmp6Repr): number {
  switch (repr.kind) {
    case 'echoRequest':
    case 'echoReply':
      return ICMP6_HEADER_LEN + repr.data.length;
    case 'other':
      return 4 + repr.body.length;
    default:
      return ICMP6_HEADER_LEN + Math.min(repr.quoted.length, ICMP6_MAX_QUOTE);
  }
}

/**
 * Writes `repr` front to back into `packet` (at least `icmp6BufferLen(repr)` bytes) and
 * fills the checksum for a message from `src` to `dst`. An error's `quoted` is cut to
 * `ICMP6_MAX_QUOTE` bytes so the error fits the minimum MTU (RFC 4443 §2.4(c)).
 * Returns the length written.
 */
export function emitIcmp6(repr: Icmp6Repr, packet: Icmp6Packet, src: Ipv6Address, dst: Ipv6Address): number {
  const len = icmp6BufferLen(repr);
  const bytes = packet.bytes.subarray(0, len);
  const p = bytes.length === packet.bytes.length ? packet : new Icmp6Packet(bytes);
  p.rest = 0;
  switch (repr.kind) {
    case 'echoRequest':
    case 'echoReply':
      p.msgType = repr.kind === 'echoRequest' ? Icmp6Type.EchoRequest : Icmp6Type.EchoReply;
      p.msgCode = 0;
      p.echoIdent = repr.ident;
      p.echoSeqNo = repr.seqNo;
      bytes.set(repr.data, ICMP6_HEADER_LEN);
      break;
    case 'other':
      p.msgType = repr.type;
      p.msgCode = repr.code;
      bytes.set(repr.body, 4);
      break;
    default: {
      switch (repr.kind) {
        case 'destinationUnreachable': p.msgType = Icmp6Type.DestinationUnreachable; break;
        case 'packetTooBig': p.msgType = Icmp6Type.PacketTooBig; p.mtu = repr.mtu; break;
        case 'timeExceeded': p.msgType = Icmp6Type.TimeExceeded; break;
        case 'parameterProblem': p.msgType = Icmp6Type.ParameterProblem; p.pointer = repr.pointer; break;
        case 'unknownError': p.msgType = repr.type; break;
      }
      p.msgCode = repr.code;
      bytes.set(repr.quoted.subarray(0, len - ICMP6_HEADER_LEN), ICMP6_HEADER_LEN);
    }
  }
  p.fillChecksum(src, dst);
  return len;
}

/** `emitIcmp6` into a new buffer of exactly `icmp6BufferLen(repr)` bytes. */
export function icmp6Bytes(repr: Icmp6Repr, src: Ipv6Address, dst: Ipv6Address): Uint8Array {
  const buf = new Uint8Array(icmp6BufferLen(repr));
  emitIcmp6(repr, new Icmp6Packet(buf), src, dst);
  return buf;
}

// ---------------------------------------------------------------------------
// RFC 4443 §2.4(e): when an error may be sent about a packet

/** What `mayAnswerWithError6` needs to know about the invoking packet. */
export interface Invoking6 {
  src: Ipv6Address;
  dst: Ipv6Address;
  /**
   * The ICMPv6 type of the invoking packet when its upper layer is ICMPv6 (an error is
   * any type < 128, known or not); undefined for any other upper layer.
   */
  icmp6Type?: number | undefined;
  /** It arrived as a link-layer multicast or broadcast (never on TUN; for TAP). */
  linkMulticast?: boolean | undefined;
  linkBroadcast?: boolean | undefined;
  /** Its source is known to us to be an anycast address (RFC 4443 §2.4(e.6)). */
  srcIsAnycast?: boolean | undefined;
  /**
   * For parameter problem code 2: the type of the unrecognised option. Only types whose
   * two high bits are 10 ask for an error even to a multicast destination (RFC 8200 §4.2);
   * undefined counts as not.
   */
  optionType?: number | undefined;
}

/** Why no error may be sent, by the rule of RFC 4443 §2.4(e) that forbids it. */
export type Icmp6NoErrorReason =
  | 'aboutError' // (e.1)
  | 'aboutRedirect' // (e.2)
  | 'multicastDestination' // (e.3)
  | 'linkMulticast' // (e.4)
  | 'linkBroadcast' // (e.5)
  | 'sourceNotUnique'; // (e.6)

/**
 * RFC 4443 §2.4(e): true when an error of `errorType`/`code` may be sent about
 * `invoking`, else the reason it must not. Rate limiting (§2.4(f)) is the caller's.
 *
 * The exceptions of (e.3), which also apply to (e.4) and (e.5): Packet Too Big (so path
 * MTU discovery works for multicast) and Parameter Problem code 2 for an option whose
 * type's high bits are 10 (RFC 8200 §4.2; with 11 the error is sent only to unicast).
 */
export function mayAnswerWithError6(invoking: Invoking6, errorType: Icmp6ErrorType, code: number): true | Icmp6NoErrorReason {
  // (e.1) never an error about an error, known or unknown type.
  if (invoking.icmp6Type !== undefined && isIcmp6ErrorType(invoking.icmp6Type)) return 'aboutError';
  // (e.2) nor about a redirect.
  if (invoking.icmp6Type === Icmp6Type.Redirect) return 'aboutRedirect';
  // (e.6) the source must identify a single node: not ::, not multicast, not anycast.
  if (invoking.src === IPV6_ANY || isMulticast(invoking.src) || invoking.srcIsAnycast === true) return 'sourceNotUnique';
  const excepted = errorType === Icmp6Type.PacketTooBig
    || (errorType === Icmp6Type.ParameterProblem && code === ParameterProblem6Code.UnrecognizedOption
      && invoking.optionType !== undefined && (invoking.optionType & 0xc0) === 0x80);
  if (!excepted) {
    if (isMulticast(invoking.dst)) return 'multicastDestination'; // (e.3)
    if (invoking.linkMulticast === true) return 'linkMulticast'; // (e.4)
    if (invoking.linkBroadcast === true) return 'linkBroadcast'; // (e.5)
  }
  return true;
}

// ---------------------------------------------------------------------------
// The invoking packet quoted in a received error

/** Extension header numbers (RFC 8200 §4, IANA "IPv6 Extension Header Types"). */
const EXTENSION_HEADERS: ReadonlySet<number> = new Set([0, 43, 44, 50, 51, 60, 135, 139, 140, 253, 254]);
const FRAGMENT_HEADER = 44;

/** The fields of a quoted IPv6 packet that an ICMPv6 error carries (RFC 4443 §2.4(c)). */
export interface QuotedDatagram6 {
  src: Ipv6Address;
  dst: Ipv6Address;
  /**
   * The upper-layer protocol (6, 17, 58 ...). When `unparsed`, the extension header where
   * the walk stopped instead.
   */
  protocol: number;
  /** Bytes before `transport`: 40, or 48 after a fragment header. */
  headerLength: number;
  /** Fragment offset in 8-byte units (0 without a fragment header). */
  fragmentOffset: number;
  /** The quoted bytes after the headers walked (transport header first when `fragmentOffset` is 0). */
  transport: Uint8Array;
  /**
   * The walk stopped at an extension header other than the fragment header. Packets this
   * stack sends carry none (only a fragment header), so an error about one of ours never
   * needs more; a full walk belongs to ip's extension-header code.
   */
  unparsed: boolean;
}

/**
 * Reads the IPv6 header at the start of an ICMPv6 error's quoted data and walks a
 * fragment header if one follows (RFC 8200 §4.5). Undefined unless it is version 6 and
 * the headers are whole; and, when the walk reaches the upper layer of a first (or
 * only) fragment, unless at least `minTransport` bytes of it follow (8: both ports of
 * TCP and UDP, the identifier of an echo).
 */
export function parseQuotedIpv6(quoted: Uint8Array, minTransport = 8): QuotedDatagram6 | undefined {
  if (quoted.length < IPV6_HEADER_LEN || quoted[0]! >>> 4 !== 6) return undefined;
  let protocol = quoted[6]!;
  let headerLength = IPV6_HEADER_LEN;
  let fragmentOffset = 0;
  if (protocol === FRAGMENT_HEADER) {
    // Next header, reserved, offset (13 bits) + 2 reserved + M, identification (RFC 8200 §4.5).
    if (quoted.length < headerLength + 8) return undefined;
    fragmentOffset = ((quoted[headerLength + 2]! << 8) | quoted[headerLength + 3]!) >>> 3;
    protocol = quoted[headerLength]!;
    headerLength += 8;
  }
  const unparsed = EXTENSION_HEADERS.has(protocol);
  if (!unparsed && fragmentOffset === 0 && quoted.length < headerLength + minTransport) return undefined;
  return {
    src: readIpv6Address(quoted, 8),
    dst: readIpv6Address(quoted, 24),
    protocol,
    headerLength,
    fragmentOffset,
    transport: quoted.subarray(headerLength),
    unparsed,
  };
}
