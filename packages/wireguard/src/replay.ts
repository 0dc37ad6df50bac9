/**
 * The receive replay window of a session (whitepaper §5.4.6, RFC 6479): a ring of 32-bit
 * words, one bit per counter. Moving forward clears only the words the window slides past,
 * so the cost per packet does not grow with the window. Each session owns one (1 KiB).
 */

const WORD_BITS = 32;
const RING_WORDS = 256; // a power of two
/** Counters this far behind the highest one seen are still accepted once: 8160 bits. */
export const REPLAY_WINDOW = (RING_WORDS - 1) * WORD_BITS;

export class ReplayWindow {
  private readonly ring = new Uint32Array(RING_WORDS);
  private last = 0;

  reset(): void {
    this.ring.fill(0);
    this.last = 0;
  }

  /**
   * True when `counter` is below `limit`, not older than the window, and not seen before;
   * records it. RFC 6479 §2: advance (clearing the words passed over), or check in the window.
   */
  check(counter: number, limit: number): boolean {
    if (!(counter < limit)) return false; // also rejects NaN and Infinity
    const block = Math.floor(counter / WORD_BITS);
    if (counter > this.last) {
      const current = Math.floor(this.last / WORD_BITS);
      const diff = Math.min(block - current, RING_WORDS);
      for (let i = 1; i <= diff; i++) this.ring[(current + i) & (RING_WORDS - 1)] = 0;
      this.last = counter;
    } else if (this.last - counter > REPLAY_WINDOW) {
      return false;
    }
    const word = block & (RING_WORDS - 1);
    const bit = 1 << (counter % WORD_BITS);
    const old = this.ring[word]!;
    if ((old & bit) !== 0) return false;
    this.ring[word] = old | bit;
    return true;
  }
}
