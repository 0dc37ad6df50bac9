/**
 * `netstack nat`: what routers beyond the gateway say about the guest's UDP flows reaches
 * the guest (gateway.ts's UDP flows over @netstack/host's UdpSocket: IP_RECVERR, the
 * guest's TTL and DF carried), in namespaces this file makes and removes:
 *
 *   G (the guest; tap0 10.0.2.100/24, fd00::100/64, made by nat)
 *        ║ the TUN device
 *   H (runs `netstack nat --netns G`)  h0 10.8.0.2 fd08::2 ──veth── r0 10.8.0.1 fd08::1  R (a router)
 *   R  r1 10.8.1.1 fd08:1::1 ──veth, MTU 1280── w1 10.8.1.2 fd08:1::2  W
 *
 * Debian's traceroute (UDP probes, IP_RECVERR in G) must see hop 1 = the gateway
 * (10.0.2.2 / fd00::2: TTL 1 ends there), hop 2 = R (its time exceeded, relayed from R),
 * hop 3 = W (its port unreachable). A 1400-byte datagram with DF from G to W must come
 * back as R's fragmentation needed / packet too big with MTU 1280: G's kernel learns that
 * path MTU (its route cache says `mtu 1280`). Once G has forgotten it (route cache
 * flushed) and H's kernel still knows it, the next such datagram fails H's send (EMSGSIZE):
 * the gateway tells G the MTU itself, from 10.0.2.2 / fd00::2, and still carries the
 * datagram (H fragments it): W's listener gets exactly those two.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { Netns, Server, cli, liveStats, statCount } from './netns.js';

/** In G: a connected UDP socket (node:dgram: IP_PMTUDISC_WANT, so DF is set on a datagram that fits the link) sends one datagram of SIZE bytes to HOST:PORT, then waits 1.5 s. */
const SEND_BIG = `
const dgram = require('node:dgram');
const [host, port, size] = process.argv.slice(1);
const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
s.on('error', (e) => console.log('error ' + e.code));
s.connect(Number(port), host, () => {
  s.send(Buffer.alloc(Number(size), 7));
  setTimeout(() => process.exit(0), 1500);
});
`;

/** In G: a connected UDP socket sends one datagram to HOST:PORT and prints the socket's first error, or "none" after 3 s. */
const SEND_ONE = `
const dgram = require('node:dgram');
const [host, port] = process.argv.slice(1);
const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
const t = setTimeout(() => { console.log('none'); process.exit(0); }, 3000);
s.on('error', (e) => { console.log('error ' + e.code); clearTimeout(t); process.exit(0); });
s.connect(Number(port), host, () => s.send(Buffer.from('x')));
`;

/** In W: a UDP listener on port 9 of both families that prints "got FAMILY SIZE" per datagram (bound 30 s). */
const SINK = `
const dgram = require('node:dgram');
for (const [type, host] of [['udp4', '10.8.1.2'], ['udp6', 'fd08:1::2']]) {
  const s = dgram.createSocket(type);
  s.on('message', (m) => console.log('got ' + type + ' ' + m.length));
  s.bind(9, host, () => console.log('bound ' + type));
}
setTimeout(() => process.exit(0), 30000);
`;

const traceroute = ['/usr/sbin/traceroute', '/usr/bin/traceroute'].find((p) => existsSync(p));

let g: Netns;
let h: Netns;
let r: Netns;
let w: Netns;
let nat: Server;
let sink: Server | undefined;

beforeAll(async () => {
  g = Netns.create('nug');
  h = Netns.create('nuh');
  r = Netns.create('nur');
  w = Netns.create('nuw');
  h.runSync('ip', ['link', 'add', 'h0', 'type', 'veth', 'peer', 'name', 'r0', 'netns', r.name]);
  h.runSync('ip', ['addr', 'add', '10.8.0.2/24', 'dev', 'h0']);
  h.runSync('ip', ['addr', 'add', 'fd08::2/64', 'dev', 'h0', 'nodad']);
  h.runSync('ip', ['link', 'set', 'h0', 'up']);
  h.runSync('ip', ['route', 'add', '10.8.1.0/24', 'via', '10.8.0.1']);
  h.runSync('ip', ['route', 'add', 'fd08:1::/64', 'via', 'fd08::1']);
  r.runSync('ip', ['link', 'add', 'r1', 'mtu', '1280', 'type', 'veth', 'peer', 'name', 'w1', 'mtu', '1280', 'netns', w.name]);
  r.runSync('ip', ['addr', 'add', '10.8.0.1/24', 'dev', 'r0']);
  r.runSync('ip', ['addr', 'add', 'fd08::1/64', 'dev', 'r0', 'nodad']);
  r.runSync('ip', ['addr', 'add', '10.8.1.1/24', 'dev', 'r1']);
  r.runSync('ip', ['addr', 'add', 'fd08:1::1/64', 'dev', 'r1', 'nodad']);
  r.runSync('ip', ['link', 'set', 'r0', 'up']);
  r.runSync('ip', ['link', 'set', 'r1', 'up']);
  r.runSync('sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
  // Every probe from H comes from the one address: R's and W's per-peer ICMP rate limits
  // (burst 6, then 1/s) must not decide what this file sees.
  for (const ns of [r, w]) ns.runSync('sysctl', ['-qw', 'net.ipv4.icmp_ratelimit=0', 'net.ipv6.icmp.ratelimit=0']);
  w.runSync('ip', ['addr', 'add', '10.8.1.2/24', 'dev', 'w1']);
  w.runSync('ip', ['addr', 'add', 'fd08:1::2/64', 'dev', 'w1', 'nodad']);
  w.runSync('ip', ['link', 'set', 'w1', 'up']);
  w.runSync('ip', ['route', 'add', 'default', 'via', '10.8.1.1']);
  w.runSync('ip', ['route', 'add', 'default', 'via', 'fd08:1::1']);
  nat = new Server(h.spawn(process.execPath, [cli, 'nat', '--netns', g.name, '--dns', '10.8.1.2']));
  await nat.waitFor(/ready/, 20_000);
}, 60_000);

afterAll(async () => {
  await sink?.stop();
  await nat?.stop();
  for (const ns of [g, h, r, w]) await ns?.close();
});

describe('netstack nat: ICMP errors from beyond the gateway about UDP flows', () => {
  it('a datagram to a closed port of the gateway (10.0.2.2, fd00::2: host loopback not allowed) or of the DNS address: port unreachable, as a TCP connect gets RST', async () => {
    const before = statCount(await liveStats(nat), 'gateway', 'UdpUnreachable');
    for (const dst of ['10.0.2.2', '10.0.2.3', 'fd00::2', 'fd00::3']) {
      const r1 = await g.run(process.execPath, ['-e', SEND_ONE, dst, '9'], { timeoutMs: 10_000 });
      expect(r1.stdout.trim(), dst).toBe('error ECONNREFUSED');
    }
    // The gateway answered (its counter), not G's kernel.
    expect(statCount(await liveStats(nat), 'gateway', 'UdpUnreachable') - before).toBe(4);
  }, 30_000);

  it('traceroute (UDP) from G: hop 1 the gateway, hop 2 R, hop 3 W (port unreachable), both families', async () => {
    for (const [dst, hops] of [['10.8.1.2', ['10.0.2.2', '10.8.0.1', '10.8.1.2']], ['fd08:1::2', ['fd00::2', 'fd08::1', 'fd08:1::2']]] as const) {
      // One probe per hop, one at a time (-N 1: no router's ICMP rate limit in play), 3 s each at most.
      // scripts/lib/bootstrap.sh installs Debian's traceroute; never skipped.
      if (traceroute === undefined) throw new Error('traceroute is missing: apt-get install -y traceroute (scripts/lib/bootstrap.sh does)');
      const t = await g.run(traceroute, [...(dst.includes(':') ? ['-6'] : []), '-n', '-q', '1', '-N', '1', '-w', '3', '-m', '5', dst], { timeoutMs: 30_000 });
      const lines = t.stdout.split('\n').filter((l) => /^\s*\d+\s/.test(l)).map((l) => l.trim().split(/\s+/));
      // Exactly three hops (it stops at W's port unreachable), each answered by the right address, none marked (!H, !N...).
      expect(lines.map((l) => l[1]), t.stdout + t.stderr).toEqual(hops);
      for (const l of lines) expect(l.join(' ')).not.toMatch(/!/);
    }
    const s = await liveStats(nat);
    expect(statCount(s, 'gateway', 'UdpTtlExceeded')).toBe(2);
    // R's time exceeded and W's port unreachable, each family.
    expect(statCount(s, 'gateway', 'UdpIcmpRelayed')).toBe(4);
  }, 90_000);

  it('a 1400-byte datagram with DF from G to W: R\'s fragmentation needed / packet too big with MTU 1280 reaches G, whose kernel learns the path MTU', async () => {
    sink = new Server(w.spawn(process.execPath, ['-e', SINK]));
    await sink.waitFor(/bound udp4[\s\S]*bound udp6|bound udp6[\s\S]*bound udp4/, 10_000);
    for (const [dst, route] of [['10.8.1.2', ['route', 'get', '10.8.1.2']], ['fd08:1::2', ['-6', 'route', 'get', 'fd08:1::2']]] as const) {
      expect(g.runSync('ip', [...route])).not.toMatch(/mtu 1280/);
      const r1 = await g.run(process.execPath, ['-e', SEND_BIG, dst, '9', '1400'], { timeoutMs: 10_000 });
      expect(r1.code).toBe(0);
      const cached = g.runSync('ip', [...route]);
      expect(cached, cached).toMatch(/mtu 1280/);
    }
    let s = await liveStats(nat);
    expect(statCount(s, 'gateway', 'UdpIcmpRelayed')).toBeGreaterThanOrEqual(2);
    // G forgets (its route cache flushed); H's kernel remembers 1280: the next 1400-byte DF
    // datagram fails at H's send (EMSGSIZE) and the gateway answers as the hop it is, with
    // that MTU: G learns it again.
    g.runSync('ip', ['route', 'flush', 'cache']);
    g.runSync('ip', ['-6', 'route', 'flush', 'cache']);
    for (const [dst, route] of [['10.8.1.2', ['route', 'get', '10.8.1.2']], ['fd08:1::2', ['-6', 'route', 'get', 'fd08:1::2']]] as const) {
      expect(g.runSync('ip', [...route])).not.toMatch(/mtu 1280/);
      await g.run(process.execPath, ['-e', SEND_BIG, dst, '9', '1400'], { timeoutMs: 10_000 });
      expect(g.runSync('ip', [...route])).toMatch(/mtu 1280/);
    }
    s = await liveStats(nat);
    expect(statCount(s, 'gateway', 'UdpFragNeeded')).toBe(2);
    // The first two died at R (DF, as on any path); the last two were still carried, fragmented by H.
    await sink.waitFor(/got udp4 1400[\s\S]*got udp6 1400/, 5_000);
    expect(sink.stdout.match(/got /g)?.length).toBe(2);
  }, 60_000);
});
