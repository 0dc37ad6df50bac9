/**
 * An in-memory point-to-point link: what one end sends, the other receives.
 *
 * API
 *   createLinkPair(options?): LinkPair
 *   pair.a, pair.b: MemoryLink     the two ends (each a `Link`)
 *   pair.pump(): number            delivers what was queued when called; returns the count
 *   pair.pending(): number         packets queued in both directions
 *   end.pollNow(): number          delivers now what is queued towards that end (autoDeliver only)
 *   pair.stats(): LinkPairStats    packets the filter dropped on the wire
 *   pair.close()                   closes both ends
 *
 * Behaviour, like a real link:
 * - `send` copies the packet (the Link contract: the caller may reuse its buffer at once).
 * - Closing an end drops what was queued towards it; what it sent before closing is on the
 *   wire and still reaches the other end if that end is open.
 * - Packets over the MTU, empty packets, packets sent while either end is closed, and
 *   packets that find the direction's queue full (`queueLimit`, default 1024) are dropped,
 *   counted in the sender's `TxDropped`, and `send` returns false.
 * - `filter(packet, direction)` sees each accepted packet and may return 'drop': a loss on
 *   the wire. The sender counted it as sent; the pair counts it in `stats().Filtered`. It is
 *   the hook for an impairment shaper (the shaper itself is not here).
 * - Packets arriving at an end with no receiver are dropped and counted in its `RxDropped`.
 * - Delivery: by default asynchronous, one `setImmediate` per burst; each end's receiver gets
 *   the packets queued towards it (in order) then one `batchEnd()`. Packets sent from inside
 *   a receiver wait for the next batch, so two stacks ping-pong through the event loop.
 *   With `autoDeliver: false` nothing moves until `pump()`, for deterministic simulation
 *   with virtual time: `while (pair.pump() > 0) {}` (bounded by the caller) runs to quiet.
 * - The packet given to `receiver.packet` is the link's private copy; the receiver may keep
 *   it (the contract still only promises it for the duration of the call).
 * - `offload: true` makes both ends offload-capable links (`offload` = { tso4, tso6, csum },
 *   `sendOffload`), like a virtio device between two guests: an offloaded packet crosses
 *   as it is, super-segment and partial checksum included, and arrives with `meta`
 *   (`csumPartial`, `gsoType` TCPv4 or TCPv6 by the version nibble when it carries more
 *   than `gsoSize` payload bytes).
 *   Nothing segments or completes checksums on the way, so both ends must honour `meta`
 *   (our IP layer does). Plain `send` packets arrive without `meta`, as before.
 */
import type { Link, LinkOffload, LinkReceiver, LinkStats } from './link.js';
import { newLinkStats } from './link.js';
import { newPacketMeta, VIRTIO_NET_HDR_GSO_NONE, VIRTIO_NET_HDR_GSO_TCPV4, VIRTIO_NET_HDR_GSO_TCPV6 } from './vnet.js';
import { argError } from './errors.js';
import { MAX_MTU } from './ifreq.js';

export type LinkDirection = 'a->b' | 'b->a';
export type LinkFilter = (packet: Uint8Array, direction: LinkDirection) => 'pass' | 'drop';

export interface LinkPairOptions {
  /** Largest packet accepted (default 1500). */
  mtu?: number;
  /** Packets queued per direction before overflow drops (default 1024). */
  queueLimit?: number;
  /** Deliver on the event loop (true, default) or only on pump() (false). */
  autoDeliver?: boolean;
  /** Sees each accepted packet; 'drop' loses it on the wire. */
  filter?: LinkFilter;
  /** Both ends take offloaded packets (default false); see above. */
  offload?: boolean;
}

export interface LinkPairStats {
  /** Packets the filter dropped on the wire. */
  Filtered: number;
}

export interface LinkPair {
  readonly a: MemoryLink;
  readonly b: MemoryLink;
  /** Delivers every packet queued when called (both directions); returns how many were handed over. */
  pump(): number;
  /** Packets queued in both directions. */
  pending(): number;
  stats(): LinkPairStats;
  close(): void;
}

const noReceiver: LinkReceiver = { packet() {} };

/** A bounded FIFO of packet copies (a ring of slots), each with its offload mark. */
class PacketQueue {
  readonly #slots: (Uint8Array | undefined)[];
  /** Per slot: -1 plain packet; else an offloaded one with this gsoSize (0: checksum only). */
  readonly #gso: Int32Array;
  #head = 0;
  #size = 0;
  /** The offload mark of the packet `shift` returned last. */
  lastGso = -1;

  constructor(limit: number) {
    this.#slots = new Array<Uint8Array | undefined>(limit).fill(undefined);
    this.#gso = new Int32Array(limit);
  }

  get size(): number {
    return this.#size;
  }

  push(packet: Uint8Array, gso = -1): boolean {
    const slots = this.#slots;
    if (this.#size === slots.length) return false;
    const i = (this.#head + this.#size) % slots.length;
    slots[i] = packet;
    this.#gso[i] = gso;
    this.#size++;
    return true;
  }

  shift(): Uint8Array | undefined {
    if (this.#size === 0) return undefined;
    const packet = this.#slots[this.#head];
    this.lastGso = this.#gso[this.#head]!;
    this.#slots[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#slots.length;
    this.#size--;
    return packet;
  }

  clear(): void {
    while (this.shift() !== undefined);
  }
}

/** The state of one end, shared by the end and the wire (not exported by the package). */
export class EndState {
  receiver: LinkReceiver = noReceiver;
  hasReceiver = false;
  closed = false;
  readonly counters: LinkStats = newLinkStats();
}

const FULL_OFFLOAD: LinkOffload = Object.freeze({ tso4: true, tso6: true, csum: true });
const MAX_OFFLOAD_PACKET = 65535;

export class MemoryLink implements Link {
  readonly mtu: number;
  readonly offload: LinkOffload | undefined;
  readonly #wire: Wire;
  readonly #direction: LinkDirection;
  readonly #self: EndState;
  readonly #peer: EndState;
  /** sendOffloadGather's packet joined (allocated on first use). */
  #joined: Uint8Array | undefined;

  /** Made by createLinkPair(). */
  constructor(wire: Wire, direction: LinkDirection, mtu: number, self: EndState, peer: EndState, offload = false) {
    this.offload = offload ? FULL_OFFLOAD : undefined;
    this.#wire = wire;
    this.#direction = direction;
    this.mtu = mtu;
    this.#self = self;
    this.#peer = peer;
  }

  get closed(): boolean {
    return this.#self.closed;
  }

  send(packet: Uint8Array): boolean {
    const c = this.#self.counters;
    const len = packet.length;
    if (this.#self.closed || this.#peer.closed || len === 0 || len > this.mtu) {
      c.TxDropped++;
      return false;
    }
    if (!this.#wire.enqueue(this.#direction, packet)) {
      c.TxDropped++;
      return false;
    }
    c.TxPackets++;
    c.TxBytes += len;
    return true;
  }

  /** Link.sendOffload (only with `offload: true`): the packet crosses as it is, marked. */
  sendOffload(packet: Uint8Array, gsoSize: number, csumStart: number, _csumOffset: number): boolean {
    const c = this.#self.counters;
    const len = packet.length;
    const hdrLen = len >= csumStart + 20 ? csumStart + (packet[csumStart + 12]! >>> 4) * 4 : len + 1;
    const gso = gsoSize > 0 && len - hdrLen > gsoSize;
    if (this.offload === undefined || this.#self.closed || this.#peer.closed || hdrLen > len ||
      len > MAX_OFFLOAD_PACKET || (!gso && len > this.mtu)) {
      c.TxDropped++;
      return false;
    }
    if (!this.#wire.enqueue(this.#direction, packet, gso ? gsoSize : 0)) {
      c.TxDropped++;
      return false;
    }
    c.TxPackets++;
    c.TxBytes += len;
    c.TxCsumOffload!++;
    if (gso) c.TxGsoPackets!++;
    return true;
  }

  /**
   * Link.sendOffloadGather (only with `offload: true`): the pieces joined in order, then as
   * sendOffload (the wire copies what it carries anyway), so a stack over a memory link
   * sends from its send buffers in place as over a TUN device.
   */
  sendOffloadGather(head: Uint8Array, data: Uint8Array, data2: Uint8Array | undefined, gsoSize: number, csumStart: number, csumOffset: number): boolean {
    const len = head.length + data.length + (data2 === undefined ? 0 : data2.length);
    if (len > MAX_OFFLOAD_PACKET) {
      this.#self.counters.TxDropped++;
      return false;
    }
    const j = (this.#joined ??= new Uint8Array(MAX_OFFLOAD_PACKET));
    j.set(head, 0);
    j.set(data, head.length);
    if (data2 !== undefined) j.set(data2, head.length + data.length);
    return this.sendOffload(j.subarray(0, len), gsoSize, csumStart, csumOffset);
  }

  setReceiver(receiver: LinkReceiver): void {
    this.#self.receiver = receiver;
    this.#self.hasReceiver = true;
  }

  /**
   * Link.pollNow: delivers, now, the packets queued towards this end (those the next
   * automatic delivery would hand over), then batchEnd. With `autoDeliver: false` the
   * caller owns delivery (pump()), so nothing moves and this returns 0.
   */
  pollNow(): number {
    return this.#wire.deliverNow(this.#direction === 'a->b' ? 'b->a' : 'a->b');
  }

  stats(): LinkStats {
    return { ...this.#self.counters };
  }

  close(): void {
    if (this.#self.closed) return;
    this.#self.closed = true;
    this.#self.receiver = noReceiver;
    this.#wire.endClosed();
  }
}

/** The two queues between the ends and the delivery schedule (not exported by the package). */
export class Wire {
  readonly a: MemoryLink;
  readonly b: MemoryLink;
  readonly #endA = new EndState();
  readonly #endB = new EndState();
  readonly #toB: PacketQueue;
  readonly #toA: PacketQueue;
  readonly #filter: LinkFilter | undefined;
  readonly #auto: boolean;
  #immediate: NodeJS.Immediate | undefined;
  readonly #meta = newPacketMeta();
  filtered = 0;

  constructor(mtu: number, queueLimit: number, auto: boolean, filter: LinkFilter | undefined, offload = false) {
    this.#toB = new PacketQueue(queueLimit);
    this.#toA = new PacketQueue(queueLimit);
    this.#auto = auto;
    this.#filter = filter;
    this.a = new MemoryLink(this, 'a->b', mtu, this.#endA, this.#endB, offload);
    this.b = new MemoryLink(this, 'b->a', mtu, this.#endB, this.#endA, offload);
  }

  /** `gso`: -1 for a plain packet, else the offload mark (see PacketQueue). */
  enqueue(direction: LinkDirection, packet: Uint8Array, gso = -1): boolean {
    const queue = direction === 'a->b' ? this.#toB : this.#toA;
    const copy = packet.slice();
    if (this.#filter && this.#filter(copy, direction) === 'drop') {
      this.filtered++;
      return true;
    }
    if (!queue.push(copy, gso)) return false;
    if (this.#auto && this.#immediate === undefined) {
      this.#immediate = setImmediate(() => {
        this.#immediate = undefined;
        this.pump();
      });
    }
    return true;
  }

  pending(): number {
    return this.#toA.size + this.#toB.size;
  }

  /** Delivers what is queued in `direction` now, when delivery is automatic (MemoryLink.pollNow). */
  deliverNow(direction: LinkDirection): number {
    if (!this.#auto) return 0;
    return direction === 'a->b' ? this.#deliver(this.#toB, this.#toB.size, this.#endB) : this.#deliver(this.#toA, this.#toA.size, this.#endA);
  }

  pump(): number {
    // Snapshot both counts first: packets sent by a receiver wait for the next round.
    const toB = this.#toB.size;
    const toA = this.#toA.size;
    return this.#deliver(this.#toB, toB, this.#endB) + this.#deliver(this.#toA, toA, this.#endA);
  }

  #deliver(queue: PacketQueue, count: number, to: EndState): number {
    let delivered = 0;
    for (let i = 0; i < count; i++) {
      const packet = queue.shift();
      if (packet === undefined) break;
      const c = to.counters;
      if (to.closed || !to.hasReceiver) {
        c.RxDropped++;
        continue;
      }
      c.RxPackets++;
      c.RxBytes += packet.length;
      delivered++;
      const gso = queue.lastGso;
      if (gso < 0) {
        to.receiver.packet(packet);
        continue;
      }
      const meta = this.#meta;
      meta.csumPartial = true;
      meta.dataValid = false;
      meta.gsoType = gso === 0 ? VIRTIO_NET_HDR_GSO_NONE : packet[0]! >>> 4 === 6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4;
      meta.gsoSize = gso;
      c.RxCsumPartial!++;
      if (gso > 0) c.RxGsoPackets!++;
      to.receiver.packet(packet, meta);
    }
    if (delivered > 0 && !to.closed) to.receiver.batchEnd?.();
    return delivered;
  }

  endClosed(): void {
    // Packets towards a closed end are dropped and counted. Packets a closed end sent
    // before closing are on the wire: they still reach an open peer (a stack's closing RSTs
    // do), by the scheduled delivery or the next pump().
    for (const [queue, to] of [
      [this.#toB, this.#endB],
      [this.#toA, this.#endA],
    ] as const) {
      if (!to.closed) continue;
      to.counters.RxDropped += queue.size;
      queue.clear();
    }
    if (this.pending() === 0 && this.#immediate !== undefined) {
      clearImmediate(this.#immediate);
      this.#immediate = undefined;
    }
  }
}

export function createLinkPair(options: LinkPairOptions = {}): LinkPair {
  const mtu = options.mtu ?? 1500;
  const queueLimit = options.queueLimit ?? 1024;
  const autoDeliver = options.autoDeliver ?? true;
  const offload = options.offload ?? false;
  if (typeof offload !== 'boolean') throw argError('ERR_INVALID_ARG_TYPE', 'The "offload" option must be a boolean');
  if (!Number.isInteger(mtu) || mtu < 1 || mtu > MAX_MTU) {
    throw argError('ERR_OUT_OF_RANGE', `The "mtu" option must be an integer in 1..${MAX_MTU}, got ${mtu}`);
  }
  if (!Number.isInteger(queueLimit) || queueLimit < 1 || queueLimit > 1 << 20) {
    throw argError('ERR_OUT_OF_RANGE', `The "queueLimit" option must be an integer in 1..${1 << 20}, got ${queueLimit}`);
  }
  if (typeof autoDeliver !== 'boolean') {
    throw argError('ERR_INVALID_ARG_TYPE', 'The "autoDeliver" option must be a boolean');
  }
  if (options.filter !== undefined && typeof options.filter !== 'function') {
    throw argError('ERR_INVALID_ARG_TYPE', 'The "filter" option must be a function');
  }
  const wire = new Wire(mtu, queueLimit, autoDeliver, options.filter, offload);
  return {
    a: wire.a,
    b: wire.b,
    pump: () => wire.pump(),
    pending: () => wire.pending(),
    stats: () => ({ Filtered: wire.filtered }),
    close: () => {
      wire.a.close();
      wire.b.close();
    },
  };
}
