/**
 * TCP over an IP layer with segmentation and checksum offload (IpOutput.sendSegment), in
 * the trace style of the other tests. The fake IP completes each partial checksum the way
 * the device does (virtio spec §5.1.6.2: sum from csum_start, complement, store at
 * csum_start + csum_offset) before handing the segment to the harness, and keeps the raw
 * bytes so the partial value itself can be checked.
 */
import { describe, expect, it } from 'vitest';
import {
  PROTO_TCP, finish, parseIpv6Address, pseudoHeaderSum, sum16, type GatherWriter, type IpAddress, type IpOutput, type Ipv4Address, type PayloadWriter, type SendError,
  type SendOptions,
} from '@netstack/ip';
import {
  ACK, PSH, SYN, TcpLayer, emitTcp, flowLabel, parseTcp, newTcpRepr, tcpHeaderLen, type CongestionControl, type TcpConnection, type TcpOptions,
  type TcpRepr,
} from '../src/index.js';
import { Ctx, FakeIp, LOCAL, LOCAL_PORT, REMOTE, REMOTE_ISS, REMOTE_PORT, datagram, encode } from './harness.js';

interface Offloaded { gsoSize: number; csumOffset: number; raw: Uint8Array }

class OffloadIp extends FakeIp {
  readonly checksumOffload = true;
  offloaded: Offloaded[] = [];
  /** Take the data of a GatherWriter where it is (as the IP layer over a link with sendOffloadGather), recording how. */
  gather = false;
  gathers: { head: number; pieces: Uint8Array[] }[] = [];
  maxSegmentPayload(_dst: Ipv4Address): number { return 65515; }
  sendSegment(dst: Ipv4Address, _protocol: number, length: number, writer: PayloadWriter, gsoSize: number, csumOffset: number): SendError | undefined {
    const buf = new Uint8Array(20 + length);
    const g = writer as PayloadWriter & Partial<GatherWriter>;
    const n = this.gather && g.gatherLength !== undefined ? g.gatherLength() : 0;
    if (n > 0) {
      g.writeHead!(buf, 20, this.address, dst);
      const pieces = g.gathered2 === undefined ? [g.gathered!] : [g.gathered!, g.gathered2];
      this.gathers.push({ head: length - n, pieces });
      let at = 20 + length - n;
      for (const p of pieces) { buf.set(p, at); at += p.length; }
      expect(at).toBe(20 + length);
    } else {
      writer.writePayload(buf, 20, this.address, dst);
    }
    const raw = buf.slice(20);
    this.offloaded.push({ gsoSize, csumOffset, raw });
    const done = raw.slice();
    // Summed over the field as it is (it holds the pseudo-header sum), complemented, stored.
    const c = finish(sum16(raw, 0, raw.length));
    done[csumOffset] = c >>> 8;
    done[csumOffset + 1] = c & 0xff;
    this.sent.push({ src: this.address, dst, protocol: _protocol, payload: done, tos: 0, options: undefined });
    return undefined;
  }
}

/** A congestion window that never limits (to reach the 64 KB cap). */
const wide = (): CongestionControl => ({
  cwnd: 1 << 30, ssthresh: Infinity, setMss() {}, onSynLoss() {}, onAck() {}, onEnterRecovery() {}, onDupAckInRecovery() {},
  onPartialAck() {}, onExitRecovery() {}, onRto() {},
});

class OffloadCtx extends Ctx {
  declare ip: OffloadIp;
  constructor(cc?: () => CongestionControl, sendBufferSize = 1 << 20) {
    super();
    this.ip = new OffloadIp();
    this.layer = new TcpLayer(this.ip, {
      isnKey: new Uint8Array(16).fill(7), timestamps: true, windowScaling: true,
      sendBufferSize, ...(cc ? { congestionControl: cc } : {}),
    });
  }
}

/** ESTABLISHED with timestamps (so the MSS after options is 1460 - 12 = 1448) and a scaled window. */
function established(cc?: () => CongestionControl, sendBufferSize?: number): OffloadCtx {
  const t = new OffloadCtx(cc, sendBufferSize);
  t.conn = t.layer.connect({ remoteAddress: REMOTE, remotePort: REMOTE_PORT, localPort: LOCAL_PORT }, t.now, t.handler);
  const syn = t.recv({ flags: SYN });
  t.iss = syn.seq;
  t.send({ seq: REMOTE_ISS, ack: t.iss + 1, flags: SYN | ACK, window: 65535, options: { mss: 1460, windowScale: 7, timestamp: { tsVal: 100, tsEcr: syn.options.timestamp!.tsVal } } });
  t.recv({ flags: ACK, seq: t.iss + 1, ack: REMOTE_ISS + 1 });
  expect(t.conn.state).toBe('ESTABLISHED');
  t.ip.offloaded = [];
  return t;
}

const pattern = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i % 251);

describe('sending with segmentation offload', () => {
  it('one write leaves as ONE super-segment of the initial window, gso_size = MSS after options, checksum partial', () => {
    const t = established();
    expect(t.conn.stats.sndMss).toBe(1448);
    t.write(pattern(100_000));
    const segs = t.drain();
    expect(segs).toHaveLength(1);
    expect(segs[0]!.payload.length).toBe(10 * 1448); // RFC 6928 IW10, in one emit
    expect(Buffer.from(segs[0]!.payload).equals(Buffer.from(pattern(14480)))).toBe(true);
    const o = t.ip.offloaded[0]!;
    expect(o.gsoSize).toBe(1448);
    expect(o.csumOffset).toBe(16);
    // The checksum field holds the folded pseudo-header sum over the whole TCP length, uncomplemented.
    const field = (o.raw[16]! << 8) | o.raw[17]!;
    expect(field).toBe(pseudoHeaderSum(LOCAL, REMOTE, PROTO_TCP, o.raw.length));
    expect(o.raw.length).toBe(32 + 14480);
    // Completed as the device does, the segment verifies (decode() in drain() checked it too).
    expect(parseTcp(o.raw, LOCAL, REMOTE, true, newTcpRepr())).toBe('bad-checksum'); // partial as sent
    expect(t.layer.stats()).toMatchObject({ OutGsoSegs: 1, OutCsumOffloaded: 3 }); // SYN, ACK, data
  });

  it('with a wide window a super-segment is capped at 45 x 1448 = 65160 bytes (65535 - 20 - 32 - 323)', () => {
    const t = established(wide);
    t.write(pattern(200_000));
    const lens = t.drain().map((s) => s.payload.length);
    expect(lens[0]).toBe(45 * 1448);
    expect(lens.every((n) => n <= 45 * 1448)).toBe(true);
    expect(20 + 32 + lens[0]!).toBeLessThanOrEqual(65535);
    expect(t.ip.offloaded.every((o) => o.gsoSize === 1448 || o.gsoSize === 0)).toBe(true);
  });

  it('a super-segment ends on a whole MSS unless its tail could go at once (Nagle), as MSS-at-a-time sending', () => {
    const t = established(wide);
    // The peer's window: field 78 << 7 = 9984 bytes.
    t.send({ seq: REMOTE_ISS + 1, ack: t.iss + 1, flags: ACK, window: 78, options: { timestamp: { tsVal: 101, tsEcr: 0 } } });
    t.drain();
    t.write(pattern(5000));
    // 3 whole MSS in one super-segment; the 656-byte tail waits for the ACK (RFC 1122 §4.2.3.4).
    expect(t.drain().map((s) => s.payload.length)).toEqual([3 * 1448]);
    t.send({ seq: REMOTE_ISS + 1, ack: t.iss + 1 + 4344, flags: ACK, window: 78, options: { timestamp: { tsVal: 102, tsEcr: 0 } } });
    const tail = t.drain();
    expect(tail.map((s) => s.payload.length)).toEqual([656]);
    expect(tail[0]!.flags & PSH).toBe(PSH);
    // Window-limited: 9984 - 656 in flight = 9328 may go, cut to 6 whole MSS.
    t.write(pattern(20_000));
    expect(t.drain().map((s) => s.payload.length)).toEqual([6 * 1448]);
  });

  it('with noDelay the tail of the last data rides in the super-segment', () => {
    const t = established(wide);
    t.conn.setNoDelay(true);
    t.write(pattern(5000));
    expect(t.drain().map((s) => s.payload.length)).toEqual([5000]);
    expect(t.ip.offloaded.at(-1)!.gsoSize).toBe(1448);
  });

  it('a small segment or a bare ACK takes the checksum-offload path without GSO', () => {
    const t = established();
    t.write(pattern(100));
    t.drain();
    expect(t.ip.offloaded.map((o) => o.gsoSize)).toEqual([0]);
  });
});

describe('sending from the send buffer in place (GatherWriter)', () => {
  it('a segment of 1024 bytes or more leaves with its header written and its data as views of the send buffer, two where the buffer wraps; smaller ones are copied', () => {
    const t = established(wide, 64 * 1024);
    t.conn.setNoDelay(true);
    t.ip.gather = true;
    const data = pattern(200_000);
    const got: number[] = [];
    let written = 0;
    let acked = t.iss + 1;
    // Write what fits, take what left, acknowledge it all: the buffer's tail comes round its end.
    const take = (): void => {
      for (const seg of t.drain()) {
        for (const b of seg.payload) got.push(b);
        acked = (acked + seg.payload.length) >>> 0;
      }
    };
    for (let round = 0; round < 12 && got.length < data.length; round++) {
      written += t.write(data.subarray(written));
      take();
      t.send({ seq: REMOTE_ISS + 1, ack: acked, flags: ACK, window: 65535, options: { timestamp: { tsVal: 200 + round, tsEcr: 0 } } });
      take();
    }
    expect(written).toBe(data.length);
    expect(got.length).toBe(data.length);
    expect(Buffer.from(got).equals(Buffer.from(data))).toBe(true);
    const g = t.ip.gathers;
    expect(g.length).toBeGreaterThan(3);
    // The header only in the IP layer's buffer (20 + 12 bytes of timestamp option), the data in the send buffer's storage.
    expect(g.every((x) => x.head === 32)).toBe(true);
    const storage = g[g.length - 1]!.pieces[0]!.buffer;
    expect(g.filter((x) => x.pieces.every((p) => p.buffer === storage)).length).toBeGreaterThan(2);
    expect(g.some((x) => x.pieces.length === 2)).toBe(true);
    // Every data segment of 1024 bytes or more went in place.
    expect(g.length).toBe(t.ip.offloaded.filter((o) => o.raw.length - 32 >= 1024).length);
    const before = g.length;
    t.write(pattern(1023));
    expect(t.drain().map((x) => x.payload.length)).toEqual([1023]);
    expect(t.ip.gathers.length).toBe(before);
    t.write(pattern(1024));
    expect(t.drain().map((x) => x.payload.length)).toEqual([1024]);
    expect(t.ip.gathers.length).toBe(before + 1);
  });
});

describe('writing into the send buffer in place (writeSpace / commitWrite)', () => {
  it('bytes filled into the view go out as written ones, in order with write(); nothing after shutdown', () => {
    const t = established(wide, 64 * 1024);
    t.conn.setNoDelay(true);
    const data = pattern(10_000);
    const a = t.conn.writeSpace(6000);
    expect(a.length).toBe(6000);
    a.set(data.subarray(0, 6000));
    expect(t.conn.commitWrite(a, 6000, t.now)).toBe(6000);
    expect(t.write(data.subarray(6000, 7000))).toBe(1000);
    const b = t.conn.writeSpace(4000);
    b.set(data.subarray(7000, 10_000));
    expect(t.conn.commitWrite(b, 3000, t.now)).toBe(3000);
    const out = t.drain().flatMap((s) => [...s.payload]);
    expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true);
    expect(t.conn.stats.bytesWritten).toBe(10_000);
    t.conn.shutdown(t.now);
    expect(t.conn.writeSpace(100).length).toBe(0);
  });
});

describe('receiving super-segments', () => {
  it('a 20 000-byte segment the link vouched for is taken whole, unverified, and ACKed at once', () => {
    const t = established();
    const seg = encode({ seq: REMOTE_ISS + 1, ack: t.iss + 1, flags: ACK, payload: pattern(20_000), options: { timestamp: { tsVal: 101, tsEcr: 0 } } });
    // A partial checksum, as the kernel hands it: only the pseudo-header sum.
    const p = pseudoHeaderSum(REMOTE, LOCAL, PROTO_TCP, seg.length);
    seg[16] = p >>> 8;
    seg[17] = p & 0xff;
    const d = datagram(seg, REMOTE, LOCAL);
    t.layer.receive({ ...d }, t.now);
    expect(t.layer.stats().dropped.BadChecksum).toBe(1); // not vouched for: verified and refused
    t.layer.receive({ ...d, checksumVerified: true }, t.now);
    expect(t.conn.readableLength).toBe(20_000);
    t.recv({ flags: ACK, ack: REMOTE_ISS + 1 + 20_000 });
    expect(t.layer.stats().InCsumTrusted).toBe(1);
  });
});

// ---- IPv6: TSO6 and the flow label ----------------------------------------------------

const OWN6 = parseIpv6Address('fd07::2')!;
const PEER6 = parseIpv6Address('fd07::1')!;
const KEY6 = new Uint8Array(16).fill(9);

interface Sent6 { raw: Uint8Array; gsoSize: number; offloaded: boolean; flowLabel: number | undefined; tos: number | undefined }

/**
 * A minimal IPv6 `IpOutput` (as family.test.ts's) with the offload members of an Ipv6Layer
 * over a link that agreed checksum offload and, with `tso6`, TSO6: `checksumOffloadTo`,
 * `maxSegmentPayload` (65495 with TSO6, else pathMtu − 40) and `sendSegment`, which keeps
 * the raw (partial) bytes and the options (flow label) of every datagram.
 */
class Offload6Ip implements IpOutput {
  readonly address = OWN6;
  readonly mtu = 1500;
  readonly checksumOffload = true;
  sent: Sent6[] = [];
  constructor(readonly tso6: boolean) {}
  sourceFor(): IpAddress { return OWN6; }
  pathMtu(): number { return this.mtu; }
  networkHeaderLength(): number { return 40; }
  checksumOffloadTo(dst: IpAddress): boolean { return typeof dst === 'string'; }
  maxSegmentPayload(): number { return this.tso6 ? 65495 : this.mtu - 40; }
  send(): SendError | undefined { throw new Error('not used'); }
  sendWith(dst: IpAddress, _p: number, length: number, writer: PayloadWriter, options?: SendOptions): SendError | undefined {
    const buf = new Uint8Array(40 + length);
    writer.writePayload(buf, 40, OWN6, dst);
    this.sent.push({ raw: buf.slice(40), gsoSize: 0, offloaded: false, flowLabel: options?.flowLabel, tos: options?.tos });
    return undefined;
  }
  sendSegment(dst: IpAddress, _p: number, length: number, writer: PayloadWriter, gsoSize: number, _csumOffset: number, options?: SendOptions): SendError | undefined {
    if (40 + length > this.mtu && !(this.tso6 && gsoSize > 0)) return 'EMSGSIZE';
    const buf = new Uint8Array(40 + length);
    writer.writePayload(buf, 40, OWN6, dst);
    this.sent.push({ raw: buf.slice(40), gsoSize, offloaded: true, flowLabel: options?.flowLabel, tos: options?.tos });
    return undefined;
  }
  reportUnreachable(): void {}
}

function seg6(f: { srcPort: number; dstPort: number; seq: number; ack?: number; flags: number; window?: number; options?: TcpOptions }): Uint8Array {
  const r: TcpRepr = {
    srcPort: f.srcPort, dstPort: f.dstPort, seq: f.seq >>> 0, ack: (f.ack ?? 0) >>> 0, flags: f.flags, window: f.window ?? 65535, urgent: 0,
    options: f.options ?? {}, payload: new Uint8Array(0),
  };
  const buf = new Uint8Array(tcpHeaderLen(r));
  emitTcp(r, buf, 0, PEER6, OWN6);
  return buf;
}

/** An accepted IPv6 connection on port 80 from the peer's `port`, with timestamps (MSS 1440 − 12 = 1428) and a wide window. */
function accept6(ip: Offload6Ip, layer: TcpLayer, port: number): TcpConnection {
  const accepted: TcpConnection[] = [];
  if (layer.connectionCount === 0) {
    layer.listen({ port: 80, address: OWN6 }, { onAcceptable(l) { let c; while ((c = l.accept({}))) accepted.push(c); } });
  }
  const inject = (bytes: Uint8Array): void => layer.receive({
    src: PEER6, dst: OWN6, protocol: PROTO_TCP, ttl: 64, tos: 0, payload: bytes, packet: bytes, headerLength: 0, toBroadcast: false, reassembled: false,
  }, 0);
  inject(seg6({ srcPort: port, dstPort: 80, seq: 1000, flags: SYN, options: { mss: 1440, windowScale: 7, timestamp: { tsVal: 1, tsEcr: 0 } } }));
  const sa = parseTcp(ip.sent.at(-1)!.raw, OWN6, PEER6, false, newTcpRepr());
  if (typeof sa === 'string') throw new Error(sa);
  inject(seg6({ srcPort: port, dstPort: 80, seq: 1001, ack: sa.seq + 1, flags: ACK, window: 2000, options: { timestamp: { tsVal: 2, tsEcr: sa.options.timestamp!.tsVal } } }));
  const c = layer.connections().find((x) => x.remotePort === port && x.state === 'ESTABLISHED');
  if (c === undefined) throw new Error('not established');
  return c;
}

describe('TCP over IPv6 with offload (TSO6) and the flow label', () => {
  const setup6 = (tso6: boolean) => {
    const ip = new Offload6Ip(tso6);
    const layer = new TcpLayer(ip, { isnKey: KEY6, timestamps: true, windowScaling: true, sendBufferSize: 1 << 20, congestionControl: wide });
    return { ip, layer };
  };

  it('TSO6 agreed: one write leaves as ONE super-segment, gso_size = MSS, checksum partial over the IPv6 pseudo-header', () => {
    const { ip, layer } = setup6(true);
    const c = accept6(ip, layer, 40000);
    expect(c.stats.sndMss).toBe(1428);
    ip.sent = [];
    c.write(pattern(100_000), 0);
    layer.poll(1);
    const data = ip.sent.filter((s) => s.raw.length > 32);
    expect(data[0]!.offloaded).toBe(true);
    expect(data[0]!.gsoSize).toBe(1428);
    const n = data[0]!.raw.length - 32;
    expect(n).toBeGreaterThan(1428);
    expect(n % 1428).toBe(0);
    const field = (data[0]!.raw[16]! << 8) | data[0]!.raw[17]!;
    expect(field).toBe(pseudoHeaderSum(OWN6, PEER6, PROTO_TCP, data[0]!.raw.length));
    expect(layer.stats().OutGsoSegs).toBeGreaterThan(0);
  });

  it('TSO6 not agreed (a TSO4-only link): IPv6 segments are one MSS at most, checksum still offloaded', () => {
    const { ip, layer } = setup6(false);
    const c = accept6(ip, layer, 40000);
    ip.sent = [];
    c.write(pattern(100_000), 0);
    layer.poll(1);
    const lens = ip.sent.map((s) => s.raw.length - 32).filter((n) => n > 0);
    expect(lens.length).toBeGreaterThan(1);
    expect(Math.max(...lens)).toBeLessThanOrEqual(1428);
    expect(ip.sent.every((s) => s.offloaded && s.gsoSize === 0)).toBe(true); // never a super-segment
    expect(layer.stats()).toMatchObject({ OutGsoSegs: 0, SendErrors: 0 });
  });

  it('every segment of a connection carries one non-zero 20-bit label, a hash of its 4-tuple; another connection gets another', () => {
    const { ip, layer } = setup6(true);
    const a = accept6(ip, layer, 40000);
    const b = accept6(ip, layer, 40001);
    ip.sent = [];
    a.write(pattern(5000), 0);
    b.write(pattern(5000), 0);
    a.setNoDelay(true);
    layer.poll(1);
    a.close(2);
    layer.poll(3);
    expect(a.flowLabel).toBe(flowLabel(KEY6, OWN6, 80, PEER6, 40000));
    expect(b.flowLabel).toBe(flowLabel(KEY6, OWN6, 80, PEER6, 40001));
    for (const l of [a.flowLabel, b.flowLabel]) expect(l > 0 && l <= 0xfffff).toBe(true);
    expect(a.flowLabel).not.toBe(b.flowLabel);
    const byPort = (port: number) => ip.sent.filter((s) => ((s.raw[2]! << 8) | s.raw[3]!) === port).map((s) => s.flowLabel);
    const la = byPort(40000);
    expect(la.length).toBeGreaterThan(1);
    expect(new Set(la)).toEqual(new Set([a.flowLabel]));
    expect(new Set(byPort(40001))).toEqual(new Set([b.flowLabel]));
    // A different key, another label for the same tuple.
    expect(flowLabel(new Uint8Array(16).fill(1), OWN6, 80, PEER6, 40000)).not.toBe(a.flowLabel);
  });

  it('the RST for no connection and the SYN-ACK of a connection carry the label of their tuple; IPv4 segments carry none', () => {
    const { ip, layer } = setup6(true);
    layer.receive({
      src: PEER6, dst: OWN6, protocol: PROTO_TCP, ttl: 64, tos: 0, payload: seg6({ srcPort: 5555, dstPort: 81, seq: 1, flags: SYN }),
      packet: new Uint8Array(0), headerLength: 0, toBroadcast: false, reassembled: false,
    }, 0);
    expect(ip.sent.at(-1)!.flowLabel).toBe(flowLabel(KEY6, OWN6, 81, PEER6, 5555));
    accept6(ip, layer, 40002);
    expect(ip.sent.at(-1)!.flowLabel).toBe(flowLabel(KEY6, OWN6, 80, PEER6, 40002));
    const t = established();
    expect(t.conn.flowLabel).toBe(0);
  });
});
