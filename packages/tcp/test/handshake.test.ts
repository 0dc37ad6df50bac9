import { describe, expect, it } from 'vitest';
import { ACK, RST, SYN } from '../src/index.js';
import { Ctx, FAMILY, LOCAL, LOCAL_PORT, REMOTE, REMOTE_ISS, REMOTE_PORT, established, listening, synSent } from './harness.js';

describe('CLOSED -> SYN-SENT (RFC 9293 §3.10.1 active OPEN)', () => {
  it('sends a SYN with our MSS (MTU - 40 over IPv4, MTU - 60 over IPv6) and counts an active open', () => {
    const t = new Ctx();
    t.conn = t.layer.connect({ remoteAddress: REMOTE, remotePort: REMOTE_PORT }, 0, t.handler);
    const syn = t.recv({ flags: SYN, ack: 0, options: { mss: 1460 } });
    expect(syn.options.mss).toBe(t.ip.mtu - (FAMILY === 6 ? 60 : 40));
    expect(syn.dstPort).toBe(REMOTE_PORT);
    expect(syn.srcPort).toBeGreaterThanOrEqual(49152);
    expect(t.conn.state).toBe('SYN-SENT');
    expect(t.layer.stats().ActiveOpens).toBe(1);
  });

  it('offers window scale and timestamps only when configured', () => {
    const t = new Ctx({ windowScaling: true, timestamps: true });
    t.layer.connect({ remoteAddress: REMOTE, remotePort: REMOTE_PORT }, 5, t.handler);
    const syn = t.recv({ flags: SYN });
    expect(syn.options.windowScale).toBe(7); // the 6 MiB autotuning ceiling (Linux's tcp_rmem[2] gives 7 too)
    expect(syn.options.timestamp?.tsEcr).toBe(0);
  });

  it('the window scale covers the autotuning ceiling, or the fixed buffer (RFC 7323 §2.3)', () => {
    const shiftFor = (o: { receiveBufferSize?: number; receiveBufferMax?: number }) => {
      const t = new Ctx({ windowScaling: true, ...o });
      t.layer.connect({ remoteAddress: REMOTE, remotePort: REMOTE_PORT }, 5, t.handler);
      return t.recv({ flags: SYN }).options.windowScale;
    };
    expect(shiftFor({ receiveBufferSize: 256 * 1024 })).toBe(3); // a fixed size: not autotuned
    expect(shiftFor({ receiveBufferMax: 1 << 20 })).toBe(5);
    expect(shiftFor({ receiveBufferSize: 64 * 1024, receiveBufferMax: 16 << 20 })).toBe(9);
  });

  it('ISNs differ per 4-tuple and advance with the 4 µs clock (RFC 6528)', () => {
    const t = new Ctx();
    t.layer.connect({ remoteAddress: REMOTE, remotePort: 80, localPort: 50000 }, 0, t.handler);
    t.layer.connect({ remoteAddress: REMOTE, remotePort: 81, localPort: 50000 }, 0, t.handler);
    const [a, b] = t.drain();
    expect(a!.seq).not.toBe(b!.seq);
    const u = new Ctx();
    u.layer.connect({ remoteAddress: REMOTE, remotePort: 80, localPort: 50000 }, 1, u.handler);
    expect(u.drain()[0]!.seq).toBe((a!.seq + 250) >>> 0);
  });
});

describe('SYN-SENT (RFC 9293 §3.10.7.3)', () => {
  it('SYN-ACK completes the handshake: ACK, ESTABLISHED, onEstablished', () => {
    const t = synSent();
    t.send({ seq: REMOTE_ISS, ack: t.iss + 1, flags: SYN | ACK, options: { mss: 1200 } });
    t.recv({ flags: ACK, seq: t.iss + 1, ack: REMOTE_ISS + 1 });
    expect(t.conn.state).toBe('ESTABLISHED');
    expect(t.events.log).toEqual(['established']);
    expect(t.conn.stats.sndMss).toBe(1200);
    expect(t.layer.stats().CurrEstab).toBe(1);
  });

  it('peer without MSS option: 536 (RFC 9293 §3.7.1)', () => {
    const t = synSent();
    t.send({ seq: REMOTE_ISS, ack: t.iss + 1, flags: SYN | ACK });
    expect(t.conn.stats.sndMss).toBe(536);
  });

  it('tiny peer MSS is clamped to 88', () => {
    const t = synSent();
    t.send({ seq: REMOTE_ISS, ack: t.iss + 1, flags: SYN | ACK, options: { mss: 10 } });
    expect(t.conn.stats.sndMss).toBe(88);
  });

  it('an unacceptable ACK is answered with RST <SEQ=SEG.ACK>', () => {
    const t = synSent();
    t.send({ seq: REMOTE_ISS, ack: t.iss + 5, flags: SYN | ACK });
    t.recv({ flags: RST, seq: t.iss + 5 });
    expect(t.conn.state).toBe('SYN-SENT');
  });

  it('RST acknowledging our SYN refuses the connection (ECONNREFUSED)', () => {
    const t = synSent();
    t.send({ seq: 0, ack: t.iss + 1, flags: RST | ACK });
    expect(t.conn.state).toBe('CLOSED');
    expect(t.events.log).toEqual(['closed:ECONNREFUSED']);
    expect(t.layer.connectionCount).toBe(0);
  });

  it('RST without an acceptable ACK is ignored (RFC 5961 §3)', () => {
    const t = synSent();
    t.send({ seq: 0, flags: RST });
    expect(t.conn.state).toBe('SYN-SENT');
  });

  it('simultaneous open: SYN -> SYN-RECEIVED with SYN,ACK of the same ISS; their SYN,ACK -> ESTABLISHED', () => {
    const t = synSent();
    t.send({ seq: REMOTE_ISS, flags: SYN, options: { mss: 1460 } });
    t.recv({ flags: SYN | ACK, seq: t.iss, ack: REMOTE_ISS + 1 });
    expect(t.conn.state).toBe('SYN-RECEIVED');
    t.send({ seq: REMOTE_ISS, ack: t.iss + 1, flags: SYN | ACK, options: { mss: 1460 } });
    expect(t.conn.state).toBe('ESTABLISHED');
    expect(t.events.log).toEqual(['established']);
  });

  it('SYN retransmission at RTO 1 s, backing off, and ETIMEDOUT after synRetries', () => {
    const t = synSent({ synRetries: 2 });
    t.advance(999); t.recvNothing();
    t.advance(1000); t.recv({ flags: SYN, seq: t.iss });
    t.advance(2999); t.recvNothing();
    t.advance(3000); t.recv({ flags: SYN, seq: t.iss });
    t.advance(6999); t.recvNothing();
    t.advance(7000); t.recvNothing();
    expect(t.events.log).toEqual(['closed:ETIMEDOUT']);
    expect(t.layer.stats().AttemptFails).toBe(1);
    expect(t.layer.pollAt()).toBe(Infinity);
  });

  it('after a retransmitted SYN: initial window 1 segment (RFC 5681 §3.1) and RTO 3 s (RFC 6298 §5.7)', () => {
    const t = synSent();
    t.advance(1000);
    t.recv({ flags: SYN });
    t.send({ seq: REMOTE_ISS, ack: t.iss + 1, flags: SYN | ACK, options: { mss: 1460 } });
    t.drain();
    expect(t.conn.stats.cwnd).toBe(1460);
    expect(t.conn.stats.rto).toBe(3000);
  });

  it('ICMP port unreachable in SYN-SENT -> ECONNREFUSED (RFC 1122 §4.2.3.9)', () => {
    const t = synSent();
    const quoted = new Uint8Array(8);
    new DataView(quoted.buffer).setUint16(0, LOCAL_PORT);
    new DataView(quoted.buffer).setUint16(2, REMOTE_PORT);
    new DataView(quoted.buffer).setUint32(4, t.iss);
    t.layer.receiveError({ icmpType: 3, icmpCode: 3, reporter: REMOTE, src: LOCAL, dst: REMOTE, protocol: 6, quoted, nextHopMtu: 0 }, 1);
    expect(t.events.log).toEqual(['closed:ECONNREFUSED']);
    expect(t.conn.state).toBe('CLOSED');
  });

  it('ICMP errors in SYN-SENT follow the one table (icmp_err_convert) and end the connect at once, as Linux tcp_v4_err does', () => {
    const cases: [type: number, code: number, log: string[], state: string][] = [
      [3, 2, ['closed:ENOPROTOOPT'], 'CLOSED'], // protocol unreachable
      [3, 7, ['closed:EHOSTDOWN'], 'CLOSED'], // host unknown
      [3, 10, ['closed:EHOSTUNREACH'], 'CLOSED'], // host prohibited
      [3, 0, ['closed:ENETUNREACH'], 'CLOSED'], // net unreachable: soft in RFC 1122, fatal to a connect on Linux
      [3, 1, ['closed:EHOSTUNREACH'], 'CLOSED'], // host unreachable: likewise
      [3, 12, ['closed:EHOSTUNREACH'], 'CLOSED'], // host unreachable for TOS
      [11, 0, ['closed:EHOSTUNREACH'], 'CLOSED'], // time exceeded (Linux: EHOSTUNREACH)
      [12, 0, ['closed:EPROTO'], 'CLOSED'], // parameter problem
      [3, 16, [], 'SYN-SENT'], // beyond the table: ignored, like Linux tcp_v4_err
      [4, 0, [], 'SYN-SENT'], // source quench: ignored (RFC 6633)
    ];
    for (const [type, code, log, state] of cases) {
      const t = synSent();
      const quoted = new Uint8Array(8);
      new DataView(quoted.buffer).setUint16(0, LOCAL_PORT);
      new DataView(quoted.buffer).setUint16(2, REMOTE_PORT);
      new DataView(quoted.buffer).setUint32(4, t.iss);
      t.layer.receiveError({ icmpType: type, icmpCode: code, reporter: REMOTE, src: LOCAL, dst: REMOTE, protocol: 6, quoted, nextHopMtu: 0 }, 1);
      expect(t.events.log, `type ${type} code ${code}`).toEqual(log);
      expect(t.conn.state, `type ${type} code ${code}`).toBe(state);
      if (state === 'SYN-SENT') expect(t.conn.softError).toBeUndefined();
    }
  });

  it('once connected, the same ICMP errors are soft: the connection goes on and the error is kept for a timeout (RFC 1122 §4.2.3.9)', () => {
    for (const [type, code, errno] of [[3, 1, 'EHOSTUNREACH'], [3, 0, 'ENETUNREACH'], [11, 0, 'EHOSTUNREACH']] as const) {
      const t = established();
      t.write('x');
      const quoted = new Uint8Array(8);
      new DataView(quoted.buffer).setUint16(0, LOCAL_PORT);
      new DataView(quoted.buffer).setUint16(2, REMOTE_PORT);
      new DataView(quoted.buffer).setUint32(4, t.iss + 1);
      t.layer.receiveError({ icmpType: type, icmpCode: code, reporter: REMOTE, src: LOCAL, dst: REMOTE, protocol: 6, quoted, nextHopMtu: 0 }, t.now);
      expect(t.conn.state).toBe('ESTABLISHED');
      expect(t.conn.softError?.code).toBe(errno);
    }
  });

  it('ICMP with a quoted sequence number outside SND.UNA..SND.NXT is ignored (RFC 5927)', () => {
    const t = synSent();
    const quoted = new Uint8Array(8);
    new DataView(quoted.buffer).setUint16(0, LOCAL_PORT);
    new DataView(quoted.buffer).setUint16(2, REMOTE_PORT);
    new DataView(quoted.buffer).setUint32(4, t.iss + 1000);
    t.layer.receiveError({ icmpType: 3, icmpCode: 3, reporter: REMOTE, src: LOCAL, dst: REMOTE, protocol: 6, quoted, nextHopMtu: 0 }, 1);
    expect(t.conn.state).toBe('SYN-SENT');
    expect(t.layer.stats().dropped.IcmpIgnored).toBe(1);
  });
});

describe('LISTEN (RFC 9293 §3.10.7.2)', () => {
  it('SYN -> SYN,ACK; ACK -> ESTABLISHED and acceptable', () => {
    const { t, accepted } = listening();
    t.send({ seq: REMOTE_ISS, flags: SYN, options: { mss: 1460 } });
    const sa = t.recv({ flags: SYN | ACK, ack: REMOTE_ISS + 1, options: { mss: 1460 } });
    expect(accepted).toHaveLength(0);
    t.send({ seq: REMOTE_ISS + 1, ack: sa.seq + 1, flags: ACK });
    t.recvNothing();
    expect(accepted).toHaveLength(1);
    expect(accepted[0]!.state).toBe('ESTABLISHED');
    expect(t.layer.stats().PassiveOpens).toBe(1);
  });

  it('a retransmitted SYN in SYN-RECEIVED gets the same SYN,ACK again', () => {
    const { t } = listening();
    t.send({ seq: REMOTE_ISS, flags: SYN });
    const sa = t.recv({ flags: SYN | ACK });
    t.send({ seq: REMOTE_ISS, flags: SYN });
    t.recv({ flags: SYN | ACK, seq: sa.seq, ack: REMOTE_ISS + 1 });
  });

  it('SYN-ACK retransmission, then the half-open connection is dropped after synRetries', () => {
    const { t } = listening({ synRetries: 1 });
    t.send({ seq: REMOTE_ISS, flags: SYN });
    const sa = t.recv({ flags: SYN | ACK });
    t.advance(1000); t.recv({ flags: SYN | ACK, seq: sa.seq });
    t.advance(3000); t.recvNothing();
    expect(t.layer.connectionCount).toBe(0);
  });

  it('RST in SYN-RECEIVED returns to LISTEN silently', () => {
    const { t, accepted } = listening();
    t.send({ seq: REMOTE_ISS, flags: SYN });
    t.recv({ flags: SYN | ACK });
    t.send({ seq: REMOTE_ISS + 1, flags: RST });
    expect(t.layer.connectionCount).toBe(0);
    expect(accepted).toHaveLength(0);
  });

  it('an ACK with a bad acknowledgment in SYN-RECEIVED draws RST <SEQ=SEG.ACK>', () => {
    const { t } = listening();
    t.send({ seq: REMOTE_ISS, flags: SYN });
    const sa = t.recv({ flags: SYN | ACK });
    t.send({ seq: REMOTE_ISS + 1, ack: sa.seq + 100, flags: ACK });
    t.recv({ flags: RST, seq: sa.seq + 100 });
  });

  it('SYN cookies when the SYN queue is full: the connection still completes (RFC 4987 §3.6)', () => {
    const { t, accepted } = listening({ windowScaling: true, timestamps: true }, 8, 1);
    t.send({ seq: REMOTE_ISS, flags: SYN, srcPort: 1001, options: { mss: 1460 } });
    t.recv({ flags: SYN | ACK });
    t.send({ seq: 777, flags: SYN, srcPort: 1002, options: { mss: 1460, windowScale: 7, timestamp: { tsVal: 1, tsEcr: 0 } } });
    const cookie = t.recv({ flags: SYN | ACK, ack: 778, options: { mss: 1460, windowScale: undefined, timestamp: undefined } });
    expect(t.layer.stats().SyncookiesSent).toBe(1);
    expect(t.layer.connectionCount).toBe(1); // no state kept for the cookie
    t.send({ seq: 778, ack: cookie.seq + 1, flags: ACK, srcPort: 1002, payload: 'GET /' });
    expect(t.layer.stats().SyncookiesRecv).toBe(1);
    expect(accepted).toHaveLength(1);
    const c = accepted[0]!;
    expect(c.remotePort).toBe(1002);
    expect(c.state).toBe('ESTABLISHED');
    expect(c.stats.sndMss).toBe(1460);
    expect(t.read()).toBe('GET /');
  });

  it('a forged cookie ACK draws RST', () => {
    const { t } = listening({}, 8, 1);
    t.send({ seq: REMOTE_ISS, flags: SYN, srcPort: 1001 });
    t.recv({ flags: SYN | ACK });
    t.send({ seq: 5, flags: SYN, srcPort: 1002 });
    const cookie = t.recv({ flags: SYN | ACK });
    t.send({ seq: 6, ack: cookie.seq + 2, flags: ACK, srcPort: 1002 });
    t.recv({ flags: RST, seq: cookie.seq + 2 });
    expect(t.layer.stats().SyncookiesFailed).toBe(1);
  });

  it('a stray ACK when no cookie is outstanding draws RST without cookie validation', () => {
    const { t } = listening();
    t.send({ seq: 6, ack: 12345, flags: ACK, srcPort: 1002 });
    t.recv({ flags: RST, seq: 12345 });
    expect(t.layer.stats().SyncookiesFailed).toBe(0);
  });

  it('accept queue full: the final ACK is dropped until the application accepts', () => {
    const t = new Ctx();
    const l = t.layer.listen({ port: LOCAL_PORT, backlog: 1 });
    t.send({ seq: REMOTE_ISS, flags: SYN, srcPort: 1001 });
    const a = t.recv({ flags: SYN | ACK });
    t.send({ seq: REMOTE_ISS + 1, ack: a.seq + 1, flags: ACK, srcPort: 1001 });
    expect(l.pending).toBe(1);
    t.send({ seq: 50, flags: SYN, srcPort: 1002 });
    t.recvNothing(); // SYN dropped while the accept queue is full
    expect(t.layer.stats().ListenOverflows).toBe(1);
    const c = l.accept(t.handler);
    expect(c?.remotePort).toBe(1001);
    expect(l.accept(t.handler)).toBeUndefined();
  });
});

describe('closing a listener', () => {
  it('resets its half-open and not-yet-accepted connections, then the port answers RST', () => {
    const t = new Ctx();
    const l = t.layer.listen({ port: LOCAL_PORT });
    t.send({ seq: REMOTE_ISS, flags: SYN, srcPort: 1001 });
    const a = t.recv({ flags: SYN | ACK });
    t.send({ seq: REMOTE_ISS + 1, ack: a.seq + 1, flags: ACK, srcPort: 1001 });
    t.send({ seq: 500, flags: SYN, srcPort: 1002 });
    t.recv({ flags: SYN | ACK });
    expect(t.layer.connectionCount).toBe(2);
    l.close(t.now);
    expect(t.drain().map((s) => s.flags & RST)).toEqual([RST, RST]);
    expect(t.layer.connectionCount).toBe(0);
    expect(t.layer.pollAt()).toBe(Infinity);
    t.send({ seq: 900, flags: SYN, srcPort: 1003 });
    t.recv({ flags: RST | ACK });
  });
});

describe('segments to nowhere (RFC 9293 §3.10.7.1)', () => {
  it('SYN to a closed port: RST,ACK <SEQ=0><ACK=SEG.SEQ+SEG.LEN>', () => {
    const t = new Ctx();
    t.send({ seq: REMOTE_ISS, flags: SYN, dstPort: 9999 });
    const r = t.recv({ flags: RST | ACK, seq: 0, ack: REMOTE_ISS + 1 });
    expect(r.srcPort).toBe(9999);
    expect(t.layer.stats().OutRsts).toBe(1);
  });
  it('ACK to a closed port: RST <SEQ=SEG.ACK>', () => {
    const t = new Ctx();
    t.send({ seq: 5, ack: 12345, flags: ACK, dstPort: 9999, payload: 'xy' });
    t.recv({ flags: RST, seq: 12345 });
  });
  it('an RST is never answered', () => {
    const t = new Ctx();
    t.send({ seq: 5, flags: RST, dstPort: 9999 });
    t.send({ seq: 5, ack: 1, flags: RST | ACK, dstPort: 9999 });
    t.recvNothing();
  });
  it('bad checksum is counted, not answered', () => {
    const t = new Ctx();
    const { encode, datagram } = harnessCodec;
    const b = encode({ seq: 5, flags: SYN, dstPort: 9999 });
    b[4] = b[4]! ^ 0xff;
    t.layer.receive(datagram(b, REMOTE, LOCAL), 0);
    t.recvNothing();
    expect(t.layer.stats().InCsumErrors).toBe(1);
    expect(t.layer.stats().InErrs).toBe(1);
  });
});

import { datagram, encode } from './harness.js';
const harnessCodec = { encode, datagram };

describe('established() fixture', () => {
  it('is ESTABLISHED with no events pending', () => {
    const t = established();
    expect(t.conn.state).toBe('ESTABLISHED');
    expect(t.conn.localPort).toBe(LOCAL_PORT);
  });
});

describe('user calls during the handshake (RFC 9293 §3.10.2, §3.10.4)', () => {
  it('data written in SYN-SENT leaves with the first ACK', () => {
    const t = synSent();
    expect(t.write('early')).toBe(5);
    t.recvNothing();
    t.send({ seq: REMOTE_ISS, ack: t.iss + 1, flags: SYN | ACK, options: { mss: 1460 } });
    t.recv({ flags: ACK | 0x08, seq: t.iss + 1, ack: REMOTE_ISS + 1, payload: 'early' });
  });

  it('shutdown in SYN-SENT: FIN follows as soon as the connection is established', () => {
    const t = synSent();
    t.conn.shutdown(t.now);
    expect(t.conn.state).toBe('SYN-SENT');
    t.send({ seq: REMOTE_ISS, ack: t.iss + 1, flags: SYN | ACK });
    t.recv({ flags: ACK | 0x01, seq: t.iss + 1, ack: REMOTE_ISS + 1 });
    expect(t.conn.state).toBe('FIN-WAIT-1');
  });

  it('close in SYN-SENT deletes the connection without a segment', () => {
    const t = synSent();
    t.conn.close(t.now);
    t.recvNothing();
    expect(t.conn.state).toBe('CLOSED');
    expect(t.layer.connectionCount).toBe(0);
    expect(t.layer.pollAt()).toBe(Infinity);
  });

  it('SYN-RECEIVED: the handshake ACK carrying FIN goes through ESTABLISHED to CLOSE-WAIT', () => {
    const { t, accepted } = listening();
    t.send({ seq: REMOTE_ISS, flags: SYN });
    const sa = t.recv({ flags: SYN | ACK });
    t.send({ seq: REMOTE_ISS + 1, ack: sa.seq + 1, flags: ACK | 0x01, payload: 'q' });
    t.recv({ flags: ACK, ack: REMOTE_ISS + 3 });
    expect(accepted).toHaveLength(1);
    expect(accepted[0]!.state).toBe('CLOSE-WAIT');
    expect(t.events.log).toEqual(['readable', 'remote-fin']); // replayed to the accepting handler
    expect(t.read()).toBe('q');
  });
});
