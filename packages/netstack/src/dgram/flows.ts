/**
 * `stack.udp.interceptFlows(listener)`: the node:dgram-shaped face of the UDP core's
 * flows to foreign destinations (packages/udp/src/flows.ts). On a stack made with
 * `anyAddress: true`, each new 4-tuple to an address that is not the stack's becomes a
 * `UdpFlowSocket` handed to `listener(flow)`:
 *
 *   stack.udp.interceptFlows((flow) => {
 *     // flow.localAddress/localPort: the original destination (IP_RECVORIGDSTADDR)
 *     flow.on('message', (msg, rinfo) => flow.send(answer(msg)));   // from the original destination
 *     flow.on('close', (why) => ...);                               // 'idle' | 'closed' | 'shutdown' | 'evicted'
 *   });
 *
 * Every datagram of the flow is a 'message' (msg a Buffer copy, rinfo the client as
 * node:dgram gives it). `flow.send(msg[, cb])` sends one datagram to the client FROM the
 * original destination (IP_TRANSPARENT); `flow.unreachable(kind)` answers it with an ICMP
 * destination unreachable instead (the relay's upstream said ECONNREFUSED...). Flows end when idle (`udpFlows.idleTimeout`),
 * on `flow.close()`, with the stack, or when a new flow takes the place of the least
 * recently active one in a full table ('evicted'). Bounded: the core's count and bytes, and here a
 * per-flow queue of at most 64 datagrams (more arriving before they are emitted are
 * dropped, counted FlowRcvbufErrors). Without a listener such datagrams are dropped
 * (ForeignDrops). An ICMP error the client sends about a reply (its port closed: what
 * Linux gives an IP_RECVERR socket) is an 'icmpError' event (an Error with `code` the errno,
 * `icmpType`, `icmpCode`, `fatal`); not 'error', so a flow without listeners never throws.
 */
import { EventEmitter } from 'node:events';
import { addressFamily, type AddressFamily, type InboundDatagram, type IpAddress } from '@netstack/ip';
import type { UdpFlow, UdpFlowCloseReason, UdpLayer } from '@netstack/udp';
import { runUserCode, type Notifiable, type Notifier } from '../events.js';
import { formatReported } from '../ip-literal.js';

/** Datagrams a flow's queue holds before they are emitted. */
const FLOW_QUEUE_LIMIT = 64;

export interface FlowRemoteInfo {
  address: string;
  family: AddressFamily;
  port: number;
  size: number;
  /** The datagram's TTL (hop limit) as it arrived. */
  ttl: number;
  /** DF was set (IPv4), or it arrived unfragmented (IPv6): a relay re-sends it so (RFC 1812 §5.3.1). */
  dontFragment: boolean;
}

/** One flow: an EventEmitter with 'message' (msg, rinfo) and 'close' (why). */
export class UdpFlowSocket extends EventEmitter implements Notifiable {
  notifyQueued = false;
  /** The original destination: where the client sent, where replies come from. */
  readonly localAddress: string;
  readonly localPort: number;
  readonly localFamily: AddressFamily;
  /** The client. */
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly remoteFamily: AddressFamily;
  /** @internal */ queue: Buffer[] = [];
  /** @internal per queued datagram: its TTL, plus 256 when DF */ queueInfo: number[] = [];
  /** @internal */ closedWhy: UdpFlowCloseReason | undefined = undefined;
  /** @internal ICMP errors waiting to be emitted (at most 8: later ones are dropped) */ icmpErrors: Error[] = [];
  #closeEmitted = false;

  /** Made by `interceptFlows`, not by users (not tagged internal: a stripped constructor would read as a public one without arguments). */
  constructor(readonly flow: UdpFlow, iface: string, private readonly clock: FlowClock) {
    super();
    const fmt = (a: IpAddress): string => formatReported(a, false, iface);
    this.localAddress = fmt(flow.localAddress);
    this.localPort = flow.localPort;
    this.localFamily = addressFamily(flow.localAddress);
    this.remoteAddress = fmt(flow.remoteAddress);
    this.remotePort = flow.remotePort;
    this.remoteFamily = addressFamily(flow.remoteAddress);
  }

  /** Sends `msg` to the client from the original destination; `cb(err)` on the next tick. */
  send(msg: Uint8Array | string, cb?: (err: Error | null) => void): void {
    const data = typeof msg === 'string' ? Buffer.from(msg) : msg;
    if (!(data instanceof Uint8Array)) throw Object.assign(new TypeError('The "msg" argument must be a Buffer, Uint8Array or string'), { code: 'ERR_INVALID_ARG_TYPE' });
    const e = this.flow.send(data, this.clock.now());
    this.clock.schedule();
    const err = e === undefined ? null : Object.assign(new Error(`send ${e}`), { code: e, syscall: 'send' });
    if (cb !== undefined) process.nextTick(cb, err);
    else if (err !== null) process.nextTick(() => this.emit('error', err));
  }

  /**
   * Tells the client its datagrams cannot be delivered: an ICMP destination unreachable
   * quoting the flow's first datagram (RFC 792; ICMPv6 RFC 4443 §3.1), from the stack.
   * 'port' (code 3: the client's connected socket fails with ECONNREFUSED), 'host' (1:
   * EHOSTUNREACH), 'net' (0: ENETUNREACH), 'admin-prohibited' (13; ICMPv6 code 1). What a
   * relay does when its upstream socket reports that error. The flow stays open. False
   * when it is closed (or kept no quote).
   */
  unreachable(kind: 'port' | 'host' | 'net' | 'admin-prohibited' = 'port'): boolean {
    const code = kind === 'port' ? 3 : kind === 'host' ? 1 : kind === 'net' ? 0 : 13;
    const sent = this.flow.reportUnreachable(code, this.clock.now());
    this.clock.schedule();
    return sent;
  }

  /**
   * The flow's first datagram (its IP and UDP headers) as an ICMP error about the flow
   * quotes it: for a relay passing on an error from beyond (`stack.icmp.relayError`).
   * Undefined when closed or no quote was kept.
   */
  quoteDatagram(): InboundDatagram | undefined {
    return this.flow.quoteDatagram();
  }

  /** Ends the flow ('close' with 'closed' follows). */
  close(): void {
    this.flow.close(this.clock.now());
    this.clock.schedule();
  }

  /** The event queue's call (Notifiable): emits what is queued, then 'close' once ended. Not for users. */
  notify(): void {
    const q = this.queue;
    const qi = this.queueInfo;
    this.queue = [];
    this.queueInfo = [];
    let n = 0;
    for (const msg of q) n += msg.length;
    this.flow.release(n);
    const rinfo = (size: number, i: number): FlowRemoteInfo => ({ address: this.remoteAddress, family: this.remoteFamily, port: this.remotePort, size, ttl: i & 0xff, dontFragment: i >= 256 });
    for (let k = 0; k < q.length; k++) { const msg = q[k]!; const i = qi[k] ?? 64; runUserCode(() => this.emit('message', msg, rinfo(msg.length, i))); }
    const errs = this.icmpErrors;
    this.icmpErrors = [];
    for (const e of errs) runUserCode(() => this.emit('icmpError', e));
    if (this.closedWhy !== undefined && !this.#closeEmitted) {
      this.#closeEmitted = true;
      const why = this.closedWhy;
      runUserCode(() => this.emit('close', why));
    }
  }
}

export interface FlowClock {
  now(): number;
  schedule(): void;
}

export type FlowListener = (flow: UdpFlowSocket) => void;

/** Installs `listener` as the UDP layer's flow handler (undefined: removes it). */
export function interceptFlows(udp: UdpLayer, notifier: Notifier, clock: FlowClock, iface: string, listener: FlowListener | undefined): void {
  if (listener === undefined) { udp.setFlowHandler(undefined); return; }
  if (typeof listener !== 'function') throw Object.assign(new TypeError('The "listener" argument must be of type function'), { code: 'ERR_INVALID_ARG_TYPE' });
  const sockets = new WeakMap<UdpFlow, UdpFlowSocket>();
  udp.setFlowHandler({
    onFlow: (flow) => {
      const s = new UdpFlowSocket(flow, iface, clock);
      sockets.set(flow, s);
      // The listener runs before the first 'message' (both from the event queue).
      const announce: Notifiable = { notifyQueued: false, notify: () => runUserCode(() => listener(s)) };
      notifier.post(announce);
      return true;
    },
    onDatagram: (flow, payload, _now, info) => {
      const s = sockets.get(flow);
      if (s === undefined || s.queue.length >= FLOW_QUEUE_LIMIT) return -1;
      s.queue.push(Buffer.from(payload));
      s.queueInfo.push((info.ttl & 0xff) | (info.dontFragment ? 256 : 0));
      notifier.post(s);
      return payload.length;
    },
    onError: (flow, errno, fatal, icmpType, icmpCode) => {
      const s = sockets.get(flow);
      if (s === undefined || s.icmpErrors.length >= 8) return;
      s.icmpErrors.push(Object.assign(new Error(`ICMP error from ${s.remoteAddress}: ${errno}`), { code: errno, icmpType, icmpCode, fatal }));
      notifier.post(s);
    },
    onClose: (flow, why) => {
      const s = sockets.get(flow);
      if (s === undefined) return;
      s.closedWhy = why;
      notifier.post(s);
    },
  });
}
