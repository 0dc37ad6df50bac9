/**
 * UDP segmentation offload on receive: a UDP/IPv4 or UDP/IPv6 super-datagram from the kernel
 * (virtio gso_type UDP_L4 for both families, negotiated with TUN_F_USO4|TUN_F_USO6, Linux
 * 6.2+) is cut, in place, into the datagrams its sender wrote.
 *
 * Why in the link package and not above it: splitting is what the kernel's GSO does on a
 * device that cannot take the super-datagram (validate_xmit_skb -> __udp_gso_segment), below
 * its IP layer. Doing it here keeps the Link contract as it was (a receiver only ever sees
 * datagrams; the only packets larger than the MTU are TCP super-segments), so neither our IP
 * layer nor any other user of a TunDevice (a tunnel) has to know about UDP segmentation, and
 * `ip` keeps knowing no transport. It needs no protocol package: the few header fields it
 * touches are read here by offset, as the kernel's GSO callbacks do.
 *
 * What the kernel hands over (measured on 6.18; Linux udp_send_skb, udp4_hwcsum and
 * virtio_net_hdr_from_skb):
 *   vnet  flags NEEDS_CSUM, gso_type 5, gso_size = payload bytes per datagram,
 *         csum_start = IPv4 header length, csum_offset = 6, hdr_len a hint only
 *   IPv4  one header; Total Length = the whole super-datagram; Identification = the first
 *         datagram's
 *   UDP   Length = 8 + every payload byte; Checksum = the folded, uncomplemented
 *         pseudo-header sum over that length (partial: the payload is not summed)
 * What datagram k (from 0) becomes, as the kernel's own segmentation would make it
 * (__udp_gso_segment, inet_gso_segment):
 *   payload bytes [k * gso_size, min((k + 1) * gso_size, all)): every one gso_size bytes
 *   but the last, which may be shorter
 *   IPv4  Total Length = IHL + 8 + its payload; Identification = first + k (mod 2^16);
 *         header checksum recomputed; TOS, DF, TTL and options copied
 *   UDP   Length = 8 + its payload; Checksum still partial: the pseudo-header sum moved
 *         from the total length to its own (RFC 1624), so it is handed over with
 *         meta.csumPartial like any packet from the local kernel (never verified; a
 *         receiver that must put it on a wire completes it from csum_start = IHL).
 * IPv6 (RFC 8200; Linux udp_v6_send_skb, __udp_gso_segment): the same with a fixed 40-byte
 * header and no extension header (GSO never makes them; the next header must be UDP, 17):
 *   vnet  csum_start = 40, csum_offset = 6
 *   IPv6  Payload Length = 8 + every payload byte; no Identification, no header checksum
 *   UDP   Checksum = the partial sum over the IPv6 pseudo-header (RFC 8200 §8.1: source,
 *         destination, upper-layer length, next header), folded, uncomplemented
 * datagram k: IPv6 Payload Length = 8 + its payload; version, traffic class, flow label,
 * hop limit and addresses copied; UDP Length and the partial checksum as for IPv4 (the
 * upper-layer length of the pseudo-header is below 2^16, so it moves the same way).
 *
 * Zero copy: datagram k's headers are written into the IHL + 8 bytes just before its
 * payload, which belong to datagram k - 1 (or earlier ones), already handed over. So the
 * datagrams must be taken in order, each view is valid only until the next is taken, and
 * the bytes of the super-datagram are consumed. The only allocation is the view itself.
 *
 * Refused (`begin` returns the reason; nothing is written; the caller drops and counts):
 * what the kernel's own checks refuse (virtio_net_hdr_to_skb: UDP_L4 needs NEEDS_CSUM and
 * csum_offset 6; udp_send_skb: at most UDP_MAX_SEGMENTS datagrams) and anything that is
 * not one whole, well-formed UDP/IPv4 or UDP/IPv6 datagram: no throw.
 */

/** Linux include/linux/udp.h: the most datagrams one UDP_SEGMENT send may carry. */
export const UDP_MAX_SEGMENTS = 128;

/** Why a super-datagram was refused. */
export type UsoRefusal =
  /** Neither IPv4 nor IPv6, IHL < 5, shorter than its headers, or a bad IPv4 header checksum. */
  | 'header'
  /** IPv4 Total Length (IPv6 40 + Payload Length) differs from the bytes read, or UDP Length from the IP payload. */
  | 'length'
  /** Not UDP (IPv4 protocol / IPv6 next header 17: an IPv6 extension header is refused too). */
  | 'protocol'
  /** A fragment (MF or a fragment offset): GSO never makes those. */
  | 'fragment'
  /** No NEEDS_CSUM, or csum_start/csum_offset not at the UDP checksum. */
  | 'csum'
  /** gso_size 0. */
  | 'gso-size'
  /** More than UDP_MAX_SEGMENTS datagrams. */
  | 'segments';

const UDP_HEADER_LEN = 8;
const IPV6_HEADER_LEN = 40;
const UDP_CSUM_OFFSET = 6;
const PROTO_UDP = 17;
const EMPTY = new Uint8Array(0);

/** RFC 1071 sum of `len` bytes from `off` (even length), folded to 16 bits, not complemented. */
function sum16(b: Uint8Array, off: number, len: number): number {
  let s = 0;
  for (let i = off, end = off + len; i < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** Splits one super-datagram at a time; reused (no allocation per datagram but its view). */
export class UdpSegmenter {
  /** The original IPv4 + UDP headers (at most 60 + 8 bytes), or IPv6 + UDP (40 + 8). */
  readonly #template = new Uint8Array(60 + UDP_HEADER_LEN);
  #packet: Uint8Array = EMPTY;
  /** IP header length (IPv4 IHL, or 40 for IPv6). */
  #ihl = 0;
  #v6 = false;
  #gsoSize = 0;
  /** Payload bytes of the whole super-datagram. */
  #payload = 0;
  #count = 0;
  #next = 0;
  #id = 0;
  /** The partial UDP checksum the sender wrote, for the whole UDP length. */
  #csum = 0;
  #udpLength = 0;

  /**
   * Checks `packet` (IPv4 header at 0, the super-datagram's bytes, which this segmenter
   * then owns until the last datagram is taken) against the vnet header's fields. Returns
   * how many datagrams it holds (1 when its payload fits in one gso_size), or why not.
   */
  begin(packet: Uint8Array, gsoSize: number, csumPartial: boolean, csumStart: number, csumOffset: number): number | UsoRefusal {
    this.#packet = EMPTY;
    this.#count = 0;
    this.#next = 0;
    const len = packet.length;
    const version = len === 0 ? 0 : packet[0]! >>> 4;
    let ihl: number;
    if (version === 4) {
      if (len < 20) return 'header';
      ihl = (packet[0]! & 0x0f) * 4;
      if (ihl < 20 || len < ihl + UDP_HEADER_LEN || sum16(packet, 0, ihl) !== 0xffff) return 'header';
      if (((packet[2]! << 8) | packet[3]!) !== len) return 'length';
      if (packet[9] !== PROTO_UDP) return 'protocol';
      if ((((packet[6]! << 8) | packet[7]!) & 0x3fff) !== 0) return 'fragment';
    } else if (version === 6) {
      // RFC 8200 §3: Payload Length at 4, Next Header at 6; no header checksum.
      ihl = IPV6_HEADER_LEN;
      if (len < ihl + UDP_HEADER_LEN) return 'header';
      if (((packet[4]! << 8) | packet[5]!) !== len - ihl) return 'length';
      if (packet[6] !== PROTO_UDP) return 'protocol';
    } else {
      return 'header';
    }
    if (!csumPartial || csumStart !== ihl || csumOffset !== UDP_CSUM_OFFSET) return 'csum';
    const udpLength = (packet[ihl + 4]! << 8) | packet[ihl + 5]!;
    if (udpLength !== len - ihl) return 'length';
    if (!(gsoSize >= 1)) return 'gso-size';
    const payload = udpLength - UDP_HEADER_LEN;
    const count = payload === 0 ? 1 : Math.ceil(payload / gsoSize);
    if (count > UDP_MAX_SEGMENTS) return 'segments';
    const t = this.#template;
    for (let i = 0; i < ihl + UDP_HEADER_LEN; i++) t[i] = packet[i]!;
    this.#packet = packet;
    this.#ihl = ihl;
    this.#v6 = version === 6;
    this.#gsoSize = gsoSize;
    this.#payload = payload;
    this.#count = count;
    this.#id = version === 4 ? (packet[4]! << 8) | packet[5]! : 0;
    this.#csum = (packet[ihl + 6]! << 8) | packet[ihl + 7]!;
    this.#udpLength = udpLength;
    return count;
  }

  /**
   * Datagram `k` (0, 1, ... in order: its headers overwrite the end of the ones before) as a
   * view into the super-datagram's bytes, valid until the next call. Throws on misuse (out
   * of order, past the end): that is a bug in the caller, never bad input.
   */
  segment(k: number): Uint8Array {
    if (k !== this.#next || k >= this.#count) {
      throw new RangeError(`UdpSegmenter.segment(${k}): expected segment ${this.#next} of ${this.#count}`);
    }
    this.#next++;
    const p = this.#packet;
    const ihl = this.#ihl;
    const hdr = ihl + UDP_HEADER_LEN;
    const start = k * this.#gsoSize;
    const data = Math.min(this.#gsoSize, this.#payload - start);
    if (k > 0) {
      const t = this.#template;
      for (let i = 0; i < hdr; i++) p[start + i] = t[i]!;
    }
    const total = hdr + data;
    if (this.#v6) {
      const payloadLength = UDP_HEADER_LEN + data; // RFC 8200 §3: everything after the 40 bytes
      p[start + 4] = payloadLength >>> 8;
      p[start + 5] = payloadLength & 0xff;
    } else {
      const id = (this.#id + k) & 0xffff;
      p[start + 2] = total >>> 8;
      p[start + 3] = total & 0xff;
      p[start + 4] = id >>> 8;
      p[start + 5] = id & 0xff;
      p[start + 10] = 0;
      p[start + 11] = 0;
      const ipSum = ~sum16(p, start, ihl) & 0xffff;
      p[start + 10] = ipSum >>> 8;
      p[start + 11] = ipSum & 0xff;
    }
    const udpLength = UDP_HEADER_LEN + data;
    p[start + ihl + 4] = udpLength >>> 8;
    p[start + ihl + 5] = udpLength & 0xff;
    // RFC 1624 eqn. 3 on an uncomplemented sum: S' = S + ~m + m' (ones' complement).
    let s = this.#csum + (~this.#udpLength & 0xffff) + udpLength;
    s = (s & 0xffff) + (s >>> 16);
    s = (s & 0xffff) + (s >>> 16);
    p[start + ihl + 6] = s >>> 8;
    p[start + ihl + 7] = s & 0xff;
    return p.subarray(start, start + total);
  }
}
