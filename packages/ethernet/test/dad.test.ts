/**
 * Duplicate address detection (RFC 4862 §5.4) and SLAAC from Router Advertisements (RFC
 * 4862 §5.5, RFC 4861 §6) by an EthernetInterface on a switched segment, on virtual time:
 * what goes on the wire and when, what the IPv6 layer is told, and conflicts.
 */
import { describe, expect, it } from 'vitest';
import {
  EthernetInterface, ICMPV6_NA, ICMPV6_NS, IPV6_UNSPECIFIED, bytesToAddress, emitNdp, eui64, parseNdp, parseRa, solicitedNodeAddress,
  type EthernetInterfaceOptions,
} from '../src/index.js';
import { Segment, frame, hex, mac, toHex } from './helpers.js';

const US_MAC = mac('02:00:5e:10:00:02');
const PEER_MAC = mac('52:54:00:12:34:56');
const ROUTER_MAC = mac('52:54:00:00:00:01');
const a6 = (h: string): string => bytesToAddress(hex(h));
const US6 = a6('fd00 0000 0000 0000 0000 0000 0000 0002');
const ROUTER_LL = a6('fe80 0000 0000 0000 0000 0000 0000 0001');
/** fe80::EUI-64 of 02:00:5e:10:00:02: 00:00:5e:ff:fe:10:00:02 (the U/L bit flipped). */
const US_LL = a6('fe80 0000 0000 0000 0000 5eff fe10 0002');
const US_SLAAC = a6('fd07 0000 0000 0000 0000 5eff fe10 0002');

function sum16(b: Uint8Array, start: number, end: number, init = 0): number {
  let s = init;
  for (let i = start; i < end; i += 2) s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** An RA from fe80::1 (built here): router lifetime, and prefixes [prefix hex, length, flags, valid, preferred]. */
function ra(routerLifetime: number, prefixes: [string, number, number, number, number][], link: { mtu?: number; curHopLimit?: number; reachableMs?: number; retransMs?: number } = {}): Uint8Array {
  const icmpLen = 16 + 8 + 32 * prefixes.length + (link.mtu !== undefined ? 8 : 0);
  const p = new Uint8Array(40 + icmpLen);
  const dv = new DataView(p.buffer);
  p[0] = 0x60; dv.setUint16(4, icmpLen); p[6] = 58; p[7] = 255;
  p.set(hex('fe800000000000000000000000000001'), 8);
  p.set(hex('ff020000000000000000000000000001'), 24);
  p[40] = 134; p[44] = link.curHopLimit ?? 64; dv.setUint16(46, routerLifetime);
  dv.setUint32(48, link.reachableMs ?? 0); dv.setUint32(52, link.retransMs ?? 0);
  p[56] = 1; p[57] = 1; p.set(hex('525400000001'), 58);
  prefixes.forEach(([prefix, len, flags, valid, preferred], i) => {
    const o = 64 + 32 * i;
    p[o] = 3; p[o + 1] = 4; p[o + 2] = len; p[o + 3] = flags;
    dv.setUint32(o + 4, valid); dv.setUint32(o + 8, preferred);
    p.set(hex(prefix), o + 16);
  });
  if (link.mtu !== undefined) {
    const o = 64 + 32 * prefixes.length;
    p[o] = 5; p[o + 1] = 1; dv.setUint32(o + 4, link.mtu);
  }
  let s = sum16(p, 8, 40);
  s = sum16(p, 40, p.length, s + icmpLen + 58);
  dv.setUint16(42, ~s & 0xffff);
  return p;
}

function ndp(type: 135 | 136, src: string, dst: string, target: string, from: number, solicited = false): Uint8Array {
  const b = new Uint8Array(72);
  const n = emitNdp({ type, src, dst, target, router: false, solicited, override: true, linkAddress: from }, from, b);
  return b.subarray(0, n);
}

function setup(over: Partial<EthernetInterfaceOptions> = {}) {
  const seg = new Segment();
  const peer = seg.capture();
  const changes: { t: number; addresses: string[]; gateway: string | undefined }[] = [];
  const conflicts: { address: string; mac: number | undefined; phase: string }[] = [];
  const eth = new EthernetInterface({
    link: seg.sw.port(), mac: US_MAC, clock: seg.clock, random: () => 0.5,
    onIpv6Change: (c, t) => changes.push({ t, ...c }),
    onConflict6: (c) => conflicts.push(c),
    ...over,
  });
  eth.setReceiver({ packet: () => {} });
  const ns = () => peer.take().filter((f) => f[14 + 6] === 58 && f[14 + 40] === ICMPV6_NS).map((f) => parseNdp(f.subarray(14)));
  const send = (p: Uint8Array, dst: number, src = PEER_MAC) => peer.port.send(frame(dst, src, 0x86dd, p));
  /** 33:33 + the low 32 bits of the solicited-node group of `a` (RFC 2464 §7). */
  const snMac = (a: string) => {
    const g = solicitedNodeAddress(a);
    return 0x3333_0000_0000 + ((g.charCodeAt(12) << 24) >>> 0) + (g.charCodeAt(13) << 16) + (g.charCodeAt(14) << 8) + g.charCodeAt(15);
  };
  return { seg, peer, eth, changes, conflicts, ns, send, snMac };
}

describe('DAD (RFC 4862 §5.4)', () => {
  it("dad 'full': tentative (not answered, not usable) while one NS from :: goes out after random × 1 s; preferred 1 s later", () => {
    const { seg, eth, changes, ns, send, snMac } = setup();
    eth.configureIpv6({ addresses: [US6], prefixLength: 64, dad: 'full' });
    expect(eth.ipv6Addresses()).toMatchObject([{ address: US6, state: 'tentative', origin: 'static' }]);
    expect(eth.ipv6.addresses).toEqual([]);
    // An NS for it from a peer doing address resolution is not answered while tentative.
    send(ndp(ICMPV6_NS, a6('fd00 0000 0000 0000 0000 0000 0000 0009'), solicitedNodeAddress(US6), US6, PEER_MAC), snMac(US6));
    seg.run(0);
    expect(eth.counters().ethernet).toMatchObject({ NdpInSolicits: 1, NdpOutAdverts: 0 });
    seg.run(499);
    expect(ns()).toEqual([]);
    seg.run(1);
    // The probe: from ::, to the solicited-node group, target US6, no SLLA option (64 bytes).
    expect(ns()).toEqual([{ type: ICMPV6_NS, src: IPV6_UNSPECIFIED, dst: solicitedNodeAddress(US6), target: US6, router: false, solicited: false, override: false, linkAddress: undefined }]);
    expect(changes).toEqual([]);
    seg.run(999);
    expect(eth.ipv6Addresses()[0]!.state).toBe('tentative');
    seg.run(1);
    expect(eth.ipv6Addresses()[0]!.state).toBe('preferred');
    expect(changes).toEqual([{ t: 1500, addresses: [US6], gateway: undefined }]);
    expect(eth.counters().addr6).toMatchObject({ DadStarted: 1, DadProbes: 1, DadSucceeded: 1, DadDuplicates: 0 });
    expect(eth.counters().ethernet.NdpOutAdverts).toBe(0);
  });

  it('an NA for the tentative address: a duplicate, given up and reported (phase probe); no NS answered for it', () => {
    const { seg, eth, conflicts, send } = setup();
    eth.configureIpv6({ addresses: [US6], prefixLength: 64, dad: 'full' });
    seg.run(600);
    send(ndp(ICMPV6_NA, US6, a6('ff02 0000 0000 0000 0000 0000 0000 0001'), US6, PEER_MAC), 0x3333_0000_0001);
    seg.run(0);
    expect(conflicts).toEqual([{ address: US6, mac: PEER_MAC, phase: 'probe' }]);
    expect(eth.ipv6Addresses()).toEqual([]);
    seg.run(5000);
    expect(eth.ipv6.addresses).toEqual([]);
  });

  it("another node's DAD NS (from ::) for our tentative address is a duplicate; our own looped back is not", () => {
    const { seg, eth, conflicts, send, snMac } = setup();
    eth.configureIpv6({ addresses: [US6], prefixLength: 64, dad: 'full' });
    seg.run(600);
    // Our own probe reflected by the segment (our MAC as source): ignored.
    send(ndp(ICMPV6_NS, IPV6_UNSPECIFIED, solicitedNodeAddress(US6), US6, US_MAC), snMac(US6), US_MAC);
    seg.run(0);
    expect(conflicts).toEqual([]);
    expect(eth.counters().ethernet.NdpInFromSelf).toBe(1);
    send(ndp(ICMPV6_NS, IPV6_UNSPECIFIED, solicitedNodeAddress(US6), US6, PEER_MAC), snMac(US6));
    seg.run(0);
    expect(conflicts).toEqual([{ address: US6, mac: PEER_MAC, phase: 'probe' }]);
    expect(eth.ipv6Addresses()).toEqual([]);
  });

  it('optimistic (the default): usable at once; a bound address claimed by another station is reported (bound) and kept, and defended against DAD', () => {
    const { seg, eth, conflicts, changes, send, snMac, peer } = setup();
    eth.configureIpv6({ addresses: [US6], prefixLength: 64 });
    expect(eth.ipv6.addresses).toEqual([US6]);
    expect(changes.map((c) => c.addresses)).toEqual([[US6]]);
    seg.run(2000);
    expect(eth.ipv6Addresses()[0]!.state).toBe('preferred');
    peer.take();
    send(ndp(ICMPV6_NA, US6, a6('ff02 0000 0000 0000 0000 0000 0000 0001'), US6, PEER_MAC), 0x3333_0000_0001);
    seg.run(0);
    expect(conflicts).toEqual([{ address: US6, mac: PEER_MAC, phase: 'bound' }]);
    expect(eth.ipv6.addresses).toEqual([US6]);
    // Someone probing for it now gets our NA (to all-nodes).
    send(ndp(ICMPV6_NS, IPV6_UNSPECIFIED, solicitedNodeAddress(US6), US6, PEER_MAC), snMac(US6));
    seg.run(0);
    const na = peer.take().map((f) => parseNdp(f.subarray(14)));
    expect(na).toMatchObject([{ type: ICMPV6_NA, target: US6, dst: a6('ff02 0000 0000 0000 0000 0000 0000 0001') }]);
  });
});

describe('SLAAC (RFC 4862 §5.5) and router discovery (RFC 4861 §6.3)', () => {
  it('link-local from the EUI-64, RS, an RA\'s /64 gives an address after DAD, the RA\'s source is the router; lifetimes: deprecated, then gone', () => {
    const { seg, peer, eth, changes, send } = setup();
    expect(toHex(Buffer.from(eui64(US_MAC), 'latin1'))).toBe('00005efffe100002');
    eth.configureIpv6({ addresses: [], prefixLength: 64, slaac: true });
    expect(eth.ipv6Addresses()).toMatchObject([{ address: US_LL, state: 'tentative', origin: 'link-local' }]);
    seg.run(500);
    // The RS (random × 1 s) and the link-local's DAD probe, both at 500 ms: the RS from :: without SLLA (nothing usable yet).
    const first = peer.take().filter((f) => f[14 + 6] === 58);
    const rs = first.filter((f) => f[14 + 40] === 133);
    expect(rs.map((f) => [toHex(f.subarray(0, 6)), toHex(f.subarray(22, 38)), toHex(f.subarray(38, 54)), f.length - 14])).toEqual([
      ['333300000002', '0'.repeat(32), 'ff020000000000000000000000000002', 48],
    ]);
    seg.run(1000);
    expect(eth.ipv6.addresses).toEqual([US_LL]);
    // The second RS, 4 s after the first, from the link-local address with SLLA.
    seg.run(3000);
    const rs2 = peer.take().filter((f) => f[14 + 6] === 58 && f[14 + 40] === 133);
    expect(rs2.map((f) => [toHex(f.subarray(22, 38)), f.length - 14, toHex(f.subarray(14 + 50, 14 + 56))])).toEqual([[toHex(Buffer.from(US_LL, 'latin1')), 56, '02005e100002']]);
    // The RA: router lifetime 1800 s; fd07::/64 with A (and L), valid 30 s, preferred 20 s; a /48 and an A-less prefix are not used.
    const advert = ra(1800, [['fd070000000000000000000000000000', 64, 0xc0, 30, 20], ['fd080000000000000000000000000000', 48, 0xc0, 30, 20], ['fd090000000000000000000000000000', 64, 0x80, 30, 20]]);
    expect(parseRa(advert)).toMatchObject({ src: ROUTER_LL, routerLifetime: 1800, linkAddress: ROUTER_MAC });
    const t0 = seg.clock.now();
    send(advert, 0x3333_0000_0001, ROUTER_MAC);
    seg.run(0);
    expect(eth.ipv6Addresses().map((e) => [e.address, e.state, e.origin])).toEqual([[US_LL, 'preferred', 'link-local'], [US_SLAAC, 'tentative', 'slaac']]);
    expect(eth.ipv6.gateway).toBe(ROUTER_LL);
    // RFC 4861 §6.3.4: the router's SLLA is in the cache (STALE), no NS needed to reach it.
    expect(eth.neighbours6.get(ROUTER_LL)).toMatchObject({ mac: ROUTER_MAC, state: 'STALE' });
    seg.run(1500);
    expect(eth.ipv6.addresses).toEqual([US_LL, US_SLAAC]);
    expect(changes.at(-1)).toEqual({ t: t0 + 1500, addresses: [US_LL, US_SLAAC], gateway: ROUTER_LL });
    // No more RS after the RA.
    seg.run(10_000);
    expect(peer.take().filter((f) => f[14 + 6] === 58 && f[14 + 40] === 133)).toEqual([]);
    // Preferred lifetime 20 s: deprecated (listed after the preferred ones); valid 30 s: gone.
    seg.run(t0 + 20_000 - seg.clock.now());
    expect(eth.ipv6Addresses()[1]!.state).toBe('deprecated');
    seg.run(10_000);
    expect(eth.ipv6.addresses).toEqual([US_LL]);
    expect(eth.counters().addr6).toMatchObject({ SlaacAdded: 1, SlaacIgnored: 1, Deprecated: 1, Expired: 1, RouterAdverts: 1, RouterSolicits: 2 });
    // A router lifetime of 0 withdraws the router.
    send(ra(0, []), 0x3333_0000_0001, ROUTER_MAC);
    seg.run(0);
    expect(eth.ipv6.gateway).toBeUndefined();
  });

  it('the two-hour rule (§5.5.3 e): a short valid lifetime cannot cut a long remaining one below 2 h', () => {
    const { seg, eth, send } = setup();
    eth.configureIpv6({ addresses: [], prefixLength: 64, slaac: true });
    seg.run(3000);
    send(ra(1800, [['fd070000000000000000000000000000', 64, 0xc0, 86400, 86400]]), 0x3333_0000_0001, ROUTER_MAC);
    seg.run(2000);
    const t = seg.clock.now();
    send(ra(1800, [['fd070000000000000000000000000000', 64, 0xc0, 60, 60]]), 0x3333_0000_0001, ROUTER_MAC);
    seg.run(0);
    const e = eth.ipv6Addresses().find((x) => x.address === US_SLAAC)!;
    expect(e.validUntil).toBe(t + 2 * 3600 * 1000);
    expect(e.preferredUntil).toBe(t + 60_000);
  });

  it('link parameters (RFC 4861 §6.3.4): the MTU option within 1280..the IP MTU and a non-zero Cur Hop Limit go to onRouterParams', () => {
    const params: { t: number; mtu: number | undefined; hopLimit: number | undefined }[] = [];
    const { seg, eth, send } = setup({ onRouterParams: (p, t) => params.push({ t, ...p }) });
    eth.configureIpv6({ addresses: [], prefixLength: 64, slaac: true });
    seg.run(3000);
    const t0 = seg.clock.now();
    send(ra(1800, [], { mtu: 1400, curHopLimit: 37 }), 0x3333_0000_0001, ROUTER_MAC);
    expect(parseRa(ra(1800, [], { mtu: 1400, curHopLimit: 37 }))).toMatchObject({ mtu: 1400, curHopLimit: 37 });
    // Below 1280 and above the interface's 1500: ignored and counted; the hop limit still taken.
    send(ra(1800, [], { mtu: 1000, curHopLimit: 20 }), 0x3333_0000_0001, ROUTER_MAC);
    send(ra(1800, [], { mtu: 9000, curHopLimit: 0 }), 0x3333_0000_0001, ROUTER_MAC);
    // Neither: a Cur Hop Limit of 0 is "unspecified", no MTU option.
    send(ra(1800, [], { curHopLimit: 0 }), 0x3333_0000_0001, ROUTER_MAC);
    send(ra(1800, [], { mtu: 1500 }), 0x3333_0000_0001, ROUTER_MAC);
    seg.run(0);
    expect(params).toEqual([
      { t: t0, mtu: 1400, hopLimit: 37 }, { t: t0, mtu: undefined, hopLimit: 20 }, { t: t0, mtu: 1500, hopLimit: 64 },
    ]);
    expect(eth.counters().ethernet).toMatchObject({ NdpInRouterAdverts: 5, RaMtuIgnored: 2 });
  });

  it('NUD timers (RFC 4861 §6.3.4): the RA\'s Reachable Time and Retrans Timer drive IPv6 neighbour discovery; 0 leaves them, above an hour is ignored', () => {
    const { seg, peer, eth, send } = setup();
    eth.configureIpv6({ addresses: [], prefixLength: 64, slaac: true });
    seg.run(3000);
    expect(eth.neighbours6.params).toMatchObject({ baseReachableMs: 30_000, retransMs: 1000 });
    send(ra(1800, [], { reachableMs: 10_000, retransMs: 250 }), 0x3333_0000_0001, ROUTER_MAC);
    seg.run(0);
    expect(eth.neighbours6.params).toMatchObject({ baseReachableMs: 10_000, retransMs: 250 });
    // A neighbour that never answers: three NS, 250 ms apart (not 1 s), then unreachable.
    const pkt = new Uint8Array(48);
    pkt[0] = 0x60; pkt[5] = 8; pkt[6] = 17; pkt[7] = 64;
    pkt.set(Buffer.from(US_LL, 'latin1'), 8);
    pkt.set(Buffer.from(ROUTER_LL, 'latin1').map((b, i) => (i === 15 ? 0x99 : b)), 24);
    peer.take();
    const t0 = seg.clock.now();
    const times: number[] = [];
    eth.send(pkt);
    for (let i = 0; i < 41; i++) {
      seg.run(i === 0 ? 0 : 25);
      for (const f of peer.take()) if (f[14 + 6] === 58 && f[14 + 40] === ICMPV6_NS) times.push(seg.clock.now() - t0);
    }
    expect(times).toEqual([0, 250, 500]);
    // 0 leaves a value as it is; more than MAX_REACHABLE_TIME (an hour) is ignored and counted.
    send(ra(1800, [], { reachableMs: 0, retransMs: 3_600_001 }), 0x3333_0000_0001, ROUTER_MAC);
    seg.run(0);
    expect(eth.neighbours6.params).toMatchObject({ baseReachableMs: 10_000, retransMs: 250 });
    expect(eth.counters().ethernet.RaTimersIgnored).toBe(1);
    // Below 10 ms is taken as 10 ms (Linux's floor).
    send(ra(1800, [], { retransMs: 1 }), 0x3333_0000_0001, ROUTER_MAC);
    seg.run(0);
    expect(eth.neighbours6.params.retransMs).toBe(10);
    // The IPv4 (ARP) cache keeps its own timers.
    expect(eth.neighbours.params).toMatchObject({ baseReachableMs: 30_000, retransMs: 1000 });
  });

  it('RAs are consumed but not acted on without slaac; a bad one is counted', () => {
    const params: unknown[] = [];
    const { seg, eth, send } = setup({ onRouterParams: (p) => params.push(p) });
    eth.configureIpv6({ addresses: [US6], prefixLength: 64 });
    seg.run(3000);
    send(ra(1800, [['fd070000000000000000000000000000', 64, 0xc0, 30, 20]]), 0x3333_0000_0001, ROUTER_MAC);
    const bad = ra(1800, []);
    bad[60] = bad[60]! ^ 1;
    send(bad, 0x3333_0000_0001, ROUTER_MAC);
    seg.run(2000);
    expect(eth.ipv6.addresses).toEqual([US6]);
    expect(eth.ipv6.gateway).toBeUndefined();
    expect(eth.counters().ethernet).toMatchObject({ NdpInRouterAdverts: 1, NdpInInvalid: 1, InIpv6: 0 });
    send(ra(1800, [], { mtu: 1400, curHopLimit: 37, reachableMs: 5000, retransMs: 100 }), 0x3333_0000_0001, ROUTER_MAC);
    seg.run(0);
    expect(params).toEqual([]);
    expect(eth.neighbours6.params).toMatchObject({ baseReachableMs: 30_000, retransMs: 1000 });
  });
});

describe('a lifetime beyond a Node timer (a rogue RA, session 23 HT)', () => {
  it('an RA prefix with lifetimes of 0xfffffffe s (136 years, not infinite): the interface never asks for a timer past 2^31 - 1 ms', () => {
    // Node's setTimeout takes a delay above 2^31 - 1 ms as 1 ms (TimeoutOverflowWarning):
    // the interface would wake every millisecond, with a warning each time, for 136 years.
    const seg = new Segment();
    const delays: number[] = [];
    const clock = {
      now: () => seg.clock.now(),
      setTimer: (fn: () => void, ms: number) => { delays.push(ms); return seg.clock.setTimer(fn, ms); },
      cancel: (h: unknown) => seg.clock.cancel(h),
    };
    const peer = seg.capture();
    const eth = new EthernetInterface({ link: seg.sw.port(), mac: US_MAC, clock, random: () => 0.5 });
    eth.setReceiver({ packet: () => {} });
    eth.configureIpv6({ addresses: [], prefixLength: 64, slaac: true });
    seg.run(3000);
    peer.port.send(frame(0x3333_0000_0001, ROUTER_MAC, 0x86dd, ra(0, [['fd070000000000000000000000000000', 64, 0xc0, 0xfffffffe, 0xfffffffe]])));
    seg.run(20_000);
    expect(eth.ipv6.addresses).toEqual([US_LL, US_SLAAC]);
    expect(Math.max(...delays)).toBeLessThanOrEqual(2 ** 31 - 1);
    // The clamped timer fires with nothing due and is armed again: no busy loop.
    const armed = delays.length;
    seg.run(3 * (2 ** 31 - 1));
    expect(delays.length - armed).toBeLessThanOrEqual(4);
    expect(eth.ipv6.addresses).toEqual([US_LL, US_SLAAC]);
  });
});
