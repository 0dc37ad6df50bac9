/**
 * Proportional Rate Reduction (RFC 6937 §3.1, with the reduction bound as Linux's
 * tcp_cwnd_reduction and RFC 9937 choose it) in SACK recovery, as traces in virtual time.
 * RFC 6675's DupThresh recovery (rack: false) and NewReno, so the arithmetic is RFC 6937's
 * own example (§5: one loss in a window of 20 segments, ssthresh half the flight).
 */
import { describe, expect, it } from 'vitest';
import { ACK } from '../src/index.js';
import type { SackBlock, TcpOptions } from '../src/index.js';
import { REMOTE_ISS, established } from './harness.js';
import type { Ctx } from './harness.js';

const R = REMOTE_ISS + 1;
const MSS = 1460;
const big = (n: number) => new Uint8Array(n).fill(0x61);
const SACK: TcpOptions = { sackPermitted: true };

const S = (t: Ctx, k: number) => (t.iss + 1 + (k - 1) * MSS) >>> 0;
const sb = (t: Ctx, ...r: [number, number][]): SackBlock[] => r.map(([a, b]) => ({ left: S(t, a), right: S(t, b) }));
const ackWith = (t: Ctx, k: number, blocks: SackBlock[] = []) => {
  t.step(1);
  t.send({ seq: R, ack: S(t, k), flags: ACK, ...(blocks.length > 0 ? { options: { sackBlocks: blocks } } : {}) });
};
const sentSegs = (t: Ctx) => t.drain().filter((s) => s.payload.length > 0).map((s) => ((s.seq - t.iss - 1) >>> 0) / MSS + 1);

/** A NewReno sender with cwnd = 20 segments and segments 11..30 in flight (the window of RFC 6937's example). */
function twentyInFlight(): Ctx {
  const t = established({ rack: false, congestionControl: 'newreno' }, SACK);
  t.write(big(60 * MSS));
  expect(sentSegs(t)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  // Slow start: each ACK of one segment adds one SMSS and releases two segments.
  for (let k = 2; k <= 11; k++) ackWith(t, k);
  expect(sentSegs(t)).toEqual(Array.from({ length: 20 }, (_, i) => 11 + i));
  expect(t.conn.stats.cwnd).toBe(20 * MSS);
  return t;
}

describe('PRR (RFC 6937) in SACK recovery', () => {
  it('RFC 6937 §5, one loss in a window of 20: new data on every other ACK, not nothing for half an RTT then a burst', () => {
    const t = twentyInFlight();
    const sends: (number[])[] = [];
    // Segment 11 is lost; 12..30 arrive, one ACK each (the figure's ACKs 1..19).
    for (let i = 1; i <= 19; i++) {
      ackWith(t, 11, sb(t, [12, 12 + i]));
      sends.push(sentSegs(t));
      if (i === 3) {
        // Third duplicate ACK: recovery; ssthresh = FlightSize / 2 (22 segments with the two of limited transmit).
        expect(t.conn.recovery.sackRecovery).toBe(true);
        expect(t.conn.stats.ssthresh).toBe(11 * MSS);
        expect(t.conn.recovery.recoverFs).toBe(22 * MSS);
      }
    }
    // The shape of RFC 6937 §5's PRR figure ("N N R _ N _ N _ N ...", N new data, R the
    // retransmission): limited transmit on ACKs 1-2 (RFC 3042), the retransmission on ACK 3,
    // then one new segment per two delivered, sndcnt = CEIL(prr_delivered * 11 / 22) - prr_out
    // (ssthresh 11 here: FlightSize 22 with limited transmit's two). On ACK 17 pipe has come
    // down to ssthresh: from there the reduction bound holds it there, one segment out per
    // segment delivered (ACKs 18, 19).
    expect(sends).toEqual([
      [31], [32], [11], [], [33], [], [34], [], [35], [], [36], [], [37], [], [38], [], [], [39], [40],
    ]);
    expect(t.conn.recovery.pipe()).toBe(11 * MSS);
    // RFC 6675 §5 (cwnd = ssthresh at once) sent nothing on ACKs 4-11 (pipe above ssthresh), then one per ACK.
    // The retransmission arrives: everything up to 33 (31, 32 too); RecoveryPoint was 33 -> recovery ends.
    ackWith(t, 33, sb(t, [33, 34]));
    expect(t.conn.recovery.inRecovery).toBe(false);
    // Recovery ends with cwnd = ssthresh (Linux's tcp_end_cwnd_reduction, RFC 6937 §3.1).
    expect(t.conn.stats.cwnd).toBe(11 * MSS);
    expect(t.layer.stats().RetransSegs).toBe(1);
  });

  it('below ssthresh: one segment per segment delivered (conservative bound); a safe ACK (SND.UNA advanced, no new loss) adds 1 SMSS (slow-start bound)', () => {
    const t = twentyInFlight();
    // 11..22 lost (12 segments), 23..30 arrive: pipe falls well below ssthresh.
    ackWith(t, 11, sb(t, [23, 24]));
    ackWith(t, 11, sb(t, [23, 25]));
    expect(sentSegs(t)).toEqual([31, 32]); // limited transmit
    ackWith(t, 11, sb(t, [23, 26]));
    expect(sentSegs(t)).toEqual([11]);
    expect(t.conn.stats.ssthresh).toBe(11 * MSS);
    // Each further SACK delivers one segment and SND.UNA does not move: packet conservation,
    // one lost segment resent per segment delivered (RFC 6675 §5 with cwnd = ssthresh at once
    // resent ssthresh - pipe, four segments, on the first of these ACKs).
    for (let k = 27; k <= 31; k++) {
      ackWith(t, 11, sb(t, [23, k]));
      expect(sentSegs(t)).toEqual([k - 15]);
    }
    expect(t.conn.recovery.pipe()).toBeLessThan(11 * MSS);
    // The retransmitted 11 arrives: SND.UNA moves by one segment, nothing newly lost: the
    // slow-start reduction bound sends DeliveredData + 1 SMSS = 2 segments.
    ackWith(t, 12, sb(t, [23, 31]));
    expect(sentSegs(t)).toEqual([17, 18]);
    expect(t.conn.recovery.pipe()).toBeLessThanOrEqual(11 * MSS);
  });
});
