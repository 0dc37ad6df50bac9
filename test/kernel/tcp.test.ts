/**
 * Kernel-facing: the kernel's TCP (curl, node:net, node:http clients and
 * servers) talks to the stack's TCP over tun0/tun1 inside private namespaces made
 * here. Every byte is checked: /bytes/N against its i % 256 pattern, uploads and
 * echoes by sha256 and byte-by-byte comparison.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netns, Server, cli, repoRoot } from './netns.js';

const STACK = '10.7.0.2';
const IMPAIR = 'loss=3%,reorder=25%,dup=1%,delay=5ms,seed=7';
const httpClient = join(repoRoot, 'test/kernel/fixtures/tcp-http-client.mjs');
const echoClient = join(repoRoot, 'test/kernel/fixtures/tcp-echo-client.mjs');

let ns: Netns;
let server: Server;
let snmpBefore: Record<string, number>;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'netstack-tcp-'));
  ns = Netns.create('tcp');
  server = await ns.serve(['--stats']);
  snmpBefore = ns.snmp();
});

afterAll(async () => {
  await ns?.close();
  rmSync(dir, { recursive: true, force: true });
});


/** Runs a kernel-side fixture and parses the one JSON line it prints. */
async function fixture(where: Netns, script: string, args: string[], timeoutMs: number): Promise<any> {
  const r = await where.run(process.execPath, [script, ...args], { timeoutMs });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (!line.startsWith('{')) throw new Error(`${script} ${args.join(' ')} printed no result (code ${r.code ?? r.signal}): ${r.stdout.slice(-300)} ${r.stderr.slice(-500)}`);
  return JSON.parse(line);
}

const PATTERN = Buffer.alloc(65536 + 256);
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = i & 0xff;

interface CurlResult { code: number | null; bytes: number; firstBad: number; info: string; stderr: string; seconds: number }

/**
 * `curl URL` inside the namespace; its stdout is checked as it streams against
 * byte i = i % 256 (every byte compared, nothing written to disk).
 */
function curlPattern(where: Netns, url: string, maxSeconds: number): Promise<CurlResult> {
  return new Promise((resolveCurl, reject) => {
    const t0 = performance.now();
    const child = where.spawn('curl', ['-sS', '-m', String(maxSeconds), '-w', '%{stderr}\n%{http_code} %{size_download} %{speed_download}\n', url]);
    let bytes = 0;
    let firstBad = -1;
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => {
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
      resolveCurl({ code, bytes, firstBad, info, stderr, seconds: (performance.now() - t0) / 1000 });
    });
  });
}

function mbps(bytes: number, seconds: number): string {
  return `${(bytes / 1e6 / seconds).toFixed(1)} MB/s`;
}

describe('curl downloads /bytes/N from the stack exactly', () => {
  const sizes: Array<[number, number]> = [[0, 10], [1, 10], [1460, 10], [1461, 10], [65536, 10], [10_000_000, 30], [1_073_741_824, 100]];
  for (const [n, maxSeconds] of sizes) {
    it(`GET /bytes/${n}`, { timeout: (maxSeconds + 20) * 1000 }, async () => {
      const r = await curlPattern(ns, `http://${STACK}/bytes/${n}`, maxSeconds);
      expect(r.code, r.stderr).toBe(0);
      expect(r.info).toMatch(new RegExp(`^200 ${n} `));
      expect(r.bytes).toBe(n);
      expect(r.firstBad).toBe(-1);
      if (n >= 1e6) console.log(`GET /bytes/${n}: ${r.seconds.toFixed(2)} s, ${mbps(n, r.seconds)} (curl: ${r.info.split(' ')[2]} B/s)`);
    });
  }
});

describe('uploads, echo and many connections from kernel-side node clients', () => {
  it('POST /sink of 100 MB random bytes: the stack counts and hashes exactly what was sent', async () => {
    const r = await fixture(ns, httpClient, ['post', `http://${STACK}/sink`, String(100_000_000)], 90_000);
    expect(r.status, JSON.stringify(r)).toBe(200);
    expect(r.sent).toBe(100_000_000);
    expect(r.answer).toEqual({ bytes: 100_000_000, sha256: r.sha256 });
    console.log(`POST /sink 100 MB: ${r.ms} ms, ${mbps(r.sent, r.ms / 1000)}`);
  });

  it('20 MB through TCP echo :7 comes back exact, then the stack ends its side', async () => {
    const r = await fixture(ns, echoClient, ['stream', STACK, '7', String(20_000_000)], 60_000);
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true, sent: 20_000_000, got: 20_000_000, ended: true, error: null, firstBad: -1, sameSha256: true });
    console.log(`echo 20 MB: ${r.ms} ms`);
  });

  it('200 concurrent echo connections, 10 KB each, all exact', async () => {
    const r = await fixture(ns, echoClient, ['many', STACK, '7', '200', '10000'], 60_000);
    expect(r.bad, JSON.stringify(r)).toEqual([]);
    expect(r).toMatchObject({ count: 200, okCount: 200, totalBytes: 200 * 10_000 });
  });

  it('200 concurrent HTTP GET /bytes/10000 (one connection each), all exact', async () => {
    const r = await fixture(ns, httpClient, ['many', `http://${STACK}/bytes/10000`, '10000', '200'], 60_000);
    expect(r.bad, JSON.stringify(r)).toEqual([]);
    expect(r).toMatchObject({ count: 200, okCount: 200, totalBytes: 200 * 10_000 });
  });
});

describe('refusal, half-close and RST as the kernel expects', () => {
  it('a SYN to a closed port is refused at once (node:net ECONNREFUSED)', async () => {
    const r = await fixture(ns, echoClient, ['refused', STACK, '81'], 10_000);
    expect(r.error, JSON.stringify(r)).toBe('ECONNREFUSED');
    expect(r.ms).toBeLessThan(1000);
  });

  it('curl to a closed port fails with "Couldn\'t connect" in well under a second', async () => {
    const t0 = performance.now();
    const r = await ns.run('curl', ['-sS', '-m', '5', `http://${STACK}:81/`], { timeoutMs: 10_000 });
    const seconds = (performance.now() - t0) / 1000;
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/Couldn't connect/);
    // Includes starting curl under `ip netns exec`; a lost RST would take ≥ 1 s (SYN retry).
    expect(seconds).toBeLessThan(1);
  });

  it('half-close: the client sends 256 KB and its FIN before reading; all of the echo still arrives, then the stack\'s FIN', async () => {
    const r = await fixture(ns, echoClient, ['halfclose', STACK, '7', String(256 * 1024)], 30_000);
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true, sent: 262144, got: 262144, ended: true, error: null, firstBad: -1, sameSha256: true });
    // Nothing was read before the kernel had sent our FIN: every echoed byte came after it.
    expect(r.gotBeforeFinish).toBe(0);
  });

  it('a kernel RST in the middle of a 1 GB download leaves the stack healthy', async () => {
    const r = await fixture(ns, httpClient, ['reset', `http://${STACK}/bytes/1000000000`, String(5_000_000)], 30_000);
    expect(r, JSON.stringify(r)).toMatchObject({ status: 200, reset: true, firstBad: -1 });
    expect(r.received).toBeGreaterThanOrEqual(5_000_000);
    expect(r.received).toBeLessThan(1_000_000_000);
    const after = await curlPattern(ns, `http://${STACK}/bytes/1000000`, 10);
    expect(after.code, after.stderr).toBe(0);
    expect(after.bytes).toBe(1_000_000);
    expect(after.firstBad).toBe(-1);
    // The reset is counted in the stack's stats, checked at shutdown below.
  });
});

describe('the stack connects out to a kernel-side server', () => {
  it('netstack fetch over tun1 gets 5 MB from a node:http server with the right sha256', async () => {
    const { child: srv, sha256: expectedSha, out } = await ns.httpFixture(8080, 5_000_000);
    try {
      const body = join(dir, 'fetched.bin');
      const r = await ns.run(process.execPath, [cli, 'fetch', '--stats', '-m', '30', '-o', body, '--tun', 'tun1', '--kernel-addr', '10.7.1.1/24', '--addr', '10.7.1.2', 'http://10.7.1.1:8080/big'], { timeoutMs: 45_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/200/);
      // The stack carried the request, not the kernel's own TCP (10.7.1.1 is a local
      // address of the kernel, so it would answer a kernel client over loopback): the
      // server saw the stack's address, once, and the stack counted the connection and
      // the segments of the body.
      expect(out().match(/^peer .*$/gm), out()).toEqual([expect.stringMatching(/^peer 10\.7\.1\.2 \d+ \/big$/)]);
      const stats = JSON.parse(r.stderr.split('\n').find((l) => l.startsWith('stats '))!.slice(6));
      expect(stats.tcp.ActiveOpens).toBe(1);
      expect(stats.tcp.InSegs).toBeGreaterThan(10); // 64 KB super-segments with offloads
      expect(stats.link.RxBytes).toBeGreaterThan(5_000_000);
      expect(r.stderr.match(/sha256 ([0-9a-f]{64})/)?.[1], r.stderr).toBe(expectedSha);
      const got = readFileSync(body);
      expect(got.length).toBe(5_000_000);
      expect(createHash('sha256').update(got).digest('hex')).toBe(expectedSha);
      expect(ns.links()).not.toContain('tun1');
      console.log(`fetch: ${r.stderr.split('\n').find((l) => l.startsWith('HTTP/'))}`);
    } finally {
      srv.kill('SIGTERM');
    }
  });
});

describe('shutdown of the clean instance', () => {
  it('SIGTERM: exit 0, tun0 gone, the reset was counted, and the kernel threw nothing of ours away', async () => {
    const { code } = await server.stop();
    expect(code, server.stderr).toBe(0);
    expect(ns.links()).not.toContain('tun0');
    const statsLine = server.stdout.split('\n').find((l) => l.startsWith('stats '));
    expect(statsLine, server.stdout).toBeDefined();
    const stats = JSON.parse(statsLine!.slice(6));
    console.log(`clean instance tcp stats: ${JSON.stringify(stats.tcp)}`);
    // 1 GiB + 10 MB + ... of downloads, 100 MB + 20 MB up, 400 + connections.
    expect(stats.tcp.PassiveOpens).toBeGreaterThanOrEqual(400);
    expect(stats.tcp.RstsReceived).toBeGreaterThanOrEqual(1);
    expect(stats.tcp.EstabResets).toBeGreaterThanOrEqual(1);
    expect(stats.tcp.OutRsts).toBeGreaterThanOrEqual(2); // the two SYNs to :81
    expect(stats.tcp.InCsumErrors).toBe(0);
    expect(stats.tcp['dropped.BadChecksum']).toBe(0);
    const after = ns.snmp();
    expect(after['Tcp.InCsumErrors']).toBe(snmpBefore['Tcp.InCsumErrors']);
    expect(after['Tcp.InErrs']).toBe(snmpBefore['Tcp.InErrs']);
    expect(after['Ip.InHdrErrors']).toBe(snmpBefore['Ip.InHdrErrors']);
    expect(after['Ip.InAddrErrors']).toBe(snmpBefore['Ip.InAddrErrors']);
    // The counters were read where the traffic went (≥ 1 GiB received by the kernel).
    expect(after['Tcp.InSegs']! - snmpBefore['Tcp.InSegs']!).toBeGreaterThan(10_000);
  });
});

describe(`an impaired link (--impair ${IMPAIR})`, () => {
  let ins: Netns;
  let iserver: Server;
  let isnmpBefore: Record<string, number>;

  beforeAll(async () => {
    ins = Netns.create('tcpimp');
    iserver = await ins.serve(['--stats', '--impair', IMPAIR]);
    isnmpBefore = ins.snmp();
  });

  afterAll(async () => {
    await ins?.close();
  });

  // 8 MB: the stack sends through loss on its data and its ACKs, about 1 MB/s with CUBIC
  // (the kernel's POST below is faster: a namespace here inherits BBR); exactness is the point.
  it('GET /bytes/8000000 arrives exact', { timeout: 150_000 }, async () => {
    const r = await curlPattern(ins, `http://${STACK}/bytes/8000000`, 120);
    expect(r.code, r.stderr).toBe(0);
    expect(r.bytes).toBe(8_000_000);
    expect(r.firstBad).toBe(-1);
    console.log(`impaired GET 8 MB: ${r.seconds.toFixed(1)} s, ${mbps(r.bytes, r.seconds)}`);
  });

  it('POST /sink of 20 MB arrives exact', { timeout: 150_000 }, async () => {
    const r = await fixture(ins, httpClient, ['post', `http://${STACK}/sink`, String(20_000_000)], 130_000);
    expect(r.status, JSON.stringify(r)).toBe(200);
    expect(r.answer).toEqual({ bytes: 20_000_000, sha256: r.sha256 });
    console.log(`impaired POST 20 MB: ${(r.ms / 1000).toFixed(1)} s, ${mbps(r.sent, r.ms / 1000)}`);
  });

  it('SIGTERM: exit 0, tun0 gone, impairment really applied, no checksum errors in the kernel', async () => {
    const { code } = await iserver.stop();
    expect(code, iserver.stderr).toBe(0);
    expect(ins.links()).not.toContain('tun0');
    const stats = JSON.parse(iserver.stdout.split('\n').find((l) => l.startsWith('stats '))!.slice(6));
    console.log(`impaired instance: tcp ${JSON.stringify(stats.tcp)} impair ${JSON.stringify(stats.impair)}`);
    expect(stats.impair.Lost).toBeGreaterThan(100);
    expect(stats.impair.Reordered).toBeGreaterThan(100);
    expect(stats.impair.Duplicated).toBeGreaterThan(10);
    expect(stats.tcp.RetransSegs).toBeGreaterThan(0);
    const after = ins.snmp();
    // Duplicated SYN-ACKs legitimately count as Tcp.InErrs in Linux, so only checksums here.
    expect(after['Tcp.InCsumErrors']).toBe(isnmpBefore['Tcp.InCsumErrors']);
    expect(after['Ip.InHdrErrors']).toBe(isnmpBefore['Ip.InHdrErrors']);
  });
});
