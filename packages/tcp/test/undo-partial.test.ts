/**
 * Undo on a partial ACK (Linux's tcp_try_undo_partial; RFC 3522 Eifel detection with
 * timestamps, RFC 9438 §4.9 for the undo), in virtual time. RACK (RFC 8985) resends a segment
 * the network only delayed; the hole is then filled by the delayed original, which the ACK
 * shows by echoing a timestamp from before the first retransmission.
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
const sb = (t: Ctx, ...r: [number, number][]): SackBlock[] => r.map(([a, b]) => ({ left: S(t, a), right: S(t, b) }));

/** ESTABLISHED with SACK and timestamps, SRTT 40 ms; the peer's TS clock is `peerTs`. */
function est(): { t: Ctx; ack: (at: number, k: number, echo: number, blocks?: SackBlock[]) => void; segs: () => TcpRepr[] } {
  const t = synSent({ congestionControl: 'newreno', timestamps: true });
  let peerTs = 5000;
  t.step(40);
  t.send({ seq: REMOTE_ISS, ack: t.iss + 1, flags: SYN | ACK, window: 65535, options: { mss: 1460, sackPermitted: true, timestamp: { tsVal: peerTs, tsEcr: t.synTsVal } } });
  t.recv({ flags: ACK, seq: t.iss + 1, ack: R });
  expect(t.conn.state).toBe('ESTABLISHED');
  expect([t.conn.tsOk, t.conn.sackOk, t.conn.sndMss]).toEqual([true, true, MSS]);
  const ack = (at: number, k: number, echo: number, blocks: SackBlock[] = []) => {
    t.advance(at);
    t.send({ seq: R, ack: S(t, k), flags: ACK, options: { timestamp: { tsVal: ++peerTs, tsEcr: echo }, ...(blocks.length > 0 ? { sackBlocks: blocks } : {}) } });
  };
  const segs = () => t.drain().filter((s) => s.payload.length > 0);
  return { t, ack, segs };
}
const num = (t: Ctx, s: TcpRepr) => ((s.seq - t.iss - 1) >>> 0) / MSS + 1;

describe('undo on a partial ACK (Linux tcp_try_undo_partial, RFC 3522)', () => {
  it('the hole filled by the delayed original, no retransmission outstanding: the reduction is undone at once', () => {
    const { t, ack, segs } = est();
    const T = t.now;
    t.write(big(10 * MSS));
    const first = segs();
    expect(first.map((s) => num(t, s))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const tsOf = (k: number) => first[k - 1]!.options.timestamp!.tsVal;
    ack(T + 40, 3, tsOf(2));
    const before = { cwnd: t.conn.stats.cwnd, ssthresh: t.conn.stats.ssthresh };
    // 3 is overtaken by 4..7: RACK resends it (DupThresh segments SACKed, no reordering seen yet).
    ack(T + 41, 3, tsOf(2), sb(t, [4, 8]));
    expect(segs().map((s) => num(t, s))).toEqual([3]);
    expect(t.conn.recovery.inRecovery).toBe(true);
    expect(t.conn.stats.ssthresh).toBeLessThan(before.cwnd);
    // The original 3 arrives (before the retransmission): SND.UNA to 8, below RecoveryPoint (11),
    // echoing 3's first TSval (RFC 7323 §4.3: the segment that filled the hole), which is older
    // than the retransmission's. The retransmission of 3 lies below SND.UNA now: none outstanding.
    ack(T + 43, 8, tsOf(3));
    expect(t.conn.recovery.inRecovery).toBe(false);
    expect(t.conn.stats.cwnd).toBeGreaterThanOrEqual(before.cwnd);
    expect(t.conn.stats.ssthresh).toBe(before.ssthresh);
    const st = t.layer.stats();
    expect([st.PartialUndos, st.SpuriousRecoveries]).toEqual([1, 1]);
    expect(t.conn.rack!.reorderingSeen).toBe(true);
  });

  it('retransmissions still outstanding: that ACK marks and resends nothing more (new data only)', () => {
    const { t, ack, segs } = est();
    const T = t.now;
    t.write(big(20 * MSS));
    const first = segs();
    expect(first.map((s) => num(t, s))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const tsOf = (k: number) => first[k - 1]!.options.timestamp!.tsVal;
    ack(T + 40, 2, tsOf(1));
    segs();
    // 2 and 3 overtaken by 4..8: RACK marks both lost; PRR resends 2 at once, 3 on the next ACK.
    ack(T + 41, 2, tsOf(1), sb(t, [4, 9]));
    expect(segs().map((s) => num(t, s))).toEqual([2]);
    ack(T + 42, 2, tsOf(1), sb(t, [4, 10]));
    expect(segs().map((s) => num(t, s))).toEqual([3]);
    // 10 arrives: new data 13 (11 and 12 left at T + 40, when the ACK of 1 opened the window).
    ack(T + 43, 2, tsOf(1), sb(t, [4, 11]));
    expect(segs().map((s) => num(t, s))).toEqual([13]);
    // The original 2 arrives, and 13: SND.UNA to 3, echoing 2's first TSval (older than the
    // retransmissions); 3's retransmission is still out. RACK would now mark 11 and 12 lost (sent
    // before 13, which is delivered, more than RTT + reo_wnd ago) and resend them; Linux's rule
    // (and ours): on this ACK mark and resend nothing more, only new data as PRR allows.
    ack(T + 90, 3, tsOf(2), sb(t, [13, 14], [4, 11]));
    const sent = segs().map((s) => num(t, s));
    expect(sent.every((k) => k > 13)).toBe(true);
    expect(t.conn.rack!.lostBytes).toBe(0);
    expect(t.conn.recovery.holdRetransmits).toBe(false); // for that ACK only
    expect(t.layer.stats().PartialUndoHolds).toBe(1);
    expect(t.conn.recovery.inRecovery).toBe(true);
    expect(t.conn.rack!.reorderingSeen).toBe(true);
  });

  it('after the undo, a new loss below the old RecoveryPoint starts a recovery at once (no wait for the timeout)', () => {
    // bench --impaired (c) down: a partial undo left SND.UNA below "recover"; the next hole was
    // marked lost by RACK but no recovery could begin until SND.UNA passed "recover", which the
    // hole itself prevented: the retransmission timeout resent it 160-190 ms later.
    const { t, ack, segs } = est();
    const T = t.now;
    t.write(big(30 * MSS));
    const first = segs();
    expect(first.map((s) => num(t, s))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const tsOf = (k: number) => first[k - 1]!.options.timestamp!.tsVal;
    ack(T + 40, 3, tsOf(2));
    segs();
    ack(T + 41, 3, tsOf(2), sb(t, [4, 8]));
    expect(segs().map((s) => num(t, s))).toContain(3);
    const recoveryPoint = t.conn.recovery.recover;
    // The delayed original 3 fills the hole: undone (as the first test), SND.UNA 8 < RecoveryPoint.
    ack(T + 43, 8, tsOf(3));
    expect(t.conn.recovery.inRecovery).toBe(false);
    expect(t.layer.stats().PartialUndos).toBe(1);
    expect((recoveryPoint - S(t, 8)) | 0).toBeGreaterThan(0);
    segs();
    // 8 is lost: 9 and 10 (sent after it) arrive. RACK marks 8 lost once RACK.rtt + reo_wnd
    // has passed since it left (its timer); the recovery must begin then and resend 8.
    ack(T + 44, 8, tsOf(3), sb(t, [9, 11]));
    const rto = t.conn.stats.rto;
    t.advance(T + 80);
    expect(t.conn.recovery.inRecovery).toBe(true);
    expect(segs().map((s) => num(t, s))).toContain(8);
    expect(t.layer.stats().RetransTimeouts).toBe(0);
    expect(80 - 44).toBeLessThan(rto);
  });
});
