/**
 * Kernel-facing, TAP + DHCP against a broken server (session 23, helper HT). `netstack
 * serve --tap --dhcp` in namespace A on bridge br0 (10.7.0.1/24), a neighbour in namespace B
 * (10.7.0.3 on a veth on br0). dnsmasq (Debian's, installed when missing) on br0 first offers
 * the stack the neighbour's own address (`--dhcp-host` pins it, `--no-ping` skips dnsmasq's
 * own check) with an MTU option of 68: the stack ARP-probes it (RFC 5227), B's kernel
 * answers, the stack DECLINEs it (RFC 2131 §4.4.1; dnsmasq logs the DECLINE) and never
 * uses it. dnsmasq then disables the pinned address for 10 minutes and serves its range:
 * after the DECLINE's 10 s the stack leases an address of it, and ignores the MTU of 68
 * (below 576; it kept 1500). B pings the stack at the leased address.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netns, Server, cli, liveStats, statCount } from './netns.js';

const MAC = '02:00:00:00:0e:07';

let a: Netns;
let b: Netns;
let dir: string;
let dnsmasq: ChildProcess | undefined;
let log = '';
let srv: Server;

function ensureDnsmasq(): void {
  if (spawnSync('sh', ['-c', 'command -v dnsmasq']).status === 0) return;
  if (process.getuid?.() !== 0) throw new Error('dnsmasq is missing: apt-get install -y dnsmasq-base');
  const r = spawnSync('sh', ['-c', 'apt-get install -y -qq dnsmasq-base || (apt-get update -qq && apt-get install -y -qq dnsmasq-base)'], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) throw new Error(`apt-get install dnsmasq-base failed: ${r.stderr}`);
}

async function until(what: string, test: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!test()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; dnsmasq log:\n${log.slice(-1500)}\nserve stderr:\n${srv?.stderr.slice(-800)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startDnsmasq(extra: string[]): Promise<void> {
  const started = (log.match(/started, version/g) ?? []).length;
  dnsmasq = a.spawn('dnsmasq', [
    '--no-daemon', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--port=0', '--interface=br0', '--no-ping',
    '--dhcp-range=10.7.0.50,10.7.0.60,255.255.255.0,2m', '--dhcp-option=option:router,10.7.0.1', '--dhcp-option=option:mtu,68',
    '--dhcp-authoritative', `--dhcp-leasefile=${join(dir, 'leases')}`, '--log-dhcp', '--log-facility=-', ...extra,
  ]);
  dnsmasq.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
  dnsmasq.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  await until('dnsmasq to start', () => (log.match(/started, version/g) ?? []).length > started, 20_000);
}

async function stopDnsmasq(): Promise<void> {
  const d = dnsmasq;
  if (d === undefined || d.exitCode !== null || d.signalCode !== null) return;
  d.kill('SIGTERM');
  await new Promise((r) => d.once('exit', r));
}

beforeAll(async () => {
  ensureDnsmasq();
  dir = mkdtempSync(join(tmpdir(), 'netstack-rogue-dhcp-'));
  a = Netns.create('taprogue');
  b = Netns.create('taprogue-peer');
  a.runSync('ip', ['tuntap', 'add', 'dev', 'tapr0', 'mode', 'tap']);
  srv = new Server(a.spawn(process.execPath, [cli, 'serve', '--tap', '--tap-name', 'tapr0', '--dhcp', '--no-ipv6', '--mac', MAC, '--stats']));
  // serve gave tapr0 the kernel side's 10.7.0.1/24; it moves to the bridge.
  await until('serve to configure tapr0', () => /10\.7\.0\.1\/24/.test(a.runSync('ip', ['-o', 'addr', 'show', 'dev', 'tapr0'])), 20_000);
  for (const cmd of [
    ['link', 'add', 'br0', 'type', 'bridge'],
    ['link', 'set', 'tapr0', 'master', 'br0'],
    ['addr', 'flush', 'dev', 'tapr0'],
    ['addr', 'add', '10.7.0.1/24', 'dev', 'br0'],
    ['link', 'add', 'vethb', 'type', 'veth', 'peer', 'name', 'vethb', 'netns', b.name],
    ['link', 'set', 'vethb', 'master', 'br0'],
    ['link', 'set', 'vethb', 'up'],
    ['link', 'set', 'br0', 'up'],
  ]) a.runSync('ip', cmd);
  b.runSync('ip', ['addr', 'add', '10.7.0.3/24', 'dev', 'vethb']);
  b.runSync('ip', ['link', 'set', 'vethb', 'up']);
}, 360_000);

afterAll(async () => {
  if (process.env.DHCP_DEBUG) console.log(log, srv?.stdout, srv?.stderr);
  await stopDnsmasq();
  if (srv !== undefined && srv.child.exitCode === null) srv.child.kill('SIGKILL');
  await b?.close();
  await a?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('netstack serve --tap --dhcp against a broken DHCP server', () => {
  it('offered the neighbour\'s own address: probed, found taken (B answers), DECLINEd, never used', async () => {
    await startDnsmasq([`--dhcp-host=${MAC},10.7.0.3`]);
    await until('the DECLINE at dnsmasq', () => /DHCPDECLINE\(br0\) 10\.7\.0\.3/.test(log), 40_000);
    expect(log).toMatch(/DHCPACK\(br0\) 10\.7\.0\.3/);
    // Never applied: no 'ready' with it, and B's neighbours never saw the stack's MAC for 10.7.0.3.
    expect(srv.stdout).not.toMatch(/stack 10\.7\.0\.3/);
    expect(b.runSync('ip', ['neigh', 'show'])).not.toContain(MAC);
  }, 60_000);

  it('dnsmasq then gives up the pinned address (10 min) and offers its range: the stack leases one after the DECLINE\'s 10 s; the MTU option of 68 is ignored', async () => {
    const m = await srv.waitFor(/ready on tapr0: .*mtu (\d+), .*dhcp lease (10\.7\.0\.\d+)\/24 router 10\.7\.0\.1/, 40_000);
    expect(m[1]).toBe('1500');
    expect(m[2]).toMatch(/^10\.7\.0\.(5\d|60)$/);
    expect(log).toMatch(/sent size: {2}2 option: 26 mtu {2}68/);
    const p = await b.run('ping', ['-c', '3', '-i', '0.2', '-W', '2', m[2]!], { timeoutMs: 15_000 });
    expect(p.stdout, p.stderr).toMatch(/3 packets transmitted, 3 received/);
    const s = await liveStats(srv);
    expect(statCount(s, 'dhcp', 'Declined')).toBe(1);
    expect(statCount(s, 'dhcp', 'Acquired')).toBe(2);
  }, 60_000);
});
