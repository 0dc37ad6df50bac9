/**
 * What a TCP connection needs from whoever holds it (the layer), and nothing more: the
 * boundary between `connection.ts` (RFC 9293 §3.10, one TCB) and `layer.ts`
 * (demultiplexing, serialising, timers), as `udp/src/endpoint.ts` is for UDP and gVisor's
 * `stack/registration.go` between its layers.
 *
 * The connection builds each outgoing segment whole (`TcpSegmentOut`: the header record
 * with window, timestamps, SACK blocks and ECN flags, where its data lies, the IP ECN
 * codepoint) and hands it to `send`; the host only adds the checksum (or leaves it to the
 * link) and sends. The host knows the connection type only as a parameter `C`, so this
 * file imports neither side.
 */
import type { IpAddress, SendError } from '@netstack/ip';
import type { ResolvedConfig, TcpState, TcpStats } from './types.js';
import { newTcpRepr } from './wire.js';
import type { TcpRepr } from './wire.js';

/** Where a segment's data is copied from (a connection's send buffer). */
export interface SegmentPayload {
  /** Copies `n` bytes at `offset` into `dst` at `dstOff`. */
  peek(offset: number, n: number, dst: Uint8Array, dstOff: number): void;
  /**
   * Points `into.gathered` (and `into.gathered2`, else undefined) at the `n` bytes at
   * `offset` where they are stored, without copying (views valid until the buffer next
   * changes): the host may then hand them to a link that writes a packet in pieces.
   */
  viewInto?(offset: number, n: number, into: { gathered: Uint8Array; gathered2: Uint8Array | undefined }): void;
}

/** One segment as a connection hands it to its host: complete but for the checksum. */
export interface TcpSegmentOut {
  /** The header: ports, SEQ/ACK, flags (ECE/CWR included), window field, options. `payload` is unused. */
  readonly repr: TcpRepr;
  /** The data: `dataLen` bytes at `dataOff` of `payload` (none when dataLen is 0). */
  payload: SegmentPayload | undefined;
  dataOff: number;
  dataLen: number;
  /** The IP header's ECN field (RFC 3168 §5): 0 Not-ECT, 2 ECT(0). */
  ecn: number;
  /**
   * The link may complete the checksum and cut a super-segment (more than `gsoMss` data
   * bytes) into `gsoMss`-byte pieces, when it offers that. False: checksummed here, one
   * datagram (the RSTs a connection sends in answer to a segment, as the layer's own).
   */
  offload: boolean;
  /** Payload bytes per piece of a super-segment (the connection's sndMss). */
  gsoMss: number;
  /** The IPv6 Flow Label of the connection (RFC 6437 §3); 0 over IPv4, or none chosen. */
  flowLabel: number;
}

/** A fresh segment record (each holder keeps one and reuses it: sending allocates nothing). */
export function newSegmentOut(): TcpSegmentOut {
  return { repr: newTcpRepr(), payload: undefined, dataOff: 0, dataLen: 0, ecn: 0, offload: true, gsoMss: 0, flowLabel: 0 };
}

/**
 * The listener that owns a passive open until it is accepted (RFC 9293 §3.10.7.4: a
 * SYN-RECEIVED connection "returns to LISTEN"). `C` is the connection type.
 */
export interface TcpParent<C> {
  /** The accept queue is full: a completing ACK is dropped (the SYN-ACK is retransmitted). */
  acceptQueueFull(): boolean;
  /** A state change of a child (SYN-RECEIVED -> ESTABLISHED moves it to the accept queue). */
  childStateChanged(c: C, prev: TcpState, next: TcpState): void;
  /** A child left the connection table (closed before it was accepted). */
  childDetached(c: C): void;
}

/** What one connection asks of its host. `C` is the connection type. */
export interface TcpHost<C> {
  /** The layer's settings (defaults resolved). */
  readonly config: ResolvedConfig;
  /** The layer's counters, which connections count into (`stats()` snapshots them). */
  readonly counters: TcpStats;
  /**
   * Sends one segment from `local` (the connection's address: the host may have several;
   * absent, the IP layer's choice). An error is counted by the host; the connection reacts to EMSGSIZE.
   */
  send(remote: IpAddress, seg: TcpSegmentOut, local?: IpAddress): SendError | undefined;
  /** The MTU of the interface towards `remote` (what our MSS option says we can receive, RFC 9293 §3.7.1). */
  interfaceMtu(remote: IpAddress): number;
  /** The path MTU towards `remote` (RFC 1191). */
  pathMtu(remote: IpAddress): number;
  /** The MSS an MTU towards `remote` allows: less the network header the IP layer puts in front and the fixed TCP header (RFC 9293 §3.7.1). */
  mssForMtu(mtu: number, remote: IpAddress): number;
  /** The largest transport length one segment may have with segmentation offload; 0 without. */
  maxSegmentPayload(remote: IpAddress): number;
  /**
   * Opens an event (a user call, a segment, a timer); every `enter` is closed by one
   * `exit`, in a `finally`. Callbacks queued meanwhile run when the outermost event closes.
   */
  enter(): void;
  /** Closes an event: re-arms `conn`'s timer (the earliest of its deadlines), and flushes callbacks when outermost. */
  exit(conn: C | undefined): void;
  /** `conn` has events for its handler: deliver them when the outermost event closes. */
  queueEvents(conn: C): void;
  /** Every state change (counters such as CurrEstab; a listener's queues). */
  onStateChange(conn: C, prev: TcpState, next: TcpState): void;
  /** Connections in TIME-WAIT now, this one included once it entered (kept by onStateChange). */
  readonly timeWaitCount: number;
  /** `conn` reached CLOSED: out of the table, the timers and its listener. */
  detach(conn: C): void;
}
