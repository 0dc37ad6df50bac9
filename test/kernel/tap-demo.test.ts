/**
 * Kernel-facing, TAP (issue 13): `netstack demo --tap` as a user runs it (here inside a
 * private namespace of the test's own; the demo makes its own namespaces inside that one).
 * It must pass all its checks (exit 0) and say what it proved: the DHCP lease from
 * dnsmasq, the kernel's ARP entry for the stack, fetch over a TAP, and over a Linux bridge
 * a client in a second namespace (10.7.0.3) reaching the stack, the stack learning it by
 * ARP and resolving 10.7.0.4 itself, the RELEASE on exit. Then its capture is read here,
 * independently of the demo's own tshark check: Ethernet, nothing malformed or with a bad
 * checksum, the DHCP exchange (OFFER/REQUEST/ACK of 10.7.0.2 and the RELEASE), the ARP
 * probes and replies of RFC 5227 and 826, IP from the kernel side and from 10.7.0.3 across
 * the bridge. Nothing the demo made is left in the test's namespace.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcap } from '@netstack/tun';
import { Netns, cli, type RunResult } from './netns.js';

const MAC = '02:00:00:00:07:02'; // the demo's (cli.ts DEMO_MAC)

let ns: Netns;
let dir: string;
let pcap: string;
let run: RunResult;
let ms = 0;

function ensureDnsmasq(): void {
  if (spawnSync('sh', ['-c', 'command -v dnsmasq']).status === 0) return;
  if (process.getuid?.() !== 0) throw new Error('dnsmasq is missing: apt-get install -y dnsmasq-base');
  const r = spawnSync('sh', ['-c', 'apt-get install -y -qq dnsmasq-base || (apt-get update -qq && apt-get install -y -qq dnsmasq-base)'], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) throw new Error(`apt-get install dnsmasq-base failed: ${r.stderr}`);
}

/** Lines of tshark's fields (default: frame numbers) for the frames of `file` matching a display filter. */
function tshark(file: string, filter: string, fields = ['frame.number'], extra: string[] = []): string[] {
  const r = spawnSync('tshark', ['-r', file, '-n', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE',
    ...(filter ? ['-Y', filter] : []), ...extra, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8', timeout: 120_000, maxBuffer: 256 << 20,
  });
  if (r.status !== 0) throw new Error(`tshark -Y '${filter}': ${r.stderr || r.error?.message}`);
  return r.stdout.split('\n').filter(Boolean);
}

beforeAll(async () => {
  ensureDnsmasq();
  ns = Netns.create('tapdemo');
  dir = mkdtempSync(join(tmpdir(), 'netstack-tapdemo-'));
  pcap = join(dir, 'demo.pcap');
  const t0 = performance.now();
  run = await ns.run(process.execPath, [cli, 'demo', '--tap', '--pcap', pcap], { timeoutMs: 170_000 });
  ms = performance.now() - t0;
}, 180_000);

afterAll(async () => {
  await ns?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('netstack demo --tap', () => {
  it('passes all its checks, exit 0, and leaves nothing behind', () => {
    const failed = run.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
    expect(failed, `${run.stdout}\n${run.stderr}`).toEqual([]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('demo: all checks passed');
    // What it made in its own namespaces it removed (and said so); nothing in the one it was started in.
    expect(run.stdout).toMatch(/^ok +the veth pair removed, the second namespace ended$/m);
    expect(run.stdout).toMatch(/^ok +tap0 removed$/m);
    expect(run.stdout).toMatch(/^ok +br0 removed$/m);
    expect(ns.links().filter((l) => l !== 'lo')).toEqual([]);
    console.log(`demo --tap took ${(ms / 1000).toFixed(1)} s`);
  });

  it('says what it proved: the lease, ARP both ways, fetch over a TAP, the bridge, the RELEASE', () => {
    const o = run.stdout;
    expect(o).toMatch(/ready on tap0: kernel 10\.7\.0\.1\/24 fd07::1\/64, stack 10\.7\.0\.2 fd07::2, mac 02:00:00:00:07:02 \(kernel side \S+\), mtu 1500, offload csum=true tso4=true tso6=true uso4=true uso6=true, dhcp lease 10\.7\.0\.2\/24 router 10\.7\.0\.1 /);
    expect(o).toMatch(/^ok +dhcp: the stack leased 10\.7\.0\.2\/24 \(router 10\.7\.0\.1\) from 10\.7\.0\.1; dnsmasq: DHCPACK\(tap0\) 10\.7\.0\.2 02:00:00:00:07:02/m);
    expect(o).toMatch(/^ok +ARP: the kernel's neighbour table: 10\.7\.0\.2 lladdr 02:00:00:00:07:02 /m);
    expect(o).toMatch(/^ok +netstack fetch http:\/\/10\.7\.1\.1:8080\/from-netstack .*\n.*\n.*eth\.ArpOutRequests [1-9]/m);
    expect(o).toMatch(/^ok +ping 10\.7\.0\.3 -> 10\.7\.0\.2 across br0 +3 packets transmitted, 3 received/m);
    expect(o).toMatch(/^ok +the stack learned 10\.7\.0\.3 by ARP: eth\.ArpInRequests \+[1-9]\d*, eth\.ArpOutReplies \+[1-9]\d*; its neighbour table now [2-9] entries/m);
    expect(o).toMatch(/^ok +curl --interface 10\.7\.0\.3 http:\/\/10\.7\.0\.2\/bytes\/10000000 +-> 10000000 bytes in \S+ s \(sha256 matches\)/m);
    expect(o).toMatch(/^ok +the client's neighbour table: 10\.7\.0\.2 lladdr 02:00:00:00:07:02 .*br0's forwarding table: 02:00:00:00:07:02 dev tap0/m);
    expect(o).toMatch(/^ok +ping 10\.7\.0\.4 -> 10\.7\.0\.2 .*eth\.ArpOutRequests \+[1-9]\d*, eth\.ArpInReplies \+[1-9]\d*/m);
    expect(o).toMatch(/^ok +dhcp: the lease released on exit; dnsmasq: DHCPRELEASE\(br0\) 10\.7\.0\.2 02:00:00:00:07:02/m);
    expect(o).toMatch(/^ok +capture: tshark with checksum validation: \d+ packets .*[1-9]\d* ARP, [1-9]\d* IPv4, [1-9]\d* DHCP, [1-9]\d* from 10\.7\.0\.3 across the bridge\), 0 with a bad checksum/m);
  });

  it('its capture, read here: Ethernet, nothing malformed or with a bad checksum; DHCP, ARP and IP from both clients', () => {
    expect(readPcap(readFileSync(pcap)).linkType).toBe(1); // LINKTYPE_ETHERNET
    // The capture is ~55k frames: one pass lists each frame's addresses (counted below), one
    // keeps the ARP, DHCP and ICMPv6 frames and any bad one in a small file that the filters below read.
    // Bad: malformed, an expert error, a bad checksum. A TCP checksum 0xffff for 0x0000 (RFC 1624, the
    // same sum) is a warning in tshark and allowed from the kernel (Linux writes it now and then); never from the stack.
    const bad = '_ws.malformed || _ws.expert.severity >= "Error" || ip.checksum.status == "Bad" || udp.checksum.status == "Bad" || ' +
      '(tcp.checksum.status == "Bad" && !tcp.checksum.ffff) || (tcp.checksum.ffff && ip.src == 10.7.0.2)';
    const frames = tshark(pcap, '', ['eth.src', 'ip.src', 'ip.dst', 'tcp.srcport', 'tcp.len']).map((l) => l.split('\t'));
    // TCP payload bytes (not frames: with the TAP's offloads a frame in the capture may be a 64 KB segment).
    const bytes = (src: string, dst: string, mac?: string, port?: string): number =>
      frames.filter(([m, s, d, p]) => s === src && d === dst && (mac === undefined || m === mac) && (port === undefined || p === port))
        .reduce((sum, f) => sum + Number(f[4] || 0), 0);
    // IP both ways with the kernel side, and with the client across the bridge (its 10 MB download).
    expect(bytes('10.7.0.2', '10.7.0.1', MAC)).toBeGreaterThan(1_000_000);
    expect(bytes('10.7.0.1', '10.7.0.2')).toBeGreaterThan(1_000_000);
    expect(bytes('10.7.0.2', '10.7.0.3', MAC, '80')).toBeGreaterThanOrEqual(10_000_000);
    const small = join(dir, 'l2.pcap');
    tshark(pcap, `arp || dhcp || icmpv6 || ${bad}`, ['frame.number'], ['-w', small]);
    const has = (filter: string): number => tshark(small, filter).length;
    expect(has(bad)).toBe(0);
    expect(has('arp || dhcp || icmpv6')).toBeGreaterThan(0);
    // DHCP (RFC 2131): dnsmasq's OFFER and ACK of 10.7.0.2, the stack's REQUEST and, on exit, RELEASE, from its MAC.
    expect(has(`dhcp.option.dhcp == 2 && dhcp.ip.your == 10.7.0.2 && dhcp.hw.mac_addr == ${MAC}`)).toBeGreaterThanOrEqual(1);
    expect(has(`dhcp.option.dhcp == 3 && eth.src == ${MAC} && dhcp.option.requested_ip_address == 10.7.0.2`)).toBeGreaterThanOrEqual(1);
    expect(has('dhcp.option.dhcp == 5 && dhcp.ip.your == 10.7.0.2 && dhcp.option.router == 10.7.0.1')).toBeGreaterThanOrEqual(1);
    expect(has(`dhcp.option.dhcp == 7 && eth.src == ${MAC} && dhcp.ip.client == 10.7.0.2`)).toBeGreaterThanOrEqual(1);
    // ARP: the stack's probes of the leased address (RFC 5227 §2.1.1: sender 0.0.0.0) and announcement.
    expect(has(`arp.opcode == 1 && arp.src.hw_mac == ${MAC} && arp.src.proto_ipv4 == 0.0.0.0 && arp.dst.proto_ipv4 == 10.7.0.2`)).toBeGreaterThanOrEqual(1);
    expect(has(`arp.isannouncement && arp.src.hw_mac == ${MAC}`)).toBeGreaterThanOrEqual(1);
    // The kernel's request and the client's (10.7.0.3, across br0), each answered from the stack's MAC.
    for (const asker of ['10.7.0.1', '10.7.0.3']) {
      expect(has(`arp.opcode == 1 && arp.src.proto_ipv4 == ${asker} && arp.dst.proto_ipv4 == 10.7.0.2`), asker).toBeGreaterThanOrEqual(1);
      expect(has(`arp.opcode == 2 && arp.src.hw_mac == ${MAC} && arp.src.proto_ipv4 == 10.7.0.2 && arp.dst.proto_ipv4 == ${asker}`), asker).toBeGreaterThanOrEqual(1);
    }
    // The stack's own request for 10.7.0.4, answered by the client's kernel.
    expect(has(`arp.opcode == 1 && arp.src.hw_mac == ${MAC} && arp.dst.proto_ipv4 == 10.7.0.4`)).toBeGreaterThanOrEqual(1);
    expect(has('arp.opcode == 2 && arp.src.proto_ipv4 == 10.7.0.4 && arp.dst.proto_ipv4 == 10.7.0.2')).toBeGreaterThanOrEqual(1);
    // IPv6 with the client (fd07::3) across the bridge: its echo requests.
    expect(has('ipv6.src == fd07::3 && icmpv6.type == 128')).toBeGreaterThanOrEqual(2);
  }, 120_000);
});
