/**
 * CUBIC (RFC 9438) and HyStart++ (RFC 9406): the controller driven directly with
 * virtual time (window growth against the RFC's formulas), a property over event
 * sequences, and two layers over the seeded lossy link with congestionControl 'cubic'.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CUBIC_ALPHA, CUBIC_BETA, CUBIC_C, Cubic, HYSTART, NewReno, TcpLayer, initialWindow } from '../src/index.js';
import type { TcpConnection, TcpError, TcpLayerOptions } from '../src/index.js';
import { FakeIp } from './harness.js';
import { SIM_A, SIM_B, Sim } from './netsim.js';
import { sameBytes } from './scenario.js';

const MSS = 1000;

/** W_cubic(t) = C (t - K)^3 + W_max, in segments, t in seconds (RFC 9438 §4.2 Figure 1). */
const wCubic = (t: number, k: number, wMax: number): number => CUBIC_C * (t - k) ** 3 + wMax;

/**
 * A sender that always has data: each RTT it gets one ACK per full segment in
 * flight, spread evenly over the RTT, each with an RTT sample. Time in ms.
 */
class Driver {
  now = 0;
  constructor(readonly cc: Cubic, public rtt: number) {}
  /** One round trip's worth of ACKs for the current window. */
  roundTrip(): void {
    const n = Math.max(1, Math.floor(this.cc.cwnd / MSS));
    for (let i = 0; i < n; i++) {
      this.now += this.rtt / n;
      this.cc.onRttSample(this.rtt, this.now);
      this.cc.onAck(MSS, n * MSS, this.now);
    }
  }
  /** Round trips until `t` ms since `from`. */
  until(t: number, from = 0): void {
    while (this.now - from < t) this.roundTrip();
  }
}

/** A controller past slow start that just lost at cwnd = `wMax` segments and left recovery at cwnd = β·W_max. */
function afterLoss(wMax: number, options: { fastConvergence?: boolean } = {}): Cubic {
  const cc = new Cubic(MSS, { hystart: false, ...options });
  while (cc.cwnd < wMax * MSS) cc.onAck(MSS, 0, 0); // RFC 5681 slow start: +1 SMSS per ACK
  expect(cc.cwnd).toBe(wMax * MSS);
  cc.onEnterRecovery(wMax * MSS);
  cc.onExitRecovery(wMax * MSS); // everything acknowledged but a full window still queued: cwnd = ssthresh
  return cc;
}

describe('CUBIC window (RFC 9438 §4)', () => {
  it('multiplicative decrease: ssthresh = β·flight, cwnd = ssthresh after recovery (§4.6)', () => {
    const cc = afterLoss(100);
    expect(cc.ssthresh).toBe(Math.floor(100 * MSS * CUBIC_BETA));
    expect(cc.cwnd).toBe(70 * MSS);
    expect(cc.snapshot.wMax).toBe(100); // first loss: W_max = cwnd (§4.7, no earlier W_max)
    // During recovery: RFC 6582 inflation on top of CUBIC's ssthresh.
    const r = new Cubic(MSS, { hystart: false });
    r.onEnterRecovery(40 * MSS);
    expect(r.ssthresh).toBe(28 * MSS);
    expect(r.cwnd).toBe(31 * MSS);
    r.onDupAckInRecovery();
    expect(r.cwnd).toBe(32 * MSS);
    // §4.6: ssthresh (and so cwnd) at least 2 segments.
    const small = new Cubic(MSS, { hystart: false });
    small.onEnterRecovery(MSS);
    expect(small.ssthresh).toBe(2 * MSS);
    small.onExitRecovery(0);
    expect(small.cwnd).toBe(2 * MSS);
  });

  it('cwnd(t) follows C(t-K)^3 + W_max: concave up to K, plateau at W_max, convex after (§4.2, §4.4, §4.5)', () => {
    const cc = afterLoss(100);
    const d = new Driver(cc, 250); // long enough that W_est (Reno, §4.3) stays below W_cubic up to t = 8 s
    d.roundTrip(); // the first ACK opens the epoch at t = 0
    const s = cc.snapshot;
    expect(s.phase).toBe('avoidance');
    expect(s.epochStart).toBeGreaterThan(0);
    const epoch = s.epochStart!;
    // §4.2 Figure 2: K = cbrt((W_max - cwnd_epoch) / C) = cbrt(W_max (1 - β) / C).
    const k = Math.cbrt((100 * (1 - CUBIC_BETA)) / CUBIC_C);
    expect(s.k).toBeCloseTo(k, 9);
    expect(k).toBeCloseTo(4.217, 3);
    const seen: Array<[number, number]> = [];
    for (const t of [1, 2, 3, 4.2, 5, 6, 7, 8]) {
      d.until(t * 1000, epoch);
      const tt = (d.now - epoch) / 1000;
      const want = wCubic(tt, k, 100);
      const got = cc.cwnd / MSS;
      // Per ACK the window moves towards W_cubic(t + RTT) (§4.2), so at t it is near W_cubic(t).
      expect(Math.abs(got - want)).toBeLessThan(Math.max(1.5, 0.02 * want));
      expect(got).toBeGreaterThan(cc.snapshot.wEst); // the cubic region, not the Reno-friendly one
      seen.push([tt, got]);
    }
    // Concave before K: growth slows down; convex after: it speeds up.
    const rate = (i: number) => (seen[i + 1]![1] - seen[i]![1]) / (seen[i + 1]![0] - seen[i]![0]);
    expect(rate(0)).toBeGreaterThan(rate(1));
    expect(rate(1)).toBeGreaterThan(rate(2));
    expect(rate(5)).toBeGreaterThan(rate(4));
    expect(rate(6)).toBeGreaterThan(rate(5));
    expect(Math.abs(seen[3]![1] - 100)).toBeLessThan(1.5); // plateau at W_max around t = K
  });

  it('growth per RTT is capped at 1.5x however far W_cubic(t + RTT) is (§4.2)', () => {
    const cc = afterLoss(100);
    cc.onRttSample(100, 0);
    cc.onAck(MSS, 70 * MSS, 0); // opens the epoch at t = 0
    const w0 = cc.cwnd / MSS;
    // 60 s later W_cubic is ~ 0.4 * 56^3 segments ahead: target = 1.5 cwnd.
    expect(wCubic(60, cc.snapshot.k, 100)).toBeGreaterThan(10 * w0);
    const n = Math.floor(w0);
    for (let i = 0; i < n; i++) cc.onAck(MSS, n * MSS, 60_000 + i);
    // One window of ACKs adds (1.5 cwnd - cwnd) / cwnd per segment: exactly half the window.
    expect(cc.cwnd / MSS).toBeCloseTo(w0 + n / 2, 0);
    expect(cc.cwnd / MSS).toBeLessThanOrEqual(1.5 * w0 + 1e-9);
  });

  it('fast convergence: a loss below the last W_max sets W_max = cwnd (1 + β) / 2 (§4.7)', () => {
    for (const fastConvergence of [true, false]) {
      const cc = afterLoss(100, { fastConvergence });
      const d = new Driver(cc, 100);
      d.until(2000); // still below W_max = 100 (concave region)
      const at = cc.cwnd / MSS;
      expect(at).toBeLessThan(100);
      expect(at).toBeGreaterThan(80);
      cc.onEnterRecovery(cc.cwnd);
      const want = fastConvergence ? (at * (1 + CUBIC_BETA)) / 2 : at;
      expect(cc.snapshot.wMax).toBeCloseTo(want, 2); // cwnd is exposed floored to a byte
      expect(cc.ssthresh).toBe(Math.floor(Math.floor(at * MSS) * CUBIC_BETA));
      cc.onExitRecovery(cc.ssthresh);
      cc.onAck(MSS, cc.cwnd, d.now);
      const epochCwnd = cc.snapshot.cwndEpoch;
      expect(cc.snapshot.k).toBeCloseTo(Math.cbrt((want - epochCwnd) / CUBIC_C), 3);
    }
  });

  it('Reno-friendly region: with a short RTT, W_est grows α_cubic per RTT and cwnd follows it (§4.3)', () => {
    expect(CUBIC_ALPHA).toBeCloseTo((3 * 0.3) / 1.7, 12);
    const cc = afterLoss(20);
    const d = new Driver(cc, 2); // 2 ms RTT: hundreds of RTTs before W_cubic moves
    const w0 = cc.cwnd / MSS;
    for (let i = 0; i < 10; i++) d.roundTrip();
    const s = cc.snapshot;
    const t = (d.now - s.epochStart!) / 1000;
    expect(wCubic(t, s.k, 20)).toBeLessThan(s.wEst); // W_cubic(t) < W_est: Reno-friendly
    expect(cc.cwnd / MSS).toBeCloseTo(s.wEst, 2);
    // Summed over one window, α·segments_acked/cwnd ≈ α per RTT (the window grows within the RTT, hence the slack).
    expect(cc.cwnd / MSS - w0).toBeGreaterThan(10 * CUBIC_ALPHA * 0.9);
    expect(cc.cwnd / MSS - w0).toBeLessThan(10 * CUBIC_ALPHA * 1.05);
    // Once W_est reaches cwnd_prior (20), α_cubic = 1: Reno's one segment per RTT.
    while (cc.snapshot.wEst < 20) d.roundTrip();
    const w1 = cc.cwnd / MSS;
    for (let i = 0; i < 10; i++) d.roundTrip();
    expect(cc.cwnd / MSS - w1).toBeGreaterThan(9);
    expect(cc.cwnd / MSS - w1).toBeLessThan(11);
  });

  it('CUBIC outgrows Reno at long RTT: W_cubic(t) > W_est, cwnd is not W_est', () => {
    const cc = afterLoss(100);
    const d = new Driver(cc, 200);
    d.until(3000);
    const s = cc.snapshot;
    expect(cc.cwnd / MSS).toBeGreaterThan(s.wEst + 5);
  });

  it('RTO: cwnd = 1 SMSS, ssthresh = β·flight; the next CA stage has K = 0 and W_max = cwnd_epoch (§4.8)', () => {
    const cc = afterLoss(100);
    new Driver(cc, 100).until(1000);
    cc.onRto(80 * MSS);
    expect(cc.cwnd).toBe(MSS);
    expect(cc.ssthresh).toBe(56 * MSS);
    cc.onRto(80 * MSS); // the same data times out again: ssthresh held (RFC 5681 §3.1)
    expect(cc.ssthresh).toBe(56 * MSS);
    expect(cc.cwnd).toBe(MSS);
    let now = 10_000;
    while (cc.cwnd < cc.ssthresh) cc.onAck(MSS, cc.cwnd, now++); // slow start: +1 SMSS per ACK
    expect(cc.cwnd).toBe(56 * MSS);
    cc.onAck(MSS, cc.cwnd, now);
    const s = cc.snapshot;
    expect(s.phase).toBe('avoidance');
    expect(s.k).toBe(0);
    expect(s.wMax).toBeCloseTo(56, 9);
    expect(s.wEst).toBeGreaterThan(56);
    // Only that stage: after the next loss K comes from Figure 2 again.
    cc.onEnterRecovery(cc.cwnd);
    cc.onExitRecovery(cc.ssthresh);
    cc.onAck(MSS, cc.cwnd, now + 1000);
    expect(cc.snapshot.k).toBeCloseTo(Math.cbrt((cc.snapshot.wMax! - cc.snapshot.cwndEpoch) / CUBIC_C), 9);
    expect(cc.snapshot.k).toBeGreaterThan(1);
  });

  it('idle restart: cwnd = min(cwnd, IW) and a new epoch (RFC 5681 §4.1)', () => {
    const cc = afterLoss(100);
    new Driver(cc, 100).until(1000);
    cc.onIdleRestart();
    expect(cc.cwnd).toBe(initialWindow(MSS));
    expect(cc.snapshot.epochStart).toBeUndefined();
  });
});

/**
 * A sender in slow start with sequence numbers (in bytes of data): one ACK per
 * segment, refilling to cwnd after each. A round (RFC 9406 §4.2) ends with the
 * ACK covering windowEnd, SND.NXT when the round began (before the sender answers
 * that ACK), which is what the controller reconstructs from `flight`.
 */
class SlowStarter {
  now = 0;
  una = 0;
  nxt: number;
  windowEnd: number;
  constructor(readonly cc: Cubic) {
    this.nxt = Math.floor(cc.cwnd / MSS) * MSS;
    this.windowEnd = this.nxt;
  }
  get flight(): number { return this.nxt - this.una; }
  /** One ACK for one segment; true when it ended the round. */
  ackOne(rtt: number): boolean {
    this.now += 1;
    this.cc.onRttSample(rtt, this.now);
    this.cc.onAck(MSS, this.flight, this.now);
    this.una += MSS;
    const ended = this.una >= this.windowEnd;
    if (ended) this.windowEnd = this.nxt;
    this.nxt = Math.max(this.nxt, this.una + Math.floor(this.cc.cwnd / MSS) * MSS);
    return ended;
  }
  round(rtt: number, each?: () => void): void {
    for (let ended = false; !ended;) {
      ended = this.ackOne(rtt);
      each?.();
    }
  }
}

describe('HyStart++ (RFC 9406)', () => {
  const H = HYSTART;
  it('constants of §4.3', () => {
    expect(H).toEqual({ MIN_RTT_THRESH: 4, MAX_RTT_THRESH: 16, MIN_RTT_DIVISOR: 8, N_RTT_SAMPLE: 8, CSS_GROWTH_DIVISOR: 4, CSS_ROUNDS: 5, L: 8 });
  });

  it('an RTT rise just below RttThresh stays in slow start; at the threshold it enters CSS', () => {
    // lastRoundMinRTT = 50 ms: RttThresh = max(4, min(50/8, 16)) = 6.25 ms.
    const below = new SlowStarter(new Cubic(MSS));
    below.round(50); below.round(50); below.round(56);
    expect(below.cc.snapshot.phase).toBe('slow-start');
    const at = new SlowStarter(new Cubic(MSS));
    at.round(50); at.round(50); at.round(56.25);
    expect(at.cc.snapshot.phase).toBe('css');
    expect(at.cc.ssthresh).toBe(Infinity);
  });

  it('the exit needs N_RTT_SAMPLE samples in the round', () => {
    const ss = new SlowStarter(new Cubic(MSS));
    ss.round(50); ss.round(50);
    const phases: string[] = [];
    ss.round(80, () => phases.push(ss.cc.snapshot.phase));
    expect(phases.length).toBeGreaterThan(H.N_RTT_SAMPLE);
    expect(phases.slice(0, H.N_RTT_SAMPLE - 1).every((p) => p === 'slow-start')).toBe(true);
    expect(phases[H.N_RTT_SAMPLE - 1]).toBe('css');
  });

  it('CSS grows by min(N, L·SMSS) / CSS_GROWTH_DIVISOR, then after CSS_ROUNDS enters CA with ssthresh = cwnd', () => {
    const ss = new SlowStarter(new Cubic(MSS));
    // Slow start proper: min(N, L·SMSS) per ACK (one SMSS here).
    let before = ss.cc.cwnd;
    ss.ackOne(50);
    expect(ss.cc.cwnd - before).toBe(MSS);
    ss.cc.onAck(20 * MSS, ss.flight, 0); // a stretch ACK: capped at L = 8 segments
    expect(ss.cc.cwnd - before).toBe(MSS + H.L * MSS);
    const fresh = new SlowStarter(new Cubic(MSS));
    fresh.round(50); fresh.round(50); fresh.round(70);
    expect(fresh.cc.snapshot.phase).toBe('css');
    before = fresh.cc.cwnd;
    expect(fresh.ackOne(70)).toBe(false);
    expect(fresh.cc.cwnd - before).toBe(MSS / H.CSS_GROWTH_DIVISOR);
    fresh.round(70); // the rest of the second CSS round
    expect(fresh.cc.snapshot.phase).toBe('css');
    // The round CSS began in was the first; CSS_ROUNDS - 3 more keep it in CSS.
    for (let r = 0; r < H.CSS_ROUNDS - 3; r++) {
      fresh.round(70);
      expect(fresh.cc.snapshot.phase).toBe('css');
      expect(fresh.cc.ssthresh).toBe(Infinity);
    }
    fresh.round(70);
    expect(fresh.cc.snapshot.phase).toBe('avoidance');
    expect(fresh.cc.ssthresh).toBe(fresh.cc.cwnd);
    // RFC 9438 §4.10: the CA stage after a loss-free HyStart++ exit has K = 0, W_max = cwnd_epoch.
    fresh.round(70);
    expect(fresh.cc.snapshot.k).toBe(0);
    expect(fresh.cc.snapshot.wMax).toBe(fresh.cc.snapshot.cwndEpoch);
  });

  it('after a loss-free exit, congestion avoidance grows at least 5 % per RTT until a loss (Linux bictcp_update, last_max_cwnd == 0)', () => {
    const ss = new SlowStarter(new Cubic(MSS));
    ss.round(50); ss.round(50); ss.round(70);
    while (ss.cc.snapshot.phase === 'css') ss.round(70);
    expect(ss.cc.snapshot.phase).toBe('avoidance');
    const cc = ss.cc;
    const d = new Driver(cc, 70);
    d.now = ss.now;
    const w0 = cc.cwnd / MSS;
    for (let i = 0; i < 10; i++) d.roundTrip();
    // RFC 9438 §4.10 alone (K = 0, W_max = cwnd): W_cubic moves 0.4 * 0.7^3 < 0.2 segment in
    // 0.7 s and W_est one segment per RTT: w0 + ~10. Linux: one segment per 20 acknowledged.
    const ratio = (cc.cwnd / MSS) / w0;
    expect(ratio).toBeGreaterThan(1.05 ** 10 * 0.95);
    expect(ratio).toBeLessThan(1.05 ** 10 * 1.05);
    // A loss sets W_max: from then on CUBIC's own curve (concave back towards W_max), slower.
    const wLoss = cc.cwnd;
    cc.onEnterRecovery(wLoss);
    cc.onExitRecovery(wLoss);
    const w1 = cc.cwnd / MSS;
    const d2 = new Driver(cc, 70);
    d2.now = d.now + 70;
    for (let i = 0; i < 10; i++) d2.roundTrip();
    expect((cc.cwnd / MSS) / w1).toBeLessThan(1.3);
    // A timeout resets it as Linux's bictcp_reset (TCP_CA_Loss): the floor again in the next CA stage.
    cc.onRto(cc.cwnd);
    let now = d2.now + 1000;
    while (cc.cwnd < cc.ssthresh) cc.onAck(MSS, cc.cwnd, now++);
    const w2 = cc.cwnd / MSS;
    const d3 = new Driver(cc, 70);
    d3.now = now;
    for (let i = 0; i < 10; i++) d3.roundTrip();
    expect((cc.cwnd / MSS) / w2).toBeGreaterThan(1.05 ** 10 * 0.95);
  });

  it('a CSS round whose RTT rises by RttThresh again over the baseline ends CSS at once (a queue still building)', () => {
    // RttThresh = 6.25 ms (lastRoundMinRTT 50). CSS begins at 70 ms; the next round's minimum
    // RTT at 76 (a rise below RttThresh over the baseline) stays in CSS; at 76.25 it ends.
    const stay = new SlowStarter(new Cubic(MSS));
    stay.round(50); stay.round(50); stay.round(70);
    expect(stay.cc.snapshot.phase).toBe('css');
    stay.round(76);
    expect(stay.cc.snapshot.phase).toBe('css');
    const go = new SlowStarter(new Cubic(MSS));
    go.round(50); go.round(50); go.round(70);
    expect(go.cc.snapshot.phase).toBe('css');
    const phases: string[] = [];
    let atExit = { cwnd: 0, ssthresh: 0 };
    go.round(76.25, () => {
      const p = go.cc.snapshot.phase;
      if (p === 'avoidance' && phases.at(-1) === 'css') atExit = { cwnd: go.cc.cwnd, ssthresh: go.cc.ssthresh };
      phases.push(p);
    });
    // Decided on the round's N_RTT_SAMPLE-th sample, as the entry to CSS is.
    expect(phases[H.N_RTT_SAMPLE - 2]).toBe('css');
    expect(phases[H.N_RTT_SAMPLE - 1]).toBe('avoidance');
    expect(go.cc.snapshot.phase).toBe('avoidance');
    expect(atExit.ssthresh).toBe(atExit.cwnd);
    // As after CSS_ROUNDS: K = 0, W_max = cwnd_epoch in the CA stage that follows (RFC 9438 §4.10).
    go.round(76.25);
    expect(go.cc.snapshot.k).toBe(0);
    expect(go.cc.snapshot.wMax).toBe(go.cc.snapshot.cwndEpoch);
    // Where CSS_ROUNDS lets a steady RTT grow cwnd x1.25 a round for 3 more rounds.
    stay.round(76); stay.round(76); stay.round(76);
    expect(stay.cc.snapshot.phase).toBe('avoidance');
    expect(stay.cc.ssthresh).toBeGreaterThan(1.25 ** 2 * atExit.ssthresh);
  });

  it('an RTT below the CSS baseline returns to slow start (spurious exit)', () => {
    const ss = new SlowStarter(new Cubic(MSS));
    ss.round(50); ss.round(50); ss.round(70);
    expect(ss.cc.snapshot.phase).toBe('css');
    ss.round(65); // below the baseline 70
    expect(ss.cc.snapshot.phase).toBe('slow-start');
    const before = ss.cc.cwnd;
    ss.ackOne(65);
    expect(ss.cc.cwnd - before).toBe(MSS);
  });

  it('a steady RTT never leaves slow start; loss ends HyStart++ for good', () => {
    const ss = new SlowStarter(new Cubic(MSS));
    for (let r = 0; r < 6; r++) ss.round(50);
    expect(ss.cc.snapshot.phase).toBe('slow-start');
    ss.cc.onRto(ss.flight);
    expect(ss.cc.cwnd).toBe(MSS);
    // After the timeout: standard slow start to ssthresh, whatever the RTT does.
    const s2 = new SlowStarter(ss.cc);
    s2.round(50); s2.round(50); s2.round(90);
    expect(ss.cc.snapshot.phase).not.toBe('css');
  });
});

describe('CUBIC property (RFC 9438 §4.6, §4.8; RFC 5681)', () => {
  type Ev =
    | { k: 'ack'; acked: number; flight: number; dt: number }
    | { k: 'rtt'; rtt: number }
    | { k: 'loss'; flight: number }
    | { k: 'dup' }
    | { k: 'partial'; acked: number }
    | { k: 'exit'; flight: number }
    | { k: 'rto'; flight: number }
    | { k: 'idle'; dt: number };
  const ev: fc.Arbitrary<Ev> = fc.oneof(
    { weight: 8, arbitrary: fc.record({ k: fc.constant('ack' as const), acked: fc.integer({ min: 0, max: 12 * MSS }), flight: fc.integer({ min: 0, max: 400 * MSS }), dt: fc.double({ min: 0, max: 2000, noNaN: true }) }) },
    { weight: 4, arbitrary: fc.record({ k: fc.constant('rtt' as const), rtt: fc.double({ min: 0, max: 1000, noNaN: true }) }) },
    fc.record({ k: fc.constant('loss' as const), flight: fc.integer({ min: 0, max: 400 * MSS }) }),
    fc.record({ k: fc.constant('dup' as const) }),
    fc.record({ k: fc.constant('partial' as const), acked: fc.integer({ min: 0, max: 20 * MSS }) }),
    fc.record({ k: fc.constant('exit' as const), flight: fc.integer({ min: 0, max: 400 * MSS }) }),
    fc.record({ k: fc.constant('rto' as const), flight: fc.integer({ min: 0, max: 400 * MSS }) }),
    fc.record({ k: fc.constant('idle' as const), dt: fc.double({ min: 0, max: 100_000, noNaN: true }) }),
  );

  it('cwnd stays an integer in [1 SMSS, bound], ssthresh >= 2 SMSS; exact values after RTO and loss', () => {
    fc.assert(fc.property(fc.array(ev, { maxLength: 300 }), fc.boolean(), (events, hystart) => {
      const cc = new Cubic(MSS, { hystart });
      let now = 0;
      let recovery = false;
      let bound = initialWindow(MSS); // cwnd never exceeds IW plus what was acknowledged and the recovery allowances
      for (const e of events) {
        switch (e.k) {
          case 'ack':
            if (recovery) continue; // the connection calls onAck outside recovery only
            now += e.dt;
            cc.onAck(e.acked, e.flight, now);
            bound += e.acked;
            break;
          case 'rtt': cc.onRttSample(e.rtt, now); break;
          case 'loss':
            if (recovery) continue;
            recovery = true;
            cc.onEnterRecovery(e.flight);
            expect(cc.ssthresh).toBe(Math.max(Math.floor(e.flight * CUBIC_BETA), 2 * MSS));
            expect(cc.cwnd).toBe(cc.ssthresh + 3 * MSS);
            bound = Math.max(bound, cc.ssthresh + 3 * MSS);
            break;
          case 'dup': if (!recovery) continue; cc.onDupAckInRecovery(); bound += MSS; break;
          case 'partial': if (!recovery) continue; cc.onPartialAck(e.acked); break;
          case 'exit':
            if (!recovery) continue;
            recovery = false;
            cc.onExitRecovery(e.flight);
            expect(cc.cwnd).toBeLessThanOrEqual(cc.ssthresh);
            break;
          case 'rto':
            recovery = false;
            cc.onRto(e.flight);
            expect(cc.cwnd).toBe(MSS); // RFC 9438 §4.8 / RFC 5681 §3.1: loss window
            break;
          case 'idle': now += e.dt; cc.onIdleRestart(); break;
        }
        const w = cc.cwnd;
        expect(Number.isInteger(w)).toBe(true);
        expect(w).toBeGreaterThanOrEqual(MSS);
        expect(w).toBeLessThanOrEqual(bound);
        expect(cc.ssthresh === Infinity || (Number.isInteger(cc.ssthresh) && cc.ssthresh >= 2 * MSS)).toBe(true);
        const s = cc.snapshot;
        expect(Number.isFinite(s.k) && Number.isFinite(s.wEst) && !Number.isNaN(s.wMax ?? 0)).toBe(true);
      }
    }), { numRuns: 300 });
  });
});

// ============================================================== end to end

const A = SIM_A;
const B = SIM_B;

interface End { received: number[]; closed: boolean; error: TcpError | undefined; conn: TcpConnection | undefined }

/** A sends `data` to B over the seeded link; B echoes nothing, reads all, and both close. */
function transfer(seed: number, loss: number, data: Uint8Array, opts: TcpLayerOptions, connCc?: 'newreno' | 'cubic') {
  const sim = new Sim(seed, loss === 0 ? { loss, duplicate: 0, delay: 10, jitter: 0 } : { loss, duplicate: 0.02, delay: 10, jitter: 8 });
  const la = sim.host(A, { msl: 1000, maxRetries: 30, synRetries: 30, ...opts });
  const lb = sim.host(B, { msl: 1000, maxRetries: 30, synRetries: 30, ...opts });
  const a: End = { received: [], closed: false, error: undefined, conn: undefined };
  const b: End = { received: [], closed: false, error: undefined, conn: undefined };
  let sent = 0;
  let maxCwnd = 0;
  const pump = (c: TcpConnection) => {
    while (sent < data.length) {
      const n = c.write(data.subarray(sent, Math.min(data.length, sent + 7000)), sim.now);
      sent += n;
      if (n === 0) return;
    }
    c.shutdown(sim.now);
  };
  const drain = (c: TcpConnection, e: End) => {
    const buf = new Uint8Array(16384);
    for (let n; (n = c.read(buf, sim.now)) > 0;) for (let i = 0; i < n; i++) e.received.push(buf[i]!);
    if (c.remoteFinReceived && c.readableLength === 0 && c.state !== 'CLOSED') c.close(sim.now);
  };
  lb.listen({ port: 80, options: connCc ? { congestionControl: connCc } : {} }, {
    onAcceptable: (l) => {
      const c = l.accept({ onReadable: (k) => drain(k, b), onRemoteFin: (k) => drain(k, b), onClosed: (_k, err) => { b.closed = true; b.error = err; } });
      if (c === undefined) return;
      b.conn = c;
      drain(c, b);
    },
  });
  sim.at(0, () => {
    a.conn = la.connect({ remoteAddress: B, remotePort: 80, ...(connCc ? { options: { congestionControl: connCc } } : {}) }, sim.now, {
      onEstablished: pump,
      onWritable: (c) => { maxCwnd = Math.max(maxCwnd, c.stats.cwnd); pump(c); },
      onReadable: (c) => drain(c, a),
      onRemoteFin: (c) => drain(c, a),
      onClosed: (_k, err) => { a.closed = true; a.error = err; },
    });
  });
  const finished = sim.run(2_000_000);
  return { sim, la, lb, a, b, finished, maxCwnd };
}

describe('CUBIC end to end: two layers over the seeded lossy link', () => {
  const data = Uint8Array.from({ length: 400_000 }, (_, i) => (i * 31 + 7) & 255);

  it('selection: layer option by name, per-connection override, factory kept; bad names throw', () => {
    const cubicLayer = new TcpLayer(new FakeIp(), { isnKey: new Uint8Array(16), congestionControl: 'cubic' });
    const c1 = cubicLayer.connect({ remoteAddress: B, remotePort: 80 }, 0, {});
    expect(c1.cc).toBeInstanceOf(Cubic);
    const c2 = cubicLayer.connect({ remoteAddress: B, remotePort: 81, options: { congestionControl: 'newreno' } }, 0, {});
    expect(c2.cc).toBeInstanceOf(NewReno);
    const plain = new TcpLayer(new FakeIp(), { isnKey: new Uint8Array(16) });
    expect(plain.connect({ remoteAddress: B, remotePort: 80 }, 0, {}).cc).toBeInstanceOf(Cubic); // the default is CUBIC
    expect(plain.connect({ remoteAddress: B, remotePort: 81, options: { congestionControl: 'newreno' } }, 0, {}).cc).toBeInstanceOf(NewReno);
    const reno = new TcpLayer(new FakeIp(), { isnKey: new Uint8Array(16), congestionControl: 'newreno' });
    expect(reno.connect({ remoteAddress: B, remotePort: 80 }, 0, {}).cc).toBeInstanceOf(NewReno);
    const custom = new TcpLayer(new FakeIp(), { isnKey: new Uint8Array(16), congestionControl: (smss) => new Cubic(smss, { hystart: false }) });
    expect(custom.connect({ remoteAddress: B, remotePort: 80 }, 0, {}).cc).toBeInstanceOf(Cubic);
    expect(() => new TcpLayer(new FakeIp(), { congestionControl: 'bbr' as 'cubic' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => plain.connect({ remoteAddress: B, remotePort: 82, options: { congestionControl: 'vegas' as 'cubic' } }, 0, {})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => plain.listen({ port: 80, options: { congestionControl: 'vegas' as 'cubic' } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(plain.connectionCount).toBe(2);
  });

  it('a clean link: exact bytes, no retransmissions, the window grows past IW', () => {
    const r = transfer(5, 0, data, { congestionControl: 'cubic' });
    expect(r.finished).toBe(true);
    sameBytes(r.b.received, data);
    expect(r.a.error ?? r.b.error).toBeUndefined();
    expect(r.a.closed && r.b.closed).toBe(true);
    expect(r.la.stats().RetransSegs).toBe(0);
    expect(r.maxCwnd).toBeGreaterThan(initialWindow(1448));
  });

  for (const [seed, loss] of [[1, 0.02], [2, 0.05], [3, 0.1], [4, 0.15], [77, 0.2]] as const) {
    it(`seed ${seed}, ${loss * 100}% loss: exact bytes in order, clean close, both tables drain`, () => {
      const r = transfer(seed, loss, data, { congestionControl: 'cubic' });
      expect(r.finished).toBe(true);
      expect(r.a.conn!.cc).toBeInstanceOf(Cubic);
      expect(r.b.conn!.cc).toBeInstanceOf(Cubic);
      sameBytes(r.b.received, data);
      expect(r.a.received).toHaveLength(0);
      expect(r.a.error ?? r.b.error).toBeUndefined();
      expect(r.a.closed && r.b.closed).toBe(true);
      expect(r.la.connectionCount + r.lb.connectionCount).toBe(0);
      expect(r.la.stats().RetransSegs).toBeGreaterThan(0);
    });
  }

  it('per-connection cubic on a NewReno layer under 10% loss', () => {
    const r = transfer(9, 0.1, data.subarray(0, 150_000), {}, 'cubic');
    expect(r.finished).toBe(true);
    expect(r.a.conn!.cc).toBeInstanceOf(Cubic);
    sameBytes(r.b.received, data.subarray(0, 150_000));
    expect(r.la.connectionCount + r.lb.connectionCount).toBe(0);
  });
});
