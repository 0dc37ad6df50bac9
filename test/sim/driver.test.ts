/**
 * The driver itself: the virtual clock, determinism (one seed, one run), and that
 * the leak and progress checks the properties rely on can fail.
 */
import { describe, expect, it } from 'vitest';
import { B_ADDR, Sim, VirtualClock } from './driver.js';
import { runTransfer, type TransferParams } from './scenario.js';
import { describePacket } from './trace.js';

describe('simulation driver', () => {
  it('the virtual clock fires in (time, creation) order, honours cancel, and never runs by itself', async () => {
    const c = new VirtualClock();
    const log: string[] = [];
    c.setTimer(() => log.push('b@10'), 10);
    const x = c.setTimer(() => log.push('x@5'), 5);
    c.setTimer(() => { log.push('a@5'); c.setTimer(() => log.push('c@5+0'), 0); }, 5);
    c.cancel(x);
    c.cancel(x);
    expect(c.pending).toBe(2);
    await new Promise((r) => setTimeout(r, 20));
    expect(log).toEqual([]);
    while (c.fireDue() > 0);
    expect(log).toEqual(['a@5', 'c@5+0', 'b@10']);
    expect(c.now()).toBe(10);
    expect(c.pending).toBe(0);
    expect(c.nextAt()).toBe(Infinity);
  });

  it('one seed gives one run: the same packets at the same virtual times', async () => {
    const trace = async (): Promise<string[]> => {
      const lines: string[] = [];
      const p: TransferParams = {
        seed: 77, mtu: 1500, clientBytes: 60_000, serverBytes: 30_000, clientChunks: [5000], serverChunks: [999], gapMs: 1,
        endOrder: 'both', impair: { loss: 0.1, dup: 0.03, reorder: 0.2, delayMs: 4, corrupt: 0.01, seed: 77 },
        trace: (pk, d, now) => lines.push(`${now} ${d} ${describePacket(pk)}`),
      };
      const r = await runTransfer(p);
      await r.sim.close();
      return lines;
    };
    const one = await trace();
    const two = await trace();
    expect(one.length).toBeGreaterThan(100);
    expect(two).toEqual(one);
  }, 30_000);

  it('the leak check sees a connection left half-closed (so the properties can fail on one)', async () => {
    const sim = await Sim.create({ seed: 1, tcpOptions: { msl: 500 } });
    // Never ends, never destroys; sim.close() then aborts both sockets (ECONNABORTED).
    sim.b.tcp.createServer({ allowHalfOpen: true }, (s) => { s.on('error', () => {}); }).listen(80);
    const c = sim.a.tcp.connect({ host: B_ADDR, port: 80, allowHalfOpen: true });
    c.on('error', () => {});
    c.on('connect', () => c.end('bye'));
    c.resume();
    // The client's FIN-WAIT-2 gives up after finWait2Timeout (60 s); the server's CLOSE-WAIT stays.
    expect(await sim.run({ forMs: 300_000 })).toBe('quiet');
    const leaks = sim.leaks();
    expect(leaks.join('\n')).toMatch(/B: 1 connection\(s\): CLOSE-WAIT/);
    await sim.close();
  });

  it('family 6: a transfer over loss, duplication and reordering crosses as IPv6 (Ip6 counters rise, IPv4\'s stay 0); family 4 the reverse', async () => {
    const counts: Record<string, number[]> = {};
    for (const family of [4, 6] as const) {
      const r = await runTransfer({
        family, seed: 3, mtu: 1500, clientBytes: 50_000, serverBytes: 20_000, clientChunks: [4000], serverChunks: [3000], gapMs: 0,
        endOrder: 'both', impair: { loss: 0.05, dup: 0.03, reorder: 0.2, delayMs: 3, seed: 3 },
      });
      try {
        expect(r.outcome).toBe('until/quiet');
        expect(Buffer.concat(r.server.chunks).equals(r.clientData)).toBe(true);
        expect(r.sim.a.stats().tcp!['RetransSegs']).toBeGreaterThan(0);
        const st = [r.sim.a.stats(), r.sim.b.stats()];
        counts[family] = st.flatMap((s) => [s['ip']!['OutRequests']!, s['ip']!['InReceives']!, s['ip6']?.['Ip6OutRequests'] ?? 0, s['ip6']?.['Ip6InReceives'] ?? 0]);
        expect(r.sim.familyLeaks()).toEqual([]);
      } finally {
        await r.sim.close();
      }
    }
    const [v4a, v4b, v6a, v6b] = [counts[4]!.slice(0, 4), counts[4]!.slice(4), counts[6]!.slice(0, 4), counts[6]!.slice(4)];
    for (const c of [v4a, v4b]) expect([c[0]! > 0, c[1]! > 0, c[2], c[3]]).toEqual([true, true, 0, 0]);
    for (const c of [v6a, v6b]) expect([c[0], c[1], c[2]! > 0, c[3]! > 0]).toEqual([0, 0, true, true]);
  }, 30_000);

  it('the run reports a transfer that cannot finish (a dead link) instead of passing', async () => {
    const r = await runTransfer({
      seed: 1, mtu: 1500, clientBytes: 10_000, serverBytes: 0, clientChunks: [1000], serverChunks: [1], gapMs: 0,
      endOrder: 'both', impair: { loss: 1, seed: 1 }, limitMs: 30_000,
    });
    expect(r.outcome.startsWith('until')).toBe(false);
    expect(Buffer.concat(r.server.chunks).length).toBe(0);
    await r.sim.close();
  });
});
