/**
 * TCP over an IP layer with segmentation and checksum offload (IpOutput.sendSegment), in
 * the trace style of the other tests. The fake IP completes each partial checksum the way
 * the device does (virtio spec §5.1.6.2: sum from csum_start, complement, store at
 * csum_start + csum_offset) before handing the segment to the harness, and keeps the raw
 * bytes so the partial value itself can be checked.
 */
import { describe, expect, it } from 'vitest';
import { PROTO_TCP, finish, pseudoHeaderSum, sum16, type Ipv4Address, type PayloadWriter, type SendError } from '@netstack/ip';
import { ACK, PSH, SYN, TcpLayer, parseTcp, newTcpRepr, type CongestionControl } from '../src/index.js';
import { Ctx, FakeIp, LOCAL, LOCAL_PORT, REMOTE, REMOTE_ISS, REMOTE_PORT, datagram, encode } from './harness.js';

interface Offloaded { gsoSize: number; csumOffset: number; raw: Uint8Array }

class OffloadIp extends FakeIp {
  readonly checksumOffload = true;
  offloaded: Offloaded[] = [];
  maxSegmentPayload(_dst: Ipv4Address): number { return 65515; }
  sendSegment(dst: Ipv4Address, _protocol: number, length: number, writer: PayloadWriter, gsoSize: number, csumOffset: number): SendError | undefined {
    const buf = new Uint8Array(20 + length);
    writer.writePayload(buf, 20, this.address, dst);
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
  constructor(cc?: () => CongestionControl) {
    super();
    this.ip = new OffloadIp();
    this.layer = new TcpLayer(this.ip, {
      isnKey: new Uint8Array(16).fill(7), timestamps: true, windowScaling: true,
      sendBufferSize: 1 << 20, ...(cc ? { congestionControl: cc } : {}),
    });
  }
}

/** ESTABLISHED with timestamps (so the MSS after options is 1460 - 12 = 1448) and a scaled window. */
function established(cc?: () => CongestionControl): OffloadCtx {
  const t = new OffloadCtx(cc);
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
