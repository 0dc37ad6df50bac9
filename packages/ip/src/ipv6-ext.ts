/**
 * The IPv6 extension header chain (RFC 8200 §4, RFC 7045, RFC 6564), walked once per
 * received packet by `walkIpv6Extensions`: from the fixed header's Next Header to the
 * upper-layer header, or to a Fragment header, or to a reason to drop the packet.
 * It never throws on wire input; every outcome is a record.
 *
 * Headers walked (all use RFC 6564's uniform format except Fragment, which is 8 bytes):
 * - Hop-by-Hop Options (0): only directly after the fixed header (RFC 8200 §4.1); anywhere
 *   else it is an unrecognised Next Header: parameter problem code 1 at that field (§4).
 * - Destination Options (60), any number of times (§4.1: a receiver accepts any order).
 * - Options of both (§4.2): Pad1 and PadN are the only ones this host recognises (Router
 *   Alert and Tunnel Encapsulation Limit have action bits 00, so they are skipped as any
 *   such unknown option; Jumbo Payload and Home Address have 11, so they are refused as a
 *   host without jumbograms or Mobile IPv6 must). The two high bits of an unrecognised
 *   type choose: 00 skip, 01 discard, 10 discard + parameter problem code 2 at the option
 *   type, 11 the same unless the destination is multicast. A malformed options area is
 *   dropped silently as Linux's ip6_parse_tlv does: an option running past the header, more
 *   than 7 bytes of consecutive padding (RFC 4942 §2.1.9.5, RFC 8504 §5.3), PadN data not
 *   zero (RFC 4942 §2.1.9.5), or more than 8 non-padding options in one header (Linux's
 *   max_{hbh,dst}_opts_number default; RFC 8504 §5.3 lets a host limit them).
 * - Routing (43): no routing type is implemented by a host here. Segments Left 0: the
 *   header is skipped (§4.4); otherwise parameter problem code 0 pointing at the Routing
 *   Type. Type 0 is handled exactly as an unknown type (RFC 5095 §3: never executed), with
 *   its own drop reason so RH0 traffic shows in the counters.
 * - Fragment (44): an atomic fragment (offset 0, M clear) is processed in isolation
 *   (RFC 6946 §4): the walk goes on past it and the result says so. Any other fragment
 *   stops the walk: the result carries identification, offset, M and where the fragmentable
 *   part starts, for the reassembler. The two per-fragment checks of RFC 8200 §4.5 that
 *   answer with a parameter problem are made here (M set with a length not a multiple of 8:
 *   pointer at Payload Length; reassembled Payload Length beyond 65535: pointer at the
 *   Fragment Offset); and a first fragment (offset 0) must hold the whole header chain
 *   through the start of the upper-layer header (RFC 7112 §5; code 3, pointer 0; the
 *   upper-layer minimum as Linux's ipv6_frag_thdr_truncated: TCP 20, UDP 8, ICMPv6 4, else 1). After reassembly (fragment header removed, the previous Next Header
 *   rewritten, §4.5) the whole datagram is walked again from its fixed header.
 * - No Next Header (59): dropped (§4.7), no error.
 * - Anything else ends the walk as the upper-layer protocol, ESP, AH, Mobility, HIP, Shim6
 *   and the experimental 253/254 included (RFC 7045 §2.2: none is implemented; the layer
 *   answers an unregistered protocol with parameter problem code 1 at `nextHeaderField`).
 *
 * The bound on the chain (`IPV6_MAX_EXT_HEADERS`, `IPV6_MAX_CHAIN_BYTES`): at most 8
 * extension headers, and the upper-layer header must start within the first 1280 bytes.
 * A chain following RFC 8200 §4.1's recommended order has at most 7 (Hop-by-Hop,
 * Destination Options, Routing, Fragment, AH, ESP, Destination Options), and RFC 8200 §4.5
 * with RFC 7112 require the whole chain in the first fragment, which a sender can only
 * count on being 1280 bytes (§5). Beyond either bound the packet is dropped silently
 * (RFC 8504 §5.3 lets a host limit extension headers; Linux sends nothing either),
 * so a crafted chain costs at most 8 header steps and 8 × 8 option steps per packet.
 */
import { codedError } from './errors.js';
import { IPV6_HEADER_LEN, IPV6_MAX_PAYLOAD, IPV6_MIN_MTU, IPV6_NEXT_HEADER, type Ipv6DropReason } from './ipv6.js';

/** At most this many extension headers are walked per packet (see the top of this file). */
export const IPV6_MAX_EXT_HEADERS = 8;
/** The upper-layer header (or a fragment's data) must start within this many bytes of the packet. */
export const IPV6_MAX_CHAIN_BYTES = IPV6_MIN_MTU;
/** Non-padding options per Hop-by-Hop / Destination Options header (Linux's default). */
export const IPV6_MAX_OPTIONS = 8;
/** Consecutive padding bytes allowed in an options area (RFC 4942 §2.1.9.5). */
export const IPV6_MAX_PADDING = 7;

/** Option types (RFC 8200 §4.2). */
export const IPV6_OPTION = { PAD1: 0, PADN: 1 } as const;

/** Byte offsets in the Fragment header (RFC 8200 §4.5). */
export const IPV6_FRAGMENT_FIELD = { NEXT_HEADER: 0, RESERVED: 1, OFFSET_FLAGS: 2, IDENT: 4 } as const;
export const IPV6_FRAGMENT_HEADER_LEN = 8;
/** Byte offsets in the Routing header (RFC 8200 §4.4). */
export const IPV6_ROUTING_FIELD = { NEXT_HEADER: 0, LENGTH: 1, TYPE: 2, SEGMENTS_LEFT: 3 } as const;

/** A Fragment header (RFC 8200 §4.5) found in the chain. */
export interface Ipv6Fragment {
  identification: number;
  /** Fragment Offset in bytes (the wire field times 8). */
  offset: number;
  /** The M flag: more fragments follow. */
  more: boolean;
  /** Offset 0 and M clear (RFC 6946): processed alone, the walk went on past it. */
  atomic: boolean;
  /** Offset of the Fragment header in the packet: the unfragmentable part is [0, headerOffset). */
  headerOffset: number;
  /** Where the fragmentable part's bytes start (headerOffset + 8). */
  dataOffset: number;
  /** Offset of the Next Header field that names the Fragment header (6 or in an earlier extension header): rewritten on reassembly (§4.5). */
  prevNextHeaderField: number;
  /** The Fragment header's Next Header: the first header of the fragmentable part. */
  nextHeader: number;
}

/** The walk reached the upper-layer header (or a fragment, see `fragment`). */
export interface Ipv6ExtChain {
  /**
   * The Next Header value that ended the walk: the upper-layer protocol. For a fragment that
   * is not atomic, the first header of the fragmentable part (not yet to be processed).
   */
  upperProtocol: number;
  /** Where the upper-layer header starts (for a non-atomic fragment: `fragment.dataOffset`). */
  upperOffset: number;
  /** Offset of the Next Header field holding `upperProtocol`: the pointer of a parameter problem code 1 (RFC 8200 §4) if nothing handles it. */
  nextHeaderField: number;
  /** 40 + Payload Length: the end of the packet, link padding excluded. */
  end: number;
  /** Extension headers walked. */
  headers: number;
  /** The Fragment header, if one was walked. Not atomic: hand the packet to reassembly. */
  fragment: Ipv6Fragment | undefined;
}

/** RFC 4443 §3.4 Parameter Problem (type 4) to send about the dropped packet. */
export interface Ipv6ParamProblem {
  type: 4;
  /** 0 erroneous header field, 1 unrecognised Next Header, 2 unrecognised option, 3 first fragment without the whole header chain (RFC 7112). */
  code: 0 | 1 | 2 | 3;
  /** Offset in the packet (from the start of its fixed header) of the octet at fault. */
  pointer: number;
}

/** The packet is to be dropped (and counted under `reason`), with an ICMPv6 error when `icmp` is set. */
export interface Ipv6ExtDrop {
  reason: Ipv6DropReason;
  icmp?: Ipv6ParamProblem;
}

export type Ipv6ExtResult = Ipv6ExtChain | Ipv6ExtDrop;

export function isIpv6ExtDrop(r: Ipv6ExtResult): r is Ipv6ExtDrop {
  return (r as Ipv6ExtDrop).reason !== undefined;
}

type SilentReason = 'Ip6InTruncatedPkts' | 'Ip6InBadVersion' | 'Ip6InExtTruncated' | 'Ip6InExtChainTooLong' | 'Ip6InBadOptions' | 'Ip6InUnknownOption' | 'Ip6InNoNextHeader';

/** Drops without an ICMP error, shared (frozen): no allocation on those paths. */
const SILENT: Readonly<Record<SilentReason, Ipv6ExtDrop>> = {
  Ip6InTruncatedPkts: Object.freeze({ reason: 'Ip6InTruncatedPkts' }),
  Ip6InBadVersion: Object.freeze({ reason: 'Ip6InBadVersion' }),
  Ip6InExtTruncated: Object.freeze({ reason: 'Ip6InExtTruncated' }),
  Ip6InExtChainTooLong: Object.freeze({ reason: 'Ip6InExtChainTooLong' }),
  Ip6InBadOptions: Object.freeze({ reason: 'Ip6InBadOptions' }),
  Ip6InUnknownOption: Object.freeze({ reason: 'Ip6InUnknownOption' }),
  Ip6InNoNextHeader: Object.freeze({ reason: 'Ip6InNoNextHeader' }),
};

function silent(reason: SilentReason): Ipv6ExtDrop {
  return SILENT[reason];
}

function problem(reason: Ipv6DropReason, code: 0 | 1 | 2 | 3, pointer: number): Ipv6ExtDrop {
  return { reason, icmp: { type: 4, code, pointer } };
}

/**
 * Walks the options area `[from, to)` of a Hop-by-Hop or Destination Options header
 * (RFC 8200 §4.2). Undefined when the packet may go on; else why it is dropped.
 */
function walkOptions(p: Uint8Array, from: number, to: number, dstMulticast: boolean): Ipv6ExtDrop | undefined {
  let i = from;
  let padding = 0;
  let options = 0;
  while (i < to) {
    const type = p[i]!;
    if (type === IPV6_OPTION.PAD1) {
      if (++padding > IPV6_MAX_PADDING) return silent('Ip6InBadOptions');
      i++;
      continue;
    }
    if (i + 2 > to) return silent('Ip6InBadOptions');
    const len = p[i + 1]!;
    const next = i + 2 + len;
    if (next > to) return silent('Ip6InBadOptions');
    if (type === IPV6_OPTION.PADN) {
      padding += 2 + len;
      if (padding > IPV6_MAX_PADDING) return silent('Ip6InBadOptions');
      for (let j = i + 2; j < next; j++) if (p[j] !== 0) return silent('Ip6InBadOptions');
      i = next;
      continue;
    }
    padding = 0;
    if (++options > IPV6_MAX_OPTIONS) return silent('Ip6InBadOptions');
    // RFC 8200 §4.2: no option but the padding is recognised; the action is in the top two bits.
    switch (type >>> 6) {
      case 0: break;
      case 1: return silent('Ip6InUnknownOption');
      case 2: return problem('Ip6InUnknownOption', 2, i);
      default: return dstMulticast ? silent('Ip6InUnknownOption') : problem('Ip6InUnknownOption', 2, i);
    }
    i = next;
  }
  return undefined;
}

/** The least of an upper-layer header that must be in a first fragment (Linux's ipv6_frag_thdr_truncated: TCP, UDP, ICMPv6 headers; 1 byte of anything else). */
function upperMinLength(protocol: number): number {
  switch (protocol) {
    case IPV6_NEXT_HEADER.TCP: return 20;
    case IPV6_NEXT_HEADER.UDP: return 8;
    case IPV6_NEXT_HEADER.ICMPV6: return 4;
    case IPV6_NEXT_HEADER.NO_NEXT_HEADER: return 0;
    default: return 1;
  }
}

/**
 * Whether the first fragment's fragmentable part, from `off` with Next Header `nh`, holds
 * every extension header and the start of the upper-layer header (RFC 7112 §5). Only
 * lengths are read (the headers are processed after reassembly); AH counts in 4-octet
 * units (RFC 4302 §2.2). The walk stays within the chain bound.
 */
function firstFragmentHasChain(p: Uint8Array, off: number, nh: number, end: number, headers: number): boolean {
  for (;;) {
    let len: number;
    switch (nh) {
      case IPV6_NEXT_HEADER.HOP_BY_HOP:
      case IPV6_NEXT_HEADER.ROUTING:
      case IPV6_NEXT_HEADER.DESTINATION_OPTIONS:
        if (off + 2 > end) return false;
        len = (p[off + 1]! + 1) * 8;
        break;
      case IPV6_NEXT_HEADER.AH:
        if (off + 2 > end) return false;
        len = (p[off + 1]! + 2) * 4;
        break;
      case IPV6_NEXT_HEADER.FRAGMENT:
        len = IPV6_FRAGMENT_HEADER_LEN;
        break;
      default:
        return off + upperMinLength(nh) <= end;
    }
    // Beyond the bound the packet will be dropped after reassembly anyway: no need to look further.
    if (++headers > IPV6_MAX_EXT_HEADERS || off + len > IPV6_MAX_CHAIN_BYTES) return true;
    if (off + len > end) return false;
    nh = p[off]!;
    off += len;
  }
}

function chainResult(
  into: Ipv6ExtChain | undefined, upperProtocol: number, upperOffset: number, nextHeaderField: number, end: number,
  headers: number, fragment: Ipv6Fragment | undefined,
): Ipv6ExtChain {
  if (into === undefined) return { upperProtocol, upperOffset, nextHeaderField, end, headers, fragment };
  into.upperProtocol = upperProtocol;
  into.upperOffset = upperOffset;
  into.nextHeaderField = nextHeaderField;
  into.end = end;
  into.headers = headers;
  into.fragment = fragment;
  return into;
}

/**
 * Walks the extension headers of the IPv6 packet at the start of `packet` (its fixed
 * header first; `parseIpv6` is expected to have accepted it, but nothing here relies on
 * that: a short or inconsistent packet is a drop record, never an exception). Offsets in
 * the result and in ICMP pointers count from the start of the fixed header. Allocates
 * nothing for a packet without a Fragment header when `into` is given (it is filled and
 * returned; drops without an ICMP error are shared frozen records).
 */
export function walkIpv6Extensions(packet: Uint8Array, into?: Ipv6ExtChain): Ipv6ExtResult {
  if (packet.length < IPV6_HEADER_LEN) return silent('Ip6InTruncatedPkts');
  if (packet[0]! >>> 4 !== 6) return silent('Ip6InBadVersion');
  const end = IPV6_HEADER_LEN + ((packet[4]! << 8) | packet[5]!);
  if (end > packet.length) return silent('Ip6InTruncatedPkts');
  const dstMulticast = packet[24] === 0xff;
  let nh = packet[6]!;
  let nhField = 6;
  let off = IPV6_HEADER_LEN;
  let headers = 0;
  let fragment: Ipv6Fragment | undefined;
  for (;;) {
    switch (nh) {
      case IPV6_NEXT_HEADER.HOP_BY_HOP:
      case IPV6_NEXT_HEADER.DESTINATION_OPTIONS:
      case IPV6_NEXT_HEADER.ROUTING: {
        // RFC 8200 §4.1 / §4: Hop-by-Hop only right after the fixed header; elsewhere code 1.
        if (nh === IPV6_NEXT_HEADER.HOP_BY_HOP && off !== IPV6_HEADER_LEN) return problem('Ip6InHopByHopNotFirst', 1, nhField);
        if (++headers > IPV6_MAX_EXT_HEADERS) return silent('Ip6InExtChainTooLong');
        // RFC 6564 uniform format: Next Header, Hdr Ext Len in 8-octet units not counting the first 8.
        if (off + 8 > end) return silent('Ip6InExtTruncated');
        const len = (packet[off + 1]! + 1) * 8;
        if (off + len > end) return silent('Ip6InExtTruncated');
        if (off + len > IPV6_MAX_CHAIN_BYTES) return silent('Ip6InExtChainTooLong');
        if (nh === IPV6_NEXT_HEADER.ROUTING) {
          // RFC 8200 §4.4: Segments Left 0 → ignore the header; else, type unknown (RFC 5095 §3 for type 0) → code 0 at the type.
          if (packet[off + IPV6_ROUTING_FIELD.SEGMENTS_LEFT] !== 0) {
            const type = packet[off + IPV6_ROUTING_FIELD.TYPE];
            return problem(type === 0 ? 'Ip6InRoutingType0' : 'Ip6InUnknownRoutingType', 0, off + IPV6_ROUTING_FIELD.TYPE);
          }
        } else {
          const bad = walkOptions(packet, off + 2, off + len, dstMulticast);
          if (bad !== undefined) return bad;
        }
        nhField = off;
        nh = packet[off]!;
        off += len;
        continue;
      }
      case IPV6_NEXT_HEADER.FRAGMENT: {
        if (++headers > IPV6_MAX_EXT_HEADERS) return silent('Ip6InExtChainTooLong');
        const dataOffset = off + IPV6_FRAGMENT_HEADER_LEN;
        if (dataOffset > end) return silent('Ip6InExtTruncated');
        if (dataOffset > IPV6_MAX_CHAIN_BYTES) return silent('Ip6InExtChainTooLong');
        const fo = (packet[off + IPV6_FRAGMENT_FIELD.OFFSET_FLAGS]! << 8) | packet[off + IPV6_FRAGMENT_FIELD.OFFSET_FLAGS + 1]!;
        const offset = fo & 0xfff8;
        const more = (fo & 1) !== 0;
        const next = packet[off]!;
        const id = off + IPV6_FRAGMENT_FIELD.IDENT;
        fragment = {
          identification: ((packet[id]! << 24) | (packet[id + 1]! << 16) | (packet[id + 2]! << 8) | packet[id + 3]!) >>> 0,
          offset, more, atomic: offset === 0 && !more,
          headerOffset: off, dataOffset, prevNextHeaderField: nhField, nextHeader: next,
        };
        if (!fragment.atomic) {
          const length = end - dataOffset;
          // RFC 8200 §4.5: M set and a length not a multiple of 8 → code 0 at Payload Length.
          if (more && (length & 7) !== 0) return problem('Ip6InFragBadLength', 0, 4);
          // RFC 8200 §4.5: the reassembled Payload Length (unfragmentable extension headers + offset + length) beyond 65535 → code 0 at Fragment Offset.
          if (off - IPV6_HEADER_LEN + offset + length > IPV6_MAX_PAYLOAD) return problem('Ip6InFragTooBig', 0, off + IPV6_FRAGMENT_FIELD.OFFSET_FLAGS);
          // RFC 8200 §4.5, RFC 7112 §5: the first fragment carries every header through the upper-layer one; else code 3, pointer 0.
          if (offset === 0 && !firstFragmentHasChain(packet, dataOffset, next, end, headers)) return problem('Ip6InFragIncompleteChain', 3, 0);
          return chainResult(into, next, dataOffset, off, end, headers, fragment);
        }
        // RFC 6946 §4: an atomic fragment is processed in isolation; go on after it.
        nhField = off;
        nh = next;
        off = dataOffset;
        continue;
      }
      case IPV6_NEXT_HEADER.NO_NEXT_HEADER:
        return silent('Ip6InNoNextHeader');
      default:
        return chainResult(into, nh, off, nhField, end, headers, fragment);
    }
  }
}

/**
 * Writes a Fragment header (RFC 8200 §4.5) at `buf[off..off+8)`: `offset` in bytes (a
 * multiple of 8, below 65536), reserved fields zero. For the sender's fragmentation.
 * Throws (ERR_OUT_OF_RANGE) for values that do not fit. Returns 8.
 */
export function emitIpv6FragmentHeader(
  buf: Uint8Array, off: number, nextHeader: number, offset: number, more: boolean, identification: number,
): number {
  const ok = Number.isInteger(off) && off >= 0 && off + IPV6_FRAGMENT_HEADER_LEN <= buf.length
    && Number.isInteger(nextHeader) && nextHeader >= 0 && nextHeader <= 255
    && Number.isInteger(offset) && offset >= 0 && offset <= 0xfff8 && (offset & 7) === 0
    && Number.isInteger(identification) && identification >= 0 && identification <= 0xffffffff;
  if (!ok) {
    throw codedError(RangeError, 'ERR_OUT_OF_RANGE', `fragment header out of range: at ${off} of ${buf.length} bytes, nextHeader ${nextHeader}, offset ${offset}, identification ${identification}`);
  }
  buf[off] = nextHeader;
  buf[off + 1] = 0;
  buf[off + 2] = offset >>> 8;
  buf[off + 3] = (offset & 0xf8) | (more ? 1 : 0);
  buf[off + 4] = identification >>> 24;
  buf[off + 5] = (identification >>> 16) & 0xff;
  buf[off + 6] = (identification >>> 8) & 0xff;
  buf[off + 7] = identification & 0xff;
  return IPV6_FRAGMENT_HEADER_LEN;
}
