/**
 * The UDP core's endpoint API: an endpoint is one socket's place in the port table,
 * and `SocketHost` (implemented by UdpLayer) is everything a socket facade may ask of
 * the core. The core reports failures as errno codes ('EADDRINUSE', ...); the facades
 * (node:dgram's UdpSocket and the DNS client in @netstack/netstack) make errors of them.
 */
import type { IpAddress, Ipv4Address, SendError } from '@netstack/ip';

/** One socket's place in the port table. Owned by a socket facade; the layer only reads and routes. */
export interface UdpEndpoint {
  localAddr: IpAddress;
  localPort: number;
  remoteAddr: IpAddress;
  /** 0 when not connected. */
  remotePort: number;
  readonly reuseAddr: boolean;
  /** Bind order, for ties in demultiplexing. */
  order: number;
  /**
   * An AF_INET6 socket (node:dgram 'udp6'): 'dual' hears IPv4 too when bound to `::`
   * (IPV6_V6ONLY off, Linux's default), 'only' does not (IPV6_V6ONLY). Absent for an
   * AF_INET socket. A udp6 socket bound to an IPv4-mapped address holds the IPv4
   * address itself in `localAddr` (the facade maps it back for display).
   */
  v6?: 'dual' | 'only';
  /** A datagram for this socket; `payload` is borrowed for the call. False when it was dropped (buffer full). */
  onDatagram(payload: Uint8Array, src: IpAddress, srcPort: number, now: number): boolean;
  /** An ICMP error reported to this (connected) socket: an errno code such as ECONNREFUSED. */
  onError(code: string, now: number): void;
  /** Closes the owning socket (UdpLayer.close, when its stack closes). */
  close(): void;
  /** IP_MULTICAST_TTL: the TTL of datagrams to a multicast group (Linux default 1; 0 = this host only). */
  mcTtl: number;
  /** IP_MULTICAST_LOOP: a datagram to a group this host joined is delivered here too (default true). */
  mcLoop: boolean;
  /** The socket's group memberships (Linux ip_mc_socklist), at most MAX_MEMBERSHIPS; owned by the layer. */
  memberships: Membership[];
}

/**
 * One group membership of one socket, with its source filter (RFC 3678 §4.1, Linux
 * ip_mc_socklist + ip_sf_socklist): 'exclude' with no sources is a plain join (any-source
 * multicast, IP_ADD_MEMBERSHIP); 'include' lists the sources of a source-specific join
 * (IP_ADD_SOURCE_MEMBERSHIP). There is one interface, so no interface index.
 */
export interface Membership {
  readonly group: IpAddress;
  mode: 'include' | 'exclude';
  /** At most MAX_SOURCES (Linux igmp_max_msf). */
  sources: IpAddress[];
}

/** Linux net.ipv4.igmp_max_memberships: groups one socket may join (then ENOBUFS). */
export const MAX_MEMBERSHIPS = 20;
/** Linux net.ipv4.igmp_max_msf: sources in one membership's filter (then ENOBUFS). */
export const MAX_SOURCES = 10;

/** What a membership call asks the layer (IP_ADD/DROP_MEMBERSHIP, IP_ADD/DROP_SOURCE_MEMBERSHIP). */
export type MembershipOp = 'join' | 'leave' | 'join-source' | 'leave-source';

/** What a socket facade needs from the core (UdpLayer implements it). */
export interface SocketHost {
  /** The layer was closed (UdpLayer.close: its stack closed): `bind` must not be called any more. */
  readonly closed: boolean;
  bind(ep: UdpEndpoint, addr: IpAddress, port: number): 'EADDRINUSE' | 'EADDRNOTAVAIL' | 'EMFILE' | undefined;
  unbind(ep: UdpEndpoint): void;
  connect(ep: UdpEndpoint, addr: IpAddress, port: number): 'ENETUNREACH' | undefined;
  disconnect(ep: UdpEndpoint, boundAddr: IpAddress): void;
  send(ep: UdpEndpoint, dst: IpAddress, dstPort: number, chunks: readonly Uint8Array[], length: number, ttl?: number): SendError | undefined;
  /** Changes `ep`'s memberships (Linux ip_mc_join_group / ip_mc_leave_group / ip_mc_source); an errno code on failure. */
  membership(ep: UdpEndpoint, op: MembershipOp, group: IpAddress, iface: Ipv4Address, source: IpAddress): string | undefined;
  /** Drops every membership of `ep` (the socket closes). */
  leaveAll(ep: UdpEndpoint): void;
  /** True for an address of this host's interface (or 0.0.0.0: "the default one"). */
  isLocalInterface(addr: IpAddress): boolean;
  /** 255.255.255.255 or the subnet's directed broadcast: sending there needs SO_BROADCAST. */
  isBroadcast(addr: IpAddress): boolean;
  /** net.core.rmem_max / wmem_max: the caps of setRecvBufferSize / setSendBufferSize (before doubling). */
  readonly rmemMax: number;
  readonly wmemMax: number;
}
