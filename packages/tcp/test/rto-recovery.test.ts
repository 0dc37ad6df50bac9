/**
 * After a retransmission timeout, in virtual time: what the sender does in the loss state that
 * follows (Linux's TCP_CA_Loss, RFC 8985's "RTO recovery") while go-back-N resends what the
 * peer has not SACKed.
 *
 *  - RACK keeps marking losses on every ACK (RFC 8985 §6.2, with reo_wnd 0 in RTO recovery,
 *    §6.2 step 4): a retransmission sent since the timeout and lost again is resent at once by
 *    a recovery (Linux: FLAG_LOST_RETRANS in TCP_CA_Loss falls through to tcp_enter_recovery),
 *    not left to a second, backed-off timeout;
 *  - a timeout whose data had all arrived (the ACKs were lost) is undone when an ACK echoes a
 *    timestamp from before the first retransmission (RFC 3522 Eifel detection; Linux's
 *    tcp_try_undo_loss with tcp_packet_delayed), restoring the window from before it.
 */
import { describe, expect, it } from 'vitest';
import { ACK, SYN } from '../src/index.js';
import type { SackBlock, TcpRepr } from '../src/index.js';
import { REMOTE_ISS, synSent } from './harness.js';
import type { Ctx } from './harness.js';

const R = REMOTE_ISS + 1;
const MSS = 1448; // 1460 less the timestamp option
const big = (n: number) => new Uint8Array(n).fill(0x61);
const S = (t: Ctx, k: number) => (t.iss + 1 + (k - 1) * MSS) >>> 0;
const num = (t: Ctx, s: TcpRepr) => ((s.seq - t.iss - 1) >>> 0) / MSS + 1;

/** ESTABLISHED with SACK and timestamps, SRTT 40 ms (RTO 200 ms), NewReno (exact RFC 5681 arithmetic). */
function est() {
  const t = synSent({ congestionControl: 'newreno', timestamps: true });
  let peerTs = 5000;
  t.step(40);
  t.send({ seq: REMOTE_ISS, ack: t.iss + 1, flags: SYN | ACK, window: 65535, options: { mss: 1460, sackPermitted: true, timestamp: { tsVal: peerTs, tsEcr: t.synTsVal } } });
  t.recv({ flags: ACK, seq: t.iss + 1, ack: R });
  expect([t.conn.tsOk, t.conn.sackOk, t.conn.sndMss, t.conn.rto]).toEqual([true, true, MSS, 200]);
  /** Our TSval on the last transmission of each segment number. */
  const ts = new Map<number, number>();
  const segs = (): number[] => {
    const out = t.drain().filter((s) => s.payload.length > 0);
    for (const s of out) ts.set(num(t, s), s.options.timestamp!.tsVal);
    return out.map((s) => num(t, s));
  };
  /** At `at`, the peer's ACK of everything below segment k, echoing `echo`, with SACK blocks of segment ranges [a, b). */
  const ack = (at: number, k: number, echo: number, ranges: [number, number][] = []) => {
    t.advance(at);
    const blocks: SackBlock[] = ranges.map(([a, b]) => ({ left: S(t, a), right: S(t, b) }));
    t.send({ seq: R, ack: S(t, k), flags: ACK, options: { timestamp: { tsVal: ++peerTs, tsEcr: echo }, ...(blocks.length > 0 ? { sackBlocks: blocks } : {}) } });
  };
  return { t, segs, ack, ts };
}

describe('RACK in the loss state after a timeout (RFC 8985 §6.2; Linux tcp_fastretrans_alert in TCP_CA_Loss)', () => {
  // Regression test (fails on the old code): in the loss state RACK marked the lost
  // retransmission but nothing resent it (go-back-N had passed it, and rackDetect returned
  // while SND.UNA was below "recover"); it also counted against cwnd as in flight. The
  // reordering window was min_RTT/4 there, not 0. Only a second timeout, backed off to 400 ms,
  // resent 3: here at T + 760.
  it('a retransmission sent after the timeout and lost again is resent on the next ACK, without a second timeout', () => {
    const { t, segs, ack, ts } = est();
    const T = t.now;
    t.write(big(10 * MSS));
    expect(segs()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    ack(T + 40, 2, ts.get(1)!); // 1 arrives; 2..10 are lost
    t.advance(T + 120); // the probe (RFC 8985 §7.3: PTO 2 SRTT), lost too
    expect(segs()).toEqual([10]);
    t.advance(T + 320); // RTO armed after the probe (T + 120 + 200)
    expect(segs()).toEqual([2]);
    expect(t.conn.retries).toBe(1);
    expect(t.conn.stats.cwnd).toBe(MSS);
    // The retransmission of 2 fills the hole: the peer echoes its timestamp (no undo).
    ack(T + 360, 3, ts.get(2)!);
    expect(t.conn.recovery.inLossState()).toBe(true);
    expect(segs()).toEqual([3, 4]); // slow start: cwnd 2
    // 3 is lost again, 4 arrives: 4 was sent after 3 and is delivered, 3 has been out RACK.rtt
    // (40 ms) with reo_wnd 0 (RTO recovery, no reordering seen): lost now, resent now.
    ack(T + 400, 3, ts.get(2)!, [[4, 5]]);
    expect(t.conn.rack!.reoWnd).toBe(0);
    const now = segs();
    expect(now[0]).toBe(3);
    expect(t.now).toBe(T + 400);
    const st = t.layer.stats();
    expect([st.RtoLostRetransmits, st.RetransTimeouts, st.FastRetransmits]).toEqual([1, 1, 1]);
    expect(t.conn.recovery.inRecovery).toBe(true);
    expect(t.conn.recovery.recover).toBe(S(t, 11));
    // The reduction is from the window in use (cwnd 2, one unSACKed segment resent): ssthresh at
    // its floor of 2 SMSS (RFC 5681 eq. 4), not from SND.MAX - SND.UNA.
    expect(t.conn.stats.ssthresh).toBe(2 * MSS);
    // From here every segment arrives: the recovery resends the rest (5..10, lost by the
    // timeout's verdict) and ends, with no further timeout.
    const have = new Set([1, 2, 4, ...now]);
    let at = T + 400;
    for (let i = 0; i < 20 && t.conn.bytesInFlight > 0; i++) {
      at += 40;
      let k = 1;
      while (have.has(k)) k++;
      const top = Math.max(...have);
      const ranges: [number, number][] = [];
      for (let a = k + 1; a <= top; a++) {
        if (!have.has(a)) continue;
        let b = a;
        while (have.has(b + 1)) b++;
        ranges.push([a, b + 1]);
        a = b;
      }
      ack(at, k, ts.get(k - 1)!, ranges.reverse().slice(0, 3));
      for (const s of segs()) have.add(s);
    }
    expect(t.conn.bytesInFlight).toBe(0);
    expect(t.layer.stats().RetransTimeouts).toBe(1);
    expect(t.conn.recovery.inRecovery).toBe(false);
    expect(t.layer.pollAt()).toBe(Infinity);
  });
});

describe('a spurious timeout undone (RFC 3522 Eifel detection; Linux tcp_try_undo_loss)', () => {
  /** 1..10 acknowledged, then 11..20 sent and all delivered, every ACK of them lost; the probe and the RTO follow. */
  function spurious(lostOriginal: boolean) {
    const { t, segs, ack, ts } = est();
    const T = t.now;
    t.write(big(20 * MSS));
    expect(segs()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    ack(T + 40, 11, ts.get(10)!);
    expect(segs()).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
    const before = { cwnd: t.conn.stats.cwnd, ssthresh: t.conn.stats.ssthresh };
    const echo20 = ts.get(20)!;
    t.advance(T + 120); // the probe: the last segment again
    expect(segs()).toEqual([20]);
    t.advance(T + 320); // the RTO
    expect(segs()).toEqual([11]);
    expect(t.conn.stats.cwnd).toBe(MSS);
    // The peer's ACK of everything. With all of 11..20 delivered before, the retransmission was
    // a duplicate: the peer's TS.Recent is still 20's (RFC 7323 §5.3: an out-of-window segment
    // is rejected before R3 records its timestamp) and it D-SACKs 11. When 11's original was
    // lost instead, the retransmission filled the hole and the peer echoes its timestamp.
    ack(T + 360, 21, lostOriginal ? ts.get(11)! : echo20, lostOriginal ? [] : [[11, 12]]);
    return { t, segs, before };
  }

  // Regression test (fails on the old code): the timeout was never undone; the connection
  // restarted from the loss window of one segment with ssthresh halved (RFC 5681 eq. 4), here
  // 2 segments of new data where the window before the timeout allowed 11.
  it('the ACK echoes a timestamp from before the retransmission: the window from before the timeout is restored', () => {
    const { t, segs, before } = spurious(false);
    expect(t.layer.stats().LossUndos).toBe(1);
    expect(t.conn.recovery.inLossState()).toBe(false);
    expect(t.conn.stats.ssthresh).toBe(before.ssthresh);
    expect(t.conn.stats.cwnd).toBeGreaterThanOrEqual(before.cwnd);
    t.write(big(20 * MSS));
    expect(segs().length).toBeGreaterThanOrEqual(before.cwnd / MSS);
  });

  it('the ACK echoes the retransmission (its original was lost): no undo, the loss window stands', () => {
    const { t, segs } = spurious(true);
    expect(t.layer.stats().LossUndos).toBe(0);
    expect(t.conn.stats.cwnd).toBe(2 * MSS); // RFC 5681 eq. 2 after the loss window
    expect(t.conn.stats.ssthresh).toBe(5 * MSS); // RFC 5681 eq. 4: FlightSize (11..20) / 2
    t.write(big(20 * MSS));
    expect(segs()).toEqual([21, 22]);
  });
});

describe('a spurious timeout undone without timestamps (RFC 5682 F-RTO, SACK-enhanced §3.1; Linux tcp_process_loss)', () => {
  const MSS0 = 1460; // no timestamp option
  const S0 = (t: Ctx, k: number) => (t.iss + 1 + (k - 1) * MSS0) >>> 0;
  /**
   * ESTABLISHED with SACK, timestamps off, SRTT 40 ms (RTO 200 ms), NewReno. 1..10 acknowledged,
   * 11..21 sent (cwnd 11: one ACK, one SMSS more); their ACKs are held up (a delay spike) or the
   * segments lost: the probe (new data, 22: RFC 8985 §7.3) and the RTO (11 again) follow, cwnd 1 SMSS.
   */
  function timeout() {
    const t = synSent({ congestionControl: 'newreno', timestamps: false });
    t.step(40);
    t.send({ seq: REMOTE_ISS, ack: t.iss + 1, flags: SYN | ACK, window: 65535, options: { mss: 1460, sackPermitted: true } });
    t.recv({ flags: ACK, seq: t.iss + 1, ack: R });
    expect([t.conn.tsOk, t.conn.sackOk, t.conn.sndMss, t.conn.rto]).toEqual([false, true, MSS0, 200]);
    const segs = (): number[] => t.drain().filter((s) => s.payload.length > 0).map((s) => ((s.seq - t.iss - 1) >>> 0) / MSS0 + 1);
    const ack = (at: number, k: number, ranges: [number, number][] = []) => {
      t.advance(at);
      const blocks: SackBlock[] = ranges.map(([a, b]) => ({ left: S0(t, a), right: S0(t, b) }));
      t.send({ seq: R, ack: S0(t, k), flags: ACK, options: blocks.length > 0 ? { sackBlocks: blocks } : {} });
    };
    const T = t.now;
    t.write(big(40 * MSS0));
    expect(segs()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    ack(T + 40, 11);
    expect(segs()).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]);
    const before = { cwnd: t.conn.stats.cwnd, ssthresh: t.conn.stats.ssthresh };
    t.advance(T + 120); // the probe
    expect(segs()).toEqual([22]);
    t.advance(T + 320); // the RTO
    expect(segs()).toEqual([11]);
    expect([t.conn.stats.cwnd, t.conn.recovery.frto]).toEqual([MSS0, 1]);
    return { t, segs, ack, before, T };
  }

  // Regression test (fails on the old code, which has no F-RTO: without timestamps nothing
  // could show the timeout spurious; it went on resending 12, 13, ... that had all arrived,
  // from a window of one segment and ssthresh halved).
  it('the delayed ACKs of the originals arrive: step 2b sends new data (23, 24), the next ACK acknowledges an original: undone', () => {
    const { t, segs, ack, before, T } = timeout();
    ack(T + 330, 12); // 11's: ambiguous (original or retransmission)
    expect(segs()).toEqual([23, 24]); // step 2b: new data instead of 12, 13
    expect(t.conn.recovery.frto).toBe(2);
    ack(T + 331, 13); // 12 was never resent: its original was in flight when the timer fired
    const st = t.layer.stats();
    expect([st.SpuriousRtos, st.LossUndos, st.RetransTimeouts]).toEqual([1, 1, 1]);
    expect(t.conn.recovery.inLossState()).toBe(false);
    expect(t.conn.stats.ssthresh).toBe(before.ssthresh);
    expect(t.conn.stats.cwnd).toBeGreaterThanOrEqual(before.cwnd);
    // Go-back-N stopped: what follows is new data, not 13..22 again, as the restored window
    // allows (full now: 13..24 are in flight).
    expect(segs()).toEqual([]);
    ack(T + 340, 20);
    const next = segs();
    expect(next[0]).toBe(25);
    expect(next.length).toBeGreaterThanOrEqual(4);
  });

  it('the first ACK after the timeout already acknowledges originals (a stretch ACK past the resent segment): undone at once (step 2)', () => {
    const { t, segs, ack, before, T } = timeout();
    ack(T + 330, 15);
    expect([t.layer.stats().SpuriousRtos, t.layer.stats().LossUndos]).toEqual([1, 1]);
    expect(t.conn.stats.ssthresh).toBe(before.ssthresh);
    expect(segs()[0]).toBe(23);
  });

  it('11..22 were lost: the ACK after step 2b SACKs only the new data: the loss is real (step 3a), go-back-N resumes, nothing undone', () => {
    const { t, segs, ack, T } = timeout();
    ack(T + 360, 12); // the retransmission of 11 arrived
    expect(segs()).toEqual([23, 24]);
    ack(T + 400, 12, [[23, 25]]); // 12..22 missing: only the new data is SACKed
    const st = t.layer.stats();
    expect([st.SpuriousRtos, st.LossUndos]).toEqual([0, 0]);
    expect(t.conn.recovery.frto).toBe(0);
    expect(t.conn.stats.ssthresh).toBe(6 * MSS0); // RFC 5681 eq. 4 (FlightSize 11..22) from the timeout from the timeout stands
    expect(segs().slice(0, 2)).toEqual([12, 13]);
  });

  it('with timestamps on, F-RTO does not run (Eifel detection judges the timeout)', () => {
    const { t } = est();
    t.write(big(4 * MSS));
    t.drain();
    const T = t.now;
    for (let at = T + 50; at <= T + 1000; at += 50) t.advance(at);
    expect(t.layer.stats().RetransTimeouts).toBeGreaterThan(0);
    expect(t.conn.recovery.frto).toBe(0);
  });
});
