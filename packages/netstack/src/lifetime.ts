/**
 * Node's lifetime rules for a stack: what keeps the process alive, and what a closing
 * stack ends.
 *
 * Handles. libuv keeps a process alive while an *active, ref'd handle* exists: a listening
 * server, a connecting or open TCP socket, a bound UDP socket, a pending request. The
 * stack counts the same things (`hold(+1)` / `hold(-1)`, from each Server, Socket,
 * UdpSocket and pending ping): while the count is above zero, the stack is `stack.ref()`'d
 * (the default) and not closed, ONE keep-alive is ref'd: the TUN device's poll handle, or,
 * on any other link, a never-firing interval. Otherwise nothing of the stack holds the
 * loop: its one protocol timer is always unref'd (it runs while something else keeps the
 * process alive, and a retransmission timer alone never does, as in the kernel), the device's
 * poll handle is unref'd, and a process whose sockets are all closed or unref'd exits as
 * Node's would. A stack on a virtual clock (simulation) never holds the process: time moves
 * only when its caller advances it.
 *
 * Members. Open sockets and listening servers register here, so that `stack.close()` can
 * end them the way the kernel ends a dead process's sockets (see Stack.close).
 */

/** Counts ref'd handles (libuv's active handles). */
export interface HandleCounter {
  hold(delta: 1 | -1): void;
}

/** Something `stack.close()` must end: an open socket or a listening server. */
export interface StackMember {
  /** Ends the object because its stack closes (a socket: ECONNABORTED; a server: close()). */
  stackClosed(now: number): void;
}

/** What sockets and servers see of their stack's lifetime. */
export interface NetLife extends HandleCounter {
  /** The stack was closed: new connects and listens fail with ERR_STACK_CLOSED. */
  readonly closed: boolean;
  join(m: StackMember): void;
  leave(m: StackMember): void;
}

/** A life that holds nothing and never closes (a TCP API with no stack behind it, e.g. in tests). */
export function detachedLife(): NetLife {
  return { closed: false, hold() {}, join() {}, leave() {} };
}

export class Lifetime implements NetLife {
  #count = 0;
  #refed = true;
  #closed = false;
  #holding = false;
  readonly #members = new Set<StackMember>();
  /** Called when the keep-alive must start (true) or stop (false). */
  readonly #setHeld: (held: boolean) => void;

  constructor(setHeld: (held: boolean) => void) {
    this.#setHeld = setHeld;
  }

  get closed(): boolean { return this.#closed; }
  /** Ref'd handles now. */
  get handles(): number { return this.#count; }
  /** Whether the keep-alive is ref'd now. */
  get holding(): boolean { return this.#holding; }

  hold(delta: 1 | -1): void {
    this.#count += delta;
    if (this.#count < 0) throw new Error(`netstack: handle count below zero (${this.#count})`);
    this.#update();
  }

  /** Whether the stack is ref'd (stack.ref(), the default) or unref'd (stack.unref()). */
  get refed(): boolean { return this.#refed; }

  /** stack.ref() / stack.unref(): whether the stack's handles may keep the process alive at all. */
  setRefed(refed: boolean): void {
    this.#refed = refed;
    this.#update();
  }

  join(m: StackMember): void { if (!this.#closed) this.#members.add(m); }
  leave(m: StackMember): void { this.#members.delete(m); }

  /** Marks the life closed and returns the members to end (each leaves as it ends). */
  close(): StackMember[] {
    this.#closed = true;
    const all = [...this.#members];
    this.#members.clear();
    this.#update();
    return all;
  }

  #update(): void {
    const want = this.#refed && !this.#closed && this.#count > 0;
    if (want === this.#holding) return;
    this.#holding = want;
    this.#setHeld(want);
  }
}

/**
 * One Server's or Socket's place in its stack's life: joined (so stack.close() ends it)
 * while active, and holding one ref'd handle while active and ref'd. `sync` is called
 * whenever either may have changed; it only acts on a change.
 */
export class HandleSlot {
  refed = true;
  #held = false;
  #joined = false;
  constructor(readonly member: StackMember) {}

  sync(life: NetLife, active: boolean): void {
    if (active !== this.#joined) {
      this.#joined = active;
      if (active) life.join(this.member);
      else life.leave(this.member);
    }
    const held = active && this.refed;
    if (held !== this.#held) {
      this.#held = held;
      life.hold(held ? 1 : -1);
    }
  }
}
