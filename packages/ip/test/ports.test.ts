import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { EPHEMERAL_HIGH, EPHEMERAL_LOW, EphemeralPorts, parseIpv6Address, writeAddress, type IpAddress } from '../src/index.js';

const key = (b: number): Uint8Array => new Uint8Array(16).fill(b);
const A = 0x0a000001;
const B = 0x0a000002;

describe('EphemeralPorts: RFC 6056 §3.3.4 Algorithm 4 (double-hash)', () => {
  it('is deterministic for a key, and the key changes the choice', () => {
    const pick = (k: number): number[] => {
      const e = new EphemeralPorts(key(k));
      return [80, 81, 443, 80].map((rp) => e.select(A, B, rp, () => true)!);
    };
    expect(pick(1)).toEqual(pick(1));
    expect(pick(2)).not.toEqual(pick(1));
  });

  it('stays in the range; one 3-tuple gets successive ports (its counter advances); 3-tuples start apart', () => {
    const e = new EphemeralPorts(key(9));
    const used = new Set<number>();
    const seq: number[] = [];
    for (let i = 0; i < 100; i++) {
      const p = e.select(A, B, 80, (q) => !used.has(q))!;
      expect(p).toBeGreaterThanOrEqual(EPHEMERAL_LOW);
      expect(p).toBeLessThanOrEqual(EPHEMERAL_HIGH);
      used.add(p);
      seq.push(p);
    }
    expect(used.size).toBe(100);
    // Distribution over many remotes: the first port of each spreads over the range.
    const buckets = new Array<number>(8).fill(0);
    const f = new EphemeralPorts(key(9));
    for (let r = 0; r < 4000; r++) {
      const p = f.select(A, 0x0b000000 + r, 443, () => true)!;
      buckets[Math.floor(((p - EPHEMERAL_LOW) * 8) / (EPHEMERAL_HIGH - EPHEMERAL_LOW + 1))]!++;
    }
    for (const n of buckets) expect(n).toBeGreaterThan(350); // 500 expected in each
  });

  it('never returns a port in use, and undefined once every port of the range was tried', () => {
    const e = new EphemeralPorts(key(4), 50000, 50009);
    const used = new Set<number>([50003, 50007]);
    let tried = 0;
    for (let i = 0; i < 8; i++) {
      const p = e.select(A, B, 80, (q) => { tried++; return !used.has(q); });
      expect(p).toBeDefined();
      expect(used.has(p!)).toBe(false);
      used.add(p!);
    }
    expect(used.size).toBe(10);
    tried = 0;
    expect(e.select(A, B, 80, () => { tried++; return false; })).toBeUndefined();
    expect(tried).toBe(10); // each port once, no endless loop
  });

  it('rejects a bad range', () => {
    expect(() => new EphemeralPorts(key(1), 0, 10)).toThrow(RangeError);
    expect(() => new EphemeralPorts(key(1), 10, 9)).toThrow(RangeError);
    expect(() => new EphemeralPorts(key(1), 1, 65536)).toThrow(RangeError);
  });
});

describe('EphemeralPorts without a remote (bind(0), listen(0))', () => {
  it('successive selections do not follow each other (each starts from its own keyed point)', () => {
    const key = new Uint8Array(16).fill(7);
    const a = new EphemeralPorts(key);
    const b = new EphemeralPorts(key);
    const ports: number[] = [];
    for (let i = 0; i < 50; i++) ports.push(a.select(0, 0, 0, () => true)!);
    let adjacent = 0;
    for (let i = 1; i < ports.length; i++) if (ports[i] === ports[i - 1]! + 1) adjacent++;
    expect(adjacent).toBeLessThan(3);
    // Still deterministic for a given key.
    for (let i = 0; i < 50; i++) expect(b.select(0, 0, 0, () => true)).toBe(ports[i]);
  });

  it('hashes the address bytes of either family (IPv4: 4-byte addresses, as before; IPv6: 16)', () => {
    // The first selection, recomputed from RFC 6056 §3.3.4 outside the class.
    const first = (k: Uint8Array, local: IpAddress, remote: IpAddress, rport: number): number => {
      const len = typeof local === 'number' ? 4 : 16;
      const msg = new Uint8Array(2 * len + 8);
      writeAddress(msg, 0, local);
      writeAddress(msg, len, remote);
      new DataView(msg.buffer).setUint16(2 * len, rport);
      new DataView(msg.buffer).setUint16(2 * len + 2, 6056);
      const h = createHash('sha256').update(k).update(msg).digest();
      const index = h.readUInt32BE(4) % 16;
      const t = createHash('sha256').update(k).update(`rfc6056-table-6056-${index - (index % 8)}`).digest().readUInt32BE(4 * (index % 8));
      return EPHEMERAL_LOW + ((h.readUInt32BE(0) + t) % (EPHEMERAL_HIGH - EPHEMERAL_LOW + 1));
    };
    const a6 = parseIpv6Address('fd07::2')!, b6 = parseIpv6Address('fd07::1')!;
    for (let k = 0; k < 20; k++) {
      expect(new EphemeralPorts(key(k)).select(A, B, 80 + k, () => true)).toBe(first(key(k), A, B, 80 + k));
      expect(new EphemeralPorts(key(k)).select(a6, b6, 80 + k, () => true)).toBe(first(key(k), a6, b6, 80 + k));
    }
  });
});
