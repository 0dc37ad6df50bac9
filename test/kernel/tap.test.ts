/**
 * Kernel-facing, TAP (issue 13): `netstack serve --tap` in a private namespace. The kernel
 * side (10.7.0.1/24 and fd07::1/64 on tap0) reaches the stack (10.7.0.2, fd07::2) over
 * Ethernet: it ARPs (and solicits) for the stack's addresses and netstack answers with its
 * own MAC, then ping (also fragmented, and a bounded flood), curl (1 GiB, exact), UDP
 * echo, a closed port, IPv6. The kernel's neighbour table holds the stack's MAC; the
 * stack's eth counters show the ARP requests it answered; the pcap (taken at the device,
 * LINKTYPE_ETHERNET) opens in tshark with nothing malformed and holds the ARP exchange.
 * Then a bridge: br0 with tap0 and a veth to a second namespace, whose host reaches the
 * stack across layer 2 (ARP both ways), and a station claiming the stack's address.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcap } from '@netstack/tun';
import { Netns, Server, liveStats, repoRoot, statCount, type Stats } from './netns.js';

const STACK = '10.7.0.2';
const KERNEL = '10.7.0.1';
const STACK6 = 'fd07::2';
const MAC = '02:00:00:00:0a:02';
const INTRUDER = '02:00:00:00:00:99';

/** A gratuitous ARP request (RFC 5227 §3: sender = target = `ip`) from `mac`, as hex: Ethernet header + ARP. */
function gratuitousArp(mac: string, ip: string): string {
  const m = mac.replace(/:/g, '');
  const a = ip.split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join('');
  return `ffffffffffff${m}0806` + `0001080006040001${m}${a}000000000000${a}`;
}
let ns: Netns;
let server: Server;
let dir: string;
let pcap: string;
let kernelMac: string;

/** sha256 of what the stack's /bytes/N serves: byte i is i % 256. */
function bytesSha256(n: number): string {
  const block = Buffer.alloc(1 << 20);
  for (let i = 0; i < block.length; i++) block[i] = i & 0xff;
  const h = createHash('sha256');
  for (let left = n; left > 0; left -= block.length) h.update(left >= block.length ? block : block.subarray(0, left));
  return h.digest('hex');
}

/** Resolves when the server's stderr matches `re` (an event: each chunk it writes), at most `ms` later. */
function waitStderr(s: Server, re: RegExp, ms = 5000): Promise<void> {
  return new Promise((resolveWait, reject) => {
    if (re.test(s.stderr)) { resolveWait(); return; }
    const stderr = s.child.stderr!;
    const timer = setTimeout(() => { stderr.off('data', on); reject(new Error(`no ${re} on stderr: ${s.stderr.slice(-500)}`)); }, ms);
    // Registered after Server's own listener, so s.stderr already holds the chunk.
    const on = (): void => { if (re.test(s.stderr)) { clearTimeout(timer); stderr.off('data', on); resolveWait(); } };
    stderr.on('data', on);
  });
}

function tshark(file: string, filter: string, fields: string[]): string[] {
  const r = spawnSync('tshark', ['-r', file, '-n', '-o', 'ip.check_checksum:TRUE', '-Y', filter, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`tshark -Y '${filter}': ${r.stderr || r.error?.message}`);
  return r.stdout.split('\n').filter(Boolean);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'netstack-tap-'));
  pcap = join(dir, 'tap.pcap');
  ns = Netns.create('tap');
  // The capture stops growing at 30 MB: the ARP, ping, UDP and the start of the 1 GiB download.
  server = await ns.serve(['--tap', '--mac', MAC, '--pcap', pcap, '--pcap-max-bytes', '30000000', '--stats']);
  const m = server.stdout.match(/ready on tap0: kernel 10\.7\.0\.1\/24 fd07::1\/64, stack 10\.7\.0\.2 fd07::2, mac (\S+) \(kernel side (\S+)\), mtu 1500, offload csum=true tso4=true tso6=true uso4=true uso6=true/);
  expect(m, server.stdout).not.toBeNull();
  expect(m![1]).toBe(MAC);
  kernelMac = m![2]!;
  // The kernel side's MAC is tap0's own, as `ip link` shows it.
  expect(ns.runSync('ip', ['-o', 'link', 'show', 'tap0'])).toContain(`link/ether ${kernelMac}`);
}, 60_000);

afterAll(async () => {
  await ns?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('netstack serve --tap: the stack is a host on the kernel\'s Ethernet segment', () => {
  it('ping at 56, 1472 and 4000 bytes (fragmented) comes back; the kernel learned the stack\'s MAC by ARP', async () => {
    for (const size of [56, 1472, 4000]) {
      const before = ns.snmp();
      const r = await ns.run('ping', ['-c', '3', '-i', '0.2', '-W', '3', '-s', String(size), STACK], { timeoutMs: 20_000 });
      expect(r.stdout, r.stderr).toMatch(/3 packets transmitted, 3 received/);
      const after = ns.snmp();
      expect(after['Ip.InHdrErrors']).toBe(before['Ip.InHdrErrors']);
      if (size > 1472) expect(after['Ip.ReasmOKs']! - before['Ip.ReasmOKs']!).toBeGreaterThanOrEqual(3);
    }
    // The kernel's neighbour entry for the stack: our MAC, confirmed by traffic.
    const neigh = ns.runSync('ip', ['neigh', 'show', 'dev', 'tap0', STACK]);
    expect(neigh).toMatch(new RegExp(`^${STACK.replace(/\./g, '\\.')} lladdr ${MAC} (REACHABLE|STALE|DELAY)`));
    const s = await liveStats(server);
    // The kernel asked once (then its cache answered); the stack answered from its own MAC.
    expect(statCount(s, 'eth', 'ArpInRequests')).toBeGreaterThanOrEqual(1);
    expect(statCount(s, 'eth', 'ArpOutReplies')).toBe(statCount(s, 'eth', 'ArpInRequests'));
    // Gratuitous ARP (RFC 5227 §2.3 announcements) when the address was taken.
    expect(statCount(s, 'eth', 'ArpOutAnnouncements')).toBeGreaterThanOrEqual(1);
    // The stack knows the kernel side (from its request, RFC 826: "if I am the target").
    expect(statCount(s, 'eth', 'arp.Entries')).toBe(1);
    expect(statCount(s, 'icmp', 'InEchos')).toBeGreaterThanOrEqual(9);
    expect(statCount(s, 'eth', 'InIpv4')).toBeGreaterThanOrEqual(9 + 6); // 4000 bytes: 3 fragments each way
  }, 90_000);

  it('ping -f, bounded (-c 2000, 10 s), loses nothing', async () => {
    const r = await ns.run('ping', ['-f', '-c', '2000', '-w', '10', '-q', STACK], { timeoutMs: 20_000 });
    const m = r.stdout.match(/(\d+) packets transmitted, (\d+) received/);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(100);
    expect(Number(m![1]) - Number(m![2])).toBeLessThanOrEqual(1);
  }, 30_000);

  it('UDP echo of 1, 1472, 8000 (fragmented) and 65507 bytes is exact', async () => {
    const r = await ns.run(process.execPath, [join(repoRoot, 'test/kernel/fixtures/udp-client.mjs'), STACK, '7', '1,1472,8000,65507', '3000'], { timeoutMs: 30_000 });
    const res = JSON.parse(r.stdout.trim());
    expect(res.failures).toEqual([]);
    expect(res.ok).toBe(true);
  }, 40_000);

  it('a closed TCP port answers RST (curl: connection refused)', async () => {
    const before = await liveStats(server);
    const r = await ns.run('curl', ['-sS', '-m', '5', `http://${STACK}:81/`], { timeoutMs: 10_000 });
    expect(r.code, r.stderr).toBe(7); // CURLE_COULDNT_CONNECT: refused, at once (not a timeout, 28)
    const after = await liveStats(server);
    expect(statCount(after, 'tcp', 'OutRsts') - statCount(before, 'tcp', 'OutRsts')).toBeGreaterThanOrEqual(1);
  }, 20_000);

  it('IPv6 over TAP: ping -6 and curl -6 work; NS answered with the stack\'s MAC (NA), the kernel\'s cache holds it', async () => {
    const before = await liveStats(server);
    const p = await ns.run('ping', ['-6', '-c', '3', '-i', '0.2', '-W', '3', '-s', '3000', STACK6], { timeoutMs: 20_000 });
    expect(p.stdout, p.stderr).toMatch(/3 packets transmitted, 3 received/);
    const c = await ns.run('sh', ['-c', `curl -sS -g -m 60 'http://[${STACK6}]/bytes/5000000' | sha256sum`], { timeoutMs: 70_000 });
    expect(c.stdout.split(' ')[0], c.stderr).toBe(bytesSha256(5_000_000));
    expect(ns.runSync('ip', ['-6', 'neigh', 'show', 'dev', 'tap0', STACK6])).toMatch(new RegExp(`^fd07::2 lladdr ${MAC} (REACHABLE|STALE|DELAY)`));
    const s = await liveStats(server);
    expect(statCount(s, 'eth', 'NdpInSolicits')).toBeGreaterThanOrEqual(1);
    expect(statCount(s, 'eth', 'NdpOutAdverts')).toBeGreaterThanOrEqual(1);
    // Carried by netstack: 5 MB out in frames (TCP super-segments with the default offloads), and the kernel's ACKs.
    expect(statCount(s, 'link', 'TxBytes') - statCount(before, 'link', 'TxBytes')).toBeGreaterThan(5_000_000);
    // The kernel's ACKs (fewer with offloads: it acknowledges super-segments, not 1440-byte frames).
    expect(statCount(s, 'eth', 'InIpv6') - statCount(before, 'eth', 'InIpv6')).toBeGreaterThan(20);
    expect(statCount(s, 'ip6', 'Ip6InReceives')).toBeGreaterThanOrEqual(statCount(s, 'eth', 'InIpv6'));
  }, 90_000);

  it('curl downloads /bytes/1073741824 (1 GiB) exact (sha256), over the stack', async () => {
    const before = await liveStats(server);
    const n = 2 ** 30;
    // ~20 s here without offloads (2 shared cores, loaded); bounded at 180 s.
    const t0 = performance.now();
    const r = await ns.run('sh', ['-c', `curl -sS -m 180 http://${STACK}/bytes/${n} | sha256sum`], { timeoutMs: 200_000 });
    const secs = (performance.now() - t0) / 1000;
    expect(r.stdout.split(' ')[0], r.stderr).toBe(bytesSha256(n));
    console.log(`serve --tap: 1 GiB by curl in ${secs.toFixed(1)} s (${(n / secs / 1e6).toFixed(0)} MB/s)`);
    const after = await liveStats(server);
    // Carried by netstack over Ethernet frames (TCP super-segments with the default offloads: tap-offload.test.ts).
    expect(statCount(after, 'link', 'TxBytes') - statCount(before, 'link', 'TxBytes')).toBeGreaterThan(n);
    expect(statCount(after, 'frames', 'TxBytes') - statCount(before, 'frames', 'TxBytes')).toBeGreaterThan(n);
  }, 220_000);

  it('a station claiming the stack\'s address (gratuitous ARP) is a conflict: reported, defended, the address kept (RFC 5227 §2.4)', async () => {
    const before = await liveStats(server);
    const r = await ns.run(process.execPath, [join(repoRoot, 'test/kernel/fixtures/raw-frame.mjs'), 'tap0', gratuitousArp(INTRUDER, STACK)], { timeoutMs: 10_000 });
    expect(r.stdout, r.stderr).toContain('"sent":1');
    await waitStderr(server, /address conflict: 10\.7\.0\.2 is claimed by 02:00:00:00:00:99 \(defended, kept\)/);
    const after = await liveStats(server);
    expect(statCount(after, 'eth', 'ArpConflicts') - statCount(before, 'eth', 'ArpConflicts')).toBe(1);
    expect(statCount(after, 'eth', 'acd.Defenses') - statCount(before, 'eth', 'acd.Defenses')).toBe(1);
    // Still ours: the kernel still reaches the stack.
    const p = await ns.run('ping', ['-c', '1', '-W', '3', STACK], { timeoutMs: 10_000 });
    expect(p.stdout).toMatch(/1 received/);
  }, 30_000);

  it('the pcap (taken at the device) is Ethernet: tshark finds 0 malformed, the ARP exchange with both MACs, IP both ways', async () => {
    const { code } = await server.stop();
    expect(code).toBe(0);
    const line = server.stdout.split('\n').find((l) => l.startsWith('stats ') && l.includes('"pcap"'));
    const stats = JSON.parse(line!.slice(6)) as Stats;
    expect(stats.pcap!.Packets).toBeGreaterThan(1000);
    const file = readPcap(readFileSync(pcap));
    expect(file.linkType).toBe(1); // LINKTYPE_ETHERNET
    expect(tshark(pcap, '_ws.malformed || _ws.expert.severity >= "Error" || ip.checksum.status == "Bad"', ['frame.number'])).toEqual([]);
    // The kernel's request for the stack's address, and the stack's reply from its MAC.
    expect(tshark(pcap, `arp.opcode == 1 && arp.dst.proto_ipv4 == ${STACK} && eth.src == ${kernelMac}`, ['frame.number']).length).toBeGreaterThanOrEqual(1);
    expect(tshark(pcap, `arp.opcode == 2 && arp.src.hw_mac == ${MAC} && arp.src.proto_ipv4 == ${STACK} && eth.dst == ${kernelMac}`, ['frame.number']).length).toBeGreaterThanOrEqual(1);
    // Gratuitous ARP announcements of 10.7.0.2 from the stack (RFC 5227 §2.3).
    expect(tshark(pcap, `arp.isgratuitous && arp.src.hw_mac == ${MAC}`, ['frame.number']).length).toBeGreaterThanOrEqual(1);
    expect(tshark(pcap, `eth.src == ${MAC} && ip.src == ${STACK} && ip.dst == ${KERNEL}`, ['frame.number']).length).toBeGreaterThan(100);
    expect(tshark(pcap, `eth.src == ${kernelMac} && ip.src == ${KERNEL} && ip.dst == ${STACK}`, ['frame.number']).length).toBeGreaterThan(100);
    // The closed port's RST, from the stack's MAC.
    expect(tshark(pcap, `tcp.flags.reset == 1 && tcp.srcport == 81 && eth.src == ${MAC}`, ['frame.number']).length).toBeGreaterThanOrEqual(1);
    // IPv6: the kernel's NS for fd07::2 and the stack's NA from its MAC.
    expect(tshark(pcap, `icmpv6.type == 135 && icmpv6.nd.ns.target_address == ${STACK6}`, ['frame.number']).length).toBeGreaterThanOrEqual(1);
    expect(tshark(pcap, `icmpv6.type == 136 && eth.src == ${MAC} && icmpv6.nd.na.target_address == ${STACK6}`, ['frame.number']).length).toBeGreaterThanOrEqual(1);
  }, 120_000);
});

describe('a bridge: br0 with the TAP and a veth to a second namespace, whose host reaches the stack across layer 2', () => {
  const BR_MAC = '02:00:00:00:0b:02';
  let a: Netns;
  let b: Netns;
  let srv: Server;

  beforeAll(async () => {
    a = Netns.create('tapbr');
    b = Netns.create('tapbr-peer');
    srv = await a.serve(['--tap', '--tap-name', 'tapbr0', '--no-ipv6', '--mac', BR_MAC, '--stats']);
    expect(srv.stdout).toMatch(/ready on tapbr0: .* mac 02:00:00:00:0b:02/);
    // tapbr0 becomes a port of br0 (the kernel side's address moves to the bridge, as on a
    // host whose NIC is bridged), and a veth pair joins the second namespace to it.
    for (const cmd of [
      ['link', 'add', 'br0', 'type', 'bridge'],
      ['link', 'set', 'tapbr0', 'master', 'br0'],
      ['addr', 'flush', 'dev', 'tapbr0'],
      ['addr', 'add', '10.7.0.1/24', 'dev', 'br0'],
      ['link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1', 'netns', b.name],
      ['link', 'set', 'veth0', 'master', 'br0'],
      ['link', 'set', 'veth0', 'up'],
      ['link', 'set', 'br0', 'up'],
    ]) a.runSync('ip', cmd);
    b.runSync('ip', ['addr', 'add', '10.7.0.3/24', 'dev', 'veth1']);
    b.runSync('ip', ['addr', 'add', '10.7.0.4/24', 'dev', 'veth1']);
    b.runSync('ip', ['link', 'set', 'veth1', 'up']);
    // Both ports forwarding (STP is off: at once, once the carrier is up); bounded.
    for (let i = 0; i < 100; i++) {
      const ports = a.runSync('bridge', ['link', 'show']);
      if (/tapbr0.*state forwarding/.test(ports) && /veth0.*state forwarding/.test(ports)) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(a.runSync('bridge', ['link', 'show'])).toMatch(/veth0.*state forwarding/);
  }, 60_000);

  afterAll(async () => {
    await srv?.stop();
    await b?.close();
    await a?.close();
  });

  it('ping and curl from the second namespace reach the stack; ARP both ways (the stack also resolves the peer itself)', async () => {
    const p = await b.run('ping', ['-c', '3', '-i', '0.2', '-W', '3', '-I', '10.7.0.3', STACK], { timeoutMs: 20_000 });
    expect(p.stdout, p.stderr).toMatch(/3 packets transmitted, 3 received/);
    const c = await b.run('sh', ['-c', `curl -sS -m 60 --interface 10.7.0.3 http://${STACK}/bytes/20000000 | sha256sum`], { timeoutMs: 70_000 });
    expect(c.stdout.split(' ')[0], c.stderr).toBe(bytesSha256(20_000_000));
    // The peer's kernel learned the stack's MAC across the bridge.
    expect(b.runSync('ip', ['neigh', 'show', 'dev', 'veth1', STACK])).toMatch(new RegExp(`lladdr ${BR_MAC} (REACHABLE|STALE|DELAY)`));
    // The bridge learned the stack's MAC on tapbr0.
    expect(a.runSync('bridge', ['fdb', 'show', 'br', 'br0'])).toMatch(new RegExp(`${BR_MAC} dev tapbr0`));
    const before = await liveStats(srv);
    // From 10.7.0.4: the peer knows the stack's MAC already (no request from .4), so the
    // stack's reply to .4 needs its own ARP request, answered by the peer's kernel.
    const p4 = await b.run('ping', ['-c', '2', '-i', '0.2', '-W', '3', '-I', '10.7.0.4', STACK], { timeoutMs: 20_000 });
    expect(p4.stdout, p4.stderr).toMatch(/2 packets transmitted, 2 received/);
    const after = await liveStats(srv);
    expect(statCount(after, 'eth', 'ArpOutRequests') - statCount(before, 'eth', 'ArpOutRequests')).toBe(1);
    expect(statCount(after, 'eth', 'ArpInReplies') - statCount(before, 'eth', 'ArpInReplies')).toBe(1);
    expect(statCount(after, 'eth', 'OutQueued') - statCount(before, 'eth', 'OutQueued')).toBeGreaterThanOrEqual(1);
    expect(statCount(after, 'eth', 'arp.Entries')).toBeGreaterThanOrEqual(2);
    // The peer's kernel answered the stack's request: it holds 10.7.0.2 from it as well.
    expect(statCount(after, 'eth', 'ArpInRequests')).toBeGreaterThanOrEqual(1);
  }, 120_000);

  it('a broadcast UDP datagram from the second namespace (10.7.0.255, ff:ff:ff:ff:ff:ff across the bridge) reaches the stack\'s echo, which answers', async () => {
    const before = await liveStats(srv);
    const script = `const s = require('node:dgram').createSocket('udp4');
      s.bind(0, '10.7.0.3', () => { s.setBroadcast(true); s.send('to everyone', 7, '10.7.0.255'); });
      s.on('message', (m, r) => { console.log(JSON.stringify({ text: String(m), from: r.address })); process.exit(0); });
      setTimeout(() => { console.log('{}'); process.exit(1); }, 5000);`;
    const r = await b.run(process.execPath, ['-e', script], { timeoutMs: 10_000 });
    expect(JSON.parse(r.stdout.trim()), r.stderr).toEqual({ text: 'to everyone', from: STACK });
    const after = await liveStats(srv);
    expect(statCount(after, 'eth', 'InBroadcast') - statCount(before, 'eth', 'InBroadcast')).toBeGreaterThanOrEqual(1);
    expect(statCount(after, 'udp', 'InDatagrams') - statCount(before, 'udp', 'InDatagrams')).toBe(1);
  }, 30_000);
});

describe('serve --tap attaches to a persistent TAP, and refuses a TUN of that name', () => {
  let c: Netns;
  beforeAll(() => { c = Netns.create('tap-attach'); });
  afterAll(async () => { await c?.close(); });

  it('a persistent tap made by `ip tuntap` is attached to, answers, and stays after the stack exits', async () => {
    c.runSync('ip', ['tuntap', 'add', 'dev', 'ptap0', 'mode', 'tap']);
    const s = await c.serve(['--tap', '--tap-name', 'ptap0', '--no-ipv6']);
    try {
      const p = await c.run('ping', ['-c', '2', '-i', '0.2', '-W', '3', STACK], { timeoutMs: 15_000 });
      expect(p.stdout, p.stderr).toMatch(/2 packets transmitted, 2 received/);
    } finally {
      expect((await s.stop()).code).toBe(0);
    }
    expect(c.links()).toContain('ptap0');
    // With its address and route (a persistent device keeps them): removed, so the next tests' subnet is theirs alone.
    c.runSync('ip', ['link', 'del', 'ptap0']);
  }, 40_000);

  it('several IPv4 addresses are each answered by ARP with the one MAC; an IPv6-only stack works over a TAP too', async () => {
    const s4 = await c.serve(['--tap', '--tap-name', 'mtap0', '--no-ipv6', '--addr', STACK, '--addr', '10.7.0.3', '--mac', MAC, '--stats']);
    try {
      for (const host of [STACK, '10.7.0.3']) {
        const p = await c.run('ping', ['-c', '1', '-W', '3', host], { timeoutMs: 10_000 });
        expect(p.stdout, p.stderr).toMatch(/1 received/);
        expect(c.runSync('ip', ['neigh', 'show', 'dev', 'mtap0', host])).toContain(`lladdr ${MAC}`);
      }
      const st = await liveStats(s4);
      expect(statCount(st, 'eth', 'ArpOutReplies')).toBe(2);
      expect(statCount(st, 'eth', 'acd.OutAnnouncements')).toBeGreaterThanOrEqual(2); // both addresses announced
      expect(statCount(st, 'frames', 'RxPackets')).toBeGreaterThanOrEqual(statCount(st, 'eth', 'InFrames'));
    } finally {
      expect((await s4.stop()).code).toBe(0);
    }
    const s6 = await c.serve(['--tap', '--tap-name', 'v6tap0', '--no-ipv4']);
    try {
      expect(s6.stdout).toMatch(/ready on v6tap0: kernel fd07::1\/64, stack fd07::2, mac /);
      const p = await c.run('ping', ['-6', '-c', '2', '-i', '0.2', '-W', '3', STACK6], { timeoutMs: 10_000 });
      expect(p.stdout, p.stderr).toMatch(/2 received/);
      const h = await c.run('curl', ['-sS', '-g', '-m', '10', `http://[${STACK6}]/`], { timeoutMs: 15_000 });
      expect(h.stdout).toContain('netstack');
    } finally {
      expect((await s6.stop()).code).toBe(0);
    }
  }, 60_000);

  it('usage errors name the flag: --mac without --tap, a group MAC; no device is left', async () => {
    const bin = join(repoRoot, 'packages/netstack/bin/netstack.js');
    const noTap = await c.run(process.execPath, [bin, 'serve', '--mac', MAC], { timeoutMs: 15_000 });
    expect(noTap.code).toBe(2);
    expect(noTap.stderr).toMatch(/--mac needs --tap/);
    const group = await c.run(process.execPath, [bin, 'serve', '--tap', '--tap-name', 'gtap0', '--mac', '01:00:5e:00:00:01'], { timeoutMs: 15_000 });
    expect(group.code).toBe(2);
    expect(group.stderr).toMatch(/--mac must be a unicast MAC address/);
    expect(c.links()).not.toContain('gtap0');
  }, 30_000);

  it('a TUN of that name: exit 1, one line saying so', async () => {
    c.runSync('ip', ['tuntap', 'add', 'dev', 'ptun0', 'mode', 'tun']);
    const r = await c.run(process.execPath, [join(repoRoot, 'packages/netstack/bin/netstack.js'), 'serve', '--tap', '--tap-name', 'ptun0'], { timeoutMs: 15_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ptun0 exists with other flags/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  }, 30_000);
});

describe('createStack({ tap }) as a library: its own ARP and NS, EHOSTUNREACH to ping, multicast membership', () => {
  let d: Netns;
  beforeAll(() => { d = Netns.create('tap-lib'); });
  afterAll(async () => { await d?.close(); });

  it('resolves the kernel side itself; an absent next hop is EHOSTUNREACH to ping (both families); addMembership opens the MAC filter', async () => {
    const r = await d.run(process.execPath, [join(repoRoot, 'test/kernel/fixtures/tap-stack.mjs')], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout.trim());
    expect(o.linkInfo).toMatchObject({ type: 'tap', name: 'tapx0', mac: '02:00:00:00:0c:02', mtu: 1500 });
    expect(o.linkInfo.offload).toMatchObject({ csum: true, tso4: true }); // the default, as on a TUN
    expect(o.pingKernel).toBe('ok');
    expect(o.pingKernel6).toBe('ok');
    // Linux's arp_error_report: 3 broadcast requests 1 s apart, then the waiting packet's transport hears EHOSTUNREACH.
    expect(o.pingAbsent).toBe('EHOSTUNREACH');
    expect(o.pingAbsent6).toBe('EHOSTUNREACH');
    // The connect ends at the ARP/NS failure (3 requests 1 s apart), not after the SYN retries
    // (the first retry alone is 1 s, the whole run over a minute): a bound, not a timing claim.
    expect(o.connectAbsent.code).toBe('EHOSTUNREACH');
    expect(o.connectAbsent6.code).toBe('EHOSTUNREACH');
    expect(o.connectAbsent.ms).toBeLessThan(30_000);
    expect(o.connectAbsent6.ms).toBeLessThan(30_000);
    // Two failed resolutions of the absent neighbour per family: the ping's, then the connect's.
    expect(o.eth['arp.ResFailed']).toBe(2);
    // Every packet that waited is reported: the ping's one, and the connect's SYN and any SYN
    // retransmitted while the resolution was still pending.
    expect(o.eth['arp.UnreachableReports']).toBeGreaterThanOrEqual(2);
    expect(o.eth['nd.UnreachableReports']).toBeGreaterThanOrEqual(2);
    // The stack asked for 10.7.0.1 (and 10.7.0.9, twice) itself: requests out, the kernel's reply in.
    expect(o.eth.ArpInReplies).toBeGreaterThanOrEqual(1);
    expect(o.eth.ArpOutRequests).toBe(1 + 3 + 3);
    expect(o.eth.NdpOutSolicits).toBeGreaterThanOrEqual(1 + 3 + 3);
    // Multicast: only the datagram sent while the socket was a member arrived; the others were dropped by the MAC filter.
    expect(o.multicast.got).toEqual(['marker-1', 'during', 'marker-2']);
    expect(o.multicast.droppedAfter - o.multicast.droppedBefore).toBeGreaterThanOrEqual(2); // before-join, after-leave
  }, 90_000);
});

describe('two netstack TAP stacks on one Linux bridge talk to each other through it', () => {
  let e: Netns;
  beforeAll(() => { e = Netns.create('tap-two'); });
  afterAll(async () => { await e?.close(); });

  it('B resolves A by ARP across br0, pings it and echoes 1 MB over TCP exact; A sees B\'s address as the peer', async () => {
    const r = await e.run(process.execPath, [join(repoRoot, 'test/kernel/fixtures/tap-two-stacks.mjs')], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout.trim());
    expect(o.ping).toBe(64);
    expect(o.echoExact).toBe(true);
    expect(o.peer).toBe('10.7.0.4');
    // B asked (broadcast, flooded by the bridge), A answered (unicast, forwarded by the bridge).
    expect(o.b.ArpOutRequests).toBe(1);
    expect(o.a.ArpOutReplies).toBe(1);
    expect(o.b.ArpInReplies).toBe(1);
    // 1 MB each way, in frames (super-segments: the bridge forwards them between the TAPs unsegmented).
    expect(o.aLink.RxBytes).toBeGreaterThan(1_000_000);
    expect(o.bLink.RxBytes).toBeGreaterThan(1_000_000);
    // The bridge learned each stack's MAC on its own port.
    expect(o.fdb).toMatch(/02:00:00:00:0d:0a dev tapa0/);
    expect(o.fdb).toMatch(/02:00:00:00:0d:0b dev tapb0/);
  }, 90_000);
});
