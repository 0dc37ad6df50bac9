/**
 * What every Socket and Server of one stack shares: the TCP core, the facade's
 * clock, and the stack's own address. Internal to `net/`.
 */
import type { Ipv4Address, Ipv6Address } from '@netstack/ip';
import type { TcpLayer } from '@netstack/tcp';
import type { Notifier } from '../events.js';
import type { NetLife } from '../lifetime.js';

/** node's LookupFunction: `dns.lookup`'s shape (`all: true` when autoSelectFamily asks for every address). */
export type LookupFunction = (
  hostname: string,
  options: { family?: number | undefined; hints: number; all?: boolean },
  callback: (err: NodeJS.ErrnoException | null, address: string | { address: string; family: number }[], family?: number) => void,
) => void;

export interface StackClock {
  /** Current time in ms (performance.now() in production, virtual in simulation). */
  now(): number;
  /** Re-arms the facade's one timer after anything that may have changed deadlines (call after every core call you make). */
  schedule(): void;
  /**
   * A one-shot timer on this clock (`socket.setTimeout`), so idle timeouts run on virtual
   * time in simulation. Absent: real, unref'd timers.
   */
  setTimer?(fn: () => void, ms: number): unknown;
  cancel?(handle: unknown): void;
}

/** @internal */
export interface NetContext {
  readonly layer: TcpLayer;
  readonly clock: StackClock;
  readonly ownAddress: Ipv4Address;
  readonly ownAddressText: string;
  /** The stack's IPv6 addresses: none on an IPv4-only stack (then the facade is IPv4 only, as before). */
  readonly ownAddresses6: readonly Ipv6Address[];
  /** The name of the stack's one interface: the zone of its link-local addresses (`fe80::2%tun0`). */
  readonly interfaceName: string;
  /** Where sockets and servers post themselves to emit events (the stack's event queue). */
  readonly events: Notifier;
  /** The stack's handle count and members (lifetime.ts): what keeps the process alive, what close() ends. */
  readonly life: NetLife;
  /** The default `lookup` of `connect({ host: 'name' })`: the stack's `dns.lookup`. */
  readonly lookup: LookupFunction;
}

/** @internal the key under which `createTcpApi` hands its context to a Socket / Server. */
export const kContext: unique symbol = Symbol('netstack.net.context');

/** The default read/write high-water mark of a socket (node 20 uses 16 KiB; TCP wants more in flight). */
export const DEFAULT_HIGH_WATER_MARK = 64 * 1024;
