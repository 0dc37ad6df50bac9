/**
 * RACK's sent log (rack.ts) against a window of thousands of segments: the bound must hold
 * every segment the send buffer lets fly, or RACK times bytes from the wrong send time and
 * resends part of a record as if it were all of it.
 *
 * Found by `bench --sim` (d) (reordering only, no loss) with pacing off: a send buffer
 * autotuned to 4 MiB let cwnd reach ~2000 segments, one record per ACK-clocked burst, and
 * the fixed 1024-record log filled. Then (1) new data extended the newest record with the
 * later time, a SACK split it, and the piece sent earlier gave an RTT of 5 ms on a 10 ms path:
 * min_RTT halved, so did the reordering window (min_RTT / 4 per step), and 2.4 MB were marked
 * lost at once; (2) a retransmission could not split its record, marked all of it resent and
 * its lost mark went although only one segment went: the rest was never resent, a hole at
 * SND.UNA until the retransmission timer, on a path that loses nothing; (3) after that timeout
 * RACK judged a go-back-N retransmission lost again with the shrunken window (RFC 8985 §9.3),
 * and the recovery it started cut ssthresh from the post-timeout window. (bench --sim (d)
 * cubic seed 3: 3.70 MB/s with 3 timeouts; 54.1 MB/s with none after the log's fix.) The same
 * window with 25 % of it reordered keeps more than 32 holes: the SACK scoreboard, bounded at
 * 32 ranges, dropped the SACKs above them, PRR's DeliveredData stayed 0 and the recovery sent
 * nothing until the RTO (seeds 2, 4, 5 of bench --sim (d)); now 256, a receiver's out-of-order
 * ranges.
 */
import { describe, expect, it } from 'vitest';
import { seqLt } from '../src/index.js';
import type { TcpConnection, TcpLayerOptions } from '../src/index.js';
import { SIM_A, SIM_B, Sim } from './netsim.js';

/** A writes `n` bytes and closes, B reads them; `observe` runs after every event at A's layer. */
function transfer(seed: number, n: number, opts: TcpLayerOptions, observe: (c: TcpConnection, kind: 'timer' | 'segment') => void, loss = 0) {
  // 5 ms each way, no loss; a quarter of the segments, both ways, held back 5 ms more (as the
  // shaper's reorder=25%,delay=5ms: bench --impaired / --sim scenario (d)).
  const sim = new Sim(seed, { loss, duplicate: 0, delay: 5, jitter: 0, reorder: 0.25, reorderDelay: 5 });
  const o: TcpLayerOptions = { msl: 1000, maxRetries: 30, synRetries: 30, ...opts };
  const la = sim.host(SIM_A, o);
  const lb = sim.host(SIM_B, o);
  let sender: TcpConnection | undefined;
  const poll = la.poll.bind(la);
  const recv = la.receive.bind(la);
  la.poll = (now) => { poll(now); if (sender !== undefined) observe(sender, 'timer'); };
  la.receive = (d, now) => { recv(d, now); if (sender !== undefined) observe(sender, 'segment'); };
  let written = 0;
  let received = 0;
  let doneAt = NaN;
  const chunk = new Uint8Array(65536);
  const pump = (c: TcpConnection) => {
    while (written < n) {
      const k = c.write(chunk.subarray(0, Math.min(chunk.length, n - written)), sim.now);
      written += k;
      if (k === 0) return; // onWritable follows
    }
    if (c.state === 'ESTABLISHED') c.close(sim.now);
  };
  const buf = new Uint8Array(65536);
  lb.listen({ port: 80 }, {
    onAcceptable: (l) => {
      while (l.accept({
        onReadable: (k) => {
          for (;;) {
            const got = k.read(buf, sim.now);
            if (got === 0) break;
            received += got;
            if (received === n) doneAt = sim.now;
          }
        },
        onRemoteFin: (k) => k.close(sim.now),
      }) !== undefined) { /* every queued connection */ }
    },
  });
  sim.at(0, () => { sender = la.connect({ remoteAddress: SIM_B, remotePort: 80 }, sim.now, { onEstablished: pump, onWritable: pump }); });
  const finished = sim.run(3_000_000);
  return { finished, received, doneAt, stats: la.stats() };
}

describe('RACK sent log and SACK scoreboard: a window of thousands of segments without pacing', () => {
  it('reordering only (25 % held 5 ms, 10 ms RTT): the log never fills, min_RTT stays the path\'s, no retransmission timeout', () => {
    const n = 16 << 20;
    let peakRecords = 0;
    let peakBound = 0;
    let minRtt = Infinity;
    let lostAfterRto = 0;
    let timeouts = 0;
    // Seeds 1..8. The old code (log bounded at 1024 records, scoreboard at 32 ranges): the log
    // full on all 8, min_RTT 5 ms from seed 2 on, 11 timeouts (seeds 1, 4, 5, 8), 10 of them
    // followed by a retransmission judged lost (RtoLostRetransmits 5 + 4 + 1 on seeds 4, 5, 8).
    // With the log's bound alone, 3 timeouts remained (seeds 1, 4, 5): the 32-range scoreboard
    // saturated, PRR counted nothing delivered and sent nothing. Now none.
    for (let seed = 1; seed <= 8; seed++) {
      const r = transfer(seed, n, { pacing: false }, (c) => {
        const rack = c.rack;
        if (rack === undefined) return;
        if (rack.length > peakRecords) { peakRecords = rack.length; peakBound = rack.maxRecords; }
        if (rack.minRtt < minRtt) minRtt = rack.minRtt;
      });
      expect(r.finished).toBe(true);
      expect(r.received).toBe(n);
      lostAfterRto += r.stats.RtoLostRetransmits;
      timeouts += r.stats.RetransTimeouts;
    }
    // Thousands of records in flight (not vacuous), within the bound.
    expect(peakRecords).toBeGreaterThan(1024);
    expect(peakRecords).toBeLessThan(peakBound);
    // Every RTT on this path is at least 10 ms (the reorder hold only adds to it).
    expect(minRtt).toBeGreaterThanOrEqual(10);
    expect(lostAfterRto).toBe(0);
    expect(timeouts).toBe(0);
  }, 60_000);

  it('3 % loss and 25 % reordering: after every ACK, a range RACK marked lost is in a recovery (none left for the RTO)', () => {
    // RFC 8985 §6.2 / Linux's tcp_time_to_recover (lost_out > 0): marked lost means recovered.
    // The old code started a recovery only on an ACK that newly marked something, so ranges
    // still marked when a recovery ended (sent after its RecoveryPoint) waited for the RTO:
    // bench --sim (a), 5 seeds x 2 cc x pacing on/off, 23 of its timeouts came so.
    let stranded = 0;
    let checks = 0;
    for (let seed = 1; seed <= 6; seed++) {
      const r = transfer(seed, 2 << 20, {}, (c, kind) => {
        const rack = c.rack;
        if (kind !== 'segment' || rack === undefined) return;
        const rec = c.recovery;
        // Out of recovery, not in a timeout's episode, SND.UNA past "recover" (RFC 6582's guard
        // after a recovery undone early is another matter: see the README).
        if (rec.inRecovery || rec.inLossState() || seqLt(c.sndUna, rec.recover)) return;
        checks++;
        if (rack.lostBytes > 0) stranded++;
      }, 0.03);
      expect(r.finished).toBe(true);
      expect(r.received).toBe(2 << 20);
    }
    expect(checks).toBeGreaterThan(1000);
    expect(stranded).toBe(0);
  }, 60_000);
});
