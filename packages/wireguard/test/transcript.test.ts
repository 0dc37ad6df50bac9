/**
 * Replays the transcripts recorded against wireguard-go (test/kernel/wireguard-handshake.test.ts,
 * UPDATE_WG_FIXTURES=1): the same key, seeded randomness, wall-clock offset and `now`s give
 * the same calls into a fresh WireGuardDevice. Every datagram we sent must come out byte for
 * byte again, and every datagram wireguard-go sent (its response or initiation, its transport
 * packets, made with keys it derived from ours) must be accepted and decrypt to the same inner
 * packet. A change to the handshake, the KDF chain, the MACs, padding or the nonce layout
 * fails here without a kernel.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { WireGuardDevice, type Endpoint, type PeerConfig, type Timers } from '../src/index.js';
import { seededBytes } from './helpers.js';

interface Event {
  call: 'encapsulate' | 'decapsulate' | 'poll';
  now: number;
  hex?: string;
  from?: Endpoint;
  inner?: string | null;
  underLoad?: boolean;
  out: Array<{ to: Endpoint; hex: string }>;
}
interface Transcript {
  recordedWith: string;
  mode: string;
  wallClockOffset: number;
  config: { privateKey: string; seed: string; peer: PeerConfig; timers?: Partial<Timers> };
  events: Event[];
  stats: Record<string, number>;
}

function load(mode: string): Transcript {
  const t = JSON.parse(readFileSync(new URL(`./fixtures/wireguard-go-${mode}.json`, import.meta.url), 'utf8')) as Transcript;
  // Counters added after the recording (InRateLimited) were 0 then: no rate limiter yet.
  t.stats = { InRateLimited: 0, ...t.stats };
  return t;
}

function replay(t: Transcript): WireGuardDevice {
  let r = 0;
  const wg = new WireGuardDevice({
    privateKey: Buffer.from(t.config.privateKey, 'hex'),
    randomBytes: seededBytes(t.config.seed),
    random: () => (r = (r * 1103515245 + 12345) >>> 0) / 4294967296,
    wallClockOffset: t.wallClockOffset,
    peers: [t.config.peer],
    ...(t.config.timers ? { timers: t.config.timers } : {}),
  });
  for (const e of t.events) {
    let out;
    if (e.call === 'encapsulate') out = wg.encapsulate(Buffer.from(e.hex!, 'hex'), e.now);
    else if (e.call === 'poll') out = wg.poll(e.now);
    else {
      const inner = wg.decapsulate(Buffer.from(e.hex!, 'hex'), e.from!, e.now, e.underLoad ?? false);
      expect(inner === undefined ? null : Buffer.from(inner).toString('hex')).toBe(e.inner);
      out = wg.takeOutgoing();
    }
    expect(out.map((o) => ({ to: o.endpoint, hex: Buffer.from(o.datagram).toString('hex') }))).toEqual(e.out);
  }
  return wg;
}

describe('transcripts recorded with wireguard-go', () => {
  it('we initiate: our initiation again byte for byte; wireguard-go\'s response and echo reply accepted', () => {
    const t = load('initiate');
    expect(t.recordedWith).toMatch(/^wireguard-go v/);
    const wg = replay(t);
    expect(wg.stats).toEqual(t.stats);
    expect(wg.stats).toMatchObject({ InResponses: 1, InDataPackets: 2 }); // an ICMP and an ICMPv6 echo reply
  });

  it('they initiate: wireguard-go\'s initiation accepted, our response again byte for byte, its echo request decrypted', () => {
    const t = load('respond');
    const wg = replay(t);
    expect(wg.stats).toEqual(t.stats);
    expect(wg.stats).toMatchObject({ InInitiations: 1, OutResponses: 1, InDataPackets: 1 });
  });

  it('they initiate while we are under load: our cookie reply again byte for byte, wireguard-go\'s retry with mac2 accepted', () => {
    const t = load('respond-load');
    const wg = replay(t);
    expect(wg.stats).toEqual(t.stats);
    expect(wg.stats).toMatchObject({ InCookieChallenges: 1, OutCookieReplies: 1, InInitiations: 1, InDataPackets: 1 });
  });

  it('rekey mid-session (REKEY_AFTER_TIME 1 s): the second handshake and both sessions replay', () => {
    const t = load('rekey');
    const wg = replay(t);
    expect(wg.stats).toEqual(t.stats);
    expect(wg.stats).toMatchObject({ OutInitiations: 2, InResponses: 2, InDataPackets: 3 });
  });

  it('a changed byte anywhere in wireguard-go\'s response makes the replay fail (the check can fail)', () => {
    const t = load('initiate');
    const e = t.events.find((x) => x.call === 'decapsulate')!;
    const b = Buffer.from(e.hex!, 'hex');
    b[50]! ^= 1; // in the encrypted-nothing field: MAC1 then fails first
    e.hex = b.toString('hex');
    expect(() => replay(t)).toThrow();
  });
});
