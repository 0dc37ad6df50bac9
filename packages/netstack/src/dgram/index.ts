/**
 * The `node:dgram` facade (`stack.udp`), beside the `node:net` one in ../net: sockets
 * built on the UDP core's endpoints (@netstack/udp's `SocketHost`), with Node's errors
 * made here from the core's errno codes.
 */
import type { SocketHost, UdpLayer } from '@netstack/udp';
import { interceptFlows, type FlowClock, type FlowListener } from './flows.js';
import { IMMEDIATE_NOTIFIER, type Notifier } from '../events.js';
import { detachedLife, type HandleCounter } from '../lifetime.js';
import { outOfRange } from '../node-errors.js';
import { UdpSocket, type DgramContext, type RemoteInfo, type UdpSocketOptions } from './socket.js';

export { UdpSocket } from './socket.js';
export { UdpFlowSocket } from './flows.js';
export type { FlowListener, FlowRemoteInfo } from './flows.js';
export type { DgramContext, UdpSocketOptions, RemoteInfo, AddressInfo, BindOptions, SendCallback } from './socket.js';

/** `stack.udp`: node:dgram's `createSocket`. */
export interface UdpApi {
  createSocket(type: 'udp4' | 'udp6' | UdpSocketOptions, onMessage?: (msg: Buffer, rinfo: RemoteInfo) => void): UdpSocket;
  /**
   * On a stack with `anyAddress: true`: every new flow (4-tuple) to an address not the
   * stack's is handed to `listener` as a `UdpFlowSocket` ('message', `send` from the
   * original destination, 'close'; dgram/flows.ts). No argument: removes it (such
   * datagrams are then dropped). Throws ERR_INVALID_STATE on a UDP API without flows.
   */
  interceptFlows(listener?: FlowListener): void;
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
  /** The UDP layer and clock for `interceptFlows` (a stack gives them). */
  flows?: { layer: UdpLayer; clock: FlowClock };
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
  const flows = options.flows;
  return {
    createSocket: (type, onMessage) => new UdpSocket(ctx, type, onMessage),
    interceptFlows: (listener?: FlowListener) => {
      if (flows === undefined) throw Object.assign(new Error('this UDP API has no flows (made without a UDP layer)'), { code: 'ERR_INVALID_STATE' });
      interceptFlows(flows.layer, ctx.notifier, flows.clock, ctx.interfaceName, listener);
    },
  };
}
