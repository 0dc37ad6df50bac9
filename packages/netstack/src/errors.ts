/** Errors of the facade: a stable Node-style `code` (Node's own errors are made in node-errors.ts). */
export class NetstackError extends Error {
  readonly code: string;
  constructor(code: string, message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.name = 'Error';
    this.code = code;
    Object.assign(this, extra);
  }
}
