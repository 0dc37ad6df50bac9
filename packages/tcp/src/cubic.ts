/**
 * CUBIC (RFC 9438) with HyStart++ (RFC 9406) for the initial slow start, behind
 * the `CongestionControl` interface of `congestion.ts`.
 *
 * Units: the interface speaks bytes and milliseconds; CUBIC's formulas speak
 * segments and seconds (RFC 9438 §4.1: C = 0.4 segments/s^3). W_max, W_est,
 * cwnd_epoch and cwnd_prior are therefore kept in segments and converted at the
 * edges with the current SMSS; cwnd is kept in (fractional) bytes and exposed
 * floored. Time is an argument: `now` comes with each ACK, RTT samples through
 * `onRttSample`, and nothing here reads a clock.
 *
 * Loss recovery stays the connection's NewReno framework (RFC 6582: inflate one
 * SMSS per duplicate ACK, deflate on partial ACKs, exit to min(ssthresh,
 * flight + SMSS)); CUBIC chooses ssthresh (β_cubic), W_max and the growth after.
 *
 * Beyond the RFC, as Linux: before any congestion event has set W_max (and after a
 * timeout), congestion avoidance grows at least 5 % per RTT (bictcp_update's cnt <= 20).
 *
 * Not implemented: spurious-congestion undo (RFC 9438 §4.9), the ECN branch of
 * §4.6 (the stack negotiates no ECN), pacing (so HyStart++ uses L = 8).
 */
import { initialWindow } from './congestion.js';
import type { CongestionControl } from './congestion.js';

/** RFC 9438 §4.1: C, in segments / s^3. */
export const CUBIC_C = 0.4;
/** RFC 9438 §4.1: multiplicative decrease factor β_cubic. */
export const CUBIC_BETA = 0.7;
/** RFC 9438 §4.3: α_cubic = 3(1 - β_cubic) / (1 + β_cubic), Reno-equivalent AIMD slope. */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/** RFC 9406 §4.3: HyStart++ constants (RTTs in ms). */
export const HYSTART = {
  MIN_RTT_THRESH: 4,
  MAX_RTT_THRESH: 16,
  MIN_RTT_DIVISOR: 8,
  N_RTT_SAMPLE: 8,
  CSS_GROWTH_DIVISOR: 4,
  CSS_ROUNDS: 5,
  /** RFC 9406 §4.3: L = 8 for a sender that does not pace. */
  L: 8,
} as const;

export interface CubicOptions {
  /** RFC 9438 §4.7. Default true. */
  fastConvergence?: boolean;
  /** HyStart++ for the initial slow start (RFC 9406). Default true. */
  hystart?: boolean;
}

/** Where the controller is, for tests and diagnostics. Windows in segments, K in seconds. */
export interface CubicSnapshot {
  phase: 'slow-start' | 'css' | 'avoidance' | 'recovery';
  wMax: number | undefined;
  k: number;
  wEst: number;
  cwndEpoch: number;
  cwndPrior: number;
  /** ms; undefined between congestion-avoidance stages. */
  epochStart: number | undefined;
}

export class Cubic implements CongestionControl {
  ssthresh = Infinity; // RFC 5681 §3.1 (RFC 9438 §4.10): initially arbitrarily high
  /** cwnd in bytes, fractional: per-ACK growth is a fraction of a segment. */
  private w: number;
  private smss: number;
  private readonly fastConvergence: boolean;
  private inRecovery = false;

  // --- RFC 9438 §4.1 state (segments; ms for times) ---
  private wMax: number | undefined = undefined;
  private k = 0;
  private wEst = 0;
  private cwndEpoch = 0;
  private cwndPrior = Infinity;
  private epochStart: number | undefined = undefined;
  /** The next congestion-avoidance stage uses K = 0, W_max = cwnd_epoch (§4.8 after RTO, §4.10 after HyStart++). */
  private kZeroNext = false;
  /** An RTO with no ACK since: a repeated timeout keeps the state of the first (RFC 5681 §3.1). */
  private rtoBackoff = false;
  /** Smoothed RTT, ms (RFC 6298 §2.3 weights), for W_cubic(t + RTT) (§4.2). */
  private srtt = 0;
  /**
   * A fast recovery or ECN-Echo has set W_max from a congestion event (Linux's
   * last_max_cwnd != 0). Until then (and again after a timeout, which resets Linux's state),
   * congestion avoidance grows at least 5 % per RTT: see `avoidance`.
   */
  private lossSeen = false;

  // --- RFC 9406 §4.2 state ---
  private hystart: boolean;
  private css = false;
  private cssRounds = 0;
  private lastRoundMinRtt = Infinity;
  private currentRoundMinRtt = Infinity;
  private cssBaselineMinRtt = Infinity;
  /** RttThresh when CSS began (ms): a further rise by as much over the CSS baseline ends CSS (see hystartAck). */
  private cssThresh = Infinity;
  private rttSampleCount = 0;
  /** Rounds in cumulative-acked-bytes coordinates: windowEnd is SND.NXT when the round began (-1: none yet). */
  private ackedTotal = 0;
  private windowEnd = -1;
  /** The RTT sample of the ACK being processed (onRttSample precedes onAck), or -1. */
  private pendingRtt = -1;
  /** RFC 9438 §4.9: the state before the last fast recovery, for an undo. */
  private prior: {
    w: number; ssthresh: number; wMax: number | undefined; k: number; wEst: number; cwndEpoch: number;
    cwndPrior: number; epochStart: number | undefined; hystart: boolean; css: boolean;
  } | undefined = undefined;

  constructor(smss: number, options: CubicOptions = {}) {
    this.smss = smss;
    this.w = initialWindow(smss);
    this.fastConvergence = options.fastConvergence ?? true;
    this.hystart = options.hystart ?? true;
  }

  get cwnd(): number {
    return Math.floor(this.w);
  }

  get snapshot(): CubicSnapshot {
    const phase = this.inRecovery ? 'recovery' : this.w >= this.ssthresh ? 'avoidance' : this.css ? 'css' : 'slow-start';
    return { phase, wMax: this.wMax, k: this.k, wEst: this.wEst, cwndEpoch: this.cwndEpoch, cwndPrior: this.cwndPrior, epochStart: this.epochStart };
  }

  setMss(smss: number): void {
    // The window-in-segments state is unit-free; keep cwnd in segments too.
    const segs = this.w / this.smss;
    this.smss = smss;
    this.w = Math.max(smss, segs * smss);
  }

  onSynLoss(): void {
    this.w = this.smss; // RFC 5681 §3.1 (and RFC 6928 §2)
  }

  onRttSample(rtt: number, _now: number): void {
    this.srtt = this.srtt === 0 ? rtt : 0.875 * this.srtt + 0.125 * rtt;
    this.pendingRtt = rtt;
  }

  onAck(acked: number, flight: number, now: number, cwndLimited = true): void {
    const rtt = this.pendingRtt;
    this.pendingRtt = -1;
    this.rtoBackoff = false;
    if (acked <= 0) return;
    this.ackedTotal += acked;
    if (this.w < this.ssthresh) {
      // HyStart++'s rounds and RTT samples go on (Linux: hystart_update from pkts_acked);
      // the growth only when the window was used.
      if (this.hystart) this.hystartAck(acked, flight, rtt, cwndLimited);
      else if (cwndLimited) this.w += Math.min(acked, this.smss); // RFC 5681 §3.1 eq. 2 (RFC 9438 §4.10)
      return;
    }
    // RFC 9438 §5.8 / RFC 7661 §4.2, as Linux's cubictcp_cong_avoid ("if
    // (!tcp_is_cwnd_limited(sk)) return;"): no growth, W_est included, while not cwnd-limited.
    if (!cwndLimited) return;
    this.avoidance(acked, now);
  }

  /** RFC 9406 §4.2: slow start and Conservative Slow Start, once per ACK. */
  private hystartAck(acked: number, flight: number, rtt: number, grow: boolean): void {
    const H = HYSTART;
    // §4.2: the first round covers what is outstanding when the first ACK arrives.
    if (this.windowEnd < 0) this.windowEnd = this.ackedTotal - acked + flight;
    // §4.2: cwnd += min(N, L*SMSS), divided by CSS_GROWTH_DIVISOR in CSS.
    const inc = Math.min(acked, H.L * this.smss);
    if (grow) this.w += this.css ? inc / H.CSS_GROWTH_DIVISOR : inc;
    if (rtt >= 0) {
      this.currentRoundMinRtt = Math.min(this.currentRoundMinRtt, rtt);
      this.rttSampleCount++;
    }
    if (this.rttSampleCount >= H.N_RTT_SAMPLE) {
      if (!this.css) {
        if (this.lastRoundMinRtt !== Infinity) {
          // §4.2: RttThresh = clamp(lastRoundMinRTT / MIN_RTT_DIVISOR, MIN_RTT_THRESH, MAX_RTT_THRESH).
          const thresh = Math.max(H.MIN_RTT_THRESH, Math.min(this.lastRoundMinRtt / H.MIN_RTT_DIVISOR, H.MAX_RTT_THRESH));
          if (this.currentRoundMinRtt >= this.lastRoundMinRtt + thresh) {
            // §4.2: the delay rose: leave slow start for CSS.
            this.cssBaselineMinRtt = this.currentRoundMinRtt;
            this.cssThresh = thresh;
            this.css = true;
            this.cssRounds = 0;
          }
        }
      } else if (this.currentRoundMinRtt < this.cssBaselineMinRtt) {
        // §4.2: the RTT fell below the baseline: the exit was spurious, resume slow start.
        this.cssBaselineMinRtt = Infinity;
        this.css = false;
      } else if (this.cssRounds > 0 && this.currentRoundMinRtt >= this.cssBaselineMinRtt + this.cssThresh) {
        // A later CSS round whose minimum RTT rose by RttThresh again, over the baseline: the
        // first rise was a queue building, not jitter, and it is still building. CSS ends now
        // (RFC 9406 §4.3: the constants, CSS_ROUNDS among them, "MAY" be tuned for different
        // network characteristics), as Linux's HyStart ends slow start at its first delay
        // signal (tcp_cubic.c hystart_update: ssthresh = cwnd once curr_rtt > delay_min +
        // clamp(delay_min / 8, 4, 16) ms). Five rounds of CSS grow cwnd x1.25^5 ~ x3 from the
        // first signal: bench --impaired (g) (20 Mbit/s, 20 ms, a 200 000 B drop-tail queue:
        // 172 packets fit in the path) entered CSS at 60-127 segments and left it at 160-214
        // while the queueing delay rose 20 -> 75 ms: 43-119 packets dropped at the queue, where
        // Linux's HyStart left at 29-144 (TCPHystartDelayCwnd) and lost 0-15.
        this.exitSlowStart();
        return;
      }
    }
    if (this.ackedTotal < this.windowEnd) return;
    // §4.2: this ACK covers windowEnd: the round ends; the next runs to today's SND.NXT.
    this.windowEnd = this.ackedTotal + Math.max(0, flight - acked);
    this.lastRoundMinRtt = this.currentRoundMinRtt;
    this.currentRoundMinRtt = Infinity;
    this.rttSampleCount = 0;
    // §4.2: CSS_ROUNDS rounds of CSS (the one it began in counts): congestion avoidance.
    if (this.css && ++this.cssRounds >= H.CSS_ROUNDS) this.exitSlowStart();
  }

  /**
   * RFC 9406 §4.2: leave (conservative) slow start for congestion avoidance with ssthresh =
   * cwnd; RFC 9438 §4.10: cwnd_prior = cwnd, then K = 0 and W_max = cwnd_epoch.
   */
  private exitSlowStart(): void {
    this.css = false;
    this.hystart = false;
    this.ssthresh = Math.floor(this.w);
    this.cwndPrior = this.w / this.smss;
    this.kZeroNext = true;
  }

  /** W_cubic(t) = C (t - K)^3 + W_max (RFC 9438 §4.2 Figure 1), t in seconds, segments. */
  private wCubic(t: number): number {
    const d = t - this.k;
    return CUBIC_C * d * d * d + (this.wMax ?? 0);
  }

  /** RFC 9438 §4.2-§4.5: one new ACK in congestion avoidance. */
  private avoidance(acked: number, now: number): void {
    const cwnd = this.w / this.smss;
    if (this.epochStart === undefined) {
      // §4.2: a congestion-avoidance stage begins: t_epoch, cwnd_epoch.
      this.epochStart = now;
      this.cwndEpoch = cwnd;
      if (this.wMax === undefined || this.kZeroNext) {
        // §4.8 (after RTO) and §4.10 (HyStart++ exit without loss): K = 0, W_max = cwnd_epoch.
        this.wMax = cwnd;
        this.k = 0;
        this.kZeroNext = false;
      } else {
        // §4.2 Figure 2: K = cubic_root((W_max - cwnd_epoch) / C), so W_cubic(0) = cwnd_epoch.
        this.k = Math.cbrt((this.wMax - cwnd) / CUBIC_C);
      }
      this.wEst = cwnd; // §4.3: W_est = cwnd_epoch
    }
    const t = (now - this.epochStart) / 1000;
    const segs = acked / this.smss;
    // §4.3 Figure 4: W_est += α_cubic * segments_acked / cwnd; α_cubic = 1 once W_est >= cwnd_prior.
    this.wEst += ((this.wEst >= this.cwndPrior ? 1 : CUBIC_ALPHA) * segs) / cwnd;
    let next: number;
    if (this.wCubic(t) < this.wEst) {
      // §4.3: Reno-friendly region: cwnd = W_est (never shrinking on an ACK).
      next = Math.max(cwnd, this.wEst);
    } else {
      // §4.2 Figure 3: target = W_cubic(t + RTT) clamped to [cwnd, 1.5 cwnd];
      // §4.4 (concave) / §4.5 (convex): cwnd += (target - cwnd) / cwnd per segment acked.
      const target = Math.min(Math.max(this.wCubic(t + this.srtt / 1000), cwnd), 1.5 * cwnd);
      next = cwnd + ((target - cwnd) / cwnd) * segs;
    }
    // Linux's bictcp_update: "The initial growth of cubic function may be too conservative
    // when the available bandwidth is still unknown": while no congestion event has set W_max
    // (last_max_cwnd == 0), at least one segment per 20 acknowledged, 5 % per RTT. RFC 9438
    // §4.10 starts the stage after a loss-free HyStart++ exit at K = 0, W_max = cwnd, where
    // W_cubic stays flat for seconds and W_est adds one segment per RTT: bench --impaired (e)
    // down (ACK path impaired, data clean) left slow start at 150-840 segments on a noisy RTT
    // and then grew 70 segments in a second (13 ms RTT), where Linux's sender grew 500 -> 980
    // in half a second (tcp_probe). Within the checker's CA bound (at most N/2 per ACK).
    if (!this.lossSeen) next = Math.max(next, cwnd + segs / 20);
    this.w = next * this.smss;
  }

  /** RFC 9438 §4.6 and §4.7: the reduction shared by fast retransmit and RTO. */
  private reduce(flight: number): void {
    const cwnd = this.w / this.smss;
    // §4.7: fast convergence: release bandwidth when a loss comes below the last W_max.
    this.wMax = this.fastConvergence && this.wMax !== undefined && cwnd < this.wMax ? (cwnd * (1 + CUBIC_BETA)) / 2 : cwnd;
    this.cwndPrior = cwnd; // §4.6
    // §4.6: ssthresh = flight_size * β_cubic, at least 2 segments.
    this.ssthresh = Math.max(Math.floor(flight * CUBIC_BETA), 2 * this.smss);
    this.epochStart = undefined;
    this.hystart = false; // RFC 9406 §4.2: loss in slow start or CSS ends HyStart++ for good
    this.css = false;
  }

  onEnterRecovery(flight: number): void {
    this.pendingRtt = -1;
    // RFC 9438 §4.9: keep what a spurious congestion event would have to restore.
    this.prior = {
      w: this.w, ssthresh: this.ssthresh, wMax: this.wMax, k: this.k, wEst: this.wEst, cwndEpoch: this.cwndEpoch,
      cwndPrior: this.cwndPrior, epochStart: this.epochStart, hystart: this.hystart, css: this.css,
    };
    this.reduce(flight);
    this.kZeroNext = false;
    this.lossSeen = true;
    // RFC 6582 §3.2 step 2 with CUBIC's ssthresh; cwnd >= max(ssthresh, 2) of §4.6 holds.
    this.w = this.ssthresh + 3 * this.smss;
    this.inRecovery = true;
  }

  onDupAckInRecovery(): void {
    this.w += this.smss; // RFC 6582 §3.2 step 3
  }

  /** RFC 9438 §4.6 applies to ECN-Echo as to loss (RFC 3168 §6.1.2): cwnd = ssthresh = β·flight. */
  onEcnEcho(flight: number): void {
    this.pendingRtt = -1;
    this.prior = undefined;
    this.reduce(flight);
    this.kZeroNext = false;
    this.lossSeen = true;
    this.w = Math.max(this.ssthresh, 2 * this.smss);
  }

  /**
   * RFC 9438 §4.9: the last congestion event was spurious (every retransmission of the
   * recovery turned out unneeded): restore the state saved when it began (cwnd never
   * shrinks here), and the recovery is over.
   */
  onUndo(): void {
    const p = this.prior;
    this.inRecovery = false;
    if (p === undefined) return;
    this.prior = undefined;
    this.w = Math.max(this.w, p.w);
    this.ssthresh = Math.max(this.ssthresh, p.ssthresh);
    this.wMax = p.wMax; this.k = p.k; this.wEst = p.wEst; this.cwndEpoch = p.cwndEpoch;
    this.cwndPrior = p.cwndPrior; this.epochStart = p.epochStart; this.hystart = p.hystart; this.css = p.css;
  }

  onPartialAck(acked: number): void {
    this.pendingRtt = -1;
    this.ackedTotal += Math.max(0, acked);
    // RFC 6582 §3.2 step 5: deflate by the amount acked; add back one SMSS if at least one SMSS was acked.
    this.w = Math.max(this.smss, this.w - acked + (acked >= this.smss ? this.smss : 0));
  }

  onExitRecovery(flight: number): void {
    // RFC 6582 §3.2 step 4, option 1; the next ACK opens a §4.2 epoch at cwnd_epoch = this cwnd.
    this.w = Math.min(this.ssthresh, Math.max(flight, this.smss) + this.smss);
    this.inRecovery = false;
  }

  onIdleRestart(): void {
    // RFC 5681 §4.1: restart window min(IW, cwnd). The idle time is not growth time:
    // a new congestion-avoidance epoch starts at the next ACK (W_max kept).
    this.w = Math.min(this.w, initialWindow(this.smss));
    this.epochStart = undefined;
  }

  onRto(flight: number, saveUndo = false): void {
    this.pendingRtt = -1;
    this.inRecovery = false;
    // RFC 9438 §4.9 with Linux's tcp_enter_loss: what a spurious timeout would have to restore.
    if (saveUndo) {
      this.prior = {
        w: this.w, ssthresh: this.ssthresh, wMax: this.wMax, k: this.k, wEst: this.wEst, cwndEpoch: this.cwndEpoch,
        cwndPrior: this.cwndPrior, epochStart: this.epochStart, hystart: this.hystart, css: this.css,
      };
    }
    if (!this.rtoBackoff) {
      // RFC 9438 §4.8: ssthresh with β_cubic as in §4.6; the next CA stage uses K = 0.
      // A repeated timeout of the same data keeps ssthresh (RFC 5681 §3.1).
      this.reduce(flight);
      this.kZeroNext = true;
      this.rtoBackoff = true;
    }
    // Linux's cubictcp_state(TCP_CA_Loss) -> bictcp_reset: last_max_cwnd = 0 again.
    this.lossSeen = false;
    this.w = this.smss; // RFC 9438 §4.8 / RFC 5681 §3.1: loss window, one segment
  }
}
