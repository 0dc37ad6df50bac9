/**
 * A hash table from non-negative integer keys (< 2^53) to objects, for tables whose
 * keys come from the wire (reassembly: source address and identification).
 *
 * Why not a Map: V8 hashes number keys without a seed, so an attacker who picks the
 * keys (spoofed sources, chosen identifications) can make them collide; and a Map keeps
 * deleted entries in its bucket chains until it rehashes, so deleting and re-adding one
 * key (a host whose only reassembly completes, again and again) makes that chain grow
 * by one each time (measured: 10 us per lookup with 5,000 keys held).
 *
 * Here: open addressing with linear probing, a per-table random seed mixed into the
 * hash, and backward-shift deletion (no tombstones, so no chain outlives its keys).
 * Grows at half full, shrinks at an eighth, so its memory follows the number of keys:
 * 2..8 slots of 12 bytes (8 for the key, 4 for the value pointer) per key.
 */
const EMPTY = -1;
const MIN_SLOTS = 16;

export class NumberTable<T> {
  private keys = new Float64Array(MIN_SLOTS).fill(EMPTY);
  private values: (T | undefined)[] = new Array<T | undefined>(MIN_SLOTS).fill(undefined);
  private mask = MIN_SLOTS - 1;
  private n = 0;
  private readonly seedLo: number;
  private readonly seedHi: number;

  constructor(seed?: Uint32Array) {
    const s = seed ?? globalThis.crypto.getRandomValues(new Uint32Array(2));
    this.seedLo = s[0]! | 0;
    this.seedHi = s[1]! | 0;
  }

  get size(): number {
    return this.n;
  }

  /** Slots allocated (for accounting and tests). */
  get slots(): number {
    return this.mask + 1;
  }

  get(key: number): T | undefined {
    const keys = this.keys;
    for (let i = this.home(key); ; i = (i + 1) & this.mask) {
      const k = keys[i]!;
      if (k === key) return this.values[i];
      if (k === EMPTY) return undefined;
    }
  }

  /** Inserts or replaces. */
  set(key: number, value: T): void {
    const keys = this.keys;
    let i = this.home(key);
    for (; ; i = (i + 1) & this.mask) {
      const k = keys[i]!;
      if (k === key) {
        this.values[i] = value;
        return;
      }
      if (k === EMPTY) break;
    }
    keys[i] = key;
    this.values[i] = value;
    if (++this.n * 2 > this.mask + 1) this.resize((this.mask + 1) * 2);
  }

  delete(key: number): boolean {
    const keys = this.keys;
    const values = this.values;
    const mask = this.mask;
    let i = this.home(key);
    for (; ; i = (i + 1) & mask) {
      const k = keys[i]!;
      if (k === key) break;
      if (k === EMPTY) return false;
    }
    // Backward shift: pull later entries of the run into the hole when their home allows.
    for (let j = (i + 1) & mask; keys[j] !== EMPTY; j = (j + 1) & mask) {
      const h = this.home(keys[j]!);
      // The entry at j may move to i unless its home lies cyclically in (i, j].
      if (i <= j ? h <= i || h > j : h <= i && h > j) {
        keys[i] = keys[j]!;
        values[i] = values[j];
        i = j;
      }
    }
    keys[i] = EMPTY;
    values[i] = undefined;
    this.n--;
    if (this.mask + 1 > MIN_SLOTS && this.n * 8 < this.mask + 1) this.resize((this.mask + 1) / 2);
    return true;
  }

  private home(key: number): number {
    // Seeded mix of the low and high 32 bits (murmur3's finaliser).
    let h = Math.imul((key >>> 0) ^ this.seedLo, 0xcc9e2d51);
    h ^= Math.imul(Math.floor(key / 4294967296) ^ this.seedHi, 0x1b873593);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h & this.mask;
  }

  private resize(slots: number): void {
    const keys = this.keys;
    const values = this.values;
    this.keys = new Float64Array(slots).fill(EMPTY);
    this.values = new Array<T | undefined>(slots).fill(undefined);
    this.mask = slots - 1;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      if (k === EMPTY) continue;
      let j = this.home(k);
      while (this.keys[j] !== EMPTY) j = (j + 1) & this.mask;
      this.keys[j] = k;
      this.values[j] = values[i];
    }
  }
}
