/**
 * A link shaper: loss, duplication, reordering, delay and corruption on any `Link`,
 * in both directions, deterministic for a seed. This kernel has no `tc netem`, so
 * this is how impairment reaches the wire here (`netstack serve --impair ...`), and
 * the simulation tests use it with a virtual clock.
 *
 * Spec text: `loss=3%,dup=1%,reorder=25%,delay=5ms,corrupt=0.1%,seed=42`
 *   loss     each packet is dropped with this probability
 *   dup      each surviving packet is sent twice with this probability
 *   delay    every packet is held this long (one-way, per direction)
 *   reorder  a packet is, with this probability, held back by an extra max(delay, 1 ms),
 *            so the packets behind it overtake it (unlike netem, whose `reorder` sends
 *            that share early; the effect, packets out of order, is the same)
 *   corrupt  one byte of the packet is flipped with this probability (beyond the IP
 *            header's first 20 bytes when it is longer, so transports see the damage;
 *            for IPv6 beyond its 40-byte header and a fragment header right after it:
 *            IPv6 has no header checksum, its addresses are bytes 8..39)
 *   ce       an ECN-capable IPv4 packet (ECT(0) or ECT(1), RFC 3168 §5) is marked CE
 *            (congestion experienced) with this probability, as an AQM router would
 *            (netem's `ecn`); the header checksum is updated (RFC 1624). Others pass.
 *   seed     the PRNG seed (default 1); the same seed and the same traffic give the
 *            same impairments
 *
 * Bounds: at most `maxQueued` packets (default 4096) are held for delay per direction;
 * beyond that packets are dropped and counted (`overflow`).
 *
 * Ownership: packets are copied when held (the Link contract: `send` borrows).
 */
import { DeadlineHeap, realTimeScheduler, seededRandom, type HeapEntry, type Scheduler } from '@netstack/common';
import type { Link, LinkReceiver, LinkStats } from './link.js';
import { argError } from './errors.js';

export { realTimeScheduler, seededRandom };

export interface ImpairSpec {
  loss: number;
  dup: number;
  reorder: number;
  corrupt: number;
  delayMs: number;
  seed: number;
  /** CE-marking probability for ECN-capable packets (absent: 0). */
  ce?: number;
}

/** The shaper's clock (the common `Scheduler`: now, setTimer, cancel). */
export type ImpairScheduler = Scheduler;

export interface ImpairOptions {
  scheduler?: ImpairScheduler;
  maxQueued?: number;
}

export interface ImpairStats {
  Lost: number;
  Duplicated: number;
  Reordered: number;
  Corrupted: number;
  /** Packets marked CE. */
  CeMarked: number;
  Delayed: number;
  Overflow: number;
}

const KEYS = new Set(['loss', 'dup', 'reorder', 'corrupt', 'ce', 'delay', 'seed']);

/** Parses `loss=3%,dup=1%,reorder=25%,delay=5ms,seed=N`; throws ERR_INVALID_ARG_VALUE naming the bad part. */
export function parseImpairSpec(text: string): ImpairSpec {
  const spec: ImpairSpec = { loss: 0, dup: 0, reorder: 0, corrupt: 0, delayMs: 0, seed: 1 };
  if (typeof text !== 'string' || text.trim() === '') throw argError('ERR_INVALID_ARG_VALUE', 'impairment spec is empty');
  for (const part of text.split(',')) {
    const [key, value, extra] = part.trim().split('=');
    if (!key || value === undefined || extra !== undefined || !KEYS.has(key)) {
      throw argError('ERR_INVALID_ARG_VALUE', `bad impairment '${part}': expected key=value with key one of ${[...KEYS].join(', ')}`);
    }
    if (key === 'seed') {
      if (!/^\d+$/.test(value)) throw argError('ERR_INVALID_ARG_VALUE', `bad impairment seed '${value}': a non-negative integer`);
      spec.seed = Number(value) >>> 0;
    } else if (key === 'delay') {
      const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(value);
      if (!m) throw argError('ERR_INVALID_ARG_VALUE', `bad impairment delay '${value}': e.g. 5ms`);
      spec.delayMs = Number(m[1]) * (m[2] === 's' ? 1000 : 1);
      if (spec.delayMs > 10_000) throw argError('ERR_INVALID_ARG_VALUE', `impairment delay '${value}' is over 10 s`);
    } else {
      const m = /^(\d+(?:\.\d+)?)(%)?$/.exec(value);
      const p = m ? Number(m[1]) / (m[2] ? 100 : 1) : NaN;
      if (!(p >= 0 && p <= 1)) throw argError('ERR_INVALID_ARG_VALUE', `bad impairment ${key} '${value}': a probability like 3% or 0.03`);
      spec[key as 'loss' | 'dup' | 'reorder' | 'corrupt' | 'ce'] = p;
    }
  }
  return spec;
}

export function formatImpairSpec(s: ImpairSpec): string {
  const pct = (p: number): string => `${+(p * 100).toFixed(4)}%`;
  const ce = s.ce !== undefined ? `,ce=${pct(s.ce)}` : '';
  return `loss=${pct(s.loss)},dup=${pct(s.dup)},reorder=${pct(s.reorder)},corrupt=${pct(s.corrupt)}${ce},delay=${s.delayMs}ms,seed=${s.seed}`;
}

/** Sets the ECN field of an IPv4 header to CE and updates its checksum incrementally (RFC 1624 eq. 3). */
function markCe(p: Uint8Array): void {
  const old = (p[0]! << 8) | p[1]!;
  p[1] = p[1]! | 3;
  const neu = (p[0]! << 8) | p[1]!;
  let sum = (~((p[10]! << 8) | p[11]!) & 0xffff) + (~old & 0xffff) + neu;
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  const hc = ~sum & 0xffff;
  p[10] = hc >>> 8;
  p[11] = hc & 0xff;
}

/** A packet held for delay: due at `heapDeadline`, first in first out between equal ones (`heapSeq`). */
interface Held extends HeapEntry {
  readonly heapSeq: number;
  readonly packet: Uint8Array;
}

/** One direction: decides each packet's fate and holds delayed ones in a due-time heap. */
class Shaper {
  private readonly heap = new DeadlineHeap<Held>();
  private timer: unknown;
  private timerDue = Infinity;
  private seq = 0;
  closed = false;

  constructor(
    private readonly spec: ImpairSpec,
    private readonly random: () => number,
    private readonly stats: ImpairStats,
    private readonly scheduler: ImpairScheduler,
    private readonly maxQueued: number,
    /** Delivers a packet; `last` is true for the last one of a burst released together. */
    private readonly out: (packet: Uint8Array, last: boolean) => void,
  ) {}

  get queued(): number {
    return this.heap.size;
  }

  /** Returns true when at least one copy will be (or was) delivered. */
  push(packet: Uint8Array): boolean {
    const s = this.spec;
    if (s.loss > 0 && this.random() < s.loss) {
      this.stats.Lost++;
      return true; // lost on the wire: the sender does not know
    }
    const copies = s.dup > 0 && this.random() < s.dup ? 2 : 1;
    if (copies === 2) this.stats.Duplicated++;
    for (let i = 0; i < copies; i++) {
      let p = packet;
      if (s.corrupt > 0 && this.random() < s.corrupt) {
        p = packet.slice();
        const from = corruptFrom(p);
        const at = from + Math.floor(this.random() * (p.length - from));
        p[at] = p[at]! ^ (1 << Math.floor(this.random() * 8));
        this.stats.Corrupted++;
      }
      if (s.ce !== undefined && s.ce > 0 && p.length >= 20 && p[0]! >> 4 === 4 && ((p[1]! & 3) === 1 || (p[1]! & 3) === 2) &&
        this.random() < s.ce) {
        if (p === packet) p = packet.slice();
        markCe(p);
        this.stats.CeMarked++;
      }
      let delay = s.delayMs;
      if (s.reorder > 0 && this.random() < s.reorder) {
        delay += Math.max(s.delayMs, 1);
        this.stats.Reordered++;
      }
      if (delay <= 0) {
        this.out(p, true);
        continue;
      }
      if (this.heap.size >= this.maxQueued) {
        this.stats.Overflow++;
        continue;
      }
      this.stats.Delayed++;
      const held: Held = { heapIndex: -1, heapDeadline: Infinity, heapSeq: this.seq++, packet: p === packet ? packet.slice() : p };
      this.heap.schedule(held, this.scheduler.now() + delay);
      this.arm();
    }
    return true;
  }

  private arm(): void {
    const due = this.heap.peekDeadline();
    if (due >= this.timerDue || this.closed) return;
    if (this.timer !== undefined) this.scheduler.cancel(this.timer);
    this.timerDue = due;
    this.timer = this.scheduler.setTimer(() => this.release(), Math.max(0, due - this.scheduler.now()));
  }

  private release(): void {
    this.timer = undefined;
    this.timerDue = Infinity;
    if (this.closed) return;
    const now = this.scheduler.now();
    while (this.heap.peekDeadline() <= now && !this.closed) {
      const h = this.heap.pop()!;
      const last = this.heap.peekDeadline() > now;
      this.out(h.packet, last);
    }
    this.arm();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.scheduler.cancel(this.timer);
    this.timer = undefined;
    this.heap.clear();
  }
}

export interface ImpairedLink extends Link {
  readonly spec: ImpairSpec;
  impairStats(): ImpairStats;
  /** Packets held for delay, both directions. */
  queued(): number;
}

/** Wraps `link` so both directions go through the impairments of `spec`. */
export function impair(link: Link, spec: ImpairSpec, options: ImpairOptions = {}): ImpairedLink {
  const scheduler = options.scheduler ?? realTimeScheduler;
  const maxQueued = options.maxQueued ?? 4096;
  const random = seededRandom(spec.seed);
  const stats: ImpairStats = { Lost: 0, Duplicated: 0, Reordered: 0, Corrupted: 0, CeMarked: 0, Delayed: 0, Overflow: 0 };
  let receiver: LinkReceiver = { packet() {} };
  let inBatch = false;
  const tx = new Shaper(spec, random, stats, scheduler, maxQueued, (p) => {
    link.send(p);
  });
  const rx = new Shaper(spec, random, stats, scheduler, maxQueued, (p, last) => {
    receiver.packet(p);
    // Packets released by the timer form their own batch; those passed straight
    // through during a device batch end with the device's batchEnd.
    if (last && !inBatch) receiver.batchEnd?.();
  });
  link.setReceiver({
    packet: (p) => {
      inBatch = true;
      rx.push(p);
    },
    batchEnd: () => {
      inBatch = false;
      receiver.batchEnd?.();
    },
  });
  return {
    spec,
    get mtu() {
      return link.mtu;
    },
    send: (packet) => (tx.closed ? false : tx.push(packet)),
    setReceiver: (r) => {
      receiver = r;
    },
    // What the inner link has received goes through the shaper now (delayed packets stay held).
    pollNow: () => link.pollNow?.() ?? 0,
    stats: (): LinkStats => link.stats(),
    impairStats: () => ({ ...stats }),
    queued: () => tx.queued + rx.queued,
    close: () => {
      tx.close();
      rx.close();
      link.close();
    },
  };
}

/**
 * Where corruption may start: past the IPv4 header's first 20 bytes, or past the IPv6
 * header (40 bytes, RFC 8200 §3) and a fragment header that follows it (8 bytes, §4.5),
 * which nothing checksums; 0 for a packet no longer than that.
 */
function corruptFrom(p: Uint8Array): number {
  let from = 20;
  if (p.length > 0 && p[0]! >> 4 === 6) from = p.length > 48 && p[6] === 44 ? 48 : 40;
  return p.length > from ? from : 0;
}
