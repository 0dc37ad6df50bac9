/**
 * createStack({ link: EthernetInterface, address: 'dhcp' }) on an in-memory segment (a
 * LearningSwitch), on virtual time, against a scripted DHCP server: the lease reaches the
 * IPv4 layer only after its RFC 5227 probe, with router, DNS servers and MTU applied (a peer
 * stack connects over TCP to the leased address); renewal at T1 ('lease' renewed); a server
 * gone → the lease expires at its end ('leaseLost' expired, the address, MTU and DNS gone);
 * an ARP conflict while probing → DECLINE and another address; RELEASE on close(); the
 * argument errors. Every wait is bounded virtual time or an event; the loop pumps the switch,
 * lets Node run the stack's ticks, and fires the virtual timers.
 */
import { describe, expect, it } from 'vitest';
import { VirtualClock, realTimeScheduler, type Scheduler } from '@netstack/common';
import { EthernetInterface, LearningSwitch } from '@netstack/ethernet';
import { PROTO_UDP, emitIpv4, emptyIpv4Repr, parseAddress, parseIpv4 } from '@netstack/ip';
import { UdpPacket, parseUdp } from '@netstack/udp';
import { createStack, createLinkPair, type Stack } from '@netstack/netstack';
import {
  DHCPACK, DHCPDECLINE, DHCPDISCOVER, DHCPOFFER, DHCPRELEASE, DHCPREQUEST, emitDhcp, parseDhcp, type DhcpMessage,
} from '../packages/netstack/src/dhcp/wire.js';

const ip = (s: string): number => parseAddress(s)!;
const SERVER = ip('10.7.0.1');

/** A scripted server on its own interface: offers `pool` in order skipping declined addresses; `answering` false: silent. */
class Server {
  readonly eth: EthernetInterface;
  readonly seen: { at: number; type: number; src: number; dst: number; m: DhcpMessage }[] = [];
  readonly declined = new Set<number>();
  answering = true;
  /** An address to ACK a renewal with instead of the one held (the server moved the client). */
  moveTo: number | undefined;
  constructor(readonly clock: Scheduler, sw: LearningSwitch, readonly pool: number[], readonly leaseTime = 600) {
    this.eth = new EthernetInterface({ link: sw.port(), mac: '02:00:00:00:00:01', clock, ipv4: { address: SERVER, prefixLength: 24 } });
    this.eth.setReceiver({ packet: (p) => this.packet(p) });
  }

  types(): number[] { return this.seen.map((s) => s.type); }

  private packet(p: Uint8Array): void {
    const r = parseIpv4(p);
    if (typeof r === 'string' || r.protocol !== PROTO_UDP) return;
    const u = parseUdp(new UdpPacket(p.subarray(r.headerLength, r.totalLength)), r.src, r.dst);
    if (typeof u === 'string' || u.dstPort !== 67) return;
    const m = parseDhcp(u.payload);
    if (typeof m === 'string') return;
    const type = m.options.messageType!;
    this.seen.push({ at: this.clock.now(), type, src: r.src, dst: r.dst, m });
    if (type === DHCPDECLINE) { this.declined.add(m.options.requestedIp!); return; }
    if (!this.answering) return;
    const offer = this.pool.find((a) => !this.declined.has(a))!;
    if (type === DHCPDISCOVER) this.reply(m, DHCPOFFER, offer);
    else if (type === DHCPREQUEST) this.reply(m, DHCPACK, m.ciaddr !== 0 ? this.moveTo ?? m.ciaddr : m.options.requestedIp!);
  }

  private reply(req: DhcpMessage, type: number, yiaddr: number): void {
    const body = emitDhcp({
      op: 2, htype: 1, hlen: 6, hops: 0, xid: req.xid, secs: 0, broadcast: req.broadcast, ciaddr: req.ciaddr, yiaddr,
      siaddr: 0, giaddr: 0, chaddr: req.chaddr, sname: '', file: '',
      options: { messageType: type, serverId: SERVER, leaseTime: this.leaseTime, subnetMask: 0xffffff00, routers: [SERVER], dnsServers: [SERVER, ip('10.7.0.53')], mtu: 1400 },
    });
    const dst = req.ciaddr !== 0 ? req.ciaddr : 0xffffffff;
    const r = emptyIpv4Repr();
    Object.assign(r, { src: SERVER, dst, protocol: PROTO_UDP, ttl: 64, payloadLength: 8 + body.length, totalLength: 28 + body.length });
    const out = new Uint8Array(r.totalLength);
    emitIpv4(r, out, 0);
    const u = new UdpPacket(out.subarray(20));
    u.srcPort = 67; u.dstPort = 68; u.length = 8 + body.length;
    out.set(body, 28);
    u.fillChecksum(SERVER, dst);
    this.eth.send(out);
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

async function segment(options: { intruder?: string; dns?: string[]; leaseTime?: number; silent?: boolean; delays?: number[] } = {}) {
  const clock = new VirtualClock();
  // `delays`: every timer delay the DHCP stack asks its clock for.
  const delays = options.delays;
  const stackClock: Scheduler = delays === undefined ? clock : {
    now: () => clock.now(),
    setTimer: (fn, ms) => { delays.push(ms); return clock.setTimer(fn, ms); },
    cancel: (h) => clock.cancel(h),
  };
  const sw = new LearningSwitch({ autoDeliver: false, clock });
  const server = new Server(clock, sw, [ip('10.7.0.50'), ip('10.7.0.51')], options.leaseTime);
  server.answering = options.silent !== true;
  if (options.intruder !== undefined) new EthernetInterface({ link: sw.port(), mac: '02:00:00:00:00:0e', clock, ipv4: { address: options.intruder, prefixLength: 24 } });
  const peerEth = new EthernetInterface({ link: sw.port(), mac: '02:00:00:00:00:09', clock, ipv4: { address: '10.7.0.9', prefixLength: 24 } });
  const peer = await createStack({ link: peerEth, address: '10.7.0.9', prefixLength: 24, clock });
  const eth = new EthernetInterface({ link: sw.port(), mac: '02:00:00:00:00:0c', clock });
  const events: { name: string; e: Record<string, unknown> }[] = [];
  /** Runs `ms` of virtual time: frames delivered, Node's ticks run (the stacks' events), timers fired in order. */
  const run = async (ms: number): Promise<void> => {
    const target = clock.now() + ms;
    for (let guard = 0; guard < 20_000; guard++) {
      for (let i = 0; i < 100; i++) { const n = sw.pump(); await tick(); if (n === 0) break; }
      const at = clock.nextAt();
      if (at > target) break;
      clock.fireDue();
    }
    clock.advanceTo(target);
    await tick();
  };
  const stack = await createStack({ link: eth, address: 'dhcp', clock: stackClock, ...(options.dns !== undefined ? { dns: options.dns } : {}) });
  stack.on('lease', (e) => events.push({ name: 'lease', e: e as unknown as Record<string, unknown> }));
  stack.on('leaseLost', (e) => events.push({ name: 'leaseLost', e: e as unknown as Record<string, unknown> }));
  await run(0);
  return { clock, sw, server, peer, stack, eth, events, run };
}

/** close() may wait (bounded) for the RELEASE's ARP: virtual time must move meanwhile. */
async function close(run: (ms: number) => Promise<void>, ...stacks: Stack[]): Promise<void> {
  for (const s of stacks) {
    const closing = s.close();
    await run(1100);
    await closing;
  }
}

describe("createStack({ address: 'dhcp' }) over Ethernet", () => {
  it('binds the lease after the probe: address, router, DNS, MTU applied; a peer reaches it over TCP', { timeout: 30_000 }, async () => {
    const { server, peer, stack, eth, events, run } = await segment();
    let got: string | undefined;
    void stack.whenAddress().then((a) => { got = a; });
    expect(stack.addresses4).toEqual([]);
    expect(stack.address).toBe('0.0.0.0');
    await run(1000);
    // Offered and ACKed at once; the address is still being probed: not in the IP layer yet (RFC 5227).
    expect(server.types()).toEqual([DHCPDISCOVER, DHCPREQUEST]);
    expect(eth.addressState('10.7.0.50')).toBe('probing');
    expect(stack.ip.addresses).toEqual([]);
    expect(got).toBeUndefined();
    await run(10_000);
    expect(got).toBe('10.7.0.50');
    expect(stack.address).toBe('10.7.0.50');
    expect(stack.ip.gateway).toBe(SERVER);
    expect(stack.linkInfo().mtu).toBe(1400);
    expect(eth.mtu).toBe(1400);
    expect(stack.dns.getServers()).toEqual(['10.7.0.1', '10.7.0.53']);
    expect(events.map((x) => [x.name, x.e.type])).toEqual([['lease', 'acquired']]);
    expect(stack.lease).toMatchObject({ address: '10.7.0.50', prefixLength: 24, subnetMask: '255.255.255.0', gateway: '10.7.0.1', dns: ['10.7.0.1', '10.7.0.53'], mtu: 1400, server: '10.7.0.1', leaseTime: 600 });
    expect(stack.stats().dhcp).toMatchObject({ Acquired: 1, Applied: 1, InReplies: 2, ProbeConflicts: 0 });

    // The leased address carries TCP from a peer on the segment.
    const srv = stack.tcp.createServer((s) => s.pipe(s)).listen(7);
    await run(0);
    const conn = peer.tcp.connect({ host: '10.7.0.50', port: 7 });
    const chunks: Buffer[] = [];
    conn.on('data', (c: Buffer) => chunks.push(c));
    conn.end(Buffer.from('over the lease'));
    await run(1000);
    expect(Buffer.concat(chunks).toString()).toBe('over the lease');
    srv.close();
    await close(run, stack, peer);
  });

  it('renews at T1 (unicast REQUEST), and a lease no server extends ends at its expiry: leaseLost, address, MTU and DNS gone', { timeout: 30_000 }, async () => {
    const { clock, server, stack, eth, events, run } = await segment();
    await run(11_000);
    const lease = stack.lease!;
    const t1 = lease.renewAt.getTime() - Date.now();
    await run(t1 + 1000);
    const renew = server.seen.at(-1)!;
    expect([renew.type, renew.src, renew.dst]).toEqual([DHCPREQUEST, ip('10.7.0.50'), SERVER]);
    expect(events.map((x) => [x.name, x.e.type])).toEqual([['lease', 'acquired'], ['lease', 'renewed']]);
    // The server goes silent: RENEWING, REBINDING, then the end of the lease, not one second later.
    server.answering = false;
    const renewedAt = clock.now();
    await run(599_000 - 2000);
    expect(stack.address).toBe('10.7.0.50');
    await run(4000);
    expect(clock.now() - renewedAt).toBeLessThan(602_000);
    expect(events.at(-1)).toEqual({ name: 'leaseLost', e: { address: '10.7.0.50', reason: 'expired' } });
    expect(stack.ip.addresses).toEqual([]);
    expect(stack.lease).toBeUndefined();
    expect(eth.mtu).toBe(1500);
    expect(stack.dns.getServers()).toEqual([]);
    expect(eth.addressState('10.7.0.50')).toBeUndefined();
    expect(server.types().at(-1)).toBe(DHCPDISCOVER); // looking for a new lease
    await close(run, stack);
  });

  it('a renewal ACKed with another address: the old one leaves at once, the new one is probed, then \'lease\' changed', { timeout: 30_000 }, async () => {
    const { server, stack, events, run } = await segment();
    await run(11_000);
    server.moveTo = ip('10.7.0.51');
    await run(stack.lease!.renewAt.getTime() - Date.now() + 500);
    expect(stack.ip.addresses).toEqual([]); // 10.7.0.50 gone, 10.7.0.51 still probing
    await run(10_000);
    expect(stack.address).toBe('10.7.0.51');
    expect(events.map((x) => [x.name, x.e.type, x.e.address])).toEqual([['lease', 'acquired', '10.7.0.50'], ['lease', 'changed', '10.7.0.51']]);
    expect(stack.stats().dhcp).toMatchObject({ Changed: 1, Applied: 2, Removed: 1 });
    await close(run, stack);
  });

  it('an ARP conflict while probing: DECLINE, 10 s, another address; no lease event for the one in use', { timeout: 30_000 }, async () => {
    const { server, stack, events, run } = await segment({ intruder: '10.7.0.50' });
    await run(30_000);
    expect(server.types()).toContain(DHCPDECLINE);
    expect(stack.address).toBe('10.7.0.51');
    expect(events.map((x) => [x.name, x.e.address])).toEqual([['lease', '10.7.0.51']]);
    expect(stack.stats().dhcp).toMatchObject({ ProbeConflicts: 1, OutDeclines: 1, Applied: 1 });
    await close(run, stack);
  });

  it('close() RELEASEs the lease, unicast to the server from the leased address', { timeout: 30_000 }, async () => {
    const { server, stack, events, run } = await segment();
    await run(11_000);
    // The server's MAC is not known yet (nothing unicast went to it): the RELEASE waits for ARP, close() for it.
    const closing = stack.close();
    await run(100);
    await closing;
    const rel = server.seen.at(-1)!;
    expect([rel.type, rel.src, rel.dst, rel.m.ciaddr]).toEqual([DHCPRELEASE, ip('10.7.0.50'), SERVER, ip('10.7.0.50')]);
    expect(events.at(-1)).toEqual({ name: 'leaseLost', e: { address: '10.7.0.50', reason: 'released' } });
    await expect(stack.whenAddress()).rejects.toMatchObject({ code: 'ERR_STACK_CLOSED' });
  });

  it('on the real clock, close() holds the process while its RELEASE waits for the server\'s MAC (an await close() that Node would leave unsettled, exit 13)', { timeout: 30_000 }, async () => {
    const sw = new LearningSwitch(); // frames delivered on the next setImmediate
    const server = new Server(realTimeScheduler, sw, [ip('10.7.0.50')]);
    const eth = new EthernetInterface({ link: sw.port(), mac: '02:00:00:00:00:0c' });
    const stack = await createStack({ link: eth, address: 'dhcp', dhcp: { probe: false } });
    expect(await stack.whenAddress({ timeout: 10_000 })).toBe('10.7.0.50');
    // What keeps Node's event loop alive (ref'd handles and timers; the stack's own timer is unref'd).
    const alive = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const idle = alive(); // the stack holds nothing now: no socket, no pending call
    const closing = stack.close();
    // Nothing went unicast to the server yet: the RELEASE waits for ARP, and the process must
    // stay alive for it (a program whose last act is `await stack.close()` holds nothing else).
    expect(server.types().at(-1)).toBe(DHCPREQUEST);
    expect(alive()).toBe(idle + 1);
    await closing;
    expect(server.types().at(-1)).toBe(DHCPRELEASE);
    expect(alive()).toBeLessThanOrEqual(idle); // the hold is given back (the runner's own timers may have ended meanwhile)
  });

  it('servers named by the user win over the lease\'s; whenAddress times out on virtual time', { timeout: 30_000 }, async () => {
    const { server, stack, run } = await segment({ dns: ['10.7.0.99'], silent: true });
    const p = stack.whenAddress({ timeout: 5000 }).then(() => 'bound', (e: NodeJS.ErrnoException) => e.code);
    await run(6000);
    expect(await p).toBe('ETIMEDOUT');
    server.answering = true;
    await run(80_000); // the next DISCOVER (64 s backoff at most) and the probe
    expect(stack.address).toBe('10.7.0.50');
    expect(stack.dns.getServers()).toEqual(['10.7.0.99']);
    stack.dns.setServers(['10.7.0.98:5353']);
    expect(stack.dns.getServers()).toEqual(['10.7.0.98:5353']);
    await close(run, stack);
  });
});

describe("address 'dhcp': argument errors", () => {
  it('needs an Ethernet segment, no static IPv4, no gateway; dhcp options need it', async () => {
    const { a } = createLinkPair({ mtu: 1500 });
    await expect(createStack({ link: a, address: 'dhcp' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', option: 'address', message: expect.stringMatching(/options\.tap/) });
    await expect(createStack({ tun: {}, address: 'dhcp' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', option: 'address' });
    const eth = new EthernetInterface({ link: new LearningSwitch().port(), clock: new VirtualClock() });
    await expect(createStack({ link: eth, address: ['dhcp', '10.7.0.2'] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', option: 'address' });
    await expect(createStack({ link: eth, address: ['dhcp', 'dhcp'] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', option: 'address' });
    await expect(createStack({ link: eth, address: 'dhcp', gateway: '10.7.0.1' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', option: 'gateway' });
    await expect(createStack({ link: eth, address: 'dhcp', dhcp: { address: 'nope' } })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', option: 'dhcp.address' });
    await expect(createStack({ link: eth, address: '10.7.0.2', dhcp: {} })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', option: 'dhcp' });
    const { a: b } = createLinkPair({ mtu: 1500 });
    const s = await createStack({ link: b, address: '10.7.0.2' });
    await expect(s.whenAddress()).resolves.toBe('10.7.0.2');
    await s.close();
  });

  it('a 60-day lease (T1 30 days): the stack never asks for a timer past 2^31 - 1 ms (Node would take it as 1 ms)', { timeout: 30_000 }, async () => {
    const delays: number[] = [];
    const { stack, peer, run } = await segment({ leaseTime: 60 * 86400, delays });
    await run(10_000);
    expect(stack.lease?.leaseTime).toBe(60 * 86400);
    expect(Math.max(...delays)).toBeLessThanOrEqual(2 ** 31 - 1);
    const armed = delays.length;
    await run(2 ** 31);
    // Woken once or twice on the way to T1 at most, not every millisecond.
    expect(delays.length - armed).toBeLessThanOrEqual(4);
    expect(stack.lease?.leaseTime).toBe(60 * 86400);
    await close(run, stack, peer);
  });
});
