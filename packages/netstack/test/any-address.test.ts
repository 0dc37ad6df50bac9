/**
 * Any-address termination end to end (issue 12's core): two stacks on a memory link pair,
 * virtual time. B has `anyAddress: true`; A routes everything off-link through B (A's
 * gateway is B). A's connections and datagrams to addresses B does not own reach B's
 * intercept hooks, and what B answers comes back from those addresses.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLinkPair } from '@netstack/tun';
import { Stack } from '../src/stack.js';
import { checkAccounting } from '../src/accounting.js';
import type { InterceptInfo, InterceptDecision } from '../src/net/index.js';
import { kOnCancel } from '../src/net/intercept.js';
import type { Socket } from '../src/net/socket.js';
import type { UdpFlowSocket } from '../src/dgram/index.js';
import { AutoClock, until } from './harness-net.js';

function makePair(anyAddress = true) {
  const links = createLinkPair({ mtu: 1500 });
  const clock = new AutoClock();
  clock.links = links;
  const a = new Stack({ link: links.a, address: ['10.0.0.1', 'fd00::1'], prefixLength: 24, gateway: '10.0.0.2', gateway6: 'fd00::2', clock });
  const b = new Stack({ link: links.b, address: ['10.0.0.2', 'fd00::2'], prefixLength: 24, anyAddress, clock });
  return { a, b, clock, close: () => { clock.stop(); links.close(); } };
}

let current: ReturnType<typeof makePair> | undefined;
afterEach(() => {
  // Every packet either stack received is explained (the new drop reasons included).
  if (current !== undefined) for (const s of [current.a, current.b]) expect(checkAccounting(s.stats()).violations).toEqual([]);
  current?.close();
  current = undefined;
});

function connectResult(s: Socket): Promise<string> {
  return new Promise((resolve) => {
    s.once('connect', () => resolve('connect'));
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
  });
}

describe('anyAddress: TCP interception over a memory link pair', () => {
  for (const [fam, dst] of [['IPv4', '192.0.2.55'], ['IPv6', '2001:db8::55']] as const) {
    it(`${fam}: accepted after the decision, the accepted socket says the original destination, bytes both ways`, async () => {
      const p = (current = makePair());
      const seen: InterceptInfo[] = [];
      let decide!: InterceptDecision;
      p.b.tcp.intercept((info, d) => { seen.push(info); decide = d; });
      const s = p.a.tcp.connect({ host: dst, port: 80 });
      const result = connectResult(s);
      await until(() => seen.length === 1);
      expect(seen[0]).toMatchObject({ localAddress: dst, localPort: 80, localFamily: fam, remoteAddress: fam === 'IPv4' ? '10.0.0.1' : 'fd00::1' });
      // No SYN-ACK yet: A is still connecting (its SYN retransmissions are absorbed at B).
      expect(s.connecting).toBe(true);
      const accepted = decide.accept()!;
      expect(accepted.localAddress).toBe(dst);
      expect(accepted.localPort).toBe(80);
      expect(await result).toBe('connect');
      expect(s.remoteAddress).toBe(dst);
      expect(s.localPort).toBe(seen[0]!.remotePort);
      expect(accepted.remoteAddress).toBe(s.localAddress);
      const got: Buffer[] = [];
      accepted.on('data', (d: Buffer) => { got.push(d); accepted.write(Buffer.concat([Buffer.from('echo:'), d])); });
      const back: Buffer[] = [];
      s.on('data', (d: Buffer) => back.push(d));
      s.write('hello');
      await until(() => Buffer.concat(back).toString() === 'echo:hello');
      expect(Buffer.concat(got).toString()).toBe('hello');
      expect(decide.accept()).toBeNull();
      const st = p.b.stats();
      expect(st.tcp!.InterceptAccepted).toBe(1);
      expect(st[fam === 'IPv4' ? 'ip' : 'ip6']![fam === 'IPv4' ? 'InForeign' : 'Ip6InForeign']).toBeGreaterThan(0);
      s.destroy();
      accepted.destroy();
    });

    it(`${fam}: refused with RST gives ECONNREFUSED`, async () => {
      const p = (current = makePair());
      p.b.tcp.intercept((_info, d) => d.refuse('rst'));
      expect(await connectResult(p.a.tcp.connect({ host: dst, port: 80 }))).toBe('ECONNREFUSED');
      expect(p.b.stats().tcp!.InterceptRefusedRst).toBe(1);
    });
  }

  it('refused with admin-prohibited, host-unreachable or net-unreachable: the connect fails at once with its errno (as a Linux client does in SYN-SENT)', async () => {
    const p = (current = makePair());
    const kinds = { 81: 'admin-prohibited', 80: 'host-unreachable', 82: 'net-unreachable' } as const;
    p.b.tcp.intercept((info, d) => d.refuse(kinds[info.localPort as 80 | 81 | 82]));
    const t0 = p.clock.now();
    expect(await connectResult(p.a.tcp.connect({ host: '192.0.2.55', port: 81 }))).toBe('EHOSTUNREACH');
    expect(await connectResult(p.a.tcp.connect({ host: '192.0.2.55', port: 80 }))).toBe('EHOSTUNREACH');
    expect(await connectResult(p.a.tcp.connect({ host: '192.0.2.55', port: 82 }))).toBe('ENETUNREACH');
    expect(p.clock.now() - t0).toBeLessThan(1000);
    expect(p.b.stats().tcp!.InterceptRefusedIcmp).toBe(3);
  });

  it('IPv6: admin-prohibited (ICMPv6 code 1) and host-unreachable (code 3) fail the connect at once', async () => {
    const p = (current = makePair());
    p.b.tcp.intercept((info, d) => d.refuse(info.localPort === 81 ? 'admin-prohibited' : 'host-unreachable'));
    const t0 = p.clock.now();
    const fast = await connectResult(p.a.tcp.connect({ host: '2001:db8::55', port: 81 }));
    const slow = await connectResult(p.a.tcp.connect({ host: '2001:db8::55', port: 80 }));
    expect(p.clock.now() - t0).toBeLessThan(1000);
    expect([fast, slow]).toEqual(['EHOSTUNREACH', 'EHOSTUNREACH']);
    const s6 = p.b.stats().icmp6!;
    expect(s6['Icmp6OutDestUnreachs']).toBeGreaterThanOrEqual(2);
  });

  it('without anyAddress nothing is intercepted: the datagrams are not for B', async () => {
    const p = (current = makePair(false));
    let asked = 0;
    p.b.tcp.intercept(() => { asked++; });
    const s = p.a.tcp.connect({ host: '192.0.2.55', port: 80 });
    await until(() => p.b.stats().ip!['dropped.InNotForUs']! > 0);
    expect(asked).toBe(0);
    s.destroy();
  });
});

describe('anyAddress: ICMP echo and cancellation', () => {
  it('an echo to a foreign destination is not answered by B (counted)', async () => {
    const p = (current = makePair());
    await expect(p.a.ping('192.0.2.55', { timeout: 500 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(p.b.stats().icmp!.EchoForeign).toBe(1);
    await expect(p.a.ping('10.0.0.2', { timeout: 500 })).resolves.toMatchObject({ seq: expect.any(Number) });
  });

  it("a pending decision's signal aborts when B closes", async () => {
    const p = (current = makePair());
    const signals: AbortSignal[] = [];
    p.b.tcp.intercept((_i, d) => { signals.push(d.signal); });
    const s = p.a.tcp.connect({ host: '192.0.2.55', port: 80 });
    s.on('error', () => {});
    await until(() => signals.length === 1);
    // A's stack closing resets nothing in SYN-SENT (no RST for an unsynchronized connection):
    // B's request stays until it expires or B closes.
    expect(signals[0]!.aborted).toBe(false);
    await p.b.close();
    await until(() => signals[0]!.aborted);
    s.destroy();
  });

  it("kOnCancel (the gateway's hook): runs once when the request ends undecided, with no AbortSignal made; one read later is aborted already", async () => {
    const p = (current = makePair());
    const decisions: InterceptDecision[] = [];
    let cancels = 0;
    p.b.tcp.intercept((_i, d) => {
      decisions.push(d);
      (d as InterceptDecision & { [kOnCancel](fn: () => void): void })[kOnCancel](() => { cancels++; });
    });
    const s = p.a.tcp.connect({ host: '192.0.2.55', port: 80 });
    s.on('error', () => {});
    await until(() => decisions.length === 1);
    expect(cancels).toBe(0);
    await p.b.close();
    await until(() => cancels === 1);
    expect(decisions[0]!.pending).toBe(false);
    expect(decisions[0]!.signal.aborted).toBe(true);
    expect(cancels).toBe(1);
    s.destroy();
  });

  it('kOnCancel does not run for a request that was decided', async () => {
    const p = (current = makePair());
    let cancels = 0;
    const accepted: Socket[] = [];
    p.b.tcp.intercept((_i, d) => {
      (d as InterceptDecision & { [kOnCancel](fn: () => void): void })[kOnCancel](() => { cancels++; });
      const sock = d.accept();
      if (sock !== null) { sock.on('error', () => {}); accepted.push(sock); }
    });
    const s = p.a.tcp.connect({ host: '192.0.2.55', port: 80 });
    expect(await connectResult(s)).toBe('connect');
    s.destroy();
    await p.b.close();
    expect(accepted).toHaveLength(1);
    expect(cancels).toBe(0);
  });
});

describe('anyAddress: UDP flows over a memory link pair', () => {
  for (const [fam, dst, type] of [['IPv4', '198.51.100.7', 'udp4'], ['IPv6', '2001:db8::7', 'udp6']] as const) {
    it(`${fam}: a datagram to ${dst}:53 reaches B's flow hook; the reply comes from ${dst}`, async () => {
      const p = (current = makePair());
      const flows: string[] = [];
      p.b.udp.interceptFlows((flow) => {
        flows.push(`${flow.remoteAddress}:${flow.remotePort}->${flow.localAddress}:${flow.localPort}`);
        flow.on('message', (msg: Buffer) => flow.send(Buffer.concat([Buffer.from('answer:'), msg])));
      });
      const sock = p.a.udp.createSocket(type);
      const replies: { msg: string; address: string; port: number }[] = [];
      sock.on('message', (msg, rinfo) => replies.push({ msg: msg.toString(), address: rinfo.address, port: rinfo.port }));
      sock.send('query', 53, dst);
      await until(() => replies.length === 1);
      expect(replies[0]).toEqual({ msg: 'answer:query', address: dst, port: 53 });
      expect(flows).toEqual([`${fam === 'IPv4' ? '10.0.0.1' : 'fd00::1'}:${sock.address().port}->${dst}:53`]);
      const st = p.b.stats().udp!;
      expect([st.FlowsCreated, st.FlowOutDatagrams]).toEqual([1, 1]);
      sock.close();
    });

    it(`${fam}: the client's port unreachable about a reply reaches the flow as 'icmpError'`, async () => {
      const p = (current = makePair());
      const errors: string[] = [];
      let flow: UdpFlowSocket | undefined;
      p.b.udp.interceptFlows((f) => {
        flow = f;
        f.on('icmpError', (e: NodeJS.ErrnoException) => errors.push(e.code!));
      });
      const sock = p.a.udp.createSocket(type);
      sock.send('query', 53, dst);
      await until(() => flow !== undefined);
      sock.close();
      flow!.send('late reply'); // finds no socket at A: port unreachable back to the original destination
      await until(() => errors.length === 1);
      expect(errors).toEqual(['ECONNREFUSED']);
      expect(p.a.stats().udp!.NoPorts).toBe(1);
      expect(p.b.stats().udp!.FlowIcmpErrors).toBe(1);
    });
  }
});
