/** What a timer user needs of a clock: the time in ms, and one-shot timers. */
export interface Scheduler {
  now(): number;
  /** Calls `fn` after `ms`; returns a handle for `cancel`. */
  setTimer(fn: () => void, ms: number): unknown;
  cancel(handle: unknown): void;
}

/**
 * Real time: performance.now() and unref'd setTimeout (as node's own socket timers are).
 * The stack's default clock, the impairment shaper's default scheduler and the sockets'
 * idle timers.
 */
/**
 * The process's performance clock, read once at load: in Node, `performance` is a lazy
 * accessor on globalThis, so every read of the global calls a getter (a generic global
 * load from optimized code, then the getter: ~360 instructions), and the stack reads the
 * time a few times per small round trip. Node's own timers do not read the global either.
 */
const perf = globalThis.performance;

export const realTimeScheduler: Scheduler = {
  now: () => perf.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  cancel: (h) => clearTimeout(h as NodeJS.Timeout),
};
