import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Ipv4Packet, emitIpv4, emptyIpv4Repr, ipv4BufferLen, ipv4HeaderLen, parseAddress, parseIpv4, type Ipv4Repr,
} from '@netstack/ip';

const a = (s: string): number => parseAddress(s)!;

// Wikipedia's worked example (also in checksum.test.ts): UDP, DF, TTL 64, 192.168.0.1 -> 192.168.0.199.
const WIKI = Uint8Array.from([0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7]);
const wikiRepr = (): Ipv4Repr => ({
  src: a('192.168.0.1'), dst: a('192.168.0.199'), protocol: 17, ttl: 64, tos: 0, identification: 0,
  dontFragment: true, moreFragments: false, fragmentOffset: 0, headerLength: 20, totalLength: 0x73, payloadLength: 0x73 - 20,
});

/** A header with every field non-trivial, checksum worked out by hand below. */
const FRAG_REPR = (): Ipv4Repr => ({
  src: a('10.7.0.2'), dst: a('10.7.0.1'), protocol: 6, ttl: 64, tos: 0, identification: 0xabcd,
  dontFragment: false, moreFragments: true, fragmentOffset: 1480, headerLength: 20, totalLength: 1500, payloadLength: 1480,
});
// Words: 4500 05dc abcd 20b9 (MF | 1480/8 = 0xb9) 4006 0000 0a07 0002 0a07 0001
// Sum: 4500+05dc=4adc, +abcd=f6a9, +20b9=11762, +4006=15768, +0a07=1616f, +0002=16171,
//      +0a07=16b78, +0001=16b79; fold: 6b79+1=6b7a; complement: 9485.
const FRAG_GOLDEN = Uint8Array.from([0x45, 0x00, 0x05, 0xdc, 0xab, 0xcd, 0x20, 0xb9, 0x40, 0x06, 0x94, 0x85, 0x0a, 0x07, 0x00, 0x02, 0x0a, 0x07, 0x00, 0x01]);

function withPayload(header: Uint8Array, total: number): Uint8Array {
  const b = new Uint8Array(total);
  b.set(header);
  return b;
}

describe('emitIpv4: golden bytes', () => {
  it('writes the Wikipedia example header byte for byte', () => {
    const buf = new Uint8Array(0x73);
    expect(emitIpv4(wikiRepr(), buf, 0)).toBe(20);
    expect(Array.from(buf.subarray(0, 20))).toEqual(Array.from(WIKI));
  });
  it('writes flags, offset in 8-byte units, identification and checksum', () => {
    const buf = new Uint8Array(30).fill(0xee);
    emitIpv4(FRAG_REPR(), buf, 5);
    expect(Array.from(buf.subarray(5, 25))).toEqual(Array.from(FRAG_GOLDEN));
    expect(buf[4]).toBe(0xee); // nothing before the offset
    expect(buf[25]).toBe(0xee); // nothing after the header
  });
  it('pads a longer header with End-of-Option-List zeros and counts it in IHL', () => {
    const r = { ...wikiRepr(), headerLength: 24, payloadLength: 0x73 - 24 };
    const buf = new Uint8Array(0x73).fill(0xff);
    emitIpv4(r, buf, 0);
    expect(buf[0]).toBe(0x46);
    expect(Array.from(buf.subarray(20, 24))).toEqual([0, 0, 0, 0]);
    expect(new Ipv4Packet(buf).verifyChecksum()).toBe(true);
  });
  it('throws with a code for unrepresentable records', () => {
    const buf = new Uint8Array(100);
    expect(() => emitIpv4({ ...wikiRepr(), ttl: 256 }, buf, 0)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => emitIpv4({ ...wikiRepr(), fragmentOffset: 12 }, buf, 0)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => emitIpv4({ ...wikiRepr(), headerLength: 22 }, buf, 0)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => emitIpv4({ ...wikiRepr(), totalLength: 1 }, buf, 0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => emitIpv4(wikiRepr(), new Uint8Array(19), 0)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });
  it('ipv4HeaderLen / ipv4BufferLen', () => {
    expect(ipv4HeaderLen(wikiRepr())).toBe(20);
    expect(ipv4BufferLen(wikiRepr())).toBe(0x73);
  });
});

describe('parseIpv4', () => {
  it('decodes the golden headers', () => {
    expect(parseIpv4(withPayload(WIKI, 0x73))).toEqual(wikiRepr());
    expect(parseIpv4(withPayload(FRAG_GOLDEN, 1500))).toEqual(FRAG_REPR());
  });
  it('reuses the record it is given', () => {
    const into = emptyIpv4Repr();
    expect(parseIpv4(withPayload(WIKI, 0x73), into)).toBe(into);
    expect(into.src).toBe(a('192.168.0.1'));
  });
  it('trims trailing link padding instead of failing', () => {
    const r = parseIpv4(withPayload(WIKI, 0x73 + 10));
    expect(r).toMatchObject({ totalLength: 0x73, payloadLength: 0x73 - 20 });
  });
  it('skips options', () => {
    const buf = new Uint8Array(40);
    emitIpv4({ ...wikiRepr(), headerLength: 28, totalLength: 40, payloadLength: 12 }, buf, 0);
    buf[20] = 0x01; buf[21] = 0x01; buf[22] = 0x94; buf[23] = 0x04; buf[24] = 0; buf[25] = 0; // NOP, NOP, Router Alert
    new Ipv4Packet(buf).fillChecksum();
    expect(parseIpv4(buf)).toMatchObject({ headerLength: 28, payloadLength: 12 });
  });
  const bad = (mutate: (b: Uint8Array) => Uint8Array | void, fix = true): Uint8Array => {
    let b = withPayload(WIKI, 0x73);
    b = mutate(b) ?? b;
    if (fix && b.length >= 20) new Ipv4Packet(b).fillChecksum();
    return b;
  };
  it.each([
    ['version 6', bad((b) => { b[0] = 0x65; }), 'bad-version'],
    ['IHL 4', bad((b) => { b[0] = 0x44; }, false), 'bad-ihl'],
    ['shorter than 20 bytes', WIKI.subarray(0, 19), 'truncated'],
    ['Total Length beyond the buffer', bad((b) => b.subarray(0, 0x72)), 'truncated'],
    ['IHL beyond the buffer', bad((b) => { b[0] = 0x4f; return b.subarray(0, 40); }, false), 'truncated'],
    ['Total Length below the header', bad((b) => { b[3] = 19; b[2] = 0; }), 'bad-total-length'],
    ['bad checksum', bad((b) => { b[11]! ^= 1; }, false), 'bad-checksum'],
    ['multicast source', bad((b) => { b[12] = 224; }), 'bad-source'],
    ['limited-broadcast source', bad((b) => { b.fill(255, 12, 16); }), 'bad-source'],
  ])('refuses %s', (_name, bytes, code) => {
    expect(parseIpv4(bytes)).toBe(code);
  });
  it('Ipv4Packet.checkLen agrees with parseIpv4 on length errors, and the view reads fields', () => {
    const v = new Ipv4Packet(withPayload(FRAG_GOLDEN, 1500));
    expect(v.checkLen()).toBeUndefined();
    expect([v.version, v.headerLength, v.totalLength, v.identification, v.moreFragments, v.dontFragment, v.fragmentOffset, v.ttl, v.protocol, v.checksum])
      .toEqual([4, 20, 1500, 0xabcd, true, false, 1480, 64, 6, 0x9485]);
    expect(v.reset(FRAG_GOLDEN).checkLen()).toBe('truncated');
    expect(v.reset(new Uint8Array(5)).checkLen()).toBe('truncated');
  });
  it('Ipv4Packet setters emit the same header as emitIpv4', () => {
    const v = new Ipv4Packet(new Uint8Array(20));
    v.headerLength = 20; v.tos = 0; v.totalLength = 1500; v.identification = 0xabcd; v.setFragment(false, true, 1480);
    v.ttl = 64; v.protocol = 6; v.src = a('10.7.0.2'); v.dst = a('10.7.0.1'); v.fillChecksum();
    expect(Array.from(v.buffer)).toEqual(Array.from(FRAG_GOLDEN));
  });
});

const validRepr: fc.Arbitrary<Ipv4Repr> = fc
  .record({
    src: fc.nat({ max: 0xffffffff }).filter((x) => x >>> 28 !== 0xe && x !== 0xffffffff),
    dst: fc.nat({ max: 0xffffffff }),
    protocol: fc.nat({ max: 255 }),
    ttl: fc.nat({ max: 255 }),
    tos: fc.nat({ max: 255 }),
    identification: fc.nat({ max: 0xffff }),
    dontFragment: fc.boolean(),
    moreFragments: fc.boolean(),
    fragmentOffset: fc.nat({ max: 0x1fff }).map((x) => x * 8),
    headerLength: fc.integer({ min: 5, max: 15 }).map((x) => x * 4),
    payloadLength: fc.oneof(fc.nat({ max: 200 }), fc.nat({ max: 65535 - 60 })),
  })
  .map((r) => ({ ...r, totalLength: r.headerLength + r.payloadLength }));

describe('parse(emit(r)) === r', () => {
  it('round-trips arbitrary valid records', () => {
    fc.assert(fc.property(validRepr, fc.nat({ max: 8 }), (r, pad) => {
      const buf = new Uint8Array(r.totalLength + pad);
      emitIpv4(r, buf, 0);
      expect(parseIpv4(buf)).toEqual(r);
    }), { numRuns: 300 });
  });
  it('any single bit flipped in an emitted header is caught (checksum or field validation) or decodes differently', () => {
    fc.assert(fc.property(validRepr, fc.nat({ max: 159 }), (r, bit) => {
      const buf = new Uint8Array(r.totalLength + 100);
      emitIpv4(r, buf, 0);
      buf[bit >>> 3]! ^= 0x80 >>> (bit & 7);
      // A one-bit change always breaks the one's-complement checksum (RFC 1071 §2).
      expect(typeof parseIpv4(buf)).toBe('string');
    }), { numRuns: 300 });
  });
});
