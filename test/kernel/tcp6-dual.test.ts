/**
 * A dual-stack node:net listener (issue 11) seen from the kernel: `netstack serve --addr6`
 * listens on TCP echo :7 with no host, which on a dual-stack stack is Node's `::` and hears
 * both families. A kernel-side node:net client in a private namespace (Netns.create; never
 * the machine's own) opens one connection to fd07::2:7 and one to 10.7.0.2:7 at once and
 * echoes 200 KB through each, exact. That netstack answered both is proved by its counters
 * (SIGUSR2 stats: tcp PassiveOpens +2, ip6 Ip6InReceives grew). Every wait is bounded.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, type Server, liveStats, statCount } from './netns.js';


const n = statCount;

/** Kernel-side: one echo round per host, all at once; one JSON line with what each saw. */
const CLIENT = `
const net = require('node:net');
const size = 200000;
const one = (host) => new Promise((res) => {
  const p = Buffer.alloc(size);
  for (let i = 0; i < size; i++) p[i] = (i * 7 + host.length) & 0xff;
  const c = net.connect(7, host);
  const got = [];
  const t = setTimeout(() => { c.destroy(); res({ host, why: 'timeout' }); }, 10000);
  let family, remote;
  c.on('connect', () => { family = c.remoteFamily; remote = c.remoteAddress; c.end(p); });
  c.on('data', (d) => got.push(d));
  c.on('error', (e) => { clearTimeout(t); res({ host, why: e.code }); });
  c.on('end', () => { clearTimeout(t); res({ host, exact: Buffer.concat(got).equals(p), family, remote }); });
});
Promise.all(process.argv.slice(1).map(one)).then((r) => console.log(JSON.stringify(r)));
`;

describe('a dual-stack node:net listener from the kernel side', () => {
  let ns: Netns;
  let server: Server;
  beforeAll(async () => {
    ns = Netns.create('tcp6d');
    ns.setIpv6Disabled(false);
    server = await ns.serve(['--addr6', 'fd07::2', '--kernel-addr6', 'fd07::1/64', '--stats']);
  }, 30_000);
  afterAll(async () => { await ns?.close(); });

  it('TCP echo :7 with no host answers IPv6 and IPv4 at once, exact, counted by netstack', async () => {
    const before = await liveStats(server);
    const r = await ns.run(process.execPath, ['-e', CLIENT, 'fd07::2', '10.7.0.2'], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual([
      { host: 'fd07::2', exact: true, family: 'IPv6', remote: 'fd07::2' },
      { host: '10.7.0.2', exact: true, family: 'IPv4', remote: '10.7.0.2' },
    ]);
    const after = await liveStats(server);
    expect(n(after, 'tcp', 'PassiveOpens') - n(before, 'tcp', 'PassiveOpens')).toBe(2);
    expect(n(after, 'ip6', 'Ip6InReceives')).toBeGreaterThan(n(before, 'ip6', 'Ip6InReceives'));
  }, 60_000);
});
