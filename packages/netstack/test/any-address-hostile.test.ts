/**
 * Hostile input to an any-address stack: seeded random TCP segments (every flag mix, a few
 * ports so tuples collide with pending requests) and UDP datagrams to foreign addresses,
 * with the hooks deciding at random (accept, every refusal, or never). Nothing escapes,
 * every packet is accounted for, the pending and flow tables stay within their bounds,
 * and they empty on virtual time.
 */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '@netstack/common';
import { checksum, pseudoHeaderSum } from '@netstack/ip';
import { createProbeLink } from '@netstack/tun';
import { Stack, type Clock } from '../src/stack.js';
import { checkAccounting } from '../src/accounting.js';
import type { InterceptDecision } from '../src/net/index.js';
import type { UdpFlowSocket } from '../src/dgram/index.js';

const PEER = 0x0a000009;

function ipv4(proto: number, dst: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  const v = new DataView(p.buffer);
  p.set([0x45, 0]);
  v.setUint16(2, p.length);
  p[6] = 0x40; p[8] = 64; p[9] = proto;
  v.setUint32(12, PEER); v.setUint32(16, dst);
  v.setUint16(10, checksum(p, 0, 20));
  p.set(payload, 20);
  return p;
}

function tcp(dst: number, sport: number, dport: number, seq: number, ack: number, flags: number): Uint8Array {
  const t = new Uint8Array(24);
  const v = new DataView(t.buffer);
  v.setUint16(0, sport); v.setUint16(2, dport); v.setUint32(4, seq); v.setUint32(8, ack);
  t[12] = 6 << 4; t[13] = flags; v.setUint16(14, 65535);
  t.set([2, 4, 0x05, 0xb4], 20);
  v.setUint16(16, checksum(t, 0, t.length, pseudoHeaderSum(PEER, dst, 6, t.length)));
  return ipv4(6, dst, t);
}

function udp(dst: number, sport: number, dport: number, n: number): Uint8Array {
  const u = new Uint8Array(8 + n);
  const v = new DataView(u.buffer);
  v.setUint16(0, sport); v.setUint16(2, dport); v.setUint16(4, u.length);
  v.setUint16(6, checksum(u, 0, u.length, pseudoHeaderSum(PEER, dst, 17, u.length)) || 0xffff);
  return ipv4(17, dst, u);
}

class ManualClock implements Clock {
  t = 0;
  timers: { at: number; fn: () => void }[] = [];
  now(): number { return this.t; }
  setTimer(fn: () => void, ms: number): unknown { const h = { at: this.t + ms, fn }; this.timers.push(h); return h; }
  cancel(h: unknown): void { this.timers = this.timers.filter((x) => x !== h); }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const due = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      this.t = Math.max(this.t, due.at);
      this.cancel(due);
      due.fn();
    }
    this.t = end;
  }
}

describe('anyAddress under hostile input', () => {
  it('seeded random segments and datagrams to foreign addresses: no escape, accounted, bounded, drained', async () => {
    const rnd = seededRandom(12);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const clock = new ManualClock();
    const probe = createProbeLink({ mtu: 1500 });
    const stack = new Stack({
      link: probe.link, address: '10.0.0.2', anyAddress: true, clock,
      tcpOptions: { intercept: { maxPending: 40, pendingTimeout: 20_000 }, synRetries: 2 },
      udpFlows: { maxFlows: 30, idleTimeout: 10_000 },
    });
    const accepted: { destroy(): void }[] = [];
    let maxPending = 0;
    stack.tcp.intercept((_info, d: InterceptDecision) => {
      const r = rnd();
      if (r < 0.3) { const s = d.accept(); if (s) { s.on('error', () => {}); accepted.push(s); } }
      else if (r < 0.7) d.refuse(pick(['rst', 'net-unreachable', 'host-unreachable', 'admin-prohibited', 'drop'] as const));
      // else: left pending, to expire
    });
    stack.udp.interceptFlows((flow: UdpFlowSocket) => {
      flow.on('error', () => {});
      flow.on('message', (msg: Buffer) => { if (rnd() < 0.5) flow.send(msg); else if (rnd() < 0.2) flow.close(); });
    });
    const FLAGS = [0x02, 0x02, 0x02, 0x12, 0x10, 0x04, 0x14, 0x01, 0x11, 0x18, 0x06, 0x03, 0x00, 0xff];
    for (let i = 0; i < 20_000; i++) {
      const dst = (0xc0000200 | Math.floor(rnd() * 8)) >>> 0; // 192.0.2.0-7
      const sport = 40_000 + Math.floor(rnd() * 50);
      if (rnd() < 0.75) probe.inject(tcp(dst, sport, pick([80, 443, 22]), Math.floor(rnd() * 4) === 0 ? 1000 : Math.floor(rnd() * 2 ** 32), Math.floor(rnd() * 2 ** 32), pick(FLAGS)));
      else probe.inject(udp(dst, sport, pick([53, 123]), Math.floor(rnd() * 600)));
      probe.take();
      if (i % 500 === 0) clock.advance(1000);
      maxPending = Math.max(maxPending, stack.tcpLayer.pendingIntercepts);
      if (i % 100 === 0) expect(stack.stats().udp!.Flows).toBeLessThanOrEqual(30);
    }
    const st = stack.stats();
    expect(st.stack!.InternalErrors).toBe(0);
    expect(checkAccounting(st).violations).toEqual([]);
    expect(maxPending).toBeLessThanOrEqual(40);
    expect(st.tcp!.InterceptRequests).toBeGreaterThan(100);
    expect(st.tcp!['dropped.InterceptSynAbsorbed']).toBeGreaterThan(0);
    expect(st.tcp!.InterceptAccepted).toBeGreaterThan(0);
    expect(st.udp!.FlowsCreated).toBeGreaterThan(30);
    // Virtual time drains everything: pending requests expire, flows go idle, accepted
    // half-open connections give up their SYN-ACKs.
    clock.advance(300_000);
    probe.take();
    const end = stack.stats();
    expect([end.tcp!.InterceptPending, end.tcp!.InterceptPendingBytes, end.udp!.Flows, end.udp!.FlowBytes]).toEqual([0, 0, 0, 0]);
    expect(end.tcp!.InterceptExpired).toBeGreaterThan(0);
    expect(checkAccounting(end).violations).toEqual([]);
    for (const s of accepted) s.destroy();
    await stack.close();
  });
});
