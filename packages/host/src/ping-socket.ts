/**
 * The unprivileged ICMP echo socket Linux offers and Node does not:
 * `socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMP)` (IPv6: AF_INET6,
 * IPPROTO_ICMPV6), Linux 3.0+ (net/ipv4/ping.c). What it allows:
 *
 * - Only echo requests go out (type 8 code 0; ICMPv6 128 code 0), at least 8 bytes; the
 *   kernel sets the identifier to the socket's "port" (`id`, picked at the first send or
 *   bind) and computes the checksum; the sequence number and data are ours.
 * - Only echo replies that carry that identifier come back (the ICMP message alone, no IP
 *   header), with the sender's address.
 * - Who may open one is the namespace's `net.ipv4.ping_group_range` (low high: the
 *   process's group must be in it; IPv6 reads the same sysctl). Debian's default "1 0"
 *   allows nobody (socket() fails with EACCES); no capability bypasses it. It is per
 *   network namespace, as a sysctl under /proc/sys/net is.
 *
 * API
 *   PingSocket.open({ family, onMessage, onError? }): PingSocket   synchronous; throws a CodedError
 *     (code EACCES: ping_group_range excludes us; EAFNOSUPPORT / EPROTONOSUPPORT: no such socket here)
 *   socket.send(dst, message): string | undefined     one sendto(); the errno name when the kernel refuses
 *   socket.receiveNow(): number                       reads the replies already queued, now (as the watch would)
 *   socket.id: number                                 the echo identifier the kernel writes (0 before the first send)
 *   socket.stats(): PingSocketStats
 *   socket.ref() / socket.unref() / socket.close()
 *   pingGroupRange(): { low, high } | undefined       the sysctl as this namespace has it
 *   addressBytes(text): Uint8Array | undefined        dotted quad or IPv6 text -> 4 or 16 bytes
 *
 * Receive path: the fd is watched by `koffi.node.poll` (libuv uv_poll, level-triggered) as
 * @netstack/tun's device is; on readability it drains with recvfrom() into one reused
 * buffer until EAGAIN or 64 messages, handing each to `onMessage(message, from)` (both
 * views valid during the call only). The error queue is read only when the watch reports
 * POLLERR (Linux sets EPOLLERR while sk_error_queue is not empty, and libuv turns it into a
 * negative status): a reply costs one recvfrom() and the EAGAIN that ends the drain.
 * `receiveNow()` runs the same drain at once: where the destination is on a local link
 * (a veth, a bridge), the kernel has usually queued the reply before sendto() returns
 * (the softirq runs when the send re-enables bottom halves), and reading it then saves
 * the event loop's wake-up for it (an epoll_wait and a callback into JavaScript).
 */
import { hostLibc, type HostLibc, type MsgBuffers, type PollHandle } from './libc.js';
import {
  AF_INET, AF_INET6, EAGAIN, EINTR, IP_TTL, IPV6_UNICAST_HOPS, READ_BUDGET, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK, SOL_IP, SOL_IPV6,
  addressBytes, checkFamily, drainErrorQueue, enableRecvErr, errnoName, registerOpen, sockaddrAddress, sysError, writeSockaddr,
  type CodedError, type QueuedError,
} from './sock.js';

export { addressBytes, errnoName, type CodedError };

const IPPROTO_ICMP = 1;
const IPPROTO_ICMPV6 = 58;

export interface PingSocketStats {
  /** Echo requests the kernel took. */
  OutEchos: number;
  /** sendto() refusals (EAGAIN, ENETUNREACH, EHOSTUNREACH, EINVAL...). */
  OutErrors: number;
  /** Messages received and handed on. */
  InMsgs: number;
  /** Of InMsgs, those read by `receiveNow()` (already queued when asked) rather than by the readability watch. */
  InMsgsNow: number;
  /** recvfrom() failures other than EAGAIN/EINTR (a pending socket error is read once so). */
  InErrors: number;
  /** ICMP errors about our requests read from the error queue (IP_RECVERR) and handed on. */
  InIcmpErrors: number;
  /** Error queue entries that were not ICMP errors (local: EMSGSIZE...) or did not parse. */
  InOtherErrors: number;
}

/**
 * An ICMP error about one of our echo requests (IP_RECVERR / IPV6_RECVERR, read from the
 * socket's error queue): from `offender` (the router or host that sent it), ICMP `type`
 * and `code` as sent (ICMPv6 types for an IPv6 socket), `info` the MTU of a fragmentation
 * needed / packet too big, `errno` the kernel's conversion, `message` the start of the
 * request it quotes (type, code, checksum, id, seq...). Views valid during the call.
 */
export type PingSocketError = Omit<QueuedError, 'origin'>;

export interface PingSocketOptions {
  family: 4 | 6;
  /** One echo reply: `message` the ICMP message (type, code, checksum, id, seq, data), `from` its sender (4 or 16 bytes). Views valid during the call. */
  onMessage: (message: Uint8Array, from: Uint8Array) => void;
  /**
   * ICMP errors about our requests (time exceeded, unreachable, fragmentation needed /
   * packet too big): with it the socket has IP_RECVERR (IPV6_RECVERR) on and drains its
   * error queue; without it the kernel keeps them to itself.
   */
  onError?: (error: PingSocketError) => void;
  /** @internal the libc seam (tests) */
  libc?: HostLibc;
}

const open = new Set<PingSocket>();

export class PingSocket {
  readonly family: 4 | 6;
  #fd: number;
  #id = 0;
  readonly #sys: HostLibc;
  #poll: PollHandle | undefined;
  readonly #onMessage: (message: Uint8Array, from: Uint8Array) => void;
  readonly #onError: ((error: PingSocketError) => void) | undefined;
  #errq: MsgBuffers | undefined;
  /** The hop limit last set (IP_TTL / IPV6_UNICAST_HOPS), or -1: the kernel's default. */
  #ttl = -1;
  /** A drain is running (its buffer lent to onMessage): receiveNow() from inside it reads nothing. */
  #receiving = false;
  readonly #buf = new Uint8Array(65536);
  readonly #addr = new Uint8Array(28);
  readonly #addrLen = new Uint32Array(1);
  readonly #sendAddr = new Uint8Array(28);
  readonly #stats: PingSocketStats = { OutEchos: 0, OutErrors: 0, InMsgs: 0, InMsgsNow: 0, InErrors: 0, InIcmpErrors: 0, InOtherErrors: 0 };

  private constructor(family: 4 | 6, fd: number, sys: HostLibc, onMessage: (m: Uint8Array, f: Uint8Array) => void, onError: ((e: PingSocketError) => void) | undefined) {
    this.family = family;
    this.#fd = fd;
    this.#sys = sys;
    this.#onMessage = onMessage;
    this.#onError = onError;
  }

  /** Opens the socket (throws a CodedError with the errno name as `code`: EACCES where ping_group_range forbids it). */
  static open(options: PingSocketOptions): PingSocket {
    checkFamily(options);
    if (typeof options.onMessage !== 'function') throw Object.assign(new TypeError('options.onMessage must be a function'), { code: 'ERR_INVALID_ARG_TYPE' });
    const sys = options.libc ?? hostLibc();
    const six = options.family === 6;
    const fd = sys.socket(six ? AF_INET6 : AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, six ? IPPROTO_ICMPV6 : IPPROTO_ICMP);
    if (fd < 0) {
      const e = sys.errno();
      throw sysError(e, 'socket', `ICMP${six ? 'v6' : ''} echo socket (SOCK_DGRAM, IPPROTO_ICMP${six ? 'V6' : ''})${e === 13 ? ': the group of this process is outside net.ipv4.ping_group_range' : ''}`);
    }
    const s = new PingSocket(options.family, fd, sys, options.onMessage, options.onError);
    if (options.onError !== undefined) {
      enableRecvErr(sys, fd, six);
      s.#errq = sys.msgBuffers(576, 256);
    }
    s.#poll = sys.poll(fd, s.#pollCallback);
    registerOpen(open, s);
    return s;
  }

  /** The echo identifier the kernel writes into every request (its "port"; 0 until the first send). */
  get id(): number {
    return this.#id;
  }

  get closed(): boolean {
    return this.#fd < 0;
  }

  /**
   * Sends one echo request (`message`: type 8 / ICMPv6 128, code 0, at least 8 bytes; the
   * kernel overwrites the identifier and checksum). `dst`: 4 or 16 bytes, or text; `ttl`
   * (1..255): the hop limit of this and later requests (IP_TTL / IPV6_UNICAST_HOPS).
   * Returns undefined when the kernel took it, else the errno name (never throws for
   * what the kernel refuses).
   */
  send(dst: Uint8Array | string, message: Uint8Array, ttl?: number): string | undefined {
    if (this.#fd < 0) return 'EBADF';
    // RFC 1122 §3.2.1.7: the hop limit is the sender's; one setsockopt when it changes.
    const want = ttl === undefined ? -1 : ttl;
    if (want !== this.#ttl && want >= 1 && want <= 255) {
      if (this.#sys.setsockoptInt(this.#fd, this.family === 6 ? SOL_IPV6 : SOL_IP, this.family === 6 ? IPV6_UNICAST_HOPS : IP_TTL, want) < 0) {
        this.#stats.OutErrors++;
        return errnoName(this.#sys.errno());
      }
      this.#ttl = want;
    }
    const d = typeof dst === 'string' ? addressBytes(dst) : dst;
    if (d === undefined || d.length !== (this.family === 6 ? 16 : 4)) return 'EINVAL';
    const a = this.#sendAddr;
    const len = writeSockaddr(a, d, 0);
    const r = this.#sys.sendto(this.#fd, message, message.length, 0, a, len);
    if (r < 0) {
      this.#stats.OutErrors++;
      return errnoName(this.#sys.errno());
    }
    this.#stats.OutEchos++;
    if (this.#id === 0) this.#readId();
    return undefined;
  }

  stats(): PingSocketStats {
    return { ...this.#stats };
  }

  /**
   * Reads the replies the kernel has already queued, now, as the readability watch would
   * on its next turn (until EAGAIN or 64), each to `onMessage`; returns how many. For a
   * caller that has just sent: a destination on a local link has usually answered before
   * sendto() returned. One recvfrom() (EAGAIN) when nothing is there. From inside
   * `onMessage` (a drain running): 0, nothing read (the running drain goes on).
   */
  receiveNow(): number {
    if (this.#fd < 0 || this.#receiving) return 0;
    const n = this.#receive();
    this.#stats.InMsgsNow += n;
    return n;
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
    if (this.#errq !== undefined) this.#sys.freeMsgBuffers(this.#errq);
    this.#errq = undefined;
    open.delete(this);
  }

  /** Reads the error queue (MSG_ERRQUEUE) until EAGAIN or the budget; each ICMP error to onError. */
  #drainErrors(): void {
    drainErrorQueue(this.#sys, this.#fd, this.#errq!, () => this.#fd >= 0, (e) => {
      if (e.origin !== 'icmp') { this.#stats.InOtherErrors++; return; }
      this.#stats.InIcmpErrors++;
      this.#onError!({ type: e.type, code: e.code, info: e.info, errno: e.errno, offender: e.offender, message: e.message });
    }, () => { this.#stats.InOtherErrors++; });
  }

  #readId(): void {
    this.#addrLen[0] = 28;
    if (this.#sys.getsockname(this.#fd, this.#addr, this.#addrLen) === 0) this.#id = (this.#addr[2]! << 8) | this.#addr[3]!;
  }

  #onPoll(status: number): void {
    if (this.#fd < 0) return;
    // libuv stops a poll handle on POLLERR (an ICMP error queued: IP_RECVERR) and reports
    // UV_EBADF: drain what is there (the error queue and the pending socket error, which a
    // recvfrom returns once), then watch again. Only then: an entry in the error queue is
    // what raises POLLERR (datagram_poll: EPOLLERR while sk_error_queue is not empty), so a
    // plain readable turn has nothing there and skips that recvmsg().
    const restart = status < 0;
    if (restart && this.#errq !== undefined) this.#drainErrors();
    this.#receive();
    if (restart && this.#fd >= 0) this.#poll?.start({ readable: true }, this.#pollCallback);
  }

  /** recvfrom() until EAGAIN or the budget, each message to onMessage; returns how many. */
  #receive(): number {
    this.#receiving = true;
    try {
      return this.#receiveAll();
    } finally {
      this.#receiving = false;
    }
  }

  #receiveAll(): number {
    const sys = this.#sys;
    const buf = this.#buf;
    const addr = this.#addr;
    let got = 0;
    for (let i = 0; i < READ_BUDGET && this.#fd >= 0; i++) {
      this.#addrLen[0] = 28;
      const n = sys.recvfrom(this.#fd, buf, buf.length, 0, addr, this.#addrLen);
      if (n < 0) {
        const e = sys.errno();
        if (e === EAGAIN) break;
        if (e === EINTR) continue;
        // An asynchronous error queued on the socket (read once, then cleared): counted.
        this.#stats.InErrors++;
        continue;
      }
      const from = sockaddrAddress(addr);
      this.#stats.InMsgs++;
      got++;
      this.#onMessage(buf.subarray(0, n), from);
    }
    return got;
  }

  readonly #pollCallback = (status: number): void => this.#onPoll(status);
}

/** `net.ipv4.ping_group_range` of this process's network namespace (it also governs IPv6), or undefined when unreadable. */
export function pingGroupRange(sys: HostLibc = hostLibc()): { low: number; high: number } | undefined {
  const t = sys.readText('/proc/sys/net/ipv4/ping_group_range');
  const m = t === undefined ? null : /^\s*(\d+)\s+(\d+)\s*$/.exec(t);
  return m ? { low: Number(m[1]), high: Number(m[2]) } : undefined;
}
