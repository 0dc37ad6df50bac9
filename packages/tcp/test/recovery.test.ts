/**
 * LossRecovery on a fake host (recovery.ts works on `RecoveryHost`, not on a connection):
 * RFC 5681 §3.2 / RFC 6582 entry and exit, RFC 6675 §5 entry, NextSeg() rules 1, 3, 4 and
 * SetPipe, RFC 6298 timer restarts, RFC 6675 §5.1 at RTO, RFC 3522 Eifel detection. The
 * same behaviour end to end is in sack-send.test.ts, sack.test.ts and rack.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { NewReno } from '../src/congestion.js';
import { LossRecovery, type RecoveryCounters, type RecoveryHost } from '../src/recovery.js';
import { Scoreboard } from '../src/scoreboard.js';

const MSS = 100;
const UNA = 0xfffffc00; // HighACK; the window wraps at +1024

class FakeHost implements RecoveryHost {
  sndUna = UNA;
  sndNxt = UNA;
  sndMax = (UNA + 20 * MSS) >>> 0;
  sndMss = MSS;
  sackOk = true;
  frtoOk = false;
  srtt = 50;
  rto = 300;
  rtxAt = Infinity;
  rackAt = Infinity;
  tlpAt = Infinity;
  readonly cc = new NewReno(MSS);
  readonly rack = undefined;
  readonly sent: [number, number][] = []; // (offset from UNA, octets)
  firstRetransmits = 0;
  reductions = 0;
  transmitAt(seq: number, maxData: number): number {
    if (this.sent.length >= 100) throw new Error('send loop did not stop');
    this.sent.push([(seq - UNA) >>> 0, maxData]);
    return maxData;
  }
  retransmitFirst(): void { this.firstRetransmits++; }
  tsNow(now: number): number { return now; }
  noteReduction(): void { this.reductions++; }
  endGoBackN(): void { this.sndNxt = this.sndMax; }
}

function setup(sack = true): { h: FakeHost; r: LossRecovery; sb: Scoreboard; c: RecoveryCounters } {
  const h = new FakeHost();
  h.sackOk = sack;
  h.cc.cwnd = 20 * MSS;
  const sb = new Scoreboard(32);
  const c: RecoveryCounters = {
    FastRetransmits: 0, SackRecoveries: 0, SackRetransmits: 0, RackRecoveries: 0, RackLostBytes: 0,
    LostRetransmits: 0, TlpRecoveries: 0, SpuriousRecoveries: 0, PartialUndos: 0, PartialUndoHolds: 0, SackRenegings: 0,
    RetransTimeouts: 0, LossUndos: 0, RtoLostRetransmits: 0, SpuriousRtos: 0,
  };
  const r = new LossRecovery(h, sb, c, { sackRecoveries: 0, sackRetransmits: 0 });
  r.recover = UNA;
  return { h, r, sb, c };
}
/** SACKs segments [from, to) (in MSS units above UNA). */
const sack = (t: ReturnType<typeof setup>, from: number, to: number): boolean =>
  t.sb.update([{ left: (UNA + from * MSS) >>> 0, right: (UNA + to * MSS) >>> 0 }], t.h.sndUna, t.h.sndUna, t.h.sndMax);

describe('LossRecovery: entry and exit', () => {
  it('RFC 5681 §3.2 / RFC 6582: the third duplicate ACK without SACK blocks retransmits the first segment; a partial ACK another; a full ACK ends it', () => {
    const t = setup(false);
    t.r.onDupAck(1, 0);
    t.r.onDupAck(2, 0);
    expect(t.r.inRecovery).toBe(false);
    t.r.onDupAck(3, 10);
    expect([t.r.inRecovery, t.r.sackRecovery, t.r.recover, t.h.firstRetransmits, t.c.FastRetransmits]).toEqual([true, false, t.h.sndMax, 1, 1]);
    expect([t.h.cc.ssthresh, t.h.rtxAt, t.h.reductions]).toEqual([10 * MSS, 310, 1]);
    t.r.onAckInRecovery((UNA + 5 * MSS) >>> 0, 5 * MSS, 0, 20);
    expect([t.r.inRecovery, t.h.firstRetransmits, t.h.rtxAt]).toEqual([true, 2, 320]);
    t.h.sndUna = t.h.sndMax;
    t.r.onAckInRecovery(t.h.sndMax, 15 * MSS, 0, 30);
    expect(t.r.inRecovery).toBe(false);
    expect(t.h.cc.cwnd).toBeLessThanOrEqual(t.h.cc.ssthresh); // RFC 6582 §3.2 step 4: deflated
  });

  it('RFC 6582 §4.1: after a timeout, duplicate ACKs below "recover" start no recovery', () => {
    const t = setup(false);
    t.r.onRto(0);
    expect(t.r.recover).toBe(t.h.sndMax);
    t.r.onDupAck(3, 0);
    expect(t.r.inRecovery).toBe(false);
  });

  it('RFC 6675 §5: IsLost(HighACK + 1) starts SACK recovery before the third duplicate; HighRxt follows the retransmission', () => {
    const t = setup();
    expect(sack(t, 1, 2) && sack(t, 3, 4) && sack(t, 5, 6)).toBe(true);
    t.r.onDupAck(1, 0);
    expect([t.r.inRecovery, t.r.sackRecovery, t.c.SackRecoveries]).toEqual([true, true, 1]);
    expect(t.h.sent).toEqual([[0, MSS]]);
    expect(t.r.highRxt).toBe((UNA + MSS) >>> 0);
    // A partial ACK only restarts the timer (RFC 6675 §5 (C), RFC 6298 §5.3).
    t.r.onAckInRecovery((UNA + 2 * MSS) >>> 0, 2 * MSS, 0, 40);
    expect([t.h.rtxAt, t.h.sent.length]).toEqual([340, 1]);
    // A full ACK ends it at cwnd = ssthresh (no RFC 6582 deflation to FlightSize).
    t.h.sndUna = t.h.sndMax;
    t.r.onAckInRecovery(t.h.sndMax, 18 * MSS, 0, 50);
    expect([t.r.inRecovery, t.r.sackRecovery, t.h.cc.cwnd]).toEqual([false, false, t.h.cc.ssthresh]);
  });

  it('RFC 6675 §5.1 (Linux tcp_timeout_mark_lost): a timeout ends recovery and keeps the scoreboard when the segment at SND.UNA is not SACKed', () => {
    const t = setup();
    sack(t, 1, 2); sack(t, 3, 4); sack(t, 5, 6);
    t.r.onDupAck(1, 0);
    expect(t.r.onRto(0)).toBe(false);
    expect([t.r.inRecovery, t.r.sackRecovery, t.sb.count, t.r.highRxt, t.r.recover]).toEqual([false, false, 3, UNA, t.h.sndMax]);
    expect(t.c.SackRenegings).toBe(0);
  });

  it('RFC 2018 §8 reneging (Linux TCPSACKReneging): the segment at SND.UNA SACKed yet not cumulatively ACKed: the timeout expunges the scoreboard', () => {
    const t = setup();
    sack(t, 0, 2); sack(t, 3, 4); // the receiver reported SND.UNA's segment held, its ACK does not pass it
    expect(t.sb.left(0)).toBe(UNA);
    expect(t.r.onRto(0)).toBe(true);
    expect([t.r.inRecovery, t.sb.count, t.r.highRxt, t.r.recover]).toEqual([false, 0, UNA, t.h.sndMax]);
    expect(t.c.SackRenegings).toBe(1);
  });
});

describe('LossRecovery: NextSeg() and SetPipe() (RFC 6675 §4)', () => {
  // Holes at 0, 2, 4, 7..9 (in MSS above HighACK); SACKed 1, 3, 5..6, 10..11; 12..19 unSACKed.
  // IsLost: more than 2 SMSS SACKed above: below 5 (the ranges from 5 up hold 4 SMSS).
  const board = (t: ReturnType<typeof setup>): void => { sack(t, 1, 2); sack(t, 3, 4); sack(t, 5, 7); sack(t, 10, 12); };

  it('SetPipe counts unSACKed octets not lost, and retransmitted ones again; nothing goes while PRR allows less than the segment', () => {
    const t = setup();
    board(t);
    t.r.onDupAck(1, 0); // IsLost(HighACK + 1): recovery, segment 0 resent
    expect(t.h.sent).toEqual([[0, MSS]]);
    expect(t.h.cc.ssthresh).toBe(10 * MSS); // RFC 6675 §5 (4.2): ssthresh = FlightSize / 2
    expect(t.r.recoverFs).toBe(20 * MSS); // RFC 6937: RecoverFS = snd.nxt - snd.una
    // Not lost: 7..9 and 12..19 (11 SMSS); retransmitted: 0 (1 SMSS).
    expect(t.r.pipe()).toBe(12 * MSS);
    // RFC 6937: pipe > ssthresh: sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out
    // (CEIL in whole segments, as RFC 6937 §5 counts): one SMSS delivered gives CEIL(0.5) = 1
    // segment, which the forced retransmission already used.
    t.r.prrOnAck(MSS, false);
    expect(t.r.sendBudget()).toBe(0);
    expect(t.r.send(true, 0)).toBe(false);
    expect(t.h.sent.length).toBe(1);
    // Two more SMSS delivered: prr_delivered 3 SMSS -> CEIL(1.5) = 2 segments - 1 sent: segment 2 (lost) goes.
    t.r.prrOnAck(2 * MSS, false);
    expect(t.r.sendBudget()).toBe(MSS);
    expect(t.r.send(true, 0)).toBe(true);
    expect(t.h.sent).toEqual([[0, MSS], [2 * MSS, MSS]]);
    // One more: CEIL(2) - 2 = 0: nothing.
    t.r.prrOnAck(MSS, false);
    expect(t.r.sendBudget()).toBe(0);
    expect(t.r.send(true, 0)).toBe(false);
    expect([t.r.prrOut, t.r.prrDelivered]).toEqual([2 * MSS, 4 * MSS]);
  });

  it('rule 1 sends the lost holes in order, rule 3 the rest below the highest SACKed octet, rule 4 one rescue after HighACK moved', () => {
    const t = setup();
    board(t);
    t.r.onDupAck(1, 0);
    t.r.prrAllow = 40 * MSS; // room for everything (as if RFC 6937's sndcnt allowed it)
    t.h.sent.length = 0;
    expect(t.r.send(true, 0)).toBe(true);
    expect(t.h.sent).toEqual([[2 * MSS, MSS], [4 * MSS, MSS]]); // rule 1: lost, above HighRxt
    expect(t.r.highRxt).toBe((UNA + 5 * MSS) >>> 0);
    t.h.sent.length = 0;
    expect(t.r.send(false, 0)).toBe(true);
    expect(t.h.sent).toEqual([[7 * MSS, MSS], [8 * MSS, MSS], [9 * MSS, MSS]]); // rule 3; no rescue yet (HighACK = RescueRxt)
    t.h.sent.length = 0;
    t.h.sndUna = (UNA + MSS) >>> 0;
    t.sb.prune(t.h.sndUna);
    expect(t.r.send(false, 0)).toBe(true);
    expect(t.h.sent).toEqual([[19 * MSS, MSS]]); // rule 4: the highest outstanding octet's segment
    expect(t.r.highRxt).toBe((UNA + 10 * MSS) >>> 0); // rule 4 leaves HighRxt
    expect(t.r.rescueRxt).toBe(t.r.recover);
    t.h.sent.length = 0;
    t.h.sndUna = (UNA + 2 * MSS) >>> 0;
    expect(t.r.send(false, 0)).toBe(false); // once per recovery
  });
});

describe('LossRecovery: PRR when ssthresh goes down again in the recovery (prrRebound)', () => {
  // A lost retransmission lowers ssthresh a second time (RFC 5681 §4.3, RFC 8985 §9.3), e.g. on
  // RACK's reordering timer between two ACKs: what the last ACK's sndcnt left was computed
  // against the old ssthresh and is weighed again against the new one (as Linux recomputes
  // cwnd = pipe + sndcnt whenever ssthresh changes). On the old code the budget stayed.
  it('pipe above the new ssthresh: RFC 6937 §3.1 with the new ssthresh: nothing more once the recovery sent its share', () => {
    const t = setup();
    sack(t, 1, 2); sack(t, 3, 4); sack(t, 5, 7); sack(t, 10, 12);
    t.r.onDupAck(1, 0); // recovery: ssthresh 10 SMSS, RecoverFS 20 SMSS, segment 0 resent
    expect(t.r.pipe()).toBe(12 * MSS);
    t.r.prrDelivered = 8 * MSS;
    t.r.prrOut = 4 * MSS;
    t.r.prrAllow = 4 * MSS; // the last ACK's sndcnt, unspent
    t.h.cc.onEcnEcho(8 * MSS); // the second reduction: ssthresh 4 SMSS
    expect(t.h.cc.ssthresh).toBe(4 * MSS);
    t.r.prrRebound();
    // CEIL(8 * 4 / 20) = 2 segments - 4 sent < 0: nothing (pipe 12 SMSS > 4 SMSS)
    expect(t.r.sendBudget()).toBe(0);
    t.h.sent.length = 0;
    expect(t.r.send(true, 0)).toBe(false);
    expect(t.h.sent).toEqual([]);
  });

  it('pipe at or below the new ssthresh: at most ssthresh - pipe, never more than was left', () => {
    const t = setup();
    sack(t, 1, 2); sack(t, 3, 4); sack(t, 5, 7); sack(t, 10, 20);
    t.r.onDupAck(1, 0);
    expect(t.r.pipe()).toBe(MSS); // only the retransmission of segment 0: every hole is lost
    t.r.prrAllow = 9 * MSS;
    t.h.cc.onEcnEcho(8 * MSS);
    t.r.prrRebound();
    expect(t.r.sendBudget()).toBe(3 * MSS); // 4 SMSS - pipe
    t.r.prrAllow = MSS;
    t.r.prrRebound();
    expect(t.r.sendBudget()).toBe(MSS); // a reduction never raises the budget
    t.h.sent.length = 0;
    expect(t.r.send(true, 0)).toBe(true);
    expect(t.h.sent).toEqual([[2 * MSS, MSS]]);
  });
});

describe('LossRecovery: Eifel detection (RFC 3522)', () => {
  it('an ACK echoing a timestamp older than the first retransmission was sent for an original', () => {
    const t = setup();
    expect(t.r.echoedBeforeRetransmit(5)).toBe(false); // no retransmission yet
    t.r.retransTs = 100;
    t.r.retransTsSet = true;
    expect(t.r.echoedBeforeRetransmit(99)).toBe(true);
    expect(t.r.echoedBeforeRetransmit(100)).toBe(false);
    expect(t.r.echoedBeforeRetransmit(0)).toBe(false); // no timestamp
  });
});
