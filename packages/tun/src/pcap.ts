/**
 * Packet capture in the classic libpcap format, readable by tcpdump and Wireshark.
 *
 * API
 *   new PcapWriter(sink: PcapSink, options?)   PcapWriter.open(path, options?) for a file
 *   writer.write(packet, timeMs?)               one record; the time defaults to now
 *   writer.flush() / writer.close()             close() flushes; both idempotent after close
 *   readPcap(bytes): PcapFile                   parser (both byte orders, µs and ns magic)
 *   capture(link, writer, options?): CaptureLink  records tx (in send) and rx (before the receiver)
 *   new CaptureLink(link): addTap(tap) / removeTap(tap) at any time   (a stack's run-time captures)
 *   PcapCapture.open(path, { maxBytes }): PacketTap    a file capture of bounded size
 *   completeChecksum(packet, csumStart, csumOffset, scratch)   the wire's bytes of an offloaded packet
 *
 * A capture records what the wire carries: partial checksums (virtio NEEDS_CSUM, both
 * directions with offloads) are completed on a copy; super-segments are recorded whole
 * (see CaptureLink).
 *
 * Format: global header (magic 0xa1b2c3d4 in host order, version 2.4, thiszone 0, sigfigs 0,
 * snaplen, link type), then per packet a 16-byte record header (seconds, microseconds,
 * captured length, original length) and the captured bytes (at most snaplen). The default
 * link type is LINKTYPE_RAW (101): each record is a bare IPv4/IPv6 packet, as a tun gives.
 *
 * Writes are buffered in one fixed buffer (default 1 MiB) flushed synchronously when a
 * record does not fit and on flush()/close(); memory use is bounded by that buffer.
 * Timestamps are milliseconds since the epoch (fractions allowed), as `Date.now()` or
 * `performance.timeOrigin + performance.now()` give them.
 * A write after close() is ignored and counted in `dropped`, so a capture that outlives its
 * writer never throws into the receive path.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import type { Link, LinkOffload, LinkReceiver, LinkStats, PacketMeta } from './link.js';
import { argError } from './errors.js';

export const PCAP_MAGIC = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;
export const PCAP_GLOBAL_HEADER_SIZE = 24;
export const PCAP_RECORD_HEADER_SIZE = 16;

export interface PcapSink {
  write(chunk: Uint8Array): void;
  close?(): void;
}

export interface PcapWriterOptions {
  /** Largest number of bytes kept per packet (default 65535). */
  snaplen?: number;
  /** Link type of the records (default LINKTYPE_RAW = 101). */
  linkType?: number;
  /** Size of the write buffer in bytes (default 1 MiB, at least 4 KiB). */
  bufferSize?: number;
}

const DEFAULT_BUFFER = 1 << 20;

export function now(): number {
  return performance.timeOrigin + performance.now();
}

export class PcapWriter {
  readonly snaplen: number;
  readonly linkType: number;
  #sink: PcapSink;
  #buffer: Buffer;
  #used = 0;
  #closed = false;
  #packets = 0;
  #dropped = 0;
  /** Bytes of the file so far (global header and every record, flushed or not). */
  #bytes = PCAP_GLOBAL_HEADER_SIZE;

  /** A writer to a new file at `path` (truncated if it exists). */
  static open(path: string, options: PcapWriterOptions = {}): PcapWriter {
    const fd = openSync(path, 'w');
    const sink: PcapSink = {
      write(chunk) {
        let off = 0;
        while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
      },
      close() {
        closeSync(fd);
      },
    };
    try {
      return new PcapWriter(sink, options);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  constructor(sink: PcapSink, options: PcapWriterOptions = {}) {
    const snaplen = options.snaplen ?? 65535;
    const linkType = options.linkType ?? LINKTYPE_RAW;
    const bufferSize = options.bufferSize ?? DEFAULT_BUFFER;
    if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0x40000) {
      throw argError('ERR_OUT_OF_RANGE', `The "snaplen" option must be in 1..262144, got ${snaplen}`);
    }
    if (!Number.isInteger(linkType) || linkType < 0 || linkType > 0xffff) {
      throw argError('ERR_OUT_OF_RANGE', `The "linkType" option must be in 0..65535, got ${linkType}`);
    }
    if (!Number.isInteger(bufferSize) || bufferSize < 4096 || bufferSize > 1 << 28) {
      throw argError('ERR_OUT_OF_RANGE', `The "bufferSize" option must be in 4096..${1 << 28}, got ${bufferSize}`);
    }
    this.snaplen = snaplen;
    this.linkType = linkType;
    this.#sink = sink;
    this.#buffer = Buffer.alloc(bufferSize);
    const h = this.#buffer;
    h.writeUInt32LE(PCAP_MAGIC, 0);
    h.writeUInt16LE(2, 4);
    h.writeUInt16LE(4, 6);
    h.writeInt32LE(0, 8); // thiszone
    h.writeUInt32LE(0, 12); // sigfigs
    h.writeUInt32LE(snaplen, 16);
    h.writeUInt32LE(linkType, 20);
    this.#used = PCAP_GLOBAL_HEADER_SIZE;
  }

  /** Records written. */
  get packets(): number {
    return this.#packets;
  }

  /** Bytes of the file written so far, buffered ones included (24-byte global header + records). */
  get bytes(): number {
    return this.#bytes;
  }

  /** File bytes a record of a `length`-byte packet takes (its 16-byte header + what snaplen keeps). */
  recordSize(length: number): number {
    return PCAP_RECORD_HEADER_SIZE + Math.min(length, this.snaplen);
  }

  /** Writes ignored because the writer was closed. */
  get dropped(): number {
    return this.#dropped;
  }

  get closed(): boolean {
    return this.#closed;
  }

  write(packet: Uint8Array, timeMs: number = now()): void {
    if (this.#closed) {
      this.#dropped++;
      return;
    }
    const caplen = Math.min(packet.length, this.snaplen);
    const need = PCAP_RECORD_HEADER_SIZE + caplen;
    if (this.#used + need > this.#buffer.length) this.flush();
    let sec = Math.floor(timeMs / 1000);
    let usec = Math.round((timeMs - sec * 1000) * 1000);
    if (usec >= 1_000_000) {
      sec += 1;
      usec -= 1_000_000;
    }
    const header = Buffer.allocUnsafe(PCAP_RECORD_HEADER_SIZE);
    const into = this.#used + need <= this.#buffer.length ? this.#buffer.subarray(this.#used) : header;
    into.writeUInt32LE(sec >>> 0, 0);
    into.writeUInt32LE(usec, 4);
    into.writeUInt32LE(caplen, 8);
    into.writeUInt32LE(packet.length, 12);
    if (into === header) {
      // Larger than the whole buffer: straight to the sink.
      this.#sink.write(header);
      this.#sink.write(packet.subarray(0, caplen));
    } else {
      into.set(packet.subarray(0, caplen), PCAP_RECORD_HEADER_SIZE);
      this.#used += need;
    }
    this.#packets++;
    this.#bytes += need;
  }

  flush(): void {
    if (this.#used === 0) return;
    const chunk = this.#buffer.subarray(0, this.#used);
    this.#used = 0;
    this.#sink.write(chunk);
  }

  close(): void {
    if (this.#closed) return;
    try {
      this.flush();
    } finally {
      this.#closed = true;
      this.#sink.close?.();
    }
  }
}

export interface PcapRecord {
  /** Seconds since the epoch. */
  seconds: number;
  /** Microseconds (or nanoseconds when the file says so) within the second. */
  fraction: number;
  /** The time as milliseconds since the epoch. */
  timeMs: number;
  /** Length of the packet on the wire (may exceed data.length when snaplen cut it). */
  originalLength: number;
  data: Uint8Array;
}

export interface PcapFile {
  versionMajor: number;
  versionMinor: number;
  snaplen: number;
  linkType: number;
  nanosecond: boolean;
  littleEndian: boolean;
  records: PcapRecord[];
}

/** Parses a whole classic pcap file. Throws ERR_INVALID_ARG_VALUE on malformed input. */
export function readPcap(bytes: Uint8Array): PcapFile {
  const bad = (why: string): Error => argError('ERR_INVALID_ARG_VALUE', `not a valid pcap file: ${why}`);
  if (bytes.length < PCAP_GLOBAL_HEADER_SIZE) throw bad(`${bytes.length} bytes, shorter than the global header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magicLe = view.getUint32(0, true);
  let littleEndian: boolean;
  let nanosecond: boolean;
  if (magicLe === PCAP_MAGIC || magicLe === PCAP_MAGIC_NS) {
    littleEndian = true;
    nanosecond = magicLe === PCAP_MAGIC_NS;
  } else {
    const magicBe = view.getUint32(0, false);
    if (magicBe !== PCAP_MAGIC && magicBe !== PCAP_MAGIC_NS) throw bad(`magic 0x${magicLe.toString(16)}`);
    littleEndian = false;
    nanosecond = magicBe === PCAP_MAGIC_NS;
  }
  const u16 = (off: number): number => view.getUint16(off, littleEndian);
  const u32 = (off: number): number => view.getUint32(off, littleEndian);
  const file: PcapFile = {
    versionMajor: u16(4),
    versionMinor: u16(6),
    snaplen: u32(16),
    linkType: u32(20) & 0xffff,
    nanosecond,
    littleEndian,
    records: [],
  };
  const perSecond = nanosecond ? 1e9 : 1e6;
  let off = PCAP_GLOBAL_HEADER_SIZE;
  while (off < bytes.length) {
    if (off + PCAP_RECORD_HEADER_SIZE > bytes.length) throw bad(`truncated record header at offset ${off}`);
    const seconds = u32(off);
    const fraction = u32(off + 4);
    const caplen = u32(off + 8);
    const originalLength = u32(off + 12);
    if (fraction >= perSecond) throw bad(`sub-second field ${fraction} out of range at offset ${off}`);
    if (caplen > originalLength && originalLength !== 0) throw bad(`captured length ${caplen} > original ${originalLength}`);
    const start = off + PCAP_RECORD_HEADER_SIZE;
    if (start + caplen > bytes.length) throw bad(`truncated record data at offset ${off}`);
    file.records.push({
      seconds,
      fraction,
      timeMs: seconds * 1000 + (fraction * 1000) / perSecond,
      originalLength,
      data: new Uint8Array(bytes.subarray(start, start + caplen)), // a copy, plain Uint8Array
    });
    off = start + caplen;
  }
  return file;
}

// ---- captures of a link -----------------------------------------------------------

/**
 * What a capture sees of a link (CaptureLink calls it; it must not throw).
 * `sent`: a packet the inner link accepted. `csumStart` >= 0 when its transport checksum
 * was left partial for the link to complete (sendOffload: the field at csumStart +
 * csumOffset holds the pseudo-header sum), -1 when it is complete (send).
 * `received`: a packet before the receiver sees it, with the link's meta (offload links).
 * Both packets are borrowed for the call only and must not be modified.
 */
export interface PacketTap {
  sent(packet: Uint8Array, csumStart: number, csumOffset: number): void;
  received(packet: Uint8Array, meta: PacketMeta | undefined): void;
}

/** RFC 1071 one's-complement sum of bytes [start, end), folded to 16 bits, not complemented. */
function onesSum(b: Uint8Array, start: number, end: number): number {
  let s = 0;
  let i = start;
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < end) s += b[i]! << 8; // odd length: padded with a zero byte (RFC 1071 §4.1)
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

const PROTO_TCP = 6;
const PROTO_UDP = 17;

/**
 * Where the transport checksum of a received IPv4 or IPv6 packet with a partial sum lives:
 * the offset of the field, or -1 when the packet is not one whole TCP/UDP datagram
 * (then it is recorded as it came). The kernel's csum_start is the transport header
 * (skb_checksum_start_offset), i.e. the IPv4 header length; csum_offset is 16 for TCP and
 * 6 for UDP (linux tcp_v4_send_check, udp4_hwcsum); the vnet header's own values are not
 * kept in PacketMeta, so they are derived here as the kernel made them.
 */
function partialChecksumField(p: Uint8Array): number {
  if (p.length >= 40 && p[0]! >>> 4 === 6) {
    // IPv6 (RFC 8200 §3): the kernel's partial sums start right after the 40-byte header
    // (tcp_v6_send_check, udp6_hwcsum_outgoing); with an extension header first, leave it.
    const end = 40 + ((p[4]! << 8) | p[5]!);
    if (end > p.length) return -1;
    if (p[6] === PROTO_TCP) return end >= 60 ? 56 : -1;
    if (p[6] === PROTO_UDP) return end >= 48 ? 46 : -1;
    return -1;
  }
  if (p.length < 20 || p[0]! >>> 4 !== 4) return -1;
  const ihl = (p[0]! & 0x0f) * 4;
  const total = (p[2]! << 8) | p[3]!;
  if (ihl < 20 || total < ihl || total > p.length) return -1;
  if ((((p[6]! << 8) | p[7]!) & 0x3fff) !== 0) return -1; // a fragment: never partial
  if (p[9] === PROTO_TCP) return total >= ihl + 20 ? ihl + 16 : -1;
  if (p[9] === PROTO_UDP) return total >= ihl + 8 ? ihl + 6 : -1;
  return -1;
}

/**
 * Copies `packet` into `scratch` and completes its partial transport checksum there, as the
 * kernel (or a NIC) does before the packet reaches a wire (linux skb_checksum_help; virtio
 * spec §5.1.6.2): the one's-complement sum from `csumStart` to the end of the IPv4 or IPv6 datagram,
 * the field itself holding the pseudo-header sum, complemented; a UDP 0 is written 0xffff
 * (RFC 768: 0 means "no checksum"), a TCP 0 stays 0 (RFC 1624 §3). Returns the view of the
 * completed copy, or `packet` itself when the offsets do not fit (recorded as it is).
 * `ipOffset`: where the IP header starts (14 in an Ethernet frame from a TAP, whose
 * csumStart counts from the frame's first byte, as the vnet header's does).
 */
export function completeChecksum(packet: Uint8Array, csumStart: number, csumOffset: number, scratch: Uint8Array, ipOffset = 0): Uint8Array {
  const len = packet.length;
  let end = len;
  const v = ipOffset;
  if (len >= v + 20 && packet[v]! >>> 4 === 4) end = Math.min(len, v + ((packet[v + 2]! << 8) | packet[v + 3]!));
  else if (len >= v + 40 && packet[v]! >>> 4 === 6) end = Math.min(len, v + 40 + ((packet[v + 4]! << 8) | packet[v + 5]!));
  const at = csumStart + csumOffset;
  if (csumStart < 0 || at + 2 > end || len > scratch.length) return packet;
  scratch.set(packet);
  const copy = scratch.subarray(0, len);
  const sum = ~onesSum(copy, csumStart, end) & 0xffff;
  // RFC 768: a UDP checksum that computes to 0 is sent as 0xffff (0 means none). A TCP one
  // is sent as 0: 0xffff never results from a proper computation (RFC 1624 §3), and
  // Wireshark flags it as an error.
  const value = sum === 0 && csumOffset === 6 ? 0xffff : sum;
  copy[at] = value >>> 8;
  copy[at + 1] = value & 0xff;
  return copy;
}

/** Largest packet a link hands over: an IPv4 datagram (TSO super-segments included). */
const MAX_PACKET = 65535;

/**
 * The bytes a wire would carry for a packet seen at the link: checksums completed on a copy.
 * `frames`: the link carries Ethernet II frames (a TAP, LINKTYPE_ETHERNET): the IP datagram
 * starts after the 14-byte header and offsets count from the frame's first byte.
 */
class WireView {
  /** Reused for every completed copy; allocated on the first packet that needs it. */
  #scratch: Uint8Array | undefined;
  readonly #l2: number;

  constructor(frames = false) {
    this.#l2 = frames ? ETHERNET_HEADER_LEN : 0;
  }

  sent(packet: Uint8Array, csumStart: number, csumOffset: number): Uint8Array {
    if (csumStart < 0) return packet;
    return completeChecksum(packet, csumStart, csumOffset, (this.#scratch ??= new Uint8Array(MAX_PACKET + this.#l2)), this.#l2);
  }

  received(packet: Uint8Array, meta: PacketMeta | undefined): Uint8Array {
    if (meta === undefined || !meta.csumPartial) return packet;
    const l2 = this.#l2;
    if (l2 > 0) {
      // Only IPv4 (0x0800) and IPv6 (0x86dd) frames carry a checksum to complete.
      if (packet.length < l2) return packet;
      const type = (packet[12]! << 8) | packet[13]!;
      if (type !== 0x0800 && type !== 0x86dd) return packet;
    }
    const ip = l2 === 0 ? packet : packet.subarray(l2);
    const field = partialChecksumField(ip);
    if (field < 0) return packet;
    const ihl = ip[0]! >>> 4 === 6 ? 40 : (ip[0]! & 0x0f) * 4;
    return completeChecksum(packet, l2 + ihl, field - ihl, (this.#scratch ??= new Uint8Array(MAX_PACKET + l2)), l2);
  }
}

const ETHERNET_HEADER_LEN = 14;

export interface CaptureOptions {
  /** Clock in milliseconds since the epoch (default: performance.timeOrigin + now()). */
  clock?: () => number;
}

/** A tap that records to a caller's PcapWriter, without bound (the writer is the caller's). */
class WriterTap implements PacketTap {
  readonly #writer: PcapWriter;
  readonly #clock: () => number;
  readonly #wire = new WireView();

  constructor(writer: PcapWriter, clock: () => number) {
    this.#writer = writer;
    this.#clock = clock;
  }

  sent(packet: Uint8Array, csumStart: number, csumOffset: number): void {
    this.#writer.write(this.#wire.sent(packet, csumStart, csumOffset), this.#clock());
  }

  received(packet: Uint8Array, meta: PacketMeta | undefined): void {
    this.#writer.write(this.#wire.received(packet, meta), this.#clock());
  }
}

/**
 * Wraps `link` so both directions are recorded to `writer`: a packet sent is recorded when
 * the inner link accepted it, a packet received is recorded before the receiver sees it.
 * close() closes the inner link; the writer belongs to the caller.
 * Offloads pass through: `offload`, `offloadHeadroom` and `sendOffload` are the inner
 * link's (absent when it has none), and received `meta` reaches the receiver.
 * What is recorded is what the wire carries (see CaptureLink): partial checksums are
 * completed on a copy; TSO super-segments are recorded whole.
 */
export function capture(link: Link, writer: PcapWriter, options: CaptureOptions = {}): CaptureLink {
  const c = new CaptureLink(link);
  c.addTap(new WriterTap(writer, options.clock ?? now));
  return c;
}

/**
 * A link that shows what passes through it to its taps (PcapCapture, or any PacketTap),
 * which can be added and removed at any time; without a tap it only forwards (one array
 * length test per packet). A stack wraps its link in one so a capture can start at run time.
 *
 * What a tap sees, and a PcapCapture records, is what the wire carries:
 * - Checksums complete. With offloads (virtio NEEDS_CSUM), TCP and UDP checksums cross the
 *   link as partial pseudo-header sums, both directions: the kernel completes the ones we
 *   send, and the ones it sends us were never computed (the packet never left the host).
 *   A capture completes them on a copy, only while a tap is present; the packet the stack
 *   sends or receives is never modified.
 * - TSO/GSO super-segments recorded whole (up to 65535 bytes, IPv4 Total Length and header
 *   checksum as in the packet, which both the kernel and our IP layer keep consistent), not
 *   cut into the MSS-sized segments the kernel makes of them: what tcpdump shows on a host
 *   with GSO (tcpdump -i tun0 sees the same). Wireshark shows each as one large segment.
 */
/** A joined packet's room: the largest offload packet (65535) and a TAP's Ethernet header and tag. */
const JOINED_SIZE = 65535 + 18;

export class CaptureLink implements Link {
  /**
   * What the link carries, for the file's header: LINKTYPE_RAW (101, IP packets: a TUN,
   * the default) or LINKTYPE_ETHERNET (1, frames: a TAP, so Wireshark shows Ethernet
   * headers and ARP). A file capture takes it from here (netstack's `stack.capture`).
   * Frames with offloads (a TAP with a vnet header) are completed like packets: the
   * checksum offsets count from the frame's first byte (taps that record frames know it:
   * a PcapCapture with linkType LINKTYPE_ETHERNET).
   */
  readonly linkType: number;
  readonly #inner: Link;
  #taps: readonly PacketTap[] = [];
  /** sendOffloadGather's packet joined (with the inner link's headroom before it), allocated on first use. */
  #joined: Uint8Array | undefined;

  constructor(inner: Link, options: { linkType?: number } = {}) {
    const linkType = options.linkType ?? LINKTYPE_RAW;
    if (linkType !== LINKTYPE_RAW && linkType !== LINKTYPE_ETHERNET) {
      throw argError('ERR_INVALID_ARG_VALUE', `The "linkType" option must be LINKTYPE_RAW (101) or LINKTYPE_ETHERNET (1), got ${String(linkType)}`);
    }
    this.linkType = linkType;
    this.#inner = inner;
  }

  /** Starts showing packets to `tap` (from the next packet on). */
  addTap(tap: PacketTap): void {
    if (!this.#taps.includes(tap)) this.#taps = [...this.#taps, tap];
  }

  /** Stops showing packets to `tap`; false when it was not there. */
  removeTap(tap: PacketTap): boolean {
    const before = this.#taps.length;
    this.#taps = this.#taps.filter((t) => t !== tap);
    return this.#taps.length !== before;
  }

  get tapCount(): number {
    return this.#taps.length;
  }

  get mtu(): number {
    return this.#inner.mtu;
  }

  get offload(): LinkOffload | undefined {
    return this.#inner.offload;
  }

  get offloadHeadroom(): number | undefined {
    return this.#inner.offloadHeadroom;
  }

  send(packet: Uint8Array): boolean {
    const sent = this.#inner.send(packet);
    if (sent && this.#taps.length !== 0) for (const t of this.#taps) t.sent(packet, -1, 0);
    return sent;
  }

  sendOffload(packet: Uint8Array, gsoSize: number, csumStart: number, csumOffset: number): boolean {
    const inner = this.#inner;
    const sent = inner.sendOffload !== undefined && inner.sendOffload(packet, gsoSize, csumStart, csumOffset);
    if (sent && this.#taps.length !== 0) for (const t of this.#taps) t.sent(packet, csumStart, csumOffset);
    return sent;
  }

  /**
   * Link.sendOffloadGather: the inner link's, in pieces, while no tap watches; otherwise (or
   * when the inner link has none) the pieces are joined into one packet for sendOffload,
   * so the taps see it whole.
   */
  sendOffloadGather(head: Uint8Array, data: Uint8Array, data2: Uint8Array | undefined, gsoSize: number, csumStart: number, csumOffset: number): boolean {
    const inner = this.#inner;
    if (this.#taps.length === 0 && inner.sendOffloadGather !== undefined) return inner.sendOffloadGather(head, data, data2, gsoSize, csumStart, csumOffset);
    const room = inner.offloadHeadroom ?? 0;
    const len = head.length + data.length + (data2 === undefined ? 0 : data2.length);
    if (this.#joined === undefined || this.#joined.length < room + len) this.#joined = new Uint8Array(room + Math.max(len, JOINED_SIZE));
    const j = this.#joined;
    j.set(head, room);
    j.set(data, room + head.length);
    if (data2 !== undefined) j.set(data2, room + head.length + data.length);
    return this.sendOffload(j.subarray(room, room + len), gsoSize, csumStart, csumOffset);
  }

  setReceiver(receiver: LinkReceiver): void {
    const wrapped: LinkReceiver = {
      packet: (packet, meta) => {
        if (this.#taps.length !== 0) for (const t of this.#taps) t.received(packet, meta);
        if (meta === undefined) receiver.packet(packet);
        else receiver.packet(packet, meta);
      },
    };
    if (receiver.batchEnd) wrapped.batchEnd = () => receiver.batchEnd?.();
    this.#inner.setReceiver(wrapped);
  }

  /** Link.pollNow of the inner link (received packets are shown to the taps on the way, as always). */
  pollNow(): number {
    return this.#inner.pollNow?.() ?? 0;
  }

  stats(): LinkStats {
    return this.#inner.stats();
  }

  close(): void {
    this.#inner.close();
  }
}

export interface PcapCaptureOptions extends PcapWriterOptions {
  /**
   * Most bytes the file may reach, headers included (default DEFAULT_CAPTURE_MAX_BYTES,
   * 1 GiB; Infinity for no bound). A packet whose record would pass it is not written and
   * is counted in `notWritten`; the capture then stays at that size until closed, so a
   * long capture cannot fill the disk.
   */
  maxBytes?: number;
  /** Clock in milliseconds since the epoch (default: performance.timeOrigin + now()). */
  clock?: () => number;
}

/** The default bound of a PcapCapture file: 1 GiB. */
export const DEFAULT_CAPTURE_MAX_BYTES = 1 << 30;

/**
 * A capture into a pcap file of bounded size, as a PacketTap (add it to a CaptureLink).
 * Records what the wire carries (see CaptureLink). Never throws from the packet path: an
 * error of the file (ENOSPC, EIO) stops the capture, closes the file, and is kept in
 * `error` (a Node fs error with `code` and `syscall`); later packets count in `notWritten`.
 * Memory: the writer's buffer (default 1 MiB) and one 64 KiB scratch for checksum completion.
 */
export class PcapCapture implements PacketTap {
  readonly maxBytes: number;
  readonly #writer: PcapWriter;
  readonly #clock: () => number;
  readonly #wire: WireView;
  #notWritten = 0;
  #limitReached = false;
  #error: Error | undefined;

  /**
   * A capture to a new file at `path` (truncated if it exists). Throws the fs error
   * (`code` EACCES, ENOENT, EISDIR...) when the file cannot be opened, ERR_OUT_OF_RANGE /
   * ERR_INVALID_ARG_TYPE for bad options.
   */
  static open(path: string, options: PcapCaptureOptions = {}): PcapCapture {
    const maxBytes = checkMaxBytes(options.maxBytes);
    if (typeof path !== 'string' || path === '') {
      throw argError('ERR_INVALID_ARG_TYPE', `The "path" argument must be a non-empty string, got ${typeof path === 'string' ? "''" : typeof path}`);
    }
    return new PcapCapture(PcapWriter.open(path, writerOptions(options)), maxBytes, options.clock ?? now);
  }

  /** A capture to any sink (tests, a pipe); `options` as for open(). */
  static toSink(sink: PcapSink, options: PcapCaptureOptions = {}): PcapCapture {
    const maxBytes = checkMaxBytes(options.maxBytes);
    return new PcapCapture(new PcapWriter(sink, writerOptions(options)), maxBytes, options.clock ?? now);
  }

  private constructor(writer: PcapWriter, maxBytes: number, clock: () => number) {
    this.#writer = writer;
    this.#wire = new WireView(writer.linkType === LINKTYPE_ETHERNET);
    this.maxBytes = maxBytes;
    this.#clock = clock;
  }

  /** Packets written. */
  get packets(): number {
    return this.#writer.packets;
  }

  /** Bytes of the file (buffered ones included). */
  get bytes(): number {
    return this.#writer.bytes;
  }

  /** Packets seen but not written: the size bound was reached, the file failed, or it was closed. */
  get notWritten(): number {
    return this.#notWritten;
  }

  /** The next record would have passed maxBytes: the capture stopped growing. */
  get limitReached(): boolean {
    return this.#limitReached;
  }

  /** The file error that stopped the capture, if any. */
  get error(): Error | undefined {
    return this.#error;
  }

  get closed(): boolean {
    return this.#writer.closed;
  }

  sent(packet: Uint8Array, csumStart: number, csumOffset: number): void {
    if (this.#admit(packet.length)) this.#write(this.#wire.sent(packet, csumStart, csumOffset));
  }

  received(packet: Uint8Array, meta: PacketMeta | undefined): void {
    if (this.#admit(packet.length)) this.#write(this.#wire.received(packet, meta));
  }

  #admit(length: number): boolean {
    const w = this.#writer;
    if (w.closed) {
      this.#notWritten++;
      return false;
    }
    if (w.bytes + w.recordSize(length) > this.maxBytes) {
      this.#limitReached = true;
      this.#notWritten++;
      return false;
    }
    return true;
  }

  #write(packet: Uint8Array): void {
    try {
      this.#writer.write(packet, this.#clock());
    } catch (err) {
      this.#notWritten++;
      this.#fail(err);
    }
  }

  #fail(err: unknown): void {
    this.#error ??= err instanceof Error ? err : new Error(String(err));
    try {
      this.#writer.close();
    } catch {
      // The flush failed again (the same error): the file is closed all the same.
    }
  }

  /** Writes the file's buffered bytes now; a failure stops the capture (see `error`). */
  flush(): void {
    if (this.#writer.closed) return;
    try {
      this.#writer.flush();
    } catch (err) {
      this.#fail(err);
    }
  }

  /** Flushes and closes the file. Idempotent; never throws (a failure is kept in `error`). */
  close(): void {
    if (this.#writer.closed) return;
    try {
      this.#writer.close();
    } catch (err) {
      this.#error ??= err instanceof Error ? err : new Error(String(err));
    }
  }
}

function checkMaxBytes(maxBytes: number | undefined): number {
  if (maxBytes === undefined) return DEFAULT_CAPTURE_MAX_BYTES;
  if (typeof maxBytes !== 'number') {
    throw argError('ERR_INVALID_ARG_TYPE', `The "maxBytes" option must be a number, got ${typeof maxBytes}`);
  }
  if (!(maxBytes === Infinity || (Number.isSafeInteger(maxBytes) && maxBytes >= PCAP_GLOBAL_HEADER_SIZE))) {
    throw argError('ERR_OUT_OF_RANGE', `The "maxBytes" option must be an integer >= ${PCAP_GLOBAL_HEADER_SIZE} or Infinity, got ${maxBytes}`);
  }
  return maxBytes;
}

function writerOptions(o: PcapCaptureOptions): PcapWriterOptions {
  return {
    ...(o.snaplen !== undefined ? { snaplen: o.snaplen } : {}),
    ...(o.linkType !== undefined ? { linkType: o.linkType } : {}),
    ...(o.bufferSize !== undefined ? { bufferSize: o.bufferSize } : {}),
  };
}
