/**
 * TUN offloads against the kernel, in a namespace made here: `netstack serve --offload`
 * negotiates IFF_VNET_HDR + checksum/TCP segmentation offload, then the kernel's curl
 * downloads 200 MB and uploads 50 MB, byte-exact. The stack's counters must show GSO
 * super-segments in BOTH directions (the test fails when offloads are silently off), and
 * the namespace's /proc/net/snmp no checksum or header errors.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { Netns, Server } from './netns.js';

const STACK = '10.7.0.2';
let ns: Netns;
let server: Server;
let before: Record<string, number>;


beforeAll(async () => {
  ns = Netns.create('offl');
  server = await ns.serve(['--stats']); // offloads are the default
  before = ns.snmp();
});

afterAll(async () => {
  await ns?.close();
});

/** sha256 of N bytes with byte i = i % 256 (what GET /bytes/N serves). */
function patternSha(n: number): string {
  const block = Buffer.alloc(1 << 20);
  for (let i = 0; i < block.length; i++) block[i] = i & 0xff; // 1 MiB is a multiple of 256
  const h = createHash('sha256');
  let left = n;
  while (left > 0) { const k = Math.min(left, block.length); h.update(block.subarray(0, k)); left -= k; }
  return h.digest('hex');
}

describe('netstack serve --offload against the kernel', () => {
  it('negotiates the offloads', () => {
    expect(server.stdout).toMatch(/offload csum=true tso4=true/);
  });

  it('curl GET /bytes/200000000 is exact', async () => {
    const n = 200_000_000;
    const r = await ns.run('sh', ['-c', `curl -sS -m 60 http://${STACK}/bytes/${n} | sha256sum`], { timeoutMs: 90_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.split(' ')[0]).toBe(patternSha(n));
  });

  it('curl POST /sink of 50 MB is exact', async () => {
    const body = Buffer.alloc(50_000_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 13 + 7) & 0xff;
    const want = createHash('sha256').update(body).digest('hex');
    const r = await ns.run('curl', ['-sS', '-m', '60', '--data-binary', '@-', `http://${STACK}/sink`], { input: body, timeoutMs: 90_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ bytes: body.length, sha256: want });
  });

  it('super-segments went both ways; the kernel counted no checksum or header error', async () => {
    const after = ns.snmp();
    for (const k of ['Tcp.InCsumErrors', 'Tcp.InErrs', 'Ip.InHdrErrors', 'Ip.InDiscards', 'Udp.InCsumErrors']) {
      expect(after[k] ?? 0, k).toBe(before[k] ?? 0);
    }
    await server.stop();
    const line = server.stdout.split('\n').find((l) => l.startsWith('stats '));
    expect(line).toBeDefined();
    const stats = JSON.parse(line!.slice(6)) as Record<string, Record<string, number>>;
    // Sent: super-segments handed to the kernel with NEEDS_CSUM + GSO TCPv4.
    expect(stats.link!.txGsoPackets).toBeGreaterThan(100);
    expect(stats.tcp!.outGsoSegs).toBeGreaterThan(100);
    // Received: the kernel's GSO super-segments, taken whole without verifying the partial checksum.
    expect(stats.link!.rxGsoPackets).toBeGreaterThan(10);
    expect(stats.ip!.InGsoDatagrams).toBeGreaterThan(10);
    expect(stats.tcp!.inCsumTrusted).toBeGreaterThan(0);
    // Far fewer writes than 1448-byte segments would need.
    expect(stats.link!.txPackets).toBeLessThan(200_000_000 / 1448 / 4);
    expect(stats.tcp!.inCsumErrors).toBe(0);
    expect(stats.tcp!.retransSegs).toBeLessThan(100);
  });
});
