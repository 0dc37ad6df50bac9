/**
 * The probe link as a user's protocol test would use it: raw packets in, the stack's
 * answers out, synchronously, with virtual time for the timers.
 */
import { describe, expect, it } from 'vitest';
import { createProbeLink, createStack, type Clock } from '@netstack/netstack';
import { checksum, pseudoHeaderSum } from '@netstack/ip';

const PEER = [10, 0, 0, 9];
const US = [10, 0, 0, 2];

function ipv4(proto: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  p.set([0x45, 0, p.length >> 8, p.length & 0xff, 0, 1, 0x40, 0, 64, proto, 0, 0, ...PEER, ...US]);
  p.set(payload, 20);
  const c = checksum(p, 0, 20);
  p[10] = c >> 8;
  p[11] = c & 0xff;
  return p;
}
const addr = (a: number[]): number => ((a[0]! << 24) | (a[1]! << 16) | (a[2]! << 8) | a[3]!) >>> 0;

function tcpSyn(sport: number, dport: number, seq: number): Uint8Array {
  const t = new Uint8Array(24);
  const v = new DataView(t.buffer);
  v.setUint16(0, sport); v.setUint16(2, dport); v.setUint32(4, seq);
  t[12] = 6 << 4; t[13] = 0x02; v.setUint16(14, 65535);
  t.set([2, 4, 0x05, 0xb4], 20); // MSS 1460
  v.setUint16(16, checksum(t, 0, t.length, pseudoHeaderSum(addr(PEER), addr(US), 6, t.length)));
  return ipv4(6, t);
}

class ManualClock implements Clock {
  t = 0;
  timers: { at: number; fn: () => void }[] = [];
  now(): number { return this.t; }
  setTimer(fn: () => void, ms: number): unknown { const h = { at: this.t + ms, fn }; this.timers.push(h); return h; }
  cancel(h: unknown): void { this.timers = this.timers.filter((x) => x !== h); }
  advance(ms: number): void {
    this.t += ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= this.t).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) return;
      this.cancel(due);
      due.fn();
    }
  }
}

describe('a stack on a probe link', () => {
  it('answers an injected SYN with a SYN-ACK at once, and retransmits it on virtual time', async () => {
    const clock = new ManualClock();
    const probe = createProbeLink({ mtu: 1500 });
    const stack = await createStack({ link: probe.link, address: '10.0.0.2', clock });
    stack.tcp.createServer(() => {}).listen(7);
    probe.inject(tcpSyn(40000, 7, 1000));
    const [synAck, ...rest] = probe.take();
    expect(rest).toEqual([]);
    const v = new DataView(synAck!.buffer, synAck!.byteOffset);
    expect(synAck![9]).toBe(6);
    expect([v.getUint16(20), v.getUint16(22)]).toEqual([7, 40000]);
    expect(synAck![33]).toBe(0x12); // SYN|ACK
    expect(v.getUint32(28)).toBe(1001);
    clock.advance(999);
    expect(probe.take()).toEqual([]);
    clock.advance(1); // RFC 6298 initial RTO: 1 s
    expect(probe.take().map((p) => p[33])).toEqual([0x12]);
    await stack.close();
  });

  it('answers an echo request and a datagram to a closed port; the counters explain both', async () => {
    const probe = createProbeLink();
    const stack = await createStack({ link: probe.link, address: '10.0.0.2' });
    const echo = new Uint8Array(8 + 4);
    echo.set([8, 0, 0, 0, 0x12, 0x34, 0, 1, 1, 2, 3, 4]);
    const c = checksum(echo);
    echo[2] = c >> 8; echo[3] = c & 0xff;
    const udp = new Uint8Array(8 + 2);
    udp.set([0x13, 0x88, 0x30, 0x39, 0, 10, 0, 0, 0xab, 0xcd]); // 5000 -> 12345, no checksum
    probe.injectBatch([ipv4(1, echo), ipv4(17, udp)]);
    const out = probe.take();
    expect(out.map((p) => [p[9], p[20], p[21]])).toEqual([[1, 0, 0], [1, 3, 3]]); // echo reply; port unreachable
    expect([...out[0]!.subarray(28)]).toEqual([1, 2, 3, 4]);
    expect(stack.stats()['udp']).toMatchObject({ InReceives: 1, NoPorts: 1 });
    await stack.close();
  });
});
