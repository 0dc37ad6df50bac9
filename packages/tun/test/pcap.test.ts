import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capture, CaptureLink, completeChecksum, createLinkPair, DEFAULT_CAPTURE_MAX_BYTES, LINKTYPE_ETHERNET, LINKTYPE_RAW, PcapCapture, PcapWriter, readPcap, type PacketTap, type PcapSink } from '../src/index.js';

function memorySink(): PcapSink & { bytes(): Uint8Array; writes: number; closed: boolean } {
  const chunks: Uint8Array[] = [];
  const sink = {
    writes: 0,
    closed: false,
    write(chunk: Uint8Array) {
      sink.writes++;
      chunks.push(Uint8Array.from(chunk)); // the writer reuses its buffer
    },
    close() {
      sink.closed = true;
    },
    bytes: () => Buffer.concat(chunks),
  };
  return sink;
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

describe('PcapWriter', () => {
  it('writes the golden global header and one record', () => {
    const sink = memorySink();
    const w = new PcapWriter(sink);
    // 2024-01-02T03:04:05.678901Z = 1704164645 s + 678901 µs
    w.write(Uint8Array.of(0x45, 0x00, 0x00, 0x14), 1704164645678.901);
    w.close();
    expect(hex(sink.bytes())).toBe(
      [
        'd4c3b2a1', // magic 0xa1b2c3d4, little-endian
        '0200', '0400', // version 2.4
        '00000000', '00000000', // thiszone, sigfigs
        'ffff0000', // snaplen 65535
        '65000000', // LINKTYPE_RAW 101
        '257d9365', // ts_sec 1704164645 = 0x65937d25
        'f55b0a00', // ts_usec 678901
        '04000000', '04000000', // incl_len, orig_len
        '45000014',
      ].join(''),
    );
    expect(sink.closed).toBe(true);
  });

  it('buffers: nothing reaches the sink until the buffer fills or flush/close', () => {
    const sink = memorySink();
    const w = new PcapWriter(sink, { bufferSize: 4096 });
    for (let i = 0; i < 10; i++) w.write(new Uint8Array(100), 0);
    expect(sink.writes).toBe(0);
    for (let i = 0; i < 40; i++) w.write(new Uint8Array(100), 0);
    expect(sink.writes).toBe(1); // one 4 KiB chunk went out: the buffer is the bound
    w.flush();
    w.close();
    expect(readPcap(sink.bytes()).records).toHaveLength(50);
  });

  it('writes a record larger than its buffer straight through, cut at snaplen', () => {
    const sink = memorySink();
    const w = new PcapWriter(sink, { bufferSize: 4096, snaplen: 6000 });
    const big = new Uint8Array(9000).map((_, i) => i & 0xff);
    w.write(Uint8Array.of(1), 0);
    w.write(big, 0);
    w.close();
    const file = readPcap(sink.bytes());
    expect(file.snaplen).toBe(6000);
    expect(file.records[1]!.originalLength).toBe(9000);
    expect(file.records[1]!.data).toEqual(big.subarray(0, 6000));
  });

  it('ignores and counts writes after close', () => {
    const sink = memorySink();
    const w = new PcapWriter(sink);
    w.close();
    w.close();
    w.write(Uint8Array.of(0x45), 0);
    expect(w.dropped).toBe(1);
    expect(w.packets).toBe(0);
  });

  it('refuses bad options with a code', () => {
    expect(() => new PcapWriter(memorySink(), { snaplen: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => new PcapWriter(memorySink(), { bufferSize: 10 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });

  it('writes a file that reads back', () => {
    const dir = mkdtempSync(join(tmpdir(), 'netstack-pcap-'));
    try {
      const path = join(dir, 'x.pcap');
      const w = PcapWriter.open(path);
      w.write(Uint8Array.of(0x45, 1, 2), 1000.5);
      w.close();
      const file = readPcap(readFileSync(path));
      expect(file.linkType).toBe(LINKTYPE_RAW);
      expect(file.records[0]).toMatchObject({ seconds: 1, fraction: 500, timeMs: 1000.5 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('readPcap', () => {
  it('round-trips any packets and times (property)', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            data: fc.uint8Array({ minLength: 0, maxLength: 300 }),
            timeUs: fc.integer({ min: 0, max: 2 ** 32 * 1e6 - 1 }),
          }),
          { maxLength: 30 },
        ),
        fc.integer({ min: 1, max: 400 }),
        (packets, snaplen) => {
          const sink = memorySink();
          const w = new PcapWriter(sink, { snaplen, bufferSize: 4096 });
          for (const p of packets) w.write(p.data, p.timeUs / 1000);
          w.close();
          const file = readPcap(sink.bytes());
          expect(file).toMatchObject({ versionMajor: 2, versionMinor: 4, snaplen, linkType: 101, nanosecond: false });
          expect(file.records).toHaveLength(packets.length);
          file.records.forEach((r, i) => {
            const p = packets[i]!;
            expect(r.seconds).toBe(Math.floor(p.timeUs / 1e6));
            expect(r.fraction).toBe(p.timeUs % 1e6);
            expect(r.originalLength).toBe(p.data.length);
            expect(r.data).toEqual(p.data.subarray(0, snaplen));
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('reads big-endian and nanosecond files', () => {
    const be = Buffer.from('a1b23c4d000200040000000000000000000000400000006500000001000003e80000000100000001aa', 'hex');
    const file = readPcap(be);
    expect(file).toMatchObject({ littleEndian: false, nanosecond: true, snaplen: 64, linkType: 101 });
    expect(file.records[0]).toMatchObject({ seconds: 1, fraction: 1000, timeMs: 1000.001, originalLength: 1 });
    expect([...file.records[0]!.data]).toEqual([0xaa]);
  });

  it.each([
    ['short', '00'],
    ['bad magic', '00'.repeat(24)],
    ['truncated record', 'd4c3b2a102000400000000000000000000000100650000000000000000000000040000000400000045'],
  ])('refuses %s input with ERR_INVALID_ARG_VALUE', (_why, h) => {
    expect(() => readPcap(Buffer.from(h, 'hex'))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
});

describe('capture(link, writer)', () => {
  it('records both directions, in order, and forwards everything', () => {
    const pair = createLinkPair({ autoDeliver: false });
    const sink = memorySink();
    const writer = new PcapWriter(sink);
    let t = 5000;
    const a = capture(pair.a, writer, { clock: () => t++ });
    const got: number[] = [];
    let batchEnds = 0;
    a.setReceiver({ packet: (p) => void got.push(p[1]!), batchEnd: () => void batchEnds++ });
    pair.b.setReceiver({ packet: (p) => void pair.b.send(Uint8Array.of(0x45, p[1]! + 100)) });

    expect(a.send(Uint8Array.of(0x45, 1))).toBe(true);
    expect(a.send(Uint8Array.of(0x45, 2))).toBe(true);
    expect(pair.pump()).toBe(2); // a -> b; b answers
    expect(pair.pump()).toBe(2); // b -> a
    writer.close();

    expect(got).toEqual([101, 102]);
    expect(batchEnds).toBe(1);
    const recs = readPcap(sink.bytes()).records;
    expect(recs.map((r) => [...r.data])).toEqual([
      [0x45, 1],
      [0x45, 2],
      [0x45, 101],
      [0x45, 102],
    ]);
    expect(recs.map((r) => r.timeMs)).toEqual([5000, 5001, 5002, 5003]);
    expect(a.stats()).toEqual(pair.a.stats());
    expect(a.mtu).toBe(pair.a.mtu);
  });

  it('does not record a packet the inner link refused', () => {
    const pair = createLinkPair({ mtu: 100, autoDeliver: false });
    const sink = memorySink();
    const writer = new PcapWriter(sink);
    const a = capture(pair.a, writer);
    expect(a.send(new Uint8Array(101))).toBe(false);
    a.close();
    expect(pair.a.closed).toBe(true);
    expect(writer.packets).toBe(0);
    expect(writer.closed).toBe(false); // the writer belongs to the caller
  });
});

// ---- captures tell what the wire carries ------------------------------------------

/** One's-complement sum (RFC 1071), test-local: tun imports no protocol package. */
function ones(b: Uint8Array, start: number, end: number, init = 0): number {
  let s = init;
  for (let i = start; i < end; i += 2) s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}
const pseudo = (p: Uint8Array, proto: number, len: number): number => ones(Uint8Array.of(...p.subarray(12, 20), 0, proto, len >>> 8, len & 0xff), 0, 12);

/** An IPv4 packet (valid header checksum) carrying TCP (proto 6) or UDP (17) with `data` payload bytes and a PARTIAL checksum. */
function partialPacket(proto: 6 | 17, data: number, seed = 1): Uint8Array {
  const th = proto === 6 ? 20 : 8;
  const total = 20 + th + data;
  const p = new Uint8Array(total);
  p.set([0x45, 0, total >>> 8, total & 0xff, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
  const h = ~ones(p, 0, 20) & 0xffff;
  p[10] = h >>> 8; p[11] = h & 0xff;
  p.set([0x30, 0x39, 0x00, 0x50], 20); // ports 12345 -> 80
  if (proto === 6) p[32] = 5 << 4; else { p[24] = (th + data) >>> 8; p[25] = (th + data) & 0xff; }
  for (let i = 0; i < data; i++) p[20 + th + i] = (i * seed + 7) & 0xff;
  const ps = pseudo(p, proto, th + data); // what tcp_v4_send_check / udp4_hwcsum leave: folded, not complemented
  const at = 20 + (proto === 6 ? 16 : 6);
  p[at] = ps >>> 8; p[at + 1] = ps & 0xff;
  return p;
}

/** True when the transport checksum verifies (sum over pseudo-header + segment = 0xffff). */
function transportValid(p: Uint8Array): boolean {
  const total = (p[2]! << 8) | p[3]!;
  return ones(p, 20, total, pseudo(p, p[9]!, total - 20)) === 0xffff;
}

describe('completeChecksum', () => {
  it.each([[6, 1000], [6, 64_000], [17, 1472], [17, 0], [6, 1]] as const)('completes a partial proto %i checksum over %i payload bytes, on a copy', (proto, data) => {
    const p = partialPacket(proto, data);
    const before = Uint8Array.from(p);
    expect(transportValid(p)).toBe(false);
    const out = completeChecksum(p, 20, proto === 6 ? 16 : 6, new Uint8Array(65535));
    expect(out).not.toBe(p);
    expect(transportValid(out)).toBe(true);
    expect(out.length).toBe(p.length);
    expect(p).toEqual(before); // the packet itself is never modified
  });

  it('property: any payload completes to a valid checksum, UDP never 0', () => {
    fc.assert(fc.property(fc.constantFrom(6 as const, 17 as const), fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 255 }), (proto, data, seed) => {
      const out = completeChecksum(partialPacket(proto, data, seed), 20, proto === 6 ? 16 : 6, new Uint8Array(65535));
      expect(transportValid(out)).toBe(true);
      if (proto === 17) expect((out[26]! << 8) | out[27]!).not.toBe(0);
    }), { numRuns: 200 });
  });

  it('leaves a packet alone when the offsets do not fit', () => {
    const p = partialPacket(6, 10);
    expect(completeChecksum(p, 20, 60, new Uint8Array(65535))).toBe(p);
    expect(completeChecksum(p, -1, 16, new Uint8Array(65535))).toBe(p);
    expect(completeChecksum(Uint8Array.of(0x45, 1), 20, 16, new Uint8Array(65535))[1]).toBe(1);
  });
});

describe('CaptureLink and PcapCapture', () => {
  it('a link of Ethernet frames (a TAP) says LINKTYPE_ETHERNET; its frames are recorded as they are, never "completed" as IP', () => {
    const pair = createLinkPair({ mtu: 1514, autoDeliver: false });
    const raw = new CaptureLink(pair.b);
    expect(raw.linkType).toBe(LINKTYPE_RAW);
    const a = new CaptureLink(pair.a, { linkType: LINKTYPE_ETHERNET });
    expect(a.linkType).toBe(1);
    const sink = memorySink();
    const cap = PcapCapture.toSink(sink, { clock: () => 1000, linkType: a.linkType });
    a.addTap(cap);
    a.setReceiver({ packet: () => {} });
    // An ARP request frame: broadcast, EtherType 0x0806.
    const arp = Uint8Array.from(Buffer.from('ffffffffffff0200000000020806000108000604000102000000000' + '20a0700020000000000000a070001', 'hex'));
    expect(a.send(arp)).toBe(true);
    // A received frame with a (bogus) partial-checksum meta: a frame has no IP header at 0, so it is not touched.
    let deliver: ((p: Uint8Array, m: { csumPartial: boolean; dataValid: boolean; gsoType: number; gsoSize: number }) => void) | undefined;
    const inner = { mtu: 1514, send: () => true, setReceiver: (r: { packet: typeof deliver }) => { deliver = r.packet; }, stats: () => pair.a.stats(), close: () => {} };
    const b = new CaptureLink(inner as never, { linkType: LINKTYPE_ETHERNET });
    b.addTap(cap);
    b.setReceiver({ packet: () => {} });
    const frame = Uint8Array.from(arp);
    frame[0] = 0x02;
    deliver!(frame, { csumPartial: true, dataValid: false, gsoType: 0, gsoSize: 0 });
    cap.close();
    const file = readPcap(sink.bytes());
    expect(file.linkType).toBe(LINKTYPE_ETHERNET);
    expect(file.records.map((r) => [...r.data])).toEqual([[...arp], [...frame]]);
    expect(() => new CaptureLink(pair.a, { linkType: 113 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  it('records complete checksums both ways with offloads, and hands the stack its own bytes untouched', () => {
    const pair = createLinkPair({ offload: true, autoDeliver: false });
    const sink = memorySink();
    const cap = PcapCapture.toSink(sink, { clock: () => 1000 });
    const a = new CaptureLink(pair.a);
    a.addTap(cap);
    const seen: Uint8Array[] = [];
    a.setReceiver({ packet: (p, meta) => { expect(meta?.csumPartial).toBe(true); seen.push(Uint8Array.from(p)); } });
    // Sent: a TSO super-segment with a partial TCP checksum.
    const sent = partialPacket(6, 20_000);
    const sentCopy = Uint8Array.from(sent);
    expect(a.sendOffload(sent, 1460, 20, 16)).toBe(true);
    expect(sent).toEqual(sentCopy);
    // Received: a UDP datagram and a TCP super-segment, partial, as the kernel hands them over.
    const udp = partialPacket(17, 1000, 3);
    const tcp = partialPacket(6, 30_000, 5);
    expect(pair.b.sendOffload(udp, 0, 20, 6)).toBe(true);
    expect(pair.b.sendOffload(tcp, 1448, 20, 16)).toBe(true);
    pair.pump();
    expect(seen).toEqual([udp, tcp]); // the receiver got the partial bytes as they came
    // A plain send (complete checksum, or none of ours to complete) is recorded as it is.
    expect(a.send(Uint8Array.of(0x45, 7))).toBe(true);
    cap.close();
    const recs = readPcap(sink.bytes()).records;
    expect(recs.map((r) => r.data.length)).toEqual([20_040, 1028, 30_040, 2]);
    for (const r of recs.slice(0, 3)) expect(transportValid(r.data)).toBe(true);
    expect([...recs[3]!.data]).toEqual([0x45, 7]);
    expect(sink.closed).toBe(true);
  });

  it('completes a received partial UDP checksum (what a tun hands over after USO) via the tap', () => {
    const recorded: Uint8Array[] = [];
    const writer = new PcapWriter({ write: (c) => void recorded.push(Uint8Array.from(c)) });
    const pair = createLinkPair({ autoDeliver: false });
    const a = capture(pair.a, writer);
    let tap: ((p: Uint8Array, m: { csumPartial: boolean; dataValid: boolean; gsoType: number; gsoSize: number }) => void) | undefined;
    // Drive the wrapped receiver directly, with the meta a TunDevice gives.
    const inner = { ...pair.a, setReceiver: (r: { packet: typeof tap }) => { tap = r.packet; } } as unknown as typeof pair.a;
    const b = capture(inner, writer);
    b.setReceiver({ packet: () => {} });
    const udp = partialPacket(17, 999, 9);
    tap!(udp, { csumPartial: true, dataValid: false, gsoType: 0, gsoSize: 0 });
    tap!(partialPacket(6, 5), { csumPartial: false, dataValid: true, gsoType: 0, gsoSize: 0 }); // DATA_VALID: as it is
    writer.close();
    const recs = readPcap(Buffer.concat(recorded)).records;
    expect(transportValid(recs[0]!.data)).toBe(true);
    expect(transportValid(recs[1]!.data)).toBe(false);
    expect(a.tapCount).toBe(1);
  });

  it('completes received partial TCP and UDP checksums over IPv6 too (RFC 8200 §8.1 pseudo-header)', () => {
    /** An IPv6 packet fd07::1 -> fd07::2 with a partial transport checksum (the pseudo-header sum). */
    const partial6 = (nh: 6 | 17, data: number): Uint8Array => {
      const th = nh === 6 ? 20 : 8;
      const plen = th + data;
      const p = new Uint8Array(40 + plen);
      p.set([0x60, 0, 0, 0, plen >>> 8, plen & 0xff, nh, 64, 0xfd, 7]);
      p[23] = 1;
      p.set([0xfd, 7], 24);
      p[39] = 2;
      if (nh === 6) p[52] = 5 << 4; else p.set([0, 9, 0, 7, plen >>> 8, plen & 0xff], 40);
      for (let i = 0; i < data; i++) p[40 + th + i] = (i * 11) & 0xff;
      const ps = ones(Uint8Array.of(...p.subarray(8, 40), 0, 0, plen >>> 8, plen & 0xff, 0, 0, 0, nh), 0, 40);
      const at = 40 + (nh === 6 ? 16 : 6);
      p[at] = ps >>> 8; p[at + 1] = ps & 0xff;
      return p;
    };
    const valid6 = (p: Uint8Array): boolean => {
      const plen = (p[4]! << 8) | p[5]!;
      return ones(p, 40, 40 + plen, ones(Uint8Array.of(...p.subarray(8, 40), 0, 0, plen >>> 8, plen & 0xff, 0, 0, 0, p[6]!), 0, 40)) === 0xffff;
    };
    const recorded: Uint8Array[] = [];
    const writer = new PcapWriter({ write: (c) => void recorded.push(Uint8Array.from(c)) });
    const pair = createLinkPair({ autoDeliver: false });
    let tap: ((p: Uint8Array, m: { csumPartial: boolean; dataValid: boolean; gsoType: number; gsoSize: number }) => void) | undefined;
    const inner = { ...pair.a, setReceiver: (r: { packet: typeof tap }) => { tap = r.packet; } } as unknown as typeof pair.a;
    const b = capture(inner, writer);
    b.setReceiver({ packet: () => {} });
    const tcp6 = partial6(6, 3001);
    const udp6 = partial6(17, 1000);
    expect(valid6(tcp6)).toBe(false);
    tap!(tcp6, { csumPartial: true, dataValid: false, gsoType: 4, gsoSize: 1428 });
    tap!(udp6, { csumPartial: true, dataValid: false, gsoType: 0, gsoSize: 0 });
    writer.close();
    const recs = readPcap(Buffer.concat(recorded)).records;
    expect(recs.map((r) => r.data.length)).toEqual([tcp6.length, udp6.length]);
    expect(valid6(recs[0]!.data)).toBe(true);
    expect(valid6(recs[1]!.data)).toBe(true);
    expect(valid6(tcp6)).toBe(false); // the packet itself untouched
  });

  it('taps come and go at run time; without one nothing is recorded', () => {
    const pair = createLinkPair({ autoDeliver: false });
    const link = new CaptureLink(pair.a);
    const log: string[] = [];
    const tap: PacketTap = { sent: (p) => void log.push(`tx${p[1]}`), received: (p) => void log.push(`rx${p[1]}`) };
    link.setReceiver({ packet: () => {} });
    link.send(Uint8Array.of(0x45, 1));
    link.addTap(tap);
    link.addTap(tap); // once only
    link.send(Uint8Array.of(0x45, 2));
    pair.b.send(Uint8Array.of(0x45, 3));
    pair.pump();
    expect(link.removeTap(tap)).toBe(true);
    expect(link.removeTap(tap)).toBe(false);
    link.send(Uint8Array.of(0x45, 4));
    pair.b.send(Uint8Array.of(0x45, 5));
    pair.pump();
    expect(log).toEqual(['tx2', 'rx3']);
    expect(link.tapCount).toBe(0);
  });

  it('stops growing at maxBytes and counts what it did not write', () => {
    const sink = memorySink();
    const cap = PcapCapture.toSink(sink, { maxBytes: 24 + 3 * (16 + 100) + 50 });
    for (let i = 0; i < 10; i++) cap.sent(new Uint8Array(100).fill(i), -1, 0);
    expect(cap.packets).toBe(3);
    expect(cap.notWritten).toBe(7);
    expect(cap.limitReached).toBe(true);
    cap.sent(new Uint8Array(30), -1, 0); // still fits: 16 + 30 <= 50 left
    expect(cap.packets).toBe(4);
    cap.close();
    const bytes = sink.bytes();
    expect(bytes.length).toBe(24 + 3 * 116 + 46);
    expect(bytes.length).toBeLessThanOrEqual(cap.maxBytes);
    expect(readPcap(bytes).records.map((r) => r.data[0])).toEqual([0, 1, 2, 0]);
    expect(DEFAULT_CAPTURE_MAX_BYTES).toBe(2 ** 30);
    cap.sent(new Uint8Array(1), -1, 0); // after close: counted, not thrown
    expect(cap.notWritten).toBe(8);
  });

  it('a file error stops the capture, is kept in `error` with its code, and never throws into the link', () => {
    let fail = false;
    const cap = PcapCapture.toSink({
      write() { if (fail) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' }); },
    }, { bufferSize: 4096 });
    cap.sent(new Uint8Array(1000), -1, 0);
    fail = true;
    for (let i = 0; i < 10; i++) cap.sent(new Uint8Array(1000), -1, 0); // the 4th overflows the buffer: flush fails
    expect(cap.error).toMatchObject({ code: 'ENOSPC', syscall: 'write' });
    expect(cap.closed).toBe(true);
    expect(cap.packets + cap.notWritten).toBe(11);
    expect(() => cap.close()).not.toThrow();
  });

  it('open() throws the fs error for an unwritable path, and bad options at once', () => {
    expect(() => PcapCapture.open('/nonexistent-dir/x.pcap')).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'open' }));
    expect(() => PcapCapture.open('x.pcap', { maxBytes: 10 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => PcapCapture.open('x.pcap', { maxBytes: '1' as unknown as number })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});

describe('completeChecksum: a checksum that computes to zero', () => {
  /** An IPv4 datagram of `proto` (6 or 17) whose transport checksum field holds `field`, payload ending in `w`. */
  function datagram(proto: number, w: number): Uint8Array {
    const th = proto === 6 ? 20 : 8;
    const p = new Uint8Array(20 + th + 10);
    p[0] = 0x45; p[2] = 0; p[3] = p.length; p[8] = 64; p[9] = proto;
    p.set([10, 7, 0, 1], 12); p.set([10, 7, 0, 2], 16);
    p[20] = 0x12; p[21] = 0x34; p[22] = 0; p[23] = 80;
    if (proto === 6) p[32] = 5 << 4; else { p[24] = 0; p[25] = th + 10; }
    p[p.length - 2] = w >>> 8; p[p.length - 1] = w & 0xff;
    return p;
  }
  for (const [proto, name, expected] of [[6, 'TCP', 0x0000], [17, 'UDP', 0xffff]] as const) {
    it(`${name}: written ${expected === 0 ? '0x0000 (RFC 1624 §3: never 0xffff)' : '0xffff (RFC 768: 0 means none)'}`, () => {
      const off = proto === 6 ? 16 : 6;
      const scratch = new Uint8Array(100);
      // First with w = 0: the completed value v0; a payload word of v0 then sums to zero.
      const first = completeChecksum(datagram(proto, 0), 20, off, scratch);
      const v0 = (first[20 + off]! << 8) | first[21 + off]!;
      expect(v0).not.toBe(0);
      const done = completeChecksum(datagram(proto, v0), 20, off, scratch);
      expect((done[20 + off]! << 8) | done[21 + off]!).toBe(expected);
    });
  }
});
