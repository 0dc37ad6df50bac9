/**
 * An in-memory learning switch (IEEE 802.1D-2004 §7.8 "the learning process", §7.9
 * filtering database): several frame links on one segment, for tests and simulations.
 *
 * - `sw.port()` makes a port: a frame link (`send`, `mtu`, `setReceiver`, `stats`, `close`)
 *   to give an `EthernetInterface`.
 * - Learning: the source MAC of each frame (unicast only) is recorded against its port,
 *   with the time (`clock.now()`); an entry older than `agingMs` (802.1D's Ageing Time,
 *   default 300 s) is forgotten. The table is bounded (`tableSize`); learning a new MAC in a
 *   full table evicts the least recently seen one (counted), so a MAC flood degrades the
 *   switch into a hub (more flooding), never into unbounded memory.
 * - Forwarding: broadcast, multicast and unknown (or aged) unicast destinations are flooded
 *   to every other port; a known one goes to its port only; a frame whose destination sits
 *   on the port it came from is filtered.
 * - Delivery as createLinkPair's: each port has a bounded queue (`queueLimit` frames);
 *   `autoDeliver` (default true) delivers on one `setImmediate` per burst, else nothing
 *   moves until `pump()` (deterministic tests on virtual time: `while (sw.pump() > 0)`,
 *   bounded by the caller). Frames sent from inside a receiver wait for the next round.
 *   `send` copies the frame once per port it goes to.
 */
import type { Scheduler } from '@netstack/common';
import { isMulticastMac, readMac, type MacAddress } from './mac.js';
import type { FrameLink, FrameReceiver } from './interface.js';

export interface SwitchOptions {
  /** Largest frame a port takes, without FCS (default 1514: an IP MTU of 1500). */
  mtu?: number;
  /** MAC table entries at most (default 1024). */
  tableSize?: number;
  /** Forget a MAC not seen for this long (ms, default 300 000). */
  agingMs?: number;
  /** Frames queued per port at most (default 1024). */
  queueLimit?: number;
  autoDeliver?: boolean;
  /** The time for aging (a VirtualClock in tests). Only `now()` is used. */
  clock?: Pick<Scheduler, 'now'>;
  /** Sees every frame as it enters; 'drop' loses it (an impairment hook). */
  filter?: (frame: Uint8Array, from: number) => 'pass' | 'drop';
}

export interface SwitchStats {
  /** Frames sent into the switch. */
  InFrames: number;
  /** Too short to have addresses (under 14 bytes), or over the MTU: refused by `send`. */
  InErrors: number;
  Filtered: number;
  Forwarded: number;
  Flooded: number;
  /** Copies that found a full port queue, a closed port or no receiver. */
  TxDropped: number;
  Learned: number;
  /** A known MAC seen on another port (a station moved). */
  Moves: number;
  Aged: number;
  Evicted: number;
  /** MAC table entries now. */
  Entries: number;
}

export interface SwitchPortStats {
  RxPackets: number;
  RxBytes: number;
  TxPackets: number;
  TxBytes: number;
  TxDropped: number;
  RxDropped: number;
}

interface Station {
  port: number;
  seen: number;
}

const noReceiver: FrameReceiver = { packet() {} };

export class SwitchPort implements FrameLink {
  readonly mtu: number;
  readonly index: number;
  /** @internal */ receiver: FrameReceiver = noReceiver;
  /** @internal */ hasReceiver = false;
  /** @internal */ closed = false;
  /** @internal */ readonly queue: Uint8Array[] = [];
  /** @internal */ readonly counters: SwitchPortStats = { RxPackets: 0, RxBytes: 0, TxPackets: 0, TxBytes: 0, TxDropped: 0, RxDropped: 0 };
  readonly #sw: LearningSwitch;

  /** Made by `LearningSwitch.port()`. */
  constructor(sw: LearningSwitch, index: number, mtu: number) {
    this.#sw = sw;
    this.index = index;
    this.mtu = mtu;
  }

  send(frame: Uint8Array): boolean {
    return this.#sw.ingress(this, frame);
  }

  setReceiver(receiver: FrameReceiver): void {
    this.receiver = receiver;
    this.hasReceiver = true;
  }

  stats(): SwitchPortStats {
    return { ...this.counters };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.receiver = noReceiver;
    this.counters.RxDropped += this.queue.length;
    this.queue.length = 0;
  }
}

export class LearningSwitch {
  readonly mtu: number;
  readonly tableSize: number;
  readonly agingMs: number;
  readonly #queueLimit: number;
  readonly #auto: boolean;
  readonly #clock: Pick<Scheduler, 'now'>;
  readonly #filter: SwitchOptions['filter'];
  readonly #ports: SwitchPort[] = [];
  /** MAC → station; Map order is least recently seen first (refreshing re-inserts). */
  readonly #table = new Map<MacAddress, Station>();
  readonly #c: SwitchStats = {
    InFrames: 0, InErrors: 0, Filtered: 0, Forwarded: 0, Flooded: 0, TxDropped: 0, Learned: 0, Moves: 0, Aged: 0, Evicted: 0, Entries: 0,
  };
  #immediate: NodeJS.Immediate | undefined = undefined;

  constructor(options: SwitchOptions = {}) {
    const int = (name: string, v: number, min: number, max: number): number => {
      if (!Number.isInteger(v) || v < min || v > max) {
        const e = new RangeError(`The "${name}" option must be an integer in ${min}..${max}, got ${v}`);
        (e as RangeError & { code: string }).code = 'ERR_OUT_OF_RANGE';
        throw e;
      }
      return v;
    };
    this.mtu = int('mtu', options.mtu ?? 1514, 15, 65535 + 14);
    this.tableSize = int('tableSize', options.tableSize ?? 1024, 1, 1 << 20);
    this.agingMs = int('agingMs', options.agingMs ?? 300_000, 1, 2 ** 31 - 1);
    this.#queueLimit = int('queueLimit', options.queueLimit ?? 1024, 1, 1 << 20);
    this.#auto = options.autoDeliver ?? true;
    this.#clock = options.clock ?? { now: () => performance.now() };
    this.#filter = options.filter;
  }

  /** A new port on the segment. */
  port(): SwitchPort {
    const p = new SwitchPort(this, this.#ports.length, this.mtu);
    this.#ports.push(p);
    return p;
  }

  stats(): SwitchStats {
    return { ...this.#c, Entries: this.#table.size };
  }

  /** The port a MAC was last seen on (not aged), as the filtering database says. */
  lookup(mac: MacAddress): number | undefined {
    const s = this.#table.get(mac);
    if (s === undefined || this.#clock.now() - s.seen >= this.agingMs) return undefined;
    return s.port;
  }

  /** Frames queued towards all ports. */
  pending(): number {
    let n = 0;
    for (const p of this.#ports) n += p.queue.length;
    return n;
  }

  /** @internal A frame from `from`: learn, then forward or flood (copies into the queues). */
  ingress(from: SwitchPort, frame: Uint8Array): boolean {
    const c = this.#c;
    c.InFrames++;
    if (from.closed || frame.length < 14 || frame.length > this.mtu) {
      c.InErrors++;
      from.counters.TxDropped++;
      return false;
    }
    from.counters.TxPackets++;
    from.counters.TxBytes += frame.length;
    if (this.#filter !== undefined && this.#filter(frame, from.index) === 'drop') {
      c.Filtered++;
      return true;
    }
    const now = this.#clock.now();
    const src = readMac(frame, 6);
    if (!isMulticastMac(src)) this.#learn(src, from.index, now);
    const dst = readMac(frame, 0);
    if (!isMulticastMac(dst)) {
      const s = this.#table.get(dst);
      if (s !== undefined && now - s.seen < this.agingMs) {
        if (s.port === from.index) {
          c.Filtered++;
          return true;
        }
        c.Forwarded++;
        this.#enqueue(this.#ports[s.port]!, frame);
        return true;
      }
      if (s !== undefined) {
        this.#table.delete(dst);
        c.Aged++;
      }
    }
    c.Flooded++;
    for (const p of this.#ports) if (p !== from) this.#enqueue(p, frame);
    return true;
  }

  #learn(mac: MacAddress, port: number, now: number): void {
    const c = this.#c;
    const s = this.#table.get(mac);
    if (s !== undefined) {
      if (s.port !== port) c.Moves++;
      this.#table.delete(mac);
      s.port = port;
      s.seen = now;
      this.#table.set(mac, s);
      return;
    }
    // Make room: first what has aged (oldest first), else the least recently seen.
    while (this.#table.size >= this.tableSize) {
      const [oldMac, old] = this.#table.entries().next().value as [MacAddress, Station];
      this.#table.delete(oldMac);
      if (now - old.seen >= this.agingMs) c.Aged++;
      else c.Evicted++;
    }
    this.#table.set(mac, { port, seen: now });
    c.Learned++;
  }

  #enqueue(to: SwitchPort, frame: Uint8Array): void {
    if (to.closed || to.queue.length >= this.#queueLimit) {
      this.#c.TxDropped++;
      to.counters.RxDropped++;
      return;
    }
    to.queue.push(frame.slice());
    if (this.#auto && this.#immediate === undefined) {
      this.#immediate = setImmediate(() => {
        this.#immediate = undefined;
        this.pump();
      });
    }
  }

  /** Delivers what is queued now, port by port (each receiver's frames, then its batchEnd). Returns how many. */
  pump(): number {
    const counts = this.#ports.map((p) => p.queue.length);
    let delivered = 0;
    for (const [i, p] of this.#ports.entries()) {
      const n = counts[i]!;
      if (n === 0) continue;
      const frames = p.queue.splice(0, n);
      let got = 0;
      for (const f of frames) {
        if (p.closed || !p.hasReceiver) {
          p.counters.RxDropped++;
          this.#c.TxDropped++;
          continue;
        }
        p.counters.RxPackets++;
        p.counters.RxBytes += f.length;
        got++;
        p.receiver.packet(f);
      }
      delivered += got;
      if (got > 0 && !p.closed) p.receiver.batchEnd?.();
    }
    return delivered;
  }

  close(): void {
    for (const p of this.#ports) p.close();
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#immediate = undefined;
  }
}
