/**
 * EthernetInterface on a switched segment, on virtual time: ARP answered and asked,
 * IP packets framed to the right next hop, acceptance rules, RFC 5227, and arbitrary
 * frames counted and never thrown.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ARP_REPLY, ARP_REQUEST, EthernetInterface, MAC_BROADCAST, hostUnreachableError, parseArp, parseEthernet, type AddressConflict,
  type EthernetInterfaceOptions, type EthernetStats,
} from '../src/index.js';
import { Segment, arpFrame, frame, hex, ip, ipv4, mac, toHex } from './helpers.js';

const US_MAC = mac('02:00:5e:10:00:02');
const PEER_MAC = mac('52:54:00:12:34:56');
const OTHER_MAC = mac('52:54:00:aa:bb:cc');
const US = ip('10.7.0.2');
const PEER = ip('10.7.0.1');
const GW = ip('10.7.0.254');

function setup(over: Partial<EthernetInterfaceOptions> = {}) {
  const seg = new Segment();
  const peer = seg.capture();
  const port = seg.sw.port();
  const received: Uint8Array[] = [];
  const unreachable: { packet: Uint8Array; hop: number | string; t: number }[] = [];
  const conflicts: AddressConflict[] = [];
  const eth = new EthernetInterface({
    link: port, mac: US_MAC, clock: seg.clock, random: () => 0,
    ipv4: { address: US, prefixLength: 24, gateway: GW },
    onUnreachable: (packet, hop, t) => unreachable.push({ packet, hop, t }),
    onConflict: (c) => conflicts.push(c),
    ...over,
  });
  eth.setReceiver({ packet: (p) => { received.push(p.slice()); } });
  return { seg, peer, eth, received, unreachable, conflicts };
}

const arps = (frames: Uint8Array[]) => frames.map((f) => ({ eth: parseEthernet(f), arp: parseArp(f.subarray(14)) }));

describe('ARP answered (RFC 826)', () => {
  it('adding the address announces it: 2 gratuitous ARPs 2 s apart (golden bytes)', () => {
    const { seg, peer } = setup();
    seg.run(0);
    const announce = hex(`ff ff ff ff ff ff 02 00 5e 10 00 02 08 06 00 01 08 00 06 04 00 01
      02 00 5e 10 00 02 0a 07 00 02 00 00 00 00 00 00 0a 07 00 02`);
    expect(peer.take().map(toHex)).toEqual([toHex(announce)]);
    seg.run(1999);
    expect(peer.take()).toEqual([]);
    seg.run(1);
    expect(peer.take().map(toHex)).toEqual([toHex(announce)]);
    seg.run(60_000);
    expect(peer.take()).toEqual([]);
  });

  it('a request for our address gets a unicast reply (golden bytes) and the requester a STALE entry', () => {
    const { seg, peer, eth } = setup();
    seg.run(5000);
    peer.take();
    peer.port.send(arpFrame(MAC_BROADCAST, PEER_MAC, { operation: ARP_REQUEST, senderMac: PEER_MAC, senderIp: PEER, targetMac: 0, targetIp: US }));
    seg.run(0);
    const reply = hex(`52 54 00 12 34 56 02 00 5e 10 00 02 08 06 00 01 08 00 06 04 00 02
      02 00 5e 10 00 02 0a 07 00 02 52 54 00 12 34 56 0a 07 00 01`);
    expect(peer.take().map(toHex)).toEqual([toHex(reply)]);
    expect(eth.neighbours.get(PEER)).toMatchObject({ mac: PEER_MAC, state: 'STALE' });
    // Not for us: no answer, no entry (RFC 826: only the target adds the sender).
    peer.port.send(arpFrame(MAC_BROADCAST, OTHER_MAC, { operation: ARP_REQUEST, senderMac: OTHER_MAC, senderIp: ip('10.7.0.9'), targetMac: 0, targetIp: ip('10.7.0.8') }));
    seg.run(0);
    expect(peer.take()).toEqual([]);
    expect(eth.neighbours.has(ip('10.7.0.9'))).toBe(false);
    expect(eth.counters().ethernet).toMatchObject({ ArpInRequests: 2, ArpOutReplies: 1, ArpOutAnnouncements: 2 });
  });

  it('an RFC 5227 probe for our address is answered (target IP 0.0.0.0) and creates no entry', () => {
    const { seg, peer, eth } = setup();
    seg.run(5000);
    peer.take();
    peer.port.send(arpFrame(MAC_BROADCAST, OTHER_MAC, { operation: ARP_REQUEST, senderMac: OTHER_MAC, senderIp: 0, targetMac: 0, targetIp: US }));
    seg.run(0);
    expect(arps(peer.take())).toEqual([{
      eth: { dst: OTHER_MAC, src: US_MAC, ethertype: 0x0806 },
      arp: { operation: ARP_REPLY, senderMac: US_MAC, senderIp: US, targetMac: OTHER_MAC, targetIp: 0 },
    }]);
    expect(eth.neighbours.size).toBe(0);
  });
});

describe('IP out: next hop, resolution, framing', () => {
  it('on-link: ARP first, the packet waits, the reply releases it framed to the peer', () => {
    const { seg, peer, eth } = setup();
    seg.run(5000);
    peer.take();
    const p = ipv4(US, PEER, 60);
    expect(eth.send(p)).toBe(true);
    seg.run(0);
    expect(arps(peer.take())).toEqual([{
      eth: { dst: MAC_BROADCAST, src: US_MAC, ethertype: 0x0806 },
      arp: { operation: ARP_REQUEST, senderMac: US_MAC, senderIp: US, targetMac: 0, targetIp: PEER },
    }]);
    peer.port.send(arpFrame(US_MAC, PEER_MAC, { operation: ARP_REPLY, senderMac: PEER_MAC, senderIp: PEER, targetMac: US_MAC, targetIp: US }));
    seg.run(0);
    expect(peer.take().map(toHex)).toEqual([toHex(frame(PEER_MAC, US_MAC, 0x0800, p))]);
    expect(eth.neighbours.get(PEER)?.state).toBe('REACHABLE');
    // Resolved: the next one leaves at once.
    expect(eth.send(p)).toBe(true);
    seg.run(0);
    expect(peer.take().map(toHex)).toEqual([toHex(frame(PEER_MAC, US_MAC, 0x0800, p))]);
    expect(eth.counters().ethernet).toMatchObject({ OutPackets: 2, OutQueued: 1, OutFlushed: 1, OutSent: 1, ArpOutRequests: 1 });
  });

  it('off-link goes to the gateway (ARP for the gateway); broadcast and multicast need no ARP', () => {
    const { seg, peer, eth } = setup();
    seg.run(5000);
    peer.take();
    eth.send(ipv4(US, ip('93.184.216.34')));
    eth.send(ipv4(US, ip('255.255.255.255')));
    eth.send(ipv4(US, ip('10.7.0.255')));
    eth.send(ipv4(US, ip('239.1.2.3')));
    seg.run(0);
    const got = peer.take().map((f) => parseEthernet(f));
    expect(got).toEqual([
      { dst: MAC_BROADCAST, src: US_MAC, ethertype: 0x0806 },
      { dst: MAC_BROADCAST, src: US_MAC, ethertype: 0x0800 },
      { dst: MAC_BROADCAST, src: US_MAC, ethertype: 0x0800 },
      { dst: mac('01:00:5e:01:02:03'), src: US_MAC, ethertype: 0x0800 },
    ]);
    expect(eth.neighbours.get(GW)?.state).toBe('INCOMPLETE');
    expect(eth.neighbours.has(ip('93.184.216.34'))).toBe(false);
  });

  it('no answer: 3 requests 1 s apart, then the waiting packets go to onUnreachable (EHOSTUNREACH for their owner)', () => {
    const { seg, peer, eth, unreachable } = setup();
    seg.run(5000);
    peer.take();
    const p1 = ipv4(US, PEER, 40, 6);
    const p2 = ipv4(US, PEER, 44, 17);
    eth.send(p1);
    seg.run(500);
    eth.send(p2);
    seg.run(2499);
    expect(peer.take().length).toBe(3);
    expect(unreachable).toEqual([]);
    seg.run(1);
    expect(unreachable.map((u) => [toHex(u.packet), u.hop, u.t])).toEqual([[toHex(p1), PEER, 8000], [toHex(p2), PEER, 8000]]);
    expect(hostUnreachableError(unreachable[0]!.packet, US)).toEqual({
      icmpType: 3, icmpCode: 1, reporter: US, src: US, dst: PEER, protocol: 6, quoted: p1.slice(20), nextHopMtu: 0, originalLength: 40,
    });
    expect(eth.counters().neighbour).toMatchObject({ ResFailed: 1, UnreachableReports: 2 });
  });

  it('drops and counts: IPv6 (TODO: NDP), malformed, too big, to ourselves, no IPv4 configured', () => {
    const { eth } = setup();
    const v6 = new Uint8Array(40); v6[0] = 0x60;
    expect(eth.send(v6)).toBe(false);
    expect(eth.send(new Uint8Array(10).fill(0x45))).toBe(false);
    expect(eth.send(ipv4(US, PEER, 1501))).toBe(false);
    expect(eth.send(ipv4(US, US))).toBe(false);
    const seg = new Segment();
    const bare = new EthernetInterface({ link: seg.sw.port(), mac: US_MAC, clock: seg.clock });
    expect(bare.send(ipv4(US, PEER))).toBe(false);
    expect(eth.counters().ethernet).toMatchObject({ OutPackets: 4, OutDropIpv6: 1, OutDropMalformed: 1, OutDropTooBig: 1, OutDropLocal: 1, OutSent: 0 });
    expect(bare.counters().ethernet.OutDropNoRoute).toBe(1);
    expect(bare.mtu).toBe(1500);
  });
});

describe('frames in: what is accepted', () => {
  it('unicast to us, broadcast and joined groups reach the IP receiver; other hosts, unjoined groups, IPv6, VLAN, LLC do not', () => {
    const { seg, peer, eth, received } = setup();
    seg.run(5000);
    const p = ipv4(PEER, US);
    const g = mac('01:00:5e:01:02:03');
    peer.port.send(frame(US_MAC, PEER_MAC, 0x0800, p));
    peer.port.send(frame(MAC_BROADCAST, PEER_MAC, 0x0800, p));
    peer.port.send(frame(g, PEER_MAC, 0x0800, p)); // not joined yet
    seg.run(0);
    eth.joinIpv4Group('239.1.2.3');
    peer.port.send(frame(g, PEER_MAC, 0x0800, p));
    peer.port.send(frame(mac('01:00:5e:00:00:01'), PEER_MAC, 0x0800, p)); // all-hosts: always
    seg.run(0);
    eth.input(frame(OTHER_MAC, PEER_MAC, 0x0800, p), 0); // as a flooding bridge would hand it over
    eth.input(frame(US_MAC, PEER_MAC, 0x86dd, new Uint8Array(40)), 0);
    eth.input(hex('02005e100002 525400123456 8100 0064 0800 4500'), 0);
    eth.input(hex('02005e100002 525400123456 0026 aaaa03 000000'), 0);
    eth.input(frame(US_MAC, PEER_MAC, 0x88cc, new Uint8Array(30)), 0); // LLDP
    eth.input(new Uint8Array(13), 0);
    eth.leaveIpv4Group('239.1.2.3');
    eth.input(frame(g, PEER_MAC, 0x0800, p), 0);
    expect(received.map(toHex)).toEqual([p, p, p, p].map(toHex));
    expect(eth.counters().ethernet).toMatchObject({
      InFrames: 12, InIpv4: 4, InUnicast: 3, InBroadcast: 1, InMulticast: 2, InDropMulticastNotJoined: 2, InDropOtherHost: 1,
      InDropIpv6: 1, InDropVlan: 1, InDropLengthType: 1, InDropUnknownType: 1, InDropTruncated: 1,
    });
  });

  it('bad ARP is counted by reason: truncated, unsupported, bad op, bad sender, our own', () => {
    const { eth } = setup();
    const good = arpFrame(MAC_BROADCAST, PEER_MAC, { operation: ARP_REQUEST, senderMac: PEER_MAC, senderIp: PEER, targetMac: 0, targetIp: US });
    eth.input(good.subarray(0, 41), 0);
    const hw = good.slice(); hw[15] = 6; eth.input(hw, 0);
    const op = good.slice(); op[21] = 9; eth.input(op, 0);
    const mc = arpFrame(MAC_BROADCAST, PEER_MAC, { operation: ARP_REQUEST, senderMac: mac('01:00:5e:00:00:01'), senderIp: PEER, targetMac: 0, targetIp: US });
    eth.input(mc, 0);
    const lo = arpFrame(MAC_BROADCAST, PEER_MAC, { operation: ARP_REQUEST, senderMac: PEER_MAC, senderIp: ip('127.0.0.1'), targetMac: 0, targetIp: US });
    eth.input(lo, 0);
    const self = arpFrame(MAC_BROADCAST, PEER_MAC, { operation: ARP_REQUEST, senderMac: US_MAC, senderIp: US, targetMac: 0, targetIp: US });
    eth.input(self, 0);
    expect(eth.counters().ethernet).toMatchObject({
      InArp: 6, ArpInTruncated: 1, ArpInUnsupported: 1, ArpInBadOp: 1, ArpInBadSender: 2, ArpInFromSelf: 1, ArpInRequests: 0, ArpOutReplies: 0,
    });
  });

  it('a gratuitous ARP updates a neighbour that changed its MAC (STALE, new address)', () => {
    const { seg, peer, eth } = setup();
    seg.run(5000);
    eth.send(ipv4(US, PEER));
    peer.port.send(arpFrame(US_MAC, PEER_MAC, { operation: ARP_REPLY, senderMac: PEER_MAC, senderIp: PEER, targetMac: US_MAC, targetIp: US }));
    seg.run(100);
    expect(eth.neighbours.get(PEER)).toMatchObject({ mac: PEER_MAC, state: 'REACHABLE' });
    // The peer moved to a new NIC and announces it (within locktime: overrides because gratuitous).
    peer.port.send(arpFrame(MAC_BROADCAST, OTHER_MAC, { operation: ARP_REQUEST, senderMac: OTHER_MAC, senderIp: PEER, targetMac: 0, targetIp: PEER }));
    seg.run(0);
    expect(eth.neighbours.get(PEER)).toMatchObject({ mac: OTHER_MAC, state: 'STALE' });
    peer.take();
    eth.send(ipv4(US, PEER));
    seg.run(0);
    expect(peer.take().map((f) => parseEthernet(f))).toEqual([{ dst: OTHER_MAC, src: US_MAC, ethertype: 0x0800 }]);
  });
});

describe('address conflict detection (RFC 5227)', () => {
  it('probe: 3 probes 1..2 s apart, ANNOUNCE_WAIT, then bound and 2 announcements; not answered for while tentative', () => {
    const { seg, peer, eth } = setup({ ipv4: { address: US, prefixLength: 24, probe: true } });
    seg.run(0);
    expect(eth.addressState(US)).toBe('probing');
    peer.port.send(arpFrame(MAC_BROADCAST, PEER_MAC, { operation: ARP_REQUEST, senderMac: PEER_MAC, senderIp: PEER, targetMac: 0, targetIp: US }));
    seg.run(3999);
    const probes = arps(peer.take());
    expect(probes).toEqual([0, 1, 2].map(() => ({
      eth: { dst: MAC_BROADCAST, src: US_MAC, ethertype: 0x0806 },
      arp: { operation: ARP_REQUEST, senderMac: US_MAC, senderIp: 0, targetMac: 0, targetIp: US },
    })));
    expect(eth.counters().ethernet.ArpOutReplies).toBe(0);
    seg.run(1);
    expect(eth.addressState(US)).toBe('bound');
    seg.run(2000);
    expect(arps(peer.take()).map((a) => a.arp)).toEqual([0, 1].map(() => ({ operation: ARP_REQUEST, senderMac: US_MAC, senderIp: US, targetMac: 0, targetIp: US })));
    expect(eth.counters().acd).toMatchObject({ OutProbes: 3, OutAnnouncements: 2 });
  });

  it('conflict while probing: another host answers for the address: given up and reported', () => {
    const { seg, peer, eth, conflicts } = setup({ ipv4: { address: US, prefixLength: 24, probe: true } });
    seg.run(1500);
    peer.port.send(arpFrame(US_MAC, OTHER_MAC, { operation: ARP_REPLY, senderMac: OTHER_MAC, senderIp: US, targetMac: US_MAC, targetIp: 0 }));
    seg.run(10_000);
    expect(conflicts).toEqual([{ address: US, mac: OTHER_MAC, phase: 'probe', defended: false }]);
    expect(eth.addressState(US)).toBeUndefined();
    expect(arps(peer.take()).filter((a) => typeof a.arp !== 'string' && a.arp.senderIp === US)).toEqual([]); // never announced
    expect(eth.send(ipv4(US, PEER))).toBe(false);
  });

  it('conflict while probing: another host probes for the same address', () => {
    const { seg, peer, conflicts } = setup({ ipv4: { address: US, prefixLength: 24, probe: true } });
    seg.run(500);
    peer.port.send(arpFrame(MAC_BROADCAST, OTHER_MAC, { operation: ARP_REQUEST, senderMac: OTHER_MAC, senderIp: 0, targetMac: 0, targetIp: US }));
    seg.run(0);
    expect(conflicts).toEqual([{ address: US, mac: OTHER_MAC, phase: 'probe', defended: false }]);
  });

  it('bound: a host claiming our address is a conflict; we defend and report once per DEFEND_INTERVAL (10 s), and count each', () => {
    const { seg, peer, eth, conflicts } = setup();
    seg.run(5000);
    peer.take();
    const claim = arpFrame(MAC_BROADCAST, OTHER_MAC, { operation: ARP_REQUEST, senderMac: OTHER_MAC, senderIp: US, targetMac: 0, targetIp: US });
    peer.port.send(claim);
    seg.run(0);
    expect(arps(peer.take()).map((a) => a.arp)).toEqual([{ operation: ARP_REQUEST, senderMac: US_MAC, senderIp: US, targetMac: 0, targetIp: US }]);
    seg.run(9999);
    peer.port.send(claim);
    seg.run(0);
    expect(peer.take()).toEqual([]);
    seg.run(1);
    peer.port.send(claim);
    seg.run(0);
    expect(peer.take().length).toBe(1);
    // The claim within 10 s of the defence is counted, not reported (a claim per frame would be an event per frame).
    expect(conflicts.map((c) => [c.phase, c.defended])).toEqual([['bound', true], ['bound', true]]);
    expect(eth.counters().acd).toMatchObject({ BoundConflicts: 3, Defenses: 2 });
    expect(eth.addressState(US)).toBe('bound');
    expect(eth.neighbours.has(US)).toBe(false);
  });
});

describe('property: arbitrary frames', () => {
  const sumDrops = (e: EthernetStats): number =>
    e.InDropTruncated + e.InDropBadSource + e.InDropLengthType + e.InDropVlan + e.InDropOtherHost + e.InDropMulticastNotJoined +
    e.InDropIpv6 + e.InDropUnknownType + e.InDropClosed;
  const arpOutcomes = (e: EthernetStats): number =>
    e.ArpInRequests + e.ArpInReplies + e.ArpInTruncated + e.ArpInUnsupported + e.ArpInBadOp + e.ArpInBadSender + e.ArpInFromSelf;

  // Frames biased towards the interesting: our MAC / broadcast / multicast as destination,
  // the EtherTypes we look at, well-formed ARP headers with random addresses.
  const dstArb = fc.oneof(fc.constant(US_MAC), fc.constant(MAC_BROADCAST), fc.constant(mac('01:00:5e:00:00:01')), fc.integer({ min: 0, max: 2 ** 48 - 1 }));
  const typeArb = fc.oneof(fc.constantFrom(0x0800, 0x0806, 0x86dd, 0x8100, 0x88a8, 0x002e), fc.integer({ min: 0, max: 0xffff }));
  const arpArb = fc.record({
    op: fc.integer({ min: 0, max: 3 }), sha: fc.oneof(fc.constant(PEER_MAC), fc.constant(US_MAC), fc.integer({ min: 0, max: 2 ** 48 - 1 })),
    sip: fc.oneof(fc.constantFrom(0, US, PEER, GW), fc.integer({ min: 0, max: 0xffffffff })),
    tip: fc.oneof(fc.constantFrom(0, US, PEER), fc.integer({ min: 0, max: 0xffffffff })),
  });
  const ndpArb = fc.tuple(
    fc.constantFrom(135, 136, 128, 130, 131, 133, 134, 143), fc.constantFrom(255, 64, 1), fc.uint8Array({ minLength: 0, maxLength: 60 }), fc.nat(40),
    fc.constantFrom(US_MAC, mac('33:33:ff:00:00:02'), mac('33:33:00:00:00:01')),
  )
    .map(([type, hop, rest, plen, dst]) => {
      const p = new Uint8Array(40 + 24 + rest.length);
      p[0] = 0x60; p[5] = plen; p[6] = 58; p[7] = hop; p[8] = 0xfd; p[40] = type; p.set(rest, 64);
      return frame(dst, PEER_MAC, 0x86dd, p);
    });
  // IGMP (IPv4 protocol 2): a plausible header, any body (checksums mostly wrong, some right by the fix below).
  const igmpArb = fc.tuple(fc.uint8Array({ minLength: 0, maxLength: 40 }), fc.boolean()).map(([body, fix]) => {
    const p = new Uint8Array(20 + body.length);
    p[0] = 0x45; p[2] = p.length >> 8; p[3] = p.length & 0xff; p[8] = 1; p[9] = 2;
    p.set(hex('0a070001 e0000001'), 12);
    p.set(body, 20);
    if (fix) {
      let sum = 0;
      for (let i = 0; i < 20; i += 2) sum += (p[i]! << 8) | p[i + 1]!;
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      p[10] = (~sum >> 8) & 0xff; p[11] = ~sum & 0xff;
    }
    return frame(mac('01:00:5e:00:00:01'), PEER_MAC, 0x0800, p);
  });
  const frameArb = fc.oneof(
    ndpArb,
    igmpArb,
    fc.uint8Array({ maxLength: 100 }),
    fc.tuple(dstArb, typeArb, fc.uint8Array({ maxLength: 80 })).map(([d, t, body]) => frame(d, PEER_MAC, t, body)),
    fc.tuple(dstArb, arpArb, fc.nat(28)).map(([d, a, cut]) => {
      const f = new Uint8Array(42);
      f.set(frame(d, PEER_MAC, 0x0806, new Uint8Array(0)));
      f.set(hex('0001 0800 0604'), 14);
      f[21] = a.op;
      new DataView(f.buffer).setUint16(22, Math.floor(a.sha / 2 ** 32));
      new DataView(f.buffer).setUint32(24, a.sha % 2 ** 32);
      new DataView(f.buffer).setUint32(28, a.sip);
      new DataView(f.buffer).setUint32(38, a.tip);
      return f.subarray(0, 42 - (cut % 3 === 0 ? cut : 0));
    }),
  );

  it('never throw; every frame ends in exactly one counter; tables stay bounded', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(frameArb, fc.integer({ min: 0, max: 5000 })), { maxLength: 60 }), (frames) => {
        const us6 = new Uint8Array(16); us6[0] = 0xfd; us6[15] = 2;
        const { seg, eth } = setup({ neighbour: { maxEntries: 16 }, ipv6: { addresses: [us6], prefixLength: 64 } });
        let t = 0;
        for (const [f, dt] of frames) {
          t += dt;
          seg.clock.advanceTo(t);
          eth.input(f, t);
          eth.poll(t);
          eth.send(ipv4(US, PEER));
        }
        seg.run(120_000);
        const e = eth.counters().ethernet;
        expect(e.InFrames).toBe(frames.length);
        expect(e.InIpv4 + e.InIpv6 + e.NdpInSolicits + e.NdpInAdverts + e.NdpInInvalid + e.NdpInRouterAdverts + e.NdpInFromSelf + e.InArp +
          e.IgmpInQueries + e.IgmpInReports + e.IgmpInOther + e.IgmpInInvalid + e.MldInQueries + e.MldInReports + e.MldInOther + e.MldInInvalid +
          sumDrops(e)).toBe(e.InFrames);
        expect(arpOutcomes(e)).toBe(e.InArp);
        expect(e.OutSent + e.OutQueued + e.OutDropNeighbour + e.OutDropLocal + e.OutDropNoRoute + e.OutLinkDrops).toBe(e.OutPackets);
        const n0 = eth.counters().neighbour;
        // Every packet that waited left, was discarded, was reported, or still waits.
        expect(e.OutFlushed + e.OutFlushLinkDrops + n0.UnreachableReports + n0.UnresolvedDiscards).toBeLessThanOrEqual(e.OutQueued);
        const n = eth.counters().neighbour;
        expect(n.Entries).toBeLessThanOrEqual(16);
        expect(n.QueuedBytes).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 300, seed: 0x5eed },
    );
  });
});

describe('an ARP flood through the interface', () => {
  it('5000 requests for our address from fake senders: answered, the table stays bounded, active neighbours keep their entries', () => {
    const { seg, peer, eth } = setup({ neighbour: { maxEntries: 32 } });
    seg.run(5000);
    const active = Array.from({ length: 8 }, (_, i) => ({ ip: ip(`10.7.0.${10 + i}`), mac: 0x525400002000 + i }));
    for (const a of active) {
      eth.send(ipv4(US, a.ip));
      peer.port.send(arpFrame(US_MAC, a.mac, { operation: ARP_REPLY, senderMac: a.mac, senderIp: a.ip, targetMac: US_MAC, targetIp: US }));
    }
    seg.run(0);
    peer.take();
    const before = eth.counters().ethernet;
    for (let i = 0; i < 5000; i++) {
      const sender = (ip('10.8.0.0') + i) >>> 0;
      eth.input(arpFrame(MAC_BROADCAST, 0x020000300000 + i, { operation: ARP_REQUEST, senderMac: 0x020000300000 + i, senderIp: sender, targetMac: 0, targetIp: US }), seg.clock.now());
      if (i % 500 === 0) for (const a of active) eth.send(ipv4(US, a.ip));
    }
    seg.run(0);
    expect(eth.neighbours.size).toBeLessThanOrEqual(32);
    for (const a of active) expect(eth.neighbours.get(a.ip)?.mac).toBe(a.mac);
    // Every IP packet to an active neighbour left at once, to its MAC; no new resolution.
    const after = eth.counters().ethernet;
    expect(after.ArpOutRequests).toBe(before.ArpOutRequests);
    expect([after.OutSent - before.OutSent, after.OutQueued - before.OutQueued]).toEqual([80, 0]);
    expect(eth.counters().ethernet.ArpOutReplies).toBe(5000);
    expect(eth.counters().neighbour.ForcedEvictions).toBe(5000 - (32 - 8));
  });
});
