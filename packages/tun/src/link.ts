/**
 * The link boundary: what a network layer sees of a device.
 *
 * Ownership (the rule every implementation follows):
 * - `send(packet)` borrows `packet` for the duration of the call only. A link that
 *   keeps the bytes (a queue, a capture) copies them. The caller may reuse its
 *   buffer as soon as `send` returns.
 * - The receiver's `packet` argument is a view that is valid only during the call
 *   (the device reuses its read buffer). A consumer that keeps bytes copies them.
 *
 * A link never throws from `send` for an operational failure: it returns false and
 * counts the drop (queue full, device closed, kernel refused the write).
 */
export interface LinkReceiver {
  /** One raw IP packet (IFF_NO_PI: no packet-info prefix). */
  packet(packet: Uint8Array): void;
  /** Called after a batch of `packet` calls, so a stack can flush deferred work (coalesced ACKs). */
  batchEnd?(): void;
}

export interface LinkStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  /** Packets given to send() that did not leave (queue full, closed, write error). */
  txDropped: number;
  /** Packets read but dropped before the receiver (e.g. not IPv4 when the link filters). */
  rxDropped: number;
}

export interface Link {
  /** Largest packet `send` accepts, in bytes (the device MTU). */
  readonly mtu: number;
  send(packet: Uint8Array): boolean;
  /** Installs the receiver; replaces any earlier one. */
  setReceiver(receiver: LinkReceiver): void;
  stats(): LinkStats;
  /** Idempotent. A closed link drops what is sent and delivers nothing. */
  close(): void;
}
