/**
 * Reused subarray views, so the packet path allocates no view object per packet.
 *
 * A datagram's header and payload are handed on as views (`subarray`) over a buffer
 * the IP layer or the device reuses. Traffic repeats a few lengths over and over (the
 * MSS-sized data segments of a transfer, its ACKs), so a small direct-mapped cache of
 * views, keyed by length, finds the view it needs already made: cut from the same
 * array (the same object: a device's read buffer, an output buffer, a cached packet
 * view), at the same start, of the same length. A miss (another length, another buffer) makes a view and keeps
 * it in place of the old one. Bounded: SLOTS views at most.
 *
 * The views are as short-lived as before: valid while the bytes under them are (the
 * call that received them). A consumer that keeps one sees it reused, exactly as it
 * already sees the buffer under it overwritten.
 */
const SLOTS = 64;

export class ViewCache {
  private readonly views: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(SLOTS).fill(undefined);
  /** What each view was cut from, and where: the key (no `.buffer`/`.byteOffset` reads on the hot path). */
  private readonly sources: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(SLOTS).fill(undefined);
  private readonly starts: Int32Array = new Int32Array(SLOTS);

  /** `buf.subarray(start, end)`, 0 <= start <= end <= buf.length (the caller checked). */
  view(buf: Uint8Array, start: number, end: number): Uint8Array {
    const len = end - start;
    const i = len & (SLOTS - 1);
    const v = this.views[i];
    if (v !== undefined && this.sources[i] === buf && this.starts[i] === start && v.length === len) return v;
    const made = buf.subarray(start, end);
    this.views[i] = made;
    this.sources[i] = buf;
    this.starts[i] = start;
    return made;
  }
}

/**
 * The base of the header views (`Ipv4Packet`, `Ipv6Packet`, `TcpPacket`): bytes at
 * `offset` of `buffer`, re-pointed with `reset` so one instance serves a whole module, and
 * the big-endian field reads and writes every header is made of (RFC 791 §3.1 "network
 * byte order"). A subclass names the fields; only it knows where each lies.
 */
export class HeaderView {
  buffer: Uint8Array;
  offset: number;

  constructor(buffer: Uint8Array = new Uint8Array(0), offset = 0) {
    this.buffer = buffer;
    this.offset = offset;
  }

  /** Re-points the view at other bytes (no allocation); check lengths again before reading. */
  reset(buffer: Uint8Array, offset = 0): this {
    this.buffer = buffer;
    this.offset = offset;
    return this;
  }

  protected u8(field: number): number {
    return this.buffer[this.offset + field]!;
  }
  protected setU8(field: number, v: number): void {
    this.buffer[this.offset + field] = v;
  }
  protected u16(field: number): number {
    const o = this.offset + field;
    return (this.buffer[o]! << 8) | this.buffer[o + 1]!;
  }
  protected setU16(field: number, v: number): void {
    const o = this.offset + field;
    this.buffer[o] = v >>> 8;
    this.buffer[o + 1] = v & 0xff;
  }
  protected u32(field: number): number {
    const o = this.offset + field;
    const b = this.buffer;
    return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
  }
  protected setU32(field: number, v: number): void {
    const o = this.offset + field;
    const b = this.buffer;
    b[o] = v >>> 24;
    b[o + 1] = (v >>> 16) & 0xff;
    b[o + 2] = (v >>> 8) & 0xff;
    b[o + 3] = v & 0xff;
  }
}
