/**
 * The first end-to-end IPv6 milestone (issue 11): the kernel's `ping -6` answered by
 * `netstack serve --addr6 fd07::2 --kernel-addr6 fd07::1/64`, at 56, 1452 and 4000 bytes
 * (4000: the kernel's request arrives in fragments, reassembled by the stack, and the
 * stack's reply leaves in fragments it made at the source, RFC 8200 §4.5), in a private
 * namespace made here (Netns.create; never the machine's own). That netstack answered is
 * proved by its own counters (SIGUSR2 stats: Icmp6InEchos / Icmp6OutEchoReplies, Ip6FragOKs),
 * beside the kernel's /proc/net/snmp6. IPv4 ping on the same stack still works, a kernel
 * TCP connection over IPv6 does not crash it, and where the namespace has IPv6 off the
 * stack serves IPv4 only and says so in one line. Every ping is bounded (-c, -W, timeouts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, cli, type Server, liveStats, statsLines, statCount, type Stats } from './netns.js';


const n = statCount;

/** /proc/net/snmp6 of the namespace as { Icmp6InEchoReplies: n, ... }. */
function snmp6(ns: Netns): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of ns.runSync('cat', ['/proc/net/snmp6']).split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k !== undefined && v !== undefined) out[k] = Number(v);
  }
  return out;
}

describe('the kernel\'s ping -6 answered by netstack serve --addr6', () => {
  let ns: Netns;
  let server: Server;
  beforeAll(async () => {
    ns = Netns.create('ip6ping');
    // This namespace only (net.ipv6 sysctls are per namespace): IPv6 on, whatever the host's defaults.
    ns.setIpv6Disabled(false);
    server = await ns.serve(['--addr6', 'fd07::2', '--kernel-addr6', 'fd07::1/64', '--stats']);
  }, 30_000);
  afterAll(async () => { await ns?.close(); });

  it('the ready line names both families, and the kernel side has fd07::1/64 (not tentative)', () => {
    expect(server.stdout).toMatch(/ready on tun0: kernel 10\.7\.0\.1\/24 fd07::1\/64, stack 10\.7\.0\.2 fd07::2,/);
    expect(server.stderr).not.toMatch(/IPv4 only/);
    const addr = ns.runSync('ip', ['-6', 'addr', 'show', 'dev', 'tun0']);
    expect(addr).toMatch(/inet6 fd07::1\/64/);
    expect(addr).not.toMatch(/tentative/);
  });

  for (const size of [56, 1452, 4000]) {
    it(`ping -6 -s ${size}: 3 of 3 replies, and netstack's ICMPv6 counted each echo and reply`, async () => {
      const before = await liveStats(server);
      const k0 = snmp6(ns);
      const r = await ns.run('ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', '-s', String(size), 'fd07::2'], { timeoutMs: 20_000 });
      expect(r.stdout, r.stderr).toMatch(/3 packets transmitted, 3 received/);
      expect(r.stdout).toMatch(new RegExp(`${size + 8} bytes from fd07::2`));
      const after = await liveStats(server);
      expect(n(after, 'icmp6', 'Icmp6InEchos') - n(before, 'icmp6', 'Icmp6InEchos')).toBeGreaterThanOrEqual(3);
      expect(n(after, 'icmp6', 'Icmp6OutEchoReplies') - n(before, 'icmp6', 'Icmp6OutEchoReplies')).toBeGreaterThanOrEqual(3);
      const k1 = snmp6(ns);
      expect(k1['Icmp6InEchoReplies']! - k0['Icmp6InEchoReplies']!).toBeGreaterThanOrEqual(3);
      if (size === 4000) {
        // 4008 bytes of ICMPv6 + 40 > 1500: fragmented both ways (the stack's at the source).
        expect(n(after, 'ip6', 'Ip6FragOKs') - n(before, 'ip6', 'Ip6FragOKs')).toBeGreaterThanOrEqual(3);
        expect(n(after, 'ip6', 'Ip6ReasmOKs') - n(before, 'ip6', 'Ip6ReasmOKs')).toBeGreaterThanOrEqual(3);
        expect(k1['Ip6ReasmOKs']! - k0['Ip6ReasmOKs']!).toBeGreaterThanOrEqual(3);
      }
      expect(n(after, 'stack', 'InternalErrors')).toBe(0);
    }, 30_000);
  }

  it('IPv4 ping on the same stack still works, counted under icmp/ip as before', async () => {
    const before = await liveStats(server);
    const r = await ns.run('ping', ['-4', '-c', '3', '-i', '0.2', '-W', '2', '-s', '1000', '10.7.0.2'], { timeoutMs: 20_000 });
    expect(r.stdout, r.stderr).toMatch(/3 packets transmitted, 3 received/);
    const after = await liveStats(server);
    expect(n(after, 'icmp', 'InEchos') - n(before, 'icmp', 'InEchos')).toBeGreaterThanOrEqual(3);
    expect(n(after, 'ip', 'InDelivers') - n(before, 'ip', 'InDelivers')).toBeGreaterThanOrEqual(3);
  }, 30_000);

  it('a kernel TCP connection over IPv6 does not crash the stack (no IPv6 offload path: TCP checksums itself)', async () => {
    // A kernel socket (node's, inside the namespace) to [fd07::2]:80; answered or refused, never a crash.
    const script = `const s=require('net').connect({host:'fd07::2',port:80});s.setTimeout(5000,()=>{console.log('timeout');process.exit(0)});`
      + `s.on('connect',()=>{s.end('GET / HTTP/1.0\\r\\n\\r\\n')});let b='';s.on('data',d=>b+=d);s.on('end',()=>{console.log('reply '+b.split('\\r\\n')[0]);process.exit(0)});`
      + `s.on('error',e=>{console.log('error '+e.code);process.exit(0)})`;
    const r = await ns.run(process.execPath, ['-e', script], { timeoutMs: 15_000 });
    console.log('kernel TCP over IPv6 to [fd07::2]:80:', r.stdout.trim());
    expect(r.stdout).toMatch(/^(reply HTTP\/1\.[01] 200|error ECONNREFUSED)/);
    expect(server.child.exitCode).toBeNull();
    const st = await liveStats(server);
    expect(n(st, 'stack', 'InternalErrors')).toBe(0);
    expect(n(st, 'tcp', 'InErrs')).toBe(0);
    // Still serving: one more ping -6.
    const p = await ns.run('ping', ['-6', '-c', '1', '-W', '2', 'fd07::2'], { timeoutMs: 10_000 });
    expect(p.stdout).toMatch(/1 packets transmitted, 1 received/);
  }, 30_000);

  it('exits 0 on SIGTERM with ip6 and icmp6 counters in --stats', async () => {
    const { code } = await server.stop();
    expect(code).toBe(0);
    const stats = JSON.parse(statsLines(server).at(-1)!.slice(6)) as Stats;
    expect(n(stats, 'icmp6', 'Icmp6InEchos')).toBeGreaterThanOrEqual(10);
    expect(n(stats, 'ip6', 'Ip6InReceives')).toBeGreaterThan(0);
    expect(ns.links()).not.toContain('tun0');
  }, 20_000);
});

describe('netstack serve --addr6 usage errors', () => {
  let ns: Netns;
  afterAll(async () => { await ns?.close(); });

  it('exit 2 with one line naming the IPv6 flag, and no device left behind', async () => {
    ns = Netns.create('ip6usage');
    const cases: Array<[string[], RegExp]> = [
      [['--addr6', 'fd08::2', '--kernel-addr6', 'fd07::1/64'], /^netstack serve: --addr6 fd08::2: fd08::2 is outside the kernel side's IPv6 prefix fd07::1\/64/],
      [['--addr6', 'fd07::zz'], /^netstack serve: --addr6 must be an IPv6 address, got 'fd07::zz'/],
      [['--no-ipv6', '--kernel-addr6', 'fd07::1/64'], /^netstack serve: --no-ipv6 contradicts --kernel-addr6/],
      [['--no-ipv6', '--addr6', 'fd07::2'], /^netstack serve: --no-ipv6 contradicts --addr6/],
      [['--kernel-addr6', 'fd08::1/64'], /^netstack serve: --addr6 fd07::2: fd07::2 is outside the kernel side's IPv6 prefix fd08::1\/64/],
      [['--addr6', 'fd07::2', '--kernel-addr6', 'fd07::1/200'], /^netstack serve: --kernel-addr6 must hold .* got 'fd07::1\/200'/],
      [['--addr6', 'fd07::1'], /^netstack serve: --addr6 must differ from the kernel side address fd07::1/],
    ];
    for (const [args, re] of cases) {
      const r = await ns.run(process.execPath, [cli, 'serve', ...args], { timeoutMs: 10_000 });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(re);
    }
    expect(ns.links()).not.toContain('tun0');
  }, 60_000);
});

describe('netstack serve --addr6 where the namespace has IPv6 off', () => {
  let ns: Netns;
  afterAll(async () => { await ns?.close(); });

  it('serves IPv4 only and says so in one line on stderr; not an error', async () => {
    ns = Netns.create('ip6off');
    ns.setIpv6Disabled(true);
    const server = await ns.serve(['--addr6', 'fd07::2', '--stats']);
    expect(server.stdout).toMatch(/ready on tun0: kernel 10\.7\.0\.1\/24, stack 10\.7\.0\.2,/);
    expect(server.stderr.trim().split('\n').filter((l) => /IPv4 only/.test(l))).toEqual([
      'netstack: serving IPv4 only: IPv6 is disabled in this network namespace (net.ipv6.conf.all.disable_ipv6 = 1)',
    ]);
    const r = await ns.run('ping', ['-4', '-c', '2', '-i', '0.2', '-W', '2', '10.7.0.2'], { timeoutMs: 15_000 });
    expect(r.stdout, r.stderr).toMatch(/2 packets transmitted, 2 received/);
    const { code } = await server.stop();
    expect(code).toBe(0);
    const stats = JSON.parse(statsLines(server).at(-1)!.slice(6)) as Stats;
    expect(stats['ip6']).toBeUndefined();
  }, 30_000);
});

describe('netstack serve with no family flags: both families by default; --no-ipv6: IPv4 only', () => {
  let ns: Netns;
  afterAll(async () => { await ns?.close(); });

  it('plain serve: fd07::1/64 and fd07::2 beside IPv4, and the kernel\'s ping -6 answered by netstack', async () => {
    ns = Netns.create('ip6dflt');
    ns.setIpv6Disabled(false);
    const server = await ns.serve(['--stats']);
    expect(server.stdout).toMatch(/ready on tun0: kernel 10\.7\.0\.1\/24 fd07::1\/64, stack 10\.7\.0\.2 fd07::2,/);
    expect(server.stderr).not.toMatch(/IPv4 only/);
    const r = await ns.run('ping', ['-6', '-c', '2', '-i', '0.2', '-W', '2', 'fd07::2'], { timeoutMs: 15_000 });
    expect(r.stdout, r.stderr).toMatch(/2 packets transmitted, 2 received/);
    const { code } = await server.stop();
    expect(code).toBe(0);
    const stats = JSON.parse(statsLines(server).at(-1)!.slice(6)) as Stats;
    expect(n(stats, 'icmp6', 'Icmp6OutEchoReplies')).toBe(2);
  }, 30_000);

  it('--no-ipv6: IPv4 only, no IPv6 address on either side, no stderr line', async () => {
    const server = await ns.serve(['--no-ipv6', '--stats']);
    expect(server.stdout).toMatch(/ready on tun0: kernel 10\.7\.0\.1\/24, stack 10\.7\.0\.2,/);
    expect(server.stderr).not.toMatch(/IPv4 only/);
    expect(ns.runSync('ip', ['-6', 'addr', 'show', 'dev', 'tun0'])).not.toMatch(/fd07::/);
    const { code } = await server.stop();
    expect(code).toBe(0);
    const stats = JSON.parse(statsLines(server).at(-1)!.slice(6)) as Stats;
    expect(stats['ip6']).toBeUndefined();
  }, 30_000);

  it('plain serve where the namespace has IPv6 off: IPv4 only, said in one line', async () => {
    ns.setIpv6Disabled(true);
    const server = await ns.serve([]);
    expect(server.stdout).toMatch(/ready on tun0: kernel 10\.7\.0\.1\/24, stack 10\.7\.0\.2,/);
    expect(server.stderr.trim().split('\n').filter((l) => /IPv4 only/.test(l))).toHaveLength(1);
    const { code } = await server.stop();
    expect(code).toBe(0);
  }, 30_000);
});
