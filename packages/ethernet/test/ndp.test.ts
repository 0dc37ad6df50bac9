/** RFC 4861 NS/NA: golden bytes, validation, and the interface's IPv6 resolution on virtual time. */
import { describe, expect, it } from 'vitest';
import {
  EthernetInterface, ICMPV6_NA, ICMPV6_NS, IPV6_UNSPECIFIED, bytesToAddress, emitNdp, hostUnreachableError, parseEthernet, parseNdp,
  solicitedNodeAddress, type NdpRepr,
} from '../src/index.js';
import { Segment, frame, hex, mac, toHex } from './helpers.js';

const a6 = (h: string): string => bytesToAddress(hex(h));
const US6 = a6('fd00 0000 0000 0000 0000 0000 0000 0002');
const PEER6 = a6('fd00 0000 0000 0000 0000 0000 0000 0001');
const FAR6 = a6('2001 0db8 0000 0000 0000 0000 0000 0001');
const ROUTER6 = a6('fe80 0000 0000 0000 0000 0000 0000 0001');
const US_MAC = mac('02:00:5e:10:00:02');
const PEER_MAC = mac('52:54:00:12:34:56');

/** RFC 1071 over the RFC 8200 §8.1 pseudo-header, written out again here (not the package's). */
function icmp6Checksum(packet: Uint8Array): number {
  const len = (packet[4]! << 8) | packet[5]!;
  const words: number[] = [];
  for (let i = 8; i < 40; i += 2) words.push((packet[i]! << 8) | packet[i + 1]!);
  words.push(0, len, 0, 58);
  const body = packet.slice(40, 40 + len);
  body[2] = 0; body[3] = 0;
  for (let i = 0; i < body.length; i += 2) words.push((body[i]! << 8) | (body[i + 1] ?? 0));
  let sum = words.reduce((x, y) => x + y, 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

// Field by field from RFC 4861 §4.3 / §4.4 and RFC 2464 §6 (the checksum bytes are filled in below).
const NS = hex(`60000000 0020 3a ff
  fd000000000000000000000000000002
  ff0200000000000000000001ff000001
  87 00 0000 00000000
  fd000000000000000000000000000001
  01 01 02005e100002`);
const NA = hex(`60000000 0020 3a ff
  fd000000000000000000000000000001
  fd000000000000000000000000000002
  88 00 0000 60000000
  fd000000000000000000000000000001
  02 01 525400123456`);
for (const p of [NS, NA]) {
  const ck = icmp6Checksum(p);
  p[42] = ck >> 8; p[43] = ck & 0xff;
}

const nsRepr: NdpRepr = { type: ICMPV6_NS, src: US6, dst: solicitedNodeAddress(PEER6), target: PEER6, router: false, solicited: false, override: false, linkAddress: US_MAC };
const naRepr: NdpRepr = { type: ICMPV6_NA, src: PEER6, dst: US6, target: PEER6, router: false, solicited: true, override: true, linkAddress: PEER_MAC };

describe('NS / NA wire (RFC 4861 §4.3, §4.4)', () => {
  it('emit: golden bytes of an NS (with SLLA) and a solicited NA (with TLLA)', () => {
    const b = new Uint8Array(72);
    emitNdp(nsRepr, US_MAC, b);
    expect(toHex(b)).toBe(toHex(NS));
    emitNdp(naRepr, PEER_MAC, b);
    expect(toHex(b)).toBe(toHex(NA));
  });
  it('parse: both golden packets', () => {
    expect(parseNdp(NS)).toEqual(nsRepr);
    expect(parseNdp(NA)).toEqual(naRepr);
  });
  it('validation (§7.1): hop limit, checksum, code, truncation, multicast target, zero-length option, DAD shape; other ICMPv6 is not ours', () => {
    const mut = (f: (p: Uint8Array) => void, base = NS): Uint8Array => { const p = base.slice(); f(p); return p; };
    expect(parseNdp(mut((p) => { p[7] = 254; }))).toBe('hop-limit');
    expect(parseNdp(mut((p) => { p[70] = p[70]! ^ 1; }))).toBe('checksum');
    expect(parseNdp(NS.subarray(0, 60))).toBe('truncated');
    const fix = (p: Uint8Array): void => { p[42] = 0; p[43] = 0; const ck = icmp6Checksum(p); p[42] = ck >> 8; p[43] = ck & 0xff; };
    expect(parseNdp(mut((p) => { p[41] = 1; fix(p); }))).toBe('bad-code');
    expect(parseNdp(mut((p) => { p[48] = 0xff; fix(p); }))).toBe('bad-target');
    expect(parseNdp(mut((p) => { p[65] = 0; fix(p); }))).toBe('bad-option');
    // DAD: from :: with an SLLA option is invalid.
    expect(parseNdp(mut((p) => { p.fill(0, 8, 24); fix(p); }))).toBe('bad-dad');
    // A solicited NA to a multicast address is invalid.
    expect(parseNdp(mut((p) => { p.set(hex('ff020000000000000000000000000001'), 24); fix(p); }, NA))).toBe('bad-target');
    const echo = mut((p) => { p[40] = 128; });
    expect(parseNdp(echo)).toBe('not-ndp');
    expect(parseNdp(hex('4500'))).toBe('not-ndp');
  });
  it('solicited-node address: ff02::1:ff + low 24 bits', () => {
    expect(toHex(Uint8Array.from(solicitedNodeAddress(FAR6), (c) => c.charCodeAt(0)))).toBe('ff0200000000000000000001ff000001');
  });
});

function ipv6(src: string, dst: string, len = 48, next = 17): Uint8Array {
  const p = new Uint8Array(len);
  p[0] = 0x60; p[4] = (len - 40) >> 8; p[5] = (len - 40) & 0xff; p[6] = next; p[7] = 64;
  for (let i = 0; i < 16; i++) { p[8 + i] = src.charCodeAt(i); p[24 + i] = dst.charCodeAt(i); }
  return p;
}

function setup() {
  const seg = new Segment();
  const peer = seg.capture();
  const received: Uint8Array[] = [];
  const unreachable: { packet: Uint8Array; hop: number | string }[] = [];
  const eth = new EthernetInterface({
    link: seg.sw.port(), mac: US_MAC, clock: seg.clock, random: () => 0.5,
    ipv6: { addresses: [US6], prefixLength: 64, gateway: ROUTER6 },
    onUnreachable: (packet, hop) => unreachable.push({ packet, hop }),
  });
  eth.setReceiver({ packet: (p) => { received.push(p.slice()); } });
  // The MLDv2 reports of the solicited-node group (at once and 500 ms later: igmp.test.ts),
  // and the DAD probe for US6 (optimistic DAD, 500 ms in, done 1 s later: dad.test.ts).
  seg.run(2000);
  const kinds = peer.take().map((f) => (f[14 + 6] === 0 ? `mld ${f[14 + 48]}` : `ns ${f[14 + 40]} from ${toHex(f.subarray(22, 38))}`));
  expect(kinds).toEqual(['mld 143', `ns 135 from ${'0'.repeat(32)}`, 'mld 143']);
  return { seg, peer, eth, received, unreachable };
}

describe('EthernetInterface over IPv6', () => {
  it('resolves an on-link peer by NS to its solicited-node group; the NA releases the packet', () => {
    const { seg, peer, eth } = setup();
    const p = ipv6(US6, PEER6);
    expect(eth.send(p)).toBe(true);
    seg.run(0);
    expect(peer.take().map(toHex)).toEqual([toHex(frame(mac('33:33:ff:00:00:01'), US_MAC, 0x86dd, NS))]);
    peer.port.send(frame(US_MAC, PEER_MAC, 0x86dd, NA));
    seg.run(0);
    expect(peer.take().map(toHex)).toEqual([toHex(frame(PEER_MAC, US_MAC, 0x86dd, p))]);
    expect(eth.neighbours6.get(PEER6)).toMatchObject({ mac: PEER_MAC, state: 'REACHABLE' });
    expect(eth.counters().ethernet).toMatchObject({ NdpOutSolicits: 1, NdpInAdverts: 1, OutQueued: 1, OutFlushed: 1 });
  });

  it('an upper-layer confirmation (confirmNeighbour) turns DELAY back into REACHABLE without a unicast NS', () => {
    const { seg, peer, eth } = setup();
    eth.send(ipv6(US6, PEER6));
    peer.port.send(frame(US_MAC, PEER_MAC, 0x86dd, NA));
    seg.run(30_000);
    expect(eth.neighbours6.get(PEER6)?.state).toBe('STALE');
    eth.send(ipv6(US6, PEER6));
    expect(eth.neighbours6.get(PEER6)?.state).toBe('DELAY');
    seg.run(1000);
    eth.confirmNeighbour(PEER6);
    peer.take();
    seg.run(10_000);
    expect(eth.neighbours6.get(PEER6)?.state).toBe('REACHABLE');
    expect(peer.take()).toEqual([]);
  });

  it('answers an NS for our address with a solicited NA (and learns the sender, STALE); ignores one for another target', () => {
    const { seg, peer, eth } = setup();
    const ns = new Uint8Array(72);
    emitNdp({ type: ICMPV6_NS, src: PEER6, dst: solicitedNodeAddress(US6), target: US6, router: false, solicited: false, override: false, linkAddress: PEER_MAC }, PEER_MAC, ns);
    peer.port.send(frame(mac('33:33:ff:00:00:02'), PEER_MAC, 0x86dd, ns));
    seg.run(0);
    const got = peer.take();
    expect(got.map((f) => parseEthernet(f))).toEqual([{ dst: PEER_MAC, src: US_MAC, ethertype: 0x86dd }]);
    expect(parseNdp(got[0]!.subarray(14))).toEqual({ type: ICMPV6_NA, src: US6, dst: PEER6, target: US6, router: false, solicited: true, override: true, linkAddress: US_MAC });
    expect(eth.neighbours6.get(PEER6)).toMatchObject({ mac: PEER_MAC, state: 'STALE' });
    const other = new Uint8Array(72);
    emitNdp({ type: ICMPV6_NS, src: PEER6, dst: solicitedNodeAddress(FAR6), target: FAR6, router: false, solicited: false, override: false, linkAddress: PEER_MAC }, PEER_MAC, other);
    peer.port.send(frame(mac('33:33:ff:00:00:01'), PEER_MAC, 0x86dd, other)); // not our group: filtered by MAC
    seg.run(0);
    expect(peer.take()).toEqual([]);
    expect(eth.counters().ethernet).toMatchObject({ NdpInSolicits: 1, NdpOutAdverts: 1, InDropMulticastNotJoined: 1 });
  });

  it('a DAD probe (from ::) for our address is answered to all-nodes, unsolicited', () => {
    const { seg, peer } = setup();
    const dad = new Uint8Array(72);
    emitNdp({ type: ICMPV6_NS, src: IPV6_UNSPECIFIED, dst: solicitedNodeAddress(US6), target: US6, router: false, solicited: false, override: false, linkAddress: undefined }, PEER_MAC, dad);
    dad[5] = 24; // no option: a DAD NS carries no SLLA
    dad[42] = 0; dad[43] = 0;
    const ck = icmp6Checksum(dad.subarray(0, 64));
    dad[42] = ck >> 8; dad[43] = ck & 0xff;
    peer.port.send(frame(mac('33:33:ff:00:00:02'), PEER_MAC, 0x86dd, dad.subarray(0, 64)));
    seg.run(0);
    const got = peer.take();
    expect(got.map((f) => parseEthernet(f))).toEqual([{ dst: mac('33:33:00:00:00:01'), src: US_MAC, ethertype: 0x86dd }]);
    expect(parseNdp(got[0]!.subarray(14))).toMatchObject({ type: ICMPV6_NA, solicited: false, override: true, target: US6 });
  });

  it('off-link goes to the router; no answer in 3 s: unreachable, with an IPv6 EHOSTUNREACH record', () => {
    const { seg, peer, eth, unreachable } = setup();
    const p = ipv6(US6, FAR6, 56, 6);
    eth.send(p);
    seg.run(2999);
    const ns = peer.take().map((f) => parseNdp(f.subarray(14)));
    expect(ns.map((r) => (typeof r === 'string' ? r : [r.type, r.target]))).toEqual([[135, ROUTER6], [135, ROUTER6], [135, ROUTER6]]);
    expect(unreachable).toEqual([]);
    seg.run(1);
    expect(unreachable.map((u) => [toHex(u.packet), u.hop])).toEqual([[toHex(p), ROUTER6]]);
    expect(hostUnreachableError(unreachable[0]!.packet, US6)).toEqual({
      icmpType: 3, icmpCode: 1, reporter: US6, src: US6, dst: FAR6, protocol: 6, quoted: p.slice(40), nextHopMtu: 0, originalLength: 56,
    });
  });

  it('IPv6 packets other than NS/NA go up; without an IPv6 configuration IPv6 is dropped and counted', () => {
    const { seg, peer, eth, received } = setup();
    const p = ipv6(PEER6, US6);
    peer.port.send(frame(US_MAC, PEER_MAC, 0x86dd, p));
    seg.run(0);
    expect(received.map(toHex)).toEqual([toHex(p)]);
    const bare = new EthernetInterface({ link: seg.sw.port(), mac: mac('02:00:00:00:00:99'), clock: seg.clock });
    bare.input(frame(mac('02:00:00:00:00:99'), PEER_MAC, 0x86dd, p), 0);
    expect(bare.send(ipv6(US6, PEER6))).toBe(false);
    expect(bare.counters().ethernet).toMatchObject({ InDropIpv6: 1, OutDropIpv6: 1 });
    expect(eth.counters().ethernet.InIpv6).toBe(1);
  });
});
