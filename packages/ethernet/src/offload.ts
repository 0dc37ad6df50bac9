/**
 * Completing a partial transport checksum in software (linux skb_checksum_help; virtio spec
 * §5.1.6.2): what the interface does to an offloaded packet (`sendOffload`) that must wait
 * for address resolution, because the neighbour queue hands it on later through plain `send`,
 * which carries no offload metadata.
 *
 * The packet is an IP datagram (IPv4 or IPv6, header at 0, exactly its own length) whose
 * field at `csumStart + csumOffset` holds the folded, uncomplemented pseudo-header sum (what
 * `LinkOutput.sendOffload` is given); the sum runs from `csumStart` to the end.
 */

/** RFC 1071 one's-complement sum of bytes [start, end), folded to 16 bits, not complemented. */
function onesSum(b: Uint8Array, start: number, end: number): number {
  let s = 0;
  let i = start;
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < end) s += b[i]! << 8; // odd length: padded with a zero byte (RFC 1071 §4.1)
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/**
 * Completes the checksum in place: the complemented sum over [csumStart, length), the field
 * itself counting as the pseudo-header sum it holds. A UDP result of 0 (csumOffset 6) is
 * written 0xffff (RFC 768: 0 means "no checksum"); a TCP 0 stays 0 (RFC 1624 §3). Returns
 * false (nothing written) when the field does not fit.
 */
export function completePartialChecksum(packet: Uint8Array, csumStart: number, csumOffset: number): boolean {
  const at = csumStart + csumOffset;
  if (csumStart < 0 || at + 2 > packet.length) return false;
  const sum = ~onesSum(packet, csumStart, packet.length) & 0xffff;
  const value = sum === 0 && csumOffset === 6 ? 0xffff : sum;
  packet[at] = value >>> 8;
  packet[at + 1] = value & 0xff;
  return true;
}
