/**
 * A probe link: a `Link` whose other end is your code. You inject raw IP packets into
 * whatever runs on `probe.link` (a stack) and observe every packet it sends: for
 * protocol tests, conformance scripts and fuzzing, without a device, a second stack or
 * a hand-written Link.
 *
 *   const probe = createProbeLink({ mtu: 1500 });
 *   const stack = await createStack({ link: probe.link, address: '10.0.0.2' });
 *   probe.inject(synPacket);             // one packet, then batchEnd: the stack answers now
 *   const [synAck] = probe.take();       // copies of what it sent since the last take()
 *
 * API
 *   createProbeLink(options?): ProbeLink
 *   probe.link                      the Link to give the stack (createStack({ link }))
 *   probe.inject(packet, meta?)     delivers one packet, then ends the batch; false when
 *                                   nothing receives (no receiver yet, or closed)
 *   probe.injectBatch(packets)      delivers them in order, then ONE batchEnd (a device read)
 *   probe.deliver(packet, meta?)    delivers one packet and leaves the batch open ...
 *   probe.endBatch()                ... until this (the receiver's batchEnd; no-op when none open)
 *   probe.sent                      copies of the packets the stack sent, oldest first,
 *                                   at most `capture` of them (older ones are discarded, counted)
 *   probe.take()                    returns `sent` and empties it
 *   probe.onSend = fn               also called with each sent packet, synchronously inside the
 *                                   stack's send (the bytes are borrowed: copy what you keep)
 *   probe.stats()                   the link's counters (LinkStats) + `CaptureDropped`
 *   probe.close()                   closes the link (what is sent or injected after is dropped)
 *
 * Semantics, like a device:
 * - Delivery is synchronous: everything the stack does in answer to the packet (and to the
 *   batch's end: coalesced ACKs) has happened when `inject` returns. Timers do not run:
 *   give the stack a virtual `clock` to step time, or wait on the real one.
 * - The packet given to the receiver is the caller's buffer, borrowed for the call (the
 *   Link contract): the caller may reuse it when `inject` returns. `meta` is passed as it
 *   is (offload marks: only meaningful on a probe made with `offload: true`).
 * - Packets larger than the MTU are delivered anyway (a probe is for testing what the
 *   stack does with them); empty ones too. Nothing is validated: that is the point.
 * - `send` from the stack never fails while the link is open (except above `mtu`, counted
 *   in TxDropped, as a device would refuse it). Do not call `inject` from inside `onSend`
 *   (a device does not deliver inside a write): queue, and inject after the call returns.
 */
import type { Link, LinkOffload, LinkReceiver, LinkStats, PacketMeta } from './link.js';
import { argError } from './errors.js';
import { MAX_MTU } from './ifreq.js';

export interface ProbeLinkOptions {
  /** The link MTU the stack sees (default 1500). */
  mtu?: number;
  /** Sent packets kept in `sent` (default 1024; 0 keeps none: use `onSend`). */
  capture?: number;
  /**
   * Present an offload-capable link (checksum + TSO4 + TSO6, like createLinkPair's `offload`): the
   * stack then sends TCP with partial checksums and super-segments, through `onSend`/`sent`
   * as they are. Default false.
   */
  offload?: boolean;
}

export interface ProbeLinkStats extends LinkStats {
  /** Sent packets dropped from `sent` because it held `capture` already. */
  CaptureDropped: number;
}

export interface ProbeLink {
  readonly link: Link;
  inject(packet: Uint8Array, meta?: PacketMeta): boolean;
  injectBatch(packets: Iterable<Uint8Array>): number;
  deliver(packet: Uint8Array, meta?: PacketMeta): boolean;
  endBatch(): void;
  readonly sent: Uint8Array[];
  take(): Uint8Array[];
  onSend: ((packet: Uint8Array) => void) | undefined;
  stats(): ProbeLinkStats;
  close(): void;
}

const FULL_OFFLOAD: LinkOffload = Object.freeze({ tso4: true, tso6: true, csum: true });

class ProbeEnd implements Link {
  readonly mtu: number;
  readonly offload: LinkOffload | undefined;
  receiver: LinkReceiver | undefined;
  closed = false;
  readonly counters: LinkStats;
  constructor(mtu: number, offload: boolean, private readonly probe: Probe) {
    this.mtu = mtu;
    this.offload = offload ? FULL_OFFLOAD : undefined;
    this.counters = { RxPackets: 0, RxBytes: 0, TxPackets: 0, TxBytes: 0, TxDropped: 0, RxDropped: 0 };
    if (offload) {
      this.counters.TxCsumOffload = 0;
      this.counters.TxGsoPackets = 0;
    }
  }

  send(packet: Uint8Array): boolean {
    if (this.closed || packet.length === 0 || packet.length > this.mtu) {
      this.counters.TxDropped++;
      return false;
    }
    return this.probe.sentByStack(packet);
  }

  sendOffload(packet: Uint8Array, gsoSize: number, _csumStart: number, _csumOffset: number): boolean {
    if (this.offload === undefined || this.closed || packet.length === 0 || packet.length > 65535) {
      this.counters.TxDropped++;
      return false;
    }
    this.counters.TxCsumOffload!++;
    if (gsoSize > 0 && packet.length > this.mtu) this.counters.TxGsoPackets!++;
    return this.probe.sentByStack(packet);
  }

  setReceiver(receiver: LinkReceiver): void {
    this.receiver = receiver;
  }

  stats(): LinkStats {
    return { ...this.counters };
  }

  close(): void {
    this.closed = true;
    this.receiver = undefined;
  }
}

class Probe implements ProbeLink {
  readonly link: ProbeEnd;
  readonly sent: Uint8Array[] = [];
  onSend: ((packet: Uint8Array) => void) | undefined = undefined;
  private readonly capture: number;
  private CaptureDropped = 0;
  private open = false;

  constructor(mtu: number, capture: number, offload: boolean) {
    this.link = new ProbeEnd(mtu, offload, this);
    this.capture = capture;
  }

  /** @internal the stack sent `packet` (borrowed). */
  sentByStack(packet: Uint8Array): boolean {
    const c = this.link.counters;
    c.TxPackets++;
    c.TxBytes += packet.length;
    if (this.capture > 0) {
      if (this.sent.length >= this.capture) {
        this.sent.shift();
        this.CaptureDropped++;
      }
      this.sent.push(packet.slice());
    }
    this.onSend?.(packet);
    return true;
  }

  deliver(packet: Uint8Array, meta?: PacketMeta): boolean {
    if (!(packet instanceof Uint8Array)) throw argError('ERR_INVALID_ARG_TYPE', 'The "packet" argument must be a Uint8Array');
    const end = this.link;
    const c = end.counters;
    const r = end.receiver;
    if (end.closed || r === undefined) {
      c.RxDropped++;
      return false;
    }
    c.RxPackets++;
    c.RxBytes += packet.length;
    this.open = true;
    if (meta === undefined) r.packet(packet);
    else r.packet(packet, meta);
    return true;
  }

  endBatch(): void {
    if (!this.open) return;
    this.open = false;
    this.link.receiver?.batchEnd?.();
  }

  inject(packet: Uint8Array, meta?: PacketMeta): boolean {
    try {
      return this.deliver(packet, meta);
    } finally {
      this.endBatch();
    }
  }

  injectBatch(packets: Iterable<Uint8Array>): number {
    let n = 0;
    try {
      for (const p of packets) if (this.deliver(p)) n++;
    } finally {
      this.endBatch();
    }
    return n;
  }

  take(): Uint8Array[] {
    return this.sent.splice(0);
  }

  stats(): ProbeLinkStats {
    return { ...this.link.counters, CaptureDropped: this.CaptureDropped };
  }

  close(): void {
    this.open = false;
    this.link.close();
  }
}

export function createProbeLink(options: ProbeLinkOptions = {}): ProbeLink {
  if (options === null || typeof options !== 'object') throw argError('ERR_INVALID_ARG_TYPE', 'The "options" argument must be an object');
  const mtu = options.mtu ?? 1500;
  const capture = options.capture ?? 1024;
  const offload = options.offload ?? false;
  if (!Number.isInteger(mtu) || mtu < 1 || mtu > MAX_MTU) {
    throw argError('ERR_OUT_OF_RANGE', `The "mtu" option must be an integer in 1..${MAX_MTU}, got ${mtu}`);
  }
  if (!Number.isInteger(capture) || capture < 0 || capture > 1 << 20) {
    throw argError('ERR_OUT_OF_RANGE', `The "capture" option must be an integer in 0..${1 << 20}, got ${capture}`);
  }
  if (typeof offload !== 'boolean') throw argError('ERR_INVALID_ARG_TYPE', 'The "offload" option must be a boolean');
  return new Probe(mtu, capture, offload);
}
