/**
 * The UDP layer's multicast state on its own (a fake IP layer): the membership index the
 * IP layer asks (`acceptsGroup`), its cleanup, the loop-back path and its bound.
 * Delivery between two stacks is tested in @netstack/netstack (dgram-multicast.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { LOOP_BACKLOG, UdpLayer } from '../src/index.js';
import { FakeIp, ip, tick } from './helpers.js';

function setup() {
  const net = new FakeIp('10.0.0.2');
  const udp = new UdpLayer(net, { rmemMax: 1 << 22 });
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
  it('uses the multicast TTL (1 by default), loops a copy back on a later tick, and TTL 0 never leaves', async () => {
    const { net, udp } = setup();
    const s = udp.createSocket('udp4');
    s.bind(5000);
    s.addMembership('239.1.1.1');
    const got: string[] = [];
    s.on('message', (m) => got.push(String(m)));
    s.send('a', 5000, '239.1.1.1');
    expect(got).toEqual([]); // never inside send
    expect(net.take().map((x) => x.options?.ttl)).toEqual([1]);
    s.setMulticastTTL(0);
    s.send('b', 5000, '239.1.1.1');
    expect(net.take()).toEqual([]);
    await tick();
    expect(got).toEqual(['a', 'b']);
    expect(udp.stats().OutDatagrams).toBe(2);
    expect(udp.stats().InDatagrams).toBe(2);
    s.close();
  });

  it(`holds at most LOOP_BACKLOG (${LOOP_BACKLOG}) looped copies; the rest count as LoopDrops`, async () => {
    const { net, udp } = setup();
    const s = udp.createSocket('udp4');
    s.bind(5000);
    s.setRecvBufferSize(1 << 21);
    s.addMembership('239.1.1.1');
    let got = 0;
    s.on('message', () => got++);
    for (let i = 0; i < LOOP_BACKLOG + 5; i++) s.send('x', 5000, '239.1.1.1');
    expect(net.take()).toHaveLength(LOOP_BACKLOG + 5); // all sent on the link
    await tick();
    expect(got).toBe(LOOP_BACKLOG);
    expect(udp.stats().LoopDrops).toBe(5);
    s.close();
  });
});
