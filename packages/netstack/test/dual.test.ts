/**
 * The dual stack in createStack (issue 11): `address: ['10.7.0.2', 'fd07::2']` builds the
 * IPv6 layer and ICMPv6 beside IPv4, TCP and UDP over both; a single string is IPv4 only as
 * before. Two stacks on an in-memory link; the peer's IPv6 layer sends hand-made ICMPv6
 * echo requests (the stack's own IPv6 ping is tested in ping6.test.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createStack, createLinkPair, checkAccounting, type Stack } from '@netstack/netstack';
import { icmp6Bytes, IPPROTO_ICMPV6 } from '@netstack/icmp';
import { parseIpv6Address, PROTO_TCP, type Ipv6Address } from '@netstack/ip';

const open: Stack[] = [];
afterEach(async () => { await Promise.all(open.splice(0).map((s) => s.close())); });

async function pair(mtu = 1500): Promise<[Stack, Stack]> {
  const { a, b } = createLinkPair({ mtu });
  const s1 = await createStack({ link: a, address: ['10.7.0.2', 'fd07::2'] });
  const s2 = await createStack({ link: b, address: ['10.7.0.1', 'fd07::1'] });
  open.push(s1, s2);
  return [s1, s2];
}

const A6 = parseIpv6Address('fd07::2')!;
const B6 = parseIpv6Address('fd07::1')!;

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setImmediate(r));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

function echoRequest(size: number, seqNo: number): Uint8Array {
  const data = Uint8Array.from({ length: size }, (_, i) => i & 0xff);
  return icmp6Bytes({ kind: 'echoRequest', ident: 7, seqNo, data }, B6, A6);
}

describe('createStack with IPv4 and IPv6 addresses', () => {
  it('answers ICMPv6 echo of 56, 1452 and 4000 bytes (the last fragmented at the source), IPv4 ping unchanged', async () => {
    const [s1, s2] = await pair();
    expect(s1.addresses6).toEqual(['fd07::2']);
    expect(s1.ip6).toBeDefined();
    let seq = 0;
    for (const size of [56, 1452, 4000]) {
      expect(s2.ip6!.send(A6, IPPROTO_ICMPV6, echoRequest(size, ++seq))).toBeUndefined();
      await until(() => (s2.stats()['icmp6']!['Icmp6InEchoReplies'] ?? 0) >= seq, `echo reply ${seq}`);
    }
    const st = s1.stats();
    expect(st['icmp6']).toMatchObject({ Icmp6InEchos: 3, Icmp6OutEchoReplies: 3 });
    // 1452 + 8 + 40 fits 1500; 4000 does not: the reply leaves in fragments, the peer reassembles it.
    expect(st['ip6']!['Ip6FragOKs']).toBe(1); // the reply of 4000 (s2 fragmented its request: s1 reassembled it)
    expect(st['ip6']!['Ip6ReasmOKs']).toBe(1);
    expect(s2.stats()['ip6']!['Ip6ReasmOKs']).toBe(1);
    // IPv4 is unchanged: its counters keep their keys.
    const r = await s1.ping('10.7.0.1', { size: 56 });
    expect(r.bytes).toBe(64);
    expect(s1.stats()['ip']!['InDelivers']).toBeGreaterThanOrEqual(1);
    for (const s of [s1, s2]) expect(checkAccounting(s.stats(), { reassemblyFragments: 0 }).violations).toEqual([]);
  });

  it('TCP over IPv6 between the two stacks on a link without offloads, and the accounting holds', async () => {
    const [s1, s2] = await pair();
    const got: Uint8Array[] = [];
    s1.tcpLayer.listen({ port: 7, address: A6 }, {
      onAcceptable(l) {
        let c;
        while ((c = l.accept({ onReadable(conn) { const b = new Uint8Array(65536); const n = conn.read(b, 0); if (n > 0) got.push(b.slice(0, n)); } }))) void c;
      },
    });
    const c = s2.tcpLayer.connect({ remoteAddress: A6, remotePort: 7 }, performance.now(), {});
    s2.schedule();
    await until(() => c.state === 'ESTABLISHED', 'ESTABLISHED');
    expect(c.localAddress).toBe(B6 as Ipv6Address);
    c.write(new Uint8Array(10_000).fill(0x61), performance.now());
    s2.schedule();
    await until(() => got.reduce((a, b) => a + b.length, 0) >= 10_000, '10 000 bytes');
    expect(got.reduce((a, b) => a + b.length, 0)).toBe(10_000);
    expect(s1.stats()['ip6']!['Ip6InDelivers']).toBeGreaterThan(2);
    expect(s1.stats()['tcp']!['InErrs']).toBe(0);
    for (const s of [s1, s2]) expect(checkAccounting(s.stats(), { reassemblyFragments: 0 }).violations).toEqual([]);
    void PROTO_TCP;
  });

  it('a single string is IPv4 only, as before: no ip6/icmp6 stats, IPv6 from the link dropped and counted by IPv4', async () => {
    const { a, b } = createLinkPair({ mtu: 1500 });
    const s1 = await createStack({ link: a, address: '10.7.0.2' });
    const s2 = await createStack({ link: b, address: ['10.7.0.1', 'fd07::1'] });
    open.push(s1, s2);
    expect(s1.ip6).toBeUndefined();
    expect(s1.addresses6).toEqual([]);
    expect(Object.keys(s1.stats())).not.toContain('ip6');
    s2.ip6!.send(A6, IPPROTO_ICMPV6, echoRequest(56, 1));
    await until(() => (s1.stats()['ip']!['InReceives'] ?? 0) >= 1, 'the packet');
    expect(s1.stats()['ip']!['dropped.InBadVersion']).toBe(1);
    expect(checkAccounting(s1.stats()).violations).toEqual([]);
  });

  it('option errors name the option, Node style', async () => {
    const { a } = createLinkPair({ mtu: 1500 });
    const bad = async (address: unknown): Promise<unknown> => createStack({ link: a, address: address as string }).then(() => undefined, (e: unknown) => e);
    // (IPv6-only stacks and several IPv4 addresses are valid since: addresses.test.ts.)
    for (const address of [[], ['10.7.0.2', 'fd07::zz'], ['10.7.0.2', '::1'], ['10.7.0.2', 'ff02::1'], ['10.7.0.2', '10.7.0.2'], 42]) {
      const e = await bad(address) as { code?: string; option?: string };
      expect(e, JSON.stringify(address)).toBeInstanceOf(Error);
      expect(e.option).toBe('address');
      expect(e.code).toMatch(/^ERR_INVALID_ARG_(VALUE|TYPE)$/);
    }
    const e = await createStack({ address: ['10.7.0.2', 'fd08::2'], tun: { kernelAddress: ['10.7.0.1/24', 'fd07::1/64'] } }).then(() => undefined, (x: unknown) => x) as { code?: string; option?: string; message: string };
    expect(e.option).toBe('address');
    expect(e.message).toMatch(/outside the kernel side's IPv6 prefix fd07::1\/64/);
    const k = await createStack({ address: '10.7.0.2', tun: { kernelAddress: ['10.7.0.1/24', 'fd07::1/200'] } }).then(() => undefined, (x: unknown) => x) as { option?: string };
    expect(k.option).toBe('tun.kernelAddress');
  });
});
