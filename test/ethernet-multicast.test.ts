/**
 * Multicast between whole stacks over Ethernet (`createStack({ link: eth })` on a
 * LearningSwitch): a UDP socket's addMembership reaches the interface (its MAC filter and
 * IGMP/MLD, @netstack/ethernet mcast.ts), for udp4 and udp6 alike. Real time, the switch
 * delivering on setImmediate; every wait is on an event, bounded by the test timeout.
 */
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { EthernetInterface, LearningSwitch } from '@netstack/ethernet';
import { formatAddress, parseIpv6Address, type IpAddress } from '@netstack/ip';
import { createStack, type Stack } from '@netstack/netstack';

async function host(sw: LearningSwitch, address: string, mac: string, address6: string): Promise<{ stack: Stack; eth: EthernetInterface }> {
  const eth = new EthernetInterface({
    link: sw.port(), mac, ipv4: { address, prefixLength: 24 }, ipv6: { addresses: [parseIpv6Address(address6)!], prefixLength: 64 },
  });
  const stack = await createStack({ link: eth, address: [address, address6], prefixLength: 24 });
  return { stack, eth };
}

describe('UDP multicast between stacks on a switch', () => {
  for (const [family, group, unicastB] of [['udp4', '239.5.5.5', '10.9.0.2'], ['udp6', 'ff0e::5:5', 'fd00::2']] as const) {
    it(`${family}: datagrams to ${group} reach B only while it is a member; the interface reports the group (IGMP/MLD)`, { timeout: 20_000 }, async () => {
      const sw = new LearningSwitch();
      const a = await host(sw, '10.9.0.1', '02:00:00:00:05:01', 'fd00::1');
      const b = await host(sw, '10.9.0.2', '02:00:00:00:05:02', 'fd00::2');
      try {
        const rx = b.stack.udp.createSocket(family);
        const got: string[] = [];
        rx.on('message', (m) => got.push(String(m)));
        rx.bind(5000);
        await once(rx, 'listening');
        const tx = a.stack.udp.createSocket(family);
        const send = (text: string, host: string = group): Promise<void> => new Promise((r) => tx.send(text, 5000, host, () => r()));
        const dropped0 = b.eth.counters().ethernet.InDropMulticastNotJoined;
        await send('before-join');
        await send('marker-1', unicastB);
        while (!got.includes('marker-1')) await once(rx, 'message');
        rx.addMembership(group);
        const reported = family === 'udp4' ? b.eth.igmp.groups().map((g) => formatAddress(g)) : b.eth.mld.groups().map((g) => formatAddress(g as IpAddress));
        expect(reported).toContain(group);
        await send('during');
        while (!got.includes('during')) await once(rx, 'message');
        rx.dropMembership(group);
        expect(family === 'udp4' ? b.eth.igmp.groups() : b.eth.mld.groups().map((g) => formatAddress(g as IpAddress))).not.toContain(group);
        await send('after-leave');
        await send('marker-2', unicastB);
        while (!got.includes('marker-2')) await once(rx, 'message');
        expect(got).toEqual(['marker-1', 'during', 'marker-2']);
        expect(b.eth.counters().ethernet.InDropMulticastNotJoined - dropped0).toBeGreaterThanOrEqual(2);
        const c = b.eth.counters();
        if (family === 'udp4') expect(c.igmp).toMatchObject({ Joins: 1, Leaves: 1 });
        else expect(c.mld).toMatchObject({ Joins: 2, Leaves: 1 }); // fd00::2's solicited-node group, then ff0e::5:5
        tx.close();
        rx.close();
      } finally {
        await b.stack.close();
        await a.stack.close();
        sw.close();
      }
    });
  }

  it('a source-specific join (addSourceSpecificMembership) is the interface\'s INCLUDE filter, reported with its source (IGMPv3); its drop leaves', { timeout: 20_000 }, async () => {
    const sw = new LearningSwitch();
    const a = await host(sw, '10.9.0.1', '02:00:00:00:05:01', 'fd00::1');
    const b = await host(sw, '10.9.0.2', '02:00:00:00:05:02', 'fd00::2');
    try {
      const rx = b.stack.udp.createSocket('udp4');
      rx.bind(5000);
      await once(rx, 'listening');
      rx.addSourceSpecificMembership('10.9.0.1', '232.1.1.1');
      expect(b.eth.igmp.filter(0xe8010101)).toEqual({ mode: 'include', sources: [0x0a090001] });
      const tx = a.stack.udp.createSocket('udp4');
      tx.send('from the source', 5000, '232.1.1.1');
      const [msg] = await once(rx, 'message');
      expect(String(msg)).toBe('from the source');
      // An any-source member on another socket makes it EXCLUDE {}; its close, INCLUDE again.
      const any = b.stack.udp.createSocket('udp4');
      any.bind(5001);
      await once(any, 'listening');
      any.addMembership('232.1.1.1');
      expect(b.eth.igmp.filter(0xe8010101)).toEqual({ mode: 'exclude', sources: [] });
      any.close();
      expect(b.eth.igmp.filter(0xe8010101)).toEqual({ mode: 'include', sources: [0x0a090001] });
      rx.dropSourceSpecificMembership('10.9.0.1', '232.1.1.1');
      expect(b.eth.igmp.has(0xe8010101)).toBe(false);
      expect(b.eth.counters().igmp).toMatchObject({ Joins: 1, Leaves: 1 });
      tx.close();
      rx.close();
    } finally {
      await b.stack.close();
      await a.stack.close();
      sw.close();
    }
  });
});
