/**
 * The cores' errors: a plain `code` on an Error, nothing of Node's or libuv's wording.
 * Failures a core reports are codes (errno names such as 'EADDRINUSE', or its own
 * 'ERR_*' for misuse of its API); the facade (@netstack/netstack, node-errors.ts) turns
 * them into the errors Node would throw (negative `errno`, libuv's message, `syscall`).
 */

export interface CodedError extends Error {
  code: string;
}

export function codedError(Ctor: new (message: string) => Error, code: string, message: string): CodedError {
  const e = new Ctor(message) as CodedError;
  e.code = code;
  return e;
}

/**
 * An operation's failure in a core (a ping's ETIMEDOUT, EHOSTUNREACH...): the errno
 * `code`, what was tried (`syscall`) and where (`address`). The facade makes Node's
 * error out of these three.
 */
export interface OpError extends CodedError {
  syscall: string;
  address?: string;
}

export function opError(code: string, syscall: string, address?: string): OpError {
  const e = new Error(address === undefined ? `${syscall} ${code}` : `${syscall} ${code} ${address}`) as OpError;
  e.code = code;
  e.syscall = syscall;
  if (address !== undefined) e.address = address;
  return e;
}

/** A core API's argument of the wrong type: code ERR_INVALID_ARG_TYPE. */
export function argTypeError(name: string, expected: string, actual: unknown): CodedError {
  return codedError(TypeError, 'ERR_INVALID_ARG_TYPE', `${name} must be ${expected}; got ${actual === null ? 'null' : typeof actual}`);
}

/** A core API's argument out of its range: code ERR_OUT_OF_RANGE. */
export function rangeError(name: string, range: string, actual: unknown): CodedError {
  return codedError(RangeError, 'ERR_OUT_OF_RANGE', `${name} must be ${range}; got ${String(actual)}`);
}

/** A number, an integer, within [min, max]; else argTypeError / rangeError. */
export function checkInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') throw argTypeError(name, 'a number', value);
  if (!Number.isInteger(value) || value < min || value > max) throw rangeError(name, `an integer in ${min}..${max}`, value);
  return value;
}
