/**
 * Deterministic whole-stack simulation: two `Stack`s (10.0.0.1 and 10.0.0.2, and over
 * IPv6 fd00::1 and fd00::2 beside them) on an in-memory link pair that moves packets only when pumped, sharing ONE virtual
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
 * Family: `family: 6` (the default in the `sim6` vitest project, test/family.ts) gives
 * both stacks an IPv6 address beside the IPv4 one and makes A_ADDR/B_ADDR the IPv6 ones,
 * so the same tests run over IPv6; a link MTU below 1280 (the IPv6 minimum, RFC 8200 §5)
 * is raised to 1280 then (`sim.mtu` says what the link has). `familyLeaks()` proves the
 * traffic took the family asked for: the other family's IP counters stay at 0.
 *
 * Determinism: the TCP layers get fixed ISN keys (which also seed the RFC 6056 ports); the shaper
 * is seeded; virtual time does not depend on how fast the host runs. One seed
 * gives one run.
 */
import { VirtualClock, seededRandom } from '@netstack/common';
import { createLinkPair, type LinkPair } from '@netstack/tun';
import { createStack, type Stack } from '@netstack/netstack';
import type { TcpLayerOptions } from '@netstack/tcp';
import { FAMILY, type Family } from '../family.js';

export { FAMILY, FAMILY_NAME } from '../family.js';

const ADDR = { 4: ['10.0.0.1', '10.0.0.2'], 6: ['fd00::1', 'fd00::2'] } as const;
/** The run's family's addresses of A and B (what the tests connect to). */
export const A_ADDR: string = ADDR[FAMILY][0];
export const B_ADDR: string = ADDR[FAMILY][1];
/** The UDP socket type of the run's family. */
export const UDP_TYPE = FAMILY === 6 ? 'udp6' : 'udp4';
/** IPv6's minimum link MTU (RFC 8200 §5). */
export const IPV6_MIN_MTU = 1280;

/** A link MTU as a family can have it: at least 1280 over IPv6. */
export const linkMtu = (mtu: number, family: Family = FAMILY): number => (family === 6 ? Math.max(IPV6_MIN_MTU, mtu) : mtu);

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
  /** 4: IPv4 only (10.0.0.1/2); 6: IPv6 fd00::1/2 beside them, used by A_ADDR/B_ADDR. Default: the run's (FAMILY). */
  family?: Family;
  /** Link MTU (default 1500); at least 1280 with family 6. */
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
  readonly family: Family;
  /** The link's MTU (options.mtu, raised to 1280 over IPv6). */
  readonly mtu: number;
  /** A's and B's address in `family`. */
  readonly aAddr: string;
  readonly bAddr: string;
  /** Event-loop turns spent settling, pumps that moved packets (diagnostics). */
  turns = 0;
  pumps = 0;

  readonly #wire: { cut: boolean };

  private constructor(clock: VirtualClock, pair: LinkPair, a: Stack, b: Stack, wire: { cut: boolean }, family: Family, mtu: number) {
    this.#wire = wire;
    this.family = family;
    this.mtu = mtu;
    this.aAddr = ADDR[family][0];
    this.bAddr = ADDR[family][1];
    this.clock = clock;
    this.pair = pair;
    this.a = a;
    this.b = b;
  }

  static async create(o: SimOptions = {}): Promise<Sim> {
    const clock = new VirtualClock();
    const trace = o.trace;
    const wire = { cut: false };
    const family = o.family ?? FAMILY;
    const mtu = linkMtu(o.mtu ?? 1500, family);
    // Over IPv6, IPv4 beside it (createStack wants one IPv4 address): traffic must still take IPv6.
    const address = (i: 0 | 1): string | string[] => (family === 6 ? [ADDR[4][i], ADDR[6][i]] : ADDR[4][i]);
    const pair = createLinkPair({
      mtu,
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
      address: address(0),
      clock,
      tcpOptions: tcp(0),
      ...(im !== undefined
        ? { impair: { loss: im.loss ?? 0, dup: im.dup ?? 0, reorder: im.reorder ?? 0, corrupt: im.corrupt ?? 0, delayMs: im.delayMs ?? 0, seed: im.seed ?? 1 } }
        : {}),
    });
    const b = await createStack({ link: pair.b, address: address(1), clock, tcpOptions: tcp(1) });
    return new Sim(clock, pair, a, b, wire, family, mtu);
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
    out.push(...this.familyLeaks());
    if (this.clock.pending !== 0) out.push(`virtual clock: ${this.clock.pending} timer(s) armed`);
    if (this.pair.pending() !== 0) out.push(`link: ${this.pair.pending()} packet(s) queued`);
    return out;
  }

  /**
   * Traffic that took the other family: over IPv6, any packet the IPv4 layers sent or
   * received (Ip6 counters must carry it all); over IPv4, any IPv6 layer at all; and
   * packets on the wire without a datagram sent in the run's family. `close()` throws
   * on any, so every test that closes its Sim checks it.
   */
  familyLeaks(): string[] {
    const out: string[] = [];
    let sent = 0;
    for (const [name, s] of [['A', this.a], ['B', this.b]] as const) {
      sent += this.ipStat(s, 'OutRequests');
      const st = s.stats();
      if (this.family === 6) {
        const ip = st['ip']!;
        if ((ip['InReceives'] ?? 0) + (ip['OutRequests'] ?? 0) !== 0) out.push(`${name}: IPv4 traffic in an IPv6 run: InReceives ${ip['InReceives']} OutRequests ${ip['OutRequests']}`);
        if (st['ip6'] === undefined) out.push(`${name}: no IPv6 layer in an IPv6 run`);
      } else if (st['ip6'] !== undefined) {
        out.push(`${name}: an IPv6 layer in an IPv4 run`);
      }
    }
    if (this.pumps > 0 && sent === 0) out.push(`packets moved but no IPv${this.family} datagram was sent`);
    return out;
  }

  /** The run's family's IP counter (`ip` name as IPv4 counts it: 'InReceives' is 'Ip6InReceives' over IPv6). */
  ipStat(stack: Stack, name: string): number {
    const st = stack.stats();
    return this.family === 6 ? (st['ip6']?.[`Ip6${name}`] ?? 0) : (st['ip']?.[name] ?? 0);
  }

  /** The run's family's ICMP counter (`icmp` name as ICMPv4 counts it: 'InCsumErrors' is 'Icmp6InCsumErrors' over IPv6). */
  icmpStat(stack: Stack, name: string): number {
    const st = stack.stats();
    return this.family === 6 ? (st['icmp6']?.[`Icmp6${name}`] ?? 0) : (st['icmp']?.[name] ?? 0);
  }

  async close(): Promise<void> {
    const wrongFamily = this.a.closed || this.b.closed ? [] : this.familyLeaks();
    await this.a.close();
    await this.b.close();
    this.pair.close();
    if (wrongFamily.length > 0) throw new Error(`traffic outside the IPv${this.family} run: ${wrongFamily.join('; ')}`);
  }
}
