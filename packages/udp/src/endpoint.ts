/**
 * The boundary between the UDP layer and its sockets, in its own file so that
 * socket.ts needs nothing from layer.ts (no import cycle): a socket owns a
 * `UdpEndpoint` record and reaches the layer only through `SocketHost`.
 */
import type { Ipv4Address, SendError } from '@netstack/ip';

/** One socket's place in the port table. Owned by a UdpSocket; the layer only reads and routes. */
export interface UdpEndpoint {
  localAddr: Ipv4Address;
  localPort: number;
  remoteAddr: Ipv4Address;
  /** 0 when not connected. */
  remotePort: number;
  readonly reuseAddr: boolean;
  /** Bind order, for ties in demultiplexing. */
  order: number;
  /** A datagram for this socket; `payload` is borrowed for the call. False when it was dropped (buffer full). */
  onDatagram(payload: Uint8Array, src: Ipv4Address, srcPort: number, now: number): boolean;
  /** An ICMP error reported to this (connected) socket: an errno code such as ECONNREFUSED. */
  onError(code: string, now: number): void;
  /** Closes the owning socket (UdpLayer.close). */
  close(): void;
}

/**
 * A socket with events to emit: the host runs `notify()` when no layer is in the middle
 * of its work (the stack's event queue; `notifyQueued` is the queue's flag, owned by the
 * socket). The same shape as @netstack/netstack's `Notifiable`.
 */
export interface UdpNotifiable {
  notifyQueued: boolean;
  notify(): void;
}

/** Where the layer hands sockets with events to emit (a stack's event queue). */
export interface UdpNotifier {
  post(target: UdpNotifiable): void;
}

/**
 * What keeps the process alive (a stack's count of ref'd handles, like libuv's active
 * handles): a socket adds 1 while it is bound and ref'd, and takes it back on unref() or close.
 */
export interface HandleCounter {
  hold(delta: 1 | -1): void;
}

/** What a UdpSocket needs from the layer (UdpLayer implements it). */
export interface SocketHost extends UdpNotifier, HandleCounter {
  /** The host (a stack) was closed: binding fails with ERR_STACK_CLOSED. */
  readonly closed: boolean;
  /** Bound on datagrams a socket holds before 'listening'. */
  readonly receiveQueueLimit: number;
  bind(ep: UdpEndpoint, addr: Ipv4Address, port: number): 'EADDRINUSE' | 'EADDRNOTAVAIL' | 'EMFILE' | undefined;
  unbind(ep: UdpEndpoint): void;
  connect(ep: UdpEndpoint, addr: Ipv4Address, port: number): 'ENETUNREACH' | undefined;
  disconnect(ep: UdpEndpoint, boundAddr: Ipv4Address): void;
  send(ep: UdpEndpoint, dst: Ipv4Address, dstPort: number, chunks: readonly Uint8Array[], length: number, ttl?: number): SendError | undefined;
}
