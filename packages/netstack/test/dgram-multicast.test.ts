/**
 * IPv4 multicast and broadcast over two stacks on an in-memory link:
 * membership filters delivery (RFC 1112 §6.2, per group and source), the multicast TTL
 * (default 1) and loopback (IP_MULTICAST_LOOP, default on) as Linux applies them, and
 * the broadcast rules (EACCES without SO_BROADCAST, a copy looped to the sender's host).
 *
 * No sleeps: a datagram that must NOT arrive is followed on the same link by one that
 * must, and the link delivers in order, so by the time the second is heard the first
 * has been decided.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { checkAccounting, createStack, createLinkPair, type Stack } from '@netstack/netstack';

type Sock = ReturnType<Stack['udp']['createSocket']>;
const G = '239.1.2.3';
const open: Stack[] = [];
const socks: Sock[] = [];

/** Two stacks, 10.0.0.1 (a) and 10.0.0.2 (b); `wire` records each packet's destination and TTL. */
async function pair(): Promise<{ a: Stack; b: Stack; wire: { dst: string; ttl: number }[] }> {
  const wire: { dst: string; ttl: number }[] = [];
  const link = createLinkPair({
    filter: (p) => {
      wire.push({ dst: `${p[16]}.${p[17]}.${p[18]}.${p[19]}`, ttl: p[8]! });
      return 'pass';
    },
  });
  const a = await createStack({ link: link.a, address: '10.0.0.1' });
  const b = await createStack({ link: link.b, address: '10.0.0.2' });
  open.push(a, b);
  return { a, b, wire };
}

afterEach(async () => {
  for (const s of socks.splice(0)) {
    try { s.close(); } catch { /* closed by its test */ }
  }
  // Every datagram (looped copies included) explained by exactly one counter.
  for (const st of open) expect(checkAccounting(st.stats()).violations).toEqual([]);
  await Promise.all(open.splice(0).map((s) => s.close()));
});

/** A bound socket that records what it hears. */
async function listener(stack: Stack, port: number, address?: string): Promise<{ s: Sock; got: string[]; next: () => Promise<string> }> {
  const s = stack.udp.createSocket({ type: 'udp4', reuseAddr: true });
  socks.push(s);
  const got: string[] = [];
  let waiting: ((m: string) => void) | undefined;
  s.on('message', (m: Buffer, r) => {
    const text = `${m.toString()} from ${r.address}:${r.port}`;
    got.push(text);
    const w = waiting;
    waiting = undefined;
    w?.(text);
  });
  s.bind(port, address);
  await once(s, 'listening');
  return { s, got, next: () => new Promise((resolve) => (waiting = resolve)) };
}

async function sender(stack: Stack, port = 4000): Promise<Sock> {
  const s = stack.udp.createSocket({ type: 'udp4', reuseAddr: true });
  socks.push(s);
  s.bind(port);
  await once(s, 'listening');
  return s;
}

/** Waits (turns of the event loop, bounded) until `stack` has received one more packet than `before`: a datagram's fate is then decided. */
async function received(stack: Stack, before: number): Promise<void> {
  for (let i = 0; i < 100 && stack.stats().ip!.InReceives! <= before; i++) await new Promise((r) => setImmediate(r));
  expect(stack.stats().ip!.InReceives).toBe(before + 1);
}

function send(s: Sock, msg: string, port: number, address: string): Promise<void> {
  return new Promise((resolve, reject) => s.send(msg, port, address, (e) => (e ? reject(e) : resolve())));
}

describe('multicast delivery between two stacks', () => {
  it('a group datagram reaches the socket only once the host joined the group', async () => {
    const { a, b } = await pair();
    const r = await listener(b, 5000);
    const tx = await sender(a);
    const before = b.stats().ip!.InAddrErrors!;
    const rx = b.stats().ip!.InReceives!;
    await send(tx, 'not yet', 5000, G);
    await received(b, rx);
    r.s.addMembership(G);
    const heard = r.next();
    await send(tx, 'joined', 5000, G);
    expect(await heard).toBe('joined from 10.0.0.1:4000');
    expect(r.got).toEqual(['joined from 10.0.0.1:4000']);
    // The first was dropped by the IP layer: the host was no member (RFC 1112 §6.2).
    expect(b.stats().ip!.InAddrErrors! - before).toBe(1);
    r.s.dropMembership(G);
    const rx2 = b.stats().ip!.InReceives!;
    await send(tx, 'left', 5000, G);
    await received(b, rx2);
    r.s.addMembership('239.9.9.9');
    const again = r.next();
    await send(tx, 'other group', 5000, '239.9.9.9');
    expect(await again).toBe('other group from 10.0.0.1:4000');
    expect(r.got).toEqual(['joined from 10.0.0.1:4000', 'other group from 10.0.0.1:4000']);
  });

  it('224.0.0.1 (all hosts) needs no join', async () => {
    const { a, b } = await pair();
    const r = await listener(b, 5000);
    const tx = await sender(a);
    const heard = r.next();
    await send(tx, 'all', 5000, '224.0.0.1');
    expect(await heard).toBe('all from 10.0.0.1:4000');
  });

  it('like Linux (IP_MULTICAST_ALL), a socket on the port that did not join hears a group another socket joined', async () => {
    const { a, b } = await pair();
    const joined = await listener(b, 5000);
    const other = await listener(b, 5000);
    const elsewhere = await listener(b, 5001);
    joined.s.addMembership(G, '10.0.0.2');
    const tx = await sender(a);
    const h1 = joined.next();
    const h2 = other.next();
    await send(tx, 'g', 5000, G);
    expect(await h1).toBe('g from 10.0.0.1:4000');
    expect(await h2).toBe('g from 10.0.0.1:4000');
    expect(elsewhere.got).toEqual([]);
  });

  it('source-specific membership: only the listed sources pass, at the host and at each socket', async () => {
    const { a, b } = await pair();
    const ssm = await listener(b, 5000);
    const tx = await sender(a);
    ssm.s.addSourceSpecificMembership('10.0.0.9', '232.1.1.1');
    const before = b.stats().ip!.InAddrErrors!;
    const rx = b.stats().ip!.InReceives!;
    await send(tx, 'wrong source', 5000, '232.1.1.1');
    await received(b, rx);
    // A second socket joins the same group for any source: the host now accepts 10.0.0.1,
    // but the source-specific socket's own filter still refuses it.
    const any = await listener(b, 5000);
    any.s.addMembership('232.1.1.1');
    const h = any.next();
    await send(tx, 'any-source socket only', 5000, '232.1.1.1');
    expect(await h).toBe('any-source socket only from 10.0.0.1:4000');
    await received(b, rx + 1);
    ssm.s.addSourceSpecificMembership('10.0.0.1', '232.1.1.1');
    const h2 = ssm.next();
    await send(tx, 'listed', 5000, '232.1.1.1');
    expect(await h2).toBe('listed from 10.0.0.1:4000');
    expect(ssm.got).toEqual(['listed from 10.0.0.1:4000']);
    expect(any.got).toEqual(['any-source socket only from 10.0.0.1:4000', 'listed from 10.0.0.1:4000']);
    expect(b.stats().ip!.InAddrErrors! - before).toBe(1);
  });

  it('a socket bound to the group address hears the group, not unicast to its port', async () => {
    const { a, b } = await pair();
    const g = await listener(b, 5000, G);
    g.s.addMembership(G);
    const tx = await sender(a);
    await send(tx, 'unicast', 5000, '10.0.0.2');
    const h = g.next();
    await send(tx, 'group', 5000, G);
    expect(await h).toBe('group from 10.0.0.1:4000');
    expect(g.got).toEqual(['group from 10.0.0.1:4000']);
  });

  it('multicast TTL defaults to 1 and follows setMulticastTTL, not setTTL; TTL 0 stays on the host', async () => {
    const { a, b, wire } = await pair();
    const r = await listener(b, 5000);
    r.s.addMembership(G);
    const tx = await sender(a);
    tx.setTTL(9);
    await send(tx, 'ttl 1', 5000, G);
    tx.setMulticastTTL(5);
    await send(tx, 'ttl 5', 5000, G);
    await send(tx, 'unicast', 5000, '10.0.0.2');
    tx.setMulticastTTL(0);
    await send(tx, 'ttl 0', 5000, G);
    tx.setMulticastTTL(1);
    const h = r.next();
    await send(tx, 'last', 5000, G);
    await h;
    while (r.got.length < 4) await r.next();
    expect(r.got.map((m) => m.split(' from')[0])).toEqual(['ttl 1', 'ttl 5', 'unicast', 'last']);
    expect(wire.filter((w) => w.dst === G || w.dst === '10.0.0.2').map((w) => w.ttl)).toEqual([1, 5, 9, 1]);
  });

  it('loops a group datagram back to the sending host when it is a member (IP_MULTICAST_LOOP), unless turned off', async () => {
    const { a } = await pair();
    const local = await listener(a, 5000);
    const tx = await sender(a);
    // Not a member: nothing loops back.
    await send(tx, 'not a member', 5000, G);
    local.s.addMembership(G);
    let h = local.next();
    await send(tx, 'looped', 5000, G);
    expect(await h).toBe('looped from 10.0.0.1:4000');
    // TTL 0: looped, never on the wire.
    tx.setMulticastTTL(0);
    h = local.next();
    await send(tx, 'ttl 0', 5000, G);
    expect(await h).toBe('ttl 0 from 10.0.0.1:4000');
    tx.setMulticastLoopback(false);
    tx.setMulticastTTL(1);
    await send(tx, 'loop off', 5000, G);
    tx.setMulticastLoopback(true);
    h = local.next();
    await send(tx, 'loop on', 5000, G);
    expect(await h).toBe('loop on from 10.0.0.1:4000');
    expect(local.got.map((m) => m.split(' from')[0])).toEqual(['looped', 'ttl 0', 'loop on']);
  });

  it('the sender hears its own group datagram when it joined on its own port', async () => {
    const { a, b } = await pair();
    const self = await listener(a, 5000);
    self.s.addMembership(G);
    const remote = await listener(b, 5000);
    remote.s.addMembership(G);
    const h1 = self.next();
    const h2 = remote.next();
    self.s.send('both', 5000, G);
    expect(await h1).toBe('both from 10.0.0.1:5000');
    expect(await h2).toBe('both from 10.0.0.1:5000');
  });
});

describe('broadcast as Linux applies it', () => {
  it('needs SO_BROADCAST for the limited and the subnet broadcast (EACCES), then reaches the peer and loops back', async () => {
    const { a, b } = await pair();
    const remote = await listener(b, 5000);
    const local = await listener(a, 5000);
    const tx = await sender(a);
    for (const dst of ['255.255.255.255', '10.0.0.255']) {
      await expect(send(tx, 'x', 5000, dst)).rejects.toMatchObject({ code: 'EACCES', syscall: 'send' });
    }
    tx.setBroadcast(true);
    const h1 = remote.next();
    const h2 = local.next();
    await send(tx, 'subnet', 5000, '10.0.0.255');
    expect(await h1).toBe('subnet from 10.0.0.1:4000');
    expect(await h2).toBe('subnet from 10.0.0.1:4000');
  });
});
