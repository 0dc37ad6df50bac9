/**
 * DHCP's datagrams as whole IPv4/UDP packets, for an embedding that carries them beside
 * the IP layer rather than through it (as Linux clients use a packet socket, and
 * smoltcp's DHCP socket sees port 68 before the address check): before a lease the stack
 * has no address, and a host without an address neither routes the limited broadcast nor
 * accepts anything from the link (@netstack/ip's Ipv4Layer with `addresses: []`).
 *
 *  - `dhcpClientPacket(payload, to)`: IPv4 (TTL 64, no options, DF clear) + UDP 68 → 67 with
 *    its checksum (RFC 768), from `to.source` (0.0.0.0 before a lease, RFC 2131 §4.1) to
 *    `to.address`. A link below (an EthernetInterface) sends 255.255.255.255 to
 *    ff:ff:ff:ff:ff:ff without any IPv4 configuration.
 *  - `dhcpServerPayload(packet)`: the UDP payload (a view) of an IPv4 packet that is UDP
 *    67 → 68 with good IPv4 and UDP checksums, whatever its destination address (broadcast, or
 *    the offered address: the client matches xid and chaddr); else why not, one reason per packet
 *    and never a throw. Fragments are refused (a DHCP message fits in 576 octets, RFC 2131 §2).
 */
import { emitIpv4, emptyIpv4Repr, parseIpv4, PROTO_UDP } from '@netstack/ip';
import { UDP_HEADER_LEN, UdpPacket, parseUdp } from '@netstack/udp';
import type { DhcpDestination } from './client.js';
import { DHCP_CLIENT_PORT, DHCP_SERVER_PORT } from './wire.js';

export type DhcpPacketDrop =
  | 'not-ipv4' // version not 4, or the IPv4 header does not parse (truncated, bad checksum …)
  | 'fragment'
  | 'not-udp'
  | 'udp-malformed' // short, bad length or bad checksum
  | 'not-dhcp'; // not from port 67 to port 68

/** An IPv4/UDP packet 68 → 67 carrying `payload`, from `to.source` to `to.address`. */
export function dhcpClientPacket(payload: Uint8Array, to: DhcpDestination, identification = 0): Uint8Array {
  const udpLen = UDP_HEADER_LEN + payload.length;
  const r = emptyIpv4Repr();
  r.src = to.source >>> 0;
  r.dst = to.address >>> 0;
  r.protocol = PROTO_UDP;
  r.ttl = 64;
  r.identification = identification & 0xffff;
  r.payloadLength = udpLen;
  r.totalLength = r.headerLength + udpLen;
  const out = new Uint8Array(r.totalLength);
  const hl = emitIpv4(r, out, 0);
  const u = new UdpPacket(out.subarray(hl));
  u.srcPort = DHCP_CLIENT_PORT;
  u.dstPort = DHCP_SERVER_PORT;
  u.length = udpLen;
  out.set(payload, hl + UDP_HEADER_LEN);
  u.fillChecksum(r.src, r.dst);
  return out;
}

/**
 * The DHCP message inside an IPv4 packet from a server (UDP 67 → 68), as a view; else why not.
 * `trusted`: the link vouched for the UDP checksum (offload meta: partial from the local
 * kernel, or DATA_VALID), which is then not verified, as the UDP layer does (a server in
 * the same host, behind a TAP with offloads, sends it partial).
 */
export function dhcpServerPayload(packet: Uint8Array, trusted = false): Uint8Array | DhcpPacketDrop {
  if (packet.length < 1 || packet[0]! >>> 4 !== 4) return 'not-ipv4';
  const r = parseIpv4(packet);
  if (typeof r === 'string') return 'not-ipv4';
  if (r.moreFragments || r.fragmentOffset !== 0) return 'fragment';
  if (r.protocol !== PROTO_UDP) return 'not-udp';
  const body = packet.subarray(r.headerLength, r.totalLength);
  if (body.length < UDP_HEADER_LEN) return 'udp-malformed';
  const u = parseUdp(new UdpPacket(body), r.src, r.dst, !trusted);
  if (typeof u === 'string') return 'udp-malformed';
  if (u.srcPort !== DHCP_SERVER_PORT || u.dstPort !== DHCP_CLIENT_PORT) return 'not-dhcp';
  return u.payload;
}
