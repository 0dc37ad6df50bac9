/**
 * ECN (RFC 3168 §6.1) traces, virtual time: negotiation both ways, ECT(0) on new data
 * only, CE echoed with ECE until CWR, and the sender's once-per-window reduction with CWR.
 */
import { describe, expect, it } from 'vitest';
import { ACK, CWR, ECE, SYN } from '../src/index.js';
import type { TcpLayerOptions, TcpOptions } from '../src/index.js';
import { Ctx, LOCAL_PORT, REMOTE, REMOTE_ISS, REMOTE_PORT, decode, listening } from './harness.js';

const ECT0 = 2;
const CE = 3;
const MSS = 1460;
const R = REMOTE_ISS + 1;

/** Segments sent since the last call, with the IP ECN field of each. */
function sent(t: Ctx) {
  const out = t.ip.sent.map((x) => ({ seg: decode(x.payload, x.src, x.dst), ecn: x.tos & 3 }));
  t.ip.sent = [];
  return out;
}

/** Active open with `ecn` set; the peer answers with `synAckFlags` (ECN bits). */
function activeOpen(options: TcpLayerOptions, synAckFlags: number, peer: TcpOptions = {}) {
  const t = new Ctx(options);
  t.conn = t.layer.connect({ remoteAddress: REMOTE, remotePort: REMOTE_PORT, localPort: LOCAL_PORT }, t.now, t.handler);
  const [syn] = sent(t);
  t.iss = syn!.seg.seq;
  t.send({ seq: REMOTE_ISS, ack: t.iss + 1, flags: SYN | ACK | synAckFlags, window: 65535, options: { mss: 1460, ...peer } });
  const [ack] = sent(t);
  expect(ack!.seg.flags & ~(ECE | CWR)).toBe(ACK);
  return { t, syn: syn! };
}

/** An ECN connection (active open, the peer's SYN-ACK carries ECE). */
const ecnConn = () => activeOpen({ ecn: true }, ECE).t;

describe('ECN negotiation (RFC 3168 §6.1.1)', () => {
  it('ecn: true sends an ECN-setup SYN (ECE|CWR, not ECT); an ECN-setup SYN-ACK (ECE alone) agrees', () => {
    const { t, syn } = activeOpen({ ecn: true }, ECE);
    expect(syn.seg.flags).toBe(SYN | ECE | CWR);
    expect(syn.ecn).toBe(0); // §6.1.1: SYNs are never ECT
    expect(t.conn.ecnOk).toBe(true);
    expect(t.layer.stats().EcnNegotiated).toBe(1);
  });

  it('a SYN-ACK with both ECE and CWR, or with neither, is not ECN-setup: no ECN', () => {
    expect(activeOpen({ ecn: true }, ECE | CWR).t.conn.ecnOk).toBe(false);
    expect(activeOpen({ ecn: true }, 0).t.conn.ecnOk).toBe(false);
  });

  it('the default (passive, as Linux tcp_ecn=2) does not ask, and a retransmitted ECN SYN goes without ECE|CWR', () => {
    const { syn } = activeOpen({}, 0);
    expect(syn.seg.flags).toBe(SYN);
    const t = new Ctx({ ecn: true });
    t.conn = t.layer.connect({ remoteAddress: REMOTE, remotePort: REMOTE_PORT, localPort: LOCAL_PORT }, t.now, t.handler);
    expect(sent(t)[0]!.seg.flags).toBe(SYN | ECE | CWR);
    t.advance(t.layer.pollAt());
    expect(sent(t)[0]!.seg.flags).toBe(SYN);
  });

  it('passive: an ECN-setup SYN gets an ECN-setup SYN-ACK (ECE, not CWR, not ECT); a plain SYN, or ecn: false, gets none', () => {
    for (const [opts, synFlags, expectEcn] of [[{}, ECE | CWR, true], [{}, ECE, false], [{}, 0, false], [{ ecn: false }, ECE | CWR, false]] as const) {
      const { t } = listening(opts);
      t.send({ seq: REMOTE_ISS, flags: SYN | synFlags, window: 65535, srcPort: REMOTE_PORT, dstPort: LOCAL_PORT, options: { mss: 1460 } });
      const [sa] = sent(t);
      expect(sa!.seg.flags).toBe(SYN | ACK | (expectEcn ? ECE : 0));
      expect(sa!.ecn).toBe(0);
      expect(t.layer.stats().EcnNegotiated).toBe(expectEcn ? 1 : 0);
    }
  });
});

describe('ECN on an established connection (RFC 3168 §6.1.2-§6.1.6)', () => {
  it('new data is ECT(0); pure ACKs, retransmissions and window probes are not', () => {
    const t = ecnConn();
    t.write(new Uint8Array(3 * MSS));
    const data = sent(t);
    expect(data.map((x) => x.ecn)).toEqual([ECT0, ECT0, ECT0]);
    // The retransmission after a timeout is not ECT (§6.1.5).
    t.advance(t.layer.pollAt());
    const rtx = sent(t).filter((x) => x.seg.payload.length > 0);
    expect(rtx.length).toBeGreaterThan(0);
    expect(rtx.every((x) => x.ecn === 0)).toBe(true);
    // Everything acknowledged, the peer's window closes; a probe is not ECT (§6.1.6).
    t.send({ seq: R, ack: t.iss + 1 + 3 * MSS, flags: ACK, window: 0 });
    t.write('x');
    sent(t);
    t.advance(t.layer.pollAt());
    const probe = sent(t); // a pure ACK at SND.UNA - 1 (RFC 9293 §3.8.6.1)
    expect(probe).toHaveLength(1);
    expect(probe[0]!.seg.payload.length).toBe(0);
    expect(probe[0]!.ecn).toBe(0);
    // A pure ACK of the peer's data is not ECT (§6.1.4).
    t.send({ seq: R, ack: t.iss + 1 + 3 * MSS, flags: ACK, window: 0, payload: 'hello' });
    t.advance(t.now + 100);
    const acks = sent(t).filter((x) => x.seg.payload.length === 0 && x.seg.flags & ACK);
    expect(acks.length).toBeGreaterThan(0);
    expect(acks.every((x) => x.ecn === 0)).toBe(true);
  });

  it('a CE mark on data is echoed with ECE on every segment, ACKed at once, until the peer sends CWR', () => {
    const t = ecnConn();
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: 'a' }, REMOTE, CE);
    const [first] = sent(t); // ACKed at once, not after the delayed-ACK timer
    expect(first!.seg.flags & ECE).toBe(ECE);
    expect(t.layer.stats().EcnCeReceived).toBe(1);
    t.send({ seq: R + 1, ack: t.iss + 1, flags: ACK, payload: 'b' }, REMOTE, ECT0);
    t.send({ seq: R + 2, ack: t.iss + 1, flags: ACK, payload: 'c' }, REMOTE, ECT0);
    t.advance(t.now + 100); // the delayed ACK
    const later = sent(t);
    expect(later.length).toBeGreaterThan(0);
    expect(later.every((x) => (x.seg.flags & ECE) !== 0)).toBe(true);
    // Our data carries ECE too while the echo lasts.
    t.write('z');
    expect(sent(t).every((x) => (x.seg.flags & ECE) !== 0)).toBe(true);
    // CWR ends it (§6.1.3).
    t.send({ seq: R + 3, ack: t.iss + 2, flags: ACK | CWR, payload: 'd' }, REMOTE, ECT0);
    t.send({ seq: R + 4, ack: t.iss + 2, flags: ACK, payload: 'e' }, REMOTE, ECT0);
    t.advance(t.now + 100);
    const after = sent(t);
    expect(after.length).toBeGreaterThan(0);
    expect(after.every((x) => (x.seg.flags & ECE) === 0)).toBe(true);
    expect(t.layer.stats().EcnCwrReceived).toBe(1);
  });

  it('CE on a segment outside the window, or on a pure ACK, is not echoed', () => {
    const t = ecnConn();
    t.send({ seq: R + 1_000_000, ack: t.iss + 1, flags: ACK, payload: 'x' }, REMOTE, CE);
    t.send({ seq: R, ack: t.iss + 1, flags: ACK }, REMOTE, CE);
    t.advance(t.now + 100);
    expect(sent(t).every((x) => (x.seg.flags & ECE) === 0)).toBe(true);
    expect(t.layer.stats().EcnCeReceived).toBe(0);
  });

  for (const cc of ['newreno', 'cubic'] as const) {
    it(`${cc}: ECE halves the window once per window of data, and the next new data carries CWR (alone, one MSS)`, () => {
      const t = activeOpen({ ecn: true, congestionControl: cc }, ECE).t;
      t.write(new Uint8Array(10 * MSS));
      expect(sent(t)).toHaveLength(10);
      const before = t.conn.stats.cwnd;
      t.write(new Uint8Array(20 * MSS));
      // ACK of 2 segments with ECE: the reduction, no retransmission.
      t.step(1);
      t.send({ seq: R, ack: t.iss + 1 + 2 * MSS, flags: ACK | ECE });
      const out = sent(t);
      const st = t.conn.stats;
      expect(t.layer.stats().EcnEceReductions).toBe(1);
      // FlightSize when the ECE arrives: 8 segments (RFC 5681 eq. 4 / RFC 9438 §4.6 with β = 0.7).
      expect(st.ssthresh).toBe(cc === 'newreno' ? 4 * MSS : Math.floor(8 * MSS * 0.7));
      expect(st.cwnd).toBeLessThan(before);
      expect(t.layer.stats().RetransSegs).toBe(0);
      const withData = out.filter((x) => x.seg.payload.length > 0);
      if (withData.length > 0) {
        expect(withData[0]!.seg.flags & CWR).toBe(CWR);
        expect(withData[0]!.seg.payload.length).toBeLessThanOrEqual(MSS);
        expect(withData.slice(1).every((x) => (x.seg.flags & CWR) === 0)).toBe(true);
      } else {
        expect(t.conn.cwrPending).toBe(true);
      }
      // More ECE within the same window: no further reduction.
      const cwnd1 = t.conn.stats.cwnd;
      t.send({ seq: R, ack: t.iss + 1 + 4 * MSS, flags: ACK | ECE });
      expect(t.layer.stats().EcnEceReductions).toBe(1);
      expect(t.conn.stats.cwnd).toBeGreaterThanOrEqual(cwnd1);
    });
  }

  it('without ECN negotiated, ECE on an ACK changes nothing and data is not ECT', () => {
    const t = activeOpen({ ecn: true }, 0).t;
    t.write(new Uint8Array(4 * MSS));
    expect(sent(t).every((x) => x.ecn === 0)).toBe(true);
    const cwnd = t.conn.stats.cwnd;
    t.send({ seq: R, ack: t.iss + 1 + MSS, flags: ACK | ECE });
    expect(t.layer.stats().EcnEceReductions).toBe(0);
    expect(t.conn.stats.cwnd).toBeGreaterThanOrEqual(cwnd);
  });
});
