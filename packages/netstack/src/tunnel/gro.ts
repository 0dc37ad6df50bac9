/**
 * GRO-style coalescing of decrypted inner packets before they are written to the device (the
 * tunnel's receive offload, as wireguard-go's tun/offload_linux.go `handleGRO`): consecutive
 * TCP segments of one flow become one super-segment written with a virtio GSO header, so the
 * kernel takes 64 KB per write() and per trip through its receive path instead of 1.4 KB.
 *
 * Deliberately small: one run at a time (the segments of a single flow back to back, which is
 * what a bulk transfer delivers within one batch of datagrams); a packet that does not extend
 * the run ends it: the run is written, then the packet. Order is therefore kept exactly.
 *
 * A segment extends the run when: IPv4 without options and not a fragment, or IPv6 with TCP
 * right after the fixed header; TCP with only ACK (and PSH, which ends the run) among its
 * flags; the IP header equal to the run's but for length, identification and checksum; the
 * TCP header equal but for the sequence number and checksum (so the same ACK, window and
 * options, timestamps included); its sequence number the next expected; its payload no larger
 * than the first segment's (`gsoSize`), a shorter one ending the run; at most 65535 bytes in
 * all. The super-segment carries the first header with the lengths fixed, the IPv4 header
 * checksum recomputed, PSH if the last segment had it, and the TCP checksum left partial
 * (the pseudo-header sum, virtio NEEDS_CSUM): the segments were authenticated by the AEAD, and
 * the kernel's own TSO output is trusted the same way.
 */
import type { Link } from '@netstack/tun';

const MAX = 65535;

function fold(s: number): number {
  let x = s;
  while (x > 0xffff) x = (x & 0xffff) + Math.floor(x / 0x10000);
  return x;
}

function sum16(b: Uint8Array, start: number, end: number, sum: number): number {
  let s = sum;
  for (let i = start; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  return s;
}

function equal(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number, n: number): boolean {
  for (let i = 0; i < n; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

export interface CoalescerStats {
  /** Super-segments written (two or more segments each) and the segments in them. */
  GroPackets: number;
  GroSegments: number;
  /** Packets written as they came (not TCP, not coalescable, or a run of one). */
  GroPassed: number;
  /** Writes the device refused. */
  GroDropped: number;
}

export class Coalescer {
  readonly stats: CoalescerStats = { GroPackets: 0, GroSegments: 0, GroPassed: 0, GroDropped: 0 };
  private readonly headroom: number;
  private readonly buf: Uint8Array;
  /** The run: its bytes at buf[headroom, headroom + len). */
  private len = 0;
  private count = 0;
  private l4 = 0;
  private hdr = 0;
  private gsoSize = 0;
  private nextSeq = 0;
  private v6 = false;

  constructor(private readonly device: Link) {
    this.headroom = device.offloadHeadroom ?? 12;
    this.buf = new Uint8Array(this.headroom + MAX);
  }

  /** Whether a device can take super-segments (checksum offload and TSO for at least one family). */
  static usable(device: Link): boolean {
    const o = device.offload;
    return typeof device.sendOffload === 'function' && o !== undefined && o.csum && (o.tso4 || o.tso6 === true);
  }

  /** One inner packet (borrowed for the call). */
  add(p: Uint8Array): void {
    const version = p[0]! >> 4;
    let l4: number;
    if (version === 4 && this.device.offload?.tso4 === true) {
      // No options, TCP, not a fragment (MF clear, offset 0), Total Length exact.
      if (p.length < 40 || p[0] !== 0x45 || p[9] !== 6 || (p[6]! & 0x3f) !== 0 || p[7] !== 0 || ((p[2]! << 8) | p[3]!) !== p.length) return this.pass(p);
      l4 = 20;
    } else if (version === 6 && this.device.offload?.tso6 === true) {
      if (p.length < 60 || p[6] !== 6 || ((p[4]! << 8) | p[5]!) !== p.length - 40) return this.pass(p);
      l4 = 40;
    } else {
      return this.pass(p);
    }
    const thl = (p[l4 + 12]! >> 4) * 4;
    const flags = p[l4 + 13]!;
    const hdr = l4 + thl;
    const payload = p.length - hdr;
    // ACK, optionally PSH; nothing else (SYN, FIN, RST, URG, ECE, CWR end coalescing).
    if (thl < 20 || payload <= 0 || (flags & ~0x08) !== 0x10) return this.pass(p);
    const seq = ((p[l4 + 4]! << 24) | (p[l4 + 5]! << 16) | (p[l4 + 6]! << 8) | p[l4 + 7]!) >>> 0;
    const b = this.buf;
    const h = this.headroom;
    if (this.count > 0) {
      const fits = this.l4 === l4 && this.hdr === hdr && seq === this.nextSeq && payload <= this.gsoSize &&
        this.len + payload <= MAX &&
        (l4 === 20
          ? b[h + 1] === p[1] && equal(b, h + 6, p, 6, 4) && equal(b, h + 12, p, 12, 8)
          : equal(b, h, p, 0, 4) && equal(b, h + 6, p, 6, 34)) &&
        equal(b, h + l4, p, l4, 4) && equal(b, h + l4 + 8, p, l4 + 8, 5) && equal(b, h + l4 + 14, p, l4 + 14, 2) &&
        equal(b, h + l4 + 18, p, l4 + 18, thl - 18);
      if (fits) {
        b.set(p.subarray(hdr), h + this.len);
        this.len += payload;
        this.count++;
        this.nextSeq = (seq + payload) >>> 0;
        if ((flags & 0x08) !== 0) b[h + l4 + 13] = b[h + l4 + 13]! | 0x08;
        if (payload < this.gsoSize || (flags & 0x08) !== 0) this.flush();
        return;
      }
      this.flush();
    }
    b.set(p, h);
    this.len = p.length;
    this.count = 1;
    this.l4 = l4;
    this.hdr = hdr;
    this.v6 = l4 === 40;
    this.gsoSize = payload;
    this.nextSeq = (seq + payload) >>> 0;
    if ((flags & 0x08) !== 0) this.flush();
  }

  /** Writes the run, if any. Call at the end of each batch of datagrams. */
  flush(): void {
    const n = this.count;
    if (n === 0) return;
    this.count = 0;
    const h = this.headroom;
    const p = this.buf.subarray(h, h + this.len);
    if (n === 1) {
      // A run of one is the packet as it came, checksum and all.
      if (this.device.send(p)) this.stats.GroPassed++;
      else this.stats.GroDropped++;
      return;
    }
    const l4 = this.l4;
    const len = this.len;
    if (this.v6) {
      p[4] = (len - 40) >> 8;
      p[5] = (len - 40) & 0xff;
    } else {
      p[2] = len >> 8;
      p[3] = len & 0xff;
      p[10] = 0;
      p[11] = 0;
      const c = ~fold(sum16(p, 0, 20, 0)) & 0xffff;
      p[10] = c >> 8;
      p[11] = c & 0xff;
    }
    // NEEDS_CSUM: the TCP checksum field holds the pseudo-header sum (RFC 793 §3.1, RFC 8200 §8.1).
    const ps = fold((this.v6 ? sum16(p, 8, 40, 0) : sum16(p, 12, 20, 0)) + 6 + (len - l4));
    p[l4 + 16] = ps >> 8;
    p[l4 + 17] = ps & 0xff;
    if (this.device.sendOffload!(p, this.gsoSize, l4, 16)) {
      this.stats.GroPackets++;
      this.stats.GroSegments += n;
    } else {
      this.stats.GroDropped++;
    }
  }

  private pass(p: Uint8Array): void {
    this.flush();
    if (this.device.send(p)) this.stats.GroPassed++;
    else this.stats.GroDropped++;
  }
}
