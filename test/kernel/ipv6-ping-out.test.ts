/**
 * The stack pings out over IPv6 (issue 11): `netstack ping -6` / `netstack ping fd07::1`
 * sends ICMPv6 echo requests (RFC 4443 §4.1) to the kernel side's fd07::1 at 56 and 4000
 * bytes (4000: fragmented at the source by the stack, the kernel's reply fragmented too and
 * reassembled by the stack), in a private namespace made here (Netns.create; never the
 * machine's own). Every reply arrives: proved by the CLI's summary, netstack's own counters
 * (--stats: Icmp6OutEchos, Icmp6InEchoReplies) and the kernel's /proc/net/snmp6 inside the
 * namespace (Icmp6InEchos, Icmp6OutEchoReplies). Where the namespace has IPv6 off: exit 1,
 * one line, ENETUNREACH (as Linux's ping -6 says "Network is unreachable"). Bounded: -c 3, -W 2.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, cli, statCount, type Stats } from './netns.js';


function snmp6(ns: Netns): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of ns.runSync('cat', ['/proc/net/snmp6']).split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k !== undefined && v !== undefined) out[k] = Number(v);
  }
  return out;
}

function statsOf(stdout: string): Stats {
  const line = stdout.split('\n').find((l) => l.startsWith('stats '));
  if (line === undefined) throw new Error(`no stats line in ${stdout.slice(-300)}`);
  return JSON.parse(line.slice(6)) as Stats;
}

const n = statCount;

describe('netstack ping over IPv6 to the kernel side', () => {
  let ns: Netns;
  beforeAll(() => {
    ns = Netns.create('ip6pingout');
    ns.setIpv6Disabled(false);
  });
  afterAll(async () => { await ns?.close(); });

  for (const [size, args] of [[56, ['-6']], [4000, ['fd07::1']]] as const) {
    it(`netstack ping ${args.join(' ')} -s ${size}: 3 of 3 replies, counted by netstack and by the kernel`, async () => {
      const k0 = snmp6(ns);
      const r = await ns.run(process.execPath, [cli, 'ping', '-c', '3', '-i', '0.2', '-W', '2', '-s', String(size), '--stats', ...args], { timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^PING fd07::1 from fd07::2: ${size} data bytes`));
      expect(r.stdout.match(new RegExp(`^${size + 8} bytes from fd07::1: icmp_seq=\\d+ ttl=64 time=`, 'gm'))).toHaveLength(3);
      expect(r.stdout).toMatch(/3 packets transmitted, 3 received, 0% packet loss/);
      console.log(`netstack ping ${args.join(' ')} -s ${size}: ${r.stdout.split('\n').find((l) => l.startsWith('rtt')) ?? ''}`);
      const st = statsOf(r.stdout);
      expect(n(st, 'icmp6', 'Icmp6OutEchos')).toBe(3);
      expect(n(st, 'icmp6', 'Icmp6InEchoReplies')).toBe(3);
      expect(n(st, 'icmp6', 'Icmp6EchoReplyUnmatched') + n(st, 'icmp6', 'Icmp6EchoReplyCorrupt')).toBe(0);
      expect(n(st, 'icmp', 'OutEchos')).toBe(0); // not ICMPv4
      const k1 = snmp6(ns);
      expect(k1['Icmp6InEchos']! - k0['Icmp6InEchos']!).toBe(3);
      expect(k1['Icmp6OutEchoReplies']! - k0['Icmp6OutEchoReplies']!).toBe(3);
      if (size === 4000) {
        // 4008 + 40 > 1500: the stack fragments its requests at the source, the kernel reassembles them.
        expect(n(st, 'ip6', 'Ip6FragOKs')).toBe(3);
        expect(k1['Ip6ReasmOKs']! - k0['Ip6ReasmOKs']!).toBe(3);
        expect(n(st, 'ip6', 'Ip6ReasmOKs')).toBe(3);
      }
      expect(n(st, 'stack', 'InternalErrors')).toBe(0);
      expect(ns.links()).not.toContain('tun0');
    }, 40_000);
  }

  it('usage: -6 with an IPv4 HOST, and -s beyond 65527, exit 2 in one line', async () => {
    const a = await ns.run(process.execPath, [cli, 'ping', '-6', '-c', '1', '10.7.0.1'], { timeoutMs: 10_000 });
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/^netstack ping: with -6 or --addr6, HOST must be an IPv6 address or a name, got '10\.7\.0\.1'/);
    const b = await ns.run(process.execPath, [cli, 'ping', '-c', '1', '-s', '65528', 'fd07::1'], { timeoutMs: 10_000 });
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/^netstack ping: -s must be an integer in 0\.\.65527/);
  }, 30_000);
});

describe('netstack ping -6 where the namespace has IPv6 off', () => {
  let ns: Netns;
  afterAll(async () => { await ns?.close(); });

  it('exit 1, one line, ENETUNREACH; no device left', async () => {
    ns = Netns.create('ip6pingoff');
    ns.setIpv6Disabled(true);
    const r = await ns.run(process.execPath, [cli, 'ping', '-6', '-c', '1', '-W', '1'], { timeoutMs: 15_000 });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n').filter((l) => l.startsWith('netstack ping:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^netstack ping: cannot ping fd07::1: IPv6 is disabled .*\(ENETUNREACH\)$/);
    expect(ns.links()).not.toContain('tun0');
  }, 30_000);
});
