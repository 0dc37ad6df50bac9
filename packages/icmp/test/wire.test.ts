import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { IcmpPacket, emitIcmp, icmpBufferLen, parseIcmp, parseQuotedIpv4, type IcmpRepr } from '../src/index.js';
import { hex, toHex } from './helpers.js';

function emit(repr: IcmpRepr): Uint8Array {
  const buf = new Uint8Array(icmpBufferLen(repr));
  emitIcmp(repr, new IcmpPacket(buf));
  return buf;
}

function parse(bytes: Uint8Array) {
  const p = IcmpPacket.checked(bytes);
  if (!p) throw new Error('short');
  return parseIcmp(p);
}

// Checksums below by hand: echo request words 0800+0000+1234+0001+6162+6364 = 0xdefb, ~ = 0x2104.
// The others were computed with an independent RFC 1071 implementation (Python).
const ECHO_REQUEST = hex('0800 2104 1234 0001 61626364');
const QUOTED = hex('4500001d00010000401166cd0a0000020a000001 3039003500090000'); // IP header + UDP header
const FRAG_NEEDED = hex('0304 c6a8 0000 05dc 4500001d00010000401166cd0a0000020a000001 3039003500090000');
const PARAM_PROBLEM = hex('0c00 af88 14000000 4500001d00010000401166cd0a0000020a000001 3039003500090000');

describe('ICMP wire: golden bytes', () => {
  it('emits an echo request', () => {
    expect(toHex(emit({ kind: 'echoRequest', ident: 0x1234, seqNo: 1, data: hex('61626364') }))).toBe(toHex(ECHO_REQUEST));
  });
  it('parses an echo request', () => {
    expect(parse(ECHO_REQUEST)).toEqual({ kind: 'echoRequest', ident: 0x1234, seqNo: 1, data: hex('61626364') });
  });
  it('emits and parses destination unreachable / fragmentation needed with the next-hop MTU (RFC 1191 §4)', () => {
    const repr: IcmpRepr = { kind: 'destinationUnreachable', code: 4, nextHopMtu: 1500, quoted: QUOTED };
    expect(toHex(emit(repr))).toBe(toHex(FRAG_NEEDED));
    expect(parse(FRAG_NEEDED)).toEqual(repr);
  });
  it('emits and parses parameter problem with its pointer', () => {
    const repr: IcmpRepr = { kind: 'parameterProblem', code: 0, pointer: 20, quoted: QUOTED };
    expect(toHex(emit(repr))).toBe(toHex(PARAM_PROBLEM));
    expect(parse(PARAM_PROBLEM)).toEqual(repr);
  });
  it('writes reserved bytes as zero even over a dirty buffer', () => {
    const buf = new Uint8Array(8 + QUOTED.length).fill(0xff);
    emitIcmp({ kind: 'timeExceeded', code: 0, quoted: QUOTED }, new IcmpPacket(buf));
    expect(toHex(buf.subarray(0, 2))).toBe('0b00');
    expect(toHex(buf.subarray(4, 8))).toBe('00000000');
    expect(new IcmpPacket(buf).verifyChecksum()).toBe(true);
  });
});

const u16 = fc.integer({ min: 0, max: 0xffff });
const u8 = fc.integer({ min: 0, max: 0xff });
const bytes = fc.uint8Array({ maxLength: 600 });
const reprArb: fc.Arbitrary<IcmpRepr> = fc.oneof(
  fc.record({ kind: fc.constant('echoRequest' as const), ident: u16, seqNo: u16, data: bytes }),
  fc.record({ kind: fc.constant('echoReply' as const), ident: u16, seqNo: u16, data: bytes }),
  fc.record({ kind: fc.constant('destinationUnreachable' as const), code: u8, nextHopMtu: u16, quoted: bytes }),
  fc.record({ kind: fc.constant('sourceQuench' as const), code: u8, quoted: bytes }),
  fc.record({ kind: fc.constant('timeExceeded' as const), code: u8, quoted: bytes }),
  fc.record({ kind: fc.constant('parameterProblem' as const), code: u8, pointer: u8, quoted: bytes }),
);

describe('ICMP wire: properties', () => {
  it('parse(emit(r)) = r', () => {
    fc.assert(fc.property(reprArb, (r) => {
      expect(parse(emit(r))).toEqual(r);
    }));
  });
  it('any single corrupted byte is caught by the checksum', () => {
    fc.assert(fc.property(reprArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (r, at, flip) => {
      const b = emit(r);
      const i = at % b.length;
      b[i]! ^= flip;
      expect(parse(b)).toBe('checksum');
    }));
  });
  it('parses without checksum verification when asked', () => {
    const b = ECHO_REQUEST.slice();
    b[2] = 0;
    expect(parse(b)).toBe('checksum');
    expect(parseIcmp(new IcmpPacket(b), { verifyChecksum: false })).toMatchObject({ kind: 'echoRequest', seqNo: 1 });
  });
});

describe('ICMP wire: rejects what it cannot represent', () => {
  it('needs the 8-byte header', () => {
    expect(IcmpPacket.checked(new Uint8Array(7))).toBeUndefined();
    expect(IcmpPacket.checked(new Uint8Array(8))).toBeInstanceOf(IcmpPacket);
  });
  it('reports unsupported types (timestamp, 13)', () => {
    const b = new Uint8Array(20);
    b[0] = 13;
    new IcmpPacket(b).fillChecksum();
    expect(parse(b)).toBe('unsupported');
  });
  it('reads a quoted IPv4 header and needs 8 transport bytes after it', () => {
    expect(parseQuotedIpv4(QUOTED)).toMatchObject({ src: 0x0a000002, dst: 0x0a000001, protocol: 17, headerLength: 20, fragmentOffset: 0 });
    expect(toHex(parseQuotedIpv4(QUOTED)!.transport)).toBe('3039003500090000');
    expect(parseQuotedIpv4(QUOTED.subarray(0, 27))).toBeUndefined();
    const v6 = QUOTED.slice();
    v6[0] = 0x65;
    expect(parseQuotedIpv4(v6)).toBeUndefined();
    const shortIhl = QUOTED.slice();
    shortIhl[0] = 0x44;
    expect(parseQuotedIpv4(shortIhl)).toBeUndefined();
    const longIhl = QUOTED.slice();
    longIhl[0] = 0x46; // claims 24 bytes of header: only 4 transport bytes left
    expect(parseQuotedIpv4(longIhl)).toBeUndefined();
  });
});
