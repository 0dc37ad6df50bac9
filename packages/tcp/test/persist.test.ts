/**
 * Zero window, persist and the RTO (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17, RFC 6298 §5).
 *
 * The peer here keeps no out-of-order data (lwIP without TCP_QUEUE_OOSEQ, smoltcp without
 * an assembler): a segment is taken only when it starts at RCV.NXT, and only as much of it
 * as the window holds; everything is answered with an ACK at once (a zero-RTT peer).
 * What these traces pin down: zero-window probes carry no data (SEG.SEQ = SND.UNA - 1, as
 * Linux's tcp_xmit_probe_skb), back off from the RTO on their own timer, and when the window
 * opens the queued data leaves from SND.UNA in the same virtual millisecond, with a
 * retransmission timer that the probes did not back off.
 */
import { describe, expect, it } from 'vitest';
import { ACK, RST, SYN } from '../src/index.js';
import type { TcpLayerOptions, TcpOptions, TcpRepr } from '../src/index.js';
import { REMOTE_ISS, describeSeg, established, synSent } from './harness.js';
import type { Ctx } from './harness.js';

const R = REMOTE_ISS + 1;
const big = (n: number) => { const b = new Uint8Array(n); for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 0xff; return b; };

/** A receiver without an out-of-order queue. `wnd` is what it advertises (its application reads at once). */
class DiscardingPeer {
  /** Next sequence number it expects from us (RCV.NXT). */
  nxt: number;
  /** The bytes it took, in order. */
  got: number[] = [];
  /** Segments it discarded (out of order or beyond its window). */
  discarded = 0;
  private tsVal = 1000;
  private tsRecent = 0;
  constructor(readonly t: Ctx, public wnd: number, readonly ts: boolean) { this.nxt = (t.iss + 1) >>> 0; }

  /** Our ACK to the stack: its data acknowledged up to RCV.NXT, the current window. */
  ack(): void {
    const options: TcpOptions = this.ts ? { timestamp: { tsVal: this.tsVal++, tsEcr: this.tsRecent } } : {};
    this.t.send({ seq: R, ack: this.nxt, flags: ACK, window: this.wnd, options });
  }

  /** Takes `segs` (default: what the stack sent since the last drain), answering each; loops while the stack answers. */
  deliver(segs: TcpRepr[] = this.t.drain()): void {
    for (let round = 0; segs.length > 0 && round < 100; round++) {
      for (const s of segs) {
        if (this.ts) this.tsRecent = s.options.timestamp!.tsVal;
        const len = s.payload.length;
        if (len > 0) {
          if (s.seq === this.nxt && this.wnd > 0) {
            const take = Math.min(len, this.wnd);
            for (let i = 0; i < take; i++) this.got.push(s.payload[i]!);
            this.nxt = (this.nxt + take) >>> 0;
            if (take < len) this.discarded++;
          } else {
            this.discarded++;
          }
        }
        this.ack();
      }
      segs = this.t.drain();
    }
  }
}

interface Variant { name: string; opts: TcpLayerOptions; peer: TcpOptions; ts: boolean }
const VARIANTS: Variant[] = [
  { name: 'no SACK, no timestamps', opts: { sack: false }, peer: {}, ts: false },
  { name: 'SACK', opts: {}, peer: { sackPermitted: true }, ts: false },
  { name: 'timestamps', opts: { timestamps: true, sack: false }, peer: { timestamp: { tsVal: 500, tsEcr: 1 } }, ts: true },
  { name: 'SACK and timestamps', opts: { timestamps: true }, peer: { sackPermitted: true, timestamp: { tsVal: 500, tsEcr: 1 } }, ts: true },
];

/** ESTABLISHED by an active open at t = 0 with a 0 ms RTT sample (the SYN-ACK echoes our SYN's timestamp), so RTO = rtoMin. */
function open(opts: TcpLayerOptions, peer: TcpOptions): Ctx {
  const t = synSent(opts);
  const options: TcpOptions = { mss: 1460, ...peer };
  if (peer.timestamp !== undefined) options.timestamp = { tsVal: 500, tsEcr: t.synTsVal };
  t.send({ seq: REMOTE_ISS, ack: t.iss + 1, flags: SYN | ACK, window: 65535, options });
  t.recv({ flags: ACK, seq: t.iss + 1, ack: REMOTE_ISS + 1 });
  expect(t.conn.state).toBe('ESTABLISHED');
  expect(t.conn.stats.rto).toBe(200);
  return t;
}

/** Established, the peer's window closed, then `queued` bytes written (the echo data). */
function zeroWindow(v: Variant, queued: number, layer: TcpLayerOptions = {}): { t: Ctx; p: DiscardingPeer; data: Uint8Array } {
  const t = open({ ...v.opts, ...layer }, v.peer);
  const p = new DiscardingPeer(t, 0, v.ts);
  p.ack();
  t.recvNothing();
  const data = big(queued);
  expect(t.write(data)).toBe(queued);
  t.recvNothing();
  return { t, p, data };
}

/** Asserts the one segment that left is a zero-window probe: no data, SEG.SEQ = SND.UNA - 1. */
function expectProbe(t: Ctx): TcpRepr {
  const segs = t.drain();
  expect(segs.map(describeSeg), `a window probe at ${t.now}`).toHaveLength(1);
  const s = segs[0]!;
  expect(s.payload.length, describeSeg(s)).toBe(0);
  expect(s.flags, describeSeg(s)).toBe(ACK);
  expect(s.seq, describeSeg(s)).toBe((t.conn.sndUna - 1) >>> 0);
  return s;
}

/** Runs the probes at exactly these times (each answered with window 0), asserting silence 1 ms before each. */
function probesAt(t: Ctx, p: DiscardingPeer, times: number[]): void {
  for (const at of times) {
    t.advance(at - 1);
    t.recvNothing();
    t.advance(at);
    p.deliver([expectProbe(t)]);
  }
}

describe('zero window with queued data, to a receiver that keeps no out-of-order data', () => {
  for (const v of VARIANTS) {
    it(`${v.name}: probes without data at RTO x 1, 2, 4, 8, 16; the window opens -> all 2000 bytes from SND.UNA in the same ms; RTO not backed off`, () => {
      const { t, p, data } = zeroWindow(v, 2000);
      const una = t.conn.sndUna;
      expect(t.conn.stats.rto).toBe(200);
      // Intervals 200, 400, 800, 1600, 3200 ms (RFC 6298 §5.5 doubling, on the persist timer).
      probesAt(t, p, [200, 600, 1400, 3000, 6200]);
      expect(t.conn.sndNxt).toBe(una); // nothing beyond the window was sent
      expect(t.conn.stats.windowProbes).toBe(5);
      expect(t.layer.counters.WindowProbes).toBe(5);
      expect(t.conn.stats.rto).toBe(200); // the persist backoff is not the RTO's
      expect(t.conn.rtxAt).toBe(Infinity);
      expect(t.conn.state).toBe('ESTABLISHED');
      // The window opens between two probes (the next is due at 12600).
      t.advance(7000);
      p.wnd = 65535;
      p.ack();
      const out = t.drain();
      const mss = t.conn.stats.sndMss;
      // The first MSS at once; the 2000 - MSS tail is Nagle's (RFC 1122 §4.2.3.4): it follows the ACK.
      expect(out.map((s) => [(s.seq - una) >>> 0, s.payload.length])).toEqual([[0, mss]]);
      // Window open -> data: 0 ms of virtual time. The retransmission timer is RTO (200), not 6400.
      expect(t.conn.rtxAt).toBe(7200);
      expect(t.conn.stats.rto).toBe(200);
      p.deliver(out);
      expect(p.got).toEqual([...data]);
      expect(p.discarded).toBe(0);
      expect(t.conn.bytesInFlight).toBe(0);
      expect(t.conn.stats.retransmits).toBe(0);
      expect(t.conn.stats.tlpProbes).toBe(0); // no tail loss probe during persist (RFC 8985 §7 needs data in flight)
    });
  }

  it('with Nagle off (setNoDelay) all 2000 queued bytes leave in the millisecond the window opens', () => {
    const { t, p, data } = zeroWindow(VARIANTS[3]!, 2000);
    t.conn.setNoDelay(true);
    probesAt(t, p, [200, 600, 1400, 3000, 6200]);
    t.advance(7000);
    p.wnd = 65535;
    p.ack();
    const out = t.drain();
    const mss = t.conn.stats.sndMss;
    expect(out.map((s) => [(s.seq - (t.iss + 1)) >>> 0, s.payload.length])).toEqual([[0, mss], [mss, 2000 - mss]]);
    p.deliver(out);
    expect(p.got).toEqual([...data]);
    expect(p.discarded).toBe(0);
  });

  it('after the episode a lost segment is retransmitted after RTO (200 ms), not after the backed-off probe interval', () => {
    const { t, p, data } = zeroWindow(VARIANTS[0]!, 1000);
    probesAt(t, p, [200, 600, 1400, 3000, 6200, 12600]);
    t.advance(13000);
    p.wnd = 65535;
    p.ack();
    const [lost] = t.drain(); // the network loses it
    expect(lost!.payload.length).toBe(1000);
    t.advance(13199);
    t.recvNothing();
    t.advance(13200);
    const rtx = t.drain();
    expect(rtx.map((s) => [(s.seq - t.conn.sndUna) >>> 0, s.payload.length])).toEqual([[0, 1000]]);
    p.deliver(rtx);
    expect(p.got).toEqual([...data]);
  });

  it('the window opens while the probe timer is backed off far (capped at rtoMax): data at once, keepalive silent', () => {
    const { t, p, data } = zeroWindow(VARIANTS[3]!, 5000, { keepAliveIdle: 1000, keepAliveInterval: 1000 });
    t.conn.setKeepAlive(true, 1000, t.now);
    // 200 * 2^k, capped at rtoMax = 60 s: 200, 400, ..., 51200, 60000, 60000.
    const times: number[] = [];
    let at = 0;
    for (let k = 0; k < 11; k++) { at += Math.min(60_000, 200 * 2 ** k); times.push(at); }
    expect(times.slice(-3)).toEqual([102_200, 162_200, 222_200]);
    probesAt(t, p, times);
    expect(t.layer.counters.KeepaliveProbes).toBe(0); // data is queued: not idle (RFC 1122 §4.2.3.6)
    // 59.9 s before the next probe, the window opens.
    t.advance(222_300);
    p.wnd = 65535;
    p.ack();
    const out = t.drain();
    const mss = t.conn.stats.sndMss;
    expect(out.reduce((n, s) => n + s.payload.length, 0)).toBe(5000 - (5000 % mss)); // the runt tail: Nagle
    expect(out[0]!.seq).toBe(t.conn.sndUna);
    p.deliver(out);
    expect(p.got).toEqual([...data]);
    expect(t.conn.stats.rto).toBe(200);
  });

  it('a window that opens less than an MSS: the SWS override sends what fits from SND.UNA after RTO, not after the probe backoff', () => {
    const { t, p, data } = zeroWindow(VARIANTS[0]!, 2000);
    probesAt(t, p, [200, 600, 1400, 3000, 6200]);
    t.advance(7000);
    p.wnd = 500; // RFC 9293 §3.8.6.2.1: 500 < MSS and < Fs * max window: wait for the override timer
    p.ack();
    t.recvNothing();
    t.advance(7199);
    t.recvNothing();
    t.advance(7200);
    const out = t.drain();
    expect(out.map((s) => [(s.seq - (t.iss + 1)) >>> 0, s.payload.length])).toEqual([[0, 500]]);
    p.deliver(out); // taken; the peer's window stays 500 (its application reads at once)
    p.wnd = 65535;
    p.ack();
    p.deliver();
    expect(p.got).toEqual([...data]);
    expect(p.discarded).toBe(0);
  });

  it('Nagle does not hold a small write back when the window opens (nothing is in flight during persist)', () => {
    const { t, p } = zeroWindow(VARIANTS[0]!, 1);
    probesAt(t, p, [200, 600]);
    t.advance(700);
    p.wnd = 1000;
    p.ack();
    const out = t.drain();
    expect(out.map((s) => [(s.seq - t.conn.sndUna) >>> 0, s.payload.length])).toEqual([[0, 1]]);
  });

  it('a peer that answers every probe is probed forever (maxRetries counts unanswered probes only)', () => {
    const { t, p } = zeroWindow(VARIANTS[1]!, 100, { maxRetries: 2 });
    for (let i = 0; i < 20; i++) {
      t.advance(t.layer.pollAt());
      p.deliver([expectProbe(t)]);
    }
    expect(t.conn.state).toBe('ESTABLISHED');
    expect(t.conn.stats.windowProbes).toBe(20);
  });

  it('a peer that stops answering probes: maxRetries probes, then ETIMEDOUT at the next expiry', () => {
    const { t, p } = zeroWindow(VARIANTS[1]!, 100, { maxRetries: 3 });
    probesAt(t, p, [200]); // answered: the count restarts
    for (const at of [600, 1400, 3000]) {
      t.advance(at - 1);
      t.recvNothing();
      t.advance(at);
      expectProbe(t); // lost, or the peer is gone
    }
    t.advance(6199);
    expect(t.conn.state).toBe('ESTABLISHED');
    t.advance(6200);
    expect(t.conn.state).toBe('CLOSED');
    expect(t.events.log).toContain('closed:ETIMEDOUT');
  });

  it('an orphan (closed with data queued) behind a zero window that is answered forever: RST once the probe interval reached rtoMax', () => {
    const { t, p } = zeroWindow(VARIANTS[1]!, 100);
    t.conn.close(t.now);
    expect(t.conn.state).toBe('FIN-WAIT-1');
    t.recvNothing(); // the FIN waits behind the data
    // 200 * 2^k for k = 0..8 (the last 51.2 s), then the interval is at its 60 s cap.
    const times: number[] = [];
    let at = 0;
    for (let k = 0; k < 9; k++) { at += 200 * 2 ** k; times.push(at); }
    probesAt(t, p, times);
    expect(times.at(-1)).toBe(102_200);
    t.advance(162_199);
    t.recvNothing();
    expect(t.conn.state).toBe('FIN-WAIT-1');
    t.advance(162_200);
    t.recv({ flags: RST | ACK, seq: t.conn.sndUna });
    expect(t.conn.state).toBe('CLOSED');
    expect(t.layer.counters.Timeouts).toBe(1);
  });

  it('a window that shrinks to zero with data in flight: the timeout probes without data and does not back off the RTO; the window opens -> data from SND.UNA', () => {
    const t = established({ sack: false });
    const p = new DiscardingPeer(t, 65535, false);
    const data = big(3 * 1460);
    t.write(data);
    const first = t.drain();
    expect(first.map((s) => s.payload.length)).toEqual([1460, 1460, 1460]);
    // The peer takes the first segment, then its buffer is full: the rest is discarded, window 0.
    p.wnd = 1460;
    p.deliver([first[0]!]);
    p.wnd = 0;
    p.deliver(first.slice(1));
    expect(p.got).toHaveLength(1460);
    const una = t.conn.sndUna;
    expect(una).toBe((t.iss + 1 + 1460) >>> 0);
    t.advance(199);
    t.recvNothing();
    t.advance(200); // the retransmission timer: not a loss, a zero window
    p.deliver([expectProbe(t)]);
    expect(t.conn.stats.rto).toBe(200);
    // No RTO cut; no slow-start growth either: 3 segments in a window of 10 do not use it
    // (RFC 7661 §4.2 as Linux's tcp_is_cwnd_limited: cwnd < 2 x flight is false).
    expect(t.conn.stats.cwnd).toBe(10 * 1460);
    probesAt(t, p, [600, 1400]);
    t.advance(2000);
    p.wnd = 65535;
    p.ack();
    const out = t.drain();
    expect(out.map((s) => [(s.seq - una) >>> 0, s.payload.length])).toEqual([[0, 1460], [1460, 1460]]);
    expect(t.conn.rtxAt).toBe(2200);
    p.deliver(out);
    expect(p.got).toEqual([...data]);
  });
});
