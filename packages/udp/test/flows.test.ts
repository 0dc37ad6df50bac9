/**
 * Flows to foreign destinations (flows.ts): datagrams an any-address IP layer flags
 * `foreign` go to the flow handler with their original destination, never to a socket;
 * replies leave from that destination; the table is bounded (count, bytes) and expires
 * idle flows on virtual time. Runs over both families (udp, udp6).
 */
import { describe, expect, it } from 'vitest';
import { UdpLayer, type UdpFlow, type UdpFlowHandler, type UdpLayerOptions } from '../src/index.js';
import { FAMILY, FakeIp, addr, at, parseSent, udpIn } from './helpers.js';
import { FLOW_OVERHEAD } from '../src/flows.js';

const ORIG = addr('198.51.100.7', '2001:db8::7');
const CLIENT = addr('10.0.0.1', 'fd00::1');

function setup(options: UdpLayerOptions = {}, keep = 0) {
  const ip = new FakeIp(at('10.0.0.2', 'fd00::2'));
  const udp = new UdpLayer(ip, options);
  const flows: UdpFlow[] = [];
  const got: string[] = [];
  const closed: string[] = [];
  const handler: UdpFlowHandler = {
    onFlow: (f) => { flows.push(f); return true; },
    onDatagram: (_f, p) => { got.push(Buffer.from(p).toString()); return keep; },
    onClose: (f, why) => closed.push(`${f.remotePort}:${why}`),
  };
  udp.setFlowHandler(handler);
  const send = (payload: string, srcPort = 40000, dst = ORIG, now = 0, foreign = true): void =>
    udp.receive({ ...udpIn({ src: CLIENT, dst, srcPort, dstPort: 53, payload }), foreign }, now);
  return { ip, udp, flows, got, closed, send };
}

describe(`UDP flows to foreign destinations (IPv${FAMILY})`, () => {
  it('delivers with the original destination, one flow per 4-tuple; replies leave from it', () => {
    const t = setup();
    // A wildcard socket on the port must not see foreign datagrams.
    const seen: string[] = [];
    const ep = { localAddr: FAMILY === 6 ? at('::', '::') : 0, localPort: 0, remoteAddr: 0, remotePort: 0, order: 0, reuseAddr: false, v6: FAMILY === 6 ? 'dual' as const : undefined,
      memberships: [], mcTtl: 1, mcLoop: true, onDatagram: (p: Uint8Array) => { seen.push(Buffer.from(p).toString()); return true; }, onError: () => {}, close: () => {} };
    expect(t.udp.bind(ep as never, ep.localAddr, 53)).toBeUndefined();
    t.send('q1');
    t.send('q2');
    t.send('other', 40001);
    expect(t.got).toEqual(['q1', 'q2', 'other']);
    expect(seen).toEqual([]);
    expect(t.flows).toHaveLength(2);
    const f = t.flows[0]!;
    expect([f.localAddress, f.localPort, f.remoteAddress, f.remotePort]).toEqual([at(ORIG, ORIG), 53, at(CLIENT, CLIENT), 40000]);
    expect(f.send(Buffer.from('answer'), 5)).toBeUndefined();
    const [out] = t.ip.take();
    expect(out!.src).toBe(at(ORIG, ORIG));
    expect(out!.dst).toBe(at(CLIENT, CLIENT));
    expect(out!.options?.transparent).toBe(true);
    const r = parseSent(out!);
    expect([r.srcPort, r.dstPort, Buffer.from(r.payload).toString()]).toEqual([53, 40000, 'answer']);
    // Not foreign: the socket, as always.
    t.send('mine', 40000, addr('10.0.0.2', 'fd00::2'), 0, false);
    expect(seen).toEqual(['mine']);
    const st = t.udp.stats();
    expect([st.FlowsCreated, st.Flows, st.FlowOutDatagrams, st.InDelivers]).toEqual([2, 2, 1, 4]);
  });

  it('lends each datagram\'s TTL and DF (IPv4: the DF bit; IPv6: arrived unfragmented; reassembled: never) and quotes the first datagram for a relayed error', () => {
    const t = setup();
    const infos: string[] = [];
    const h: UdpFlowHandler = { onFlow: (f) => { t.flows.push(f); return true; }, onDatagram: (_f, _p, _now, i) => { infos.push(`${i.ttl}/${i.dontFragment}`); return 0; } };
    t.udp.setFlowHandler(h);
    const dg = (ttl: number, df: boolean, reassembled: boolean) => {
      const d = { ...udpIn({ src: CLIENT, dst: ORIG, srcPort: 40000, dstPort: 53, payload: 'p' }), foreign: true, ttl, reassembled };
      if (FAMILY === 4) { d.packet[6] = df ? 0x40 : 0; d.packet[8] = ttl; } else d.packet[7] = ttl;
      return d;
    };
    t.udp.receive(dg(9, true, false), 0);
    t.udp.receive(dg(1, false, false), 0);
    t.udp.receive(dg(3, true, true), 0);
    expect(infos).toEqual(FAMILY === 4 ? ['9/true', '1/false', '3/false'] : ['9/true', '1/true', '3/false']);
    const q = t.flows[0]!.quoteDatagram()!;
    expect([q.src, q.dst, q.protocol, q.ttl, q.headerLength, q.payload.length]).toEqual([at(CLIENT, CLIENT), at(ORIG, ORIG), 17, 9, FAMILY === 4 ? 20 : 40, 8]);
    t.flows[0]!.close(1);
    expect(t.flows[0]!.quoteDatagram()).toBeUndefined();
  });

  it('without a handler foreign datagrams are dropped and counted', () => {
    const t = setup();
    t.udp.setFlowHandler(undefined);
    t.send('x');
    expect(t.got).toEqual([]);
    expect(t.udp.stats().ForeignDrops).toBe(1);
    expect(t.ip.unreachable).toEqual([]);
  });

  it('bounds flows by count (the least recently active gives way) and by bytes (what handlers keep), with counters', () => {
    const t = setup({ flows: { maxFlows: 2 } });
    t.send('a', 1, ORIG, 0);
    t.send('b', 2, ORIG, 1);
    t.send('a2', 1, ORIG, 2); // flow 1 active again: flow 2 is now the least recently active
    t.send('c', 3, ORIG, 3);
    expect(t.flows).toHaveLength(3);
    expect(t.closed).toEqual(['2:evicted']);
    expect(t.got).toEqual(['a', 'b', 'a2', 'c']);
    let s = t.udp.stats();
    expect([s.FlowEvicted, s.FlowTableFull, s.Flows, s.FlowBytes]).toEqual([1, 0, 2, 2 * FLOW_OVERHEAD]);
    expect(t.flows[1]!.send(Buffer.from('late'), 4)).toBe('ECLOSED');
    // A table of none: dropped.
    const none = setup({ flows: { maxFlows: 0 } });
    none.send('x');
    s = none.udp.stats();
    expect([none.flows.length, s.FlowTableFull, s.FlowEvicted]).toEqual([0, 1, 0]);
    // Bytes: each datagram kept (charged) until released.
    const b = setup({ flows: { maxFlowBytes: FLOW_OVERHEAD + 250 } }, 100);
    b.send('x'.repeat(100));
    b.send('x'.repeat(100));
    b.send('x'.repeat(100));
    let st = b.udp.stats();
    expect([st.FlowBytes, st.FlowMemoryDrops]).toEqual([FLOW_OVERHEAD + 200, 1]);
    b.flows[0]!.release(200);
    b.send('x'.repeat(100));
    st = b.udp.stats();
    expect([st.FlowBytes, st.FlowMemoryDrops]).toEqual([FLOW_OVERHEAD + 100, 1]);
  });

  it('expires idle flows (a reply counts as activity), pollAt says when', () => {
    const t = setup({ flows: { idleTimeout: 1000 } });
    t.send('a', 1, ORIG, 0);
    t.send('b', 2, ORIG, 100);
    expect(t.udp.pollAt()).toBe(1000);
    t.flows[0]!.send(Buffer.from('r'), 500); // flow 1 active at 500
    expect(t.udp.pollAt()).toBe(1100);
    t.udp.poll(1099);
    expect(t.closed).toEqual([]);
    t.udp.poll(1100);
    expect(t.closed).toEqual(['2:idle']);
    t.udp.poll(1500);
    expect(t.closed).toEqual(['2:idle', '1:idle']);
    expect(t.udp.stats().FlowExpired).toBe(2);
    expect(t.flows[0]!.send(Buffer.from('late'), 1600)).toBe('ECLOSED');
    // The tuple again: a new flow.
    t.send('again', 1, ORIG, 2000);
    expect(t.flows).toHaveLength(3);
    t.flows[2]!.close(2001);
    expect(t.closed.at(-1)).toBe('1:closed');
    expect(t.udp.flowCount).toBe(0);
  });
});
