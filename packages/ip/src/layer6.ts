/**
 * The IPv6 layer of a host (RFC 8200, RFC 4291, RFC 8201): receive, walk extension
 * headers, reassemble, dispatch to transports; route, fragment at the source and send;
 * keep the path-MTU cache. The IPv6 twin of layer.ts, with its contract:
 *
 * - Pure with respect to time (`now` passed in; `pollAt()` / `poll(now)`).
 * - Bad wire input is dropped and counted (`stats()`, stats6.ts), never thrown from
 *   `input`. Bad API arguments throw an Error with a Node-style `code`.
 * - Buffers as layer.ts: `input` borrows `packet`; the InboundDatagram and its views are
 *   reused (valid during `receive`); output is built in one reused buffer per nesting
 *   depth that the link borrows for the call.
 * - A host, not a router: datagrams for other addresses are dropped (Ip6InNotForUs).
 *   Ours: the configured addresses; multicast ff01::1, ff02::1 (all-nodes) and the
 *   solicited-node group of each address (ff02::1:ffXX:XXXX, RFC 4291 §2.7.1), and any
 *   group `multicastFilter` accepts.
 * - Routing: the first address's prefix (`prefixLength`, default 64) and fe80::/10
 *   (RFC 4861 §5.2) are on-link, multicast goes to the link, anything else to the
 *   `gateway` when one is given, else ENETUNREACH. On a TUN link (point-to-point, no
 *   neighbour discovery) the next hop decides nothing but reachability: every packet
 *   leaves through the one link.
 * - MTU: the link's, at least 1280 (RFC 8200 §5; a link below it is refused). Fragments
 *   are made at the source only, when a datagram exceeds the path MTU (§4.5): there is no
 *   DF (`dontFragment` is ignored). The Identification is unpredictable (RFC 7739 §5.3:
 *   a keyed hash of the addresses plus a counter from a table of 2048 chosen by another
 *   keyed hash, random keys; murmur3 mixing, not a cryptographic PRF).
 * - Flow label (RFC 6437 §3): `SendOptions.flowLabel` when given; else, with a
 *   `flowLabelKey`, a keyed hash of (source, destination, protocol) so a flow keeps
 *   one label; else 0 (unlabelled).
 * - Path MTU (RFC 8201): `deliverError` with a translated Packet Too Big (icmpType 3,
 *   icmpCode 4, nextHopMtu = the MTU) lowers the estimate, never below 1280 (§4: a
 *   report below it keeps 1280), aging as IPv4's cache (pmtu.ts).
 * - Reassembly: through the shared Reassembler given as `reassembler` (the IPv4 layer's,
 *   `Ipv4Layer.reassembler`: one memory bound over both families), else one of its own.
 *   Shared, the IPv4 layer's `poll` drives it (IPv6 expiries still reach this layer's
 *   time-exceeded report through `Reassembler.expired6`) and this layer's `pollAt/poll`
 *   cover the path-MTU cache only.
 * - Loopback (with `onLoopback`), as layer.ts: a datagram to one of our addresses or ::1
 *   never touches the link; the host calls `deliverLoopback(now)`. ::1 arriving from a
 *   link is dropped (RFC 4291 §2.5.3).
 * - Offloads, as layer.ts (the link's `offload`, registration.ts `LinkOutput`): output
 *   buffers keep `link.offloadHeadroom` bytes in front for the virtio-net header;
 *   `sendSegment` emits ONE datagram (never fragmented: IPv6 routers never fragment and
 *   we send it whole) with a partial transport checksum at csum_start 40 (we send no
 *   extension headers), larger than the path MTU only when the link agreed TSO6
 *   (`offload.tso6`; the link marks it gso_type TCPV6). `input` takes the link's meta:
 *   NEEDS_CSUM / DATA_VALID become `checksumVerified`, and datagrams larger than the MTU
 *   (TCPV6 super-segments from the kernel's GSO) are accepted and counted
 *   (Ip6InGsoDatagrams).
 */
import { IPV6_ANY, formatAddress, isMulticast, parseIpv6Address, type IpAddress, type Ipv6Address } from './address.js';
import { checkInteger, codedError } from './errors.js';
import {
  IPV6_HEADER_LEN, IPV6_MAX_FLOW_LABEL, IPV6_MAX_PAYLOAD, IPV6_MIN_MTU, IPV6_NEXT_HEADER, IPV6_PARSE_DROP_REASON,
  emptyIpv6Repr, parseIpv6, writeIpv6Header, type Ipv6DropReason, type Ipv6Repr,
} from './ipv6.js';
import {
  IPV6_FRAGMENT_HEADER_LEN, IPV6_MAX_CHAIN_BYTES, emitIpv6FragmentHeader, isIpv6ExtDrop, walkIpv6Extensions, type Ipv6ExtChain,
} from './ipv6-ext.js';
import { DEFAULT_PMTU_LIMITS, PmtuCache, type PmtuLimits } from './pmtu.js';
import {
  DEFAULT_REASSEMBLY_LIMITS, REASM6_BAD_LENGTH, REASM6_INCOMPLETE_CHAIN, REASM6_TOO_BIG, Reassembler,
  type Ipv6ReasmFragment, type ReassemblyLimits,
} from './reassembly.js';
import { newIpv4Counters } from './stats.js';
import {
  countIpv6Drop, newIpv6LayerCounters, snapshotIpv6Counters, type Ipv6LayerCounters, type Ipv6LayerDropReason, type Ipv6Stats,
} from './stats6.js';
import { ViewCache } from '@netstack/common';
import type {
  ErrorReporter6, GatherWriter, InboundDatagram, IpOutput, LinkOutput, LinkPacketMeta, PayloadWriter, SendError, SendOptions, TransportError,
  TransportProtocol,
} from './registration.js';
import { gatherLength } from './registration.js';
import { fmix, mix, word } from './hash.js';
import { TransportTable } from './transports.js';
import { LoopbackQueue } from './loopback.js';

export type Ipv6Limits = ReassemblyLimits & PmtuLimits;

export interface Ipv6LayerOptions {
  /** Our address(es), Ipv6Address or text (RFC 4291 §2.2); the first is `address`. At least one. */
  addresses: Ipv6Address | string | readonly (Ipv6Address | string)[];
  /** Length of the first address's on-link prefix, 0..128. Default 64. */
  prefixLength?: number;
  /** Default gateway: on-link (in the prefix, or link-local fe80::/10). */
  gateway?: Ipv6Address | string;
  link: LinkOutput;
  /** A Reassembler to share (the IPv4 layer's `reassembler`): one memory bound over both families. */
  reassembler?: Reassembler;
  /** Reassembly limits apply when the layer owns its reassembler. `minPmtu` is at least 1280. */
  limits?: Partial<Ipv6Limits>;
  /** Hop Limit when SendOptions gives no `ttl`. Default 64. */
  defaultHopLimit?: number;
  /** At least 16 bytes: turns on flow labels (RFC 6437), a keyed hash of (src, dst, protocol). */
  flowLabelKey?: Uint8Array;
  /** Turns loopback on, as `Ipv4LayerOptions.onLoopback`. */
  onLoopback?: () => void;
  /**
   * Any-address termination, as `Ipv4LayerOptions.acceptAnyDestination`: a unicast
   * destination not ours (not multicast, ::, ::1) is delivered flagged `foreign` (from a
   * unicast source only: not ::, multicast), and `SendOptions.transparent` may send from
   * any unicast source. Default false.
   */
  acceptAnyDestination?: boolean;
}

/** ::1 (RFC 4291 §2.5.3). */
export const IPV6_LOOPBACK = `${'\0'.repeat(15)}\u0001` as Ipv6Address;
/** ff02::1, the link-local all-nodes group (RFC 4291 §2.7.1). */
export const IPV6_ALL_NODES = `\u00ff\u0002${'\0'.repeat(13)}\u0001` as Ipv6Address;
/** ff01::1, the interface-local all-nodes group. */
const IPV6_ALL_NODES_IFACE = `\u00ff\u0001${'\0'.repeat(13)}\u0001` as Ipv6Address;

/** ff02::1:ffXX:XXXX for `a` (RFC 4291 §2.7.1: the low 24 bits of the address). */
export function solicitedNodeGroup(a: Ipv6Address): Ipv6Address {
  return `\u00ff\u0002${'\0'.repeat(9)}\u0001\u00ff${a.slice(13)}` as Ipv6Address;
}

/** Linux's lo: 65536; a datagram carries at most 65535 payload bytes. */
const LOOPBACK_MTU = 65535;
const MAX_HEADROOM = 64;
/** IPv6 header + Fragment header: where the payload is written in the output buffer. */
const FRAG_HDRS = IPV6_HEADER_LEN + IPV6_FRAGMENT_HEADER_LEN;
/** Largest packet handled: header + 65535 bytes of payload. */
const MAX_PACKET = IPV6_HEADER_LEN + IPV6_MAX_PAYLOAD;
/** Largest datagram sent through the link's offload path: what a link takes in one piece. */
const MAX_OFFLOAD_PACKET = 65535;
/** RFC 7739 §5.3: counters the identification hash selects from. */
const IDENT_COUNTERS = 2048;

interface InScratch {
  verified: boolean;
  local: boolean;
  repr: Ipv6Repr;
  chain: Ipv6ExtChain;
  frag: Ipv6ReasmFragment;
  dg: InboundDatagram<Ipv6Address>;
  /** The datagram being received is for a foreign destination (`acceptAnyDestination`). */
  foreign: boolean;
  /** Reassembly output: the unfragmentable part then the reassembled fragmentable part. */
  asm: Uint8Array | undefined;
  views: ViewCache;
}

interface OutScratch {
  buf: Uint8Array;
  repr: Ipv6Repr;
  views: ViewCache;
}

const EMPTY = new Uint8Array(0);

function newDatagram(): InboundDatagram<Ipv6Address> {
  return {
    src: IPV6_ANY, dst: IPV6_ANY, protocol: 0, ttl: 0, tos: 0, payload: EMPTY, packet: EMPTY, headerLength: IPV6_HEADER_LEN,
    toBroadcast: false, reassembled: false, checksumVerified: false, foreign: false,
  };
}

function newChain(): Ipv6ExtChain {
  return { upperProtocol: 0, upperOffset: 0, nextHeaderField: 0, end: 0, headers: 0, fragment: undefined };
}

/** `checkInteger` (errors.ts) with the name first, as this file's calls read. */
function checkInt(name: string, v: unknown, min: number, max: number): number {
  return checkInteger(v, name, min, max);
}

function isIpv6(v: unknown): v is Ipv6Address {
  if (typeof v !== 'string' || v.length !== 16) return false;
  for (let i = 0; i < 16; i++) if (v.charCodeAt(i) > 0xff) return false;
  return true;
}

function toAddress6(name: string, v: unknown): Ipv6Address {
  if (isIpv6(v)) return v;
  if (typeof v === 'string') {
    const a = parseIpv6Address(v);
    if (a === undefined) throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `${name} is not an IPv6 address: ${JSON.stringify(v)}`);
    return a;
  }
  throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `${name} must be an Ipv6Address or a string`);
}

/** fe80::/10 (RFC 4291 §2.5.6). */
function isLinkLocal(a: Ipv6Address): boolean {
  return a.charCodeAt(0) === 0xfe && (a.charCodeAt(1) & 0xc0) === 0x80;
}

/** Leading bits `a` and `b` share. */
function commonPrefix(a: Ipv6Address, b: Ipv6Address): number {
  for (let i = 0; i < 16; i++) {
    const x = a.charCodeAt(i) ^ b.charCodeAt(i);
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return 128;
}

/** A unicast address a host may own: not ::, ::1 or multicast. */
function isUnicastHost6(a: Ipv6Address): boolean {
  return a !== IPV6_ANY && a !== IPV6_LOOPBACK && !isMulticast(a);
}

/** Keyed hash of (src, dst, extra) under the key words `k0`, `k1`. */
function hashAddrs(k0: number, k1: number, src: Ipv6Address, dst: Ipv6Address, extra: number): number {
  let h = k0;
  for (let i = 0; i < 16; i += 4) h = mix(mix(h, word(src, i)), word(dst, i));
  return fmix(mix(mix(h, extra), k1)) >>> 0;
}

export class Ipv6Layer implements IpOutput {
  /** The first of `addresses`. */
  readonly address: Ipv6Address;
  readonly addresses: readonly Ipv6Address[];
  readonly prefixLength: number;
  readonly gateway: Ipv6Address | undefined;
  readonly limits: Readonly<Ipv6Limits>;
  /**
   * Asked for a multicast group beyond all-nodes and our solicited-node groups: "is this
   * host a member of `group` for datagrams from `src`?" (the UDP layer's memberships).
   * Undefined: no other group is accepted.
   */
  multicastFilter: ((group: Ipv6Address, src: Ipv6Address) => boolean) | undefined = undefined;

  private readonly link: LinkOutput;
  private readonly headroom: number;
  private readonly c: Ipv6LayerCounters = newIpv6LayerCounters();
  private readonly reasm: Reassembler;
  /** The reassembler belongs to the IPv4 layer, which polls it. */
  private readonly sharedReasm: boolean;
  private readonly pmtu: PmtuCache;
  private readonly transports = new TransportTable();
  private reporter: ErrorReporter6 | undefined;
  private defaultHopLimit: number;
  /** The link MTU a router advertised (RFC 4861 §6.3.4), or Infinity: `mtu` takes the smaller of it and the link's. */
  private advertisedMtu = Infinity;
  private readonly groups: Set<Ipv6Address>;
  private readonly ownSet: Set<Ipv6Address>;
  /** Flow-label key words, or undefined (labels 0). */
  private readonly flowKey: Uint32Array | undefined;
  /** RFC 7739 §5.3: keys of F and G, and the counters G selects. */
  private readonly identKey = globalThis.crypto.getRandomValues(new Uint32Array(4));
  private readonly identCounters = globalThis.crypto.getRandomValues(new Uint32Array(IDENT_COUNTERS));
  private readonly inScratch: InScratch[] = [];
  private inDepth = 0;
  private readonly outScratch: OutScratch[] = [];
  private outDepth = 0;
  private pollBuf: Uint8Array | undefined;
  private readonly pollRepr: Ipv6Repr = emptyIpv6Repr();
  private readonly pollDg: InboundDatagram<Ipv6Address> = newDatagram();
  private readonly pollViews = new ViewCache();
  private readonly onExpired6 = (first: Uint8Array, now: number): void => this.reassemblyTimedOut(first, now);
  private readonly onLoopback: (() => void) | undefined;
  private lastRouteDst: Ipv6Address | undefined = undefined;
  private lastRoute: Ipv6Address | undefined = undefined;
  private lastLocalDst: Ipv6Address | undefined = undefined;
  private lastLocal = false;
  private lastCheckedDst: Ipv6Address | undefined = undefined;
  private lastFlowSrc: Ipv6Address | undefined = undefined;
  private lastFlowDst: Ipv6Address | undefined = undefined;
  private lastFlowProtocol = -1;
  private lastFlowLabel = 0;
  private readonly loopQueue = new LoopbackQueue();

  constructor(options: Ipv6LayerOptions) {
    if (typeof options !== 'object' || options === null) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options must be an object');
    const list = Array.isArray(options.addresses) ? options.addresses as readonly unknown[] : [options.addresses];
    if (list.length === 0) throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', 'options.addresses must name at least one address');
    const addrs = list.map((a, i) => {
      const x = toAddress6(`options.addresses[${i}]`, a);
      if (!isUnicastHost6(x)) throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `options.addresses[${i}] ${formatAddress(x)} is not a unicast host address`);
      return x;
    });
    this.addresses = Object.freeze(addrs);
    this.address = addrs[0]!;
    this.ownSet = new Set(addrs);
    this.prefixLength = options.prefixLength === undefined ? 64 : checkInt('options.prefixLength', options.prefixLength, 0, 128);
    if (options.gateway !== undefined) {
      const g = toAddress6('options.gateway', options.gateway);
      if (!isUnicastHost6(g) || this.ownSet.has(g) || !this.onLink(g)) {
        throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `options.gateway ${formatAddress(g)} is not an on-link host address`);
      }
      this.gateway = g;
    } else {
      this.gateway = undefined;
    }
    const link = options.link;
    if (typeof link !== 'object' || link === null || typeof link.send !== 'function') {
      throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.link must be a LinkOutput');
    }
    // RFC 8200 §5: IPv6 needs links of at least 1280 bytes.
    checkInt('options.link.mtu (IPv6 needs 1280)', link.mtu, IPV6_MIN_MTU, Number.MAX_SAFE_INTEGER);
    this.link = link;
    this.headroom = link.offloadHeadroom === undefined ? 0 : checkInt('options.link.offloadHeadroom', link.offloadHeadroom, 0, MAX_HEADROOM);
    const l = options.limits ?? {};
    const limits: Ipv6Limits = { ...DEFAULT_REASSEMBLY_LIMITS, ...DEFAULT_PMTU_LIMITS, minPmtu: IPV6_MIN_MTU };
    for (const k of Object.keys(limits) as (keyof Ipv6Limits)[]) {
      const v = l[k];
      if (v !== undefined) limits[k] = checkInt(`options.limits.${k}`, v, 1, Number.MAX_SAFE_INTEGER);
    }
    // RFC 8201 §4: a Packet Too Big below 1280 never takes the estimate below 1280.
    limits.minPmtu = Math.max(limits.minPmtu, IPV6_MIN_MTU);
    this.limits = Object.freeze(limits);
    this.defaultHopLimit = options.defaultHopLimit === undefined ? 64 : checkInt('options.defaultHopLimit', options.defaultHopLimit, 1, 255);
    if (options.flowLabelKey !== undefined) {
      const k = options.flowLabelKey;
      if (!(k instanceof Uint8Array) || k.length < 16) throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', 'options.flowLabelKey must be a Uint8Array of at least 16 bytes');
      const dv = new DataView(k.buffer, k.byteOffset, 16);
      this.flowKey = Uint32Array.of(dv.getUint32(0), dv.getUint32(4) ^ dv.getUint32(8), dv.getUint32(12));
    } else {
      this.flowKey = undefined;
    }
    if (options.reassembler !== undefined) {
      if (!(options.reassembler instanceof Reassembler)) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.reassembler must be a Reassembler');
      this.reasm = options.reassembler;
      this.sharedReasm = true;
    } else {
      // Its IPv4 counters stay zero: only add6 is used.
      this.reasm = new Reassembler(this.limits, newIpv4Counters());
      this.sharedReasm = false;
    }
    this.reasm.expired6 = this.onExpired6;
    this.pmtu = new PmtuCache(this.limits);
    this.groups = new Set([IPV6_ALL_NODES, IPV6_ALL_NODES_IFACE, ...addrs.map(solicitedNodeGroup)]);
    if (options.onLoopback !== undefined && typeof options.onLoopback !== 'function') {
      throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.onLoopback must be a function');
    }
    this.onLoopback = options.onLoopback;
    if (options.acceptAnyDestination !== undefined && typeof options.acceptAnyDestination !== 'boolean') {
      throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.acceptAnyDestination must be a boolean');
    }
    this.acceptAnyDestination = options.acceptAnyDestination === true;
  }

  /** `Ipv6LayerOptions.acceptAnyDestination`. */
  readonly acceptAnyDestination: boolean;

  /** A unicast address (not ::, ::1, multicast) that is not ours: what `acceptAnyDestination` terminates. */
  private isForeignUnicast(a: Ipv6Address): boolean {
    return a !== IPV6_ANY && a !== IPV6_LOOPBACK && !isMulticast(a) && a !== this.address && !this.ownSet.has(a);
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

  /** Installs (or, with undefined, removes) the ICMPv6 error sender. */
  setErrorReporter6(r: ErrorReporter6 | undefined): void {
    if (r !== undefined && (typeof r !== 'object' || r === null || typeof r.destinationUnreachable !== 'function' || typeof r.parameterProblem !== 'function')) {
      throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'reporter must be an ErrorReporter6');
    }
    this.reporter = r;
  }

  // ---- addresses and routes ---------------------------------------------------------

  get mtu(): number {
    return Math.min(this.link.mtu, LOOPBACK_MTU, this.advertisedMtu);
  }

  /** Hop Limit of datagrams sent without `SendOptions.ttl`. */
  get hopLimit(): number {
    return this.defaultHopLimit;
  }

  /**
   * RFC 4861 §6.3.4: a Router Advertisement's link parameters. `mtu` (1280..link.mtu) becomes
   * the link MTU for IPv6 (new datagrams and new TCP connections follow; open connections keep
   * the MSS they agreed); `hopLimit` (1..255) the default Hop Limit (CurHopLimit). Either may
   * be left out. Returns whether anything changed.
   */
  setLinkParams(params: { mtu?: number | undefined; hopLimit?: number | undefined }): boolean {
    if (typeof params !== 'object' || params === null) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'params must be an object');
    const mtu = params.mtu === undefined ? undefined : checkInt('params.mtu', params.mtu, IPV6_MIN_MTU, this.link.mtu);
    const hop = params.hopLimit === undefined ? undefined : checkInt('params.hopLimit', params.hopLimit, 1, 255);
    let changed = false;
    if (mtu !== undefined && mtu !== this.advertisedMtu) {
      this.advertisedMtu = mtu;
      changed = true;
    }
    if (hop !== undefined && hop !== this.defaultHopLimit) {
      this.defaultHopLimit = hop;
      changed = true;
    }
    return changed;
  }

  /** In the prefix of one of our addresses, or link-local (RFC 4861 §5.2). */
  private onLink(a: Ipv6Address): boolean {
    if (isLinkLocal(a)) return true;
    for (const x of this.addresses) if (commonPrefix(a, x) >= this.prefixLength) return true;
    return false;
  }

  /**
   * Replaces the addresses, their prefix length and the default router at runtime (SLAAC,
   * RFC 4862 §5.5: an address formed from a router's prefix, a router learnt or gone), as
   * `Ipv4Layer.configure` does for IPv4 (the same rules for users of an address that goes:
   * not closed, refused as they send). At least one address stays (the link-local one).
   * Returns whether anything changed.
   */
  configure(config: { addresses: readonly (Ipv6Address | string)[]; prefixLength?: number; gateway?: Ipv6Address | string | undefined }): boolean {
    if (typeof config !== 'object' || config === null) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'config must be an object');
    const list = config.addresses;
    if (!Array.isArray(list) || list.length === 0) throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', 'config.addresses must name at least one address');
    const addrs = (list as readonly unknown[]).map((a, i) => {
      const x = toAddress6(`config.addresses[${i}]`, a);
      if (!isUnicastHost6(x)) throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `config.addresses[${i}] ${formatAddress(x)} is not a unicast host address`);
      return x;
    });
    const prefixLength = config.prefixLength === undefined ? this.prefixLength : checkInt('config.prefixLength', config.prefixLength, 0, 128);
    let gateway: Ipv6Address | undefined;
    if (config.gateway !== undefined) {
      const g = toAddress6('config.gateway', config.gateway);
      if (!isUnicastHost6(g) || addrs.includes(g)) throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `config.gateway ${formatAddress(g)} is not a host address`);
      gateway = g;
    }
    const same = prefixLength === this.prefixLength && gateway === this.gateway && addrs.length === this.addresses.length &&
      addrs.every((a, i) => a === this.addresses[i]);
    if (same) return false;
    // The one writer of the read-only addressing fields after the constructor.
    const w = this as unknown as { address: Ipv6Address; addresses: readonly Ipv6Address[]; prefixLength: number; gateway: Ipv6Address | undefined };
    for (const a of this.addresses) this.groups.delete(solicitedNodeGroup(a));
    w.addresses = Object.freeze(addrs);
    w.address = addrs[0]!;
    w.prefixLength = prefixLength;
    w.gateway = gateway;
    this.ownSet.clear();
    for (const a of addrs) {
      this.ownSet.add(a);
      this.groups.add(solicitedNodeGroup(a));
    }
    // The one-entry answers depend on the addressing.
    this.lastRouteDst = undefined;
    this.lastRoute = undefined;
    this.lastLocalDst = undefined;
    this.lastLocal = false;
    this.lastCheckedDst = undefined;
    this.lastFlowSrc = undefined;
    this.lastFlowDst = undefined;
    return true;
  }

  /** With loopback on: our addresses and ::1, which never leave through the link. */
  isLocal(dst: Ipv6Address): boolean {
    if (this.onLoopback === undefined) return false;
    // A pure function of `dst` (the addresses are fixed), asked twice per send: the last answer is kept.
    if (dst === this.lastLocalDst) return this.lastLocal;
    const local = dst === IPV6_LOOPBACK || this.ownSet.has(dst);
    this.lastLocalDst = dst;
    this.lastLocal = local;
    return local;
  }

  isLocalAddress(a: IpAddress): boolean {
    return typeof a === 'string' && (this.ownSet.has(a) || (this.onLoopback !== undefined && a === IPV6_LOOPBACK));
  }

  /** `IpOutput.isOwnSource`: ours, or with `acceptAnyDestination` a foreign unicast address we may have sent from. */
  isOwnSource(a: IpAddress): boolean {
    return this.isLocalAddress(a) || (typeof a === 'string' && this.acceptAnyDestination && this.isForeignUnicast(a));
  }

  /** Next hop towards `dst`, or undefined: on-link and multicast are direct, else the gateway. */
  route(dst: Ipv6Address): Ipv6Address | undefined {
    // A pure function of `dst` (the configuration is fixed): transports send to the same
    // destination in runs, so the last answer is kept (one entry: no bound to keep).
    if (dst === this.lastRouteDst) return this.lastRoute;
    const hop = this.findRoute(dst);
    this.lastRouteDst = dst;
    this.lastRoute = hop;
    return hop;
  }

  private findRoute(dst: Ipv6Address): Ipv6Address | undefined {
    if (this.isLocal(dst)) return dst;
    if (dst === IPV6_ANY || dst === IPV6_LOOPBACK) return undefined;
    if (isMulticast(dst) || this.onLink(dst)) return dst;
    return this.gateway;
  }

  sourceFor(dst: IpAddress): Ipv6Address | undefined {
    if (typeof dst !== 'string') return undefined;
    return this.route(dst) === undefined ? undefined : this.sourceAddress(dst);
  }

  /**
   * RFC 6724 §5, reduced to what a host with a few addresses needs: ::1 towards ::1, the
   * destination itself when it is ours (rule 1), then same scope (rule 2: link-local for
   * fe80::/10 and ff02::/16), then the longest common prefix (rule 8), then the order given.
   */
  private sourceAddress(dst: Ipv6Address): Ipv6Address {
    const a = this.addresses;
    if (a.length === 1) return dst === IPV6_LOOPBACK && this.onLoopback !== undefined ? IPV6_LOOPBACK : this.address;
    if (dst === IPV6_LOOPBACK && this.onLoopback !== undefined) return IPV6_LOOPBACK;
    if (this.ownSet.has(dst)) return dst;
    const linkScope = isLinkLocal(dst) || (dst.charCodeAt(0) === 0xff && (dst.charCodeAt(1) & 0x0f) <= 2);
    let best = this.address;
    let bestScore = -1;
    for (const x of a) {
      const score = (isLinkLocal(x) === linkScope ? 256 : 0) + commonPrefix(x, dst);
      if (score > bestScore) {
        best = x;
        bestScore = score;
      }
    }
    return best;
  }

  networkHeaderLength(): number {
    return IPV6_HEADER_LEN;
  }

  interfaceMtu(dst: IpAddress): number {
    return typeof dst === 'string' && this.isLocal(dst) ? LOOPBACK_MTU : this.mtu;
  }

  pathMtu(dst: IpAddress): number {
    if (typeof dst !== 'string') return this.mtu;
    if (this.isLocal(dst)) return LOOPBACK_MTU;
    const link = this.mtu;
    const cached = this.pmtu.get(dst);
    return cached !== undefined && cached < link ? cached : link;
  }

  /**
   * 65495 when the link segments TCP/IPv6 (TSO6): the datagram stays within the 65535
   * bytes a link takes in one piece (no jumbograms, RFC 2675); else pathMtu - 40.
   */
  maxSegmentPayload(dst: IpAddress): number {
    if (this.checksumOffload && this.link.offload?.tso6 === true) return MAX_OFFLOAD_PACKET - IPV6_HEADER_LEN;
    return this.pathMtu(dst) - IPV6_HEADER_LEN;
  }

  /** The link completes partial transport checksums: `sendSegment` may be used. */
  get checksumOffload(): boolean {
    const l = this.link;
    return l.offload?.csum === true && typeof l.sendOffload === 'function';
  }

  /**
   * One datagram through the link's offload path (registration.ts `IpOutput.sendSegment`),
   * as Ipv4Layer.sendSegment: never fragmented (RFC 8200 §4.5 fragments only at the source,
   * and a super-segment is cut by the link along TCP segment boundaries instead: each piece
   * carries at most `gsoSize` bytes, which the caller derived from the peer's MSS and the
   * path MTU), transport checksum partial at `csumOffset` from the transport header, which
   * starts at byte 40 (virtio spec §5.1.6.2 csum_start; we send no extension headers).
   */
  sendSegment(
    dst: IpAddress, protocol: number, length: number, writer: PayloadWriter, gsoSize: number, csumOffset: number,
    options?: SendOptions,
  ): SendError | undefined {
    const d = this.checkSend(dst, protocol, options);
    checkInt('length', length, 0, Number.MAX_SAFE_INTEGER);
    checkInt('gsoSize', gsoSize, 0, 0xffff);
    checkInt('csumOffset', csumOffset, 0, 0xffff);
    if (typeof writer !== 'object' || writer === null || typeof writer.writePayload !== 'function') {
      throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'writer must be a PayloadWriter');
    }
    if (!this.checksumOffload) throw codedError(Error, 'ERR_INVALID_STATE', 'the link has no checksum offload: use sendWith');
    const c = this.c;
    c.Ip6OutRequests++;
    if (length > IPV6_MAX_PAYLOAD) {
      c.dropped.Ip6OutTooBig++;
      return 'EMSGSIZE';
    }
    if (this.route(d) === undefined) {
      c.Ip6OutNoRoutes++;
      c.dropped.Ip6OutNoRoutes++;
      return 'ENETUNREACH';
    }
    const total = IPV6_HEADER_LEN + length;
    const local = this.isLocal(d);
    const big = total > this.pathMtu(d);
    if (big && (local || !(gsoSize > 0 && this.link.offload?.tso6 === true) || total > MAX_OFFLOAD_PACKET)) {
      c.dropped.Ip6OutTooBig++;
      return 'EMSGSIZE';
    }
    const s = this.outScratch[this.outDepth] ?? this.newOutScratch();
    this.outDepth++;
    try {
      const src = this.fillHeader(s, d, protocol, options);
      // The writer's last bytes straight from where it keeps them, as IPv4's sendSegment.
      const gather = local ? 0 : gatherLength(writer, this.link);
      if (gather > 0) (writer as GatherWriter).writeHead(s.buf, FRAG_HDRS, src, d);
      else writer.writePayload(s.buf, FRAG_HDRS, src, d);
      const datagram = this.whole(s, protocol, length, gather);
      // Loopback trusts what it carries (Linux's lo: CHECKSUM_PARTIAL stays unverified).
      if (local) return this.loop(datagram);
      const sent = gather > 0
        ? this.link.sendOffloadGather!(datagram, (writer as GatherWriter).gathered, (writer as GatherWriter).gathered2, gsoSize, IPV6_HEADER_LEN, csumOffset)
        : this.link.sendOffload!(datagram, gsoSize, IPV6_HEADER_LEN, csumOffset);
      if (!sent) return this.linkDropped();
      c.Ip6OutOffloaded++;
      if (big) c.Ip6OutGsoDatagrams++;
      return undefined;
    } finally {
      this.outDepth--;
    }
  }

  // ---- send -----------------------------------------------------------------------------

  send(dst: IpAddress, protocol: number, payload: Uint8Array, options?: SendOptions): SendError | undefined {
    const d = this.checkSend(dst, protocol, options);
    if (!(payload instanceof Uint8Array)) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'payload must be a Uint8Array');
    return this.output(d, protocol, payload.length, undefined, payload, options);
  }

  sendWith(dst: IpAddress, protocol: number, length: number, writer: PayloadWriter, options?: SendOptions): SendError | undefined {
    const d = this.checkSend(dst, protocol, options);
    checkInt('length', length, 0, Number.MAX_SAFE_INTEGER);
    if (typeof writer !== 'object' || writer === null || typeof writer.writePayload !== 'function') {
      throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'writer must be a PayloadWriter');
    }
    return this.output(d, protocol, length, writer, undefined, options);
  }

  private checkSend(dst: unknown, protocol: unknown, options: SendOptions | undefined): Ipv6Address {
    // The last destination that passed is kept: a flow's sends check 16 characters once.
    const last = this.lastCheckedDst;
    let d: Ipv6Address;
    if (last !== undefined && dst === last) d = last;
    else {
      if (!isIpv6(dst)) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'dst must be an Ipv6Address');
      d = dst;
      this.lastCheckedDst = d;
    }
    checkInt('protocol', protocol, 0, 255);
    if (options !== undefined) {
      if (typeof options !== 'object' || options === null) throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options must be an object');
      if (options.ttl !== undefined) checkInt('options.ttl', options.ttl, options.loopback === true ? 0 : 1, 255);
      if (options.tos !== undefined) checkInt('options.tos', options.tos, 0, 255);
      if (options.flowLabel !== undefined) checkInt('options.flowLabel', options.flowLabel, 0, IPV6_MAX_FLOW_LABEL);
    }
    return d;
  }

  /** RFC 6437 §3: the same label for every packet of a flow, from a keyed hash. */
  private flowLabel(src: Ipv6Address, dst: Ipv6Address, protocol: number, options: SendOptions | undefined): number {
    if (options?.flowLabel !== undefined) return options.flowLabel;
    const k = this.flowKey;
    if (k === undefined) return 0;
    // A pure function of (src, dst, protocol) under a fixed key, and packets come in flows:
    // the last answer is kept (one entry: no bound to keep), as `route` does.
    if (dst === this.lastFlowDst && src === this.lastFlowSrc && protocol === this.lastFlowProtocol) return this.lastFlowLabel;
    const h = hashAddrs(k[0]!, k[1]!, src, dst, protocol ^ k[2]!) & IPV6_MAX_FLOW_LABEL;
    const label = h === 0 ? 1 : h;
    this.lastFlowSrc = src;
    this.lastFlowDst = dst;
    this.lastFlowProtocol = protocol;
    this.lastFlowLabel = label;
    return label;
  }

  /** RFC 7739 §5.3: F(src, dst, key1) + counter[G(src, dst, key2)]++, never 0. */
  private identification(src: Ipv6Address, dst: Ipv6Address): number {
    const k = this.identKey;
    const f = hashAddrs(k[0]!, k[1]!, src, dst, 0);
    const g = hashAddrs(k[2]!, k[3]!, src, dst, 1) & (IDENT_COUNTERS - 1);
    const n = (this.identCounters[g]! + 1) >>> 0;
    this.identCounters[g] = n;
    const id = (f + n) >>> 0;
    return id === 0 ? 0x80000000 : id;
  }

  private output(
    dst: Ipv6Address, protocol: number, length: number, writer: PayloadWriter | undefined, payload: Uint8Array | undefined,
    options: SendOptions | undefined,
  ): SendError | undefined {
    const c = this.c;
    c.Ip6OutRequests++;
    if (length > IPV6_MAX_PAYLOAD) {
      c.dropped.Ip6OutTooBig++;
      return 'EMSGSIZE';
    }
    if (this.route(dst) === undefined) {
      c.Ip6OutNoRoutes++;
      c.dropped.Ip6OutNoRoutes++;
      return 'ENETUNREACH';
    }
    if (isMulticast(dst)) c.Ip6OutMcastPkts++;
    const mtu = this.pathMtu(dst);
    const s = this.outScratch[this.outDepth] ?? this.newOutScratch();
    this.outDepth++;
    try {
      const buf = s.buf;
      const src = this.fillHeader(s, dst, protocol, options);
      const r = s.repr;
      // The payload goes at byte 48 once: room for an IPv6 header and a Fragment header in front.
      if (writer !== undefined) writer.writePayload(buf, FRAG_HDRS, src, dst);
      else buf.set(payload!, FRAG_HDRS);
      const total = IPV6_HEADER_LEN + length;
      if (options?.loopback === true) {
        // Linux ip6_mc_output: a whole local copy first; hop limit 0 goes no further.
        if (this.onLoopback !== undefined) {
          const e = this.loop(this.whole(s, protocol, length));
          if (r.hopLimit === 0) return e;
        } else if (r.hopLimit === 0) return undefined;
      }
      if (this.isLocal(dst)) return this.loop(this.whole(s, protocol, length));
      if (total <= mtu) {
        if (!this.link.send(this.whole(s, protocol, length))) return this.linkDropped();
        return undefined;
      }
      // RFC 8200 §4.5: fragments of (MTU - 48) & ~7 bytes, each behind a copy of the IPv6
      // header (no unfragmentable extension headers: we send none) and a Fragment header.
      // Fragment k's headers overwrite the tail of fragment k-1, which the link copied.
      const per = (mtu - FRAG_HDRS) & ~7;
      const ident = this.identification(src, dst);
      r.nextHeader = IPV6_NEXT_HEADER.FRAGMENT;
      for (let off = 0; off < length; off += per) {
        const n = Math.min(per, length - off);
        r.payloadLength = IPV6_FRAGMENT_HEADER_LEN + n;
        writeIpv6Header(r, buf, off);
        emitIpv6FragmentHeader(buf, off + IPV6_HEADER_LEN, protocol, off, off + n < length, ident);
        c.Ip6FragCreates++;
        if (!this.link.send(buf.subarray(off, off + FRAG_HDRS + n))) {
          c.Ip6FragFails++;
          return this.linkDropped();
        }
      }
      c.Ip6FragOKs++;
      return undefined;
    } finally {
      this.outDepth--;
    }
  }

  /** Source, hop limit, traffic class and flow label of `s.repr` for a datagram to `dst`; returns the source. */
  private fillHeader(s: OutScratch, dst: Ipv6Address, protocol: number, options: SendOptions | undefined): Ipv6Address {
    const want = options?.source;
    let src: Ipv6Address;
    if (typeof want === 'string' && this.ownSet.has(want)) src = want;
    else if (typeof want === 'string' && options!.transparent === true && this.acceptAnyDestination && this.isForeignUnicast(want)) {
      // IP_TRANSPARENT / IPV6_TRANSPARENT: the original destination of an intercepted flow.
      this.c.Ip6OutTransparent++;
      src = want;
    } else src = this.sourceAddress(dst);
    const r = s.repr;
    r.src = src;
    r.dst = dst;
    r.hopLimit = options?.ttl ?? this.defaultHopLimit;
    r.trafficClass = options?.tos ?? 0; // DSCP + ECN (RFC 8200 §7, RFC 3168)
    r.flowLabel = this.flowLabel(src, dst, protocol, options);
    return src;
  }

  /** The unfragmented datagram: its header at byte 8, just before the payload at 48. */
  /** The datagram in `s.buf` with its header written; `gathered` bytes of its payload are not in the view (they leave from elsewhere: sendSegment). */
  private whole(s: OutScratch, protocol: number, length: number, gathered = 0): Uint8Array {
    const r = s.repr;
    const at = FRAG_HDRS - IPV6_HEADER_LEN;
    r.nextHeader = protocol;
    r.payloadLength = length;
    writeIpv6Header(r, s.buf, at); // valid by construction: checked in send/sendWith
    return s.views.view(s.buf, at, at + IPV6_HEADER_LEN + length - gathered);
  }

  private linkDropped(): SendError {
    this.c.Ip6OutDiscards++;
    this.c.dropped.Ip6OutLinkDiscards++;
    return 'ENOBUFS';
  }

  private loop(datagram: Uint8Array): SendError | undefined {
    const c = this.c;
    if (!this.loopQueue.push(datagram)) {
      c.Ip6OutDiscards++;
      c.dropped.Ip6OutLoopbackDiscards++;
      return 'ENOBUFS';
    }
    c.Ip6OutLoopback++;
    if (this.loopQueue.length === 1) this.onLoopback!();
    return undefined;
  }

  get loopbackPending(): number {
    return this.loopQueue.length;
  }

  /** Receives the datagrams queued for ourselves when called; returns how many. */
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

  // ---- ICMPv6 errors out ------------------------------------------------------------

  /**
   * Transports speak ICMPv4 codes (RFC 792 / RFC 1122); the RFC 4443 answer for each:
   * 3 port unreachable → destination unreachable code 4; 2 protocol unreachable →
   * parameter problem code 1 at the Next Header field naming the protocol (RFC 8200 §4);
   * 0 and 6 (network) → code 0 no route; 1 and 7 (host) → code 3 address unreachable;
   * 9, 10, 13 (administratively prohibited) → code 1. Anything else is not reported.
   */
  reportUnreachable(code: number, datagram: InboundDatagram, now: number): void {
    if (typeof datagram.src !== 'string' || typeof datagram.dst !== 'string') {
      this.c.Ip6OutErrorReportsSuppressed++;
      return;
    }
    const dg = datagram as InboundDatagram<Ipv6Address>;
    if (code === 2) {
      const w = walkIpv6Extensions(dg.packet);
      if (isIpv6ExtDrop(w)) {
        this.c.Ip6OutErrorReportsSuppressed++;
        return;
      }
      this.paramProblem(1, w.nextHeaderField, dg, now, false);
      return;
    }
    const v6 = UNREACH_V4_TO_V6[code];
    if (v6 === undefined) {
      this.c.Ip6OutErrorReportsSuppressed++;
      return;
    }
    const r = this.reporter;
    if (r === undefined || !this.mayAnswer(dg, false)) {
      this.c.Ip6OutErrorReportsSuppressed++;
      return;
    }
    this.c.Ip6OutErrorReports++;
    r.destinationUnreachable(v6, dg, now);
  }

  /**
   * RFC 4443 §2.4 (e): no error about a datagram to a multicast address (the walker already
   * decided the parameter-problem code 2 exception: `evenMulticast`) or from a source that
   * is not one host (::, multicast).
   */
  private mayAnswer(dg: InboundDatagram<Ipv6Address>, evenMulticast: boolean): boolean {
    if (dg.src === IPV6_ANY || isMulticast(dg.src)) return false;
    return evenMulticast || !isMulticast(dg.dst);
  }

  private paramProblem(code: number, pointer: number, dg: InboundDatagram<Ipv6Address>, now: number, evenMulticast: boolean): void {
    const r = this.reporter;
    if (r === undefined || !this.mayAnswer(dg, evenMulticast)) {
      this.c.Ip6OutErrorReportsSuppressed++;
      return;
    }
    this.c.Ip6OutErrorReports++;
    r.parameterProblem(code, pointer, dg, now);
  }

  // ---- receive ------------------------------------------------------------------------

  /** One IPv6 packet from the link (borrowed for the call). Never throws for bad input. */
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

  private drop(reason: Ipv6DropReason | Ipv6LayerDropReason): void {
    countIpv6Drop(this.c, reason);
  }

  /** A multicast group this host is in (RFC 4291 §2.7.1; others through `multicastFilter`). */
  private joined(group: Ipv6Address, src: Ipv6Address): boolean {
    return this.groups.has(group) || (this.multicastFilter !== undefined && this.multicastFilter(group, src));
  }

  private receive(packet: Uint8Array, now: number, s: InScratch): void {
    const c = this.c;
    c.Ip6InReceives++;
    const r = parseIpv6(packet, s.repr);
    if (typeof r === 'string') {
      this.drop(IPV6_PARSE_DROP_REASON[r]);
      return;
    }
    // RFC 4291 §2.5.3: ::1 never arrives from a link, in either field (Linux ip6_rcv_core).
    // (The first byte first: a full compare only for addresses in ::/8.)
    if (!s.local && ((r.src.charCodeAt(0) === 0 && r.src === IPV6_LOOPBACK) || (r.dst.charCodeAt(0) === 0 && r.dst === IPV6_LOOPBACK))) {
      this.drop('Ip6InLoopbackFromLink');
      return;
    }
    let foreign = false;
    if (isMulticast(r.dst)) {
      if (!this.joined(r.dst, r.src)) {
        this.drop('Ip6InNotForUs');
        return;
      }
      c.Ip6InMcastPkts++;
    } else if (r.dst !== this.address && !this.ownSet.has(r.dst) && !(s.local && r.dst === IPV6_LOOPBACK)) {
      if (!(this.acceptAnyDestination && !s.local && this.isForeignUnicast(r.dst))) {
        this.drop('Ip6InNotForUs');
        return;
      }
      // Any-address termination: from a single host only (not ::, not multicast: RFC 4291 §2.5.2, §2.7).
      if (r.src === IPV6_ANY || isMulticast(r.src)) {
        this.drop('Ip6InMartianSrc');
        return;
      }
      foreign = true;
      c.Ip6InForeign++;
    }
    s.foreign = foreign;
    // Bytes past Payload Length are link padding (RFC 8200 §3).
    const end = IPV6_HEADER_LEN + r.payloadLength;
    const bytes = packet.length === end ? packet : s.views.view(packet, 0, end);
    // A TCPV6 super-segment from the kernel's GSO (TSO6 agreed): larger than the link MTU.
    if (!s.local && end > this.link.mtu) c.Ip6InGsoDatagrams++;
    this.walk(r, bytes, false, s.verified, s, now);
  }

  /** Walks the header chain of `bytes` (RFC 8200 §4), then reassembles or dispatches. */
  private walk(r: Ipv6Repr, bytes: Uint8Array, reassembled: boolean, verified: boolean, s: InScratch, now: number): void {
    const c = this.c;
    const w = walkIpv6Extensions(bytes, s.chain);
    if (isIpv6ExtDrop(w)) {
      this.drop(w.reason);
      if (w.icmp !== undefined) {
        const dg = this.fillDatagram(s.dg, r, bytes, r.nextHeader, IPV6_HEADER_LEN, reassembled, s.views);
        dg.checksumVerified = false;
        // The walker already applied RFC 8200 §4.2's multicast rule to code 2.
        this.paramProblem(w.icmp.code, w.icmp.pointer, dg, now, w.icmp.code === 2);
      }
      return;
    }
    const f = w.fragment;
    if (f !== undefined) {
      if (f.atomic) {
        // RFC 6946 §4: processed in isolation (the walk went on past it); counted as Linux does.
        const c6 = this.reasm.counters6;
        c6.Ip6ReasmReqds++;
        c6.Ip6ReasmOKs++;
        c6.Ip6ReasmFragsUsed++;
        c6.Ip6ReasmAtomic++;
      } else {
        if (reassembled) {
          this.drop('Ip6InNestedFragment');
          return;
        }
        const fr = s.frag;
        fr.src = r.src;
        fr.dst = r.dst;
        fr.identification = f.identification;
        fr.fragmentOffset = f.offset;
        fr.moreFragments = f.more;
        fr.nextHeader = f.nextHeader;
        fr.headerLength = f.dataOffset;
        fr.payloadLength = w.end - f.dataOffset;
        fr.headerChainComplete = true; // the walker refused a first fragment without it (RFC 7112 §5)
        // The fragmentable part lands after room for this fragment's unfragmentable part.
        const asm = s.asm ?? (s.asm = new Uint8Array(IPV6_MAX_CHAIN_BYTES + 65536));
        const n = this.reasm.add6(fr, bytes, now, s.views.view(asm, f.headerOffset, asm.length));
        if (n < 0) {
          const dg = this.fillDatagram(s.dg, r, bytes, r.nextHeader, IPV6_HEADER_LEN, false, s.views);
          dg.checksumVerified = false;
          if (n === REASM6_BAD_LENGTH) this.paramProblem(0, 4, dg, now, false);
          else if (n === REASM6_TOO_BIG) this.paramProblem(0, f.headerOffset + 2, dg, now, false);
          else if (n === REASM6_INCOMPLETE_CHAIN) this.paramProblem(3, 0, dg, now, false);
          return;
        }
        if (n === 0) return;
        // RFC 8200 §4.5: the reassembled packet is this fragment's unfragmentable part, its
        // last Next Header set to the first fragment's, then the fragmentable part.
        const total = f.headerOffset + n;
        if (total - IPV6_HEADER_LEN > IPV6_MAX_PAYLOAD) {
          this.drop('Ip6InFragTooBig');
          return;
        }
        asm.set(bytes.subarray(0, f.headerOffset), 0);
        asm[f.prevNextHeaderField] = fr.nextHeader;
        asm[4] = (total - IPV6_HEADER_LEN) >>> 8;
        asm[5] = (total - IPV6_HEADER_LEN) & 0xff;
        const whole = s.views.view(asm, 0, total);
        const again = parseIpv6(whole, r);
        if (typeof again === 'string') {
          this.drop(IPV6_PARSE_DROP_REASON[again]);
          return;
        }
        // The pieces' meta is gone: the transport verifies a reassembled datagram.
        this.walk(r, whole, true, false, s, now);
        return;
      }
    }
    // Dispatch to the upper-layer protocol.
    const dg = this.fillDatagram(s.dg, r, bytes, w.upperProtocol, w.upperOffset, reassembled, s.views);
    dg.checksumVerified = verified;
    dg.foreign = s.foreign;
    const t = this.transports.slots[w.upperProtocol];
    if (t === undefined) {
      c.Ip6InUnknownProtos++;
      c.dropped.Ip6InUnknownProtos++;
      // RFC 8200 §4: unrecognised Next Header → parameter problem code 1 at that field.
      this.paramProblem(1, w.nextHeaderField, dg, now, false);
      return;
    }
    if (verified) c.Ip6InChecksumVerified++;
    c.Ip6InDelivers++;
    t.receive(dg, now);
  }

  private fillDatagram(
    dg: InboundDatagram<Ipv6Address>, r: Ipv6Repr, bytes: Uint8Array, protocol: number, headerLength: number, reassembled: boolean,
    views: ViewCache,
  ): InboundDatagram<Ipv6Address> {
    dg.src = r.src;
    dg.dst = r.dst;
    dg.protocol = protocol;
    dg.ttl = r.hopLimit;
    dg.tos = r.trafficClass;
    dg.packet = bytes;
    dg.headerLength = headerLength;
    dg.payload = views.view(bytes, headerLength, bytes.length);
    dg.toBroadcast = isMulticast(r.dst);
    dg.reassembled = reassembled;
    return dg;
  }

  // ---- ICMPv6 errors in -----------------------------------------------------------------

  /**
   * An ICMPv6 error about a datagram we sent, translated by icmp to the ICMPv4-equivalent
   * type/code. Packet Too Big (icmpType 3, icmpCode 4, nextHopMtu = its MTU) lowers the
   * path MTU first (RFC 8201 §4; never below 1280), so the transport sees the new value;
   * then the error goes to the transport of `e.protocol`.
   */
  deliverError(e: TransportError, now: number): void {
    if (typeof e.dst !== 'string' || !this.isOwnSource(e.src)) {
      this.c.dropped.Ip6ErrorNotOurs++;
      return;
    }
    const t = this.transports.slots[e.protocol & 0xff];
    // RFC 5927 §4.1/§7.2: a report the transport says it cannot have caused lowers nothing.
    if (e.icmpType === 3 && e.icmpCode === 4 && t?.acceptsPathMtu?.(e) !== false) {
      const current = this.pathMtu(e.dst);
      // RFC 8201 §4: below 1280 (or absent) → 1280; PmtuCache never raises an estimate.
      const mtu = Math.max(IPV6_MIN_MTU, e.nextHopMtu);
      if (this.pmtu.lower(e.dst, mtu, current, now)) this.c.Ip6PmtuUpdates++;
    }
    if (t === undefined || t.receiveError === undefined) {
      this.c.dropped.Ip6ErrorNoTransport++;
      return;
    }
    t.receiveError(e, now);
  }

  // ---- time -------------------------------------------------------------------------------

  /** Earliest time `poll` has work (the reassembler's only when this layer owns it). */
  pollAt(): number {
    return this.sharedReasm ? this.pmtu.pollAt() : Math.min(this.reasm.pollAt(), this.pmtu.pollAt());
  }

  poll(now: number): void {
    if (!this.sharedReasm) this.reasm.poll(now, this.pollBuf ?? (this.pollBuf = new Uint8Array(MAX_PACKET)));
    this.pmtu.poll(now);
  }

  /** RFC 4443 §3.3 code 1, quoting the first fragment, when the reporter has timeExceeded. */
  private reassemblyTimedOut(first: Uint8Array, now: number): void {
    const rep = this.reporter;
    if (rep === undefined || rep.timeExceeded === undefined) return;
    const repr = parseIpv6(first, this.pollRepr);
    if (typeof repr === 'string') return;
    const dg = this.fillDatagram(this.pollDg, repr, first, repr.nextHeader, IPV6_HEADER_LEN, false, this.pollViews);
    dg.checksumVerified = false;
    if (!this.mayAnswer(dg, false)) {
      this.c.Ip6OutErrorReportsSuppressed++;
      return;
    }
    this.c.Ip6OutErrorReports++;
    rep.timeExceeded(1, dg, now);
  }

  // ---- introspection ----------------------------------------------------------------------

  stats(): Ipv6Stats {
    return snapshotIpv6Counters(this.c, this.reasm.counters6);
  }

  get reassembler(): Reassembler {
    return this.reasm;
  }

  pmtuCacheSize(): number {
    return this.pmtu.size;
  }

  private newInScratch(): InScratch {
    const s: InScratch = {
      verified: false, local: false, foreign: false, repr: emptyIpv6Repr(), chain: newChain(),
      frag: {
        src: IPV6_ANY, dst: IPV6_ANY, identification: 0, fragmentOffset: 0, moreFragments: false, nextHeader: 0, headerLength: 0,
        payloadLength: 0, headerChainComplete: true,
      },
      dg: newDatagram(), asm: undefined, views: new ViewCache(),
    };
    this.inScratch[this.inDepth] = s;
    return s;
  }

  private newOutScratch(): OutScratch {
    const h = this.headroom;
    const len = FRAG_HDRS + IPV6_MAX_PAYLOAD;
    const buf = h === 0 ? new Uint8Array(len) : new Uint8Array(h + len).subarray(h);
    const s: OutScratch = { buf, repr: emptyIpv6Repr(), views: new ViewCache() };
    this.outScratch[this.outDepth] = s;
    return s;
  }
}

/** ICMPv4 destination-unreachable code → ICMPv6 one (RFC 4443 §3.1); see `reportUnreachable`. */
const UNREACH_V4_TO_V6: Readonly<Partial<Record<number, number>>> = { 0: 0, 1: 3, 3: 4, 6: 0, 7: 3, 9: 1, 10: 1, 13: 1 };
