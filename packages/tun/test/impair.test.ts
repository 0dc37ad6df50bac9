import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createLinkPair, impair, parseImpairSpec, formatImpairSpec, type ImpairScheduler, type ImpairSpec } from '@netstack/tun';

/** Virtual time: timers fire only when the test advances the clock. */
function virtualClock() {
  let now = 0;
  let next = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();
  const scheduler: ImpairScheduler = {
    now: () => now,
    setTimer: (fn, ms) => { const id = next++; timers.set(id, { at: now + ms, fn }); return id; },
    cancel: (h) => { timers.delete(h as number); },
  };
  const advance = (to: number): void => {
    for (;;) {
      let best: [number, { at: number; fn: () => void }] | undefined;
      for (const e of timers) if (e[1].at <= to && (!best || e[1].at < best[1].at)) best = e;
      if (!best) break;
      timers.delete(best[0]);
      now = best[1].at;
      best[1].fn();
    }
    now = to;
  };
  return { scheduler, advance };
}

const spec = (s: Partial<ImpairSpec>): ImpairSpec => ({ loss: 0, dup: 0, reorder: 0, corrupt: 0, delayMs: 0, seed: 1, ...s });
const packet = (i: number): Uint8Array => Uint8Array.of(0x45, 0, 0, 24, i >> 8, i & 255, ...new Array(18).fill(i & 255));

function rig(s: ImpairSpec, maxQueued = 64) {
  const clock = virtualClock();
  const pair = createLinkPair({ autoDeliver: false, queueLimit: 100000 });
  const shaped = impair(pair.a, s, { scheduler: clock.scheduler, maxQueued });
  const got: number[] = [];
  pair.b.setReceiver({ packet: (p) => got.push((p[4]! << 8) | p[5]!) });
  const send = (n: number): void => { for (let i = 0; i < n; i++) shaped.send(packet(i)); pair.pump(); };
  const advance = (t: number): void => { clock.advance(t); pair.pump(); };
  return { shaped, got, send, advance, pair, clock };
}

describe('parseImpairSpec', () => {
  it('reads the issue\'s example', () => {
    expect(parseImpairSpec('loss=3%,dup=1%,reorder=25%,delay=5ms,seed=7')).toEqual(spec({ loss: 0.03, dup: 0.01, reorder: 0.25, delayMs: 5, seed: 7 }));
  });
  it('round-trips through formatImpairSpec', () => {
    const s = parseImpairSpec('loss=0.5%,corrupt=0.1%,delay=2.5ms,seed=3');
    expect(parseImpairSpec(formatImpairSpec(s))).toEqual(s);
  });
  for (const bad of ['', 'loss', 'loss=150%', 'lose=3%', 'delay=fast', 'seed=-1', 'loss=3%=4', 'delay=20s']) {
    it(`rejects '${bad}' with ERR_INVALID_ARG_VALUE`, () => {
      expect(() => parseImpairSpec(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    });
  }
});

describe('impair', () => {
  it('passes everything unchanged with no impairment', () => {
    const r = rig(spec({}));
    r.send(100);
    expect(r.got).toEqual([...Array(100).keys()]);
  });

  it('loses about the given share, and the same seed loses the same packets', () => {
    const a = rig(spec({ loss: 0.2, seed: 9 }));
    const b = rig(spec({ loss: 0.2, seed: 9 }));
    a.send(5000); b.send(5000);
    expect(a.got).toEqual(b.got);
    expect(5000 - a.got.length).toBe(a.shaped.impairStats().Lost);
    expect(a.shaped.impairStats().Lost).toBeGreaterThan(850);
    expect(a.shaped.impairStats().Lost).toBeLessThan(1150);
  });

  it('holds packets for exactly the delay (virtual time: delay-1 nothing, delay everything)', () => {
    const r = rig(spec({ delayMs: 5 }));
    r.send(10);
    r.advance(4.999);
    expect(r.got).toEqual([]);
    r.advance(5);
    expect(r.got).toEqual([...Array(10).keys()]);
  });

  it('reorders: some packets arrive after later ones, none is lost', () => {
    const r = rig(spec({ reorder: 0.25, delayMs: 1, seed: 4 }));
    for (let i = 0; i < 200; i++) { r.shaped.send(packet(i)); r.advance(i * 0.1); }
    r.advance(100);
    expect([...r.got].sort((x, y) => x - y)).toEqual([...Array(200).keys()]);
    expect(r.got).not.toEqual([...Array(200).keys()]);
    expect(r.shaped.impairStats().Reordered).toBeGreaterThan(20);
  });

  it('duplicates: every packet arrives, some twice', () => {
    const r = rig(spec({ dup: 0.1, seed: 5 }));
    r.send(1000);
    expect(new Set(r.got).size).toBe(1000);
    expect(r.got.length).toBe(1000 + r.shaped.impairStats().Duplicated);
    expect(r.shaped.impairStats().Duplicated).toBeGreaterThan(50);
  });

  it('corrupts a byte beyond the IP header and leaves the sender\'s buffer alone', () => {
    const clock = virtualClock();
    const pair = createLinkPair({ autoDeliver: false });
    const shaped = impair(pair.a, spec({ corrupt: 1 }), { scheduler: clock.scheduler });
    const seen: Uint8Array[] = [];
    pair.b.setReceiver({ packet: (p) => seen.push(p.slice()) });
    const p = packet(1);
    const copy = p.slice();
    shaped.send(p);
    pair.pump();
    expect(p).toEqual(copy);
    const diff = [...seen[0]!].map((x, i) => x ^ copy[i]!).map((x, i) => [x, i] as const).filter(([x]) => x !== 0);
    expect(diff).toHaveLength(1);
    expect(diff[0]![1]).toBeGreaterThanOrEqual(20);
  });

  it('corrupts IPv6 beyond its 40-byte header and a fragment header after it (no header checksum to catch it)', () => {
    const clock = virtualClock();
    const pair = createLinkPair({ autoDeliver: false, queueLimit: 10_000 });
    const shaped = impair(pair.a, spec({ corrupt: 1, seed: 5 }), { scheduler: clock.scheduler });
    const seen: Uint8Array[] = [];
    pair.b.setReceiver({ packet: (p) => seen.push(p.slice()) });
    // 60-byte IPv6 packets: next header UDP (17), or a fragment header (44) first.
    const v6 = (nh: number): Uint8Array => { const p = new Uint8Array(60).fill(0xaa); p[0] = 0x60; p[4] = 0; p[5] = 20; p[6] = nh; p[7] = 64; return p; };
    const lowest = { 17: Infinity, 44: Infinity };
    for (let i = 0; i < 400; i++) {
      for (const nh of [17, 44] as const) {
        const p = v6(nh);
        shaped.send(p);
        pair.pump();
        const got = seen.pop()!;
        const at = [...got].findIndex((x, k) => x !== p[k]);
        lowest[nh] = Math.min(lowest[nh], at);
      }
    }
    expect(lowest).toEqual({ 17: 40, 44: 48 });
  });

  it('bounds what it holds and counts the overflow', () => {
    const r = rig(spec({ delayMs: 10 }));
    r.send(100);
    expect(r.shaped.queued()).toBe(64);
    expect(r.shaped.impairStats().Overflow).toBe(36);
    r.advance(10);
    expect(r.got).toHaveLength(64);
  });

  it('impairs the receive direction too', () => {
    const clock = virtualClock();
    const pair = createLinkPair({ autoDeliver: false, queueLimit: 10000 });
    const shaped = impair(pair.b, spec({ loss: 0.5, seed: 2 }), { scheduler: clock.scheduler });
    let got = 0;
    let batches = 0;
    shaped.setReceiver({ packet: () => { got++; }, batchEnd: () => { batches++; } });
    for (let i = 0; i < 1000; i++) pair.a.send(packet(i));
    pair.pump();
    expect(got).toBe(1000 - shaped.impairStats().Lost);
    expect(got).toBeGreaterThan(400);
    expect(got).toBeLessThan(600);
    expect(batches).toBe(1);
  });

  it('close() drops what is held and sends nothing more', () => {
    const r = rig(spec({ delayMs: 5 }));
    r.send(5);
    r.shaped.close();
    r.advance(50);
    expect(r.got).toEqual([]);
    expect(r.shaped.send(packet(1))).toBe(false);
  });

  it('property: without loss, every packet arrives (any dup/reorder/delay/seed)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 150 }), (seed, dup, reorder, delayMs, n) => {
      // Up to 2 copies held for up to 2 x 20 ms at 1 packet/ms: 4096 never overflows.
      const r = rig(spec({ seed, dup, reorder, delayMs }), 4096);
      for (let i = 0; i < n; i++) { r.shaped.send(packet(i)); r.advance(i); }
      r.advance(n + 100);
      expect(r.shaped.impairStats().Overflow).toBe(0);
      expect(new Set(r.got).size).toBe(n);
    }), { numRuns: 50, seed: 0x1a2b });
  });
});

describe('impair ce= (ECN marking, RFC 3168 §5)', () => {
  /** An IPv4 header (20 bytes, valid checksum) with ECN field `ecn`, and 8 payload bytes. */
  const ipPacket = (ecn: number, id: number): Uint8Array => {
    const p = Uint8Array.of(0x45, 0x28 | ecn, 0, 28, id >> 8, id & 255, 0x40, 0, 64, 17, 0, 0, 10, 7, 0, 1, 10, 7, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8);
    const c = headerSum(p);
    p[10] = c >> 8; p[11] = c & 255;
    return p;
  };
  /** The one's-complement sum of the header's 16-bit words, complemented (0 for a valid header). */
  function headerSum(p: Uint8Array): number {
    let s = 0;
    for (let i = 0; i < 20; i += 2) s += (p[i]! << 8) | p[i + 1]!;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    return ~s & 0xffff;
  }

  it('parses ce= and round-trips it', () => {
    const s = parseImpairSpec('ce=2%,seed=3');
    expect(s.ce).toBe(0.02);
    expect(parseImpairSpec(formatImpairSpec(s))).toEqual(s);
  });

  it('marks ECT(0) and ECT(1) packets CE with a valid header checksum, the DSCP kept; Not-ECT and CE pass unchanged', () => {
    const pair = createLinkPair({ autoDeliver: false, queueLimit: 1000 });
    const shaped = impair(pair.a, spec({ ce: 1 }), { scheduler: virtualClock().scheduler });
    const got: Uint8Array[] = [];
    pair.b.setReceiver({ packet: (p) => got.push(p.slice()) });
    const sentPackets = [ipPacket(2, 1), ipPacket(1, 2), ipPacket(0, 3), ipPacket(3, 4)];
    for (const p of sentPackets) shaped.send(p);
    pair.pump();
    expect(got.map((p) => p[1]! & 3)).toEqual([3, 3, 0, 3]);
    expect(got.map((p) => p[1]! & 0xfc)).toEqual([0x28, 0x28, 0x28, 0x28]);
    for (const p of got) expect(headerSum(p)).toBe(0);
    expect(got[2]).toEqual(sentPackets[2]);
    expect(shaped.impairStats().CeMarked).toBe(2);
    // The sender's buffers are borrowed: never written.
    expect(sentPackets[0]![1]! & 3).toBe(2);
  });

  it('property: at probability p about p of ECT packets are marked, each with a valid checksum', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 1e6 }), fc.double({ min: 0.05, max: 0.5, noNaN: true }), (seed, p) => {
      const pair = createLinkPair({ autoDeliver: false, queueLimit: 5000 });
      const shaped = impair(pair.a, spec({ ce: p, seed }), { scheduler: virtualClock().scheduler });
      let marked = 0;
      pair.b.setReceiver({ packet: (q) => { expect(headerSum(q)).toBe(0); if ((q[1]! & 3) === 3) marked++; } });
      for (let i = 0; i < 2000; i++) shaped.send(ipPacket(2, i));
      pair.pump();
      expect(Math.abs(marked / 2000 - p)).toBeLessThan(0.06);
    }), { numRuns: 20 });
  });
});
