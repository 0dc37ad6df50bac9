import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { checksum, checksumUpdate16, ipv6FromBytes, pseudoHeaderSum, sum16, type Ipv6Address } from '@netstack/ip';

// Golden: the IPv4 header from RFC 1071-era examples (Wikipedia's worked example).
const header = Uint8Array.from([0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7]);

describe('RFC 1071 checksum', () => {
  it('computes the known header checksum 0xb861', () => {
    expect(checksum(header)).toBe(0xb861);
  });
  it('verifies to 0xffff with the checksum in place', () => {
    const h = header.slice();
    h[10] = 0xb8; h[11] = 0x61;
    expect(sum16(h)).toBe(0xffff);
  });
  it('wide and narrow sums agree for any bytes and range', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(), fc.nat(), (b, x, y) => {
      const s = Math.min(x % (b.length + 1), y % (b.length + 1)); const e = Math.max(x % (b.length + 1), y % (b.length + 1));
      let ref = 0;
      for (let i = s; i < e; i += 2) ref += (b[i]! << 8) | (i + 1 < e ? b[i + 1]! : 0);
      while (ref > 0xffff) ref = (ref & 0xffff) + (ref >>> 16);
      expect(sum16(b, s, e)).toBe(ref);
    }));
  });
  it('IPv6 pseudo-header sums (RFC 8200 §8.1) are right in any order of repeated and new addresses', () => {
    // A small pool, so the same addresses (as new strings and as the same objects) come back
    // in every order: the memo of the last addresses summed must never answer for another.
    const pool = fc.array(fc.uint8Array({ minLength: 16, maxLength: 16 }), { minLength: 1, maxLength: 4 });
    fc.assert(fc.property(pool, fc.array(fc.tuple(fc.nat(), fc.nat(), fc.boolean()), { maxLength: 30 }), (addrs, picks) => {
      const objs = addrs.map((b) => ipv6FromBytes(b)!);
      for (const [i, j, fresh] of picks) {
        const sb = addrs[i % addrs.length]!; const db = addrs[j % addrs.length]!;
        const src: Ipv6Address = fresh ? ipv6FromBytes(sb)! : objs[i % addrs.length]!;
        const dst: Ipv6Address = fresh ? ipv6FromBytes(db)! : objs[j % addrs.length]!;
        const ph = new Uint8Array(40);
        ph.set(sb, 0); ph.set(db, 16); ph[34] = 0x01; ph[35] = 0x02; ph[39] = 58;
        expect(pseudoHeaderSum(src, dst, 58, 0x102)).toBe(sum16(ph));
      }
    }));
  });
  it('RFC 1624 incremental update equals a full recomputation', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 20, maxLength: 60 }).filter((b) => b.length % 2 === 0), fc.nat(), fc.integer({ min: 0, max: 0xffff }), (b, at, word) => {
      const i = (at % (b.length / 2)) * 2;
      const before = checksum(b);
      const old = (b[i]! << 8) | b[i + 1]!;
      const c = b.slice(); c[i] = word >>> 8; c[i + 1] = word & 255;
      const inc = checksumUpdate16(before, old, word);
      // 0x0000 and 0xffff are the same one's-complement value (RFC 1624 §3).
      const full = checksum(c);
      expect(inc === full || (inc ^ full) === 0xffff && (inc === 0 || full === 0)).toBe(true);
    }));
  });
});
