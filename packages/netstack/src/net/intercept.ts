/**
 * `stack.tcp.intercept(listener)`: the node:net-shaped face of the TCP core's interception
 * hook (packages/tcp/src/intercept.ts). On a stack made with `anyAddress: true`, every new
 * connection to an address that is not the stack's (and, with `listen({ intercept: true })`
 * on the core, to a flagged listener) is shown to `listener(info, decision)` BEFORE the
 * handshake is answered:
 *
 *   stack.tcp.intercept((info, d) => {
 *     // info: { localAddress, localPort, localFamily } = where the client connected to,
 *     //       { remoteAddress, remotePort, remoteFamily } = the client
 *     const upstream = net.connect({ host: info.localAddress, port: info.localPort, signal: d.signal });
 *     upstream.once('connect', () => { const s = d.accept(); if (s) s.pipe(upstream).pipe(s); });
 *     upstream.once('error', (e) => d.refuse(e.code === 'ECONNREFUSED' ? 'rst' : 'host-unreachable'));
 *   });
 *
 * - `d.accept(options?)` sends the SYN-ACK now and returns a `Socket` (node:net's shape)
 *   whose localAddress/localPort are the original destination; it emits 'connect' when the
 *   client's ACK completes the handshake (writes before are queued). Null when the request
 *   is no longer pending (decided, reset by the client, expired).
 * - `d.refuse(kind = 'rst')`: 'rst' (the client sees ECONNREFUSED), 'net-unreachable',
 *   'host-unreachable', 'admin-prohibited' (an ICMP error: ENETUNREACH / EHOSTUNREACH at a
 *   Linux client; a netstack client fails at once only on the "fatal" codes, RFC 1122
 *   §4.2.3.9, i.e. admin-prohibited), or 'drop' (the client's SYN times out). False when no
 *   longer pending.
 * - `d.signal` aborts when the request ends without a decision (the client reset it, or
 *   it expired after `tcpOptions.intercept.pendingTimeout`): hand it to the upstream attempt.
 * - `d.pending` says whether a decision is still possible.
 *
 * `stack.tcp.intercept()` (no listener) removes it. The listener runs from the stack's
 * event queue, like every other callback (never inside packet processing).
 */
import type { IpAddress } from '@netstack/ip';
import type { InterceptRefusal, InterceptRequest, TcpLayer } from '@netstack/tcp';
import { addressFamily, type AddressFamily } from '@netstack/ip';
import { runUserCode, type Notifiable } from '../events.js';
import { formatReported } from '../ip-literal.js';
import type { NetContext } from './context.js';
import { kContext } from './context.js';
import { invalidArgType } from './errors.js';
import { kAttachAccepted, kHandler, Socket, type SocketOnRead, type SocketOptions } from './socket.js';

/** The original 4-tuple of an intercepted connection. */
export interface InterceptInfo {
  /** Where the client connected to (the original destination). */
  localAddress: string;
  localPort: number;
  localFamily: AddressFamily;
  /** The client. */
  remoteAddress: string;
  remotePort: number;
  remoteFamily: AddressFamily;
}

export interface InterceptAcceptOptions {
  allowHalfOpen?: boolean;
  highWaterMark?: number;
  noDelay?: boolean;
  /** node's `onread` (see SocketOptions.onread): the client's bytes into one reused buffer. */
  onread?: SocketOnRead;
}

export interface InterceptDecision {
  readonly pending: boolean;
  readonly signal: AbortSignal;
  accept(options?: InterceptAcceptOptions): Socket | null;
  refuse(kind?: InterceptRefusal): boolean;
}

export type InterceptListener = (info: InterceptInfo, decision: InterceptDecision) => void;

/**
 * @internal The gateway's cheap subscription to a decision's end without a decision:
 * `d[kOnCancel](fn)` runs `fn` once when the request ends undecided (what aborts `signal`),
 * without making the AbortSignal (node's is an EventTarget: making one, and listening to
 * it, was ~7 % of the gateway's CPU per new connection). At most one; it runs from the
 * event queue, like the listener.
 */
export const kOnCancel: unique symbol = Symbol('netstack.net.interceptOnCancel');

/**
 * One pending request's decision (`InterceptDecision`). The AbortSignal is made only when
 * `signal` is read (aborted at once if the request has ended undecided by then).
 */
class Decision implements InterceptDecision {
  readonly #req: InterceptRequest;
  readonly #ctx: NetContext;
  #ac: AbortController | undefined = undefined;
  #onCancel: (() => void) | undefined = undefined;
  #cancelled = false;

  constructor(req: InterceptRequest, ctx: NetContext) {
    this.#req = req;
    this.#ctx = ctx;
  }

  get pending(): boolean { return this.#req.pending; }

  get signal(): AbortSignal {
    if (this.#ac === undefined) {
      this.#ac = new AbortController();
      if (this.#cancelled) this.#ac.abort();
    }
    return this.#ac.signal;
  }

  [kOnCancel](fn: () => void): void {
    this.#onCancel = fn;
  }

  /** The request ended undecided (from the event queue). */
  cancel(): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.#ac?.abort();
    const fn = this.#onCancel;
    this.#onCancel = undefined;
    if (fn !== undefined) runUserCode(fn);
  }

  accept(options: InterceptAcceptOptions = {}): Socket | null {
    const req = this.#req;
    const ctx = this.#ctx;
    if (!req.pending) return null;
    const socket = new Socket({
      allowHalfOpen: options.allowHalfOpen === true,
      ...(options.highWaterMark !== undefined ? { highWaterMark: options.highWaterMark } : {}),
      ...(options.onread !== undefined ? { onread: options.onread } : {}),
      [kContext]: ctx,
    } as SocketOptions);
    let c;
    try {
      c = req.accept(socket[kHandler], ctx.clock.now(), options.noDelay === true ? { noDelay: true } : undefined);
    } finally {
      ctx.clock.schedule();
    }
    if (c === undefined) { socket.destroy(); return null; }
    socket[kAttachAccepted](c, null, () => {}, false, false);
    return socket;
  }

  refuse(kind: InterceptRefusal = 'rst'): boolean {
    const done = this.#req.refuse(kind, this.#ctx.clock.now());
    this.#ctx.clock.schedule();
    return done;
  }
}

/** @internal Queues the core's requests and cancellations and runs the listener from the event queue. */
export class TcpInterceptor implements Notifiable {
  notifyQueued = false;
  #listener: InterceptListener | undefined;
  /** What waits for the listener: new requests, and cancellations to run. Bounded by the core's pending bound. */
  #queue: { req: InterceptRequest; cancel: Decision | undefined }[] = [];
  readonly #ctx: NetContext;

  constructor(ctx: NetContext) {
    this.#ctx = ctx;
  }

  set(listener: InterceptListener | undefined): void {
    if (listener !== undefined && typeof listener !== 'function') throw invalidArgType('listener', 'of type function', listener);
    this.#listener = listener;
    const layer: TcpLayer = this.#ctx.layer;
    layer.setIntercept(listener === undefined ? undefined : (req) => {
      this.#queue.push({ req, cancel: undefined });
      this.#ctx.events.post(this);
    });
  }

  notify(): void {
    const q = this.#queue;
    this.#queue = [];
    for (const { req, cancel } of q) {
      if (cancel !== undefined) { cancel.cancel(); continue; }
      if (!req.pending) continue;
      const listener = this.#listener;
      if (listener === undefined) { req.refuse('rst', this.#ctx.clock.now()); this.#ctx.clock.schedule(); continue; }
      const d = new Decision(req, this.#ctx);
      req.oncancel = () => { this.#queue.push({ req, cancel: d }); this.#ctx.events.post(this); };
      runUserCode(() => listener(infoOf(req, this.#ctx.interfaceName), d));
    }
  }
}

function infoOf(req: InterceptRequest, iface: string): InterceptInfo {
  const fmt = (a: IpAddress): string => formatReported(a, false, iface);
  return {
    localAddress: fmt(req.localAddress), localPort: req.localPort, localFamily: addressFamily(req.localAddress),
    remoteAddress: fmt(req.remoteAddress), remotePort: req.remotePort, remoteFamily: addressFamily(req.remoteAddress),
  };
}
