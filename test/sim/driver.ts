/**
 * Deterministic whole-stack simulation: two `Stack`s (10.0.0.1 and 10.0.0.2) on an
 * in-memory link pair that moves packets only when pumped, sharing ONE virtual
 * clock. Nothing time-driven happens until the driver advances the clock; the
 * only real asynchrony left is Node's own (process.nextTick, microtasks,
 * setImmediate), which the sockets use to emit events. The driver lets that run
 * between pumps, a bounded number of turns.
 *
 *   const sim = await Sim.create({ mtu: 1500, impair: { loss: 0.05, seed: 7 } });
 *   ... sim.a.tcp.connect(...) ...
 *   await sim.run({ until: () => done, forMs: 60_000 });
 *
 * Impairment: the shaper wraps stack A's end of the link (through createStack's
 * own `impair` option, with the virtual clock as its scheduler), so every packet,
 * in both directions, crosses it exactly once.
 *
 * Determinism: the TCP layers get fixed ISN keys (which also seed the RFC 6056 ports); the shaper
 * is seeded; virtual time does not depend on how fast the host runs. One seed
 * gives one run.
 */
import { VirtualClock, seededRandom } from '@netstack/common';
import { createLinkPair, type LinkPair } from '@netstack/tun';
import { createStack, type Stack } from '@netstack/netstack';
import type { TcpLayerOptions } from '@netstack/tcp';

export const A_ADDR = '10.0.0.1';
export const B_ADDR = '10.0.0.2';

/** The virtual clock (@netstack/common): a min-heap of timers by (due time, creation order). */
export { VirtualClock };

/** mulberry32, the shaper's PRNG (exported for tests that need seeded randomness). */
export { seededRandom };

/** Deterministic bytes (xorshift32) so a mismatch names an offset. */
export function patternBytes(n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = (seed >>> 0) || 0x9e3779b9;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export interface ImpairParams {
  loss?: number;
  dup?: number;
  reorder?: number;
  corrupt?: number;
  delayMs?: number;
  seed?: number;
}

export interface SimOptions {
  mtu?: number;
  /** Seeds the TCP layers' ISN keys (the shaper has its own `impair.seed`). */
  seed?: number;
  /** Shaper on A's end (both directions). Omitted: a clean link. */
  impair?: ImpairParams;
  tcpOptions?: TcpLayerOptions;
  queueLimit?: number;
  /** Sees every packet put on the wire (after A's shaper on a->b, before it on b->a). */
  trace?: (packet: Uint8Array, direction: 'a->b' | 'b->a', now: number) => void;
}

export type RunOutcome = 'until' | 'quiet' | 'time' | 'steps';

export interface RunOptions {
  /** Stop as soon as this holds (checked after each settle). */
  until?: () => boolean;
  /** Virtual milliseconds from now at most (default 600 000). */
  forMs?: number;
  /** Timer firings at most (default 1 000 000). */
  maxSteps?: number;
}

/** Idle event-loop turns that count as quiet, and the bound on turns per settle. */
const IDLE_TURNS = 2;
const MAX_TURNS_PER_SETTLE = 100_000;

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export class Sim {
  readonly clock: VirtualClock;
  readonly pair: LinkPair;
  readonly a: Stack;
  readonly b: Stack;
  /** Event-loop turns spent settling, pumps that moved packets (diagnostics). */
  turns = 0;
  pumps = 0;

  readonly #wire: { cut: boolean };

  private constructor(clock: VirtualClock, pair: LinkPair, a: Stack, b: Stack, wire: { cut: boolean }) {
    this.#wire = wire;
    this.clock = clock;
    this.pair = pair;
    this.a = a;
    this.b = b;
  }

  static async create(o: SimOptions = {}): Promise<Sim> {
    const clock = new VirtualClock();
    const trace = o.trace;
    const wire = { cut: false };
    const pair = createLinkPair({
      mtu: o.mtu ?? 1500,
      autoDeliver: false,
      queueLimit: o.queueLimit ?? 1024,
      filter: (p: Uint8Array, d: 'a->b' | 'b->a') => {
        if (wire.cut) return 'drop';
        trace?.(p, d, clock.now());
        return 'pass';
      },
    });
    const seed = o.seed ?? 1;
    const tcp = (k: number): TcpLayerOptions => ({
      isnKey: new Uint8Array(patternBytes(16, seed * 31 + k)),
      ...o.tcpOptions,
    });
    const im = o.impair;
    const a = await createStack({
      link: pair.a,
      address: A_ADDR,
      clock,
      tcpOptions: tcp(0),
      ...(im !== undefined
        ? { impair: { loss: im.loss ?? 0, dup: im.dup ?? 0, reorder: im.reorder ?? 0, corrupt: im.corrupt ?? 0, delayMs: im.delayMs ?? 0, seed: im.seed ?? 1 } }
        : {}),
    });
    const b = await createStack({ link: pair.b, address: B_ADDR, clock, tcpOptions: tcp(1) });
    return new Sim(clock, pair, a, b, wire);
  }

  /**
   * Pumps the link and lets Node's queues (nextTick, microtasks, setImmediate) run
   * until no packet is queued for IDLE_TURNS turns in a row. Throws on a livelock
   * (packets moving forever without time advancing).
   */
  async settle(): Promise<void> {
    let idle = 0;
    for (let i = 0; i < MAX_TURNS_PER_SETTLE; i++) {
      const moved = this.pair.pump();
      if (moved > 0) this.pumps++;
      await turn();
      this.turns++;
      if (moved === 0 && this.pair.pending() === 0) {
        if (++idle >= IDLE_TURNS) return;
      } else {
        idle = 0;
      }
    }
    throw new Error(`livelock: packets still moving after ${MAX_TURNS_PER_SETTLE} turns at t=${this.clock.now()} ms`);
  }

  /** Cuts the wire (every packet from now on is lost, both ways) or mends it. */
  set cut(v: boolean) { this.#wire.cut = v; }
  get cut(): boolean { return this.#wire.cut; }

  /** Runs to `until`, to quiet (no timer left), or to the time / step bound. */
  async run(o: RunOptions = {}): Promise<RunOutcome> {
    const deadline = this.clock.now() + (o.forMs ?? 600_000);
    const maxSteps = o.maxSteps ?? 1_000_000;
    for (let step = 0; step < maxSteps; step++) {
      await this.settle();
      if (o.until?.() === true) return 'until';
      const next = this.clock.nextAt();
      if (next === Infinity) return 'quiet';
      if (next > deadline) {
        this.clock.advanceTo(deadline);
        return 'time';
      }
      this.clock.fireDue();
    }
    return 'steps';
  }

  /** Both stacks hold no connection, no TCP deadline, and the virtual clock has no timer left. */
  leaks(): string[] {
    const out: string[] = [];
    for (const [name, s] of [['A', this.a], ['B', this.b]] as const) {
      if (s.tcpLayer.connectionCount !== 0) {
        out.push(`${name}: ${s.tcpLayer.connectionCount} connection(s): ${s.tcpLayer.connections().map((c) => c.state).join(',')}`);
      }
      if (s.tcpLayer.pollAt() !== Infinity) out.push(`${name}: tcp pollAt ${s.tcpLayer.pollAt()}`);
      if (s.ip.pollAt() !== Infinity) out.push(`${name}: ip pollAt ${s.ip.pollAt()}`);
      const r = s.ip.reassemblyUsage();
      if (r.datagrams !== 0 || r.bytes !== 0) out.push(`${name}: reassembly ${r.datagrams} datagrams ${r.bytes} bytes`);
    }
    if (this.clock.pending !== 0) out.push(`virtual clock: ${this.clock.pending} timer(s) armed`);
    if (this.pair.pending() !== 0) out.push(`link: ${this.pair.pending()} packet(s) queued`);
    return out;
  }

  async close(): Promise<void> {
    await this.a.close();
    await this.b.close();
    this.pair.close();
  }
}
