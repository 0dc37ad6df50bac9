/**
 * node:dgram's own errors, as lib/internal/errors.js makes them: argument errors
 * (`ERR_*`, thrown at once) and system errors (`code`, negative `errno` as libuv
 * reports it, `syscall`, and `address`/`port` where Node adds them). The errors both
 * facades share are in ../node-errors.ts.
 */
import { describeValue, invalidArgType, type CodedError, type ErrnoError } from '../node-errors.js';

export { errnoError as errnoException, stackClosedError } from '../node-errors.js';
export { invalidArgType };
export type { ErrnoError };
type NodeStyleError = CodedError;

/** Node's dns.lookup failure: "getaddrinfo ENOTFOUND host". */
export function lookupError(hostname: string): ErrnoError {
  const err = new Error(`getaddrinfo ENOTFOUND ${hostname}`) as ErrnoError;
  err.code = 'ENOTFOUND';
  err.errno = -3008; // EAI_NONAME as libuv reports it
  err.syscall = 'getaddrinfo';
  err.hostname = hostname;
  return err;
}

function withCode<E extends Error>(err: E, code: string): E & NodeStyleError {
  return Object.assign(err, { code });
}

export function badPort(name: string, port: unknown, allowZero: boolean): NodeStyleError {
  return withCode(new RangeError(`${name} should be ${allowZero ? '>=' : '>'} 0 and < 65536. Received ${describeValue(port)}.`), 'ERR_SOCKET_BAD_PORT');
}

/** Node's ERR_MISSING_ARGS for one argument. */
export const missingArgs = (name: string): NodeStyleError => withCode(new TypeError(`The "${name}" argument must be specified`), 'ERR_MISSING_ARGS');
export const notRunning = (): NodeStyleError => withCode(new Error('Not running'), 'ERR_SOCKET_DGRAM_NOT_RUNNING');
export const alreadyBound = (): NodeStyleError => withCode(new Error('Socket is already bound'), 'ERR_SOCKET_ALREADY_BOUND');
export const isConnected = (): NodeStyleError => withCode(new Error('Already connected'), 'ERR_SOCKET_DGRAM_IS_CONNECTED');
export const notConnected = (): NodeStyleError => withCode(new Error('Not connected'), 'ERR_SOCKET_DGRAM_NOT_CONNECTED');
export const badType = (): NodeStyleError => withCode(new TypeError('Bad socket type specified. Valid types are: udp4, udp6'), 'ERR_SOCKET_BAD_TYPE');
export const badBufferSize = (): NodeStyleError => withCode(new TypeError('Buffer size must be a positive integer'), 'ERR_SOCKET_BAD_BUFFER_SIZE');
export const bufferOutOfBounds = (name: string): NodeStyleError =>
  withCode(new RangeError(`"${name}" is outside of buffer bounds`), 'ERR_BUFFER_OUT_OF_BOUNDS');
/** Node's ERR_SOCKET_BUFFER_SIZE (a SystemError) for a socket with no descriptor yet. */
export function bufferSizeError(which: 'recv' | 'send'): NodeStyleError {
  const err = withCode(new Error(`Could not get or set buffer size: uv_${which}_buffer_size returned EBADF (bad file descriptor)`), 'ERR_SOCKET_BUFFER_SIZE');
  err.name = 'SystemError';
  Object.assign(err, { errno: -9, syscall: `uv_${which}_buffer_size` });
  return err;
}

/** Node's validatePort: numbers or numeric strings in [0, 65535] (0 only when allowed). */
export function validatePort(port: unknown, name: string, allowZero: boolean): number {
  if (
    (typeof port !== 'number' && typeof port !== 'string') ||
    (typeof port === 'string' && port.trim().length === 0) ||
    +port !== +port >>> 0 ||
    +port > 0xffff ||
    (port === 0 && !allowZero)
  ) {
    throw badPort(name, port, allowZero);
  }
  return +port | 0;
}

export function validateString(value: unknown, name: string): asserts value is string {
  if (typeof value !== 'string') throw invalidArgType(name, 'of type string', value);
}
