/**
 * A DHCP client (RFC 2131 §4.4, Figure 5) as a pure state machine: it reads no clock and
 * arms no timer. Time is an argument (`start(now)`, `input(bytes, now)`, `poll(now)`,
 * `conflict(address, now)`, `close(now)`), and `pollAt()` says when it next needs to run.
 * Datagrams leave, and the lease reaches the stack, through `DhcpClientIo`; the embedding
 * hands every datagram from port 67 to port 68 to `input` (frame.ts does the IPv4/UDP part
 * for an embedding that carries DHCP beside its address-less IP layer: README.md, "Wiring").
 *
 * States (RFC names): INIT → SELECTING (DISCOVER broadcast) → REQUESTING (REQUEST
 * broadcast naming the first acceptable OFFER's server) → BOUND (the lease applied) → at T1
 * RENEWING (REQUEST unicast to the server) → at T2 REBINDING (REQUEST broadcast to any
 * server) → at the lease's end the address is removed and the client starts over from
 * INIT: a lease never goes silently stale. With a remembered address, INIT-REBOOT → REBOOTING
 * (REQUEST broadcast with option 50, no server identifier). STOPPED after `close`.
 *
 * Timing:
 *  - §4.1: DISCOVER and the REQUESTs of REQUESTING and REBOOTING are retransmitted after
 *    4, 8, 16, 32, 64 s, each ± 1 s uniformly (the `randomInt` given: seeded in tests).
 *    SELECTING keeps going every 64 ± 1 s; REQUESTING and REBOOTING give up after the
 *    64 s wait and go back to INIT (§3.1 step 5, §3.2 step 5).
 *  - §4.4.5: RENEWING and REBINDING retransmit after half the time left to T2 (resp. the
 *    lease's end), at least 60 s, never past T2 (resp. the end).
 *  - T1 and T2 are options 58 and 59 when 0 < T1 < T2 < lease, else 0.5 and 0.875 of the
 *    lease (§4.4.5); all three count from when the exchange's first REQUEST left (§4.4.1:
 *    "the time at which the original request was sent"). Lease 0xffffffff: no timers (§3.3).
 *  - A lease shorter than 20 s is taken as 20 s (`ShortLeases`; dhcpcd's DHCP_MIN_LEASE):
 *    with 1 s, T1 and T2 would be 0 and a server that ACKs at once would be asked again at
 *    network speed, and the ARP probe (about 5 s, RFC 5227) would outlast the lease anyway.
 *  - NAK → INIT at once (§3.1 step 5); consecutive NAKs wait 4, 8, … 64 s before the next
 *    DISCOVER, so a server that NAKs everything is not answered at network speed.
 *  - DECLINE (`conflict`, §3.1 step 5 and §4.4.1) → INIT, DISCOVER again after 10 s (§3.1.5);
 *    after MAX_CONFLICTS (10) conflicts, after RATE_LIMIT_INTERVAL (60 s): RFC 5227 §2.1.1
 *    limits a host that keeps finding its addresses taken (a station answering every ARP
 *    probe) to one new address a minute. The count starts over when a lease is renewed.
 *  - RFC 2131 §4.4.1's random 1-10 s wait before the first DISCOVER is `initialDelay`
 *    (default none: one stack starting is not a building after a power cut).
 *
 * Matching (RFC 2131 §4.1): a reply is taken only when it is a BOOTREPLY with a DHCP
 * message type, for our chaddr (htype 1, hlen 6), with the xid of the exchange in flight
 * (a fresh random xid per exchange; retransmissions keep it), of a type the state expects,
 * and in REQUESTING and RENEWING from the server the lease is with (option 54). Anything else is
 * dropped and counted once. Nothing is queued: one exchange in flight, one offer taken.
 *
 * The address check after ACK (§4.4.1 "SHOULD probe", RFC 5227) is the embedding's: it
 * applies the lease through an ARP probe (ethernet's `addAddress(a, { probe: true })`)
 * and calls `conflict(address, now)` when @netstack/ethernet reports one; the client then
 * DECLINEs. `close(now)` RELEASEs a held lease (unicast, §4.4.6) and removes it.
 */
import { randomInt as cryptoRandomInt } from 'node:crypto';
import {
  DHCPACK,
  DHCPDECLINE,
  DHCPDISCOVER,
  DHCPNAK,
  DHCPOFFER,
  DHCPRELEASE,
  DHCPREQUEST,
  HTYPE_ETHERNET,
  INFINITE_LEASE,
  OPT_DNS,
  OPT_INTERFACE_MTU,
  OPT_REBINDING_TIME,
  OPT_RENEWAL_TIME,
  OPT_ROUTER,
  OPT_SUBNET_MASK,
  OP_BOOTREPLY,
  OP_BOOTREQUEST,
  emitDhcp,
  maskToPrefix,
  parseDhcp,
  type DhcpMessage,
  type DhcpOptions,
} from './wire.js';

export type DhcpState = 'INIT' | 'SELECTING' | 'REQUESTING' | 'BOUND' | 'RENEWING' | 'REBINDING' | 'INIT-REBOOT' | 'REBOOTING' | 'STOPPED';

export const BROADCAST_ADDRESS = 0xffffffff;

/** What an ACK gave, with its times on the caller's clock (ms). */
export interface DhcpLease {
  address: number;
  subnetMask: number;
  prefixLength: number;
  /** The first router of option 3 inside the subnet (what a host route table takes), if any. */
  gateway: number | undefined;
  routers: number[];
  dnsServers: number[];
  /** Option 26 when at least 68 (RFC 2132 §5.1), else undefined. */
  mtu: number | undefined;
  serverId: number;
  /** Seconds, as given (INFINITE_LEASE: forever). */
  leaseTime: number;
  /** T1 and T2 in seconds after `obtainedAt`. */
  renewalTime: number;
  rebindingTime: number;
  /** When the exchange's first REQUEST left (ms). */
  obtainedAt: number;
  renewAt: number;
  rebindAt: number;
  /** Infinity for an infinite lease. */
  expiresAt: number;
}

export type DhcpLossReason = 'expired' | 'nak' | 'declined' | 'released';

export type DhcpEvent =
  | { type: 'acquired'; lease: DhcpLease }
  /** Extended with the same address and parameters. */
  | { type: 'renewed'; lease: DhcpLease }
  /** Extended with another address or other parameters (mask, routers, DNS, MTU). */
  | { type: 'changed'; lease: DhcpLease; previous: DhcpLease }
  | { type: 'lost'; lease: DhcpLease; reason: DhcpLossReason };

/** Where a datagram from port 68 goes (to port 67): `address` BROADCAST_ADDRESS or a server; `source` 0 (0.0.0.0) before an address is held. */
export interface DhcpDestination {
  address: number;
  source: number;
}

export interface DhcpClientIo {
  /** Sends a UDP datagram 68 → 67 (the bytes are the client's; copy to keep). */
  send(bytes: Uint8Array, to: DhcpDestination): void;
  /** Configures the lease (address, prefix, gateway, DNS, MTU); `previous` is the lease it updates in place (same address) when there is one. */
  apply(lease: DhcpLease, previous: DhcpLease | undefined): void;
  /** Removes the lease's address and what came with it. */
  remove(lease: DhcpLease): void;
  /** Called after `apply` / `remove`, with the client's state already consistent. */
  event?(e: DhcpEvent): void;
}

export interface DhcpClientOptions {
  /** Our MAC (48-bit number): chaddr. */
  mac: number;
  /** Uniform random integer in [0, n) (default crypto.randomInt): xids and the ± 1 s jitter. */
  randomInt?: (n: number) => number;
  /** A remembered address: start in INIT-REBOOT (§3.2). */
  address?: number;
  /** Option 61 (default: type 1 and the MAC, RFC 2132 §9.14). */
  clientId?: Uint8Array;
  /** Option 12. */
  hostName?: string;
  /** Option 57 (default 1500: what our stack takes in one datagram without reassembly). */
  maxMessageSize?: number;
  /** Set the BROADCAST flag while no address is held (default true, §4.1: the stack accepts no unicast before it has an address). */
  requestBroadcast?: boolean;
  /** [min, max] ms before the first DISCOVER (default [0, 0]; RFC 2131 §4.4.1 suggests [1000, 10000]). */
  initialDelay?: readonly [number, number];
}

/** Counters, named like /proc/net/snmp's: each datagram in ends in exactly one In* drop or In{Offers,Acks,Naks}. */
export interface DhcpClientStats {
  OutDiscovers: number;
  OutRequests: number;
  OutDeclines: number;
  OutReleases: number;
  /** Of the above, retransmissions. */
  Retransmits: number;
  InDatagrams: number;
  InMalformed: number;
  /** op not BOOTREPLY (e.g. another client's request on the broadcast). */
  InNotReply: number;
  /** No message type: BOOTP. */
  InNotDhcp: number;
  /** Another hardware type or chaddr. */
  InChaddrMismatch: number;
  /** Not the xid of the exchange in flight (or none in flight). */
  InXidMismatch: number;
  /** An ACK / NAK from a server other than the lease's (REQUESTING, RENEWING). */
  InWrongServer: number;
  /** An OFFER / ACK / NAK without what it must carry (address, server id, lease time, a usable mask). */
  InBadReply: number;
  /** A type the state does not expect (a late OFFER in REQUESTING …). */
  InUnexpected: number;
  InOffers: number;
  InAcks: number;
  InNaks: number;
  Acquired: number;
  Renewed: number;
  Changed: number;
  Expired: number;
  Declined: number;
  Released: number;
  /** `conflict` calls for an address we do not hold. */
  ConflictsIgnored: number;
  /** ACKs with a lease shorter than MIN_LEASE_S, taken as MIN_LEASE_S. */
  ShortLeases: number;
  /** DECLINEs followed by RATE_LIMIT_INTERVAL rather than 10 s (RFC 5227 §2.1.1). */
  ConflictRateLimited: number;
}

/** §4.1: the retransmission delays, s. */
const BACKOFF_S = [4, 8, 16, 32, 64] as const;
/** §4.4.5: the least wait between REQUESTs in RENEWING / REBINDING. */
const MIN_RENEW_RETRY_MS = 60_000;
/** §3.1.5: the wait after a DECLINE. */
const DECLINE_WAIT_MS = 10_000;
/** The smallest interface MTU (option 26) taken: IPv4's minimum datagram size every host accepts (RFC 791, RFC 1122 §3.3.3). */
const MIN_LEASE_MTU = 576;
/** RFC 5227 §1.1: MAX_CONFLICTS (10) and RATE_LIMIT_INTERVAL (60 s). */
const MAX_CONFLICTS = 10;
const RATE_LIMIT_INTERVAL_MS = 60_000;
/** The shortest lease taken (s): a shorter one is lengthened to it (dhcpcd's DHCP_MIN_LEASE). */
export const MIN_LEASE_S = 20;
/** The options asked for (option 55). */
const PARAMETERS = [OPT_SUBNET_MASK, OPT_ROUTER, OPT_DNS, OPT_INTERFACE_MTU, OPT_RENEWAL_TIME, OPT_REBINDING_TIME];

function zeroStats(): DhcpClientStats {
  return {
    OutDiscovers: 0, OutRequests: 0, OutDeclines: 0, OutReleases: 0, Retransmits: 0,
    InDatagrams: 0, InMalformed: 0, InNotReply: 0, InNotDhcp: 0, InChaddrMismatch: 0, InXidMismatch: 0,
    InWrongServer: 0, InBadReply: 0, InUnexpected: 0, InOffers: 0, InAcks: 0, InNaks: 0,
    Acquired: 0, Renewed: 0, Changed: 0, Expired: 0, Declined: 0, Released: 0, ConflictsIgnored: 0, ShortLeases: 0, ConflictRateLimited: 0,
  };
}

/** RFC 1122 §3.2.1.3: a usable host address (not 0, 127/8, class D/E, limited broadcast). */
function isUnicastHost(a: number): boolean {
  return a !== 0 && a >>> 24 !== 127 && a >>> 24 !== 0 && a >>> 28 < 0xe;
}

/** RFC 791 classful default when no mask is given (as ISC dhclient and systemd-networkd do). */
function classfulPrefix(a: number): number {
  return a >>> 31 === 0 ? 8 : a >>> 30 === 2 ? 16 : 24;
}

const sameList = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

function sameParameters(a: DhcpLease, b: DhcpLease): boolean {
  return a.address === b.address && a.prefixLength === b.prefixLength && a.gateway === b.gateway
    && sameList(a.routers, b.routers) && sameList(a.dnsServers, b.dnsServers) && a.mtu === b.mtu;
}

export class DhcpClient {
  readonly #io: DhcpClientIo;
  readonly #mac: number;
  readonly #randomInt: (n: number) => number;
  readonly #clientId: Uint8Array;
  readonly #hostName: string | undefined;
  readonly #maxMessageSize: number;
  readonly #requestBroadcast: boolean;
  readonly #initialDelay: readonly [number, number];
  readonly #stats = zeroStats();

  #state: DhcpState = 'INIT';
  /** The next deadline (Infinity: none). */
  #deadline = Infinity;
  /** The exchange in flight: its xid (undefined: none), transmissions so far, when it began (for `secs`), when its first REQUEST left. */
  #xid: number | undefined;
  #tries = 0;
  #exchangeStart = 0;
  #requestSentAt = 0;
  /** SELECTING's secs, repeated by the REQUEST (§4.4.1). */
  #discoverSecs = 0;
  /** REQUESTING: the offer taken. REBOOTING: the remembered address. */
  #offer: { address: number; serverId: number } | undefined;
  #remembered: number | undefined;
  #lease: DhcpLease | undefined;
  #naks = 0;
  /** Conflicts (DECLINEs) since the last renewed lease (RFC 5227 §2.1.1). */
  #conflicts = 0;
  #started = false;

  constructor(io: DhcpClientIo, options: DhcpClientOptions) {
    if (!Number.isInteger(options.mac) || options.mac < 0 || options.mac > 0xffffffffffff) throw new TypeError('options.mac must be a 48-bit MAC number');
    this.#io = io;
    this.#mac = options.mac;
    this.#randomInt = options.randomInt ?? cryptoRandomInt;
    const m = options.mac;
    this.#clientId = options.clientId ?? Uint8Array.of(HTYPE_ETHERNET, Math.floor(m / 2 ** 40) & 0xff, Math.floor(m / 2 ** 32) & 0xff, (m >>> 24) & 0xff, (m >>> 16) & 0xff, (m >>> 8) & 0xff, m & 0xff);
    this.#hostName = options.hostName;
    this.#maxMessageSize = options.maxMessageSize ?? 1500;
    this.#requestBroadcast = options.requestBroadcast ?? true;
    this.#initialDelay = options.initialDelay ?? [0, 0];
    if (options.address !== undefined) {
      if (!isUnicastHost(options.address)) throw new TypeError('options.address must be a unicast host address');
      this.#remembered = options.address;
      this.#state = 'INIT-REBOOT';
    }
  }

  get state(): DhcpState { return this.#state; }
  /** The lease held (BOUND, RENEWING, REBINDING), else undefined. */
  get lease(): DhcpLease | undefined { return this.#lease; }
  stats(): DhcpClientStats { return { ...this.#stats }; }
  pollAt(): number { return this.#deadline; }

  /** Begins: INIT-REBOOT sends its REQUEST at once; INIT its DISCOVER after `initialDelay`. */
  start(now: number): void {
    if (this.#started) return;
    this.#started = true;
    if (this.#state === 'INIT-REBOOT') this.#reboot(now);
    else {
      const [lo, hi] = this.#initialDelay;
      const at = now + lo + (hi > lo ? this.#randomInt(hi - lo + 1) : 0);
      if (at <= now) this.#discover(now);
      else this.#toInit(at);
    }
  }

  /** Runs what is due at `now` (loops over deadlines already passed, at most a few). */
  poll(now: number): void {
    for (let guard = 0; guard < 8 && this.#deadline <= now; guard++) this.#fire(now);
  }

  /**
   * RFC 5227 reported that someone else uses `address` (while we probed it, or bound and
   * given up): DECLINE it, drop it, and start over after 10 s. False (and counted) when it is not our lease's.
   */
  conflict(address: number, now: number): boolean {
    const lease = this.#lease;
    if (lease === undefined || lease.address !== address || this.#state === 'STOPPED') {
      this.#stats.ConflictsIgnored++;
      return false;
    }
    // §4.4.1 Table 5: DECLINE with ciaddr 0, options 50 and 54, a fresh xid, secs 0.
    const xid = this.#newXid();
    this.#send(this.#message(xid, 0, 0, false, { messageType: DHCPDECLINE, requestedIp: address, serverId: lease.serverId }, false), BROADCAST_ADDRESS, 0);
    this.#stats.OutDeclines++;
    this.#stats.Declined++;
    this.#conflicts++;
    const limited = this.#conflicts >= MAX_CONFLICTS;
    if (limited) this.#stats.ConflictRateLimited++;
    this.#toInit(now + (limited ? RATE_LIMIT_INTERVAL_MS : DECLINE_WAIT_MS));
    this.#lose('declined');
    return true;
  }

  /** RELEASEs a held lease (§4.4.6: unicast to the server, from the address) and removes it; then STOPPED. */
  close(now: number): void {
    void now;
    if (this.#state === 'STOPPED') return;
    const lease = this.#lease;
    if (lease !== undefined) {
      const xid = this.#newXid();
      this.#send(this.#message(xid, 0, lease.address, false, { messageType: DHCPRELEASE, serverId: lease.serverId }, false), lease.serverId, lease.address);
      this.#stats.OutReleases++;
      this.#stats.Released++;
    }
    this.#setState('STOPPED');
    this.#xid = undefined;
    this.#deadline = Infinity;
    if (lease !== undefined) this.#lose('released');
  }

  /** A UDP datagram to port 68 (its source is not trusted: the checks are on the message). */
  input(bytes: Uint8Array, now: number): void {
    const s = this.#stats;
    s.InDatagrams++;
    const m = parseDhcp(bytes);
    if (typeof m === 'string') { s.InMalformed++; return; }
    if (m.op !== OP_BOOTREPLY) { s.InNotReply++; return; }
    const type = m.options.messageType;
    if (type === undefined) { s.InNotDhcp++; return; }
    if (m.htype !== HTYPE_ETHERNET || m.hlen !== 6 || m.chaddr !== this.#mac) { s.InChaddrMismatch++; return; }
    if (this.#xid === undefined || m.xid !== this.#xid) { s.InXidMismatch++; return; }
    switch (this.#state) {
      case 'SELECTING':
        if (type !== DHCPOFFER) { s.InUnexpected++; return; }
        // §4.4.1: an offer needs an address and the server's identifier (to name it in REQUEST).
        if (!isUnicastHost(m.yiaddr) || m.options.serverId === undefined) { s.InBadReply++; return; }
        s.InOffers++;
        this.#request(m.yiaddr, m.options.serverId, now);
        return;
      case 'REQUESTING':
      case 'REBOOTING':
      case 'RENEWING':
      case 'REBINDING':
        if (type !== DHCPACK && type !== DHCPNAK) { s.InUnexpected++; return; }
        this.#reply(m, type, now);
        return;
      default:
        s.InUnexpected++;
    }
  }

  #reply(m: DhcpMessage, type: number, now: number): void {
    const s = this.#stats;
    const expected = this.#state === 'REQUESTING' ? this.#offer?.serverId : this.#state === 'RENEWING' ? this.#lease?.serverId : undefined;
    const sid = m.options.serverId;
    // Table 3: the server identifier MUST be in ACK and NAK; in REQUESTING and RENEWING it is the one we asked.
    if (sid === undefined) { s.InBadReply++; return; }
    if (expected !== undefined && sid !== expected) { s.InWrongServer++; return; }
    if (type === DHCPNAK) {
      s.InNaks++;
      this.#nak(now);
      return;
    }
    const lease = this.#leaseOf(m, sid);
    if (lease === undefined) { s.InBadReply++; return; }
    s.InAcks++;
    if (lease.leaseTime !== m.options.leaseTime) s.ShortLeases++;
    this.#bind(lease);
  }

  /** The lease an ACK gives, or undefined when it is unusable (no lease time, zero lease, a bad address or mask). */
  #leaseOf(m: DhcpMessage, serverId: number): DhcpLease | undefined {
    const o = m.options;
    const address = m.yiaddr;
    // §4.3.1: an ACK to a REQUEST carries the lease time; a zero lease could never be used.
    if (!isUnicastHost(address) || o.leaseTime === undefined || o.leaseTime === 0) return undefined;
    // A lease of a few seconds would have T1 = T2 = 0: a REQUEST per ACK at network speed.
    const L = o.leaseTime < MIN_LEASE_S ? MIN_LEASE_S : o.leaseTime;
    let prefixLength: number;
    let mask: number;
    if (o.subnetMask !== undefined) {
      const p = maskToPrefix(o.subnetMask);
      if (p === undefined || p === 0) return undefined;
      prefixLength = p;
      mask = o.subnetMask;
    } else {
      prefixLength = classfulPrefix(address);
      mask = prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
    }
    // Neither the subnet's network nor its broadcast address is a host's (RFC 3021 excepts /31, /32).
    if (prefixLength < 31 && ((address & ~mask) >>> 0 === 0 || (address | mask) >>> 0 === 0xffffffff)) return undefined;
    const routers = o.routers ?? [];
    const gateway = routers.find((r) => r !== address && isUnicastHost(r) && ((r ^ address) & mask) >>> 0 === 0);
    const obtainedAt = this.#requestSentAt;
    let t1: number;
    let t2: number;
    let renewAt: number;
    let rebindAt: number;
    let expiresAt: number;
    if (L === INFINITE_LEASE) {
      t1 = t2 = INFINITE_LEASE;
      renewAt = rebindAt = expiresAt = Infinity;
    } else {
      // §4.4.5: T1 0.5 and T2 0.875 of the lease unless the server gave consistent ones.
      t2 = o.rebindingTime !== undefined && o.rebindingTime > 0 && o.rebindingTime < L ? o.rebindingTime : Math.floor(L * 0.875);
      t1 = o.renewalTime !== undefined && o.renewalTime > 0 && o.renewalTime < t2 ? o.renewalTime : Math.min(Math.floor(L * 0.5), t2);
      renewAt = obtainedAt + t1 * 1000;
      rebindAt = obtainedAt + t2 * 1000;
      expiresAt = obtainedAt + L * 1000;
    }
    return {
      address,
      subnetMask: mask,
      prefixLength,
      gateway,
      routers,
      dnsServers: (o.dnsServers ?? []).filter(isUnicastHost),
      // RFC 2132 §5.1 allows 68, but every host takes 576-byte datagrams (RFC 1122 §3.3.3):
      // a smaller option (a rogue's 68 leaves TCP 28 bytes a segment) is ignored, as dhcpcd does.
      mtu: o.mtu !== undefined && o.mtu >= MIN_LEASE_MTU ? o.mtu : undefined,
      serverId,
      leaseTime: L,
      renewalTime: t1,
      rebindingTime: t2,
      obtainedAt,
      renewAt,
      rebindAt,
      expiresAt,
    };
  }

  #bind(lease: DhcpLease): void {
    const previous = this.#lease;
    this.#lease = lease;
    this.#naks = 0;
    this.#offer = undefined;
    this.#remembered = undefined;
    this.#xid = undefined;
    this.#setState('BOUND');
    this.#deadline = lease.renewAt;
    const io = this.#io;
    if (previous === undefined) {
      this.#stats.Acquired++;
      io.apply(lease, undefined);
      io.event?.({ type: 'acquired', lease });
    } else if (sameParameters(previous, lease)) {
      this.#conflicts = 0; // the address held up to a renewal
      this.#stats.Renewed++;
      io.event?.({ type: 'renewed', lease });
    } else {
      this.#stats.Changed++;
      if (previous.address !== lease.address) {
        io.remove(previous);
        io.apply(lease, undefined);
      } else io.apply(lease, previous);
      io.event?.({ type: 'changed', lease, previous });
    }
  }

  #nak(now: number): void {
    // §3.1 step 5 / §4.4.5: a NAK ends the lease (RENEWING, REBINDING) or the attempt; back to INIT.
    this.#naks++;
    const wait = this.#naks <= 1 ? 0 : BACKOFF_S[Math.min(this.#naks - 2, BACKOFF_S.length - 1)]! * 1000;
    this.#toInit(now + wait);
    this.#lose('nak');
    if (wait === 0) this.#discover(now);
  }

  /** Drops the lease (state already moved on by the caller or about to be). */
  #lose(reason: DhcpLossReason): void {
    const lease = this.#lease;
    if (lease === undefined) return;
    this.#lease = undefined;
    this.#io.remove(lease);
    this.#io.event?.({ type: 'lost', lease, reason });
  }

  #toInit(at: number): void {
    this.#setState('INIT');
    this.#xid = undefined;
    this.#offer = undefined;
    this.#deadline = at;
  }

  #fire(now: number): void {
    switch (this.#state) {
      case 'INIT':
        this.#discover(now);
        return;
      case 'SELECTING':
        this.#sendDiscover(now, true);
        return;
      case 'REQUESTING':
      case 'REBOOTING':
        if (this.#tries >= BACKOFF_S.length) { this.#toInit(now); this.#discover(now); return; } // §3.1 step 5: no answer
        this.#sendRequest(now, true);
        return;
      case 'BOUND':
        this.#renew(now);
        return;
      case 'RENEWING':
        if (now >= this.#lease!.rebindAt) this.#rebind(now);
        else this.#sendRequest(now, true);
        return;
      case 'REBINDING':
        if (now >= this.#lease!.expiresAt) {
          // The lease ran out: the address goes (a lease may not go silently stale), start over.
          this.#stats.Expired++;
          this.#toInit(now);
          this.#lose('expired');
          this.#discover(now);
        } else this.#sendRequest(now, true);
        return;
      default:
        this.#deadline = Infinity;
    }
  }

  #discover(now: number): void {
    this.#setState('SELECTING');
    this.#xid = this.#newXid();
    this.#exchangeStart = now;
    this.#tries = 0;
    this.#sendDiscover(now, false);
  }

  #request(address: number, serverId: number, now: number): void {
    this.#setState('REQUESTING');
    this.#offer = { address, serverId };
    this.#tries = 0;
    this.#requestSentAt = now;
    this.#sendRequest(now, false); // same xid as the OFFER (§4.4.1 Table 5)
  }

  #reboot(now: number): void {
    this.#setState('REBOOTING');
    this.#xid = this.#newXid();
    this.#exchangeStart = now;
    this.#requestSentAt = now;
    this.#tries = 0;
    this.#sendRequest(now, false);
  }

  #renew(now: number): void {
    this.#setState('RENEWING');
    this.#xid = this.#newXid();
    this.#exchangeStart = now;
    this.#requestSentAt = now;
    this.#tries = 0;
    this.#sendRequest(now, false);
  }

  #rebind(now: number): void {
    this.#setState('REBINDING');
    this.#xid = this.#newXid();
    this.#requestSentAt = now;
    this.#tries = 0;
    this.#sendRequest(now, false);
  }

  /** §4.1: the wait after transmission number `tries` (0-based): 4, 8, 16, 32, 64, 64 … s ± 1 s. */
  #backoff(): number {
    const base = BACKOFF_S[Math.min(this.#tries, BACKOFF_S.length - 1)]! * 1000;
    return base - 1000 + this.#randomInt(2001);
  }

  #secs(now: number): number { return Math.min(0xffff, Math.max(0, Math.floor((now - this.#exchangeStart) / 1000))); }

  #sendDiscover(now: number, retransmit: boolean): void {
    const secs = this.#secs(now);
    this.#discoverSecs = secs;
    const o: DhcpOptions = { messageType: DHCPDISCOVER };
    this.#send(this.#message(this.#xid!, secs, 0, this.#requestBroadcast, o, true), BROADCAST_ADDRESS, 0);
    this.#stats.OutDiscovers++;
    if (retransmit) this.#stats.Retransmits++;
    this.#deadline = now + this.#backoff();
    this.#tries++;
  }

  /** The REQUEST of the current state (Table 5), and the next deadline. */
  #sendRequest(now: number, retransmit: boolean): void {
    const xid = this.#xid!;
    const lease = this.#lease;
    if (this.#state === 'REQUESTING') {
      const offer = this.#offer!;
      // §4.4.1: the DISCOVER's secs, broadcast; ciaddr 0, options 50 and 54.
      this.#send(this.#message(xid, this.#discoverSecs, 0, this.#requestBroadcast, { messageType: DHCPREQUEST, requestedIp: offer.address, serverId: offer.serverId }, true), BROADCAST_ADDRESS, 0);
      this.#deadline = now + this.#backoff();
      this.#tries++;
    } else if (this.#state === 'REBOOTING') {
      // §4.3.2 INIT-REBOOT: option 50, no server identifier, ciaddr 0, broadcast.
      this.#send(this.#message(xid, this.#secs(now), 0, this.#requestBroadcast, { messageType: DHCPREQUEST, requestedIp: this.#remembered! }, true), BROADCAST_ADDRESS, 0);
      this.#deadline = now + this.#backoff();
      this.#tries++;
    } else if (lease !== undefined) {
      // RENEWING (unicast to the server) and REBINDING (broadcast): ciaddr ours, no 50 or 54.
      const renewing = this.#state === 'RENEWING';
      this.#send(this.#message(xid, this.#secs(now), lease.address, false, { messageType: DHCPREQUEST }, true), renewing ? lease.serverId : BROADCAST_ADDRESS, lease.address);
      const until = renewing ? lease.rebindAt : lease.expiresAt;
      // §4.4.5: half the time left, at least 60 s, never past T2 / the end.
      this.#deadline = Math.min(until, now + Math.max(MIN_RENEW_RETRY_MS, (until - now) / 2));
      this.#tries++;
    } else return;
    this.#stats.OutRequests++;
    if (retransmit) this.#stats.Retransmits++;
  }

  #message(xid: number, secs: number, ciaddr: number, broadcast: boolean, options: DhcpOptions, asks: boolean): DhcpMessage {
    options.clientId = this.#clientId;
    if (asks) {
      // DISCOVER and REQUEST: what we want and how much we take (Table 5: not in DECLINE / RELEASE).
      options.parameterRequestList = PARAMETERS;
      options.maxMessageSize = this.#maxMessageSize;
      if (this.#hostName !== undefined) options.hostName = this.#hostName;
    }
    return {
      op: OP_BOOTREQUEST, htype: HTYPE_ETHERNET, hlen: 6, hops: 0, xid, secs, broadcast,
      ciaddr, yiaddr: 0, siaddr: 0, giaddr: 0, chaddr: this.#mac, sname: '', file: '', options,
    };
  }

  #send(m: DhcpMessage, address: number, source: number): void {
    this.#io.send(emitDhcp(m), { address, source });
  }

  #newXid(): number { return this.#randomInt(0x100000000) >>> 0; }

  /** The one place the state changes. */
  #setState(s: DhcpState): void { this.#state = s; }
}
