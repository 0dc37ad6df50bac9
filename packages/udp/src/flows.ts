/**
 * UDP flows to any destination (any-address termination, issue 12): with an IP layer that
 * has `acceptAnyDestination`, a datagram for a destination that is not ours
 * (`InboundDatagram.foreign`) goes to no socket but to the layer's flow handler
 * (`UdpLayer.setFlowHandler`), keyed by its 4-tuple, with its ORIGINAL destination (what
 * Linux gives an IP_TRANSPARENT socket through IP_RECVORIGDSTADDR / IPV6_RECVORIGDSTADDR),
 * and a reply sent through the flow leaves FROM that destination (IP_TRANSPARENT).
 *
 * Bounded: at most `maxFlows` flows, and `maxFlowBytes` bytes in all, each flow charged
 * FLOW_OVERHEAD plus the bytes its handler keeps (what `onDatagram` said it kept, until
 * `flow.release(n)`). A new flow beyond the count takes the place of the least recently
 * active one, which ends ('evicted', FlowEvicted: Linux conntrack's early drop frees a
 * full table so, RFC 4787 §4.3 wants mappings kept only while in use; a guest that sends
 * to many destinations, or resolves names from a new port each time, must not shut itself
 * out of every new flow until the oldest expire); with `maxFlows` 0 it is dropped
 * (FlowTableFull). A new flow beyond the bytes is dropped (FlowMemoryDrops). A flow idle (no datagram either way) for
 * `idleTimeout` ms expires (FlowExpired; Linux conntrack's udp timeout is 30 s, 120 s for
 * a stream: default 60 s). Pure: time passed in, `pollAt()`/`poll(now)`; the table is kept
 * in least-recently-active order (a Map re-inserted on activity), so the first entry is
 * always the next to expire.
 */
import type { InboundDatagram, IpAddress, SendError } from '@netstack/ip';

/**
 * How one of the flow's datagrams arrived, for a relay that re-sends it as a router would
 * (RFC 1812 §5.3.1): its TTL (hop limit), and whether it may not be fragmented on the way
 * (IPv4: DF set, RFC 791; IPv6: it arrived in one packet, which no router fragments, RFC
 * 8200 §5). Borrowed for the call (the layer reuses it).
 */
export interface FlowDatagramInfo {
  ttl: number;
  dontFragment: boolean;
}

/** The longest quote a flow keeps of its first datagram (IP header, extension headers, UDP header); a longer one is not kept. */
export const FLOW_QUOTE_MAX = 128;

/** Estimated bytes of one flow's state (the object, its Map entry and key string, 320; its quote, at most FLOW_QUOTE_MAX). */
export const FLOW_OVERHEAD = 320 + FLOW_QUOTE_MAX;

/** Why a flow ended (`UdpFlowHandler.onClose`). */
export type UdpFlowCloseReason = 'idle' | 'closed' | 'shutdown' | 'evicted';

export interface UdpFlowLimits {
  /** Flows at once; a new one beyond takes the least recently active one's place. Default 4096. */
  maxFlows?: number;
  /** Bytes of flow state plus data handlers keep, all flows together. Default 4 MiB. */
  maxFlowBytes?: number;
  /** A flow with no datagram either way for this many ms expires. Default 60 000. */
  idleTimeout?: number;
}

/** What the layer's flow handler implements. */
export interface UdpFlowHandler {
  /**
   * A new flow (its first datagram follows in `onDatagram`). Return false to refuse it:
   * the datagram is dropped (FlowRefused) and no state kept.
   */
  onFlow(flow: UdpFlow, now: number): boolean;
  /**
   * One datagram of the flow; `payload` is borrowed for the call. Return the bytes kept
   * (a copy queued for later: charged until `flow.release`), 0 when consumed at once, or
   * -1 when it could not be taken (counted FlowRcvbufErrors). `info`: its TTL and DF.
   */
  onDatagram(flow: UdpFlow, payload: Uint8Array, now: number, info: FlowDatagramInfo): number;
  /**
   * An ICMP error quoting a datagram the flow sent (e.g. the client's port unreachable):
   * `errno` as Linux's icmp_err_convert gives it, and whether it is a hard error.
   */
  onError?(flow: UdpFlow, errno: string, fatal: boolean, icmpType: number, icmpCode: number, now: number): void;
  /** The flow ended: idle timeout ('idle'), `flow.close()` ('closed'), the layer closed ('shutdown'), a new flow took its place in a full table ('evicted'). */
  onClose?(flow: UdpFlow, why: UdpFlowCloseReason, now: number): void;
}

/** What a flow asks of its layer. */
export interface FlowOwner {
  /** Sends and marks the flow active at `now`. */
  flowSend(flow: UdpFlow, chunks: readonly Uint8Array[], length: number, now: number): SendError | undefined;
  flowClose(flow: UdpFlow, why: UdpFlowCloseReason, now: number): void;
  flowRelease(flow: UdpFlow, n: number): void;
  flowUnreachable(flow: UdpFlow, code: number, now: number): boolean;
}

export class UdpFlow {
  readonly family: 'IPv4' | 'IPv6';
  /** The original destination (what the client sent to): replies leave from it. */
  readonly localAddress: IpAddress;
  readonly localPort: number;
  /** The client. */
  readonly remoteAddress: IpAddress;
  readonly remotePort: number;
  readonly createdAt: number;
  /** @internal */ lastActive: number;
  /** @internal bytes the handler keeps (charged) */ held = 0;
  /** @internal */ closedFlag = false;
  datagramsIn = 0;
  datagramsOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** @internal the first datagram's IP + UDP headers (for an ICMP error about the flow) */ quote: Uint8Array | undefined = undefined;
  /** @internal */ quoteHeaderLength = 0;
  /** Anything the handler wants to keep with the flow (e.g. its relay socket). */
  context: unknown = undefined;

  /** Made by the layer, not by users (not tagged internal: a stripped constructor would read as a public one without arguments). */
  constructor(private readonly owner: FlowOwner, readonly key: string, local: IpAddress, localPort: number, remote: IpAddress, remotePort: number, now: number) {
    this.family = typeof local === 'number' ? 'IPv4' : 'IPv6';
    this.localAddress = local;
    this.localPort = localPort;
    this.remoteAddress = remote;
    this.remotePort = remotePort;
    this.createdAt = now;
    this.lastActive = now;
  }

  get closed(): boolean { return this.closedFlag; }

  /**
   * Sends one datagram to the client from the original destination (gathered from
   * `chunks`), refreshing the flow's idle timer. Returns the IP layer's error, or
   * 'ECLOSED' after close.
   */
  send(data: Uint8Array | readonly Uint8Array[], now: number): SendError | 'ECLOSED' | undefined {
    if (this.closedFlag) return 'ECLOSED';
    const chunks = data instanceof Uint8Array ? [data] : data;
    let length = 0;
    for (const c of chunks) length += c.length;
    const e = this.owner.flowSend(this, chunks, length, now);
    if (e === undefined) { this.datagramsOut++; this.bytesOut += length; }
    return e;
  }

  /**
   * Tells the client its datagrams cannot be delivered, as a router or the destination
   * would: an ICMP destination unreachable (RFC 792; `code` in ICMPv4 codes as transports
   * speak them: 3 port, 1 host, 0 net, 13 administratively prohibited; the IPv6 layer sends
   * the RFC 4443 §3.1 equivalent) quoting the flow's first datagram, whose IP and UDP
   * headers are what the client's kernel finds its socket by (a connected Linux socket
   * then fails with ECONNREFUSED, EHOSTUNREACH...). For a relay whose upstream reported
   * the error. The IP layer's rules and the ICMP rate limit apply. False when the flow is
   * closed or kept no quote (headers over FLOW_QUOTE_MAX).
   */
  reportUnreachable(code: number, now: number): boolean {
    if (this.closedFlag) return false;
    return this.owner.flowUnreachable(this, code, now);
  }

  /**
   * The flow's first datagram as an ICMP error about the flow quotes it (its IP and UDP
   * headers: what the client's kernel finds its socket by), for a relay passing on an
   * error from beyond (IcmpLayer.relayError: time exceeded, fragmentation needed / packet
   * too big from the router that sent it). Undefined when closed or no quote was kept.
   */
  quoteDatagram(): InboundDatagram | undefined {
    const q = this.quote;
    if (this.closedFlag || q === undefined) return undefined;
    return {
      src: this.remoteAddress, dst: this.localAddress, protocol: 17, ttl: q[0]! >> 4 === 4 ? q[8]! : q[7]!, tos: 0, payload: q.subarray(this.quoteHeaderLength),
      packet: q, headerLength: this.quoteHeaderLength, toBroadcast: false, reassembled: false, checksumVerified: false, foreign: true,
    };
  }

  /** Gives back `n` bytes the handler had kept (see `UdpFlowHandler.onDatagram`). */
  release(n: number): void {
    this.owner.flowRelease(this, n);
  }

  /** Ends the flow now (its state goes; a later datagram of the tuple makes a new flow). */
  close(now: number): void {
    if (this.closedFlag) return;
    this.owner.flowClose(this, 'closed', now);
  }
}

export interface ResolvedFlowLimits {
  maxFlows: number;
  maxFlowBytes: number;
  idleTimeout: number;
}

export function resolveFlowLimits(l: UdpFlowLimits | undefined): ResolvedFlowLimits {
  const r = { maxFlows: l?.maxFlows ?? 4096, maxFlowBytes: l?.maxFlowBytes ?? 4 * 1024 * 1024, idleTimeout: l?.idleTimeout ?? 60_000 };
  for (const [k, v] of Object.entries(r)) {
    if (!(typeof v === 'number' && v >= 0)) throw Object.assign(new RangeError(`flow limit ${k} must be a non-negative number`), { code: 'ERR_OUT_OF_RANGE' });
  }
  return r;
}

/** The flows by key in least-recently-active order, with the bytes charged. */
export class FlowTable {
  private readonly map = new Map<string, UdpFlow>();
  bytes = 0;
  constructor(readonly limits: ResolvedFlowLimits) {}
  get size(): number { return this.map.size; }
  get(key: string): UdpFlow | undefined { return this.map.get(key); }
  add(f: UdpFlow): void { this.map.set(f.key, f); this.bytes += FLOW_OVERHEAD; }
  /** Marks activity: to the end of the order. */
  touch(f: UdpFlow, now: number): void {
    f.lastActive = now;
    this.map.delete(f.key);
    this.map.set(f.key, f);
  }
  remove(f: UdpFlow): void {
    if (this.map.get(f.key) !== f) return;
    this.map.delete(f.key);
    this.bytes -= FLOW_OVERHEAD + f.held;
    f.held = 0;
  }
  /** The earliest idle expiry: the first flow's (every activity moves a flow to the end). */
  pollAt(): number {
    let at = Infinity;
    for (const f of this.map.values()) { at = f.lastActive + this.limits.idleTimeout; break; }
    return at;
  }
  /** The least recently active flow (the next to expire), if any. */
  oldest(): UdpFlow | undefined {
    for (const f of this.map.values()) return f;
    return undefined;
  }
  /** Flows idle at `now`, removed from the table, oldest first. */
  expire(now: number): UdpFlow[] {
    const out: UdpFlow[] = [];
    const t = this.limits.idleTimeout;
    for (;;) {
      let first: UdpFlow | undefined;
      for (const f of this.map.values()) { first = f; break; }
      if (first === undefined || first.lastActive + t > now) break;
      out.push(first);
      this.remove(first);
    }
    return out;
  }
  all(): UdpFlow[] { return [...this.map.values()]; }
}
