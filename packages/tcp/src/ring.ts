/**
 * Bounded byte ring buffer (send and receive buffers) and the reassembly
 * bookkeeping for out-of-order data (after smoltcp's `storage::RingBuffer` and
 * `storage::Assembler`).
 *
 * Storage starts empty and grows on first use, doubling, up to `capacity` (the
 * hard bound): a connection that never carries data holds no storage, and one
 * that carried a few bytes holds a few bytes, not its full buffer. Storage is
 * never shrunk while in use (a bulk transfer would reallocate on every drain);
 * `release()` gives it back where no data can arrive any more.
 */
import { copyInto, viewOf } from './bytes.js';

const EMPTY = new Uint8Array(0);

/**
 * The storage every ring of one TCP layer holds, against one limit (Linux's tcp_mem,
 * counted in bytes of ring storage). Under the limit rings grow as they need; at it
 * they stop growing, so `free` shrinks: writes take fewer bytes (back-pressure) and
 * the receive window closes towards what is stored. Each ring may always grow to
 * `guaranteed` bytes (Linux's tcp_rmem[0]/tcp_wmem[0] minimum, granted under
 * pressure too), so every connection keeps moving: the total stays below
 * `limit + rings * guaranteed`.
 */
export class MemoryAccount {
  /** Bytes of ring storage allocated now. */
  used = 0;
  /** Times the storage reached the limit, plus writes cut short by it (not by the ring's own capacity). */
  pressureEvents = 0;
  /**
   * Receive-buffer capacity granted by autotuning above the connections' initial sizes, all
   * connections together (a promise of window, not storage: storage still counts in `used`).
   */
  grown = 0;
  /**
   * `growLimit`: the most `grown` may reach (the layer's `receiveBufferBudget`), so that many
   * connections cannot all be promised their largest window.
   */
  /** The same for send buffers (Linux's tcp_sndbuf_expand), against `sndGrowLimit` (the layer's `sendBufferBudget`). */
  sndGrown = 0;
  constructor(readonly limit: number, readonly guaranteed = 4096, readonly growLimit = Infinity, readonly sndGrowLimit = Infinity) {}
  /** Bytes rings may still grow by before the limit. */
  get headroom(): number { return Math.max(0, this.limit - this.used); }
}

export class RingBuffer {
  /** The bound on stored bytes; only `grow` changes it (receive-buffer autotuning), never down. */
  capacity: number;
  private buf: Uint8Array;
  private head = 0;
  private len = 0;
  private readonly account: MemoryAccount | undefined;
  /** The owner is gone (CLOSED): give the storage back as soon as nothing is stored. */
  private disposed = false;

  /**
   * `minAlloc`: the smallest storage ever allocated (the first allocation is the
   * power-of-two multiple of it that holds the first write; each growth doubles).
   * 64 bytes hold a short request or echo; a bulk transfer reaches its working size
   * in a few doublings (its first write is already kilobytes).
   */
  private readonly minAlloc: number;

  constructor(capacity: number, minAlloc = 64, account?: MemoryAccount) {
    this.capacity = capacity;
    this.minAlloc = Math.max(1, minAlloc);
    this.buf = EMPTY;
    this.account = account;
  }

  /** The most storage this ring may hold now: its capacity, or less under memory pressure. */
  private limitNow(): number {
    const a = this.account;
    if (a === undefined) return this.capacity;
    return Math.min(this.capacity, Math.max(a.guaranteed, this.buf.length + a.headroom));
  }

  /**
   * Raises the capacity to `capacity` (never lowers it). Storage is not allocated here: it
   * still grows lazily as bytes arrive, against the account.
   */
  grow(capacity: number): void {
    if (capacity > this.capacity) this.capacity = capacity;
  }

  /** Bytes stored (readable). */
  get length(): number { return this.len; }
  /** Bytes of storage held now (grows lazily up to `capacity`). */
  get allocated(): number { return this.buf.length; }

  /**
   * Gives the storage back when nothing is stored (a connection in TIME-WAIT
   * will never send or receive data again; 15k of them held ~85 MB). A later
   * write allocates again. Out-of-order bytes past the end (writeAt) are dropped
   * too: call it only where no more data can arrive.
   */
  release(): void {
    if (this.len === 0) {
      if (this.account !== undefined) this.account.used -= this.buf.length;
      this.buf = EMPTY;
      this.head = 0;
    }
  }

  /**
   * The owner is gone: the storage goes back to the account now if nothing is stored,
   * else once the stored bytes have been read (a closed connection's last bytes).
   */
  dispose(): void {
    this.disposed = true;
    this.release();
  }

  /** Drops every stored byte and the storage (a send buffer whose connection is CLOSED). */
  clear(): void {
    this.len = 0;
    this.release();
  }

  /** Bytes that can still be stored (fewer than `capacity - length` under memory pressure). */
  get free(): number {
    if (this.account === undefined) return this.capacity - this.len;
    return Math.max(0, this.limitNow() - this.len);
  }

  private reserve(total: number): void {
    if (total <= this.buf.length) return;
    let size = this.buf.length || this.minAlloc;
    while (size < total) size *= 2;
    size = Math.min(size, this.capacity);
    const a = this.account;
    if (a !== undefined) {
      // Callers never ask past `free`, so the grant always covers `total`.
      const grant = this.limitNow();
      if (size > grant) size = Math.max(total, grant);
      const wasUnder = a.used < a.limit;
      a.used += size - this.buf.length;
      if (wasUnder && a.used >= a.limit) a.pressureEvents++;
    }
    const next = new Uint8Array(size);
    // Unwrap the readable bytes to the start of the new storage. Bytes written
    // beyond `len` by writeAt (reassembly) are kept too: copy the whole old ring.
    const old = this.buf;
    const first = old.length - this.head;
    copyInto(next, viewOf(old, this.head), 0);
    copyInto(next, viewOf(old, 0, this.head), first);
    this.buf = next;
    this.head = 0;
  }

  /** Appends as much of `src` as fits; returns the number of bytes taken. */
  write(src: Uint8Array): number {
    const n = Math.min(src.length, this.free);
    if (n < src.length && this.account !== undefined && this.len + n < this.capacity) this.account.pressureEvents++;
    if (n === 0) return 0;
    this.writeAt(0, n === src.length ? src : viewOf(src, 0, n)); // no view unless it must cut
    this.len += n;
    return n;
  }

  /**
   * Writes `src` at `offset` bytes past the end of the readable data without
   * making it readable (reassembly). The caller guarantees offset+src.length <= free.
   */
  writeAt(offset: number, src: Uint8Array): void {
    const n = src.length;
    if (n === 0) return;
    this.reserve(this.len + offset + n);
    const size = this.buf.length;
    let pos = (this.head + this.len + offset) % size;
    const first = Math.min(n, size - pos);
    copyInto(this.buf, first === n ? src : viewOf(src, 0, first), pos);
    if (first < n) {
      pos = 0;
      copyInto(this.buf, viewOf(src, first), 0);
    }
  }

  /**
   * The free storage right after the readable bytes, up to `max` bytes and up to where it
   * stops being contiguous (the storage's end, or the head), grown first as `write` would
   * grow it for that many bytes: a view to fill in place (a socket's read lands straight in
   * the send buffer), then `commitTail`. Empty when nothing is free.
   */
  tailSpace(max: number): Uint8Array {
    const want = Math.min(max, this.free);
    if (want <= 0) return EMPTY;
    this.reserve(this.len + want);
    const size = this.buf.length;
    const pos = (this.head + this.len) % size;
    const end = pos >= this.head && this.len < size ? size : this.head;
    return viewOf(this.buf, pos, Math.min(pos + want, end));
  }

  /**
   * Makes the first `n` bytes of `space` (from `tailSpace`) readable, if it is still this
   * ring's tail (the storage neither grew nor was released since, nothing written after it,
   * `n` within it and within `free`); false otherwise, nothing changed (copy with `write`).
   */
  commitTail(space: Uint8Array, n: number): boolean {
    if (n <= 0 || n > space.length || n > this.free || space.buffer !== this.buf.buffer || this.buf.length === 0) return false;
    if (space.byteOffset !== this.buf.byteOffset + (this.head + this.len) % this.buf.length) return false;
    this.len += n;
    return true;
  }

  /** Makes `n` bytes previously placed by writeAt(0..) readable. */
  commit(n: number): void {
    this.len += n;
  }

  /** Copies `n` bytes starting `offset` bytes into the readable data to `dst[dstOff...]`. */
  peek(offset: number, n: number, dst: Uint8Array, dstOff: number): void {
    if (n <= 0) return;
    const size = this.buf.length;
    const pos = (this.head + offset) % size;
    const first = Math.min(n, size - pos);
    copyInto(dst, viewOf(this.buf, pos, pos + first), dstOff);
    if (first < n) copyInto(dst, viewOf(this.buf, 0, n - first), dstOff + first);
  }

  /**
   * Points `into.gathered` (and `into.gathered2` when they wrap, else undefined) at `n`
   * readable bytes starting `offset` bytes in, without copying: views of the storage, valid
   * until the ring is next written, grown or released (host.ts `SegmentPayload.viewInto`).
   */
  viewInto(offset: number, n: number, into: { gathered: Uint8Array; gathered2: Uint8Array | undefined }): void {
    const size = this.buf.length;
    const pos = (this.head + offset) % size;
    const first = Math.min(n, size - pos);
    into.gathered = viewOf(this.buf, pos, pos + first);
    into.gathered2 = first < n ? viewOf(this.buf, 0, n - first) : undefined;
  }

  /** Copies up to `into.length` readable bytes out and removes them. */
  read(into: Uint8Array): number {
    const n = Math.min(into.length, this.len);
    if (n === 0) return 0;
    this.peek(0, n, into, 0);
    this.discard(n);
    return n;
  }

  /** Drops `n` bytes from the front. */
  discard(n: number): void {
    n = Math.min(n, this.len);
    if (n <= 0) return; // also keeps head a number while no storage is held (x % 0 is NaN)
    this.len -= n;
    // No reset to 0 on empty: reassembled bytes may sit past the end (writeAt).
    this.head = (this.head + n) % this.buf.length;
    if (this.disposed && this.len === 0) this.release();
  }
}

/**
 * The ranges of out-of-order data held past the in-order edge, as byte offsets
 * relative to RCV.NXT: sorted, disjoint, non-adjacent [start, end) pairs,
 * at most `maxRanges` of them (the bound of the out-of-order queue).
 */
export class Assembler {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  constructor(readonly maxRanges: number) {}

  get isEmpty(): boolean { return this.starts.length === 0; }
  get rangeCount(): number { return this.starts.length; }
  /** Bytes held out of order. */
  get bytes(): number {
    let n = 0;
    for (let i = 0; i < this.starts.length; i++) n += this.ends[i]! - this.starts[i]!;
    return n;
  }

  /** Start offset of range `i` (0 <= i < rangeCount). */
  rangeStart(i: number): number { return this.starts[i]!; }
  /** End offset (exclusive) of range `i`. */
  rangeEnd(i: number): number { return this.ends[i]!; }
  /** Index of the range holding offset `off`, or -1. */
  indexOf(off: number): number {
    for (let i = 0; i < this.starts.length; i++) {
      if (this.starts[i]! <= off && off < this.ends[i]!) return i;
    }
    return -1;
  }
  /** Whether [start, end) is already held entirely. */
  covers(start: number, end: number): boolean {
    const i = this.indexOf(start);
    return i >= 0 && end <= this.ends[i]!;
  }

  /** Records [start, end). Returns false (nothing recorded) when it would need more than maxRanges ranges. */
  add(start: number, end: number): boolean {
    if (end <= start) return true;
    const s = this.starts;
    const e = this.ends;
    // First range that ends at or after `start` (may merge), and last that starts at or before `end`.
    let i = 0;
    while (i < s.length && e[i]! < start) i++;
    let j = i;
    while (j < s.length && s[j]! <= end) j++;
    if (i === j) {
      if (s.length >= this.maxRanges) return false;
      s.splice(i, 0, start);
      e.splice(i, 0, end);
      return true;
    }
    const ns = Math.min(start, s[i]!);
    const ne = Math.max(end, e[j - 1]!);
    s.splice(i, j - i, ns);
    e.splice(i, j - i, ne);
    return true;
  }

  /** Length of data contiguous from offset 0 (0 when there is a hole at the front). */
  frontContiguous(): number {
    return this.starts.length > 0 && this.starts[0] === 0 ? this.ends[0]! : 0;
  }

  /** The in-order edge moved forward by `n` bytes: shift everything, dropping what is now behind it. */
  advance(n: number): void {
    const s = this.starts;
    if (s.length === 0) return; // in-order data with nothing held out of order: the common case
    const e = this.ends;
    let k = 0;
    for (let i = 0; i < s.length; i++) {
      const ns = Math.max(0, s[i]! - n);
      const ne = e[i]! - n;
      if (ne <= 0) continue;
      s[k] = ns;
      e[k] = ne;
      k++;
    }
    if (k < s.length) {
      s.length = k;
      e.length = k;
    }
  }

  clear(): void {
    this.starts.length = 0;
    this.ends.length = 0;
  }
}
