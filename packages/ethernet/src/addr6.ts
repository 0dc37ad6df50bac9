/**
 * Our IPv6 addresses on the link as one pure state machine: duplicate address detection
 * (RFC 4862 §5.4), stateless address autoconfiguration from Router Advertisements (RFC
 * 4862 §5.5), the default router they name (RFC 4861 §6.3.4) and router solicitation at
 * start (RFC 4861 §6.3.7). `now` is an argument; `pollAt()` / `poll(now)`; what it wants
 * done goes through an `Addr6Host`. Addresses are 16-character latin1 strings.
 *
 * - DAD: a new address is TENTATIVE (not answered for, not a source) while
 *   `dadTransmits` (1) NS from :: go out, the first after random × 1 s
 *   (MAX_RTR_SOLICITATION_DELAY, §5.4.2), then `retransTimerMs` (1 s) apart; one
 *   `retransTimerMs` after the last, it is PREFERRED. An NS from :: for it (another node's
 *   DAD) or an NA for it (another node has it) while tentative: a DUPLICATE (§5.4.3,
 *   §5.4.4): it goes and `conflict(…, 'probe')` says so. `dad: 'optimistic'` (RFC 4429,
 *   used for the addresses the user configured) makes it usable at once while the NS still
 *   go out; `dad: 'none'` skips DAD. An NA for a preferred address from another station
 *   is reported as `conflict(…, 'bound')` (at most once per 10 s per address) and the
 *   address kept (as RFC 5227 §2.4's policy (b) for IPv4).
 * - SLAAC (`slaac: true`): for each Prefix Information option with the A flag, a /64 that
 *   is not link-local and whose preferred lifetime is not above its valid lifetime (§5.5.3
 *   a–c), an address prefix + our interface identifier (modified EUI-64 of the MAC) is
 *   formed (full DAD) with the option's lifetimes; an address already formed from it gets
 *   the new preferred lifetime and the valid lifetime by the two-hour rule (§5.5.3 e).
 *   Past its preferred lifetime an address is DEPRECATED (still answered and usable by
 *   existing users, listed after the preferred ones); past its valid lifetime it goes.
 *   At most `maxAddresses` (16) addresses. A SLAAC address DAD found duplicate is not
 *   formed again while its prefix stays valid (§5.4.5; `SlaacDuplicateSkipped`).
 * - Routers: the Default Router List (RFC 4861 §6.3.4): an RA with a router lifetime > 0
 *   puts its source in the list (or refreshes it) until the lifetime ends; lifetime 0 takes
 *   it out. At most `maxRouters` (16) routers; an RA from another router while the list is
 *   full is not listed (`RoutersFull`). The default router is kept while it is listed
 *   (§6.3.6: a working router is not dropped for a newcomer, so a rogue RA does not take
 *   over a router in use); when it goes, the longest-listed one left takes over at once
 *   (no wait for the next RA, which may be 10 minutes away).
 * - Router solicitation (`solicit: true`): up to 3 RS, the first after random × 1 s, then
 *   4 s apart (MAX_RTR_SOLICITATIONS, RTR_SOLICITATION_INTERVAL), until an RA arrives.
 */

export type Addr6State = 'tentative' | 'optimistic' | 'preferred' | 'deprecated';
export type Addr6Origin = 'static' | 'link-local' | 'slaac';

export interface Addr6Params {
  /** RFC 4862 §5.1 DupAddrDetectTransmits: 1. */
  dadTransmits: number;
  /** RFC 4861 §10 RETRANS_TIMER: 1 s. */
  retransTimerMs: number;
  /** MAX_RTR_SOLICITATION_DELAY: 1 s. */
  maxSolicitationDelayMs: number;
  /** RTR_SOLICITATION_INTERVAL: 4 s. */
  solicitationIntervalMs: number;
  /** MAX_RTR_SOLICITATIONS: 3. */
  maxSolicitations: number;
  maxAddresses: number;
  /** The Default Router List's bound. */
  maxRouters: number;
}

export const DEFAULT_ADDR6_PARAMS: Addr6Params = {
  dadTransmits: 1, retransTimerMs: 1000, maxSolicitationDelayMs: 1000, solicitationIntervalMs: 4000, maxSolicitations: 3, maxAddresses: 16, maxRouters: 16,
};

export interface Addr6Host {
  /** A DAD probe: an NS from :: for `target` (to its solicited-node group, no SLLA). */
  dadSolicit(target: string, now: number): void;
  /** A Router Solicitation. */
  routerSolicit(now: number): void;
  /** The table changed: an address came, went or changed state, or the router did (read `list()`, `usable()` and `router()`). */
  changed(now: number): void;
  /** A duplicate (phase 'probe': the address was given up) or another station claiming a bound address ('bound'). */
  conflict(address: string, mac: number | undefined, phase: 'probe' | 'bound', now: number): void;
}

export interface Addr6Info {
  address: string;
  state: Addr6State;
  origin: Addr6Origin;
  /** Absolute times (ms; Infinity: forever). */
  preferredUntil: number;
  validUntil: number;
}

interface Entry extends Addr6Info {
  probesLeft: number;
  /** The next DAD step (Infinity: none). */
  timer: number;
  lastConflictAt: number;
}

export interface Addr6Stats {
  DadStarted: number;
  DadSucceeded: number;
  DadDuplicates: number;
  DadProbes: number;
  BoundConflicts: number;
  RouterSolicits: number;
  RouterAdverts: number;
  /** RA prefixes that formed an address, or updated one. */
  SlaacAdded: number;
  SlaacUpdated: number;
  /** RA prefixes ignored (§5.5.3: not /64, link-local, preferred > valid, table full). */
  SlaacIgnored: number;
  /** RA prefixes whose address was found a duplicate and is not formed again (§5.4.5) while the prefix is valid. */
  SlaacDuplicateSkipped: number;
  Deprecated: number;
  Expired: number;
  RouterExpired: number;
  /** RAs from a router not listed while the Default Router List was full. */
  RoutersFull: number;
}

const TWO_HOURS = 2 * 3600 * 1000;
const INFINITE = 0xffffffff;
const lifetime = (s: number, now: number): number => (s === INFINITE ? Infinity : now + s * 1000);

export class Ipv6AddressTable {
  readonly #host: Addr6Host;
  readonly #p: Addr6Params;
  readonly #random: () => number;
  readonly #entries = new Map<string, Entry>();
  /** Modified EUI-64 interface identifier (8 latin1 characters), for SLAAC. */
  readonly #iid: string;
  #slaac = false;
  /**
   * SLAAC addresses DAD found duplicate (§5.4.5: not to be assigned), each until its prefix's
   * valid lifetime ends (refreshed by later RAs), at most `maxAddresses`, oldest dropped:
   * else every RA formed it again, one DAD probe and one conflict per RA from a station
   * that answers every probe.
   */
  readonly #duplicates = new Map<string, number>();
  /** The Default Router List, by address, in the order first listed. */
  readonly #routers = new Map<string, { address: string; mac: number | undefined; until: number }>();
  /** The default router: a key of #routers, or undefined when the list is empty. */
  #router: string | undefined;
  #rsLeft = 0;
  #rsTimer = Infinity;
  readonly #c: Addr6Stats = {
    DadStarted: 0, DadSucceeded: 0, DadDuplicates: 0, DadProbes: 0, BoundConflicts: 0, RouterSolicits: 0, RouterAdverts: 0,
    SlaacAdded: 0, SlaacUpdated: 0, SlaacIgnored: 0, SlaacDuplicateSkipped: 0, Deprecated: 0, Expired: 0, RouterExpired: 0, RoutersFull: 0,
  };

  constructor(host: Addr6Host, iid: string, params: Partial<Addr6Params> = {}, random: () => number = Math.random) {
    this.#host = host;
    this.#iid = iid;
    this.#p = { ...DEFAULT_ADDR6_PARAMS, ...params };
    this.#random = random;
  }

  /** Turns SLAAC on (addresses from RAs' prefixes) and starts soliciting routers. */
  startSlaac(now: number): void {
    this.#slaac = true;
    this.#rsLeft = this.#p.maxSolicitations;
    this.#rsTimer = now + Math.floor(this.#random() * this.#p.maxSolicitationDelayMs);
  }

  get slaac(): boolean {
    return this.#slaac;
  }

  /** Adds an address (DAD per `dad`). False when it is there already or the table is full. */
  add(address: string, now: number, o: { origin?: Addr6Origin; dad?: 'full' | 'optimistic' | 'none'; preferredUntil?: number; validUntil?: number } = {}): boolean {
    if (this.#entries.has(address) || this.#entries.size >= this.#p.maxAddresses) return false;
    const dad = o.dad ?? 'full';
    const e: Entry = {
      address, origin: o.origin ?? 'static', state: dad === 'none' ? 'preferred' : dad === 'optimistic' ? 'optimistic' : 'tentative',
      preferredUntil: o.preferredUntil ?? Infinity, validUntil: o.validUntil ?? Infinity,
      probesLeft: dad === 'none' ? 0 : this.#p.dadTransmits, timer: Infinity, lastConflictAt: -Infinity,
    };
    if (dad !== 'none') {
      this.#c.DadStarted++;
      // §5.4.2: the first NS after a random delay (the solicited-node group is joined first: the caller's).
      e.timer = now + Math.floor(this.#random() * this.#p.maxSolicitationDelayMs);
    }
    this.#entries.set(address, e);
    // Also for a tentative one: the caller joins its solicited-node group before the first NS (§5.4.2).
    this.#host.changed(now);
    return true;
  }

  remove(address: string, now: number): boolean {
    const e = this.#entries.get(address);
    if (e === undefined) return false;
    this.#entries.delete(address);
    this.#host.changed(now);
    return true;
  }

  /** All addresses with their state (tentative ones included). */
  list(): Addr6Info[] {
    return [...this.#entries.values()].map(({ address, state, origin, preferredUntil, validUntil }) => ({ address, state, origin, preferredUntil, validUntil }));
  }

  has(address: string): boolean {
    return this.#entries.has(address);
  }

  state(address: string): Addr6State | undefined {
    return this.#entries.get(address)?.state;
  }

  /** Answered for and usable as a source: preferred and optimistic first, then deprecated. */
  usable(): string[] {
    const out: string[] = [];
    for (const e of this.#entries.values()) if (e.state === 'preferred' || e.state === 'optimistic') out.push(e.address);
    for (const e of this.#entries.values()) if (e.state === 'deprecated') out.push(e.address);
    return out;
  }

  /** The default router (an RA's source, until its lifetime ends), with its MAC when its last RA said it. */
  router(): { address: string; mac: number | undefined } | undefined {
    const r = this.#router === undefined ? undefined : this.#routers.get(this.#router);
    return r === undefined ? undefined : { address: r.address, mac: r.mac };
  }

  /** The Default Router List (absolute expiry times, ms). */
  routers(): { address: string; mac: number | undefined; until: number }[] {
    return [...this.#routers.values()].map((r) => ({ ...r }));
  }

  /** §6.3.6: keep the default router while it is listed, else the longest-listed one. True when it changed. */
  #selectRouter(): boolean {
    if (this.#router !== undefined && this.#routers.has(this.#router)) return false;
    const before = this.#router;
    this.#router = this.#routers.keys().next().value;
    return before !== this.#router;
  }

  /**
   * An NS from :: for `target` (RFC 4862 §5.4.3): true when it made a duplicate of an
   * address we are probing for; false otherwise (a bound address is defended by the caller).
   */
  dadSolicitation(target: string, mac: number | undefined, now: number): boolean {
    const e = this.#entries.get(target);
    if (e === undefined || !this.#probing(e)) return false;
    this.#duplicate(e, mac, now);
    return true;
  }

  /** Ours but still tentative (not answered for, not a source). */
  isTentative(address: string): boolean {
    return this.#entries.get(address)?.state === 'tentative';
  }

  #probing(e: Entry): boolean {
    return e.state === 'tentative' || (e.state === 'optimistic' && e.timer !== Infinity);
  }

  /** An NA for `target` from `mac` (§5.4.4 while probing; a conflict once bound). */
  advertisement(target: string, mac: number | undefined, now: number): void {
    const e = this.#entries.get(target);
    if (e === undefined) return;
    if (this.#probing(e)) {
      this.#duplicate(e, mac, now);
      return;
    }
    this.#c.BoundConflicts++;
    if (now - e.lastConflictAt < 10_000) return;
    e.lastConflictAt = now;
    this.#host.conflict(target, mac, 'bound', now);
  }

  #duplicate(e: Entry, mac: number | undefined, now: number): void {
    this.#entries.delete(e.address);
    if (e.origin === 'slaac') {
      this.#duplicates.delete(e.address);
      if (this.#duplicates.size >= this.#p.maxAddresses) this.#duplicates.delete(this.#duplicates.keys().next().value!);
      this.#duplicates.set(e.address, e.validUntil);
    }
    this.#c.DadDuplicates++;
    this.#host.changed(now);
    this.#host.conflict(e.address, mac, 'probe', now);
  }

  /** A valid RA (ra.ts): routers, and with SLAAC on, addresses from its prefixes. */
  routerAdvert(ra: { src: string; routerLifetime: number; linkAddress: number | undefined; prefixes: readonly {
    prefix: string; prefixLength: number; autonomous: boolean; validLifetime: number; preferredLifetime: number;
  }[]; }, now: number): void {
    this.#c.RouterAdverts++;
    this.#rsLeft = 0;
    this.#rsTimer = Infinity;
    let changed = false;
    // RFC 4861 §6.3.4: the router's lifetime; 0 withdraws it.
    const listed = this.#routers.get(ra.src);
    if (ra.routerLifetime > 0) {
      const until = now + ra.routerLifetime * 1000;
      if (listed !== undefined) {
        listed.until = until;
        if (ra.linkAddress !== undefined) listed.mac = ra.linkAddress;
      } else if (this.#routers.size < this.#p.maxRouters) this.#routers.set(ra.src, { address: ra.src, mac: ra.linkAddress, until });
      else this.#c.RoutersFull++;
    } else if (listed !== undefined) this.#routers.delete(ra.src);
    if (this.#selectRouter()) changed = true;
    if (this.#slaac) {
      for (const pi of ra.prefixes) {
        if (!pi.autonomous) continue;
        // §5.5.3 b, c: not link-local, preferred ≤ valid; an interface identifier of 64 bits needs a /64 (RFC 4291 §2.5.1).
        const ll = pi.prefix.charCodeAt(0) === 0xfe && (pi.prefix.charCodeAt(1) & 0xc0) === 0x80;
        if (ll || pi.preferredLifetime > pi.validLifetime || pi.prefixLength !== 64) {
          this.#c.SlaacIgnored++;
          continue;
        }
        const address = pi.prefix.slice(0, 8) + this.#iid;
        const e = this.#entries.get(address);
        const dup = this.#duplicates.get(address);
        if (e === undefined && dup !== undefined) {
          if (dup > now && pi.validLifetime > 0) {
            this.#c.SlaacDuplicateSkipped++;
            this.#duplicates.set(address, lifetime(pi.validLifetime, now));
            continue;
          }
          this.#duplicates.delete(address);
        }
        if (e === undefined) {
          if (pi.validLifetime === 0) continue;
          if (this.add(address, now, { origin: 'slaac', dad: 'full', preferredUntil: lifetime(pi.preferredLifetime, now), validUntil: lifetime(pi.validLifetime, now) })) {
            this.#c.SlaacAdded++;
          } else this.#c.SlaacIgnored++;
          continue;
        }
        if (e.origin !== 'slaac') continue;
        this.#c.SlaacUpdated++;
        // §5.5.3 e: the preferred lifetime as said; the valid one by the two-hour rule.
        e.preferredUntil = lifetime(pi.preferredLifetime, now);
        const received = lifetime(pi.validLifetime, now);
        const remaining = e.validUntil - now;
        if (pi.validLifetime * 1000 > TWO_HOURS || received > e.validUntil) e.validUntil = received;
        else if (remaining > TWO_HOURS) e.validUntil = now + TWO_HOURS;
        if (e.state === 'deprecated' && e.preferredUntil > now) {
          e.state = 'preferred';
          changed = true;
        }
      }
    }
    if (changed) this.#host.changed(now);
  }

  pollAt(): number {
    let at = this.#rsTimer;
    for (const r of this.#routers.values()) if (r.until < at) at = r.until;
    for (const e of this.#entries.values()) {
      if (e.timer < at) at = e.timer;
      if (e.state !== 'deprecated' && e.state !== 'tentative' && e.preferredUntil < at) at = e.preferredUntil;
      if (e.validUntil < at) at = e.validUntil;
    }
    return at;
  }

  poll(now: number): void {
    let changed = false;
    for (const e of [...this.#entries.values()]) {
      if (e.validUntil <= now) {
        this.#entries.delete(e.address);
        this.#c.Expired++;
        changed = true;
        continue;
      }
      if (e.timer <= now) {
        if (e.probesLeft > 0) {
          e.probesLeft--;
          this.#c.DadProbes++;
          e.timer = now + this.#p.retransTimerMs;
          this.#host.dadSolicit(e.address, now);
        } else {
          // §5.4: no answer within RetransTimer of the last NS: unique.
          e.timer = Infinity;
          this.#c.DadSucceeded++;
          if (e.state === 'tentative') changed = true;
          e.state = e.preferredUntil <= now ? 'deprecated' : 'preferred';
        }
      }
      if ((e.state === 'preferred' || e.state === 'optimistic') && e.preferredUntil <= now) {
        e.state = 'deprecated';
        this.#c.Deprecated++;
        changed = true;
      }
    }
    for (const r of [...this.#routers.values()]) {
      if (r.until > now) continue;
      this.#routers.delete(r.address);
      this.#c.RouterExpired++;
    }
    if (this.#selectRouter()) changed = true;
    if (this.#rsTimer <= now) {
      if (this.#rsLeft > 0) {
        this.#rsLeft--;
        this.#c.RouterSolicits++;
        this.#host.routerSolicit(now);
      }
      this.#rsTimer = this.#rsLeft > 0 ? now + this.#p.solicitationIntervalMs : Infinity;
    }
    if (changed) this.#host.changed(now);
  }

  stats(): Addr6Stats {
    return { ...this.#c };
  }
}
