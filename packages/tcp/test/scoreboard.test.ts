/**
 * The sender's SACK scoreboard (RFC 6675 §3-§4, RFC 2018 §4) against a naive model: one
 * boolean per octet of a window of sequence space placed at a random base (so the
 * comparisons wrap modulo 2^32), with IsLost and SetPipe written from the RFC's
 * definitions octet by octet. And the SACK/D-SACK blocks we send (RFC 2018 §4, RFC 2883)
 * over the reassembler.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Assembler } from '../src/ring.js';
import { SackReport } from '../src/sack-report.js';
import { DUP_THRESH, isDsack, Scoreboard } from '../src/scoreboard.js';
import type { SackBlock } from '../src/wire.js';

const W = 400; // octets of sequence space the model covers (offsets from `base`)

/** The model: octets SACKed, SND.UNA and SND.MAX as offsets from `base`. */
class Model {
  readonly bit = new Uint8Array(W);
  una = 0;
  constructor(public max: number, readonly cap: number) {}

  runs(): [number, number][] {
    const out: [number, number][] = [];
    for (let x = 0; x < W; x++) {
      if (!this.bit[x]) continue;
      const s = x;
      while (x < W && this.bit[x]) x++;
      out.push([s, x]);
    }
    return out;
  }
  sacked(): number { return this.bit.reduce((a, b) => a + b, 0); }

  /** RFC 6675 §5 update, RFC 2883 §4 D-SACK blocks ignored, RFC 2018 §4 bound: the highest range gives way. */
  update(blocks: [number, number][], ack: number): boolean {
    const before = this.sacked();
    const lo = Math.max(ack, this.una);
    for (const [l0, r] of blocks) {
      if (!(l0 < r) || l0 < ack || r <= lo || r > this.max) continue;
      for (let x = Math.max(l0, lo); x < r; x++) this.bit[x] = 1;
      const runs = this.runs();
      if (runs.length > this.cap) {
        const [s, e] = runs[runs.length - 1]!;
        this.bit.fill(0, s, e);
      }
    }
    return this.sacked() > before;
  }

  advance(una: number): void {
    this.una = una;
    this.bit.fill(0, 0, una);
  }

  /** RFC 6675 §4 IsLost(SeqNum) for every octet, from its definition (`runs`: this.runs()). */
  lostMap(runs: [number, number][], smss: number): boolean[] {
    const lost: boolean[] = [];
    for (let x = 0; x < W; x++) {
      let discontiguous = 0;
      let bytes = 0;
      for (const [s, e] of runs) {
        if (s > x) discontiguous++;
        bytes += Math.max(0, e - Math.max(s, x + 1));
      }
      lost.push(discontiguous >= DUP_THRESH || bytes > (DUP_THRESH - 1) * smss);
    }
    return lost;
  }

  /** RFC 6675 §4 SetPipe(), octet by octet (HighRxt as an exclusive end). */
  pipe(lost: boolean[], highRxt: number): number {
    let pipe = 0;
    for (let x = this.una; x < this.max; x++) {
      if (this.bit[x]) continue;
      if (!lost[x]) pipe++;
      if (x < highRxt) pipe++;
    }
    return pipe;
  }
}

type Op =
  | { kind: 'update'; blocks: [number, number][]; ack: number }
  | { kind: 'advance'; by: number }
  | { kind: 'send'; by: number }
  | { kind: 'clear' };

const off = fc.integer({ min: -20, max: W + 20 });
const blockArb: fc.Arbitrary<[number, number]> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(off, fc.integer({ min: -3, max: 25 })).map(([l, n]): [number, number] => [l, l + n]) },
  { weight: 1, arbitrary: fc.tuple(off, off) },
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  // Blocks mostly short (so IsLost's range count matters, not only its byte count), some arbitrary.
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('update' as const), blocks: fc.array(blockArb, { maxLength: 4 }), ack: fc.integer({ min: -30, max: W }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), by: fc.integer({ min: 0, max: 60 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('send' as const), by: fc.integer({ min: 0, max: 80 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('clear' as const) }) },
);
// Near 2^32 the window wraps; anywhere else it does not.
const baseArb = fc.oneof(fc.constant(0xffffff00), fc.constant(0xfffffff0), fc.nat({ max: 0xffffffff }));

describe('Scoreboard against an octet bitmap', () => {
  it('holds the same octets, and IsLost, SetPipe, holes and unSACKed counts agree with the RFC definitions', () => {
    fc.assert(fc.property(
      baseArb, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 100, max: W }), fc.constantFrom(7, 20, 60, 200),
      fc.array(opArb, { minLength: 1, maxLength: 30 }), fc.integer({ min: -10, max: W + 10 }),
      (base, cap, max0, smss, ops, highRxt0) => {
        const seq = (o: number): number => (base + o) >>> 0;
        const offOf = (s: number): number => ((s - base) | 0);
        const sb = new Scoreboard(cap);
        const m = new Model(max0, cap);
        for (const op of ops) {
          if (op.kind === 'update') {
            const blocks: SackBlock[] = op.blocks.map(([l, r]) => ({ left: seq(l), right: seq(r) }));
            const grew = sb.update(blocks, seq(op.ack), seq(m.una), seq(m.max));
            expect(grew).toBe(m.update(op.blocks, op.ack));
          } else if (op.kind === 'advance') {
            const una = Math.min(m.max, m.una + op.by);
            m.advance(una);
            sb.prune(seq(una));
          } else if (op.kind === 'send') {
            m.max = Math.min(W, m.max + op.by);
          } else {
            sb.clear();
            m.bit.fill(0);
          }
          // The same ranges: ascending, disjoint, not adjacent, within the bound.
          const runs: [number, number][] = [];
          for (let i = 0; i < sb.count; i++) runs.push([offOf(sb.left(i)), offOf(sb.right(i))]);
          expect(runs).toEqual(m.runs());
          expect(sb.count).toBeLessThanOrEqual(cap);
          expect(sb.sackedBytes()).toBe(m.sacked());
          if (sb.count > 0) expect(offOf(sb.highest())).toBe(m.runs().at(-1)![1]);

          const una = seq(m.una);
          const mruns = m.runs();
          const lost = m.lostMap(mruns, smss);
          const lostEnd = offOf(sb.lostEnd(una, smss));
          const lostGot: number[] = [];
          const lostWant: number[] = [];
          for (let x = m.una; x < m.max; x++) {
            if (m.bit[x]) continue;
            if (x < lostEnd) lostGot.push(x);
            if (lost[x]) lostWant.push(x);
          }
          expect(lostGot).toEqual(lostWant);
          const highRxt = Math.max(m.una - 10, Math.min(highRxt0, m.max + 10));
          expect(sb.pipe(una, seq(m.max), seq(highRxt), smss)).toBe(m.pipe(lost, highRxt));
          // Prefix counts of unSACKed octets.
          const pre = [0];
          for (let x = 0; x < W; x++) pre.push(pre[x]! + (m.bit[x] ? 0 : 1));
          const got: number[] = [];
          const want: number[] = [];
          for (let a = m.una; a <= m.max; a += 13) {
            for (let b = a; b <= m.max; b += 29) {
              got.push(sb.unsackedIn(seq(a), seq(b)));
              want.push(pre[b]! - pre[a]!);
            }
            // The hole at or above `a`, and the segment NextSeg() would send there.
            let h = a;
            while (h < W && m.bit[h]) h++;
            let e = h;
            while (e < m.max && !m.bit[e]) e++;
            const next = e < m.max ? e : -1;
            const bound = Math.min(m.max, a + 50);
            const end = Math.min(e, bound);
            got.push(offOf(sb.holeStart(seq(a))), sb.nextSacked(seq(h)), sb.holeLength(seq(h), seq(bound), seq(m.max), smss));
            want.push(h, next < 0 ? -1 : seq(next), h < end ? Math.min(smss, end - h) : 0);
          }
          expect(got).toEqual(want);
        }
      },
    ), { numRuns: 300 });
  });
});

describe('Scoreboard examples', () => {
  const B = 0xfffffff0; // wraps at +16
  const s = (o: number): number => (B + o) >>> 0;
  const blk = (l: number, r: number): SackBlock => ({ left: s(l), right: s(r) });

  it('RFC 2883 §4: a first block below the cumulative ACK, or inside the second block, is a D-SACK', () => {
    expect(isDsack([blk(0, 10)], s(10))).toBe(true);
    expect(isDsack([blk(5, 15)], s(10))).toBe(true);
    expect(isDsack([blk(30, 40), blk(20, 50)], s(10))).toBe(true);
    expect(isDsack([blk(30, 40), blk(20, 35)], s(10))).toBe(false);
    expect(isDsack([blk(30, 40)], s(10))).toBe(false);
  });

  it('ignores D-SACK blocks, blocks past SND.MAX and empty blocks; a known block is no news (RFC 6675 §2)', () => {
    const sb = new Scoreboard(4);
    expect(sb.update([blk(0, 10)], s(10), s(0), s(100))).toBe(false); // below the ACK
    expect(sb.update([blk(50, 120)], s(10), s(0), s(100))).toBe(false); // past SND.MAX
    expect(sb.update([blk(30, 30)], s(10), s(0), s(100))).toBe(false); // empty
    expect(sb.count).toBe(0);
    expect(sb.update([blk(20, 30)], s(10), s(0), s(100))).toBe(true);
    expect(sb.update([blk(20, 30)], s(10), s(10), s(100))).toBe(false);
    expect(sb.update([blk(22, 25), blk(40, 50)], s(10), s(10), s(100))).toBe(true);
    expect([sb.count, sb.left(0), sb.right(1)]).toEqual([2, s(20), s(50)]);
    // A reordered older ACK's block reaching below SND.UNA is clipped to SND.UNA.
    expect(sb.update([blk(15, 60)], s(12), s(18), s(100))).toBe(true);
    expect([sb.count, sb.left(0), sb.right(0)]).toEqual([1, s(18), s(60)]);
  });

  it('grows from 8 ranges as the peer reports more holes, up to its bound, keeping every range', () => {
    const sb = new Scoreboard(40);
    // 45 disjoint ranges in a scrambled order (each insert lands somewhere inside the arrays).
    const order: number[] = [];
    for (let k = 0; k < 45; k++) order.push((k * 17) % 45);
    for (const k of order) sb.update([blk(10 * k, 10 * k + 5)], s(0), s(0), s(1000));
    // The 40 lowest are kept (a range above all others gives way at the bound; one below evicts the highest).
    expect(sb.count).toBe(40);
    for (let i = 0; i < 40; i++) expect([sb.left(i), sb.right(i)]).toEqual([s(10 * i), s(10 * i + 5)]);
    expect(sb.sackedBytes()).toBe(200);
    // Merges after growth: one block over ranges 3..12.
    sb.update([blk(30, 125)], s(0), s(0), s(1000));
    expect([sb.count, sb.left(3), sb.right(3), sb.left(4)]).toEqual([31, s(30), s(125), s(130)]);
  });

  it('bound: a new range above all others gives way; one below evicts the highest', () => {
    const sb = new Scoreboard(3);
    for (const l of [10, 20, 30]) sb.update([blk(l, l + 5)], s(0), s(0), s(100));
    sb.update([blk(40, 45)], s(0), s(0), s(100));
    expect([sb.count, sb.highest()]).toEqual([3, s(35)]);
    sb.update([blk(2, 4)], s(0), s(0), s(100));
    expect([sb.count, sb.left(0), sb.highest()]).toEqual([3, s(2), s(25)]);
    // Merging into an existing range needs no room.
    sb.update([blk(4, 10)], s(0), s(0), s(100));
    expect([sb.count, sb.left(0), sb.right(0)]).toEqual([2, s(2), s(15)]);
  });

  it('NextSeg pieces: the hole after a SACKed range, its length capped by SMSS, the next range and the bound', () => {
    const sb = new Scoreboard(8);
    sb.update([blk(10, 20), blk(30, 34)], s(0), s(0), s(100));
    expect(sb.holeStart(s(0))).toBe(s(0));
    expect(sb.holeLength(s(0), s(100), s(100), 6)).toBe(6);
    expect(sb.holeLength(s(6), s(100), s(100), 6)).toBe(4); // up to the SACKed range at 10
    expect(sb.holeStart(s(12))).toBe(s(20));
    expect(sb.holeLength(s(20), s(25), s(100), 50)).toBe(5); // bound
    expect(sb.holeStart(s(30))).toBe(s(34));
    expect(sb.nextSacked(s(34))).toBe(-1);
    expect(sb.holeLength(s(34), s(100), s(40), 50)).toBe(6); // SND.MAX
    expect(sb.holeLength(s(40), s(100), s(40), 50)).toBe(0);
  });

  it('IsLost: DupThresh ranges above, or more than (DupThresh - 1) * SMSS octets above', () => {
    const sb = new Scoreboard(8);
    sb.update([blk(10, 11), blk(20, 21)], s(0), s(0), s(100));
    expect(sb.lostEnd(s(0), 100)).toBe(s(0)); // 2 ranges, 2 octets: nothing lost
    sb.update([blk(30, 31)], s(0), s(0), s(100));
    expect(sb.lostEnd(s(0), 100)).toBe(s(10)); // 3 ranges above [0, 10)
    const big = new Scoreboard(8);
    big.update([blk(50, 71)], s(0), s(0), s(100));
    expect(big.lostEnd(s(0), 10)).toBe(s(50)); // 21 > 2 * 10
    expect(big.lostEnd(s(0), 11)).toBe(s(0)); // 21 <= 22
  });
});

describe('SackReport: the SACK blocks our ACKs carry', () => {
  const RN = 0xffffff80; // RCV.NXT; offsets past +128 wrap

  it('a pending D-SACK goes first, once; then the block just received, then recently reported ones (RFC 2018 §4, RFC 2883 §4)', () => {
    const asm = new Assembler(8);
    const r = new SackReport();
    const out: SackBlock[] = Array.from({ length: 4 }, () => ({ left: 0, right: 0 }));
    const recv = (a: number, b: number): void => {
      asm.add(a, b);
      r.noteBlock((RN + a) >>> 0, asm, RN);
    };
    recv(100, 110);
    recv(300, 310);
    recv(200, 210);
    const rel = (n: number): [number, number][] => out.slice(0, n).map((b) => [(b.left - RN) | 0, (b.right - RN) | 0]);
    expect(rel(r.fill(out, 4, asm, RN))).toEqual([[200, 210], [300, 310], [100, 110]]);
    r.setDsack((RN - 20) >>> 0, (RN - 10) >>> 0);
    expect(r.dsack).toBe(true);
    expect(rel(r.fill(out, 3, asm, RN))).toEqual([[-20, -10], [200, 210], [300, 310]]);
    r.onAckSent();
    expect(r.dsack).toBe(false);
    // A segment that joins the block of an older report makes that block first again.
    recv(310, 320);
    expect(rel(r.fill(out, 4, asm, RN))).toEqual([[300, 320], [200, 210], [100, 110]]);
    // Blocks never reported come after the reported ones, at most `max` in all.
    asm.add(400, 410);
    expect(rel(r.fill(out, 4, asm, RN))).toEqual([[300, 320], [200, 210], [100, 110], [400, 410]]);
    expect(r.fill(out, 2, asm, RN)).toBe(2);
    // Nothing held: no blocks (the marks are cleared with the last hole).
    asm.clear();
    r.clearBlocks();
    expect(r.fill(out, 4, asm, RN)).toBe(0);
  });

  it('property: the blocks are the held ranges, distinct, the newest arrival first, as many as fit', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1, max: 40 })), { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 1, max: 4 }), fc.boolean(),
      (segs, max, dsack) => {
        const asm = new Assembler(6);
        const r = new SackReport();
        const out: SackBlock[] = Array.from({ length: 4 }, () => ({ left: 0, right: 0 }));
        for (const [a, len] of segs) {
          if (!asm.add(a, a + len)) continue;
          r.noteBlock((RN + a) >>> 0, asm, RN);
          if (dsack) r.setDsack((RN + a) >>> 0, (RN + a + 1) >>> 0);
          const n = r.fill(out, max, asm, RN);
          expect(n).toBe(Math.min(max, asm.rangeCount + (dsack ? 1 : 0)));
          let i = 0;
          if (dsack) {
            expect([out[0]!.left, out[0]!.right]).toEqual([(RN + a) >>> 0, (RN + a + 1) >>> 0]);
            i = 1;
          }
          const held = new Set<string>();
          for (let j = 0; j < asm.rangeCount; j++) held.add(`${(RN + asm.rangeStart(j)) >>> 0}-${(RN + asm.rangeEnd(j)) >>> 0}`);
          const seen = new Set<string>();
          for (let k = i; k < n; k++) {
            const key = `${out[k]!.left}-${out[k]!.right}`;
            expect(held.has(key)).toBe(true);
            expect(seen.has(key)).toBe(false);
            seen.add(key);
          }
          if (n > i) {
            // The first block holds the segment that triggered this ACK (RFC 2018 §4 MUST).
            const f = out[i]!;
            expect(((f.left - RN) | 0) <= a && a < ((f.right - RN) | 0)).toBe(true);
          }
          r.onAckSent();
          dsack = false;
        }
      },
    ), { numRuns: 300 });
  });
});
