/**
 * `Server`: a node:net-shaped TCP server over one `TcpListener` of the core.
 *
 * The core signals completed handshakes with `ListenHandler.onAcceptable`; we drain
 * the accept queue there and emit 'connection' for each (synchronously, as node
 * does from libuv's callback). Over `maxConnections` a connection is emitted as
 * 'drop' and closed, as node does. `close()` stops accepting at once (connections
 * still in the core's queue are reset) and 'close' follows when every accepted
 * socket is destroyed.
 */
import { EventEmitter } from 'node:events';
import { addressFamily, type AddressFamily, type IpAddress } from '@netstack/ip';
import { formatReported, IPV6_LOOPBACK, splitIpv6Literal, unmapIpv4, zoneOk } from '../ip-literal.js';
import type { ListenOptions, TcpConnectionOptions, TcpListener } from '@netstack/tcp';
import { parseHost, validateAbortSignal, validateBoolean, validateFunction, validatePort } from './args.js';
import { kContext, type ListenEntry, type NetContext } from './context.js';
import { codedError, errnoError, invalidArgType, invalidArgValue, stackClosedError } from './errors.js';
import { HandleSlot } from '../lifetime.js';
import { runUserCode, type Notifiable } from '../events.js';
import { kAttachAccepted, kHandler, Socket, type AddressInfo } from './socket.js';

declare module './socket.js' {
  /** A socket's `server` (node's `socket.server`) is the `Server` that accepted it. */
  interface AcceptingServer extends Server {}
}

export interface ServerOptions {
  /** Accepted sockets keep their writable side open after the peer's FIN. Default false. */
  allowHalfOpen?: boolean;
  /** Accepted sockets start paused (call `resume()`). Default false. */
  pauseOnConnect?: boolean;
  /** Nagle off on accepted sockets. Default false. */
  noDelay?: boolean;
  keepAlive?: boolean;
  /** ms before the first keepalive probe. */
  keepAliveInitialDelay?: number;
  /** Read/write high-water mark of accepted sockets. */
  highWaterMark?: number;
}

export interface ListenOptionsNet {
  port?: number | string;
  /**
   * An IP literal: none (or '::') listens on both families on a dual-stack stack (node's
   * `::`), on IPv4 on an IPv4-only one; '0.0.0.0' IPv4 only; or one of the stack's addresses.
   */
  host?: string;
  /** With host '::' (or none): IPv6 only (IPV6_V6ONLY). Default false. */
  ipv6Only?: boolean;
  backlog?: number;
  /** Aborting closes the server. */
  signal?: AbortSignal;
}

export type ConnectionListener = (socket: Socket) => void;

/** What 'drop' carries (node 18.6+). */
export interface DropInfo {
  localAddress: string;
  localPort: number;
  localFamily: AddressFamily;
  remoteAddress: string;
  remotePort: number;
  remoteFamily: AddressFamily;
}

interface InternalServerOptions extends ServerOptions {
  [kContext]?: NetContext;
}

const NODE_DEFAULT_BACKLOG = 511;

export class Server extends EventEmitter {
  /** Connections beyond this many are dropped ('drop') and closed. Unset/0: no limit (node's truthiness test). */
  maxConnections: number | undefined = undefined;

  readonly #ctx: NetContext | undefined;
  readonly #opts: ServerOptions;
  #listener: TcpListener | undefined = undefined;
  /** This server's place in the stack's event queue: accepts what the listener holds. */
  readonly #notes: Notifiable = { notifyQueued: false, notify: () => { if (this.#listener !== undefined) this.#onAcceptable(this.#listener); } };
  #address: AddressInfo | undefined = undefined;
  /** This server's entry in the stack's table of listening ports (NetContext.listening). */
  #entry: ListenEntry | undefined = undefined;
  #connections = 0;
  /** Listening as an AF_INET6 socket that hears IPv4: IPv4 peers reported as `::ffff:a.b.c.d`. */
  #mapped = false;
  /** Its place in the stack's life (lifetime.ts): ref'd or not, counted, closed by stack.close(). */
  readonly #slot = new HandleSlot({ stackClosed: () => { this.close(); } });

  constructor(options?: ServerOptions | ConnectionListener, connectionListener?: ConnectionListener) {
    super();
    let opts: ServerOptions = {};
    let listener = connectionListener;
    if (typeof options === 'function') listener = options;
    else if (options !== undefined) {
      if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
      opts = options;
    }
    validateBoolean(opts.allowHalfOpen, 'options.allowHalfOpen');
    validateBoolean(opts.pauseOnConnect, 'options.pauseOnConnect');
    validateBoolean(opts.noDelay, 'options.noDelay');
    validateBoolean(opts.keepAlive, 'options.keepAlive');
    this.#opts = { ...opts };
    this.#ctx = (opts as InternalServerOptions)[kContext];
    if (listener !== undefined) {
      validateFunction(listener, 'connectionListener');
      this.on('connection', listener);
    }
  }

  get listening(): boolean { return this.#listener !== undefined; }

  /**
   * `listen(port[, host][, backlog][, cb])`, `listen(options[, cb])`, `listen([cb])`.
   * Port 0 (or none) picks an ephemeral port. 'listening' follows on the next tick;
   * EADDRINUSE / EADDRNOTAVAIL arrive as 'error' on the next tick.
   */
  listen(port?: number | string, host?: string, backlog?: number, listeningListener?: () => void): this;
  listen(port?: number | string, host?: string, listeningListener?: () => void): this;
  listen(port?: number | string, backlog?: number, listeningListener?: () => void): this;
  listen(port?: number | string, listeningListener?: () => void): this;
  listen(options: ListenOptionsNet, listeningListener?: () => void): this;
  listen(listeningListener?: () => void): this;
  listen(...args: unknown[]): this {
    const ctx = this.#ctx;
    if (ctx === undefined) throw codedError(Error, 'ERR_INVALID_STATE', 'Invalid state: this Server belongs to no stack; create it with stack.tcp.createServer()');
    const cb = typeof args[args.length - 1] === 'function' ? (args.pop() as () => void) : undefined;
    let options: ListenOptionsNet;
    const a0 = args[0];
    if (a0 !== null && typeof a0 === 'object') {
      options = a0 as ListenOptionsNet;
      if ('path' in options || 'fd' in options || 'handle' in options || '_handle' in options) {
        throw invalidArgValue('options', options, 'is not supported: only TCP ports can be listened on');
      }
      if (options.port === undefined && Object.keys(options).length > 0 && !('host' in options) && !('backlog' in options) && !('signal' in options)) {
        throw invalidArgValue('options', options, 'must have the property "port" or "path"');
      }
    } else {
      options = {};
      if (a0 !== undefined && a0 !== null) options.port = a0 as number;
      const a1 = args[1];
      const a2 = args[2];
      if (typeof a1 === 'string') options.host = a1;
      else if (typeof a1 === 'number') options.backlog = a1;
      if (typeof a2 === 'number') options.backlog = a2;
    }
    if (this.#listener !== undefined) {
      throw codedError(Error, 'ERR_SERVER_ALREADY_LISTEN', 'Listen method has been called more than once without closing.');
    }
    let port = 0;
    if (options.port !== undefined && options.port !== null) {
      if (typeof options.port !== 'number' && typeof options.port !== 'string') throw invalidArgType('options.port', 'one of type number or string', options.port);
      port = validatePort(options.port, 'options.port');
    }
    validateBoolean(options.ipv6Only, 'options.ipv6Only');
    // A dual-stack stack listens as node does on Linux: no host is `::`, which hears IPv4
    // too (IPv4-mapped peers) unless ipv6Only; '0.0.0.0' hears IPv4 only. An IPv4-only
    // stack keeps its IPv4 wildcard.
    const dual = ctx.ownAddresses6.length > 0;
    let address: IpAddress = 0;
    let hostText = '0.0.0.0';
    let family: AddressFamily | undefined;
    /** Peers reported IPv4-mapped (an AF_INET6 listener's accepted IPv4 connections). */
    let mapped = false;
    /** What Linux's bind(2) refuses with EINVAL before any address check (node: "listen EINVAL: invalid argument"). */
    let invalid = false;
    const host = options.host;
    if (host === undefined || host === '' || host === '::') {
      if (dual) {
        hostText = '::';
        mapped = options.ipv6Only !== true;
        if (!mapped) family = 'IPv6';
      }
    } else if (host === '0.0.0.0') {
      if (dual) family = 'IPv4';
    } else {
      const v6 = typeof host === 'string' ? splitIpv6Literal(host) : undefined;
      if (v6 !== undefined) {
        const v4 = unmapIpv4(v6.address);
        // A mapped address with IPV6_V6ONLY (inet6_bind: EINVAL); a link-local one without
        // a zone naming the stack's interface (inet6_bind: "requires an interface", EINVAL).
        if (v4 !== undefined && options.ipv6Only !== true) { address = v4; mapped = true; } else address = v6.address;
        invalid = (v4 !== undefined && options.ipv6Only === true) || !zoneOk(v6.address, v6.zone, ctx.interfaceName);
        // As getsockname(2) gives it back (RFC 5952 text, a link-local one with its zone);
        // an address refused is named as given.
        hostText = invalid ? host : formatReported(address, mapped, ctx.interfaceName);
      } else {
        const h = parseHost('options.host', host === 'localhost' ? '127.0.0.1' : host);
        address = h.address;
        hostText = h.text;
      }
    }
    let backlog = NODE_DEFAULT_BACKLOG;
    if (options.backlog !== undefined) {
      if (typeof options.backlog !== 'number' || !Number.isFinite(options.backlog)) throw invalidArgType('options.backlog', 'of type number', options.backlog);
      backlog = Math.max(1, Math.trunc(options.backlog));
    }
    validateAbortSignal(options.signal, 'options.signal');
    if (cb !== undefined) this.once('listening', cb);

    if (ctx.life.closed) {
      process.nextTick(() => this.emit('error', stackClosedError('listen', hostText, port)));
      return this;
    }
    if (invalid) {
      process.nextTick(() => this.emit('error', errnoError('EINVAL', 'listen', hostText, port, true)));
      return this;
    }
    // Ours: the stack's addresses, 127/8 and (with IPv6) ::1, its loopback.
    const ours = typeof address === 'number' ? address === 0 || ctx.ownAddresses4.includes(address) || address >>> 24 === 127
      : ctx.ownAddresses6.includes(address) || (address === IPV6_LOOPBACK && dual);
    if (!ours) {
      process.nextTick(() => this.emit('error', errnoError('EADDRNOTAVAIL', 'listen', hostText, port, true)));
      return this;
    }
    const connOptions: TcpConnectionOptions = {};
    if (this.#opts.noDelay === true) connOptions.noDelay = true;
    if (this.#opts.keepAlive === true) {
      connOptions.keepAlive = true;
      const d = this.#opts.keepAliveInitialDelay;
      if (d !== undefined && d > 0) connOptions.keepAliveInitialDelay = Math.trunc(d);
    }
    // Completed handshakes are noted; the accepting (and 'connection') happens when the
    // stack's event queue runs this server (events.ts).
    const notes = this.#notes;
    const handler = { onAcceptable: (): void => ctx.events.post(notes) };
    const listenOpts = (p: number): ListenOptions => ({ port: p, address, backlog, options: connOptions, ...(family !== undefined ? { family } : {}) });
    try {
      // Port 0: the core picks an ephemeral port (RFC 6056, the TCP layer's allocator).
      this.#listener = ctx.layer.listen(listenOpts(port), handler);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      const err = errnoError(typeof code === 'string' && !code.startsWith('ERR_') ? code : 'EADDRINUSE', 'listen', hostText, port, true);
      process.nextTick(() => this.emit('error', err));
      return this;
    }
    ctx.clock.schedule();
    this.#entry = { address, family };
    const list = ctx.listening.get(this.#listener.port);
    if (list === undefined) ctx.listening.set(this.#listener.port, [this.#entry]);
    else list.push(this.#entry);
    this.#mapped = mapped;
    this.#address = { address: hostText, family: mapped || hostText === '::' ? 'IPv6' : addressFamily(address), port: this.#listener.port };
    this.#syncLife();
    const signal = options.signal;
    if (signal !== undefined) {
      const onAbort = (): void => { this.close(); };
      if (signal.aborted) process.nextTick(onAbort);
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        this.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
    process.nextTick(() => { if (this.#listener !== undefined) this.emit('listening'); });
    return this;
  }

  #onAcceptable(l: TcpListener): void {
    const ctx = this.#ctx!;
    const o = this.#opts;
    while (l.pending > 0 && this.#listener === l) {
      if (this.maxConnections && this.#connections >= this.maxConnections) {
        const c = l.accept({});
        if (c === undefined) break;
        const fmt = (a: IpAddress): string => formatReported(a, this.#mapped, ctx.interfaceName);
        const fam = (a: IpAddress): AddressFamily => (this.#mapped ? 'IPv6' : addressFamily(a));
        const info: DropInfo = {
          localAddress: fmt(c.localAddress), localPort: c.localPort, localFamily: fam(c.localAddress),
          remoteAddress: fmt(c.remoteAddress), remotePort: c.remotePort, remoteFamily: fam(c.remoteAddress),
        };
        // node closes the handle: close(2) -- FIN, or RST if the peer already sent data.
        c.close(ctx.clock.now());
        ctx.clock.schedule();
        runUserCode(() => this.emit('drop', info));
        continue;
      }
      const socket = new Socket({
        allowHalfOpen: o.allowHalfOpen === true,
        ...(o.highWaterMark !== undefined ? { highWaterMark: o.highWaterMark } : {}),
        [kContext]: ctx,
      } as ConstructorParameters<typeof Socket>[0]);
      const c = l.accept(socket[kHandler]);
      if (c === undefined) { socket.destroy(); break; }
      this.#connections++;
      socket[kAttachAccepted](c, this, () => {
        this.#connections--;
        this.#emitCloseIfDrained();
      }, o.pauseOnConnect === true, this.#mapped);
      runUserCode(() => this.emit('connection', socket));
    }
  }

  #emitCloseIfDrained(): void {
    if (this.#listener !== undefined || this.#connections > 0) return;
    process.nextTick(() => this.emit('close'));
  }

  /**
   * Stops accepting. 'close' (and `cb`) follow once every accepted connection is
   * destroyed; `cb` gets ERR_SERVER_NOT_RUNNING when the server was not listening.
   * Returns `this`, as node does; `await using` / `[Symbol.asyncDispose]` awaits it.
   */
  close(cb?: (err?: Error) => void): this {
    if (typeof cb === 'function') {
      if (this.#listener === undefined) {
        this.once('close', () => cb(codedError(Error, 'ERR_SERVER_NOT_RUNNING', 'Server is not running.')));
      } else {
        this.once('close', () => cb());
      }
    }
    const l = this.#listener;
    if (l !== undefined) {
      this.#listener = undefined;
      this.#address = undefined;
      const ctx = this.#ctx!;
      const list = ctx.listening.get(l.port);
      const i = list === undefined || this.#entry === undefined ? -1 : list.indexOf(this.#entry);
      if (i >= 0) list!.splice(i, 1);
      if (list !== undefined && list.length === 0) ctx.listening.delete(l.port);
      this.#entry = undefined;
      l.close(ctx.clock.now());
      ctx.clock.schedule();
      this.#syncLife();
    }
    this.#emitCloseIfDrained();
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#listener === undefined) return;
    await new Promise<void>((resolve, reject) => this.close((err) => (err ? reject(err) : resolve())));
  }

  /** `{ address, family, port }` while listening, else null. */
  address(): AddressInfo | null {
    return this.#address !== undefined ? { ...this.#address } : null;
  }

  getConnections(cb: (err: Error | null, count: number) => void): this {
    validateFunction(cb, 'cb');
    const n = this.#connections;
    process.nextTick(cb, null, n);
    return this;
  }

  /**
   * As in Node: a listening server keeps the process alive until closed; `unref()` lets
   * the process exit anyway, `ref()` undoes it (the stack counts ref'd handles, lifetime.ts).
   * Accepted sockets are handles of their own.
   */
  ref(): this { this.#slot.refed = true; this.#syncLife(); return this; }
  unref(): this { this.#slot.refed = false; this.#syncLife(); return this; }

  /** Listening: an active handle, counted while ref'd, and a member that stack.close() closes. */
  #syncLife(): void {
    const ctx = this.#ctx;
    if (ctx === undefined) return;
    const active = this.#listener !== undefined;
    this.#slot.sync(ctx.life, active);
  }
}
