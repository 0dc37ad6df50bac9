import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { seqLe } from '../src/index.js';
import type { TcpConnection } from '../src/index.js';
import { REMOTE_ISS, datagram, established, listening, LOCAL, REMOTE } from './harness.js';

const R = REMOTE_ISS + 1;

/** Invariants that must hold after any input. */
function checkInvariants(c: TcpConnection): void {
  const x = c as unknown as { sndUna: number; sndNxt: number; sndMax: number; rcvNxt: number; rcvAdv: number; sendBuf: { length: number; capacity: number }; recvBuf: { length: number; capacity: number } };
  expect(seqLe(x.sndUna, x.sndNxt)).toBe(true);
  expect(seqLe(x.sndNxt, x.sndMax)).toBe(true);
  expect(seqLe(x.rcvNxt, x.rcvAdv)).toBe(true);
  expect(x.sendBuf.length).toBeLessThanOrEqual(x.sendBuf.capacity);
  expect(x.recvBuf.length).toBeLessThanOrEqual(x.recvBuf.capacity);
}

describe('hostile input never throws and keeps the invariants', () => {
  it('random segments near the windows of an ESTABLISHED connection', () => {
    const segArb = fc.record({
      dseq: fc.integer({ min: -70_000, max: 70_000 }),
      dack: fc.integer({ min: -70_000, max: 70_000 }),
      flags: fc.integer({ min: 0, max: 255 }),
      window: fc.integer({ min: 0, max: 65535 }),
      len: fc.integer({ min: 0, max: 3000 }),
      dt: fc.integer({ min: 0, max: 500 }),
      ts: fc.option(fc.record({ tsVal: fc.integer({ min: 0, max: 0xffffffff }), tsEcr: fc.integer({ min: 0, max: 0xffffffff }) }), { nil: undefined }),
    });
    fc.assert(fc.property(fc.array(segArb, { maxLength: 40 }), fc.boolean(), (segs, ts) => {
      const t = established({ timestamps: ts, windowScaling: ts, receiveBufferSize: 8192 }, ts ? { timestamp: { tsVal: 1, tsEcr: 1 }, windowScale: 3 } : {});
      t.write(new Uint8Array(5000));
      for (const s of segs) {
        t.now += s.dt;
        t.layer.poll(t.now);
        t.send({ seq: R + s.dseq, ack: t.iss + 1 + s.dack, flags: s.flags, window: s.window, payload: new Uint8Array(s.len), ...(s.ts ? { options: { timestamp: s.ts } } : {}) });
        if (t.conn.state !== 'CLOSED') checkInvariants(t.conn);
        t.drain();
      }
      // whatever happened, time eventually drains the table
      for (let i = 0; i < 100 && t.layer.pollAt() !== Infinity; i++) t.layer.poll(t.layer.pollAt());
      t.conn.abort(t.now);
      for (let i = 0; i < 100 && t.layer.pollAt() !== Infinity; i++) t.layer.poll(t.layer.pollAt());
      expect(t.layer.connectionCount).toBe(0);
    }), { numRuns: 300 });
  });

  it('random bytes at a listener are dropped or answered, never thrown', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 80 }), { maxLength: 30 }), (packets) => {
      const { t } = listening({ verifyChecksum: false });
      for (const p of packets) {
        if (p.length >= 4) { p[2] = (49500 >> 8) & 255; p[3] = 49500 & 255; }
        t.layer.receive(datagram(p, REMOTE, LOCAL), t.now);
      }
      const st = t.layer.stats();
      expect(st.InSegs).toBe(packets.length);
      // every segment was either parsed or counted as an error
      expect(st.InErrs).toBeLessThanOrEqual(packets.length);
      for (let i = 0; i < 50 && t.layer.pollAt() !== Infinity; i++) t.layer.poll(t.layer.pollAt());
    }), { numRuns: 300 });
  });
});
