/**
 * Argument checks at the API edge, mirroring node:net's (lib/net.js
 * normalizeArgs, validatePort, lookupAndConnect). All of these throw at once.
 */
import { parseAddress, type Ipv4Address } from '@netstack/ip';
import { badPort, codedError, invalidArgType, invalidArgValue } from './errors.js';

/** node's `validatePort`: a number or numeric string, integer, 0..65535. */
export function validatePort(port: unknown, name: string): number {
  if (
    (typeof port !== 'number' && typeof port !== 'string') ||
    (typeof port === 'string' && port.trim().length === 0) ||
    +port !== (+port >>> 0) ||
    +port > 0xffff
  ) {
    throw badPort(name, port);
  }
  return +port | 0;
}

/** An IPv4 literal for `name` (where no name is looked up: listen addresses, local addresses). */
export function parseHost(name: string, host: unknown): { address: Ipv4Address; text: string } {
  if (typeof host !== 'string') throw invalidArgType('hostname', 'of type string', host);
  const address = parseAddress(host);
  if (address === undefined) {
    throw invalidArgValue(name, host, 'must be an IPv4 address literal');
  }
  return { address, text: host };
}

export function validateTimeout(msecs: unknown, name: string): number {
  if (typeof msecs !== 'number') throw invalidArgType(name, 'of type number', msecs);
  if (!Number.isFinite(msecs) || msecs < 0) {
    throw codedError(RangeError, 'ERR_OUT_OF_RANGE', `The value of "${name}" is out of range. It must be a non-negative finite number. Received ${String(msecs)}`);
  }
  return msecs;
}

export function validateFunction(fn: unknown, name: string): asserts fn is (...args: never[]) => unknown {
  if (typeof fn !== 'function') throw invalidArgType(name, 'of type function', fn);
}

export function validateAbortSignal(signal: unknown, name: string): asserts signal is AbortSignal {
  if (signal !== undefined && (signal === null || typeof signal !== 'object' || !('aborted' in signal))) {
    throw invalidArgType(name, 'an instance of AbortSignal', signal);
  }
}

export function validateBoolean(v: unknown, name: string): void {
  if (v !== undefined && typeof v !== 'boolean') throw invalidArgType(name, 'of type boolean', v);
}

/** node's `isPipeName`: a string that is not a number. */
export function isPipeName(s: unknown): boolean {
  return typeof s === 'string' && !/^\s*\d+\s*$/.test(s);
}
