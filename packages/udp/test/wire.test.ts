import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ViewCache } from '@netstack/ip';
import { UdpPacket, emitUdp, emitUdpHeader, parseUdp, parseUdpInto, udpBufferLen, type UdpRepr } from '../src/index.js';
import { hex, ip, toHex } from './helpers.js';

const A = ip('10.0.0.1');
const B = ip('10.0.0.2');
const HI = Uint8Array.from([0x68, 0x69]); // "hi"

function emit(repr: UdpRepr, src = A, dst = B): Uint8Array {
  const b = new Uint8Array(udpBufferLen(repr));
  emitUdp(repr, new UdpPacket(b), src, dst);
  return b;
}

// 10.0.0.1:1234 → 10.0.0.2:5678, "hi". By hand (RFC 768 pseudo-header):
//   pseudo: 0a00 + 0001 + 0a00 + 0002 + 0011 (proto) + 000a (length) = 141e
//   header + data: 04d2 + 162e + 000a + 0000 + 6869 = 8373
//   141e + 8373 = 9791; checksum = ~9791 = 686e
const GOLDEN = hex('04d2 162e 000a 686e 6869');
// Same ports, data d0d7: sum = 141e + 04d2 + 162e + 000a + d0d7 = ffff → computed 0 → sent as ffff.
const ZERO_SUM = hex('04d2 162e 000a ffff d0d7');

describe('UDP wire: golden bytes', () => {
  it('emits with the pseudo-header checksum', () => {
    expect(toHex(emit({ srcPort: 1234, dstPort: 5678, payload: HI }))).toBe(toHex(GOLDEN));
  });
  it('parses', () => {
    expect(parseUdp(new UdpPacket(GOLDEN), A, B)).toEqual({ srcPort: 1234, dstPort: 5678, payload: HI });
  });
  it('sends a computed checksum of 0 as 0xffff (RFC 768) and accepts it back', () => {
    const b = emit({ srcPort: 1234, dstPort: 5678, payload: hex('d0d7') });
    expect(toHex(b)).toBe(toHex(ZERO_SUM));
    expect(parseUdp(new UdpPacket(b), A, B)).toMatchObject({ payload: hex('d0d7') });
  });
  it('accepts a zero checksum field as "no checksum"', () => {
    const b = GOLDEN.slice();
    b[6] = 0;
    b[7] = 0;
    b[9]! ^= 0xff; // would not verify if it were checked
    expect(parseUdp(new UdpPacket(b), A, B)).toMatchObject({ srcPort: 1234, dstPort: 5678 });
  });
  it('rejects a bad checksum, including one computed for other addresses', () => {
    const b = GOLDEN.slice();
    b[8]! ^= 1;
    expect(parseUdp(new UdpPacket(b), A, B)).toBe('checksum');
    expect(parseUdp(new UdpPacket(GOLDEN), A, ip('10.0.0.3'))).toBe('checksum');
  });
});

describe('UDP wire: length against the IP payload', () => {
  it('drops a datagram whose IP payload is shorter than the UDP length', () => {
    expect(parseUdp(new UdpPacket(GOLDEN.subarray(0, 9)), A, B)).toBe('length');
  });
  it('drops a UDP length below the header', () => {
    const b = GOLDEN.slice();
    b[5] = 7;
    expect(parseUdp(new UdpPacket(b), A, B)).toBe('length');
  });
  it('trims bytes beyond the UDP length (the checksum covers only the UDP length)', () => {
    const padded = new Uint8Array(GOLDEN.length + 6).fill(0xab);
    padded.set(GOLDEN);
    expect(parseUdp(new UdpPacket(padded), A, B)).toEqual({ srcPort: 1234, dstPort: 5678, payload: HI });
  });
  it('needs the 8-byte header', () => {
    expect(UdpPacket.checked(new Uint8Array(7))).toBeUndefined();
  });
});

describe('UDP wire: properties', () => {
  const u16 = fc.integer({ min: 0, max: 0xffff });
  const addr = fc.integer({ min: 0, max: 0xffffffff });
  it('parse(emit(r)) = r, and the checksum field is never 0', () => {
    fc.assert(fc.property(u16, u16, fc.uint8Array({ maxLength: 1500 }), addr, addr, (srcPort, dstPort, payload, src, dst) => {
      const b = emit({ srcPort, dstPort, payload }, src, dst);
      expect(new UdpPacket(b).checksum).not.toBe(0);
      expect(parseUdp(new UdpPacket(b), src, dst)).toEqual({ srcPort, dstPort, payload });
    }));
  });
  it('a single corrupted byte is caught', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.integer({ min: 1, max: 255 }), (payload, at, flip) => {
      const b = emit({ srcPort: 9, dstPort: 7, payload });
      const i = at % b.length;
      if (i === 4 || i === 5) return; // the length field: caught as 'length' or 'checksum'
      b[i]! ^= flip;
      // A corrupted checksum field of exactly 0 means "none" (RFC 768) and is accepted.
      if (i >= 6 && i <= 7 && new UdpPacket(b).checksum === 0) return;
      expect(parseUdp(new UdpPacket(b), A, B)).toBe('checksum');
    }));
  });
});

describe('UDP wire: the allocation-free receive and send paths agree with parseUdp / emitUdp', () => {
  const reprArb = fc.record({
    srcPort: fc.integer({ min: 1, max: 0xffff }),
    dstPort: fc.integer({ min: 1, max: 0xffff }),
    payload: fc.uint8Array({ maxLength: 300 }),
  });

  it('emitUdpHeader writes the bytes emitUdp writes', () => {
    fc.assert(fc.property(reprArb, fc.integer({ min: 0, max: 40 }), (repr, offset) => {
      const buf = new Uint8Array(offset + udpBufferLen(repr) + 5);
      buf.set(repr.payload, offset + 8);
      emitUdpHeader(buf, offset, repr.srcPort, repr.dstPort, udpBufferLen(repr), A, B);
      expect(toHex(buf.subarray(offset, offset + udpBufferLen(repr)))).toBe(toHex(emit(repr)));
    }));
  });

  it('parseUdpInto gives what parseUdp gives, for intact, corrupted, truncated and padded datagrams', () => {
    const views = new ViewCache();
    const into: UdpRepr = { srcPort: 0, dstPort: 0, payload: new Uint8Array(0) };
    fc.assert(fc.property(reprArb, fc.integer({ min: -1, max: 400 }), fc.integer({ min: 0, max: 4 }), fc.boolean(), (repr, flip, pad, verify) => {
      const whole = emit(repr);
      const b = new Uint8Array(whole.length + pad);
      b.set(whole);
      if (flip >= 0 && flip < whole.length) b[flip]! ^= 0x10;
      for (const bytes of [b, b.subarray(0, Math.min(b.length, 7))]) {
        const expected = bytes.length < 8 ? 'truncated' : parseUdp(new UdpPacket(bytes), A, B, verify);
        const got = parseUdpInto(bytes, A, B, verify, into, views);
        if (typeof expected === 'string') expect(got).toBe(expected);
        else expect({ ...(got as UdpRepr) }).toEqual(expected);
      }
    }));
  });
});
