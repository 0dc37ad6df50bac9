/**
 * UDP over IPv6 at every size (issue 11, "Tests"): a kernel-side node:dgram 'udp6' client in
 * a private namespace (Netns.create; never the machine's own) sends each payload size from 1
 * to 1452 bytes (the full sweep: 1452 + 8 + 40 = 1500, the largest unfragmented datagram),
 * then 1453, 8000, 65000 and 65527 (the largest an IPv6 datagram holds: 65527 + 8 = 65535 bytes
 * of payload), one at a time, to `netstack serve`'s UDP echo [fd07::2]:7, and checks each comes
 * back exact from fd07::2:7. Above 1452 both directions fragment: the kernel's request is
 * reassembled by the stack and the stack's reply fragmented at the source (RFC 8200 §4.5).
 * A connected udp6 socket sending to a closed port gets ECONNREFUSED from the stack's ICMPv6
 * port unreachable (RFC 4443 §3.1 code 4). A datagram the kernel sends with a zero checksum
 * (UDP_NO_CHECK6_TX) is dropped and counted (RFC 8200 §8.1: mandatory over IPv6), neither
 * echoed nor answered with an ICMPv6 error. Destination and hop-by-hop options the kernel
 * adds (IPV6_DSTOPTS / IPV6_HOPOPTS) are skipped, or the datagram discarded with or without
 * a Parameter Problem, as their type's two high bits say (RFC 8200 §4.2). That netstack
 * carried it all is proved by its own
 * counters (SIGUSR2 stats: udp, ip6, icmp6) and the kernel's /proc/net/snmp6 (Udp6*,
 * Ip6ReasmOKs, Icmp6InDestUnreachs). Every wait is bounded (3 s per datagram, run timeout).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, type Server, liveStats, statCount, type Stats } from './netns.js';

const n = statCount;
const delta = (before: Stats, after: Stats, layer: string, key: string): number => n(after, layer, key) - n(before, layer, key);

/** /proc/net/snmp6 of the namespace as { Udp6InDatagrams: n, ... }. */
function snmp6(ns: Netns): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of ns.runSync('cat', ['/proc/net/snmp6']).split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k !== undefined && v !== undefined) out[k] = Number(v);
  }
  return out;
}

/**
 * The kernel-side client: a node:dgram socket of `type` (connected when `connected` is '1')
 * sends each size to host:port and waits (bounded, 3 s) for the echo before the next; prints
 * one JSON line: the sizes that came back exact from host:port, and what went wrong with the others.
 */
const CLIENT = `
const dgram = require('node:dgram');
const [type, host, port, sizesText, connected] = process.argv.slice(1);
const sizes = sizesText.split(',').flatMap((r) => {
  const [a, b] = r.split('-').map(Number);
  return b === undefined ? [a] : Array.from({ length: b - a + 1 }, (_, i) => a + i);
});
const s = dgram.createSocket(type);
const exact = [];
const bad = [];
let pending = null;
s.on('message', (m, r) => pending && pending({ m, r }));
s.on('error', (e) => pending && pending({ e }));
(async () => {
  if (connected === '1') await new Promise((res) => s.connect(Number(port), host, res));
  for (const size of sizes) {
    const p = Buffer.alloc(size);
    for (let i = 0; i < size; i++) p[i] = (i * 13 + size) & 0xff;
    const got = await new Promise((res) => {
      const t = setTimeout(() => res({ timeout: true }), 3000);
      pending = (v) => { clearTimeout(t); pending = null; res(v); };
      if (connected === '1') s.send(p); else s.send(p, Number(port), host);
    });
    if (!got.timeout && !got.e && got.m.equals(p) && got.r.address === host && got.r.port === Number(port) && got.r.family === 'IPv6') exact.push(size);
    else bad.push(got.timeout ? { size, why: 'timeout' } : got.e ? { size, why: got.e.code }
      : { size, why: 'mismatch', length: got.m.length, from: got.r.address, port: got.r.port, family: got.r.family });
  }
  console.log(JSON.stringify({ exact, bad }));
  s.close();
})();
`;

describe('UDP echo over IPv6 at every size, from a kernel-side udp6 client', () => {
  let ns: Netns;
  let server: Server;
  beforeAll(async () => {
    ns = Netns.create('udp6bulk');
    ns.setIpv6Disabled(false);
    server = await ns.serve(['--stats']);
  }, 30_000);
  afterAll(async () => { await ns?.close(); });

  const client = async (args: string[], timeoutMs: number): Promise<{ exact: number[]; bad: Array<Record<string, unknown>> }> => {
    const r = await ns.run(process.execPath, ['-e', CLIENT, ...args], { timeoutMs });
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim()) as { exact: number[]; bad: Array<Record<string, unknown>> };
  };

  it('every payload size 1..1452 comes back exact from [fd07::2]:7, unfragmented, each counted by netstack', async () => {
    const before = await liveStats(server);
    const k0 = snmp6(ns);
    const t0 = performance.now();
    const res = await client(['udp6', 'fd07::2', '7', '1-1452', '0'], 60_000);
    console.log(`UDP/IPv6 sweep 1..1452: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
    expect(res.bad).toEqual([]);
    expect(res.exact).toEqual(Array.from({ length: 1452 }, (_, i) => i + 1));
    const after = await liveStats(server);
    const k1 = snmp6(ns);
    expect(delta(before, after, 'udp', 'InDatagrams')).toBe(1452);
    expect(delta(before, after, 'udp', 'OutDatagrams')).toBe(1452);
    expect(delta(before, after, 'ip6', 'Ip6InDelivers')).toBeGreaterThanOrEqual(1452);
    expect(delta(before, after, 'ip6', 'Ip6ReasmReqds')).toBe(0);
    expect(delta(before, after, 'ip6', 'Ip6FragOKs')).toBe(0);
    expect(delta(before, after, 'ip', 'OutRequests')).toBe(0);
    // Σ 1..1452 payload bytes each way, plus headers.
    expect(delta(before, after, 'link', 'TxBytes')).toBeGreaterThanOrEqual((1452 * 1453) / 2 + 1452 * 48);
    expect(k1['Udp6InDatagrams']! - k0['Udp6InDatagrams']!).toBe(1452);
    expect(k1['Udp6OutDatagrams']! - k0['Udp6OutDatagrams']!).toBe(1452);
    expect(k1['Udp6InErrors']).toBe(k0['Udp6InErrors']);
    expect(k1['Udp6InCsumErrors']).toBe(k0['Udp6InCsumErrors']);
    expect(n(after, 'stack', 'InternalErrors')).toBe(0);
  }, 70_000);

  it('1453, 8000, 65000 and 65527 bytes (fragmented both ways) come back exact, reassembled and fragmented by netstack', async () => {
    const sizes = [1453, 8000, 65000, 65527];
    const before = await liveStats(server);
    const k0 = snmp6(ns);
    const res = await client(['udp6', 'fd07::2', '7', sizes.join(','), '0'], 30_000);
    expect(res.bad).toEqual([]);
    expect(res.exact).toEqual(sizes);
    const after = await liveStats(server);
    const k1 = snmp6(ns);
    expect(delta(before, after, 'udp', 'InDatagrams')).toBe(4);
    expect(delta(before, after, 'udp', 'OutDatagrams')).toBe(4);
    expect(delta(before, after, 'ip6', 'Ip6ReasmOKs')).toBe(4);
    expect(delta(before, after, 'ip6', 'Ip6FragOKs')).toBe(4);
    // 1448 bytes of UDP (header included) per fragment at MTU 1500.
    expect(delta(before, after, 'ip6', 'Ip6FragCreates')).toBe(sizes.reduce((s, z) => s + Math.ceil((z + 8) / 1448), 0));
    expect(delta(before, after, 'link', 'TxBytes')).toBeGreaterThanOrEqual(sizes.reduce((s, z) => s + z, 0));
    expect(k1['Ip6FragOKs']! - k0['Ip6FragOKs']!).toBe(4);
    expect(k1['Ip6ReasmOKs']! - k0['Ip6ReasmOKs']!).toBe(4);
    expect(k1['Udp6InDatagrams']! - k0['Udp6InDatagrams']!).toBe(4);
    expect(k1['Ip6ReasmFails']).toBe(k0['Ip6ReasmFails']);
    expect(n(after, 'stack', 'InternalErrors')).toBe(0);
  }, 40_000);

  it('a connected udp6 socket sending to closed [fd07::2]:9999 gets ECONNREFUSED from the stack\'s ICMPv6 port unreachable', async () => {
    const before = await liveStats(server);
    const k0 = snmp6(ns);
    const res = await client(['udp6', 'fd07::2', '9999', '16', '1'], 20_000);
    expect(res).toEqual({ exact: [], bad: [{ size: 16, why: 'ECONNREFUSED' }] });
    const after = await liveStats(server);
    const k1 = snmp6(ns);
    expect(delta(before, after, 'udp', 'NoPorts')).toBe(1);
    expect(delta(before, after, 'icmp6', 'Icmp6OutDestUnreachs')).toBe(1);
    expect(k1['Icmp6InDestUnreachs']! - k0['Icmp6InDestUnreachs']!).toBe(1);
    // Counted by type too (type 1: destination unreachable; the line appears from the first one on).
    expect((k1['Icmp6InType1'] ?? 0) - (k0['Icmp6InType1'] ?? 0)).toBe(1);
  }, 30_000);

  it('a zero UDP checksum over IPv6 (the kernel\'s UDP_NO_CHECK6_TX) is dropped and counted, never echoed nor answered (RFC 8200 §8.1)', async () => {
    // Python, for the socket option node:dgram lacks. The zero-checksum socket sends to the
    // echo port and to a closed one; then a normal socket's echo is the barrier: the stack
    // has handled both zero-checksum datagrams before it answers that one.
    const ZERO = [
      'import socket, json',
      'z = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)',
      'z.setsockopt(socket.SOL_UDP, 101, 1)  # UDP_NO_CHECK6_TX: the kernel sends checksum 0',
      'ok = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)',
      'ok.settimeout(3.0)',
      "z.sendto(b'z' * 100, ('fd07::2', 7))",
      "z.sendto(b'z' * 100, ('fd07::2', 9999))",
      "ok.sendto(b'k' * 100, ('fd07::2', 7))",
      'barrier = len(ok.recvfrom(2000)[0])',
      'z.setblocking(False)',
      'try:',
      '    zero = len(z.recvfrom(2000)[0])',
      'except BlockingIOError:',
      '    zero = None',
      "except OSError as e:",
      '    zero = e.errno',
      "print(json.dumps({'barrier': barrier, 'zeroAnswered': zero}))",
    ].join('\n');
    const before = await liveStats(server);
    const k0 = snmp6(ns);
    const r = await ns.run('python3', ['-c', ZERO], { timeoutMs: 10_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({ barrier: 100, zeroAnswered: null });
    const after = await liveStats(server);
    const k1 = snmp6(ns);
    expect(delta(before, after, 'udp', 'InReceives')).toBe(3);
    expect(delta(before, after, 'udp', 'InCsumErrors')).toBe(2);
    expect(delta(before, after, 'udp', 'InErrors')).toBe(2);
    expect(delta(before, after, 'udp', 'InDatagrams')).toBe(1);
    expect(delta(before, after, 'udp', 'NoPorts')).toBe(0);
    expect(delta(before, after, 'icmp6', 'Icmp6OutDestUnreachs')).toBe(0);
    expect(k1['Icmp6InDestUnreachs']! - k0['Icmp6InDestUnreachs']!).toBe(0);
  }, 20_000);

  it('extension headers the kernel puts in front of UDP: options skipped, discarded or answered with a Parameter Problem by their type\'s two high bits (RFC 8200 §4.2)', async () => {
    // Each case: a socket with the kernel's sticky IPV6_DSTOPTS / IPV6_HOPOPTS sends 50 bytes
    // to the echo port, then a plain socket's echo is the barrier (the stack has handled the
    // first datagram, and the kernel any ICMPv6 it got for it); the first socket is then
    // read without waiting.
    const EXT = [
      'import socket, json',
      'out = {}',
      'ok = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)',
      'ok.settimeout(3.0)',
      'def trial(name, opt, hdr):',
      '    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)',
      '    s.setsockopt(socket.IPPROTO_IPV6, opt, bytes(hdr))',
      "    s.sendto(b'e' * 50, ('fd07::2', 7))",
      "    ok.sendto(b'k', ('fd07::2', 7))",
      '    ok.recvfrom(2000)',
      '    s.setblocking(False)',
      '    try:',
      "        out[name] = 'echoed' if len(s.recvfrom(2000)[0]) == 50 else 'wrong'",
      '    except BlockingIOError:',
      "        out[name] = 'dropped'",
      'D, H = socket.IPV6_DSTOPTS, socket.IPV6_HOPOPTS',
      // Next header (the kernel fills it), length in 8-octet units beyond the first, then options.
      "trial('dst PadN', D, [0, 0, 1, 4, 0, 0, 0, 0])",
      "trial('dst unknown 00', D, [0, 0, 0x1e, 4, 0, 0, 0, 0])",
      "trial('dst unknown 01', D, [0, 0, 0x5e, 4, 0, 0, 0, 0])",
      "trial('dst unknown 10', D, [0, 0, 0x9e, 4, 0, 0, 0, 0])",
      "trial('dst unknown 11', D, [0, 0, 0xde, 4, 0, 0, 0, 0])",
      "trial('hop router alert', H, [0, 0, 5, 2, 0, 0, 1, 0])",
      'print(json.dumps(out))',
    ].join('\n');
    const before = await liveStats(server);
    const k0 = snmp6(ns);
    const r = await ns.run('python3', ['-c', EXT], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({
      'dst PadN': 'echoed',
      'dst unknown 00': 'echoed', // 00: skip over this option
      'dst unknown 01': 'dropped', // 01: discard the packet
      'dst unknown 10': 'dropped', // 10: discard, send Parameter Problem code 2
      'dst unknown 11': 'dropped', // 11: the same unless the destination was multicast
      'hop router alert': 'echoed',
    });
    const after = await liveStats(server);
    const k1 = snmp6(ns);
    expect(delta(before, after, 'ip6', 'dropped.Ip6InUnknownOption')).toBe(3);
    expect(delta(before, after, 'icmp6', 'Icmp6OutParmProblems')).toBe(2);
    expect(k1['Icmp6InParmProblems']! - k0['Icmp6InParmProblems']!).toBe(2);
    // 3 with options echoed + 6 barriers.
    expect(delta(before, after, 'udp', 'InDatagrams')).toBe(9);
  }, 30_000);

  it('exits 0 on SIGTERM, tun0 removed', async () => {
    const { code } = await server.stop();
    expect(code).toBe(0);
    expect(ns.links()).not.toContain('tun0');
  }, 20_000);
});
