/**
 * The reassembly cap against the real heap: each flood shape runs until the cap binds
 * (datagrams are evicted), then the heap growth (process.memoryUsage() heapUsed +
 * arrayBuffers, after a full GC) is compared with the cap and with what the
 * Reassembler says it holds. Also measures the per-record constants it charges.
 *
 * GC: `--expose-gc` set at run time (v8.setFlagsFromString) and `gc` taken from a new
 * context, so this needs no vitest or node flags and runs the same in CI.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import {
  DATAGRAM_CHARGE, DEFAULT_REASSEMBLY_LIMITS, Reassembler, SOURCE_CHARGE, emitIpv4, newIpv4Counters,
  type Ipv4Counters, type Ipv4Repr, type ReassemblyLimits,
} from '@netstack/ip';
import { PEER, US } from './harness.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heap(): number {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** One fragment of a flood: where it comes from and what it carries. */
interface Frag {
  src: number;
  id: number;
  offset: number;
  length: number;
}

interface Shape {
  name: string;
  limits: Partial<ReassemblyLimits>;
  /** The i-th fragment of the flood (never completing a datagram). */
  frag: (i: number) => Frag;
  count: number;
}

const CAP = DEFAULT_REASSEMBLY_LIMITS.maxReassemblyBytes;
const MANY = 0x0b000000; // 11.0.0.0/8: one address per fragment or datagram

const SHAPES: Shape[] = [
  { name: 'tiny (8 B), many sources', limits: {}, count: 40_000, frag: (i) => ({ src: MANY + i, id: i & 0xffff, offset: 0, length: 8 }) },
  { name: 'tiny (8 B), one source, quota', limits: {}, count: 40_000, frag: (i) => ({ src: PEER, id: i & 0xffff, offset: 0, length: 8 }) },
  {
    name: 'tiny (8 B), one source, no quota', limits: { maxReassemblyBytesPerSource: CAP }, count: 40_000,
    frag: (i) => ({ src: PEER, id: i & 0xffff, offset: 0, length: 8 }),
  },
  {
    // Many tiny fragments per datagram (every other block): 100 datagrams of 4000.
    name: 'tiny (8 B), 4000 per datagram', limits: { maxReassemblyBytesPerSource: CAP }, count: 400_000,
    frag: (i) => ({ src: PEER, id: Math.floor(i / 4000), offset: (i % 4000) * 16, length: 8 }),
  },
  {
    // The worst charge per byte received: a whole 64 KiB buffer for 8 bytes.
    name: 'tiny (8 B) at offset 65000, many sources', limits: {}, count: 400,
    frag: (i) => ({ src: MANY + i, id: 1, offset: 65000, length: 8 }),
  },
  { name: 'large (1480 B), many sources', limits: {}, count: 10_000, frag: (i) => ({ src: MANY + i, id: 1, offset: 0, length: 1480 }) },
  {
    name: 'large (1480 B), one source, no quota', limits: { maxReassemblyBytesPerSource: CAP }, count: 10_000,
    frag: (i) => ({ src: PEER, id: i >>> 3, offset: (i & 7) * 2960, length: 1480 }),
  },
];

const scratch = new Uint8Array(20 + 1480);
const repr: Ipv4Repr = {
  src: 0, dst: US, protocol: 17, ttl: 64, tos: 0, identification: 0, dontFragment: false, moreFragments: true,
  fragmentOffset: 0, headerLength: 20, payloadLength: 0, totalLength: 0,
};
const out = new Uint8Array(65535);

function feed(r: Reassembler, f: Frag, now: number): void {
  repr.src = f.src;
  repr.identification = f.id;
  repr.fragmentOffset = f.offset;
  repr.payloadLength = f.length;
  repr.totalLength = 20 + f.length;
  emitIpv4(repr, scratch, 0);
  scratch.fill(0x5a, 20, 20 + f.length);
  r.add(repr, scratch.subarray(0, 20 + f.length), now, out);
}

/** Runs `count` fragments through a throw-away reassembler: the code paths are compiled (JIT code is heap too) before measuring. */
function warmUp(limits: ReassemblyLimits, frag: (i: number) => Frag, count: number): void {
  const warm = new Reassembler(limits, newIpv4Counters());
  for (let i = 0; i < count; i++) feed(warm, frag(i), 0);
}

/** Heap growth while `r` holds what `count` fragments left in it. */
function measure(r: () => Reassembler, frag: (i: number) => Frag, count: number): { growth: number; r: Reassembler } {
  const before = heap();
  const held = r();
  for (let i = 0; i < count; i++) feed(held, frag(i), 0);
  return { growth: heap() - before, r: held };
}

function flood(shape: Shape): { growth: number; charged: number; datagrams: number; fragments: number; c: Ipv4Counters } {
  const limits = { ...DEFAULT_REASSEMBLY_LIMITS, ...shape.limits };
  warmUp(limits, shape.frag, 2000);
  const c = newIpv4Counters();
  const { growth, r } = measure(() => new Reassembler(limits, c), shape.frag, shape.count);
  return { growth, charged: r.bytes, datagrams: r.datagrams, fragments: r.fragments, c };
}

describe('reassembly memory: the cap holds against the real heap', () => {
  const rows: string[] = [];
  for (const shape of SHAPES) {
    it(shape.name, () => {
      const cap = Math.min(CAP, shape.limits.maxReassemblyBytesPerSource ?? DEFAULT_REASSEMBLY_LIMITS.maxReassemblyBytesPerSource);
      const oneSource = !shape.name.includes('many');
      const bound = oneSource ? cap : CAP;
      const { growth, charged, datagrams, fragments, c } = flood(shape);
      rows.push(`${shape.name.padEnd(42)} cap ${(bound / 2 ** 20).toFixed(2)} MiB  charged ${(charged / 2 ** 20).toFixed(2)} MiB  heap +${(growth / 2 ** 20).toFixed(2)} MiB  (x${(growth / charged).toFixed(2)} of charged)  ${datagrams} datagrams, ${fragments} fragments, ${c.ReasmEvicted} evicted`);
      // The cap binds: the flood was larger than it, and datagrams were evicted to stay under.
      expect(c.ReasmEvicted).toBeGreaterThan(0);
      expect(charged).toBeLessThanOrEqual(bound);
      expect(charged).toBeGreaterThan(bound * 0.9);
      // The cap holds within 2x of the real heap ...
      expect(growth).toBeLessThanOrEqual(2 * bound);
      // ... and the charge is honest both ways: at most 2x below what is really held, and
      // not inflated (typically 0.75..1.0 of it; the bound leaves room for GC noise at 1 MiB).
      expect(growth).toBeLessThanOrEqual(2 * charged);
      expect(growth).toBeGreaterThanOrEqual(charged / 3);
      // Every fragment is held or explained by one counter.
      const dropped = Object.entries(c.dropped).filter(([k]) => k.startsWith('Reasm')).reduce((a, [, v]) => a + v, 0);
      expect(fragments + c.ReasmFragsUsed + dropped).toBe(shape.count);
    });
  }
  it('prints the table', () => {
    console.log(`reassembly memory by flood shape (Node ${process.version}):\n${rows.join('\n')}`);
  });
});

describe('reassembly memory: the constants charged per record are measured', () => {
  it('DATAGRAM_CHARGE + SOURCE_CHARGE covers a datagram of one tiny fragment from its own source, within 2x', () => {
    const n = 10_000;
    const limits = { ...DEFAULT_REASSEMBLY_LIMITS, maxReassemblyBytes: 1 << 30, maxReassemblyBytesPerSource: 1 << 30, maxReassemblies: n };
    const many = SHAPES[0]!.frag;
    const one = (i: number): Frag => ({ src: PEER, id: i, offset: 0, length: 8 });
    warmUp(limits, many, 1000);
    warmUp(limits, one, 1000);
    const { growth, r } = measure(() => new Reassembler(limits, newIpv4Counters()), many, n);
    const buffers = r.bytes - n * (DATAGRAM_CHARGE + SOURCE_CHARGE);
    const perRecord = (growth - buffers) / n;
    // And with one source: the datagram's record alone.
    const { growth: growth1, r: r1 } = measure(() => new Reassembler(limits, newIpv4Counters()), one, n);
    const perDatagram = (growth1 - (r1.bytes - n * DATAGRAM_CHARGE - SOURCE_CHARGE)) / n;
    console.log(`measured per datagram record ${perDatagram.toFixed(0)} B (charged ${DATAGRAM_CHARGE}), per source record ${(perRecord - perDatagram).toFixed(0)} B (charged ${SOURCE_CHARGE}); buffer bytes ${(buffers / n).toFixed(0)} per datagram`);
    expect(r.datagrams).toBe(n);
    expect(r1.datagrams).toBe(n);
    expect(DATAGRAM_CHARGE + SOURCE_CHARGE).toBeGreaterThanOrEqual(perRecord);
    expect(DATAGRAM_CHARGE + SOURCE_CHARGE).toBeLessThanOrEqual(2 * perRecord);
    expect(DATAGRAM_CHARGE).toBeGreaterThanOrEqual(perDatagram);
    expect(DATAGRAM_CHARGE).toBeLessThanOrEqual(2 * perDatagram);
  });
});
