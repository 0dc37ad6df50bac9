/**
 * The IPv6 fixed header (RFC 8200 §3): golden bytes, parse refusals, round trips, and
 * that no byte string makes the parser throw.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  IPV6_DROP_COUNTER, IPV6_DROP_REASONS, IPV6_PARSE_DROP_REASON, Ipv6Packet, emitIpv6, emptyIpv6Repr, ipv6BufferLen,
  ipv6FromBytes, ipv6HeaderLen, parseIpv6, parseIpv6Address, type Ipv6Address, type Ipv6Repr,
} from '@netstack/ip';

const a6 = (s: string): Ipv6Address => parseIpv6Address(s)!;

/**
 * Traffic class 0xb8 (DSCP EF), flow label 0x12345, payload 8, UDP, hop limit 64,
 * fd07::2 -> fd07::1. Bytes computed once with Python (RFC 8200 §3 layout):
 *   struct.pack('!IHBB16s16s', (6<<28)|(0xb8<<20)|0x12345, 8, 17, 64,
 *               inet_pton(AF_INET6, 'fd07::2'), inet_pton(AF_INET6, 'fd07::1')).hex()
 */
const GOLDEN_HEX = '6b81234500081140fd070000000000000000000000000002fd070000000000000000000000000001';
const GOLDEN = Uint8Array.from(GOLDEN_HEX.match(/../g)!.map((h) => parseInt(h, 16)));
const goldenRepr = (): Ipv6Repr => ({
  src: a6('fd07::2'), dst: a6('fd07::1'), nextHeader: 17, hopLimit: 64, trafficClass: 0xb8, flowLabel: 0x12345, payloadLength: 8,
});

function withPayload(header: Uint8Array, total: number): Uint8Array {
  const b = new Uint8Array(total);
  b.set(header);
  return b;
}

describe('emitIpv6: golden bytes', () => {
  it('writes the golden header byte for byte, and nothing outside it', () => {
    const buf = new Uint8Array(50).fill(0xee);
    expect(emitIpv6(goldenRepr(), buf, 5)).toBe(40);
    expect(Array.from(buf.subarray(5, 45))).toEqual(Array.from(GOLDEN));
    expect(buf[4]).toBe(0xee);
    expect(buf[45]).toBe(0xee);
  });
  it('throws with a code for unrepresentable records', () => {
    const buf = new Uint8Array(48);
    const bad: Array<[Partial<Ipv6Repr>, string]> = [
      [{ trafficClass: 256 }, 'ERR_OUT_OF_RANGE'],
      [{ flowLabel: 0x100000 }, 'ERR_OUT_OF_RANGE'],
      [{ payloadLength: 65536 }, 'ERR_OUT_OF_RANGE'],
      [{ hopLimit: -1 }, 'ERR_OUT_OF_RANGE'],
      [{ nextHeader: 1.5 }, 'ERR_OUT_OF_RANGE'],
      [{ src: 'fd07::1' as Ipv6Address }, 'ERR_INVALID_ARG_VALUE'],
      [{ dst: '\u0100'.repeat(16) as Ipv6Address }, 'ERR_INVALID_ARG_VALUE'],
    ];
    for (const [patch, code] of bad) {
      expect(() => emitIpv6({ ...goldenRepr(), ...patch }, buf, 0)).toThrow(expect.objectContaining({ code }));
    }
    expect(() => emitIpv6(goldenRepr(), new Uint8Array(39), 0)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => emitIpv6(goldenRepr(), buf, 9)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });
  it('ipv6HeaderLen / ipv6BufferLen', () => {
    expect(ipv6HeaderLen(goldenRepr())).toBe(40);
    expect(ipv6BufferLen(goldenRepr())).toBe(48);
  });
});

describe('Ipv6Packet view', () => {
  it('reads every field of the golden header', () => {
    const p = new Ipv6Packet(withPayload(GOLDEN, 48));
    expect(p.checkLen()).toBeUndefined();
    expect([p.version, p.trafficClass, p.flowLabel, p.payloadLength, p.nextHeader, p.hopLimit]).toEqual([6, 0xb8, 0x12345, 8, 17, 64]);
    expect(p.src).toBe(a6('fd07::2'));
    expect(p.dst).toBe(a6('fd07::1'));
  });
  it('reads at an offset', () => {
    const b = new Uint8Array(60);
    b.set(GOLDEN, 12);
    const p = new Ipv6Packet(b, 12);
    expect(p.checkLen()).toBeUndefined();
    expect(p.flowLabel).toBe(0x12345);
  });
});

describe('parseIpv6', () => {
  it('decodes the golden header', () => {
    expect(parseIpv6(withPayload(GOLDEN, 48))).toEqual(goldenRepr());
  });
  it('reuses the record it is given', () => {
    const into = emptyIpv6Repr();
    expect(parseIpv6(withPayload(GOLDEN, 48), into)).toBe(into);
    expect(into.flowLabel).toBe(0x12345);
  });
  it('a reused record takes each new address, down to its last byte', () => {
    const into = emptyIpv6Repr();
    parseIpv6(withPayload(GOLDEN, 48), into);
    // Every byte of the source, then of the destination, changed in turn: the record follows.
    for (const field of [8, 24]) {
      for (let i = 0; i < 16; i++) {
        const b = withPayload(GOLDEN, 48);
        b[field + i]! ^= 0x01;
        expect(parseIpv6(b, into)).toBe(into);
        expect(into.src).toBe(ipv6FromBytes(b.subarray(8, 24)));
        expect(into.dst).toBe(ipv6FromBytes(b.subarray(24, 40)));
      }
    }
    // The same bytes again: the same values as a fresh parse.
    expect(parseIpv6(withPayload(GOLDEN, 48), into)).toEqual(goldenRepr());
  });
  it('ignores link padding after Payload Length', () => {
    expect(parseIpv6(withPayload(GOLDEN, 60))).toMatchObject({ payloadLength: 8 });
  });
  it('refuses short packets and a Payload Length beyond the bytes', () => {
    expect(parseIpv6(GOLDEN.subarray(0, 39))).toBe('truncated');
    expect(parseIpv6(withPayload(GOLDEN, 47))).toBe('truncated');
    expect(parseIpv6(new Uint8Array(0))).toBe('truncated');
  });
  it('refuses a version other than 6 (an IPv4 header included)', () => {
    for (const v of [0, 4, 5, 7, 15]) {
      const b = withPayload(GOLDEN, 48);
      b[0] = (v << 4) | (b[0]! & 0x0f);
      expect(parseIpv6(b)).toBe('bad-version');
    }
  });
  it('refuses a jumbogram (Payload Length 0 with Hop-by-Hop, RFC 2675) but not an empty payload', () => {
    const b = withPayload(GOLDEN, 48);
    b[4] = 0; b[5] = 0; b[6] = 0;
    expect(parseIpv6(b)).toBe('jumbogram');
    b[6] = 59;
    expect(parseIpv6(b)).toMatchObject({ payloadLength: 0, nextHeader: 59 });
  });
  it('refuses a multicast source (RFC 4291 §2.7), accepts the unspecified one (RFC 4291 §2.5.2)', () => {
    const b = withPayload(GOLDEN, 48);
    b[8] = 0xff;
    expect(parseIpv6(b)).toBe('bad-source');
    b.fill(0, 8, 24);
    expect(parseIpv6(b)).toMatchObject({ src: a6('::') });
    // A multicast destination is fine.
    b[24] = 0xff;
    expect(parseIpv6(b)).toMatchObject({ dst: a6('ff07::1') });
  });
});

const addr = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => ipv6FromBytes(b)!);
const reprArb: fc.Arbitrary<Ipv6Repr> = fc.record({
  src: addr.filter((s) => s.charCodeAt(0) !== 0xff),
  dst: addr,
  nextHeader: fc.integer({ min: 0, max: 255 }),
  hopLimit: fc.integer({ min: 0, max: 255 }),
  trafficClass: fc.integer({ min: 0, max: 255 }),
  flowLabel: fc.integer({ min: 0, max: 0xfffff }),
  payloadLength: fc.integer({ min: 0, max: 200 }),
}).filter((r) => !(r.payloadLength === 0 && r.nextHeader === 0));

describe('round trips (fast-check)', () => {
  it('parse(emit(repr)) === repr', () => {
    fc.assert(fc.property(reprArb, (r) => {
      const buf = new Uint8Array(ipv6BufferLen(r));
      emitIpv6(r, buf, 0);
      expect(parseIpv6(buf)).toEqual(r);
    }));
  });
  it('emit(parse(bytes)) reproduces the header bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 40, maxLength: 80 }), (bytes) => {
      bytes[0] = 0x60 | (bytes[0]! & 0x0f);
      bytes[4] = 0;
      bytes[5] = bytes.length - 40;
      const r = parseIpv6(bytes);
      if (typeof r === 'string') return; // multicast source or jumbogram
      const out = new Uint8Array(40);
      emitIpv6(r, out, 0);
      expect(Array.from(out)).toEqual(Array.from(bytes.subarray(0, 40)));
    }));
  });
  it('any byte string: a record or a parse error, never a throw', () => {
    const codes = new Set(Object.keys(IPV6_PARSE_DROP_REASON));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), fc.boolean(), (bytes, six) => {
      if (six && bytes.length > 0) bytes[0] = 0x60 | (bytes[0]! & 0x0f);
      const r = parseIpv6(bytes);
      if (typeof r === 'string') expect(codes.has(r)).toBe(true);
      else expect(40 + r.payloadLength).toBeLessThanOrEqual(bytes.length);
    }), { numRuns: 2000 });
  });
});

describe('drop reasons', () => {
  it('every parse error has a reason, every reason one snmp6 counter, no name twice', () => {
    for (const reason of Object.values(IPV6_PARSE_DROP_REASON)) expect(IPV6_DROP_REASONS).toContain(reason);
    expect(new Set(IPV6_DROP_REASONS).size).toBe(IPV6_DROP_REASONS.length);
    expect(Object.keys(IPV6_DROP_COUNTER).sort()).toEqual([...IPV6_DROP_REASONS].sort());
    for (const r of IPV6_DROP_REASONS) expect(r).toMatch(/^Ip6In[A-Z][A-Za-z0-9]+$/);
  });
});
