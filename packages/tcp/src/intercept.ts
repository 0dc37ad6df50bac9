/**
 * Connection interception (any-address termination, issue 12): a SYN that no connection
 * and no listener takes, for a destination that is not ours (`InboundDatagram.foreign`,
 * an IP layer with `acceptAnyDestination`), or one to a listener flagged `intercept`,
 * becomes an `InterceptRequest` handed to the layer's hook (`TcpLayer.setIntercept`)
 * BEFORE anything is answered. The hook decides, at once or later:
 *
 * - `accept(handler, now)`: the SYN-ACK leaves only then, from the original destination,
 *   and the connection (SYN-RECEIVED, options negotiated from the stored SYN exactly as a
 *   listener does: listener.ts `openPassive`) is the caller's, with `localAddress` /
 *   `localPort` the original destination. So a client's `connect()` succeeds only if the
 *   hook (e.g. a relay that first reached the real destination) says so.
 * - `refuse('rst')`: RST|ACK from the original destination (RFC 9293 §3.10.7.1: the answer
 *   of a closed port), so the client sees ECONNREFUSED.
 * - `refuse('net-unreachable' | 'host-unreachable' | 'admin-prohibited')`: an ICMP
 *   destination unreachable quoting the SYN (codes 0, 1, 13, RFC 792 / RFC 1812
 *   §5.2.7.1, through the IP layer's error reporter, whose IPv6 layer answers with the
 *   RFC 4443 §3.1 codes 0, 3, 1): rate-limited, from our own address as a router's would be.
 * - `refuse('drop')`: nothing; the client's SYN times out.
 *
 * While pending: a retransmitted SYN for the tuple is absorbed (dropped.InterceptSynAbsorbed),
 * a client RST ends the request (InterceptClientResets; `oncancel`), anything else is
 * dropped (dropped.InterceptStray). Pending requests are bounded in count and bytes
 * (`InterceptLimits`; a SYN beyond them is dropped, dropped.InterceptFull, as a full SYN
 * queue without cookies), and forgotten after `pendingTimeout` (InterceptExpired;
 * `oncancel`). Compare gVisor's tcp.Forwarder (ForwarderRequest.CreateEndpoint /
 * Complete(sendReset), maxInFlight) and smoltcp's `any_ip`.
 *
 * Pure: time is passed in; the table expires in `poll(now)` (insertion order is expiry
 * order: one timeout for all).
 */
import type { IpAddress } from '@netstack/ip';
import type { TcpConnection, TcpHandler } from './connection.js';
import type { InterceptLimits, TcpConnectionOptions } from './types.js';
import { newTcpRepr } from './wire.js';
import type { TcpRepr } from './wire.js';

/** How a request is refused. */
export type InterceptRefusal = 'rst' | 'net-unreachable' | 'host-unreachable' | 'admin-prohibited' | 'drop';

export const INTERCEPT_REFUSALS: readonly InterceptRefusal[] = ['rst', 'net-unreachable', 'host-unreachable', 'admin-prohibited', 'drop'];

/** Where a request is: pending, or how it ended. */
export type InterceptOutcome = 'pending' | 'accepted' | 'refused' | 'reset' | 'expired' | 'closed';

/** The hook: called once per new request (after the segment that made it is processed). */
export type InterceptHandler = (request: InterceptRequest, now: number) => void;

/**
 * Estimated bytes one pending request holds besides its datagram copy: the request object,
 * its TcpRepr copy with options, the Map entry and the key string (V8 object sizes,
 * rounded up). Charged against `maxPendingBytes`.
 */
export const INTERCEPT_REQUEST_OVERHEAD = 512;

/**
 * The most of a SYN's datagram a pending request keeps: what an ICMP error can quote (RFC
 * 4443 §2.4(c): an ICMPv6 error fits the 1280-octet minimum MTU; ICMPv4 errors quote less,
 * RFC 1812 §4.3.2.3's 576-octet datagram). Data on a SYN is never queued (`syn` drops it),
 * so a large SYN costs no more than a small one: 17 SYNs of 60 KB to a silent address
 * once filled the 1 MiB byte bound, and every new connection was dropped (InterceptFull)
 * until they expired.
 */
export const INTERCEPT_MAX_COPY = 1280 - 40 - 8;

/** What a pending request for a SYN datagram of `packetLength` octets is charged (against `maxPendingBytes`). */
export function interceptCost(packetLength: number): number {
  return INTERCEPT_REQUEST_OVERHEAD + Math.min(packetLength, INTERCEPT_MAX_COPY);
}

/** What a request asks of the layer (implemented by TcpLayer). */
export interface InterceptOwner {
  acceptIntercept(req: InterceptRequest, handler: TcpHandler, options: TcpConnectionOptions | undefined, now: number): TcpConnection | undefined;
  refuseIntercept(req: InterceptRequest, kind: InterceptRefusal, now: number): boolean;
}

/** One intercepted SYN waiting for a decision. */
export class InterceptRequest {
  /** 'IPv4' or 'IPv6': the family of the addresses. */
  readonly family: 'IPv4' | 'IPv6';
  /** The original destination (what the client connected to): the accepted connection's local side. */
  readonly localAddress: IpAddress;
  readonly localPort: number;
  /** The client. */
  readonly remoteAddress: IpAddress;
  readonly remotePort: number;
  /** When the SYN arrived (ms, the layer's clock). */
  readonly receivedAt: number;
  /** The destination was not ours (an any-address stack), rather than a listener flagged `intercept`. */
  readonly foreign: boolean;
  /**
   * Called once if the request ends without a decision: the client reset it ('reset'), it
   * expired ('expired') or the layer closed ('closed'). A relay then abandons its upstream
   * attempt. Runs like the layer's other callbacks, after the event that caused it.
   */
  oncancel: ((request: InterceptRequest, why: 'reset' | 'expired' | 'closed') => void) | undefined = undefined;
  /** @internal */ outcomeValue: InterceptOutcome = 'pending';
  /** @internal a copy of the SYN's header and options (payload dropped: data on a SYN is not queued). */
  readonly syn: TcpRepr;
  /** @internal a copy of the datagram's first INTERCEPT_MAX_COPY octets (IP header first): what an ICMP error quotes. */
  readonly packet: Uint8Array;
  /** @internal */ readonly headerLength: number;
  /** @internal */ readonly ttl: number;
  /** @internal */ readonly tos: number;
  /** @internal a TIME-WAIT reuse: the ISS must be above this (RFC 6191). */
  readonly minIss: number | undefined;
  /** @internal options of the flagged listener, if any */
  readonly listenerOptions: TcpConnectionOptions | undefined;
  /** @internal */ readonly key: string;
  /** @internal bytes charged against maxPendingBytes */
  readonly cost: number;

  /** Made by the layer, not by users (not tagged internal: a stripped constructor would read as a public one without arguments). */
  constructor(
    private readonly owner: InterceptOwner, seg: TcpRepr, local: IpAddress, remote: IpAddress, packet: Uint8Array, headerLength: number,
    ttl: number, tos: number, now: number, foreign: boolean, minIss: number | undefined, listenerOptions: TcpConnectionOptions | undefined, key: string,
  ) {
    this.family = typeof local === 'number' ? 'IPv4' : 'IPv6';
    this.localAddress = local;
    this.localPort = seg.dstPort;
    this.remoteAddress = remote;
    this.remotePort = seg.srcPort;
    this.receivedAt = now;
    this.foreign = foreign;
    this.syn = copySyn(seg);
    this.packet = packet.slice(0, INTERCEPT_MAX_COPY);
    this.headerLength = headerLength;
    this.ttl = ttl;
    this.tos = tos;
    this.minIss = minIss;
    this.listenerOptions = listenerOptions;
    this.key = key;
    this.cost = interceptCost(packet.length);
  }

  /** Where the request is: 'pending' until decided or cancelled. */
  get outcome(): InterceptOutcome { return this.outcomeValue; }
  get pending(): boolean { return this.outcomeValue === 'pending'; }

  /**
   * Accepts: builds the connection from the stored SYN and sends the SYN-ACK now. Returns
   * it (SYN-RECEIVED; `handler.onEstablished` follows the client's ACK, `onClosed` a reset
   * or a SYN-ACK timeout), or undefined when the request is no longer pending (decided,
   * reset, expired). Throws ENOBUFS when the connection table is full (the request stays pending).
   */
  accept(handler: TcpHandler, now: number, options?: TcpConnectionOptions): TcpConnection | undefined {
    if (this.outcomeValue !== 'pending') return undefined;
    return this.owner.acceptIntercept(this, handler, options, now);
  }

  /** Refuses (see the file comment); false when the request is no longer pending. */
  refuse(kind: InterceptRefusal, now: number): boolean {
    if (!INTERCEPT_REFUSALS.includes(kind)) throw Object.assign(new TypeError(`refusal must be one of ${INTERCEPT_REFUSALS.join(', ')}`), { code: 'ERR_INVALID_ARG_VALUE' });
    if (this.outcomeValue !== 'pending') return false;
    return this.owner.refuseIntercept(this, kind, now);
  }
}

function copySyn(seg: TcpRepr): TcpRepr {
  const r = newTcpRepr();
  r.srcPort = seg.srcPort;
  r.dstPort = seg.dstPort;
  r.seq = seg.seq;
  r.ack = 0;
  r.flags = seg.flags;
  r.window = seg.window;
  const o = seg.options;
  r.options.mss = o.mss;
  r.options.windowScale = o.windowScale;
  r.options.sackPermitted = o.sackPermitted;
  r.options.timestamp = o.timestamp === undefined ? undefined : { tsVal: o.timestamp.tsVal, tsEcr: o.timestamp.tsEcr };
  return r;
}

/** Resolved `InterceptLimits`. */
export interface ResolvedInterceptLimits {
  maxPending: number;
  maxPendingBytes: number;
  pendingTimeout: number;
}

export function resolveInterceptLimits(l: InterceptLimits | undefined): ResolvedInterceptLimits {
  const r = { maxPending: l?.maxPending ?? 1024, maxPendingBytes: l?.maxPendingBytes ?? 1024 * 1024, pendingTimeout: l?.pendingTimeout ?? 75_000 };
  for (const [k, v] of Object.entries(r)) {
    if (!(typeof v === 'number' && v >= 0)) throw Object.assign(new RangeError(`option intercept.${k} must be a non-negative number`), { code: 'ERR_INVALID_ARG_VALUE' });
  }
  return r;
}

/** The pending requests by 4-tuple key, in arrival (so expiry) order, with their byte total. */
export class PendingIntercepts {
  private readonly map = new Map<string, InterceptRequest>();
  bytes = 0;

  constructor(readonly limits: ResolvedInterceptLimits) {}

  get size(): number { return this.map.size; }
  get(key: string): InterceptRequest | undefined { return this.map.get(key); }

  /** Room for one more of `cost` bytes. */
  hasRoom(cost: number): boolean {
    return this.map.size < this.limits.maxPending && this.bytes + cost <= this.limits.maxPendingBytes;
  }

  add(r: InterceptRequest): void {
    this.map.set(r.key, r);
    this.bytes += r.cost;
  }

  remove(r: InterceptRequest): void {
    if (this.map.get(r.key) !== r) return;
    this.map.delete(r.key);
    this.bytes -= r.cost;
  }

  /** The earliest expiry, Infinity when none pends. O(1): the first entry is the oldest. */
  pollAt(): number {
    for (const r of this.map.values()) return r.receivedAt + this.limits.pendingTimeout;
    return Infinity;
  }

  /** Removes and returns the requests expired at `now`, oldest first. */
  expire(now: number): InterceptRequest[] {
    const out: InterceptRequest[] = [];
    for (const r of this.map.values()) {
      if (r.receivedAt + this.limits.pendingTimeout > now) break;
      out.push(r);
    }
    for (const r of out) this.remove(r);
    return out;
  }

  /** Removes and returns every request (the layer closes). */
  clear(): InterceptRequest[] {
    const out = [...this.map.values()];
    this.map.clear();
    this.bytes = 0;
    return out;
  }
}
