/**
 * The device's wait for readability as Node's own libuv stream: a `Pipe` handle
 * (`process.binding('pipe_wrap')`, uv_pipe_open) on a duplicate of the tun fd, reading
 * into the device's one receive buffer (`useUserBuffer`, what node:net's `onread` option
 * uses). Why not `koffi.node.poll`: its callback builds an `{ readable, writable,
 * disconnect }` object per wake-up through napi_set_named_property (three string
 * internalisations and map transitions), the largest single cost of a small round trip
 * through the gateway (~12 % of its user time, perf), and the device then needs a read
 * that returns EAGAIN to know the queue is empty. libuv's stream read loop (uv__read)
 * stops at a short read, and every read of a tun is one packet, shorter than the buffer:
 * one packet per wake-up, no EAGAIN read, and the level-triggered epoll registration
 * brings the loop back while packets remain. Measured (a pipe kept readable, one wake-up
 * per 64-byte write): ~0.8 µs less user time and ~0.3 µs less system time per wake-up.
 *
 * `pipe_wrap` and `stream_wrap` are in Node's process.binding allow list (20, 22, 24);
 * process.binding is deprecated in documentation only (DEP0111: a warning only with
 * --pending-deprecation). Anything missing or shaped otherwise (another runtime, a
 * permission model that refuses process.binding): `openReadStream` returns undefined and
 * the device polls through koffi as before.
 */

/** The libuv stream handle's methods this module uses (node's PipeWrap: LibuvStreamWrap, HandleWrap). */
interface PipeHandle {
  open(fd: number): number;
  useUserBuffer(buffer: Uint8Array): void;
  readStart(): number;
  readStop(): number;
  close(callback?: () => void): void;
  ref(): void;
  unref(): void;
  /** Node CHECKs that it is a function (null would abort the process). */
  onread: (arrayBuffer?: ArrayBuffer) => void;
}

interface UvBinding {
  Pipe: new (type: number) => PipeHandle;
  socketType: number;
  /** streamBaseState: [kReadBytesOrError] is the read's byte count or a negative errno (libuv's) when onread runs. */
  state: Int32Array;
  kReadBytesOrError: number;
}

/** A started stream read; the same controls as a koffi PollHandle. */
export interface ReadStream {
  /** Stops reading (after an error); close() still needed. */
  stop(): void;
  /** Stops reading and closes the duplicate fd (synchronously: libuv closes a stream's fd in uv_close). */
  close(): void;
  ref(): void;
  unref(): void;
}

/** libuv's UV_EOF (a read of 0 bytes): a tun never returns it while the device exists. */
export const UV_EOF = -4095;

let cached: UvBinding | null | undefined;

/** Whether Node's stream binding is usable here (checked once). */
export function readStreamAvailable(): boolean {
  return binding() !== null;
}

function binding(): UvBinding | null {
  if (cached !== undefined) return cached;
  cached = null;
  try {
    const b = (process as unknown as { binding?: (name: string) => unknown }).binding;
    if (typeof b !== 'function') return null;
    const pipe = b.call(process, 'pipe_wrap') as { Pipe?: unknown; constants?: { SOCKET?: unknown } };
    const stream = b.call(process, 'stream_wrap') as { streamBaseState?: unknown; kReadBytesOrError?: unknown };
    if (typeof pipe.Pipe !== 'function' || typeof pipe.constants?.SOCKET !== 'number') return null;
    if (!(stream.streamBaseState instanceof Int32Array) || typeof stream.kReadBytesOrError !== 'number') return null;
    const proto = (pipe.Pipe as { prototype: Record<string, unknown> }).prototype;
    for (const m of ['open', 'useUserBuffer', 'readStart', 'readStop', 'close', 'ref', 'unref']) {
      if (typeof proto[m] !== 'function') return null;
    }
    cached = {
      Pipe: pipe.Pipe as UvBinding['Pipe'],
      socketType: pipe.constants.SOCKET,
      state: stream.streamBaseState,
      kReadBytesOrError: stream.kReadBytesOrError,
    };
  } catch {
    cached = null;
  }
  return cached;
}

/**
 * Starts reading `fd` (which the stream then owns and closes) into `buffer`, calling
 * `onRead(n)` per read: n > 0 bytes at buffer[0..n), 0 for nothing (a spurious wake-up),
 * a negative libuv error (-errno, or UV_EOF) after which libuv has stopped reading.
 * Undefined when Node's stream binding is not usable; `fd` is closed then too (by the
 * handle, or by `closeFd` when the handle never took it).
 */
export function openReadStream(fd: number, buffer: Uint8Array, onRead: (n: number) => void, closeFd: (fd: number) => void): ReadStream | undefined {
  const b = binding();
  if (b === null) {
    closeFd(fd);
    return undefined;
  }
  let handle: PipeHandle;
  try {
    handle = new b.Pipe(b.socketType);
  } catch {
    closeFd(fd);
    return undefined;
  }
  if (handle.open(fd) !== 0) {
    // Not opened: the handle does not own the fd.
    handle.close();
    closeFd(fd);
    return undefined;
  }
  const state = b.state;
  const k = b.kReadBytesOrError;
  handle.useUserBuffer(buffer);
  handle.onread = () => onRead(state[k]!);
  if (handle.readStart() !== 0) {
    handle.close(); // closes fd
    return undefined;
  }
  let closed = false;
  return {
    stop: () => {
      if (!closed) handle.readStop();
    },
    close: () => {
      if (closed) return;
      closed = true;
      handle.close();
    },
    ref: () => {
      if (!closed) handle.ref();
    },
    unref: () => {
      if (!closed) handle.unref();
    },
  };
}
