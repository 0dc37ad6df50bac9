/**
 * Sender pacing (pacing.ts: Linux's tcp_update_pacing_rate, tcp_update_skb_after_send,
 * tcp_pacing_check, tcp_tso_autosize), virtual time only.
 *  - the Pacer's arithmetic: the rate (slow-start and congestion-avoidance ratios,
 *    max(cwnd, flight) / SRTT), the first 10 segments unpaced, the departure time with its
 *    jitter credit, the slack, the autosized super-segment;
 *  - a trace: an ACK that opens 18 segments in slow start sends them spread over about half
 *    the RTT (200 %), never more than the burst limit at one instant, the pacing timer sending
 *    the rest; with `pacing: false` the same ACK sends all 18 at once (the code before);
 *  - the simulator: a bulk transfer over a 40 ms RTT arrives exact, no instant carries more
 *    than the limit (rate * slack plus one autosized segment), the transfer takes about as
 *    long as unpaced (no bottleneck there to gain from), and the timers all stop; on a 0.8 ms
 *    path pacing never holds data (the clean local link is unchanged).
 * On the code before pacing the trace and the simulator's limits fail (every window left at
 * one instant).
 */
import { describe, expect, it } from 'vitest';
import { ACK, SYN } from '../src/index.js';
import type { IpOutput } from '@netstack/ip';
import type { TcpConnection, TcpLayerOptions } from '../src/index.js';
import { PACING_SLACK_MS, Pacer } from '../src/pacing.js';
import { REMOTE_ISS, decode, synSent } from './harness.js';
import type { Ctx } from './harness.js';
import { SIM_A, SIM_B, Sim } from './netsim.js';
import type { LinkParams } from './netsim.js';

const MSS = 1460;

describe('Pacer (Linux tcp_update_pacing_rate / tcp_update_skb_after_send / tcp_tso_autosize)', () => {
  it('rate: 200 % of max(cwnd, flight) / SRTT while cwnd < ssthresh / 2, else 120 %; none without an RTT', () => {
    const p = new Pacer();
    p.update(10 * MSS, Infinity, 0, 100);
    expect(p.rate).toBeCloseTo((2 * 10 * MSS) / 100);
    p.update(10 * MSS, 20 * MSS, 0, 100); // cwnd = ssthresh / 2: no longer "well below"
    expect(p.rate).toBeCloseTo((1.2 * 10 * MSS) / 100);
    p.update(10 * MSS, 5 * MSS, 14 * MSS, 100); // more in flight than cwnd (after a reduction)
    expect(p.rate).toBeCloseTo((1.2 * 14 * MSS) / 100);
    p.update(10 * MSS, 5 * MSS, 0, 0);
    expect(p.rate).toBe(0);
    const q = new Pacer(300, 100);
    q.update(10 * MSS, Infinity, 0, 50);
    expect(q.rate).toBeCloseTo((3 * 10 * MSS) / 50);
  });

  it('the first 10 segments go unpaced; then each moves the departure time on by len / rate, less up to half for lateness', () => {
    const p = new Pacer();
    p.update(10 * MSS, Infinity, 0, 20); // 1460 B/ms: one MSS a millisecond
    expect(p.rate).toBe(MSS);
    for (let i = 0; i < 9; i++) p.onSent(MSS, 1, 0);
    expect(p.blockedUntil(0)).toBe(-Infinity);
    expect(p.next).toBe(0);
    p.onSent(MSS, 1, 0); // the 10th: paced; the departure time was not behind now: no credit
    expect(p.next).toBe(1);
    // May run PACING_SLACK_MS ahead of now: at 0 the next may still go (next - 1 = 0 is not after 0)
    expect(p.blockedUntil(0)).toBe(-Infinity);
    p.onSent(2 * MSS, 2, 0);
    expect(p.next).toBe(3);
    expect(p.blockedUntil(0)).toBe(3 - PACING_SLACK_MS);
    expect(p.blockedUntil(2)).toBe(-Infinity);
    // 4 ms late (now 7, departure time 3): the next segment costs half its time (credit).
    p.onSent(2 * MSS, 2, 7);
    expect(p.next).toBe(8);
  });

  it('autosize: about 1 ms of the rate per super-segment, at least 2 MSS, the full 64 KB when the peer is under 0.5 ms away', () => {
    const p = new Pacer();
    const max = 44 * MSS;
    expect(p.autosize(MSS, max, 10)).toBe(max); // not pacing yet: unchanged
    for (let i = 0; i < 10; i++) p.onSent(MSS, 1, 0);
    p.update(100 * MSS, 0, 0, 10); // 1.2 * 100 MSS / 10 ms = 12 MSS a ms
    expect(p.autosize(MSS, max, 10)).toBe(12 * MSS); // 12.288 MSS in 1.024 ms
    p.update(5 * MSS, 0, 0, 10);
    expect(p.autosize(MSS, max, 10)).toBe(2 * MSS); // tcp_min_tso_segs
    expect(p.autosize(MSS, max, 0.3)).toBe(max); // + 64 KB >> 0
    expect(p.autosize(MSS, max, 0.6)).toBe(Math.floor((0.6 * MSS * 1.024 + max / 2) / MSS) * MSS); // + 64 KB >> 1
  });
});

const big = (n: number) => new Uint8Array(n).fill(0x61);

/** ESTABLISHED by an active open whose SYN-ACK came `rtt` ms after the SYN (the first RTT sample). */
function establishedAfter(rtt: number, options: TcpLayerOptions): Ctx {
  const t = synSent(options);
  t.step(rtt);
  t.send({ seq: REMOTE_ISS, ack: t.iss + 1, flags: SYN | ACK, window: 65535, options: { mss: MSS } });
  t.recv({ flags: ACK, seq: t.iss + 1, ack: REMOTE_ISS + 1 });
  return t;
}

/** Data segments sent since the last call, as segment numbers (1-based). */
const sentSegs = (t: Ctx) => t.drain().filter((s) => s.payload.length > 0).map((s) => ((s.seq - t.iss - 1) >>> 0) / MSS + 1);

describe('pacing a connection (trace, virtual time)', () => {
  function slowStartWindow(pacing: boolean) {
    const t = establishedAfter(100, { pacing });
    t.write(big(60 * MSS));
    // The initial window (10) goes at once: the first 10 segments are not paced.
    expect(sentSegs(t)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    t.step(100);
    // One ACK for all 10: slow start grows cwnd by what it acked, at most L = 8 SMSS (RFC 3465
    // §2.3), so 18 segments may go, all at once without pacing.
    t.send({ seq: REMOTE_ISS + 1, ack: (t.iss + 1 + 10 * MSS) >>> 0, flags: ACK, window: 65535 });
    return t;
  }

  it('an ACK that opens 20 segments in slow start: spread over about half the RTT, the pacing timer sending the rest', () => {
    const t = slowStartWindow(true);
    const cwnd = t.conn.stats.cwnd;
    const opened = cwnd / MSS;
    expect(opened).toBeGreaterThanOrEqual(11);
    const srtt = t.conn.stats.srtt;
    const rate = (2 * cwnd) / srtt; // 200 % in slow start
    // At one instant: at most what the slack allows plus one segment.
    const limit = Math.ceil((rate * PACING_SLACK_MS) / MSS) + 1;
    const t0 = t.now;
    const times: number[] = [];
    let got = sentSegs(t);
    expect(got.length).toBeLessThanOrEqual(limit);
    for (const _ of got) times.push(t.now);
    expect(t.layer.stats().PacingDelays).toBeGreaterThan(0);
    const seen = [...got];
    // Time moves a millisecond at a time; no ACK comes: the pacing timer sends the window.
    for (let ms = 1; ms <= 100 && seen.length < opened; ms++) {
      t.step(1);
      got = sentSegs(t);
      expect(got.length).toBeLessThanOrEqual(limit);
      for (const s of got) { seen.push(s); times.push(t.now); }
    }
    expect(seen).toEqual(Array.from({ length: opened }, (_, i) => 11 + i));
    // The window's data left over about opened * MSS / rate (half an RTT at 200 %), not at once.
    const span = times[times.length - 1]! - t0;
    const expected = (opened * MSS) / rate;
    expect(span).toBeGreaterThanOrEqual(0.8 * expected - 2);
    expect(span).toBeLessThanOrEqual(1.2 * expected + 2);
    expect(span).toBeLessThan(srtt);
    console.log(`trace: ${opened} segments, limit ${limit} an instant, span ${span} ms (expected ${expected.toFixed(1)}), srtt ${srtt}`);
    // Nothing more until an ACK: cwnd is full.
    t.step(20);
    expect(sentSegs(t)).toEqual([]);
    expect(t.conn.paceAt).toBe(Infinity);
  });

  it('without pacing the same ACK sends all of it at once (as before pacing)', () => {
    const t = slowStartWindow(false);
    const opened = t.conn.stats.cwnd / MSS;
    expect(sentSegs(t)).toHaveLength(opened);
    expect(t.layer.stats().PacingDelays).toBe(0);
  });
});

// ---------------------------------------------------------------- simulation

const PORT = 8080;
const pattern = (i: number) => (i * 131 + (i >>> 9)) & 255;

interface Sent { at: number; len: number; rate: number; active: boolean }

function bulk(n: number, link: Partial<LinkParams>, a: TcpLayerOptions, seed = 1) {
  const sim = new Sim(seed, { loss: 0, duplicate: 0, delay: 20, jitter: 0, ...link });
  const la = sim.host(SIM_A, a);
  const lb = sim.host(SIM_B, {});
  const r = { sim, la, lb, received: 0, bad: 0, doneAt: NaN, sent: [] as Sent[], sender: undefined as TcpConnection | undefined };
  const buf = new Uint8Array(65536);
  lb.listen({ port: PORT }, {
    onAcceptable: (l) => {
      l.accept({
        onReadable: (c) => {
          for (;;) {
            const got = c.read(buf, sim.now);
            if (got === 0) break;
            for (let j = 0; j < got; j++) if (buf[j] !== pattern(r.received + j)) r.bad++;
            r.received += got;
          }
          if (r.received === n && Number.isNaN(r.doneAt)) r.doneAt = sim.now;
        },
        onRemoteFin: (c) => c.close(sim.now),
      });
    },
  });
  // Every data segment A sends, with the time and A's pacer then.
  const ip = (la as unknown as { ip: IpOutput }).ip;
  const sendWith = ip.sendWith.bind(ip);
  ip.sendWith = (dst, p, length, writer, o) => {
    const b = new Uint8Array(length);
    writer.writePayload(b, 0, SIM_A, SIM_B);
    const seg = decode(b, SIM_A, SIM_B);
    const s = r.sender;
    const pacer = s?.pacer;
    if (seg.payload.length > 0 && s !== undefined) {
      r.sent.push({ at: sim.now, len: seg.payload.length, rate: pacer?.rate ?? 0, active: pacer?.active ?? false });
    }
    return sendWith(dst, p, length, writer, o);
  };
  const chunk = new Uint8Array(65536);
  let written = 0;
  const pump = (s: TcpConnection) => {
    while (written < n) {
      const len = Math.min(chunk.length, n - written);
      for (let j = 0; j < len; j++) chunk[j] = pattern(written + j);
      const k = s.write(chunk.subarray(0, len), sim.now);
      written += k;
      if (k < len) return;
    }
    s.close(sim.now);
  };
  r.sender = la.connect({ remoteAddress: SIM_B, remotePort: PORT }, 0, { onEstablished: pump, onWritable: pump });
  sim.run(5_000_000);
  return r;
}

/** Bytes sent at each instant, with the pacer's state at the instant's first segment. */
function instants(sent: Sent[]): { at: number; bytes: number; rate: number; active: boolean }[] {
  const out: { at: number; bytes: number; rate: number; active: boolean }[] = [];
  for (const s of sent) {
    const last = out[out.length - 1];
    if (last !== undefined && last.at === s.at) last.bytes += s.len;
    else out.push({ at: s.at, bytes: s.len, rate: s.rate, active: s.active });
  }
  return out;
}

describe('pacing in the simulator (virtual time)', () => {
  it('4 MiB over a 40 ms RTT: exact; no instant beyond rate * slack + one autosized segment; about as fast as unpaced', () => {
    const n = 4 * 1024 * 1024;
    const paced = bulk(n, {}, { pacing: true });
    const unpaced = bulk(n, {}, { pacing: false });
    for (const r of [paced, unpaced]) {
      expect(r.received).toBe(n);
      expect(r.bad).toBe(0);
      expect(r.la.connectionCount).toBe(0);
      expect(r.la.pollAt()).toBe(Infinity);
    }
    const ip = instants(paced.sent);
    const iu = instants(unpaced.sent);
    // Paced: each instant's bytes within the limit, once pacing is on (after 10 segments).
    let worst = 0;
    for (const x of ip) {
      if (!x.active) continue;
      const unit = Math.max(2 * MSS, x.rate * 1.024);
      const limit = x.rate * PACING_SLACK_MS + unit + MSS;
      worst = Math.max(worst, x.bytes / limit);
    }
    expect(worst).toBeLessThanOrEqual(1);
    const maxPaced = Math.max(...ip.map((x) => x.bytes));
    const maxUnpaced = Math.max(...iu.map((x) => x.bytes));
    // Unpaced, whole windows leave at one instant (this link has no serialisation delay).
    expect(maxUnpaced).toBeGreaterThan(10 * maxPaced);
    expect(ip.length).toBeGreaterThan(20 * iu.length);
    expect(paced.la.stats().PacingDelays).toBeGreaterThan(0);
    // Nothing to gain on a link without a bottleneck; slow start at 200 % costs a little.
    expect(paced.doneAt).toBeLessThan(1.15 * unpaced.doneAt);
    console.log(`4 MiB, 40 ms RTT: paced ${paced.doneAt.toFixed(0)} ms (${ip.length} instants, largest ${maxPaced} B), ` +
      `unpaced ${unpaced.doneAt.toFixed(0)} ms (${iu.length} instants, largest ${maxUnpaced} B)`);
  }, 120_000);

  it('a sub-millisecond path (a clean local link): pacing never holds data, the transfer is unchanged', () => {
    // The 1 ms slack covers a whole window whenever SRTT is under ~1.2 ms (2 ms in slow start):
    // on a clean local link pacing changes nothing. An RTT of 0.8 ms, timed without timestamps
    // (whose 1 ms ticks would measure 0). (At 2 ms it holds data 1,867 times.)
    const n = 8 * 1024 * 1024;
    const paced = bulk(n, { delay: 0.4 }, { pacing: true, timestamps: false });
    const unpaced = bulk(n, { delay: 0.4 }, { pacing: false, timestamps: false });
    for (const r of [paced, unpaced]) {
      expect(r.received).toBe(n);
      expect(r.bad).toBe(0);
    }
    expect(paced.sent.some((x) => x.active)).toBe(true);
    expect(paced.la.stats().PacingDelays).toBe(0);
    const srtt = paced.sender!.stats.srtt;
    expect(srtt).toBeGreaterThan(0.7);
    expect(srtt).toBeLessThan(1.2);
    expect(paced.doneAt).toBe(unpaced.doneAt);
  }, 120_000);
});
