/**
 * `netstack nat` (packages/netstack/src/gateway/gateway.ts) on issue 12's topology, in
 * namespaces this file makes and removes:
 *
 *   G (the guest: empty; tap0 10.0.2.100/24 appears, made by nat)
 *        ║ the TUN device (created in G by the nat process running in H)
 *   H (runs `netstack nat --netns G`)  h0 10.8.0.2/24 ──veth── w0 10.8.0.1/24  W ("the internet")
 *                                                                    servers on 10.8.0.1 (fixtures/nat-servers.mjs), dnsmasq
 *
 * G has no route anywhere but the device: everything it reaches, netstack re-originated
 * from H (W's servers see 10.8.0.2 as the peer). 10.8.2.0/24 is routed by H to W, where a
 * blackhole route drops it silently (a silent address).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Netns, Server, cli, repoRoot } from './netns.js';

const SERVERS = resolve(repoRoot, 'test/kernel/fixtures/nat-servers.mjs');
const CLIENT = resolve(repoRoot, 'test/kernel/fixtures/nat-client.mjs');

let g: Netns;
let h: Netns;
let w: Netns;
let nat: Server;
let dir: string;

function ensureDnsmasq(): void {
  if (spawnSync('sh', ['-c', 'command -v dnsmasq']).status === 0) return;
  const r = spawnSync('sh', ['-c', 'apt-get install -y -qq dnsmasq-base || (apt-get update -qq && apt-get install -y -qq dnsmasq-base)'], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) throw new Error(`apt-get install dnsmasq-base failed: ${r.stderr}`);
}

async function client(...args: string[]): Promise<Record<string, unknown>> {
  const r = await g.run(process.execPath, [CLIENT, ...args], { timeoutMs: 70_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try { return JSON.parse(line) as Record<string, unknown>; } catch { throw new Error(`client ${args.join(' ')}: ${r.stdout} ${r.stderr}`); }
}

function patternSha(n: number): string {
  const p = Buffer.alloc(65536);
  for (let i = 0; i < p.length; i++) p[i] = i % 256;
  const h = createHash('sha256');
  for (let left = n; left > 0; left -= p.length) h.update(left >= p.length ? p : p.subarray(0, left));
  return h.digest('hex');
}

beforeAll(async () => {
  ensureDnsmasq();
  g = Netns.create('natg');
  h = Netns.create('nath');
  w = Netns.create('natw');
  dir = mkdtempSync(join(tmpdir(), 'netstack-nat-'));
  const sh = (cmd: string): void => {
    const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  };
  // The veth is made inside H with its peer moved to W at once: nothing in the machine's namespace.
  h.runSync('ip', ['link', 'add', 'h0', 'type', 'veth', 'peer', 'name', 'w0', 'netns', w.name]);
  h.runSync('ip', ['addr', 'add', '10.8.0.2/24', 'dev', 'h0']);
  h.runSync('ip', ['addr', 'add', 'fd08::2/64', 'dev', 'h0', 'nodad']);
  h.runSync('ip', ['link', 'set', 'h0', 'up']);
  h.runSync('ip', ['route', 'add', '10.8.2.0/24', 'via', '10.8.0.1']);
  w.runSync('ip', ['addr', 'add', '10.8.0.1/24', 'dev', 'w0']);
  w.runSync('ip', ['addr', 'add', 'fd08::1/64', 'dev', 'w0', 'nodad']);
  w.runSync('ip', ['link', 'set', 'w0', 'up']);
  w.runSync('sh', ['-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
  w.runSync('ip', ['route', 'add', 'blackhole', '10.8.2.0/24']);
  void sh;
  const servers = w.spawn(process.execPath, [SERVERS, '10.8.0.1', 'fd08::1']);
  await new Promise<void>((res, rej) => {
    let out = '';
    const t = setTimeout(() => rej(new Error(`servers: ${out}`)), 20_000);
    servers.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('listening')) { clearTimeout(t); res(); } });
    servers.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  });
  const dns = w.spawn('dnsmasq', ['-k', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--bind-interfaces', '--listen-address=10.8.0.1',
    '--address=/www.nat.test/10.8.0.42', '--log-facility=-', `--pid-file=${join(dir, 'dnsmasq.pid')}`, '--user=root']);
  await new Promise<void>((res, rej) => {
    let err = '';
    const t = setTimeout(() => rej(new Error(`dnsmasq: ${err}`)), 10_000);
    dns.stderr!.on('data', (d: Buffer) => { err += d.toString(); if (/started|compile time/.test(err)) { clearTimeout(t); res(); } });
    dns.on('exit', (c) => { clearTimeout(t); rej(new Error(`dnsmasq exited ${c}: ${err}`)); });
  });
  nat = new Server(h.spawn(process.execPath, [cli, 'nat', '--netns', g.name, '--dns', '10.8.0.1', '--stats']));
  await nat.waitFor(/ready/, 20_000);
}, 120_000);

afterAll(async () => {
  for (const ns of [g, h, w]) await ns?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('netstack nat: a namespace reaches the internet through the stack', () => {
  it('G has the device, its address and the default route; G has no other way out', () => {
    expect(g.links()).toContain('tap0');
    expect(g.runSync('ip', ['-4', 'addr', 'show', 'tap0'])).toContain('10.0.2.100/24');
    expect(g.runSync('ip', ['route'])).toMatch(/default via 10\.0\.2\.2 dev tap0/);
    expect(h.links()).not.toContain('tap0');
  });

  it('downloads 1 GiB exact, and the server sees H as the peer (re-originated)', async () => {
    const n = 1024 * 1024 * 1024;
    const r = await g.run('sh', ['-c', `curl -sS --max-time 150 http://10.8.0.1/bytes/${n} | sha256sum`], { timeoutMs: 160_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.split(' ')[0]).toBe(patternSha(n));
    const peer = await g.run('curl', ['-sS', '--max-time', '10', 'http://10.8.0.1/peer']);
    expect(peer.stdout).toBe('10.8.0.2');
  }, 180_000);

  it('IPv6: G reaches W over IPv6 through fd00::2, re-originated from H\'s IPv6 address', async () => {
    expect(g.runSync('ip', ['-6', 'route'])).toMatch(/default via fd00::2 dev tap0/);
    const n = 5 * 1024 * 1024;
    const r = await g.run('sh', ['-c', `curl -sS --max-time 30 'http://[fd08::1]/bytes/${n}' | sha256sum`], { timeoutMs: 40_000 });
    expect(r.stdout.split(' ')[0]).toBe(patternSha(n));
    expect((await g.run('curl', ['-sS', '--max-time', '10', 'http://[fd08::1]/peer'])).stdout).toBe('fd08::2');
    // fd00::2 is the host, refused like 10.0.2.2.
    expect((await g.run('curl', ['-sS', '--connect-timeout', '5', 'http://[fd00::2]/'])).code).toBe(7);
  }, 60_000);

  it('uploads 100 MB with the same sha256 at the server', async () => {
    const file = join(dir, 'up.bin');
    const data = randomBytes(100 * 1024 * 1024);
    writeFileSync(file, data);
    const r = await g.run('curl', ['-sS', '--max-time', '90', '--data-binary', `@${file}`, '-H', 'content-type: application/octet-stream', 'http://10.8.0.1/sink'], { timeoutMs: 100_000 });
    expect(JSON.parse(r.stdout)).toEqual({ bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') });
    rmSync(file);
  }, 110_000);

  it('200 concurrent TCP echo connections, each exact', async () => {
    const r = await client('concurrent', '10.8.0.1', '7', '200', '65536');
    expect(r).toEqual({ ok: 200, results: [true] });
  }, 80_000);

  it('a server that speaks first: its bytes wait in the relay for the guest\'s handshake, then arrive exact', async () => {
    expect(await client('read', '10.8.0.1', '13')).toEqual({ bytes: 4 * 1024 * 1024, sha256: patternSha(4 * 1024 * 1024) });
  }, 80_000);

  it('half-close across the relay: the client FIN reaches the server, whose answer still comes back', async () => {
    const r = await client('half', '10.8.0.1', '9', '300000');
    expect(r.answer).toBe(r.expected);
  }, 80_000);

  it('UDP echo of several sizes', async () => {
    const sizes = ['0', '1', '100', '1472', '1473', '8000', '65507'];
    const r = await client('udp', '10.8.0.1', '7', ...sizes);
    expect(r.ok).toEqual(sizes.map(() => true));
  }, 80_000);

  it('DNS through 10.0.2.3, over UDP and over TCP, answered by the upstream in W', async () => {
    expect(await client('dns-udp', '10.0.2.3', 'www.nat.test')).toEqual({ address: '10.8.0.42' });
    expect(await client('dns-tcp', '10.0.2.3', 'www.nat.test')).toEqual({ address: '10.8.0.42' });
  }, 30_000);

  it('a closed port in W is refused at once (RST), a silent address times out, an unrouted one is unreachable at once', async () => {
    let t0 = performance.now();
    const closed = await g.run('curl', ['-sS', '--connect-timeout', '5', 'http://10.8.0.1:81/']);
    expect(closed.code).toBe(7);
    expect(closed.stderr).toMatch(/Couldn't connect|Connection refused/);
    expect(performance.now() - t0).toBeLessThan(3000);
    t0 = performance.now();
    const silent = await g.run('curl', ['-sS', '--connect-timeout', '2', 'http://10.8.2.1/']);
    expect(silent.code).toBe(28);
    expect(performance.now() - t0).toBeGreaterThan(1900);
    t0 = performance.now();
    const unrouted = await g.run('curl', ['-sS', '--connect-timeout', '5', 'http://10.99.0.1/']);
    expect(unrouted.code).toBe(7);
    expect(performance.now() - t0).toBeLessThan(3000);
  }, 30_000);

  it('10.0.2.2 (the host) is refused by default', async () => {
    const t0 = performance.now();
    const r = await g.run('curl', ['-sS', '--connect-timeout', '5', 'http://10.0.2.2/']);
    expect(r.code).toBe(7);
    expect(performance.now() - t0).toBeLessThan(3000);
  });

  it('SIGTERM: exits 0 with counters, the device is gone from G', async () => {
    const { code } = await nat.stop();
    expect(code).toBe(0);
    const line = nat.stdout.split('\n').find((l) => l.startsWith('stats '));
    const stats = JSON.parse(line!.slice(6)) as { gateway: Record<string, number> };
    expect(stats.gateway.TcpAccepted).toBeGreaterThanOrEqual(200 + 4);
    expect(stats.gateway.TcpUpstreamRefused).toBeGreaterThanOrEqual(1);
    expect(stats.gateway.TcpRefusedHost).toBeGreaterThanOrEqual(1);
    expect(stats.gateway.DnsUdp).toBeGreaterThanOrEqual(1);
    expect(stats.gateway.DnsTcp).toBeGreaterThanOrEqual(1);
    expect(stats.gateway.TcpBytesIn).toBeGreaterThan(1024 * 1024 * 1024);
    // Downloads are read straight into the stack's send buffer (most of them: a read is
    // copied only when the buffer has less than a segment free in one piece) and leave it
    // for the device in place (writev): neither copy of the data in JavaScript.
    expect(stats.gateway.TcpBytesInPlace).toBeGreaterThan(512 * 1024 * 1024);
    expect((stats as unknown as { stack: { link: Record<string, number> } }).stack.link.TxGathered).toBeGreaterThan(8000);
    expect(stats.gateway.TcpBytesOut).toBeGreaterThan(100 * 1024 * 1024);
    expect(g.links()).not.toContain('tap0');
  }, 20_000);
});

describe('netstack nat --allow-host-loopback --publish', () => {
  let g2: Netns;
  let h2: Netns;
  let nat2: Server;

  beforeAll(async () => {
    g2 = Netns.create('natg2');
    h2 = Netns.create('nath2');
    // The host's loopback service (in H2, the gateway's own namespace) and the guest's servers (G2, every address).
    for (const [ns, addr] of [[h2, '127.0.0.1'], [g2, '0.0.0.0']] as const) {
      const s = ns.spawn(process.execPath, [SERVERS, addr]);
      await new Promise<void>((res, rej) => {
        let out = '';
        const t = setTimeout(() => rej(new Error(`servers: ${out}`)), 20_000);
        s.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('listening')) { clearTimeout(t); res(); } });
        s.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
      });
    }
    nat2 = new Server(h2.spawn(process.execPath, [cli, 'nat', '--netns', g2.name, '--allow-host-loopback', '--publish', '8080:80', '--publish', '8007:7/udp', '--max-udp', '4']));
    await nat2.waitFor(/ready/, 20_000);
  }, 60_000);

  afterAll(async () => {
    for (const ns of [g2, h2]) await ns?.close();
  });

  it('10.0.2.2 reaches the host\'s 127.0.0.1 with the flag', async () => {
    const r = await g2.run('curl', ['-sS', '--max-time', '10', 'http://10.0.2.2/peer']);
    expect(r.stdout).toBe('127.0.0.1');
  });

  it('a published TCP port on the host reaches the guest\'s server (exact bytes)', async () => {
    const n = 10 * 1024 * 1024;
    const r = await h2.run('sh', ['-c', `curl -sS --max-time 30 http://127.0.0.1:8080/bytes/${n} | sha256sum`], { timeoutMs: 40_000 });
    expect(r.stdout.split(' ')[0]).toBe(patternSha(n));
    // The guest sees the gateway's own address as the peer.
    expect((await h2.run('curl', ['-sS', '--max-time', '10', 'http://127.0.0.1:8080/peer'])).stdout).toBe('10.0.2.1');
  }, 50_000);

  it('a published UDP port on the host reaches the guest\'s echo', async () => {
    const r = await h2.run(process.execPath, [CLIENT, 'udp', '127.0.0.1', '8007', '1', '1000', '8000']);
    expect(JSON.parse(r.stdout).ok).toEqual([true, true, true]);
  }, 30_000);

  it('a published UDP port with more peers than --max-udp (4): each new peer takes the least recently active one\'s place, all 7 answered', async () => {
    // Seven peers one after the other, each its own socket (source port) kept open: with the
    // old drop-when-full, the fifth to seventh got nothing until the first four idled out (60 s).
    const script = `
      const dgram = require('node:dgram');
      (async () => {
        let answered = 0;
        for (let i = 0; i < 7; i++) {
          const s = dgram.createSocket('udp4');
          const ok = await new Promise((res) => {
            const t = setTimeout(() => res(false), 2000);
            s.once('message', (m) => { clearTimeout(t); res(m.toString() === 'peer' + i); });
            s.send('peer' + i, 8007, '127.0.0.1');
          });
          if (ok) answered++;
        }
        console.log(answered);
        process.exit(0);
      })();`;
    const r = await h2.run(process.execPath, ['-e', script], { timeoutMs: 30_000 });
    expect(r.stdout.trim()).toBe('7');
  }, 40_000);

  it('exits 0 on SIGTERM, the published ports closed', async () => {
    expect((await nat2.stop()).code).toBe(0);
    const r = await h2.run('curl', ['-sS', '--max-time', '5', 'http://127.0.0.1:8080/']);
    expect(r.code).toBe(7);
  }, 20_000);
});

describe('createGateway embedded: policy, bounds, resets, back-pressure (in H, guest G3)', () => {
  let g3: Netns;
  let gw: Server;
  const EMBED = resolve(repoRoot, 'test/kernel/fixtures/nat-embed.mjs');

  const statsNow = async (): Promise<{ gateway: Record<string, number>; rss: number }> => {
    const before = gw.stdout.split('\n').filter((l) => l.startsWith('stats ')).length;
    gw.child.kill('SIGUSR2');
    await gw.waitFor(new RegExp(`(stats .*\\n[^]*){${before + 1}}`), 5000);
    const lines = gw.stdout.split('\n').filter((l) => l.startsWith('stats '));
    return JSON.parse(lines[before]!.slice(6)) as { gateway: Record<string, number>; rss: number };
  };

  beforeAll(async () => {
    g3 = Netns.create('natg3');
    gw = new Server(h.spawn(process.execPath, [EMBED, g3.name, '10.8.0.1']));
    await gw.waitFor(/ready/, 20_000);
  }, 30_000);

  afterAll(async () => {
    await g3?.close();
  });

  it('the policy rewrites a destination and refuses another with ICMP admin-prohibited', async () => {
    expect((await g3.run('curl', ['-sS', '--max-time', '10', 'http://10.8.0.1:8888/peer'])).stdout).toBe('10.8.0.2');
    const t0 = performance.now();
    const r = await g3.run('curl', ['-sS', '--connect-timeout', '5', 'http://10.8.0.1:9/']);
    expect(r.code).toBe(7);
    expect(performance.now() - t0).toBeLessThan(3000);
    expect((await statsNow()).gateway.TcpRefusedPolicy).toBe(1);
  }, 30_000);

  it('a reset by the server reaches the guest as ECONNRESET', async () => {
    expect(await g3.run(process.execPath, [CLIENT, 'reset', '10.8.0.1', '11']).then((r) => JSON.parse(r.stdout))).toEqual({ error: 'ECONNRESET' });
  }, 30_000);

  it('a reset by the guest reaches the server as ECONNRESET', async () => {
    const before = Number((await g3.run('curl', ['-sS', '--max-time', '10', 'http://10.8.0.1/resets'])).stdout);
    expect(await client3(g3, 'rst', '10.8.0.1', '12')).toEqual({ reset: true });
    let after = before;
    for (let i = 0; i < 50 && after === before; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = Number((await g3.run('curl', ['-sS', '--max-time', '10', 'http://10.8.0.1/resets'])).stdout);
    }
    expect(after).toBe(before + 1);
  }, 30_000);

  it('over the TCP bound, new connections are refused (RST) and counted', async () => {
    const before = (await statsNow()).gateway.TcpRefusedLimit!;
    const r = await client3(g3, 'concurrent', '10.8.0.1', '7', '12', '2000000');
    const refused = (r.results as unknown[]).includes('ECONNREFUSED') ? 12 - (r.ok as number) : 0;
    expect(r.ok as number).toBeGreaterThanOrEqual(4);
    expect(refused).toBeGreaterThan(0);
    expect((await statsNow()).gateway.TcpRefusedLimit! - before).toBe(refused);
  }, 60_000);

  it('a guest that does not read holds the gateway\'s memory bounded; then every byte arrives exact', async () => {
    const rss0 = (await statsNow()).rss;
    const n = 400 * 1024 * 1024;
    const child = g3.spawn(process.execPath, [CLIENT, 'slow', '10.8.0.1', '80', String(n), '4000']);
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    await new Promise<void>((res) => { const t = setInterval(() => { if (out.includes('stalled') || child.exitCode !== null) { clearInterval(t); res(); } }, 50); });
    const rss1 = (await statsNow()).rss;
    await new Promise((res) => child.once('exit', res));
    const result = JSON.parse(out.trim().split('\n').pop()!) as { bytes: number; sha256: string };
    expect(result).toEqual({ bytes: n, sha256: patternSha(n) });
    // 4 s of a fast sender into a reader that reads nothing: without back-pressure the
    // gateway would hold hundreds of MB; with it, the windows and stream buffers.
    expect(rss1 - rss0).toBeLessThan(64 * 1024 * 1024);
  }, 90_000);

  it('closes on SIGTERM', async () => {
    expect((await gw.stop()).code).toBe(0);
    expect(g3.links()).not.toContain('tap0');
  }, 20_000);
});

async function client3(ns: Netns, ...args: string[]): Promise<Record<string, unknown>> {
  const r = await ns.run(process.execPath, [CLIENT, ...args], { timeoutMs: 70_000 });
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as Record<string, unknown>;
}

describe('netstack nat --socks5: the tun2socks mode through Debian\'s dante-server in W', () => {
  let g4: Netns;
  let nat4: Server;
  let danted: ReturnType<Netns['spawn']>;

  beforeAll(async () => {
    if (spawnSync('sh', ['-c', 'command -v danted']).status !== 0) {
      const r = spawnSync('sh', ['-c', 'apt-get install -y -qq dante-server || (apt-get update -qq && apt-get install -y -qq dante-server)'], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      if (r.status !== 0) throw new Error(`apt-get install dante-server failed: ${r.stderr}`);
    }
    const conf = join(dir, 'danted.conf');
    writeFileSync(conf, [
      'logoutput: stderr', 'internal: 10.8.0.1 port = 1080', 'external: 10.8.0.1', 'socksmethod: none', 'clientmethod: none',
      'user.privileged: root', 'user.unprivileged: nobody',
      'client pass {\n  from: 0/0 to: 0/0\n}',
      'socks pass {\n  from: 0/0 to: 0/0\n  command: connect udpassociate udpreply\n}', '',
    ].join('\n'));
    danted = w.spawn('danted', ['-f', conf]);
    await new Promise<void>((res, rej) => {
      let out = '';
      const t = setTimeout(() => rej(new Error(`danted: ${out}`)), 20_000);
      const on = (d: Buffer): void => { out += d.toString(); if (/running/.test(out)) { clearTimeout(t); res(); } };
      danted.stdout!.on('data', on);
      danted.stderr!.on('data', on);
    });
    g4 = Netns.create('natg4');
    nat4 = new Server(h.spawn(process.execPath, [cli, 'nat', '--netns', g4.name, '--socks5', '10.8.0.1:1080', '--dns', '10.8.0.1', '--stats']));
    await nat4.waitFor(/ready/, 20_000);
  }, 320_000);

  afterAll(async () => {
    danted?.kill('SIGTERM');
    if (danted && danted.exitCode === null && danted.signalCode === null) {
      await new Promise((r) => { const t = setTimeout(r, 5000); danted.once('exit', () => { clearTimeout(t); r(null); }); });
    }
    await g4?.close();
  });

  it('TCP goes through the proxy: the server sees dante\'s external address, the bytes exact', async () => {
    expect((await g4.run('curl', ['-sS', '--max-time', '10', 'http://10.8.0.1/peer'])).stdout).toBe('10.8.0.1');
    const n = 20 * 1024 * 1024;
    const r = await g4.run('sh', ['-c', `curl -sS --max-time 60 http://10.8.0.1/bytes/${n} | sha256sum`], { timeoutMs: 70_000 });
    expect(r.stdout.split(' ')[0]).toBe(patternSha(n));
    expect(await client3(g4, 'half', '10.8.0.1', '9', '100000').then((x) => x.answer === x.expected)).toBe(true);
  }, 90_000);

  it('a refusal reported by the proxy reaches the guest as a refusal', async () => {
    const t0 = performance.now();
    const r = await g4.run('curl', ['-sS', '--connect-timeout', '5', 'http://10.8.0.1:81/']);
    expect(r.code).toBe(7);
    expect(performance.now() - t0).toBeLessThan(3000);
  }, 30_000);

  it('UDP and DNS go through UDP ASSOCIATE', async () => {
    const r = await client3(g4, 'udp', '10.8.0.1', '7', '1', '1000', '8000');
    expect(r.ok).toEqual([true, true, true]);
    expect(await client3(g4, 'dns-udp', '10.0.2.3', 'www.nat.test')).toEqual({ address: '10.8.0.42' });
  }, 30_000);

  it('exits 0 on SIGTERM', async () => {
    expect((await nat4.stop()).code).toBe(0);
    const stats = JSON.parse(nat4.stdout.split('\n').find((l) => l.startsWith('stats '))!.slice(6)) as { gateway: Record<string, number> };
    expect(stats.gateway.TcpUpstreamRefused).toBeGreaterThanOrEqual(1);
    expect(stats.gateway.UdpFlows).toBeGreaterThanOrEqual(2);
  }, 20_000);
});

describe('netstack nat: usage and set-up errors', () => {
  const run = (args: string[]) => h.run(process.execPath, [cli, 'nat', ...args], { timeoutMs: 10_000 });
  it('exits 2 with one line naming the flag for usage mistakes', async () => {
    for (const [args, re] of [
      [[], /--netns is required/],
      [['--netns', 'x', '--publish', '80'], /--publish must be HOSTPORT:NSPORT/],
      [['--netns', 'x', '--mtu', '10'], /--mtu must be an integer in 68\.\.65535/],
      [['--netns', 'x', '--dns', '1.2.3.4:0'], /--dns must be/],
      [['--netns', 'x', '--socks5-user', 'u'], /--socks5-user needs --socks5/],
    ] as Array<[string[], RegExp]>) {
      const r = await run(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(re);
    }
  }, 60_000);

  it('a namespace that does not exist: exit 1, ENOENT, nothing left behind', async () => {
    const r = await run(['--netns', `netstack-nat-none-${process.pid}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ENOENT/);
    expect(h.links().filter((l) => l.startsWith('tap'))).toEqual([]);
  }, 20_000);
});
