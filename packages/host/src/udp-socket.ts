/**
 * A connected UDP socket with what node:dgram cannot give: the ICMP errors about what it
 * sent, each with its sender (IP_RECVERR / IPV6_RECVERR, read from the error queue), and
 * the hop limit and Don't Fragment of each datagram. What a relay needs to pass a
 * router's time exceeded or fragmentation needed on to its own client (the namespace
 * gateway's UDP flows: packages/netstack/src/gateway/).
 *
 * API
 *   UdpSocket.open({ family, onMessage, onError }): UdpSocket      synchronous; throws a CodedError
 *   socket.connect(address, port): string | undefined             connect(2): the errno name when refused
 *   socket.send(data, { ttl?, dontFragment? }): string | undefined one send(2); the errno name when refused
 *   socket.stats(), ref(), unref(), close()
 *
 * - `ttl` (1..255) sets IP_TTL / IPV6_UNICAST_HOPS for this and later datagrams (one
 *   setsockopt when it changes). `dontFragment` sets IP_MTU_DISCOVER (IPV6_MTU_DISCOVER)
 *   to IP_PMTUDISC_DO (true: DF set, a datagram over the path MTU the kernel knows fails
 *   with EMSGSIZE, and a local error with that MTU is queued) or IP_PMTUDISC_DONT (false:
 *   fragmented as needed, DF clear); absent: the kernel's default (IP_PMTUDISC_WANT).
 * - `onError` gets every error queue entry (RFC 1122 §4.1.3.3): `origin` 'icmp' (an ICMP
 *   or ICMPv6 error from `offender`: type, code, `info` the MTU of a fragmentation needed /
 *   packet too big) or 'local' (EMSGSIZE with `info` the path MTU); `message` the start
 *   of the payload of the datagram it is about. Linux also sets the socket's pending error
 *   with each ICMP one, which would fail the next send(): a send failing so drains the
 *   queue (reporting what is there, which clears it) and is tried once more.
 * - Datagrams are read by a level-triggered `koffi.node.poll` watch, at most 64 per turn
 *   of the event loop, into one buffer shared by every UdpSocket (the views passed to
 *   `onMessage` are valid during the call only): no memory per socket but the fd.
 */
import { hostLibc, type HostLibc, type MsgBuffers, type PollHandle } from './libc.js';
import {
  AF_INET, AF_INET6, EAGAIN, EINTR, IP_TTL, IPV6_UNICAST_HOPS, READ_BUDGET, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOL_IP, SOL_IPV6,
  addressBytes, checkFamily, drainErrorQueue, enableRecvErr, errnoName, registerOpen, sysError, writeSockaddr, type QueuedError,
} from './sock.js';

const IPPROTO_UDP = 17;
const IP_MTU_DISCOVER = 10;
const IPV6_MTU_DISCOVER = 23;
/** IP_PMTUDISC_DONT / _DO (the same values for IPv6). */
const PMTUDISC_DONT = 0;
const PMTUDISC_DO = 2;
/** send() errors that may be an ICMP error's pending socket error rather than this send's own. */
const PENDING = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EPROTO', 'EMSGSIZE', 'ETIMEDOUT']);

export interface UdpSocketStats {
  OutDatagrams: number;
  /** send() refusals (EMSGSIZE, EAGAIN, ENETUNREACH...). */
  OutErrors: number;
  InDatagrams: number;
  /** recv() failures other than EAGAIN/EINTR (a pending socket error is read once so). */
  InErrors: number;
  /** ICMP errors read from the error queue and handed on. */
  InIcmpErrors: number;
  /** Local errors (EMSGSIZE with the path MTU) read from the error queue and handed on. */
  InLocalErrors: number;
  /** Error queue entries that did not parse. */
  InOtherErrors: number;
}

/** One error queue entry (struct sock_extended_err and the offender). Views valid during the call. */
export type UdpSocketError = QueuedError;

export interface UdpSocketOptions {
  family: 4 | 6;
  /** One datagram from the connected peer (view valid during the call). */
  onMessage: (data: Uint8Array) => void;
  onError: (error: UdpSocketError) => void;
  /** @internal the libc seam (tests) */
  libc?: HostLibc;
}

const open = new Set<UdpSocket>();
/** Shared by every socket (JavaScript runs one callback at a time; views are lent for the call). */
let rxBuf: Uint8Array | undefined;
const errqs = new WeakMap<HostLibc, MsgBuffers>();

export class UdpSocket {
  readonly family: 4 | 6;
  #fd: number;
  readonly #sys: HostLibc;
  #poll: PollHandle | undefined;
  readonly #onMessage: (data: Uint8Array) => void;
  readonly #onError: (error: UdpSocketError) => void;
  #ttl = -1;
  #pmtu = -1;
  readonly #stats: UdpSocketStats = { OutDatagrams: 0, OutErrors: 0, InDatagrams: 0, InErrors: 0, InIcmpErrors: 0, InLocalErrors: 0, InOtherErrors: 0 };

  private constructor(family: 4 | 6, fd: number, sys: HostLibc, onMessage: (d: Uint8Array) => void, onError: (e: UdpSocketError) => void) {
    this.family = family;
    this.#fd = fd;
    this.#sys = sys;
    this.#onMessage = onMessage;
    this.#onError = onError;
  }

  /** Opens the socket with IP_RECVERR (IPV6_RECVERR) on; throws a CodedError (errno name as `code`). */
  static open(options: UdpSocketOptions): UdpSocket {
    checkFamily(options);
    if (typeof options.onMessage !== 'function' || typeof options.onError !== 'function') {
      throw Object.assign(new TypeError('options.onMessage and options.onError must be functions'), { code: 'ERR_INVALID_ARG_TYPE' });
    }
    const sys = options.libc ?? hostLibc();
    const six = options.family === 6;
    const fd = sys.socket(six ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
    if (fd < 0) throw sysError(sys.errno(), 'socket', `UDP${six ? '6' : ''} socket`);
    enableRecvErr(sys, fd, six);
    const s = new UdpSocket(options.family, fd, sys, options.onMessage, options.onError);
    if (!errqs.has(sys)) errqs.set(sys, sys.msgBuffers(576, 256));
    s.#poll = sys.poll(fd, s.#pollCallback);
    registerOpen(open, s);
    return s;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /** connect(2) to `address` (4 or 16 bytes, or text) and `port`: the kernel takes datagrams from there only. The errno name when refused. */
  connect(address: Uint8Array | string, port: number): string | undefined {
    if (this.#fd < 0) return 'EBADF';
    const d = typeof address === 'string' ? addressBytes(address) : address;
    if (d === undefined || d.length !== (this.family === 6 ? 16 : 4) || !Number.isInteger(port) || port < 0 || port > 65535) return 'EINVAL';
    const a = new Uint8Array(28);
    const len = writeSockaddr(a, d, port);
    return this.#sys.connect(this.#fd, a, len) < 0 ? errnoName(this.#sys.errno()) : undefined;
  }

  /**
   * Sends one datagram to the connected peer. `ttl`: IP_TTL / IPV6_UNICAST_HOPS (1..255);
   * `dontFragment`: IP_PMTUDISC_DO (true) or _DONT (false). Undefined when the kernel
   * took it, else the errno name (never throws for what the kernel refuses).
   */
  send(data: Uint8Array, options?: { ttl?: number; dontFragment?: boolean }): string | undefined {
    if (this.#fd < 0) return 'EBADF';
    const six = this.family === 6;
    const ttl = options?.ttl;
    if (ttl !== undefined && ttl !== this.#ttl && ttl >= 1 && ttl <= 255) {
      if (this.#sys.setsockoptInt(this.#fd, six ? SOL_IPV6 : SOL_IP, six ? IPV6_UNICAST_HOPS : IP_TTL, ttl) < 0) { this.#stats.OutErrors++; return errnoName(this.#sys.errno()); }
      this.#ttl = ttl;
    }
    const df = options?.dontFragment;
    const pmtu = df === undefined ? -1 : df ? PMTUDISC_DO : PMTUDISC_DONT;
    if (pmtu !== -1 && pmtu !== this.#pmtu) {
      if (this.#sys.setsockoptInt(this.#fd, six ? SOL_IPV6 : SOL_IP, six ? IPV6_MTU_DISCOVER : IP_MTU_DISCOVER, pmtu) < 0) { this.#stats.OutErrors++; return errnoName(this.#sys.errno()); }
      this.#pmtu = pmtu;
    }
    let r = this.#sys.send(this.#fd, data, data.length, 0);
    if (r < 0) {
      let e = errnoName(this.#sys.errno());
      // A pending socket error (an ICMP error's, set with its queue entry) fails a send once:
      // drain the queue (it clears it) and try again. EMSGSIZE is this send's own (its
      // local error is queued: reported by the drain, not sent again).
      if (PENDING.has(e) && this.#drainErrors() > 0 && e !== 'EMSGSIZE') {
        r = this.#sys.send(this.#fd, data, data.length, 0);
        if (r < 0) e = errnoName(this.#sys.errno());
      }
      if (r < 0) { this.#stats.OutErrors++; return e; }
    }
    this.#stats.OutDatagrams++;
    return undefined;
  }

  stats(): UdpSocketStats {
    return { ...this.#stats };
  }

  ref(): this { this.#poll?.ref(); return this; }
  unref(): this { this.#poll?.unref(); return this; }

  /** Idempotent. */
  close(): void {
    if (this.#fd < 0) return;
    this.#poll?.close();
    this.#poll = undefined;
    this.#sys.close(this.#fd);
    this.#fd = -1;
    open.delete(this);
  }

  /** Reads the error queue until EAGAIN or the budget, each entry to onError; returns how many. */
  #drainErrors(): number {
    return drainErrorQueue(this.#sys, this.#fd, errqs.get(this.#sys)!, () => this.#fd >= 0, (e) => {
      if (e.origin === 'local') this.#stats.InLocalErrors++;
      else this.#stats.InIcmpErrors++;
      this.#onError(e);
    }, () => { this.#stats.InOtherErrors++; });
  }

  #onPoll(status: number): void {
    if (this.#fd < 0) return;
    // libuv stops a poll handle on POLLERR (an error queued: IP_RECVERR) and reports
    // UV_EBADF: drain the queue (which clears the pending error), then watch again. Only
    // then: an error queue entry is what raises POLLERR (EPOLLERR while sk_error_queue is
    // not empty), so a plain readable turn skips that recvmsg().
    const restart = status < 0;
    if (restart) this.#drainErrors();
    const sys = this.#sys;
    const buf = (rxBuf ??= new Uint8Array(65536));
    for (let i = 0; i < READ_BUDGET && this.#fd >= 0; i++) {
      NO_ADDR_LEN[0] = NO_ADDR.length;
      const n = sys.recvfrom(this.#fd, buf, buf.length, 0, NO_ADDR, NO_ADDR_LEN);
      if (n < 0) {
        const e = sys.errno();
        if (e === EAGAIN) break;
        if (e === EINTR) continue;
        this.#stats.InErrors++;
        continue;
      }
      this.#stats.InDatagrams++;
      this.#onMessage(buf.subarray(0, n));
    }
    if (restart && this.#fd >= 0) this.#poll?.start({ readable: true }, this.#pollCallback);
  }

  readonly #pollCallback = (status: number): void => this.#onPoll(status);
}

/** recvfrom's address out-parameters (a connected socket: the peer is known; room for an IPv6 sockaddr). */
const NO_ADDR = new Uint8Array(28);
const NO_ADDR_LEN = new Uint32Array(1);
