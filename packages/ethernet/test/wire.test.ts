/** Golden bytes for Ethernet II and ARP, MAC text and the multicast mappings. */
import { describe, expect, it } from 'vitest';
import { seededRandom } from '@netstack/common';
import {
  ARP_REPLY, ARP_REQUEST, ArpPacket, EthernetFrame, MAC_BROADCAST, emitArp, emitEthernet, formatMac, ipv4MulticastMac,
  ipv6MulticastMac, isLocalMac, isMulticastMac, isUnicastMac, parseArp, parseEthernet, parseMac, randomMac,
} from '../src/index.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s|]+/g, ''), 'hex'));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const mac = (s: string): number => parseMac(s)!;

// Written by hand from RFC 826 and IEEE 802.3 §3.2.6 (field by field), not produced by the code.
const ARP_REQUEST_FRAME = hex(`
  ff ff ff ff ff ff | 02 00 5e 10 00 01 | 08 06
  00 01 | 08 00 | 06 | 04 | 00 01
  02 00 5e 10 00 01 | 0a 07 00 02
  00 00 00 00 00 00 | 0a 07 00 01`);
const ARP_REPLY_FRAME = hex(`
  02 00 5e 10 00 01 | 52 54 00 12 34 56 | 08 06
  00 01 | 08 00 | 06 | 04 | 00 02
  52 54 00 12 34 56 | 0a 07 00 01
  02 00 5e 10 00 01 | 0a 07 00 02`);

describe('MAC addresses', () => {
  it('parse and format round trip, colons or dashes, case-insensitive', () => {
    expect(formatMac(mac('02:00:5E:10:00:01'))).toBe('02:00:5e:10:00:01');
    expect(mac('02-00-5e-10-00-01')).toBe(0x02005e100001);
    expect(formatMac(MAC_BROADCAST)).toBe('ff:ff:ff:ff:ff:ff');
    expect(formatMac(0)).toBe('00:00:00:00:00:00');
    for (const bad of ['', '02:00:5e:10:00', '02:00:5e:10:00:01:02', '02:00:5e:10:00:0g', '102:00:5e:10:00:01', '02:00-5e:10:00:01']) {
      expect(parseMac(bad), bad).toBeUndefined();
    }
  });
  it('group and local bits', () => {
    expect(isMulticastMac(mac('01:00:5e:00:00:01'))).toBe(true);
    expect(isMulticastMac(MAC_BROADCAST)).toBe(true);
    expect(isUnicastMac(mac('52:54:00:12:34:56'))).toBe(true);
    expect(isUnicastMac(0)).toBe(false);
    expect(isLocalMac(mac('02:00:00:00:00:00'))).toBe(true);
    expect(isLocalMac(mac('52:54:00:12:34:56'))).toBe(true);
    expect(isLocalMac(mac('00:1b:21:00:00:01'))).toBe(false);
  });
  it('randomMac: locally administered unicast, deterministic for a seed, different across seeds', () => {
    const a = randomMac(seededRandom(1));
    expect(randomMac(seededRandom(1))).toBe(a);
    const seen = new Set<number>();
    for (let s = 0; s < 500; s++) {
      const m = randomMac(seededRandom(s));
      expect(isUnicastMac(m) && isLocalMac(m), formatMac(m)).toBe(true);
      expect(formatMac(m)).toMatch(/^[0-9a-f][26ae]:/);
      seen.add(m);
    }
    expect(seen.size).toBe(500);
  });
  it('RFC 1112 §6.4: 01:00:5e + low 23 bits of the group; RFC 2464 §7: 33:33 + low 32 bits', () => {
    expect(formatMac(ipv4MulticastMac(0xe0000001))).toBe('01:00:5e:00:00:01'); // 224.0.0.1
    expect(formatMac(ipv4MulticastMac(0xeffffffa))).toBe('01:00:5e:7f:ff:fa'); // 239.255.255.250
    expect(formatMac(ipv4MulticastMac(0xe8ab0c0d))).toBe('01:00:5e:2b:0c:0d'); // 232.171.12.13: bit 23 dropped
    const ff02_1_ff00_1 = hex('ff02 0000 0000 0000 0000 0001 ff00 0001');
    expect(formatMac(ipv6MulticastMac(ff02_1_ff00_1))).toBe('33:33:ff:00:00:01');
  });
});

describe('Ethernet II', () => {
  it('emit: golden header bytes', () => {
    const b = new Uint8Array(14);
    expect(emitEthernet({ dst: MAC_BROADCAST, src: mac('02:00:5e:10:00:01'), ethertype: 0x0806 }, b)).toBe(14);
    expect(toHex(b)).toBe(toHex(ARP_REQUEST_FRAME.subarray(0, 14)));
  });
  it('parse: the golden frame, and the view reads the same fields', () => {
    const r = parseEthernet(ARP_REPLY_FRAME);
    expect(r).toEqual({ dst: mac('02:00:5e:10:00:01'), src: mac('52:54:00:12:34:56'), ethertype: 0x0806 });
    const v = EthernetFrame.checked(ARP_REPLY_FRAME)!;
    expect([v.dst, v.src, v.ethertype, v.payload.length]).toEqual([mac('02:00:5e:10:00:01'), mac('52:54:00:12:34:56'), 0x0806, 28]);
  });
  it('refuses: truncated, 802.3 length-type (LLC), multicast source, 802.1Q and 802.1ad tags', () => {
    const good = ARP_REPLY_FRAME.slice();
    expect(parseEthernet(good.subarray(0, 13))).toBe('truncated');
    const llc = good.slice(); llc[12] = 0x00; llc[13] = 0x2e; // 46-byte 802.3 length, then LLC
    expect(parseEthernet(llc)).toBe('length-type');
    const edge = good.slice(); edge[12] = 0x05; edge[13] = 0xff; // 1535: neither a length nor an EtherType
    expect(parseEthernet(edge)).toBe('length-type');
    const mcSrc = good.slice(); mcSrc[6] = 0x01;
    expect(parseEthernet(mcSrc)).toBe('bad-source');
    const q = good.slice(); q[12] = 0x81; q[13] = 0x00;
    expect(parseEthernet(q)).toBe('vlan');
    const ad = good.slice(); ad[12] = 0x88; ad[13] = 0xa8;
    expect(parseEthernet(ad)).toBe('vlan');
    const v6 = good.slice(); v6[12] = 0x86; v6[13] = 0xdd;
    expect(parseEthernet(v6)).toMatchObject({ ethertype: 0x86dd });
  });
});

describe('ARP (RFC 826)', () => {
  it('emit: a request, golden bytes', () => {
    const b = new Uint8Array(42);
    emitEthernet({ dst: MAC_BROADCAST, src: mac('02:00:5e:10:00:01'), ethertype: 0x0806 }, b);
    emitArp({ operation: ARP_REQUEST, senderMac: mac('02:00:5e:10:00:01'), senderIp: 0x0a070002, targetMac: 0, targetIp: 0x0a070001 }, b, 14);
    expect(toHex(b)).toBe(toHex(ARP_REQUEST_FRAME));
  });
  it('emit: a reply, golden bytes', () => {
    const b = new Uint8Array(42);
    emitEthernet({ dst: mac('02:00:5e:10:00:01'), src: mac('52:54:00:12:34:56'), ethertype: 0x0806 }, b);
    emitArp({ operation: ARP_REPLY, senderMac: mac('52:54:00:12:34:56'), senderIp: 0x0a070001, targetMac: mac('02:00:5e:10:00:01'), targetIp: 0x0a070002 }, b, 14);
    expect(toHex(b)).toBe(toHex(ARP_REPLY_FRAME));
  });
  it('parse: both golden packets; padding to 60 bytes ignored', () => {
    expect(parseArp(ARP_REQUEST_FRAME.subarray(14))).toEqual({
      operation: 1, senderMac: mac('02:00:5e:10:00:01'), senderIp: 0x0a070002, targetMac: 0, targetIp: 0x0a070001,
    });
    const padded = new Uint8Array(60);
    padded.set(ARP_REPLY_FRAME);
    padded.fill(0xee, 42);
    expect(parseArp(padded.subarray(14))).toEqual({
      operation: 2, senderMac: mac('52:54:00:12:34:56'), senderIp: 0x0a070001, targetMac: mac('02:00:5e:10:00:01'), targetIp: 0x0a070002,
    });
    const v = ArpPacket.checked(ARP_REPLY_FRAME.subarray(14))!;
    expect([v.htype, v.ptype, v.hlen, v.plen, v.operation]).toEqual([1, 0x0800, 6, 4, 2]);
  });
  it('parse refuses: truncated, other hardware/protocol types or lengths, other operations', () => {
    const a = ARP_REQUEST_FRAME.slice(14);
    expect(parseArp(a.subarray(0, 27))).toBe('truncated');
    for (const [i, v] of [[1, 6], [3, 0xdd], [4, 8], [5, 16]] as const) {
      const b = a.slice(); b[i] = v;
      expect(parseArp(b), `byte ${i}`).toBe('unsupported');
    }
    for (const op of [0, 3, 4, 0x101]) {
      const b = a.slice(); b[6] = op >> 8; b[7] = op & 0xff;
      expect(parseArp(b), `op ${op}`).toBe('bad-op');
    }
  });
});
