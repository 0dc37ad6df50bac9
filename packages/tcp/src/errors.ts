/** Errors with Node-style `code`s. */
export type TcpErrorCode =
  | 'ECONNRESET'
  | 'ECONNREFUSED'
  | 'ETIMEDOUT'
  | 'EPIPE'
  | 'EHOSTUNREACH'
  | 'ENETUNREACH'
  | 'ECONNABORTED'
  // from ICMP errors (icmpErrorErrno in @netstack/ip)
  | 'ENOPROTOOPT'
  | 'EMSGSIZE'
  | 'EOPNOTSUPP'
  | 'EHOSTDOWN'
  | 'ENONET'
  | 'EPROTO';

/** An operational failure, delivered through `TcpHandler.onClosed`. */
export class TcpError extends Error {
  readonly code: TcpErrorCode;
  constructor(code: TcpErrorCode, message?: string) {
    super(message ?? code);
    this.code = code;
    this.name = 'TcpError';
  }
}

/** API misuse: thrown synchronously with a Node-style code. */
export function usageError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}
