/**
 * Reused subarray views, so the packet path allocates no view object per packet.
 *
 * A datagram's header and payload are handed on as views (`subarray`) over a buffer
 * the IP layer or the device reuses. Traffic repeats a few lengths over and over (the
 * MSS-sized data segments of a transfer, its ACKs), so a small direct-mapped cache of
 * views, keyed by length, finds the view it needs already made: cut from the same
 * array (the same object: a device's read buffer, an output buffer, a cached packet
 * view), at the same start, of the same length. A miss (another length, another buffer) makes a view and keeps
 * it in place of the old one. Bounded: SLOTS views at most.
 *
 * The views are as short-lived as before: valid while the bytes under them are (the
 * call that received them). A consumer that keeps one sees it reused, exactly as it
 * already sees the buffer under it overwritten.
 */
const SLOTS = 64;

export class ViewCache {
  private readonly views: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(SLOTS).fill(undefined);
  /** What each view was cut from, and where: the key (no `.buffer`/`.byteOffset` reads on the hot path). */
  private readonly sources: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(SLOTS).fill(undefined);
  private readonly starts: Int32Array = new Int32Array(SLOTS);

  /** `buf.subarray(start, end)`, 0 <= start <= end <= buf.length (the caller checked). */
  view(buf: Uint8Array, start: number, end: number): Uint8Array {
    const len = end - start;
    const i = len & (SLOTS - 1);
    const v = this.views[i];
    if (v !== undefined && this.sources[i] === buf && this.starts[i] === start && v.length === len) return v;
    const made = buf.subarray(start, end);
    this.views[i] = made;
    this.sources[i] = buf;
    this.starts[i] = start;
    return made;
  }
}
