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
 *   rate     a bottleneck: packets are serialised one after another at this rate
 *            (`100mbit`, `500kbit`, `1gbit`, `2.5mbit`; SI units, bits per second of IP
 *            packet bytes, no link-layer overhead), waiting in a FIFO drop-tail queue
 *   queue    the bottleneck queue's bound in packets, the one being serialised included
 *            (default 1000, Linux's txqueuelen); a packet that finds it full is dropped
 *            and counted (`QueueDropped`). Needs `rate`. `QueueDelaySumMs` /
 *            `QueuedPackets` is the mean time in the queue (`QueueDelayMaxMs` the longest):
 *            the queueing delay a sender causes (bufferbloat).
 *   queuebytes  the same queue's bound in bytes (`150000`, `64k`, `1m`: k/m are 1024s;
 *            default min(queue x 64 KiB, 64 MiB), so memory is bounded for any packet size)
 *   gel      bursty loss, a Gilbert–Elliott chain: `gel=P/R[/LB[/LG]]`. Per packet the
 *            chain moves good→bad with probability P and bad→good with R, then the
 *            packet is lost with probability LB in the bad state (default 100%) or LG in
 *            the good one (default 0%). With the defaults loss runs have a mean length
 *            of 1/R packets, runs delivered 1/P, and the long-run loss is P/(P+R)
 *            (netem's `loss gemodel p r 1-h 1-k`: its h and k are 1-LB and 1-LG).
 *            Independent of `loss`, which still applies on top.
 *
 * A packet goes: loss (`loss`, then `gel`) → duplication → corruption / CE → the
 * bottleneck queue (`rate`) → the propagation delay (`delay`, + the reorder hold) → out.
 *
 * Per direction: a plain spec applies to both directions, each with its own instance
 * of every setting (its own queue, its own chain). `up:SPEC;down:SPEC` gives each its
 * own: `up` is what the wrapped link sends, `down` what it receives; a direction not named
 * is not impaired. With a plain spec both directions draw from one PRNG stream, as
 * before (so every earlier spec gives the same impairments for the same seed); with
 * `up:`/`down:` each direction has its own stream, from its own seed, so traffic one
 * way never changes what happens the other way. The relay (`relay.ts`) uses one
 * shaper per direction (`createShaper`), each with its own stream.
 *
 * Bounds: at most `maxQueued` packets (default 4096) plus the bottleneck queue's bound
 * are held per direction; beyond that packets are dropped and counted (`Overflow`).
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
  /** Bottleneck rate in bits per second (absent: no bottleneck). */
  rateBps?: number;
  /** The bottleneck queue's bound in packets (with `rateBps`; default 1000). */
  queue?: number;
  /** The bottleneck queue's bound in bytes (with `rateBps`; default min(queue x 64 KiB, 64 MiB)). */
  queueBytes?: number;
  /** Gilbert–Elliott bursty loss (absent: none). */
  gel?: GilbertElliott;
  /**
   * The received direction's own settings (`up:…;down:…` in text); when present this
   * record's own fields apply to what the link sends only, and each direction draws
   * from its own PRNG stream.
   */
  down?: ImpairSpec;
}

/** A two-state loss chain (Gilbert 1960, Elliott 1963), as netem's `gemodel`. */
export interface GilbertElliott {
  /** Probability of moving good → bad, per packet. */
  p: number;
  /** Probability of moving bad → good, per packet. */
  r: number;
  /** Loss probability in the bad state (netem's 1-h). */
  lossBad: number;
  /** Loss probability in the good state (netem's 1-k). */
  lossGood: number;
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
  /** Packets dropped by the bottleneck's full queue (drop-tail). */
  QueueDropped: number;
  /** Of `Lost`, those the Gilbert–Elliott chain lost. */
  BurstLost: number;
  /** The most packets the bottleneck queue held at once. */
  QueueHighWater: number;
  /** Packets that passed the bottleneck queue. */
  QueuedPackets: number;
  /** Their total time in it, arrival to the end of their own serialisation (ms): the mean sojourn is this / QueuedPackets. */
  QueueDelaySumMs: number;
  /** The longest such time (ms). */
  QueueDelayMaxMs: number;
}

function sumStats(a: ImpairStats, b: ImpairStats): ImpairStats {
  const out = newImpairStats();
  for (const k of Object.keys(out) as Array<keyof ImpairStats>) out[k] = k === 'QueueHighWater' || k === 'QueueDelayMaxMs' ? Math.max(a[k], b[k]) : a[k] + b[k];
  return out;
}

/** Every impairment counter at zero. */
export function newImpairStats(): ImpairStats {
  return {
    Lost: 0, Duplicated: 0, Reordered: 0, Corrupted: 0, CeMarked: 0, Delayed: 0, Overflow: 0, QueueDropped: 0, BurstLost: 0,
    QueueHighWater: 0, QueuedPackets: 0, QueueDelaySumMs: 0, QueueDelayMaxMs: 0,
  };
}

const KEYS = new Set(['loss', 'dup', 'reorder', 'corrupt', 'ce', 'delay', 'seed', 'rate', 'queue', 'queuebytes', 'gel']);

/** An unimpaired direction. */
function noImpairment(): ImpairSpec {
  return { loss: 0, dup: 0, reorder: 0, corrupt: 0, delayMs: 0, seed: 1 };
}

/** The default byte bound of a bottleneck queue of `queue` packets. */
export function defaultQueueBytes(queue: number): number {
  return Math.min(queue * 65536, 64 * 1024 * 1024);
}

/**
 * Parses `loss=3%,dup=1%,reorder=25%,delay=5ms,rate=100mbit,queue=100,gel=1%/30%,seed=N`,
 * or `up:SPEC;down:SPEC` (each part optional); throws ERR_INVALID_ARG_VALUE naming the bad part.
 */
export function parseImpairSpec(text: string): ImpairSpec {
  if (typeof text !== 'string' || text.trim() === '') throw argError('ERR_INVALID_ARG_VALUE', 'impairment spec is empty');
  if (!/^\s*(up|down):/.test(text)) return parseOneDirection(text);
  const parts = new Map<string, ImpairSpec>();
  for (const part of text.split(';')) {
    const m = /^\s*(up|down):(.*)$/s.exec(part);
    if (!m) throw argError('ERR_INVALID_ARG_VALUE', `bad impairment direction '${part}': expected up:SPEC;down:SPEC`);
    if (parts.has(m[1]!)) throw argError('ERR_INVALID_ARG_VALUE', `impairment direction '${m[1]}' given twice`);
    parts.set(m[1]!, parseOneDirection(m[2]!));
  }
  return { ...(parts.get('up') ?? noImpairment()), down: parts.get('down') ?? noImpairment() };
}

function parseOneDirection(text: string): ImpairSpec {
  const spec: ImpairSpec = noImpairment();
  if (text.trim() === '') throw argError('ERR_INVALID_ARG_VALUE', 'impairment spec is empty');
  for (const part of text.split(',')) {
    const [key, value, extra] = part.trim().split('=');
    if (!key || value === undefined || extra !== undefined || !KEYS.has(key)) {
      throw argError('ERR_INVALID_ARG_VALUE', `bad impairment '${part}': expected key=value with key one of ${[...KEYS].join(', ')}`);
    }
    if (key === 'seed') {
      if (!/^\d+$/.test(value)) throw argError('ERR_INVALID_ARG_VALUE', `bad impairment seed '${value}': a non-negative integer`);
      spec.seed = Number(value) >>> 0;
    } else if (key === 'rate') {
      const m = /^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$/.exec(value);
      const bps = m ? Number(m[1]) * { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 }[m[2] as 'bit']! : NaN;
      if (!(bps >= 1000 && bps <= 1e11)) throw argError('ERR_INVALID_ARG_VALUE', `bad impairment rate '${value}': 1kbit..100gbit, e.g. 100mbit`);
      spec.rateBps = bps;
    } else if (key === 'queue') {
      if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 100_000) throw argError('ERR_INVALID_ARG_VALUE', `bad impairment queue '${value}': packets, 1..100000`);
      spec.queue = Number(value);
    } else if (key === 'queuebytes') {
      const m = /^(\d+)([km])?$/.exec(value);
      const n = m ? Number(m[1]) * (m[2] === 'k' ? 1024 : m[2] === 'm' ? 1024 * 1024 : 1) : NaN;
      if (!(n >= 1 && n <= 1024 * 1024 * 1024)) throw argError('ERR_INVALID_ARG_VALUE', `bad impairment queuebytes '${value}': bytes, 1..1g, e.g. 150000 or 64k`);
      spec.queueBytes = n;
    } else if (key === 'gel') {
      const probs = value.split('/').map((v) => {
        const m = /^(\d+(?:\.\d+)?)(%)?$/.exec(v);
        return m ? Number(m[1]) / (m[2] ? 100 : 1) : NaN;
      });
      if (probs.length < 2 || probs.length > 4 || !probs.every((p) => p >= 0 && p <= 1) || probs[1] === 0) {
        throw argError('ERR_INVALID_ARG_VALUE', `bad impairment gel '${value}': P/R[/LB[/LG]], probabilities like 1%/30% (R above 0)`);
      }
      spec.gel = { p: probs[0]!, r: probs[1]!, lossBad: probs[2] ?? 1, lossGood: probs[3] ?? 0 };
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
  if ((spec.queue !== undefined || spec.queueBytes !== undefined) && spec.rateBps === undefined) {
    throw argError('ERR_INVALID_ARG_VALUE', `impairment queue without a rate: give rate=… too (e.g. rate=100mbit,queue=100)`);
  }
  return spec;
}

export function formatImpairSpec(s: ImpairSpec): string {
  if (s.down !== undefined) return `up:${formatOne(s)};down:${formatOne(s.down)}`;
  return formatOne(s);
}

function formatOne(s: ImpairSpec): string {
  const pct = (p: number): string => `${+(p * 100).toFixed(4)}%`;
  const ce = s.ce !== undefined ? `,ce=${pct(s.ce)}` : '';
  let extra = '';
  if (s.rateBps !== undefined) extra += `,rate=${+(s.rateBps / 1000).toFixed(6)}kbit`;
  if (s.queue !== undefined) extra += `,queue=${s.queue}`;
  if (s.queueBytes !== undefined) extra += `,queuebytes=${s.queueBytes}`;
  if (s.gel !== undefined) extra += `,gel=${pct(s.gel.p)}/${pct(s.gel.r)}/${pct(s.gel.lossBad)}/${pct(s.gel.lossGood)}`;
  return `loss=${pct(s.loss)},dup=${pct(s.dup)},reorder=${pct(s.reorder)},corrupt=${pct(s.corrupt)}${ce},delay=${s.delayMs}ms${extra},seed=${s.seed}`;
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
  private readonly maxHeld: number;
  /** Gilbert–Elliott state: true while bad. */
  private bad = false;
  // The bottleneck queue (rate): each accepted packet's departure time and size, FIFO,
  // from `qHead` on; `busyUntil` is when the last accepted one finishes serialisation.
  private readonly qDepart: number[] = [];
  private readonly qSize: number[] = [];
  private qHead = 0;
  private qBytes = 0;
  private busyUntil = -Infinity;
  private readonly qLimit: number;
  private readonly qByteLimit: number;
  closed = false;

  constructor(
    private readonly spec: ImpairSpec,
    private readonly random: () => number,
    private readonly stats: ImpairStats,
    private readonly scheduler: ImpairScheduler,
    maxQueued: number,
    /** Delivers a packet; `last` is true for the last one of a burst released together. */
    private readonly out: (packet: Uint8Array, last: boolean) => void,
  ) {
    this.qLimit = spec.rateBps === undefined ? 0 : spec.queue ?? 1000;
    this.qByteLimit = spec.rateBps === undefined ? 0 : spec.queueBytes ?? defaultQueueBytes(this.qLimit);
    this.maxHeld = maxQueued + this.qLimit;
  }

  get queued(): number {
    return this.heap.size;
  }

  /** Packets in the bottleneck queue now (the one being serialised included). */
  get bottleneckQueued(): number {
    this.drainQueue(this.scheduler.now());
    return this.qDepart.length - this.qHead;
  }

  /** Returns true when at least one copy will be (or was) delivered. */
  push(packet: Uint8Array): boolean {
    const s = this.spec;
    if (s.loss > 0 && this.random() < s.loss) {
      this.stats.Lost++;
      return true; // lost on the wire: the sender does not know
    }
    const ge = s.gel;
    if (ge !== undefined) {
      // The chain moves first, then the packet meets the state it is in (netem's order).
      this.bad = this.bad ? !(this.random() < ge.r) : this.random() < ge.p;
      const lossP = this.bad ? ge.lossBad : ge.lossGood;
      if (lossP > 0 && this.random() < lossP) {
        this.stats.Lost++;
        this.stats.BurstLost++;
        return true;
      }
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
      if (s.rateBps !== undefined) {
        const wait = this.enqueue(p.length);
        if (wait < 0) continue;
        delay += wait;
      }
      if (s.reorder > 0 && this.random() < s.reorder) {
        delay += Math.max(s.delayMs, 1);
        this.stats.Reordered++;
      }
      if (delay <= 0) {
        this.out(p, true);
        continue;
      }
      if (this.heap.size >= this.maxHeld) {
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

  /** Forgets the packets whose serialisation ended by `now`. */
  private drainQueue(now: number): void {
    while (this.qHead < this.qDepart.length && this.qDepart[this.qHead]! <= now) {
      this.qBytes -= this.qSize[this.qHead]!;
      this.qHead++;
    }
    if (this.qHead > 1024 && this.qHead * 2 > this.qDepart.length) {
      this.qDepart.splice(0, this.qHead);
      this.qSize.splice(0, this.qHead);
      this.qHead = 0;
    }
  }

  /**
   * The bottleneck: a FIFO drop-tail queue served at `rateBps`. Returns how long the packet
   * waits and is serialised (ms) before it leaves the queue, or -1 when the queue is full.
   */
  private enqueue(size: number): number {
    const now = this.scheduler.now();
    this.drainQueue(now);
    const inQueue = this.qDepart.length - this.qHead;
    if (inQueue >= this.qLimit || this.qBytes + size > this.qByteLimit) {
      this.stats.QueueDropped++;
      return -1;
    }
    const depart = Math.max(now, this.busyUntil) + (size * 8000) / this.spec.rateBps!;
    this.busyUntil = depart;
    this.qDepart.push(depart);
    this.qSize.push(size);
    this.qBytes += size;
    if (inQueue + 1 > this.stats.QueueHighWater) this.stats.QueueHighWater = inQueue + 1;
    const sojourn = depart - now;
    this.stats.QueuedPackets++;
    this.stats.QueueDelaySumMs += sojourn;
    if (sojourn > this.stats.QueueDelayMaxMs) this.stats.QueueDelayMaxMs = sojourn;
    return sojourn;
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
    this.qDepart.length = 0;
    this.qSize.length = 0;
    this.qHead = 0;
    this.qBytes = 0;
  }
}

/** One direction of impairment, on its own: what the relay puts between two devices. */
export interface DirectionalShaper {
  readonly spec: ImpairSpec;
  /** Takes a packet (borrowed; copied when held). False once closed. */
  push(packet: Uint8Array): boolean;
  stats(): ImpairStats;
  /** Packets held (bottleneck queue and delay), at most `maxQueued` + the queue bound. */
  queued(): number;
  /** Packets in the bottleneck queue now. */
  bottleneckQueued(): number;
  close(): void;
}

/**
 * One direction: `out` receives each packet when it leaves (borrowed for the call; `last`
 * true for the last of those leaving together). Its own PRNG stream from `spec.seed`
 * (`spec.down` is ignored: a shaper is one direction).
 */
export function createShaper(spec: ImpairSpec, out: (packet: Uint8Array, last: boolean) => void, options: ImpairOptions = {}): DirectionalShaper {
  const stats = newImpairStats();
  const shaper = new Shaper(spec, seededRandom(spec.seed), stats, options.scheduler ?? realTimeScheduler, options.maxQueued ?? 4096, out);
  return {
    spec,
    push: (p) => (shaper.closed ? false : shaper.push(p)),
    stats: () => ({ ...stats }),
    queued: () => shaper.queued,
    bottleneckQueued: () => shaper.bottleneckQueued,
    close: () => shaper.close(),
  };
}

export interface ImpairedLink extends Link {
  readonly spec: ImpairSpec;
  /** The counters of both directions summed (QueueHighWater: the larger), or of one: `up` what the link sends, `down` what it receives. */
  impairStats(direction?: 'up' | 'down'): ImpairStats;
  /** Packets held for delay, both directions. */
  queued(): number;
}

/** Wraps `link` so both directions go through the impairments of `spec`. */
export function impair(link: Link, spec: ImpairSpec, options: ImpairOptions = {}): ImpairedLink {
  const scheduler = options.scheduler ?? realTimeScheduler;
  const maxQueued = options.maxQueued ?? 4096;
  // A plain spec: both directions on one stream (as always); up/down: one stream each.
  const random = seededRandom(spec.seed);
  const down = spec.down;
  const upStats = newImpairStats();
  const downStats = newImpairStats();
  let receiver: LinkReceiver = { packet() {} };
  let inBatch = false;
  const tx = new Shaper(spec, random, upStats, scheduler, maxQueued, (p) => {
    link.send(p);
  });
  const rx = new Shaper(down ?? spec, down === undefined ? random : seededRandom(down.seed), downStats, scheduler, maxQueued, (p, last) => {
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
    impairStats: (direction) => (direction === 'up' ? { ...upStats } : direction === 'down' ? { ...downStats } : sumStats(upStats, downStats)),
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
