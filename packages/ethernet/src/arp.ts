/**
 * ARP (RFC 826) for IPv4 over Ethernet: the 28-byte packet as a view (`ArpPacket`) and a
 * record (`ArpRepr`), `parseArp` / `emitArp`. Only hardware type 1 (Ethernet, 6-byte
 * addresses) and protocol type 0x0800 (IPv4, 4-byte addresses) are ours; anything else
 * parses to `unsupported`. Operations 1 (request) and 2 (reply); others are `bad-op`
 * (RARP's 3/4 travel under their own EtherType, 0x8035, and never reach this parser).
 *
 *   0      2      4    5    6        8          14        18         24        28
 *   | htype | ptype |hlen|plen| oper | sha (6) | spa (4) | tha (6)  | tpa (4)  |
 *
 * RFC 5227 shapes, by field: a probe has spa 0.0.0.0 and tpa the address probed; an
 * announcement (a "gratuitous ARP") has spa = tpa = the address announced and tha zero.
 */
import { MAC_ZERO, readMac, writeMac, type MacAddress } from './mac.js';

export const ARP_LEN = 28;
export const ARP_HTYPE_ETHERNET = 1;
export const ARP_PTYPE_IPV4 = 0x0800;
export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;

export type ArpDropReason = 'truncated' | 'unsupported' | 'bad-op';

export interface ArpRepr {
  operation: number;
  senderMac: MacAddress;
  /** An IPv4 address as a number (10.7.0.2 === 0x0a070002), as @netstack/ip has them. */
  senderIp: number;
  targetMac: MacAddress;
  targetIp: number;
}

function u32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

function setU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = (v >>> 16) & 0xff;
  b[off + 2] = (v >>> 8) & 0xff;
  b[off + 3] = v & 0xff;
}

/** A view over an ARP packet; `checked` checks the length once, then no accessor fails. */
export class ArpPacket {
  readonly bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  static checked(bytes: Uint8Array): ArpPacket | undefined {
    return bytes.length < ARP_LEN ? undefined : new ArpPacket(bytes);
  }

  get htype(): number { return (this.bytes[0]! << 8) | this.bytes[1]!; }
  get ptype(): number { return (this.bytes[2]! << 8) | this.bytes[3]!; }
  get hlen(): number { return this.bytes[4]!; }
  get plen(): number { return this.bytes[5]!; }
  get operation(): number { return (this.bytes[6]! << 8) | this.bytes[7]!; }
  get senderMac(): MacAddress { return readMac(this.bytes, 8); }
  get senderIp(): number { return u32(this.bytes, 14); }
  get targetMac(): MacAddress { return readMac(this.bytes, 18); }
  get targetIp(): number { return u32(this.bytes, 24); }
}

export function emptyArpRepr(): ArpRepr {
  return { operation: 0, senderMac: MAC_ZERO, senderIp: 0, targetMac: MAC_ZERO, targetIp: 0 };
}

/**
 * Reads an Ethernet/IPv4 ARP packet into `into` (reused when given), or says why not.
 * Trailing bytes (a frame's padding to 60 bytes) are ignored.
 */
export function parseArp(bytes: Uint8Array, into: ArpRepr = emptyArpRepr()): ArpRepr | ArpDropReason {
  const p = ArpPacket.checked(bytes);
  if (p === undefined) return 'truncated';
  if (p.htype !== ARP_HTYPE_ETHERNET || p.ptype !== ARP_PTYPE_IPV4 || p.hlen !== 6 || p.plen !== 4) return 'unsupported';
  const op = p.operation;
  if (op !== ARP_REQUEST && op !== ARP_REPLY) return 'bad-op';
  into.operation = op;
  into.senderMac = p.senderMac;
  into.senderIp = p.senderIp;
  into.targetMac = p.targetMac;
  into.targetIp = p.targetIp;
  return into;
}

/** Writes the 28 bytes at `off`; returns the offset after them. */
export function emitArp(repr: ArpRepr, buf: Uint8Array, off = 0): number {
  if (buf.length < off + ARP_LEN) throw new RangeError('buffer too small for an ARP packet');
  if (repr.operation !== ARP_REQUEST && repr.operation !== ARP_REPLY) throw new RangeError(`ARP operation ${repr.operation} is not 1 or 2`);
  buf[off] = 0;
  buf[off + 1] = ARP_HTYPE_ETHERNET;
  buf[off + 2] = ARP_PTYPE_IPV4 >>> 8;
  buf[off + 3] = ARP_PTYPE_IPV4 & 0xff;
  buf[off + 4] = 6;
  buf[off + 5] = 4;
  buf[off + 6] = 0;
  buf[off + 7] = repr.operation;
  writeMac(buf, off + 8, repr.senderMac);
  setU32(buf, off + 14, repr.senderIp);
  writeMac(buf, off + 18, repr.targetMac);
  setU32(buf, off + 24, repr.targetIp);
  return off + ARP_LEN;
}
