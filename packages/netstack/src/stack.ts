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
 *
 * Lifetime (lifetime.ts): that timer is always unref'd. The process is held by ONE
 * keep-alive (the TUN device's poll handle, else a never-firing interval), ref'd only
 * while the stack has ref'd active handles (servers, sockets, UDP sockets, pings), as
 * libuv counts active handles. `close()` ends every socket as the kernel ends a dead
 * process's sockets (RST out, ECONNABORTED to the socket); later calls fail with
 * ERR_STACK_CLOSED. A failing constructor closes what it opened before it throws.
 */
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { realTimeScheduler, type Scheduler } from '@netstack/common';
import { TunDevice, CaptureLink, impair, parseImpairSpec, type ImpairSpec, type ImpairedLink, type Link, type NetnsTarget, type TunRoute } from '@netstack/tun';
import {
  DualStackIp, IPV6_ANY, Ipv4Layer, Ipv6Layer, isMulticast, parseAddress, parseCidr, parseIpv6Address, formatAddress,
  type IpAddress, type Ipv4Address, type Ipv6Address,
} from '@netstack/ip';
import { IcmpLayer, Icmp6Layer, type PingError } from '@netstack/icmp';
import { UdpLayer, type UdpFlowLimits } from '@netstack/udp';
import { TcpLayer, type TcpLayerOptions } from '@netstack/tcp';
import { createTcpApi, type TcpApi } from './net/index.js';
import { createUdpApi, type UdpApi } from './dgram/index.js';
import { invalidArgType, invalidArgValue, errnoError, outOfRange, stackClosedError } from './node-errors.js';
import { NetstackError } from './errors.js';
import { abortError } from './net/errors.js';
import { Capture, openCapture, type CaptureOptions } from './capture.js';
import { EventQueue, rethrow } from './events.js';
import { Lifetime } from './lifetime.js';
import { checkTapOptions, configureTap6, openTap, slaacLinkLocal, tapStats, type AddressConflictEvent, type TapOptions } from './tap.js';
import { formatMac, hostUnreachableError, type EthernetInterface } from '@netstack/ethernet';
import { wireGuardLinkFor, type StackWireGuardOptions } from './tunnel/stack-option.js';
import { checkWireGuardOptions } from './wireguard-options.js';
import { DhcpWiring, isDhcpReply, type DhcpStackOptions, type StackLease, type StackLeaseLost } from './dhcp/wiring.js';
import { checkDnsOption, checkDnsResolverOptions, createDns, type DnsOption, type DnsResolverOptions, type DnsRuntime, type LookupCallback, type StackDns } from './dns/index.js';


function noop(): void {}
/** The keep-alive interval's period: the largest a Node timer takes (it never needs to fire). */
const KEEP_ALIVE_MS = 2 ** 31 - 1;

function maskOf(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

function sameSubnet(a: Ipv4Address, b: Ipv4Address, prefixLength: number): boolean {
  const m = maskOf(prefixLength);
  return ((a & m) >>> 0) === ((b & m) >>> 0);
}

/** ::1 (RFC 4291 §2.5.3). */
const IPV6_LOOPBACK = `${'\0'.repeat(15)}\u0001` as Ipv6Address;

/** Whether the first `prefixLength` bits of two IPv6 addresses (latin1 byte strings) agree. */
function sameSubnet6(a: Ipv6Address, b: Ipv6Address, prefixLength: number): boolean {
  for (let i = 0, bits = prefixLength; bits > 0; i++, bits -= 8) {
    const m = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((a.charCodeAt(i) & m) !== (b.charCodeAt(i) & m)) return false;
  }
  return true;
}

/** `x:x::x/len` (len 0..128, default 128), or undefined. Zone ids are refused (the kernel side is the device itself). */
function parseCidr6(text: string): { address: Ipv6Address; prefixLength: number } | undefined {
  const m = /^([0-9a-fA-F:.]+)(?:\/(\d{1,3}))?$/u.exec(text);
  if (!m) return undefined;
  const prefixLength = m[2] === undefined ? 128 : Number(m[2]);
  if (prefixLength > 128) return undefined;
  const address = parseIpv6Address(m[1]!);
  return address === undefined ? undefined : { address, prefixLength };
}

/** An IPv4 address the stack can own (RFC 1122 §3.2.1.3): not 0, 127/8, multicast (224/4) or 240/4. */
function ownable4(a: Ipv4Address): boolean {
  return a !== 0 && a >>> 24 !== 127 && a >>> 28 < 0xe;
}

/** The directed broadcast of one of the addresses' subnets (none for /31 and /32, RFC 3021). */
function isDirectedBroadcast(a: Ipv4Address, addresses: readonly Ipv4Address[], prefixLength: number): boolean {
  if (prefixLength >= 31) return false;
  const host = ~maskOf(prefixLength) >>> 0;
  return addresses.some((x) => sameSubnet(a, x, prefixLength)) && ((a & host) >>> 0) === host;
}

/** An @netstack/ethernet EthernetInterface (structurally: a copy of the package loaded twice is one too). */
function isEthernetInterface(link: unknown): link is EthernetInterface {
  const l = link as Partial<EthernetInterface> | undefined;
  return typeof l === 'object' && l !== null && typeof l.configureIpv4 === 'function' && typeof l.addressState === 'function'
    && typeof l.setMtu === 'function' && typeof l.mac === 'number';
}

/** fe80::/10 (RFC 4291 §2.5.6): on-link whatever the prefix. */
function isLinkLocal6(a: Ipv6Address): boolean {
  return a.charCodeAt(0) === 0xfe && (a.charCodeAt(1) & 0xc0) === 0x80;
}

/** A unicast address the stack can own: not ::, ::1 or multicast (RFC 4291 §2.5.2, §2.5.3, §2.7). */
function ownable6(a: Ipv6Address): boolean {
  return a !== IPV6_ANY && a !== IPV6_LOOPBACK && !isMulticast(a);
}

/**
 * Marks an error from createStack() with `option`: the StackOptions path it is about
 * ('address', 'gateway', 'prefixLength', 'gateway6', 'prefixLength6', 'tun', 'tun.kernelAddress', 'tun.mtu', 'impair',
 * 'pcap', 'dns', 'dnsOptions', 'clock', 'tcpOptions', 'link'), so that a CLI can name its own flag for it. An option an
 * inner layer already named is kept.
 */
function optionError(err: unknown, option: string): unknown {
  if (err !== null && typeof err === 'object' && (err as { option?: unknown }).option === undefined) {
    Object.defineProperty(err, 'option', { value: option, enumerable: true, writable: true, configurable: true });
  }
  return err;
}

/** The TUN device names its bad option as `The "mtu" option`: that is options.tun.mtu (options.tap.mtu on a TAP). */
function tunOption(err: unknown, device: 'tun' | 'tap' = 'tun'): string | undefined {
  const m = err instanceof Error ? /The "(\w+)" option/.exec(err.message) : null;
  return m ? `${device}.${m[1]}` : undefined;
}

/** The IP layer names its bad option as `options.gateway ...`. */
function ipOption(err: unknown): string | undefined {
  const m = err instanceof Error ? /^options\.(address|gateway|prefixLength)\b/.exec(err.message) : null;
  return m ? m[1] : undefined;
}

export interface TunOptions {
  /** Device name (default: the kernel picks tunN). */
  name?: string;
  /**
   * Address and prefix of the kernel's side of the device, e.g. '10.7.0.1/24'; or one IPv4
   * and any IPv6 ones, ['10.7.0.1/24', 'fd07::1/64'] (added with `nodad`; skipped, not an
   * error, where the namespace has IPv6 off: see `StackInfo.ipv6Disabled`); IPv6 only,
   * ['fd07::1/64'], for an IPv6-only stack. An IPv4 one is required when the stack has
   * IPv4 addresses. Default '10.7.0.1/24', or 'fd07::1/64' for an IPv6-only stack.
   */
  kernelAddress?: string | readonly string[];
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
   * Negotiate TUN offloads: IFF_VNET_HDR with checksum and TCP segmentation offload (TSO4
   * and TSO6), so TCP over either family sends and receives super-segments of up to 64 KB, one syscall each (measured
   * 5-10x the download speed of one segment per syscall at MTU 1500), and UDP
   * segmentation offload on receive where the kernel has it (Linux 6.2+): a kernel-side
   * UDP_SEGMENT send arrives in one read, split by the device. Default: on,
   * unless `impair` is set (the shaper does not carry the offload metadata; asking for
   * both is an error). Falls back silently when the kernel refuses;
   * `linkInfo().offload` says what was agreed.
   */
  offload?: boolean;
  /**
   * Create the device in another network namespace (`ip netns add` name, PID or path;
   * @netstack/tun's `netns`): the stack and its sockets stay in the process's own.
   */
  netns?: NetnsTarget;
  /** Routes through the device added on the kernel side (@netstack/tun's `routes`), e.g. `[{ dst: 'default', via: '10.0.2.2' }]`. */
  routes?: readonly TunRoute[];
}

/** The facade's clock: real by default, virtual in simulation (the common `Scheduler`, as the impairment shaper's). */
export type Clock = Scheduler;

const realClock: Clock = realTimeScheduler;
/** Linux's default txqueuelen for most devices (a tun's own default is 500). */
const DEFAULT_TX_QUEUE_LEN = 1000;

export interface StackOptions {
  /**
   * The stack's own address(es): e.g. '10.7.0.2'; ['10.7.0.2', 'fd07::2'] (dual stack: the
   * IPv6 layer, ICMPv6, and TCP and UDP over both families); ['10.7.0.2', '10.7.0.3',
   * 'fd07::2'] (several of a family: each is answered, bindable and listened on); 'fd07::2'
   * (IPv6 only: IPv4 has loopback 127/8 alone, anything else is ENETUNREACH, as on a Linux
   * host with no IPv4 address). The first of each family is its primary, the source when
   * none of the stack's subnets holds the destination. RFC 4291 §2.2 text; no prefixes here
   * (`prefixLength`, `prefixLength6`).
   *
   * 'dhcp' (or ['dhcp', 'fd07::2']): the IPv4 address, prefix, router, DNS servers and MTU
   * come from a DHCP server on the segment (RFC 2131; needs `tap`, or an `EthernetInterface`
   * as `link`). createStack resolves at once, without an IPv4 address; `stack.whenAddress()`
   * waits for the first lease, `'lease'` / `'leaseLost'` report changes (see `dhcp`).
   *
   * 'slaac' (e.g. ['10.7.0.2', 'slaac'] or ['dhcp', 'slaac']; needs `tap`): IPv6 by stateless
   * autoconfiguration (RFC 4862): the link-local address fe80::EUI-64 of the MAC, router
   * solicitations, and from each router advertisement's autonomous /64 prefix an address
   * (after duplicate address detection) with the prefix's lifetimes, the router as the
   * default gateway. `'address6'` reports each change; `stack.addresses6` follows.
   */
  address: string | readonly string[];
  /** Options of the DHCP client, with `address: 'dhcp'` (host name, a remembered address, the probe). */
  dhcp?: DhcpStackOptions;
  /** Open (or attach to) a TUN device in the current network namespace. */
  tun?: TunOptions;
  /**
   * Or a TAP device: the stack is a host on an Ethernet segment (ARP, neighbour discovery,
   * its own MAC `tap.mac`), e.g. `{ name: 'tap0', kernelAddress: ['10.7.0.1/24', 'fd07::1/64'] }`
   * (see tap.ts and the README's TAP section).
   */
  tap?: TapOptions;
  /** Or run on a link you made (e.g. one end of `createLinkPair()`). */
  link?: Link;
  /** Or on a WireGuard session (no device, no privileges): `{ config }` (wg-quick text) or `{ privateKey, peers }`. */
  wireguard?: StackWireGuardOptions;
  /**
   * IPv4: prefix length of the on-link subnet of each IPv4 address, 0..32 (default: the
   * tun's kernelAddress prefix, else 24).
   */
  prefixLength?: number;
  /**
   * IPv4 default gateway, on-link (in the subnet of one of the stack's IPv4 addresses).
   * Default: the kernel side's IPv4 address on a tun; none on a link (then off-link
   * destinations are ENETUNREACH).
   */
  gateway?: string;
  /**
   * IPv6: prefix length of the on-link prefix (of the first IPv6 address), 0..128
   * (default: the tun's first IPv6 kernelAddress prefix, else 64). fe80::/10 is always on-link.
   */
  prefixLength6?: number;
  /**
   * IPv6 default gateway, on-link (in that prefix, or link-local fe80::/10). Default: the
   * kernel side's first IPv6 address on a tun; none on a link (ENETUNREACH off-link).
   */
  gateway6?: string;
  /** Replace the real clock (virtual time for simulation). */
  clock?: Clock;
  /** Options of the TCP layer (buffer sizes, MSL, limits). */
  tcpOptions?: TcpLayerOptions;
  /**
   * Record both directions to this pcap file (what the stack sent and received, before
   * impairment), as `stack.capture(pcap)` does, from the start: the packets createStack
   * itself sends (a DHCP DISCOVER, RFC 5227 probes) included. A string is the path (1 GiB
   * bound); `{ path, maxBytes, snaplen }` sets the capture's options. `stack.pcapCapture` is
   * the running capture.
   */
  pcap?: string | ({ path: string } & CaptureOptions);
  /**
   * Impair the link in both directions, e.g. 'loss=3%,dup=1%,reorder=25%,delay=5ms,seed=1'
   * (see @netstack/tun impair.ts). Deterministic for a seed.
   */
  impair?: string | ImpairSpec;
  /**
   * Where names are resolved (`stack.dns`, and `stack.tcp.connect({ host: 'name' })`):
   * DNS servers the stack's own stub resolver asks over the stack's UDP (TCP on
   * truncation), e.g. ['10.7.0.1'] or ['10.7.0.1:5353']; or 'host' for node:dns (the
   * host's resolver, in the process's network namespace). Default: none (IP literals
   * and 'localhost' only). See packages/netstack/README.md.
   */
  dns?: DnsOption;
  /** Timeouts, tries and cache bounds of the stub resolver (see dns/resolver.ts). */
  dnsOptions?: DnsResolverOptions;
  /**
   * Any-address termination (the namespace gateway's core, issue 12): packets routed to
   * the stack for destinations that are not its own are terminated here instead of
   * dropped: TCP connections go to `stack.tcp.intercept(...)`, UDP flows to
   * `stack.udp.interceptFlows(...)`, both answering from the original destination
   * (IP_TRANSPARENT); ICMP echo to them is not answered. Both families. Default false.
   */
  anyAddress?: boolean;
  /** Bounds and idle timeout of UDP flows to foreign destinations (@netstack/udp flows.ts). */
  udpFlows?: UdpFlowLimits;
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
  /** What the stack runs on: a TUN device (IP packets), a TAP device (Ethernet frames), or a link given as `link`. */
  type: 'tun' | 'tap' | 'link';
  name: string;
  /** TAP: the stack's own MAC on the segment (`aa:bb:cc:dd:ee:ff`). */
  mac?: string;
  /** TAP: the kernel side's MAC (the device's own, as `ip link` shows it). */
  kernelMac?: string;
  /** TAP with address 'slaac': IPv6 addresses come from router advertisements (RFC 4862). */
  slaac?: boolean;
  /** The kernel side's IPv4 address with prefix; '' without (a memory link, an IPv6-only kernel side). */
  kernelAddress: string;
  mtu: number;
  /**
   * Offloads the link negotiated (TUN: TUNSETOFFLOAD), or undefined when none. `tso4` /
   * `tso6`: TCP super-segments of up to 64 KB both ways over IPv4 / IPv6 (the stack sends
   * them to remotes of a family only when the link agreed that family's TSO). `uso4` /
   * `uso6` (a TUN device says them always, and agrees both or neither): the kernel sends
   * UDP super-datagrams, which the device splits into datagrams before the IP layer (see
   * @netstack/tun uso.ts).
   */
  offload?: { tso4: boolean; tso6?: boolean; csum: boolean; uso4?: boolean; uso6?: boolean } | undefined;
  /** The kernel side's IPv6 address(es) with prefix, canonical text (RFC 5952); empty without. */
  kernelAddress6: string[];
  /**
   * Set when the stack was given IPv6 addresses but serves IPv4 only: why, in one line
   * (e.g. "IPv6 is disabled in this network namespace (net.ipv6.conf.all.disable_ipv6 = 1)").
   */
  ipv6Disabled?: string;
}

/** What `'address6'` reports: the IPv6 addresses now served and the default router. */
export interface StackAddress6Change {
  addresses: string[];
  gateway?: string;
}

/**
 * Events (a Stack is an EventEmitter):
 * - `'addressConflict'` (`AddressConflictEvent`), on a TAP: another station on the segment
 *   claims the stack's IPv4 address (RFC 5227 §2.4: defended once, kept) or answered a probe
 *   for it; or, for an IPv6 address, duplicate address detection found it in use (RFC 4862
 *   §5.4: phase 'probe', the address is not used) or another station advertises it once
 *   the stack holds it (phase 'bound', kept). Emitted on a later tick, never from inside the packet path.
 * - `'address6'` (`StackAddress6Change`), on a TAP: the IPv6 addresses served or the default
 *   router changed (SLAAC formed or expired an address, a router came or went, DAD passed).
 */
export class Stack extends EventEmitter {
  /**
   * The primary address (canonical text): the first IPv4 address, or on an IPv6-only stack
   * the first IPv6 one. With DHCP: the lease's address; before a lease (or after it ended)
   * the first IPv6 address, else '0.0.0.0'.
   */
  get address(): string {
    const v4 = this.ip.addresses[0];
    return v4 !== undefined ? formatAddress(v4) : this.addresses6[0] ?? '0.0.0.0';
  }
  /** The IPv4 addresses (dotted quads), the primary first; empty on an IPv6-only stack (and on a DHCP stack without a lease). */
  get addresses4(): readonly string[] {
    return this.ip.addresses.map((a) => formatAddress(a));
  }
  /**
   * The IPv6 address(es) served (canonical text, RFC 5952); empty when IPv4 only. With
   * 'slaac' the list follows the interface (the link-local address, then what SLAAC forms;
   * the same array, updated in place; `'address6'` says when).
   */
  readonly addresses6: readonly string[];
  private addresses6Mutable: string[] = [];
  /** With 'slaac': fe80::EUI-64 of the MAC, always kept on the IPv6 layer (it needs one address). */
  private slaacLinkLocal: Ipv6Address | undefined = undefined;
  /**
   * The IPv4 layer (`dual.v4`). On an IPv6-only stack it has no address (`addresses` empty,
   * `address` 0): loopback 127/8 only, everything from the link dropped and counted.
   */
  readonly ip: Ipv4Layer;
  /** The IPv6 layer (`dual.v6`), when the stack serves IPv6. */
  readonly ip6: Ipv6Layer | undefined;
  /** The IP layer the transports use: both families (`DualStackIp`, @netstack/ip). */
  readonly dual: DualStackIp;
  readonly icmp: IcmpLayer;
  /** ICMPv6 (RFC 4443), when the stack serves IPv6. */
  readonly icmp6: Icmp6Layer | undefined;
  /** `stack.udp.createSocket('udp4')`, shaped like node:dgram. */
  readonly udp: UdpApi;
  private readonly udpLayer: UdpLayer;
  /** The TCP core (pure protocol); `tcp` is the node:net-shaped API over it. */
  readonly tcpLayer: TcpLayer;
  /** `stack.tcp.createServer()`, `stack.tcp.connect()`, shaped like node:net. */
  readonly tcp: TcpApi;
  /** `stack.dns.lookup()`, `stack.dns.resolve4()`, shaped like node:dns (the `dns` option). */
  readonly dns: StackDns;
  private readonly dnsRuntime: DnsRuntime;
  private readonly link: Link;
  private readonly device: TunDevice | undefined;
  /** The Ethernet interface on a TAP device (the link the IP layers see), else undefined. */
  private readonly eth: EthernetInterface | undefined;
  /** The DHCP client and what it applies (address 'dhcp'), else undefined. */
  private readonly dhcpClient: DhcpWiring | undefined;
  /**
   * What keeps the process alive: the count of ref'd handles (servers, sockets, UDP
   * sockets, pings) and the stack's own ref()/unref() (lifetime.ts).
   */
  private readonly life = new Lifetime((held) => this.setHeld(held));
  /** The keep-alive on a link that is not a TUN device (a ref'd interval that never fires). */
  private keepAlive: NodeJS.Timeout | undefined;
  private readonly virtualClock: boolean = false;
  /** whenAddress() calls waiting: stack.close() fails them. */
  private readonly addressWaiters = new Set<(err: Error) => void>();
  /** Pings waiting for a reply: stack.close() fails them. */
  private readonly pings = new Set<(err: Error) => void>();
  /** Where captures tap the link (stack.capture); forwards only while none runs. */
  private readonly tapPoint: CaptureLink;
  private readonly captures = new Set<Capture>();
  /** The capture the `pcap` option started (undefined without it); it ends at `close()` on it or the stack's. */
  readonly pcapCapture: Capture | undefined;
  private readonly impaired: ImpairedLink | undefined;
  private readonly info: LinkInfo;
  private readonly clock: Clock;
  private timer: unknown;
  private timerAt = Infinity;
  private isClosed = false;
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

  /** Use createStack() (not tagged internal: a stripped constructor would read as a public one without arguments). */
  constructor(options: StackOptions) {
    super();
    // Everything that can be checked without side effects is checked first; what can only
    // fail once something is open (the device, the pcap file, a layer's option check) is in
    // the try below, whose catch closes what was opened before the error leaves. Every
    // error carries `option`: the StackOptions path it is about (see optionError).
    if (options === null || typeof options !== 'object') throw optionError(invalidArgType('options', 'of type object', options), 'options');
    // Any number of IPv4 and IPv6 addresses, at least one in all; the first of each family
    // is its primary (the source when no rule picks another).
    const addresses4: Ipv4Address[] = [];
    const addresses6: Ipv6Address[] = [];
    const given: readonly unknown[] | undefined = typeof options.address === 'string' ? [options.address]
      : Array.isArray(options.address) ? options.address as readonly unknown[] : undefined;
    if (given === undefined) throw optionError(invalidArgType('options.address', 'of type string or an array of strings', options.address), 'address');
    if (given.length === 0) throw optionError(invalidArgValue('options.address', options.address, 'must name at least one address'), 'address');
    /** The IPv4 address comes by DHCP ('dhcp' among the addresses). */
    let useDhcp = false;
    /** IPv6 addresses by SLAAC from router advertisements ('slaac' among the addresses; TAP). */
    let useSlaac = false;
    for (const a of given) {
      if (a === 'slaac') {
        if (useSlaac) throw optionError(invalidArgValue('options.address', options.address, "must not repeat 'slaac'"), 'address');
        if (options.tap === undefined) {
          throw optionError(new NetstackError('ERR_INVALID_ARG_VALUE',
            "options.address 'slaac' needs an Ethernet segment: options.tap (router advertisements and duplicate address detection are link-layer multicast)"), 'address');
        }
        useSlaac = true;
        continue;
      }
      if (a === 'dhcp') {
        if (useDhcp) throw optionError(invalidArgValue('options.address', options.address, "must not repeat 'dhcp'"), 'address');
        useDhcp = true;
        continue;
      }
      const v4 = typeof a === 'string' ? parseAddress(a) : undefined;
      const v6 = typeof a === 'string' && v4 === undefined ? parseIpv6Address(a) : undefined;
      let why: string | undefined;
      if (v4 !== undefined) {
        if (addresses4.includes(v4)) why = 'must not repeat an address';
        else if (!ownable4(v4)) why = 'must hold unicast IPv4 addresses (not 0.0.0.0, 127/8, multicast or 240/4)';
        else addresses4.push(v4);
      } else if (v6 !== undefined) {
        if (addresses6.includes(v6)) why = 'must not repeat an address';
        else if (!ownable6(v6)) why = 'must hold unicast IPv6 addresses (not ::, ::1 or multicast)';
        else addresses6.push(v6);
      } else {
        why = 'must hold IPv4 and IPv6 addresses';
      }
      if (why !== undefined) throw optionError(invalidArgValue('options.address', options.address, why), 'address');
    }
    if (useDhcp) {
      if (addresses4.length > 0) throw optionError(invalidArgValue('options.address', options.address, "must not mix 'dhcp' with static IPv4 addresses (the lease gives the IPv4 address)"), 'address');
      if (options.tap === undefined && !isEthernetInterface(options.link)) {
        throw optionError(new NetstackError('ERR_INVALID_ARG_VALUE',
          "options.address 'dhcp' needs an Ethernet segment: options.tap (or an EthernetInterface as options.link); a TUN device carries no broadcast for DHCP"), 'address');
      }
      for (const k of ['gateway', 'prefixLength'] as const) {
        if (options[k] !== undefined) throw optionError(invalidArgValue(`options.${k}`, options[k], "must not be given with address 'dhcp' (the lease gives it)"), k);
      }
      const d = options.dhcp;
      if (d !== undefined && (d === null || typeof d !== 'object')) throw optionError(invalidArgType('options.dhcp', 'of type object', d), 'dhcp');
      if (d?.address !== undefined && (typeof d.address !== 'string' || parseAddress(d.address) === undefined || !ownable4(parseAddress(d.address)!))) {
        throw optionError(invalidArgValue('options.dhcp.address', d.address, 'must be a unicast IPv4 address'), 'dhcp.address');
      }
      if (d?.hostName !== undefined && (typeof d.hostName !== 'string' || d.hostName === '' || d.hostName.length > 255)) {
        throw optionError(invalidArgValue('options.dhcp.hostName', d.hostName, 'must be a string of 1..255 characters'), 'dhcp.hostName');
      }
    } else if (options.dhcp !== undefined) {
      throw optionError(invalidArgValue('options.dhcp', options.dhcp, "needs address 'dhcp'"), 'dhcp');
    }
    /** The IPv4 primary; undefined on an IPv6-only stack. */
    const address = addresses4[0];
    const a6 = addresses6[0];
    if ([options.tun, options.tap, options.link].filter((o) => o !== undefined).length !== 1) {
      throw optionError(new NetstackError('ERR_INVALID_ARG_VALUE', 'createStack() needs exactly one of options.tun, options.tap and options.link'), options.tun === undefined ? options.tap === undefined ? 'tun' : 'tap' : 'link');
    }
    if (options.tap !== undefined) checkTapOptions(options.tap);
    try { checkDnsOption(options.dns); } catch (e) { throw optionError(e, 'dns'); } // before anything is opened
    try { checkDnsResolverOptions(options.dnsOptions); } catch (e) { throw optionError(e, 'dnsOptions'); }
    const c = options.clock as Partial<Record<keyof Clock, unknown>> | null | undefined;
    if (c !== undefined && (c === null || typeof c !== 'object' || typeof c.now !== 'function' || typeof c.setTimer !== 'function' || typeof c.cancel !== 'function')) {
      throw optionError(invalidArgType('options.clock', 'an object with now(), setTimer() and cancel()', options.clock), 'clock');
    }
    if (options.anyAddress !== undefined && typeof options.anyAddress !== 'boolean') throw optionError(invalidArgType('options.anyAddress', 'of type boolean', options.anyAddress), 'anyAddress');
    const anyAddress = options.anyAddress === true;
    const clock = options.clock ?? realClock;
    this.clock = clock;
    const checkPrefix = (name: 'prefixLength' | 'prefixLength6', max: number): void => {
      const v = options[name];
      if (v !== undefined && typeof v !== 'number') throw optionError(invalidArgType(`options.${name}`, 'of type number', v), name);
      if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > max)) {
        throw optionError(new NetstackError('ERR_OUT_OF_RANGE', `The "options.${name}" property must be an integer in 0..${max}. Received ${String(v)}`), name);
      }
    };
    checkPrefix('prefixLength', 32);
    checkPrefix('prefixLength6', 128);
    let prefixLength = options.prefixLength ?? 24;
    let prefixLength6 = options.prefixLength6 ?? 64;
    let gateway: Ipv4Address | undefined;
    if (options.gateway !== undefined) {
      if (typeof options.gateway !== 'string') throw optionError(invalidArgType('options.gateway', 'of type string', options.gateway), 'gateway');
      gateway = parseAddress(options.gateway);
      if (gateway === undefined) throw optionError(invalidArgValue('options.gateway', options.gateway, 'must be an IPv4 address'), 'gateway');
      if (address === undefined) throw optionError(invalidArgValue('options.gateway', options.gateway, 'needs an IPv4 address in options.address to be on-link with'), 'gateway');
    }
    let gateway6: Ipv6Address | undefined;
    if (options.gateway6 !== undefined) {
      if (typeof options.gateway6 !== 'string') throw optionError(invalidArgType('options.gateway6', 'of type string', options.gateway6), 'gateway6');
      gateway6 = parseIpv6Address(options.gateway6);
      if (gateway6 === undefined || !ownable6(gateway6)) throw optionError(invalidArgValue('options.gateway6', options.gateway6, 'must be a unicast IPv6 address'), 'gateway6');
      if (a6 === undefined) throw optionError(invalidArgValue('options.gateway6', options.gateway6, 'needs an IPv6 address in options.address to be on-link with'), 'gateway6');
    }
    let kernel: { address: Ipv4Address; prefixLength: number } | undefined;
    const kernel6: { address: Ipv6Address; prefixLength: number }[] = [];
    // The kernel side of a device, TUN or TAP: the same addresses, the same defaults.
    const dev = options.tun ?? options.tap;
    const devKey = options.tun !== undefined ? 'tun' : 'tap';
    if (dev) {
      if (typeof dev !== 'object') throw optionError(invalidArgType(`options.${devKey}`, 'of type object', dev), devKey);
      // The kernel side's default: 10.7.0.1/24, or fd07::1/64 for an IPv6-only stack.
      const ka = dev.kernelAddress ?? (address !== undefined || useDhcp ? '10.7.0.1/24' : 'fd07::1/64');
      const kl: readonly unknown[] | undefined = typeof ka === 'string' ? [ka] : Array.isArray(ka) ? ka as readonly unknown[] : undefined;
      if (kl === undefined) throw optionError(invalidArgType(`options.${devKey}.kernelAddress`, 'of type string or an array of strings', ka), `${devKey}.kernelAddress`);
      for (const c of kl) {
        const v4 = typeof c === 'string' ? parseCidr(c) : undefined;
        const v6 = typeof c === 'string' && v4 === undefined ? parseCidr6(c) : undefined;
        if (v4 !== undefined && kernel === undefined) kernel = v4;
        else if (v6 !== undefined && ownable6(v6.address) && v6.prefixLength > 0) kernel6.push(v6);
        else throw optionError(invalidArgValue(`options.${devKey}.kernelAddress`, ka, "must hold one 'a.b.c.d/len' and any 'x:x::x/len'"), `${devKey}.kernelAddress`);
      }
      if (kernel === undefined && address !== undefined) throw optionError(invalidArgValue(`options.${devKey}.kernelAddress`, dev.kernelAddress, "must hold an 'a.b.c.d/len' (the stack has IPv4 addresses)"), `${devKey}.kernelAddress`);
      if (address === undefined && kernel6.length === 0 && !useDhcp) throw optionError(invalidArgValue(`options.${devKey}.kernelAddress`, dev.kernelAddress, "must hold an 'x:x::x/len' (the stack has IPv6 addresses only)"), `${devKey}.kernelAddress`);
      const k6 = kernel6[0];
      if (k6 !== undefined) {
        for (const a of addresses6) {
          if (kernel6.some((k) => k.address === a)) throw optionError(invalidArgValue('options.address', options.address, `must differ from the kernel side address ${formatAddress(a)}`), 'address');
        }
        if (options.prefixLength6 === undefined) prefixLength6 = k6.prefixLength;
        if (a6 !== undefined && gateway6 === undefined) {
          if (!sameSubnet6(a6, k6.address, k6.prefixLength)) {
            throw optionError(new NetstackError('ERR_INVALID_ARG_VALUE',
              `options.address ${formatAddress(a6)} is outside the kernel side's IPv6 prefix ${formatAddress(k6.address)}/${k6.prefixLength}: pick an address in it, or change the kernel side's address`), 'address');
          }
          // The kernel side routes for us, as the IPv4 gateway defaults to its address.
          gateway6 = k6.address;
        }
      }
      if (kernel !== undefined && address !== undefined) {
        if (addresses4.includes(kernel.address)) throw optionError(invalidArgValue('options.address', options.address, 'must differ from the kernel side address'), 'address');
        if (options.prefixLength === undefined) prefixLength = kernel.prefixLength;
        if (gateway === undefined) {
          if (!sameSubnet(address, kernel.address, prefixLength)) {
            const net = `${formatAddress(kernel.address & maskOf(prefixLength))}/${prefixLength}`;
            throw optionError(new NetstackError('ERR_INVALID_ARG_VALUE',
              `options.address ${formatAddress(address)} is outside the kernel side's subnet ${net} (options.${devKey}.kernelAddress ${formatAddress(kernel.address)}/${kernel.prefixLength}): pick an address in ${net}, or change the kernel side's address`), 'address');
          }
          gateway = kernel.address;
        }
      }
    }
    // A gateway is on-link (RFC 1122 §3.3.1.1; RFC 4861 §5.2): in a subnet of one of the
    // stack's addresses (IPv6: the primary's prefix, or link-local), and not one of them.
    if (gateway !== undefined) {
      const pl = prefixLength;
      const g = gateway;
      if (!addresses4.some((a) => sameSubnet(a, g, pl)) || addresses4.includes(g) || !ownable4(g) || isDirectedBroadcast(g, addresses4, pl)) {
        throw optionError(new NetstackError('ERR_INVALID_ARG_VALUE',
          `options.gateway ${formatAddress(g)} is not an on-link host on the stack's subnet ${formatAddress(address! & maskOf(pl))}/${pl}`), 'gateway');
      }
    }
    if (gateway6 !== undefined && (addresses6.includes(gateway6) || !(isLinkLocal6(gateway6) || sameSubnet6(a6!, gateway6, prefixLength6)))) {
      throw optionError(new NetstackError('ERR_INVALID_ARG_VALUE',
        `options.gateway6 ${formatAddress(gateway6)} is not an on-link host: it must be in the prefix of ${formatAddress(a6!)}/${prefixLength6} or link-local (fe80::/10), and not the stack's own`), 'gateway6');
    }
    let spec: ImpairSpec | undefined;
    if (options.impair !== undefined) {
      try {
        spec = typeof options.impair === 'string' ? parseImpairSpec(options.impair) : options.impair;
      } catch (e) {
        throw optionError(e, 'impair');
      }
      if (options.tun?.offload === true || options.tap?.offload === true) {
        const which = options.tun?.offload === true ? 'tun' : 'tap';
        throw optionError(new NetstackError('ERR_INVALID_ARG_VALUE', `options.impair cannot be combined with options.${which}.offload (the shaper does not carry offload metadata)`), 'impair');
      }
      if (options.link?.offload !== undefined) {
        throw optionError(new NetstackError('ERR_INVALID_ARG_VALUE', 'options.impair cannot be combined with an offload link (the shaper does not carry offload metadata)'), 'impair');
      }
    }
    if (options.pcap !== undefined && (typeof options.pcap === 'string' ? options.pcap === ''
      : options.pcap === null || typeof options.pcap !== 'object' || typeof options.pcap.path !== 'string' || options.pcap.path === '')) {
      throw optionError(invalidArgType('options.pcap', 'a non-empty string or an object with a non-empty path', options.pcap), 'pcap');
    }

    let device: TunDevice | undefined;
    /** On a TAP: the capture point on the device's frames, and the Ethernet interface. */
    let tapFrames: CaptureLink | undefined;
    let tapEth: EthernetInterface | undefined;
    let option = 'tun';
    /** The IPv6 addresses served: none when the device says the namespace has IPv6 off. */
    let served6 = addresses6;
    /** A device (TUN or TAP) in a namespace without IPv6: serve IPv4 only and say why in `info`. */
    const ipv6Unavailable = (dev: TunDevice, info: LinkInfo): void => {
      if (addresses6.length === 0 || dev.ipv6) return;
      const why = dev.ipv6Disabled ?? 'IPv6 is not available on the device';
      // An IPv6-only stack has nothing left to serve: EAFNOSUPPORT (the arguments are
      // fine; the namespace lacks the family), and the device goes with the error.
      if (address === undefined) {
        throw optionError(new NetstackError('EAFNOSUPPORT', `an IPv6-only stack cannot run here: ${/^[A-Z][a-z]/.test(why) ? why.charAt(0).toLowerCase() + why.slice(1) : why}`), 'address'); // 'IPv6 is …' keeps its capital
      }
      // Not an error (issue 11): IPv4 only, and the reason said in one line.
      served6 = [];
      info.ipv6Disabled = why;
    };
    try {
      let link: Link;
      if (options.tun) {
        const k4 = kernel === undefined ? '' : `${formatAddress(kernel.address)}/${kernel.prefixLength}`;
        const k6 = kernel6.map((c) => `${formatAddress(c.address)}/${c.prefixLength}`);
        device = TunDevice.open({
          ...(options.tun.name !== undefined ? { name: options.tun.name } : {}),
          mtu: options.tun.mtu ?? 1500,
          txQueueLen: options.tun.txQueueLen ?? DEFAULT_TX_QUEUE_LEN,
          ...(options.tun.napi !== undefined ? { napi: options.tun.napi } : {}),
          ...(options.tun.netns !== undefined ? { netns: options.tun.netns } : {}),
          ...(options.tun.routes !== undefined ? { routes: options.tun.routes } : {}),
          offload: options.tun.offload ?? options.impair === undefined,
          kernelAddress: k6.length === 0 ? k4 : k4 === '' ? k6 : [k4, ...k6],
          // The device's filter drops IPv6 unless the stack serves it (then DualStackIp demultiplexes).
          ipv4Only: addresses6.length === 0,
        });
        // Nothing is ref'd yet: the device holds the process only while a handle needs it.
        device.unref();
        link = device;
        this.info = {
          type: 'tun', name: device.name, kernelAddress: k4, mtu: device.mtu,
          offload: device.offload === undefined ? undefined : { ...device.offload },
          kernelAddress6: device.ipv6 ? k6 : [],
        };
        ipv6Unavailable(device, this.info);
      } else if (options.tap) {
        // A TAP device: the Ethernet interface over its frames is the IP layers' link (tap.ts).
        option = 'tap';
        const k4 = kernel === undefined ? '' : `${formatAddress(kernel.address)}/${kernel.prefixLength}`;
        const k6 = kernel6.map((c) => `${formatAddress(c.address)}/${c.prefixLength}`);
        const t = openTap(options.tap, {
          kernelAddress: k6.length === 0 ? k4 : k4 === '' ? k6 : [k4, ...k6],
          txQueueLen: options.tap.txQueueLen ?? DEFAULT_TX_QUEUE_LEN,
          // As on a TUN: offloads unless the shaper sits above the interface.
          offload: options.tap.offload ?? options.impair === undefined,
          // The interface answers ARP for every IPv4 address (the first configured, the others added).
          ipv4: address === undefined ? undefined : { address, prefixLength, ...(gateway !== undefined ? { gateway } : {}) },
          more4: addresses4.slice(1),
          clock,
          onUnreachable: (packet, now) => this.hostUnreachable(packet, now),
          onConflict: (event) => process.nextTick(() => this.emit('addressConflict', event)),
          onIpv6Change: (change) => this.ipv6Changed(change.addresses, change.gateway),
          // RFC 4861 §6.3.4: an RA's MTU and Cur Hop Limit (SLAAC on) for the IPv6 layer.
          onRouterParams: (params) => { if (!this.isClosed) (this as { ip6?: Ipv6Layer }).ip6?.setLinkParams(params); },
        });
        device = t.device;
        tapFrames = t.frames;
        tapEth = t.eth;
        link = t.eth;
        this.info = {
          type: 'tap', name: device.name, kernelAddress: k4, mtu: t.eth.mtu,
          offload: t.eth.offload === undefined ? undefined : { ...t.eth.offload },
          mac: formatMac(t.eth.mac), ...(device.kernelMac !== undefined ? { kernelMac: device.kernelMac } : {}),
          kernelAddress6: device.ipv6 ? k6 : [],
        };
        ipv6Unavailable(device, this.info);
        if (useSlaac && device.ipv6) {
          // RFC 4862 §5.3: the link-local address fe80::EUI-64 first; SLAAC adds the others.
          this.slaacLinkLocal = slaacLinkLocal(t.eth);
          served6 = [...served6, this.slaacLinkLocal];
          this.info.slaac = true;
        }
        configureTap6(t.eth, served6.filter((a) => a !== this.slaacLinkLocal), prefixLength6, gateway6, options.tap.proxyArp, this.slaacLinkLocal !== undefined);
      } else {
        link = options.link!;
        this.info = { type: 'link', name: 'memory', kernelAddress: '', mtu: link.mtu, offload: link.offload === undefined ? undefined : { ...link.offload }, kernelAddress6: [] };
      }
      this.device = device;
      this.eth = tapEth;
      option = 'impair';
      if (spec !== undefined) {
        this.impaired = impair(link, spec, { scheduler: clock });
        link = this.impaired;
      }
      // Captures record at the device: a TAP's frames (LINKTYPE_ETHERNET), else the IP packets.
      if (tapFrames !== undefined) {
        this.tapPoint = tapFrames;
      } else {
        this.tapPoint = new CaptureLink(link);
        link = this.tapPoint;
      }
      option = 'pcap';
      if (options.pcap !== undefined) {
        const { path, ...captureOptions } = typeof options.pcap === 'string' ? { path: options.pcap } : options.pcap;
        this.pcapCapture = this.startCapture(path, captureOptions);
      }
      this.link = link;

      option = 'address';
      // One secret per stack (RFC 6528 ISNs, SYN cookies, RFC 6056 ports of both transports, RFC 6437 flow labels).
      const key = options.tcpOptions?.isnKey ?? new Uint8Array(randomBytes(16));
      // Without IPv4 addresses (an IPv6-only stack) the layer has loopback 127/8 only.
      const v4 = new Ipv4Layer({
        addresses: addresses4, prefixLength, ...(gateway !== undefined ? { gateway } : {}), link,
        onLoopback: () => this.scheduleLoopback(),
        acceptAnyDestination: anyAddress,
      });
      this.ip = v4;
      this.addresses6 = served6.map((a) => formatAddress(a));
      this.addresses6Mutable = this.addresses6 as string[];
      this.ip6 = served6.length === 0 ? undefined : new Ipv6Layer({
        addresses: served6,
        prefixLength: prefixLength6,
        ...(gateway6 !== undefined ? { gateway: gateway6 } : {}),
        link,
        reassembler: v4.reassembler, // one memory bound over both families
        ...(key.length >= 16 ? { flowLabelKey: key } : {}),
        onLoopback: () => this.scheduleLoopback(),
        acceptAnyDestination: anyAddress,
      });
      this.dual = new DualStackIp(v4, this.ip6);
      // ICMP per family, on its own layer (ICMPv4 is protocol 1, ICMPv6 58: never dual.register).
      this.icmp = new IcmpLayer(v4);
      v4.register(this.icmp);
      v4.setErrorReporter(this.icmp);
      if (this.ip6 !== undefined) {
        this.icmp6 = new Icmp6Layer(this.ip6);
        this.ip6.register(this.icmp6);
        this.ip6.setErrorReporter6(this.icmp6);
      } else {
        this.icmp6 = undefined;
      }
      // The transports see one IP layer for both families (registered on both).
      // On Ethernet (a TAP, or an EthernetInterface as the link), the groups the sockets join
      // open the interface's multicast MAC filter (RFC 1112 §6.4, RFC 2464 §7) and are
      // reported by IGMP or MLD (@netstack/ethernet mcast.ts); an IPv6 group comes as an Ipv6Address.
      const eth = tapEth ?? (isEthernetInterface(options.link) ? options.link : undefined);
      option = 'udpFlows';
      this.udpLayer = new UdpLayer(this.dual, {
        portKey: key,
        ...(eth !== undefined ? {
          // The merged source filter of each group (RFC 3376 §3.2): IGMPv3 / MLDv2 report its sources.
          onFilterChange: (g: IpAddress, mode: 'include' | 'exclude', sources: IpAddress[]) => {
            if (typeof g === 'number') eth.setIpv4GroupFilter(g, { mode, sources: sources as number[] });
            else eth.setIpv6GroupFilter(g, { mode, sources: sources as string[] });
          },
        } : {}),
        ...(options.udpFlows !== undefined ? { flows: options.udpFlows } : {}),
      });
      option = 'address';
      this.dual.register(this.udpLayer);
      // Multicast delivery needs membership (RFC 1112 §6.2): the sockets' groups are the UDP layer's.
      v4.multicastFilter = (group, src) => this.udpLayer.acceptsGroup(group, src);
      // IPv6 likewise (udp6 addMembership); ff02::1 and our solicited-node groups are the layer's own.
      if (this.ip6 !== undefined) this.ip6.multicastFilter = (group, src) => this.udpLayer.acceptsGroup(group, src);
      this.udp = createUdpApi(this.udpLayer, {
        notifier: this.events, handles: this.life, interfaceName: this.info.name, ipv6: this.ip6 !== undefined,
        flows: { layer: this.udpLayer, clock: { now: () => (this.inBatch ? this.rxNow : clock.now()), schedule: () => this.schedule() } },
      });
      option = 'tcpOptions';
      this.tcpLayer = new TcpLayer(this.dual, { ...options.tcpOptions, isnKey: key });
      this.dual.register(this.tcpLayer);
    } catch (err) {
      // Close what was opened, in reverse: captures (their files), then the device. A link
      // the caller made is the caller's: left open, so it can be given to another attempt.
      for (const c of [...this.captures]) void c.close();
      this.captures.clear();
      tapEth?.close(); // its timer (announcements), and the device under it
      device?.close();
      throw optionError(err, tunOption(err, devKey) ?? ipOption(err) ?? option);
    }
    // On a real clock (and not on a virtual one: time moves only when the caller says), the
    // process is kept alive exactly while the stack has ref'd handles (lifetime.ts).
    this.virtualClock = options.clock !== undefined;
    // Inside a receive batch, user code (called back from the packet path) sees the
    // batch's time, so every layer sees one consistent, monotonic clock.
    this.tcp = createTcpApi(this.tcpLayer, {
      now: () => (this.inBatch ? this.rxNow : clock.now()),
      schedule: () => this.schedule(),
      setTimer: (fn, ms) => clock.setTimer(fn, ms),
      cancel: (h) => clock.cancel(h),
    }, () => this.ip.addresses, this.events, this.life, (hostname, opts, cb) => this.dns.lookup(hostname, opts, cb as LookupCallback), this.addresses6, this.info.name);
    this.dnsRuntime = createDns(options.dns, options.dnsOptions ?? {}, {
      udp: this.udpLayer,
      connectTcp: (address, port) => this.tcp.connect({ host: address, port }),
      now: () => (this.inBatch ? this.rxNow : clock.now()),
      schedule: () => this.schedule(),
      hold: (delta) => this.life.hold(delta),
      ipv6: () => this.ip6 !== undefined,
    });
    this.dns = this.dnsRuntime.api;

    // DHCP (address 'dhcp'): the client beside the IPv4 layer, on the Ethernet interface.
    const dhcpEth = useDhcp ? tapEth ?? (options.link as EthernetInterface) : undefined;
    if (dhcpEth !== undefined) {
      const dnsRuntime = this.dnsRuntime;
      this.dhcpClient = new DhcpWiring({
        eth: dhcpEth,
        ip: this.ip,
        now: () => (this.inBatch ? this.rxNow : clock.now()),
        schedule: () => this.schedule(),
        leaseDns: (servers) => { dnsRuntime.leaseServers(servers); },
        mtuChanged: (mtu) => { this.info.mtu = mtu; },
        emit: (event: string, payload: unknown) => { process.nextTick(() => { if (event !== 'lease' || !this.isClosed) this.emit(event, payload); }); },
      }, options.dhcp ?? {});
    } else {
      this.dhcpClient = undefined;
    }

    // A receive batch is one bracket of the event queue: the user's handlers run after
    // its last packet and its end (coalesced ACKs out, timer re-armed), never inside.
    const dhcp = this.dhcpClient;
    this.link.setReceiver({
      packet: (packet, meta) => {
        // The clock is read once per batch, at its first packet.
        if (!this.inBatch) { this.inBatch = true; this.rxNow = clock.now(); this.events.hold(); }
        try {
          // IPv6 (version nibble 6) to the IPv6 layer when the stack has one; everything else
          // to the IPv4 layer as always, which counts a bad version among its header errors
          // (so link RxPackets = ip.InReceives + ip6.Ip6InReceives). DualStackIp.input would
          // count those in its own dispatch counters instead.
          const ip6 = this.ip6;
          // DHCP replies (UDP 67 → 68) to the client, before the IPv4 layer (which has no address yet).
          // With TAP offloads a local server's reply comes with a partial UDP checksum (meta).
          if (dhcp !== undefined && packet[9] === 17 && isDhcpReply(packet) && dhcp.input(packet, this.rxNow, meta !== undefined && (meta.csumPartial || meta.dataValid))) return;
          if (ip6 !== undefined && packet.length > 0 && packet[0]! >>> 4 === 6) ip6.input(packet, this.rxNow, meta);
          else this.ip.input(packet, this.rxNow, meta);
        } catch (e) {
          // A bug in a layer, never wire input (layers drop and count that): the batch
          // goes on, and the error surfaces as an uncaught exception on the next tick.
          this.internalErrors++;
          process.nextTick(rethrow, e);
        }
      },
      batchEnd: () => this.endBatch(),
    });
    if (dhcp !== undefined) {
      // The first DISCOVER (or INIT-REBOOT REQUEST) now; the rest on the stack's timer.
      dhcp.start(clock.now());
      this.schedule();
    }
  }

  /**
   * The keep-alive (lifetime.ts): the device's poll handle on a TUN device, else a
   * never-firing ref'd interval; only on a real clock.
   */
  private setHeld(held: boolean): void {
    if (this.device !== undefined) {
      if (held) this.device.ref();
      else this.device.unref();
      return;
    }
    if (held && !this.virtualClock) {
      this.keepAlive ??= setInterval(noop, KEEP_ALIVE_MS);
    } else if (this.keepAlive !== undefined) {
      clearInterval(this.keepAlive);
      this.keepAlive = undefined;
    }
  }

  private endBatch(): void {
    if (!this.inBatch) return;
    this.inBatch = false;
    try {
      // An address probed for a lease may have become ours (or been found in use) in this batch.
      this.dhcpClient?.check(this.rxNow);
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
      this.dual.deliverLoopback(this.rxNow);
    } catch (e) {
      this.internalErrors++;
      process.nextTick(rethrow, e);
    } finally {
      if (!outer) this.endBatch();
    }
  }

  /** Re-arms the one timer to the earliest deadline any layer has. */
  schedule(): void {
    if (this.isClosed || this.inTimer) return;
    const at = Math.min(
      this.dual.pollAt(), this.icmp.pollAt(), this.icmp6?.pollAt() ?? Infinity, this.tcpLayer.pollAt(), this.dnsRuntime.pollAt(),
      this.udpLayer.pollAt(),
      this.dhcpClient?.pollAt() ?? Infinity,
    );
    if (at >= this.timerAt) return;
    if (this.timer !== undefined) this.clock.cancel(this.timer);
    this.timerAt = at;
    if (at === Infinity) { this.timer = undefined; return; }
    // At most Node's longest timer, KEEP_ALIVE_MS (2^31 - 1 ms): a longer delay (a DHCP lease's T1 past 24.8 days) is taken as 1 ms.
    this.timer = this.clock.setTimer(this.fire, Math.min(KEEP_ALIVE_MS, Math.max(0, at - this.clock.now())));
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = Infinity;
    // Input first. Node runs expired timers before it polls for I/O, so after a busy
    // stretch this callback can run while ACKs already sit unread in the device: the
    // retransmission and tail-loss-probe timers they would cancel must not fire first
    // (spurious retransmissions, D-SACKed back). A bounded, non-blocking drain (tun:
    // until EAGAIN, at most its queue length); its batchEnd calls must not re-arm the
    // timer (done once below, after the protocol timers). Each of its batches is a bracket
    // of the event queue of its own, as a readability callback's: the application accepts
    // and reads between them. (One bracket around the whole drain let up to 1024 packets
    // in before anyone accepted: 511 completed handshakes filled a listener's accept queue
    // and the next were dropped, ListenOverflows, with at most 256 handshakes in flight.)
    if (this.link.pollNow !== undefined) {
      this.inTimer = true;
      try {
        this.link.pollNow();
      } finally {
        this.inTimer = false;
      }
      if (this.isClosed) return; // closed from a callback of that input
    }
    this.events.hold();
    try {
      this.runTimers();
    } finally {
      this.events.release();
    }
  }

  private runTimers(): void {
    const now = this.clock.now();
    this.dual.poll(now);
    this.icmp.poll(now);
    this.icmp6?.poll(now);
    this.tcpLayer.poll(now);
    this.udpLayer.poll(now);
    this.dnsRuntime.poll(now);
    this.dhcpClient?.poll(now);
    this.schedule();
  }

  /**
   * A packet that waited for a neighbour that never answered (TAP): Linux's
   * arp_error_report / ndisc_error_report, an ICMP host (address) unreachable about it to
   * its own transport, so the socket sees EHOSTUNREACH.
   */
  override on(event: 'addressConflict', listener: (conflict: AddressConflictEvent) => void): this;
  override on(event: 'address6', listener: (change: StackAddress6Change) => void): this;
  override on(event: 'lease', listener: (lease: StackLease) => void): this;
  override on(event: 'leaseLost', listener: (lost: StackLeaseLost) => void): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this;
  override on(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.on(event, listener);
  }

  override once(event: 'addressConflict', listener: (conflict: AddressConflictEvent) => void): this;
  override once(event: 'address6', listener: (change: StackAddress6Change) => void): this;
  override once(event: 'lease', listener: (lease: StackLease) => void): this;
  override once(event: 'leaseLost', listener: (lost: StackLeaseLost) => void): this;
  override once(event: string | symbol, listener: (...args: any[]) => void): this;
  override once(event: string | symbol, listener: (...args: any[]) => void): this {
    return super.once(event, listener);
  }

  /** With address 'dhcp': the lease in use (in the IP layer), else undefined. */
  get lease(): StackLease | undefined {
    return this.dhcpClient?.lease;
  }

  /**
   * Resolves with the stack's IPv4 address once it has one: at once for a static address;
   * with address 'dhcp', when the first lease is bound (after its RFC 5227 probe, when the
   * IPv4 layer uses it; `stack.lease` then has its details). Rejects with ETIMEDOUT after
   * `options.timeout` ms (default: never), with an AbortError on `options.signal`, with
   * ERR_STACK_CLOSED on close(); ERR_INVALID_STATE on a stack without IPv4 (IPv6 only).
   * While pending it keeps the process alive, as a pending request does.
   */
  whenAddress(options: { timeout?: number; signal?: AbortSignal } = {}): Promise<string> {
    if (options === null || typeof options !== 'object') return Promise.reject(invalidArgType('options', 'of type object', options));
    const timeout = options.timeout;
    if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout > 0) || !Number.isFinite(timeout))) {
      return Promise.reject(outOfRange('options.timeout', 'a finite number > 0', timeout));
    }
    if (options.signal?.aborted) return Promise.reject(abortError(options.signal.reason));
    if (this.isClosed) return Promise.reject(stackClosedError('whenAddress'));
    const dhcp = this.dhcpClient;
    if (this.ip.addresses.length > 0) return Promise.resolve(this.address);
    if (dhcp === undefined) return Promise.reject(new NetstackError('ERR_INVALID_STATE', 'the stack has no IPv4 address and no DHCP client (address \'dhcp\')'));
    return new Promise((resolve, reject) => {
      const signal = options.signal;
      let timer: unknown;
      let done = false;
      const finish = (): boolean => {
        if (done) return false;
        done = true;
        dhcp.cancelWait(onBound);
        this.addressWaiters.delete(onClose);
        signal?.removeEventListener('abort', onAbort);
        if (timer !== undefined) this.clock.cancel(timer);
        this.life.hold(-1);
        return true;
      };
      // Resolved on a later tick: never from inside the packet path.
      const onBound = (): void => { process.nextTick(() => { if (finish()) resolve(this.address); }); };
      const onClose = (err: Error): void => { if (finish()) reject(err); };
      const onAbort = (): void => { if (finish()) reject(abortError(signal!.reason)); };
      this.life.hold(1);
      this.addressWaiters.add(onClose);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeout !== undefined) {
        timer = this.clock.setTimer(() => {
          timer = undefined;
          if (finish()) reject(errnoError('ETIMEDOUT', 'whenAddress'));
        }, timeout);
      }
      dhcp.waitFor(onBound);
    });
  }

  /**
   * The Ethernet interface's usable IPv6 addresses or router changed (DAD passed, SLAAC
   * formed or expired an address, an RA's router came or went): the IPv6 layer follows, and
   * `'address6'` says so on a later tick. Before the layer exists (the constructor's
   * configuration) it is built with the same addresses.
   */
  private ipv6Changed(addresses: readonly string[], gateway: string | undefined): void {
    const ip6 = (this as { ip6?: Ipv6Layer }).ip6;
    if (ip6 === undefined || this.isClosed) return;
    const ll = this.slaacLinkLocal;
    let list = addresses as readonly Ipv6Address[];
    // The layer keeps at least one address: with SLAAC the link-local one (tentative or not).
    if (list.length === 0) list = ll !== undefined ? [ll] : ip6.addresses;
    if (!ip6.configure({ addresses: list, ...(gateway !== undefined ? { gateway } : {}) })) return;
    const text = list.map((a) => formatAddress(a));
    this.addresses6Mutable.splice(0, this.addresses6Mutable.length, ...text);
    const change: StackAddress6Change = { addresses: [...text], ...(gateway !== undefined ? { gateway: formatAddress(gateway as Ipv6Address) } : {}) };
    process.nextTick(() => { if (!this.isClosed) this.emit('address6', change); });
  }

  private hostUnreachable(packet: Uint8Array, now: number): void {
    if (this.isClosed) return;
    const v6 = packet.length > 0 && packet[0]! >>> 4 === 6;
    const reporter = v6 ? this.ip6?.addresses[0] : this.ip.address;
    if (reporter === undefined) return;
    const e = hostUnreachableError(packet, reporter);
    if (e === undefined) return;
    this.events.hold();
    try {
      this.dual.deliverError(e as Parameters<DualStackIp['deliverError']>[0], now);
    } finally {
      this.events.release();
    }
    this.schedule();
  }

  /**
   * Pings `host` (an IPv4 or IPv6 literal) from the stack; resolves with the round-trip time.
   * IPv6 goes through ICMPv6 (RFC 4443 §4.1, `icmp6`); a stack without IPv6 rejects an IPv6
   * literal with ENETUNREACH, as Linux's `ping -6` says "connect: Network is unreachable"
   * where no interface has an IPv6 address (or IPv6 is disabled by sysctl).
   */
  ping(host: string, options: PingOptions = {}): Promise<PingResult> {
    const dst4 = parseAddress(host);
    const dst6 = dst4 === undefined ? parseIpv6Address(host) : undefined;
    if (dst4 === undefined && dst6 === undefined) return Promise.reject(invalidArgValue('host', host, 'must be an IPv4 or IPv6 address'));
    const maxSize = dst6 !== undefined ? 65527 : 65507; // 65535 - (IPv4 header 20 | nothing: IPv6's length excludes it) - 8
    const size = options.size ?? 56;
    if (!Number.isInteger(size) || size < 0 || size > maxSize) {
      return Promise.reject(new NetstackError('ERR_OUT_OF_RANGE', `The value of "size" is out of range. It must be >= 0 && <= ${maxSize}. Received ${size}`));
    }
    // The ICMP core checks its arguments too, with a plain coded error; Node's wording is the facade's.
    const timeout = options.timeout ?? 1000;
    if (typeof timeout !== 'number') return Promise.reject(invalidArgType('options.timeout', 'of type number', timeout));
    if (!(timeout > 0) || !Number.isFinite(timeout)) return Promise.reject(outOfRange('options.timeout', 'a finite number > 0', timeout));
    if (options.signal?.aborted) return Promise.reject(abortError(options.signal.reason));
    if (this.isClosed) return Promise.reject(stackClosedError('ping', host));
    const icmp6 = this.icmp6;
    if (dst6 !== undefined && icmp6 === undefined) return Promise.reject(errnoError('ENETUNREACH', 'ping', host));
    // A pending ping is a handle (Node's pending request): it keeps the process alive
    // until its reply, its timeout, its abort or stack.close() (which fails it with ECONNABORTED).
    return new Promise((resolve, reject) => {
      const signal = options.signal;
      let done = false;
      const finish = (): boolean => {
        if (done) return false;
        done = true;
        this.pings.delete(onClose);
        signal?.removeEventListener('abort', onAbort);
        this.life.hold(-1);
        return true;
      };
      const onAbort = (): void => { handle.cancel(); if (finish()) reject(abortError(signal!.reason)); };
      const onClose = (err: Error): void => { handle.cancel(); if (finish()) reject(err); };
      this.life.hold(1);
      this.pings.add(onClose);
      let handle: { cancel(): boolean };
      try {
        const cb = (err: PingError | null, result: PingResult | undefined): void => {
          if (!finish()) return;
          // The core reports a code; Node's error (negative errno) is made here, at the edge.
          if (err) reject(errnoError(err.code, 'ping', host));
          else if (dst6 !== undefined) resolve({ rttMs: result!.rttMs, bytes: result!.bytes, ttl: result!.ttl, seq: result!.seq });
          else resolve(result!);
        };
        handle = dst6 !== undefined
          ? icmp6!.ping(dst6, { size, timeout }, this.clock.now(), cb)
          : this.icmp.ping(dst4!, { size, timeout }, this.clock.now(), cb);
      } catch (e) {
        finish();
        // ENOBUFS when pings pile up unpolled (an OpError of the core); anything else as it is.
        throw isPingError(e) ? errnoError(e.code, 'ping', host) : e;
      }
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
   * ERR_STACK_CLOSED after close(). Several captures may run at once.
   */
  capture(path: string, options: CaptureOptions = {}): Promise<Capture> {
    try {
      if (typeof path !== 'string' || path === '') throw invalidArgType('path', 'a non-empty string', path);
      if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
      if (this.isClosed) throw stackClosedError('capture', path);
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
      // With IPv6 only (`/proc/net/snmp6` names, as the layers count them).
      ...(this.ip6 !== undefined ? { ip6: flat(this.ip6.stats()) } : {}),
      ...(this.icmp6 !== undefined ? { icmp6: flat(this.icmp6.stats()) } : {}),
      udp: flat(this.udpLayer.stats()),
      tcp: flat(this.tcpLayer.stats()),
      dns: flat(this.dns.stats()),
      ...(this.dhcpClient !== undefined ? { dhcp: flat(this.dhcpClient.stats()) } : {}),
      ...(this.impaired ? { impair: { ...this.impaired.impairStats() } } : {}),
      // On a TAP: the Ethernet interface's counters (ARP, NS/NA, frames by fate; tap.ts tapStats).
      ...(this.eth !== undefined ? { eth: tapStats(this.eth) } : {}),
      // On a TAP, `link` is the interface's IP-level view; the device's own counters (frames) are here.
      ...(this.eth !== undefined && this.device !== undefined ? { frames: { ...this.device.stats() } } : {}),
      // Exceptions thrown by a layer (bugs, never wire input), caught at the batch and re-thrown.
      stack: { InternalErrors: this.internalErrors },
    };
  }

  linkInfo(): LinkInfo {
    return { ...this.info, kernelAddress6: [...this.info.kernelAddress6] };
  }

  /** Why the stack serves IPv4 only although it was given IPv6 addresses (one line), else undefined. */
  get ipv6Disabled(): string | undefined {
    return this.info.ipv6Disabled;
  }

  /**
   * `unref()`: nothing of this stack keeps the process alive, whatever its sockets and
   * servers say (like unref'ing every handle at once). `ref()` (the default) undoes it:
   * the stack holds the process exactly while one of its handles is active and ref'd, as
   * Node's handles do (a listening server, a connecting or open socket, a bound UDP
   * socket, a pending ping; each with its own ref()/unref()). See lifetime.ts.
   */
  unref(): this { this.life.setRefed(false); return this; }
  ref(): this { this.life.setRefed(true); return this; }

  /** Whether the stack is closed (after `close()`). */
  get closed(): boolean { return this.isClosed; }

  /**
   * Closes the stack, as the kernel ends the sockets of a process that exits, and frees
   * the device (a TUN device is removed), the capture files and the timer. Idempotent.
   *
   * - Open TCP sockets: RST to the peer (in synchronized states; it leaves before the link
   *   closes), then `'error'` with ECONNABORTED (Linux's errno for a socket its own host
   *   destroyed, as tcp_abort / `ss -K` does; the peer sees ECONNRESET), then `'close'`.
   *   A pending connect fails the same way (syscall 'connect').
   * - Listening servers close (`'close'` once their accepted sockets are gone).
   * - UDP sockets close (`'close'`); pending pings reject with ECONNABORTED.
   * - Connections no socket holds any more (closed by the user but still sending, in an
   *   accept queue, TIME-WAIT) are reset or dropped.
   * - Afterwards every call fails with code ERR_STACK_CLOSED (connect/listen/bind/send
   *   through 'error' or their callback, ping/capture by rejecting), and nothing of the
   *   stack keeps the process alive.
   *
   * Safe from inside any event handler (events run outside the stack's own work).
   */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.dnsRuntime.close(); // first: pending lookups fail with ECANCELLED, and nothing retries while the rest closes
    const now = this.clock.now();
    // Members first, while the link is up: each socket resets its connection (RST out now).
    for (const m of this.life.close()) m.stackClosed(now);
    for (const c of this.tcpLayer.connections()) c.abort(now);
    this.tcpLayer.cancelIntercepts(now); // pending decisions: their signals abort
    // RFC 2131 §4.4.6: RELEASE the lease (unicast to the server, from the address), after the
    // RSTs above left from it and before the link closes.
    const releaseWaits = this.dhcpClient?.close(now);
    for (const fail of [...this.addressWaiters]) fail(stackClosedError('whenAddress'));
    this.isClosed = true;
    // Closed in the middle of a batch (the device ends it without batchEnd): run what waits.
    this.inBatch = false;
    this.events.releaseAll();
    if (this.timer !== undefined) this.clock.cancel(this.timer);
    this.timer = undefined;
    this.udpLayer.close();
    for (const fail of [...this.pings]) fail(errnoError('ECONNABORTED', 'ping'));
    this.setHeld(false);
    // The RELEASE waits for the server's MAC (ARP; the interface resolves it below the closed
    // stack): the link stays open until it left, at most 1 s (then it is lost, as the lease
    // will simply expire at the server). The wait holds the process like any pending call
    // (unless stack.unref()): the clock's timers are unref'd, so a program whose last act is
    // `await stack.close()` would otherwise exit before the RELEASE, the close unsettled.
    if (releaseWaits !== undefined) {
      const hold = this.life.refed;
      if (hold) this.setHeld(true);
      try {
        for (let waited = 0; waited < 1000 && releaseWaits(); waited += 50) {
          await new Promise<void>((resolve) => { this.clock.setTimer(resolve, 50); });
        }
      } finally {
        if (hold) this.setHeld(false);
      }
    }
    // What was sent above is on the wire: a link pair still delivers it to the peer, a TUN
    // device wrote it already. Then the device goes.
    this.link.close();
    for (const c of [...this.captures]) void c.close(); // synchronous: flushed and closed here
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function isPingError(e: unknown): e is PingError {
  return e instanceof Error && (e as Partial<PingError>).syscall === 'ping' && typeof (e as Partial<PingError>).code === 'string';
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
  if (options.wireguard !== undefined) {
    const { wireguard, ...rest } = options;
    if (rest.tun !== undefined || rest.tap !== undefined || rest.link !== undefined) {
      throw optionError(new NetstackError('ERR_INVALID_ARG_VALUE', 'createStack() needs exactly one of options.tun, options.tap, options.link and options.wireguard'), 'wireguard');
    }
    try {
      checkWireGuardOptions(wireguard);
    } catch (err) {
      throw optionError(err, 'wireguard');
    }
    const link = await wireGuardLinkFor(wireguard);
    try {
      return new Stack({ ...rest, link });
    } catch (err) {
      link.close();
      throw err;
    }
  }
  return new Stack(options);
}
