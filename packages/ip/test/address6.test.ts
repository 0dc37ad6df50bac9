/**
 * Addresses of both families: IPv6 text in (RFC 4291 §2.2) and out (RFC 5952), bytes,
 * the IPv6 pseudo-header sum (RFC 8200 §8.1) and exact 4-tuple keys.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isIPv6 } from 'node:net';
import {
  IPV6_ANY, addressBytes, addressFamily, addressLength, formatAddress, formatIpv6Address, ipv6FromBytes, minHeaderLength,
  parseIpAddress, parseIpv6Address, pseudoHeaderSum, readIpv6Address, sum16, tupleKey, writeAddress,
  type IpAddress, type Ipv6Address,
} from '@netstack/ip';

const bytes16 = fc.uint8Array({ minLength: 16, maxLength: 16 });
/** Addresses with long zero runs are what RFC 5952 is about: draw groups that are often zero. */
const groups8 = fc.array(fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 });
const v6 = fc.oneof(bytes16, groups8.map(groupsToBytes)).map((b) => ipv6FromBytes(b)!);
const v4 = fc.integer({ min: 0, max: 0xffffffff });
const anyAddr: fc.Arbitrary<IpAddress> = fc.oneof(v4, v6);
const port = fc.integer({ min: 0, max: 0xffff });

function groupsToBytes(g: number[]): Uint8Array {
  const b = new Uint8Array(16);
  g.forEach((w, i) => { b[2 * i] = w >>> 8; b[2 * i + 1] = w & 255; });
  return b;
}

function groupsOf(a: Ipv6Address): number[] {
  const b = addressBytes(a);
  return Array.from({ length: 8 }, (_, i) => (b[2 * i]! << 8) | b[2 * i + 1]!);
}

/** RFC 5952 §4, written out independently of the code under test (and of ipaddr.js). */
function reference5952(g: number[]): string {
  if (g.slice(0, 5).every((w) => w === 0) && g[5] === 0xffff) {
    return `::ffff:${g[6]! >>> 8}.${g[6]! & 255}.${g[7]! >>> 8}.${g[7]! & 255}`; // §5
  }
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; } // §4.2.3: the first of equal runs
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((w) => w.toString(16)).join(':');
  if (bestLen < 2) return hex(g); // §4.2.2: one zero group is not compressed
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

describe('IPv6 text (RFC 4291 §2.2 in, RFC 5952 out)', () => {
  it('RFC 5952 examples print in canonical form', () => {
    const cases: [string, string][] = [
      ['2001:0db8::0001', '2001:db8::1'], // §4.1 leading zeros
      ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'], // §4.2.1 shorten as much as possible
      ['2001:db8::0:1', '2001:db8::1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // §4.2.2 not one group
      ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // §4.2.3 the longest run
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // §4.2.3 the first of equal runs
      ['2001:DB8::AbCd', '2001:db8::abcd'], // §4.3 lower case
      ['::ffff:192.0.2.1', '::ffff:192.0.2.1'], // §5 IPv4-mapped
      ['0:0:0:0:0:ffff:c000:0201', '::ffff:192.0.2.1'],
      ['::', '::'], ['::1', '::1'], ['1::', '1::'], ['fe80::', 'fe80::'],
      ['1:0:0:0:0:0:0:0', '1::'], ['0:0:0:0:0:0:0:0', '::'],
      ['fd07:0:0:0:0:0:0:2', 'fd07::2'],
      ['1::2:3:4:5:6:7', '1:0:2:3:4:5:6:7'], // "::" for one group is accepted in, never printed
      ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
    ];
    for (const [input, canonical] of cases) {
      const a = parseIpv6Address(input);
      expect(a, input).toBeDefined();
      expect(formatIpv6Address(a!), input).toBe(canonical);
      expect(formatAddress(a!), input).toBe(canonical);
    }
  });

  it('"::a.b.c.d" is the IPv4-compatible address ::a.b.c.d (RFC 4291 §2.5.5.1), not ::ffff:a.b.c.d', () => {
    expect(Array.from(addressBytes(parseIpv6Address('::1.2.3.4')!))).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
    expect(formatIpv6Address(parseIpv6Address('::1.2.3.4')!)).toBe('::102:304');
  });

  it('refuses what is not one address', () => {
    for (const bad of [
      '', ':', ':::', '1', '1.2.3.4', ':1', '1:', '1:2:3:4:5:6:7', '1:2:3:4:5:6:7:8:9', '1::2::3', '12345::', '::g',
      'fe80::1%eth0', '::1.2.3.256', '::01.2.3.4', '::1.2.3', '1:2:3:4:5:6:7:1.2.3.4', '1.2.3.4::', '::1.2.3.4:5',
      ' ::1', '::1 ', '[::1]', '::1/64', '::0x1',
    ]) expect(parseIpv6Address(bad), bad).toBeUndefined();
    expect(parseIpv6Address(1 as unknown as string)).toBeUndefined();
  });

  it('any address formats as the independent RFC 5952 reference and parses back to the same bytes', () => {
    fc.assert(fc.property(v6, (a) => {
      const text = formatIpv6Address(a);
      expect(text).toBe(reference5952(groupsOf(a)));
      expect(parseIpv6Address(text)).toBe(a);
    }), { numRuns: 2000 });
  });

  it('any spelling of an address (leading zeros, case, any zero run compressed) parses to its bytes', () => {
    const spelling = fc.tuple(groups8, fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 8, maxLength: 8 }), fc.boolean(), fc.nat(), fc.nat());
    fc.assert(fc.property(spelling, ([g, pads, upper, at, len]) => {
      let parts = g.map((w, i) => w.toString(16).padStart(Math.min(4, w.toString(16).length + pads[i]!), '0'));
      if (upper) parts = parts.map((p) => p.toUpperCase());
      // Compress one run of zero groups, if there is one, at a drawn place.
      const runs: [number, number][] = [];
      for (let i = 0; i < 8; i++) for (let j = i + 1; j <= 8 && g[j - 1] === 0; j++) runs.push([i, j]);
      let text = parts.join(':');
      if (runs.length > 0 && len % 2 === 0) {
        const [i, j] = runs[at % runs.length]!;
        text = `${parts.slice(0, i).join(':')}::${parts.slice(j).join(':')}`;
      }
      expect(parseIpv6Address(text), text).toBe(ipv6FromBytes(groupsToBytes(g)));
    }), { numRuns: 2000 });
  });

  it('accepts exactly the text Node accepts as IPv6 (node:net isIPv6), zone ids aside', () => {
    const text = fc.stringMatching(/^[0-9a-fA-F:.]{0,24}$/);
    const likely = fc.tuple(groups8, fc.nat(), fc.nat()).map(([g, a, b]) => {
      const s = g.map((w) => w.toString(16)).join(':');
      const i = a % (s.length + 1), j = b % (s.length + 1);
      return s.slice(0, Math.min(i, j)) + '::' + s.slice(Math.max(i, j)); // often malformed, often not
    });
    fc.assert(fc.property(fc.oneof(text, likely), (t) => {
      expect(parseIpv6Address(t) !== undefined, t).toBe(isIPv6(t));
    }), { numRuns: 5000 });
  });
});

describe('addresses of either family', () => {
  it('the family is the type; lengths and header floors follow it', () => {
    const a6 = parseIpAddress('fd07::2')!;
    const a4 = parseIpAddress('10.7.0.2')!;
    expect(a4).toBe(0x0a070002);
    expect([addressFamily(a4), addressLength(a4), minHeaderLength(a4)]).toEqual(['IPv4', 4, 20]);
    expect([addressFamily(a6), addressLength(a6), minHeaderLength(a6)]).toEqual(['IPv6', 16, 40]);
    expect(parseIpAddress('fd07::2')).toBe(a6); // equal addresses are ===
    expect(new Map([[a6, 1]]).get(parseIpAddress('fd07:0::2')!)).toBe(1);
    expect(parseIpAddress('10.7.0.256')).toBeUndefined();
    expect(formatAddress(IPV6_ANY)).toBe('::');
  });

  it('writeAddress / readIpv6Address / addressBytes round-trip both families', () => {
    fc.assert(fc.property(anyAddr, fc.integer({ min: 0, max: 8 }), (a, off) => {
      const buf = new Uint8Array(32).fill(0xee);
      const n = writeAddress(buf, off, a);
      expect(n).toBe(addressLength(a));
      expect(buf.subarray(off, off + n)).toEqual(addressBytes(a));
      expect(buf[off + n]).toBe(0xee);
      if (typeof a === 'string') expect(readIpv6Address(buf, off)).toBe(a);
      else expect(((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0).toBe(a);
    }));
    expect(ipv6FromBytes(new Uint8Array(15))).toBeUndefined();
  });
});

describe('pseudo-header sum', () => {
  /** The pseudo-header laid out as bytes (RFC 768 / RFC 9293 §3.1; RFC 8200 §8.1) and summed by sum16. */
  function bytesSum(src: IpAddress, dst: IpAddress, protocol: number, length: number): number {
    if (typeof src === 'number' && typeof dst === 'number') {
      const p = new Uint8Array(12);
      writeAddress(p, 0, src); writeAddress(p, 4, dst);
      p[9] = protocol; p[10] = length >>> 8; p[11] = length & 255;
      return sum16(p);
    }
    const p = new Uint8Array(40);
    writeAddress(p, 0, src); writeAddress(p, 16, dst);
    new DataView(p.buffer).setUint32(32, length);
    p[39] = protocol;
    return sum16(p);
  }

  it('equals the sum over the laid-out pseudo-header, for both families', () => {
    fc.assert(fc.property(fc.oneof(fc.tuple(v4, v4), fc.tuple(v6, v6)), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffff }), fc.boolean(),
      ([s, d], proto, len16, jumbo) => {
        // RFC 8200 §8.1's length is 32 bits (jumbograms, RFC 2675); IPv4's is 16.
        const len = typeof s === 'string' && jumbo ? len16 * 0x10001 : len16;
        expect(pseudoHeaderSum(s, d, proto, len)).toBe(bytesSum(s, d, proto, len));
      }), { numRuns: 2000 });
  });

  it('golden: UDP over IPv6 fd07::1 -> fd07::2, 40000 -> 7, "hello" (computed with Python inet_pton/struct)', () => {
    const src = parseIpv6Address('fd07::1')!, dst = parseIpv6Address('fd07::2')!;
    expect(pseudoHeaderSum(src, dst, 17, 13)).toBe(0xfa30);
    const udp = Uint8Array.from([0x9c, 0x40, 0, 7, 0, 13, 0, 0, ...Buffer.from('hello')]);
    expect(~sum16(udp, 0, udp.length, pseudoHeaderSum(src, dst, 17, udp.length)) & 0xffff).toBe(0x25a8);
    // A 32-bit length (> 65535) is summed as two words.
    expect(pseudoHeaderSum(parseIpv6Address('2001:db8:85a3::8a2e:370:7334')!, parseIpv6Address('ff02::1:ff00:1')!, 6, 70000)).toBe(0xc3ac);
  });
});

describe('tupleKey', () => {
  const tuple = fc.tuple(anyAddr, port, anyAddr, port);
  it('is equal exactly when the 4-tuples are (families mixed)', () => {
    fc.assert(fc.property(tuple, tuple, fc.boolean(), (t, u, same) => {
      const b = same ? t : u;
      const equal = t[0] === b[0] && t[1] === b[1] && t[2] === b[2] && t[3] === b[3];
      expect(tupleKey(...t) === tupleKey(...b)).toBe(equal);
    }), { numRuns: 5000 });
  });
  it('tells apart tuples that differ in one place only', () => {
    fc.assert(fc.property(tuple, fc.integer({ min: 0, max: 3 }), anyAddr, port, (t, i, a, p) => {
      const u: [IpAddress, number, IpAddress, number] = [...t];
      if (i === 0 || i === 2) u[i] = a; else u[i] = p;
      expect(tupleKey(...t) === tupleKey(...u)).toBe(t[i] === u[i]);
    }), { numRuns: 5000 });
  });
  it('an IPv4 address and the IPv6 address that embeds it differ', () => {
    const a4 = 0x0a070002;
    const mapped = parseIpv6Address('::ffff:10.7.0.2')!, compat = parseIpv6Address('::10.7.0.2')!;
    const keys = new Set([tupleKey(a4, 80, a4, 1), tupleKey(mapped, 80, mapped, 1), tupleKey(compat, 80, compat, 1), tupleKey(a4, 80, mapped, 1)]);
    expect(keys.size).toBe(4);
  });
});
