/**
 * `netstack tunnel` (createTunnel: @netstack/tun + @netstack/wireguard + node:dgram) against
 * wireguard-go, a WireGuard implementation nobody here wrote, configured with `wg`.
 *
 *   namespace A                                      namespace B
 *   netstack tunnel --config wg0.conf                wireguard-go wgbNNN (wg set ...)
 *   device wg0 10.100.0.1/24 fd00:100::1/64          10.100.0.2/24 fd00:100::2/64
 *        |  UDP 51820                                     |  UDP 51820
 *   veth vta 10.99.0.1/24  <------------------------>  veth vtb 10.99.0.2/24
 *
 * ping and ping -6 both ways; 50 MB over TCP each way, exact (sha256, curl against a node:http
 * server in the other namespace), and a curl of 1 GiB exact; UDP echoes both ways (kernel sockets each side, sizes up to
 * a fragmented 3000 bytes); the handshake started by either side; wireguard-go killed and
 * started again (a new handshake, traffic resumes); the underlay (a tshark capture on B's
 * veth) carries only UDP between the two WireGuard ports; SIGTERM exits 0 with the device
 * removed. Then `netstack tunnel` on both ends. Every wait is bounded.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cli, liveStats, Netns, repoRoot, Server, statCount, type Stats } from './netns.js';

const A_KEY = createHash('sha256').update('netstack-tunnel-interop-a').digest().toString('base64');
const B_KEY = createHash('sha256').update('netstack-tunnel-interop-b').digest().toString('base64');
const udpClient = resolve(repoRoot, 'test/kernel/fixtures/udp-client.mjs');
const WG_PORT = 51820;

beforeAll(() => {
  // Never skip silently: the interop needs wireguard-go and wg (scripts/lib/bootstrap.sh installs them).
  for (const tool of ['wireguard-go', 'wg', 'curl', 'tshark']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      throw new Error(`this test needs '${tool}': apt-get install -y --no-install-recommends wireguard-go wireguard-tools curl tshark`);
    }
  }
});

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

interface Pair {
  a: Netns;
  b: Netns;
  dir: string;
  aPublic: string;
  bPublic: string;
  /** B's WireGuard interface (wireguard-go's, or a second `netstack tunnel`'s). */
  bDev: string;
  tunnel: Server;
  /** B's `netstack tunnel` (peerB 'netstack'), and its config file. */
  bTunnel?: Server | undefined;
  bFile?: string;
  wgo?: ChildProcess | undefined;
  startWireguardGo(withEndpoint: boolean): Promise<void>;
  stopWireguardGo(): Promise<void>;
}

function pubkey(ns: Netns, key: string): string {
  return ns.runSync('sh', ['-c', `echo ${key} | wg pubkey`]).trim();
}

function conf(privateKey: string, addresses: string, peerKey: string, allowed: string, endpoint: string | undefined): string {
  return `# netstack tunnel test\n[Interface]\nPrivateKey = ${privateKey}\nAddress = ${addresses}\nListenPort = ${WG_PORT}\nMTU = 1420\n\n` +
    `[Peer]\nPublicKey = ${peerKey}\nAllowedIPs = ${allowed}\n${endpoint !== undefined ? `Endpoint = ${endpoint}\n` : ''}`;
}

async function startTunnel(ns: Netns, file: string, name: string, extra: string[] = []): Promise<Server> {
  // NETSTACK_TUNNEL_TIMERS=JSON (a test hook) as an argument of env: `ip netns exec` passes the environment on.
  const timers = extra.find((a) => a.startsWith('NETSTACK_TUNNEL_TIMERS='));
  const args = [cli, 'tunnel', '--config', file, '--tun', name, '--stats', ...extra.filter((a) => a !== timers)];
  const t = new Server(timers === undefined ? ns.spawn(process.execPath, args) : ns.spawn('env', [timers, process.execPath, ...args]));
  await t.waitFor(/ready/, 20_000);
  return t;
}

/**
 * A and B joined by a veth; `netstack tunnel` in A; in B wireguard-go (peerB 'wireguard-go')
 * or a second `netstack tunnel`. `aKnowsB`/`bKnowsA`: whether each side's config has the
 * other's endpoint (the one that knows starts the handshake).
 */
async function setup(peerB: 'wireguard-go' | 'netstack', aKnowsB: boolean, bKnowsA: boolean, aArgs: string[] = [], underlay6 = false): Promise<Pair> {
  const a = Netns.create('wta');
  cleanup.push(() => a.close());
  const b = Netns.create('wtb');
  cleanup.push(() => b.close());
  a.runSync('ip', ['link', 'add', 'vta', 'type', 'veth', 'peer', 'name', 'vtb']);
  a.runSync('ip', ['link', 'set', 'vtb', 'netns', b.name]);
  a.runSync('ip', ['addr', 'add', '10.99.0.1/24', 'dev', 'vta']);
  a.runSync('ip', ['link', 'set', 'vta', 'up']);
  b.runSync('ip', ['addr', 'add', '10.99.0.2/24', 'dev', 'vtb']);
  b.runSync('ip', ['link', 'set', 'vtb', 'up']);
  if (underlay6) {
    a.runSync('ip', ['addr', 'add', 'fd99::1/64', 'dev', 'vta', 'nodad']);
    b.runSync('ip', ['addr', 'add', 'fd99::2/64', 'dev', 'vtb', 'nodad']);
  }
  const aEnd = underlay6 ? `[fd99::1]:${WG_PORT}` : `10.99.0.1:${WG_PORT}`;
  const bEnd = underlay6 ? `[fd99::2]:${WG_PORT}` : `10.99.0.2:${WG_PORT}`;
  const dir = mkdtempSync(join(tmpdir(), 'netstack-wgt-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const aPublic = pubkey(a, A_KEY);
  const bPublic = pubkey(b, B_KEY);
  // wireguard-go's UAPI socket is /var/run/wireguard/NAME.sock, shared by every namespace: a unique name.
  const bDev = peerB === 'wireguard-go' ? `wgb${process.pid % 1_000_000}` : 'wg0';
  const aFile = join(dir, 'wg0.conf');
  // A routes 10.200.0.0/24 to B too (a route the tunnel adds, beyond its own subnet).
  writeFileSync(aFile, conf(A_KEY, '10.100.0.1/24, fd00:100::1/64', bPublic, '10.100.0.2/32, fd00:100::2/128, 10.200.0.0/24', aKnowsB ? bEnd : undefined), { mode: 0o600 });
  const pair: Pair = {
    a, b, dir, aPublic, bPublic, bDev,
    tunnel: undefined as unknown as Server,
    async startWireguardGo(withEndpoint: boolean) {
      const wgo = b.spawn('env', ['LOG_LEVEL=verbose', 'wireguard-go', '-f', bDev]);
      let log = '';
      await new Promise<void>((ready, fail) => {
        const timer = setTimeout(() => fail(new Error(`wireguard-go did not start: ${log}`)), 10_000);
        const on = (d: Buffer): void => {
          log += d.toString();
          if (/UAPI listener started/.test(log)) { clearTimeout(timer); ready(); }
        };
        wgo.stdout!.on('data', on);
        wgo.stderr!.on('data', on);
        wgo.on('exit', (code) => { clearTimeout(timer); fail(new Error(`wireguard-go exited ${code}: ${log}`)); });
      });
      pair.wgo = wgo;
      const keyFile = join(dir, 'b.key');
      writeFileSync(keyFile, B_KEY + '\n', { mode: 0o600 });
      b.runSync('wg', ['set', bDev, 'listen-port', String(WG_PORT), 'private-key', keyFile,
        'peer', aPublic, 'allowed-ips', '10.100.0.1/32,fd00:100::1/128', ...(withEndpoint ? ['endpoint', aEnd] : [])]);
      b.runSync('ip', ['addr', 'add', '10.100.0.2/24', 'dev', bDev]);
      b.runSync('ip', ['addr', 'add', 'fd00:100::2/64', 'dev', bDev, 'nodad']);
      b.runSync('ip', ['link', 'set', bDev, 'up']);
    },
    async stopWireguardGo() {
      const w = pair.wgo;
      if (w === undefined || w.exitCode !== null || w.signalCode !== null) return;
      const gone = new Promise((r) => w.once('exit', r));
      w.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
      pair.wgo = undefined;
    },
  };
  if (peerB === 'wireguard-go') {
    await pair.startWireguardGo(bKnowsA);
    cleanup.push(() => pair.stopWireguardGo());
  } else {
    const bFile = join(dir, 'b.conf');
    writeFileSync(bFile, conf(B_KEY, '10.100.0.2/24, fd00:100::2/64', aPublic, '10.100.0.1/32, fd00:100::1/128', bKnowsA ? aEnd : undefined), { mode: 0o600 });
    pair.bFile = bFile;
    pair.bTunnel = await startTunnel(b, bFile, bDev);
    cleanup.push(async () => { const tb = pair.bTunnel; if (tb !== undefined && tb.child.exitCode === null) await tb.stop(); });
  }
  pair.tunnel = await startTunnel(a, aFile, 'wg0', aArgs);
  cleanup.push(async () => { if (pair.tunnel.child.exitCode === null) await pair.tunnel.stop(); });
  return pair;
}

async function ping(ns: Netns, args: string[]): Promise<void> {
  const r = await ns.run('ping', ['-c', '3', '-i', '0.2', '-W', '5', ...args], { timeoutMs: 15_000 });
  expect(r.code, `${ns.name} ping ${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
  expect(r.stdout).toMatch(/3 received/);
}

/** curl http://HOST:8080/big from `client`, served by `server`: the body's sha256 equals the server's. */
async function download(server: Netns, client: Netns, host: string, size: number, label = ''): Promise<number> {
  const http = await server.httpFixture(8080, size);
  try {
    const r = await client.run('sh', ['-c', `curl -sS --fail --max-time 120 -w '%{stderr}speed %{speed_download}\\n' http://${host}:8080/big | sha256sum`], { timeoutMs: 130_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split(' ')[0]).toBe(http.sha256);
    const mbs = Number(/speed (\S+)/.exec(r.stderr)?.[1]) / 1e6;
    if (label) process.stdout.write(`wg-tunnel ${label}: ${(size / 1e6).toFixed(0)} MB at ${mbs.toFixed(1)} MB/s\n`);
    return mbs;
  } finally {
    http.child.kill('SIGTERM');
  }
}

/** A kernel UDP echo server in `ns` on HOST:7; `udp-client.mjs` in the other checks each echo exact. */
async function udpEcho(server: Netns, client: Netns, host: string): Promise<void> {
  const echo = server.spawn(process.execPath, ['-e', `const s=require('node:dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(m,r.port,r.address));s.bind(7,'${host}',()=>console.log('up'));setTimeout(()=>process.exit(3),60000).unref()`]);
  try {
    await new Promise<void>((ok, fail) => {
      const t = setTimeout(() => fail(new Error('udp echo server did not start')), 10_000);
      echo.stdout!.on('data', () => { clearTimeout(t); ok(); });
    });
    const r = await client.run(process.execPath, [udpClient, host, '7', '1,2,100,512,1000,1300-1392,3000', '3000'], { timeoutMs: 60_000 });
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { ok: boolean; failures: unknown[] };
    expect(out.failures).toEqual([]);
    expect(out.ok).toBe(true);
  } finally {
    echo.kill('SIGKILL');
  }
}

async function stopAndCheck(p: Pair): Promise<Stats> {
  const { code } = await p.tunnel.stop();
  expect(code, p.tunnel.stderr).toBe(0);
  expect(p.a.links()).not.toContain('wg0');
  const line = p.tunnel.stdout.split('\n').filter((l) => l.startsWith('stats ')).at(-1)!;
  return JSON.parse(line.slice(6)) as Stats;
}

describe('netstack tunnel ↔ wireguard-go over a veth', () => {
  it('--no-offload, we initiate; ping both ways (IPv4, IPv6), 50 MB over TCP each way exact, UDP both ways; the underlay carries only WireGuard UDP; SIGTERM removes the device', async () => {
    const p = await setup('wireguard-go', true, false, ['--no-offload']);
    expect(p.tunnel.stdout).toMatch(new RegExp(`ready on wg0: 10\\.100\\.0\\.1/24 fd00:100::1/64, mtu 1420, listening on UDP port ${WG_PORT}, public key ${p.aPublic.replace(/[+/]/g, '\\$&')}, 1 peer, routes 10\\.200\\.0\\.0/24`));
    // The device and its routes in A, as the config says.
    expect(p.a.runSync('ip', ['-o', 'addr', 'show', 'dev', 'wg0'])).toMatch(/10\.100\.0\.1\/24/);
    expect(p.a.runSync('ip', ['route', 'show', 'dev', 'wg0'])).toMatch(/10\.200\.0\.0\/24/);

    // The underlay, seen from B's veth for the whole test: IPv4 packets only (ARP and IPv6
    // link-local chatter are not IP traffic between the hosts).
    const pcap = join(p.dir, 'underlay.pcap');
    const cap = p.b.spawn('tshark', ['-i', 'vtb', '-f', 'ip', '-s', '128', '-w', pcap, '-q']);
    let capErr = '';
    await new Promise<void>((ok, fail) => {
      const t = setTimeout(() => fail(new Error(`tshark did not start: ${capErr}`)), 15_000);
      cap.stderr!.on('data', (d: Buffer) => { capErr += d.toString(); if (/Capturing on/.test(capErr)) { clearTimeout(t); ok(); } });
    });
    // tshark says 'Capturing on' a moment before dumpcap captures: underlay pings (ICMP, told
    // apart below) until one is in the file, so the tunnel's first packets are in it too.
    let sentinels = 0;
    for (; sentinels < 50; sentinels++) {
      await p.b.run('ping', ['-c', '1', '-W', '1', '10.99.0.1'], { timeoutMs: 5_000 });
      const n = spawnSync('tshark', ['-r', pcap, '-q', '-z', 'io,stat,0'], { encoding: 'utf8', timeout: 10_000 }).stdout;
      if (/\|\s*[1-9]\d*\s*\|/.test(n.split('\n').filter((l) => l.includes('<>')).join('\n'))) break;
    }
    sentinels++;

    // A starts: B has no endpoint for A until A's initiation reaches it.
    await ping(p.a, ['10.100.0.2']);
    let s = await liveStats(p.tunnel);
    expect(statCount(s, 'wireguard', 'OutInitiations')).toBeGreaterThanOrEqual(1);
    expect(statCount(s, 'wireguard', 'InResponses')).toBe(1);
    expect(statCount(s, 'wireguard', 'InInitiations')).toBe(0);
    await ping(p.b, ['10.100.0.1']);
    await ping(p.a, ['-6', 'fd00:100::2']);
    await ping(p.b, ['-6', 'fd00:100::1']);

    await download(p.b, p.a, '10.100.0.2', 50_000_000, 'wireguard-go -> netstack tunnel (no offload)'); // B -> A through the tunnel
    await download(p.a, p.b, '10.100.0.1', 50_000_000, 'netstack tunnel (no offload) -> wireguard-go'); // A -> B
    await udpEcho(p.b, p.a, '10.100.0.2');
    await udpEcho(p.a, p.b, '10.100.0.1');

    s = await liveStats(p.tunnel);
    // 100 MB crossed: each way at least 50 MB of inner packets, and as many datagrams.
    expect(statCount(s, 'tunnel', 'TunRxBytes')).toBeGreaterThan(50_000_000);
    expect(statCount(s, 'tunnel', 'TunTxBytes')).toBeGreaterThan(50_000_000);
    expect(statCount(s, 'tunnel', 'UdpTxDatagrams')).toBeGreaterThanOrEqual(statCount(s, 'wireguard', 'OutDataPackets'));
    expect(statCount(s, 'tunnel', 'UdpTxBytes')).toBeGreaterThan(statCount(s, 'tunnel', 'TunRxBytes'));
    expect(statCount(s, 'wireguard', 'InDecryptErrors')).toBe(0);
    expect(statCount(s, 'wireguard', 'InSourceErrors')).toBe(0);
    expect(statCount(s, 'wireguard', 'InReplays')).toBeLessThan(10);
    // wireguard-go agrees: a handshake with us, and its byte counts.
    const dump = p.b.runSync('wg', ['show', p.bDev, 'dump']).trim().split('\n');
    const peer = dump.find((l) => l.startsWith(p.aPublic))!.split('\t');
    expect(peer[2]).toBe(`10.99.0.1:${WG_PORT}`);
    expect(Number(peer[5])).toBeGreaterThan(50_000_000); // rx
    expect(Number(peer[6])).toBeGreaterThan(50_000_000); // tx

    // SIGUSR1: a `wg show`-like status.
    const before = p.tunnel.stdout.length;
    p.tunnel.child.kill('SIGUSR1');
    await p.tunnel.waitFor(/peer: .*\n {2}endpoint: 10\.99\.0\.2:51820\n {2}allowed ips: 10\.100\.0\.2\/32, 10\.200\.0\.0\/24, fd00:100::2\/128\n {2}latest handshake: .*\n {2}transfer: [\d.]+ MiB received, [\d.]+ MiB sent/, 5_000);
    expect(p.tunnel.stdout.slice(before)).toMatch(/^interface: wg0\n {2}public key: /);

    // The underlay: every IPv4 packet on B's veth is UDP between the two WireGuard sockets.
    cap.kill('SIGINT');
    await new Promise((r) => { if (cap.exitCode !== null) r(null); else cap.once('exit', r); });
    const read = spawnSync('tshark', ['-r', pcap, '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'ip.proto', '-e', 'udp.srcport', '-e', 'udp.dstport', '-e', 'wg.type'], { encoding: 'utf8', timeout: 60_000, maxBuffer: 1 << 28 });
    expect(read.status, read.stderr).toBe(0);
    const fields = read.stdout;
    const rows = fields.trim().split('\n').map((l) => l.split('\t'));
    expect(rows.length).toBeGreaterThan(70_000); // 100 MB in ~1420-byte packets, plus the rest
    const icmp = rows.filter(([src, dst, proto]) => proto === '1' && (src === '10.99.0.1' || src === '10.99.0.2') && (dst === '10.99.0.1' || dst === '10.99.0.2'));
    expect(icmp.length).toBeLessThanOrEqual(2 * sentinels);
    const other = rows.filter(([src, dst, proto, sport, dport, type]) => proto !== '1' &&
      !(proto === '17' && sport === String(WG_PORT) && dport === String(WG_PORT) && /^[1-4]$/.test(type ?? '') &&
        ((src === '10.99.0.1' && dst === '10.99.0.2') || (src === '10.99.0.2' && dst === '10.99.0.1'))));
    expect(other.slice(0, 5)).toEqual([]);
    // tshark's WireGuard dissector: the handshake and the data messages.
    const types = rows.reduce<Record<string, number>>((m, r) => { m[r[5] ?? ''] = (m[r[5] ?? ''] ?? 0) + 1; return m; }, {});
    expect(types['1'], JSON.stringify(types)).toBeGreaterThanOrEqual(1);
    expect(types['2'], JSON.stringify(types)).toBeGreaterThanOrEqual(1);
    expect(rows.filter((r) => r[5] === '4').length).toBeGreaterThan(70_000);

    const final = await stopAndCheck(p);
    expect(statCount(final, 'tunnel', 'TunRxPackets')).toBeGreaterThan(0);
    expect(p.tunnel.stdout).toMatch(/interface: wg0\n[\s\S]*\nstats \{/);
  }, 300_000);

  it('with TUN offloads (the default; --offload says so): TSO super-segments cut before encryption, received segments coalesced (GRO), 50 MB each way exact', async () => {
    const p = await setup('wireguard-go', true, false, ['--offload']);
    expect(p.tunnel.stdout).toMatch(/offload csum\+tso4\+tso6/);
    await ping(p.a, ['10.100.0.2']);
    await download(p.b, p.a, '10.100.0.2', 50_000_000, 'wireguard-go -> netstack tunnel --offload');
    await download(p.a, p.b, '10.100.0.1', 50_000_000, 'netstack tunnel --offload -> wireguard-go');
    await udpEcho(p.a, p.b, '10.100.0.1');
    const s = await stopAndCheck(p);
    // A's kernel sent super-segments; each was cut into several wire-sized segments.
    expect(statCount(s, 'tunnel', 'TunRxGsoPackets')).toBeGreaterThan(100);
    expect(statCount(s, 'tunnel', 'TunRxGsoSegments')).toBeGreaterThan(2 * statCount(s, 'tunnel', 'TunRxGsoPackets'));
    expect(statCount(s, 'tunnel', 'TunRxOffloadErrors')).toBe(0);
    // The cuts of a super-segment left in UDP GSO sends (several datagrams per call), none refused.
    expect(statCount(s, 'tunnel', 'UdpTxGsoSends')).toBeGreaterThan(100);
    expect(statCount(s, 'tunnel', 'UdpTxGsoDatagrams')).toBeGreaterThan(2 * statCount(s, 'tunnel', 'UdpTxGsoSends'));
    expect(statCount(s, 'tunnel', 'UdpTxGsoFallbacks')).toBe(0);
    expect(statCount(s, 'tunnel', 'UdpTxErrors')).toBe(0);
    // And the other way: the inner segments from wireguard-go written to A's kernel coalesced.
    expect(statCount(s, 'tunnel', 'TunTxGroPackets')).toBeGreaterThan(100);
    expect(statCount(s, 'tunnel', 'TunTxGroSegments')).toBeGreaterThan(2 * statCount(s, 'tunnel', 'TunTxGroPackets'));
    expect(statCount(s, 'tunnel', 'TunTxDropped')).toBe(0);
    expect(statCount(s, 'wireguard', 'OutInnerErrors')).toBe(0);
  }, 120_000);

  it('curl 1 GiB exact through the tunnel (wireguard-go sends, netstack tunnel receives: decrypt and GRO; sha256 at the end)', async () => {
    const p = await setup('wireguard-go', true, false);
    await ping(p.a, ['10.100.0.2']);
    const size = 2 ** 30;
    const server = p.b.spawn(process.execPath, [resolve(repoRoot, 'test/kernel/fixtures/big-http-server.mjs'), '8080', String(size), '150000']);
    cleanup.push(() => { server.kill('SIGKILL'); });
    let out = '';
    const sha256 = await new Promise<string>((ok, fail) => {
      const t = setTimeout(() => fail(new Error(`big-http-server did not start: ${out}`)), 30_000);
      server.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const m = /listening \d+ \d+ ([0-9a-f]{64})/.exec(out);
        if (m) { clearTimeout(t); ok(m[1]!); }
      });
    });
    const t0 = performance.now();
    const r = await p.a.run('sh', ['-c', `curl -sS --fail --max-time 120 -w '%{stderr}bytes %{size_download}\\n' http://10.100.0.2:8080/big | sha256sum`], { timeoutMs: 130_000 });
    const secs = (performance.now() - t0) / 1000;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`bytes ${size}\\b`));
    expect(r.stdout.split(' ')[0]).toBe(sha256);
    process.stdout.write(`wg-tunnel curl 1 GiB wireguard-go -> netstack tunnel: ${secs.toFixed(1)} s (${(size / 1e6 / secs).toFixed(1)} MB/s)\n`);
    const s = await stopAndCheck(p);
    expect(statCount(s, 'tunnel', 'TunTxBytes')).toBeGreaterThan(size);
    expect(statCount(s, 'wireguard', 'InDecryptErrors')).toBe(0);
    expect(statCount(s, 'tunnel', 'TunTxDropped')).toBe(0);
  }, 180_000);

  it('UDP GSO refused by the path (underlay MTU 1400 < the 1452-byte datagrams): one fallback, then datagram by datagram (fragmented), 10 MB exact', async () => {
    const p = await setup('wireguard-go', true, false);
    // Both veth ends at 1400: a GSO send whose segments exceed the path MTU is EINVAL.
    p.a.runSync('ip', ['link', 'set', 'vta', 'mtu', '1400']);
    p.b.runSync('ip', ['link', 'set', 'vtb', 'mtu', '1400']);
    await ping(p.a, ['10.100.0.2']);
    await download(p.a, p.b, '10.100.0.1', 10_000_000); // A sends: super-segments cut, GSO tried
    const s = await stopAndCheck(p);
    expect(statCount(s, 'tunnel', 'UdpTxGsoFallbacks')).toBe(1);
    expect(statCount(s, 'tunnel', 'TunRxGsoPackets')).toBeGreaterThan(10);
    // At most the sends in flight when it was refused failed; everything after went one by one.
    expect(statCount(s, 'tunnel', 'UdpTxErrors')).toBeLessThan(64);
    expect(statCount(s, 'wireguard', 'InDecryptErrors')).toBe(0);
  }, 90_000);

  it('wireguard-go initiates (we have no endpoint for it); then we reach it at the endpoint we learned', async () => {
    const p = await setup('wireguard-go', false, true);
    await ping(p.b, ['10.100.0.1']);
    await ping(p.a, ['10.100.0.2']);
    const s = await liveStats(p.tunnel);
    expect(statCount(s, 'wireguard', 'InInitiations')).toBeGreaterThanOrEqual(1);
    expect(statCount(s, 'wireguard', 'OutResponses')).toBeGreaterThanOrEqual(1);
    expect(statCount(s, 'wireguard', 'OutInitiations')).toBe(0);
    await stopAndCheck(p);
  }, 60_000);

  it('wireguard-go restarts (new keys in memory, new handshake): traffic resumes', async () => {
    const p = await setup('wireguard-go', true, true);
    await ping(p.a, ['10.100.0.2']);
    const s1 = await liveStats(p.tunnel);
    await p.stopWireguardGo();
    expect(p.b.links()).not.toContain(p.bDev);
    await p.startWireguardGo(true);
    // Its first packet to us is a new initiation; we answer; both directions work again.
    await ping(p.b, ['10.100.0.1']);
    await ping(p.a, ['10.100.0.2']);
    const s2 = await liveStats(p.tunnel);
    expect(statCount(s2, 'wireguard', 'InInitiations')).toBeGreaterThan(statCount(s1, 'wireguard', 'InInitiations'));
    expect(statCount(s2, 'wireguard', 'InHandshakeReplays')).toBe(0);
    await stopAndCheck(p);
  }, 90_000);

  it('rekey after a short REKEY_AFTER_TIME (test hook: 1 s): wireguard-go takes each new handshake, no ping lost', async () => {
    const p = await setup('wireguard-go', true, false, ['NETSTACK_TUNNEL_TIMERS={"rekeyAfterTime":1000,"rekeyTimeout":500}']);
    const r = await p.a.run('ping', ['-c', '12', '-i', '0.25', '-W', '5', '10.100.0.2'], { timeoutMs: 20_000 });
    expect(r.stdout).toMatch(/12 received/);
    const s = await liveStats(p.tunnel);
    // 3 s of traffic on 1 s sessions: at least two more handshakes, all answered (1 without the hook: checked).
    expect(statCount(s, 'wireguard', 'OutInitiations')).toBeGreaterThanOrEqual(3);
    expect(statCount(s, 'wireguard', 'InResponses')).toBeGreaterThanOrEqual(3);
    expect(statCount(s, 'wireguard', 'InDecryptErrors') + statCount(s, 'wireguard', 'InUnknownIndex')).toBe(0);
    await stopAndCheck(p);
  }, 60_000);

  it('roaming: wireguard-go follows our new underlay address, and we follow its new port', async () => {
    const p = await setup('wireguard-go', true, false);
    await ping(p.a, ['10.100.0.2']);
    // Our side moves: 10.99.0.1 -> 10.99.0.5 (the tunnel's socket is bound to the wildcard).
    p.a.runSync('ip', ['addr', 'del', '10.99.0.1/24', 'dev', 'vta']);
    p.a.runSync('ip', ['addr', 'add', '10.99.0.5/24', 'dev', 'vta']);
    await ping(p.a, ['10.100.0.2']);
    expect(p.b.runSync('wg', ['show', p.bDev, 'endpoints'])).toContain(`10.99.0.5:${WG_PORT}`);
    // wireguard-go's side moves to port 51830: its ping reaches us from there, and our
    // answers go where the authenticated packets came from (nothing listens on 51820 now).
    p.b.runSync('wg', ['set', p.bDev, 'listen-port', '51830']);
    await ping(p.b, ['10.100.0.1']);
    p.tunnel.child.kill('SIGUSR1');
    await p.tunnel.waitFor(/endpoint: 10\.99\.0\.2:51830/, 5_000);
    await stopAndCheck(p);
  }, 60_000);

  it('an IPv6 underlay (endpoint [fd99::2]:51820, the udp6 socket): ping both ways and 10 MB exact', async () => {
    const p = await setup('wireguard-go', true, false, [], true);
    await ping(p.a, ['10.100.0.2']);
    await ping(p.b, ['-6', 'fd00:100::1']);
    await download(p.b, p.a, '10.100.0.2', 10_000_000);
    const peer = p.b.runSync('wg', ['show', p.bDev, 'dump']).trim().split('\n').find((l) => l.startsWith(p.aPublic))!.split('\t');
    expect(peer[2]).toBe(`[fd99::1]:${WG_PORT}`);
    p.tunnel.child.kill('SIGUSR1');
    await p.tunnel.waitFor(/endpoint: \[fd99::2\]:51820/, 5_000);
    await stopAndCheck(p);
  }, 60_000);

  it('junk on the WireGuard port is dropped and counted, never thrown; the tunnel keeps working', async () => {
    const p = await setup('wireguard-go', true, false);
    await ping(p.a, ['10.100.0.2']);
    const s1 = await liveStats(p.tunnel);
    // From B's underlay: 200 datagrams of random bytes and sizes, and 50 transport-shaped ones (type 4, unknown index).
    const junk = await p.b.run(process.execPath, ['-e', `
      const s = require('node:dgram').createSocket('udp4');
      const c = require('node:crypto');
      let n = 0;
      const out = [];
      for (let i = 0; i < 200; i++) out.push(c.randomBytes(1 + (i * 37) % 1500));
      for (let i = 0; i < 50; i++) { const b = c.randomBytes(64); b.writeUInt32LE(4, 0); out.push(b); }
      for (const b of out) s.send(b, ${WG_PORT}, '10.99.0.1', () => { if (++n === out.length) s.close(); });
    `], { timeoutMs: 10_000 });
    expect(junk.code, junk.stderr).toBe(0);
    await ping(p.a, ['10.100.0.2']);
    const s2 = await liveStats(p.tunnel);
    const d = (k: string): number => statCount(s2, 'wireguard', k) - statCount(s1, 'wireguard', k);
    expect(statCount(s2, 'tunnel', 'UdpRxDatagrams') - statCount(s1, 'tunnel', 'UdpRxDatagrams')).toBeGreaterThanOrEqual(250 + 3);
    // Each junk datagram lands in exactly one drop counter (random bytes: mostly unknown type or length).
    expect(d('InHdrErrors') + d('InMac1Errors') + d('InUnknownIndex') + d('InHandshakeErrors')).toBe(250);
    expect(d('InInternalErrors')).toBe(0);
    expect(p.tunnel.child.exitCode).toBe(null);
    await stopAndCheck(p);
  }, 60_000);

  it('bad config: exit 2, the file and line named, nothing created', async () => {
    const a = Netns.create('wtc');
    cleanup.push(() => a.close());
    const dir = mkdtempSync(join(tmpdir(), 'netstack-wgt-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'bad.conf');
    writeFileSync(file, `[Interface]\nPrivateKey = ${A_KEY}\nAddress = 10.100.0.1/24\n[Peer]\nPublicKey = nope\n`);
    const r = await a.run(process.execPath, [cli, 'tunnel', '--config', file], { timeoutMs: 15_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^netstack tunnel: .*bad\.conf: line 5: PublicKey must be 32 bytes/);
    expect(a.links()).toEqual(['lo']);
    expect(readFileSync(file, 'utf8')).toContain('nope');
  }, 30_000);
});

describe('a netstack on a WireGuard link (createWireGuardLink: no TUN device) ↔ wireguard-go', () => {
  for (const how of ['createStack({ wireguard: { config } })', 'createStack({ link: await createWireGuardLink(...) })', 'netstack fetch --wireguard'] as const) it(`${how}: the Node process fetches 20 MB exact from a kernel-side server behind wireguard-go${how.startsWith('netstack') ? '' : ', and a kernel-side curl reaches its HTTP server'}`, async () => {
    // A holds only the underlay (no wg0): the stack in the Node process is 10.100.0.1.
    const a = Netns.create('wsa');
    cleanup.push(() => a.close());
    const b = Netns.create('wsb');
    cleanup.push(() => b.close());
    a.runSync('ip', ['link', 'add', 'vta', 'type', 'veth', 'peer', 'name', 'vtb']);
    a.runSync('ip', ['link', 'set', 'vtb', 'netns', b.name]);
    a.runSync('ip', ['addr', 'add', '10.99.0.1/24', 'dev', 'vta']);
    a.runSync('ip', ['link', 'set', 'vta', 'up']);
    b.runSync('ip', ['addr', 'add', '10.99.0.2/24', 'dev', 'vtb']);
    b.runSync('ip', ['link', 'set', 'vtb', 'up']);
    const dir = mkdtempSync(join(tmpdir(), 'netstack-wgs-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const bDev = `wgs${process.pid % 1_000_000}`;
    const wgo = b.spawn('wireguard-go', ['-f', bDev]);
    // SIGTERM and its exit (bounded) before the namespace's SIGKILL: it removes its UAPI socket then.
    cleanup.push(async () => {
      if (wgo.exitCode !== null || wgo.signalCode !== null) return;
      const gone = new Promise((r) => wgo.once('exit', r));
      wgo.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    });
    for (let i = 0; i < 100 && spawnSync('test', ['-S', `/var/run/wireguard/${bDev}.sock`]).status !== 0; i++) await new Promise((r) => setTimeout(r, 50));
    const keyFile = join(dir, 'b.key');
    writeFileSync(keyFile, B_KEY + '\n', { mode: 0o600 });
    const aPublic = pubkey(b, A_KEY);
    b.runSync('wg', ['set', bDev, 'listen-port', String(WG_PORT), 'private-key', keyFile, 'peer', aPublic, 'allowed-ips', '10.100.0.1/32']);
    b.runSync('ip', ['addr', 'add', '10.100.0.2/24', 'dev', bDev]);
    b.runSync('ip', ['link', 'set', bDev, 'up']);
    const http = await b.httpFixture(8080, 20_000_000);
    cleanup.push(() => { http.child.kill('SIGTERM'); });

    const bPublic = pubkey(a, B_KEY);
    if (how === 'netstack fetch --wireguard') {
      const file = join(dir, 'a.conf');
      writeFileSync(file, conf(A_KEY, '10.100.0.1/24', bPublic, '10.100.0.0/24', `10.99.0.2:${WG_PORT}`), { mode: 0o600 });
      const f = await a.run(process.execPath, [cli, 'fetch', '--wireguard', file, '--stats', '-o', '/dev/null', 'http://10.100.0.2:8080/big'], { timeoutMs: 60_000 });
      expect(f.code, f.stderr).toBe(0);
      expect(f.stderr).toMatch(new RegExp(`HTTP/1.1 200 OK; 20000000 bytes in .* sha256 ${http.sha256}`));
      process.stdout.write(`wg-tunnel netstack fetch --wireguard <- wireguard-go: ${/\(([\d.]+ MB\/s)\)/.exec(f.stderr)?.[1]}\n`);
      expect(http.out()).toMatch(/peer 10\.100\.0\.1 \d+ \/big/);
      // No device was made: A has the underlay only.
      expect(a.links().sort()).toEqual(['lo', 'vta']);
      return;
    }
    const viaLink = how.includes('createWireGuardLink');
    const child = new Server(a.spawn(process.execPath, [resolve(repoRoot, 'test/kernel/fixtures/wg-stack.mjs'), JSON.stringify({
      address: '10.100.0.1', fetch: 'http://10.100.0.2:8080/big',
      config: conf(A_KEY, '10.100.0.1/24', bPublic, '10.100.0.0/24', `10.99.0.2:${WG_PORT}`),
      ...(viaLink ? { link: { privateKey: A_KEY, listenPort: WG_PORT, peer: { publicKey: bPublic, allowedIPs: ['10.100.0.0/24'], endpoint: { address: '10.99.0.2', port: WG_PORT } } } } : {}),
    })]));
    const [, sha, bytes, ms] = await child.waitFor(/fetched (\w+) (\d+) (\d+)/, 60_000);
    process.stdout.write(`wg-tunnel netstack on a WireGuard link (${viaLink ? 'createWireGuardLink' : 'wireguard option'}) <- wireguard-go: 20 MB at ${(20_000 / Number(ms)).toFixed(1)} MB/s\n`);
    expect(Number(bytes)).toBe(20_000_000);
    expect(sha).toBe(http.sha256);
    // wireguard-go's kernel saw the stack's address as the client.
    expect(http.out()).toMatch(/peer 10\.100\.0\.1 \d+ \/big/);
    await child.waitFor(/serving/, 10_000);
    const r = await b.run('curl', ['-sS', '--max-time', '10', 'http://10.100.0.1:8080/'], { timeoutMs: 15_000 });
    expect(r.stdout).toBe('hello from a node process on WireGuard, to 10.100.0.2\n');
    child.child.stdin!.write('end\n');
    const [line] = await child.waitFor(/stats .*\n/, 10_000);
    expect((await child.exited).code, child.stderr).toBe(0);
    const s = JSON.parse(line.slice(6)) as Stats;
    if (viaLink) {
      expect(statCount(s, 'tunnel', 'TunTxBytes')).toBeGreaterThan(20_000_000);
      expect(statCount(s, 'wireguard', 'InDecryptErrors')).toBe(0);
      // Receive coalescing on the link: runs of decrypted segments reach the stack as one
      // super-segment each, and the stack ACKs a run at once, not every second segment: far
      // fewer datagrams back (about half as many as received without it; a handful with it).
      expect(statCount(s, 'tunnel', 'TunTxGroPackets')).toBeGreaterThan(100);
      expect(statCount(s, 'tunnel', 'TunTxGroSegments')).toBeGreaterThan(2 * statCount(s, 'tunnel', 'TunTxGroPackets'));
      expect(statCount(s, 'wireguard', 'OutDataPackets')).toBeLessThan(statCount(s, 'wireguard', 'InDataPackets') / 4);
    }
    // wireguard-go sent the 20 MB to us, at the stack's endpoint.
    const peer = b.runSync('wg', ['show', bDev, 'dump']).trim().split('\n').find((l) => l.startsWith(aPublic))!.split('\t');
    expect(peer[2]).toBe(`10.99.0.1:${WG_PORT}`);
    expect(Number(peer[6])).toBeGreaterThan(20_000_000);
    expect(statCount(s, 'tcp', 'ActiveOpens')).toBe(1);
    expect(statCount(s, 'tcp', 'PassiveOpens')).toBe(1);
  }, 120_000);
});

describe('netstack tunnel on both ends', () => {
  it('B initiates (A has no endpoint for it); UDP both ways; then A reaches B at the endpoint it learned', async () => {
    const p = await setup('netstack', false, true);
    await ping(p.b, ['10.100.0.1']);
    await ping(p.a, ['10.100.0.2']);
    await udpEcho(p.b, p.a, '10.100.0.2');
    await udpEcho(p.a, p.b, '10.100.0.1');
    const s = await liveStats(p.tunnel);
    expect(statCount(s, 'wireguard', 'InInitiations')).toBeGreaterThanOrEqual(1);
    expect(statCount(s, 'wireguard', 'OutInitiations')).toBe(0);
    const sb = await liveStats(p.bTunnel!);
    expect(statCount(sb, 'wireguard', 'OutInitiations')).toBeGreaterThanOrEqual(1);
    expect(statCount(sb, 'wireguard', 'InResponses')).toBeGreaterThanOrEqual(1);
    await stopAndCheck(p);
  }, 90_000);

  it('rekey after a short REKEY_AFTER_TIME (test hook, 1 s, on A): B takes each new handshake, no ping lost', async () => {
    const p = await setup('netstack', true, false, ['NETSTACK_TUNNEL_TIMERS={"rekeyAfterTime":1000,"rekeyTimeout":500}']);
    const r = await p.a.run('ping', ['-c', '12', '-i', '0.25', '-W', '5', '10.100.0.2'], { timeoutMs: 20_000 });
    expect(r.stdout).toMatch(/12 received/);
    const s = await liveStats(p.tunnel);
    expect(statCount(s, 'wireguard', 'OutInitiations')).toBeGreaterThanOrEqual(3);
    expect(statCount(s, 'wireguard', 'InResponses')).toBeGreaterThanOrEqual(3);
    const sb = await liveStats(p.bTunnel!);
    expect(statCount(sb, 'wireguard', 'InInitiations')).toBeGreaterThanOrEqual(3);
    expect(statCount(sb, 'wireguard', 'InDecryptErrors') + statCount(sb, 'wireguard', 'InUnknownIndex')).toBe(0);
    await stopAndCheck(p);
  }, 60_000);

  it('B restarts (new keys in memory, a new handshake): traffic resumes; then A roams to a new underlay address and B follows', async () => {
    const p = await setup('netstack', true, true);
    await ping(p.a, ['10.100.0.2']);
    const s1 = await liveStats(p.tunnel);
    const { code } = await p.bTunnel!.stop();
    expect(code).toBe(0);
    p.bTunnel = await startTunnel(p.b, p.bFile!, p.bDev);
    await ping(p.b, ['10.100.0.1']);
    await ping(p.a, ['10.100.0.2']);
    const s2 = await liveStats(p.tunnel);
    expect(statCount(s2, 'wireguard', 'InInitiations')).toBeGreaterThan(statCount(s1, 'wireguard', 'InInitiations'));
    expect(statCount(s2, 'wireguard', 'InHandshakeReplays')).toBe(0);
    // Roaming: A's underlay moves 10.99.0.1 -> 10.99.0.5; B's answers follow A's authenticated packets.
    p.a.runSync('ip', ['addr', 'del', '10.99.0.1/24', 'dev', 'vta']);
    p.a.runSync('ip', ['addr', 'add', '10.99.0.5/24', 'dev', 'vta']);
    await ping(p.a, ['10.100.0.2']);
    p.bTunnel.child.kill('SIGUSR1');
    await p.bTunnel.waitFor(/endpoint: 10\.99\.0\.5:51820/, 5_000);
    await stopAndCheck(p);
  }, 90_000);

  it('ping both ways and 20 MB each way exact (offloads on by default at both ends)', async () => {
    const p = await setup('netstack', true, false);
    // Offloads are the default (no flag given): the ready line names what was negotiated.
    expect(p.tunnel.stdout).toMatch(/mtu 1420, offload csum\+tso4\+tso6/);
    await ping(p.a, ['10.100.0.2']);
    await ping(p.b, ['10.100.0.1']);
    await ping(p.b, ['-6', 'fd00:100::1']);
    await download(p.b, p.a, '10.100.0.2', 20_000_000, 'netstack tunnel -> netstack tunnel');
    await download(p.a, p.b, '10.100.0.1', 20_000_000, 'netstack tunnel -> netstack tunnel (other way)');
    const s = await stopAndCheck(p);
    expect(statCount(s, 'tunnel', 'TunTxBytes')).toBeGreaterThan(20_000_000);
    expect(statCount(s, 'wireguard', 'InDecryptErrors')).toBe(0);
  }, 180_000);
});
