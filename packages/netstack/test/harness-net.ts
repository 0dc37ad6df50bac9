/**
 * Two stacks for the net/ tests: the facade itself (`Stack`: its clock loop, its receive
 * batching, its `node:net`-shaped API) at 10.0.0.1/24 and 10.0.0.2/24, back to back on
 * @netstack/tun's in-memory link pair, on real time (performance.now() and unref'd
 * timers, through a clock that `close()` can stop). A host's `dropOutgoing` loses on the
 * wire the packets it sends. `close()` stops a host where it stands: its timers stop and
 * the link closes, without ending its sockets (no errors after the test).
 */
import { VirtualClock, realTimeScheduler, type Scheduler } from '@netstack/common';
import { createLinkPair, type Link, type LinkPair } from '@netstack/tun';
import type { Ipv4Layer } from '@netstack/ip';
import type { TcpConnection, TcpLayer, TcpLayerOptions } from '@netstack/tcp';
import { Stack } from '../src/stack.js';
import type { TcpApi } from '../src/net/index.js';
import { patternBytes } from '../../../test/sim/driver.js';

export const A_ADDR = '10.0.0.1';
export const B_ADDR = '10.0.0.2';
/** The hosts' IPv6 addresses when `HostOptions.ipv6` asks for a dual stack. */
export const A_ADDR6 = 'fd00::1';
export const B_ADDR6 = 'fd00::2';

export interface HostOptions {
  tcp?: TcpLayerOptions;
  mtu?: number;
  /**
   * Virtual time shared by both hosts: it stands still while anything moves (packets on the
   * wire, event-loop turns of work) and jumps to the next deadline when the loop is quiet.
   * Only for tests whose every event comes from the two stacks (no kernel I/O, no real timers).
   */
  virtual?: boolean;
  /** Dual stack: `a` also holds fd00::1, `b` fd00::2. */
  ipv6?: boolean;
}

/** Real time whose timers all stop, and stay stopped, at `stop()`. */
class StoppableClock implements Scheduler {
  #stopped = false;
  readonly #armed = new Set<unknown>();
  now(): number {
    return realTimeScheduler.now();
  }
  setTimer(fn: () => void, ms: number): unknown {
    if (this.#stopped) return undefined;
    const handle: unknown = realTimeScheduler.setTimer(() => {
      this.#armed.delete(handle);
      fn();
    }, ms);
    this.#armed.add(handle);
    return handle;
  }
  cancel(handle: unknown): void {
    if (handle === undefined) return;
    this.#armed.delete(handle);
    realTimeScheduler.cancel(handle);
  }
  stop(): void {
    this.#stopped = true;
    for (const h of this.#armed) realTimeScheduler.cancel(h);
    this.#armed.clear();
  }
}

/** Idle event-loop turns (nothing queued on the wire) after which virtual time may jump. */
const IDLE_TURNS = 2;

/**
 * Virtual time for a pair (@netstack/common's VirtualClock) that runs itself: while a timer
 * is armed it checks, one event-loop turn at a time, whether the wire is empty; after
 * IDLE_TURNS quiet turns it moves time to the earliest deadline and fires what is due then.
 */
export class AutoClock extends VirtualClock {
  #idle = 0;
  #pumping = false;
  #stopped = false;
  links: LinkPair | undefined = undefined;
  override setTimer(fn: () => void, ms: number): unknown {
    if (this.#stopped) return undefined;
    const t = super.setTimer(fn, ms);
    if (!this.#pumping) {
      this.#pumping = true;
      setImmediate(this.#turn);
    }
    return t;
  }
  stop(): void {
    this.#stopped = true;
  }
  readonly #turn = (): void => {
    if (this.#stopped || this.pending === 0) { this.#pumping = false; return; }
    if ((this.links?.pending() ?? 0) > 0) this.#idle = 0;
    else if (++this.#idle >= IDLE_TURNS) {
      this.#idle = 0;
      this.fireDue();
    }
    setImmediate(this.#turn);
  };
}

export class Host {
  readonly stack: Stack;
  readonly ip: Ipv4Layer;
  readonly tcp: TcpLayer;
  readonly api: TcpApi;
  /** Return true to lose a packet this host sends. */
  dropOutgoing: ((packet: Uint8Array) => boolean) | undefined = undefined;
  readonly #clock: StoppableClock | AutoClock;

  constructor(readonly address: string, link: Link, options: HostOptions = {}, clock: StoppableClock | AutoClock = new StoppableClock(), address6?: string) {
    this.#clock = clock;
    this.stack = new Stack({ link, address: options.ipv6 === true && address6 !== undefined ? [address, address6] : address, prefixLength: 24, clock: this.#clock, ...(options.tcp !== undefined ? { tcpOptions: options.tcp } : {}) });
    this.ip = this.stack.ip;
    this.tcp = this.stack.tcpLayer;
    this.api = this.stack.tcp;
  }

  close(): void {
    this.#clock.stop();
  }
}

export interface Pair {
  a: Host;
  b: Host;
  close(): void;
}

/** Two hosts back to back: `a` is 10.0.0.1, `b` is 10.0.0.2. */
export function createPair(options: HostOptions = {}, optionsB: HostOptions = options): Pair {
  let a: Host | undefined;
  let b: Host | undefined;
  const links = createLinkPair({
    mtu: options.mtu ?? 1500,
    filter: (packet, direction) => ((direction === 'a->b' ? a : b)?.dropOutgoing?.(packet) === true ? 'drop' : 'pass'),
  });
  const virtual = options.virtual === true ? new AutoClock() : undefined;
  if (virtual !== undefined) virtual.links = links;
  a = new Host(A_ADDR, links.a, options, virtual, A_ADDR6);
  b = new Host(B_ADDR, links.b, optionsB, virtual, B_ADDR6);
  const pa = a;
  const pb = b;
  return { a: pa, b: pb, close: () => { pa.close(); pb.close(); links.close(); } };
}

/** The same on the link pair (kept for the tests that name it). */
export const createLinkPairHosts = (options: HostOptions = {}): Pair => createPair(options);

/** Deterministic bytes (xorshift32, test/sim's patternBytes), so a failure names the offset that differs. */
export const randomBytes = (n: number, seed = 1): Buffer => patternBytes(n, seed);

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
