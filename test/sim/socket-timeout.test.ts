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
