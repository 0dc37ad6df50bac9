/**
 * Several IPv4 addresses on one layer, and a layer with none (an IPv6-only host):
 * acceptance, source selection (Linux fib_select_addr / inet_select_addr), SendOptions.source,
 * the on-link subnets, the broadcasts, and the option checks.
 */
import { describe, expect, it } from 'vitest';
import { Ipv4Layer, PROTO_UDP, parseIpv4, type Ipv4LayerOptions, type TransportError } from '@netstack/ip';
import { FakeLink, FakeReporter, FakeTransport, FAR, PEER, US, ip, packet } from './harness.js';

const US2 = ip('10.7.0.3');
const OTHER = ip('10.8.0.2'); // a second subnet
const GW = ip('10.7.0.1');

function setup(over: Partial<Ipv4LayerOptions> = {}) {
  const link = new FakeLink();
  const layer = new Ipv4Layer({ addresses: [US, US2, OTHER], prefixLength: 24, link, initialIdentification: 1, ...over });
  const udp = new FakeTransport(PROTO_UDP);
  const reporter = new FakeReporter();
  layer.register(udp);
  layer.setErrorReporter(reporter);
  return { layer, link, udp, reporter };
}

const srcOf = (p: Uint8Array): number => (parseIpv4(p) as { src: number }).src;

describe('several IPv4 addresses', () => {
  it('address is the primary, addresses all of them in order', () => {
    const { layer } = setup();
    expect(layer.address).toBe(US);
    expect(layer.addresses).toEqual([US, US2, OTHER]);
    expect(new Ipv4Layer({ address: US, prefixLength: 24, link: new FakeLink() }).addresses).toEqual([US]);
  });

  it('accepts a datagram to each of them; others are InNotForUs', () => {
    const { layer, udp } = setup();
    for (const dst of [US, US2, OTHER, ip('10.7.0.4')]) layer.input(packet(Uint8Array.of(1), { dst }), 0);
    expect(udp.received.map((r) => r.dst)).toEqual([US, US2, OTHER]);
    expect(udp.received.every((r) => !r.toBroadcast)).toBe(true);
    expect(layer.stats().dropped.InNotForUs).toBe(1);
    expect(layer.stats().InDelivers).toBe(3);
  });

  it('each subnet is on-link and its directed broadcast is a broadcast', () => {
    const { layer, udp } = setup();
    expect(layer.route(ip('10.8.0.77'))).toBe(ip('10.8.0.77'));
    expect(layer.route(ip('10.9.0.1'))).toBeUndefined(); // no gateway
    layer.input(packet(Uint8Array.of(1), { dst: ip('10.8.0.255') }), 0);
    layer.input(packet(Uint8Array.of(1), { dst: ip('10.7.0.255') }), 0);
    expect(udp.received.map((r) => [r.dst, r.toBroadcast])).toEqual([[ip('10.8.0.255'), true], [ip('10.7.0.255'), true]]);
    // A directed broadcast of either subnet is no host source.
    layer.input(packet(Uint8Array.of(1), { src: ip('10.8.0.255'), dst: US }), 0);
    expect(layer.stats().dropped.InMartianSrc).toBe(1);
  });

  it('source for an unbound socket: the subnet holding the destination, via the gateway\'s subnet, else the primary', () => {
    const { layer } = setup({ gateway: ip('10.8.0.1') });
    expect(layer.sourceFor(PEER)).toBe(US); // 10.7.0.0/24: the first address in it
    expect(layer.sourceFor(ip('10.8.0.9'))).toBe(OTHER);
    expect(layer.sourceFor(FAR)).toBe(OTHER); // off-link: the gateway 10.8.0.1 is in OTHER's subnet
    const noGw = setup().layer;
    expect(noGw.sourceFor(FAR)).toBeUndefined();
    const gw7 = setup({ gateway: GW }).layer;
    expect(gw7.sourceFor(FAR)).toBe(US);
    expect(gw7.sourceFor(ip('255.255.255.255'))).toBe(US); // the primary
    expect(gw7.send(ip('10.8.0.9'), PROTO_UDP, Uint8Array.of(1))).toBeUndefined();
    expect(gw7.send(FAR, PROTO_UDP, Uint8Array.of(1))).toBeUndefined();
  });

  it('SendOptions.source: any of ours is used as given, a foreign unicast one is refused (ENETUNREACH, as Linux fails the route)', () => {
    const { layer, link } = setup();
    layer.send(PEER, PROTO_UDP, Uint8Array.of(1), { source: US2 });
    layer.send(PEER, PROTO_UDP, Uint8Array.of(1), { source: OTHER });
    layer.send(PEER, PROTO_UDP, Uint8Array.of(1), { source: US });
    expect(layer.send(PEER, PROTO_UDP, Uint8Array.of(1), { source: ip('10.7.0.9') })).toBe('ENETUNREACH');
    layer.send(PEER, PROTO_UDP, Uint8Array.of(1), { source: ip('127.0.0.1') }); // not towards a local destination
    layer.send(PEER, PROTO_UDP, Uint8Array.of(1), { source: ip('224.0.0.9') }); // a socket bound to a group: the layer chooses
    expect(link.sent.map(srcOf)).toEqual([US2, OTHER, US, US, US]);
    expect(layer.stats().OutNoRoutes).toBe(1);
    const seen: number[] = [];
    layer.sendWith(PEER, PROTO_UDP, 1, { writePayload: (b, o, src) => { b[o] = 0; seen.push(src as number); } }, { source: US2 });
    expect(seen).toEqual([US2]);
  });

  it('sendSegment (the offload path) takes SendOptions.source too', () => {
    const offloaded: Uint8Array[] = [];
    const link = {
      mtu: 1500, offload: { tso4: true, csum: true },
      send: (): boolean => true,
      sendOffload: (p: Uint8Array): boolean => { offloaded.push(p.slice()); return true; },
    };
    const layer = new Ipv4Layer({ addresses: [US, US2], prefixLength: 24, link });
    const w = { writePayload: (b: Uint8Array, o: number): void => { b.fill(0, o, o + 20); } };
    expect(layer.sendSegment(PEER, 6, 20, w, 0, 16, { source: US2 })).toBeUndefined();
    expect(layer.sendSegment(PEER, 6, 20, w, 0, 16)).toBeUndefined();
    expect(offloaded.map(srcOf)).toEqual([US2, US]);
  });

  it('with loopback on: each address is local, answered through the loopback with its own source', () => {
    let queued = 0;
    const { layer, link, udp } = setup({ onLoopback: () => { queued++; } });
    expect(layer.isLocalAddress(US2)).toBe(true);
    expect(layer.isLocalAddress(ip('10.7.0.4'))).toBe(false);
    expect(layer.sourceFor(US2)).toBe(US2); // a local route's source is the destination itself
    expect(layer.send(US2, PROTO_UDP, Uint8Array.of(1))).toBeUndefined();
    expect(layer.send(OTHER, PROTO_UDP, Uint8Array.of(1), { source: ip('127.0.0.5') })).toBeUndefined();
    expect(link.sent).toHaveLength(0);
    layer.deliverLoopback(0);
    expect(queued).toBe(1);
    expect(udp.received.map((r) => [r.src, r.dst])).toEqual([[US2, US2], [ip('127.0.0.5'), OTHER]]);
    // From the link, any of our addresses as the source is a martian.
    layer.input(packet(Uint8Array.of(1), { src: OTHER, dst: US }), 0);
    expect(layer.stats().dropped.InMartianSrc).toBe(1);
  });

  it('an error about a datagram sent from any of our addresses reaches the transport', () => {
    const { layer, udp } = setup();
    const e: TransportError = { icmpType: 3, icmpCode: 3, reporter: PEER, src: OTHER, dst: PEER, protocol: PROTO_UDP, quoted: new Uint8Array(8), nextHopMtu: 0 };
    layer.deliverError(e, 0);
    layer.deliverError({ ...e, src: ip('10.7.0.9') }, 0);
    expect(udp.errors).toHaveLength(1);
    expect(layer.stats().dropped.ErrorNotOurs).toBe(1);
  });

  it('option checks: duplicates, a broadcast of another subnet, exclusive address/addresses, gateway on any subnet', () => {
    const link = new FakeLink();
    const bad = (o: Partial<Ipv4LayerOptions>, code: string): void => {
      expect(() => new Ipv4Layer({ prefixLength: 24, link, ...o })).toThrow(expect.objectContaining({ code }));
    };
    bad({ addresses: [US, US] }, 'ERR_INVALID_ARG_VALUE');
    bad({ addresses: [US, 'nope'] }, 'ERR_INVALID_ARG_VALUE');
    bad({ addresses: [US, ip('224.0.0.1')] }, 'ERR_INVALID_ARG_VALUE');
    bad({ addresses: [US, ip('10.7.0.255')] }, 'ERR_INVALID_ARG_VALUE');
    bad({ address: US, addresses: [US2] }, 'ERR_INVALID_ARG_VALUE');
    bad({ addresses: 'x' as never }, 'ERR_INVALID_ARG_TYPE');
    bad({ addresses: [US, OTHER], gateway: ip('10.9.0.1') }, 'ERR_INVALID_ARG_VALUE');
    bad({ addresses: [US, OTHER], gateway: OTHER }, 'ERR_INVALID_ARG_VALUE');
    bad({ addresses: [US, OTHER], gateway: ip('10.8.0.255') }, 'ERR_INVALID_ARG_VALUE');
    expect(new Ipv4Layer({ prefixLength: 24, link, addresses: [US, OTHER], gateway: ip('10.8.0.1') }).gateway).toBe(ip('10.8.0.1'));
    expect(new Ipv4Layer({ prefixLength: 24, link, addresses: ['10.7.0.2', '10.7.0.3'] }).addresses).toEqual([US, US2]);
  });
});

describe('no IPv4 address (an IPv6-only host)', () => {
  it('drops everything from the link, routes nothing but loopback 127/8', () => {
    let queued = 0;
    const { layer, link, udp, reporter } = setup({ addresses: [], onLoopback: () => { queued++; } });
    expect(layer.address).toBe(0);
    expect(layer.addresses).toEqual([]);
    expect(layer.directedBroadcast).toBe(-1);
    for (const dst of [US, 0, ip('255.255.255.255'), ip('224.0.0.1')]) layer.input(packet(Uint8Array.of(1), { dst }), 0);
    expect(udp.received).toHaveLength(0);
    expect(reporter.unreachable).toHaveLength(0);
    expect(layer.stats().dropped.InNotForUs).toBe(4);
    for (const dst of [PEER, FAR, ip('255.255.255.255'), ip('224.0.0.1')]) {
      expect(layer.sourceFor(dst)).toBeUndefined();
      expect(layer.send(dst, PROTO_UDP, Uint8Array.of(1))).toBe('ENETUNREACH');
    }
    expect(layer.stats().OutNoRoutes).toBe(4);
    expect(layer.isLocalAddress(0)).toBe(false);
    expect(layer.isLocalAddress(ip('127.0.0.1'))).toBe(true);
    expect(layer.send(ip('127.0.0.1'), PROTO_UDP, Uint8Array.of(9))).toBeUndefined();
    layer.deliverLoopback(0);
    expect(queued).toBe(1);
    expect(udp.received.map((r) => [r.src, r.dst])).toEqual([[ip('127.0.0.1'), ip('127.0.0.1')]]);
    expect(link.sent).toHaveLength(0);
  });
  it('a gateway needs an address to be on-link with', () => {
    expect(() => new Ipv4Layer({ addresses: [], prefixLength: 24, gateway: GW, link: new FakeLink() }))
      .toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
});

it('one address still behaves as before: US is the only source, others not ours', () => {
  const { layer, link } = setup({ addresses: [US] });
  layer.send(PEER, PROTO_UDP, Uint8Array.of(1), { source: US });
  expect(layer.send(PEER, PROTO_UDP, Uint8Array.of(1), { source: US2 })).toBe('ENETUNREACH');
  expect(link.sent.map(srcOf)).toEqual([US]);
  expect(layer.isLocalAddress(US2)).toBe(false);
});
