/**
 * The 8-byte header ICMPv4 (RFC 792) and ICMPv6 (RFC 4443 §2.1) share: type, code,
 * checksum, then 4 type-specific bytes (an echo's identifier and sequence number, RFC 792
 * and RFC 4443 §4.1). `IcmpPacket` (wire.ts) and `Icmp6Packet` (wire6.ts) extend this view
 * with what differs: the checksum's coverage and the error fields' widths.
 */

/** Length of the fixed header: type, code, checksum, 4 type-specific bytes (both families). */
export const ICMP_HEADER_LEN = 8;

const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const REST = 4;
const IDENT = 4; // echo
const SEQ_NO = 6; // echo

/** A view over one ICMP message of either family. Valid while `bytes` is. */
export abstract class IcmpHeaderView {
  readonly bytes: Uint8Array;
  protected readonly view: DataView;

  /** Unchecked: `bytes` must hold at least 8 bytes (the subclasses' `checked` is the length check). */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get msgType(): number { return this.bytes[TYPE]!; }
  set msgType(v: number) { this.bytes[TYPE] = v; }
  get msgCode(): number { return this.bytes[CODE]!; }
  set msgCode(v: number) { this.bytes[CODE] = v; }
  get checksum(): number { return this.view.getUint16(CHECKSUM); }
  set checksum(v: number) { this.view.setUint16(CHECKSUM, v); }
  get echoIdent(): number { return this.view.getUint16(IDENT); }
  set echoIdent(v: number) { this.view.setUint16(IDENT, v); }
  get echoSeqNo(): number { return this.view.getUint16(SEQ_NO); }
  set echoSeqNo(v: number) { this.view.setUint16(SEQ_NO, v); }
  /** The 4 type-specific bytes after the checksum, as one number. */
  get rest(): number { return this.view.getUint32(REST); }
  set rest(v: number) { this.view.setUint32(REST, v); }
  /** Everything after the 8-byte header: echo data or the quoted packet. */
  get data(): Uint8Array { return this.bytes.subarray(ICMP_HEADER_LEN); }
}
