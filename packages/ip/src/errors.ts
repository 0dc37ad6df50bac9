/** Errors for API misuse, Node-style: a standard Error subclass with a stable `code`. */

export interface CodedError extends Error {
  code: string;
}

export function codedError(Ctor: new (message: string) => Error, code: string, message: string): CodedError {
  const e = new Ctor(message) as CodedError;
  e.code = code;
  return e;
}
