/**
 * Two stacks on an in-memory link with offloads on both ends (createLinkPair({ offload: true })):
 * TCP super-segments with partial checksums cross as they are and are taken whole by the
 * other stack. 1 MB each way, exact; the counters prove the offload path carried it.
 */
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createStack, createLinkPair, type Stack } from '@netstack/netstack';
import type { Link } from '@netstack/tun';

const MB = 1 << 20;
const pattern = (n: number, k: number): Buffer => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = (i * k + 7) & 0xff; return b; };
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/**
 * The link as it is (methods bound to it: its private fields), recording the flow label of
 * every TCP/IPv6 packet sent through it; `offload`, when given, replaces what it says it agreed.
 */
function spy(inner: Link, offload?: Link['offload']): { link: Link; labels: Set<number> } {
  const labels = new Set<number>();
  const note = (p: Uint8Array): void => {
    if (p.length >= 40 && p[0]! >>> 4 === 6 && p[6] === 6) labels.add(((p[1]! & 0x0f) << 16) | (p[2]! << 8) | p[3]!);
  };
  const link = new Proxy(inner, {
    get(target, prop) {
      if (prop === 'offload' && offload !== undefined) return offload;
      const v = Reflect.get(target, prop, target) as unknown;
      if (prop === 'send' || prop === 'sendOffload') {
        const f = v as (p: Uint8Array, ...rest: number[]) => boolean;
        return (p: Uint8Array, ...rest: number[]): boolean => { note(p); return f.call(target, p, ...rest); };
      }
      return typeof v === 'function' ? (v as (...args: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { link, labels };
}

/** 1 MB each way on one connection from s1 to `host` (s2), exact. */
async function exchange(s1: Stack, s2: Stack, host: string): Promise<void> {
  const toServer = pattern(MB, 13);
  const toClient = pattern(MB, 7);
  let serverGot = Buffer.alloc(0);
  const server = s2.tcp.createServer((sock) => {
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('end', () => { serverGot = Buffer.concat(chunks); sock.end(toClient); });
  }).listen(5001);
  try {
    const client = s1.tcp.connect({ host, port: 5001 });
    await once(client, 'connect');
    const back: Buffer[] = [];
    client.on('data', (d: Buffer) => back.push(d));
    client.end(toServer);
    await once(client, 'end');
    expect(sha(serverGot)).toBe(sha(toServer));
    expect(sha(Buffer.concat(back))).toBe(sha(toClient));
  } finally {
    server.close();
  }
}

describe('two stacks with offloads on a memory link', () => {
  it('1 MB each way, exact, through super-segments', async () => {
    const { a, b } = createLinkPair({ mtu: 1500, offload: true, queueLimit: 4096 });
    const s1 = await createStack({ link: a, address: '10.0.0.1' });
    const s2 = await createStack({ link: b, address: '10.0.0.2' });
    try {
      expect(s1.linkInfo().offload).toEqual({ tso4: true, tso6: true, csum: true });
      const toServer = pattern(MB, 13);
      const toClient = pattern(MB, 7);
      let serverGot = Buffer.alloc(0);
      const server = s2.tcp.createServer((sock) => {
        const chunks: Buffer[] = [];
        sock.on('data', (d: Buffer) => chunks.push(d));
        sock.on('end', () => { serverGot = Buffer.concat(chunks); sock.end(toClient); });
      }).listen(5001);
      const client = s1.tcp.connect({ host: '10.0.0.2', port: 5001 });
      await once(client, 'connect');
      const back: Buffer[] = [];
      client.on('data', (d: Buffer) => back.push(d));
      client.end(toServer);
      await once(client, 'end');
      expect(sha(serverGot)).toBe(sha(toServer));
      expect(sha(Buffer.concat(back))).toBe(sha(toClient));
      for (const s of [s1, s2]) {
        const st = s.stats();
        expect(st.tcp!.OutGsoSegs).toBeGreaterThan(0);
        expect(st.tcp!.InCsumTrusted).toBeGreaterThan(0);
        expect(st.tcp!.InCsumErrors).toBe(0);
        expect(st.link!.TxGsoPackets).toBeGreaterThan(0);
        expect(st.link!.RxGsoPackets).toBeGreaterThan(0);
        expect(st.ip!.InGsoDatagrams).toBeGreaterThan(0);
      }
      server.close();
    } finally {
      await s1.close();
      await s2.close();
    }
  }, 30_000);

  it('over IPv6: TSO6 super-segments both ways, 1 MB each way exact, one flow label per connection and direction', async () => {
    const pair = createLinkPair({ mtu: 1500, offload: true, queueLimit: 4096 });
    const a = spy(pair.a);
    const b = spy(pair.b);
    const s1 = await createStack({ link: a.link, address: ['10.0.0.1', 'fd07::1'] });
    const s2 = await createStack({ link: b.link, address: ['10.0.0.2', 'fd07::2'] });
    try {
      await exchange(s1, s2, 'fd07::2');
      for (const s of [s1, s2]) {
        const st = s.stats();
        expect(st.tcp!.OutGsoSegs).toBeGreaterThan(0);
        expect(st.tcp!.InCsumErrors).toBe(0);
        expect(st.ip6!.Ip6OutGsoDatagrams).toBeGreaterThan(0);
        expect(st.ip6!.Ip6InGsoDatagrams).toBeGreaterThan(0);
        expect(st.ip6!.Ip6FragCreates).toBe(0);
        expect(st.ip!.OutOffloaded).toBe(0); // nothing went over IPv4
      }
      // RFC 6437 §3: every TCP/IPv6 packet a side sent carries the one label of its connection.
      for (const side of [a, b]) {
        expect(side.labels.size).toBe(1);
        const [label] = [...side.labels];
        expect(label).toBeGreaterThan(0);
        expect(label).toBeLessThanOrEqual(0xfffff);
      }
      expect([...a.labels][0]).not.toBe([...b.labels][0]); // each side its own: not echoed
    } finally {
      await s1.close();
      await s2.close();
    }
  }, 30_000);

  it('a link that agreed TSO4 but not TSO6: IPv6 goes one MSS per packet (checksum still offloaded), IPv4 keeps its super-segments', async () => {
    const pair = createLinkPair({ mtu: 1500, offload: true, queueLimit: 4096 });
    const tso4Only = { tso4: true, csum: true };
    const s1 = await createStack({ link: spy(pair.a, tso4Only).link, address: ['10.0.0.1', 'fd07::1'] });
    const s2 = await createStack({ link: spy(pair.b, tso4Only).link, address: ['10.0.0.2', 'fd07::2'] });
    try {
      expect(s1.linkInfo().offload).toEqual(tso4Only);
      await exchange(s1, s2, 'fd07::2');
      for (const s of [s1, s2]) {
        const st = s.stats();
        expect(st.ip6!.Ip6OutOffloaded).toBeGreaterThan(0);
        expect(st.ip6!.Ip6OutGsoDatagrams).toBe(0);
        expect(st.ip6!.Ip6InGsoDatagrams).toBe(0);
        expect(st.tcp!.OutGsoSegs).toBe(0);
        expect(st.tcp!.SendErrors).toBe(0);
      }
      await exchange(s1, s2, '10.0.0.2');
      expect(s1.stats().ip!.OutGsoDatagrams).toBeGreaterThan(0);
    } finally {
      await s1.close();
      await s2.close();
    }
  }, 30_000);

  it('TCP to the stack\'s own IPv6 address on an offload link: partial-checksum segments looped whole, exact, nothing on the link', async () => {
    const { a } = createLinkPair({ mtu: 1500, offload: true });
    const s = await createStack({ link: a, address: ['10.0.0.1', 'fd07::1'] });
    try {
      await exchange(s, s, 'fd07::1');
      const st = s.stats();
      expect(st.link!.TxPackets).toBe(0);
      expect(st.ip6!.Ip6OutLoopback).toBeGreaterThan(10);
      expect(st.ip6!.Ip6OutOffloaded).toBe(0); // counted for the link only
      expect(st.tcp!.OutCsumOffloaded).toBeGreaterThan(10);
      expect(st.tcp!.InCsumErrors).toBe(0);
    } finally {
      await s.close();
    }
  }, 30_000);

  it('impair cannot be combined with an offload link', async () => {
    const { a } = createLinkPair({ offload: true });
    await expect(createStack({ link: a, address: '10.0.0.1', impair: 'loss=1%' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });
});
