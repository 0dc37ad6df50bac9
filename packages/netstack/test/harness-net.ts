/**
 * A mini facade for the net/ tests: two hosts (Ipv4Layer + TcpLayer each),
 * 10.0.0.1/24 and 10.0.0.2/24, wired back to back by a LinkOutput that copies
 * each packet and delivers the batch to the other host on setImmediate, plus per
 * host a StackClock on performance.now() with ONE real (unref'd) timer re-armed
 * to the earliest deadline of its layers. Real time, real event loop: what the
 * facade does on a TUN device, without the device.
 */
import { Ipv4Layer, type LinkOutput } from '@netstack/ip';
import { createLinkPair, type Link } from '@netstack/tun';
import { TcpLayer, type TcpConnection, type TcpLayerOptions } from '@netstack/tcp';
import { createTcpApi, type StackClock, type TcpApi } from '../src/net/index.js';

export const A_ADDR = '10.0.0.1';
export const B_ADDR = '10.0.0.2';

export interface HostOptions {
  tcp?: TcpLayerOptions;
  mtu?: number;
  /** Run on this Link (e.g. one end of @netstack/tun's createLinkPair) instead of the built-in wire. */
  link?: Link;
}

export class Host {
  readonly ip: Ipv4Layer;
  readonly tcp: TcpLayer;
  readonly clock: StackClock;
  readonly api: TcpApi;
  peer: Host | undefined = undefined;
  /** Packets sent by this host (after the drop filter). */
  sent = 0;
  /** Return true to lose a packet this host sends. */
  dropOutgoing: ((packet: Uint8Array) => boolean) | undefined = undefined;
  private inbox: Uint8Array[] = [];
  private deliveryQueued = false;
  private timer: NodeJS.Timeout | undefined = undefined;
  private timerAt = Infinity;
  private closed = false;

  constructor(readonly address: string, options: HostOptions = {}) {
    const real = options.link;
    const link: LinkOutput = real ?? {
      mtu: options.mtu ?? 1500,
      send: (packet) => {
        if (this.closed) return false;
        if (this.dropOutgoing?.(packet) === true) return true;
        this.sent++;
        this.peer?.enqueue(packet.slice());
        return true;
      },
    };
    if (real !== undefined) {
      // The facade's receive path: the clock is read once per batch; batchEnd re-arms the timer.
      let batchNow: number | undefined;
      real.setReceiver({
        packet: (p) => { batchNow ??= performance.now(); if (!this.closed) this.ip.input(p, batchNow); },
        batchEnd: () => { batchNow = undefined; this.schedule(); },
      });
    }
    this.ip = new Ipv4Layer({ address, prefixLength: 24, link });
    this.tcp = new TcpLayer(this.ip, options.tcp ?? {});
    this.ip.register(this.tcp);
    this.clock = {
      now: () => performance.now(),
      schedule: () => this.schedule(),
    };
    this.api = createTcpApi(this.tcp, this.clock, address);
  }

  private enqueue(packet: Uint8Array): void {
    if (this.closed) return;
    this.inbox.push(packet);
    if (this.deliveryQueued) return;
    this.deliveryQueued = true;
    setImmediate(() => this.deliver());
  }

  private deliver(): void {
    this.deliveryQueued = false;
    if (this.closed) return;
    const batch = this.inbox;
    this.inbox = [];
    // The clock is read once per batch, as the facade does.
    const now = performance.now();
    for (const p of batch) this.ip.input(p, now);
    this.schedule();
  }

  private schedule(): void {
    if (this.closed) return;
    const at = Math.min(this.ip.pollAt(), this.tcp.pollAt());
    if (at >= this.timerAt) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    if (at === Infinity) { this.timer = undefined; return; }
    this.timer = setTimeout(() => this.onTimer(), Math.max(0, at - performance.now()));
    this.timer.unref();
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.closed) return;
    const now = performance.now();
    this.ip.poll(now);
    this.tcp.poll(now);
    this.schedule();
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.inbox = [];
  }
}

export interface Pair {
  a: Host;
  b: Host;
  close(): void;
}

/** Two hosts back to back: `a` is 10.0.0.1, `b` is 10.0.0.2. */
export function createPair(options: HostOptions = {}, optionsB: HostOptions = options): Pair {
  const a = new Host(A_ADDR, options);
  const b = new Host(B_ADDR, optionsB);
  a.peer = b;
  b.peer = a;
  return { a, b, close: () => { a.close(); b.close(); } };
}

/** Two hosts on @netstack/tun's in-memory link pair: the facade's own wiring. */
export function createLinkPairHosts(options: HostOptions = {}): Pair {
  const links = createLinkPair({ mtu: options.mtu ?? 1500 });
  const a = new Host(A_ADDR, { ...options, link: links.a });
  const b = new Host(B_ADDR, { ...options, link: links.b });
  return { a, b, close: () => { a.close(); b.close(); links.close(); } };
}

/** Deterministic bytes (xorshift), so a failure names the offset that differs. */
export function randomBytes(n: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Collects a readable's bytes until 'end'. */
export function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.on('data', (d: Buffer) => parts.push(d));
    stream.once('end', () => resolve(Buffer.concat(parts)));
    stream.once('error', reject);
  });
}

/**
 * Waits, one event-loop turn at a time, until `pred` holds (a condition wait, not a
 * sleep: it never assumes how long anything takes; the test's timeout bounds it).
 */
export async function until(pred: () => boolean): Promise<void> {
  while (!pred()) await new Promise((resolve) => setImmediate(resolve));
}

/** The core connection of `host` whose local port is `localPort` (diagnostics). */
export function coreConn(host: Host, localPort: number): TcpConnection | undefined {
  return host.tcp.connections().find((c) => c.localPort === localPort);
}
