/**
 * Node-shaped errors at the edge of the ICMP package: argument errors with Node's
 * `ERR_*` codes (thrown at once), and operational errors with an errno `code`,
 * negative `errno` (as libuv reports them), `syscall` and `address`.
 */
import { constants } from 'node:os';

export interface NodeStyleError extends Error {
  code: string;
}

export interface ErrnoError extends NodeStyleError {
  errno: number;
  syscall: string;
  address?: string;
}

export function errnoError(code: string, syscall: string, address?: string): ErrnoError {
  const errno = (constants.errno as Record<string, number | undefined>)[code];
  const err = new Error(address === undefined ? `${syscall} ${code}` : `${syscall} ${code} ${address}`) as ErrnoError;
  err.code = code;
  err.errno = errno === undefined ? 0 : -errno;
  err.syscall = syscall;
  if (address !== undefined) err.address = address;
  return err;
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'function') return `function ${(value as { name?: string }).name ?? ''}`;
  if (typeof value === 'object') return `an instance of ${(value as object).constructor?.name ?? 'Object'}`;
  return `type ${typeof value} (${typeof value === 'string' ? `'${value}'` : String(value)})`;
}

export function invalidArgType(name: string, expected: string, actual: unknown): NodeStyleError {
  const err = new TypeError(`The "${name}" argument must be ${expected}. Received ${describe(actual)}`) as TypeError & NodeStyleError;
  err.code = 'ERR_INVALID_ARG_TYPE';
  return err;
}

export function outOfRange(name: string, range: string, actual: unknown): NodeStyleError {
  const err = new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${String(actual)}`) as RangeError & NodeStyleError;
  err.code = 'ERR_OUT_OF_RANGE';
  return err;
}

/** Validates an integer argument in [min, max] (Node's validateInteger). */
export function validateInteger(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value);
  return value;
}
