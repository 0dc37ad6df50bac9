/**
 * Ethernet II framing (IEEE 802.3-2018 §3.2.6, RFC 894): destination, source, EtherType,
 * payload; no preamble and no FCS (a TAP device and a bridge hand frames over without
 * them). A view (`EthernetFrame`) over the bytes and a record (`EthernetRepr`) with
 * `parseEthernet` / `emitEthernet` / `ethernetBufferLen`.
 *
 * What `parseEthernet` refuses (a reason, never a throw):
 * - `truncated`: fewer than 14 bytes.
 * - `bad-source`: a group (multicast/broadcast) source address: no station has one.
 * - `length-type`: a type field below 0x0600 (1536): an IEEE 802.3 length, the frame is
 *   802.2 LLC (or SNAP, or a novell raw frame). Host stacks speak Ethernet II only
 *   (RFC 1122 §2.3.3 lets a host send RFC 1042 frames, it need not); counted and dropped.
 * - `vlan`: an IEEE 802.1Q (0x8100) or 802.1ad (0x88a8) tag. This host is not VLAN-aware
 *   (a tagged frame is for a VLAN sub-interface we do not have), so tagged frames are
 *   dropped and counted, as Linux drops them on an interface without a VLAN device.
 * Other EtherTypes parse; the interface counts the ones it does not handle.
 */
import { MAC_ZERO, isMulticastMac, readMac, writeMac, type MacAddress } from './mac.js';

export const ETHERNET_HEADER_LEN = 14;
/** Smallest frame on a wire without its FCS (60 = 64 - 4): shorter ones are padded by NICs. */
export const ETHERNET_MIN_FRAME = 60;

export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_QINQ = 0x88a8;
/** Type values from here up are EtherTypes; below 1536 (and above 1500) are lengths or invalid. */
export const ETHERTYPE_MIN = 0x0600;

export type EthernetDropReason = 'truncated' | 'bad-source' | 'length-type' | 'vlan';

export interface EthernetRepr {
  dst: MacAddress;
  src: MacAddress;
  ethertype: number;
}

/** A view over a frame's header. Make it with `checked` (length checked once), then no accessor fails. */
export class EthernetFrame {
  readonly bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
  }

  /** The view, or undefined when the bytes cannot hold a header. */
  static checked(bytes: Uint8Array): EthernetFrame | undefined {
    return bytes.length < ETHERNET_HEADER_LEN ? undefined : new EthernetFrame(bytes);
  }

  get dst(): MacAddress { return readMac(this.bytes, 0); }
  set dst(v: MacAddress) { writeMac(this.bytes, 0, v); }
  get src(): MacAddress { return readMac(this.bytes, 6); }
  set src(v: MacAddress) { writeMac(this.bytes, 6, v); }
  get ethertype(): number { return (this.bytes[12]! << 8) | this.bytes[13]!; }
  set ethertype(v: number) { this.bytes[12] = v >>> 8; this.bytes[13] = v & 0xff; }
  /** The bytes after the header (a view). */
  get payload(): Uint8Array { return this.bytes.subarray(ETHERNET_HEADER_LEN); }
}

export function emptyEthernetRepr(): EthernetRepr {
  return { dst: MAC_ZERO, src: MAC_ZERO, ethertype: 0 };
}

/** Reads and validates a header into `into` (reused when given), or says why not. */
export function parseEthernet(bytes: Uint8Array, into: EthernetRepr = emptyEthernetRepr()): EthernetRepr | EthernetDropReason {
  if (bytes.length < ETHERNET_HEADER_LEN) return 'truncated';
  const type = (bytes[12]! << 8) | bytes[13]!;
  if (type < ETHERTYPE_MIN) return 'length-type';
  const src = readMac(bytes, 6);
  if (isMulticastMac(src)) return 'bad-source';
  if (type === ETHERTYPE_VLAN || type === ETHERTYPE_QINQ) return 'vlan';
  into.dst = readMac(bytes, 0);
  into.src = src;
  into.ethertype = type;
  return into;
}

export function ethernetBufferLen(payloadLength: number): number {
  return ETHERNET_HEADER_LEN + payloadLength;
}

/** Writes the 14-byte header at `off` of `buf`; returns the offset of the payload. */
export function emitEthernet(repr: EthernetRepr, buf: Uint8Array, off = 0): number {
  if (buf.length < off + ETHERNET_HEADER_LEN) throw new RangeError('buffer too small for an Ethernet header');
  writeMac(buf, off, repr.dst);
  writeMac(buf, off + 6, repr.src);
  buf[off + 12] = repr.ethertype >>> 8;
  buf[off + 13] = repr.ethertype & 0xff;
  return off + ETHERNET_HEADER_LEN;
}
