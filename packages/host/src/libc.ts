/**
 * The few libc calls the host sockets need, bound through koffi (the only module of this
 * package that touches koffi; the same seam as @netstack/tun's libc.ts). Loaded lazily on
 * first use, so importing the package costs nothing. Every call returns the raw C result;
 * on -1 the caller reads `errno()` at once, before any other koffi call can overwrite it.
 */
import { readFileSync } from 'node:fs';
import koffi from 'koffi';

export interface PollEvents {
  readable: boolean;
  writable: boolean;
  disconnect: boolean;
}

export interface PollHandle {
  stop(): void;
  close(): void;
  ref(): void;
  unref(): void;
}

export interface HostLibc {
  socket(domain: number, type: number, protocol: number): number;
  close(fd: number): number;
  /** sendto(2) with a sockaddr in `addr`. */
  sendto(fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array, addrLen: number): number;
  /** recvfrom(2): the sender's sockaddr into `addr`, its length into `addrLen[0]` (in: the room). */
  recvfrom(fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array, addrLen: Uint32Array): number;
  getsockname(fd: number, addr: Uint8Array, addrLen: Uint32Array): number;
  setsockoptInt(fd: number, level: number, name: number, value: number): number;
  /** A small text file (a sysctl under /proc/sys), or undefined when it cannot be read. */
  readText(path: string): string | undefined;
  errno(): number;
  /** Level-triggered readability watch on the Node event loop (libuv uv_poll). */
  poll(fd: number, callback: (status: number, events: PollEvents) => void): PollHandle;
}

let cached: HostLibc | undefined;

export function hostLibc(): HostLibc {
  cached ??= load();
  return cached;
}

function load(): HostLibc {
  const lib = koffi.load('libc.so.6');
  const socket = lib.func('int socket(int domain, int type, int protocol)');
  const close = lib.func('int close(int fd)');
  const sendto = lib.func('long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)');
  const recvfrom = lib.func('long recvfrom(int fd, _Out_ void *buf, size_t len, int flags, _Out_ void *addr, _Inout_ uint32_t *addrlen)');
  const getsockname = lib.func('int getsockname(int fd, _Out_ void *addr, _Inout_ uint32_t *addrlen)');
  const setsockopt = lib.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)');
  const intBuf = new Int32Array(1);
  return {
    socket: (domain, type, protocol) => socket(domain, type, protocol) as number,
    close: (fd) => close(fd) as number,
    sendto: (fd, buf, len, flags, addr, addrLen) => sendto(fd, buf, len, flags, addr, addrLen) as number,
    recvfrom: (fd, buf, len, flags, addr, addrLen) => recvfrom(fd, buf, len, flags, addr, addrLen) as number,
    getsockname: (fd, addr, addrLen) => getsockname(fd, addr, addrLen) as number,
    setsockoptInt: (fd, level, name, value) => {
      intBuf[0] = value;
      return setsockopt(fd, level, name, intBuf, 4) as number;
    },
    readText: (path) => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    errno: () => koffi.errno(),
    // koffi's typings declare the callback as (events); the native side calls (status, events).
    poll: (fd, callback) =>
      koffi.node.poll(fd, { readable: true }, callback as unknown as (ev: PollEvents) => void) as PollHandle,
  };
}
