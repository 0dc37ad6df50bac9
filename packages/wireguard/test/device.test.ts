/**
 * Protocol traces between two WireGuardDevice instances with virtual time: every datagram
 * that leaves one is handed to the other by the test, so each step asserts exactly what
 * was sent (by size: 148 initiation, 92 response, 64 cookie reply, 32 keepalive, 16+n+16 data).
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_TIMERS, WireGuardDevice } from '../src/index.js';
import { deliver, EP_A, EP_B, establish, IP_A, IP_B, keyA, keyB, packet, pair, seeded, seededBytes, sizes, tagOf } from './helpers.js';

const DATA = 64; // a 28-byte test packet padded to 32, with header and tag

describe('handshake', () => {
  it('A → B: initiation, response, the staged packet on the new session; then B answers at once', () => {
    const p = pair();
    establish(p);
    // B's session was confirmed by A's first data packet: B sends directly, no handshake.
    const back = p.b.encapsulate(packet(IP_B, IP_A, 2), 1);
    expect(sizes(back)).toEqual([DATA]);
    expect(deliver(back, p.a, EP_B, 1).map(tagOf)).toEqual([2]);
    expect(p.a.stats).toMatchObject({ OutInitiations: 1, InResponses: 1, OutDataPackets: 1, InDataPackets: 1 });
    expect(p.b.stats).toMatchObject({ InInitiations: 1, OutResponses: 1, InDataPackets: 1, OutDataPackets: 1 });
    expect(p.b.peer(keyA.publicKey)!.endpoint).toEqual(EP_A); // learnt from the initiation
  });

  it('with a pre-shared key on both sides; a mismatched one fails the response', () => {
    const p = pair({ psk: true });
    establish(p);
    const q = pair({ psk: true });
    q.b.addPeer({ publicKey: keyA.publicKey, allowedIps: [`${IP_A}/32`], presharedKey: seededBytes('other')(32) });
    deliver(q.a.encapsulate(packet(IP_A, IP_B), 0), q.b, EP_A, 0);
    deliver(q.b.takeOutgoing(), q.a, EP_B, 0);
    expect(q.a.stats.InHandshakeErrors).toBe(1);
    expect(q.a.takeOutgoing()).toEqual([]);
  });

  it('B → A: the responder side that knows its peer\'s endpoint initiates too', () => {
    const p = pair({ bKnowsA: true });
    const init = p.b.encapsulate(packet(IP_B, IP_A, 7), 0);
    expect(sizes(init)).toEqual([148]);
    deliver(init, p.a, EP_B, 0);
    deliver(p.a.takeOutgoing(), p.b, EP_A, 0);
    expect(deliver(p.b.takeOutgoing(), p.a, EP_B, 0).map(tagOf)).toEqual([7]);
  });

  it('the responder cannot send before key confirmation: its packet waits for A\'s first message', () => {
    const p = pair();
    deliver(p.a.initiateHandshake(keyB.publicKey, 0), p.b, EP_A, 0);
    const resp = p.b.takeOutgoing();
    expect(p.b.encapsulate(packet(IP_B, IP_A, 3), 1)).toEqual([]); // staged, and no initiation within REKEY_TIMEOUT
    deliver(resp, p.a, EP_B, 1);
    const keepalive = p.a.takeOutgoing();
    expect(sizes(keepalive)).toEqual([32]);
    deliver(keepalive, p.b, EP_A, 2);
    expect(p.b.stats.InKeepalives).toBe(1);
    const released = p.b.takeOutgoing();
    expect(sizes(released)).toEqual([DATA]);
    expect(deliver(released, p.a, EP_B, 2).map(tagOf)).toEqual([3]);
  });

  it('an initiation replayed (same TAI64N) is refused; a bad MAC1 is refused before any DH', () => {
    const p = pair();
    const init = p.a.encapsulate(packet(IP_A, IP_B), 0);
    deliver(init, p.b, EP_A, 0);
    deliver(init, p.b, EP_A, 1000);
    expect(p.b.stats.InHandshakeReplays).toBe(1);
    const bad = Uint8Array.from(init[0]!.datagram);
    bad[120]! ^= 1;
    p.b.decapsulate(bad, EP_A, 2000);
    expect(p.b.stats.InMac1Errors).toBe(1);
    expect(p.b.stats.InInitiations).toBe(1);
  });

  it('two initiations within 20 ms are a flood: the second is refused even with a newer timestamp', () => {
    const p = pair();
    const a2 = new WireGuardDevice({ privateKey: keyA.raw, wallClockOffset: 1_700_000_000_000 + 60_000, peers: [{ publicKey: keyB.publicKey, endpoint: EP_B, allowedIps: [`${IP_B}/32`] }] });
    deliver(p.a.initiateHandshake(keyB.publicKey, 0), p.b, EP_A, 100);
    deliver(a2.initiateHandshake(keyB.publicKey, 0), p.b, EP_A, 110);
    expect(p.b.stats.InHandshakeFloods).toBe(1);
    deliver(a2.initiateHandshake(keyB.publicKey, 5001), p.b, EP_A, 200);
    expect(p.b.stats.InInitiations).toBe(2);
  });

  it('simultaneous initiations cross: both answer, both responses miss, and the jittered retry settles it', () => {
    const p = pair({ bKnowsA: true });
    const ia = p.a.encapsulate(packet(IP_A, IP_B, 1), 0);
    const ib = p.b.encapsulate(packet(IP_B, IP_A, 2), 0);
    deliver(ia, p.b, EP_A, 1);
    deliver(ib, p.a, EP_B, 1);
    const ra = p.a.takeOutgoing();
    const rb = p.b.takeOutgoing();
    expect([sizes(ra), sizes(rb)]).toEqual([[92], [92]]);
    deliver(ra, p.b, EP_A, 2); // each answers an initiation the other has since replaced
    deliver(rb, p.a, EP_B, 2);
    expect(p.a.stats.InHandshakeErrors + p.b.stats.InHandshakeErrors).toBe(2);
    // Now run both clocks forward, delivering everything, until each side has delivered the other's packet.
    const got = { a: [] as number[], b: [] as number[] };
    let now = 2;
    for (let step = 0; step < 20 && (got.a.length === 0 || got.b.length === 0); step++) {
      now = Math.min(p.a.pollAt(), p.b.pollAt());
      let outA = p.a.poll(now);
      let outB = p.b.poll(now);
      while (outA.length + outB.length > 0) {
        got.b.push(...deliver(outA, p.b, EP_A, now).map(tagOf));
        got.a.push(...deliver(outB, p.a, EP_B, now).map(tagOf));
        outA = p.a.takeOutgoing();
        outB = p.b.takeOutgoing();
      }
    }
    expect(got).toEqual({ a: [2], b: [1] });
    expect(now).toBeLessThan(5_334 + 1);
  });

  it('an unknown peer\'s initiation is a handshake error', () => {
    const p = pair();
    const stranger = new WireGuardDevice({ privateKey: seededBytes('x')(32), peers: [{ publicKey: keyB.publicKey, endpoint: EP_B, allowedIps: ['0.0.0.0/0'] }] });
    deliver(stranger.encapsulate(packet('10.9.0.9', IP_B), 0), p.b, EP_A, 0);
    expect(p.b.stats.InHandshakeErrors).toBe(1);
    expect(p.b.takeOutgoing()).toEqual([]);
  });
});

describe('retries with jitter, and giving up (REKEY_TIMEOUT, REKEY_ATTEMPT_TIME)', () => {
  it('retransmits every REKEY_TIMEOUT + jitter in [0, 334) ms, 19 retries (20 attempts, as wireguard-go), then drops the staged packets', () => {
    const p = pair();
    const r = seeded(1); // the same stream as A's jitter
    let now = 0;
    expect(sizes(p.a.encapsulate(packet(IP_A, IP_B), now))).toEqual([148]);
    const times: number[] = [];
    for (;;) {
      const at = p.a.pollAt();
      const expected = now + 5000 + Math.floor(r() * 334);
      expect(at).toBe(expected);
      // step to the deadline - 1: nothing; then the deadline
      expect(p.a.poll(at - 1)).toEqual([]);
      now = at;
      const out = p.a.poll(now);
      if (out.length === 0) break;
      expect(sizes(out)).toEqual([148]);
      times.push(now);
    }
    expect(times.length).toBe(19);
    expect(p.a.stats).toMatchObject({ OutInitiations: 20, OutHandshakeFailures: 1, OutStagedDrops: 1 });
    // Key material residue is zeroed 3 × REJECT_AFTER_TIME later; then no timer remains.
    expect(p.a.pollAt()).toBe(now + 3 * 180_000);
    p.a.poll(p.a.pollAt());
    expect(p.a.pollAt()).toBe(Infinity);
    expect(p.a.sizes.indices).toBe(0);
  });

  it('more packets within REKEY_TIMEOUT do not send more initiations', () => {
    const p = pair();
    expect(sizes(p.a.encapsulate(packet(IP_A, IP_B, 1), 0))).toEqual([148]);
    for (let i = 0; i < 5; i++) expect(p.a.encapsulate(packet(IP_A, IP_B, 2 + i), 100 * i)).toEqual([]);
    expect(p.a.sizes.staged).toBe(6);
  });

  it('the staging queue is bounded (oldest dropped, counted)', () => {
    const p = pair({ extra: { maxStaged: 4 } });
    for (let i = 0; i < 10; i++) p.a.encapsulate(packet(IP_A, IP_B, i), 0);
    expect(p.a.sizes.staged).toBe(4);
    expect(p.a.stats.OutStagedDrops).toBe(6);
  });
});

describe('rekey (REKEY_AFTER_TIME, REKEY_AFTER_MESSAGES)', () => {
  it('the initiator sends a new initiation with a data packet once the session is older than REKEY_AFTER_TIME', () => {
    const p = pair();
    establish(p);
    expect(sizes(p.a.encapsulate(packet(IP_A, IP_B, 2), 120_000))).toEqual([DATA]); // not older yet
    deliver(p.b.takeOutgoing(), p.a, EP_B, 0);
    const out = p.a.encapsulate(packet(IP_A, IP_B, 3), 120_001);
    expect(sizes(out)).toEqual([DATA, 148]);
    expect(deliver(out, p.b, EP_A, 120_001).map(tagOf)).toEqual([3]);
    deliver(p.b.takeOutgoing(), p.a, EP_B, 120_001); // response
    expect(p.a.stats.InResponses).toBe(2);
    // The next packet uses the new session; B decrypts it on its "next" keypair and rotates.
    const next = p.a.takeOutgoing();
    expect(sizes(next)).toEqual([32]); // the keepalive that confirms the new keys
    deliver(next, p.b, EP_A, 120_002);
    expect(deliver(p.a.encapsulate(packet(IP_A, IP_B, 4), 120_003), p.b, EP_A, 120_003).map(tagOf)).toEqual([4]);
  });

  it('the responder does not rekey by time when sending (only the initiator does)', () => {
    const p = pair();
    establish(p);
    expect(sizes(p.b.encapsulate(packet(IP_B, IP_A, 2), 150_000))).toEqual([DATA]);
  });

  it('after REKEY_AFTER_MESSAGES packets the sender starts a handshake', () => {
    const p = pair({ timers: { rekeyAfterMessages: 10 } });
    establish(p); // counter 0 used
    // (after REKEY_TIMEOUT: initiations are never closer together than that)
    for (let i = 1; i <= 9; i++) expect(sizes(p.a.encapsulate(packet(IP_A, IP_B, i), 5000 + i))).toEqual([DATA]);
    // counters 0..10 used: 11 messages, more than 10 (wireguard-go: the next nonce > REKEY_AFTER_MESSAGES)
    expect(sizes(p.a.encapsulate(packet(IP_A, IP_B, 10), 5010))).toEqual([DATA, 148]);
  });
});

describe('rejection after the limits (REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME)', () => {
  it('a sender stops using a session at REJECT_AFTER_MESSAGES and stages behind a new handshake', () => {
    const p = pair({ timers: { rejectAfterMessages: 5, rekeyAfterMessages: 1000 } });
    establish(p);
    for (let i = 1; i <= 4; i++) expect(sizes(p.a.encapsulate(packet(IP_A, IP_B, i), i))).toEqual([DATA]);
    expect(sizes(p.a.encapsulate(packet(IP_A, IP_B, 5), 5))).toEqual([]); // within REKEY_TIMEOUT of the last initiation
    expect(sizes(p.a.encapsulate(packet(IP_A, IP_B, 6), 5000))).toEqual([148]);
    expect(p.a.sizes.staged).toBe(2);
  });

  it('a receiver refuses a counter at or past REJECT_AFTER_MESSAGES even when it authenticates', () => {
    const p = pair({ timersB: { rejectAfterMessages: 3 } });
    establish(p); // counter 0
    const out = [1, 2, 3, 4].map((i) => p.a.encapsulate(packet(IP_A, IP_B, i), i)[0]!);
    expect(deliver(out, p.b, EP_A, 5).map(tagOf)).toEqual([1, 2]);
    expect(p.b.stats.InReplays).toBe(2);
  });

  it('after REJECT_AFTER_TIME a session is neither used to send nor accepted on receive', () => {
    const p = pair();
    establish(p);
    const old = p.a.encapsulate(packet(IP_A, IP_B, 2), 179_999);
    expect(sizes(old)).toEqual([DATA, 148]); // rekey after time also fired
    // B receives the old-session packet after REJECT_AFTER_TIME: expired.
    deliver([old[0]!], p.b, EP_A, 180_000);
    expect(p.b.stats.InExpired).toBe(1);
    // A at 180 s: the session is rejected for sending; the packet waits for a handshake.
    const later = pair();
    establish(later);
    expect(sizes(later.a.encapsulate(packet(IP_A, IP_B, 3), 180_000))).toEqual([148]);
  });
});

describe('cookies under load (§5.3, §5.4.7)', () => {
  it('under load, an initiation without mac2 gets a cookie reply; the retry carries mac2 and is accepted', () => {
    const p = pair();
    const init = p.a.encapsulate(packet(IP_A, IP_B, 1), 0);
    deliver(init, p.b, EP_A, 0, true);
    expect(p.b.stats).toMatchObject({ InCookieChallenges: 1, OutCookieReplies: 1, InInitiations: 0 });
    const reply = p.b.takeOutgoing();
    expect(sizes(reply)).toEqual([64]);
    expect(reply[0]!.endpoint).toEqual(EP_A);
    deliver(reply, p.a, EP_B, 10);
    expect(p.a.stats.InCookieReplies).toBe(1);
    // The retransmission (REKEY_TIMEOUT later) carries a valid mac2 for A's address.
    const retry = p.a.poll(p.a.pollAt());
    expect(sizes(retry)).toEqual([148]);
    deliver(retry, p.b, EP_A, 5400, true);
    expect(p.b.stats.InInitiations).toBe(1);
    expect(sizes(p.b.takeOutgoing())).toEqual([92]);
  });

  it('a cookie is bound to the source address: from another port, mac2 fails again', () => {
    const p = pair();
    deliver(p.a.encapsulate(packet(IP_A, IP_B, 1), 0), p.b, EP_A, 0, true);
    deliver(p.b.takeOutgoing(), p.a, EP_B, 10);
    const retry = p.a.poll(p.a.pollAt());
    deliver(retry, p.b, { ...EP_A, port: EP_A.port + 1 }, 5400, true);
    expect(p.b.stats.InCookieChallenges).toBe(2);
  });

  it('a cookie reply that does not open (wrong mac1 as AD, or unknown index) is counted and ignored', () => {
    const p = pair();
    deliver(p.a.encapsulate(packet(IP_A, IP_B, 1), 0), p.b, EP_A, 0, true);
    const reply = p.b.takeOutgoing()[0]!.datagram;
    const bad = Uint8Array.from(reply);
    bad[40]! ^= 1;
    p.a.decapsulate(bad, EP_B, 1);
    const unknown = Uint8Array.from(reply);
    unknown[4]! ^= 0xff;
    p.a.decapsulate(unknown, EP_B, 1);
    expect(p.a.stats).toMatchObject({ InCookieErrors: 2, InCookieReplies: 0 });
  });

  /** A (rekeyTimeout 1 ms: an initiation every ms) holds a cookie for `from` from B under load; returns the time after. */
  function cookieFor(p: ReturnType<typeof pair>, from: typeof EP_A, now: number): number {
    p.b.takeOutgoing(); // the responses to earlier initiations
    deliver(p.a.initiateHandshake(keyB.publicKey, now), p.b, from, now, true);
    const reply = p.b.takeOutgoing();
    expect(sizes(reply)).toEqual([64]);
    deliver(reply, p.a, EP_B, now);
    return now + 1;
  }

  it('a cookie proves the source, not its rate: under load, valid-mac2 initiations from one source are held to 20/s (burst 5) before any DH; another source is served', () => {
    // A flood of initiations carrying a valid mac2 (A took B's cookie for EP_A): 1000 in 1 s.
    const p = pair({ timers: { rekeyTimeout: 1 }, timersB: {} });
    let t = cookieFor(p, EP_A, 0);
    const start = t;
    for (; t < start + 1000; t++) deliver(p.a.initiateHandshake(keyB.publicKey, t), p.b, EP_A, t, true);
    const s = p.b.stats;
    // Reaching the DH: the burst of 5 (the first one counted when the bucket was made), then one each 50 ms.
    const processed = s.InInitiations + s.InHandshakeFloods + s.InHandshakeErrors + s.InHandshakeReplays;
    expect(processed).toBeGreaterThanOrEqual(20);
    expect(processed).toBeLessThanOrEqual(5 + 20 + 1);
    expect(s.InRateLimited).toBe(1000 - processed);
    expect(s.InCookieChallenges).toBe(1);
    // Another source address: its own cookie, then served although EP_A is limited.
    const EP_A2 = { address: '192.0.2.77', port: 40000 };
    t = cookieFor(p, EP_A2, t);
    const before = s.InInitiations;
    deliver(p.a.initiateHandshake(keyB.publicKey, t), p.b, EP_A2, t, true);
    expect(s.InInitiations).toBe(before + 1);
    expect(p.b.sizes.rateLimitedSources).toBe(2);
    // Not under load, no limit.
    const limited = s.InRateLimited;
    t += 25;
    for (let i = 0; i < 10; i++, t += 25) deliver(p.a.initiateHandshake(keyB.publicKey, t), p.b, EP_A, t, false);
    expect(s.InRateLimited).toBe(limited);
    expect(s.InInitiations).toBe(before + 1 + 10);
  });

  it('the rate limiter\'s table is bounded (maxSources): a new source beyond is refused until idle ones are swept a second later', () => {
    const p = pair({ timers: { rekeyTimeout: 1 }, timersB: {}, extra: {} });
    const b = new WireGuardDevice({
      privateKey: keyB.raw, randomBytes: seededBytes('b2'), wallClockOffset: 1_700_000_000_000, rateLimit: { maxSources: 4 },
      peers: [{ publicKey: keyA.publicKey, allowedIps: [`${IP_A}/32`] }],
    });
    const q = { a: p.a, b };
    let t = 0;
    for (let i = 0; i < 6; i++) {
      const from = { address: `192.0.2.${100 + i}`, port: 1000 + i };
      t = cookieFor(q, from, t);
      deliver(p.a.initiateHandshake(keyB.publicKey, t), b, from, t, true);
      t += 30; // beyond the per-peer flood limit of 20 ms
    }
    expect(b.sizes.rateLimitedSources).toBe(4);
    expect(b.stats.InRateLimited).toBe(2);
    expect(b.stats.InInitiations).toBe(4);
    // A second later the four are idle: swept, and a new source finds room.
    t += 1000;
    const from = { address: '192.0.2.200', port: 2000 };
    t = cookieFor(q, from, t);
    deliver(p.a.initiateHandshake(keyB.publicKey, t), b, from, t, true);
    expect(b.stats.InInitiations).toBe(5);
    expect(b.sizes.rateLimitedSources).toBe(1);
  });

  it('IPv6 sources share a bucket per /64 (one host holds a /64)', () => {
    const p = pair({ timers: { rekeyTimeout: 1 }, timersB: {} });
    let t = 0;
    for (let i = 1; i <= 10; i++) {
      const from = { address: `2001:db8:1:2::${i.toString(16)}`, port: 5000 };
      t = cookieFor(p, from, t);
      deliver(p.a.initiateHandshake(keyB.publicKey, t), p.b, from, t, true);
      t += 1;
    }
    // 10 messages with valid mac2 within ~10 ms from one /64: the burst of 5 passes.
    expect(p.b.stats.InRateLimited).toBe(5);
    expect(p.b.sizes.rateLimitedSources).toBe(1);
  });

  it('underLoad as a function is asked only for handshake messages whose mac1 is valid (junk does not count toward the load)', () => {
    const p = pair();
    let asked = 0;
    const judge = (): boolean => { asked++; return true; };
    const init = p.a.encapsulate(packet(IP_A, IP_B, 1), 0);
    const junk = Uint8Array.from(init[0]!.datagram);
    junk[120]! ^= 1; // mac1 broken
    for (let i = 0; i < 5; i++) p.b.decapsulate(junk, EP_A, i, judge);
    p.b.decapsulate(new Uint8Array(64), EP_A, 5, judge); // neither a handshake message
    expect(asked).toBe(0);
    expect(p.b.stats.InMac1Errors).toBe(5);
    deliver(init, p.b, EP_A, 6, judge);
    expect(asked).toBe(1);
    expect(p.b.stats.InCookieChallenges).toBe(1);
  });

  it('not under load, mac2 is not required', () => {
    const p = pair();
    establish(p);
    expect(p.b.stats.InCookieChallenges).toBe(0);
  });
});

describe('replay window edges (§5.4.6, RFC 6479)', () => {
  it('out of order within the window is accepted once; a duplicate and a too-old counter are refused', () => {
    const p = pair();
    establish(p); // counter 0
    const sent = Array.from({ length: 9000 }, (_, i) => p.a.encapsulate(packet(IP_A, IP_B, i + 1), 1)[0]!);
    // deliver the newest (counter 9000) first, then an old one inside the window and one outside
    expect(deliver([sent[8999]!], p.b, EP_A, 2).map(tagOf)).toEqual([9000]);
    expect(deliver([sent[9000 - 8160 - 1]!], p.b, EP_A, 2).map(tagOf)).toEqual([9000 - 8160]); // exactly the window's edge
    expect(deliver([sent[9000 - 8160 - 2]!], p.b, EP_A, 2)).toEqual([]); // one past it
    expect(deliver([sent[8999]!], p.b, EP_A, 2)).toEqual([]); // duplicate
    expect(deliver([sent[5000]!], p.b, EP_A, 2).map(tagOf)).toEqual([5001]);
    expect(p.b.stats.InReplays).toBe(2);
  });

  it('a forged counter does not move the window (authentication before the replay check)', () => {
    const p = pair();
    establish(p);
    const m = p.a.encapsulate(packet(IP_A, IP_B, 5), 1)[0]!.datagram;
    const forged = Uint8Array.from(m);
    forged[8 + 4] = 0x10; // counter + 2^36: the tag no longer matches
    p.b.decapsulate(forged, EP_A, 2);
    expect(p.b.stats.InDecryptErrors).toBe(1);
    expect(p.b.decapsulate(m, EP_A, 2)).toBeDefined(); // counter 1 still inside the window
  });
});

describe('cryptokey routing and roaming', () => {
  it('inner source check: B drops what A sends from an address outside A\'s allowed IPs', () => {
    const p = pair();
    establish(p);
    const out = p.a.encapsulate(packet('10.9.0.99', IP_B, 4), 1);
    expect(sizes(out)).toEqual([DATA]);
    expect(deliver(out, p.b, EP_A, 1)).toEqual([]);
    expect(p.b.stats.InSourceErrors).toBe(1);
  });

  it('no route: a destination outside every peer\'s allowed IPs is dropped (OutNoRoutes)', () => {
    const p = pair();
    expect(p.a.encapsulate(packet(IP_A, '10.9.9.9'), 0)).toEqual([]);
    expect(p.a.encapsulate(new Uint8Array(10), 0)).toEqual([]);
    expect(p.a.stats).toMatchObject({ OutNoRoutes: 1, OutInnerErrors: 1 });
  });

  it('roaming: B\'s endpoint for A follows the last authenticated packet, not a forged one', () => {
    const p = pair();
    establish(p);
    const moved = { address: '198.51.100.7', port: 4000 };
    deliver(p.a.encapsulate(packet(IP_A, IP_B, 2), 1), p.b, moved, 1);
    expect(p.b.peer(keyA.publicKey)!.endpoint).toEqual(moved);
    expect(p.b.encapsulate(packet(IP_B, IP_A, 3), 2)[0]!.endpoint).toEqual(moved);
    // A forged datagram from elsewhere does not move it.
    const m = p.a.encapsulate(packet(IP_A, IP_B, 4), 3)[0]!.datagram;
    const forged = Uint8Array.from(m);
    forged[40]! ^= 1;
    p.b.decapsulate(forged, { address: '203.0.113.66', port: 1 }, 3);
    expect(p.b.peer(keyA.publicKey)!.endpoint).toEqual(moved);
  });

  it('replays from another address (an initiation, a response, transport packets) are refused and move neither the endpoint nor a session', () => {
    const p = pair({ bKnowsA: true });
    const init = p.a.encapsulate(packet(IP_A, IP_B, 1), 0);
    deliver(init, p.b, EP_A, 0);
    const resp = p.b.takeOutgoing();
    deliver(resp, p.a, EP_B, 0);
    const data = p.a.takeOutgoing();
    deliver(data, p.b, EP_A, 0);
    const evil = { address: '203.0.113.66', port: 6666 };
    deliver(init, p.b, evil, 100); // TAI64N not newer
    deliver(resp, p.a, evil, 100); // its index now names a session, not a handshake
    expect(deliver(data, p.b, evil, 100)).toEqual([]); // counter seen
    expect(p.b.stats).toMatchObject({ InHandshakeReplays: 1, InReplays: 1, InInitiations: 1, OutResponses: 1 });
    expect(p.a.stats).toMatchObject({ InHandshakeErrors: 1, InResponses: 1 });
    expect(p.a.takeOutgoing()).toEqual([]);
    expect(p.b.takeOutgoing()).toEqual([]);
    expect(p.b.peer(keyA.publicKey)!.endpoint).toEqual(EP_A);
    expect(p.a.peer(keyB.publicKey)!.endpoint).toEqual(EP_B);
    // The sessions are the ones the handshake made: traffic goes on both ways.
    expect(deliver(p.a.encapsulate(packet(IP_A, IP_B, 2), 200), p.b, EP_A, 200).map(tagOf)).toEqual([2]);
    expect(deliver(p.b.encapsulate(packet(IP_B, IP_A, 3), 200), p.a, EP_B, 200).map(tagOf)).toEqual([3]);
    // A response replayed while A is in a new handshake names the old index: refused, and the new one completes.
    const init2 = p.a.initiateHandshake(keyB.publicKey, 6000);
    expect(sizes(init2)).toEqual([148]);
    deliver(resp, p.a, evil, 6001);
    expect(p.a.stats.InHandshakeErrors).toBe(2);
    deliver(init2, p.b, EP_A, 6002);
    deliver(p.b.takeOutgoing(), p.a, EP_B, 6003);
    expect(p.a.stats.InResponses).toBe(2);
  });

  it('IPv6 inner packets route and pass the source check too', () => {
    const p = pair();
    establish(p);
    const v6 = new Uint8Array(48);
    v6[0] = 0x60;
    v6[5] = 8; // payload length
    v6[6] = 17;
    v6[7] = 64;
    v6.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8);
    v6.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 24);
    const out = p.a.encapsulate(v6, 1);
    expect(sizes(out)).toEqual([16 + 48 + 16]);
    expect(deliver(out, p.b, EP_A, 1).map((x) => Buffer.from(x).toString('hex'))).toEqual([Buffer.from(v6).toString('hex')]);
  });
});

describe('keepalives (KEEPALIVE_TIMEOUT, persistent keepalive)', () => {
  it('a peer that received data and sent nothing back sends a keepalive KEEPALIVE_TIMEOUT later', () => {
    const p = pair();
    establish(p, 0);
    expect(p.b.pollAt()).toBe(10_000);
    expect(p.b.poll(9_999)).toEqual([]);
    const ka = p.b.poll(10_000);
    expect(sizes(ka)).toEqual([32]);
    deliver(ka, p.a, EP_B, 10_000);
    expect(p.a.stats.InKeepalives).toBe(1);
  });

  it('sending data back in time cancels the keepalive', () => {
    const p = pair();
    establish(p, 0);
    p.b.encapsulate(packet(IP_B, IP_A), 5_000);
    expect(p.b.poll(10_000)).toEqual([]);
  });

  it('data sent and nothing heard for KEEPALIVE + REKEY_TIMEOUT (+ jitter) starts a new handshake', () => {
    const p = pair();
    establish(p, 0);
    // armed by the first data packet (at 0) and not re-armed by later ones while pending
    p.a.encapsulate(packet(IP_A, IP_B, 2), 1000);
    const at = p.a.pollAt();
    expect(at).toBeGreaterThanOrEqual(15_000);
    expect(at).toBeLessThan(15_334);
    expect(sizes(p.a.poll(at))).toEqual([148]);
  });

  it('persistent keepalive: one right away, then every interval while idle', () => {
    const p = pair({ keepaliveA: 25 });
    p.a.addPeer({ publicKey: keyB.publicKey, allowedIps: [`${IP_B}/32`], endpoint: EP_B, persistentKeepalive: 25 }, 0);
    // The first keepalive needs a session: it stages and starts the handshake.
    const init = p.a.poll(0);
    expect(sizes(init)).toEqual([148]);
    deliver(init, p.b, EP_A, 0);
    deliver([{ endpoint: EP_A, datagram: new Uint8Array(0) }], p.b, EP_A, 0); // noise: counted, ignored
    const resp = p.b.takeOutgoing();
    deliver(resp, p.a, EP_B, 0);
    expect(sizes(p.a.takeOutgoing())).toEqual([32]);
    expect(p.a.pollAt()).toBe(25_000);
    expect(sizes(p.a.poll(25_000))).toEqual([32]);
    expect(p.a.pollAt()).toBe(50_000);
  });
});

describe('configuration', () => {
  it('a bad key or prefix throws with a code, and leaves no half-added peer', () => {
    const p = pair();
    expect(() => p.a.addPeer({ publicKey: 'c2hvcnQ=' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    const k = seededBytes('c')(32);
    expect(() => p.a.addPeer({ publicKey: k, allowedIps: ['10.0.0.0/8', 'nonsense'] })).toThrow(/not an IP prefix/);
    expect(p.a.peer(k)).toBeUndefined();
    expect(p.a.sizes).toMatchObject({ peers: 1, allowedIps: 2 });
  });
  it('peer() reports like wg show; removePeer frees its indices and prefixes', () => {
    const p = pair();
    establish(p, 1000);
    expect(p.a.peer(keyB.publicKey)).toMatchObject({ endpoint: EP_B, allowedIps: [`${IP_B}/32`, 'fd00:0:0:0:0:0:0:2/128'], lastHandshake: 1000, hasSession: true });
    expect(p.a.sizes.indices).toBe(1);
    expect(p.a.removePeer(keyB.publicKey)).toBe(true);
    expect(p.a.sizes).toMatchObject({ peers: 0, indices: 0, allowedIps: 0 });
  });
});

describe('defaults', () => {
  it('the whitepaper\'s constants', () => {
    expect(DEFAULT_TIMERS).toMatchObject({ rekeyAfterTime: 120_000, rejectAfterTime: 180_000, rekeyAttemptTime: 90_000, rekeyTimeout: 5_000, keepaliveTimeout: 10_000, rekeyAfterMessages: 2 ** 60 });
  });
});
