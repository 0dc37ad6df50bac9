/**
 * TCP on the wire (RFC 9293 §3.1, options from RFC 9293 §3.2, RFC 7323, RFC 2018).
 *
 * Two levels, after smoltcp's `wire/tcp.rs`:
 *  - `TcpPacket`: a thin view over a segment's bytes, over `TCP_FIELD`, the one place
 *    that knows where a fixed header field lies. `check()` validates the lengths once;
 *    after it succeeds no accessor can read out of range. `parseTcp` and `emitTcpHeader`,
 *    on every segment, read and write the same offsets directly (monomorphic byte access
 *    rather than the shared view's methods).
 *  - `TcpRepr`: a small plain record of everything the stack understands.
 *    `parseTcp` validates (checksum with the pseudo-header, data offset, option
 *    lengths) and fills a record; it never throws: malformed input yields a
 *    `TcpParseError` string that the caller counts. `emitTcp` writes a record
 *    front to back into a caller's buffer and fills in the checksum;
 *    `tcpHeaderLen(repr)` says how many header bytes it will write.
 *
 * Options are emitted in a fixed, Linux-like layout so every header stays a
 * multiple of 4 bytes: MSS (4), [SACK-permitted +] timestamps (12), window scale
 * (NOP + 3), SACK blocks (NOP NOP + 2 + 8n). Unknown options are skipped on
 * input; NOP and EOL are honoured.
 *
 * Buffer ownership: the `payload` of a parsed record is a view into the input
 * bytes, valid only while the caller owns them (during `receive`).
 */
import { HeaderView } from '@netstack/common';
import { copyInto, viewOf } from './bytes.js';
import { PROTO_TCP, pseudoHeaderSum, sum16, finish } from '@netstack/ip';
import { minHeaderLength, type IpAddress, type IpOutput } from '@netstack/ip';

export const FIN = 0x01;
export const SYN = 0x02;
export const RST = 0x04;
export const PSH = 0x08;
export const ACK = 0x10;
export const URG = 0x20;
export const ECE = 0x40;
export const CWR = 0x80;

export const TCP_HEADER_LEN = 20;
export const TCP_MAX_HEADER_LEN = 60;

/**
 * The MSS for an MTU towards `dst` (RFC 9293 §3.7.1): the MTU less the network header the
 * IP layer puts in front (20 for IPv4, 40 for IPv6 without extension headers, RFC 8200)
 * and the fixed TCP header. Options are not subtracted here (RFC 6691).
 */
export function mssForMtu(mtu: number, ip: IpOutput, dst: IpAddress): number {
  return mtu - (ip.networkHeaderLength?.(dst) ?? minHeaderLength(dst)) - TCP_HEADER_LEN;
}

const OPT_EOL = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;
const OPT_WSCALE = 3;
const OPT_SACK_PERM = 4;
const OPT_SACK = 5;
const OPT_TIMESTAMP = 8;

export interface TcpTimestamp {
  tsVal: number;
  tsEcr: number;
}

export interface SackBlock {
  left: number;
  right: number;
}

/**
 * Options as a record. Absent options are missing or `undefined` (the parser
 * reuses one record, so it writes `undefined` rather than deleting keys).
 */
export interface TcpOptions {
  mss?: number | undefined;
  /** Shift count as received (RFC 7323 §2.3: the user of it clamps to 14). */
  windowScale?: number | undefined;
  sackPermitted?: boolean | undefined;
  sackBlocks?: SackBlock[] | undefined;
  timestamp?: TcpTimestamp | undefined;
}

export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** Bit set of FIN SYN RST PSH ACK URG ECE CWR. */
  flags: number;
  /** The raw 16-bit window field (unscaled). */
  window: number;
  urgent: number;
  options: TcpOptions;
  payload: Uint8Array;
}

export type TcpParseError =
  | 'truncated'
  | 'bad-data-offset'
  | 'bad-option'
  | 'bad-checksum'
  | 'bad-port';

const EMPTY = new Uint8Array(0);

/** Byte offsets of the fixed header fields (RFC 9293 §3.1). */
export const TCP_FIELD = {
  SRC_PORT: 0,
  DST_PORT: 2,
  SEQ: 4,
  ACK: 8,
  DATA_OFFSET: 12,
  FLAGS: 13,
  WINDOW: 14,
  CHECKSUM: 16,
  URGENT: 18,
} as const;

/**
 * A view over a TCP segment at `offset` of `buffer`, at `TCP_FIELD`'s offsets (which
 * `parseTcp` and `emitTcpHeader` use directly). Call `check()` before reading anything.
 */
export class TcpPacket extends HeaderView {
  /** The segment ends at `end` (the buffer's end by default). */
  end: number;
  constructor(buffer: Uint8Array = EMPTY, offset = 0, end = buffer.length) {
    super(buffer, offset);
    this.end = end;
  }
  /** Re-points the view (no allocation). */
  override reset(buffer: Uint8Array, offset = 0, end = buffer.length): this {
    this.buffer = buffer;
    this.offset = offset;
    this.end = end;
    return this;
  }
  /** The one length check: header and the data offset fit in the bytes. */
  check(): TcpParseError | undefined {
    const len = this.end - this.offset;
    if (len < TCP_HEADER_LEN) return 'truncated';
    const hl = this.headerLength;
    if (hl < TCP_HEADER_LEN || hl > len) return 'bad-data-offset';
    return undefined;
  }
  get srcPort(): number { return this.u16(TCP_FIELD.SRC_PORT); }
  get dstPort(): number { return this.u16(TCP_FIELD.DST_PORT); }
  get seq(): number { return this.u32(TCP_FIELD.SEQ); }
  get ack(): number { return this.u32(TCP_FIELD.ACK); }
  /** Data offset in bytes (RFC 9293 §3.1: 4 bits, in 32-bit words). */
  get headerLength(): number { return (this.u8(TCP_FIELD.DATA_OFFSET) >>> 4) * 4; }
  get flags(): number { return this.u8(TCP_FIELD.FLAGS); }
  get window(): number { return this.u16(TCP_FIELD.WINDOW); }
  get checksum(): number { return this.u16(TCP_FIELD.CHECKSUM); }
  get urgent(): number { return this.u16(TCP_FIELD.URGENT); }
  get options(): Uint8Array { return this.buffer.subarray(this.offset + TCP_HEADER_LEN, this.offset + this.headerLength); }
  get payload(): Uint8Array { return this.buffer.subarray(this.offset + this.headerLength, this.end); }

  set srcPort(v: number) { this.setU16(TCP_FIELD.SRC_PORT, v); }
  set dstPort(v: number) { this.setU16(TCP_FIELD.DST_PORT, v); }
  set seq(v: number) { this.setU32(TCP_FIELD.SEQ, v); }
  set ack(v: number) { this.setU32(TCP_FIELD.ACK, v); }
  /** Writes the data offset (a multiple of 4 in 20..60; the reserved bits zero). */
  set headerLength(v: number) { this.setU8(TCP_FIELD.DATA_OFFSET, (v >>> 2) << 4); }
  set flags(v: number) { this.setU8(TCP_FIELD.FLAGS, v & 0xff); }
  set window(v: number) { this.setU16(TCP_FIELD.WINDOW, v); }
  set checksum(v: number) { this.setU16(TCP_FIELD.CHECKSUM, v); }
  set urgent(v: number) { this.setU16(TCP_FIELD.URGENT, v); }
}

function read16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function write16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v & 255;
}

function read32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

function write32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 255;
  b[o + 2] = (v >>> 8) & 255;
  b[o + 3] = v & 255;
}

/** A fresh, empty record (for callers that reuse one). */
export function newTcpRepr(): TcpRepr {
  return {
    srcPort: 0, dstPort: 0, seq: 0, ack: 0, flags: 0, window: 0, urgent: 0,
    options: { mss: undefined, windowScale: undefined, sackPermitted: undefined, sackBlocks: undefined, timestamp: undefined },
    payload: EMPTY,
  };
}


/** Sum over the pseudo-header and the segment; 0xffff for a valid segment. */
export function tcpChecksumSum(bytes: Uint8Array, start: number, end: number, src: IpAddress, dst: IpAddress): number {
  return sum16(bytes, start, end, pseudoHeaderSum(src, dst, PROTO_TCP, end - start));
}

/**
 * Parses `bytes` (one TCP segment, the IP payload) into `into` (or a new record).
 * Never throws. `src`/`dst` are the IP addresses for the pseudo-header.
 */
export function parseTcp(
  bytes: Uint8Array,
  src: IpAddress,
  dst: IpAddress,
  verifyChecksum: boolean,
  into: TcpRepr = newTcpRepr(),
): TcpRepr | TcpParseError {
  // The fixed header is read at TCP_FIELD's offsets here, not through the shared view's
  // accessors: this runs for every segment, and the view's methods (HeaderView's, shared with
  // the other protocols' views) are polymorphic sites. `TcpPacket.check` is the same test.
  const len = bytes.length;
  if (len < TCP_HEADER_LEN) return 'truncated';
  const hl = (bytes[TCP_FIELD.DATA_OFFSET]! >>> 4) * 4;
  if (hl < TCP_HEADER_LEN || hl > len) return 'bad-data-offset';
  // RFC 9293 §3.1: the checksum covers the pseudo-header, header and data.
  if (verifyChecksum && tcpChecksumSum(bytes, 0, len, src, dst) !== 0xffff) return 'bad-checksum';
  const srcPort = read16(bytes, TCP_FIELD.SRC_PORT);
  const dstPort = read16(bytes, TCP_FIELD.DST_PORT);
  // Port 0 is reserved and never valid on the wire.
  if (srcPort === 0 || dstPort === 0) return 'bad-port';
  const o = into.options;
  const tsRecord = o.timestamp;
  clearTcpOptions(o);
  let i = TCP_HEADER_LEN;
  // RFC 9293 §3.2: kinds 0 and 1 are single bytes; all others carry a length
  // octet that counts kind and length; unknown kinds are skipped by length.
  while (i < hl) {
    const kind = bytes[i]!;
    if (kind === OPT_EOL) break;
    if (kind === OPT_NOP) { i++; continue; }
    if (i + 1 >= hl) return 'bad-option';
    const len = bytes[i + 1]!;
    if (len < 2 || i + len > hl) return 'bad-option';
    switch (kind) {
      case OPT_MSS:
        if (len !== 4) return 'bad-option';
        o.mss = (bytes[i + 2]! << 8) | bytes[i + 3]!;
        break;
      case OPT_WSCALE:
        if (len !== 3) return 'bad-option';
        o.windowScale = bytes[i + 2]!;
        break;
      case OPT_SACK_PERM:
        if (len !== 2) return 'bad-option';
        o.sackPermitted = true;
        break;
      case OPT_SACK: {
        if ((len - 2) % 8 !== 0 || len === 2) return 'bad-option';
        const blocks: SackBlock[] = [];
        for (let j = i + 2; j < i + len; j += 8) blocks.push({ left: read32(bytes, j), right: read32(bytes, j + 4) });
        o.sackBlocks = blocks;
        break;
      }
      case OPT_TIMESTAMP: {
        if (len !== 10) return 'bad-option';
        const ts = tsRecord ?? { tsVal: 0, tsEcr: 0 };
        ts.tsVal = read32(bytes, i + 2);
        ts.tsEcr = read32(bytes, i + 6);
        o.timestamp = ts;
        break;
      }
      default:
        break;
    }
    i += len;
  }
  into.srcPort = srcPort;
  into.dstPort = dstPort;
  into.seq = read32(bytes, TCP_FIELD.SEQ);
  into.ack = read32(bytes, TCP_FIELD.ACK);
  into.flags = bytes[TCP_FIELD.FLAGS]!;
  into.window = read16(bytes, TCP_FIELD.WINDOW);
  into.urgent = read16(bytes, TCP_FIELD.URGENT);
  // No view for the empty payload of a pure ACK (most segments of a bulk transfer's return path).
  into.payload = hl === bytes.length ? EMPTY : viewOf(bytes, hl);
  return into;
}

/** Marks every option absent (records are reused: keys are set to undefined, never deleted). */
export function clearTcpOptions(o: TcpOptions): void {
  o.mss = undefined;
  o.windowScale = undefined;
  o.sackPermitted = undefined;
  o.sackBlocks = undefined;
  o.timestamp = undefined;
}

/** Bytes of options `emitTcp` writes for `o` (always a multiple of 4). */
export function tcpOptionsLen(o: TcpOptions): number {
  let n = 0;
  if (o.mss !== undefined) n += 4;
  if (o.timestamp !== undefined) n += 12;
  else if (o.sackPermitted) n += 4;
  if (o.windowScale !== undefined) n += 4;
  if (o.sackBlocks !== undefined && o.sackBlocks.length > 0) n += 4 + 8 * o.sackBlocks.length;
  return n;
}

/** Header length (20 + options) that `emitTcp` writes for `repr`. */
export function tcpHeaderLen(repr: TcpRepr): number {
  return TCP_HEADER_LEN + tcpOptionsLen(repr.options);
}

/**
 * Writes the header of `repr` at `buf[off...]` with the checksum field zeroed.
 * Returns the header length. Throws (API misuse) when the options exceed 40 bytes.
 */
export function emitTcpHeader(repr: TcpRepr, buf: Uint8Array, off: number): number {
  const o = repr.options;
  const hl = tcpHeaderLen(repr);
  if (hl > TCP_MAX_HEADER_LEN) {
    throw Object.assign(new Error('TCP options exceed 40 bytes'), { code: 'ERR_INVALID_ARG_VALUE' });
  }
  // At TCP_FIELD's offsets, as TcpPacket's setters write them (see parseTcp for why not through them).
  write16(buf, off + TCP_FIELD.SRC_PORT, repr.srcPort);
  write16(buf, off + TCP_FIELD.DST_PORT, repr.dstPort);
  write32(buf, off + TCP_FIELD.SEQ, repr.seq);
  write32(buf, off + TCP_FIELD.ACK, repr.ack);
  buf[off + TCP_FIELD.DATA_OFFSET] = (hl >>> 2) << 4;
  buf[off + TCP_FIELD.FLAGS] = repr.flags & 0xff;
  write16(buf, off + TCP_FIELD.WINDOW, repr.window);
  write16(buf, off + TCP_FIELD.CHECKSUM, 0);
  write16(buf, off + TCP_FIELD.URGENT, repr.urgent);
  let i = off + TCP_HEADER_LEN;
  if (o.mss !== undefined) {
    buf[i] = OPT_MSS; buf[i + 1] = 4; buf[i + 2] = o.mss >>> 8; buf[i + 3] = o.mss & 255;
    i += 4;
  }
  if (o.timestamp !== undefined) {
    if (o.sackPermitted) { buf[i] = OPT_SACK_PERM; buf[i + 1] = 2; } else { buf[i] = OPT_NOP; buf[i + 1] = OPT_NOP; }
    buf[i + 2] = OPT_TIMESTAMP; buf[i + 3] = 10;
    write32(buf, i + 4, o.timestamp.tsVal);
    write32(buf, i + 8, o.timestamp.tsEcr);
    i += 12;
  } else if (o.sackPermitted) {
    buf[i] = OPT_NOP; buf[i + 1] = OPT_NOP; buf[i + 2] = OPT_SACK_PERM; buf[i + 3] = 2;
    i += 4;
  }
  if (o.windowScale !== undefined) {
    buf[i] = OPT_NOP; buf[i + 1] = OPT_WSCALE; buf[i + 2] = 3; buf[i + 3] = o.windowScale & 255;
    i += 4;
  }
  if (o.sackBlocks !== undefined && o.sackBlocks.length > 0) {
    buf[i] = OPT_NOP; buf[i + 1] = OPT_NOP; buf[i + 2] = OPT_SACK; buf[i + 3] = 2 + 8 * o.sackBlocks.length;
    i += 4;
    for (const b of o.sackBlocks) { write32(buf, i, b.left); write32(buf, i + 4, b.right); i += 8; }
  }
  return hl;
}

/** Computes and stores the checksum of the segment at buf[off, off+len). */
export function fillTcpChecksum(buf: Uint8Array, off: number, len: number, src: IpAddress, dst: IpAddress): void {
  write16(buf, off + TCP_FIELD.CHECKSUM, 0);
  write16(buf, off + TCP_FIELD.CHECKSUM, finish(tcpChecksumSum(buf, off, off + len, src, dst)));
}

/** Writes header, options and payload of `repr` at `buf[off...]`, checksummed. Returns the segment length. */
export function emitTcp(repr: TcpRepr, buf: Uint8Array, off: number, src: IpAddress, dst: IpAddress): number {
  const hl = emitTcpHeader(repr, buf, off);
  copyInto(buf, repr.payload, off + hl);
  const len = hl + repr.payload.length;
  fillTcpChecksum(buf, off, len, src, dst);
  return len;
}
