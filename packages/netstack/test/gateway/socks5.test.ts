/**
 * The SOCKS5 client's wire records and handshake (RFC 1928, RFC 1929): golden bytes
 * written by hand from the RFCs, the handshake as a trace (what the client sends for
 * each proxy message), property tests that no parser throws or over-reads on any input
 * and that encode/decode round-trip, and the Node adapter over an in-memory duplex
 * (reply codes as errnos, malformed replies as errors, the deadline in virtual time,
 * octets after the reply handed to the reader). The real proxy is test/kernel/socks5.test.ts.
 */
import { describe, expect, it, vi, afterEach } from 'vitest';
import fc from 'fast-check';
import { Duplex } from 'node:stream';
import { parseIpAddress, type IpAddress, type Ipv6Address } from '@netstack/ip';
import {
  CMD_CONNECT,
  CMD_UDP_ASSOCIATE,
  checkDestination,
  MAX_REPLY_LENGTH,
  Socks5Handshake,
  decodeUdpDatagram,
  emitGreeting,
  emitRequest,
  emitUserPassRequest,
  encodeUdpDatagram,
  endpointLength,
  handshakeOver,
  parseMethodSelection,
  parseReply,
  parseUserPassStatus,
  replyErrorCode,
  socks5Connect,
  socks5UdpAssociate,
  udpHeaderLength,
  writeEndpoint,
  type HandshakeRequest,
  type HandshakeStep,
  type Socks5Endpoint,
  type Socks5Error,
} from '../../src/gateway/socks5.js';

const hex = (s: string): Uint8Array => Uint8Array.from(s.replace(/\s+/g, '').match(/../g)!.map((b) => parseInt(b, 16)));
const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const ip = (t: string): IpAddress => parseIpAddress(t)!;
const bytes = (s: string): Uint8Array => Buffer.from(s, 'utf8');

const DST4: Socks5Endpoint = { host: ip('10.9.2.1'), port: 7 };
const DST6: Socks5Endpoint = { host: ip('fd00:9:2::1'), port: 443 };
const DSTN: Socks5Endpoint = { host: { domain: 'echo.s5.test' }, port: 7 };

// Replies (§6) by hand: success with BND 10.9.3.1:33333 (0x8235), and REP X'05'.
const REPLY_OK4 = hex('05 00 00 01 0a090301 8235');
const REPLY_REFUSED = hex('05 05 00 01 00000000 0000');

describe('client messages: golden bytes from RFC 1928 §3-§4 and RFC 1929 §2', () => {
  it('greeting: VER 5, NMETHODS, METHODS', () => {
    expect(toHex(emitGreeting([0x00]))).toBe('050100');
    expect(toHex(emitGreeting([0x00, 0x02]))).toBe('05020002');
  });
  it('username/password request: VER 1, ULEN, UNAME, PLEN, PASSWD', () => {
    expect(toHex(emitUserPassRequest(bytes('user'), bytes('secret')))).toBe(`0104${ascii('user')}06${ascii('secret')}`);
  });
  it('CONNECT to IPv4, IPv6 and a domain name (ATYP 1, 4, 3)', () => {
    expect(toHex(emitRequest(CMD_CONNECT, DST4))).toBe('050100010a0902010007');
    expect(toHex(emitRequest(CMD_CONNECT, DST6))).toBe('05010004fd000009000200000000000000000001' + '01bb');
    expect(toHex(emitRequest(CMD_CONNECT, DSTN))).toBe(`050100030c${ascii('echo.s5.test')}0007`);
  });
  it('UDP ASSOCIATE names the address the client sends from', () => {
    expect(toHex(emitRequest(CMD_UDP_ASSOCIATE, { host: ip('10.9.1.2'), port: 40000 }))).toBe('050300010a0901029c40');
  });
});

describe('proxy messages: parse', () => {
  it('a method selection is VER 5 + METHOD; a wrong VER is malformed at once', () => {
    expect(parseMethodSelection(hex('05'))).toEqual({ status: 'incomplete' });
    expect(parseMethodSelection(hex('0502'))).toEqual({ status: 'ok', value: { method: 2 }, length: 2 });
    expect(parseMethodSelection(hex('04'))).toMatchObject({ status: 'malformed', reason: expect.stringContaining('version 4') });
  });
  it('an authentication status is VER 1 + STATUS', () => {
    expect(parseUserPassStatus(hex('0100'))).toEqual({ status: 'ok', value: { status: 0 }, length: 2 });
    expect(parseUserPassStatus(hex('0101'))).toEqual({ status: 'ok', value: { status: 1 }, length: 2 });
    expect(parseUserPassStatus(hex('05'))).toMatchObject({ status: 'malformed' });
  });
  it('replies with each ATYP, every strict prefix incomplete', () => {
    const cases: Array<[Uint8Array, Socks5Endpoint]> = [
      [REPLY_OK4, { host: ip('10.9.3.1'), port: 0x8235 }],
      [hex('05 00 00 04 fd000009000300000000000000000001 0050'), { host: ip('fd00:9:3::1'), port: 80 }],
      [hex(`05 00 00 03 04 ${ascii('host')} 0050`), { host: { domain: 'host' }, port: 80 }],
    ];
    for (const [wire, bound] of cases) {
      expect(parseReply(wire)).toEqual({ status: 'ok', value: { reply: 0, bound }, length: wire.length });
      for (let n = 0; n < wire.length; n++) expect(parseReply(wire.subarray(0, n)).status).toBe('incomplete');
    }
  });
  it('bad version, unknown ATYP and an empty domain name are malformed', () => {
    expect(parseReply(hex('04 00 00 01'))).toMatchObject({ status: 'malformed' });
    expect(parseReply(hex('05 00 00 02 00000000 0000'))).toMatchObject({ status: 'malformed', reason: 'address type 0x02' });
    expect(parseReply(hex('05 00 00 03 00 0000'))).toMatchObject({ status: 'malformed', reason: 'empty domain name' });
  });
});

/** Feeds proxy octets (one chunk per entry) and returns every step. */
function trace(req: HandshakeRequest, chunks: Uint8Array[]): { greeting: string; steps: HandshakeStep[]; hs: Socks5Handshake } {
  const hs = new Socks5Handshake(req);
  const greeting = toHex(hs.greeting());
  return { greeting, steps: chunks.map((c) => hs.receive(c)), hs };
}
const sent = (s: HandshakeStep | undefined): string => (s?.kind === 'send' ? toHex(s.bytes) : `<${s?.kind}>`);

describe('the handshake as a trace', () => {
  const AUTH = { username: bytes('user'), password: bytes('secret') };

  it('no authentication: greeting 050100, request after X\'00\', done with BND', () => {
    const { greeting, steps, hs } = trace({ command: CMD_CONNECT, destination: DST4 }, [hex('0500'), REPLY_OK4]);
    expect(greeting).toBe('050100');
    expect(sent(steps[0])).toBe('050100010a0902010007');
    expect(steps[1]).toMatchObject({ kind: 'done', bound: { host: ip('10.9.3.1'), port: 0x8235 } });
    expect((steps[1] as { leftover: Uint8Array }).leftover.length).toBe(0);
    expect(hs.stage).toBe('done');
  });

  it('username/password: only X\'02\' offered, the RFC 1929 request, then the request', () => {
    const { greeting, steps } = trace({ command: CMD_CONNECT, destination: DST4, auth: AUTH }, [hex('0502'), hex('0100'), REPLY_OK4]);
    expect(greeting).toBe('050102');
    expect(sent(steps[0])).toBe(`0104${ascii('user')}06${ascii('secret')}`);
    expect(sent(steps[1])).toBe('050100010a0902010007');
    expect(steps[2]?.kind).toBe('done');
  });

  it('a rejected password fails (RFC 1929: any STATUS but X\'00\')', () => {
    const { steps, hs } = trace({ command: CMD_CONNECT, destination: DST4, auth: AUTH }, [hex('0502'), hex('0101')]);
    expect(steps[1]).toEqual({ kind: 'failed', failure: { kind: 'auth-failed', status: 1 } });
    expect(hs.stage).toBe('failed');
  });

  it('X\'FF\' is "no acceptable methods"; a method not offered is malformed (no silent downgrade)', () => {
    expect(trace({ command: CMD_CONNECT, destination: DST4 }, [hex('05ff')]).steps[0]).toEqual({ kind: 'failed', failure: { kind: 'no-acceptable-methods' } });
    expect(trace({ command: CMD_CONNECT, destination: DST4 }, [hex('0502')]).steps[0]).toMatchObject({ kind: 'failed', failure: { kind: 'malformed', stage: 'method' } });
    expect(trace({ command: CMD_CONNECT, destination: DST4, auth: AUTH }, [hex('0500')]).steps[0]).toMatchObject({ kind: 'failed', failure: { kind: 'malformed' } });
  });

  it('a failure reply is its REP; EOF after a REP octet still reports it; EOF before is "closed"', () => {
    expect(trace({ command: CMD_CONNECT, destination: DST4 }, [hex('0500'), REPLY_REFUSED]).steps[1]).toEqual({ kind: 'failed', failure: { kind: 'reply', reply: 5 } });
    const cut = trace({ command: CMD_CONNECT, destination: DST4 }, [hex('0500'), hex('0504')]);
    expect(cut.steps[1]).toEqual({ kind: 'need-more' });
    expect(cut.hs.end()).toEqual({ kind: 'failed', failure: { kind: 'reply', reply: 4 } });
    const early = trace({ command: CMD_CONNECT, destination: DST4 }, [hex('05')]);
    expect(early.hs.end()).toEqual({ kind: 'failed', failure: { kind: 'closed', stage: 'method' } });
  });

  it('octets after a method selection are a fault; octets after the final reply are data (leftover)', () => {
    expect(trace({ command: CMD_CONNECT, destination: DST4 }, [hex('050005')]).steps[0]).toMatchObject({ kind: 'failed', failure: { kind: 'malformed', stage: 'method' } });
    const withData = new Uint8Array([...REPLY_OK4, ...bytes('hello')]);
    const { steps } = trace({ command: CMD_CONNECT, destination: DST4 }, [hex('0500'), withData.subarray(0, 3), withData.subarray(3)]);
    expect(steps[1]).toEqual({ kind: 'need-more' });
    expect(steps[2]?.kind).toBe('done');
    expect(Buffer.from((steps[2] as { leftover: Uint8Array }).leftover).toString()).toBe('hello');
  });

  it('after done or failed, more input is ignored (need-more), never a throw', () => {
    const { hs } = trace({ command: CMD_CONNECT, destination: DST4 }, [hex('05ff')]);
    expect(hs.receive(hex('0500'))).toEqual({ kind: 'need-more' });
    expect(hs.end()).toEqual({ kind: 'need-more' });
  });

  it('reply codes map to the errno a direct connect would give', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 9, 0xff].map(replyErrorCode)).toEqual([
      'ERR_SOCKS5_GENERAL_FAILURE', 'EACCES', 'ENETUNREACH', 'EHOSTUNREACH', 'ECONNREFUSED', 'ETIMEDOUT', 'EOPNOTSUPP', 'EAFNOSUPPORT', 'ERR_SOCKS5_REPLY', 'ERR_SOCKS5_REPLY',
    ]);
  });
});

// ---------------------------------------------------------------------------------
// Properties

const ipv4Arb = fc.integer({ min: 0, max: 0xffffffff }).map((n) => n as IpAddress);
const ipv6Arb = fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b).toString('latin1') as Ipv6Address);
const domainArb = fc.uint8Array({ minLength: 1, maxLength: 255 }).map((b) => ({ domain: Buffer.from(b).toString('latin1') }));
const endpointArb: fc.Arbitrary<Socks5Endpoint> = fc.record({ host: fc.oneof(ipv4Arb, ipv6Arb, domainArb), port: fc.integer({ min: 0, max: 65535 }) });

function emitReply(rep: number, ep: Socks5Endpoint): Uint8Array {
  const out = new Uint8Array(3 + endpointLength(ep));
  out[0] = 5;
  out[1] = rep;
  writeEndpoint(out, 3, ep);
  return out;
}

describe('properties (fast-check)', () => {
  it('no parser throws on any octets; an ok parse never claims more than it was given, nor a reply more than 262', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (buf) => {
      for (const parse of [parseMethodSelection, parseUserPassStatus, parseReply, decodeUdpDatagram]) {
        const r = parse(buf);
        if (r.status === 'ok') expect(r.length).toBeLessThanOrEqual(buf.length);
      }
      const r = parseReply(buf);
      if (r.status === 'ok') expect(r.length).toBeLessThanOrEqual(MAX_REPLY_LENGTH);
    }), { numRuns: 2000 });
  });

  it('near-valid replies too: a valid reply with one octet changed never throws', () => {
    fc.assert(fc.property(endpointArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (ep, at, flip) => {
      const wire = emitReply(0, ep);
      const i = at % wire.length;
      wire[i] = wire[i]! ^ flip;
      const r = parseReply(wire);
      expect(['ok', 'incomplete', 'malformed']).toContain(r.status);
    }), { numRuns: 2000 });
  });

  it('replies round-trip for every endpoint; every strict prefix is incomplete; trailing octets are not taken', () => {
    fc.assert(fc.property(endpointArb, fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 20 }), fc.nat(), (ep, rep, tail, cut) => {
      const wire = emitReply(rep, ep);
      expect(wire.length).toBeLessThanOrEqual(MAX_REPLY_LENGTH);
      expect(parseReply(wire)).toEqual({ status: 'ok', value: { reply: rep, bound: ep }, length: wire.length });
      expect(parseReply(wire.subarray(0, cut % wire.length)).status).toBe('incomplete');
      expect(parseReply(new Uint8Array([...wire, ...tail]))).toEqual({ status: 'ok', value: { reply: rep, bound: ep }, length: wire.length });
    }), { numRuns: 1000 });
  });

  it('the handshake reaches the same result however the proxy\'s octets are split, leftover exact', () => {
    fc.assert(fc.property(endpointArb, fc.uint8Array({ maxLength: 64 }), fc.array(fc.nat(300), { maxLength: 8 }), (bound, data, cuts) => {
      const all = new Uint8Array([...emitReply(0, bound), ...data]);
      const points = [...new Set(cuts.map((c) => c % (all.length + 1)))].sort((a, b) => a - b);
      const hs = new Socks5Handshake({ command: CMD_CONNECT, destination: DST4 });
      expect(hs.receive(hex('0500')).kind).toBe('send');
      let prev = 0;
      let done: HandshakeStep | undefined;
      const rest: number[] = [];
      for (const p of [...points, all.length]) {
        const chunk = all.subarray(prev, p);
        prev = p;
        if (done) { rest.push(...chunk); continue; }
        const step = hs.receive(chunk);
        expect(step.kind === 'need-more' || step.kind === 'done').toBe(true);
        if (step.kind === 'done') { done = step; rest.push(...step.leftover); }
      }
      expect(done).toMatchObject({ kind: 'done', bound });
      expect(rest).toEqual([...data]);
    }), { numRuns: 1000 });
  });

  it('the handshake never throws on any octet sequence and ends in a defined step', () => {
    fc.assert(fc.property(fc.boolean(), fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }), (withAuth, chunks) => {
      const hs = new Socks5Handshake(withAuth ? { command: CMD_CONNECT, destination: DSTN, auth: { username: bytes('u'), password: bytes('p') } } : { command: CMD_CONNECT, destination: DSTN });
      for (const c of chunks) expect(['need-more', 'send', 'done', 'failed']).toContain(hs.receive(c).kind);
      expect(['need-more', 'failed']).toContain(hs.end().kind);
    }), { numRuns: 2000 });
  });

  it('UDP header (§7): decode(encode(ep, data)) is (FRAG 0, ep, data); its length is header + data', () => {
    fc.assert(fc.property(endpointArb, fc.uint8Array({ maxLength: 200 }), (ep, data) => {
      const wire = encodeUdpDatagram(ep, data);
      expect(wire.length).toBe(udpHeaderLength(ep) + data.length);
      expect(toHex(wire.subarray(0, 3))).toBe('000000');
      const d = decodeUdpDatagram(wire);
      expect(d.status).toBe('ok');
      if (d.status !== 'ok') return;
      expect(d.value.frag).toBe(0);
      expect(d.value.endpoint).toEqual(ep);
      expect([...d.value.data]).toEqual([...data]);
    }), { numRuns: 1000 });
  });

  it('UDP header: any datagram that decodes with RSV 0 and FRAG 0 re-encodes to the same octets', () => {
    const nearValid = fc.tuple(endpointArb, fc.uint8Array({ maxLength: 40 }), fc.nat(), fc.integer({ min: 0, max: 255 }))
      .map(([ep, data, at, v]) => { const w = encodeUdpDatagram(ep, data); w[at % w.length] = v; return w; });
    fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 300 }), nearValid), (buf) => {
      const d = decodeUdpDatagram(buf);
      if (d.status !== 'ok' || buf[0] !== 0 || buf[1] !== 0 || d.value.frag !== 0) return;
      expect(toHex(encodeUdpDatagram(d.value.endpoint, d.value.data))).toBe(toHex(buf));
    }), { numRuns: 3000 });
  });

  it('UDP header golden: FRAG and a short datagram', () => {
    expect(decodeUdpDatagram(hex('0000 00 01 0a090201 0007 6869'))).toMatchObject({ status: 'ok', value: { frag: 0, endpoint: DST4 } });
    expect(decodeUdpDatagram(hex('0000 81 01 0a090201 0007'))).toMatchObject({ status: 'ok', value: { frag: 0x81 } });
    expect(decodeUdpDatagram(hex('0000 00 01 0a09'))).toMatchObject({ status: 'malformed' });
    expect(decodeUdpDatagram(hex('0000'))).toMatchObject({ status: 'malformed' });
  });
});

// ---------------------------------------------------------------------------------
// The adapter over an in-memory duplex

/** Two duplexes back to back: what one writes the other reads; end() is EOF on the other. */
function duplexPair(): [Duplex, Duplex] {
  const mk = (peer: () => Duplex): Duplex => new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) { peer().push(chunk); cb(); },
    final(cb) { peer().push(null); cb(); },
  });
  const a: Duplex = mk(() => b);
  const b: Duplex = mk(() => a);
  return [a, b];
}

/** A scripted proxy: answers each message it receives with the next entry (null: end). */
function scriptedProxy(proxy: Duplex, answers: Array<Uint8Array | null>): { got: string[] } {
  const got: string[] = [];
  proxy.on('data', (d: Buffer) => {
    got.push(d.toString('hex'));
    const a = answers.shift();
    if (a === null) proxy.end();
    else if (a !== undefined) proxy.write(a);
  });
  return { got };
}

describe('the adapter (in-memory duplex)', () => {
  afterEach(() => { vi.useRealTimers(); });

  it('success: BND reported, then the octets the proxy sent after its reply are the first the reader gets', async () => {
    const [client, proxy] = duplexPair();
    const replyAndData = new Uint8Array([...REPLY_OK4, ...bytes('early')]);
    const { got } = scriptedProxy(proxy, [hex('0500'), replyAndData]);
    const bound = await handshakeOver(client, { command: CMD_CONNECT, destination: DST4 }, 5000);
    expect(bound).toEqual({ address: '10.9.3.1', family: 'IPv4', port: 0x8235 });
    expect(got).toEqual(['050100', '050100010a0902010007']);
    // The reader attaches only now; the early octets and later ones arrive in order.
    let read = '';
    client.on('data', (d: Buffer) => { read += d.toString(); });
    proxy.write(bytes(' late'));
    await new Promise((r) => setImmediate(r));
    expect(read).toBe('early late');
  });

  it('REP X\'05\' rejects with ECONNREFUSED, the REP and the stage on the error', async () => {
    const [client, proxy] = duplexPair();
    scriptedProxy(proxy, [hex('0500'), REPLY_REFUSED]);
    const e = await handshakeOver(client, { command: CMD_CONNECT, destination: DST4 }, 5000).catch((x: Socks5Error) => x);
    expect(e).toMatchObject({ code: 'ECONNREFUSED', socks5Reply: 5, socks5Stage: 'reply', syscall: 'connect', address: '10.9.2.1', port: 7 });
    expect((e as Error).message).toContain('connection refused, REP 0x05');
    expect(client.destroyed).toBe(true);
  });

  it('a malformed reply is a clear error, and so is "no acceptable methods"', async () => {
    let [client, proxy] = duplexPair();
    scriptedProxy(proxy, [hex('0500'), hex('05 00 00 09 0000')]);
    await expect(handshakeOver(client, { command: CMD_CONNECT, destination: DST4 }, 5000)).rejects.toMatchObject({ code: 'ERR_SOCKS5_MALFORMED_REPLY', socks5Stage: 'reply', message: expect.stringContaining('address type 0x09') });
    [client, proxy] = duplexPair();
    scriptedProxy(proxy, [hex('05ff')]);
    await expect(handshakeOver(client, { command: CMD_CONNECT, destination: DST4 }, 5000)).rejects.toMatchObject({ code: 'ERR_SOCKS5_NO_ACCEPTABLE_METHODS', socks5Stage: 'method' });
  });

  it('the proxy closing mid-handshake is ERR_SOCKS5_CLOSED', async () => {
    const [client, proxy] = duplexPair();
    scriptedProxy(proxy, [hex('0500'), null]);
    await expect(handshakeOver(client, { command: CMD_CONNECT, destination: DST4 }, 5000)).rejects.toMatchObject({ code: 'ERR_SOCKS5_CLOSED', socks5Stage: 'reply' });
  });

  it('a silent proxy: ETIMEDOUT at the deadline, not a millisecond before (virtual time)', async () => {
    vi.useFakeTimers();
    const [client, proxy] = duplexPair();
    scriptedProxy(proxy, [hex('0500')]); // then silence
    let outcome: unknown;
    handshakeOver(client, { command: CMD_CONNECT, destination: DST4 }, 3000).then(() => { outcome = 'resolved'; }, (e: unknown) => { outcome = e; });
    await vi.advanceTimersByTimeAsync(2999);
    expect(outcome).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(outcome).toMatchObject({ code: 'ETIMEDOUT', socks5Stage: 'timeout', message: expect.stringContaining('no reply within 3000 ms') });
    expect(client.destroyed).toBe(true);
  });

  it('abort: AbortError (ABORT_ERR) with the signal\'s reason', async () => {
    const [client, proxy] = duplexPair();
    scriptedProxy(proxy, []);
    const ac = new AbortController();
    const p = handshakeOver(client, { command: CMD_CONNECT, destination: DST4 }, 5000, ac.signal);
    ac.abort(new Error('stop'));
    await expect(p).rejects.toMatchObject({ name: 'AbortError', code: 'ABORT_ERR', socks5Stage: 'abort', cause: { message: 'stop' } });
  });

  it('destinations: an IPv4-mapped address goes as IPv4 (ATYP 1), a literal in host as an address, a name in its IDNA ASCII form', () => {
    expect(checkDestination({ address: '::ffff:10.9.2.1', port: 7 }, 'd')).toEqual(DST4);
    expect(checkDestination({ host: '10.9.2.1', port: 7 }, 'd')).toEqual(DST4);
    expect(checkDestination({ host: 'fd00:9:2::1', port: 443 }, 'd')).toEqual(DST6);
    expect(checkDestination({ host: 'ÉCHO.test', port: 7 }, 'd')).toEqual({ host: { domain: 'xn--cho-9la.test' }, port: 7 });
  });

  it('bad arguments throw at once, before any connection', () => {
    const proxy = { host: '10.9.1.1', port: 1080 };
    expect(() => socks5Connect({ proxy, destination: { address: 'nope', port: 7 }, timeoutMs: 1000 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => socks5Connect({ proxy, destination: { host: 'a.test', port: 0 }, timeoutMs: 1000 })).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }));
    expect(() => socks5Connect({ proxy, destination: { host: 'x'.repeat(256), port: 7 }, timeoutMs: 1000 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => socks5Connect({ proxy, auth: { username: '', password: 'p' }, destination: DST4Text, timeoutMs: 1000 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => socks5Connect({ proxy, destination: DST4Text, timeoutMs: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => socks5UdpAssociate({ proxy: { host: '10.9.1.1', port: 70000 }, timeoutMs: 1000 })).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }));
  });
});

const DST4Text = { address: '10.9.2.1', port: 7 };
