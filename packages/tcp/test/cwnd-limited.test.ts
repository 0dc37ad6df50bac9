/**
 * Congestion-window validation (RFC 7661 §4.2's rule, as Linux keeps it in tcp_cwnd_validate /
 * tcp_is_cwnd_limited): cwnd grows on an ACK only when the sender used its window. Traces in
 * virtual time: the peer ACKs each segment; the application writes a few segments per round.
 *  - slow start, application-limited: cwnd grows only while it is below twice the most that
 *    was outstanding in the last window (Linux: "ensure cwnd grows to twice what was ACKed");
 *  - congestion avoidance, application-limited: no growth at all (NewReno and CUBIC, whose
 *    growth is a function of time and would otherwise climb through the idle window);
 *  - a sender that fills cwnd grows as before.
 * Each of these fails on the code before (cwnd grew on every ACK whatever the flight).
 */
import { describe, expect, it } from 'vitest';
import { ACK, Cubic, NewReno } from '../src/index.js';
import type { CongestionControl, CongestionControlName } from '../src/index.js';
import { REMOTE_ISS, established } from './harness.js';
import type { Ctx } from './harness.js';

const R = REMOTE_ISS + 1;
const MSS = 1460;
const big = (n: number) => new Uint8Array(n).fill(0x61);
/** Sequence number of the start of segment k (1-based). */
const S = (t: Ctx, k: number) => (t.iss + 1 + (k - 1) * MSS) >>> 0;
const sentSegs = (t: Ctx) => t.drain().filter((s) => s.payload.length > 0).map((s) => ((s.seq - t.iss - 1) >>> 0) / MSS + 1);

/** Writes `n` segments, checks they all went out, then the peer ACKs them one by one, `gap` ms apart. */
function round(t: Ctx, next: number, n: number, gap = 1): number {
  t.write(big(n * MSS));
  expect(sentSegs(t)).toEqual(Array.from({ length: n }, (_, i) => next + i));
  for (let k = next + 1; k <= next + n; k++) {
    t.step(gap);
    t.send({ seq: R, ack: S(t, k), flags: ACK });
  }
  expect(sentSegs(t)).toEqual([]);
  return next + n;
}

/** A controller already in congestion avoidance (ssthresh below the initial window of 10). */
const inAvoidance = (kind: 'newreno' | 'cubic') => (smss: number): CongestionControl => {
  const cc = kind === 'newreno' ? new NewReno(smss) : new Cubic(smss);
  cc.ssthresh = 5 * MSS; // (the factory runs before the handshake settles the MSS)
  return cc;
};

describe('cwnd grows only when the window is used (RFC 7661 §4.2, Linux tcp_is_cwnd_limited)', () => {
  it.each<CongestionControlName>(['newreno', 'cubic'])('%s, slow start: 3 segments a round for 20 rounds leave cwnd at the initial 10', (cc) => {
    const t = established({ congestionControl: cc });
    let next = 1;
    for (let i = 0; i < 20; i++) next = round(t, next, 3);
    // 10 < 2 * 3 is false: no growth (before: +1 SMSS per ACK, 70 segments).
    expect(t.conn.stats.cwnd).toBe(10 * MSS);
    expect(t.conn.stats.ssthresh).toBe(Infinity);
  });

  it.each<CongestionControlName>(['newreno', 'cubic'])('%s, slow start: 8 segments a round grow cwnd to twice that (16), no further; a full window grows it again', (cc) => {
    const t = established({ congestionControl: cc });
    let next = 1;
    for (let i = 0; i < 10; i++) next = round(t, next, 8);
    expect(t.conn.stats.cwnd).toBe(16 * MSS);
    // Now the application has more than cwnd: 16 go out, each ACK adds an SMSS and lets two go.
    t.write(big(40 * MSS));
    expect(sentSegs(t)).toHaveLength(16);
    for (let k = next + 1; k <= next + 4; k++) {
      t.step(1);
      t.send({ seq: R, ack: S(t, k), flags: ACK });
      expect(sentSegs(t)).toHaveLength(2);
    }
    expect(t.conn.stats.cwnd).toBe(20 * MSS);
  });

  it.each(['newreno', 'cubic'] as const)('%s, congestion avoidance: 2 segments a round for 10 s leave cwnd alone; a full window grows it', (kind) => {
    const t = established({ congestionControl: inAvoidance(kind) });
    expect(t.conn.stats.ssthresh).toBe(5 * MSS);
    let next = 1;
    // 250 rounds of 2 segments, 20 ms apart: 500 SMSS acked over 10 s (before: NewReno +1 SMSS per
    // cwnd acked, to 40 segments; CUBIC's W_cubic(t) from t_epoch on climbs every ACK).
    for (let i = 0; i < 250; i++) next = round(t, next, 2, 10);
    expect(t.conn.stats.cwnd).toBe(10 * MSS);
    // Filling the window: growth resumes (NewReno: one SMSS once a cwnd of data is acked).
    t.write(big(30 * MSS));
    expect(sentSegs(t)).toHaveLength(10);
    for (let k = next + 1; k <= next + 10; k++) {
      t.step(2);
      t.send({ seq: R, ack: S(t, k), flags: ACK });
    }
    expect(t.conn.stats.cwnd).toBeGreaterThan(10 * MSS);
    expect(t.conn.stats.cwnd).toBeLessThanOrEqual(12 * MSS);
  });
});
