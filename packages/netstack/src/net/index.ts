/**
 * The Node-native TCP API of the stack, shaped like node:net: `Server extends
 * EventEmitter`, `Socket extends stream.Duplex`, built on the TCP core's endpoint
 * API (packages/tcp/src/layer.ts). The facade exposes it as `stack.tcp`:
 *
 *   const api = createTcpApi(tcpLayer, clock, '10.7.0.2');
 *   api.createServer((s) => s.pipe(s)).listen(7);
 *   const s = api.connect({ host: '10.7.0.1', port: 7 }, () => s.end('hi'));
 *   const u = new api.Socket();          // node's `new net.Socket()`: unconnected,
 *   u.connect(7, '10.7.0.1');            // bound to this stack, connected by its user
 *
 * Contract with the facade: `clock.now()` gives the time passed to every core call;
 * `clock.schedule()` is called after every core call (write, read, shutdown,
 * close, abort, connect, listen, accept) so the facade's one timer follows the
 * core's deadlines. Hosts are IPv4 literals or names resolved by `lookup` (the stack's dns.lookup).
 */
import { parseAddress, parseIpv6Address, type Ipv4Address } from '@netstack/ip';
import type { TcpLayer } from '@netstack/tcp';
import { IMMEDIATE_NOTIFIER, type Notifier } from '../events.js';
import { detachedLife, type NetLife } from '../lifetime.js';
import { kContext, type NetContext, type StackClock } from './context.js';
import { invalidArgType, invalidArgValue } from './errors.js';
import { Server, type ConnectionListener, type ServerOptions } from './server.js';
import { TcpInterceptor, type InterceptListener } from './intercept.js';
import { normalizeConnectArgs, Socket, type ConnectOptions, type LookupFunction, type SocketOptions } from './socket.js';

/** Without a resolver: every name is ENOTFOUND, as getaddrinfo says it (node's dnsException). */
const noLookup: LookupFunction = (hostname, _options, callback) => {
  const e = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { errno: -3008, code: 'ENOTFOUND', syscall: 'getaddrinfo', hostname });
  process.nextTick(callback, e, undefined as unknown as string);
};

export type { StackClock } from './context.js';
export type { ServerOptions, ConnectionListener, ListenOptionsNet, DropInfo } from './server.js';
export type { SocketOptions, SocketOnRead, TcpConnectOptions, ConnectOptions, AddressInfo, LookupFunction } from './socket.js';
export type { ErrnoError } from './errors.js';
export type { InterceptInfo, InterceptDecision, InterceptListener, InterceptAcceptOptions } from './intercept.js';
export { Socket, Server };

export interface TcpApi {
  createServer(options?: ServerOptions | ConnectionListener, onConnection?: ConnectionListener): Server;
  /** Like net.connect / net.createConnection: `(options[, cb])` or `(port, host[, cb])`. */
  connect(options: ConnectOptions | number, hostOrCb?: string | (() => void), cb?: () => void): Socket;
  createConnection: TcpApi['connect'];
  /**
   * `new stack.tcp.Socket(options)`: node's `new net.Socket()` on this stack, not yet
   * connected; call `socket.connect(port, host)` (or hand it to a driver that does,
   * e.g. pg's `stream` option). Its instances are `Socket`s.
   */
  readonly Socket: new (options?: SocketOptions) => Socket;
  /**
   * Sees every new connection to an address not the stack's (`createStack({ anyAddress:
   * true })`) before the handshake is answered, and decides: `decision.accept()` gives a
   * Socket whose localAddress/localPort are the original destination, `decision.refuse(kind)`
   * answers RST or an ICMP error, or drops (net/intercept.ts). No argument: removes it
   * (such connections are then answered with RST).
   */
  intercept(listener?: InterceptListener): void;
}

/**
 * `ownAddress`: the stack's IPv4 address, or all of them (the primary first; none on an
 * IPv6-only stack); `ownAddresses6` its IPv6 ones. Binds and listens take these.
 */
export function createTcpApi(layer: TcpLayer, clock: StackClock, ownAddress: string | readonly string[] | (() => readonly Ipv4Address[]), events: Notifier = IMMEDIATE_NOTIFIER,
  life: NetLife = detachedLife(), lookup: LookupFunction = noLookup, ownAddresses6: readonly string[] = [], interfaceName = 'memory'): TcpApi {
  // A function: the IPv4 addresses as they are now (a stack whose address comes by DHCP).
  const live = typeof ownAddress === 'function' ? ownAddress : undefined;
  const own4 = live !== undefined ? [] : (typeof ownAddress === 'string' ? [ownAddress] : ownAddress as readonly string[]).map((t) => {
    const a = parseAddress(t);
    if (a === undefined) throw invalidArgValue('ownAddress', ownAddress, 'must be an IPv4 address or a list of them');
    return a;
  });
  const own6 = ownAddresses6.map((t) => {
    const a = parseIpv6Address(t);
    if (a === undefined) throw invalidArgValue('ownAddresses6', ownAddresses6, 'must hold IPv6 addresses');
    return a;
  });
  const ctx: NetContext = { layer, clock, ownAddresses4: own4, ownAddresses6: own6, interfaceName, events, life, lookup, listening: new Map() };
  if (live !== undefined) Object.defineProperty(ctx, 'ownAddresses4', { get: live, enumerable: true });
  const createServer = (options?: ServerOptions | ConnectionListener, onConnection?: ConnectionListener): Server => {
    if (typeof options === 'function' || options === undefined) {
      return new Server({ [kContext]: ctx } as ServerOptions, (options ?? onConnection));
    }
    if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
    return new Server({ ...options, [kContext]: ctx } as ServerOptions, onConnection);
  };
  /** A Socket class of this stack: what `new net.Socket()` is to the kernel's stack. */
  class StackSocket extends Socket {
    constructor(options?: SocketOptions) {
      // Non-objects go through as given, for Socket's own argument check.
      super(options === undefined ? ({ [kContext]: ctx } as SocketOptions) : options !== null && typeof options === 'object' ? ({ ...options, [kContext]: ctx } as SocketOptions) : options);
    }
  }
  Object.defineProperty(StackSocket, 'name', { value: 'Socket' });
  const connect = (...args: unknown[]): Socket => {
    const [opts] = normalizeConnectArgs(args);
    const socketOptions: SocketOptions = {};
    for (const k of ['allowHalfOpen', 'signal', 'highWaterMark', 'readableHighWaterMark', 'writableHighWaterMark'] as const) {
      if (opts[k] !== undefined) (socketOptions as Record<string, unknown>)[k] = opts[k];
    }
    const socket = new StackSocket(socketOptions);
    (socket.connect as (...a: unknown[]) => Socket)(...args);
    return socket;
  };
  const interceptor = new TcpInterceptor(ctx);
  return {
    createServer, connect: connect as TcpApi['connect'], createConnection: connect as TcpApi['connect'], Socket: StackSocket,
    intercept: (listener?: InterceptListener) => interceptor.set(listener),
  };
}
