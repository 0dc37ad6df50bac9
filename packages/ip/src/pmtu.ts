/**
 * Path MTU cache (RFC 1191), pure: time is an argument, aging is `pollAt`/`poll`.
 *
 * - Entries only ever LOWER an estimate (RFC 1191 §6.3: a host MUST NOT increase
 *   its estimate in response to a Datagram Too Big message); never below `minPmtu`
 *   (552 by default, Linux's min_pmtu; RFC 791 §3.2's 68 is the absolute floor). A
 *   forged Datagram Too Big could otherwise shrink a connection to 68-byte packets
 *   (RFC 1191 §8 security considerations, RFC 5927 §7.3). A report below the floor
 *   LOCKS the path at the floor: datagrams to it go without DF, so a router on a
 *   narrower path fragments them instead of dropping them (as Linux does).
 * - Each entry ages out `lifetimeMs` (10 minutes, RFC 1191 §6.3) after its last
 *   decrease, which returns the path to the link MTU: the "periodic increase" probe.
 * - At most `maxEntries` destinations; when full, the entry that would expire first
 *   (the least recently lowered) is evicted: losing it only costs one more
 *   Datagram Too Big round trip.
 * Assumes `now` never goes backwards (insertion order is expiry order).
 */
import { IPV4_MIN_MTU } from './ipv4.js';
import type { IpAddress } from './address.js';

/** RFC 1191 §7, table 7-1: the MTU plateaus, largest first. */
export const MTU_PLATEAUS: readonly number[] = [65535, 32000, 17914, 8166, 4352, 2002, 1492, 1006, 508, 296, 68];

/** RFC 1191 §5: the largest plateau strictly below `length` (68 at least). */
export function plateauBelow(length: number): number {
  for (const p of MTU_PLATEAUS) if (p < length) return p;
  return IPV4_MIN_MTU;
}

export interface PmtuLimits {
  /** Default 600000 (10 minutes, RFC 1191 §6.3). */
  pmtuLifetimeMs: number;
  /** Default 1024 destinations. */
  maxPmtuEntries: number;
  /** The lowest path MTU an ICMP report can set; below it the path is locked (no DF). Default 552. */
  minPmtu: number;
}

export const DEFAULT_PMTU_LIMITS: Readonly<PmtuLimits> = { pmtuLifetimeMs: 600_000, maxPmtuEntries: 1024, minPmtu: 552 };

interface Entry {
  mtu: number;
  expires: number;
  /** Reported below minPmtu: sent without DF. */
  locked: boolean;
}

export class PmtuCache {
  /** Keyed by address of either family (the IPv6 layer keeps its own cache, minPmtu 1280). */
  private readonly entries = new Map<IpAddress, Entry>();
  /** The first (oldest) entry's expiry, or Infinity: `pollAt`, kept on each change (asked several times per round trip). */
  private nextExpiry = Infinity;
  private readonly limits: Readonly<PmtuLimits>;

  constructor(limits: Readonly<PmtuLimits> = DEFAULT_PMTU_LIMITS) {
    this.limits = limits;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached estimate, or undefined (then the link MTU applies). */
  get(dst: IpAddress): number | undefined {
    return this.entries.get(dst)?.mtu;
  }

  /** The path to `dst` was reported narrower than minPmtu: send without DF. */
  locked(dst: IpAddress): boolean {
    return this.entries.size > 0 && this.entries.get(dst)?.locked === true;
  }

  /**
   * Lowers the estimate for `dst` to `mtu` (clamped to >= minPmtu, locking the path when
   * that clamps) when that is below `current` (the estimate in use: the cached one or the
   * link MTU). Returns true when the estimate changed.
   */
  lower(dst: IpAddress, mtu: number, current: number, now: number): boolean {
    const floor = Math.max(IPV4_MIN_MTU, this.limits.minPmtu);
    const reported = Math.floor(mtu);
    const locked = reported < floor;
    const m = locked ? floor : reported;
    if (locked && m >= current) {
      // Already at (or below) the floor: only the lock is news.
      const e = this.entries.get(dst);
      if (e === undefined || e.locked) return false;
      e.locked = true;
      return true;
    }
    if (!(m < current)) return false; // RFC 1191 §6.3: never increase
    this.entries.delete(dst); // re-insert: keeps the Map in expiry order
    if (this.entries.size >= this.limits.maxPmtuEntries) {
      for (const k of this.entries.keys()) {
        this.entries.delete(k);
        break;
      }
    }
    this.entries.set(dst, { mtu: m, expires: now + this.limits.pmtuLifetimeMs, locked });
    this.nextExpiry = this.firstExpiry();
    return true;
  }

  pollAt(): number {
    return this.nextExpiry;
  }

  /** The Map is in expiry order (re-inserted on each change): its first entry expires first. */
  private firstExpiry(): number {
    for (const e of this.entries.values()) return e.expires;
    return Infinity;
  }

  /** Forgets estimates older than the lifetime (RFC 1191 §6.3). */
  poll(now: number): void {
    if (this.entries.size === 0) return;
    for (const [k, e] of this.entries) {
      if (e.expires > now) break;
      this.entries.delete(k);
    }
    this.nextExpiry = this.firstExpiry();
  }
}
