/**
 * The IPv4 layer of a host (RFC 791, RFC 1122 §3): receive, reassemble, dispatch to
 * transports; route, fragment and send; keep the path-MTU cache (RFC 1191).
 *
 * Contract:
 * - Pure with respect to time: `now` (ms, a float) is passed in; timeouts are exposed
 *   as `pollAt()` (Infinity when nothing is due) and `poll(now)`.
 * - Bad wire input is dropped and counted (see `stats()`), never thrown from `input`.
 *   Bad API arguments throw an Error with a Node-style `code`.
 * - Buffers: `input` borrows `packet` for the call; the InboundDatagram handed to a
 *   transport (and its views) is reused and valid only during `receive`. Outgoing
 *   packets are built in one reused 65535-byte buffer that the link borrows for the
 *   duration of `send` (LinkOutput copies what it keeps). The views handed on (the
 *   datagram to the link, the payload to a transport) are reused too (views.ts): no
 *   allocation per packet. Re-entrant calls (a
 *   transport sending from `receive`, a link delivering synchronously) get their
 *   own scratch per nesting depth, allocated once.
 * - A host, not a router (RFC 1122 §3.3.1): datagrams for other addresses are dropped.
 * - Addresses: one or more (`addresses`; `address` is the first, the primary), each with
 *   the on-link prefix `prefixLength` (every address's subnet is on-link, as Linux adds a
 *   prefix route per address). Any of them is accepted, answered from and bindable. The
 *   source towards an unbound destination (RFC 1122 §3.3.4.3 leaves the choice to the
 *   host; this is Linux's fib_select_addr / inet_select_addr): the destination itself when
 *   it is ours, else the address whose subnet holds the destination (or, off-link, the
 *   gateway), else the primary. `SendOptions.source` (a socket bound to one of them, an
 *   ICMP reply from the address asked) overrides it. With no address at all
 *   (`addresses: []`, an IPv6-only host) only loopback 127/8 is routed: everything from
 *   the link is dropped (`InNotForUs`) and every other destination is ENETUNREACH.
 * - Loopback (when the host gives `onLoopback`), as Linux's `lo`: a datagram to our own
 *   address or to 127.0.0.0/8 never touches the link. It is copied into a bounded queue
 *   and the host calls `deliverLoopback(now)` soon after (a batch of its own, like the
 *   link's), where it is received as if from a link whose MTU is 65535 and whose
 *   checksums are trusted. 127/8 is accepted only from there (RFC 1122 §3.2.1.3 (g):
 *   a 127/8 source or destination arriving on a link is dropped). Without `onLoopback`,
 *   a datagram to our own address is routed like any on-link one and 127/8 not at all.
 * - Offloads (when the link has them, registration.ts `LinkOutput`): output buffers keep
 *   `link.offloadHeadroom` bytes in front for the link's virtio-net header; `sendSegment`
 *   emits ONE datagram (DF, never fragmented) with a partial transport checksum, larger
 *   than the MTU when the link segments TCP (TSO4). `input` takes the link's `meta`:
 *   NEEDS_CSUM / DATA_VALID become `checksumVerified`, and datagrams larger than the MTU
 *   (super-segments from the kernel) are accepted like any other.
 */
import {
  BROADCAST, formatAddress, isBroadcast, isMulticast, parseAddress, prefixMask, sameSubnet, type Ipv4Address, type IpAddress,
} from './address.js';
import { checkInteger, codedError } from './errors.js';
import {
  IPV4_MAX_PAYLOAD, IPV4_MAX_TOTAL_LEN, IPV4_MIN_HEADER_LEN, IPV4_MIN_MTU, emitIpv4, emptyIpv4Repr, parseIpv4,
  type Ipv4Repr,
} from './ipv4.js';
import { DEFAULT_PMTU_LIMITS, PmtuCache, plateauBelow, type PmtuLimits } from './pmtu.js';
import { DEFAULT_REASSEMBLY_LIMITS, Reassembler, type ReassemblyLimits } from './reassembly.js';
import { PARSE_DROP_REASON, newIpv4Counters, snapshotIpv4Counters, type Ipv4Counters, type Ipv4Stats } from './stats.js';
import { ViewCache } from '@netstack/common';
import type {
  ErrorReporter, GatherWriter, InboundDatagram, IpOutput, LinkOutput, LinkPacketMeta, PayloadWriter, SendError, SendOptions, TransportError,
  TransportProtocol,
} from './registration.js';
import { gatherLength } from './registration.js';
import { TransportTable } from './transports.js';
import { LoopbackQueue } from './loopback.js';

export type Ipv4Limits = ReassemblyLimits & PmtuLimits;

export interface Ipv4LayerOptions {
  /** Our address (number or dotted quad). Give this or `addresses`. */
  address?: Ipv4Address | string;
  /**
   * Our addresses, the first the primary (`address`); each with `prefixLength`. Empty: no
   * IPv4 address (only loopback 127/8 works: an IPv6-only host). Give this or `address`.
   */
  addresses?: readonly (Ipv4Address | string)[];
  /** Length of the on-link prefix of every address, 0..32. */
  prefixLength: number;
  /** Default gateway; must be on-link. Without it only the on-link prefix is reachable. */
  gateway?: Ipv4Address | string;
  link: LinkOutput;
  limits?: Partial<Ipv4Limits>;
  /** TTL when SendOptions gives none. Default 64. */
  defaultTtl?: number;
  /** First Identification value (0..65535). Default: random, so IDs are not predictable across restarts. */
  initialIdentification?: number;
  /**
   * Turns loopback on: called when the loopback queue gets its first datagram; the host
   * then calls `deliverLoopback(now)` (soon, and outside the call that sent it).
   */
  onLoopback?: () => void;
  /**
   * Any-address termination (gVisor's promiscuous mode with spoofing, smoltcp `any_ip`,
   * Linux's TPROXY route + IP_TRANSPARENT): a unicast datagram from the link for a
   * destination that is not ours is delivered to the transports flagged `foreign` instead
   * of dropped (`InNotForUs`), and a send whose `SendOptions` say `transparent` may use any
   * unicast source (the foreign address a connection was accepted on). Martians are still
   * dropped: a source that is not a single host, a broadcast or multicast destination this
   * host does not take. Default false (a host: RFC 1122 §3.3.1).
   */
  acceptAnyDestination?: boolean;
}

/** 127.0.0.1: the source of datagrams to 127/8 (Linux: `local 127.0.0.0/8 dev lo src 127.0.0.1`). */
export const LOOPBACK_ADDRESS: Ipv4Address = 0x7f000001;
/** Linux's lo MTU is 65536; an IPv4 datagram is at most 65535 bytes. */
const LOOPBACK_MTU = IPV4_MAX_TOTAL_LEN;
/** Datagrams the loopback queue holds at most (Linux's netdev_max_backlog), and bytes. */

/** Per-nesting-depth receive scratch (allocated once per depth). */
interface InScratch {
  /** The current packet's meta said NEEDS_CSUM or DATA_VALID. */
  verified: boolean;
  /** The current packet came through the loopback queue (127/8 allowed). */
  local: boolean;
  repr: Ipv4Repr;
  dg: InboundDatagram<Ipv4Address>;
  /** Reassembly output, allocated on first use. */
  asm: Uint8Array | undefined;
  /** The payload views handed to transports (no view per packet). */
  views: ViewCache;
}

interface OutScratch {
  buf: Uint8Array;
  repr: Ipv4Repr;
  /** The datagram views handed to the link (no view per packet). */
  views: ViewCache;
}

const EMPTY = new Uint8Array(0);

function newDatagram(): InboundDatagram<Ipv4Address> {
  return {
    src: 0, dst: 0, protocol: 0, ttl: 0, tos: 0, payload: EMPTY, packet: EMPTY, headerLength: IPV4_MIN_HEADER_LEN,
    toBroadcast: false, reassembled: false, checksumVerified: false, foreign: false,
  };
}

/** Most headroom a link may ask for in front of each output datagram. */
const MAX_HEADROOM = 64;

function toAddress(name: string, v: unknown): Ipv4Address {
  if (typeof v === 'string') {
    const a = parseAddress(v);
    if (a === undefined) throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `${name} is not an IPv4 address: ${JSON.stringify(v)}`);
    return a;
  }
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw codedError(RangeError, 'ERR_OUT_OF_RANGE', `${name} must be an integer in 0..0xffffffff; got ${v}`);
    return v;
  }
  throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `${name} must be a number or a string`);
}

/** `checkInteger` (errors.ts) with the name first, as this file's calls read. */
function checkInt(name: string, v: unknown, min: number, max: number): number {
  return checkInteger(v, name, min, max);
}

/** A host address per RFC 1122 §3.2.1.3: not 0, 127/8, multicast or class E/broadcast. */
function isUnicastHost(a: Ipv4Address): boolean {
  return a !== 0 && a >>> 24 !== 127 && a >>> 28 < 0xe;
}

export class Ipv4Layer implements IpOutput {
  // The addressing: read-only to users, written by `setAddressing` alone (the constructor
  // and `configure`), all five together with the private fields derived from them.
  /** The primary address: the first of `addresses`; 0 (0.0.0.0) when the layer has none. */
  readonly address: Ipv4Address = 0;
  /** Every address of ours, the primary first; empty on a layer without IPv4 addresses. */
  readonly addresses: readonly Ipv4Address[] = [];
  readonly prefixLength: number = 0;
  readonly gateway: Ipv4Address | undefined = undefined;
  /** The primary address's subnet's directed broadcast, or -1 for /31 and /32 (RFC 3021) and without an address. */
  readonly directedBroadcast: number = -1;
  readonly limits: Readonly<Ipv4Limits>;
  /** `Ipv4LayerOptions.acceptAnyDestination`: foreign unicast destinations are delivered (flagged) and transparent sends allowed. */
  readonly acceptAnyDestination: boolean;
  /**
   * "Is this host a member of `group` for datagrams from `src`?" (RFC 1112 §6.2), asked
   * for every multicast datagram received; set by whoever owns the memberships (the
   * stack wires the UDP layer's `acceptsGroup`). Undefined: every group is accepted.
   */
  multicastFilter: ((group: Ipv4Address, src: Ipv4Address) => boolean) | undefined = undefined;

  /** The layer has at least one address. */
  private hasAddress = false;
  /** The addresses after the primary (a Set when there are any): most layers have one. */
  private secondary: Set<Ipv4Address> | undefined = undefined;
  /** Directed broadcasts of the secondary addresses' subnets that differ from `directedBroadcast`. */
  private otherBroadcasts: readonly number[] = [];
  /** Times `configure` changed the addressing (stats `Reconfigurations`). */
  private reconfigurations = 0;
  private readonly link: LinkOutput;
  /** Bytes reserved before each output datagram for the link (LinkOutput.offloadHeadroom). */
  private readonly headroom: number;
  private readonly c: Ipv4Counters = newIpv4Counters();
  private readonly reasm: Reassembler;
  private readonly pmtu: PmtuCache;
  private readonly transports = new TransportTable();
  private reporter: ErrorReporter | undefined;
  private readonly defaultTtl: number;
  private ident: number;
  private readonly inScratch: InScratch[] = [];
  private inDepth = 0;
  private readonly outScratch: OutScratch[] = [];
  private outDepth = 0;
  private pollBuf: Uint8Array | undefined;
  private readonly pollRepr: Ipv4Repr = emptyIpv4Repr();
  private readonly pollDg: InboundDatagram<Ipv4Address> = newDatagram();
  private readonly pollViews = new ViewCache();
  /** Bound once: no closure per poll. */
  private readonly onExpired = (first: Uint8Array, now: number): void => this.reassemblyTimedOut(first, now);
  private readonly onLoopback: (() => void) | undefined;
  /** Datagrams looped back, not yet received (copies), and their bytes. */
  private readonly loopQueue = new LoopbackQueue();

  constructor(options: Ipv4LayerOptions) {
    if (typeof options !== 'object' || options === null) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options must be an object');
    this.setAddressing('options', options.addresses, options.address, options.prefixLength, options.gateway);
    const link = options.link;
    if (typeof link !== 'object' || link === null || typeof link.send !== 'function') {
      throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.link must be a LinkOutput');
    }
    checkInt('options.link.mtu', link.mtu, IPV4_MIN_MTU, Number.MAX_SAFE_INTEGER);
    this.link = link;
    this.headroom = link.offloadHeadroom === undefined ? 0 : checkInt('options.link.offloadHeadroom', link.offloadHeadroom, 0, MAX_HEADROOM);
    const l = options.limits ?? {};
    const limits: Ipv4Limits = { ...DEFAULT_REASSEMBLY_LIMITS, ...DEFAULT_PMTU_LIMITS };
    for (const k of Object.keys(limits) as (keyof Ipv4Limits)[]) {
      const v = l[k];
      if (v !== undefined) limits[k] = checkInt(`options.limits.${k}`, v, 1, Number.MAX_SAFE_INTEGER);
    }
    this.limits = Object.freeze(limits);
    this.defaultTtl = options.defaultTtl === undefined ? 64 : checkInt('options.defaultTtl', options.defaultTtl, 1, 255);
    this.ident = options.initialIdentification === undefined
      ? globalThis.crypto.getRandomValues(new Uint16Array(1))[0]!
      : checkInt('options.initialIdentification', options.initialIdentification, 0, 0xffff);
    this.reasm = new Reassembler(this.limits, this.c);
    this.pmtu = new PmtuCache(this.limits);
    if (options.onLoopback !== undefined && typeof options.onLoopback !== 'function') {
      throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.onLoopback must be a function');
    }
    this.onLoopback = options.onLoopback;
    if (options.acceptAnyDestination !== undefined && typeof options.acceptAnyDestination !== 'boolean') {
      throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.acceptAnyDestination must be a boolean');
    }
    this.acceptAnyDestination = options.acceptAnyDestination === true;
  }

  // ---- addressing ---------------------------------------------------------------

  /**
   * Replaces the addresses, their on-link prefix and the default gateway at runtime (a
   * DHCP lease bound, changed or lost): `addresses: []` leaves loopback only. Checked as
   * the constructor checks them (an error changes nothing); takes effect at once for
   * everything after the call: what is accepted from the link, routes and source choice.
   *
   * What happens to users of an address that goes (Linux `ip addr del`): sockets bound to
   * 0.0.0.0 go on (their next datagram leaves from the new address); a connection or socket
   * bound to a removed address is not closed or reset, but every datagram it sends is
   * refused with ENETUNREACH and counted in `OutNoRoutes` (Linux's ip_queue_xmit fails the
   * route for a source that is no longer local: EHOSTUNREACH to TCP, which retransmits and
   * times out; EINVAL to UDP's sendto), and what arrives for it is no longer for us
   * (`InNotForUs`). Given back before the connection gives up, the address works again.
   * Fragments in reassembly and the path-MTU cache are kept (keyed by remote). Returns
   * whether anything changed (counted in `Reconfigurations`).
   */
  configure(config: { addresses: readonly (Ipv4Address | string)[]; prefixLength: number; gateway?: Ipv4Address | string | undefined }): boolean {
    if (typeof config !== 'object' || config === null) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'config must be an object');
    if (config.addresses === undefined) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'config.addresses must be an array');
    const before = { a: this.addresses, p: this.prefixLength, g: this.gateway };
    this.setAddressing('config', config.addresses, undefined, config.prefixLength, config.gateway);
    const same = before.p === this.prefixLength && before.g === this.gateway && before.a.length === this.addresses.length &&
      before.a.every((a, i) => a === this.addresses[i]);
    if (!same) this.reconfigurations++;
    return !same;
  }

  /**
   * Checks and sets the addressing (`name` prefixes the error messages: 'options' from the
   * constructor, 'config' from `configure`). Nothing is written until everything checked.
   */
  private setAddressing(
    name: string, addresses: readonly unknown[] | undefined, address: unknown, prefixLengthIn: unknown, gatewayIn: unknown,
  ): void {
    let list: { name: string; value: unknown }[];
    if (addresses !== undefined) {
      if (address !== undefined) throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `${name}.address and ${name}.addresses are exclusive`);
      if (!Array.isArray(addresses)) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `${name}.addresses must be an array`);
      list = (addresses as readonly unknown[]).map((value, i) => ({ name: `${name}.addresses[${i}]`, value }));
    } else {
      list = [{ name: `${name}.address`, value: address }];
    }
    const prefixLength = checkInt(`${name}.prefixLength`, prefixLengthIn, 0, 32);
    const addrs: Ipv4Address[] = [];
    const broadcasts: number[] = [];
    for (const { name: n, value } of list) {
      const a = toAddress(n, value);
      if (!isUnicastHost(a)) throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `${n} ${formatAddress(a)} is not a unicast host address`);
      if (prefixLength < 31 && isBroadcast(a, { address: a, prefixLength })) {
        throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `${n} ${formatAddress(a)} is the subnet's broadcast address`);
      }
      if (addrs.includes(a)) throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `${n} ${formatAddress(a)} is given twice`);
      addrs.push(a);
      const b = prefixLength >= 31 ? -1 : ((a | ~prefixMask(prefixLength)) >>> 0);
      if (!broadcasts.includes(b)) broadcasts.push(b);
    }
    const directed = broadcasts[0] ?? -1;
    const others = broadcasts.slice(1).filter((b) => b !== -1);
    const isDirected = (a: number): boolean => a === directed || others.includes(a);
    for (const a of addrs) {
      if (isDirected(a)) throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `${name}.addresses ${formatAddress(a)} is the broadcast address of another address's subnet`);
    }
    let gateway: Ipv4Address | undefined;
    if (gatewayIn !== undefined) {
      const g = toAddress(`${name}.gateway`, gatewayIn);
      const onLink = addrs.some((a) => sameSubnet(g, a, prefixLength));
      if (!isUnicastHost(g) || addrs.includes(g) || isDirected(g) || !onLink) {
        throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `${name}.gateway ${formatAddress(g)} is not an on-link host address`);
      }
      gateway = g;
    }
    // The one writer of the read-only addressing fields.
    const w = this as unknown as {
      address: Ipv4Address; addresses: readonly Ipv4Address[]; prefixLength: number; gateway: Ipv4Address | undefined; directedBroadcast: number;
    };
    w.addresses = Object.freeze(addrs);
    w.address = addrs[0] ?? 0;
    w.prefixLength = prefixLength;
    w.gateway = gateway;
    w.directedBroadcast = directed;
    this.hasAddress = addrs.length > 0;
    this.secondary = addrs.length > 1 ? new Set(addrs.slice(1)) : undefined;
    this.otherBroadcasts = Object.freeze(others);
  }

  // ---- registration -------------------------------------------------------------

  /** Installs the transport for `t.protocol`. Throws ERR_INVALID_STATE if another one holds it. */
  register(t: TransportProtocol): void {
    this.transports.register(t);
  }

  /** Removes the transport for `protocol` (no-op when none). */
  unregister(protocol: number): void {
    this.transports.unregister(protocol);
  }

  /** Installs (or, with undefined, removes) the ICMP error sender. */
  setErrorReporter(r: ErrorReporter | undefined): void {
    if (r !== undefined && (typeof r !== 'object' || r === null || typeof r.destinationUnreachable !== 'function')) {
      throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'reporter must be an ErrorReporter');
    }
    this.reporter = r;
  }

  // ---- IpOutput -------------------------------------------------------------------

  /** The link MTU (at most 65535). */
  get mtu(): number {
    return Math.max(IPV4_MIN_MTU, Math.min(this.link.mtu, IPV4_MAX_TOTAL_LEN));
  }

  /**
   * Next hop towards `dst`, or undefined: limited broadcast, multicast and the on-link
   * prefix are direct; anything else goes to the gateway. 0.0.0.0 and 127/8 are
   * never routed (RFC 1122 §3.2.1.3 (a), (g)).
   */
  route(dst: Ipv4Address): Ipv4Address | undefined {
    if (this.isLocal(dst)) return dst;
    // Without an address nothing but loopback has a route (Linux: no prefix route, no
    // default route, and the limited broadcast has no source: ENETUNREACH).
    if (!this.hasAddress) return undefined;
    if (dst === BROADCAST || isMulticast(dst)) return dst;
    if (dst === 0 || dst >>> 24 === 127) return undefined;
    if (this.onLink(dst)) return dst;
    return this.gateway;
  }

  /** In the subnet of one of our addresses (each address brings its prefix route). */
  private onLink(a: Ipv4Address): boolean {
    if (!this.hasAddress) return false;
    if (sameSubnet(a, this.address, this.prefixLength)) return true;
    if (this.secondary !== undefined) for (const x of this.secondary) if (sameSubnet(a, x, this.prefixLength)) return true;
    return false;
  }

  /** One of our addresses (not 127/8: see `isLocalAddress`). */
  private isOwn(a: Ipv4Address): boolean {
    return a === this.address ? this.hasAddress : this.secondary !== undefined && this.secondary.has(a);
  }

  /**
   * A unicast host address that is not ours (RFC 1122 §3.2.1.3: not 0, 127/8, multicast,
   * class E or a broadcast of our subnets): what `acceptAnyDestination` terminates.
   */
  private isForeignUnicast(a: Ipv4Address): boolean {
    return isUnicastHost(a) && !this.isOwn(a) && !this.isDirectedBroadcast(a);
  }

  /** The directed broadcast of one of our subnets. */
  private isDirectedBroadcast(a: number): boolean {
    return a === this.directedBroadcast || (this.otherBroadcasts.length > 0 && this.otherBroadcasts.includes(a));
  }

  /** Undefined for an IPv6 `dst` too: this layer routes IPv4 only. */
  sourceFor(dst: IpAddress): Ipv4Address | undefined {
    if (typeof dst !== 'number') return undefined;
    return this.route(dst) === undefined ? undefined : this.sourceAddress(dst);
  }

  /** With loopback on: our own address and 127/8, which never leave through the link. */
  isLocal(dst: Ipv4Address): boolean {
    return this.onLoopback !== undefined && (dst >>> 24 === 127 || this.isOwn(dst));
  }

  /** An address a socket may bind: one of ours, or 127/8 with loopback on. */
  isLocalAddress(a: IpAddress): boolean {
    return typeof a === 'number' && (this.isOwn(a) || (this.onLoopback !== undefined && a >>> 24 === 127));
  }

  /** `IpOutput.isOwnSource`: ours, or with `acceptAnyDestination` a foreign unicast address we may have sent from. */
  isOwnSource(a: IpAddress): boolean {
    return this.isLocalAddress(a) || (typeof a === 'number' && this.acceptAnyDestination && this.isForeignUnicast(a));
  }

  /** The IPv4 header this layer puts in front of a transport header: 20 (it sends no options). */
  networkHeaderLength(): number {
    return IPV4_MIN_HEADER_LEN;
  }

  /** The MTU of the interface that reaches `dst` (65535 for loopback): what an MSS is advertised from. */
  interfaceMtu(dst: Ipv4Address): number {
    return this.isLocal(dst) ? LOOPBACK_MTU : this.mtu;
  }

  /**
   * The source towards `dst` for a socket bound to no address: 127.0.0.1 towards 127/8;
   * with one address, it. With several (Linux fib_select_addr / inet_select_addr): `dst`
   * itself when it is ours (a local route's source), else the address whose subnet holds
   * `dst`, off-link the one whose subnet holds the gateway, else the primary.
   */
  private sourceAddress(dst: Ipv4Address): Ipv4Address {
    if (dst >>> 24 === 127 && this.onLoopback !== undefined) return LOOPBACK_ADDRESS;
    const more = this.secondary;
    if (more === undefined) return this.address;
    if (more.has(dst)) return dst;
    const p = this.prefixLength;
    const via = this.gateway !== undefined && !this.onLink(dst) ? this.gateway : dst;
    if (sameSubnet(via, this.address, p)) return this.address;
    for (const x of more) if (sameSubnet(via, x, p)) return x;
    return this.address;
  }

  /**
   * The source of a datagram to `dst`: `options.source` when it is one of ours (a socket
   * bound to it, an ICMP reply from the address asked), or a 127/8 address towards a
   * local destination (loopback); else the layer's choice (`sourceAddress`).
   */
  private pickSource(dst: Ipv4Address, options: SendOptions | undefined): Ipv4Address {
    const want = options?.source;
    if (typeof want === 'number') {
      if (this.isOwn(want) || (want >>> 24 === 127 && this.isLocal(dst))) return want;
      // IP_TRANSPARENT (Linux ip_route_output with FLOWI_FLAG_ANYSRC): a foreign unicast
      // source, only when the layer terminates any address and the sender asks for it.
      if (options!.transparent === true && this.acceptAnyDestination && this.isForeignUnicast(want)) {
        this.c.OutTransparent++;
        return want;
      }
    }
    return this.sourceAddress(dst);
  }

  pathMtu(dst: IpAddress): number {
    if (typeof dst !== 'number') return this.mtu; // not routed here (sourceFor says so)
    if (this.isLocal(dst)) return LOOPBACK_MTU;
    const link = this.mtu;
    const cached = this.pmtu.get(dst);
    return cached !== undefined && cached < link ? cached : link;
  }

  send(dst: Ipv4Address, protocol: number, payload: Uint8Array, options?: SendOptions): SendError | undefined {
    this.checkSend(dst, protocol, options);
    if (!(payload instanceof Uint8Array)) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'payload must be a Uint8Array');
    return this.output(dst, protocol, payload.length, undefined, payload, options);
  }

  sendWith(dst: Ipv4Address, protocol: number, length: number, writer: PayloadWriter, options?: SendOptions): SendError | undefined {
    this.checkSend(dst, protocol, options);
    checkInt('length', length, 0, Number.MAX_SAFE_INTEGER);
    if (typeof writer !== 'object' || writer === null || typeof writer.writePayload !== 'function') {
      throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'writer must be a PayloadWriter');
    }
    return this.output(dst, protocol, length, writer, undefined, options);
  }

  /** The link completes partial transport checksums: `sendSegment` may be used. */
  get checksumOffload(): boolean {
    const l = this.link;
    return l.offload?.csum === true && typeof l.sendOffload === 'function';
  }

  /** 65515 when the link segments TCP (TSO4), else pathMtu - 20. */
  maxSegmentPayload(dst: Ipv4Address): number {
    if (this.isLocal(dst) || (this.checksumOffload && this.link.offload?.tso4 === true)) return IPV4_MAX_PAYLOAD;
    return this.pathMtu(dst) - IPV4_MIN_HEADER_LEN;
  }

  /**
   * One datagram through the link's offload path (registration.ts `IpOutput.sendSegment`):
   * DF always (a super-segment is cut by the link along TCP segment boundaries, RFC 9293
   * §3.7.1: each piece carries at most gsoSize bytes, which the caller derived from the
   * peer's MSS and the path MTU), never fragmented, transport checksum partial at
   * `csumOffset` from the transport header (virtio spec §5.1.6.2 csum_start/csum_offset).
   */
  sendSegment(
    dst: Ipv4Address, protocol: number, length: number, writer: PayloadWriter, gsoSize: number, csumOffset: number,
    options?: SendOptions,
  ): SendError | undefined {
    this.checkSend(dst, protocol, options);
    checkInt('length', length, 0, Number.MAX_SAFE_INTEGER);
    checkInt('gsoSize', gsoSize, 0, 0xffff);
    checkInt('csumOffset', csumOffset, 0, 0xffff);
    if (typeof writer !== 'object' || writer === null || typeof writer.writePayload !== 'function') {
      throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'writer must be a PayloadWriter');
    }
    if (!this.checksumOffload) throw codedError(Error, 'ERR_INVALID_STATE', 'the link has no checksum offload: use sendWith');
    const refused = this.admit(dst, length, options);
    if (refused !== undefined) return refused;
    const c = this.c;
    const total = IPV4_MIN_HEADER_LEN + length;
    const big = total > this.pathMtu(dst);
    if (big && !(gsoSize > 0 && this.link.offload?.tso4 === true)) {
      c.dropped.OutTooBig++;
      return 'EMSGSIZE';
    }
    const s = this.outScratch[this.outDepth] ?? this.newOutScratch();
    this.outDepth++;
    try {
      const buf = s.buf;
      const src = this.pickSource(dst, options);
      const local = this.isLocal(dst);
      // The writer's last bytes straight from where it keeps them, when the link takes a
      // packet in pieces (registration.ts `GatherWriter`): not copied into `buf` first.
      const gather = local ? 0 : gatherLength(writer, this.link);
      if (gather > 0) (writer as GatherWriter).writeHead(buf, IPV4_MIN_HEADER_LEN, src, dst);
      else writer.writePayload(buf, IPV4_MIN_HEADER_LEN, src, dst);
      const r = this.fillHeader(s.repr, src, dst, protocol, options, !this.pmtu.locked(dst));
      r.moreFragments = false;
      r.fragmentOffset = 0;
      r.payloadLength = length;
      r.totalLength = total;
      emitIpv4(r, buf, 0);
      // Loopback trusts what it carries (Linux's lo: CHECKSUM_PARTIAL stays unverified).
      if (local) return this.loop(buf.subarray(0, total));
      const sent = gather > 0
        ? this.link.sendOffloadGather!(s.views.view(buf, 0, total - gather), (writer as GatherWriter).gathered, (writer as GatherWriter).gathered2, gsoSize, IPV4_MIN_HEADER_LEN, csumOffset)
        : this.link.sendOffload!(s.views.view(buf, 0, total), gsoSize, IPV4_MIN_HEADER_LEN, csumOffset);
      if (!sent) return this.linkDropped();
      c.OutOffloaded++;
      if (big) c.OutGsoDatagrams++;
      return undefined;
    } finally {
      this.outDepth--;
    }
  }

  /**
   * Asks the ErrorReporter for destination unreachable `code` about `datagram`, unless
   * RFC 1122 §3.2.2 forbids an ICMP error for it: destined to broadcast/multicast, a
   * non-initial fragment (a reassembled datagram is fine: it includes fragment 0), or
   * a source that is not a single host (0, 127/8, multicast, class E, our directed broadcast).
   */
  reportUnreachable(code: number, datagram: InboundDatagram, now: number): void {
    const r = this.reporter;
    if (r === undefined || !this.mayAnswer(datagram)) {
      this.c.OutErrorReportsSuppressed++;
      return;
    }
    this.c.OutErrorReports++;
    r.destinationUnreachable(code, datagram, now);
  }

  // ---- receive --------------------------------------------------------------------

  /**
   * One packet from the link (borrowed for the call). Never throws for bad input. `meta`
   * (links with offloads) marks checksums the link vouched for; a packet may then be a
   * super-segment larger than the MTU.
   */
  input(packet: Uint8Array, now: number, meta?: LinkPacketMeta): void {
    const s = this.inScratch[this.inDepth] ?? this.newInScratch();
    this.inDepth++;
    try {
      s.verified = meta !== undefined && (meta.csumPartial || meta.dataValid);
      s.local = false;
      this.receive(packet, now, s);
    } finally {
      this.inDepth--;
    }
  }

  /** Datagrams waiting in the loopback queue. */
  get loopbackPending(): number {
    return this.loopQueue.length;
  }

  /**
   * Receives the datagrams that were in the loopback queue when called, in order (what
   * they make us send to ourselves waits for the next call: the host asks again through
   * `onLoopback`). Returns how many.
   */
  deliverLoopback(now: number): number {
    if (this.loopQueue.length === 0) return 0;
    const q = this.loopQueue.take();
    const s = this.inScratch[this.inDepth] ?? this.newInScratch();
    this.inDepth++;
    try {
      for (const packet of q) {
        s.verified = true;
        s.local = true;
        this.receive(packet, now, s);
      }
    } finally {
      this.inDepth--;
    }
    return q.length;
  }

  /** Queues a copy of a datagram for ourselves. */
  private loop(datagram: Uint8Array): SendError | undefined {
    const c = this.c;
    if (!this.loopQueue.push(datagram)) {
      c.OutDiscards++;
      c.dropped.OutLoopbackDiscards++;
      return 'ENOBUFS';
    }
    c.OutLoopback++;
    if (this.loopQueue.length === 1) this.onLoopback!();
    return undefined;
  }

  private receive(packet: Uint8Array, now: number, s: InScratch): void {
    const c = this.c;
    c.InReceives++;
    const r = parseIpv4(packet, s.repr);
    if (typeof r === 'string') {
      c.dropped[PARSE_DROP_REASON[r]]++;
      if (r === 'bad-source') c.InAddrErrors++;
      else c.InHdrErrors++;
      return;
    }
    // RFC 1122 §3.2.1.3: a source that is our subnet's broadcast is not a host; 127/8
    // (g) never arrives from a link, in either field. Nor does our own address as the
    // source (Linux's martian check, fib_validate_source): what we send ourselves comes
    // through the loopback, and a forged one would make us answer ourselves.
    if (this.isDirectedBroadcast(r.src) || (!s.local && (r.src >>> 24 === 127 || (this.onLoopback !== undefined && this.isOwn(r.src))))) {
      c.dropped.InMartianSrc++;
      c.InAddrErrors++;
      return;
    }
    // RFC 1122 §3.3.1 / §3.3.6: a host accepts its addresses, broadcasts and multicast; it
    // does not forward. Without an address of its own, nothing from the link is for it.
    let foreign = false;
    if (s.local ? !(r.dst >>> 24 === 127 || this.isOwn(r.dst) || this.isBroadcastOrMulticast(r.dst))
      : !this.hasAddress || (!this.isOwn(r.dst) && !this.isBroadcastOrMulticast(r.dst))) {
      // Any-address termination: a unicast destination that is not ours, from a link, is
      // delivered flagged `foreign`, from a single-host source only (0.0.0.0 may only
      // broadcast, RFC 1122 §3.2.1.3 (a); the other martians went above or in parseIpv4).
      if (!(this.acceptAnyDestination && !s.local && this.hasAddress && this.isForeignUnicast(r.dst))) {
        c.dropped.InNotForUs++;
        c.InAddrErrors++;
        return;
      }
      if (!isUnicastHost(r.src)) {
        c.dropped.InMartianSrc++;
        c.InAddrErrors++;
        return;
      }
      foreign = true;
      c.InForeign++;
    }
    // RFC 1112 §6.2 (Linux ip_route_input_mc / ip_check_mc_rcu): a multicast datagram is
    // for us only when this host is a member of its group (the transports say, through
    // `multicastFilter`; without one every group is accepted).
    if (this.multicastFilter !== undefined && isMulticast(r.dst) && !this.multicastFilter(r.dst, r.src)) {
      c.dropped.InNotForUs++;
      c.InAddrErrors++;
      return;
    }
    // Trailing bytes past Total Length are link padding (RFC 791 §3.1 Total Length).
    const bytes = packet.length === r.totalLength ? packet : s.views.view(packet, 0, r.totalLength);
    if (r.moreFragments || r.fragmentOffset !== 0) {
      // RFC 791 §3.2 / RFC 1122 §3.3.2: reassemble before delivery.
      c.ReasmReqds++;
      const out = s.asm ?? (s.asm = new Uint8Array(IPV4_MAX_TOTAL_LEN));
      const len = this.reasm.add(r, bytes, now, out);
      if (len === 0) return;
      const whole = out.subarray(0, len);
      parseIpv4(whole, r); // a header we just rebuilt: always valid
      // The pieces' meta is gone: a reassembled datagram is always verified by its transport.
      this.dispatch(r, whole, true, false, s, now, foreign);
      return;
    }
    if (r.totalLength > this.link.mtu) c.InGsoDatagrams++;
    this.dispatch(r, bytes, false, s.verified, s, now, foreign);
  }

  private dispatch(r: Ipv4Repr, bytes: Uint8Array, reassembled: boolean, verified: boolean, s: InScratch, now: number, foreign: boolean): void {
    const dg = s.dg;
    this.fillDatagram(dg, r, bytes, reassembled, s.views);
    dg.checksumVerified = verified;
    dg.foreign = foreign;
    if (verified) this.c.InChecksumVerified++;
    const t = this.transports.slots[r.protocol];
    if (t === undefined) {
      this.c.InUnknownProtos++;
      this.c.dropped.InUnknownProtos++;
      // RFC 1122 §3.2.2.1: protocol unreachable (code 2), subject to §3.2.2's exceptions.
      this.reportUnreachable(2, dg, now);
      return;
    }
    this.c.InDelivers++;
    t.receive(dg, now);
  }

  private fillDatagram(dg: InboundDatagram<Ipv4Address>, r: Ipv4Repr, bytes: Uint8Array, reassembled: boolean, views: ViewCache): void {
    dg.src = r.src;
    dg.dst = r.dst;
    dg.protocol = r.protocol;
    dg.ttl = r.ttl;
    dg.tos = r.tos;
    dg.packet = bytes;
    dg.payload = views.view(bytes, r.headerLength, r.totalLength);
    dg.headerLength = r.headerLength;
    dg.toBroadcast = this.isBroadcastOrMulticast(r.dst) && !this.isOwn(r.dst);
    dg.reassembled = reassembled;
  }

  private isBroadcastOrMulticast(dst: Ipv4Address): boolean {
    return dst === BROADCAST || this.isDirectedBroadcast(dst) || isMulticast(dst);
  }

  private mayAnswer(dg: InboundDatagram): boolean {
    if (typeof dg.src !== 'number' || typeof dg.dst !== 'number') return false; // not a datagram of this layer
    if (dg.toBroadcast || this.isBroadcastOrMulticast(dg.dst)) return false;
    // 127/8 reaches us only through the loopback, where it is a host (Linux answers on lo).
    if ((!isUnicastHost(dg.src) && dg.src >>> 24 !== 127) || this.isDirectedBroadcast(dg.src)) return false;
    // Non-initial fragment: offset field non-zero in the quoted header.
    const p = dg.packet;
    if (!dg.reassembled && p.length >= 8 && (((p[6]! << 8) | p[7]!) & 0x1fff) !== 0) return false;
    return true;
  }

  // ---- ICMP errors in ---------------------------------------------------------------

  /**
   * An ICMP error about a datagram we sent (decoded by icmp). Fragmentation needed
   * (type 3 code 4) lowers the path MTU first (RFC 1191 §6.1), so the transport sees
   * the new value; then the error goes to the transport of the quoted protocol.
   */
  deliverError(e: TransportError, now: number): void {
    if (typeof e.dst !== 'number' || !this.isOwnSource(e.src)) {
      this.c.dropped.ErrorNotOurs++;
      return;
    }
    const t = this.transports.slots[e.protocol & 0xff];
    if (e.icmpType === 3 && e.icmpCode === 4 && t?.acceptsPathMtu?.(e) !== false) {
      const current = this.pathMtu(e.dst);
      // RFC 1191 §5: an old router sends 0; guess the plateau below the quoted Total Length.
      const mtu = e.nextHopMtu > 0 ? e.nextHopMtu : plateauBelow(e.originalLength !== undefined && e.originalLength > 0 ? e.originalLength : current);
      if (this.pmtu.lower(e.dst, mtu, current, now)) this.c.PmtuUpdates++;
      // The transport hears the estimate now in use, not the raw report: a (forged) report
      // below minPmtu would otherwise take TCP's MSS under the floor the cache keeps
      // (RFC 5927 §7.3, RFC 1191 §8; Linux's tcp_v4_mtu_reduced reads dst_mtu after
      // the update the same way), and an old router's 0 becomes the plateau guessed above.
      const used = this.pathMtu(e.dst);
      if (used !== e.nextHopMtu) e = { ...e, nextHopMtu: used };
    }
    if (t === undefined || t.receiveError === undefined) {
      this.c.dropped.ErrorNoTransport++;
      return;
    }
    t.receiveError(e, now);
  }

  // ---- send ---------------------------------------------------------------------------

  private checkSend(dst: unknown, protocol: unknown, options: SendOptions | undefined): void {
    checkInt('dst', dst, 0, 0xffffffff);
    checkInt('protocol', protocol, 0, 255);
    if (options !== undefined) {
      if (typeof options !== 'object' || options === null) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options must be an object');
      // RFC 1122 §3.2.1.7: a host MUST NOT send a datagram with TTL 0 (one looped back
      // only, multicast TTL 0, never leaves).
      if (options.ttl !== undefined) checkInt('options.ttl', options.ttl, options.loopback === true ? 0 : 1, 255);
      if (options.tos !== undefined) checkInt('options.tos', options.tos, 0, 255);
    }
  }

  /** The header fields every datagram we send shares (RFC 791 §3.1; TTL 64 by default). */
  private fillHeader(r: Ipv4Repr, src: Ipv4Address, dst: Ipv4Address, protocol: number, options: SendOptions | undefined, df: boolean): Ipv4Repr {
    r.src = src;
    r.dst = dst;
    r.protocol = protocol;
    r.ttl = options?.ttl ?? this.defaultTtl;
    r.tos = options?.tos ?? 0;
    r.identification = this.ident;
    this.ident = (this.ident + 1) & 0xffff;
    r.dontFragment = df;
    r.headerLength = IPV4_MIN_HEADER_LEN;
    return r;
  }

  /**
   * Counts a send request and refuses what can never leave: too big for IPv4, no route, or
   * a source that is no longer ours (`configure` removed it: Linux's route lookup fails
   * for a non-local source, counted as OutNoRoutes there too).
   */
  private admit(dst: Ipv4Address, length: number, options: SendOptions | undefined): SendError | undefined {
    const c = this.c;
    c.OutRequests++;
    if (length > IPV4_MAX_PAYLOAD) {
      c.dropped.OutTooBig++;
      return 'EMSGSIZE';
    }
    const want = options?.source;
    if (this.route(dst) === undefined || this.sourceGone(want, options)) {
      c.OutNoRoutes++;
      c.dropped.OutNoRoutes++;
      return 'ENETUNREACH';
    }
    return undefined;
  }

  /**
   * A unicast source a caller asks for that is not ours (any more): a socket bound to an
   * address `configure` removed. 0, 127/8, broadcasts and multicast (sockets bound to a
   * group) are not sources this refuses: `pickSource` chooses for them as before. Nor is a
   * transparent send's foreign source under `acceptAnyDestination` (IP_TRANSPARENT).
   */
  private sourceGone(want: IpAddress | undefined, options: SendOptions | undefined): boolean {
    if (typeof want !== 'number' || !isUnicastHost(want) || this.isOwn(want) || this.isDirectedBroadcast(want)) return false;
    if (options!.sourceFallback === true) return false;
    // `want` is a foreign unicast address here (isForeignUnicast: the line above): the
    // gateway's transparent replies, one per segment it sends, check it once.
    return !(options!.transparent === true && this.acceptAnyDestination);
  }

  private output(
    dst: Ipv4Address, protocol: number, length: number, writer: PayloadWriter | undefined, payload: Uint8Array | undefined,
    options: SendOptions | undefined,
  ): SendError | undefined {
    const refused = this.admit(dst, length, options);
    if (refused !== undefined) return refused;
    const c = this.c;
    // A path locked at the PMTU floor goes without DF (pmtu.ts).
    const df = options?.dontFragment === true && !this.pmtu.locked(dst);
    const mtu = this.pathMtu(dst);
    const total = IPV4_MIN_HEADER_LEN + length;
    if (total > mtu && df) {
      // RFC 791 §3.2 / RFC 1191 §3: DF and too big: the sender learns EMSGSIZE.
      c.FragFails++;
      c.dropped.OutTooBig++;
      return 'EMSGSIZE';
    }
    const s = this.outScratch[this.outDepth] ?? this.newOutScratch();
    this.outDepth++;
    try {
      const buf = s.buf;
      const src = this.pickSource(dst, options);
      // The payload goes at byte 20 once; each header is written just before its piece.
      if (writer !== undefined) writer.writePayload(buf, IPV4_MIN_HEADER_LEN, src, dst);
      else buf.set(payload!, IPV4_MIN_HEADER_LEN);
      const r = this.fillHeader(s.repr, src, dst, protocol, options, df);
      if (options?.loopback === true) {
        // Linux ip_mc_output: the local copy is taken whole, before fragmentation; a
        // full loopback queue loses the copy, not the send. TTL 0 goes no further.
        if (this.onLoopback !== undefined) {
          r.moreFragments = false;
          r.fragmentOffset = 0;
          r.payloadLength = length;
          r.totalLength = total;
          emitIpv4(r, buf, 0);
          const e = this.loop(buf.subarray(0, total));
          if (r.ttl === 0) return e;
        } else if (r.ttl === 0) return undefined;
      }
      if (total <= mtu) {
        r.moreFragments = false;
        r.fragmentOffset = 0;
        r.payloadLength = length;
        r.totalLength = total;
        emitIpv4(r, buf, 0);
        if (this.isLocal(dst)) return this.loop(buf.subarray(0, total));
        if (!this.link.send(s.views.view(buf, 0, total))) return this.linkDropped();
        return undefined;
      }
      // RFC 791 §3.2 fragmentation: pieces of NFB*8 payload bytes (NFB = (MTU - IHL*4) / 8),
      // offsets in 8-byte units, MF on all but the last. We send no options, so every
      // fragment's header is the same 20 bytes. Fragment k's header overwrites the tail
      // of fragment k-1, which the link has already copied.
      const per = (mtu - IPV4_MIN_HEADER_LEN) & ~7;
      for (let off = 0; off < length; off += per) {
        const n = Math.min(per, length - off);
        r.moreFragments = off + n < length;
        r.fragmentOffset = off;
        r.payloadLength = n;
        r.totalLength = IPV4_MIN_HEADER_LEN + n;
        emitIpv4(r, buf, off);
        c.FragCreates++;
        if (!this.link.send(buf.subarray(off, off + IPV4_MIN_HEADER_LEN + n))) {
          c.FragFails++;
          return this.linkDropped();
        }
      }
      c.FragOKs++;
      return undefined;
    } finally {
      this.outDepth--;
    }
  }

  private linkDropped(): SendError {
    this.c.OutDiscards++;
    this.c.dropped.OutLinkDiscards++;
    return 'ENOBUFS';
  }

  // ---- time -----------------------------------------------------------------------------

  /** Earliest time `poll` has work: a reassembly deadline or a PMTU entry's expiry; Infinity when none. */
  pollAt(): number {
    return Math.min(this.reasm.pollAt(), this.pmtu.pollAt());
  }

  /** Expires reassemblies (RFC 791 §3.2) and path-MTU estimates (RFC 1191 §6.3) due at `now`. */
  poll(now: number): void {
    this.reasm.poll(now, this.pollBuf ?? (this.pollBuf = new Uint8Array(IPV4_MAX_TOTAL_LEN)), this.onExpired);
    this.pmtu.poll(now);
  }

  /** RFC 792 type 11 code 1, only when the reporter implements it and RFC 1122 §3.2.2 allows. */
  private reassemblyTimedOut(first: Uint8Array, now: number): void {
    const r = this.reporter;
    if (r === undefined || r.timeExceeded === undefined) return;
    const repr = parseIpv4(first, this.pollRepr);
    if (typeof repr === 'string') return; // cannot happen: we stored a valid fragment
    const dg = this.pollDg;
    this.fillDatagram(dg, repr, first, false, this.pollViews);
    dg.checksumVerified = false;
    dg.foreign = false;
    if (!this.mayAnswer(dg)) {
      this.c.OutErrorReportsSuppressed++;
      return;
    }
    this.c.OutErrorReports++;
    r.timeExceeded(1, dg, now);
  }

  // ---- introspection ------------------------------------------------------------------------

  /** A detached snapshot of the counters. */
  stats(): Ipv4Stats & { Reconfigurations: number } {
    return { ...snapshotIpv4Counters(this.c), Reconfigurations: this.reconfigurations };
  }

  /**
   * Reassembly in progress: datagrams (tombstones included) and bytes held as charged
   * against `limits.maxReassemblyBytes` (buffers plus the measured per-datagram and
   * per-source overhead, reassembly.ts), never above it.
   */
  reassemblyUsage(): { datagrams: number; bytes: number } {
    return { datagrams: this.reasm.datagrams, bytes: this.reasm.bytes };
  }

  /**
   * The reassembler (one table, one memory bound for both families): an `Ipv6Layer`
   * given it shares it (layer6.ts), so the bound covers IPv4 and IPv6 together.
   */
  get reassembler(): Reassembler {
    return this.reasm;
  }

  /** Destinations with a lowered path-MTU estimate. */
  pmtuCacheSize(): number {
    return this.pmtu.size;
  }

  private newInScratch(): InScratch {
    const s: InScratch = { verified: false, local: false, repr: emptyIpv4Repr(), dg: newDatagram(), asm: undefined, views: new ViewCache() };
    this.inScratch[this.inDepth] = s;
    return s;
  }

  private newOutScratch(): OutScratch {
    // The link's headroom sits in front of byte 0 of every datagram (and of every fragment).
    const h = this.headroom;
    const buf = h === 0 ? new Uint8Array(IPV4_MAX_TOTAL_LEN) : new Uint8Array(h + IPV4_MAX_TOTAL_LEN).subarray(h);
    const s: OutScratch = { buf, repr: emptyIpv4Repr(), views: new ViewCache() };
    this.outScratch[this.outDepth] = s;
    return s;
  }
}
