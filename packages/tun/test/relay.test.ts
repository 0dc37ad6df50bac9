/** relayLinks over memory links, virtual time: forwarding both ways, per-direction shaping and counters. */
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '@netstack/common';
import { createLinkPair, parseImpairSpec, relayLinks, relaySpecs } from '@netstack/tun';

const packet = (i: number, size = 100): Uint8Array => {
  const p = new Uint8Array(size);
  p[0] = 0x45; p[4] = i >> 8; p[5] = i & 255;
  return p;
};
const idOf = (p: Uint8Array): number => (p[4]! << 8) | p[5]!;

/** hostA ⇄ pairA ⇄ relay ⇄ pairB ⇄ hostB. */
function rig(text?: { ab?: string; ba?: string }) {
  const clock = new VirtualClock();
  const pairA = createLinkPair({ autoDeliver: false, queueLimit: 100_000 });
  const pairB = createLinkPair({ autoDeliver: false, queueLimit: 100_000 });
  const relay = relayLinks(pairA.b, pairB.a, {
    scheduler: clock,
    ...(text?.ab !== undefined ? { ab: parseImpairSpec(text.ab) } : {}),
    ...(text?.ba !== undefined ? { ba: parseImpairSpec(text.ba) } : {}),
  });
  const atB: number[] = [];
  const atA: number[] = [];
  pairB.b.setReceiver({ packet: (p) => atB.push(idOf(p)) });
  pairA.a.setReceiver({ packet: (p) => atA.push(idOf(p)) });
  const pump = (): void => { pairA.pump(); pairB.pump(); pairA.pump(); pairB.pump(); };
  const advance = (ms: number): void => { for (let i = 0; i < ms; i++) { clock.advance(1, (e) => { throw e; }); pump(); } };
  return { relay, hostA: pairA.a, hostB: pairB.b, atA, atB, pump, advance };
}

describe('relayLinks', () => {
  it('forwards every packet both ways, unchanged and in order, and counts them per direction', () => {
    const r = rig();
    for (let i = 0; i < 50; i++) r.hostA.send(packet(i));
    for (let i = 0; i < 30; i++) r.hostB.send(packet(1000 + i, 60));
    r.pump();
    expect(r.atB).toEqual([...Array(50).keys()]);
    expect(r.atA).toEqual([...Array(30).keys()].map((i) => 1000 + i));
    const s = r.relay.stats();
    expect(s.ab).toMatchObject({ Packets: 50, Bytes: 5000, Forwarded: 50, ForwardedBytes: 5000, SendFailed: 0, Lost: 0 });
    expect(s.ba).toMatchObject({ Packets: 30, Bytes: 1800, Forwarded: 30, SendFailed: 0 });
  });

  it('shapes each direction by its own spec: loss only A→B, delay only B→A', () => {
    const r = rig({ ab: 'loss=100%', ba: 'delay=5ms' });
    for (let i = 0; i < 10; i++) { r.hostA.send(packet(i)); r.hostB.send(packet(i)); }
    r.pump();
    r.advance(4);
    expect(r.atA).toEqual([]);
    r.advance(2);
    expect(r.atA).toEqual([...Array(10).keys()]);
    expect(r.atB).toEqual([]);
    const s = r.relay.stats();
    expect(s.ab).toMatchObject({ Packets: 10, Lost: 10, Forwarded: 0 });
    expect(s.ba).toMatchObject({ Packets: 10, Lost: 0, Delayed: 10, Forwarded: 10 });
  });

  it('a bottleneck on A→B drops a burst beyond its queue and counts it', () => {
    const r = rig({ ab: 'rate=8mbit,queue=10' });
    for (let i = 0; i < 25; i++) r.hostA.send(packet(i, 1000));
    r.pump();
    r.advance(50);
    expect(r.atB).toEqual([...Array(10).keys()]);
    expect(r.relay.stats().ab).toMatchObject({ Packets: 25, QueueDropped: 15, Forwarded: 10 });
  });

  it('close() stops forwarding and drops what is held', () => {
    const r = rig({ ab: 'delay=5ms' });
    r.hostA.send(packet(1));
    r.pump();
    r.relay.close();
    r.advance(10);
    expect(r.atB).toEqual([]);
    expect(r.relay.queued()).toBe(0);
  });
});

describe('relaySpecs', () => {
  it('a plain spec: both directions alike, B→A seeded seed+1', () => {
    const { ab, ba } = relaySpecs(parseImpairSpec('loss=1%,seed=7'));
    expect(ab.seed).toBe(7);
    expect(ba).toEqual({ ...ab, seed: 8 });
  });
  it('up:…;down:… maps up to A→B and down to B→A', () => {
    const { ab, ba } = relaySpecs(parseImpairSpec('up:loss=1%;down:delay=5ms'));
    expect(ab.loss).toBe(0.01);
    expect(ab.delayMs).toBe(0);
    expect(ba.delayMs).toBe(5);
    expect(ab.down).toBeUndefined();
  });
});
