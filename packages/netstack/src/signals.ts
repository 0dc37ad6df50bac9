/**
 * The CLI's signal policy. The library installs no signal handler (a `TunDevice` closes when
 * asked; with no handler, SIGINT/SIGTERM end the process and the kernel removes the device):
 * only the CLI, which wants an orderly close (services drained, counters printed, capture
 * flushed, exit status 0), listens for the stop signals.
 */

/** The signals that stop a CLI command. */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/**
 * Watches for the first SIGINT/SIGTERM: `signal` resolves with it, and the handlers are
 * removed then, so a second Ctrl-C finds no listener and ends the process (Node's default
 * action) should the orderly close hang. `cancel()` removes the handlers without a signal
 * (a failed set-up must give the user's Ctrl-C back).
 */
export function untilSignal(): { signal: Promise<NodeJS.Signals>; cancel(): void } {
  let on!: (sig: NodeJS.Signals) => void;
  const cancel = (): void => {
    for (const s of STOP_SIGNALS) process.off(s, on);
  };
  const signal = new Promise<NodeJS.Signals>((res) => {
    on = (sig) => { cancel(); res(sig); };
    for (const s of STOP_SIGNALS) process.on(s, on);
  });
  return { signal, cancel };
}
