/**
 * Congestion control behind a small interface, so the connection keeps the
 * event detection (new ACK, duplicate ACK, partial ACK, RTO) and the algorithm
 * keeps the window arithmetic. NewReno (RFC 5681 + RFC 6582) is the default;
 * CUBIC (RFC 9438) with HyStart++ (RFC 9406) is in `cubic.ts`.
 *
 * Units are bytes. `smss` is the sender MSS (payload bytes per full segment).
 */
export interface CongestionControl {
  /** Congestion window (bytes). */
  readonly cwnd: number;
  /** Slow-start threshold (bytes). */
  readonly ssthresh: number;
  /** The sender MSS changed (handshake, PMTU). */
  setMss(smss: number): void;
  /** The handshake's SYN or SYN-ACK was retransmitted: initial window is one segment (RFC 5681 §3.1). */
  onSynLoss(): void;
  /**
   * A new cumulative ACK outside recovery acknowledged `acked` bytes. `cwndLimited` false: the
   * sender did not use its window (RFC 7661 §4.2, Linux tcp_is_cwnd_limited): no growth.
   */
  onAck(acked: number, flight: number, now: number, cwndLimited?: boolean): void;
  /** Third duplicate ACK: entering fast retransmit / fast recovery with `flight` bytes outstanding. */
  onEnterRecovery(flight: number): void;
  /** A further duplicate ACK during fast recovery. */
  onDupAckInRecovery(): void;
  /** A partial ACK during fast recovery acknowledged `acked` bytes. */
  onPartialAck(acked: number): void;
  /** A full ACK ended fast recovery; `flight` is what remains outstanding. */
  onExitRecovery(flight: number): void;
  /**
   * Retransmission timeout with `flight` bytes outstanding. `saveUndo`: the timeout begins a
   * new loss episode (none under way): keep the window from before it, for `onUndo` should the
   * timeout prove spurious (Linux's tcp_enter_loss: prior_cwnd, prior_ssthresh); otherwise what
   * was kept stays as it is.
   */
  onRto(flight: number, saveUndo?: boolean): void;
  /** Sending resumes after an idle period longer than RTO (RFC 5681 §4.1). */
  onIdleRestart?(): void;
  /**
   * The last fast recovery was spurious (D-SACK showed every retransmission unneeded,
   * RFC 3708), or the last timeout (RFC 3522 Eifel detection, with `saveUndo`): undo its
   * reduction (RFC 9438 §4.9; Linux tcp_undo_cwnd_reduction) and leave recovery.
   */
  onUndo?(): void;
  /**
   * An ECN-Echo (RFC 3168 §6.1.2) with `flight` bytes outstanding: reduce as for a loss,
   * without a recovery (ssthresh from `flight`, cwnd = ssthresh). Also the further reduction
   * for a lost retransmission during a recovery (RFC 8985 §9.3).
   */
  onEcnEcho?(flight: number): void;
  /**
   * An RTT sample (ms) from the ACK being processed (RFC 6298 / RFC 7323 §4),
   * delivered before that ACK's `onAck` / `onPartialAck`.
   */
  onRttSample?(rtt: number, now: number): void;
}

/** The congestion controllers selectable by name (layer and connection options). */
export type CongestionControlName = 'newreno' | 'cubic';

/** RFC 6928: IW = min(10*MSS, max(2*MSS, 14600)). */
export function initialWindow(smss: number): number {
  return Math.min(10 * smss, Math.max(2 * smss, 14600));
}

export class NewReno implements CongestionControl {
  cwnd: number;
  ssthresh = Infinity; // RFC 5681 §3.1: initial ssthresh arbitrarily high
  private smss: number;
  /** Congestion-avoidance byte counter (RFC 5681 §3.1, "appropriate byte counting" form). */
  private caAcked = 0;
  /** cwnd and ssthresh before the last fast recovery (0: none to undo). */
  private priorCwnd = 0;
  private priorSsthresh = Infinity;

  constructor(smss: number) {
    this.smss = smss;
    this.cwnd = initialWindow(smss);
  }

  setMss(smss: number): void {
    // Keep the window in segments when the MSS changes before data flowed.
    const segs = this.cwnd / this.smss;
    this.smss = smss;
    this.cwnd = Math.max(smss, Math.round(segs * smss));
  }

  onSynLoss(): void {
    this.cwnd = this.smss; // RFC 5681 §3.1 (and RFC 6928 §2)
  }

  onAck(acked: number, _flight: number, _now: number, cwndLimited = true): void {
    // Linux tcp_reno_cong_avoid: "if (!tcp_is_cwnd_limited(sk)) return;" (RFC 7661 §4.2).
    if (!cwndLimited) return;
    if (this.cwnd < this.ssthresh) {
      // RFC 5681 §3.1 eq. 2: slow start, cwnd += min(N, SMSS)
      this.cwnd += Math.min(acked, this.smss);
    } else {
      // RFC 5681 §3.1 eq. 3 (byte-counting form): one SMSS per cwnd of data acked.
      this.caAcked += acked;
      if (this.caAcked >= this.cwnd) {
        this.caAcked -= this.cwnd;
        this.cwnd += this.smss;
      }
    }
  }

  onEnterRecovery(flight: number): void {
    this.priorCwnd = this.cwnd;
    this.priorSsthresh = this.ssthresh;
    // RFC 5681 §3.2 steps 4-5 / RFC 6582 §3.2 step 2.
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.smss);
    this.cwnd = this.ssthresh + 3 * this.smss;
  }

  onDupAckInRecovery(): void {
    this.cwnd += this.smss; // RFC 6582 §3.2 step 3
  }

  onEcnEcho(flight: number): void {
    // RFC 3168 §6.1.2: halve cwnd and reduce ssthresh (RFC 5681 §3.1 eq. 4's ssthresh).
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.smss);
    this.cwnd = this.ssthresh;
    this.caAcked = 0;
    this.priorCwnd = 0;
  }

  onUndo(): void {
    // As Linux's tcp_undo_cwnd_reduction: back to the window before the spurious recovery.
    if (this.priorCwnd === 0) return;
    this.cwnd = Math.max(this.cwnd, this.priorCwnd);
    this.ssthresh = Math.max(this.ssthresh, this.priorSsthresh);
    this.priorCwnd = 0;
  }

  onPartialAck(acked: number): void {
    // RFC 6582 §3.2 step 5: deflate by the amount acked; add back one SMSS if at least one SMSS was acked.
    this.cwnd = Math.max(this.smss, this.cwnd - acked + (acked >= this.smss ? this.smss : 0));
  }

  onExitRecovery(flight: number): void {
    // RFC 6582 §3.2 step 4, option 1: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
    this.cwnd = Math.min(this.ssthresh, Math.max(flight, this.smss) + this.smss);
    this.caAcked = 0;
  }

  onIdleRestart(): void {
    // RFC 5681 §4.1: cwnd = min(RW, cwnd) with the restart window RW = min(IW, cwnd).
    this.cwnd = Math.min(this.cwnd, initialWindow(this.smss));
  }

  onRto(flight: number, saveUndo = false): void {
    if (saveUndo) { this.priorCwnd = this.cwnd; this.priorSsthresh = this.ssthresh; }
    // RFC 5681 §3.1 eq. 4 and the loss window of one segment.
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * this.smss);
    this.cwnd = this.smss;
    this.caAcked = 0;
  }
}
