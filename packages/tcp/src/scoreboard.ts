/**
 * The sender's SACK scoreboard (RFC 6675 §3, RFC 2018 §4): what the peer reported
 * holding above the cumulative ACK, as disjoint ranges of sequence numbers. A plain
 * structure with the sequence variables passed in (SND.UNA is RFC 6675's HighACK,
 * SND.MAX its HighData); loss recovery (recovery.ts) decides what to do with it.
 *
 * Storage is two preallocated Uint32Arrays: updating, pruning and querying allocate
 * nothing, so the per-ACK path stays allocation-free.
 */
import { seqDiff, seqGe, seqGt, seqLe, seqLt } from './seq.js';
import type { SackBlock } from './wire.js';

/** RFC 6675 §2 DupThresh. */
export const DUP_THRESH = 3;

/**
 * RFC 2883 §4: the first SACK block is a D-SACK when it lies below the cumulative ACK,
 * or within the second block.
 */
export function isDsack(blocks: readonly SackBlock[], ack: number): boolean {
  const b = blocks[0]!;
  if (seqLt(b.left, ack)) return true;
  const c = blocks[1];
  return c !== undefined && seqGe(b.left, c.left) && seqLe(b.right, c.right);
}

export class Scoreboard {
  /**
   * SACKed ranges [L[i], R[i]), ascending, disjoint and not adjacent, at most `capacity`;
   * the arrays start at 8 ranges and double as the peer reports more holes.
   */
  private L: Uint32Array;
  private R: Uint32Array;
  private n = 0;

  /** `capacity`: the most ranges kept (RFC 6675 §4 leaves the bound to the implementation). */
  constructor(readonly capacity: number) {
    const initial = Math.min(capacity, 8);
    this.L = new Uint32Array(initial);
    this.R = new Uint32Array(initial);
  }

  /** Ranges held. */
  get count(): number { return this.n; }
  /** Left edge (first SACKed octet) of range `i`, 0 <= i < count. */
  left(i: number): number { return this.L[i]!; }
  /** Right edge (one past the last SACKed octet) of range `i`. */
  right(i: number): number { return this.R[i]!; }
  /** One past the highest SACKed octet (only when count > 0). */
  highest(): number { return this.R[this.n - 1]!; }

  /**
   * Forgets every range: at a recovery's end, and at a retransmission timeout when the
   * receiver reneged (RFC 2018 §8; LossRecovery.onRto keeps the ranges otherwise).
   */
  clear(): void { this.n = 0; }

  /**
   * RFC 6675 §5 / RFC 2018 §4: merges an acceptable ACK's SACK blocks. Ignored: empty
   * blocks, blocks reaching below this ACK (a D-SACK, RFC 2883 §4, or bogus: the
   * receiver's blocks lie above RCV.NXT), blocks at or below max(ACK, SND.UNA), blocks
   * reaching past SND.MAX. One from a reordered older ACK is clipped to SND.UNA. A D-SACK
   * block inside already SACKed data merges without effect (it reports data the peer holds).
   * Returns whether the SACKed octets grew (RFC 6675 §2: only then is the ACK a duplicate).
   */
  update(blocks: readonly SackBlock[], ack: number, sndUna: number, sndMax: number): boolean {
    const before = this.sackedBytes();
    const lo = seqGt(ack, sndUna) ? ack : sndUna;
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i]!;
      let l = b.left;
      const r = b.right;
      if (!seqLt(l, r) || seqLt(l, ack) || seqLe(r, lo) || seqGt(r, sndMax)) continue;
      if (seqLt(l, lo)) l = lo;
      this.insert(l, r);
    }
    return this.sackedBytes() > before;
  }

  /** Octets in the scoreboard. */
  sackedBytes(): number {
    let n = 0;
    for (let i = 0; i < this.n; i++) n += seqDiff(this.R[i]!, this.L[i]!);
    return n;
  }

  /**
   * Inserts [l, r), merging overlapping and adjacent ranges. When a new range would
   * exceed the capacity, the highest range gives way (the peer still holds the data:
   * only its SACK information is forgotten, as if that block had not been reported).
   */
  insert(l: number, r: number): void {
    if (this.n === this.L.length && this.n < this.capacity) {
      const size = Math.min(this.capacity, this.n * 2);
      const L2 = new Uint32Array(size), R2 = new Uint32Array(size);
      L2.set(this.L); R2.set(this.R);
      this.L = L2; this.R = R2;
    }
    const L = this.L;
    const R = this.R;
    const n = this.n;
    let i = 0;
    while (i < n && seqLt(R[i]!, l)) i++;
    let j = i;
    while (j < n && seqLe(L[j]!, r)) {
      if (seqLt(L[j]!, l)) l = L[j]!;
      if (seqGt(R[j]!, r)) r = R[j]!;
      j++;
    }
    const merged = j - i;
    if (merged === 0) {
      if (n === this.capacity) {
        if (i === n) return;
        this.n = n - 1;
      }
      for (let k = this.n; k > i; k--) { L[k] = L[k - 1]!; R[k] = R[k - 1]!; }
      this.n++;
    } else if (merged > 1) {
      for (let k = j; k < n; k++) { L[k - merged + 1] = L[k]!; R[k - merged + 1] = R[k]!; }
      this.n = n - merged + 1;
    }
    L[i] = l;
    R[i] = r;
  }

  /** Drops what the cumulative ACK (SND.UNA = `una`) has passed. */
  prune(una: number): void {
    const L = this.L;
    const R = this.R;
    const n = this.n;
    let k = 0;
    while (k < n && seqLe(R[k]!, una)) k++;
    if (k > 0) {
      for (let m = k; m < n; m++) { L[m - k] = L[m]!; R[m - k] = R[m]!; }
      this.n = n - k;
    }
    if (this.n > 0 && seqLt(L[0]!, una)) L[0] = una;
  }

  /**
   * RFC 6675 §4 IsLost, for the whole scoreboard at once: IsLost is monotone (a lower
   * octet has at least as much SACKed above it), and every octet of one hole has the same
   * SACKed ranges above it. So an unSACKed octet is lost iff it is below the returned
   * sequence number: the left edge of the highest range with DupThresh discontiguous
   * SACKed ranges, or more than (DupThresh - 1) * SMSS SACKed bytes, at or above it.
   * `una` (SND.UNA) when nothing is lost.
   */
  lostEnd(una: number, smss: number): number {
    const L = this.L;
    const R = this.R;
    let bytes = 0;
    for (let i = this.n - 1, c = 1; i >= 0; i--, c++) {
      bytes += seqDiff(R[i]!, L[i]!);
      if (c >= DUP_THRESH || bytes > (DUP_THRESH - 1) * smss) return L[i]!;
    }
    return una;
  }

  /** UnSACKed octets in [a, b). */
  unsackedIn(a: number, b: number): number {
    if (!seqLt(a, b)) return 0;
    let n = seqDiff(b, a);
    for (let i = 0; i < this.n; i++) {
      const l = this.L[i]!;
      const r = this.R[i]!;
      const ol = seqGt(l, a) ? l : a;
      const or = seqLt(r, b) ? r : b;
      if (seqLt(ol, or)) n -= seqDiff(or, ol);
    }
    return n;
  }

  /**
   * RFC 6675 §4 SetPipe(): over the unSACKed octets of [HighACK, HighData), one for each
   * not lost (IsLost), one more for each retransmitted (below HighRxt, an exclusive end).
   */
  pipe(una: number, sndMax: number, highRxt: number, smss: number): number {
    const lostEnd = this.lostEnd(una, smss);
    const hr = seqGt(highRxt, sndMax) ? sndMax : highRxt;
    return this.unsackedIn(seqGt(lostEnd, una) ? lostEnd : una, sndMax) + this.unsackedIn(una, hr);
  }

  /**
   * The start of the hole at or above `s`: `s` itself, or the right edge of the SACKed
   * range holding it. (RFC 6675 NextSeg() looks for "the smallest unSACKed sequence number".)
   */
  holeStart(s: number): number {
    for (let i = 0; i < this.n; i++) {
      const l = this.L[i]!;
      const r = this.R[i]!;
      if (seqLe(r, s)) continue;
      if (seqLe(l, s)) { s = r; continue; }
      break;
    }
    return s;
  }

  /**
   * The left edge of the first SACKed range above the unSACKed octet `s` (where the hole
   * holding `s` ends), or -1 when no range lies above it.
   */
  nextSacked(s: number): number {
    for (let i = 0; i < this.n; i++) {
      if (seqGt(this.R[i]!, s)) return this.L[i]!;
    }
    return -1;
  }

  /**
   * The segment NextSeg() would send from the hole start `start` (see holeStart): up to
   * `smss` octets, not into the next SACKed range, not past `bound` nor SND.MAX; 0 when
   * `start` is at or past either.
   */
  holeLength(start: number, bound: number, sndMax: number, smss: number): number {
    const next = this.nextSacked(start);
    let end = next < 0 ? sndMax : next;
    if (seqGt(end, bound)) end = bound;
    return seqLt(start, end) ? Math.min(smss, seqDiff(end, start)) : 0;
  }
}
