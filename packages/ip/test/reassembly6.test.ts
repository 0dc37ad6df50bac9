/**
 * IPv6 reassembly (RFC 8200 §4.5) through `Reassembler.add6`: any fragmentation and any
 * order with duplicates reassembles exactly; any overlap discards (RFC 5722); atomic
 * fragments (RFC 6946); the errors the caller answers; the per-/64 quota and the total
 * bound under floods, against the real heap too; the 60 s timer beside IPv4's 30 s.
 *
 * Fragments are built by hand here (IPv6 header, optional destination options as the
 * unfragmentable part, Fragment header, data): the reassembler reads only the bytes and
 * the record the caller gives it.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DATAGRAM6_CHARGE, DEFAULT_REASSEMBLY_LIMITS, REASM6_BAD_LENGTH, REASM6_INCOMPLETE_CHAIN, REASM6_TOO_BIG,
  REASSEMBLY6_MAX_CHARGE, REASSEMBLY_SMALL, Reassembler, SOURCE_CHARGE, emitIpv4, newIpv4Counters, parseIpv6Address,
  readIpv6Address, writeAddress,
  type Ipv4Repr, type Ipv6Address, type Ipv6ReasmFragment, type Ipv6ReasmCounters, type ReassemblyLimits,
} from '@netstack/ip';
import { bytes, sameBytes } from './harness.js';

const v6 = (t: string): Ipv6Address => {
  const a = parseIpv6Address(t);
  if (a === undefined) throw new Error(`bad address ${t}`);
  return a;
};
const PEER6 = v6('fd07::1');
const US6 = v6('fd07::2');

interface Frag {
  repr: Ipv6ReasmFragment;
  packet: Uint8Array;
}

interface FragOptions {
  src?: Ipv6Address;
  dst?: Ipv6Address;
  id?: number;
  nextHeader?: number;
  /** Bytes of destination options before the Fragment header (the unfragmentable part), a multiple of 8. */
  unfrag?: number;
  chain?: boolean;
}

/** The fragment carrying `data[start, end)` at offset `start`. */
function frag(data: Uint8Array, start: number, end: number, more: boolean, o: FragOptions = {}): Frag {
  const unfrag = o.unfrag ?? 0;
  const hl = 48 + unfrag;
  const p = new Uint8Array(hl + end - start);
  const src = o.src ?? PEER6;
  const dst = o.dst ?? US6;
  const id = o.id ?? 0x12345678;
  const nh = o.nextHeader ?? 17;
  p[0] = 0x60;
  p[4] = (p.length - 40) >>> 8;
  p[5] = (p.length - 40) & 0xff;
  p[6] = unfrag === 0 ? 44 : 60;
  p[7] = 64;
  writeAddress(p, 8, src);
  writeAddress(p, 24, dst);
  if (unfrag !== 0) {
    p[40] = 44;
    p[41] = unfrag / 8 - 1;
    p[42] = 1; // PadN over the rest
    p[43] = unfrag - 4;
  }
  const f = 40 + unfrag;
  p[f] = nh;
  p[f + 2] = start >>> 8;
  p[f + 3] = (start & 0xf8) | (more ? 1 : 0);
  p[f + 4] = id >>> 24;
  p[f + 5] = (id >>> 16) & 0xff;
  p[f + 6] = (id >>> 8) & 0xff;
  p[f + 7] = id & 0xff;
  p.set(data.subarray(start, end), hl);
  return {
    packet: p,
    repr: {
      src, dst, identification: id >>> 0, fragmentOffset: start, moreFragments: more, nextHeader: nh, headerLength: hl,
      payloadLength: end - start, headerChainComplete: o.chain ?? true,
    },
  };
}

/** `data` cut at the given increasing 8-aligned points. */
function pieces(data: Uint8Array, cuts: number[], o: FragOptions = {}): Frag[] {
  const b = [0, ...cuts, data.length];
  const out: Frag[] = [];
  for (let i = 0; i + 1 < b.length; i++) {
    const e = b[i + 1]!;
    // The first fragment's Next Header is the one that counts (RFC 8200 §4.5): the others lie.
    out.push(frag(data, b[i]!, e, e < data.length, { ...o, nextHeader: i === 0 ? (o.nextHeader ?? 17) : 0xfe }));
  }
  return out;
}

const out = new Uint8Array(65536);

/** Hands a copy of the fragment's record in (add6 writes the result into it). */
function add(r: Reassembler, f: Frag, now: number): { n: number; repr: Ipv6ReasmFragment } {
  const repr = { ...f.repr };
  return { n: r.add6(repr, f.packet, now, out), repr };
}

function reassembler(l: Partial<ReassemblyLimits> = {}): { r: Reassembler; c: Ipv6ReasmCounters } {
  const r = new Reassembler({ ...DEFAULT_REASSEMBLY_LIMITS, ...l }, newIpv4Counters());
  return { r, c: r.counters6 };
}

/** Every fragment handed in is held, used, or dropped under exactly one reason. */
function identity(r: Reassembler, c: Ipv6ReasmCounters): void {
  const dropped = Object.values(c.dropped).reduce((a, v) => a + v, 0);
  expect(r.fragments + c.Ip6ReasmFragsUsed + dropped).toBe(c.Ip6ReasmReqds);
}

/** A fragmentable part, its 8-aligned cuts (at least one), an unfragmentable part, a seed and an identification. */
const fragmented = fc
  .record({ unfrag: fc.constantFrom(0, 8, 24), small: fc.boolean(), seed: fc.nat(), id: fc.nat(), nh: fc.integer({ min: 0, max: 255 }) })
  .chain((o) => fc.integer({ min: 9, max: o.small ? 400 : 65535 - o.unfrag }).map((len) => ({ ...o, len })))
  .chain(({ len, ...o }) =>
    fc.uniqueArray(fc.integer({ min: 1, max: Math.floor((len - 1) / 8) }), { minLength: 1, maxLength: 24 })
      .map((ks) => ({ ...o, len, cuts: ks.map((k) => k * 8).sort((a, b) => a - b) })));

describe('IPv6 reassembly: any fragmentation, any order, with duplicates', () => {
  it('gives exactly the fragmentable part and the first fragment\'s Next Header, once, when the last missing piece arrives', () => {
    const arb = fragmented.chain((f) => {
      const n = f.cuts.length + 1;
      const idx = Array.from({ length: n }, (_, i) => i);
      // Copies of a strict subset: a whole second set after completion is a second datagram.
      return fc.tuple(fc.constant(f), fc.shuffledSubarray(idx, { maxLength: n - 1 }), fc.array(fc.nat({ max: 3 }), { maxLength: n }))
        .chain(([f2, dupOf, times]) => {
          const stream = [...idx];
          dupOf.forEach((d, i) => { for (let k = 0; k <= (times[i] ?? 0) % 3; k++) stream.push(d); });
          return fc.tuple(fc.constant(f2), fc.shuffledSubarray(stream, { minLength: stream.length, maxLength: stream.length }));
        });
    });
    fc.assert(fc.property(arb, ([f, order]) => {
      const { r, c } = reassembler();
      const data = bytes(f.len, f.seed);
      const frags = pieces(data, f.cuts, { id: f.id, unfrag: f.unfrag, nextHeader: f.nh });
      const seen = new Set<number>();
      let done = 0;
      let t = 0;
      for (const i of order) {
        const { n, repr } = add(r, frags[i]!, t);
        t += 10;
        seen.add(i);
        if (n < 0) throw new Error(`error ${n}`);
        if (n > 0) {
          done++;
          expect(n).toBe(f.len);
          expect(sameBytes(out.subarray(0, n), data)).toBe(true);
          expect(repr).toMatchObject({ nextHeader: f.nh, fragmentOffset: 0, moreFragments: false, payloadLength: f.len });
        }
        if (done !== (seen.size === frags.length ? 1 : 0)) throw new Error(`completed ${done} after ${seen.size}/${frags.length} pieces`);
        identity(r, c);
      }
      expect(c.Ip6ReasmOKs).toBe(1);
      expect(c.Ip6ReasmOverlaps).toBe(0);
      expect(c.Ip6ReasmReqds).toBe(order.length);
      // Late duplicates may have opened a reassembly that never completes: it times out at 60 s.
      r.poll(t + 60_000, out);
      expect({ datagrams: r.datagrams, bytes: r.bytes }).toEqual({ datagrams: 0, bytes: 0 });
      identity(r, c);
    }), { numRuns: 60 });
  });

  it('exact duplicates are ignored and counted (RFC 8200 §4.5 allows it); IPv4 counters untouched', () => {
    const v4 = newIpv4Counters();
    const r = new Reassembler(DEFAULT_REASSEMBLY_LIMITS, v4);
    const c = r.counters6;
    const data = bytes(100, 3);
    const [a, b] = pieces(data, [48]);
    expect(add(r, a!, 0).n).toBe(0);
    expect(add(r, a!, 1).n).toBe(0);
    expect(add(r, b!, 2).n).toBe(100);
    expect(c.Ip6ReasmDuplicates).toBe(1);
    expect(c.dropped.ReasmDuplicates).toBe(1);
    expect(c.Ip6ReasmFragsUsed).toBe(2);
    expect(v4.ReasmOKs + v4.ReasmDuplicates + v4.ReasmFragsUsed + v4.ReasmFails).toBe(0);
  });

  it('the key is (source, destination, identification): a fragment differing in any one is another datagram', () => {
    const { r, c } = reassembler();
    const data = bytes(64, 9);
    const [a, b] = pieces(data, [32]);
    add(r, a!, 0);
    for (const o of [{ src: v6('fd07::3') }, { dst: v6('fd07::4') }, { id: 0x12345679 }]) {
      expect(add(r, frag(data, 32, 64, false, o), 0).n).toBe(0);
    }
    expect(r.datagrams).toBe(4);
    expect(add(r, b!, 0).n).toBe(64);
    expect(c.Ip6ReasmOKs).toBe(1);
  });
});

describe('IPv6 reassembly: overlaps discard the whole datagram silently (RFC 5722)', () => {
  it('any overlapping fragment that is not an exact duplicate, even with the same bytes, kills the reassembly', () => {
    const arb = fragmented.chain((f) =>
      fc.record({
        f: fc.constant(f),
        a: fc.nat({ max: Math.floor((f.len - 1) / 8) }),
        b: fc.integer({ min: 1, max: 64 }),
        flip: fc.nat(),
        at: fc.nat(),
        order: fc.shuffledSubarray(Array.from({ length: f.cuts.length + 1 }, (_, i) => i), { minLength: f.cuts.length + 1, maxLength: f.cuts.length + 1 }),
      }));
    fc.assert(fc.property(arb, ({ f, a, b, flip, at, order }) => {
      const { r, c } = reassembler();
      const data = bytes(f.len, f.seed);
      const frags = pieces(data, f.cuts, { id: f.id, unfrag: f.unfrag });
      const start = a * 8;
      let end = Math.min(f.len, start + b * 8);
      if (start === 0 && end === f.len) end = 8; // [0, len) with M = 0 would be an atomic fragment
      const copy = data.slice();
      const bounds = [0, ...f.cuts, f.len];
      // Same bounds as a genuine piece: differ in content, or it is an exact duplicate.
      // Other bounds: the SAME bytes as the genuine data, and still an overlap.
      if (bounds.includes(start) && bounds.includes(end) && bounds.indexOf(end) === bounds.indexOf(start) + 1) {
        copy[start + (flip % (end - start))]! ^= 0xff;
      }
      const rogue = frag(copy, start, end, end < f.len, { id: f.id, unfrag: f.unfrag });
      // The rogue comes after a genuine piece it overlaps and before the last genuine piece.
      const overlaps = (i: number) => bounds[i]! < end && start < bounds[i + 1]!;
      const n = order.length;
      let ov = order.findIndex(overlaps);
      if (ov === n - 1) { [order[0], order[n - 1]] = [order[n - 1]!, order[0]!]; ov = 0; }
      const stream = order.map((i) => frags[i]!);
      stream.splice(ov + 1 + (at % (n - 1 - ov)), 0, rogue);
      for (const p of stream) expect(add(r, p, 0).n).toBe(0); // no completion, and no error for the caller to answer
      expect(c.Ip6ReasmOKs).toBe(0);
      expect(c.Ip6ReasmOverlaps).toBe(1);
      expect(c.dropped.ReasmOverlapFrags + c.dropped.ReasmDeadFrags + c.dropped.ReasmDuplicates).toBe(stream.length);
      expect(c.dropped.ReasmOverlapFrags).toBeGreaterThanOrEqual(2);
      // The buffer is freed at once; the tombstone's record stays until its timer.
      expect(r.bytes).toBe(DATAGRAM6_CHARGE + SOURCE_CHARGE);
      identity(r, c);
      r.poll(60_000, out);
      expect(r.bytes).toBe(0);
    }), { numRuns: 150 });
  });
});

describe('IPv6 atomic fragments (RFC 6946)', () => {
  it('are delivered at once, never enter the table, and do not mix with a datagram of the same identification', () => {
    const { r, c } = reassembler();
    const data = bytes(40, 5);
    const [a, b] = pieces(data, [16], { id: 7 });
    expect(add(r, a!, 0).n).toBe(0);
    const held = r.bytes;
    const other = bytes(24, 6);
    const atomic = frag(other, 0, 24, false, { id: 7, nextHeader: 58 });
    const { n, repr } = add(r, atomic, 1);
    expect(n).toBe(24);
    expect(sameBytes(out.subarray(0, 24), other)).toBe(true);
    expect(repr.nextHeader).toBe(58);
    expect({ datagrams: r.datagrams, fragments: r.fragments, bytes: r.bytes }).toEqual({ datagrams: 1, fragments: 1, bytes: held });
    expect(c.Ip6ReasmAtomic).toBe(1);
    // The datagram in progress completes with its own bytes.
    expect(add(r, b!, 2).n).toBe(40);
    expect(sameBytes(out.subarray(0, 40), data)).toBe(true);
    expect(c.Ip6ReasmOKs).toBe(2);
    identity(r, c);
  });

  it('an atomic fragment with no data is counted and gives nothing; one without its header chain is an error', () => {
    const { r, c } = reassembler();
    expect(add(r, frag(new Uint8Array(0), 0, 0, false, { nextHeader: 59 }), 0).n).toBe(0);
    expect(c.Ip6ReasmAtomic).toBe(1);
    expect(add(r, frag(bytes(8, 1), 0, 8, false, { chain: false }), 0).n).toBe(REASM6_INCOMPLETE_CHAIN);
    expect(c.dropped.ReasmIncompleteChainFrags).toBe(1);
    expect(r.datagrams).toBe(0);
    identity(r, c);
  });
});

describe('IPv6 reassembly: errors the caller answers (RFC 8200 §4.5, RFC 7112)', () => {
  it('M = 1 with a length not a multiple of 8: REASM6_BAD_LENGTH; with no data: dropped', () => {
    const { r, c } = reassembler();
    const data = bytes(64, 2);
    expect(add(r, frag(data, 0, 12, true), 0).n).toBe(REASM6_BAD_LENGTH);
    expect(add(r, frag(data, 16, 16, true), 0).n).toBe(0);
    expect(c.dropped.ReasmBadFrags).toBe(2);
    expect(r.datagrams).toBe(0);
    identity(r, c);
  });

  it('offset + length beyond 65535: REASM6_TOO_BIG, and the datagram in progress is discarded', () => {
    const { r, c } = reassembler();
    const data = bytes(65544, 2);
    expect(add(r, frag(data, 65528, 65544, false, { id: 1 }), 0).n).toBe(REASM6_TOO_BIG);
    expect(r.datagrams).toBe(0);
    add(r, frag(data, 0, 8, true, { id: 2 }), 0);
    expect(add(r, frag(data, 65520, 65536, false, { id: 2 }), 0).n).toBe(REASM6_TOO_BIG);
    expect(c.dropped.ReasmTooBigFrags).toBe(3); // the lone one, then the held one and its killer
    expect(add(r, frag(data, 8, 16, true, { id: 2 }), 0).n).toBe(0);
    expect(c.dropped.ReasmDeadFrags).toBe(1);
    identity(r, c);
  });

  it('65535 bytes of payload reassemble; one more byte of unfragmentable part discards silently', () => {
    const { r, c } = reassembler();
    const data = bytes(65535, 4);
    const cuts = Array.from({ length: 50 }, (_, i) => (i + 1) * 1304);
    let last = 0;
    for (const p of pieces(data, cuts)) last = add(r, p, 0).n;
    expect(last).toBe(65535);
    expect(sameBytes(out.subarray(0, 65535), data)).toBe(true);
    const big = pieces(data.subarray(0, 65528), cuts, { unfrag: 8, id: 3 });
    for (const p of big) expect(add(r, p, 0).n).toBeGreaterThanOrEqual(0);
    expect(c.Ip6ReasmOKs).toBe(1);
    expect(c.dropped.ReasmTooBigFrags).toBeGreaterThan(0);
    identity(r, c);
  });

  it('a first fragment without the whole header chain: REASM6_INCOMPLETE_CHAIN, the rest waits for a proper one', () => {
    const { r, c } = reassembler();
    const data = bytes(64, 8);
    const [a, b] = pieces(data, [32]);
    expect(add(r, b!, 0).n).toBe(0);
    expect(add(r, { ...a!, repr: { ...a!.repr, headerChainComplete: false } }, 0).n).toBe(REASM6_INCOMPLETE_CHAIN);
    expect(r.fragments).toBe(1);
    expect(add(r, a!, 0).n).toBe(64);
    identity(r, c);
  });
});

/** An address in the /64 `prefix` (8 bytes) with interface identifier `iid` (low 32 bits), as a fresh string. */
function inPrefix(prefix: number, iid: number): Ipv6Address {
  const b = new Uint8Array(16);
  b[0] = 0xfd;
  b[1] = 0x66;
  b[4] = prefix >>> 24;
  b[5] = (prefix >>> 16) & 0xff;
  b[6] = (prefix >>> 8) & 0xff;
  b[7] = prefix & 0xff;
  b[12] = iid >>> 24;
  b[13] = (iid >>> 16) & 0xff;
  b[14] = (iid >>> 8) & 0xff;
  b[15] = iid & 0xff;
  return readIpv6Address(b, 0);
}

describe('IPv6 reassembly under a fragment flood', () => {
  /**
   * 150 ms of a flood at ~1 Gbit/s (first fragments that never complete) while PEER6
   * sends a 4000-byte datagram every 5 ms as three fragments 0.5 ms apart.
   */
  function run(src: (i: number) => Ipv6Address, length: number, perMs: number, l: Partial<ReassemblyLimits> = {}) {
    const { r, c } = reassembler(l);
    const floodData = bytes(length, 1);
    const legit = bytes(4000, 2);
    let maxBytes = 0;
    let delivered = 0;
    let sent = 0;
    let i = 0;
    for (let ms = 0; ms < 150; ms++) {
      for (let k = 0; k < perMs; k++, i++) {
        add(r, frag(floodData, 0, length, true, { src: src(i), id: i }), ms);
        if (r.bytes > maxBytes) maxBytes = r.bytes;
      }
      if (ms % 5 === 0) {
        sent++;
        const [a, b, d] = pieces(legit, [1232, 2464], { id: 0x80000000 + ms });
        add(r, a!, ms);
        add(r, b!, ms + 0.5);
        if (add(r, d!, ms + 1).n === 4000) delivered++;
      }
    }
    identity(r, c);
    return { r, c, maxBytes, delivered, sent };
  }

  it('one host rotating interface identifiers in its /64 holds at most its quota; the legitimate host gets through', () => {
    const quota = DEFAULT_REASSEMBLY_LIMITS.maxReassemblyBytesPerSource;
    const { r, c, maxBytes, delivered, sent } = run((i) => inPrefix(1, i), 8, 1488);
    expect(c.Ip6ReasmEvicted).toBeGreaterThan(0);
    // The /64 is the quota's key: with one per address the flood would fill the whole 4 MiB.
    expect(maxBytes).toBeLessThanOrEqual(quota + REASSEMBLY6_MAX_CHARGE + SOURCE_CHARGE);
    expect(r.sourceCount).toBeLessThanOrEqual(2);
    expect(delivered).toBe(sent);
  });

  it('floods from many /64s, tiny or large, stay under the total; the legitimate host gets through', () => {
    const total = DEFAULT_REASSEMBLY_LIMITS.maxReassemblyBytes;
    for (const [length, perMs] of [[8, 1488], [1232, 95]] as const) {
      const { c, maxBytes, delivered, sent } = run((i) => inPrefix(i, 1), length, perMs);
      expect(c.Ip6ReasmEvicted).toBeGreaterThan(0);
      expect(maxBytes).toBeLessThanOrEqual(total);
      expect(maxBytes).toBeGreaterThan(total * 0.9);
      expect(delivered).toBe(sent);
    }
  });

  it('any fragment stream (fast-check): charged bytes never above the total, every fragment accounted, all freed at the timeout; from at most three /64s (each under its quota, together under the total) the legitimate host always gets through', () => {
    const limits: ReassemblyLimits = { ...DEFAULT_REASSEMBLY_LIMITS, maxReassemblyBytes: 256 * 1024, maxReassemblyBytesPerSource: 64 * 1024 };
    const fragArb = fc.record({
      iid: fc.integer({ min: 1, max: 40 }), id: fc.integer({ min: 0, max: 30 }),
      offset: fc.integer({ min: 0, max: 8190 }).map((k) => k * 8), units: fc.integer({ min: 1, max: 190 }), tail: fc.integer({ min: 0, max: 7 }),
      more: fc.boolean(), chain: fc.boolean(), unfrag: fc.constantFrom(0, 0, 8), net: fc.nat(),
    });
    let peak = 0;
    let evicted = 0;
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 8 }), fc.array(fragArb, { minLength: 300, maxLength: 600 }), fc.array(fc.nat(), { minLength: 3, maxLength: 3 }),
      (nets, stream, at) => {
        const { r, c } = reassembler(limits);
        const data = bytes(65535, 3);
        const legit = bytes(4000, 4);
        const legitSrc = v6('fd07:99::1');
        const legitFrags = pieces(legit, [1232, 2464], { src: legitSrc, id: 0x7777 });
        // The legitimate datagram's three fragments at random places in the flood, in order.
        const slots = at.map((k) => k % (stream.length + 1)).sort((x, y) => x - y);
        let ms = 0;
        let delivered = 0;
        const step = (f: Frag): void => {
          const n = add(r, f, ms).n;
          if (f.repr.src === legitSrc && n > 0) {
            expect(sameBytes(out.subarray(0, n), legit)).toBe(true);
            delivered++;
          }
          expect(r.bytes).toBeLessThanOrEqual(limits.maxReassemblyBytes);
          peak = Math.max(peak, r.bytes);
          ms += 0.01;
        };
        let li = 0;
        stream.forEach((g, i) => {
          while (li < 3 && slots[li] === i) step(legitFrags[li++]!);
          const end = Math.min(65535 - g.unfrag, g.offset + g.units * 8 + (g.more ? 0 : g.tail));
          if (end <= g.offset) return;
          step(frag(data, g.offset, end, g.more, { src: v6(`fd07:${(g.net % nets) + 1}::${g.iid.toString(16)}`), id: g.id, unfrag: g.unfrag, chain: g.chain }));
        });
        while (li < 3) step(legitFrags[li++]!);
        if (nets <= 3) expect(delivered).toBe(1);
        identity(r, c);
        evicted += c.Ip6ReasmEvicted;
        r.poll(ms + 60_000, out);
        expect([r.bytes, r.datagrams, r.fragments]).toEqual([0, 0, 0]);
      },
    ), { numRuns: 40 });
    // Not vacuous: the bounds were reached and bit.
    expect(evicted).toBeGreaterThan(0);
    expect(peak).toBeGreaterThan(limits.maxReassemblyBytes * 0.75);
  });

  it('both families share one bound: an IPv4 and an IPv6 flood together stay under the total and the datagram count', () => {
    const limits = { ...DEFAULT_REASSEMBLY_LIMITS, maxReassemblies: 3000 };
    const v4 = newIpv4Counters();
    const r = new Reassembler(limits, v4);
    const repr4: Ipv4Repr = {
      src: 0, dst: 0x0a070002, protocol: 17, ttl: 64, tos: 0, identification: 0, dontFragment: false, moreFragments: true,
      fragmentOffset: 0, headerLength: 20, payloadLength: 512, totalLength: 532,
    };
    const p4 = new Uint8Array(532);
    const d6 = bytes(512, 3);
    let max = 0;
    for (let i = 0; i < 20_000; i++) {
      repr4.src = 0x0b000000 + i;
      emitIpv4(repr4, p4, 0);
      r.add(repr4, p4, i / 100, out);
      add(r, frag(d6, 0, 512, true, { src: inPrefix(i, 1) }), i / 100);
      max = Math.max(max, r.bytes);
      expect(r.datagrams).toBeLessThanOrEqual(3000);
    }
    expect(max).toBeLessThanOrEqual(limits.maxReassemblyBytes);
    expect(v4.ReasmEvicted).toBeGreaterThan(0);
    expect(r.counters6.Ip6ReasmEvicted).toBeGreaterThan(0);
    // Oldest first across families: each family holds about half.
    expect(r.counters6.Ip6ReasmEvicted).toBeGreaterThan(v4.ReasmEvicted * 0.8);
    expect(r.counters6.Ip6ReasmEvicted).toBeLessThan(v4.ReasmEvicted * 1.25);
  });
});

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heap(): number {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Runs the code paths through a throw-away reassembler (JIT code is heap too), unreachable once this returns. */
function warmUp(l: Partial<ReassemblyLimits>, mk: (i: number) => Frag, count: number): void {
  const { r } = reassembler(l);
  for (let i = 0; i < count; i++) add(r, mk(i), 0);
}

const dstBytes = new Uint8Array(16);
writeAddress(dstBytes, 0, US6);

describe('IPv6 reassembly memory: the charge holds against the real heap', () => {
  const shapes = [
    { name: 'tiny (8 B), many /64s, fresh address strings', length: 8, count: 40_000 },
    { name: 'large (1232 B), many /64s', length: 1232, count: 10_000 },
  ];
  for (const shape of shapes) {
    it(shape.name, () => {
      const data = bytes(shape.length, 1);
      // Fresh address strings per fragment, as the wire path makes them; the packets are garbage after add6.
      const mk = (i: number) => frag(data, 0, shape.length, true, { src: inPrefix(i, i), dst: readIpv6Address(dstBytes, 0), id: i });
      warmUp({}, mk, 2000);
      const { r, c } = reassembler();
      const before = heap();
      for (let i = 0; i < shape.count; i++) {
        const f = mk(i);
        r.add6(f.repr, f.packet, 0, out);
      }
      const growth = heap() - before;
      const cap = DEFAULT_REASSEMBLY_LIMITS.maxReassemblyBytes;
      console.log(`IPv6 ${shape.name}: charged ${(r.bytes / 2 ** 20).toFixed(2)} MiB, heap +${(growth / 2 ** 20).toFixed(2)} MiB (x${(growth / r.bytes).toFixed(2)}), ${r.datagrams} datagrams, ${c.Ip6ReasmEvicted} evicted`);
      expect(c.Ip6ReasmEvicted).toBeGreaterThan(0);
      expect(r.bytes).toBeLessThanOrEqual(cap);
      expect(r.bytes).toBeGreaterThan(cap * 0.9);
      expect(growth).toBeLessThanOrEqual(2 * r.bytes);
      expect(growth).toBeGreaterThanOrEqual(r.bytes / 3);
    });
  }

  it('DATAGRAM6_CHARGE + SOURCE_CHARGE covers the records of a one-fragment datagram from its own /64, within 2x', () => {
    const n = 10_000;
    const limits = { maxReassemblyBytes: 1 << 30, maxReassemblyBytesPerSource: 1 << 30, maxReassemblies: n };
    const data = bytes(8, 1);
    const mk = (i: number) => frag(data, 0, 8, true, { src: inPrefix(i, i), dst: readIpv6Address(dstBytes, 0), id: i });
    warmUp(limits, mk, 1000);
    const { r } = reassembler(limits);
    const before = heap();
    for (let i = 0; i < n; i++) {
      const f = mk(i);
      r.add6(f.repr, f.packet, 0, out);
    }
    const growth = heap() - before;
    const buffers = r.bytes - n * (DATAGRAM6_CHARGE + SOURCE_CHARGE);
    const perRecord = (growth - buffers) / n;
    console.log(`IPv6: measured per datagram + source record ${perRecord.toFixed(0)} B (charged ${DATAGRAM6_CHARGE + SOURCE_CHARGE}); buffer ${(buffers / n).toFixed(0)} B per datagram`);
    expect(r.datagrams).toBe(n);
    expect(DATAGRAM6_CHARGE + SOURCE_CHARGE).toBeGreaterThanOrEqual(perRecord);
    expect(DATAGRAM6_CHARGE + SOURCE_CHARGE).toBeLessThanOrEqual(2 * perRecord);
  });
});


describe('IPv6 reassembly timeout (RFC 8200 §4.5: 60 s from the first fragment to arrive)', () => {
  it('pending at 60000 - 1, expired and freed at 60000, counted; time exceeded quotes the first fragment as received', () => {
    const { r, c } = reassembler();
    const data = bytes(100, 7);
    const [a, , d] = pieces(data, [32, 64], { unfrag: 16 });
    add(r, d!, 0);
    add(r, a!, 10);
    expect(r.pollAt()).toBe(60_000);
    const quoted: Uint8Array[] = [];
    const v4: Uint8Array[] = [];
    r.poll(59_999, out, (p) => v4.push(p.slice()), (p) => quoted.push(p.slice()));
    expect(r.datagrams).toBe(1);
    r.poll(60_000, out, (p) => v4.push(p.slice()), (p) => quoted.push(p.slice()));
    expect({ datagrams: r.datagrams, bytes: r.bytes }).toEqual({ datagrams: 0, bytes: 0 });
    expect(c.Ip6ReasmTimeout).toBe(1);
    expect(c.Ip6ReasmFails).toBe(1);
    expect(c.dropped.ReasmTimeoutFrags).toBe(2);
    expect(v4).toHaveLength(0);
    expect(quoted).toHaveLength(1);
    expect(sameBytes(quoted[0]!, a!.packet)).toBe(true);
    identity(r, c);
  });

  it('no time exceeded without the first fragment', () => {
    const { r } = reassembler();
    const [, b] = pieces(bytes(64, 1), [32]);
    add(r, b!, 0);
    const quoted: Uint8Array[] = [];
    r.poll(60_000, out, undefined, (p) => quoted.push(p));
    expect(r.datagrams).toBe(0);
    expect(quoted).toHaveLength(0);
  });

  it('each family keeps its own timer: an IPv4 datagram begun later expires first', () => {
    const { r, c } = reassembler({ ipv6ReassemblyTimeoutMs: 45_000 });
    const [a6] = pieces(bytes(64, 1), [32]);
    add(r, a6!, 0);
    const repr4: Ipv4Repr = {
      src: 0x0a070001, dst: 0x0a070002, protocol: 17, ttl: 64, tos: 0, identification: 1, dontFragment: false, moreFragments: true,
      fragmentOffset: 0, headerLength: 20, payloadLength: 16, totalLength: 36,
    };
    const p4 = new Uint8Array(36);
    emitIpv4(repr4, p4, 0);
    r.add(repr4, p4, 1000, out);
    expect(r.pollAt()).toBe(31_000);
    r.poll(31_000, out);
    expect(r.datagrams).toBe(1);
    expect(c.Ip6ReasmTimeout).toBe(0);
    expect(r.pollAt()).toBe(45_000);
    r.poll(45_000, out);
    expect(r.datagrams).toBe(0);
    expect(c.Ip6ReasmTimeout).toBe(1);
  });
});

describe('IPv6 reassembly: eviction order as IPv4', () => {
  it('small datagrams (< REASSEMBLY_SMALL) go before larger ones, oldest first', () => {
    const { r, c } = reassembler({ maxReassemblies: 3 });
    const data = bytes(2048, 1);
    add(r, frag(data, 0, 1024, true, { id: 1 }), 0); // large, oldest
    add(r, frag(data, 0, 8, true, { id: 2 }), 1); // small
    add(r, frag(data, 0, 8, true, { id: 3 }), 2); // small
    add(r, frag(data, 0, 8, true, { id: 4 }), 3); // evicts id 2
    expect(c.Ip6ReasmEvicted).toBe(1);
    expect(REASSEMBLY_SMALL).toBeLessThanOrEqual(1024);
    expect(add(r, frag(data, 1024, 2048, false, { id: 1 }), 4).n).toBe(2048);
    expect(add(r, frag(data, 8, 16, false, { id: 2 }), 5).n).toBe(0); // its first part was evicted
    expect(add(r, frag(data, 8, 16, false, { id: 3 }), 6).n).toBe(16);
  });
});
