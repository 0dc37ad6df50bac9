/**
 * Property 3: model-based test of the node:net-shaped socket API (fc.commands).
 *
 * Real system: one connection between the two stacks (client on A, server on B,
 * allowHalfOpen on both, so end() is always explicit), over a link with small
 * impairments. Model: the bytes each side wrote, and who paused, ended or
 * destroyed. After every command the simulation runs to quiet (bounded: a paused
 * reader makes the peer probe a zero window forever), then:
 *  - what each side read is a prefix of what the other wrote (always);
 *  - with no destroy so far: a flowing reader has read ALL of it, has seen 'end'
 *    iff the peer ended, and nobody saw an error;
 * and at the end (everyone resumes and ends): both sockets emit 'close', and
 * after TIME-WAIT neither stack holds a connection, a deadline or a timer.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { B_ADDR, Sim, patternBytes, type ImpairParams } from './driver.js';
import type { Socket } from './scenario.js';

const SEED = Number(process.env.SIM_SEED ?? 0x5eed);
const RUNS = Number(process.env.SIM_MODEL_RUNS ?? 60);
const PORT = 9000;
const MSL = 500;
const SETTLE_MS = 600_000;
const SRC_LEN = 4 * 1024 * 1024;

type SideIx = 0 | 1;
const NAMES = ['client', 'server'] as const;

interface Model {
  sent: [number, number];
  paused: [boolean, boolean];
  ended: [boolean, boolean];
  destroyed: [boolean, boolean];
  anyDestroy: boolean;
}

interface SideState {
  socket: Socket;
  src: Buffer;
  wrote: number;
  recv: Buffer[];
  recvLen: number;
  ended: boolean;
  closed: boolean;
  hadError: boolean | undefined;
  errors: string[];
}

interface Real {
  sim: Sim;
  sides: [SideState, SideState];
  log: string[];
}

function attach(socket: Socket, src: Buffer): SideState {
  const st: SideState = { socket, src, wrote: 0, recv: [], recvLen: 0, ended: false, closed: false, hadError: undefined, errors: [] };
  socket.on('data', (d: Buffer) => { st.recv.push(d); st.recvLen += d.length; });
  socket.on('end', () => { st.ended = true; });
  socket.on('error', (e: NodeJS.ErrnoException) => { st.errors.push(e.code ?? e.message); });
  socket.on('close', (hadError: boolean) => { st.closed = true; st.hadError = hadError; });
  return st;
}

async function settle(r: Real): Promise<string> {
  return r.sim.run({ forMs: SETTLE_MS });
}

/** The invariants that hold after every command (see the file comment). */
function checkInvariants(m: Model, r: Real, where: string): void {
  for (const ix of [0, 1] as const) {
    const me = r.sides[ix];
    const peer = r.sides[1 - ix as SideIx];
    const got = Buffer.concat(me.recv);
    const want = peer.src.subarray(0, m.sent[1 - ix]);
    const ctx = `${where}: ${NAMES[ix]} read ${got.length} of ${want.length} bytes the ${NAMES[1 - ix]} wrote`;
    expect(got.length <= want.length && got.equals(want.subarray(0, got.length)), `${ctx}: not a prefix`).toBe(true);
    if (!m.anyDestroy) {
      expect(me.errors, `${where}: ${NAMES[ix]} errors`).toEqual([]);
      if (!m.paused[ix]) {
        expect(got.length, `${ctx}: a flowing reader after quiet`).toBe(want.length);
        expect(me.ended, `${where}: ${NAMES[ix]} 'end' iff the ${NAMES[1 - ix]} ended`).toBe(m.ended[1 - ix]);
      } else {
        expect(me.ended && !m.ended[1 - ix], `${where}: ${NAMES[ix]} 'end' before the peer ended`).toBe(false);
      }
    }
  }
}

abstract class Cmd implements fc.AsyncCommand<Model, Real> {
  constructor(readonly side: SideIx) {}
  abstract check(m: Readonly<Model>): boolean;
  abstract apply(m: Model, r: Real): void;
  async run(m: Model, r: Real): Promise<void> {
    r.log.push(this.toString());
    this.apply(m, r);
    const outcome = await settle(r);
    r.log.push(`  -> ${outcome} t=${r.sim.clock.now().toFixed(0)}`);
    checkInvariants(m, r, r.log.slice(-12).join(' | '));
  }
  abstract toString(): string;
}

class Write extends Cmd {
  constructor(side: SideIx, readonly n: number) { super(side); }
  check(m: Readonly<Model>): boolean { return !m.ended[this.side] && !m.destroyed[this.side] && m.sent[this.side] + this.n <= SRC_LEN; }
  apply(m: Model, r: Real): void {
    const s = r.sides[this.side];
    // After the peer's destroy, a write may fail (EPIPE/ECONNRESET) and destroy the socket: allowed then.
    if (s.socket.destroyed) { expect(m.anyDestroy, `${this}: socket destroyed by itself`).toBe(true); return; }
    s.socket.write(s.src.subarray(s.wrote, s.wrote + this.n));
    s.wrote += this.n;
    m.sent[this.side] += this.n;
  }
  toString(): string { return `Write(${NAMES[this.side]}, ${this.n})`; }
}

class Pause extends Cmd {
  check(m: Readonly<Model>): boolean { return !m.destroyed[this.side] && !m.paused[this.side]; }
  apply(m: Model, r: Real): void { r.sides[this.side].socket.pause(); m.paused[this.side] = true; }
  toString(): string { return `Pause(${NAMES[this.side]})`; }
}

class Resume extends Cmd {
  check(m: Readonly<Model>): boolean { return !m.destroyed[this.side] && m.paused[this.side]; }
  apply(m: Model, r: Real): void { r.sides[this.side].socket.resume(); m.paused[this.side] = false; }
  toString(): string { return `Resume(${NAMES[this.side]})`; }
}

class End extends Cmd {
  check(m: Readonly<Model>): boolean { return !m.destroyed[this.side] && !m.ended[this.side]; }
  apply(m: Model, r: Real): void { r.sides[this.side].socket.end(); m.ended[this.side] = true; }
  toString(): string { return `End(${NAMES[this.side]})`; }
}

class Destroy extends Cmd {
  check(m: Readonly<Model>): boolean { return !m.destroyed[this.side]; }
  apply(m: Model, r: Real): void {
    r.sides[this.side].socket.destroy();
    m.destroyed[this.side] = true;
    m.anyDestroy = true;
  }
  toString(): string { return `Destroy(${NAMES[this.side]})`; }
}

const side = fc.constantFrom<SideIx>(0, 1);
const commands = fc.commands(
  [
    fc.tuple(side, fc.oneof(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 1, max: 120_000 }))).map(([s, n]) => new Write(s, n)),
    side.map((s) => new Pause(s)),
    side.map((s) => new Resume(s)),
    side.map((s) => new End(s)),
    // Rarer: a destroy ends the interesting part of a run.
    fc.oneof({ weight: 1, arbitrary: side.map((s): Cmd => new Destroy(s)) }, { weight: 2, arbitrary: side.map((s): Cmd => new Write(s, 1000)) }),
  ],
  { maxCommands: 25 },
);

const impairment: fc.Arbitrary<ImpairParams> = fc.record({
  loss: fc.constantFrom(0, 0, 0.01, 0.05, 0.1),
  dup: fc.constantFrom(0, 0.02),
  reorder: fc.constantFrom(0, 0.1),
  delayMs: fc.constantFrom(0, 1, 5),
  seed: fc.integer({ min: 1, max: 0x7fffffff }),
});

async function setup(seed: number, impair: ImpairParams, mtu: number): Promise<{ model: Model; real: Real }> {
  const sim = await Sim.create({ mtu, seed, impair, tcpOptions: { msl: MSL, synRetries: 20, maxRetries: 30, rtoMax: 10_000 } });
  let server: SideState | undefined;
  const srv = sim.b.tcp.createServer({ allowHalfOpen: true }, (s) => { server = attach(s, patternBytes(SRC_LEN, seed * 3 + 2)); srv.close(); });
  srv.listen(PORT);
  const client = attach(sim.a.tcp.connect({ host: B_ADDR, port: PORT, allowHalfOpen: true }), patternBytes(SRC_LEN, seed * 3 + 1));
  let connected = false;
  client.socket.once('connect', () => { connected = true; });
  await sim.run({ until: () => connected && server !== undefined, forMs: 60_000 });
  if (server === undefined || !connected) throw new Error('setup: no connection');
  return {
    model: { sent: [0, 0], paused: [false, false], ended: [false, false], destroyed: [false, false], anyDestroy: false },
    real: { sim, sides: [client, server], log: [] },
  };
}

/** Everyone resumes and ends; then both sockets must close and nothing may be left. */
async function finish(m: Model, r: Real): Promise<void> {
  r.log.push('finish');
  for (const ix of [0, 1] as const) {
    const s = r.sides[ix].socket;
    if (!s.destroyed) { s.resume(); m.paused[ix] = false; if (!m.ended[ix]) { s.end(); m.ended[ix] = true; } }
  }
  await r.sim.run({ until: () => r.sides.every((s) => s.closed), forMs: 300_000 });
  const where = r.log.join(' | ');
  checkInvariants(m, r, where);
  for (const ix of [0, 1] as const) {
    const s = r.sides[ix];
    expect(s.closed, `${where}: ${NAMES[ix]} 'close'`).toBe(true);
    if (!m.anyDestroy) expect(s.hadError, `${where}: ${NAMES[ix]} hadError`).toBe(false);
  }
  expect(await r.sim.run({ forMs: 300_000 }), `${where}: quiet after TIME-WAIT`).toBe('quiet');
  expect(r.sim.leaks(), where).toEqual([]);
}

describe('whole stack: model-based test of the socket API', () => {
  it(`commands Write/Pause/Resume/End/Destroy on either side keep the read streams a prefix of the model (${RUNS} runs)`, async () => {
    let destroys = 0;
    let bytes = 0;
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 0x7fffffff }), impairment, fc.constantFrom(576, 1500, 9000), commands, async (seed, impair, mtu, cmds) => {
        const { model, real } = await setup(seed, impair, mtu);
        try {
          await fc.asyncModelRun(() => ({ model, real }), cmds);
          await finish(model, real);
          if (model.anyDestroy) destroys++;
          bytes += model.sent[0] + model.sent[1];
        } finally {
          await real.sim.close();
        }
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    console.log(`socket model: ${RUNS} runs, ${destroys} with a destroy, ${bytes} bytes written`);
  }, 120_000);
});
