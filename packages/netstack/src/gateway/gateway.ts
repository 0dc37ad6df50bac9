/**
 * `createGateway({ netns })`: user-mode networking for a network namespace (issue 12; the
 * job of slirp4netns and pasta). A stack with `anyAddress` runs on a TUN device created
 * INSIDE the target namespace (kernel side 10.0.2.100/24, default route via 10.0.2.2;
 * fd00::100/64 via fd00::2), while this process and every socket it opens stay in their
 * own namespace. Every TCP connection and UDP flow the namespace makes is terminated by the
 * stack and re-originated by a kernel socket here (`node:net` / `node:dgram`):
 *
 * - TCP (stack.tcp.intercept): the upstream `net.connect` runs first; the client's SYN is
 *   answered only on its 'connect' (so the client's connect() succeeds only if the real
 *   destination accepted). ECONNREFUSED -> RST; EHOSTUNREACH / ENETUNREACH -> the ICMP
 *   unreachable of that kind; no answer within `limits.connectTimeout` -> nothing (the
 *   client's SYN times out). Then bytes both ways through a `Pump` each (below; `pipe()`
 *   for SOCKS5 sockets) with back-pressure end to end (a side that is not read closes the
 *   other's TCP window), FIN <-> end() with allowHalfOpen on both sides, RST <->
 *   resetAndDestroy().
 * - UDP (stack.udp.interceptFlows): one connected host socket per flow, closed with the
 *   flow (the stack's idle expiry, `limits.udpIdleTimeout`): @netstack/host's UdpSocket
 *   (IP_RECVERR; node:dgram for a policy's rewrite to a host name). As a router hop (RFC
 *   1812 §5.3.1): the guest's TTL less one and its DF per datagram, TTL 1 answered with
 *   time exceeded from 10.0.2.2 / fd00::2, routers' ICMP errors about the flow passed on
 *   from them, a DF datagram over the known path MTU answered with fragmentation needed /
 *   packet too big (and still carried, fragmented by the host).
 * - TCP needs no ICMP passed on: the guest's connection ends here; the upstream's ICMP is
 *   the host kernel's business, and the connect's failures are mapped (above).
 * - 10.0.2.2 (fd00::2) is the host: refused (RST; UDP dropped) unless
 *   `allowHostLoopback`, which maps it to 127.0.0.1 (::1). Loopback, unspecified and
 *   IPv4-mapped destinations are refused whatever the guest sends.
 * - 10.0.2.3 (fd00::3) port 53 is a DNS forwarder (UDP and TCP) to `dns` (default: the
 *   first nameserver of /etc/resolv.conf). Other ports there are refused.
 * - `policy(info)` (embedders): 'allow', a refusal kind, or `{ host, port }` to rewrite
 *   the destination; it runs after the bounds and before the special addresses' rules.
 * - Bounds: `limits.maxTcp` connections (relaying or connecting) and `limits.maxUdp`
 *   flows; a new one over the bound is refused (RST / dropped) and counted
 *   (`TcpRefusedLimit`, `UdpRefusedLimit`). Memory per TCP connection: the two sockets'
 *   buffers (highWaterMark each way) and the stack's windows.
 * - Hostile or buggy guests (the README's "Robustness"): connections not yet established
 *   both ways (the upstream connect pending, or the guest's handshake not completed) are
 *   at most `limits.maxConnecting`. At that bound or `maxTcp`, the oldest of them gives
 *   way if it has waited a second or more (dropped: its client's SYN times out; or reset
 *   once accepted: `TcpEvicted`), else the new one is refused (RST, `TcpRefusedLimit`), so
 *   that SYNs to silent addresses or from forged sources shut the guest out of new
 *   connections for a second, not for the minute or two they would wait (FreeBSD's
 *   syncache drops a full bucket's oldest entry so). A full UDP flow table ends
 *   the least recently active flow (the core's, `udp.FlowEvicted`; `UdpEvicted`). Sources
 *   outside the guest's prefixes are dropped (RFC 2827 / BCP 38 ingress filtering:
 *   `TcpRefusedSource`, `UdpRefusedSource`).
 */
import net from 'node:net';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import type { NetnsTarget } from '@netstack/tun';
import type { InterceptRefusal } from '@netstack/tcp';
import { createStack, type Stack } from '../stack.js';
import type { InterceptDecision, InterceptInfo, Socket } from '../net/index.js';
import { kOnCancel } from '../net/intercept.js';
import { kCommitSpace, kWhenSpace, kWriteNow, kWriteSpace } from '../net/socket.js';
import type { FlowRemoteInfo, UdpFlowSocket } from '../dgram/index.js';
import { UdpSocket, type UdpSocketError } from '@netstack/host';
import { ipv6FromBytes, parseIpAddress, readAddress, sameSubnet, type InboundDatagram, type Ipv4Address, type Ipv6Address } from '@netstack/ip';
import { INTERCEPT_MAX_COPY, INTERCEPT_REQUEST_OVERHEAD } from '@netstack/tcp';
import { socks5Connect, socks5UdpAssociate, type Socks5Auth, type Socks5Proxy, type Socks5UdpAssociation } from './socks5.js';
import { startEchoRelay, type EchoRelayStats, type EchoRoute, type EchoSocketFactory } from './echo-relay.js';

/** What a policy sees: the flow's protocol and original 4-tuple (ICMP echo: localPort 0, remotePort the guest's identifier). */
export interface GatewayFlowInfo {
  protocol: 'tcp' | 'udp' | 'icmp';
  /** The original destination (where the guest sent). */
  localAddress: string;
  localPort: number;
  /** The guest's end. */
  remoteAddress: string;
  remotePort: number;
  family: 'IPv4' | 'IPv6';
}

/** 'allow', a refusal (UDP: any refusal drops the flow; ICMP echo: 'rst' answers administratively prohibited), or where to connect instead (ICMP echo: `host` must be an address of the same family). */
export type GatewayVerdict = 'allow' | InterceptRefusal | { host: string; port: number };

export interface GatewayLimits {
  /** TCP connections at once, connecting or relaying; a new one beyond is refused (RST), unless a connection not established both ways has waited a second (it gives way: `maxConnecting`). Default 4096. */
  maxTcp?: number;
  /** UDP flows at once (default 1024). */
  maxUdp?: number;
  /**
   * TCP connections not yet established both ways (the upstream connect pending, or accepted
   * and the guest's handshake not completed) at once; a new one beyond takes the oldest's
   * place if it has waited a second or more (TcpEvicted), else the new one is refused
   * (RST, TcpRefusedLimit). Default 1024.
   */
  maxConnecting?: number;
  /** An upstream TCP connect with no answer after this many ms is given up: the client's SYN times out (default 60 000; the stack keeps a decision pending for 75 s). */
  connectTimeout?: number;
  /** A UDP flow with no datagram either way for this many ms ends (default 60 000). */
  udpIdleTimeout?: number;
  /** Buffered bytes per direction per TCP connection on each side of the relay (default 256 KiB). */
  highWaterMark?: number;
  /** ICMP echoes relayed and waiting for their reply at once (default 1024; echo-relay.ts). */
  maxEchoes?: number;
  /** ms a relayed ICMP echo waits for its reply (default 10 000). */
  echoTimeout?: number;
}

export interface GatewayOptions {
  /** The namespace to give network access: an `ip netns add` name, a PID, or a path. */
  netns: NetnsTarget;
  /** Device MTU (default 65520, as slirp4netns; at most 65521 with `tap`). */
  mtu?: number;
  /**
   * A TAP device instead of TUN (slirp4netns's kind: an Ethernet segment, for what needs
   * one: a bridge, DHCP clients, software that reads MACs). Same addresses; the stack
   * answers ARP and neighbour solicitations for the gateway's 10.0.2.2 and 10.0.2.3
   * (fd00::2, fd00::3: proxy ARP) while their traffic stays intercepted. Default false.
   */
  tap?: boolean;
  /** Device name inside the namespace (default 'tap0', as slirp4netns and Podman name it). */
  name?: string;
  /** Addresses (slirp4netns's defaults). */
  address?: { guest?: string; gateway?: string; dns?: string };
  /** IPv6 too: fd00::100/64 in the namespace, fd00::2 the host, fd00::3 DNS (default true; skipped where the namespace has IPv6 off). */
  ipv6?: boolean;
  /** Upstream DNS server for 10.0.2.3: 'IP', 'IP:PORT' or '[IPv6]:PORT' (default: the first nameserver in /etc/resolv.conf). */
  dns?: string;
  /** 10.0.2.2 reaches the host's 127.0.0.1 (fd00::2: ::1). Default false: refused. */
  allowHostLoopback?: boolean;
  limits?: GatewayLimits;
  /**
   * The tun2socks mode: every TCP connection through this SOCKS5 proxy (RFC 1928 CONNECT;
   * RFC 1929 with `auth`), every UDP flow through its own UDP ASSOCIATE. The DNS forwarder
   * goes through it too; 10.0.2.2 with `allowHostLoopback` does not (the host's loopback).
   */
  socks5?: { proxy: Socks5Proxy; auth?: Socks5Auth };
  /** Per-flow decision for embedders (allow lists, logging, rewriting). */
  policy?: (info: GatewayFlowInfo) => GatewayVerdict;
  /** @internal the host's ICMP echo socket (tests script it; default @netstack/host's PingSocket) */
  echoSocket?: EchoSocketFactory;
}

/** The counters; the Icmp* ones are the echo relay's (echo-relay.ts). */
export interface GatewayStats extends EchoRelayStats {
  TcpRequests: number; TcpAccepted: number; TcpActive: number; TcpRefusedLimit: number; TcpRefusedPolicy: number;
  TcpRefusedHost: number; TcpUpstreamRefused: number; TcpUpstreamUnreachable: number; TcpUpstreamTimeout: number;
  TcpUpstreamOtherError: number; TcpResets: number; TcpBytesOut: number; TcpBytesIn: number;
  /** Connections not yet established both ways ended to make room for a new one (`limits.maxConnecting`): dropped while the upstream connect was pending, reset once accepted. */
  TcpEvicted: number;
  /** New connections (UDP: flows) from a source outside the guest's prefixes, dropped (RFC 2827 ingress filtering). */
  TcpRefusedSource: number; UdpRefusedSource: number;
  /** UDP flows ended to make room for a new one in a full table (the least recently active first). */
  UdpEvicted: number;
  /** Of TcpBytesIn, the bytes upstream reads put straight into the stack's send buffer toward the guest (not copied there). */
  TcpBytesInPlace: number;
  UdpFlows: number; UdpActive: number; UdpRefusedLimit: number; UdpRefusedPolicy: number; UdpRefusedHost: number;
  UdpDatagramsOut: number; UdpDatagramsIn: number; UdpBytesOut: number; UdpBytesIn: number; UdpDropped: number; UdpErrors: number;
  /** UDP upstream errors answered to the guest with ICMP destination unreachable (port: ECONNREFUSED; host; net; prohibited). */
  UdpUnreachable: number;
  /** ICMP errors from beyond about a UDP flow's datagrams (unreachable, time exceeded, fragmentation needed / packet too big) passed on to the guest from their sender. */
  UdpIcmpRelayed: number;
  /** Guest datagrams with TTL (hop limit) 1 to a relayed destination: answered with time exceeded from the gateway's address (RFC 1812 §5.3.1). */
  UdpTtlExceeded: number;
  /** Guest datagrams with DF over the path MTU the host knows (EMSGSIZE): answered with fragmentation needed / packet too big from the gateway's address, with that MTU. */
  UdpFragNeeded: number;
  DnsTcp: number; DnsUdp: number;
  Published: number; PublishedConnections: number;
}

export interface PublishOptions {
  protocol?: 'tcp' | 'udp';
  /** Host-side port to listen on (0: any). */
  hostPort: number;
  /** Host-side address (default '0.0.0.0'). */
  hostAddress?: string;
  /** The guest's port (on its 10.0.2.100). */
  guestPort: number;
}

export interface Gateway {
  readonly stack: Stack;
  /** The device's name in the namespace. */
  readonly device: string;
  /** The guest's, the host's and the DNS addresses as configured. */
  readonly addresses: { guest: string; gateway: string; dns: string; guest6?: string; gateway6?: string; dns6?: string };
  /** The upstream DNS server (host, port). */
  readonly dnsUpstream: { host: string; port: number };
  stats(): GatewayStats;
  /** Listens on the host side and forwards into the namespace (Podman's -p). Resolves with the bound port. */
  publish(options: PublishOptions): Promise<number>;
  /** Ends every relay, closes published listeners, removes the device. */
  close(): Promise<void>;
}

const DEFAULT_MTU = 65520;
/**
 * Interception requests the stack may hold beyond `maxConnecting`: SYNs read in one batch
 * from the device become requests before the gateway sees the first of them (and evicts),
 * so the stack's table keeps this much room above the gateway's bound.
 */
const INTERCEPT_HEADROOM = 256;
/**
 * A connection not established both ways this long (ms) gives way to a new one at a bound
 * (`evictStale`): RFC 6298 §2.1's initial RTO, so a handshake step this late has lost a
 * segment (the client retransmits and is admitted then), or will not happen (a silent
 * address, a forged source); younger ones are a burst of real connections, and the new
 * one is refused as the bound says.
 */
const STALE_MS = 1000;

/** The first `nameserver` of resolv.conf text, or undefined. */
export function firstNameserver(text: string): string | undefined {
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m) return m[1]!.replace(/%.*$/, '');
  }
  return undefined;
}

/** 'IP', 'IP:PORT', '[IPv6]:PORT' or a bare IPv6 -> { host, port } (default port 53). */
export function parseHostPort(text: string, defaultPort = 53): { host: string; port: number } | undefined {
  const ok = (p: number): boolean => Number.isInteger(p) && p > 0 && p < 65536;
  let m = /^\[([^\]]+)\](?::(\d+))?$/.exec(text);
  if (m) {
    const port = m[2] === undefined ? defaultPort : Number(m[2]);
    return net.isIPv6(m[1]!) && ok(port) ? { host: m[1]!, port } : undefined;
  }
  if (net.isIPv6(text)) return { host: text, port: defaultPort };
  m = /^([^:]+)(?::(\d+))?$/.exec(text);
  if (!m) return undefined;
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  return m[1] !== '' && ok(port) ? { host: m[1]!, port } : undefined;
}

/**
 * Destinations never re-originated from the guest: loopback, unspecified, IPv4-mapped/compatible IPv6 (they would reach the host's own loopback).
 * @internal exported for its test
 */
export function forbidden(address: string): boolean {
  if (!address.includes(':')) {
    // IPv4 text (or a name, never forbidden): only 0/8 and 127/8 are, and a dotted quad
    // has no leading zeros, so only text starting so needs the full check. The ping
    // relay's route runs this per echo: no regular expression on the common path.
    return (address.startsWith('127.') || address.startsWith('0.')) && net.isIPv4(address);
  }
  const a = address.toLowerCase();
  return a === '::1' || a === '::' || a.startsWith('::ffff:') || /^::(\d+\.){3}\d+$/.test(a);
}

function cidr(text: string): { address: string; prefix: number } {
  const [a, p] = text.split('/');
  return { address: a!, prefix: p === undefined ? 24 : Number(p) };
}

/** Maps an upstream connect error to what the guest's client should see. */
function refusalFor(code: string | undefined): { kind: InterceptRefusal; counter: 'TcpUpstreamRefused' | 'TcpUpstreamUnreachable' | 'TcpUpstreamOtherError' } {
  switch (code) {
    case 'ECONNREFUSED': return { kind: 'rst', counter: 'TcpUpstreamRefused' };
    case 'EHOSTUNREACH': return { kind: 'host-unreachable', counter: 'TcpUpstreamUnreachable' };
    case 'ENETUNREACH': return { kind: 'net-unreachable', counter: 'TcpUpstreamUnreachable' };
    case 'EACCES': case 'EPERM': return { kind: 'admin-prohibited', counter: 'TcpUpstreamUnreachable' };
    case 'ETIMEDOUT': return { kind: 'drop', counter: 'TcpUpstreamOtherError' };
    default: return { kind: 'rst', counter: 'TcpUpstreamOtherError' };
  }
}

/** A refused UDP flow's answer, by the refusal a TCP connect would get (undefined: silence). */
const UDP_REFUSAL: Record<InterceptRefusal, 'port' | 'host' | 'net' | 'admin-prohibited' | undefined> = {
  rst: 'port', 'host-unreachable': 'host', 'net-unreachable': 'net', 'admin-prohibited': 'admin-prohibited', drop: undefined,
};

/**
 * A UDP flow's upstream error as the guest's client expects it (what Linux's
 * icmp_err_convert gives back): ECONNREFUSED -> port unreachable, EHOSTUNREACH -> host
 * unreachable, ENETUNREACH -> net unreachable, EACCES/EPERM -> administratively
 * prohibited (counted UdpUnreachable); other errors send nothing.
 */
function unreachableTo(flow: UdpFlowSocket, code: string | undefined, stats: GatewayStats): void {
  const kind = code === 'ECONNREFUSED' ? 'port' : code === 'EHOSTUNREACH' ? 'host' : code === 'ENETUNREACH' ? 'net'
    : code === 'EACCES' || code === 'EPERM' ? 'admin-prohibited' : undefined;
  if (kind !== undefined && flow.unreachable(kind)) stats.UdpUnreachable++;
}

/**
 * Bytes one read may take: the reused buffer of a `Pump`, one per direction per relayed
 * connection (node's own read size), from a small pool so that a new connection does not
 * allocate (64 KiB x 2 x maxTcp at most while relaying; pages touched only as data arrives).
 */
const RELAY_BUFFER = 64 * 1024;
/** Buffers kept for reuse when their connections end (4 MiB). */
const POOL_MAX = 64;
const pool: Buffer[] = [];
/**
 * Upstream reads toward the guest take up to 256 KiB (four segments at MTU 65520: a quarter
 * of the reads and callbacks; about 10 % less CPU per GB downloading, measured) for at most
 * BIG_MAX connections at once; the others read 64 KiB. So the larger buffers add at most
 * BIG_MAX x 192 KiB (12 MiB) however many connections there are.
 */
const BIG_RELAY_BUFFER = 256 * 1024;
const BIG_MAX = 64;
const bigPool: Buffer[] = [];
let bigInUse = 0;
/**
 * The stack's send buffer per connection toward the guest (the core's default is 256 KiB:
 * four segments at the default MTU 65520, too few to keep the guest's receiver busy while
 * the upstream is read; 1 MiB measured up to twice the download rate). The core's memory
 * account (maxBufferMemory, 256 MiB) bounds the sum over connections; a ring grows only as
 * it fills.
 */
const GUEST_SEND_BUFFER = 1024 * 1024;
/** The read right after the relay waited for room in the guest's send buffer (Pump.nextBuffer): copied in. */
const SMALL_READ = 4096;
/** Bytes a source may deliver before its destination is attached (copied; then the source pauses). */
const MAX_EARLY_BYTES = RELAY_BUFFER;
/** The write a `Pump` queues behind one its destination kept: its callback says everything before it was written. */
const EMPTY = Buffer.alloc(0);

/** The writable side a `Pump` writes to: a node:net or a netstack Socket. */
interface PumpSink {
  write(chunk: Buffer, cb?: (err?: Error | null) => void): boolean;
  readonly writableLength: number;
  readonly destroyed: boolean;
  readonly writableEnded: boolean;
  end(): unknown;
}

/** A read of this many bytes marks a relayed flow as bulk: its next reads go in place (Pump.nextBuffer). */
const BULK_READ = 16 * 1024;

/** The side a `Pump` reads from (made with the pump's `onread`). */
interface PumpSource {
  resume(): unknown;
  pause(): unknown;
  readonly destroyed: boolean;
  once(event: 'end', listener: () => void): unknown;
}

/**
 * One direction of the relay without an allocation per read: the source socket reads
 * into ONE buffer (the `onread` option, of node:net and of the stack's Socket alike), and
 * each read is written to the other socket at once. The stack's Socket copies it into the
 * core's send buffer; a node:net socket hands it to the kernel (write(2) at once when the
 * socket buffer has room). If the destination kept any of it (the core's send buffer or
 * the kernel's socket buffer was full), the source is paused (its receive buffer fills and
 * its window closes: back-pressure end to end) until that write completes, so the buffer
 * is never overwritten while referenced. (A 'data' listener instead gets a fresh 64 KiB
 * buffer per read: at a few GB/s that garbage was the relay's largest cost.)
 */
/** @internal exported for its tests (test/gateway/pump.test.ts) */
export class Pump {
  readonly #storage: Buffer;
  readonly #big: boolean;
  /** What one read fills: the start of the pooled storage. */
  readonly buffer: Buffer;
  #from: PumpSource | undefined;
  #to: PumpSink | undefined;
  /** Reads before the destination was attached: copies, at most MAX_EARLY_BYTES + one read. */
  #early: Buffer[] | undefined;
  #earlyBytes = 0;
  #paused = false;
  #released = false;
  /** The payload of one segment toward the guest (upstream -> guest), else undefined. */
  readonly #segment: number | undefined;
  /** Bytes read straight into the destination's send buffer (`nextBuffer`; GatewayStats.TcpBytesInPlace). */
  inPlace = 0;
  /** The destination's send-buffer view the next read fills (`nextBuffer`), else undefined. */
  #space: Uint8Array | undefined;
  /** The first read after a wait for room (`nextBuffer`): a small piece of the pooled buffer. */
  readonly #small: Uint8Array;
  /** Bytes of the last read (`onRead`): the next in-place read is offered at most twice that. */
  #lastRead = 0;
  /** A read brought BULK_READ or more (or a segment) (`onRead`): reads go in place from then on (`nextBuffer`). */
  #bulk = false;
  /**
   * `segment` (upstream -> guest): the payload of one segment toward the guest; a read then
   * takes whole segments, up to 256 KiB while fewer than BIG_MAX such reads are in use, else
   * up to 64 KiB. Without: 64 KiB.
   */
  constructor(segment?: number) {
    this.#segment = segment !== undefined && segment > 0 ? segment : undefined;
    this.#big = segment !== undefined && bigInUse < BIG_MAX;
    if (this.#big) bigInUse++;
    this.#storage = this.#big ? bigPool.pop() ?? Buffer.allocUnsafeSlow(BIG_RELAY_BUFFER) : pool.pop() ?? Buffer.allocUnsafeSlow(RELAY_BUFFER);
    const cap = this.#storage.length;
    const size = segment !== undefined && segment > 0 && segment <= cap ? Math.floor(cap / segment) * segment : cap;
    this.buffer = this.#storage.subarray(0, size);
    this.#small = this.#storage.subarray(0, SMALL_READ);
  }

  readonly #resume = (): void => {
    if (!this.#paused || (this.#to !== undefined && this.#to.writableLength > 0)) return;
    this.#paused = false;
    const from = this.#from;
    if (from !== undefined && !from.destroyed) from.resume();
  };

  /**
   * The last view of `buffer` handed on, reused while reads have its length (a request or
   * reply of the same size each time: no Buffer allocated, and no `.buffer` read, which
   * Buffer#subarray does through a C++ getter, per read). Safe because the source is paused
   * while the destination holds any of a chunk (below), so a view is never re-handed while
   * referenced.
   */
  #view: Buffer | undefined;

  /**
   * The `onread.buffer` function of the upstream socket (node asks before the first read and
   * after each): where the next read lands. Toward a stack Socket that can take it, a view
   * of the free storage of its send buffer (`kWriteSpace`: the read IS the write, no copy
   * into the send buffer), whole segments of it; else (not attached yet, paused, a write
   * queued, less than one segment free before the buffer wraps) the pooled buffer, whose
   * reads are copied in as before.
   */
  readonly nextBuffer = (): Uint8Array => {
    this.#space = undefined;
    const to = this.#to;
    const seg = this.#segment;
    // In place only once the flow has shown it is a bulk one (a read brought at least 16 KiB,
    // or a whole segment where segments are smaller), and at most twice the last read (at
    // least a segment): handing out free send-buffer storage makes
    // the ring take that storage at once, and a request/response connection that reads a few
    // hundred bytes would hold a whole read's worth (256 KiB) from its first read on (HTTP with
    // a new connection each: ~2,700 requests/s against ~3,200 with copies). A bulk flow's
    // reads double to the full size within a few reads.
    if (to === undefined || seg === undefined || this.#paused || !this.#bulk) return this.buffer;
    const take = (to as { [kWriteSpace]?: (max: number) => Uint8Array })[kWriteSpace];
    if (take === undefined) return this.buffer;
    const space = take.call(to, Math.min(this.buffer.length, Math.max(seg, 2 * this.#lastRead)));
    if (space.length < seg) {
      const from = this.#from;
      const wait = (to as { [kWhenSpace]?: (now: number, later: number, cb: () => void) => boolean })[kWhenSpace];
      if (from !== undefined && wait !== undefined && !wait.call(to, seg, Math.min(this.buffer.length, 4 * seg), this.#resumeSpace)) {
        // Less than a segment free: stop reading until ACKs free a whole read's worth
        // (kWhenSpace), so that the reads go on in place. The read node makes first when it
        // resumes lands in a small piece of the pooled buffer (its buffer is chosen now) and
        // is copied in.
        this.#paused = true;
        from.pause();
        return this.#small;
      }
      // Room enough, but the free storage ends (wraps) before a segment: a short read in
      // place, the next one from the storage's start.
      if (space.length > 0) {
        this.#space = space;
        return space;
      }
      return this.buffer;
    }
    this.#space = space.length % seg === 0 ? space : space.subarray(0, space.length - (space.length % seg));
    return this.#space;
  };

  /** kWhenSpace's callback: the send buffer has room again; reading resumes. */
  readonly #resumeSpace = (): void => {
    if (!this.#paused) return;
    this.#paused = false;
    const from = this.#from;
    if (from !== undefined && !from.destroyed) from.resume();
  };

  /** The `onread.callback`: false pauses the source. */
  readonly onRead = (n: number, buf?: Uint8Array): boolean => {
    const space = this.#space;
    this.#lastRead = n;
    if (n >= BULK_READ || (this.#segment !== undefined && n >= this.#segment)) this.#bulk = true;
    if (space !== undefined && buf === space) return this.#commit(space, n);
    const v = this.#view;
    const chunk = v !== undefined && v.length === n ? v : (this.#view = this.buffer.subarray(0, n));
    const to = this.#to;
    if (to === undefined) {
      (this.#early ??= []).push(Buffer.from(chunk));
      this.#earlyBytes += n;
      return this.#earlyBytes < MAX_EARLY_BYTES;
    }
    return this.#write(to, chunk);
  };

  /** A read that landed in the destination's send buffer (`nextBuffer`): sent from there (`kCommitSpace`). */
  #commit(space: Uint8Array, n: number): boolean {
    this.#space = undefined;
    const to = this.#to!;
    if (to.destroyed || to.writableEnded) return true;
    const k = (to as unknown as { [kCommitSpace]: (s: Uint8Array, n: number) => number })[kCommitSpace](space, n);
    if (k > 0) this.inPlace += k;
    if (k === n) return true;
    // The stream must take the rest (it was not ready, or the buffer changed): a copy, as
    // the view is send-buffer storage the stack may write into.
    return this.#write(to, Buffer.from(space.subarray(Math.max(0, k), n)));
  }

  #write(to: PumpSink, chunk: Buffer): boolean {
    // A destination that is gone or ended takes nothing more; its 'error' (if any) resets the source.
    if (to.destroyed || to.writableEnded) return true;
    // No callback: a write that completes at once (node:net wrote it all to the kernel, the
    // stack copied it all into its send buffer) then schedules nothing (Writable's onwrite
    // queues a process.nextTick only for a callback or a 'drain'); a small request/response
    // relayed costs one tick and one callback scope less per direction.
    // A stack Socket takes it straight into its send buffer when nothing is queued there.
    const now = (to as { [kWriteNow]?: (c: Uint8Array) => number })[kWriteNow];
    if (now !== undefined) {
      const n = now.call(to, chunk);
      if (n === chunk.length) return true;
      if (n > 0) chunk = chunk.subarray(n);
    }
    to.write(chunk);
    // Nothing left in the destination: it copied all of it and the buffer is free.
    if (to.writableLength === 0) return true;
    // Some of it is still held (by reference): the source waits until it is written. An
    // empty write behind it completes, in order, once everything before it has.
    this.#paused = true;
    to.write(EMPTY, this.#resume);
    return false;
  }

  /** Starts delivering to `to` (what arrived before first); the source's FIN ends `to` (allowHalfOpen: the other direction keeps flowing). */
  attach(from: PumpSource, to: PumpSink): void {
    this.#from = from;
    this.#to = to;
    const early = this.#early;
    this.#early = undefined;
    let more = true;
    for (const chunk of early ?? []) more = this.#write(to, chunk) && more;
    if (early !== undefined && more) from.resume();
    from.once('end', () => { if (!to.destroyed) to.end(); });
  }

  /** Gives the buffer back to the pool: only once both sockets are closed (nothing can read into it or hold a view of it), or the source never got one. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    if (this.#big) {
      bigInUse--;
      if (bigPool.length < BIG_MAX) bigPool.push(this.#storage);
    } else if (pool.length < POOL_MAX) pool.push(this.#storage);
  }
}

/**
 * Relays one accepted guest socket and its upstream socket both ways until both are done.
 * With `pumps` (sockets made with their `onRead`), each direction goes through its pump;
 * without (a SOCKS5 socket, made elsewhere), through pipe().
 */
function relay(guest: Socket, up: net.Socket, stats: GatewayStats, done: () => void, pumps?: { down: Pump; up: Pump }): void {
  let closed = 0;
  const onClose = (): void => {
    if (++closed === 2) {
      stats.TcpBytesOut += up.bytesWritten;
      stats.TcpBytesIn += up.bytesRead;
      if (pumps !== undefined) stats.TcpBytesInPlace += pumps.down.inPlace;
      pumps?.down.release();
      pumps?.up.release();
      done();
    }
  };
  guest.once('close', onClose);
  up.once('close', onClose);
  // RST <-> resetAndDestroy (a reset is ECONNRESET on the side that received it); any
  // other failure resets the other side too, as the peer's connection is broken.
  guest.on('error', () => { stats.TcpResets++; if (!up.destroyed) up.resetAndDestroy(); });
  up.on('error', () => { stats.TcpResets++; if (!guest.destroyed) guest.resetAndDestroy(); });
  if (pumps !== undefined) {
    pumps.up.attach(guest, up);
    pumps.down.attach(up, guest);
    return;
  }
  // pipe(): back-pressure (pause the reader while the other side's write says false) and
  // FIN -> end() (both sides allowHalfOpen, so the other direction keeps flowing).
  guest.pipe(up);
  up.pipe(guest);
}

export async function createGateway(options: GatewayOptions): Promise<Gateway> {
  const guestCidr = cidr(options.address?.guest ?? '10.0.2.100/24');
  const gatewayAddr = options.address?.gateway ?? '10.0.2.2';
  const dnsAddr = options.address?.dns ?? '10.0.2.3';
  // The stack's own address: hidden, so that 10.0.2.2 and 10.0.2.3 are intercepted like
  // any destination (their rules below); .1 of the guest's subnet unless that is taken.
  const base = guestCidr.address.split('.').map(Number);
  const own = [1, 4, 5, 6].map((h) => `${base[0]}.${base[1]}.${base[2]}.${h}`).find((a) => a !== guestCidr.address && a !== gatewayAddr && a !== dnsAddr)!;
  const v6 = options.ipv6 !== false;
  const guest6 = 'fd00::100', gateway6 = 'fd00::2', dns6 = 'fd00::3', own6 = 'fd00::1';
  const limits = {
    maxTcp: options.limits?.maxTcp ?? 4096,
    maxUdp: options.limits?.maxUdp ?? 1024,
    maxConnecting: options.limits?.maxConnecting ?? 1024,
    connectTimeout: options.limits?.connectTimeout ?? 60_000,
    udpIdleTimeout: options.limits?.udpIdleTimeout ?? 60_000,
    highWaterMark: options.limits?.highWaterMark ?? 256 * 1024,
  };
  // Upstream reads of whole segments toward the guest (Pump): the stack sends each write at
  // once (noDelay), so a 64 KiB read at MTU 65520 went out as a 65468-byte segment and a
  // 68-byte one: twice the packets (and TUN writes) a download needs. A segment carries the
  // MTU less the IP and TCP headers and the timestamp option (12 bytes, which a Linux guest
  // negotiates).
  const mtu = options.mtu ?? DEFAULT_MTU;
  const segment4 = mtu - 20 - 20 - 12, segment6 = mtu - 40 - 20 - 12;
  let upstreamText = options.dns;
  if (upstreamText === undefined) {
    let conf = '';
    try { conf = readFileSync('/etc/resolv.conf', 'utf8'); } catch { /* none: the forwarder refuses */ }
    upstreamText = firstNameserver(conf) ?? '127.0.0.1';
  }
  const dnsUpstream = parseHostPort(upstreamText);
  if (dnsUpstream === undefined) throw Object.assign(new Error(`options.dns must be 'IP', 'IP:PORT' or '[IPv6]:PORT', got '${upstreamText}'`), { code: 'ERR_INVALID_ARG_VALUE' });

  const device = {
    name: options.name ?? 'tap0',
    netns: options.netns,
    mtu: options.mtu ?? DEFAULT_MTU,
    kernelAddress: v6 ? [`${guestCidr.address}/${guestCidr.prefix}`, `${guest6}/64`] : `${guestCidr.address}/${guestCidr.prefix}`,
    routes: v6 ? [{ dst: 'default', via: gatewayAddr }, { dst: 'default', via: gateway6 }] : [{ dst: 'default', via: gatewayAddr }],
  };
  const stack = await createStack({
    address: v6 ? [own, own6] : own,
    anyAddress: true,
    tcpOptions: {
      sendBufferSize: GUEST_SEND_BUFFER,
      // The gateway bounds what is pending (maxConnecting, evicting the oldest); the stack's
      // table has room for that and a batch more, each request at most its largest cost.
      intercept: { maxPending: limits.maxConnecting + INTERCEPT_HEADROOM, maxPendingBytes: (limits.maxConnecting + INTERCEPT_HEADROOM) * (INTERCEPT_REQUEST_OVERHEAD + INTERCEPT_MAX_COPY) },
    },
    udpFlows: { maxFlows: limits.maxUdp, idleTimeout: limits.udpIdleTimeout },
    // TAP: the guest's subnet is on-link (the stack ARPs for the guest), and the gateway's
    // addresses are answered for by proxy ARP / NDP, not owned (their traffic is intercepted).
    ...(options.tap === true
      ? { tap: { ...device, proxyArp: v6 ? [gatewayAddr, dnsAddr, gateway6, dns6] : [gatewayAddr, dnsAddr] }, prefixLength: guestCidr.prefix, prefixLength6: 64 }
      : { tun: device }),
  });

  const stats: GatewayStats = {
    TcpRequests: 0, TcpAccepted: 0, TcpActive: 0, TcpRefusedLimit: 0, TcpRefusedPolicy: 0, TcpRefusedHost: 0,
    TcpUpstreamRefused: 0, TcpUpstreamUnreachable: 0, TcpUpstreamTimeout: 0, TcpUpstreamOtherError: 0, TcpResets: 0,
    TcpBytesOut: 0, TcpBytesIn: 0, TcpBytesInPlace: 0, TcpEvicted: 0, TcpRefusedSource: 0, UdpRefusedSource: 0, UdpEvicted: 0,
    UdpFlows: 0, UdpActive: 0, UdpRefusedLimit: 0, UdpRefusedPolicy: 0, UdpRefusedHost: 0,
    UdpDatagramsOut: 0, UdpDatagramsIn: 0, UdpBytesOut: 0, UdpBytesIn: 0, UdpDropped: 0, UdpErrors: 0, UdpUnreachable: 0,
    UdpIcmpRelayed: 0, UdpTtlExceeded: 0, UdpFragNeeded: 0,
    DnsTcp: 0, DnsUdp: 0, Published: 0, PublishedConnections: 0,
  } as Omit<GatewayStats, keyof EchoRelayStats> as GatewayStats;
  const live = new Set<{ destroy(): void }>();
  /** The gateway's router address per family: the source of what it says as a hop (time exceeded, fragmentation needed). */
  const hop4 = parseIpAddress(gatewayAddr);
  const hop6 = v6 ? parseIpAddress(gateway6) : undefined;

  /** Where a flow goes: a refusal, or the host and port to re-originate to (`host: true`: the special host address). */
  const route = (info: GatewayFlowInfo): { refuse: InterceptRefusal; why: 'policy' | 'host' } | { host: string; port: number; dns: boolean; loopback: boolean } => {
    if (options.policy !== undefined) {
      const v = options.policy(info);
      if (typeof v === 'object') return { host: v.host, port: v.port, dns: false, loopback: false };
      if (v !== 'allow') return { refuse: v, why: 'policy' };
    }
    const dst = info.localAddress;
    if (dst === gatewayAddr || dst === gateway6) {
      if (options.allowHostLoopback !== true) return { refuse: 'rst', why: 'host' };
      return { host: dst === gatewayAddr ? '127.0.0.1' : '::1', port: info.localPort, dns: false, loopback: true };
    }
    if (dst === dnsAddr || dst === dns6) {
      if (info.localPort !== 53) return { refuse: 'rst', why: 'host' };
      return { host: dnsUpstream.host, port: dnsUpstream.port, dns: true, loopback: false };
    }
    if (forbidden(dst)) return { refuse: 'admin-prohibited', why: 'host' };
    return { host: dst, port: info.localPort, dns: false, loopback: false };
  };
  // RFC 2827 (BCP 38) / RFC 3704 ingress filtering: what the guest sends comes from its own
  // prefixes. A forged source would have the gateway open upstream connections for SYN-ACKs
  // nobody answers (or reset someone else's), and re-originate flows for addresses that are
  // not the guest's (nor the gateway's own, 10.0.2.2 and 10.0.2.3). Checked once per new
  // connection or flow.
  const guest4 = parseIpAddress(guestCidr.address) as Ipv4Address;
  const guest6Prefix = (parseIpAddress(guest6) as Ipv6Address).slice(0, 8);
  // The stack formats addresses canonically: with a prefix of whole octets (the default
  // /24), an IPv4 source is the guest's when its text starts with the prefix's octets.
  const octets = guestCidr.prefix % 8 === 0 ? `${guestCidr.address.split('.').slice(0, guestCidr.prefix / 8).join('.')}.` : undefined;
  const fromGuest = (text: string): boolean => {
    // The gateway's own addresses are in the guest's prefix, and never the guest's.
    if (text === gatewayAddr || text === dnsAddr || text === own || text === gateway6 || text === dns6 || text === own6) return false;
    if (octets !== undefined && !text.includes(':')) return guestCidr.prefix === 0 || text.startsWith(octets);
    const a = parseIpAddress(text);
    if (a === undefined) return false;
    return typeof a === 'number' ? sameSubnet(a, guest4, guestCidr.prefix) : v6 && a.startsWith(guest6Prefix);
  };
  const infoOf = (protocol: 'tcp' | 'udp', i: { localAddress: string; localPort: number; remoteAddress: string; remotePort: number; localFamily: string }): GatewayFlowInfo => ({
    protocol, localAddress: i.localAddress, localPort: i.localPort, remoteAddress: i.remoteAddress, remotePort: i.remotePort,
    family: i.localFamily === 'IPv6' ? 'IPv6' : 'IPv4',
  });

  /**
   * The TCP connections not yet established both ways, oldest first: a pending upstream
   * connect, or accepted with the guest's handshake not completed (a forged source never
   * completes it; the stack retransmits the SYN-ACK for two minutes). Bounded by
   * `maxConnecting`: at a bound, the oldest gives way if stale (`evictStale`).
   */
  const unproven = new Set<{ since: number; evict(): void }>();
  const evictStale = (now: number): boolean => {
    for (const a of unproven) {
      if (now - a.since < STALE_MS) return false;
      stats.TcpEvicted++;
      a.evict();
      return true;
    }
    return false;
  };

  stack.tcp.intercept((info: InterceptInfo, d) => {
    stats.TcpRequests++;
    if (!fromGuest(info.remoteAddress)) { stats.TcpRefusedSource++; d.refuse('drop'); return; }
    const now = performance.now();
    if ((stats.TcpActive >= limits.maxTcp || unproven.size >= limits.maxConnecting) && !evictStale(now)) { stats.TcpRefusedLimit++; d.refuse('rst'); return; }
    let r;
    try {
      r = route(infoOf('tcp', info));
    } catch {
      r = { refuse: 'rst' as const, why: 'policy' as const };
    }
    if ('refuse' in r) {
      if (r.why === 'policy') stats.TcpRefusedPolicy++; else stats.TcpRefusedHost++;
      d.refuse(r.refuse);
      return;
    }
    if (r.dns) stats.DnsTcp++;
    stats.TcpActive++;
    let released = false;
    const release = (): void => { if (!released) { released = true; stats.TcpActive--; live.delete(entry); unproven.delete(attempt); } };
    /** The accepted guest socket, once accepted. */
    let guest: Socket | undefined;
    const attempt = {
      since: now,
      evict: (): void => {
        unproven.delete(attempt);
        if (!relaying) { d.refuse('drop'); entry.destroy(); return; }
        // Accepted, the guest's handshake never completed: both ends reset; the relay's
        // 'close's follow (release is idempotent: counted now, so the bound frees now).
        guest?.resetAndDestroy();
        up?.resetAndDestroy();
        release();
      },
    };
    unproven.add(attempt);
    // Through the proxy, except the host's loopback (10.0.2.2 with the flag, a loopback DNS upstream): the proxy cannot reach it.
    const viaSocks = options.socks5 !== undefined && !r.loopback && !forbidden(r.host);
    // The SOCKS5 attempt takes an AbortSignal; the direct one is destroyed by hand (`entry`,
    // on the request's end: kOnCancel): node's AbortSignal is an EventTarget, and making
    // one per connection, listening to it and handing it to net.connect (its Duplex listens
    // too) was ~7 % of the gateway's CPU per new connection (--cpu-prof, HTTP with a new
    // connection each).
    const ac = viaSocks ? new AbortController() : undefined;
    let up: net.Socket | undefined;
    /** The direct upstream's read pump, and whether the relay owns it (it releases it when both sockets closed). */
    let down: Pump | undefined;
    let relaying = false;
    // A destroyed socket reads no more: its pump goes back at once (unless the relay has it).
    const dropDown = (): void => { if (!relaying) down?.release(); };
    const entry = { destroy: (): void => { clearTimeout(timer); ac?.abort(); up?.destroy(); dropDown(); release(); } };
    live.add(entry);
    // The client's request ended undecided (it reset, or the stack expired or closed it):
    // the upstream attempt ends too. A socket that connected already is the relay's.
    (d as InterceptDecision & { [kOnCancel](fn: () => void): void })[kOnCancel](() => { if (!relaying) entry.destroy(); });
    const timer = setTimeout(() => {
      stats.TcpUpstreamTimeout++;
      ac?.abort();
      up?.destroy();
      dropDown();
      d.refuse('drop');
      release();
    }, limits.connectTimeout);
    const failed = (e: Error & { code?: string }): void => {
      clearTimeout(timer);
      if (e.name !== 'AbortError' && e.code !== 'ABORT_ERR' && !released) {
        const m = refusalFor(e.code);
        stats[m.counter]++;
        d.refuse(m.kind);
      }
      release();
    };
    const connected = (sock: net.Socket): void => {
      clearTimeout(timer);
      if (released) { sock.destroy(); dropDown(); return; }
      const upPump = down !== undefined ? new Pump() : undefined;
      const s = d.accept({ allowHalfOpen: true, highWaterMark: limits.highWaterMark, noDelay: true, ...(upPump !== undefined ? { onread: { buffer: upPump.buffer, callback: upPump.onRead } } : {}) });
      if (s === null) { sock.resetAndDestroy(); upPump?.release(); dropDown(); release(); return; }
      stats.TcpAccepted++;
      live.add(s);
      guest = s;
      // Established both ways (the guest's ACK of our SYN-ACK): no longer evictable.
      s.once('connect', () => unproven.delete(attempt));
      relaying = true;
      relay(s, sock, stats, () => { live.delete(s); release(); }, down !== undefined && upPump !== undefined ? { down, up: upPump } : undefined);
    };
    if (viaSocks) {
      const socks = options.socks5!;
      let attempt;
      try {
        attempt = socks5Connect({
          proxy: socks.proxy, ...(socks.auth !== undefined ? { auth: socks.auth } : {}),
          // A name (a policy's rewrite) goes to the proxy as a name (ATYP 3).
          destination: net.isIP(r.host) !== 0 ? { address: r.host, port: r.port } : { host: r.host, port: r.port },
          timeoutMs: limits.connectTimeout, signal: ac!.signal,
        });
      } catch (e) {
        failed(e as Error & { code?: string });
        return;
      }
      attempt.then(({ socket }) => {
        // FIN from the destination must not end our side too (half-close): Duplex reads this on 'end'.
        socket.allowHalfOpen = true;
        socket.setNoDelay(true);
        up = socket;
        connected(socket);
      }, (e: Error & { code?: string }) => {
        if (e.code === 'ETIMEDOUT' && !released) { stats.TcpUpstreamTimeout++; clearTimeout(timer); d.refuse('drop'); release(); return; }
        failed(e);
      });
      return;
    }
    // highWaterMark reaches stream.Duplex through net.Socket's options (not in @types/node's NetConnectOpts).
    const pump = new Pump(info.localFamily === 'IPv6' ? segment6 : segment4);
    down = pump;
    const sock = net.connect({
      host: r.host, port: r.port, allowHalfOpen: true, noDelay: true, highWaterMark: limits.highWaterMark,
      onread: { buffer: pump.nextBuffer, callback: pump.onRead },
    } as net.NetConnectOpts);
    up = sock;
    let isUp = false;
    sock.once('connect', () => { isUp = true; sock.removeAllListeners('error'); connected(sock); });
    // Not connected: the socket never read, its buffer goes back at once.
    sock.on('error', (e: Error & { code?: string }) => { if (!isUp) { dropDown(); failed(e); } });
  });

  stack.udp.interceptFlows((flow: UdpFlowSocket) => {
    stats.UdpFlows++;
    if (!fromGuest(flow.remoteAddress)) { stats.UdpRefusedSource++; flow.close(); return; }
    if (stats.UdpActive >= limits.maxUdp) { stats.UdpRefusedLimit++; flow.close(); return; }
    let r;
    try {
      r = route(infoOf('udp', flow));
    } catch {
      r = { refuse: 'drop' as const, why: 'policy' as const };
    }
    if ('refuse' in r) {
      if (r.why === 'policy') stats.UdpRefusedPolicy++; else stats.UdpRefusedHost++;
      // What a host or a REJECT rule answers a datagram it will not take (RFC 1122 §4.1.3.1,
      // RFC 792): 'rst' (a closed port of 10.0.2.2 / 10.0.2.3) is port unreachable, as a TCP
      // connect there gets RST; the others their unreachable code; 'drop' nothing.
      const kind = UDP_REFUSAL[r.refuse];
      if (kind !== undefined && flow.unreachable(kind)) stats.UdpUnreachable++;
      flow.close();
      return;
    }
    if (r.dns) stats.DnsUdp++;
    stats.UdpActive++;
    const target = r;
    /** The upstream: a connected node:dgram socket, or (tun2socks) a UDP ASSOCIATE of its own. */
    let send: ((msg: Buffer, info?: FlowRemoteInfo) => void) | undefined;
    let closeUp = (): void => {};
    const entry = { destroy: (): void => end() };
    live.add(entry);
    /** Datagrams from the guest before the upstream is ready (at most 64). */
    const early: { msg: Buffer; info: FlowRemoteInfo }[] = [];
    let ended = false;
    const end = (): void => {
      if (ended) return;
      ended = true;
      stats.UdpActive--;
      live.delete(entry);
      closeUp();
      flow.close();
    };
    const received = (msg: Uint8Array): void => {
      stats.UdpDatagramsIn++;
      stats.UdpBytesIn += msg.length;
      flow.send(msg, () => {});
    };
    const ready = (f: (msg: Buffer, info?: FlowRemoteInfo) => void): void => {
      send = f;
      for (const m of early.splice(0)) f(m.msg, m.info);
    };
    if (options.socks5 !== undefined && !r.loopback && !forbidden(r.host)) {
      const socks = options.socks5;
      let assoc: Socks5UdpAssociation | undefined;
      closeUp = () => assoc?.close();
      socks5UdpAssociate({ proxy: socks.proxy, ...(socks.auth !== undefined ? { auth: socks.auth } : {}), timeoutMs: limits.connectTimeout }).then((a) => {
        assoc = a;
        if (ended) { a.close(); return; }
        a.on('message', (data: Buffer) => received(data));
        a.on('close', () => end());
        const dest = net.isIP(target.host) !== 0 ? { address: target.host, port: target.port } : { host: target.host, port: target.port };
        ready((m) => {
          let sent = false;
          try { sent = a.send(m, dest); } catch { /* a destination the client refuses */ }
          if (!sent) stats.UdpDropped++;
        });
      }, () => { stats.UdpErrors++; end(); });
    } else if (net.isIP(r.host) !== 0) {
      // A host UdpSocket (@netstack/host: IP_RECVERR), so that what routers beyond say about
      // the flow reaches the guest. The gateway is a router hop for relayed destinations
      // (RFC 1812 §5.3.1): each datagram leaves with the guest's TTL less one and its DF;
      // TTL 1 ends here. The DNS forwarder and the host's loopback are the gateway itself:
      // its own datagrams, the host's defaults.
      const family = net.isIPv6(r.host) ? 6 : 4;
      const same = (family === 6) === (flow.localFamily === 'IPv6');
      const routed = !r.dns && !r.loopback && same;
      const hop = family === 6 ? hop6 : hop4;
      const passOn = (e: UdpSocketError): void => {
        const q = flow.quoteDatagram();
        if (q === undefined || !same) { if (e.origin === 'icmp') unreachableTo(flow, e.errno, stats); return; }
        const now = performance.now();
        let sent = false;
        if (e.origin === 'local') {
          // RFC 1191 / RFC 8201: over the path MTU with DF: the gateway says so with that MTU.
          if (e.errno !== 'EMSGSIZE' || !routed || hop === undefined) return;
          sent = family === 4 ? stack.icmp.relayError(3, 4, e.info, q, hop as Ipv4Address, now) : stack.icmp6?.relayError(2, 0, e.info, q as InboundDatagram<Ipv6Address>, hop as Ipv6Address, now) ?? false;
          if (sent) stats.UdpFragNeeded++;
        } else if (family === 4) {
          // RFC 792: 3 destination unreachable (code 4 with the next-hop MTU, RFC 1191), 11 time exceeded.
          if ((e.type !== 3 && e.type !== 11) || e.offender.length !== 4) return;
          sent = stack.icmp.relayError(e.type, e.code, e.info, q, readAddress(e.offender, 0) as Ipv4Address, now);
          if (sent) stats.UdpIcmpRelayed++;
        } else {
          // RFC 4443: 1 destination unreachable, 2 packet too big (the MTU), 3 time exceeded.
          const from = ipv6FromBytes(e.offender);
          if ((e.type !== 1 && e.type !== 2 && e.type !== 3) || from === undefined) return;
          sent = stack.icmp6?.relayError(e.type, e.code, e.info, q as InboundDatagram<Ipv6Address>, from, now) ?? false;
          if (sent) stats.UdpIcmpRelayed++;
        }
        stack.schedule();
      };
      let sock: UdpSocket;
      try {
        sock = UdpSocket.open({ family, onMessage: (data) => received(data), onError: passOn }).unref();
      } catch {
        stats.UdpErrors++;
        end();
        return;
      }
      closeUp = () => sock.close();
      const err = sock.connect(r.host, r.port);
      if (err !== undefined) { stats.UdpErrors++; unreachableTo(flow, err, stats); end(); return; }
      ready((m, info) => {
        if (routed && info !== undefined) {
          if (info.ttl <= 1 && hop !== undefined) {
            const q = flow.quoteDatagram();
            const now = performance.now();
            const sent = q !== undefined && (family === 4 ? stack.icmp.relayError(11, 0, 0, q, hop as Ipv4Address, now) : stack.icmp6?.relayError(3, 0, 0, q as InboundDatagram<Ipv6Address>, hop as Ipv6Address, now) === true);
            if (sent) { stats.UdpTtlExceeded++; stack.schedule(); }
            return;
          }
          let e = sock.send(m, { ttl: info.ttl - 1, dontFragment: info.dontFragment });
          // Over the path MTU the host knows: the guest has been told it (fragmentation
          // needed from the gateway, the local error's MTU: passOn), and this datagram still
          // goes, fragmented by the host, where a router would drop it: the guest learns the
          // MTU without losing what the host can carry (slirp4netns and pasta fragment it
          // and say nothing).
          if (e === 'EMSGSIZE') e = sock.send(m, { ttl: info.ttl - 1, dontFragment: false });
          if (e !== undefined) { stats.UdpDropped++; unreachableTo(flow, e, stats); }
          return;
        }
        const e = sock.send(m);
        if (e !== undefined) { stats.UdpDropped++; unreachableTo(flow, e, stats); }
      });
    } else {
      // A name (a policy's rewrite): node:dgram resolves it; the host's errors map as they can.
      const sock = dgram.createSocket({ type: net.isIPv6(r.host) ? 'udp6' : 'udp4' });
      closeUp = () => { try { sock.close(); } catch { /* closed already */ } };
      // The upstream's errors reach the guest as the ICMP a router or the destination would
      // have sent it (ECONNREFUSED: W's port unreachable; a connected node:dgram socket
      // reports it on its next receive or send): `unreachableTo` (echo-relay.ts's kin).
      sock.on('error', (e: Error & { code?: string }) => { stats.UdpErrors++; unreachableTo(flow, e.code, stats); end(); });
      sock.on('message', received);
      sock.connect(r.port, r.host, (err?: Error & { code?: string }) => {
        if (err) { stats.UdpErrors++; unreachableTo(flow, err.code, stats); end(); return; }
        ready((m) => sock.send(m, (e: (Error & { code?: string }) | null) => { if (e) { stats.UdpDropped++; unreachableTo(flow, e.code, stats); } }));
      });
    }
    flow.on('message', (msg: Buffer, rinfo: FlowRemoteInfo) => {
      stats.UdpDatagramsOut++;
      stats.UdpBytesOut += msg.length;
      if (send === undefined) {
        if (early.length < 64) early.push({ msg, info: rinfo }); else stats.UdpDropped++;
        return;
      }
      send(msg, rinfo);
    });
    flow.on('close', (why: string) => { if (why === 'evicted') stats.UdpEvicted++; end(); });
  });

  // ICMP echo to any destination: relayed through the host's unprivileged echo socket
  // (refused with administratively prohibited where ping_group_range forbids it). The
  // gateway's own addresses answer here; loopback and unspecified ones are refused, and so
  // is everything in the SOCKS5 mode (a proxy carries no ICMP: relaying it here would leak
  // around the proxy).
  const echo = startEchoRelay(stack, {
    ...(options.limits?.maxEchoes !== undefined ? { maxOutstanding: options.limits.maxEchoes } : {}),
    ...(options.limits?.echoTimeout !== undefined ? { timeout: options.limits.echoTimeout } : {}),
    ...(options.echoSocket !== undefined ? { openSocket: options.echoSocket } : {}),
    // The gateway is a router hop: TTL 1 ends here (time exceeded from 10.0.2.2), the rest leave with one less.
    hop: v6 ? { 4: gatewayAddr, 6: gateway6 } : { 4: gatewayAddr },
    // The host sockets at the start (none in the SOCKS5 mode, which relays no echo): the
    // guest's first ping waits for no socket() and no binding of libc in @netstack/host.
    prepare: options.socks5 === undefined,
    route: (dst, family, src, id): EchoRoute => {
      if (options.policy !== undefined) {
        const v = options.policy({ protocol: 'icmp', localAddress: dst, localPort: 0, remoteAddress: src, remotePort: id, family });
        if (typeof v === 'object') return { relay: v.host };
        if (v !== 'allow') return { refuse: v === 'rst' ? 'admin-prohibited' : v, why: 'policy' };
      }
      if (dst === gatewayAddr || dst === gateway6 || dst === dnsAddr || dst === dns6) return 'local';
      if (forbidden(dst) || options.socks5 !== undefined) return { refuse: 'admin-prohibited', why: 'host' };
      return { relay: dst };
    },
  });
  live.add({ destroy: () => echo.close() });

  const servers = new Set<net.Server | dgram.Socket>();
  const publish = async (p: PublishOptions): Promise<number> => {
    const host = p.hostAddress ?? '0.0.0.0';
    const target = guestCidr.address;
    stats.Published++;
    if ((p.protocol ?? 'tcp') === 'tcp') {
      const server = net.createServer({ allowHalfOpen: true }, (c) => {
        stats.PublishedConnections++;
        const s = stack.tcp.connect({ host: target, port: p.guestPort, allowHalfOpen: true } as never) as Socket;
        live.add(c); live.add(s);
        let n = 0;
        const done = (): void => { if (++n === 2) { live.delete(c); live.delete(s); } };
        c.once('close', done); s.once('close', done);
        c.on('error', () => { if (!s.destroyed) s.resetAndDestroy(); });
        s.on('error', () => { if (!c.destroyed) c.resetAndDestroy(); });
        c.pipe(s); s.pipe(c);
      });
      servers.add(server);
      await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(p.hostPort, host, () => resolve()); });
      return (server.address() as net.AddressInfo).port;
    }
    // UDP: one stack socket per host-side peer, bounded by maxUdp; replies go back to that peer.
    const sock = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    servers.add(sock);
    const peers = new Map<string, { s: ReturnType<Stack['udp']['createSocket']>; idle: NodeJS.Timeout }>();
    const drop = (key: string): void => {
      const e = peers.get(key);
      if (e === undefined) return;
      peers.delete(key);
      clearTimeout(e.idle);
      try { e.s.close(); } catch { /* closed with the stack */ }
    };
    live.add({ destroy: () => { for (const k of [...peers.keys()]) drop(k); } });
    sock.on('message', (msg, rinfo) => {
      const key = `${rinfo.address}|${rinfo.port}`;
      let inner = peers.get(key);
      if (inner === undefined) {
        if (peers.size >= limits.maxUdp) {
          // Full: the least recently active peer gives way (the Map is kept in that order,
          // below), as the guest's own flows do: peers that went away must not lock new
          // ones out until their idle timeout.
          const oldest = peers.keys().next().value;
          if (oldest === undefined) { stats.UdpDropped++; return; }
          drop(oldest);
          stats.UdpEvicted++;
        }
        stats.PublishedConnections++;
        const s = stack.udp.createSocket('udp4');
        const e = { s, idle: setTimeout(() => drop(key), limits.udpIdleTimeout) };
        inner = e;
        peers.set(key, e);
        s.on('message', (m: Buffer) => {
          e.idle.refresh();
          sock.send(m, rinfo.port, rinfo.address);
        });
        s.on('error', () => {});
      }
      inner.idle.refresh();
      // Least recently active first: re-inserted on each datagram from the peer.
      peers.delete(key);
      peers.set(key, inner);
      inner.s.send(msg, p.guestPort, target);
    });
    await new Promise<void>((resolve, reject) => { sock.once('error', reject); sock.bind(p.hostPort, host, () => resolve()); });
    return sock.address().port;
  };

  // An open gateway holds the process, as a listening server does (the stack alone holds it
  // only while it has ref'd handles; intercepting is not one).
  const keepAlive = setInterval(() => {}, 2 ** 31 - 1);
  return {
    stack,
    device: stack.linkInfo().name,
    addresses: { guest: guestCidr.address, gateway: gatewayAddr, dns: dnsAddr, ...(v6 ? { guest6, gateway6, dns6 } : {}) },
    dnsUpstream,
    stats: () => ({ ...stats, ...echo.stats() }),
    publish,
    close: async () => {
      clearInterval(keepAlive);
      stack.tcp.intercept();
      stack.udp.interceptFlows();
      for (const s of servers) s.close();
      for (const x of [...live]) x.destroy();
      await stack.close();
    },
  };
}
