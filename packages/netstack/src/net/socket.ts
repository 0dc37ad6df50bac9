/**
 * `Socket`: a node:net-shaped TCP socket (a `stream.Duplex`) over one
 * `TcpConnection` of the core.
 *
 * Data path and back-pressure (TCP's own, end to end):
 *  - writing: `_write` copies into the core's send buffer (`conn.write`); what does
 *    not fit stays here and the write callback waits for `onWritable`. So Duplex's
 *    buffer fills, `write()` returns false, and `'drain'` follows when the peer's
 *    ACKs free space in the send buffer.
 *  - reading: `onReadable` moves bytes from the core (`conn.read`) into `push`;
 *    when `push` returns false we stop taking bytes, the core's receive buffer
 *    fills and the advertised window closes; `_read` resumes. The peer's FIN
 *    becomes `push(null)` once the core's buffer is drained.
 *  - `end()` -> `_final` -> `conn.shutdown` (FIN after queued data).
 *  - `destroy()` -> `conn.close`: FIN if every received byte was taken from the
 *    core, RST if unread bytes remain (RFC 9293 §3.10.4, RFC 2525 §2.17), like
 *    close(2). `resetAndDestroy()` -> `conn.abort` (RST).
 *
 * Events are node's: 'connect', 'ready', 'data', 'end', 'finish', 'close'(hadError),
 * 'timeout', 'error'. Operational errors carry node's code/errno/syscall and are
 * emitted on a later tick (stream.destroy defers 'error'; 'close' follows on
 * setImmediate, as libuv's handle close does). Core callbacks arrive synchronously
 * from the packet path; we emit from there, as node emits from libuv callbacks.
 */
import { Duplex } from 'node:stream';
import type { SocketConnectOpts as NetSocketConnectOpts } from 'node:net';
import { ADDRCONFIG } from 'node:dns';
import { getDefaultAutoSelectFamily, getDefaultAutoSelectFamilyAttemptTimeout, isIP } from 'node:net';
import { realTimeScheduler, type Scheduler } from '@netstack/common';
import { addressFamily, IPV6_ANY, parseAddress, type AddressFamily, type IpAddress, type Ipv6Address } from '@netstack/ip';
import { formatReported, IPV6_LOOPBACK, parseIpLiteral, parseIpv6Literal, splitIpv6Literal, unmapIpv4, zoneOk } from '../ip-literal.js';
import type { TcpConnection, TcpConnectionOptions, TcpError, TcpHandler } from '@netstack/tcp';
import { isPipeName, parseHost, validateAbortSignal, validateBoolean, validateFunction, validatePort, validateTimeout } from './args.js';
import { bindClash, DEFAULT_HIGH_WATER_MARK, kContext, type LookupFunction, type NetContext } from './context.js';
import { abortError, codedError, endedByPeerError, errnoError, invalidArgType, invalidArgValue, stackClosedError } from './errors.js';
import { HandleSlot } from '../lifetime.js';
import { rethrow, runUserCode, type Notifiable } from '../events.js';

/** Options of `new Socket()` (node's SocketConstructorOpts, TCP subset). */
export interface SocketOptions {
  /** Keep the writable side open after the peer's FIN (default false: end it too). */
  allowHalfOpen?: boolean;
  /** Aborting destroys the socket with an AbortError. */
  signal?: AbortSignal;
  highWaterMark?: number;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  /** ms before the first keepalive probe. */
  keepAliveInitialDelay?: number;
  /**
   * node's `onread`: received bytes are copied into ONE reused buffer and handed to
   * `callback(bytes, buffer)` instead of 'data' (no allocation per read). `false` from the
   * callback pauses reading (the core's receive window closes as its buffer fills) until
   * `resume()`. A function as `buffer` is called once, when the socket is made.
   */
  onread?: SocketOnRead;
}

/** node's `onread` option (net.Socket): one buffer for every read, and the callback that takes each. */
export interface SocketOnRead {
  buffer: Uint8Array | (() => Uint8Array);
  callback: (bytesWritten: number, buf: Uint8Array) => boolean | void;
}

export type { LookupFunction } from './context.js';

/** Where to connect (node's TcpSocketConnectOpts). */
export interface TcpConnectOptions {
  port: number | string;
  /** An IP literal, or a name resolved by `lookup` (default: the stack's `stack.dns.lookup`). Default 'localhost'. */
  host?: string;
  localAddress?: string;
  localPort?: number;
  /** 0, 4 or 6 ('IPv4' / 'IPv6'): what to ask `lookup` for (the stack itself has IPv4 only). */
  family?: number | 'IPv4' | 'IPv6';
  /** getaddrinfo hints for `lookup` (default dns.ADDRCONFIG when no family is asked, as node). */
  hints?: number;
  /** Resolves `host` when it is not an IP literal (node's `lookup` option). */
  lookup?: LookupFunction;
  /** Try every address `lookup` gives, alternating families (node's happy eyeballs). Default net.getDefaultAutoSelectFamily(). */
  autoSelectFamily?: boolean;
  /** ms before the next address is tried (min 10; default net.getDefaultAutoSelectFamilyAttemptTimeout()). */
  autoSelectFamilyAttemptTimeout?: number;
  /** Idle timeout in ms (`socket.setTimeout`). */
  timeout?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
}

export type ConnectOptions = SocketOptions & TcpConnectOptions;

export interface AddressInfo {
  address: string;
  family: AddressFamily;
  port: number;
}

/**
 * The server that accepted a socket. server.ts merges its `Server` into this interface
 * (\`declare module './socket.js'\`), so this file need not import server.ts, which imports it.
 */
export interface AcceptingServer {}

/** @internal an accepted connection is attached through this (see server.ts). */
export const kAttachAccepted: unique symbol = Symbol('netstack.net.attachAccepted');
/** @internal the core handler of a socket (the listener's accept needs it). */
export const kHandler: unique symbol = Symbol('netstack.net.handler');
/**
 * @internal the gateway relay's write (gateway.ts `Pump`): straight into the core's send
 * buffer when nothing is queued in the stream (no Writable machinery per chunk). Returns
 * the bytes the core took (the caller writes the rest with `write()`), or -1 when the
 * stream must do it (connecting, queued writes, ended, destroyed, an error to report).
 */
export const kWriteNow: unique symbol = Symbol('netstack.net.writeNow');
/**
 * @internal the gateway relay's read straight into the core's send buffer (gateway.ts
 * `Pump`): `[kWriteSpace](max)` is a view of free send-buffer storage (empty when the
 * stream must write instead, as for kWriteNow, or nothing is free), which an upstream
 * socket's read fills; `[kCommitSpace](view, n)` then sends those bytes as kWriteNow would
 * have (copied in if the buffer changed meanwhile). -1: the stream must write them.
 */
export const kWriteSpace: unique symbol = Symbol('netstack.net.writeSpace');
export const kCommitSpace: unique symbol = Symbol('netstack.net.commitSpace');
/**
 * @internal `[kWhenSpace](now, later, cb)`: true when the core's send buffer may take `now`
 * bytes at once; else false, and `cb` is called once it may take `later` (checked as ACKs
 * free space), so a relay whose source found too little room stops reading until then,
 * instead of reading into a buffer of its own and copying. One waiter; dropped when the
 * socket is destroyed.
 */
export const kWhenSpace: unique symbol = Symbol('netstack.net.whenSpace');

interface PendingWrite {
  chunk: Buffer;
  off: number;
  cb: (err?: Error | null) => void;
}

/** A `localAddress` as given: its text, the address, and its zone. */
interface LocalAddress {
  text: string;
  address: IpAddress;
  zone: string | undefined;
}

/** `::` (IPV6_ANY) as the facade compares it. */
const IPV6_ANY_TEXT_ADDR = IPV6_ANY;

interface InternalSocketOptions extends SocketOptions {
  [kContext]?: NetContext;
}

const NOOP_HANDLER: TcpHandler = {};
/** kWriteSpace's answer when the stream must write. */
const NO_SPACE = new Uint8Array(0);

const EV_ESTABLISHED = 1;
const EV_READ = 2;
const EV_WRITE = 4;
const EV_CLOSED = 8;

interface SocketNotes extends Notifiable {
  events: number;
  error: TcpError | undefined;
}

/** What the idle timeout needs of a clock (real time by default, unref'd as node's own socket timers are). */
type IdleClock = Scheduler;
const READ_CHUNK = 64 * 1024;

export class Socket extends Duplex {
  /** The server that accepted this socket (node's `socket.server`), else null. */
  server: AcceptingServer | null = null;
  /** "address:port" of each address tried when autoSelectFamily had several (node sets it then only). */
  declare autoSelectFamilyAttemptedAddresses: string[];
  /** The idle timeout set by `setTimeout`, ms (node's `socket.timeout`; undefined until set). */
  timeout?: number;

  readonly #ctx: NetContext | undefined;
  readonly #handler: TcpHandler;
  #conn: TcpConnection | undefined = undefined;
  #connecting = false;
  #coreClosed = false;
  #reading = false;
  /** The `onread` option, its buffer made (undefined: bytes go through push/'data'). */
  #onread: { buffer: Uint8Array; callback: SocketOnRead['callback'] } | undefined = undefined;
  #eofPushed = false;
  #resetting = false;
  #pending: PendingWrite | undefined = undefined;
  /** The kWhenSpace waiter: called once the core's send buffer may take `min` bytes. */
  #spaceWaiter: { min: number; cb: () => void } | undefined = undefined;
  #bytesRead = 0;
  #bytesDispatched = 0;
  #noDelay: boolean | undefined;
  #keepAlive: { enable: boolean; delay: number } | undefined;
  /** The idle timer's handle on `#timerClock()` (undefined: not armed). */
  #timer: unknown = undefined;
  /** When the socket last read or wrote (the idle timer's reference point), on the same clock. */
  #lastActive = 0;
  /** The clock the idle timer was armed on (undefined: none). */
  #timerClock: IdleClock | undefined = undefined;
  #local: AddressInfo | undefined = undefined;
  /** An AF_INET6 socket: IPv4 addresses reported IPv4-mapped, family 'IPv6'. */
  #mapped = false;
  /** The family of the single connect attempt under way ('connectionAttemptFailed' names it). */
  #attemptFamily = 4;
  /** node's details of a failed connect when localAddress and localPort were both given ("la:lp"). */
  #localDetail: string | undefined = undefined;
  #remote: AddressInfo | undefined = undefined;
  /** Where we were asked to connect (for error messages before the peer is known). */
  #target: { address: string; port: number } | undefined = undefined;
  #onDestroyed: (() => void) | undefined = undefined;
  #closeEmitted = false;
  /** Its place in the stack's life (lifetime.ts): ref'd or not, counted, ended by stack.close(). */
  readonly #slot = new HandleSlot({ stackClosed: () => this.#onStackClosed() });
  /** Several addresses being tried in turn (autoSelectFamily), else undefined. */
  #multi: MultiConnect | undefined = undefined;
  /** Core events not yet acted on, and this socket's place in the stack's event queue. */
  readonly #notes: SocketNotes = { notifyQueued: false, events: 0, error: undefined, notify: () => this.#onNotify() };

  constructor(options: SocketOptions = {}) {
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
    validateBoolean(options.allowHalfOpen, 'options.allowHalfOpen');
    validateAbortSignal(options.signal, 'options.signal');
    const hwm = options.highWaterMark;
    super({
      allowHalfOpen: options.allowHalfOpen === true,
      // 'close' is ours to emit, with hadError (node does the same).
      emitClose: false,
      autoDestroy: true,
      readableHighWaterMark: options.readableHighWaterMark ?? hwm ?? DEFAULT_HIGH_WATER_MARK,
      writableHighWaterMark: options.writableHighWaterMark ?? hwm ?? DEFAULT_HIGH_WATER_MARK,
    });
    this.#ctx = (options as InternalSocketOptions)[kContext];
    const onread = options.onread;
    if (onread !== undefined && onread !== null) {
      if (typeof onread !== 'object') throw invalidArgType('options.onread', 'of type object', onread);
      validateFunction(onread.callback, 'options.onread.callback');
      const buffer = typeof onread.buffer === 'function' ? onread.buffer() : onread.buffer;
      if (!(buffer instanceof Uint8Array) || buffer.length === 0) throw invalidArgType('options.onread.buffer', 'an instance of Buffer, TypedArray, or a function returning one', buffer);
      this.#onread = { buffer, callback: onread.callback };
    }
    if (options.noDelay === true) this.#noDelay = true;
    if (options.keepAlive !== undefined || options.keepAliveInitialDelay !== undefined) {
      this.#keepAlive = { enable: options.keepAlive === true, delay: Math.max(0, Math.trunc(options.keepAliveInitialDelay ?? 0)) };
    }
    // The core's events are only noted here; they are acted on (and Node's events
    // emitted) when the stack's event queue runs this socket (events.ts): never in the
    // middle of the core's or the stack's work.
    const notes = this.#notes;
    this.#handler = {
      onEstablished: () => this.#note(EV_ESTABLISHED),
      onReadable: () => this.#note(EV_READ),
      onRemoteFin: () => this.#note(EV_READ),
      onWritable: () => this.#note(EV_WRITE),
      onClosed: (_c, err) => { notes.error = err; this.#note(EV_CLOSED); },
    };
    // Without allowHalfOpen, writing after the peer's FIN is EPIPE (node's writeAfterFIN).
    this.on('end', () => {
      if (!this.allowHalfOpen) (this as { write: unknown }).write = writeAfterFIN;
    });
    const signal = options.signal;
    if (signal !== undefined) {
      const onAbort = (): void => { this.destroy(abortError(signal.reason)); };
      if (signal.aborted) process.nextTick(onAbort);
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        this.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
  }

  // ------------------------------------------------------------------ connect

  /**
   * `connect(options[, cb])` or `connect(port, host[, cb])`. Validation throws at
   * once; the SYN leaves on the next tick (node connects an IP literal on nextTick
   * too), so listeners and options set right after the call apply.
   */
  // node's own option type too, so that a Socket is a `net.Socket` to TypeScript (validated the same way).
  connect(options: TcpConnectOptions | NetSocketConnectOpts, connectListener?: () => void): this;
  connect(port: number | string, host?: string, connectListener?: () => void): this;
  connect(port: number | string, connectListener?: () => void): this;
  connect(...args: unknown[]): this {
    const [opts, cb] = normalizeConnectArgs(args);
    const ctx = this.#ctx;
    if (ctx === undefined) {
      throw codedError(Error, 'ERR_INVALID_STATE', 'Invalid state: this Socket belongs to no stack; create it with new stack.tcp.Socket() or stack.tcp.connect()');
    }
    if (this.#connecting || this.#conn !== undefined || this.destroyed) {
      throw codedError(Error, 'ERR_SOCKET_CONNECTING', 'Socket is already connecting or connected');
    }
    if (opts.port === undefined) {
      throw codedError(TypeError, 'ERR_MISSING_ARGS', 'The "options" or "port" or "path" argument must be specified');
    }
    if (typeof opts.port !== 'number' && typeof opts.port !== 'string') {
      throw invalidArgType('options.port', 'one of type number or string', opts.port);
    }
    const port = validatePort(opts.port, 'Port');
    // node: `options.host || 'localhost'`; an IP literal skips the lookup.
    const hostText: unknown = opts.host === undefined || opts.host === null || opts.host === '' ? 'localhost' : opts.host;
    if (typeof hostText !== 'string') throw invalidArgType('hostname', 'of type string', hostText);
    const literal = parseAddress(hostText) !== undefined ? 4 : parseIpv6Literal(hostText) !== undefined ? 6 : 0;
    let remote: IpAddress = 0;
    if (literal === 4) {
      remote = parseHost('options.host', hostText).address;
      if (remote === 0 || remote === 0xffffffff || remote >>> 28 >= 0xe) {
        throw invalidArgValue('options.host', opts.host, 'must be a unicast IPv4 address');
      }
    }
    let localAddress: LocalAddress | undefined;
    if (opts.localAddress !== undefined) {
      const a = typeof opts.localAddress === 'string' ? parseIpLiteral(opts.localAddress) : undefined;
      if (a === undefined) throw codedError(TypeError, 'ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${String(opts.localAddress)}`);
      const text = opts.localAddress as string;
      localAddress = { text, address: a, zone: typeof a === 'string' ? splitIpv6Literal(text)?.zone : undefined };
    }
    let localPort: number | undefined;
    if (opts.localPort !== undefined) {
      if (typeof opts.localPort !== 'number') throw invalidArgType('options.localPort', 'of type number', opts.localPort);
      localPort = validatePort(opts.localPort, 'options.localPort');
    }
    const family = opts.family === 'IPv4' ? 4 : opts.family === 'IPv6' ? 6 : opts.family;
    if (family !== undefined && family !== null && family !== 0 && family !== 4 && family !== 6) {
      throw invalidArgValue('options.family', opts.family, 'must be one of: 0, 4, 6');
    }
    if (literal === 0 && opts.lookup !== undefined && opts.lookup !== null) validateFunction(opts.lookup, 'options.lookup');
    validateBoolean(opts.autoSelectFamily, 'options.autoSelectFamily');
    let attemptTimeout = getDefaultAutoSelectFamilyAttemptTimeout();
    if (opts.autoSelectFamilyAttemptTimeout !== undefined && opts.autoSelectFamilyAttemptTimeout !== null) {
      const t = opts.autoSelectFamilyAttemptTimeout;
      if (typeof t !== 'number') throw invalidArgType('options.autoSelectFamilyAttemptTimeout', 'of type number', t);
      if (!Number.isInteger(t) || t < 1 || t > 0x7fffffff) {
        throw codedError(RangeError, 'ERR_OUT_OF_RANGE', `The value of "options.autoSelectFamilyAttemptTimeout" is out of range. It must be >= 1 && <= 2147483647. Received ${t}`);
      }
      attemptTimeout = Math.max(t, 10);
    }
    validateBoolean(opts.noDelay, 'options.noDelay');
    validateBoolean(opts.keepAlive, 'options.keepAlive');
    if (opts.noDelay === true) this.#noDelay = true;
    if (opts.keepAlive !== undefined || opts.keepAliveInitialDelay !== undefined) {
      this.#keepAlive = { enable: opts.keepAlive === true, delay: Math.max(0, Math.trunc(opts.keepAliveInitialDelay ?? 0)) };
    }
    if (opts.timeout !== undefined && opts.timeout !== 0) this.setTimeout(opts.timeout);
    if (cb !== undefined) this.once('connect', cb);
    this.#connecting = true;
    this.#target = { address: hostText, port };
    this.#syncLife();
    if (literal !== 0) {
      process.nextTick(() => {
        if (!this.#connecting || this.destroyed) return;
        const ex = this.#connectAddress(ctx, hostText, literal, port, localAddress, localPort, true);
        if (ex !== undefined) this.destroy(ex);
      });
    } else {
      // node calls the lookup from inside connect() (lib/net.js lookupAndConnect).
      const autoSelect = opts.autoSelectFamily ?? getDefaultAutoSelectFamily();
      const lookup = opts.lookup ?? ctx.lookup;
      const dnsopts: Parameters<LookupFunction>[1] = { family: family ?? undefined, hints: opts.hints || 0 };
      if (family !== 4 && family !== 6 && dnsopts.hints === 0) dnsopts.hints = ADDRCONFIG;
      if (family !== 4 && family !== 6 && localAddress === undefined && autoSelect) {
        dnsopts.all = true;
        lookup(hostText, dnsopts, (err, addresses) => this.#afterLookupAll(ctx, hostText, port, localPort, attemptTimeout, err, addresses));
      } else {
        lookup(hostText, dnsopts, (err, ip, addressType) => this.#afterLookup(ctx, hostText, port, localAddress, localPort, err, ip, addressType));
      }
    }
    return this;
  }

  /** node's emitLookup (lib/net.js): one address. */
  #afterLookup(ctx: NetContext, host: string, port: number, localAddress: LocalAddress | undefined, localPort: number | undefined,
    err: NodeJS.ErrnoException | null, ip: unknown, addressType: unknown): void {
    this.emit('lookup', err, ip, addressType, host);
    if (!this.#connecting) return; // destroyed while looking up
    if (err) { process.nextTick(() => this.destroy(err)); return; }
    if (typeof ip !== 'string' || isIP(ip) === 0) { process.nextTick(() => this.destroy(invalidIpError(ip))); return; }
    if (addressType !== 4 && addressType !== 6) { process.nextTick(() => this.destroy(badFamilyError(addressType, host, port))); return; }
    this.#target = { address: ip, port };
    const ex = this.#connectAddress(ctx, ip, addressType, port, localAddress, localPort, true);
    if (ex !== undefined) this.destroy(ex);
  }

  /** node's lookupAndConnectMultiple: every address, IPv4 and IPv6 alternating from the family of the first. */
  #afterLookupAll(ctx: NetContext, host: string, port: number, localPort: number | undefined, timeout: number,
    err: NodeJS.ErrnoException | null, addresses: unknown): void {
    if (!this.#connecting) return;
    if (err) {
      this.emit('lookup', err, undefined, undefined, host);
      process.nextTick(() => this.destroy(err));
      return;
    }
    const list = Array.isArray(addresses) ? (addresses as { address?: unknown; family?: unknown }[]) : [];
    const valid: { address: string; family: number }[][] = [[], []];
    let order: Record<number, number> | undefined;
    for (const a of list) {
      const ip = a?.address;
      const fam = a?.family;
      this.emit('lookup', err, ip, fam, host);
      if (!this.#connecting) return;
      if (typeof ip === 'string' && isIP(ip) !== 0 && (fam === 4 || fam === 6)) {
        order ??= fam === 6 ? { 6: 0, 4: 1 } : { 4: 0, 6: 1 };
        const group = valid[order[fam]!]!;
        if (!group.some((g) => g.address === ip)) group.push({ address: ip, family: fam });
      }
    }
    if (valid[0]!.length === 0 && valid[1]!.length === 0) {
      const first = list[0];
      const ip = first?.address;
      const ex = typeof ip !== 'string' || isIP(ip) === 0 ? invalidIpError(ip) : badFamilyError(first?.family, host, port);
      process.nextTick(() => this.destroy(ex));
      return;
    }
    const toAttempt: { address: string; family: number }[] = [];
    for (let i = 0; i < Math.max(valid[0]!.length, valid[1]!.length); i++) {
      if (i < valid[0]!.length) toAttempt.push(valid[0]![i]!);
      if (i < valid[1]!.length) toAttempt.push(valid[1]![i]!);
    }
    if (toAttempt.length === 1) {
      const only = toAttempt[0]!;
      this.#target = { address: only.address, port };
      const ex = this.#connectAddress(ctx, only.address, only.family, port, undefined, localPort, true);
      if (ex !== undefined) this.destroy(ex);
      return;
    }
    this.autoSelectFamilyAttemptedAddresses = [];
    this.#multi = { addresses: toAttempt, current: 0, port, localPort, timeout, timer: undefined, timerClock: undefined, errors: [], family: 0 };
    this.#connectMultiple(ctx);
  }

  /** node's internalConnectMultiple: the next address, with a timer unless it is the last. */
  #connectMultiple(ctx: NetContext): void {
    const m = this.#multi;
    if (m === undefined) return;
    this.#cancelAttemptTimer(m);
    if (this.destroyed || !this.#connecting) return;
    if (m.current === m.addresses.length) {
      this.#multi = undefined;
      this.destroy(m.errors.length === 0 ? codedError(Error, 'ERR_SOCKET_CONNECTION_TIMEOUT', 'Socket connection timeout') : aggregateError(m.errors));
      return;
    }
    const { address, family } = m.addresses[m.current++]!;
    this.autoSelectFamilyAttemptedAddresses.push(`${address}:${m.port}`);
    this.#target = { address, port: m.port };
    m.family = family;
    this.emit('connectionAttempt', address, m.port, family);
    const ex = this.#connectAddress(ctx, address, family, m.port, undefined, m.localPort, false);
    if (ex !== undefined) {
      m.errors.push(ex);
      this.emit('connectionAttemptFailed', address, m.port, family, ex);
      this.#connectMultiple(ctx);
      return;
    }
    if (m.current < m.addresses.length) {
      const clock = this.#idleClock();
      m.timerClock = clock;
      m.timer = clock.setTimer(() => this.#onAttemptTimeout(ctx, m, address, family), m.timeout);
    }
  }

  /** node's internalConnectMultipleTimeout: give up this attempt (RST: it may have reached the peer) and try the next. */
  #onAttemptTimeout(ctx: NetContext, m: MultiConnect, address: string, family: number): void {
    m.timer = undefined;
    if (this.#multi !== m || this.destroyed || !this.#connecting) return;
    this.emit('connectionAttemptTimeout', address, m.port, family);
    m.errors.push(errnoError('ETIMEDOUT', 'connect', address, m.port));
    const c = this.#conn;
    this.#conn = undefined;
    this.#notes.events = 0;
    if (c !== undefined) {
      c.handler = NOOP_HANDLER;
      if (c.state !== 'CLOSED') c.abort(ctx.clock.now());
      ctx.clock.schedule();
    }
    if (this.#connecting) this.#connectMultiple(ctx);
  }

  #cancelAttemptTimer(m: MultiConnect): void {
    if (m.timer !== undefined) m.timerClock?.cancel(m.timer);
    m.timer = undefined;
  }

  /**
   * node's internalConnect for one resolved address (lib/net.js): bind when a local address
   * or port is asked (errors with syscall 'bind'), 'connectionAttempt' (`single`: not when
   * #connectMultiple emitted it), then connect. Returns the error of a connect that failed at
   * once; node names the socket's own address in it ("- Local (:::0)"). The codes are what
   * Linux gives node (measured with node 20 in a network namespace): a local address of the
   * other family EINVAL, one the host does not hold EADDRNOTAVAIL, a link-local one without
   * the interface's zone EINVAL (for the peer's address too); IPv6 on a host without IPv6
   * (net.ipv6.conf.all.disable_ipv6 = 1, here a stack without IPv6 addresses)
   * EADDRNOTAVAIL; no route ENETUNREACH.
   */
  #connectAddress(ctx: NetContext, ip: string, family: number, port: number, localAddress: LocalAddress | undefined,
    localPort: number | undefined, single: boolean): Error | undefined {
    // The socket's family is the peer's (an AF_INET6 socket for an IPv6 address, mapped or not).
    const six = family === 6;
    this.#mapped = six;
    this.#attemptFamily = six ? 6 : 4;
    const dual = ctx.ownAddresses6.length > 0;
    let local: IpAddress | undefined;
    let localText = six ? ':::0' : '0.0.0.0:0';
    if (localAddress !== undefined) {
      const la = localAddress.address;
      const lport = localPort ?? 0;
      // bind(2) of the other family: libuv cannot even make the sockaddr (EINVAL).
      if ((typeof la === 'number') === six) return errnoError('EINVAL', 'bind', localAddress.text, lport);
      const l4 = typeof la === 'string' ? unmapIpv4(la) : la;
      if (typeof la === 'string' && l4 === undefined && !zoneOk(la, localAddress.zone, ctx.interfaceName)) return errnoError('EINVAL', 'bind', localAddress.text, lport);
      const ours = l4 !== undefined ? l4 === 0 || ctx.ownAddresses4.includes(l4) || l4 >>> 24 === 127
        : la === IPV6_ANY_TEXT_ADDR || ctx.ownAddresses6.includes(la as Ipv6Address) || (la === IPV6_LOOPBACK && dual);
      if (!ours) return errnoError('EADDRNOTAVAIL', 'bind', localAddress.text, lport);
      local = l4 ?? la;
      localText = `${six ? formatReported(local, true, ctx.interfaceName) : localAddress.text}:${lport}`;
      if (local === 0 || local === IPV6_ANY_TEXT_ADDR) local = undefined;
    }
    // A port a listener of this stack holds: bind(2)'s EADDRINUSE (the core checks 4-tuples only).
    if (localPort !== undefined && localPort !== 0 && bindClash(ctx, localPort, local, six)) {
      return errnoError('EADDRINUSE', 'bind', localAddress?.text ?? (six ? '::' : '0.0.0.0'), localPort);
    }
    // node's afterConnect names the local address of a later failure when both were given.
    this.#localDetail = localAddress !== undefined && localPort !== undefined && localPort !== 0 ? `${localAddress.text}:${localPort}` : undefined;
    if (single) this.emit('connectionAttempt', ip, port, family);
    if (!this.#connecting || this.destroyed) return undefined;
    let remote: IpAddress | undefined;
    if (six) {
      const a = splitIpv6Literal(ip);
      const v4 = a === undefined ? undefined : unmapIpv4(a.address);
      if (a === undefined) return errnoError('EINVAL', 'connect', ip, port, false, localText);
      if (v4 !== undefined) {
        // An AF_INET6 socket towards an IPv4-mapped address speaks IPv4 and reports it mapped.
        if (local !== undefined && typeof local === 'string') return errnoError('EINVAL', 'connect', ip, port, false, localText);
        remote = v4;
      } else {
        if (!dual) return errnoError('EADDRNOTAVAIL', 'connect', ip, port, false, localText);
        if (!zoneOk(a.address, a.zone, ctx.interfaceName)) return errnoError('EINVAL', 'connect', ip, port, false, localText);
        if (typeof local === 'number') return errnoError('EINVAL', 'connect', ip, port, false, localText);
        remote = a.address;
      }
    } else {
      remote = parseAddress(ip);
    }
    if (remote === undefined || (typeof remote === 'number' && (remote === 0 || remote === 0xffffffff || remote >>> 28 >= 0xe))) {
      return errnoError('ENETUNREACH', 'connect', ip, port, false, localText);
    }
    return this.#openConn(ctx, remote, port, local, localPort, localText);
  }

  /** Opens the core connection; returns the error when it cannot even start. */
  #openConn(ctx: NetContext, remote: IpAddress, port: number, localAddress: IpAddress | undefined, localPort: number | undefined, localText: string): Error | undefined {
    const target = this.#target!;
    if (ctx.life.closed) return stackClosedError('connect', target.address, target.port);
    if (port === 0) {
      // Linux refuses port 0 (the core rejects it as an argument).
      return errnoError('ECONNREFUSED', 'connect', target.address, port);
    }
    const options: TcpConnectionOptions = {};
    if (this.#noDelay !== undefined) options.noDelay = this.#noDelay;
    if (this.#keepAlive !== undefined) {
      options.keepAlive = this.#keepAlive.enable;
      if (this.#keepAlive.delay > 0) options.keepAliveInitialDelay = this.#keepAlive.delay;
    }
    try {
      this.#conn = ctx.layer.connect({
        remoteAddress: remote,
        remotePort: port,
        ...(localAddress !== undefined ? { localAddress } : {}),
        ...(localPort !== undefined && localPort !== 0 ? { localPort } : {}),
        options,
      }, ctx.clock.now(), this.#handler);
    } catch (e) {
      ctx.clock.schedule();
      const code = (e as { code?: unknown }).code;
      return errnoError(typeof code === 'string' && code.startsWith('E') && !code.startsWith('ERR_') ? code : 'ENETUNREACH', 'connect', target.address, port, false, localText);
    }
    ctx.clock.schedule();
    return undefined;
  }

  #note(ev: number): void {
    const n = this.#notes;
    n.events |= ev;
    if (n.notifyQueued) return;
    const ctx = this.#ctx;
    if (ctx !== undefined) ctx.events.post(n);
    else this.#onNotify();
  }

  /** Acts on the core's events, in their order; each step's user code isolated from the next. */
  #onNotify(): void {
    const n = this.#notes;
    const ev = n.events;
    n.events = 0;
    if (ev & EV_ESTABLISHED) runUserCode(() => this.#onEstablished());
    // runUserCode's guarantee without its closure (one per readable batch of a socket).
    if (ev & EV_READ) {
      try {
        this.#pull();
      } catch (e) {
        process.nextTick(rethrow, e);
      }
    }
    if (ev & EV_WRITE) runUserCode(() => { this.#flushWrite(); this.#checkSpace(); });
    if (ev & EV_CLOSED) {
      const err = n.error;
      n.error = undefined;
      runUserCode(() => this.#onCoreClosed(err));
    }
  }

  #onEstablished(): void {
    const c = this.#conn;
    if (c === undefined || this.destroyed) return;
    if (this.#multi !== undefined) { this.#cancelAttemptTimer(this.#multi); this.#multi = undefined; }
    this.#connecting = false;
    this.#cacheAddresses(c);
    this.#touch();
    this.emit('connect');
    this.emit('ready');
    // Start reading (node: `if (readable && !isPaused()) read(0)`).
    if (!this.destroyed && !this.isPaused()) this.read(0);
  }

  /** @internal attaches an accepted connection (server.ts). Returns the handler for `listener.accept`. */
  [kAttachAccepted](conn: TcpConnection, server: AcceptingServer | null, onDestroyed: () => void, pauseOnConnect: boolean, mapped = false): void {
    this.#conn = conn;
    this.#mapped = mapped;
    this.server = server;
    this.#syncLife();
    this.#onDestroyed = onDestroyed;
    this.#cacheAddresses(conn);
    if (conn.state === 'CLOSED') this.#coreClosed = true;
    if (pauseOnConnect) (this as { readableFlowing: boolean | null }).readableFlowing = false;
    else this.read(0);
  }

  /** @internal */
  get [kHandler](): TcpHandler { return this.#handler; }

  #cacheAddresses(c: TcpConnection): void {
    // An AF_INET6 socket (dual-stack listener, connect to an IPv6 literal) reports IPv4 mapped;
    // a link-local address carries its zone.
    const name = this.#ctx?.interfaceName ?? '';
    const fmt = (a: IpAddress): string => formatReported(a, this.#mapped, name);
    const fam = (a: IpAddress): AddressFamily => (this.#mapped ? 'IPv6' : addressFamily(a));
    this.#local = { address: fmt(c.localAddress), family: fam(c.localAddress), port: c.localPort };
    this.#remote = { address: fmt(c.remoteAddress), family: fam(c.remoteAddress), port: c.remotePort };
  }

  // ------------------------------------------------------------------ reading

  override _read(_size: number): void {
    this.#reading = true;
    this.#pull();
  }

  /** With `onread`, reading stops here too (node's readStop), as nothing is pushed to pause. */
  override pause(): this {
    if (this.#onread !== undefined) this.#reading = false;
    return super.pause();
  }

  /** With `onread`, reading starts again from the stack's event queue (node's tryReadStart: bytes come later, not inside resume()). */
  override resume(): this {
    if (this.#onread !== undefined && !this.#reading && !this.destroyed) {
      this.#reading = true;
      this.#note(EV_READ);
    }
    return super.resume();
  }

  /** Moves readable bytes from the core into the stream while the stream wants them. */
  #pull(): void {
    const c = this.#conn;
    const ctx = this.#ctx;
    if (c === undefined || ctx === undefined || this.destroyed || this.#eofPushed) return;
    let took = false;
    const onread = this.#onread;
    while (onread !== undefined && this.#reading && c.readableLength > 0 && !this.destroyed) {
      const n = c.read(onread.buffer, ctx.clock.now());
      if (n === 0) break;
      took = true;
      this.#bytesRead += n;
      let more: boolean | void = true;
      try {
        more = onread.callback(n, onread.buffer);
      } catch (e) {
        process.nextTick(rethrow, e);
      }
      if (more === false) this.#reading = false;
    }
    while (onread === undefined && this.#reading && c.readableLength > 0 && !this.destroyed) {
      const buf = Buffer.allocUnsafe(Math.min(c.readableLength, READ_CHUNK));
      const n = c.read(buf, ctx.clock.now());
      if (n === 0) break;
      took = true;
      this.#bytesRead += n;
      // Each push is one of node's read callbacks: a 'data' listener that throws ends
      // that callback, not the reading (the exception is re-thrown on the next tick).
      let more: boolean;
      try {
        more = this.push(n === buf.length ? buf : buf.subarray(0, n));
      } catch (e) {
        process.nextTick(rethrow, e);
        more = this.readableFlowing === true;
      }
      if (!more) this.#reading = false;
    }
    if (took) {
      ctx.clock.schedule();
      this.#touch();
    }
    if (c.remoteFinReceived && c.readableLength === 0 && !this.#eofPushed && !this.destroyed) {
      this.#eofPushed = true;
      // As node's onStreamRead: read(0) lets 'end' fire when nothing is buffered,
      // even if nobody consumes the stream.
      runUserCode(() => { this.push(null); this.read(0); });
    }
  }

  // ------------------------------------------------------------------ writing

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.#connecting) {
      // Node queues writes until 'connect'.
      this.once('connect', () => this._write(chunk, _encoding, cb));
      return;
    }
    if (this.#conn === undefined) {
      cb(codedError(Error, 'ERR_SOCKET_CLOSED', 'Socket is closed'));
      return;
    }
    this.#pending = { chunk, off: 0, cb };
    this.#flushWrite();
  }

  override _writev(chunks: { chunk: Buffer; encoding: BufferEncoding }[], cb: (err?: Error | null) => void): void {
    const first = chunks[0];
    if (chunks.length === 1 && first !== undefined) { this._write(first.chunk, first.encoding, cb); return; }
    this._write(Buffer.concat(chunks.map((c) => c.chunk)), 'buffer' as BufferEncoding, cb);
  }

  /** @internal see `kWriteNow`. */
  [kWriteNow](chunk: Uint8Array): number {
    const c = this.#conn;
    const ctx = this.#ctx;
    if (c === undefined || ctx === undefined || this.#connecting || this.#pending !== undefined || this.destroyed
      || this.writableEnded || this.writableLength !== 0 || this.writableCorked !== 0 || c.state === 'CLOSED') return -1;
    let n: number;
    try {
      n = c.write(chunk, ctx.clock.now());
    } catch {
      // EPIPE and the like: write() reports it the stream's way.
      ctx.clock.schedule();
      return -1;
    }
    ctx.clock.schedule();
    if (n > 0) {
      this.#bytesDispatched += n;
      this.#touch();
    }
    return n;
  }

  /** @internal see `kWriteSpace`. */
  [kWriteSpace](max: number): Uint8Array {
    const c = this.#conn;
    if (c === undefined || this.#ctx === undefined || this.#connecting || this.#pending !== undefined || this.destroyed
      || this.writableEnded || this.writableLength !== 0 || this.writableCorked !== 0 || c.state === 'CLOSED') return NO_SPACE;
    return c.writeSpace(max);
  }

  /** @internal see `kWhenSpace`. */
  [kWhenSpace](now: number, later: number, cb: () => void): boolean {
    const c = this.#conn;
    if (c !== undefined && c.sendFree >= now) return true;
    this.#spaceWaiter = { min: later, cb };
    this.#checkSpace();
    return false;
  }

  /** Calls the kWhenSpace waiter if the send buffer has its room now, else asks the core to say when an ACK frees some. */
  #checkSpace(): void {
    const w = this.#spaceWaiter;
    const c = this.#conn;
    if (w === undefined || c === undefined) return;
    if (this.destroyed) { this.#spaceWaiter = undefined; return; }
    if (c.sendFree >= w.min || c.state === 'CLOSED') {
      this.#spaceWaiter = undefined;
      w.cb();
      return;
    }
    c.wantSpace();
  }

  /** @internal see `kWriteSpace`. */
  [kCommitSpace](space: Uint8Array, n: number): number {
    const c = this.#conn;
    const ctx = this.#ctx;
    if (c === undefined || ctx === undefined || this.#connecting || this.#pending !== undefined || this.destroyed
      || this.writableEnded || this.writableLength !== 0 || this.writableCorked !== 0 || c.state === 'CLOSED') return -1;
    let taken: number;
    try {
      taken = c.commitWrite(space, n, ctx.clock.now());
    } catch {
      // EPIPE and the like: write() reports it the stream's way.
      ctx.clock.schedule();
      return -1;
    }
    ctx.clock.schedule();
    if (taken > 0) {
      this.#bytesDispatched += taken;
      this.#touch();
    }
    return taken;
  }

  /** Copies the pending chunk into the core as far as it accepts; completes the write when all is in. */
  #flushWrite(): void {
    const p = this.#pending;
    const c = this.#conn;
    const ctx = this.#ctx;
    if (p === undefined || c === undefined || ctx === undefined) return;
    let n: number;
    try {
      n = c.write(p.off === 0 ? p.chunk : p.chunk.subarray(p.off), ctx.clock.now());
    } catch (e) {
      ctx.clock.schedule();
      this.#pending = undefined;
      // The core throws only EPIPE here (write after shutdown/close); a reset or
      // timeout that ended the connection is reported with its own code.
      p.cb(errnoError(c.error !== undefined ? c.error.code : 'EPIPE', 'write'));
      return;
    }
    ctx.clock.schedule();
    if (n > 0) {
      p.off += n;
      this.#bytesDispatched += n;
      this.#touch();
    }
    if (p.off >= p.chunk.length) {
      this.#pending = undefined;
      p.cb();
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.#connecting) {
      this.once('connect', () => this._final(cb));
      return;
    }
    const c = this.#conn;
    const ctx = this.#ctx;
    if (c === undefined || ctx === undefined) { cb(); return; }
    c.shutdown(ctx.clock.now());
    ctx.clock.schedule();
    cb();
  }

  // ------------------------------------------------------------------ closing

  #onCoreClosed(err: TcpError | undefined): void {
    this.#coreClosed = true;
    if (this.destroyed) return;
    if (err !== undefined) {
      const m = this.#multi;
      if (this.#connecting && m !== undefined && this.#ctx !== undefined) {
        // One of several addresses failed (node's afterConnectMultiple): note it, try the next.
        const t = this.#target!;
        const ex = errnoError(err.code, 'connect', t.address, t.port);
        m.errors.push(ex);
        this.#conn = undefined;
        this.#coreClosed = false;
        this.emit('connectionAttemptFailed', t.address, t.port, m.family, ex);
        this.#connectMultiple(this.#ctx);
        return;
      }
      if (this.#connecting) {
        // node's afterConnect: 'connectionAttemptFailed', then the error.
        const t = this.#target!;
        const ex = errnoError(err.code, 'connect', t.address, t.port, false, this.#localDetail);
        if (this.#localDetail !== undefined) Object.assign(ex, { localAddress: this.#localDetail.slice(0, this.#localDetail.lastIndexOf(':')), localPort: Number(this.#localDetail.slice(this.#localDetail.lastIndexOf(':') + 1)) });
        this.emit('connectionAttemptFailed', t.address, t.port, this.#attemptFamily, ex);
        if (!this.destroyed) this.destroy(ex);
        return;
      }
      this.#pull();
      if (!this.destroyed) this.destroy(errnoError(err.code, 'read'));
      return;
    }
    // A clean end (TIME-WAIT or CLOSED after both FINs): hand over what is left.
    this.#pull();
    this.#flushWrite();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#cancelTimer();
    this.#connecting = false;
    const c = this.#conn;
    const ctx = this.#ctx;
    if (c !== undefined && ctx !== undefined) {
      c.handler = NOOP_HANDLER;
      if (!this.#coreClosed && c.state !== 'CLOSED') {
        // close(2): FIN when everything received was read, RST otherwise (the core decides).
        if (this.#resetting) c.abort(ctx.clock.now());
        else c.close(ctx.clock.now());
        ctx.clock.schedule();
      }
    }
    const p = this.#pending;
    this.#pending = undefined;
    // Like node, a write that was in flight when the handle closed completes (without error).
    if (p !== undefined) process.nextTick(p.cb);
    const hadError = err !== null && err !== undefined;
    cb(err);
    setImmediate(() => { this.#closeEmitted = true; this.emit('close', hadError); });
    const onDestroyed = this.#onDestroyed;
    this.#onDestroyed = undefined;
    onDestroyed?.();
    this.#syncLife();
  }

  /**
   * The stack closes: the kernel's answer to a socket destroyed by its own host (Linux
   * tcp_abort, as `ss -K` does): RST to the peer in synchronized states, and ECONNABORTED
   * to the socket ('error' on the next tick, then 'close'), for a pending connect too.
   */
  #onStackClosed(): void {
    if (this.destroyed) return;
    const t = this.#target;
    const err = this.#connecting && t !== undefined ? errnoError('ECONNABORTED', 'connect', t.address, t.port) : errnoError('ECONNABORTED', 'read');
    this.#resetting = true;
    this.destroy(err);
  }

  /**
   * Node's lifetime rule, applied to the stack's handle count (lifetime.ts): connecting or
   * open (until destroyed) the socket is an active handle, counted while ref'd, and a member
   * the stack ends on close().
   */
  #syncLife(): void {
    const ctx = this.#ctx;
    if (ctx === undefined) return;
    const active = !this.destroyed && (this.#connecting || this.#conn !== undefined);
    this.#slot.sync(ctx.life, active);
  }

  /** Sends RST and destroys (node's `resetAndDestroy`). */
  resetAndDestroy(): this {
    if (this.#connecting) {
      this.once('connect', () => { this.#resetting = true; this.destroy(); });
    } else if (this.#conn !== undefined) {
      this.#resetting = true;
      this.destroy();
    } else {
      this.destroy(codedError(Error, 'ERR_SOCKET_CLOSED', 'Socket is closed'));
    }
    return this;
  }

  /** Ends the writable side, then destroys once it finished (node's `destroySoon`, used by http). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /** Graceful close for `await using`: destroy (FIN, or RST with unread data) and wait for 'close'. */
  override async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closeEmitted) return;
    const closed = new Promise<void>((resolve) => this.once('close', () => resolve()));
    if (!this.destroyed) this.destroy();
    await closed;
  }

  // ------------------------------------------------------------------ options

  /** Idle timeout: 'timeout' after `msecs` without reads or writes (the socket stays open). 0 disables. */
  setTimeout(msecs: number, callback?: () => void): this {
    validateTimeout(msecs, 'msecs');
    this.timeout = msecs;
    this.#cancelTimer();
    if (msecs === 0) {
      if (callback !== undefined) {
        validateFunction(callback, 'callback');
        this.removeListener('timeout', callback);
      }
      return this;
    }
    if (this.destroyed) return this;
    this.#lastActive = this.#clockNow();
    this.#armTimer(msecs);
    if (callback !== undefined) {
      validateFunction(callback, 'callback');
      this.once('timeout', callback);
    }
    return this;
  }

  /**
   * Activity: restarts the idle timer. Lazily: only the time is noted (the hot path pays
   * one clock read); the armed timer, when it fires, re-arms for what is left. After a
   * 'timeout', activity arms it again (as node's timer refresh does).
   */
  #touch(): void {
    if (this.timeout === undefined || this.timeout <= 0) return;
    this.#lastActive = this.#clockNow();
    if (this.#timer === undefined && !this.destroyed) this.#armTimer(this.timeout);
  }

  /** The clock idle timeouts run on: the stack's (virtual in simulation), or real time before a stack is attached. */
  #idleClock(): IdleClock {
    const c = this.#ctx?.clock;
    return c?.setTimer !== undefined && c.cancel !== undefined ? (c as IdleClock) : realTimeScheduler;
  }

  #clockNow(): number {
    return (this.#timerClock ?? this.#idleClock()).now();
  }

  #armTimer(ms: number): void {
    const c = this.#timerClock ?? this.#idleClock();
    this.#timerClock = c; // lastActive and the timer stay on one clock while a timeout is set
    this.#timer = c.setTimer(() => this.#onIdleTimer(), ms);
  }

  #cancelTimer(): void {
    if (this.#timer !== undefined) this.#timerClock?.cancel(this.#timer);
    this.#timer = undefined;
    this.#timerClock = undefined;
  }

  #onIdleTimer(): void {
    this.#timer = undefined;
    const ms = this.timeout;
    if (this.destroyed || ms === undefined || ms <= 0) return;
    const now = this.#clockNow();
    const left = ms - (now - this.#lastActive);
    // A remainder the clock cannot add to its time (float resolution at large times: a
    // virtual clock at 4e6 ms absorbs 5e-10) is no time left, or the re-armed timer would
    // fire at this same instant forever.
    if (left <= 0 || now + left <= now) this.emit('timeout');
    else this.#armTimer(left);
  }

  setNoDelay(noDelay?: boolean): this {
    const v = noDelay === undefined ? true : Boolean(noDelay);
    if (this.#conn === undefined) { this.#noDelay = v; return this; }
    this.#conn.setNoDelay(v);
    return this;
  }

  /** Keepalive on/off; `initialDelay` (ms) > 0 sets the idle time before the first probe. */
  setKeepAlive(enable = false, initialDelay = 0): this {
    const delay = Math.max(0, Math.trunc(Number(initialDelay) || 0));
    const c = this.#conn;
    const ctx = this.#ctx;
    if (c === undefined || ctx === undefined) { this.#keepAlive = { enable: Boolean(enable), delay }; return this; }
    if (c.state === 'CLOSED') return this;
    c.setKeepAlive(Boolean(enable), delay, ctx.clock.now());
    ctx.clock.schedule();
    return this;
  }

  /**
   * As in Node: a connecting or open socket keeps the process alive until it is
   * destroyed; `unref()` lets the process exit anyway, `ref()` undoes it (the stack counts
   * ref'd handles, lifetime.ts). The idle-timeout timer never holds the process.
   */
  ref(): this { this.#slot.refed = true; this.#syncLife(); return this; }
  unref(): this { this.#slot.refed = false; this.#syncLife(); return this; }

  // ------------------------------------------------------------------ state

  address(): AddressInfo | Record<string, never> {
    return this.#local !== undefined ? { ...this.#local } : {};
  }

  get remoteAddress(): string | undefined { return this.#remote?.address; }
  get remotePort(): number | undefined { return this.#remote?.port; }
  get remoteFamily(): AddressFamily | undefined { return this.#remote?.family; }
  // localAddress, localPort, localFamily: getters defined in the static block below, typed
  // as net.Socket types them (optional properties), so that a Socket is a net.Socket to
  // TypeScript under exactOptionalPropertyTypes (a getter's `string | undefined` is not).
  declare readonly localAddress?: string;
  declare readonly localPort?: number;
  declare readonly localFamily?: AddressFamily;
  static {
    Object.defineProperties(Socket.prototype, {
      localAddress: { configurable: true, get(this: Socket) { return this.#local?.address; } },
      localPort: { configurable: true, get(this: Socket) { return this.#local?.port; } },
      localFamily: { configurable: true, get(this: Socket) { return this.#local?.family; } },
    });
  }

  /** Bytes received (taken from the core). */
  get bytesRead(): number { return this.#bytesRead; }

  /** Bytes written by the user: handed to TCP plus still queued (node counts both). */
  get bytesWritten(): number {
    let n = this.#bytesDispatched;
    const p = this.#pending;
    if (p !== undefined) n += p.chunk.length - p.off;
    // node's own (untyped) Writable getter: the chunks queued behind the one in flight.
    const queued = (this as unknown as { writableBuffer?: { chunk: Buffer | string; encoding?: BufferEncoding }[] }).writableBuffer ?? [];
    for (const b of queued) {
      n += typeof b.chunk === 'string' ? Buffer.byteLength(b.chunk, b.encoding) : b.chunk.length;
    }
    return n;
  }

  /** Deprecated in node (use writableLength), kept for code that still reads it. */
  get bufferSize(): number { return this.writableLength; }

  get connecting(): boolean { return this.#connecting; }
  /** True until connected, and again once destroyed (node: no handle, or connecting). */
  get pending(): boolean { return this.#conn === undefined || this.#connecting || this.destroyed; }

  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.#connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }

  /** The core connection's TCP state, for diagnostics ('ESTABLISHED', 'TIME-WAIT'...). */
  get tcpState(): string | undefined { return this.#conn?.state; }
}

/** The state of node's internalConnectMultiple (autoSelectFamily with several addresses). */
interface MultiConnect {
  addresses: { address: string; family: number }[];
  current: number;
  port: number;
  localPort: number | undefined;
  timeout: number;
  timer: unknown;
  timerClock: IdleClock | undefined;
  errors: Error[];
  /** The family of the address being tried. */
  family: number;
}

function invalidIpError(ip: unknown): Error {
  return codedError(TypeError, 'ERR_INVALID_IP_ADDRESS', `Invalid IP address: ${String(ip)}`);
}

function badFamilyError(family: unknown, host: string, port: number): Error {
  return codedError(RangeError, 'ERR_INVALID_ADDRESS_FAMILY', `Invalid address family: ${String(family)} ${host}:${port}`);
}

/** node's NodeAggregateError: every attempt's error, `code` the first one's. */
function aggregateError(errors: Error[]): Error {
  const e = new AggregateError(errors, '') as AggregateError & { code?: string | undefined };
  e.code = (errors[0] as { code?: string } | undefined)?.code;
  return e;
}

/** node's writeAfterFIN: after the peer's FIN without allowHalfOpen, write is EPIPE. */
function writeAfterFIN(this: Socket, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  if (!this.writableEnded) {
    return (Duplex.prototype.write as (this: Socket, ...a: unknown[]) => boolean).call(this, chunk, encoding, cb);
  }
  const callback = typeof encoding === 'function' ? encoding : cb;
  const er = endedByPeerError();
  if (typeof callback === 'function') process.nextTick(callback as (e: Error) => void, er);
  this.destroy(er);
  return false;
}

/** node's normalizeArgs for connect: (options[, cb]) | (port[, host][, cb]). */
export function normalizeConnectArgs(args: unknown[]): [Partial<ConnectOptions> & Record<string, unknown>, (() => void) | undefined] {
  if (args.length === 0) {
    throw codedError(TypeError, 'ERR_MISSING_ARGS', 'The "options" or "port" or "path" argument must be specified');
  }
  const last = args[args.length - 1];
  const cb = typeof last === 'function' ? (last as () => void) : undefined;
  const a0 = args[0];
  let options: Partial<ConnectOptions> & Record<string, unknown>;
  if (typeof a0 === 'object' && a0 !== null) {
    options = a0 as Partial<ConnectOptions> & Record<string, unknown>;
  } else if (isPipeName(a0)) {
    throw invalidArgValue('path', a0, 'is not supported: IPC paths do not exist on this stack');
  } else {
    options = { port: a0 as number };
    const a1 = args[1];
    if (args.length > 1 && typeof a1 === 'string') options.host = a1;
  }
  if ('path' in options && options['path'] !== undefined) {
    throw invalidArgValue('options.path', options['path'], 'is not supported: IPC paths do not exist on this stack');
  }
  return [options, cb];
}
