/**
 * A Linux TUN (or TAP) device as a `Link`, driven from Node's main thread.
 *
 * API
 *   TunDevice.open(options?: TunOptions): TunDevice          synchronous; throws CodedError
 *   device.name: string    the kernel's name (reads back `tun%d` choices)
 *   device.mtu: number     the device MTU as the kernel has it (an IP MTU, also on a TAP)
 *   device.frameMtu: number   the largest packet `send` takes and a read gives: `mtu`, + 14 on a TAP (Ethernet header)
 *   device.kernelMac: string | undefined   a TAP's own MAC (the kernel side's, SIOCGIFHWADDR), `aa:bb:cc:dd:ee:ff`
 *   device.txQueueLen: number | undefined   the kernel's queue towards us, when configured
 *   device.fd: number      the /dev/net/tun descriptor (-1 once closed)
 *   device.send(packet): boolean           one write() per packet, never writev
 *   device.sendOffload(packet, gsoSize, csumStart, csumOffset): boolean   (offload: true only)
 *   device.offload: { csum, tso4, tso6, uso4, uso6 } | undefined   what TUNSETOFFLOAD accepted
 *   device.ipv6: boolean, device.ipv6Disabled: string | undefined   whether the kernel side has IPv6, and why not
 *   device.setReceiver(receiver): void
 *   device.pollNow(): number               drains what is queued now (Link.pollNow), synchronously, bounded
 *   device.stats(): TunStats
 *   device.configure({ kernelAddress?, mtu?, up?, txQueueLen?, routes? }): void   kernel-side settings, by ioctl and rtnetlink
 *   device.netns: string | undefined      the namespace file it was created in (`netns` option; netns.ts)
 *   device.ref() / device.unref()          keep / stop keeping the process alive
 *   device.close(): void                   idempotent; removes a non-persistent device
 *
 * Packet path (the measurements behind it: the README's Performance section and bench/):
 * - The fd is O_NONBLOCK. Where Node's own libuv stream can read it (uv-stream.ts: a pipe
 *   handle on a duplicate fd, the default), libuv waits (level-triggered epoll) and reads
 *   ONE packet per wake-up into ONE reused 65535-byte buffer (uv__read stops at a short
 *   read, and a tun read is one packet); the device hands it to `receiver.packet(view)`.
 *   Whether it then reads on with synchronous `read()` calls (until EAGAIN or `readBudget`
 *   packets) is adaptive, so that a lone packet costs no read that finds the queue empty:
 *   it reads on when the packet was full-sized (a GSO super-segment, or the MTU: a bulk
 *   sender), when the previous wake-up's reading on found more (a burst), and otherwise
 *   on every PROBE_EVERY-th wake-up (a burst of small packets is found within that many
 *   wake-ups; until then each costs one more turn of the event loop, never a packet: the
 *   level-triggered epoll brings the loop back while any is queued). Then one
 *   `receiver.batchEnd()`. Elsewhere (`NETSTACK_TUN_WAIT=poll`, a runtime without the
 *   binding) the fd is watched by `koffi.node.poll` (libuv uv_poll, level-triggered) and
 *   each wake-up drains with `read()` until EAGAIN or `readBudget` packets. Either way,
 *   when the budget runs out the callback returns: epoll reports the fd again on the next
 *   turn of the event loop, after timers and immediates had their turn (that is the
 *   yield; no setImmediate is needed, and none could race into a double drain).
 * - The view passed to `packet()` is valid only during the call (the buffer is reused, and
 *   so are the view objects: @netstack/common's ViewCache).
 * - Idle costs nothing: no timer, no thread, only the epoll registration.
 * - In `tun` mode with `ipv4Only` (default), packets whose version nibble is not 4 are
 *   dropped and counted in `RxDropped` (a fresh namespace sends IPv6 solicitations at once).
 *   `ipv4Only: false` hands over both families as read (IFF_NO_PI: the first nibble of
 *   each packet says which; the receiver demultiplexes).
 *   Packets read while no receiver is set are dropped and counted the same way.
 *   `RxPackets` counts packets read and handed on: read = RxPackets + RxDropped (a split UDP
 *   super-datagram counts once; the datagrams it became, in `RxUsoSegments`).
 * - `send` drops and counts (returns false) what the kernel refuses (EAGAIN, ENOBUFS,
 *   EINVAL...), empty packets, packets over the MTU and anything sent after close().
 * - An unexpected read error (the device was deleted under us) stops polling and is
 *   reported once through `options.onError`, or as a process warning when there is none.
 *   An exception thrown by the receiver propagates (it is a bug in the receiver); the
 *   device stays consistent.
 *
 * Offloads (`offload: true`, tun or tap mode; TUN-FACTS "Offloads"): the device is opened with
 * IFF_VNET_HDR, TUNSETVNETHDRSZ 12 and TUNSETOFFLOAD down the ladder
 *   CSUM|TSO4|TSO6|TSO_ECN|USO4|USO6 → CSUM|TSO4|TSO6|TSO_ECN → CSUM|TSO4|TSO6 → CSUM|TSO4 → CSUM
 * taking the next rung on EINVAL (an older kernel refuses flags it does not know). Every
 * read then starts with a virtio_net_hdr (vnet.ts, virtio spec §5.1.6): it is stripped and
 * decoded into the reused `meta` handed to `receiver.packet`; the kernel sends TCP
 * super-segments of up to ~64 KB with partial checksums (gso_type TCPV4, or TCPV6 for
 * TCP over IPv6 once TSO6 is on; the receiver sees them like the IPv4 ones). Every write starts with one too,
 * in the same contiguous buffer (never writev): `send` copies the packet behind a zero
 * header in a reused buffer; `sendOffload` writes the GSO/checksum header into the caller's
 * headroom (Link contract) and writes header + packet at once.
 * UDP segmentation (USO, Linux 6.2+): tun.c set_offload accepts TUN_F_USO4 only together
 * with TUN_F_USO6 (and TUN_F_CSUM); alone, either is EINVAL (measured on 6.18). With it the
 * kernel hands over a UDP_SEGMENT send (e.g. QUIC) as ONE super-datagram of up to 64 KB
 * (gso_type UDP_L4); the device splits it in place into the datagrams the sender meant
 * before the receiver sees them (uso.ts: each with its own lengths, IPv4 header checksum
 * and a partial UDP checksum, meta.csumPartial), so receivers never see a UDP
 * super-datagram; a malformed one is dropped and counted (RxDropped, RxUsoDropped). The
 * split handles IPv6 super-datagrams (same gso_type UDP_L4, 40-byte header) as well, so USO
 * is offered whatever `ipv4Only` says (with it, IPv6 ones are dropped by the filter before
 * any split). Sending stays one datagram per write: `sendOffload` takes TCP, of either
 * family (gso_type from the version nibble: TCPV4 needs `tso4`, TCPV6 `tso6`).
 * If IFF_VNET_HDR itself is refused, the device opens without it and `offload` is undefined.
 * On a TAP (`mode: 'tap'`) the same ladder and the same header, before the Ethernet header
 * (what QEMU's virtio-net hands a tap): the offsets in it count from the frame's first
 * byte, so csum_start and hdr_len are 14 more than on a TUN. `sendOffload` then takes a
 * frame (the family from the EtherType; without GSO up to `frameMtu`, with it up to 65535
 * + 14), received super-segments come as frames with `meta`, and a UDP super-datagram is
 * split into frames, each datagram behind a copy of the Ethernet header.
 *
 * Life: open devices are held in a module registry until close(), so neither the device
 * nor its poll handle can be garbage-collected while open (a collected poll handle makes
 * Node exit silently), and devices still open at process 'exit' are closed then (see
 * track()). Closing the last fd of a non-persistent device deletes it with its
 * addresses and routes; the kernel does the same when the process dies, even by SIGKILL.
 * Signals are the program's policy, not the device's: it installs no signal handler. With
 * none, SIGINT/SIGTERM end the process (Node's default action), the kernel closes the fd
 * and removes the device (test/kernel/tun-device.test.ts). A program that wants an orderly
 * close (the CLI: netstack's `signals.ts`) listens itself and calls close() or
 * closeAllTunDevices().
 *
 * Kernel-side configuration uses ioctls on a short-lived AF_INET/SOCK_DGRAM socket, no
 * shell: SIOCSIFMTU, SIOCSIFADDR + SIOCSIFNETMASK (the on-link route follows from the
 * prefix), SIOCGIFFLAGS/SIOCSIFFLAGS for IFF_UP. Setting an address the device already
 * has is not an error; SIOCSIFADDR replaces the device's first IPv4 address otherwise.
 *
 * IPv6 kernel-side addresses (`kernelAddress: ['10.7.0.1/24', 'fd07::1/64']`) go over
 * rtnetlink instead (netlink.ts says why: RTM_NEWADDR with IFA_F_NODAD, so the address is
 * usable at once, never `tentative`), on a short-lived NETLINK_ROUTE socket, after the
 * link is up; the kernel adds the on-link prefix route itself. Before that the device
 * reads whether the namespace has IPv6 at all: `/proc/sys/net/ipv6/conf/{all,DEV}/
 * disable_ipv6` (test harnesses often set `all` to 1), the MTU (IPv6 needs 1280, RFC 8200
 * §5; below it the kernel removes IPv6 from the device). Where it is off, IPv6 is skipped,
 * not an error: `device.ipv6` is false and `device.ipv6Disabled` says why in one line, and
 * the IPv4 side works as before. A kernel refusal that means the same (EACCES: disabled on
 * the device; EAFNOSUPPORT/EOPNOTSUPP: no IPv6) is reported the same way; any other
 * refusal throws. An IPv6 address the device already has (EEXIST) is not an error, and is
 * left as it is (flags included).
 */
import { statSync } from 'node:fs';
import type { Link, LinkOffload, LinkReceiver, LinkStats } from './link.js';
import { newLinkStats } from './link.js';
import { argError, Errno, sysError, type CodedError } from './errors.js';
import { libc, type Libc, type PollEvents, type PollHandle, type ReadStream } from './libc.js';
import { UV_EOF } from './uv-stream.js';
import {
  IFF_VNET_HDR,
  TUNSETOFFLOAD,
  TUNSETVNETHDRSZ,
  TUN_F_CSUM,
  TUN_F_TSO4,
  TUN_F_TSO6,
  TUN_F_TSO_ECN,
  TUN_F_USO4,
  TUN_F_USO6,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_ECN,
  VIRTIO_NET_HDR_GSO_NONE,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VIRTIO_NET_HDR_GSO_TCPV6,
  VIRTIO_NET_HDR_GSO_UDP_L4,
  VNET_HDR_LEN,
  VNET_HDR_LEN_MIN,
  decodeVnetMeta,
  encodeVnetHeader,
  newPacketMeta,
  vnetCsumOffset,
  vnetCsumStart,
  type PacketMeta,
} from './vnet.js';
import { UdpSegmenter } from './uso.js';
import {
  AF_NETLINK,
  MSG_DONTWAIT,
  NETLINK_ROUTE,
  SOCK_RAW,
  decodeAck,
  encodeNewAddr6,
  encodeNewRoute,
  parseIpv6Cidr,
  parseRoutes,
  type Ipv6Cidr,
  type Route,
  type TunRoute,
} from './netlink.js';
import { inNetns, openNetns, resolveNetns, type NetnsTarget, type ResolvedNetns } from './netns.js';
import { ViewCache } from '@netstack/common';
import {
  AF_INET,
  IFF_NAPI,
  IFF_NO_PI,
  IFF_TAP,
  IFF_TUN,
  IFF_UP,
  ifreq,
  MAX_MTU,
  O_CLOEXEC,
  O_NONBLOCK,
  O_RDWR,
  parseIpv4Cidr,
  readIfFlags,
  readIfMtu,
  readIfName,
  SIOCGIFFLAGS,
  SIOCGIFINDEX,
  SIOCGIFHWADDR,
  readIfHwaddr,
  SIOCGIFMTU,
  SIOCSIFADDR,
  SIOCSIFFLAGS,
  SIOCSIFMTU,
  SIOCSIFNETMASK,
  SIOCGIFTXQLEN,
  SIOCSIFTXQLEN,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  TUNSETIFF,
  TUNSETPERSIST,
  validateIfName,
  validateMtu,
  validateTxQueueLen,
  writeIfAddr,
  writeIfFlags,
  writeIfMtu,
  writeIfQlen,
  readIfQlen,
  readIfIndex,
  type Ipv4Cidr,
} from './ifreq.js';

export type TunMode = 'tun' | 'tap';

export interface TunOptions {
  /** Interface name, at most 15 bytes; `%d` lets the kernel number it. Default `tun%d` / `tap%d`. */
  name?: string;
  /** Default `tun` (raw IP packets). `tap` passes IFF_TAP through (Ethernet frames). */
  mode?: TunMode;
  /** Set the device MTU (68..65535). Without it the kernel's current MTU is kept and read back. */
  mtu?: number;
  /**
   * Raise the device's txqueuelen to at least this many packets (1..65536; never lowered):
   * what the kernel queues for us to read before it drops (a tun's default is 500,
   * TUN_READQ_SIZE). A reader that falls behind for a moment (a burst of 10 000 kernel
   * connections, a garbage collection) otherwise loses packets in the kernel, counted in
   * the device's TX dropped (`ip -s link`), and the senders retransmit. Unset: unchanged.
   */
  txQueueLen?: number;
  /**
   * Kernel-side address(es) with prefix: one IPv4 (`10.7.0.1/24`) and/or IPv6 ones
   * (`fd07::1/64`), as a string or an array mixing both families. IPv6 is added with
   * `nodad` over rtnetlink and skipped (device.ipv6 false, not an error) where the
   * namespace has IPv6 off.
   */
  kernelAddress?: string | readonly string[];
  /** Bring the link up (true, the default) or down (false). */
  up?: boolean;
  /** Keep the device after the fd closes (TUNSETPERSIST). Unset: leave as it is. */
  persist?: boolean;
  /**
   * Drop and count packets whose version nibble is not 4. Default true; tun mode only.
   * `false` hands over IPv6 too (and anything else the kernel routes to the device): the
   * receiver demultiplexes by the version nibble.
   */
  ipv4Only?: boolean;
  /** Packets read per poll callback before yielding to the event loop. Default 256. */
  readBudget?: number;
  /**
   * Open with IFF_NAPI (default true): packets we write are queued on the device's own
   * NAPI context and handed to the kernel's IP layer in order by one poller. Without it
   * each write() enters the backlog of whichever CPU the writer runs on, and a writer
   * that migrates between CPUs makes the kernel see a TCP stream out of order (measured
   * here: thousands of out-of-order segments per 200 MB, spurious fast retransmits).
   * Falls back to a plain open when the kernel refuses the flag.
   */
  napi?: boolean;
  /**
   * Negotiate TUN offloads (default false; tun and tap mode): IFF_VNET_HDR + checksum and TCP
   * segmentation offload for IPv4 and IPv6 (TSO4, TSO6), and UDP segmentation offload on
   * receive for both (USO4 + USO6) where the kernel has it (Linux 6.2+). Falls back to fewer offloads, or none, when the
   * kernel refuses; `device.offload` says what was negotiated. On a TAP the vnet header's
   * offsets count from the Ethernet header (csum_start = 14 + the IP header length).
   */
  offload?: boolean;
  /** Called once if reading fails for a reason other than EAGAIN (polling has stopped). */
  onError?: (err: CodedError) => void;
  /**
   * Create and configure the device inside another network namespace (netns.ts): a name
   * made by `ip netns add` (`/run/netns/NAME`), a process id (`/proc/PID/ns/net`) or a path
   * to a namespace file. Only the main thread enters it, synchronously, for the time of
   * the creation and configuration, and returns; the process and its sockets stay in
   * their own namespace. `lo` in the namespace is brought up too (as slirp4netns does).
   * `configure()` later enters it the same way. Unset: the process's own namespace.
   */
  netns?: NetnsTarget;
  /**
   * Routes through the device, added after the addresses (RTM_NEWROUTE, replacing a route
   * with the same destination and metric): `[{ dst: 'default', via: '10.0.2.2' },
   * { dst: 'default', via: 'fd00::2' }]`, or on-link ones (`{ dst: '10.8.0.0/16' }`).
   * The gateway must be on the device's subnet (else ENETUNREACH). IPv6 routes are skipped
   * with the IPv6 addresses where the namespace has IPv6 off (device.ipv6 false).
   */
  routes?: readonly TunRoute[];
}

export interface TunConfig {
  kernelAddress?: string | readonly string[];
  /** Routes to add (see TunOptions.routes). */
  routes?: readonly TunRoute[];
  mtu?: number;
  /** Raise txqueuelen to at least this (see TunOptions). */
  txQueueLen?: number;
  up?: boolean;
  persist?: boolean;
}

export interface TunStats extends LinkStats {
  /** read() failures other than EAGAIN/EINTR (reading stops at the first). */
  RxErrors: number;
  /** write() failures (each is also counted in TxDropped). */
  TxErrors: number;
  /** errno of the last failed write, 0 if none. */
  LastTxErrno: number;
  TxGsoPackets: number;
  RxGsoPackets: number;
  TxCsumOffload: number;
  RxCsumPartial: number;
  /** UDP super-datagrams (gso_type UDP_L4) read and split; each also counts once in RxPackets and RxGsoPackets. */
  RxUsoPackets: number;
  /** Datagrams the split handed to the receiver. */
  RxUsoSegments: number;
  /** UDP super-datagrams refused as malformed (uso.ts `UsoRefusal`); each also counts in RxDropped. */
  RxUsoDropped: number;
  /** Packets `sendOffloadGather` wrote in pieces (writev), their data not copied into a packet buffer. */
  TxGathered: number;
}

/** What a TunDevice negotiated: the Link's offloads, and whether USO is on. */
export interface TunOffload extends LinkOffload {
  /**
   * TUN_F_USO4 (with TUN_F_USO6, which tun.c requires beside it) accepted: the kernel may
   * send UDP super-datagrams, which the device splits before its receiver (receive only).
   */
  readonly uso4: boolean;
  /**
   * TUN_F_TSO6 accepted: the kernel may send TCP/IPv6 super-segments (gso_type TCPV6), and
   * `sendOffload` takes them (an IPv6 packet with gsoSize > 0).
   */
  readonly tso6: boolean;
  /** TUN_F_USO6 accepted (always together with `uso4`): UDP/IPv6 super-datagrams are split too. */
  readonly uso6: boolean;
}

/**
 * TUNSETOFFLOAD flag sets, most wanted first; EINVAL moves to the next. USO4 and USO6 go
 * together: tun.c set_offload (Linux 6.2+) sets NETIF_F_GSO_UDP_L4 only for both and
 * refuses either alone (leftover flags are EINVAL); older kernels refuse both.
 */
const OFFLOAD_LADDER = [
  TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN | TUN_F_USO4 | TUN_F_USO6,
  TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN,
  TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6,
  TUN_F_CSUM | TUN_F_TSO4,
  TUN_F_CSUM,
] as const;
/** IPv6's minimum link MTU (RFC 8200 §5): below it the kernel takes IPv6 off the device. */
const IPV6_MIN_MTU = 1280;
/** Largest packet sendOffload takes (an IPv4 datagram; an IPv6 one stays within the same 64 KiB). */
const MAX_OFFLOAD_PACKET = 65535;

const DEV_NET_TUN = '/dev/net/tun';
const TUN_RX_BUFFER = 65535;
/** Ethernet header + one VLAN tag on top of the MTU in TAP mode. */
const TAP_OVERHEAD = 18;
/** The Ethernet II header (dst, src, EtherType): a TAP's frames are the MTU + this. */
const ETHERNET_HEADER = 14;
const DEFAULT_READ_BUDGET = 256;
/**
 * With the libuv stream: a wake-up whose packet was small, after one whose reading on found
 * nothing, reads on only every PROBE_EVERY-th time (a probe: one read that may find the
 * queue empty per this many lone packets).
 */
const PROBE_EVERY = 8;
/** Reads one pollNow() may make (or the txQueueLen, when larger): twice a tun queue's default (TUN_READQ_SIZE, 500). */
const POLL_NOW_MAX = 1024;

/** An IPv4 (0x0800) or IPv6 (0x86dd) EtherType at `buf[off]`: what a TAP's UDP super-datagram must carry. */
function isIpEtherType(buf: Uint8Array, off: number): boolean {
  const t = (buf[off]! << 8) | buf[off + 1]!;
  return t === 0x0800 || t === 0x86dd;
}

/** Open devices, held strongly until close() so no poll handle is collected while open. */
const openDevices = new Set<TunDevice>();
let exitHookInstalled = false;

/**
 * Devices still open when the process exits are closed on 'exit'. Without this, Node's
 * environment teardown runs the event loop once more; a poll handle that finds the tun
 * readable then calls into JavaScript that can no longer run, and koffi aborts the
 * process (FATAL ERROR ... napi_throw, exit status 134). Seen with unref() and with
 * process.exit() while packets are queued.
 */
function track(device: TunDevice): void {
  openDevices.add(device);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', closeAllTunDevices);
  }
}

const noReceiver: LinkReceiver = { packet() {} };

export class TunDevice implements Link {
  readonly name: string;
  readonly mode: TunMode;
  /**
   * TAP: the device's own MAC, the kernel side's station address on the segment (what
   * `ip link` shows as link/ether), read once at open; undefined on a TUN.
   */
  readonly kernelMac: string | undefined;
  #mtu: number;
  #txQueueLen: number | undefined;
  #fd: number;
  readonly #sys: Libc;
  readonly #rxBuffer: Uint8Array;
  readonly #readBudget: number;
  readonly #ipv4Only: boolean;
  readonly #onError: ((err: CodedError) => void) | undefined;
  /** The namespace the device lives in and an fd of it (for configure()); undefined: the process's own. */
  #netns: { fd: number; ns: ResolvedNetns } | undefined;
  #receiver: LinkReceiver = noReceiver;
  #hasReceiver = false;
  /** The readability watch: the libuv stream (one packet per wake-up), or the koffi poll. */
  #poll: PollHandle | ReadStream | undefined;
  /** With the stream: the last reading on found packets (read on after the next wake-up too). */
  #burst = false;
  /** With the stream: wake-ups left until the next probe. */
  #probeIn = PROBE_EVERY;
  /** The last packet taken was full-sized (GSO, or the frame MTU): a bulk sender, read on. */
  #lastFull = false;
  /** A read or poll error stopped reading (pollNow reads no more either). */
  #failed = false;
  /** Reads that returned a packet in the last #drain. */
  #lastReads = 0;
  /** virtio_net_hdr bytes before every packet (0: IFF_VNET_HDR off). */
  readonly #vnetLen: number;
  readonly #offload: TunOffload | undefined;
  /** Why the kernel side has no IPv6 (undefined: it has). */
  #ipv6Disabled: string | undefined;
  /** Reused write buffer for `send` (and unaligned `sendOffload`) when a vnet header is on. */
  readonly #txBuffer: Uint8Array | undefined;
  readonly #meta: PacketMeta = newPacketMeta();
  /** The views of the read buffer handed to the receiver (none allocated per packet). */
  readonly #rxViews = new ViewCache();
  /** Splits UDP super-datagrams in the read buffer (allocated with USO on). */
  readonly #uso: UdpSegmenter | undefined;
  /** The meta of each datagram of a split super-datagram (reused). */
  readonly #usoMeta: PacketMeta = newPacketMeta();
  /** TAP: the Ethernet header of the super-datagram being split, put before each datagram. */
  readonly #usoEth = new Uint8Array(ETHERNET_HEADER);
  /** Cached write views [headroom + packet] over the caller's buffer (no allocation per send), and the packet objects they were made for (#headroomView). */
  #txView: Uint8Array | undefined;
  #txFor: Uint8Array | undefined;
  #txView2: Uint8Array | undefined;
  #txFor2: Uint8Array | undefined;
  #stats: TunStats = { ...newLinkStats(), RxErrors: 0, TxErrors: 0, LastTxErrno: 0, RxUsoPackets: 0, RxUsoSegments: 0, RxUsoDropped: 0, TxGathered: 0 };

  /**
   * Opens (creating or attaching to) a TUN/TAP device, configures the kernel side and starts
   * reading. Bad options throw ERR_INVALID_ARG_VALUE / ERR_INVALID_ARG_TYPE / ERR_OUT_OF_RANGE
   * before any system call; system failures throw with the errno name as `code`.
   */
  static open(options: TunOptions = {}): TunDevice {
    const opts = validateOptions(options);
    const sys = libc();
    const ns = opts.netns;
    // Only the main thread enters the namespace, only for create() (synchronous), and is
    // back before anything else runs (netns.ts). The fd keeps the device in it.
    const nsFd = ns === undefined ? -1 : openNetns(sys, ns);
    let made: Created | undefined;
    try {
      made = ns === undefined ? create(sys, opts) : inNetns(sys, nsFd, ns, () => create(sys, opts));
      return new TunDevice(sys, made, opts, ns === undefined ? undefined : { fd: nsFd, ns });
    } catch (err) {
      if (made !== undefined) sys.close(made.fd);
      if (nsFd >= 0) sys.close(nsFd);
      throw err;
    }
  }

  private constructor(sys: Libc, made: Created, opts: ValidOptions, netns: { fd: number; ns: ResolvedNetns } | undefined) {
    const { fd, name, applied, vnet, kernelMac } = made;
    this.#sys = sys;
    this.#fd = fd;
    this.#netns = netns;
    this.name = name;
    this.mode = opts.mode;
    this.kernelMac = kernelMac;
    this.#mtu = applied.mtu;
    this.#txQueueLen = applied.txQueueLen;
    this.#ipv6Disabled = applied.ipv6Disabled;
    this.#ipv4Only = opts.ipv4Only;
    this.#readBudget = opts.readBudget;
    this.#onError = opts.onError;
    this.#vnetLen = vnet?.headerLength ?? 0;
    this.#offload = vnet?.offload;
    this.#uso = vnet?.offload.uso4 === true ? new UdpSegmenter() : undefined;
    this.#rxBuffer = new Uint8Array(this.#vnetLen + TUN_RX_BUFFER + (opts.mode === 'tap' ? TAP_OVERHEAD : 0));
    this.#txBuffer = vnet === undefined ? undefined : new Uint8Array(this.#vnetLen + MAX_OFFLOAD_PACKET + TAP_OVERHEAD);
    this.#poll = sys.readStream?.(fd, this.#rxBuffer, this.#onStreamRead) ?? sys.poll(fd, (status, events) => this.#onPoll(status, events));
    track(this);
  }

  /**
   * The file of the network namespace the device was created in (`/run/netns/NAME`,
   * `/proc/PID/ns/net` or the path given); undefined for the process's own.
   */
  get netns(): string | undefined {
    return this.#netns?.ns.path;
  }

  get mtu(): number {
    return this.#mtu;
  }

  /**
   * The largest frame a TAP carries without FCS or VLAN tag: `mtu` + 14 (1514 for an MTU of
   * 1500), what an Ethernet layer over the device takes as its frame link's MTU
   * (@netstack/ethernet's EthernetInterface). On a TUN, `mtu`. (`send` takes up to 4 more
   * bytes on a TAP, for one 802.1Q tag.)
   */
  get frameMtu(): number {
    return this.mode === 'tap' ? this.#mtu + ETHERNET_HEADER : this.#mtu;
  }

  /** The device's txqueuelen as the kernel has it after `txQueueLen` was applied; undefined when never asked. */
  get txQueueLen(): number | undefined {
    return this.#txQueueLen;
  }

  /** What TUNSETOFFLOAD accepted; undefined when the device has no vnet header (offload off or refused). */
  get offload(): TunOffload | undefined {
    return this.#offload;
  }

  /**
   * Whether the kernel side of the device has IPv6: the namespace and the device have it on
   * (`disable_ipv6` 0), the MTU is at least 1280, and every IPv6 `kernelAddress` asked for
   * was added. False is not an error: serve IPv4 only, and say `ipv6Disabled`.
   */
  get ipv6(): boolean {
    return this.#ipv6Disabled === undefined;
  }

  /** Why `ipv6` is false, in one line (e.g. "IPv6 is disabled in this network namespace (net.ipv6.conf.all.disable_ipv6 = 1)"); undefined when it is true. */
  get ipv6Disabled(): string | undefined {
    return this.#ipv6Disabled;
  }

  /** Headroom `sendOffload` writes its virtio-net header into (undefined without one). */
  get offloadHeadroom(): number | undefined {
    return this.#vnetLen > 0 ? this.#vnetLen : undefined;
  }

  /** Bytes of virtio_net_hdr before each packet read and written (0 without IFF_VNET_HDR). */
  get vnetHeaderLength(): number {
    return this.#vnetLen;
  }

  get fd(): number {
    return this.#fd;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  setReceiver(receiver: LinkReceiver): void {
    this.#receiver = receiver;
    this.#hasReceiver = true;
  }

  send(packet: Uint8Array): boolean {
    const stats = this.#stats;
    const len = packet.length;
    const limit = this.mode === 'tap' ? this.#mtu + TAP_OVERHEAD : this.#mtu;
    if (this.#fd < 0 || len === 0 || len > limit) {
      stats.TxDropped++;
      return false;
    }
    const vl = this.#vnetLen;
    if (vl > 0) {
      // A zero header (no offload asked) and the packet, in one contiguous write.
      const tx = this.#txBuffer!;
      encodeVnetHeader(tx, 0, vl, 0, VIRTIO_NET_HDR_GSO_NONE, 0, 0, 0, 0);
      tx.set(packet, vl);
      return this.#write(tx, vl + len, len);
    }
    return this.#write(packet, len, len);
  }

  /**
   * Link.sendOffload: one TCP packet with a partial checksum, a GSO super-segment when
   * it carries more than `gsoSize` payload bytes (virtio spec §5.1.6.2: flags NEEDS_CSUM,
   * gso_type TCPV4 or TCPV6 by the packet's version nibble, hdr_len = IP (with any IPv6
   * extension headers, up to csumStart) + TCP header, gso_size, csum_start, csum_offset).
   * The header goes into the caller's headroom when there is enough (the Link contract),
   * else the packet is copied behind it in the reused buffer.
   */
  sendOffload(packet: Uint8Array, gsoSize: number, csumStart: number, csumOffset: number): boolean {
    const len = packet.length;
    const vl = this.#vnetLen;
    const gso = this.#checkOffload(packet, len, gsoSize, csumStart);
    if (gso < 0) return false;
    let out: Uint8Array;
    if (packet.byteOffset >= vl) {
      // [headroom + packet] in the caller's buffer: one view, cached per (buffer, offset)
      // because the IP layer sends from the same place every time (no allocation per send).
      out = this.#headroomView(packet);
    } else {
      out = this.#txBuffer!;
      out.set(packet, vl);
    }
    this.#encodeOffload(out, packet, gso, gsoSize, csumStart, csumOffset);
    if (!this.#write(out, vl + len, len)) return false;
    this.#stats.TxCsumOffload++;
    if (gso > 0) this.#stats.TxGsoPackets++;
    return true;
  }

  /**
   * Link.sendOffloadGather: `sendOffload` of the packet `head` + `data` + `data2` (when
   * given) without joining them: one writev(2) of [vnet header + head] (the header in
   * `head`'s headroom), `data` and `data2` where they are (a TCP send buffer's bytes: no
   * copy into a packet buffer first; `TxGathered`). `head` holds the IP and TCP headers
   * (csumStart, the TCP header's length). Refused (false, TxDropped) where sendOffload
   * would refuse the whole packet. Without writev in the libc, or without headroom before
   * `head`, the pieces are copied into one buffer and written as sendOffload does.
   */
  sendOffloadGather(head: Uint8Array, data: Uint8Array, data2: Uint8Array | undefined, gsoSize: number, csumStart: number, csumOffset: number): boolean {
    const len = head.length + data.length + (data2 === undefined ? 0 : data2.length);
    const vl = this.#vnetLen;
    const gso = this.#checkOffload(head, len, gsoSize, csumStart);
    if (gso < 0) return false;
    // The TCP header must be whole in `head` (hdr_len bytes are what the kernel copies first).
    if (csumStart + (head[csumStart + 12]! >>> 4) * 4 > head.length) {
      this.#stats.TxDropped++;
      return false;
    }
    const sys = this.#sys;
    const stats = this.#stats;
    if (sys.writeGather !== undefined && head.byteOffset >= vl && data.length > 0 && (data2 === undefined || data2.length > 0)) {
      const out = this.#headroomView(head);
      this.#encodeOffload(out, head, gso, gsoSize, csumStart, csumOffset);
      const w = sys.writeGather(this.#fd, out.subarray(0, vl + head.length), data, data2);
      if (w !== vl + len) return this.#writeFailed(w);
      stats.TxPackets++;
      stats.TxBytes += len;
      stats.TxGathered++;
    } else {
      const out = this.#txBuffer!;
      out.set(head, vl);
      out.set(data, vl + head.length);
      if (data2 !== undefined) out.set(data2, vl + head.length + data.length);
      this.#encodeOffload(out, out.subarray(vl, vl + len), gso, gsoSize, csumStart, csumOffset);
      if (!this.#write(out, vl + len, len)) return false;
    }
    stats.TxCsumOffload++;
    if (gso > 0) stats.TxGsoPackets++;
    return true;
  }

  /**
   * What `sendOffload` checks of a packet of `len` bytes whose headers start `head`: -1
   * (refused, counted in TxDropped), 0 (not a super-segment) or 1 (a GSO super-segment).
   */
  #checkOffload(head: Uint8Array, len: number, gsoSize: number, csumStart: number): number {
    const stats = this.#stats;
    const off = this.#offload;
    // On a TAP the packet is a frame: the IP datagram starts after the Ethernet header, and
    // csum_start (like hdr_len) counts from the frame's first byte (virtio spec §5.1.6.2:
    // offsets are from the start of the packet the device carries).
    const l2 = this.mode === 'tap' ? ETHERNET_HEADER : 0;
    // The headers must be in the packet: TCP's data offset is at csumStart + 12.
    if (this.#fd < 0 || off === undefined || !off.csum || csumStart < l2 + 20 || head.length < csumStart + 20 || len > MAX_OFFLOAD_PACKET + l2) {
      stats.TxDropped++;
      return -1;
    }
    const hdrLen = csumStart + (head[csumStart + 12]! >>> 4) * 4;
    const gso = gsoSize > 0 && len - hdrLen > gsoSize;
    // The family: the version nibble on a TUN, the EtherType on a TAP (0x86dd: IPv6).
    const v6 = l2 === 0 ? head[0]! >>> 4 === 6 : head[12] === 0x86 && head[13] === 0xdd;
    if ((gso && !(v6 ? off.tso6 : off.tso4)) || (!gso && len > this.#mtu + l2) || hdrLen > len) {
      stats.TxDropped++;
      return -1;
    }
    return gso ? 1 : 0;
  }

  /**
   * The view [headroom + packet...] over `packet`'s buffer, cached per (buffer, offset): the
   * IP layer sends from the same place every time. The IP layer's packets are views it
   * caches too (ViewCache: the same object for the same place and length), so the last two
   * packet objects (a round trip alternates a data segment and an ACK) are remembered with
   * their view: for them `.buffer`, a getter TurboFan calls generically (~400 instructions
   * a read), is not read at all.
   */
  #headroomView(packet: Uint8Array): Uint8Array {
    if (packet === this.#txFor) return this.#txView!;
    const prevFor = this.#txFor, prevView = this.#txView;
    let view: Uint8Array | undefined;
    if (packet === this.#txFor2) {
      view = this.#txView2!;
    } else {
      const start = packet.byteOffset - this.#vnetLen;
      view = prevView;
      if (view === undefined || view.buffer !== packet.buffer || view.byteOffset !== start) {
        view = new Uint8Array(packet.buffer, start, packet.buffer.byteLength - start);
      }
    }
    this.#txFor2 = prevFor;
    this.#txView2 = prevView;
    this.#txFor = packet;
    this.#txView = view;
    return view;
  }

  /**
   * The virtio-net header at out[0] for the packet whose headers start `head` (virtio spec
   * §5.1.6.2: flags NEEDS_CSUM, gso_type TCPV4 or TCPV6 by the packet's version nibble (a
   * TAP's EtherType), hdr_len = IP (with any IPv6 extension headers, up to csumStart) + TCP
   * header, gso_size, csum_start, csum_offset).
   */
  #encodeOffload(out: Uint8Array, head: Uint8Array, gso: number, gsoSize: number, csumStart: number, csumOffset: number): void {
    const l2 = this.mode === 'tap' ? ETHERNET_HEADER : 0;
    const v6 = l2 === 0 ? head[0]! >>> 4 === 6 : head[12] === 0x86 && head[13] === 0xdd;
    const hdrLen = csumStart + (head[csumStart + 12]! >>> 4) * 4;
    encodeVnetHeader(
      out, 0, this.#vnetLen, VIRTIO_NET_HDR_F_NEEDS_CSUM,
      gso > 0 ? (v6 ? VIRTIO_NET_HDR_GSO_TCPV6 : VIRTIO_NET_HDR_GSO_TCPV4) : VIRTIO_NET_HDR_GSO_NONE,
      hdrLen, gso > 0 ? gsoSize : 0, csumStart, csumOffset,
    );
  }

  /** One write() of `n` bytes from `buf`; `len` is the packet's own length for the counters. */
  #write(buf: Uint8Array, n: number, len: number): boolean {
    const stats = this.#stats;
    const w = this.#sys.write(this.#fd, buf, n);
    if (w === n) {
      stats.TxPackets++;
      stats.TxBytes += len;
      return true;
    }
    return this.#writeFailed(w);
  }

  /** A write that returned `w` (not the whole packet) counted: always false. */
  #writeFailed(w: number): boolean {
    const stats = this.#stats;
    // EAGAIN / ENOBUFS (queue full), EINVAL (not IP), or a short write: dropped.
    if (w < 0) {
      stats.LastTxErrno = this.#sys.errno();
      stats.TxErrors++;
    }
    stats.TxDropped++;
    return false;
  }

  stats(): TunStats {
    return { ...this.#stats };
  }

  /** Changes kernel-side settings of the open device (same rules as the open options). */
  configure(config: TunConfig): void {
    const cfg: TunConfig = {};
    let addresses: KernelAddresses | undefined;
    if (config.mtu !== undefined) cfg.mtu = validateMtu(config.mtu);
    if (config.txQueueLen !== undefined) cfg.txQueueLen = validateTxQueueLen(config.txQueueLen);
    if (config.kernelAddress !== undefined) {
      addresses = parseKernelAddresses(config.kernelAddress);
      cfg.kernelAddress = config.kernelAddress;
    }
    if (config.up !== undefined) cfg.up = validateBool(config.up, 'up');
    if (config.persist !== undefined) cfg.persist = validateBool(config.persist, 'persist');
    const routes = config.routes === undefined ? undefined : parseRoutes(config.routes);
    if (this.#fd < 0) throw closedError('configure');
    const sys = this.#sys;
    const fd = this.#fd;
    const netns = this.#netns;
    // The device's name means something only in its own namespace: enter it again.
    const applied = netns === undefined
      ? applyConfig(sys, fd, this.name, cfg, addresses, routes)
      : inNetns(sys, netns.fd, netns.ns, () => applyConfig(sys, fd, this.name, cfg, addresses, routes));
    this.#mtu = applied.mtu;
    // Read again every time: the sysctls, the MTU and the addresses of this call.
    this.#ipv6Disabled = applied.ipv6Disabled;
    if (applied.txQueueLen !== undefined) this.#txQueueLen = applied.txQueueLen;
  }

  /** Lets the process exit while the device is open (the device keeps working while it runs). */
  unref(): this {
    this.#poll?.unref();
    return this;
  }

  /** Undoes unref(): the open device keeps the process alive (the default). */
  ref(): this {
    this.#poll?.ref();
    return this;
  }

  close(): void {
    if (this.#fd < 0) return;
    // Stop the poll before the fd goes, so libuv never holds a closed (or reused) fd.
    this.#poll?.close();
    this.#poll = undefined;
    this.#sys.close(this.#fd);
    this.#fd = -1;
    if (this.#netns !== undefined) {
      this.#sys.close(this.#netns.fd);
      this.#netns = undefined;
    }
    this.#receiver = noReceiver;
    openDevices.delete(this);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * Link.pollNow: drains what the kernel has queued now, synchronously: batches of the read
   * budget, each ended by batchEnd as a readability callback would, until EAGAIN, bounded
   * by POLL_NOW_MAX reads or the device's txQueueLen, the larger (what the kernel can hold
   * for us: 500 packets by default, TUN_READQ_SIZE). One batch would not do: after a busy
   * stretch the queue is deeper than the budget, and the ACKs the caller's timers wait for
   * are anywhere in it. Returns the packets delivered; 0 once closed or after a read error.
   * The level-triggered poll stays armed: if it fires afterwards it finds the queue empty
   * (one read, EAGAIN).
   */
  pollNow(): number {
    let delivered = 0;
    const max = Math.max(POLL_NOW_MAX, this.#txQueueLen ?? 0);
    for (let reads = 0; reads < max && this.#fd >= 0 && !this.#failed;) {
      const budget = Math.min(this.#readBudget, max - reads);
      delivered += this.#drain(budget);
      if (this.#lastReads < budget) break; // EAGAIN (or closed, or a read error)
      reads += budget;
    }
    return delivered;
  }

  #onPoll(status: number, _events: PollEvents): void {
    if (this.#fd < 0) return;
    if (status < 0) {
      this.#fail(sysError(-status, 'poll', `polling ${this.name} failed`));
      return;
    }
    this.#drain(this.#readBudget);
  }

  /**
   * The libuv stream's read: one packet at rxBuffer[0..n) (n > 0), nothing (0), or an error
   * after which libuv has stopped reading (-errno, UV_EOF). Reads on (#readOn) when the
   * packet was full-sized, the last reading on found more, or a probe is due; then one
   * batchEnd.
   */
  readonly #onStreamRead = (n: number): void => {
    if (this.#fd < 0 || this.#failed) return;
    if (n <= 0) {
      if (n === 0 || n === -Errno.EAGAIN || n === -Errno.EINTR) return;
      this.#fail(n === UV_EOF
        ? sysError(Errno.EIO, 'read', `reading ${this.name} failed (end of file); the device stopped reading`)
        : sysError(-n, 'read', `reading ${this.name} failed; the device stopped reading`));
      return;
    }
    let delivered = this.#take(n);
    if (this.#fd >= 0 && !this.#failed && (this.#lastFull || this.#burst || --this.#probeIn <= 0)) {
      this.#probeIn = PROBE_EVERY;
      delivered += this.#readOn(this.#readBudget - 1);
      this.#burst = this.#lastReads > 0;
    }
    if (delivered > 0 && this.#fd >= 0) this.#receiver.batchEnd?.();
  };

  /**
   * Reads up to `budget` packets (until EAGAIN), hands them to the receiver, then one
   * batchEnd. Returns the packets delivered; `#lastReads` says how many reads returned a
   * packet (budget: the queue may hold more).
   */
  #drain(budget: number): number {
    const delivered = this.#readOn(budget);
    if (delivered > 0 && this.#fd >= 0) this.#receiver.batchEnd?.();
    return delivered;
  }

  /** #drain without the batchEnd: the reads and deliveries; `#lastReads` = reads that returned a packet. */
  #readOn(budget: number): number {
    const sys = this.#sys;
    const buf = this.#rxBuffer;
    let delivered = 0;
    let reads = 0;
    for (let i = 0; i < budget; i++) {
      const fd = this.#fd; // close() from inside the receiver ends the batch
      if (fd < 0) break;
      const n = sys.read(fd, buf, buf.length);
      if (n < 0) {
        const errno = sys.errno();
        if (errno === Errno.EAGAIN) break;
        if (errno === Errno.EINTR) continue;
        this.#fail(sysError(errno, 'read', `reading ${this.name} failed; the device stopped reading`));
        break;
      }
      reads++;
      delivered += this.#take(n);
    }
    this.#lastReads = reads;
    return delivered;
  }

  /**
   * One read of `n` bytes at rxBuffer[0..n): filtered, decoded (vnet header), split (a UDP
   * super-datagram) and handed to the receiver, counted. Returns 1 when something was
   * delivered. Sets #lastFull.
   */
  #take(n: number): number {
    const buf = this.#rxBuffer;
    const stats = this.#stats;
    const vl = this.#vnetLen;
    if (n <= vl || !this.#hasReceiver || (this.#ipv4Only && buf[vl]! >> 4 !== 4)) {
      stats.RxDropped++;
      this.#lastFull = false;
      return 0;
    }
    const receiver = this.#receiver;
    if (vl === 0) {
      stats.RxPackets++;
      stats.RxBytes += n;
      this.#lastFull = n >= this.frameMtu;
      receiver.packet(this.#rxViews.view(buf, 0, n));
      return 1;
    }
    const meta = this.#meta;
    decodeVnetMeta(buf, 0, meta);
    if ((meta.gsoType & ~VIRTIO_NET_HDR_GSO_ECN) === VIRTIO_NET_HDR_GSO_UDP_L4) {
      this.#lastFull = true;
      return this.#splitUdp(buf, vl, n, meta, receiver) ? 1 : 0;
    }
    stats.RxPackets++;
    stats.RxBytes += n - vl;
    if (meta.gsoType !== VIRTIO_NET_HDR_GSO_NONE) stats.RxGsoPackets++;
    if (meta.csumPartial) stats.RxCsumPartial++;
    this.#lastFull = meta.gsoType !== VIRTIO_NET_HDR_GSO_NONE || n - vl >= this.frameMtu;
    receiver.packet(this.#rxViews.view(buf, vl, n), meta);
    return 1;
  }

  /**
   * A UDP super-datagram (gso_type UDP_L4) read into the buffer after its vnet header:
   * handed to the receiver as the datagrams its sender meant (uso.ts), in order, each with
   * a partial checksum. False (dropped, counted) when USO was not negotiated or it is
   * malformed; nothing reaches the receiver then.
   */
  #splitUdp(buf: Uint8Array, vl: number, n: number, meta: PacketMeta, receiver: LinkReceiver): boolean {
    const stats = this.#stats;
    const seg = this.#uso;
    // On a TAP the super-datagram is a frame: split its IP part (csum_start counts from the
    // frame's first byte) and put the Ethernet header back in front of each datagram below.
    const l2 = this.mode === 'tap' ? ETHERNET_HEADER : 0;
    const packet = buf.subarray(vl + l2, n);
    const count = seg === undefined
      ? 'not negotiated'
      : n - vl < l2 || (l2 > 0 && !isIpEtherType(buf, vl + 12))
        ? 'header'
        : seg.begin(packet, meta.gsoSize, meta.csumPartial, vnetCsumStart(buf, 0) - l2, vnetCsumOffset(buf, 0));
    if (typeof count === 'string') {
      stats.RxDropped++;
      stats.RxUsoDropped++;
      return false;
    }
    stats.RxPackets++;
    stats.RxBytes += n - vl;
    stats.RxGsoPackets++;
    stats.RxCsumPartial++;
    stats.RxUsoPackets++;
    const m = this.#usoMeta;
    const eth = this.#usoEth;
    if (l2 > 0) for (let i = 0; i < l2; i++) eth[i] = buf[vl + i]!;
    for (let k = 0; k < count; k++) {
      if (this.#fd < 0) break; // close() from inside the receiver ends the split too
      const datagram = seg!.segment(k);
      m.csumPartial = true;
      m.dataValid = false;
      m.gsoType = VIRTIO_NET_HDR_GSO_NONE;
      m.gsoSize = 0;
      stats.RxUsoSegments++;
      if (l2 === 0) {
        receiver.packet(datagram, m);
        continue;
      }
      // The 14 bytes before datagram k belong to the ones already handed over (or, for the
      // first, are the frame's own header): the Ethernet header is written there again.
      const at = datagram.byteOffset - buf.byteOffset - l2;
      for (let i = 0; i < l2; i++) buf[at + i] = eth[i]!;
      receiver.packet(this.#rxViews.view(buf, at, at + l2 + datagram.length), m);
    }
    return true;
  }

  #fail(err: CodedError): void {
    this.#failed = true;
    this.#stats.RxErrors++;
    this.#poll?.stop();
    if (this.#onError) this.#onError(err);
    else process.emitWarning(err);
  }
}

/** What create() made: the open fd and what the kernel has. */
interface Created {
  fd: number;
  name: string;
  applied: Applied;
  vnet: Negotiated | undefined;
  /** A TAP's MAC (SIOCGIFHWADDR); undefined on a TUN. */
  kernelMac: string | undefined;
}

/**
 * Opens /dev/net/tun, creates or attaches the device (TUNSETIFF), negotiates offloads and
 * applies the kernel-side settings, all in the calling thread's network namespace (with
 * `netns`, the target's: then `lo` is brought up too). Synchronous; closes the fd on failure.
 */
function create(sys: Libc, opts: ValidOptions): Created {
  const fd = sys.open(DEV_NET_TUN, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw openError(sys.errno());
  try {
    const req = ifreq(opts.name);
    const base = (opts.mode === 'tap' ? IFF_TAP : IFF_TUN) | IFF_NO_PI;
    // Most wanted first; each EINVAL (an older kernel, a device that refuses a flag)
    // drops one wish: NAPI first, then the vnet header.
    const attempts: number[] = [];
    if (opts.offload && opts.napi) attempts.push(base | IFF_NAPI | IFF_VNET_HDR);
    if (opts.offload) attempts.push(base | IFF_VNET_HDR);
    if (opts.napi) attempts.push(base | IFF_NAPI);
    attempts.push(base);
    let rc = -1;
    let flags = base;
    for (const f of attempts) {
      flags = f;
      writeIfFlags(req, f);
      rc = sys.ioctlPtr(fd, TUNSETIFF, req);
      if (rc >= 0 || sys.errno() !== Errno.EINVAL) break;
    }
    if (rc < 0) throw tunsetiffError(sys.errno(), opts.name);
    const name = readIfName(req);
    const vnet = (flags & IFF_VNET_HDR) !== 0 ? negotiateOffload(sys, fd) : undefined;
    const config: TunConfig = { up: opts.up };
    if (opts.mtu !== undefined) config.mtu = opts.mtu;
    if (opts.txQueueLen !== undefined) config.txQueueLen = opts.txQueueLen;
    if (opts.kernelAddress !== undefined) config.kernelAddress = opts.kernelAddress;
    if (opts.persist !== undefined) config.persist = opts.persist;
    if (opts.netns !== undefined) loopbackUp(sys);
    const applied = applyConfig(sys, fd, name, config, opts.addresses, opts.routes);
    const kernelMac = opts.mode === 'tap' ? readHwaddr(sys, name) : undefined;
    return { fd, name, applied, vnet, kernelMac };
  } catch (err) {
    sys.close(fd);
    throw err;
  }
}

/** Closes every device still open (for exit paths that do not hold the devices). */
export function closeAllTunDevices(): void {
  for (const dev of [...openDevices]) dev.close();
}

interface ValidOptions {
  name: string;
  mode: TunMode;
  mtu: number | undefined;
  txQueueLen: number | undefined;
  kernelAddress: string | readonly string[] | undefined;
  addresses: KernelAddresses | undefined;
  up: boolean;
  persist: boolean | undefined;
  ipv4Only: boolean;
  napi: boolean;
  offload: boolean;
  readBudget: number;
  onError: ((err: CodedError) => void) | undefined;
  netns: ResolvedNetns | undefined;
  routes: Route[] | undefined;
}

function validateOptions(options: TunOptions): ValidOptions {
  if (typeof options !== 'object' || options === null) {
    throw argError('ERR_INVALID_ARG_TYPE', 'The "options" argument must be an object');
  }
  const mode = options.mode ?? 'tun';
  if (mode !== 'tun' && mode !== 'tap') {
    throw argError('ERR_INVALID_ARG_VALUE', `The "mode" option must be 'tun' or 'tap', got ${String(mode)}`);
  }
  const name = validateIfName(options.name ?? `${mode}%d`);
  const mtu = options.mtu === undefined ? undefined : validateMtu(options.mtu);
  const txQueueLen = options.txQueueLen === undefined ? undefined : validateTxQueueLen(options.txQueueLen);
  const addresses = options.kernelAddress === undefined ? undefined : parseKernelAddresses(options.kernelAddress);
  const up = options.up === undefined ? true : validateBool(options.up, 'up');
  const persist = options.persist === undefined ? undefined : validateBool(options.persist, 'persist');
  const ipv4Only = options.ipv4Only === undefined ? mode === 'tun' : validateBool(options.ipv4Only, 'ipv4Only');
  if (ipv4Only && mode === 'tap') {
    throw argError('ERR_INVALID_ARG_VALUE', 'The "ipv4Only" option applies to tun mode only (tap delivers Ethernet frames)');
  }
  const napi = options.napi === undefined ? true : validateBool(options.napi, 'napi');
  const offload = options.offload === undefined ? false : validateBool(options.offload, 'offload');
  const readBudget = options.readBudget ?? DEFAULT_READ_BUDGET;
  if (!Number.isInteger(readBudget) || readBudget < 1 || readBudget > 65536) {
    throw argError('ERR_OUT_OF_RANGE', `The "readBudget" option must be an integer in 1..65536, got ${readBudget}`);
  }
  if (options.onError !== undefined && typeof options.onError !== 'function') {
    throw argError('ERR_INVALID_ARG_TYPE', 'The "onError" option must be a function');
  }
  const netns = options.netns === undefined ? undefined : resolveNetns(options.netns);
  const routes = options.routes === undefined ? undefined : parseRoutes(options.routes);
  return {
    name,
    mode,
    mtu,
    txQueueLen,
    kernelAddress: options.kernelAddress,
    addresses,
    up,
    persist,
    ipv4Only,
    napi,
    offload,
    readBudget,
    onError: options.onError,
    netns,
    routes,
  };
}

interface Negotiated {
  headerLength: number;
  offload: TunOffload;
}

/**
 * After TUNSETIFF accepted IFF_VNET_HDR: header size 12 (or the kernel's default 10 when
 * TUNSETVNETHDRSZ is refused), then TUNSETOFFLOAD down the ladder until one is accepted.
 * What `offload` reports is the accepted rung's flags, never more. Offloads refused
 * altogether leave the header on with every offload false.
 */
function negotiateOffload(sys: Libc, fd: number): Negotiated {
  const size = new Uint8Array(4);
  new DataView(size.buffer).setInt32(0, VNET_HDR_LEN, true);
  const headerLength = sys.ioctlPtr(fd, TUNSETVNETHDRSZ, size) < 0 ? VNET_HDR_LEN_MIN : VNET_HDR_LEN;
  for (const flags of OFFLOAD_LADDER) {
    if (sys.ioctlInt(fd, TUNSETOFFLOAD, flags) >= 0) return { headerLength, offload: offloadOf(flags, true) };
    if (sys.errno() !== Errno.EINVAL) break;
  }
  return { headerLength, offload: offloadOf(0, false) };
}

function offloadOf(flags: number, csum: boolean): TunOffload {
  return Object.freeze({
    csum,
    tso4: (flags & TUN_F_TSO4) !== 0,
    tso6: (flags & TUN_F_TSO6) !== 0,
    uso4: (flags & TUN_F_USO4) !== 0,
    uso6: (flags & TUN_F_USO6) !== 0,
  });
}

/** `kernelAddress` split by family: SIOCSIFADDR sets one IPv4 address; IPv6 ones go over rtnetlink. */
interface KernelAddresses {
  v4: Ipv4Cidr | undefined;
  /** The IPv4 text as given (for error messages). */
  v4Text: string | undefined;
  v6: Ipv6Cidr[];
}

/** Most IPv6 kernel-side addresses one call adds. */
const MAX_KERNEL_ADDRESSES6 = 16;

function parseKernelAddresses(value: unknown): KernelAddresses {
  const list: readonly unknown[] = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [undefined];
  if (list.length === 0) {
    throw argError('ERR_INVALID_ARG_VALUE', 'The "kernelAddress" option must name at least one address, like "10.7.0.1/24" or ["10.7.0.1/24", "fd07::1/64"]');
  }
  const out: KernelAddresses = { v4: undefined, v4Text: undefined, v6: [] };
  for (const item of list) {
    if (typeof item !== 'string') {
      throw argError('ERR_INVALID_ARG_TYPE', 'The "kernelAddress" option must be a string or an array of strings like ["10.7.0.1/24", "fd07::1/64"]');
    }
    if (item.includes(':')) {
      out.v6.push(parseIpv6Cidr(item));
    } else {
      if (out.v4 !== undefined) {
        throw argError('ERR_INVALID_ARG_VALUE', `The "kernelAddress" option takes one IPv4 address (SIOCSIFADDR sets the device's one), got ${JSON.stringify(out.v4Text)} and ${JSON.stringify(item)}`);
      }
      out.v4 = parseIpv4Cidr(item);
      out.v4Text = item;
    }
  }
  if (out.v6.length > MAX_KERNEL_ADDRESSES6) {
    throw argError('ERR_OUT_OF_RANGE', `The "kernelAddress" option takes at most ${MAX_KERNEL_ADDRESSES6} IPv6 addresses, got ${out.v6.length}`);
  }
  return out;
}

function validateBool(value: unknown, option: string): boolean {
  if (typeof value !== 'boolean') {
    throw argError('ERR_INVALID_ARG_TYPE', `The "${option}" option must be a boolean, got ${typeof value}`);
  }
  return value;
}

interface Applied {
  mtu: number;
  /** Read back when `txQueueLen` was asked for. */
  txQueueLen: number | undefined;
  /** Why the kernel side has no IPv6 (see TunDevice.ipv6Disabled); undefined when it has. */
  ipv6Disabled: string | undefined;
}

/**
 * Applies kernel-side settings on `name` (in the calling thread's network namespace);
 * returns the MTU (and txqueuelen) the kernel has afterwards. Routes go last: a gateway
 * must be on a subnet of the device, so after its addresses and with the link up.
 */
function applyConfig(sys: Libc, tunFd: number, name: string, config: TunConfig, addresses: KernelAddresses | undefined, routes?: readonly Route[]): Applied {
  const cidr = addresses?.v4;
  if (config.persist !== undefined && sys.ioctlInt(tunFd, TUNSETPERSIST, config.persist ? 1 : 0) < 0) {
    throw sysError(sys.errno(), 'ioctl', `TUNSETPERSIST on ${name}`);
  }
  const sock = sys.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) throw sysError(sys.errno(), 'socket', 'cannot open an AF_INET socket for interface ioctls');
  try {
    const req = ifreq(name);
    const ioctl = (request: number, what: string, tolerate = 0): void => {
      if (sys.ioctlPtr(sock, request, req) < 0) {
        const errno = sys.errno();
        if (errno === tolerate) return;
        throw configError(errno, name, what);
      }
    };
    if (config.mtu !== undefined) {
      writeIfMtu(req, config.mtu);
      ioctl(SIOCSIFMTU, `set MTU ${config.mtu}`);
    }
    if (cidr !== undefined) {
      writeIfAddr(req, cidr.address);
      ioctl(SIOCSIFADDR, `set address ${addresses?.v4Text ?? ''}`, Errno.EEXIST);
      writeIfAddr(req, cidr.netmask);
      ioctl(SIOCSIFNETMASK, `set netmask /${cidr.prefixLength}`, Errno.EEXIST);
    }
    if (config.up !== undefined) {
      ioctl(SIOCGIFFLAGS, 'read flags');
      const flags = readIfFlags(req);
      const wanted = config.up ? flags | IFF_UP : flags & ~IFF_UP;
      if (wanted !== flags) {
        writeIfFlags(req, wanted);
        ioctl(SIOCSIFFLAGS, config.up ? 'bring the link up' : 'bring the link down');
      }
    }
    let txQueueLen: number | undefined;
    if (config.txQueueLen !== undefined) {
      ioctl(SIOCGIFTXQLEN, 'read txqueuelen');
      txQueueLen = readIfQlen(req);
      if (txQueueLen < config.txQueueLen) {
        writeIfQlen(req, config.txQueueLen);
        ioctl(SIOCSIFTXQLEN, `set txqueuelen ${config.txQueueLen}`);
        txQueueLen = config.txQueueLen;
      }
    }
    ioctl(SIOCGIFMTU, 'read MTU');
    const mtu = readIfMtu(req);
    let ipv6Disabled = ipv6Off(sys, name, mtu);
    const v6 = addresses?.v6 ?? [];
    let ifindex: number | undefined;
    const index = (): number => {
      if (ifindex === undefined) {
        ioctl(SIOCGIFINDEX, 'read the interface index');
        ifindex = readIfIndex(req);
      }
      return ifindex;
    };
    if (ipv6Disabled === undefined && v6.length > 0) ipv6Disabled = addIpv6Addresses(sys, name, index(), v6);
    // IPv6 routes go with the IPv6 side: skipped, not refused, where it is off.
    const wanted = (routes ?? []).filter((r) => r.family === 4 || ipv6Disabled === undefined);
    if (wanted.length > 0) addRoutes(sys, name, index(), wanted);
    return { mtu: Math.min(mtu, MAX_MTU), txQueueLen, ipv6Disabled };
  } finally {
    sys.close(sock);
  }
}

/**
 * A TAP's MAC by SIOCGIFHWADDR on a short-lived AF_INET socket (in the calling thread's
 * namespace): the kernel gives a TAP a random locally administered one (eth_hw_addr_random
 * in tun.c), which neighbours on the segment see as the kernel side's station address.
 */
function readHwaddr(sys: Libc, name: string): string | undefined {
  const sock = sys.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) throw sysError(sys.errno(), 'socket', 'cannot open an AF_INET socket for interface ioctls');
  try {
    const req = ifreq(name);
    if (sys.ioctlPtr(sock, SIOCGIFHWADDR, req) < 0) throw configError(sys.errno(), name, 'read the MAC address');
    return readIfHwaddr(req);
  } finally {
    sys.close(sock);
  }
}

const SYSCTL_IPV6 = '/proc/sys/net/ipv6/conf';

/**
 * Why the kernel side of `name` has no IPv6, or undefined when it has: the sysctls of the
 * namespace the process runs in (/proc/sys/net is per network namespace) and the MTU.
 */
function ipv6Off(sys: Libc, name: string, mtu: number): string | undefined {
  const all = sys.readText(`${SYSCTL_IPV6}/all/disable_ipv6`);
  if (all === undefined) {
    return `IPv6 is not available: ${SYSCTL_IPV6}/all/disable_ipv6 cannot be read (a kernel without IPv6, booted with ipv6.disable=1, or no /proc)`;
  }
  if (all.trim() === '1') return 'IPv6 is disabled in this network namespace (net.ipv6.conf.all.disable_ipv6 = 1)';
  if (sys.readText(`${SYSCTL_IPV6}/${name}/disable_ipv6`)?.trim() === '1') {
    return `IPv6 is disabled on ${name} (net.ipv6.conf.${name}.disable_ipv6 = 1)`;
  }
  if (mtu < IPV6_MIN_MTU) return `IPv6 needs an MTU of at least ${IPV6_MIN_MTU} (RFC 8200 §5); ${name} has ${mtu}`;
  return undefined;
}

/**
 * Adds each IPv6 address with IFA_F_NODAD over a short-lived NETLINK_ROUTE socket
 * (netlink.ts). Returns why IPv6 is off when the kernel's refusal says so (EACCES:
 * disabled on the device; EAFNOSUPPORT/EOPNOTSUPP: no IPv6), undefined when every address
 * is on the device (EEXIST: it was already); throws on any other refusal.
 */
function addIpv6Addresses(sys: Libc, name: string, ifindex: number, v6: readonly Ipv6Cidr[]): string | undefined {
  const nl = sys.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (nl < 0) throw sysError(sys.errno(), 'socket', 'cannot open a NETLINK_ROUTE socket to add IPv6 addresses');
  try {
    const answer = new Uint8Array(1024);
    for (let i = 0; i < v6.length; i++) {
      const cidr = v6[i]!;
      const seq = i + 1;
      const req = encodeNewAddr6(cidr, ifindex, seq);
      if (sys.send(nl, req, req.length, 0) !== req.length) {
        throw configError(sys.errno(), name, `add address ${cidr.text} (rtnetlink send)`);
      }
      // rtnetlink handles the request inside send(): the answer is queued already.
      const n = sys.recv(nl, answer, answer.length, MSG_DONTWAIT);
      if (n < 0) throw configError(sys.errno(), name, `add address ${cidr.text} (rtnetlink answer)`);
      const errno = decodeAck(answer, n, seq);
      if (errno === undefined) throw configError(Errno.EIO, name, `add address ${cidr.text}: no rtnetlink answer to request ${seq}`);
      if (errno === 0 || errno === Errno.EEXIST) continue;
      if (errno === Errno.EACCES) return `IPv6 is disabled on ${name}: the kernel refused ${cidr.text} (EACCES)`;
      if (errno === Errno.EAFNOSUPPORT || errno === Errno.EOPNOTSUPP) {
        return `IPv6 is not available: the kernel refused ${cidr.text} (${errno === Errno.EAFNOSUPPORT ? 'EAFNOSUPPORT' : 'EOPNOTSUPP'})`;
      }
      throw configError(errno, name, `add address ${cidr.text}`);
    }
    return undefined;
  } finally {
    sys.close(nl);
  }
}

/**
 * Adds (or replaces) each route through `ifindex` over a short-lived NETLINK_ROUTE socket
 * (netlink.ts, encodeNewRoute); throws on the first refusal, naming the route.
 */
function addRoutes(sys: Libc, name: string, ifindex: number, routes: readonly Route[]): void {
  const nl = sys.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (nl < 0) throw sysError(sys.errno(), 'socket', 'cannot open a NETLINK_ROUTE socket to add routes');
  try {
    const answer = new Uint8Array(1024);
    for (let i = 0; i < routes.length; i++) {
      const route = routes[i]!;
      const seq = i + 1;
      const req = encodeNewRoute(route, ifindex, seq);
      if (sys.send(nl, req, req.length, 0) !== req.length) {
        throw configError(sys.errno(), name, `add route ${route.text} (rtnetlink send)`);
      }
      const n = sys.recv(nl, answer, answer.length, MSG_DONTWAIT);
      if (n < 0) throw configError(sys.errno(), name, `add route ${route.text} (rtnetlink answer)`);
      const errno = decodeAck(answer, n, seq);
      if (errno === undefined) throw configError(Errno.EIO, name, `add route ${route.text}: no rtnetlink answer to request ${seq}`);
      if (errno === 0) continue;
      if (errno === Errno.ENETUNREACH && route.via !== undefined) {
        throw configError(errno, name, `add route ${route.text}: the gateway is not on a subnet of the device (give the device an address in the gateway's subnet, e.g. kernelAddress "10.0.2.100/24" for 10.0.2.2)`);
      }
      throw configError(errno, name, `add route ${route.text}`);
    }
  } finally {
    sys.close(nl);
  }
}

/**
 * Brings `lo` up in the calling thread's namespace if it is down, as slirp4netns does when
 * it configures a namespace (main.c configure_network: "set loopback device to UP"): a
 * namespace made by `ip netns add` or `unshare -n` starts with `lo` down, and programs in
 * it expect 127.0.0.1 to work.
 */
function loopbackUp(sys: Libc): void {
  const sock = sys.socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) throw sysError(sys.errno(), 'socket', 'cannot open an AF_INET socket for interface ioctls');
  try {
    const req = ifreq('lo');
    if (sys.ioctlPtr(sock, SIOCGIFFLAGS, req) < 0) throw configError(sys.errno(), 'lo', 'read flags');
    const flags = readIfFlags(req);
    if ((flags & IFF_UP) !== 0) return;
    writeIfFlags(req, flags | IFF_UP);
    if (sys.ioctlPtr(sock, SIOCSIFFLAGS, req) < 0) throw configError(sys.errno(), 'lo', 'bring the link up');
  } finally {
    sys.close(sock);
  }
}

const CAP_HINT = 'it needs CAP_NET_ADMIN: run as root or under `unshare -rn`';

function openError(errno: number): CodedError {
  switch (errno) {
    case Errno.ENOENT:
    case Errno.ENODEV:
      return sysError(errno, 'open', `${DEV_NET_TUN} does not exist: load the tun module (modprobe tun) or create the node (mknod ${DEV_NET_TUN} c 10 200)`);
    case Errno.EPERM:
      return sysError(errno, 'open', `cannot open ${DEV_NET_TUN}: ${CAP_HINT}`);
    case Errno.EACCES:
      // The file's mode, not a capability: a user namespace does not help here.
      return sysError(errno, 'open', `cannot open ${DEV_NET_TUN}: permission denied (${devMode()}); run as root, or make it usable (chmod 0666 ${DEV_NET_TUN}, the usual mode) and then use \`unshare -rn\``);
    default:
      return sysError(errno, 'open', `cannot open ${DEV_NET_TUN}`);
  }
}

function devMode(): string {
  try {
    return `mode ${(statSync(DEV_NET_TUN).mode & 0o777).toString(8).padStart(4, '0')}`;
  } catch {
    return 'mode unknown';
  }
}

function tunsetiffError(errno: number, name: string): CodedError {
  switch (errno) {
    case Errno.EBUSY:
      return sysError(errno, 'ioctl', `TUNSETIFF: device ${name} is in use (a single-queue tun has one reader)`);
    case Errno.EPERM:
    case Errno.EACCES:
      return sysError(errno, 'ioctl', `TUNSETIFF: cannot create or attach ${name}: ${CAP_HINT}`);
    case Errno.EINVAL:
      return sysError(errno, 'ioctl', `TUNSETIFF: ${name} exists with other flags (another mode, multi-queue) or is not a tun/tap device`);
    default:
      return sysError(errno, 'ioctl', `TUNSETIFF on ${name}`);
  }
}

function configError(errno: number, name: string, what: string): CodedError {
  const hint = errno === Errno.EPERM || errno === Errno.EACCES ? `: ${CAP_HINT}` : '';
  return sysError(errno, 'ioctl', `cannot ${what} on ${name}${hint}`);
}

function closedError(syscall: string): CodedError {
  return sysError(Errno.EBADF, syscall, 'the device is closed');
}
