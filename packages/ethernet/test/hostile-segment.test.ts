/**
 * A hostile or broken host on the segment (session 23, helper HT): what another station can
 * make our IPv6 router and address state do, on virtual time against the pure tables.
 */
import { describe, expect, it } from 'vitest';
import { Ipv6AddressTable, NeighbourCache, bytesToAddress, type Addr6Host, type NeighbourHost } from '../src/index.js';
import { hex } from './helpers.js';

const a6 = (h: string): string => bytesToAddress(hex(h));
const ROUTER = a6('fe80 0000 0000 0000 0000 0000 0000 0001');
const rogue = (i: number): string => a6(`fe80 0000 0000 0000 0000 0000 0bad ${i.toString(16).padStart(4, '0')}`);
const IID = '\x00\x00\x5e\xff\xfe\x10\x00\x02';

function table(): { t: Ipv6AddressTable; changes: number[] } {
  const changes: number[] = [];
  const host: Addr6Host = { dadSolicit: () => {}, routerSolicit: () => {}, changed: (now) => changes.push(now), conflict: () => {} };
  const t = new Ipv6AddressTable(host, IID, {}, () => 0.5);
  t.startSlaac(0);
  return { t, changes };
}

const ra = (src: string, routerLifetime: number, mac?: number) => ({ src, routerLifetime, linkAddress: mac, prefixes: [] });

describe('the default router list (RFC 4861 §6.3.4, §6.3.6) under rogue RAs', () => {
  it('a rogue RA does not take over a router in use; when the rogue leaves or expires, the real router is still there', () => {
    const { t } = table();
    t.routerAdvert(ra(ROUTER, 1800, 0x525400000001), 1000);
    expect(t.router()?.address).toBe(ROUTER);
    // Another station advertises itself (lifetime 5 s): the router in use stays (§6.3.6: keep a reachable one).
    t.routerAdvert(ra(rogue(1), 5), 2000);
    expect(t.router()?.address).toBe(ROUTER);
    // The real router withdraws (lifetime 0): the rogue, the only one left, is used; when it expires, none.
    t.routerAdvert(ra(ROUTER, 0), 3000);
    expect(t.router()?.address).toBe(rogue(1));
    t.routerAdvert(ra(ROUTER, 1800, 0x525400000001), 4000);
    expect(t.router()?.address).toBe(rogue(1));
    // The rogue's 5 s run out at 7 s: the real router (still in the list, no RA needed) takes over at once.
    expect(t.pollAt()).toBe(7000);
    t.poll(7000);
    expect(t.router()).toEqual({ address: ROUTER, mac: 0x525400000001 });
    expect(t.stats()).toMatchObject({ RouterExpired: 1 });
  });

  it('an RA flood from 1000 routers: the list is bounded, the router in use kept, the refused counted', () => {
    const { t, changes } = table();
    t.routerAdvert(ra(ROUTER, 1800), 1000);
    const before = changes.length;
    for (let i = 0; i < 1000; i++) t.routerAdvert(ra(rogue(i), 9000), 2000 + i);
    expect(t.router()?.address).toBe(ROUTER);
    expect(changes.length).toBe(before);
    expect(t.routers().length).toBe(16);
    expect(t.stats().RoutersFull).toBe(1000 - 15);
  });
});

describe('the neighbour table when a station makes us resolve thousands of addresses', () => {
  // Echo requests (or TCP SYNs) from spoofed on-link sources: each reply makes us resolve a
  // fake neighbour (INCOMPLETE, 3 s). Nothing answers; the table fills with INCOMPLETE entries.
  const host: NeighbourHost = { solicit: () => {}, transmit: () => {}, unreachable: () => {} };
  const PEER = 0x0a070003;
  const GATEWAY = 0x0a070001;

  it('a new neighbour is not locked out: it takes the oldest INCOMPLETE entry\'s place; an ARP request flood still cannot evict entries in use', () => {
    const cache = new NeighbourCache(host, {}, () => 0.5);
    // The gateway is in use (REACHABLE).
    expect(cache.output(GATEWAY, new Uint8Array(60), 0)).toBe('queued');
    cache.update(GATEWAY, 0x525400000001, 'reply', 0);
    // 1 fake neighbour per ms for 2.5 s (within one resolution's 3 s: all INCOMPLETE at once).
    let t = 0;
    for (let i = 0; i < 2500; i++, t++) {
      cache.output(0x0a080000 + i, new Uint8Array(60), t);
      cache.poll(t);
    }
    expect(cache.size).toBe(1024);
    // A real peer's first packet: resolution starts (was 'dropped', TableFulls), the reply sends it.
    expect(cache.output(PEER, new Uint8Array(60), t)).toBe('queued');
    cache.update(PEER, 0x525400000003, 'reply', t + 1);
    expect(cache.output(PEER, new Uint8Array(60), t + 2)).toBe(0x525400000003);
    expect(cache.output(GATEWAY, new Uint8Array(60), t + 2)).toBe(0x525400000001);
    // Requests for our address from 5 000 fake senders are learned only into room that is not in use.
    for (let i = 0; i < 5000; i++) cache.create(0x0a090000 + i, 0x0200000b0000 + i, t + 3);
    expect(cache.get(PEER)?.state).toBe('REACHABLE');
    expect(cache.get(GATEWAY)?.state).toBe('REACHABLE');
    expect(cache.size).toBe(1024);
    const s = cache.stats();
    expect(s.InUseEvictions).toBe(2500 + 1 - 1023);
    expect(s.TableFulls).toBe(5000);
  });
});

describe('SLAAC against a station that answers every DAD probe (RFC 4862 §5.4.5)', () => {
  it('a duplicate SLAAC address is not formed again from each later RA (one DAD, one conflict), until the prefix\'s valid lifetime ends', () => {
    const conflicts: string[] = [];
    const probes: string[] = [];
    const host: Addr6Host = { dadSolicit: (a) => probes.push(a), routerSolicit: () => {}, changed: () => {}, conflict: (a) => conflicts.push(a) };
    const t = new Ipv6AddressTable(host, IID, {}, () => 0.5);
    t.startSlaac(0);
    const prefix = a6('fd07 0000 0000 0000 0000 0000 0000 0000');
    const address = prefix.slice(0, 8) + IID;
    const advert = { src: ROUTER, routerLifetime: 1800, linkAddress: undefined, prefixes: [{ prefix, prefixLength: 64, autonomous: true, validLifetime: 600, preferredLifetime: 300 }] };
    let now = 1000;
    // 100 RAs, 1 s apart; after each, whatever DAD probe went out is answered by the station.
    for (let i = 0; i < 100; i++, now += 1000) {
      t.routerAdvert(advert, now);
      for (let k = 0; k < 4 && t.pollAt() <= now + 999; k++) t.poll(t.pollAt());
      if (probes.length > conflicts.length) t.advertisement(address, 0x0200000000ee, now + 999);
    }
    expect(conflicts).toEqual([address]);
    expect(probes).toEqual([address]);
    expect(t.has(address)).toBe(false);
    expect(t.stats().SlaacDuplicateSkipped).toBe(99);
    // The prefix's valid lifetime (600 s from the last RA) ends: the address may be tried again.
    t.poll(now + 600_000);
    t.routerAdvert(advert, now + 600_000);
    expect(t.has(address)).toBe(true);
  });
});
