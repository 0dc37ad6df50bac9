import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  ACK, FIN, PSH, SYN, TcpPacket, emitTcp, newTcpRepr, parseTcp, seqGe, seqGt, seqLe, seqLt, tcpHeaderLen,
} from '../src/index.js';
import type { TcpRepr } from '../src/index.js';

const SRC = 0x0a000001;
const DST = 0x0a000002;

/** Independent reference: RFC 1071 over pseudo-header + segment, word by word. */
function refChecksum(seg: Uint8Array, src: number, dst: number): number {
  let sum = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + 6 + seg.length;
  for (let i = 0; i < seg.length; i += 2) sum += (seg[i]! << 8) | (i + 1 < seg.length ? seg[i + 1]! : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

// A SYN as Linux sends it: MSS 1460, SACK-permitted + timestamps, NOP + window scale 7.
const GOLDEN_SYN = Uint8Array.from([
  0xc1, 0x5c, 0x00, 0x50, // ports 49500 -> 80
  0x00, 0x00, 0x03, 0xe8, // seq 1000
  0x00, 0x00, 0x00, 0x00, // ack 0
  0xa0, 0x02, 0xfa, 0xf0, // data offset 10 words, SYN, window 64240
  0x00, 0x00, 0x00, 0x00, // checksum (filled below), urgent 0
  0x02, 0x04, 0x05, 0xb4, // MSS 1460
  0x04, 0x02, 0x08, 0x0a, // SACK-permitted, timestamp kind/len
  0x00, 0x00, 0x00, 0x2a, // TSval 42
  0x00, 0x00, 0x00, 0x00, // TSecr 0
  0x01, 0x03, 0x03, 0x07, // NOP, window scale 7
]);
{
  const c = refChecksum(GOLDEN_SYN, SRC, DST);
  GOLDEN_SYN[16] = c >>> 8; GOLDEN_SYN[17] = c & 255;
}

describe('sequence-number helpers (RFC 9293 §3.4, modulo 2^32)', () => {
  it('compare across the wrap', () => {
    expect(seqLt(0xfffffff0, 0x10)).toBe(true);
    expect(seqGt(0x10, 0xfffffff0)).toBe(true);
    expect(seqLe(5, 5)).toBe(true);
    expect(seqGe(0x80000000 - 1, 0)).toBe(true);
    expect(seqLt(5, 5)).toBe(false);
  });
});

describe('TCP wire format (RFC 9293 §3.1)', () => {
  it('parses a golden SYN with MSS, SACK-permitted, timestamps and window scale', () => {
    const r = parseTcp(GOLDEN_SYN, SRC, DST, true);
    expect(typeof r).not.toBe('string');
    const t = r as TcpRepr;
    expect(t.srcPort).toBe(49500);
    expect(t.dstPort).toBe(80);
    expect(t.seq).toBe(1000);
    expect(t.flags).toBe(SYN);
    expect(t.window).toBe(64240);
    expect(t.options.mss).toBe(1460);
    expect(t.options.sackPermitted).toBe(true);
    expect(t.options.timestamp).toEqual({ tsVal: 42, tsEcr: 0 });
    expect(t.options.windowScale).toBe(7);
    expect(t.payload.length).toBe(0);
  });

  it('emits the golden SYN byte for byte', () => {
    const r: TcpRepr = {
      srcPort: 49500, dstPort: 80, seq: 1000, ack: 0, flags: SYN, window: 64240, urgent: 0,
      options: { mss: 1460, sackPermitted: true, timestamp: { tsVal: 42, tsEcr: 0 }, windowScale: 7 },
      payload: new Uint8Array(0),
    };
    expect(tcpHeaderLen(r)).toBe(40);
    const buf = new Uint8Array(40);
    expect(emitTcp(r, buf, 0, SRC, DST)).toBe(40);
    expect(Array.from(buf)).toEqual(Array.from(GOLDEN_SYN));
  });

  it('emits a data segment whose checksum matches the reference', () => {
    const r: TcpRepr = { ...newTcpRepr(), srcPort: 1, dstPort: 2, seq: 7, ack: 9, flags: ACK | PSH, window: 100, payload: Uint8Array.from([1, 2, 3]) };
    const buf = new Uint8Array(23);
    emitTcp(r, buf, 0, SRC, DST);
    const c = (buf[16]! << 8) | buf[17]!;
    buf[16] = 0; buf[17] = 0;
    expect(c).toBe(refChecksum(buf, SRC, DST));
  });

  it('drops a corrupted checksum, but accepts it when verification is off', () => {
    const b = GOLDEN_SYN.slice();
    b[5] = b[5]! ^ 1;
    expect(parseTcp(b, SRC, DST, true)).toBe('bad-checksum');
    expect(typeof parseTcp(b, SRC, DST, false)).toBe('object');
  });

  it('drops truncated headers and bad data offsets', () => {
    expect(parseTcp(GOLDEN_SYN.subarray(0, 19), SRC, DST, false)).toBe('truncated');
    const low = GOLDEN_SYN.slice(); low[12] = 0x40; // 16 bytes < 20
    expect(parseTcp(low, SRC, DST, false)).toBe('bad-data-offset');
    const high = GOLDEN_SYN.slice(); high[12] = 0xf0; // 60 bytes > 40 present
    expect(parseTcp(high, SRC, DST, false)).toBe('bad-data-offset');
  });

  it('drops bad option lengths (zero, overrunning, wrong for a known kind)', () => {
    const zero = GOLDEN_SYN.slice(); zero[21] = 0;
    expect(parseTcp(zero, SRC, DST, false)).toBe('bad-option');
    const over = GOLDEN_SYN.slice(); over[38] = 9; // window scale claims 9 bytes at the end
    expect(parseTcp(over, SRC, DST, false)).toBe('bad-option');
    const mss = GOLDEN_SYN.slice(); mss[21] = 6; mss[25] = 2; // MSS with length 6 (and SACK-perm shifted)
    expect(parseTcp(mss, SRC, DST, false)).toBe('bad-option');
    const lone = GOLDEN_SYN.slice(); lone[36] = 0x01; lone[37] = 0x01; lone[38] = 0x01; lone[39] = 0x1e; // kind 30 with no length byte
    expect(parseTcp(lone, SRC, DST, false)).toBe('bad-option');
  });

  it('skips unknown options and stops at EOL', () => {
    const b = GOLDEN_SYN.slice();
    // replace NOP + window scale with an unknown 4-byte option (kind 30)
    b[36] = 30; b[37] = 4; b[38] = 0xaa; b[39] = 0xbb;
    const r = parseTcp(b, SRC, DST, false) as TcpRepr;
    expect(r.options.windowScale).toBeUndefined();
    expect(r.options.mss).toBe(1460);
    const e = GOLDEN_SYN.slice(); e[20] = 0; // EOL first: nothing after it counts
    const r2 = parseTcp(e, SRC, DST, false) as TcpRepr;
    expect(r2.options.mss).toBeUndefined();
    expect(r2.options.timestamp).toBeUndefined();
  });

  it('drops port 0', () => {
    const b = GOLDEN_SYN.slice(); b[0] = 0; b[1] = 0;
    expect(parseTcp(b, SRC, DST, false)).toBe('bad-port');
  });

  it('the view reads the fields after one check', () => {
    const p = new TcpPacket(GOLDEN_SYN);
    expect(p.check()).toBeUndefined();
    expect(p.headerLength).toBe(40);
    expect(p.options.length).toBe(20);
    expect(p.payload.length).toBe(0);
    expect(p.ack).toBe(0);
  });

  it('reuses the record: options absent in the second parse are cleared', () => {
    const rec = newTcpRepr();
    parseTcp(GOLDEN_SYN, SRC, DST, true, rec);
    const plain: TcpRepr = { ...newTcpRepr(), srcPort: 5, dstPort: 6, flags: ACK | FIN, payload: Uint8Array.from([9]) };
    const buf = new Uint8Array(21);
    emitTcp(plain, buf, 0, SRC, DST);
    parseTcp(buf, SRC, DST, true, rec);
    expect(rec.options.mss).toBeUndefined();
    expect(rec.options.timestamp).toBeUndefined();
    expect(rec.flags).toBe(ACK | FIN);
    expect(Array.from(rec.payload)).toEqual([9]);
  });

  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  const reprArb = fc.record({
    srcPort: fc.integer({ min: 1, max: 65535 }),
    dstPort: fc.integer({ min: 1, max: 65535 }),
    seq: u32, ack: u32,
    flags: fc.integer({ min: 0, max: 255 }),
    window: fc.integer({ min: 0, max: 65535 }),
    urgent: fc.integer({ min: 0, max: 65535 }),
    options: fc.record({
      mss: fc.integer({ min: 0, max: 65535 }),
      windowScale: fc.integer({ min: 0, max: 255 }),
      sackPermitted: fc.constant(true),
      timestamp: fc.record({ tsVal: u32, tsEcr: u32 }),
      sackBlocks: fc.array(fc.record({ left: u32, right: u32 }), { minLength: 1, maxLength: 4 }),
    }, { requiredKeys: [] }),
    payload: fc.uint8Array({ maxLength: 64 }),
  }).filter((r) => tcpHeaderLen(r as TcpRepr) <= 60);

  it('parse(emit(r)) = r for any representable segment', () => {
    fc.assert(fc.property(reprArb, u32, u32, (r0, src, dst) => {
      const r = r0 as TcpRepr;
      const buf = new Uint8Array(tcpHeaderLen(r) + r.payload.length);
      emitTcp(r, buf, 0, src, dst);
      const p = parseTcp(buf, src, dst, true);
      expect(typeof p).toBe('object');
      const q = p as TcpRepr;
      const norm = (x: TcpRepr) => ({ ...x, payload: Array.from(x.payload), options: Object.fromEntries(Object.entries(x.options).filter(([, v]) => v !== undefined)) });
      expect(norm(q)).toEqual(norm(r));
    }), { numRuns: 300 });
  });

  it('never throws on arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 80 }), (b) => {
      const r = parseTcp(b, SRC, DST, false);
      expect(r).toBeDefined();
    }), { numRuns: 500 });
  });
});
