/**
 * The classic node:net pattern through the whole stack: an echo server
 * (`socket.pipe(socket)`, allowHalfOpen false on both sides, so the peer's FIN
 * ends our side too), a client that writes in chunks, then ends. Both directions
 * carry bulk data at once, through pipe()'s back-pressure, over an impaired link.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { B_ADDR, Sim, patternBytes, type ImpairParams } from './driver.js';
import { diffBytes } from './scenario.js';

const SEED = Number(process.env.SIM_SEED ?? 0x5eed);
const RUNS = Number(process.env.SIM_ECHO_RUNS ?? 30);

interface EchoParams {
  seed: number;
  mtu: number;
  impair: ImpairParams;
  bytes: number;
  chunk: number;
  buffer: number | undefined;
  highWaterMark: number | undefined;
  clients: number;
}

async function echo(p: EchoParams): Promise<void> {
  const sim = await Sim.create({
    mtu: p.mtu, seed: p.seed, impair: p.impair,
    tcpOptions: { msl: 500, synRetries: 20, maxRetries: 30, rtoMax: 10_000, ...(p.buffer !== undefined ? { sendBufferSize: p.buffer, receiveBufferSize: p.buffer } : {}) },
  });
  try {
    const serverErrors: string[] = [];
    const srv = sim.b.tcp.createServer(p.highWaterMark !== undefined ? { highWaterMark: p.highWaterMark } : {}, (s) => {
      s.on('error', (e: NodeJS.ErrnoException) => serverErrors.push(e.code ?? e.message));
      s.on('close', (hadError: boolean) => { if (hadError) serverErrors.push('close(hadError)'); });
      s.pipe(s);
    });
    srv.listen(7);
    const clients = Array.from({ length: p.clients }, (_, i) => {
      const data = patternBytes(Math.floor(p.bytes / (i + 1)), p.seed + i);
      const c = sim.a.tcp.connect({ host: B_ADDR, port: 7, ...(p.highWaterMark !== undefined ? { highWaterMark: p.highWaterMark } : {}) });
      const st = { c, data, got: [] as Buffer[], errors: [] as string[], closed: undefined as boolean | undefined, off: 0 };
      c.on('data', (d: Buffer) => st.got.push(d));
      c.on('error', (e: NodeJS.ErrnoException) => st.errors.push(e.code ?? e.message));
      c.on('close', (hadError: boolean) => { st.closed = hadError; });
      const write = (): void => {
        while (st.off < data.length) {
          const n = Math.min(p.chunk, data.length - st.off);
          const ok = c.write(data.subarray(st.off, st.off + n));
          st.off += n;
          if (!ok) { c.once('drain', write); return; }
        }
        c.end();
      };
      write();
      return st;
    });
    let serversClosed = 0;
    srv.on('connection', (s) => s.on('close', () => { serversClosed++; }));
    const outcome = await sim.run({ until: () => clients.every((c) => c.closed !== undefined) && serversClosed === p.clients, forMs: 3_600_000 });
    const conns = (st: Sim['a']): string => st.tcpLayer.connections().map((x) => `${x.state} snd ${x.writableLength} rcv ${x.readableLength}`).join(', ');
    const state = `${outcome} at ${sim.clock.now().toFixed(0)} ms; ` +
      clients.map((c, i) => `client ${i} wrote ${c.off}/${c.data.length} read ${Buffer.concat(c.got).length}`).join('; ') +
      `; A conns [${conns(sim.a)}] B conns [${conns(sim.b)}]`;
    if (process.env.SIM_VERBOSE) console.log(state, JSON.stringify(p));
    expect(outcome, state).toBe('until');
    for (const c of clients) {
      expect(diffBytes(Buffer.concat(c.got), c.data), state).toBeUndefined();
      expect(c.errors, state).toEqual([]);
      expect(c.closed, 'hadError').toBe(false);
    }
    expect(serverErrors, state).toEqual([]);
    srv.close();
    expect(await sim.run({ forMs: 300_000 })).toBe('quiet');
    expect(sim.leaks()).toEqual([]);
  } finally {
    await sim.close();
  }
}

describe('whole stack: echo server (pipe, allowHalfOpen false)', () => {
  it(`property: 1-5 concurrent clients each read back exactly what they wrote, all close cleanly (${RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          seed: fc.integer({ min: 1, max: 0x7fffffff }),
          mtu: fc.constantFrom(576, 1500, 9000),
          impair: fc.record({
            loss: fc.constantFrom(0, 0.01, 0.05, 0.1, 0.2),
            dup: fc.constantFrom(0, 0.02),
            reorder: fc.constantFrom(0, 0.1, 0.3),
            delayMs: fc.constantFrom(0, 1, 5, 20),
            seed: fc.integer({ min: 1, max: 0x7fffffff }),
          }),
          bytes: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.noBias(fc.integer({ min: 0, max: 300_000 }))),
          chunk: fc.constantFrom(100, 1460, 16_384, 65_536),
          buffer: fc.constantFrom(undefined, 4096, 16_384),
          highWaterMark: fc.constantFrom(undefined, 1024, 16_384),
          clients: fc.constantFrom(1, 1, 2, 5),
        }),
        echo,
      ),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
  }, 120_000);
});
