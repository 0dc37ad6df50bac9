import { describe, expect, it } from 'vitest';
import { STOP_SIGNALS, untilSignal } from '../src/signals.js';

/** Emitted with a listener of our own in place, so no real signal reaches this process. */
function emitKept(sig: NodeJS.Signals, times: number): void {
  const keepAlive = (): void => {};
  process.on(sig, keepAlive);
  try {
    for (let i = 0; i < times; i++) process.emit(sig, sig);
  } finally {
    process.off(sig, keepAlive);
  }
}

describe('the CLI signal policy (signals.ts)', () => {
  it('resolves with the first stop signal and removes its handlers then', async () => {
    const before = STOP_SIGNALS.map((s) => process.listenerCount(s));
    const { signal, cancel } = untilSignal();
    expect(STOP_SIGNALS.map((s) => process.listenerCount(s))).toEqual(before.map((n) => n + 1));
    emitKept('SIGTERM', 2);
    emitKept('SIGINT', 1);
    await expect(signal).resolves.toBe('SIGTERM');
    // Gone after the first: a second Ctrl-C meets Node's default action.
    expect(STOP_SIGNALS.map((s) => process.listenerCount(s))).toEqual(before);
    cancel(); // idempotent
    expect(STOP_SIGNALS.map((s) => process.listenerCount(s))).toEqual(before);
  });

  it('cancel() removes the handlers without a signal', () => {
    const before = STOP_SIGNALS.map((s) => process.listenerCount(s));
    const { cancel } = untilSignal();
    cancel();
    expect(STOP_SIGNALS.map((s) => process.listenerCount(s))).toEqual(before);
  });
});
