/**
 * The IPv4 header on the wire (RFC 791 §3.1), at two levels (after smoltcp src/wire/ipv4.rs):
 *
 * - `Ipv4Packet` is a thin view over bytes with named field offsets: the one place
 *   that reads or writes a header field. `checkLen()` is the one length validation;
 *   after it returns undefined no accessor reads out of bounds. Setters exist for
 *   emitting. `parseIpv4` and `emitIpv4` work through one re-pointed instance (`reset`).
 * - `Ipv4Repr` is a plain, validated record. `parseIpv4` fills one (reusing `into`
 *   when given) or returns a `Ipv4ParseError` code; nothing is thrown for bad wire
 *   input. `emitIpv4` writes a header (checksum included) from a record; a record
 *   that cannot be put on the wire is a programming error and throws with a code.
 *
 * Options in a received header are skipped (their bytes are kept in `headerLength`),
 * never interpreted. Emitted headers carry none; a `headerLength` above 20 is padded
 * with End-of-Option-List zeros (RFC 791 §3.1, "Padding").
 */
import { HeaderView } from '@netstack/common';
import { readAddress, writeAddress, isMulticast, BROADCAST, type Ipv4Address } from './address.js';
import { codedError } from './errors.js';

/** Byte offsets of the fixed header fields (RFC 791 §3.1). */
export const IPV4_FIELD = {
  VER_IHL: 0,
  TOS: 1,
  LENGTH: 2,
  IDENT: 4,
  FLG_OFF: 6,
  TTL: 8,
  PROTOCOL: 9,
  CHECKSUM: 10,
  SRC: 12,
  DST: 16,
} as const;

export const IPV4_MIN_HEADER_LEN = 20;
export const IPV4_MAX_HEADER_LEN = 60;
export const IPV4_MAX_TOTAL_LEN = 65535;
/** Largest payload of one datagram without options: 65535 - 20. */
export const IPV4_MAX_PAYLOAD = IPV4_MAX_TOTAL_LEN - IPV4_MIN_HEADER_LEN;
/** RFC 791 §3.2: every internet module must forward 68 octets without further fragmentation. */
export const IPV4_MIN_MTU = 68;

const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;
const OFFSET_MASK = 0x1fff;

/** Why `parseIpv4` refused a packet: a parser result. Each maps to one drop reason (`PARSE_DROP_REASON`, stats.ts). */
export type Ipv4ParseError =
  /** Shorter than 20 bytes, than IHL*4, or than the Total Length field says. */
  | 'truncated'
  | 'bad-version'
  /** IHL < 5 (RFC 791 §3.1: minimum value for a correct header is 5). */
  | 'bad-ihl'
  /** Total Length smaller than the header. */
  | 'bad-total-length'
  | 'bad-checksum'
  /** Source is multicast or limited broadcast (RFC 1122 §3.2.1.3, §3.2.2.x: never a source). */
  | 'bad-source';

export interface Ipv4Repr {
  src: Ipv4Address;
  dst: Ipv4Address;
  protocol: number;
  ttl: number;
  /** The whole Type of Service / DSCP+ECN byte. */
  tos: number;
  identification: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** Fragment offset in bytes (the wire field times 8). */
  fragmentOffset: number;
  /** IHL*4: 20..60, options included. */
  headerLength: number;
  /** headerLength + payloadLength (the Total Length field). */
  totalLength: number;
  payloadLength: number;
}

export function emptyIpv4Repr(): Ipv4Repr {
  return {
    src: 0, dst: 0, protocol: 0, ttl: 0, tos: 0, identification: 0,
    dontFragment: false, moreFragments: false, fragmentOffset: 0,
    headerLength: IPV4_MIN_HEADER_LEN, totalLength: IPV4_MIN_HEADER_LEN, payloadLength: 0,
  };
}

/**
 * RFC 1071 checksum of a header region, byte reads only: headers are at most 60
 * bytes, and this allocates nothing (no DataView), unlike the wide `sum16`.
 * Returns the folded sum (0xffff when a received header with its checksum verifies).
 */
export function headerSum(buf: Uint8Array, off: number, len: number): number {
  let sum = 0;
  const end = off + len;
  for (let i = off; i < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/**
 * A view over the bytes of one IPv4 header, starting at `offset` of `buffer`. The one
 * place that knows where each field lies: `parseIpv4` and `emitIpv4` read and write
 * through it (one module-level instance, re-pointed with `reset`: no allocation).
 */
export class Ipv4Packet extends HeaderView {

  /**
   * The one length validation: at least 20 bytes, IHL >= 5, IHL*4 bytes present,
   * Total Length >= IHL*4 and <= the bytes after `offset` (longer buffers are link padding).
   * The version is checked too, as nothing else in the header is meaningful without it.
   */
  checkLen(): Ipv4ParseError | undefined {
    const avail = this.buffer.length - this.offset;
    if (avail < IPV4_MIN_HEADER_LEN) return 'truncated';
    const vi = this.u8(IPV4_FIELD.VER_IHL);
    if (vi >>> 4 !== 4) return 'bad-version';
    const hl = (vi & 0x0f) * 4;
    if (hl < IPV4_MIN_HEADER_LEN) return 'bad-ihl';
    if (avail < hl) return 'truncated';
    const total = this.totalLength;
    if (total < hl) return 'bad-total-length';
    if (total > avail) return 'truncated';
    return undefined;
  }

  get version(): number { return this.u8(IPV4_FIELD.VER_IHL) >>> 4; }
  get headerLength(): number { return (this.u8(IPV4_FIELD.VER_IHL) & 0x0f) * 4; }
  get tos(): number { return this.u8(IPV4_FIELD.TOS); }
  get totalLength(): number { return this.u16(IPV4_FIELD.LENGTH); }
  get identification(): number { return this.u16(IPV4_FIELD.IDENT); }
  /** Flags and fragment offset as on the wire (the reserved bit included). */
  get flagsAndOffset(): number { return this.u16(IPV4_FIELD.FLG_OFF); }
  get dontFragment(): boolean { return (this.flagsAndOffset & FLAG_DF) !== 0; }
  get moreFragments(): boolean { return (this.flagsAndOffset & FLAG_MF) !== 0; }
  /** In bytes. */
  get fragmentOffset(): number { return (this.flagsAndOffset & OFFSET_MASK) * 8; }
  get ttl(): number { return this.u8(IPV4_FIELD.TTL); }
  get protocol(): number { return this.u8(IPV4_FIELD.PROTOCOL); }
  get checksum(): number { return this.u16(IPV4_FIELD.CHECKSUM); }
  get src(): Ipv4Address { return readAddress(this.buffer, this.offset + IPV4_FIELD.SRC); }
  get dst(): Ipv4Address { return readAddress(this.buffer, this.offset + IPV4_FIELD.DST); }
  /** True when the header checksum verifies (RFC 1071: the sum over the header is 0xffff). */
  verifyChecksum(): boolean { return headerSum(this.buffer, this.offset, this.headerLength) === 0xffff; }

  /** Sets version 4 and IHL from `headerLength` (a multiple of 4 in 20..60). */
  set headerLength(v: number) { this.setU8(IPV4_FIELD.VER_IHL, 0x40 | (v >>> 2)); }
  set tos(v: number) { this.setU8(IPV4_FIELD.TOS, v); }
  set totalLength(v: number) { this.setU16(IPV4_FIELD.LENGTH, v); }
  set identification(v: number) { this.setU16(IPV4_FIELD.IDENT, v); }
  /** Writes flags and offset at once (the reserved bit zero, RFC 791 §3.1). `offset` in bytes, a multiple of 8. */
  setFragment(dontFragment: boolean, moreFragments: boolean, offset: number): void {
    this.setU16(IPV4_FIELD.FLG_OFF, (dontFragment ? FLAG_DF : 0) | (moreFragments ? FLAG_MF : 0) | ((offset >>> 3) & OFFSET_MASK));
  }
  set ttl(v: number) { this.setU8(IPV4_FIELD.TTL, v); }
  set protocol(v: number) { this.setU8(IPV4_FIELD.PROTOCOL, v); }
  set checksum(v: number) { this.setU16(IPV4_FIELD.CHECKSUM, v); }
  set src(a: Ipv4Address) { writeAddress(this.buffer, this.offset + IPV4_FIELD.SRC, a); }
  set dst(a: Ipv4Address) { writeAddress(this.buffer, this.offset + IPV4_FIELD.DST, a); }
  /** Zeroes the checksum field and writes the RFC 1071 checksum of the header. */
  fillChecksum(): void {
    this.checksum = 0;
    this.checksum = ~headerSum(this.buffer, this.offset, this.headerLength) & 0xffff;
  }

}

/** The view parse and emit use (both synchronous: never held across a call). */
const VIEW = new Ipv4Packet();

/**
 * Validates and decodes the header at the start of `bytes` into `into` (or a new
 * record). Checks: length/version/IHL/Total Length (see `checkLen`), the header
 * checksum (RFC 791 §3.1, RFC 1122 §3.2.1.2: silently discard on failure), and that
 * the source is neither multicast nor limited broadcast (RFC 1122 §3.2.1.3).
 * Options are skipped. The reserved flag bit is ignored (RFC 1122 §3.2.1 robustness).
 * Reads through the module's one view: allocates nothing when `into` is given.
 */
export function parseIpv4(bytes: Uint8Array, into?: Ipv4Repr): Ipv4Repr | Ipv4ParseError {
  const p = VIEW.reset(bytes);
  const bad = p.checkLen();
  if (bad !== undefined) return bad;
  const hl = p.headerLength;
  if (headerSum(bytes, 0, hl) !== 0xffff) return 'bad-checksum';
  const src = p.src;
  if (isMulticast(src) || src === BROADCAST) return 'bad-source';
  const r = into ?? emptyIpv4Repr();
  const fo = p.flagsAndOffset;
  r.src = src;
  r.dst = p.dst;
  r.protocol = p.protocol;
  r.ttl = p.ttl;
  r.tos = p.tos;
  r.identification = p.identification;
  r.dontFragment = (fo & FLAG_DF) !== 0;
  r.moreFragments = (fo & FLAG_MF) !== 0;
  r.fragmentOffset = (fo & OFFSET_MASK) * 8;
  const total = p.totalLength;
  r.headerLength = hl;
  r.totalLength = total;
  r.payloadLength = total - hl;
  return r;
}

/** Bytes the header of `repr` occupies (IHL*4). */
export function ipv4HeaderLen(repr: Ipv4Repr): number {
  return repr.headerLength;
}

/** Header plus payload: the Total Length. */
export function ipv4BufferLen(repr: Ipv4Repr): number {
  return repr.headerLength + repr.payloadLength;
}

function checkU(name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw codedError(RangeError, 'ERR_OUT_OF_RANGE', `${name} must be an integer in 0..${max}; got ${v}`);
}

/**
 * Writes the header of `repr` at `buf[offset...]`, checksum included; the payload
 * (if any) is the caller's to place after it. Throws (code ERR_OUT_OF_RANGE /
 * ERR_INVALID_ARG_VALUE) for a record that is not representable or inconsistent,
 * or when the header does not fit in `buf`. Returns the header length.
 */
export function emitIpv4(repr: Ipv4Repr, buf: Uint8Array, offset: number): number {
  const hl = repr.headerLength;
  if (!Number.isInteger(hl) || hl < IPV4_MIN_HEADER_LEN || hl > IPV4_MAX_HEADER_LEN || (hl & 3) !== 0) {
    throw codedError(RangeError, 'ERR_OUT_OF_RANGE', `headerLength must be a multiple of 4 in 20..60; got ${hl}`);
  }
  checkU('payloadLength', repr.payloadLength, IPV4_MAX_TOTAL_LEN - hl);
  if (repr.totalLength !== hl + repr.payloadLength) {
    throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `totalLength ${repr.totalLength} !== headerLength + payloadLength`);
  }
  checkU('tos', repr.tos, 255);
  checkU('ttl', repr.ttl, 255);
  checkU('protocol', repr.protocol, 255);
  checkU('identification', repr.identification, 0xffff);
  checkU('src', repr.src, 0xffffffff);
  checkU('dst', repr.dst, 0xffffffff);
  checkU('fragmentOffset', repr.fragmentOffset, OFFSET_MASK * 8);
  if ((repr.fragmentOffset & 7) !== 0) throw codedError(RangeError, 'ERR_OUT_OF_RANGE', `fragmentOffset must be a multiple of 8; got ${repr.fragmentOffset}`);
  if (!Number.isInteger(offset) || offset < 0 || offset + hl > buf.length) {
    throw codedError(RangeError, 'ERR_OUT_OF_RANGE', `header of ${hl} bytes does not fit at offset ${offset} of a ${buf.length}-byte buffer`);
  }
  const p = VIEW.reset(buf, offset);
  p.headerLength = hl;
  p.tos = repr.tos;
  p.totalLength = repr.totalLength;
  p.identification = repr.identification;
  p.setFragment(repr.dontFragment, repr.moreFragments, repr.fragmentOffset);
  p.ttl = repr.ttl;
  p.protocol = repr.protocol;
  p.src = repr.src;
  p.dst = repr.dst;
  // RFC 791 §3.1 "Padding": options area, if any, is End-of-Option-List (zero).
  // (Not called for the usual 20-byte header: fill is a call into C++ even when empty.)
  if (hl > IPV4_MIN_HEADER_LEN) buf.fill(0, offset + IPV4_MIN_HEADER_LEN, offset + hl);
  p.fillChecksum();
  return hl;
}
