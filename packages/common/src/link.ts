/**
 * The send half of a link and what it says about a received packet: the contract between
 * a device (@netstack/tun's `Link` implements it) and whatever writes IP packets to it
 * (@netstack/ip's layer, as `LinkOutput`, and tun's own wrappers). Declared here once,
 * because the IP layer that consumes it and the device that implements it may not import
 * each other. The full offload and ownership notes are in @netstack/tun's link.ts
 * (virtio spec §5.1.6).
 */

/** What a link negotiated. */
export interface LinkOffload {
  /** TCP/IPv4 segmentation offload: `sendOffload` with gsoSize > 0 may exceed the MTU. */
  readonly tso4: boolean;
  /**
   * TCP/IPv6 segmentation offload (TUN_F_TSO6): the same for a TCP/IPv6 packet (virtio
   * gso_type TCPV6), and the link may deliver TCPV6 super-segments. Absent: false.
   */
  readonly tso6?: boolean;
  /** Checksum offload: `sendOffload` may leave the transport checksum partial. */
  readonly csum: boolean;
  /**
   * UDP segmentation offload on receive (TunDevice: TUN_F_USO4|TUN_F_USO6): the kernel may
   * send UDP super-datagrams and the link splits them itself, so for a receiver it changes
   * nothing but the cost. `sendOffload` still takes TCP only. Absent: false.
   */
  readonly uso4?: boolean;
  /** The same for UDP/IPv6 (TUN_F_USO6; a TunDevice agrees it only together with `uso4`). Absent: false. */
  readonly uso6?: boolean;
}

/**
 * Where IP packets are written. Offload members are optional: a link without them gets
 * MTU-sized datagrams with full checksums.
 * - `offload.csum`: `sendOffload` takes a packet whose transport checksum is partial.
 * - `offload.tso4`: `sendOffload` with gsoSize > 0 takes a TCP/IPv4 datagram of up to
 *   65535 bytes, larger than `mtu`, and the link (the kernel) segments it; `offload.tso6`
 *   the same for a TCP/IPv6 datagram (IPv6 header + payload up to 65535 bytes in all).
 * - Ownership: `send` borrows `packet` for the call only; `sendOffload` borrows it AND the
 *   `offloadHeadroom` bytes before it in the same ArrayBuffer, which the link may overwrite
 *   (the IP layer reserves them in its output buffers, so the vnet header and the datagram
 *   leave in one write).
 */
export interface LinkOutput {
  /** Largest packet `send` accepts, in bytes (the device MTU). */
  readonly mtu: number;
  /** Borrows `packet` for the call only. Returns false when the packet was dropped. */
  send(packet: Uint8Array): boolean;
  /** Offloads negotiated; undefined (or absent) when the link has none. */
  readonly offload?: LinkOffload | undefined;
  /** Bytes before `packet` that `sendOffload` may overwrite (see the ownership notes). */
  readonly offloadHeadroom?: number | undefined;
  /**
   * Sends one TCP packet (IP header at 0, IPv4 or IPv6 by its version nibble; csumStart is
   * where the TCP header starts: 20, or 40 for IPv6 without extension headers) whose TCP
   * checksum is partial: the field at `csumStart + csumOffset` holds the folded,
   * uncomplemented pseudo-header sum over the whole TCP length (what Linux's
   * tcp_v4_send_check / tcp_v6_send_check write), and the link (or the kernel behind
   * it) completes it. With `gsoSize > 0` and more than `gsoSize` payload bytes the packet is
   * a super-segment of up to 65535 bytes that the link segments into `gsoSize`-byte payloads,
   * each with a copy of the headers (so `gsoSize` must already respect the peer's MSS and
   * the path MTU, minus TCP options). Returns false (and counts the drop) when refused,
   * also when `offload` does not allow it.
   */
  sendOffload?(packet: Uint8Array, gsoSize: number, csumStart: number, csumOffset: number): boolean;
  /**
   * `sendOffload` of the packet `head` + `data` + `data2` (when given), the pieces not
   * joined by the caller: `head` holds the IP and TCP headers (the TCP header whole, with
   * `offloadHeadroom` bytes before `head` as before sendOffload's packet), `data` and
   * `data2` the payload where it is kept (a TCP send buffer: no copy into a packet buffer).
   * All three are borrowed for the call only. Optional: the IP layer uses it where present.
   */
  sendOffloadGather?(head: Uint8Array, data: Uint8Array, data2: Uint8Array | undefined, gsoSize: number, csumStart: number, csumOffset: number): boolean;
}

/**
 * What a link says about a received packet beyond its bytes (decoded from the vnet
 * header). Handed on as a reused object: valid during the call only.
 */
export interface PacketMeta {
  /** NEEDS_CSUM: the transport checksum is partial (holds the pseudo-header sum); do not verify it. */
  csumPartial: boolean;
  /** DATA_VALID: the sender vouches for the checksum; no need to verify it. */
  dataValid: boolean;
  /**
   * virtio gso_type (0 none, 1 TCPv4, 4 TCPv6; 0x80 ECN bit): a super-segment of several MSS when not 0.
   * A TunDevice never hands over UDP_L4 (5): it splits UDP super-datagrams first (uso.ts).
   */
  gsoType: number;
  /** Payload bytes per segment the sender's stack chose (its MSS for this flow); 0 when not GSO. */
  gsoSize: number;
}
