/**
 * Whole stacks over Ethernet with no change to the stack: an EthernetInterface is a `Link`
 * of IP packets, so `createStack({ link: eth })` runs over a LearningSwitch port as it does
 * over a TUN device. TCP echo, UDP and ping between two stacks, ARP underneath (real time,
 * the switch delivering on setImmediate; every wait is on an event, bounded by the test
 * timeout).
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { EthernetInterface, LearningSwitch } from '@netstack/ethernet';
import { parseIpv6Address } from '@netstack/ip';
import { createStack, type Stack } from '@netstack/netstack';

async function host(sw: LearningSwitch, address: string, mac: string, address6?: string): Promise<{ stack: Stack; eth: EthernetInterface }> {
  const ipv6 = address6 === undefined ? {} : { ipv6: { addresses: [parseIpv6Address(address6)!], prefixLength: 64 } };
  const eth = new EthernetInterface({ link: sw.port(), mac, ipv4: { address, prefixLength: 24 }, ...ipv6 });
  const stack = await createStack({ link: eth, address: address6 === undefined ? address : [address, address6], prefixLength: 24 });
  return { stack, eth };
}

describe('createStack over EthernetInterface (no stack change)', () => {
  it('TCP echo, UDP and ping between two stacks on one switch; ARP resolved each way once', { timeout: 20_000 }, async () => {
    const sw = new LearningSwitch();
    const a = await host(sw, '10.9.0.1', '02:00:00:00:01:01');
    const b = await host(sw, '10.9.0.2', '02:00:00:00:01:02');
    try {
      const echo = a.stack.tcp.createServer((s) => s.pipe(s)).listen(7);
      await once(echo, 'listening');
      const conn = b.stack.tcp.connect({ host: '10.9.0.1', port: 7 });
      const sent = Buffer.alloc(200_000, 'x');
      for (let i = 0; i < sent.length; i++) sent[i] = (i * 7) & 0xff;
      conn.end(sent);
      const chunks: Buffer[] = [];
      for await (const c of conn) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(sent)).toBe(true);
      echo.close();

      const us = a.stack.udp.createSocket('udp4');
      us.on('message', (msg, r) => us.send(msg, r.port, r.address));
      us.bind(9);
      await once(us, 'listening');
      const uc = b.stack.udp.createSocket('udp4');
      uc.send('over ethernet', 9, '10.9.0.1');
      const [msg] = await once(uc, 'message');
      expect(String(msg)).toBe('over ethernet');
      uc.close();
      us.close();

      const r = await a.stack.ping('10.9.0.2');
      expect(r.bytes).toBe(64);

      const ea = a.eth.counters();
      const eb = b.eth.counters();
      expect(ea.ethernet.ArpOutRequests + eb.ethernet.ArpOutRequests).toBe(1);
      expect(ea.ethernet.ArpOutReplies + eb.ethernet.ArpOutReplies).toBe(1);
      expect(ea.neighbour.Entries).toBe(1);
      expect(eb.neighbour.Entries).toBe(1);
      expect(a.eth.stats().RxPackets).toBeGreaterThan(100);
      expect(sw.stats()).toMatchObject({ Entries: 2 });
    } finally {
      await b.stack.close();
      await a.stack.close();
      sw.close();
    }
  });

  it('IPv6 too (RFC 4861 address resolution): TCP echo and ping over fd00::/64, one NS/NA exchange', { timeout: 20_000 }, async () => {
    const sw = new LearningSwitch();
    const a = await host(sw, '10.9.0.1', '02:00:00:00:02:01', 'fd00::1');
    const b = await host(sw, '10.9.0.2', '02:00:00:00:02:02', 'fd00::2');
    try {
      const echo = a.stack.tcp.createServer((s) => s.pipe(s)).listen(7, '::');
      await once(echo, 'listening');
      const conn = b.stack.tcp.connect({ host: 'fd00::1', port: 7 });
      const sent = Buffer.alloc(100_000);
      for (let i = 0; i < sent.length; i++) sent[i] = (i * 13) & 0xff;
      conn.end(sent);
      const chunks: Buffer[] = [];
      for await (const c of conn) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(sent)).toBe(true);
      expect(conn.remoteAddress).toBe('fd00::1');
      echo.close();
      const r = await a.stack.ping('fd00::2');
      expect(r.bytes).toBe(64);
      const ea = a.eth.counters();
      const eb = b.eth.counters();
      expect(eb.ethernet.NdpOutSolicits).toBe(1);
      expect(ea.ethernet.NdpOutAdverts).toBe(1);
      expect(ea.ethernet.NdpOutSolicits).toBe(0); // a learned b from its NS (STALE → DELAY, confirmed by nothing yet)
      expect(a.eth.neighbours6.get(parseIpv6Address('fd00::2')!)?.mac).toBe(0x020000000202);
      expect(ea.ethernet.InIpv6).toBeGreaterThan(50);
      expect(ea.neighbour.Entries + eb.neighbour.Entries).toBe(0); // no ARP at all
    } finally {
      await b.stack.close();
      await a.stack.close();
      sw.close();
    }
  });
});
