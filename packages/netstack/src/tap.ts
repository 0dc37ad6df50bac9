/**
 * A stack on a TAP device (issue 13): the device carries Ethernet frames, so the stack's
 * link is an `EthernetInterface` (@netstack/ethernet: ARP, the neighbour cache, RFC 5227,
 * NS/NA) over it, and the IP layers above stay as they are on a TUN.
 *
 *   TAP device (frames, mtu + 14) → CaptureLink (LINKTYPE_ETHERNET: where pcap records)
 *     → EthernetInterface (IP packets) → [impair] → Ipv4Layer / Ipv6Layer
 *
 * - Offloads as on a TUN (`tap.offload`, default on unless `impair` is set): the device
 *   opens with IFF_VNET_HDR and the offload ladder (checksum, TSO4/TSO6, USO on receive);
 *   the interface passes them through: TCP leaves as super-segments with partial checksums,
 *   framed in place in the IP layer's headroom (14 + the 12-byte vnet header, csum_start
 *   counted from the Ethernet header), and the kernel's super-segments come in whole
 *   (@netstack/ethernet's README, "Offloads"). `offload: false` opens without them.
 * - The device does not filter by IP version (a TAP hands over frames: ARP, IPv4, IPv6).
 * - pcap is taken at the device, so the file holds the frames (ARP, NS/NA, Ethernet
 *   headers) and is LINKTYPE_ETHERNET (1). With `impair`, the shaper works on IP packets
 *   above the interface (it reads IP headers), so the capture records what the wire
 *   carries after it; on a TUN the capture sits above the shaper.
 */
import { TunDevice, CaptureLink, LINKTYPE_ETHERNET, type Link, type LinkReceiver, type NetnsTarget, type TunRoute, type TunStats } from '@netstack/tun';
import { EthernetInterface, eui64, formatMac, parseMac, type AddressConflict } from '@netstack/ethernet';
import type { Scheduler } from '@netstack/common';
import { formatAddress, parseAddress, parseIpv6Address, type Ipv4Address, type Ipv6Address } from '@netstack/ip';
import { invalidArgType, invalidArgValue } from './node-errors.js';

export interface TapOptions {
  /** Device name (default: the kernel picks tapN). An existing persistent TAP is attached to. */
  name?: string;
  /**
   * Address and prefix of the kernel's side of the device, as for `tun`: '10.7.0.1/24', or
   * ['10.7.0.1/24', 'fd07::1/64']. The kernel then ARPs (and solicits) for the stack's
   * address like for any host on the segment.
   */
  kernelAddress?: string | readonly string[];
  /** The device's (IP) MTU, 68..65521 (default 1500); frames are up to 14 bytes longer. */
  mtu?: number;
  /** The device's txqueuelen, raised to at least this (default 1000, as for `tun`). */
  txQueueLen?: number;
  /** Open with IFF_NAPI (default true). */
  napi?: boolean;
  /**
   * Negotiate offloads as on a TUN (IFF_VNET_HDR, checksum, TSO4/TSO6, USO on receive),
   * before the Ethernet header. Default true unless `impair` is set (the shaper does not
   * carry offload metadata); `stack.linkInfo().offload` says what was agreed.
   */
  offload?: boolean;
  /**
   * The stack's own MAC on the segment, 'xx:xx:xx:xx:xx:xx' (unicast). Default: a random
   * locally administered one (02:…), new for each stack.
   */
  mac?: string;
  /** Create the device in another network namespace (as `tun.netns`): the stack and its sockets stay in the process's own. */
  netns?: NetnsTarget;
  /** Routes through the device added on the kernel side (as `tun.routes`), e.g. `[{ dst: 'default', via: '10.0.2.2' }]`. */
  routes?: readonly TunRoute[];
  /**
   * Addresses the interface answers ARP requests and neighbour solicitations for although
   * the stack does not own them (proxy ARP, RFC 1027): a gateway's (`netstack nat --tap`:
   * 10.0.2.2, 10.0.2.3, fd00::2, fd00::3). The IP layers see their traffic as foreign
   * (`anyAddress`). IPv4 and IPv6 literals.
   */
  proxyArp?: readonly string[];
}

/** What `'addressConflict'` reports (RFC 5227 §2.1.1 while probing, §2.4 once bound). */
export interface AddressConflictEvent {
  /** The address in conflict (dotted quad, or IPv6 text). */
  address: string;
  /** The MAC of the other station that claims it. */
  mac: string;
  /** 'probe': found while probing (the address was not taken); 'bound': a host claims an address the stack holds (defended, kept). */
  phase: AddressConflict['phase'];
  /** 'bound' only: the stack sent a defending announcement (false: it had within the last 10 s). */
  defended: boolean;
}

/** What openTap built: the device, the capture point on its frames, and the interface (the stack's link). */
export interface TapLink {
  device: TunDevice;
  frames: CaptureLink;
  eth: EthernetInterface;
}

/** Checks `tap` and its `mac` (no side effects). */
export function checkTapOptions(tap: unknown): void {
  if (tap === null || typeof tap !== 'object') throw Object.assign(invalidArgType('options.tap', 'of type object', tap), { option: 'tap' });
  const mac = (tap as TapOptions).mac;
  if (mac !== undefined) {
    const m = typeof mac === 'string' ? parseMac(mac) : undefined;
    // Unicast: the group bit (the first octet's lowest bit) clear, and not 00:00:00:00:00:00.
    if (m === undefined || m === 0 || Math.floor(m / 2 ** 40) % 2 === 1) {
      throw Object.assign(invalidArgValue('options.tap.mac', mac, "must be a unicast MAC address like '02:00:00:00:00:02'"), { option: 'tap.mac' });
    }
  }
  const proxy = (tap as TapOptions).proxyArp;
  if (proxy !== undefined && (!Array.isArray(proxy) || proxy.some((a) => typeof a !== 'string' || (parseAddress(a) === undefined && parseIpv6Address(a) === undefined)))) {
    throw Object.assign(invalidArgValue('options.tap.proxyArp', proxy, 'must be an array of IPv4 and IPv6 addresses'), { option: 'tap.proxyArp' });
  }
}

/**
 * The device's frames as the interface's frame link: the same device, with `mtu` the
 * largest frame (device.frameMtu: the IP MTU + 14), as @netstack/ethernet expects.
 */
function frameLink(device: TunDevice): Link {
  const link: Link = {
    get mtu() { return device.frameMtu; },
    send: (frame: Uint8Array) => device.send(frame),
    setReceiver: (receiver: LinkReceiver) => device.setReceiver(receiver),
    pollNow: () => device.pollNow(),
    stats: (): TunStats => device.stats(),
    close: () => device.close(),
  };
  // With a vnet header: offloaded frames (csumStart from the frame's first byte) into the
  // device's headroom, as the interface hands them over.
  if (device.offload !== undefined) {
    const offload = device.offload;
    const headroom = device.offloadHeadroom;
    Object.assign(link, {
      offload,
      offloadHeadroom: headroom,
      sendOffload: (frame: Uint8Array, gsoSize: number, csumStart: number, csumOffset: number) => device.sendOffload(frame, gsoSize, csumStart, csumOffset),
    });
  }
  return link;
}

export interface TapWiring {
  kernelAddress: string | string[];
  /** Negotiate offloads (tap.offload, or the stack's default). */
  offload: boolean;
  txQueueLen: number;
  ipv4: { address: Ipv4Address; prefixLength: number; gateway?: Ipv4Address } | undefined;
  /** The stack's other IPv4 addresses (answered for and announced as the first). */
  more4: readonly Ipv4Address[];
  clock: Scheduler;
  onUnreachable: (packet: Uint8Array, now: number) => void;
  onConflict: (event: AddressConflictEvent) => void;
  /** The usable IPv6 addresses or the router changed (DAD, SLAAC, RAs). */
  onIpv6Change: (change: { addresses: Ipv6Address[]; gateway: Ipv6Address | undefined }) => void;
  /** A Router Advertisement's MTU and Cur Hop Limit (SLAAC on; RFC 4861 §6.3.4). */
  onRouterParams: (params: { mtu: number | undefined; hopLimit: number | undefined }) => void;
}

/**
 * Opens the TAP device (offloads as asked, no version filter) and builds the Ethernet interface
 * over it. On failure nothing is left open. IPv6 is configured afterwards (`configureIpv6`),
 * once the device said whether the kernel side has it.
 */
export function openTap(tap: TapOptions, w: TapWiring): TapLink {
  const device = TunDevice.open({
    mode: 'tap',
    ...(tap.name !== undefined ? { name: tap.name } : {}),
    mtu: tap.mtu ?? 1500,
    txQueueLen: w.txQueueLen,
    ...(tap.napi !== undefined ? { napi: tap.napi } : {}),
    ...(tap.netns !== undefined ? { netns: tap.netns } : {}),
    ...(tap.routes !== undefined ? { routes: tap.routes } : {}),
    offload: w.offload,
    // None (a DHCP stack on a bridge port: the kernel side has no address of its own).
    ...(w.kernelAddress === '' || w.kernelAddress.length === 0 ? {} : { kernelAddress: w.kernelAddress }),
    ipv4Only: false,
  });
  try {
    // Nothing is ref'd yet: the device holds the process only while a handle needs it.
    device.unref();
    const frames = new CaptureLink(frameLink(device), { linkType: LINKTYPE_ETHERNET });
    const eth = new EthernetInterface({
      link: frames,
      clock: w.clock,
      ...(tap.mac !== undefined ? { mac: tap.mac } : {}),
      ...(w.ipv4 !== undefined ? { ipv4: w.ipv4 } : {}),
      onUnreachable: (packet, _hop, now) => w.onUnreachable(packet, now),
      onConflict: (c) => w.onConflict({ address: formatIpv4(c.address), mac: formatMac(c.mac), phase: c.phase, defended: c.defended }),
      // RFC 4862 §5.4: a duplicate found by DAD ('probe': not used), or a bound address claimed ('bound': kept).
      onConflict6: (c) => w.onConflict({ address: formatAddress(c.address as Ipv6Address), mac: c.mac === undefined ? '00:00:00:00:00:00' : formatMac(c.mac), phase: c.phase, defended: false }),
      onIpv6Change: (c) => w.onIpv6Change({ addresses: c.addresses as Ipv6Address[], gateway: c.gateway as Ipv6Address | undefined }),
      onRouterParams: (p) => w.onRouterParams(p),
    });
    for (const a of w.more4) eth.addAddress(a);
    for (const text of tap.proxyArp ?? []) {
      const a = parseAddress(text);
      if (a !== undefined) eth.addAddress(a);
    }
    return { device, frames, eth };
  } catch (err) {
    device.close();
    throw err;
  }
}

/**
 * IPv6 on the interface: our addresses, their prefix and the router (the kernel side); DAD
 * runs for them (optimistic: usable at once, a duplicate reported). With `slaac`, the
 * interface adds fe80::EUI-64 and takes addresses and the router from RAs (RFC 4862).
 */
export function configureTap6(
  eth: EthernetInterface, addresses: readonly Ipv6Address[], prefixLength: number, gateway: Ipv6Address | undefined, proxy?: readonly string[], slaac = false,
): void {
  if (addresses.length === 0 && !slaac) return;
  // Proxied addresses (TapOptions.proxyArp) are answered for as ours, after the stack's own (its source addresses).
  const more = (proxy ?? []).map((t) => parseIpv6Address(t)).filter((a): a is Ipv6Address => a !== undefined && !addresses.includes(a));
  eth.configureIpv6({
    addresses: [...addresses, ...more], prefixLength: slaac ? 64 : prefixLength, ...(gateway !== undefined ? { gateway } : {}), ...(slaac ? { slaac } : {}),
  });
}

/** The link-local address SLAAC gives the interface (RFC 4862 §5.3): fe80::, then the MAC's modified EUI-64. */
export function slaacLinkLocal(eth: EthernetInterface): Ipv6Address {
  return ('\xfe\x80' + '\0'.repeat(6) + eui64(eth.mac)) as Ipv6Address;
}

/**
 * The interface's counters for `stack.stats().eth`: the Ethernet ones as they are
 * (ArpInRequests, ArpOutReplies, NdpInSolicits...), the ARP cache's as `arp.*`, the IPv6
 * neighbour cache's as `nd.*`, the address table's (RFC 5227) as `acd.*`, the IGMP and MLD
 * host machines' (groups reported, queries heard) as `igmp.*` and `mld.*`.
 */
export function tapStats(eth: EthernetInterface): Record<string, number> {
  const c = eth.counters();
  const out: Record<string, number> = { ...c.ethernet } as unknown as Record<string, number>;
  const add = (prefix: string, o: object): void => {
    for (const [k, v] of Object.entries(o)) if (typeof v === 'number') out[`${prefix}.${k}`] = v;
  };
  add('arp', c.neighbour);
  add('nd', c.neighbour6);
  add('acd', c.acd);
  add('igmp', c.igmp);
  add('mld', c.mld);
  add('addr6', c.addr6);
  return out;
}

function formatIpv4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}
