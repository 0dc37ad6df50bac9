/**
 * The neighbour cache as a protocol trace on virtual time: what it asks the host to send,
 * when, and what it does with the packets that wait. Time is the `now` argument only.
 */
import { describe, expect, it } from 'vitest';
import { NeighbourCache, type NeighbourHost, type NeighbourParams } from '../src/index.js';

const A = 0x0a070001;
const B = 0x0a070003;
const MAC_A = 0x525400000001;
const MAC_A2 = 0x525400000099;

type Event =
  | { t: number; solicit: number; to: number | 'bcast' }
  | { t: number; transmit: number[]; mac: number }
  | { t: number; unreachable: number[]; target: number };

class Host implements NeighbourHost {
  events: Event[] = [];
  solicit(target: number, mac: number | undefined, now: number): void {
    this.events.push({ t: now, solicit: target, to: mac ?? 'bcast' });
  }
  transmit(packet: Uint8Array, mac: number, now: number): void {
    this.events.push({ t: now, transmit: [...packet], mac });
  }
  unreachable(packet: Uint8Array, target: number, now: number): void {
    this.events.push({ t: now, unreachable: [...packet], target });
  }
  take(): Event[] {
    const e = this.events;
    this.events = [];
    return e;
  }
}

function setup(params: Partial<NeighbourParams> = {}): { cache: NeighbourCache; host: Host } {
  const host = new Host();
  // random 0.5: REACHABLE lasts exactly baseReachableMs.
  return { cache: new NeighbourCache(host, params, () => 0.5), host };
}

const pkt = (tag: number, len = 3): Uint8Array => new Uint8Array(len).fill(tag);

/** Runs every deadline up to `until`, in order (what the interface's timer does). */
function runTo(cache: NeighbourCache, until: number): void {
  for (let i = 0; i < 1000 && cache.pollAt() <= until; i++) cache.poll(cache.pollAt());
}

/** A fixture: `ip` resolved to `mac` at time `t` (REACHABLE until t + 30 s). */
function resolved(cache: NeighbourCache, host: Host, ip: number, mac: number, t: number): void {
  expect(cache.output(ip, pkt(0), t)).toBe('queued');
  cache.update(ip, mac, 'reply', t);
  host.take();
}

describe('resolution (INCOMPLETE)', () => {
  it('the first packet starts it: a broadcast request at once, the packet waits, the reply sends it', () => {
    const { cache, host } = setup();
    expect(cache.output(A, pkt(1), 0)).toBe('queued');
    expect(cache.output(A, pkt(2), 10)).toBe('queued');
    expect(host.take()).toEqual([{ t: 0, solicit: A, to: 'bcast' }]);
    expect(cache.get(A)).toEqual({ ip: A, mac: undefined, state: 'INCOMPLETE', queued: 2 });
    expect(cache.pollAt()).toBe(1000);
    expect(cache.update(A, MAC_A, 'reply', 400)).toBe(true);
    expect(host.take()).toEqual([
      { t: 400, transmit: [1, 1, 1], mac: MAC_A },
      { t: 400, transmit: [2, 2, 2], mac: MAC_A },
    ]);
    expect(cache.get(A)).toMatchObject({ mac: MAC_A, state: 'REACHABLE', queued: 0 });
    expect(cache.output(A, pkt(3), 500)).toBe(MAC_A);
    expect(cache.stats()).toMatchObject({ Lookups: 3, Hits: 1, OutSolicits: 1, QueuedBytes: 0, Entries: 1 });
  });

  it('retries 1 s apart (RFC 1122 §2.3.2.1), then FAILED at 3 s: every waiting packet reported unreachable, in order', () => {
    const { cache, host } = setup();
    cache.output(A, pkt(1), 0);
    cache.output(A, pkt(2), 1500);
    cache.poll(999);
    expect(host.take()).toEqual([{ t: 0, solicit: A, to: 'bcast' }]);
    cache.poll(1000);
    expect(host.take()).toEqual([{ t: 1000, solicit: A, to: 'bcast' }]);
    cache.poll(2000);
    expect(host.take()).toEqual([{ t: 2000, solicit: A, to: 'bcast' }]);
    cache.poll(2999);
    expect(host.take()).toEqual([]);
    expect(cache.get(A)?.state).toBe('INCOMPLETE');
    cache.poll(3000);
    expect(host.take()).toEqual([
      { t: 3000, unreachable: [1, 1, 1], target: A },
      { t: 3000, unreachable: [2, 2, 2], target: A },
    ]);
    expect(cache.get(A)).toMatchObject({ state: 'FAILED', queued: 0 });
    expect(cache.stats()).toMatchObject({ ResFailed: 1, UnreachableReports: 2, OutSolicits: 3, QueuedBytes: 0 });
  });

  it('a FAILED neighbour asked again starts a new round', () => {
    const { cache, host } = setup();
    cache.output(A, pkt(1), 0);
    runTo(cache, 3000);
    host.take();
    expect(cache.output(A, pkt(2), 5000)).toBe('queued');
    expect(host.take()).toEqual([{ t: 5000, solicit: A, to: 'bcast' }]);
    expect(cache.get(A)?.state).toBe('INCOMPLETE');
  });

  it('queue bound per neighbour, in bytes: the oldest is dropped first and counted', () => {
    const { cache, host } = setup({ queueBytes: 3000 });
    for (let i = 1; i <= 4; i++) expect(cache.output(A, pkt(i, 1000), i)).toBe('queued');
    expect(cache.get(A)?.queued).toBe(3);
    expect(cache.stats()).toMatchObject({ UnresolvedDiscards: 1, QueuedBytes: 3000 });
    expect(cache.output(A, pkt(9, 3001), 5)).toBe('dropped');
    cache.update(A, MAC_A, 'reply', 10);
    expect(host.take().filter((e) => 'transmit' in e).map((e) => ('transmit' in e ? e.transmit[0] : 0))).toEqual([2, 3, 4]);
    expect(cache.stats()).toMatchObject({ UnresolvedDiscards: 2, QueuedBytes: 0 });
  });

  it('queue bound over the table: a second neighbour cannot take the memory of the first', () => {
    const { cache } = setup({ queueBytes: 3000, totalQueueBytes: 4000 });
    for (let i = 0; i < 3; i++) cache.output(A, pkt(1, 1000), 0);
    cache.output(B, pkt(2, 1000), 0);
    // Over the total: B's own oldest goes first; B has only this packet so far → refused.
    expect(cache.output(B, pkt(3, 1000), 1)).toBe('queued');
    expect(cache.get(A)?.queued).toBe(3);
    expect(cache.get(B)?.queued).toBe(1);
    expect(cache.stats()).toMatchObject({ QueuedBytes: 4000, UnresolvedDiscards: 1 });
    const c = setup({ queueBytes: 4000, totalQueueBytes: 4000 }).cache;
    for (let i = 0; i < 4; i++) c.output(A, pkt(1, 1000), 0);
    expect(c.output(B, pkt(2, 1000), 0)).toBe('dropped');
    expect(c.stats().QueuedBytes).toBe(4000);
  });
});

describe('reachability (REACHABLE, STALE, DELAY, PROBE)', () => {
  it('REACHABLE for base_reachable_time, then STALE; a use makes it DELAY, then PROBE by unicast, a reply makes it REACHABLE', () => {
    const { cache, host } = setup();
    resolved(cache, host, A, MAC_A, 0);
    expect(cache.pollAt()).toBe(30_000);
    runTo(cache, 29_999);
    expect(cache.get(A)?.state).toBe('REACHABLE');
    runTo(cache, 30_000);
    expect(cache.get(A)?.state).toBe('STALE');
    expect(cache.output(A, pkt(1), 40_000)).toBe(MAC_A); // STALE still sends (RFC 4861 §7.3.3)
    expect(cache.get(A)?.state).toBe('DELAY');
    expect(cache.pollAt()).toBe(45_000);
    runTo(cache, 45_000);
    expect(cache.get(A)?.state).toBe('PROBE');
    expect(host.take()).toEqual([{ t: 45_000, solicit: A, to: MAC_A }]);
    expect(cache.output(A, pkt(2), 45_100)).toBe(MAC_A);
    cache.update(A, MAC_A, 'reply', 45_500);
    expect(cache.get(A)?.state).toBe('REACHABLE');
    expect(cache.pollAt()).toBe(75_500);
    expect(cache.stats()).toMatchObject({ OutUnicastProbes: 1 });
  });

  it('DELAY with an upper-layer confirmation goes back to REACHABLE without a probe', () => {
    const { cache, host } = setup();
    resolved(cache, host, A, MAC_A, 0);
    runTo(cache, 30_000);
    cache.output(A, pkt(1), 31_000);
    cache.confirm(A, 32_000);
    expect(cache.get(A)?.state).toBe('REACHABLE');
    runTo(cache, 36_000);
    expect(host.take()).toEqual([]);
  });

  it('PROBE unanswered: 3 unicast requests 1 s apart, then FAILED', () => {
    const { cache, host } = setup();
    resolved(cache, host, A, MAC_A, 0);
    runTo(cache, 30_000);
    cache.output(A, pkt(1), 30_000);
    runTo(cache, 37_999);
    expect(host.take()).toEqual([
      { t: 35_000, solicit: A, to: MAC_A },
      { t: 36_000, solicit: A, to: MAC_A },
      { t: 37_000, solicit: A, to: MAC_A },
    ]);
    expect(cache.get(A)?.state).toBe('PROBE');
    runTo(cache, 38_000);
    expect(cache.get(A)?.state).toBe('FAILED');
    expect(cache.stats()).toMatchObject({ ResFailed: 1, OutUnicastProbes: 3 });
  });

  it('STALE and FAILED entries unused for gc_stale_time are removed', () => {
    const { cache, host } = setup();
    resolved(cache, host, A, MAC_A, 0);
    cache.output(B, pkt(1), 0);
    runTo(cache, 62_999);
    expect(cache.has(A) && cache.has(B)).toBe(true);
    runTo(cache, 63_000); // B: FAILED at 3 s
    expect(cache.has(B)).toBe(false);
    runTo(cache, 89_999); // A: STALE at 30 s
    expect(cache.get(A)?.state).toBe('STALE');
    runTo(cache, 90_000);
    expect(cache.has(A)).toBe(false);
    expect(cache.stats().GcRemoved).toBe(2);
    expect(cache.size).toBe(0);
  });
});

describe('updates (RFC 826 merge, gratuitous ARP, locktime)', () => {
  it('a gratuitous ARP with a new address overrides at once; the entry goes STALE with it', () => {
    const { cache, host } = setup();
    resolved(cache, host, A, MAC_A, 0);
    cache.update(A, MAC_A2, 'stale', 500, true);
    expect(cache.get(A)).toMatchObject({ mac: MAC_A2, state: 'STALE' });
    expect(cache.output(A, pkt(1), 600)).toBe(MAC_A2);
    expect(cache.stats().AddressChanges).toBe(1);
  });

  it('a different address within locktime (1 s) is ignored unless gratuitous; after it, taken', () => {
    const { cache, host } = setup();
    resolved(cache, host, A, MAC_A, 0);
    cache.update(A, MAC_A2, 'reply', 999);
    expect(cache.get(A)?.mac).toBe(MAC_A);
    expect(cache.stats().LockTimeIgnored).toBe(1);
    cache.update(A, MAC_A2, 'reply', 1000);
    expect(cache.get(A)).toMatchObject({ mac: MAC_A2, state: 'REACHABLE' });
  });

  it('update without an entry creates nothing (only our own resolution and requests for us do)', () => {
    const { cache } = setup();
    expect(cache.update(A, MAC_A, 'stale', 0)).toBe(false);
    expect(cache.size).toBe(0);
    expect(cache.create(A, MAC_A, 0)).toBe(true);
    expect(cache.get(A)).toMatchObject({ mac: MAC_A, state: 'STALE' });
  });

  it('a known address seen again unsolicited keeps a REACHABLE entry REACHABLE', () => {
    const { cache, host } = setup();
    resolved(cache, host, A, MAC_A, 0);
    cache.update(A, MAC_A, 'stale', 100);
    expect(cache.get(A)?.state).toBe('REACHABLE');
  });
});

describe('bounded table under an ARP flood', () => {
  it('thousands of fake requesters never evict the entries in active use', () => {
    const { cache, host } = setup({ maxEntries: 64 });
    const active = Array.from({ length: 10 }, (_, i) => ({ ip: 0x0a000100 + i, mac: 0x525400001000 + i }));
    for (const a of active) resolved(cache, host, a.ip, a.mac, 0);
    let t = 0;
    for (let i = 0; i < 10_000; i++) {
      t += 1;
      cache.create(0x0b000000 + i, 0x0200000a0000 + i, t);
      // The stack keeps talking to its neighbours meanwhile (and they keep answering).
      if (i % 100 === 0) {
        for (const a of active) {
          const r = cache.output(a.ip, pkt(1), t);
          if (r === 'queued') cache.update(a.ip, a.mac, 'reply', t);
        }
        runTo(cache, t);
      }
    }
    expect(cache.size).toBeLessThanOrEqual(64);
    for (const a of active) {
      expect(cache.get(a.ip)?.mac, `0x${a.ip.toString(16)}`).toBe(a.mac);
      expect(cache.output(a.ip, pkt(1), t)).toBe(a.mac);
    }
    const s = cache.stats();
    expect(s.ForcedEvictions).toBe(10_000 - (64 - 10));
    expect(s.Allocs - s.Destroys).toBe(64);
  });

  it('STALE entries used for sending outlive never-used ones; a table full of entries in use refuses learning, and our own output takes the oldest INCOMPLETE one\'s place', () => {
    const { cache, host } = setup({ maxEntries: 4 });
    resolved(cache, host, A, MAC_A, 0);
    runTo(cache, 30_000); // A: STALE, used before
    for (let i = 0; i < 20; i++) cache.create(0x0b000000 + i, 0x0200000a0000 + i, 30_001 + i);
    expect(cache.get(A)).toMatchObject({ mac: MAC_A, state: 'STALE' });
    // Fill with entries in active use (INCOMPLETE): the never-used STALE ones go first.
    for (let i = 0; i < 3; i++) expect(cache.output(0x0c000000 + i, pkt(1), 31_000)).toBe('queued');
    expect(cache.has(A)).toBe(true);
    expect(cache.output(0x0d000000, pkt(1), 31_000)).toBe('queued'); // evicts A, the last STALE
    expect(cache.has(A)).toBe(false);
    // Full of INCOMPLETE entries: learning is refused; our own output evicts the oldest
    // INCOMPLETE one (0x0c000000, its waiting packet discarded) rather than being locked out.
    expect(cache.create(0x0e000000, MAC_A, 31_000)).toBe(false);
    expect(cache.output(0x0d000001, pkt(1), 31_000)).toBe('queued');
    expect(cache.has(0x0c000000)).toBe(false);
    expect(cache.stats()).toMatchObject({ TableFulls: 1, InUseEvictions: 1, UnresolvedDiscards: 1 });
  });
});
