/**
 * The stack's addresses (issue 11, "Addresses"): several IPv4 addresses
 * (`address: ['10.7.0.2', '10.7.0.3', 'fd07::2']`), a gateway and on-link prefix per family
 * (`gateway`/`prefixLength`, `gateway6`/`prefixLength6`), and IPv6-only stacks. Two stacks
 * on an in-memory link pair; the peer dials, pings and sends to each address.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { createStack, createLinkPair, checkAccounting, type Stack } from '@netstack/netstack';
import type { AddressInfo } from 'node:net';

const open: Stack[] = [];
afterEach(async () => { await Promise.all(open.splice(0).map((s) => s.close())); });

async function pair(a: string | string[], b: string | string[], more: { a?: object; b?: object } = {}): Promise<[Stack, Stack]> {
  const { a: la, b: lb } = createLinkPair({ mtu: 1500 });
  const s1 = await createStack({ link: la, address: a, ...more.a });
  open.push(s1);
  const s2 = await createStack({ link: lb, address: b, ...more.b });
  open.push(s2);
  return [s1, s2];
}

/** Sockets the stack still holds when the test closes it end with ECONNABORTED (not what these tests are about). */
const ignore = (): void => {};

type Bad = { code?: string; option?: string; message: string };
const failure = (p: Promise<unknown>): Promise<Bad> => p.then(() => { throw new Error('resolved'); }, (e: unknown) => e as Bad);

describe('several IPv4 addresses', () => {
  it('lists them; ping reaches each (the reply from the address pinged); the counters prove it', async () => {
    const [s1, s2] = await pair(['10.7.0.2', '10.7.0.3', 'fd07::2'], ['10.7.0.1', 'fd07::1']);
    expect(s1.address).toBe('10.7.0.2');
    expect(s1.addresses4).toEqual(['10.7.0.2', '10.7.0.3']);
    expect(s1.addresses6).toEqual(['fd07::2']);
    expect(s1.ip.addresses).toHaveLength(2);
    // The ping client takes a reply only from the address it pinged (icmp ping.ts).
    for (const host of ['10.7.0.2', '10.7.0.3', '10.7.0.2']) expect((await s2.ping(host)).bytes).toBe(64);
    await expect(s2.ping('10.7.0.4', { timeout: 50 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    const st = s1.stats();
    expect(st['icmp']).toMatchObject({ InEchos: 3, OutEchoReps: 3 });
    expect(st['ip']!['dropped.InNotForUs']).toBe(1);
    // And from the stack with several: towards the link, the primary (both are in 10.7.0.0/24).
    expect((await s1.ping('10.7.0.1')).bytes).toBe(64);
    for (const s of [s1, s2]) expect(checkAccounting(s.stats(), { reassemblyFragments: 0 }).violations).toEqual([]);
  });

  it('a listener on ANY accepts on each; the accepted socket\'s localAddress is the one dialled', async () => {
    const [s1, s2] = await pair(['10.7.0.2', '10.7.0.3', 'fd07::2'], ['10.7.0.1', 'fd07::1']);
    const locals: string[] = [];
    const server = s1.tcp.createServer((sock) => { sock.on('error', ignore); locals.push(`${sock.localAddress}:${sock.remoteAddress}`); sock.end(sock.localAddress); });
    server.listen({ port: 7, host: '0.0.0.0' });
    await once(server, 'listening');
    for (const host of ['10.7.0.3', '10.7.0.2', '10.7.0.3']) {
      const c = s2.tcp.connect({ host, port: 7 });
      const chunks: Buffer[] = [];
      c.on('data', (d: Buffer) => chunks.push(d));
      await once(c, 'end');
      expect(Buffer.concat(chunks).toString()).toBe(host);
      expect(c.remoteAddress).toBe(host);
      c.destroy();
    }
    expect(locals).toEqual(['10.7.0.3:10.7.0.1', '10.7.0.2:10.7.0.1', '10.7.0.3:10.7.0.1']);
    server.close();
  });

  it('TCP bound to one address: a listener on 10.7.0.3 only, and a client bound to 10.7.0.3', async () => {
    const [s1, s2] = await pair(['10.7.0.2', '10.7.0.3'], '10.7.0.1');
    const server = s1.tcp.createServer((sock) => sock.on('error', ignore).end('ok'));
    server.listen({ port: 9, host: '10.7.0.3' });
    await once(server, 'listening');
    expect((server.address() as AddressInfo).address).toBe('10.7.0.3');
    const refused = s2.tcp.connect({ host: '10.7.0.2', port: 9 });
    await expect(once(refused, 'error')).resolves.toMatchObject([{ code: 'ECONNREFUSED' }]);
    const c = s2.tcp.connect({ host: '10.7.0.3', port: 9 });
    c.resume();
    await once(c, 'end');
    c.destroy();
    server.close();
    // The other way: a client on s1 bound to the secondary; the peer sees it as the source.
    let peer = '';
    const remote = s2.tcp.createServer((sock) => { sock.on('error', ignore); peer = sock.remoteAddress ?? ''; sock.end(); });
    remote.listen(80);
    await once(remote, 'listening');
    const bound = s1.tcp.connect({ host: '10.7.0.1', port: 80, localAddress: '10.7.0.3' });
    bound.resume();
    await once(bound, 'connect');
    expect(bound.localAddress).toBe('10.7.0.3');
    await once(bound, 'end');
    expect(peer).toBe('10.7.0.3');
    bound.destroy();
    // A local address that is not ours: EADDRNOTAVAIL as before.
    const wrong = s1.tcp.connect({ host: '10.7.0.1', port: 80, localAddress: '10.7.0.4' });
    await expect(once(wrong, 'error')).resolves.toMatchObject([{ code: 'EADDRNOTAVAIL' }]);
    remote.close();
  });

  it('UDP bound to the secondary sends from it and receives on it', async () => {
    const [s1, s2] = await pair(['10.7.0.2', '10.7.0.3'], '10.7.0.1');
    const a = s1.udp.createSocket('udp4');
    a.bind(5000, '10.7.0.3');
    await once(a, 'listening');
    const b = s2.udp.createSocket('udp4');
    b.bind(6000);
    await once(b, 'listening');
    a.send('hello', 6000, '10.7.0.1');
    const [msg, rinfo] = await once(b, 'message') as [Buffer, { address: string; port: number }];
    expect([msg.toString(), rinfo.address, rinfo.port]).toEqual(['hello', '10.7.0.3', 5000]);
    b.send('back', 5000, '10.7.0.3');
    const [m2, r2] = await once(a, 'message') as [Buffer, { address: string }];
    expect([m2.toString(), r2.address]).toEqual(['back', '10.7.0.1']);
    // To the primary's port 5000 nobody listens: port unreachable, counted.
    b.send('nobody', 5000, '10.7.0.2');
    for (let i = 0; i < 200 && (s1.stats()['udp']!['NoPorts'] ?? 0) < 1; i++) await new Promise((r) => setImmediate(r));
    expect(s1.stats()['udp']!['NoPorts']).toBe(1);
    a.close();
    b.close();
  });

  it('option errors, Node style', async () => {
    const { a } = createLinkPair({ mtu: 1500 });
    for (const address of [[], ['10.7.0.2', '10.7.0.2'], ['10.7.0.2', '127.0.0.1'], ['10.7.0.2', '0.0.0.0'], ['fd07::2', 'fd07::2'], [42]]) {
      const e = await failure(createStack({ link: a, address: address as string[] }));
      expect(e.option, JSON.stringify(address)).toBe('address');
      expect(e.code).toMatch(/^ERR_INVALID_ARG_(VALUE|TYPE)$/);
    }
    // The gateway must be on-link of one of the addresses (either subnet will do).
    expect(await failure(createStack({ link: a, address: ['10.7.0.2', '10.8.0.2'], gateway: '10.9.0.1' }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', option: 'gateway' });
    expect(await failure(createStack({ link: a, address: ['10.7.0.2', '10.8.0.2'], gateway: '10.8.0.2' }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', option: 'gateway' });
    expect(await failure(createStack({ link: a, address: '10.7.0.2', prefixLength: 33 }))).toMatchObject({ code: 'ERR_OUT_OF_RANGE', option: 'prefixLength' });
    const ok = await createStack({ link: a, address: ['10.7.0.2', '10.8.0.2'], gateway: '10.8.0.1' });
    open.push(ok);
    expect(ok.ip.gateway).toBe(0x0a080001);
  });
});

describe('gateway and prefix per family', () => {
  it('gateway6 / prefixLength6: off-link IPv6 goes to the gateway; without one ENETUNREACH, as IPv4', async () => {
    const [s1, s2] = await pair(['10.7.0.2', 'fd07::2'], ['10.7.0.1', 'fd07::1'], { a: { gateway6: 'fd07::1', prefixLength6: 112 } });
    expect(s1.ip6!.prefixLength).toBe(112);
    // fd07::1:1 is outside fd07::/112: it goes to the gateway fd07::1 (s2), which is not it:
    // s2 drops it as not for it. The ping times out rather than failing at once.
    await expect(s1.ping('fd07::1:1', { timeout: 50 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(s2.stats()['ip6']!['Ip6InAddrErrors']).toBe(1);
    expect((await s1.ping('fd07::1')).bytes).toBe(64);
    // s2 has no gateway6: off-link IPv6 is unreachable, as off-link IPv4 without a gateway.
    await expect(s2.ping('fd08::1')).rejects.toMatchObject({ code: 'ENETUNREACH' });
    await expect(s2.ping('10.9.0.1')).rejects.toMatchObject({ code: 'ENETUNREACH' });
    const u = s2.udp.createSocket('udp6');
    const [err] = await new Promise<[Error | null]>((resolve) => u.send('x', 9, 'fd08::1', (e) => resolve([e])));
    expect(err).toMatchObject({ code: 'ENETUNREACH' });
    u.close();
    const c = s2.tcp.connect({ host: 'fd08::1', port: 80 });
    await expect(once(c, 'error')).resolves.toMatchObject([{ code: 'ENETUNREACH' }]);
  });

  it('checks gateway6 and prefixLength6 with Node-style errors', async () => {
    const { a } = createLinkPair({ mtu: 1500 });
    const cases: [object, string, string][] = [
      [{ prefixLength6: 129 }, 'ERR_OUT_OF_RANGE', 'prefixLength6'],
      [{ prefixLength6: 1.5 }, 'ERR_OUT_OF_RANGE', 'prefixLength6'],
      [{ gateway6: 'nope' }, 'ERR_INVALID_ARG_VALUE', 'gateway6'],
      [{ gateway6: '10.7.0.1' }, 'ERR_INVALID_ARG_VALUE', 'gateway6'],
      [{ gateway6: 'ff02::1' }, 'ERR_INVALID_ARG_VALUE', 'gateway6'],
      [{ gateway6: 'fd08::1' }, 'ERR_INVALID_ARG_VALUE', 'gateway6'], // not in fd07::/64
      [{ gateway6: 'fd07::2' }, 'ERR_INVALID_ARG_VALUE', 'gateway6'], // our own
      [{ gateway6: 'fd07::1:0:0:1', prefixLength6: 96 }, 'ERR_INVALID_ARG_VALUE', 'gateway6'],
      [{ gateway: '10.7.0.1', address: ['fd07::2'] }, 'ERR_INVALID_ARG_VALUE', 'gateway'],
      [{ prefixLength6: '64' }, 'ERR_INVALID_ARG_TYPE', 'prefixLength6'],
      [{ gateway6: 1 }, 'ERR_INVALID_ARG_TYPE', 'gateway6'],
      [{ gateway: 0x0a070001 }, 'ERR_INVALID_ARG_TYPE', 'gateway'],
      [{ gateway6: 'fd07::1', address: ['10.7.0.2'] }, 'ERR_INVALID_ARG_VALUE', 'gateway6'],
    ];
    for (const [over, code, option] of cases) {
      const e = await failure(createStack({ link: a, address: ['10.7.0.2', 'fd07::2'], ...over }));
      expect(e, JSON.stringify(over)).toMatchObject({ code, option });
    }
    // A link-local gateway is on-link whatever the prefix (RFC 4861 §5.2).
    const ll = await createStack({ link: a, address: ['10.7.0.2', 'fd07::2'], gateway6: 'fe80::1', prefixLength6: 128 });
    open.push(ll);
    expect(ll.ip6!.gateway).toBeDefined();
  });
});

describe('IPv6-only stacks', () => {
  it("'fd07::2' serves IPv6 only: ping, TCP and UDP over IPv6; IPv4 ENETUNREACH, 127.0.0.1 still works", async () => {
    const [s1, s2] = await pair('fd07::2', ['10.7.0.1', 'fd07::1']);
    expect(s1.address).toBe('fd07::2');
    expect(s1.addresses4).toEqual([]);
    expect(s1.addresses6).toEqual(['fd07::2']);
    expect(s1.ip.addresses).toEqual([]);
    expect((await s2.ping('fd07::2')).bytes).toBe(64);
    expect((await s1.ping('fd07::1')).bytes).toBe(64);
    // IPv4 from the stack: no route (Linux on a host without an IPv4 address says the same).
    await expect(s1.ping('10.7.0.1')).rejects.toMatchObject({ code: 'ENETUNREACH' });
    const u4 = s1.udp.createSocket('udp4');
    const [e4] = await new Promise<[Error | null]>((resolve) => u4.send('x', 9, '10.7.0.1', (e) => resolve([e])));
    expect(e4).toMatchObject({ code: 'ENETUNREACH' });
    u4.close();
    const c4 = s1.tcp.connect({ host: '10.7.0.1', port: 80 });
    await expect(once(c4, 'error')).resolves.toMatchObject([{ code: 'ENETUNREACH' }]);
    // IPv4 to it from the link: dropped and counted, never answered.
    await expect(s2.ping('10.7.0.2', { timeout: 50 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    // Out: the ping and the UDP send above, both refused for want of a route.
    expect(s1.stats()['ip']).toMatchObject({ InReceives: 1, InAddrErrors: 1, 'dropped.InNotForUs': 1, OutRequests: 2, OutNoRoutes: 2, OutLoopback: 0 });
    // TCP and UDP over IPv6 to a listener with no host.
    const server = s1.tcp.createServer((sock) => sock.on('error', ignore).end(`${sock.localAddress} ${sock.remoteFamily}`));
    server.listen(7);
    await once(server, 'listening');
    const c = s2.tcp.connect({ host: 'fd07::2', port: 7 });
    const chunks: Buffer[] = [];
    c.on('data', (d: Buffer) => chunks.push(d));
    await once(c, 'end');
    expect(Buffer.concat(chunks).toString()).toBe('fd07::2 IPv6');
    c.destroy();
    server.close();
    const u = s1.udp.createSocket('udp6');
    u.bind(7);
    await once(u, 'listening');
    u.on('message', (m: Buffer, r: { port: number; address: string }) => u.send(m, r.port, r.address));
    const v = s2.udp.createSocket('udp6');
    v.send('ping6', 7, 'fd07::2');
    const [m] = await once(v, 'message') as [Buffer];
    expect(m.toString()).toBe('ping6');
    u.close();
    v.close();
    // Loopback IPv4 stays, as lo's 127.0.0.1 on an IPv6-only Linux host.
    expect((await s1.ping('127.0.0.1')).bytes).toBe(64);
    for (const s of [s1, s2]) expect(checkAccounting(s.stats(), { reassemblyFragments: 0 }).violations).toEqual([]);
  });

  it("['fd07::2', 'fd07::3'] and gateway6 on a link; prefixLength is range-checked but there is nothing to apply it to", async () => {
    const [s1] = await pair(['fd07::2', 'fd07::3'], ['fd07::1'], { a: { gateway6: 'fd07::1' } });
    expect(s1.addresses6).toEqual(['fd07::2', 'fd07::3']);
    expect(s1.address).toBe('fd07::2');
    expect(s1.ip6!.gateway).toBeDefined();
    const { a } = createLinkPair({ mtu: 1500 });
    expect(await failure(createStack({ link: a, address: 'fd07::2', prefixLength: 40 }))).toMatchObject({ code: 'ERR_OUT_OF_RANGE', option: 'prefixLength' });
  });

  it('a tun for an IPv6-only stack needs an IPv6 kernel side; a stack with IPv4 an IPv4 one (checked before anything opens)', async () => {
    expect(await failure(createStack({ address: 'fd07::2', tun: { kernelAddress: '10.7.0.1/24' } }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', option: 'tun.kernelAddress' });
    expect(await failure(createStack({ address: ['10.7.0.2', 'fd07::2'], tun: { kernelAddress: ['fd07::1/64'] } }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', option: 'tun.kernelAddress' });
    expect(await failure(createStack({ address: 'fd08::2', tun: {} }))).toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', option: 'address' }); // default fd07::1/64
  });
});
