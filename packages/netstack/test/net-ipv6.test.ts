/**
 * node:net over IPv6 on a dual-stack stack (issue 11): connect to IPv6 literals, addresses
 * and families as Node reports them (RFC 5952 text), a listener with no host hearing both
 * families as Node's `::` (IPv4 peers IPv4-mapped), `ipv6Only`, `0.0.0.0` IPv4 only, and
 * Node's errors. Two dual-stack hosts (fd00::1, fd00::2) on the link pair, virtual time.
 * Node's own behaviour, checked on loopback with the real node:net: `listen(0)` reports
 * `{ address: '::', family: 'IPv6' }`, an IPv4 client of it is accepted as
 * `::ffff:127.0.0.1` (family 'IPv6'), an `ipv6Only` one is refused (ECONNREFUSED).
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { A_ADDR, A_ADDR6, B_ADDR, B_ADDR6, collect, createPair, randomBytes, type Pair } from './harness-net.js';
import type { Socket } from '../src/net/index.js';

let pair: Pair | undefined;
afterEach(() => { pair?.close(); pair = undefined; });

function dual(): Pair {
  pair = createPair({ virtual: true, ipv6: true });
  return pair;
}

/** The error a socket closes with. */
async function failure(s: Socket): Promise<NodeJS.ErrnoException> {
  const [err] = await once(s, 'error') as [NodeJS.ErrnoException];
  return err;
}

describe('node:net over IPv6', () => {
  it('echoes 256 KiB exactly to an IPv6 literal; addresses and families are IPv6, RFC 5952 text', async () => {
    const { a, b } = dual();
    let accepted: Socket | undefined;
    const server = b.api.createServer((sock) => { accepted = sock; sock.pipe(sock); });
    server.listen({ port: 7, host: 'fd00:0:0::2' });
    await once(server, 'listening');
    expect(server.address()).toEqual({ address: B_ADDR6, family: 'IPv6', port: 7 });
    const data = randomBytes(256 * 1024, 6);
    const client = a.api.connect({ host: 'FD00:0000::2', port: 7 });
    const echoed = collect(client);
    await once(client, 'connect');
    expect([client.remoteAddress, client.remoteFamily, client.remotePort]).toEqual([B_ADDR6, 'IPv6', 7]);
    expect([client.localAddress, client.localFamily]).toEqual([A_ADDR6, 'IPv6']);
    expect(client.address()).toEqual({ address: A_ADDR6, family: 'IPv6', port: client.localPort });
    client.end(data);
    const got = await echoed;
    expect(got.equals(data)).toBe(true);
    expect([accepted?.remoteAddress, accepted?.remoteFamily, accepted?.remotePort]).toEqual([A_ADDR6, 'IPv6', client.localPort]);
    expect([accepted?.localAddress, accepted?.localFamily, accepted?.localPort]).toEqual([B_ADDR6, 'IPv6', 7]);
    await once(server.close(), 'close');
  });

  it('connect(port, host) with an IPv6 literal', async () => {
    const { a, b } = dual();
    const server = b.api.createServer((sock) => { sock.end('hi'); });
    server.listen(9);
    await once(server, 'listening');
    const client = a.api.connect(9, B_ADDR6);
    const got = await collect(client);
    expect(got.toString()).toBe('hi');
    expect(client.remoteFamily).toBe('IPv6');
    await once(server.close(), 'close');
  });

  it('listen() with no host hears both families at once as `::`; IPv4 peers are IPv4-mapped', async () => {
    const { a, b } = dual();
    const peers: [string | undefined, string | undefined, string | undefined, string | undefined][] = [];
    const server = b.api.createServer((sock) => {
      peers.push([sock.remoteAddress, sock.remoteFamily, sock.localAddress, sock.localFamily]);
      sock.pipe(sock);
    });
    server.listen(0);
    await once(server, 'listening');
    const addr = server.address()!;
    expect({ address: addr.address, family: addr.family }).toEqual({ address: '::', family: 'IPv6' });
    const c4 = a.api.connect(addr.port, B_ADDR);
    const c6 = a.api.connect(addr.port, B_ADDR6);
    const e4 = collect(c4);
    const e6 = collect(c6);
    c4.end('four');
    c6.end('six');
    expect((await e4).toString()).toBe('four');
    expect((await e6).toString()).toBe('six');
    // The client's own view is its own socket's family: plain IPv4 for an IPv4 literal.
    expect([c4.remoteAddress, c4.remoteFamily, c4.localAddress]).toEqual([B_ADDR, 'IPv4', A_ADDR]);
    expect(peers).toContainEqual([`::ffff:${A_ADDR}`, 'IPv6', `::ffff:${B_ADDR}`, 'IPv6']);
    expect(peers).toContainEqual([A_ADDR6, 'IPv6', B_ADDR6, 'IPv6']);
    expect(peers).toHaveLength(2);
    await once(server.close(), 'close');
  });

  it('ipv6Only refuses IPv4 (ECONNREFUSED) and leaves 0.0.0.0 free on the same port', async () => {
    const { a, b } = dual();
    const server = b.api.createServer((sock) => { sock.end('6'); });
    server.listen({ port: 80, host: '::', ipv6Only: true });
    await once(server, 'listening');
    expect(server.address()).toEqual({ address: '::', family: 'IPv6', port: 80 });
    const c4 = a.api.connect(80, B_ADDR);
    const err = await failure(c4);
    expect([err.code, err.syscall]).toEqual(['ECONNREFUSED', 'connect']);
    expect((await collect(a.api.connect(80, B_ADDR6))).toString()).toBe('6');
    // An IPv4 wildcard beside it, as Linux allows with IPV6_V6ONLY: it takes the IPv4 peers.
    const s4 = b.api.createServer((sock) => { sock.end('4'); });
    s4.listen({ port: 80, host: '0.0.0.0' });
    await once(s4, 'listening');
    expect(s4.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 80 });
    expect((await collect(a.api.connect(80, B_ADDR))).toString()).toBe('4');
    await once(server.close(), 'close');
    await once(s4.close(), 'close');
  });

  it('listen 0.0.0.0 hears IPv4 only; a dual `::` on its port is EADDRINUSE', async () => {
    const { a, b } = dual();
    const server = b.api.createServer((sock) => { sock.end('4'); });
    server.listen({ port: 81, host: '0.0.0.0' });
    await once(server, 'listening');
    const c6 = a.api.connect(81, B_ADDR6);
    expect((await failure(c6)).code).toBe('ECONNREFUSED');
    expect((await collect(a.api.connect(81, B_ADDR))).toString()).toBe('4');
    const s6 = b.api.createServer();
    s6.listen(81);
    const err = await failure(s6 as unknown as Socket);
    expect([err.code, err.syscall, (err as { address?: string }).address]).toEqual(['EADDRINUSE', 'listen', '::']);
    await once(server.close(), 'close');
  });

  it("Node's errors: a foreign IPv6 listen address, a bad IPv6 localAddress, IPv6 on an IPv4-only stack", async () => {
    const { a, b } = dual();
    const s = b.api.createServer();
    s.listen({ port: 82, host: '2001:db8::1' });
    const err = await failure(s as unknown as Socket);
    expect([err.code, err.syscall, (err as { address?: string }).address]).toEqual(['EADDRNOTAVAIL', 'listen', '2001:db8::1']);
    expect(() => a.api.connect({ port: 82, host: B_ADDR6, localAddress: 'fd00::zz' })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_IP_ADDRESS' }));
    // A local address the stack does not hold.
    const c = a.api.connect({ port: 82, host: B_ADDR6, localAddress: 'fd00::9' });
    const e2 = await failure(c);
    expect([e2.code, e2.syscall]).toEqual(['EADDRNOTAVAIL', 'bind']);
    pair!.close();
    // An IPv4-only stack: as before, `listen()` is 0.0.0.0 IPv4; IPv6 is what Linux says on a
    // host with IPv6 disabled (net.ipv6.conf.all.disable_ipv6 = 1; node 20, measured).
    pair = createPair({ virtual: true });
    const s4 = pair.b.api.createServer();
    s4.listen(83);
    await once(s4, 'listening');
    expect(s4.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 83 });
    const c6 = pair.a.api.connect(83, 'fd00::2');
    const e6 = await failure(c6);
    expect([e6.code, e6.syscall, e6.message]).toEqual(['EADDRNOTAVAIL', 'connect', 'connect EADDRNOTAVAIL fd00::2:83 - Local (:::0)']);
    const s6 = pair.b.api.createServer();
    s6.listen(83, '::1');
    const e7 = await failure(s6 as unknown as Socket);
    expect([e7.code, e7.message]).toEqual(['EADDRNOTAVAIL', 'listen EADDRNOTAVAIL: address not available ::1:83']);
    await once(s4.close(), 'close');
  });

  // Each expectation below is what node 20 gives on Linux, measured in a network namespace
  // (lo, and a veth end holding fe80::5/64 nodad): messages included.
  it("Node's errors for IPv6 as measured: no route, family mismatch of localAddress, mapped with ipv6Only, a local address and port named", async () => {
    const { a, b } = dual();
    // No route (the harness gives no IPv6 gateway): ENETUNREACH at once, the socket's own address named.
    const c1 = a.api.connect(9, '2001:db8::1');
    const e1 = await failure(c1);
    expect([e1.code, e1.syscall, e1.message, (e1 as { address?: string }).address, (e1 as { port?: number }).port])
      .toEqual(['ENETUNREACH', 'connect', 'connect ENETUNREACH 2001:db8::1:9 - Local (:::0)', '2001:db8::1', 9]);
    // The same for IPv4: node names the AF_INET socket's own address.
    const e0 = await failure(a.api.connect(80, '10.9.9.9'));
    expect([e0.code, e0.message]).toEqual(['ENETUNREACH', 'connect ENETUNREACH 10.9.9.9:80 - Local (0.0.0.0:0)']);
    // bind(2) of the other family: EINVAL, syscall bind, the local address named as given.
    const e2 = await failure(a.api.connect({ host: B_ADDR, port: 9, localAddress: A_ADDR6 }));
    expect([e2.code, e2.message]).toEqual(['EINVAL', `bind EINVAL ${A_ADDR6}`]);
    const e3 = await failure(a.api.connect({ host: B_ADDR6, port: 9, localAddress: A_ADDR }));
    expect([e3.code, e3.message]).toEqual(['EINVAL', `bind EINVAL ${A_ADDR}`]);
    const e4 = await failure(a.api.connect({ host: B_ADDR6, port: 9, localAddress: '2001:db8::5' }));
    expect([e4.code, e4.message]).toEqual(['EADDRNOTAVAIL', 'bind EADDRNOTAVAIL 2001:db8::5']);
    // A mapped address with ipv6Only: EINVAL; without, the server is an AF_INET6 one on the IPv4 address.
    const s1 = b.api.createServer();
    s1.listen({ port: 0, host: `::ffff:${B_ADDR}`, ipv6Only: true });
    const e5 = await failure(s1 as unknown as Socket);
    expect([e5.code, e5.message]).toEqual(['EINVAL', `listen EINVAL: invalid argument ::ffff:${B_ADDR}`]);
    const s2 = b.api.createServer((c) => c.end());
    s2.listen({ port: 0, host: `::ffff:${B_ADDR}` });
    await once(s2, 'listening');
    expect(s2.address()).toEqual({ address: `::ffff:${B_ADDR}`, family: 'IPv6', port: s2.address()!.port });
    // A refused connect with localAddress and localPort given names them ("- Local (la:lp)").
    const c6 = a.api.connect({ host: B_ADDR6, port: 10, localAddress: A_ADDR6, localPort: 40002 });
    const e6 = await failure(c6);
    expect([e6.code, e6.message]).toEqual(['ECONNREFUSED', `connect ECONNREFUSED ${B_ADDR6}:10 - Local (${A_ADDR6}:40002)`]);
    expect([(e6 as { localAddress?: string }).localAddress, (e6 as { localPort?: number }).localPort]).toEqual([A_ADDR6, 40002]);
    await once(s2.close(), 'close');
  });

  it('::1 is the stack\'s own IPv6 loopback: listen on it, connect to it, family IPv6', async () => {
    const { a } = dual();
    const server = a.api.createServer((sock) => { sock.end(`${sock.remoteAddress} ${sock.localAddress}`); });
    server.listen(0, '::1');
    await once(server, 'listening');
    expect(server.address()).toEqual({ address: '::1', family: 'IPv6', port: server.address()!.port });
    const c = a.api.connect(server.address()!.port, '::1');
    expect((await collect(c)).toString()).toBe('::1 ::1');
    expect([c.remoteAddress, c.remoteFamily, c.localAddress]).toEqual(['::1', 'IPv6', '::1']);
    await once(server.close(), 'close');
  });

  it('zone ids as Node: a link-local address needs the interface as its zone (EINVAL without); reported with it', async () => {
    pair = createPair({ virtual: true, ipv6: true });
    pair.close();
    // Link-local addresses on both stacks: fe80::1 and fe80::2 on the link pair's one interface, 'memory'.
    const { createLinkPair } = await import('@netstack/tun');
    const { Stack } = await import('../src/stack.js');
    const { a: la, b: lb } = createLinkPair({ mtu: 1500 });
    const sa = new Stack({ link: la, address: ['10.0.0.1', 'fe80::1'] });
    const sb = new Stack({ link: lb, address: ['10.0.0.2', 'fe80::2'] });
    try {
      const zone = sb.linkInfo().name;
      expect(zone).toBe('memory');
      // listen: without a zone, or with another interface's name, EINVAL as given; with it, reported with it.
      for (const host of ['fe80::2', 'fe80::2%lo']) {
        const s = sb.tcp.createServer();
        s.listen(0, host);
        const e = await failure(s as unknown as Socket);
        expect([e.code, e.message]).toEqual(['EINVAL', `listen EINVAL: invalid argument ${host}`]);
      }
      let accepted: Socket | undefined;
      const server = sb.tcp.createServer((sock) => { accepted = sock; sock.end('ll'); });
      server.listen(0, `FE80::2%${zone}`);
      await once(server, 'listening');
      const port = server.address()!.port;
      expect(server.address()).toEqual({ address: `fe80::2%${zone}`, family: 'IPv6', port });
      // connect: without the zone EINVAL at once (the socket's own address named), an unknown zone too.
      for (const host of ['fe80::2', 'fe80::2%nosuch']) {
        const e = await failure(sa.tcp.connect(port, host));
        expect([e.code, e.message]).toEqual(['EINVAL', `connect EINVAL ${host}:${port} - Local (:::0)`]);
      }
      const c = sa.tcp.connect(port, `fe80::2%${zone}`);
      expect((await collect(c)).toString()).toBe('ll');
      expect([c.remoteAddress, c.localAddress, c.remoteFamily]).toEqual([`fe80::2%${zone}`, `fe80::1%${zone}`, 'IPv6']);
      expect([accepted?.remoteAddress, accepted?.localAddress]).toEqual([`fe80::1%${zone}`, `fe80::2%${zone}`]);
      // A global address ignores a zone (node: '::1%nosuch' binds as ::1).
      const g = sa.tcp.createServer();
      g.listen(0, '::1%nosuch');
      await once(g, 'listening');
      expect(g.address()!.address).toBe('::1');
      await once(g.close(), 'close');
      await once(server.close(), 'close');
    } finally {
      await sa.close();
      await sb.close();
    }
  });
});
