/**
 * `netstack nat` against a hostile or buggy guest (packages/netstack/src/gateway/README.md,
 * "Robustness"), on nat.test.ts's topology in namespaces this file makes and removes:
 * G (the guest) ═ tap0 ═ H (netstack nat --max-tcp 512 --max-udp 64) ── veth ── W (servers on
 * 10.8.0.1; 10.8.2.0/24 routed to W and blackholed there: silent addresses).
 *
 * Each attack comes from G (fixtures/nat-hostile.mjs: node sockets, and a raw socket for
 * SYNs no socket sends), and after each the gateway must still give G a new connection at
 * once, with the attack counted. Every attack here shut G out of new connections or flows
 * before the fixes (for up to a minute, or two with forged sources): a full UDP flow table
 * (64 flows to closed ports), 30 SYNs carrying 60 KB each (the pending table's byte
 * bound), 1100 SYNs to silent addresses and 700 SYNs from forged sources in G's subnet
 * (connections never established, over --max-tcp), SYNs and datagrams from sources outside
 * G's prefix (re-originated as if G's), and (for ping, 10 s) 1100 echo requests to silent
 * addresses.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Netns, Server, cli, repoRoot } from './netns.js';

const SERVERS = resolve(repoRoot, 'test/kernel/fixtures/nat-servers.mjs');
const HOSTILE = resolve(repoRoot, 'test/kernel/fixtures/nat-hostile.mjs');

let g: Netns;
let h: Netns;
let w: Netns;
let nat: Server;

async function guest(...args: string[]): Promise<Record<string, unknown>> {
  const r = await g.run(process.execPath, [HOSTILE, ...args], { timeoutMs: 40_000 });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try { return JSON.parse(line) as Record<string, unknown>; } catch { throw new Error(`nat-hostile ${args.join(' ')}: ${r.stdout} ${r.stderr}`); }
}

type Layer = Record<string, number>;
interface Counters { gateway: Record<string, number>; stack: { tcp: Layer; udp: Layer } }

/** The gateway's and the stack's counters now (SIGUSR2 prints one more complete 'stats' line). */
async function stats(): Promise<Counters> {
  const lines = (): string[] => nat.stdout.split('\n').slice(0, -1).filter((l) => l.startsWith('stats '));
  const n = lines().length;
  nat.child.kill('SIGUSR2');
  await new Promise<void>((res, rej) => {
    // Server's own 'data' listener (registered first) has appended the chunk when this runs.
    const on = (): void => { if (lines().length > n) { clearTimeout(t); nat.child.stdout!.off('data', on); res(); } };
    const t = setTimeout(() => { nat.child.stdout!.off('data', on); rej(new Error('no stats line after SIGUSR2')); }, 5000);
    nat.child.stdout!.on('data', on);
  });
  return JSON.parse(lines().pop()!.slice(6)) as Counters;
}

/** What /proc says of the gateway process's resident memory (kB). */
function rssKb(): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${nat.child.pid}/status`, 'utf8'));
  return Number(m![1]);
}

/** W's established TCP connections to its servers (ss in W). */
function establishedInW(): number {
  return w.runSync('ss', ['-Htn', 'state', 'established']).split('\n').filter(Boolean).length;
}

/** A TCP echo (a refused connect tried again 100 ms later: the bounds refuse for up to a second) and a UDP one from G. */
async function stillServes(): Promise<void> {
  expect(await guest('echo-tcp', '10.8.0.1', '7', '2500')).toMatchObject({ ok: true });
  expect(await guest('echo-udp', '10.8.0.1', '7', '2500')).toMatchObject({ ok: true });
}

beforeAll(async () => {
  g = Netns.create('hosg');
  h = Netns.create('hosh');
  w = Netns.create('hosw');
  // The veth is made inside H with its peer moved to W at once: nothing in the machine's namespace.
  h.runSync('ip', ['link', 'add', 'h0', 'type', 'veth', 'peer', 'name', 'w0', 'netns', w.name]);
  h.runSync('ip', ['addr', 'add', '10.8.0.2/24', 'dev', 'h0']);
  h.runSync('ip', ['link', 'set', 'h0', 'up']);
  h.runSync('ip', ['route', 'add', '10.8.2.0/24', 'via', '10.8.0.1']);
  w.runSync('ip', ['addr', 'add', '10.8.0.1/24', 'dev', 'w0']);
  w.runSync('ip', ['link', 'set', 'w0', 'up']);
  w.runSync('ip', ['route', 'add', 'blackhole', '10.8.2.0/24']);
  const servers = w.spawn(process.execPath, [SERVERS, '10.8.0.1']);
  await new Promise<void>((res, rej) => {
    let out = '';
    const t = setTimeout(() => rej(new Error(`servers: ${out}`)), 20_000);
    servers.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('listening')) { clearTimeout(t); res(); } });
    servers.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  });
  nat = new Server(h.spawn(process.execPath, [cli, 'nat', '--netns', g.name, '--no-ipv6', '--dns', '10.8.0.1', '--max-tcp', '512', '--max-udp', '64', '--stats']));
  await nat.waitFor(/ready/, 20_000);
  await stillServes();
}, 60_000);

afterAll(async () => {
  for (const ns of [g, h, w]) await ns?.close();
});

describe('netstack nat: a hostile guest cannot shut itself out, and every attack is counted', () => {
  it('a full UDP flow table: a new flow takes the least recently active one\'s place', async () => {
    expect(await guest('udp', '10.8.0.1', '20000', '200')).toEqual({ sent: 200 });
    await stillServes();
    const s = await stats();
    expect(s.gateway.UdpEvicted).toBeGreaterThanOrEqual(200 - 64);
    expect(s.stack.udp.FlowEvicted).toBe(s.gateway.UdpEvicted);
    expect(s.stack.udp.FlowTableFull).toBe(0);
    // The gateway saw each evicted flow's 'close' before the flow that took its place: none refused at its own bound.
    expect(s.gateway.UdpRefusedLimit).toBe(0);
    expect(s.gateway.UdpActive).toBeLessThanOrEqual(64);
  }, 30_000);

  it('SYNs carrying 60 KB each to a silent address cost no more pending memory than plain ones', async () => {
    expect(await guest('syn', '10.0.2.100', '10.8.2.1', '80', '30', '60000')).toEqual({ sent: 30 });
    await stillServes();
    const s = await stats();
    expect(s.stack.tcp['dropped.InterceptFull']).toBe(0);
    expect(s.stack.tcp.InterceptPending).toBeGreaterThanOrEqual(30);
    expect(s.stack.tcp.InterceptPendingBytes).toBeLessThan(30 * 2048 + 64 * 1024);
  }, 30_000);

  it('1100 SYNs to silent addresses: over --max-tcp refused, and a second later the oldest give way (TcpEvicted)', async () => {
    const before = (await stats()).gateway;
    expect(await guest('syn', '10.0.2.100', '10.8.2.*', '80', '1100', '0')).toEqual({ sent: 1100 });
    await stillServes();
    const s = (await stats()).gateway;
    // Each SYN is pending (the upstream connect waits), refused at the bound, or evicted.
    expect(s.TcpRefusedLimit! - (before.TcpRefusedLimit ?? 0)).toBeGreaterThan(0);
    expect(s.TcpEvicted! - (before.TcpEvicted ?? 0)).toBeGreaterThanOrEqual(1);
    expect(s.TcpActive).toBeLessThanOrEqual(512);
  }, 30_000);

  it('700 SYNs from forged sources in G\'s subnet: their half-open connections (and W\'s) stay bounded, and give way', async () => {
    const before = (await stats()).gateway;
    expect(await guest('syn', '10.0.2.*', '10.8.0.1', '80', '700', '0')).toEqual({ sent: 700 });
    expect(establishedInW()).toBeLessThanOrEqual(512 + 1);
    await stillServes();
    const s = (await stats()).gateway;
    expect(s.TcpEvicted! - before.TcpEvicted!).toBeGreaterThanOrEqual(1);
    expect(s.TcpActive).toBeLessThanOrEqual(512);
  }, 30_000);

  it('sources outside G\'s prefix (another network, W\'s own address) or the gateway\'s own are dropped, never re-originated', async () => {
    const before = (await stats()).gateway;
    const inW = establishedInW();
    expect(await guest('syn', '192.0.2.7', '10.8.0.1', '80', '50', '0')).toEqual({ sent: 50 });
    expect(await guest('syn', '10.8.0.1', '10.8.0.1', '7', '50', '0')).toEqual({ sent: 50 });
    expect(await guest('syn', '10.0.2.2', '10.8.0.1', '7', '50', '0')).toEqual({ sent: 50 });
    await stillServes();
    const s = (await stats()).gateway;
    expect(s.TcpRefusedSource! - (before.TcpRefusedSource ?? 0)).toBe(150);
    expect(s.TcpAccepted! - before.TcpAccepted!).toBe(1); // stillServes' own
    expect(establishedInW()).toBeLessThanOrEqual(inW + 1);
  }, 30_000);

  it('a scan of 300 closed ports and 100 unrouted addresses: each refused at once and counted; memory bounded', async () => {
    const before = (await stats()).gateway;
    expect(await guest('scan', '10.8.0.1', '20000', '300', '5000')).toEqual({ codes: { ECONNREFUSED: 300 } });
    const unrouted = await guest('scan', '10.99.0.*', '80', '100', '5000') as { codes: Record<string, number> };
    // ICMP net unreachable each (the stack rate-limits ICMP errors: a client whose error was
    // suppressed retries its SYN, and is answered on a later one).
    expect(unrouted.codes.ENETUNREACH).toBeGreaterThanOrEqual(1);
    expect(unrouted.codes.connected).toBeUndefined();
    await stillServes();
    const s = (await stats()).gateway;
    // W's RST each, or (the earlier attacks' connects still pending near --max-tcp) the bound's.
    expect(s.TcpUpstreamRefused! - before.TcpUpstreamRefused! + s.TcpRefusedLimit! - before.TcpRefusedLimit!).toBe(300);
    expect(s.TcpUpstreamUnreachable! - before.TcpUpstreamUnreachable!).toBeGreaterThanOrEqual(100);
    expect(rssKb()).toBeLessThan(400 * 1024);
  }, 30_000);

  it('1100 pings to silent addresses (ping_group_range widened in H): an echo waiting a second gives way, pings to W answered again', async () => {
    h.runSync('sh', ['-c', 'echo "0 2147483647" > /proc/sys/net/ipv4/ping_group_range']);
    const ok = await g.run('ping', ['-n', '-c', '1', '-W', '2', '10.8.0.1']);
    expect(ok.stdout).toMatch(/1 received/);
    expect(await guest('ping', '10.8.2.*', '1100')).toEqual({ sent: 1100 });
    // The relay holds 1024 echoes (maxEchoes) for 10 s each (echoTimeout): a ping every
    // 300 ms gets through once the oldest have waited a second.
    const r = await g.run('ping', ['-n', '-c', '8', '-i', '0.3', '-W', '1', '10.8.0.1'], { timeoutMs: 10_000 });
    expect(r.stdout).toMatch(/[1-8] received/);
    const s = (await stats()).gateway;
    expect(s.IcmpEchoDroppedLimit).toBeGreaterThan(0);
    expect(s.IcmpEchoEvicted).toBeGreaterThan(0);
    expect(s.IcmpEchoOutstanding).toBeLessThanOrEqual(1024);
  }, 30_000);

  it('SIGTERM: exits 0', async () => {
    expect((await nat.stop()).code).toBe(0);
    expect(g.links()).not.toContain('tap0');
  }, 20_000);
});
