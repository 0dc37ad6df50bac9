import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DATAGRAM_CHARGE, DEFAULT_REASSEMBLY_LIMITS, PROTO_UDP, REASSEMBLY_SMALL, Reassembler, SOURCE_CHARGE, newIpv4Counters, parseIpv4,
  type Ipv4Counters,
} from '@netstack/ip';
import { FakeReporter, FakeTransport, PEER, US, bytes, fragments, ip, makeLayer, packet, sameBytes } from './harness.js';

/** What a tombstone (or a datagram record with no buffer yet) from a source alone in the table is charged. */
const RECORD = DATAGRAM_CHARGE + SOURCE_CHARGE;
/** What a datagram holding `cap` payload bytes of buffer is charged (bitmaps, 60-byte header room, payload). */
const held = (cap: number): number => RECORD + 2 * Math.ceil(cap / 64) + 60 + cap;

function setup(limits: NonNullable<Parameters<typeof makeLayer>[0]>['limits'] = {}) {
  const { layer } = makeLayer({ limits });
  const udp = new FakeTransport(PROTO_UDP);
  const reporter = new FakeReporter();
  layer.register(udp);
  layer.setErrorReporter(reporter);
  return { layer, udp, reporter };
}

/** A datagram length, 8-aligned cut points inside it (at least one), and a seed. */
const fragmented = fc
  .record({ len: fc.oneof(fc.integer({ min: 9, max: 400 }), fc.integer({ min: 9, max: 65515 })), seed: fc.nat(), id: fc.nat({ max: 0xffff }) })
  .chain(({ len, seed, id }) =>
    fc.uniqueArray(fc.integer({ min: 1, max: Math.floor((len - 1) / 8) }), { minLength: 1, maxLength: 24 })
      .map((ks) => ({ len, seed, id, cuts: ks.map((k) => k * 8).sort((a, b) => a - b) })));

describe('reassembly: any fragmentation, any order, with duplicates', () => {
  it('delivers exactly the datagram, exactly once, when (and only when) the last missing piece arrives', () => {
    const arb = fragmented.chain((f) => {
      const n = f.cuts.length + 1;
      const idx = Array.from({ length: n }, (_, i) => i);
      // Duplicate copies of a strict subset of the pieces: a full second set after completion
      // would be a second datagram (as on Linux), not a duplicate of this one.
      return fc.tuple(fc.constant(f), fc.shuffledSubarray(idx, { maxLength: n - 1 }), fc.array(fc.nat({ max: 3 }), { maxLength: n }))
        .chain(([f2, dupOf, times]) => {
          const stream = [...idx];
          dupOf.forEach((d, i) => { for (let k = 0; k <= (times[i] ?? 0) % 3; k++) stream.push(d); });
          return fc.tuple(fc.constant(f2), fc.shuffledSubarray(stream, { minLength: stream.length, maxLength: stream.length }));
        });
    });
    fc.assert(fc.property(arb, ([f, order]) => {
      const { layer, udp } = setup();
      const data = bytes(f.len, f.seed);
      const frags = fragments(data, f.cuts, { identification: f.id });
      const seen = new Set<number>();
      let t = 0;
      for (const i of order) {
        layer.input(frags[i]!, t);
        t += 10;
        seen.add(i);
        if (udp.received.length !== (seen.size === frags.length ? 1 : 0)) throw new Error(`delivered ${udp.received.length} after ${seen.size}/${frags.length} pieces`);
      }
      const got = udp.received[0]!;
      expect(got.reassembled).toBe(true);
      expect(sameBytes(got.payload, data)).toBe(true);
      expect(parseIpv4(got.packet)).toMatchObject({ totalLength: 20 + f.len, moreFragments: false, fragmentOffset: 0, identification: f.id });
      const s = layer.stats();
      expect(s.ReasmOKs).toBe(1);
      expect(s.ReasmOverlaps).toBe(0);
      expect(s.ReasmReqds).toBe(order.length);
      // Late duplicates may have opened a reassembly that can never complete: it times out.
      layer.poll(t + 30_000);
      expect(layer.reassemblyUsage()).toEqual({ datagrams: 0, bytes: 0 });
      expect(udp.received).toHaveLength(1);
    }), { numRuns: 60 });
  });

  it('exact duplicates are ignored and counted', () => {
    const { layer, udp } = setup();
    const data = bytes(100, 3);
    const [a, b] = fragments(data, [48]);
    layer.input(a!, 0);
    layer.input(a!, 1);
    layer.input(b!, 2);
    expect(udp.received).toHaveLength(1);
    expect(layer.stats().ReasmDuplicates).toBe(1);
    expect(layer.stats().dropped.ReasmDuplicates).toBe(1);
  });
});

describe('reassembly: overlaps discard the whole datagram', () => {
  it('any overlapping fragment that is not an exact duplicate kills the reassembly', () => {
    const arb = fragmented.chain((f) =>
      fc.record({
        f: fc.constant(f),
        a: fc.nat({ max: Math.floor((f.len - 1) / 8) }),
        b: fc.integer({ min: 1, max: 64 }),
        flip: fc.nat(),
        at: fc.nat(), // where the rogue fragment goes, before the completing one
        order: fc.shuffledSubarray(Array.from({ length: f.cuts.length + 1 }, (_, i) => i), { minLength: f.cuts.length + 1, maxLength: f.cuts.length + 1 }),
      }));
    fc.assert(fc.property(arb, ({ f, a, b, flip, at, order }) => {
      const { layer, udp } = setup();
      const data = bytes(f.len, f.seed);
      const frags = fragments(data, f.cuts);
      const start = a * 8;
      let end = Math.min(f.len, start + b * 8);
      if (start === 0 && end === f.len) end = 8; // [0, len) would be a whole datagram, not a fragment
      const piece = data.slice(start, end);
      const bounds = [0, ...f.cuts, f.len];
      // Same bounds as a genuine piece: make it differ in content, or it would be a duplicate.
      if (bounds.includes(start) && bounds.includes(end) && bounds.indexOf(end) === bounds.indexOf(start) + 1) piece[flip % piece.length]! ^= 0xff;
      const rogue = packet(piece, { fragmentOffset: start, moreFragments: end < f.len });
      // Overlap is only seen within one reassembly: the rogue must come after a genuine piece
      // it overlaps and before the last genuine piece (else the rogue is first and can itself
      // complete a datagram, or the genuine one completes before the rogue arrives).
      const overlaps = (i: number) => bounds[i]! < end && start < bounds[i + 1]!;
      const n = order.length;
      let ov = order.findIndex(overlaps);
      if (ov === n - 1) { [order[0], order[n - 1]] = [order[n - 1]!, order[0]!]; ov = 0; }
      const stream = order.map((i) => frags[i]!);
      stream.splice(ov + 1 + (at % (n - 1 - ov)), 0, rogue);
      for (const p of stream) layer.input(p, 0);
      expect(udp.received).toHaveLength(0);
      const s = layer.stats();
      expect(s.ReasmOverlaps).toBe(1);
      // Counted per fragment: the rogue and every fragment held when it came; the rest are ReasmDeadFrags.
      expect(s.dropped.ReasmOverlapFrags + s.dropped.ReasmDeadFrags + s.dropped.ReasmDuplicates).toBe(stream.length);
      expect(s.dropped.ReasmOverlapFrags).toBeGreaterThanOrEqual(2);
      expect(layer.reassemblyUsage().bytes).toBe(RECORD); // buffer freed at once; the tombstone's record stays until the timer
    }), { numRuns: 150 });
  });

  it('fragments after the discard are dropped as ReasmDeadFrags until the tombstone expires', () => {
    const { layer, udp } = setup();
    const data = bytes(64, 4);
    const [a, b, c] = fragments(data, [16, 32]);
    layer.input(a!, 0);
    layer.input(packet(data.subarray(8, 24), { fragmentOffset: 8, moreFragments: true }), 0);
    layer.input(b!, 1);
    layer.input(c!, 1);
    expect(udp.received).toHaveLength(0);
    expect(layer.stats().dropped.ReasmDeadFrags).toBe(2);
    expect(layer.stats().dropped.ReasmOverlapFrags).toBe(2); // the one held and the overlapping one
    expect(layer.reassemblyUsage()).toEqual({ datagrams: 1, bytes: RECORD });
    layer.poll(30_000);
    expect(layer.reassemblyUsage()).toEqual({ datagrams: 0, bytes: 0 });
    expect(layer.stats().ReasmTimeout).toBe(0); // its failure was already counted as an overlap
    for (const p of [a!, b!, c!]) layer.input(p, 30_001);
    expect(udp.received).toHaveLength(1);
  });
});

describe('reassembly: bounds', () => {
  const arbStream = fc.array(
    fc.record({
      src: fc.constantFrom(PEER, ip('10.7.0.5')),
      id: fc.nat({ max: 5 }),
      off: fc.nat({ max: 64 }).map((x) => x * 8),
      len: fc.oneof(fc.nat({ max: 64 }).map((x) => x * 8), fc.nat({ max: 700 })),
      mf: fc.boolean(),
      seed: fc.nat(),
      dt: fc.nat({ max: 8000 }),
    }),
    { maxLength: 80 },
  );
  it('memory never exceeds the cap, nor the table its size, under arbitrary fragment streams', () => {
    fc.assert(fc.property(arbStream, fc.integer({ min: 1, max: 3000 }), fc.integer({ min: 1, max: 4 }), (stream, maxBytes, maxN) => {
      const { layer } = setup({ maxReassemblyBytes: maxBytes, maxReassemblies: maxN });
      let t = 0;
      for (const x of stream) {
        if (x.off === 0 && !x.mf) x.mf = true; // keep it a fragment
        layer.input(packet(bytes(x.len, x.seed), { src: x.src, identification: x.id, fragmentOffset: x.off, moreFragments: x.mf }), t);
        const u = layer.reassemblyUsage();
        if (u.bytes > maxBytes || u.bytes < 0 || u.datagrams > maxN) throw new Error(`usage ${JSON.stringify(u)} over ${maxBytes}/${maxN}`);
        t += x.dt;
        if (layer.pollAt() <= t) layer.poll(t);
      }
      layer.poll(t + 30_000);
      expect(layer.reassemblyUsage()).toEqual({ datagrams: 0, bytes: 0 });
      expect(layer.pollAt()).toBe(Infinity);
    }), { numRuns: 300 });
  });

  it('table full: the oldest datagram is evicted; the newcomer and the rest complete', () => {
    const { layer, udp } = setup({ maxReassemblies: 2 });
    const d = [1, 2, 3].map((id) => fragments(bytes(32, id), [16], { identification: id }));
    layer.input(d[0]![0]!, 0);
    layer.input(d[1]![0]!, 1);
    layer.input(d[2]![0]!, 2);
    const s = layer.stats();
    expect([s.ReasmEvicted, s.dropped.ReasmEvictedFrags, s.ReasmFails]).toEqual([1, 1, 1]);
    for (const i of [1, 2, 0]) layer.input(d[i]![1]!, 3);
    expect(udp.received.map((r) => r.payload[0])).toEqual([bytes(32, 2)[0], bytes(32, 3)[0]]);
    expect(layer.reassemblyUsage().datagrams).toBe(1); // datagram 1's second half started a new one
  });

  it('over the byte cap, the oldest datagrams are evicted; a datagram larger than the cap alone is discarded', () => {
    const { layer, udp } = setup({ maxReassemblyBytes: held(48) + DATAGRAM_CHARGE - 1 });
    const [a, b] = fragments(bytes(120, 5), [48], { identification: 1 });
    layer.input(a!, 0); // a buffer for 48 bytes: leaves no room for another record
    expect(layer.reassemblyUsage().bytes).toBe(held(48));
    const [x, y] = fragments(bytes(40, 6), [16], { identification: 2 });
    layer.input(x!, 1); // its record does not fit: datagram 1 goes
    expect(layer.stats().dropped.ReasmEvictedFrags).toBe(1);
    layer.input(b!, 2); // a new datagram 1, which evicts datagram 2
    layer.input(y!, 3); // a new datagram 2: evicts datagram 1 again
    expect(layer.stats().ReasmEvicted).toBe(3);
    expect(udp.received).toHaveLength(0);
    const { layer: small } = setup({ maxReassemblyBytes: RECORD + 100 });
    small.input(a!, 0); // 48 bytes of payload need more than the cap, even alone
    expect(small.reassemblyUsage()).toEqual({ datagrams: 1, bytes: RECORD });
    expect(small.stats().dropped.ReasmNoMemoryFrags).toBe(1);
    const { layer: tiny } = setup({ maxReassemblyBytes: RECORD - 1 });
    tiny.input(a!, 0); // not even the record fits
    expect(tiny.reassemblyUsage()).toEqual({ datagrams: 0, bytes: 0 });
    expect(tiny.stats().dropped.ReasmNoMemoryFrags).toBe(1);
  });

  it('a datagram beyond 65535 bytes is discarded', () => {
    const { layer } = setup();
    layer.input(packet(new Uint8Array(16), { fragmentOffset: 65504, moreFragments: false }), 0); // 20 + 65520 > 65535
    expect(layer.stats().dropped.ReasmTooBigFrags).toBe(1);
    expect(layer.reassemblyUsage().bytes).toBe(RECORD); // a tombstone
  });

  it('MF with a length that is not a multiple of 8 is a bad fragment; disagreeing ends are inconsistent', () => {
    const { layer } = setup();
    layer.input(packet(new Uint8Array(7), { moreFragments: true }), 0);
    expect(layer.stats().dropped.ReasmBadFrags).toBe(1);
    layer.input(packet(new Uint8Array(8), { identification: 9, fragmentOffset: 16 }), 0); // ends at 24
    layer.input(packet(new Uint8Array(8), { identification: 9, fragmentOffset: 24, moreFragments: true }), 0); // beyond it
    expect(layer.stats().dropped.ReasmInconsistentFrags).toBe(2); // per fragment: the one held and this one
  });
});

describe('reassembly: eviction order', () => {
  const OTHER = ip('10.7.0.9');
  it('small datagrams (< REASSEMBLY_SMALL bytes held, tombstones too) go before larger ones, oldest first', () => {
    const { layer, udp } = setup({ maxReassemblies: 3 });
    const big = fragments(bytes(2000, 1), [REASSEMBLY_SMALL], { identification: 1 }); // first piece: 512 bytes
    layer.input(big[0]!, 0); // oldest, but large
    const small = [2, 3, 4, 5].map((id) => fragments(bytes(32, id), [16], { identification: id }));
    for (const [k, d] of small.entries()) layer.input(d[0]!, 1 + k); // each evicts the oldest small one
    expect(layer.stats().ReasmEvicted).toBe(2);
    layer.input(big[1]!, 10);
    layer.input(small[3]![1]!, 10);
    layer.input(small[0]![1]!, 10); // evicted: starts a new datagram instead
    expect(udp.received.map((r) => r.payload.length)).toEqual([2000, 32]);
  });

  it('a source over its quota evicts its own datagrams, small first; other sources keep theirs', () => {
    const quota = 3 * held(REASSEMBLY_SMALL);
    const { layer, udp } = setup({ maxReassemblyBytesPerSource: quota });
    const mine = fragments(bytes(1024, 7), [REASSEMBLY_SMALL], { src: OTHER, identification: 7 });
    layer.input(mine[0]!, 0);
    const legit = fragments(bytes(1024, 8), [REASSEMBLY_SMALL], { identification: 8 });
    layer.input(legit[0]!, 0);
    for (let id = 100; id < 400; id++) layer.input(packet(bytes(8, id), { src: OTHER, identification: id, moreFragments: true }), 1);
    expect(layer.stats().ReasmEvicted).toBe(300 - Math.floor((quota - held(REASSEMBLY_SMALL)) / (DATAGRAM_CHARGE + 2 + 60 + 8)));
    layer.input(legit[1]!, 2);
    layer.input(mine[1]!, 2);
    expect(udp.received.map((r) => r.src)).toEqual([PEER, OTHER]);
  });
});

/** Fragments held + used + dropped under one Reasm* reason: the identity of stats.ts. */
function explained(r: Reassembler, c: Ipv4Counters): number {
  let dropped = 0;
  for (const [k, v] of Object.entries(c.dropped)) if (k.startsWith('Reasm')) dropped += v;
  return r.fragments + c.ReasmFragsUsed + dropped;
}

describe('reassembly counters: every fragment is held, used, or dropped under exactly one reason', () => {
  it('holds after every fragment of arbitrary streams, under tight limits', () => {
    const frag = fc.record({
      src: fc.nat({ max: 3 }), id: fc.nat({ max: 3 }), off: fc.nat({ max: 80 }).map((x) => x * 8),
      len: fc.oneof(fc.nat({ max: 80 }).map((x) => x * 8), fc.nat({ max: 700 })), mf: fc.boolean(), seed: fc.nat({ max: 3 }), dt: fc.nat({ max: 9000 }),
    });
    const limits = fc.record({
      maxReassemblyBytes: fc.integer({ min: 500, max: 20_000 }), maxReassemblyBytesPerSource: fc.integer({ min: 500, max: 20_000 }),
      maxReassemblies: fc.integer({ min: 1, max: 6 }),
    });
    fc.assert(fc.property(fc.array(frag, { maxLength: 150 }), limits, (stream, l) => {
      const c = newIpv4Counters();
      const r = new Reassembler({ ...DEFAULT_REASSEMBLY_LIMITS, ...l }, c);
      const out = new Uint8Array(65535);
      let t = 0;
      let n = 0;
      for (const x of stream) {
        if (x.off === 0 && !x.mf) x.mf = true;
        const p = packet(bytes(x.len, x.seed), { src: ip(`10.7.0.${10 + x.src}`), identification: x.id, fragmentOffset: x.off, moreFragments: x.mf });
        r.add(parseIpv4(p) as Exclude<ReturnType<typeof parseIpv4>, string>, p, t, out);
        n++;
        if (explained(r, c) !== n) throw new Error(`${explained(r, c)} explained of ${n}: ${JSON.stringify(c)}`);
        if (r.bytes > l.maxReassemblyBytes || r.datagrams > l.maxReassemblies) throw new Error(`over: ${r.bytes} bytes, ${r.datagrams} datagrams`);
        t += x.dt;
        r.poll(t, out);
        if (explained(r, c) !== n) throw new Error('poll lost a fragment');
      }
      r.poll(t + 30_000, out);
      expect([r.fragments, r.datagrams, r.bytes, r.sourceCount]).toEqual([0, 0, 0, 0]);
      expect(explained(r, c)).toBe(n);
    }), { numRuns: 300 });
  });
});

describe('reassembly timeout (RFC 791 §3.2: 30 s from the first fragment)', () => {
  it('still pending at 30000 - 1, expired and freed at 30000, counted', () => {
    const { layer, udp } = setup();
    const [a, b, c] = fragments(bytes(64, 6), [16, 32]);
    layer.input(a!, 1000);
    layer.input(b!, 20_000); // later fragments do not restart the timer
    expect(layer.pollAt()).toBe(31_000);
    layer.poll(30_999);
    expect(layer.reassemblyUsage()).toEqual({ datagrams: 1, bytes: held(32) }); // 16, doubled to 32
    layer.poll(31_000);
    expect(layer.reassemblyUsage()).toEqual({ datagrams: 0, bytes: 0 });
    const s = layer.stats();
    expect([s.ReasmTimeout, s.ReasmFails, s.dropped.ReasmTimeoutFrags]).toEqual([1, 1, 2]); // 2 fragments held
    expect(layer.pollAt()).toBe(Infinity);
    layer.input(c!, 31_001); // starts a new, incomplete reassembly
    expect(udp.received).toHaveLength(0);
  });

  it('answers time exceeded (code 1) quoting the first fragment, only when it was received', () => {
    const { layer, reporter } = setup();
    const [a, b] = fragments(bytes(64, 7), [32], { identification: 1 });
    const [, d] = fragments(bytes(64, 8), [32], { identification: 2 });
    layer.input(b!, 0);
    layer.input(a!, 0);
    layer.input(d!, 0); // datagram 2 never gets its first fragment
    expect(layer.stats().ReasmOKs).toBe(1);
    const [e] = fragments(bytes(64, 9), [32], { identification: 3 });
    layer.input(e!, 10);
    layer.poll(30_010);
    expect(reporter.timeExceededCalls).toHaveLength(1);
    expect(reporter.timeExceededCalls[0]!.code).toBe(1);
    expect(Array.from(reporter.timeExceededCalls[0]!.packet)).toEqual(Array.from(e!));
  });

  it('no time exceeded for a datagram sent to broadcast', () => {
    const { layer, reporter } = setup();
    const [a] = fragments(bytes(64, 10), [32], { dst: ip('10.7.0.255') });
    layer.input(a!, 0);
    layer.poll(30_000);
    expect(layer.stats().ReasmTimeout).toBe(1);
    expect(reporter.timeExceededCalls).toHaveLength(0);
  });

  it('a reassembled datagram of an unknown protocol may be answered (it holds fragment 0)', () => {
    const { layer, reporter } = setup();
    for (const p of fragments(bytes(64, 11), [32], { protocol: 99, dst: US })) layer.input(p, 0);
    expect(reporter.unreachable.map((u) => u.code)).toEqual([2]);
  });
});
