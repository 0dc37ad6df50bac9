/**
 * RACK-TLP (RFC 8985): the Rack class alone (the sent log, RACK's state, the reordering
 * window, TLP bookkeeping, D-SACK undo), then protocol traces of a connection in virtual
 * time. The RFC 6675 DupThresh traces (rack: false) are in sack-send.test.ts.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ACK, SYN, seqDiff, seqLe, seqLt } from '../src/index.js';
import type { CongestionControlName, SackBlock, TcpLayerOptions, TcpOptions } from '../src/index.js';
import { Rack, SL_LOST, SL_MIXED, SL_RETRANS, SL_SACKED } from '../src/rack.js';
import { REMOTE_ISS, synSent } from './harness.js';
import type { Ctx } from './harness.js';

// ====================================================================== the Rack class

/** Sequence numbers near the 2^32 wrap, so every comparison must be modular. */
const BASE = 0xffff_f000;
const q = (k: number) => (BASE + k) >>> 0;
const NO_TS = Infinity; // echoTime without timestamps: RFC 8985 §6.2 step 2's TSecr check is skipped

/** The log as [start, end, ts, flags] with offsets from BASE, after checking its invariants. */
function recs(r: Rack): [number, number, number, number][] {
  check(r);
  return r.records().map(([s, e, ts, f]) => [seqDiff(s, BASE), seqDiff(e, BASE), ts, f]);
}

/** Records ascend and are disjoint and non-empty; lostBytes is exactly the bytes of the records marked lost. */
function check(r: Rack): void {
  const all = r.records();
  let lost = 0;
  const fail = (m: string) => { throw new Error(`sent log: ${m}: ${JSON.stringify(all)} lostBytes ${r.lostBytes}`); };
  for (let i = 0; i < all.length; i++) {
    const [s, e, , f] = all[i]!;
    if (!seqLt(s, e)) fail(`record ${i} empty`);
    if (i > 0 && !seqLe(all[i - 1]![1], s)) fail(`record ${i} not above record ${i - 1}`);
    if ((f & SL_LOST) !== 0 && (f & SL_SACKED) !== 0) fail(`record ${i} lost and SACKed at once`);
    if (f & SL_LOST) lost += seqDiff(e, s);
  }
  if (all.length > r.maxRecords) fail('more records than maxRecords');
  if (r.lostBytes !== lost) fail(`lostBytes is not the ${lost} bytes of the records marked lost`);
}

const sack = (...r: [number, number][]): SackBlock[] => r.map(([a, b]) => ({ left: q(a), right: q(b) }));

describe('Rack: the sent log (RFC 8985 §6.1)', () => {
  it('appends; records merge only when sent in the same instant right after each other', () => {
    const r = new Rack(64);
    r.onSent(q(0), q(1000), 5, q(0));
    r.onSent(q(1000), q(2000), 5, q(1000)); // same instant, next transmission: one record
    expect(recs(r)).toEqual([[0, 2000, 5, 0]]);
    r.onSent(q(2000), q(3000), 6, q(2000)); // a later instant: a new record
    expect(recs(r)).toEqual([[0, 2000, 5, 0], [2000, 3000, 6, 0]]);
    // In the same instant, a retransmission comes between two runs of new data: the new
    // data after it is not "right after" the earlier run, so it is a record of its own
    // (RACK_sent_after must see the retransmission as sent between them).
    r.onSent(q(0), q(500), 6, q(3000));
    r.onSent(q(3000), q(4000), 6, q(3000));
    expect(recs(r)).toEqual([[0, 500, 6, SL_RETRANS], [500, 2000, 5, 0], [2000, 3000, 6, 0], [3000, 4000, 6, 0]]);
    expect(r.length).toBe(4);
    // One transmission that straddles SND.MAX: the old part is a retransmission, the rest new data.
    r.onSent(q(3500), q(5000), 7, q(4000));
    expect(recs(r)).toEqual([[0, 500, 6, SL_RETRANS], [500, 2000, 5, 0], [2000, 3000, 6, 0], [3000, 3500, 6, 0], [3500, 4000, 7, SL_RETRANS], [4000, 5000, 7, 0]]);
  });

  it('splits records at SACK block edges and at the edges of a retransmission', () => {
    const r = new Rack(64);
    r.onSent(q(0), q(10_000), 1, q(0)); // one super-segment: one record
    expect(recs(r)).toEqual([[0, 10_000, 1, 0]]);
    r.onAck(q(0), sack([3000, 6000]), 21, NO_TS);
    expect(recs(r)).toEqual([[0, 3000, 1, 0], [3000, 6000, 1, SL_SACKED], [6000, 10_000, 1, 0]]);
    expect([seqDiff(r.fack, BASE), seqDiff(r.endSeq, BASE), r.xmitTs, r.rtt]).toEqual([6000, 6000, 1, 20]);
    r.onSent(q(1000), q(2000), 30, q(10_000));
    expect(recs(r)).toEqual([[0, 1000, 1, 0], [1000, 2000, 30, SL_RETRANS], [2000, 3000, 1, 0], [3000, 6000, 1, SL_SACKED], [6000, 10_000, 1, 0]]);
    // A cumulative ACK inside a record trims it; records wholly below it leave.
    r.onAck(q(2500), undefined, 40, NO_TS);
    expect(recs(r)).toEqual([[2500, 3000, 1, 0], [3000, 6000, 1, SL_SACKED], [6000, 10_000, 1, 0]]);
    r.onAck(q(10_000), undefined, 41, NO_TS);
    expect(recs(r)).toEqual([]);
  });

  it('D-SACK blocks (below the cumulative ACK) and empty blocks change nothing', () => {
    const r = new Rack(64);
    r.onSent(q(0), q(4000), 1, q(0));
    r.onAck(q(1000), [{ left: q(0), right: q(1000) }, { left: q(2000), right: q(2000) }], 10, NO_TS);
    expect(recs(r)).toEqual([[1000, 4000, 1, 0]]);
  });
});

describe('Rack: loss detection (RFC 8985 §6.2 step 5, §6.3)', () => {
  /** Four 1000-byte records sent at t = 0, 1, 2, 3. */
  function four(): Rack {
    const r = new Rack(64);
    for (let k = 0; k < 4; k++) r.onSent(q(k * 1000), q(k * 1000 + 1000), k, q(k * 1000));
    return r;
  }

  it('marks exactly the records sent before the most recently delivered one, once RACK.rtt + reo_wnd has passed', () => {
    const r = four();
    // The third record is SACKed at t = 50: RACK.xmit_ts = 2, RACK.rtt = 48.
    r.onAck(q(0), sack([2000, 3000]), 50, NO_TS);
    expect([r.xmitTs, r.rtt]).toEqual([2, 48]);
    // reo_wnd 5: the first record is lost at 0 + 48 + 5 = 53, the second at 54; the fourth
    // was sent after the delivered one and is never marked by it.
    expect(r.detectLoss(50, 5)).toBe(4); // the reordering timer: the later of the two deadlines
    expect(r.newlyLost).toBe(0);
    expect(r.detectLoss(52.5, 5)).toBe(1.5);
    expect(r.detectLoss(53, 5)).toBe(1); // remaining <= 0: lost
    expect(r.newlyLost).toBe(1000);
    expect(recs(r).map((x) => x[3])).toEqual([SL_LOST, 0, SL_SACKED, 0]);
    expect(r.detectLoss(54, 5)).toBe(0); // nothing left to wait for
    expect(r.newlyLost).toBe(1000);
    expect(r.lostBytes).toBe(2000);
    expect(recs(r).map((x) => x[3])).toEqual([SL_LOST, SL_LOST, SL_SACKED, 0]);
    // Much later: the fourth record still is not lost (nothing sent after it was delivered).
    expect(r.detectLoss(10_000, 5)).toBe(0);
    expect(r.newlyLost).toBe(0);
    expect(r.firstLost()).toBe(q(0));
    expect(r.lostEnd).toBe(q(1000));
  });

  it('nothing is lost before anything was delivered', () => {
    const r = four();
    expect(r.detectLoss(1e6, 0)).toBe(0);
    expect(r.lostBytes).toBe(0);
    expect(r.firstLost()).toBe(-1);
  });

  it('lostBytes: retransmission, SACK and cumulative ACK of lost ranges all take them off', () => {
    const r = four();
    r.onAck(q(0), sack([3000, 4000]), 60, NO_TS);
    r.detectLoss(60, 0);
    expect(r.lostBytes).toBe(3000);
    // Retransmit half of the first record: split, only that half stops being lost.
    r.onSent(q(0), q(500), 61, q(4000));
    expect(recs(r)).toEqual([[0, 500, 61, SL_RETRANS], [500, 1000, 0, SL_LOST], [1000, 2000, 1, SL_LOST], [2000, 3000, 2, SL_LOST], [3000, 4000, 3, SL_SACKED]]);
    expect(r.lostBytes).toBe(2500);
    // A late SACK of the third record: no longer lost.
    r.onAck(q(0), sack([2000, 4000]), 62, NO_TS);
    expect(r.lostBytes).toBe(1500);
    // A cumulative ACK into the middle of the second record.
    r.onAck(q(1500), sack([2000, 4000]), 63, NO_TS);
    expect(recs(r)).toEqual([[1500, 2000, 1, SL_LOST], [2000, 3000, 2, SL_SACKED], [3000, 4000, 3, SL_SACKED]]);
    expect(r.lostBytes).toBe(500);
    // unmarkLost (the caller found nothing left to resend there).
    r.unmarkLost(q(1700));
    expect(r.lostBytes).toBe(0);
    check(r);
  });

  it('a lost retransmission is detected like any segment: by a later-sent one being delivered', () => {
    const r = four();
    r.onAck(q(0), sack([1000, 2000]), 40, NO_TS);
    r.detectLoss(40, 0);
    expect(r.lostBytes).toBe(1000);
    r.onSent(q(0), q(1000), 41, q(4000)); // the retransmission
    r.onSent(q(4000), q(5000), 42, q(4000)); // new data after it
    expect(r.lostBytes).toBe(0);
    r.onAck(q(0), sack([1000, 2000], [4000, 5000]), 82, NO_TS); // the new data arrives; the retransmission does not
    expect([r.xmitTs, r.rtt]).toEqual([42, 40]);
    // Records 2 and 3 (sent at 2 and 3) are lost too; the retransmission at 41 + 40 = 81 <= 82.
    expect(r.detectLoss(82, 0)).toBe(0);
    expect(recs(r).map((x) => x[3])).toEqual([SL_RETRANS | SL_LOST, SL_SACKED, SL_LOST, SL_LOST, SL_SACKED]);
  });

  it('an ambiguous ACK of a retransmission does not move RACK.xmit_ts (§6.2 step 2)', () => {
    const r = four();
    r.onRttSample(30);
    r.onAck(q(0), sack([1000, 2000]), 40, NO_TS);
    r.detectLoss(40, 0);
    r.onSent(q(0), q(1000), 41, q(4000));
    // 5 ms after the retransmission (< min_RTT): the ACK is for the original.
    r.onAck(q(1000), undefined, 46, NO_TS);
    expect(r.xmitTs).toBe(1);
    // With timestamps: an ACK whose echoed send time (10) is older than the retransmission
    // (41) is for the original; one echoing the retransmission's time is not ambiguous.
    const r2 = four();
    r2.onRttSample(30);
    r2.onAck(q(0), sack([3000, 4000]), 40, NO_TS);
    r2.detectLoss(40, 0);
    r2.onSent(q(0), q(1000), 41, q(4000));
    r2.onSent(q(1000), q(2000), 41, q(4000));
    r2.onAck(q(1000), sack([3000, 4000]), 100, 10);
    expect(r2.xmitTs).toBe(3);
    r2.onAck(q(2000), sack([3000, 4000]), 101, 41);
    expect([r2.xmitTs, r2.rtt]).toEqual([41, 60]);
  });
});

describe('Rack: the reordering window (RFC 8985 §6.2 step 4)', () => {
  it('is 0 before reordering is seen in recovery or with DupThresh segments SACKed, else min(mult * min_RTT / 4, SRTT)', () => {
    const r = new Rack(8);
    expect(r.reorderWindow(false, 0, 40, q(0))).toBe(10); // no RTT sample yet: min_RTT is SRTT
    r.onRttSample(24);
    r.onRttSample(20);
    r.onRttSample(30);
    expect(r.minRtt).toBe(20);
    expect(r.reorderWindow(false, 2, 40, q(0))).toBe(5);
    expect(r.reorderWindow(true, 0, 40, q(0))).toBe(0);
    expect(r.reorderWindow(false, 3, 40, q(0))).toBe(0);
    r.reorderingSeen = true;
    expect(r.reorderWindow(true, 3, 40, q(0))).toBe(5);
    r.reoWndMult = 3;
    expect(r.reorderWindow(true, 9, 40, q(0))).toBe(15);
    r.reoWndMult = 10;
    expect(r.reorderWindow(false, 0, 40, q(0))).toBe(40); // capped by SRTT
  });

  it('reordering is seen when a never-retransmitted segment is delivered below RACK.fack (§6.2 step 3)', () => {
    const r = new Rack(8);
    for (let k = 0; k < 3; k++) r.onSent(q(k * 1000), q(k * 1000 + 1000), k, q(k * 1000));
    r.onAck(q(0), sack([2000, 3000]), 30, NO_TS);
    r.detectLoss(30, 0);
    r.onSent(q(0), q(1000), 31, q(3000)); // the first was marked lost and retransmitted
    r.onAck(q(1000), sack([2000, 3000]), 32, NO_TS); // a retransmitted segment below fack: not evidence
    expect(r.reorderingSeen).toBe(false);
    r.onAck(q(3000), undefined, 33, NO_TS); // the second, never retransmitted, below fack
    expect(r.reorderingSeen).toBe(true);
  });

  it('a D-SACK widens it by one step per round trip (round: until SND.UNA passes SND.NXT at the first D-SACK)', () => {
    const r = new Rack(8);
    r.onRttSample(20);
    r.reorderingSeen = true;
    r.onDsack(q(0), q(10_000));
    expect(r.reoWndMult).toBe(2);
    r.onDsack(q(5000), q(12_000)); // the same round
    expect(r.reoWndMult).toBe(2);
    expect(r.reorderWindow(false, 0, 100, q(9999))).toBe(10);
    r.onDsack(q(10_000), q(15_000)); // SND.UNA reached the round's end: a new round
    expect(r.reoWndMult).toBe(3);
    expect(r.reorderWindow(false, 0, 100, q(15_000))).toBe(15); // (this also closes the round)
    r.onDsack(q(15_000), q(16_000));
    expect(r.reoWndMult).toBe(4);
  });

  it('resets to one step after 16 recoveries without a D-SACK', () => {
    const r = new Rack(8);
    r.onDsack(q(0), q(1000));
    expect([r.reoWndMult, r.reoWndPersist]).toEqual([2, 16]);
    for (let i = 0; i < 10; i++) r.onRecoveryExit();
    expect(r.reoWndMult).toBe(2);
    r.onDsack(q(1000), q(2000)); // a D-SACK in a new round: 16 more
    expect([r.reoWndMult, r.reoWndPersist]).toEqual([3, 16]);
    for (let i = 0; i < 15; i++) r.onRecoveryExit();
    expect(r.reoWndMult).toBe(3);
    r.onRecoveryExit();
    expect([r.reoWndMult, r.reoWndPersist]).toEqual([1, 16]);
  });
});

describe('Rack: tail loss probe bookkeeping (RFC 8985 §7)', () => {
  it('PTO (§7.2): 2*SRTT, plus WCDelAckT with one segment in flight, at least 10 ms; 1 s without SRTT', () => {
    expect(Rack.pto(40, false, 200)).toBe(80);
    expect(Rack.pto(40, true, 200)).toBe(280);
    expect(Rack.pto(2, false, 200)).toBe(10);
    expect(Rack.pto(4.5, false, 200)).toBe(10);
    expect(Rack.pto(5, false, 200)).toBe(10);
    expect(Rack.pto(5.5, false, 200)).toBe(11);
    expect(Rack.pto(2, true, 200)).toBe(204);
    expect(Rack.pto(0, false, 200)).toBe(1000);
    expect(Rack.pto(0, true, 200)).toBe(1000);
  });

  it('TLP_process_ack (§7.4.2): new-data probe, D-SACK, ACK beyond the probe, ACK of the probe alone', () => {
    const r = new Rack(8);
    expect(r.tlpOnAck(q(5000), undefined, false)).toBe(false); // no probe outstanding
    // A probe of new data: delivered, nothing to respond to.
    r.onProbeSent(q(5000), false);
    expect(r.tlpOnAck(q(4000), undefined, false)).toBe(false);
    expect(r.tlpActive).toBe(true); // below TLP.end_seq: the episode goes on
    expect(r.tlpOnAck(q(5000), undefined, false)).toBe(false);
    expect(r.tlpActive).toBe(false);
    // A retransmission probe answered with a D-SACK: the original had arrived.
    r.onProbeSent(q(5000), true);
    expect([r.tlpActive, r.tlpIsRetrans, seqDiff(r.tlpEndSeq, BASE)]).toEqual([true, true, 5000]);
    expect(r.tlpOnAck(q(5000), { left: q(1000), right: q(2000) }, false)).toBe(false); // a D-SACK of other data: undecided
    expect(r.tlpActive).toBe(true);
    expect(r.tlpOnAck(q(5000), { left: q(4000), right: q(5000) }, false)).toBe(false); // the probe's
    expect(r.tlpActive).toBe(false);
    // A retransmission probe, then an ACK of exactly TLP.end_seq: undecided (the probe
    // or the original may have been delivered); an ACK beyond it: the probe repaired a loss.
    r.onProbeSent(q(5000), true);
    expect(r.tlpOnAck(q(5000), undefined, false)).toBe(false);
    expect(r.tlpActive).toBe(true);
    expect(r.tlpOnAck(q(6000), undefined, false)).toBe(true);
    expect(r.tlpActive).toBe(false);
    expect(r.tlpOnAck(q(7000), undefined, false)).toBe(false); // once
  });

  // Regression test (a bug found by these tests and fixed; was in rack.ts tlpOnAck): RFC 8985 §7.4.2 ends the episode on "a DupAck without any
  // SACK option" with TLP.end_seq = None and NO congestion response ("Case 2": the receiver,
  // lacking D-SACK, acknowledged the probe as a duplicate: the original was not lost). Only
  // the "ack > TLP.end_seq" branch invokes congestion control. tlpOnAck returns true here.
  it('TLP_process_ack: a duplicate ACK without SACK ends the episode without a congestion response', () => {
    const r = new Rack(8);
    r.onProbeSent(q(5000), true);
    expect(r.tlpOnAck(q(5000), undefined, true)).toBe(false);
    expect(r.tlpActive).toBe(false);
  });

  it('onRto forgets SACKed and lost marks (RFC 6675 §5.1), keeps the retransmitted mark, ends a probe and an undo episode', () => {
    const r = new Rack(8);
    for (let k = 0; k < 3; k++) r.onSent(q(k * 1000), q(k * 1000 + 1000), k, q(k * 1000));
    r.onAck(q(0), sack([2000, 3000]), 30, NO_TS);
    r.detectLoss(30, 0);
    r.undoBegin();
    r.onSent(q(0), q(500), 31, q(3000));
    r.onProbeSent(q(3000), true);
    expect(r.lostBytes).toBe(1500);
    r.onRto();
    expect(recs(r).map((x) => x[3])).toEqual([SL_RETRANS, 0, 0, 0]);
    expect([r.lostBytes, r.tlpActive, r.undoActive]).toEqual([0, false, false]);
  });
});

describe('Rack: undo of a spurious recovery (RFC 3708 with D-SACK)', () => {
  it('undoOnDsack is true only once every retransmitted byte has been D-SACKed; other D-SACKs count for nothing', () => {
    const r = new Rack(64);
    for (let k = 0; k < 5; k++) r.onSent(q(k * 1000), q(k * 1000 + 1000), k, q(k * 1000));
    expect(r.undoOnDsack(q(0), q(1000))).toBe(false); // no episode
    r.undoBegin();
    expect(r.undoAtRecoveryEnd(false)).toBe(true); // a recovery that retransmitted nothing
    r.undoBegin();
    r.onSent(q(1000), q(2000), 10, q(5000));
    r.onSent(q(3000), q(4000), 10, q(5000));
    expect(r.undoAtRecoveryEnd(false)).toBe(false);
    expect(r.undoActive).toBe(true);
    expect(r.undoOnDsack(q(4000), q(5000))).toBe(false); // never retransmitted (a network duplicate)
    expect(r.undoOnDsack(q(1000), q(2000))).toBe(false);
    expect(r.undoOnDsack(q(1000), q(2000))).toBe(false); // the same bytes again: credited once
    expect(r.undoOnDsack(q(3000), q(3400))).toBe(false); // in pieces
    expect(r.undoActive).toBe(true);
    expect(r.undoOnDsack(q(3400), q(4000))).toBe(true);
    expect(r.undoActive).toBe(false);
    expect(r.undoOnDsack(q(3000), q(4000))).toBe(false); // over
  });

  it('an episode with more retransmissions than it can track cannot be undone', () => {
    const r = new Rack(64);
    r.onSent(q(0), q(100_000), 0, q(0));
    r.undoBegin();
    for (let k = 0; k < 33; k++) r.onSent(q(k * 100), q(k * 100 + 100), 1, q(100_000));
    expect(r.undoActive).toBe(false);
    for (let k = 0; k < 33; k++) expect(r.undoOnDsack(q(k * 100), q(k * 100 + 100))).toBe(false);
  });

  // Regression test (a bug found by these tests and fixed; was in rack.ts undoOnDsack): each D-SACK block is credited against EVERY tracked
  // retransmission that overlaps it. A range retransmitted twice (a retransmission that RACK
  // marked lost and resent, or a TLP then a recovery retransmission of the same segment) is
  // tracked twice, and ONE D-SACK (one redundant copy arrived) credits both, so the episode is
  // "proven spurious" although one of the copies was needed: the original was lost.
  it('one D-SACK does not undo an episode that retransmitted the same range twice', () => {
    const r = new Rack(64);
    r.onSent(q(0), q(3000), 0, q(0));
    r.undoBegin();
    r.onSent(q(0), q(1000), 10, q(3000)); // retransmission 1 (say, delayed in the network)
    r.onSent(q(0), q(1000), 20, q(3000)); // retransmission 2
    // Original lost; retransmission 1 arrives, retransmission 2 is the duplicate: one D-SACK.
    expect(r.undoOnDsack(q(0), q(1000))).toBe(false);
    expect(r.undoActive).toBe(true);
  });
});

describe('Rack: the log bound (maxRecords) degrades gracefully', () => {
  it('at the bound new data extends the newest record (sent at the later time, SL_MIXED) or goes unlogged; nothing throws', () => {
    const r = new Rack(8);
    for (let k = 0; k < 8; k++) r.onSent(q(k * 100), q(k * 100 + 100), k, q(k * 100));
    expect(r.length).toBe(8);
    r.onSent(q(800), q(900), 8, q(800));
    // Extended, with the later time; flagged: its time is not the send time of 700..800.
    expect(recs(r).slice(-1)).toEqual([[700, 900, 8, SL_MIXED]]);
    expect(r.length).toBe(8);
    // A SACK edge inside a record cannot split it: the record is left unSACKed (conservative).
    r.onAck(q(0), sack([750, 900]), 30, NO_TS);
    expect(recs(r).slice(-1)).toEqual([[700, 900, 8, SL_MIXED]]);
    r.onAck(q(0), sack([700, 900]), 31, NO_TS);
    expect(recs(r).slice(-1)).toEqual([[700, 900, 8, SL_MIXED | SL_SACKED]]);
    // A mixed record gives no RTT sample (RACK.rtt, min_RTT): its time is too late for part of it.
    expect([r.xmitTs, r.minRtt]).toEqual([-Infinity, Infinity]);
    // The newest record is SACKed and no SACKed neighbour can merge with it: new data
    // cannot extend it and goes unlogged.
    r.onSent(q(900), q(1000), 32, q(900));
    expect(r.length).toBe(8);
    expect(recs(r).slice(-1)).toEqual([[700, 900, 8, SL_MIXED | SL_SACKED]]);
    // Loss marking covers logged records only.
    expect(r.detectLoss(100, 0)).toBe(0);
    expect(r.lostBytes).toBe(0); // nothing delivered gave RACK a send time to compare with
    r.onAck(q(0), sack([600, 700]), 40, NO_TS); // a whole record (sent at 6) SACKed
    expect(r.detectLoss(100, 0)).toBe(0);
    expect(r.lostBytes).toBe(600);
    // A retransmission of 150..160: merging the SACKed 600..700 and 700..900 makes room for
    // one split (at 150), not two. The part of a lost record that cannot be split off is
    // resent as a whole (its lost mark goes, lostBytes stays exact) and flagged mixed (only
    // part of it went at the new time).
    r.onSent(q(150), q(160), 101, q(1000));
    expect(r.lostBytes).toBe(550);
    expect(recs(r).slice(1, 3)).toEqual([[100, 150, 1, SL_LOST], [150, 200, 101, SL_RETRANS | SL_MIXED]]);
    expect(recs(r).slice(-1)).toEqual([[600, 900, 8, SL_SACKED | SL_MIXED]]);
    check(r);
    // Everything acknowledged: the log empties, unlogged bytes included.
    r.onAck(q(1000), undefined, 120, NO_TS);
    expect(recs(r)).toEqual([]);
    expect(r.lostBytes).toBe(0);
    // And it is usable again from the start.
    r.onSent(q(1000), q(1100), 130, q(1000));
    expect(recs(r)).toEqual([[1000, 1100, 130, 0]]);
  });

  it('at the bound adjacent SACKed records merge to make room: a SACK edge or a retransmission still splits', () => {
    const r = new Rack(8);
    for (let k = 0; k < 8; k++) r.onSent(q(k * 100), q(k * 100 + 100), k, q(k * 100));
    r.onAck(q(0), sack([200, 500]), 20, NO_TS); // three whole records SACKed, side by side
    expect(r.length).toBe(8);
    // A SACK edge inside record 600..700: the SACKed run 200..500 becomes one record first.
    r.onAck(q(0), sack([600, 650], [200, 500]), 21, NO_TS);
    expect(recs(r)).toEqual([
      [0, 100, 0, 0], [100, 200, 1, 0], [200, 500, 4, SL_SACKED], [500, 600, 5, 0],
      [600, 650, 6, SL_SACKED], [650, 700, 6, 0], [700, 800, 7, 0],
    ]);
    // RACK timed the delivery from whole records only (sent at 4, the latest SACKed at 20).
    expect([r.xmitTs, r.rtt]).toEqual([6, 15]);
    // Loss detection marks what was sent before, a retransmission of part of it splits.
    r.detectLoss(100, 0);
    expect(r.lostBytes).toBe(300);
    r.onSent(q(0), q(50), 101, q(800));
    expect(recs(r).slice(0, 2)).toEqual([[0, 50, 101, SL_RETRANS], [50, 100, 0, SL_LOST]]);
    expect(r.lostBytes).toBe(250);
    // New data gets a record of its own again once SACKed neighbours can merge.
    r.onAck(q(0), sack([650, 800]), 102, NO_TS);
    expect(r.length).toBe(8);
    r.onSent(q(800), q(900), 103, q(800));
    expect(recs(r).slice(-1)).toEqual([[800, 900, 103, 0]]);
  });

  it('property: any sequence of sends, retransmissions, ACKs, loss detection and timeouts keeps the log consistent at any bound', () => {
    // Fractions as per-mille integers (fast-check's doubles crowd near 0).
    const frac = (max = 1000) => fc.integer({ min: 0, max }).map((x) => x / 1000);
    const op = fc.oneof(
      { weight: 8, arbitrary: fc.record({ k: fc.constant('send' as const), len: fc.integer({ min: 1, max: 3000 }) }) },
      { weight: 2, arbitrary: fc.record({ k: fc.constant('rtx' as const), at: frac(), len: fc.integer({ min: 1, max: 3000 }) }) },
      // NextSeg with RACK: resend (part of) the first range marked lost.
      { weight: 4, arbitrary: fc.record({ k: fc.constant('rtxLost' as const), len: fc.integer({ min: 1, max: 3000 }) }) },
      // The cumulative ACK mostly stays or moves a little (so holes and SACKed ranges build up).
      { weight: 6, arbitrary: fc.record({ k: fc.constant('ack' as const), una: fc.oneof(fc.constant(0), frac(300)), blocks: fc.array(fc.tuple(frac(), frac()), { maxLength: 4 }) }) },
      { weight: 6, arbitrary: fc.record({ k: fc.constant('detect' as const), reo: fc.constantFrom(0, 0, 2, 10) }) },
      { weight: 1, arbitrary: fc.record({ k: fc.constant('rto' as const) }) },
      { weight: 6, arbitrary: fc.record({ k: fc.constant('tick' as const), dt: fc.integer({ min: 0, max: 30 }) }) },
    );
    const seen = { lost: 0, resentLost: 0, atBound: 0 };
    fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.array(op, { minLength: 30, maxLength: 150 }), (bound, ops) => {
      const r = new Rack(bound);
      let una = q(0);
      let max = q(0);
      let now = 0;
      const pick = (f: number) => seqDiff(max, una) === 0 ? una : (una + Math.floor(f * seqDiff(max, una))) >>> 0;
      for (const o of ops) {
        switch (o.k) {
          case 'send': r.onSent(max, (max + o.len) >>> 0, now, max); max = (max + o.len) >>> 0; break;
          case 'rtx': {
            if (una === max) break;
            const s = pick(o.at);
            const e = seqLt((s + o.len) >>> 0, max) ? (s + o.len) >>> 0 : max;
            if (seqLt(s, e)) r.onSent(s, e, now, max);
            break;
          }
          case 'ack': {
            una = pick(o.una);
            const blocks = o.blocks.map(([a, b]) => ({ left: pick(Math.min(a, b)), right: pick(Math.max(a, b)) }));
            r.onAck(una, blocks, now, NO_TS);
            break;
          }
          case 'rtxLost': {
            const l = r.firstLost();
            if (l < 0) break;
            const s = seqLt(l, una) ? una : l;
            const e = seqLt((s + o.len) >>> 0, r.lostEnd) ? (s + o.len) >>> 0 : r.lostEnd;
            if (seqLt(s, e)) { r.onSent(s, e, now, max); seen.resentLost++; }
            break;
          }
          case 'detect': r.detectLoss(now, o.reo); if (r.newlyLost > 0) seen.lost++; break;
          case 'rto': r.onRto(); break;
          case 'tick': now += o.dt; break;
        }
        if (r.length === bound) seen.atBound++;
        check(r);
        for (const [s, e] of r.records()) if (!(seqLe(una, s) && seqLe(e, max))) throw new Error('a record outside [SND.UNA, SND.MAX]');
      }
      r.onAck(max, undefined, now + 1, NO_TS);
      expect(r.length).toBe(0);
      expect(r.lostBytes).toBe(0);
    }), { numRuns: 300 });
    // Not vacuous: losses were marked, lost ranges resent, the bound reached.
    expect(seen.lost).toBeGreaterThan(100);
    expect(seen.resentLost).toBeGreaterThan(100);
    expect(seen.atBound).toBeGreaterThan(100);
  }, 30_000);
});

// ====================================================================== connection traces

const R = REMOTE_ISS + 1;
const MSS = 1460;
const SACK_PEER: TcpOptions = { sackPermitted: true };
const big = (n: number) => new Uint8Array(n).fill(0x61);

/**
 * ESTABLISHED by an active open whose SYN-ACK came `rtt` ms after the SYN: the first RTT
 * sample, so SRTT = rtt, RTTVAR = rtt/2 and RTO = max(200, 3 rtt) (RFC 6298 §2.2, rtoMin 200).
 * No timestamps (the harness default): RTT samples come from one timed segment per round trip.
 * NewReno unless `options` say otherwise (exact RFC 5681 arithmetic).
 */
function est(rtt: number, options: TcpLayerOptions = {}, peer: TcpOptions = SACK_PEER): Ctx {
  const t = synSent({ congestionControl: 'newreno', ...options });
  t.step(rtt);
  t.send({ seq: REMOTE_ISS, ack: t.iss + 1, flags: SYN | ACK, window: 65535, options: { mss: 1460, ...peer } });
  t.recv({ flags: ACK, seq: t.iss + 1, ack: R });
  expect(t.conn.state).toBe('ESTABLISHED');
  expect(t.conn.srtt).toBe(rtt);
  return t;
}

/** Sequence number of our k-th data segment (1-based). */
const S = (t: Ctx, k: number) => (t.iss + 1 + (k - 1) * MSS) >>> 0;
/** SACK blocks covering our segments [a, b) (1-based, right exclusive). */
const sb = (t: Ctx, ...r: [number, number][]): SackBlock[] => r.map(([a, b]) => ({ left: S(t, a), right: S(t, b) }));
/** At virtual time `at` (timers due by then run first), the peer's ACK of everything below segment k, with SACK blocks. */
function ackAt(t: Ctx, at: number, k: number, blocks: SackBlock[] = []): void {
  t.advance(at);
  t.send({ seq: R, ack: S(t, k), flags: ACK, ...(blocks.length > 0 ? { options: { sackBlocks: blocks } } : {}) });
}
/** Which of our segments (by number) left since the last drain. */
const sentSegs = (t: Ctx) => t.drain().filter((s) => s.payload.length > 0).map((s) => ((s.seq - t.iss - 1) >>> 0) / MSS + 1);

/**
 * A peer that holds the segments in `have`: its ACK at `at`, cumulative up to the first
 * missing one, SACK blocks for the runs above it (highest first), a D-SACK first if given.
 */
function peerAck(t: Ctx, at: number, have: Set<number>, dsack?: [number, number]): void {
  let k = 1;
  while (have.has(k)) k++;
  const runs: [number, number][] = [];
  const top = Math.max(0, ...have);
  for (let i = k; i <= top; i++) {
    if (!have.has(i)) continue;
    let j = i;
    while (have.has(j + 1)) j++;
    runs.push([i, j + 1]);
    i = j;
  }
  runs.reverse();
  const blocks = [...(dsack !== undefined ? [dsack] : []), ...runs].slice(0, 4);
  ackAt(t, at, k, sb(t, ...blocks));
}

const stats = (t: Ctx) => t.layer.stats();
/** The RTO never fired: no backoff, no retry counted. */
function noRto(t: Ctx, rto = 200): void {
  expect(t.conn.retries).toBe(0);
  expect(t.conn.rto).toBe(rto);
}

describe('RACK on a connection: reordering (RFC 8985 §6)', () => {
  /** `n` segments sent at T; at T+40 the peer ACKs 1 and 2 (an RTT sample of 40: min_RTT 40). */
  function sent(n: number, options: TcpLayerOptions = {}) {
    const t = est(40, options);
    const T = t.now;
    t.write(big(n * MSS));
    expect(sentSegs(t)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    expect(t.conn.rack !== undefined).toBe(options.rack !== false); // on by default with SACK
    ackAt(t, T + 40, 3);
    if (options.rack !== false) expect(t.conn.rack!.minRtt).toBe(40);
    // RFC 5681 §3.1 eq. 2: + min(N, SMSS), only when the window was used (RFC 7661 §4.2 as
    // Linux's tcp_is_cwnd_limited: in slow start, while cwnd < twice the flight).
    expect(t.conn.stats.cwnd).toBe((10 < 2 * n ? 11 : 10) * MSS);
    return { t, T };
  }

  it('(a) a hole with SACKs above it, filled within RACK.rtt + reo_wnd: no retransmission, no recovery, cwnd not reduced', () => {
    const { t, T } = sent(10);
    ackAt(t, T + 41, 3, sb(t, [4, 5])); // 4 overtook 3
    // §6.2 step 4: no reordering seen, one segment SACKed, not in recovery: reo_wnd =
    // min(min_RTT / 4, SRTT) = 10. 3 was sent with 4 (one record at T): lost at T + RACK.rtt
    // (41) + 10: the reordering timer (§6.3).
    expect(t.conn.rack!.reoWnd).toBe(10);
    expect(t.conn.rackAt).toBe(T + 51);
    expect(t.layer.pollAt()).toBe(T + 51);
    expect(sentSegs(t)).toEqual([]);
    ackAt(t, T + 45, 3, sb(t, [4, 6])); // 5 as well: RACK.rtt is now 45 (5 was sent after 4)
    expect(t.conn.rackAt).toBe(T + 55);
    ackAt(t, T + 47, 6); // 3 arrives: the hole fills
    expect(sentSegs(t)).toEqual([]);
    expect(t.conn.rackAt).toBe(Infinity);
    expect(t.conn.rack!.reorderingSeen).toBe(true); // §6.2 step 3: delivered below RACK.fack, never retransmitted
    expect(t.conn.recovery.inRecovery).toBe(false);
    expect(t.conn.stats.ssthresh).toBe(Infinity);
    expect(t.conn.stats.cwnd).toBe(12 * MSS); // slow start went on: + 1 SMSS for the ACK of new data
    ackAt(t, T + 80, 11);
    const st = stats(t);
    expect([st.RetransSegs, st.FastRetransmits, st.SackRecoveries, st.RackRecoveries, st.RackLostBytes]).toEqual([0, 0, 0, 0, 0]);
    expect(t.conn.stats.cwnd).toBe(13 * MSS);
    expect(t.layer.pollAt()).toBe(Infinity);
  });

  it('(b) the same hole not filled: retransmitted exactly when the reordering timer fires; recovery entered once', () => {
    const { t, T } = sent(4);
    ackAt(t, T + 41, 3, sb(t, [4, 5]));
    expect(t.conn.rackAt).toBe(T + 51);
    t.advance(T + 50.99);
    expect(sentSegs(t)).toEqual([]);
    expect(t.conn.recovery.inRecovery).toBe(false);
    t.advance(T + 51);
    expect(sentSegs(t)).toEqual([3]);
    expect(t.conn.rackAt).toBe(Infinity);
    expect(t.conn.recovery.inRecovery).toBe(true);
    expect(t.conn.recovery.recover).toBe(S(t, 5)); // RecoveryPoint = HighData (RFC 6675 §5 (4.1))
    // RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2 SMSS), 2 segments in flight.
    expect(t.conn.stats.ssthresh).toBe(2 * MSS);
    let st = stats(t);
    expect([st.RackRecoveries, st.FastRetransmits, st.SackRecoveries, st.RackLostBytes, st.RetransSegs]).toEqual([1, 1, 1, MSS, 1]);
    // A duplicate of the last ACK: the same recovery, nothing more to send.
    ackAt(t, T + 52, 3, sb(t, [4, 5]));
    expect(sentSegs(t)).toEqual([]);
    ackAt(t, T + 91, 5); // the retransmission arrives
    expect(t.conn.recovery.inRecovery).toBe(false);
    st = stats(t);
    expect([st.RackRecoveries, st.FastRetransmits, st.RetransSegs, st.SpuriousRecoveries]).toEqual([1, 1, 1, 0]);
    expect(t.conn.stats.cwnd).toBeLessThanOrEqual(2 * MSS);
    noRto(t);
    expect(t.layer.pollAt()).toBe(Infinity);
  });

  it('(c) with DupThresh segments SACKed and no reordering seen, reo_wnd is 0: the hole is resent at once', () => {
    const { t, T } = sent(6);
    ackAt(t, T + 41, 3, sb(t, [4, 5]));
    ackAt(t, T + 42, 3, sb(t, [4, 6]));
    expect(sentSegs(t)).toEqual([]);
    expect(t.conn.rackAt).toBe(T + 52);
    ackAt(t, T + 43, 3, sb(t, [4, 7])); // the third segment SACKed
    expect(t.conn.rack!.reoWnd).toBe(0);
    expect(sentSegs(t)).toEqual([3]);
    expect(t.now).toBe(T + 43);
    expect(t.conn.rackAt).toBe(Infinity);
    expect(stats(t).RackRecoveries).toBe(1);
  });

  it('(c) once reordering was seen, DupThresh SACKed segments no longer short-cut the reordering window', () => {
    const { t, T } = sent(8);
    ackAt(t, T + 41, 3, sb(t, [4, 5]));
    ackAt(t, T + 42, 5); // 3 was only late: reordering seen
    expect(t.conn.rack!.reorderingSeen).toBe(true);
    ackAt(t, T + 43, 5, sb(t, [6, 9])); // 5 missing, 6..8 SACKed
    expect(sentSegs(t)).toEqual([]);
    expect(t.conn.rack!.reoWnd).toBe(10);
    expect(t.conn.rackAt).toBe(T + 53);
    t.advance(T + 53);
    expect(sentSegs(t)).toEqual([5]);
  });

  /** 3 lost; 4..7 SACKed (reo_wnd 0: recovery, 3' at T+41); then 11..13 of new data go out as pipe falls. */
  function lostRetransmission() {
    const { t, T } = sent(10);
    ackAt(t, T + 41, 3, sb(t, [4, 8]));
    // Recovery: ssthresh = cwnd = 4 segments (FlightSize 8); pipe = 8, 9, 10 = 3: 3' goes.
    expect(sentSegs(t)).toEqual([3]);
    expect(t.conn.stats.ssthresh).toBe(4 * MSS);
    t.write(big(10 * MSS));
    expect(sentSegs(t)).toEqual([]); // pipe 4
    ackAt(t, T + 42, 3, sb(t, [4, 9]));
    ackAt(t, T + 43, 3, sb(t, [4, 10]));
    ackAt(t, T + 44, 3, sb(t, [4, 11]));
    expect(sentSegs(t)).toEqual([11, 12, 13]); // new data (RFC 6675 NextSeg rule 2), all sent after 3'
    return { t, T };
  }

  it('(d) a lost retransmission is detected by RACK (data sent after it is SACKed) and resent before the RTO', () => {
    const { t, T } = lostRetransmission();
    const rtxAt = t.conn.rtxAt;
    // 11 (sent at T+42) is SACKed at T+82; 3' (T+41) is not: lost as well. In recovery with no
    // reordering seen reo_wnd = 0: 3' is lost once T+41 + RACK.rtt (40) has passed.
    ackAt(t, T + 82, 3, sb(t, [4, 12]));
    const segs = sentSegs(t);
    expect(segs[0]).toBe(3);
    expect(stats(t).RackLostBytes).toBe(2 * MSS);
    expect(t.now).toBeLessThan(rtxAt);
    noRto(t);
    // The second retransmission arrives, and everything else.
    peerAck(t, T + 122, new Set([...Array.from({ length: 13 }, (_, i) => i + 1), ...segs]));
    expect(t.conn.recovery.inRecovery).toBe(false);
    expect(stats(t).FastRetransmits).toBe(1);
    expect(stats(t).RetransSegs).toBe(2);
    noRto(t);
  });

  // Regression test (a bug found by these tests and fixed; was in connection.ts rackDetect, the early `return` when already in recovery):
  // RFC 8985 §9.3: "In the absence of PRR [RFC6937], when RACK-TLP detects a lost
  // retransmission, the congestion control MUST trigger an additional congestion response"
  // (RFC 5681 §4.3: the loss of a retransmission is a second indication of congestion).
  // The stack has no PRR, and a retransmission RACK marks lost changes neither ssthresh nor cwnd.
  it('(d) a lost retransmission triggers an additional congestion response (RFC 8985 §9.3)', () => {
    const { t, T } = lostRetransmission();
    const before = t.conn.stats.ssthresh;
    ackAt(t, T + 82, 3, sb(t, [4, 12]));
    expect(sentSegs(t)[0]).toBe(3);
    expect(stats(t).RackLostBytes).toBe(2 * MSS);
    expect(t.conn.stats.ssthresh).toBeLessThan(before);
  });

  it('with rack: false the DupThresh path retransmits HighACK + 1 at once on entering recovery, whatever pipe is (RFC 6675 §5 (4.3))', () => {
    const { t, T } = sent(10, { rack: false });
    ackAt(t, T + 41, 3, sb(t, [4, 7]));
    expect(sentSegs(t)).toEqual([3]);
  });

  // Regression test (a bug found by these tests and fixed; was in connection.ts rackDetect / rackSend): a recovery that RACK starts makes no
  // retransmission of its own: NextSeg() runs only while cwnd - pipe >= SMSS. Here cwnd =
  // ssthresh = 4 segments and pipe = 4 (7..10, still "in flight"), so 3 is not resent; when
  // 7..10 were lost too no further ACK comes, and only the RTO repairs it. RFC 6675 §5 (4.3)
  // (and the DupThresh path of this stack, the test above) retransmits HighACK + 1 at once;
  // Linux starts a recovery with cwnd = in flight + 1 (tcp_init_cwnd_reduction) for the same reason.
  it('a RACK recovery retransmits the first lost segment at once, so a hole plus a lost tail recovers without an RTO', () => {
    const { t, T } = sent(10);
    ackAt(t, T + 41, 3, sb(t, [4, 7])); // 3 lost; 4..6 arrive; 7..10 lost as well
    const have = new Set([1, 2, 4, 5, 6]);
    let at = T + 41;
    for (let round = 0; round < 10 && t.conn.bytesInFlight > 0; round++) {
      const segs = sentSegs(t);
      expect(segs.length, `something was retransmitted at ${at - T}`).toBeGreaterThan(0);
      for (const k of segs) have.add(k);
      at += 40;
      peerAck(t, at, have);
      noRto(t);
    }
    expect(t.conn.bytesInFlight).toBe(0);
  });
});

describe('RACK on a connection: D-SACK reports', () => {
  // Regression test (a bug found by these tests and fixed; was in connection.ts input(), the duplicate-ACK test before onDupAck, and onDupAck's
  // `if (this.rack !== undefined && this.sbN > 0) return`): an ACK whose only SACK block is a
  // D-SACK (RFC 2883: a duplicate of data below the ACK) is counted as a duplicate ACK by RFC
  // 5681 §2's definition; the scoreboard stays empty (the block is below SND.UNA), so the third
  // such ACK starts an RFC 6582 (non-SACK) fast retransmit of SND.UNA. For a SACK sender RFC 6675
  // §2 defines a duplicate acknowledgment as one "carrying a SACK block that identifies
  // previously unacknowledged and un-SACKed octets between HighACK and HighData": these are not.
  // D-SACKs are exactly what reordering and RACK's spurious retransmissions produce (the
  // simulation sees such recoveries), and network duplication alone triggers it here.
  it('three ACKs carrying only D-SACKs (network duplicates of acknowledged data) start no recovery', () => {
    const t = est(40);
    const T = t.now;
    t.write(big(10 * MSS));
    t.drain();
    ackAt(t, T + 40, 3);
    t.drain();
    for (let i = 1; i <= 3; i++) ackAt(t, T + 40 + i, 3, sb(t, [i % 2 + 1, i % 2 + 2]));
    expect(stats(t).DsacksReceived).toBe(3);
    expect(sentSegs(t)).toEqual([]);
    expect(stats(t).FastRetransmits).toBe(0);
    expect(t.conn.stats.ssthresh).toBe(Infinity);
  });
});

describe('TLP on a connection (RFC 8985 §7)', () => {
  it('(e) the PTO is armed at now + 2*SRTT when data is sent and restarted when new data is acknowledged (§7.2)', () => {
    const t = est(40);
    const T = t.now;
    t.write(big(10 * MSS));
    t.drain();
    expect(t.conn.tlpAt).toBe(T + 80);
    expect(t.conn.rtxAt).toBe(T + 200);
    ackAt(t, T + 40, 9); // 1..8 arrive; 9, 10 are the tail
    expect(t.conn.srtt).toBe(40);
    expect(t.conn.tlpAt).toBe(T + 40 + 80);
    expect(t.conn.tlpAt).toBe(t.now + Math.max(2 * t.conn.srtt, 10));
  });

  it('(e) tail loss, no new data: at exactly now + 2*SRTT the last segment is resent; its SACK lets RACK repair the rest without an RTO', () => {
    const t = est(40);
    const T = t.now;
    t.write(big(10 * MSS));
    t.drain();
    ackAt(t, T + 40, 9); // 9 and 10 lost
    const pto = T + 120;
    expect(t.layer.pollAt()).toBe(pto);
    t.advance(pto - 0.01);
    expect(sentSegs(t)).toEqual([]);
    t.advance(pto);
    expect(sentSegs(t)).toEqual([10]); // §7.3: no unsent data: retransmit the highest segment sent
    expect(stats(t).TlpProbes).toBe(1);
    expect(t.conn.stats.tlpProbes).toBe(1);
    expect(t.conn.rack!.tlpActive).toBe(true);
    expect(t.conn.rack!.tlpIsRetrans).toBe(true);
    expect(t.conn.rack!.tlpEndSeq).toBe(S(t, 11));
    expect(t.conn.rtxAt).toBe(pto + 200); // §7.3: the RTO is re-armed after the probe
    expect(t.conn.tlpAt).toBe(Infinity);
    // The probe arrives; 9 is still missing: the SACK of 10 (sent at T+120) makes 9 (sent at T) lost.
    ackAt(t, pto + 40, 9, sb(t, [10, 11]));
    expect(sentSegs(t)).toEqual([9]);
    expect(stats(t).RackRecoveries).toBe(1);
    ackAt(t, pto + 80, 11);
    expect(t.conn.bytesInFlight).toBe(0);
    const st = stats(t);
    expect([st.Timeouts, st.TlpProbes, st.RetransSegs, st.RackRecoveries]).toEqual([0, 1, 2, 1]);
    noRto(t);
    expect(t.layer.pollAt()).toBe(Infinity);
  });

  it('(e) the whole flight lost with new data waiting: the probe is one new segment (cwnd does not apply); its SACK marks the flight lost', () => {
    const t = est(40);
    const T = t.now;
    t.write(big(20 * MSS));
    expect(sentSegs(t)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]); // IW 10; 10 more wait
    expect(t.conn.tlpAt).toBe(T + 80);
    t.advance(T + 80);
    expect(sentSegs(t)).toEqual([11]);
    expect(t.conn.rack!.tlpIsRetrans).toBe(false);
    expect(t.conn.rtxAt).toBe(T + 280);
    // The probe's SACK: 1..10 were sent before 11 and are RACK.rtt old: all lost.
    ackAt(t, T + 120, 1, sb(t, [11, 12]));
    expect(stats(t).RackLostBytes).toBe(10 * MSS);
    // Recovery: ssthresh = FlightSize / 2 = 5.5 segments; pipe 0 <= ssthresh, and this ACK
    // delivered one segment without moving SND.UNA: PRR's reduction bound (RFC 6937, Linux's
    // tcp_cwnd_reduction) sends one (packet conservation), not ssthresh - pipe at once (the old
    // one-step cut sent 1..5 here); the rest follows the ACKs (one more per ACK moving SND.UNA).
    expect(t.conn.stats.ssthresh).toBe(Math.floor(11 * MSS / 2));
    expect(sentSegs(t)).toEqual([1]);
    const have = new Set([11, 1]);
    for (let at = T + 160; t.conn.bytesInFlight > 0 && at < T + 1000; at += 40) {
      peerAck(t, at, have);
      for (const k of sentSegs(t)) have.add(k);
      noRto(t);
    }
    expect(t.conn.bytesInFlight).toBe(0);
    expect(have.size).toBe(20);
    expect([stats(t).TlpProbes, stats(t).Timeouts]).toEqual([1, 0]);
  });

  it('(e) one segment in flight: PTO = 2*SRTT + WCDelAckT (200 ms)', () => {
    const t = est(300); // SRTT 300, RTO 900
    const T = t.now;
    t.write(big(100));
    t.drain();
    expect(t.conn.rtxAt).toBe(T + 900);
    expect(t.conn.tlpAt).toBe(T + 800);
    t.advance(T + 800);
    const probe = t.drain();
    expect(probe.map((s) => [s.seq, s.payload.length])).toEqual([[S(t, 1), 100]]);
    expect(t.conn.rtxAt).toBe(T + 1700);
  });

  it('(e) a PTO beyond the RTO is clipped to it, and the probe goes instead of the timeout (§7.2)', () => {
    const t = est(40); // SRTT 40, RTO 200; one segment: 2*40 + 200 = 280 > 200
    const T = t.now;
    t.write(big(100));
    t.drain();
    expect(t.conn.tlpAt).toBe(T + 200);
    expect(t.conn.rtxAt).toBe(T + 200);
    t.advance(T + 200);
    expect(t.drain().map((s) => s.payload.length)).toEqual([100]);
    expect(stats(t).TlpProbes).toBe(1);
    noRto(t); // no backoff: it was a probe
    expect(t.conn.stats.cwnd).toBe(10 * MSS);
    expect(t.conn.rtxAt).toBe(T + 400);
  });

  it('(e) the PTO has a floor of 10 ms on a short path', () => {
    const t = est(2);
    const T = t.now;
    t.write(big(5 * MSS));
    t.drain();
    expect(t.conn.tlpAt).toBe(T + 10);
  });

  /** 10 segments at T, 1..9 ACKed at T+40, 10 lost: the probe (a retransmission of 10) at T+240. */
  function probeOfLast() {
    const t = est(40);
    const T = t.now;
    t.write(big(10 * MSS));
    t.drain();
    ackAt(t, T + 40, 10);
    // One segment in flight: 2*SRTT + 200 = 280, clipped to the RTO (T+40 + 200).
    expect(t.conn.tlpAt).toBe(T + 240);
    t.advance(T + 240);
    expect(sentSegs(t)).toEqual([10]);
    return { t, T };
  }

  it('(f) a probe that repaired a single loss: the episode ends at an ACK beyond TLP.end_seq: one congestion response (§7.4.2)', () => {
    const { t, T } = probeOfLast();
    ackAt(t, T + 280, 11); // ACK of exactly TLP.end_seq: the probe or the original? Not yet decided.
    expect(t.conn.rack!.tlpActive).toBe(true);
    expect(stats(t).TlpRecoveries).toBe(0);
    const cwnd = t.conn.stats.cwnd;
    expect(cwnd).toBe(12 * MSS);
    t.write(big(2 * MSS));
    expect(sentSegs(t)).toEqual([11, 12]);
    ackAt(t, T + 320, 13); // beyond TLP.end_seq without a D-SACK: the original was lost
    expect(stats(t).TlpRecoveries).toBe(1);
    expect(t.conn.rack!.tlpActive).toBe(false);
    expect(t.conn.stats.cwnd).toBeLessThan(cwnd);
    // RFC 5681 eq. 4 with a FlightSize of at most 2 segments.
    expect(t.conn.stats.ssthresh).toBe(2 * MSS);
    expect([stats(t).FastRetransmits, stats(t).Timeouts]).toEqual([0, 0]);
  });

  it('(f) a probe answered by a D-SACK (the original had arrived): no congestion response', () => {
    const { t, T } = probeOfLast();
    ackAt(t, T + 280, 11, sb(t, [10, 11])); // D-SACK of 10 (its first ACK was lost)
    expect(stats(t).DsacksReceived).toBe(1);
    expect(t.conn.rack!.tlpActive).toBe(false);
    t.write(big(2 * MSS));
    expect(sentSegs(t)).toEqual([11, 12]);
    ackAt(t, T + 320, 13);
    expect(stats(t).TlpRecoveries).toBe(0);
    expect(t.conn.stats.ssthresh).toBe(Infinity);
    // Slow start untouched: 11, + 1 SMSS for the ACK of 10 (the probe's flight), none for the
    // two segments after it (not cwnd-limited: 12 >= 2 x 2, RFC 7661 §4.2, Linux tcp_is_cwnd_limited).
    expect(t.conn.stats.cwnd).toBe(12 * MSS);
    expect(stats(t).SpuriousRecoveries).toBe(0);
  });

  // Regression test (a bug found by these tests and fixed; was in rack.ts tlpOnAck, as called from connection.ts rackOnAck): RFC 8985 §7.4.2
  // ends the episode without a response only on "a DSACK option matching TLP.end_seq"; any
  // D-SACK does it here. A D-SACK of an unrelated duplicate (here the network duplicated
  // segment 2) hides the loss the probe repaired: no congestion response.
  it('(f) a D-SACK of other data does not cancel the response to a probe that repaired a loss', () => {
    const { t, T } = probeOfLast();
    ackAt(t, T + 280, 11);
    ackAt(t, T + 281, 11, sb(t, [2, 3])); // a network duplicate of 2 reported
    t.write(big(2 * MSS));
    sentSegs(t);
    ackAt(t, T + 320, 13);
    expect(stats(t).TlpRecoveries).toBe(1);
  });

  // Regression test (a bug found by these tests and fixed; was in connection.ts rackDetect: entering recovery clears tlpAt but not the probe's
  // state): RFC 8985 §7.1: "Reset TLP.is_retrans and TLP.end_seq when initiating a connection,
  // fast recovery, or RTO recovery." Here the fast recovery started by the probe's SACK leaves
  // TLP.end_seq set; the recovery ends with an ACK of exactly TLP.end_seq, so the episode stays
  // open: no probe can be armed for the next flight (armTlp requires !tlpActive), and the next
  // ACK beyond TLP.end_seq counts as "the probe repaired a loss": a second congestion response
  // for a loss the fast recovery already answered.
  it('(e) a fast recovery resets the TLP episode (§7.1): the next flight gets a probe and no second reduction', () => {
    const t = est(40);
    const T = t.now;
    t.write(big(10 * MSS));
    t.drain();
    ackAt(t, T + 40, 9);
    t.advance(T + 120);
    expect(sentSegs(t)).toEqual([10]);
    ackAt(t, T + 160, 9, sb(t, [10, 11]));
    expect(sentSegs(t)).toEqual([9]);
    ackAt(t, T + 200, 11); // the recovery ends
    expect(t.conn.recovery.inRecovery).toBe(false);
    const ssthresh = t.conn.stats.ssthresh;
    t.write(big(MSS));
    expect(sentSegs(t)).toEqual([11]);
    const armed = t.conn.tlpAt < Infinity; // a tail: a probe must be scheduled
    ackAt(t, T + 240, 12);
    expect({ armed, tlpRecoveries: stats(t).TlpRecoveries, ssthresh: t.conn.stats.ssthresh }).toEqual({ armed: true, tlpRecoveries: 0, ssthresh });
  });

  // Regression test (a bug found by these tests and fixed; was in rack.ts tlpOnAck): see the unit test above: a duplicate ACK without SACK
  // blocks (a peer without D-SACK acknowledging the redundant probe) ends the episode with a
  // congestion response; RFC 8985 §7.4.2 gives none ("Case 2").
  it('(f) a duplicate ACK without SACK after the probe was acknowledged: no congestion response', () => {
    const { t, T } = probeOfLast();
    ackAt(t, T + 280, 11); // the original's ACK
    t.write(big(MSS));
    expect(sentSegs(t)).toEqual([11]);
    ackAt(t, T + 285, 11); // the probe's, a plain duplicate ACK
    expect(stats(t).TlpRecoveries).toBe(0);
    expect(t.conn.stats.ssthresh).toBe(Infinity);
  });
});

describe('RACK.min_RTT before the first data RTT sample', () => {
  // Regression test (a bug found by these tests and fixed; was in connection.ts transmitAt creates the Rack at the first data sent, after the
  // handshake's RTT sample, which only reaches SRTT; rack.ts deliver() then rejects every
  // delivered retransmission with `rtt < this.minRtt` while min_RTT is still Infinity): until an
  // ACK of new data gives an RTT sample, RFC 8985 §6.2 step 2 treats every retransmission's
  // delivery as ambiguous, so a SACK for a TLP retransmission moves nothing. Here the whole first
  // flight is lost: the probe's SACK (10 delivered, 1..9 not) should mark 1..9 lost (§7.4.1),
  // but nothing happens until the RTO. Linux's min_rtt includes the handshake sample.
  it('the SACK of a retransmitted probe in the first flight lets RACK mark the flight lost', () => {
    const t = est(40);
    const T = t.now;
    t.write(big(10 * MSS));
    t.drain();
    t.advance(T + 80);
    expect(sentSegs(t)).toEqual([10]);
    ackAt(t, T + 120, 1, sb(t, [10, 11]));
    expect(stats(t).RackLostBytes).toBe(9 * MSS);
    // PRR (RFC 6937): one segment delivered, SND.UNA unmoved: one retransmission (it was [1..5]
    // when recovery cut cwnd to ssthresh in one step).
    expect(sentSegs(t)).toEqual([1]);
  });
});

describe.each(['newreno', 'cubic'] as const)('spurious recovery undone by D-SACK, %s (RFC 3708; RFC 9438 §4.9)', (cc: CongestionControlName) => {
  /** 3 overtaken by 4..7: with DupThresh segments SACKed and no reordering seen, RACK resends it at once. */
  function spurious() {
    const t = est(40, { congestionControl: cc });
    const T = t.now;
    t.write(big(10 * MSS));
    t.drain();
    ackAt(t, T + 40, 3);
    const before = { cwnd: t.conn.stats.cwnd, ssthresh: t.conn.stats.ssthresh };
    expect(before.ssthresh).toBe(Infinity);
    ackAt(t, T + 41, 3, sb(t, [4, 8]));
    expect(sentSegs(t)).toEqual([3]);
    expect(t.conn.recovery.inRecovery).toBe(true);
    expect(t.conn.stats.ssthresh).toBeLessThan(before.cwnd);
    return { t, T, before };
  }

  it('(g) the only retransmission D-SACKed during the recovery: cwnd and ssthresh restored, recovery over', () => {
    const { t, T, before } = spurious();
    ackAt(t, T + 42, 8); // the original 3 arrives: a partial ACK (RecoveryPoint is 11)
    expect(t.conn.recovery.inRecovery).toBe(true);
    ackAt(t, T + 43, 8, sb(t, [5, 6])); // a D-SACK of never-retransmitted data (a network duplicate): nothing
    expect(stats(t).SpuriousRecoveries).toBe(0);
    expect(t.conn.recovery.inRecovery).toBe(true);
    ackAt(t, T + 81, 8, sb(t, [3, 4])); // 3' arrives: D-SACK
    expect(stats(t).SpuriousRecoveries).toBe(1);
    expect(t.conn.recovery.inRecovery).toBe(false);
    expect(t.conn.stats.cwnd).toBe(before.cwnd);
    expect(t.conn.stats.ssthresh).toBe(before.ssthresh);
    ackAt(t, T + 82, 11);
    expect(t.conn.stats.cwnd).toBeGreaterThan(before.cwnd); // slow start resumes
    expect(t.layer.pollAt()).toBe(Infinity);
  });

  it('(g) the D-SACK after the recovery ended: the reduction is undone then', () => {
    const { t, T, before } = spurious();
    ackAt(t, T + 42, 11); // 3 arrives last: a full ACK ends the recovery, reduced
    expect(t.conn.recovery.inRecovery).toBe(false);
    expect(t.conn.stats.cwnd).toBeLessThan(before.cwnd);
    expect(stats(t).SpuriousRecoveries).toBe(0);
    ackAt(t, T + 81, 11, sb(t, [3, 4]));
    expect(stats(t).SpuriousRecoveries).toBe(1);
    expect(t.conn.stats.cwnd).toBe(before.cwnd);
    expect(t.conn.stats.ssthresh).toBe(before.ssthresh);
    // A second D-SACK of the same data undoes nothing more.
    ackAt(t, T + 82, 11, sb(t, [3, 4]));
    expect(stats(t).SpuriousRecoveries).toBe(1);
  });

  it('(g) a recovery with a retransmission that was needed is not undone', () => {
    const { t, T, before } = spurious();
    ackAt(t, T + 42, 3, sb(t, [4, 11])); // 3 really was lost
    ackAt(t, T + 81, 11); // 3' delivered; no D-SACK ever comes
    expect(t.conn.recovery.inRecovery).toBe(false);
    expect(stats(t).SpuriousRecoveries).toBe(0);
    expect(t.conn.stats.cwnd).toBeLessThan(before.cwnd);
  });
});

describe('retransmission timeout with RACK (RFC 6298 §5, RFC 6675 §5.1)', () => {
  it('(h) an RTO clears RACK state (lost marks, timers, the probe, the undo episode) but keeps SACKed marks (Linux tcp_timeout_mark_lost); go-back-N delivers every segment and resends none the peer SACKed', () => {
    const t = est(40);
    const T = t.now;
    t.write(big(10 * MSS));
    t.drain();
    ackAt(t, T + 40, 2); // only 1 arrives (an RTT sample); 2..10 are lost
    t.advance(T + 120); // the probe
    expect(sentSegs(t)).toEqual([10]);
    ackAt(t, T + 160, 2, sb(t, [10, 11])); // only the probe arrives: 2..9 lost
    // PRR (RFC 6937, Linux's bound): one segment delivered, SND.UNA unmoved: one retransmission
    // (with cwnd = ssthresh = 4.5 segments at once it was 2..5).
    expect(sentSegs(t)).toEqual([2]);
    const rack = t.conn.rack!;
    expect(rack.lostBytes).toBe(7 * MSS);
    expect(rack.records().some((r) => r[3] & SL_SACKED)).toBe(true);
    expect([rack.tlpActive, rack.undoActive, t.conn.recovery.inRecovery]).toEqual([false, true, true]); // the recovery ended the probe episode (§7)
    // The retransmissions are lost too: the RTO armed by the probe (T+120 + 200) fires.
    expect(t.layer.pollAt()).toBe(T + 320);
    t.advance(T + 320);
    expect(sentSegs(t)).toEqual([2]);
    expect(t.conn.retries).toBe(1);
    expect(rack.lostBytes).toBe(0);
    expect(rack.records().every((r) => (r[3] & SL_LOST) === 0)).toBe(true);
    // The probe's segment 10 stays SACKed in the log and on the scoreboard (not reneged: 2 is not SACKed).
    expect(rack.records().filter((r) => r[3] & SL_SACKED).length).toBe(1);
    expect([rack.tlpActive, rack.undoActive, t.conn.recovery.inRecovery, t.conn.scoreboard.count]).toEqual([false, false, false, 1]);
    expect(stats(t).SackRenegings).toBe(0);
    expect([t.conn.rackAt, t.conn.tlpAt]).toEqual([Infinity, Infinity]);
    expect(t.conn.stats.cwnd).toBe(MSS); // RFC 5681 §3.1 eq. 4: the loss window
    expect(t.conn.stats.ssthresh).toBe(Math.floor(9 * MSS / 2));
    // Go-back-N with a peer that holds 1 and 10: every segment arrives, no new RACK recovery, no undo.
    const have = new Set([1, 10]);
    let at = T + 320;
    const resent: number[] = [];
    for (let i = 0; i < 20 && t.conn.bytesInFlight > 0; i++) {
      for (const k of sentSegs(t)) { have.add(k); resent.push(k); }
      at += 40;
      peerAck(t, at, have);
    }
    expect(t.conn.bytesInFlight).toBe(0);
    expect([...have].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(resent).not.toContain(10);
    const st = stats(t);
    expect([st.RackRecoveries, st.SpuriousRecoveries, st.TlpProbes]).toEqual([1, 0, 1]);
    expect(t.layer.pollAt()).toBe(Infinity);
  });

  it('(h) a D-SACK after an RTO restores nothing (the timeout ended the episode)', () => {
    const t = est(40);
    const T = t.now;
    t.write(big(10 * MSS));
    t.drain();
    ackAt(t, T + 40, 3, sb(t, [4, 8])); // a RACK recovery: 3 resent
    expect(sentSegs(t)).toEqual([3]);
    const reduced = t.conn.stats.cwnd;
    t.advance(t.conn.rtxAt); // nothing more arrives: RTO
    expect(t.conn.retries).toBe(1);
    expect(t.conn.stats.cwnd).toBe(MSS);
    ackAt(t, t.now + 1, 11, sb(t, [3, 4])); // everything was there after all: D-SACK of 3
    expect(stats(t).SpuriousRecoveries).toBe(0);
    expect(t.conn.stats.cwnd).toBeLessThanOrEqual(2 * MSS);
    expect(t.conn.stats.cwnd).toBeLessThan(reduced);
  });
});
