import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { capture, createLinkPair, LINKTYPE_RAW, PcapWriter, readPcap, type PcapSink } from '../src/index.js';

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
