import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Assembler, DeadlineHeap, NewReno, RingBuffer, initialWindow, checkSynCookie, makeSynCookie } from '../src/index.js';
import type { HeapEntry } from '../src/index.js';
import { Ctx, LOCAL_PORT, REMOTE, REMOTE_ISS, REMOTE_PORT, established } from './harness.js';

describe('RingBuffer', () => {
  it('behaves like a bounded FIFO for any sequence of writes and reads (model check)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 300 }), fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 200 })), { maxLength: 80 }), (cap, ops) => {
      const r = new RingBuffer(cap, 8);
      const model: number[] = [];
      let next = 0;
      for (const [isWrite, n] of ops) {
        if (isWrite) {
          const data = Uint8Array.from({ length: n }, () => next++ & 255);
          const k = r.write(data);
          expect(k).toBe(Math.min(n, cap - model.length));
          for (let i = 0; i < k; i++) model.push(data[i]!);
        } else {
          const out = new Uint8Array(n);
          const k = r.read(out);
          expect(Array.from(out.subarray(0, k))).toEqual(model.splice(0, k));
        }
        expect(r.length).toBe(model.length);
      }
    }));
  });

  it('writeAt + commit reassemble out-of-order pieces across a wrap and a growth', () => {
    const r = new RingBuffer(64, 4);
    r.write(new Uint8Array(50));
    r.read(new Uint8Array(50)); // head near the end of the ring
    r.writeAt(5, Uint8Array.from([6, 7, 8, 9, 10]));
    r.writeAt(0, Uint8Array.from([1, 2, 3, 4, 5]));
    r.commit(10);
    const out = new Uint8Array(10);
    r.read(out);
    expect(Array.from(out)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });
});

describe('Assembler (out-of-order ranges)', () => {
  it('tracks the contiguous front for any insertion order (model check)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1, max: 20 })), { maxLength: 30 }), (pieces) => {
      const a = new Assembler(1000);
      const have = new Set<number>();
      for (const [s, l] of pieces) {
        a.add(s, s + l);
        for (let i = s; i < s + l; i++) have.add(i);
      }
      let front = 0;
      while (have.has(front)) front++;
      expect(a.frontContiguous()).toBe(front);
      expect(a.bytes).toBe(have.size);
    }));
  });

  it('refuses a new range beyond maxRanges but still merges into existing ones', () => {
    const a = new Assembler(2);
    expect(a.add(10, 20)).toBe(true);
    expect(a.add(30, 40)).toBe(true);
    expect(a.add(50, 60)).toBe(false);
    expect(a.add(20, 30)).toBe(true);
    expect(a.rangeCount).toBe(1);
    a.advance(15);
    expect(a.bytes).toBe(25);
  });
});

describe('DeadlineHeap', () => {
  it('always yields the minimum deadline under random schedule/remove (model check)', () => {
    fc.assert(fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 19 }), fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.constant(Infinity))), { maxLength: 200 }), (ops) => {
      const h = new DeadlineHeap<HeapEntry>();
      const items: HeapEntry[] = Array.from({ length: 20 }, () => ({ heapIndex: -1, heapDeadline: Infinity }));
      const model = new Map<number, number>();
      for (const [i, d] of ops) {
        h.schedule(items[i]!, d);
        if (d === Infinity) model.delete(i); else model.set(i, d);
        expect(h.peekDeadline()).toBe(model.size === 0 ? Infinity : Math.min(...model.values()));
        expect(h.size).toBe(model.size);
      }
    }));
  });
});

describe('NewReno (RFC 5681, RFC 6582, RFC 6928)', () => {
  it('IW = min(10*MSS, max(2*MSS, 14600))', () => {
    expect(initialWindow(1460)).toBe(14600);
    expect(initialWindow(536)).toBe(5360);
    expect(initialWindow(8960)).toBe(17920);
  });
  it('slow start adds min(acked, SMSS); congestion avoidance about one SMSS per cwnd', () => {
    const cc = new NewReno(1000);
    cc.onAck(500, 0, 0);
    expect(cc.cwnd).toBe(10_500);
    cc.onAck(3000, 0, 0);
    expect(cc.cwnd).toBe(11_500);
    cc.onRto(20_000);
    expect(cc.ssthresh).toBe(10_000);
    expect(cc.cwnd).toBe(1000);
    while (cc.cwnd < cc.ssthresh) cc.onAck(1000, 0, 0);
    const at = cc.cwnd;
    for (let i = 0; i < at / 1000; i++) cc.onAck(1000, 0, 0);
    expect(cc.cwnd).toBe(at + 1000);
  });
  it('recovery: ssthresh = flight/2, inflation, partial-ACK deflation, exit to min(ssthresh, flight+SMSS)', () => {
    const cc = new NewReno(1000);
    cc.onEnterRecovery(10_000);
    expect(cc.ssthresh).toBe(5000);
    expect(cc.cwnd).toBe(8000);
    cc.onDupAckInRecovery();
    expect(cc.cwnd).toBe(9000);
    cc.onPartialAck(2000);
    expect(cc.cwnd).toBe(8000);
    cc.onExitRecovery(1000);
    expect(cc.cwnd).toBe(2000);
  });
});

describe('SYN cookies (RFC 4987 §3.6)', () => {
  const key = new Uint8Array(16).fill(3);
  it('validate for two periods, then expire; any changed field invalidates', () => {
    const c = makeSynCookie(key, 1000, 1, 2, 3, 4, 99, 5);
    expect(checkSynCookie(key, 1000, c, 1, 2, 3, 4, 99)).toBe(5);
    expect(checkSynCookie(key, 1000 + 64_000, c, 1, 2, 3, 4, 99)).toBe(5);
    expect(checkSynCookie(key, 1000 + 128_000, c, 1, 2, 3, 4, 99)).toBe(-1);
    expect(checkSynCookie(key, 1000, c, 1, 2, 3, 5, 99)).toBe(-1);
    expect(checkSynCookie(key, 1000, c, 1, 2, 3, 4, 98)).toBe(-1);
    expect(checkSynCookie(key, 1000, (c ^ 1) >>> 0, 1, 2, 3, 4, 99)).toBe(-1);
  });
});

describe('API misuse throws with Node-style codes', () => {
  it('EADDRINUSE for a duplicate 4-tuple or listening port', () => {
    const t = new Ctx();
    t.layer.connect({ remoteAddress: REMOTE, remotePort: REMOTE_PORT, localPort: LOCAL_PORT }, 0, {});
    expect(() => t.layer.connect({ remoteAddress: REMOTE, remotePort: REMOTE_PORT, localPort: LOCAL_PORT }, 0, {})).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    t.layer.listen({ port: 80 });
    expect(() => t.layer.listen({ port: 80 })).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
  });
  it('ERR_INVALID_ARG_VALUE for bad ports, addresses, backlog', () => {
    const t = new Ctx();
    expect(() => t.layer.connect({ remoteAddress: REMOTE, remotePort: 0 }, 0, {})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => t.layer.connect({ remoteAddress: 0, remotePort: 80 }, 0, {})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => t.layer.listen({ port: 70000 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => t.layer.listen({ port: 81, backlog: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
  it('ENOBUFS when the connection table is full', () => {
    const t = new Ctx({ maxConnections: 1 });
    t.layer.connect({ remoteAddress: REMOTE, remotePort: 1 }, 0, {});
    expect(() => t.layer.connect({ remoteAddress: REMOTE, remotePort: 2 }, 0, {})).toThrow(expect.objectContaining({ code: 'ENOBUFS' }));
  });
  it('EPIPE for write after close, or on a reset connection', () => {
    const t = established();
    t.send({ seq: REMOTE_ISS + 1, flags: 0x04 });
    expect(() => t.write('x')).toThrow(expect.objectContaining({ code: 'EPIPE' }));
  });
});

describe('re-entrancy: callbacks run after processing and may call back in', () => {
  it('close() from onRemoteFin and write() from onReadable are safe', () => {
    const t = established();
    t.conn.handler = {
      onReadable: (c) => { const b = new Uint8Array(10); c.read(b, t.now); c.write(b.subarray(0, 2), t.now); },
      onRemoteFin: (c) => c.close(t.now),
    };
    t.send({ seq: REMOTE_ISS + 1, ack: t.iss + 1, flags: 0x10 | 0x01, payload: 'hi' });
    const segs = t.drain();
    // ACK of the FIN, the echoed data and our FIN (possibly coalesced)
    expect(segs.some((s) => s.flags & 0x01)).toBe(true);
    expect(t.conn.state).toBe('LAST-ACK');
  });

  it('a fresh connect() from onClosed works', () => {
    const t = new Ctx();
    let second: unknown;
    t.conn = t.layer.connect({ remoteAddress: REMOTE, remotePort: REMOTE_PORT, localPort: LOCAL_PORT }, 0, {
      onClosed: () => { second = t.layer.connect({ remoteAddress: REMOTE, remotePort: REMOTE_PORT, localPort: LOCAL_PORT }, t.now, {}); },
    });
    const syn = t.drain()[0]!;
    t.send({ seq: 0, ack: syn.seq + 1, flags: 0x14 });
    expect(second).toBeDefined();
    expect(t.layer.connectionCount).toBe(1);
  });
});

describe('RFC 7323 §5.4: TSval is monotonic even when callers pass an older now', () => {
  it('never goes below the last value, across the 2^31 boundary too', async () => {
    const { TcpConnection } = await import('../src/connection.js');
    const c = Object.create(TcpConnection.prototype) as InstanceType<typeof TcpConnection>;
    c.tsOffset = 0x7ffffff0; c.lastTsVal = 0; c.tsStarted = false;
    const a = c.tsNow(100);
    expect(a).toBe((0x7ffffff0 + 100) >>> 0);
    expect(c.tsNow(90)).toBe(a); // older now: held
    expect(c.tsNow(130)).toBe((0x7ffffff0 + 130) >>> 0);
  });
});
