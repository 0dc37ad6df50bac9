/**
 * IPv4 (RFC 894) and IPv6 (RFC 2464) over an Ethernet link without the IP layer knowing: `EthernetInterface`
 * takes a link of FRAMES (a TAP device, a `LearningSwitch` port) and is itself a link of
 * IP PACKETS, the same shape as a TUN device (`send`, `mtu`, `setReceiver`, `pollNow`,
 * `stats`, `close`), so an `Ipv4Layer` (or a whole stack) runs over it unchanged.
 *
 * - Send: the IPv4 destination picks the next hop by the interface's own on-link prefix
 *   and gateway (the same values the IP layer was given: the IP layer does not say which
 *   hop it chose, so the link works it out as a Linux neighbour output does from the
 *   route): the limited or directed broadcast goes to ff:ff:ff:ff:ff:ff, a multicast group
 *   to its RFC 1112 §6.4 MAC, an on-link address to itself, anything else to the gateway.
 *   The next hop is resolved by the neighbour cache (neighbour.ts); a packet waiting for
 *   resolution is accepted (`send` returns true) and leaves when the reply comes, or goes
 *   to `onUnreachable` when resolution fails (build the EHOSTUNREACH with
 *   `hostUnreachableError` and hand it to the IP layer's `deliverError`, as Linux's
 *   arp_error_report sends itself an ICMP host unreachable).
 * - Receive (RFC 1122 §2.3.2 / IEEE 802.3 addressing): frames to our MAC, to the
 *   broadcast address, and to the multicast MACs we joined are accepted, everything else
 *   dropped and counted; IPv4 goes to the receiver (the payload as a view), ARP to the
 *   cache and the address table (acd.ts), the rest is dropped and counted by reason.
 * - IPv6 (with an `ipv6` configuration): the same with RFC 4861 address resolution (NS to
 *   the solicited-node group, NA back; ndp.ts) in a second cache keyed by address; our
 *   addresses with DAD, SLAAC from Router Advertisements and the RA's router (addr6.ts,
 *   ra.ts); NS, NA, RA and MLD are consumed here, other IPv6 goes up. Without the
 *   configuration IPv6 is dropped and counted both ways.
 * - Multicast: the groups joined pass the MAC filter and are reported by IGMP / MLD
 *   (mcast.ts, igmp.ts, mld.ts); IGMP (IPv4 protocol 2) is consumed here too.
 * - Time: the interface reads its `clock` (a `Scheduler` from @netstack/common, virtual
 *   in tests) once per received batch and per send, and keeps ONE timer armed at the
 *   earliest `pollAt()` of its machines (neighbour caches, address tables, IGMP, MLD).
 * - Frame links report `mtu` as their largest frame without FCS (1514 for an IP MTU of
 *   1500); the interface's IP MTU is that minus 14 unless `mtu` is given.
 * - Ownership: as the Link contract. `send` borrows the packet (copied into one reused
 *   frame buffer, or into the neighbour queue); received payload views are valid during
 *   the receiver's call only.
 */
import { realTimeScheduler, ViewCache, type LinkOffload, type LinkOutput, type PacketMeta, type Scheduler } from '@netstack/common';
import { completePartialChecksum } from './offload.js';
import { ARP_LEN, ARP_REPLY, ARP_REQUEST, emitArp, emptyArpRepr, parseArp, type ArpRepr } from './arp.js';
import { AddressTable, type AcdParams, type AddressConflict } from './acd.js';
import {
  ETHERNET_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, emitEthernet, emptyEthernetRepr, parseEthernet, type EthernetRepr,
} from './frame.js';
import {
  MAC_BROADCAST, MAC_ZERO, formatMac, ipv4MulticastMac, ipv6MulticastMac, isMulticastMac, isUnicastMac, parseMac, randomMac, type MacAddress,
} from './mac.js';
import { NeighbourCache, type NeighbourParams, type NeighbourStats } from './neighbour.js';
import { GroupMembership, type GroupFilter, type McastMessage, type McastParams, type McastStats } from './mcast.js';
import { ALL_SYSTEMS, IGMP_IP_HEADER_LEN, IPPROTO_IGMP, emitIgmp, parseIgmp } from './igmp.js';
import { MLD_HEADERS_LEN, emitMld, parseMld } from './mld.js';
import { Ipv6AddressTable, type Addr6Info, type Addr6Params, type Addr6Stats } from './addr6.js';
import { emitRs, eui64, parseRa } from './ra.js';
import {
  ICMPV6_NA, ICMPV6_NS, IPV6_ALL_NODES, IPV6_UNSPECIFIED, NDP_PACKET_LEN, bytesToAddress, emitNdp, isLinkLocal6, isMulticast6, parseNdp,
  sameprefix6, solicitedNodeAddress, type NdpRepr,
} from './ndp.js';

/** What a frame link's receiver gets (the `LinkReceiver` shape of @netstack/tun). */
export interface FrameReceiver {
  packet(frame: Uint8Array, meta?: PacketMeta): void;
  batchEnd?(): void;
}

/** A link of Ethernet frames: a TAP device or a switch port (structurally tun's `Link`). */
export interface FrameLink extends LinkOutput {
  setReceiver(receiver: FrameReceiver): void;
  pollNow?(): number;
  stats?(): object;
  close?(): void;
}

/** tun's `LinkStats` (the required part), at the IP level. */
export interface IpLinkStats {
  RxPackets: number;
  RxBytes: number;
  TxPackets: number;
  TxBytes: number;
  TxDropped: number;
  RxDropped: number;
}

export interface Ipv4Config {
  /** Our address (a number, 10.7.0.2 === 0x0a070002, or dotted quad). */
  address: number | string;
  /** The on-link prefix, 0..32. */
  prefixLength: number;
  /** The default gateway, on-link. */
  gateway?: number | string;
  /** Probe for the address before taking it (RFC 5227); default false: take it and announce it. */
  probe?: boolean;
}

/**
 * IPv6 on the link: RFC 4861 address resolution, DAD and SLAAC (RFC 4862), MLD for the
 * groups. Addresses as @netstack/ip's `Ipv6Address` (16 latin1 characters) or 16 bytes.
 */
export interface Ipv6Config {
  /** May be empty with `slaac`. */
  addresses: readonly (string | Uint8Array)[];
  /** The on-link prefix of the addresses (fe80::/10 is on-link anyway, RFC 4861 §5.2). */
  prefixLength: number;
  /** The default router (usually its link-local address). Without it, an RA's router (with `slaac`). */
  gateway?: string | Uint8Array;
  /**
   * Duplicate address detection for these addresses (RFC 4862 §5.4): 'optimistic' (the
   * default: usable at once, RFC 4429, the NS still sent and a duplicate reported and given
   * up), 'full' (tentative until DAD passed), 'none'.
   */
  dad?: 'full' | 'optimistic' | 'none';
  /**
   * SLAAC (RFC 4862 §5.5): a link-local address fe80::EUI-64 (full DAD) is added, routers
   * are solicited, and the A-flagged /64 prefixes of Router Advertisements give addresses
   * (full DAD) with their lifetimes; the RA's source becomes the default router.
   */
  slaac?: boolean;
}

export interface EthernetInterfaceOptions {
  link: FrameLink;
  /** Our MAC (a number or `02:…` text). Default: random, locally administered. */
  mac?: MacAddress | string;
  ipv4?: Ipv4Config;
  ipv6?: Ipv6Config;
  /** IP MTU. Default: link.mtu - 14. */
  mtu?: number;
  clock?: Scheduler;
  /** [0, 1): the MAC, the reachable-time and probe jitter. Default Math.random. */
  random?: () => number;
  neighbour?: Partial<NeighbourParams>;
  acd?: Partial<AcdParams>;
  /** IGMP (RFC 3376 / 2236) timers and version: robustness 2, v3 unless an older querier is heard. */
  igmp?: Partial<McastParams>;
  /** MLD (RFC 3810 / 2710), the same machine for IPv6. */
  mld?: Partial<McastParams>;
  /**
   * A packet that waited for a neighbour that never answered (copy; the caller may keep
   * it). `nextHop`: an IPv4 number, or an IPv6 address (16 latin1 characters).
   */
  onUnreachable?: (packet: Uint8Array, nextHop: number | string, now: number) => void;
  /** An IPv4 address conflict (RFC 5227). */
  onConflict?: (conflict: AddressConflict, now: number) => void;
  /** An IPv6 address conflict (DAD found a duplicate, phase 'probe'; or a bound address claimed, 'bound'). */
  onConflict6?: (conflict: { address: string; mac: MacAddress | undefined; phase: 'probe' | 'bound' }, now: number) => void;
  /**
   * The usable IPv6 addresses or the default router changed (DAD passed, SLAAC formed or
   * expired an address, a router came or went): give them to the IPv6 layer.
   */
  onIpv6Change?: (change: { addresses: string[]; gateway: string | undefined }, now: number) => void;
  /**
   * The link parameters of a Router Advertisement taken with SLAAC on (RFC 4861 §6.3.4): its
   * MTU option (within 1280..this interface's IP MTU; one outside is ignored and counted) and
   * a non-zero Cur Hop Limit, for the IPv6 layer. Called for every such RA that has either.
   */
  onRouterParams?: (params: { mtu: number | undefined; hopLimit: number | undefined }, now: number) => void;
  /** DAD and SLAAC timers (addr6.ts). */
  addr6?: Partial<Addr6Params>;
}

/** Every received frame (InFrames) ends in exactly one of InIpv4, InIpv6, InArp, NdpIn* or one InDrop* counter. */
export interface EthernetStats {
  InFrames: number;
  InUnicast: number;
  InBroadcast: number;
  InMulticast: number;
  InIpv4: number;
  InArp: number;
  InDropTruncated: number;
  InDropBadSource: number;
  /** IEEE 802.3 length-type frames (802.2 LLC/SNAP). */
  InDropLengthType: number;
  /** 802.1Q / 802.1ad tagged frames: this host has no VLAN interface. */
  InDropVlan: number;
  /** Unicast to another station (a bridge flooding, a TAP seeing everything). */
  InDropOtherHost: number;
  InDropMulticastNotJoined: number;
  /** IPv6 (EtherType 0x86dd) without an IPv6 configuration. */
  InDropIpv6: number;
  /** IPv6 packets handed up (NS/NA are not: they are the interface's). */
  InIpv6: number;
  /** NS / NA consumed here, and NDP packets dropped (RFC 4861 §7.1 validation). */
  NdpInSolicits: number;
  NdpInAdverts: number;
  NdpInInvalid: number;
  NdpOutSolicits: number;
  NdpOutAdverts: number;
  /** An NA for one of our addresses from another station (a duplicate while probing; reported once bound). */
  NdpConflicts: number;
  /** DAD probes sent (NS from ::, RFC 4862 §5.4.2), Router Solicitations sent, Router Advertisements taken. */
  NdpOutDadProbes: number;
  NdpOutRouterSolicits: number;
  NdpInRouterAdverts: number;
  /** NS/NA/RA frames carrying our own MAC as source (looped back by a bridge): ignored. */
  NdpInFromSelf: number;
  /** RFC 4861 §6.3.4: an RA's MTU option below 1280 or above the link's IP MTU, not applied. */
  RaMtuIgnored: number;
  /** An RA's Reachable Time or Retrans Timer above an hour (MAX_REACHABLE_TIME, §10), not applied. */
  RaTimersIgnored: number;
  /** NDP frames the link refused. */
  NdpOutLinkDrops: number;
  /** IGMP (IPv4 protocol 2) consumed here: queries, other hosts' v1/v2 reports, the rest (leaves, v3 reports), invalid. */
  IgmpInQueries: number;
  IgmpInReports: number;
  IgmpInOther: number;
  IgmpInInvalid: number;
  /** IGMP reports and leaves sent (a v3 report split over several packets counts each). */
  IgmpOutMessages: number;
  /** MLD (ICMPv6 130/131/132/143) consumed here, as IGMP. */
  MldInQueries: number;
  MldInReports: number;
  MldInOther: number;
  MldInInvalid: number;
  MldOutMessages: number;
  /** IGMP / MLD frames the link refused. */
  McastOutLinkDrops: number;
  InDropUnknownType: number;
  /** After the interface was closed. */
  InDropClosed: number;
  /** IP packets given to `send`: each ends in OutSent, OutLinkDrops, OutQueued or one OutDrop* counter. */
  OutPackets: number;
  /** Framed and taken by the link at once. */
  OutSent: number;
  /** The link refused the frame. */
  OutLinkDrops: number;
  /**
   * Waiting for resolution: each later leaves (OutFlushed, or OutFlushLinkDrops), or is
   * discarded (neighbour UnresolvedDiscards) or reported unreachable (neighbour UnreachableReports).
   */
  OutQueued: number;
  OutFlushed: number;
  OutFlushLinkDrops: number;
  OutDropIpv6: number;
  OutDropMalformed: number;
  OutDropTooBig: number;
  /** No IPv4 configuration, or off-link without a gateway. */
  OutDropNoRoute: number;
  /** Addressed to one of our own addresses (this link does not loop back). */
  OutDropLocal: number;
  /** The neighbour cache refused it (queue bound, table full). */
  OutDropNeighbour: number;
  /**
   * Of OutSent / OutLinkDrops: packets that went to the link's `sendOffload` (partial
   * checksum, a GSO super-segment or not), framed in place in the IP layer's headroom.
   */
  OutOffload: number;
  /** Of OutOffload: the super-segments (larger than the MTU: the link segments them). */
  OutOffloadGso: number;
  /**
   * An offloaded super-segment for a neighbour not resolved yet (INCOMPLETE, FAILED, or
   * none): it cannot wait in the queue (it leaves later by plain `send`, at most one MTU),
   * so it is dropped and TCP sends it again (its retransmission is one MSS, which waits).
   */
  OutDropGsoUnresolved: number;
  OutDropClosed: number;
  ArpInRequests: number;
  ArpInReplies: number;
  /** ARP packets dropped: truncated, not Ethernet/IPv4, bad operation, bad sender. */
  ArpInTruncated: number;
  ArpInUnsupported: number;
  ArpInBadOp: number;
  ArpInBadSender: number;
  /** ARP frames that carry our own MAC as sender (our own, looped back by a bridge). */
  ArpInFromSelf: number;
  ArpOutRequests: number;
  ArpOutReplies: number;
  ArpOutProbes: number;
  ArpOutAnnouncements: number;
  ArpConflicts: number;
  /** ARP frames the link refused. */
  ArpOutLinkDrops: number;
}

function newStats(): EthernetStats {
  return {
    InFrames: 0, InUnicast: 0, InBroadcast: 0, InMulticast: 0, InIpv4: 0, InArp: 0, InDropTruncated: 0, InDropBadSource: 0,
    InDropLengthType: 0, InDropVlan: 0, InDropOtherHost: 0, InDropMulticastNotJoined: 0, InDropIpv6: 0, InDropUnknownType: 0,
    InIpv6: 0, NdpInSolicits: 0, NdpInAdverts: 0, NdpInInvalid: 0, NdpOutSolicits: 0, NdpOutAdverts: 0, NdpConflicts: 0, NdpOutLinkDrops: 0,
    NdpOutDadProbes: 0, NdpOutRouterSolicits: 0, NdpInRouterAdverts: 0, NdpInFromSelf: 0, RaMtuIgnored: 0, RaTimersIgnored: 0,
    IgmpInQueries: 0, IgmpInReports: 0, IgmpInOther: 0, IgmpInInvalid: 0, IgmpOutMessages: 0,
    MldInQueries: 0, MldInReports: 0, MldInOther: 0, MldInInvalid: 0, MldOutMessages: 0, McastOutLinkDrops: 0,
    InDropClosed: 0, OutPackets: 0, OutSent: 0, OutLinkDrops: 0, OutQueued: 0, OutFlushed: 0, OutFlushLinkDrops: 0, OutDropIpv6: 0, OutDropMalformed: 0, OutDropTooBig: 0,
    OutDropNoRoute: 0, OutDropLocal: 0, OutDropNeighbour: 0, OutOffload: 0, OutOffloadGso: 0, OutDropGsoUnresolved: 0, OutDropClosed: 0, ArpInRequests: 0,
    ArpInReplies: 0, ArpInTruncated: 0, ArpInUnsupported: 0, ArpInBadOp: 0, ArpInBadSender: 0, ArpInFromSelf: 0,
    ArpOutRequests: 0, ArpOutReplies: 0, ArpOutProbes: 0, ArpOutAnnouncements: 0, ArpConflicts: 0, ArpOutLinkDrops: 0,
  };
}

function codeError(ctor: RangeErrorConstructor | TypeErrorConstructor, code: string, message: string): Error {
  const e = new ctor(message);
  (e as Error & { code: string }).code = code;
  return e;
}

/** Dotted quad or number → IPv4 number; throws a coded error otherwise. */
export function toIpv4(name: string, v: unknown): number {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return v;
  if (typeof v === 'string') {
    const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(v);
    if (m !== null) {
      const o = m.slice(1).map(Number);
      if (o.every((x) => x <= 255)) return ((o[0]! << 24) | (o[1]! << 16) | (o[2]! << 8) | o[3]!) >>> 0;
    }
  }
  throw codeError(TypeError, 'ERR_INVALID_ARG_VALUE', `${name} is not an IPv4 address: ${JSON.stringify(v)}`);
}

function mask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/** RFC 2464 §7 for an address in latin1 form. */
function ipv6MulticastMac6(a: string): MacAddress {
  const b = new Uint8Array(16);
  for (let i = 12; i < 16; i++) b[i] = a.charCodeAt(i);
  return ipv6MulticastMac(b);
}

/** Multicast groups (MACs) joined at most. */
export const MAX_MULTICAST_MACS = 256;
/** 224.0.0.1, all-hosts: every IPv4 multicast host is a member (RFC 1112 §4). */
const ALL_HOSTS_MAC = ipv4MulticastMac(0xe0000001);

/** RFC 4861 §10: MAX_REACHABLE_TIME, the most an RA's Reachable Time may say (also taken as the Retrans Timer's bound). */
const MAX_REACHABLE_TIME_MS = 3_600_000;

export class EthernetInterface {
  readonly mac: MacAddress;
  #mtu: number;
  readonly #link: FrameLink;
  readonly #clock: Scheduler;
  readonly #c = newStats();
  readonly #cache: NeighbourCache;
  readonly #cache6: NeighbourCache<string>;
  /** Our IPv6 addresses (latin1 strings), their prefix, the router. */
  /** The usable ones (answered for, sources): the table's `usable()`, refreshed on each change. */
  #addresses6: string[] = [];
  /** IPv6 is on (configured, or SLAAC). */
  #ipv6On = false;
  #prefix6 = 64;
  /** The configured router; else the RA's. */
  #gateway6Config: string | undefined;
  #gateway6: string | undefined;
  /** DAD, SLAAC, routers (addr6.ts). */
  readonly #addr6: Ipv6AddressTable;
  /** Addresses whose solicited-node group is joined (every address in the table). */
  readonly #snJoined = new Set<string>();
  readonly #onConflict6: EthernetInterfaceOptions['onConflict6'];
  readonly #onIpv6Change: EthernetInterfaceOptions['onIpv6Change'];
  readonly #onRouterParams: EthernetInterfaceOptions['onRouterParams'];
  readonly #ndpBuf = new Uint8Array(ETHERNET_HEADER_LEN + NDP_PACKET_LEN);
  readonly #acd: AddressTable;
  #address: number | undefined;
  #prefixLength = 0;
  #gateway: number | undefined;
  #directed = -1;
  readonly #groups = new Map<MacAddress, number>();
  /** IGMP and MLD host state (mcast.ts): the groups reported, their timers. */
  readonly #igmp: GroupMembership<number>;
  readonly #mld: GroupMembership<string>;
  #ipId = 0;
  readonly #mcastBuf: Uint8Array;
  /** Groups whose MAC `setIpv4GroupFilter` / `setIpv6GroupFilter` holds a reference to. */
  readonly #filterMacs = new Set<number | string>();
  #receiver: FrameReceiver | undefined;
  #closed = false;
  readonly #onUnreachable: EthernetInterfaceOptions['onUnreachable'];
  readonly #onConflict: EthernetInterfaceOptions['onConflict'];
  // Receive and send scratch (no allocation per packet).
  readonly #rxRepr: EthernetRepr = emptyEthernetRepr();
  readonly #arpRepr: ArpRepr = emptyArpRepr();
  readonly #txRepr: EthernetRepr = emptyEthernetRepr();
  readonly #txArp: ArpRepr = emptyArpRepr();
  readonly #frameBuf: Uint8Array;
  readonly #arpBuf = new Uint8Array(ETHERNET_HEADER_LEN + ARP_LEN);
  readonly #views = new ViewCache();
  #rxBytes = 0;
  #txBytes = 0;
  #inBatch = false;
  #rxNow = 0;
  /** The link's offloads, read once (a device's do not change while it is open); undefined without sendOffload. */
  readonly #offload: LinkOffload | undefined;
  /** Bytes the link writes before a frame in sendOffload (its vnet header). */
  readonly #linkHeadroom: number;
  /** sendOffload: whole-buffer views of the IP layer's output buffers (a few), to frame in their headroom. */
  readonly #offBases: (Uint8Array | undefined)[] = [undefined, undefined, undefined, undefined];
  /** sendOffload without enough headroom: the frame is built here (allocated on first use). */
  #offBuf: Uint8Array | undefined;
  /** #writeHeader's last header and what it was made for. */
  readonly #hdr = new Uint8Array(ETHERNET_HEADER_LEN);
  #hdrDst = -1;
  #hdrType = -1;
  /** The offsets of the packet being queued by sendOffload (for #completeQueued). */
  #qCsumStart = 0;
  #qCsumOffset = 0;
  /** Completes an offloaded packet's checksum in the neighbour queue's copy (bound once). */
  readonly #completeQueued = (copy: Uint8Array): void => { completePartialChecksum(copy, this.#qCsumStart, this.#qCsumOffset); };
  #timer: unknown = undefined;
  #timerAt = Infinity;

  constructor(options: EthernetInterfaceOptions) {
    if (typeof options !== 'object' || options === null) throw codeError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options must be an object');
    const link = options.link;
    if (typeof link !== 'object' || link === null || typeof link.send !== 'function' || typeof link.setReceiver !== 'function') {
      throw codeError(TypeError, 'ERR_INVALID_ARG_TYPE', 'options.link must be a frame link (send, setReceiver, mtu)');
    }
    const random = options.random ?? Math.random;
    let mac: MacAddress;
    if (options.mac === undefined) mac = randomMac(random);
    else if (typeof options.mac === 'string') {
      const m = parseMac(options.mac);
      if (m === undefined) throw codeError(TypeError, 'ERR_INVALID_ARG_VALUE', `options.mac is not a MAC address: ${JSON.stringify(options.mac)}`);
      mac = m;
    } else mac = options.mac;
    if (typeof mac !== 'number' || !Number.isInteger(mac) || mac < 0 || mac > MAC_BROADCAST || !isUnicastMac(mac)) {
      throw codeError(TypeError, 'ERR_INVALID_ARG_VALUE', `options.mac must be a unicast MAC address; got ${typeof mac === 'number' ? formatMac(mac) : String(mac)}`);
    }
    this.mac = mac;
    const mtu = options.mtu ?? link.mtu - ETHERNET_HEADER_LEN;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu + ETHERNET_HEADER_LEN > link.mtu) {
      throw codeError(RangeError, 'ERR_OUT_OF_RANGE', `the IP MTU must be an integer in 68..link.mtu - 14 (${link.mtu - ETHERNET_HEADER_LEN}); got ${mtu}`);
    }
    this.#mtu = mtu;
    // The largest frame the link takes, whatever the IP MTU is now (setMtu): a packet queued
    // for resolution under a larger MTU still fits when it is flushed.
    this.#frameBuf = new Uint8Array(Math.max(link.mtu, ETHERNET_HEADER_LEN + mtu));
    this.#link = link;
    this.#offload = typeof link.sendOffload === 'function' ? link.offload ?? undefined : undefined;
    this.#linkHeadroom = this.#offload === undefined ? 0 : link.offloadHeadroom ?? 0;
    this.#clock = options.clock ?? realTimeScheduler;
    this.#onUnreachable = options.onUnreachable;
    this.#onConflict = options.onConflict;
    this.#cache = new NeighbourCache({
      solicit: (target, dstMac, now) => this.#sendRequest(target, dstMac, now),
      transmit: (packet, dstMac) => { this.#transmit(packet, dstMac, false); },
      unreachable: (packet, target, now) => this.#onUnreachable?.(packet, target, now),
    }, options.neighbour, random);
    this.#cache6 = new NeighbourCache<string>({
      solicit: (target, dstMac) => this.#sendSolicit(target, dstMac),
      transmit: (packet, dstMac) => { this.#transmit(packet, dstMac, false, ETHERTYPE_IPV6); },
      unreachable: (packet, target, now) => this.#onUnreachable?.(packet, target, now),
    }, options.neighbour, random);
    this.#acd = new AddressTable({
      probe: (address) => this.#sendArp(ARP_REQUEST, MAC_BROADCAST, 0, MAC_ZERO, address, 'ArpOutProbes'),
      announce: (address) => this.#sendArp(ARP_REQUEST, MAC_BROADCAST, address, MAC_ZERO, address, 'ArpOutAnnouncements'),
      conflict: (event, now) => {
        this.#c.ArpConflicts++;
        if (event.phase === 'probe' && event.address === this.#address) this.#address = undefined;
        this.#onConflict?.(event, now);
      },
    }, options.acd, random);
    this.#groups.set(ALL_HOSTS_MAC, 1);
    this.#mcastBuf = new Uint8Array(link.mtu);
    this.#igmp = new GroupMembership<number>((m) => this.#sendIgmp(m), options.igmp, random);
    this.#mld = new GroupMembership<string>((m) => this.#sendMld(m), options.mld, random);
    this.#onConflict6 = options.onConflict6;
    this.#onIpv6Change = options.onIpv6Change;
    this.#onRouterParams = options.onRouterParams;
    this.#addr6 = new Ipv6AddressTable({
      dadSolicit: (target) => this.#sendDadProbe(target),
      routerSolicit: () => this.#sendRs(),
      changed: (now) => this.#addresses6Changed(now),
      conflict: (address, mac, phase, now) => this.#onConflict6?.({ address, mac, phase }, now),
    }, eui64(mac), options.addr6, random);
    link.setReceiver({
      packet: (frame, meta) => {
        if (!this.#inBatch) { this.#inBatch = true; this.#rxNow = this.#clock.now(); }
        this.input(frame, this.#rxNow, meta);
      },
      batchEnd: () => {
        this.#inBatch = false;
        this.#rearm();
        this.#receiver?.batchEnd?.();
      },
    });
    if (options.ipv4 !== undefined) this.configureIpv4(options.ipv4);
    if (options.ipv6 !== undefined) this.configureIpv6(options.ipv6);
  }

  /**
   * Sets the IPv6 addresses, their on-link prefix and the default router; joins all-nodes
   * and each address's solicited-node group (RFC 4861 §7.2.1, reported by MLD) and runs
   * DAD (`dad`, default optimistic; RFC 4862 §5.4). With `slaac`, adds the link-local
   * address and starts router solicitation (addr6.ts). Addresses SLAAC formed stay.
   */
  configureIpv6(config: Ipv6Config): void {
    const addr = (name: string, v: unknown): string => {
      if (typeof v === 'string' && v.length === 16 && !/[^\x00-\xff]/.test(v)) return v;
      if (v instanceof Uint8Array && v.length === 16) return bytesToAddress(v);
      throw codeError(TypeError, 'ERR_INVALID_ARG_VALUE', `${name} must be an IPv6 address (16 bytes, or @netstack/ip's Ipv6Address)`);
    };
    const addresses = [...config.addresses].map((a, i) => addr(`ipv6.addresses[${i}]`, a));
    if ((addresses.length === 0 && config.slaac !== true) || addresses.length > 16 || addresses.some((a) => isMulticast6(a) || a === IPV6_UNSPECIFIED)) {
      throw codeError(TypeError, 'ERR_INVALID_ARG_VALUE', 'ipv6.addresses must hold 1..16 unicast addresses (or none, with slaac)');
    }
    if (!Number.isInteger(config.prefixLength) || config.prefixLength < 1 || config.prefixLength > 128) {
      throw codeError(RangeError, 'ERR_OUT_OF_RANGE', `ipv6.prefixLength must be an integer in 1..128; got ${config.prefixLength}`);
    }
    const dad = config.dad ?? 'optimistic';
    if (dad !== 'full' && dad !== 'optimistic' && dad !== 'none') throw codeError(TypeError, 'ERR_INVALID_ARG_VALUE', "ipv6.dad must be 'full', 'optimistic' or 'none'");
    const now = this.#clock.now();
    if (!this.#ipv6On) {
      this.#ipv6On = true;
      this.joinMulticast(ipv6MulticastMac6(IPV6_ALL_NODES));
    }
    this.#prefix6 = config.prefixLength;
    this.#gateway6Config = config.gateway === undefined ? undefined : addr('ipv6.gateway', config.gateway);
    // Static addresses no longer listed go; SLAAC's and the link-local one SLAAC made stay.
    for (const e of this.#addr6.list()) if (e.origin === 'static' && !addresses.includes(e.address)) this.#addr6.remove(e.address, now);
    for (const a of addresses) this.#addr6.add(a, now, { origin: 'static', dad });
    if (config.slaac === true && !this.#addr6.slaac) {
      const ll = '\xfe\x80' + '\0'.repeat(6) + eui64(this.mac);
      if (!this.#addr6.has(ll)) this.#addr6.add(ll, now, { origin: 'link-local', dad: 'full' });
      this.#addr6.startSlaac(now);
    }
    this.#addresses6Changed(now);
    if (!this.#inBatch) this.#rearm();
  }

  /** The table changed: the usable list, the groups, the router; the IPv6 layer is told. */
  #addresses6Changed(now: number): void {
    // RFC 4862 §5.4.2: the solicited-node group of every address, tentative ones first of all.
    const all = new Set(this.#addr6.list().map((e) => e.address));
    for (const a of [...this.#snJoined]) {
      if (all.has(a)) continue;
      this.#snJoined.delete(a);
      this.leaveIpv6Group(solicitedNodeAddress(a), now);
    }
    for (const a of all) {
      if (this.#snJoined.has(a)) continue;
      this.#snJoined.add(a);
      this.joinIpv6Group(solicitedNodeAddress(a), now);
    }
    const usable = this.#addr6.usable();
    const router = this.#addr6.router();
    const gateway = this.#gateway6Config ?? router?.address;
    const same = gateway === this.#gateway6 && usable.length === this.#addresses6.length && usable.every((a, i) => a === this.#addresses6[i]);
    this.#addresses6 = usable;
    this.#gateway6 = gateway;
    if (router?.mac !== undefined && isUnicastMac(router.mac) && this.#cache6.get(router.address) === undefined) {
      // RFC 4861 §6.3.4: the RA's source link-layer address creates a STALE entry.
      this.#cache6.create(router.address, router.mac, now);
    }
    if (!same) this.#onIpv6Change?.({ addresses: [...usable], gateway }, now);
  }

  /** Our IPv6 addresses with their DAD / SLAAC state and lifetimes (tentative ones too). */
  ipv6Addresses(): Addr6Info[] {
    return this.#addr6.list();
  }

  /** The usable IPv6 addresses (answered for, sources) and the default router in use. */
  get ipv6(): { addresses: string[]; gateway: string | undefined } {
    return { addresses: [...this.#addresses6], gateway: this.#gateway6 };
  }

  // ---- configuration -------------------------------------------------------------------

  /** The IP MTU: the largest IPv4/IPv6 packet `send` takes (what the IP layers above read). */
  get mtu(): number {
    return this.#mtu;
  }

  /**
   * Changes the IP MTU (a DHCP lease's option 26, RFC 2132 §5.1): 68..link.mtu - 14. The IP
   * layers read it on each use, so new datagrams and new TCP connections follow at once;
   * open connections keep the MSS they agreed. Packets already queued for resolution leave as they are.
   */
  setMtu(mtu: number): void {
    const max = this.#link.mtu - ETHERNET_HEADER_LEN;
    if (!Number.isInteger(mtu) || mtu < 68 || mtu > max) {
      throw codeError(RangeError, 'ERR_OUT_OF_RANGE', `the IP MTU must be an integer in 68..link.mtu - 14 (${max}); got ${mtu}`);
    }
    this.#mtu = mtu;
  }

  /**
   * Sets the IPv4 address, on-link prefix and gateway (replacing any earlier one), and
   * announces it (or probes first, `probe: true`). The IP layer above must be given the
   * same values.
   */
  configureIpv4(config: Ipv4Config): void {
    const address = toIpv4('ipv4.address', config.address);
    const prefixLength = config.prefixLength;
    if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > 32) {
      throw codeError(RangeError, 'ERR_OUT_OF_RANGE', `ipv4.prefixLength must be an integer in 0..32; got ${prefixLength}`);
    }
    const gateway = config.gateway === undefined ? undefined : toIpv4('ipv4.gateway', config.gateway);
    if (gateway !== undefined && ((gateway ^ address) & mask(prefixLength)) !== 0) {
      throw codeError(TypeError, 'ERR_INVALID_ARG_VALUE', 'ipv4.gateway must be on-link');
    }
    if (this.#address !== undefined) this.#acd.remove(this.#address);
    this.#address = address;
    this.#prefixLength = prefixLength;
    this.#gateway = gateway;
    this.#directed = prefixLength >= 31 ? -1 : ((address | ~mask(prefixLength)) >>> 0);
    this.#acd.add(address, this.#clock.now(), { probe: config.probe === true });
    this.#poll(this.#clock.now());
  }

  /** Another address of ours on this link (answered for; announced, or probed first). */
  addAddress(address: number | string, options: { probe?: boolean } = {}): boolean {
    const ok = this.#acd.add(toIpv4('address', address), this.#clock.now(), options);
    this.#poll(this.#clock.now());
    return ok;
  }

  removeAddress(address: number | string): boolean {
    const a = toIpv4('address', address);
    if (a === this.#address) this.#address = undefined;
    return this.#acd.remove(a);
  }

  /** 'probing' (tentative), 'bound', or undefined when not ours. */
  addressState(address: number | string): 'probing' | 'bound' | undefined {
    return this.#acd.state(toIpv4('address', address));
  }

  /** Accept frames to a multicast MAC (reference counted). False when MAX_MULTICAST_MACS are joined. */
  joinMulticast(mac: MacAddress): boolean {
    if (!isMulticastMac(mac)) throw codeError(TypeError, 'ERR_INVALID_ARG_VALUE', `${formatMac(mac)} is not a multicast MAC`);
    const n = this.#groups.get(mac);
    if (n === undefined && this.#groups.size >= MAX_MULTICAST_MACS) return false;
    this.#groups.set(mac, (n ?? 0) + 1);
    return true;
  }

  leaveMulticast(mac: MacAddress): boolean {
    const n = this.#groups.get(mac);
    if (n === undefined) return false;
    if (n <= 1) this.#groups.delete(mac);
    else this.#groups.set(mac, n - 1);
    return true;
  }

  /**
   * Joins an IPv4 group (reference counted): its MAC (RFC 1112 §6.4) passes the filter, and
   * IGMP reports the group (mcast.ts; never 224.0.0.1, RFC 2236 §6). False when the MAC
   * table is full.
   */
  joinIpv4Group(group: number | string, now = this.#clock.now()): boolean {
    const g = toIpv4('group', group);
    if (g >>> 28 !== 0xe) throw codeError(TypeError, 'ERR_INVALID_ARG_VALUE', `${String(group)} is not an IPv4 multicast group`);
    if (!this.joinMulticast(ipv4MulticastMac(g))) return false;
    if (g !== ALL_SYSTEMS) this.#igmp.join(g, now);
    if (!this.#inBatch) this.#rearm();
    return true;
  }

  /** The last reference sends IGMP's leave (v3 TO_IN({}), v2 Leave Group). */
  leaveIpv4Group(group: number | string, now = this.#clock.now()): boolean {
    const g = toIpv4('group', group);
    if (!this.leaveMulticast(ipv4MulticastMac(g))) return false;
    if (g !== ALL_SYSTEMS) this.#igmp.leave(g, now);
    if (!this.#inBatch) this.#rearm();
    return true;
  }

  /**
   * Joins an IPv6 group (16 bytes or a 16-character latin1 string; reference counted): its
   * MAC (RFC 2464 §7), and MLD reports it unless it is ff02::1 or of scope 0/1 (RFC 3810 §6).
   */
  joinIpv6Group(group: string | Uint8Array, now = this.#clock.now()): boolean {
    const g = typeof group === 'string' ? group : bytesToAddress(group);
    if (g.length !== 16 || !isMulticast6(g)) throw codeError(TypeError, 'ERR_INVALID_ARG_VALUE', 'not an IPv6 multicast group');
    if (!this.joinMulticast(ipv6MulticastMac6(g))) return false;
    if (mldReportable(g)) this.#mld.join(g, now);
    if (!this.#inBatch) this.#rearm();
    return true;
  }

  leaveIpv6Group(group: string | Uint8Array, now = this.#clock.now()): boolean {
    const g = typeof group === 'string' ? group : bytesToAddress(group);
    if (!this.leaveMulticast(ipv6MulticastMac6(g))) return false;
    if (mldReportable(g)) this.#mld.leave(g, now);
    if (!this.#inBatch) this.#rearm();
    return true;
  }

  /**
   * Sets an IPv4 group's source filter (RFC 3376 §3.2: the merge of the sockets' filters,
   * as the stack's UDP layer computes it): a member state (EXCLUDE, or INCLUDE with sources)
   * holds the MAC open and IGMPv3 reports the change with its sources (ALLOW / BLOCK /
   * TO_IN / TO_EX); INCLUDE {} leaves. False when the MAC table or the group table is full.
   */
  setIpv4GroupFilter(group: number | string, filter: GroupFilter<number | string>, now = this.#clock.now()): boolean {
    const g = toIpv4('group', group);
    if (g >>> 28 !== 0xe) throw codeError(TypeError, 'ERR_INVALID_ARG_VALUE', `${String(group)} is not an IPv4 multicast group`);
    const f = { mode: filter.mode, sources: filter.sources.map((x) => toIpv4('source', x)) };
    if (!this.#filterMac(g, ipv4MulticastMac(g), f.mode === 'exclude' || f.sources.length > 0)) return false;
    const ok = g === ALL_SYSTEMS || this.#igmp.setFilter(g, f, now);
    if (!this.#inBatch) this.#rearm();
    return ok;
  }

  /** `setIpv4GroupFilter` for an IPv6 group, reported by MLDv2 (addresses as 16-character strings). */
  setIpv6GroupFilter(group: string | Uint8Array, filter: GroupFilter<string>, now = this.#clock.now()): boolean {
    const g = typeof group === 'string' ? group : bytesToAddress(group);
    if (g.length !== 16 || !isMulticast6(g)) throw codeError(TypeError, 'ERR_INVALID_ARG_VALUE', 'not an IPv6 multicast group');
    if (!this.#filterMac(g, ipv6MulticastMac6(g), filter.mode === 'exclude' || filter.sources.length > 0)) return false;
    const ok = !mldReportable(g) || this.#mld.setFilter(g, filter, now);
    if (!this.#inBatch) this.#rearm();
    return ok;
  }

  /** One MAC reference per filtered group while it is a member. */
  #filterMac(key: number | string, mac: MacAddress, member: boolean): boolean {
    const had = this.#filterMacs.has(key);
    if (member && !had) {
      if (!this.joinMulticast(mac)) return false;
      this.#filterMacs.add(key);
    } else if (!member && had) {
      this.leaveMulticast(mac);
      this.#filterMacs.delete(key);
    }
    return true;
  }

  /** The IGMP and MLD host state machines (mcast.ts), for their groups, version and counters. */
  get igmp(): GroupMembership<number> {
    return this.#igmp;
  }

  get mld(): GroupMembership<string> {
    return this.#mld;
  }

  /**
   * Upper-layer reachability confirmation (Linux neigh_confirm, RFC 4861 §7.3.1), e.g. on a
   * TCP ACK for new data: an IPv4 number or an IPv6 address (16 latin1 characters).
   */
  confirmNeighbour(ip: number | string, now = this.#clock.now()): void {
    if (typeof ip === 'number') this.#cache.confirm(ip, now);
    else this.#cache6.confirm(ip, now);
  }

  get neighbours(): NeighbourCache {
    return this.#cache;
  }

  /** The IPv6 neighbour cache (keys: 16-character latin1 addresses). */
  get neighbours6(): NeighbourCache<string> {
    return this.#cache6;
  }

  get addresses(): AddressTable {
    return this.#acd;
  }

  // ---- the Link shape, IP side ---------------------------------------------------------

  setReceiver(receiver: FrameReceiver): void {
    this.#receiver = receiver;
  }

  pollNow(): number {
    return this.#link.pollNow?.() ?? 0;
  }

  /**
   * The Link shape's counters, at the IP level (what a TUN device would report), so a stack
   * that takes a `Link` can take this interface: Rx = IPv4 packets handed up, Tx = IPv4
   * packets that left in frames, TxDropped = packets `send` refused or lost later,
   * RxDropped = frames dropped here (ARP frames are in neither). `counters()` has the detail.
   */
  stats(): IpLinkStats {
    const c = this.#c;
    const n = this.#cache.stats();
    const n6 = this.#cache6.stats();
    return {
      RxPackets: c.InIpv4 + c.InIpv6, RxBytes: this.#rxBytes, TxPackets: c.OutSent + c.OutFlushed, TxBytes: this.#txBytes,
      TxDropped: c.OutPackets - c.OutSent - c.OutQueued + c.OutFlushLinkDrops + n.UnresolvedDiscards + n.UnreachableReports +
        n6.UnresolvedDiscards + n6.UnreachableReports,
      RxDropped: c.InFrames - c.InIpv4 - c.InIpv6 - c.InArp - c.NdpInSolicits - c.NdpInAdverts - c.NdpInRouterAdverts - c.IgmpInQueries -
        c.IgmpInReports - c.IgmpInOther - c.MldInQueries - c.MldInReports - c.MldInOther,
    };
  }

  counters(): {
    ethernet: EthernetStats; neighbour: NeighbourStats; neighbour6: NeighbourStats; acd: ReturnType<AddressTable['stats']>; igmp: McastStats; mld: McastStats;
    addr6: Addr6Stats;
  } {
    return {
      ethernet: { ...this.#c }, neighbour: this.#cache.stats(), neighbour6: this.#cache6.stats(), acd: this.#acd.stats(), igmp: this.#igmp.stats(),
      mld: this.#mld.stats(), addr6: this.#addr6.stats(),
    };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.cancel(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Infinity;
    this.#cache.clear();
    this.#cache6.clear();
    this.#igmp.clear();
    this.#mld.clear();
    this.#link.close?.();
  }

  /** One IPv4 packet from the IP layer (borrowed for the call). */
  send(packet: Uint8Array): boolean {
    const c = this.#c;
    c.OutPackets++;
    if (this.#closed) {
      c.OutDropClosed++;
      return false;
    }
    const version = packet.length > 0 ? packet[0]! >>> 4 : 0;
    if (version === 6) return this.#send6(packet);
    if (version !== 4 || packet.length < 20) {
      c.OutDropMalformed++;
      return false;
    }
    if (packet.length > this.mtu) {
      c.OutDropTooBig++;
      return false;
    }
    const dst = ((packet[16]! << 24) | (packet[17]! << 16) | (packet[18]! << 8) | packet[19]!) >>> 0;
    if (dst === 0xffffffff || dst === this.#directed) return this.#transmit(packet, MAC_BROADCAST, true);
    if (dst >>> 28 === 0xe) return this.#transmit(packet, ipv4MulticastMac(dst), true);
    const address = this.#address;
    if (address === undefined) {
      c.OutDropNoRoute++;
      return false;
    }
    if (this.#acd.isOurs(dst)) {
      c.OutDropLocal++;
      return false;
    }
    const m = mask(this.#prefixLength);
    const hop = ((dst ^ address) & m) === 0 ? dst : this.#gateway;
    if (hop === undefined) {
      c.OutDropNoRoute++;
      return false;
    }
    const now = this.#inBatch ? this.#rxNow : this.#clock.now();
    const r = this.#cache.output(hop, packet, now);
    let ok: boolean;
    if (typeof r === 'number') ok = this.#transmit(packet, r, true);
    else if (r === 'queued') {
      c.OutQueued++;
      ok = true;
    } else {
      c.OutDropNeighbour++;
      ok = false;
    }
    if (!this.#inBatch) this.#rearm();
    return ok;
  }

  // ---- offloads (a TAP with a vnet header) ---------------------------------------------

  /**
   * The link's offloads (checksum, TSO4/TSO6, USO on receive), when it takes offloaded
   * frames (`sendOffload`): the IP layers then hand over partial checksums and TCP
   * super-segments, and the interface frames them for the link. Undefined otherwise.
   */
  get offload(): LinkOffload | undefined {
    return this.#offload;
  }

  /**
   * Headroom the IP layers keep before each datagram they pass to `sendOffload`: the
   * Ethernet header (14) and whatever the link itself writes before the frame (a TAP's
   * 12-byte virtio-net header), so header, frame and datagram leave in one write, uncopied.
   */
  get offloadHeadroom(): number | undefined {
    return this.#offload === undefined ? undefined : ETHERNET_HEADER_LEN + this.#linkHeadroom;
  }

  /**
   * LinkOutput.sendOffload: one TCP packet (IPv4 or IPv6 by its version nibble) with a
   * partial checksum, a super-segment when larger than the MTU. The next hop is chosen and
   * resolved as for `send`; the Ethernet header is written into the 14 bytes before the
   * packet (the headroom the IP layer keeps) and the frame goes to the link's
   * `sendOffload` with csumStart + 14 (virtio offsets count from the frame's first byte).
   * A packet that must wait for resolution is queued with its checksum completed (the
   * queue leaves by plain `send`); a super-segment cannot wait (OutDropGsoUnresolved).
   */
  sendOffload(packet: Uint8Array, gsoSize: number, csumStart: number, csumOffset: number): boolean {
    const c = this.#c;
    c.OutPackets++;
    if (this.#closed) {
      c.OutDropClosed++;
      return false;
    }
    const off = this.#offload;
    const len = packet.length;
    const version = len > 0 ? packet[0]! >>> 4 : 0;
    const v6 = version === 6;
    const ipHeader = v6 ? 40 : 20;
    if (off === undefined || (version !== 4 && !v6) || len < ipHeader || csumStart < ipHeader || csumStart + csumOffset + 2 > len) {
      c.OutDropMalformed++;
      return false;
    }
    const big = len > this.mtu;
    if (big && !(gsoSize > 0 && (v6 ? off.tso6 === true : off.tso4) && len <= (v6 ? 40 + 65535 : 65535))) {
      c.OutDropTooBig++;
      return false;
    }
    // The next hop, as `send` / `#send6` choose it.
    let hop: number | string;
    if (v6) {
      if (this.#addresses6.length === 0) {
        c.OutDropIpv6++;
        return false;
      }
      const dst = bytesToAddress(packet, 24);
      if (isMulticast6(dst)) return this.#transmitOffload(packet, ipv6MulticastMac6(dst), ETHERTYPE_IPV6, gsoSize, csumStart, csumOffset, big);
      if (this.#addresses6.includes(dst)) {
        c.OutDropLocal++;
        return false;
      }
      const onLink = isLinkLocal6(dst) || this.#addresses6.some((a) => sameprefix6(a, dst, this.#prefix6));
      const h = onLink ? dst : this.#gateway6;
      if (h === undefined) {
        c.OutDropNoRoute++;
        return false;
      }
      hop = h;
    } else {
      const dst = ((packet[16]! << 24) | (packet[17]! << 16) | (packet[18]! << 8) | packet[19]!) >>> 0;
      if (dst === 0xffffffff || dst === this.#directed) return this.#transmitOffload(packet, MAC_BROADCAST, ETHERTYPE_IPV4, gsoSize, csumStart, csumOffset, big);
      if (dst >>> 28 === 0xe) return this.#transmitOffload(packet, ipv4MulticastMac(dst), ETHERTYPE_IPV4, gsoSize, csumStart, csumOffset, big);
      const address = this.#address;
      if (address === undefined) {
        c.OutDropNoRoute++;
        return false;
      }
      if (this.#acd.isOurs(dst)) {
        c.OutDropLocal++;
        return false;
      }
      const h = ((dst ^ address) & mask(this.#prefixLength)) === 0 ? dst : this.#gateway;
      if (h === undefined) {
        c.OutDropNoRoute++;
        return false;
      }
      hop = h;
    }
    const now = this.#inBatch ? this.#rxNow : this.#clock.now();
    if (big) {
      // Only a usable entry takes a super-segment (one lookup per ~64 KB).
      if (!(typeof hop === 'number' ? this.#cache.usable(hop) : this.#cache6.usable(hop))) {
        c.OutDropGsoUnresolved++;
        return false;
      }
    }
    this.#qCsumStart = csumStart;
    this.#qCsumOffset = csumOffset;
    const r = typeof hop === 'number'
      ? this.#cache.output(hop, packet, now, this.#completeQueued)
      : this.#cache6.output(hop, packet, now, this.#completeQueued);
    let ok: boolean;
    if (typeof r === 'number') ok = this.#transmitOffload(packet, r, v6 ? ETHERTYPE_IPV6 : ETHERTYPE_IPV4, gsoSize, csumStart, csumOffset, big);
    else if (r === 'queued') {
      c.OutQueued++;
      ok = true;
    } else {
      c.OutDropNeighbour++;
      ok = false;
    }
    if (!this.#inBatch) this.#rearm();
    return ok;
  }

  /** Frames `packet` in the 14 bytes before it (or in #offBuf) and hands it to the link's sendOffload. */
  #transmitOffload(packet: Uint8Array, dst: MacAddress, ethertype: number, gsoSize: number, csumStart: number, csumOffset: number, big: boolean): boolean {
    const c = this.#c;
    const l2 = ETHERNET_HEADER_LEN;
    const len = packet.length;
    const linkRoom = this.#linkHeadroom;
    let frame: Uint8Array;
    if (packet.byteOffset >= l2 + linkRoom) {
      // In place: a whole-buffer view of the packet's ArrayBuffer (cached: the IP layers
      // send from a few buffers), and the frame a cached view of it.
      const bases = this.#offBases;
      let base = bases[0]!;
      if (base === undefined || base.buffer !== packet.buffer) {
        base = bases.find((b) => b !== undefined && b.buffer === packet.buffer) ?? this.#newOffBase(packet.buffer as ArrayBuffer);
      }
      frame = this.#views.view(base, packet.byteOffset - l2, packet.byteOffset + len);
    } else {
      const buf = (this.#offBuf ??= new Uint8Array(linkRoom + l2 + 40 + 65535));
      buf.set(packet, linkRoom + l2);
      frame = this.#views.view(buf, linkRoom, linkRoom + l2 + len);
    }
    this.#writeHeader(frame, dst, ethertype);
    const ok = this.#link.sendOffload!(frame, gsoSize, csumStart + l2, csumOffset);
    c.OutOffload++;
    if (big) c.OutOffloadGso++;
    if (ok) {
      this.#txBytes += len;
      c.OutSent++;
    } else c.OutLinkDrops++;
    return ok;
  }

  /**
   * The 14-byte header of an IP frame at `frame[0]`: from the bytes made for the last
   * (destination, EtherType), which a flow repeats packet after packet (MAC numbers are
   * 48-bit doubles: writing one costs two float divisions, copying 14 bytes does not).
   */
  #writeHeader(frame: Uint8Array, dst: MacAddress, ethertype: number): void {
    const h = this.#hdr;
    if (dst !== this.#hdrDst || ethertype !== this.#hdrType) {
      const t = this.#txRepr;
      t.dst = dst;
      t.src = this.mac;
      t.ethertype = ethertype;
      emitEthernet(t, h, 0);
      this.#hdrDst = dst;
      this.#hdrType = ethertype;
    }
    for (let i = 0; i < ETHERNET_HEADER_LEN; i++) frame[i] = h[i]!;
  }

  #newOffBase(buffer: ArrayBuffer): Uint8Array {
    const base = new Uint8Array(buffer);
    const bases = this.#offBases;
    // Most recent first: the next packet most likely comes from the same buffer.
    for (let i = bases.length - 1; i > 0; i--) bases[i] = bases[i - 1];
    bases[0] = base;
    return base;
  }

  // ---- receive -------------------------------------------------------------------------

  /** One frame from the link (borrowed for the call). Never throws for bad input. */
  input(frame: Uint8Array, now: number, meta?: PacketMeta): void {
    const c = this.#c;
    c.InFrames++;
    if (this.#closed) {
      c.InDropClosed++;
      return;
    }
    const r = parseEthernet(frame, this.#rxRepr);
    if (typeof r === 'string') {
      if (r === 'truncated') c.InDropTruncated++;
      else if (r === 'bad-source') c.InDropBadSource++;
      else if (r === 'length-type') c.InDropLengthType++;
      else c.InDropVlan++;
      return;
    }
    const dst = r.dst;
    let unicast = false;
    if (dst === this.mac) {
      c.InUnicast++;
      unicast = true;
    } else if (dst === MAC_BROADCAST) {
      c.InBroadcast++;
    } else if (isMulticastMac(dst)) {
      if (!this.#groups.has(dst)) {
        c.InDropMulticastNotJoined++;
        return;
      }
      c.InMulticast++;
    } else {
      c.InDropOtherHost++;
      return;
    }
    switch (r.ethertype) {
      case ETHERTYPE_IPV4: {
        if (frame.length > ETHERNET_HEADER_LEN + 9 && frame[ETHERNET_HEADER_LEN + 9] === IPPROTO_IGMP && frame[ETHERNET_HEADER_LEN]! >>> 4 === 4) {
          this.#igmpInput(this.#views.view(frame, ETHERNET_HEADER_LEN, frame.length), now);
          if (!this.#inBatch) this.#rearm();
          return;
        }
        c.InIpv4++;
        this.#rxBytes += frame.length - ETHERNET_HEADER_LEN;
        const receiver = this.#receiver;
        if (receiver === undefined) return;
        const payload = this.#views.view(frame, ETHERNET_HEADER_LEN, frame.length);
        if (meta === undefined) receiver.packet(payload);
        else receiver.packet(payload, meta);
        return;
      }
      case ETHERTYPE_ARP:
        c.InArp++;
        this.#arpInput(this.#views.view(frame, ETHERNET_HEADER_LEN, frame.length), now, unicast);
        if (!this.#inBatch) this.#rearm();
        return;
      case ETHERTYPE_IPV6: {
        if (!this.#ipv6On) {
          c.InDropIpv6++;
          return;
        }
        const payload = this.#views.view(frame, ETHERNET_HEADER_LEN, frame.length);
        const nd = parseNdp(payload);
        if (nd === 'not-ndp' && this.#raInput(payload, r.src, now)) {
          if (!this.#inBatch) this.#rearm();
          return;
        }
        if (nd === 'not-ndp' && this.#mldInput(payload, now)) {
          if (!this.#inBatch) this.#rearm();
          return;
        }
        if (nd === 'not-ndp') {
          c.InIpv6++;
          this.#rxBytes += payload.length;
          const receiver = this.#receiver;
          if (receiver === undefined) return;
          if (meta === undefined) receiver.packet(payload);
          else receiver.packet(payload, meta);
          return;
        }
        if (typeof nd === 'string') {
          c.NdpInInvalid++;
          return;
        }
        this.#ndpInput(nd, r.src, now);
        if (!this.#inBatch) this.#rearm();
        return;
      }
      default:
        c.InDropUnknownType++;
    }
  }

  /** IGMP, consumed here (igmp.ts): queries and other hosts' reports drive the machine. */
  #igmpInput(packet: Uint8Array, now: number): void {
    const c = this.#c;
    const m = parseIgmp(packet);
    if (typeof m === 'string') {
      c.IgmpInInvalid++;
      return;
    }
    if (m.type === 'query') {
      c.IgmpInQueries++;
      this.#igmp.query(m.query, now);
    } else if (m.type === 'report') {
      c.IgmpInReports++;
      this.#igmp.heard(m.group, now);
    } else c.IgmpInOther++;
  }

  /** MLD, consumed here (mld.ts); false for any other IPv6 packet. */
  #mldInput(packet: Uint8Array, now: number): boolean {
    const c = this.#c;
    const m = parseMld(packet);
    if (m === 'not-mld') return false;
    if (typeof m === 'string') c.MldInInvalid++;
    else if (m.type === 'query') {
      c.MldInQueries++;
      this.#mld.query(m.query, now);
    } else if (m.type === 'report') {
      c.MldInReports++;
      this.#mld.heard(m.group, now);
    } else c.MldInOther++;
    return true;
  }

  /** A Router Advertisement (ra.ts), consumed here; false for any other packet. */
  #raInput(packet: Uint8Array, frameSrc: MacAddress, now: number): boolean {
    const ra = parseRa(packet);
    if (ra === 'not-ra') return false;
    const c = this.#c;
    if (typeof ra === 'string') c.NdpInInvalid++;
    else if (frameSrc === this.mac) c.NdpInFromSelf++;
    else {
      c.NdpInRouterAdverts++;
      // Routers, prefixes and link parameters are taken with SLAAC on only (a static
      // configuration stays as given).
      if (this.#addr6.slaac) {
        this.#addr6.routerAdvert(ra, now);
        // RFC 4861 §6.3.4: a non-zero Cur Hop Limit becomes the default; the MTU option is
        // taken when it is at least IPv6's minimum (RFC 8200 §5) and within the link's MTU.
        let mtu = ra.mtu;
        if (mtu !== undefined && (mtu < 1280 || mtu > this.#mtu)) {
          c.RaMtuIgnored++;
          mtu = undefined;
        }
        const hopLimit = ra.curHopLimit === 0 ? undefined : ra.curHopLimit;
        if (mtu !== undefined || hopLimit !== undefined) this.#onRouterParams?.({ mtu, hopLimit }, now);
        // Reachable Time and Retrans Timer (0: unspecified) for IPv6 neighbour discovery; at
        // most MAX_REACHABLE_TIME (an hour, §10), a retransmission interval of at least 10 ms as Linux's.
        const timers: { baseReachableMs?: number; retransMs?: number } = {};
        if (ra.reachableTimeMs > MAX_REACHABLE_TIME_MS || ra.retransTimerMs > MAX_REACHABLE_TIME_MS) c.RaTimersIgnored++;
        if (ra.reachableTimeMs > 0 && ra.reachableTimeMs <= MAX_REACHABLE_TIME_MS) timers.baseReachableMs = ra.reachableTimeMs;
        if (ra.retransTimerMs > 0 && ra.retransTimerMs <= MAX_REACHABLE_TIME_MS) timers.retransMs = Math.max(10, ra.retransTimerMs);
        this.#cache6.setTimers(timers);
      }
    }
    return true;
  }

  #sendDadProbe(target: string): void {
    // RFC 4862 §5.4.2: from ::, to the target's solicited-node group, without SLLA.
    const dst = solicitedNodeAddress(target);
    this.#sendNdp({
      type: ICMPV6_NS, src: IPV6_UNSPECIFIED, dst, target, router: false, solicited: false, override: false, linkAddress: undefined,
    }, ipv6MulticastMac6(dst), 'NdpOutDadProbes');
  }

  #sendRs(): void {
    if (this.#closed) return;
    // RFC 4861 §6.3.7: from a usable link-local address (with SLLA), else from :: (without).
    const src = this.#addresses6.find(isLinkLocal6) ?? IPV6_UNSPECIFIED;
    const n = emitRs(src, this.mac, this.#mcastBuf, ETHERNET_HEADER_LEN);
    this.#c.NdpOutRouterSolicits++;
    this.#sendMcastFrame(0x3333_0000_0002, ETHERTYPE_IPV6, n);
  }

  #sendIgmp(m: McastMessage<number>): void {
    // RFC 3376 §4.2.13: our address, or 0.0.0.0 before we have one.
    const src = this.#address !== undefined && this.#acd.isBound(this.#address) ? this.#address : (this.#acd.primary() ?? 0);
    for (const part of splitRecords(m, this.#mtu - IGMP_IP_HEADER_LEN, 8, 4)) {
      const n = emitIgmp(part, src, this.#ipId = (this.#ipId + 1) & 0xffff, this.#mcastBuf, ETHERNET_HEADER_LEN);
      const dst = part.kind === 'v3' ? 0xe0000016 : part.kind === 'leave' ? 0xe0000002 : part.group;
      this.#c.IgmpOutMessages++;
      this.#sendMcastFrame(ipv4MulticastMac(dst), ETHERTYPE_IPV4, n);
    }
  }

  #sendMld(m: McastMessage<string>): void {
    // RFC 3810 §5.2.13: a link-local source, or :: while none is usable.
    const src = this.#addresses6.find(isLinkLocal6) ?? IPV6_UNSPECIFIED;
    for (const part of splitRecords(m, this.#mtu - MLD_HEADERS_LEN, 20, 16)) {
      const n = emitMld(part, src, this.#mcastBuf, ETHERNET_HEADER_LEN);
      this.#c.MldOutMessages++;
      this.#sendMcastFrame(ipv6MulticastMac(this.#mcastBuf.subarray(ETHERNET_HEADER_LEN + 24, ETHERNET_HEADER_LEN + 40)), ETHERTYPE_IPV6, n);
    }
  }

  #sendMcastFrame(dstMac: MacAddress, ethertype: number, ipLength: number): void {
    if (this.#closed) return;
    const t = this.#txRepr;
    t.dst = dstMac;
    t.src = this.mac;
    t.ethertype = ethertype;
    emitEthernet(t, this.#mcastBuf, 0);
    if (!this.#link.send(this.#views.view(this.#mcastBuf, 0, ETHERNET_HEADER_LEN + ipLength))) this.#c.McastOutLinkDrops++;
  }

  /** RFC 826 "Packet Reception", with RFC 5227's checks first. */
  #arpInput(bytes: Uint8Array, now: number, unicastToUs: boolean): void {
    const c = this.#c;
    const r = parseArp(bytes, this.#arpRepr);
    if (typeof r === 'string') {
      if (r === 'truncated') c.ArpInTruncated++;
      else if (r === 'unsupported') c.ArpInUnsupported++;
      else c.ArpInBadOp++;
      return;
    }
    const sha = r.senderMac;
    const sip = r.senderIp;
    const tip = r.targetIp;
    if (sha === this.mac) {
      c.ArpInFromSelf++;
      return;
    }
    // A station address is unicast; a sender IP is 0 (a probe) or a unicast host address
    // (not multicast/class E, not 127/8, not the limited broadcast: Linux's arp_process).
    if (!isUnicastMac(sha) || sip >>> 28 >= 0xe || sip >>> 24 === 127 || (sip === 0 && r.operation !== ARP_REQUEST)) {
      c.ArpInBadSender++;
      return;
    }
    if (r.operation === ARP_REQUEST) c.ArpInRequests++;
    else c.ArpInReplies++;
    // RFC 5227 §2.1.1 / §2.4: someone else claims (or probes for) an address of ours.
    if (this.#acd.seen(sha, sip, tip, now)) return;
    const forUs = this.#acd.isBound(tip);
    if (sip === 0) {
      // A probe for an address we hold: answer it (so the prober sees the conflict).
      if (forUs) this.#sendArp(ARP_REPLY, sha, tip, sha, 0, 'ArpOutReplies');
      return;
    }
    // Merge: a reply to us confirms; anything else makes a new address STALE. A gratuitous
    // ARP (sender = target) overrides within locktime.
    const kind = r.operation === ARP_REPLY && unicastToUs ? 'reply' : 'stale';
    const merged = this.#cache.update(sip, sha, kind, now, sip === tip);
    if (forUs) {
      if (!merged) this.#cache.create(sip, sha, now);
      if (r.operation === ARP_REQUEST) this.#sendArp(ARP_REPLY, sha, tip, sha, sip, 'ArpOutReplies');
    }
  }

  /** RFC 4861 §7.2.3 (NS received) and §7.2.5 (NA received). */
  #ndpInput(r: NdpRepr, frameSrc: MacAddress, now: number): void {
    const c = this.#c;
    if (frameSrc === this.mac) {
      // Our own NS/NA looped back (a bridge's hairpin, a reflecting segment): not another node.
      c.NdpInFromSelf++;
      return;
    }
    const ours = this.#addresses6.includes(r.target);
    if (r.type === ICMPV6_NS) {
      c.NdpInSolicits++;
      if (r.src === IPV6_UNSPECIFIED) {
        // RFC 4862 §5.4.3: another node's DAD for an address we are probing for: a duplicate.
        if (this.#addr6.dadSolicitation(r.target, frameSrc, now)) {
          c.NdpConflicts++;
          return;
        }
        // For an address we hold: answer to all-nodes, unsolicited (we defend it).
        if (ours) this.#sendAdvert(r.target, IPV6_ALL_NODES, ipv6MulticastMac6(IPV6_ALL_NODES), false);
        return;
      }
      // A tentative address is not answered for (§5.4.3).
      if (!ours) return;
      // §7.2.3: the sender's address goes into the cache (STALE), created if need be.
      if (r.linkAddress !== undefined && isUnicastMac(r.linkAddress)) {
        if (!this.#cache6.update(r.src, r.linkAddress, 'stale', now, true)) this.#cache6.create(r.src, r.linkAddress, now);
      }
      this.#sendAdvert(r.target, r.src, r.linkAddress ?? frameSrc, true);
      return;
    }
    c.NdpInAdverts++;
    if (this.#addr6.has(r.target)) {
      // §5.4.4: a duplicate while probing; once bound, another station claims it (reported).
      c.NdpConflicts++;
      this.#addr6.advertisement(r.target, r.linkAddress ?? frameSrc, now);
      return;
    }
    const mac = r.linkAddress ?? this.#cache6.get(r.target)?.mac;
    if (mac === undefined || !isUnicastMac(mac)) return;
    this.#cache6.update(r.target, mac, r.solicited ? 'reply' : 'stale', now, r.override);
  }

  #send6(packet: Uint8Array): boolean {
    const c = this.#c;
    if (!this.#ipv6On) {
      c.OutDropIpv6++;
      return false;
    }
    if (packet.length < 40) {
      c.OutDropMalformed++;
      return false;
    }
    if (packet.length > this.mtu) {
      c.OutDropTooBig++;
      return false;
    }
    const dst = bytesToAddress(packet, 24);
    if (isMulticast6(dst)) return this.#transmit(packet, ipv6MulticastMac6(dst), true, ETHERTYPE_IPV6);
    if (this.#addresses6.includes(dst)) {
      c.OutDropLocal++;
      return false;
    }
    const onLink = isLinkLocal6(dst) || this.#addresses6.some((a) => sameprefix6(a, dst, this.#prefix6));
    const hop = onLink ? dst : this.#gateway6;
    if (hop === undefined) {
      c.OutDropNoRoute++;
      return false;
    }
    const now = this.#inBatch ? this.#rxNow : this.#clock.now();
    const r = this.#cache6.output(hop, packet, now);
    let ok: boolean;
    if (typeof r === 'number') ok = this.#transmit(packet, r, true, ETHERTYPE_IPV6);
    else if (r === 'queued') {
      c.OutQueued++;
      ok = true;
    } else {
      c.OutDropNeighbour++;
      ok = false;
    }
    if (!this.#inBatch) this.#rearm();
    return ok;
  }

  /** An address of ours to speak from: link-local for a link-local peer, else one in its prefix, else the first (none yet: undefined). */
  #source6(peer: string): string | undefined {
    const a = this.#addresses6;
    if (isLinkLocal6(peer)) return a.find(isLinkLocal6) ?? a[0];
    return a.find((x) => !isLinkLocal6(x) && sameprefix6(x, peer, this.#prefix6)) ?? a[0];
  }

  #sendSolicit(target: string, dstMac: MacAddress | undefined): void {
    // §7.2.2: multicast to the solicited-node address, or unicast to the known address (PROBE).
    const dst = dstMac === undefined ? solicitedNodeAddress(target) : target;
    const src = this.#source6(target);
    if (src === undefined) return; // every address still tentative: nothing to ask from
    this.#sendNdp({
      type: ICMPV6_NS, src, dst, target, router: false, solicited: false, override: false, linkAddress: this.mac,
    }, dstMac ?? ipv6MulticastMac6(dst), 'NdpOutSolicits');
  }

  #sendAdvert(target: string, dst: string, dstMac: MacAddress, solicited: boolean): void {
    this.#sendNdp({ type: ICMPV6_NA, src: target, dst, target, router: false, solicited, override: true, linkAddress: this.mac }, dstMac, 'NdpOutAdverts');
  }

  #sendNdp(r: NdpRepr, dstMac: MacAddress, counter: keyof EthernetStats): void {
    if (this.#closed || !this.#ipv6On) return;
    const buf = this.#ndpBuf;
    const t = this.#txRepr;
    t.dst = dstMac;
    t.src = this.mac;
    t.ethertype = ETHERTYPE_IPV6;
    emitEthernet(t, buf, 0);
    const n = emitNdp(r, this.mac, buf, ETHERNET_HEADER_LEN);
    this.#c[counter]++;
    if (!this.#link.send(n === NDP_PACKET_LEN ? buf : this.#views.view(buf, 0, ETHERNET_HEADER_LEN + n))) this.#c.NdpOutLinkDrops++;
  }

  // ---- transmit ------------------------------------------------------------------------

  /** `direct`: from `send` (else a packet that waited for resolution). */
  #transmit(packet: Uint8Array, dst: MacAddress, direct: boolean, ethertype = ETHERTYPE_IPV4): boolean {
    const c = this.#c;
    const buf = this.#frameBuf;
    this.#writeHeader(buf, dst, ethertype);
    buf.set(packet, ETHERNET_HEADER_LEN);
    const ok = this.#link.send(this.#views.view(buf, 0, ETHERNET_HEADER_LEN + packet.length));
    if (ok) this.#txBytes += packet.length;
    if (direct) {
      if (ok) c.OutSent++;
      else c.OutLinkDrops++;
    } else if (ok) c.OutFlushed++;
    else c.OutFlushLinkDrops++;
    return ok;
  }

  #sendRequest(target: number, dstMac: MacAddress | undefined, _now: number): void {
    // The source: our address (Linux arp_solicit picks the queued packet's source when it
    // is ours; we have one address per interface).
    const src = this.#address !== undefined && this.#acd.isBound(this.#address) ? this.#address : (this.#acd.primary() ?? 0);
    this.#sendArp(ARP_REQUEST, dstMac ?? MAC_BROADCAST, src, dstMac ?? MAC_ZERO, target, 'ArpOutRequests');
  }

  #sendArp(operation: number, dst: MacAddress, senderIp: number, targetMac: MacAddress, targetIp: number, counter: keyof EthernetStats): void {
    if (this.#closed) return;
    const c = this.#c;
    const buf = this.#arpBuf;
    const t = this.#txRepr;
    t.dst = dst;
    t.src = this.mac;
    t.ethertype = ETHERTYPE_ARP;
    emitEthernet(t, buf, 0);
    const a = this.#txArp;
    a.operation = operation;
    a.senderMac = this.mac;
    a.senderIp = senderIp;
    a.targetMac = targetMac;
    a.targetIp = targetIp;
    emitArp(a, buf, ETHERNET_HEADER_LEN);
    c[counter]++;
    if (!this.#link.send(buf)) c.ArpOutLinkDrops++;
  }

  // ---- time ----------------------------------------------------------------------------

  /** The earliest deadline of the cache and the address table. */
  pollAt(): number {
    return Math.min(this.#cache.pollAt(), this.#cache6.pollAt(), this.#acd.pollAt(), this.#igmp.pollAt(), this.#mld.pollAt(), this.#addr6.pollAt());
  }

  /** Runs what is due at `now` (the timer does this; tests on virtual time may too). */
  poll(now: number): void {
    this.#poll(now);
  }

  #poll(now: number): void {
    if (this.#closed) return;
    this.#acd.poll(now);
    this.#cache.poll(now);
    this.#cache6.poll(now);
    this.#addr6.poll(now);
    this.#igmp.poll(now);
    this.#mld.poll(now);
    this.#rearm();
  }

  #rearm(): void {
    if (this.#closed) return;
    const at = this.pollAt();
    if (at === this.#timerAt) return;
    if (this.#timer !== undefined) this.#clock.cancel(this.#timer);
    this.#timer = undefined;
    this.#timerAt = at;
    if (at === Infinity) return;
    // At most Node's longest timer (2^31 - 1 ms, 24.8 days): a longer delay is taken as 1 ms
    // (TimeoutOverflowWarning), a wake-up per millisecond for an RA's 136-year lifetime.
    // Fired early, the poll finds nothing due and arms the timer again.
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.#poll(this.#clock.now());
    }, Math.min(MAX_TIMER_MS, Math.max(0, at - this.#clock.now())));
  }
}

/** The longest delay Node's setTimeout takes as given (2^31 - 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** RFC 3810 §6: no MLD for ff02::1, nor for scopes 0 (reserved) and 1 (interface-local). */
function mldReportable(g: string): boolean {
  const scope = g.charCodeAt(1) & 0x0f;
  return g !== IPV6_ALL_NODES && scope > 1;
}

/**
 * A v3 report split so that each part's records fit in `room` bytes (the message's 8-byte
 * header, each record `recordLen` plus `sourceLen` per source); other messages as they are.
 */
function splitRecords<G>(m: McastMessage<G>, room: number, recordLen: number, sourceLen: number): McastMessage<G>[] {
  if (m.kind !== 'v3') return [m];
  const parts: McastMessage<G>[] = [];
  let cur: McastMessage<G> & { kind: 'v3' } = { kind: 'v3', records: [] };
  let used = 8;
  for (const r of m.records) {
    // A record too big for one packet is cut to the sources that fit (RFC 3376 §4.2.16).
    const maxSources = Math.max(0, Math.floor((room - 8 - recordLen) / sourceLen));
    const rec = r.sources.length > maxSources ? { ...r, sources: r.sources.slice(0, maxSources) } : r;
    const size = recordLen + sourceLen * rec.sources.length;
    if (used + size > room && cur.records.length > 0) {
      parts.push(cur);
      cur = { kind: 'v3', records: [] };
      used = 8;
    }
    cur.records.push(rec);
    used += size;
  }
  if (cur.records.length > 0) parts.push(cur);
  return parts;
}

/**
 * What Linux's arp_error_report (and ndisc's error_report) makes of a packet that waited
 * for a neighbour that never answered: an ICMP host unreachable about it (type 3 code 1;
 * for IPv6 that is ICMPv6 address unreachable, which @netstack/ip's IPv6 layer takes in
 * ICMPv4's terms), as the record `Ipv4Layer.deliverError` / `Ipv6Layer.deliverError` take
 * (`TransportError`, built here structurally: this package does not import ip), so the
 * transport that sent it sees EHOSTUNREACH. IPv6 addresses come as 16 latin1 characters
 * (ip's `Ipv6Address`), the protocol is the fixed header's Next Header. Undefined for a
 * packet too short to quote.
 */
export function hostUnreachableError<A extends number | string = number | string>(packet: Uint8Array, reporter: A): {
  icmpType: number; icmpCode: number; reporter: A; src: A; dst: A; protocol: number;
  quoted: Uint8Array; nextHopMtu: number; originalLength: number;
} | undefined {
  const version = packet.length > 0 ? packet[0]! >>> 4 : 0;
  if (version === 6) {
    if (packet.length < 48) return undefined;
    return {
      icmpType: 3, icmpCode: 1, reporter, src: bytesToAddress(packet, 8) as A, dst: bytesToAddress(packet, 24) as A, protocol: packet[6]!,
      // RFC 4443 §3.1: as much as fits in the minimum MTU (1280 - 40 - 8).
      quoted: packet.slice(40, Math.min(packet.length, 1232)), nextHopMtu: 0, originalLength: 40 + ((packet[4]! << 8) | packet[5]!),
    };
  }
  if (packet.length < 20 || version !== 4) return undefined;
  const ihl = (packet[0]! & 0x0f) * 4;
  if (ihl < 20 || packet.length < ihl + 8) return undefined;
  const u32 = (o: number): number => ((packet[o]! << 24) | (packet[o + 1]! << 16) | (packet[o + 2]! << 8) | packet[o + 3]!) >>> 0;
  return {
    icmpType: 3, icmpCode: 1, reporter, src: u32(12) as A, dst: u32(16) as A, protocol: packet[9]!,
    // RFC 1812 §4.3.2.3: as much of the datagram as fits in 576 bytes.
    quoted: packet.slice(ihl, Math.min(packet.length, 576 - 28)), nextHopMtu: 0,
    originalLength: (packet[2]! << 8) | packet[3]!,
  };
}
