/**
 * RACK-TLP (RFC 8985) in the deterministic simulator: two TcpLayers over a seeded link
 * (netsim.ts) that reorders, duplicates and drops; virtual time only. A bulk sender (A)
 * writes N bytes of a seeded pattern, the receiver (B) checks every byte as it reads.
 *
 *  - throughput under reordering without loss, RACK against RFC 6675's DupThresh (rack: false),
 *    on a 20 ms path and on a sub-millisecond one;
 *  - exact delivery, clean close and no leaked timer under loss, duplication and reordering;
 *  - the congestion window checked against RFC 5681 / RFC 9438 / RFC 9406 after every event
 *    at the sender (every ACK it receives, every timer it runs).
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Cubic, NewReno, seqDiff, seqGt, seqLt } from '../src/index.js';
import type { CongestionControlName, TcpConnection, TcpError, TcpLayer, TcpLayerOptions } from '../src/index.js';
import { FAMILY } from './harness.js';
import { SIM_A, SIM_B, Sim } from './netsim.js';
import type { LinkParams } from './netsim.js';

const A = SIM_A;
const B = SIM_B;
const PORT = 8080;

/** Byte i of the transfer. */
const pattern = (i: number, seed: number) => (i * 131 + (i >>> 9) + seed) & 255;

/** Called before and after every event at the sender: an ACK (or any segment) in, or a timer run. */
type Observer = (c: TcpConnection, phase: 'before' | 'after', kind: 'segment' | 'timer', now: number) => void;

interface Bulk {
  sim: Sim;
  la: TcpLayer;
  lb: TcpLayer;
  sender: TcpConnection | undefined;
  received: number;
  /** Virtual time at which B had read all N bytes. */
  doneAt: number;
  badBytes: number;
  finished: boolean;
  closedA: boolean;
  closedB: boolean;
  errA: TcpError | undefined;
  errB: TcpError | undefined;
}

/** A writes `n` bytes and closes; B reads, checks every byte, closes on A's FIN. Runs to the end. */
function bulk(seed: number, link: LinkParams, opts: TcpLayerOptions, n: number, observe?: Observer): Bulk {
  const sim = new Sim(seed, link);
  const layerOpts: TcpLayerOptions = { msl: 1000, maxRetries: 30, synRetries: 30, ...opts };
  const la = sim.host(A, layerOpts);
  const lb = sim.host(B, layerOpts);
  const r: Bulk = {
    sim, la, lb, sender: undefined, received: 0, doneAt: NaN, badBytes: 0, finished: false,
    closedA: false, closedB: false, errA: undefined, errB: undefined,
  };
  if (observe !== undefined) {
    // The Sim calls the layers' receive() and poll(): wrap the sender's.
    const recv = la.receive.bind(la);
    const poll = la.poll.bind(la);
    la.receive = (d, now) => {
      const c = r.sender;
      if (c !== undefined) observe(c, 'before', 'segment', now);
      recv(d, now);
      if (c !== undefined) observe(c, 'after', 'segment', now);
    };
    la.poll = (now) => {
      const c = r.sender;
      if (c !== undefined) observe(c, 'before', 'timer', now);
      poll(now);
      if (c !== undefined) observe(c, 'after', 'timer', now);
    };
  }
  const chunk = new Uint8Array(65536);
  let written = 0;
  const pump = (c: TcpConnection) => {
    while (written < n) {
      const len = Math.min(chunk.length, n - written);
      for (let i = 0; i < len; i++) chunk[i] = pattern(written + i, seed);
      const k = c.write(chunk.subarray(0, len), sim.now);
      written += k;
      if (k < len) return; // onWritable follows
    }
    if (c.state === 'ESTABLISHED' || c.state === 'CLOSE-WAIT') c.close(sim.now);
  };
  const buf = new Uint8Array(65536);
  lb.listen({ port: PORT }, {
    onAcceptable: (l) => {
      while (l.accept({
        onReadable: (k) => {
          for (;;) {
            const got = k.read(buf, sim.now);
            if (got === 0) break;
            for (let i = 0; i < got; i++) if (buf[i] !== pattern(r.received + i, seed)) r.badBytes++;
            r.received += got;
            if (r.received === n) r.doneAt = sim.now;
          }
        },
        onRemoteFin: (k) => { if (k.readableLength === 0) k.close(sim.now); },
        onClosed: (_k, e) => { r.closedB = true; r.errB = e; },
      }) !== undefined) { /* accept every queued connection */ }
    },
  });
  sim.at(0, () => {
    r.sender = la.connect({ remoteAddress: B, remotePort: PORT }, sim.now, {
      onEstablished: pump,
      onWritable: pump,
      onClosed: (_c, e) => { r.closedA = true; r.errA = e; },
    });
  });
  r.finished = sim.run(3_000_000);
  return r;
}

/** Every byte arrived, in order, and both ends closed cleanly with nothing left armed. */
function clean(r: Bulk, n: number): void {
  expect(r.finished, 'the simulation ran out').toBe(true);
  expect(r.received).toBe(n);
  expect(r.badBytes).toBe(0);
  expect([r.closedA, r.closedB]).toEqual([true, true]);
  expect(r.errA).toBeUndefined();
  expect(r.errB).toBeUndefined();
  expect(r.la.connectionCount + r.lb.connectionCount).toBe(0);
  expect(r.la.pollAt()).toBe(Infinity);
  expect(r.lb.pollAt()).toBe(Infinity);
}

const median = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b);
  return s.length % 2 === 1 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

// ====================================================================== throughput under reordering

/**
 * The claim of the issue: "reordering without loss does not collapse throughput" (the
 * failure that made a large gVisor user switch RACK off). Link: 10 ms each way, no loss, no
 * jitter; a fraction `reorder` of the segments (both ways) is held back `reorderDelay` more,
 * at most the one-way delay. The window is bounded by the 256 KiB buffers; the link has no
 * bandwidth limit, so completion time measures the congestion response alone.
 *
 * Measured 2026-11-25, after the fixes these tests drove (D-SACK-only ACKs are not duplicate
 * ACKs, Eifel/D-SACK undo at recovery end, RTT samples from the send times, the first lost
 * segment resent at recovery start...): loss-free 450 ms (NewReno), 410 ms (CUBIC); with RACK
 * NewReno median 1.42x, max 1.71x; CUBIC median 1.45x, max 4.83x (a recovery that really
 * reduced: a retransmission lost by the reordering-delay race, not undone). Before those fixes
 * the same runs had medians 1.56x / 3.48x and a worst case of 5.33x. With rack: false every run
 * is 12-30x. Bounds: every run within BOUND = 6x, the median within MEDIAN_BOUND = 2x; the
 * DupThresh sender (rack: false) exceeds BOUND in every cell (the contrast).
 *
 * The sender's buffer is held at 256 KiB here (sendBufferMax), as when these bounds were set:
 * send-buffer autotuning (2026-12) makes the loss-free run twice as fast (CUBIC 410 -> 190 ms,
 * NewReno 450 -> 270 ms) and the reordered runs faster too, but less (a real reduction takes
 * CUBIC ~1.5 s to regrow whatever the buffer), so the ratio would measure the buffer, not
 * the congestion response.
 */
const BOUND = 6;
const MEDIAN_BOUND = 2;
const N_BIG = 4 << 20;
// Over IPv6 (project tcp6) one seed per cell: the link cuts the stream at the same MSS as over
// IPv4, so this shows the family changes nothing without measuring the spread twice.
const SEEDS = FAMILY === 6 ? [1] : [1, 2, 3];
const CELLS: [number, number][] = [[0.05, 5], [0.05, 10], [0.25, 5], [0.25, 10]];
const link = (reorder: number, reorderDelay: number): LinkParams => ({ loss: 0, duplicate: 0, delay: 10, jitter: 0, reorder, reorderDelay });

describe.each(['newreno', 'cubic'] as const)('reordering without loss does not collapse throughput (%s)', (cc: CongestionControlName) => {
  it(`every 4 MiB transfer with RACK within ${BOUND}x of the loss-free time (median ${MEDIAN_BOUND}x); RFC 6675 DupThresh (rack: false) beyond ${BOUND}x`, () => {
    const fixed = { sendBufferMax: 256 * 1024 };
    const base = bulk(1, { loss: 0, duplicate: 0, delay: 10, jitter: 0 }, { congestionControl: cc, ...fixed }, N_BIG);
    clean(base, N_BIG);
    expect(base.la.stats().RetransSegs).toBe(0);
    const lines: string[] = [`${cc}: loss-free ${base.doneAt.toFixed(0)} ms`];
    const ratios: number[] = [];
    for (const [p, d] of CELLS) {
      const cell: string[] = [];
      for (const seed of SEEDS) {
        const r = bulk(seed, link(p, d), { congestionControl: cc, ...fixed }, N_BIG);
        clean(r, N_BIG);
        const ratio = r.doneAt / base.doneAt;
        ratios.push(ratio);
        const st = r.la.stats();
        cell.push(`${r.doneAt.toFixed(0)} ms ${ratio.toFixed(2)}x (recoveries ${st.FastRetransmits}, undone ${st.SpuriousRecoveries})`);
        expect(ratio, `RACK, reorder ${p * 100}% by ${d} ms, seed ${seed}: ${r.doneAt} ms vs ${base.doneAt} ms`).toBeLessThanOrEqual(BOUND);
      }
      // The contrast: the same property fails for the DupThresh sender (the test can fail).
      const off = bulk(SEEDS[0]!, link(p, d), { congestionControl: cc, rack: false, ...fixed }, N_BIG);
      clean(off, N_BIG);
      const offRatio = off.doneAt / base.doneAt;
      expect(offRatio, `rack: false, reorder ${p * 100}% by ${d} ms: ${off.doneAt} ms`).toBeGreaterThan(BOUND);
      lines.push(`  reorder ${p * 100}% by ${d} ms: RACK ${cell.join(', ')}; rack: false ${off.doneAt.toFixed(0)} ms ${offRatio.toFixed(2)}x (recoveries ${off.la.stats().FastRetransmits})`);
    }
    lines.push(`  RACK median ${median(ratios).toFixed(2)}x, max ${Math.max(...ratios).toFixed(2)}x`);
    console.log(lines.join('\n'));
    expect(median(ratios), 'median of the RACK runs').toBeLessThanOrEqual(MEDIAN_BOUND);
  }, 120_000);
});

describe('reordering without loss on a sub-millisecond path (RTT 0.4 ms)', () => {
  const fast = (reorder: number): LinkParams => ({ loss: 0, duplicate: 0, delay: 0.2, jitter: 0, reorder, reorderDelay: 0.2 });
  const bases = new Map<string, Bulk>();
  function ratio(cc: CongestionControlName, timestamps: boolean, rack = true): number {
    let base = bases.get(`${cc} ${timestamps}`);
    if (base === undefined) {
      base = bulk(1, fast(0), { congestionControl: cc, timestamps }, N_BIG);
      clean(base, N_BIG);
      bases.set(`${cc} ${timestamps}`, base);
    }
    const r = bulk(1, fast(0.05), { congestionControl: cc, timestamps, rack }, N_BIG);
    clean(r, N_BIG);
    const st = r.la.stats();
    console.log(`${cc}, timestamps ${timestamps}, rack ${rack}: loss-free ${base.doneAt.toFixed(1)} ms, reordered ${r.doneAt.toFixed(1)} ms (${(r.doneAt / base.doneAt).toFixed(2)}x), recoveries ${st.FastRetransmits}, undone ${st.SpuriousRecoveries}, retransmitted ${st.RetransSegs}`);
    return r.doneAt / base.doneAt;
  }

  it.each(['newreno', 'cubic'] as const)('%s, RTT samples from the send times (timestamps off): RACK within the bound, DupThresh beyond it', (cc) => {
    expect(ratio(cc, false)).toBeLessThanOrEqual(BOUND);
    expect(ratio(cc, false, false)).toBeGreaterThan(BOUND);
  }, 60_000);

  // Regression test (a bug found by these tests and fixed; was in connection.ts rttOnAck feeds RACK.min_RTT with RFC 7323 timestamp samples,
  // `this.rack?.onRttSample(sample)`, whose 1 ms TSval ticks give 0 on a sub-millisecond path;
  // rack.ts reorderWindow() is then min(reo_wnd_mult * 0 / 4, SRTT) = 0 for good, so D-SACKs
  // (reo_wnd_mult) can never widen it and every reordering is a spurious recovery). Measured:
  // CUBIC 20.8x the loss-free time with 172 recoveries and 897 retransmissions, against 15.5x
  // for the DupThresh sender and 1.5x for RACK without timestamps. Timestamps are on by default.
  // Fix: take RACK's min_RTT from the sender's own send times (now - Segment.xmit_ts of a
  // delivered, never-retransmitted segment, as RACK.rtt already is), or floor a 0 ms sample at
  // the clock granularity.
  it.each(['newreno', 'cubic'] as const)('%s, timestamps on (the default): RACK within the bound', (cc) => {
    expect(ratio(cc, true)).toBeLessThanOrEqual(BOUND);
  }, 60_000);
});

// ====================================================================== exact delivery under impairment

describe('loss, duplication and reordering with RACK-TLP', () => {
  it('property: any seed, loss <= 5 %, duplication, reordering: exact bytes, clean close, no timer left armed (and the window checks below hold)', () => {
    const runs = Number(process.env.TCP_SIM_RUNS ?? 150);
    const total = { runs: 0, bytes: 0, rackRecoveries: 0, tlpProbes: 0, tlpRecoveries: 0, dsacks: 0, spurious: 0, retransSegs: 0, maxNow: 0, rtos: 0, rtoLostRetransmits: 0, lossUndos: 0 };
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 0x7fffffff }),
      fc.record({
        loss: fc.double({ min: 0, max: 0.05, noNaN: true }),
        duplicate: fc.double({ min: 0, max: 0.05, noNaN: true }),
        delay: fc.integer({ min: 1, max: 20 }),
        jitter: fc.integer({ min: 0, max: 5 }),
        reorder: fc.double({ min: 0, max: 0.3, noNaN: true }),
      }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.integer({ min: 1, max: 300_000 }),
      fc.constantFrom<CongestionControlName>('newreno', 'cubic'),
      fc.boolean(),
      (seed, l, reorderFrac, n, cc, timestamps) => {
        // reorderDelay at most the one-way delay; the window checks of the next section run too
        const r = bulk(seed, { ...l, reorderDelay: reorderFrac * l.delay }, { congestionControl: cc, timestamps }, n, cwndChecker(cc).observe);
        clean(r, n);
        const st = r.la.stats();
        total.runs++;
        total.bytes += n;
        total.rackRecoveries += st.RackRecoveries;
        total.tlpProbes += st.TlpProbes;
        total.tlpRecoveries += st.TlpRecoveries;
        total.dsacks += st.DsacksReceived;
        total.spurious += st.SpuriousRecoveries;
        total.retransSegs += st.RetransSegs;
        total.rtos += st.RetransTimeouts;
        total.rtoLostRetransmits += st.RtoLostRetransmits;
        total.lossUndos += st.LossUndos;
        total.maxNow = Math.max(total.maxNow, r.sim.now);
      },
    ), { numRuns: runs });
    expect(total.runs).toBe(runs);
    console.log('RACK-TLP property totals', JSON.stringify(total));
    // Not vacuous: the runs went through RACK recoveries, D-SACKs and undos (150 runs have
    // about 100 RACK recoveries, 200 D-SACKs and 45 undos; probes are rare in bulk transfers:
    // the next test has them).
    if (runs >= 150) {
      expect(total.rackRecoveries).toBeGreaterThan(0);
      expect(total.dsacks).toBeGreaterThan(0);
      expect(total.spurious).toBeGreaterThan(0);
    }
  }, 60_000);

  it('short transfers over a lossy link: tail loss probes fire (RFC 8985 §7), every byte exact', () => {
    let probes = 0;
    let rtx = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const n = 20_000;
      const r = bulk(seed, { loss: 0.05, duplicate: 0, delay: 10, jitter: 0 }, { congestionControl: 'cubic' }, n);
      clean(r, n);
      probes += r.la.stats().TlpProbes;
      rtx += r.la.stats().RetransSegs;
    }
    expect(probes).toBeGreaterThan(0);
    console.log(`30 transfers of 20 kB at 5 % loss: ${probes} probes, ${rtx} retransmitted segments`);
  });
});

// ====================================================================== the congestion window at every event

interface Snap {
  cwnd: number; ssthresh: number; una: number; nxt: number; max: number; wnd: number;
  inRecovery: boolean; sackRecovery: boolean; synchronized: boolean; retries: number;
  /** After a timeout, before SND.UNA passed its "recover" (go-back-N; Linux's TCP_CA_Loss). */
  loss: boolean;
  lossUndos: number;
  /** F-RTO's undos (RFC 5682), also in lossUndos. */
  spuriousRtos: number;
  sent: number; resent: number; phase: string;
  fastRetransmits: number; spurious: number; tlpProbes: number;
  /** Octets the scoreboard holds as SACKed (above SND.UNA). */
  sacked: number;
  /** What PRR still lets the SACK recovery send on the last ACK's sndcnt (for the path counts only). */
  prrAllow: number;
}

function snap(c: TcpConnection): Snap {
  const st = c.stats;
  const lc = (c as unknown as { layer: TcpLayer }).layer.stats();
  return {
    cwnd: st.cwnd, ssthresh: st.ssthresh, una: c.sndUna, nxt: c.sndNxt, max: c.sndMax, wnd: c.sndWnd,
    inRecovery: c.recovery.inRecovery, sackRecovery: c.recovery.sackRecovery, synchronized: c.isSynchronized(), retries: c.retries,
    loss: c.recovery.inLossState(), lossUndos: lc.LossUndos, spuriousRtos: lc.SpuriousRtos,
    sent: st.bytesSent, resent: st.bytesRetransmitted, phase: c.cc instanceof Cubic ? c.cc.snapshot.phase : '',
    fastRetransmits: lc.FastRetransmits, spurious: lc.SpuriousRecoveries, tlpProbes: lc.TlpProbes,
    sacked: sackedOctets(c),
    prrAllow: c.recovery.prrAllow,
  };
}

function sackedOctets(c: TcpConnection): number {
  let n = 0;
  for (let i = 0; i < c.scoreboard.count; i++) {
    const l = seqGt(c.scoreboard.left(i), c.sndUna) ? c.scoreboard.left(i) : c.sndUna;
    if (seqLt(l, c.scoreboard.right(i))) n += seqDiff(c.scoreboard.right(i), l);
  }
  return n;
}

/** RFC 6675 §4 pipe as RACK counts it: unSACKed octets in flight less those marked lost. */
/** Octets in [SND.UNA, end) that the scoreboard does not hold. */
function unsackedTo(c: TcpConnection, end: number): number {
  let n = seqDiff(end, c.sndUna);
  for (let i = 0; i < c.scoreboard.count; i++) {
    const l = seqGt(c.scoreboard.left(i), c.sndUna) ? c.scoreboard.left(i) : c.sndUna;
    const r = seqLt(c.scoreboard.right(i), end) ? c.scoreboard.right(i) : end;
    if (seqLt(l, r)) n -= seqDiff(r, l);
  }
  return n;
}

/** What go-back-N after an RTO has (re)sent: [SND.UNA, SND.NXT) less SACKed ranges (it skips them, RFC 6675 §5.1). */
function sentUnsacked(c: TcpConnection): number {
  return unsackedTo(c, c.sndNxt);
}

function pipe(c: TcpConnection): number {
  return unsackedTo(c, c.sndMax) - (c.rack?.lostBytes ?? 0);
}

/**
 * The checks, per event at the sender (b: before, a: after), with `cc` the controller:
 *  1. ssthresh >= 2 SMSS (RFC 5681 eq. 4; RFC 9438 §4.6).
 *  2. A retransmission timeout (retries went up) leaves cwnd = 1 SMSS (RFC 5681 §3.1 eq. 4's
 *     loss window; RFC 9438 §4.8) and ssthresh from FlightSize (NewReno: max(FlightSize/2,
 *     2 SMSS); CUBIC: max(FlightSize * beta_cubic, 2 SMSS)), or held constant when the same
 *     data timed out again.
 *  3. No undo after a timeout: after an RTO, cwnd is never restored by an undo until a new
 *     recovery (whose own reduction may be undone) began.
 *  4. Growth per event: NewReno at most SMSS, and in slow start at most the bytes acknowledged
 *     (RFC 5681 §3.1 eq. 2). CUBIC (the exposed cwnd is floored: +1 byte): in slow start
 *     min(N, L*SMSS) with L = 8, a quarter of that in CSS (RFC 9406 §4.2); in congestion
 *     avoidance at most N/2 (RFC 9438 §4.2: target <= 1.5 cwnd, cwnd += (target - cwnd)/cwnd
 *     per segment acknowledged). Inflation of RFC 6582 recovery: SMSS per duplicate ACK
 *     (RFC 5681 §3.2 step 4); entering recovery: cwnd <= ssthresh + 3 SMSS (step 4 of §3.2).
 *     Undo (a D-SACK showed the recovery spurious) is exempt from growth limits.
 *  5. What was sent in the event respects the window: outside SACK recovery, when SND.NXT
 *     moved, SND.NXT - SND.UNA <= min(SND.WND, cwnd + 2 SMSS) (RFC 3042 limited transmit; none
 *     in RFC 6582 recovery, whose cwnd is inflated instead), + SMSS for a tail loss probe (RFC
 *     8985 §7.3 sends it whatever cwnd) or for the retransmission that starts a recovery, + 1
 *     for a FIN; in SACK recovery what Proportional Rate Reduction allows (RFC 6937 §3.1), with
 *     its own count here: either pipe <= ssthresh (the reduction bounds never send past it;
 *     pipe from the scoreboard and RACK's lost bytes), or prr_out <= CEIL(prr_delivered *
 *     ssthresh / RecoverFS) in whole SMSS, as RFC 6937 §5 counts (+ the recovery's first retransmission, which goes whatever the
 *     window), prr_delivered summing each event's change in SND.UNA and SACKed octets since the
 *     recovery began, prr_out the octets sent and resent since, RecoverFS the flight then.
 *     In the loss state after a timeout, new data sent while go-back-N stays where it is (RFC
 *     5682 F-RTO step 2b, timestamps off): at most two segments.
 */
function cwndChecker(cc: CongestionControlName) {
  let b: Snap | undefined;
  let rtoSinceRecovery = false;
  /** The window when the current loss episode's timeout fired (check 3'). */
  let rtoPrior: { cwnd: number; ssthresh: number } | undefined;
  /** RFC 6937's variables, counted here from what the connection shows (undefined: not in SACK recovery). */
  let prr: { delivered: number; out: number; recoverFs: number } | undefined;
  const counts = { events: 0, acksGrown: 0, rtos: 0, sends: 0, recoverySends: 0, undos: 0, lossEntries: 0, lossUndos: 0, rereductions: 0, rereducedWithBudget: 0, frtoSends: 0, frtoUndos: 0 };
  const observe: Observer = (c, phase, kind, now) => {
    if (phase === 'before') { b = snap(c); return; }
    if (b === undefined || !b.synchronized) return;
    const a = snap(c);
    const SMSS = c.sndMss;
    const at = `${kind} at ${now.toFixed(3)} ms`;
    counts.events++;
    // 1.
    if (a.ssthresh !== Infinity) expect(a.ssthresh, `ssthresh, ${at}`).toBeGreaterThanOrEqual(2 * SMSS);
    // 2.
    if (a.retries > b.retries && b.wnd > 0 && seqLt(b.una, b.max)) {
      counts.rtos++;
      rtoSinceRecovery = true;
      // What an undo of this timeout may restore at most: the window before it (a timeout that
      // begins a loss episode; a repeated one keeps the first's).
      if (!b.loss && !b.inRecovery) rtoPrior = { cwnd: b.cwnd, ssthresh: b.ssthresh };
      else if (b.inRecovery) rtoPrior = undefined;
      expect(a.cwnd, `cwnd after an RTO, ${at}`).toBe(SMSS);
      const flight = seqDiff(b.max, b.una);
      const eq = cc === 'newreno' ? Math.max(Math.floor(flight / 2), 2 * SMSS) : Math.max(Math.floor(flight * 0.7), 2 * SMSS);
      expect(a.ssthresh === eq || a.ssthresh === b.ssthresh, `ssthresh after an RTO ${a.ssthresh}: eq. 4 gives ${eq}, was ${b.ssthresh}, ${at}`).toBe(true);
    }
    if (a.fastRetransmits > b.fastRetransmits) rtoSinceRecovery = false;
    // 3.
    if (a.spurious > b.spurious) {
      counts.undos++;
      expect(rtoSinceRecovery, `an undo after an RTO, ${at}`).toBe(false);
    }
    // 3'. A timeout undone (RFC 3522 Eifel detection or RFC 5682 F-RTO, Linux's tcp_try_undo_loss): only one that
    // began a loss episode, in it, restoring at most the window from before it (growth on the
    // same ACK aside: at most 8 SMSS in slow start, half of what it acknowledges in avoidance).
    if (a.lossUndos > b.lossUndos) {
      counts.lossUndos++;
      expect(b.loss, `a timeout undone outside its loss episode, ${at}`).toBe(true);
      expect(rtoPrior, `a timeout undone that did not begin an episode, ${at}`).toBeDefined();
      expect(a.cwnd, `cwnd after a timeout undone, ${at}`).toBeLessThanOrEqual(Math.max(rtoPrior!.cwnd, b.cwnd) + Math.max(8 * SMSS, seqDiff(a.una, b.una)));
      if (rtoPrior!.ssthresh !== Infinity) expect(a.ssthresh, `ssthresh after a timeout undone, ${at}`).toBeLessThanOrEqual(Math.max(rtoPrior!.ssthresh, b.ssthresh));
      expect(a.loss, `the loss state after an undo, ${at}`).toBe(false);
      rtoPrior = undefined;
    }
    // (Path count: ssthresh lowered again inside a SACK recovery, RFC 5681 §4.3's second
    // reduction for a lost retransmission, with some of the last ACK's PRR budget unspent: the
    // sends after it are held to the new ssthresh by check 5.)
    if (b.sackRecovery && a.sackRecovery && a.fastRetransmits === b.fastRetransmits && a.ssthresh < b.ssthresh) {
      counts.rereductions++;
      if (b.prrAllow > 0) counts.rereducedWithBudget++;
    }
    // 4.
    const grow = a.cwnd - b.cwnd;
    const acked = seqDiff(a.una, b.una);
    if (a.spurious === b.spurious && a.lossUndos === b.lossUndos && grow > 0) {
      counts.acksGrown++;
      if (a.fastRetransmits > b.fastRetransmits) {
        expect(a.cwnd, `cwnd on entering recovery, ${at}`).toBeLessThanOrEqual(a.ssthresh + 3 * SMSS);
      } else if (b.inRecovery) {
        expect(grow, `growth in recovery, ${at}`).toBeLessThanOrEqual(SMSS);
      } else if (cc === 'newreno') {
        expect(grow, `growth per ACK, ${at}`).toBeLessThanOrEqual(SMSS);
        if (b.cwnd < b.ssthresh) expect(grow, `slow-start growth per ACK (${acked} acked), ${at}`).toBeLessThanOrEqual(acked);
      } else {
        const limit = b.phase === 'slow-start' ? Math.min(acked, 8 * SMSS)
          : b.phase === 'css' ? Math.min(acked, 8 * SMSS) / 4
            : b.phase === 'avoidance' ? acked / 2
              : SMSS;
        expect(grow, `CUBIC growth in ${b.phase} (${acked} acked), ${at}`).toBeLessThanOrEqual(limit + 1);
      }
    }
    // 5. (The retransmission that starts a recovery goes whatever the window: RFC 5681 §3.2
    // step 3, RFC 6675 §5 (4.3); outside SACK recovery only a send that moved SND.NXT counts.)
    const entry = a.fastRetransmits > b.fastRetransmits ? SMSS : 0;
    const probe = a.tlpProbes > b.tlpProbes ? SMSS : 0;
    if (!a.sackRecovery) prr = undefined;
    else {
      // The flight when the recovery began: after this event's ACK, before its new data.
      if (entry > 0 || prr === undefined) {
        let recoverFs = seqDiff(a.max, a.una) - (a.sent - b.sent);
        // (Only when the recovery did begin there: an ACK that takes SND.UNA past the timeout's
        // "recover" ends the loss state first, and a recovery it starts is an ordinary one,
        // RecoverFS = SND.NXT - SND.UNA, SACKed data included, RFC 6937 §3.1.)
        if (entry > 0 && b.loss && a.lossUndos === b.lossUndos && c.recovery.inRtoEpisode()) {
          // A recovery that a lost retransmission started during go-back-N after a timeout
          // (recovery.ts rackDetect, Linux's tcp_enter_recovery from TCP_CA_Loss): RecoverFS is
          // the window in use then, min(cwnd, what go-back-N had resent and the peer had not
          // SACKed) (Linux's prior_cwnd), never more than that resent part.
          const resentEnd = seqGt(a.una, b.nxt) ? a.una : b.nxt;
          recoverFs = c.recovery.recoverFs;
          expect(recoverFs, `RecoverFS of a recovery begun after a timeout, ${at}`).toBeLessThanOrEqual(Math.max(unsackedTo(c, resentEnd), SMSS));
          counts.lossEntries++;
        }
        prr = { delivered: 0, out: 0, recoverFs };
      }
      const delivered = seqDiff(a.una, b.una) + a.sacked - b.sacked;
      if (delivered > 0) prr.delivered += delivered;
      prr.out += a.sent - b.sent + a.resent - b.resent;
    }
    const prrOk = (): boolean => prr !== undefined &&
      prr.out <= Math.ceil((prr.delivered * a.ssthresh) / prr.recoverFs / SMSS) * SMSS + SMSS + probe;
    if (a.sackRecovery && entry > 0 && (a.sent > b.sent || a.resent > b.resent)) {
      // The recovery's first retransmission goes whatever pipe is (pipe may already exceed the
      // new ssthresh): exactly one segment, and no new data with it.
      counts.sends++;
      counts.recoverySends++;
      // Beyond that one, what cwnd - pipe allows (RFC 6675 §5 (C)).
      const forcedOnly = a.resent - b.resent <= SMSS && a.sent === b.sent;
      if (!forcedOnly && !prrOk()) expect(pipe(c), `pipe after entering SACK recovery (ssthresh ${a.ssthresh}, PRR ${JSON.stringify(prr)}), ${at}`).toBeLessThanOrEqual(a.ssthresh + probe + entry);
    } else if (a.sackRecovery && (a.sent > b.sent || a.resent > b.resent)) {
      counts.sends++;
      counts.recoverySends++;
      if (!prrOk()) expect(pipe(c), `pipe after sending in SACK recovery (ssthresh ${a.ssthresh}, PRR ${JSON.stringify(prr)}), ${at}`).toBeLessThanOrEqual(a.ssthresh + probe + entry);
    } else if (!a.sackRecovery && seqGt(a.nxt, b.nxt)) {
      counts.sends++;
      const limited = a.inRecovery ? 0 : 2 * SMSS;
      expect(sentUnsacked(c), `flight after sending (cwnd ${a.cwnd}, window ${a.wnd}), ${at}`)
        .toBeLessThanOrEqual(Math.min(a.wnd, a.cwnd + limited) + probe + entry + 1);
    } else if (!a.sackRecovery && b.loss && a.nxt === b.nxt && seqGt(a.max, b.max)) {
      // New data in the loss state with go-back-N where it was: RFC 5682 F-RTO step 2b, at most
      // two new segments whatever cwnd (+ 1 for a FIN), and only once per timeout.
      counts.sends++;
      counts.frtoSends++;
      expect(seqDiff(a.max, b.max), `F-RTO's new data, ${at}`).toBeLessThanOrEqual(2 * SMSS + 1 + probe);
    }
    if (a.spuriousRtos > b.spuriousRtos) counts.frtoUndos++;
  };
  return { observe, counts };
}

describe('the congestion window never exceeds what the RFCs allow', () => {
  /**
   * What a cell is there to meet: 'rto' (bursty default): a timeout undone or a recovery begun in
   * its go-back-N; 'rereduce': ssthresh lowered again inside a SACK recovery with PRR budget
   * unspent; 'frto': timestamps off, RFC 5682 F-RTO's new data sent and a timeout undone by it.
   */
  type Path = 'rto' | 'rereduce' | 'frto';
  const cases: [CongestionControlName, number, LinkParams, Path?][] = [
    ['newreno', 11, { loss: 0.02, duplicate: 0.01, delay: 10, jitter: 1, reorder: 0.1, reorderDelay: 8 }],
    ['newreno', 12, { loss: 0.05, duplicate: 0.02, delay: 5, jitter: 0, reorder: 0.25, reorderDelay: 5 }],
    ['newreno', 13, { loss: 0.005, duplicate: 0, delay: 20, jitter: 0, reorder: 0.05, reorderDelay: 20 }],
    ['cubic', 11, { loss: 0.02, duplicate: 0.01, delay: 10, jitter: 1, reorder: 0.1, reorderDelay: 8 }],
    ['cubic', 12, { loss: 0.05, duplicate: 0.02, delay: 5, jitter: 0, reorder: 0.25, reorderDelay: 5 }],
    ['cubic', 13, { loss: 0.005, duplicate: 0, delay: 20, jitter: 0, reorder: 0.05, reorderDelay: 20 }],
    // Bursty loss both ways (bench --impaired (f): gel=0.5%/30%, 5 ms, here at 1-2 %): timeouts
    // after a whole flight's ACKs were lost (undone by Eifel detection), retransmissions lost
    // again during go-back-N (a recovery from there). Seeds chosen to hit those paths.
    // (Seeds re-chosen with pacing on by default: it moves every send, so the old seeds no
    // longer met those paths. cubic 229: a recovery an ACK starts just as it ends the loss state.)
    ['newreno', 119, { loss: 0, duplicate: 0, delay: 5, jitter: 0, burst: { p: 0.01, r: 0.3 } }],
    ['newreno', 202, { loss: 0, duplicate: 0, delay: 5, jitter: 0, burst: { p: 0.02, r: 0.3 } }],
    ['cubic', 132, { loss: 0, duplicate: 0, delay: 5, jitter: 0, burst: { p: 0.01, r: 0.3 } }],
    ['cubic', 38, { loss: 0, duplicate: 0, delay: 5, jitter: 0, burst: { p: 0.02, r: 0.3 } }],
    ['cubic', 229, { loss: 0, duplicate: 0, delay: 5, jitter: 0, burst: { p: 0.02, r: 0.3 } }],
    // newreno 156: a retransmission lost during a PRR recovery, found by RACK's reordering timer
    // between two ACKs with 4 segments of the last ACK's sndcnt unspent. ssthresh goes down again
    // (RFC 5681 §4.3, RFC 8985 §9.3) and, on the old code, that budget (computed against the old
    // ssthresh) was still sent: pipe 34752 over the new ssthresh 26788 at 86.2 ms. Now it is
    // weighed against the new one first (recovery.ts prrRebound, as Linux recomputes
    // cwnd = pipe + sndcnt whenever ssthresh changes). Found by a scan of seeds 1-300 of both
    // bursty shapes for both controllers (the describe 'scan' below, TCP_SIM_SCAN=1-300): the
    // only seed the checker rejected. (cubic seed 40, where this was first seen, no longer
    // meets it: pacing and autotuning moved every send.)
    ['newreno', 156, { loss: 0, duplicate: 0, delay: 5, jitter: 0, burst: { p: 0.02, r: 0.3 } }, 'rereduce'],
    // Timestamps off: F-RTO (RFC 5682) judges the timeouts: step 2b's new data, and a timeout
    // shown spurious by data it had not resent (the scan with TCP_SIM_SCAN_TS=0 found these).
    ['newreno', 111, { loss: 0, duplicate: 0, delay: 5, jitter: 0, burst: { p: 0.02, r: 0.3 } }, 'frto'],
    // (cubic 241 met it until s21-tr's loss-detection fixes moved its sends; 204 meets it now:
    // F-RTO new data 2, undone by F-RTO 2, in the TCP_SIM_SCAN_TS=0 scan of seeds 200-300.)
    ['cubic', 204, { loss: 0, duplicate: 0, delay: 5, jitter: 0, burst: { p: 0.02, r: 0.3 } }, 'frto'],
  ];
  it.each(cases)('%s, seed %i: at every ACK and timer of a 1 MiB transfer', (cc, seed, l, path) => {
    const n = 1 << 20;
    const { observe, counts } = cwndChecker(cc);
    const r = bulk(seed, l, { congestionControl: cc, ...(path === 'frto' ? { timestamps: false } : {}) }, n, observe);
    clean(r, n);
    // The checks ran, on the interesting events too.
    // (newreno seed 13 has 489 with PRR and send-buffer autotuning)
    expect(counts.events).toBeGreaterThan(400);
    // (cubic seed 11 finishes in half the time with receive-buffer autotuning: 25 growing ACKs, not 85)
    expect(counts.acksGrown).toBeGreaterThan(20);
    expect(counts.sends).toBeGreaterThan(100);
    expect(r.la.stats().FastRetransmits).toBeGreaterThan(0);
    // The bursty cells went through what they are here for.
    if (path === 'rereduce') expect(counts.rereducedWithBudget).toBeGreaterThan(0);
    else if (path === 'frto') expect([counts.frtoSends > 0, counts.frtoUndos > 0]).toEqual([true, true]);
    else if (l.burst !== undefined) expect(counts.lossEntries + counts.lossUndos).toBeGreaterThan(0);
    console.log(`${cc} seed ${seed}: ${r.doneAt.toFixed(0)} ms, events ${counts.events}, cwnd grew ${counts.acksGrown}, sends ${counts.sends} (${counts.recoverySends} in SACK recovery), RTOs ${counts.rtos}, undos ${counts.undos}, recoveries from go-back-N ${counts.lossEntries}, timeouts undone ${counts.lossUndos}, reduced again in recovery ${counts.rereductions} (${counts.rereducedWithBudget} with PRR budget left), F-RTO new data ${counts.frtoSends}, undone by F-RTO ${counts.frtoUndos}`);
  }, 60_000);

  it('the checker itself fails on a violation (a controller that grows 2 SMSS per ACK in slow start)', () => {
    const { observe } = cwndChecker('newreno');
    const n = 64 << 10;
    // A NewReno whose slow start adds 2 SMSS per ACK: RFC 5681 eq. 2 forbids it.
    const greedy = (smss: number) => {
      const cc = new NewReno(smss);
      const onAck = cc.onAck.bind(cc);
      cc.onAck = (acked, flight, now) => { onAck(acked, flight, now); onAck(acked, flight, now); };
      return cc;
    };
    expect(() => bulk(1, { loss: 0, duplicate: 0, delay: 10, jitter: 0 }, { congestionControl: greedy }, n, observe)).toThrow(/growth per ACK/);
  });
});

// ====================================================================== seed scan (off by default)

/**
 * A seed scan of the window checker over the bursty shapes (bench --impaired (f) at 1 % and
 * 2 %), skipped unless TCP_SIM_SCAN=FROM-TO is set: it prints each seed the checker (or the
 * exact-delivery check) rejects and never fails; a diagnostic, not a slow test. Options:
 * TCP_SIM_SCAN_V=1 prints every run (completion time, paths met) and, for a rejected run, the
 * sender's state before the failing event and the connections' state at the end;
 * TCP_SIM_SCAN_NOCHECK=1 runs without the checker (completion times to compare two builds);
 * TCP_SIM_SCAN_TS=0 with timestamps off. (Seeds 1-300, both controllers: newreno 156 at 2 %
 * was the one checker failure, now a case above; cubic 42 at 2 % ends in ETIMEDOUT: the
 * Gilbert-Elliott chain of the ACK direction moves only when B sends, i.e. once per backed-off
 * retransmission, and stayed bad for 30 of them.)
 */
describe.skipIf(process.env.TCP_SIM_SCAN === undefined)('scan: the window checker over bursty-loss seeds', () => {
  const [from, to] = (process.env.TCP_SIM_SCAN ?? '1-1').split('-').map(Number) as [number, number];
  const verbose = process.env.TCP_SIM_SCAN_V !== undefined;
  const timestamps = process.env.TCP_SIM_SCAN_TS !== '0';
  it.each(['newreno', 'cubic'] as const)('%s', (cc) => {
    const bad: string[] = [];
    for (const p of [0.01, 0.02]) {
      for (let seed = from; seed <= to; seed++) {
        const n = 1 << 20;
        const chk = cwndChecker(cc);
        const counts = chk.counts;
        let last = '';
        let frtoBefore = 0;
        let frtoTimeouts = 0;
        const observe: Observer = (c, phase, kind, now) => {
          if (phase === 'before') frtoBefore = c.recovery.frto;
          else if (frtoBefore === 2 && c.recovery.frto === 0 && kind === 'timer' && c.retries > 0) frtoTimeouts++;
          if (phase === 'before' && verbose) {
            const q = c.recovery;
            last = `before ${kind} at ${now}: ssthresh ${c.stats.ssthresh} cwnd ${c.stats.cwnd} pipe ${q.pipe()} PRR allow ${q.prrAllow} delivered ${q.prrDelivered} out ${q.prrOut} RecoverFS ${q.recoverFs}, recovery ${q.inRecovery} (SACK ${q.sackRecovery}), loss state ${q.inLossState()}`;
          }
          chk.observe(c, phase, kind, now);
        };
        let r: Bulk | undefined;
        try {
          r = bulk(seed, { loss: 0, duplicate: 0, delay: 5, jitter: 0, burst: { p, r: 0.3 } }, { congestionControl: cc, timestamps }, n,
            process.env.TCP_SIM_SCAN_NOCHECK === undefined ? observe : undefined);
          clean(r, n);
          if (verbose) console.log(`${cc} p ${p} seed ${seed}: ${r.doneAt.toFixed(1)} ms, recoveries from go-back-N ${counts.lossEntries}, timeouts undone ${counts.lossUndos}, reduced again ${counts.rereductions} (${counts.rereducedWithBudget} with PRR budget left), F-RTO sends ${counts.frtoSends} undos ${counts.frtoUndos} timeouts in step 3 ${frtoTimeouts}, RTOs ${r.la.stats().RetransTimeouts}`);
        } catch (e) {
          bad.push(`${cc} p ${p} seed ${seed}: ${(e as Error).message.split('\n')[0]}${last === '' ? '' : ` [${last}]`}`);
          if (r !== undefined && verbose) {
            const c = r.sender;
            console.log(`${cc} p ${p} seed ${seed} rejected; at the end (${r.sim.now.toFixed(1)} ms): received ${r.received}, closed ${r.closedA}/${r.closedB}, errors ${r.errA?.code}/${r.errB?.code}`,
              c === undefined ? '' : `A ${c.state} una ${c.sndUna} nxt ${c.sndNxt} max ${c.sndMax} cwnd ${c.stats.cwnd} retries ${c.retries}`,
              r.lb.connections().map((k) => `B ${k.state} rcvNxt ${k.rcvNxt}`).join('; '));
          }
        }
      }
    }
    console.log(`${cc}: ${bad.length} rejected\n${bad.join('\n')}`);
  }, 3_600_000);
});
