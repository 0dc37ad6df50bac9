/**
 * The DHCP client in a stack (`createStack({ tap, address: 'dhcp' })`, issue 13): the pure
 * client (client.ts) carried beside the IPv4 layer, as the README's "Wiring" says.
 *
 *  - Out: the client's datagrams as whole IPv4/UDP packets (frame.ts) straight to the
 *    Ethernet interface (limited broadcast needs no IPv4 configuration there).
 *  - In: the stack's receiver asks `isDhcpReply` (a few byte tests: IPv4, UDP, 67 → 68) and
 *    gives those to `input` before the IP layer; a packet that fails the full check
 *    (checksums …) goes on to the IP layer, which drops and counts it as any other.
 *  - Time: `pollAt` / `poll` in the stack's one timer (the client's deadline, and the
 *    interface's while a leased address is being probed).
 *  - A lease: the address goes to the interface with an RFC 5227 probe (RFC 2131 §4.4.1:
 *    the client SHOULD probe); only once the interface holds it as bound (checked after
 *    every receive batch and on the timer) does the IPv4 layer get it (`configure`), with
 *    the prefix and the router, the MTU (option 26) the interface, and the DNS servers the
 *    stub resolver (unless the user named servers); then the `'lease'` event. A probe that
 *    finds the address in use (the interface gives it up) → `client.conflict` → DECLINE.
 *  - The end of a lease (expiry, NAK, DECLINE, RELEASE on close): the address leaves the
 *    interface and the IP layer (sockets bound to it stay and can no longer send, as on
 *    Linux), the MTU and DNS servers go back; `'leaseLost'` when users had seen the lease.
 */
import { formatAddress, type Ipv4Layer } from '@netstack/ip';
import type { EthernetInterface } from '@netstack/ethernet';
import { DhcpClient, type DhcpClientStats, type DhcpEvent, type DhcpLease, type DhcpLossReason } from './client.js';
import { dhcpClientPacket, dhcpServerPayload } from './frame.js';

/** `createStack({ dhcp })`: options of the DHCP client (with `address: 'dhcp'`). */
export interface DhcpStackOptions {
  /** Option 12, the host name the server may register (e.g. in dnsmasq's DNS). */
  hostName?: string;
  /** Option 61 (default: hardware type 1 and the MAC, RFC 2132 §9.14). */
  clientId?: Uint8Array;
  /** A remembered address (dotted quad): start in INIT-REBOOT (RFC 2131 §3.2), asking for it again. */
  address?: string;
  /** [min, max] ms before the first DISCOVER (default [0, 0]; RFC 2131 §4.4.1 suggests [1000, 10000]). */
  initialDelay?: readonly [number, number];
  /** Probe the leased address by ARP before using it (RFC 5227; default true, RFC 2131 §4.4.1 SHOULD). */
  probe?: boolean;
}

/** A lease as users see it (`stack.lease`, the `'lease'` event). Addresses as text. */
export interface StackLease {
  /** 'acquired': the first one; 'renewed': extended as it was; 'changed': another address or other parameters. */
  type: 'acquired' | 'renewed' | 'changed';
  address: string;
  prefixLength: number;
  subnetMask: string;
  /** The default gateway: the first router of option 3 inside the subnet, if any. */
  gateway: string | undefined;
  routers: string[];
  /** Option 6, as given (the stub resolver asks them unless `dns` named servers). */
  dns: string[];
  /** Option 26 when the server gave one (the interface's MTU now), else undefined. */
  mtu: number | undefined;
  /** The server's identifier (option 54). */
  server: string;
  /** Seconds, as given (0xffffffff: infinite). */
  leaseTime: number;
  /** T1 and T2, and the end (null: infinite), as wall-clock dates. */
  renewAt: Date;
  rebindAt: Date;
  expires: Date | null;
}

/** What `'leaseLost'` reports. */
export interface StackLeaseLost {
  address: string;
  /** 'expired' (not renewed in time: no server answered), 'nak', 'declined' (an ARP conflict), 'released' (close()). */
  reason: DhcpLossReason;
}

/** Counters of the wiring (beside the client's): what came to port 68 and what was applied. */
export interface DhcpWiringStats {
  /** UDP 67 → 68 packets given to the client. */
  InReplies: number;
  /** Packets that looked like a reply at the byte test but failed the full check (left to the IP layer). */
  InLeftToIp: number;
  /** Leases the IP layer took (after the probe). */
  Applied: number;
  /** Leases removed from the IP layer. */
  Removed: number;
  /** Addresses given up by the interface's probe (a conflict): DECLINEd. */
  ProbeConflicts: number;
  /** A lease the IP layer refused (never expected: the client checks the same rules). */
  ApplyErrors: number;
}

export interface DhcpWiringHost {
  eth: EthernetInterface;
  ip: Ipv4Layer;
  /** The clock the client's times are on (ms). */
  now(): number;
  /** Re-arm the stack's timer (the client's deadline moved). */
  schedule(): void;
  /** A DHCP lease's DNS servers for the stub resolver ([] at its end). */
  leaseDns(servers: string[]): void;
  /** The interface's MTU changed (the stack's link info). */
  mtuChanged(mtu: number): void;
  /** Emits on a later tick (never from inside the packet path). */
  emit(event: 'lease', lease: StackLease): void;
  emit(event: 'leaseLost', lost: StackLeaseLost): void;
}

/**
 * The cheap test before the IP layer: IPv4, protocol 17, UDP source port 67 and destination
 * port 68 (RFC 2131 §4.1), whatever the destination address.
 */
export function isDhcpReply(p: Uint8Array): boolean {
  if (p.length < 28 || p[9] !== 17 || p[0]! >>> 4 !== 4) return false;
  const h = (p[0]! & 0x0f) * 4;
  return p.length >= h + 8 && p[h] === 0 && p[h + 1] === 67 && p[h + 2] === 0 && p[h + 3] === 68;
}

export class DhcpWiring {
  readonly client: DhcpClient;
  readonly #host: DhcpWiringHost;
  readonly #probe: boolean;
  readonly #defaultMtu: number;
  /** Applied to the interface, being probed; not yet in the IP layer. */
  #pending: DhcpLease | undefined;
  #pendingType: StackLease['type'] = 'acquired';
  /** In the IP layer, announced to users. */
  #bound: DhcpLease | undefined;
  #boundType: StackLease['type'] = 'acquired';
  /** `remove` took away a lease users had seen: its `lost` event says 'leaseLost'. */
  #lostBound: DhcpLease | undefined;
  #ident = 0;
  readonly #c: DhcpWiringStats = { InReplies: 0, InLeftToIp: 0, Applied: 0, Removed: 0, ProbeConflicts: 0, ApplyErrors: 0 };
  readonly #waiters = new Set<() => void>();

  constructor(host: DhcpWiringHost, options: DhcpStackOptions, random?: (n: number) => number) {
    this.#host = host;
    this.#probe = options.probe !== false;
    this.#defaultMtu = host.eth.mtu;
    const remembered = options.address;
    this.client = new DhcpClient({
      send: (bytes, to) => { host.eth.send(dhcpClientPacket(bytes, to, this.#ident = (this.#ident + 1) & 0xffff)); },
      apply: (lease, previous) => this.#apply(lease, previous),
      remove: (lease) => this.#remove(lease),
      event: (e) => this.#event(e),
    }, {
      mac: host.eth.mac,
      ...(random !== undefined ? { randomInt: random } : {}),
      ...(options.hostName !== undefined ? { hostName: options.hostName } : {}),
      ...(options.clientId !== undefined ? { clientId: options.clientId } : {}),
      ...(options.initialDelay !== undefined ? { initialDelay: options.initialDelay } : {}),
      ...(remembered !== undefined ? { address: parseDotted(remembered) } : {}),
    });
  }

  /** The lease in use (in the IP layer), as users see it. */
  get lease(): StackLease | undefined {
    return this.#bound === undefined ? undefined : this.#view(this.#bound, this.#boundType);
  }

  start(now: number): void {
    this.client.start(now);
  }

  /**
   * A packet `isDhcpReply` said yes to: true when the client took it, false to give it to the
   * IP layer. `trusted`: the link's meta vouched for the checksum (csumPartial / dataValid).
   */
  input(packet: Uint8Array, now: number, trusted = false): boolean {
    const m = dhcpServerPayload(packet, trusted);
    if (typeof m === 'string') { this.#c.InLeftToIp++; return false; }
    this.#c.InReplies++;
    this.client.input(m, now);
    this.check(now);
    return true;
  }

  pollAt(): number {
    const c = this.client.pollAt();
    return this.#pending === undefined ? c : Math.min(c, this.#host.eth.pollAt());
  }

  poll(now: number): void {
    this.client.poll(now);
    if (this.#pending !== undefined) this.#host.eth.poll(now);
    this.check(now);
  }

  /**
   * After a receive batch and on the timer: a probed address the interface now holds as
   * bound goes to the IP layer; one it gave up (RFC 5227 §2.1.1: someone answered or probed
   * for it) is declined.
   */
  check(now: number): void {
    const p = this.#pending;
    if (p === undefined) return;
    const state = this.#host.eth.addressState(p.address);
    if (state === 'bound') this.#commit(p, this.#pendingType);
    else if (state === undefined) {
      this.#c.ProbeConflicts++;
      this.client.conflict(p.address, now);
      this.#host.schedule();
    }
  }

  /**
   * RELEASE (unicast to the server, from the lease) and remove; before the link closes.
   * Returns a check that says whether the RELEASE still waits for the server's MAC (ARP):
   * the stack then keeps the link open a moment (bounded) so it can leave.
   */
  close(now: number): (() => boolean) | undefined {
    const server = this.client.lease?.serverId;
    this.client.close(now);
    this.#waiters.clear();
    if (server === undefined) return undefined;
    const eth = this.#host.eth;
    const waiting = (): boolean => {
      const n = eth.neighbours.get(server);
      return n !== undefined && n.state === 'INCOMPLETE' && n.queued > 0;
    };
    return waiting() ? waiting : undefined;
  }

  /** Stops waiting (a whenAddress timed out or was aborted). */
  cancelWait(resolve: () => void): void {
    this.#waiters.delete(resolve);
  }

  /** Calls `resolve` once a lease is in the IP layer (at once when one is). */
  waitFor(resolve: () => void): void {
    if (this.#bound !== undefined) resolve();
    else this.#waiters.add(resolve);
  }

  stats(): DhcpClientStats & DhcpWiringStats {
    return { ...this.client.stats(), ...this.#c };
  }

  #apply(lease: DhcpLease, previous: DhcpLease | undefined): void {
    const eth = this.#host.eth;
    const cfg = { address: lease.address, prefixLength: lease.prefixLength, ...(lease.gateway !== undefined ? { gateway: lease.gateway } : {}) };
    if (previous !== undefined && previous.address === lease.address) {
      // Same address, other parameters: no new probe (the address is ours already).
      eth.configureIpv4({ ...cfg, probe: false });
      if (this.#pending !== undefined) { this.#pending = lease; return; }
      this.#commit(lease, 'changed');
      return;
    }
    this.#pending = lease;
    // Another address replacing one users saw (the client removed it just now): 'changed'.
    this.#pendingType = this.#lostBound !== undefined ? 'changed' : 'acquired';
    eth.configureIpv4({ ...cfg, probe: this.#probe });
    if (!this.#probe) this.#commit(lease, this.#pendingType);
  }

  #commit(lease: DhcpLease, type: StackLease['type']): void {
    const host = this.#host;
    this.#pending = undefined;
    try {
      host.ip.configure({ addresses: [lease.address], prefixLength: lease.prefixLength, gateway: lease.gateway });
    } catch {
      this.#c.ApplyErrors++;
      return;
    }
    this.#c.Applied++;
    this.#lostBound = undefined; // replaced ('changed'): no loss to report
    this.#bound = lease;
    this.#boundType = type;
    this.#setMtu(lease.mtu);
    host.leaseDns(lease.dnsServers.map((a) => formatAddress(a)));
    host.emit('lease', this.#view(lease, type));
    for (const w of [...this.#waiters]) w();
    this.#waiters.clear();
  }

  #remove(lease: DhcpLease): void {
    const host = this.#host;
    if (this.#pending?.address === lease.address) this.#pending = undefined;
    host.eth.removeAddress(lease.address);
    if (this.#bound?.address === lease.address) {
      this.#bound = undefined;
      this.#lostBound = lease;
      this.#c.Removed++;
      host.ip.configure({ addresses: [], prefixLength: lease.prefixLength });
      this.#setMtu(undefined);
      host.leaseDns([]);
    }
  }

  #event(e: DhcpEvent): void {
    if (e.type === 'renewed') {
      if (this.#pending !== undefined) this.#pending = e.lease;
      if (this.#bound !== undefined) {
        this.#bound = e.lease;
        this.#boundType = 'renewed';
        this.#host.emit('lease', this.#view(e.lease, 'renewed'));
      }
    } else if (e.type === 'lost') {
      // The address users saw: this lease's, or the one it was replacing while its probe ran.
      const seen = this.#lostBound;
      if (seen !== undefined) {
        this.#lostBound = undefined;
        this.#host.emit('leaseLost', { address: formatAddress(seen.address), reason: e.reason });
      }
    }
  }

  #setMtu(mtu: number | undefined): void {
    const eth = this.#host.eth;
    const max = this.#defaultMtu;
    // Option 26 at most the device's (a larger one cannot be carried), at least 68 (the client checked).
    const want = mtu === undefined ? max : Math.min(mtu, max);
    if (want === eth.mtu) return;
    eth.setMtu(want);
    this.#host.mtuChanged(want);
  }

  #view(l: DhcpLease, type: StackLease['type']): StackLease {
    const toDate = (at: number): Date => new Date(Date.now() + (at - this.#host.now()));
    return {
      type,
      address: formatAddress(l.address),
      prefixLength: l.prefixLength,
      subnetMask: formatAddress(l.subnetMask >>> 0),
      gateway: l.gateway === undefined ? undefined : formatAddress(l.gateway),
      routers: l.routers.map((a) => formatAddress(a)),
      dns: l.dnsServers.map((a) => formatAddress(a)),
      mtu: l.mtu,
      server: formatAddress(l.serverId),
      leaseTime: l.leaseTime,
      renewAt: toDate(l.renewAt),
      rebindAt: toDate(l.rebindAt),
      expires: l.expiresAt === Infinity ? null : toDate(l.expiresAt),
    };
  }
}

function parseDotted(text: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (m === null || m.slice(1).some((x) => Number(x) > 255)) throw new TypeError(`not an IPv4 address: ${text}`);
  return ((Number(m[1]) << 24) | (Number(m[2]) << 16) | (Number(m[3]) << 8) | Number(m[4])) >>> 0;
}
