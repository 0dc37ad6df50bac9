/**
 * Property 1: any impairment within bounds, any MTU, any payloads and chunking,
 * any order of end() -> both sides read exactly the other's bytes in order, both
 * sockets close cleanly, and after TIME-WAIT nothing is left: no connection, no
 * deadline, no armed timer, no queued packet.
 *
 * Reproduce a failure: fast-check prints the seed and path; set SIM_SEED (and
 * SIM_RUNS) to replay or widen the search.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkTransfer, type TransferParams } from './scenario.js';

const SEED = Number(process.env.SIM_SEED ?? 0x5eed);
const RUNS = Number(process.env.SIM_RUNS ?? 40);

const size = fc.oneof(
  { weight: 1, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 3000 }) },
  { weight: 3, arbitrary: fc.noBias(fc.integer({ min: 0, max: 200_000 })) },
);

/** A probability in [0, maxPerMille/1000], 0 a quarter of the time (fc.double favours tiny values). */
const prob = (maxPerMille: number): fc.Arbitrary<number> =>
  fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: maxPerMille }).map((n) => n / 1000) });

const params: fc.Arbitrary<TransferParams> = fc.record({
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
  mtu: fc.constantFrom(576, 1500, 9000),
  impair: fc.record({
    loss: prob(200),
    dup: prob(50),
    reorder: prob(300),
    delayMs: fc.integer({ min: 0, max: 20 }),
    seed: fc.integer({ min: 1, max: 0x7fffffff }),
  }),
  clientBytes: size,
  serverBytes: size,
  clientChunks: fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 4 }),
  serverChunks: fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 4 }),
  gapMs: fc.constantFrom(0, 0, 1, 7),
  endOrder: fc.constantFrom('client-first' as const, 'server-first' as const, 'both' as const),
  buffer: fc.constantFrom(undefined, undefined, 4096, 16_384),
  readPauseMs: fc.constantFrom(0, 0, 0, 5, 50),
}).map(({ buffer, ...p }) => ({
  ...p,
  ...(buffer !== undefined ? { buffer } : {}),
  // At most ~1500 writes a side: tiny chunks over 200 KB would only cost wall time.
  clientChunks: p.clientChunks.map((c) => Math.max(c, Math.ceil(p.clientBytes / 1500))),
  serverChunks: p.serverChunks.map((c) => Math.max(c, Math.ceil(p.serverBytes / 1500))),
}));

describe('whole stack: TCP transfer over an impaired link (property)', () => {
  it('a clean link: 200 KB each way, MTU 576, client ends first', async () => {
    const s = await checkTransfer({
      seed: 1, mtu: 576, clientBytes: 200_000, serverBytes: 200_000, clientChunks: [65_536], serverChunks: [1000, 17],
      gapMs: 0, endOrder: 'client-first',
    });
    expect(s.retrans).toBe(0);
  }, 30_000);

  it(`exact bytes both ways, clean close, no leaks (${RUNS} runs, seed ${SEED})`, async () => {
    let runs = 0;
    let retrans = 0;
    let maxMs = 0;
    await fc.assert(
      fc.asyncProperty(params, async (p) => {
        const s = await checkTransfer(p);
        if (process.env.SIM_VERBOSE) console.log(JSON.stringify({ ...p, ...s }));
        runs++;
        retrans += s.retrans;
        maxMs = Math.max(maxMs, s.virtualMs);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    expect(runs).toBe(RUNS);
    // The property must have exercised loss recovery, or it proves little.
    expect(retrans).toBeGreaterThan(0);
    console.log(`tcp property: ${runs} runs, ${retrans} retransmissions, longest ${maxMs} virtual ms`);
  }, 120_000);
});
