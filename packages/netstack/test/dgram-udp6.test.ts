/**
 * node:dgram 'udp6' over a link pair of dual-stack stacks (issue 11): echo over IPv6 of
 * exact bytes (1, 1452, 8000 fragmented at the source, 65000), rinfo in Node's IPv6 form,
 * a dual-stack socket hearing an IPv4 sender as `::ffff:a.b.c.d`, IPV6_V6ONLY, the
 * Linux port-table rule between `::` and `0.0.0.0`, and the family errors Node gives.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createStack, createLinkPair, checkAccounting, type Stack, type UdpSocket, type RemoteInfo } from '@netstack/netstack';

const open: Stack[] = [];
afterEach(async () => { await Promise.all(open.splice(0).map((s) => s.close())); });

async function pair(): Promise<[Stack, Stack]> {
  const { a, b } = createLinkPair({ mtu: 1500 });
  const s1 = await createStack({ link: a, address: ['10.7.0.2', 'fd07::2'] });
  const s2 = await createStack({ link: b, address: ['10.7.0.1', 'fd07::1'] });
  open.push(s1, s2);
  return [s1, s2];
}

function bound(s: UdpSocket, port: number, address?: string): Promise<void> {
  return new Promise((res, rej) => {
    s.once('error', rej);
    if (address === undefined) s.bind(port, () => res());
    else s.bind(port, address, () => res());
  });
}

function nextMessage(s: UdpSocket): Promise<[Buffer, RemoteInfo]> {
  return new Promise((res) => s.once('message', (m: Buffer, r: RemoteInfo) => res([m, r])));
}

function errorOf(f: (cb: (e: (Error & { code?: string }) | null) => void) => void): Promise<{ code: string | undefined; message: string } | null> {
  return new Promise((res) => f((e) => res(e ? { code: e.code, message: e.message } : null)));
}

describe("createSocket('udp6') between two dual-stack stacks", () => {
  it('echoes 1, 1452, 8000 and 65000 bytes exactly over IPv6; rinfo and address() say IPv6', async () => {
    const [s1, s2] = await pair();
    const server = s1.udp.createSocket('udp6');
    server.on('message', (m, r) => server.send(m, r.port, r.address));
    await bound(server, 7);
    expect(server.address()).toEqual({ address: '::', family: 'IPv6', port: 7 });
    const client = s2.udp.createSocket('udp6');
    await bound(client, 0, 'fd07::1');
    expect(client.address()).toMatchObject({ address: 'fd07::1', family: 'IPv6' });
    const seen: RemoteInfo[] = [];
    server.on('message', (_m, r) => seen.push(r));
    for (const size of [1, 1452, 8000, 65000]) {
      const data = Buffer.from(Uint8Array.from({ length: size }, (_, i) => (i * 7 + size) & 0xff));
      const got = nextMessage(client);
      client.send(data, 7, 'fd07::2');
      const [m, r] = await got;
      expect(m.equals(data)).toBe(true);
      expect(r).toEqual({ address: 'fd07::2', family: 'IPv6', port: 7, size });
    }
    expect(seen.map((r) => [r.address, r.family, r.port])).toEqual(Array(4).fill(['fd07::1', 'IPv6', client.address().port]));
    const st = s1.stats();
    expect(st['udp']).toMatchObject({ InDatagrams: 4, OutDatagrams: 4 });
    expect(st['ip6']!['Ip6FragOKs']).toBe(2); // 8000 and 65000 answered in fragments
    expect(st['ip6']!['Ip6ReasmOKs']).toBe(2);
    for (const s of [s1, s2]) expect(checkAccounting(s.stats(), { reassemblyFragments: 0 }).violations).toEqual([]);
    server.close();
    client.close();
  });

  it("a dual-stack socket hears an IPv4 sender as '::ffff:a.b.c.d' and answers it; ipv6Only does not hear it", async () => {
    const [s1, s2] = await pair();
    const server = s1.udp.createSocket('udp6');
    server.on('message', (m, r) => server.send(m, r.port, r.address));
    await bound(server, 7);
    const v4 = s2.udp.createSocket('udp4');
    await bound(v4, 0);
    const got = nextMessage(server);
    const echoed = nextMessage(v4);
    v4.send('hello', 7, '10.7.0.2');
    const [, r] = await got;
    expect(r).toEqual({ address: '::ffff:10.7.0.1', family: 'IPv6', port: v4.address().port, size: 5 });
    const [m, r4] = await echoed;
    expect(m.toString()).toBe('hello');
    expect(r4).toEqual({ address: '10.7.0.2', family: 'IPv4', port: 7, size: 5 });
    server.close();

    const only = s1.udp.createSocket({ type: 'udp6', ipv6Only: true });
    await bound(only, 9);
    let heard = 0;
    only.on('message', () => heard++);
    const before = s1.stats()['udp']!['NoPorts']!;
    v4.send('x', 9, '10.7.0.2');
    for (let i = 0; i < 50 && s1.stats()['udp']!['NoPorts'] === before; i++) await new Promise((res) => setImmediate(res));
    expect(s1.stats()['udp']!['NoPorts']).toBe(before + 1);
    expect(heard).toBe(0);
    only.close();
    v4.close();
  });

  it('connect to an IPv6 peer: address() and remoteAddress() in IPv6 form; a connected echo', async () => {
    const [s1, s2] = await pair();
    const server = s1.udp.createSocket('udp6');
    server.on('message', (m, r) => server.send(m, r.port, r.address));
    await bound(server, 7);
    const c = s2.udp.createSocket('udp6');
    await new Promise<void>((res) => c.connect(7, 'fd07::2', () => res()));
    expect(c.remoteAddress()).toEqual({ address: 'fd07::2', family: 'IPv6', port: 7 });
    expect(c.address()).toMatchObject({ address: 'fd07::1', family: 'IPv6' });
    const got = nextMessage(c);
    c.send('abc');
    expect((await got)[0].toString()).toBe('abc');
    const m = s2.udp.createSocket('udp6');
    await new Promise<void>((res) => m.connect(7, '::ffff:10.7.0.2', () => res()));
    expect(m.remoteAddress()).toEqual({ address: '::ffff:10.7.0.2', family: 'IPv6', port: 7 });
    expect(m.address()).toMatchObject({ address: '::ffff:10.7.0.1', family: 'IPv6' });
    const got2 = nextMessage(m);
    m.send('def');
    expect((await got2)[1]).toMatchObject({ address: '::ffff:10.7.0.2', family: 'IPv6' });
    for (const s of [server, c, m]) s.close();
  });

  it('port table: `::` (dual) and 0.0.0.0 clash on a port either way round; `::` with ipv6Only does not', async () => {
    const [s1] = await pair();
    const bindErr = (s: UdpSocket, port: number, address?: string): Promise<string> =>
      bound(s, port, address).then(() => 'ok', (e: { code: string }) => e.code);
    const d = s1.udp.createSocket('udp6');
    expect(await bindErr(d, 5000)).toBe('ok');
    expect(await bindErr(s1.udp.createSocket('udp4'), 5000)).toBe('EADDRINUSE');
    expect(await bindErr(s1.udp.createSocket('udp4'), 5000, '10.7.0.2')).toBe('EADDRINUSE');
    expect(await bindErr(s1.udp.createSocket('udp6'), 5000, 'fd07::2')).toBe('EADDRINUSE');
    expect(await bindErr(s1.udp.createSocket('udp4'), 5001)).toBe('ok');
    expect(await bindErr(s1.udp.createSocket('udp6'), 5001)).toBe('EADDRINUSE');
    expect(await bindErr(s1.udp.createSocket({ type: 'udp6', ipv6Only: true }), 5001)).toBe('ok');
    expect(await bindErr(s1.udp.createSocket('udp6'), 5002, 'fd07::2')).toBe('ok');
    expect(await bindErr(s1.udp.createSocket('udp4'), 5002)).toBe('ok'); // no IPv4 overlap
    expect(await bindErr(s1.udp.createSocket('udp6'), 5003, 'fd07::9')).toBe('EADDRNOTAVAIL');
  });

  it("family errors as Node on Linux: EINVAL across families, ENETUNREACH for a mapped peer on ipv6Only, ::1 by default", async () => {
    const [s1] = await pair();
    const u4 = s1.udp.createSocket('udp4');
    const u6 = s1.udp.createSocket('udp6');
    const only = s1.udp.createSocket({ type: 'udp6', ipv6Only: true });
    expect(await errorOf((cb) => u4.send('z', 9, 'fd07::1', cb))).toEqual({ code: 'EINVAL', message: 'send EINVAL fd07::1:9' });
    expect(await errorOf((cb) => u6.send('z', 9, '10.7.0.1', cb))).toEqual({ code: 'EINVAL', message: 'send EINVAL 10.7.0.1:9' });
    expect(await errorOf((cb) => only.send('z', 9, '::ffff:10.7.0.1', cb))).toEqual({ code: 'ENETUNREACH', message: 'send ENETUNREACH ::ffff:10.7.0.1:9' });
    expect(await errorOf((cb) => u6.send('z', 9, '::ffff:10.7.0.1', cb))).toBeNull();
    expect(await errorOf((cb) => u6.send(Buffer.alloc(65528), 9, 'fd07::1', cb))).toMatchObject({ code: 'EMSGSIZE' });
    expect(await errorOf((cb) => s1.udp.createSocket('udp4').connect(9, '::1', cb as () => void))).toEqual({ code: 'EINVAL', message: 'connect EINVAL ::1:9' });
    expect(await errorOf((cb) => s1.udp.createSocket('udp6').connect(9, '10.7.0.1', cb as () => void))).toEqual({ code: 'EINVAL', message: 'connect EINVAL 10.7.0.1:9' });
    const b6 = s1.udp.createSocket('udp4');
    expect(await bound(b6, 0, 'fd07::2').then(() => null, (e: Error & { code: string }) => ({ code: e.code, message: e.message }))).toEqual({ code: 'EINVAL', message: 'bind EINVAL fd07::2' });
    expect(() => s1.udp.createSocket('udp5' as 'udp4')).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_TYPE', message: 'Bad socket type specified. Valid types are: udp4, udp6' }));
    for (const s of [u4, u6, only]) s.close();
  });

  // What node 20 does on Linux, measured in a network namespace (a veth end holding
  // fe80::5/64 nodad; and one with net.ipv6.conf.all.disable_ipv6 = 1).
  it('zone ids as Node: bind and connect to a link-local address need the interface as zone (EINVAL); send does not; reported with it', async () => {
    const { a, b } = createLinkPair({ mtu: 1500 });
    const s1 = await createStack({ link: a, address: ['10.7.0.2', 'fe80::2'] });
    const s2 = await createStack({ link: b, address: ['10.7.0.1', 'fe80::1'] });
    open.push(s1, s2);
    const zone = s1.linkInfo().name;
    const bindErr = (s: UdpSocket, address: string): Promise<string> =>
      bound(s, 0, address).then(() => 'ok', (e: Error) => e.message);
    expect(await bindErr(s1.udp.createSocket('udp6'), 'fe80::2')).toBe('bind EINVAL fe80::2');
    expect(await bindErr(s1.udp.createSocket('udp6'), 'fe80::2%nosuch')).toBe('bind EINVAL fe80::2%nosuch');
    const server = s1.udp.createSocket('udp6');
    await bound(server, 7, `fe80::2%${zone}`);
    expect(server.address()).toEqual({ address: `fe80::2%${zone}`, family: 'IPv6', port: 7 });
    server.on('message', (m, r) => server.send(m, r.port, r.address));
    // A global address ignores a zone (node: '::1%nosuch' binds as ::1).
    const g = s1.udp.createSocket('udp6');
    await bound(g, 0, '::1%nosuch');
    expect(g.address().address).toBe('::1');
    g.close();
    const c = s2.udp.createSocket('udp6');
    expect(await errorOf((cb) => c.connect(7, 'fe80::2', cb as () => void))).toEqual({ code: 'EINVAL', message: 'connect EINVAL fe80::2:7' });
    // send takes a link-local address without its zone (Linux routes it out of the one link).
    for (const to of ['fe80::2', 'fe80::2%nosuch', `fe80::2%${zone}`]) {
      const got = nextMessage(c);
      expect(await errorOf((cb) => c.send(to, 7, to, cb))).toBeNull();
      const [m, r] = await got;
      expect(m.toString()).toBe(to);
      expect(r).toEqual({ address: `fe80::2%${zone}`, family: 'IPv6', port: 7, size: to.length });
    }
    const cc = s2.udp.createSocket('udp6');
    await new Promise<void>((res) => cc.connect(7, `fe80::2%${zone}`, () => res()));
    expect(cc.remoteAddress()).toEqual({ address: `fe80::2%${zone}`, family: 'IPv6', port: 7 });
    expect(cc.address()).toMatchObject({ address: `fe80::1%${zone}`, family: 'IPv6' });
    for (const s of [server, c, cc]) s.close();
  });

  it('a udp6 socket on a stack without IPv6: binds `::`, IPv4-mapped peers work, IPv6 destinations are EADDRNOTAVAIL (Linux with IPv6 disabled)', async () => {
    const { a, b } = createLinkPair({ mtu: 1500 });
    const s1 = await createStack({ link: a, address: '10.7.0.2' });
    const s2 = await createStack({ link: b, address: '10.7.0.1' });
    open.push(s1, s2);
    const u = s1.udp.createSocket('udp6');
    await bound(u, 0);
    expect(u.address()).toMatchObject({ address: '::', family: 'IPv6' });
    expect(await errorOf((cb) => u.send('z', 9, 'fd07::1', cb))).toEqual({ code: 'EADDRNOTAVAIL', message: 'send EADDRNOTAVAIL fd07::1:9' });
    expect(await errorOf((cb) => u.send('z', 9, '::1', cb))).toEqual({ code: 'EADDRNOTAVAIL', message: 'send EADDRNOTAVAIL ::1:9' });
    const v4 = s2.udp.createSocket('udp4');
    await bound(v4, 9);
    const got = nextMessage(v4);
    expect(await errorOf((cb) => u.send('mapped', 9, '::ffff:10.7.0.1', cb))).toBeNull();
    const [m, r] = await got;
    expect([m.toString(), r.address, r.port]).toEqual(['mapped', '10.7.0.2', u.address().port]);
    u.close();
    v4.close();
  });

  // The ICMPv6 errors a connected udp6 socket hears (RFC 4443 §3.1), as 'error' events:
  // port unreachable (code 4) ECONNREFUSED as on Linux; address unreachable (3) is a soft
  // error, which Linux does not report on a UDP socket without IP_RECVERR (nor do we);
  // administratively prohibited (1) EHOSTUNREACH where Linux gives EACCES
  // (icmpv6_err_convert): a documented difference (README, @netstack/icmp layer6.ts).
  it('ICMPv6 destination unreachable on a connected udp6 socket: codes 4, 3 (soft: none) and 1', async () => {
    let last: Uint8Array | undefined;
    const { a, b } = createLinkPair({ mtu: 1500, filter: (packet, dir) => { if (dir === 'a->b' && packet[0]! >> 4 === 6 && packet[6] === 17) last = packet.slice(); return 'pass'; } });
    const s1 = await createStack({ link: a, address: ['10.7.0.2', 'fd07::2'] });
    const s2 = await createStack({ link: b, address: ['10.7.0.1', 'fd07::1'] });
    open.push(s1, s2);
    const { icmp6Bytes, IPPROTO_ICMPV6 } = await import('@netstack/icmp');
    const { parseIpv6Address } = await import('@netstack/ip');
    const A6 = parseIpv6Address('fd07::2')!;
    const B6 = parseIpv6Address('fd07::1')!;
    // A socket on the peer's port 9, so that the peer's own stack answers nothing: only the hand-made errors arrive.
    const sink = s2.udp.createSocket('udp6');
    await bound(sink, 9);
    const seen: string[] = [];
    for (const codes of [[4], [3, 4], [1]]) {
      const c = s1.udp.createSocket('udp6');
      await new Promise<void>((res) => c.connect(9, 'fd07::1', () => res()));
      last = undefined;
      c.send('x');
      for (let i = 0; i < 50 && last === undefined; i++) await new Promise((r) => setImmediate(r));
      const errors: string[] = [];
      c.on('error', (e: NodeJS.ErrnoException) => errors.push(`${e.code} ${e.syscall} ${e.message}`));
      for (const code of codes) {
        const before = s1.stats()['icmp6']!['Icmp6InDestUnreachs']!;
        s2.ip6!.send(A6, IPPROTO_ICMPV6, icmp6Bytes({ kind: 'destinationUnreachable', code, quoted: last! }, B6, A6));
        while (s1.stats()['icmp6']!['Icmp6InDestUnreachs'] === before) await new Promise((r) => setImmediate(r));
        await new Promise((r) => process.nextTick(r));
      }
      while (errors.length === 0) await new Promise((r) => setImmediate(r));
      seen.push(`${codes.join('+')}: ${errors.join(', ')}`);
      c.close();
    }
    expect(seen).toEqual([
      '4: ECONNREFUSED recvmsg recvmsg ECONNREFUSED fd07::1:9',
      '3+4: ECONNREFUSED recvmsg recvmsg ECONNREFUSED fd07::1:9',
      '1: EHOSTUNREACH recvmsg recvmsg EHOSTUNREACH fd07::1:9',
    ]);
    sink.close();
  });
});
