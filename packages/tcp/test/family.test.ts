/**
 * TCP is address-family neutral: the connection table, the checksum (RFC 8200 §8.1
 * pseudo-header), the MSS from the path's header overhead (RFC 9293 §3.7.1: MTU − 40 −
 * 20 over IPv6), ISNs and SYN cookies (RFC 6528 over the address bytes) serve an IPv6
 * 4-tuple as they serve IPv4. There is no IPv6 layer yet; a minimal IPv6 `IpOutput`
 * stands in for it here.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  PROTO_TCP, ipv6FromBytes, parseIpv6Address, sum16, writeAddress,
  type IpAddress, type IpOutput, type Ipv6Address, type PayloadWriter, type SendError,
} from '@netstack/ip';
import { bucketKey } from '../src/layer.js';
import { sipHash24 } from '../src/siphash.js';
import {
  ACK, RST, SYN, TcpLayer, checkSynCookie, emitTcp, generateIsn, makeSynCookie, newTcpRepr, parseTcp, tcpHeaderLen, timestampOffset,
  type TcpConnection, type TcpOptions, type TcpRepr,
} from '../src/index.js';

const OWN = parseIpv6Address('fd07::2')!;
const PEER = parseIpv6Address('fd07::1')!;
const KEY = new Uint8Array(16).fill(7);

class Ip6 implements IpOutput {
  readonly address = OWN;
  readonly mtu = 1500;
  sent: Uint8Array[] = [];
  sourceFor(): IpAddress { return OWN; }
  pathMtu(): number { return this.mtu; }
  networkHeaderLength(): number { return 40; }
  send(_dst: IpAddress, _protocol: number, payload: Uint8Array): SendError | undefined {
    this.sent.push(payload.slice());
    return undefined;
  }
  sendWith(dst: IpAddress, _protocol: number, length: number, writer: PayloadWriter): SendError | undefined {
    const buf = new Uint8Array(length + 48);
    writer.writePayload(buf, 40, OWN, dst);
    this.sent.push(buf.slice(40, 40 + length));
    return undefined;
  }
  reportUnreachable(): void {}
}

/** RFC 8200 §8.1, laid out as bytes: the checksum of what left verifies. */
function verifies6(src: Ipv6Address, dst: Ipv6Address, seg: Uint8Array): boolean {
  const ph = new Uint8Array(40);
  writeAddress(ph, 0, src);
  writeAddress(ph, 16, dst);
  new DataView(ph.buffer).setUint32(32, seg.length);
  ph[39] = PROTO_TCP;
  return sum16(seg, 0, seg.length, sum16(ph)) === 0xffff;
}

function segment(fields: { srcPort: number; dstPort: number; seq: number; ack?: number; flags: number; options?: TcpOptions; payload?: string }): Uint8Array {
  const r: TcpRepr = {
    srcPort: fields.srcPort, dstPort: fields.dstPort, seq: fields.seq >>> 0, ack: (fields.ack ?? 0) >>> 0, flags: fields.flags,
    window: 65535, urgent: 0, options: fields.options ?? {}, payload: Buffer.from(fields.payload ?? ''),
  };
  const buf = new Uint8Array(tcpHeaderLen(r) + r.payload.length);
  emitTcp(r, buf, 0, PEER, OWN);
  return buf;
}

/**
 * An IP layer whose one `checksumOffload` flag is its IPv4 path's, as DualStackIp's is:
 * `sendSegment` refuses an IPv6 destination exactly as DualStackIp's does (it throws).
 */
class Ip6WithV4Offload extends Ip6 {
  readonly checksumOffload = true;
  maxSegmentPayload(): number { return 65515; }
  sendSegment(dst: IpAddress): SendError | undefined {
    if (typeof dst !== 'number') throw Object.assign(new Error('no IPv6 offload path: use sendWith for IPv6 destinations'), { code: 'ERR_INVALID_STATE' });
    return undefined;
  }
}

function setup(synBacklog?: number, ip6: Ip6 = new Ip6()) {
  const layer = new TcpLayer(ip6, { isnKey: KEY, timestamps: false, windowScaling: false, sack: false });
  const accepted: TcpConnection[] = [];
  const listener = layer.listen({ port: 80, address: OWN, ...(synBacklog === undefined ? {} : { synBacklog }) }, {
    onAcceptable(l) { let c; while ((c = l.accept({}))) accepted.push(c); },
  });
  const inject = (bytes: Uint8Array, now = 0): void => layer.receive({
    src: PEER, dst: OWN, protocol: PROTO_TCP, ttl: 64, tos: 0, payload: bytes, packet: bytes, headerLength: 0, toBroadcast: false, reassembled: false,
  }, now);
  /** The one segment sent since the last call, checked against the IPv6 pseudo-header and parsed. */
  const sent = (): TcpRepr => {
    expect(ip6.sent).toHaveLength(1);
    const bytes = ip6.sent.pop()!;
    expect(verifies6(OWN, PEER, bytes)).toBe(true);
    const r = parseTcp(bytes, OWN, PEER, true, newTcpRepr());
    if (typeof r === 'string') throw new Error(r);
    return r;
  };
  /** Every segment sent since the last call, each checked and parsed. */
  const allSent = (): TcpRepr[] => ip6.sent.splice(0).map((bytes) => {
    expect(verifies6(OWN, PEER, bytes)).toBe(true);
    const r = parseTcp(bytes, OWN, PEER, true, newTcpRepr());
    if (typeof r === 'string') throw new Error(r);
    return { ...r, payload: r.payload.slice() };
  });
  return { ip6, layer, listener, accepted, inject, sent, allSent };
}

describe('TCP over an IPv6 4-tuple', () => {
  it('handshake and data: SYN-ACK with MSS 1440 (1500 − 40 − 20), checksums over the IPv6 pseudo-header', () => {
    const { layer, accepted, inject, sent, allSent } = setup();
    inject(segment({ srcPort: 40000, dstPort: 80, seq: 1000, flags: SYN, options: { mss: 1440 } }));
    const sa = sent();
    expect(sa.flags).toBe(SYN | ACK);
    expect(sa.ack).toBe(1001);
    expect(sa.options.mss).toBe(1440);
    expect(sa.seq).toBe(generateIsn(KEY, 0, OWN, 80, PEER, 40000));
    inject(segment({ srcPort: 40000, dstPort: 80, seq: 1001, ack: sa.seq + 1, flags: ACK, payload: 'GET /' }));
    expect(accepted).toHaveLength(1);
    const c = accepted[0]!;
    expect([c.state, c.localAddress, c.remoteAddress, c.remotePort]).toEqual(['ESTABLISHED', OWN, PEER, 40000]);
    expect(c.stats.sndMss).toBe(1440);
    const into = new Uint8Array(16);
    expect(Buffer.from(into.subarray(0, c.read(into, 0))).toString()).toBe('GET /');
    // Our reply leaves with an IPv6 checksum too, and a second 4-tuple (another port) is a second connection.
    c.write(Buffer.from('200'), 0);
    layer.poll(1000);
    expect(allSent().map((r) => Buffer.from(r.payload).toString())).toContain('200');
    inject(segment({ srcPort: 40001, dstPort: 80, seq: 5000, flags: SYN }));
    expect(sent().ack).toBe(5001);
    expect(layer.connectionCount).toBe(2);
  });

  it('an IP layer with IPv4 offload: IPv6 segments go through sendWith, checksummed, one MSS at most (no super-segment)', () => {
    const ip6 = new Ip6WithV4Offload();
    const { layer, accepted, inject, sent, allSent } = setup(undefined, ip6);
    inject(segment({ srcPort: 40000, dstPort: 80, seq: 1000, flags: SYN, options: { mss: 1440 } }));
    const sa = sent();
    inject(segment({ srcPort: 40000, dstPort: 80, seq: 1001, ack: sa.seq + 1, flags: ACK }));
    const c = accepted[0]!;
    // Wider than the initial window allows in one MSS: with offload this would be one super-segment.
    c.setNoDelay(true);
    c.write(new Uint8Array(5000).fill(0x61), 0);
    layer.poll(10);
    const lens = allSent().map((r) => r.payload.length).filter((n) => n > 0);
    expect(lens.reduce((a, b) => a + b, 0)).toBe(5000);
    expect(Math.max(...lens)).toBeLessThanOrEqual(1440);
    expect(layer.stats()).toMatchObject({ OutCsumOffloaded: 0, OutGsoSegs: 0, SendErrors: 0 });
  });

  it('SYN cookies when the SYN queue is full: the cookie is keyed over the IPv6 tuple and completes the connection', () => {
    const { layer, accepted, inject, sent } = setup(1);
    inject(segment({ srcPort: 1001, dstPort: 80, seq: 10, flags: SYN }));
    sent();
    inject(segment({ srcPort: 1002, dstPort: 80, seq: 777, flags: SYN, options: { mss: 1440 } }));
    const cookie = sent();
    expect(layer.stats().SyncookiesSent).toBe(1);
    expect(checkSynCookie(KEY, 0, cookie.seq, OWN, 80, PEER, 1002, 777)).toBeGreaterThanOrEqual(0);
    inject(segment({ srcPort: 1002, dstPort: 80, seq: 778, ack: cookie.seq + 1, flags: ACK, payload: 'x' }));
    expect(layer.stats().SyncookiesRecv).toBe(1);
    expect(accepted.map((c) => c.remotePort)).toEqual([1002]);
  });
});

describe('the connection table keys IPv6 4-tuples by a 32-bit hash', () => {
  it('two connections whose tuples share a bucket stay apart: data, then a reset of either', () => {
    // Search peers fd07::1:x and their ports for two tuples with the same hash (a birthday
    // search: about 80,000 tuples on average).
    const seen = new Map<number | string, [Ipv6Address, number]>();
    let pair: [[Ipv6Address, number], [Ipv6Address, number]] | undefined;
    for (let x = 1; pair === undefined && x < 64; x++) {
      const peer = parseIpv6Address(`fd07::1:${x.toString(16)}`)!;
      for (let port = 1024; port < 65536; port++) {
        const k = bucketKey(OWN, 80, peer, port);
        const other = seen.get(k);
        if (other !== undefined) { pair = [other, [peer, port]]; break; }
        seen.set(k, [peer, port]);
      }
    }
    expect(pair).toBeDefined();
    const [[pa, qa], [pb, qb]] = pair!;
    expect(typeof bucketKey(OWN, 80, pa, qa)).toBe('number');
    expect(bucketKey(OWN, 80, pa, qa)).toBe(bucketKey(OWN, 80, pb, qb));

    const { ip6, layer, accepted } = setup();
    const seg = (src: Ipv6Address, srcPort: number, seq: number, ack: number, flags: number, payload = ''): void => {
      const r: TcpRepr = { srcPort, dstPort: 80, seq: seq >>> 0, ack: ack >>> 0, flags, window: 65535, urgent: 0, options: {}, payload: Buffer.from(payload) };
      const buf = new Uint8Array(tcpHeaderLen(r) + r.payload.length);
      emitTcp(r, buf, 0, src, OWN);
      layer.receive({ src, dst: OWN, protocol: PROTO_TCP, ttl: 64, tos: 0, payload: buf, packet: buf, headerLength: 0, toBroadcast: false, reassembled: false }, 0);
    };
    const isn = (peer: Ipv6Address, port: number): number => generateIsn(KEY, 0, OWN, 80, peer, port);
    for (const [peer, port] of [[pa, qa], [pb, qb]] as const) {
      seg(peer, port, 100, 0, SYN);
      seg(peer, port, 101, isn(peer, port) + 1, ACK);
    }
    ip6.sent.length = 0;
    expect(layer.connectionCount).toBe(2);
    expect(accepted.map((c) => [c.remoteAddress, c.remotePort])).toEqual([[pa, qa], [pb, qb]]);
    const [ca, cb] = accepted as [TcpConnection, TcpConnection];
    const read = (c: TcpConnection): string => { const into = new Uint8Array(64); return Buffer.from(into.subarray(0, c.read(into, 0))).toString(); };
    seg(pb, qb, 101, isn(pb, qb) + 1, ACK, 'to b');
    seg(pa, qa, 101, isn(pa, qa) + 1, ACK, 'to a');
    expect([read(ca), read(cb)]).toEqual(['to a', 'to b']);
    // A reset of the one added first (behind the other in the bucket), then data for the other.
    seg(pa, qa, 105, 0, RST);
    expect(ca.state).toBe('CLOSED');
    expect(layer.connectionCount).toBe(1);
    seg(pb, qb, 105, isn(pb, qb) + 1, ACK, 'more');
    expect(read(cb)).toBe('more');
    seg(pb, qb, 109, 0, RST);
    expect(layer.connectionCount).toBe(0);
  });
});

describe('RFC 6528 ISNs, RFC 7323 timestamp offsets and RFC 4987 cookies over the address bytes', () => {
  it('an IPv4 tuple hashes the same 24 bytes as always', () => {
    const a = 0x0a000001, b = 0x0a000002;
    const msg = Buffer.alloc(24);
    msg.writeUInt32BE(a, 0); msg.writeUInt32BE(443, 4); msg.writeUInt32BE(b, 8); msg.writeUInt32BE(50000, 12); msg.writeUInt32BE(0x7323, 16);
    // SipHash-2-4 (Linux's hash for these values) of those 24 bytes under the 16-byte key, the low 32 bits.
    const out = new Uint32Array(2);
    sipHash24(KEY, msg, 24, out);
    expect(timestampOffset(KEY, a, 443, b, 50000)).toBe(out[0]);
  });

  it('every byte of an IPv6 address changes the ISN, the timestamp offset and the cookie', () => {
    const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => ipv6FromBytes(b)!);
    fc.assert(fc.property(v6, v6, fc.integer({ min: 0, max: 15 }), fc.integer({ min: 1, max: 255 }), (l, r, i, x) => {
      const bytes = Buffer.from(r, 'latin1');
      bytes[i]! ^= x;
      const r2 = ipv6FromBytes(bytes)!;
      // 32-bit hashes: a collision is possible but a 2^-32 event per run.
      expect(generateIsn(KEY, 0, l, 80, r2, 9)).not.toBe(generateIsn(KEY, 0, l, 80, r, 9));
      expect(timestampOffset(KEY, r2, 80, l, 9)).not.toBe(timestampOffset(KEY, r, 80, l, 9));
      const cookie = makeSynCookie(KEY, 0, l, 80, r, 9, 1234, 5);
      expect(checkSynCookie(KEY, 0, cookie, l, 80, r, 9, 1234)).toBe(5);
      expect(checkSynCookie(KEY, 0, cookie, l, 80, r2, 9, 1234)).toBe(-1);
    }), { numRuns: 300 });
  });
});
