/**
 * What every Socket and Server of one stack shares: the TCP core, the facade's
 * clock, and the stack's own address. Internal to `net/`.
 */
import type { IpAddress, Ipv4Address, Ipv6Address } from '@netstack/ip';
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
  /** The stack's IPv4 addresses, the primary first: none on an IPv6-only stack. */
  readonly ownAddresses4: readonly Ipv4Address[];
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
  /**
   * The listening servers' ports and addresses (`family` as given to the core's listen:
   * undefined for a dual `::`), so that a connect from one of those ports fails as Linux's
   * bind(2) does (EADDRINUSE), which the core's connect does not check.
   */
  readonly listening: Map<number, ListenEntry[]>;
}

/** @internal One listening server, as `NetContext.listening` holds it. */
export interface ListenEntry {
  address: IpAddress;
  family: 'IPv4' | 'IPv6' | undefined;
}

/**
 * @internal
 * Whether a bind of `local` (undefined: the wildcard) of family `six` to `port` clashes
 * with a listener there, as Linux's bind conflict rule (inet_csk_bind_conflict): the
 * same address, or a wildcard on either side, of an overlapping family (a dual `::`
 * overlaps both; IPV6_V6ONLY or `0.0.0.0` only its own).
 */
export function bindClash(ctx: NetContext, port: number, local: IpAddress | undefined, six: boolean): boolean {
  const list = ctx.listening.get(port);
  if (list === undefined) return false;
  for (const l of list) {
    const lwild = l.address === 0;
    const lfam = lwild ? l.family : typeof l.address === 'number' ? 'IPv4' : 'IPv6';
    // A mapped bind on an AF_INET6 socket is an IPv4 one (local is then a number); the
    // wildcard `::` of an AF_INET6 socket (not IPV6_V6ONLY, as node binds it) is both.
    const fam = local === undefined ? (six ? 'IPv6' : 'IPv4') : typeof local === 'number' ? 'IPv4' : 'IPv6';
    if (!(lfam === undefined || lfam === fam || (local === undefined && six))) continue;
    if (lwild || local === undefined || l.address === local) return true;
  }
  return false;
}

/** @internal the key under which `createTcpApi` hands its context to a Socket / Server. */
export const kContext: unique symbol = Symbol('netstack.net.context');

/** The default read/write high-water mark of a socket (node 20 uses 16 KiB; TCP wants more in flight). */
export const DEFAULT_HIGH_WATER_MARK = 64 * 1024;
