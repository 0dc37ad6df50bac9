/**
 * An indexed binary min-heap of deadlines: the layer's timer queue. Each entry
 * remembers its position so a changed deadline is re-sifted in O(log n);
 * `pollAt()` is O(1) whatever the number of connections.
 */
export interface HeapEntry {
  /** Position in the heap, -1 when not queued. Owned by the heap. */
  heapIndex: number;
  /** Deadline in ms. Owned by the heap (set through `schedule`). */
  heapDeadline: number;
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

  private up(i: number): void {
    const a = this.items;
    const x = a[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const y = a[p]!;
      if (y.heapDeadline <= x.heapDeadline) break;
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
      const c = r < n && a[r]!.heapDeadline < a[l]!.heapDeadline ? r : l;
      const y = a[c]!;
      if (y.heapDeadline >= x.heapDeadline) break;
      a[i] = y; y.heapIndex = i;
      i = c;
    }
    a[i] = x; x.heapIndex = i;
  }
}
