/**
 * Property 2: ICMP echo and UDP through the same impaired link and the same IP
 * layer (fragmentation, reassembly and its timeout), on virtual time.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { A_ADDR, B_ADDR, FAMILY, Sim, UDP_TYPE, patternBytes } from './driver.js';

const SEED = Number(process.env.SIM_SEED ?? 0x5eed);

interface PingOutcome { ok: boolean; bytes?: number; code?: string }

/** Starts a ping from `from` and records its outcome (the promise never rejects). */
function ping(sim: Sim, from: 'a' | 'b', size: number, timeout = 1000): { done: boolean; result: PingOutcome | undefined } {
  const rec: { done: boolean; result: PingOutcome | undefined } = { done: false, result: undefined };
  const stack = from === 'a' ? sim.a : sim.b;
  stack.ping(from === 'a' ? B_ADDR : A_ADDR, { size, timeout }).then(
    (r) => { rec.done = true; rec.result = { ok: true, bytes: r.bytes }; },
    (e: { code?: string }) => { rec.done = true; rec.result = { ok: false, ...(e.code !== undefined ? { code: e.code } : {}) }; },
  );
  return rec;
}

describe('whole stack: ICMP and UDP over the impaired link', () => {
  it('property: without loss every ping is answered, whatever dup/reorder/delay/MTU/size (fragments included)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 0x7fffffff }),
        fc.constantFrom(576, 1500, 9000),
        fc.integer({ min: 0, max: 50 }).map((n) => n / 1000),
        fc.integer({ min: 0, max: 300 }).map((n) => n / 1000),
        fc.integer({ min: 0, max: 20 }),
        fc.array(fc.oneof(fc.integer({ min: 0, max: 1500 }), fc.integer({ min: 0, max: 20_000 })), { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        async (seed, mtu, dup, reorder, delayMs, sizes, concurrent) => {
          const sim = await Sim.create({ mtu, seed, impair: { dup, reorder, delayMs, seed } });
          try {
            const recs: ReturnType<typeof ping>[] = [];
            for (const [i, size] of sizes.entries()) {
              const r = ping(sim, i % 2 === 0 ? 'a' : 'b', size);
              recs.push(r);
              if (!concurrent) await sim.run({ until: () => r.done, forMs: 5000 });
            }
            await sim.run({ until: () => recs.every((r) => r.done), forMs: 5000 });
            expect(recs.map((r) => r.result)).toEqual(sizes.map((s) => ({ ok: true, bytes: 8 + s })));
            // Nothing left behind once the reassembly deadlines of duplicate fragments pass.
            expect(await sim.run({ forMs: 120_000 })).toBe('quiet');
            expect(sim.leaks()).toEqual([]);
          } finally {
            await sim.close();
          }
        },
      ),
      { seed: SEED, numRuns: 25 },
    );
  }, 60_000);

  it('a 20 KB ping at MTU 576 (IPv6: 1280) is fragmented both ways and reassembled', async () => {
    const sim = await Sim.create({ mtu: 576, seed: 3, impair: { reorder: 0.3, delayMs: 2, dup: 0.02, seed: 3 } });
    const r = ping(sim, 'a', 20_000);
    await sim.run({ until: () => r.done, forMs: 5000 });
    expect(r.result).toEqual({ ok: true, bytes: 20_008 });
    // IPv4: 20 008 bytes of ICMP in 552-byte fragments (576 - 20, a multiple of 8): 37 each way.
    // IPv6: 20 008 bytes of ICMPv6 in 1232-byte fragments (1280 - 40 - 8 for the fragment header): 17.
    const frags = FAMILY === 6 ? 17 : 37;
    expect(sim.ipStat(sim.a, 'FragCreates')).toBe(frags);
    expect(sim.ipStat(sim.b, 'FragCreates')).toBe(frags);
    expect(sim.ipStat(sim.a, 'ReasmOKs')).toBe(1);
    expect(sim.ipStat(sim.b, 'ReasmOKs')).toBe(1);
    expect(await sim.run({ forMs: 120_000 })).toBe('quiet');
    expect(sim.leaks()).toEqual([]);
    await sim.close();
  }, 30_000);

  it('10% loss over many pings: plausible reply ratios, and reassembly memory returns to 0 after 30 s (IPv6: 60 s)', async () => {
    const sim = await Sim.create({ mtu: 576, seed: 11, impair: { loss: 0.1, reorder: 0.1, delayMs: 3, seed: 11 } });
    // 200 small pings: a reply needs 2 packets through -> 0.81 expected.
    const small: ReturnType<typeof ping>[] = [];
    for (let i = 0; i < 200; i++) {
      small.push(ping(sim, i % 2 === 0 ? 'a' : 'b', 56));
      await sim.run({ forMs: 20 });
    }
    // 100 pings of 2000 bytes (IPv6 at MTU 1280: 4000): 4 fragments each way, 8 packets through -> 0.43 expected.
    const big: ReturnType<typeof ping>[] = [];
    for (let i = 0; i < 100; i++) {
      big.push(ping(sim, 'a', FAMILY === 6 ? 4000 : 2000));
      await sim.run({ forMs: 50 });
    }
    await sim.run({ until: () => [...small, ...big].every((r) => r.done), forMs: 5000 });
    const ratio = (rs: ReturnType<typeof ping>[]): number => rs.filter((r) => r.result?.ok === true).length / rs.length;
    const failures = new Set([...small, ...big].filter((r) => r.result?.ok !== true).map((r) => r.result?.code));
    expect([...failures]).toEqual(['ETIMEDOUT']);
    expect(ratio(small)).toBeGreaterThan(0.65);
    expect(ratio(small)).toBeLessThan(0.95);
    expect(ratio(big)).toBeGreaterThan(0.25);
    expect(ratio(big)).toBeLessThan(0.65);
    // Incomplete datagrams are held...
    const held = sim.a.ip.reassemblyUsage().bytes + sim.b.ip.reassemblyUsage().bytes;
    console.log(`ping ratios: small ${ratio(small)}, 4-fragment ${ratio(big)}; reassembly bytes held ${held}`);
    expect(held).toBeGreaterThan(0);
    // ...until the reassembly timer frees them: 30 s for IPv4 (Linux ipfrag_time), 60 s for IPv6 (RFC 8200 §4.5).
    const reasmMs = FAMILY === 6 ? 60_000 : 30_000;
    await sim.run({ forMs: reasmMs - 1_000 });
    expect(sim.a.ip.reassemblyUsage().bytes + sim.b.ip.reassemblyUsage().bytes).toBeGreaterThan(0);
    await sim.run({ forMs: 1_001 });
    expect(sim.a.ip.reassemblyUsage()).toEqual({ datagrams: 0, bytes: 0 });
    expect(sim.b.ip.reassemblyUsage()).toEqual({ datagrams: 0, bytes: 0 });
    const timeouts = sim.ipStat(sim.a, 'ReasmTimeout') + sim.ipStat(sim.b, 'ReasmTimeout');
    expect(timeouts).toBeGreaterThan(0);
    expect(await sim.run({ forMs: 120_000 })).toBe('quiet');
    expect(sim.leaks()).toEqual([]);
    await sim.close();
  }, 30_000);

  it('closed ports end to end: a connected UDP socket gets ECONNREFUSED from the port unreachable; a TCP connect gets it from the RST', async () => {
    const sim = await Sim.create({ seed: 5, impair: { delayMs: 2, seed: 5 } });
    try {
      const errors: string[] = [];
      const client = sim.a.udp.createSocket(UDP_TYPE);
      client.on('error', (e: NodeJS.ErrnoException) => errors.push(`udp ${e.code}`));
      client.connect(9, B_ADDR, () => client.send(Buffer.from('anyone?')));
      const c = sim.a.tcp.connect({ host: B_ADDR, port: 9 });
      c.on('error', (e: NodeJS.ErrnoException) => errors.push(`tcp ${e.code}`));
      await sim.run({ until: () => errors.length === 2, forMs: 5000 });
      expect(errors.sort()).toEqual(['tcp ECONNREFUSED', 'udp ECONNREFUSED']);
      // ICMPv4 type 3 code 3, or ICMPv6 type 1 code 4 (RFC 4443 §3.1), one each way.
      expect([sim.icmpStat(sim.b, 'OutDestUnreachs'), sim.icmpStat(sim.a, 'InDestUnreachs')]).toEqual([1, 1]);
      expect(sim.b.stats().tcp!['OutRsts']).toBe(1);
      client.close();
      expect(await sim.run({ forMs: 120_000 })).toBe('quiet');
      expect(sim.leaks()).toEqual([]);
    } finally {
      await sim.close();
    }
  });

  it('property: UDP datagrams up to 8 KB cross intact (fragmented, reordered, duplicated), none invented', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 0x7fffffff }),
        fc.constantFrom(576, 1500, 9000),
        fc.integer({ min: 0, max: 50 }).map((n) => n / 1000),
        fc.integer({ min: 0, max: 300 }).map((n) => n / 1000),
        fc.integer({ min: 0, max: 20 }),
        fc.array(fc.integer({ min: 0, max: 8000 }), { minLength: 1, maxLength: 20 }),
        async (seed, mtu, dup, reorder, delayMs, sizes) => {
          const sim = await Sim.create({ mtu, seed, impair: { dup, reorder, delayMs, seed } });
          try {
            const got: Buffer[] = [];
            const echoed: Buffer[] = [];
            const server = sim.b.udp.createSocket(UDP_TYPE, (msg, rinfo) => {
              got.push(msg);
              const r = rinfo as { address: string; port: number };
              server.send(msg, r.port, r.address);
            });
            server.bind(7);
            const client = sim.a.udp.createSocket(UDP_TYPE, (msg) => { echoed.push(msg); });
            client.bind(4000);
            await sim.settle();
            const sent = sizes.map((n, i) => patternBytes(n, seed + i));
            for (const m of sent) client.send(m, 7, B_ADDR);
            await sim.run({ forMs: 5000 });
            const key = (b: Buffer): string => b.toString('base64');
            const sentKeys = new Set(sent.map(key));
            // Every datagram arrives (at least once: dup copies it), intact; nothing else arrives.
            for (const g of got) expect(sentKeys.has(key(g))).toBe(true);
            for (const e of echoed) expect(sentKeys.has(key(e))).toBe(true);
            expect(new Set(got.map(key))).toEqual(sentKeys);
            expect(new Set(echoed.map(key))).toEqual(sentKeys);
            expect(got.length).toBeGreaterThanOrEqual(sent.length);
            server.close();
            client.close();
            expect(await sim.run({ forMs: 120_000 })).toBe('quiet');
            expect(sim.leaks()).toEqual([]);
          } finally {
            await sim.close();
          }
        },
      ),
      { seed: SEED, numRuns: 25 },
    );
  }, 60_000);
});
