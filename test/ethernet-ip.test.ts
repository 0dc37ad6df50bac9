/**
 * IP over Ethernet without the IP layer knowing: @netstack/ip's Ipv4Layer (with icmp and
 * udp, as the packages' own tests build them) over EthernetInterface, three hosts on one
 * LearningSwitch, on virtual time. Ping and UDP both ways, ARP on the way; a host that
 * does not exist gives EHOSTUNREACH to the ping that waited for it.
 */
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '@netstack/common';
import { EthernetInterface, LearningSwitch, hostUnreachableError, parseMac } from '@netstack/ethernet';
import { IcmpLayer, type PingError, type PingResult } from '@netstack/icmp';
import { Ipv4Layer, parseAddress } from '@netstack/ip';
import { UdpLayer, type UdpEndpoint } from '@netstack/udp';

const ip = (s: string): number => parseAddress(s)!;

class Host {
  readonly eth: EthernetInterface;
  readonly ip: Ipv4Layer;
  readonly icmp: IcmpLayer;
  readonly udp: UdpLayer;
  readonly datagrams: { data: string; src: number; port: number }[] = [];

  constructor(readonly clock: VirtualClock, sw: LearningSwitch, readonly address: number, mac: string, gateway?: number) {
    const cfg = { address, prefixLength: 24, ...(gateway !== undefined ? { gateway } : {}) };
    this.eth = new EthernetInterface({
      link: sw.port(), mac, clock, ipv4: cfg,
      // Linux's arp_error_report: the packet that waited in vain comes back as an ICMP host
      // unreachable to its own transport.
      onUnreachable: (packet, _hop, now) => {
        const e = hostUnreachableError(packet, address);
        if (e !== undefined) this.ip.deliverError(e, now);
      },
    });
    this.ip = new Ipv4Layer({ ...cfg, link: this.eth, initialIdentification: 1 });
    this.icmp = new IcmpLayer(this.ip, { random: () => 0.25 });
    this.ip.register(this.icmp);
    this.ip.setErrorReporter(this.icmp);
    this.udp = new UdpLayer(this.ip, { portKey: new Uint8Array(16) });
    this.ip.register(this.udp);
    this.eth.setReceiver({ packet: (p) => this.ip.input(p, clock.now()) });
  }

  bindUdp(port: number): UdpEndpoint {
    const ep: UdpEndpoint = {
      localAddr: 0, localPort: 0, remoteAddr: 0, remotePort: 0, reuseAddr: false, order: 0, mcTtl: 1, mcLoop: true, memberships: [],
      onDatagram: (payload, src, srcPort) => {
        this.datagrams.push({ data: Buffer.from(payload).toString(), src: src as number, port: srcPort });
        return true;
      },
      onError: () => {},
      close: () => {},
    };
    expect(this.udp.bind(ep, 0, port)).toBeUndefined();
    return ep;
  }

  ping(dst: number, timeout = 10_000): { result?: PingResult; error?: PingError } {
    const out: { result?: PingResult; error?: PingError } = {};
    this.icmp.ping(dst, { size: 56, timeout }, this.clock.now(), (err, r) => {
      if (err !== null) out.error = err;
      else if (r !== undefined) out.result = r;
    });
    return out;
  }
}

function segment(): { clock: VirtualClock; sw: LearningSwitch; a: Host; b: Host; c: Host; run(ms: number): void } {
  const clock = new VirtualClock();
  const sw = new LearningSwitch({ autoDeliver: false, clock });
  const a = new Host(clock, sw, ip('10.7.0.2'), '02:00:00:00:00:0a');
  const b = new Host(clock, sw, ip('10.7.0.3'), '02:00:00:00:00:0b');
  const c = new Host(clock, sw, ip('10.7.0.4'), '02:00:00:00:00:0c');
  const hosts = [a, b, c];
  const run = (ms: number): void => {
    const target = clock.now() + ms;
    for (let guard = 0; guard < 100_000; guard++) {
      for (let i = 0; i < 1000 && sw.pump() > 0; i++);
      // The icmp layers' ping deadlines, as a stack's timer would run them.
      const icmpAt = Math.min(...hosts.map((h) => h.icmp.pollAt()));
      const at = Math.min(clock.nextAt(), icmpAt);
      if (at > target) break;
      if (clock.nextAt() <= at) clock.fireDue();
      else clock.advanceTo(at);
      for (const h of hosts) h.icmp.poll(clock.now());
    }
    clock.advanceTo(target);
  };
  run(10_000); // the gratuitous announcements go out and settle
  return { clock, sw, a, b, c, run };
}

describe('IPv4 over Ethernet through a learning switch', () => {
  it('ping both ways: ARP resolves the first, the rest go straight; each side learned the other', () => {
    const { a, b, c, sw, run } = segment();
    const p1 = a.ping(b.address);
    run(100);
    expect(p1.error).toBeUndefined();
    expect(p1.result).toMatchObject({ bytes: 64, address: b.address });
    const p2 = b.ping(a.address);
    run(100);
    expect(p2.result).toMatchObject({ bytes: 64, address: a.address });
    expect(a.eth.neighbours.get(b.address)).toMatchObject({ mac: parseMac('02:00:00:00:00:0b'), state: 'REACHABLE' });
    // b learned a from a's request for it (STALE), then used it (DELAY).
    expect(b.eth.neighbours.get(a.address)?.mac).toBe(parseMac('02:00:00:00:00:0a'));
    expect(a.eth.counters().ethernet).toMatchObject({ ArpOutRequests: 1, OutQueued: 1, OutFlushed: 1 });
    expect(b.eth.counters().ethernet).toMatchObject({ ArpOutRequests: 0, ArpOutReplies: 1 });
    // c saw the broadcasts (announcements, a's request) and no unicast at all.
    const cc = c.eth.counters().ethernet;
    expect(cc.InUnicast).toBe(0);
    expect(cc.InDropOtherHost).toBe(0); // the switch learned a and b: their unicasts never reached c
    expect(c.eth.neighbours.size).toBe(0);
    expect(sw.stats().Entries).toBe(3);
    expect(a.icmp.stats()).toMatchObject({ OutEchos: 1, InEchoReps: 1, InEchos: 1, OutEchoReps: 1 });
  });

  it('UDP both ways, and a broadcast reaches every host', () => {
    const { a, b, c, run } = segment();
    const ea = a.bindUdp(7000);
    b.bindUdp(7000);
    c.bindUdp(7000);
    expect(a.udp.send(ea, b.address, 7000, [Buffer.from('hello b')], 7)).toBeUndefined();
    run(50);
    expect(b.datagrams).toEqual([{ data: 'hello b', src: a.address, port: 7000 }]);
    const eb = b.bindUdp(7001);
    expect(b.udp.send(eb, a.address, 7000, [Buffer.from('hello a')], 7)).toBeUndefined();
    run(50);
    expect(a.datagrams).toEqual([{ data: 'hello a', src: b.address, port: 7001 }]);
    expect(b.eth.counters().ethernet.ArpOutRequests).toBe(0); // learned from a's request
    expect(a.udp.send(ea, ip('10.7.0.255'), 7000, [Buffer.from('to all')], 6)).toBeUndefined();
    run(50);
    expect(b.datagrams.at(-1)?.data).toBe('to all');
    expect(c.datagrams).toEqual([{ data: 'to all', src: a.address, port: 7000 }]);
  });

  it('a host that is not there: ARP fails after 3 requests and the waiting ping gets EHOSTUNREACH (not ETIMEDOUT)', () => {
    const { a, run } = segment();
    const ghost = ip('10.7.0.99');
    const p = a.ping(ghost, 10_000);
    run(2999);
    expect(p.error).toBeUndefined();
    run(1);
    expect(p.error?.code).toBe('EHOSTUNREACH');
    expect(a.eth.neighbours.get(ghost)?.state).toBe('FAILED');
    expect(a.eth.counters().ethernet.ArpOutRequests).toBe(3);
  });
});
