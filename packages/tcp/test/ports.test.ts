import { describe, expect, it } from 'vitest';
import { parseIpv6Address } from '@netstack/ip';
import { TcpLayer } from '../src/index.js';
import { FakeIp, LOCAL, REMOTE } from './harness.js';

const layer = (k = 5): TcpLayer => new TcpLayer(new FakeIp(), { isnKey: new Uint8Array(16).fill(k) });
const N = 65536 - 49152;

describe('ephemeral ports (RFC 6056 Algorithm 4, keyed by isnKey)', () => {
  it('connect: deterministic for a key, distinct per connection, never a listened port', () => {
    const a = layer();
    const ports = [0, 1, 2, 3].map((i) => a.connect({ remoteAddress: REMOTE, remotePort: 80 + i }, 0, {}).localPort);
    const b = layer();
    expect([0, 1, 2, 3].map((i) => b.connect({ remoteAddress: REMOTE, remotePort: 80 + i }, 0, {}).localPort)).toEqual(ports);
    // Same remote: the next port differs from every one in use.
    const c = layer();
    const same = new Set<number>();
    for (let i = 0; i < 50; i++) same.add(c.connect({ remoteAddress: REMOTE, remotePort: 80 }, 0, {}).localPort);
    expect(same.size).toBe(50);
    // A port with a listener is skipped: listen on the one connect would pick first.
    const d = layer();
    d.listen({ port: ports[0]! });
    expect(d.connect({ remoteAddress: REMOTE, remotePort: 80 }, 0, {}).localPort).not.toBe(ports[0]);
  });

  it('listen(0): the core picks a free ephemeral port; exhaustion is EADDRINUSE', () => {
    const t = layer();
    const l = t.listen({ port: 0 });
    expect(l.port).toBeGreaterThanOrEqual(49152);
    expect(l.port).toBeLessThanOrEqual(65535);
    const seen = new Set<number>([l.port]);
    for (let i = 1; i < N; i++) seen.add(t.listen({ port: 0 }).port);
    expect(seen.size).toBe(N); // every ephemeral port, each once
    expect(() => t.listen({ port: 0 })).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    // A listener on another address (not 0.0.0.0) also clashes with a wildcard listen(0).
    const u = layer();
    const p = u.listen({ port: 0, address: LOCAL }).port;
    expect(u.listen({ port: 0 }).port).not.toBe(p);
  });

  it('connect with every ephemeral port listened on fails with EADDRNOTAVAIL', () => {
    const t = layer();
    for (let i = 0; i < N; i++) t.listen({ port: 0 });
    expect(() => t.connect({ remoteAddress: REMOTE, remotePort: 80 }, 0, {})).toThrow(expect.objectContaining({ code: 'EADDRNOTAVAIL' }));
  });

  it('listen on ANY: both families clash; a family-limited ANY (0.0.0.0 / :: with V6ONLY) clashes with its own family only', () => {
    const A6 = parseIpv6Address('fd00::2')!;
    const inUse = (t: TcpLayer, o: Parameters<TcpLayer['listen']>[0]): boolean => {
      try { t.listen(o); return false; } catch (e) { return (e as { code?: string }).code === 'EADDRINUSE'; }
    };
    // A dual ANY holds the port for both families.
    const d = layer();
    d.listen({ port: 80 });
    expect([inUse(d, { port: 80, family: 'IPv4' }), inUse(d, { port: 80, family: 'IPv6' }), inUse(d, { port: 80, address: A6 })]).toEqual([true, true, true]);
    // IPv6-only ANY beside IPv4-only ANY: both fit; a third of either family, a dual ANY, or an address of either does not.
    const t = layer();
    t.listen({ port: 80, family: 'IPv6' });
    expect(inUse(t, { port: 80, family: 'IPv4' })).toBe(false);
    expect([inUse(t, { port: 80, family: 'IPv6' }), inUse(t, { port: 80, family: 'IPv4' }), inUse(t, { port: 80 }), inUse(t, { port: 80, address: A6 }), inUse(t, { port: 80, address: LOCAL })])
      .toEqual([true, true, true, true, true]);
    // An IPv4-only ANY leaves an IPv6 address free, and the reverse.
    const u = layer();
    u.listen({ port: 81, family: 'IPv4' });
    expect([inUse(u, { port: 81, address: A6 }), inUse(u, { port: 81, address: LOCAL })]).toEqual([false, true]);
    // `family` only limits ANY: with an address it is ignored.
    expect(u.listen({ port: 82, address: A6, family: 'IPv4' }).family).toBeUndefined();
  });
});
