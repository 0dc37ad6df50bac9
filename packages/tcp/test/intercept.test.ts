/**
 * The interception hook (intercept.ts) on virtual time: a SYN for a foreign destination
 * (InboundDatagram.foreign) is held, unanswered, until the hook decides; accept sends the
 * SYN-ACK from the original destination, refuse answers with RST or an ICMP error (through
 * the IP layer's reporter) or nothing; retransmitted SYNs are absorbed, a client RST ends
 * the request, the pending table is bounded and expires. Runs over both families (tcp, tcp6).
 */
import { describe, expect, it } from 'vitest';
import type { IpAddress } from '@netstack/ip';
import { ACK, INTERCEPT_MAX_COPY, INTERCEPT_REQUEST_OVERHEAD, RST, SYN, interceptCost, type InterceptRequest, type TcpConnection, type TcpLayerOptions } from '../src/index.js';
import { Ctx, FAMILY, LOCAL, REMOTE, REMOTE_ISS, datagram, decode, encode, hostAddress, type Seg } from './harness.js';

/** The original destination the client connects to: not the layer's address. */
const ORIG = hostAddress(55);
const ORIG_PORT = 80;
const CLIENT_PORT = 40_000;

class Gw extends Ctx {
  requests: InterceptRequest[] = [];
  cancelled: string[] = [];
  constructor(options: TcpLayerOptions = {}) {
    super({ timestamps: true, windowScaling: true, ...options });
    this.layer.setIntercept((r) => {
      r.oncancel = (_r, why) => this.cancelled.push(why);
      this.requests.push(r);
    });
  }
  /** A segment from the client to the original destination, foreign as the IP layer flags it. */
  toOrig(s: Omit<Seg, 'srcPort' | 'dstPort'>, dst: IpAddress = ORIG, srcPort = CLIENT_PORT, foreign = true): void {
    const bytes = encode({ ...s, srcPort, dstPort: ORIG_PORT }, REMOTE, dst);
    this.layer.receive({ ...datagram(bytes, REMOTE, dst), foreign }, this.now);
  }
  syn(srcPort = CLIENT_PORT): void {
    this.toOrig({ seq: REMOTE_ISS, flags: SYN, options: { mss: 1400, windowScale: 7, sackPermitted: true, timestamp: { tsVal: 1234, tsEcr: 0 } } }, ORIG, srcPort);
  }
  /** What left, decoded against the source it left from. */
  out(): { src: IpAddress; flags: number; seq: number; ack: number; mss: number | undefined; ws: number | undefined; sack: boolean | undefined; tsEcr: number | undefined }[] {
    const s = this.ip.take();
    return s.map((x) => {
      const r = decode(x.payload, x.src, x.dst);
      return { src: x.src, flags: r.flags, seq: r.seq, ack: r.ack, mss: r.options.mss, ws: r.options.windowScale, sack: r.options.sackPermitted, tsEcr: r.options.timestamp?.tsEcr };
    });
  }
}

describe(`TCP interception (IPv${FAMILY})`, () => {
  it('holds the SYN unanswered until accept, then the SYN-ACK leaves from the original destination with the SYN\'s options', () => {
    const t = new Gw();
    t.syn();
    expect(t.requests).toHaveLength(1);
    const r = t.requests[0]!;
    expect([r.localAddress, r.localPort, r.remoteAddress, r.remotePort, r.family, r.pending]).toEqual([ORIG, ORIG_PORT, REMOTE, CLIENT_PORT, FAMILY === 6 ? 'IPv6' : 'IPv4', true]);
    expect(t.out(), 'no SYN-ACK before the decision').toEqual([]);
    t.advance(500); // the upstream takes its time
    expect(t.out()).toEqual([]);
    const log: string[] = [];
    const c = r.accept({ onEstablished: () => log.push('established'), onClosed: (_c, e) => log.push(`closed:${e?.code}`) }, t.now)!;
    expect(c.localAddress).toBe(ORIG);
    expect(c.localPort).toBe(ORIG_PORT);
    expect(c.state).toBe('SYN-RECEIVED');
    const [sa, ...rest] = t.out();
    expect(rest).toEqual([]);
    expect(sa!.src).toBe(ORIG);
    expect(sa!.flags).toBe(SYN | ACK);
    expect(sa!.ack).toBe(REMOTE_ISS + 1);
    // Negotiated from the stored SYN as a listener does: WS, SACK-permitted, TS echoed.
    expect(sa!.ws).toBeDefined();
    expect(sa!.sack).toBe(true);
    expect(sa!.tsEcr).toBe(1234);
    expect(r.outcome).toBe('accepted');
    expect(r.accept({}, t.now), 'a second decision is refused').toBeUndefined();
    // The client's ACK completes it; data flows to the original destination's connection.
    t.toOrig({ seq: REMOTE_ISS + 1, ack: sa!.seq + 1, flags: ACK, options: { timestamp: { tsVal: 1300, tsEcr: 0 } } });
    expect(c.state).toBe('ESTABLISHED');
    expect(log).toEqual(['established']);
    const st = t.layer.stats();
    expect([st.InterceptRequests, st.InterceptAccepted, st.InterceptPending, st.PassiveOpens]).toEqual([1, 1, 0, 1]);
  });

  it('absorbs SYN retransmissions while pending, and asks the hook once', () => {
    const t = new Gw();
    t.syn();
    t.advance(1000);
    t.syn();
    t.advance(3000);
    t.syn();
    expect(t.requests).toHaveLength(1);
    expect(t.out()).toEqual([]);
    expect(t.layer.stats().dropped.InterceptSynAbsorbed).toBe(2);
    // An ACK for the pending tuple is dropped, not answered with RST.
    t.toOrig({ seq: REMOTE_ISS + 1, ack: 5, flags: ACK });
    expect(t.out()).toEqual([]);
    expect(t.layer.stats().dropped.InterceptStray).toBe(1);
  });

  it("refuse('rst') answers RST|ACK from the original destination", () => {
    const t = new Gw();
    t.syn();
    expect(t.requests[0]!.refuse('rst', t.now)).toBe(true);
    const out = t.out();
    expect(out.map((o) => [o.src, o.flags, o.ack])).toEqual([[ORIG, RST | ACK, REMOTE_ISS + 1]]);
    expect(t.requests[0]!.outcome).toBe('refused');
    expect(t.requests[0]!.refuse('rst', t.now)).toBe(false);
    expect(t.layer.stats().InterceptRefusedRst).toBe(1);
    expect(t.layer.pendingIntercepts).toBe(0);
  });

  it('refuses with ICMP through the IP layer\'s reporter (ICMPv4 codes: the IPv6 layer maps them), quoting the SYN', () => {
    const t = new Gw();
    const kinds = ['net-unreachable', 'host-unreachable', 'admin-prohibited'] as const;
    kinds.forEach((_, i) => t.syn(CLIENT_PORT + i));
    t.requests.forEach((r, i) => r.refuse(kinds[i]!, t.now));
    expect(t.out(), 'no TCP answer').toEqual([]);
    expect(t.ip.unreachable.map((u) => u.code)).toEqual([0, 1, 13]);
    const d = t.ip.unreachable[1]!.datagram;
    expect([d.src, d.dst, d.protocol]).toEqual([REMOTE, ORIG, 6]);
    // The quoted bytes are the SYN (ports first).
    expect((d.payload[0]! << 8) | d.payload[1]!).toBe(CLIENT_PORT + 1);
    expect(t.layer.stats().InterceptRefusedIcmp).toBe(3);
  });

  it("refuse('drop') sends nothing", () => {
    const t = new Gw();
    t.syn();
    t.requests[0]!.refuse('drop', t.now);
    expect(t.out()).toEqual([]);
    expect(t.ip.unreachable).toEqual([]);
    expect(t.layer.stats().InterceptDropped).toBe(1);
  });

  it('a client RST ends the pending request (oncancel), later decisions are no-ops', () => {
    const t = new Gw();
    t.syn();
    t.toOrig({ seq: REMOTE_ISS + 5000, flags: RST }); // out of sequence: ignored
    expect(t.layer.pendingIntercepts).toBe(1);
    t.toOrig({ seq: REMOTE_ISS + 1, flags: RST });
    expect(t.layer.pendingIntercepts).toBe(0);
    expect(t.cancelled).toEqual(['reset']);
    expect(t.requests[0]!.accept({}, t.now)).toBeUndefined();
    expect(t.out()).toEqual([]);
    expect(t.layer.stats().InterceptClientResets).toBe(1);
  });

  it('bounds pending requests by count and by bytes; full means new SYNs dropped and counted', () => {
    const t = new Gw({ intercept: { maxPending: 3 } });
    for (let i = 0; i < 5; i++) t.syn(CLIENT_PORT + i);
    expect(t.requests).toHaveLength(3);
    expect(t.out()).toEqual([]);
    let st = t.layer.stats();
    expect([st.InterceptPending, st.dropped.InterceptFull]).toEqual([3, 2]);
    expect(st.InterceptPendingBytes).toBeGreaterThan(3 * 512);
    // A decision frees room.
    t.requests[0]!.refuse('drop', t.now);
    t.syn(CLIENT_PORT + 9);
    expect(t.requests).toHaveLength(4);
    // By bytes: room for two requests of this size only.
    const b = new Gw({ intercept: { maxPendingBytes: 2 * (512 + 200) } });
    for (let i = 0; i < 4; i++) b.syn(CLIENT_PORT + i);
    st = b.layer.stats();
    expect([st.InterceptPending, st.dropped.InterceptFull]).toEqual([2, 2]);
  });

  it('a SYN carrying data costs no more than one without: only what an ICMP error quotes is kept', () => {
    // 40 SYNs with 60,000 octets of data each: once, 17 of them filled the default 1 MiB and
    // every later SYN was dropped (InterceptFull) until they expired.
    const t = new Gw();
    for (let i = 0; i < 40; i++) t.toOrig({ seq: REMOTE_ISS, flags: SYN, payload: new Uint8Array(60_000).fill(7) }, ORIG, CLIENT_PORT + i);
    const st = t.layer.stats();
    expect([st.InterceptPending, st.dropped.InterceptFull]).toEqual([40, 0]);
    expect(st.InterceptPendingBytes).toBe(40 * interceptCost(60_020));
    expect(interceptCost(60_020)).toBe(INTERCEPT_REQUEST_OVERHEAD + INTERCEPT_MAX_COPY);
    // The ICMP refusal still quotes the SYN's header (ports first).
    t.requests[3]!.refuse('admin-prohibited', t.now);
    const d = t.ip.unreachable[0]!.datagram;
    expect(d.packet.length).toBe(INTERCEPT_MAX_COPY);
    expect((d.payload[0]! << 8) | d.payload[1]!).toBe(CLIENT_PORT + 3);
  });

  it('expires undecided requests after pendingTimeout (pollAt says when)', () => {
    const t = new Gw({ intercept: { pendingTimeout: 10_000 } });
    t.syn(CLIENT_PORT);
    t.advance(4000);
    t.syn(CLIENT_PORT + 1);
    expect(t.layer.pollAt()).toBe(10_000);
    t.advance(9999);
    expect(t.layer.pendingIntercepts).toBe(2);
    t.advance(10_000);
    expect(t.layer.pendingIntercepts).toBe(1);
    expect(t.cancelled).toEqual(['expired']);
    expect(t.requests[0]!.outcome).toBe('expired');
    expect(t.layer.pollAt()).toBe(14_000);
    t.advance(14_000);
    expect(t.layer.stats().InterceptExpired).toBe(2);
    expect(t.layer.pollAt()).toBe(Infinity);
    expect(t.out()).toEqual([]);
  });

  it('without the foreign flag or without a hook, nothing is intercepted (RST as always)', () => {
    const t = new Gw();
    t.toOrig({ seq: REMOTE_ISS, flags: SYN }, ORIG, CLIENT_PORT, false);
    expect(t.requests).toHaveLength(0);
    expect(t.out().map((o) => o.flags)).toEqual([RST | ACK]);
    t.layer.setIntercept(undefined);
    t.syn();
    expect(t.requests).toHaveLength(0);
    expect(t.out().map((o) => [o.src, o.flags])).toEqual([[ORIG, RST | ACK]]);
  });

  it('a wildcard listener on the port does not take foreign SYNs: the hook does', () => {
    const t = new Gw();
    let acceptable = 0;
    t.layer.listen({ port: ORIG_PORT }, { onAcceptable: () => { acceptable++; } });
    t.syn();
    expect(t.requests).toHaveLength(1);
    expect(t.out()).toEqual([]);
    t.layer.setIntercept(undefined);
    t.syn(CLIENT_PORT + 1);
    expect(t.out().map((o) => [o.src, o.flags]), 'no hook: reset, not the listener').toEqual([[ORIG, RST | ACK]]);
    expect(acceptable).toBe(0);
  });

  it('a listener flagged intercept sends its SYNs to the hook; accepted connections take its options', () => {
    const t = new Gw();
    t.layer.listen({ port: 8080, intercept: true, options: { noDelay: true } });
    const bytes = encode({ seq: REMOTE_ISS, flags: SYN, srcPort: CLIENT_PORT, dstPort: 8080 }, REMOTE, LOCAL);
    t.layer.receive(datagram(bytes, REMOTE, LOCAL), t.now);
    expect(t.requests).toHaveLength(1);
    expect(t.requests[0]!.foreign).toBe(false);
    expect(t.out()).toEqual([]);
    const c: TcpConnection = t.requests[0]!.accept({}, t.now)!;
    expect(c.localAddress).toBe(LOCAL);
    expect(t.out().map((o) => o.flags)).toEqual([SYN | ACK]);
  });
});
