/**
 * Ipv4Layer.configure: the addressing replaced at runtime (a DHCP lease bound, changed,
 * lost). Every derived rule follows at once (acceptance, routes, source choice, directed
 * broadcast); a socket bound to a removed address can no longer send (Linux: the route
 * lookup fails for a source that is not local), one bound to 0.0.0.0 goes on.
 */
import { describe, expect, it } from 'vitest';
import { Ipv4Layer, PROTO_UDP, parseIpv4 } from '@netstack/ip';
import { FakeLink, FakeTransport, FAR, PEER, US, ip, packet } from './harness.js';

const NEW = ip('192.168.5.20');
const NEW_GW = ip('192.168.5.1');
const srcOf = (p: Uint8Array): number => (parseIpv4(p) as { src: number }).src;

function setup(addresses: number[] = []) {
  const link = new FakeLink();
  const layer = new Ipv4Layer({ addresses, prefixLength: 24, link, initialIdentification: 1 });
  const udp = new FakeTransport(PROTO_UDP);
  layer.register(udp);
  return { layer, link, udp };
}

describe('Ipv4Layer.configure', () => {
  it('from no address to a lease: accepted, routed, the gateway used, the directed broadcast recomputed', () => {
    const { layer, link, udp } = setup();
    layer.input(packet(Uint8Array.of(1), { src: NEW_GW, dst: NEW }), 0);
    expect(udp.received).toHaveLength(0);
    expect(layer.send(FAR, PROTO_UDP, Uint8Array.of(1))).toBe('ENETUNREACH');

    expect(layer.configure({ addresses: [NEW], prefixLength: 24, gateway: NEW_GW })).toBe(true);
    expect([layer.address, layer.addresses, layer.prefixLength, layer.gateway]).toEqual([NEW, [NEW], 24, NEW_GW]);
    expect(layer.directedBroadcast).toBe(ip('192.168.5.255'));
    layer.input(packet(Uint8Array.of(2), { src: NEW_GW, dst: NEW }), 0);
    layer.input(packet(Uint8Array.of(3), { src: NEW_GW, dst: ip('192.168.5.255') }), 0);
    expect(udp.received.map((r) => [r.dst, r.toBroadcast])).toEqual([[NEW, false], [ip('192.168.5.255'), true]]);
    expect(layer.route(FAR)).toBe(NEW_GW);
    expect(layer.send(FAR, PROTO_UDP, Uint8Array.of(1))).toBeUndefined(); // a socket bound to 0.0.0.0
    expect(link.sent.map(srcOf)).toEqual([NEW]);
    expect(layer.stats().Reconfigurations).toBe(1);
    // The same addressing again changes nothing and is not counted.
    expect(layer.configure({ addresses: ['192.168.5.20'], prefixLength: 24, gateway: '192.168.5.1' })).toBe(false);
    expect(layer.stats().Reconfigurations).toBe(1);
  });

  it('an address removed: what arrives for it is not for us, a socket bound to it cannot send (ENETUNREACH, OutNoRoutes), ANY moves on', () => {
    const { layer, link, udp } = setup([US]);
    expect(layer.send(PEER, PROTO_UDP, Uint8Array.of(1), { source: US })).toBeUndefined();
    layer.configure({ addresses: [NEW], prefixLength: 24, gateway: NEW_GW });
    layer.input(packet(Uint8Array.of(1), { src: PEER, dst: US }), 0);
    expect(udp.received).toHaveLength(0);
    expect(layer.stats().dropped.InNotForUs).toBe(1);
    const before = layer.stats().OutNoRoutes;
    // A connection of the old address (TCP passes its local address as the source).
    expect(layer.send(FAR, PROTO_UDP, Uint8Array.of(1), { source: US })).toBe('ENETUNREACH');
    expect(layer.sendWith(FAR, PROTO_UDP, 1, { writePayload: (b, o) => { b[o] = 0; } }, { source: US })).toBe('ENETUNREACH');
    expect(layer.stats().OutNoRoutes).toBe(before + 2);
    expect(layer.send(FAR, PROTO_UDP, Uint8Array.of(1))).toBeUndefined();
    expect(link.sent.map(srcOf)).toEqual([US, NEW]);
    // Given back (a lease renewed in time), the old socket works again.
    layer.configure({ addresses: [US], prefixLength: 24 });
    expect(layer.send(PEER, PROTO_UDP, Uint8Array.of(1), { source: US })).toBeUndefined();
    expect(layer.route(FAR)).toBeUndefined(); // no gateway any more
  });

  it('back to no address: loopback only, everything from the link dropped', () => {
    const { layer, udp } = setup([US]);
    layer.configure({ addresses: [], prefixLength: 24 });
    expect([layer.address, layer.addresses, layer.gateway, layer.directedBroadcast]).toEqual([0, [], undefined, -1]);
    layer.input(packet(Uint8Array.of(1), { src: PEER, dst: ip('255.255.255.255') }), 0);
    expect(udp.received).toHaveLength(0);
    expect(layer.send(PEER, PROTO_UDP, Uint8Array.of(1))).toBe('ENETUNREACH');
  });

  it('bad configurations throw Node-style errors and change nothing', () => {
    const { layer } = setup([US]);
    const bad = (c: Parameters<Ipv4Layer['configure']>[0], code: string, msg: RegExp): void => {
      expect(() => layer.configure(c)).toThrow(expect.objectContaining({ code, message: expect.stringMatching(msg) }));
    };
    bad({ addresses: [NEW], prefixLength: 24, gateway: ip('10.9.0.1') }, 'ERR_INVALID_ARG_VALUE', /^config\.gateway/);
    bad({ addresses: [ip('192.168.5.255')], prefixLength: 24 }, 'ERR_INVALID_ARG_VALUE', /^config\.addresses\[0\]/);
    bad({ addresses: [NEW], prefixLength: 33 }, 'ERR_OUT_OF_RANGE', /config\.prefixLength/);
    bad(undefined as never, 'ERR_INVALID_ARG_TYPE', /config/);
    expect([layer.address, layer.addresses, layer.prefixLength, layer.gateway]).toEqual([US, [US], 24, undefined]);
    expect(layer.stats().Reconfigurations).toBe(0);
  });
});
