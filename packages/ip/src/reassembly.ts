/**
 * IPv4 (RFC 791 §3.2, RFC 815) and IPv6 (RFC 8200 §4.5) reassembly, as a pure state
 * machine: time is an argument, timeouts are data (`pollAt`/`poll`), nothing is thrown
 * for wire input. `add` takes IPv4 fragments, `add6` IPv6 ones; both families share
 * one table, one memory charge and one flood policy (below), so the bounds hold for
 * the sum of both.
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
 *   IPv6: `ipv6ReassemblyTimeoutMs`, 60 s (RFC 8200 §4.5). Each family has its own
 *   creation-ordered list, which is therefore also its deadline order.
 *
 * IPv6 (RFC 8200 §4.5), where it differs:
 * - Key: (source, destination, 32-bit identification), hashed with a per-table random
 *   seed to a 53-bit number (`NumberTable` needs numbers), the chain compares all three.
 * - Per-source quota keyed by the source's /64, not the whole address: a host chooses
 *   its own interface identifier (SLAAC, RFC 8981 temporary addresses) and could take a
 *   fresh quota per address; a prefix it cannot choose. The price: hosts behind one /64
 *   share one quota (1 MiB by default, ~15 datagrams of 64 KiB in flight).
 * - Overlaps: the same rule as IPv4, which is RFC 5722's (any overlap discards the
 *   whole datagram, silently), with RFC 8200 §4.5's allowance for exact duplicates.
 * - Atomic fragments (offset 0, M = 0; RFC 6946 §4) are delivered at once and never
 *   enter the table, so they never mix with fragments of the same identification.
 * - Errors the caller answers (RFC 8200 §4.5), returned as negative results:
 *   REASM6_BAD_LENGTH, REASM6_TOO_BIG, REASM6_INCOMPLETE_CHAIN (RFC 7112 §5).
 *   A datagram whose unfragmentable part plus fragmentable part would exceed 65535
 *   bytes of payload is discarded silently.
 * - Output: the fragmentable part alone; the Next Header of the first fragment's
 *   Fragment header is written back into the caller's record (the unfragmentable part
 *   was processed by the caller fragment by fragment, a host needs nothing more).
 * - Counters: an `Ipv6ReasmCounters` record with the /proc/net/snmp6 names
 *   (Ip6ReasmReqds, Ip6ReasmOKs, Ip6ReasmFails, Ip6ReasmTimeout, and the IPv4 extras
 *   with the Ip6 prefix) and its own `dropped`, with the IPv4 reason names. Unlike
 *   IPv4, where the layer counts ReasmReqds, `add6` counts Ip6ReasmReqds itself.
 * - Counters (stats.ts): `dropped[reason]` counts FRAGMENTS, so every fragment handed
 *   in is, at any time, exactly one of: held, used in a reassembled datagram
 *   (ReasmFragsUsed), or dropped under one Reasm*Frags reason (or ReasmDuplicates). ReasmFails, ReasmTimeout,
 *   ReasmOverlaps and ReasmEvicted count datagrams, as in /proc/net/snmp.
 */
import type { IpAddress, Ipv6Address } from './address.js';
import { IPV4_MAX_TOTAL_LEN, IPV4_MIN_HEADER_LEN, headerSum, type Ipv4Repr } from './ipv4.js';
import { NumberTable } from './numtable.js';
import type { Ipv4Counters, Ipv4DropReason } from './stats.js';
import { fmix, mix, word } from './hash.js';

export interface ReassemblyLimits {
  /** Default 30000. */
  reassemblyTimeoutMs: number;
  /** IPv6 datagrams (RFC 8200 §4.5: 60 s). Default 60000. */
  ipv6ReassemblyTimeoutMs: number;
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
  ipv6ReassemblyTimeoutMs: 60_000,
  maxReassemblies: 16384,
  maxReassemblyBytes: 4 * 1024 * 1024,
  maxReassemblyBytesPerSource: 1024 * 1024,
};

/**
 * Heap held by one datagram in progress besides its buffer's bytes: the record (about
 * 30 fields), its hash-table slots (2..8 of 12 bytes), and the Uint8Array + ArrayBuffer
 * objects of its buffer. Measured with process.memoryUsage() (heapUsed + arrayBuffers)
 * in test/reassembly-memory.test.ts: 440..490 bytes on Node 20, x64, 527 since the
 * record gained its IPv6 fields; rounded up for V8's
 * off-heap BackingStore record of the buffer, which memoryUsage() does not show.
 */
export const DATAGRAM_CHARGE = 576;
/**
 * An IPv6 datagram's record also holds its source and destination addresses: two
 * 16-character strings of 32 bytes each on the heap when, as on the wire path, each
 * packet's addresses are fresh strings. Measured in test/reassembly6.test.ts with
 * SOURCE_CHARGE: 790..890 bytes for a datagram and its source (charged 1024).
 */
export const DATAGRAM6_CHARGE = DATAGRAM_CHARGE + 192;
/** Heap held by the record of one source address with datagrams in progress and its hash-table slots (measured 110..200 bytes). */
export const SOURCE_CHARGE = 256;

/** Room for the longest IPv4 header (IHL 15). */
const HDR_ROOM = 60;
/** Largest payload of a reassembled datagram (65535 - 20), rounded up to a block. */
const MAX_DATA = 65520;
/**
 * IPv6: room kept for the first fragment's headers (IPv6 header, unfragmentable
 * extension headers, Fragment header), quoted by time exceeded only. A first fragment
 * with longer headers still reassembles; its expiry is just not reported.
 */
const HDR_ROOM6 = 128;
/** IPv6: largest fragmentable part (Payload Length is 16 bits), rounded up to a block. */
const MAX_DATA6 = 65536;
/** IPv6: most a reassembled packet's Payload Length can say (RFC 8200 §3). */
const IPV6_MAX_PAYLOAD = 65535;
/** IPv6 header + Fragment header. */
const IPV6_FRAG_HEADERS = 48;
/** Datagrams sharing (source, identification) with another destination or protocol. */
const MAX_SAME_KEY = 4;

/** Bytes of each bitmap for a payload capacity of `cap` bytes: one bit per 8-octet block. */
function bitmapBytes(cap: number): number {
  return (cap + 63) >>> 6;
}

/** Buffer length for a payload capacity of `cap` bytes and `room` bytes of header. */
function bufferLength(cap: number, room: number): number {
  return 2 * bitmapBytes(cap) + room + cap;
}

/** Most a single datagram can be charged (65535 bytes of datagram, bitmaps, record). */
export const REASSEMBLY_MAX_CHARGE = DATAGRAM_CHARGE + bufferLength(MAX_DATA, HDR_ROOM);
/** Most a single IPv6 datagram can be charged (65535 bytes of fragmentable part, bitmaps, header room, record). */
export const REASSEMBLY6_MAX_CHARGE = DATAGRAM6_CHARGE + bufferLength(MAX_DATA6, HDR_ROOM6);

/**
 * One IPv6 fragment as `add6` needs it: the caller walked the header chain to the
 * Fragment header (RFC 8200 §4.5) and, for the first fragment, on to the upper-layer
 * header (RFC 7112).
 */
export interface Ipv6ReasmFragment {
  src: Ipv6Address;
  dst: Ipv6Address;
  /** The Fragment header's 32-bit Identification. */
  identification: number;
  /** In bytes (the 13-bit field times 8). */
  fragmentOffset: number;
  /** The M flag. */
  moreFragments: boolean;
  /** The Fragment header's Next Header; on completion, the first fragment's (RFC 8200 §4.5). */
  nextHeader: number;
  /** Bytes of `packet` before the fragment's data: IPv6 header, unfragmentable extension headers, Fragment header. */
  headerLength: number;
  /** Bytes of fragment data after `headerLength`; on completion, the reassembled fragmentable part's length. */
  payloadLength: number;
  /**
   * Offset-0 fragments only (ignored for the others): the fragment holds the whole header
   * chain up to and including the upper-layer header (RFC 7112 §5). The caller decides.
   */
  headerChainComplete: boolean;
}

/** `add6`: M = 1 with a length not a multiple of 8: answer Parameter Problem code 0 pointing at Payload Length (offset 4; RFC 8200 §4.5). */
export const REASM6_BAD_LENGTH = -1;
/** `add6`: offset + length beyond 65535: answer Parameter Problem code 0 pointing at the Fragment Offset field (Fragment header + 2; RFC 8200 §4.5). */
export const REASM6_TOO_BIG = -2;
/** `add6`: a first fragment without the whole header chain: may answer Parameter Problem code 3 (RFC 7112 §5, RFC 8200 §4.5). */
export const REASM6_INCOMPLETE_CHAIN = -3;

/** The drop reasons of reassembly (IPv4's, counting fragments). */
export type ReasmDropReason = Extract<Ipv4DropReason, `Reasm${string}`>;
/** IPv6 reassembly's drop reasons: IPv4's, and a first fragment without the header chain (RFC 7112). */
export type Ipv6ReasmDropReason = ReasmDropReason | 'ReasmIncompleteChainFrags';

export const IPV6_REASM_DROP_REASONS: readonly Ipv6ReasmDropReason[] = [
  'ReasmTimeoutFrags', 'ReasmOverlapFrags', 'ReasmTooBigFrags', 'ReasmInconsistentFrags', 'ReasmNoMemoryFrags',
  'ReasmEvictedFrags', 'ReasmBadFrags', 'ReasmDeadFrags', 'ReasmDuplicates', 'ReasmIncompleteChainFrags',
];

/**
 * IPv6 reassembly counters, named as /proc/net/snmp6 where Linux has the counter, with
 * IPv4's meaning otherwise. As for IPv4: Ip6ReasmReqds === fragments held +
 * Ip6ReasmFragsUsed + sum of dropped (an atomic fragment counts as used, and as
 * Ip6ReasmOKs, as on Linux). An IPv6 layer's counters extend this record.
 */
export interface Ipv6ReasmCounters {
  /** Fragment headers handed to `add6` (atomic fragments included). */
  Ip6ReasmReqds: number;
  /** Packets reassembled, atomic fragments included. */
  Ip6ReasmOKs: number;
  /** Packets given up and fragments refused, as IPv4's ReasmFails. */
  Ip6ReasmFails: number;
  Ip6ReasmTimeout: number;
  Ip6ReasmOverlaps: number;
  Ip6ReasmDuplicates: number;
  Ip6ReasmEvicted: number;
  Ip6ReasmFragsUsed: number;
  /** Atomic fragments (RFC 6946), delivered without reassembly. */
  Ip6ReasmAtomic: number;
  dropped: Record<Ipv6ReasmDropReason, number>;
}

export function newIpv6ReasmCounters(): Ipv6ReasmCounters {
  const dropped = {} as Record<Ipv6ReasmDropReason, number>;
  for (const r of IPV6_REASM_DROP_REASONS) dropped[r] = 0;
  return {
    Ip6ReasmReqds: 0, Ip6ReasmOKs: 0, Ip6ReasmFails: 0, Ip6ReasmTimeout: 0, Ip6ReasmOverlaps: 0,
    Ip6ReasmDuplicates: 0, Ip6ReasmEvicted: 0, Ip6ReasmFragsUsed: 0, Ip6ReasmAtomic: 0, dropped,
  };
}

/** The counters the shared code paths touch, under IPv4's names. */
type Tally = Pick<Ipv4Counters, 'ReasmOKs' | 'ReasmFails' | 'ReasmTimeout' | 'ReasmOverlaps' | 'ReasmDuplicates' | 'ReasmEvicted' | 'ReasmFragsUsed'>
  & { dropped: Record<ReasmDropReason, number> };

/** IPv6 counters seen under IPv4's names. */
function tally6(c: Ipv6ReasmCounters): Tally {
  return {
    get ReasmOKs() { return c.Ip6ReasmOKs; }, set ReasmOKs(v) { c.Ip6ReasmOKs = v; },
    get ReasmFails() { return c.Ip6ReasmFails; }, set ReasmFails(v) { c.Ip6ReasmFails = v; },
    get ReasmTimeout() { return c.Ip6ReasmTimeout; }, set ReasmTimeout(v) { c.Ip6ReasmTimeout = v; },
    get ReasmOverlaps() { return c.Ip6ReasmOverlaps; }, set ReasmOverlaps(v) { c.Ip6ReasmOverlaps = v; },
    get ReasmDuplicates() { return c.Ip6ReasmDuplicates; }, set ReasmDuplicates(v) { c.Ip6ReasmDuplicates = v; },
    get ReasmEvicted() { return c.Ip6ReasmEvicted; }, set ReasmEvicted(v) { c.Ip6ReasmEvicted = v; },
    get ReasmFragsUsed() { return c.Ip6ReasmFragsUsed; }, set ReasmFragsUsed(v) { c.Ip6ReasmFragsUsed = v; },
    dropped: c.dropped,
  };
}

/** Datagrams in eviction order (oldest first). */
interface Lane {
  oldest: Datagram | undefined;
  newest: Datagram | undefined;
}

interface Source {
  /** IPv4: the address; IPv6: the seeded hash of its /64. */
  readonly addr: number;
  readonly v6: boolean;
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
  /** Length of the first fragment's header, 0 until it arrives (IPv6: or when longer than `room`). */
  hdrLen = 0;
  /** Bytes besides the payload counted against the 65535 limit: IPv4 the first fragment's header; IPv6 its unfragmentable extension headers. */
  extra = 0;
  /** IPv6: the first fragment's Next Header. */
  nextHeader = 0;
  /** [received bits][starts bits][header room][payload cap] */
  buf: Uint8Array | undefined = undefined;
  /** Payload capacity of `buf`. */
  cap = 0;
  /** Bytes of each bitmap in `buf`. */
  bits = 0;
  /** Bytes charged (DATAGRAM_CHARGE + buf length). */
  charge = 0;

  constructor(
    readonly key: number,
    readonly v6: boolean,
    /** Compared for IPv6 only (IPv4's key holds the source). */
    readonly src: IpAddress,
    readonly dst: IpAddress,
    /** IPv4: the protocol; IPv6: the identification. */
    readonly protocol: number,
    readonly source: Source,
    readonly born: number,
    readonly deadline: number,
    /** Header room: HDR_ROOM or HDR_ROOM6. */
    readonly room: number,
  ) {}
}

/** Called by `poll` for a datagram that timed out holding its first fragment: the fragment as received (RFC 792 type 11 code 1). */
export type ExpiredFirstFragment = (firstFragment: Uint8Array, now: number) => void;

export class Reassembler {
  /** By `src * 65536 + id`; seeded, no tombstones (numtable.ts: why not a Map). */
  private readonly table = new NumberTable<Datagram>();
  private readonly sources = new NumberTable<Source>();
  /** IPv6: by the seeded hash of (src, dst, id); sources by that of the /64. */
  private readonly table6 = new NumberTable<Datagram>();
  private readonly sources6 = new NumberTable<Source>();
  private readonly seed6 = globalThis.crypto.getRandomValues(new Int32Array(4));
  /** Every IPv4 datagram, in creation (= deadline) order. */
  private readonly all: Lane = { oldest: undefined, newest: undefined };
  /** Every IPv6 datagram, in creation (= deadline) order. */
  private readonly all6: Lane = { oldest: undefined, newest: undefined };
  /** The small ones, oldest first: evicted before any other. */
  private readonly small: Lane = { oldest: undefined, newest: undefined };
  private count = 0;
  private held = 0;
  private used = 0;
  private readonly limits: Readonly<ReassemblyLimits>;
  private readonly c: Ipv4Counters;
  /** IPv6 counters (`add6`). */
  readonly counters6: Ipv6ReasmCounters;
  /**
   * `onExpired6` when `poll` is given none: set by an IPv6 layer that shares this instance
   * with an IPv4 layer (layer6.ts), so whichever layer polls first, an IPv6 reassembly that
   * times out is still reported (RFC 8200 §4.5 time exceeded code 1).
   */
  expired6: ExpiredFirstFragment | undefined = undefined;
  private readonly t6: Tally;

  constructor(limits: Readonly<ReassemblyLimits>, counters: Ipv4Counters, counters6: Ipv6ReasmCounters = newIpv6ReasmCounters()) {
    this.limits = limits;
    this.c = counters;
    this.counters6 = counters6;
    this.t6 = tally6(counters6);
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

  /** Source addresses (IPv6: /64 prefixes) with datagrams in progress. */
  get sourceCount(): number {
    return this.sources.size + this.sources6.size;
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
    const last = !repr.moreFragments;
    const key = (repr.src >>> 0) * 65536 + repr.identification;
    const c = this.c;
    let d = this.find(key, repr.dst, repr.protocol);
    if (d?.dead) return dropFragment(c, 'ReasmDeadFrags', false);
    // RFC 791 §3.2: every fragment but the last carries a non-zero multiple of 8 octets.
    if (!last && (len === 0 || (len & 7) !== 0)) return dropFragment(c, 'ReasmBadFrags', true);
    if (d === undefined) {
      const src = repr.src >>> 0;
      d = this.create(false, key, src, repr.dst, repr.protocol, src, now);
      if (d === undefined) return dropFragment(c, 'ReasmNoMemoryFrags', true);
    }
    const hdrLen = repr.headerLength;
    return this.put(d, c, start, len, last, packet, hdrLen, hdrLen, out);
  }

  /**
   * Adds one IPv6 fragment (RFC 8200 §4.5): `packet` from the IPv6 header to the end of
   * the fragment's data, `f` its description. Returns the length of the reassembled
   * fragmentable part, written at `out[0...]` (`out` must hold 65536 bytes), with
   * `f.nextHeader` set to the first fragment's Next Header, `f.fragmentOffset` 0,
   * `f.moreFragments` false and `f.payloadLength` that length; an atomic fragment
   * (offset 0, M = 0; RFC 6946) is returned so at once. 0 when nothing is complete. A
   * negative REASM6_* when the caller should answer with an ICMPv6 Parameter Problem;
   * the fragment is dropped and counted either way.
   */
  add6(f: Ipv6ReasmFragment, packet: Uint8Array, now: number, out: Uint8Array): number {
    const c = this.t6;
    const c6 = this.counters6;
    c6.Ip6ReasmReqds++;
    const start = f.fragmentOffset;
    const len = f.payloadLength;
    const end = start + len;
    const last = !f.moreFragments;
    const hdrLen = f.headerLength;
    if (start === 0 && !f.headerChainComplete) {
      // RFC 7112 §5: the first fragment must hold the whole header chain; the packet is discarded.
      c6.dropped.ReasmIncompleteChainFrags++;
      c6.Ip6ReasmFails++;
      return REASM6_INCOMPLETE_CHAIN;
    }
    if (start === 0 && last) {
      // RFC 6946 §4: an atomic fragment is processed as a whole packet, outside the table.
      out.set(packet.subarray(hdrLen, hdrLen + len), 0);
      c6.Ip6ReasmAtomic++;
      c6.Ip6ReasmOKs++;
      c6.Ip6ReasmFragsUsed++;
      return len;
    }
    // RFC 8200 §4.5: M = 1 with a length not a multiple of 8 is answered (pointer: Payload Length).
    if (!last && (len & 7) !== 0) {
      dropFragment(c, 'ReasmBadFrags', true);
      return REASM6_BAD_LENGTH;
    }
    if (!last && len === 0) return dropFragment(c, 'ReasmBadFrags', true);
    const key = this.key6(f.src, f.dst, f.identification);
    let d = this.find6(key, f.src, f.dst, f.identification);
    if (end > IPV6_MAX_PAYLOAD) {
      // RFC 8200 §4.5: offset + length beyond 65535 is answered (pointer: Fragment Offset).
      if (d === undefined || d.dead) dropFragment(c, 'ReasmTooBigFrags', d === undefined);
      else this.kill(d, 'ReasmTooBigFrags');
      return REASM6_TOO_BIG;
    }
    if (d?.dead) return dropFragment(c, 'ReasmDeadFrags', false);
    if (d === undefined) {
      d = this.create(true, key, f.src, f.dst, f.identification, this.prefix6(f.src), now);
      if (d === undefined) return dropFragment(c, 'ReasmNoMemoryFrags', true);
    }
    if (start === 0) d.nextHeader = f.nextHeader;
    const n = this.put(d, c, start, len, last, packet, hdrLen, hdrLen - IPV6_FRAG_HEADERS, out);
    if (n !== 0) {
      f.nextHeader = d.nextHeader;
      f.fragmentOffset = 0;
      f.moreFragments = false;
      f.payloadLength = n;
    }
    return n;
  }

  /**
   * Stores one fragment of `d` (the family's checks done): `packet[dataAt...]` holds its
   * `len` bytes at offset `start`; `extra` is what, besides the payload, the datagram's
   * size limit counts when this is the first fragment (IPv4 its header, IPv6 its
   * unfragmentable extension headers). Returns `complete`'s length, or 0.
   */
  private put(d: Datagram, c: Tally, start: number, len: number, last: boolean, packet: Uint8Array, dataAt: number, extra: number, out: Uint8Array): number {
    const end = start + len;
    // 65535-byte limit: IPv4 the datagram, header included (RFC 791 §3.1 Total Length);
    // IPv6 the reassembled Payload Length (RFC 8200 §4.5: discarded without an error).
    const hl = start === 0 ? extra : d.firstEnd >= 0 ? d.extra : d.v6 ? 0 : IPV4_MIN_HEADER_LEN;
    const maxEnd = Math.max(end, d.end, d.hi);
    if (maxEnd + hl > (d.v6 ? IPV6_MAX_PAYLOAD : IPV4_MAX_TOTAL_LEN)) return this.kill(d, 'ReasmTooBigFrags');
    // All fragments must agree on where the datagram ends.
    if (last ? (d.end >= 0 ? end !== d.end : d.hi > end) : d.end >= 0 && end > d.end) return this.kill(d, 'ReasmInconsistentFrags');
    if (len === 0) {
      // A last fragment without data: it only fixes the end.
      if (d.zeroLast) return duplicate(c);
      d.zeroLast = true;
      d.end = end;
      d.frags++;
      this.held++;
      return d.received === d.end ? this.complete(d, out) : 0;
    }
    const b0 = start >>> 3;
    const b1 = (end + 7) >>> 3;
    const room = d.room;
    let buf = d.buf;
    if (buf !== undefined && anyBit(buf, 0, b0, Math.min(b1, (d.cap + 7) >>> 3))) {
      // Some of these bytes are held: an exact duplicate, or an overlap.
      if (sameFragment(buf, d.bits, b0, b1) && sameBytes(buf, 2 * d.bits + room + start, packet, dataAt, len)) {
        if (last) d.end = end;
        return duplicate(c);
      }
      c.ReasmOverlaps++;
      return this.kill(d, 'ReasmOverlapFrags');
    }
    if (end > d.cap) {
      // Grow to the known end, or double (amortised O(1) copying per byte).
      const cap = last ? end : d.end >= 0 ? d.end : Math.min(d.v6 ? MAX_DATA6 : MAX_DATA, Math.max((end + 7) & ~7, 2 * d.cap));
      if (!this.grow(d, cap)) return this.kill(d, 'ReasmNoMemoryFrags');
      buf = d.buf!;
    }
    buf = buf!;
    const bits = d.bits;
    const base = 2 * bits + room;
    if (len <= 64) for (let i = 0; i < len; i++) buf[base + start + i] = packet[dataAt + i]!;
    else buf.set(packet.subarray(dataAt, dataAt + len), base + start);
    setBits(buf, 0, b0, b1);
    buf[bits + (b0 >>> 3)]! |= 1 << (b0 & 7);
    if (start === 0) {
      // The first fragment's header (IPv6: when it fits the room; only time exceeded quotes it).
      if (dataAt <= room) {
        for (let i = 0; i < dataAt; i++) buf[2 * bits + i] = packet[i]!;
        d.hdrLen = dataAt;
      }
      d.extra = extra;
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
    // Deadlines are creation time + a constant per family: each list's oldest is its earliest.
    const d = this.all.oldest;
    const d6 = this.all6.oldest;
    return Math.min(d === undefined ? Infinity : d.deadline, d6 === undefined ? Infinity : d6.deadline);
  }

  /**
   * Expires datagrams whose timer ran out (RFC 791 §3.2, RFC 1122 §3.3.2; RFC 8200 §4.5).
   * `out` must hold 65535 bytes. `onExpired` is called for IPv4 datagrams holding their
   * first fragment, `onExpired6` for IPv6 ones (whose first fragment's headers fit the
   * room kept for them): the first fragment as received, for time exceeded code 1.
   */
  poll(now: number, out: Uint8Array, onExpired?: ExpiredFirstFragment, onExpired6?: ExpiredFirstFragment): void {
    this.expire(this.all, this.c, now, out, onExpired);
    this.expire(this.all6, this.t6, now, out, onExpired6 ?? this.expired6);
  }

  // ---- internals ----------------------------------------------------------------------

  private expire(lane: Lane, c: Tally, now: number, out: Uint8Array, onExpired: ExpiredFirstFragment | undefined): void {
    for (let d = lane.oldest; d !== undefined && d.deadline <= now; d = lane.oldest) {
      this.remove(d);
      if (d.dead) continue; // already counted when it was discarded
      c.ReasmTimeout++;
      c.ReasmFails++;
      c.dropped.ReasmTimeoutFrags += d.frags;
      // RFC 1122 §3.3.2 (RFC 8200 §4.5): time exceeded only when fragment zero is available.
      const buf = d.buf;
      if (onExpired !== undefined && buf !== undefined && d.firstEnd > 0 && d.hdrLen > 0) {
        const h = d.hdrLen;
        const at = 2 * d.bits;
        out.set(buf.subarray(at, at + h), 0);
        out.set(buf.subarray(at + d.room, at + d.room + d.firstEnd), h);
        onExpired(out.subarray(0, h + d.firstEnd), now);
      }
    }
  }

  private find(key: number, dst: number, protocol: number): Datagram | undefined {
    let d = this.table.get(key);
    while (d !== undefined && (d.dst !== dst || d.protocol !== protocol)) d = d.sameKey;
    return d;
  }

  private find6(key: number, src: Ipv6Address, dst: Ipv6Address, id: number): Datagram | undefined {
    let d = this.table6.get(key);
    while (d !== undefined && (d.protocol !== id || d.src !== src || d.dst !== dst)) d = d.sameKey;
    return d;
  }

  /** Seeded 53-bit hash of (src, dst, identification): the IPv6 table's key. */
  private key6(src: Ipv6Address, dst: Ipv6Address, id: number): number {
    const s = this.seed6;
    let h1 = s[0]!;
    let h2 = s[1]!;
    for (let i = 0; i < 16; i += 4) {
      const w1 = word(src, i);
      const w2 = word(dst, i);
      h1 = mix(mix(h1, w1), w2);
      h2 = mix(mix(h2, w2), w1);
    }
    return hash53(mix(h1, id | 0), mix(h2, ~id));
  }

  /** Seeded 53-bit hash of the /64 of `src`: the IPv6 per-source quota's key. */
  private prefix6(src: Ipv6Address): number {
    const s = this.seed6;
    const w1 = word(src, 0);
    const w2 = word(src, 4);
    return hash53(mix(mix(s[2]!, w1), w2), mix(mix(s[3]!, w2), w1));
  }

  /** A new datagram, with room made for its record; undefined when even evicting every other cannot make it. */
  private create(v6: boolean, key: number, src: IpAddress, dst: IpAddress, protocol: number, srcKey: number, now: number): Datagram | undefined {
    const table = v6 ? this.table6 : this.table;
    // Bounded chain of datagrams sharing (source, identification): evict its oldest.
    let chain = 0;
    let tail: Datagram | undefined;
    for (let x = table.get(key); x !== undefined; x = x.sameKey) {
      chain++;
      if (tail === undefined || x.deadline <= tail.deadline) tail = x;
    }
    if (chain >= MAX_SAME_KEY && tail !== undefined) this.evict(tail);
    while (this.count >= this.limits.maxReassemblies) {
      const v = this.small.oldest ?? this.oldestExcept(undefined);
      if (v === undefined) break;
      this.evict(v);
    }
    const sources = v6 ? this.sources6 : this.sources;
    let s = sources.get(srcKey);
    const record = v6 ? DATAGRAM6_CHARGE : DATAGRAM_CHARGE;
    let charge = record;
    if (s === undefined) {
      s = { addr: srcKey, v6, bytes: 0, count: 0, small: { oldest: undefined, newest: undefined }, large: { oldest: undefined, newest: undefined } };
      sources.set(srcKey, s);
      charge += SOURCE_CHARGE;
    }
    const timeout = v6 ? this.limits.ipv6ReassemblyTimeoutMs : this.limits.reassemblyTimeoutMs;
    const d = new Datagram(key, v6, src, dst, protocol, s, now, now + timeout, v6 ? HDR_ROOM6 : HDR_ROOM);
    // Link: the table's chain, the global and the source's lists.
    d.sameKey = table.get(key);
    table.set(key, d);
    pushAll(v6 ? this.all6 : this.all, d);
    pushSmall(this.small, d);
    pushSource(s.small, d);
    s.count++;
    this.count++;
    if (!this.reserve(d, charge)) {
      this.remove(d);
      return undefined;
    }
    if (charge > record) {
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
      if (v === undefined) v = this.oldestExcept(d);
      if (v === undefined) return false;
      this.evict(v);
    }
    d.charge += delta;
    s.bytes += delta;
    this.used += delta;
    return true;
  }

  /** The oldest datagram of either family other than `d`. */
  private oldestExcept(d: Datagram | undefined): Datagram | undefined {
    let a = this.all.oldest;
    if (a !== undefined && a === d) a = d.newer;
    let b = this.all6.oldest;
    if (b !== undefined && b === d) b = d.newer;
    return b !== undefined && (a === undefined || b.born < a.born) ? b : a;
  }

  /** Moves `d`'s bitmaps, header and payload into a buffer for `cap` payload bytes. */
  private grow(d: Datagram, cap: number): boolean {
    const len = bufferLength(cap, d.room);
    const old = d.buf;
    if (!this.reserve(d, len - (old === undefined ? 0 : old.length))) return false;
    const buf = new Uint8Array(len);
    const bits = bitmapBytes(cap);
    if (old !== undefined) {
      const ob = d.bits;
      buf.set(old.subarray(0, ob), 0);
      buf.set(old.subarray(ob, 2 * ob), bits);
      buf.set(old.subarray(2 * ob, 2 * ob + d.room + d.cap), 2 * bits);
    }
    d.buf = buf;
    d.cap = cap;
    d.bits = bits;
    return true;
  }

  /** Writes the reassembled datagram to `out` and forgets `d`. */
  private complete(d: Datagram, out: Uint8Array): number {
    const buf = d.buf!;
    const at = 2 * d.bits;
    if (d.v6) {
      // RFC 8200 §4.5: the fragmentable part; the caller has the rest.
      out.set(buf.subarray(at + d.room, at + d.room + d.end), 0);
      this.remove(d);
      this.t6.ReasmOKs++;
      this.t6.ReasmFragsUsed += d.frags;
      return d.end;
    }
    const h = d.hdrLen;
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
    const table = d.v6 ? this.table6 : this.table;
    const head = table.get(d.key);
    if (head === d) {
      if (d.sameKey === undefined) table.delete(d.key);
      else table.set(d.key, d.sameKey);
    } else {
      let p = head;
      while (p !== undefined && p.sameKey !== d) p = p.sameKey;
      if (p !== undefined) p.sameKey = d.sameKey;
    }
    const s = d.source;
    unlinkAll(d.v6 ? this.all6 : this.all, d);
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
      (s.v6 ? this.sources6 : this.sources).delete(s.addr);
    }
  }

  /** Discards `d` to make room (oldest first): its fragments are dropped as ReasmEvictedFrags. */
  private evict(d: Datagram): void {
    const c = d.v6 ? this.t6 : this.c;
    if (!d.dead) {
      c.ReasmFails++;
      c.ReasmEvicted++;
      c.dropped.ReasmEvictedFrags += d.frags;
    }
    this.remove(d);
  }

  /** Discards a datagram in progress and the fragment at hand, keeping a tombstone until its deadline. */
  private kill(d: Datagram, reason: ReasmDropReason): 0 {
    const c = d.v6 ? this.t6 : this.c;
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

function duplicate(c: Tally): 0 {
  c.ReasmDuplicates++;
  c.dropped.ReasmDuplicates++;
  return 0;
}

function dropFragment(c: Tally, reason: ReasmDropReason, fail: boolean): 0 {
  c.dropped[reason]++;
  if (fail) c.ReasmFails++;
  return 0;
}

/** A non-negative 53-bit key from two 32-bit hashes. */
function hash53(h1: number, h2: number): number {
  return (fmix(h1) >>> 11) * 4294967296 + (fmix(h2) >>> 0);
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
