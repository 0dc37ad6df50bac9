/**
 * UDP generic segmentation offload on a node:dgram socket (Linux 4.18+, `UDP_SEGMENT`,
 * udp(7)): with the option set to S, one send of k·S (+ a shorter last) bytes leaves as k
 * (+1) datagrams of S bytes, segmented by the kernel (or the NIC) after one trip through the
 * socket layer; a send of at most S bytes is an ordinary datagram. A tunnel that cuts a TCP
 * super-segment into same-sized encrypted datagrams sends them in one call (a list of
 * buffers: one sendmsg with an iovec), instead of one `dgram.send` each.
 *
 * node:dgram has no setsockopt and keeps its descriptor private: the fd is read from the
 * socket's internal state (the handle under the 'state symbol'), without the deprecated
 * `_handle` getter. Anything unexpected (another Node, not Linux, the option refused) makes
 * `enableUdpGso` return false and the caller sends datagram by datagram as before.
 */
import type { Socket } from 'node:dgram';
import { libc } from './libc.js';

const SOL_UDP = 17;
const UDP_SEGMENT = 103;
/** The kernel's bound on segments per send (UDP_MAX_SEGMENTS: 64 before Linux 6.7, then 128). */
export const UDP_GSO_MAX_SEGMENTS = 64;
/** The most bytes one UDP send may carry over IPv4 (65535 - 20 - 8); IPv6 allows 65527. */
export const UDP_GSO_MAX_BYTES = 65507;

function fdOf(socket: Socket): number | undefined {
  const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  const state = sym === undefined ? undefined : (socket as unknown as Record<symbol, { handle?: { fd?: unknown } } | undefined>)[sym];
  const fd = state?.handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Sets UDP_SEGMENT = `segmentSize` on a bound socket. Returns whether the kernel took it
 * (then sends longer than `segmentSize` are segmented: every piece but the last exactly
 * `segmentSize` bytes, at most UDP_GSO_MAX_SEGMENTS pieces and UDP_GSO_MAX_BYTES in all).
 */
export function enableUdpGso(socket: Socket, segmentSize: number): boolean {
  if (process.platform !== 'linux' || !Number.isInteger(segmentSize) || segmentSize < 1 || segmentSize > 65507) return false;
  const fd = fdOf(socket);
  if (fd === undefined) return false;
  try {
    const set = libc().setsockoptInt;
    return set !== undefined && set(fd, SOL_UDP, UDP_SEGMENT, segmentSize) === 0;
  } catch {
    return false;
  }
}

/** UDP_SEGMENT back to 0 (every send an ordinary datagram again). Returns whether the kernel took it. */
export function disableUdpGso(socket: Socket): boolean {
  const fd = fdOf(socket);
  if (fd === undefined) return false;
  try {
    const set = libc().setsockoptInt;
    return set !== undefined && set(fd, SOL_UDP, UDP_SEGMENT, 0) === 0;
  } catch {
    return false;
  }
}
