/**
 * The DHCP client (RFC 2131 §4.4) as protocol traces on virtual time against a scripted
 * server: acquisition, a lost offer (retransmission times exact, §4.1), NAK, renewal at T1
 * (unicast), rebinding at T2 (broadcast), expiry (the address removed), a conflict →
 * DECLINE → INIT after 10 s (§3.1.5), RELEASE on close, INIT-REBOOT, and every malformed
 * or foreign reply dropped and counted without effect.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DhcpClient, type DhcpDestination, type DhcpEvent, type DhcpLease } from '../src/dhcp/client.js';
import {
  DHCPACK,
  DHCPDECLINE,
  DHCPDISCOVER,
  DHCPNAK,
  DHCPOFFER,
  DHCPRELEASE,
  DHCPREQUEST,
  emitDhcp,
  parseDhcp,
  type DhcpMessage,
  type DhcpOptions,
} from '../src/dhcp/wire.js';

const MAC = 0x020000000042;
const OTHER_MAC = 0x020000000043;
const SERVER = 0xc0a80001; // 192.168.0.1
const SERVER2 = 0xc0a80002;
const ADDR = 0xc0a80064; // 192.168.0.100
const ADDR2 = 0xc0a80065;
const DNS = 0xc0a80035;
const BCAST = 0xffffffff;

/** Server options; undefined leaves one out. */
type Opts = { [K in keyof DhcpOptions]?: DhcpOptions[K] | undefined };

interface Sent { at: number; m: DhcpMessage; to: DhcpDestination }

/**
 * A client on virtual time. Random: xids count up from 0x1000 (so each exchange's is
 * known); each ± 1 s jitter draw is taken from `jitter` (ms above base - 1 s; 1000 = exact).
 */
class Trace {
  now = 0;
  sent: Sent[] = [];
  applied: [DhcpLease, DhcpLease | undefined][] = [];
  removed: DhcpLease[] = [];
  events: DhcpEvent[] = [];
  jitter: number[] = [];
  nextXid = 0x1000;
  readonly c: DhcpClient;

  constructor(options: { address?: number; initialDelay?: [number, number] } = {}) {
    this.c = new DhcpClient({
      send: (b, to) => {
        const m = parseDhcp(b);
        if (typeof m === 'string') throw new Error(`client sent a malformed message: ${m}`);
        expect(b.length).toBeGreaterThanOrEqual(300);
        this.sent.push({ at: this.now, m, to });
      },
      apply: (l, p) => { this.applied.push([l, p]); },
      remove: (l) => { this.removed.push(l); },
      event: (e) => { this.events.push(e); },
    }, {
      mac: MAC,
      randomInt: (n) => {
        if (n === 0x100000000) return this.nextXid++;
        if (n === 2001) return this.jitter.shift() ?? 1000;
        return 0;
      },
      ...options,
    });
  }

  start(): this { this.c.start(this.now); return this; }

  /** Runs every deadline up to `t` (ms), in order, and stops at `t`. */
  run(t: number): void {
    for (let i = 0; i < 1000 && this.c.pollAt() <= t; i++) {
      this.now = this.c.pollAt();
      this.c.poll(this.now);
    }
    this.now = t;
  }

  last(): Sent { return this.sent.at(-1)!; }
  types(): number[] { return this.sent.map((s) => s.m.options.messageType!); }

  /** The server's reply to `req` (RFC 2131 §4.3.1 shape), as bytes, delivered at `now`. */
  reply(req: DhcpMessage, type: number, o: Opts = {}, fields: Partial<DhcpMessage> = {}): void {
    this.c.input(serverReply(req, type, o, fields), this.now);
  }
}

function serverReply(req: DhcpMessage, type: number, o: Opts = {}, fields: Partial<DhcpMessage> = {}): Uint8Array {
  const options: DhcpOptions = type === DHCPNAK
    ? { messageType: type, serverId: SERVER, message: 'wrong network' }
    : { messageType: type, serverId: SERVER, leaseTime: 3600, subnetMask: 0xffffff00, routers: [SERVER], dnsServers: [DNS, 0x08080808], mtu: 1400 };
  return emitDhcp({
    op: 2, htype: 1, hlen: 6, hops: 0, xid: req.xid, secs: 0, broadcast: req.broadcast,
    ciaddr: req.ciaddr, yiaddr: type === DHCPNAK ? 0 : ADDR, siaddr: 0, giaddr: 0, chaddr: req.chaddr, sname: '', file: '',
    ...fields,
    options: { ...options, ...o } as DhcpOptions,
  });
}

/** A client BOUND at t=0.2 s on ADDR from SERVER (lease 3600 s, the REQUEST sent at 0.1 s). */
function bound(o: Opts = {}): Trace {
  const t = new Trace().start();
  t.now = 100;
  t.reply(t.last().m, DHCPOFFER);
  t.now = 200;
  t.reply(t.last().m, DHCPACK, o);
  expect(t.c.state).toBe('BOUND');
  return t;
}

describe('DHCP client: acquisition (RFC 2131 §4.4.1)', () => {
  it('DISCOVER → OFFER → REQUEST → ACK applies address, mask, router, DNS and MTU', () => {
    const t = new Trace().start();
    expect(t.c.state).toBe('SELECTING');
    const d = t.last();
    expect(d.at).toBe(0);
    expect(d.to).toEqual({ address: BCAST, source: 0 });
    expect(d.m.options.messageType).toBe(DHCPDISCOVER);
    expect(d.m.xid).toBe(0x1000);
    expect(d.m.broadcast).toBe(true);
    expect(d.m.chaddr).toBe(MAC);
    expect(d.m.options.parameterRequestList).toEqual([1, 3, 6, 26, 58, 59]);
    expect(d.m.options.serverId).toBeUndefined(); // Table 5: MUST NOT
    expect(Array.from(d.m.options.clientId!)).toEqual([1, 2, 0, 0, 0, 0, 0x42]);

    t.now = 100;
    t.reply(d.m, DHCPOFFER);
    expect(t.c.state).toBe('REQUESTING');
    const r = t.last().m;
    expect(t.last().to).toEqual({ address: BCAST, source: 0 });
    expect(r.options.messageType).toBe(DHCPREQUEST);
    expect(r.xid).toBe(d.m.xid); // Table 5: the OFFER's xid
    expect(r.secs).toBe(d.m.secs); // §4.4.1: the DISCOVER's secs
    expect([r.ciaddr, r.options.requestedIp, r.options.serverId]).toEqual([0, ADDR, SERVER]);

    t.now = 200;
    t.reply(r, DHCPACK);
    expect(t.c.state).toBe('BOUND');
    expect(t.applied.length).toBe(1);
    const [lease, prev] = t.applied[0]!;
    expect(prev).toBeUndefined();
    expect(lease).toMatchObject({
      address: ADDR, prefixLength: 24, subnetMask: 0xffffff00, gateway: SERVER, routers: [SERVER],
      dnsServers: [DNS, 0x08080808], mtu: 1400, serverId: SERVER, leaseTime: 3600,
      renewalTime: 1800, rebindingTime: 3150, obtainedAt: 100,
    });
    // §4.4.1: the lease counts from when the REQUEST left (0.1 s), not from the ACK.
    expect([lease.renewAt, lease.rebindAt, lease.expiresAt]).toEqual([100 + 1_800_000, 100 + 3_150_000, 100 + 3_600_000]);
    expect(t.events).toEqual([{ type: 'acquired', lease }]);
    expect(t.c.pollAt()).toBe(lease.renewAt);
    expect(t.c.stats()).toMatchObject({ OutDiscovers: 1, OutRequests: 1, InOffers: 1, InAcks: 1, Acquired: 1, Retransmits: 0 });
  });

  it('a lost OFFER: DISCOVER retransmitted after 4, 8, 16, 32, 64, 64 s, each ± 1 s (§4.1), same xid, secs counting', () => {
    const t = new Trace();
    t.jitter = [0, 2000, 1000, 500, 1500, 1000, 0];
    t.start();
    t.run(3000 - 1);
    expect(t.sent.length).toBe(1); // a step before the deadline: nothing
    t.run(300_000);
    const at = t.sent.map((s) => s.at);
    // waits 4-1, 8+1, 16, 32-0.5, 64+0.5, 64, 64-1 s
    expect(at).toEqual([0, 3000, 12_000, 28_000, 59_500, 124_000, 188_000, 251_000]);
    expect(new Set(t.sent.map((s) => s.m.xid))).toEqual(new Set([0x1000]));
    expect(t.sent.map((s) => s.m.secs)).toEqual([0, 3, 12, 28, 59, 124, 188, 251]);
    expect(t.types().every((x) => x === DHCPDISCOVER)).toBe(true);
    expect(t.c.stats().Retransmits).toBe(7);
    // A late OFFER for the exchange still counts.
    t.reply(t.last().m, DHCPOFFER);
    expect(t.c.state).toBe('REQUESTING');
    // The REQUEST repeats the secs of the DISCOVER it answers.
    expect(t.last().m.secs).toBe(251);
  });

  it('a lost ACK: REQUEST retransmitted 4, 8, 16, 32 s apart, then after 64 s back to INIT with a new DISCOVER', () => {
    const t = new Trace().start();
    t.now = 100;
    t.reply(t.last().m, DHCPOFFER);
    t.run(200_000);
    const reqs = t.sent.filter((s) => s.m.options.messageType === DHCPREQUEST).map((s) => s.at);
    expect(reqs).toEqual([100, 4100, 12_100, 28_100, 60_100]);
    const after = t.sent.filter((s) => s.at > 60_100);
    expect(after[0]!.at).toBe(124_100);
    expect(after[0]!.m.options.messageType).toBe(DHCPDISCOVER);
    expect(after[0]!.m.xid).toBe(0x1001); // a new exchange
    expect(t.applied.length).toBe(0);
  });

  it('takes one OFFER: a second one (another server) while REQUESTING is ignored and counted', () => {
    const t = new Trace().start();
    const d = t.last().m;
    t.reply(d, DHCPOFFER);
    t.reply(d, DHCPOFFER, { serverId: SERVER2 }, { yiaddr: ADDR2 });
    expect(t.c.stats().InUnexpected).toBe(1);
    expect(t.last().m.options.serverId).toBe(SERVER);
    // An ACK from the server not chosen is not ours (§3.1 step 3).
    t.reply(t.last().m, DHCPACK, { serverId: SERVER2 }, { yiaddr: ADDR2 });
    expect(t.c.stats().InWrongServer).toBe(1);
    expect(t.c.state).toBe('REQUESTING');
  });

  it('honours options 58/59 when T1 < T2 < lease, and an infinite lease has no timers', () => {
    const t = bound({ renewalTime: 100, rebindingTime: 200, leaseTime: 300 });
    expect(t.c.lease).toMatchObject({ renewAt: 100 + 100_000, rebindAt: 100 + 200_000, expiresAt: 100 + 300_000 });
    const u = bound({ renewalTime: 500, rebindingTime: 400, leaseTime: 300 }); // inconsistent: the defaults
    expect(u.c.lease).toMatchObject({ renewalTime: 150, rebindingTime: 262 });
    const v = bound({ leaseTime: 0xffffffff });
    expect(v.c.pollAt()).toBe(Infinity);
    v.run(10 * 365 * 86_400_000);
    expect(v.c.state).toBe('BOUND');
    expect(v.sent.length).toBe(2);
  });
});

describe('DHCP client: NAK', () => {
  it('a NAK in REQUESTING goes back to INIT and DISCOVERs with a new xid; a second NAK in a row waits 4 s', () => {
    const t = new Trace().start();
    t.reply(t.last().m, DHCPOFFER);
    t.now = 50;
    t.reply(t.last().m, DHCPNAK);
    expect(t.c.state).toBe('SELECTING');
    expect(t.last().m.options.messageType).toBe(DHCPDISCOVER);
    expect(t.last().m.xid).toBe(0x1001);
    expect(t.last().at).toBe(50);
    t.reply(t.last().m, DHCPOFFER);
    t.now = 60;
    t.reply(t.last().m, DHCPNAK);
    expect(t.c.state).toBe('INIT');
    expect(t.c.pollAt()).toBe(4060);
    t.run(4060);
    expect(t.c.state).toBe('SELECTING');
    expect(t.last().at).toBe(4060);
    expect(t.applied.length + t.removed.length).toBe(0);
    expect(t.c.stats().InNaks).toBe(2);
  });

  it('a NAK while RENEWING removes the address (lost, nak) and starts over', () => {
    const t = bound();
    t.run(t.c.lease!.renewAt);
    expect(t.c.state).toBe('RENEWING');
    const lease = t.c.lease!;
    t.reply(t.last().m, DHCPNAK);
    expect(t.removed).toEqual([lease]);
    expect(t.events.at(-1)).toEqual({ type: 'lost', lease, reason: 'nak' });
    expect(t.c.state).toBe('SELECTING');
    expect(t.last().to).toEqual({ address: BCAST, source: 0 });
  });
});

describe('DHCP client: renewal and rebinding (§4.4.5)', () => {
  it('at T1 a REQUEST goes unicast to the server from our address; the ACK renews', () => {
    const t = bound();
    const T1 = t.c.lease!.renewAt;
    t.run(T1 - 1);
    expect(t.sent.length).toBe(2);
    t.run(T1);
    expect(t.c.state).toBe('RENEWING');
    const r = t.last();
    expect(r.at).toBe(T1);
    expect(r.to).toEqual({ address: SERVER, source: ADDR });
    expect(r.m.options.messageType).toBe(DHCPREQUEST);
    expect([r.m.ciaddr, r.m.broadcast, r.m.options.requestedIp, r.m.options.serverId]).toEqual([ADDR, false, undefined, undefined]); // Table 5
    expect(r.m.xid).toBe(0x1001);
    // No answer: again after half the time to T2 (T2 - T1 = 1350 s → 675 s).
    t.run(T1 + 675_000);
    expect(t.sent.length).toBe(4);
    expect(t.last().at).toBe(T1 + 675_000);
    expect(t.last().m.xid).toBe(0x1001);
    t.now += 1000;
    t.reply(t.last().m, DHCPACK);
    expect(t.c.state).toBe('BOUND');
    expect(t.events.at(-1)).toMatchObject({ type: 'renewed' });
    expect(t.applied.length).toBe(1); // nothing changed: nothing re-applied
    // The new lease counts from the renewal's first REQUEST.
    expect(t.c.lease!.obtainedAt).toBe(T1);
    expect(t.c.pollAt()).toBe(T1 + 1_800_000);
  });

  it('a renewal that brings other DNS servers or MTU is a change, applied in place', () => {
    const t = bound();
    t.run(t.c.lease!.renewAt);
    const before = t.c.lease!;
    t.reply(t.last().m, DHCPACK, { dnsServers: [0x01010101], mtu: 1280 });
    expect(t.events.at(-1)).toMatchObject({ type: 'changed', previous: before });
    expect(t.applied.at(-1)![1]).toBe(before);
    expect(t.applied.at(-1)![0]).toMatchObject({ dnsServers: [0x01010101], mtu: 1280 });
    expect(t.removed.length).toBe(0);
  });

  it('at T2 the REQUEST is broadcast (from our address); an ACK from another server with another address replaces the lease', () => {
    const t = bound();
    const lease = t.c.lease!;
    t.run(lease.rebindAt - 1);
    expect(t.c.state).toBe('RENEWING');
    const renewals = t.sent.filter((s) => s.at >= lease.renewAt).map((s) => s.at - lease.renewAt);
    expect(renewals).toEqual([0, 675_000, 1_012_500, 1_181_250, 1_265_625, 1_325_625]); // halves, then 60 s
    t.run(lease.rebindAt);
    expect(t.c.state).toBe('REBINDING');
    const r = t.last();
    expect(r.at).toBe(lease.rebindAt);
    expect(r.to).toEqual({ address: BCAST, source: ADDR });
    expect([r.m.ciaddr, r.m.options.serverId, r.m.options.requestedIp]).toEqual([ADDR, undefined, undefined]);
    expect(r.m.xid).not.toBe(t.sent[t.sent.length - 2]!.m.xid); // a new exchange
    t.reply(r.m, DHCPACK, { serverId: SERVER2 }, { yiaddr: ADDR2 });
    expect(t.c.state).toBe('BOUND');
    expect(t.removed).toEqual([lease]);
    expect(t.applied.at(-1)).toEqual([t.c.lease, undefined]);
    expect(t.c.lease).toMatchObject({ address: ADDR2, serverId: SERVER2 });
    expect(t.events.at(-1)).toMatchObject({ type: 'changed', previous: lease });
  });

  it('at the lease end the address is removed (lost, expired) and the client DISCOVERs again', () => {
    const t = bound();
    const lease = t.c.lease!;
    t.run(lease.expiresAt - 1);
    expect(t.removed.length).toBe(0);
    const rebinds = t.sent.filter((s) => s.at >= lease.rebindAt).map((s) => s.at - lease.rebindAt);
    expect(rebinds).toEqual([0, 225_000, 337_500, 397_500]); // half the time left, at least 60 s
    expect(t.sent.filter((s) => s.at >= lease.rebindAt).every((s) => s.to.address === BCAST)).toBe(true);
    t.run(lease.expiresAt);
    expect(t.removed).toEqual([lease]);
    expect(t.events.at(-1)).toEqual({ type: 'lost', lease, reason: 'expired' });
    expect(t.c.lease).toBeUndefined();
    expect(t.c.state).toBe('SELECTING');
    expect(t.last()).toMatchObject({ at: lease.expiresAt, to: { address: BCAST, source: 0 } });
    expect(t.last().m.options.messageType).toBe(DHCPDISCOVER);
    expect(t.c.stats().Expired).toBe(1);
  });

  it('a poll long after the lease ended still removes the address (deadlines passed in one poll)', () => {
    const t = bound();
    const lease = t.c.lease!;
    t.now = lease.expiresAt + 5_000_000;
    t.c.poll(t.now);
    expect(t.removed).toEqual([lease]);
    expect(t.c.state).toBe('SELECTING');
  });
});

describe('DHCP client: conflict, release, reboot', () => {
  it('a conflict DECLINEs the address, removes it and DISCOVERs again after 10 s (§3.1.5)', () => {
    const t = bound();
    const lease = t.c.lease!;
    t.now = 1000;
    expect(t.c.conflict(ADDR2, t.now)).toBe(false); // not ours
    expect(t.c.stats().ConflictsIgnored).toBe(1);
    expect(t.c.conflict(ADDR, t.now)).toBe(true);
    const d = t.last();
    expect(d.to).toEqual({ address: BCAST, source: 0 });
    expect(d.m.options.messageType).toBe(DHCPDECLINE);
    // Table 5: ciaddr 0, 50 and 54 MUST, 55 / 57 MUST NOT, secs 0.
    expect([d.m.ciaddr, d.m.options.requestedIp, d.m.options.serverId, d.m.options.parameterRequestList, d.m.options.maxMessageSize, d.m.secs])
      .toEqual([0, ADDR, SERVER, undefined, undefined, 0]);
    expect(t.removed).toEqual([lease]);
    expect(t.events.at(-1)).toEqual({ type: 'lost', lease, reason: 'declined' });
    expect(t.c.state).toBe('INIT');
    t.run(10_999);
    expect(t.last()).toBe(d);
    t.run(11_000);
    expect(t.last().m.options.messageType).toBe(DHCPDISCOVER);
    expect(t.last().at).toBe(11_000);
    expect(t.c.conflict(ADDR, t.now)).toBe(false); // no lease any more
  });

  it('close RELEASEs the lease unicast to the server and removes it; then nothing more', () => {
    const t = bound();
    const lease = t.c.lease!;
    t.now = 5000;
    t.c.close(t.now);
    const r = t.last();
    expect(r.to).toEqual({ address: SERVER, source: ADDR });
    expect(r.m.options.messageType).toBe(DHCPRELEASE);
    expect([r.m.ciaddr, r.m.options.serverId, r.m.options.requestedIp]).toEqual([ADDR, SERVER, undefined]);
    expect(t.removed).toEqual([lease]);
    expect(t.events.at(-1)).toEqual({ type: 'lost', lease, reason: 'released' });
    expect(t.c.state).toBe('STOPPED');
    expect(t.c.pollAt()).toBe(Infinity);
    const n = t.sent.length;
    t.reply(r.m, DHCPACK);
    t.run(100_000_000);
    expect(t.sent.length).toBe(n);
    t.c.close(t.now);
    expect(t.sent.length).toBe(n);
  });

  it('close without a lease sends nothing', () => {
    const t = new Trace().start();
    t.c.close(10);
    expect(t.types()).toEqual([DHCPDISCOVER]);
    expect(t.removed.length).toBe(0);
  });

  it('INIT-REBOOT: a remembered address is asked for by a broadcast REQUEST without server id; the ACK binds it', () => {
    const t = new Trace({ address: ADDR }).start();
    expect(t.c.state).toBe('REBOOTING');
    const r = t.last();
    expect(r.to).toEqual({ address: BCAST, source: 0 });
    expect([r.m.options.messageType, r.m.ciaddr, r.m.options.requestedIp, r.m.options.serverId]).toEqual([DHCPREQUEST, 0, ADDR, undefined]);
    t.reply(r.m, DHCPACK, { serverId: SERVER2 });
    expect(t.c.state).toBe('BOUND');
    expect(t.events.map((e) => e.type)).toEqual(['acquired']);
  });

  it('INIT-REBOOT: a NAK, or no answer through the backoff, falls back to DISCOVER', () => {
    const t = new Trace({ address: ADDR }).start();
    t.reply(t.last().m, DHCPNAK);
    expect(t.types()).toEqual([DHCPREQUEST, DHCPDISCOVER]);
    expect(t.removed.length).toBe(0); // the remembered address was never applied
    const u = new Trace({ address: ADDR }).start();
    u.run(124_000 - 1);
    expect(u.types()).toEqual([3, 3, 3, 3, 3]);
    u.run(124_000);
    expect(u.types().at(-1)).toBe(DHCPDISCOVER);
  });

  it('initialDelay waits before the first DISCOVER (RFC 2131 §4.4.1 1-10 s)', () => {
    const t = new Trace({ initialDelay: [1000, 10_000] }).start();
    expect(t.sent.length).toBe(0);
    expect(t.c.state).toBe('INIT');
    expect(t.c.pollAt()).toBe(1000); // the scripted random draws 0 here
    t.run(1000);
    expect(t.types()).toEqual([DHCPDISCOVER]);
  });
});

describe('DHCP client: malformed and foreign replies', () => {
  it('are dropped and counted, each once, changing nothing', () => {
    const t = new Trace().start();
    const d = t.last().m;
    const offer = serverReply(d, DHCPOFFER);
    const inputs: [string, Uint8Array][] = [
      ['InMalformed', Uint8Array.of(1, 2, 3)],
      ['InMalformed', (() => { const b = offer.slice(); b[236] = 0; return b; })()],
      ['InNotReply', emitDhcp({ ...d })], // another client's DISCOVER on the broadcast
      ['InNotDhcp', serverReply(d, DHCPOFFER, { messageType: undefined })],
      ['InChaddrMismatch', serverReply(d, DHCPOFFER, {}, { chaddr: OTHER_MAC })],
      ['InChaddrMismatch', serverReply(d, DHCPOFFER, {}, { htype: 6 })],
      ['InXidMismatch', serverReply(d, DHCPOFFER, {}, { xid: d.xid + 1 })],
      ['InBadReply', serverReply(d, DHCPOFFER, { serverId: undefined })],
      ['InBadReply', serverReply(d, DHCPOFFER, {}, { yiaddr: 0 })],
      ['InBadReply', serverReply(d, DHCPOFFER, {}, { yiaddr: 0xe0000001 })],
      ['InUnexpected', serverReply(d, DHCPACK)],
      ['InUnexpected', serverReply(d, DHCPNAK)],
    ];
    for (const [counter, bytes] of inputs) {
      const before = t.c.stats() as unknown as Record<string, number>;
      t.c.input(bytes, t.now);
      const after = t.c.stats() as unknown as Record<string, number>;
      const moved = Object.keys(after).filter((k) => k !== 'InDatagrams' && after[k] !== before[k]);
      expect(moved, counter).toEqual([counter]);
    }
    expect(t.c.state).toBe('SELECTING');
    expect(t.sent.length).toBe(1);
    expect(t.c.stats().InDatagrams).toBe(inputs.length);

    // ACKs that cannot be used: no lease time, zero lease, a non-contiguous mask, the subnet's broadcast.
    t.c.input(offer, t.now);
    const r = t.last().m;
    for (const [o, f] of [
      [{ leaseTime: undefined }, {}],
      [{ leaseTime: 0 }, {}],
      [{ subnetMask: 0xff00ff00 }, {}],
      [{}, { yiaddr: 0xc0a800ff }],
      [{ serverId: undefined }, {}],
    ] as [Opts, Partial<DhcpMessage>][]) t.reply(r, DHCPACK, o, f);
    expect(t.c.stats().InBadReply).toBe(3 + 5);
    expect(t.c.state).toBe('REQUESTING');
    expect(t.applied.length).toBe(0);
    // Foreign replies while BOUND: the exchange is over, its xid no longer taken.
    t.reply(r, DHCPACK);
    expect(t.c.state).toBe('BOUND');
    t.reply(r, DHCPNAK);
    expect(t.c.state).toBe('BOUND');
    expect(t.c.stats().InXidMismatch).toBe(2);
  });
});

describe('DHCP client: properties against a random server (fast-check)', () => {
  it('a lease is never held past its end, apply/remove stay balanced, no deadline in the past, sending stays bounded', () => {
    type Act = { kind: 'drop' | 'answer' | 'nak' | 'garbage' | 'foreign'; delay: number; lease: number };
    const act = fc.record({
      kind: fc.constantFrom('drop', 'answer', 'answer', 'answer', 'nak', 'garbage', 'foreign'),
      delay: fc.nat(5000),
      lease: fc.integer({ min: 30, max: 900 }),
    }) as fc.Arbitrary<Act>;
    const total: Record<string, number> = {};
    fc.assert(fc.property(fc.array(act, { minLength: 1, maxLength: 60 }), fc.nat(0xffffffff), fc.array(fc.nat(2000), { maxLength: 40 }), (acts, seed, jitter) => {
      const t = new Trace();
      t.jitter = jitter;
      t.nextXid = seed;
      const pending: { at: number; bytes: Uint8Array }[] = [];
      let i = 0;
      let seen = 0;
      const HORIZON = 4 * 3600_000;
      const onSent = (): void => {
        for (; seen < t.sent.length; seen++) {
          const s = t.sent[seen]!;
          const a = acts[i++ % acts.length]!;
          const type = s.m.options.messageType;
          if (a.kind === 'drop' || type === DHCPDECLINE || type === DHCPRELEASE) continue;
          const at = s.at + a.delay;
          let bytes: Uint8Array;
          if (a.kind === 'garbage') bytes = Uint8Array.of(2, 1, 6, 0, ...new Array(40).fill(a.delay & 255));
          else if (a.kind === 'foreign') bytes = serverReply(s.m, type === DHCPDISCOVER ? DHCPOFFER : DHCPACK, {}, { xid: (s.m.xid + 1) >>> 0 });
          else if (a.kind === 'nak' && type === DHCPREQUEST) bytes = serverReply(s.m, DHCPNAK);
          else bytes = serverReply(s.m, type === DHCPDISCOVER ? DHCPOFFER : DHCPACK, { leaseTime: a.lease }, s.m.ciaddr !== 0 ? { yiaddr: s.m.ciaddr } : {});
          if (pending.length < 64) pending.push({ at, bytes }); // the scripted network's own bound
        }
      };
      const c = t.c;
      t.start();
      onSent();
      for (let step = 0; step < 5000; step++) {
        pending.sort((x, y) => x.at - y.at);
        const next = Math.min(c.pollAt(), pending[0]?.at ?? Infinity);
        if (next > HORIZON) break;
        t.now = Math.max(t.now, next);
        if (pending[0] !== undefined && pending[0].at <= t.now) c.input(pending.shift()!.bytes, t.now);
        c.poll(t.now);
        onSent();
        // Invariants (plain checks: expect() per step is too slow for thousands of steps).
        if (!(c.pollAt() > t.now)) throw new Error(`deadline ${c.pollAt()} not after now ${t.now} in ${c.state}`);
        const lease = c.lease;
        if (lease !== undefined && !(t.now < lease.expiresAt)) throw new Error(`lease held at ${t.now}, past its end ${lease.expiresAt}`);
        let applied = 0;
        for (const [, p] of t.applied) if (p === undefined) applied++;
        if (applied - t.removed.length !== (lease === undefined ? 0 : 1)) throw new Error(`applied ${applied} removed ${t.removed.length} lease ${lease !== undefined}`);
      }
      // Bounded sending: at most 12 messages in any 10 s.
      const at = t.sent.map((s) => s.at);
      for (let k = 12; k < at.length; k++) expect(at[k]! - at[k - 12]!).toBeGreaterThanOrEqual(10_000);
      for (const [k, v] of Object.entries(c.stats())) total[k] = (total[k] ?? 0) + v;
    }), { numRuns: 120 });
    // The runs went through every path the invariants are about.
    for (const k of ['Acquired', 'Renewed', 'Expired', 'InNaks', 'InMalformed', 'InXidMismatch', 'Retransmits']) expect(total[k], k).toBeGreaterThan(0);
  }, 60_000);
});

describe('DHCP client: a hostile server (session 23 HT)', () => {
  it('a server that answers every REQUEST at once with a 1 s lease is not answered at network speed', () => {
    const t = bound({ leaseTime: 1 });
    // The server: every message answered at once (OFFER to DISCOVER, ACK with a 1 s lease to REQUEST).
    let seen = t.sent.length;
    for (let step = 0; step < 20_000 && t.now < 60_000; step++) {
      t.now = Math.max(t.now, Math.min(t.c.pollAt(), 60_000));
      if (t.c.pollAt() <= t.now) t.c.poll(t.now);
      for (; seen < t.sent.length; seen++) {
        const s = t.sent[seen]!;
        const type = s.m.options.messageType;
        if (type === DHCPDISCOVER) t.reply(s.m, DHCPOFFER, { leaseTime: 1 });
        else if (type === DHCPREQUEST) t.reply(s.m, DHCPACK, { leaseTime: 1 }, s.m.ciaddr !== 0 ? { yiaddr: s.m.ciaddr } : {});
      }
    }
    // Taken as 20 s (T1 10 s): one REQUEST per 10 s (was one per ms, 40 000 messages by 20 s).
    expect(t.now).toBe(60_000);
    const requests = t.sent.filter((s) => s.at > 200);
    expect(requests.map((s) => s.at)).toEqual([10_100, 20_100, 30_100, 40_100, 50_100]);
    for (const s of requests) expect(s.m.options.messageType).toBe(DHCPREQUEST);
    expect(t.c.lease?.leaseTime).toBe(20);
    expect(t.c.stats().ShortLeases).toBe(6);
    expect(t.removed).toEqual([]);
  });

  it('a station that answers every ARP probe (each lease declined): after 10 conflicts, one new address per 60 s (RFC 5227 §2.1.1)', () => {
    const t = bound();
    const discovers: number[] = [];
    let seen = t.sent.length;
    for (let round = 0; round < 14; round++) {
      // The probe of the lease just applied finds it taken.
      expect(t.c.conflict(ADDR, t.now)).toBe(true);
      // The next DISCOVER, answered at once; the ACK binds the next lease (to be probed again).
      t.run(t.c.pollAt());
      for (; seen < t.sent.length; seen++) {
        const s = t.sent[seen]!;
        if (s.m.options.messageType === DHCPDISCOVER) { discovers.push(s.at); t.reply(s.m, DHCPOFFER); }
      }
      t.reply(t.last().m, DHCPACK);
      seen = t.sent.length;
      expect(t.c.state).toBe('BOUND');
    }
    const gaps = discovers.map((at, i) => at - (i === 0 ? 200 : discovers[i - 1]!));
    // MAX_CONFLICTS (10): the first 9 DISCOVERs 10 s after their DECLINE (§3.1.5), then RATE_LIMIT_INTERVAL (60 s).
    expect(gaps).toEqual([...new Array(9).fill(10_000), ...new Array(5).fill(60_000)]);
    expect(t.c.stats().Declined).toBe(14);
  });

  it('an MTU option below 576 (RFC 2132 allows 68) is ignored; 576 is taken', () => {
    expect(bound({ mtu: 68 }).c.lease!.mtu).toBeUndefined();
    expect(bound({ mtu: 575 }).c.lease!.mtu).toBeUndefined();
    expect(bound({ mtu: 576 }).c.lease!.mtu).toBe(576);
  });
});
