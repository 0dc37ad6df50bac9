/**
 * The stub resolver through the stack's own UDP and TCP, on virtual time, against a fake
 * DNS server on a second stack (dns-harness.ts): exact retry times, truncation and TCP,
 * TTLs, the cache bound, and every kind of bad answer dropped and counted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { LookupAddress } from 'node:dns';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CLASS_IN, TYPE_A, TYPE_AAAA, emitDnsMessage, parseDnsMessage, type DnsMessage } from '../src/dns/wire.js';
import { DnsResolver, type UdpHandlers } from '../src/dns/resolver.js';
import { B_ADDR, DnsSim, answer, capture, soa } from './dns-harness.js';
import { createLinkPair } from '@netstack/tun';
import { createStack } from '../src/index.js';

setFlagsFromString('--expose-gc');

let sim: DnsSim | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

/** A lookup callback's arguments (one address unless `all`). */
type LookupArgs = [NodeJS.ErrnoException | null, (string | LookupAddress[])?, number?];
type ResolveArgs = [NodeJS.ErrnoException | null, unknown?];

describe('stub resolver over the stack', () => {
  it('answers a lookup; every query has a fresh random ID and source port (RFC 5452)', async () => {
    sim = await DnsSim.create();
    const s = sim;
    s.handler = (q) => answer(q, [{ address: '10.0.0.9' }]);
    const r = capture<LookupArgs>(s, (cb) => s.a.dns.lookup('web.internal', cb));
    expect(r.done).toBe(false); // never from inside the call
    await s.run(() => r.done);
    expect(r.args).toEqual([null, '10.0.0.9', 4]);
    expect(r.at).toBe(0);
    const all = capture<[unknown, unknown]>(s, (cb) => s.a.dns.lookup('web.internal', { all: true }, cb));
    await s.run(() => all.done);
    expect(all.args).toEqual([null, [{ address: '10.0.0.9', family: 4 }]]);
    expect(s.seen.length).toBe(1); // the second came from the cache

    const names = Array.from({ length: 40 }, (_, i) => `h${i}.internal`);
    const rs = names.map((n) => capture<LookupArgs>(s, (cb) => s.a.dns.lookup(n, cb)));
    await s.run(() => rs.every((x) => x.done));
    expect(rs.every((x) => x.args![1] === '10.0.0.9')).toBe(true);
    const queries = s.seen.slice(1);
    expect(queries.length).toBe(40);
    expect(new Set(queries.map((q) => q.srcPort)).size).toBeGreaterThan(35);
    expect(new Set(queries.map((q) => q.id)).size).toBeGreaterThan(35);
    expect(queries.every((q) => q.srcPort >= 49152 && q.srcPort <= 65535)).toBe(true);
    const st = s.a.stats();
    expect(st.dns!['Queries']).toBe(41);
    expect(st.dns!['OutUdp']).toBe(41);
    expect(st.udp!['OutDatagrams']).toBe(41); // carried by the stack's own UDP
    expect(st.dns!['QueriesInFlight']).toBe(0);
    expect(s.a.dns.getServers()).toEqual([B_ADDR, `${B_ADDR}:5353`]);
  });

  it('retries on exact virtual times: timeout doubled per round over the servers; then ETIMEOUT / EAI_AGAIN', async () => {
    sim = await DnsSim.create({ dnsOptions: { timeout: 1000, tries: 3 } });
    const s = sim;
    s.handler = () => undefined; // a silent server
    const r = capture<ResolveArgs>(s, (cb) => s.a.dns.resolve4('web.internal', cb));
    const l = capture<LookupArgs>(s, (cb) => s.a.dns.lookup('other.internal', cb));
    await s.run(() => r.done && l.done);
    const times = (name: string): [number, number][] => s.seen.filter((q) => q.name === name).map((q) => [q.at, q.port]);
    // Round 0: 1 s each server; round 1: 2 s; round 2: 4 s. 2 servers x 3 rounds = 6 attempts, 14 s in all.
    expect(times('web.internal')).toEqual([[0, 53], [1000, 5353], [2000, 53], [4000, 5353], [6000, 53], [10000, 5353]]);
    expect(r.at).toBe(14000);
    const err = r.args![0]!;
    expect([err.code, err.syscall, (err as { hostname?: string }).hostname, err.message]).toEqual(['ETIMEOUT', 'queryA', 'web.internal', 'queryA ETIMEOUT web.internal']);
    expect(l.at).toBe(14000);
    const lerr = l.args![0]!;
    expect([lerr.code, lerr.errno, lerr.syscall, (lerr as { hostname?: string }).hostname]).toEqual(['EAI_AGAIN', -3001, 'getaddrinfo', 'other.internal']);
    expect((lerr.cause as { code?: string }).code).toBe('ETIMEOUT');
    const st = s.a.dns.stats();
    expect([st.Timeouts, st.Retransmits, st.Failures]).toEqual([12, 10, 2]);
    expect(s.a.stats().dns!['QueriesInFlight']).toBe(0);
  });

  it('a lost query is asked again and answered; just before the timeout nothing is resent', async () => {
    sim = await DnsSim.create({ dnsOptions: { timeout: 500, tries: 2 } });
    const s = sim;
    s.handler = (q, seen) => (seen.at === 0 ? undefined : answer(q, [{ address: '10.0.0.7' }]));
    const r = capture<LookupArgs>(s, (cb) => s.a.dns.lookup('web.internal', cb));
    await s.advance(499);
    expect(s.seen.length).toBe(1);
    await s.run(() => r.done);
    expect(r.at).toBe(500);
    expect(r.args).toEqual([null, '10.0.0.7', 4]);
    expect(s.seen.map((q) => q.port)).toEqual([53, 5353]);
  });

  it('a truncated answer is asked again over TCP to the same server (RFC 7766), whole', async () => {
    sim = await DnsSim.create();
    const s = sim;
    const many = Array.from({ length: 100 }, (_, i) => ({ address: `10.1.${i >> 8}.${i & 255}`, ttl: 60 }));
    s.handler = (q, seen) => (seen.transport === 'udp' ? { ...answer(q, many.slice(0, 5)), tc: true } : answer(q, many));
    expect(emitDnsMessage(answer({ id: 1, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, rcode: 0, questions: [{ name: 'big.internal', type: TYPE_A, class: CLASS_IN }], answers: [], authorities: [], additionals: [] }, many), { compress: true }).length).toBeGreaterThan(512);
    const r = capture<ResolveArgs>(s, (cb) => s.a.dns.resolve4('big.internal', { ttl: true }, cb));
    await s.run(() => r.done);
    expect(r.args![0]).toBe(null);
    expect(r.args![1]).toEqual(many);
    expect(s.seen.map((q) => [q.transport, q.port])).toEqual([['udp', 53], ['tcp', 53]]);
    const st = s.a.dns.stats();
    expect([st.TcpFallbacks, st.OutTcp]).toEqual([1, 1]);
    expect(s.a.stats().tcp!['ActiveOpens']).toBe(1);
  });

  it('honours TTLs: served from the cache until the smallest TTL expires, then asked again', async () => {
    sim = await DnsSim.create();
    const s = sim;
    s.handler = (q) => answer(q, [{ address: '10.0.0.5', ttl: 30 }, { address: '10.0.0.6', ttl: 40 }]);
    const r1 = capture<ResolveArgs>(s, (cb) => s.a.dns.resolve4('web.internal', { ttl: true }, cb));
    await s.run(() => r1.done);
    expect(r1.args![1]).toEqual([{ address: '10.0.0.5', ttl: 30 }, { address: '10.0.0.6', ttl: 40 }]);
    await s.advance(10_000);
    const r2 = capture<ResolveArgs>(s, (cb) => s.a.dns.resolve4('web.internal', { ttl: true }, cb));
    await s.run(() => r2.done);
    expect(r2.args![1]).toEqual([{ address: '10.0.0.5', ttl: 20 }, { address: '10.0.0.6', ttl: 30 }]);
    await s.advance(19_999);
    const r3 = capture<ResolveArgs>(s, (cb) => s.a.dns.resolve4('web.internal', cb));
    await s.run(() => r3.done);
    expect(r3.args![1]).toEqual(['10.0.0.5', '10.0.0.6']);
    expect(s.seen.length).toBe(1);
    await s.advance(1);
    const r4 = capture<ResolveArgs>(s, (cb) => s.a.dns.resolve4('web.internal', cb));
    await s.run(() => r4.done);
    expect(s.seen.length).toBe(2);
    expect(s.seen[1]!.at).toBe(30_000);
  });

  it('NXDOMAIN is ENOTFOUND, cached for the SOA negative TTL (RFC 2308); NODATA is ENODATA', async () => {
    sim = await DnsSim.create();
    const s = sim;
    s.handler = (q) => (q.questions[0]!.name === 'none.internal'
      ? { ...answer(q, []), rcode: 3, authorities: [soa('internal', 600, 5)] }
      : { ...answer(q, []), authorities: [] });
    const l = capture<LookupArgs>(s, (cb) => s.a.dns.lookup('none.internal', cb));
    await s.run(() => l.done);
    const e = l.args![0]!;
    expect([e.code, e.errno, e.syscall, (e as { hostname?: string }).hostname, e.message]).toEqual(['ENOTFOUND', -3008, 'getaddrinfo', 'none.internal', 'getaddrinfo ENOTFOUND none.internal']);
    await s.advance(4999);
    const l2 = capture<LookupArgs>(s, (cb) => s.a.dns.lookup('none.internal', cb));
    await s.run(() => l2.done);
    expect(l2.args![0]!.code).toBe('ENOTFOUND');
    expect(s.seen.length).toBe(1); // from the negative cache
    await s.advance(1);
    const l3 = capture<LookupArgs>(s, (cb) => s.a.dns.lookup('none.internal', cb));
    await s.run(() => l3.done);
    expect(s.seen.length).toBe(2);
    const r = capture<ResolveArgs>(s, (cb) => s.a.dns.resolve4('nodata.internal', cb));
    await s.run(() => r.done);
    expect(r.args![0]!.code).toBe('ENODATA');
    expect(s.a.dns.stats().CacheNegativeHits).toBe(1);
  });

  it('SERVFAIL and REFUSED move to the next server at once; ICMP port unreachable is ECONNREFUSED', async () => {
    sim = await DnsSim.create({ dnsOptions: { timeout: 1000, tries: 2 } });
    const s = sim;
    s.handler = (q, seen) => (seen.port === 53 ? { ...answer(q, []), rcode: 2 } : answer(q, [{ address: '10.0.0.8' }]));
    const r = capture<LookupArgs>(s, (cb) => s.a.dns.lookup('web.internal', cb));
    await s.run(() => r.done);
    expect([r.at, r.args![1]]).toEqual([0, '10.0.0.8']);
    s.handler = (q) => ({ ...answer(q, []), rcode: 5 });
    const r2 = capture<ResolveArgs>(s, (cb) => s.a.dns.resolve4('refused.internal', cb));
    await s.run(() => r2.done);
    expect([r2.at, r2.args![0]!.code]).toEqual([0, 'EREFUSED']);
    expect(s.seen.filter((q) => q.name === 'refused.internal').length).toBe(4);
    // Nobody on :53 any more, and :5353 silent: ICMP port unreachable ends the :53 attempts at once.
    s.closeUdp53();
    s.handler = () => undefined;
    const r3 = capture<ResolveArgs>(s, (cb) => s.a.dns.resolve4('gone.internal', cb));
    await s.run(() => r3.done);
    // :53 refused at 0, :5353 times out at 1000, :53 refused at 1000, :5353 times out at 3000.
    expect([r3.at, r3.args![0]!.code]).toEqual([3000, 'ETIMEOUT']);
    expect(s.b.stats().udp!['NoPorts']).toBe(2);
  });

  it('drops and counts answers with a wrong ID, question or source, malformed ones and pointer loops; the right one still wins', async () => {
    sim = await DnsSim.create();
    const s = sim;
    s.handler = (q) => {
      const good = answer(q, [{ address: '10.0.0.4' }]);
      const wrongId: DnsMessage = { ...answer(q, [{ address: '6.6.6.6' }]), id: q.id ^ 1 };
      const wrongQ: DnsMessage = { ...answer(q, [{ name: 'evil.internal', address: '6.6.6.6' }]), questions: [{ name: 'evil.internal', type: TYPE_A, class: CLASS_IN }] };
      const head = emitDnsMessage(good).subarray(0, 12);
      const loop = Uint8Array.from([...head.subarray(0, 4), 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1]);
      return [wrongId, wrongQ, Uint8Array.from([1, 2, 3]), loop, good];
    };
    const r = capture<LookupArgs>(s, (cb) => s.a.dns.lookup('web.internal', cb));
    await s.run(() => r.done);
    expect(r.args).toEqual([null, '10.0.0.4', 4]);
    const st = s.a.dns.stats();
    expect([st.InIdMismatch, st.InQuestionMismatch, st.InMalformed, st.InResponses]).toEqual([1, 1, 2, 1]);
    // From another port of the server's host: the connected endpoint never sees it (the stack answers port unreachable).
    const before = s.a.stats().udp!['NoPorts']!;
    s.handler = () => undefined;
    const r2 = capture<LookupArgs>(s, (cb) => s.a.dns.lookup('late.internal', cb));
    await s.settle();
    const q = s.seen.at(-1)!;
    const spoof = s.b.udp.createSocket('udp4');
    spoof.bind(1053);
    spoof.send(emitDnsMessage(answer({ id: q.id, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, rcode: 0, questions: [{ name: 'late.internal', type: TYPE_A, class: CLASS_IN }], answers: [], authorities: [], additionals: [] }, [{ address: '6.6.6.6' }])), q.srcPort, '10.0.0.1');
    await s.settle();
    expect(r2.done).toBe(false);
    expect(s.a.stats().udp!['NoPorts']).toBe(before + 1);
    spoof.close();
  });

  it('the cache holds its bounds in entries and in bytes, least recently used out first', async () => {
    sim = await DnsSim.create({ dnsOptions: { maxCacheEntries: 3 } });
    const s = sim;
    s.handler = (q) => answer(q, [{ address: '10.0.0.3' }]);
    const ask = async (n: string): Promise<void> => {
      const r = capture<LookupArgs>(s, (cb) => s.a.dns.lookup(n, cb));
      await s.run(() => r.done);
    };
    for (const n of ['a.x', 'b.x', 'c.x']) await ask(n);
    await ask('a.x'); // a is now the most recently used
    await ask('d.x'); // evicts b
    await ask('e.x'); // evicts c
    expect(s.a.dns.stats()).toMatchObject({ CacheEntries: 3, CacheEvictions: 2 });
    const count = s.seen.length;
    await ask('a.x');
    expect(s.seen.length).toBe(count);
    await ask('b.x');
    expect(s.seen.length).toBe(count + 1);

    await s.close();
    sim = await DnsSim.create({ dnsOptions: { maxCacheBytes: 1000 } });
    const s2 = sim;
    s2.handler = (q) => answer(q, [{ address: '10.0.0.3' }, { address: '10.0.0.4' }]);
    for (let i = 0; i < 20; i++) {
      const r = capture<LookupArgs>(s2, (cb) => s2.a.dns.lookup(`host-${i}.example.internal`, cb));
      await s2.run(() => r.done);
    }
    const st = s2.a.dns.stats();
    expect(st.CacheBytes).toBeLessThanOrEqual(1000);
    expect(st.CacheEntries).toBeGreaterThan(0);
    expect(st.CacheEntries + st.CacheEvictions).toBe(20);
  });

  it('many askers of one name share one query; a closed stack fails pending lookups', async () => {
    sim = await DnsSim.create();
    const s = sim;
    s.handler = () => undefined;
    const rs = Array.from({ length: 10 }, () => capture<LookupArgs>(s, (cb) => s.a.dns.lookup('web.internal', cb)));
    await s.settle();
    expect(s.seen.length).toBe(1);
    await s.a.close();
    await s.run(() => rs.every((r) => r.done), 1);
    expect(rs.map((r) => r.args![0]!.code)).toEqual(Array(10).fill('EAI_CANCELED'));
  });

  it('family 6 asks for AAAA records (RFC 3596) when the stack serves IPv6; never on an IPv4-only stack', async () => {
    sim = await DnsSim.create({ address: ['10.0.0.1', 'fd00::1'] });
    const s = sim;
    s.handler = (q) => {
      const qq = q.questions[0]!;
      if (qq.type === TYPE_A) return answer(q, [{ address: '10.0.0.9' }]);
      return { ...q, qr: true, ra: true, rcode: 0, authorities: [], additionals: [],
        answers: [{ name: qq.name, type: TYPE_AAAA, class: CLASS_IN, ttl: 300, data: { kind: 'AAAA', address: 'fd00:0:0:0:0:0:0:9' } }] };
    };
    const six = capture<LookupArgs>(s, (cb) => s.a.dns.lookup('web.internal', { family: 6 }, cb));
    const four = capture<LookupArgs>(s, (cb) => s.a.dns.lookup('web.internal', cb));
    await s.run(() => six.done && four.done);
    expect(six.args).toEqual([null, 'fd00::9', 6]);
    expect(four.args).toEqual([null, '10.0.0.9', 4]);
    expect(s.seen.map((q) => q.type).sort()).toEqual([TYPE_A, TYPE_AAAA]);
    await expect(s.a.dns.promises.lookup('web.internal', { family: 6, all: true })).resolves.toEqual([{ address: 'fd00::9', family: 6 }]);
    expect(s.seen.length).toBe(2); // the cache keeps A and AAAA apart
    // A name without AAAA records: NODATA, as getaddrinfo's ENOTFOUND (the cause names the AAAA query).
    s.handler = (q) => ({ ...q, qr: true, ra: true, rcode: 0, answers: [], authorities: [], additionals: [] });
    const none = capture<LookupArgs>(s, (cb) => s.a.dns.lookup('v4only.internal', { family: 6 }, cb));
    await s.run(() => none.done);
    expect([none.args![0]!.code, (none.args![0]!.cause as { syscall?: string }).syscall]).toEqual(['ENOTFOUND', 'queryAaaa']);
    await s.close();
    // IPv4 only: no AAAA query goes out (getaddrinfo with AI_ADDRCONFIG).
    sim = await DnsSim.create();
    const s4 = sim;
    s4.handler = (q) => answer(q, [{ address: '10.0.0.9' }]);
    const r = capture<LookupArgs>(s4, (cb) => s4.a.dns.lookup('web.internal', { family: 6 }, cb));
    await s4.run(() => r.done);
    expect(r.args![0]!.code).toBe('ENOTFOUND');
    expect(s4.seen).toEqual([]);
  });

  it('family 0 on a dual stack asks A and AAAA at once: IPv4 first (ipv6first on request), one family missing is not an error', async () => {
    sim = await DnsSim.create({ address: ['10.0.0.1', 'fd00::1'] });
    const s = sim;
    const aaaa = (q: DnsMessage, address: string): DnsMessage => ({ ...q, qr: true, ra: true, rcode: 0, authorities: [], additionals: [],
      answers: [{ name: q.questions[0]!.name, type: TYPE_AAAA, class: CLASS_IN, ttl: 300, data: { kind: 'AAAA', address } }] });
    const empty = (q: DnsMessage): DnsMessage => ({ ...q, qr: true, ra: true, rcode: 0, answers: [], authorities: [], additionals: [] });
    s.handler = (q) => {
      const qq = q.questions[0]!;
      if (qq.name === 'v6only.internal') return qq.type === TYPE_A ? empty(q) : aaaa(q, 'fd00:0:0:0:0:0:0:6');
      if (qq.name === 'nothing.internal') return empty(q);
      return qq.type === TYPE_A ? answer(q, [{ address: '10.0.0.9' }]) : aaaa(q, 'fd00:0:0:0:0:0:0:9');
    };
    const all = capture<LookupArgs>(s, (cb) => s.a.dns.lookup('web.internal', { all: true }, cb));
    await s.run(() => all.done);
    expect(all.args).toEqual([null, [{ address: '10.0.0.9', family: 4 }, { address: 'fd00::9', family: 6 }]]);
    expect(s.seen.map((q) => q.type).sort()).toEqual([TYPE_A, TYPE_AAAA]);
    await expect(s.a.dns.promises.lookup('web.internal', { all: true, order: 'ipv6first' }))
      .resolves.toEqual([{ address: 'fd00::9', family: 6 }, { address: '10.0.0.9', family: 4 }]);
    const v6only = capture<LookupArgs>(s, (cb) => s.a.dns.lookup('v6only.internal', cb));
    const none = capture<LookupArgs>(s, (cb) => s.a.dns.lookup('nothing.internal', cb));
    await s.run(() => v6only.done && none.done);
    expect(v6only.args).toEqual([null, 'fd00::6', 6]);
    expect([none.args![0]!.code, (none.args![0]!.cause as { syscall?: string }).syscall]).toEqual(['ENOTFOUND', 'queryA']);
    await expect(s.a.dns.promises.lookup('localhost', { all: true }))
      .resolves.toEqual([{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }]);
    await expect(s.a.dns.promises.lookup('localhost', { family: 6 })).resolves.toEqual({ address: '::1', family: 6 });
  });

  it('without servers: literals and localhost only; names are ENOTFOUND', async () => {
    sim = await DnsSim.create({ dns: [] });
    const s = sim;
    const rs = [
      capture<LookupArgs>(s, (cb) => s.a.dns.lookup('localhost', cb)),
      capture<LookupArgs>(s, (cb) => s.a.dns.lookup('10.1.2.3', cb)),
      capture<LookupArgs>(s, (cb) => s.a.dns.lookup('web.internal', cb)),
      capture<LookupArgs>(s, (cb) => s.a.dns.lookup('web.internal', { family: 6 }, cb)),
    ];
    await s.run(() => rs.every((r) => r.done));
    expect(rs[0]!.args).toEqual([null, '127.0.0.1', 4]);
    expect(rs[1]!.args).toEqual([null, '10.1.2.3', 4]);
    expect(rs[2]!.args![0]!.code).toBe('ENOTFOUND');
    expect(rs[3]!.args![0]!.code).toBe('ENOTFOUND');
    await expect(s.a.dns.promises.lookup('localhost')).resolves.toEqual({ address: '127.0.0.1', family: 4 });
    await expect(s.a.dns.promises.resolve4('web.internal')).rejects.toMatchObject({ code: 'ECONNREFUSED', syscall: 'queryA' });
    expect(() => s.a.dns.lookup('x', { hints: 12345 }, () => {})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => s.a.dns.lookup('x', { family: 5 as 4 }, () => {})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => (s.a.dns.lookup as (h: string) => void)('x')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    // A bad `dns` option is refused before anything is opened.
    const pair = createLinkPair();
    // Like every createStack() error, it names its option (`err.option`, root README "The API").
    await expect(createStack({ link: pair.a, address: '10.0.0.5', dns: ['10.0.0.300'] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', option: 'dns' });
    await expect(createStack({ link: pair.a, address: '10.0.0.5', dns: '10.0.0.2' as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', option: 'dns' });
    for (const bad of ['fd00::1::53', 'fd00::zz', '[fd00::1]:0', '[fd00::1]:x', 'fd00::1]', '[fd00::1']) {
      await expect(createStack({ link: pair.a, address: '10.0.0.5', dns: [bad] }), bad).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', option: 'dns' });
    }
    // dnsOptions too: a NaN timeout made a query that never ended; tries 0 one that failed unasked.
    for (const [bad, code] of [
      [{ timeout: Number.NaN }, 'ERR_OUT_OF_RANGE'], [{ timeout: 0 }, 'ERR_OUT_OF_RANGE'], [{ timeout: '5' }, 'ERR_INVALID_ARG_TYPE'],
      [{ tries: 0 }, 'ERR_OUT_OF_RANGE'], [{ tries: 1.5 }, 'ERR_OUT_OF_RANGE'], [{ maxCacheEntries: -1 }, 'ERR_OUT_OF_RANGE'],
      [{ maxQueries: 0 }, 'ERR_OUT_OF_RANGE'], [{ maxTtl: Infinity }, 'ERR_OUT_OF_RANGE'], [{ portRange: [70000, 70001] }, 'ERR_OUT_OF_RANGE'],
      [{ randomInt: 5 }, 'ERR_INVALID_ARG_TYPE'], [5, 'ERR_INVALID_ARG_TYPE'],
    ] as const) {
      await expect(createStack({ link: pair.a, address: '10.0.0.5', dns: ['10.0.0.2'], dnsOptions: bad as never }), JSON.stringify(bad))
        .rejects.toMatchObject({ code, option: 'dnsOptions' });
    }
    expect(pair.a.closed).toBe(false);
    pair.close();
    const pair2 = createLinkPair();
    // IPv6 servers as node:dns setServers writes them; getServers gives them back in RFC 5952 text.
    const ok = await createStack({ link: pair2.a, address: ['10.0.0.5', 'fd00::5'], dns: ['FD00:0::1', '[fd00::2]:5353', '10.0.0.2:53'] });
    expect(ok.dns.getServers()).toEqual(['fd00::1', '[fd00::2]:5353', '10.0.0.2']);
    await ok.close();
    pair2.close();
  });
});

describe("dns: 'host'", () => {
  it("asks node:dns (the host's resolver) for IPv4 addresses", async () => {
    sim = await DnsSim.create({ dns: 'host' });
    const s = sim;
    expect(s.a.dns.getServers()).toEqual(['host']);
    await expect(s.a.dns.promises.lookup('localhost')).resolves.toEqual({ address: '127.0.0.1', family: 4 }); // /etc/hosts
    expect(s.a.stats().udp!['OutDatagrams']).toBe(0); // nothing went through the stack
  });
});

describe('the resolver core alone (no stack: time and io are arguments)', () => {
  it('drops an answer from the wrong source address or port even when the transport delivers it', () => {
    const sent: { port: number; bytes: Uint8Array; h: UdpHandlers }[] = [];
    const r = new DnsResolver({
      openUdp: (port, _server, h) => ({ send: (bytes) => { sent.push({ port, bytes, h }); return undefined; }, close: () => {} }),
      openTcp: () => 'ECONNREFUSED',
    }, { servers: [{ address: '10.0.0.2', port: 53 }], randomInt: (n) => n - 1 });
    const got: unknown[] = [];
    r.resolve('web.internal', TYPE_A, 0, (err, a) => got.push(err ?? a));
    expect(sent.length).toBe(1);
    expect(sent[0]!.port).toBe(65535); // the port came from randomInt
    const q = parseDnsMessage(sent[0]!.bytes) as DnsMessage;
    expect(q.id).toBe(0xffff);
    const reply = emitDnsMessage(answer(q, [{ address: '10.0.0.9', ttl: 5 }]));
    sent[0]!.h.datagram(reply, '10.0.0.3', 53, 1);
    sent[0]!.h.datagram(reply, '10.0.0.2', 5353, 1);
    expect(got).toEqual([]);
    expect(r.stats().InWrongSource).toBe(2);
    expect(r.pollAt()).toBe(2000);
    sent[0]!.h.datagram(reply, '10.0.0.2', 53, 2);
    expect(got).toEqual([{ addresses: [{ address: '10.0.0.9', ttl: 5 }] }]);
    expect(r.pollAt()).toBe(Infinity);
  });
});

describe('the cache bound counts real memory', () => {
  it("entryCost is at least what an entry holds in the heap (measured over 5000 entries)", () => {
    const gc = runInNewContext('gc') as () => void;
    const heap = (): number => { for (let i = 0; i < 4; i++) gc(); return process.memoryUsage().heapUsed; };
    let pending: { h: UdpHandlers; bytes: Uint8Array } | undefined;
    const r = new DnsResolver({
      openUdp: (_p, _s, h) => ({ send: (bytes) => { pending = { h, bytes }; return undefined; }, close: () => {} }),
      openTcp: () => 'ECONNREFUSED',
    }, { servers: [{ address: '10.0.0.2', port: 53 }], maxCacheEntries: 100_000, maxCacheBytes: 1e9 });
    const N = 5000;
    const names = Array.from({ length: N }, (_, i) => `host-${i}.example.internal`);
    const replies = names.map(() => undefined as Uint8Array | undefined);
    const before = heap();
    for (let i = 0; i < N; i++) {
      r.resolve(names[i]!, TYPE_A, 0, () => {});
      const q = parseDnsMessage(pending!.bytes) as DnsMessage;
      replies[i] = emitDnsMessage(answer(q, [{ address: '10.0.0.3' }, { address: '10.0.0.4' }]));
      pending!.h.datagram(replies[i]!, '10.0.0.2', 53, 0);
      replies[i] = undefined;
    }
    const used = heap() - before;
    const st = r.stats();
    expect(st.CacheEntries).toBe(N);
    console.log(`DNS cache: ${(used / N).toFixed(0)} B of heap per entry (2 addresses), estimated ${(st.CacheBytes / N).toFixed(0)} B`);
    expect(st.CacheBytes).toBeGreaterThanOrEqual(used);
  });
});
