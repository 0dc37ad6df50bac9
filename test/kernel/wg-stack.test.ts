/**
 * A netstack on a WireGuard link against wireguard-go, with no device on our side.
 *
 * Two private namespaces joined by a veth (A 10.99.0.1 | B 10.99.0.2), IPv6 off in both (so
 * the underlay has no link-local chatter and every frame on it can be accounted for). In B,
 * wireguard-go runs wg0 (10.100.0.1/24), configured with `wg`, with a node:http server
 * (20 MB of deterministic bytes at /big). In A, a plain `node` process (fixtures/
 * wg-stack-node.mjs) makes `createStack({ wireguard: { privateKey, listenPort, peers } })` at
 * 10.100.0.2: its only network is the WireGuard session, carried by a kernel UDP socket.
 *
 * - A has no TUN device: `ip -n A link` lists lo and the veth only, while the stack runs.
 * - The process's node:http client fetches 20 MB exact (sha256) from 10.100.0.1, and the
 *   server in B sees 10.100.0.2 as its peer.
 * - The kernel in B reaches the process: `curl http://10.100.0.2:8080/` is answered by an
 *   HTTP server on the stack (which sees 10.100.0.1 as the client), and `ping 10.100.0.2`
 *   is answered by the stack's ICMP (its InEchos/OutEchoReps say so).
 * - The underlay: a tshark capture on B's veth for the whole run holds nothing but UDP
 *   between 10.99.0.1:51821 and 10.99.0.2:51820, every datagram a WireGuard message (ARP
 *   aside, filtered out; the capture's start sentinels, ICMP between the veth addresses,
 *   counted apart).
 * - IPv6 inside the same session (the stack's second address, fd00:100::2): curl and ping -6
 *   from B answered by the stack.
 * - The WireGuard counters appear in the stack's link counters (stack.stats().link).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Netns, repoRoot, Server, statCount, type Stats } from './netns.js';

const A_KEY = createHash('sha256').update('netstack-wg-stack-a').digest().toString('base64');
const B_KEY = createHash('sha256').update('netstack-wg-stack-b').digest().toString('base64');
const A_PORT = 51821;
const B_PORT = 51820;
const fixture = resolve(repoRoot, 'test/kernel/fixtures/wg-stack-node.mjs');

beforeAll(() => {
  // Never skip silently (scripts/lib/bootstrap.sh installs these).
  for (const tool of ['wireguard-go', 'wg', 'curl', 'tshark', 'ping']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      throw new Error(`this test needs '${tool}': apt-get install -y --no-install-recommends wireguard-go wireguard-tools curl tshark iputils-ping`);
    }
  }
  if (spawnSync('test', ['-f', resolve(repoRoot, 'packages/netstack/dist/index.js')]).status !== 0) throw new Error('build first: pnpm exec tsc -b');
});

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

function pubkey(ns: Netns, key: string): string {
  return ns.runSync('sh', ['-c', `echo ${key} | wg pubkey`]).trim();
}

describe('createStack({ wireguard }) in a plain node process ↔ wireguard-go (no TUN device on our side)', () => {
  it('fetches 20 MB exact from behind wireguard-go; curl and ping from behind it reach the stack; the underlay carries only WireGuard UDP', async () => {
    const a = Netns.create('wsa');
    cleanup.push(() => a.close());
    const b = Netns.create('wsb');
    cleanup.push(() => b.close());
    a.setIpv6Disabled(true);
    b.setIpv6Disabled(true);
    a.runSync('ip', ['link', 'add', 'vsa', 'type', 'veth', 'peer', 'name', 'vsb']);
    a.runSync('ip', ['link', 'set', 'vsb', 'netns', b.name]);
    a.runSync('ip', ['addr', 'add', '10.99.0.1/24', 'dev', 'vsa']);
    a.runSync('ip', ['link', 'set', 'vsa', 'up']);
    b.runSync('ip', ['addr', 'add', '10.99.0.2/24', 'dev', 'vsb']);
    b.runSync('ip', ['link', 'set', 'vsb', 'up']);
    const dir = mkdtempSync(join(tmpdir(), 'netstack-wg-stack-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));

    // wireguard-go in B, configured with wg.
    const dev = `wgs${process.pid % 1_000_000}`;
    const wgo = b.spawn('wireguard-go', ['-f', dev]);
    cleanup.push(async () => {
      // SIGTERM and its exit (bounded) before the namespace goes: it removes its UAPI socket then.
      if (wgo.exitCode !== null || wgo.signalCode !== null) return;
      const gone = new Promise((r) => wgo.once('exit', r));
      wgo.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    });
    let sock = false;
    for (let i = 0; i < 200 && !(sock = spawnSync('test', ['-S', `/var/run/wireguard/${dev}.sock`]).status === 0); i++) await new Promise((r) => setTimeout(r, 50));
    expect(sock, 'wireguard-go made no UAPI socket in 10 s').toBe(true);
    const keyFile = join(dir, 'b.key');
    writeFileSync(keyFile, B_KEY + '\n', { mode: 0o600 });
    const aPublic = pubkey(b, A_KEY);
    const bPublic = pubkey(b, B_KEY);
    // wireguard-go knows no endpoint for us: it learns it from our first initiation.
    b.runSync('wg', ['set', dev, 'listen-port', String(B_PORT), 'private-key', keyFile, 'peer', aPublic, 'allowed-ips', '10.100.0.2/32,fd00:100::2/128']);
    b.runSync('ip', ['addr', 'add', '10.100.0.1/24', 'dev', dev]);
    // IPv6 inside the tunnel only (the underlay keeps it off).
    b.runSync('sh', ['-c', `echo 0 > /proc/sys/net/ipv6/conf/${dev}/disable_ipv6`]);
    b.runSync('ip', ['addr', 'add', 'fd00:100::1/64', 'dev', dev, 'nodad']);
    b.runSync('ip', ['link', 'set', dev, 'up']);
    const http = await b.httpFixture(8080, 20_000_000, 90_000);
    cleanup.push(() => { http.child.kill('SIGTERM'); });

    // The underlay capture on B's veth, for the whole run (ARP aside).
    const pcap = join(dir, 'underlay.pcap');
    const cap = b.spawn('tshark', ['-i', 'vsb', '-f', 'not arp', '-s', '96', '-w', pcap, '-q']);
    cleanup.push(() => { cap.kill('SIGKILL'); });
    let capErr = '';
    await new Promise<void>((ok, fail) => {
      const t = setTimeout(() => fail(new Error(`tshark did not start: ${capErr}`)), 15_000);
      cap.stderr!.on('data', (d: Buffer) => { capErr += d.toString(); if (/Capturing on/.test(capErr)) { clearTimeout(t); ok(); } });
    });
    // tshark says 'Capturing on' a moment before dumpcap captures: underlay pings (ICMP
    // between the veth addresses, told apart below) until one is in the file.
    let sentinels = 0;
    for (let seen = false; !seen && sentinels < 50; sentinels++) {
      await b.run('ping', ['-c', '1', '-W', '1', '10.99.0.1'], { timeoutMs: 5_000 });
      const n = spawnSync('tshark', ['-r', pcap, '-q', '-z', 'io,stat,0'], { encoding: 'utf8', timeout: 10_000 }).stdout;
      seen = /\|\s*[1-9]\d*\s*\|/.test(n.split('\n').filter((l) => l.includes('<>')).join('\n'));
    }
    expect(sentinels).toBeLessThan(50);

    // The node process in A.
    const child = new Server(a.spawn(process.execPath, [fixture, JSON.stringify({
      address: ['10.100.0.2', 'fd00:100::2'],
      fetch: 'http://10.100.0.1:8080/big',
      wireguard: {
        privateKey: A_KEY, listenPort: A_PORT,
        peers: [{ publicKey: bPublic, allowedIPs: ['10.100.0.0/24', 'fd00:100::/64'], endpoint: { address: '10.99.0.2', port: B_PORT } }],
      },
    })]));
    cleanup.push(() => { child.child.kill('SIGKILL'); });
    await child.waitFor(/ready/, 20_000);
    // No device: A has lo and the veth, nothing else, while the stack runs.
    expect(a.links().sort()).toEqual(['lo', 'vsa']);

    child.child.stdin!.write('go\n');
    const [, sha, bytes, ms] = await child.waitFor(/fetched (\w+) (\d+) (\d+)/, 90_000);
    process.stdout.write(`wg-stack: node:http on createStack({ wireguard }) <- wireguard-go: 20 MB in ${ms} ms (${(20_000 / Number(ms)).toFixed(1)} MB/s)\n`);
    expect(Number(bytes)).toBe(20_000_000);
    expect(sha).toBe(http.sha256);
    expect(http.out()).toMatch(/peer 10\.100\.0\.2 \d+ \/big/);
    expect(child.stdout).not.toMatch(/fetch-error/);

    // The kernel behind wireguard-go reaches the stack: HTTP and ICMP echo.
    await child.waitFor(/serving/, 10_000);
    const r = await b.run('curl', ['-sS', '--max-time', '10', 'http://10.100.0.2:8080/'], { timeoutMs: 15_000 });
    expect(r.code, r.stderr).toBe(0);
    // A dual-stack listener (listen(8080), as node's on ::) sees an IPv4 client v4-mapped.
    expect(r.stdout).toBe('hello through WireGuard, to ::ffff:10.100.0.1\n');
    const ping = await b.run('ping', ['-c', '3', '-i', '0.2', '-W', '2', '10.100.0.2'], { timeoutMs: 15_000 });
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    expect(ping.stdout).toMatch(/3 packets transmitted, 3 received/);
    // And IPv6 inside the same session: the stack's second address.
    const r6 = await b.run('curl', ['-sS', '-g', '--max-time', '10', 'http://[fd00:100::2]:8080/'], { timeoutMs: 15_000 });
    expect(r6.code, r6.stderr).toBe(0);
    expect(r6.stdout).toBe('hello through WireGuard, to fd00:100::1\n');
    const ping6 = await b.run('ping', ['-6', '-c', '2', '-i', '0.2', '-W', '2', 'fd00:100::2'], { timeoutMs: 15_000 });
    expect(ping6.code, ping6.stdout + ping6.stderr).toBe(0);

    child.child.stdin!.write('end\n');
    const [line] = await child.waitFor(/stats .*\n/, 10_000);
    expect((await child.exited).code, child.stderr).toBe(0);
    const s = JSON.parse(line.slice(6)) as Stats;
    expect(statCount(s, 'icmp', 'InEchos')).toBe(3);
    expect(statCount(s, 'icmp', 'OutEchoReps')).toBe(3);
    expect(statCount(s, 'tcp', 'ActiveOpens')).toBe(1);
    expect(statCount(s, 'tcp', 'PassiveOpens')).toBe(2);
    expect(statCount(s, 'icmp6', 'Icmp6InEchos')).toBe(2);
    expect(statCount(s, 'icmp6', 'Icmp6OutEchoReplies')).toBe(2);
    // The WireGuard counters in the link's: one handshake, ours; 20 MB of data in, no bad message.
    expect(statCount(s, 'link', 'OutInitiations')).toBeGreaterThanOrEqual(1);
    expect(statCount(s, 'link', 'InResponses')).toBe(1);
    expect(statCount(s, 'link', 'InDataPackets')).toBeGreaterThan(14_000);
    for (const bad of ['InHdrErrors', 'InMac1Errors', 'InHandshakeErrors', 'InDecryptErrors', 'InSourceErrors', 'InInnerErrors', 'InInternalErrors']) {
      expect(statCount(s, 'link', bad), bad).toBe(0);
    }
    expect(statCount(s, 'link', 'RxBytes')).toBeGreaterThan(20_000_000);
    expect(statCount(s, 'link', 'UdpRxBytes')).toBeGreaterThan(statCount(s, 'link', 'RxBytes'));
    // wireguard-go agrees: it learnt our endpoint and sent the 20 MB there.
    const peer = b.runSync('wg', ['show', dev, 'dump']).trim().split('\n').find((l) => l.startsWith(aPublic))!.split('\t');
    expect(peer[2]).toBe(`10.99.0.1:${A_PORT}`);
    expect(Number(peer[6])).toBeGreaterThan(20_000_000);

    // The underlay: UDP between the two WireGuard sockets, every datagram a WireGuard message.
    cap.kill('SIGINT');
    await new Promise((res) => { if (cap.exitCode !== null) res(null); else cap.once('exit', res); });
    const read = spawnSync('tshark', ['-r', pcap, '-d', `udp.port==${A_PORT},wg`, '-T', 'fields',
      '-e', 'eth.type', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ip.proto', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'wg.type'],
    { encoding: 'utf8', timeout: 60_000, maxBuffer: 1 << 28 });
    expect(read.status, read.stderr).toBe(0);
    const rows = read.stdout.trim().split('\n').map((l) => l.split('\t'));
    const sentinel = ([, src, dst, proto]: string[]): boolean => proto === '1' && [src, dst].sort().join(' ') === '10.99.0.1 10.99.0.2';
    expect(rows.filter(sentinel).length).toBeLessThanOrEqual(2 * sentinels);
    const wireguard = (r: string[]): boolean => {
      const [type, src, dst, proto, sport, dport, wg] = r;
      return type === '0x0800' && proto === '17' && /^[1-4]$/.test(wg ?? '') &&
        ((src === '10.99.0.1' && sport === String(A_PORT) && dst === '10.99.0.2' && dport === String(B_PORT)) ||
         (src === '10.99.0.2' && sport === String(B_PORT) && dst === '10.99.0.1' && dport === String(A_PORT)));
    };
    expect(rows.filter((r) => !sentinel(r) && !wireguard(r)).slice(0, 5)).toEqual([]);
    const types = rows.reduce<Record<string, number>>((m, r) => { m[r[6] ?? ''] = (m[r[6] ?? ''] ?? 0) + 1; return m; }, {});
    expect(types['1'], JSON.stringify(types)).toBeGreaterThanOrEqual(1); // our initiation
    expect(types['2'], JSON.stringify(types)).toBe(1); // its response
    expect(types['4'], JSON.stringify(types)).toBeGreaterThan(14_000); // 20 MB in <= 1420-byte packets, and the ACKs
  }, 180_000);
});
