/**
 * The facade: wires a link (a TUN device or an in-memory link) to the IPv4, ICMP,
 * UDP (and TCP) layers, and owns the one real clock.
 *
 * Time: the protocol layers read no clock. Every layer says when it next needs to
 * run (`pollAt()`); the facade keeps ONE Node timer armed for the earliest of
 * those deadlines and calls `poll(now)` on expiry, after handing the IP layer what
 * the link has already received (`link.pollNow()`: input before timers). `now` is
 * `performance.now()` milliseconds, read once per received batch and once per timer expiry.
 * A `clock` option replaces the real clock (virtual time for deterministic
 * simulation: nothing then happens until the caller advances it).
 */
import { TunDevice, CaptureLink, impair, realTimeScheduler, parseImpairSpec, type ImpairSpec, type ImpairedLink, type Link } from '@netstack/tun';
import { Ipv4Layer, parseAddress, parseCidr, formatAddress, type Ipv4Address } from '@netstack/ip';
import { IcmpLayer } from '@netstack/icmp';
import { UdpLayer, type RemoteInfo, type UdpSocket, type UdpSocketOptions } from '@netstack/udp';
import { TcpLayer, type TcpLayerOptions } from '@netstack/tcp';
import { createTcpApi, type TcpApi } from './net/index.js';
import { invalidArgType, invalidArgValue } from '@netstack/ip';
import { NetstackError } from './errors.js';
import { abortError } from './net/errors.js';
import { Capture, openCapture, type CaptureOptions } from './capture.js';
import { EventQueue } from './events.js';

function rethrow(e: unknown): never {
  throw e;
}

export interface TunOptions {
  /** Device name (default: the kernel picks tunN). */
  name?: string;
  /** Address and prefix of the kernel's side of the device, e.g. '10.7.0.1/24'. */
  kernelAddress?: string;
  /** Device MTU, 68..65535 (default 1500). */
  mtu?: number;
  /**
   * Packets the kernel may queue for the stack to read before it drops them (the device's
   * txqueuelen), raised to at least this (default 1000; a tun starts at 500, which 10 000
   * kernel connections overflowed whenever the stack was busy: ACKs lost in the kernel,
   * tail loss probes and retransmissions answered by D-SACKs). Never lowered.
   */
  txQueueLen?: number;
  /** Open with IFF_NAPI so the kernel takes our writes in order (default true; see @netstack/tun). */
  napi?: boolean;
  /**
   * Negotiate TUN offloads: IFF_VNET_HDR with checksum and TCP segmentation offload, so
   * TCP sends and receives super-segments of up to 64 KB, one syscall each (measured
   * 5-10x the download speed of one segment per syscall at MTU 1500), and UDP
   * segmentation offload on receive where the kernel has it (Linux 6.2+): a kernel-side
   * UDP_SEGMENT send arrives in one read, split by the device. Default: on,
   * unless `impair` is set (the shaper does not carry the offload metadata; asking for
   * both is an error). Falls back silently when the kernel refuses;
   * `linkInfo().offload` says what was agreed.
   */
  offload?: boolean;
}

/** The facade's clock: real by default, virtual in simulation. Same shape as the impairment scheduler. */
export interface Clock {
  now(): number;
  /** Calls `fn` after `ms` milliseconds; returns a handle for `cancel`. */
  setTimer(fn: () => void, ms: number): unknown;
  cancel(handle: unknown): void;
}

const realClock: Clock = realTimeScheduler;
/** Linux's default txqueuelen for most devices (a tun's own default is 500). */
const DEFAULT_TX_QUEUE_LEN = 1000;

export interface StackOptions {
  /** The stack's own IPv4 address, e.g. '10.7.0.2'. */
  address: string;
  /** Open (or attach to) a TUN device in the current network namespace. */
  tun?: TunOptions;
  /** Or run on a link you made (e.g. one end of `createLinkPair()`). */
  link?: Link;
  /** Prefix length of the on-link subnet (default: the tun's kernelAddress prefix, else 24). */
  prefixLength?: number;
  /** Default gateway (default: the kernel side's address on a tun). */
  gateway?: string;
  /** Replace the real clock (virtual time for simulation). */
  clock?: Clock;
  /** Options of the TCP layer (buffer sizes, MSL, limits). */
  tcpOptions?: TcpLayerOptions;
  /**
   * Record both directions to this pcap file (what the stack sent and received, before
   * impairment), as `stack.capture(pcap)` does from the start (1 GiB bound).
   */
  pcap?: string;
  /**
   * Impair the link in both directions, e.g. 'loss=3%,dup=1%,reorder=25%,delay=5ms,seed=1'
   * (see @netstack/tun impair.ts). Deterministic for a seed.
   */
  impair?: string | ImpairSpec;
}

export interface PingOptions {
  /** Payload bytes (default 56). */
  size?: number;
  /** Milliseconds to wait for the reply (default 1000). */
  timeout?: number;
  signal?: AbortSignal;
}

export interface PingResult {
  rttMs: number;
  /** Bytes of ICMP message received (header + payload), as ping prints it. */
  bytes: number;
  ttl: number;
  seq: number;
}

export interface LinkInfo {
  name: string;
  kernelAddress: string;
  mtu: number;
  /**
   * Offloads the link negotiated (TUN: TUNSETOFFLOAD), or undefined when none. `uso4` (a
   * TUN device says it always): the kernel sends UDP super-datagrams, which the device
   * splits into datagrams before the IP layer (see @netstack/tun uso.ts).
   */
  offload?: { tso4: boolean; csum: boolean; uso4?: boolean } | undefined;
}

export class Stack {
  readonly address: string;
  readonly ip: Ipv4Layer;
  readonly icmp: IcmpLayer;
  /** `stack.udp.createSocket('udp4')`, shaped like node:dgram. */
  readonly udp: { createSocket(type: 'udp4' | UdpSocketOptions, onMessage?: (msg: Buffer, rinfo: RemoteInfo) => void): UdpSocket };
  private readonly udpLayer: UdpLayer;
  /** The TCP core (pure protocol); `tcp` is the node:net-shaped API over it. */
  readonly tcpLayer: TcpLayer;
  /** `stack.tcp.createServer()`, `stack.tcp.connect()`, shaped like node:net. */
  readonly tcp: TcpApi;
  private readonly link: Link;
  private readonly device: TunDevice | undefined;
  /** Where captures tap the link (stack.capture); forwards only while none runs. */
  private readonly tapPoint: CaptureLink;
  private readonly captures = new Set<Capture>();
  private readonly impaired: ImpairedLink | undefined;
  private readonly info: LinkInfo;
  private readonly clock: Clock;
  private timer: unknown;
  private timerAt = Infinity;
  private closed = false;
  private rxNow = 0;
  private inBatch = false;
  /** Where sockets and servers wait to emit their events until the stack is whole (events.ts). */
  private readonly events = new EventQueue();
  /** Exceptions thrown by a layer (bugs, not wire input), re-thrown on the next tick. */
  private internalErrors = 0;
  /** A loopback delivery is scheduled. */
  private loopScheduled = false;
  private readonly runLoopback = (): void => this.deliverLoopback();
  /** In onTimer's input drain: schedule() waits for the end of the callback. */
  private inTimer = false;
  /** The timer callback, bound once (no closure each time the timer is re-armed). */
  private readonly fire = (): void => this.onTimer();

  /** @internal use createStack() */
  constructor(options: StackOptions) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
    const address = parseAddress(options.address);
    if (address === undefined) throw invalidArgValue('options.address', options.address, 'must be an IPv4 address');
    if ((options.tun === undefined) === (options.link === undefined)) {
      throw new NetstackError('ERR_INVALID_ARG_VALUE', 'createStack() needs exactly one of options.tun and options.link');
    }
    const clock = options.clock ?? realClock;
    this.clock = clock;
    let prefixLength = options.prefixLength ?? 24;
    let gateway: Ipv4Address | undefined;
    if (options.gateway !== undefined) {
      gateway = parseAddress(options.gateway);
      if (gateway === undefined) throw invalidArgValue('options.gateway', options.gateway, 'must be an IPv4 address');
    }
    let link: Link;
    if (options.tun) {
      const kernel = parseCidr(options.tun.kernelAddress ?? '10.7.0.1/24');
      if (kernel === undefined) throw invalidArgValue('options.tun.kernelAddress', options.tun.kernelAddress, "must be 'a.b.c.d/len'");
      if (kernel.address === address) throw invalidArgValue('options.address', options.address, 'must differ from the kernel side address');
      if (options.prefixLength === undefined) prefixLength = kernel.prefixLength;
      gateway ??= kernel.address;
      this.device = TunDevice.open({
        ...(options.tun.name !== undefined ? { name: options.tun.name } : {}),
        mtu: options.tun.mtu ?? 1500,
        txQueueLen: options.tun.txQueueLen ?? DEFAULT_TX_QUEUE_LEN,
        ...(options.tun.napi !== undefined ? { napi: options.tun.napi } : {}),
        offload: options.tun.offload ?? options.impair === undefined,
        kernelAddress: `${formatAddress(kernel.address)}/${kernel.prefixLength}`,
      });
      link = this.device;
      this.info = {
        name: this.device.name, kernelAddress: `${formatAddress(kernel.address)}/${kernel.prefixLength}`, mtu: this.device.mtu,
        offload: this.device.offload === undefined ? undefined : { ...this.device.offload },
      };
    } else {
      link = options.link!;
      this.info = { name: 'memory', kernelAddress: '', mtu: link.mtu, offload: link.offload === undefined ? undefined : { ...link.offload } };
    }
    if (options.impair !== undefined) {
      if (link.offload !== undefined) {
        this.device?.close();
        throw new NetstackError('ERR_INVALID_ARG_VALUE', 'impair cannot be combined with an offload link (the shaper does not carry offload metadata)');
      }
      const spec = typeof options.impair === 'string' ? parseImpairSpec(options.impair) : options.impair;
      this.impaired = impair(link, spec, { scheduler: clock });
      link = this.impaired;
    }
    this.tapPoint = new CaptureLink(link);
    link = this.tapPoint;
    if (options.pcap !== undefined) {
      try {
        this.startCapture(options.pcap, {});
      } catch (err) {
        link.close(); // the device too
        throw err;
      }
    }
    this.link = link;
    this.address = formatAddress(address);

    this.ip = new Ipv4Layer({
      address, prefixLength, ...(gateway !== undefined ? { gateway } : {}), link,
      onLoopback: () => this.scheduleLoopback(),
    });
    this.icmp = new IcmpLayer(this.ip);
    this.ip.register(this.icmp);
    this.ip.setErrorReporter(this.icmp);
    this.udpLayer = new UdpLayer(this.ip, { notifier: this.events });
    this.ip.register(this.udpLayer);
    // Multicast delivery needs membership (RFC 1112 §6.2): the sockets' groups are the UDP layer's.
    this.ip.multicastFilter = (group, src) => this.udpLayer.acceptsGroup(group, src);
    this.udp = { createSocket: (type, onMessage) => this.udpLayer.createSocket(type, onMessage) };
    this.tcpLayer = new TcpLayer(this.ip, options.tcpOptions ?? {});
    this.ip.register(this.tcpLayer);
    // Inside a receive batch, user code (called back from the packet path) sees the
    // batch's time, so every layer sees one consistent, monotonic clock.
    this.tcp = createTcpApi(this.tcpLayer, {
      now: () => (this.inBatch ? this.rxNow : clock.now()),
      schedule: () => this.schedule(),
      setTimer: (fn, ms) => clock.setTimer(fn, ms),
      cancel: (h) => clock.cancel(h),
    }, this.address, this.events);

    // A receive batch is one bracket of the event queue: the user's handlers run after
    // its last packet and its end (coalesced ACKs out, timer re-armed), never inside.
    link.setReceiver({
      packet: (packet, meta) => {
        // The clock is read once per batch, at its first packet.
        if (!this.inBatch) { this.inBatch = true; this.rxNow = clock.now(); this.events.hold(); }
        try {
          this.ip.input(packet, this.rxNow, meta);
        } catch (e) {
          // A bug in a layer, never wire input (layers drop and count that): the batch
          // goes on, and the error surfaces as an uncaught exception on the next tick.
          this.internalErrors++;
          process.nextTick(rethrow, e);
        }
      },
      batchEnd: () => this.endBatch(),
    });
  }

  private endBatch(): void {
    if (!this.inBatch) return;
    this.inBatch = false;
    try {
      this.schedule();
    } finally {
      this.events.release();
    }
  }

  /**
   * Datagrams to our own address or 127/8 wait in the IP layer's loopback queue; they are
   * received as a batch of their own on the next turn of the event loop (setImmediate;
   * a virtual clock's zero-delay timer in simulation), as Linux's lo hands them to its
   * backlog: never inside the call that sent them.
   */
  private scheduleLoopback(): void {
    if (this.loopScheduled || this.closed) return;
    this.loopScheduled = true;
    if (this.clock === realClock) setImmediate(this.runLoopback);
    else this.clock.setTimer(this.runLoopback, 0);
  }

  private deliverLoopback(): void {
    this.loopScheduled = false;
    if (this.closed) return;
    const outer = this.inBatch;
    if (!outer) { this.inBatch = true; this.rxNow = this.clock.now(); this.events.hold(); }
    try {
      this.ip.deliverLoopback(this.rxNow);
    } catch (e) {
      this.internalErrors++;
      process.nextTick(rethrow, e);
    } finally {
      if (!outer) this.endBatch();
    }
  }

  /** Re-arms the one timer to the earliest deadline any layer has. */
  schedule(): void {
    if (this.closed || this.inTimer) return;
    const at = Math.min(this.ip.pollAt(), this.icmp.pollAt(), this.tcpLayer.pollAt());
    if (at >= this.timerAt) return;
    if (this.timer !== undefined) this.clock.cancel(this.timer);
    this.timerAt = at;
    if (at === Infinity) { this.timer = undefined; return; }
    this.timer = this.clock.setTimer(this.fire, Math.max(0, at - this.clock.now()));
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    this.events.hold();
    try {
      this.runTimers();
    } finally {
      this.events.release();
    }
  }

  private runTimers(): void {
    // Input first. Node runs expired timers before it polls for I/O, so after a busy
    // stretch this callback can run while ACKs already sit unread in the device: the
    // retransmission and tail-loss-probe timers they would cancel must not fire first
    // (spurious retransmissions, D-SACKed back). A bounded, non-blocking drain (tun:
    // until EAGAIN, at most its queue length); its batchEnd calls must not re-arm the
    // timer (done once below, after the protocol timers).
    if (this.link.pollNow !== undefined) {
      this.inTimer = true;
      try {
        this.link.pollNow();
      } finally {
        this.inTimer = false;
      }
      if (this.closed) return; // closed from a callback of that input
    }
    const now = this.clock.now();
    this.ip.poll(now);
    this.icmp.poll(now);
    this.tcpLayer.poll(now);
    this.schedule();
  }

  /** Pings `host` from the stack; resolves with the round-trip time. */
  ping(host: string, options: PingOptions = {}): Promise<PingResult> {
    const dst = parseAddress(host);
    if (dst === undefined) return Promise.reject(invalidArgValue('host', host, 'must be an IPv4 address'));
    const size = options.size ?? 56;
    if (!Number.isInteger(size) || size < 0 || size > 65507) {
      return Promise.reject(new NetstackError('ERR_OUT_OF_RANGE', `The value of "size" is out of range. It must be >= 0 && <= 65507. Received ${size}`));
    }
    if (options.signal?.aborted) return Promise.reject(abortError(options.signal.reason));
    return new Promise((resolve, reject) => {
      const signal = options.signal;
      const onAbort = (): void => { handle.cancel(); reject(abortError(signal!.reason)); };
      const handle = this.icmp.ping(dst, { size, timeout: options.timeout ?? 1000 }, this.clock.now(), (err, result) => {
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(Object.assign(err, { address: host }));
        else resolve(result!);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.schedule();
    });
  }

  /**
   * Starts recording both directions to a pcap file at `path` (truncated), until
   * `close()` on the result or `stack.close()`. The file holds what the wire carries:
   * checksums complete (completed on a copy while capturing), TSO super-segments whole.
   * Bounded by `options.maxBytes` (default 1 GiB): then it stops growing and counts
   * `notWritten`. Rejects with the fs error (`code` EACCES, ENOENT...) when the file
   * cannot be opened, ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE for bad arguments,
   * ERR_INVALID_STATE after close(). Several captures may run at once.
   */
  capture(path: string, options: CaptureOptions = {}): Promise<Capture> {
    try {
      if (typeof path !== 'string' || path === '') throw invalidArgType('path', 'a non-empty string', path);
      if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
      if (this.closed) throw new NetstackError('ERR_INVALID_STATE', 'the stack is closed');
      return Promise.resolve(this.startCapture(path, options));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  }

  private startCapture(path: string, options: CaptureOptions): Capture {
    const c = openCapture(path, options, this.tapPoint, (done) => this.captures.delete(done));
    this.captures.add(c);
    return c;
  }

  /** Counters of every layer, in the spirit of netstat -s. */
  stats(): Record<string, Record<string, number>> {
    return {
      link: { ...this.link.stats() },
      ip: flat(this.ip.stats()),
      icmp: flat(this.icmp.stats()),
      udp: flat(this.udpLayer.stats()),
      tcp: flat(this.tcpLayer.stats()),
      ...(this.impaired ? { impair: { ...this.impaired.impairStats() } } : {}),
      // Exceptions thrown by a layer (bugs, never wire input), caught at the batch and re-thrown.
      stack: { InternalErrors: this.internalErrors },
    };
  }

  linkInfo(): LinkInfo {
    return { ...this.info };
  }

  /** Lets the process exit while the stack is idle (the device's poll handle stops holding it). */
  unref(): this { this.device?.unref(); return this; }
  ref(): this { this.device?.ref(); return this; }

  /**
   * Closes every socket, the device (removing it) and the capture. Idempotent.
   * TCP connections still open are reset (RST), as the kernel does for the sockets
   * of a process that exits.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    const now = this.clock.now();
    for (const c of this.tcpLayer.connections()) c.abort(now);
    this.closed = true;
    // Closed in the middle of a batch (the device ends it without batchEnd): run what waits.
    this.inBatch = false;
    this.events.releaseAll();
    if (this.timer !== undefined) this.clock.cancel(this.timer);
    this.timer = undefined;
    this.udpLayer.close?.();
    this.link.close();
    for (const c of [...this.captures]) void c.close(); // synchronous: flushed and closed here
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function flat(obj: object): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (typeof v === 'number') out[k] = v;
    else if (v && typeof v === 'object') for (const [k2, v2] of Object.entries(v)) if (typeof v2 === 'number') out[`${k}.${k2}`] = v2;
  }
  return out;
}


/** Creates a stack on a TUN device (`tun`) or on a link you provide (`link`). */
export async function createStack(options: StackOptions): Promise<Stack> {
  // Async so that argument errors reject (and so device set-up can become async).
  return new Stack(options);
}
