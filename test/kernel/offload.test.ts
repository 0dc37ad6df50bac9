/**
 * TUN offloads against the kernel, in a namespace made here: `netstack serve --offload`
 * negotiates IFF_VNET_HDR + checksum/TCP segmentation offload, then the kernel's curl
 * downloads 200 MB and uploads 50 MB, byte-exact. The stack's counters must show GSO
 * super-segments in BOTH directions (the test fails when offloads are silently off), and
 * the namespace's /proc/net/snmp no checksum or header errors.
 * UDP segmentation offload (USO, receive): a python3 sender in the namespace hands the
 * kernel UDP_SEGMENT sends (64 x 1000 bytes; 20 x 1200 + 345) for the stack's UDP echo;
 * every echo must come back exact, and the device's counters must show the super-datagrams
 * it split (the test fails when USO is silently off and the kernel segments instead).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { Netns, Server } from './netns.js';

/**
 * Kernel-side UDP GSO sender: each argument "COUNTxSIZE[+LAST]" is ONE sendmsg with
 * UDP_SEGMENT (103) = SIZE to the stack's UDP echo; datagram k of send s carries s, k and a
 * pattern. Then it collects the echoes (bounded: one per datagram sent, 5 s idle timeout)
 * and prints JSON { sent, received, bad, missing }.
 */
const USO_SENDER = String.raw`
import json, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
s.settimeout(5)
s.connect((sys.argv[1], 7))
want = {}
for si, spec in enumerate(sys.argv[2:]):
    count, rest = spec.split('x')
    size, _, last = rest.partition('+')
    sizes = [int(size)] * int(count) + ([int(last)] if last else [])
    s.setsockopt(socket.SOL_UDP, 103, int(size))
    buf = bytearray()
    for k, n in enumerate(sizes):
        d = bytes([si, k]) + bytes(((k * 31 + i * 7 + si) & 0xff) for i in range(n - 2))
        want[(si, k)] = d
        buf += d
    s.send(bytes(buf))
received, bad = 0, []
pending = dict(want)
for _ in range(len(want)):
    try:
        d = s.recv(65535)
    except socket.timeout:
        break
    received += 1
    key = (d[0], d[1]) if len(d) >= 2 else None
    if pending.pop(key, None) != d:
        bad.append([len(d)] + list(d[:2]))
print(json.dumps({'sent': len(want), 'received': received, 'bad': bad[:10], 'missing': [list(k) for k in list(pending)[:10]]}))
`;

const STACK = '10.7.0.2';
let ns: Netns;
let server: Server;
let before: Record<string, number>;
let finalStats: Promise<Record<string, Record<string, number>>> | undefined;

/** Stops the server (once) and returns the counters it printed on exit. */
function stopAndReadStats(): Promise<Record<string, Record<string, number>>> {
  finalStats ??= server.stop().then(() => {
    const line = server.stdout.split('\n').find((l) => l.startsWith('stats '));
    if (line === undefined) throw new Error(`no stats line in: ${server.stdout.slice(-500)}`);
    return JSON.parse(line.slice(6)) as Record<string, Record<string, number>>;
  });
  return finalStats;
}

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
    expect(server.stdout).toMatch(/offload csum=true tso4=true tso6=true uso4=true uso6=true/);
  });

  it('UDP_SEGMENT sends from the kernel reach the stack as the datagrams meant, echoed exact', async () => {
    const r = await ns.run('python3', ['-c', USO_SENDER, STACK, '64x1000', '20x1200+345'], { timeoutMs: 30_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ sent: 85, received: 85, bad: [], missing: [] });
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
    for (const k of ['Tcp.InCsumErrors', 'Tcp.InErrs', 'Ip.InHdrErrors', 'Ip.InDiscards', 'Udp.InCsumErrors', 'Udp.InErrors', 'Udp.RcvbufErrors']) {
      expect(after[k] ?? 0, k).toBe(before[k] ?? 0);
    }
    const stats = await stopAndReadStats();
    // Sent: super-segments handed to the kernel with NEEDS_CSUM + GSO TCPv4.
    expect(stats.link!.TxGsoPackets).toBeGreaterThan(100);
    expect(stats.tcp!.OutGsoSegs).toBeGreaterThan(100);
    // Received: the kernel's GSO super-segments, taken whole without verifying the partial checksum.
    expect(stats.link!.RxGsoPackets).toBeGreaterThan(10);
    expect(stats.ip!.InGsoDatagrams).toBeGreaterThan(10);
    expect(stats.tcp!.InCsumTrusted).toBeGreaterThan(0);
    // Far fewer writes than 1448-byte segments would need.
    expect(stats.link!.TxPackets).toBeLessThan(200_000_000 / 1448 / 4);
    expect(stats.tcp!.InCsumErrors).toBe(0);
    expect(stats.tcp!.RetransSegs).toBeLessThan(100);
  });
});

describe('UDP segmentation offload, counted', () => {
  it('the UDP_SEGMENT sends came over the device as super-datagrams and were split', async () => {
    const stats = await stopAndReadStats();
    // Both sends arrived whole (2 super-datagrams) and became their 85 datagrams; nothing malformed.
    expect(stats.link!.RxUsoPackets).toBeGreaterThanOrEqual(2);
    expect(stats.link!.RxUsoSegments).toBeGreaterThanOrEqual(85);
    expect(stats.link!.RxUsoDropped).toBe(0);
    // The UDP layer took each as its own datagram, trusting the partial checksum.
    expect(stats.udp!.InDatagrams).toBeGreaterThanOrEqual(85);
    expect(stats.udp!.InErrors).toBe(0);
    expect(stats.udp!.InCsumErrors).toBe(0);
  });
});
