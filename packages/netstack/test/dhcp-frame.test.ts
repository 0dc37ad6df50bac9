/**
 * DHCP as whole IPv4/UDP packets (src/dhcp/frame.ts): the client's packet checked field by
 * field and with a checksum computed here independently (RFC 1071), a server's packet
 * built here taken apart, and every other packet refused with one reason, never a throw.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { dhcpClientPacket, dhcpServerPayload } from '../src/dhcp/frame.js';

/** RFC 1071, written out again here so the test does not trust the code under test. */
function ones(b: Uint8Array, s = 0): number {
  for (let i = 0; i < b.length; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
const be32 = (x: number): number[] => [x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255];
const pseudo = (src: number, dst: number, len: number): number => ones(Uint8Array.from([...be32(src), ...be32(dst), 0, 17, len >> 8, len & 255]));

/** A server's packet: IPv4 + UDP `sport` → `dport`, checksums by hand; `proto`, `frag` to spoil it. */
function serverPacket(payload: Uint8Array, o: { src?: number; dst?: number; sport?: number; dport?: number; proto?: number; frag?: number } = {}): Uint8Array {
  const src = o.src ?? 0xc0a80001;
  const dst = o.dst ?? 0xffffffff;
  const p = new Uint8Array(28 + payload.length);
  p.set([0x45, 0, p.length >> 8, p.length & 255, 0, 1, (o.frag ?? 0) >> 8, (o.frag ?? 0) & 255, 64, o.proto ?? 17, 0, 0, ...be32(src), ...be32(dst)]);
  const hc = ~ones(p.subarray(0, 20)) & 0xffff;
  p[10] = hc >> 8; p[11] = hc & 255;
  const ul = 8 + payload.length;
  p.set([(o.sport ?? 67) >> 8, (o.sport ?? 67) & 255, (o.dport ?? 68) >> 8, (o.dport ?? 68) & 255, ul >> 8, ul & 255], 20);
  p.set(payload, 28);
  let uc = ~ones(p.subarray(20), pseudo(src, dst, ul)) & 0xffff;
  if (uc === 0) uc = 0xffff;
  p[26] = uc >> 8; p[27] = uc & 255;
  return p;
}

describe('DHCP packets (IPv4/UDP around the message)', () => {
  it('dhcpClientPacket: IPv4 from 0.0.0.0 to 255.255.255.255, UDP 68 → 67, both checksums right', () => {
    const payload = Uint8Array.from({ length: 301 }, (_, i) => (i * 7) & 255); // odd length: the checksum's last byte padded
    const p = dhcpClientPacket(payload, { address: 0xffffffff, source: 0 }, 0x1234);
    expect(p.length).toBe(20 + 8 + 301);
    expect(Array.from(p.subarray(0, 10))).toEqual([0x45, 0, (329 >> 8), 329 & 255, 0x12, 0x34, 0, 0, 64, 17]);
    expect(Array.from(p.subarray(12, 20))).toEqual([0, 0, 0, 0, 255, 255, 255, 255]);
    expect(ones(p.subarray(0, 20))).toBe(0xffff); // the header checksum verifies
    expect(Array.from(p.subarray(20, 26))).toEqual([0, 68, 0, 67, (309 >> 8), 309 & 255]);
    expect(ones(p.subarray(20), pseudo(0, 0xffffffff, 309))).toBe(0xffff); // the UDP checksum verifies
    expect(Array.from(p.subarray(28))).toEqual(Array.from(payload));
    const u = dhcpClientPacket(payload, { address: 0xc0a80001, source: 0xc0a80064 });
    expect(Array.from(u.subarray(12, 20))).toEqual([192, 168, 0, 100, 192, 168, 0, 1]);
    expect(ones(u.subarray(20), pseudo(0xc0a80064, 0xc0a80001, 309))).toBe(0xffff);
  });

  it('dhcpServerPayload: the message of a UDP 67 → 68 packet to any address; anything else refused with one reason', () => {
    const msg = Uint8Array.from({ length: 300 }, (_, i) => i & 255);
    const got = dhcpServerPayload(serverPacket(msg));
    expect(got instanceof Uint8Array ? Array.from(got) : got).toEqual(Array.from(msg));
    const unicast = dhcpServerPayload(serverPacket(msg, { dst: 0xc0a80064 }));
    expect(unicast instanceof Uint8Array).toBe(true);
    const spoiled = serverPacket(msg);
    spoiled[100]! ^= 1;
    expect(dhcpServerPayload(spoiled)).toBe('udp-malformed');
    const badIp = serverPacket(msg);
    badIp[8] = 63; // TTL changed, header checksum not
    expect(dhcpServerPayload(badIp)).toBe('not-ipv4');
    expect(dhcpServerPayload(serverPacket(msg, { sport: 68, dport: 67 }))).toBe('not-dhcp'); // a client's packet
    expect(dhcpServerPayload(serverPacket(msg, { dport: 69 }))).toBe('not-dhcp');
    expect(dhcpServerPayload(serverPacket(msg, { proto: 6 }))).toBe('not-udp');
    expect(dhcpServerPayload(serverPacket(msg, { frag: 0x2000 }))).toBe('fragment');
    expect(dhcpServerPayload(Uint8Array.of(0x60, 0, 0, 0))).toBe('not-ipv4');
    expect(dhcpServerPayload(new Uint8Array(0))).toBe('not-ipv4');
    expect(dhcpServerPayload(serverPacket(msg).subarray(0, 30))).toBe('not-ipv4'); // shorter than Total Length
  });

  it('dhcpServerPayload with trusted (TAP offload meta): a partial UDP checksum from a local server is taken', () => {
    const msg = Uint8Array.from({ length: 300 }, (_, i) => i & 255);
    const p = serverPacket(msg, { dst: 0xc0a80064 });
    // What a server on the same host sends through a TAP with offloads: the field holds only
    // the pseudo-header sum (virtio NEEDS_CSUM), the kernel never completed it.
    const partial = pseudo(0xc0a80001, 0xc0a80064, 308);
    p[26] = partial >> 8; p[27] = partial & 255;
    expect(dhcpServerPayload(p)).toBe('udp-malformed');
    const got = dhcpServerPayload(p, true);
    expect(got instanceof Uint8Array ? Array.from(got) : got).toEqual(Array.from(msg));
    // The IPv4 header is still checked.
    p[8] = 63;
    expect(dhcpServerPayload(p, true)).toBe('not-ipv4');
  });

  it('never throws on arbitrary packets (fast-check)', () => {
    const reasons = new Set(['not-ipv4', 'fragment', 'not-udp', 'udp-malformed', 'not-dhcp']);
    const good = serverPacket(new Uint8Array(40));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.tuple(fc.nat(80), fc.nat(255)), { maxLength: 6 }), (b, edits) => {
      for (const x of [b, (() => { const g = good.slice(); for (const [i, v] of edits) if (i < g.length) g[i] = v; return g; })()]) {
        const r = dhcpServerPayload(x);
        if (typeof r === 'string') expect(reasons.has(r)).toBe(true);
      }
    }), { numRuns: 3000 });
  });
});
