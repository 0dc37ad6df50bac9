/**
 * Loss recovery of one connection's sending side, over the SACK scoreboard:
 *  - entry and exit: RFC 5681 §3.2 fast retransmit / RFC 6582 NewReno (no SACK blocks),
 *    RFC 6675 §5 SACK-based recovery (RecoveryPoint, HighRxt, RescueRxt, NextSeg, SetPipe);
 *  - RACK-TLP glue (RFC 8985): time-based loss marking feeds recovery (`rackDetect`), the
 *    pipe as RACK counts it, a probe that repaired a loss (§7.4), a lost retransmission
 *    (§9.3); RACK's own state (sent log, timers' arithmetic) is in rack.ts;
 *  - undo of spurious recoveries: D-SACK detection (RFC 3708) and Eifel detection with
 *    timestamps (RFC 3522) at the recovery's end and on partial ACKs (Linux's
 *    tcp_try_undo_partial), the window restored through `CongestionControl.onUndo`;
 *  - how much a SACK recovery sends: Proportional Rate Reduction (RFC 6937, as Linux's
 *    tcp_cwnd_reduction and RFC 9937's choice of bound): the window goes down to ssthresh
 *    over the round trip in proportion to what the peer delivers, not in one step.
 *
 * It owns the recovery variables and works on the connection through `RecoveryHost`
 * (the sequence variables, the congestion controller and a way to retransmit), not on
 * the whole connection. The connection's `input` calls in at the ACK steps, `output`
 * for NextSeg(), and the timers at RTO and RACK's reordering timeout.
 */
import type { CongestionControl } from './congestion.js';
import type { Rack } from './rack.js';
import type { Scoreboard } from './scoreboard.js';
import { seqAdd, seqDiff, seqGe, seqGt, seqLe, seqLt } from './seq.js';
import type { SackBlock } from './wire.js';

/** What recovery reads and drives of its connection. */
export interface RecoveryHost {
  /** SND.UNA (RFC 6675 HighACK) */
  readonly sndUna: number;
  readonly sndNxt: number;
  /** SND.MAX, the highest sequence number sent (RFC 6675 HighData) */
  readonly sndMax: number;
  /** SMSS */
  readonly sndMss: number;
  /** both SYNs carried SACK-permitted (RFC 2018 §2) */
  readonly sackOk: boolean;
  /**
   * RFC 5682 F-RTO may judge a timeout (SACK-enhanced, §3): SACK on and timestamps off (with
   * timestamps RFC 3522 Eifel detection does it, onAckAfterRto).
   */
  readonly frtoOk: boolean;
  readonly srtt: number;
  readonly rto: number;
  /** the retransmission timer's deadline (RFC 6298), ms; Infinity when unarmed */
  rtxAt: number;
  /** RACK's reordering timer (RFC 8985 §6.3) */
  rackAt: number;
  /** the tail loss probe timer (RFC 8985 §7.2) */
  tlpAt: number;
  readonly cc: CongestionControl;
  /** RACK-TLP state, when RACK runs on this connection */
  readonly rack: Rack | undefined;
  /** Sends the segment at `seq` with at most `maxData` octets; returns the sequence space used (0: nothing sent). */
  transmitAt(seq: number, maxData: number, now: number): number;
  /** Retransmits the earliest unacknowledged segment (RFC 5681 §3.2 step 3, RFC 6582 §3.2 step 5). */
  retransmitFirst(now: number): void;
  /** Our TSval clock (RFC 7323 §5.4). */
  tsNow(now: number): number;
  /** The window was reduced (RFC 3168 §6.1.2: the next new data carries CWR). */
  noteReduction(): void;
  /**
   * Go-back-N after a timeout stops where it is: SND.NXT = SND.MAX (what it had yet to
   * resend is marked lost in RACK's log first, so a recovery resends it from there).
   */
  endGoBackN(): void;
}

/** The layer's counters recovery increments (names as in `TcpStats`). */
export interface RecoveryCounters {
  FastRetransmits: number;
  SackRecoveries: number;
  SackRetransmits: number;
  RackRecoveries: number;
  RackLostBytes: number;
  LostRetransmits: number;
  TlpRecoveries: number;
  SpuriousRecoveries: number;
  /** Spurious recoveries undone at a partial ACK (Linux's TCPPartialUndo). */
  PartialUndos: number;
  /** Partial ACKs that showed reordering with retransmissions outstanding: nothing more resent on them. */
  PartialUndoHolds: number;
  /** Retransmission timeouts that found the receiver reneging on its SACKs: the scoreboard expunged (Linux's TCPSACKReneging). */
  SackRenegings: number;
  /** Retransmission timeouts with data outstanding (Linux's TCPTimeouts). */
  RetransTimeouts: number;
  /** Retransmission timeouts shown spurious by RFC 3522 Eifel detection and undone (Linux's TCPLossUndo). */
  LossUndos: number;
  /** Retransmissions sent after a timeout that RACK found lost again: a recovery started from the timeout's go-back-N (Linux's FLAG_LOST_RETRANS in TCP_CA_Loss). */
  RtoLostRetransmits: number;
  /** Retransmission timeouts shown spurious by RFC 5682 F-RTO and undone (Linux's TCPSpuriousRTOs); also counted in LossUndos. */
  SpuriousRtos: number;
}

/** The connection's own statistics recovery increments (names as in `TcpConnectionStats`). */
export interface RecoveryStats {
  sackRecoveries: number;
  sackRetransmits: number;
}

export class LossRecovery {
  /** A fast recovery (RFC 5681 §3.2 / RFC 6582, RFC 6675 §5 or RACK's) is under way. */
  inRecovery = false;
  /** RFC 6582 "recover" (RFC 6675 RecoveryPoint); after a timeout, the highest sent. */
  recover = 0;
  /** The current recovery (inRecovery) is run by RFC 6675 §5, not RFC 6582. */
  sackRecovery = false;
  /** RFC 6675 HighRxt, as an exclusive end: one past the highest octet retransmitted by NextSeg. */
  highRxt = 0;
  /**
   * RFC 6675 §4 rule 4 RescueRxt: a rescue retransmission needs HighACK > RescueRxt.
   * Set to HighACK on entering recovery (so the rescue waits for the cumulative ACK to advance
   * in this recovery: Linux has no rule 4 at all, and a rescue before any partial ACK only
   * duplicates a tail that is still in flight), and to RecoveryPoint once sent.
   */
  rescueRxt = 0;
  /** The current recovery proved spurious while ranges were still marked lost: undo at its end. */
  undoAtExit = false;
  /** This recovery already reduced again for a lost retransmission (RFC 8985 §9.3). */
  lostRtxReduced = false;
  // --- Proportional Rate Reduction (RFC 6937 §3.1), in SACK recovery ---
  /** RFC 6937 prr_delivered: octets the peer delivered (cumulatively or selectively) since the recovery began. */
  prrDelivered = 0;
  /** RFC 6937 prr_out: octets sent (retransmitted or new) since the recovery began. */
  prrOut = 0;
  /** RFC 6937 RecoverFS: FlightSize (SND.NXT - SND.UNA) when the recovery began. */
  recoverFs = 0;
  /** What may still be sent on the last ACK's sndcnt (RFC 6937: cwnd = pipe + sndcnt), octets. */
  prrAllow = 0;
  /** The retransmission that started this recovery whatever the window, not yet weighed against an ACK's sndcnt. */
  private prrForced = 0;
  /**
   * This ACK showed, by Eifel detection on a partial ACK, that the network reordered more than
   * RACK allowed for while retransmissions are outstanding: it marks and resends nothing (see
   * undoPartial); cleared when the ACK's sending is done.
   */
  holdRetransmits = false;
  /** Our TS clock at the recovery's first retransmission (RFC 3522 Eifel detection). */
  retransTs = 0;
  retransTsSet = false;
  /**
   * The timeout episode under way (SND.UNA below "recover" after an RTO) began from the open
   * state, so it may be undone (Linux's tcp_enter_loss calls tcp_init_undo only then); `rtoTs`
   * is our TS clock at its first retransmission (Linux's retrans_stamp) for Eifel detection.
   */
  rtoUndo = false;
  rtoTs = 0;
  /** A retransmission timeout fired and SND.UNA has not passed its "recover" since (see inLossState). */
  private afterRto = false;
  /** The recovery under way began from a timeout's loss state (a retransmission lost again). */
  private fromRto = false;
  /**
   * RFC 5682 F-RTO (SACK-enhanced, §3.1, as Linux's tcp_process_loss) in the timeout's loss
   * state: 0 off; 1 step 2, the timeout's retransmission of SND.UNA sent, waiting for an ACK
   * that advances SND.UNA; 2 step 3, new data sent in place of further retransmissions,
   * waiting for the next ACK. Go-back-N holds while 2 (the connection's output).
   */
  frto: 0 | 1 | 2 = 0;
  /**
   * F-RTO's end of the data sent before the timeout (RFC 5682 RecoveryPoint, Linux's high_seq),
   * moved to SND.MAX when step 2b sends new data: octets below it the timeout did not resend.
   */
  private frtoHigh = 0;
  /** Step 2b: new data the connection's output may send now in place of retransmissions, octets (RFC 5682: up to two segments). */
  frtoNew = 0;

  constructor(
    private readonly host: RecoveryHost,
    /** the peer's SACKed ranges (RFC 6675 §3) */
    readonly sb: Scoreboard,
    private readonly counters: RecoveryCounters,
    private readonly stats: RecoveryStats,
  ) {}

  // ------------------------------------------------------------------ entry and exit

  /**
   * RFC 5681 §3.2 / RFC 6582 §3.2 steps 2-3, RFC 6675 §5 step (4): a duplicate ACK
   * (the `dupAcks`-th in a row, already counted) may start a recovery.
   */
  onDupAck(dupAcks: number, now: number): void {
    const h = this.host;
    const sb = this.sb;
    // RFC 8985 §6: with RACK and a scoreboard, losses are marked by time (rackOnAck), not
    // by counting duplicates. Without SACK blocks the DupThresh rule below still applies.
    if (h.rack !== undefined && sb.count > 0) return;
    // RFC 6675 §5: with a scoreboard, recovery also starts when IsLost(HighACK + 1) (§5 (a)).
    const sack = h.sackOk && sb.count > 0;
    if (!this.inRecovery && (dupAcks === 3 || (sack && dupAcks < 3 && seqLt(h.sndUna, sb.lostEnd(h.sndUna, h.sndMss))))) {
      // RFC 6582 §3.2 step 2 (and §4.1), RFC 6675 §5 step (4) note: only when the ACK covers more than "recover".
      if (!seqGe(h.sndUna, this.recover)) return;
      this.inRecovery = true;
      this.fromRto = false;
      this.recover = h.sndMax; // RFC 6675 §5 (4.1): RecoveryPoint = HighData
      h.cc.onEnterRecovery(seqDiff(h.sndMax, h.sndUna));
      h.noteReduction();
      h.rack?.undoBegin();
      this.undoAtExit = false;
      this.retransTsSet = false;
      if (h.rack !== undefined) { h.rack.tlpActive = false; h.tlpAt = Infinity; }
      this.counters.FastRetransmits++;
      if (sack) {
        // RFC 6675 §5 (4.2)-(4.3): cwnd = ssthresh (see cwnd()), retransmit HighACK + 1, HighRxt past it.
        // A peer that negotiated SACK but sent no blocks gets RFC 6582 recovery instead.
        this.sackRecovery = true;
        this.rescueRxt = h.sndUna;
        this.highRxt = h.sndUna;
        this.prrStart();
        this.counters.SackRecoveries++;
        this.stats.sackRecoveries++;
        const seq = this.nextHoleStart();
        const len = sb.holeLength(seq, h.sndMax, h.sndMax, h.sndMss);
        if (len > 0) this.retransmit(seq, len, true, now);
      } else {
        h.retransmitFirst(now);
      }
      h.rtxAt = now + h.rto;
    } else if (this.inRecovery && !this.sackRecovery) {
      h.cc.onDupAckInRecovery(); // may allow new data: output() runs after input
    }
  }

  /**
   * SND.UNA advanced to `ack` (`dataAcked` octets of data) during a recovery. `tsEcr`: the
   * ACK's echoed timestamp, 0 without one (or without timestamps on the connection).
   */
  onAckInRecovery(ack: number, dataAcked: number, tsEcr: number, now: number): void {
    const h = this.host;
    if (seqGe(ack, this.recover)) {
      // RFC 6582 §3.2 step 4 / RFC 6675 §5 (A): full acknowledgment (SND.UNA >= RecoveryPoint) ends recovery.
      const sack = this.sackRecovery;
      this.inRecovery = false;
      this.sackRecovery = false;
      const rack = h.rack;
      if ((this.undoAtExit || (rack !== undefined && rack.undoAtRecoveryEnd(this.echoedBeforeRetransmit(tsEcr)))) &&
        h.cc.onUndo !== undefined) {
        this.undoAtExit = false;
        h.cc.onUndo();
        this.counters.SpuriousRecoveries++;
      } else {
        // RFC 6582 §3.2 step 4 option 1 deflates the window NewReno inflated. SACK recovery
        // (RFC 6675 §5) never inflated it: it ran at cwnd = ssthresh and ends there (as
        // Linux), not at FlightSize + SMSS, which after a recovery is often next to nothing.
        h.cc.onExitRecovery(sack ? Number.MAX_SAFE_INTEGER : seqDiff(h.sndMax, h.sndUna));
      }
      h.rack?.onRecoveryExit();
    } else if (this.sackRecovery) {
      // RFC 6675 §5 (C): a partial ACK only updates the scoreboard; NextSeg() runs in
      // output(). The timer restarts on new data acknowledged (RFC 6298 §5.3).
      h.rtxAt = now + h.rto;
      const rack = h.rack;
      if (rack !== undefined && rack.undoActive && this.echoedBeforeRetransmit(tsEcr)) this.undoPartial(rack);
    } else {
      // RFC 6582 §3.2 step 5: partial ACK: retransmit the first unacknowledged segment, deflate.
      h.cc.onPartialAck(dataAcked);
      h.retransmitFirst(now);
      h.rtxAt = now + h.rto;
    }
  }

  /**
   * RFC 6298 §5.5-§5.7 with RFC 6582 §3.2 (recover := highest sent after a timeout): the
   * recovery ends. The SACK scoreboard survives the timeout unless the receiver shows it
   * reneged, as Linux's tcp_timeout_mark_lost: RFC 2018 §8 said to expunge it, but RFC 6675
   * §5.1 notes that with a robust test for reneging an implementation may keep and use it
   * across the timeout (RFC 2018 Errata 1610), and RFC 8985 §6.3 marks lost on an RTO only
   * what is not SACKed. Linux's test: the segment at SND.UNA is itself marked SACKed (the
   * receiver holds it by its SACKs yet its cumulative ACK does not pass it): then every mark
   * goes (TCPSACKReneging). Kept, go-back-N resends only the holes (output's sackSkip), not
   * a whole window the peer already holds. Returns whether the scoreboard was expunged.
   */
  onRto(now: number): boolean {
    const h = this.host;
    this.counters.RetransTimeouts++;
    // RFC 3522 / Linux's tcp_enter_loss: an episode that begins with this timeout (not a fast
    // recovery under way, not a timeout repeated before SND.UNA passed the last one's
    // "recover") may turn out spurious; its first retransmission, which follows at once, is
    // stamped now. A repeated timeout keeps the stamp of the first.
    if (this.inRecovery) this.rtoUndo = false;
    else if (!this.inLossState()) { this.rtoUndo = true; this.rtoTs = h.tsNow(now); }
    // RFC 5682 §3.1 step 1: F-RTO only for a timeout with no recovery under way (one that
    // begins an episode, as for Eifel above); a repeated timeout goes back to conventional
    // RTO recovery ("If RecoveryPoint >= SND.UNA, do not enter step 2").
    this.frto = h.frtoOk && !this.inRecovery && !this.inLossState() ? 1 : 0;
    this.frtoHigh = h.sndMax;
    this.frtoNew = 0;
    this.afterRto = true;
    this.inRecovery = false;
    this.sackRecovery = false;
    this.recover = h.sndMax;
    this.sb.prune(h.sndUna);
    const reneged = this.sb.count > 0 && seqLe(this.sb.left(0), h.sndUna);
    if (reneged) {
      this.sb.clear();
      this.counters.SackRenegings++;
    }
    this.highRxt = h.sndUna;
    this.undoAtExit = false;
    return reneged;
  }

  /**
   * After a retransmission timeout, until SND.UNA reaches "recover" (RFC 6582 §3.2, the
   * highest sequence sent when it fired) and no fast recovery began since: Linux's TCP_CA_Loss,
   * RFC 8985's "RTO recovery". (recover <= SND.MAX too: a "recover" left 2^31 octets behind
   * by a long clean transfer would pass seqLt again.)
   */
  /**
   * The timeout's episode: its loss state, or a recovery that began there. What is resent in it
   * is nearly all retransmissions (rack.ts onAck's `sackEchoUseless`).
   */
  inRtoEpisode(): boolean {
    return this.inLossState() || (this.inRecovery && this.fromRto);
  }

  inLossState(): boolean {
    const h = this.host;
    return this.afterRto && !this.inRecovery && seqLt(h.sndUna, this.recover) && seqLe(this.recover, h.sndMax);
  }

  /**
   * A new cumulative ACK (SND.UNA already moved to `ack`) while not in a fast recovery; `wasLoss`:
   * the connection was in the timeout's loss state before it. As Linux's tcp_process_loss with
   * tcp_try_undo_loss: when the ACK echoes a timestamp from before the episode's first
   * retransmission (RFC 3522 Eifel detection, Linux's tcp_packet_delayed), what it acknowledges
   * had arrived before anything was resent: the timeout was spurious (typically every ACK of a
   * flight lost, not the data). The window from before the timeout is restored (RFC 4015 §1
   * leaves the response open; Linux's tcp_undo_cwnd_reduction: cwnd = max(cwnd, prior_cwnd),
   * ssthresh = max(ssthresh, prior_ssthresh)) and the loss state ends: go-back-N stops, what it
   * had not resent counts as in flight again (Linux clears the lost marks; RACK marks it lost
   * later if it was). Returns true when the timeout was undone.
   */
  onAckAfterRto(wasLoss: boolean, tsEcr: number, frtoOrig = 0): boolean {
    if (!wasLoss) { this.frto = 0; return false; }
    const h = this.host;
    // RFC 5682 §3.1 (as Linux's FLAG_ORIG_SACK_ACKED): the ACK delivered data the timeout had
    // not resent (acknowledged or SACKed below RecoveryPoint): the originals were still in flight.
    const frtoSpurious = this.frto !== 0 && this.frtoOriginals() < frtoOrig;
    if (!seqLt(h.sndUna, this.recover)) {
      // RFC 8985 §6.2 step 4: "exiting Fast or RTO recovery" counts towards the reset of the
      // reordering window's multiplier, as a fast recovery's end does.
      h.rack?.onRecoveryExit();
      this.afterRto = false;
    }
    const eifel = tsEcr !== 0 && seqLt(tsEcr, this.rtoTs);
    if (!this.rtoUndo || !(eifel || frtoSpurious) || h.cc.onUndo === undefined) {
      if (!seqLt(h.sndUna, this.recover)) this.rtoUndo = false;
      this.frtoStep(true, false);
      return false;
    }
    this.undoLoss(frtoSpurious && !eifel);
    return true;
  }

  /**
   * An ACK that did not advance SND.UNA in the timeout's loss state with F-RTO under way
   * (`frtoOrig`: frtoOriginals() before its SACK blocks; `news`: a duplicate ACK or one that
   * SACKed new data). RFC 5682 §3.1 / Linux's tcp_process_loss: SACKed data the timeout had not
   * resent shows the timeout spurious (undone); in step 3 any other duplicate ACK or new SACK
   * shows the loss real (F-RTO ends, go-back-N resumes: step 3a); in step 2 it waits.
   */
  frtoOnAck(frtoOrig: number, news: boolean): void {
    if (this.frto === 0) return;
    if (!this.inLossState()) { this.frto = 0; return; }
    if (this.rtoUndo && this.host.cc.onUndo !== undefined && this.frtoOriginals() < frtoOrig) {
      this.undoLoss(true);
      return;
    }
    this.frtoStep(false, news);
  }

  /**
   * Octets below F-RTO's RecoveryPoint that the timeout has not resent and the peer has not
   * acknowledged nor SACKed: [max(SND.UNA, SND.NXT), RecoveryPoint) less SACKed (go-back-N
   * resent [SND.UNA, SND.NXT) at most: it holds during F-RTO). 0 without F-RTO.
   */
  frtoOriginals(): number {
    if (this.frto === 0) return 0;
    const h = this.host;
    const from = seqGt(h.sndNxt, h.sndUna) ? h.sndNxt : h.sndUna;
    return seqLt(from, this.frtoHigh) ? this.sb.unsackedIn(from, this.frtoHigh) : 0;
  }

  /**
   * F-RTO's next step once the ACK did not show the timeout spurious; `advanced`: it moved
   * SND.UNA; `news`: a duplicate ACK or new SACK information.
   */
  private frtoStep(advanced: boolean, news: boolean): void {
    if (this.frto === 0) return;
    if (!this.inLossState()) { this.frto = 0; return; } // 2a: RecoveryPoint covered; or a recovery began
    if (this.frto === 1) {
      if (!advanced) return; // step 2: duplicate ACKs before the retransmission's ACK: wait
      // Step 2b: up to two new segments instead of more retransmissions; their fate decides.
      this.frtoHigh = this.host.sndMax;
      this.frtoNew = 2 * this.host.sndMss;
      this.frto = 2;
      return;
    }
    // Step 3a: the loss was real (a duplicate ACK or SACK of the new data, or the cumulative
    // ACK moved without originals, which cannot be a delayed flight): conventional recovery.
    if (advanced || news) this.frto = 0;
  }

  /**
   * The timeout was spurious (Eifel, or F-RTO when `frto`): the window from before it is restored
   * (Linux's tcp_undo_cwnd_reduction) and the loss state ends.
   */
  private undoLoss(frto: boolean): void {
    const h = this.host;
    this.rtoUndo = false;
    this.afterRto = false;
    this.frto = 0;
    this.frtoNew = 0;
    this.recover = h.sndUna;
    h.rack?.clearLost();
    h.endGoBackN();
    h.cc.onUndo!();
    this.counters.LossUndos++;
    if (frto) this.counters.SpuriousRtos++;
  }

  /**
   * Linux's tcp_try_undo_partial: a partial ACK echoes a timestamp from before the recovery's
   * first retransmission (RFC 3522 Eifel detection), so the hole at SND.UNA was filled by the
   * original, delayed, not by a retransmission: the network reorders more than RACK allowed
   * for. As Linux: reordering is noted (RACK's window widens, RFC 8985 §6.2 step 4); with
   * retransmissions still outstanding (they may be as unneeded as this one) this ACK clocks out
   * new data only and marks and resends nothing more ("we clock out new packets but do not mark
   * more packets lost or retransmit more"); with none outstanding and nothing left marked lost,
   * the reduction is undone now (RFC 9438 §4.9) rather than when the recovery ends.
   */
  private undoPartial(rack: Rack): void {
    const h = this.host;
    rack.reorderingSeen = true;
    const outstanding = seqLt(h.sndUna, this.highRxt) && this.sb.unsackedIn(h.sndUna, this.highRxt) > 0;
    if (outstanding || rack.lostBytes > 0) {
      this.holdRetransmits = true;
      this.counters.PartialUndoHolds++;
      return;
    }
    this.inRecovery = false;
    this.sackRecovery = false;
    this.undoAtExit = false;
    rack.undoEnd();
    rack.onRecoveryExit();
    if (h.cc.onUndo === undefined) return;
    h.cc.onUndo();
    this.counters.SpuriousRecoveries++;
    this.counters.PartialUndos++;
  }

  /**
   * RFC 3522 (Eifel detection, as Linux's tcp_packet_delayed): the ACK echoes a timestamp
   * (`tsEcr`, 0: none) older than the recovery's first retransmission, so an original, not a
   * retransmission, completed it. False without timestamps or retransmissions.
   */
  echoedBeforeRetransmit(tsEcr: number): boolean {
    return this.retransTsSet && tsEcr !== 0 && seqLt(tsEcr, this.retransTs);
  }

  // ------------------------------------------------------------------ NextSeg and SetPipe (RFC 6675 §4)

  /**
   * RFC 6675 §4 SetPipe(): the octets in flight (with RACK: RFC 8985 §6.2 as Linux counts
   * them, see rackPipe).
   */
  pipe(): number {
    const h = this.host;
    if (h.rack !== undefined) return this.rackPipe(h.rack);
    return this.sb.pipe(h.sndUna, h.sndMax, this.highRxt, h.sndMss);
  }

  /**
   * What a SACK recovery may send now, octets: RFC 6937's sndcnt of the last ACK less what was
   * sent since (cwnd = pipe + sndcnt). RFC 6675 §5 (4.2) set cwnd = ssthresh at once instead.
   */
  sendBudget(): number {
    return this.prrAllow;
  }

  /** RFC 6937 §3.1, on entering a SACK recovery: prr_delivered = prr_out = 0, RecoverFS = snd.nxt - snd.una. */
  private prrStart(flight?: number): void {
    const h = this.host;
    this.prrDelivered = 0;
    this.prrOut = 0;
    this.prrAllow = 0;
    this.prrForced = 0;
    // RFC 6937's RecoverFS (RFC 9937 takes pipe instead; Linux takes the cwnd before the cut,
    // prior_cwnd): with FlightSize, CUBIC's ssthresh = 0.7 FlightSize gives sndcnt = 0.7 of
    // what is delivered, exactly its multiplicative decrease spread over the round trip.
    // After a timeout only what go-back-N resent is in flight (`flight`), not SND.NXT - SND.UNA.
    this.recoverFs = Math.max(flight ?? seqDiff(h.sndMax, h.sndUna), h.sndMss);
  }

  /** Octets sent in a SACK recovery (new data by the connection's send loop, retransmissions here): RFC 6937 prr_out. */
  noteSent(octets: number): void {
    this.prrOut += octets;
    this.prrAllow -= octets;
    // The first retransmission of a recovery goes whatever the window (RFC 6675 §5 (4.3)).
    if (this.prrOut === octets) this.prrForced = octets;
  }

  /**
   * RFC 6937 §3.1 "on every ACK during recovery": `delivered` is DeliveredData (the change in
   * SND.UNA plus the change in SACKed octets); `safe`: the ACK advanced SND.UNA and marked no
   * new loss. The bound that applies once pipe is at or below ssthresh is chosen as RFC 9937
   * and Linux's tcp_cwnd_reduction choose it: the Slow Start Reduction Bound (catch up to
   * ssthresh, at most DeliveredData + 1 SMSS per ACK) only on such a safe ACK, else the
   * Conservative Reduction Bound (packet conservation: no more than was delivered).
   */
  prrOnAck(delivered: number, safe: boolean): void {
    if (!this.sackRecovery || delivered <= 0) return; // Linux: nothing delivered, nothing more to send
    const h = this.host;
    this.prrDelivered += delivered;
    // The entering ACK's own retransmission (sent before this ACK's sndcnt was known) is weighed
    // as Linux weighs it: sndcnt is computed without it, then at least covers it
    // (tcp_cwnd_reduction: sndcnt = max(sndcnt, prr_out ? 0 : 1)), and what it used is taken off.
    const forced = this.prrForced;
    this.prrForced = 0;
    const out = this.prrOut - forced;
    const pipe = this.pipe() - forced;
    const ssthresh = h.cc.ssthresh;
    let sndcnt: number;
    if (pipe > ssthresh) {
      // Proportional Rate Reduction: sndcnt = CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out,
      // the CEIL in segments as RFC 6937 §5's examples and Linux (which counts packets) take it:
      // in bytes it would lag one ACK behind the figure (half a segment allowed, none sent).
      const mss = h.sndMss;
      sndcnt = Math.ceil((this.prrDelivered * ssthresh) / this.recoverFs / mss) * mss - out;
    } else {
      // The reduction bound: packet conservation, max(prr_delivered - prr_out, DeliveredData)
      // (Linux's form of the CRB), plus one SMSS on a safe ACK (the SSRB), at most up to ssthresh.
      const limit = Math.max(this.prrDelivered - out, delivered) + (safe ? h.sndMss : 0);
      sndcnt = Math.min(ssthresh - pipe, limit);
    }
    if (forced > 0 && sndcnt < forced) sndcnt = forced;
    sndcnt -= forced;
    this.prrAllow = sndcnt > 0 ? sndcnt : 0;
  }

  /**
   * ssthresh went down again during this SACK recovery (a lost retransmission, RFC 5681 §4.3 /
   * RFC 8985 §9.3): what the last ACK's sndcnt left (`prrAllow`, computed against the old
   * ssthresh) is weighed again at once against the new one, never raised: RFC 6937 §3.1 with the
   * new ssthresh and no new delivery, i.e. CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out
   * while pipe > ssthresh (nothing, typically: the recovery has already sent its share of the
   * old target), else at most ssthresh - pipe. This happens on RACK's reordering timer, between
   * ACKs (an ACK's own reduction is followed by its prrOnAck, unless it delivered nothing), and
   * is what Linux does whenever ssthresh changes: cwnd = pipe + sndcnt is recomputed with the
   * new ssthresh before anything more is sent (tcp_rack_reo_timeout: tcp_enter_recovery, then
   * tcp_cwnd_reduction; an ACK's reduction is followed by tcp_cwnd_reduction in tcp_cong_control).
   * Linux itself does not reduce twice in TCP_CA_Recovery (tcp_fastretrans_alert only enters a
   * recovery for a lost retransmission from TCP_CA_Loss): the second cut is RFC 5681's rule.
   * Without this, pipe stayed above the new ssthresh by the old budget (the window checker of
   * test/rack-sim.test.ts, newreno seed 156 at 2 % bursty loss: 4 segments with pipe 34752
   * over an ssthresh of 26788).
   */
  prrRebound(): void {
    if (!this.sackRecovery || this.prrAllow <= 0) return;
    const h = this.host;
    const ssthresh = h.cc.ssthresh;
    const pipe = this.pipe();
    const mss = h.sndMss;
    const allow = pipe > ssthresh
      ? Math.ceil((this.prrDelivered * ssthresh) / this.recoverFs / mss) * mss - this.prrOut
      : ssthresh - pipe;
    if (allow < this.prrAllow) this.prrAllow = allow > 0 ? allow : 0;
  }

  /** The first unSACKed sequence number at or above max(HighACK, HighRxt) (NextSeg's search start). */
  private nextHoleStart(): number {
    const una = this.host.sndUna;
    return this.sb.holeStart(seqGt(this.highRxt, una) ? this.highRxt : una);
  }

  /** Retransmits `len` octets at `seq` for NextSeg(); `high` moves HighRxt (not for rule 4). */
  private retransmit(seq: number, len: number, high: boolean, now: number): number {
    const used = this.host.transmitAt(seq, len, now);
    if (used === 0) return 0;
    this.noteSent(used);
    if (high) this.highRxt = seqAdd(seq, used);
    this.stats.sackRetransmits++;
    this.counters.SackRetransmits++;
    return used;
  }

  /**
   * RFC 6675 §5 (C) with NextSeg() rules 1 (`lost`), or 3 and 4: retransmits while
   * cwnd - pipe >= 1 SMSS. Rule 2 (new data) is the ordinary send loop in the connection's
   * output(), run between the two with the budget left. With RACK: what RACK marked lost.
   */
  send(lost: boolean, now: number): boolean {
    const h = this.host;
    if (h.rack !== undefined) return lost && !this.holdRetransmits && this.rackSend(h.rack, now);
    const sb = this.sb;
    const mss = h.sndMss;
    let sent = false;
    while (sb.count > 0 && this.prrAllow > 0) {
      // Rule 1: the first unSACKed octet > HighRxt, below the highest SACKed octet, IsLost.
      // Rule 3: the same without IsLost (rule 1 found nothing), still below the highest SACKed octet.
      const seq = this.nextHoleStart();
      const len = sb.holeLength(seq, lost ? sb.lostEnd(h.sndUna, mss) : sb.highest(), h.sndMax, mss);
      // A segment goes when it fits in what PRR allows (a full one needs cwnd - pipe >= SMSS).
      if (len === 0 || len > this.prrAllow) break;
      if (this.retransmit(seq, len, true, now) === 0) break;
      sent = true;
    }
    if (!lost && seqGt(h.sndUna, this.rescueRxt) && seqLt(h.sndUna, h.sndMax) && this.prrAllow >= mss) {
      // Rule 4 (rescue retransmission, once per recovery): a segment holding the highest
      // outstanding unSACKed octet, when it is above every SACKed range; HighRxt stays.
      const top = sb.count > 0 ? sb.highest() : h.sndUna;
      let low = seqGt(top, h.sndUna) ? top : h.sndUna;
      if (seqGt(this.highRxt, low)) low = this.highRxt;
      if (seqLt(low, h.sndMax)) {
        this.rescueRxt = this.recover;
        const len = Math.min(mss, seqDiff(h.sndMax, low), this.prrAllow);
        if (this.retransmit(seqAdd(h.sndMax, -len), len, false, now) > 0) sent = true;
      }
    }
    return sent;
  }

  // ------------------------------------------------------------------ RACK-TLP glue (RFC 8985)

  /**
   * RFC 8985 §6.2 steps 4-5 and §7.4 after an ACK was processed; `dsack` the ACK's D-SACK
   * block, if any; `flightBefore` is FlightSize before it.
   */
  rackOnAck(rack: Rack, ack: number, dsack: SackBlock | undefined, dupAckWithoutSack: boolean, flightBefore: number, now: number): void {
    const h = this.host;
    if (dsack !== undefined) {
      rack.onDsack(h.sndUna, h.sndNxt);
      if (rack.undoActive && rack.undoOnDsack(dsack.left, dsack.right)) this.undoRecovery(rack);
    }
    if (rack.tlpActive && rack.tlpOnAck(ack, dsack, dupAckWithoutSack)) {
      // §7.4: the probe repaired a loss: the congestion response of a fast recovery, at once,
      // on the FlightSize before this ACK (after it, little or nothing is in flight).
      h.cc.onEnterRecovery(flightBefore);
      h.cc.onExitRecovery(seqDiff(h.sndMax, h.sndUna));
      h.noteReduction();
      this.counters.TlpRecoveries++;
    }
    // Detection only matters where a later-sent segment can have been delivered before an
    // earlier one: holes in the scoreboard, a recovery under way, or a reordering timer.
    if (this.holdRetransmits) return; // Linux's tcp_try_undo_partial: mark nothing more lost on this ACK
    if (this.sb.count > 0 || this.inRecovery || h.rackAt !== Infinity || rack.lostBytes > 0) this.rackDetect(rack, now);
  }

  /**
   * Every retransmission of the last recovery came back as a D-SACK: the recovery was
   * spurious (reordering, not loss; RFC 3708), so its window reduction is undone (RFC 9438
   * §4.9; Linux's tcp_try_undo_dsack). A recovery still under way ends now, unless RACK still
   * holds ranges marked lost: then the undo waits for its end.
   */
  private undoRecovery(rack: Rack): void {
    if (this.inRecovery) {
      if (rack.lostBytes > 0) { this.undoAtExit = true; return; }
      this.inRecovery = false;
      this.sackRecovery = false;
    }
    this.undoAtExit = false;
    const cc = this.host.cc;
    if (cc.onUndo === undefined) return;
    cc.onUndo();
    this.counters.SpuriousRecoveries++;
  }

  /**
   * RFC 8985 §6.2 step 5 and §6.3: mark losses, arm the reordering timer, start recovery.
   * `onTimer`: called by the reordering timer (no ACK being processed).
   */
  rackDetect(rack: Rack, now: number, onTimer = false): void {
    const h = this.host;
    // RFC 8985 §6.2 step 4: with no reordering seen, reo_wnd is 0 "in Fast or RTO recovery"
    // (Linux's tcp_rack_reo_wnd: icsk_ca_state >= TCP_CA_Recovery, which includes TCP_CA_Loss).
    const loss = this.inLossState();
    const reo = rack.reorderWindow(this.inRecovery || loss, Math.floor(this.sb.sackedBytes() / h.sndMss), h.srtt, h.sndUna);
    const timeout = rack.detectLoss(now, reo);
    h.rackAt = timeout > 0 ? now + timeout : Infinity;
    // A recovery starts when anything is marked lost (Linux's tcp_time_to_recover: lost_out),
    // not only on this ACK's new marks: ranges still marked lost when the last recovery ended
    // (sent after its RecoveryPoint) would otherwise wait for the RTO.
    if (rack.newlyLost === 0 && (this.inRecovery || rack.lostBytes === 0)) return;
    const c = this.counters;
    c.RackLostBytes += rack.newlyLost;
    if (this.inRecovery) {
      // RFC 8985 §9.3: a lost retransmission is a new congestion signal; without PRR the
      // window is reduced again, once per recovery.
      if (rack.newlyLostRetrans > 0 && !this.lostRtxReduced) {
        this.lostRtxReduced = true;
        // On the window now in use (never above it: FlightSize has grown with new data), and
        // without a second fast-recovery entry (NewReno's ssthresh + 3 SMSS could even grow a
        // small window): ssthresh = β·that, cwnd = ssthresh, as for an ECN-Echo.
        h.cc.onEcnEcho?.(Math.min(seqDiff(h.sndMax, h.sndUna), h.cc.cwnd));
        h.noteReduction();
        rack.undoEnd(); // a real loss: nothing to undo
        c.LostRetransmits++;
        this.prrRebound();
      }
      return;
    }
    let reduceOn = seqDiff(h.sndMax, h.sndUna);
    if (loss) {
      // After a timeout (SND.UNA below "recover", recovery off) go-back-N resends it all, below
      // SND.NXT once. What RACK marks lost there is a retransmission sent since the timeout and
      // lost again (a mark above SND.NXT is data go-back-N has yet to resend). RFC 8985 §6.2
      // marks losses on every ACK, RTO recovery included; Linux (tcp_fastretrans_alert in
      // TCP_CA_Loss: FLAG_LOST_RETRANS falls through to tcp_enter_recovery) then starts a fast
      // recovery at once instead of waiting for another timeout, a new congestion signal
      // (RFC 8985 §9.3) reducing from the window in use (Linux's ssthresh from the current cwnd).
      const first = rack.firstLost();
      if (first < 0 || !seqLt(first, h.sndNxt)) return;
      const oldNxt = h.sndNxt;
      reduceOn = Math.min(this.sb.unsackedIn(h.sndUna, oldNxt), h.cc.cwnd);
      // The rest of the go-back-N is lost by the timeout's verdict (Linux's tcp_timeout_mark_lost
      // marked it lost when the timer fired): it is resent by the recovery from here, lowest first.
      rack.markLostBetween(oldNxt, h.sndMax);
      h.endGoBackN();
      c.RtoLostRetransmits++;
      this.rtoUndo = false;
    }
    // Not after a timeout but below "recover" (a recovery undone before its end, by D-SACK or
    // by Eifel on a partial ACK, left it there): a new loss starts a new recovery at once, as
    // Linux's: tcp_try_undo_partial / tcp_try_undo_dsack leave the connection in Open or
    // Disorder (tcp_try_keep_open), where tcp_fastretrans_alert enters Recovery as soon as
    // tcp_time_to_recover (RACK marked a loss), with no high_seq guard for a SACK connection.
    // RFC 6582 §3.2 step 2's guard (no second reduction for the same window) has nothing to
    // guard here: the window's reduction was undone. Waiting for SND.UNA to pass "recover"
    // instead, as before, waited for the hole itself: bench --impaired (c) down (20 MiB, seeds
    // 1 and 4) stalled 160-190 ms after each partial undo until the retransmission timeout.
    // RFC 8985 §6.2 (segments marked lost start loss recovery) with RFC 6675 §5 (4.1)-(4.2):
    // RecoveryPoint = HighData, cwnd = ssthresh.
    this.inRecovery = true;
    this.sackRecovery = true;
    this.afterRto = false;
    this.frto = 0; // (a lost retransmission: the loss is real, RFC 5682 §3.1 step 3a)
    this.frtoNew = 0;
    this.fromRto = loss;
    this.recover = h.sndMax;
    this.highRxt = h.sndUna;
    this.rescueRxt = h.sndUna;
    this.prrStart(loss ? reduceOn : undefined);
    h.cc.onEnterRecovery(reduceOn);
    h.noteReduction();
    rack.undoBegin();
    this.undoAtExit = false;
    c.FastRetransmits++;
    c.SackRecoveries++;
    c.RackRecoveries++;
    this.stats.sackRecoveries++;
    // (A recovery started by a lost retransmission after a timeout is that reduction already.)
    this.lostRtxReduced = loss;
    this.retransTsSet = false;
    // RFC 8985 §7: a recovery ends the probe episode.
    h.tlpAt = Infinity;
    rack.tlpActive = false;
    if (h.rtxAt === Infinity) h.rtxAt = now + h.rto;
    // RFC 6675 §5 (4.3): the first lost segment goes at once, whatever cwnd - pipe allows
    // (RACK may mark losses with little of cwnd left: waiting would leave it to the RTO).
    this.rackSend(rack, now, true);
    // Begun by the reordering timer, no ACK weighs that retransmission (prrOnAck runs on ACKs):
    // the next ACK must not take it for its own entering retransmission and subtract it again,
    // or an ACK delivering just that segment allows nothing (RFC 6937's CRB term DeliveredData
    // lost) and, with nothing else in flight, the recovery waits for the RTO (bench --sim (d)
    // seeds 1 and 4, the tail of the transfer). Linux's tcp_rack_reo_timeout: tcp_cwnd_reduction
    // with one packet newly delivered pays for it there.
    if (onTimer) this.prrForced = 0;
  }

  /**
   * Pipe with RACK (RFC 8985 §6.2 with RFC 6675 §4's SetPipe as Linux counts it): unSACKed
   * octets in flight, less those marked lost (a retransmitted range counts once, as the copy
   * in flight).
   */
  private rackPipe(rack: Rack): number {
    const h = this.host;
    const p = this.sb.unsackedIn(h.sndUna, h.sndMax) - rack.lostBytes;
    return p > 0 ? p : 0;
  }

  /**
   * NextSeg() with RACK: retransmit what RACK marked lost, lowest first, while cwnd - pipe
   * >= 1 SMSS (`first`: one segment regardless, at the start of a recovery).
   */
  private rackSend(rack: Rack, now: number, first = false): boolean {
    const h = this.host;
    const sb = this.sb;
    let sent = false;
    // Bounded: each round resends or unmarks a lost range.
    for (let guard = 0; guard < 4096 && (this.prrAllow > 0 || (first && !sent)); guard++) {
      const start = rack.firstLost();
      if (start < 0) break;
      const seq = sb.holeStart(seqLt(start, h.sndUna) ? h.sndUna : start);
      const len = sb.holeLength(seq, rack.lostEnd, h.sndMax, h.sndMss);
      if (len === 0) { rack.unmarkLost(start); continue; }
      // A segment goes when it fits in what PRR allows (a full one needs cwnd - pipe >= SMSS).
      if (len > this.prrAllow && !(first && !sent)) break;
      if (!this.retransTsSet) { this.retransTs = h.tsNow(now); this.retransTsSet = true; }
      const used = this.retransmit(seq, len, true, now);
      if (used === 0) break;
      sent = true;
    }
    return sent;
  }
}
