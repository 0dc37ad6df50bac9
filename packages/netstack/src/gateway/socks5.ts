/**
 * A SOCKS5 client (RFC 1928) with username/password authentication (RFC 1929): the
 * host side of the gateway's `--socks5` mode (issue 12, tun2socks), where every TCP
 * connection leaves through a CONNECT and every UDP flow through a UDP ASSOCIATE.
 *
 * Three levels, as elsewhere in netstack:
 *
 * - **Wire records.** `emit*` writes each client message; `parse*` reads each proxy
 *   message from a prefix of the bytes received so far and answers `incomplete`,
 *   `malformed` (with a reason) or `ok` with the record and its length. Parsers never
 *   throw and never read past what they were given; the longest proxy message is
 *   `MAX_REPLY_LENGTH` (262) octets, so a parser is handed at most that much. The UDP
 *   request header of §7 has `encodeUdpDatagram` / `decodeUdpDatagram`.
 * - **A pure handshake** (`Socks5Handshake`): method selection (§3), the RFC 1929
 *   sub-negotiation, the request and its reply (§4-§6), fed bytes and EOF, answering
 *   what to send next or how it ended. No I/O, no clock; its buffer is bounded at
 *   `MAX_REPLY_LENGTH`.
 * - **The adapter on Node** (`socks5Connect`, `socks5UdpAssociate`): a `node:net`
 *   connection to the proxy, the one deadline (`timeoutMs`) and the `AbortSignal`, and
 *   errors shaped as Node's: a reply code becomes the errno a direct `connect()` would
 *   have given (table `REPLY_ERROR_CODES`), a protocol fault an `ERR_SOCKS5_*` code.
 *
 * Addresses inside are the stack's `IpAddress` values (a number for IPv4, a 16-octet
 * string for IPv6: @netstack/ip address.ts) or `{ domain }` (ATYP 3, one latin1
 * character per octet so any octets round-trip); text exists only at the API edge.
 */
import { EventEmitter } from 'node:events';
import * as dgram from 'node:dgram';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { domainToASCII } from 'node:url';
import { formatAddress, readAddress, readIpv6Address, writeAddress, type IpAddress } from '@netstack/ip';
import { errnoError, invalidArgType, invalidArgValue, codedError, type ErrnoError } from '../node-errors.js';
import { parseIpLiteral, unmapIpv4 } from '../ip-literal.js';
import { NetstackError } from '../errors.js';

// ---------------------------------------------------------------------------------
// Constants (RFC 1928 §3-§7, RFC 1929 §2)

/** VER of every SOCKS5 message (RFC 1928 §3). */
export const SOCKS_VERSION = 0x05;
/** VER of the username/password sub-negotiation (RFC 1929 §2). */
export const USERPASS_VERSION = 0x01;

/** METHOD values (RFC 1928 §3). */
export const METHOD_NO_AUTH = 0x00;
export const METHOD_USERNAME_PASSWORD = 0x02;
export const METHOD_NO_ACCEPTABLE = 0xff;

/** CMD values (RFC 1928 §4). */
export const CMD_CONNECT = 0x01;
export const CMD_UDP_ASSOCIATE = 0x03;

/** ATYP values (RFC 1928 §4, §5). */
export const ATYP_IPV4 = 0x01;
export const ATYP_DOMAIN = 0x03;
export const ATYP_IPV6 = 0x04;

/** REP values (RFC 1928 §6). */
export const REP_SUCCEEDED = 0x00;
export const REP_GENERAL_FAILURE = 0x01;
export const REP_NOT_ALLOWED = 0x02;
export const REP_NETWORK_UNREACHABLE = 0x03;
export const REP_HOST_UNREACHABLE = 0x04;
export const REP_CONNECTION_REFUSED = 0x05;
export const REP_TTL_EXPIRED = 0x06;
export const REP_COMMAND_NOT_SUPPORTED = 0x07;
export const REP_ADDRESS_TYPE_NOT_SUPPORTED = 0x08;

/** The longest reply (§6): VER REP RSV ATYP, a 255-octet domain after its length octet, the port. */
export const MAX_REPLY_LENGTH = 4 + 1 + 255 + 2;

/**
 * What a failure reply becomes (RFC 1928 §6 → the errno a direct `connect()` would give,
 * so the gateway can answer the namespace's client as the real network would have: RST
 * for ECONNREFUSED, ICMP unreachable for EHOSTUNREACH/ENETUNREACH, administratively
 * prohibited for EACCES, silence for ETIMEDOUT). Codes without an errno of their own are
 * SOCKS-specific. Every such error also carries `socks5Reply` (the REP octet).
 */
export const REPLY_ERROR_CODES: Readonly<Record<number, string>> = {
  [REP_GENERAL_FAILURE]: 'ERR_SOCKS5_GENERAL_FAILURE',
  [REP_NOT_ALLOWED]: 'EACCES',
  [REP_NETWORK_UNREACHABLE]: 'ENETUNREACH',
  [REP_HOST_UNREACHABLE]: 'EHOSTUNREACH',
  [REP_CONNECTION_REFUSED]: 'ECONNREFUSED',
  [REP_TTL_EXPIRED]: 'ETIMEDOUT',
  [REP_COMMAND_NOT_SUPPORTED]: 'EOPNOTSUPP',
  [REP_ADDRESS_TYPE_NOT_SUPPORTED]: 'EAFNOSUPPORT',
};

/** RFC 1928 §6's words for each REP. */
const REPLY_TEXT: Readonly<Record<number, string>> = {
  [REP_GENERAL_FAILURE]: 'general SOCKS server failure',
  [REP_NOT_ALLOWED]: 'connection not allowed by ruleset',
  [REP_NETWORK_UNREACHABLE]: 'network unreachable',
  [REP_HOST_UNREACHABLE]: 'host unreachable',
  [REP_CONNECTION_REFUSED]: 'connection refused',
  [REP_TTL_EXPIRED]: 'TTL expired',
  [REP_COMMAND_NOT_SUPPORTED]: 'command not supported',
  [REP_ADDRESS_TYPE_NOT_SUPPORTED]: 'address type not supported',
};

/** The error code for a failure REP: the table above, `ERR_SOCKS5_REPLY` for unassigned values (X'09'-X'FF'). */
export function replyErrorCode(rep: number): string {
  return REPLY_ERROR_CODES[rep] ?? 'ERR_SOCKS5_REPLY';
}

// ---------------------------------------------------------------------------------
// Addresses (RFC 1928 §4-§5)

/** A SOCKS5 address: an IP address (number: ATYP 1; 16-octet string: ATYP 4) or a domain name (ATYP 3). */
export type Socks5Host = IpAddress | { readonly domain: string };
/** An address and a port: DST in a request, BND in a reply, DST in a UDP header. */
export interface Socks5Endpoint {
  readonly host: Socks5Host;
  readonly port: number;
}

/** Octets of ATYP + address + port for `ep`. */
export function endpointLength(ep: Socks5Endpoint): number {
  const h = ep.host;
  if (typeof h === 'number') return 1 + 4 + 2;
  if (typeof h === 'string') return 1 + 16 + 2;
  return 1 + 1 + h.domain.length + 2;
}

/** Writes ATYP, the address and the port at `off`; returns the offset after them. The domain must be 1..255 latin1 octets. */
export function writeEndpoint(buf: Uint8Array, off: number, ep: Socks5Endpoint): number {
  const h = ep.host;
  if (typeof h === 'number' || typeof h === 'string') {
    buf[off++] = typeof h === 'number' ? ATYP_IPV4 : ATYP_IPV6;
    off += writeAddress(buf, off, h);
  } else {
    buf[off++] = ATYP_DOMAIN;
    buf[off++] = h.domain.length;
    for (let i = 0; i < h.domain.length; i++) buf[off++] = h.domain.charCodeAt(i);
  }
  buf[off++] = ep.port >>> 8;
  buf[off++] = ep.port & 0xff;
  return off;
}

/** A parse result: a record and the octets it took, not enough octets yet, or bytes no proxy should send. */
export type Parsed<T> =
  | { readonly status: 'ok'; readonly value: T; readonly length: number }
  | { readonly status: 'incomplete' }
  | { readonly status: 'malformed'; readonly reason: string };

const INCOMPLETE: Parsed<never> = { status: 'incomplete' };
const malformed = (reason: string): Parsed<never> => ({ status: 'malformed', reason });

/** Reads ATYP, address and port starting at `off` (§5); `length` is the offset after the port. */
export function readEndpoint(buf: Uint8Array, off: number): Parsed<Socks5Endpoint> {
  if (buf.length < off + 1) return INCOMPLETE;
  const atyp = buf[off]!;
  let host: Socks5Host;
  let p = off + 1;
  if (atyp === ATYP_IPV4) {
    if (buf.length < p + 4 + 2) return INCOMPLETE;
    host = readAddress(buf, p);
    p += 4;
  } else if (atyp === ATYP_IPV6) {
    if (buf.length < p + 16 + 2) return INCOMPLETE;
    host = readIpv6Address(buf, p);
    p += 16;
  } else if (atyp === ATYP_DOMAIN) {
    if (buf.length < p + 1) return INCOMPLETE;
    const n = buf[p]!;
    // §5: "the first octet of the address field contains the number of octets of name that follow"; none is no name.
    if (n === 0) return malformed('empty domain name');
    if (buf.length < p + 1 + n + 2) return INCOMPLETE;
    let domain = '';
    for (let i = 0; i < n; i++) domain += String.fromCharCode(buf[p + 1 + i]!);
    host = { domain };
    p += 1 + n;
  } else {
    return malformed(`address type 0x${hex2(atyp)}`);
  }
  const port = (buf[p]! << 8) | buf[p + 1]!;
  return { status: 'ok', value: { host, port }, length: p + 2 };
}

/** Text of a SOCKS5 host: dotted quad, RFC 5952 IPv6, or the domain name. */
export function formatHost(h: Socks5Host): string {
  return typeof h === 'object' ? h.domain : formatAddress(h);
}

/** 'IPv4', 'IPv6' or 'domain'. */
export function hostFamily(h: Socks5Host): 'IPv4' | 'IPv6' | 'domain' {
  return typeof h === 'number' ? 'IPv4' : typeof h === 'string' ? 'IPv6' : 'domain';
}

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

// ---------------------------------------------------------------------------------
// Client messages (emit)

/** Version identifier/method selection (§3): VER NMETHODS METHODS. 1..255 methods. */
export function emitGreeting(methods: readonly number[]): Uint8Array {
  const out = new Uint8Array(2 + methods.length);
  out[0] = SOCKS_VERSION;
  out[1] = methods.length;
  out.set(methods, 2);
  return out;
}

/** Username/password request (RFC 1929 §2): VER ULEN UNAME PLEN PASSWD, each 1..255 octets. */
export function emitUserPassRequest(username: Uint8Array, password: Uint8Array): Uint8Array {
  const out = new Uint8Array(3 + username.length + password.length);
  out[0] = USERPASS_VERSION;
  out[1] = username.length;
  out.set(username, 2);
  out[2 + username.length] = password.length;
  out.set(password, 3 + username.length);
  return out;
}

/** A request (§4): VER CMD RSV ATYP DST.ADDR DST.PORT. */
export function emitRequest(command: number, destination: Socks5Endpoint): Uint8Array {
  const out = new Uint8Array(3 + endpointLength(destination));
  out[0] = SOCKS_VERSION;
  out[1] = command;
  out[2] = 0; // RSV
  writeEndpoint(out, 3, destination);
  return out;
}

// ---------------------------------------------------------------------------------
// Proxy messages (parse)

/** The METHOD selection message (§3): VER METHOD. */
export function parseMethodSelection(buf: Uint8Array): Parsed<{ method: number }> {
  if (buf.length < 1) return INCOMPLETE;
  if (buf[0] !== SOCKS_VERSION) return malformed(`method selection version ${buf[0]} (expected ${SOCKS_VERSION})`);
  if (buf.length < 2) return INCOMPLETE;
  return { status: 'ok', value: { method: buf[1]! }, length: 2 };
}

/** The username/password status (RFC 1929 §2): VER STATUS, X'00' success. */
export function parseUserPassStatus(buf: Uint8Array): Parsed<{ status: number }> {
  if (buf.length < 1) return INCOMPLETE;
  if (buf[0] !== USERPASS_VERSION) return malformed(`authentication reply version ${buf[0]} (expected ${USERPASS_VERSION})`);
  if (buf.length < 2) return INCOMPLETE;
  return { status: 'ok', value: { status: buf[1]! }, length: 2 };
}

/** A reply (§6): VER REP RSV ATYP BND.ADDR BND.PORT. RSV is not checked (written zero, ignored on receipt). */
export function parseReply(buf: Uint8Array): Parsed<{ reply: number; bound: Socks5Endpoint }> {
  if (buf.length < 1) return INCOMPLETE;
  if (buf[0] !== SOCKS_VERSION) return malformed(`reply version ${buf[0]} (expected ${SOCKS_VERSION})`);
  if (buf.length < 4) return INCOMPLETE;
  const ep = readEndpoint(buf, 3);
  if (ep.status !== 'ok') return ep;
  return { status: 'ok', value: { reply: buf[1]!, bound: ep.value }, length: ep.length };
}

// ---------------------------------------------------------------------------------
// UDP request header (§7): RSV(2) FRAG ATYP DST.ADDR DST.PORT DATA

export interface Socks5UdpDatagram {
  /** FRAG: 0 for a whole datagram; anything else is a fragment (this client sends none and drops those it receives). */
  readonly frag: number;
  /** DST on the way out; on the way back, where the datagram came from. */
  readonly endpoint: Socks5Endpoint;
  /** DATA: a view into the buffer given to `decodeUdpDatagram`. */
  readonly data: Uint8Array;
}

/** Octets of the §7 header in front of data for `ep`. */
export function udpHeaderLength(ep: Socks5Endpoint): number {
  return 3 + endpointLength(ep);
}

/** Header (FRAG 0) and data in one new buffer. */
export function encodeUdpDatagram(ep: Socks5Endpoint, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(udpHeaderLength(ep) + data.length);
  // RSV X'0000', FRAG X'00' (the zeros of a new buffer).
  const off = writeEndpoint(out, 3, ep);
  out.set(data, off);
  return out;
}

/** The §7 header and data of one received datagram; a datagram is whole, so a short one is malformed. RSV is ignored. */
export function decodeUdpDatagram(buf: Uint8Array): Parsed<Socks5UdpDatagram> {
  if (buf.length < 4) return malformed(`datagram of ${buf.length} octets is shorter than a header`);
  const ep = readEndpoint(buf, 3);
  if (ep.status === 'incomplete') return malformed('datagram ends inside its header');
  if (ep.status === 'malformed') return ep;
  return { status: 'ok', value: { frag: buf[2]!, endpoint: ep.value, data: buf.subarray(ep.length) }, length: buf.length };
}

// ---------------------------------------------------------------------------------
// The handshake, as a pure state machine

/** How a handshake failed, as data (the adapter makes errors of it). */
export type Socks5Failure =
  | { readonly kind: 'malformed'; readonly stage: HandshakeStage; readonly reason: string }
  | { readonly kind: 'no-acceptable-methods' }
  | { readonly kind: 'auth-failed'; readonly status: number }
  | { readonly kind: 'reply'; readonly reply: number }
  | { readonly kind: 'closed'; readonly stage: HandshakeStage };

export type HandshakeStage = 'method' | 'auth' | 'reply';

export type HandshakeStep =
  | { readonly kind: 'need-more' }
  | { readonly kind: 'send'; readonly bytes: Uint8Array }
  /** The request succeeded. `leftover`: octets after the reply (a CONNECT's first data), a view into the last chunk. */
  | { readonly kind: 'done'; readonly bound: Socks5Endpoint; readonly leftover: Uint8Array }
  | { readonly kind: 'failed'; readonly failure: Socks5Failure };

export interface HandshakeRequest {
  readonly command: number;
  readonly destination: Socks5Endpoint;
  /** RFC 1929 credentials, 1..255 octets each; when given, only X'02' is offered (no silent downgrade to no authentication). */
  readonly auth?: { readonly username: Uint8Array; readonly password: Uint8Array };
}

const NEED_MORE: HandshakeStep = { kind: 'need-more' };

/**
 * One client handshake: `greeting()` first, then every received chunk to `receive()`
 * and EOF to `end()`, sending what a `send` step carries, until `done` or `failed`.
 * The proxy speaks only when spoken to (§3-§6), so octets beyond a method selection or
 * an authentication status are a fault; octets beyond the final reply are the
 * connection's data (`leftover`). Never throws.
 */
export class Socks5Handshake {
  private phase: HandshakeStage | 'done' | 'failed' = 'method';
  /** The current message so far: at most `MAX_REPLY_LENGTH` octets. */
  private readonly buf = new Uint8Array(MAX_REPLY_LENGTH);
  private len = 0;

  constructor(private readonly request: HandshakeRequest) {}

  get stage(): HandshakeStage | 'done' | 'failed' {
    return this.phase;
  }

  /** The method selection message (§3): X'02' with credentials, else X'00'. */
  greeting(): Uint8Array {
    return emitGreeting([this.request.auth ? METHOD_USERNAME_PASSWORD : METHOD_NO_AUTH]);
  }

  receive(chunk: Uint8Array): HandshakeStep {
    const stage = this.phase;
    if (stage === 'done' || stage === 'failed' || chunk.length === 0) return NEED_MORE;
    const before = this.len;
    // Method selection and authentication status are 2 octets; a reply at most MAX_REPLY_LENGTH.
    const cap = stage === 'reply' ? MAX_REPLY_LENGTH : 2;
    const take = Math.min(chunk.length, cap - before);
    this.buf.set(chunk.subarray(0, take), before);
    this.len = before + take;
    const view = this.buf.subarray(0, this.len);
    if (stage === 'reply') {
      const r = parseReply(view);
      if (r.status === 'incomplete') return NEED_MORE; // a reply is never longer than the buffer
      if (r.status === 'malformed') return this.fail({ kind: 'malformed', stage, reason: r.reason });
      if (r.value.reply !== REP_SUCCEEDED) return this.fail({ kind: 'reply', reply: r.value.reply });
      this.phase = 'done';
      // The reply was incomplete before this chunk, so it ends inside it.
      return { kind: 'done', bound: r.value.bound, leftover: chunk.subarray(r.length - before) };
    }
    const r = stage === 'method' ? parseMethodSelection(view) : parseUserPassStatus(view);
    if (r.status === 'incomplete') return NEED_MORE;
    if (r.status === 'malformed') return this.fail({ kind: 'malformed', stage, reason: r.reason });
    if (chunk.length > take) return this.fail({ kind: 'malformed', stage, reason: `${chunk.length - take} octets after the ${stage === 'method' ? 'method selection' : 'authentication status'}` });
    this.len = 0;
    if (stage === 'auth') {
      const status = (r.value as { status: number }).status;
      // RFC 1929 §2: X'00' success; anything else, and "the client MUST close the connection".
      if (status !== 0) return this.fail({ kind: 'auth-failed', status });
      this.phase = 'reply';
      return { kind: 'send', bytes: emitRequest(this.request.command, this.request.destination) };
    }
    const method = (r.value as { method: number }).method;
    if (method === METHOD_NO_ACCEPTABLE) return this.fail({ kind: 'no-acceptable-methods' });
    const auth = this.request.auth;
    if (auth && method === METHOD_USERNAME_PASSWORD) {
      this.phase = 'auth';
      return { kind: 'send', bytes: emitUserPassRequest(auth.username, auth.password) };
    }
    if (!auth && method === METHOD_NO_AUTH) {
      this.phase = 'reply';
      return { kind: 'send', bytes: emitRequest(this.request.command, this.request.destination) };
    }
    return this.fail({ kind: 'malformed', stage, reason: `proxy chose method 0x${hex2(method)}, which was not offered` });
  }

  /** EOF from the proxy. A failure reply cut short after its REP octet still reports that REP. */
  end(): HandshakeStep {
    const stage = this.phase;
    if (stage === 'done' || stage === 'failed') return NEED_MORE;
    if (stage === 'reply' && this.len >= 2 && this.buf[0] === SOCKS_VERSION && this.buf[1] !== REP_SUCCEEDED) {
      return this.fail({ kind: 'reply', reply: this.buf[1]! });
    }
    return this.fail({ kind: 'closed', stage });
  }

  private fail(failure: Socks5Failure): HandshakeStep {
    this.phase = 'failed';
    this.len = 0;
    return { kind: 'failed', failure };
  }
}

// ---------------------------------------------------------------------------------
// The adapter on Node

export interface Socks5Proxy {
  readonly host: string;
  readonly port: number;
}

export interface Socks5Auth {
  readonly username: string | Uint8Array;
  readonly password: string | Uint8Array;
}

/** A destination: `address` an IP literal, or `host` a name (sent as ATYP 3, resolved by the proxy) or an IP literal. */
export type Socks5Destination = { readonly address: string; readonly port: number } | { readonly host: string; readonly port: number };

export interface Socks5ConnectOptions {
  readonly proxy: Socks5Proxy;
  readonly auth?: Socks5Auth;
  readonly destination: Socks5Destination;
  /** Bound on the whole setup: the TCP connection to the proxy, negotiation and the reply. */
  readonly timeoutMs: number;
  /** Aborts the setup (not the connection once established). */
  readonly signal?: AbortSignal;
}

/** What the proxy reported as BND (§6): for CONNECT, the address it connected from. */
export interface Socks5Bound {
  readonly address: string;
  readonly family: 'IPv4' | 'IPv6' | 'domain';
  readonly port: number;
}

export interface Socks5Connection {
  /** Connected to the destination through the proxy; octets the proxy sent after its reply are the first to read. */
  readonly socket: net.Socket;
  readonly bound: Socks5Bound;
}

/**
 * Where an error arose: `proxy` the TCP connection to the proxy (Node's own error),
 * `method`/`auth`/`reply` the handshake, `timeout` the deadline, `abort` the signal,
 * `relay` the UDP relay's setup.
 */
export type Socks5Stage = 'proxy' | HandshakeStage | 'timeout' | 'abort' | 'relay';

/** Every error from this module carries these next to Node's `code`. */
export interface Socks5ErrorFields {
  socks5Stage: Socks5Stage;
  /** The REP octet, for failure replies. */
  socks5Reply?: number;
  /** The proxy as `host:port`. */
  proxy: string;
}

export type Socks5Error = Error & { code: string } & Socks5ErrorFields & Partial<ErrnoError>;

/**
 * Connects to `destination` through the SOCKS5 proxy (RFC 1928 CONNECT, RFC 1929 when
 * `auth` is given). Resolves once the proxy reported success, with the socket and the
 * proxy's BND; rejects with a `Socks5Error` otherwise. Bad arguments throw at once.
 */
export function socks5Connect(options: Socks5ConnectOptions): Promise<Socks5Connection> {
  const proxy = checkProxy(options?.proxy);
  const auth = checkAuth(options.auth);
  const destination = checkDestination(options.destination, 'options.destination');
  const timeoutMs = checkTimeout(options.timeoutMs);
  checkSignal(options.signal);
  const request: HandshakeRequest = auth ? { command: CMD_CONNECT, destination, auth } : { command: CMD_CONNECT, destination };
  const socket = net.connect({ host: proxy.host, port: proxy.port });
  return runHandshake(socket, () => new Socks5Handshake(request), {
    proxy, destination, syscall: 'connect', timeoutMs, signal: options.signal,
  }).then((r) => ({ socket, bound: boundInfo(handOver(socket, r)) }));
}

/** The proxy's octets after its reply go back in front of the stream, for whoever reads next. */
function handOver(stream: Duplex, r: { bound: Socks5Endpoint; leftover: Uint8Array }): Socks5Endpoint {
  if (r.leftover.length > 0) stream.unshift(Buffer.from(r.leftover.buffer, r.leftover.byteOffset, r.leftover.length));
  return r.bound;
}

interface RunContext {
  proxy: Socks5Proxy;
  /** The request's destination (for messages); undefined for UDP ASSOCIATE. */
  destination: Socks5Endpoint | undefined;
  syscall: string;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  /** Runs once the TCP connection to the proxy is up, before the greeting (UDP ASSOCIATE binds its socket here). */
  beforeGreeting?: (socket: net.Socket) => Promise<void>;
}

/**
 * Drives a handshake over `socket` (paused mode: `readable` + `read()`, so that once the
 * listener is gone the socket flows again for whoever reads next). Rejects with the
 * socket destroyed; resolves with the socket untouched and its listeners removed.
 */
function runHandshake(socket: net.Socket, make: () => Socks5Handshake, ctx: RunContext): Promise<{ bound: Socks5Endpoint; leftover: Uint8Array }> {
  return new Promise((resolve, reject) => {
    let hs: Socks5Handshake | undefined;
    let settled = false;
    let stage: Socks5Stage = 'proxy';
    const proxyText = `${ctx.proxy.host}:${ctx.proxy.port}`;

    const finish = (err: Error | null, result?: { bound: Socks5Endpoint; leftover: Uint8Array }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      ctx.signal?.removeEventListener('abort', onAbort);
      socket.removeListener('connect', onConnect);
      socket.removeListener('readable', onReadable);
      socket.removeListener('end', onEnd);
      socket.removeListener('close', onEnd);
      socket.removeListener('error', onError);
      if (err) {
        socket.destroy();
        // Node emits operational errors on a later tick: a rejected promise already is one.
        reject(err);
      } else {
        resolve(result!);
      }
    };
    const fail = (f: Socks5Failure): void => finish(failureError(f, ctx, proxyText));
    const handle = (step: HandshakeStep): boolean => {
      switch (step.kind) {
        case 'need-more':
          return true;
        case 'send':
          stage = hs!.stage as HandshakeStage;
          socket.write(step.bytes);
          return true;
        case 'done':
          finish(null, { bound: step.bound, leftover: step.leftover });
          return false;
        case 'failed':
          fail(step.failure);
          return false;
      }
    };
    const onConnect = (): void => {
      const start = (): void => {
        if (settled) return;
        hs = make();
        stage = 'method';
        socket.write(hs.greeting());
        socket.on('readable', onReadable);
      };
      if (ctx.beforeGreeting) {
        ctx.beforeGreeting(socket).then(start, (e: unknown) => finish(stageError(e instanceof Error ? e : new Error(String(e)), 'relay', proxyText)));
      } else start();
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (!settled && (chunk = socket.read() as Buffer | null) !== null) {
        if (!handle(hs!.receive(chunk))) return;
      }
    };
    const onEnd = (): void => {
      if (settled) return;
      if (!hs) {
        finish(stageError(codedError(Error, 'ERR_SOCKS5_CLOSED', `SOCKS5 proxy ${proxyText} closed the connection before the handshake`), 'proxy', proxyText));
        return;
      }
      handle(hs.end());
    };
    const onError = (e: Error): void => finish(stageError(e, stage, proxyText));
    const onAbort = (): void => {
      const e = new NetstackError('ABORT_ERR', 'The operation was aborted', { cause: ctx.signal?.reason }) as Error;
      e.name = 'AbortError';
      finish(stageError(e, 'abort', proxyText));
    };
    const timer = setTimeout(() => {
      const where = ctx.destination ? ` ${formatHost(ctx.destination.host)}:${ctx.destination.port}` : '';
      const e = errnoError('ETIMEDOUT', ctx.syscall) as Error;
      const what = stage === 'proxy' ? 'connection' : stage === 'method' ? 'method selection' : stage === 'auth' ? 'authentication status' : 'reply';
      e.message = `${ctx.syscall} ETIMEDOUT${where} (SOCKS5 proxy ${proxyText}: no ${what} within ${ctx.timeoutMs} ms)`;
      finish(stageError(e, 'timeout', proxyText));
    }, ctx.timeoutMs);

    socket.on('connect', onConnect);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    if (ctx.signal?.aborted) onAbort();
    else ctx.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function stageError(e: Error, stage: Socks5Stage, proxy: string, reply?: number): Socks5Error {
  const s = e as Socks5Error;
  s.socks5Stage = stage;
  if (reply !== undefined) s.socks5Reply = reply;
  s.proxy = proxy;
  return s;
}

function failureError(f: Socks5Failure, ctx: RunContext, proxy: string): Socks5Error {
  const dst = ctx.destination;
  const where = dst ? `${formatHost(dst.host)}:${dst.port}` : 'UDP ASSOCIATE';
  switch (f.kind) {
    case 'reply': {
      const code = replyErrorCode(f.reply);
      const text = REPLY_TEXT[f.reply] ?? 'unassigned reply code';
      const msg = `${ctx.syscall} ${code} ${where} (SOCKS5 proxy ${proxy}: ${text}, REP 0x${hex2(f.reply)})`;
      const e: Error = code.startsWith('E') ? errnoError(code, ctx.syscall, dst ? formatHost(dst.host) : undefined, dst?.port) : codedError(Error, code, msg);
      e.message = msg;
      return stageError(e, 'reply', proxy, f.reply);
    }
    case 'no-acceptable-methods':
      return stageError(codedError(Error, 'ERR_SOCKS5_NO_ACCEPTABLE_METHODS', `SOCKS5 proxy ${proxy} accepts none of the offered authentication methods (it answered X'FF'): give credentials if it wants username/password, or check its socksmethod`), 'method', proxy);
    case 'auth-failed':
      return stageError(codedError(Error, 'ERR_SOCKS5_AUTH_FAILED', `SOCKS5 proxy ${proxy} rejected the username/password (RFC 1929 status 0x${hex2(f.status)})`), 'auth', proxy);
    case 'closed':
      return stageError(codedError(Error, 'ERR_SOCKS5_CLOSED', `SOCKS5 proxy ${proxy} closed the connection during the ${f.stage} stage`), f.stage, proxy);
    case 'malformed':
      return stageError(codedError(Error, 'ERR_SOCKS5_MALFORMED_REPLY', `SOCKS5 proxy ${proxy} sent a malformed ${f.stage} reply: ${f.reason}`), f.stage, proxy);
  }
}

function boundInfo(ep: Socks5Endpoint): Socks5Bound {
  return { address: formatHost(ep.host), family: hostFamily(ep.host), port: ep.port };
}

// ---------------------------------------------------------------------------------
// Arguments (thrown at once, as Node does)

function checkPort(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0 || v > 65535) {
    throw codedError(RangeError, 'ERR_SOCKET_BAD_PORT', `${name} should be > 0 and < 65536. Received ${String(v)}.`);
  }
  return v;
}

function checkProxy(p: unknown): Socks5Proxy {
  if (typeof p !== 'object' || p === null) throw invalidArgType('options.proxy', 'of type object', p);
  const { host, port } = p as { host?: unknown; port?: unknown };
  if (typeof host !== 'string' || host === '') throw invalidArgType('options.proxy.host', 'a non-empty string', host);
  return { host, port: checkPort(port, 'options.proxy.port') };
}

function toOctets(v: unknown, name: string): Uint8Array {
  const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v instanceof Uint8Array ? v : undefined;
  if (b === undefined) throw invalidArgType(name, 'of type string or an instance of Uint8Array', v);
  // RFC 1929 §2: ULEN and PLEN are one octet each, and a zero-length field is not a credential.
  if (b.length < 1 || b.length > 255) throw invalidArgValue(name, typeof v === 'string' ? v : `<${b.length} octets>`, 'must be 1 to 255 octets (RFC 1929)');
  return b;
}

function checkAuth(a: unknown): HandshakeRequest['auth'] {
  if (a === undefined) return undefined;
  if (typeof a !== 'object' || a === null) throw invalidArgType('options.auth', 'of type object', a);
  const { username, password } = a as { username?: unknown; password?: unknown };
  return { username: toOctets(username, 'options.auth.username'), password: toOctets(password, 'options.auth.password') };
}

/** An IP literal as the address to send: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, as dual-stack sockets report IPv4 peers) as the IPv4 address (ATYP 1). */
function literal(text: string): IpAddress | undefined {
  const ip = parseIpLiteral(text);
  return typeof ip === 'string' ? unmapIpv4(ip) ?? ip : ip;
}

/** A destination's text as an endpoint: an IP literal as ATYP 1/4, any other host name as ATYP 3 (IDNA ASCII form). */
export function checkDestination(d: unknown, name: string): Socks5Endpoint {
  if (typeof d !== 'object' || d === null) throw invalidArgType(name, 'of type object', d);
  const { address, host, port } = d as { address?: unknown; host?: unknown; port?: unknown };
  const p = checkPort(port, `${name}.port`);
  if (address !== undefined) {
    const ip = typeof address === 'string' ? literal(address) : undefined;
    if (ip === undefined) throw invalidArgValue(`${name}.address`, address, 'must be an IPv4 or IPv6 address');
    return { host: ip, port: p };
  }
  if (typeof host !== 'string' || host === '') throw invalidArgType(`${name}.host`, 'a non-empty string', host);
  const ip = literal(host);
  if (ip !== undefined) return { host: ip, port: p };
  const ascii = domainToASCII(host);
  if (ascii === '' || ascii.length > 255) throw invalidArgValue(`${name}.host`, host, 'must be a host name of at most 255 octets');
  return { host: { domain: ascii }, port: p };
}

function checkTimeout(t: unknown): number {
  if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0 || t > 2 ** 31 - 1) {
    throw invalidArgValue('options.timeoutMs', t, 'must be a positive number of milliseconds');
  }
  return t;
}

function checkSignal(s: unknown): void {
  if (s !== undefined && !(s instanceof AbortSignal)) throw invalidArgType('options.signal', 'an instance of AbortSignal', s);
}

// ---------------------------------------------------------------------------------
// UDP ASSOCIATE (§7)

export interface Socks5UdpAssociateOptions {
  readonly proxy: Socks5Proxy;
  readonly auth?: Socks5Auth;
  /** Bound on the setup: TCP connection, local UDP bind, negotiation and the reply. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** Datagrams handed to the kernel and not yet sent, at most (beyond: dropped, `OutDiscards`). Default 256. */
  readonly maxPendingSends?: number;
  /** Their octets, at most. Default 4 MiB. */
  readonly maxPendingBytes?: number;
}

/** Counters, named as /proc/net/snmp's Udp lines. Every received datagram is counted by exactly one `In*`. */
export interface Socks5UdpStats {
  /** Delivered to 'message'. */
  InDatagrams: number;
  /** From the relay but with a malformed §7 header. */
  InHdrErrors: number;
  /** From the relay with FRAG ≠ 0: fragments are not reassembled (§7 makes it optional), dropped. */
  InFragments: number;
  /** Not from the relay's address and port (§7: the relay is the only peer). The socket is connected to the relay, so the kernel drops these first; kept as a guard. */
  InWrongSource: number;
  /** Given to the kernel. */
  OutDatagrams: number;
  /** Dropped before the kernel: pending bound reached, or the association closed. */
  OutDiscards: number;
  /** The kernel's send failed (EMSGSIZE for a datagram too big once the header is on, …). */
  OutErrors: number;
  /** Octets the proxy sent on the control connection after its reply (none are defined; ignored). */
  ControlBytesIgnored: number;
}

/** Where a received datagram came from, as the relay's header said (`family` 'domain' when the relay names the source). */
export interface Socks5RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6' | 'domain';
  port: number;
  size: number;
}

/**
 * A UDP association: datagrams to any destination through the proxy's relay, their
 * answers back with their source. The TCP control connection is held open for the
 * association's life; it ends when that connection ends (§7: "a UDP association
 * terminates when the TCP connection that the UDP ASSOCIATE request arrived on
 * terminates") and closing the association closes the connection.
 *
 * Events: `'message' (data: Buffer, rinfo: Socks5RemoteInfo)`, emitted as datagrams
 * arrive (no queue, as node:dgram); `'close' (error?: Error)` once, with the error that
 * ended it if any (a control connection reset, a socket error): this object never emits
 * 'error', so an association that dies cannot throw from an emitter.
 */
export class Socks5UdpAssociation extends EventEmitter {
  /** The relay's address and port (BND of the reply; an unspecified address replaced by the proxy's). */
  readonly relay: { readonly address: string; readonly family: 'IPv4' | 'IPv6'; readonly port: number };
  private readonly relayIp: IpAddress;
  private readonly counters: Socks5UdpStats = {
    InDatagrams: 0, InHdrErrors: 0, InFragments: 0, InWrongSource: 0, OutDatagrams: 0, OutDiscards: 0, OutErrors: 0, ControlBytesIgnored: 0,
  };
  private pendingSends = 0;
  private pendingBytes = 0;
  private closed = false;

  /** Made by `socks5UdpAssociate`, with the sockets it set up; not meant to be called directly. */
  constructor(
    private readonly control: net.Socket,
    private readonly udp: dgram.Socket,
    relay: IpAddress,
    relayPort: number,
    private readonly maxPendingSends: number,
    private readonly maxPendingBytes: number,
    controlBytesIgnored: number,
  ) {
    super();
    this.counters.ControlBytesIgnored = controlBytesIgnored;
    this.relayIp = relay;
    this.relay = { address: formatAddress(relay), family: typeof relay === 'number' ? 'IPv4' : 'IPv6', port: relayPort };
    udp.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    udp.on('error', (e) => this.shutdown(e));
    udp.on('close', () => this.shutdown(undefined));
    control.on('data', (d: Buffer) => { this.counters.ControlBytesIgnored += d.length; });
    control.on('end', () => this.shutdown(undefined));
    control.on('error', (e) => this.shutdown(e));
    control.on('close', () => this.shutdown(undefined));
    // The control connection may have ended while the promise was resolving.
    if (control.destroyed || control.readableEnded) queueMicrotask(() => this.shutdown(undefined));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Sends `data` to `destination` through the relay. Returns false when the datagram was
   * dropped (pending bound reached, or closed: `OutDiscards`). Bad arguments throw.
   */
  send(data: Uint8Array, destination: Socks5Destination): boolean {
    if (!(data instanceof Uint8Array)) throw invalidArgType('data', 'an instance of Uint8Array', data);
    return this.sendTo(data, checkDestination(destination, 'destination'));
  }

  /** `send` with the destination as a record (the gateway's addresses are `IpAddress` values already). */
  sendTo(data: Uint8Array, ep: Socks5Endpoint): boolean {
    const size = udpHeaderLength(ep) + data.length;
    if (this.closed || this.pendingSends >= this.maxPendingSends || this.pendingBytes + size > this.maxPendingBytes) {
      this.counters.OutDiscards++;
      return false;
    }
    const dgramBytes = encodeUdpDatagram(ep, data);
    this.pendingSends++;
    this.pendingBytes += size;
    this.counters.OutDatagrams++;
    this.udp.send(dgramBytes, (err) => {
      this.pendingSends--;
      this.pendingBytes -= size;
      if (err) this.counters.OutErrors++;
    });
    return true;
  }

  stats(): Socks5UdpStats {
    return { ...this.counters };
  }

  /** Datagrams and octets given to the kernel and not yet sent. */
  pending(): { sends: number; bytes: number } {
    return { sends: this.pendingSends, bytes: this.pendingBytes };
  }

  /** Closes the UDP socket and the control connection; 'close' follows. */
  close(): void {
    this.shutdown(undefined);
  }

  private onMessage(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closed) return;
    const from = parseIpLiteral(rinfo.address);
    if (from !== this.relayIp || rinfo.port !== this.relay.port) {
      this.counters.InWrongSource++;
      return;
    }
    const d = decodeUdpDatagram(msg);
    if (d.status !== 'ok') {
      this.counters.InHdrErrors++;
      return;
    }
    if (d.value.frag !== 0) {
      this.counters.InFragments++;
      return;
    }
    this.counters.InDatagrams++;
    const data = msg.subarray(msg.length - d.value.data.length);
    const ep = d.value.endpoint;
    this.emit('message', data, { address: formatHost(ep.host), family: hostFamily(ep.host), port: ep.port, size: data.length } satisfies Socks5RemoteInfo);
  }

  private shutdown(error: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.control.destroy();
    try {
      this.udp.close();
    } catch {
      // already closed
    }
    process.nextTick(() => this.emit('close', error));
  }
}

/**
 * Opens a UDP association through the SOCKS5 proxy: connects to it, binds a local UDP
 * socket on the control connection's local address, and sends UDP ASSOCIATE with that
 * address and port as DST (§7: the address the client will send from), so the relay
 * accepts only this socket. Resolves once the proxy replied success.
 */
export function socks5UdpAssociate(options: Socks5UdpAssociateOptions): Promise<Socks5UdpAssociation> {
  const proxy = checkProxy(options?.proxy);
  const auth = checkAuth(options.auth);
  const timeoutMs = checkTimeout(options.timeoutMs);
  checkSignal(options.signal);
  const maxPendingSends = checkBound(options.maxPendingSends, 'options.maxPendingSends', 256);
  const maxPendingBytes = checkBound(options.maxPendingBytes, 'options.maxPendingBytes', 4 * 1024 * 1024);
  const control = net.connect({ host: proxy.host, port: proxy.port });
  let udp: dgram.Socket | undefined;
  let local: Socks5Endpoint | undefined;
  const bindUdp = (sock: net.Socket): Promise<void> => new Promise((resolve, reject) => {
    const localIp = sock.localAddress === undefined ? undefined : parseIpLiteral(sock.localAddress);
    if (localIp === undefined) {
      reject(codedError(Error, 'ERR_SOCKS5_RELAY', `no local address on the control connection to ${proxy.host}:${proxy.port}`));
      return;
    }
    const s = dgram.createSocket(typeof localIp === 'number' ? 'udp4' : 'udp6');
    udp = s;
    s.once('error', reject);
    s.bind({ address: sock.localAddress!, port: 0 }, () => {
      s.removeListener('error', reject);
      local = { host: localIp, port: s.address().port };
      resolve();
    });
  });
  return runHandshake(control, () => {
    const request: HandshakeRequest = auth ? { command: CMD_UDP_ASSOCIATE, destination: local!, auth } : { command: CMD_UDP_ASSOCIATE, destination: local! };
    return new Socks5Handshake(request);
  }, { proxy, destination: undefined, syscall: 'udp associate', timeoutMs, signal: options.signal, beforeGreeting: bindUdp }).then(
    ({ bound, leftover }) => {
      let relay = bound.host;
      if (typeof relay === 'object') {
        throw failRelay(control, udp, proxy, `the relay is named (${relay.domain}), not addressed`);
      }
      // An unspecified BND.ADDR means "the proxy's own address" to most servers.
      if (relay === 0 || relay === '\0'.repeat(16)) relay = parseIpLiteral(control.remoteAddress ?? '') ?? relay;
      if (typeof relay !== typeof local!.host) {
        throw failRelay(control, udp, proxy, `the relay ${formatAddress(relay)} is not of the control connection's family`);
      }
      if (bound.port === 0) throw failRelay(control, udp, proxy, 'the relay port is 0');
      // Connected to the relay: the kernel then takes datagrams from the relay only, and a
      // send needs no address lookup. The setup deadline still holds.
      const relayIp = relay;
      return connectUdp(udp!, relayIp, bound.port, timeoutMs, options.signal).then(
        () => new Socks5UdpAssociation(control, udp!, relayIp, bound.port, maxPendingSends, maxPendingBytes, leftover.length),
        (e: Error) => { throw failRelay(control, udp, proxy, `connect to the relay ${formatAddress(relayIp)}:${bound.port}: ${e.message}`); },
      );
    },
    (e: unknown) => {
      try {
        udp?.close();
      } catch {
        // not bound yet, or already closed
      }
      throw e;
    },
  );
}

/** dgram `connect` (no lookup: an address), bounded by the deadline. */
function connectUdp(udp: dgram.Socket, relay: IpAddress, port: number, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) { reject(new Error('aborted')); return; }
    const timer = setTimeout(() => reject(new Error(`no connect within ${timeoutMs} ms`)), timeoutMs);
    const done = (e?: Error | null): void => {
      clearTimeout(timer);
      udp.removeListener('error', done);
      if (e) reject(e);
      else resolve();
    };
    udp.once('error', done);
    udp.connect(port, formatAddress(relay), () => done());
  });
}

function failRelay(control: net.Socket, udp: dgram.Socket | undefined, proxy: Socks5Proxy, why: string): Socks5Error {
  control.destroy();
  try {
    udp?.close();
  } catch {
    // already closed
  }
  return stageError(codedError(Error, 'ERR_SOCKS5_RELAY', `SOCKS5 proxy ${proxy.host}:${proxy.port}: ${why}`), 'relay', `${proxy.host}:${proxy.port}`);
}

function checkBound(v: unknown, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw invalidArgValue(name, v, 'must be a positive integer');
  return v;
}

/** @internal for tests: `socks5Connect`'s handshake and hand-over over any duplex (an in-memory pair). */
export function handshakeOver(stream: Duplex, request: HandshakeRequest, timeoutMs: number, signal?: AbortSignal): Promise<Socks5Bound> {
  const s = stream as net.Socket;
  const p = runHandshake(s, () => new Socks5Handshake(request), { proxy: { host: 'test', port: 1 }, destination: request.destination, syscall: 'connect', timeoutMs, signal });
  // An in-memory duplex has no 'connect': it is connected already.
  queueMicrotask(() => s.emit('connect'));
  return p.then((r) => boundInfo(handOver(stream, r)));
}
