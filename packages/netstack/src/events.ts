/**
 * Where user code runs: the one queue between the stack's cores and its Node-shaped
 * facades (STYLE §7; gVisor's endpoints change state, release, then notify waiters).
 *
 * The cores (TCP connections and listeners, UDP sockets) never call user code. When
 * something a user may want to hear about happens (bytes became readable, a connection
 * was accepted, a datagram arrived), the facade object concerned is *posted* here: it is
 * queued once (a flag on the object, so a socket that hears 500 segments in a batch is
 * queued once, and the queue never holds more entries than there are sockets) and its
 * `notify()` runs later, where it emits Node's events.
 *
 * "Later" is when the stack is whole: the stack `hold()`s the queue for a whole receive
 * batch (every packet the device read in one go, and the batch's end, where coalesced
 * ACKs leave and the timer is re-armed) and for a whole timer expiry, and `release()`
 * runs what was posted meanwhile. Outside those brackets (a user's own call, such as
 * `socket.write()`, that made the core raise an event) the post runs at once, after the
 * core call has returned and left its tables consistent.
 *
 * An exception thrown by a user's handler is Node's: an uncaught exception of the
 * process. It is re-thrown on the next tick, so it surfaces after the batch is finished
 * and the device loop is re-armed: a process with an `uncaughtException` handler keeps
 * a working stack, and one without exits with the user's error, not a stack error. The
 * other notifications of the batch still run (nothing the stack accepted is lost).
 */

/** A facade object that can be posted: `notifyQueued` is the queue's flag, owned by it. */
export interface Notifiable {
  notifyQueued: boolean;
  notify(): void;
}

/** What a facade needs of the queue. */
export interface Notifier {
  post(target: Notifiable): void;
}

/** Throws `e`: given to process.nextTick, a user's exception surfaces as an uncaught one. */
export function rethrow(e: unknown): never {
  throw e;
}

/** Runs `fn`; an exception from user code inside it becomes an uncaught exception on the next tick. */
export function runUserCode(fn: () => void): void {
  try {
    fn();
  } catch (e) {
    process.nextTick(rethrow, e);
  }
}

/** The queue's array is kept between drains up to this many slots (EventQueue.#queue). */
const QUEUE_KEEP = 1024;

export class EventQueue implements Notifier {
  #held = 0;
  #draining = false;
  /**
   * Posted targets at [#head, #tail): a FIFO without shift(). The array keeps its length
   * between drains (consumed slots are cleared to undefined): setting an array's length
   * is a call into the runtime (V8's length setter), once per drain, i.e. per receive
   * batch. It is emptied when longer than QUEUE_KEEP (a burst of many sockets).
   */
  #queue: (Notifiable | undefined)[] = [];
  #head = 0;
  #tail = 0;

  /** Defers every post until the matching `release()`. Brackets nest. */
  hold(): void {
    this.#held++;
  }

  /** Ends a `hold()`; the outermost one runs what was posted. */
  release(): void {
    if (this.#held > 0 && --this.#held === 0) this.drain();
  }

  /** Ends every hold at once (a stack closed in the middle of a batch) and runs what is queued. */
  releaseAll(): void {
    this.#held = 0;
    this.drain();
  }

  get held(): boolean {
    return this.#held > 0;
  }

  /** Targets waiting to be notified. */
  get length(): number {
    return this.#tail - this.#head;
  }

  post(target: Notifiable): void {
    if (target.notifyQueued) return;
    target.notifyQueued = true;
    const q = this.#queue;
    if (this.#tail < q.length) q[this.#tail] = target;
    else q.push(target);
    this.#tail++;
    if (this.#held === 0) this.drain();
  }

  /**
   * Runs every posted target, in the order posted, including those posted while running
   * (user code calling into the stack). Re-entrant calls (a hold/release inside a
   * notification) return at once: the outer loop picks their posts up.
   */
  drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    const q = this.#queue;
    try {
      while (this.#head < this.#tail) {
        if (this.#held > 0) return; // a batch began inside a notification: its release drains
        const t = q[this.#head]!;
        q[this.#head++] = undefined;
        t.notifyQueued = false;
        if (this.#head >= 4096 && this.#head * 2 >= this.#tail) {
          // Posts keep coming while we run: give the consumed front back (the slots it
          // leaves at the end were consumed: undefined).
          q.splice(0, this.#head);
          this.#tail -= this.#head;
          this.#head = 0;
        }
        try {
          t.notify();
        } catch (e) {
          process.nextTick(rethrow, e);
        }
      }
      if (q.length > QUEUE_KEEP) q.length = 0;
      this.#head = 0;
      this.#tail = 0;
    } finally {
      this.#draining = false;
    }
  }
}

/** A notifier with no stack behind it (a core used on its own): runs each post at once. */
export const IMMEDIATE_NOTIFIER: Notifier = {
  post(target: Notifiable): void {
    target.notifyQueued = false;
    runUserCode(() => target.notify());
  },
};
