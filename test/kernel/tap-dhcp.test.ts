/**
 * Kernel-facing, TAP + DHCP (issue 13): `netstack serve --tap --dhcp` in a private namespace
 * gets its IPv4 configuration from dnsmasq (Debian's dnsmasq-base) serving DHCP on the
 * kernel side of tap0 (10.7.0.1/24): range 10.7.0.50–60, lease 2 min (dnsmasq's least),
 * T1 6 s and T2 100 s (options 58/59, so a renewal comes within seconds), router and DNS
 * 10.7.0.1, MTU 1400.
 *
 * Proven (each can fail): the ready line names the leased address with router, DNS and MTU
 * from dnsmasq (and the stack's MTU is 1400); dnsmasq's lease file holds the stack's MAC and
 * that address; the kernel reaches the stack at the leased address (ping; curl of
 * /bytes/N, exact: netstack carried it) and the stack's counters say the lease was applied;
 * the renewal at T1 goes to dnsmasq and is ACKed (a 'dhcp lease renewed' line on stderr,
 * dnsmasq's log says DHCPACK again); SIGTERM RELEASEs the lease (dnsmasq logs DHCPRELEASE
 * and its lease file no longer holds it). The pcap of the session (serve --pcap, at the
 * device: Ethernet) opens in tshark with nothing malformed or with a bad checksum and shows
 * the DHCP exchange (OFFER, REQUEST, ACK, the renewal's unicast REQUEST and ACK, RELEASE),
 * the ARP probes and announcement of the leased address (RFC 5227) and IP (the download).
 * No sleep synchronises: each wait is on a line of output or a file, bounded in time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcap } from '@netstack/tun';
import { Netns, Server, liveStats, statCount } from './netns.js';

const MAC = '02:00:00:00:0d:02';

let ns: Netns;
let dir: string;
let dnsmasq: ChildProcess;
let log = '';
let server: Server;
let address = '';

function ensureDnsmasq(): void {
  if (spawnSync('sh', ['-c', 'command -v dnsmasq']).status === 0) return;
  if (process.getuid?.() !== 0) throw new Error('dnsmasq is missing: apt-get install -y dnsmasq-base');
  const r = spawnSync('sh', ['-c', 'apt-get install -y -qq dnsmasq-base || (apt-get update -qq && apt-get install -y -qq dnsmasq-base)'], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) throw new Error(`apt-get install dnsmasq-base failed: ${r.stderr}`);
}

const leases = (): string => { try { return readFileSync(join(dir, 'leases'), 'utf8').toLowerCase(); } catch { return ''; } };

/** Resolves when `test()` holds, checked on each chunk of output (dnsmasq's or the server's) and every 100 ms; rejects after `ms`. */
async function until(what: string, test: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!test()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${what}; dnsmasq log:\n${log.slice(-1500)}\nserve stderr:\n${server?.stderr.slice(-800)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function bytesSha256(n: number): string {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i & 0xff;
  return createHash('sha256').update(b).digest('hex');
}

beforeAll(async () => {
  ensureDnsmasq();
  ns = Netns.create('tapdhcp');
  dir = mkdtempSync(join(tmpdir(), 'netstack-tapdhcp-'));
  // dnsmasq first (wildcard socket on port 67, no DNS: --port=0); it serves tap0 once serve
  // gave it 10.7.0.1/24 (a DISCOVER sent before that is retransmitted 4 s later).
  dnsmasq = ns.spawn('dnsmasq', [
    '--no-daemon', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--port=0', '--interface=tap0',
    '--dhcp-range=10.7.0.50,10.7.0.60,255.255.255.0,2m', '--dhcp-option=option:router,10.7.0.1',
    '--dhcp-option=option:dns-server,10.7.0.1', '--dhcp-option=option:mtu,1400',
    '--dhcp-option=option:T1,6', '--dhcp-option=option:T2,100', '--dhcp-authoritative',
    `--dhcp-leasefile=${join(dir, 'leases')}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`, '--log-dhcp', '--log-facility=-',
  ]);
  dnsmasq.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
  dnsmasq.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  await until('dnsmasq to start', () => /started, version/.test(log), 20_000);
  // A persistent tap0 (serve attaches to it) outlives serve: the RELEASE serve sends on SIGTERM
  // must still find tap0 and its address when dnsmasq reads it (with a tap0 that serve created,
  // the device could be gone first: "DHCP packet received on tap0 which has no address").
  ns.runSync('ip', ['tuntap', 'add', 'dev', 'tap0', 'mode', 'tap']);
  server = await ns.serve(['--tap', '--dhcp', '--no-ipv6', '--mac', MAC, '--stats', '--pcap', join(dir, 'dhcp.pcap')], 45_000);
}, 360_000);

afterAll(async () => {
  if (process.env.DHCP_DEBUG) console.log(log, server?.stdout, server?.stderr);
  server?.child.kill('SIGKILL');
  await ns?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('netstack serve --tap --dhcp against dnsmasq (private namespace)', () => {
  it('ready names the lease: address in the range, /24, router, DNS and MTU from dnsmasq; its lease file holds our MAC', () => {
    const m = server.stdout.match(/ready on tap0: kernel 10\.7\.0\.1\/24, stack (10\.7\.0\.\d+), mac 02:00:00:00:0d:02 \(kernel side \S+\), mtu 1400, offload csum=true tso4=true tso6=true uso4=true uso6=true, dhcp lease (\S+) router 10\.7\.0\.1 dns 10\.7\.0\.1 mtu 1400 from 10\.7\.0\.1 until \S+;/);
    expect(m, `${server.stdout}\n${server.stderr}`).not.toBeNull();
    address = m![1]!;
    expect(m![2]).toBe(`${address}/24`);
    expect(address).toMatch(/^10\.7\.0\.(5\d|60)$/);
    expect(leases()).toContain(`${MAC} ${address}`);
    expect(log).toMatch(new RegExp(`DHCPACK\\(tap0\\) ${address.replaceAll('.', '\\.')} ${MAC}`));
  });

  it('the kernel reaches the stack at the leased address: ping, and curl exact over netstack\'s TCP', async () => {
    const p = await ns.run('ping', ['-c', '3', '-i', '0.2', '-W', '2', address], { timeoutMs: 15_000 });
    expect(p.stdout).toMatch(/3 received/);
    const n = 3_000_000;
    const c = await ns.run('sh', ['-c', `curl -sS -m 60 http://${address}/bytes/${n} | sha256sum`], { timeoutMs: 70_000 });
    expect(c.stdout.split(' ')[0]).toBe(bytesSha256(n));
    const s = await liveStats(server);
    expect(statCount(s, 'dhcp', 'Applied')).toBe(1);
    expect(statCount(s, 'dhcp', 'Acquired')).toBe(1);
    expect(statCount(s, 'tcp', 'PassiveOpens')).toBeGreaterThan(0);
  }, 90_000);

  it('renews at T1 (6 s): dnsmasq ACKs again, the stack says "dhcp lease renewed" on stderr', async () => {
    const acks = (): number => (log.match(new RegExp(`DHCPACK\\(tap0\\) ${address.replaceAll('.', '\\.')} ${MAC}`, 'g')) ?? []).length;
    const before = acks();
    await until('a renewal', () => /dhcp lease renewed: /.test(server.stderr) && acks() > before, 20_000);
    expect(server.stderr).toMatch(new RegExp(`dhcp lease renewed: ${address.replaceAll('.', '\\.')}/24 router 10\\.7\\.0\\.1 dns 10\\.7\\.0\\.1 mtu 1400`));
    expect(log).toMatch(/DHCPREQUEST\(tap0\)/);
    const s = await liveStats(server);
    expect(statCount(s, 'dhcp', 'Renewed')).toBeGreaterThan(0);
    expect(statCount(s, 'dhcp', 'Expired')).toBe(0);
  }, 30_000);

  it('SIGTERM RELEASEs the lease: dnsmasq logs DHCPRELEASE and its lease file no longer holds it', async () => {
    expect(leases()).toContain(MAC);
    const { code } = await server.stop();
    expect(code).toBe(0);
    await until('DHCPRELEASE in dnsmasq\'s log', () => /DHCPRELEASE\(tap0\)/.test(log), 10_000);
    await until('the lease file to drop the lease', () => !leases().includes(MAC), 10_000);
    expect(log).toMatch(new RegExp(`DHCPRELEASE\\(tap0\\) ${address.replaceAll('.', '\\.')} ${MAC}`));
  }, 30_000);

  it('the pcap of the session: Ethernet, 0 malformed or bad checksums; DHCP (OFFER, REQUEST, ACK, renewal, RELEASE), ARP probes and announcement, IP', () => {
    const file = join(dir, 'dhcp.pcap');
    expect(readPcap(readFileSync(file)).linkType).toBe(1); // LINKTYPE_ETHERNET
    const fields = (filter: string, field: string): string[] => {
      const r = spawnSync('tshark', ['-r', file, '-n', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-Y', filter, '-T', 'fields', '-e', field], {
        encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20,
      });
      if (r.status !== 0) throw new Error(`tshark -Y '${filter}': ${r.stderr || r.error?.message}`);
      return r.stdout.split('\n').filter(Boolean);
    };
    const tshark = (filter: string): number => fields(filter, 'frame.number').length;
    const a = address;
    // A TCP checksum 0xffff for 0x0000 (RFC 1624: the same sum; a warning in tshark) is allowed from the kernel only.
    expect(tshark('_ws.malformed || _ws.expert.severity >= "Error" || ip.checksum.status == "Bad" || udp.checksum.status == "Bad" || ' +
      `(tcp.checksum.status == "Bad" && !tcp.checksum.ffff) || (tcp.checksum.ffff && ip.src == ${a})`)).toBe(0);
    // DHCP (RFC 2131 §3.1). The first DISCOVER is sent while createStack runs, before serve's
    // capture starts, so it is not asserted here; dnsmasq's OFFER to our MAC is.
    expect(tshark(`dhcp.option.dhcp == 2 && dhcp.hw.mac_addr == ${MAC} && dhcp.ip.your == ${a}`)).toBeGreaterThanOrEqual(1);
    // SELECTING: broadcast, the offered address as option 50, no ciaddr (§4.3.2).
    expect(tshark(`dhcp.option.dhcp == 3 && eth.src == ${MAC} && eth.dst == ff:ff:ff:ff:ff:ff && dhcp.option.requested_ip_address == ${a} && dhcp.ip.client == 0.0.0.0`)).toBeGreaterThanOrEqual(1);
    expect(tshark(`dhcp.option.dhcp == 5 && dhcp.ip.your == ${a} && dhcp.option.router == 10.7.0.1 && dhcp.option.interface_mtu == 1400`)).toBeGreaterThanOrEqual(2);
    // RENEWING: unicast to the server, ciaddr the lease's address (§4.3.2, §4.4.5).
    expect(tshark(`dhcp.option.dhcp == 3 && ip.src == ${a} && ip.dst == 10.7.0.1 && dhcp.ip.client == ${a}`)).toBeGreaterThanOrEqual(1);
    expect(tshark(`dhcp.option.dhcp == 7 && eth.src == ${MAC} && dhcp.ip.client == ${a}`)).toBe(1);
    // ARP: the leased address probed (sender 0.0.0.0, RFC 5227 §2.1.1) before it was used, then announced.
    expect(tshark(`arp.opcode == 1 && arp.src.hw_mac == ${MAC} && arp.src.proto_ipv4 == 0.0.0.0 && arp.dst.proto_ipv4 == ${a}`)).toBeGreaterThanOrEqual(1);
    expect(tshark(`arp.isannouncement && arp.src.hw_mac == ${MAC} && arp.src.proto_ipv4 == ${a}`)).toBeGreaterThanOrEqual(1);
    // IP: the download from the leased address, all 3 MB of it in TCP payload (counted in bytes, not
    // frames: with the TAP's offloads a frame in the capture may be a 64 KB segment).
    expect(fields(`eth.src == ${MAC} && ip.src == ${a} && tcp.srcport == 80`, 'tcp.len').reduce((s, n) => s + Number(n), 0)).toBeGreaterThanOrEqual(3_000_000);
  }, 120_000);
});
