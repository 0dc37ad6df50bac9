/**
 * TSO super-segments cut into wire-sized TCP segments before encryption (the tunnel's
 * offload path), as wireguard-go's tun/offload_linux.go `gsoSplit` does: the peer's kernel
 * gets ordinary MTU-sized packets with complete checksums, while this side's kernel hands
 * the device up to 64 KB at a time (one read and one protocol call per 64 KB instead of
 * per 1.4 KB).
 *
 * A super-segment (virtio gso_type TCPV4 1 / TCPV6 4, optionally | ECN 0x80) is one IP header
 * and one TCP header over up to 65535 bytes of payload; each cut carries `gsoSize` bytes of it:
 * IPv4 Total Length, Identification (+1 per segment, as the kernel's GSO) and header checksum
 * rewritten; IPv6 Payload Length; TCP sequence number advanced by the offset; FIN and PSH
 * only on the last segment, CWR only on the first (RFC 3168 §6.1.2; the kernel's
 * tcp_gso_segment); the TCP checksum computed in full over the RFC 793 §3.1 / RFC 8200 §8.1
 * pseudo-header. A packet with a partial checksum (NEEDS_CSUM, not GSO: a small TCP segment or
 * a UDP datagram the device split) gets its checksum completed the same way.
 */

/** Ones' complement sum (RFC 1071) of b[start, end), added to `sum` (not folded). */
function sum16(b: Uint8Array, start: number, end: number, sum: number): number {
  let s = sum;
  let i = start;
  for (; i + 1 < end; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (i < end) s += b[i]! << 8;
  return s;
}

function fold(s: number): number {
  let x = s;
  while (x > 0xffff) x = (x & 0xffff) + Math.floor(x / 0x10000);
  return x;
}

/** Writes the transport checksum (TCP 6, UDP 17) of the packet in p[0, len) with its IP header of `l4` bytes. */
function transportChecksum(p: Uint8Array, len: number, l4: number, proto: number, v6: boolean): void {
  const field = l4 + (proto === 6 ? 16 : 6);
  p[field] = 0;
  p[field + 1] = 0;
  const l4len = len - l4;
  let s = v6 ? sum16(p, 8, 40, 0) : sum16(p, 12, 20, 0);
  s += proto + l4len;
  s = sum16(p, l4, len, s);
  let c = ~fold(s) & 0xffff;
  if (c === 0 && proto === 17) c = 0xffff; // RFC 768: 0 means "no checksum"
  p[field] = c >> 8;
  p[field + 1] = c & 0xff;
}

function ipv4HeaderChecksum(p: Uint8Array, ihl: number): void {
  p[10] = 0;
  p[11] = 0;
  const c = ~fold(sum16(p, 0, ihl, 0)) & 0xffff;
  p[10] = c >> 8;
  p[11] = c & 0xff;
}

/** The transport header's offset and protocol, or undefined (not IPv4/IPv6 with TCP/UDP right after the fixed header). */
function l4Of(p: Uint8Array): { l4: number; proto: number; v6: boolean } | undefined {
  const version = p[0]! >> 4;
  if (version === 4 && p.length >= 20) {
    const ihl = (p[0]! & 0x0f) * 4;
    return ihl >= 20 && p.length >= ihl ? { l4: ihl, proto: p[9]!, v6: false } : undefined;
  }
  if (version === 6 && p.length >= 40) return { l4: 40, proto: p[6]!, v6: true };
  return undefined;
}

export const GSO_TCPV4 = 1;
export const GSO_TCPV6 = 4;

/**
 * Calls `emit` with each wire-sized packet of `packet` (a view into `scratch`, valid during
 * the call; `scratch` must hold 65535 bytes). Returns the number of packets emitted, or -1
 * when the packet cannot be cut or completed (not TCP/UDP after a fixed IP header, or a
 * header that overruns it): the caller drops and counts it.
 */
export function forEachSegment(
  packet: Uint8Array, gsoType: number, gsoSize: number, csumPartial: boolean,
  scratch: Uint8Array, emit: (p: Uint8Array) => void,
): number {
  const type = gsoType & 0x7f;
  if (type === 0) {
    if (!csumPartial) { emit(packet); return 1; }
    const h = l4Of(packet);
    if (h === undefined || (h.proto !== 6 && h.proto !== 17) || packet.length < h.l4 + (h.proto === 6 ? 20 : 8)) return -1;
    scratch.set(packet);
    transportChecksum(scratch, packet.length, h.l4, h.proto, h.v6);
    emit(scratch.subarray(0, packet.length));
    return 1;
  }
  const h = l4Of(packet);
  if (h === undefined || h.proto !== 6 || (type === GSO_TCPV4) === h.v6 || type !== GSO_TCPV4 && type !== GSO_TCPV6) return -1;
  const { l4, v6 } = h;
  if (packet.length < l4 + 20) return -1;
  const thl = (packet[l4 + 12]! >> 4) * 4;
  const hdr = l4 + thl;
  if (thl < 20 || packet.length < hdr || gsoSize <= 0) return -1;
  const payload = packet.length - hdr;
  if (payload <= gsoSize) {
    // One segment's worth: only the checksum to complete.
    scratch.set(packet);
    transportChecksum(scratch, packet.length, l4, 6, v6);
    emit(scratch.subarray(0, packet.length));
    return 1;
  }
  const seq0 = ((packet[l4 + 4]! << 24) | (packet[l4 + 5]! << 16) | (packet[l4 + 6]! << 8) | packet[l4 + 7]!) >>> 0;
  const id0 = v6 ? 0 : (packet[4]! << 8) | packet[5]!;
  const flags = packet[l4 + 13]!;
  let n = 0;
  for (let off = 0; off < payload; off += gsoSize, n++) {
    const chunk = Math.min(gsoSize, payload - off);
    const len = hdr + chunk;
    scratch.set(packet.subarray(0, hdr), 0);
    scratch.set(packet.subarray(hdr + off, hdr + off + chunk), hdr);
    if (v6) {
      scratch[4] = (len - 40) >> 8;
      scratch[5] = (len - 40) & 0xff;
    } else {
      scratch[2] = len >> 8;
      scratch[3] = len & 0xff;
      const id = (id0 + n) & 0xffff;
      scratch[4] = id >> 8;
      scratch[5] = id & 0xff;
      ipv4HeaderChecksum(scratch, l4);
    }
    const seq = (seq0 + off) >>> 0;
    scratch[l4 + 4] = seq >>> 24;
    scratch[l4 + 5] = (seq >>> 16) & 0xff;
    scratch[l4 + 6] = (seq >>> 8) & 0xff;
    scratch[l4 + 7] = seq & 0xff;
    let f = flags;
    if (off + chunk < payload) f &= ~(0x01 | 0x08); // FIN, PSH: last segment only
    if (n > 0) f &= ~0x80; // CWR: first segment only
    scratch[l4 + 13] = f;
    transportChecksum(scratch, len, l4, 6, v6);
    emit(scratch.subarray(0, len));
  }
  return n;
}
