/**
 * The UDP core on its own, through its endpoint API (endpoint.ts: `UdpEndpoint`,
 * `SocketHost`), as a facade uses it: failures come back as errno codes, never as
 * Node's errors (no `errno`, no libuv message: those are made in @netstack/netstack).
 * The node:dgram socket over it is tested in packages/netstack/test/dgram.
 */
import { describe, expect, it } from 'vitest';
import { PROTO_UDP, formatAddress, type IpAddress, type TransportError } from '@netstack/ip';
import { UdpLayer, type UdpEndpoint } from '../src/index.js';
import { FAMILY, FakeIp, addr, anyIp, at, ip, parseSent, udpIn } from './helpers.js';

// The run's family (project udp: IPv4, udp6: IPv6): the same tests over both.
const ANY = at('0.0.0.0', '::');
const OWN_TEXT = addr('10.0.0.2', 'fd00::2');
const OWN = at('10.0.0.2', 'fd00::2');
const P1 = addr('10.0.0.1', 'fd00::1');
const P7 = addr('10.0.0.7', 'fd00::7');
const NOT_OURS = at('10.9.9.9', 'fd09::9');
const UNROUTED = at('192.0.2.1', '2001:db8::1');

interface Got {
  datagrams: string[];
  errors: string[];
  closed: number;
}

function endpoint(reuseAddr = false): UdpEndpoint & { got: Got } {
  const got: Got = { datagrams: [], errors: [], closed: 0 };
  return {
    got,
    localAddr: ANY,
    localPort: 0,
    remoteAddr: ANY,
    remotePort: 0,
    reuseAddr,
    order: 0,
    onDatagram(payload: Uint8Array, src: IpAddress, srcPort: number): boolean {
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
  const net = new FakeIp<IpAddress>(OWN);
  const udp = new UdpLayer(net, { portKey: new Uint8Array(16).fill(3), ...(maxSockets !== undefined ? { maxSockets } : {}) });
  return { net, udp };
}

describe('the port table reports errno codes', () => {
  it('bind: undefined on success, EADDRINUSE / EADDRNOTAVAIL / EMFILE as plain strings', () => {
    const { udp } = setup(3);
    const a = endpoint();
    expect(udp.bind(a, ANY, 53)).toBeUndefined();
    expect([a.localPort, formatAddress(a.localAddr)]).toEqual([53, formatAddress(ANY)]);
    expect(udp.bind(endpoint(), OWN, 53)).toBe('EADDRINUSE');
    expect(udp.bind(endpoint(), NOT_OURS, 54)).toBe('EADDRNOTAVAIL');
    const e = endpoint();
    expect(udp.bind(e, OWN, 0)).toBeUndefined();
    expect(e.localPort).toBeGreaterThanOrEqual(49152);
    expect(udp.bind(endpoint(), ANY, 55)).toBeUndefined();
    expect(udp.bind(endpoint(), ANY, 56)).toBe('EMFILE');
    udp.unbind(a);
    expect(udp.bind(endpoint(), ANY, 53)).toBeUndefined();
  });
  it('connect: ENETUNREACH without a route; a wildcard endpoint takes the route source', () => {
    const { net, udp } = setup();
    const a = endpoint();
    udp.bind(a, ANY, 5000);
    net.noRoute.add(UNROUTED);
    expect(udp.connect(a, UNROUTED, 53)).toBe('ENETUNREACH');
    expect(udp.connect(a, anyIp(P7), 53)).toBeUndefined();
    expect([formatAddress(a.localAddr), formatAddress(a.remoteAddr), a.remotePort]).toEqual([OWN_TEXT, P7, 53]);
    udp.disconnect(a, ANY);
    expect([formatAddress(a.localAddr), a.remotePort]).toEqual([formatAddress(ANY), 0]);
  });
  it('send: the IP layer\'s code comes back as it is (ENOBUFS counted as SndbufErrors)', () => {
    const { net, udp } = setup();
    const a = endpoint();
    udp.bind(a, ANY, 5000);
    expect(udp.send(a, anyIp(P7), 53, [Buffer.from('hi')], 2)).toBeUndefined();
    expect(parseSent(net.sent[0]!)).toMatchObject({ srcPort: 5000, dstPort: 53, payload: Uint8Array.from(Buffer.from('hi')) });
    net.failNext = 'ENOBUFS';
    expect(udp.send(a, anyIp(P7), 53, [Buffer.from('hi')], 2)).toBe('ENOBUFS');
    expect(udp.stats()).toMatchObject({ OutDatagrams: 1, SndbufErrors: 1 });
  });
  // IPv4 groups (IGMP, Linux's ip_mc_join_group): one family by nature.
  it.skipIf(FAMILY === 6)('membership: Linux\'s errno codes (IPv4 groups)', () => {
    const { udp } = setup();
    const a = endpoint();
    const G = ip('239.1.1.1');
    const ANY4 = ip('0.0.0.0');
    expect(udp.membership(a, 'join', ip('10.0.0.9'), ANY4, ANY4)).toBe('EINVAL'); // not a group
    expect(udp.membership(a, 'join', G, ip('10.0.0.9'), ANY4)).toBe('ENODEV'); // not our interface
    expect(udp.membership(a, 'join', G, ANY4, ANY4)).toBeUndefined();
    expect(udp.membership(a, 'join', G, ANY4, ANY4)).toBe('EADDRINUSE');
    expect(udp.membership(a, 'leave', ip('239.1.1.2'), ANY4, ANY4)).toBe('EADDRNOTAVAIL');
    expect(udp.membership(a, 'leave', G, ANY4, ANY4)).toBeUndefined();
  });
  it.skipIf(FAMILY === 6)('onGroupChange: the host\'s first membership of a group joins it, its last leave (or close) leaves it', () => {
    const changes: string[] = [];
    const net = new FakeIp<IpAddress>(OWN);
    const udp = new UdpLayer(net, { onGroupChange: (g, joined) => changes.push(`${joined ? '+' : '-'}${formatAddress(g)}`) });
    const a = endpoint();
    const b = endpoint();
    const G = ip('239.1.1.1');
    const ANY4 = ip('0.0.0.0');
    expect(udp.membership(a, 'join', G, ANY4, ANY4)).toBeUndefined();
    expect(udp.membership(b, 'join', G, ANY4, ANY4)).toBeUndefined(); // a second socket: the host is a member already
    expect(udp.membership(a, 'join-source', ip('239.1.1.2'), ANY4, ip('10.0.0.1'))).toBeUndefined();
    expect(changes).toEqual(['+239.1.1.1', '+239.1.1.2']);
    expect(udp.membership(a, 'leave', G, ANY4, ANY4)).toBeUndefined();
    expect(changes).toHaveLength(2); // b still holds it
    udp.leaveAll(b);
    udp.leaveAll(a);
    expect(changes).toEqual(['+239.1.1.1', '+239.1.1.2', '-239.1.1.1', '-239.1.1.2']);
  });
  it('misuse of the core throws a coded error with a plain message (no Node wording)', () => {
    const net = new FakeIp<IpAddress>(OWN);
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
    expect(() => udp.bind(endpoint(), ANY, 1)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }));
  });
});

describe('delivery and errors reach the endpoint', () => {
  it('a datagram goes to the best endpoint; an ICMP error reaches a connected one as a code', () => {
    const { udp } = setup();
    const any = endpoint();
    const connected = endpoint();
    udp.bind(any, ANY, 53);
    udp.bind(connected, ANY, 0);
    udp.connect(connected, anyIp(P7), 9);
    udp.receive(udpIn({ src: P1, srcPort: 7, dstPort: 53, payload: 'a' }), 0);
    udp.receive(udpIn({ src: P7, srcPort: 9, dstPort: connected.localPort, payload: 'b' }), 0);
    expect(any.got.datagrams).toEqual([`${P1}:7 a`]);
    expect(connected.got.datagrams).toEqual([`${P7}:9 b`]);
    // Port unreachable as TCP and UDP receive it from either ICMP (ICMPv6 type 1 code 4 arrives translated).
    const unreachable = (sport: number, dport: number): TransportError => ({
      icmpType: 3, icmpCode: 3, reporter: anyIp(P7), src: OWN, dst: anyIp(P7), protocol: PROTO_UDP,
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
    udp.bind(a, ANY, 1000);
    udp.bind(b, OWN, 1001);
    udp.close();
    expect([a.got.closed, b.got.closed, udp.closed]).toEqual([1, 1, true]);
  });
});
