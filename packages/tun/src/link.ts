/**
 * The link boundary: what a network layer sees of a device.
 *
 * Ownership (the rule every implementation follows):
 * - `send(packet)` borrows `packet` for the duration of the call only. A link that
 *   keeps the bytes (a queue, a capture) copies them. The caller may reuse its
 *   buffer as soon as `send` returns.
 * - The receiver's `packet` argument is a view that is valid only during the call
 *   (the device reuses its read buffer). A consumer that keeps bytes copies them.
 *
 * - `sendOffload(packet, ...)` borrows `packet` the same way, and in addition the caller
 *   lends the link the `offloadHeadroom` bytes just before `packet` in its ArrayBuffer:
 *   the link may overwrite them during the call (a tun writes its virtio-net header there,
 *   so header and packet leave in ONE contiguous write without a copy). A link that
 *   finds less headroom (packet.byteOffset too small) copies instead.
 * - The receiver's `meta` (when given) is a reused object, valid only during the call.
 *
 * A link never throws from `send` for an operational failure: it returns false and
 * counts the drop (queue full, device closed, kernel refused the write).
 *
 * Offloads (virtio spec §5.1.6; all members optional, so links without them are unchanged):
 * - `offload` says what the link negotiated: `csum` (it accepts packets whose transport
 *   checksum is partial, and may deliver such packets), `tso4` (it accepts TCP/IPv4
 *   super-segments up to 65535 bytes, larger than `mtu`, and segments them by `gsoSize`).
 * - Received packets may then carry `meta`: `csumPartial`/`dataValid` mean the bytes come
 *   from the local kernel and never crossed a wire, so the receiver must not verify the
 *   transport checksum (with `csumPartial` it is NOT valid: it holds the pseudo-header sum);
 *   `gsoType != 0` marks a super-segment larger than the MTU (TCPV4 1, or TCPV6 4 from a
 *   TunDevice with `tso6` that hands over IPv6). Only TCP comes that way: a link
 *   that negotiated UDP segmentation (`uso4`/`uso6`, a TunDevice) splits UDP super-datagrams
 *   before its receiver, which sees each datagram with `csumPartial` and `gsoType` 0.
 */
export type { PacketMeta, LinkOffload } from '@netstack/common';
import type { LinkOutput, PacketMeta } from '@netstack/common';

export interface LinkReceiver {
  /**
   * One raw IP packet (IFF_NO_PI: no packet-info prefix). `meta` is given by links that
   * negotiated offloads; receivers that ignore it keep working only on links without them.
   */
  packet(packet: Uint8Array, meta?: PacketMeta): void;
  /** Called after a batch of `packet` calls, so a stack can flush deferred work (coalesced ACKs). */
  batchEnd?(): void;
}

export interface LinkStats {
  RxPackets: number;
  RxBytes: number;
  TxPackets: number;
  TxBytes: number;
  /** Packets given to send() that did not leave (queue full, closed, write error). */
  TxDropped: number;
  /** Packets read but dropped before the receiver (e.g. not IPv4 when the link filters). */
  RxDropped: number;
  /** Offloaded sends that carried a GSO super-segment (several MSS in one packet). */
  TxGsoPackets?: number;
  /** Received GSO super-segments (meta.gsoType != 0), including UDP super-datagrams split by the link. */
  RxGsoPackets?: number;
  /** Sends that left the transport checksum to the link (NEEDS_CSUM), GSO or not. */
  TxCsumOffload?: number;
  /** Received packets whose transport checksum was partial (NEEDS_CSUM). */
  RxCsumPartial?: number;
}

/** Every link counter at zero (the offload ones included). */
export function newLinkStats(): Required<LinkStats> {
  return {
    RxPackets: 0, RxBytes: 0, TxPackets: 0, TxBytes: 0, TxDropped: 0, RxDropped: 0,
    TxGsoPackets: 0, RxGsoPackets: 0, TxCsumOffload: 0, RxCsumPartial: 0,
  };
}

/** A device: the send half the IP layer writes to (`LinkOutput`, declared in @netstack/common), and the receive half. */
export interface Link extends LinkOutput {
  /** Installs the receiver; replaces any earlier one. */
  setReceiver(receiver: LinkReceiver): void;
  /**
   * Hands the receiver, now and synchronously, packets that have already arrived but not
   * yet been delivered (a TUN device: what sits unread in the kernel's queue), at most one
   * batch (a device's read budget), with `batchEnd` after it as usual; returns how many
   * packets were delivered. Never blocks, never throws for an operational failure.
   *
   * Why: Node runs expired timers before it polls for I/O, so a stack whose timer fires
   * after a busy stretch would otherwise run retransmission timers while the ACKs that
   * cancel them sit unread. A stack calls this first thing in its timer callback.
   * Optional: a link without it (or with nothing pending) returns 0 / is simply not asked.
   * Must not be called from inside the receiver.
   */
  pollNow?(): number;
  stats(): LinkStats;
  /** Idempotent. A closed link drops what is sent and delivers nothing. */
  close(): void;
}
