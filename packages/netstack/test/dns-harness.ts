/**
 * Two stacks on a link pair under one virtual clock, A with `dns` pointing at a fake DNS
 * server on B (UDP :53 and :5353, TCP :53) whose answers each test scripts. Nothing moves
 * but through `run()`: the link is pumped and Node's queues drained until quiet, then the
 * clock jumps to the next timer.
 */
import { createLinkPair, type LinkPair } from '@netstack/tun';
import type { RemoteInfo, UdpSocket } from '../src/index.js';
import { createStack, type Stack, type StackOptions } from '../src/index.js';
import { CLASS_IN, TYPE_A, TYPE_SOA, emitDnsMessage, parseDnsMessage, type DnsMessage, type DnsRecord } from '../src/dns/wire.js';
import { VirtualClock } from '../../../test/sim/driver.js';
import type { Server as NetServer } from '../src/net/index.js';

export const A_ADDR = '10.0.0.1';
export const B_ADDR = '10.0.0.2';

export interface Seen {
  at: number;
  port: number;
  srcPort: number;
  id: number;
  name: string;
  type: number;
  transport: 'udp' | 'tcp';
}

/** What the fake server does with a query: an answer, raw bytes, several of them, or nothing. */
export type Reply = DnsMessage | Uint8Array | (DnsMessage | Uint8Array)[] | undefined;
export type Handler = (q: DnsMessage, seen: Seen) => Reply;

export function answer(q: DnsMessage, records: { name?: string; address: string; ttl?: number }[], extra: Partial<DnsMessage> = {}): DnsMessage {
  const qq = q.questions[0]!;
  const answers: DnsRecord[] = records.map((r) => ({ name: r.name ?? qq.name, type: TYPE_A, class: CLASS_IN, ttl: r.ttl ?? 300, data: { kind: 'A', address: r.address } }));
  return { ...q, qr: true, ra: true, rcode: 0, answers, authorities: [], additionals: [], ...extra };
}

export function soa(zone: string, ttl: number, minimum: number): DnsRecord {
  return { name: zone, type: TYPE_SOA, class: CLASS_IN, ttl, data: { kind: 'SOA', soa: { mname: `ns.${zone}`, rname: `admin.${zone}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum } } };
}

export class DnsSim {
  readonly seen: Seen[] = [];
  handler: Handler = () => undefined;
  private udp: UdpSocket[] = [];
  private tcp: NetServer | undefined;

  private constructor(readonly clock: VirtualClock, readonly pair: LinkPair, readonly a: Stack, readonly b: Stack) {}

  static async create(aOptions: Partial<StackOptions> = {}, bOptions: Partial<StackOptions> = {}): Promise<DnsSim> {
    const clock = new VirtualClock();
    const pair = createLinkPair({ mtu: 1500, autoDeliver: false });
    const a = await createStack({ link: pair.a, address: A_ADDR, clock, dns: [B_ADDR, `${B_ADDR}:5353`], ...aOptions });
    const b = await createStack({ link: pair.b, address: B_ADDR, clock, ...bOptions });
    const sim = new DnsSim(clock, pair, a, b);
    for (const port of [53, 5353]) {
      const s = b.udp.createSocket('udp4');
      s.on('message', (msg: Buffer, r: RemoteInfo) => sim.onUdp(s, port, msg, r));
      s.bind(port);
      sim.udp.push(s);
    }
    sim.tcp = b.tcp.createServer((conn) => {
      let buf = Buffer.alloc(0);
      conn.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const len = buf.readUInt16BE(0);
          const m = parseDnsMessage(buf.subarray(2, 2 + len));
          buf = buf.subarray(2 + len);
          if (typeof m === 'string') continue;
          const seen = sim.note(m, 53, conn.remotePort ?? 0, 'tcp');
          for (const r of sim.replies(m, seen)) {
            const len2 = Buffer.alloc(2);
            len2.writeUInt16BE(r.length);
            conn.write(Buffer.concat([len2, r]));
          }
        }
      });
      conn.on('error', () => {});
    }).listen(53);
    return sim;
  }

  /** Closes the fake server's UDP :53 (queries then meet ICMP port unreachable). */
  closeUdp53(): void {
    this.udp[0]?.close();
  }

  private note(m: DnsMessage, port: number, srcPort: number, transport: 'udp' | 'tcp'): Seen {
    const q = m.questions[0];
    const seen: Seen = { at: this.clock.now(), port, srcPort, id: m.id, name: q?.name ?? '', type: q?.type ?? 0, transport };
    this.seen.push(seen);
    return seen;
  }

  private replies(m: DnsMessage, seen: Seen): Uint8Array[] {
    const r = this.handler(m, seen);
    const list = r === undefined ? [] : Array.isArray(r) ? r : [r];
    return list.map((x) => (x instanceof Uint8Array ? x : emitDnsMessage(x, { compress: true })));
  }

  private onUdp(s: UdpSocket, port: number, msg: Buffer, r: RemoteInfo): void {
    const m = parseDnsMessage(msg);
    if (typeof m === 'string') return;
    const seen = this.note(m, port, r.port, 'udp');
    for (const out of this.replies(m, seen)) s.send(out, r.port, r.address);
  }

  /** Pumps the link and Node's queues until nothing moves for two turns. */
  async settle(): Promise<void> {
    let idle = 0;
    for (let i = 0; i < 100_000; i++) {
      const moved = this.pair.pump();
      await new Promise<void>((r) => setImmediate(r));
      if (moved === 0 && this.pair.pending() === 0) { if (++idle >= 2) return; } else idle = 0;
    }
    throw new Error('livelock');
  }

  /** Runs until `until` holds, or until `forMs` virtual ms passed (then the clock stands at the bound). */
  async run(until: () => boolean, forMs = 600_000): Promise<boolean> {
    const end = this.clock.now() + forMs;
    for (let i = 0; i < 100_000; i++) {
      await this.settle();
      if (until()) return true;
      const next = this.clock.nextAt();
      if (next > end) { this.clock.advanceTo(end); await this.settle(); return until(); }
      this.clock.fireDue();
    }
    throw new Error('too many steps');
  }

  /** Moves virtual time forward by `ms`, firing what falls due. */
  async advance(ms: number): Promise<void> {
    await this.run(() => false, ms);
  }

  async close(): Promise<void> {
    for (const s of this.udp) { try { s.close(); } catch { /* closed already */ } }
    this.tcp?.close();
    // Let what the test left in flight (a FIN, an RST after a destroy) arrive, so that no
    // socket is still open when the stacks close (stack.close() gives an open socket
    // 'error' ECONNABORTED, an uncaught exception where nobody listens).
    await this.advance(10_000);
    await this.a.close();
    await this.b.close();
    this.pair.close();
  }
}

/** Calls a node-style API and gives back what its callback got, and when (virtual ms). */
export function capture<T extends unknown[]>(sim: DnsSim, call: (cb: (...args: T) => void) => void): { done: boolean; at: number; args: T | undefined } {
  const out: { done: boolean; at: number; args: T | undefined } = { done: false, at: -1, args: undefined };
  call((...args: T) => { out.done = true; out.at = sim.clock.now(); out.args = args; });
  return out;
}
