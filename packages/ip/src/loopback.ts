/**
 * The queue of datagrams a layer sends to its own addresses (Linux's lo and its
 * netdev_max_backlog): copies, delivered by the layer's `deliverLoopback` when the host
 * asks. Bounded in packets and in bytes; a full queue refuses (the sender sees ENOBUFS).
 * One per IP layer; both families use this.
 */
export const LOOPBACK_MAX_PACKETS = 1000;
export const LOOPBACK_MAX_BYTES = 16 * 1024 * 1024;

export class LoopbackQueue {
  private queue: Uint8Array[] = [];
  private bytes = 0;

  get length(): number {
    return this.queue.length;
  }

  /** Queues a copy of `datagram`; false (nothing queued) when either bound would be passed. */
  push(datagram: Uint8Array): boolean {
    if (this.queue.length >= LOOPBACK_MAX_PACKETS || this.bytes + datagram.length > LOOPBACK_MAX_BYTES) return false;
    this.queue.push(datagram.slice());
    this.bytes += datagram.length;
    return true;
  }

  /** Everything queued, oldest first; the queue starts empty again. */
  take(): Uint8Array[] {
    const q = this.queue;
    this.queue = [];
    this.bytes = 0;
    return q;
  }
}
