/**
 * stack.ping over IPv6 (issue 11): an IPv6 literal goes through ICMPv6 (RFC 4443 §4.1) on
 * `stack.icmp6`, its deadline through the stack's one timer (icmp6.pollAt). Two stacks on an
 * in-memory link.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createStack, createLinkPair, checkAccounting, type Stack } from '@netstack/netstack';

const open: Stack[] = [];
afterEach(async () => { await Promise.all(open.splice(0).map((s) => s.close())); });

async function pair(mtu = 1500): Promise<[Stack, Stack]> {
  const { a, b } = createLinkPair({ mtu });
  const s1 = await createStack({ link: a, address: ['10.7.0.2', 'fd07::2'] });
  const s2 = await createStack({ link: b, address: ['10.7.0.1', 'fd07::1'] });
  open.push(s1, s2);
  return [s1, s2];
}

describe("stack.ping('fd07::1')", () => {
  it('pings over ICMPv6 at 56, 1452 and 4000 bytes (the last fragmented both ways); counters of both sides agree', async () => {
    const [s1, s2] = await pair();
    const results = [];
    for (const size of [56, 1452, 4000]) results.push(await s1.ping('fd07::1', { size, timeout: 2000 }));
    expect(results.map((r) => r.bytes)).toEqual([64, 1460, 4008]);
    for (const r of results) {
      expect(r.ttl).toBe(64);
      expect(r.rttMs).toBeGreaterThanOrEqual(0);
      expect(Object.keys(r).sort()).toEqual(['bytes', 'rttMs', 'seq', 'ttl']);
    }
    expect(new Set(results.map((r) => r.seq)).size).toBe(3);
    expect(s1.stats()['icmp6']).toMatchObject({
      Icmp6OutEchos: 3, Icmp6InEchoReplies: 3, Icmp6EchoReplyUnmatched: 0, Icmp6EchoReplyCorrupt: 0,
    });
    expect(s2.stats()['icmp6']).toMatchObject({ Icmp6InEchos: 3, Icmp6OutEchoReplies: 3 });
    expect(s1.stats()['ip6']!['Ip6FragOKs']).toBe(1); // the request of 4000
    expect(s1.stats()['icmp']!['OutEchos']).toBe(0); // not ICMPv4
    for (const s of [s1, s2]) expect(checkAccounting(s.stats(), { reassemblyFragments: 0 }).violations).toEqual([]);
  });

  it('several at once, then IPv4 and IPv6 side by side', async () => {
    const [s1] = await pair();
    const rs = await Promise.all([10, 100, 1000, 3000].map((size) => s1.ping('fd07::1', { size })));
    expect(rs.map((r) => r.bytes)).toEqual([18, 108, 1008, 3008]);
    const [r4, r6] = await Promise.all([s1.ping('10.7.0.1'), s1.ping('fd07:0:0:0::1')]);
    expect([r4.bytes, r6.bytes]).toEqual([64, 64]);
    expect(s1.stats()['icmp']!['OutEchos']).toBe(1);
    expect(s1.stats()['icmp6']!['Icmp6OutEchos']).toBe(5);
  });

  it('no reply: ETIMEDOUT from the timer the stack arms for icmp6', async () => {
    const [s1] = await pair();
    const started = performance.now();
    const err = await s1.ping('fd07::9', { timeout: 50 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ETIMEDOUT', syscall: 'ping' });
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(s1.icmp6!.outstandingPings).toBe(0);
  });

  it('an IPv4-only stack: ENETUNREACH (as ping -6 where no interface has IPv6); bad literals and sizes refused', async () => {
    const { a, b } = createLinkPair({ mtu: 1500 });
    const s4 = await createStack({ link: a, address: '10.7.0.2' });
    const peer = await createStack({ link: b, address: '10.7.0.1' });
    open.push(s4, peer);
    await expect(s4.ping('fd07::1')).rejects.toMatchObject({ code: 'ENETUNREACH', syscall: 'ping' });
    const [s1] = await pair();
    await expect(s1.ping('fd07::1', { size: 65528 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    await expect(s1.ping('fd07::1::2')).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });

  it('abort and close fail a pending IPv6 ping as they do an IPv4 one', async () => {
    const [s1] = await pair();
    const ac = new AbortController();
    const p = s1.ping('fd07::9', { timeout: 10_000, signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(s1.icmp6!.outstandingPings).toBe(0);
    const q = s1.ping('fd07::9', { timeout: 10_000 });
    await s1.close();
    await expect(q).rejects.toMatchObject({ code: 'ECONNABORTED' });
  });
});
