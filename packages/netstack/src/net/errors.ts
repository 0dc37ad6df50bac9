/**
 * Errors as node:net makes them. Operational failures carry `code`, a negative
 * `errno` (libuv's numbering on Linux), `syscall` and, for connect/listen,
 * `address` and `port`; the message has node's shape ("connect ECONNREFUSED
 * 10.0.0.2:80", "listen EADDRINUSE: address already in use 0.0.0.0:80").
 * Argument errors are thrown at once with node's `ERR_*` codes.
 */

/** errno values as node reports them on Linux (`-errno`). */
const ERRNO: Readonly<Record<string, number>> = {
  EPIPE: -32,
  EADDRINUSE: -98,
  EADDRNOTAVAIL: -99,
  ENETUNREACH: -101,
  ECONNABORTED: -103,
  ECONNRESET: -104,
  ENOBUFS: -105,
  ETIMEDOUT: -110,
  ECONNREFUSED: -111,
  EHOSTUNREACH: -113,
};

/** libuv's strings, used by node in listen errors ("address already in use"). */
const UV_MESSAGE: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  ENOBUFS: 'no buffer space available',
  ENETUNREACH: 'network is unreachable',
};

/** An operational error: `code`, `errno`, `syscall`, and `address`/`port` when known. */
export interface ErrnoError extends Error {
  code: string;
  errno?: number;
  syscall?: string;
  address?: string;
  port?: number;
}

/**
 * Builds an error like node's `ExceptionWithHostPort` (connect) or
 * `UVExceptionWithHostPort` (listen, `withUvMessage`).
 */
export function errnoError(code: string, syscall: string, address?: string, port?: number, withUvMessage = false): ErrnoError {
  let where = '';
  if (address !== undefined) where = port !== undefined && port > 0 ? ` ${address}:${port}` : ` ${address}`;
  const uv = withUvMessage && UV_MESSAGE[code] !== undefined ? `: ${UV_MESSAGE[code]}` : '';
  const e = new Error(`${syscall} ${code}${uv}${where}`) as ErrnoError;
  // Node's own property order: errno, code, syscall, address, port.
  const errno = ERRNO[code];
  if (errno !== undefined) e.errno = errno;
  e.code = code;
  e.syscall = syscall;
  if (address !== undefined) e.address = address;
  if (port !== undefined && port > 0) e.port = port;
  return e;
}

/** `write()` after the peer ended and the socket is not half-open (node's writeAfterFIN). */
export function endedByPeerError(): ErrnoError {
  const e = new Error('This socket has been ended by the other party') as ErrnoError;
  e.code = 'EPIPE';
  return e;
}

/** An error with a node `ERR_*` code, of the given class (TypeError, RangeError...). */
export function codedError(Ctor: ErrorConstructor | TypeErrorConstructor | RangeErrorConstructor, code: string, message: string): Error & { code: string } {
  const e = new Ctor(message) as Error & { code: string };
  e.code = code;
  return e;
}

/** Node's AbortError (`signal` options). */
export function abortError(cause: unknown): Error & { code: string } {
  const e = new Error('The operation was aborted', { cause }) as Error & { code: string };
  e.name = 'AbortError';
  e.code = 'ABORT_ERR';
  return e;
}

/** How node describes a received value in ERR_INVALID_ARG_TYPE and friends. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'function') return `function ${(v as { name?: string }).name ?? ''}`;
  if (typeof v === 'object') {
    const ctor = (v as { constructor?: { name?: string } }).constructor?.name;
    return ctor ? `an instance of ${ctor}` : 'an object';
  }
  let shown = typeof v === 'string' ? `'${v.length > 25 ? `${v.slice(0, 25)}...` : v}'` : String(v);
  if (typeof v === 'bigint') shown += 'n';
  return `type ${typeof v} (${shown})`;
}

export function invalidArgType(name: string, expected: string, actual: unknown): Error & { code: string } {
  const what = name.includes('.') ? 'property' : 'argument';
  return codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "${name}" ${what} must be ${expected}. Received ${describe(actual)}`);
}

export function invalidArgValue(name: string, value: unknown, reason: string): Error & { code: string } {
  const what = name.includes('.') ? 'property' : 'argument';
  let shown: string;
  try { shown = JSON.stringify(value) ?? String(value); } catch { shown = String(value); }
  return codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `The ${what} '${name}' ${reason}. Received ${shown}`);
}

export function badPort(name: string, port: unknown): Error & { code: string } {
  return codedError(RangeError, 'ERR_SOCKET_BAD_PORT', `${name} should be >= 0 and < 65536. Received ${describe(port)}.`);
}
