/**
 * Names in `connect()`, as node:net treats them (lib/net.js lookupAndConnect): the custom
 * `lookup` is called with exactly the arguments node's own net.connect passes (checked
 * against node itself), 'lookup' events, lookup errors, autoSelectFamily over several
 * addresses, and node:http / undici fetching http://web.internal/ through the stack's
 * resolver. Virtual time, two stacks on a link pair (dns-harness.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import dns from 'node:dns';
import http from 'node:http';
import net from 'node:net';
import { Client } from 'undici';
import { A_ADDR, B_ADDR, DnsSim, answer } from './dns-harness.js';
import { CLASS_IN, TYPE_A, TYPE_AAAA } from '../src/dns/wire.js';
import type { LookupFunction } from '../src/net/index.js';

let sim: DnsSim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** B serves HTTP on :80 and echoes its peer's address. */
function serveHttp(s: DnsSim): http.Server {
  const web = http.createServer((req, res) => res.end(`hello ${req.url} from ${req.socket.remoteAddress}`));
  s.b.tcp.createServer((c) => web.emit('connection', c)).listen(80);
  return web;
}

describe('connect({ host: name }) as node:net', () => {
  it("calls a custom lookup with node's own arguments, for every option combination", async () => {
    sim = await DnsSim.create();
    const variants: Record<string, unknown>[] = [
      {}, { family: 4 }, { family: 6 }, { family: 'IPv4' }, { family: 'IPv6' }, { hints: dns.V4MAPPED }, { family: 0, hints: dns.ALL },
      { autoSelectFamily: false }, { localAddress: A_ADDR }, { host: '' },
    ];
    for (const v of variants) {
      const seen: { node?: unknown[]; ours?: unknown[] } = {};
      const rec = (k: 'node' | 'ours'): LookupFunction => (...args) => { seen[k] = [args[0], { ...args[1] }]; };
      const n = net.connect({ host: 'web.internal', port: 80, ...v, lookup: rec('node') } as net.NetConnectOpts);
      n.destroy();
      const o = sim.a.tcp.connect({ host: 'web.internal', port: 80, ...v, lookup: rec('ours') } as never);
      o.destroy();
      expect(seen.ours, JSON.stringify(v)).toEqual(seen.node);
      expect(seen.node, JSON.stringify(v)).toBeDefined();
    }
  });

  it("emits 'lookup' (err, address, family, host) and connects to what the lookup gave", async () => {
    sim = await DnsSim.create();
    const s = sim;
    s.b.tcp.createServer((c) => c.end()).listen(80);
    const events: unknown[][] = [];
    const lookup: LookupFunction = (_host, opts, cb) => {
      expect(opts.all).toBe(true);
      setImmediate(() => cb(null, [{ address: B_ADDR, family: 4 }]));
    };
    const c = s.a.tcp.connect({ host: 'web.internal', port: 80, lookup });
    c.on('lookup', (...a) => events.push(['lookup', ...a]));
    c.on('connect', () => events.push(['connect', c.remoteAddress, c.remotePort]));
    expect(c.connecting).toBe(true);
    await s.run(() => events.length >= 2);
    expect(events).toEqual([['lookup', null, B_ADDR, 4, 'web.internal'], ['connect', B_ADDR, 80]]);
    c.destroy();

    const single: unknown[][] = [];
    const c2 = s.a.tcp.connect({ host: 'web.internal', port: 80, family: 4, lookup: (_h, o, cb) => { expect(o.all).toBeUndefined(); setImmediate(() => cb(null, B_ADDR, 4)); } });
    c2.on('lookup', (...a) => single.push(a));
    c2.on('connect', () => single.push(['connect']));
    await s.run(() => single.length >= 2);
    expect(single).toEqual([[null, B_ADDR, 4, 'web.internal'], ['connect']]);
    c2.destroy();

    // An IP literal skips the lookup (node: isIP(host) -> connect on the next tick).
    let called = 0;
    const c3 = s.a.tcp.connect({ host: B_ADDR, port: 80, lookup: () => { called++; } });
    const lit: unknown[] = [];
    c3.on('lookup', () => lit.push('lookup'));
    c3.on('connect', () => lit.push('connect'));
    await s.run(() => lit.length >= 1);
    expect([called, lit]).toEqual([0, ['connect']]);
    c3.destroy();
  });

  it("a lookup error is the socket's error, after a 'lookup' event carrying it; bad answers are node's errors", async () => {
    sim = await DnsSim.create();
    const s = sim;
    const boom = Object.assign(new Error('getaddrinfo ENOTFOUND web.internal'), { code: 'ENOTFOUND' });
    const got: unknown[] = [];
    const c = s.a.tcp.connect({ host: 'web.internal', port: 80, lookup: (_h, _o, cb) => setImmediate(() => cb(boom, [])) });
    c.on('lookup', (...a) => got.push(a));
    c.on('error', (e) => got.push(e));
    await s.run(() => got.length >= 2);
    expect(got).toEqual([[boom, undefined, undefined, 'web.internal'], boom]);

    const codes: unknown[] = [];
    for (const [answerArgs, auto] of [[['not-an-ip', 4], false], [[B_ADDR, 5], false], [[[{ address: 'x', family: 4 }]], true]] as const) {
      const c3 = s.a.tcp.connect({ host: 'web.internal', port: 80, autoSelectFamily: auto, lookup: (_h, _o, cb) => (cb as (...a: unknown[]) => void)(null, ...answerArgs) });
      c3.on('error', (e: NodeJS.ErrnoException) => codes.push(e.code));
    }
    await s.run(() => codes.length === 3);
    expect(codes).toEqual(['ERR_INVALID_IP_ADDRESS', 'ERR_INVALID_ADDRESS_FAMILY', 'ERR_INVALID_IP_ADDRESS']);
    expect(() => s.a.tcp.connect({ host: 'web.internal', port: 80, lookup: 5 as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });

  it('resolves through the stack by default; a name that does not exist fails with ENOTFOUND', async () => {
    sim = await DnsSim.create();
    const s = sim;
    s.handler = (q) => (q.questions[0]!.name === 'web.internal' ? answer(q, [{ address: B_ADDR }]) : { ...answer(q, []), rcode: 3 });
    s.b.tcp.createServer((c) => c.end()).listen(80);
    const out: unknown[] = [];
    const c = s.a.tcp.connect({ host: 'web.internal', port: 80 });
    c.on('lookup', (...a) => out.push(a));
    c.on('connect', () => out.push(['connect', c.remoteAddress]));
    const bad = s.a.tcp.connect(80, 'nowhere.internal');
    bad.on('error', (e: NodeJS.ErrnoException) => out.push([e.code, e.syscall, (e as { hostname?: string }).hostname]));
    await s.run(() => out.length >= 3);
    expect(out).toContainEqual([null, B_ADDR, 4, 'web.internal']);
    expect(out).toContainEqual(['connect', B_ADDR]);
    expect(out).toContainEqual(['ENOTFOUND', 'getaddrinfo', 'nowhere.internal']);
    c.destroy();
  });

  it("a missing host is 'localhost', 127.0.0.1 without a query: the stack's own server over loopback", async () => {
    sim = await DnsSim.create();
    const s = sim;
    s.a.tcp.createServer((c) => c.end(`hi ${c.remoteAddress}`)).listen(7);
    const got: string[] = [];
    for (const c of [s.a.tcp.connect({ port: 7 }), s.a.tcp.connect(7, 'LocalHost')]) {
      let text = '';
      c.setEncoding('utf8');
      c.on('data', (d: string) => { text += d; });
      c.on('end', () => got.push(`${c.remoteAddress} ${text}`));
    }
    await s.run(() => got.length === 2);
    expect(got).toEqual(['127.0.0.1 hi 127.0.0.1', '127.0.0.1 hi 127.0.0.1']);
    expect(s.seen.length).toBe(0);
  });

  it("autoSelectFamily over the stack's own resolver on a dual stack: A and AAAA both tried (a silent IPv4 address, then IPv6)", async () => {
    sim = await DnsSim.create({ address: [A_ADDR, 'fd00::1'] }, { address: [B_ADDR, 'fd00::2'] });
    const s = sim;
    const types: number[] = [];
    s.handler = (q) => {
      const qq = q.questions[0]!;
      types.push(qq.type);
      if (qq.type === TYPE_A) return answer(q, [{ address: '10.0.0.3' }]); // nobody there: silence
      return { ...q, qr: true, ra: true, rcode: 0, authorities: [], additionals: [],
        answers: [{ name: qq.name, type: TYPE_AAAA, class: CLASS_IN, ttl: 300, data: { kind: 'AAAA', address: 'fd00:0:0:0:0:0:0:2' } }] };
    };
    let peer: string | undefined;
    s.b.tcp.createServer((c) => { peer = c.remoteAddress; c.end(); }).listen(80);
    const ev: unknown[][] = [];
    const c = s.a.tcp.connect({ host: 'web.internal', port: 80 });
    for (const name of ['connectionAttempt', 'connectionAttemptTimeout']) c.on(name, (...a) => ev.push([name, ...a]));
    c.on('connect', () => ev.push(['connect', c.remoteAddress, c.remoteFamily]));
    await s.run(() => ev.some((e) => e[0] === 'connect') && peer !== undefined);
    expect(types.sort()).toEqual([TYPE_A, TYPE_AAAA]);
    expect(ev).toEqual([
      ['connectionAttempt', '10.0.0.3', 80, 4],
      ['connectionAttemptTimeout', '10.0.0.3', 80, 4],
      ['connectionAttempt', 'fd00::2', 80, 6],
      ['connect', 'fd00::2', 'IPv6'],
    ]);
    expect(peer).toBe('fd00::1');
    c.destroy();
  });

  it('autoSelectFamily tries every address in turn: IPv6 unreachable at once, a silent one after the attempt timeout', async () => {
    sim = await DnsSim.create();
    const s = sim;
    s.b.tcp.createServer((c) => c.end()).listen(80);
    const ev: unknown[][] = [];
    const addrs = [{ address: '::1', family: 6 }, { address: '10.0.0.3', family: 4 }, { address: B_ADDR, family: 4 }];
    const c = s.a.tcp.connect({ host: 'web.internal', port: 80, lookup: (_h, _o, cb) => setImmediate(() => cb(null, addrs)) });
    for (const name of ['connectionAttempt', 'connectionAttemptTimeout']) c.on(name, (...a) => ev.push([name, s.clock.now(), ...a]));
    c.on('connectionAttemptFailed', (ip, port, fam, e: NodeJS.ErrnoException) => ev.push(['connectionAttemptFailed', s.clock.now(), ip, port, fam, e.code]));
    c.on('connect', () => ev.push(['connect', s.clock.now(), c.remoteAddress]));
    await s.run(() => ev.some((e) => e[0] === 'connect'));
    expect(ev).toEqual([
      // IPv6 first (the first answer's family), then alternating: ::1, 10.0.0.3, 10.0.0.2.
      ['connectionAttempt', 0, '::1', 80, 6],
      // An IPv4-only stack is a host with IPv6 disabled: Linux says EADDRNOTAVAIL (node 20, measured).
      ['connectionAttemptFailed', 0, '::1', 80, 6, 'EADDRNOTAVAIL'],
      ['connectionAttempt', 0, '10.0.0.3', 80, 4],
      ['connectionAttemptTimeout', 250, '10.0.0.3', 80, 4],
      ['connectionAttempt', 250, B_ADDR, 80, 4],
      ['connect', 250, B_ADDR],
    ]);
    expect(c.autoSelectFamilyAttemptedAddresses).toEqual(['::1:80', '10.0.0.3:80', `${B_ADDR}:80`]);
    c.destroy();

    // Every address fails: node's AggregateError, its code the first error's.
    const c2 = s.a.tcp.connect({ host: 'web.internal', port: 81, lookup: (_h, _o, cb) => setImmediate(() => cb(null, [{ address: '::2', family: 6 }, { address: B_ADDR, family: 4 }])) });
    let err: (AggregateError & { code?: string }) | undefined;
    c2.on('error', (e) => { err = e as AggregateError & { code?: string }; });
    await s.run(() => err !== undefined);
    expect(err).toBeInstanceOf(AggregateError);
    expect(err!.code).toBe('EADDRNOTAVAIL');
    expect(err!.errors.map((e: NodeJS.ErrnoException & { address?: string; port?: number }) => [e.code, e.address, e.port])).toEqual([['EADDRNOTAVAIL', '::2', 81], ['ECONNREFUSED', B_ADDR, 81]]);
  });

  it("node:http's createConnection and undici fetch http://web.internal/ through the stack's resolver", async () => {
    sim = await DnsSim.create();
    const s = sim;
    s.handler = (q) => answer(q, [{ address: B_ADDR }]);
    serveHttp(s);
    let body = '';
    let done = false;
    http.get('http://web.internal/x', { createConnection: ((opts: net.NetConnectOpts) => s.a.tcp.connect(opts as never)) as never }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => { done = true; });
    });
    await s.run(() => done);
    expect(body).toBe(`hello /x from ${A_ADDR}`);

    const client = new Client('http://web.internal', {
      connect: (opts, cb) => {
        const sock = s.a.tcp.connect({ host: opts.hostname, port: Number(opts.port) || 80 });
        sock.once('connect', () => cb(null, sock as unknown as net.Socket));
        sock.once('error', (e) => cb(e, null));
        return sock as unknown as net.Socket;
      },
    });
    let text: string | undefined;
    void client.request({ method: 'GET', path: '/u' }).then((r) => r.body.text()).then((t) => { text = t; });
    await s.run(() => text !== undefined);
    expect(text).toBe(`hello /u from ${A_ADDR}`);
    void client.destroy();
    expect(s.seen.length).toBe(1); // the second name lookup came from the cache
    expect(s.a.stats().dns!['CacheHits']).toBe(1);
  });
});
