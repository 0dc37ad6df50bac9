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
    // An IPv4-only stack: as before, `listen()` is 0.0.0.0 IPv4 and IPv6 is unreachable.
    pair = createPair({ virtual: true });
    const s4 = pair.b.api.createServer();
    s4.listen(83);
    await once(s4, 'listening');
    expect(s4.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 83 });
    const c6 = pair.a.api.connect(83, 'fd00::2');
    expect((await failure(c6)).code).toBe('ENETUNREACH');
    await once(s4.close(), 'close');
  });
});
