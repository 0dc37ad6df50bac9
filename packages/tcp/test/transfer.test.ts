import { describe, expect, it } from 'vitest';
import { ACK, PSH, RST, SYN } from '../src/index.js';
import { FAMILY, NET_HEADER, REMOTE_ISS, established } from './harness.js';

const R = REMOTE_ISS + 1;
const big = (n: number, c = 0x61) => new Uint8Array(n).fill(c);

describe('ESTABLISHED: sending (RFC 9293 §3.10.2)', () => {
  it('write sends at once with PSH on the last segment; ACK clears the retransmission timer', () => {
    const t = established();
    expect(t.write('hello')).toBe(5);
    t.recv({ flags: ACK | PSH, seq: t.iss + 1, ack: R, payload: 'hello' });
    expect(t.layer.pollAt()).toBe(200);
    t.send({ seq: R, ack: t.iss + 6, flags: ACK });
    t.recvNothing();
    expect(t.conn.bytesInFlight).toBe(0);
    expect(t.layer.pollAt()).toBe(Infinity);
  });

  it('segments are at most SND.MSS and the initial window is 10 segments (RFC 6928)', () => {
    const t = established();
    t.write(big(20 * 1460));
    const segs = t.drain();
    expect(segs).toHaveLength(10);
    expect(segs.every((s) => s.payload.length === 1460)).toBe(true);
    expect(segs[9]!.seq).toBe((t.iss + 1 + 9 * 1460) >>> 0);
  });

  it('never sends beyond the peer window, nor a runt into its last 80 bytes (sender SWS, RFC 1122 §4.2.3.4)', () => {
    const t = established({}, {}, 3000);
    t.write(big(5000));
    const segs = t.drain();
    expect(segs.map((s) => s.payload.length)).toEqual([1460, 1460]);
    t.send({ seq: R, ack: t.iss + 1 + 1460, flags: ACK, window: 3000 });
    expect(t.drain().map((s) => s.payload.length)).toEqual([1460]);
  });

  it('cwnd restarts from the initial window after an idle period longer than RTO (RFC 5681 §4.1)', () => {
    const t = established();
    t.write(big(10 * 1460));
    t.drain();
    for (let i = 1; i <= 10; i++) t.send({ seq: R, ack: t.iss + 1 + i * 1460, flags: ACK });
    expect(t.conn.stats.cwnd).toBe(20 * 1460); // slow start: +1 SMSS per ACK (RFC 5681 §3.1)
    t.advance(199);
    t.write(big(30 * 1460));
    expect(t.drain()).toHaveLength(20); // not idle long enough: the full window
    const u = established();
    u.write(big(10 * 1460));
    u.drain();
    for (let i = 1; i <= 10; i++) u.send({ seq: R, ack: u.iss + 1 + i * 1460, flags: ACK });
    u.advance(201);
    u.write(big(30 * 1460));
    expect(u.drain()).toHaveLength(10); // idle > RTO: back to IW
  });

  it('Nagle: small segments wait while data is unacknowledged (RFC 1122 §4.2.3.4)', () => {
    const t = established();
    t.write('a');
    t.recv({ payload: 'a' });
    t.write('b');
    t.write('c');
    t.recvNothing();
    t.send({ seq: R, ack: t.iss + 2, flags: ACK });
    t.recv({ seq: t.iss + 2, payload: 'bc' });
  });

  it('noDelay disables Nagle', () => {
    const t = established();
    t.conn.setNoDelay(true);
    t.write('a');
    t.write('b');
    expect(t.drain().map((s) => new TextDecoder().decode(s.payload))).toEqual(['a', 'b']);
  });

  it('a full send buffer accepts 0 bytes; onWritable follows the ACK that frees space', () => {
    const t = established({ sendBufferSize: 4096 });
    expect(t.write(big(5000))).toBe(4096);
    expect(t.write('x')).toBe(0);
    const segs = t.drain();
    const end = segs.reduce((a, s) => a + s.payload.length, 0);
    expect(end).toBe(2920); // the 1176-byte tail waits for Nagle
    t.send({ seq: R, ack: t.iss + 1 + end, flags: ACK });
    expect(t.events.log).toEqual(['writable']);
    expect(t.conn.writableSpace).toBe(2920);
    t.recv({ len: 1176 });
  });
});

describe('ESTABLISHED: receiving (RFC 9293 §3.10.7.4 seventh, RFC 1122 §4.2.3.2)', () => {
  it('delayed ACK: nothing at 39 ms, the ACK at exactly 40 ms', () => {
    const t = established();
    t.send({ seq: R, ack: t.iss + 1, flags: ACK | PSH, payload: 'abc' });
    expect(t.events.log).toEqual(['readable']);
    t.recvNothing();
    t.advance(39); t.recvNothing();
    t.advance(40); t.recv({ flags: ACK, seq: t.iss + 1, ack: R + 3 });
    expect(t.read()).toBe('abc');
  });

  it('every second full-sized segment is ACKed at once', () => {
    const t = established();
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: big(1460) });
    t.recvNothing();
    t.send({ seq: R + 1460, ack: t.iss + 1, flags: ACK, payload: big(1460) });
    t.recv({ flags: ACK, ack: R + 2920 });
  });

  it('an ACK piggybacks on outgoing data', () => {
    const t = established();
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: 'q' });
    t.write('answer');
    t.recv({ flags: ACK | PSH, ack: R + 1, payload: 'answer' });
    t.advance(40); t.recvNothing();
  });

  it('out-of-order segments are held and a filled hole is ACKed at once (RFC 5681 §4.2)', () => {
    const t = established();
    t.send({ seq: R + 3, ack: t.iss + 1, flags: ACK, payload: 'def' });
    t.recv({ flags: ACK, ack: R }); // immediate duplicate ACK
    expect(t.conn.readableLength).toBe(0);
    t.send({ seq: R + 9, ack: t.iss + 1, flags: ACK, payload: 'jkl' });
    t.recv({ flags: ACK, ack: R });
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: 'abc' });
    t.recv({ flags: ACK, ack: R + 6 });
    t.send({ seq: R + 6, ack: t.iss + 1, flags: ACK, payload: 'ghi' });
    t.recv({ flags: ACK, ack: R + 12 });
    expect(t.read()).toBe('abcdefghijkl');
  });

  it('overlapping retransmissions are trimmed (§3.10.7.4 "straddle")', () => {
    const t = established();
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: 'abc' });
    t.send({ seq: R + 1, ack: t.iss + 1, flags: ACK, payload: 'bcdef' });
    expect(t.read()).toBe('abcdef');
  });

  it('a duplicate segment is ACKed at once and not delivered twice', () => {
    const t = established();
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: 'abc' });
    t.advance(40); t.recv({ ack: R + 3 });
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: 'abc' });
    t.recv({ flags: ACK, ack: R + 3 });
    expect(t.read()).toBe('abc');
  });

  it('the out-of-order queue is bounded (maxOutOfOrderRanges)', () => {
    const t = established({ maxOutOfOrderRanges: 2 });
    t.send({ seq: R + 10, ack: t.iss + 1, flags: ACK, payload: 'x' });
    t.send({ seq: R + 20, ack: t.iss + 1, flags: ACK, payload: 'y' });
    t.send({ seq: R + 30, ack: t.iss + 1, flags: ACK, payload: 'z' });
    expect(t.layer.stats().dropped.ReassemblyFull).toBe(1);
  });

  it('receive window shrinks as the buffer fills, reopens with a window update on read (RFC 1122 §4.2.3.3)', () => {
    const t = established({ receiveBufferSize: 4000 });
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: big(1460) });
    t.send({ seq: R + 1460, ack: t.iss + 1, flags: ACK, payload: big(1460) });
    t.recv({ ack: R + 2920, window: 1080 });
    t.send({ seq: R + 2920, ack: t.iss + 1, flags: ACK, payload: big(1080) });
    t.advance(40);
    t.recv({ ack: R + 4000, window: 0 });
    // data beyond a zero window is not accepted: ACK (§3.10.7.4)
    t.send({ seq: R + 4000, ack: t.iss + 1, flags: ACK, payload: 'z' });
    t.recv({ ack: R + 4000, window: 0 });
    // reading a little does not reopen the window (SWS avoidance)...
    const small = new Uint8Array(100);
    t.conn.read(small, t.now);
    t.recvNothing();
    // ...nor does the ACK to a window probe: the right edge moves by >= min(buffer/2, MSS) or not at all
    t.send({ seq: R + 4000, ack: t.iss + 1, flags: ACK, payload: 'z' });
    t.recv({ ack: R + 4000, window: 0 });
    // ...reading enough sends a window update
    t.conn.read(new Uint8Array(4000), t.now);
    t.recv({ flags: ACK, ack: R + 4000, window: 4000 });
  });
});

describe('retransmission (RFC 6298)', () => {
  it('RTO fires at exactly RTO (not RTO-1), then backs off exponentially', () => {
    const t = established();
    expect(t.conn.stats.rto).toBe(200); // handshake RTT ~0 -> rtoMin
    t.write('x');
    t.recv({ payload: 'x' });
    t.advance(199); t.recvNothing();
    t.advance(200); t.recv({ seq: t.iss + 1, payload: 'x' });
    t.advance(599); t.recvNothing();
    t.advance(600); t.recv({ seq: t.iss + 1, payload: 'x' });
    expect(t.layer.stats().RetransSegs).toBe(2);
    expect(t.conn.stats.cwnd).toBe(1460);
  });

  it('bounded retries end in ETIMEDOUT', () => {
    const t = established({ maxRetries: 2 });
    t.write('x');
    t.drain();
    t.advance(200); t.advance(600); t.drain();
    t.advance(1400);
    t.recvNothing();
    expect(t.events.log).toEqual(['closed:ETIMEDOUT']);
    expect(t.layer.connectionCount).toBe(0);
  });

  it('RTT samples update SRTT/RTTVAR (RFC 6298 §2) and Karn ignores retransmitted segments', () => {
    const t = established();
    t.write('a');
    t.drain();
    t.advance(100);
    t.send({ seq: R, ack: t.iss + 2, flags: ACK });
    // second sample R = 100: RTTVAR = 3/4*0 + 1/4*|0.001-100|, SRTT = 7/8*0.001 + 1/8*100
    expect(t.conn.stats.srtt).toBeCloseTo(12.5, 1);
    expect(t.conn.stats.rto).toBe(200);
    t.write('b');
    t.drain();
    t.advance(400); // RTO (200) fired at 300: retransmitted
    t.drain();
    t.send({ seq: R, ack: t.iss + 3, flags: ACK });
    expect(t.conn.stats.srtt).toBeCloseTo(12.5, 1); // no sample from an ambiguous ACK
  });

  it('after a timeout rewinds SND.NXT, a bare ACK still carries SEG.SEQ = highest sent (no ACK deadlock)', () => {
    const t = established();
    t.write(big(3 * 1460));
    t.drain();
    t.advance(200);
    t.recv({ seq: t.iss + 1, len: 1460 });
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: 'x' });
    t.advance(240);
    t.recv({ flags: ACK, seq: t.iss + 1 + 3 * 1460, ack: R + 1, len: 0 });
  });

  it('go-back-N after a timeout: the rest follows as cwnd grows', () => {
    const t = established();
    t.write(big(3 * 1460));
    expect(t.drain()).toHaveLength(3);
    t.advance(200);
    t.recv({ seq: t.iss + 1, len: 1460 });
    t.send({ seq: R, ack: t.iss + 1 + 1460, flags: ACK });
    const segs = t.drain();
    expect(segs.map((s) => s.seq - t.iss - 1)).toEqual([1460, 2920]);
  });
});

describe('fast retransmit and NewReno (RFC 5681 §3.2, RFC 6582)', () => {
  function fourInFlight() {
    const t = established({ congestionControl: 'newreno' }); // these traces are RFC 5681 / RFC 6582 arithmetic
    t.write(big(6 * 1460));
    const segs = t.drain();
    expect(segs).toHaveLength(6);
    t.send({ seq: R, ack: t.iss + 1 + 1460, flags: ACK }); // first acked; new data? none left
    t.drain();
    return t;
  }

  it('limited transmit: the first two duplicate ACKs each send one new segment (RFC 3042)', () => {
    const t = established();
    t.write(big(12 * 1460));
    expect(t.drain()).toHaveLength(10); // IW10
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, window: 65535 });
    t.recv({ seq: t.iss + 1 + 10 * 1460, len: 1460 });
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, window: 65535 });
    t.recv({ seq: t.iss + 1 + 11 * 1460, len: 1460 });
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, window: 65535 });
    t.recv({ seq: t.iss + 1, len: 1460 }); // third: fast retransmit
  });

  it('three duplicate ACKs retransmit the first unacknowledged segment', () => {
    const t = fourInFlight();
    const una = t.iss + 1 + 1460;
    t.send({ seq: R, ack: una, flags: ACK });
    t.send({ seq: R, ack: una, flags: ACK });
    t.recvNothing();
    t.send({ seq: R, ack: una, flags: ACK });
    t.recv({ seq: una, len: 1460 });
    expect(t.layer.stats().FastRetransmits).toBe(1);
    // ssthresh = flight/2 = 5*1460/2, cwnd = ssthresh + 3*SMSS
    expect(t.conn.stats.ssthresh).toBe(Math.floor(5 * 1460 / 2));
    expect(t.conn.stats.cwnd).toBe(Math.floor(5 * 1460 / 2) + 3 * 1460);
  });

  it('a partial ACK retransmits the next hole; a full ACK ends recovery', () => {
    const t = fourInFlight();
    const una = t.iss + 1 + 1460;
    for (let i = 0; i < 3; i++) t.send({ seq: R, ack: una, flags: ACK });
    t.recv({ seq: una });
    // partial: acknowledges segment 2 only; segment 3 was lost too
    t.send({ seq: R, ack: una + 1460, flags: ACK });
    t.recv({ seq: una + 1460, len: 1460 });
    // full: everything up to recover
    t.send({ seq: R, ack: t.iss + 1 + 6 * 1460, flags: ACK });
    t.recvNothing();
    expect(t.conn.stats.cwnd).toBeLessThanOrEqual(t.conn.stats.ssthresh);
    expect(t.conn.bytesInFlight).toBe(0);
  });

  it('after a timeout, duplicate ACKs below "recover" do not start another fast retransmit (RFC 6582 §4.1)', () => {
    const t = fourInFlight();
    const una = t.iss + 1 + 1460;
    t.advance(t.layer.pollAt()); // RTO: recover := SND.MAX
    t.recv({ seq: una });
    for (let i = 0; i < 3; i++) t.send({ seq: R, ack: una, flags: ACK });
    t.recvNothing();
    expect(t.layer.stats().FastRetransmits).toBe(0);
  });

  it('ACKs that change the window are not duplicates', () => {
    const t = fourInFlight();
    const una = t.iss + 1 + 1460;
    for (let i = 0; i < 3; i++) t.send({ seq: R, ack: una, flags: ACK, window: 60000 + i });
    t.recvNothing();
  });
});

describe('send window updates (RFC 9293 §3.10.7.4 fifth: SND.WL1/SND.WL2)', () => {
  it('an older, reordered segment does not overwrite a newer window', () => {
    const t = established();
    t.write('abc');
    t.drain();
    t.send({ seq: R, ack: t.iss + 4, flags: ACK, window: 1000 });
    expect(t.conn.stats.sndWnd).toBe(1000);
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, window: 60000 }); // older ACK arriving late
    expect(t.conn.stats.sndWnd).toBe(1000);
    t.send({ seq: R, ack: t.iss + 4, flags: ACK, window: 2000 }); // same WL1/WL2: fresh update
    expect(t.conn.stats.sndWnd).toBe(2000);
  });
});

describe('zero window and persist (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17)', () => {
  it('probes a zero window without data (SEG.SEQ = SND.UNA - 1), backing off, until it opens', () => {
    const t = established();
    t.write('hello');
    t.recv({ payload: 'hello' });
    t.send({ seq: R, ack: t.iss + 6, flags: ACK, window: 0 });
    t.write('world');
    t.recvNothing();
    expect(t.layer.pollAt()).toBe(200);
    t.advance(199); t.recvNothing();
    t.advance(200); t.recv({ flags: ACK, seq: t.iss + 5, len: 0 });
    t.send({ seq: R, ack: t.iss + 6, flags: ACK, window: 0 }); // still closed
    // the persist timer backs off: 400 later, then 800, 1600... (RFC 6298 §5.5 doubling, its own count)
    t.advance(599); t.recvNothing();
    t.advance(600); t.recv({ flags: ACK, seq: t.iss + 5, len: 0 });
    t.send({ seq: R, ack: t.iss + 6, flags: ACK, window: 0 });
    t.advance(1399); t.recvNothing();
    t.advance(1400); t.recv({ flags: ACK, seq: t.iss + 5, len: 0 });
    t.send({ seq: R, ack: t.iss + 6, flags: ACK, window: 0 });
    t.advance(2999); t.recvNothing();
    t.advance(3000); t.recv({ flags: ACK, seq: t.iss + 5, len: 0 });
    t.send({ seq: R, ack: t.iss + 6, flags: ACK, window: 1000 }); // window open: the data at once
    t.recv({ seq: t.iss + 6, payload: 'world' });
    expect(t.conn.stats.windowProbes).toBe(4);
    expect(t.conn.state).toBe('ESTABLISHED');
  });

  it('a responsive zero window never times out', () => {
    const t = established({ maxRetries: 2 });
    t.write('a');
    t.drain();
    t.send({ seq: R, ack: t.iss + 2, flags: ACK, window: 0 });
    t.write('b');
    for (let i = 0; i < 10; i++) {
      t.advance(t.layer.pollAt());
      t.recv({ flags: ACK, seq: t.iss + 1, len: 0 });
      t.send({ seq: R, ack: t.iss + 2, flags: ACK, window: 0 });
    }
    expect(t.conn.state).toBe('ESTABLISHED');
  });
});

describe('window scaling (RFC 7323 §2)', () => {
  it('both offered: their window is shifted, ours is advertised scaled', () => {
    const t = established({ windowScaling: true }, { windowScale: 2 });
    expect(t.conn.stats.sndWndShift).toBe(2);
    expect(t.conn.stats.rcvWndShift).toBe(7); // covers the 6 MiB autotuning ceiling
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, window: 1000 }); // 4000 bytes
    t.write(big(5000));
    expect(t.drain().map((s) => s.payload.length)).toEqual([1460, 1460]); // no 1080-byte runt (SWS)
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: 'x' });
    t.advance(40);
    t.recv({ flags: ACK, window: (256 * 1024 - 1) >>> 7 });
  });

  it('only we offered: no scaling either way', () => {
    const t = established({ windowScaling: true });
    expect(t.conn.stats.sndWndShift).toBe(0);
    expect(t.conn.stats.rcvWndShift).toBe(0);
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: 'x' });
    t.advance(40);
    t.recv({ window: 65535 });
  });
});

describe('timestamps (RFC 7323 §3-§5)', () => {
  it('negotiated: every segment carries TSopt echoing TS.Recent, MSS shrinks by 12', () => {
    const t = established({ timestamps: true }, { timestamp: { tsVal: 500, tsEcr: 1 } });
    expect(t.conn.stats.timestamps).toBe(true);
    expect(t.conn.stats.sndMss).toBe(1448);
    t.write('a');
    const s = t.recv({ payload: 'a' });
    expect(s.options.timestamp?.tsEcr).toBe(500);
  });

  it('RTT from the echoed timestamp (RFC 7323 §4.1)', () => {
    const t = established({ timestamps: true }, { timestamp: { tsVal: 500, tsEcr: 1 } });
    t.write('a');
    const s = t.recv({ payload: 'a' });
    t.advance(300);
    t.send({ seq: R, ack: t.iss + 2, flags: ACK, options: { timestamp: { tsVal: 501, tsEcr: s.options.timestamp!.tsVal } } });
    expect(t.conn.stats.srtt).toBeGreaterThan(30);
  });

  it('PAWS: a segment with an older TSval is dropped and ACKed (RFC 7323 §5.3)', () => {
    const t = established({ timestamps: true }, { timestamp: { tsVal: 500, tsEcr: 1 } });
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: 'new', options: { timestamp: { tsVal: 600, tsEcr: 0 } } });
    t.advance(40); t.drain();
    t.send({ seq: R + 3, ack: t.iss + 1, flags: ACK, payload: 'old', options: { timestamp: { tsVal: 550, tsEcr: 0 } } });
    const a = t.recv({ flags: ACK, ack: R + 3 });
    expect(a.options.timestamp?.tsEcr).toBe(600);
    expect(t.layer.stats().PawsDrops).toBe(1);
    expect(t.read()).toBe('new');
  });

  it('PAWS lets a reordered pure duplicate ACK through, unchanged state (Linux tcp_disordered_ack)', () => {
    const t = established({ timestamps: true }, { timestamp: { tsVal: 500, tsEcr: 1 } });
    t.write('abc');
    const d = t.recv({ payload: 'abc' });
    const ecr = d.options.timestamp!.tsVal;
    t.send({ seq: R, ack: t.iss + 4, flags: ACK, options: { timestamp: { tsVal: 600, tsEcr: ecr } } });
    t.recvNothing();
    const snap = () => ({ ...t.conn.stats, segmentsIn: 0, tsRecent: t.conn.tsRecent, sndUna: t.conn.sndUna, sndWl1: t.conn.sndWl1, dupAcks: t.layer.stats().DupAcks });
    const before = snap();
    // Duplicate ACKs the network reordered: older TSval, same SEG.SEQ/SEG.ACK, same or smaller window.
    t.send({ seq: R, ack: t.iss + 4, flags: ACK, options: { timestamp: { tsVal: 590, tsEcr: ecr } } });
    t.send({ seq: R, ack: t.iss + 4, flags: ACK, window: 60000, options: { timestamp: { tsVal: 580, tsEcr: ecr } } });
    t.recvNothing();
    expect(t.layer.stats().PawsDrops).toBe(0);
    expect(snap()).toEqual(before);
    expect(t.conn.sndWnd).toBe(65535); // the stale smaller window is not applied
    expect(t.conn.state).toBe('ESTABLISHED');
    // Not a disordered ACK: a larger window (a window update), or a TSval older than one RTO.
    t.send({ seq: R, ack: t.iss + 4, flags: ACK, window: 65535, options: { timestamp: { tsVal: 570, tsEcr: ecr } } });
    expect(t.layer.stats().PawsDrops).toBe(0); // equal window, still let through
    t.send({ seq: R, ack: t.iss + 4, flags: ACK, options: { timestamp: { tsVal: 600 - t.conn.stats.rto - 1, tsEcr: ecr } } });
    t.recv({ flags: ACK, ack: R });
    expect(t.layer.stats().PawsDrops).toBe(1);
  });

  it('PAWS: reordered older cumulative ACKs are dropped, answered at most once per 500 ms (Linux tcp_oow_rate_limited)', () => {
    const t = established({ timestamps: true }, { timestamp: { tsVal: 500, tsEcr: 1 } });
    t.write('abcdef');
    const ecr = t.recv({ payload: 'abcdef' }).options.timestamp!.tsVal;
    // The newer ACK (all six bytes) overtakes older ones (three bytes, SEG.ACK < SND.UNA).
    t.send({ seq: R, ack: t.iss + 7, flags: ACK, options: { timestamp: { tsVal: 600, tsEcr: ecr } } });
    t.recvNothing();
    const older = () => t.send({ seq: R, ack: t.iss + 4, flags: ACK, options: { timestamp: { tsVal: 599, tsEcr: ecr } } });
    older();
    t.recv({ flags: ACK, ack: R }); // the first one is answered (RFC 7323 §5.3 R1)
    older(); older();
    t.step(499);
    older();
    t.recvNothing(); // within 500 ms: dropped silently
    expect(t.layer.stats().PawsDrops).toBe(4);
    expect(t.layer.stats().PawsAcksSuppressed).toBe(3);
    t.step(1);
    older();
    t.recv({ flags: ACK, ack: R });
    // Data is always answered (its duplicate is reported, RFC 2883), whatever the limit.
    t.send({ seq: R, ack: t.iss + 7, flags: ACK, payload: 'x', options: { timestamp: { tsVal: 598, tsEcr: ecr } } });
    t.recv({ flags: ACK, ack: R });
    expect(t.layer.stats().PawsDrops).toBe(6);
    expect(t.layer.stats().PawsAcksSuppressed).toBe(3);
    expect(t.conn.sndUna).toBe(t.iss + 7);
  });

  it('PAWS still drops (and ACKs) data or a window update with an older TSval', () => {
    const t = established({ timestamps: true }, { timestamp: { tsVal: 500, tsEcr: 1 } });
    t.write('abc');
    const ecr = t.recv({ payload: 'abc' }).options.timestamp!.tsVal;
    t.send({ seq: R, ack: t.iss + 4, flags: ACK, window: 30000, options: { timestamp: { tsVal: 600, tsEcr: ecr } } });
    t.send({ seq: R, ack: t.iss + 4, flags: ACK, payload: 'old', options: { timestamp: { tsVal: 590, tsEcr: 0 } } });
    const a = t.recv({ flags: ACK, ack: R });
    expect(a.options.timestamp?.tsEcr).toBe(600);
    expect(t.layer.stats().PawsDrops).toBe(1);
    expect(t.conn.readableLength).toBe(0);
    t.send({ seq: R, ack: t.iss + 4, flags: ACK, window: 40000, options: { timestamp: { tsVal: 590, tsEcr: ecr } } });
    t.recv({ flags: ACK, ack: R });
    expect(t.layer.stats().PawsDrops).toBe(2);
    expect(t.conn.sndWnd).toBe(30000);
  });

  it('not offered by the peer: no TSopt at all', () => {
    const t = established({ timestamps: true });
    t.write('a');
    const s = t.recv({ payload: 'a' });
    expect(s.options.timestamp).toBeUndefined();
  });
});

describe('RFC 5961 blind-attack defences', () => {
  it('RST with SEG.SEQ = RCV.NXT resets (ECONNRESET)', () => {
    const t = established();
    t.send({ seq: R, flags: RST });
    expect(t.conn.state).toBe('CLOSED');
    expect(t.events.log).toEqual(['closed:ECONNRESET']);
    expect(t.layer.stats().EstabResets).toBe(1);
    expect(t.layer.stats().CurrEstab).toBe(0);
  });

  it('RST in window but not exact draws a challenge ACK (§3.2)', () => {
    const t = established();
    t.send({ seq: R + 100, flags: RST });
    t.recv({ flags: ACK, seq: t.iss + 1, ack: R });
    expect(t.conn.state).toBe('ESTABLISHED');
  });

  it('RST outside the window is dropped silently', () => {
    const t = established();
    t.send({ seq: R + 70000, flags: RST });
    t.send({ seq: R - 1, flags: RST });
    t.recvNothing();
    expect(t.conn.state).toBe('ESTABLISHED');
  });

  it('SYN in ESTABLISHED draws a challenge ACK (§4)', () => {
    const t = established();
    t.send({ seq: R + 5, flags: SYN });
    t.recv({ flags: ACK, seq: t.iss + 1, ack: R });
    expect(t.conn.state).toBe('ESTABLISHED');
  });

  it('an ACK for data never sent is dropped with an ACK (§5.2)', () => {
    const t = established();
    t.send({ seq: R, ack: t.iss + 1000, flags: ACK, payload: 'zz' });
    t.recv({ flags: ACK, ack: R });
    expect(t.conn.readableLength).toBe(0);
  });

  it('challenge ACKs are rate limited per second (§7)', () => {
    const t = established({ challengeAckLimit: 2 });
    for (let i = 0; i < 5; i++) t.send({ seq: R + 10 + i, flags: RST });
    expect(t.drain()).toHaveLength(2);
    expect(t.layer.stats().ChallengeAcksSuppressed).toBe(3);
    t.advance(1000);
    t.send({ seq: R + 10, flags: RST });
    expect(t.drain()).toHaveLength(1);
  });
});

describe('keepalive (RFC 1122 §4.2.3.6)', () => {
  it('probes with SEG.SEQ = SND.NXT - 1 after the idle time and times out after the count', () => {
    const t = established({ keepAliveInterval: 1000, keepAliveCount: 2 });
    t.conn.setKeepAlive(true, 5000, t.now);
    t.advance(4999); t.recvNothing();
    t.advance(5000); t.recv({ flags: ACK, seq: t.iss, len: 0 });
    t.send({ seq: R, ack: t.iss + 1, flags: ACK }); // answered: idle again
    t.advance(10000); t.recv({ flags: ACK, seq: t.iss });
    t.advance(11000); t.recv({ flags: ACK, seq: t.iss });
    t.advance(12000); t.recvNothing();
    expect(t.events.log).toEqual(['closed:ETIMEDOUT']);
  });
});

describe('path MTU (RFC 1191, RFC 8201)', () => {
  it('EMSGSIZE from the IP layer (DF set) lowers the MSS to the path MTU; the RTO resends smaller', () => {
    const t = established();
    t.ip.pmtu.set(t.conn.remoteAddress, 1300);
    t.ip.failNext = 'EMSGSIZE';
    t.write(big(1460));
    t.recvNothing();
    expect(t.layer.stats().SendErrors).toBe(1);
    const mss = 1300 - NET_HEADER - 20; // 1260 over IPv4, 1240 over IPv6
    expect(t.conn.stats.sndMss).toBe(mss);
    t.advance(200);
    t.recv({ seq: t.iss + 1, len: mss });
  });

  it('acceptsPathMtu (asked by the IP layer before it lowers its cache): only a report quoting a segment in flight of a connection (RFC 5927 §4.1, §7.2)', () => {
    const t = established();
    t.write(big(1460));
    t.recv({ len: 1460 });
    const report = (seq: number, localPort = t.conn.localPort) => {
      const quoted = new Uint8Array(8);
      const dv = new DataView(quoted.buffer);
      dv.setUint16(0, localPort); dv.setUint16(2, t.conn.remotePort); dv.setUint32(4, seq >>> 0);
      return { icmpType: 3, icmpCode: 4, reporter: t.conn.remoteAddress, src: t.conn.localAddress, dst: t.conn.remoteAddress, protocol: 6, quoted, nextHopMtu: 600 };
    };
    expect(t.layer.acceptsPathMtu(report(t.iss + 1))).toBe(true); // SND.UNA
    expect(t.layer.acceptsPathMtu(report(t.iss + 1 + 1460))).toBe(true); // SND.MAX
    expect(t.layer.acceptsPathMtu(report(t.iss + 1 + 100_000))).toBe(false); // blind: not in flight
    expect(t.layer.acceptsPathMtu(report(t.iss, t.conn.localPort + 1))).toBe(false); // no such connection
    expect(t.layer.stats().dropped.IcmpIgnored).toBe(0); // asking counts nothing; receiveError counts
  });

  it('fragmentation needed / packet too big lowers the MSS and resends smaller; over IPv6 never below 1280 − 60', () => {
    const t = established();
    t.write(big(1460));
    t.recv({ len: 1460 });
    const quoted = new Uint8Array(8);
    const dv = new DataView(quoted.buffer);
    dv.setUint16(0, t.conn.localPort); dv.setUint16(2, t.conn.remotePort); dv.setUint32(4, t.iss + 1);
    // A report of 1000: IPv4 takes it (RFC 1191); IPv6 takes 1280, its minimum MTU (RFC 8201 §4).
    t.layer.receiveError({ icmpType: 3, icmpCode: 4, reporter: t.conn.remoteAddress, src: t.conn.localAddress, dst: t.conn.remoteAddress, protocol: 6, quoted, nextHopMtu: 1000 }, t.now);
    const mss = FAMILY === 6 ? 1280 - 60 : 1000 - 40;
    expect(t.conn.stats.sndMss).toBe(mss);
    t.recv({ seq: t.iss + 1, len: mss });
    t.send({ seq: R, ack: t.iss + 1 + mss, flags: ACK });
    t.recv({ seq: t.iss + 1 + mss, len: 1460 - mss });
  });
});
