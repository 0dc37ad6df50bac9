/**
 * The SACK blocks we send (RFC 2018 §4, D-SACK RFC 2883 §4): the receiver side of SACK.
 * The out-of-order data itself is in the connection's `Assembler` (ring.ts), passed in
 * with RCV.NXT; this keeps only what the blocks' order needs: a sequence number inside
 * each of the most recently reported blocks (looked up in the assembler when an ACK is
 * built, so merges and filled holes are seen), and a pending D-SACK range.
 * The peer's blocks feed the sender's scoreboard instead (scoreboard.ts).
 */
import type { Assembler } from './ring.js';
import { seqAdd, seqDiff } from './seq.js';
import type { SackBlock } from './wire.js';

export class SackReport {
  /** Most recent first: a sequence number inside each recently reported block. */
  private readonly marks: number[] = [0, 0, 0, 0];
  private markCount = 0;
  private dsackPending = false;
  private dsackLeft = 0;
  private dsackRight = 0;

  /** A D-SACK is waiting to be reported (once, as the first block of the next ACK). */
  get dsack(): boolean { return this.dsackPending; }

  /** RFC 2883 §4: [left, right) arrived again: report it once as the first block. */
  setDsack(left: number, right: number): void {
    this.dsackPending = true;
    this.dsackLeft = left;
    this.dsackRight = right;
  }

  /**
   * RFC 2018 §4: the out-of-order block holding `mark` (just received) becomes the most
   * recently reported one; `asm` holds the out-of-order ranges as offsets from `rcvNxt`.
   */
  noteBlock(mark: number, asm: Assembler, rcvNxt: number): void {
    const m = this.marks;
    const idx = asm.indexOf(seqDiff(mark, rcvNxt));
    // Keep the others that still name a distinct held block, in order, behind the new one:
    // first compact them in place (k <= i), then shift right by one.
    let k = 0;
    for (let i = 0; i < this.markCount; i++) {
      const j = asm.indexOf(seqDiff(m[i]!, rcvNxt));
      if (j >= 0 && j !== idx) m[k++] = m[i]!;
    }
    if (k > m.length - 1) k = m.length - 1;
    for (let i = k; i > 0; i--) m[i] = m[i - 1]!;
    m[0] = mark;
    this.markCount = k + 1;
  }

  /** Nothing is held out of order any more: no block to remember. */
  clearBlocks(): void { this.markCount = 0; }

  /** An ACK left: the D-SACK (if any) was reported (RFC 2883 §4: each duplicate once). */
  onAckSent(): void { this.dsackPending = false; }

  /**
   * Fills `out` with up to `max` SACK blocks for the ACK being sent (RFC 2018 §4):
   * a pending D-SACK first (RFC 2883), then the block holding the most recently received
   * out-of-order segment, then the most recently reported other blocks, then any other
   * held blocks. Returns the count. Allocation-free: `out` is preallocated by the caller.
   */
  fill(out: readonly SackBlock[], max: number, asm: Assembler, rcvNxt: number): number {
    let n = 0;
    if (this.dsackPending && n < max) {
      const b = out[n++]!;
      b.left = this.dsackLeft;
      b.right = this.dsackRight;
    }
    const first = n; // blocks from here on are distinct held ranges
    if (asm.isEmpty) return n;
    const rn = rcvNxt;
    for (let i = 0; i < this.markCount && n < max; i++) {
      const j = asm.indexOf(seqDiff(this.marks[i]!, rn));
      if (j >= 0) n = pushBlock(out, first, n, seqAdd(rn, asm.rangeStart(j)), seqAdd(rn, asm.rangeEnd(j)));
    }
    for (let j = 0; j < asm.rangeCount && n < max; j++) {
      n = pushBlock(out, first, n, seqAdd(rn, asm.rangeStart(j)), seqAdd(rn, asm.rangeEnd(j)));
    }
    return n;
  }
}

function pushBlock(out: readonly SackBlock[], first: number, n: number, left: number, right: number): number {
  for (let i = first; i < n; i++) if (out[i]!.left === left) return n;
  const b = out[n]!;
  b.left = left;
  b.right = right;
  return n + 1;
}
