/**
 * The IPv6 header on the wire (RFC 8200 §3), at two levels, as `ipv4.ts` does for IPv4:
 *
 * - `Ipv6Packet` is a thin view over bytes with named field offsets: the one place that
 *   reads or writes a fixed-header field. `checkLen()` is the one length validation;
 *   after it returns undefined no accessor reads out of bounds. `parseIpv6` and
 *   `emitIpv6` work through one re-pointed instance (`reset`).
 * - `Ipv6Repr` is a plain, validated record. `parseIpv6` fills one (reusing `into` when
 *   given) or returns an `Ipv6ParseError` code; nothing is thrown for bad wire input.
 *   `emitIpv6` writes the 40-byte header from a record; a record that cannot be put on
 *   the wire is a programming error and throws with a code.
 *
 * The fixed header has no checksum (RFC 8200 §3; the transports' pseudo-header covers the
 * addresses, §8.1). Extension headers are walked by `walkIpv6Extensions` (ipv6-ext.ts);
 * `nextHeader` here is the first of the chain. This file also names the IPv6 drop reasons
 * (`Ipv6DropReason`) and the /proc/net/snmp6 counter each belongs to; no layer counts them yet.
 */
import { HeaderView } from '@netstack/common';
import { readIpv6Address, writeAddress, IPV6_ANY, type Ipv6Address } from './address.js';
import { codedError } from './errors.js';

/** Byte offsets of the fixed header fields (RFC 8200 §3). */
export const IPV6_FIELD = {
  /** Version (4 bits), Traffic Class (8), Flow Label (20): one 32-bit word. */
  VER_TC_FLOW: 0,
  PAYLOAD_LENGTH: 4,
  NEXT_HEADER: 6,
  HOP_LIMIT: 7,
  SRC: 8,
  DST: 24,
} as const;

export const IPV6_HEADER_LEN = 40;
/** Largest Payload Length (16 bits); larger needs a jumbogram (RFC 2675), which is refused. */
export const IPV6_MAX_PAYLOAD = 65535;
/** RFC 8200 §5: every link must carry 1280-octet packets without fragmentation. */
export const IPV6_MIN_MTU = 1280;
export const IPV6_MAX_FLOW_LABEL = 0xfffff;

/** Next Header values (IANA "Assigned Internet Protocol Numbers"; RFC 8200 §4, RFC 7045 §2). */
export const IPV6_NEXT_HEADER = {
  HOP_BY_HOP: 0,
  TCP: 6,
  UDP: 17,
  ROUTING: 43,
  FRAGMENT: 44,
  ESP: 50,
  AH: 51,
  ICMPV6: 58,
  NO_NEXT_HEADER: 59,
  DESTINATION_OPTIONS: 60,
} as const;

/** Why `parseIpv6` refused a packet. Each maps to one drop reason (`IPV6_PARSE_DROP_REASON`). */
export type Ipv6ParseError =
  /** Shorter than 40 bytes, or than 40 + Payload Length. */
  | 'truncated'
  | 'bad-version'
  /** Payload Length 0 with a Hop-by-Hop header: a jumbogram (RFC 2675 §3), not supported. */
  | 'jumbogram'
  /** Multicast source (RFC 4291 §2.7: never a source). */
  | 'bad-source';

/**
 * Why an IPv6 packet was dropped: one counter each, PascalCase and prefixed `Ip6` like
 * /proc/net/snmp6. As for IPv4 (stats.ts), a reason keeps the Linux name where Linux
 * counts exactly that and gets its own name where it is one part of a counter;
 * `IPV6_DROP_COUNTER` says which snmp6 counter each one adds to (as Linux counts it,
 * net/ipv6/ip6_input.c and exthdrs.c).
 */
export type Ipv6DropReason =
  // Fixed header (parseIpv6):
  /** Shorter than 40 bytes or than Payload Length says (parse error 'truncated'). */
  | 'Ip6InTruncatedPkts'
  /** Version is not 6 (parse error 'bad-version'). */
  | 'Ip6InBadVersion'
  /** Payload Length 0 with Hop-by-Hop options: a jumbogram (RFC 2675), not supported. */
  | 'Ip6InJumbogram'
  /** Multicast source (RFC 4291 §2.7; parse error 'bad-source'). */
  | 'Ip6InMartianSrc'
  // Extension headers (walkIpv6Extensions):
  /** An extension header runs past the end of the payload. */
  | 'Ip6InExtTruncated'
  /** More extension headers than `IPV6_MAX_EXT_HEADERS`, or the chain ends past `IPV6_MAX_CHAIN_BYTES`. */
  | 'Ip6InExtChainTooLong'
  /** Hop-by-Hop header not right after the IPv6 header (RFC 8200 §4: parameter problem code 1). */
  | 'Ip6InHopByHopNotFirst'
  /** Malformed options area: an option past the header's end, more than 7 bytes of consecutive padding, non-zero PadN, more than 8 options (RFC 8504 §5.3, RFC 4942 §2.1.9.5; Linux ip6_parse_tlv). */
  | 'Ip6InBadOptions'
  /** An unrecognised option whose type says discard (RFC 8200 §4.2, action 01, 10 or 11). */
  | 'Ip6InUnknownOption'
  /** Routing type 0 with Segments Left ≠ 0 (RFC 5095 §3: deprecated, handled as an unknown type). */
  | 'Ip6InRoutingType0'
  /** Any other routing type with Segments Left ≠ 0: none is implemented by this host (RFC 8200 §4.4). */
  | 'Ip6InUnknownRoutingType'
  /** A fragment with M set whose length is not a multiple of 8 (RFC 8200 §4.5). */
  | 'Ip6InFragBadLength'
  /** A fragment that would reassemble beyond a 65535-byte payload (RFC 8200 §4.5). */
  | 'Ip6InFragTooBig'
  /** A first fragment without the whole header chain through the upper-layer header (RFC 7112 §5, RFC 8200 §4.5: parameter problem code 3). */
  | 'Ip6InFragIncompleteChain'
  /** Next Header 59: nothing follows (RFC 8200 §4.7). Linux hands it to a discarding handler and counts it delivered. */
  | 'Ip6InNoNextHeader';

export const IPV6_DROP_REASONS: readonly Ipv6DropReason[] = [
  'Ip6InTruncatedPkts', 'Ip6InBadVersion', 'Ip6InJumbogram', 'Ip6InMartianSrc',
  'Ip6InExtTruncated', 'Ip6InExtChainTooLong', 'Ip6InHopByHopNotFirst', 'Ip6InBadOptions', 'Ip6InUnknownOption',
  'Ip6InRoutingType0', 'Ip6InUnknownRoutingType', 'Ip6InFragBadLength', 'Ip6InFragTooBig', 'Ip6InFragIncompleteChain',
  'Ip6InNoNextHeader',
];

/** The /proc/net/snmp6 counters the receive-side drop reasons add to. */
export type Ipv6DropCounter = 'Ip6InTruncatedPkts' | 'Ip6InHdrErrors' | 'Ip6InUnknownProtos' | 'Ip6InDelivers';

/**
 * The snmp6 counter each reason adds to, as Linux counts the same case: truncation is
 * Ip6InTruncatedPkts (ip6_rcv_core), a Next Header 0 past the first header is an unknown
 * protocol (ip6_protocol_deliver_rcu), No Next Header is delivered to a discarding
 * handler (exthdrs.c nodata_protocol), everything else is Ip6InHdrErrors.
 */
export const IPV6_DROP_COUNTER: Readonly<Record<Ipv6DropReason, Ipv6DropCounter>> = {
  Ip6InTruncatedPkts: 'Ip6InTruncatedPkts',
  Ip6InBadVersion: 'Ip6InHdrErrors',
  Ip6InJumbogram: 'Ip6InHdrErrors',
  Ip6InMartianSrc: 'Ip6InHdrErrors',
  Ip6InExtTruncated: 'Ip6InHdrErrors',
  Ip6InExtChainTooLong: 'Ip6InHdrErrors',
  Ip6InHopByHopNotFirst: 'Ip6InUnknownProtos',
  Ip6InBadOptions: 'Ip6InHdrErrors',
  Ip6InUnknownOption: 'Ip6InHdrErrors',
  Ip6InRoutingType0: 'Ip6InHdrErrors',
  Ip6InUnknownRoutingType: 'Ip6InHdrErrors',
  Ip6InFragBadLength: 'Ip6InHdrErrors',
  Ip6InFragTooBig: 'Ip6InHdrErrors',
  Ip6InFragIncompleteChain: 'Ip6InHdrErrors',
  Ip6InNoNextHeader: 'Ip6InDelivers',
};

/** The drop reason of each `parseIpv6` refusal. */
export const IPV6_PARSE_DROP_REASON: Readonly<Record<Ipv6ParseError, Ipv6DropReason>> = {
  'truncated': 'Ip6InTruncatedPkts',
  'bad-version': 'Ip6InBadVersion',
  'jumbogram': 'Ip6InJumbogram',
  'bad-source': 'Ip6InMartianSrc',
};

export interface Ipv6Repr {
  src: Ipv6Address;
  dst: Ipv6Address;
  /** The first header after the fixed one: an extension header or the upper-layer protocol. */
  nextHeader: number;
  hopLimit: number;
  /** DSCP (6 bits) and ECN (2 bits), RFC 8200 §7, RFC 2474, RFC 3168. */
  trafficClass: number;
  /** 20 bits (RFC 6437); 0 when unset. */
  flowLabel: number;
  /** Bytes after the fixed header, extension headers included. */
  payloadLength: number;
}

export function emptyIpv6Repr(): Ipv6Repr {
  return { src: IPV6_ANY, dst: IPV6_ANY, nextHeader: 0, hopLimit: 0, trafficClass: 0, flowLabel: 0, payloadLength: 0 };
}

/**
 * A view over the bytes of one IPv6 fixed header at `offset` of `buffer`: the one place
 * that knows where each field lies (one module-level instance, re-pointed with `reset`).
 */
export class Ipv6Packet extends HeaderView {

  /**
   * The one length validation: 40 bytes present, version 6, and 40 + Payload Length bytes
   * present (more is link padding, ignored as RFC 8200 §3 bounds the packet by Payload Length).
   */
  checkLen(): Ipv6ParseError | undefined {
    const avail = this.buffer.length - this.offset;
    if (avail < IPV6_HEADER_LEN) return 'truncated';
    if (this.version !== 6) return 'bad-version';
    if (IPV6_HEADER_LEN + this.payloadLength > avail) return 'truncated';
    return undefined;
  }

  get version(): number { return this.u8(IPV6_FIELD.VER_TC_FLOW) >>> 4; }
  get trafficClass(): number { return ((this.u8(0) & 0x0f) << 4) | (this.u8(1) >>> 4); }
  get flowLabel(): number { return ((this.u8(1) & 0x0f) << 16) | (this.u8(2) << 8) | this.u8(3); }
  get payloadLength(): number { return this.u16(IPV6_FIELD.PAYLOAD_LENGTH); }
  get nextHeader(): number { return this.u8(IPV6_FIELD.NEXT_HEADER); }
  get hopLimit(): number { return this.u8(IPV6_FIELD.HOP_LIMIT); }
  get src(): Ipv6Address { return readIpv6Address(this.buffer, this.offset + IPV6_FIELD.SRC); }
  get dst(): Ipv6Address { return readIpv6Address(this.buffer, this.offset + IPV6_FIELD.DST); }

  /** Writes the first word: version 6, `trafficClass` (8 bits), `flowLabel` (20 bits). */
  setVersionClassFlow(trafficClass: number, flowLabel: number): void {
    const o = this.offset;
    this.buffer[o] = 0x60 | (trafficClass >>> 4);
    this.buffer[o + 1] = ((trafficClass & 0x0f) << 4) | (flowLabel >>> 16);
    this.buffer[o + 2] = (flowLabel >>> 8) & 0xff;
    this.buffer[o + 3] = flowLabel & 0xff;
  }
  set payloadLength(v: number) { this.setU16(IPV6_FIELD.PAYLOAD_LENGTH, v); }
  set nextHeader(v: number) { this.setU8(IPV6_FIELD.NEXT_HEADER, v); }
  set hopLimit(v: number) { this.setU8(IPV6_FIELD.HOP_LIMIT, v); }
  set src(a: Ipv6Address) { writeAddress(this.buffer, this.offset + IPV6_FIELD.SRC, a); }
  set dst(a: Ipv6Address) { writeAddress(this.buffer, this.offset + IPV6_FIELD.DST, a); }

}

/** The view parse and emit use (both synchronous: never held across a call). */
const VIEW = new Ipv6Packet();

/**
 * Validates and decodes the fixed header at the start of `bytes` into `into` (or a new
 * record). Checks (RFC 8200 §3): 40 bytes, version 6, Payload Length within the bytes;
 * Payload Length 0 with Next Header 0 is a jumbogram (RFC 2675 §3) and refused; a
 * multicast source is refused (RFC 4291 §2.7). The unspecified source `::` is accepted
 * (RFC 4291 §2.5.2: duplicate address detection sends from it); what a host accepts as
 * source and destination beyond this is the layer's decision.
 */
export function parseIpv6(bytes: Uint8Array, into?: Ipv6Repr): Ipv6Repr | Ipv6ParseError {
  const p = VIEW.reset(bytes);
  const bad = p.checkLen();
  if (bad !== undefined) return bad;
  const payloadLength = p.payloadLength;
  const nextHeader = p.nextHeader;
  if (payloadLength === 0 && nextHeader === IPV6_NEXT_HEADER.HOP_BY_HOP) return 'jumbogram';
  // RFC 4291 §2.7: a multicast source (first byte 0xff) is never valid.
  if (bytes[IPV6_FIELD.SRC] === 0xff) return 'bad-source';
  const r = into ?? emptyIpv6Repr();
  // A reused record keeps the addresses of the previous packet, and traffic comes in flows:
  // when the bytes match, the same string is kept (no 16-character string built per packet,
  // and its hash, computed once, serves every Set/Map lookup downstream).
  if (!sameIpv6Address(bytes, IPV6_FIELD.SRC, r.src)) r.src = p.src;
  if (!sameIpv6Address(bytes, IPV6_FIELD.DST, r.dst)) r.dst = p.dst;
  r.nextHeader = nextHeader;
  r.hopLimit = p.hopLimit;
  r.trafficClass = p.trafficClass;
  r.flowLabel = p.flowLabel;
  r.payloadLength = payloadLength;
  return r;
}

/** True when `buf[off..off+16)` holds the bytes of `a`. */
function sameIpv6Address(buf: Uint8Array, off: number, a: Ipv6Address): boolean {
  for (let i = 0; i < 16; i++) if (buf[off + i] !== a.charCodeAt(i)) return false;
  return true;
}

/** Bytes of the fixed header: always 40. */
export function ipv6HeaderLen(_repr: Ipv6Repr): number {
  return IPV6_HEADER_LEN;
}

/** Header plus payload. */
export function ipv6BufferLen(repr: Ipv6Repr): number {
  return IPV6_HEADER_LEN + repr.payloadLength;
}

function checkU(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw codedError(RangeError, 'ERR_OUT_OF_RANGE', `${name} must be an integer in 0..${max}; got ${v}`);
}

function checkAddress(name: string, a: Ipv6Address): void {
  let ok = typeof a === 'string' && a.length === 16;
  for (let i = 0; ok && i < 16; i++) ok = a.charCodeAt(i) <= 0xff;
  if (!ok) throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `${name} must be an Ipv6Address (16 latin1 characters)`);
}

/**
 * Writes the 40-byte header of `repr` at `buf[offset...]`; the payload (extension headers
 * included) is the caller's to place after it. Throws (code ERR_OUT_OF_RANGE /
 * ERR_INVALID_ARG_VALUE) for a record that is not representable, or when the header does
 * not fit in `buf`. Returns 40.
 */
export function emitIpv6(repr: Ipv6Repr, buf: Uint8Array, offset: number): number {
  checkU('trafficClass', repr.trafficClass, 255);
  checkU('flowLabel', repr.flowLabel, IPV6_MAX_FLOW_LABEL);
  checkU('payloadLength', repr.payloadLength, IPV6_MAX_PAYLOAD);
  checkU('nextHeader', repr.nextHeader, 255);
  checkU('hopLimit', repr.hopLimit, 255);
  checkAddress('src', repr.src);
  checkAddress('dst', repr.dst);
  if (!Number.isInteger(offset) || offset < 0 || offset + IPV6_HEADER_LEN > buf.length) {
    throw codedError(RangeError, 'ERR_OUT_OF_RANGE', `header of 40 bytes does not fit at offset ${offset} of a ${buf.length}-byte buffer`);
  }
  return writeIpv6Header(repr, buf, offset);
}

/**
 * `emitIpv6` without its checks, for the IPv6 layer's own output path, whose records are
 * valid by construction (addresses from its own configuration or a checked `send`, hop
 * limit, traffic class and flow label checked in `send`, lengths bounded before the call,
 * 40 bytes in front of the payload in its own buffer): the checks cost more than the
 * header (as the IPv4 layer, which checks only at its API). Returns 40.
 */
export function writeIpv6Header(repr: Ipv6Repr, buf: Uint8Array, offset: number): number {
  const p = VIEW.reset(buf, offset);
  p.setVersionClassFlow(repr.trafficClass, repr.flowLabel);
  p.payloadLength = repr.payloadLength;
  p.nextHeader = repr.nextHeader;
  p.hopLimit = repr.hopLimit;
  p.src = repr.src;
  p.dst = repr.dst;
  return IPV6_HEADER_LEN;
}
