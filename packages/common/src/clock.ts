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
export const realTimeScheduler: Scheduler = {
  now: () => performance.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  cancel: (h) => clearTimeout(h as NodeJS.Timeout),
};
