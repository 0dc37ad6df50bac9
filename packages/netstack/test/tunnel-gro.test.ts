import { describe, expect, it } from 'vitest';
import { Coalescer } from '../src/tunnel/gro.js';
import type { Link } from '@netstack/tun';

type Sent = { kind: 'send' | 'offload'; bytes: number[]; gsoSize?: number; csumStart?: number; csumOffset?: number };

function fakeLink(sent: Sent[], refuse = false): Link {
  return {
    mtu: 1420,
    offload: { csum: true, tso4: true, tso6: true },
    offloadHeadroom: 12,
    send: (p: Uint8Array) => { sent.push({ kind: 'send', bytes: [...p] }); return !refuse; },
    sendOffload: (p: Uint8Array, gsoSize: number, csumStart: number, csumOffset: number) => { sent.push({ kind: 'offload', bytes: [...p], gsoSize, csumStart, csumOffset }); return !refuse; },
    setReceiver: () => {},
    stats: () => ({ RxPackets: 0, RxBytes: 0, TxPackets: 0, TxBytes: 0, TxDropped: 0, RxDropped: 0 }),
    close: () => {},
  } as unknown as Link;
}

function sum(b: number[], start: number, end: number, s0 = 0): number {
  let s = s0;
  for (let i = start; i < end; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** A TCP/IPv4 segment (ACK, optionally PSH; a 12-byte timestamp option), payload bytes (seq + i) & 0xff. */
function seg(seq: number, payload: number, flags = 0x10, id = 1): Uint8Array {
  const p = new Uint8Array(20 + 32 + payload);
  p[0] = 0x45; p[2] = p.length >> 8; p[3] = p.length & 0xff; p[4] = id >> 8; p[5] = id & 0xff; p[6] = 0x40; p[8] = 64; p[9] = 6;
  p.set([10, 100, 0, 2, 10, 100, 0, 1], 12);
  p.set([0x1f, 0x90, 0xc0, 0x00], 20);
  new DataView(p.buffer).setUint32(24, seq >>> 0);
  new DataView(p.buffer).setUint32(28, 777);
  p[32] = 8 << 4; p[33] = flags; p[34] = 0xff; p[35] = 0xff;
  p.set([1, 1, 8, 10, 0, 0, 0, 5, 0, 0, 0, 6], 40);
  for (let i = 0; i < payload; i++) p[52 + i] = (seq + i) & 0xff;
  return p;
}

describe('GRO-style coalescing towards the device', () => {
  it('contiguous segments of a flow become one super-segment: lengths, IPv4 checksum, partial TCP checksum, PSH of the last, payload in order', () => {
    const sent: Sent[] = [];
    const g = new Coalescer(fakeLink(sent));
    g.add(seg(1000, 1368));
    g.add(seg(2368, 1368));
    g.add(seg(3736, 500, 0x18)); // shorter and PSH: ends the run
    expect(sent).toHaveLength(1);
    const s = sent[0]!;
    expect(s).toMatchObject({ kind: 'offload', gsoSize: 1368, csumStart: 20, csumOffset: 16 });
    const b = s.bytes;
    expect(b.length).toBe(52 + 1368 * 2 + 500);
    expect((b[2]! << 8) | b[3]!).toBe(b.length);
    expect(sum(b, 0, 20)).toBe(0xffff);
    expect(new DataView(Uint8Array.from(b).buffer).getUint32(24)).toBe(1000);
    expect(b[33]).toBe(0x18);
    const pseudo = sum(b, 12, 20, 6 + b.length - 20);
    expect((b[36]! << 8) | b[37]!).toBe(pseudo);
    expect(b.slice(52)).toEqual(Array.from({ length: 1368 * 2 + 500 }, (_, i) => (1000 + i) & 0xff));
    expect(g.stats).toMatchObject({ GroPackets: 1, GroSegments: 3 });
  });

  it('order is kept: a gap in sequence, another ACK, or a non-TCP packet ends the run, which is written first', () => {
    const sent: Sent[] = [];
    const g = new Coalescer(fakeLink(sent));
    const udp = new Uint8Array(28); udp[0] = 0x45; udp[3] = 28; udp[9] = 17;
    g.add(seg(0, 100));
    g.add(seg(100, 100));
    g.add(udp); // the run (2) then the datagram
    g.add(seg(200, 100));
    g.add(seg(400, 100)); // a gap: 200 alone, then a new run
    const other = seg(500, 100);
    other[30] = 4; // another ACK number
    g.add(other);
    g.flush();
    expect(sent.map((s) => [s.kind, s.bytes.length])).toEqual([['offload', 252], ['send', 28], ['send', 152], ['send', 152], ['send', 152]]);
    // a run of one goes out as it came (its own checksum untouched)
    expect(sent[2]!.bytes).toEqual([...seg(200, 100)]);
  });

  it('a larger segment after the first, or SYN/FIN/RST, is never merged; a refused write is counted', () => {
    const sent: Sent[] = [];
    const g = new Coalescer(fakeLink(sent, true));
    g.add(seg(0, 100));
    g.add(seg(100, 200));
    g.add(seg(300, 100, 0x11)); // FIN|ACK
    g.flush();
    expect(sent.map((s) => s.kind)).toEqual(['send', 'send', 'send']);
    expect(g.stats.GroDropped).toBe(3);
  });
});
