/**
 * Ephemeral port selection, RFC 6056 §3.3.4 "Algorithm 4: Double-Hash Port Selection
 * Algorithm". One instance per transport (tcp's and udp's port spaces are separate), keyed
 * by a per-stack secret like the ISN key (RFC 6528): deterministic for a given key, so a
 * test can seed it, and unpredictable to anyone who does not know the key.
 *
 *   offset = F(local, remote, remotePort, key)       (a keyed hash: where this 3-tuple starts)
 *   index  = G(local, remote, remotePort, key)       (which counter of the table it advances)
 *   port   = low + (offset + table[index]) % count;  table[index]++;  try the next on a clash
 *
 * F and G are two 32-bit words of one SHA-256 over the key and the 3-tuple (a keyed hash
 * each, as §3.3.4 asks: G must not be derivable from F). The table starts from the key too
 * (§3.3.4 fills it at random at boot). A socket with no remote yet (listen(0), bind(0))
 * selects with remote 0:0 and a per-selection serial in the hash, so its ports do not
 * follow each other.
 */
import { createHash } from 'node:crypto';
import { IPV6_ANY, writeAddress, type IpAddress } from './address.js';

/** RFC 6335 §6 dynamic ports: 49152-65535. */
export const EPHEMERAL_LOW = 49152;
export const EPHEMERAL_HIGH = 65535;

/** Counters in the table (RFC 6056 §3.3.4 uses 10 in its example; more spreads 3-tuples wider). */
const TABLE_LENGTH = 16;

export class EphemeralPorts {
  readonly low: number;
  readonly high: number;
  private readonly key: Uint8Array;
  private readonly table = new Uint32Array(TABLE_LENGTH);
  private readonly msg = new Uint8Array(16);
  /** The message for an IPv6 3-tuple: 16-byte addresses, then the same 8 bytes. */
  private readonly msg6 = new Uint8Array(40);
  /** Selections with no remote so far: each gets its own keyed starting point. */
  private serial = 0;
  private readonly msgView = new DataView(this.msg.buffer);
  private readonly msg6View = new DataView(this.msg6.buffer);

  /** `key`: the stack's secret; `tag` separates this instance's hashes from other uses of the key. */
  constructor(key: Uint8Array, low = EPHEMERAL_LOW, high = EPHEMERAL_HIGH, private readonly tag = 6056) {
    if (!Number.isInteger(low) || !Number.isInteger(high) || low < 1 || high > 65535 || low > high) {
      throw new RangeError(`ephemeral range must be integers 1 <= low <= high <= 65535, got [${low}, ${high}]`);
    }
    this.key = key;
    this.low = low;
    this.high = high;
    for (let i = 0; i < TABLE_LENGTH; i += 8) {
      const h = createHash('sha256').update(key).update(`rfc6056-table-${tag}-${i}`).digest();
      for (let j = 0; j < 8; j++) this.table[i + j] = h.readUInt32BE(4 * j);
    }
  }

  /**
   * A port in [low, high] for which `free(port)` is true, for the 3-tuple (local, remote,
   * remotePort); undefined when every port of the range was tried (the caller's errno:
   * EADDRNOTAVAIL for connect, EADDRINUSE for bind/listen, as before).
   */
  select(local: IpAddress, remote: IpAddress, remotePort: number, free: (port: number) => boolean): number | undefined {
    // The 3-tuple's bytes: 4-byte addresses for IPv4 (the message as it always was), 16 for IPv6.
    const v4 = typeof local === 'number' && typeof remote === 'number';
    const msg = v4 ? this.msg : this.msg6;
    const dv = v4 ? this.msgView : this.msg6View;
    let o = writeAddress(msg, 0, v4 ? local : widen(local));
    o += writeAddress(msg, o, v4 ? remote : widen(remote));
    dv.setUint16(o, remotePort);
    dv.setUint16(o + 2, this.tag & 0xffff);
    // No remote (bind(0), listen(0)): Algorithm 4 would hand out successive ports from one
    // offset, so whoever saw one could guess the next. Each such selection starts from its
    // own keyed point instead (as Linux starts bind(0) at a random offset): still
    // deterministic for a given key, unpredictable without it.
    dv.setUint32(o + 4, (remote === 0 || remote === IPV6_ANY) && remotePort === 0 ? ++this.serial : 0);
    const h = createHash('sha256').update(this.key).update(msg).digest();
    const offset = h.readUInt32BE(0); // F
    const index = h.readUInt32BE(4) % TABLE_LENGTH; // G
    const n = this.high - this.low + 1;
    const t = this.table;
    for (let count = n; count > 0; count--) {
      const port = this.low + ((offset + t[index]!) % n);
      t[index] = (t[index]! + 1) >>> 0;
      if (free(port)) return port;
    }
    return undefined;
  }
}

/** An address as 16 bytes for the IPv6 message: IPv4 as ::ffff:a.b.c.d (RFC 4291 §2.5.5.2). */
function widen(a: IpAddress): IpAddress {
  if (typeof a !== 'number') return a;
  return (`\0\0\0\0\0\0\0\0\0\0\xff\xff` + String.fromCharCode(a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255)) as IpAddress;
}
