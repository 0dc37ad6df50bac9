/**
 * SYN cookies over IPv6 against the kernel (issue 11: "ISN and SYN cookies keyed over the IPv6
 * 4-tuple"): in a private namespace made here (Netns.create; never the machine's own), a
 * kernel-side node:net client (bench/conns-client.mjs) opens 1200 connections to `netstack
 * serve`'s echo [fd07::2]:7 all at once, more than the listener's SYN queue holds (511, node's
 * default backlog), so the stack answers the rest with SYN cookies (RFC 4987 §3.6) and must
 * rebuild each such connection from the kernel's ACK over the IPv6 4-tuple. Every connection
 * opens, echoes its own payload exact and closes cleanly; the stack's counters prove cookies
 * were sent AND accepted (SyncookiesRecv), none failed, and all of it over IPv6. Bounded: the
 * client gives up after 30 s.
 *
 * The overflow is made certain, not left to timing (a fast stack can finish each handshake
 * before the next SYN arrives, and then never needs a cookie: CI saw that once): the stack is
 * stopped (SIGSTOP) while the client connects, the TUN's queue is raised above COUNT so no
 * SYN is dropped, and the stack is resumed once the kernel counts every connect's SYN sent
 * (Tcp ActiveOpens of the namespace). It then reads 1200 SYNs before any ACK: 511 fill the SYN queue, the rest get cookies.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Netns, type Server, repoRoot, statCount, statsLines, type Stats } from './netns.js';

const n = statCount;
const COUNT = 1200;
const client = join(repoRoot, 'bench/conns-client.mjs');

describe(`${COUNT} IPv6 connections at once: past the SYN queue, SYN cookies`, () => {
  let ns: Netns;
  let server: Server;
  beforeAll(async () => {
    ns = Netns.create('ip6cookie');
    ns.setIpv6Disabled(false);
    server = await ns.serve(['--stats']);
  }, 30_000);
  afterAll(async () => { await ns?.close(); });

  it(`all ${COUNT} to [fd07::2]:7 open, echo exact and close; cookies sent and accepted over IPv6`, async () => {
    const tun = ns.links().find((l) => l !== 'lo')!;
    ns.runSync('ip', ['link', 'set', 'dev', tun, 'txqueuelen', String(2 * COUNT + 100)]);
    const opens = (): number => ns.snmp()['Tcp.ActiveOpens'] ?? 0;
    const before = opens();
    const pid = server.child.pid!;
    process.kill(pid, 'SIGSTOP');
    let resumed = false;
    const resume = (): void => { if (!resumed) { resumed = true; process.kill(pid, 'SIGCONT'); } };
    const clientDone = ns.run('bash', ['-c', 'ulimit -n "$(ulimit -Hn)" && exec "$0" "$@"', process.execPath, client,
      'fd07::2', '7', String(COUNT), '--wave', String(COUNT), '--timeout-ms', '30000'], { timeoutMs: 40_000 });
    try {
      // A condition, polled: the kernel sent every SYN toward the stopped stack (bounded: 10 s).
      for (let i = 0; i < 200 && opens() < before + COUNT; i++) await delay(50);
      expect(opens() - before, 'the kernel sent every SYN while the stack was stopped').toBeGreaterThanOrEqual(COUNT);
    } finally { resume(); }
    const r = await clientDone;
    const line = r.stdout.trim().split('\n').pop() ?? '';
    expect(line.startsWith('{'), `client printed no result (code ${r.code ?? r.signal}): ${r.stdout.slice(-300)} ${r.stderr.slice(-500)}`).toBe(true);
    const res = JSON.parse(line);
    const summary = JSON.stringify({ ...res, bad: res.bad.slice(0, 3) });
    expect(res.errors, summary).toEqual({});
    expect(res.bad, summary).toEqual([]);
    expect(res, summary).toMatchObject({ connected: COUNT, echoed: COUNT, closedClean: COUNT, openAtHold: COUNT });
    // A barrier, not a sleep: once this echo is answered the stack has read every segment before it.
    const ping = await ns.run('ping', ['-6', '-c', '1', '-W', '5', 'fd07::2'], { timeoutMs: 10_000 });
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    const { code } = await server.stop();
    expect(code, server.stderr).toBe(0);
    const stats = JSON.parse(statsLines(server).at(-1)!.slice(6)) as Stats;
    const tcp = stats['tcp']!;
    console.log(`${COUNT} IPv6 connections at once: connect ${res.ms.connect} ms; stack tcp ${JSON.stringify(Object.fromEntries(Object.entries(tcp).filter(([, v]) => v !== 0)))}`);
    expect(n(stats, 'tcp', 'PassiveOpens')).toBe(COUNT);
    expect(n(stats, 'tcp', 'SyncookiesSent')).toBeGreaterThan(0);
    // Connections the stack rebuilt from a returning cookie: validated over the IPv6 4-tuple.
    expect(n(stats, 'tcp', 'SyncookiesRecv')).toBeGreaterThan(0);
    expect(n(stats, 'tcp', 'SyncookiesRecv')).toBeLessThanOrEqual(n(stats, 'tcp', 'SyncookiesSent'));
    expect(n(stats, 'tcp', 'SyncookiesFailed')).toBe(0);
    expect(n(stats, 'tcp', 'EstabResets')).toBe(0);
    expect(n(stats, 'tcp', 'OutRsts')).toBe(0);
    expect(n(stats, 'tcp', 'InCsumErrors')).toBe(0);
    expect(n(stats, 'ip', 'OutRequests')).toBe(0);
    expect(n(stats, 'ip6', 'Ip6OutRequests')).toBeGreaterThan(4 * COUNT);
    expect(n(stats, 'stack', 'InternalErrors')).toBe(0);
  }, 60_000);
});
