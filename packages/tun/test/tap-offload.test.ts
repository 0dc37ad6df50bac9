/**
 * TAP offloads without privileges, over the scripted libc: the same ladder as a TUN
 * (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR), the virtio_net_hdr before the Ethernet header with
 * offsets counted from the frame's first byte (csum_start = 14 + IP header, hdr_len = 14 +
 * IP + TCP), the family from the EtherType, GSO frames up to 65535 + 14 bytes, and UDP
 * super-datagrams split into frames (each datagram behind a copy of the Ethernet header).
 * The kernel side is test/kernel/tap-offload.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeLibc } from './fake-libc.js';

const holder = vi.hoisted(() => ({ libc: undefined as unknown }));
vi.mock('../src/libc.js', () => ({ libc: () => holder.libc }));

const { TunDevice, closeAllTunDevices, encodeVnetHeader, decodeVnetHeader, CaptureLink, LINKTYPE_ETHERNET, PcapCapture, readPcap } = await import('../src/index.js');

const TUNSETIFF = 0x400454ca;
const TUNSETOFFLOAD = 0x400454d0;

let sys: FakeLibc;
beforeEach(() => {
  sys = new FakeLibc();
  holder.libc = sys;
});
afterEach(() => {
  closeAllTunDevices();
});

const DST = [0x02, 0, 0, 0, 0, 2];
const SRC = [0x02, 0, 0, 0, 0, 1];

/** An Ethernet frame with a TCP packet: IPv4 (20) or IPv6 (40) header, TCP header of `tcpHeader` bytes, `data` payload bytes. */
function tcpFrame(data: number, v6 = false, tcpHeader = 32): Uint8Array {
  const ip = v6 ? 40 : 20;
  const f = new Uint8Array(14 + ip + tcpHeader + data);
  f.set([...DST, ...SRC, ...(v6 ? [0x86, 0xdd] : [0x08, 0x00])]);
  f[14] = v6 ? 0x60 : 0x45;
  f[14 + ip + 12] = (tcpHeader / 4) << 4;
  for (let i = 0; i < data; i++) f[14 + ip + tcpHeader + i] = i & 0xff;
  return f;
}

describe('a TAP with offloads: negotiation', () => {
  it('offload: true sets IFF_TAP|IFF_NO_PI|IFF_VNET_HDR and climbs the same ladder as a TUN', () => {
    const dev = TunDevice.open({ mode: 'tap', offload: true });
    const flags = sys.calls.filter((c) => c.args[1] === TUNSETIFF).map((c) => Buffer.from(c.args[2] as Uint8Array).readUInt16LE(16));
    expect(flags).toEqual([0x0002 | 0x1000 | 0x4000 | 0x0010]);
    expect(sys.calls.filter((c) => c.args[1] === TUNSETOFFLOAD).map((c) => c.args[2])).toEqual([0x6f]);
    expect(dev.offload).toEqual({ tso4: true, tso6: true, csum: true, uso4: true, uso6: true });
    expect(dev.offloadHeadroom).toBe(12);
    expect(dev.frameMtu).toBe(1514);
  });
});

describe('a TAP with offloads: writing frames', () => {
  it('sendOffload: the header before the frame, offsets from the Ethernet header, one write, in place', () => {
    const dev = TunDevice.open({ mode: 'tap', offload: true, mtu: 1500 });
    const buf = new Uint8Array(12 + 14 + 20 + 32 + 60_000);
    const frame = buf.subarray(12);
    frame.set(tcpFrame(60_000));
    expect(dev.sendOffload(frame, 1448, 34, 16)).toBe(true);
    expect(sys.written).toHaveLength(1);
    const w = sys.written[0]!;
    expect(w.length).toBe(12 + frame.length);
    // hdr_len = 14 + 20 + 32: virtio counts it from the frame's first byte, as csum_start.
    expect(decodeVnetHeader(w)).toEqual({ flags: 1, gsoType: 1, hdrLen: 66, gsoSize: 1448, csumStart: 34, csumOffset: 16 });
    expect([...w.subarray(12, 26)]).toEqual([...DST, ...SRC, 0x08, 0x00]);
    expect(decodeVnetHeader(buf)).toEqual(decodeVnetHeader(w)); // written into the headroom
    expect(dev.stats()).toMatchObject({ TxPackets: 1, TxGsoPackets: 1, TxCsumOffload: 1, TxDropped: 0, TxBytes: frame.length });
  });

  it('the family comes from the EtherType: an IPv6 frame is GSO TCPV6 with csum_start 54', () => {
    const dev = TunDevice.open({ mode: 'tap', offload: true });
    expect(dev.sendOffload(tcpFrame(10_000, true), 1428, 54, 16)).toBe(true);
    expect(decodeVnetHeader(sys.written[0]!)).toEqual({ flags: 1, gsoType: 4, hdrLen: 86, gsoSize: 1428, csumStart: 54, csumOffset: 16 });
  });

  it('one MSS or less: checksum offload only; a frame up to mtu + 14 without GSO', () => {
    const dev = TunDevice.open({ mode: 'tap', offload: true, mtu: 1500 });
    expect(dev.sendOffload(tcpFrame(1448, false, 32), 1448, 34, 16)).toBe(true); // 1514 bytes
    expect(decodeVnetHeader(sys.written[0]!)).toEqual({ flags: 1, gsoType: 0, hdrLen: 66, gsoSize: 0, csumStart: 34, csumOffset: 16 });
    // Without a gsoSize a frame over 1514 is refused (it would need segmentation).
    expect(dev.sendOffload(tcpFrame(1449, false, 32), 0, 34, 16)).toBe(false);
    expect(dev.stats()).toMatchObject({ TxPackets: 1, TxDropped: 1 });
  });

  it('the limits count the Ethernet header: 65535 + 14 goes, one more byte does not; csum_start inside the IP header is refused', () => {
    const dev = TunDevice.open({ mode: 'tap', offload: true });
    expect(dev.sendOffload(tcpFrame(65535 - 52), 1448, 34, 16)).toBe(true);
    expect(dev.sendOffload(tcpFrame(65535 - 52 + 1), 1448, 34, 16)).toBe(false);
    expect(dev.sendOffload(tcpFrame(1000), 1448, 20, 16)).toBe(false); // a TUN's offset on a frame
    expect(dev.stats()).toMatchObject({ TxPackets: 1, TxDropped: 2 });
  });

  it('without TSO6 an IPv6 super-segment is refused while an IPv4 one goes', () => {
    for (let i = 0; i < 3; i++) sys.failures.push({ fn: 'ioctlInt', request: TUNSETOFFLOAD, errno: 22 });
    const dev = TunDevice.open({ mode: 'tap', offload: true });
    expect(dev.offload).toMatchObject({ tso4: true, tso6: false });
    expect(dev.sendOffload(tcpFrame(10_000, true), 1428, 54, 16)).toBe(false);
    expect(dev.sendOffload(tcpFrame(10_000), 1448, 34, 16)).toBe(true);
  });
});

describe('a TAP with offloads: reading frames', () => {
  it('a TCP super-segment frame comes whole with its meta; the buffer holds 65535 + 18 after the header', () => {
    const dev = TunDevice.open({ mode: 'tap', offload: true });
    const got: { len: number; type: number; meta: unknown }[] = [];
    dev.setReceiver({ packet: (f, meta) => got.push({ len: f.length, type: (f[12]! << 8) | f[13]!, meta: { ...meta } }) });
    const f = tcpFrame(60_000, false, 20);
    const hdr = new Uint8Array(12);
    encodeVnetHeader(hdr, 0, 12, 1, 1, 54, 1460, 34, 16);
    sys.rx.push(Uint8Array.from([...hdr, ...f]));
    sys.fireReadable();
    expect(got).toEqual([{ len: f.length, type: 0x0800, meta: { csumPartial: true, dataValid: false, gsoType: 1, gsoSize: 1460 } }]);
    expect(sys.calls.find((c) => c.fn === 'read')!.args[1]).toBe(12 + 65535 + 18);
  });

  /** A UDP/IPv4 super-datagram frame as the kernel reads it out: vnet header (UDP_L4, csum_start 34) + Ethernet + IPv4/UDP. */
  function usoFrame(payload: number, gsoSize: number, csumStart = 34, ethertype = [0x08, 0x00]): Uint8Array {
    const total = 28 + payload;
    const p = new Uint8Array(12 + 14 + total);
    encodeVnetHeader(p, 0, 12, 1, 5, 42, gsoSize, csumStart, 6);
    p.set([...DST, ...SRC, ...ethertype], 12);
    const ip = p.subarray(26);
    ip.set([0x45, 0, total >>> 8, total & 0xff, 0x10, 0x00, 0x40, 0, 64, 17, 0, 0, 10, 7, 0, 1, 10, 7, 0, 2]);
    let s = 0;
    for (let i = 0; i < 20; i += 2) s += (ip[i]! << 8) | ip[i + 1]!;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    ip[10] = (~s & 0xffff) >>> 8;
    ip[11] = ~s & 0xff;
    const ulen = 8 + payload;
    ip.set([0x9c, 0x40, 0, 7, ulen >>> 8, ulen & 0xff, 0x12, 0x34], 20);
    for (let i = 0; i < payload; i++) ip[28 + i] = (i * 13) & 0xff;
    return p;
  }

  it('a UDP super-datagram frame is split into frames, each with the Ethernet header and its own IP/UDP lengths', () => {
    const dev = TunDevice.open({ mode: 'tap', offload: true });
    const got: { len: number; eth: number[]; ipLen: number; udpLen: number; first: number; partial: boolean }[] = [];
    dev.setReceiver({
      packet: (f, meta) => got.push({
        len: f.length, eth: [...f.subarray(0, 14)], ipLen: (f[16]! << 8) | f[17]!, udpLen: (f[38]! << 8) | f[39]!, first: f[42]!, partial: meta!.csumPartial,
      }),
    });
    // gso_size 10 (< 14): each header written back overlaps datagrams already handed over.
    sys.rx.push(usoFrame(2500, 1000), usoFrame(25, 10));
    sys.fireReadable();
    const eth = [...DST, ...SRC, 0x08, 0x00];
    expect(got).toEqual([
      { len: 1042, eth, ipLen: 1028, udpLen: 1008, first: 0, partial: true },
      { len: 1042, eth, ipLen: 1028, udpLen: 1008, first: (1000 * 13) & 0xff, partial: true },
      { len: 542, eth, ipLen: 528, udpLen: 508, first: (2000 * 13) & 0xff, partial: true },
      { len: 52, eth, ipLen: 38, udpLen: 18, first: 0, partial: true },
      { len: 52, eth, ipLen: 38, udpLen: 18, first: (10 * 13) & 0xff, partial: true },
      { len: 47, eth, ipLen: 33, udpLen: 13, first: (20 * 13) & 0xff, partial: true },
    ]);
    expect(dev.stats()).toMatchObject({ RxPackets: 2, RxUsoPackets: 2, RxUsoSegments: 6, RxUsoDropped: 0, RxBytes: 14 + 2528 + 14 + 53 });
  });

  it('a TUN-style csum_start (no Ethernet header counted) or a non-IP EtherType is dropped and counted', () => {
    const dev = TunDevice.open({ mode: 'tap', offload: true });
    let seen = 0;
    dev.setReceiver({ packet: () => seen++ });
    sys.rx.push(usoFrame(2500, 1000, 20), usoFrame(2500, 1000, 34, [0x08, 0x06]));
    sys.fireReadable();
    expect(seen).toBe(0);
    expect(dev.stats()).toMatchObject({ RxDropped: 2, RxUsoDropped: 2 });
  });
});

/** RFC 1071 sum over [start, end), folded, not complemented. */
function onesSum(b: Uint8Array, start: number, end: number, init = 0): number {
  let s = init;
  for (let i = start; i < end; i += 2) s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** A TCP/IPv4 frame 10.7.0.2 -> 10.7.0.1 whose checksum field holds the pseudo-header sum (partial). */
function partialTcpFrame(data: number): Uint8Array {
  const f = tcpFrame(data, false, 20);
  const total = 20 + 20 + data;
  f.set([0x45, 0, total >>> 8, total & 0xff, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 7, 0, 2, 10, 7, 0, 1], 14);
  f.set([0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff], 34);
  const ph = onesSum(Uint8Array.of(10, 7, 0, 2, 10, 7, 0, 1, 0, 6, (20 + data) >>> 8, (20 + data) & 0xff), 0, 12);
  f[50] = ph >>> 8;
  f[51] = ph & 0xff;
  return f;
}

/** The TCP checksum of an IPv4 frame verifies (pseudo-header included): the sum is 0xffff. */
function tcpChecksumOk(f: Uint8Array): boolean {
  const len = f.length - 34;
  const ph = onesSum(Uint8Array.of(...f.subarray(26, 34), 0, 6, len >>> 8, len & 0xff), 0, 12);
  return onesSum(f, 34, f.length, ph) === 0xffff;
}

describe('a capture at a TAP with offloads records what the wire carries', () => {
  it('partial checksums in frames are completed on a copy, both ways (offsets from the frame start)', () => {
    const dev = TunDevice.open({ mode: 'tap', offload: true });
    const chunks: Uint8Array[] = [];
    const cap = PcapCapture.toSink({ write: (b: Uint8Array) => { chunks.push(b.slice()); } }, { linkType: LINKTYPE_ETHERNET });
    const link = new CaptureLink(dev, { linkType: LINKTYPE_ETHERNET });
    link.addTap(cap);
    link.setReceiver({ packet: () => {} });
    const out = partialTcpFrame(3001);
    expect(tcpChecksumOk(out)).toBe(false);
    expect(link.sendOffload(out, 1448, 34, 16)).toBe(true);
    const hdr = new Uint8Array(12);
    encodeVnetHeader(hdr, 0, 12, 1, 1, 54, 1460, 34, 16);
    const inFrame = partialTcpFrame(5001);
    sys.rx.push(Uint8Array.from([...hdr, ...inFrame]));
    sys.fireReadable();
    cap.close();
    const file = readPcap(Buffer.concat(chunks));
    expect(file.linkType).toBe(LINKTYPE_ETHERNET);
    expect(file.records.map((r) => r.data.length)).toEqual([out.length, inFrame.length]);
    for (const r of file.records) expect(tcpChecksumOk(r.data)).toBe(true);
    // The stack's own bytes were not touched.
    expect(tcpChecksumOk(out)).toBe(false);
  });
});
