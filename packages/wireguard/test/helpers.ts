import { expect } from 'vitest';
import { createHash } from 'node:crypto';
import { PrivateKey, WireGuardDevice, type Endpoint, type Outgoing, type Timers, type WireGuardOptions } from '../src/index.js';

/** mulberry32, as @netstack/common's seededRandom (this package imports no other). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic random bytes from a seed (SHA-256 in counter mode): reproducible keys and indices. */
export function seededBytes(seed: string): (n: number) => Uint8Array {
  let i = 0;
  return (n) => {
    const out = new Uint8Array(n);
    for (let o = 0; o < n; o += 32) out.set(createHash('sha256').update(`${seed}:${i++}`).digest().subarray(0, Math.min(32, n - o)), o);
    return out;
  };
}

export const keyA = new PrivateKey(seededBytes('static-a')(32));
export const keyB = new PrivateKey(seededBytes('static-b')(32));
export const EP_A: Endpoint = { address: '192.0.2.1', port: 51820 };
export const EP_B: Endpoint = { address: '192.0.2.2', port: 51821 };
export const IP_A = '10.9.0.1';
export const IP_B = '10.9.0.2';

export interface Pair {
  a: WireGuardDevice;
  b: WireGuardDevice;
}

/** Two devices that know each other: A at 10.9.0.1 (allowed on B), B at 10.9.0.2; A knows B's endpoint. */
export function pair(opts: { timers?: Partial<Timers>; timersB?: Partial<Timers>; psk?: boolean; keepaliveA?: number; bKnowsA?: boolean; extra?: Partial<WireGuardOptions> } = {}): Pair {
  const psk = opts.psk ? seededBytes('psk')(32) : undefined;
  const common = { wallClockOffset: 1_700_000_000_000, ...(opts.timers ? { timers: opts.timers } : {}), ...opts.extra };
  const a = new WireGuardDevice({
    ...common, privateKey: keyA.raw, random: seeded(1), randomBytes: seededBytes('a'),
    peers: [{ publicKey: keyB.publicKey, allowedIps: [`${IP_B}/32`, 'fd00::2/128'], endpoint: EP_B, ...(psk ? { presharedKey: psk } : {}), ...(opts.keepaliveA ? { persistentKeepalive: opts.keepaliveA } : {}) }],
  });
  const b = new WireGuardDevice({
    ...common, ...(opts.timersB ? { timers: opts.timersB } : {}), privateKey: keyB.raw, random: seeded(2), randomBytes: seededBytes('b'),
    peers: [{ publicKey: keyA.publicKey, allowedIps: [`${IP_A}/32`, 'fd00::1/128'], ...(psk ? { presharedKey: psk } : {}), ...(opts.bKnowsA ? { endpoint: EP_A } : {}) }],
  });
  return { a, b };
}

const ip4 = (s: string): number[] => s.split('.').map(Number);

/** A minimal IPv4 packet (protocol 17, checksum not needed here) with `n` payload bytes tagged by `tag`. */
export function packet(src: string, dst: string, tag = 0, n = 8): Uint8Array {
  const p = new Uint8Array(20 + n);
  p[0] = 0x45;
  p[2] = (20 + n) >> 8;
  p[3] = (20 + n) & 0xff;
  p[8] = 64;
  p[9] = 17;
  p.set(ip4(src), 12);
  p.set(ip4(dst), 16);
  for (let i = 0; i < n; i++) p[20 + i] = (tag + i) & 0xff;
  if (n >= 4) new DataView(p.buffer).setUint32(20, tag);
  return p;
}

export function tagOf(p: Uint8Array): number {
  return new DataView(p.buffer, p.byteOffset).getUint32(20);
}

export const sizes = (out: Outgoing[]): number[] => out.map((o) => o.datagram.length);

/** Delivers every datagram to `to` (from `from`); returns the inner packets it yields. */
export function deliver(out: Outgoing[], to: WireGuardDevice, from: Endpoint, now: number, underLoad: boolean | (() => boolean) = false): Uint8Array[] {
  const inner: Uint8Array[] = [];
  for (const o of out) {
    const p = to.decapsulate(o.datagram, from, now, underLoad);
    if (p !== undefined) inner.push(p);
  }
  return inner;
}

/** A → B handshake started by a packet from A, completed, the packet delivered; returns the time after. */
export function establish({ a, b }: Pair, now = 0): number {
  const init = a.encapsulate(packet(IP_A, IP_B, 1), now);
  expect(sizes(init)).toEqual([148]);
  deliver(init, b, EP_A, now);
  const resp = b.takeOutgoing();
  expect(sizes(resp)).toEqual([92]);
  deliver(resp, a, EP_B, now);
  const data = a.takeOutgoing();
  expect(sizes(data)).toEqual([16 + 32 + 16]); // the staged 28-byte packet, padded to 32
  const got = deliver(data, b, EP_A, now);
  expect(got.map(tagOf)).toEqual([1]);
  return now;
}
