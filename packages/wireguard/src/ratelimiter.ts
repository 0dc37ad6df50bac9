/**
 * The per-source limit on handshake messages under load (whitepaper §5.3: the cookie proves
 * the source address, it does not bound its rate; wireguard-go ratelimiter.go, the Linux
 * kernel's ratelimiter.c). A token bucket per source: `rate` messages a second, bursts of
 * `burst`. IPv4 sources are keyed by address, IPv6 by their /64 (as Linux: one host holds
 * a /64). Only handshake messages that carried a valid mac2 under load reach it, so each
 * source is an address that received our cookie reply.
 *
 * Bounded: at most `maxEntries` sources; entries idle for a second are swept (at most one
 * sweep per second of `now`), and a new source finding the table full even after a sweep is
 * refused, as Linux refuses past its max_entries.
 */

interface Bucket {
  /** Tokens, in ms of credit: each message costs 1000 / rate. */
  tokens: number;
  last: number;
}

export class RateLimiter {
  private readonly table = new Map<string, Bucket>();
  private readonly cost: number;
  private readonly max: number;
  private lastSweep = -Infinity;

  constructor(rate: number, burst: number, readonly maxEntries: number) {
    this.cost = 1000 / rate;
    this.max = this.cost * burst;
  }

  get size(): number {
    return this.table.size;
  }

  /** Whether a message from `ip` (4 or 16 address bytes) may be processed at `now` (ms); takes a token. */
  allow(ip: Uint8Array, now: number): boolean {
    const key = keyOf(ip);
    let b = this.table.get(key);
    if (b === undefined) {
      if (this.table.size >= this.maxEntries) {
        this.sweep(now);
        if (this.table.size >= this.maxEntries) return false;
      } else if (now - this.lastSweep >= 1000) {
        this.sweep(now);
      }
      // wireguard-go: a new source starts with a full bucket less this message.
      this.table.set(key, { tokens: this.max - this.cost, last: now });
      return true;
    }
    b.tokens = Math.min(this.max, b.tokens + Math.max(0, now - b.last));
    b.last = now;
    if (b.tokens < this.cost) return false;
    b.tokens -= this.cost;
    return true;
  }

  /** Drops the sources idle for a second (their buckets are full again: nothing is lost). */
  private sweep(now: number): void {
    if (now - this.lastSweep < 1000) return;
    this.lastSweep = now;
    for (const [k, b] of this.table) if (now - b.last >= 1000) this.table.delete(k);
  }
}

/** IPv4: the address; IPv6: its first 64 bits. */
function keyOf(ip: Uint8Array): string {
  let s = ip.length === 16 ? '6:' : '4:';
  const n = ip.length === 16 ? 8 : ip.length;
  for (let i = 0; i < n; i++) s += String.fromCharCode(ip[i]!);
  return s;
}
