/**
 * UDP echo over IPv6 (issue 11): a kernel-side node:dgram 'udp6' client in a private
 * namespace (Netns.create; never the machine's own) sends 1, 1452 and 8000 bytes to
 * `netstack serve --addr6 fd07::2`'s UDP echo :7 and gets them back exact, from fd07::2:7
 * (8000: fragmented both ways, the stack's reply at the source, RFC 8200 §4.5). That
 * netstack answered is proved by its counters (SIGUSR2 stats: udp InDatagrams /
 * OutDatagrams, ip6 Ip6FragOKs / Ip6ReasmOKs). The same dual-stack echo socket still
 * answers IPv4 (the kernel sees 10.7.0.2), and a closed port over IPv6 gives the kernel
 * socket ECONNREFUSED. Every wait is bounded (per-datagram timeout, run timeout).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, type Server, liveStats, statCount } from './netns.js';


const n = statCount;

/**
 * The kernel-side client: an unconnected node:dgram socket of `type` sends each size to
 * host:port and waits (bounded) for the echo; prints one JSON line with what it saw.
 */
const CLIENT = `
const dgram = require('node:dgram');
const [type, host, port, sizes, connected] = process.argv.slice(1);
const s = dgram.createSocket(type);
const out = [];
let pending = null;
s.on('message', (m, r) => pending && pending({ m, r }));
s.on('error', (e) => pending && pending({ e }));
(async () => {
  if (connected === '1') await new Promise((res) => s.connect(Number(port), host, res));
  for (const size of sizes.split(',').map(Number)) {
    const p = Buffer.alloc(size);
    for (let i = 0; i < size; i++) p[i] = (i * 13 + size) & 0xff;
    const got = await new Promise((res) => {
      const t = setTimeout(() => res({ timeout: true }), 3000);
      pending = (v) => { clearTimeout(t); pending = null; res(v); };
      if (connected === '1') s.send(p); else s.send(p, Number(port), host);
    });
    out.push(got.timeout ? { size, why: 'timeout' } : got.e ? { size, why: got.e.code }
      : { size, exact: got.m.equals(p), from: got.r.address, family: got.r.family, port: got.r.port });
  }
  console.log(JSON.stringify(out));
  s.close();
})();
`;

describe('UDP echo over IPv6 from a kernel-side udp6 client', () => {
  let ns: Netns;
  let server: Server;
  beforeAll(async () => {
    ns = Netns.create('udp6');
    ns.setIpv6Disabled(false);
    server = await ns.serve(['--addr6', 'fd07::2', '--kernel-addr6', 'fd07::1/64', '--stats']);
  }, 30_000);
  afterAll(async () => { await ns?.close(); });

  const client = async (args: string[]): Promise<Array<Record<string, unknown>>> => {
    const r = await ns.run(process.execPath, ['-e', CLIENT, ...args], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim()) as Array<Record<string, unknown>>;
  };

  it('1, 1452 and 8000 bytes come back exact from fd07::2:7, counted by netstack', async () => {
    const before = await liveStats(server);
    const res = await client(['udp6', 'fd07::2', '7', '1,1452,8000', '0']);
    expect(res).toEqual([1, 1452, 8000].map((size) => ({ size, exact: true, from: 'fd07::2', family: 'IPv6', port: 7 })));
    const after = await liveStats(server);
    expect(n(after, 'udp', 'InDatagrams') - n(before, 'udp', 'InDatagrams')).toBe(3);
    expect(n(after, 'udp', 'OutDatagrams') - n(before, 'udp', 'OutDatagrams')).toBe(3);
    // 8000 + 8 + 40 > 1500: the kernel's request arrived in fragments, the stack's reply left in them.
    expect(n(after, 'ip6', 'Ip6ReasmOKs') - n(before, 'ip6', 'Ip6ReasmOKs')).toBe(1);
    expect(n(after, 'ip6', 'Ip6FragOKs') - n(before, 'ip6', 'Ip6FragOKs')).toBe(1);
    expect(n(after, 'ip6', 'Ip6InDelivers') - n(before, 'ip6', 'Ip6InDelivers')).toBeGreaterThanOrEqual(3);
    expect(n(after, 'stack', 'InternalErrors')).toBe(0);
  }, 30_000);

  it('the same dual-stack echo still answers IPv4 (the kernel sees 10.7.0.2:7)', async () => {
    const before = await liveStats(server);
    const res = await client(['udp4', '10.7.0.2', '7', '1,1472', '0']);
    expect(res).toEqual([1, 1472].map((size) => ({ size, exact: true, from: '10.7.0.2', family: 'IPv4', port: 7 })));
    const after = await liveStats(server);
    expect(n(after, 'udp', 'OutDatagrams') - n(before, 'udp', 'OutDatagrams')).toBe(2);
  }, 30_000);

  it('a closed port over IPv6 gives the connected kernel socket ECONNREFUSED', async () => {
    const res = await client(['udp6', 'fd07::2', '9999', '16', '1']);
    expect(res).toEqual([{ size: 16, why: 'ECONNREFUSED' }]);
  }, 30_000);

  it('exits 0 on SIGTERM, tun0 removed', async () => {
    const { code } = await server.stop();
    expect(code).toBe(0);
    expect(ns.links()).not.toContain('tun0');
  }, 20_000);
});
