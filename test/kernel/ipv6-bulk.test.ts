/**
 * Big IPv6 traffic from the kernel to `netstack serve` (issue 11, "Tests"), in a private
 * namespace made here (Netns.create; never the machine's own):
 * - `ping -6` at 56, 1452, 4000, 20000, 65000 and 65527 bytes (the largest echo an IPv6
 *   datagram holds: 65527 + 8 = 65535 bytes of payload); from 4000 up the kernel's request
 *   arrives in fragments the stack reassembles and the stack's reply leaves in fragments it
 *   made at the source (RFC 8200 §4.5), counted on both sides. `ping -6 -f` for 2 s: every
 *   request the kernel sent was answered.
 * - `curl -6 -g 'http://[fd07::2]/bytes/N'` for N = 0 .. 1 GiB: exact length, every byte
 *   compared with i % 256 as it streams, and the sha256 of what arrived equal to the sha256
 *   computed here of the same pattern.
 * - A 100 MB POST (sha256 both ends), 20 MB through TCP echo :7, 200 concurrent echo and
 *   200 concurrent HTTP connections, all over IPv6, from kernel-side node clients.
 * - A closed TCP port over IPv6: refused at once, the stack's OutRsts rises.
 * That netstack carried each transfer over IPv6 is proved by its own counters read around
 * it (SIGUSR2 stats: link TxBytes / RxBytes cover the bytes, ip6 counters rise, the IPv4
 * layer's OutRequests do not), and the kernel's /proc/net/snmp6 for ICMPv6 and fragments.
 * Every ping, curl and fixture is bounded in count and time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Netns, type Server, liveStats, repoRoot, statCount, statsLines, type Stats } from './netns.js';

const n = statCount;
const STACK6 = 'fd07::2';
const URL6 = `http://[${STACK6}]`;
const httpClient = join(repoRoot, 'test/kernel/fixtures/tcp-http-client.mjs');
const echoClient = join(repoRoot, 'test/kernel/fixtures/tcp-echo-client.mjs');

/** /proc/net/snmp6 of the namespace as { Icmp6InEchoReplies: n, ... }. */
function snmp6(ns: Netns): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of ns.runSync('cat', ['/proc/net/snmp6']).split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k !== undefined && v !== undefined) out[k] = Number(v);
  }
  return out;
}

/** Counter deltas of interest between two stats snapshots. */
function delta(before: Stats, after: Stats, layer: string, key: string): number {
  return n(after, layer, key) - n(before, layer, key);
}

/**
 * netstack carried `bytesOut` bytes to the kernel and `bytesIn` from it over IPv6 between
 * the two snapshots: the link moved at least that much each way, the IPv6 layer sent and
 * received, the IPv4 layer sent nothing (nothing else talks IPv4 in this namespace).
 */
function expectCarriedOver6(before: Stats, after: Stats, bytesOut: number, bytesIn: number): void {
  expect(delta(before, after, 'link', 'TxBytes')).toBeGreaterThanOrEqual(bytesOut);
  expect(delta(before, after, 'link', 'RxBytes')).toBeGreaterThanOrEqual(bytesIn);
  expect(delta(before, after, 'ip6', 'Ip6OutRequests')).toBeGreaterThan(0);
  expect(delta(before, after, 'ip6', 'Ip6InReceives')).toBeGreaterThan(0);
  expect(delta(before, after, 'ip', 'OutRequests')).toBe(0);
  expect(n(after, 'stack', 'InternalErrors')).toBe(0);
}

/** Runs a kernel-side fixture and parses the one JSON line it prints. */
async function fixture(where: Netns, script: string, args: string[], timeoutMs: number): Promise<any> {
  const r = await where.run(process.execPath, [script, ...args], { timeoutMs });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (!line.startsWith('{')) throw new Error(`${script} ${args.join(' ')} printed no result (code ${r.code ?? r.signal}): ${r.stdout.slice(-300)} ${r.stderr.slice(-500)}`);
  return JSON.parse(line);
}

// Byte i of /bytes/N is i % 256 (packages/netstack/src/services.ts).
const PATTERN = Buffer.alloc(65536 + 256);
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = i & 0xff;

/** sha256 of the first `size` bytes of the i % 256 pattern, computed here. */
function patternSha256(size: number): string {
  const h = createHash('sha256');
  const block = PATTERN.subarray(0, 65536); // a multiple of 256: blocks join seamlessly
  let left = size;
  for (; left >= block.length; left -= block.length) h.update(block);
  h.update(block.subarray(0, left));
  return h.digest('hex');
}

interface CurlResult { code: number | null; bytes: number; firstBad: number; sha256: string; info: string; stderr: string; seconds: number }

/**
 * `curl -6 -g URL` inside the namespace; its stdout is hashed and compared with byte
 * i = i % 256 as it streams (nothing written to disk).
 */
function curl6(where: Netns, url: string, maxSeconds: number): Promise<CurlResult> {
  return new Promise((resolveCurl, reject) => {
    const t0 = performance.now();
    const child = where.spawn('curl', ['-6', '-g', '-sS', '-m', String(maxSeconds), '-w', '%{stderr}\n%{http_code} %{size_download} %{remote_ip}\n', url]);
    const hash = createHash('sha256');
    let bytes = 0;
    let firstBad = -1;
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      for (let p = 0; p < chunk.length; p += 65536) {
        const piece = chunk.subarray(p, p + 65536);
        const start = (bytes + p) & 0xff;
        if (firstBad < 0 && !piece.equals(PATTERN.subarray(start, start + piece.length))) {
          for (let i = 0; i < piece.length; i++) if (piece[i] !== ((bytes + p + i) & 0xff)) { firstBad = bytes + p + i; break; }
        }
      }
      bytes += chunk.length;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), (maxSeconds + 10) * 1000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => {
      clearTimeout(timer);
      const info = stderr.trim().split('\n').pop() ?? '';
      resolveCurl({ code, bytes, firstBad, sha256: hash.digest('hex'), info, stderr, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

let ns: Netns;
let server: Server;
let k0: Record<string, number>;

beforeAll(async () => {
  ns = Netns.create('ip6bulk');
  ns.setIpv6Disabled(false);
  server = await ns.serve(['--stats']);
  k0 = snmp6(ns);
}, 30_000);

afterAll(async () => { await ns?.close(); });

describe('ping -6 of every size up to the largest IPv6 datagram', () => {
  for (const size of [56, 1452, 4000, 20000, 65000, 65527]) {
    // 1452 + 8 + 40 = 1500: the largest unfragmented; above it both directions fragment.
    const fragments = size > 1452;
    it(`ping -6 -s ${size}: 2 of 2 replies of ${size + 8} bytes from fd07::2, counted by netstack${fragments ? ' (fragmented both ways)' : ''}`, async () => {
      const before = await liveStats(server);
      const kb = snmp6(ns);
      const r = await ns.run('ping', ['-6', '-c', '2', '-i', '0.2', '-W', '3', '-s', String(size), STACK6], { timeoutMs: 20_000 });
      expect(r.stdout, r.stderr).toMatch(/2 packets transmitted, 2 received/);
      expect(r.stdout).toMatch(new RegExp(`${size + 8} bytes from fd07::2`));
      const after = await liveStats(server);
      const ka = snmp6(ns);
      expect(delta(before, after, 'icmp6', 'Icmp6InEchos')).toBe(2);
      expect(delta(before, after, 'icmp6', 'Icmp6OutEchoReplies')).toBe(2);
      expect(ka['Icmp6InEchoReplies']! - kb['Icmp6InEchoReplies']!).toBe(2);
      // Each reply carries the whole request back: at least 2 × size bytes each way.
      expectCarriedOver6(before, after, 2 * size, 2 * size);
      if (fragments) {
        // The stack reassembled the kernel's 2 requests and fragmented its 2 replies;
        // the kernel did the same the other way round.
        expect(delta(before, after, 'ip6', 'Ip6ReasmOKs')).toBe(2);
        expect(delta(before, after, 'ip6', 'Ip6FragOKs')).toBe(2);
        expect(delta(before, after, 'ip6', 'Ip6FragCreates')).toBe(2 * Math.ceil((size + 8) / 1448));
        expect(ka['Ip6FragOKs']! - kb['Ip6FragOKs']!).toBe(2);
        expect(ka['Ip6ReasmOKs']! - kb['Ip6ReasmOKs']!).toBe(2);
      } else {
        expect(delta(before, after, 'ip6', 'Ip6FragOKs')).toBe(0);
        expect(delta(before, after, 'ip6', 'Ip6ReasmReqds')).toBe(0);
      }
    }, 30_000);
  }

  it('ping -6 -f for 2 s: every request the kernel sent was answered by netstack', async () => {
    const before = await liveStats(server);
    const r = await ns.run('ping', ['-6', '-q', '-f', '-w', '2', STACK6], { timeoutMs: 15_000 });
    const m = /(\d+) packets transmitted, (\d+) received/.exec(r.stdout);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    const sent = Number(m![1]);
    const received = Number(m![2]);
    // A barrier, not a sleep: once this reply is back the stack has read every request before it.
    const barrier = await ns.run('ping', ['-6', '-c', '1', '-W', '3', STACK6], { timeoutMs: 10_000 });
    expect(barrier.stdout).toMatch(/1 received/);
    const after = await liveStats(server);
    console.log(`ping -6 -f -w 2: ${sent} sent, ${received} received`);
    expect(sent).toBeGreaterThan(1000);
    // -w 2 stops ping at the deadline with at most its last request's reply still on the way.
    expect(received).toBeGreaterThanOrEqual(sent - 1);
    // The stack saw and answered every one of them (+1: the barrier).
    expect(delta(before, after, 'icmp6', 'Icmp6InEchos')).toBe(sent + 1);
    expect(delta(before, after, 'icmp6', 'Icmp6OutEchoReplies')).toBe(sent + 1);
    expect(delta(before, after, 'icmp6', 'Icmp6RateLimited')).toBe(0);
    expect(delta(before, after, 'link', 'TxDropped')).toBe(0);
  }, 30_000);
});

describe('curl -6 downloads /bytes/N from fd07::2 exactly', () => {
  // MSS over IPv6: 1500 − 40 − 20 = 1440, less 12 for timestamps: 1428 bytes a segment.
  const sizes: Array<[number, number]> = [[0, 10], [1, 10], [1428, 10], [1429, 10], [65536, 10], [10_000_000, 30], [1_073_741_824, 100]];
  for (const [size, maxSeconds] of sizes) {
    it(`GET [fd07::2]/bytes/${size}: ${size} bytes, i % 256, sha256 as computed here`, { timeout: (maxSeconds + 20) * 1000 }, async () => {
      const want = patternSha256(size);
      const before = await liveStats(server);
      const r = await curl6(ns, `${URL6}/bytes/${size}`, maxSeconds);
      const after = await liveStats(server);
      expect(r.code, r.stderr).toBe(0);
      expect(r.info).toBe(`200 ${size} fd07::2`);
      expect(r.bytes).toBe(size);
      expect(r.firstBad).toBe(-1);
      expect(r.sha256).toBe(want);
      expect(delta(before, after, 'tcp', 'PassiveOpens')).toBe(1);
      expectCarriedOver6(before, after, size, 0);
      if (size >= 1e6) console.log(`GET [fd07::2]/bytes/${size}: ${r.seconds.toFixed(2)} s, ${(size / 1e6 / r.seconds).toFixed(1)} MB/s`);
    });
  }
});

describe('uploads, echo and many connections over IPv6 from kernel-side node clients', () => {
  it('POST /sink of 100 MB random bytes to [fd07::2]: the stack counts and hashes exactly what was sent', async () => {
    const before = await liveStats(server);
    const r = await fixture(ns, httpClient, ['post', `${URL6}/sink`, String(100_000_000)], 90_000);
    const after = await liveStats(server);
    expect(r.status, JSON.stringify(r)).toBe(200);
    expect(r.sent).toBe(100_000_000);
    expect(r.answer).toEqual({ bytes: 100_000_000, sha256: r.sha256 });
    expectCarriedOver6(before, after, 0, 100_000_000);
    console.log(`POST [fd07::2]/sink 100 MB: ${r.ms} ms`);
  }, 100_000);

  it('20 MB through TCP echo [fd07::2]:7 comes back exact, then the stack ends its side', async () => {
    const before = await liveStats(server);
    const r = await fixture(ns, echoClient, ['stream', STACK6, '7', String(20_000_000)], 60_000);
    const after = await liveStats(server);
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true, sent: 20_000_000, got: 20_000_000, ended: true, error: null, firstBad: -1, sameSha256: true });
    expectCarriedOver6(before, after, 20_000_000, 20_000_000);
    console.log(`echo [fd07::2]:7 20 MB: ${r.ms} ms`);
  }, 70_000);

  it('200 concurrent echo connections to [fd07::2]:7, 10 KB each, all exact', async () => {
    const before = await liveStats(server);
    const r = await fixture(ns, echoClient, ['many', STACK6, '7', '200', '10000'], 60_000);
    const after = await liveStats(server);
    expect(r.bad, JSON.stringify(r)).toEqual([]);
    expect(r).toMatchObject({ count: 200, okCount: 200, totalBytes: 200 * 10_000 });
    expect(delta(before, after, 'tcp', 'PassiveOpens')).toBe(200);
    expectCarriedOver6(before, after, 200 * 10_000, 200 * 10_000);
  }, 70_000);

  it('200 concurrent HTTP GET [fd07::2]/bytes/10000 (one connection each), all exact', async () => {
    const before = await liveStats(server);
    const r = await fixture(ns, httpClient, ['many', `${URL6}/bytes/10000`, '10000', '200'], 60_000);
    const after = await liveStats(server);
    expect(r.bad, JSON.stringify(r)).toEqual([]);
    expect(r).toMatchObject({ count: 200, okCount: 200, totalBytes: 200 * 10_000 });
    expect(delta(before, after, 'tcp', 'PassiveOpens')).toBe(200);
    expectCarriedOver6(before, after, 200 * 10_000, 0);
  }, 70_000);
});

describe('a closed TCP port over IPv6', () => {
  it('node:net to [fd07::2]:81: ECONNREFUSED at once, by the stack\'s RST', async () => {
    const before = await liveStats(server);
    const r = await fixture(ns, echoClient, ['refused', STACK6, '81'], 10_000);
    const after = await liveStats(server);
    expect(r.error, JSON.stringify(r)).toBe('ECONNREFUSED');
    expect(r.ms).toBeLessThan(1000);
    expect(delta(before, after, 'tcp', 'OutRsts')).toBe(1);
    expect(delta(before, after, 'tcp', 'dropped.NoSocket')).toBe(1);
  });

  it('curl -6 to [fd07::2]:81 fails with "Couldn\'t connect" in well under a second; OutRsts +1', async () => {
    const before = await liveStats(server);
    const t0 = performance.now();
    const r = await ns.run('curl', ['-6', '-g', '-sS', '-m', '5', `${URL6}:81/`], { timeoutMs: 10_000 });
    const seconds = (performance.now() - t0) / 1000;
    const after = await liveStats(server);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/Failed to connect to fd07::2 port 81.*Couldn't connect/);
    // Includes starting curl under `ip netns exec`; a lost RST would take ≥ 1 s (SYN retry).
    expect(seconds).toBeLessThan(1);
    expect(delta(before, after, 'tcp', 'OutRsts')).toBe(1);
  });
});

describe('shutdown', () => {
  it('SIGTERM: exit 0, tun0 gone, no checksum or header error on either side, IPv4 untouched', async () => {
    const { code } = await server.stop();
    expect(code, server.stderr).toBe(0);
    expect(ns.links()).not.toContain('tun0');
    const stats = JSON.parse(statsLines(server).at(-1)!.slice(6)) as Stats;
    console.log(`ip6 bulk instance tcp: ${JSON.stringify(Object.fromEntries(Object.entries(stats['tcp']!).filter(([, v]) => v !== 0)))}`);
    // 7 downloads, the POST, the 20 MB echo and 400 concurrent connections, all over IPv6.
    expect(n(stats, 'tcp', 'PassiveOpens')).toBe(7 + 2 + 400);
    expect(n(stats, 'tcp', 'InCsumErrors')).toBe(0);
    expect(n(stats, 'tcp', 'dropped.BadChecksum')).toBe(0);
    expect(n(stats, 'ip6', 'Ip6InHdrErrors')).toBe(0);
    expect(n(stats, 'icmp6', 'Icmp6InCsumErrors')).toBe(0);
    expect(n(stats, 'ip', 'InReceives')).toBe(0);
    expect(n(stats, 'ip', 'OutRequests')).toBe(0);
    expect(n(stats, 'link', 'TxBytes')).toBeGreaterThan(2 ** 30);
    expect(n(stats, 'stack', 'InternalErrors')).toBe(0);
    // The kernel threw nothing of ours away (it counts bad TCP checksums of both families in Tcp.InCsumErrors).
    const k1 = snmp6(ns);
    for (const key of ['Ip6InHdrErrors', 'Ip6InAddrErrors', 'Ip6InTruncatedPkts', 'Ip6ReasmFails', 'Icmp6InErrors', 'Icmp6InCsumErrors', 'Udp6InCsumErrors']) {
      expect(k1[key], key).toBe(k0[key]);
    }
    expect(ns.snmp()['Tcp.InCsumErrors']).toBe(0);
  }, 20_000);
});
