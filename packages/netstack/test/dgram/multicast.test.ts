/**
 * The UDP layer's multicast state on its own (a fake IP layer): the membership index the
 * IP layer asks (`acceptsGroup`), its cleanup, and what a send asks of IP (TTL, local
 * copy). Delivery between two stacks, loop-back included, is tested in
 * @netstack/netstack (dgram-multicast.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { dgramLayer, FakeIp, ip, tick } from './helpers.js';

function setup() {
  const net = new FakeIp('10.0.0.2');
  const udp = dgramLayer(net, { rmemMax: 1 << 22 });
  return { net, udp };
}

describe('membership index', () => {
  it('acceptsGroup follows joins, source filters, leaves and close; 224.0.0.1 always', () => {
    const { udp } = setup();
    const G = ip('239.1.1.1');
    const S = ip('10.0.0.1');
    const s = udp.createSocket('udp4');
    s.bind(5000);
    expect(udp.acceptsGroup(ip('224.0.0.1'), S)).toBe(true);
    expect(udp.acceptsGroup(G, S)).toBe(false);
    s.addSourceSpecificMembership('10.0.0.9', '239.1.1.1');
    expect([udp.acceptsGroup(G, S), udp.acceptsGroup(G, ip('10.0.0.9'))]).toEqual([false, true]);
    const t = udp.createSocket('udp4');
    t.bind(5001);
    t.addMembership('239.1.1.1');
    expect(udp.acceptsGroup(G, S)).toBe(true);
    t.close();
    expect(udp.acceptsGroup(G, S)).toBe(false);
    s.dropMembership('239.1.1.1');
    expect(udp.acceptsGroup(G, ip('10.0.0.9'))).toBe(false);
    s.addMembership('239.1.1.1');
    s.close();
    expect(udp.acceptsGroup(G, S)).toBe(false);
  });
});

describe('sending to a group', () => {
  it('uses the multicast TTL (1 by default) and asks IP for a local copy only for a joined group with IP_MULTICAST_LOOP', () => {
    const { net, udp } = setup();
    const s = udp.createSocket('udp4');
    s.bind(5000);
    s.setTTL(9);
    s.send('not joined', 5000, '239.1.1.1');
    s.addMembership('239.1.1.1');
    s.send('joined', 5000, '239.1.1.1');
    s.setMulticastLoopback(false);
    s.send('loop off', 5000, '239.1.1.1');
    s.setMulticastLoopback(true);
    s.setMulticastTTL(4);
    s.send('ttl 4', 5000, '239.1.1.1');
    s.send('unicast', 5000, '10.0.0.1');
    expect(net.take().map((x) => x.options)).toEqual([{ ttl: 1 }, { ttl: 1, loopback: true }, { ttl: 1 }, { ttl: 4, loopback: true }, { ttl: 9 }]);
    s.close();
  });

  it('multicast TTL 0: handed to IP only with a local copy to make; otherwise it goes nowhere, without error', async () => {
    const { net, udp } = setup();
    const s = udp.createSocket('udp4');
    s.bind(5000);
    s.setMulticastTTL(0);
    const errs: unknown[] = [];
    s.send('nowhere', 5000, '239.1.1.1', (e) => errs.push(e));
    expect(net.take()).toEqual([]);
    s.addMembership('239.1.1.1');
    s.send('here only', 5000, '239.1.1.1', (e) => errs.push(e));
    expect(net.take().map((x) => x.options)).toEqual([{ ttl: 0, loopback: true }]);
    await tick();
    expect(errs).toEqual([null, null]);
    expect(udp.stats().OutDatagrams).toBe(2);
    s.close();
  });

  it('a broadcast always asks for a local copy (Linux loops broadcasts), with the socket TTL when set', () => {
    const { net, udp } = setup();
    const s = udp.createSocket('udp4');
    s.bind(5000);
    s.setBroadcast(true);
    s.send('b', 5000, '255.255.255.255');
    s.setTTL(3);
    s.send('b', 5000, '255.255.255.255');
    expect(net.take().map((x) => x.options)).toEqual([{ loopback: true }, { ttl: 3, loopback: true }]);
    s.close();
  });
});
