/**
 * The `node:dgram` facade (`stack.udp`), beside the `node:net` one in ../net: sockets
 * built on the UDP core's endpoints (@netstack/udp's `SocketHost`), with Node's errors
 * made here from the core's errno codes.
 */
import type { SocketHost } from '@netstack/udp';
import { IMMEDIATE_NOTIFIER, type Notifier } from '../events.js';
import { detachedLife, type HandleCounter } from '../lifetime.js';
import { outOfRange } from '../node-errors.js';
import { UdpSocket, type DgramContext, type RemoteInfo, type UdpSocketOptions } from './socket.js';

export { UdpSocket } from './socket.js';
export type { DgramContext, UdpSocketOptions, RemoteInfo, AddressInfo, BindOptions, SendCallback } from './socket.js';

/** `stack.udp`: node:dgram's `createSocket`. */
export interface UdpApi {
  createSocket(type: 'udp4' | 'udp6' | UdpSocketOptions, onMessage?: (msg: Buffer, rinfo: RemoteInfo) => void): UdpSocket;
}

export interface UdpApiOptions {
  /**
   * Where sockets post themselves to emit 'message' (a stack's event queue, which runs
   * them once the receive batch is over). Default: at once, after the datagram was queued.
   */
  notifier?: Notifier;
  /** Told when a socket starts or stops keeping the process alive (a stack's handle count). Default: nobody. */
  handles?: HandleCounter;
  /** Bound on datagrams a socket's receive queue holds (also bounded by its receive buffer, in bytes). Default 1024. */
  receiveQueueLimit?: number;
  /** The name of the stack's one interface: the zone of its link-local addresses (`fe80::2%tun0`). Default 'memory'. */
  interfaceName?: string;
  /** Whether the stack has IPv6 (false: IPv6 destinations are EADDRNOTAVAIL, as on Linux with IPv6 disabled). Default true. */
  ipv6?: boolean;
}

/** node:dgram's `createSocket` over a UDP core (a stack's UdpLayer). */
export function createUdpApi(udp: SocketHost, options: UdpApiOptions = {}): UdpApi {
  const receiveQueueLimit = options.receiveQueueLimit ?? 1024;
  if (!Number.isInteger(receiveQueueLimit) || receiveQueueLimit < 0) {
    throw outOfRange('options.receiveQueueLimit', 'an integer >= 0', options.receiveQueueLimit);
  }
  const ctx: DgramContext = {
    udp, notifier: options.notifier ?? IMMEDIATE_NOTIFIER, handles: options.handles ?? detachedLife(), receiveQueueLimit,
    interfaceName: options.interfaceName ?? 'memory', ipv6: options.ipv6 !== false,
  };
  return { createSocket: (type, onMessage) => new UdpSocket(ctx, type, onMessage) };
}
