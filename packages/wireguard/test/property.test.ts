/**
 * Properties (fast-check): nothing a peer or an attacker sends makes the device throw, and
 * every datagram is explained by exactly one In* counter; the receive path delivers each
 * packet exactly once under any reordering within the window and any duplication.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { WireGuardStats } from '../src/index.js';
import { EP_A, EP_B, establish, IP_A, IP_B, packet, pair, tagOf } from './helpers.js';

const FINAL = [
  'InHdrErrors', 'InMac1Errors', 'InCookieChallenges', 'InHandshakeErrors', 'InHandshakeReplays', 'InHandshakeFloods', 'InRateLimited',
  'InInitiations', 'InResponses', 'InCookieReplies', 'InCookieErrors', 'InUnknownIndex', 'InExpired', 'InDecryptErrors',
  'InReplays', 'InKeepalives', 'InDataPackets', 'InSourceErrors', 'InInnerErrors', 'InInternalErrors',
] as const satisfies ReadonlyArray<keyof WireGuardStats>;
const accounted = (s: WireGuardStats): number => FINAL.reduce((n, k) => n + s[k], 0);

describe('hostile input', () => {
  it('arbitrary bytes, and real messages with bytes changed, never throw; one counter per datagram; no internal error', () => {
    const p = pair();
    establish(p);
    // Real messages to mutate: an initiation, a response, a cookie reply, transport data.
    const q = pair();
    const init = q.a.encapsulate(packet(IP_A, IP_B), 0)[0]!.datagram;
    q.b.decapsulate(init, EP_A, 0, true);
    const cookie = q.b.takeOutgoing()[0]!.datagram;
    const r = pair();
    r.b.decapsulate(r.a.encapsulate(packet(IP_A, IP_B), 0)[0]!.datagram, EP_A, 0);
    const resp = r.b.takeOutgoing()[0]!.datagram;
    const data = p.a.encapsulate(packet(IP_A, IP_B, 5), 1)[0]!.datagram;
    const seeds = [init, resp, cookie, data];
    const mutated = fc.tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 4 }), fc.option(fc.nat({ max: 200 })))
      .map(([m, flips, cut]) => {
        const b = Uint8Array.from(m);
        for (const [i, x] of flips) b[i % b.length]! ^= x;
        return cut === null ? b : b.subarray(0, cut % (b.length + 1));
      });
    const types = fc.constantFrom(1, 2, 3, 4).chain((t) => fc.uint8Array({ minLength: 0, maxLength: 160 }).map((b) => Uint8Array.of(t, 0, 0, 0, ...b)));
    let now = 2;
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), mutated, types), fc.boolean(), (d, load) => {
      const before = p.b.stats.InDatagrams;
      expect(() => p.b.decapsulate(d, EP_A, now++, load)).not.toThrow();
      expect(() => p.b.poll(now)).not.toThrow();
      expect(p.b.stats.InDatagrams).toBe(before + 1);
      expect(accounted(p.b.stats)).toBe(p.b.stats.InDatagrams);
    }), { numRuns: 400 });
    expect(p.b.stats.InInternalErrors).toBe(0);
    // And the session still works afterwards.
    expect(p.b.decapsulate(p.a.encapsulate(packet(IP_A, IP_B, 9), now)[0]!.datagram, EP_A, now)).toBeDefined();
  });

  it('the index table stays bounded however many initiations arrive', () => {
    const p = pair();
    for (let i = 0; i < 50; i++) {
      const q = pair();
      p.b.decapsulate(q.a.encapsulate(packet(IP_A, IP_B), i * 30)[0]!.datagram, EP_A, i * 30);
      p.b.takeOutgoing();
    }
    expect(p.b.sizes.indices).toBeLessThanOrEqual(4);
  });
});

describe('the receive window: reordering and duplication', () => {
  it('any order within the window, any duplicates: each packet delivered exactly once', () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 60 }).chain((n) => fc.tuple(
        fc.constant(n),
        fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }),
        fc.array(fc.nat({ max: n - 1 }), { maxLength: 20 }),
      )),
      ([n, order, dups]) => {
        const p = pair();
        establish(p);
        const sent = Array.from({ length: n }, (_, i) => p.a.encapsulate(packet(IP_A, IP_B, 100 + i), 1)[0]!.datagram);
        const schedule = [...order];
        for (const d of dups) schedule.splice(d % (schedule.length + 1), 0, d);
        const got: number[] = [];
        for (const i of schedule) {
          const inner = p.b.decapsulate(sent[i]!, EP_A, 2);
          if (inner !== undefined) got.push(tagOf(inner));
        }
        expect(got.sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => 100 + i));
        expect(p.b.stats.InReplays).toBe(dups.length);
      },
    ), { numRuns: 60 });
  });
});

describe('handshakes both ways under arbitrary timing', () => {
  it('whichever side sends first and whenever, after one exchange both deliver', () => {
    fc.assert(fc.property(fc.boolean(), fc.integer({ min: 0, max: 1_000_000 }), (bFirst, t) => {
      const p = pair({ bKnowsA: true });
      const [x, y, ex, ey, sx, sy] = bFirst ? [p.b, p.a, EP_B, EP_A, IP_B, IP_A] : [p.a, p.b, EP_A, EP_B, IP_A, IP_B];
      let out = x.encapsulate(packet(sx, sy, 1), t);
      const delivered: number[] = [];
      for (let round = 0; round < 4 && out.length > 0; round++) {
        const toY = out.flatMap((o) => { const i = y.decapsulate(o.datagram, ex, t); return i ? [tagOf(i)] : []; });
        delivered.push(...toY);
        const back = y.takeOutgoing();
        for (const o of back) x.decapsulate(o.datagram, ey, t);
        out = x.takeOutgoing();
      }
      expect(delivered).toEqual([1]);
    }), { numRuns: 20 });
  });
});
