/**
 * IPv4 reassembly (RFC 791 §3.2, RFC 815), as a pure state machine: time is an
 * argument, timeouts are data (`pollAt`/`poll`), nothing is thrown for wire input.
 *
 * Design (choices where the RFCs leave room):
 * - Key: (source, destination, protocol, identification) — RFC 791 §3.2. Looked up by
 *   the number `src * 65536 + id` (no string per fragment) in a seeded hash table that
 *   wire input cannot degrade (numtable.ts); the few datagrams that share it (another
 *   destination or protocol) hang off one chain of at most MAX_SAME_KEY, so an
 *   attacker cannot make lookups long.
 * - Storage: per datagram ONE buffer, laid out as [received bitmap][starts bitmap]
 *   [first fragment's header][payload], grown (doubled, or to the length the last
 *   fragment fixed) as fragments arrive. Each bit of the bitmaps is one 8-octet block
 *   (RFC 791 §3.2's fragment block bit table); "starts" marks where a held fragment
 *   begins. No object is allocated per fragment, so inserting costs O(fragment length)
 *   whatever the number of fragments held (RFC 815's aim), and a datagram holds at
 *   most 8192 fragments (the number of 8-octet blocks in 65535 bytes) for 2 bits each:
 *   no separate fragments-per-datagram limit is needed.
 * - Overlap policy (RFC 5722 in spirit, Linux since 2018): ANY overlap with data
 *   already held discards the whole datagram (ReasmOverlaps), except an exact
 *   duplicate — same offset, same length, same bytes — which is ignored and counted
 *   (ReasmDuplicates). Retransmitting hosts and duplicating networks produce exact
 *   duplicates; differing overlaps are the signature of evasion/poisoning attacks.
 * - A discarded datagram becomes a tombstone (no buffer) until its timer runs out, so
 *   its remaining fragments are dropped (ReasmDeadFrags) instead of starting a new,
 *   doomed reassembly.
 * - Memory, counted as held (like Linux's ipfrag_high_thresh counting each skb's
 *   truesize): every datagram is charged DATAGRAM_CHARGE (its record, table slots and
 *   typed-array objects, measured in test/reassembly-memory.test.ts) plus its buffer's
 *   full length (capacity, not payload received); every source address with a
 *   datagram in progress SOURCE_CHARGE. The total never exceeds `maxReassemblyBytes`.
 * - Flood policy: room is made by EVICTING, never by refusing the newcomer, and in
 *   this order. (1) Per source: a source address holding `maxReassemblyBytesPerSource`
 *   evicts its OWN datagrams, so one host (or one spoofed address) never takes more
 *   than its quota and everyone else keeps the rest. (2) Globally: over
 *   `maxReassemblyBytes` (or `maxReassemblies` datagrams) any datagram may go. In both,
 *   datagrams holding less than REASSEMBLY_SMALL (512) payload bytes, tombstones
 *   included, go first, oldest first; then the others, oldest first. A flood of tiny
 *   fragments (the most packets per second, and the most overhead per byte) thus only
 *   evicts its own kind, and a legitimate datagram, whose first fragment carries most of
 *   an MTU, completes unless fragments of 512+ bytes arrive fast enough to push a whole
 *   table (4 MiB) in after it before its last fragment: about 1.4 ms at 10 Gbit/s of
 *   512-byte fragments. Measured in test/reassembly-flood.test.ts.
 * - A datagram may not exceed 65535 bytes (header of the first fragment included).
 * - Timer: `timeoutMs` from the FIRST fragment received (RFC 791 §3.2 suggests a
 *   15 s lower bound; RFC 1122 §3.3.2 a 60..120 s range; Linux uses 30 s), not
 *   restarted by later fragments. Expiry happens when now >= first + timeoutMs.
 * - Counters (stats.ts): `dropped[reason]` counts FRAGMENTS, so every fragment handed
 *   in is, at any time, exactly one of: held, used in a reassembled datagram
 *   (ReasmFragsUsed), or dropped under one Reasm*Frags reason (or ReasmDuplicates). ReasmFails, ReasmTimeout,
 *   ReasmOverlaps and ReasmEvicted count datagrams, as in /proc/net/snmp.
 */
import { IPV4_MAX_TOTAL_LEN, IPV4_MIN_HEADER_LEN, headerSum, type Ipv4Repr } from './ipv4.js';
import { NumberTable } from './numtable.js';
import type { Ipv4Counters, Ipv4DropReason } from './stats.js';

export interface ReassemblyLimits {
  /** Default 30000. */
  reassemblyTimeoutMs: number;
  /** Datagrams in progress at once (tombstones included); the oldest is evicted beyond it. Default 16384. */
  maxReassemblies: number;
  /** Bytes held over all datagrams in progress, as charged (buffers + per-datagram and per-source overhead). Default 4 MiB. */
  maxReassemblyBytes: number;
  /**
   * Bytes, as charged, that the datagrams from one source address may hold; beyond it the
   * source's own datagrams are evicted (small ones first). Default 1 MiB. At least
   * REASSEMBLY_MAX_CHARGE + SOURCE_CHARGE (one 65535-byte datagram) is needed for a
   * source to send datagrams that large.
   */
  maxReassemblyBytesPerSource: number;
}

export const DEFAULT_REASSEMBLY_LIMITS: Readonly<ReassemblyLimits> = {
  reassemblyTimeoutMs: 30_000,
  maxReassemblies: 16384,
  maxReassemblyBytes: 4 * 1024 * 1024,
  maxReassemblyBytesPerSource: 1024 * 1024,
};

/**
 * Heap held by one datagram in progress besides its buffer's bytes: the record (about
 * 25 fields), its hash-table slots (2..8 of 12 bytes), and the Uint8Array + ArrayBuffer
 * objects of its buffer. Measured with process.memoryUsage() (heapUsed + arrayBuffers)
 * in test/reassembly-memory.test.ts: 440..490 bytes on Node 20, x64; rounded up for V8's
 * off-heap BackingStore record of the buffer, which memoryUsage() does not show.
 */
export const DATAGRAM_CHARGE = 576;
/** Heap held by the record of one source address with datagrams in progress and its hash-table slots (measured 110..200 bytes). */
export const SOURCE_CHARGE = 256;

/** Room for the longest IPv4 header (IHL 15). */
const HDR_ROOM = 60;
/** Largest payload of a reassembled datagram (65535 - 20), rounded up to a block. */
const MAX_DATA = 65520;
/** Datagrams sharing (source, identification) with another destination or protocol. */
const MAX_SAME_KEY = 4;

/** Bytes of each bitmap for a payload capacity of `cap` bytes: one bit per 8-octet block. */
function bitmapBytes(cap: number): number {
  return (cap + 63) >>> 6;
}

/** Buffer length for a payload capacity of `cap` bytes. */
function bufferLength(cap: number): number {
  return 2 * bitmapBytes(cap) + HDR_ROOM + cap;
}

/** Most a single datagram can be charged (65535 bytes of datagram, bitmaps, record). */
export const REASSEMBLY_MAX_CHARGE = DATAGRAM_CHARGE + bufferLength(MAX_DATA);

/** Datagrams in eviction order (oldest first). */
interface Lane {
  oldest: Datagram | undefined;
  newest: Datagram | undefined;
}

interface Source {
  readonly addr: number;
  /** Charged to this source: its datagrams and SOURCE_CHARGE. */
  bytes: number;
  count: number;
  /** This source's datagrams holding less than SMALL payload bytes (and its tombstones), then the others. */
  readonly small: Lane;
  readonly large: Lane;
}

/**
 * A datagram holding less payload than this is evicted before any that holds more:
 * a flood of tiny fragments (the cheapest for an attacker in packets per second, and the
 * dearest per byte for us) then only ever evicts its own kind, while a legitimate
 * datagram, whose first fragment carries most of an MTU, is not touched by it.
 */
export const REASSEMBLY_SMALL = 512;

class Datagram {
  /** Next datagram with the same (source, identification). */
  sameKey: Datagram | undefined = undefined;
  /** Creation order over all datagrams (= deadline order). */
  older: Datagram | undefined = undefined;
  newer: Datagram | undefined = undefined;
  /** Holds less than REASSEMBLY_SMALL payload bytes: in the small lanes. */
  small = true;
  /** Order in the reassembler's small lane (while small). */
  smallOlder: Datagram | undefined = undefined;
  smallNewer: Datagram | undefined = undefined;
  /** Order in the source's small or large lane. */
  srcOlder: Datagram | undefined = undefined;
  srcNewer: Datagram | undefined = undefined;
  /** Discarded: holds no buffer, drops further fragments until the deadline. */
  dead = false;
  /** Payload length fixed by the last fragment; -1 until it arrives. */
  end = -1;
  /** Highest end of the fragments held. */
  hi = 0;
  /** Payload bytes received (intervals are disjoint). */
  received = 0;
  /** Fragments held (a zero-length last fragment included). */
  frags = 0;
  /** A zero-length last fragment was received. */
  zeroLast = false;
  /** End of the fragment at offset 0 (for time exceeded), -1 until it arrives. */
  firstEnd = -1;
  /** Length of the first fragment's header, 0 until it arrives. */
  hdrLen = 0;
  /** [received bits][starts bits][header HDR_ROOM][payload cap] */
  buf: Uint8Array | undefined = undefined;
  /** Payload capacity of `buf`. */
  cap = 0;
  /** Bytes of each bitmap in `buf`. */
  bits = 0;
  /** Bytes charged (DATAGRAM_CHARGE + buf length). */
  charge = 0;

  constructor(
    readonly key: number,
    readonly dst: number,
    readonly protocol: number,
    readonly source: Source,
    readonly deadline: number,
  ) {}
}

/** Called by `poll` for a datagram that timed out holding its first fragment: the fragment as received (RFC 792 type 11 code 1). */
export type ExpiredFirstFragment = (firstFragment: Uint8Array, now: number) => void;

export class Reassembler {
  /** By `src * 65536 + id`; seeded, no tombstones (numtable.ts: why not a Map). */
  private readonly table = new NumberTable<Datagram>();
  private readonly sources = new NumberTable<Source>();
  /** Every datagram, in creation (= deadline) order. */
  private readonly all: Lane = { oldest: undefined, newest: undefined };
  /** The small ones, oldest first: evicted before any other. */
  private readonly small: Lane = { oldest: undefined, newest: undefined };
  private count = 0;
  private held = 0;
  private used = 0;
  private readonly limits: Readonly<ReassemblyLimits>;
  private readonly c: Ipv4Counters;

  constructor(limits: Readonly<ReassemblyLimits>, counters: Ipv4Counters) {
    this.limits = limits;
    this.c = counters;
  }

  /** Datagrams in progress (tombstones included). */
  get datagrams(): number {
    return this.count;
  }

  /** Fragments held by the datagrams in progress. */
  get fragments(): number {
    return this.held;
  }

  /** Bytes charged (never above maxReassemblyBytes). */
  get bytes(): number {
    return this.used;
  }

  /** Source addresses with datagrams in progress. */
  get sourceCount(): number {
    return this.sources.size;
  }

  /**
   * Adds one fragment: `packet` is the fragment trimmed to its Total Length, `repr`
   * its parse (MF set or offset non-zero). When it completes a datagram, the rebuilt
   * datagram (first fragment's header with MF/offset cleared, new length and
   * checksum, then the payload) is written at `out[0...]` (`out` must hold 65535
   * bytes) and its length returned; otherwise 0.
   */
  add(repr: Ipv4Repr, packet: Uint8Array, now: number, out: Uint8Array): number {
    const start = repr.fragmentOffset;
    const len = repr.payloadLength;
    const end = start + len;
    const last = !repr.moreFragments;
    const key = (repr.src >>> 0) * 65536 + repr.identification;
    let d = this.find(key, repr.dst, repr.protocol);
    if (d?.dead) return this.dropFragment('ReasmDeadFrags', false);
    // RFC 791 §3.2: every fragment but the last carries a non-zero multiple of 8 octets.
    if (!last && (len === 0 || (len & 7) !== 0)) return this.dropFragment('ReasmBadFrags', true);
    if (d === undefined) {
      d = this.create(key, repr, now);
      if (d === undefined) return this.dropFragment('ReasmNoMemoryFrags', true);
    }
    // 65535-byte limit on the datagram (RFC 791 §3.1 Total Length), header included.
    const hdrLen = repr.headerLength;
    const hl = start === 0 ? hdrLen : d.hdrLen !== 0 ? d.hdrLen : IPV4_MIN_HEADER_LEN;
    const maxEnd = Math.max(end, d.end, d.hi);
    if (maxEnd + hl > IPV4_MAX_TOTAL_LEN) return this.kill(d, 'ReasmTooBigFrags');
    // All fragments must agree on where the datagram ends.
    if (last ? (d.end >= 0 ? end !== d.end : d.hi > end) : d.end >= 0 && end > d.end) return this.kill(d, 'ReasmInconsistentFrags');
    if (len === 0) {
      // A last fragment without data: it only fixes the end.
      if (d.zeroLast) return this.duplicate();
      d.zeroLast = true;
      d.end = end;
      d.frags++;
      this.held++;
      return d.received === d.end ? this.complete(d, out) : 0;
    }
    const b0 = start >>> 3;
    const b1 = (end + 7) >>> 3;
    let buf = d.buf;
    if (buf !== undefined && anyBit(buf, 0, b0, Math.min(b1, (d.cap + 7) >>> 3))) {
      // Some of these bytes are held: an exact duplicate, or an overlap.
      if (sameFragment(buf, d.bits, b0, b1) && sameBytes(buf, 2 * d.bits + HDR_ROOM + start, packet, hdrLen, len)) {
        if (last) d.end = end;
        return this.duplicate();
      }
      this.c.ReasmOverlaps++;
      return this.kill(d, 'ReasmOverlapFrags');
    }
    if (end > d.cap) {
      // Grow to the known end, or double (amortised O(1) copying per byte).
      const cap = last ? end : d.end >= 0 ? d.end : Math.min(MAX_DATA, Math.max((end + 7) & ~7, 2 * d.cap));
      if (!this.grow(d, cap)) return this.kill(d, 'ReasmNoMemoryFrags');
      buf = d.buf!;
    }
    buf = buf!;
    const bits = d.bits;
    const base = 2 * bits + HDR_ROOM;
    if (len <= 64) for (let i = 0; i < len; i++) buf[base + start + i] = packet[hdrLen + i]!;
    else buf.set(packet.subarray(hdrLen, hdrLen + len), base + start);
    setBits(buf, 0, b0, b1);
    buf[bits + (b0 >>> 3)]! |= 1 << (b0 & 7);
    if (start === 0) {
      for (let i = 0; i < hdrLen; i++) buf[2 * bits + i] = packet[i]!;
      d.hdrLen = hdrLen;
      d.firstEnd = end;
    }
    if (last) d.end = end;
    if (end > d.hi) d.hi = end;
    d.received += len;
    d.frags++;
    this.held++;
    if (d.small && d.received >= REASSEMBLY_SMALL) this.promote(d);
    // Complete: the end is known and, intervals being disjoint, the bytes cover [0, end).
    return d.end >= 0 && d.received === d.end ? this.complete(d, out) : 0;
  }

  /** Earliest reassembly deadline, or Infinity. */
  pollAt(): number {
    // Deadlines are creation time + a constant: the oldest datagram's is the earliest.
    const d = this.all.oldest;
    return d === undefined ? Infinity : d.deadline;
  }

  /** Expires datagrams whose timer ran out (RFC 791 §3.2, RFC 1122 §3.3.2). `out` must hold 65535 bytes. */
  poll(now: number, out: Uint8Array, onExpired?: ExpiredFirstFragment): void {
    for (let d = this.all.oldest; d !== undefined && d.deadline <= now; d = this.all.oldest) {
      this.remove(d);
      if (d.dead) continue; // already counted when it was discarded
      const c = this.c;
      c.ReasmTimeout++;
      c.ReasmFails++;
      c.dropped.ReasmTimeoutFrags += d.frags;
      // RFC 1122 §3.3.2: time exceeded only when fragment zero is available.
      const buf = d.buf;
      if (onExpired !== undefined && buf !== undefined && d.firstEnd > 0) {
        const h = d.hdrLen;
        const at = 2 * d.bits;
        out.set(buf.subarray(at, at + h), 0);
        out.set(buf.subarray(at + HDR_ROOM, at + HDR_ROOM + d.firstEnd), h);
        onExpired(out.subarray(0, h + d.firstEnd), now);
      }
    }
  }

  // ---- internals ----------------------------------------------------------------------

  private find(key: number, dst: number, protocol: number): Datagram | undefined {
    let d = this.table.get(key);
    while (d !== undefined && (d.dst !== dst || d.protocol !== protocol)) d = d.sameKey;
    return d;
  }

  /** A new datagram, with room made for its record; undefined when even evicting every other cannot make it. */
  private create(key: number, repr: Ipv4Repr, now: number): Datagram | undefined {
    // Bounded chain of datagrams sharing (source, identification): evict its oldest.
    let chain = 0;
    let tail: Datagram | undefined;
    for (let x = this.table.get(key); x !== undefined; x = x.sameKey) {
      chain++;
      if (tail === undefined || x.deadline <= tail.deadline) tail = x;
    }
    if (chain >= MAX_SAME_KEY && tail !== undefined) this.evict(tail);
    while (this.count >= this.limits.maxReassemblies) {
      const v = this.small.oldest ?? this.all.oldest;
      if (v === undefined) break;
      this.evict(v);
    }
    const addr = repr.src >>> 0;
    let s = this.sources.get(addr);
    let charge = DATAGRAM_CHARGE;
    if (s === undefined) {
      s = { addr, bytes: 0, count: 0, small: { oldest: undefined, newest: undefined }, large: { oldest: undefined, newest: undefined } };
      this.sources.set(addr, s);
      charge += SOURCE_CHARGE;
    }
    const d = new Datagram(key, repr.dst, repr.protocol, s, now + this.limits.reassemblyTimeoutMs);
    // Link: the table's chain, the global and the source's lists.
    d.sameKey = this.table.get(key);
    this.table.set(key, d);
    pushAll(this.all, d);
    pushSmall(this.small, d);
    pushSource(s.small, d);
    s.count++;
    this.count++;
    if (!this.reserve(d, charge)) {
      this.remove(d);
      return undefined;
    }
    if (charge > DATAGRAM_CHARGE) {
      // The source's record is charged to the source, not to this datagram.
      d.charge -= SOURCE_CHARGE;
    }
    return d;
  }

  /**
   * Charges `delta` more bytes to `d` (its source, the total), evicting first the
   * source's own datagrams while over its quota, then any while over the total; small
   * ones first, oldest first. False when that cannot make room (only `d` is left).
   */
  private reserve(d: Datagram, delta: number): boolean {
    const s = d.source;
    const total = this.limits.maxReassemblyBytes;
    const quota = Math.min(this.limits.maxReassemblyBytesPerSource, total);
    while (s.bytes + delta > quota) {
      let v = s.small.oldest === d ? d.srcNewer : s.small.oldest;
      if (v === undefined) v = s.large.oldest === d ? d.srcNewer : s.large.oldest;
      if (v === undefined) return false;
      this.evict(v);
    }
    while (this.used + delta > total) {
      let v = this.small.oldest === d ? d.smallNewer : this.small.oldest;
      if (v === undefined) v = this.all.oldest === d ? d.newer : this.all.oldest;
      if (v === undefined) return false;
      this.evict(v);
    }
    d.charge += delta;
    s.bytes += delta;
    this.used += delta;
    return true;
  }

  /** Moves `d`'s bitmaps, header and payload into a buffer for `cap` payload bytes. */
  private grow(d: Datagram, cap: number): boolean {
    const len = bufferLength(cap);
    const old = d.buf;
    if (!this.reserve(d, len - (old === undefined ? 0 : old.length))) return false;
    const buf = new Uint8Array(len);
    const bits = bitmapBytes(cap);
    if (old !== undefined) {
      const ob = d.bits;
      buf.set(old.subarray(0, ob), 0);
      buf.set(old.subarray(ob, 2 * ob), bits);
      buf.set(old.subarray(2 * ob, 2 * ob + HDR_ROOM + d.cap), 2 * bits);
    }
    d.buf = buf;
    d.cap = cap;
    d.bits = bits;
    return true;
  }

  /** Writes the reassembled datagram to `out` and forgets `d`. */
  private complete(d: Datagram, out: Uint8Array): number {
    const buf = d.buf!;
    const h = d.hdrLen;
    const at = 2 * d.bits;
    out.set(buf.subarray(at, at + h), 0);
    const total = h + d.end;
    out[2] = total >>> 8;
    out[3] = total & 0xff;
    out[6]! &= 0x40; // keep DF, clear reserved, MF and the offset
    out[7] = 0;
    out[10] = 0;
    out[11] = 0;
    const sum = ~headerSum(out, 0, h) & 0xffff;
    out[10] = sum >>> 8;
    out[11] = sum & 0xff;
    out.set(buf.subarray(at + HDR_ROOM, at + HDR_ROOM + d.end), h);
    this.remove(d);
    this.c.ReasmOKs++;
    this.c.ReasmFragsUsed += d.frags;
    return total;
  }

  /** Unlinks `d` from every structure and refunds its charge. */
  private remove(d: Datagram): void {
    // The chain of datagrams sharing the key.
    const head = this.table.get(d.key);
    if (head === d) {
      if (d.sameKey === undefined) this.table.delete(d.key);
      else this.table.set(d.key, d.sameKey);
    } else {
      let p = head;
      while (p !== undefined && p.sameKey !== d) p = p.sameKey;
      if (p !== undefined) p.sameKey = d.sameKey;
    }
    const s = d.source;
    unlinkAll(this.all, d);
    if (d.small) {
      unlinkSmall(this.small, d);
      unlinkSource(s.small, d);
    } else {
      unlinkSource(s.large, d);
    }
    d.sameKey = undefined;
    this.count--;
    this.held -= d.frags;
    this.used -= d.charge;
    s.bytes -= d.charge;
    if (--s.count === 0) {
      this.used -= s.bytes; // the source's own record
      this.sources.delete(s.addr);
    }
  }

  /** Discards `d` to make room (oldest first): its fragments are dropped as ReasmEvictedFrags. */
  private evict(d: Datagram): void {
    const c = this.c;
    if (!d.dead) {
      c.ReasmFails++;
      c.ReasmEvicted++;
      c.dropped.ReasmEvictedFrags += d.frags;
    }
    this.remove(d);
  }

  private duplicate(): 0 {
    this.c.ReasmDuplicates++;
    this.c.dropped.ReasmDuplicates++;
    return 0;
  }

  private dropFragment(reason: Ipv4DropReason, fail: boolean): 0 {
    this.c.dropped[reason]++;
    if (fail) this.c.ReasmFails++;
    return 0;
  }

  /** Discards a datagram in progress and the fragment at hand, keeping a tombstone until its deadline. */
  private kill(d: Datagram, reason: Ipv4DropReason): 0 {
    const c = this.c;
    c.ReasmFails++;
    c.dropped[reason] += d.frags + 1;
    this.held -= d.frags;
    d.frags = 0;
    const freed = d.buf === undefined ? 0 : d.buf.length;
    d.charge -= freed;
    d.source.bytes -= freed;
    this.used -= freed;
    d.buf = undefined;
    d.cap = 0;
    d.bits = 0;
    d.received = 0;
    d.dead = true;
    if (!d.small) {
      // A tombstone is worth little: first in line for eviction again.
      const s = d.source;
      unlinkSource(s.large, d);
      d.small = true;
      pushSmall(this.small, d);
      pushSource(s.small, d);
    }
    return 0;
  }

  /** `d` now holds REASSEMBLY_SMALL payload bytes or more: out of the small lanes. */
  private promote(d: Datagram): void {
    const s = d.source;
    unlinkSmall(this.small, d);
    unlinkSource(s.small, d);
    d.small = false;
    pushSource(s.large, d);
  }
}

// The three intrusive lists a datagram is on (O(1) unlinking, no node objects).

function pushAll(l: Lane, d: Datagram): void {
  d.older = l.newest;
  d.newer = undefined;
  if (l.newest !== undefined) l.newest.newer = d;
  else l.oldest = d;
  l.newest = d;
}

function unlinkAll(l: Lane, d: Datagram): void {
  if (d.older !== undefined) d.older.newer = d.newer;
  else l.oldest = d.newer;
  if (d.newer !== undefined) d.newer.older = d.older;
  else l.newest = d.older;
  d.older = d.newer = undefined;
}

function pushSmall(l: Lane, d: Datagram): void {
  d.smallOlder = l.newest;
  d.smallNewer = undefined;
  if (l.newest !== undefined) l.newest.smallNewer = d;
  else l.oldest = d;
  l.newest = d;
}

function unlinkSmall(l: Lane, d: Datagram): void {
  if (d.smallOlder !== undefined) d.smallOlder.smallNewer = d.smallNewer;
  else l.oldest = d.smallNewer;
  if (d.smallNewer !== undefined) d.smallNewer.smallOlder = d.smallOlder;
  else l.newest = d.smallOlder;
  d.smallOlder = d.smallNewer = undefined;
}

function pushSource(l: Lane, d: Datagram): void {
  d.srcOlder = l.newest;
  d.srcNewer = undefined;
  if (l.newest !== undefined) l.newest.srcNewer = d;
  else l.oldest = d;
  l.newest = d;
}

function unlinkSource(l: Lane, d: Datagram): void {
  if (d.srcOlder !== undefined) d.srcOlder.srcNewer = d.srcNewer;
  else l.oldest = d.srcNewer;
  if (d.srcNewer !== undefined) d.srcNewer.srcOlder = d.srcOlder;
  else l.newest = d.srcOlder;
  d.srcOlder = d.srcNewer = undefined;
}

/** Any bit set in [from, to) of the bitmap at `buf[at...]`. */
function anyBit(buf: Uint8Array, at: number, from: number, to: number): boolean {
  let i = from;
  while (i < to && (i & 7) !== 0) {
    if ((buf[at + (i >>> 3)]! >>> (i & 7)) & 1) return true;
    i++;
  }
  while (i + 8 <= to) {
    if (buf[at + (i >>> 3)] !== 0) return true;
    i += 8;
  }
  for (; i < to; i++) if ((buf[at + (i >>> 3)]! >>> (i & 7)) & 1) return true;
  return false;
}

/** All bits set in [from, to) of the bitmap at `buf[at...]`. */
function allBits(buf: Uint8Array, at: number, from: number, to: number): boolean {
  let i = from;
  while (i < to && (i & 7) !== 0) {
    if (((buf[at + (i >>> 3)]! >>> (i & 7)) & 1) === 0) return false;
    i++;
  }
  while (i + 8 <= to) {
    if (buf[at + (i >>> 3)] !== 0xff) return false;
    i += 8;
  }
  for (; i < to; i++) if (((buf[at + (i >>> 3)]! >>> (i & 7)) & 1) === 0) return false;
  return true;
}

function setBits(buf: Uint8Array, at: number, from: number, to: number): void {
  let i = from;
  while (i < to && (i & 7) !== 0) {
    buf[at + (i >>> 3)]! |= 1 << (i & 7);
    i++;
  }
  while (i + 8 <= to) {
    buf[at + (i >>> 3)] = 0xff;
    i += 8;
  }
  for (; i < to; i++) buf[at + (i >>> 3)]! |= 1 << (i & 7);
}

function bit(buf: Uint8Array, at: number, i: number): boolean {
  return ((buf[at + (i >>> 3)]! >>> (i & 7)) & 1) === 1;
}

/**
 * A held fragment covers exactly blocks [b0, b1): it starts at b0, no other starts
 * inside, every block is received, and the block after is free or another's start.
 * (Only the last fragment ends off a block boundary, at the end every fragment agrees on.)
 */
function sameFragment(buf: Uint8Array, bits: number, b0: number, b1: number): boolean {
  const blocks = bits * 8;
  if (b1 > blocks || !bit(buf, bits, b0)) return false;
  if (anyBit(buf, bits, b0 + 1, b1) || !allBits(buf, 0, b0, b1)) return false;
  return b1 >= blocks || !bit(buf, 0, b1) || bit(buf, bits, b1);
}

function sameBytes(held: Uint8Array, at: number, packet: Uint8Array, off: number, len: number): boolean {
  for (let i = 0; i < len; i++) if (held[at + i] !== packet[off + i]) return false;
  return true;
}
