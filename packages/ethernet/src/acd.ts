/**
 * Our own IPv4 addresses on the link and their conflict detection (RFC 5227), as a pure
 * state machine: time passed in, `pollAt()` / `poll(now)`, actions through `AcdHost`.
 *
 * - `add(address, now, { probe: true })` (RFC 5227 §2.1.1): the address is tentative (not
 *   answered for, not used as a source) while PROBE_NUM probes go out PROBE_MIN..PROBE_MAX
 *   apart after a random 0..PROBE_WAIT; ANNOUNCE_WAIT after the last one, no conflict
 *   seen, it is bound and announced (§2.3): ANNOUNCE_NUM announcements ANNOUNCE_INTERVAL
 *   apart. A conflict while probing (an ARP packet whose sender is the address, or another
 *   host's probe for it, §2.1.1) removes the address and reports it (`phase: 'probe'`): the
 *   owner (a DHCP client) declines it.
 * - `add(address, now)` without probing: bound at once and announced the same way: the
 *   "gratuitous ARP on address add" that refreshes every neighbour's cache.
 * - Bound (§2.4): an ARP packet from another MAC with our address as its sender is a
 *   conflict. Policy (b) of §2.4: defend with one announcement unless we defended within
 *   DEFEND_INTERVAL, and report the conflict with the defence (`phase: 'bound'`, `defended`):
 *   at most once per DEFEND_INTERVAL per address, as IPv6's (the others are counted,
 *   BoundConflicts), so a station claiming the address at wire speed does not become an
 *   event, and a line on serve's stderr, per frame. The address is
 *   kept: whether to give it up is the owner's choice (a static address stays; DHCP
 *   declines and restarts).
 */

export type AddressState = 'probing' | 'bound';

/** RFC 5227 §1.1 constants, in ms. */
export interface AcdParams {
  probeWaitMs: number;
  probeNum: number;
  probeMinMs: number;
  probeMaxMs: number;
  announceWaitMs: number;
  announceNum: number;
  announceIntervalMs: number;
  defendIntervalMs: number;
}

export const DEFAULT_ACD_PARAMS: Readonly<AcdParams> = Object.freeze({
  probeWaitMs: 1000,
  probeNum: 3,
  probeMinMs: 1000,
  probeMaxMs: 2000,
  announceWaitMs: 2000,
  announceNum: 2,
  announceIntervalMs: 2000,
  defendIntervalMs: 10_000,
});

export interface AddressConflict {
  address: number;
  /** The other host's MAC. */
  mac: number;
  /** 'probe': found while probing, the address was not taken; 'bound': someone else uses our address. */
  phase: 'probe' | 'bound';
  /** Whether we sent a defending announcement: always for 'bound' (a claim within DEFEND_INTERVAL of our last defence is counted, BoundConflicts, and not reported), never for 'probe'. */
  defended: boolean;
}

export interface AcdHost {
  /** An ARP probe for `address` (sender IP 0.0.0.0). */
  probe(address: number, now: number): void;
  /** An ARP announcement of `address` (sender IP = target IP = address). */
  announce(address: number, now: number): void;
  /** Called after the table is updated. */
  conflict(event: AddressConflict, now: number): void;
}

export interface AcdStats {
  OutProbes: number;
  OutAnnouncements: number;
  /** Conflicts found while probing (address given up) and while bound. */
  ProbeConflicts: number;
  BoundConflicts: number;
  Defenses: number;
}

interface Own {
  address: number;
  state: AddressState;
  /** Probes or announcements still to send. */
  remaining: number;
  /** Announcing (after probing or on add). */
  announcing: boolean;
  /** Next action; Infinity when idle. */
  at: number;
  lastDefense: number;
}

export class AddressTable {
  readonly params: Readonly<AcdParams>;
  readonly #host: AcdHost;
  readonly #random: () => number;
  readonly #own = new Map<number, Own>();
  readonly #c: AcdStats = { OutProbes: 0, OutAnnouncements: 0, ProbeConflicts: 0, BoundConflicts: 0, Defenses: 0 };
  /** Bound addresses at most (each costs a timer and a map slot). */
  static readonly MAX_ADDRESSES = 256;

  constructor(host: AcdHost, params: Partial<AcdParams> = {}, random: () => number = Math.random) {
    const p = { ...DEFAULT_ACD_PARAMS, ...params };
    if (p.probeMaxMs < p.probeMinMs) throw new RangeError('probeMaxMs < probeMinMs');
    this.params = Object.freeze(p);
    this.#host = host;
    this.#random = random;
  }

  stats(): AcdStats {
    return { ...this.#c };
  }

  /** Adds an address (probing first when `probe`); false when it is ours already or the table is full. */
  add(address: number, now: number, options: { probe?: boolean } = {}): boolean {
    if (this.#own.has(address) || this.#own.size >= AddressTable.MAX_ADDRESSES) return false;
    const p = this.params;
    if (options.probe === true) {
      this.#own.set(address, {
        address, state: 'probing', remaining: p.probeNum, announcing: false,
        at: now + Math.floor(this.#random() * p.probeWaitMs), lastDefense: -Infinity,
      });
    } else {
      this.#own.set(address, { address, state: 'bound', remaining: p.announceNum, announcing: true, at: now, lastDefense: -Infinity });
    }
    return true;
  }

  remove(address: number): boolean {
    return this.#own.delete(address);
  }

  /** Ours and usable: answered for, a source of requests. */
  isBound(address: number): boolean {
    return this.#own.get(address)?.state === 'bound';
  }

  /** Ours in any state (tentative included). */
  isOurs(address: number): boolean {
    return this.#own.has(address);
  }

  state(address: number): AddressState | undefined {
    return this.#own.get(address)?.state;
  }

  /** The first bound address (the source of our ARP requests), or undefined. */
  primary(): number | undefined {
    for (const o of this.#own.values()) if (o.state === 'bound') return o.address;
    return undefined;
  }

  addresses(): number[] {
    return [...this.#own.keys()];
  }

  /**
   * Every received ARP packet from another station (`senderMac` is not ours). Returns
   * true when it was a conflict over one of our addresses (the caller then takes nothing
   * else from it).
   */
  seen(senderMac: number, senderIp: number, targetIp: number, now: number): boolean {
    let o = senderIp !== 0 ? this.#own.get(senderIp) : undefined;
    // RFC 5227 §2.1.1: another host probing for an address we are probing for.
    if (o === undefined && senderIp === 0) {
      const t = this.#own.get(targetIp);
      if (t !== undefined && t.state === 'probing') o = t;
    }
    if (o === undefined) return false;
    const c = this.#c;
    if (o.state === 'probing') {
      c.ProbeConflicts++;
      this.#own.delete(o.address);
      this.#host.conflict({ address: o.address, mac: senderMac, phase: 'probe', defended: false }, now);
      return true;
    }
    c.BoundConflicts++;
    const defend = now - o.lastDefense >= this.params.defendIntervalMs;
    if (defend) {
      o.lastDefense = now;
      c.Defenses++;
      c.OutAnnouncements++;
      this.#host.announce(o.address, now);
      this.#host.conflict({ address: o.address, mac: senderMac, phase: 'bound', defended: true }, now);
    }
    return true;
  }

  pollAt(): number {
    let at = Infinity;
    for (const o of this.#own.values()) if (o.at < at) at = o.at;
    return at;
  }

  poll(now: number): void {
    const p = this.params;
    const c = this.#c;
    for (const o of [...this.#own.values()]) {
      if (o.at > now || this.#own.get(o.address) !== o) continue;
      if (o.state === 'probing') {
        if (o.remaining > 0) {
          o.remaining--;
          c.OutProbes++;
          o.at = now + (o.remaining > 0 ? p.probeMinMs + Math.floor(this.#random() * (p.probeMaxMs - p.probeMinMs)) : p.announceWaitMs);
          this.#host.probe(o.address, now);
        } else {
          // ANNOUNCE_WAIT passed without a conflict: bound (§2.3), announce now.
          o.state = 'bound';
          o.announcing = true;
          o.remaining = p.announceNum;
          o.at = now;
        }
      }
      if (o.announcing && o.at <= now) {
        o.remaining--;
        c.OutAnnouncements++;
        if (o.remaining > 0) o.at = now + p.announceIntervalMs;
        else { o.announcing = false; o.at = Infinity; }
        this.#host.announce(o.address, now);
      }
    }
  }
}
