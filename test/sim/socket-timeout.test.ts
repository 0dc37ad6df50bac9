/**
 * `socket.setTimeout` on the stack's clock: with a virtual clock the idle timeout is
 * exact and deterministic (it used to be a real timer, outside simulated time).
 */
import { describe, expect, it } from 'vitest';
import { B_ADDR, Sim } from './driver.js';

describe('socket.setTimeout runs on the stack clock', () => {
  it("'timeout' comes exactly `msecs` after the last activity, again after new activity, never after 0 or destroy", async () => {
    const sim = await Sim.create({ seed: 3, impair: { delayMs: 5, seed: 3 } });
    try {
      const server = sim.b.tcp.createServer((s) => { s.on('data', () => {}); });
      server.listen(5000);
      await sim.run({ forMs: 10 });
      const c = sim.a.tcp.connect({ host: B_ADDR, port: 5000 });
      const fired: number[] = [];
      let connectedAt = -1;
      c.on('timeout', () => fired.push(sim.clock.now())); // (a setTimeout callback is a once listener, as in node)
      c.on('connect', () => { connectedAt = sim.clock.now(); c.setTimeout(1000); });
      await sim.run({ until: () => connectedAt >= 0, forMs: 5000 });
      // Idle for 1000 ms of virtual time: one 'timeout', at exactly +1000.
      await sim.run({ until: () => fired.length === 1, forMs: 5000 });
      expect(fired).toEqual([connectedAt + 1000]);
      // Activity 500 ms later (a write): the next 'timeout' is 1000 ms after it, not before.
      let wroteAt = -1;
      sim.clock.setTimer(() => { wroteAt = sim.clock.now(); c.write('x'); }, 500);
      await sim.run({ until: () => wroteAt >= 0, forMs: 5000 });
      await sim.run({ until: () => fired.length === 2, forMs: 5000 });
      expect(fired[1]).toBe(wroteAt + 1000);
      // Disabled: nothing more, however long.
      c.setTimeout(0);
      await sim.run({ forMs: 10_000 });
      expect(fired).toHaveLength(2);
      // Re-enabled then destroyed: nothing.
      c.setTimeout(500);
      c.destroy();
      server.close();
      await sim.run({ forMs: 120_000 });
      expect(fired).toHaveLength(2);
      expect(sim.clock.nextAt()).toBe(Infinity); // no timer left behind on the clock
    } finally {
      await sim.close();
    }
  });
});

describe('socket.setTimeout at large virtual times', () => {
  it("fires when what is left is below the clock's float resolution (it used to re-arm for ~0 ms forever)", async () => {
    const sim = await Sim.create({ seed: 4 });
    // A re-arm of less than a microsecond means the timer can never see idle >= msecs: fail, do not spin.
    const setTimer = sim.clock.setTimer.bind(sim.clock);
    let tiny = 0;
    sim.clock.setTimer = (fn, ms) => {
      if (ms < 1e-6 && ++tiny > 100) throw new Error(`idle timer re-armed ${tiny} times for ${ms} ms`);
      return setTimer(fn, ms);
    };
    try {
      const server = sim.b.tcp.createServer((s) => { s.on('data', () => {}); });
      server.listen(5000);
      // Activity at t = 4185257.9137 ms: (t + 30000) - t is 29999.999999999534 in doubles, and
      // adding the 4.7e-10 ms left to the clock's time changes nothing.
      const L = 4185257.9137;
      sim.clock.advanceTo(L - 1000);
      const c = sim.a.tcp.connect({ host: B_ADDR, port: 5000 });
      const fired: number[] = [];
      c.on('timeout', () => fired.push(sim.clock.now()));
      await sim.run({ until: () => c.readyState === 'open', forMs: 900 });
      sim.clock.setTimer(() => { c.setTimeout(30_000); c.write('x'); }, L - sim.clock.now());
      await sim.run({ until: () => fired.length === 1, forMs: 60_000 });
      expect(fired).toHaveLength(1);
      expect(Math.abs(fired[0]! - (L + 30_000))).toBeLessThan(1e-6);
      c.destroy();
      server.close();
      await sim.run({ forMs: 120_000 });
    } finally {
      await sim.close();
    }
  });
});
