/**
 * UDP on the wire (RFC 768), in two levels:
 *
 * - `UdpPacket`: a view over the bytes of one UDP datagram (the IP payload) with
 *   named field offsets; `UdpPacket.checked(bytes)` makes the one length check (the
 *   8-byte header), after which no accessor can read out of bounds.
 * - `UdpRepr`: ports and payload, with `parseUdp`, `emitUdp` and `udpBufferLen`.
 *
 * The checksum covers the pseudo-header (source, destination, zero, protocol 17,
 * UDP length), the header and the data (RFC 768). On send it is always computed,
 * and a computed 0 is sent as 0xffff (RFC 768: "all zero transmitted ... means the
 * transmitter generated no checksum"). On receive 0 means "none" and is accepted over
 * IPv4; over IPv6 the checksum is mandatory (RFC 8200 §8.1: "IPv6 receivers must discard
 * UDP packets containing a zero checksum"), so a zero field there fails as 'checksum'
 * (Linux counts it in Udp6InCsumErrors and sends no ICMPv6 either).
 *
 * The length field is checked against the IP payload (RFC 768, RFC 1122 §4.1.3.4
 * is silent; Linux udp_rcv does the same): an IP payload shorter than the UDP
 * length is dropped; bytes beyond the UDP length are trimmed. `payload` in a parsed
 * record is a view, valid while the packet's bytes are.
 */
import { PROTO_UDP, pseudoHeaderSum, sum16, finish, type IpAddress, type ViewCache } from '@netstack/ip';

export const UDP_HEADER_LEN = 8;
/** The largest UDP payload: 65535 - 20 (IPv4 header) - 8 (UDP header). */
export const UDP_MAX_PAYLOAD = 65507;

const SRC_PORT = 0;
const DST_PORT = 2;
const LENGTH = 4;
const CHECKSUM = 6;

export class UdpPacket {
  readonly bytes: Uint8Array;
  private readonly view: DataView;

  /** Unchecked: `bytes` must hold at least 8 bytes (use `checked` for received data). */
  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  static checked(bytes: Uint8Array): UdpPacket | undefined {
    return bytes.length >= UDP_HEADER_LEN ? new UdpPacket(bytes) : undefined;
  }

  get srcPort(): number { return this.view.getUint16(SRC_PORT); }
  set srcPort(v: number) { this.view.setUint16(SRC_PORT, v); }
  get dstPort(): number { return this.view.getUint16(DST_PORT); }
  set dstPort(v: number) { this.view.setUint16(DST_PORT, v); }
  get length(): number { return this.view.getUint16(LENGTH); }
  set length(v: number) { this.view.setUint16(LENGTH, v); }
  get checksum(): number { return this.view.getUint16(CHECKSUM); }
  set checksum(v: number) { this.view.setUint16(CHECKSUM, v); }

  /**
   * Verifies the checksum over the first `length` bytes; a zero checksum field means none
   * over IPv4 (RFC 768) and is refused over IPv6 (RFC 8200 §8.1; the family is the type
   * of `src`: a string is IPv6).
   */
  verifyChecksum(src: IpAddress, dst: IpAddress): boolean {
    if (this.checksum === 0) return typeof src === 'number';
    const len = this.length;
    return sum16(this.bytes, 0, len, pseudoHeaderSum(src, dst, PROTO_UDP, len)) === 0xffff;
  }

  /** Computes the checksum over the first `length` bytes; 0 is written as 0xffff. */
  fillChecksum(src: IpAddress, dst: IpAddress): void {
    const len = this.length;
    this.checksum = 0;
    const c = finish(sum16(this.bytes, 0, len, pseudoHeaderSum(src, dst, PROTO_UDP, len)));
    this.checksum = c === 0 ? 0xffff : c;
  }
}

export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

/** 'length': the length field is below 8 or above the IP payload. */
export type UdpParseError = 'truncated' | 'length' | 'checksum';

/**
 * Parses the IP payload of a UDP datagram received from `src` for `dst`. `verify` false
 * skips the checksum (the link vouched for it: InboundDatagram.checksumVerified; with
 * NEEDS_CSUM the field holds only the pseudo-header sum).
 */
export function parseUdp(packet: UdpPacket, src: IpAddress, dst: IpAddress, verify = true): UdpRepr | UdpParseError {
  if (packet.bytes.length < UDP_HEADER_LEN) return 'truncated';
  const len = packet.length;
  if (len < UDP_HEADER_LEN || len > packet.bytes.length) return 'length';
  // RFC 8200 §8.1: a zero checksum field is refused over IPv6 even when the link vouched for the checksum.
  if (packet.checksum === 0 && typeof src !== 'number') return 'checksum';
  if (verify && !packet.verifyChecksum(src, dst)) return 'checksum';
  return { srcPort: packet.srcPort, dstPort: packet.dstPort, payload: packet.bytes.subarray(UDP_HEADER_LEN, len) };
}

/**
 * `parseUdp` for the receive path: the same checks, straight from the bytes (no view
 * object), into a reused record; `payload` comes from `views` (no view per datagram).
 */
export function parseUdpInto(
  bytes: Uint8Array, src: IpAddress, dst: IpAddress, verify: boolean, into: UdpRepr, views: ViewCache,
): UdpRepr | UdpParseError {
  if (bytes.length < UDP_HEADER_LEN) return 'truncated';
  const len = (bytes[LENGTH]! << 8) | bytes[LENGTH + 1]!;
  if (len < UDP_HEADER_LEN || len > bytes.length) return 'length';
  const field = (bytes[CHECKSUM]! << 8) | bytes[CHECKSUM + 1]!;
  // RFC 8200 §8.1: over IPv6 (a string address) a zero checksum field is an error, whether or
  // not the link vouched for the checksum (a partial checksum from the link is never 0).
  if (field === 0 && typeof src !== 'number') return 'checksum';
  // RFC 768: over IPv4 a zero checksum field means none.
  if (verify && field !== 0 && sum16(bytes, 0, len, pseudoHeaderSum(src, dst, PROTO_UDP, len)) !== 0xffff) return 'checksum';
  into.srcPort = (bytes[SRC_PORT]! << 8) | bytes[SRC_PORT + 1]!;
  into.dstPort = (bytes[DST_PORT]! << 8) | bytes[DST_PORT + 1]!;
  into.payload = views.view(bytes, UDP_HEADER_LEN, len);
  return into;
}

/**
 * Writes the UDP header for `length` bytes (header included) at `buf[offset...]`, whose
 * payload is already in place, and fills the checksum for `src` → `dst` (0 is sent as
 * 0xffff). No view object: the send path's `emitUdp`.
 */
export function emitUdpHeader(
  buf: Uint8Array, offset: number, srcPort: number, dstPort: number, length: number, src: IpAddress, dst: IpAddress,
): void {
  buf[offset + SRC_PORT] = srcPort >>> 8;
  buf[offset + SRC_PORT + 1] = srcPort & 0xff;
  buf[offset + DST_PORT] = dstPort >>> 8;
  buf[offset + DST_PORT + 1] = dstPort & 0xff;
  buf[offset + LENGTH] = length >>> 8;
  buf[offset + LENGTH + 1] = length & 0xff;
  buf[offset + CHECKSUM] = 0;
  buf[offset + CHECKSUM + 1] = 0;
  let c = finish(sum16(buf, offset, offset + length, pseudoHeaderSum(src, dst, PROTO_UDP, length)));
  if (c === 0) c = 0xffff;
  buf[offset + CHECKSUM] = c >>> 8;
  buf[offset + CHECKSUM + 1] = c & 0xff;
}

export function udpBufferLen(repr: UdpRepr): number {
  return UDP_HEADER_LEN + repr.payload.length;
}

/** Writes `repr` into `packet` (at least `udpBufferLen(repr)` bytes) with the checksum for `src` → `dst`. */
export function emitUdp(repr: UdpRepr, packet: UdpPacket, src: IpAddress, dst: IpAddress): void {
  packet.srcPort = repr.srcPort;
  packet.dstPort = repr.dstPort;
  packet.length = udpBufferLen(repr);
  packet.bytes.set(repr.payload, UDP_HEADER_LEN);
  packet.fillChecksum(src, dst);
}
