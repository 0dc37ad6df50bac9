/**
 * Property 4: with corrupt=2% (one bit flipped beyond the IP header) the bytes are
 * still exact: every damaged TCP segment is dropped by the checksum (or an earlier
 * header check) and recovered by retransmission. Accounting is exact: with no loss
 * the shaper's `corrupted` equals the TCP layers' InErrs, and InCsumErrors rises.
 * UDP (fragmented or not) and ICMP echo drop damaged datagrams the same way.
 * A control run with checksum verification off shows the check can fail.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { B_ADDR, Sim, UDP_TYPE, patternBytes } from './driver.js';
import { checkTransfer, diffBytes, runTransfer } from './scenario.js';

const SEED = Number(process.env.SIM_SEED ?? 0x5eed);

describe('whole stack: corruption is caught by the checksums', () => {
  it('property: corrupt=2% -> exact bytes, clean close, and every corrupted segment counted as an input error', async () => {
    let corrupted = 0;
    let csum = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 0x7fffffff }),
        fc.constantFrom(576, 1500, 9000),
        fc.integer({ min: 50_000, max: 200_000 }),
        fc.integer({ min: 0, max: 200_000 }),
        fc.constantFrom(0, 3),
        fc.constantFrom('client-first' as const, 'server-first' as const, 'both' as const),
        async (seed, mtu, clientBytes, serverBytes, delayMs, endOrder) => {
          const s = await checkTransfer({
            seed, mtu, clientBytes, serverBytes, clientChunks: [16_384], serverChunks: [5000], gapMs: 0, endOrder,
            impair: { corrupt: 0.02, delayMs, seed },
          });
          expect(s.InErrs, 'TCP InErrs vs packets the shaper corrupted').toBe(s.corrupted);
          corrupted += s.corrupted;
          csum += s.csum;
        },
      ),
      { seed: SEED, numRuns: 25, endOnFailure: true },
    );
    expect(corrupted).toBeGreaterThan(0);
    expect(csum).toBeGreaterThan(0);
    console.log(`corruption: ${corrupted} packets corrupted, ${csum} counted as InCsumErrors`);
  }, 60_000);

  it('corruption together with loss, dup and reorder still gives exact bytes', async () => {
    for (const seed of [5, 6, 7]) {
      const s = await checkTransfer({
        seed, mtu: 1500, clientBytes: 120_000, serverBytes: 80_000, clientChunks: [9000], serverChunks: [1, 4000], gapMs: 0,
        endOrder: 'both', impair: { corrupt: 0.02, loss: 0.05, dup: 0.03, reorder: 0.2, delayMs: 4, seed },
      });
      expect(s.csum).toBeGreaterThan(0);
    }
  }, 30_000);

  it('control: with checksum verification off, the same corruption reaches the application', async () => {
    const r = await runTransfer({
      seed: 5, mtu: 1500, clientBytes: 150_000, serverBytes: 150_000, clientChunks: [16_384], serverChunks: [16_384], gapMs: 0,
      endOrder: 'both', impair: { corrupt: 0.05, seed: 5 }, tcpOptions: { verifyChecksum: false }, limitMs: 120_000,
    });
    try {
      const damaged =
        diffBytes(Buffer.concat(r.server.chunks), r.clientData) !== undefined ||
        diffBytes(Buffer.concat(r.client.chunks), r.serverData) !== undefined ||
        r.client.errors.length + r.server.errors.length > 0;
      expect(damaged).toBe(true);
    } finally {
      await r.sim.close();
    }
  }, 30_000);

  it('UDP datagrams (fragmented at MTU 576, IPv6: 1280) and pings: damaged ones are dropped by checksum, never delivered', async () => {
    const sim = await Sim.create({ mtu: 576, seed: 9, impair: { corrupt: 0.02, seed: 9 } });
    const got: Buffer[] = [];
    const server = sim.b.udp.createSocket(UDP_TYPE, (msg) => { got.push(msg); });
    server.bind(7);
    const client = sim.a.udp.createSocket(UDP_TYPE);
    client.bind(4000);
    await sim.settle();
    const sent = Array.from({ length: 300 }, (_, i) => patternBytes(i % 3 === 0 ? 3000 : 400, 1000 + i));
    for (const [i, m] of sent.entries()) {
      client.send(m, 7, B_ADDR);
      if (i % 20 === 19) await sim.settle();
    }
    let pings = 0;
    let replies = 0;
    for (let i = 0; i < 100; i++) {
      pings++;
      sim.a.ping(B_ADDR, { size: 200 }).then(() => { replies++; }, () => {});
    }
    await sim.run({ forMs: 60_000 });
    const keys = new Set(sent.map((b) => b.toString('base64')));
    for (const g of got) expect(keys.has(g.toString('base64')), 'a damaged datagram was delivered').toBe(true);
    const udpB = sim.b.stats().udp!;
    expect(udpB['InCsumErrors']).toBeGreaterThan(0);
    expect(got.length + udpB['InCsumErrors']!).toBe(sent.length);
    expect(replies).toBeGreaterThan(80);
    expect(replies).toBeLessThan(pings);
    expect(sim.icmpStat(sim.a, 'InCsumErrors') + sim.icmpStat(sim.b, 'InCsumErrors')).toBe(pings - replies);
    server.close();
    client.close();
    expect(await sim.run({ forMs: 120_000 })).toBe('quiet');
    expect(sim.leaks()).toEqual([]);
    await sim.close();
  }, 30_000);
});
