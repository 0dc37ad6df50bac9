import { describe, expect, it } from 'vitest';
import { ACK, PSH, SYN } from '../src/index.js';
import type { TcpOptions } from '../src/index.js';
import { Ctx, LOCAL_PORT, REMOTE, REMOTE_ISS, REMOTE_PORT, established, listening } from './harness.js';

const R = REMOTE_ISS + 1;
const big = (n: number, c = 0x61) => new Uint8Array(n).fill(c);
const SACK: TcpOptions = { sackPermitted: true };
/** The SACK blocks of a segment as [left, right] pairs relative to R (undefined: no option). */
const blocks = (s: { options: TcpOptions }) => s.options.sackBlocks?.map((b) => [(b.left - R) >>> 0, (b.right - R) >>> 0]);

describe('SACK negotiation (RFC 2018 §2)', () => {
  it('an active open offers SACK-permitted; a SYN-ACK with it enables SACK', () => {
    const t = new Ctx();
    t.conn = t.layer.connect({ remoteAddress: REMOTE, remotePort: REMOTE_PORT, localPort: LOCAL_PORT }, t.now, t.handler);
    const syn = t.recv({ flags: SYN });
    expect(syn.options.sackPermitted).toBe(true);
    t.send({ seq: REMOTE_ISS, ack: syn.seq + 1, flags: SYN | ACK, options: { mss: 1460, sackPermitted: true } });
    t.recv({ flags: ACK });
    expect(t.conn.sackOk).toBe(true);
  });

  it('sack: false offers nothing, and a peer offering it gets no SACK blocks', () => {
    const t = new Ctx({ sack: false });
    t.conn = t.layer.connect({ remoteAddress: REMOTE, remotePort: REMOTE_PORT, localPort: LOCAL_PORT }, t.now, t.handler);
    const syn = t.recv({ flags: SYN });
    expect(syn.options.sackPermitted).toBeUndefined();
    t.iss = syn.seq;
    t.send({ seq: REMOTE_ISS, ack: syn.seq + 1, flags: SYN | ACK, options: { mss: 1460, sackPermitted: true } });
    t.recv({ flags: ACK });
    expect(t.conn.sackOk).toBe(false);
    t.send({ seq: R + 3, ack: t.iss + 1, flags: ACK, payload: 'def' });
    expect(blocks(t.recv({ flags: ACK, ack: R }))).toBeUndefined();
  });

  it('a peer that does not offer it gets no SACK blocks', () => {
    const t = established();
    expect(t.conn.sackOk).toBe(false);
    t.send({ seq: R + 3, ack: t.iss + 1, flags: ACK, payload: 'def' });
    expect(blocks(t.recv({ flags: ACK, ack: R }))).toBeUndefined();
  });

  it('a passive open answers SACK-permitted only to a SYN that carries it', () => {
    const { t } = listening();
    t.send({ seq: REMOTE_ISS, flags: SYN, options: { mss: 1460, sackPermitted: true } });
    const sa = t.recv({ flags: SYN | ACK });
    expect(sa.options.sackPermitted).toBe(true);
    t.send({ seq: R, ack: sa.seq + 1, flags: ACK });
    expect(t.conn.sackOk).toBe(true);
    t.send({ seq: R + 3, ack: sa.seq + 1, flags: ACK, payload: 'def' });
    expect(blocks(t.recv({ flags: ACK, ack: R }))).toEqual([[3, 6]]);

    const u = listening().t;
    u.send({ seq: REMOTE_ISS, flags: SYN, options: { mss: 1460 } });
    const sa2 = u.recv({ flags: SYN | ACK });
    expect(sa2.options.sackPermitted).toBeUndefined();
    u.send({ seq: R, ack: sa2.seq + 1, flags: ACK });
    expect(u.conn.sackOk).toBe(false);
  });
});

describe('SACK blocks in ACKs (RFC 2018 §3-§4)', () => {
  it('the block holding the latest out-of-order segment comes first, then the most recently reported', () => {
    const t = established({}, SACK);
    t.send({ seq: R + 10, ack: t.iss + 1, flags: ACK, payload: 'abc' });
    expect(blocks(t.recv({ flags: ACK, ack: R }))).toEqual([[10, 13]]);
    t.send({ seq: R + 20, ack: t.iss + 1, flags: ACK, payload: 'abc' });
    expect(blocks(t.recv({ flags: ACK, ack: R }))).toEqual([[20, 23], [10, 13]]);
    t.send({ seq: R + 30, ack: t.iss + 1, flags: ACK, payload: 'abc' });
    expect(blocks(t.recv({ flags: ACK, ack: R }))).toEqual([[30, 33], [20, 23], [10, 13]]);
    // A segment extending the oldest block: that (merged) block moves to the front.
    t.send({ seq: R + 13, ack: t.iss + 1, flags: ACK, payload: 'abc' });
    expect(blocks(t.recv({ flags: ACK, ack: R }))).toEqual([[10, 16], [30, 33], [20, 23]]);
    // A segment joining two blocks: one block, first.
    t.send({ seq: R + 23, ack: t.iss + 1, flags: ACK, payload: big(7) });
    expect(blocks(t.recv({ flags: ACK, ack: R }))).toEqual([[20, 33], [10, 16]]);
  });

  it('a filled hole removes its block; no blocks once everything is in order', () => {
    const t = established({}, SACK);
    t.send({ seq: R + 10, ack: t.iss + 1, flags: ACK, payload: big(5) });
    t.send({ seq: R + 20, ack: t.iss + 1, flags: ACK, payload: big(5) });
    t.drain();
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: big(10) });
    expect(blocks(t.recv({ flags: ACK, ack: R + 15 }))).toEqual([[20, 25]]);
    t.send({ seq: R + 15, ack: t.iss + 1, flags: ACK, payload: big(5) });
    expect(blocks(t.recv({ flags: ACK, ack: R + 25 }))).toBeUndefined();
    expect(t.read()).toHaveLength(25);
  });

  it('at most 3 blocks with timestamps (the most recent 3), 4 without', () => {
    const ts = (v: number): TcpOptions => ({ timestamp: { tsVal: v, tsEcr: 0 } });
    const t = established({ timestamps: true }, { ...SACK, timestamp: { tsVal: 500, tsEcr: 1 } });
    for (let i = 1; i <= 5; i++) {
      t.send({ seq: R + 10 * i, ack: t.iss + 1, flags: ACK, payload: 'x', options: ts(500 + i) });
      const a = t.recv({ flags: ACK, ack: R });
      expect(a.options.timestamp).toBeDefined();
      expect(blocks(a)).toEqual([[10 * i, 10 * i + 1], [10 * i - 10, 10 * i - 9], [10 * i - 20, 10 * i - 19]].slice(0, i));
    }
    const u = established({}, SACK);
    for (let i = 1; i <= 5; i++) u.send({ seq: R + 10 * i, ack: u.iss + 1, flags: ACK, payload: 'x' });
    const a = u.drain().at(-1)!;
    expect(blocks(a)).toEqual([[50, 51], [40, 41], [30, 31], [20, 21]]);
  });

  it('blocks ride on a small data segment but never make a full-sized one exceed the MSS', () => {
    const t = established({}, SACK);
    t.send({ seq: R + 10, ack: t.iss + 1, flags: ACK, payload: 'x' });
    t.drain();
    t.write('hi');
    expect(blocks(t.recv({ flags: ACK | PSH, payload: 'hi', ack: R }))).toEqual([[10, 11]]);
    t.send({ seq: R, ack: t.iss + 3, flags: ACK, payload: big(5) }); // hole still open at 5..10
    t.drain();
    t.write(big(1460));
    const s = t.recv({ len: 1460 });
    expect(blocks(s)).toBeUndefined();
  });
});

describe('D-SACK (RFC 2883)', () => {
  it('a wholly duplicate segment is reported once as the first block', () => {
    const t = established({}, SACK);
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: 'abc' });
    t.advance(40); t.recv({ ack: R + 3 });
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: 'abc' });
    expect(blocks(t.recv({ flags: ACK, ack: R + 3 }))).toEqual([[0, 3]]);
    // Reported once: the next ACK has no D-SACK.
    t.send({ seq: R + 3, ack: t.iss + 1, flags: ACK, payload: 'def' });
    t.advance(80);
    expect(blocks(t.recv({ flags: ACK, ack: R + 6 }))).toBeUndefined();
    expect(t.read()).toBe('abcdef');
  });

  it('a D-SACK comes before the out-of-order blocks; a duplicate above RCV.NXT is followed by its block', () => {
    const t = established({}, SACK);
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: 'abc' });
    t.send({ seq: R + 10, ack: t.iss + 1, flags: ACK, payload: 'xyz' });
    t.send({ seq: R + 20, ack: t.iss + 1, flags: ACK, payload: 'xyz' });
    t.drain();
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: 'ab' });
    expect(blocks(t.recv({ flags: ACK, ack: R + 3 }))).toEqual([[0, 2], [20, 23], [10, 13]]);
    t.send({ seq: R + 11, ack: t.iss + 1, flags: ACK, payload: 'yz' });
    expect(blocks(t.recv({ flags: ACK, ack: R + 3 }))).toEqual([[11, 13], [10, 13], [20, 23]]);
  });

  it('a segment straddling RCV.NXT reports its duplicate part (as Linux does)', () => {
    const t = established({}, SACK);
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: 'abc' });
    t.advance(40); t.drain();
    t.send({ seq: R + 1, ack: t.iss + 1, flags: ACK, payload: 'bcdef' });
    t.advance(80);
    expect(blocks(t.recv({ flags: ACK, ack: R + 6 }))).toEqual([[1, 3]]);
    expect(t.read()).toBe('abcdef');
  });
});
