/**
 * The DHCP client over @netstack/ethernet, glued as createStack({ tap, address: 'dhcp' })
 * will need it (see packages/netstack/src/dhcp/README.md, "Wiring"), on virtual time through
 * a LearningSwitch: an address-less EthernetInterface sends the client's packets
 * (src/dhcp/frame.ts) and hands UDP 67 → 68 to the client before anything else; a lease is
 * applied with an RFC 5227 probe (`configureIpv4({ probe: true })`) and a probe conflict
 * calls `client.conflict`, which DECLINEs. A scripted server on a second interface
 * answers DISCOVER and REQUEST.
 *
 * Proven (each can fail): acquisition end to end at layer 2 with the address probed and
 * then bound; the renewal at T1 goes unicast to the server's MAC (ARP resolved from the leased
 * address); a third host already using the offered address makes the probe fail → DECLINE
 * reaches the server → 10 s later a new DISCOVER, another address, bound.
 */
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '@netstack/common';
import { EthernetInterface, LearningSwitch, parseMac } from '@netstack/ethernet';
import { PROTO_UDP, emitIpv4, emptyIpv4Repr, parseAddress, parseIpv4 } from '@netstack/ip';
import { UdpPacket, parseUdp } from '@netstack/udp';
import { DhcpClient, type DhcpEvent } from '../packages/netstack/src/dhcp/client.js';
import { dhcpClientPacket, dhcpServerPayload } from '../packages/netstack/src/dhcp/frame.js';
import { DHCPACK, DHCPDECLINE, DHCPDISCOVER, DHCPOFFER, DHCPREQUEST, emitDhcp, parseDhcp, type DhcpMessage } from '../packages/netstack/src/dhcp/wire.js';

const ip = (s: string): number => parseAddress(s)!;
const SERVER = ip('10.7.0.1');
const CLIENT_MAC = parseMac('02:00:00:00:00:0c')!;

/** A scripted server: offers `pool` in order, skipping declined addresses; records what it saw. */
class Server {
  readonly eth: EthernetInterface;
  readonly seen: { at: number; type: number; m: DhcpMessage; src: number; dst: number }[] = [];
  readonly declined = new Set<number>();
  constructor(readonly clock: VirtualClock, sw: LearningSwitch, readonly pool: number[]) {
    this.eth = new EthernetInterface({ link: sw.port(), mac: '02:00:00:00:00:01', clock, ipv4: { address: SERVER, prefixLength: 24 } });
    this.eth.setReceiver({ packet: (p) => this.packet(p) });
  }

  private packet(p: Uint8Array): void {
    const r = parseIpv4(p);
    if (typeof r === 'string' || r.protocol !== PROTO_UDP) return;
    const u = parseUdp(new UdpPacket(p.subarray(r.headerLength, r.totalLength)), r.src, r.dst);
    if (typeof u === 'string' || u.dstPort !== 67) return;
    const m = parseDhcp(u.payload);
    if (typeof m === 'string') return;
    const type = m.options.messageType!;
    this.seen.push({ at: this.clock.now(), type, m, src: r.src, dst: r.dst });
    if (type === DHCPDECLINE) { this.declined.add(m.options.requestedIp!); return; }
    const offer = this.pool.find((a) => !this.declined.has(a))!;
    if (type === DHCPDISCOVER) this.reply(m, DHCPOFFER, offer);
    else if (type === DHCPREQUEST) this.reply(m, DHCPACK, m.ciaddr !== 0 ? m.ciaddr : m.options.requestedIp!);
  }

  /** RFC 2131 §4.1: the BROADCAST flag set → to 255.255.255.255; a client with an address → to ciaddr. */
  private reply(req: DhcpMessage, type: number, yiaddr: number): void {
    const body = emitDhcp({
      op: 2, htype: 1, hlen: 6, hops: 0, xid: req.xid, secs: 0, broadcast: req.broadcast, ciaddr: req.ciaddr, yiaddr,
      siaddr: 0, giaddr: 0, chaddr: req.chaddr, sname: '', file: '',
      options: { messageType: type, serverId: SERVER, leaseTime: 600, subnetMask: 0xffffff00, routers: [SERVER], dnsServers: [SERVER], mtu: 1400 },
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

/** The glue createStack will need, in miniature (no IP layer: the test looks at the interface). */
class DhcpHost {
  readonly eth: EthernetInterface;
  readonly client: DhcpClient;
  readonly events: DhcpEvent[] = [];
  readonly conflicts: number[] = [];
  notDhcp = 0;
  constructor(readonly clock: VirtualClock, sw: LearningSwitch) {
    this.eth = new EthernetInterface({
      link: sw.port(), mac: CLIENT_MAC, clock, random: () => 0.5,
      onConflict: (c, now) => { this.conflicts.push(c.address); if (c.phase === 'probe') this.client.conflict(c.address, now); },
    });
    let x = 0x2000;
    this.client = new DhcpClient({
      send: (bytes, to) => { this.eth.send(dhcpClientPacket(bytes, to)); },
      apply: (l) => { this.eth.configureIpv4({ address: l.address, prefixLength: l.prefixLength, ...(l.gateway !== undefined ? { gateway: l.gateway } : {}), probe: true }); },
      remove: (l) => { this.eth.removeAddress(l.address); },
      event: (e) => { this.events.push(e); },
    }, { mac: CLIENT_MAC, randomInt: (n) => (n === 2001 ? 1000 : n === 0x100000000 ? x++ : 0) });
    // DHCP first (UDP 67 → 68, whatever the destination), the IP layer would get the rest.
    this.eth.setReceiver({ packet: (p) => { const m = dhcpServerPayload(p); if (typeof m === 'string') this.notDhcp++; else this.client.input(m, this.clock.now()); } });
  }
}

function segment(intruder?: number) {
  const clock = new VirtualClock();
  const sw = new LearningSwitch({ autoDeliver: false, clock });
  const server = new Server(clock, sw, [ip('10.7.0.50'), ip('10.7.0.51')]);
  const other = intruder === undefined ? undefined
    : new EthernetInterface({ link: sw.port(), mac: '02:00:00:00:00:0e', clock, ipv4: { address: intruder, prefixLength: 24 } });
  const host = new DhcpHost(clock, sw);
  const run = (ms: number): void => {
    const target = clock.now() + ms;
    for (let guard = 0; guard < 100_000; guard++) {
      for (let i = 0; i < 1000 && sw.pump() > 0; i++);
      const at = Math.min(clock.nextAt(), host.client.pollAt());
      if (at > target) break;
      if (clock.nextAt() <= at) clock.fireDue();
      else clock.advanceTo(at);
      host.client.poll(clock.now());
    }
    clock.advanceTo(target);
  };
  run(5000); // the server's (and intruder's) announcements settle
  return { clock, sw, server, other, host, run };
}

describe('DHCP client over Ethernet (the wiring createStack will need)', () => {
  it('acquires at layer 2 with an RFC 5227 probe, then renews unicast to the server at T1', () => {
    const { clock, server, host, run } = segment();
    host.client.start(clock.now());
    run(1000);
    expect(host.events.map((e) => e.type)).toEqual(['acquired']);
    const lease = host.client.lease!;
    expect(lease).toMatchObject({ address: ip('10.7.0.50'), prefixLength: 24, gateway: SERVER, dnsServers: [SERVER], mtu: 1400 });
    expect(server.seen.map((s) => [s.type, s.src, s.dst])).toEqual([[DHCPDISCOVER, 0, 0xffffffff], [DHCPREQUEST, 0, 0xffffffff]]);
    expect(host.eth.addressState(lease.address)).toBe('probing');
    run(10_000); // RFC 5227: probes, then bound
    expect(host.eth.addressState(lease.address)).toBe('bound');
    run(lease.renewAt - clock.now());
    const renew = server.seen.at(-1)!;
    expect([renew.type, renew.src, renew.dst, renew.m.ciaddr]).toEqual([DHCPREQUEST, lease.address, SERVER, lease.address]);
    expect(host.eth.neighbours.get(SERVER)?.mac).toBe(parseMac('02:00:00:00:00:01')); // resolved by ARP from the lease
    run(100);
    expect(host.events.map((e) => e.type)).toEqual(['acquired', 'renewed']);
    expect(host.client.state).toBe('BOUND');
  });

  it('a host already on the offered address: the probe fails → DECLINE → 10 s later another address, bound', () => {
    const { clock, server, host, run } = segment(ip('10.7.0.50'));
    host.client.start(clock.now());
    run(10_000);
    expect(host.conflicts).toEqual([ip('10.7.0.50')]);
    const decline = server.seen.find((s) => s.type === DHCPDECLINE)!;
    expect(decline.m.options.requestedIp).toBe(ip('10.7.0.50'));
    expect(decline.src).toBe(0);
    expect(host.events.map((e) => e.type)).toEqual(['acquired', 'lost']);
    expect(host.eth.addressState(ip('10.7.0.50'))).toBeUndefined();
    const declinedAt = server.seen.indexOf(decline);
    run(20_000);
    const after = server.seen.slice(declinedAt + 1);
    expect(after.map((s) => s.type)).toEqual([DHCPDISCOVER, DHCPREQUEST]);
    expect(after[0]!.at).toBe(decline.at + 10_000); // RFC 2131 §3.1.5
    expect(host.client.lease?.address).toBe(ip('10.7.0.51'));
    expect(host.eth.addressState(ip('10.7.0.51'))).toBe('bound');
    expect(host.events.map((e) => e.type)).toEqual(['acquired', 'lost', 'acquired']);
  });
});
