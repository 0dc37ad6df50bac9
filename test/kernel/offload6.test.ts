/**
 * TUN offloads over IPv6 against the kernel, in a namespace made here (Netns.create, IPv6
 * on; never the machine's own): `netstack serve` (offloads on by default) must agree TSO6
 * and USO6 beside TSO4/USO4 (the ready line says so), and then:
 * - TSO6 both ways: during a `curl -6` download of 100 MB the stack's counters of IPv6
 *   super-segments SENT (ip6 Ip6OutGsoDatagrams, tcp OutGsoSegs) rise by hundreds, and
 *   during a 30 MB `curl -6` upload those of super-segments RECEIVED from the kernel's GSO
 *   (ip6 Ip6InGsoDatagrams, link RxGsoPackets) rise too; both byte-exact (sha256), and the
 *   kernel counts no checksum or IPv6 header error. With TSO6 silently off the counters
 *   stay flat and the test fails.
 * - USO6: a kernel-side UDP_SEGMENT send over IPv6 arrives as one super-datagram that the
 *   device splits (link RxUsoPackets), every echo exact.
 * - The flow label (RFC 6437 §3), read from the stack's own capture (--pcap: what it sent,
 *   as the wire carries it): every TCP/IPv6 packet the stack sent on one connection has one
 *   non-zero label, two connections have two labels, and neither is the kernel's label for
 *   that connection (not echoed).
 * Every wait is bounded (curl -m, run timeouts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcap } from '@netstack/tun';
import { Netns, type Server, type Stats, liveStats, statCount } from './netns.js';

const STACK6 = 'fd07::2';
const n = statCount;

/**
 * Kernel-side UDP GSO sender over IPv6: ONE sendmsg with UDP_SEGMENT (103) = 1200 of 30
 * datagrams + a 345-byte tail to the stack's UDP echo; then the echoes (bounded: one per
 * datagram, 5 s idle timeout). Prints JSON { sent, received, bad }.
 */
const USO6_SENDER = String.raw`
import json, socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
s.settimeout(5)
s.connect((sys.argv[1], 7))
sizes = [1200] * 30 + [345]
want = {}
buf = bytearray()
for k, n in enumerate(sizes):
    d = bytes([k]) + bytes(((k * 31 + i * 7) & 0xff) for i in range(n - 1))
    want[k] = d
    buf += d
s.setsockopt(socket.SOL_UDP, 103, 1200)
s.send(bytes(buf))
received, bad = 0, 0
for _ in range(len(want)):
    try:
        d = s.recv(65535)
    except socket.timeout:
        break
    received += 1
    if want.pop(d[0] if d else -1, None) != d:
        bad += 1
print(json.dumps({'sent': len(sizes), 'received': received, 'bad': bad}))
`;

/** sha256 of N bytes with byte i = i % 256 (what GET /bytes/N serves). */
function patternSha(size: number): string {
  const block = Buffer.alloc(1 << 20);
  for (let i = 0; i < block.length; i++) block[i] = i & 0xff;
  const h = createHash('sha256');
  for (let left = size; left > 0; left -= block.length) h.update(block.subarray(0, Math.min(left, block.length)));
  return h.digest('hex');
}

let ns: Netns;
let server: Server;
let dir: string;
let pcap: string;

beforeAll(async () => {
  ns = Netns.create('off6');
  ns.setIpv6Disabled(false);
  dir = mkdtempSync(join(tmpdir(), 'netstack-off6-'));
  pcap = join(dir, 'off6.pcap');
  // The capture records the first connections whole (the label checks), then stops growing
  // at 64 MB so the big transfers are not written twice.
  server = await ns.serve(['--addr6', STACK6, '--kernel-addr6', 'fd07::1/64', '--stats', '--pcap', pcap, '--pcap-max-bytes', String(64 << 20)]);
}, 30_000);

afterAll(async () => {
  await ns?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** The namespace's /proc/net/snmp6 as { Ip6InHdrErrors: n, ... }. */
function snmp6(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of ns.runSync('cat', ['/proc/net/snmp6']).split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k !== undefined && v !== undefined) out[k] = Number(v);
  }
  return out;
}

describe('netstack serve over IPv6 with TUN offloads', () => {
  it('agrees TSO6 and USO6 beside TSO4 and USO4', () => {
    expect(server.stdout).toMatch(/offload csum=true tso4=true tso6=true uso4=true uso6=true/);
  });

  it('two small curl -6 connections (a GET and a POST), exact: the flow-label connections of the capture', async () => {
    const get = await ns.run('sh', ['-c', `curl -6 -g -sS -m 30 'http://[${STACK6}]/bytes/3000000' | sha256sum`], { timeoutMs: 40_000 });
    expect(get.stderr).toBe('');
    expect(get.stdout.split(' ')[0]).toBe(patternSha(3_000_000));
    const body = Buffer.alloc(3_000_000, 0x5a);
    const post = await ns.run('curl', ['-6', '-g', '-sS', '-m', '30', '--data-binary', '@-', `http://[${STACK6}]/sink`], { input: body, timeoutMs: 40_000 });
    expect(post.stderr).toBe('');
    expect(JSON.parse(post.stdout)).toEqual({ bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
  }, 90_000);

  it('TSO6 out: a 100 MB curl -6 download leaves as IPv6 super-segments, exact', async () => {
    const before: Stats = await liveStats(server);
    const size = 100_000_000;
    const r = await ns.run('sh', ['-c', `curl -6 -g -sS -m 60 'http://[${STACK6}]/bytes/${size}' | sha256sum`], { timeoutMs: 90_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.split(' ')[0]).toBe(patternSha(size));
    const after = await liveStats(server);
    const d = (layer: string, key: string): number => n(after, layer, key) - n(before, layer, key);
    expect(d('ip6', 'Ip6OutGsoDatagrams')).toBeGreaterThan(300);
    expect(d('tcp', 'OutGsoSegs')).toBeGreaterThan(300);
    expect(d('link', 'TxGsoPackets')).toBeGreaterThan(300);
    expect(d('ip', 'OutGsoDatagrams')).toBe(0); // it was all IPv6
    // Far fewer writes than one per 1428-byte segment.
    expect(d('link', 'TxPackets')).toBeLessThan(size / 1428 / 4);
  }, 120_000);

  it('TSO6 in: a 30 MB curl -6 upload arrives as the kernel\'s IPv6 super-segments, exact', async () => {
    const before: Stats = await liveStats(server);
    const body = Buffer.alloc(30_000_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 13 + 7) & 0xff;
    const r = await ns.run('curl', ['-6', '-g', '-sS', '-m', '60', '--data-binary', '@-', `http://[${STACK6}]/sink`], { input: body, timeoutMs: 90_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    const after = await liveStats(server);
    const d = (layer: string, key: string): number => n(after, layer, key) - n(before, layer, key);
    expect(d('ip6', 'Ip6InGsoDatagrams')).toBeGreaterThan(10);
    expect(d('link', 'RxGsoPackets')).toBeGreaterThan(10);
    expect(d('ip', 'InGsoDatagrams')).toBe(0);
    expect(d('tcp', 'InCsumTrusted')).toBeGreaterThan(0);
  }, 120_000);

  it('USO6: a kernel UDP_SEGMENT send over IPv6 is split by the device, every echo exact', async () => {
    const before: Stats = await liveStats(server);
    const r = await ns.run('python3', ['-c', USO6_SENDER, STACK6], { timeoutMs: 30_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ sent: 31, received: 31, bad: 0 });
    const after = await liveStats(server);
    expect(n(after, 'link', 'RxUsoPackets') - n(before, 'link', 'RxUsoPackets')).toBeGreaterThanOrEqual(1);
    expect(n(after, 'link', 'RxUsoSegments') - n(before, 'link', 'RxUsoSegments')).toBeGreaterThanOrEqual(31);
    expect(n(after, 'udp', 'InCsumErrors')).toBe(0);
  }, 60_000);

  it('the kernel counted no TCP checksum or IPv6 header error; the stack none either', async () => {
    const k = snmp6();
    for (const key of ['Ip6InHdrErrors', 'Ip6InDiscards', 'Ip6InTruncatedPkts', 'Udp6InCsumErrors', 'Udp6InErrors']) expect(k[key] ?? 0, key).toBe(0);
    expect(ns.snmp()['Tcp.InCsumErrors'] ?? 0).toBe(0);
    const s = await liveStats(server);
    expect(n(s, 'tcp', 'InCsumErrors')).toBe(0);
    expect(n(s, 'ip6', 'Ip6InHdrErrors')).toBe(0);
  });

  it('flow labels from the capture: one non-zero label per connection, two connections two labels, not the kernel\'s', async () => {
    await server.stop(); // flushes and closes the capture
    const file = readPcap(readFileSync(pcap));
    /** Per connection (the kernel side's port), the labels each side used. */
    const ours = new Map<number, Set<number>>();
    const theirs = new Map<number, Set<number>>();
    for (const rec of file.records) {
      const p = rec.data;
      if (p.length < 60 || p[0]! >>> 4 !== 6 || p[6] !== 6) continue; // TCP/IPv6 without extension headers
      const label = ((p[1]! & 0x0f) << 16) | (p[2]! << 8) | p[3]!;
      const fromStack = p[8 + 15] === 2; // fd07::2 sent it
      const srcPort = (p[40]! << 8) | p[41]!;
      const dstPort = (p[42]! << 8) | p[43]!;
      const port = fromStack ? dstPort : srcPort;
      const m = fromStack ? ours : theirs;
      if (!m.has(port)) m.set(port, new Set());
      m.get(port)!.add(label);
    }
    // At least the two small connections are in the capture whole (it stopped growing at 64 MB).
    expect(ours.size).toBeGreaterThanOrEqual(2);
    const labels: number[] = [];
    for (const [port, set] of ours) {
      expect([...set], `connection from port ${port}`).toHaveLength(1);
      const label = [...set][0]!;
      expect(label).toBeGreaterThan(0);
      expect(label).toBeLessThanOrEqual(0xfffff);
      labels.push(label);
      // RFC 6437 §3: our label is ours, not a copy of the peer's (Linux labels its side too).
      for (const k of theirs.get(port) ?? []) expect(k).not.toBe(label);
    }
    expect(new Set(labels).size).toBe(labels.length);
  }, 30_000);
});
