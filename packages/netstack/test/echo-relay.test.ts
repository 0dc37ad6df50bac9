/**
 * The gateway's ICMP echo relay (gateway/echo-relay.ts) between two stacks on a memory link
 * pair, virtual time: A routes everything through B (anyAddress); B's relay sends A's
 * echoes through a scripted host socket. A's ping resolves only on a reply from the
 * destination it pinged with its own identifier, sequence number and data (PingClient
 * matches all three), so a resolved ping proves the rewrite back.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLinkPair } from '@netstack/tun';
import { Stack } from '../src/stack.js';
import { checkAccounting } from '../src/accounting.js';
import { startEchoRelay, type EchoRelay, type EchoRelayOptions, type EchoSocket } from '../src/gateway/echo-relay.js';
import type { PingSocketError } from '@netstack/host';
import { AutoClock, until } from './harness-net.js';

/** A host echo socket: records what is sent; `answer()` replies as the kernel would (its own id, our seq). */
class FakeSocket implements EchoSocket {
  sent: { dst: number[]; message: Uint8Array; ttl: number | undefined }[] = [];
  closed = false;
  fail: string | undefined = undefined;
  constructor(readonly family: 4 | 6, readonly onMessage: (m: Uint8Array, from: Uint8Array) => void, readonly onError: (e: PingSocketError) => void) {}
  send(dst: Uint8Array, message: Uint8Array, ttl?: number): string | undefined {
    if (this.fail !== undefined) return this.fail;
    this.sent.push({ dst: [...dst], message: Uint8Array.from(message), ttl });
    return undefined;
  }
  close(): void { this.closed = true; }
  /** Replies to sent[i] from `from` (default: its destination), data as sent unless `data` given. */
  answer(i: number, from?: number[], data?: Uint8Array): void {
    const s = this.sent[i]!;
    const m = Uint8Array.from(s.message);
    m[0] = this.family === 4 ? 0 : 129;
    m[4] = 0x42; m[5] = 0x42; // the kernel's identifier
    if (data !== undefined) m.set(data, 8);
    this.onMessage(m, Uint8Array.from(from ?? s.dst));
  }
}

/**
 * A host socket on a local link: the destination's reply is queued by the time send()
 * returns (as the kernel's softirq does for a veth), and nothing ever signals readability:
 * only receiveNow() hands it on.
 */
class QueuedReplySocket extends FakeSocket {
  queued: number[] = [];
  reads = 0;
  /** false: the destination is far away, its reply is not there when send() returns. */
  local = true;
  override send(dst: Uint8Array, message: Uint8Array, ttl?: number): string | undefined {
    const err = super.send(dst, message, ttl);
    if (err === undefined && this.local) this.queued.push(this.sent.length - 1);
    return err;
  }
  receiveNow(): number {
    this.reads++;
    const n = this.queued.length;
    for (const i of this.queued.splice(0)) this.answer(i);
    return n;
  }
}

function makePair(relay: Omit<EchoRelayOptions, 'openSocket' | 'now'> = { route: (dst) => ({ relay: dst }) }, refuseOpen?: string, socket: typeof FakeSocket = FakeSocket) {
  const links = createLinkPair({ mtu: 1500 });
  const clock = new AutoClock();
  clock.links = links;
  const a = new Stack({ link: links.a, address: ['10.0.0.1', 'fd00::1'], prefixLength: 24, gateway: '10.0.0.2', gateway6: 'fd00::2', clock });
  const b = new Stack({ link: links.b, address: ['10.0.0.2', 'fd00::2'], prefixLength: 24, anyAddress: true, clock });
  const sockets: FakeSocket[] = [];
  let opens = 0;
  const r: EchoRelay = startEchoRelay(b, {
    ...relay,
    now: () => clock.now(),
    openSocket: (family, onMessage, onError) => {
      opens++;
      if (refuseOpen !== undefined) throw Object.assign(new Error(`socket failed: ${refuseOpen}`), { code: refuseOpen });
      const s = new socket(family, onMessage, onError);
      sockets.push(s);
      return s;
    },
  });
  return { a, b, clock, relay: r, sockets, opens: () => opens, close: () => { r.close(); clock.stop(); links.close(); } };
}

let current: ReturnType<typeof makePair> | undefined;
afterEach(() => {
  if (current !== undefined) for (const s of [current.a, current.b]) expect(checkAccounting(s.stats()).violations).toEqual([]);
  current?.close();
  current = undefined;
});

const DST = { 4: { text: '192.0.2.55', bytes: [192, 0, 2, 55] }, 6: { text: '2001:db8::55', bytes: [0x20, 1, 0x0d, 0xb8, ...new Array(11).fill(0), 0x55] } } as const;

describe('echo relay: A pings any address through B', () => {
  for (const fam of [4, 6] as const) {
    it(`IPv${fam}: relayed with a fresh sequence number; the reply reaches A from the destination with A's id and seq`, async () => {
      const p = (current = makePair());
      const results = [p.a.ping(DST[fam].text, { size: 100, timeout: 5000 }), p.a.ping(DST[fam].text, { size: 100, timeout: 5000 })];
      await until(() => (p.sockets[0]?.sent.length ?? 0) === 2);
      const s = p.sockets[0]!;
      expect(s.family).toBe(fam);
      expect(s.sent.map((x) => x.dst)).toEqual([DST[fam].bytes, DST[fam].bytes]);
      const seqs = s.sent.map((x) => (x.message[6]! << 8) | x.message[7]!);
      expect(new Set(seqs).size).toBe(2);
      // Type 8 / 128, id and checksum zero (the kernel's), A's 100 data bytes.
      for (const x of s.sent) expect([x.message[0], x.message[2], x.message[3], x.message[4], x.message[5], x.message.length]).toEqual([fam === 4 ? 8 : 128, 0, 0, 0, 0, 108]);
      // Answered in the other order: each finds its own echo.
      s.answer(1);
      s.answer(0);
      const r = await Promise.all(results);
      expect(r.map((x) => x.seq).sort()).toEqual([...new Set(r.map((x) => x.seq))].sort());
      const st = p.relay.stats();
      expect(st).toMatchObject({ IcmpEchoRequests: 2, IcmpEchoRelayed: 2, IcmpEchoReplies: 2, IcmpEchoOutstanding: 0 });
      const icmp = fam === 4 ? p.b.stats().icmp! : p.b.stats().icmp6!;
      expect(icmp[fam === 4 ? 'OutEchoRepsRelayed' : 'Icmp6OutEchoRepliesRelayed']).toBe(2);
    });

    it(`IPv${fam}: the host refuses the socket (ping_group_range: EACCES) -> A gets administratively prohibited at once`, async () => {
      const p = (current = makePair(undefined, 'EACCES'));
      const t0 = p.clock.now();
      const err = await p.a.ping(DST[fam].text, { timeout: 5000 }).then(() => undefined, (e: Error & { code?: string }) => e);
      expect(err?.code).toBeDefined();
      expect(err?.code).not.toBe('ETIMEDOUT');
      expect(p.clock.now() - t0).toBeLessThan(1000);
      expect(p.relay.stats()).toMatchObject({ IcmpEchoRequests: 1, IcmpEchoRefusedSocket: 1, IcmpEchoRelayed: 0 });
      const st = p.b.stats();
      if (fam === 4) expect(st.icmp!.OutDestUnreachs).toBe(1); else expect(st.icmp6!.Icmp6OutDestUnreachs).toBe(1);
      // The socket is tried again at the next echo (a changed sysctl works at once).
      await p.a.ping(DST[fam].text, { timeout: 5000 }).catch(() => {});
      expect(p.opens()).toBe(2);
    });
  }

  for (const fam of [4, 6] as const) {
    it(`IPv${fam}: a reply already queued when the send returns (a local link) is read at once and relayed in the same turn, without a readability callback`, async () => {
      const p = (current = makePair(undefined, undefined, QueuedReplySocket));
      // The socket never calls onMessage by itself: the pings resolve only if the relay reads right after each send.
      for (let i = 0; i < 3; i++) await p.a.ping(DST[fam].text, { size: 56, timeout: 5000 });
      const s = p.sockets[0] as QueuedReplySocket;
      expect(s.sent).toHaveLength(3);
      expect(s.reads).toBe(3); // one read per relayed echo
      expect(p.relay.stats()).toMatchObject({ IcmpEchoRelayed: 3, IcmpEchoReplies: 3, IcmpEchoRepliesAtOnce: 3, IcmpEchoOutstanding: 0 });
    });
  }

  it('a reply not yet there when the send returns: the read at once finds nothing, the reply comes through the socket later (not counted at once)', async () => {
    const p = (current = makePair(undefined, undefined, QueuedReplySocket));
    await p.a.ping(DST[4].text, { timeout: 5000 }); // opens the socket; answered at once
    const s = p.sockets[0] as QueuedReplySocket;
    s.local = false;
    const second = p.a.ping(DST[4].text, { timeout: 5000 });
    await until(() => s.sent.length === 2);
    expect(s.reads).toBe(2); // read after each send; the second found nothing
    expect(p.relay.stats()).toMatchObject({ IcmpEchoRelayed: 2, IcmpEchoReplies: 1, IcmpEchoRepliesAtOnce: 1, IcmpEchoOutstanding: 1 });
    s.answer(1); // the readability watch, later
    await second;
    expect(p.relay.stats()).toMatchObject({ IcmpEchoReplies: 2, IcmpEchoRepliesAtOnce: 1, IcmpEchoOutstanding: 0 });
  });

  it('prepare: the sockets are opened at the start, one per family; the first echo opens none', async () => {
    const p = (current = makePair({ route: (dst) => ({ relay: dst }), prepare: true }));
    expect(p.opens()).toBe(2);
    expect(p.sockets.map((s) => s.family)).toEqual([4, 6]);
    const r = p.a.ping(DST[4].text, { timeout: 5000 });
    await until(() => p.sockets[0]!.sent.length === 1);
    p.sockets[0]!.answer(0);
    await r;
    expect(p.opens()).toBe(2);
  });

  it('prepare, refused at the start (ping_group_range): silent then; the first echo tries again and is refused, counted', async () => {
    const p = (current = makePair({ route: (dst) => ({ relay: dst }), prepare: true }, 'EACCES'));
    expect(p.opens()).toBe(2);
    expect(p.relay.stats().IcmpEchoRefusedSocket).toBe(0);
    await p.a.ping(DST[4].text, { timeout: 5000 }).catch(() => {});
    expect(p.opens()).toBe(3);
    expect(p.relay.stats()).toMatchObject({ IcmpEchoRequests: 1, IcmpEchoRefusedSocket: 1 });
  });

  it('a send the host refuses maps to the unreachable of that kind; EAGAIN drops', async () => {
    const p = (current = makePair());
    // Open the socket with one echo, answered.
    const first = p.a.ping(DST[4].text, { timeout: 5000 });
    await until(() => (p.sockets[0]?.sent.length ?? 0) === 1);
    p.sockets[0]!.answer(0);
    await first;
    p.sockets[0]!.fail = 'EHOSTUNREACH';
    await expect(p.a.ping(DST[4].text, { timeout: 5000 })).rejects.toMatchObject({ code: 'EHOSTUNREACH' });
    p.sockets[0]!.fail = 'EAGAIN';
    await expect(p.a.ping(DST[4].text, { timeout: 500 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(p.relay.stats()).toMatchObject({ IcmpEchoSendErrors: 2, IcmpEchoRelayed: 1 });
  });

  it('replies from another address, late replies and replies with other data are not relayed (counted)', async () => {
    const p = (current = makePair());
    const r = p.a.ping(DST[4].text, { timeout: 5000 }).then(() => 'ok', (e: Error & { code?: string }) => e.code);
    await until(() => (p.sockets[0]?.sent.length ?? 0) === 1);
    const s = p.sockets[0]!;
    s.answer(0, [192, 0, 2, 99]);
    s.answer(0, undefined, Uint8Array.of(0xff, 0xfe));
    expect(await r).toBe('ETIMEDOUT');
    s.answer(0); // its echo was taken by the corrupt reply
    expect(p.relay.stats()).toMatchObject({ IcmpEchoRepliesUnmatched: 2, IcmpEchoRepliesCorrupt: 1, IcmpEchoReplies: 0 });
  });

  it('bounded: maxOutstanding waiting at once (more dropped, counted); unanswered echoes expire after timeout', async () => {
    const p = (current = makePair({ route: (dst) => ({ relay: dst }), maxOutstanding: 2, timeout: 2000 }));
    const pings = [0, 1, 2].map(() => p.a.ping(DST[4].text, { timeout: 1000 }).catch((e: Error & { code?: string }) => e.code));
    expect(await Promise.all(pings)).toEqual(['ETIMEDOUT', 'ETIMEDOUT', 'ETIMEDOUT']);
    expect(p.relay.stats()).toMatchObject({ IcmpEchoRelayed: 2, IcmpEchoDroppedLimit: 1, IcmpEchoOutstanding: 2 });
    // Virtual time past the relay's timeout: both forgotten, room again.
    const until2 = p.clock.now() + 2000;
    await p.a.ping('10.0.0.2', { timeout: 5000 });
    while (p.clock.now() < until2) await p.a.ping(DST[4].text, { timeout: 500 }).catch(() => {});
    const st = p.relay.stats();
    // Forgotten at their timeout, or earlier to make room once they had waited a second.
    expect(st.IcmpEchoExpired + st.IcmpEchoEvicted).toBeGreaterThanOrEqual(2);
    expect(st.IcmpEchoOutstanding).toBeLessThanOrEqual(2);
  });

  it('at the bound, an echo waiting a second or more gives way to a new one (evicted; its late reply unmatched); a younger one does not', async () => {
    const p = (current = makePair({ route: (dst) => ({ relay: dst }), maxOutstanding: 2, timeout: 10_000 }));
    const t0 = p.clock.now();
    const first = [0, 1].map(() => p.a.ping(DST[4].text, { timeout: 3000 }).catch((e: Error & { code?: string }) => e.code));
    const sent = (): number => p.sockets[0]?.sent.length ?? 0;
    // One echo every 500 ms (virtual time): dropped while the two wait less than a second.
    const tried: number[] = [];
    for (let i = 0; i < 4 && sent() < 3; i++) {
      tried.push(Math.round(p.clock.now() - t0));
      await p.a.ping(DST[4].text, { timeout: 500 }).catch(() => {});
    }
    expect(sent()).toBe(3);
    const s = p.sockets[0]!;
    const st = p.relay.stats();
    // Sent at 0 ms: the echoes at 0 and 500 ms were dropped, the one at 1000 ms took the oldest's place.
    expect(tried).toEqual([0, 500, 1000]);
    expect(st).toMatchObject({ IcmpEchoRelayed: 3, IcmpEchoDroppedLimit: 2, IcmpEchoEvicted: 1, IcmpEchoOutstanding: 2 });
    s.answer(0); // the evicted echo's late reply
    expect(p.relay.stats()).toMatchObject({ IcmpEchoRepliesUnmatched: 1, IcmpEchoReplies: 0 });
    expect(await Promise.all(first)).toEqual(['ETIMEDOUT', 'ETIMEDOUT']);
  });

  it("route 'local' answers at once (the gateway's own addresses); a refusal answers with ICMP", async () => {
    const p = (current = makePair({ route: (dst) => (dst === '10.0.2.2' ? 'local' : { refuse: 'admin-prohibited', why: 'policy' }) }));
    await expect(p.a.ping('10.0.2.2', { timeout: 5000 })).resolves.toMatchObject({ seq: expect.any(Number) });
    await expect(p.a.ping('192.0.2.1', { timeout: 5000 })).rejects.toMatchObject({ code: expect.not.stringMatching(/ETIMEDOUT/) });
    expect(p.relay.stats()).toMatchObject({ IcmpEchoLocal: 1, IcmpEchoRefusedPolicy: 1 });
    expect(p.opens()).toBe(0);
  });

  for (const fam of [4, 6] as const) {
    it(`IPv${fam}: an ICMP error from beyond (time exceeded) reaches A from the router that sent it, and ends the echo`, async () => {
      const p = (current = makePair({ route: (dst) => ({ relay: dst }), hop: { 4: '10.0.0.254', 6: 'fd00::fe' } }));
      const router = fam === 4 ? [198, 51, 100, 1] : [0x20, 1, 0x0d, 0xb8, ...new Array(11).fill(0), 0x01];
      const r = p.a.ping(DST[fam].text, { timeout: 5000 }).then(() => 'ok', (e: Error & { code?: string }) => e.code);
      await until(() => (p.sockets[0]?.sent.length ?? 0) === 1);
      const s = p.sockets[0]!;
      // Relayed with one hop less than A sent (A's default 64).
      expect(s.sent[0]!.ttl).toBe(63);
      s.onError({ type: fam === 4 ? 11 : 3, code: 0, info: 0, errno: 'EHOSTUNREACH', offender: Uint8Array.from(router), message: s.sent[0]!.message.subarray(0, 8) });
      // A's ping fails at once with the error's errno (Linux icmp_err_convert: time exceeded -> EHOSTUNREACH).
      expect(await r).toBe('EHOSTUNREACH');
      const a = p.a.stats();
      expect(fam === 4 ? a.icmp!.InTimeExcds : a.icmp6!.Icmp6InTimeExcds).toBe(1);
      expect(p.relay.stats()).toMatchObject({ IcmpEchoErrors: 1, IcmpEchoOutstanding: 0 });
      // The same error again matches nothing.
      s.onError({ type: fam === 4 ? 11 : 3, code: 0, info: 0, errno: 'EHOSTUNREACH', offender: Uint8Array.from(router), message: s.sent[0]!.message.subarray(0, 8) });
      expect(p.relay.stats().IcmpEchoErrorsUnmatched).toBe(1);
    });
  }
});

