/**
 * Cryptokey routing (whitepaper §2): each peer's allowed IPs in one prefix table per family,
 * looked up by longest prefix match. Sending, the table names the peer a packet goes to by
 * its destination; receiving, a decrypted packet is accepted only when the table maps its
 * source back to the peer whose session it arrived on.
 *
 * Layout: per family, one hash map per prefix length in use, and the lengths in use sorted
 * longest first; a lookup masks the address once per length in use (at most 33 or 129) and
 * stops at the first hit. Bounded by `maxEntries` prefixes in all.
 */

/** Parses a textual IPv4 or IPv6 address (RFC 4291 §2.2 forms, embedded IPv4 included). */
export function parseIp(text: string): Uint8Array | undefined {
  if (text.includes(':')) return parseIpv6(text);
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    out[i] = Number(p);
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | undefined {
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIp(p);
        if (v4 === undefined || v4.length !== 4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        out.push(parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === undefined || tail === undefined) return undefined;
  const n = head.length + tail.length;
  if (halves.length === 1 ? n !== 8 : n > 7) return undefined;
  const all = [...head, ...new Array<number>(8 - n).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** Parses "address/length" (length defaults to the full address). */
export function parsePrefix(text: string): { address: Uint8Array; length: number } | undefined {
  const slash = text.indexOf('/');
  const address = parseIp(slash < 0 ? text.trim() : text.slice(0, slash).trim());
  if (address === undefined) return undefined;
  const max = address.length * 8;
  if (slash < 0) return { address, length: max };
  const l = text.slice(slash + 1).trim();
  if (!/^\d{1,3}$/.test(l) || Number(l) > max) return undefined;
  return { address, length: Number(l) };
}

function masked(address: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(address.length);
  for (let i = 0; i < address.length; i++) {
    const bits = Math.min(8, Math.max(0, length - i * 8));
    out[i] = address[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

/** The map key of an address masked to `length` bits: a number for IPv4, a string for IPv6. */
function key(address: Uint8Array, length: number): number | string {
  if (address.length === 4) {
    const a = ((address[0]! << 24) | (address[1]! << 16) | (address[2]! << 8) | address[3]!) >>> 0;
    return length === 0 ? 0 : (a & (0xffffffff << (32 - length))) >>> 0;
  }
  let s = '';
  const m = masked(address, length);
  for (let i = 0; i < 16; i++) s += String.fromCharCode(m[i]!);
  return s;
}

class FamilyTable<T> {
  private readonly byLength = new Map<number, Map<number | string, T>>();
  private lengths: number[] = []; // in use, longest first

  constructor(readonly bytes: number) {}

  get size(): number {
    let n = 0;
    for (const m of this.byLength.values()) n += m.size;
    return n;
  }

  set(address: Uint8Array, length: number, value: T): boolean {
    let m = this.byLength.get(length);
    if (m === undefined) {
      m = new Map();
      this.byLength.set(length, m);
      this.lengths = [...this.byLength.keys()].sort((a, b) => b - a);
    }
    const k = key(address, length);
    const fresh = !m.has(k);
    m.set(k, value);
    return fresh;
  }

  lookup(address: Uint8Array): T | undefined {
    for (const l of this.lengths) {
      const v = this.byLength.get(l)!.get(key(address, l));
      if (v !== undefined) return v;
    }
    return undefined;
  }

  removeValue(value: T): number {
    let n = 0;
    for (const [l, m] of this.byLength) {
      for (const [k, v] of m) {
        if (v === value) {
          m.delete(k);
          n++;
        }
      }
      if (m.size === 0) this.byLength.delete(l);
    }
    this.lengths = [...this.byLength.keys()].sort((a, b) => b - a);
    return n;
  }

  entries(value: T): string[] {
    const out: string[] = [];
    for (const [l, m] of this.byLength) {
      for (const [k, v] of m) {
        if (v !== value) continue;
        if (typeof k === 'number') out.push(`${k >>> 24}.${(k >>> 16) & 0xff}.${(k >>> 8) & 0xff}.${k & 0xff}/${l}`);
        else {
          const g: string[] = [];
          for (let i = 0; i < 16; i += 2) g.push(((k.charCodeAt(i) << 8) | k.charCodeAt(i + 1)).toString(16));
          out.push(`${g.join(':')}/${l}`);
        }
      }
    }
    return out;
  }
}

export class AllowedIps<T> {
  private readonly v4 = new FamilyTable<T>(4);
  private readonly v6 = new FamilyTable<T>(16);

  constructor(readonly maxEntries = 65536) {}

  get size(): number {
    return this.v4.size + this.v6.size;
  }

  /**
   * Maps `prefix` ("10.0.0.0/24", "fd00::/64") to `value`, taking it from any other value
   * that had it (as `wg set ... allowed-ips` does). Throws on a malformed prefix or when the
   * table is full: configuration, not wire input.
   */
  insert(prefix: string, value: T): void {
    const p = parsePrefix(prefix);
    if (p === undefined) throw Object.assign(new TypeError(`not an IP prefix: ${prefix}`), { code: 'ERR_INVALID_ARG_VALUE' });
    if (this.size >= this.maxEntries && this.lookupExact(p.address, p.length) === undefined) {
      throw Object.assign(new RangeError(`allowed IPs table full (${this.maxEntries})`), { code: 'ERR_OUT_OF_RANGE' });
    }
    (p.address.length === 4 ? this.v4 : this.v6).set(p.address, p.length, value);
  }

  private lookupExact(address: Uint8Array, length: number): T | undefined {
    const t = address.length === 4 ? this.v4 : this.v6;
    return (t as unknown as { byLength: Map<number, Map<number | string, T>> }).byLength.get(length)?.get(key(address, length));
  }

  /** Longest-prefix match of a 4- or 16-byte address. */
  lookup(address: Uint8Array): T | undefined {
    if (address.length === 4) return this.v4.lookup(address);
    if (address.length === 16) return this.v6.lookup(address);
    return undefined;
  }

  removeValue(value: T): number {
    return this.v4.removeValue(value) + this.v6.removeValue(value);
  }

  /** The prefixes mapped to `value`, as text. */
  entries(value: T): string[] {
    return [...this.v4.entries(value), ...this.v6.entries(value)];
  }
}
