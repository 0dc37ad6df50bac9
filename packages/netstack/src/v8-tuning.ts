/**
 * V8 tuning for netstack's own processes (the `netstack` CLI: serve, nat, relay...).
 *
 * V8 optimises a function with TurboFan once it has run a budget of bytecode (the
 * interrupt budget, 66 KiB by default in Node 20's V8): code that runs per packet at a
 * high rate gets there in milliseconds, but the path of a rare packet does not. A
 * gateway that relays one ping every 50 ms ran the echo path's JavaScript (device read ->
 * IP -> ICMP -> relay -> sendto) in the interpreter or Sparkplug long after its warm-up:
 * measured in `netstack nat` (bench/nat.mjs topology, timestamps around the device read
 * and the sendto, 500 pings 2 ms apart): 24-40 µs from the read to the sendto at the
 * default budget, 8-13 µs at 8192 (2000 gave the same). A long-running network process
 * gains from optimising early; the cost is some compilation at start (a few hundred
 * functions more reach TurboFan sooner).
 *
 * The budget is a process-wide V8 setting: the CLI sets it before it loads the stack
 * (the budget is read when a function's feedback is allocated). An embedding application
 * owns its process and decides for itself (`node --interrupt-budget=8192 app.js`; NODE_OPTIONS
 * does not accept the flag). A budget given on the command line is left alone.
 */
import { setFlagsFromString } from 'node:v8';

/** The interrupt budget the CLI runs with (V8's default in Node 20: 67584). */
export const CLI_INTERRUPT_BUDGET = 8192;

/**
 * Sets V8's interrupt budget to {@link CLI_INTERRUPT_BUDGET} unless `execArgv` already
 * gives one. Returns whether it set it. Call it before loading the code it should affect.
 */
export function tuneTiering(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((a) => a === '--interrupt-budget' || a.startsWith('--interrupt-budget=') || a.startsWith('--interrupt_budget'))) return false;
  setFlagsFromString(`--interrupt-budget=${CLI_INTERRUPT_BUDGET}`);
  return true;
}
