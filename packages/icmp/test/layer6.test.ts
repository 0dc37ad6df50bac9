import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  IPV6_ANY,
  finish,
  icmpErrorErrno,
  isMulticast,
  parseIpv6Address,
  pseudoHeaderSum,
  sum16,
  type InboundDatagram,
  type IpAddress,
  type Ipv6Address,
  type SendError,
} from '@netstack/ip';
import {
  ICMP6_MAX_QUOTE,
  IPPROTO_ICMPV6,
  Icmp6Layer,
  icmp6Bytes,
  icmp6ErrorAsIcmp4,
  parseIcmp6,
  type Icmp6Ip,
  type Icmp6Options,
  type Icmp6Repr,
  type Icmp6Stats,
} from '../src/index.js';
import { hex, toHex } from './helpers.js';
import { FakeIp, type Sent } from '../../ip/test/fake-ip.js';

const a6 = (text: string): Ipv6Address => {
  const a = parseIpv6Address(text);
  if (a === undefined) throw new Error(`bad address ${text}`);
  return a;
};
const US = a6('fd07::2');
const US_LL = a6('fe80::2'); // a second address of ours
const PEER = a6('fd07::1');
const ROUTER = a6('fd07::ff');
const OTHER = a6('fd07::99'); // not ours
const ALL_NODES = a6('ff02::1');
const LOOP = a6('::1');

type Sent6 = Sent<Ipv6Address>;

/** The shared fake IP layer for IPv6 (it honours `options.source`, as the IPv6 layer does). */
class FakeIp6 extends FakeIp<Ipv6Address> implements Icmp6Ip {
  local = new Set<Ipv6Address>([US, US_LL, LOOP]);
  constructor() { super(US); }
  isLocalAddress(a: IpAddress): boolean { return typeof a === 'string' && this.local.has(a); }
  override send(): SendError | undefined { throw new Error('icmp6 sends through sendWith'); }
  override reportUnreachable(): void { throw new Error('icmp6 never asks for unreachable'); }
}

function setup(options: Icmp6Options = {}) {
  const net = new FakeIp6();
  return { net, icmp: new Icmp6Layer(net, options) };
}

function addrBytes(a: Ipv6Address): number[] {
  return Array.from(a, (c) => c.charCodeAt(0));
}

interface Spec6 {
  src: Ipv6Address;
  dst: Ipv6Address;
  nextHeader: number;
  payload: Uint8Array;
  hopLimit?: number;
  tclass?: number;
}

/** A 40-byte IPv6 header (RFC 8200 §3) followed by `payload`. */
function ipv6Packet(s: Spec6): Uint8Array {
  const p = new Uint8Array(40 + s.payload.length);
  const tc = s.tclass ?? 0;
  p[0] = 0x60 | (tc >>> 4);
  p[1] = (tc & 0xf) << 4;
  p[4] = s.payload.length >>> 8;
  p[5] = s.payload.length & 0xff;
  p[6] = s.nextHeader;
  p[7] = s.hopLimit ?? 64;
  p.set(addrBytes(s.src), 8);
  p.set(addrBytes(s.dst), 24);
  p.set(s.payload, 40);
  return p;
}

function datagram6(s: Spec6, extra: Partial<InboundDatagram<Ipv6Address>> = {}): InboundDatagram<Ipv6Address> {
  const packet = ipv6Packet(s);
  return {
    src: s.src, dst: s.dst, protocol: s.nextHeader, ttl: s.hopLimit ?? 64, tos: s.tclass ?? 0,
    payload: packet.subarray(40), packet, headerLength: 40, toBroadcast: isMulticast(s.dst), reassembled: false,
    ...extra,
  };
}

/** An ICMPv6 message from `src` to `dst` as the IPv6 layer delivers it. */
function icmpIn(repr: Icmp6Repr, src: Ipv6Address = PEER, dst: Ipv6Address = US, extra: Partial<InboundDatagram<Ipv6Address>> = {}) {
  return datagram6({ src, dst, nextHeader: IPPROTO_ICMPV6, payload: icmp6Bytes(repr, src, dst) }, extra);
}

/** A UDP datagram (RFC 768, checksum over the IPv6 pseudo-header) from `src` port 12345 to `dst` port 9. */
function udp6(src: Ipv6Address, dst: Ipv6Address, dataLength = 4): Uint8Array {
  const u = new Uint8Array(8 + dataLength).map((_, i) => (i < 8 ? 0 : i));
  u[0] = 0x30; u[1] = 0x39; u[3] = 9;
  u[4] = u.length >>> 8; u[5] = u.length & 0xff;
  const c = finish(sum16(u, 0, u.length, pseudoHeaderSum(src, dst, 17, u.length))) || 0xffff;
  u[6] = c >>> 8; u[7] = c & 0xff;
  return u;
}

/** A UDP datagram we received from PEER, for the error reporter to quote. */
const udpIn = (extra: Partial<Spec6> = {}, dataLength = 4) => {
  const src = extra.src ?? PEER;
  const dst = extra.dst ?? US;
  return datagram6({ src, dst, nextHeader: 17, payload: udp6(src, dst, dataLength), ...extra });
};

/** Parses what we sent, verifying its checksum over the pseudo-header with the wire functions. */
function parsedOut(s: Sent6): Icmp6Repr {
  expect(s.protocol).toBe(IPPROTO_ICMPV6);
  const r = parseIcmp6(s.payload, s.src, s.dst);
  if (typeof r === 'string') throw new Error(`sent a bad ICMPv6 message: ${r}`);
  return r;
}

// Captured from Linux by the wire6 tests (`ping -6 -c1 ::1` on lo in a private namespace):
// the kernel's own echo request and reply, IPv6 header then ICMPv6.
const KERNEL_REQUEST = hex(
  '6006116b00403a40 00000000000000000000000000000001 00000000000000000000000000000001'
  + '8000cabf5d5a0001 9d4e166b00000000e1db030000000000 101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637',
);
const KERNEL_REPLY = hex(
  '6003656300403a40 00000000000000000000000000000001 00000000000000000000000000000001'
  + '8100c9bf5d5a0001 9d4e166b00000000e1db030000000000 101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637',
);

/** The accounting identities documented on `Icmp6Stats`; returns the ones that fail. */
function brokenIdentities(s: Icmp6Stats): string[] {
  const bad: string[] = [];
  const check = (name: string, l: number, r: number) => { if (l !== r) bad.push(`${name}: ${l} != ${r}`); };
  check('InMsgs', s.Icmp6InMsgs, s.Icmp6InErrors + s.Icmp6InEchos + s.Icmp6InEchoReplies + s.Icmp6InInformational
    + s.Icmp6InUnknown + s.Icmp6InUnknownErrors + s.Icmp6InErrorsRouted);
  check('InErrors', s.Icmp6InErrors, s.Icmp6InCsumErrors + s.Icmp6InTruncated + s.Icmp6InErrorsNotOurs + s.Icmp6InWrongFamily);
  check('InInformational', s.Icmp6InInformational, s.Icmp6InGroupMembQueries + s.Icmp6InGroupMembResponses
    + s.Icmp6InGroupMembReductions + s.Icmp6InRouterSolicits + s.Icmp6InRouterAdvertisements + s.Icmp6InNeighborSolicits
    + s.Icmp6InNeighborAdvertisements + s.Icmp6InRedirects + s.Icmp6InMLDv2Reports);
  check('InErrorTypes', s.Icmp6InDestUnreachs + s.Icmp6InPktTooBigs + s.Icmp6InTimeExcds + s.Icmp6InParmProblems,
    s.Icmp6InErrorsRouted + s.Icmp6InErrorsNotOurs);
  check('InEchos', s.Icmp6InEchos, s.Icmp6OutEchoReplies + s.Icmp6EchoIgnored + s.Icmp6EchoSendFailed);
  check('ErrorsAsked', s.Icmp6ErrorsAsked, s.Icmp6OutDestUnreachs + s.Icmp6OutTimeExcds + s.Icmp6OutParmProblems
    + s.Icmp6Suppressed + s.Icmp6RateLimited + s.Icmp6ErrorSendFailed);
  check('Suppressed', s.Icmp6Suppressed, s.Icmp6SuppressedAboutError + s.Icmp6SuppressedAboutRedirect
    + s.Icmp6SuppressedMulticast + s.Icmp6SuppressedSource);
  check('OutMsgs', s.Icmp6OutMsgs, s.Icmp6OutEchoReplies + s.Icmp6OutDestUnreachs + s.Icmp6OutTimeExcds + s.Icmp6OutParmProblems
    + s.Icmp6OutEchos);
  check('OutErrors', s.Icmp6OutErrors, s.Icmp6EchoSendFailed + s.Icmp6ErrorSendFailed + s.Icmp6PingSendFailed);
  if (s.Icmp6InEchoReplies < s.Icmp6EchoReplyUnmatched + s.Icmp6EchoReplyCorrupt) bad.push('InEchoReplies < unmatched + corrupt');
  return bad;
}

describe('ICMPv6 echo (RFC 4443 §4.2)', () => {
  it("answers Linux's captured ping -6 request with exactly Linux's reply", () => {
    const { net, icmp } = setup();
    const packet = KERNEL_REQUEST.slice();
    icmp.receive({
      src: LOOP, dst: LOOP, protocol: 58, ttl: 64, tos: 0, payload: packet.subarray(40), packet, headerLength: 40,
      toBroadcast: false, reassembled: false,
    }, 0);
    const [out, ...rest] = net.take();
    expect(rest).toEqual([]);
    expect(out!.dst).toBe(LOOP);
    expect(out!.src).toBe(LOOP);
    expect(toHex(out!.payload)).toBe(toHex(KERNEL_REPLY.subarray(40)));
  });

  it('answers any request with the same identifier, sequence number and data, to the requester, from the address asked', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 3000 }),
      fc.constantFrom(US, US_LL), fc.integer({ min: 0, max: 255 }),
      (ident, seqNo, data, to, tclass) => {
        const { net, icmp } = setup();
        icmp.receive(icmpIn({ kind: 'echoRequest', ident, seqNo, data }, PEER, to, { tos: tclass }), 0);
        const [out, ...rest] = net.take();
        expect(rest).toEqual([]);
        expect(out!.dst).toBe(PEER);
        expect(out!.src).toBe(to);
        expect(out!.options?.source).toBe(to);
        expect(out!.options?.tos).toBe(tclass); // the request's traffic class, as Linux
        expect(parsedOut(out!)).toEqual({ kind: 'echoReply', ident, seqNo, data });
      },
    ), { numRuns: 150 });
  });

  it('answers the largest request (65527 data bytes, a 65535-byte payload); the IP layer fragments', () => {
    const { net, icmp } = setup();
    const data = new Uint8Array(65527).map((_, i) => (i * 13) & 0xff);
    icmp.receive(icmpIn({ kind: 'echoRequest', ident: 7, seqNo: 9, data }), 0);
    const out = net.take();
    expect(out).toHaveLength(1);
    expect(out[0]!.payload.length).toBe(65535);
    const r = parsedOut(out[0]!);
    expect(r).toMatchObject({ kind: 'echoReply', ident: 7, seqNo: 9 });
    expect(Buffer.from((r as { data: Uint8Array }).data).equals(Buffer.from(data))).toBe(true);
    expect(icmp.stats()).toMatchObject({ Icmp6InMsgs: 1, Icmp6InEchos: 1, Icmp6OutMsgs: 1, Icmp6OutEchoReplies: 1 });
  });

  it('answers a request sent to a multicast address from our unicast address (checksum over that source)', () => {
    const { net, icmp } = setup();
    const data = Uint8Array.of(1, 2, 3);
    icmp.receive(icmpIn({ kind: 'echoRequest', ident: 1, seqNo: 2, data }, PEER, ALL_NODES), 0);
    const [out] = net.take();
    expect(out!.src).toBe(US);
    expect(out!.dst).toBe(PEER);
    expect(parsedOut(out!)).toEqual({ kind: 'echoReply', ident: 1, seqNo: 2, data });
  });

  it('answers from our unicast also when the IP layer counts a joined group among its local addresses', () => {
    const { net, icmp } = setup();
    net.local.add(ALL_NODES);
    icmp.receive(icmpIn({ kind: 'echoRequest', ident: 1, seqNo: 2, data: new Uint8Array(0) }, PEER, ALL_NODES), 0);
    const d = udpIn({ dst: ALL_NODES });
    d.packet[42] = 0x85;
    icmp.parameterProblem(2, 42, d, 0);
    expect(net.take().map((o) => o.src)).toEqual([US, US]);
  });

  it('answers a request the link vouched for with a checksum computed afresh (the received one may be partial)', () => {
    const { net, icmp } = setup();
    const d = icmpIn({ kind: 'echoRequest', ident: 3, seqNo: 4, data: Uint8Array.of(9, 8, 7, 6) }, PEER, US, { checksumVerified: true });
    d.payload[2] = 0x12; // a NEEDS_CSUM partial sum, not the full checksum
    d.payload[3] = 0x34;
    icmp.receive(d, 0);
    const [out] = net.take();
    expect(parsedOut(out!)).toEqual({ kind: 'echoReply', ident: 3, seqNo: 4, data: Uint8Array.of(9, 8, 7, 6) });
  });

  it('drops and counts a request with a bad checksum, and one too short', () => {
    const { net, icmp } = setup();
    const d = icmpIn({ kind: 'echoRequest', ident: 1, seqNo: 1, data: new Uint8Array(8) });
    d.payload[9]! ^= 0x40;
    icmp.receive(d, 0);
    icmp.receive(datagram6({ src: PEER, dst: US, nextHeader: 58, payload: Uint8Array.of(128, 0, 0, 0, 0, 0, 0) }), 0);
    expect(net.sent).toEqual([]);
    expect(icmp.stats()).toMatchObject({ Icmp6InMsgs: 2, Icmp6InErrors: 2, Icmp6InCsumErrors: 1, Icmp6InTruncated: 1, Icmp6InEchos: 0 });
  });

  it('ignores requests from :: or a multicast source (no single node to answer)', () => {
    const { net, icmp } = setup();
    icmp.receive(icmpIn({ kind: 'echoRequest', ident: 1, seqNo: 1, data: new Uint8Array(2) }, IPV6_ANY, US), 0);
    icmp.receive(icmpIn({ kind: 'echoRequest', ident: 1, seqNo: 1, data: new Uint8Array(2) }, a6('ff02::2'), US), 0);
    expect(net.sent).toEqual([]);
    expect(icmp.stats()).toMatchObject({ Icmp6InEchos: 2, Icmp6EchoIgnored: 2, Icmp6OutMsgs: 0 });
  });

  it('counts a reply the IP layer refused to send', () => {
    const { net, icmp } = setup();
    net.failNext = 'ENOBUFS';
    icmp.receive(icmpIn({ kind: 'echoRequest', ident: 1, seqNo: 1, data: new Uint8Array(2) }), 0);
    expect(icmp.stats()).toMatchObject({ Icmp6InEchos: 1, Icmp6OutErrors: 1, Icmp6EchoSendFailed: 1, Icmp6OutMsgs: 0 });
  });

  it('counts echo replies (no IPv6 ping client yet) and answers none', () => {
    const { net, icmp } = setup();
    icmp.receive(icmpIn({ kind: 'echoReply', ident: 1, seqNo: 1, data: new Uint8Array(2) }), 0);
    expect(net.sent).toEqual([]);
    expect(icmp.stats()).toMatchObject({ Icmp6InMsgs: 1, Icmp6InEchoReplies: 1 });
  });
});

describe('router, neighbour and multicast listener messages: counted, never answered', () => {
  const LL = a6('fe80::1');
  const cases: [string, Icmp6Repr, Ipv6Address, keyof Icmp6Stats][] = [
    ['router solicitation', { kind: 'other', type: 133, code: 0, body: new Uint8Array(4) }, a6('ff02::2'), 'Icmp6InRouterSolicits'],
    ['router advertisement', { kind: 'other', type: 134, code: 0, body: new Uint8Array(12) }, ALL_NODES, 'Icmp6InRouterAdvertisements'],
    ['neighbour solicitation', { kind: 'other', type: 135, code: 0, body: new Uint8Array(20) }, a6('ff02::1:ff00:2'), 'Icmp6InNeighborSolicits'],
    ['neighbour advertisement', { kind: 'other', type: 136, code: 0, body: new Uint8Array(20) }, US, 'Icmp6InNeighborAdvertisements'],
    ['redirect', { kind: 'other', type: 137, code: 0, body: new Uint8Array(36) }, US, 'Icmp6InRedirects'],
    ['MLD query', { kind: 'other', type: 130, code: 0, body: new Uint8Array(20) }, ALL_NODES, 'Icmp6InGroupMembQueries'],
    ['MLDv1 report', { kind: 'other', type: 131, code: 0, body: new Uint8Array(20) }, a6('ff02::16'), 'Icmp6InGroupMembResponses'],
    ['MLD done', { kind: 'other', type: 132, code: 0, body: new Uint8Array(20) }, a6('ff02::2'), 'Icmp6InGroupMembReductions'],
    ['MLDv2 report', { kind: 'other', type: 143, code: 0, body: hex('00000001 04000000ff0200000000000000000001ff000002') }, a6('ff02::16'), 'Icmp6InMLDv2Reports'],
  ];
  for (const [name, repr, dst, counter] of cases) {
    it(`${name}: ${counter}`, () => {
      const { net, icmp } = setup();
      icmp.receive(icmpIn(repr, LL, dst), 0);
      expect(net.sent).toEqual([]);
      expect(net.delivered).toEqual([]);
      const s = icmp.stats();
      expect(s[counter]).toBe(1);
      expect(s).toMatchObject({ Icmp6InMsgs: 1, Icmp6InInformational: 1, Icmp6InErrors: 0, Icmp6ErrorsAsked: 0 });
      expect(brokenIdentities(s)).toEqual([]);
    });
  }
  it("a router solicitation in Linux's bytes (from the wire6 golden set) is counted", () => {
    const { icmp } = setup();
    icmp.receive(datagram6({ src: LL, dst: a6('ff02::2'), nextHeader: 58, payload: hex('85007d3600000000') }), 0);
    expect(icmp.stats()).toMatchObject({ Icmp6InRouterSolicits: 1, Icmp6InCsumErrors: 0 });
  });
  it('a truncated neighbour solicitation is an input error; an unknown informational type is ignored', () => {
    const { net, icmp } = setup();
    icmp.receive(icmpIn({ kind: 'other', type: 135, code: 0, body: new Uint8Array(8) }, LL, US), 0);
    icmp.receive(icmpIn({ kind: 'other', type: 200 as 133, code: 0, body: new Uint8Array(4) }, LL, US), 0);
    expect(net.sent).toEqual([]);
    expect(icmp.stats()).toMatchObject({ Icmp6InMsgs: 2, Icmp6InTruncated: 1, Icmp6InErrors: 1, Icmp6InUnknown: 1, Icmp6InNeighborSolicits: 0 });
  });
});

describe('errors received: translated to ICMPv4 type/code and delivered (table in layer6.ts)', () => {
  /** A UDP datagram we sent to PEER, as a router quotes it. */
  const ours = ipv6Packet({ src: US, dst: PEER, nextHeader: 17, payload: udp6(US, PEER, 100) });

  const rows: { name: string; repr: Icmp6Repr; icmpType: number; icmpCode: number; errno: string | undefined; fatal?: boolean; mtu?: number }[] = [
    { name: 'no route', repr: { kind: 'destinationUnreachable', code: 0, quoted: ours }, icmpType: 3, icmpCode: 0, errno: 'ENETUNREACH', fatal: false },
    { name: 'administratively prohibited', repr: { kind: 'destinationUnreachable', code: 1, quoted: ours }, icmpType: 3, icmpCode: 13, errno: 'EHOSTUNREACH', fatal: true },
    { name: 'beyond scope', repr: { kind: 'destinationUnreachable', code: 2, quoted: ours }, icmpType: 3, icmpCode: 1, errno: 'EHOSTUNREACH', fatal: false },
    { name: 'address unreachable', repr: { kind: 'destinationUnreachable', code: 3, quoted: ours }, icmpType: 3, icmpCode: 1, errno: 'EHOSTUNREACH', fatal: false },
    { name: 'port unreachable', repr: { kind: 'destinationUnreachable', code: 4, quoted: ours }, icmpType: 3, icmpCode: 3, errno: 'ECONNREFUSED', fatal: true },
    { name: 'source policy failed', repr: { kind: 'destinationUnreachable', code: 5, quoted: ours }, icmpType: 3, icmpCode: 13, errno: 'EHOSTUNREACH', fatal: true },
    { name: 'reject route', repr: { kind: 'destinationUnreachable', code: 6, quoted: ours }, icmpType: 3, icmpCode: 13, errno: 'EHOSTUNREACH', fatal: true },
    { name: 'unassigned unreachable code', repr: { kind: 'destinationUnreachable', code: 9, quoted: ours }, icmpType: 3, icmpCode: 1, errno: 'EHOSTUNREACH', fatal: false },
    { name: 'packet too big', repr: { kind: 'packetTooBig', code: 0, mtu: 1400, quoted: ours }, icmpType: 3, icmpCode: 4, errno: 'EMSGSIZE', fatal: false, mtu: 1400 },
    { name: 'packet too big below the minimum (the IP layer floors it)', repr: { kind: 'packetTooBig', code: 0, mtu: 576, quoted: ours }, icmpType: 3, icmpCode: 4, errno: 'EMSGSIZE', fatal: false, mtu: 576 },
    { name: 'hop limit exceeded', repr: { kind: 'timeExceeded', code: 0, quoted: ours }, icmpType: 11, icmpCode: 0, errno: 'EHOSTUNREACH', fatal: false },
    { name: 'reassembly time exceeded', repr: { kind: 'timeExceeded', code: 1, quoted: ours }, icmpType: 11, icmpCode: 1, errno: 'EHOSTUNREACH', fatal: false },
    { name: 'parameter problem', repr: { kind: 'parameterProblem', code: 1, pointer: 6, quoted: ours }, icmpType: 12, icmpCode: 0, errno: 'EPROTO', fatal: true },
  ];
  for (const row of rows) {
    it(`${row.name} → ${row.icmpType}/${row.icmpCode} → ${row.errno}`, () => {
      const { net, icmp } = setup();
      icmp.receive(icmpIn(row.repr, ROUTER, US), 5);
      expect(net.sent).toEqual([]);
      expect(net.delivered).toHaveLength(1);
      const e = net.delivered[0]!;
      expect(e).toMatchObject({
        icmpType: row.icmpType, icmpCode: row.icmpCode, reporter: ROUTER, src: US, dst: PEER, protocol: 17,
        nextHopMtu: row.mtu ?? 0, originalLength: ours.length,
      });
      expect(toHex(e.quoted)).toBe(toHex(ours.subarray(40)));
      expect(icmpErrorErrno(e.icmpType, e.icmpCode)).toEqual({ code: row.errno, fatal: row.fatal });
      expect(icmp.stats()).toMatchObject({ Icmp6InMsgs: 1, Icmp6InErrorsRouted: 1, Icmp6InErrors: 0 });
    });
  }
  it('icmp6ErrorAsIcmp4 maps every destination unreachable code 0-255 to a type-3 code with an errno', () => {
    for (let code = 0; code < 256; code++) {
      const v4 = icmp6ErrorAsIcmp4(1, code);
      expect(v4.icmpType).toBe(3);
      expect(icmpErrorErrno(v4.icmpType, v4.icmpCode)).toBeDefined();
    }
  });
  it('a Packet Too Big MTU above 65535 (jumbo links) is carried whole', () => {
    const { net, icmp } = setup();
    icmp.receive(icmpIn({ kind: 'packetTooBig', code: 0, mtu: 100000, quoted: ours }, ROUTER, US), 0);
    expect(net.delivered[0]!.nextHopMtu).toBe(100000);
  });
  it('a Packet Too Big about a non-first fragment of ours is delivered (for the path MTU) with no transport bytes', () => {
    const frag = new Uint8Array(8 + 64);
    frag[0] = 17; frag[2] = 0x05; frag[3] = 0x01; // offset 160 (×8), M
    const quoted = ipv6Packet({ src: US, dst: PEER, nextHeader: 44, payload: frag });
    const { net, icmp } = setup();
    icmp.receive(icmpIn({ kind: 'packetTooBig', code: 0, mtu: 1300, quoted }, ROUTER, US), 0);
    icmp.receive(icmpIn({ kind: 'destinationUnreachable', code: 4, quoted }, ROUTER, US), 0);
    expect(net.delivered).toHaveLength(1);
    expect(net.delivered[0]).toMatchObject({ icmpType: 3, icmpCode: 4, nextHopMtu: 1300, protocol: 17, quoted: new Uint8Array(0) });
    expect(icmp.stats()).toMatchObject({ Icmp6InErrorsRouted: 1, Icmp6InErrorsNotOurs: 1, Icmp6InErrors: 1 });
  });
  it('drops errors that are not about a packet of ours', () => {
    const { net, icmp } = setup();
    const theirs = ipv6Packet({ src: OTHER, dst: PEER, nextHeader: 17, payload: udp6(OTHER, PEER) });
    const withHopByHop = ipv6Packet({ src: US, dst: PEER, nextHeader: 0, payload: new Uint8Array(16) });
    icmp.receive(icmpIn({ kind: 'destinationUnreachable', code: 4, quoted: theirs }, ROUTER, US), 0); // not our source
    icmp.receive(icmpIn({ kind: 'destinationUnreachable', code: 4, quoted: ours }, ROUTER, ALL_NODES), 0); // to multicast
    icmp.receive(icmpIn({ kind: 'destinationUnreachable', code: 4, quoted: ours.subarray(0, 44) }, ROUTER, US), 0); // cut short
    icmp.receive(icmpIn({ kind: 'destinationUnreachable', code: 4, quoted: withHopByHop }, ROUTER, US), 0); // headers we never send
    expect(net.delivered).toEqual([]);
    expect(icmp.stats()).toMatchObject({ Icmp6InMsgs: 4, Icmp6InDestUnreachs: 4, Icmp6InErrorsNotOurs: 4, Icmp6InErrors: 4 });
  });
  it('counts unknown error types and delivers nothing', () => {
    const { net, icmp } = setup();
    icmp.receive(icmpIn({ kind: 'unknownError', type: 100, code: 0, quoted: ours }, ROUTER, US), 0);
    expect(net.delivered).toEqual([]);
    expect(icmp.stats()).toMatchObject({ Icmp6InMsgs: 1, Icmp6InUnknownErrors: 1 });
  });
  it('skips the checksum only when the link vouched for it', () => {
    const { net, icmp } = setup();
    const d = icmpIn({ kind: 'destinationUnreachable', code: 4, quoted: ours }, ROUTER, US, { checksumVerified: true });
    d.payload[2]! ^= 0xff;
    icmp.receive(d, 0);
    const bad = icmpIn({ kind: 'destinationUnreachable', code: 4, quoted: ours }, ROUTER, US);
    bad.payload[2]! ^= 0xff;
    icmp.receive(bad, 0);
    expect(net.delivered).toHaveLength(1);
    expect(icmp.stats()).toMatchObject({ Icmp6InErrorsRouted: 1, Icmp6InCsumErrors: 1, Icmp6InErrors: 1 });
  });
  it('counts an IPv4 datagram handed to it (a wiring bug) as an input error', () => {
    const { icmp } = setup();
    icmp.receive({ src: 1, dst: 2, protocol: 58, ttl: 1, tos: 0, payload: new Uint8Array(8), packet: new Uint8Array(28), headerLength: 20, toBroadcast: false, reassembled: false }, 0);
    expect(icmp.stats()).toMatchObject({ Icmp6InMsgs: 1, Icmp6InWrongFamily: 1, Icmp6InErrors: 1 });
  });
});

describe('errors sent (ErrorReporter6): RFC 4443 §2.4', () => {
  it('port unreachable: to the source, from the address it was sent to, quoting the packet, checksummed', () => {
    const { net, icmp } = setup();
    const d = udpIn({ dst: US_LL });
    icmp.destinationUnreachable(4, d, 0);
    const [out, ...rest] = net.take();
    expect(rest).toEqual([]);
    expect(out).toMatchObject({ src: US_LL, dst: PEER });
    expect(parsedOut(out!)).toEqual({ kind: 'destinationUnreachable', code: 4, quoted: d.packet });
    expect(icmp.stats()).toMatchObject({ Icmp6OutMsgs: 1, Icmp6OutDestUnreachs: 1, Icmp6ErrorsAsked: 1 });
  });
  it('quotes as much as fits in 1280 bytes', () => {
    const { net, icmp } = setup();
    const d = udpIn({}, 3000);
    icmp.destinationUnreachable(4, d, 0);
    const [out] = net.take();
    expect(out!.payload.length).toBe(8 + ICMP6_MAX_QUOTE);
    expect(40 + out!.payload.length).toBe(1280);
    expect(parsedOut(out!)).toEqual({ kind: 'destinationUnreachable', code: 4, quoted: d.packet.subarray(0, ICMP6_MAX_QUOTE) });
  });
  it('parameter problem carries the pointer; time exceeded its code', () => {
    const { net, icmp } = setup();
    const d = udpIn();
    icmp.parameterProblem(0, 6, d, 0);
    icmp.timeExceeded(1, d, 0);
    const [pp, te] = net.take();
    expect(parsedOut(pp!)).toEqual({ kind: 'parameterProblem', code: 0, pointer: 6, quoted: d.packet });
    expect(parsedOut(te!)).toEqual({ kind: 'timeExceeded', code: 1, quoted: d.packet });
    expect(icmp.stats()).toMatchObject({ Icmp6OutMsgs: 2, Icmp6OutParmProblems: 1, Icmp6OutTimeExcds: 1 });
  });
  it('completes a transport checksum the link left partial in the quote (offload)', () => {
    const { net, icmp } = setup();
    const d = udpIn();
    const full = d.packet.slice(46, 48);
    const partial = pseudoHeaderSum(PEER, US, 17, d.payload.length);
    d.packet[46] = partial >>> 8; d.packet[47] = partial & 0xff;
    d.checksumVerified = true;
    icmp.destinationUnreachable(4, d, 0);
    const r = parsedOut(net.take()[0]!) as { quoted: Uint8Array };
    expect(toHex(r.quoted.subarray(46, 48))).toBe(toHex(full));
  });

  const suppressed: [string, (icmp: Icmp6Layer) => void, keyof Icmp6Stats][] = [
    ['about an ICMPv6 error', (i) => i.destinationUnreachable(4, icmpIn({ kind: 'destinationUnreachable', code: 4, quoted: new Uint8Array(48) }), 0), 'Icmp6SuppressedAboutError'],
    ['about an unknown ICMPv6 error type', (i) => i.parameterProblem(1, 40, icmpIn({ kind: 'unknownError', type: 99, code: 0, quoted: new Uint8Array(8) }), 0), 'Icmp6SuppressedAboutError'],
    ['about a redirect', (i) => i.parameterProblem(0, 40, icmpIn({ kind: 'other', type: 137, code: 0, body: new Uint8Array(36) }), 0), 'Icmp6SuppressedAboutRedirect'],
    ['about a packet to a multicast address', (i) => i.destinationUnreachable(4, udpIn({ dst: ALL_NODES }), 0), 'Icmp6SuppressedMulticast'],
    ['time exceeded about a packet to multicast', (i) => i.timeExceeded!(1, udpIn({ dst: a6('ff05::1') }), 0), 'Icmp6SuppressedMulticast'],
    ['parameter problem code 0 about a packet to multicast', (i) => i.parameterProblem(0, 6, udpIn({ dst: ALL_NODES }), 0), 'Icmp6SuppressedMulticast'],
    ['parameter problem code 2, option type 11xxxxxx, to multicast', (i) => {
      const d = udpIn({ dst: ALL_NODES });
      d.packet[42] = 0xc5;
      i.parameterProblem(2, 42, d, 0);
    }, 'Icmp6SuppressedMulticast'],
    ['about a packet from ::', (i) => i.destinationUnreachable(4, udpIn({ src: IPV6_ANY }), 0), 'Icmp6SuppressedSource'],
    ['about a packet from a multicast source', (i) => i.destinationUnreachable(4, udpIn({ src: a6('ff02::5') }), 0), 'Icmp6SuppressedSource'],
    ['parameter problem code 2 about a packet from ::', (i) => {
      const d = udpIn({ src: IPV6_ANY, dst: ALL_NODES });
      d.packet[42] = 0x85;
      i.parameterProblem(2, 42, d, 0);
    }, 'Icmp6SuppressedSource'],
  ];
  for (const [name, act, reason] of suppressed) {
    it(`never ${name} (${reason})`, () => {
      const { net, icmp } = setup();
      act(icmp);
      expect(net.sent).toEqual([]);
      const s = icmp.stats();
      expect(s).toMatchObject({ Icmp6Suppressed: 1, Icmp6OutMsgs: 0, Icmp6RateLimited: 0 });
      expect(s[reason]).toBe(1);
      expect(brokenIdentities(s)).toEqual([]);
    });
  }
  it('answers about an informational ICMPv6 message (an echo request) like any packet', () => {
    const { net, icmp } = setup();
    icmp.parameterProblem(0, 4, icmpIn({ kind: 'echoRequest', ident: 1, seqNo: 1, data: new Uint8Array(4) }), 0);
    expect(net.sent).toHaveLength(1);
  });
  it('parameter problem code 2 for an option of type 10xxxxxx is sent even to a multicast destination, from our unicast', () => {
    const { net, icmp } = setup();
    const d = udpIn({ dst: ALL_NODES });
    d.packet[42] = 0x85;
    icmp.parameterProblem(2, 42, d, 0);
    const [out] = net.take();
    expect(out).toMatchObject({ src: US, dst: PEER });
    expect(parsedOut(out!)).toMatchObject({ kind: 'parameterProblem', code: 2, pointer: 42 });
  });
  it('from our address when the packet was not sent to one of ours', () => {
    const { net, icmp } = setup();
    icmp.destinationUnreachable(3, udpIn({ dst: OTHER }), 0);
    expect(net.take()[0]).toMatchObject({ src: US, dst: PEER });
  });
  it('rate-limits with the token bucket: a burst of 50, then 1000 a second (as ICMPv4)', () => {
    const { net, icmp } = setup();
    const d = udpIn();
    for (let i = 0; i < 60; i++) icmp.destinationUnreachable(4, d, 1000);
    expect(net.take()).toHaveLength(50);
    expect(icmp.stats()).toMatchObject({ Icmp6RateLimited: 10, Icmp6OutDestUnreachs: 50 });
    for (let i = 0; i < 20; i++) icmp.destinationUnreachable(4, d, 1010); // 10 ms: 10 tokens
    expect(net.take()).toHaveLength(10);
    expect(icmp.stats()).toMatchObject({ Icmp6RateLimited: 20, Icmp6OutDestUnreachs: 60, Icmp6ErrorsAsked: 80 });
  });
  it('takes its rate and burst from the options', () => {
    const { net, icmp } = setup({ errorRatePerSecond: 1, errorBurst: 2 });
    for (let i = 0; i < 5; i++) icmp.destinationUnreachable(4, udpIn(), 0);
    expect(net.take()).toHaveLength(2);
    icmp.destinationUnreachable(4, udpIn(), 1000);
    expect(net.take()).toHaveLength(1);
    expect(() => new Icmp6Layer(new FakeIp6(), { errorRatePerSecond: -1 })).toThrow();
  });
  it('counts an error the IP layer refused to send', () => {
    const { net, icmp } = setup();
    net.failNext = 'ENETUNREACH';
    icmp.destinationUnreachable(4, udpIn(), 0);
    expect(icmp.stats()).toMatchObject({ Icmp6OutErrors: 1, Icmp6ErrorSendFailed: 1, Icmp6OutDestUnreachs: 0, Icmp6OutMsgs: 0 });
  });
});

describe('accounting identities (documented on Icmp6Stats)', () => {
  const addr = fc.constantFrom(US, US_LL, PEER, ROUTER, OTHER, ALL_NODES, IPV6_ANY, a6('ff02::16'), a6('fe80::1'));
  const ours = ipv6Packet({ src: US, dst: PEER, nextHeader: 17, payload: udp6(US, PEER, 20) });
  const quoted = fc.oneof(
    fc.constant(ours),
    fc.uint8Array({ maxLength: 120 }),
    fc.integer({ min: 0, max: ours.length }).map((n) => ours.subarray(0, n)),
  );
  const repr: fc.Arbitrary<Icmp6Repr> = fc.oneof(
    fc.record({ kind: fc.constantFrom('echoRequest' as const, 'echoReply' as const), ident: fc.nat(0xffff), seqNo: fc.nat(0xffff), data: fc.uint8Array({ maxLength: 64 }) }),
    fc.record({ kind: fc.constant('destinationUnreachable' as const), code: fc.nat(255), quoted }),
    fc.record({ kind: fc.constant('packetTooBig' as const), code: fc.nat(255), mtu: fc.nat(), quoted }),
    fc.record({ kind: fc.constant('timeExceeded' as const), code: fc.nat(255), quoted }),
    fc.record({ kind: fc.constant('parameterProblem' as const), code: fc.nat(255), pointer: fc.nat(), quoted }),
    fc.record({ kind: fc.constant('unknownError' as const), type: fc.integer({ min: 5, max: 127 }), code: fc.nat(255), quoted }),
    fc.record({ kind: fc.constant('other' as const), type: fc.constantFrom(130, 131, 132, 133, 134, 135, 136, 137, 143, 128, 200, 255) as fc.Arbitrary<133>, code: fc.nat(255), body: fc.uint8Array({ minLength: 4, maxLength: 48 }) }), // emitIcmp6 needs the 8-byte header
  );
  type Step =
    | { op: 'receive'; repr: Icmp6Repr; src: Ipv6Address; dst: Ipv6Address; corrupt: number; cut: number; vouched: boolean }
    | { op: 'raw'; bytes: Uint8Array; src: Ipv6Address; dst: Ipv6Address; vouched: boolean }
    | { op: 'error'; which: 0 | 1 | 2; code: number; pointer: number; src: Ipv6Address; dst: Ipv6Address; proto: number; payload: Uint8Array }
    | { op: 'fail' };
  const step: fc.Arbitrary<Step> = fc.oneof(
    fc.record({ op: fc.constant('receive' as const), repr, src: addr, dst: addr, corrupt: fc.integer({ min: -1, max: 200 }), cut: fc.nat(300), vouched: fc.boolean() }),
    fc.record({ op: fc.constant('raw' as const), bytes: fc.uint8Array({ maxLength: 80 }), src: addr, dst: addr, vouched: fc.boolean() }),
    fc.record({
      op: fc.constant('error' as const), which: fc.constantFrom(0 as const, 1 as const, 2 as const), code: fc.nat(255), pointer: fc.nat(80),
      src: addr, dst: addr, proto: fc.constantFrom(17, 6, 58), payload: fc.uint8Array({ maxLength: 60 }),
    }),
    fc.constant({ op: 'fail' as const }),
  );

  it('hold after any stream of messages and error requests, and nothing throws', () => {
    fc.assert(fc.property(fc.array(step, { maxLength: 40 }), fc.integer({ min: 0, max: 3 }), (steps, burst) => {
      const { net, icmp } = setup({ errorBurst: burst });
      let now = 0;
      for (const s of steps) {
        now += 1;
        if (s.op === 'fail') { net.failNext = 'ENOBUFS'; continue; }
        if (s.op === 'raw') {
          icmp.receive(datagram6({ src: s.src, dst: s.dst, nextHeader: 58, payload: s.bytes }, { checksumVerified: s.vouched }), now);
          continue;
        }
        if (s.op === 'error') {
          const d = datagram6({ src: s.src, dst: s.dst, nextHeader: s.proto, payload: s.payload });
          if (s.which === 0) icmp.destinationUnreachable(s.code, d, now);
          else if (s.which === 1) icmp.parameterProblem(s.code, s.pointer, d, now);
          else icmp.timeExceeded(s.code, d, now);
          continue;
        }
        const bytes = icmp6Bytes(s.repr, s.src, s.dst);
        if (s.corrupt >= 0 && s.corrupt < bytes.length) bytes[s.corrupt]! ^= 0x5a;
        const payload = s.cut < bytes.length ? bytes.subarray(0, s.cut) : bytes;
        icmp.receive(datagram6({ src: s.src, dst: s.dst, nextHeader: 58, payload }, { checksumVerified: s.vouched }), now);
      }
      const st = icmp.stats();
      expect(st.Icmp6InMsgs).toBe(steps.filter((s) => s.op === 'receive' || s.op === 'raw').length);
      expect(st.Icmp6ErrorsAsked).toBe(steps.filter((s) => s.op === 'error').length);
      expect(st.Icmp6OutMsgs).toBe(net.sent.length);
      for (const out of net.sent) parsedOut(out); // everything sent is valid ICMPv6
      expect(brokenIdentities(st)).toEqual([]);
    }), { numRuns: 400 });
  });

  it('the identity check itself detects a miscount', () => {
    const { icmp } = setup();
    icmp.receive(icmpIn({ kind: 'echoRequest', ident: 1, seqNo: 1, data: new Uint8Array(1) }), 0);
    const s = { ...icmp.stats() };
    expect(brokenIdentities(s)).toEqual([]);
    s.Icmp6EchoIgnored++;
    expect(brokenIdentities(s)).toEqual(['InEchos: 1 != 2']);
  });
});

describe('ping client over ICMPv6 (RFC 4443 §4.1/§4.2; ping.ts with PING_IPV6)', () => {
  type Outcome = { err: { code: string; address?: string } | null; result: { address: Ipv6Address; bytes: number; ttl: number; seq: number; rttMs: number } | undefined };
  function pinging(options: Icmp6Options = {}) {
    const { net, icmp } = setup({ random: () => 0.5, ...options });
    net.route = (e, now) => icmp.receiveError(e, now);
    const outcomes: Outcome[] = [];
    const cb = (err: Outcome['err'], result: Outcome['result']) => { outcomes.push({ err, result }); };
    return { net, icmp, outcomes, cb };
  }
  /** The reply PEER's stack would send to `req` (same identifier, sequence number and data). */
  const replyTo = (req: Icmp6Repr, hopLimit = 61, data?: Uint8Array) => {
    if (req.kind !== 'echoRequest') throw new Error('not a request');
    return datagram6({
      src: PEER, dst: US, nextHeader: 58, hopLimit,
      payload: icmp6Bytes({ kind: 'echoReply', ident: req.ident, seqNo: req.seqNo, data: data ?? req.data }, PEER, US),
    });
  };

  it('sends a type 128 request with the pseudo-header checksum, and completes on the matching reply', () => {
    const { net, icmp, outcomes, cb } = pinging();
    icmp.ping(PEER, { size: 56 }, 1000, cb);
    const [out, ...rest] = net.take();
    expect(rest).toEqual([]);
    expect(out!.dst).toBe(PEER);
    expect(out!.payload[0]).toBe(128);
    expect(out!.payload.length).toBe(64);
    const req = parsedOut(out!); // verifies the checksum over the IPv6 pseudo-header
    expect(req).toMatchObject({ kind: 'echoRequest', ident: 0x8000, seqNo: 1 });
    // Not the ICMPv4 checksum: the message alone does not sum to 0xffff.
    expect(sum16(out!.payload)).not.toBe(0xffff);
    expect(outcomes).toEqual([]); // never from inside ping()
    icmp.receive(replyTo(req, 61), 1003.5);
    expect(outcomes).toEqual([{ err: null, result: { rttMs: 3.5, bytes: 64, ttl: 61, id: 0x8000, seq: 1, address: PEER } }]);
    expect(icmp.outstandingPings).toBe(0);
    expect(icmp.pollAt()).toBe(Infinity);
    const s = icmp.stats();
    expect(s).toMatchObject({ Icmp6OutEchos: 1, Icmp6OutMsgs: 1, Icmp6InEchoReplies: 1, Icmp6EchoReplyUnmatched: 0, Icmp6EchoReplyCorrupt: 0 });
    expect(brokenIdentities(s)).toEqual([]);
  });

  it('any size 0..65527 (the IPv6 payload bound), a bigger one is refused', () => {
    const { net, icmp, cb } = pinging();
    for (const size of [0, 7, 8, 4000, 65527]) {
      icmp.ping(PEER, { size }, 0, cb);
      const [out] = net.take();
      expect(out!.payload.length).toBe(8 + size);
      expect(parsedOut(out!).kind).toBe('echoRequest');
    }
    expect(() => icmp.ping(PEER, { size: 65528 }, 0, cb)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => icmp.ping(0x0a070001 as unknown as Ipv6Address, {}, 0, cb)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  it('a reply from another host, or with other data, does not complete the ping; the deadline does (ETIMEDOUT)', () => {
    const { net, icmp, outcomes, cb } = pinging();
    icmp.ping(PEER, { size: 32, timeout: 500 }, 0, cb);
    const req = parsedOut(net.take()[0]!);
    if (req.kind !== 'echoRequest') throw new Error('no request');
    const wrongHost = datagram6({
      src: OTHER, dst: US, nextHeader: 58,
      payload: icmp6Bytes({ kind: 'echoReply', ident: req.ident, seqNo: req.seqNo, data: req.data }, OTHER, US),
    });
    icmp.receive(wrongHost, 10);
    const other = req.data.slice();
    other[20]! ^= 1;
    icmp.receive(replyTo(req, 64, other), 11);
    expect(outcomes).toEqual([]);
    expect(icmp.stats()).toMatchObject({ Icmp6EchoReplyUnmatched: 1, Icmp6EchoReplyCorrupt: 1, Icmp6InEchoReplies: 2 });
    expect(icmp.pollAt()).toBe(500);
    icmp.poll(499);
    expect(outcomes).toEqual([]);
    icmp.poll(500);
    expect(outcomes).toEqual([{ err: expect.objectContaining({ code: 'ETIMEDOUT', syscall: 'ping', address: 'fd07::1' }), result: undefined }]);
    // The late reply is unmatched now.
    icmp.receive(replyTo(req), 600);
    expect(outcomes).toHaveLength(1);
    expect(brokenIdentities(icmp.stats())).toEqual([]);
  });

  it.each([
    [1, 3, 'EHOSTUNREACH'], // address unreachable
    [1, 4, 'ECONNREFUSED'], // port unreachable
    [1, 0, 'ENETUNREACH'], // no route
    [3, 0, 'EHOSTUNREACH'], // hop limit exceeded
  ] as const)('an ICMPv6 error %i/%i quoting our request fails the ping with %s', (type, code, errno) => {
    const { net, icmp, outcomes, cb } = pinging();
    icmp.ping(PEER, {}, 0, cb);
    const sent = net.take()[0]!;
    const quoted = ipv6Packet({ src: US, dst: PEER, nextHeader: 58, payload: sent.payload });
    const repr: Icmp6Repr = type === 1
      ? { kind: 'destinationUnreachable', code, quoted }
      : { kind: 'timeExceeded', code, quoted };
    icmp.receive(icmpIn(repr, ROUTER, US), 5);
    expect(outcomes).toEqual([{ err: expect.objectContaining({ code: errno, syscall: 'ping', address: 'fd07::1' }), result: undefined }]);
    expect(icmp.outstandingPings).toBe(0);
    expect(icmp.pollAt()).toBe(Infinity);
  });

  it('an error quoting an echo request that is not outstanding changes nothing', () => {
    const { net, icmp, outcomes, cb } = pinging();
    icmp.ping(PEER, {}, 0, cb);
    const sent = net.take()[0]!;
    const payload = sent.payload.slice();
    payload[7]! ^= 0x55; // another sequence number
    const quoted = ipv6Packet({ src: US, dst: PEER, nextHeader: 58, payload });
    icmp.receive(icmpIn({ kind: 'destinationUnreachable', code: 3, quoted }, ROUTER, US), 5);
    expect(outcomes).toEqual([]);
    expect(icmp.outstandingPings).toBe(1);
  });

  it('a send failure (no route) is delivered by the next poll, counted in Icmp6OutErrors', () => {
    const { net, icmp, outcomes, cb } = pinging();
    net.failNext = 'ENETUNREACH';
    icmp.ping(PEER, {}, 7, cb);
    expect(outcomes).toEqual([]);
    expect(icmp.pollAt()).toBe(7);
    icmp.poll(7);
    expect(outcomes).toEqual([{ err: expect.objectContaining({ code: 'ENETUNREACH' }), result: undefined }]);
    const s = icmp.stats();
    expect(s).toMatchObject({ Icmp6OutErrors: 1, Icmp6PingSendFailed: 1, Icmp6OutEchos: 0, Icmp6OutMsgs: 0 });
    expect(brokenIdentities(s)).toEqual([]);
  });

  it('cancelPing forgets the ping: no callback, the reply is unmatched', () => {
    const { net, icmp, outcomes, cb } = pinging();
    const h = icmp.ping(PEER, {}, 0, cb);
    const req = parsedOut(net.take()[0]!);
    expect(icmp.cancelPing(h)).toBe(true);
    expect(icmp.cancelPing(h)).toBe(false);
    icmp.receive(replyTo(req), 1);
    icmp.poll(5000);
    expect(outcomes).toEqual([]);
    expect(icmp.stats().Icmp6EchoReplyUnmatched).toBe(1);
  });

  it('bounded: maxOutstandingPings outstanding, the next fails with ENOBUFS at the next poll', () => {
    const { net, icmp, outcomes, cb } = pinging({ maxOutstandingPings: 2 });
    for (let i = 0; i < 3; i++) icmp.ping(PEER, {}, 0, cb);
    expect(net.take()).toHaveLength(2);
    icmp.poll(0);
    expect(outcomes).toEqual([{ err: expect.objectContaining({ code: 'ENOBUFS' }), result: undefined }]);
  });
});
