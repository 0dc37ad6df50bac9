import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { TcpConnection, TcpHandler } from '../src/index.js';
import { SIM_A, SIM_B, Sim } from './netsim.js';
import { runTransfer, sameBytes } from './scenario.js';

const A = SIM_A;
const B = SIM_B;
const PORT = 8080;

describe('deterministic simulation: two layers over a lossy, reordering, duplicating link', () => {
  it('a clean link transfers both ways and both sides end CLOSED with empty tables', () => {
    const data = (n: number, k: number) => Uint8Array.from({ length: n }, (_, i) => (i * k) & 255);
    const r = runTransfer(1, 0, data(100_000, 7), data(50_000, 13), [4096], [8192], 65536, { ws: true, ts: true, readDelay: 0, clean: true });
    expect(r.finished).toBe(true);
    sameBytes(r.b.received, r.a.toSend);
    sameBytes(r.a.received, r.b.toSend);
    expect(r.a.closed && r.b.closed).toBe(true);
    expect(r.a.error).toBeUndefined();
    expect(r.b.error).toBeUndefined();
    expect(r.la.connectionCount + r.lb.connectionCount).toBe(0);
    expect(r.la.stats().RetransSegs + r.lb.stats().RetransSegs).toBe(0);
    console.log('clean', r.sim.now, r.sim.delivered, r.la.stats().OutSegs, r.lb.stats().OutSegs);
  });

  it('20% loss with a slow reader and a small buffer still delivers everything', () => {
    const data = (n: number, k: number) => Uint8Array.from({ length: n }, (_, i) => (i * k + 3) & 255);
    const r = runTransfer(42, 0.2, data(30_000, 11), data(7_000, 5), [1000, 3000, 17], [500, 4000], 4096, { ws: false, ts: true, readDelay: 30 });
    expect(r.finished).toBe(true);
    sameBytes(r.b.received, r.a.toSend);
    sameBytes(r.a.received, r.b.toSend);
    expect(r.la.connectionCount + r.lb.connectionCount).toBe(0);
    expect(r.la.stats().RetransSegs + r.lb.stats().RetransSegs).toBeGreaterThan(0);
  });

  let runs = 0; let totalBytes = 0; let maxNow = 0;
  it('property: any seed, loss <= 20%, any payload, any chunking -> exact bytes in order, clean close', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 0x7fffffff }),
      fc.double({ min: 0, max: 0.2, noNaN: true }),
      fc.integer({ min: 0, max: 12_000 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
      fc.integer({ min: 0, max: 4_000 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
      fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 5 }),
      fc.array(fc.integer({ min: 1, max: 5000 }), { minLength: 1, maxLength: 5 }),
      fc.constantFrom(2048, 8192, 65536, 262144),
      fc.record({ ws: fc.boolean(), ts: fc.boolean(), readDelay: fc.constantFrom(0, 1, 50) }),
      (seed, loss, aData, bData, chunks, reads, buf, opts) => {
        const r = runTransfer(seed, loss, aData, bData, chunks, reads, buf, opts);
        expect(r.finished).toBe(true);
        expect(r.a.error).toBeUndefined();
        expect(r.b.error).toBeUndefined();
        sameBytes(r.b.received, aData);
        sameBytes(r.a.received, bData);
        expect(r.a.closed && r.b.closed).toBe(true);
        expect(r.la.connectionCount + r.lb.connectionCount).toBe(0);
        expect(r.la.pollAt()).toBe(Infinity);
        runs++;
        totalBytes += aData.length + bData.length; maxNow = Math.max(maxNow, r.sim.now);
      },
    ), { numRuns: Number(process.env.TCP_SIM_RUNS ?? 150) });
    expect(runs).toBe(Number(process.env.TCP_SIM_RUNS ?? 150));
    console.log('property bytes', totalBytes, 'max virtual ms', maxNow);
  }, 60_000);

  it('simultaneous open between two layers (RFC 9293 §3.5 Figure 8)', () => {
    const sim = new Sim(3, { loss: 0, duplicate: 0, delay: 10, jitter: 0 });
    const la = sim.host(A);
    const lb = sim.host(B);
    const log: string[] = [];
    const h = (n: string): TcpHandler => ({ onEstablished: () => log.push(`${n}:established`), onReadable: (c) => { const b = new Uint8Array(100); const k = c.read(b, sim.now); log.push(`${n}:${new TextDecoder().decode(b.subarray(0, k))}`); } });
    let ca: TcpConnection | undefined;
    let cb: TcpConnection | undefined;
    sim.at(0, () => { ca = la.connect({ remoteAddress: B, remotePort: 2000, localPort: 1000 }, sim.now, h('A')); });
    sim.at(0, () => { cb = lb.connect({ remoteAddress: A, remotePort: 1000, localPort: 2000 }, sim.now, h('B')); });
    sim.run(10_000, 100);
    expect(ca!.state).toBe('ESTABLISHED');
    expect(cb!.state).toBe('ESTABLISHED');
    ca!.write(new TextEncoder().encode('hi'), sim.now);
    sim.run(10_000, 200);
    expect(log).toContain('B:hi');
    expect(la.stats().ActiveOpens + lb.stats().ActiveOpens).toBe(2);
  });
});

describe('many connections through one listener', () => {
  it('40 clients, 10% loss: every echo completes and both tables drain', () => {
    const sim = new Sim(7, { loss: 0.1, duplicate: 0.02, delay: 3, jitter: 6 });
    const server = sim.host(B, { msl: 500 });
    const client = sim.host(A, { msl: 500 });
    const done: string[] = [];
    server.listen({ port: PORT, backlog: 64 }, {
      onAcceptable: (l) => {
        while (l.accept({
          onReadable: (k) => { const b = new Uint8Array(64); const n = k.read(b, sim.now); k.write(b.subarray(0, n), sim.now); },
          onRemoteFin: (k) => k.close(sim.now),
        }) !== undefined) { /* accept every queued connection */ }
      },
    });
    for (let i = 0; i < 40; i++) {
      sim.at(i, () => {
        const msg = `client ${i}`;
        let got = '';
        client.connect({ remoteAddress: B, remotePort: PORT }, sim.now, {
          onEstablished: (c) => c.write(new TextEncoder().encode(msg), sim.now),
          onReadable: (c) => {
            const b = new Uint8Array(64);
            got += new TextDecoder().decode(b.subarray(0, c.read(b, sim.now)));
            if (got === msg) c.close(sim.now);
          },
          onClosed: (_c, err) => { if (!err && got === msg) done.push(msg); },
        });
      });
    }
    expect(sim.run(1_000_000)).toBe(true);
    expect(done).toHaveLength(40);
    expect(server.connectionCount + client.connectionCount).toBe(0);
    expect(server.stats().PassiveOpens).toBe(40);
  });
});
