/**
 * IPv4 reassembly (RFC 791 §3.2, RFC 815), as a pure state machine: time is an
 * argument, timeouts are data (`pollAt`/`poll`), nothing is thrown for wire input.
 *
 * Design (choices where the RFCs leave room):
 * - Key: (source, destination, protocol, identification) — RFC 791 §3.2.
 * - Per datagram, a sorted list of non-overlapping received intervals (RFC 815's
 *   hole list, stored as its complement). The datagram is complete when the last
 *   fragment (MF=0) has fixed its length and the received bytes add up to it.
 * - Overlap policy (RFC 5722 in spirit, Linux since 2018): ANY overlap with data
 *   already held discards the whole datagram (ReasmOverlaps), except an exact
 *   duplicate — same offset, same length, same bytes — which is ignored and counted
 *   (ReasmDuplicates). Retransmitting hosts and duplicating networks produce exact
 *   duplicates; differing overlaps are the signature of evasion/poisoning attacks.
 * - A discarded datagram becomes a tombstone (no bytes held) until its timer runs
 *   out, so its remaining fragments are dropped (reasm-dead) instead of starting a
 *   new, doomed reassembly.
 * - Bounds: at most `maxDatagrams` in progress (tombstones included); when full, the
 *   NEW fragment is dropped (reasm-table-full) rather than evicting the oldest, so a
 *   flood cannot flush reassemblies already under way (Linux does the same when its
 *   fragment memory is over the threshold). Memory is the bytes held (fragment
 *   payloads + the first fragment's header); a fragment that would take it over
 *   `maxBytes` discards its whole datagram (reasm-no-memory): it can never complete.
 *   The total never exceeds `maxBytes`.
 * - A datagram may not exceed 65535 bytes (header of the first fragment included).
 * - Timer: `timeoutMs` from the FIRST fragment received (RFC 791 §3.2 suggests a
 *   15 s lower bound; RFC 1122 §3.3.2 a 60..120 s range; Linux uses 30 s), not
 *   restarted by later fragments. Expiry happens when now >= first + timeoutMs.
 */
import { IPV4_MAX_TOTAL_LEN, IPV4_MIN_HEADER_LEN, headerSum, type Ipv4Repr } from './ipv4.js';
import type { Ipv4Counters, Ipv4DropReason } from './stats.js';

export interface ReassemblyLimits {
  /** Default 30000. */
  reassemblyTimeoutMs: number;
  /** Datagrams in progress at once. Default 64. */
  maxReassemblies: number;
  /** Bytes held over all datagrams in progress. Default 4 MiB. */
  maxReassemblyBytes: number;
}

export const DEFAULT_REASSEMBLY_LIMITS: Readonly<ReassemblyLimits> = {
  reassemblyTimeoutMs: 30_000,
  maxReassemblies: 64,
  maxReassemblyBytes: 4 * 1024 * 1024,
};

interface Fragment {
  start: number;
  end: number;
  data: Uint8Array;
}

interface Datagram {
  readonly deadline: number;
  /** Discarded: holds nothing, drops further fragments until the deadline. */
  dead: boolean;
  /** Sorted by start, pairwise disjoint. */
  frags: Fragment[];
  /** Sum of fragment lengths. */
  received: number;
  /** Payload length fixed by the last fragment; -1 until it arrives. */
  end: number;
  /** Copy of the first fragment's header (options included), once it arrived. */
  header: Uint8Array | undefined;
  /** Bytes charged against the memory cap. */
  bytes: number;
}

/** Called by `poll` for a datagram that timed out holding its first fragment: the fragment as received (RFC 792 type 11 code 1). */
export type ExpiredFirstFragment = (firstFragment: Uint8Array, now: number) => void;

export class Reassembler {
  private readonly table = new Map<string, Datagram>();
  private used = 0;
  private readonly limits: Readonly<ReassemblyLimits>;
  private readonly c: Ipv4Counters;

  constructor(limits: Readonly<ReassemblyLimits>, counters: Ipv4Counters) {
    this.limits = limits;
    this.c = counters;
  }

  /** Datagrams in progress (tombstones included). */
  get datagrams(): number {
    return this.table.size;
  }

  /** Bytes held (never above maxReassemblyBytes). */
  get bytes(): number {
    return this.used;
  }

  /**
   * Adds one fragment: `packet` is the fragment trimmed to its Total Length, `repr`
   * its parse (MF set or offset non-zero). When it completes a datagram, the rebuilt
   * datagram (first fragment's header with MF/offset cleared, new length and
   * checksum, then the payload) is written at `out[0...]` (`out` must hold 65535
   * bytes) and its length returned; otherwise 0.
   */
  add(repr: Ipv4Repr, packet: Uint8Array, now: number, out: Uint8Array): number {
    const c = this.c;
    const start = repr.fragmentOffset;
    const len = repr.payloadLength;
    const end = start + len;
    const last = !repr.moreFragments;
    const key = `${repr.src}/${repr.dst}/${repr.protocol}/${repr.identification}`;
    let d = this.table.get(key);
    if (d?.dead) return this.dropFragment('reasm-dead', false);
    // RFC 791 §3.2: every fragment but the last carries a non-zero multiple of 8 octets.
    if (!last && (len === 0 || (len & 7) !== 0)) return this.dropFragment('reasm-bad-fragment', true);
    if (d === undefined) {
      if (this.table.size >= this.limits.maxReassemblies) return this.dropFragment('reasm-table-full', true);
      d = { deadline: now + this.limits.reassemblyTimeoutMs, dead: false, frags: [], received: 0, end: -1, header: undefined, bytes: 0 };
      this.table.set(key, d);
    }
    const frags = d.frags;
    // 65535-byte limit on the datagram (RFC 791 §3.1 Total Length), header included.
    const hl = start === 0 ? repr.headerLength : d.header !== undefined ? d.header.length : IPV4_MIN_HEADER_LEN;
    const lastHeld = frags[frags.length - 1];
    const maxEnd = Math.max(end, d.end, lastHeld !== undefined ? lastHeld.end : 0);
    if (maxEnd + hl > IPV4_MAX_TOTAL_LEN) return this.kill(d, 'reasm-too-big');
    // All fragments must agree on where the datagram ends.
    if (last ? (d.end >= 0 ? end !== d.end : maxEnd > end) : d.end >= 0 && end > d.end) return this.kill(d, 'reasm-inconsistent');
    // Binary search: i = first fragment with start >= this start.
    let lo = 0;
    let hi = frags.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (frags[mid]!.start < start) lo = mid + 1;
      else hi = mid;
    }
    const at = frags[lo];
    const hdrLen = repr.headerLength;
    if (at !== undefined && at.start === start && at.end === end && sameBytes(at.data, packet, hdrLen)) {
      if (last) d.end = end;
      c.ReasmDuplicates++;
      return this.dropFragment('reasm-duplicate', false);
    }
    const prev = frags[lo - 1];
    if ((prev !== undefined && prev.end > start) || (at !== undefined && (at.start < end || at.start === start))) {
      c.ReasmOverlaps++;
      return this.kill(d, 'reasm-overlap');
    }
    const need = len + (start === 0 ? hdrLen : 0);
    if (this.used + need > this.limits.maxReassemblyBytes) return this.kill(d, 'reasm-no-memory');
    frags.splice(lo, 0, { start, end, data: packet.slice(hdrLen, hdrLen + len) });
    if (start === 0) d.header = packet.slice(0, hdrLen);
    if (last) d.end = end;
    d.received += len;
    d.bytes += need;
    this.used += need;
    // Complete: the end is known and, intervals being disjoint, the bytes cover [0, end).
    if (d.end < 0 || d.received !== d.end) return 0;
    const header = d.header!;
    const h = header.length;
    out.set(header, 0);
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
    for (const f of frags) out.set(f.data, h + f.start);
    this.used -= d.bytes;
    this.table.delete(key);
    c.ReasmOKs++;
    return total;
  }

  /** Earliest reassembly deadline, or Infinity. */
  pollAt(): number {
    // Asked after every receive batch: no iterator when there is nothing to look at.
    if (this.table.size === 0) return Infinity;
    // Deadlines are creation time + a constant, and the Map keeps creation order.
    for (const d of this.table.values()) return d.deadline;
    return Infinity;
  }

  /** Expires datagrams whose timer ran out (RFC 791 §3.2, RFC 1122 §3.3.2). `out` must hold 65535 bytes. */
  poll(now: number, out: Uint8Array, onExpired?: ExpiredFirstFragment): void {
    if (this.table.size === 0) return;
    for (const [key, d] of this.table) {
      if (d.deadline > now) break;
      this.table.delete(key);
      if (d.dead) continue; // already counted when it was discarded
      this.used -= d.bytes;
      this.c.ReasmTimeout++;
      this.c.ReasmFails++;
      this.c.dropped['reasm-timeout']++;
      const first = d.frags[0];
      // RFC 1122 §3.3.2: time exceeded only when fragment zero is available.
      if (onExpired !== undefined && d.header !== undefined && first !== undefined && first.start === 0) {
        out.set(d.header, 0);
        out.set(first.data, d.header.length);
        onExpired(out.subarray(0, d.header.length + first.data.length), now);
      }
    }
  }

  private dropFragment(reason: Ipv4DropReason, fail: boolean): 0 {
    this.c.dropped[reason]++;
    if (fail) this.c.ReasmFails++;
    return 0;
  }

  /** Discards a datagram in progress, keeping a tombstone until its deadline. */
  private kill(d: Datagram, reason: Ipv4DropReason): 0 {
    this.used -= d.bytes;
    d.bytes = 0;
    d.frags = [];
    d.header = undefined;
    d.received = 0;
    d.dead = true;
    this.c.ReasmFails++;
    this.c.dropped[reason]++;
    return 0;
  }
}

function sameBytes(held: Uint8Array, packet: Uint8Array, off: number): boolean {
  for (let i = 0; i < held.length; i++) if (held[i] !== packet[off + i]) return false;
  return true;
}
