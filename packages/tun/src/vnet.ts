/**
 * `struct virtio_net_hdr` (virtio spec v1.2 §5.1.6 "Device Operation", and linux/virtio_net.h),
 * the header a tun opened with IFF_VNET_HDR puts before every packet, both directions.
 *
 * Layout (little-endian, as the kernel's tun uses for a non-"be" header):
 *   0  u8  flags        1 = NEEDS_CSUM (§5.1.6.2: checksum partial, complete it from
 *                       csum_start, store at csum_start + csum_offset), 2 = DATA_VALID
 *   1  u8  gso_type     0 NONE, 1 TCPV4, 3 UDP, 4 TCPV6, 5 UDP_L4; 0x80 ECN bit
 *   2  u16 hdr_len      bytes of headers (IP + TCP/UDP) before the payload to segment
 *                       (from the kernel only a hint: tun sends skb_headlen)
 *   4  u16 gso_size     payload bytes per segment after segmentation
 *   6  u16 csum_start   offset of the transport header (where checksumming starts)
 *   8  u16 csum_offset  offset of the checksum field from csum_start (16 for TCP, 6 for UDP)
 *  10  u16 num_buffers  only when the header size is 12 (VIRTIO_NET_F_MRG_RXBUF layout);
 *                       unused by tun, written 0
 *
 * Everything here is byte encoding; nothing calls the kernel.
 */

// linux/if_tun.h
export const IFF_VNET_HDR = 0x4000;
export const TUNSETOFFLOAD = 0x400454d0;
export const TUNSETVNETHDRSZ = 0x400454d8;
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;
export const TUN_F_UFO = 0x10;
/** UDP segmentation offload, IPv4 / IPv6 (Linux 6.2+). tun.c set_offload takes them only together. */
export const TUN_F_USO4 = 0x20;
export const TUN_F_USO6 = 0x40;

// linux/virtio_net.h
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
/** TCP/IPv6 super-segment (TSO6); the IPv6 header may be followed by extension headers up to csum_start. */
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
/** UDP segmentation (USO), IPv4 and IPv6 alike: gso_size payload bytes per datagram, each with a copy of the headers. */
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

/** The header size we ask for (TUNSETVNETHDRSZ); the kernel's default without the ioctl is 10. */
export const VNET_HDR_LEN = 12;
export const VNET_HDR_LEN_MIN = 10;

export type { PacketMeta } from '@netstack/common';
import type { PacketMeta } from '@netstack/common';

export function newPacketMeta(): PacketMeta {
  return { csumPartial: false, dataValid: false, gsoType: 0, gsoSize: 0 };
}

export interface VnetHeader {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

/** Writes a header of `len` bytes (10 or 12) at `buf[off...]`; num_buffers (if any) is 0. */
export function encodeVnetHeader(
  buf: Uint8Array, off: number, len: number,
  flags: number, gsoType: number, hdrLen: number, gsoSize: number, csumStart: number, csumOffset: number,
): void {
  buf[off] = flags;
  buf[off + 1] = gsoType;
  buf[off + 2] = hdrLen & 0xff;
  buf[off + 3] = hdrLen >>> 8;
  buf[off + 4] = gsoSize & 0xff;
  buf[off + 5] = gsoSize >>> 8;
  buf[off + 6] = csumStart & 0xff;
  buf[off + 7] = csumStart >>> 8;
  buf[off + 8] = csumOffset & 0xff;
  buf[off + 9] = csumOffset >>> 8;
  for (let i = VNET_HDR_LEN_MIN; i < len; i++) buf[off + i] = 0;
}

/** Decodes the receive-relevant fields of the header at `buf[off...]` into `meta` (reused). */
export function decodeVnetMeta(buf: Uint8Array, off: number, meta: PacketMeta): PacketMeta {
  const flags = buf[off]!;
  meta.csumPartial = (flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0;
  meta.dataValid = (flags & VIRTIO_NET_HDR_F_DATA_VALID) !== 0;
  meta.gsoType = buf[off + 1]!;
  meta.gsoSize = buf[off + 4]! | (buf[off + 5]! << 8);
  return meta;
}

/** csum_start of the header at `buf[off...]` (meaningful with NEEDS_CSUM). */
export function vnetCsumStart(buf: Uint8Array, off: number): number {
  return buf[off + 6]! | (buf[off + 7]! << 8);
}

/** csum_offset of the header at `buf[off...]` (meaningful with NEEDS_CSUM). */
export function vnetCsumOffset(buf: Uint8Array, off: number): number {
  return buf[off + 8]! | (buf[off + 9]! << 8);
}

/** Decodes every field (for tests and diagnostics). */
export function decodeVnetHeader(buf: Uint8Array, off = 0): VnetHeader {
  const u16 = (o: number): number => buf[off + o]! | (buf[off + o + 1]! << 8);
  return { flags: buf[off]!, gsoType: buf[off + 1]!, hdrLen: u16(2), gsoSize: u16(4), csumStart: u16(6), csumOffset: u16(8) };
}
