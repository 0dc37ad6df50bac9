/**
 * @internal What the ping and UDP sockets share: errno names and coded errors, socket
 * addresses, the error queue (IP_RECVERR / IPV6_RECVERR) and the open-socket registry that
 * closes every fd at process exit.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { HostLibc, MsgBuffers } from './libc.js';

export interface CodedError extends Error {
  code: string;
  errno?: number;
  syscall?: string;
}

export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const EAGAIN = 11;
export const EINTR = 4;
export const SOL_IP = 0;
export const IP_TTL = 2;
export const IP_RECVERR = 11;
export const SOL_IPV6 = 41;
export const IPV6_UNICAST_HOPS = 16;
export const IPV6_RECVERR = 25;
const MSG_ERRQUEUE = 0x2000;
/** sock_extended_err.ee_origin (linux/errqueue.h). */
const SO_EE_ORIGIN_LOCAL = 1;
const SO_EE_ORIGIN_ICMP = 2;
const SO_EE_ORIGIN_ICMP6 = 3;
/** Messages (or error queue entries) read per readability callback; the rest on the next turn. */
export const READ_BUDGET = 64;

/** Linux errno names the sockets report (x86-64 / arm64 generic values). */
const ERRNO: Record<number, string> = {
  1: 'EPERM', 4: 'EINTR', 9: 'EBADF', 11: 'EAGAIN', 12: 'ENOMEM', 13: 'EACCES', 22: 'EINVAL', 24: 'EMFILE',
  23: 'ENFILE', 90: 'EMSGSIZE', 93: 'EPROTONOSUPPORT', 94: 'ESOCKTNOSUPPORT', 97: 'EAFNOSUPPORT',
  99: 'EADDRNOTAVAIL', 71: 'EPROTO', 101: 'ENETUNREACH', 92: 'ENOPROTOOPT', 110: 'ETIMEDOUT', 105: 'ENOBUFS', 111: 'ECONNREFUSED', 113: 'EHOSTUNREACH',
};

export function errnoName(errno: number): string {
  return ERRNO[errno] ?? `E${errno}`;
}

/** An Error with the errno name as `code`. */
export function sysError(errno: number, syscall: string, message: string): CodedError {
  const code = errnoName(errno);
  return Object.assign(new Error(`${syscall} failed: ${code}: ${message}`), { code, errno, syscall });
}

/** Checks `options.family` (4 or 6) as both sockets' `open` do; throws ERR_INVALID_ARG_VALUE. */
export function checkFamily(options: unknown): void {
  const f = options === null || typeof options !== 'object' ? undefined : (options as { family?: unknown }).family;
  if (f !== 4 && f !== 6) throw Object.assign(new TypeError('options.family must be 4 or 6'), { code: 'ERR_INVALID_ARG_VALUE' });
}

/** Turns IP_RECVERR (IPV6_RECVERR) on for `fd`; on failure closes it and throws. */
export function enableRecvErr(sys: HostLibc, fd: number, six: boolean): void {
  if (sys.setsockoptInt(fd, six ? SOL_IPV6 : SOL_IP, six ? IPV6_RECVERR : IP_RECVERR, 1) < 0) {
    const e = sys.errno();
    sys.close(fd);
    throw sysError(e, 'setsockopt', six ? 'IPV6_RECVERR' : 'IP_RECVERR');
  }
}

/**
 * Writes a struct sockaddr_in (16 bytes) or sockaddr_in6 (28) for `addr` (4 or 16 bytes)
 * and `port` into `out` (28 bytes, zeroed first); returns its length. sa_family in host
 * order (little-endian on every Linux port we run), the port in network order.
 */
export function writeSockaddr(out: Uint8Array, addr: Uint8Array, port: number): number {
  out.fill(0);
  const six = addr.length === 16;
  const af = six ? AF_INET6 : AF_INET;
  out[0] = af & 0xff; out[1] = af >> 8;
  out[2] = port >> 8; out[3] = port & 0xff;
  out.set(addr, six ? 8 : 4);
  return six ? 28 : 16;
}

/** The address in a sockaddr_in / sockaddr_in6 (a view into `sa`). */
export function sockaddrAddress(sa: Uint8Array): Uint8Array {
  const family = sa[0]! | (sa[1]! << 8);
  return family === AF_INET6 ? sa.subarray(8, 24) : sa.subarray(4, 8);
}

/** One error queue entry (struct sock_extended_err and the offender). Views valid during the call. */
export interface QueuedError {
  origin: 'icmp' | 'local';
  /** ICMP (ICMPv6 on an IPv6 socket) type and code as sent; 0 for a local error. */
  type: number;
  code: number;
  /** The MTU of a fragmentation needed / packet too big, or of a local EMSGSIZE. */
  info: number;
  /** The kernel's conversion of the error to an errno. */
  errno: string;
  /** Who sent the ICMP error (4 or 16 bytes); empty for a local error. */
  offender: Uint8Array;
  /** The start of the payload of the datagram it is about. */
  message: Uint8Array;
}

/**
 * Reads `fd`'s error queue (recvmsg MSG_ERRQUEUE; RFC 1122 §4.1.3.3: ICMP errors reach the
 * application) until EAGAIN, the budget, or `isOpen()` false (a callback closed the
 * socket): each entry parsed to `onEntry`, or counted by `onUnparsed` when its control
 * message is missing or not an ICMP/local error. Returns how many entries were read.
 */
export function drainErrorQueue(
  sys: HostLibc, fd: number, q: MsgBuffers, isOpen: () => boolean,
  onEntry: (e: QueuedError) => void, onUnparsed: () => void,
): number {
  let read = 0;
  for (let i = 0; i < READ_BUDGET && isOpen(); i++) {
    q.reset();
    const n = sys.recvmsg(fd, q, MSG_ERRQUEUE);
    if (n < 0) {
      if (sys.errno() === EINTR) continue;
      break; // EAGAIN: the queue is empty
    }
    read++;
    const at = findRecvErr(q.control, q.controlLength());
    // struct sock_extended_err: errno u32, origin u8, type u8, code u8, pad u8, info u32, data u32; then the offender's sockaddr.
    if (at < 0 || at + 16 + 8 > q.control.length) { onUnparsed(); continue; }
    const c = q.control;
    const v = new DataView(c.buffer, c.byteOffset + at, c.length - at);
    const origin = c[at + 4]!;
    const message = q.data.subarray(0, Math.min(n, q.data.length));
    const info = v.getUint32(8, true);
    const errno = errnoName(v.getUint32(0, true));
    if (origin === SO_EE_ORIGIN_LOCAL) {
      onEntry({ origin: 'local', type: 0, code: 0, info, errno, offender: c.subarray(0, 0), message });
    } else if (origin === SO_EE_ORIGIN_ICMP || origin === SO_EE_ORIGIN_ICMP6) {
      const offender = v.getUint16(16, true) === AF_INET6 ? c.subarray(at + 24, at + 40) : c.subarray(at + 20, at + 24);
      onEntry({ origin: 'icmp', type: c[at + 5]!, code: c[at + 6]!, info, errno, offender, message });
    } else {
      onUnparsed();
    }
  }
  return read;
}

/** The cmsg IP_RECVERR / IPV6_RECVERR in `control` (LP64 cmsghdr: len @0, level @8, type @12, data @16), or -1. */
export function findRecvErr(control: Uint8Array, length: number): number {
  const v = new DataView(control.buffer, control.byteOffset, control.length);
  for (let off = 0; off + 16 <= length;) {
    const len = Number(v.getBigUint64(off, true));
    if (len < 16 || off + len > length) return -1;
    const level = v.getInt32(off + 8, true);
    const type = v.getInt32(off + 12, true);
    if ((level === SOL_IP && type === IP_RECVERR) || (level === SOL_IPV6 && type === IPV6_RECVERR)) return off + 16;
    off += (len + 7) & ~7;
  }
  return -1;
}

/**
 * Sockets whose fd is open, closed at process exit: a poll handle must not call into
 * JavaScript during teardown (as @netstack/tun's device).
 */
export function registerOpen<T extends { close(): void }>(set: Set<T>, s: T): void {
  set.add(s);
  if (!exitHooked.has(set)) {
    exitHooked.add(set);
    process.on('exit', () => { for (const x of [...set]) x.close(); });
  }
}
const exitHooked = new WeakSet<Set<unknown>>();

/** A dotted quad -> 4 bytes, IPv6 text (RFC 4291 §2.2, an embedded dotted quad allowed; no zone) -> 16 bytes; else undefined. */
export function addressBytes(text: string): Uint8Array | undefined {
  if (isIPv4(text)) return Uint8Array.from(text.split('.').map(Number));
  if (!isIPv6(text) || text.includes('%')) return undefined;
  let t = text;
  const last = t.lastIndexOf(':');
  if (t.slice(last + 1).includes('.')) {
    // An embedded dotted quad (::ffff:1.2.3.4): as its two 16-bit groups.
    const q = t.slice(last + 1).split('.').map(Number);
    t = `${t.slice(0, last + 1)}${((q[0]! << 8) | q[1]!).toString(16)}:${((q[2]! << 8) | q[3]!).toString(16)}`;
  }
  const halves = t.split('::');
  const part = (x: string | undefined): number[] => (x === undefined || x === '' ? [] : x.split(':').map((g) => parseInt(g, 16)));
  const h = part(halves[0]);
  const r = part(halves[1]);
  const groups = halves.length === 2 ? [...h, ...new Array<number>(Math.max(0, 8 - h.length - r.length)).fill(0), ...r] : h;
  if (groups.length !== 8) return undefined;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => { out[2 * i] = g >> 8; out[2 * i + 1] = g & 0xff; });
  return out;
}
