/**
 * The packet path of the IP, ICMP and UDP layers allocates (next to)
 * nothing per packet: no view object, DataView or record per datagram, no options
 * object per reply. Measured with V8's GC profiler: bytes allocated on the JS heap
 * while N packets go in (ip.input) and their answers go out, over a link that keeps
 * nothing (as a TUN device: one write per packet, no copy).
 *
 * Measured 0.2 B and 0.0 B per packet; before this work (HEAD 8bb9540) the same test
 * gave 577 B per echo request + reply and 1466 B per UDP datagram in + out. The bounds
 * leave room for a boxed float or two. bench/alloc.mjs measures the same on a real TUN
 * device, TCP included.
 */
import { describe, expect, it } from 'vitest';
import v8 from 'node:v8';
import { Ipv4Layer, PROTO_ICMP, PROTO_UDP, emitIpv4, emptyIpv4Repr, parseAddress, type Ipv4Address } from '@netstack/ip';
import { IcmpLayer, IcmpPacket, emitIcmp } from '@netstack/icmp';
import { UdpLayer, UdpPacket, emitUdp, udpBufferLen, type UdpEndpoint } from '@netstack/udp';

const US = parseAddress('10.0.0.2')!;
const PEER = parseAddress('10.0.0.1')!;

/** JS heap bytes allocated while `fn` runs (used-heap growth plus what each GC freed meanwhile). */
function allocated(fn: () => void): number {
  const profiler = new v8.GCProfiler();
  const before = v8.getHeapStatistics().used_heap_size;
  profiler.start();
  fn();
  const { statistics } = profiler.stop();
  let bytes = v8.getHeapStatistics().used_heap_size - before;
  for (const s of statistics) bytes += s.beforeGC.heapStatistics.usedHeapSize - s.afterGC.heapStatistics.usedHeapSize;
  return bytes;
}

function datagram(protocol: number, payload: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  const r = emptyIpv4Repr();
  Object.assign(r, { src: PEER, dst: US, protocol, ttl: 64, headerLength: 20, payloadLength: payload.length, totalLength: p.length });
  p.set(payload, 20);
  emitIpv4(r, p, 0);
  return p;
}

function host(): { ip: Ipv4Layer; sent: () => number } {
  let sent = 0;
  // A link that keeps nothing and copies nothing, as a TUN device's write.
  const ip = new Ipv4Layer({ address: US, prefixLength: 24, link: { mtu: 1500, send: () => { sent++; return true; } } });
  return { ip, sent: () => sent };
}

const N = 50_000;

describe('allocation per packet on the IP/ICMP/UDP path', () => {
  it('an ICMP echo request in and its reply out: a few bytes at most', () => {
    const { ip, sent } = host();
    const icmp = new IcmpLayer(ip);
    ip.register(icmp);
    ip.setErrorReporter(icmp);
    const msg = new Uint8Array(64);
    emitIcmp({ kind: 'echoRequest', ident: 7, seqNo: 1, data: new Uint8Array(56).fill(0xa5) }, new IcmpPacket(msg));
    const packet = datagram(PROTO_ICMP, msg);
    const run = (n: number): void => { for (let i = 0; i < n; i++) ip.input(packet, 1000.5); };
    run(20_000); // warm-up: optimized code
    const perPacket = allocated(() => run(N)) / N;
    expect(sent()).toBe(20_000 + N);
    expect(icmp.stats().OutEchoReps).toBe(20_000 + N);
    console.log(`ICMP echo: ${perPacket.toFixed(1)} B allocated per request + reply`);
    expect(perPacket).toBeLessThan(48);
  });

  it('a UDP datagram in, to its endpoint, and one out: a few bytes at most', () => {
    const { ip, sent } = host();
    const udp = new UdpLayer(ip);
    ip.register(udp);
    let got = 0;
    const chunk = [new Uint8Array(64).fill(0x5a)];
    const ep: UdpEndpoint = {
      localAddr: 0, localPort: 0, remoteAddr: 0, remotePort: 0, reuseAddr: false, order: 0, mcTtl: 1, mcLoop: true, memberships: [],
      onDatagram: (payload: Uint8Array, src: Ipv4Address, srcPort: number): boolean => {
        got += payload.length;
        return udp.send(ep, src, srcPort, chunk, 64) === undefined;
      },
      onError: () => {},
      close: () => {},
    };
    expect(udp.bind(ep, 0, 7)).toBeUndefined();
    const repr = { srcPort: 40000, dstPort: 7, payload: new Uint8Array(64).fill(1) };
    const bytes = new Uint8Array(udpBufferLen(repr));
    emitUdp(repr, new UdpPacket(bytes), PEER, US);
    const packet = datagram(PROTO_UDP, bytes);
    const run = (n: number): void => { for (let i = 0; i < n; i++) ip.input(packet, 1000.5); };
    run(20_000);
    const perPacket = allocated(() => run(N)) / N;
    expect(got).toBe(64 * (20_000 + N));
    expect(sent()).toBe(20_000 + N);
    console.log(`UDP: ${perPacket.toFixed(1)} B allocated per datagram in + datagram out`);
    expect(perPacket).toBeLessThan(48);
  });
});
