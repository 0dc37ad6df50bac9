/**
 * Node's errors, made at the edge only: the cores (@netstack/ip, icmp, udp, tcp) report
 * failures as plain codes, and the facades (net/, dgram/, the stack) make of them what
 * Node would throw or emit. Argument errors with Node's `ERR_*` codes and messages
 * (thrown at once), and operational errors with an errno `code`, a negative `errno` (as
 * libuv reports it), `syscall`, and `address`/`port`, shaped as lib/internal/errors.js
 * makes them, with libuv's message where Node puts it.
 */
import { constants } from 'node:os';
import { codedError, type CodedError } from '@netstack/ip';

export { codedError, type CodedError };

/** An operational (system) error. */
export interface ErrnoError extends CodedError {
  errno?: number;
  syscall?: string;
  address?: string;
  port?: number;
  hostname?: string;
}

/** libuv's strings, which node puts in listen/bind errors ("address already in use"). */
const UV_MESSAGE: Readonly<Record<string, string>> = {
  EADDRINUSE: 'address already in use',
  EADDRNOTAVAIL: 'address not available',
  ENOBUFS: 'no buffer space available',
  ENETUNREACH: 'network is unreachable',
  EINVAL: 'invalid argument',
};

/**
 * Node's ExceptionWithHostPort ("connect ECONNREFUSED 10.0.0.2:80"; the port only
 * when non-zero) or, with `withUvMessage`, UVExceptionWithHostPort ("listen
 * EADDRINUSE: address already in use 0.0.0.0:80"). `local` is ExceptionWithHostPort's
 * `additional`: the socket's own address, which node adds to a connect that failed at
 * once ("connect ENETUNREACH 2001:db8::1:80 - Local (:::0)").
 */
export function errnoError(code: string, syscall: string, address?: string, port?: number, withUvMessage = false, local?: string): ErrnoError {
  let where = '';
  if (address !== undefined) where = port !== undefined && port > 0 ? ` ${address}:${port}` : ` ${address}`;
  if (local !== undefined) where += ` - Local (${local})`;
  const uv = withUvMessage && UV_MESSAGE[code] !== undefined ? `: ${UV_MESSAGE[code]}` : '';
  const e = new Error(`${syscall} ${code}${uv}${where}`) as ErrnoError;
  // Node's own property order: errno, code, syscall, address, port.
  const n = (constants.errno as Record<string, number | undefined>)[code];
  e.errno = n === undefined ? 0 : -n;
  e.code = code;
  e.syscall = syscall;
  if (address !== undefined) e.address = address;
  if (port !== undefined && port > 0) e.port = port;
  return e;
}

/** How node describes a received value in ERR_INVALID_ARG_TYPE and friends. */
export function describeValue(v: unknown): string {
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

export function invalidArgType(name: string, expected: string, actual: unknown): CodedError {
  const what = name.includes('.') ? 'property' : 'argument';
  return codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `The "${name}" ${what} must be ${expected}. Received ${describeValue(actual)}`);
}

export function invalidArgValue(name: string, value: unknown, reason: string): CodedError {
  const what = name.includes('.') ? 'property' : 'argument';
  let shown: string;
  try {
    shown = JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  return codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `The ${what} '${name}' ${reason}. Received ${shown}`);
}

export function outOfRange(name: string, range: string, actual: unknown): CodedError {
  return codedError(RangeError, 'ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be ${range}. Received ${String(actual)}`);
}

/**
 * A call on a stack that was closed (`stack.close()`): code ERR_STACK_CLOSED, with the
 * `syscall` (and `address`/`port`) it stands for, delivered where the call's operational
 * errors go ('error' event, callback, rejection). A dedicated code, not an errno: nothing
 * was tried on the network, and a caller can tell "my own stack is gone" from a network
 * failure (see the facade's README, "Closing a stack").
 */
export function stackClosedError(syscall: string, address?: string, port?: number): ErrnoError {
  let where = '';
  if (address !== undefined) where = port !== undefined && port > 0 ? ` ${address}:${port}` : ` ${address}`;
  const e = new Error(`${syscall} ERR_STACK_CLOSED${where}: the stack is closed`) as ErrnoError;
  e.code = 'ERR_STACK_CLOSED';
  e.syscall = syscall;
  if (address !== undefined) e.address = address;
  if (port !== undefined && port > 0) e.port = port;
  return e;
}
