/**
 * `UdpFlowSocket.unreachable(kind)` (issue 12: ICMP errors for relayed flows): B
 * (anyAddress) answers A's UDP flow to a foreign address with an ICMP destination
 * unreachable quoting A's first datagram; A's connected socket fails as a Linux one would.
 * Two stacks on a memory link pair, virtual time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLinkPair } from '@netstack/tun';
import { Stack } from '../src/stack.js';
import { checkAccounting } from '../src/accounting.js';
import type { UdpFlowSocket } from '../src/dgram/index.js';
import { parseIpAddress, type InboundDatagram, type Ipv4Address, type Ipv6Address } from '@netstack/ip';
import { AutoClock, until } from './harness-net.js';

function makePair() {
  const links = createLinkPair({ mtu: 1500 });
  const clock = new AutoClock();
  clock.links = links;
  const a = new Stack({ link: links.a, address: ['10.0.0.1', 'fd00::1'], prefixLength: 24, gateway: '10.0.0.2', gateway6: 'fd00::2', clock });
  const b = new Stack({ link: links.b, address: ['10.0.0.2', 'fd00::2'], prefixLength: 24, anyAddress: true, clock });
  return { a, b, clock, close: () => { clock.stop(); links.close(); } };
}

let current: ReturnType<typeof makePair> | undefined;
afterEach(() => {
  if (current !== undefined) for (const s of [current.a, current.b]) expect(checkAccounting(s.stats()).violations).toEqual([]);
  current?.close();
  current = undefined;
});

describe('UdpFlowSocket.unreachable: the relay tells the client its upstream failed', () => {
  for (const [fam, dst] of [[4, '192.0.2.55'], [6, '2001:db8::55']] as const) {
    // Hard errors only (Linux icmp_err_convert: port unreachable and "packet filtered" are
    // fatal; a connected socket without IP_RECVERR never hears of the soft ones below).
    for (const [kind, errno] of [['port', 'ECONNREFUSED'], ['admin-prohibited', 'EHOSTUNREACH']] as const) {
      it(`IPv${fam}: '${kind}' -> A's connected socket fails with ${errno}, after its second datagram as well`, async () => {
        const p = (current = makePair());
        const flows: UdpFlowSocket[] = [];
        p.b.udp.interceptFlows((flow) => {
          flows.push(flow);
          // Each datagram answered with the error (as a relay whose upstream keeps refusing).
          flow.on('message', () => { expect(flow.unreachable(kind)).toBe(true); });
        });
        const s = p.a.udp.createSocket(fam === 4 ? 'udp4' : 'udp6');
        const errors: string[] = [];
        s.on('error', (e: Error & { code?: string }) => errors.push(e.code ?? '?'));
        await new Promise<void>((r) => s.connect(53, dst, () => r()));
        s.send('one');
        await until(() => errors.length === 1);
        s.send('two');
        await until(() => errors.length === 2);
        expect(errors).toEqual([errno, errno]);
        expect(flows).toHaveLength(1);
        expect(p.b.stats().udp!.FlowUnreachReports).toBe(2);
        s.close();
        // Closed: nothing more to say.
        flows[0]!.close();
        expect(flows[0]!.unreachable(kind)).toBe(false);
      });
    }
  }

  for (const [fam, dst] of [[4, '192.0.2.55'], [6, '2001:db8::55']] as const) {
    it(`IPv${fam}: 'host' and 'net' reach A as ICMP (soft errors: a connected socket goes on, as on Linux)`, async () => {
      const p = (current = makePair());
      const kinds = ['host', 'net'] as const;
      p.b.udp.interceptFlows((flow) => {
        let n = 0;
        flow.on('message', () => { expect(flow.unreachable(kinds[n++ % 2])).toBe(true); });
      });
      const s = p.a.udp.createSocket(fam === 4 ? 'udp4' : 'udp6');
      const errors: string[] = [];
      s.on('error', (e: Error & { code?: string }) => errors.push(e.code ?? '?'));
      await new Promise<void>((r) => s.connect(53, dst, () => r()));
      s.send('one');
      s.send('two');
      const inUnreach = (): number => (fam === 4 ? p.a.stats().icmp!.InDestUnreachs : p.a.stats().icmp6!.Icmp6InDestUnreachs) ?? 0;
      await until(() => inUnreach() === 2);
      expect(errors).toEqual([]);
      expect(p.b.stats().udp!.FlowUnreachReports).toBe(2);
      s.close();
    });
  }
});

describe('flow datagrams carry their TTL and DF; quoteDatagram() feeds a relayed ICMP error from a router', () => {
  for (const [fam, dst, router] of [[4, '192.0.2.55', '198.51.100.1'], [6, '2001:db8::55', '2001:db8:1::1']] as const) {
    it(`IPv${fam}: rinfo.ttl is A's setTTL, rinfo.dontFragment as sent; time exceeded relayed from a router reaches A from that router`, async () => {
      const p = (current = makePair());
      const seen: { ttl: number; df: boolean }[] = [];
      let flow: UdpFlowSocket | undefined;
      p.b.udp.interceptFlows((f) => {
        flow = f;
        f.on('message', (_m: Buffer, rinfo: { ttl: number; dontFragment: boolean }) => seen.push({ ttl: rinfo.ttl, df: rinfo.dontFragment }));
      });
      const s = p.a.udp.createSocket(fam === 4 ? 'udp4' : 'udp6');
      await new Promise<void>((r) => s.connect(53, dst, () => r()));
      s.setTTL(7);
      s.send('one');
      s.setTTL(1);
      s.send('two');
      await until(() => seen.length === 2);
      expect(seen.map((x) => x.ttl)).toEqual([7, 1]);
      // IPv6: each arrived in one packet (unfragmented); IPv4: the DF bit as A's stack set it (the same both times).
      if (fam === 6) expect(seen.map((x) => x.df)).toEqual([true, true]);
      else expect(seen[0]!.df).toBe(seen[1]!.df);
      const q = flow!.quoteDatagram()!;
      expect(q.protocol).toBe(17);
      expect(q.ttl).toBe(7); // the first datagram's
      const before = (fam === 4 ? p.a.stats().icmp!.InTimeExcds : p.a.stats().icmp6!.Icmp6InTimeExcds) ?? 0;
      const from = parseIpAddress(router)!;
      const sent = fam === 4 ? p.b.icmp.relayError(11, 0, 0, q, from as Ipv4Address, p.clock.now()) : p.b.icmp6!.relayError(3, 0, 0, q as InboundDatagram<Ipv6Address>, from as Ipv6Address, p.clock.now());
      expect(sent).toBe(true);
      p.b.schedule();
      await until(() => (fam === 4 ? p.a.stats().icmp!.InTimeExcds : p.a.stats().icmp6!.Icmp6InTimeExcds) === before + 1);
      flow!.close();
      expect(flow!.quoteDatagram()).toBeUndefined();
      s.close();
    });
  }
});
