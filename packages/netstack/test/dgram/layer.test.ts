import { describe, expect, it } from 'vitest';
import { PROTO_UDP, type TransportError } from '@netstack/ip';
import type { UdpLayerOptions } from '@netstack/udp';
import type { RemoteInfo, UdpSocket } from '../../src/index.js';
import type { UdpApiOptions } from '../../src/dgram/index.js';
import { dgramLayer, type DgramLayer, FakeIp, ip, parseSent, rawIn, tick, udpIn } from './helpers.js';

function setup(options: UdpLayerOptions & UdpApiOptions = {}) {
  const net = new FakeIp('10.0.0.2');
  const udp = dgramLayer(net, { portKey: new Uint8Array(16).fill(3), ...options });
  return { net, udp };
}

/** Binds and waits for 'listening'. */
async function bound(udp: DgramLayer, port: number, address?: string, reuseAddr = false): Promise<UdpSocket> {
  const s = udp.createSocket({ type: 'udp4', reuseAddr });
  s.on('error', (e) => { throw e; });
  await new Promise<void>((resolve) => s.bind(port, address, resolve));
  return s;
}

function inbox(s: UdpSocket): { msg: string; rinfo: RemoteInfo }[] {
  const got: { msg: string; rinfo: RemoteInfo }[] = [];
  s.on('message', (msg, rinfo) => got.push({ msg: msg.toString(), rinfo }));
  return got;
}

function bindError(udp: DgramLayer, port: number, address?: string): Promise<NodeJS.ErrnoException & { address?: string; port?: number }> {
  const s = udp.createSocket('udp4');
  return new Promise((resolve, reject) => {
    s.on('error', resolve);
    s.on('listening', () => reject(new Error('bound')));
    s.bind(port, address);
  });
}

describe('port table (bind)', () => {
  it('rejects an exact clash, and any-vs-specific in both directions, with EADDRINUSE', async () => {
    const { udp } = setup();
    await bound(udp, 53);
    await expect(bindError(udp, 53)).resolves.toMatchObject({ code: 'EADDRINUSE', syscall: 'bind', address: '0.0.0.0', port: 53, errno: -98 });
    await expect(bindError(udp, 53, '10.0.0.2')).resolves.toMatchObject({ code: 'EADDRINUSE' });
    await bound(udp, 54, '10.0.0.2');
    await expect(bindError(udp, 54)).resolves.toMatchObject({ code: 'EADDRINUSE', message: 'bind EADDRINUSE 0.0.0.0:54' });
    await expect(bindError(udp, 54, '10.0.0.2')).resolves.toMatchObject({ code: 'EADDRINUSE' });
  });
  it('rejects an address that is not ours with EADDRNOTAVAIL', async () => {
    const { udp } = setup();
    await expect(bindError(udp, 53, '10.9.9.9')).resolves.toMatchObject({ code: 'EADDRNOTAVAIL', syscall: 'bind', address: '10.9.9.9' });
  });
  it('lets sockets that all set reuseAddr share a port', async () => {
    const { udp } = setup();
    await bound(udp, 53, undefined, true);
    await bound(udp, 53, '10.0.0.2', true);
    await bound(udp, 53, undefined, true);
    await expect(bindError(udp, 53)).resolves.toMatchObject({ code: 'EADDRINUSE' });
  });
  it('frees the port on close', async () => {
    const { udp } = setup();
    const a = await bound(udp, 53);
    a.close();
    await bound(udp, 53);
  });
  it('allocates ephemeral ports with RFC 6056 Algorithm 4: keyed, deterministic, never a port in use', async () => {
    const ports = async (key: number, n: number, taken: number[] = []): Promise<number[]> => {
      const { udp } = setup({ portKey: new Uint8Array(16).fill(key), ephemeralRange: [50000, 50007] });
      for (const p of taken) await bound(udp, p);
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push((await bound(udp, 0)).address().port);
      return out;
    };
    const a = await ports(1, 8);
    expect(await ports(1, 8)).toEqual(a); // same key, same ports
    expect([...a].sort((x, y) => x - y)).toEqual([50000, 50001, 50002, 50003, 50004, 50005, 50006, 50007]);
    // Ports bound explicitly are skipped.
    const b = await ports(1, 5, [a[0]!, a[1]!, a[2]!]);
    expect(b.filter((p) => p === a[0] || p === a[1] || p === a[2])).toEqual([]);
    expect(new Set(b).size).toBe(5);
    // Another key starts elsewhere (at least one of a few keys differs from key 1).
    const firsts = await Promise.all([2, 3, 4, 5].map(async (k) => (await ports(k, 1))[0]));
    expect(firsts.some((p) => p !== a[0])).toBe(true);
  });
  it('uses 49152–65535 by default', async () => {
    const { udp } = setup();
    const seen = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const p = (await bound(udp, 0)).address().port;
      expect(p).toBeGreaterThanOrEqual(49152);
      expect(p).toBeLessThanOrEqual(65535);
      seen.add(p);
    }
    expect(seen.size).toBe(50);
  });
  it('fails with EADDRINUSE when the ephemeral range is full', async () => {
    const { udp } = setup({ ephemeralRange: [50000, 50001] });
    await bound(udp, 0);
    await bound(udp, 0);
    await expect(bindError(udp, 0)).resolves.toMatchObject({ code: 'EADDRINUSE', syscall: 'bind' });
  });
  it('bounds the table (EMFILE beyond maxSockets)', async () => {
    const { udp } = setup({ maxSockets: 2 });
    await bound(udp, 1);
    await bound(udp, 2);
    await expect(bindError(udp, 3)).resolves.toMatchObject({ code: 'EMFILE' });
  });
});

describe('demultiplexing', () => {
  it('prefers a connected 4-tuple, then the exact local address, then 0.0.0.0; ties go to the newest', async () => {
    const { udp } = setup();
    const any1 = inbox(await bound(udp, 53, undefined, true));
    const any2 = inbox(await bound(udp, 53, undefined, true));
    const exact = inbox(await bound(udp, 53, '10.0.0.2', true));
    const c = await bound(udp, 53, undefined, true);
    const conn = inbox(c);
    await new Promise<void>((r) => c.connect(5000, '10.0.0.7', r));
    udp.receive(udpIn({ src: '10.0.0.7', srcPort: 5000, dstPort: 53, payload: 'to-connected' }), 0);
    udp.receive(udpIn({ src: '10.0.0.7', srcPort: 5001, dstPort: 53, payload: 'to-exact' }), 0);
    expect(conn.map((m) => m.msg)).toEqual(['to-connected']);
    expect(exact.map((m) => m.msg)).toEqual(['to-exact']);
    expect(any1).toEqual([]);
    expect(any2).toEqual([]);
  });
  it('falls back to the 0.0.0.0 socket, the newest one on a tie', async () => {
    const { udp } = setup();
    const any1 = inbox(await bound(udp, 53, undefined, true));
    const any2 = inbox(await bound(udp, 53, undefined, true));
    udp.receive(udpIn({ dstPort: 53, payload: 'x' }), 0);
    expect([any1.length, any2.length]).toEqual([0, 1]);
  });
  it('delivers one copy per matching socket for broadcast, never to exact-address or foreign-connected ones', async () => {
    const { udp, net } = setup();
    const a = inbox(await bound(udp, 67, undefined, true));
    const b = inbox(await bound(udp, 67, undefined, true));
    const exact = inbox(await bound(udp, 67, '10.0.0.2', true));
    udp.receive(udpIn({ dst: '255.255.255.255', toBroadcast: true, dstPort: 67, payload: 'dhcp' }), 0);
    expect([a.length, b.length, exact.length]).toEqual([1, 1, 0]);
    expect(udp.stats().InDatagrams).toBe(2);
    expect(net.unreachable).toEqual([]);
  });
  it('hands the message a copy with rinfo', async () => {
    const { udp } = setup();
    const s = await bound(udp, 53);
    let got: { msg: Buffer; rinfo: RemoteInfo } | undefined;
    s.on('message', (msg, rinfo) => { got = { msg, rinfo }; });
    const d = udpIn({ src: '10.0.0.9', srcPort: 4242, dstPort: 53, payload: 'hello' });
    udp.receive(d, 0);
    d.payload.fill(0); // the IP layer reuses its buffer
    expect(got!.msg.toString()).toBe('hello');
    expect(got!.rinfo).toEqual({ address: '10.0.0.9', family: 'IPv4', port: 4242, size: 5 });
    expect(udp.stats()).toMatchObject({ InDatagrams: 1, InErrors: 0 });
  });
});

describe('receive path: errors and counters', () => {
  it('asks for port unreachable (code 3) for a unicast datagram no socket takes', () => {
    const { udp, net } = setup();
    const d = udpIn({ dstPort: 9999 });
    udp.receive(d, 5);
    expect(net.unreachable).toEqual([{ code: 3, datagram: d }]);
    expect(udp.stats()).toMatchObject({ NoPorts: 1, InDatagrams: 0 });
  });
  it('does not ask for port unreachable for broadcast; counts IgnoredMulti', () => {
    const { udp, net } = setup();
    udp.receive(udpIn({ dst: '10.0.0.255', toBroadcast: true, dstPort: 9999 }), 0);
    expect(net.unreachable).toEqual([]);
    expect(udp.stats()).toMatchObject({ NoPorts: 0, IgnoredMulti: 1 });
  });
  it('asks for port unreachable when the only socket is connected elsewhere', async () => {
    const { udp, net } = setup();
    const s = await bound(udp, 53);
    await new Promise<void>((r) => s.connect(7, '10.0.0.7', r));
    udp.receive(udpIn({ src: '10.0.0.8', dstPort: 53 }), 0);
    expect(net.unreachable).toHaveLength(1);
  });
  it('drops and counts bad checksums, short datagrams and length mismatches; accepts a zero checksum', async () => {
    const { udp, net } = setup();
    const got = inbox(await bound(udp, 53));
    const bad = udpIn({ dstPort: 53, payload: 'abc' });
    bad.payload[9]! ^= 1;
    udp.receive(bad, 0);
    expect(udp.stats()).toMatchObject({ InCsumErrors: 1, InErrors: 1 });
    udp.receive(rawIn(new Uint8Array(7)), 0);
    const long = udpIn({ dstPort: 53, payload: 'abc' });
    long.payload[5] = 12; // claims one byte more than the IP payload holds
    udp.receive(long, 0);
    expect(udp.stats()).toMatchObject({ InCsumErrors: 1, InErrors: 3 });
    const none = udpIn({ dstPort: 53, payload: 'no-sum' });
    none.payload[6] = 0;
    none.payload[7] = 0;
    udp.receive(none, 0);
    expect(got.map((m) => m.msg)).toEqual(['no-sum']);
    expect(net.unreachable).toEqual([]);
  });
  it('trims bytes beyond the UDP length', async () => {
    const { udp } = setup();
    const got = inbox(await bound(udp, 53));
    const d = udpIn({ dstPort: 53, payload: 'abc' });
    const padded = new Uint8Array(d.payload.length + 4).fill(0x7a);
    padded.set(d.payload);
    udp.receive(rawIn(padded), 0);
    expect(got.map((m) => m.msg)).toEqual(['abc']);
  });
});

describe('datagrams that arrive before listening', () => {
  it('wait in order and are delivered right after the listening event', async () => {
    const { udp } = setup();
    const s = udp.createSocket('udp4');
    const events: string[] = [];
    s.on('listening', () => events.push('listening'));
    s.on('message', (m) => events.push(m.toString()));
    s.bind(53);
    udp.receive(udpIn({ dstPort: 53, payload: 'one' }), 0);
    udp.receive(udpIn({ dstPort: 53, payload: 'two' }), 0);
    expect(events).toEqual([]);
    await tick();
    expect(events).toEqual(['listening', 'one', 'two']);
  });
  it('are bounded by receiveQueueLimit; the rest are RcvbufErrors', async () => {
    const { udp } = setup({ receiveQueueLimit: 2 });
    const s = udp.createSocket('udp4');
    const got = inbox(s);
    s.bind(53);
    for (const p of ['a', 'b', 'c']) udp.receive(udpIn({ dstPort: 53, payload: p }), 0);
    await tick();
    expect(got.map((m) => m.msg)).toEqual(['a', 'b']);
    expect(udp.stats()).toMatchObject({ InDatagrams: 2, RcvbufErrors: 1, InErrors: 1 });
  });
  it('are bounded by the receive buffer size (each costs its length + 256)', async () => {
    const { udp } = setup();
    const s = udp.createSocket({ type: 'udp4', recvBufferSize: 1000 }); // Linux: max(2 * 1000, 2304) = 2304
    const got = inbox(s);
    s.bind(53);
    expect(s.getRecvBufferSize()).toBe(2304);
    const kb = 'x'.repeat(1000);
    for (let i = 0; i < 3; i++) udp.receive(udpIn({ dstPort: 53, payload: kb }), 0);
    await tick();
    expect(got).toHaveLength(1); // 1256 fits, 2512 does not
    expect(udp.stats().RcvbufErrors).toBe(2);
  });
});

describe('ICMP errors (receiveError)', () => {
  function portUnreachable(sport: number, dport: number, dst = '10.0.0.7', type = 3, code = 3): TransportError {
    return {
      icmpType: type, icmpCode: code, reporter: ip(dst), src: ip('10.0.0.2'), dst: ip(dst), protocol: PROTO_UDP,
      quoted: Uint8Array.from([sport >> 8, sport & 255, dport >> 8, dport & 255, 0, 8, 0, 0]), nextHopMtu: 0,
    };
  }
  it('become ECONNREFUSED on a connected socket, on a later tick', async () => {
    const { udp } = setup();
    const s = await bound(udp, 5353);
    await new Promise<void>((r) => s.connect(53, '10.0.0.7', r));
    const errors: NodeJS.ErrnoException[] = [];
    s.removeAllListeners('error');
    s.on('error', (e) => errors.push(e));
    udp.receiveError(portUnreachable(5353, 53), 0);
    expect(errors).toEqual([]);
    await tick();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'ECONNREFUSED', errno: -111, syscall: 'recvmsg', address: '10.0.0.7', port: 53 });
  });
  it('are not reported to an unconnected socket (Linux without IP_RECVERR)', async () => {
    const { udp } = setup();
    const s = await bound(udp, 5353);
    let errors = 0;
    s.removeAllListeners('error');
    s.on('error', () => errors++);
    udp.receiveError(portUnreachable(5353, 53), 0);
    await tick();
    expect(errors).toBe(0);
  });
  it('are not reported when they quote another peer or port, or are soft (time exceeded)', async () => {
    const { udp } = setup();
    const s = await bound(udp, 5353);
    await new Promise<void>((r) => s.connect(53, '10.0.0.7', r));
    let errors = 0;
    s.removeAllListeners('error');
    s.on('error', () => errors++);
    udp.receiveError(portUnreachable(5353, 54), 0);
    udp.receiveError(portUnreachable(5353, 53, '10.0.0.8'), 0);
    udp.receiveError(portUnreachable(5354, 53), 0);
    udp.receiveError(portUnreachable(5353, 53, '10.0.0.7', 11, 0), 0);
    await tick();
    expect(errors).toBe(0);
    udp.receiveError(portUnreachable(5353, 53, '10.0.0.7', 3, 13), 0);
    await tick();
    expect(errors).toBe(1);
  });
});

describe('send path', () => {
  it('writes ports, length and a valid checksum; counts OutDatagrams', async () => {
    const { udp, net } = setup();
    const s = await bound(udp, 5000);
    s.send('ping', 53, '10.0.0.7');
    const [out] = net.take();
    expect(out!.dst).toBe(ip('10.0.0.7'));
    expect(out!.protocol).toBe(PROTO_UDP);
    expect(parseSent(out!)).toMatchObject({ srcPort: 5000, dstPort: 53, payload: Uint8Array.from(Buffer.from('ping')) });
    expect(udp.stats().OutDatagrams).toBe(1);
  });
  it('counts ENOBUFS from the IP layer as SndbufErrors', async () => {
    const { udp, net } = setup();
    const s = await bound(udp, 5000);
    net.failWith = 'ENOBUFS';
    const err = await new Promise<Error | null>((r) => s.send('x', 53, '10.0.0.7', r));
    expect(err).toMatchObject({ code: 'ENOBUFS', syscall: 'send' });
    expect(udp.stats()).toMatchObject({ OutDatagrams: 0, SndbufErrors: 1 });
  });
});
