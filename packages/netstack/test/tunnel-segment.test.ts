import { describe, expect, it } from 'vitest';
import { forEachSegment, GSO_TCPV4, GSO_TCPV6 } from '../src/tunnel/segment.js';

function sum(b: Uint8Array, start: number, end: number, s0 = 0): number {
  let s = s0;
  for (let i = start; i < end; i += 2) s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** The transport checksum verifies (the sum over pseudo-header and segment is 0xffff). */
function checksumOk(p: Uint8Array, v6: boolean, proto: number): boolean {
  const l4 = v6 ? 40 : (p[0]! & 15) * 4;
  const pseudo = (v6 ? sum(p, 8, 40) : sum(p, 12, 20)) + proto + (p.length - l4);
  return sum(p, l4, p.length, pseudo) === 0xffff;
}

const tcpFlags = { FIN: 0x01, PSH: 0x08, ACK: 0x10, CWR: 0x80 };

/** A TCP super-segment: IPv4 (id 0x1234, DF) or IPv6, a 32-byte TCP header (options), `payload` bytes i & 0xff. */
function superSegment(v6: boolean, payload: number, flags: number): Uint8Array {
  const ip = v6 ? 40 : 20;
  const p = new Uint8Array(ip + 32 + payload);
  if (v6) {
    p[0] = 0x60; p[6] = 6; p[7] = 64;
    p.set([0xfd, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8);
    p.set([0xfd, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 24);
  } else {
    p[0] = 0x45; p[4] = 0x12; p[5] = 0x34; p[6] = 0x40; p[8] = 64; p[9] = 6;
    p.set([10, 100, 0, 1, 10, 100, 0, 2], 12);
  }
  p.set([0x1f, 0x90, 0xc0, 0x00, 0xff, 0xff, 0xff, 0x00], ip); // ports; seq 0xffffff00 (wraps)
  p[ip + 12] = 8 << 4;
  p[ip + 13] = flags;
  p[ip + 16] = 0xab; // the kernel's partial sum: must be ignored
  for (let i = 0; i < payload; i++) p[ip + 32 + i] = i & 0xff;
  return p;
}

describe('TSO super-segments cut before encryption', () => {
  for (const v6 of [false, true]) {
    it(`${v6 ? 'IPv6' : 'IPv4'}: 4000 bytes at gsoSize 1368 -> 1368 + 1368 + 1264, headers and checksums right, payload in order`, () => {
      const p = superSegment(v6, 4000, tcpFlags.ACK | tcpFlags.PSH | tcpFlags.FIN | tcpFlags.CWR);
      const out: Uint8Array[] = [];
      const n = forEachSegment(p, v6 ? GSO_TCPV6 : GSO_TCPV4, 1368, true, new Uint8Array(65535), (s) => out.push(Uint8Array.from(s)));
      expect(n).toBe(3);
      const ip = v6 ? 40 : 20;
      expect(out.map((s) => s.length - ip - 32)).toEqual([1368, 1368, 1264]);
      const payload: number[] = [];
      out.forEach((s, i) => {
        if (v6) expect((s[4]! << 8) | s[5]!).toBe(s.length - 40);
        else {
          expect((s[2]! << 8) | s[3]!).toBe(s.length);
          expect((s[4]! << 8) | s[5]!).toBe(0x1234 + i);
          expect(sum(s, 0, 20)).toBe(0xffff);
        }
        const seq = new DataView(s.buffer).getUint32(ip + 4);
        expect(seq).toBe((0xffffff00 + 1368 * i) >>> 0);
        const f = s[ip + 13]!;
        expect(f & tcpFlags.ACK).toBe(tcpFlags.ACK);
        expect(f & (tcpFlags.FIN | tcpFlags.PSH)).toBe(i === 2 ? tcpFlags.FIN | tcpFlags.PSH : 0);
        expect(f & tcpFlags.CWR).toBe(i === 0 ? tcpFlags.CWR : 0);
        expect(checksumOk(s, v6, 6)).toBe(true);
        payload.push(...s.subarray(ip + 32));
      });
      expect(payload).toEqual(Array.from({ length: 4000 }, (_, i) => i & 0xff));
    });
  }

  it('a partial checksum alone (not GSO) is completed, TCP and UDP; a complete packet passes as it is', () => {
    const tcp = superSegment(false, 100, tcpFlags.ACK);
    const out: Uint8Array[] = [];
    expect(forEachSegment(tcp, 0, 0, true, new Uint8Array(65535), (s) => out.push(Uint8Array.from(s)))).toBe(1);
    expect(checksumOk(out[0]!, false, 6)).toBe(true);
    const udp = new Uint8Array(20 + 8 + 10);
    udp[0] = 0x45; udp[9] = 17; udp.set([10, 100, 0, 1, 10, 100, 0, 2], 12); udp[25] = 18;
    expect(forEachSegment(udp, 0, 0, true, new Uint8Array(65535), (s) => out.push(Uint8Array.from(s)))).toBe(1);
    expect(checksumOk(out[1]!, false, 17)).toBe(true);
    let same: Uint8Array | undefined;
    expect(forEachSegment(udp, 0, 0, false, new Uint8Array(65535), (s) => { same = s; })).toBe(1);
    expect(same).toBe(udp);
  });

  it('what cannot be cut is refused (-1): GSO of UDP, a family that does not match, a truncated header', () => {
    const scratch = new Uint8Array(65535);
    const udp = new Uint8Array(28); udp[0] = 0x45; udp[9] = 17;
    expect(forEachSegment(udp, GSO_TCPV4, 1000, true, scratch, () => {})).toBe(-1);
    expect(forEachSegment(superSegment(false, 3000, 0x10), GSO_TCPV6, 1000, true, scratch, () => {})).toBe(-1);
    expect(forEachSegment(superSegment(false, 3000, 0x10).subarray(0, 30), GSO_TCPV4, 1000, true, scratch, () => {})).toBe(-1);
  });
});
