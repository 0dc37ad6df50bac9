/**
 * A `Link` whose far side is a WireGuard session: what a stack sends is encrypted to the peer
 * its destination routes to (cryptokey routing) and leaves in a UDP datagram through a kernel
 * socket; what the peers send is decrypted and handed to the stack. No TUN device, no
 * privileges: `createStack({ link: await createWireGuardLink({...}), address })` gives a Node
 * program node:net/node:dgram-shaped sockets inside a WireGuard network (wireguard-go's
 * netstack mode, onetun, tsnet).
 *
 * It is the tunnel (tunnel.ts) with its device replaced by this link's two halves: the
 * tunnel's "device" is an internal end whose send() is the stack's receiver, and the
 * stack's send() is the tunnel's receiver. The sockets and the timer are unref'd: the
 * stack's own keep-alive (lifetime.ts) decides whether the process stays.
 */
import type { Link, LinkOffload, LinkReceiver, LinkStats, PacketMeta } from '@netstack/tun';

function newLinkStats(): LinkStats {
  return { RxPackets: 0, RxBytes: 0, TxPackets: 0, TxBytes: 0, TxDropped: 0, RxDropped: 0 };
}
import { createTunnel, type Tunnel, type TunnelOptions } from './tunnel.js';

export type WireGuardLinkOptions = Omit<TunnelOptions, 'device' | 'tun' | 'mtu' | 'dropOwnDatagrams' | 'udpGso'> & {
  /** The tunnel MTU, inner packets (default 1420, as wg-quick). */
  mtu?: number;
};

/**
 * The tunnel's side: the stack's packets come out of it, decrypted packets go into it.
 *
 * Receive coalescing (GRO-style, the tunnel's `coalesce`, default on): it says it takes
 * super-segments with partial checksums (`offload`, `sendOffload`), as a TUN device with
 * offloads does, so the tunnel's Coalescer (gro.ts) joins consecutive decrypted TCP segments
 * of a flow into one, handed to the stack with the metadata a TUN device gives the kernel's
 * TSO output (`gsoType`, `gsoSize`, `csumPartial`). The stack then takes one trip through IP
 * and TCP per run instead of per 1.4 KB, and ACKs the run at once (RFC 1122 §4.2.3.2: it
 * counts as the segments it holds) instead of every second segment: each ACK it saves is
 * an encryption and a datagram. Not checking the TCP checksum is safe for the same reason
 * as for the kernel behind the tunnel: each segment was authenticated by the AEAD.
 */
class TunnelSide implements Link {
  receiver: LinkReceiver | undefined;
  stack: LinkReceiver | undefined;
  readonly counters = newLinkStats();
  closed = false;
  readonly offload: LinkOffload;
  readonly offloadHeadroom = 0;
  private readonly meta: PacketMeta = { csumPartial: true, dataValid: false, gsoType: 0, gsoSize: 0 };
  private batchScheduled = false;
  private readonly endBatch = (): void => {
    this.batchScheduled = false;
    if (!this.closed) this.stack?.batchEnd?.();
  };

  constructor(readonly mtu: number, coalesce: boolean) {
    this.offload = { csum: coalesce, tso4: coalesce, tso6: coalesce };
  }

  setReceiver(receiver: LinkReceiver): void {
    this.receiver = receiver;
  }

  /** A decrypted inner packet: to the stack, borrowed; its batchEnd once the datagrams of this turn are in. */
  send(packet: Uint8Array): boolean {
    const c = this.counters;
    if (this.closed || this.stack === undefined) {
      c.TxDropped++;
      return false;
    }
    c.TxPackets++;
    c.TxBytes += packet.length;
    this.stack.packet(packet);
    this.scheduleBatchEnd();
    return true;
  }

  /** A run of decrypted TCP segments coalesced by the tunnel (gro.ts): to the stack as one super-segment, TCP checksum partial. */
  sendOffload(packet: Uint8Array, gsoSize: number): boolean {
    const c = this.counters;
    if (this.closed || this.stack === undefined) {
      c.TxDropped++;
      return false;
    }
    c.TxPackets++;
    c.TxBytes += packet.length;
    const m = this.meta;
    m.gsoType = packet[0]! >> 4 === 6 ? 4 : 1; // virtio TCPV6 / TCPV4
    m.gsoSize = gsoSize;
    this.stack.packet(packet, m);
    this.scheduleBatchEnd();
    return true;
  }

  private scheduleBatchEnd(): void {
    if (!this.batchScheduled) {
      this.batchScheduled = true;
      setImmediate(this.endBatch);
    }
  }

  stats(): LinkStats {
    return { ...this.counters };
  }

  close(): void {
    this.closed = true;
  }
}

export class WireGuardLink implements Link {
  readonly counters = newLinkStats();
  private closedFlag = false;

  /** Use createWireGuardLink. */
  constructor(private readonly side: TunnelSide, readonly tunnel: Tunnel) {}

  get mtu(): number {
    return this.side.mtu;
  }

  setReceiver(receiver: LinkReceiver): void {
    this.side.stack = receiver;
  }

  /** A packet from the stack: encrypted and sent (or staged behind a handshake). */
  send(packet: Uint8Array): boolean {
    const c = this.counters;
    if (this.closedFlag || packet.length > this.side.mtu || this.side.receiver === undefined) {
      c.TxDropped++;
      return false;
    }
    c.TxPackets++;
    c.TxBytes += packet.length;
    this.side.receiver.packet(packet);
    return true;
  }

  /**
   * The stack's view: sent = TxPackets, received = what the tunnel handed over; then the
   * protocol's counters (In*, Out*: @netstack/wireguard) and the UDP socket's (Udp*), so
   * `stack.stats().link` shows them on a stack made with `createStack({ wireguard })`.
   */
  stats(): LinkStats {
    const s = this.side.counters;
    const t = this.tunnel.stats();
    const udp = Object.fromEntries(Object.entries(t.tunnel).filter(([k]) => k.startsWith('Udp')));
    return { ...t.wireguard, ...udp, ...this.counters, RxPackets: s.TxPackets, RxBytes: s.TxBytes, RxDropped: s.TxDropped };
  }

  /** Closes the tunnel: its timer and both UDP sockets. Idempotent. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.side.close();
    this.tunnel.close();
  }
}

/** Binds the UDP sockets and starts the WireGuard session's adapter; resolves with the link for `createStack({ link })`. */
export async function createWireGuardLink(options: WireGuardLinkOptions): Promise<WireGuardLink> {
  const side = new TunnelSide(options.mtu ?? 1420, options.coalesce !== false);
  // The stack's UDP ports are its own, not the kernel's: a stack socket may use the tunnel's port number.
  // No UDP GSO: the stack hands over no super-segments to cut (its segments are sent one by one).
  const tunnel = await createTunnel({ ...options, device: side, unref: true, dropOwnDatagrams: false, udpGso: false });
  return new WireGuardLink(side, tunnel);
}
