/** Node-style errors at the API edge: a stable `code`, like node:net / node:dgram. */
export class NetstackError extends Error {
  readonly code: string;
  constructor(code: string, message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.name = 'Error';
    this.code = code;
    Object.assign(this, extra);
  }
}

export function invalidArg(name: string, expected: string, actual: unknown): NetstackError {
  const got = actual === null ? 'null' : typeof actual === 'object' ? 'an object' : `type ${typeof actual} (${String(actual)})`;
  return new NetstackError('ERR_INVALID_ARG_TYPE', `The "${name}" argument must be ${expected}. Received ${got}`);
}

export function invalidValue(name: string, value: unknown, reason: string): NetstackError {
  return new NetstackError('ERR_INVALID_ARG_VALUE', `The argument '${name}' ${reason}. Received ${JSON.stringify(value)}`);
}
