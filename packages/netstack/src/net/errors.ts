/**
 * Errors as node:net makes them. Operational failures carry `code`, a negative
 * `errno` (libuv's numbering on Linux), `syscall` and, for connect/listen,
 * `address` and `port`; the message has node's shape ("connect ECONNREFUSED
 * 10.0.0.2:80", "listen EADDRINUSE: address already in use 0.0.0.0:80").
 * Argument errors are thrown at once with node's `ERR_*` codes.
 */

// The Node errors both facades share (errnoError with libuv's messages, ERR_* helpers)
// are in ../node-errors.ts; node:net adds its own few below.
import { codedError, describeValue, type CodedError, type ErrnoError } from '../node-errors.js';

export { codedError, errnoError, invalidArgType, invalidArgValue, stackClosedError, describeValue as describe } from '../node-errors.js';
export type { ErrnoError } from '../node-errors.js';

/** `write()` after the peer ended and the socket is not half-open (node's writeAfterFIN). */
export function endedByPeerError(): ErrnoError {
  const e = new Error('This socket has been ended by the other party') as ErrnoError;
  e.code = 'EPIPE';
  return e;
}

/** Node's AbortError (`signal` options). */
export function abortError(cause: unknown): CodedError {
  const e = new Error('The operation was aborted', { cause }) as CodedError;
  e.name = 'AbortError';
  e.code = 'ABORT_ERR';
  return e;
}

export function badPort(name: string, port: unknown): CodedError {
  return codedError(RangeError, 'ERR_SOCKET_BAD_PORT', `${name} should be >= 0 and < 65536. Received ${describeValue(port)}.`);
}
