/**
 * DHCP wire format (RFC 2131 §2, RFC 2132): golden DISCOVER and REQUEST written by hand
 * from the RFCs' figures, option overload (RFC 2132 §9.3) and split options (RFC 3396)
 * read, and fast-check runs in which parse never throws and emit → parse is the identity.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DHCPDISCOVER,
  DHCPOFFER,
  DHCPREQUEST,
  DhcpPacket,
  dhcpBufferLen,
  emitDhcp,
  maskToPrefix,
  parseDhcp,
  type DhcpMessage,
} from '../src/dhcp/wire.js';

const hex = (s: string): Uint8Array => Uint8Array.from(s.replace(/\s+/g, '').match(/../g)!.map((b) => parseInt(b, 16)));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const zeros = (n: number): string => '00'.repeat(n);

const MAC = 0x000b8201fc42;
const XID = 0x3903f326;

/** RFC 2131 §2 Figure 1, field by field: a client's BOOTREQUEST with the BROADCAST flag. */
function fixed(xid: string, secs: string, flags: string, ciaddr: string): string {
  return '01' + '01' + '06' + '00' // op BOOTREQUEST, htype Ethernet, hlen 6, hops 0
    + xid + secs + flags
    + ciaddr + zeros(4) + zeros(4) + zeros(4) // ciaddr, yiaddr, siaddr, giaddr
    + '000b8201fc42' + zeros(10) // chaddr, 16 octets
    + zeros(64) + zeros(128) // sname, file
    + '63825363'; // RFC 2131 §3: the magic cookie 99.130.83.99
}

// RFC 2132: 53 (§9.6) DISCOVER; 61 (§9.14) type 1 + MAC; 57 (§9.10) 1500; 55 (§9.8) 1 3 6 26 58 59; End; pad to 300 (RFC 951).
const DISCOVER_OPTS = '350101' + '3d0701000b8201fc42' + '390205dc' + '3706010306' + '1a3a3b' + 'ff';
const DISCOVER = hex(fixed('3903f326', '0000', '8000', zeros(4)) + DISCOVER_OPTS + zeros(300 - 240 - DISCOVER_OPTS.length / 2));
// The REQUEST of SELECTING (§4.4.1 Table 5): 53 REQUEST, 61, 50 (§9.1) 192.168.0.100, 54 (§9.7) 192.168.0.1, 57, 55.
const REQUEST_OPTS = '350103' + '3d0701000b8201fc42' + '3204c0a80064' + '3604c0a80001' + '390205dc' + '3706010306' + '1a3a3b' + 'ff';
const REQUEST = hex(fixed('3903f326', '0000', '8000', zeros(4)) + REQUEST_OPTS + zeros(300 - 240 - REQUEST_OPTS.length / 2));

const clientId = hex('01000b8201fc42');

function base(options: DhcpMessage['options']): DhcpMessage {
  return {
    op: 1, htype: 1, hlen: 6, hops: 0, xid: XID, secs: 0, broadcast: true,
    ciaddr: 0, yiaddr: 0, siaddr: 0, giaddr: 0, chaddr: MAC, sname: '', file: '', options,
  };
}

describe('DHCP wire format', () => {
  it('emits a DISCOVER byte for byte (golden, RFC 2131 §2 / RFC 2132)', () => {
    const m = base({ messageType: DHCPDISCOVER, clientId, maxMessageSize: 1500, parameterRequestList: [1, 3, 6, 26, 58, 59] });
    expect(dhcpBufferLen(m)).toBe(300);
    expect(toHex(emitDhcp(m))).toBe(toHex(DISCOVER));
    const p = new DhcpPacket(DISCOVER);
    expect([p.op, p.htype, p.hlen, p.xid, p.flags, p.chaddrMac, p.cookie]).toEqual([1, 1, 6, XID, 0x8000, MAC, 0x63825363]);
  });

  it('emits a REQUEST (SELECTING) byte for byte and parses it back', () => {
    const m = base({ messageType: DHCPREQUEST, clientId, requestedIp: 0xc0a80064, serverId: 0xc0a80001, maxMessageSize: 1500, parameterRequestList: [1, 3, 6, 26, 58, 59] });
    expect(toHex(emitDhcp(m))).toBe(toHex(REQUEST));
    const back = parseDhcp(REQUEST);
    expect(back).toEqual(m);
  });

  it('parses a server OFFER whose options continue in file and sname (overload 3), and a split option (RFC 3396)', () => {
    const b = new Uint8Array(300);
    b.set(hex('02010600' + '3903f326' + '0000' + '0000' + zeros(4) + 'c0a80064' + 'c0a80001' + zeros(4) + '000b8201fc42'), 0);
    b.set(hex('63825363'), 236);
    // options field: 53 OFFER, 52 overload 3, DNS part 1 (one address), End
    b.set(hex('350102' + '340103' + '0604' + '08080808' + 'ff'), 240);
    // file (offset 108): 54 server id, 1 mask, DNS part 2 (RFC 3396: concatenated in order), End
    b.set(hex('3604c0a80001' + '0104ffffff00' + '0604' + '01010101' + 'ff'), 108);
    // sname (offset 44): 51 lease 3600, 3 router, Pad, Pad, End
    b.set(hex('330400000e10' + '0304c0a80001' + '0000' + 'ff'), 44);
    const m = parseDhcp(b);
    if (typeof m === 'string') throw new Error(m);
    expect(m.op).toBe(2);
    expect(m.yiaddr).toBe(0xc0a80064);
    expect(m.options).toEqual({
      messageType: DHCPOFFER, serverId: 0xc0a80001, subnetMask: 0xffffff00, leaseTime: 3600,
      routers: [0xc0a80001], dnsServers: [0x08080808, 0x01010101],
    });
    expect([m.sname, m.file]).toEqual(['', '']);
    // Without the overload option the same fields are names, not options.
    const plain = b.slice();
    plain.set(hex('350102ff'), 240);
    plain.fill(0, 44, 236); // clear sname and file
    plain.set(Buffer.from('boot.server'), 44);
    const p = parseDhcp(plain);
    if (typeof p === 'string') throw new Error(p);
    expect(p.sname).toBe('boot.server');
    expect(p.options).toEqual({ messageType: DHCPOFFER });
  });

  it('splits an option over 255 octets on emit and joins it on parse (RFC 3396)', () => {
    const long = Uint8Array.from({ length: 600 }, (_, i) => i & 0xff);
    const m = base({ messageType: DHCPDISCOVER, other: [{ code: 77, data: long }] });
    const b = emitDhcp(m);
    expect(b.length).toBe(240 + 3 + (600 + 3 * 2) + 1);
    expect([b[243], b[244], b[243 + 257], b[244 + 257], b[243 + 514], b[244 + 514]]).toEqual([77, 255, 77, 255, 77, 90]);
    const back = parseDhcp(b);
    expect(back).toEqual(m);
  });

  it('refuses what it cannot represent, with a reason', () => {
    const ok = emitDhcp(base({ messageType: DHCPDISCOVER }));
    const bad = (f: (b: Uint8Array) => void): unknown => { const b = ok.slice(); f(b); return parseDhcp(b); };
    expect(parseDhcp(ok.subarray(0, 239))).toBe('truncated');
    expect(bad((b) => { b[236] = 0; })).toBe('bad-cookie');
    expect(bad((b) => { b[2] = 17; })).toBe('bad-hlen');
    expect(parseDhcp(Uint8Array.of(...ok.subarray(0, 240), 53, 4, 1))).toBe('option-overrun');
    expect(parseDhcp(Uint8Array.of(...ok.subarray(0, 240), 53))).toBe('option-overrun');
    expect(bad((b) => { b.set([53, 2, 1, 1, 255], 240); })).toBe('bad-option'); // message type is one octet
    expect(bad((b) => { b.set([1, 3, 255, 255, 0, 255], 240); })).toBe('bad-option'); // a mask of 3 octets
    expect(bad((b) => { b.set([3, 6, 1, 2, 3, 4, 5, 6, 255], 240); })).toBe('bad-option'); // routers not a multiple of 4
    expect(bad((b) => { b.set([52, 1, 4, 255], 240); })).toBe('bad-overload');
    expect(bad((b) => { b.set([52, 1, 1, 255], 240); b.set([52, 1, 1, 255], 108); })).toBe('bad-overload'); // 52 inside file
    expect(bad((b) => { b.set([52, 1, 2, 255], 240); b.set([53, 70], 44); })).toBe('option-overrun'); // runs past sname
    // A missing End: the field ends at its last octet.
    expect(typeof parseDhcp(Uint8Array.of(...ok.subarray(0, 240), 53, 1, 2))).toBe('object');
  });

  it('maskToPrefix takes contiguous masks only', () => {
    expect(maskToPrefix(0xffffff00)).toBe(24);
    expect(maskToPrefix(0xffffffff)).toBe(32);
    expect(maskToPrefix(0)).toBe(0);
    expect(maskToPrefix(0xfffffffe)).toBe(31);
    expect(maskToPrefix(0xff00ff00)).toBeUndefined();
    expect(maskToPrefix(0x00ffffff)).toBeUndefined();
  });

  it('never throws on arbitrary bytes, nor on mutations of a valid message (fast-check)', () => {
    const errors = new Set(['truncated', 'bad-cookie', 'bad-hlen', 'option-overrun', 'bad-overload', 'bad-option']);
    const check = (b: Uint8Array): void => {
      const r = parseDhcp(b);
      if (typeof r === 'string') expect(errors.has(r)).toBe(true);
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 700 }), (b) => check(b)), { numRuns: 2000 });
    const good = emitDhcp(base({ messageType: DHCPREQUEST, clientId, requestedIp: 1, serverId: 2, parameterRequestList: [1, 3] }));
    fc.assert(fc.property(
      fc.array(fc.tuple(fc.nat(good.length + 40), fc.nat(255)), { maxLength: 12 }),
      fc.nat(good.length + 40),
      (edits, len) => {
        const b = new Uint8Array(Math.max(len, 200));
        b.set(good.subarray(0, b.length));
        for (const [at, v] of edits) if (at < b.length) b[at] = v;
        check(b);
      },
    ), { numRuns: 3000 });
  });

  it('emit then parse is the identity for arbitrary records (fast-check)', () => {
    const u32 = fc.maxSafeNat().map((x) => x % 0x100000000);
    const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
    const printable = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789.-'.split('')), minLength: 1, maxLength: 40 });
    const options = fc.record({
      messageType: fc.integer({ min: 1, max: 8 }),
      subnetMask: u32,
      routers: fc.array(u32, { minLength: 1, maxLength: 70 }),
      dnsServers: fc.array(u32, { minLength: 1, maxLength: 3 }),
      hostName: printable,
      mtu: fc.nat(0xffff),
      requestedIp: u32,
      leaseTime: u32,
      serverId: u32,
      parameterRequestList: fc.array(fc.integer({ min: 1, max: 254 }), { minLength: 1, maxLength: 20 }),
      renewalTime: u32,
      rebindingTime: u32,
      clientId: bytes(2, 300),
    }, { requiredKeys: [] });
    fc.assert(fc.property(options, u32, fc.nat(0xffff), fc.boolean(), fc.maxSafeNat().map((x) => x % 2 ** 48), (o, xid, secs, bc, mac) => {
      const m: DhcpMessage = { ...base(o as DhcpMessage['options']), xid, secs, broadcast: bc, chaddr: mac, ciaddr: (xid ^ 1) >>> 0, yiaddr: 7 };
      const b = emitDhcp(m);
      expect(b.length).toBe(dhcpBufferLen(m));
      expect(parseDhcp(b)).toEqual(m);
    }), { numRuns: 500 });
  });
});
