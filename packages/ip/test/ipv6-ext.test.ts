/**
 * The IPv6 extension header walk (RFC 8200 §4, RFC 5095, RFC 6946, RFC 7045): golden
 * bytes of each header, the §4.2 option actions, routing, fragments, the chain bound,
 * and fast-check: any chain, malformed included, is a record, never a throw.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  IPV6_DROP_REASONS, IPV6_MAX_CHAIN_BYTES, IPV6_MAX_EXT_HEADERS, emitIpv6, emitIpv6FragmentHeader, isIpv6ExtDrop,
  parseIpv6Address, walkIpv6Extensions, type Ipv6ExtChain, type Ipv6ExtDrop, type Ipv6ExtResult, type Ipv6Stats,
} from '@netstack/ip';
import { FakeTransport } from './harness.js';
import { Reporter6, makeLayer6 } from './harness6.js';

const UNICAST = parseIpv6Address('fd07::2')!;
const MULTICAST = parseIpv6Address('ff02::16')!; // all MLDv2-capable routers
const HBH = 0, ROUTING = 43, FRAG = 44, DSTOPT = 60, UDP = 17, ICMP6 = 58, NONE = 59;

const hex = (s: string): number[] => s.replace(/\s/g, '').match(/../g)!.map((h) => parseInt(h, 16));

/** A packet: fixed header (first Next Header `nh`), the extension bytes, then `upper` bytes of payload. */
function packet(nh: number, ext: number[], upper = 8, dst = UNICAST): Uint8Array {
  const b = new Uint8Array(40 + ext.length + upper);
  emitIpv6({ src: parseIpv6Address('fd07::1')!, dst, nextHeader: nh, hopLimit: 64, trafficClass: 0, flowLabel: 0, payloadLength: b.length - 40 }, b, 0);
  b.set(ext, 40);
  return b;
}

function chain(r: Ipv6ExtResult): Ipv6ExtChain {
  if (isIpv6ExtDrop(r)) throw new Error(`dropped: ${JSON.stringify(r)}`);
  return r;
}
function drop(r: Ipv6ExtResult): Ipv6ExtDrop {
  if (!isIpv6ExtDrop(r)) throw new Error(`not dropped: ${JSON.stringify(r)}`);
  return r;
}

/** Options header (Hop-by-Hop or Destination Options) around an options area, padded to 8n with Pad1/PadN. */
function optionsHeader(next: number, opts: number[]): number[] {
  const body = [next, 0, ...opts];
  const pad = (8 - (body.length % 8)) % 8;
  if (pad === 1) body.push(0);
  else if (pad > 1) body.push(1, pad - 2, ...new Array<number>(pad - 2).fill(0));
  body[1] = body.length / 8 - 1;
  return body;
}

describe('golden bytes', () => {
  it("Hop-by-Hop with Router Alert + PadN, as Linux's MLD reports carry it (net/ipv6/mcast.c mld_newpack: { IPPROTO_ICMPV6, 0, IPV6_TLV_ROUTERALERT, 2, 0, 0, IPV6_TLV_PADN, 0 })", () => {
    const hbh = hex('3a00 0502 0000 0100');
    expect(optionsHeader(ICMP6, [5, 2, 0, 0])).toEqual(hbh);
    const r = chain(walkIpv6Extensions(packet(HBH, hbh, 28, MULTICAST)));
    expect(r).toEqual({ upperProtocol: ICMP6, upperOffset: 48, nextHeaderField: 40, end: 76, headers: 1, fragment: undefined });
  });
  it('fills and returns the record it is given', () => {
    const into: Ipv6ExtChain = { upperProtocol: -1, upperOffset: -1, nextHeaderField: -1, end: -1, headers: -1, fragment: undefined };
    expect(walkIpv6Extensions(packet(HBH, hex('3a00 0502 0000 0100')), into)).toBe(into);
    expect(into).toEqual({ upperProtocol: ICMP6, upperOffset: 48, nextHeaderField: 40, end: 56, headers: 1, fragment: undefined });
  });
  it('Destination Options with only PadN (RFC 8200 §4.2 layout: NH, Hdr Ext Len 0, PadN len 4)', () => {
    const d = hex('1100 0104 0000 0000');
    expect(optionsHeader(UDP, [])).toEqual(d);
    expect(chain(walkIpv6Extensions(packet(DSTOPT, d)))).toMatchObject({ upperProtocol: UDP, upperOffset: 48, headers: 1 });
  });
  it('Fragment header: NH 58, offset 1232, M, identification 0xdeadbeef (struct.pack("!BBHI", 58, 0, 154 << 3 | 1, 0xdeadbeef))', () => {
    const buf = new Uint8Array(10).fill(0xee);
    expect(emitIpv6FragmentHeader(buf, 1, ICMP6, 1232, true, 0xdeadbeef)).toBe(8);
    expect(Array.from(buf)).toEqual([0xee, ...hex('3a00 04d1 dead beef'), 0xee]);
    const r = chain(walkIpv6Extensions(packet(FRAG, hex('3a00 04d1 dead beef'), 1232)));
    expect(r).toEqual({
      upperProtocol: ICMP6, upperOffset: 48, nextHeaderField: 40, end: 48 + 1232, headers: 1,
      fragment: { identification: 0xdeadbeef, offset: 1232, more: true, atomic: false, headerOffset: 40, dataOffset: 48, prevNextHeaderField: 6, nextHeader: ICMP6 },
    });
  });
  it('Fragment header round trip (fast-check): emitted at any offset, the RFC 8200 §4.5 fields read back by hand and by the walk', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 8188 }).map((o) => o * 8), fc.boolean(), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: 0, max: 8 }),
      (next, offset, more, id, at) => {
        const buf = new Uint8Array(at + 8 + 3).fill(0xee);
        expect(emitIpv6FragmentHeader(buf, at, next, offset, more, id)).toBe(8);
        const v = new DataView(buf.buffer, at, 8);
        // Next Header, Reserved 0, Fragment Offset (13 bits) | Res (2 bits) 0 | M, Identification (32 bits); nothing outside.
        expect([v.getUint8(0), v.getUint8(1), v.getUint16(2) >>> 3, v.getUint16(2) & 6, v.getUint16(2) & 1, v.getUint32(4)]).toEqual([next, 0, offset / 8, 0, more ? 1 : 0, id]);
        expect([...buf.subarray(0, at), ...buf.subarray(at + 8)].every((b) => b === 0xee)).toBe(true);
        // Through the walk, with 8 bytes of UDP after it (a multiple of 8, within 65535 at any offset here).
        const r = chain(walkIpv6Extensions(packet(FRAG, Array.from(buf.subarray(at, at + 8)).map((b, i) => (i === 0 ? UDP : b)), 8)));
        expect(r.fragment).toEqual({
          identification: id, offset, more, atomic: offset === 0 && !more, headerOffset: 40, dataOffset: 48, prevNextHeaderField: 6, nextHeader: UDP,
        });
      },
    ), { numRuns: 500 });
  });
  it('emitIpv6FragmentHeader refuses what does not fit', () => {
    const buf = new Uint8Array(8);
    for (const args of [[0, 256, 0, 1], [0, 6, 12, 1], [0, 6, 65536, 1], [0, 6, 0, 2 ** 32], [1, 6, 0, 1]] as const) {
      expect(() => emitIpv6FragmentHeader(buf, args[0], args[1], args[2], false, args[3])).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    }
  });
  it('Segment Routing Header (RFC 8754 §2: type 4; one segment 2001:db8::1, Last Entry 0) is unknown here: answered while Segments Left ≠ 0, skipped at 0', () => {
    // NH 17, Hdr Ext Len 2 ((8 + 16) / 8 - 1), Routing Type 4, Segments Left 1, Last Entry 0, Flags 0, Tag 0, Segment List[0].
    const srh = hex('1102 0401 0000 0000 2001 0db8 0000 0000 0000 0000 0000 0001');
    expect(drop(walkIpv6Extensions(packet(ROUTING, srh)))).toEqual({ reason: 'Ip6InUnknownRoutingType', icmp: { type: 4, code: 0, pointer: 42 } });
    srh[3] = 0;
    expect(chain(walkIpv6Extensions(packet(ROUTING, srh)))).toEqual({ upperProtocol: UDP, upperOffset: 64, nextHeaderField: 40, end: 72, headers: 1, fragment: undefined });
  });
  it('Routing header type 2 (RFC 6275 §6.4: Hdr Ext Len 2, Segments Left 1, home address) is unknown here', () => {
    const rh2 = [...hex('3a02 0201 0000 0000'), ...new Array<number>(16).fill(0x11)];
    expect(drop(walkIpv6Extensions(packet(ROUTING, rh2)))).toEqual({ reason: 'Ip6InUnknownRoutingType', icmp: { type: 4, code: 0, pointer: 42 } });
    rh2[3] = 0; // Segments Left 0: ignored, RFC 8200 §4.4
    expect(chain(walkIpv6Extensions(packet(ROUTING, rh2)))).toMatchObject({ upperProtocol: ICMP6, upperOffset: 64, nextHeaderField: 40 });
  });
});

describe('routing type 0 (RFC 5095)', () => {
  // RFC 2460 §4.4 layout: NH, Hdr Ext Len 2n, type 0, Segments Left, reserved, n addresses.
  const rh0 = (sl: number): number[] => [...hex(`1104 00${sl.toString(16).padStart(2, '0')} 0000 0000`), ...new Array<number>(32).fill(0x22)];
  it('never executed: Segments Left ≠ 0 is a parameter problem code 0 at the Routing Type', () => {
    for (const sl of [1, 2, 255]) {
      expect(drop(walkIpv6Extensions(packet(ROUTING, rh0(sl))))).toEqual({ reason: 'Ip6InRoutingType0', icmp: { type: 4, code: 0, pointer: 42 } });
    }
  });
  it('after a Destination Options header the pointer follows the header', () => {
    expect(drop(walkIpv6Extensions(packet(DSTOPT, [...optionsHeader(ROUTING, []), ...rh0(1)])))).toMatchObject({ icmp: { pointer: 50 } });
  });
  it('Segments Left 0: skipped as any routing header (RFC 5095 §3, RFC 8200 §4.4)', () => {
    expect(chain(walkIpv6Extensions(packet(ROUTING, rh0(0))))).toMatchObject({ upperProtocol: UDP, upperOffset: 80 });
  });
});

describe('options: RFC 8200 §4.2 action bits (RFC 4727 experimental types 0x1e, 0x5e, 0x9e, 0xde)', () => {
  const cases: Array<[number, boolean, Ipv6ExtResult | 'pass']> = [
    [0x1e, false, 'pass'],
    [0x1e, true, 'pass'],
    [0x5e, false, { reason: 'Ip6InUnknownOption' }],
    [0x5e, true, { reason: 'Ip6InUnknownOption' }],
    [0x9e, false, { reason: 'Ip6InUnknownOption', icmp: { type: 4, code: 2, pointer: 44 } }],
    [0x9e, true, { reason: 'Ip6InUnknownOption', icmp: { type: 4, code: 2, pointer: 44 } }],
    [0xde, false, { reason: 'Ip6InUnknownOption', icmp: { type: 4, code: 2, pointer: 44 } }],
    [0xde, true, { reason: 'Ip6InUnknownOption' }],
  ];
  for (const [type, multicast, expected] of cases) {
    for (const nh of [HBH, DSTOPT]) {
      it(`type 0x${type.toString(16)} in ${nh === HBH ? 'Hop-by-Hop' : 'Destination Options'} to a ${multicast ? 'multicast' : 'unicast'} destination`, () => {
        // Pad1 Pad1 first, so the option type sits at 40 + 4.
        const r = walkIpv6Extensions(packet(nh, optionsHeader(UDP, [0, 0, type, 2, 0xab, 0xcd]), 8, multicast ? MULTICAST : UNICAST));
        if (expected === 'pass') expect(chain(r)).toMatchObject({ upperProtocol: UDP, upperOffset: 48 });
        else expect(r).toEqual(expected);
      });
    }
  }
  it('the first unknown option decides, after skipped ones', () => {
    const r = walkIpv6Extensions(packet(DSTOPT, optionsHeader(UDP, [0x1e, 0, 0x9e, 0, 0x5e, 0])));
    expect(r).toEqual({ reason: 'Ip6InUnknownOption', icmp: { type: 4, code: 2, pointer: 44 } });
  });
  it('Jumbo Payload (0xc2) is refused as any 11-type option by a host without jumbograms', () => {
    expect(drop(walkIpv6Extensions(packet(HBH, optionsHeader(UDP, [0xc2, 4, 0, 1, 0, 0]))))).toMatchObject({ icmp: { code: 2, pointer: 42 } });
  });
});

describe('options: malformed areas are dropped silently', () => {
  const bad = { reason: 'Ip6InBadOptions' };
  it('7 bytes of padding pass, 8 do not (Pad1 and PadN alike)', () => {
    const d = [0xab, 0xab, 0xab, 0xab, 0xab];
    // A 16-byte header: an option of 7 bytes (type, len 5, data) then 7 bytes of padding.
    expect(chain(walkIpv6Extensions(packet(DSTOPT, [UDP, 1, 0x1e, 5, ...d, 0, 0, 0, 0, 0, 0, 0])))).toMatchObject({ upperOffset: 56 });
    expect(chain(walkIpv6Extensions(packet(DSTOPT, [UDP, 1, 0x1e, 5, ...d, 1, 5, 0, 0, 0, 0, 0])))).toMatchObject({ upperOffset: 56 });
    expect(chain(walkIpv6Extensions(packet(DSTOPT, [UDP, 1, 0x1e, 5, ...d, 0, 0, 1, 3, 0, 0, 0])))).toMatchObject({ upperOffset: 56 });
    // An option of 6 bytes then 8 bytes of padding.
    expect(walkIpv6Extensions(packet(DSTOPT, [UDP, 1, 0x1e, 4, 0xab, 0xab, 0xab, 0xab, 0, 0, 0, 0, 0, 0, 0, 0]))).toEqual(bad);
    expect(walkIpv6Extensions(packet(DSTOPT, [UDP, 1, 0x1e, 4, 0xab, 0xab, 0xab, 0xab, 1, 6, 0, 0, 0, 0, 0, 0]))).toEqual(bad);
    expect(walkIpv6Extensions(packet(DSTOPT, [UDP, 1, 0x1e, 4, 0xab, 0xab, 0xab, 0xab, 0, 1, 5, 0, 0, 0, 0, 0]))).toEqual(bad);
    // Padding split by an option does not add up.
    expect(chain(walkIpv6Extensions(packet(DSTOPT, [UDP, 1, 1, 4, 0, 0, 0, 0, 0x1e, 0, 1, 4, 0, 0, 0, 0])))).toMatchObject({ upperOffset: 56 });
  });
  it('PadN data must be zero', () => {
    expect(walkIpv6Extensions(packet(DSTOPT, [UDP, 0, 1, 4, 0, 0, 1, 0]))).toEqual(bad);
  });
  it('an option running past its header', () => {
    expect(walkIpv6Extensions(packet(DSTOPT, [UDP, 0, 0x1e, 5, 0, 0, 0, 0]))).toEqual(bad);
    expect(walkIpv6Extensions(packet(DSTOPT, [UDP, 0, 1, 4, 0, 0, 0, 0x1e]))).toEqual(bad);
  });
  it('8 options pass, 9 do not', () => {
    const opts = (n: number): number[] => new Array<number>(n).fill(0).flatMap(() => [0x1e, 0]);
    expect(chain(walkIpv6Extensions(packet(DSTOPT, optionsHeader(UDP, opts(8)))))).toMatchObject({ upperProtocol: UDP });
    expect(walkIpv6Extensions(packet(DSTOPT, optionsHeader(UDP, opts(9))))).toEqual(bad);
  });
});

describe('the chain', () => {
  it('Hop-by-Hop anywhere but first: parameter problem code 1 at the Next Header field holding 0', () => {
    expect(walkIpv6Extensions(packet(DSTOPT, [...optionsHeader(HBH, []), ...optionsHeader(UDP, [])])))
      .toEqual({ reason: 'Ip6InHopByHopNotFirst', icmp: { type: 4, code: 1, pointer: 40 } });
    // Hop-by-Hop followed by Hop-by-Hop: the second one's Next Header field is at 40 as well.
    expect(drop(walkIpv6Extensions(packet(HBH, [...optionsHeader(HBH, []), ...optionsHeader(UDP, [])])))).toMatchObject({ icmp: { code: 1, pointer: 40 } });
  });
  it('No Next Header: dropped without an error', () => {
    expect(walkIpv6Extensions(packet(NONE, [], 16))).toEqual({ reason: 'Ip6InNoNextHeader' });
    expect(walkIpv6Extensions(packet(DSTOPT, optionsHeader(NONE, []), 0))).toEqual({ reason: 'Ip6InNoNextHeader' });
  });
  it('ends at any header it does not walk (ESP, AH, experimental 253), with the field naming it', () => {
    for (const p of [50, 51, 135, 253, 6]) {
      expect(chain(walkIpv6Extensions(packet(DSTOPT, optionsHeader(p, []))))).toMatchObject({ upperProtocol: p, upperOffset: 48, nextHeaderField: 40 });
    }
    expect(chain(walkIpv6Extensions(packet(UDP, [])))).toEqual({ upperProtocol: UDP, upperOffset: 40, nextHeaderField: 6, end: 48, headers: 0, fragment: undefined });
  });
  it('a header running past Payload Length is truncated, whatever the bytes after it', () => {
    const opts16 = [UDP, 1, 0x1e, 4, 0, 0, 0, 0, 0x1e, 4, 0, 0, 0, 0, 1, 0];
    expect(chain(walkIpv6Extensions(packet(DSTOPT, opts16, 0)))).toMatchObject({ upperOffset: 56, end: 56 });
    const short = packet(DSTOPT, [UDP, 2, ...opts16.slice(2)], 0); // says 24 bytes, only 16 in the payload
    expect(walkIpv6Extensions(short)).toEqual({ reason: 'Ip6InExtTruncated' });
    const linkPadded = new Uint8Array(short.length + 64);
    linkPadded.set(short);
    expect(walkIpv6Extensions(linkPadded)).toEqual({ reason: 'Ip6InExtTruncated' });
    expect(walkIpv6Extensions(packet(FRAG, [UDP, 0, 0, 0], 0))).toEqual({ reason: 'Ip6InExtTruncated' });
  });
  it('a fixed header that is short or inconsistent is a drop, not a throw', () => {
    expect(walkIpv6Extensions(new Uint8Array(39))).toEqual({ reason: 'Ip6InTruncatedPkts' });
    const b = packet(UDP, []);
    expect(walkIpv6Extensions(b.subarray(0, 47))).toEqual({ reason: 'Ip6InTruncatedPkts' });
    b[0] = 0x45;
    expect(walkIpv6Extensions(b)).toEqual({ reason: 'Ip6InBadVersion' });
  });
});

describe('the chain bound', () => {
  const dst = (n: number, last: number): number[] => new Array<number>(n).fill(0).flatMap((_, i) => optionsHeader(i === n - 1 ? last : DSTOPT, []));
  it(`at most ${IPV6_MAX_EXT_HEADERS} extension headers`, () => {
    expect(chain(walkIpv6Extensions(packet(DSTOPT, dst(IPV6_MAX_EXT_HEADERS, UDP))))).toMatchObject({ headers: 8, upperOffset: 40 + 64 });
    expect(walkIpv6Extensions(packet(DSTOPT, dst(IPV6_MAX_EXT_HEADERS + 1, UDP)))).toEqual({ reason: 'Ip6InExtChainTooLong' });
    // Fragment headers count too.
    const atomics = (n: number): number[] => new Array<number>(n).fill(0).flatMap((_, i) => [i === n - 1 ? UDP : FRAG, 0, 0, 0, 0, 0, 0, i]);
    expect(chain(walkIpv6Extensions(packet(FRAG, atomics(8))))).toMatchObject({ headers: 8, upperOffset: 104 });
    expect(walkIpv6Extensions(packet(FRAG, atomics(9)))).toEqual({ reason: 'Ip6InExtChainTooLong' });
  });
  it(`the upper-layer header starts within the first ${IPV6_MAX_CHAIN_BYTES} bytes`, () => {
    // One Destination Options header of 1240 bytes (Hdr Ext Len 154) ends at 1280; of 1248 at 1288.
    const big = (units: number): number[] => {
      const h = [UDP, units];
      // Options of up to 257 bytes (type 0x1e, 255 data bytes): few enough for the 8-option limit, no padding.
      for (let left = (units + 1) * 8 - 2; left > 0; left -= Math.min(257, left)) h.push(0x1e, Math.min(257, left) - 2, ...new Array<number>(Math.min(257, left) - 2).fill(0xab));
      return h;
    };
    expect(chain(walkIpv6Extensions(packet(DSTOPT, big(154))))).toMatchObject({ upperOffset: 1280 });
    expect(walkIpv6Extensions(packet(DSTOPT, big(155)))).toEqual({ reason: 'Ip6InExtChainTooLong' });
  });
});

describe('fragments (RFC 8200 §4.5, RFC 6946)', () => {
  const frag = (next: number, offset: number, more: boolean, id: number): number[] => {
    const b = new Uint8Array(8);
    emitIpv6FragmentHeader(b, 0, next, offset, more, id);
    return Array.from(b);
  };
  it('an atomic fragment is walked through, and reported', () => {
    const r = chain(walkIpv6Extensions(packet(FRAG, [...frag(DSTOPT, 0, false, 7), ...optionsHeader(UDP, [])])));
    expect(r).toMatchObject({ upperProtocol: UDP, upperOffset: 56, nextHeaderField: 48, headers: 2 });
    expect(r.fragment).toMatchObject({ atomic: true, identification: 7, offset: 0, more: false, headerOffset: 40 });
  });
  it('a real fragment stops the walk where the fragmentable part starts, after the unfragmentable headers', () => {
    const r = chain(walkIpv6Extensions(packet(HBH, [...optionsHeader(FRAG, []), ...frag(UDP, 0, true, 1)], 16)));
    expect(r).toMatchObject({ upperProtocol: UDP, upperOffset: 56, nextHeaderField: 48, headers: 2 });
    expect(r.fragment).toEqual({ identification: 1, offset: 0, more: true, atomic: false, headerOffset: 48, dataOffset: 56, prevNextHeaderField: 40, nextHeader: UDP });
    // The last fragment may have any length; a later one is not walked into (its bytes are mid-datagram).
    expect(chain(walkIpv6Extensions(packet(FRAG, frag(DSTOPT, 1480, false, 1), 3))).fragment).toMatchObject({ offset: 1480, more: false, atomic: false });
  });
  it('a first fragment must hold the whole header chain through the upper-layer header (RFC 7112 §5): code 3, pointer 0', () => {
    const incomplete = { reason: 'Ip6InFragIncompleteChain', icmp: { type: 4, code: 3, pointer: 0 } };
    // UDP needs 8 bytes, TCP 20, ICMPv6 4 in the first fragment (as Linux's ipv6_frag_thdr_truncated).
    expect(chain(walkIpv6Extensions(packet(FRAG, frag(UDP, 0, true, 1), 8)))).toMatchObject({ upperOffset: 48 });
    expect(walkIpv6Extensions(packet(FRAG, frag(UDP, 0, true, 1), 0))).toEqual(incomplete);
    expect(walkIpv6Extensions(packet(FRAG, frag(6, 0, true, 1), 16))).toEqual(incomplete);
    expect(chain(walkIpv6Extensions(packet(FRAG, frag(6, 0, true, 1), 24)))).toMatchObject({ upperOffset: 48 });
    // A Destination Options header in the fragmentable part that continues in the next fragment.
    expect(walkIpv6Extensions(packet(FRAG, [...frag(DSTOPT, 0, true, 1), UDP, 2, 1, 4, 0, 0, 0, 0], 8))).toEqual(incomplete);
    expect(chain(walkIpv6Extensions(packet(FRAG, [...frag(DSTOPT, 0, true, 1), ...optionsHeader(UDP, [])], 8)))).toMatchObject({ upperProtocol: DSTOPT, upperOffset: 48 });
    // AH counts in 4-octet units (RFC 4302 §2.2): Payload Len 4 = 24 bytes.
    const ah = [UDP, 4, 0, 0, ...new Array<number>(20).fill(0x44)];
    expect(chain(walkIpv6Extensions(packet(FRAG, [...frag(51, 0, true, 1), ...ah], 8)))).toMatchObject({ upperProtocol: 51 });
    expect(walkIpv6Extensions(packet(FRAG, [...frag(51, 0, true, 1), ...ah.slice(0, 16)], 0))).toEqual(incomplete);
    // Later fragments are not checked: their bytes are mid-datagram.
    expect(chain(walkIpv6Extensions(packet(FRAG, frag(6, 8, true, 1), 0)))).toMatchObject({ upperOffset: 48 });
  });
  it('M set with a length not a multiple of 8: parameter problem code 0 at Payload Length', () => {
    expect(walkIpv6Extensions(packet(FRAG, frag(UDP, 8, true, 1), 12))).toEqual({ reason: 'Ip6InFragBadLength', icmp: { type: 4, code: 0, pointer: 4 } });
    expect(chain(walkIpv6Extensions(packet(FRAG, frag(UDP, 8, true, 1), 16)))).toMatchObject({ upperOffset: 48 });
  });
  it('beyond a 65535-byte payload once reassembled: parameter problem code 0 at Fragment Offset', () => {
    // Unfragmentable extension headers (8) + offset + length must stay <= 65535.
    expect(chain(walkIpv6Extensions(packet(DSTOPT, [...optionsHeader(FRAG, []), ...frag(UDP, 65504, false, 1)], 23)))).toMatchObject({ upperOffset: 56 });
    expect(walkIpv6Extensions(packet(DSTOPT, [...optionsHeader(FRAG, []), ...frag(UDP, 65504, false, 1)], 24)))
      .toEqual({ reason: 'Ip6InFragTooBig', icmp: { type: 4, code: 0, pointer: 50 } });
  });
});

// ---- fast-check: any chain ---------------------------------------------------------------

type Hdr =
  | { kind: 'opts'; hbh: boolean; opts: Array<{ type: number; data: number[] }> }
  | { kind: 'rt'; type: number; sl: number; units: number }
  | { kind: 'frag'; offset: number; more: boolean; id: number };

function encode(h: Hdr, next: number): number[] {
  switch (h.kind) {
    case 'opts': return optionsHeader(next, h.opts.flatMap((o) => [o.type, o.data.length, ...o.data]));
    case 'rt': return [next, h.units, h.type, h.sl, ...new Array<number>(4 + h.units * 8).fill(0x33)];
    case 'frag': { const b = new Uint8Array(8); emitIpv6FragmentHeader(b, 0, next, h.offset, h.more, h.id); return Array.from(b); }
  }
}
function kindOf(h: Hdr): number {
  return h.kind === 'opts' ? (h.hbh ? HBH : DSTOPT) : h.kind === 'rt' ? ROUTING : FRAG;
}
function build(hdrs: Hdr[], upper: number, upperLen: number, dst: string): { bytes: Uint8Array; offsets: number[] } {
  const ext: number[] = [];
  const offsets: number[] = [];
  hdrs.forEach((h, i) => { offsets.push(40 + ext.length); ext.push(...encode(h, i + 1 < hdrs.length ? kindOf(hdrs[i + 1]!) : upper)); });
  return { bytes: packet(hdrs.length > 0 ? kindOf(hdrs[0]!) : upper, ext, upperLen, parseIpv6Address(dst)!), offsets };
}

const anyOpt = fc.record({ type: fc.integer({ min: 0, max: 255 }), data: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 6 }) });
const anyHdr: fc.Arbitrary<Hdr> = fc.oneof(
  fc.record({ kind: fc.constant('opts' as const), hbh: fc.boolean(), opts: fc.array(anyOpt, { maxLength: 10 }) }),
  fc.record({ kind: fc.constant('rt' as const), type: fc.integer({ min: 0, max: 255 }), sl: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 255 })), units: fc.integer({ min: 0, max: 4 }) }),
  fc.record({ kind: fc.constant('frag' as const), offset: fc.integer({ min: 0, max: 8191 }).map((o) => o * 8), more: fc.boolean(), id: fc.nat() }),
);
const upperArb = fc.constantFrom(UDP, 6, ICMP6, NONE, 50, 51, 253, 255);

function checkResult(bytes: Uint8Array, r: Ipv6ExtResult): void {
  const end = 40 + ((bytes[4]! << 8) | bytes[5]!);
  if (isIpv6ExtDrop(r)) {
    expect(IPV6_DROP_REASONS).toContain(r.reason);
    if (r.icmp !== undefined) {
      expect(r.icmp.type).toBe(4);
      expect([0, 1, 2, 3]).toContain(r.icmp.code);
      expect(r.icmp.pointer).toBeGreaterThanOrEqual(0);
      expect(r.icmp.pointer).toBeLessThan(Math.min(end, bytes.length));
    }
    return;
  }
  expect(r.end).toBe(end);
  expect(r.upperOffset).toBeGreaterThanOrEqual(40);
  expect(r.upperOffset).toBeLessThanOrEqual(Math.min(end, IPV6_MAX_CHAIN_BYTES));
  expect(r.nextHeaderField).toBeLessThan(r.upperOffset);
  expect(bytes[r.nextHeaderField]).toBe(r.upperProtocol);
  expect(r.headers).toBeLessThanOrEqual(IPV6_MAX_EXT_HEADERS);
}

describe('fast-check', () => {
  it('any chain of extension headers, then any mutation or truncation: a result or a drop record, never a throw', () => {
    fc.assert(fc.property(
      fc.array(anyHdr, { maxLength: 12 }), upperArb, fc.integer({ min: 0, max: 64 }), fc.constantFrom('fd07::2', 'ff02::1'),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.option(fc.nat()),
      (hdrs, upper, upperLen, dst, flips, cut) => {
        const { bytes: full } = build(hdrs, upper, upperLen, dst);
        for (const [pos, v] of flips) full[40 + (pos % Math.max(1, full.length - 40))] = v; // keep the fixed header, mangle the rest
        const bytes = cut === null ? full : full.subarray(0, cut % (full.length + 1));
        let r: Ipv6ExtResult | undefined;
        expect(() => { r = walkIpv6Extensions(bytes); }).not.toThrow();
        if (bytes.length >= 40 && 40 + ((bytes[4]! << 8) | bytes[5]!) <= bytes.length) checkResult(bytes, r!);
        else expect(r).toEqual({ reason: 'Ip6InTruncatedPkts' });
        // Drops without an ICMP error are shared records: frozen, so no caller can change them for the next packet.
        if (isIpv6ExtDrop(r!) && r.icmp === undefined) expect(Object.isFrozen(r)).toBe(true);
      },
    ), { numRuns: 3000 });
  });

  it('through the layer: any chain, malformed included, never throws and is counted once, under the reason the walk gives', () => {
    // One layer for the whole run (as on a link): each packet must move the counters by exactly its own outcome.
    const { layer } = makeLayer6();
    const reporter = new Reporter6();
    layer.setErrorReporter6(reporter);
    const udp = new FakeTransport(UDP);
    layer.register(udp);
    const identity = (st: Ipv6Stats): number => st.Ip6InReceives + st.Ip6ReasmOKs
      - (st.Ip6InTruncatedPkts + st.Ip6InHdrErrors + st.Ip6InAddrErrors + st.Ip6ReasmReqds + st.Ip6InUnknownProtos + st.Ip6InDelivers);
    let drops = 0, delivered = 0, answered = 0, now = 0;
    fc.assert(fc.property(
      fc.array(anyHdr, { maxLength: 12 }), upperArb, fc.integer({ min: 0, max: 64 }), fc.constantFrom('fd07::2', 'ff02::1'),
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }), fc.option(fc.nat(), { freq: 5 }),
      (hdrs, upper, upperLen, dst, flips, cut) => {
        const { bytes: full } = build(hdrs, upper, upperLen, dst);
        for (const [pos, v] of flips) full[40 + (pos % Math.max(1, full.length - 40))] = v;
        const bytes = cut === null ? full : full.subarray(0, cut % (full.length + 1));
        const before = layer.stats();
        const calls = reporter.calls.length;
        const got = udp.received.length;
        expect(() => layer.input(bytes, now)).not.toThrow();
        now += 1;
        const after = layer.stats();
        expect(after.Ip6InReceives).toBe(before.Ip6InReceives + 1);
        expect(identity(after)).toBe(0);
        if (bytes.length < 40 || 40 + ((bytes[4]! << 8) | bytes[5]!) > bytes.length) {
          expect(after.Ip6InTruncatedPkts).toBe(before.Ip6InTruncatedPkts + 1);
          return;
        }
        const w = walkIpv6Extensions(bytes);
        if (isIpv6ExtDrop(w)) {
          drops++;
          expect(after.dropped[w.reason], w.reason).toBe(before.dropped[w.reason] + 1);
          expect(udp.received.length).toBe(got);
          // The parameter problem the walk asks for, to a unicast destination or (code 2) to any (RFC 4443 §2.4 (e)).
          const answer = w.icmp !== undefined && (dst === 'fd07::2' || w.icmp.code === 2);
          expect(reporter.calls.slice(calls).map((c) => [c.kind, c.code, c.pointer])).toEqual(answer ? [['param', w.icmp!.code, w.icmp!.pointer]] : []);
          if (answer) answered++;
        } else if (w.fragment !== undefined && !w.fragment.atomic) {
          expect(after.Ip6ReasmReqds).toBe(before.Ip6ReasmReqds + 1);
          expect(udp.received.length).toBe(got);
        } else if (w.upperProtocol === UDP) {
          delivered++;
          expect(udp.received.length).toBe(got + 1);
          expect(udp.received[got]!.payload.length).toBe(w.end - w.upperOffset);
        } else {
          expect(udp.received.length).toBe(got);
          expect(after.Ip6InUnknownProtos + after.Ip6InDelivers).toBe(before.Ip6InUnknownProtos + before.Ip6InDelivers + 1);
        }
      },
    ), {
      numRuns: 1000,
      // A plain UDP datagram, with and without a hop-by-hop header, is always among the cases, so the
      // coverage check below cannot fail by the luck of the draw (flips and cuts make most random ones drops).
      examples: [
        [[], UDP, 8, 'fd07::2', [], null],
        [[{ kind: 'opts', hbh: true, opts: [] }], UDP, 16, 'fd07::2', [], null],
      ],
    });
    // Not vacuous: all three outcomes were seen.
    expect([drops > 0, delivered > 0, answered > 0]).toEqual([true, true, true]);
  });

  it('any byte string after a valid fixed header: never throws', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 300 }), (nh, rest) => {
      const b = packet(nh, Array.from(rest), 0);
      checkResult(b, walkIpv6Extensions(b));
    }), { numRuns: 3000 });
  });

  it('a well-formed chain within the bounds is walked to its upper-layer header, at the offset the lengths add up to', () => {
    const skipOpt = fc.record({ type: fc.integer({ min: 2, max: 63 }), data: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 6 }) });
    const goodHdr: fc.Arbitrary<Hdr> = fc.oneof(
      fc.record({ kind: fc.constant('opts' as const), hbh: fc.constant(false), opts: fc.array(skipOpt, { maxLength: 8 }) }),
      fc.record({ kind: fc.constant('rt' as const), type: fc.integer({ min: 0, max: 255 }), sl: fc.constant(0), units: fc.integer({ min: 0, max: 4 }) }),
      fc.record({ kind: fc.constant('frag' as const), offset: fc.constant(0), more: fc.constant(false), id: fc.nat() }),
    );
    fc.assert(fc.property(
      fc.boolean(), fc.array(goodHdr, { maxLength: IPV6_MAX_EXT_HEADERS - 1 }), fc.constantFrom(UDP, 6, ICMP6, 50), fc.constantFrom('fd07::2', 'ff02::1'),
      (hbhFirst, rest, upper, dst) => {
        const hdrs: Hdr[] = hbhFirst ? [{ kind: 'opts', hbh: true, opts: [{ type: 5, data: [0, 0] }] }, ...rest] : rest;
        const { bytes, offsets } = build(hdrs, upper, 8, dst);
        const r = chain(walkIpv6Extensions(bytes));
        expect(r.upperProtocol).toBe(upper);
        expect(r.upperOffset).toBe(bytes.length - 8);
        expect(r.headers).toBe(hdrs.length);
        expect(r.nextHeaderField).toBe(hdrs.length === 0 ? 6 : offsets[hdrs.length - 1]);
        const lastFrag = hdrs.map((h, i) => [h, i] as const).filter(([h]) => h.kind === 'frag').pop();
        expect(r.fragment?.headerOffset).toBe(lastFrag === undefined ? undefined : offsets[lastFrag[1]]);
      },
    ), { numRuns: 2000 });
  });
});
