/**
 * Kernel-facing, captures that tell the truth: `netstack serve --pcap FILE` with
 * offloads on (TCP super-segments and partial checksums both ways) answers the kernel's ping
 * (also fragmented), a UDP client, curl downloading and uploading, and closed ports; then
 * tshark, with checksum validation on for IPv4, TCP and UDP, must find no bad checksum, no
 * malformed packet and no expert error in the file, and the TCP packets it counts both ways
 * must be the ones the file holds. tshark is installed when missing (as root), never skipped.
 *
 * The stack's ICMP port unreachable quotes a kernel UDP datagram that came with a partial
 * checksum (virtio NEEDS_CSUM): icmp quotes it completed, as a wire would have delivered it,
 * so tshark checks the quoted UDP checksum too and finds it good.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcap } from '@netstack/tun';
import { Netns, Server, cli, repoRoot } from './netns.js';

const STACK = '10.7.0.2';
const KERNEL = '10.7.0.1';
let ns: Netns;
let server: Server;
let dir: string;
let pcap: string;
let stats: Record<string, Record<string, number>>;

/** tshark on PATH, installed from Debian when missing (root); throws when that fails. */
function ensureTshark(): void {
  if (spawnSync('sh', ['-c', 'command -v tshark']).status === 0) return;
  if (process.getuid?.() !== 0) throw new Error('tshark is missing and only root can install it (apt-get install -y tshark)');
  // wireshark-common asks whether non-root users may capture: answer no, non-interactively.
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('sh', ['-c', 'echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections'], { env });
  let r = spawnSync('apt-get', ['install', '-y', '-q', 'tshark'], { env, encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-q'], { env, timeout: 300_000 });
    r = spawnSync('apt-get', ['install', '-y', '-q', 'tshark'], { env, encoding: 'utf8', timeout: 600_000 });
  }
  if (spawnSync('sh', ['-c', 'command -v tshark']).status !== 0) {
    throw new Error(`could not install tshark: ${(r.stderr || r.error?.message || '').slice(-500)}`);
  }
}

/** tshark -r FILE with checksum validation on for IPv4, TCP and UDP; one line per packet matching `filter`. */
function tshark(filter: string, fields: string[], file = pcap): string[] {
  const r = spawnSync('tshark', [
    '-r', file, '-n',
    '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
    '-Y', filter, '-T', 'fields', ...fields.flatMap((f) => ['-e', f]),
  ], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`tshark -Y '${filter}': ${r.stderr || r.error?.message}`);
  return r.stdout.split('\n').filter(Boolean);
}

const BAD = '_ws.expert.severity >= "Error" || _ws.malformed || ip.checksum.status == "Bad" || tcp.checksum.status == "Bad" || udp.checksum.status == "Bad" || icmp.checksum.status == "Bad"';
const BAD_FIELDS = ['frame.number', '_ws.expert.message'];

beforeAll(async () => {
  ensureTshark();
  dir = mkdtempSync(join(tmpdir(), 'netstack-pcap-'));
  pcap = join(dir, 'serve.pcap');
  ns = Netns.create('pcap');
  server = await ns.serve(['--pcap', pcap, '--stats']);
  expect(server.stdout).toMatch(/offload csum=true tso4=true/);

  // The demo's traffic, bounded in count and time.
  for (const size of [56, 4000]) {
    const r = await ns.run('ping', ['-c', '2', '-i', '0.2', '-W', '3', '-s', String(size), STACK], { timeoutMs: 20_000 });
    expect(r.stdout).toMatch(/2 packets transmitted, 2 received/);
  }
  const udp = await ns.run(process.execPath, [join(repoRoot, 'test/kernel/fixtures/udp-client.mjs'), STACK, '7', '1,1472,8000', '2000'], { timeoutMs: 20_000 });
  expect(JSON.parse(udp.stdout).ok).toBe(true);
  const closedUdp = await ns.run(process.execPath, [join(repoRoot, 'test/kernel/fixtures/udp-client.mjs'), STACK, '9999', '16', '2000'], { timeoutMs: 20_000 });
  expect(JSON.parse(closedUdp.stdout).errors).toMatchObject({ ECONNREFUSED: 1 });
  const down = await ns.run('curl', ['-sS', '-m', '30', '-o', '/dev/null', '-w', '%{size_download}', `http://${STACK}/bytes/4000000`], { timeoutMs: 40_000 });
  expect(down.stdout).toBe('4000000');
  const body = Buffer.alloc(4_000_000, 0x5a);
  const up = await ns.run('curl', ['-sS', '-m', '30', '--data-binary', '@-', `http://${STACK}/sink`], { timeoutMs: 40_000, input: body });
  expect(up.stdout).toContain('"bytes":4000000');
  const closedTcp = await ns.run('curl', ['-sS', '-m', '5', `http://${STACK}:81/`], { timeoutMs: 10_000 });
  expect(closedTcp.code).not.toBe(0);

  const { code } = await server.stop();
  expect(code).toBe(0);
  const line = server.stdout.split('\n').find((l) => l.startsWith('stats '));
  stats = JSON.parse(line!.slice(6));
}, 900_000);

afterAll(async () => {
  await ns?.close();
  if (dir && process.env.NETSTACK_KEEP_PCAP === undefined) rmSync(dir, { recursive: true, force: true });
  else if (dir) console.log(`capture kept: ${pcap}`);
});

describe('the capture of netstack serve with offloads is what the wire carries', () => {
  it('offloads were in use: partial checksums and super-segments crossed the device both ways', () => {
    expect(stats.link!.TxCsumOffload).toBeGreaterThan(0);
    expect(stats.link!.RxCsumPartial).toBeGreaterThan(0);
    expect(stats.link!.TxGsoPackets).toBeGreaterThan(0);
    expect(stats.link!.RxGsoPackets).toBeGreaterThan(0);
  });

  it('tshark with checksum validation finds 0 bad checksums, 0 malformed packets, 0 expert errors', () => {
    const bad = tshark(BAD, BAD_FIELDS);
    expect(bad.slice(0, 10)).toEqual([]);
    expect(bad.length).toBe(0);
    // One UDP datagram went to a closed port: one port unreachable, quoting it with a good checksum.
    expect(tshark('icmp.type == 3 && icmp.checksum.status == "Good" && udp.checksum.status == "Good"', ['frame.number'])).toHaveLength(1);
    // The validation was on: every TCP and UDP checksum was checked and found good.
    expect(tshark('tcp.checksum.status == "Good"', ['frame.number']).length).toBe(tshark('tcp', ['frame.number']).length);
    expect(tshark('udp.checksum.status == "Good"', ['frame.number']).length).toBe(tshark('udp', ['frame.number']).length);
  });

  it('the TCP packets tshark sees are all the file holds, in both directions', () => {
    const records = readPcap(readFileSync(pcap)).records;
    const tcpRecords = records.filter((r) => r.data[0]! >>> 4 === 4 && r.data[9] === 6);
    const lines = tshark('tcp', ['ip.src']);
    expect(lines.length).toBe(tcpRecords.length);
    // serve --stats: every packet seen was written (far below the 1 GiB default bound).
    expect(stats.pcap).toEqual({ Packets: records.length, Bytes: readFileSync(pcap).length, NotWritten: 0, MaxBytes: 2 ** 30 });
    const fromStack = lines.filter((l) => l === STACK).length;
    const fromKernel = lines.filter((l) => l === KERNEL).length;
    expect(fromStack).toBeGreaterThan(10);
    expect(fromKernel).toBeGreaterThan(10);
    expect(fromStack + fromKernel).toBe(lines.length);
    // Super-segments are recorded whole: some TCP records are larger than the 1500-byte MTU.
    expect(tcpRecords.some((r) => r.data.length > 1500)).toBe(true);
  });
});

describe('the capture of netstack fetch (the stack as the client) is what the wire carries', () => {
  it('a 3 MB download over the stack: 0 bad checksums, 0 malformed, and the bytes are in the capture', async () => {
    const { child: srv, sha256 } = await ns.httpFixture(8080, 3_000_000);
    const file = join(dir, 'fetch.pcap');
    try {
      const r = await ns.run(process.execPath, [cli, 'fetch', '-m', '30', '-o', '/dev/null', '--pcap', file, '--tun', 'tun1', '--kernel-addr', '10.7.1.1/24', '--addr', '10.7.1.2', 'http://10.7.1.1:8080/big'], { timeoutMs: 45_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr.match(/sha256 ([0-9a-f]{64})/)?.[1], r.stderr).toBe(sha256);
    } finally {
      srv.kill('SIGTERM');
    }
    expect(tshark(BAD, BAD_FIELDS, file)).toEqual([]);
    // The download really crossed the stack (not the kernel's own TCP over loopback): every
    // body byte is in TCP segments from the server to the stack's address.
    const lens = tshark('ip.src == 10.7.1.1 && ip.dst == 10.7.1.2 && tcp.len > 0', ['tcp.len'], file).map(Number);
    expect(lens.reduce((a, b) => a + b, 0)).toBeGreaterThan(3_000_000);
    expect(tshark('ip.src == 10.7.1.2 && tcp', ['frame.number'], file).length).toBeGreaterThan(2);
    expect(tshark('tcp.checksum.status == "Good"', ['frame.number'], file).length).toBe(tshark('tcp', ['frame.number'], file).length);
  }, 60_000);
});
