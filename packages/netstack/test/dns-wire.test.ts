/**
 * DNS wire format (RFC 1035 §4): golden bytes written by hand from the RFC, compression
 * both ways, the pointer rules (loops and forward pointers rejected), and a fuzz run in
 * which parse never throws.
 */
import { describe, expect, it } from 'vitest';
import {
  CLASS_IN,
  DnsHeaderView,
  TYPE_A,
  TYPE_AAAA,
  TYPE_CNAME,
  TYPE_SOA,
  dnsBufferLen,
  emitDnsMessage,
  nameToLabels,
  parseDnsMessage,
  queryMessage,
  type DnsMessage,
} from '../src/dns/wire.js';

const hex = (s: string): Uint8Array => Uint8Array.from(s.replace(/\s+/g, '').match(/../g)!.map((b) => parseInt(b, 16)));
const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

// A query for web.internal A, ID 0x1234, RD (RFC 1035 §4.1.1-§4.1.2).
const QUERY = hex(`1234 0100 0001 0000 0000 0000 03${ascii('web')} 08${ascii('internal')} 00 0001 0001`);
// Its answer as a server writes it: the answer's owner is a pointer to offset 12 (c00c).
const ANSWER = hex(`1234 8180 0001 0001 0000 0000 03${ascii('web')} 08${ascii('internal')} 00 0001 0001`
  + 'c00c 0001 0001 0000012c 0004 0a070001');

describe('DNS wire format', () => {
  it('emits a query byte for byte (golden)', () => {
    const q = queryMessage(0x1234, 'web.internal', TYPE_A);
    expect(dnsBufferLen(q)).toBe(QUERY.length);
    expect(Buffer.from(emitDnsMessage(q)).toString('hex')).toBe(Buffer.from(QUERY).toString('hex'));
    const h = new DnsHeaderView(QUERY);
    expect([h.id, h.qr, h.rd, h.opcode, h.qdcount, h.ancount]).toEqual([0x1234, false, true, 0, 1, 0]);
  });

  it('parses an answer with a compression pointer, and emits it back with compression (golden)', () => {
    const m = parseDnsMessage(ANSWER);
    expect(typeof m).toBe('object');
    const msg = m as DnsMessage;
    expect(msg.qr && msg.rd && msg.ra && !msg.tc).toBe(true);
    expect(msg.rcode).toBe(0);
    expect(msg.questions).toEqual([{ name: 'web.internal', type: TYPE_A, class: CLASS_IN }]);
    expect(msg.answers).toEqual([{ name: 'web.internal', type: TYPE_A, class: CLASS_IN, ttl: 300, data: { kind: 'A', address: '10.7.0.1' } }]);
    expect(Buffer.from(emitDnsMessage(msg, { compress: true })).toString('hex')).toBe(Buffer.from(ANSWER).toString('hex'));
    // Without compression the owner is written out: 12 more octets (14 for the labels, minus the 2 of the pointer).
    expect(dnsBufferLen(msg)).toBe(ANSWER.length + 12);
  });

  it('round-trips CNAME, AAAA and SOA records; letters keep their case, names compare without it', () => {
    const msg: DnsMessage = {
      id: 7, qr: true, opcode: 0, aa: true, tc: false, rd: true, ra: true, rcode: 0,
      questions: [{ name: 'WWW.example.org', type: TYPE_A, class: CLASS_IN }],
      answers: [
        { name: 'WWW.example.org', type: TYPE_CNAME, class: CLASS_IN, ttl: 60, data: { kind: 'NAME', name: 'web.example.org' } },
        { name: 'web.example.org', type: TYPE_AAAA, class: CLASS_IN, ttl: 60, data: { kind: 'AAAA', address: '2001:db8::1' } },
      ],
      authorities: [{ name: 'example.org', type: TYPE_SOA, class: CLASS_IN, ttl: 3600, data: { kind: 'SOA', soa: { mname: 'ns.example.org', rname: 'admin.example.org', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5 } } }],
      additionals: [{ name: 'x.example.org', type: 99, class: CLASS_IN, ttl: 1, data: { kind: 'raw', bytes: Uint8Array.from([1, 2, 3]) } }],
    };
    for (const compress of [false, true]) {
      const bytes = emitDnsMessage(msg, { compress });
      expect(bytes.length).toBe(dnsBufferLen(msg, { compress }));
      expect(parseDnsMessage(bytes)).toEqual(msg);
    }
    expect(emitDnsMessage(msg, { compress: true }).length).toBeLessThan(emitDnsMessage(msg).length);
  });

  it('rejects pointer loops, forward pointers and pointers into the name itself', () => {
    const head = '0001 8180 0001 0000 0000 0000';
    // The question's name is a pointer to itself (offset 12).
    expect(parseDnsMessage(hex(`${head} c00c 0001 0001`))).toBe('bad-pointer');
    // A label, then a pointer back to that label: a loop through one label.
    expect(parseDnsMessage(hex(`${head} 01${ascii('a')} c00c 0001 0001`))).toBe('bad-pointer');
    // A forward pointer (to offset 20, after it).
    expect(parseDnsMessage(hex(`${head} c014 0001 0001 00 00 00 00`))).toBe('bad-pointer');
    // Two names pointing at each other: the second (at 18) to the first's pointer (at 12), which points to 18.
    expect(parseDnsMessage(hex(`0001 8180 0002 0000 0000 0000 c012 0001 0001 c00c 0001 0001`))).toBe('bad-pointer');
  });

  it('rejects overlong labels and names, truncation, bad RDATA and trailing bytes', () => {
    const head = '0001 8180 0001 0000 0000 0000';
    expect(parseDnsMessage(hex('0001 8180'))).toBe('short-header');
    expect(parseDnsMessage(hex(`${head} 4161`))).toBe('bad-label'); // 0x40: an extended label type
    expect(parseDnsMessage(hex(`${head} 03${ascii('web')}`))).toBe('truncated');
    const long = Array.from({ length: 5 }, () => `3f${'61'.repeat(63)}`).join('');
    expect(parseDnsMessage(hex(`${head} ${long} 00 0001 0001`))).toBe('name-too-long');
    expect(parseDnsMessage(hex(`0001 8180 0000 0001 0000 0000 00 0001 0001 00000001 0003 0a0000`))).toBe('bad-rdata'); // A with 3 octets
    expect(parseDnsMessage(hex(`${Buffer.from(QUERY).toString('hex')} 00`))).toBe('trailing-bytes');
    expect(nameToLabels(`${'a'.repeat(64)}.b`)).toBeUndefined();
    expect(nameToLabels('a..b')).toBeUndefined();
    expect(nameToLabels('wéb.internal')).toBeUndefined();
    expect(nameToLabels(Array.from({ length: 4 }, () => 'a'.repeat(63)).join('.'))).toBeUndefined(); // 257 octets
    expect(nameToLabels('web.internal.')!.length).toBe(2);
  });

  it('never throws on random or mutated input (fuzz, seeded)', () => {
    let seed = 0x2545f491;
    const rnd = (): number => { seed ^= seed << 13; seed ^= seed >>> 17; seed ^= seed << 5; return (seed >>> 0) / 2 ** 32; };
    const bases = [QUERY, ANSWER, emitDnsMessage({ ...queryMessage(1, 'a.b.c', TYPE_A), qr: true, answers: [
      { name: 'a.b.c', type: TYPE_CNAME, class: CLASS_IN, ttl: 1, data: { kind: 'NAME', name: 'd.b.c' } },
      { name: 'd.b.c', type: TYPE_SOA, class: CLASS_IN, ttl: 1, data: { kind: 'SOA', soa: { mname: 'b.c', rname: 'c', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 1 } } },
    ] }, { compress: true })];
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 30000; i++) {
      let b: Uint8Array;
      if (i % 3 === 0) {
        b = Uint8Array.from({ length: Math.floor(rnd() * 80) }, () => Math.floor(rnd() * 256));
      } else {
        const base = bases[i % bases.length]!;
        b = base.slice(0, Math.max(0, base.length - (rnd() < 0.2 ? Math.floor(rnd() * 8) : 0)));
        for (let k = 0, n = 1 + Math.floor(rnd() * 4); k < n && b.length > 0; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      }
      const r = parseDnsMessage(b);
      const key = typeof r === 'string' ? r : 'ok';
      outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    }
    // Every outcome is a value, never an exception; both kinds are reached.
    expect(outcomes.get('ok')).toBeGreaterThan(100);
    expect(outcomes.get('bad-pointer')).toBeGreaterThan(0);
    expect(outcomes.get('truncated')).toBeGreaterThan(100);
  });
});
