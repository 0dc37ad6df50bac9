/**
 * The shaper's path features: the bottleneck (rate, drop-tail queue in packets and bytes),
 * Gilbert–Elliott bursty loss, and per-direction settings. Virtual time throughout.
 */
import { describe, expect, it } from 'vitest';
import {
  createLinkPair, createShaper, impair, parseImpairSpec, formatImpairSpec, seededRandom,
  type ImpairScheduler, type ImpairSpec,
} from '@netstack/tun';

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
  return { scheduler, advance, now: () => now };
}

const spec = (s: Partial<ImpairSpec>): ImpairSpec => ({ loss: 0, dup: 0, reorder: 0, corrupt: 0, delayMs: 0, seed: 1, ...s });
/** A packet of `size` bytes carrying its number in bytes 4..5. */
const packet = (i: number, size = 1250): Uint8Array => {
  const p = new Uint8Array(size);
  p[0] = 0x45; p[4] = i >> 8; p[5] = i & 255;
  return p;
};
const idOf = (p: Uint8Array): number => (p[4]! << 8) | p[5]!;

/** One shaper direction whose output records (id, time). */
function shaperRig(s: ImpairSpec) {
  const clock = virtualClock();
  const got: Array<{ id: number; at: number }> = [];
  const sh = createShaper(s, (p) => got.push({ id: idOf(p), at: clock.now() }), { scheduler: clock.scheduler });
  return { clock, got, sh };
}

describe('parseImpairSpec: rate, queue, gel, directions', () => {
  it('reads a bottleneck and bursty loss', () => {
    expect(parseImpairSpec('rate=100mbit,queue=100')).toEqual(spec({ rateBps: 1e8, queue: 100 }));
    expect(parseImpairSpec('rate=2.5mbit,queuebytes=64k,delay=25ms')).toEqual(spec({ rateBps: 2.5e6, queueBytes: 65536, delayMs: 25 }));
    expect(parseImpairSpec('rate=1gbit,queue=8,queuebytes=1m').queueBytes).toBe(1 << 20);
    expect(parseImpairSpec('gel=1%/30%').gel).toEqual({ p: 0.01, r: 0.3, lossBad: 1, lossGood: 0 });
    expect(parseImpairSpec('gel=0.02/0.5/80%/0.1%').gel).toEqual({ p: 0.02, r: 0.5, lossBad: 0.8, lossGood: 0.001 });
  });
  it('reads up:SPEC;down:SPEC, a direction not named unimpaired', () => {
    expect(parseImpairSpec('up:loss=1%,seed=3;down:delay=5ms,rate=10mbit')).toEqual({
      ...spec({ loss: 0.01, seed: 3 }), down: spec({ delayMs: 5, rateBps: 1e7 }),
    });
    expect(parseImpairSpec('down:loss=2%')).toEqual({ ...spec({}), down: spec({ loss: 0.02 }) });
  });
  it('round-trips the new settings through formatImpairSpec', () => {
    for (const t of ['rate=100mbit,queue=100,queuebytes=150000,gel=1%/30%/90%/0.5%,delay=5ms,seed=4', 'up:rate=1.5kbit,loss=1%;down:gel=2%/40%', 'rate=33.333mbit']) {
      const s = parseImpairSpec(t);
      expect(parseImpairSpec(formatImpairSpec(s))).toEqual(s);
    }
  });
  for (const bad of ['queue=10', 'queuebytes=10k', 'rate=100', 'rate=100mbps', 'rate=0mbit', 'rate=500bit', 'rate=10mbit,queue=0', 'rate=10mbit,queue=1.5',
    'gel=1%', 'gel=1%/0', 'gel=1%/2%/3%/4%/5%', 'gel=200%/1%', 'up:loss=1%;up:loss=2%', 'up:loss=1%;sideways:loss=1%', 'up:', 'up:loss=1%;']) {
    it(`rejects '${bad}' with ERR_INVALID_ARG_VALUE`, () => {
      expect(() => parseImpairSpec(bad)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    });
  }
});

describe('the bottleneck (rate, drop-tail queue)', () => {
  it('a burst leaves at exactly the serialisation times (1250 bytes at 10 Mbit/s: 1 ms each), then the delay', () => {
    const r = shaperRig(spec({ rateBps: 10e6, delayMs: 5 }));
    for (let i = 0; i < 10; i++) r.sh.push(packet(i));
    r.clock.advance(5.999);
    expect(r.got).toEqual([]);
    r.clock.advance(100);
    expect(r.got).toEqual([...Array(10).keys()].map((i) => ({ id: i, at: 5 + (i + 1) })));
    expect(r.sh.stats().QueueHighWater).toBe(10);
    expect(r.sh.stats().QueueDropped).toBe(0);
    // Sojourn: packet i waits i ms and is serialised in 1: 1 + 2 + ... + 10.
    expect(r.sh.stats()).toMatchObject({ QueuedPackets: 10, QueueDelaySumMs: 55, QueueDelayMaxMs: 10 });
  });

  it('packet sizes set the times: 125, 1250, 12500 bytes at 1 Mbit/s take 1, 10, 100 ms', () => {
    const r = shaperRig(spec({ rateBps: 1e6 }));
    r.sh.push(packet(0, 125));
    r.sh.push(packet(1, 1250));
    r.sh.push(packet(2, 12500));
    r.clock.advance(1000);
    expect(r.got).toEqual([{ id: 0, at: 1 }, { id: 1, at: 11 }, { id: 2, at: 111 }]);
  });

  it('an idle link starts serialising at once: a packet after a gap is not delayed by the earlier ones', () => {
    const r = shaperRig(spec({ rateBps: 10e6 }));
    r.sh.push(packet(0));
    r.clock.advance(50);
    r.sh.push(packet(1));
    r.clock.advance(100);
    expect(r.got).toEqual([{ id: 0, at: 1 }, { id: 1, at: 51 }]);
  });

  it('the queue drops the excess of a burst (drop-tail) and counts it', () => {
    const r = shaperRig(spec({ rateBps: 10e6, queue: 100 }));
    for (let i = 0; i < 150; i++) r.sh.push(packet(i));
    expect(r.sh.bottleneckQueued()).toBe(100);
    expect(r.sh.stats().QueueDropped).toBe(50);
    r.clock.advance(1000);
    expect(r.got.map((g) => g.id)).toEqual([...Array(100).keys()]);
    expect(r.got.at(-1)!.at).toBe(100);
  });

  it('the queue counts the packet being serialised: queue=1 passes one of a burst', () => {
    const r = shaperRig(spec({ rateBps: 10e6, queue: 1 }));
    for (let i = 0; i < 3; i++) r.sh.push(packet(i));
    r.clock.advance(1);
    r.sh.push(packet(3)); // the first has left at 1 ms: room again
    r.clock.advance(10);
    expect(r.got).toEqual([{ id: 0, at: 1 }, { id: 3, at: 2 }]);
    expect(r.sh.stats().QueueDropped).toBe(2);
  });

  it('the byte bound drops too: 10 x 1250 bytes fit in queuebytes=12500, the 11th does not, a small one still does not', () => {
    const r = shaperRig(spec({ rateBps: 10e6, queue: 1000, queueBytes: 12500 }));
    for (let i = 0; i < 11; i++) r.sh.push(packet(i));
    r.sh.push(packet(11, 40));
    expect(r.sh.stats().QueueDropped).toBe(2);
    r.clock.advance(0.5); // nothing has left yet
    r.sh.push(packet(12, 40));
    expect(r.sh.stats().QueueDropped).toBe(3);
    r.clock.advance(1); // the first left: 1250 bytes free
    r.sh.push(packet(13, 40));
    r.clock.advance(100);
    expect(r.got.map((g) => g.id)).toEqual([...Array(10).keys(), 13]);
  });

  it('the queue drains as it serves: a second burst half a queue-time later finds half the room', () => {
    const r = shaperRig(spec({ rateBps: 10e6, queue: 100 }));
    for (let i = 0; i < 100; i++) r.sh.push(packet(i));
    r.clock.advance(50);
    for (let i = 100; i < 200; i++) r.sh.push(packet(i));
    expect(r.sh.stats().QueueDropped).toBe(50);
    r.clock.advance(1000);
    expect(r.got.map((g) => g.id)).toEqual([...Array(150).keys()]);
    expect(r.got.at(-1)!.at).toBe(150);
  });

  it('traffic at the rate never queues beyond one packet; at twice the rate it fills the queue and loses the excess', () => {
    const r = shaperRig(spec({ rateBps: 10e6, queue: 20 }));
    for (let i = 0; i < 500; i++) { r.clock.advance(i); r.sh.push(packet(i)); }
    expect(r.sh.stats().QueueHighWater).toBe(1);
    expect(r.sh.stats().QueueDropped).toBe(0);
    const f = shaperRig(spec({ rateBps: 10e6, queue: 20 }));
    for (let i = 0; i < 1000; i++) { f.clock.advance(i / 2); f.sh.push(packet(i)); }
    f.clock.advance(10_000);
    expect(f.sh.stats().QueueHighWater).toBe(20);
    // 1000 offered over 500 ms, 1 per ms served: about 500 + the queue through.
    expect(f.got.length).toBeGreaterThanOrEqual(500);
    expect(f.got.length).toBeLessThanOrEqual(521);
    expect(f.got.length + f.sh.stats().QueueDropped).toBe(1000);
  });

  it('a queue larger than maxQueued is honoured (the holding bound grows by the queue bound)', () => {
    const clock = virtualClock();
    let n = 0;
    const sh = createShaper(spec({ rateBps: 10e6, queue: 100, delayMs: 1 }), () => { n++; }, { scheduler: clock.scheduler, maxQueued: 10 });
    for (let i = 0; i < 100; i++) sh.push(packet(i));
    clock.advance(1000);
    expect(n).toBe(100);
    expect(sh.stats().Overflow).toBe(0);
  });
});

describe('Gilbert–Elliott bursty loss', () => {
  /** Runs `n` packets through (no delay: synchronous); returns the lost/delivered pattern. */
  function pattern(s: ImpairSpec, n: number): boolean[] {
    let delivered = false;
    const sh = createShaper(s, () => { delivered = true; }, { scheduler: virtualClock().scheduler });
    const lost: boolean[] = [];
    for (let i = 0; i < n; i++) { delivered = false; sh.push(packet(i & 0xffff, 40)); lost.push(!delivered); }
    expect(sh.stats().BurstLost).toBe(lost.filter(Boolean).length - (sh.stats().Lost - sh.stats().BurstLost));
    return lost;
  }
  /** Mean lengths of the runs of lost and delivered packets. */
  function runs(lost: boolean[]): { lossRun: number; goodRun: number; rate: number } {
    const lens = { true: [] as number[], false: [] as number[] };
    let cur = lost[0]!;
    let len = 0;
    for (const l of lost) {
      if (l === cur) len++;
      else { lens[`${cur}`].push(len); cur = l; len = 1; }
    }
    const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
    return { lossRun: mean(lens.true), goodRun: mean(lens.false), rate: lost.filter(Boolean).length / lost.length };
  }

  it('loss runs last 1/R packets on average, delivered runs 1/P, the loss rate is P/(P+R) (200 000 packets, 3 seeds)', () => {
    for (const seed of [1, 2, 3]) {
      const r = runs(pattern(spec({ gel: { p: 0.01, r: 0.25, lossBad: 1, lossGood: 0 }, seed }), 200_000));
      expect(r.lossRun).toBeGreaterThan(4 * 0.93);
      expect(r.lossRun).toBeLessThan(4 * 1.07);
      expect(r.goodRun).toBeGreaterThan(100 * 0.9);
      expect(r.goodRun).toBeLessThan(100 * 1.1);
      expect(r.rate).toBeGreaterThan((0.01 / 0.26) * 0.9);
      expect(r.rate).toBeLessThan((0.01 / 0.26) * 1.1);
    }
  });

  it('with the same mean, independent loss has runs of about one packet; bursty loss much longer ones', () => {
    const random = runs(pattern(spec({ loss: 0.01 / 0.26, seed: 5 }), 100_000));
    const bursty = runs(pattern(spec({ gel: { p: 0.01, r: 0.25, lossBad: 1, lossGood: 0 }, seed: 5 }), 100_000));
    expect(random.lossRun).toBeLessThan(1.1);
    expect(bursty.lossRun).toBeGreaterThan(3.5);
  });

  it('loss in each state: LB=50% halves the bad share, LG=1% adds to the good share', () => {
    const p = 0.02;
    const r = 0.2;
    const bad = p / (p + r);
    const got = runs(pattern(spec({ gel: { p, r, lossBad: 0.5, lossGood: 0.01 }, seed: 7 }), 200_000)).rate;
    const want = bad * 0.5 + (1 - bad) * 0.01;
    expect(got).toBeGreaterThan(want * 0.92);
    expect(got).toBeLessThan(want * 1.08);
  });

  it('is deterministic for a seed, and a different seed gives a different pattern', () => {
    const s = (seed: number): ImpairSpec => spec({ gel: { p: 0.05, r: 0.3, lossBad: 1, lossGood: 0 }, seed });
    expect(pattern(s(11), 5000)).toEqual(pattern(s(11), 5000));
    expect(pattern(s(11), 5000)).not.toEqual(pattern(s(12), 5000));
  });
});

describe('per direction', () => {
  function pairRig(s: ImpairSpec) {
    const clock = virtualClock();
    const pair = createLinkPair({ autoDeliver: false, queueLimit: 100_000 });
    const shaped = impair(pair.a, s, { scheduler: clock.scheduler });
    const up: Array<{ id: number; at: number }> = [];
    const down: Array<{ id: number; at: number }> = [];
    pair.b.setReceiver({ packet: (p) => up.push({ id: idOf(p), at: clock.now() }) });
    shaped.setReceiver({ packet: (p) => down.push({ id: idOf(p), at: clock.now() }) });
    const sendUp = (i: number): void => { shaped.send(packet(i)); pair.pump(); };
    const sendDown = (i: number): void => { pair.b.send(packet(i)); pair.pump(); };
    // The pair delivers on pump(): step by 1 ms so arrival times are those of the shaper's release.
    const advance = (t: number): void => { for (let x = Math.ceil(clock.now()); x <= t; x++) { clock.advance(x); pair.pump(); } };
    return { shaped, up, down, sendUp, sendDown, advance };
  }

  it('up and down get their own settings and their own counters', () => {
    const r = pairRig(parseImpairSpec('up:delay=5ms,rate=10mbit;down:loss=100%'));
    for (let i = 0; i < 20; i++) { r.sendUp(i); r.sendDown(i); }
    r.advance(100);
    expect(r.up).toEqual([...Array(20).keys()].map((i) => ({ id: i, at: 5 + i + 1 })));
    expect(r.down).toEqual([]);
    expect(r.shaped.impairStats('up')).toMatchObject({ Lost: 0, Delayed: 20, QueueHighWater: 20 });
    expect(r.shaped.impairStats('down')).toMatchObject({ Lost: 20, Delayed: 0, QueueHighWater: 0 });
    expect(r.shaped.impairStats().Lost).toBe(20);
  });

  it('a direction not named passes untouched', () => {
    const r = pairRig(parseImpairSpec('down:loss=100%'));
    for (let i = 0; i < 10; i++) { r.sendUp(i); r.sendDown(i); }
    expect(r.up.map((g) => g.id)).toEqual([...Array(10).keys()]);
    expect(r.down).toEqual([]);
  });

  it('with up:/down: traffic one way does not change which packets are lost the other way', () => {
    const text = 'up:loss=20%,gel=2%/30%,seed=3;down:loss=20%,seed=3';
    const alone = pairRig(parseImpairSpec(text));
    const mixed = pairRig(parseImpairSpec(text));
    for (let i = 0; i < 2000; i++) {
      alone.sendUp(i);
      mixed.sendUp(i);
      mixed.sendDown(i);
      if (i % 3 === 0) mixed.sendDown(i); // more traffic the other way
    }
    expect(mixed.up).toEqual(alone.up);
    expect(alone.up.length).toBeLessThan(1700);
  });

  it('a plain spec keeps drawing both directions from one stream, as before (the same seed loses the same packets as earlier versions)', () => {
    const r = pairRig(spec({ loss: 0.3, seed: 9 }));
    const random = seededRandom(9);
    const want: number[] = [];
    for (let i = 0; i < 300; i++) {
      if (random() >= 0.3) want.push(i);
      r.sendUp(i);
    }
    expect(r.up.map((g) => g.id)).toEqual(want);
  });
});
