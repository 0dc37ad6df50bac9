/**
 * An indexed binary min-heap of deadlines: TCP's timer queue, the impairment shaper's
 * held packets, the simulations' virtual timers. Each entry remembers its position so a
 * changed deadline is re-sifted and a cancelled entry removed in O(log n); `peekDeadline()`
 * is O(1) whatever the number of entries.
 *
 * Order: earlier `heapDeadline` first; between equal deadlines, lower `heapSeq` first
 * (give it a creation counter for first-in first-out ties, as timers and a delay line
 * need). Entries without `heapSeq` compare equal at equal deadlines, and their order is
 * then whatever the heap's shape gives (TCP's connections need no more).
 */
export interface HeapEntry {
  /** Position in the heap, -1 when not queued. Owned by the heap. */
  heapIndex: number;
  /** Deadline in ms. Owned by the heap (set through `schedule`). */
  heapDeadline: number;
  /** Tie-break between equal deadlines, lower first. Owned by the caller; absent (on every entry of the heap): no tie-break. */
  readonly heapSeq?: number;
}

// Entries of one heap either all carry heapSeq or none do; without it both sides are
// undefined and `undefined < undefined` is false: no tie-break, and no extra work.
function before(a: HeapEntry, b: HeapEntry): boolean {
  return a.heapDeadline < b.heapDeadline || (a.heapDeadline === b.heapDeadline && (a.heapSeq as number) < (b.heapSeq as number));
}

export class DeadlineHeap<T extends HeapEntry> {
  private readonly items: T[] = [];

  get size(): number { return this.items.length; }

  /** Earliest deadline, Infinity when empty. */
  peekDeadline(): number {
    const top = this.items[0];
    return top === undefined ? Infinity : top.heapDeadline;
  }

  peek(): T | undefined { return this.items[0]; }

  /** Removes and returns the first entry (undefined when empty). */
  pop(): T | undefined {
    const top = this.items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  /** Sets `item`'s deadline: inserts, moves or (for Infinity) removes it. */
  schedule(item: T, deadline: number): void {
    if (deadline === Infinity) { this.remove(item); return; }
    if (item.heapIndex < 0) {
      item.heapDeadline = deadline;
      item.heapIndex = this.items.length;
      this.items.push(item);
      this.up(item.heapIndex);
      return;
    }
    const old = item.heapDeadline;
    item.heapDeadline = deadline;
    if (deadline < old) this.up(item.heapIndex); else if (deadline > old) this.down(item.heapIndex);
  }

  remove(item: T): void {
    const i = item.heapIndex;
    if (i < 0) return;
    const last = this.items.pop()!;
    item.heapIndex = -1;
    item.heapDeadline = Infinity;
    if (last === item) return;
    this.items[i] = last;
    last.heapIndex = i;
    this.up(i);
    this.down(last.heapIndex);
  }

  /** Drops every entry (each is marked not queued). */
  clear(): void {
    for (const item of this.items) { item.heapIndex = -1; item.heapDeadline = Infinity; }
    this.items.length = 0;
  }

  private up(i: number): void {
    const a = this.items;
    const x = a[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const y = a[p]!;
      if (!before(x, y)) break;
      a[i] = y; y.heapIndex = i;
      i = p;
    }
    a[i] = x; x.heapIndex = i;
  }

  private down(i: number): void {
    const a = this.items;
    const n = a.length;
    const x = a[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(a[r]!, a[l]!) ? r : l;
      const y = a[c]!;
      if (!before(y, x)) break;
      a[i] = y; y.heapIndex = i;
      i = c;
    }
    a[i] = x; x.heapIndex = i;
  }
}
