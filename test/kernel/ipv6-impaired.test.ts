/**
 * TCP over IPv6 through an impaired link (`netstack serve --impair`, the same impairment
 * as tcp.test.ts's IPv4 case: 3 % loss, 25 % reordering, 1 % duplication, 5 ms delay, seeded)
 * against the kernel's TCP, in a private namespace made here (Netns.create; never the
 * machine's own): a 3 MB `curl -6` download and a 3 MB POST arrive exact, so SACK, RACK and
 * retransmission work over the IPv6 4-tuple and pseudo-header both ways. The impairment is
 * proved applied (its counters), the stack's
 * recovery proved used (RetransSegs, SackRecoveries), and the kernel proved to have thrown
 * nothing of ours away (no checksum or header errors). Bounded: curl -m, fixture timeouts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Netns, type Server, repoRoot, statCount, statsLines, type Stats } from './netns.js';

const n = statCount;
const IMPAIR = 'loss=3%,reorder=25%,dup=1%,delay=5ms,seed=7';
const SIZE = 3_000_000;
const httpClient = join(repoRoot, 'test/kernel/fixtures/tcp-http-client.mjs');

function snmp6(ns: Netns): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of ns.runSync('cat', ['/proc/net/snmp6']).split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k !== undefined && v !== undefined) out[k] = Number(v);
  }
  return out;
}

describe(`TCP over IPv6 through an impaired link (--impair ${IMPAIR})`, () => {
  let ns: Netns;
  let server: Server;
  let k0: Record<string, number>;
  let tcp0: Record<string, number>;

  beforeAll(async () => {
    ns = Netns.create('ip6imp');
    ns.setIpv6Disabled(false);
    server = await ns.serve(['--stats', '--impair', IMPAIR]);
    k0 = snmp6(ns);
    tcp0 = ns.snmp();
  }, 30_000);

  afterAll(async () => { await ns?.close(); });

  it(`curl -6 GET [fd07::2]/bytes/${SIZE} arrives exact`, async () => {
    const r = await ns.run('sh', ['-c', `curl -6 -g -sS -m 60 'http://[fd07::2]/bytes/${SIZE}' | sha256sum`], { timeoutMs: 70_000 });
    const pattern = Buffer.alloc(SIZE);
    for (let i = 0; i < SIZE; i++) pattern[i] = i & 0xff;
    expect(r.stdout.split(' ')[0], r.stderr).toBe(createHash('sha256').update(pattern).digest('hex'));
  }, 80_000);

  it(`POST [fd07::2]/sink of ${SIZE} random bytes arrives exact`, async () => {
    const r = await ns.run(process.execPath, [httpClient, 'post', 'http://[fd07::2]/sink', String(SIZE)], { timeoutMs: 70_000 });
    const res = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}');
    expect(res.status, r.stdout + r.stderr).toBe(200);
    expect(res.answer).toEqual({ bytes: SIZE, sha256: res.sha256 });
  }, 80_000);

  it('SIGTERM: exit 0; the impairment applied, the stack recovered with SACK, the kernel saw no bad packet', async () => {
    const { code } = await server.stop();
    expect(code, server.stderr).toBe(0);
    const stats = JSON.parse(statsLines(server).at(-1)!.slice(6)) as Stats;
    console.log(`impaired IPv6: impair ${JSON.stringify(stats['impair'])} tcp ${JSON.stringify(Object.fromEntries(Object.entries(stats['tcp']!).filter(([, v]) => v !== 0)))}`);
    expect(n(stats, 'impair', 'Lost')).toBeGreaterThan(50);
    expect(n(stats, 'impair', 'Reordered')).toBeGreaterThan(50);
    expect(n(stats, 'impair', 'Duplicated')).toBeGreaterThan(5);
    expect(n(stats, 'tcp', 'PassiveOpens')).toBe(2);
    expect(n(stats, 'tcp', 'RetransSegs')).toBeGreaterThan(0);
    expect(n(stats, 'tcp', 'SackRecoveries')).toBeGreaterThan(0);
    expect(n(stats, 'tcp', 'InCsumErrors')).toBe(0);
    expect(n(stats, 'ip', 'OutRequests')).toBe(0);
    expect(n(stats, 'ip6', 'Ip6OutRequests')).toBeGreaterThan(2 * SIZE / 1440);
    expect(n(stats, 'stack', 'InternalErrors')).toBe(0);
    const k1 = snmp6(ns);
    for (const key of ['Ip6InHdrErrors', 'Ip6InAddrErrors', 'Ip6InTruncatedPkts', 'Icmp6InErrors']) expect(k1[key], key).toBe(k0[key]);
    expect(ns.snmp()['Tcp.InCsumErrors']).toBe(tcp0['Tcp.InCsumErrors']);
  }, 20_000);
});
