/**
 * Offloads over a TAP, against the kernel, in a namespace made here (never the machine's
 * own): `netstack serve --tap` negotiates IFF_VNET_HDR with checksum, TSO4/TSO6 and USO on
 * the TAP by default (the virtio_net_hdr before the Ethernet header, offsets counted from
 * it), then byte-exact transfers both ways over IPv4 and IPv6. The counters must show
 * super-segments crossing the device in BOTH directions (this file fails when TAP offloads
 * are silently off, as they were before), the kernel no checksum or header error, and a
 * capture at the device (frames, LINKTYPE_ETHERNET) complete checksums in tshark's eyes.
 * `--no-offload` turns them off again (the off switch, as on a TUN).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netns, type Server, type Stats, liveStats, statCount } from './netns.js';

const STACK = '10.7.0.2';
const STACK6 = 'fd07::2';
const n = statCount;

/**
 * Kernel-side UDP GSO sender: ONE sendmsg with UDP_SEGMENT (103) = 1000 of 40 datagrams +
 * a 345-byte tail to the stack's UDP echo, then the echoes (bounded: one per datagram, 5 s
 * idle timeout). Prints JSON { sent, received, bad }.
 */
const USO_SENDER = String.raw`
import json, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)
s.settimeout(5)
s.connect((sys.argv[1], 7))
sizes = [1000] * 40 + [345]
want = {}
buf = bytearray()
for k, n in enumerate(sizes):
    d = bytes([k]) + bytes(((k * 31 + i * 7) & 0xff) for i in range(n - 1))
    want[k] = d
    buf += d
s.setsockopt(socket.SOL_UDP, 103, 1000)
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

function body(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 13 + seed) & 0xff;
  return b;
}

let ns: Netns;
let server: Server;
let dir: string;
let pcap: string;

beforeAll(async () => {
  ns = Netns.create('tapoff');
  ns.setIpv6Disabled(false);
  dir = mkdtempSync(join(tmpdir(), 'netstack-tapoff-'));
  pcap = join(dir, 'tapoff.pcap');
  // The capture holds the first transfer (a few MB) whole, then stops growing at 16 MB.
  server = await ns.serve(['--tap', '--addr6', STACK6, '--kernel-addr6', 'fd07::1/64', '--stats', '--pcap', pcap, '--pcap-max-bytes', String(16 << 20)]);
}, 30_000);

afterAll(async () => {
  await ns?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** Counter differences between two live stats snapshots. */
function delta(before: Stats, after: Stats): (layer: string, key: string) => number {
  return (layer, key) => n(after, layer, key) - n(before, layer, key);
}

describe('netstack serve --tap with offloads (the default)', () => {
  it('agrees the same offloads as a TUN on the TAP', () => {
    expect(server.stdout).toMatch(/ready on tap0: .*mtu 1500, offload csum=true tso4=true tso6=true uso4=true uso6=true/);
  });

  it('a small GET and POST, exact: the connections the capture holds whole', async () => {
    const get = await ns.run('sh', ['-c', `curl -sS -m 30 http://${STACK}/bytes/3000000 | sha256sum`], { timeoutMs: 40_000 });
    expect(get.stderr).toBe('');
    expect(get.stdout.split(' ')[0]).toBe(patternSha(3_000_000));
    const b = body(2_000_000, 3);
    const post = await ns.run('curl', ['-sS', '-m', '30', '--data-binary', '@-', `http://${STACK}/sink`], { input: b, timeoutMs: 40_000 });
    expect(post.stderr).toBe('');
    expect(JSON.parse(post.stdout)).toEqual({ bytes: b.length, sha256: createHash('sha256').update(b).digest('hex') });
  }, 90_000);

  it('TSO4 out: a 200 MB download leaves as super-segments in frames, exact', async () => {
    const before = await liveStats(server);
    const size = 200_000_000;
    const r = await ns.run('sh', ['-c', `curl -sS -m 90 http://${STACK}/bytes/${size} | sha256sum`], { timeoutMs: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.split(' ')[0]).toBe(patternSha(size));
    const d = delta(before, await liveStats(server));
    expect(d('ip', 'OutGsoDatagrams')).toBeGreaterThan(1000);
    expect(d('tcp', 'OutGsoSegs')).toBeGreaterThan(1000);
    expect(d('eth', 'OutOffloadGso')).toBeGreaterThan(1000);
    expect(d('frames', 'TxGsoPackets')).toBeGreaterThan(1000);
    // Far fewer writes than one per 1448-byte segment.
    expect(d('frames', 'TxPackets')).toBeLessThan(size / 1448 / 4);
  }, 150_000);

  it('TSO4 in: a 50 MB upload arrives as the kernel\'s super-segments, exact, checksums trusted', async () => {
    const before = await liveStats(server);
    const b = body(50_000_000, 7);
    const r = await ns.run('curl', ['-sS', '-m', '60', '--data-binary', '@-', `http://${STACK}/sink`], { input: b, timeoutMs: 90_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ bytes: b.length, sha256: createHash('sha256').update(b).digest('hex') });
    const d = delta(before, await liveStats(server));
    expect(d('ip', 'InGsoDatagrams')).toBeGreaterThan(10);
    expect(d('frames', 'RxGsoPackets')).toBeGreaterThan(10);
    expect(d('frames', 'RxCsumPartial')).toBeGreaterThan(10);
    expect(d('tcp', 'InCsumTrusted')).toBeGreaterThan(0);
  }, 120_000);

  it('TSO6 both ways: a 50 MB download and a 20 MB upload over IPv6, exact', async () => {
    const before = await liveStats(server);
    const size = 50_000_000;
    const get = await ns.run('sh', ['-c', `curl -6 -g -sS -m 60 'http://[${STACK6}]/bytes/${size}' | sha256sum`], { timeoutMs: 90_000 });
    expect(get.stderr).toBe('');
    expect(get.stdout.split(' ')[0]).toBe(patternSha(size));
    const b = body(20_000_000, 11);
    const post = await ns.run('curl', ['-6', '-g', '-sS', '-m', '60', '--data-binary', '@-', `http://[${STACK6}]/sink`], { input: b, timeoutMs: 90_000 });
    expect(post.stderr).toBe('');
    expect(JSON.parse(post.stdout)).toEqual({ bytes: b.length, sha256: createHash('sha256').update(b).digest('hex') });
    const d = delta(before, await liveStats(server));
    expect(d('ip6', 'Ip6OutGsoDatagrams')).toBeGreaterThan(100);
    expect(d('ip6', 'Ip6InGsoDatagrams')).toBeGreaterThan(10);
    expect(d('ip', 'OutGsoDatagrams')).toBe(0); // it was all IPv6
  }, 150_000);

  it('USO: a kernel UDP_SEGMENT send is split into frames by the device, every echo exact', async () => {
    const before = await liveStats(server);
    const r = await ns.run('python3', ['-c', USO_SENDER, STACK], { timeoutMs: 30_000 });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({ sent: 41, received: 41, bad: 0 });
    const d = delta(before, await liveStats(server));
    expect(d('frames', 'RxUsoPackets')).toBeGreaterThanOrEqual(1);
    expect(d('frames', 'RxUsoSegments')).toBeGreaterThanOrEqual(41);
    expect(d('frames', 'RxUsoDropped')).toBe(0);
  }, 60_000);

  it('the kernel counted no checksum or header error; the stack none either', async () => {
    const k = ns.snmp();
    for (const key of ['Tcp.InCsumErrors', 'Tcp.InErrs', 'Ip.InHdrErrors', 'Udp.InCsumErrors', 'Udp.InErrors']) expect(k[key] ?? 0, key).toBe(0);
    const s = await liveStats(server);
    expect(n(s, 'tcp', 'InCsumErrors')).toBe(0);
    expect(n(s, 'udp', 'InCsumErrors')).toBe(0);
    expect(n(s, 'eth', 'OutDropGsoUnresolved')).toBe(0);
    expect(n(s, 'stack', 'InternalErrors')).toBe(0);
  });

  it('the capture at the device (frames) has complete checksums: tshark finds no bad TCP checksum', async () => {
    await server.stop(); // flushes and closes the capture
    const r = spawnSync('tshark', ['-r', pcap, '-n', '-o', 'tcp.check_checksum:TRUE', '-Y', 'tcp', '-T', 'fields', '-e', 'tcp.checksum.status', '-e', 'frame.len'], {
      encoding: 'utf8', timeout: 120_000, maxBuffer: 256 << 20,
    });
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.split('\n').filter(Boolean).map((l) => l.split('\t'));
    // tcp.checksum.status: 1 = Good (Wireshark's PROTO_CHECKSUM_E_GOOD; 0 Bad, 2 Unverified).
    expect(rows.length).toBeGreaterThan(100);
    const notGood = rows.filter(([status]) => status !== '1');
    expect(notGood.length, JSON.stringify(notGood.slice(0, 5))).toBe(0);
    // Super-segments recorded whole, as tcpdump shows them on a host with GSO: frames over 1514 bytes.
    expect(rows.some(([, len]) => Number(len) > 1514)).toBe(true);
  }, 150_000);
});

describe('netstack serve --tap --no-offload', () => {
  it('opens the TAP without a vnet header: no offloads, and a transfer stays exact', async () => {
    await server.stop();
    const plain = await ns.serve(['--tap', '--no-offload', '--stats']);
    try {
      expect(plain.stdout).toMatch(/mtu 1500, offload off/);
      const r = await ns.run('sh', ['-c', `curl -sS -m 30 http://${STACK}/bytes/5000000 | sha256sum`], { timeoutMs: 40_000 });
      expect(r.stdout.split(' ')[0]).toBe(patternSha(5_000_000));
      const s = await liveStats(plain);
      expect(n(s, 'ip', 'OutGsoDatagrams')).toBe(0);
      expect(n(s, 'frames', 'TxGsoPackets')).toBe(0);
    } finally {
      await plain.stop();
    }
  }, 60_000);
});
