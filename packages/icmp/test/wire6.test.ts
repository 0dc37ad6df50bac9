import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ipv6FromBytes, parseIpv6Address, type Ipv6Address } from '@netstack/ip';
import {
  ICMP6_MAX_QUOTE,
  Icmp6Packet,
  emitIcmp6,
  icmp6BufferLen,
  icmp6Bytes,
  mayAnswerWithError6,
  parseIcmp6,
  parseQuotedIpv6,
  type Icmp6ErrorType,
  type Icmp6OtherType,
  type Icmp6Repr,
  type Invoking6,
} from '../src/index.js';
import { hex, toHex } from './helpers.js';

const a6 = (text: string): Ipv6Address => {
  const a = parseIpv6Address(text);
  if (a === undefined) throw new Error(`bad address ${text}`);
  return a;
};
const LOOP = a6('::1');
const K = a6('fd07::1'); // the kernel side
const S = a6('fd07::2'); // the stack
const ROUTER = a6('fd07::ff');

// Captured from Linux (iputils 20221126, kernel on this machine) in a private network
// namespace: `ping -6 -c1 ::1`, read off `lo` with an AF_PACKET socket. The IPv6 header
// (40 bytes) then the ICMPv6 message; the checksums are the kernel's, and agree with the
// independent Python computation in wire6-golden.py.
const KERNEL_REQUEST = hex(
  '6006116b00403a40 00000000000000000000000000000001 00000000000000000000000000000001'
  + '8000cabf5d5a0001 9d4e166b00000000e1db030000000000 101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637',
);
const KERNEL_REPLY = hex(
  '6003656300403a40 00000000000000000000000000000001 00000000000000000000000000000001'
  + '8100c9bf5d5a0001 9d4e166b00000000e1db030000000000 101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f3031323334353637',
);

// Computed by wire6-golden.py (Python, its own RFC 1071 sum and RFC 8200 §8.1 pseudo-header).
const ECHO = hex('800049a9 12340001 6162636465'); // fd07::1 -> fd07::2, odd length
/** A UDP datagram fd07::1 port 12345 -> fd07::2 port 9, "hi" (IPv6 header + UDP header + data). */
const INVOKING = hex(
  '60000000000a1140 fd070000000000000000000000000001 fd070000000000000000000000000002 30390009000a6d1c 6869',
);
const UNREACH = hex(`0104934500000000 ${toHex(INVOKING)}`); // fd07::2 -> fd07::1, port unreachable
const PTB = hex(`02008c4c00000500 ${toHex(INVOKING)}`); // fd07::ff -> fd07::1, MTU 1280
const PARAM = hex(`0401904200000006 ${toHex(INVOKING)}`); // fd07::2 -> fd07::1, code 1, pointer 6
const TIME = hex(`0301914800000000 ${toHex(INVOKING)}`); // fd07::2 -> fd07::1, reassembly time exceeded
const RS = hex('85007d3600000000'); // fe80::1 -> ff02::2, router solicitation (RFC 4861 §4.1)
const MLD2 = hex('8f00710600000001 04000000ff0200000000000000000001ff000002'); // fe80::1 -> ff02::16 (RFC 3810 §5.2)

const parse = (b: Uint8Array, src: Ipv6Address, dst: Ipv6Address) => parseIcmp6(b, src, dst);

describe('ICMPv6 wire: golden bytes', () => {
  it("parses the echo request Linux's ping -6 sends", () => {
    const r = parse(KERNEL_REQUEST.subarray(40), LOOP, LOOP);
    expect(r).toEqual({ kind: 'echoRequest', ident: 0x5d5a, seqNo: 1, data: KERNEL_REQUEST.subarray(48) });
  });
  it("emits the request byte for byte, and the reply Linux's kernel sent to it", () => {
    const data = KERNEL_REQUEST.subarray(48);
    expect(toHex(icmp6Bytes({ kind: 'echoRequest', ident: 0x5d5a, seqNo: 1, data }, LOOP, LOOP))).toBe(toHex(KERNEL_REQUEST.subarray(40)));
    expect(toHex(icmp6Bytes({ kind: 'echoReply', ident: 0x5d5a, seqNo: 1, data }, LOOP, LOOP))).toBe(toHex(KERNEL_REPLY.subarray(40)));
    expect(parse(KERNEL_REPLY.subarray(40), LOOP, LOOP)).toMatchObject({ kind: 'echoReply', ident: 0x5d5a, seqNo: 1 });
  });
  it('emits and parses an odd-length echo between two global addresses', () => {
    const repr: Icmp6Repr = { kind: 'echoRequest', ident: 0x1234, seqNo: 1, data: hex('6162636465') };
    expect(toHex(icmp6Bytes(repr, K, S))).toBe(toHex(ECHO));
    expect(parse(ECHO, K, S)).toEqual(repr);
  });
  const errors: [string, Icmp6Repr, Uint8Array, Ipv6Address][] = [
    ['port unreachable', { kind: 'destinationUnreachable', code: 4, quoted: INVOKING }, UNREACH, S],
    ['packet too big with the MTU', { kind: 'packetTooBig', code: 0, mtu: 1280, quoted: INVOKING }, PTB, ROUTER],
    ['parameter problem with the pointer', { kind: 'parameterProblem', code: 1, pointer: 6, quoted: INVOKING }, PARAM, S],
    ['time exceeded', { kind: 'timeExceeded', code: 1, quoted: INVOKING }, TIME, S],
  ];
  for (const [name, repr, bytes, src] of errors) {
    it(`emits and parses ${name}`, () => {
      expect(toHex(icmp6Bytes(repr, src, K))).toBe(toHex(bytes));
      expect(parse(bytes, src, K)).toEqual(repr);
    });
  }
  it('recognises a router solicitation and an MLDv2 report as other', () => {
    expect(parse(RS, a6('fe80::1'), a6('ff02::2'))).toEqual({ kind: 'other', type: 133, code: 0, body: hex('00000000') });
    expect(parse(MLD2, a6('fe80::1'), a6('ff02::16'))).toEqual({ kind: 'other', type: 143, code: 0, body: MLD2.subarray(4) });
    expect(toHex(icmp6Bytes({ kind: 'other', type: 143, code: 0, body: MLD2.subarray(4) }, a6('fe80::1'), a6('ff02::16')))).toBe(toHex(MLD2));
  });
  // Computed by wire6-golden.py (step 8): each at its fixed length (RFC 2710 §3, RFC 4861 §4.2-4.5).
  const others: [string, Icmp6OtherType, string, string, string][] = [
    ['MLD query (general, max response delay 10 s)', 130, 'fe80::1', 'ff02::1', '82005917 27100000 00000000000000000000000000000000'],
    ['MLDv1 report', 131, 'fe80::1', 'ff02::1:ff00:2', '8300821d 00000000 ff0200000000000000000001ff000002'],
    ['MLD done', 132, 'fe80::1', 'ff02::2', '8400801f 00000000 ff0200000000000000000001ff000002'],
    ['router advertisement (hop limit 64, lifetime 1800 s)', 134, 'fe80::1', 'ff02::1', '86003527 40000708 00000000 00000000'],
    ['neighbour solicitation for fd07::2', 135, 'fe80::1', 'ff02::1:ff00:2', '87007f1a 00000000 fd070000000000000000000000000002'],
    ['neighbour advertisement (solicited, override)', 136, 'fd07::1', 'fd07::2', '88002091 60000000 fd070000000000000000000000000001'],
    ['redirect', 137, 'fe80::1', 'fd07::2', '89004ed4 00000000 fe800000000000000000000000000002 20010db8000000000000000000000001'],
  ];
  for (const [name, type, src, dst, text] of others) {
    it(`recognises ${name} (type ${type}) as other: parse and emit byte for byte; one byte short is refused`, () => {
      const bytes = hex(text);
      const repr: Icmp6Repr = { kind: 'other', type, code: 0, body: bytes.subarray(4) };
      expect(parse(bytes, a6(src), a6(dst))).toEqual(repr);
      expect(toHex(icmp6Bytes(repr, a6(src), a6(dst)))).toBe(toHex(bytes));
      expect(parseIcmp6(bytes.subarray(0, bytes.length - 1), a6(src), a6(dst), { verifyChecksum: false })).toBe('truncated');
    });
  }
  it('writes reserved bytes as zero even over a dirty buffer', () => {
    const buf = new Uint8Array(8 + INVOKING.length).fill(0xff);
    emitIcmp6({ kind: 'destinationUnreachable', code: 4, quoted: INVOKING }, new Icmp6Packet(buf), S, K);
    expect(toHex(buf)).toBe(toHex(UNREACH));
  });
});

describe('ICMPv6 wire: the pseudo-header checksum (RFC 4443 §2.3)', () => {
  it('covers the source, the destination and the length', () => {
    expect(parse(ECHO, K, S)).toMatchObject({ kind: 'echoRequest' });
    expect(parse(ECHO, S, K)).toMatchObject({ kind: 'echoRequest' }); // swapped: the same words, the same sum
    expect(parse(ECHO, K, a6('fd07::3'))).toBe('checksum');
    expect(parse(ECHO, a6('fd17::1'), S)).toBe('checksum');
    expect(parse(ECHO, a6('fd07::1:0'), S)).toMatchObject({ kind: 'echoRequest' }); // a word moved: the same sum
    const padded = new Uint8Array(ECHO.length + 2); // two zero bytes more: only the pseudo-header length differs
    padded.set(ECHO);
    expect(parse(padded, K, S)).toBe('checksum');
  });
  it('parses without verification when asked', () => {
    const b = ECHO.slice();
    b[2] = 0;
    expect(parse(b, K, S)).toBe('checksum');
    expect(parseIcmp6(b, K, S, { verifyChecksum: false })).toMatchObject({ kind: 'echoRequest', seqNo: 1 });
  });
});

describe('ICMPv6 wire: rejects what it cannot represent', () => {
  it('needs the 8-byte header', () => {
    expect(parse(ECHO.subarray(0, 7), K, S)).toBe('truncated');
    expect(Icmp6Packet.checked(new Uint8Array(7))).toBeUndefined();
    expect(Icmp6Packet.checked(new Uint8Array(8))).toBeInstanceOf(Icmp6Packet);
  });
  it('needs the fixed part of each recognised informational type (a 23-byte neighbour solicitation)', () => {
    const ns = icmp6Bytes({ kind: 'other', type: 135, code: 0, body: new Uint8Array(19) }, S, K);
    expect(ns.length).toBe(23);
    expect(parse(ns, S, K)).toBe('truncated');
    const ns24 = icmp6Bytes({ kind: 'other', type: 135, code: 0, body: new Uint8Array(20) }, S, K);
    expect(parse(ns24, S, K)).toMatchObject({ kind: 'other', type: 135 });
  });
  it('reports unknown informational types as unsupported (§2.4(b)) and passes unknown error types on (§2.4(a))', () => {
    const info = new Uint8Array(12);
    info[0] = 200;
    new Icmp6Packet(info).fillChecksum(K, S);
    expect(parse(info, K, S)).toBe('unsupported');
    const err = new Uint8Array(8 + INVOKING.length);
    err[0] = 5;
    err[1] = 7;
    err.set(INVOKING, 8);
    new Icmp6Packet(err).fillChecksum(K, S);
    expect(parse(err, K, S)).toEqual({ kind: 'unknownError', type: 5, code: 7, quoted: INVOKING });
  });
  it('quotes no more of the invoking packet than fits in 1280 bytes (§2.4(c))', () => {
    const big = new Uint8Array(3000).map((_, i) => i & 0xff);
    for (const repr of [
      { kind: 'destinationUnreachable', code: 4, quoted: big },
      { kind: 'packetTooBig', code: 0, mtu: 1280, quoted: big },
      { kind: 'timeExceeded', code: 0, quoted: big },
      { kind: 'parameterProblem', code: 0, pointer: 0, quoted: big },
    ] satisfies Icmp6Repr[]) {
      const b = icmp6Bytes(repr, S, K);
      expect(40 + b.length).toBe(1280);
      expect(parse(b, S, K)).toEqual({ ...repr, quoted: big.subarray(0, ICMP6_MAX_QUOTE) });
    }
    const fits = big.subarray(0, ICMP6_MAX_QUOTE);
    expect(icmp6Bytes({ kind: 'timeExceeded', code: 0, quoted: fits }, S, K).length).toBe(1240);
  });
});

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = fc.uint8Array({ maxLength: 1400 });
const addr = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => ipv6FromBytes(b)!);
const otherType = fc.constantFrom<Icmp6OtherType>(130, 131, 132, 133, 134, 135, 136, 137, 143);
const reprArb: fc.Arbitrary<Icmp6Repr> = fc.oneof(
  fc.record({ kind: fc.constant('echoRequest' as const), ident: u16, seqNo: u16, data: bytes }),
  fc.record({ kind: fc.constant('echoReply' as const), ident: u16, seqNo: u16, data: bytes }),
  fc.record({ kind: fc.constant('destinationUnreachable' as const), code: u8, quoted: bytes }),
  fc.record({ kind: fc.constant('packetTooBig' as const), code: u8, mtu: u32, quoted: bytes }),
  fc.record({ kind: fc.constant('timeExceeded' as const), code: u8, quoted: bytes }),
  fc.record({ kind: fc.constant('parameterProblem' as const), code: u8, pointer: u32, quoted: bytes }),
  fc.record({ kind: fc.constant('unknownError' as const), type: fc.integer({ min: 5, max: 127 }), code: u8, quoted: bytes }),
  fc.record({
    kind: fc.constant('other' as const),
    type: otherType,
    code: u8,
    body: fc.uint8Array({ minLength: 36, maxLength: 200 }),
  }),
);
const clipped = (r: Icmp6Repr): Icmp6Repr => ('quoted' in r ? { ...r, quoted: r.quoted.subarray(0, ICMP6_MAX_QUOTE) } : r);

describe('ICMPv6 wire: properties', () => {
  it('parse(emit(r)) = r, quotes cut to the minimum MTU', () => {
    fc.assert(fc.property(reprArb, addr, addr, (r, src, dst) => {
      expect(parseIcmp6(icmp6Bytes(r, src, dst), src, dst)).toEqual(clipped(r));
    }));
  });
  it('writes exactly icmp6BufferLen bytes into a larger buffer', () => {
    fc.assert(fc.property(reprArb, addr, addr, (r, src, dst) => {
      const len = icmp6BufferLen(r);
      const buf = new Uint8Array(len + 16).fill(0xa5);
      expect(emitIcmp6(r, new Icmp6Packet(buf), src, dst)).toBe(len);
      expect(buf.subarray(len).every((b) => b === 0xa5)).toBe(true);
      expect(new Icmp6Packet(buf.subarray(0, len)).verifyChecksum(src, dst)).toBe(true);
    }));
  });
  it('any single corrupted byte of the message or the pseudo-header addresses is caught', () => {
    fc.assert(fc.property(reprArb, addr, addr, fc.nat(), fc.integer({ min: 1, max: 255 }), (r, src, dst, at, flip) => {
      const b = icmp6Bytes(r, src, dst);
      const all = new Uint8Array([...Array.from(src, (c) => c.charCodeAt(0)), ...Array.from(dst, (c) => c.charCodeAt(0)), ...b]);
      const i = at % all.length;
      all[i]! ^= flip;
      const s2 = ipv6FromBytes(all.subarray(0, 16))!;
      const d2 = ipv6FromBytes(all.subarray(16, 32))!;
      expect(parseIcmp6(all.subarray(32), s2, d2)).toBe('checksum');
    }));
  });
  it('any bytes, any addresses: parsing never throws', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), addr, addr, fc.boolean(), (b, src, dst, verify) => {
      const r = parseIcmp6(b, src, dst, { verifyChecksum: verify });
      expect(typeof r === 'string' || typeof r.kind === 'string').toBe(true);
      const q = parseQuotedIpv6(b);
      if (q !== undefined) expect(q.headerLength + q.transport.length).toBe(b.length);
    }), { numRuns: 2000 });
  });
  it('any message with a valid checksum and a recognised type parses (types drawn over all 256)', () => {
    fc.assert(fc.property(u8, fc.uint8Array({ minLength: 40, maxLength: 80 }), addr, addr, (type, body, src, dst) => {
      const b = new Uint8Array(body);
      b[0] = type;
      new Icmp6Packet(b).fillChecksum(src, dst);
      const r = parseIcmp6(b, src, dst);
      const known = type < 128 || [128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 143].includes(type);
      expect(r === 'unsupported').toBe(!known);
      expect(r !== 'checksum' && r !== 'truncated').toBe(true);
    }));
  });
});

describe('RFC 4443 §2.4(e): when an error may be sent', () => {
  const FF02_1 = a6('ff02::1');
  const base: Invoking6 = { src: K, dst: S };
  const PU: [Icmp6ErrorType, number] = [1, 4]; // port unreachable
  const PTB_: [Icmp6ErrorType, number] = [2, 0];
  const PP2: [Icmp6ErrorType, number] = [4, 2];
  const rows: [string, Invoking6, [Icmp6ErrorType, number], true | string][] = [
    ['a UDP datagram to our unicast address', base, PU, true],
    ['an echo request (informational)', { ...base, icmp6Type: 128 }, PU, true],
    ['a neighbour solicitation', { ...base, icmp6Type: 135 }, [4, 0], true],
    ['(e.1) a destination unreachable', { ...base, icmp6Type: 1 }, PU, 'aboutError'],
    ['(e.1) a packet too big, even for packet too big', { ...base, icmp6Type: 2 }, PTB_, 'aboutError'],
    ['(e.1) an error of unknown type', { ...base, icmp6Type: 100 }, PU, 'aboutError'],
    ['(e.1) type 127, the last error type', { ...base, icmp6Type: 127 }, PP2, 'aboutError'],
    ['(e.2) a redirect', { ...base, icmp6Type: 137 }, [4, 0], 'aboutRedirect'],
    ['(e.3) a multicast destination', { ...base, dst: FF02_1 }, PU, 'multicastDestination'],
    ['(e.3) a multicast destination, time exceeded', { ...base, dst: a6('ff0e::101') }, [3, 0], 'multicastDestination'],
    ['(e.3) exception: packet too big to a multicast', { ...base, dst: FF02_1 }, PTB_, true],
    ['(e.3) exception: option type 10xxxxxx to a multicast', { ...base, dst: FF02_1, optionType: 0x80 }, PP2, true],
    ['(e.3) exception: option type 10111111', { ...base, dst: FF02_1, optionType: 0xbf }, PP2, true],
    ['(e.3) option type 11xxxxxx: only to unicast', { ...base, dst: FF02_1, optionType: 0xc2 }, PP2, 'multicastDestination'],
    ['(e.3) option type 11xxxxxx to unicast', { ...base, optionType: 0xc2 }, PP2, true],
    ['(e.3) code 2 with no option type', { ...base, dst: FF02_1 }, PP2, 'multicastDestination'],
    ['(e.3) parameter problem code 0 to a multicast', { ...base, dst: FF02_1, optionType: 0x80 }, [4, 0], 'multicastDestination'],
    ['(e.4) a link-layer multicast', { ...base, linkMulticast: true }, PU, 'linkMulticast'],
    ['(e.4) exception: packet too big', { ...base, linkMulticast: true }, PTB_, true],
    ['(e.5) a link-layer broadcast', { ...base, linkBroadcast: true }, PU, 'linkBroadcast'],
    ['(e.5) exception: option type 10xxxxxx', { ...base, linkBroadcast: true, optionType: 0x9f }, PP2, true],
    ['(e.6) the unspecified source', { ...base, src: a6('::') }, PU, 'sourceNotUnique'],
    ['(e.6) the unspecified source, packet too big', { ...base, src: a6('::') }, PTB_, 'sourceNotUnique'],
    ['(e.6) a multicast source', { ...base, src: FF02_1 }, PTB_, 'sourceNotUnique'],
    ['(e.6) an anycast source', { ...base, srcIsAnycast: true }, PU, 'sourceNotUnique'],
    ['::1 is a unicast source', { ...base, src: LOOP }, PU, true],
  ];
  for (const [name, invoking, [type, code], expected] of rows) {
    it(`${name}: ${expected === true ? 'may' : expected}`, () => {
      expect(mayAnswerWithError6(invoking, type, code)).toBe(expected);
    });
  }
  it('never about an ICMPv6 error, whatever else holds', () => {
    fc.assert(fc.property(addr, addr, fc.integer({ min: 0, max: 127 }), fc.constantFrom<Icmp6ErrorType>(1, 2, 3, 4), u8, (src, dst, t, type, code) => {
      expect(mayAnswerWithError6({ src, dst, icmp6Type: t }, type, code)).toBe('aboutError');
    }));
  });
});

describe('parseQuotedIpv6: the invoking packet in a received error', () => {
  it('finds the flow of the quoted UDP datagram', () => {
    const r = parse(UNREACH, S, K);
    if (typeof r === 'string' || r.kind !== 'destinationUnreachable') throw new Error(String(r));
    const q = parseQuotedIpv6(r.quoted);
    expect(q).toEqual({ src: K, dst: S, protocol: 17, headerLength: 40, fragmentOffset: 0, transport: INVOKING.subarray(40), unparsed: false });
    expect(toHex(q!.transport.subarray(0, 4))).toBe('30390009'); // ports 12345 -> 9
  });
  /** INVOKING with a fragment header (RFC 8200 §4.5) of the given offset (8-byte units) inserted. */
  const withFragment = (offset: number, more: boolean): Uint8Array => {
    const b = new Uint8Array(INVOKING.length + 8);
    b.set(INVOKING.subarray(0, 40));
    b[6] = 44;
    b[40] = 17;
    const om = (offset << 3) | (more ? 1 : 0);
    b[42] = om >>> 8;
    b[43] = om & 0xff;
    b.set([0xde, 0xad, 0xbe, 0xef], 44);
    b.set(INVOKING.subarray(40), 48);
    return b;
  };
  it('walks a fragment header: a first fragment carries the transport header', () => {
    expect(parseQuotedIpv6(withFragment(0, true))).toMatchObject({ protocol: 17, headerLength: 48, fragmentOffset: 0, unparsed: false });
    expect(toHex(parseQuotedIpv6(withFragment(0, false))!.transport)).toBe(toHex(INVOKING.subarray(40))); // atomic fragment, RFC 6946
  });
  it('reports the offset of a later fragment and needs no transport bytes from it', () => {
    const later = withFragment(0x1fff, false).subarray(0, 50);
    expect(parseQuotedIpv6(later)).toMatchObject({ protocol: 17, headerLength: 48, fragmentOffset: 0x1fff, unparsed: false });
  });
  it('reports other extension headers as unparsed', () => {
    for (const nh of [0, 43, 60, 51]) {
      const b = INVOKING.slice();
      b[6] = nh;
      expect(parseQuotedIpv6(b)).toMatchObject({ protocol: nh, headerLength: 40, unparsed: true });
    }
    const twoFragments = withFragment(0, true);
    twoFragments[40] = 44;
    expect(parseQuotedIpv6(twoFragments)).toMatchObject({ protocol: 44, headerLength: 48, unparsed: true });
  });
  it('refuses what is not a whole IPv6 header with 8 transport bytes', () => {
    expect(parseQuotedIpv6(INVOKING.subarray(0, 48))).toBeDefined();
    expect(parseQuotedIpv6(INVOKING.subarray(0, 47))).toBeUndefined();
    expect(parseQuotedIpv6(INVOKING.subarray(0, 47), 7)).toBeDefined();
    expect(parseQuotedIpv6(INVOKING.subarray(0, 39), 0)).toBeUndefined();
    const v4 = INVOKING.slice();
    v4[0] = 0x45;
    expect(parseQuotedIpv6(v4)).toBeUndefined();
    expect(parseQuotedIpv6(withFragment(0, true).subarray(0, 47), 0)).toBeUndefined(); // fragment header cut
    expect(parseQuotedIpv6(withFragment(0, true).subarray(0, 55))).toBeUndefined();
  });
});
