import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PROTO_ICMP, PROTO_TCP, PROTO_UDP, finish, fold, pseudoHeaderSum, sum16, type TransportError } from '@netstack/ip';
import { IcmpLayer, IcmpPacket, TokenBucket, emitIcmp, icmpBufferLen, parseIcmp, type IcmpOptions, type IcmpRepr, type PingResult } from '../src/index.js';
import { FakeIp, datagram, ip, ipv4Packet, toHex, type DatagramSpec } from './helpers.js';

const US = '10.0.0.2';
const PEER = '10.0.0.1';

function setup(options: IcmpOptions = {}) {
  const net = new FakeIp(US);
  const icmp = new IcmpLayer(net, { random: () => 0.5, ...options });
  net.route = (e, now) => { if (e.protocol === PROTO_ICMP) icmp.receiveError(e, now); };
  return { net, icmp };
}

function icmpBytes(repr: IcmpRepr): Uint8Array {
  const b = new Uint8Array(icmpBufferLen(repr));
  emitIcmp(repr, new IcmpPacket(b));
  return b;
}

function icmpIn(repr: IcmpRepr, spec: Partial<DatagramSpec> = {}) {
  return datagram({ src: PEER, dst: US, protocol: PROTO_ICMP, payload: icmpBytes(repr), ...spec });
}

function parsed(payload: Uint8Array): IcmpRepr {
  const r = parseIcmp(IcmpPacket.checked(payload)!);
  if (typeof r === 'string') throw new Error(`sent a bad ICMP message: ${r}`);
  return r;
}

/** A UDP datagram we received, for the error reporter to quote. */
function udpIn(spec: Partial<DatagramSpec> = {}, bytes = 12) {
  const payload = new Uint8Array(bytes).map((_, i) => i);
  return datagram({ src: PEER, dst: US, protocol: PROTO_UDP, payload, ...spec });
}

describe('echo (RFC 1122 §3.2.2.6)', () => {
  it('answers with the same identifier, sequence number and data, for any size', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 3000 }), (ident, seqNo, data) => {
      const { net, icmp } = setup();
      icmp.receive(icmpIn({ kind: 'echoRequest', ident, seqNo, data }), 0);
      const [out, ...rest] = net.take();
      expect(rest).toEqual([]);
      expect(out!.dst).toBe(ip(PEER));
      expect(out!.protocol).toBe(PROTO_ICMP);
      expect(parsed(out!.payload)).toEqual({ kind: 'echoReply', ident, seqNo, data });
    }), { numRuns: 200 });
  });
  it('answers the largest echo request (65507 data bytes); the IP layer fragments', () => {
    const { net, icmp } = setup();
    const data = new Uint8Array(65507).map((_, i) => (i * 7) & 0xff);
    const d = icmpIn({ kind: 'echoRequest', ident: 1, seqNo: 2, data });
    icmp.receive(d, 0);
    const out = net.take();
    expect(out).toHaveLength(1);
    expect(out[0]!.payload.length).toBe(65515);
    const r = parsed(out[0]!.payload);
    expect(r).toMatchObject({ kind: 'echoReply', ident: 1, seqNo: 2 });
    expect(Buffer.from((r as { data: Uint8Array }).data).equals(Buffer.from(data))).toBe(true); // fast compare of 64 KiB
    expect(icmp.stats()).toMatchObject({ InMsgs: 1, InEchos: 1, OutMsgs: 1, OutEchoReps: 1 });
  });
  it('drops and counts a request with a bad checksum', () => {
    const { net, icmp } = setup();
    const d = icmpIn({ kind: 'echoRequest', ident: 1, seqNo: 1, data: new Uint8Array(8) });
    d.payload[5]! ^= 0x40;
    icmp.receive(d, 0);
    expect(net.sent).toEqual([]);
    expect(icmp.stats()).toMatchObject({ InMsgs: 1, InErrors: 1, InCsumErrors: 1, InEchos: 0, OutMsgs: 0 });
  });
  it('drops and counts a message shorter than the ICMP header', () => {
    const { net, icmp } = setup();
    icmp.receive(datagram({ src: PEER, dst: US, protocol: 1, payload: new Uint8Array(7) }), 0);
    expect(net.sent).toEqual([]);
    expect(icmp.stats()).toMatchObject({ InMsgs: 1, InErrors: 1, InCsumErrors: 0 });
  });
  it('ignores requests sent to a broadcast address (icmp_echo_ignore_broadcasts=1)', () => {
    const { net, icmp } = setup();
    icmp.receive(icmpIn({ kind: 'echoRequest', ident: 1, seqNo: 1, data: new Uint8Array(4) }, { dst: '10.0.0.255', toBroadcast: true }), 0);
    expect(net.sent).toEqual([]);
    expect(icmp.stats()).toMatchObject({ InEchos: 1, EchoIgnored: 1, OutMsgs: 0 });
  });
  it('ignores requests from a source that is no single host', () => {
    const { net, icmp } = setup();
    for (const src of ['0.0.0.0', '255.255.255.255', '224.0.0.1']) {
      icmp.receive(icmpIn({ kind: 'echoRequest', ident: 1, seqNo: 1, data: new Uint8Array(4) }, { src }), 0);
    }
    expect(net.sent).toEqual([]);
    expect(icmp.stats().EchoIgnored).toBe(3);
  });
  it('answers 127.0.0.1 (the IP layer admits 127/8 only through its loopback, as Linux\'s lo)', () => {
    const { net, icmp } = setup();
    icmp.receive(icmpIn({ kind: 'echoRequest', ident: 1, seqNo: 1, data: new Uint8Array(4) }, { src: '127.0.0.1' }), 0);
    expect(net.sent.length).toBe(1);
  });
  it('counts a reply it could not send', () => {
    const { net, icmp } = setup();
    net.failWith = 'ENOBUFS';
    icmp.receive(icmpIn({ kind: 'echoRequest', ident: 1, seqNo: 1, data: new Uint8Array(4) }), 0);
    expect(icmp.stats()).toMatchObject({ OutMsgs: 0, OutErrors: 1 });
  });
  it('counts redirects and unsupported types without answering', () => {
    const { net, icmp } = setup();
    const redirect = new Uint8Array(36);
    redirect[0] = 5;
    new IcmpPacket(redirect).fillChecksum();
    const timestamp = new Uint8Array(20);
    timestamp[0] = 13;
    new IcmpPacket(timestamp).fillChecksum();
    icmp.receive(datagram({ src: PEER, dst: US, protocol: 1, payload: redirect }), 0);
    icmp.receive(datagram({ src: PEER, dst: US, protocol: 1, payload: timestamp }), 0);
    expect(net.sent).toEqual([]);
    expect(icmp.stats()).toMatchObject({ InMsgs: 2, InRedirects: 1, InOther: 1, InErrors: 0 });
  });
});

describe('destination unreachable (ErrorReporter, RFC 792 / RFC 1122 §3.2.2)', () => {
  /** A UDP (or TCP) datagram from the local kernel over an offload link: checksum field = pseudo-header sum (NEEDS_CSUM). */
  function partialIn(protocol: number, bytes: number) {
    const hdr = protocol === PROTO_UDP ? 8 : 20;
    const payload = new Uint8Array(hdr + bytes).map((_, i) => (i * 31 + 5) & 0xff);
    const field = protocol === PROTO_UDP ? 6 : 16;
    if (protocol === PROTO_UDP) { payload[4] = payload.length >>> 8; payload[5] = payload.length & 0xff; } else payload[12] = 5 << 4;
    const partial = fold(pseudoHeaderSum(ip(PEER), ip(US), protocol, payload.length));
    payload[field] = partial >>> 8;
    payload[field + 1] = partial & 0xff;
    return { d: { ...datagram({ src: PEER, dst: US, protocol, payload }), checksumVerified: true }, field, partial };
  }
  const validSum = (t: Uint8Array, protocol: number): boolean => sum16(t, 0, t.length, pseudoHeaderSum(ip(PEER), ip(US), protocol, t.length)) === 0xffff;

  it.each([[PROTO_UDP, 12], [PROTO_UDP, 1000], [PROTO_TCP, 40]])('quotes a kernel datagram (proto %i, %i bytes) with its partial checksum completed, as a wire would have carried it', (protocol, bytes) => {
    const { net, icmp } = setup();
    const { d, field, partial } = partialIn(protocol, bytes);
    const before = d.packet.slice();
    icmp.destinationUnreachable(3, d, 0);
    const r = parsed(net.take()[0]!.payload);
    if (r.kind !== 'destinationUnreachable') throw new Error(r.kind);
    const q = r.quoted;
    expect(d.packet).toEqual(before); // the received bytes are not touched
    const value = (q[20 + field]! << 8) | q[21 + field]!;
    expect(value).not.toBe(partial);
    // Every other quoted byte is the datagram's own.
    expect([...q.subarray(0, 20 + field), ...q.subarray(22 + field)]).toEqual([...d.packet.subarray(0, 20 + field), ...d.packet.subarray(22 + field, q.length)]);
    // The completed value makes the whole original segment verify.
    const whole = d.payload.slice();
    whole[field] = value >>> 8;
    whole[field + 1] = value & 0xff;
    expect(validSum(whole, protocol)).toBe(true);
  });

  it('quotes as they are: a datagram the link did not vouch for, and a UDP datagram without checksum', () => {
    const { net, icmp } = setup();
    const { d } = partialIn(PROTO_UDP, 20);
    icmp.destinationUnreachable(3, { ...d, checksumVerified: false }, 0);
    expect(parsed(net.take()[0]!.payload)).toMatchObject({ quoted: d.packet });
    const none = partialIn(PROTO_UDP, 20).d;
    none.packet[26] = 0; none.packet[27] = 0;
    icmp.destinationUnreachable(3, none, 0);
    expect(parsed(net.take()[0]!.payload)).toMatchObject({ quoted: none.packet });
  });

  it('a DATA_VALID datagram (complete checksum) is quoted unchanged', () => {
    const { net, icmp } = setup();
    const { d, field } = partialIn(PROTO_UDP, 30);
    d.payload[field] = 0; d.payload[field + 1] = 0;
    const c = finish(sum16(d.payload, 0, d.payload.length, pseudoHeaderSum(ip(PEER), ip(US), PROTO_UDP, d.payload.length))) || 0xffff;
    d.payload[field] = c >>> 8; d.payload[field + 1] = c & 0xff;
    expect(validSum(d.payload, PROTO_UDP)).toBe(true);
    icmp.destinationUnreachable(3, d, 0);
    expect(parsed(net.take()[0]!.payload)).toMatchObject({ quoted: d.packet });
  });

  it('quotes the whole datagram when it fits in 576 bytes, to its source', () => {
    const { net, icmp } = setup();
    const d = udpIn();
    icmp.destinationUnreachable(3, d, 0);
    const [out] = net.take();
    expect(out!.dst).toBe(ip(PEER));
    expect(parsed(out!.payload)).toEqual({ kind: 'destinationUnreachable', code: 3, nextHopMtu: 0, quoted: d.packet });
    expect(icmp.stats()).toMatchObject({ OutMsgs: 1, OutDestUnreachs: 1 });
  });
  it('quotes at most 548 bytes so the error datagram stays within 576', () => {
    const { net, icmp } = setup();
    const d = udpIn({}, 1000);
    icmp.destinationUnreachable(2, d, 0);
    const [out] = net.take();
    expect(out!.payload.length).toBe(576 - 20);
    expect(parsed(out!.payload)).toMatchObject({ code: 2, quoted: d.packet.subarray(0, 548) });
  });
  it('quotes the RFC 792 minimum (header + 8 bytes) with the smallest allowed limit', () => {
    const { net, icmp } = setup({ errorDatagramLimit: 56 });
    const d = udpIn({}, 100);
    icmp.destinationUnreachable(3, d, 0);
    expect(parsed(net.take()[0]!.payload)).toMatchObject({ quoted: d.packet.subarray(0, 28) });
  });
  it('is never sent about an ICMP error message', () => {
    const { net, icmp } = setup();
    const err = icmpIn({ kind: 'destinationUnreachable', code: 1, nextHopMtu: 0, quoted: new Uint8Array(28) });
    const timeExceeded = icmpIn({ kind: 'timeExceeded', code: 0, quoted: new Uint8Array(28) });
    icmp.destinationUnreachable(2, err, 0);
    icmp.destinationUnreachable(2, timeExceeded, 0);
    expect(net.sent).toEqual([]);
    expect(icmp.stats()).toMatchObject({ Suppressed: 2, SuppressedIcmpError: 2, OutDestUnreachs: 0 });
  });
  it('is sent about an ICMP query message (an echo request)', () => {
    const { net, icmp } = setup();
    icmp.destinationUnreachable(2, icmpIn({ kind: 'echoRequest', ident: 1, seqNo: 1, data: new Uint8Array(0) }), 0);
    expect(net.take()).toHaveLength(1);
  });
  it('is never sent about a datagram to a broadcast or multicast address', () => {
    const { net, icmp } = setup();
    icmp.destinationUnreachable(3, udpIn({ dst: '10.0.0.255', toBroadcast: true }), 0);
    icmp.destinationUnreachable(3, udpIn({ dst: '255.255.255.255' }), 0);
    icmp.destinationUnreachable(3, udpIn({ dst: '239.1.2.3' }), 0);
    expect(net.sent).toEqual([]);
    expect(icmp.stats()).toMatchObject({ Suppressed: 3, SuppressedBroadcast: 3 });
  });
  it('is never sent about a fragment other than the first', () => {
    const { net, icmp } = setup();
    icmp.destinationUnreachable(3, udpIn({ fragmentOffset: 185 }), 0);
    expect(net.sent).toEqual([]);
    expect(icmp.stats()).toMatchObject({ SuppressedFragment: 1 });
    icmp.destinationUnreachable(3, udpIn({ fragmentOffset: 0, moreFragments: true }), 0);
    expect(net.take()).toHaveLength(1);
  });
  it('is never sent about a datagram whose source is no single host', () => {
    const { net, icmp } = setup({ subnet: { address: ip('10.0.0.0'), prefixLength: 24 } });
    for (const src of ['0.0.0.0', '255.255.255.255', '224.0.0.5', '240.0.0.1', '10.0.0.255']) {
      icmp.destinationUnreachable(3, udpIn({ src }), 0);
    }
    expect(net.sent).toEqual([]);
    expect(icmp.stats()).toMatchObject({ Suppressed: 5, SuppressedSource: 5 });
  });
  it('carries the link MTU in a fragmentation-needed error (RFC 1191 §4)', () => {
    const { net, icmp } = setup();
    icmp.destinationUnreachable(4, udpIn(), 0);
    expect(parsed(net.take()[0]!.payload)).toMatchObject({ code: 4, nextHopMtu: 1500 });
  });
});

describe('time exceeded (ErrorReporter.timeExceeded, RFC 1122 §3.3.2)', () => {
  it('quotes the first fragment of a timed-out reassembly with type 11 code 1', () => {
    const { net, icmp } = setup();
    const first = udpIn({ moreFragments: true }, 64);
    icmp.timeExceeded(1, first, 0);
    const [out] = net.take();
    expect(parsed(out!.payload)).toEqual({ kind: 'timeExceeded', code: 1, quoted: first.packet });
    expect(icmp.stats()).toMatchObject({ OutMsgs: 1, OutTimeExcds: 1, OutDestUnreachs: 0 });
  });
  it('follows the same rules and shares the bucket with destination unreachable', () => {
    const { net, icmp } = setup({ errorBurst: 1 });
    icmp.timeExceeded(1, udpIn({ toBroadcast: true }), 0);
    icmp.timeExceeded(1, udpIn(), 0);
    icmp.destinationUnreachable(3, udpIn(), 0);
    expect(net.take()).toHaveLength(1);
    expect(icmp.stats()).toMatchObject({ SuppressedBroadcast: 1, RateLimited: 1 });
  });
  it('treats a reassembled datagram as including its first fragment', () => {
    const { net, icmp } = setup();
    const d = udpIn({ fragmentOffset: 0 });
    d.packet[6] = 0x00; d.packet[7] = 0x10; // a stale offset in a rebuilt header must not matter
    icmp.destinationUnreachable(3, { ...d, reassembled: true }, 0);
    expect(net.take()).toHaveLength(1);
  });
});

describe('error rate limit (token bucket: 1 token/ms, burst 50)', () => {
  it('sends exactly the burst within 0 ms, then refills with virtual time', () => {
    const { net, icmp } = setup();
    for (let i = 0; i < 60; i++) icmp.destinationUnreachable(3, udpIn(), 1000);
    expect(net.take()).toHaveLength(50);
    expect(icmp.stats().RateLimited).toBe(10);
    icmp.destinationUnreachable(3, udpIn(), 1000.5);
    expect(net.take()).toHaveLength(0);
    icmp.destinationUnreachable(3, udpIn(), 1001);
    expect(net.take()).toHaveLength(1);
    for (let i = 0; i < 20; i++) icmp.destinationUnreachable(3, udpIn(), 1011);
    expect(net.take()).toHaveLength(10);
    for (let i = 0; i < 100; i++) icmp.destinationUnreachable(3, udpIn(), 60_000);
    expect(net.take()).toHaveLength(50);
  });
  it('does not count suppressed errors against the bucket', () => {
    const { net, icmp } = setup({ errorBurst: 1 });
    icmp.destinationUnreachable(3, udpIn({ toBroadcast: true }), 0);
    icmp.destinationUnreachable(3, udpIn(), 0);
    expect(net.take()).toHaveLength(1);
  });
  it('refills nothing when time goes backwards', () => {
    const b = new TokenBucket(1000, 2);
    expect([b.take(10), b.take(10), b.take(10)]).toEqual([true, true, false]);
    expect(b.take(5)).toBe(false);
    expect(b.take(11)).toBe(true);
  });
});

describe('received ICMP errors (RFC 1122 §3.2.2.1)', () => {
  // Our UDP datagram 10.0.0.2:12345 → 10.0.0.1:53, as the peer quotes it.
  const ours = ipv4Packet({ src: US, dst: PEER, protocol: PROTO_UDP, payload: Uint8Array.from([0x30, 0x39, 0x00, 0x35, 0, 12, 0, 0, 1, 2, 3, 4]) });
  it('passes a port unreachable to the IP layer with the quoted transport bytes', () => {
    const { net, icmp } = setup();
    icmp.receive(icmpIn({ kind: 'destinationUnreachable', code: 3, nextHopMtu: 0, quoted: ours }), 7);
    expect(net.delivered).toEqual<TransportError[]>([
      { icmpType: 3, icmpCode: 3, reporter: ip(PEER), src: ip(US), dst: ip(PEER), protocol: PROTO_UDP, quoted: ours.subarray(20), nextHopMtu: 0, originalLength: 32 },
    ]);
    expect(icmp.stats()).toMatchObject({ InMsgs: 1, InDestUnreachs: 1, InErrors: 0 });
  });
  it('passes the next-hop MTU of fragmentation needed, and 0 for other codes that carry bytes there', () => {
    const { net, icmp } = setup();
    icmp.receive(icmpIn({ kind: 'destinationUnreachable', code: 4, nextHopMtu: 1280, quoted: ours }), 0);
    icmp.receive(icmpIn({ kind: 'destinationUnreachable', code: 1, nextHopMtu: 1280, quoted: ours }), 0);
    expect(net.delivered.map((e) => e.nextHopMtu)).toEqual([1280, 0]);
  });
  it('passes time exceeded, parameter problem and source quench', () => {
    const { net, icmp } = setup();
    icmp.receive(icmpIn({ kind: 'timeExceeded', code: 0, quoted: ours }), 0);
    icmp.receive(icmpIn({ kind: 'parameterProblem', code: 0, pointer: 9, quoted: ours }), 0);
    icmp.receive(icmpIn({ kind: 'sourceQuench', code: 0, quoted: ours }), 0);
    expect(net.delivered.map((e) => e.icmpType)).toEqual([11, 12, 4]);
    expect(icmp.stats()).toMatchObject({ InTimeExcds: 1, InParmProbs: 1, InSrcQuenchs: 1 });
  });
  it('drops and counts errors that quote a datagram we did not send', () => {
    const { net, icmp } = setup();
    const theirs = ipv4Packet({ src: '10.0.0.9', dst: PEER, protocol: PROTO_UDP, payload: new Uint8Array(8) });
    icmp.receive(icmpIn({ kind: 'destinationUnreachable', code: 3, nextHopMtu: 0, quoted: theirs }), 0);
    expect(net.delivered).toEqual([]);
    expect(icmp.stats().InErrors).toBe(1);
  });
  it('drops and counts errors quoting fewer than 8 transport bytes, or sent to broadcast', () => {
    const { net, icmp } = setup();
    icmp.receive(icmpIn({ kind: 'destinationUnreachable', code: 3, nextHopMtu: 0, quoted: ours.subarray(0, 27) }), 0);
    icmp.receive(icmpIn({ kind: 'destinationUnreachable', code: 3, nextHopMtu: 0, quoted: ours }, { dst: '10.0.0.255', toBroadcast: true }), 0);
    expect(net.delivered).toEqual([]);
    expect(icmp.stats().InErrors).toBe(2);
  });
});

/** The echo request the ping client sent, parsed. */
function lastRequest(net: FakeIp) {
  const [out] = net.take();
  const r = parsed(out!.payload);
  if (r.kind !== 'echoRequest') throw new Error(`expected an echo request, got ${r.kind}`);
  return { ...r, dst: out!.dst };
}

function replyTo(req: { ident: number; seqNo: number; data: Uint8Array }, from = PEER, ttl = 61) {
  return icmpIn({ kind: 'echoReply', ident: req.ident, seqNo: req.seqNo, data: req.data }, { src: from, ttl });
}

type Outcome = { err: { code: string } | null; result: PingResult | undefined };

describe('ping client', () => {
  it('sends an echo request with ping’s pattern and reports the matching reply', () => {
    const { net, icmp } = setup();
    const got: Outcome[] = [];
    const h = icmp.ping(ip(PEER), {}, 100, (err, result) => got.push({ err, result }));
    const req = lastRequest(net);
    expect([h.id, h.seq]).toEqual([req.ident, req.seqNo]);
    expect(req.data.length).toBe(56);
    expect(Array.from(req.data.subarray(8, 12))).toEqual([8, 9, 10, 11]);
    icmp.receive(replyTo(req), 112.5);
    expect(got).toEqual([{ err: null, result: { rttMs: 12.5, bytes: 64, ttl: 61, id: req.ident, seq: req.seqNo, address: ip(PEER) } }]);
    expect(icmp.outstandingPings).toBe(0);
    expect(icmp.pollAt()).toBe(Infinity);
    expect(icmp.stats()).toMatchObject({ OutEchos: 1, InEchoReps: 1 });
  });
  it('is pending at timeout - 1 and fails with ETIMEDOUT at timeout', () => {
    const { icmp } = setup();
    const got: Outcome[] = [];
    icmp.ping(ip(PEER), { timeout: 500 }, 1000, (err, result) => got.push({ err, result }));
    expect(icmp.pollAt()).toBe(1500);
    icmp.poll(1499);
    expect(got).toEqual([]);
    expect(icmp.outstandingPings).toBe(1);
    icmp.poll(1500);
    expect(got).toHaveLength(1);
    expect(got[0]!.err).toMatchObject({ code: 'ETIMEDOUT', syscall: 'ping', address: PEER });
    expect(icmp.pollAt()).toBe(Infinity);
  });
  it('keeps concurrent pings apart by (id, seq), with replies in any order', () => {
    const { net, icmp } = setup();
    const got: string[] = [];
    icmp.ping(ip(PEER), { size: 8 }, 0, (err, r) => got.push(`a ${err?.code ?? r!.rttMs}`));
    const a = lastRequest(net);
    icmp.ping(ip(PEER), { size: 8 }, 5, (err, r) => got.push(`b ${err?.code ?? r!.rttMs}`));
    const b = lastRequest(net);
    icmp.ping(ip('10.0.0.3'), { id: 7, size: 0 }, 6, (err, r) => got.push(`c ${err?.code ?? r!.rttMs}`));
    const c = lastRequest(net);
    expect(new Set([`${a.ident}/${a.seqNo}`, `${b.ident}/${b.seqNo}`, `${c.ident}/${c.seqNo}`]).size).toBe(3);
    icmp.receive(replyTo(b), 20);
    icmp.receive(replyTo(c, '10.0.0.3'), 21);
    icmp.receive(replyTo(a), 30);
    expect(got).toEqual(['b 15', 'c 15', 'a 30']);
  });
  it('counts and ignores replies that match nothing, come from elsewhere or carry other data', () => {
    const { net, icmp } = setup();
    const got: Outcome[] = [];
    icmp.ping(ip(PEER), { size: 16 }, 0, (err, result) => got.push({ err, result }));
    const req = lastRequest(net);
    icmp.receive(replyTo({ ...req, seqNo: req.seqNo + 1 }), 1);
    icmp.receive(replyTo(req, '10.0.0.77'), 1);
    const data = req.data.slice();
    data[12]! ^= 1;
    icmp.receive(replyTo({ ...req, data }), 1);
    icmp.receive(replyTo({ ...req, data: req.data.subarray(0, 15) }), 1);
    expect(got).toEqual([]);
    expect(icmp.stats()).toMatchObject({ EchoReplyUnmatched: 2, EchoReplyCorrupt: 2 });
    icmp.receive(replyTo(req), 2);
    expect(got).toHaveLength(1);
  });
  it('bounds outstanding pings: the next one fails with ENOBUFS from poll, never during the call', () => {
    const { net, icmp } = setup({ maxOutstandingPings: 2 });
    const got: string[] = [];
    const cb = (err: { code: string } | null) => { got.push(err ? err.code : 'ok'); };
    icmp.ping(ip(PEER), { timeout: 500 }, 0, cb);
    icmp.ping(ip(PEER), { timeout: 500 }, 0, cb);
    const third = icmp.ping(ip(PEER), {}, 0, cb);
    expect(got).toEqual([]);
    expect(net.take()).toHaveLength(2);
    expect(icmp.pollAt()).toBe(0);
    icmp.poll(0);
    expect(got).toEqual(['ENOBUFS']);
    expect(third.cancel()).toBe(false);
    expect(icmp.pollAt()).toBe(500);
    icmp.poll(500);
    expect(got).toEqual(['ENOBUFS', 'ETIMEDOUT', 'ETIMEDOUT']);
    icmp.ping(ip(PEER), {}, 1000, cb);
    expect(net.take()).toHaveLength(1);
  });
  it('bounds the failures waiting for poll too: throws ENOBUFS when nobody polls', () => {
    const { icmp } = setup({ maxOutstandingPings: 1 });
    icmp.ping(ip(PEER), {}, 0, () => {});
    icmp.ping(ip(PEER), {}, 0, () => {}); // queued ENOBUFS
    expect(() => icmp.ping(ip(PEER), {}, 0, () => {})).toThrow(expect.objectContaining({ code: 'ENOBUFS' }));
  });
  it('delivers the IP layer’s send error from the next poll', () => {
    const { net, icmp } = setup();
    net.failWith = 'ENETUNREACH';
    const got: Outcome[] = [];
    icmp.ping(ip('192.0.2.1'), {}, 7, (err, result) => got.push({ err, result }));
    expect(got).toEqual([]);
    expect(icmp.outstandingPings).toBe(0);
    expect(icmp.pollAt()).toBe(7);
    icmp.poll(7);
    expect(got).toEqual([{ err: expect.objectContaining({ code: 'ENETUNREACH', address: '192.0.2.1' }), result: undefined }]);
    expect(icmp.stats()).toMatchObject({ OutEchos: 0, OutErrors: 1 });
    expect(icmp.pollAt()).toBe(Infinity);
  });
  it('cancels: no callback, no deadline, a later reply is unmatched', () => {
    const { net, icmp } = setup();
    let calls = 0;
    const h = icmp.ping(ip(PEER), { timeout: 10 }, 0, () => { calls++; });
    const req = lastRequest(net);
    expect(h.cancel()).toBe(true);
    expect(h.cancel()).toBe(false);
    expect(icmp.cancelPing(h)).toBe(false);
    expect(icmp.pollAt()).toBe(Infinity);
    icmp.poll(100);
    icmp.receive(replyTo(req), 5);
    expect(calls).toBe(0);
    expect(icmp.stats().EchoReplyUnmatched).toBe(1);
  });
  it('cancels a queued send failure', () => {
    const { net, icmp } = setup();
    net.failWith = 'ENOBUFS';
    let calls = 0;
    const h = icmp.ping(ip(PEER), {}, 0, () => { calls++; });
    expect(h.cancel()).toBe(true);
    expect(icmp.pollAt()).toBe(Infinity);
    icmp.poll(0);
    expect(calls).toBe(0);
  });
  it('pollAt follows the earliest outstanding deadline as pings complete', () => {
    const { net, icmp } = setup();
    icmp.ping(ip(PEER), { timeout: 100 }, 0, () => {});
    const first = lastRequest(net);
    icmp.ping(ip(PEER), { timeout: 100 }, 50, () => {});
    expect(icmp.pollAt()).toBe(100);
    icmp.receive(replyTo(first), 60);
    expect(icmp.pollAt()).toBe(150);
  });
  it('fails a ping with EHOSTUNREACH when a host unreachable quotes its request', () => {
    const { net, icmp } = setup();
    const got: Outcome[] = [];
    icmp.ping(ip('10.0.0.50'), {}, 0, (err, result) => got.push({ err, result }));
    const [sent] = net.take();
    const quoted = ipv4Packet({ src: US, dst: '10.0.0.50', protocol: PROTO_ICMP, payload: sent!.payload });
    icmp.receive(icmpIn({ kind: 'destinationUnreachable', code: 1, nextHopMtu: 0, quoted }, { src: '10.0.0.1' }), 3000);
    expect(got).toHaveLength(1);
    expect(got[0]!.err).toMatchObject({ code: 'EHOSTUNREACH', address: '10.0.0.50' });
    expect(icmp.outstandingPings).toBe(0);
  });
  it('throws Node-style argument errors at once', () => {
    const { icmp } = setup();
    const cb = () => {};
    expect(() => icmp.ping(ip(PEER), { size: 65508 }, 0, cb)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => icmp.ping(ip(PEER), { size: 1.5 }, 0, cb)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => icmp.ping(ip(PEER), { timeout: 0 }, 0, cb)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => icmp.ping('10.0.0.1' as unknown as number, {}, 0, cb)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => icmp.ping(ip(PEER), {}, 0, 'no' as unknown as () => void)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    icmp.ping(ip(PEER), { size: 65507 }, 0, cb);
    expect(icmp.outstandingPings).toBe(1);
  });
  it('answers its own echo request when looped back (ping to self)', () => {
    const { net, icmp } = setup();
    const got: Outcome[] = [];
    icmp.ping(ip(US), { size: 100 }, 0, (err, result) => got.push({ err, result }));
    const [req] = net.take();
    icmp.receive(datagram({ src: US, dst: US, protocol: 1, payload: req!.payload }), 0.1);
    const [rep] = net.take();
    icmp.receive(datagram({ src: US, dst: US, protocol: 1, payload: rep!.payload }), 0.2);
    expect(got).toHaveLength(1);
    expect(got[0]!.result?.bytes).toBe(108);
    expect(toHex(rep!.payload.subarray(8))).toBe(toHex(req!.payload.subarray(8)));
  });
});
