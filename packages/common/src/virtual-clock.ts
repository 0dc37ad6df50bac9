/**
 * A virtual clock: time moves only when told to, timers fire in (due time, creation order).
 * The simulations', the fuzzer's and the facade tests' time (a `Scheduler`, so a stack,
 * the impairment shaper and sockets' idle timers all run on it).
 */
import { DeadlineHeap, type HeapEntry } from './heap.js';
import type { Scheduler } from './clock.js';

/** A timer: due at `heapDeadline`, in creation order (`heapSeq`) between equal ones. */
interface Timer extends HeapEntry {
  readonly heapSeq: number;
  readonly fn: () => void;
}

export class VirtualClock implements Scheduler {
  #now = 0;
  #seq = 0;
  readonly #heap = new DeadlineHeap<Timer>();
  /** Timers fired so far. */
  fired = 0;

  now(): number {
    return this.#now;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const t: Timer = { heapIndex: -1, heapDeadline: Infinity, heapSeq: this.#seq++, fn };
    this.#heap.schedule(t, this.#now + Math.max(0, Number.isFinite(ms) ? ms : 0));
    return t;
  }

  cancel(handle: unknown): void {
    const t = handle as Timer | undefined;
    if (t !== undefined) this.#heap.remove(t);
  }

  /** Armed (not cancelled, not fired) timers. */
  get pending(): number {
    return this.#heap.size;
  }

  /** Due time of the earliest armed timer, Infinity when none. */
  nextAt(): number {
    return this.#heap.peekDeadline();
  }

  /** Moves time forward (never back) without firing anything. */
  advanceTo(t: number): void {
    if (t > this.#now) this.#now = t;
  }

  /** Advances to the earliest timer and fires every timer due then (in order). Returns how many. */
  fireDue(): number {
    const at = this.nextAt();
    if (at === Infinity) return 0;
    this.advanceTo(at);
    let n = 0;
    while (this.#heap.peekDeadline() <= this.#now) {
      const top = this.#heap.pop()!;
      this.fired++;
      n++;
      top.fn();
    }
    return n;
  }

  /**
   * Moves time to now + ms, firing every timer due on the way, in order; `onError` gets what a
   * timer throws, and a stall: more than 100 000 timers due within one step (a timer that
   * re-arms itself for no time), which is then left armed and time jumps on.
   */
  advance(ms: number, onError: (e: unknown) => void): void {
    const target = this.#now + ms;
    for (let fired = 0; ; fired++) {
      const at = this.nextAt();
      if (at > target) break;
      if (fired === 100_000) {
        onError(new Error(`stall: 100000 timers fired between virtual ${target - ms} and ${target} ms (the last at ${at} ms)`));
        break;
      }
      if (at > this.#now) this.#now = at;
      const t = this.#heap.pop()!;
      this.fired++;
      try {
        t.fn();
      } catch (e) {
        onError(e);
      }
    }
    if (target > this.#now) this.#now = target;
  }
}
