/**
 * `UdpSocket`: node:dgram's Socket for 'udp4' and 'udp6', the facade over one endpoint of the UDP
 * core (@netstack/udp's `UdpEndpoint`, reached through `SocketHost`). The core reports
 * failures as errno codes; the Node errors are made here.
 *
 * Argument errors throw at once with Node's codes; operational errors (EADDRINUSE,
 * EADDRNOTAVAIL, ECONNREFUSED, EMSGSIZE, ENETUNREACH, ENOTFOUND…) reach the callback
 * or the 'error' event on a later tick (process.nextTick, as Node's lookup does),
 * never from inside the call. 'listening', 'connect' and 'close' are emitted on a
 * later tick too.
 *
 * Receive path: the port is taken in the core's table at once by `bind` (so a clash
 * is decided by call order, as in Node). Each datagram is copied once into a Buffer and
 * queued on the socket, as the kernel queues it on a socket's receive buffer; the queue
 * is bounded by `receiveQueueLimit` datagrams and by the receive buffer size (each
 * charged its length + 256 bytes, standing in for the kernel's skb truesize), and drops
 * are counted as RcvbufErrors. 'message' is emitted from the queue when the host runs
 * the socket (a stack's event queue, once the receive batch is over: no user code runs
 * inside the packet path), or, for datagrams that arrived before it, after 'listening'.
 *
 * Differences from node:dgram, on purpose: `bind` validates its port (Node silently
 * truncates it); only literals of the socket's family and 'localhost' resolve (other
 * names fail with ENOTFOUND); cluster and fd/handle binding are absent; datagrams leave at
 * once (Node waits for 'listening' and its lookup); address() works from the `bind` call
 * on; errors about connected sockets carry address and port. On a closed socket every
 * method throws ERR_SOCKET_DGRAM_NOT_RUNNING (Node throws a TypeError from a null handle
 * for setTTL, setMulticastTTL, setMulticastLoopback, setBroadcast and the buffer sizes).
 * Joining a group before `bind` keeps the membership for the socket (libuv binds the
 * socket to 0.0.0.0 there, after which Node's own `bind` fails with EINVAL).
 *
 * Multicast and socket options follow Linux (test/dgram/differential.test.ts runs the
 * same calls on a node:dgram socket and compares): the membership rules and their errno
 * are the core's (packages/udp/src/layer.ts, from net/ipv4/igmp.c); TTLs are converted as
 * libuv does (ToInt32, then range-checked); buffer sizes are doubled and capped by the
 * core's rmemMax/wmemMax, and a size of 0 changes nothing (Node reads then).
 *
 * 'udp6' (AF_INET6, as Node on Linux; checked against real node:dgram on ::1): binds to
 * `::` by default, which also hears IPv4 unless `ipv6Only` (IPV6_V6ONLY); IPv4 peers
 * appear IPv4-mapped (`::ffff:10.7.0.1`, family 'IPv6'), and IPv4 destinations must be
 * given mapped: a plain dotted quad is EINVAL (Node hands it to an AF_INET6 socket as
 * is), a mapped one on an `ipv6Only` socket ENETUNREACH. A udp4 socket given an IPv6
 * literal fails with EINVAL too. The default destination is ::1 (127.0.0.1 for udp4).
 * IPv6 multicast memberships are not implemented (EINVAL).
 */
import { EventEmitter } from 'node:events';
import { ANY, BROADCAST, IPV6_ANY, formatAddress, parseAddress, parseIpv6Address, type IpAddress } from '@netstack/ip';
import { UDP_MAX_PAYLOAD, type MembershipOp, type SocketHost, type UdpEndpoint } from '@netstack/udp';
import { rethrow, type Notifiable, type Notifier } from '../events.js';
import { formatReported, parseIpv6Literal, splitIpv6Literal, unmapIpv4, zoneOk } from '../ip-literal.js';
import type { HandleCounter } from '../lifetime.js';
import {
  missingArgs,
  alreadyBound,
  badBufferSize,
  badType,
  bufferOutOfBounds,
  bufferSizeError,
  errnoException,
  invalidArgType,
  isConnected,
  lookupError,
  notConnected,
  notRunning,
  stackClosedError,
  validatePort,
  validateString,
  type ErrnoError,
} from './errors.js';

/** What a UdpSocket is built on: the UDP core's endpoint API and the stack's event queue and handle count. */
export interface DgramContext {
  /** The UDP core (UdpLayer): port table, sending, memberships. */
  readonly udp: SocketHost;
  /** Where a socket posts itself to emit 'message' (the stack's event queue, events.ts). */
  readonly notifier: Notifier;
  /** The stack's count of ref'd handles: a bound, ref'd socket holds 1 (lifetime.ts). */
  readonly handles: HandleCounter;
  /** Bound on datagrams a socket's receive queue holds (also bounded by its receive buffer, in bytes). */
  readonly receiveQueueLimit: number;
  /** The stack's interface name: the zone of link-local addresses, in what they are given and reported as. */
  readonly interfaceName: string;
  /** Whether the stack has IPv6 addresses. */
  readonly ipv6: boolean;
}

export interface UdpSocketOptions {
  type: 'udp4' | 'udp6';
  /** udp6 only: IPV6_V6ONLY, so a socket bound to `::` hears IPv6 only (default false: dual stack). */
  ipv6Only?: boolean;
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** SO_REUSEADDR: sockets that all set it may share a port. */
  reuseAddr?: boolean;
  /** Closes the socket when aborted. */
  signal?: AbortSignal;
}

export interface RemoteInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
  size: number;
}

export interface AddressInfo {
  address: string;
  family: 'IPv4' | 'IPv6';
  port: number;
}

export interface BindOptions {
  port?: number;
  address?: string;
  exclusive?: boolean;
}

export type SendCallback = (error: ErrnoError | null, bytes?: number) => void;
type Message = string | ArrayBufferView | readonly (string | ArrayBufferView)[];

/** Linux defaults: net.core.rmem_default/wmem_default (the _max caps are the core's). */
const RMEM_DEFAULT = 212992;
const SOCK_MIN_RCVBUF = 2304;
const SOCK_MIN_SNDBUF = 4608;
/** What a queued datagram costs beyond its bytes (stands in for skb truesize). */
const QUEUE_OVERHEAD = 256;

const EMPTY_BYTES = new Uint8Array(0);
const EMPTY_BUFFER = Buffer.alloc(0);

const BUFFER_TYPES = 'of type string or an instance of Buffer, TypedArray, or DataView';

/** RFC 8200: a UDP payload above 65535 - 8 bytes does not fit the UDP length field (Linux udpv6_sendmsg: EMSGSIZE). */
const UDP6_MAX_PAYLOAD = 65527;

/**
 * A literal or 'localhost' for a socket of `family` (6: AF_INET6): the address, 'EINVAL'
 * for a literal of the other family (what libuv's sockaddr conversion gives Node), or
 * undefined for a name we cannot resolve. On udp6 an IPv4-mapped address is the IPv4
 * address itself (the core keys the IPv4 flow by it; `#text` maps it back), or
 * 'ENETUNREACH' with IPV6_V6ONLY (Linux udpv6_sendmsg/ip6_datagram_connect). A link-local
 * address needs the zone of the stack's interface where `scoped` (bind, connect: EINVAL
 * without, as Linux); a send takes it without (Linux routes it out of the one link).
 * IPv6 on a stack without IPv6: EADDRNOTAVAIL where `scoped` is false (a send, as Linux
 * with IPv6 disabled); a bind of `::` still works there, as on Linux.
 */
function resolve(host: string, family: 4 | 6, v6Only: boolean, ctx: DgramContext, scoped: boolean): IpAddress | 'EINVAL' | 'ENETUNREACH' | 'EADDRNOTAVAIL' | undefined {
  if (family === 4) {
    if (host === 'localhost') return 0x7f000001;
    const a = parseAddress(host);
    if (a !== undefined) return a;
    return parseIpv6Literal(host) !== undefined ? 'EINVAL' : undefined;
  }
  if (host === 'localhost') host = '::1';
  const s = splitIpv6Literal(host);
  if (s === undefined) return parseAddress(host) !== undefined ? 'EINVAL' : undefined;
  const a = s.address;
  const v4 = unmapIpv4(a);
  if (v4 !== undefined) return v6Only ? 'ENETUNREACH' : v4;
  if (scoped && !zoneOk(a, s.zone, ctx.interfaceName)) return 'EINVAL';
  if (!ctx.ipv6 && !scoped && a !== IPV6_ANY) return 'EADDRNOTAVAIL';
  return a;
}

function toBytes(v: string | ArrayBufferView): Uint8Array {
  if (typeof v === 'string') return Buffer.from(v);
  if (v instanceof Uint8Array) return v; // a Buffer too: no view needed
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function bufferList(list: readonly unknown[]): Uint8Array[] | undefined {
  const out: Uint8Array[] = [];
  for (const v of list) {
    if (typeof v === 'string') out.push(Buffer.from(v));
    else if (ArrayBuffer.isView(v)) out.push(toBytes(v));
    else return undefined;
  }
  return out;
}

function sliceBuffer(buffer: unknown, offset: unknown, length: unknown): Uint8Array {
  if (typeof buffer !== 'string' && !ArrayBuffer.isView(buffer)) throw invalidArgType('buffer', BUFFER_TYPES, buffer);
  const bytes = toBytes(buffer);
  const off = Number(offset) >>> 0;
  const len = Number(length) >>> 0;
  if (off > bytes.byteLength) throw bufferOutOfBounds('offset');
  if (off + len > bytes.byteLength) throw bufferOutOfBounds('length');
  return bytes.subarray(off, off + len);
}

export interface UdpSocket {
  on(event: 'message', listener: (msg: Buffer, rinfo: RemoteInfo) => void): this;
  on(event: 'listening' | 'connect' | 'close', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'message', listener: (msg: Buffer, rinfo: RemoteInfo) => void): this;
  once(event: 'listening' | 'connect' | 'close', listener: () => void): this;
  once(event: 'error', listener: (err: Error) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

export class UdpSocket extends EventEmitter {
  readonly type: 'udp4' | 'udp6';
  readonly #family: 4 | 6;
  readonly #v6Only: boolean;
  readonly #layer: SocketHost;
  readonly #ctx: DgramContext;
  readonly #ep: UdpEndpoint;
  #closed = false;
  #bindState: 'unbound' | 'binding' | 'bound' = 'unbound';
  #connectState: 'disconnected' | 'connecting' | 'connected' = 'disconnected';
  /** In the core's port table. */
  #inTable = false;
  /** ref() (the default) / unref(): whether a bound socket keeps the process alive. */
  #refed = true;
  /** Counted in the host's ref'd handles (bound, open and ref'd), as libuv counts an active udp handle. */
  #held = false;
  /** The address `bind` chose (restored by disconnect). */
  #boundAddr: IpAddress = ANY;
  #rcvbuf = RMEM_DEFAULT;
  #sndbuf = RMEM_DEFAULT;
  readonly #wantRcvbuf: number | undefined;
  readonly #wantSndbuf: number | undefined;
  #ttl: number | undefined;
  #broadcast = false;
  /**
   * The receive queue, bounded (see the module comment): datagrams wait here from their
   * arrival until the stack's event queue runs this socket, and before 'listening'.
   * Flat: message, rinfo, message, rinfo...; `#qHead` is the next message.
   */
  #queue: (Buffer | RemoteInfo)[] = [];
  #qHead = 0;
  #queuedBytes = 0;
  /** This socket's place in the host's event queue. */
  readonly #notes: Notifiable = { notifyQueued: false, notify: () => this.#emitQueued() };
  #signal: AbortSignal | undefined;
  /** The chunk list of a one-buffer send, reused (the core holds it only during the send). */
  readonly #one: Uint8Array[] = [EMPTY_BYTES];
  /** The last destination text `send` resolved, and its address (an echo answers the same peer again and again). */
  #lastHost = '';
  #lastHostAddr: IpAddress = ANY;
  /** The last source address formatted for a 'message' rinfo, and its text. */
  #lastSrc: IpAddress = -1;
  #lastSrcText = '';
  readonly #onAbort = (): void => {
    if (!this.#closed) this.close();
  };

  /** Use `stack.udp.createSocket`. */
  constructor(ctx: DgramContext, type: 'udp4' | 'udp6' | UdpSocketOptions, onMessage?: (msg: Buffer, rinfo: RemoteInfo) => void) {
    super();
    const options: UdpSocketOptions = typeof type === 'string' ? { type } : type;
    if (options === null || typeof options !== 'object' || (options.type !== 'udp4' && options.type !== 'udp6')) throw badType();
    this.type = options.type;
    this.#family = options.type === 'udp6' ? 6 : 4;
    this.#v6Only = this.#family === 6 && !!options.ipv6Only;
    for (const name of ['recvBufferSize', 'sendBufferSize'] as const) {
      const v = options[name];
      if (v !== undefined && (typeof v !== 'number' || v >>> 0 !== v)) throw badBufferSize();
    }
    this.#ctx = ctx;
    this.#layer = ctx.udp;
    this.#wantRcvbuf = options.recvBufferSize;
    this.#wantSndbuf = options.sendBufferSize;
    const self = this;
    this.#ep = {
      localAddr: ANY,
      localPort: 0,
      remoteAddr: ANY,
      remotePort: 0,
      reuseAddr: options.reuseAddr === true,
      order: 0,
      ...(this.#family === 6 ? { v6: this.#v6Only ? ('only' as const) : ('dual' as const) } : {}),
      onDatagram(payload, src, srcPort) {
        return self.#onDatagram(payload, src, srcPort);
      },
      onError(code) {
        self.#onError(code);
      },
      close() {
        if (!self.#closed) self.close();
      },
      mcTtl: 1,
      mcLoop: true,
      memberships: [],
    };
    if (typeof onMessage === 'function') this.on('message', onMessage);
    if (options.signal !== undefined) {
      const signal: unknown = options.signal;
      if (typeof signal !== 'object' || signal === null || !('aborted' in signal)) throw invalidArgType('options.signal', 'an instance of AbortSignal', signal);
      this.#signal = options.signal;
      if (options.signal.aborted) process.nextTick(this.#onAbort);
      else options.signal.addEventListener('abort', this.#onAbort, { once: true });
    }
  }

  // ---- bind / connect -----------------------------------------------------------

  bind(port?: number, address?: string, callback?: () => void): this;
  bind(port: number, callback: () => void): this;
  bind(callback: () => void): this;
  bind(options: BindOptions, callback?: () => void): this;
  bind(...args: unknown[]): this {
    this.#healthCheck();
    if (this.#bindState !== 'unbound') throw alreadyBound();
    const cb = args.length > 0 ? args[args.length - 1] : undefined;
    let port: unknown = args[0];
    let address: unknown;
    if (port !== null && typeof port === 'object') {
      const o = port as BindOptions;
      address = o.address || '';
      port = o.port;
    } else {
      address = typeof args[1] === 'function' ? '' : args[1];
    }
    if (typeof port === 'function') port = undefined;
    const portNumber = port === undefined || port === null ? 0 : validatePort(port, 'Port', true);
    if (!address) address = this.#family === 6 ? '::' : '0.0.0.0';
    validateString(address, 'address');
    if (typeof cb === 'function') {
      const onListening = (): void => {
        this.removeListener('error', removeListeners);
        cb.call(this);
      };
      const removeListeners = (): void => {
        this.removeListener('error', removeListeners);
        this.removeListener('listening', onListening);
      };
      this.on('error', removeListeners);
      this.on('listening', onListening);
    }
    this.#bind(address, portNumber);
    return this;
  }

  #bind(host: string, port: number): void {
    this.#bindState = 'binding';
    let addr = resolve(host, this.#family, false, this.#ctx, true);
    // A mapped address on an IPV6_V6ONLY socket: Linux inet6_bind says EINVAL.
    if (this.#v6Only && typeof addr === 'number') addr = 'EINVAL';
    const stackClosed = this.#layer.closed;
    const bad = typeof addr === 'string' && (addr === 'EINVAL' || addr === 'ENETUNREACH' || addr === 'EADDRNOTAVAIL');
    const code = addr === undefined || bad || stackClosed ? undefined : this.#layer.bind(this.#ep, addr as IpAddress, port);
    if (addr === undefined || bad || stackClosed || code !== undefined) {
      const ex = addr === undefined ? lookupError(host)
        : bad ? errnoException(addr as string, 'bind', host, port)
        : stackClosed ? stackClosedError('bind', this.#text(addr as IpAddress), port)
        : errnoException(code!, 'bind', this.#text(addr as IpAddress), port);
      process.nextTick(() => {
        if (this.#closed) return;
        this.#bindState = 'unbound';
        this.emit('error', ex);
      });
      return;
    }
    this.#inTable = true;
    this.#syncHold();
    this.#boundAddr = addr as IpAddress;
    if (this.#wantRcvbuf) this.#rcvbuf = Math.max(SOCK_MIN_RCVBUF, 2 * Math.min(this.#wantRcvbuf, this.#layer.rmemMax));
    if (this.#wantSndbuf) this.#sndbuf = Math.max(SOCK_MIN_SNDBUF, 2 * Math.min(this.#wantSndbuf, this.#layer.wmemMax));
    process.nextTick(() => this.#startListening());
  }

  #startListening(): void {
    if (this.#closed) return;
    this.#bindState = 'bound';
    this.emit('listening');
    // Datagrams that arrived between bind and 'listening', in order.
    this.#emitQueued();
  }

  /**
   * Emits 'message' for each queued datagram, in order. A listener that throws does not
   * lose the datagrams after it: its exception is re-thrown on the next tick (an
   * uncaught exception, as Node's would be from its recv callback).
   */
  #emitQueued(): void {
    if (this.#bindState !== 'bound') return; // #startListening will
    const q = this.#queue;
    while (this.#qHead < q.length && !this.#closed) {
      const msg = q[this.#qHead] as Buffer;
      const rinfo = q[this.#qHead + 1] as RemoteInfo;
      q[this.#qHead] = EMPTY_BUFFER;
      q[this.#qHead + 1] = EMPTY_BUFFER;
      this.#qHead += 2;
      this.#queuedBytes -= msg.length + QUEUE_OVERHEAD;
      try {
        this.emit('message', msg, rinfo);
      } catch (e) {
        process.nextTick(rethrow, e);
      }
    }
    if (this.#qHead >= q.length) {
      q.length = 0;
      this.#qHead = 0;
    }
  }

  connect(port: number, address?: string, callback?: () => void): void;
  connect(port: number, callback: () => void): void;
  connect(port: unknown, address?: unknown, callback?: unknown): void {
    const portNumber = validatePort(port, 'Port', false);
    if (typeof address === 'function') {
      callback = address;
      address = '';
    } else if (address === undefined) address = '';
    validateString(address, 'address');
    this.#healthCheck();
    if (this.#connectState !== 'disconnected') throw isConnected();
    this.#connectState = 'connecting';
    if (this.#bindState === 'unbound') this.#bind(this.#family === 6 ? '::' : '0.0.0.0', 0);
    const cb = typeof callback === 'function' ? (callback as (err?: ErrnoError) => void) : undefined;
    if (cb) this.once('connect', cb);
    const host = address || (this.#family === 6 ? '::1' : '127.0.0.1');
    const fail = (ex: ErrnoError): void => {
      process.nextTick(() => {
        this.#connectState = 'disconnected';
        if (cb) {
          this.removeListener('connect', cb);
          cb.call(this, ex);
        } else this.emit('error', ex);
      });
    };
    const addr = resolve(host, this.#family, this.#v6Only, this.#ctx, true);
    if (addr === undefined) return fail(lookupError(host));
    if (addr === 'EINVAL' || addr === 'ENETUNREACH' || addr === 'EADDRNOTAVAIL') return fail(errnoException(addr, 'connect', host, portNumber));
    if (!this.#inTable) return; // the implicit bind failed; its 'error' is on its way (Node drops the queued connect)
    const code = this.#layer.connect(this.#ep, addr, portNumber);
    if (code !== undefined) return fail(errnoException(code, 'connect', host, portNumber));
    process.nextTick(() => {
      if (this.#closed) return;
      this.#connectState = 'connected';
      this.emit('connect');
    });
  }

  disconnect(): void {
    this.#healthCheck();
    if (this.#connectState !== 'connected') throw notConnected();
    this.#layer.disconnect(this.#ep, this.#boundAddr);
    this.#connectState = 'disconnected';
  }

  // ---- send -----------------------------------------------------------------------

  send(msg: Message, port?: number, address?: string, callback?: SendCallback): void;
  send(msg: Message, port?: number, callback?: SendCallback): void;
  send(msg: Message, callback?: SendCallback): void;
  send(msg: string | ArrayBufferView, offset: number, length: number, port?: number, address?: string, callback?: SendCallback): void;
  send(msg: string | ArrayBufferView, offset: number, length: number, port?: number, callback?: SendCallback): void;
  send(msg: string | ArrayBufferView, offset: number, length: number, callback?: SendCallback): void;
  send(buffer?: unknown, offset?: unknown, length?: unknown, port?: unknown, address?: unknown, callback?: unknown): void {
    // The argument shuffle is Node's (lib/dgram.js Socket.prototype.send). Named
    // parameters rather than a rest array: no array per datagram.
    const connected = this.#connectState === 'connected';
    if (!connected) {
      if (address || (port && typeof port !== 'function')) {
        buffer = sliceBuffer(buffer, offset, length);
      } else {
        callback = port;
        port = offset;
        address = length;
      }
    } else {
      if (typeof length === 'number') {
        buffer = sliceBuffer(buffer, offset, length);
        if (typeof port === 'function') {
          callback = port;
          port = null;
        }
      } else {
        callback = offset;
      }
      if (port || address) throw isConnected();
    }
    let list: Uint8Array[] | undefined;
    if (!Array.isArray(buffer)) {
      if (typeof buffer === 'string') list = [Buffer.from(buffer)];
      else if (!ArrayBuffer.isView(buffer)) throw invalidArgType('buffer', BUFFER_TYPES, buffer);
      else {
        list = this.#one;
        list[0] = toBytes(buffer);
      }
    } else if (!(list = bufferList(buffer))) {
      throw invalidArgType('buffer list arguments', BUFFER_TYPES, buffer);
    }
    let portNumber = 0;
    if (!connected) portNumber = validatePort(port, 'Port', false);
    let cb = typeof callback === 'function' ? (callback as SendCallback) : undefined;
    if (typeof address === 'function') {
      cb = address as SendCallback;
      address = undefined;
    } else if (address !== undefined && address !== null) {
      validateString(address, 'address');
    }
    this.#healthCheck();
    if (this.#bindState === 'unbound') this.#bind(this.#family === 6 ? '::' : '0.0.0.0', 0);
    if (!this.#inTable) return; // the implicit bind failed: like Node, the queued send is dropped with the 'error'

    let dst: IpAddress;
    let dstPort: number;
    let host: string | undefined;
    if (connected) {
      dst = this.#ep.remoteAddr;
      dstPort = this.#ep.remotePort;
    } else {
      host = typeof address === 'string' && address !== '' ? address : this.#family === 6 ? '::1' : '127.0.0.1';
      if (host === this.#lastHost) dst = this.#lastHostAddr;
      else {
        const a = resolve(host, this.#family, this.#v6Only, this.#ctx, false);
        if (a === undefined) return this.#sendFailed(cb, lookupError(host));
        if (a === 'EINVAL' || a === 'ENETUNREACH' || a === 'EADDRNOTAVAIL') return this.#sendFailed(cb, errnoException(a, 'send', host, portNumber));
        dst = a;
        this.#lastHost = host;
        this.#lastHostAddr = a;
      }
      dstPort = portNumber;
    }
    let total = 0;
    for (let i = 0; i < list.length; i++) total += list[i]!.length;
    let code: string | undefined;
    // Linux: a UDP payload above 65507 bytes cannot fit one IPv4 datagram (EMSGSIZE);
    // a broadcast address (limited or the subnet's) needs SO_BROADCAST (EACCES, udp_sendmsg).
    if (total > (typeof dst === 'number' ? UDP_MAX_PAYLOAD : UDP6_MAX_PAYLOAD)) code = 'EMSGSIZE';
    else if (!this.#broadcast && (dst === BROADCAST || this.#layer.isBroadcast(dst))) code = 'EACCES';
    else code = this.#layer.send(this.#ep, dst, dstPort, list, total, this.#ttl);
    if (list === this.#one) list[0] = EMPTY_BYTES; // hold no caller's buffer
    if (code !== undefined) return this.#sendFailed(cb, errnoException(code, 'send', host ?? this.#text(dst), dstPort));
    if (cb) process.nextTick(cb, null, total);
  }

  /** A send's failure, on a later tick: to its callback, else as 'error'. */
  #sendFailed(cb: SendCallback | undefined, ex: ErrnoError): void {
    if (cb) process.nextTick(cb, ex);
    else process.nextTick(() => this.emit('error', ex));
  }

  // ---- receive ------------------------------------------------------------------

  #onDatagram(payload: Uint8Array, src: IpAddress, srcPort: number): boolean {
    if (this.#closed) return false;
    if (src !== this.#lastSrc) {
      this.#lastSrc = src;
      this.#lastSrcText = this.#text(src);
    }
    // A fresh rinfo and Buffer per datagram, as node:dgram gives: listeners may keep them.
    // Queued, not emitted: no user code runs inside the packet path. The socket posts
    // itself and emits when the stack's batch is over (or at once, without a stack).
    const cost = payload.length + QUEUE_OVERHEAD;
    if ((this.#queue.length - this.#qHead) >> 1 >= this.#ctx.receiveQueueLimit || this.#queuedBytes + cost > this.#rcvbuf) return false;
    const rinfo: RemoteInfo = { address: this.#lastSrcText, family: this.#family === 6 ? 'IPv6' : 'IPv4', port: srcPort, size: payload.length };
    this.#queue.push(Buffer.from(payload), rinfo);
    this.#queuedBytes += cost;
    if (this.#bindState === 'bound') this.#ctx.notifier.post(this.#notes);
    return true;
  }

  /** An ICMP error for this connected socket: 'error' on a later tick, as Node's recvmsg failure. */
  #onError(code: string): void {
    if (this.#closed || this.#connectState !== 'connected') return;
    const ex = errnoException(code, 'recvmsg', this.#text(this.#ep.remoteAddr), this.#ep.remotePort);
    process.nextTick(() => {
      if (!this.#closed) this.emit('error', ex);
    });
  }

  // ---- state ----------------------------------------------------------------------

  close(callback?: () => void): this {
    if (typeof callback === 'function') this.on('close', callback);
    this.#healthCheck();
    this.#closed = true;
    this.#layer.leaveAll(this.#ep);
    if (this.#inTable) this.#layer.unbind(this.#ep);
    this.#inTable = false;
    this.#syncHold();
    this.#queue = [];
    this.#qHead = 0;
    this.#queuedBytes = 0;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    process.nextTick(() => this.emit('close'));
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#closed) return;
    await new Promise<void>((resolve) => this.close(resolve));
  }

  address(): AddressInfo {
    this.#healthCheck();
    if (!this.#inTable) throw errnoException('EBADF', 'getsockname');
    return { address: this.#text(this.#ep.localAddr), family: this.#family === 6 ? 'IPv6' : 'IPv4', port: this.#ep.localPort };
  }

  remoteAddress(): AddressInfo {
    this.#healthCheck();
    if (this.#connectState !== 'connected') throw notConnected();
    return { address: this.#text(this.#ep.remoteAddr), family: this.#family === 6 ? 'IPv6' : 'IPv4', port: this.#ep.remotePort };
  }

  /** An address as this socket reports it: on udp6 an IPv4 one is IPv4-mapped (`::ffff:a.b.c.d`), a link-local one with its zone. */
  #text(a: IpAddress): string {
    return this.#family === 6 ? formatReported(a, true, this.#ctx.interfaceName) : formatAddress(a);
  }

  /**
   * Linux doubles the request (capped by rmem_max) and enforces a minimum, as
   * getRecvBufferSize then shows. 0 changes nothing (Node's handle reads for 0).
   */
  setRecvBufferSize(size: number): void {
    if (typeof size !== 'number' || size >>> 0 !== size) throw badBufferSize();
    this.#fdCheck('recv');
    if (size !== 0) this.#rcvbuf = Math.max(SOCK_MIN_RCVBUF, 2 * Math.min(size, this.#layer.rmemMax));
  }

  getRecvBufferSize(): number {
    this.#fdCheck('recv');
    return this.#rcvbuf;
  }

  setSendBufferSize(size: number): void {
    if (typeof size !== 'number' || size >>> 0 !== size) throw badBufferSize();
    this.#fdCheck('send');
    if (size !== 0) this.#sndbuf = Math.max(SOCK_MIN_SNDBUF, 2 * Math.min(size, this.#layer.wmemMax));
  }

  getSendBufferSize(): number {
    this.#fdCheck('send');
    return this.#sndbuf;
  }

  /** IP_TTL for unicast and broadcast datagrams. libuv takes ToInt32(ttl), then 1..255 (else EINVAL). */
  setTTL(ttl: number): number {
    if (typeof ttl !== 'number') throw invalidArgType('ttl', 'of type number', ttl);
    this.#healthCheck();
    const v = ttl | 0;
    if (v < 1 || v > 255) throw errnoException('EINVAL', 'setTTL');
    if (!this.#inTable) throw errnoException('EBADF', 'setTTL');
    this.#ttl = v;
    return ttl;
  }

  /** SO_BROADCAST: without it, a send to a broadcast address fails with EACCES (Linux udp_sendmsg). */
  setBroadcast(flag: boolean): void {
    this.#healthCheck();
    if (!this.#inTable) throw errnoException('EBADF', 'setBroadcast');
    this.#broadcast = !!flag;
  }

  // ---- multicast (RFC 1112; RFC 3678 for the calls) --------------------------------

  /** IP_MULTICAST_TTL: 0..255 after ToInt32 (0 keeps datagrams on this host). Returns `ttl` as given. */
  setMulticastTTL(ttl: number): number {
    if (typeof ttl !== 'number') throw invalidArgType('ttl', 'of type number', ttl);
    this.#healthCheck();
    const v = ttl | 0;
    if (v < 0 || v > 255) throw errnoException('EINVAL', 'setMulticastTTL');
    if (!this.#inTable) throw errnoException('EBADF', 'setMulticastTTL');
    this.#ep.mcTtl = v;
    return ttl;
  }

  /** IP_MULTICAST_LOOP (default on). Returns `flag` as given, as Node does. */
  setMulticastLoopback<T>(flag: T): T {
    this.#healthCheck();
    if (!this.#inTable) throw errnoException('EBADF', 'setMulticastLoopback');
    this.#ep.mcLoop = !!flag;
    return flag;
  }

  /** IP_MULTICAST_IF: the stack has one interface, so this only checks the address names it (or is 0.0.0.0). */
  setMulticastInterface(interfaceAddress: string): void {
    this.#healthCheck();
    validateString(interfaceAddress, 'interfaceAddress');
    const a = parseAddress(interfaceAddress);
    if (a === undefined) throw errnoException('EINVAL', 'setMulticastInterface');
    if (!this.#inTable) throw errnoException('EBADF', 'setMulticastInterface');
    if (!this.#layer.isLocalInterface(a)) throw errnoException('EADDRNOTAVAIL', 'setMulticastInterface');
  }

  /** IP_ADD_MEMBERSHIP: any-source membership of `multicastAddress`. */
  addMembership(multicastAddress: string, interfaceAddress?: string): void {
    this.#healthCheck();
    if (!multicastAddress) throw missingArgs('multicastAddress');
    this.#membership('join', 'addMembership', undefined, multicastAddress, interfaceAddress);
  }

  /** IP_DROP_MEMBERSHIP: leaves the group (with any source filter). */
  dropMembership(multicastAddress: string, interfaceAddress?: string): void {
    this.#healthCheck();
    if (!multicastAddress) throw missingArgs('multicastAddress');
    this.#membership('leave', 'dropMembership', undefined, multicastAddress, interfaceAddress);
  }

  /** IP_ADD_SOURCE_MEMBERSHIP: receive `groupAddress` from `sourceAddress` only (more calls add sources). */
  addSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): void {
    this.#healthCheck();
    validateString(sourceAddress, 'sourceAddress');
    validateString(groupAddress, 'groupAddress');
    this.#membership('join-source', 'addSourceSpecificMembership', sourceAddress, groupAddress, interfaceAddress);
  }

  /** IP_DROP_SOURCE_MEMBERSHIP: removes a source; removing the last one leaves the group. */
  dropSourceSpecificMembership(sourceAddress: string, groupAddress: string, interfaceAddress?: string): void {
    this.#healthCheck();
    validateString(sourceAddress, 'sourceAddress');
    validateString(groupAddress, 'groupAddress');
    this.#membership('leave-source', 'dropSourceSpecificMembership', sourceAddress, groupAddress, interfaceAddress);
  }

  /** Parses as libuv does (inet_pton: a bad address is EINVAL; Node stringifies non-strings), then asks the layer. */
  #membership(op: MembershipOp, syscall: string, source: unknown, group: unknown, iface: unknown): void {
    const text = String(group);
    if (this.#family === 6 && text.includes(':')) {
      // IPV6_ADD_MEMBERSHIP (RFC 3493 §5.2) / MCAST_JOIN_SOURCE_GROUP: the interface is an
      // address whose zone names it (libuv's scope id); the stack has one, so any address does.
      const v6 = (t: string): IpAddress | undefined => parseIpv6Address(t.replace(/%.*$/, ''));
      const g6 = v6(text);
      const s6 = source === undefined ? ANY : v6(String(source));
      const bad = iface !== undefined && iface !== null && v6(String(iface)) === undefined;
      if (g6 === undefined || s6 === undefined || bad) throw errnoException('EINVAL', syscall);
      const code = this.#layer.membership(this.#ep, op, g6, ANY, s6);
      if (code !== undefined) throw errnoException(code, syscall);
      return;
    }
    const g = parseAddress(text);
    const s = source === undefined ? ANY : parseAddress(String(source));
    const i = iface === undefined || iface === null ? ANY : parseAddress(String(iface));
    if (g === undefined || s === undefined || i === undefined) throw errnoException('EINVAL', syscall);
    const code = this.#layer.membership(this.#ep, op, g, i, s);
    if (code !== undefined) throw errnoException(code, syscall);
  }

  /** Datagrams leave synchronously: nothing ever waits. */
  getSendQueueSize(): number {
    return 0;
  }

  getSendQueueCount(): number {
    return 0;
  }

  /**
   * Node's lifetime rule: a bound socket keeps the process alive (an active handle of the
   * stack) until closed, unless unref'd; ref() undoes unref(). Both may be called at any
   * time (before bind: they apply from the bind on).
   */
  ref(): this {
    this.#refed = true;
    this.#syncHold();
    return this;
  }

  unref(): this {
    this.#refed = false;
    this.#syncHold();
    return this;
  }

  #syncHold(): void {
    const want = this.#inTable && !this.#closed && this.#refed;
    if (want === this.#held) return;
    this.#held = want;
    this.#ctx.handles.hold(want ? 1 : -1);
  }

  #healthCheck(): void {
    if (this.#closed) throw notRunning();
  }

  #fdCheck(which: 'recv' | 'send'): void {
    this.#healthCheck();
    if (!this.#inTable) throw bufferSizeError(which);
  }
}
