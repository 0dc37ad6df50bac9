/**
 * The IPv4 neighbour cache (ARP cache) as a pure state machine: time is an argument
 * (`now`, ms), timeouts are `pollAt()` / `poll(now)`, and what the cache wants done (send
 * an ARP request, send the packets that waited, tell their owner resolution failed) goes
 * out through a `NeighbourHost` it is given. It reads no clock and arms no timer.
 *
 * States are Linux's NUD states (net/core/neighbour.c), which implement RFC 1122
 * §2.3.2.1's "prevent ARP flooding" and cache-validation advice (and mirror RFC 4861 §7.3's
 * neighbour unreachability detection):
 *
 *   (none) --output--> INCOMPLETE --reply--> REACHABLE --reachableMs--> STALE
 *   INCOMPLETE --multicastProbes requests unanswered--> FAILED (waiting packets: unreachable)
 *   STALE --output--> DELAY --delayFirstProbeMs, no confirmation--> PROBE --unicastProbes
 *   unanswered--> FAILED;  DELAY/PROBE --confirmation--> REACHABLE
 *   STALE, FAILED --unused for gcStaleMs--> (removed)
 *
 * - Resolution (RFC 1122 §2.3.2.1: at most one request per second per destination):
 *   `multicastProbes` broadcast requests `retransMs` apart; `unicastProbes` unicast ones to
 *   the known address in PROBE. A FAILED entry asked again starts over (as Linux).
 * - Waiting packets: each INCOMPLETE entry keeps copies of the packets sent to it, bounded
 *   in bytes per neighbour (`queueBytes`) and over the whole table (`totalQueueBytes`);
 *   over the bound the OLDEST is dropped (Linux's unres_qlen_bytes), counted in
 *   UnresolvedDiscards. On failure each waiting packet goes to `host.unreachable` (Linux's
 *   arp_error_report: the sender learns EHOSTUNREACH).
 * - Updates (`update`): RFC 826's merge. A changed address is taken only with `override`
 *   (a gratuitous ARP, or `locktimeMs` after the entry's last update; Linux's locktime keeps
 *   the first of two racing replies), else ignored and counted.
 * - Bounded table (`maxEntries`, Linux gc_thresh3): entries are created only by our own
 *   resolution (`output`) and by requests for our addresses (`create`, RFC 826: "if I am
 *   the target and the pair was not merged, add it"), never by other ARP traffic. When full,
 *   a new entry evicts, in order: a FAILED entry, a STALE entry never used to send, a STALE
 *   entry used before; oldest first. Entries in active use (INCOMPLETE, REACHABLE, DELAY,
 *   PROBE) are evicted only for our own output (`output`), the oldest INCOMPLETE first, then
 *   the one whose state changed longest ago (InUseEvictions; Linux's forced GC also takes
 *   any entry not updated for 5 s): a station that makes us resolve thousands of fake
 *   neighbours (echo requests from spoofed on-link sources) would otherwise fill the table
 *   with INCOMPLETE entries and lock every new neighbour out. Learning (`create`) never
 *   evicts them: with none evictable the new entry is refused (TableFulls), so an ARP flood
 *   from thousands of fake senders only churns the STALE entries it created itself.
 */
import { DeadlineHeap, type HeapEntry } from '@netstack/common';
import type { MacAddress } from './mac.js';

/** An IPv4 address (number) or an IPv6 one (@netstack/ip's 16-character latin1 string). */
export type NeighbourKey = number | string;

export type NudState = 'INCOMPLETE' | 'REACHABLE' | 'STALE' | 'DELAY' | 'PROBE' | 'FAILED';

export interface NeighbourParams {
  /** Entries at most (Linux gc_thresh3: 1024). */
  maxEntries: number;
  /** Between two requests for one neighbour (Linux retrans_time, RFC 1122 §2.3.2.1: 1 s). */
  retransMs: number;
  /** Broadcast requests before an unresolved neighbour fails (Linux mcast_solicit: 3). */
  multicastProbes: number;
  /** Unicast requests in PROBE before a known neighbour fails (Linux ucast_solicit: 3). */
  unicastProbes: number;
  /** REACHABLE lasts a random 0.5..1.5 times this after a confirmation (Linux base_reachable_time: 30 s). */
  baseReachableMs: number;
  /** DELAY waits this long for an upper-layer confirmation before probing (Linux: 5 s). */
  delayFirstProbeMs: number;
  /** A STALE or FAILED entry unused this long is removed (Linux gc_stale_time: 60 s). */
  gcStaleMs: number;
  /** A different address within this time of the last update is ignored unless gratuitous (Linux locktime: 1 s). */
  locktimeMs: number;
  /** Bytes of packets waiting per neighbour (Linux unres_qlen_bytes is 212992; we keep less). */
  queueBytes: number;
  /** Bytes of packets waiting over all neighbours. */
  totalQueueBytes: number;
}

function checkedParams(p: NeighbourParams): Readonly<NeighbourParams> {
  for (const [k, v] of Object.entries(p)) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < (k === 'locktimeMs' ? 0 : 1) || v > 2 ** 31 - 1) {
      const err = new RangeError(`neighbour parameter ${k} must be an integer in ${k === 'locktimeMs' ? 0 : 1}..2^31-1; got ${String(v)}`);
      (err as RangeError & { code: string }).code = 'ERR_OUT_OF_RANGE';
      throw err;
    }
  }
  return Object.freeze(p);
}

export const DEFAULT_NEIGHBOUR_PARAMS: Readonly<NeighbourParams> = Object.freeze({
  maxEntries: 1024,
  retransMs: 1000,
  multicastProbes: 3,
  unicastProbes: 3,
  baseReachableMs: 30_000,
  delayFirstProbeMs: 5000,
  gcStaleMs: 60_000,
  locktimeMs: 1000,
  queueBytes: 64 * 1024,
  totalQueueBytes: 1024 * 1024,
});

/** What the cache asks of the interface. Called after the cache is consistent again. */
export interface NeighbourHost<K extends NeighbourKey = number> {
  /** Send an ARP request for `target`: broadcast when `mac` is undefined, else unicast to `mac` (PROBE). */
  solicit(target: K, mac: MacAddress | undefined, now: number): void;
  /** `target` resolved to `mac`: send this packet, which waited for it (called in order). */
  transmit(packet: Uint8Array, mac: MacAddress, now: number): void;
  /** Resolution of `target` failed: this packet, which waited for it, cannot be delivered (EHOSTUNREACH). */
  unreachable(packet: Uint8Array, target: K, now: number): void;
}

/** Counters, after Linux's /proc/net/stat/arp_cache, in this project's PascalCase. */
export interface NeighbourStats {
  /** Entries now (a gauge). */
  Entries: number;
  /** Bytes of packets waiting for resolution now (a gauge). */
  QueuedBytes: number;
  Allocs: number;
  Destroys: number;
  /** `output` calls, and those that found a usable address at once. */
  Lookups: number;
  Hits: number;
  /** Requests sent: broadcast (INCOMPLETE) and unicast (PROBE). */
  OutSolicits: number;
  OutUnicastProbes: number;
  /** Resolutions that ended in FAILED. */
  ResFailed: number;
  /** Waiting packets dropped: over a queue bound (oldest first) or larger than the bound. */
  UnresolvedDiscards: number;
  /** Waiting packets handed to `host.unreachable` after a failed resolution. */
  UnreachableReports: number;
  /** New entries refused: the table was full of entries in active use (learning only). */
  TableFulls: number;
  /** Entries in active use evicted for our own output (oldest INCOMPLETE, then oldest state change). */
  InUseEvictions: number;
  /** Entries evicted to make room (FAILED, then never-used STALE, then STALE). */
  ForcedEvictions: number;
  /** STALE/FAILED entries removed after gcStaleMs unused. */
  GcRemoved: number;
  /** Updates that changed the address of an entry. */
  AddressChanges: number;
  /** Different addresses ignored within locktime. */
  LockTimeIgnored: number;
  /** Confirmations that made an entry REACHABLE. */
  Confirmations: number;
}

function newStats(): NeighbourStats {
  return {
    Entries: 0, QueuedBytes: 0, Allocs: 0, Destroys: 0, Lookups: 0, Hits: 0, OutSolicits: 0, OutUnicastProbes: 0,
    ResFailed: 0, UnresolvedDiscards: 0, UnreachableReports: 0, TableFulls: 0, InUseEvictions: 0, ForcedEvictions: 0, GcRemoved: 0,
    AddressChanges: 0, LockTimeIgnored: 0, Confirmations: 0,
  };
}

/** One neighbour. */
class Entry<K> implements HeapEntry {
  heapIndex = -1;
  heapDeadline = Infinity;
  readonly heapSeq: number;
  readonly ip: K;
  mac: MacAddress | undefined = undefined;
  state: NudState = 'INCOMPLETE';
  /** Requests sent in this INCOMPLETE/PROBE round. */
  probes = 0;
  /** Last confirmation (reply), last use for sending, last update of the address/state. */
  confirmed = -Infinity;
  used = -Infinity;
  updated: number;
  /** Used for sending at least once (eviction prefers entries that never were). */
  everUsed = false;
  /** When REACHABLE ends (set on confirmation). */
  reachableUntil = -Infinity;
  /** When DELAY started. */
  delaySince = -Infinity;
  queue: Uint8Array[] = [];
  queueBytes = 0;

  constructor(ip: K, seq: number, now: number) {
    this.ip = ip;
    this.heapSeq = seq;
    this.updated = now;
  }
}

export interface NeighbourEntryInfo<K extends NeighbourKey = number> {
  ip: K;
  mac: MacAddress | undefined;
  state: NudState;
  /** Packets waiting. */
  queued: number;
}

/** The kind of an address update (`update`). */
export type NeighbourUpdate =
  /** A reply to us (unicast): the neighbour answered, REACHABLE. */
  | 'reply'
  /** Any other ARP from it (a request, a broadcast reply, a gratuitous ARP): STALE when the address is new. */
  | 'stale';

export class NeighbourCache<K extends NeighbourKey = number> {
  /** Replaced whole (never mutated) by `setTimers`. */
  #params: Readonly<NeighbourParams>;
  readonly #host: NeighbourHost<K>;
  readonly #random: () => number;
  readonly #table = new Map<K, Entry<K>>();
  readonly #heap = new DeadlineHeap<Entry<K>>();
  /** Evictable entries, oldest first (a Set keeps insertion order; re-adding moves to the end). */
  readonly #failed = new Set<Entry<K>>();
  readonly #staleUnused = new Set<Entry<K>>();
  readonly #staleUsed = new Set<Entry<K>>();
  /** Entries in active use, evicted only for our own output: INCOMPLETE ones, the others (by last state change). */
  readonly #incomplete = new Set<Entry<K>>();
  readonly #inUse = new Set<Entry<K>>();
  readonly #c = newStats();
  #seq = 0;

  constructor(host: NeighbourHost<K>, params: Partial<NeighbourParams> = {}, random: () => number = Math.random) {
    this.#params = checkedParams({ ...DEFAULT_NEIGHBOUR_PARAMS, ...params });
    this.#host = host;
    this.#random = random;
  }

  get params(): Readonly<NeighbourParams> {
    return this.#params;
  }

  /**
   * RFC 4861 §6.3.4: a Router Advertisement's Reachable Time and Retrans Timer (the caller
   * passes the non-zero ones) become BaseReachableTime and RetransTimer: the next
   * confirmation draws its reachable time from the new base, the next solicitation waits the
   * new interval. Returns whether anything changed.
   */
  setTimers(timers: { baseReachableMs?: number; retransMs?: number }): boolean {
    const next = checkedParams({ ...this.params, ...timers });
    if (next.baseReachableMs === this.params.baseReachableMs && next.retransMs === this.params.retransMs) return false;
    this.#params = next;
    return true;
  }

  get size(): number {
    return this.#table.size;
  }

  stats(): NeighbourStats {
    return { ...this.#c, Entries: this.#table.size };
  }

  /** The entry for `ip`, as `ip neigh` shows it. */
  get(ip: K): NeighbourEntryInfo<K> | undefined {
    const e = this.#table.get(ip);
    return e === undefined ? undefined : { ip: e.ip, mac: e.mac, state: e.state, queued: e.queue.length };
  }

  /**
   * Whether `output(ip, …)` would return an address now rather than queue (REACHABLE,
   * STALE, DELAY, PROBE): what the interface asks before it hands over a super-segment,
   * which cannot wait in the queue. Changes nothing, allocates nothing.
   */
  usable(ip: K): boolean {
    const s = this.#table.get(ip)?.state;
    return s !== undefined && s !== 'INCOMPLETE' && s !== 'FAILED';
  }

  entries(): NeighbourEntryInfo<K>[] {
    return [...this.#table.keys()].map((ip) => this.get(ip)!);
  }

  has(ip: K): boolean {
    return this.#table.has(ip);
  }

  // ---- sending -------------------------------------------------------------------------

  /**
   * A packet for next hop `ip`. Returns the address to send it to now; or 'queued' (a
   * copy waits for resolution, which this call may start); or 'dropped' (larger than the
   * queue bound, or the table is full of entries in active use; counted).
   * `prepare`, when given, is called on the queued copy before it is kept (the interface
   * completes an offloaded packet's partial checksum there: the copy leaves later by plain send).
   */
  output(ip: K, packet: Uint8Array, now: number, prepare?: (copy: Uint8Array) => void): MacAddress | 'queued' | 'dropped' {
    const c = this.#c;
    c.Lookups++;
    let e = this.#table.get(ip);
    if (e !== undefined) {
      e.used = now;
      e.everUsed = true;
      switch (e.state) {
        case 'REACHABLE':
        case 'DELAY':
        case 'PROBE':
          c.Hits++;
          return e.mac!;
        case 'STALE':
          // RFC 4861 §7.3.3 (Linux the same for ARP): use the address, but expect a
          // confirmation within the DELAY time or probe.
          c.Hits++;
          e.delaySince = now;
          this.#setState(e, 'DELAY', now + this.params.delayFirstProbeMs);
          return e.mac!;
        case 'INCOMPLETE':
          return this.#enqueue(e, packet, prepare);
        case 'FAILED': {
          // Asked again: a new resolution round (Linux neigh_event_send).
          const r = this.#enqueue(e, packet, prepare);
          if (r === 'queued') this.#startResolution(e, now);
          return r;
        }
      }
    }
    if (packet.byteLength > this.params.queueBytes || packet.byteLength > this.params.totalQueueBytes) {
      c.UnresolvedDiscards++;
      return 'dropped';
    }
    e = this.#allocate(ip, now, true);
    if (e === undefined) return 'dropped';
    e.used = now;
    e.everUsed = true;
    const r = this.#enqueue(e, packet, prepare);
    this.#startResolution(e, now);
    return r;
  }

  // ---- receiving -----------------------------------------------------------------------

  /**
   * RFC 826's merge step: an ARP packet from `ip` with sender address `mac`, when we have an
   * entry for `ip` (returns false, changing nothing, when we have none). `override`: a
   * gratuitous ARP, whose address is taken at once even within locktime.
   */
  update(ip: K, mac: MacAddress, kind: NeighbourUpdate, now: number, override = false): boolean {
    const e = this.#table.get(ip);
    if (e === undefined) return false;
    this.#merge(e, mac, kind, now, override);
    return true;
  }

  /**
   * RFC 826: "if I am the target and the pair was not merged, add it": a request for our
   * address from a neighbour we had no entry for. The entry starts STALE (Linux's
   * neigh_event_ns). Refused (counted) when the table is full of entries in active use.
   */
  create(ip: K, mac: MacAddress, now: number): boolean {
    if (this.#table.has(ip)) return this.update(ip, mac, 'stale', now);
    const e = this.#allocate(ip, now);
    if (e === undefined) return false;
    e.mac = mac;
    this.#setState(e, 'STALE', now + this.params.gcStaleMs);
    return true;
  }

  /**
   * Forward progress seen by an upper layer (a TCP ACK for new data; Linux's neigh_confirm,
   * RFC 4861 §7.3.1): the neighbour is REACHABLE without an ARP exchange.
   */
  confirm(ip: K, now: number): void {
    const e = this.#table.get(ip);
    if (e === undefined || e.mac === undefined || e.state === 'INCOMPLETE' || e.state === 'FAILED') return;
    this.#reachable(e, now);
  }

  /** Forgets `ip` (its waiting packets are dropped, not reported). */
  delete(ip: K): boolean {
    const e = this.#table.get(ip);
    if (e === undefined) return false;
    this.#destroy(e);
    return true;
  }

  /** Forgets everything (waiting packets dropped). */
  clear(): void {
    for (const e of [...this.#table.values()]) this.#destroy(e);
  }

  // ---- time ----------------------------------------------------------------------------

  /** When `poll` has something to do next; Infinity when nothing is due. */
  pollAt(): number {
    return this.#heap.peekDeadline();
  }

  /** Runs every timeout due at `now`. */
  poll(now: number): void {
    for (let guard = this.#table.size * 2 + 8; guard > 0 && this.#heap.peekDeadline() <= now; guard--) {
      const e = this.#heap.pop()!;
      this.#timeout(e, now);
    }
  }

  #timeout(e: Entry<K>, now: number): void {
    const p = this.params;
    switch (e.state) {
      case 'REACHABLE':
        // RFC 4861 §7.3.3: no confirmation for ReachableTime.
        this.#setState(e, 'STALE', Math.max(e.used, e.updated, now) + p.gcStaleMs);
        return;
      case 'DELAY':
        if (e.confirmed >= e.delaySince) {
          this.#reachable(e, now);
          return;
        }
        e.probes = 0;
        this.#setState(e, 'PROBE', now);
        this.#probe(e, now);
        return;
      case 'INCOMPLETE':
      case 'PROBE': {
        const max = e.state === 'INCOMPLETE' ? p.multicastProbes : p.unicastProbes;
        if (e.probes >= max) {
          this.#fail(e, now);
          return;
        }
        this.#probe(e, now);
        return;
      }
      case 'STALE':
      case 'FAILED': {
        const idle = Math.max(e.used, e.updated) + p.gcStaleMs;
        if (now < idle) {
          this.#heap.schedule(e, idle);
          return;
        }
        this.#c.GcRemoved++;
        this.#destroy(e);
        return;
      }
    }
  }

  // ---- internals -----------------------------------------------------------------------

  /** A new entry, evicting one when full; entries in use only when `forOutput` (see the header). */
  #allocate(ip: K, now: number, forOutput = false): Entry<K> | undefined {
    const c = this.#c;
    if (this.#table.size >= this.params.maxEntries) {
      let victim = first(this.#failed) ?? first(this.#staleUnused) ?? first(this.#staleUsed);
      if (victim === undefined && forOutput) {
        victim = first(this.#incomplete) ?? first(this.#inUse);
        if (victim !== undefined) c.InUseEvictions++;
      }
      if (victim === undefined) {
        c.TableFulls++;
        return undefined;
      }
      c.ForcedEvictions++;
      this.#destroy(victim);
    }
    const e = new Entry(ip, this.#seq++, now);
    this.#table.set(ip, e);
    c.Allocs++;
    return e;
  }

  #destroy(e: Entry<K>): void {
    this.#heap.remove(e);
    this.#unlist(e);
    this.#dropQueue(e);
    if (this.#table.get(e.ip) === e) {
      this.#table.delete(e.ip);
      this.#c.Destroys++;
    }
  }

  /** Out of the eviction lists. */
  #unlist(e: Entry<K>): void {
    this.#failed.delete(e);
    this.#staleUnused.delete(e);
    this.#staleUsed.delete(e);
    this.#incomplete.delete(e);
    this.#inUse.delete(e);
  }

  /** The one place an entry changes state (and its timer). */
  #setState(e: Entry<K>, state: NudState, deadline: number): void {
    // REACHABLE again (confirm: every TCP ACK for new data) only moves the deadline: the entry
    // keeps its place in its eviction list (ordered by state change, and this is none).
    if (state === 'REACHABLE' && e.state === 'REACHABLE') { this.#heap.schedule(e, deadline); return; }
    this.#unlist(e);
    e.state = state;
    if (state === 'FAILED') this.#failed.add(e);
    else if (state === 'STALE') (e.everUsed ? this.#staleUsed : this.#staleUnused).add(e);
    else if (state === 'INCOMPLETE') this.#incomplete.add(e);
    else this.#inUse.add(e);
    this.#heap.schedule(e, deadline);
  }

  #startResolution(e: Entry<K>, now: number): void {
    e.probes = 0;
    e.mac = undefined;
    this.#setState(e, 'INCOMPLETE', now);
    this.#probe(e, now);
  }

  /** One request now and the next timeout `retransMs` later. */
  #probe(e: Entry<K>, now: number): void {
    e.probes++;
    this.#heap.schedule(e, now + this.params.retransMs);
    const c = this.#c;
    if (e.state === 'PROBE') {
      c.OutUnicastProbes++;
      this.#host.solicit(e.ip, e.mac, now);
    } else {
      c.OutSolicits++;
      this.#host.solicit(e.ip, undefined, now);
    }
  }

  #reachable(e: Entry<K>, now: number): void {
    e.confirmed = now;
    e.updated = now;
    this.#c.Confirmations++;
    const reachable = Math.max(1, Math.floor(this.params.baseReachableMs * (0.5 + this.#random())));
    e.reachableUntil = now + reachable;
    this.#setState(e, 'REACHABLE', e.reachableUntil);
  }

  #merge(e: Entry<K>, mac: MacAddress, kind: NeighbourUpdate, now: number, override: boolean): void {
    const c = this.#c;
    if (e.state === 'INCOMPLETE' || e.state === 'FAILED' || e.mac === undefined) {
      // First address: take it; flush what waited.
      e.mac = mac;
      e.updated = now;
      if (kind === 'reply') this.#reachable(e, now);
      else this.#setState(e, 'STALE', now + this.params.gcStaleMs);
      this.#flush(e, now);
      return;
    }
    if (mac !== e.mac) {
      if (!override && now < e.updated + this.params.locktimeMs) {
        c.LockTimeIgnored++;
        return;
      }
      c.AddressChanges++;
      e.mac = mac;
      e.updated = now;
      if (kind === 'reply') this.#reachable(e, now);
      else this.#setState(e, 'STALE', now + this.params.gcStaleMs);
      return;
    }
    // Same address.
    if (kind === 'reply') {
      this.#reachable(e, now);
      return;
    }
    // Linux: an unsolicited sighting of a known address confirms nothing; a connected
    // entry keeps its state.
    if (e.state === 'STALE') {
      e.updated = now;
      this.#setState(e, 'STALE', now + this.params.gcStaleMs);
    }
  }

  #fail(e: Entry<K>, now: number): void {
    const c = this.#c;
    c.ResFailed++;
    const waiting = e.queue;
    this.#dropQueue(e, false);
    e.mac = undefined;
    e.updated = now;
    this.#setState(e, 'FAILED', now + this.params.gcStaleMs);
    // The cache is consistent; now the owners hear of it.
    for (const packet of waiting) {
      c.UnreachableReports++;
      this.#host.unreachable(packet, e.ip, now);
    }
  }

  #flush(e: Entry<K>, now: number): void {
    const waiting = e.queue;
    if (waiting.length === 0) return;
    this.#dropQueue(e, false);
    const mac = e.mac!;
    for (const packet of waiting) this.#host.transmit(packet, mac, now);
  }

  #enqueue(e: Entry<K>, packet: Uint8Array, prepare?: (copy: Uint8Array) => void): 'queued' | 'dropped' {
    const c = this.#c;
    const p = this.params;
    const size = packet.byteLength;
    if (size > p.queueBytes || size > p.totalQueueBytes) {
      c.UnresolvedDiscards++;
      return 'dropped';
    }
    // Oldest first (Linux __neigh_event_send): over this neighbour's bound, then over the table's.
    while (e.queueBytes + size > p.queueBytes || (c.QueuedBytes + size > p.totalQueueBytes && e.queue.length > 0)) {
      const old = e.queue.shift()!;
      e.queueBytes -= old.byteLength;
      c.QueuedBytes -= old.byteLength;
      c.UnresolvedDiscards++;
    }
    if (c.QueuedBytes + size > p.totalQueueBytes) {
      c.UnresolvedDiscards++;
      return 'dropped';
    }
    const copy = packet.slice();
    prepare?.(copy);
    e.queue.push(copy);
    e.queueBytes += size;
    c.QueuedBytes += size;
    return 'queued';
  }

  /** Empties the queue; `count`: the packets are discarded (not handed on), count them. */
  #dropQueue(e: Entry<K>, count = true): void {
    if (count) this.#c.UnresolvedDiscards += e.queue.length;
    this.#c.QueuedBytes -= e.queueBytes;
    e.queue = [];
    e.queueBytes = 0;
  }
}

function first<T>(s: Set<T>): T | undefined {
  for (const v of s) return v;
  return undefined;
}
