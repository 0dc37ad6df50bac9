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
  /** Restarts the watch (libuv stops it on POLLERR: an error queued on a socket). */
  start(opts: { readable: boolean }, callback: (status: number, events: PollEvents) => void): void;
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
  /** connect(2) with a sockaddr in `addr`. */
  connect(fd: number, addr: Uint8Array, addrLen: number): number;
  /** send(2) on a connected socket. */
  send(fd: number, buf: Uint8Array, len: number, flags: number): number;
  setsockoptInt(fd: number, level: number, name: number, value: number): number;
  /** recvmsg(2) on a `MsgBuffers` block (its msghdr first); returns the data length. */
  recvmsg(fd: number, block: MsgBuffers, flags: number): number;
  /** A native block for recvmsg: msghdr, iovec, name, control and data buffers wired together (LP64 layout). */
  msgBuffers(dataLen: number, controlLen: number): MsgBuffers;
  /** Frees a `msgBuffers` block (its views are dead after). */
  freeMsgBuffers(block: MsgBuffers): void;
  /** A small text file (a sysctl under /proc/sys), or undefined when it cannot be read. */
  readText(path: string): string | undefined;
  errno(): number;
  /** Level-triggered readability watch on the Node event loop (libuv uv_poll). */
  poll(fd: number, callback: (status: number, events: PollEvents) => void): PollHandle;
}

/** Native memory for recvmsg(2), wired once; the views read it after each call. */
export interface MsgBuffers {
  /** The native block (koffi pointer) whose start is the msghdr. */
  readonly ptr: unknown;
  /** The msghdr as bytes (msg_controllen and msg_flags are read back after a call). */
  readonly header: DataView;
  readonly name: Uint8Array;
  readonly control: Uint8Array;
  readonly data: Uint8Array;
  /** Resets msg_namelen and msg_controllen before a call. */
  reset(): void;
  /** msg_controllen after a call. */
  controlLength(): number;
}

// struct msghdr on LP64 (x86-64, arm64): name @0, namelen @8, iov @16, iovlen @24,
// control @32, controllen @40, flags @48; 56 bytes. struct iovec: base @0, len @8.
const MSGHDR = 56;
const IOVEC = 16;
const NAME = 32;

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
  const connect = lib.func('int connect(int fd, const void *addr, uint32_t addrlen)');
  const send = lib.func('long send(int fd, const void *buf, size_t len, int flags)');
  const setsockopt = lib.func('int setsockopt(int fd, int level, int name, const void *value, uint32_t len)');
  const recvmsg = lib.func('long recvmsg(int fd, void *msg, int flags)');
  const intBuf = new Int32Array(1);
  return {
    socket: (domain, type, protocol) => socket(domain, type, protocol) as number,
    close: (fd) => close(fd) as number,
    sendto: (fd, buf, len, flags, addr, addrLen) => sendto(fd, buf, len, flags, addr, addrLen) as number,
    recvfrom: (fd, buf, len, flags, addr, addrLen) => recvfrom(fd, buf, len, flags, addr, addrLen) as number,
    getsockname: (fd, addr, addrLen) => getsockname(fd, addr, addrLen) as number,
    connect: (fd, addr, addrLen) => connect(fd, addr, addrLen) as number,
    send: (fd, buf, len, flags) => send(fd, buf, len, flags) as number,
    setsockoptInt: (fd, level, name, value) => {
      intBuf[0] = value;
      return setsockopt(fd, level, name, intBuf, 4) as number;
    },
    recvmsg: (fd, block, flags) => recvmsg(fd, block.ptr, flags) as number,
    msgBuffers: (dataLen, controlLen) => {
      const total = MSGHDR + IOVEC + NAME + controlLen + dataLen;
      const ptr = koffi.alloc('uint8_t', total);
      const mem = new Uint8Array(koffi.view(ptr, total));
      const base = koffi.address(ptr);
      const header = new DataView(mem.buffer, mem.byteOffset, MSGHDR + IOVEC);
      const at = (off: number): bigint => base + BigInt(off);
      const nameAt = MSGHDR + IOVEC;
      const controlAt = nameAt + NAME;
      const dataAt = controlAt + controlLen;
      header.setBigUint64(MSGHDR, at(dataAt), true); // iov_base
      header.setBigUint64(MSGHDR + 8, BigInt(dataLen), true); // iov_len
      header.setBigUint64(0, at(nameAt), true);
      header.setBigUint64(16, at(MSGHDR), true);
      header.setBigUint64(24, 1n, true);
      header.setBigUint64(32, at(controlAt), true);
      const reset = (): void => {
        header.setUint32(8, NAME, true);
        header.setBigUint64(40, BigInt(controlLen), true);
        header.setInt32(48, 0, true);
      };
      reset();
      return {
        ptr,
        header,
        name: mem.subarray(nameAt, nameAt + NAME),
        control: mem.subarray(controlAt, controlAt + controlLen),
        data: mem.subarray(dataAt, dataAt + dataLen),
        reset,
        controlLength: () => Number(header.getBigUint64(40, true)),
      };
    },
    freeMsgBuffers: (block) => koffi.free(block.ptr),
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
      koffi.node.poll(fd, { readable: true }, callback as unknown as (ev: PollEvents) => void) as unknown as PollHandle,
  };
}
