/**
 * Packet capture in the classic libpcap format, readable by tcpdump and Wireshark.
 *
 * API
 *   new PcapWriter(sink: PcapSink, options?)   PcapWriter.open(path, options?) for a file
 *   writer.write(packet, timeMs?)               one record; the time defaults to now
 *   writer.flush() / writer.close()             close() flushes; both idempotent after close
 *   readPcap(bytes): PcapFile                   parser (both byte orders, µs and ns magic)
 *   capture(link, writer, options?): Link       records tx (in send) and rx (before the receiver)
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
import type { Link, LinkOffload, LinkReceiver, LinkStats } from './link.js';
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

export interface CaptureOptions {
  /** Clock in milliseconds since the epoch (default: performance.timeOrigin + now()). */
  clock?: () => number;
}

/**
 * Wraps `link` so both directions are recorded to `writer`: a packet sent is recorded when
 * the inner link accepted it, a packet received is recorded before the receiver sees it.
 * close() closes the inner link; the writer belongs to the caller.
 * Offloads pass through: `offload`, `offloadHeadroom` and `sendOffload` are the inner
 * link's (absent when it has none), and received `meta` reaches the receiver. An offloaded
 * packet is recorded as it was handed over: a super-segment larger than the MTU, with its
 * partial checksum (Wireshark shows it as a bad checksum; tshark reads it fine).
 */
export function capture(link: Link, writer: PcapWriter, options: CaptureOptions = {}): Link {
  return new CaptureLink(link, writer, options.clock ?? now);
}

class CaptureLink implements Link {
  readonly #inner: Link;
  readonly #writer: PcapWriter;
  readonly #clock: () => number;

  constructor(inner: Link, writer: PcapWriter, clock: () => number) {
    this.#inner = inner;
    this.#writer = writer;
    this.#clock = clock;
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
    if (sent) this.#writer.write(packet, this.#clock());
    return sent;
  }

  sendOffload(packet: Uint8Array, gsoSize: number, csumStart: number, csumOffset: number): boolean {
    const inner = this.#inner;
    const sent = inner.sendOffload !== undefined && inner.sendOffload(packet, gsoSize, csumStart, csumOffset);
    if (sent) this.#writer.write(packet, this.#clock());
    return sent;
  }

  setReceiver(receiver: LinkReceiver): void {
    const writer = this.#writer;
    const clock = this.#clock;
    const wrapped: LinkReceiver = {
      packet(packet, meta) {
        writer.write(packet, clock());
        if (meta === undefined) receiver.packet(packet);
        else receiver.packet(packet, meta);
      },
    };
    if (receiver.batchEnd) wrapped.batchEnd = () => receiver.batchEnd?.();
    this.#inner.setReceiver(wrapped);
  }

  /** Link.pollNow of the inner link (received packets are recorded on the way, as always). */
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
