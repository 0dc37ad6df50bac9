/**
 * `netstack nat`: ICMP through the gateway (gateway/echo-relay.ts, @netstack/host), on
 * issue 12's topology (as nat.test.ts), in namespaces this file makes and removes:
 *
 *   G (the guest; tap0 10.0.2.100/24, fd00::100/64, made by nat)
 *        ║ the TUN device
 *   H (runs `netstack nat --netns G`)  h0 10.8.0.2/24 fd08::2/64 ──veth── w0 10.8.0.1/24 fd08::1/64  W
 *
 * W counts, with nftables, the echo requests that arrive from H's addresses: a ping from G
 * answered while W's counter moves proves the echo was re-originated by H's kernel (G has
 * no route to W but the device). `net.ipv4.ping_group_range` is per network namespace:
 * H starts with the kernel default "1 0" (no group may open an ICMP echo socket), so the
 * gateway must refuse; then this file widens it in H alone and the same gateway relays.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import { Netns, Server, cli, liveStats, repoRoot, statCount } from './netns.js';

const SERVERS = resolve(repoRoot, 'test/kernel/fixtures/nat-servers.mjs');

function patternSha(n: number): string {
  const p = Buffer.alloc(65536);
  for (let i = 0; i < p.length; i++) p[i] = i % 256;
  const h = createHash('sha256');
  for (let left = n; left > 0; left -= p.length) h.update(left >= p.length ? p : p.subarray(0, left));
  return h.digest('hex');
}

/** In G: a connected UDP socket sends to HOST:PORT twice (0.5 s apart) and prints the first error's code, or 'none' after 3 s. */
const UDP_PROBE = `
const dgram = require('node:dgram');
const [host, port] = process.argv.slice(1);
const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
const done = (what) => { console.log(what); process.exit(0); };
s.on('error', (e) => done(e.code));
s.connect(Number(port), host, (err) => {
  if (err) return done('connect ' + err.code);
  s.send('probe');
  setTimeout(() => s.send('probe'), 500).unref();
});
setTimeout(() => done('none'), 3000);
`;

let g: Netns;
let h: Netns;
let w: Netns;
let nat: Server;

/** W's counters of echo requests from H: [IPv4, IPv6]. */
function wCounters(): [number, number] {
  const out = w.runSync('nft', ['list', 'chain', 'inet', 'natw', 'in']);
  const v4 = /ip saddr 10\.8\.0\.2 icmp type echo-request counter packets (\d+)/.exec(out);
  const v6 = /ip6 saddr fd08::2 icmpv6 type echo-request counter packets (\d+)/.exec(out);
  if (!v4 || !v6) throw new Error(`nft counters not found: ${out}`);
  return [Number(v4[1]), Number(v6[1])];
}

beforeAll(async () => {
  g = Netns.create('nig');
  h = Netns.create('nih');
  w = Netns.create('niw');
  h.runSync('ip', ['link', 'add', 'h0', 'type', 'veth', 'peer', 'name', 'w0', 'netns', w.name]);
  h.runSync('ip', ['addr', 'add', '10.8.0.2/24', 'dev', 'h0']);
  h.runSync('ip', ['addr', 'add', 'fd08::2/64', 'dev', 'h0', 'nodad']);
  h.runSync('ip', ['link', 'set', 'h0', 'up']);
  w.runSync('ip', ['addr', 'add', '10.8.0.1/24', 'dev', 'w0']);
  w.runSync('ip', ['addr', 'add', 'fd08::1/64', 'dev', 'w0', 'nodad']);
  w.runSync('ip', ['link', 'set', 'w0', 'up']);
  // W is also a router towards 10.8.3.0/24 and fd08:3::/64 (on w0, where nobody answers): a
  // datagram H sends there with TTL 1 expires at W, which says so from 10.8.0.1 / fd08::1.
  w.runSync('sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  w.runSync('ip', ['route', 'add', '10.8.3.0/24', 'dev', 'w0']);
  w.runSync('ip', ['route', 'add', 'fd08:3::/64', 'dev', 'w0']);
  h.runSync('ip', ['route', 'add', '10.8.3.0/24', 'via', '10.8.0.1']);
  h.runSync('ip', ['route', 'add', 'fd08:3::/64', 'via', 'fd08::1']);
  w.runSync('nft', ['add', 'table', 'inet', 'natw']);
  w.runSync('nft', ['add', 'chain', 'inet', 'natw', 'in', '{ type filter hook input priority 0; }']);
  w.runSync('nft', ['add', 'rule', 'inet', 'natw', 'in', 'ip', 'saddr', '10.8.0.2', 'icmp', 'type', 'echo-request', 'counter']);
  w.runSync('nft', ['add', 'rule', 'inet', 'natw', 'in', 'ip6', 'saddr', 'fd08::2', 'icmpv6', 'type', 'echo-request', 'counter']);
  nat = new Server(h.spawn(process.execPath, [cli, 'nat', '--netns', g.name, '--dns', '10.8.0.1']));
  await nat.waitFor(/ready/, 20_000);
}, 60_000);

afterAll(async () => {
  await nat?.stop();
  for (const ns of [g, h, w]) await ns?.close();
});

describe('netstack nat: ICMP errors for relayed UDP flows', () => {
  it('a closed UDP port in W: W\'s port unreachable reaches H\'s socket (ECONNREFUSED) and G\'s connected socket fails with ECONNREFUSED too, both families', async () => {
    for (const host of ['10.8.0.1', 'fd08::1']) {
      const t0 = performance.now();
      const r = await g.run(process.execPath, ['-e', UDP_PROBE, host, '9999'], { timeoutMs: 10_000 });
      expect(r.stdout.trim()).toBe('ECONNREFUSED');
      expect(performance.now() - t0).toBeLessThan(2900);
    }
    // An address H has no route to: H's connect fails (ENETUNREACH) and G is told net
    // unreachable, a soft error its connected socket does not report (Linux); counted.
    const r = await g.run(process.execPath, ['-e', UDP_PROBE, '10.99.0.1', '9999'], { timeoutMs: 10_000 });
    expect(r.stdout.trim()).toBe('none');
    const s = await liveStats(nat);
    // W's port unreachables are relayed from W (UdpIcmpRelayed: H's socket has IP_RECVERR); the net unreachable is H's own (UdpUnreachable).
    expect(statCount(s, 'gateway', 'UdpIcmpRelayed')).toBeGreaterThanOrEqual(2);
    expect(statCount(s, 'gateway', 'UdpUnreachable')).toBeGreaterThanOrEqual(1);
    const stack = (s as unknown as { stack: { udp: Record<string, number> } }).stack;
    expect(stack.udp.FlowUnreachReports).toBe(statCount(s, 'gateway', 'UdpUnreachable'));
  }, 40_000);
});

describe('netstack nat: ICMP echo from the namespace', () => {
  it('H forbids ICMP echo sockets (ping_group_range "1 0"): the guest is told "administratively prohibited" at once, nothing reaches W', async () => {
    expect(h.runSync('cat', ['/proc/sys/net/ipv4/ping_group_range']).trim().split(/\s+/)).toEqual(['1', '0']);
    const t0 = performance.now();
    const r4 = await g.run('ping', ['-n', '-c', '1', '-W', '5', '10.8.0.1'], { timeoutMs: 15_000 });
    // iputils: ICMP destination unreachable code 13 is "Packet filtered"; ICMPv6 code 1 "Administratively prohibited".
    expect(r4.code).not.toBe(0);
    expect(r4.stdout).toMatch(/Packet filtered/);
    const r6 = await g.run('ping', ['-6', '-n', '-c', '1', '-W', '5', 'fd08::1'], { timeoutMs: 15_000 });
    expect(r6.code).not.toBe(0);
    expect(r6.stdout).toMatch(/Administratively prohibited/i);
    // At once, not a 5 s wait.
    expect(performance.now() - t0).toBeLessThan(4000);
    expect(wCounters()).toEqual([0, 0]);
    const s = await liveStats(nat);
    expect(statCount(s, 'gateway', 'IcmpEchoRefusedSocket')).toBe(2);
    expect(statCount(s, 'gateway', 'IcmpEchoRelayed')).toBe(0);
  }, 30_000);

  it('ping_group_range widened in H: the same gateway relays; replies come from the destination with the guest\'s id and seq, W sees H as the source', async () => {
    h.runSync('sh', ['-c', 'echo "0 2147483647" > /proc/sys/net/ipv4/ping_group_range']);
    const r4 = await g.run('ping', ['-n', '-c', '3', '-i', '0.2', '-W', '5', '10.8.0.1'], { timeoutMs: 20_000 });
    expect(r4.stdout).toMatch(/3 packets transmitted, 3 received/);
    // iputils prints a reply only when it matched its own identifier; each sequence number once.
    for (const seq of [1, 2, 3]) expect(r4.stdout).toMatch(new RegExp(`bytes from 10\\.8\\.0\\.1: icmp_seq=${seq} `));
    const r6 = await g.run('ping', ['-6', '-n', '-c', '3', '-i', '0.2', '-W', '5', '-s', '1000', 'fd08::1'], { timeoutMs: 20_000 });
    expect(r6.stdout).toMatch(/3 packets transmitted, 3 received/);
    for (const seq of [1, 2, 3]) expect(r6.stdout).toMatch(new RegExp(`1008 bytes from fd08::1: icmp_seq=${seq} `));
    expect(wCounters()).toEqual([3, 3]);
    const s = await liveStats(nat);
    expect(statCount(s, 'gateway', 'IcmpEchoRelayed')).toBe(6);
    expect(statCount(s, 'gateway', 'IcmpEchoReplies')).toBe(6);
    // W is on H's veth: the kernel runs W's answer inside the gateway's sendto() (softirq at
    // the send's end), so the reply is queued when the send returns and read at once, in the
    // same turn (echo-relay.ts receiveNow). At least one of the six (a softirq deferred to
    // ksoftirqd under load delivers later: read through the socket's watch, still relayed).
    expect(statCount(s, 'gateway', 'IcmpEchoRepliesAtOnce')).toBeGreaterThan(0);
    expect(statCount(s, 'gateway', 'IcmpEchoRepliesAtOnce')).toBeLessThanOrEqual(6);
    expect(statCount(s, 'gateway', 'IcmpEchoOutstanding')).toBe(0);
    const stack = (s as unknown as { stack: { icmp: Record<string, number>; icmp6: Record<string, number> } }).stack;
    expect(stack.icmp.OutEchoRepsRelayed).toBe(3);
    expect(stack.icmp6.Icmp6OutEchoRepliesRelayed).toBe(3);
  }, 60_000);

  it('traceroute-like: TTL 1 expires at the gateway (10.0.2.2), TTL 2 at W, whose time exceeded reaches the guest from W (IP_RECVERR); ping works after', async () => {
    const t1 = await g.run('ping', ['-n', '-c', '1', '-t', '1', '-W', '3', '10.8.3.1'], { timeoutMs: 10_000 });
    expect(t1.stdout).toMatch(/From 10\.0\.2\.2 icmp_seq=1 Time to live exceeded/);
    const t2 = await g.run('ping', ['-n', '-c', '1', '-t', '2', '-W', '3', '10.8.3.1'], { timeoutMs: 10_000 });
    expect(t2.stdout).toMatch(/From 10\.8\.0\.1 icmp_seq=1 Time to live exceeded/);
    const t6 = await g.run('ping', ['-6', '-n', '-c', '1', '-t', '2', '-W', '3', 'fd08:3::1'], { timeoutMs: 10_000 });
    expect(t6.stdout).toMatch(/From fd08::1 icmp_seq=1 Time exceeded/);
    const t61 = await g.run('ping', ['-6', '-n', '-c', '1', '-t', '1', '-W', '3', 'fd08:3::1'], { timeoutMs: 10_000 });
    expect(t61.stdout).toMatch(/From fd00::2 icmp_seq=1 Time exceeded/);
    // The host socket's poll survives the errors (libuv stops it on POLLERR; it is restarted).
    expect((await g.run('ping', ['-n', '-c', '1', '-W', '3', '10.8.0.1'])).stdout).toMatch(/1 received/);
    expect((await g.run('ping', ['-6', '-n', '-c', '1', '-W', '3', 'fd08::1'])).stdout).toMatch(/1 received/);
    const s = await liveStats(nat);
    expect(statCount(s, 'gateway', 'IcmpEchoTtlExceeded')).toBe(2);
    expect(statCount(s, 'gateway', 'IcmpEchoErrors')).toBe(2);
  }, 40_000);

  it('the gateway\'s own address answers locally; an address H has no route to is "Network Unreachable" at once', async () => {
    const before = wCounters();
    const local = await g.run('ping', ['-n', '-c', '1', '-W', '5', '10.0.2.2'], { timeoutMs: 15_000 });
    expect(local.stdout).toMatch(/1 received/);
    const t0 = performance.now();
    const unrouted = await g.run('ping', ['-n', '-c', '1', '-W', '5', '10.99.0.1'], { timeoutMs: 15_000 });
    expect(unrouted.code).not.toBe(0);
    expect(unrouted.stdout).toMatch(/Destination Net Unreachable/);
    expect(performance.now() - t0).toBeLessThan(4000);
    expect(wCounters()).toEqual(before);
    const s = await liveStats(nat);
    expect(statCount(s, 'gateway', 'IcmpEchoLocal')).toBe(1);
    expect(statCount(s, 'gateway', 'IcmpEchoSendErrors')).toBe(1);
  }, 30_000);
});

describe('netstack nat --tap: the device in the namespace is a TAP, same addresses', () => {
  let g2: Netns;
  let nat2: Server;

  beforeAll(async () => {
    g2 = Netns.create('nig2');
    // W's servers (HTTP on 10.8.0.1 and fd08::1), as nat.test.ts has them.
    const servers = w.spawn(process.execPath, [SERVERS, '10.8.0.1', 'fd08::1']);
    await new Promise<void>((res, rej) => {
      let out = '';
      const t = setTimeout(() => rej(new Error(`servers: ${out}`)), 20_000);
      servers.stdout!.on('data', (d: Buffer) => { out += d.toString(); if (out.includes('listening')) { clearTimeout(t); res(); } });
      servers.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    });
    h.runSync('sh', ['-c', 'echo "0 2147483647" > /proc/sys/net/ipv4/ping_group_range']);
    nat2 = new Server(h.spawn(process.execPath, [cli, 'nat', '--netns', g2.name, '--tap', '--dns', '10.8.0.1']));
    await nat2.waitFor(/ready.*tap/, 20_000);
  }, 60_000);

  afterAll(async () => {
    await nat2?.stop();
    await g2?.close();
  });

  it('G2 has an Ethernet tap0 with the addresses and routes; 10.0.2.2 and fd00::2 resolve to the stack\'s MAC (proxy ARP / NDP)', async () => {
    const link = g2.runSync('ip', ['link', 'show', 'tap0']);
    expect(link).toMatch(/link\/ether /);
    expect(g2.runSync('ip', ['-4', 'addr', 'show', 'tap0'])).toContain('10.0.2.100/24');
    expect(g2.runSync('ip', ['-6', 'addr', 'show', 'tap0'])).toContain('fd00::100/64');
    expect(g2.runSync('ip', ['route'])).toMatch(/default via 10\.0\.2\.2 dev tap0/);
    expect(g2.runSync('ip', ['-6', 'route'])).toMatch(/default via fd00::2 dev tap0/);
    expect((await g2.run('ping', ['-n', '-c', '1', '-W', '5', '10.0.2.2'])).stdout).toMatch(/1 received/);
    expect((await g2.run('ping', ['-6', '-n', '-c', '1', '-W', '5', 'fd00::2'])).stdout).toMatch(/1 received/);
    const neigh = g2.runSync('ip', ['neigh', 'show', 'dev', 'tap0']);
    const mac4 = /10\.0\.2\.2 lladdr (\S+)/.exec(neigh)?.[1];
    const mac6 = /fd00::2 lladdr (\S+)/.exec(neigh)?.[1];
    expect(mac4).toMatch(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    expect(mac6).toBe(mac4);
    // Not the kernel side's own MAC: the stack's.
    expect(link).not.toContain(mac4!);
  }, 30_000);

  it('curl through it: 20 MB exact over IPv4 and IPv6, re-originated from H; ping to W relayed', async () => {
    const n = 20 * 1024 * 1024;
    const r4 = await g2.run('sh', ['-c', `curl -sS --max-time 60 http://10.8.0.1/bytes/${n} | sha256sum`], { timeoutMs: 70_000 });
    expect(r4.stderr).toBe('');
    expect(r4.stdout.split(' ')[0]).toBe(patternSha(n));
    const r6 = await g2.run('sh', ['-c', `curl -sS --max-time 60 'http://[fd08::1]/bytes/${n}' | sha256sum`], { timeoutMs: 70_000 });
    expect(r6.stdout.split(' ')[0]).toBe(patternSha(n));
    expect((await g2.run('curl', ['-sS', '--max-time', '10', 'http://10.8.0.1/peer'])).stdout).toBe('10.8.0.2');
    expect((await g2.run('curl', ['-sS', '--max-time', '10', 'http://[fd08::1]/peer'])).stdout).toBe('fd08::2');
    const before = wCounters();
    const p = await g2.run('ping', ['-n', '-c', '2', '-i', '0.2', '-W', '5', '10.8.0.1'], { timeoutMs: 15_000 });
    expect(p.stdout).toMatch(/2 packets transmitted, 2 received/);
    expect(wCounters()[0]).toBe(before[0] + 2);
    const s = await liveStats(nat2);
    expect(statCount(s, 'gateway', 'TcpAccepted')).toBeGreaterThanOrEqual(4);
    const stack = (s as unknown as { stack: { eth: Record<string, number> } }).stack;
    expect(stack.eth.ArpInRequests).toBeGreaterThanOrEqual(1);
  }, 120_000);
});

