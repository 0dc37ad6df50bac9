/**
 * The UDP core on its own, through its endpoint API (endpoint.ts: `UdpEndpoint`,
 * `SocketHost`), as a facade uses it: failures come back as errno codes, never as
 * Node's errors (no `errno`, no libuv message: those are made in @netstack/netstack).
 * The node:dgram socket over it is tested in packages/netstack/test/dgram.
 */
import { describe, expect, it } from 'vitest';
import { PROTO_UDP, formatAddress, type Ipv4Address, type TransportError } from '@netstack/ip';
import { UdpLayer, type UdpEndpoint } from '../src/index.js';
import { FakeIp, ip, parseSent, udpIn } from './helpers.js';

interface Got {
  datagrams: string[];
  errors: string[];
  closed: number;
}

function endpoint(reuseAddr = false): UdpEndpoint & { got: Got } {
  const got: Got = { datagrams: [], errors: [], closed: 0 };
  return {
    got,
    localAddr: ip('0.0.0.0'),
    localPort: 0,
    remoteAddr: ip('0.0.0.0'),
    remotePort: 0,
    reuseAddr,
    order: 0,
    onDatagram(payload: Uint8Array, src: Ipv4Address, srcPort: number): boolean {
      got.datagrams.push(`${formatAddress(src)}:${srcPort} ${Buffer.from(payload).toString()}`);
      return true;
    },
    onError(code: string): void {
      got.errors.push(code);
    },
    close(): void {
      got.closed++;
    },
    mcTtl: 1,
    mcLoop: true,
    memberships: [],
  };
}

function setup(maxSockets?: number) {
  const net = new FakeIp('10.0.0.2');
  const udp = new UdpLayer(net, { portKey: new Uint8Array(16).fill(3), ...(maxSockets !== undefined ? { maxSockets } : {}) });
  return { net, udp };
}

describe('the port table reports errno codes', () => {
  it('bind: undefined on success, EADDRINUSE / EADDRNOTAVAIL / EMFILE as plain strings', () => {
    const { udp } = setup(3);
    const a = endpoint();
    expect(udp.bind(a, ip('0.0.0.0'), 53)).toBeUndefined();
    expect([a.localPort, formatAddress(a.localAddr)]).toEqual([53, '0.0.0.0']);
    expect(udp.bind(endpoint(), ip('10.0.0.2'), 53)).toBe('EADDRINUSE');
    expect(udp.bind(endpoint(), ip('10.9.9.9'), 54)).toBe('EADDRNOTAVAIL');
    const e = endpoint();
    expect(udp.bind(e, ip('10.0.0.2'), 0)).toBeUndefined();
    expect(e.localPort).toBeGreaterThanOrEqual(49152);
    expect(udp.bind(endpoint(), ip('0.0.0.0'), 55)).toBeUndefined();
    expect(udp.bind(endpoint(), ip('0.0.0.0'), 56)).toBe('EMFILE');
    udp.unbind(a);
    expect(udp.bind(endpoint(), ip('0.0.0.0'), 53)).toBeUndefined();
  });
  it('connect: ENETUNREACH without a route; a 0.0.0.0 endpoint takes the route source', () => {
    const { net, udp } = setup();
    const a = endpoint();
    udp.bind(a, ip('0.0.0.0'), 5000);
    net.noRoute.add(ip('192.0.2.1'));
    expect(udp.connect(a, ip('192.0.2.1'), 53)).toBe('ENETUNREACH');
    expect(udp.connect(a, ip('10.0.0.7'), 53)).toBeUndefined();
    expect([formatAddress(a.localAddr), formatAddress(a.remoteAddr), a.remotePort]).toEqual(['10.0.0.2', '10.0.0.7', 53]);
    udp.disconnect(a, ip('0.0.0.0'));
    expect([formatAddress(a.localAddr), a.remotePort]).toEqual(['0.0.0.0', 0]);
  });
  it('send: the IP layer\'s code comes back as it is (ENOBUFS counted as SndbufErrors)', () => {
    const { net, udp } = setup();
    const a = endpoint();
    udp.bind(a, ip('0.0.0.0'), 5000);
    expect(udp.send(a, ip('10.0.0.7'), 53, [Buffer.from('hi')], 2)).toBeUndefined();
    expect(parseSent(net.sent[0]!)).toMatchObject({ srcPort: 5000, dstPort: 53, payload: Uint8Array.from(Buffer.from('hi')) });
    net.failNext = 'ENOBUFS';
    expect(udp.send(a, ip('10.0.0.7'), 53, [Buffer.from('hi')], 2)).toBe('ENOBUFS');
    expect(udp.stats()).toMatchObject({ OutDatagrams: 1, SndbufErrors: 1 });
  });
  it('membership: Linux\'s errno codes', () => {
    const { udp } = setup();
    const a = endpoint();
    const G = ip('239.1.1.1');
    const ANY = ip('0.0.0.0');
    expect(udp.membership(a, 'join', ip('10.0.0.9'), ANY, ANY)).toBe('EINVAL'); // not a group
    expect(udp.membership(a, 'join', G, ip('10.0.0.9'), ANY)).toBe('ENODEV'); // not our interface
    expect(udp.membership(a, 'join', G, ANY, ANY)).toBeUndefined();
    expect(udp.membership(a, 'join', G, ANY, ANY)).toBe('EADDRINUSE');
    expect(udp.membership(a, 'leave', ip('239.1.1.2'), ANY, ANY)).toBe('EADDRNOTAVAIL');
    expect(udp.membership(a, 'leave', G, ANY, ANY)).toBeUndefined();
  });
  it('misuse of the core throws a coded error with a plain message (no Node wording)', () => {
    const net = new FakeIp('10.0.0.2');
    let err: unknown;
    try {
      new UdpLayer(net, { ephemeralRange: [10, 5] });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RangeError);
    expect(err).toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
    expect((err as Error).message).not.toMatch(/^The value of/); // Node's ERR_OUT_OF_RANGE text is the facade's
    const { udp } = setup();
    udp.close();
    expect(() => udp.bind(endpoint(), ip('0.0.0.0'), 1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
  });
});

describe('delivery and errors reach the endpoint', () => {
  it('a datagram goes to the best endpoint; an ICMP error reaches a connected one as a code', () => {
    const { udp } = setup();
    const any = endpoint();
    const connected = endpoint();
    udp.bind(any, ip('0.0.0.0'), 53);
    udp.bind(connected, ip('0.0.0.0'), 0);
    udp.connect(connected, ip('10.0.0.7'), 9);
    udp.receive(udpIn({ src: '10.0.0.1', srcPort: 7, dstPort: 53, payload: 'a' }), 0);
    udp.receive(udpIn({ src: '10.0.0.7', srcPort: 9, dstPort: connected.localPort, payload: 'b' }), 0);
    expect(any.got.datagrams).toEqual(['10.0.0.1:7 a']);
    expect(connected.got.datagrams).toEqual(['10.0.0.7:9 b']);
    const unreachable = (sport: number, dport: number): TransportError => ({
      icmpType: 3, icmpCode: 3, reporter: ip('10.0.0.7'), src: ip('10.0.0.2'), dst: ip('10.0.0.7'), protocol: PROTO_UDP,
      quoted: Uint8Array.from([sport >> 8, sport & 255, dport >> 8, dport & 255, 0, 8, 0, 0]), nextHopMtu: 0,
    });
    udp.receiveError(unreachable(connected.localPort, 9), 0);
    udp.receiveError(unreachable(53, 9), 0); // `any` is not connected: Linux without IP_RECVERR says nothing
    expect(connected.got.errors).toEqual(['ECONNREFUSED']);
    expect(any.got.errors).toEqual([]);
  });
  it('close() closes every bound endpoint once and sets closed', () => {
    const { udp } = setup();
    const a = endpoint();
    const b = endpoint();
    udp.bind(a, ip('0.0.0.0'), 1000);
    udp.bind(b, ip('10.0.0.2'), 1001);
    udp.close();
    expect([a.got.closed, b.got.closed, udp.closed]).toEqual([1, 1, true]);
  });
});
