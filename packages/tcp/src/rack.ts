/**
 * RACK-TLP loss detection (RFC 8985), pure: time is an argument.
 *
 * RACK ("recent acknowledgment") decides that a segment is lost by time, not by
 * counting duplicate ACKs: once a segment sent LATER has been delivered (SACKed or
 * cumulatively acknowledged), an earlier one still missing after RACK.rtt plus a
 * reordering window is lost (§6.2). The window adapts to the reordering seen
 * (D-SACK rounds widen it, §6.2 step 4), so reordering without loss does not keep
 * cutting cwnd as the DupThresh rule of RFC 5681 / RFC 6675 does.
 *
 * The per-segment state RACK needs (when each range was last sent, whether it was
 * retransmitted, SACKed, or is marked lost) lives in a sent log: ranges of sequence
 * space in ascending order, in preallocated typed arrays that grow by doubling up to
 * `maxRecords` (a connection that never sends holds none). A super-segment is one
 * record; records are split where a SACK block or a retransmission ends inside one.
 * At the bound, adjacent SACKed records are merged first (nothing reads a SACKed
 * record's send time), so a log sized at two records per segment the send buffer can
 * hold in flight (the connection's choice) does not fill. Should it fill all the same,
 * new data extends the newest record (that range then counts as sent at the later
 * time: loss detection for it can only come later, the RTO still backs it; the record
 * is flagged SL_MIXED and gives no RTT sample, since a piece of it split off by a SACK
 * would time bytes sent earlier from the later time) or, when the newest record cannot
 * grow, goes unlogged: RACK never marks unlogged bytes lost (the RTO does).
 *
 * The connection owns the SACK scoreboard (RFC 6675 §3) and the recovery itself;
 * this module only marks and reports lost ranges and the timers of §6.3 and §7.
 */
import { seqDiff, seqGe, seqGt, seqLe, seqLt } from './seq.js';

/** The record was retransmitted (RFC 8985 Segment.retransmitted). */
export const SL_RETRANS = 1;
/** Marked lost and not yet retransmitted (Segment.lost). */
export const SL_LOST = 2;
/** Wholly SACKed. */
export const SL_SACKED = 4;
/**
 * The record's time is not the send time of all its bytes (it was extended, or resent in
 * part, while the log was at its bound): RACK takes no RTT sample from it (see the module
 * comment).
 */
export const SL_MIXED = 8;

/** RFC 8985 §6.2 step 4: the reordering window grows per D-SACK round and resets after 16 D-SACK-free recoveries. */
const REO_WND_PERSIST = 16;
/** RFC 6675 DupThresh, used by RFC 8985 §6.2 step 4 (RACK.segs_sacked >= DupThresh). */
const DUP_THRESH = 3;
/** Retransmissions one recovery may make and still be undone (each must come back as a D-SACK). */
const UNDO_MAX = 32;

export class Rack {
  // --- the sent log: records [head, head + n) of the arrays ---
  start: Uint32Array = EMPTY_U32;
  end: Uint32Array = EMPTY_U32;
  ts: Float64Array = EMPTY_F64;
  /**
   * Transmission order: RACK_sent_after (§6.2) compares send times and breaks ties by
   * sequence number, which presumes that equal times mean sequence order. Within one batch
   * (one clock reading) a retransmission of low sequence numbers can follow new data of
   * higher ones; a counter of transmissions orders them exactly.
   */
  ord: Float64Array = EMPTY_F64;
  fl: Uint8Array = EMPTY_U8;
  /** Transmissions so far (the last one's order). */
  private sends = 0;
  head = 0;
  n = 0;
  /** Bytes in records marked SL_LOST (lost, not yet retransmitted). */
  lostBytes = 0;
  /** End of the record returned by firstLost(). */
  lostEnd = 0;
  /** Bytes newly marked lost by the last detectLoss(). */
  newlyLost = 0;
  /** Of those, bytes of retransmissions (a retransmission lost again). */
  newlyLostRetrans = 0;

  // --- RACK state (RFC 8985 §5.2) ---
  /** RACK.xmit_ts: send time of the most recently sent segment delivered; -Infinity: none. */
  xmitTs = -Infinity;
  /** Its transmission order (see `ord`). */
  xmitOrd = -1;
  /** RACK.end_seq */
  endSeq = 0;
  /** RACK.rtt: the RTT of that segment. */
  rtt = 0;
  /** RACK.min_RTT */
  minRtt = Infinity;
  /** RACK.fack: the highest end sequence delivered. */
  fack = 0;
  private fackSet = false;
  /** RACK.reordering_seen */
  reorderingSeen = false;
  /** RACK.reo_wnd_mult */
  reoWndMult = 1;
  /** RACK.reo_wnd_persist */
  reoWndPersist = REO_WND_PERSIST;
  /** RACK.dsack_round (valid when dsackRoundSet) */
  private dsackRound = 0;
  private dsackRoundSet = false;
  /** The reordering window computed by the last detectLoss(), ms. */
  reoWnd = 0;

  // --- TLP state (RFC 8985 §7) ---
  /** TLP.end_seq is set: a probe is outstanding. */
  tlpActive = false;
  /** TLP.end_seq */
  tlpEndSeq = 0;
  /** TLP.is_retrans */
  tlpIsRetrans = false;

  // --- spurious recovery detection (RFC 3708 with D-SACK; Linux's undo_marker/undo_retrans) ---
  /** A recovery began and every retransmission since may still prove unneeded. */
  undoActive = false;
  private undoL: Uint32Array = EMPTY_U32;
  private undoR: Uint32Array = EMPTY_U32;
  private undoN = 0;
  /** Retransmitted bytes of the episode not yet reported back as D-SACK. */
  private undoLeft = 0;

  constructor(readonly maxRecords: number) {}

  /** A loss recovery begins: its retransmissions are watched for D-SACKs. */
  undoBegin(): void {
    if (this.undoL.length === 0) { this.undoL = new Uint32Array(UNDO_MAX); this.undoR = new Uint32Array(UNDO_MAX); }
    this.undoActive = true;
    this.undoN = 0;
    this.undoLeft = 0;
  }

  /** The episode can no longer be undone (a timeout, or too many retransmissions to track). */
  undoEnd(): void {
    this.undoActive = false;
  }

  private undoOnRetransmit(seq: number, end: number): void {
    if (!this.undoActive) return;
    if (this.undoN === UNDO_MAX) { this.undoActive = false; return; }
    this.undoL[this.undoN] = seq;
    this.undoR[this.undoN] = end;
    this.undoN++;
    this.undoLeft += seqDiff(end, seq);
  }

  /**
   * At the end of a recovery: true when it needed no retransmission that was not shown
   * unneeded (none made, or all reported as D-SACK), or when `delayed` (the ACK that ended
   * it echoes a timestamp from before the first retransmission: RFC 3522): Linux's
   * tcp_may_undo. The caller undoes the reduction.
   */
  undoAtRecoveryEnd(delayed: boolean): boolean {
    if (!this.undoActive || (this.undoLeft > 0 && !delayed)) return false;
    this.undoActive = false;
    if (this.undoN > 0) this.reorderingSeen = true; // what was resent had only been reordered
    return true;
  }

  /**
   * A D-SACK for [l, r): RFC 3708 §3: a retransmission the receiver already had. Returns
   * true when every retransmission of the episode has been reported so: the recovery was
   * spurious (the caller undoes it). A D-SACK of data that was never retransmitted (the
   * network duplicated it) counts for nothing; one D-SACK credits each byte once, even when
   * that byte was retransmitted twice (the second copy brings its own D-SACK).
   */
  undoOnDsack(l: number, r: number): boolean {
    if (!this.undoActive || this.undoN === 0) return false;
    // [cl, cr): what this D-SACK has credited so far (ranges are credited lowest first).
    let cl = 0, cr = 0, credited = false;
    for (let i = 0; i < this.undoN; i++) {
      const a = this.undoL[i]!, b = this.undoR[i]!;
      let ol = seqGt(l, a) ? l : a;
      const or = seqLt(r, b) ? r : b;
      if (credited && seqLt(ol, cr) && seqGe(or, cl)) ol = seqGt(cr, ol) ? cr : ol; // skip bytes already credited
      if (!seqLt(ol, or)) continue;
      this.undoLeft -= seqDiff(or, ol);
      // A D-SACK of a retransmission: the original arrived after all (RFC 8985 §6.2 step 3
      // misses this when every reordered segment was resent; Linux counts it as reordering).
      this.reorderingSeen = true;
      if (!credited || seqLt(ol, cl)) cl = ol;
      if (!credited || seqGt(or, cr)) cr = or;
      credited = true;
      // What remains of the range is the larger side left over.
      if (seqLe(ol, a)) this.undoL[i] = or;
      else this.undoR[i] = ol;
    }
    if (this.undoLeft > 0) return false;
    this.undoActive = false;
    return true;
  }

  /** Records in the log. */
  get length(): number { return this.n; }

  // ---------------------------------------------------------------- the sent log

  /** Room for one more record at the end; false at the bound. */
  private room(): boolean {
    const cap = this.start.length;
    if (this.head + this.n < cap) return true;
    if (this.head > 0) {
      // Compact: move the live records to the front.
      const h = this.head, e = h + this.n;
      this.start.copyWithin(0, h, e); this.end.copyWithin(0, h, e);
      this.ts.copyWithin(0, h, e); this.ord.copyWithin(0, h, e); this.fl.copyWithin(0, h, e);
      this.head = 0;
      return true;
    }
    if (cap >= this.maxRecords) return this.mergeSacked();
    const size = Math.min(this.maxRecords, Math.max(8, cap * 2));
    const s = new Uint32Array(size), en = new Uint32Array(size), t = new Float64Array(size), o = new Float64Array(size), f = new Uint8Array(size);
    s.set(this.start.subarray(0, this.n)); en.set(this.end.subarray(0, this.n));
    t.set(this.ts.subarray(0, this.n)); o.set(this.ord.subarray(0, this.n)); f.set(this.fl.subarray(0, this.n));
    this.start = s; this.end = en; this.ts = t; this.ord = o; this.fl = f;
    return true;
  }

  /**
   * At the bound: merges each run of adjacent wholly SACKed records into one (moving the
   * log to the front). Nothing reads a SACKed record's send time or order (loss detection
   * skips it; it was delivered already), and a SACKed record keeps SACKed until it leaves the
   * log, except when a timeout finds the receiver reneging (onRto), after which go-back-N
   * resends it all anyway. Returns whether a record was freed. Linux's sent log (the skbs of
   * the retransmission queue) has no bound but the send buffer, and merges SACKed skbs too
   * (tcp_shift_skb_data).
   */
  private mergeSacked(): boolean {
    const h = this.head, e = h + this.n;
    let w = 0;
    for (let i = h; i < e; i++) {
      const f = this.fl[i]!;
      if (w > 0 && (f & SL_SACKED) && (this.fl[w - 1]! & SL_SACKED) && this.end[w - 1] === this.start[i]) {
        this.end[w - 1] = this.end[i]!;
        if (this.ord[i]! > this.ord[w - 1]!) { this.ord[w - 1] = this.ord[i]!; this.ts[w - 1] = this.ts[i]!; }
        this.fl[w - 1] = this.fl[w - 1]! | f;
        continue;
      }
      this.start[w] = this.start[i]!; this.end[w] = this.end[i]!;
      this.ts[w] = this.ts[i]!; this.ord[w] = this.ord[i]!; this.fl[w] = f;
      w++;
    }
    this.head = 0;
    const freed = this.n > w;
    this.n = w;
    return freed;
  }

  /**
   * Makes `at` a record boundary if it falls strictly inside a record; returns false
   * when it cannot (the log is at its bound).
   */
  private splitAt(at: number): boolean {
    let r = this.find(at);
    if (r < 0) return true;
    if (this.start[this.head + r] === at) return true;
    if (!this.room()) return false;
    r = this.find(at); // room() may have compacted or merged records
    if (this.start[this.head + r] === at) return true;
    const j = this.head + r;
    const e = this.head + this.n;
    this.start.copyWithin(j + 1, j, e); this.end.copyWithin(j + 1, j, e);
    this.ts.copyWithin(j + 1, j, e); this.ord.copyWithin(j + 1, j, e); this.fl.copyWithin(j + 1, j, e);
    this.n++;
    this.end[j] = at;
    this.start[j + 1] = at;
    return true;
  }

  /** Relative index of the record holding `seq`, or -1 (binary search: records ascend). */
  private find(seq: number): number {
    let lo = 0, hi = this.n - 1;
    const h = this.head;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const i = h + mid;
      if (seqLt(seq, this.start[i]!)) hi = mid - 1;
      else if (seqGe(seq, this.end[i]!)) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /**
   * A transmission of [seq, end): `sndMax` is the highest sequence sent before it.
   * New data is appended; a retransmitted range gets the new send time, RETRANS, and
   * loses LOST (RFC 8985 §6.1: Segment.xmit_ts, Segment.retransmitted).
   */
  onSent(seq: number, end: number, now: number, sndMax: number): void {
    const ord = ++this.sends;
    if (seqLt(seq, sndMax)) {
      const rEnd = seqLt(end, sndMax) ? end : sndMax;
      this.markRetransmitted(seq, rEnd, now, ord);
      this.undoOnRetransmit(seq, rEnd);
      if (seqLe(end, sndMax)) return;
      seq = sndMax;
    }
    if (this.n > 0) {
      const last = this.head + this.n - 1;
      if (this.end[last] === seq && this.fl[last] === 0 && this.ts[last] === now && this.ord[last] === ord - 1) {
        this.end[last] = end; // sent in the same instant, right after: one record
        this.ord[last] = ord;
        return;
      }
    }
    if (!this.room()) {
      const last = this.head + this.n - 1;
      if (this.n > 0 && this.end[last] === seq && (this.fl[last]! & ~SL_MIXED) === 0) {
        this.end[last] = end;
        this.ts[last] = now;
        this.ord[last] = ord;
        this.fl[last] = SL_MIXED;
      }
      return; // otherwise unlogged (see the module comment)
    }
    const i = this.head + this.n;
    this.start[i] = seq; this.end[i] = end; this.ts[i] = now; this.ord[i] = ord; this.fl[i] = 0;
    this.n++;
  }

  private markRetransmitted(seq: number, end: number, now: number, ord: number): void {
    this.splitAt(seq);
    this.splitAt(end);
    let r = this.find(seq);
    if (r < 0) r = this.firstAtOrAbove(seq);
    for (; r < this.n; r++) {
      const i = this.head + r;
      if (seqGe(this.start[i]!, end)) break;
      const f = this.fl[i]!;
      if (f & SL_LOST) {
        // A record that could not be split may reach past `end`: it is resent as a whole.
        this.lostBytes -= seqDiff(this.end[i]!, this.start[i]!);
      }
      // Its time is now that of every byte in it only if all of it was resent.
      const part = seqLt(this.start[i]!, seq) || seqGt(this.end[i]!, end);
      this.fl[i] = (f & ~(SL_LOST | SL_MIXED)) | SL_RETRANS | (part ? SL_MIXED : 0);
      this.ts[i] = now;
      this.ord[i] = ord;
    }
  }

  /** Relative index of the first record starting at or above `seq` (n if none). */
  private firstAtOrAbove(seq: number): number {
    let lo = 0, hi = this.n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (seqLt(this.start[this.head + mid]!, seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  // ---------------------------------------------------------------- on each ACK (§6.2 steps 1-3)

  /** RFC 8985 §6.2 step 1. */
  onRttSample(rtt: number): void {
    if (rtt < this.minRtt) this.minRtt = rtt;
  }

  /**
   * RFC 8985 §6.2 steps 2-3 for one ACK: `una` is its cumulative acknowledgment,
   * `blocks` its SACK blocks (left/right pairs, D-SACK ones included: they are ignored
   * here), `echoTime` the send time its timestamp echoes (-Infinity without one).
   * Records wholly below `una` leave the log.
   */
  onAck(una: number, blocks: readonly { left: number; right: number }[] | undefined, now: number, echoTime: number, sackEchoUseless = false): void {
    // Cumulatively acknowledged records (ascending sequence order).
    while (this.n > 0) {
      const i = this.head;
      const e = this.end[i]!;
      if (seqGt(e, una)) {
        if (seqGt(una, this.start[i]!)) {
          // Partly acknowledged: trim (delivery of a segment is counted when all of it is).
          if (this.fl[i]! & SL_LOST) this.lostBytes -= seqDiff(una, this.start[i]!);
          this.start[i] = una;
        }
        break;
      }
      const f = this.fl[i]!;
      if (f & SL_LOST) this.lostBytes -= seqDiff(e, this.start[i]!);
      if (!(f & SL_SACKED)) this.deliver(i, now, echoTime);
      this.head++;
      this.n--;
    }
    if (this.n === 0) this.head = 0;
    if (blocks === undefined) return;
    for (let b = 0; b < blocks.length; b++) {
      let l = blocks[b]!.left;
      const r = blocks[b]!.right;
      if (!seqLt(l, r) || seqLe(r, una)) continue; // D-SACK below the ACK, or empty
      if (seqLt(l, una)) l = una;
      this.splitAt(l);
      this.splitAt(r);
      for (let k = this.firstAtOrAbove(l); k < this.n; k++) {
        const i = this.head + k;
        if (seqGt(this.end[i]!, r)) break;
        const f = this.fl[i]!;
        if (f & SL_SACKED) continue;
        if (f & SL_LOST) this.lostBytes -= seqDiff(this.end[i]!, this.start[i]!);
        this.fl[i] = (f & ~SL_LOST) | SL_SACKED;
        // A SACK's timestamp echo says nothing of which copy arrived: with a hole below, the
        // receiver echoes the segment before the hole (RFC 7323 §4.3, TS.Recent moves only with
        // SEG.SEQ <= Last.ACK.sent), always older than a retransmission. After a timeout
        // (`sackEchoUseless`) everything go-back-N resends is a retransmission: with the echo
        // test RACK would see none of it delivered and could not find one lost again, so only
        // the min_RTT test applies there, as Linux's tcp_rack_advance has it for every delivery.
        // Elsewhere RFC 8985 §6.2 step 2's echo test stays (nothing changes outside a timeout's
        // episode; applied to every SACK, as Linux does, one reordering-only bench run resent
        // more, weak evidence: see the README).
        this.deliver(i, now, sackEchoUseless ? Infinity : echoTime);
      }
    }
  }

  /** RFC 8985 §6.2 step 2 (RACK_update) and step 3 (RACK_detect_reordering) for a newly delivered record. */
  private deliver(i: number, now: number, echoTime: number): void {
    const xmit = this.ts[i]!;
    const ord = this.ord[i]!;
    const end = this.end[i]!;
    const retrans = (this.fl[i]! & SL_RETRANS) !== 0;
    // Step 3 first (it needs no RTT): delivered below the highest delivered, never retransmitted.
    if (!this.fackSet || seqGt(end, this.fack)) { this.fack = end; this.fackSet = true; }
    else if (seqLt(end, this.fack) && !retrans) this.reorderingSeen = true;
    // A record whose time is not its bytes' send time (SL_MIXED, the log at its bound) would
    // give too small an RTT: a min_RTT of 5 ms on a 10 ms path shrinks the reordering window
    // and marks a reordered window lost. No sample, as for an ambiguous one.
    if (this.fl[i]! & SL_MIXED) return;
    const rtt = now - xmit;
    // §6.2 step 1 from our own send times, which are as fine as the clock (the timestamp
    // option's samples are whole ticks: 0 on a sub-millisecond path).
    if (!retrans && rtt > 0 && rtt < this.minRtt) this.minRtt = rtt;
    if (retrans) {
      // Step 2: an ACK of a retransmitted segment that may be for the original is ambiguous.
      if (echoTime < xmit) return;
      if (rtt < this.minRtt) return;
    }
    if (this.sentAfter(ord, end, this.xmitOrd, this.endSeq)) {
      this.rtt = rtt;
      this.xmitTs = xmit;
      this.xmitOrd = ord;
      this.endSeq = end;
    }
  }

  /**
   * RFC 8985 §6.2 RACK_sent_after(t1, seq1, t2, seq2), on transmission order (see `ord`);
   * pieces of one transmission went out in sequence order.
   */
  private sentAfter(o1: number, seq1: number, o2: number, seq2: number): boolean {
    return o1 > o2 || (o1 === o2 && seqGt(seq1, seq2));
  }

  /**
   * An ACK carried a D-SACK (RFC 2883); `sndUna`/`sndNxt` after it. §6.2 step 4: the
   * first D-SACK of a round widens the reordering window by one step.
   */
  onDsack(sndUna: number, sndNxt: number): void {
    if (this.dsackRoundSet && seqGe(sndUna, this.dsackRound)) this.dsackRoundSet = false;
    if (!this.dsackRoundSet) {
      this.dsackRound = sndNxt;
      this.dsackRoundSet = true;
      this.reoWndMult++;
      this.reoWndPersist = REO_WND_PERSIST;
    }
  }

  /** §6.2 step 4: a recovery (fast or RTO) ended. */
  onRecoveryExit(): void {
    if (--this.reoWndPersist <= 0) {
      this.reoWndMult = 1;
      this.reoWndPersist = REO_WND_PERSIST;
    }
  }

  /**
   * RFC 8985 §6.2 step 4 (RACK_update_reo_wnd): the reordering window, ms.
   * `sackedSegs` is RACK.segs_sacked (SACKed bytes / SMSS).
   */
  reorderWindow(inRecovery: boolean, sackedSegs: number, srtt: number, sndUna: number): number {
    if (this.dsackRoundSet && seqGe(sndUna, this.dsackRound)) this.dsackRoundSet = false;
    if (!this.reorderingSeen && (inRecovery || sackedSegs >= DUP_THRESH)) return 0;
    const minRtt = this.minRtt === Infinity ? srtt : this.minRtt;
    return Math.min(this.reoWndMult * minRtt / 4, srtt);
  }

  /**
   * RFC 8985 §6.2 step 5 (RACK_detect_loss): marks lost every unacknowledged record
   * sent before the most recently delivered one and outstanding for longer than
   * RACK.rtt + reo_wnd. Returns the time until the next record would be lost (the
   * reordering timer, §6.3), 0 for none; `newlyLost` gets the bytes marked.
   */
  detectLoss(now: number, reoWnd: number): number {
    this.reoWnd = reoWnd;
    this.newlyLost = 0;
    this.newlyLostRetrans = 0;
    if (this.xmitTs === -Infinity) return 0;
    let timeout = 0;
    const h = this.head;
    for (let k = 0; k < this.n; k++) {
      const i = h + k;
      const f = this.fl[i]!;
      if (f & (SL_SACKED | SL_LOST)) continue;
      const t = this.ts[i]!;
      if (!this.sentAfter(this.xmitOrd, this.endSeq, this.ord[i]!, this.end[i]!)) continue;
      const remaining = t + this.rtt + reoWnd - now;
      if (remaining <= 0) {
        this.fl[i] = f | SL_LOST;
        const len = seqDiff(this.end[i]!, this.start[i]!);
        this.lostBytes += len;
        this.newlyLost += len;
        if (f & SL_RETRANS) this.newlyLostRetrans += len;
      } else if (remaining > timeout) {
        timeout = remaining;
      }
    }
    return timeout;
  }

  /**
   * The first record marked lost: its start (its end in `lostEnd`), or -1. The caller
   * skips SACKed octets inside it with its scoreboard.
   */
  firstLost(): number {
    for (let k = 0; k < this.n; k++) {
      const i = this.head + k;
      if (this.fl[i]! & SL_LOST) { this.lostEnd = this.end[i]!; return this.start[i]!; }
    }
    this.lostEnd = 0;
    return -1;
  }

  /** Clears the lost mark of the record holding `seq` (it turned out to hold nothing to resend). */
  unmarkLost(seq: number): void {
    const r = this.find(seq);
    if (r < 0) return;
    const i = this.head + r;
    if (this.fl[i]! & SL_LOST) {
      this.fl[i] = this.fl[i]! & ~SL_LOST;
      this.lostBytes -= seqDiff(this.end[i]!, this.start[i]!);
    }
  }

  /**
   * Marks lost every logged record in [seq, end) neither SACKed nor marked already (a record
   * reaching below `seq` is split there first; one that cannot be split is left). Used when a
   * recovery takes over what go-back-N after a timeout had yet to resend (recovery.ts).
   */
  markLostBetween(seq: number, end: number): void {
    this.splitAt(seq);
    for (let k = this.firstAtOrAbove(seq); k < this.n; k++) {
      const i = this.head + k;
      if (!seqLe(this.end[i]!, end)) break;
      const f = this.fl[i]!;
      if (f & (SL_SACKED | SL_LOST)) continue;
      this.fl[i] = f | SL_LOST;
      this.lostBytes += seqDiff(this.end[i]!, this.start[i]!);
    }
  }

  /** Clears every lost mark (a timeout undone: Linux's tcp_undo_cwnd_reduction with unmark_loss). */
  clearLost(): void {
    for (let k = 0; k < this.n; k++) this.fl[this.head + k] = this.fl[this.head + k]! & ~SL_LOST;
    this.lostBytes = 0;
  }

  /**
   * After a retransmission timeout the connection goes back N over what the peer has not
   * SACKed (recovery.ts onRto): lost marks go (go-back-N resends all of it), SACKed marks stay
   * as the scoreboard does, unless the receiver reneged (`reneged`: the scoreboard was
   * expunged, as Linux's tcp_timeout_mark_lost clears TCPCB_SACKED_ACKED); a probe
   * outstanding is over.
   */
  onRto(reneged = true): void {
    const h = this.head;
    const keep = reneged ? SL_RETRANS : SL_RETRANS | SL_SACKED;
    for (let k = 0; k < this.n; k++) this.fl[h + k] = this.fl[h + k]! & keep;
    this.lostBytes = 0;
    this.tlpActive = false;
    this.undoActive = false;
  }

  // ---------------------------------------------------------------- TLP (§7)

  /**
   * RFC 8985 §7.2: the probe timeout, ms. Linux's floor of 10 ms (tcp_schedule_loss_probe)
   * keeps a sub-millisecond RTT on a local link from probing at every scheduling hiccup.
   */
  static pto(srtt: number, oneSegment: boolean, delayedAckMax: number): number {
    if (srtt === 0) return 1000;
    let pto = 2 * srtt;
    if (oneSegment) pto += delayedAckMax;
    return Math.max(pto, 10);
  }

  /** §7.3: a probe was sent; `sndMax` after it. */
  onProbeSent(sndMax: number, retrans: boolean): void {
    this.tlpActive = true;
    this.tlpEndSeq = sndMax;
    this.tlpIsRetrans = retrans;
  }

  /**
   * RFC 8985 §7.4 (TLP_process_ack): returns true when the probe repaired a loss (the
   * caller then invokes the congestion response of a fast recovery).
   */
  tlpOnAck(ack: number, dsack: { left: number; right: number } | undefined, dupAckWithoutSack: boolean): boolean {
    if (!this.tlpActive || !seqGe(ack, this.tlpEndSeq)) return false;
    if (!this.tlpIsRetrans) { this.tlpActive = false; return false; } // a probe of new data was delivered
    if (dsack !== undefined && seqLt(dsack.left, this.tlpEndSeq) && seqGe(dsack.right, this.tlpEndSeq)) {
      this.tlpActive = false; // a D-SACK of the probe: the original arrived, the probe was redundant
      return false;
    }
    if (seqGt(ack, this.tlpEndSeq)) { this.tlpActive = false; return true; } // the probe repaired a loss
    if (dupAckWithoutSack) { this.tlpActive = false; return false; } // §7.4.2: no information: end, no response
    return false;
  }

  /** For tests: the log as [start, end, ts, flags] tuples. */
  records(): [number, number, number, number][] {
    const out: [number, number, number, number][] = [];
    for (let k = 0; k < this.n; k++) {
      const i = this.head + k;
      out.push([this.start[i]!, this.end[i]!, this.ts[i]!, this.fl[i]!]);
    }
    return out;
  }
}

const EMPTY_U32 = new Uint32Array(0);
const EMPTY_F64 = new Float64Array(0);
const EMPTY_U8 = new Uint8Array(0);
