/**
 * The few libc calls the tun device needs, bound through koffi (the only module that
 * touches koffi). Loaded lazily on first use, so importing the package costs nothing and
 * argument validation runs before libc is even loaded.
 *
 * Every call returns the raw C result; on -1 the caller reads `errno()` immediately, before
 * any other koffi call can overwrite it.
 *
 * ioctl is variadic in C; koffi wants one prototype per argument form, so there are two:
 * `ioctlPtr` (the argument is a pointer to a buffer, e.g. TUNSETIFF, SIOCSIFADDR) and
 * `ioctlInt` (the argument is a value, e.g. TUNSETPERSIST).
 *
 * `readStream` is the device's wait for readability when Node's own libuv stream can do it
 * (uv-stream.ts: no koffi poll object per wake-up, no EAGAIN read); it reads a duplicate
 * of the fd (fcntl F_DUPFD_CLOEXEC), which it closes. `NETSTACK_TUN_WAIT=poll` in the
 * environment turns it off (koffi poll, as before: for comparisons).
 *
 * `send`/`recv` talk rtnetlink (netlink.ts). `setns` moves the calling thread into another
 * network namespace and back (netns.ts). `readText` is not libc but belongs to the same
 * seam: the one kind of file the device reads (a /proc/sys/net sysctl), so tests script it;
 * so is `abort`, the one way out when the thread cannot return to its own namespace.
 */
import { readFileSync, writeSync } from 'node:fs';
import koffi from 'koffi';
import { openReadStream, readStreamAvailable, type ReadStream } from './uv-stream.js';

export type { ReadStream } from './uv-stream.js';

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

export interface Libc {
  open(path: string, flags: number): number;
  close(fd: number): number;
  read(fd: number, buf: Uint8Array, len: number): number;
  write(fd: number, buf: Uint8Array, len: number): number;
  ioctlPtr(fd: number, request: number, arg: Uint8Array): number;
  ioctlInt(fd: number, request: number, arg: number): number;
  socket(domain: number, type: number, protocol: number): number;
  send(fd: number, buf: Uint8Array, len: number, flags: number): number;
  recv(fd: number, buf: Uint8Array, len: number, flags: number): number;
  /** setns(2): reassociates the calling thread with the namespace `fd` refers to. */
  setns(fd: number, nstype: number): number;
  /** A small text file (a sysctl under /proc/sys), or undefined when it cannot be read. */
  readText(path: string): string | undefined;
  errno(): number;
  /** Writes `message` to stderr synchronously and aborts the process (never returns). */
  abort(message: string): never;
  /** Level-triggered readability watch on the Node event loop (libuv uv_poll). */
  poll(fd: number, callback: (status: number, events: PollEvents) => void): PollHandle;
  /**
   * Reads `fd` through a libuv stream into `buffer`, `onRead(n)` per read (one packet;
   * n <= 0: nothing, or a negative errno / UV_EOF after which reading has stopped).
   * Optional (the tests' scripted libc may leave it out); undefined when not usable: the
   * device then polls.
   */
  readStream?(fd: number, buffer: Uint8Array, onRead: (n: number) => void): ReadStream | undefined;
  /** setsockopt(2) with an int value (udp-gso.ts: UDP_SEGMENT). Optional: the tests' scripted libc has none. */
  setsockoptInt?(fd: number, level: number, name: number, value: number): number;
  /**
   * writev(2) of up to three pieces, in order (`c` may be undefined): one packet given in
   * parts (tun-device.ts `sendOffloadGather`: the headers, then a send buffer's bytes in
   * place). Optional: a libc without it has the device copy instead.
   */
  writeGather?: ((fd: number, a: Uint8Array, b: Uint8Array, c: Uint8Array | undefined) => number) | undefined;
}

/** fcntl(2): duplicate to the lowest free fd >= arg, with FD_CLOEXEC. */
const F_DUPFD_CLOEXEC = 1030;

let cached: Libc | undefined;

export function libc(): Libc {
  cached ??= load();
  return cached;
}

function load(): Libc {
  const lib = koffi.load('libc.so.6');
  const open = lib.func('int open(const char *path, int flags, ...)');
  const close = lib.func('int close(int fd)');
  const read = lib.func('long read(int fd, _Out_ void *buf, size_t count)');
  const write = lib.func('long write(int fd, const void *buf, size_t count)');
  const ioctlPtr = lib.func('int ioctl(int fd, unsigned long request, _Inout_ void *arg)');
  const ioctlInt = lib.func('int ioctl(int fd, unsigned long request, int arg)');
  const socket = lib.func('int socket(int domain, int type, int protocol)');
  const send = lib.func('long send(int fd, const void *buf, size_t len, int flags)');
  const recv = lib.func('long recv(int fd, _Out_ void *buf, size_t len, int flags)');
  const setns = lib.func('int setns(int fd, int nstype)');
  const setsockopt = lib.func('int setsockopt(int fd, int level, int name, const void *val, unsigned int len)');
  // Variadic in C; the third argument is an int for F_DUPFD_CLOEXEC (as ioctlInt).
  const fcntlInt = lib.func('int fcntl(int fd, int cmd, int arg)');
  const intArg = Buffer.alloc(4);
  const writev = lib.func('long writev(int fd, const void *iov, int iovcnt)');
  // The address of a buffer's bytes, for the iovec (struct iovec { void *base; size_t len; }):
  // memmove(p, p, 0) returns p. koffi passes a typed array's own memory for a pointer
  // argument (no copy), but marshalling an array of iovec structs with typed arrays inside
  // cost ~4 us a call (measured), as much as copying the 64 KB it avoids; a raw iovec built
  // here costs what write() does. An ArrayBuffer's memory never moves while the object lives
  // (V8 keeps backing stores in place; reading .buffer moves a small on-heap array out first,
  // once), so its address is cached per ArrayBuffer. A detached (emptied) buffer is never
  // written from: its pieces' lengths are 0 and the call is refused before the iovec is built.
  const addressOf = lib.func('intptr_t memmove(void *dst, const void *src, size_t n)');
  const addresses = new WeakMap<ArrayBufferLike, number>();
  const iov = new Uint8Array(48);
  const iovView = new DataView(iov.buffer);
  const setIov = (i: number, buf: Uint8Array): void => {
    const ab = buf.buffer;
    let base = addresses.get(ab);
    if (base === undefined) {
      const whole = new Uint8Array(ab, 0, 1);
      base = addressOf(whole, whole, 0) as number;
      addresses.set(ab, base);
    }
    const a = base + buf.byteOffset;
    iovView.setUint32(i * 16, a % 0x1_0000_0000, true);
    iovView.setUint32(i * 16 + 4, Math.floor(a / 0x1_0000_0000), true);
    iovView.setUint32(i * 16 + 8, buf.byteLength, true);
    iovView.setUint32(i * 16 + 12, 0, true);
  };
  return {
    open: (path, flags) => open(path, flags) as number,
    close: (fd) => close(fd) as number,
    read: (fd, buf, len) => read(fd, buf, len) as number,
    write: (fd, buf, len) => write(fd, buf, len) as number,
    ioctlPtr: (fd, request, arg) => ioctlPtr(fd, request, arg) as number,
    ioctlInt: (fd, request, arg) => ioctlInt(fd, request, arg) as number,
    socket: (domain, type, protocol) => socket(domain, type, protocol) as number,
    send: (fd, buf, len, flags) => send(fd, buf, len, flags) as number,
    recv: (fd, buf, len, flags) => recv(fd, buf, len, flags) as number,
    setns: (fd, nstype) => setns(fd, nstype) as number,
    setsockoptInt: (fd, level, name, value) => {
      intArg.writeInt32LE(value);
      return setsockopt(fd, level, name, intArg, 4) as number;
    },
    readStream: (fd, buffer, onRead) => {
      if (process.env.NETSTACK_TUN_WAIT === 'poll' || !readStreamAvailable()) return undefined;
      const dup = fcntlInt(fd, F_DUPFD_CLOEXEC, 3) as number;
      if (dup < 0) return undefined;
      return openReadStream(dup, buffer, onRead, (f) => close(f));
    },
    writeGather: (fd, a, b, c) => {
      if (a.byteLength === 0 || b.byteLength === 0 || (c !== undefined && c.byteLength === 0)) return -1;
      setIov(0, a);
      setIov(1, b);
      if (c !== undefined) setIov(2, c);
      return writev(fd, iov, c === undefined ? 2 : 3) as number;
    },
    readText: (path) => {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    errno: () => koffi.errno(),
    abort: (message) => {
      try {
        writeSync(2, `${message}\n`);
      } finally {
        process.abort();
      }
    },
    // koffi's typings declare the callback as (events); the native side calls (status, events).
    poll: (fd, callback) =>
      koffi.node.poll(fd, { readable: true }, callback as unknown as (ev: PollEvents) => void) as PollHandle,
  };
}
