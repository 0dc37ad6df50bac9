import { describe, expect, it } from 'vitest';
import { ACK } from '../src/index.js';
import type { SackBlock, TcpOptions } from '../src/index.js';
import { REMOTE_ISS, established } from './harness.js';
import type { Ctx } from './harness.js';

const R = REMOTE_ISS + 1;
const MSS = 1460;
const big = (n: number, c = 0x61) => new Uint8Array(n).fill(c);
const SACK: TcpOptions = { sackPermitted: true };
/** These traces are RFC 6675's DupThresh-based recovery; rack.test.ts has RACK-TLP's (the default). */
const NO_RACK = { rack: false, congestionControl: 'newreno' } as const;

/** Sequence number of our k-th data segment (1-based). */
const S = (t: Ctx, k: number) => (t.iss + 1 + (k - 1) * MSS) >>> 0;
/** SACK blocks covering our segments [a, b) (1-based, right exclusive). */
const sb = (t: Ctx, ...r: [number, number][]): SackBlock[] => r.map(([a, b]) => ({ left: S(t, a), right: S(t, b) }));
/** The peer's ACK of everything below segment k, with SACK blocks. */
const ackWith = (t: Ctx, k: number, blocks: SackBlock[] = []) => {
  t.step(1);
  t.send({ seq: R, ack: S(t, k), flags: ACK, ...(blocks.length > 0 ? { options: { sackBlocks: blocks } } : {}) });
};
/** The scoreboard as [a, b) pairs of segment numbers. */
const board = (t: Ctx) => {
  const out: [number, number][] = [];
  for (let i = 0; i < t.conn.scoreboard.count; i++) out.push([(t.conn.scoreboard.left(i) - t.iss - 1) / MSS + 1, (t.conn.scoreboard.right(i) - t.iss - 1) / MSS + 1]);
  return out;
};
/** Which of our segments (by number) the layer sent since the last drain. */
const sentSegs = (t: Ctx) => t.drain().filter((s) => s.payload.length > 0).map((s) => ((s.seq - t.iss - 1) >>> 0) / MSS + 1);

function tenInFlight(sackPeer = true, sack = true) {
  const t = established(sack ? NO_RACK : { sack: false, congestionControl: 'newreno' }, sackPeer ? SACK : {});
  expect(t.conn.sackOk).toBe(sack && sackPeer);
  t.write(big(10 * MSS));
  expect(sentSegs(t)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  // Segments 1 and 2 arrive; 3 and 6 are lost.
  ackWith(t, 2);
  ackWith(t, 3);
  t.recvNothing();
  return t;
}

describe('SACK-based loss recovery (RFC 6675)', () => {
  it('segments 3 and 6 lost: retransmits exactly 3, then 6 as pipe allows, within one round trip; ends at RecoveryPoint', () => {
    const t = tenInFlight();
    const rtoAt = t.layer.pollAt();
    ackWith(t, 3, sb(t, [4, 5])); // 4 arrives: dupack 1
    ackWith(t, 3, sb(t, [4, 6])); // 5: dupack 2
    expect(sentSegs(t)).toEqual([]);
    ackWith(t, 3, sb(t, [7, 8], [4, 6])); // 7: dupack 3 -> §5 (4): retransmit HighACK + 1
    expect(sentSegs(t)).toEqual([3]);
    expect(t.conn.recovery.sackRecovery).toBe(true);
    expect(t.conn.recovery.recover).toBe(S(t, 11)); // RecoveryPoint = HighData
    // ssthresh = cwnd = FlightSize / 2 = 4 segments; pipe = 6 (not lost: 1+3) + 3 (retransmitted) = 5.
    expect(t.conn.stats.ssthresh).toBe(4 * MSS);
    ackWith(t, 3, sb(t, [7, 9], [4, 6])); // 8: hole 6 has only 2 SACKed segments above: not lost; pipe 4
    expect(sentSegs(t)).toEqual([]);
    ackWith(t, 3, sb(t, [7, 10], [4, 6])); // 9: IsLost(6); pipe 2 -> rule 1 sends 6, rules 2-4 nothing
    expect(sentSegs(t)).toEqual([6]);
    ackWith(t, 3, sb(t, [7, 11], [4, 6])); // 10
    expect(sentSegs(t)).toEqual([]);
    expect(board(t)).toEqual([[4, 6], [7, 11]]);
    ackWith(t, 6, sb(t, [7, 11])); // the retransmitted 3: partial ACK, nothing to resend
    expect(sentSegs(t)).toEqual([]);
    expect(t.conn.recovery.inRecovery).toBe(true);
    ackWith(t, 11); // the retransmitted 6: SND.UNA >= RecoveryPoint
    expect(t.conn.recovery.inRecovery).toBe(false);
    expect(t.conn.recovery.sackRecovery).toBe(false);
    expect(t.conn.scoreboard.count).toBe(0);
    expect(t.conn.bytesInFlight).toBe(0);
    expect(t.now).toBeLessThan(rtoAt);
    const st = t.layer.stats();
    expect(st.Timeouts).toBe(0);
    expect(st.SackRecoveries).toBe(1);
    expect(st.SackRetransmits).toBe(2);
    expect(st.RetransSegs).toBe(2);
    expect(t.conn.stats.sackRetransmits).toBe(2);
    expect(t.conn.stats.cwnd).toBeLessThanOrEqual(t.conn.stats.ssthresh);
    expect(t.layer.pollAt()).toBe(Infinity);
  });

  it('IsLost(SND.UNA) starts recovery before the third duplicate ACK (§5 (a))', () => {
    const t = tenInFlight();
    ackWith(t, 3, sb(t, [4, 7])); // three segments SACKed above 3 in one (ACKs were lost)
    expect(sentSegs(t)).toEqual([3]);
    expect(t.conn.dupAcks).toBe(1);
    expect(t.layer.stats().SackRecoveries).toBe(1);
  });

  it('IsLost counts DupThresh discontiguous SACKed ranges, not only bytes (small segments)', () => {
    const t = established(NO_RACK, SACK);
    t.conn.setNoDelay(true);
    for (let i = 0; i < 8; i++) t.write(big(100));
    const segs = t.drain();
    expect(segs).toHaveLength(8);
    const at = (k: number) => (t.iss + 1 + k * 100) >>> 0;
    // Segment 0 lost; 1, 3, 5 arrive (2, 4 lost as well): 300 SACKed bytes in 3 ranges.
    t.send({ seq: R, ack: at(0), flags: ACK, options: { sackBlocks: [{ left: at(5), right: at(6) }, { left: at(3), right: at(4) }, { left: at(1), right: at(2) }] } });
    // Rule 1 sends 0 (lost); 2 and 4 are not lost (fewer than 3 ranges above) but cwnd
    // (2 SMSS, the floor of ssthresh) - pipe leaves room: rule 3 sends them too.
    expect(t.drain().map((s) => [s.seq, s.payload.length])).toEqual([[at(0), 100], [at(2), 100], [at(4), 100]]);
    expect(t.layer.stats().SackRecoveries).toBe(1);
  });

  it('new data (rule 2) goes before a hole not yet lost (rule 3); once lost it is resent (rule 1)', () => {
    const t = established(NO_RACK, SACK);
    t.write(big(16 * MSS));
    expect(sentSegs(t)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    // 1 lost; 2, 3 arrive: limited transmit (RFC 3042) sends 11, 12; 4: third dupack.
    ackWith(t, 1, sb(t, [2, 3]));
    ackWith(t, 1, sb(t, [2, 4]));
    expect(sentSegs(t)).toEqual([11, 12]);
    ackWith(t, 1, sb(t, [2, 5]));
    expect(sentSegs(t)).toEqual([1]);
    // FlightSize 12 -> ssthresh 6, RecoverFS 12: PRR (RFC 6937) sends one segment per two
    // delivered. 5, 6, 7 arrive (prr_delivered 4 with 4): CEIL(4 * 6 / 12) - 1 = 1: new data 13
    // (the one-step cut of RFC 6675 §5 sent nothing here: pipe 9 over cwnd 6).
    ackWith(t, 1, sb(t, [2, 6]));
    ackWith(t, 1, sb(t, [2, 7]));
    ackWith(t, 1, sb(t, [2, 8]));
    expect(sentSegs(t)).toEqual([13]);
    // 8, 9 lost too; 10 arrives: 8, 9 not lost yet (one segment above): PRR's share is used up.
    ackWith(t, 1, sb(t, [10, 11], [2, 8]));
    expect(sentSegs(t)).toEqual([]);
    // 11 arrives: one more allowed: new data 14, not the holes 8, 9 (not lost yet: rule 2 before rule 3).
    ackWith(t, 1, sb(t, [10, 12], [2, 8]));
    expect(sentSegs(t)).toEqual([14]);
    // 12 arrives: three segments above 8 and 9: lost; pipe 3 -> rule 1 resends both before new data.
    ackWith(t, 1, sb(t, [10, 13], [2, 8]));
    expect(sentSegs(t)).toEqual([8, 9, 15]);
    expect(t.layer.stats().SackRetransmits).toBe(3);
  });

  it('rule 3 resends a hole not yet lost when there is room and no new data', () => {
    const t = tenInFlight();
    // 4..8 arrive, but their first ACKs were lost: IsLost(3) at once.
    ackWith(t, 3, sb(t, [4, 9]));
    expect(sentSegs(t)).toEqual([3]);
    // 10 arrives; 9 is not lost (one segment above it) but cwnd 4 - pipe 2 leaves room: rule 3.
    ackWith(t, 3, sb(t, [10, 11], [4, 9]));
    expect(sentSegs(t)).toEqual([9]);
    expect(t.conn.recovery.highRxt).toBe(S(t, 10));
    ackWith(t, 11);
    expect(t.conn.recovery.inRecovery).toBe(false);
  });

  it('rule 4: after a partial ACK, one rescue retransmission of the tail; rule 3 then fills the rest', () => {
    const t = tenInFlight();
    // 4..7 arrive; 8, 9, 10 are lost as well (a tail loss behind the hole at 3).
    ackWith(t, 3, sb(t, [4, 5]));
    ackWith(t, 3, sb(t, [4, 6]));
    ackWith(t, 3, sb(t, [4, 7]));
    expect(sentSegs(t)).toEqual([3]);
    ackWith(t, 3, sb(t, [4, 8]));
    expect(sentSegs(t)).toEqual([]);
    // The retransmitted 3: partial ACK, nothing SACKed; pipe 3 (8..10), cwnd 4: the rescue sends 10.
    ackWith(t, 8);
    expect(sentSegs(t)).toEqual([10]);
    // Only once per recovery.
    ackWith(t, 8);
    expect(sentSegs(t)).toEqual([]);
    // 10 arrives: 8 and 9 lie below SACKed data: rule 3 resends them.
    ackWith(t, 8, sb(t, [10, 11]));
    expect(sentSegs(t)).toEqual([8, 9]);
    ackWith(t, 11);
    expect(t.conn.recovery.inRecovery).toBe(false);
    expect(t.layer.stats().Timeouts).toBe(0);
  });

  it('D-SACK blocks and blocks outside [SND.UNA, SND.MAX] do not change the scoreboard', () => {
    const t = tenInFlight();
    ackWith(t, 3, sb(t, [4, 6]));
    expect(board(t)).toEqual([[4, 6]]);
    // A D-SACK below SND.UNA (a duplicate of 1), then the regular block.
    ackWith(t, 3, sb(t, [1, 2], [4, 6]));
    expect(board(t)).toEqual([[4, 6]]);
    // A D-SACK inside already SACKed data (4 twice), before its enclosing block.
    ackWith(t, 3, [{ left: S(t, 4), right: S(t, 5) }, ...sb(t, [4, 6])]);
    expect(board(t)).toEqual([[4, 6]]);
    // A block past SND.MAX, and an empty one: ignored.
    ackWith(t, 3, [...sb(t, [9, 12], [8, 8])]);
    expect(board(t)).toEqual([[4, 6]]);
    // None of these SACKed new data: not duplicate ACKs (RFC 6675 §2), so no recovery.
    expect(t.layer.stats().DupAcks).toBe(1); // the first, which SACKed 4 and 5
    expect(t.layer.stats().SackRecoveries).toBe(0);
    expect(sentSegs(t)).toEqual([]);
    // A D-SACK straddling SND.UNA is ignored (the receiver's blocks are above RCV.NXT).
    ackWith(t, 3, sb(t, [2, 5]));
    expect(board(t)).toEqual([[4, 6]]);
    ackWith(t, 5, sb(t, [7, 8]));
    expect(board(t)).toEqual([[5, 6], [7, 8]]);
    // A reordered older ACK with a block now below SND.UNA: ignored.
    ackWith(t, 3, sb(t, [4, 5]));
    expect(board(t)).toEqual([[5, 6], [7, 8]]);
  });

  it('the scoreboard merges, keeps order and stays bounded', () => {
    const t = established(NO_RACK, SACK);
    t.conn.setNoDelay(true);
    t.write(big(80 * 100));
    t.drain();
    const una = t.conn.sndUna;
    const blocks = (i: number): SackBlock[] => [{ left: (una + 2 * i * 10) >>> 0, right: (una + 2 * i * 10 + 10) >>> 0 }];
    // 300 disjoint 10-byte ranges, sent highest first: the lowest 256 are kept (the bound: a
    // netstack receiver's out-of-order ranges; the arrays grow from 8 as ranges come).
    for (let i = 300; i >= 1; i--) t.send({ seq: R, ack: una, flags: ACK, window: 65535, options: { sackBlocks: blocks(i) } });
    expect(t.conn.scoreboard.count).toBe(256);
    expect(t.conn.scoreboard.left(0)).toBe((una + 20) >>> 0);
    for (let i = 1; i < 256; i++) expect(t.conn.scoreboard.left(i) - t.conn.scoreboard.right(i - 1)).toBe(10);
    // One block covering ranges 1..20 merges them.
    t.send({ seq: R, ack: una, flags: ACK, window: 65535, options: { sackBlocks: [{ left: (una + 15) >>> 0, right: (una + 405) >>> 0 }] } });
    expect(t.conn.scoreboard.count).toBe(237);
    expect([t.conn.scoreboard.left(0), t.conn.scoreboard.right(0)]).toEqual([(una + 15) >>> 0, (una + 410) >>> 0]);
  });
});

describe('without SACK the RFC 6582 path is unchanged', () => {
  it('not negotiated: SACK blocks from the peer are ignored; partial ACK retransmits the next hole', () => {
    const t = tenInFlight(false);
    for (let k = 0; k < 3; k++) ackWith(t, 3, sb(t, [4, 6]));
    expect(sentSegs(t)).toEqual([3]);
    expect(t.conn.scoreboard.count).toBe(0);
    expect(t.conn.recovery.sackRecovery).toBe(false);
    expect(t.conn.stats.cwnd).toBe(4 * MSS + 3 * MSS); // RFC 6582 inflation
    ackWith(t, 6);
    expect(sentSegs(t)).toEqual([6]);
    expect(t.layer.stats().SackRecoveries).toBe(0);
  });

  it('sack: false locally: the same', () => {
    const t = tenInFlight(true, false);
    for (let k = 0; k < 3; k++) ackWith(t, 3, sb(t, [4, 6]));
    expect(sentSegs(t)).toEqual([3]);
    expect(t.conn.scoreboard.count).toBe(0);
    ackWith(t, 6);
    expect(sentSegs(t)).toEqual([6]);
  });

  it('negotiated but the dupacks carry no blocks: RFC 6582 recovery', () => {
    const t = tenInFlight();
    for (let k = 0; k < 3; k++) ackWith(t, 3);
    expect(sentSegs(t)).toEqual([3]);
    expect(t.conn.recovery.sackRecovery).toBe(false);
    ackWith(t, 6);
    expect(sentSegs(t)).toEqual([6]);
  });
});

describe('retransmission timeout with SACK (RFC 6675 §5.1)', () => {
  it('keeps the scoreboard across the timeout (Linux tcp_timeout_mark_lost): go-back-N resends only holes, SACKed data not in flight', () => {
    const t = tenInFlight();
    // Before the timeout the peer reports 4, 5, 7 and 8 held (3, 6, 9, 10 lost): recovery
    // resends 3, which is lost too.
    ackWith(t, 3, sb(t, [4, 6], [7, 9]));
    t.drain();
    t.advance(t.layer.pollAt());
    expect(sentSegs(t)).toEqual([3]);
    expect(t.conn.retries).toBe(1);
    expect(board(t)).toEqual([[4, 6], [7, 9]]);
    expect(t.layer.stats().SackRenegings).toBe(0);
    // 3 arrives; the peer's ACK carries no blocks this time (a receiver reports at most 3-4
    // blocks, the ACKs that repeated them may be lost): what was learnt before the timeout
    // still counts. cwnd 2: 6 goes; 7 and 8 are skipped and not counted in flight, 9 goes.
    // (Expunged, go-back-N resent 6 and 7, a segment the peer holds.)
    ackWith(t, 6);
    expect(sentSegs(t)).toEqual([6, 9]);
    expect(t.conn.sndNxt).toBe(S(t, 10));
    ackWith(t, 10); // 6 and 9 arrived: cwnd 3, the last hole
    expect(sentSegs(t)).toEqual([10]);
    ackWith(t, 11);
    expect(t.conn.bytesInFlight).toBe(0);
    expect(t.layer.stats().RetransSegs).toBe(5); // 3 twice, 6, 9, 10: nothing the peer held
  });

  it('expunges the scoreboard when the receiver reneged (RFC 2018 §8; Linux: the segment at SND.UNA SACKed): go-back-N resends it all', () => {
    const t = tenInFlight();
    // The peer SACKs 3..5 yet its cumulative ACK stays at 3: it may discard what it SACKed.
    ackWith(t, 3, sb(t, [3, 6]));
    expect(board(t)).toEqual([[3, 6]]);
    t.drain();
    t.advance(t.layer.pollAt());
    expect(sentSegs(t)).toEqual([3]);
    expect(t.conn.scoreboard.count).toBe(0);
    expect(t.layer.stats().SackRenegings).toBe(1);
    ackWith(t, 4); // it had dropped 4 and 5: cwnd 2 resends them
    expect(sentSegs(t)).toEqual([4, 5]);
  });

  it('go-back-N sends a short hole between SACKed ranges at once (no Nagle)', () => {
    const t = established(NO_RACK, SACK);
    t.write(big(3 * MSS));
    t.drain();
    // All but 100 octets of 2 are SACKed, and 3, before the timeout (SACKed after it, data the
    // timeout had not resent would show it spurious: RFC 5682 F-RTO, timestamps being off here).
    t.step(1);
    t.send({ seq: R, ack: S(t, 1), flags: ACK, options: { sackBlocks: [{ left: S(t, 2) + 100, right: S(t, 4) }] } });
    t.advance(t.layer.pollAt());
    t.drain();
    // 1 arrives after the timeout.
    t.step(1);
    t.send({ seq: R, ack: S(t, 2), flags: ACK, options: { sackBlocks: [{ left: S(t, 2) + 100, right: S(t, 4) }] } });
    const segs = t.drain();
    expect(segs.map((s) => [s.seq, s.payload.length])).toEqual([[S(t, 2), 100]]);
  });
});
