/**
 * Sender pacing: a burst limit on the data a connection sends, as Linux's internal TCP
 * pacing (no RFC specifies one; RFC 9293 and RFC 5681 leave the sending pattern within
 * cwnd to the implementation). A pure mechanism: time is an argument, no timer of its own;
 * the connection asks `blockedUntil(now)` before each data segment and arms its pacing
 * timer at the answer (connection.ts `paceAt`).
 *
 * Why: without it, each ACK releases everything it opened back to back (a window after an
 * idle period, a few segments per ACK in the steady state, 2 per ACK in slow start). A
 * Linux receiver whose reader has not yet read such a run does not ACK it at once
 * (`__tcp_ack_snd_check`: the window would shrink), then ACKs once when the reader reads,
 * releasing the next run: measured (issue 15, scenario f), 1 ACK per 4.4 data packets to
 * netstack against 1 per 1.7 to Linux's own sender, and fewer ACKs means a slower clock
 * and more lost from each ACK lost.
 *
 * What Linux does, reproduced here:
 *  - the rate (`tcp_update_pacing_rate`, tcp_input.c): max(cwnd, packets_out) * mss / srtt,
 *    times `tcp_pacing_ss_ratio` (200 %) while cwnd < ssthresh / 2 (slow start, well below
 *    its end), else `tcp_pacing_ca_ratio` (120 %): the window still goes out within an RTT
 *    and slow start can still double, but spread over the RTT;
 *  - the earliest departure time (`tcp_update_skb_after_send`, tcp_output.c): after each
 *    segment `tcp_wstamp_ns` moves on by len / rate, from no earlier than now, less up to
 *    half of that for the time the sender was late ("OS jitter" credit); the first 10
 *    data segments are not paced ("Original sch_fq does not pace first 10 MSS");
 *  - the check (`tcp_pacing_check`, tcp_output.c): data waits while the departure time is
 *    ahead of now, and the pacing timer (`tcp_pace_kick`) sends it when it comes;
 *  - the segment size (`tcp_tso_autosize`, tcp_output.c): an offload super-segment carries
 *    about 1 ms of the rate (sk_pacing_shift 10: rate >> 10), at least 2 segments
 *    (`tcp_min_tso_segs`), plus `gso_max_size >> (min_rtt_us >> 9)` (the full 64 KB when the
 *    peer is under 0.5 ms away, halved per 512 µs more), at most the offload limit.
 *
 * One difference: Linux's pacing timer is an hrtimer (ns); ours fire on the host's
 * millisecond timers (Node's setTimeout fires no sooner than 1 ms, often later). So the
 * departure time may run up to `PACING_SLACK_MS` ahead of now before data waits: a burst
 * is at most rate * PACING_SLACK_MS plus one (autosized) segment, and a timer that fires
 * late sends what the rate allowed meanwhile instead of losing it (the departure time
 * stays ahead of now). Without the slack a fast path would send one super-segment per
 * timer tick: 64 KB/ms at most.
 */

/** How far the departure time may run ahead of now before data waits, ms (the host timers' resolution). */
export const PACING_SLACK_MS = 1;
/** Linux's sk_pacing_shift (10): a super-segment carries rate >> 10 bytes, about 1 ms of the rate. */
const AUTOSIZE_MS = 1.024;
/** Linux's tcp_min_tso_segs. */
const MIN_TSO_SEGS = 2;
/** Linux's sysctl_tcp_tso_rtt_log (9): the RTT allowance halves per 512 µs of min RTT. */
const TSO_RTT_LOG_US = 512;
/** "Original sch_fq does not pace first 10 MSS" (tcp_update_skb_after_send). */
const UNPACED_SEGS = 10;

export class Pacer {
  /** The pacing rate, bytes per ms (sk_pacing_rate); 0 while unknown (no RTT yet): not pacing. */
  rate = 0;
  /** The earliest departure time of the next data, ms (tcp_wstamp_ns). */
  next = -Infinity;
  /** Data segments sent (tp->data_segs_out, super-segments counted by their pieces). */
  dataSegs = 0;

  /** `ssRatio` / `caRatio`: percent, Linux's tcp_pacing_ss_ratio / tcp_pacing_ca_ratio. */
  constructor(readonly ssRatio = 200, readonly caRatio = 120) {}

  /**
   * Linux's tcp_update_pacing_rate: max(cwnd, flight) / srtt, times the slow-start ratio while
   * cwnd < ssthresh / 2, else the congestion-avoidance ratio. Bytes and ms.
   */
  update(cwnd: number, ssthresh: number, flight: number, srtt: number): void {
    if (!(srtt > 0)) { this.rate = 0; return; }
    const ratio = cwnd < ssthresh / 2 ? this.ssRatio : this.caRatio;
    this.rate = (ratio / 100) * Math.max(cwnd, flight) / srtt;
  }

  /** Pacing applies: a rate is known and the first 10 segments have gone. */
  get active(): boolean {
    return this.rate > 0 && this.dataSegs >= UNPACED_SEGS;
  }

  /**
   * Linux's tcp_pacing_check, with the slack of our millisecond timers: -Infinity when data
   * may go now, else the time (> now) from which it may (where the pacing timer is armed).
   */
  blockedUntil(now: number): number {
    if (!this.active) return -Infinity;
    const at = this.next - PACING_SLACK_MS;
    return at > now ? at : -Infinity;
  }

  /**
   * Linux's tcp_tso_autosize: the most one (offload) segment should carry, whole `mss`
   * pieces, at most `max` (the offload limit). `minRtt` in ms.
   */
  autosize(mss: number, max: number, minRtt: number): number {
    if (!this.active) return max;
    let bytes = this.rate * AUTOSIZE_MS;
    const r = Math.floor((minRtt * 1000) / TSO_RTT_LOG_US);
    if (r < 32) bytes += max / 2 ** r;
    const segs = Math.max(Math.floor(Math.min(bytes, max) / mss), MIN_TSO_SEGS);
    return Math.min(segs * mss, max);
  }

  /**
   * Linux's tcp_update_skb_after_send: `len` data bytes (in `segs` pieces) left at `now`;
   * the departure time moves on by len / rate from no earlier than now, less up to half of
   * that for the time the sender was late (credit).
   */
  onSent(len: number, segs: number, now: number): void {
    this.dataSegs += segs;
    const prior = this.next;
    this.next = Math.max(this.next, now);
    if (!(this.rate > 0) || this.dataSegs < UNPACED_SEGS) return;
    const credit = this.next - prior;
    let lenMs = len / this.rate;
    lenMs -= Math.min(lenMs / 2, credit);
    this.next += lenMs;
  }
}
