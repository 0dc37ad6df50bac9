/**
 * Errors with a stable Node-style `code`.
 *
 * - Argument errors (`ERR_INVALID_ARG_VALUE`, `ERR_INVALID_ARG_TYPE`, `ERR_OUT_OF_RANGE`) are
 *   thrown at once, before any system call.
 * - System errors carry the errno name as `code` (`EBUSY`, `EPERM`, ...), the number as
 *   `errno` and the failing call as `syscall`, like Node's own `SystemError`s.
 */

export interface CodedError extends Error {
  code: string;
  errno?: number;
  syscall?: string;
}

export function argError(
  code: 'ERR_INVALID_ARG_VALUE' | 'ERR_INVALID_ARG_TYPE' | 'ERR_OUT_OF_RANGE',
  message: string,
): CodedError {
  // Node's classes for the same codes: range errors are RangeError, the rest TypeError.
  const err = (code === 'ERR_OUT_OF_RANGE' ? new RangeError(message) : new TypeError(message)) as CodedError;
  err.code = code;
  return err;
}

/** Linux errno numbers this package reacts to (x86-64 / arm64 generic values). */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  ENOTDIR: 20,
  EINVAL: 22,
  EMFILE: 24,
  ENOSPC: 28,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRNOTAVAIL: 99,
  ENETUNREACH: 101,
  ENOBUFS: 105,
  EHOSTUNREACH: 113,
  EBADFD: 77,
} as const;

const errnoNames = new Map<number, string>(Object.entries(Errno).map(([name, value]) => [value, name]));

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

export function sysError(errno: number, syscall: string, message: string): CodedError {
  const code = errnoName(errno);
  const err = new Error(`${syscall} failed: ${code}: ${message}`) as CodedError;
  err.code = code;
  err.errno = errno;
  err.syscall = syscall;
  return err;
}
