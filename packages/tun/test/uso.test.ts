/**
 * UDP segmentation on receive (uso.ts): a UDP/IPv4 super-datagram as the kernel hands it
 * over (gso_type UDP_L4, NEEDS_CSUM, csum_start = IHL, csum_offset 6, one header with the
 * whole lengths and a partial checksum) split in place into the datagrams the sender wrote.
 * Golden bytes were computed independently (Python, RFC 1071) from the kernel's rules
 * (__udp_gso_segment, inet_gso_segment). The device's use of it is in offload.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { UdpSegmenter, UDP_MAX_SEGMENTS } from '../src/uso.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));

/** RFC 1071, the obvious way (independent of uso.ts). */
function onesSum(bytes: number[]): number {
  let s = 0;
  for (let i = 0; i < bytes.length; i += 2) s += (bytes[i]! << 8) | (bytes[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

const SRC = [10, 7, 0, 1];
const DST = [10, 7, 0, 2];

/** What the kernel writes: the pseudo-header sum (folded, not complemented) for UDP length `len`. */
function pseudo(len: number, src = SRC, dst = DST): number {
  return onesSum([...src, ...dst, 0, 17, len >>> 8, len & 0xff]);
}

/** A super-datagram as udp_send_skb leaves it: IHL `ihl`, DF, `payload` bytes, partial checksum. */
function superDatagram(payload: Uint8Array, opts: { id?: number; ihl?: number; frag?: number } = {}): Uint8Array {
  const ihl = opts.ihl ?? 20;
  const p = new Uint8Array(ihl + 8 + payload.length);
  const total = p.length;
  const id = opts.id ?? 0x1234;
  const frag = opts.frag ?? 0x4000;
  p.set([0x40 | (ihl / 4), 0, total >>> 8, total & 0xff, id >>> 8, id & 0xff, frag >>> 8, frag & 0xff, 64, 17, 0, 0, ...SRC, ...DST]);
  for (let i = 20; i < ihl; i++) p[i] = 1; // options: NOP
  const ipc = ~onesSum([...p.subarray(0, ihl)]) & 0xffff;
  p[10] = ipc >>> 8;
  p[11] = ipc & 0xff;
  const ulen = 8 + payload.length;
  const pc = pseudo(ulen);
  p.set([0x9c, 0x40, 0, 7, ulen >>> 8, ulen & 0xff, pc >>> 8, pc & 0xff], ihl);
  p.set(payload, ihl + 8);
  return p;
}

function pattern(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed + (i >>> 8)) & 0xff;
  return b;
}

/** Splits `packet` (copied) and returns copies of every datagram. */
function split(packet: Uint8Array, gsoSize: number, csumStart?: number): Uint8Array[] {
  const seg = new UdpSegmenter();
  const buf = packet.slice();
  const ihl = (buf[0]! & 0x0f) * 4;
  const n = seg.begin(buf, gsoSize, true, csumStart ?? ihl, 6);
  if (typeof n === 'string') throw new Error(`refused: ${n}`);
  const out: Uint8Array[] = [];
  for (let k = 0; k < n; k++) out.push(seg.segment(k).slice());
  return out;
}

/** Checks one split datagram as a receiver on a wire would, after completing its partial checksum. */
function checkDatagram(d: Uint8Array, want: { payload: Uint8Array; id: number; ihl?: number }): void {
  const ihl = want.ihl ?? 20;
  expect(d.length).toBe(ihl + 8 + want.payload.length);
  expect((d[2]! << 8) | d[3]!).toBe(d.length); // IPv4 Total Length
  expect((d[4]! << 8) | d[5]!).toBe(want.id);
  expect(onesSum([...d.subarray(0, ihl)])).toBe(0xffff); // IPv4 header checksum valid
  const ulen = (d[ihl + 4]! << 8) | d[ihl + 5]!;
  expect(ulen).toBe(8 + want.payload.length);
  // Partial: the field holds the pseudo-header sum for this datagram's own length ...
  expect((d[ihl + 6]! << 8) | d[ihl + 7]!).toBe(pseudo(ulen));
  // ... so completing it (sum from csum_start, store the complement) gives a valid checksum.
  const udp = [...d.subarray(ihl)];
  const c = ~onesSum(udp) & 0xffff;
  udp[6] = c >>> 8;
  udp[7] = c & 0xff;
  expect(onesSum([...SRC, ...DST, 0, 17, ulen >>> 8, ulen & 0xff, ...udp])).toBe(0xffff);
  expect(hex(d.subarray(ihl + 8))).toBe(hex(want.payload));
}

describe('UdpSegmenter: golden bytes', () => {
  it('10 payload bytes at gso_size 4: 4 + 4 + 2, ids +1, lengths and checksums per datagram', () => {
    const input = '4500002612344000401114830a0700010a0700029c4000070012143400010203040506070809';
    expect(hex(superDatagram(Uint8Array.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)))).toBe(input); // the builder agrees
    const seg = new UdpSegmenter();
    const buf = fromHex(input);
    expect(seg.begin(buf, 4, true, 20, 6)).toBe(3);
    expect(hex(seg.segment(0))).toBe('4500002012344000401114890a0700010a0700029c400007000c142e00010203');
    expect(hex(seg.segment(1))).toBe('4500002012354000401114880a0700010a0700029c400007000c142e04050607');
    expect(hex(seg.segment(2))).toBe('4500001e12364000401114890a0700010a0700029c400007000a142c0809');
  });

  it('the datagrams are views into the super-datagram, rewritten in place (no copy)', () => {
    const buf = superDatagram(pattern(3000), { id: 7 });
    const seg = new UdpSegmenter();
    expect(seg.begin(buf, 1000, true, 20, 6)).toBe(3);
    for (let k = 0; k < 3; k++) {
      const d = seg.segment(k);
      expect(d.buffer).toBe(buf.buffer);
      expect(d.byteOffset).toBe(buf.byteOffset + k * 1000);
    }
  });
});

describe('UdpSegmenter: what the kernel sends', () => {
  it('64 x 1000 bytes, the last one byte short (as a 63999-byte UDP_SEGMENT send)', () => {
    const payload = pattern(64 * 1000 - 1, 3);
    const ds = split(superDatagram(payload, { id: 34931 }), 1000);
    expect(ds).toHaveLength(64);
    ds.forEach((d, k) => checkDatagram(d, { payload: payload.subarray(k * 1000, (k + 1) * 1000), id: 34931 + k }));
    expect(ds[63]!.length).toBe(28 + 999);
  });

  it('a payload that is an exact multiple of gso_size: every datagram full', () => {
    const payload = pattern(5 * 1200);
    const ds = split(superDatagram(payload), 1200);
    expect(ds.map((d) => d.length)).toEqual([1228, 1228, 1228, 1228, 1228]);
    ds.forEach((d, k) => checkDatagram(d, { payload: payload.subarray(k * 1200, (k + 1) * 1200), id: 0x1234 + k }));
  });

  it('the Identification wraps at 2^16', () => {
    const payload = pattern(300);
    const ds = split(superDatagram(payload, { id: 0xfffe }), 100);
    expect(ds.map((d) => (d[4]! << 8) | d[5]!)).toEqual([0xfffe, 0xffff, 0]);
    ds.forEach((d, k) => checkDatagram(d, { payload: payload.subarray(k * 100, (k + 1) * 100), id: (0xfffe + k) & 0xffff }));
  });

  it('IPv4 options are copied into every datagram (csum_start = IHL)', () => {
    const payload = pattern(250);
    const ds = split(superDatagram(payload, { ihl: 24 }), 100);
    expect(ds).toHaveLength(3);
    ds.forEach((d, k) => {
      checkDatagram(d, { payload: payload.subarray(k * 100, (k + 1) * 100), id: 0x1234 + k, ihl: 24 });
      expect([...d.subarray(20, 24)]).toEqual([1, 1, 1, 1]);
    });
  });

  it('without DF (what a plain python sender gave on 6.18): flags stay as they were', () => {
    const ds = split(superDatagram(pattern(20), { frag: 0 }), 8);
    expect(ds.map((d) => (d[6]! << 8) | d[7]!)).toEqual([0, 0, 0]);
  });
});

describe('UdpSegmenter: gso_size edge cases', () => {
  it('gso_size below the header length (1..27): headers overlap earlier datagrams only', () => {
    const payload = pattern(40, 9);
    for (const g of [1, 2, 3, 7, 27, 28, 29]) {
      const ds = split(superDatagram(payload), g);
      expect(ds).toHaveLength(Math.ceil(40 / g));
      ds.forEach((d, k) => checkDatagram(d, { payload: payload.subarray(k * g, (k + 1) * g), id: 0x1234 + k }));
    }
  });

  it('a payload that fits in one gso_size gives one datagram, the same bytes', () => {
    const whole = superDatagram(pattern(500));
    for (const g of [500, 501, 65535]) {
      const ds = split(whole, g);
      expect(ds.map(hex)).toEqual([hex(whole)]);
    }
  });

  it('an empty payload gives one empty datagram', () => {
    const whole = superDatagram(new Uint8Array(0));
    expect(split(whole, 1000).map(hex)).toEqual([hex(whole)]);
  });

  it(`at most UDP_MAX_SEGMENTS (${UDP_MAX_SEGMENTS}) datagrams, like the kernel's own limit`, () => {
    expect(split(superDatagram(pattern(UDP_MAX_SEGMENTS)), 1)).toHaveLength(UDP_MAX_SEGMENTS);
    const seg = new UdpSegmenter();
    expect(seg.begin(superDatagram(pattern(UDP_MAX_SEGMENTS + 1)), 1, true, 20, 6)).toBe('segments');
    expect(seg.begin(superDatagram(pattern(65507)), 512, true, 20, 6)).toBe(128);
    expect(seg.begin(superDatagram(pattern(65507)), 511, true, 20, 6)).toBe('segments');
  });

  it('gso_size 0 is refused', () => {
    expect(new UdpSegmenter().begin(superDatagram(pattern(100)), 0, true, 20, 6)).toBe('gso-size');
  });
});

describe('UdpSegmenter: malformed super-datagrams are refused, untouched, never thrown', () => {
  const good = superDatagram(pattern(3000));
  const mutate = (f: (p: Uint8Array) => void, from = good): Uint8Array => {
    const p = from.slice();
    f(p);
    return p;
  };
  /** Fixes the IPv4 header checksum after a mutation (so only the intended defect remains). */
  const reck = (p: Uint8Array): void => {
    p[10] = 0;
    p[11] = 0;
    const c = ~onesSum([...p.subarray(0, (p[0]! & 0x0f) * 4)]) & 0xffff;
    p[10] = c >>> 8;
    p[11] = c & 0xff;
  };
  const cases: [string, Uint8Array, string, { partial?: boolean; start?: number; offset?: number }?][] = [
    ['empty', new Uint8Array(0), 'header'],
    ['shorter than an IPv4 header', good.slice(0, 19), 'header'],
    ['version 5', mutate((p) => { p[0] = 0x55; }), 'header'],
    ['IHL 4', mutate((p) => { p[0] = 0x44; reck(p); }), 'header'],
    ['IHL beyond the bytes', mutate((p) => { p[0] = 0x4f; }, good.slice(0, 40)), 'header'],
    ['no room for the UDP header', mutate((p) => { p[2] = 0; p[3] = 24; reck(p); }, good.slice(0, 24)), 'header'],
    ['bad IPv4 header checksum', mutate((p) => { p[11] = p[11]! ^ 1; }), 'header'],
    ['Total Length short of the bytes', mutate((p) => { p[3]! -= 1; reck(p); }), 'length'],
    ['Total Length beyond the bytes', good.slice(0, good.length - 1), 'length'],
    ['TCP', mutate((p) => { p[9] = 6; reck(p); }), 'protocol'],
    ['a first fragment (MF)', mutate((p) => { p[6] = 0x20; reck(p); }), 'fragment'],
    ['a later fragment', mutate((p) => { p[6] = 0; p[7] = 1; reck(p); }), 'fragment'],
    ['UDP Length short of the IP payload', mutate((p) => { p[25]! -= 1; }), 'length'],
    ['UDP Length beyond it', mutate((p) => { p[25]! += 1; }), 'length'],
    ['no NEEDS_CSUM', good, 'csum', { partial: false }],
    ['csum_start not at UDP', good, 'csum', { start: 0 }],
    ['csum_offset not the UDP checksum', good, 'csum', { offset: 16 }],
  ];
  for (const [name, packet, reason, vnet] of cases) {
    it(`${name}: '${reason}'`, () => {
      const seg = new UdpSegmenter();
      const before = hex(packet);
      expect(seg.begin(packet, 1000, vnet?.partial ?? true, vnet?.start ?? 20, vnet?.offset ?? 6)).toBe(reason);
      expect(hex(packet)).toBe(before);
      expect(() => seg.segment(0)).toThrow(RangeError); // nothing to take
    });
  }

  it('random and truncated input never throws; what is accepted splits cleanly', () => {
    let x = 12345;
    const rnd = (n: number): number => { x = (Math.imul(x, 1103515245) + 12345) >>> 0; return x % n; };
    const seg = new UdpSegmenter();
    for (let i = 0; i < 2000; i++) {
      const p = i % 2 === 0 ? good.slice(0, rnd(good.length + 1)) : good.slice();
      for (let j = rnd(4); j > 0; j--) if (p.length > 0) p[rnd(Math.min(p.length, 40))] = rnd(256);
      const n = seg.begin(p, rnd(3000), rnd(8) !== 0, rnd(4) === 0 ? rnd(64) : 20, 6);
      if (typeof n === 'number') for (let k = 0; k < n; k++) expect(seg.segment(k).length).toBeGreaterThanOrEqual(28);
    }
  });

  it('datagrams must be taken in order (a bug in the caller throws)', () => {
    const seg = new UdpSegmenter();
    expect(seg.begin(good.slice(), 1000, true, 20, 6)).toBe(3);
    expect(() => seg.segment(1)).toThrow(RangeError);
    seg.segment(0);
    seg.segment(1);
    seg.segment(2);
    expect(() => seg.segment(3)).toThrow(RangeError);
  });
});

// IPv6 (RFC 8200): 40-byte header, Payload Length, no header checksum, the pseudo-header of §8.1.
const SRC6 = [0xfd, 0x07, ...new Array<number>(13).fill(0), 1];
const DST6 = [0xfd, 0x07, ...new Array<number>(13).fill(0), 2];

/** RFC 8200 §8.1 pseudo-header sum (folded, not complemented) for upper-layer length `len`. */
function pseudo6(len: number): number {
  return onesSum([...SRC6, ...DST6, 0, 0, len >>> 8, len & 0xff, 0, 0, 0, 17]);
}

/** A UDP/IPv6 super-datagram as udp_v6_send_skb leaves it: flow label 0x12345, hop limit 64, partial checksum. */
function superDatagram6(payload: Uint8Array, nextHeader = 17): Uint8Array {
  const ulen = 8 + payload.length;
  const p = new Uint8Array(40 + ulen);
  p.set([0x60, 0x01, 0x23, 0x45, ulen >>> 8, ulen & 0xff, nextHeader, 64, ...SRC6, ...DST6]);
  const pc = pseudo6(ulen);
  p.set([0x9c, 0x40, 0, 7, ulen >>> 8, ulen & 0xff, pc >>> 8, pc & 0xff], 40);
  p.set(payload, 48);
  return p;
}

function split6(packet: Uint8Array, gsoSize: number): Uint8Array[] {
  const seg = new UdpSegmenter();
  const buf = packet.slice();
  const n = seg.begin(buf, gsoSize, true, 40, 6);
  if (typeof n === 'string') throw new Error(`refused: ${n}`);
  const out: Uint8Array[] = [];
  for (let k = 0; k < n; k++) out.push(seg.segment(k).slice());
  return out;
}

function checkDatagram6(d: Uint8Array, payload: Uint8Array): void {
  expect(d.length).toBe(48 + payload.length);
  expect(hex(d.subarray(0, 4))).toBe('60012345'); // version, traffic class, flow label copied
  expect((d[4]! << 8) | d[5]!).toBe(8 + payload.length); // Payload Length
  expect([d[6], d[7]]).toEqual([17, 64]);
  expect([...d.subarray(8, 40)]).toEqual([...SRC6, ...DST6]);
  const ulen = (d[44]! << 8) | d[45]!;
  expect(ulen).toBe(8 + payload.length);
  expect((d[46]! << 8) | d[47]!).toBe(pseudo6(ulen)); // still partial, for its own length
  const udp = [...d.subarray(40)];
  const c = ~onesSum(udp) & 0xffff;
  udp[6] = c >>> 8;
  udp[7] = c & 0xff;
  expect(onesSum([...SRC6, ...DST6, 0, 0, ulen >>> 8, ulen & 0xff, 0, 0, 0, 17, ...udp])).toBe(0xffff);
  expect(hex(d.subarray(48))).toBe(hex(payload));
}

describe('UdpSegmenter: UDP/IPv6 super-datagrams', () => {
  it('golden bytes (computed independently in Python): 10 payload bytes at gso_size 4', () => {
    const input = '6001234500121140fd070000000000000000000000000001fd0700000000000000000000000000029c4000070012fa3500010203040506070809';
    expect(hex(superDatagram6(Uint8Array.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9)))).toBe(input);
    const seg = new UdpSegmenter();
    expect(seg.begin(fromHex(input), 4, true, 40, 6)).toBe(3);
    expect(hex(seg.segment(0))).toBe('60012345000c1140fd070000000000000000000000000001fd0700000000000000000000000000029c400007000cfa2f00010203');
    expect(hex(seg.segment(1))).toBe('60012345000c1140fd070000000000000000000000000001fd0700000000000000000000000000029c400007000cfa2f04050607');
    expect(hex(seg.segment(2))).toBe('60012345000a1140fd070000000000000000000000000001fd0700000000000000000000000000029c400007000afa2d0809');
  });

  it('64 x 1000 bytes, the last one short; every datagram checks out after completing its checksum', () => {
    const payload = pattern(64 * 1000 - 7, 5);
    const ds = split6(superDatagram6(payload), 1000);
    expect(ds).toHaveLength(64);
    ds.forEach((d, k) => checkDatagram6(d, payload.subarray(k * 1000, (k + 1) * 1000)));
    expect(ds[63]!.length).toBe(48 + 993);
  });

  it('gso_size below the 48 header bytes still splits exactly (headers overlap earlier datagrams only)', () => {
    const payload = pattern(100, 2);
    for (const g of [1, 5, 47, 48, 49]) {
      const ds = split6(superDatagram6(payload), g);
      expect(ds).toHaveLength(Math.ceil(100 / g));
      ds.forEach((d, k) => checkDatagram6(d, payload.subarray(k * g, (k + 1) * g)));
    }
  });

  const good6 = superDatagram6(pattern(3000));
  const cases6: [string, Uint8Array, string, number?][] = [
    ['shorter than the IPv6 + UDP headers', good6.slice(0, 47), 'header'],
    ['Payload Length short of the bytes', ((p) => { p[5]! -= 1; return p; })(good6.slice()), 'length'],
    ['Payload Length beyond the bytes', good6.slice(0, good6.length - 1), 'length'],
    ['Payload Length 0 (a jumbogram)', ((p) => { p[4] = 0; p[5] = 0; return p; })(good6.slice()), 'length'],
    ['an extension header first (hop-by-hop, 0)', superDatagram6(pattern(3000), 0), 'protocol'],
    ['TCP', superDatagram6(pattern(3000), 6), 'protocol'],
    ['UDP Length short of the payload', ((p) => { p[45]! -= 1; return p; })(good6.slice()), 'length'],
    ['csum_start at the IPv4 place (20)', good6, 'csum', 20],
  ];
  for (const [name, packet, reason, start] of cases6) {
    it(`refused, untouched: ${name} -> '${reason}'`, () => {
      const seg = new UdpSegmenter();
      const before = hex(packet);
      expect(seg.begin(packet, 1000, true, start ?? 40, 6)).toBe(reason);
      expect(hex(packet)).toBe(before);
    });
  }
});
