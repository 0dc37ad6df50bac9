/**
 * TUN offloads without privileges: the virtio_net_hdr codec (golden bytes, virtio spec
 * §5.1.6), TunDevice's negotiation ladder and its vnet read/write paths over the scripted
 * libc, and the in-memory link's offload mode. The kernel side is test/kernel/offload.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeLibc } from './fake-libc.js';

const holder = vi.hoisted(() => ({ libc: undefined as unknown }));
vi.mock('../src/libc.js', () => ({ libc: () => holder.libc }));

const {
  TunDevice, closeAllTunDevices, createLinkPair, capture, CaptureLink, PcapWriter, readPcap,
  encodeVnetHeader, decodeVnetHeader, decodeVnetMeta, newPacketMeta,
} = await import('../src/index.js');

const TUNSETIFF = 0x400454ca;
const TUNSETOFFLOAD = 0x400454d0;
const TUNSETVNETHDRSZ = 0x400454d8;

let sys: FakeLibc;
beforeEach(() => {
  sys = new FakeLibc();
  holder.libc = sys;
});
afterEach(() => {
  closeAllTunDevices();
});

/** A TCP/IPv4 packet: 20 bytes IP, TCP header of `tcpHeader` bytes, `data` payload bytes. */
function tcpPacket(data: number, tcpHeader = 32): Uint8Array {
  const p = new Uint8Array(20 + tcpHeader + data);
  p[0] = 0x45;
  p[20 + 12] = (tcpHeader / 4) << 4;
  for (let i = 0; i < data; i++) p[20 + tcpHeader + i] = i & 0xff;
  return p;
}

describe('virtio_net_hdr codec (virtio spec §5.1.6, little-endian)', () => {
  it('encodes the GSO TCPv4 header the kernel showed (TUN-FACTS) byte for byte', () => {
    const b = new Uint8Array(12).fill(0xee);
    encodeVnetHeader(b, 0, 12, 1, 1, 52, 1448, 20, 16);
    expect([...b]).toEqual([0x01, 0x01, 52, 0, 0xa8, 0x05, 20, 0, 16, 0, 0, 0]);
    expect(decodeVnetHeader(b)).toEqual({ flags: 1, gsoType: 1, hdrLen: 52, gsoSize: 1448, csumStart: 20, csumOffset: 16 });
  });

  it('decodes the receive fields into a reused meta record', () => {
    const meta = newPacketMeta();
    const kernel = Uint8Array.of(0x01, 0x81, 40, 0, 0xb4, 0x05, 20, 0, 16, 0, 0, 0); // NEEDS_CSUM, TCPV4|ECN, 1460
    expect(decodeVnetMeta(kernel, 0, meta)).toBe(meta);
    expect(meta).toEqual({ csumPartial: true, dataValid: false, gsoType: 0x81, gsoSize: 1460 });
    decodeVnetMeta(new Uint8Array(12).fill(0).fill(2, 0, 1), 0, meta);
    expect(meta).toEqual({ csumPartial: false, dataValid: true, gsoType: 0, gsoSize: 0 });
  });

  it('a 10-byte header has no num_buffers', () => {
    const b = new Uint8Array(12).fill(0xee);
    encodeVnetHeader(b, 0, 10, 0, 0, 0, 0, 0, 0);
    expect([...b]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xee, 0xee]);
  });
});

describe('TunDevice offload negotiation', () => {
  const setiffFlags = (): number[] => sys.calls.filter((c) => c.args[1] === TUNSETIFF).map((c) => Buffer.from(c.args[2] as Uint8Array).readUInt16LE(16));

  const offloadCalls = (): unknown[] => sys.calls.filter((c) => c.args[1] === TUNSETOFFLOAD).map((c) => c.args[2]);

  it('offload: true sets IFF_VNET_HDR, header size 12, then CSUM|TSO4|TSO6|TSO_ECN|USO4|USO6', () => {
    const dev = TunDevice.open({ offload: true });
    expect(setiffFlags()).toEqual([0x5011]);
    const size = sys.calls.find((c) => c.args[1] === TUNSETVNETHDRSZ)!.args[2] as Uint8Array;
    expect(Buffer.from(size).readInt32LE(0)).toBe(12);
    expect(offloadCalls()).toEqual([1 | 2 | 4 | 8 | 0x20 | 0x40]);
    expect(dev.offload).toEqual({ tso4: true, tso6: true, csum: true, uso4: true, uso6: true });
    expect(dev.offloadHeadroom).toBe(12);
    expect(dev.vnetHeaderLength).toBe(12);
  });

  it('retries TUNSETOFFLOAD with fewer flags on EINVAL', () => {
    for (let i = 0; i < 4; i++) sys.failures.push({ fn: 'ioctlInt', request: TUNSETOFFLOAD, errno: 22 });
    const dev = TunDevice.open({ offload: true });
    expect(offloadCalls()).toEqual([0x6f, 15, 7, 3, 1]);
    expect(dev.offload).toEqual({ tso4: false, tso6: false, csum: true, uso4: false, uso6: false });
  });

  it('a kernel refusing TSO6 (every rung with it): TSO4 alone, reported tso6 false', () => {
    for (let i = 0; i < 3; i++) sys.failures.push({ fn: 'ioctlInt', request: TUNSETOFFLOAD, errno: 22 });
    const dev = TunDevice.open({ offload: true });
    expect(offloadCalls()).toEqual([0x6f, 15, 7, 3]);
    expect(dev.offload).toEqual({ tso4: true, tso6: false, csum: true, uso4: false, uso6: false });
  });

  it('a kernel without USO (before 6.2) refuses the first rung: today\'s offloads, uso4 false', () => {
    sys.failures.push({ fn: 'ioctlInt', request: TUNSETOFFLOAD, errno: 22 });
    const dev = TunDevice.open({ offload: true });
    expect(offloadCalls()).toEqual([0x6f, 15]);
    expect(dev.offload).toEqual({ tso4: true, tso6: true, csum: true, uso4: false, uso6: false });
  });

  it('USO is offered without ipv4Only too (the split handles IPv6 super-datagrams)', () => {
    const dev = TunDevice.open({ offload: true, ipv4Only: false });
    expect(offloadCalls()).toEqual([0x6f]);
    expect(dev.offload).toEqual({ tso4: true, tso6: true, csum: true, uso4: true, uso6: true });
  });

  it('an error other than EINVAL stops the ladder', () => {
    sys.failures.push({ fn: 'ioctlInt', request: TUNSETOFFLOAD, errno: 1 });
    const dev = TunDevice.open({ offload: true });
    expect(offloadCalls()).toEqual([0x6f]);
    expect(dev.offload).toEqual({ tso4: false, tso6: false, csum: false, uso4: false, uso6: false });
  });

  it('opens without the vnet header when the kernel refuses IFF_VNET_HDR', () => {
    for (let i = 0; i < 2; i++) sys.failures.push({ fn: 'ioctlPtr', request: TUNSETIFF, errno: 22 });
    const dev = TunDevice.open({ offload: true });
    expect(setiffFlags()).toEqual([0x5011, 0x5001, 0x1011]);
    expect(dev.offload).toBeUndefined();
    expect(dev.offloadHeadroom).toBeUndefined();
    expect(sys.calls.some((c) => c.args[1] === TUNSETOFFLOAD)).toBe(false);
  });

  it('is off by default (tun and tap); tap-offload.test.ts has the TAP ladder', () => {
    const dev = TunDevice.open();
    expect(dev.offload).toBeUndefined();
    expect(setiffFlags()).toEqual([0x1011]);
    expect(TunDevice.open({ mode: 'tap' }).offload).toBeUndefined();
  });
});

describe('TunDevice with a vnet header', () => {
  it('reads strip the header and hand meta; non-GSO packets too', () => {
    const dev = TunDevice.open({ offload: true });
    const got: { len: number; first: number; meta: unknown }[] = [];
    dev.setReceiver({ packet: (p, meta) => got.push({ len: p.length, first: p[0]!, meta: { ...meta } }) });
    const big = tcpPacket(60_000, 20);
    const hdr = new Uint8Array(12);
    encodeVnetHeader(hdr, 0, 12, 1, 1, 40, 1460, 20, 16);
    sys.rx.push(Uint8Array.from([...hdr, ...big]), Uint8Array.from([...new Uint8Array(12), 0x45, 0, 0, 20]));
    sys.fireReadable();
    expect(got).toEqual([
      { len: big.length, first: 0x45, meta: { csumPartial: true, dataValid: false, gsoType: 1, gsoSize: 1460 } },
      { len: 4, first: 0x45, meta: { csumPartial: false, dataValid: false, gsoType: 0, gsoSize: 0 } },
    ]);
    expect(dev.stats()).toMatchObject({ RxPackets: 2, RxGsoPackets: 1, RxCsumPartial: 1, RxBytes: big.length + 4 });
    const reads = sys.calls.filter((c) => c.fn === 'read').map((c) => c.args[1]);
    expect(reads[0]).toBe(65535 + 12);
  });

  it('send writes a zero header and the packet in ONE write', () => {
    const dev = TunDevice.open({ offload: true });
    expect(dev.send(Uint8Array.of(0x45, 1, 2, 3))).toBe(true);
    expect(sys.syscalls().filter((f) => f === 'write')).toHaveLength(1);
    expect([...sys.written[0]!]).toEqual([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x45, 1, 2, 3]);
  });

  it('sendOffload writes the GSO header into the headroom, no copy, one write', () => {
    const dev = TunDevice.open({ offload: true });
    const frame = new Uint8Array(12 + 20 + 32 + 4000);
    const packet = frame.subarray(12);
    packet.set(tcpPacket(4000));
    expect(dev.sendOffload(packet, 1448, 20, 16)).toBe(true);
    expect(sys.written).toHaveLength(1);
    const w = sys.written[0]!;
    expect(w.length).toBe(12 + packet.length);
    expect(decodeVnetHeader(w)).toEqual({ flags: 1, gsoType: 1, hdrLen: 52, gsoSize: 1448, csumStart: 20, csumOffset: 16 });
    expect([...w.subarray(12)]).toEqual([...packet]);
    expect(decodeVnetHeader(frame)).toEqual(decodeVnetHeader(w)); // written in place
    // One MSS or less: checksum offload only, no GSO.
    expect(dev.sendOffload(tcpPacket(1000), 1448, 20, 16)).toBe(true);
    expect(decodeVnetHeader(sys.written[1]!)).toEqual({ flags: 1, gsoType: 0, hdrLen: 52, gsoSize: 0, csumStart: 20, csumOffset: 16 });
    expect(dev.stats()).toMatchObject({ TxPackets: 2, TxGsoPackets: 1, TxCsumOffload: 2, TxDropped: 0 });
  });

  it('sendOffload re-sending the same view writes its current bytes; another view, another buffer, its own (the write view cache)', () => {
    const dev = TunDevice.open({ offload: true });
    const a = new Uint8Array(12 + 20 + 32 + 100);
    const pa = a.subarray(12);
    pa.set(tcpPacket(100));
    const b = new Uint8Array(40 + 12 + 20 + 32 + 200);
    const pb = b.subarray(40 + 12);
    pb.set(tcpPacket(200));
    pb[60] = 0xbb;
    const first = [...pa];
    expect(dev.sendOffload(pa, 1448, 20, 16)).toBe(true);
    pa[60] = 0xaa; // the same view again, its bytes changed (a new segment in the same place)
    expect(dev.sendOffload(pa, 1448, 20, 16)).toBe(true);
    expect(dev.sendOffload(pb, 1448, 20, 16)).toBe(true);
    expect(dev.sendOffload(pa, 1448, 20, 16)).toBe(true);
    expect(sys.written.map((w) => [w.length, w[12 + 60]])).toEqual([[12 + 152, first[60]], [12 + 152, 0xaa], [12 + 252, 0xbb], [12 + 152, 0xaa]]);
    expect(sys.written.map((w) => [...w.subarray(12)])).toEqual([first, [...pa], [...pb], [...pa]]);
    // A third object: another view of a's bytes in the same place, then one in another place
    // of the same buffer (its header in its own headroom), then the two remembered ones again.
    const pa2 = a.subarray(12);
    const c = new Uint8Array(12 + 60 + 12 + 102);
    const pc1 = c.subarray(12, 12 + 60);
    const pc2 = c.subarray(12 + 60 + 12);
    pc1.set(tcpPacket(8));
    pc2.set(tcpPacket(50));
    pc2[80] = 0xcc;
    for (const p of [pa2, pc2, pc1, pc2, pb, pc1]) expect(dev.sendOffload(p, 1448, 20, 16)).toBe(true);
    expect(sys.written.slice(4).map((w) => [...w.subarray(12)])).toEqual([[...pa2], [...pc2], [...pc1], [...pc2], [...pb], [...pc1]]);
    expect(sys.written.slice(4).map((w) => w.length - 12)).toEqual([152, 102, 60, 102, 252, 60]);
  });

  /** `packet` cut into a head (IP + TCP headers, `headroom` bytes before it) and two data pieces in other buffers. */
  function pieces(packet: Uint8Array, hdr: number, cut: number, headroom = 12): { head: Uint8Array; data: Uint8Array; data2: Uint8Array } {
    const frame = new Uint8Array(headroom + hdr);
    frame.set(packet.subarray(0, hdr), headroom);
    const store = new Uint8Array(packet.length + 100);
    store.set(packet.subarray(hdr + cut), 0); // data2 at the start, as a ring's wrapped bytes
    store.set(packet.subarray(hdr, hdr + cut), 100 + packet.length - hdr - cut);
    return {
      head: frame.subarray(headroom),
      data: store.subarray(100 + packet.length - hdr - cut, 100 + packet.length - hdr),
      data2: store.subarray(0, packet.length - hdr - cut),
    };
  }

  it('sendOffloadGather: one writev of the vnet header and headers (from the headroom) and the data in place, the bytes sendOffload writes', () => {
    const dev = TunDevice.open({ offload: true });
    const whole = tcpPacket(4000);
    const { head, data, data2 } = pieces(whole, 52, 2500);
    expect(dev.sendOffloadGather(head, data, data2, 1448, 20, 16)).toBe(true);
    expect(dev.sendOffloadGather(head, data.subarray(0, 1000), undefined, 1448, 20, 16)).toBe(true);
    expect(sys.syscalls().filter((f) => f === 'writeGather' || f === 'write')).toEqual(['writeGather', 'writeGather']);
    expect(sys.calls.filter((c) => c.fn === 'writeGather').map((c) => c.args.slice(1))).toEqual([[3, 12 + 4052], [2, 12 + 1052]]);
    const frame = new Uint8Array(12 + whole.length);
    frame.set(whole, 12);
    expect(dev.sendOffload(frame.subarray(12), 1448, 20, 16)).toBe(true);
    expect([...sys.written[0]!]).toEqual([...sys.written[2]!]);
    expect(decodeVnetHeader(sys.written[0]!)).toEqual({ flags: 1, gsoType: 1, hdrLen: 52, gsoSize: 1448, csumStart: 20, csumOffset: 16 });
    // One MSS or less: checksum offload only.
    expect(decodeVnetHeader(sys.written[1]!)).toEqual({ flags: 1, gsoType: 0, hdrLen: 52, gsoSize: 0, csumStart: 20, csumOffset: 16 });
    expect([...sys.written[1]!.subarray(12 + 52)]).toEqual([...whole.subarray(52, 52 + 1000)]);
    expect(dev.stats()).toMatchObject({ TxPackets: 3, TxGathered: 2, TxGsoPackets: 2, TxCsumOffload: 3, TxBytes: 4052 + 1052 + 4052, TxDropped: 0 });
  });

  it('sendOffloadGather without writev in the libc (or without headroom): the pieces copied into one write, the same bytes', () => {
    const dev = TunDevice.open({ offload: true });
    const whole = tcpPacket(4000);
    const { head, data, data2 } = pieces(whole, 52, 2500);
    const noRoom = pieces(whole, 52, 2500, 0);
    expect(dev.sendOffloadGather(noRoom.head, noRoom.data, noRoom.data2, 1448, 20, 16)).toBe(true);
    sys.writeGather = undefined;
    expect(dev.sendOffloadGather(head, data, data2, 1448, 20, 16)).toBe(true);
    expect(sys.syscalls().filter((f) => f === 'writeGather' || f === 'write')).toEqual(['write', 'write']);
    const frame = new Uint8Array(12 + whole.length);
    frame.set(whole, 12);
    expect(dev.sendOffload(frame.subarray(12), 1448, 20, 16)).toBe(true);
    expect([...sys.written[0]!]).toEqual([...sys.written[2]!]);
    expect([...sys.written[1]!]).toEqual([...sys.written[2]!]);
    expect(dev.stats()).toMatchObject({ TxPackets: 3, TxGathered: 0, TxDropped: 0 });
  });

  it('sendOffloadGather refuses what sendOffload refuses, and a TCP header not whole in the head; a failed writev is counted', () => {
    const dev = TunDevice.open({ offload: true, mtu: 1500 });
    const whole = tcpPacket(4000);
    const cut = pieces(whole, 40, 2500); // the 32-byte TCP header ends at 52: 12 bytes of it in the data
    expect(dev.sendOffloadGather(cut.head, cut.data, cut.data2, 1448, 20, 16)).toBe(false);
    const big = pieces(whole, 52, 2500);
    expect(dev.sendOffloadGather(big.head, big.data, big.data2, 0, 20, 16)).toBe(false); // > MTU, no GSO asked
    const huge = tcpPacket(65_535 - 52 + 1);
    const h = pieces(huge, 52, 30_000);
    expect(dev.sendOffloadGather(h.head, h.data, h.data2, 1448, 20, 16)).toBe(false); // 65536 bytes
    expect(sys.syscalls().filter((f) => f === 'writeGather' || f === 'write')).toEqual([]);
    sys.writeErrno = 105; // ENOBUFS
    expect(dev.sendOffloadGather(big.head, big.data, big.data2, 1448, 20, 16)).toBe(false);
    expect(dev.stats()).toMatchObject({ TxPackets: 0, TxGathered: 0, TxDropped: 4, TxErrors: 1, LastTxErrno: 105 });
  });

  /** A UDP super-datagram as the kernel reads it out: vnet header (UDP_L4, NEEDS_CSUM) + IPv4/UDP. */
  function usoRead(payload: number, gsoSize: number, opts: { flags?: number; csumStart?: number; badIpSum?: boolean } = {}): Uint8Array {
    const total = 28 + payload;
    const p = new Uint8Array(12 + total);
    encodeVnetHeader(p, 0, 12, opts.flags ?? 1, 5, 28, gsoSize, opts.csumStart ?? 20, 6);
    const ip = p.subarray(12);
    ip.set([0x45, 0, total >>> 8, total & 0xff, 0x10, 0x00, 0x40, 0, 64, 17, 0, 0, 10, 7, 0, 1, 10, 7, 0, 2]);
    let s = 0;
    for (let i = 0; i < 20; i += 2) s += (ip[i]! << 8) | ip[i + 1]!;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    const c = (~s & 0xffff) ^ (opts.badIpSum ? 1 : 0);
    ip[10] = c >>> 8;
    ip[11] = c & 0xff;
    const ulen = 8 + payload;
    ip.set([0x9c, 0x40, 0, 7, ulen >>> 8, ulen & 0xff, 0x12, 0x34], 20);
    for (let i = 0; i < payload; i++) ip[28 + i] = (i * 13) & 0xff;
    return p;
  }

  it('a UDP super-datagram (gso_type UDP_L4) reaches the receiver as the datagrams it carries', () => {
    const dev = TunDevice.open({ offload: true });
    const got: { len: number; ipLen: number; udpLen: number; first: number; meta: unknown }[] = [];
    let batches = 0;
    dev.setReceiver({
      packet: (p, meta) => got.push({ len: p.length, ipLen: (p[2]! << 8) | p[3]!, udpLen: (p[24]! << 8) | p[25]!, first: p[28]!, meta: { ...meta } }),
      batchEnd: () => batches++,
    });
    sys.rx.push(usoRead(2500, 1000), Uint8Array.from([...new Uint8Array(12), 0x45, 0, 0, 20]));
    sys.fireReadable();
    const segMeta = { csumPartial: true, dataValid: false, gsoType: 0, gsoSize: 0 };
    expect(got).toEqual([
      { len: 1028, ipLen: 1028, udpLen: 1008, first: 0, meta: segMeta },
      { len: 1028, ipLen: 1028, udpLen: 1008, first: (1000 * 13) & 0xff, meta: segMeta },
      { len: 528, ipLen: 528, udpLen: 508, first: (2000 * 13) & 0xff, meta: segMeta },
      { len: 4, ipLen: 20, udpLen: 0, first: undefined, meta: { csumPartial: false, dataValid: false, gsoType: 0, gsoSize: 0 } },
    ]);
    expect(batches).toBe(1);
    expect(dev.stats()).toMatchObject({
      RxPackets: 2, RxBytes: 2528 + 4, RxDropped: 0, RxGsoPackets: 1, RxCsumPartial: 1, RxUsoPackets: 1, RxUsoSegments: 3, RxUsoDropped: 0,
    });
  });

  it('a malformed UDP super-datagram is dropped and counted; the receiver never sees it', () => {
    const dev = TunDevice.open({ offload: true });
    let seen = 0;
    dev.setReceiver({ packet: () => seen++ });
    sys.rx.push(usoRead(2500, 1000, { flags: 0 }), usoRead(2500, 1000, { csumStart: 0 }), usoRead(2500, 1000, { badIpSum: true }), usoRead(2500, 0));
    sys.fireReadable();
    expect(seen).toBe(0);
    expect(dev.stats()).toMatchObject({ RxPackets: 0, RxDropped: 4, RxUsoDropped: 4, RxUsoPackets: 0, RxUsoSegments: 0 });
  });

  it('a UDP super-datagram on a device without USO (older kernel) is dropped and counted', () => {
    sys.failures.push({ fn: 'ioctlInt', request: TUNSETOFFLOAD, errno: 22 });
    const dev = TunDevice.open({ offload: true });
    expect(dev.offload?.uso4).toBe(false);
    let seen = 0;
    dev.setReceiver({ packet: () => seen++ });
    sys.rx.push(usoRead(2500, 1000));
    sys.fireReadable();
    expect(seen).toBe(0);
    expect(dev.stats()).toMatchObject({ RxDropped: 1, RxUsoDropped: 1 });
  });

  it('close() from inside the receiver ends the split', () => {
    const dev = TunDevice.open({ offload: true });
    let seen = 0;
    dev.setReceiver({ packet: () => { seen++; dev.close(); } });
    sys.rx.push(usoRead(2500, 1000));
    sys.fireReadable();
    expect(seen).toBe(1);
    expect(dev.stats()).toMatchObject({ RxUsoPackets: 1, RxUsoSegments: 1 });
  });

  /** A UDP/IPv6 super-datagram as the kernel reads it out: vnet header (UDP_L4, csum_start 40) + IPv6/UDP. */
  function usoRead6(payload: number, gsoSize: number): Uint8Array {
    const ulen = 8 + payload;
    const p = new Uint8Array(12 + 40 + ulen);
    encodeVnetHeader(p, 0, 12, 1, 5, 48, gsoSize, 40, 6);
    const ip = p.subarray(12);
    ip.set([0x60, 0, 0, 0, ulen >>> 8, ulen & 0xff, 17, 64, 0xfd, 7, ...new Array<number>(13).fill(0), 1, 0xfd, 7, ...new Array<number>(13).fill(0), 2]);
    ip.set([0x9c, 0x40, 0, 7, ulen >>> 8, ulen & 0xff, 0x12, 0x34], 40);
    for (let i = 0; i < payload; i++) ip[48 + i] = (i * 13) & 0xff;
    return p;
  }

  it('a UDP/IPv6 super-datagram is split like an IPv4 one (ipv4Only: false)', () => {
    const dev = TunDevice.open({ offload: true, ipv4Only: false });
    expect(dev.offload?.uso6).toBe(true);
    const got: { len: number; payloadLen: number; udpLen: number; first: number }[] = [];
    dev.setReceiver({ packet: (p) => got.push({ len: p.length, payloadLen: (p[4]! << 8) | p[5]!, udpLen: (p[44]! << 8) | p[45]!, first: p[48]! }) });
    sys.rx.push(usoRead6(2500, 1000));
    sys.fireReadable();
    expect(got).toEqual([
      { len: 1048, payloadLen: 1008, udpLen: 1008, first: 0 },
      { len: 1048, payloadLen: 1008, udpLen: 1008, first: (1000 * 13) & 0xff },
      { len: 548, payloadLen: 508, udpLen: 508, first: (2000 * 13) & 0xff },
    ]);
    expect(dev.stats()).toMatchObject({ RxPackets: 1, RxDropped: 0, RxUsoPackets: 1, RxUsoSegments: 3, RxUsoDropped: 0 });
  });

  it('with ipv4Only (the default) an IPv6 super-datagram is dropped by the filter, before any split', () => {
    const dev = TunDevice.open({ offload: true });
    let seen = 0;
    dev.setReceiver({ packet: () => seen++ });
    sys.rx.push(usoRead6(2500, 1000));
    sys.fireReadable();
    expect(seen).toBe(0);
    expect(dev.stats()).toMatchObject({ RxPackets: 0, RxDropped: 1, RxUsoPackets: 0, RxUsoDropped: 0 });
  });

  it('a TCP/IPv6 super-segment (gso_type TCPV6) reaches the receiver whole, with its meta', () => {
    const dev = TunDevice.open({ offload: true, ipv4Only: false });
    const got: { len: number; first: number; meta: unknown }[] = [];
    dev.setReceiver({ packet: (p, meta) => got.push({ len: p.length, first: p[0]!, meta: { ...meta } }) });
    const seg = new Uint8Array(40 + 32 + 30_000);
    seg[0] = 0x60;
    const hdr = new Uint8Array(12);
    encodeVnetHeader(hdr, 0, 12, 1, 4, 72, 1428, 40, 16);
    sys.rx.push(Uint8Array.from([...hdr, ...seg]));
    sys.fireReadable();
    expect(got).toEqual([{ len: seg.length, first: 0x60, meta: { csumPartial: true, dataValid: false, gsoType: 4, gsoSize: 1428 } }]);
    expect(dev.stats()).toMatchObject({ RxPackets: 1, RxGsoPackets: 1, RxCsumPartial: 1 });
  });

  it('sendOffload marks an IPv6 super-segment TCPV6 (gso_type 4), csum_start past the 40-byte header', () => {
    const dev = TunDevice.open({ offload: true, ipv4Only: false });
    const p = new Uint8Array(40 + 32 + 4000);
    p[0] = 0x60;
    p[40 + 12] = 8 << 4;
    expect(dev.sendOffload(p, 1428, 40, 16)).toBe(true);
    expect(decodeVnetHeader(sys.written[0]!)).toEqual({ flags: 1, gsoType: 4, hdrLen: 72, gsoSize: 1428, csumStart: 40, csumOffset: 16 });
    const v4 = tcpPacket(4000);
    expect(dev.sendOffload(v4, 1448, 20, 16)).toBe(true);
    expect(decodeVnetHeader(sys.written[1]!).gsoType).toBe(1);
  });

  it('sendOffload refuses an IPv6 super-segment without TSO6, and still takes IPv4 ones', () => {
    for (let i = 0; i < 3; i++) sys.failures.push({ fn: 'ioctlInt', request: TUNSETOFFLOAD, errno: 22 });
    const dev = TunDevice.open({ offload: true, ipv4Only: false }); // CSUM|TSO4
    expect(dev.offload).toMatchObject({ tso4: true, tso6: false });
    const p = new Uint8Array(40 + 32 + 4000);
    p[0] = 0x60;
    p[40 + 12] = 8 << 4;
    expect(dev.sendOffload(p, 1428, 40, 16)).toBe(false);
    expect(dev.sendOffload(tcpPacket(4000), 1448, 20, 16)).toBe(true);
    expect(dev.stats()).toMatchObject({ TxDropped: 1, TxGsoPackets: 1 });
  });

  it('sendOffload refuses what the negotiation does not allow', () => {
    for (let i = 0; i < 4; i++) sys.failures.push({ fn: 'ioctlInt', request: TUNSETOFFLOAD, errno: 22 });
    const dev = TunDevice.open({ offload: true }); // csum only
    expect(dev.sendOffload(tcpPacket(4000), 1448, 20, 16)).toBe(false); // > MTU needs TSO4
    expect(dev.sendOffload(tcpPacket(1000), 1448, 20, 16)).toBe(true);
    const plain = TunDevice.open({ name: 'tun1' });
    expect(plain.sendOffload(tcpPacket(1000), 1448, 20, 16)).toBe(false);
    expect(plain.stats().TxDropped).toBe(1);
  });
});

describe('memory link and capture with offloads', () => {
  it('an offloaded super-segment crosses as it is, with meta; plain packets without', () => {
    const pair = createLinkPair({ offload: true, autoDeliver: false });
    expect(pair.a.offload).toEqual({ tso4: true, tso6: true, csum: true });
    const got: { len: number; meta: unknown }[] = [];
    pair.b.setReceiver({ packet: (p, meta) => got.push({ len: p.length, meta: meta === undefined ? undefined : { ...meta } }) });
    expect(pair.a.sendOffload(tcpPacket(10_000), 1448, 20, 16)).toBe(true);
    expect(pair.a.sendOffload(tcpPacket(100), 1448, 20, 16)).toBe(true);
    expect(pair.a.send(tcpPacket(100))).toBe(true);
    expect(pair.a.sendOffload(tcpPacket(70_000 - 52).subarray(0, 1), 1448, 20, 16)).toBe(false);
    pair.pump();
    expect(got).toEqual([
      { len: 10_052, meta: { csumPartial: true, dataValid: false, gsoType: 1, gsoSize: 1448 } },
      { len: 152, meta: { csumPartial: true, dataValid: false, gsoType: 0, gsoSize: 0 } },
      { len: 152, meta: undefined },
    ]);
    expect(pair.a.stats()).toMatchObject({ TxGsoPackets: 1, TxCsumOffload: 2 });
    expect(pair.b.stats()).toMatchObject({ RxGsoPackets: 1, RxCsumPartial: 2 });
  });

  it('an IPv6 super-segment crosses marked TCPV6 (gso_type 4)', () => {
    const pair = createLinkPair({ offload: true, autoDeliver: false });
    const tcp6 = (n: number): Uint8Array => {
      const p = new Uint8Array(60 + n);
      p[0] = 0x60;
      p[4] = (20 + n) >>> 8;
      p[5] = (20 + n) & 0xff;
      p[6] = 6;
      p[7] = 64;
      p[40 + 12] = 5 << 4;
      return p;
    };
    const got: unknown[] = [];
    pair.b.setReceiver({ packet: (p, meta) => got.push([p.length, meta?.gsoType]) });
    expect(pair.a.sendOffload(tcp6(10_000), 1428, 40, 16)).toBe(true);
    expect(pair.a.sendOffload(tcp6(100), 1428, 40, 16)).toBe(true);
    pair.pump();
    expect(got).toEqual([[10_060, 4], [160, 0]]);
  });

  it('without offload: true the memory link has no offload and refuses sendOffload', () => {
    const pair = createLinkPair({ autoDeliver: false });
    expect(pair.a.offload).toBeUndefined();
    expect(pair.a.sendOffload(tcpPacket(100), 1448, 20, 16)).toBe(false);
  });

  it('sendOffloadGather over a memory link and a capture: the packet crosses whole; a watched capture joins the pieces for its taps', () => {
    const pair = createLinkPair({ offload: true, autoDeliver: false });
    const chunks: Uint8Array[] = [];
    const writer = new PcapWriter({ write: (c) => chunks.push(c.slice()) });
    const a = capture(pair.a, writer);
    const got: Uint8Array[] = [];
    const metas: unknown[] = [];
    pair.b.setReceiver({ packet: (p, meta) => { got.push(p.slice()); metas.push(meta?.gsoSize); } });
    const whole = tcpPacket(5000);
    const head = whole.slice(0, 52);
    expect(a.sendOffloadGather(head, whole.slice(52, 3052), whole.slice(3052), 1000, 20, 16)).toBe(true);
    writer.close();
    // No tap: the pieces go on to the inner link as they are.
    const bare = new CaptureLink(pair.a);
    const inner = vi.spyOn(pair.a, 'sendOffloadGather');
    const data = whole.slice(52);
    expect(bare.sendOffloadGather(head, data, undefined, 1000, 20, 16)).toBe(true);
    expect(inner).toHaveBeenCalledWith(head, data, undefined, 1000, 20, 16);
    pair.pump();
    expect(metas).toEqual([1000, 1000]);
    expect(got.map((p) => [...p])).toEqual([[...whole], [...whole]]);
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const all = new Uint8Array(total);
    let o = 0;
    for (const c of chunks) { all.set(c, o); o += c.length; }
    expect(readPcap(all).records.map((r) => r.data.length)).toEqual([5052]);
    expect(pair.a.stats()).toMatchObject({ TxPackets: 2, TxCsumOffload: 2, TxGsoPackets: 2 });
  });

  it('capture passes offloads through and records the super-segment', () => {
    const pair = createLinkPair({ offload: true, autoDeliver: false });
    const chunks: Uint8Array[] = [];
    const writer = new PcapWriter({ write: (c) => chunks.push(c.slice()) });
    const a = capture(pair.a, writer);
    const b = capture(pair.b, writer);
    expect(a.offload).toEqual({ tso4: true, tso6: true, csum: true });
    const metas: unknown[] = [];
    b.setReceiver({ packet: (_p, meta) => metas.push(meta?.gsoSize) });
    expect(a.sendOffload!(tcpPacket(5000), 1000, 20, 16)).toBe(true);
    pair.pump();
    writer.close();
    expect(metas).toEqual([1000]);
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const all = new Uint8Array(total);
    let o = 0;
    for (const c of chunks) { all.set(c, o); o += c.length; }
    expect(readPcap(all).records.map((r) => r.data.length)).toEqual([5052, 5052]);
  });
});
