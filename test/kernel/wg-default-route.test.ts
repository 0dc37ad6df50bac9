/**
 * `netstack tunnel` with a peer whose AllowedIPs are 0.0.0.0/0 and ::/0: everything goes
 * through the tunnel except the tunnel's own UDP, whose endpoint is reached through a router.
 *
 *   namespace A                       namespace R (router)              namespace B
 *   netstack tunnel wg0               ip_forward=1                      wireguard-go wgdNNN
 *   10.100.0.1/24 fd00:100::1/64                                        10.100.0.2/24 fd00:100::2/64
 *   AllowedIPs 0.0.0.0/0, ::/0                                          lo: 203.0.113.1, 2001:db8:1::1
 *   vda 10.99.0.1/24 ---------- vdr 10.99.0.254/24 | vdr2 10.98.0.254/24 ---------- vdb 10.98.0.2/24
 *   default via 10.99.0.254                                             default via 10.98.0.254
 *
 * R has no route to 203.0.113.1 or 2001:db8:1::1: A reaches them only through the tunnel.
 * A's tunnel routes 0.0.0.0/1, 128.0.0.0/1, ::/1, 8000::/1 to wg0 and keeps its endpoint
 * 10.98.0.2 on the underlay with a host route via 10.99.0.254 (removed at exit). With that
 * route deleted by hand, the tunnel's own datagrams come back through wg0: dropped and counted
 * (TunRxLoopDrops), never encrypted again. Every wait is bounded.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cli, liveStats, Netns, Server, statCount, type Stats } from './netns.js';

const A_KEY = createHash('sha256').update('netstack-tunnel-default-a').digest().toString('base64');
const B_KEY = createHash('sha256').update('netstack-tunnel-default-b').digest().toString('base64');
const PORT = 51820;

beforeAll(() => {
  for (const tool of ['wireguard-go', 'wg', 'curl', 'ping']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      throw new Error(`this test needs '${tool}': apt-get install -y --no-install-recommends wireguard-go wireguard-tools curl iputils-ping`);
    }
  }
});

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function ping(ns: Netns, args: string[], expectOk = true): Promise<string> {
  const r = await ns.run('ping', ['-c', '3', '-i', '0.2', '-W', '3', ...args], { timeoutMs: 15_000 });
  if (expectOk) {
    expect(r.code, `${ns.name} ping ${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/3 received/);
  }
  return r.stdout;
}

describe('netstack tunnel with AllowedIPs 0.0.0.0/0, ::/0 (the endpoint behind a router)', () => {
  it('routes everything through the tunnel but its own UDP; the endpoint route goes at exit; its own datagrams routed into it are dropped and counted', async () => {
    const a = Netns.create('wda');
    cleanup.push(() => a.close());
    const r = Netns.create('wdr');
    cleanup.push(() => r.close());
    const b = Netns.create('wdb');
    cleanup.push(() => b.close());
    a.runSync('ip', ['link', 'add', 'vda', 'type', 'veth', 'peer', 'name', 'vdr']);
    a.runSync('ip', ['link', 'set', 'vdr', 'netns', r.name]);
    b.runSync('ip', ['link', 'add', 'vdb', 'type', 'veth', 'peer', 'name', 'vdr2']);
    b.runSync('ip', ['link', 'set', 'vdr2', 'netns', r.name]);
    a.runSync('ip', ['addr', 'add', '10.99.0.1/24', 'dev', 'vda']);
    a.runSync('ip', ['link', 'set', 'vda', 'up']);
    a.runSync('ip', ['route', 'add', 'default', 'via', '10.99.0.254']);
    r.runSync('ip', ['addr', 'add', '10.99.0.254/24', 'dev', 'vdr']);
    r.runSync('ip', ['addr', 'add', '10.98.0.254/24', 'dev', 'vdr2']);
    r.runSync('ip', ['link', 'set', 'vdr', 'up']);
    r.runSync('ip', ['link', 'set', 'vdr2', 'up']);
    r.runSync('sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
    b.runSync('ip', ['addr', 'add', '10.98.0.2/24', 'dev', 'vdb']);
    b.runSync('ip', ['link', 'set', 'vdb', 'up']);
    b.runSync('ip', ['route', 'add', 'default', 'via', '10.98.0.254']);
    b.runSync('ip', ['addr', 'add', '203.0.113.1/32', 'dev', 'lo']);
    b.runSync('ip', ['addr', 'add', '2001:db8:1::1/128', 'dev', 'lo']);
    // The underlay works (A to B through R) and the "internet" behind B is not reachable without the tunnel.
    await ping(a, ['10.98.0.2']);
    expect(await ping(a, ['-c', '1', '-W', '1', '203.0.113.1'], false)).toMatch(/0 received|100% packet loss/);

    const dir = mkdtempSync(join(tmpdir(), 'netstack-wgd-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const aPublic = a.runSync('sh', ['-c', `echo ${A_KEY} | wg pubkey`]).trim();
    const bPublic = a.runSync('sh', ['-c', `echo ${B_KEY} | wg pubkey`]).trim();
    const bDev = `wgd${process.pid % 1_000_000}`;
    const wgo = b.spawn('wireguard-go', ['-f', bDev]);
    cleanup.push(async () => {
      if (wgo.exitCode !== null || wgo.signalCode !== null) return;
      const gone = new Promise((res) => wgo.once('exit', res));
      wgo.kill('SIGTERM');
      await Promise.race([gone, new Promise((res) => setTimeout(res, 5000))]);
    });
    for (let i = 0; i < 100 && spawnSync('test', ['-S', `/var/run/wireguard/${bDev}.sock`]).status !== 0; i++) await new Promise((res) => setTimeout(res, 50));
    const keyFile = join(dir, 'b.key');
    writeFileSync(keyFile, `${B_KEY}\n`, { mode: 0o600 });
    b.runSync('wg', ['set', bDev, 'listen-port', String(PORT), 'private-key', keyFile, 'peer', aPublic, 'allowed-ips', '10.100.0.1/32,fd00:100::1/128']);
    b.runSync('ip', ['addr', 'add', '10.100.0.2/24', 'dev', bDev]);
    b.runSync('ip', ['addr', 'add', 'fd00:100::2/64', 'dev', bDev, 'nodad']);
    b.runSync('ip', ['link', 'set', bDev, 'up']);

    const routesBefore = a.runSync('ip', ['route', 'show']);
    const file = join(dir, 'wg0.conf');
    writeFileSync(file, `[Interface]\nPrivateKey = ${A_KEY}\nAddress = 10.100.0.1/24, fd00:100::1/64\nListenPort = ${PORT}\nMTU = 1420\n\n` +
      `[Peer]\nPublicKey = ${bPublic}\nAllowedIPs = 0.0.0.0/0, ::/0\nEndpoint = 10.98.0.2:${PORT}\n`, { mode: 0o600 });
    const t = new Server(a.spawn(process.execPath, [cli, 'tunnel', '--config', file, '--stats']));
    cleanup.push(async () => { if (t.child.exitCode === null) await t.stop(); });
    await t.waitFor(/ready/, 20_000);
    expect(t.stdout).toMatch(/routes 0\.0\.0\.0\/1 128\.0\.0\.0\/1 ::\/1 8000::\/1, underlay 10\.98\.0\.2\/32 via 10\.99\.0\.254 dev vda/);
    expect(t.stderr).not.toMatch(/not routed/);

    // The kernel's choices in A: the world through wg0, the endpoint through the router.
    expect(a.runSync('ip', ['route', 'get', '203.0.113.1'])).toMatch(/dev wg0 /);
    expect(a.runSync('ip', ['route', 'get', '8.8.8.8'])).toMatch(/dev wg0 /);
    expect(a.runSync('ip', ['-6', 'route', 'get', '2001:db8:1::1'])).toMatch(/dev wg0 /);
    expect(a.runSync('ip', ['route', 'get', '10.98.0.2'])).toMatch(/via 10\.99\.0\.254 dev vda/);

    // Through the tunnel, both families, to addresses only B has.
    await ping(a, ['203.0.113.1']);
    await ping(a, ['-6', '2001:db8:1::1']);
    const http = await b.httpFixture(8080, 5_000_000);
    cleanup.push(() => { http.child.kill('SIGTERM'); });
    const got = await a.run('sh', ['-c', 'curl -sS --fail --max-time 30 http://203.0.113.1:8080/big | sha256sum'], { timeoutMs: 40_000 });
    expect(got.code, got.stderr).toBe(0);
    expect(got.stdout.split(' ')[0]).toBe(http.sha256);
    // B saw the tunnel address as the client, and A's underlay address (through R) as the endpoint.
    expect(http.out()).toMatch(/peer 10\.100\.0\.1 \d+ \/big/);
    expect(b.runSync('wg', ['show', bDev, 'endpoints'])).toContain(`10.99.0.1:${PORT}`);
    let s = await liveStats(t);
    expect(statCount(s, 'tunnel', 'TunRxLoopDrops')).toBe(0);

    // The endpoint route gone (by hand): the next datagrams to 10.98.0.2 are routed into wg0
    // itself. The tunnel drops them (counted), the pings fail, nothing loops.
    a.runSync('ip', ['route', 'del', '10.98.0.2/32']);
    expect(a.runSync('ip', ['route', 'get', '10.98.0.2'])).toMatch(/dev wg0 /);
    await ping(a, ['-c', '2', '-W', '1', '203.0.113.1'], false);
    s = await liveStats(t);
    expect(statCount(s, 'tunnel', 'TunRxLoopDrops')).toBeGreaterThanOrEqual(2);
    const loops = statCount(s, 'tunnel', 'TunRxLoopDrops');
    // Back on the underlay: it works again.
    a.runSync('ip', ['route', 'add', '10.98.0.2/32', 'via', '10.99.0.254', 'dev', 'vda']);
    await ping(a, ['203.0.113.1']);
    s = await liveStats(t);
    expect(statCount(s, 'tunnel', 'TunRxLoopDrops')).toBe(loops);

    // SIGTERM: exit 0, the device and the endpoint route gone, A's table as it was.
    const { code } = await t.stop();
    expect(code, t.stderr).toBe(0);
    expect(a.links()).not.toContain('wg0');
    expect(a.runSync('ip', ['route', 'show'])).toBe(routesBefore);
    const final = JSON.parse(t.stdout.split('\n').filter((l) => l.startsWith('stats ')).at(-1)!.slice(6)) as Stats;
    expect(statCount(final, 'wireguard', 'InDecryptErrors')).toBe(0);
  }, 120_000);
});
