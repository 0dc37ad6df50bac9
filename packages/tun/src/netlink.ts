/**
 * The kernel side's IPv6 address, added over rtnetlink (RFC 3549; linux/rtnetlink.h,
 * linux/if_addr.h), as pure byte encoders; the device sends them (tun-device.ts).
 *
 * Why rtnetlink and not the ioctl: `SIOCSIFADDR` on an AF_INET6 socket with a
 * `struct in6_ifreq` adds an address too, but always with duplicate address detection
 * (addrconf_add_ifaddr passes IFA_F_PERMANENT only): the address stays `tentative` for
 * about a second (RFC 4862 §5.4; longer with DupAddrDetectTransmits > 1), and the kernel
 * neither sends from it nor accepts traffic to it meanwhile. RTM_NEWADDR carries
 * `ifa_flags`, and IFA_F_NODAD (what `ip -6 addr add … nodad` sends) makes the address
 * usable at once. On a TUN the kernel skips DAD by itself (the device is IFF_NOARP:
 * addrconf_dad_begin), so there both ways give a usable address; on a TAP (Ethernet, with
 * neighbour discovery) only nodad does, and DAD is pointless there too: the link has
 * exactly one other end, us. Measured on 6.18 (test/kernel/tun-ipv6.test.ts): a TAP
 * address added without the flag reads `tentative`, with it not.
 *
 * Message (all host order, little-endian here, except the address):
 *   nlmsghdr   u32 len, u16 type = RTM_NEWADDR (20), u16 flags = REQUEST|ACK|CREATE|EXCL,
 *              u32 seq, u32 pid = 0
 *   ifaddrmsg  u8 family = AF_INET6, u8 prefixlen, u8 flags = IFA_F_NODAD, u8 scope = 0
 *              (universe), u32 ifindex
 *   rtattr     IFA_LOCAL (2) and IFA_ADDRESS (1): 16 bytes, network order (as `ip` sends)
 *   rtattr     IFA_FLAGS (8): u32 IFA_F_NODAD (the 32-bit field newer kernels read first)
 * The answer (NLM_F_ACK) is one NLMSG_ERROR: nlmsghdr, then s32 error (0 or -errno).
 */
import { argError } from './errors.js';

export const AF_NETLINK = 16;
export const AF_INET6 = 10;
export const SOCK_RAW = 3;
export const NETLINK_ROUTE = 0;
/** recv flag: never block (the kernel answers a request inside send(), so the ack is queued). */
export const MSG_DONTWAIT = 0x40;

const NLMSG_HDRLEN = 16;
const NLMSG_ERROR = 2;
const RTM_NEWADDR = 20;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_FLAGS = 8;
export const IFA_F_NODAD = 0x02;

/** Bytes of the RTM_NEWADDR request for one IPv6 address. */
export const NEWADDR6_LEN = NLMSG_HDRLEN + 8 + (4 + 16) * 2 + (4 + 4);

export interface Ipv6Cidr {
  /** 16 bytes, network order. */
  address: Uint8Array;
  prefixLength: number;
  /** The canonical text (RFC 5952) with its prefix, e.g. `fd07::1/64`. */
  text: string;
}

/**
 * Parses `"x:x::x/len"` (RFC 4291 §2.2 text forms, including `::` and a trailing dotted
 * IPv4 part; len 1..128, without `/len` 128). Zone ids (`%tun0`) are refused: a kernel-side
 * address is configured on the device itself.
 */
export function parseIpv6Cidr(text: unknown, option = 'kernelAddress'): Ipv6Cidr {
  const bad = (): Error =>
    argError('ERR_INVALID_ARG_VALUE', `The "${option}" option must look like "fd07::1/64", got ${JSON.stringify(text)}`);
  if (typeof text !== 'string') throw bad();
  const m = /^([0-9a-fA-F:.]+)(?:\/(\d{1,3}))?$/u.exec(text);
  if (!m) throw bad();
  const prefixLength = m[2] === undefined ? 128 : Number(m[2]);
  if (prefixLength < 1 || prefixLength > 128) throw bad();
  const address = parseIpv6(m[1]!);
  if (address === undefined) throw bad();
  return { address, prefixLength, text: `${formatIpv6(address)}/${prefixLength}` };
}

/** RFC 4291 §2.2 text to 16 bytes, or undefined. */
function parseIpv6(s: string): Uint8Array | undefined {
  const words: number[] = [];
  let tail = s;
  const v4 = /^(.*:)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/u.exec(s);
  const v4Words: number[] = [];
  if (v4) {
    const o = [v4[2], v4[3], v4[4], v4[5]].map(Number);
    if (o.some((x) => x > 255)) return undefined;
    v4Words.push((o[0]! << 8) | o[1]!, (o[2]! << 8) | o[3]!);
    tail = v4[1]!.endsWith('::') ? v4[1]! : v4[1]!.slice(0, -1);
  }
  if (tail.includes('.')) return undefined;
  const halves = tail.split('::');
  if (halves.length > 2) return undefined;
  const group = (part: string): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    for (const g of part.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/u.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = group(halves[0]!);
  const rest = halves.length === 2 ? group(halves[1]!) : [];
  if (head === undefined || rest === undefined) return undefined;
  const given = head.length + rest.length + v4Words.length;
  if (halves.length === 2) {
    if (given > 7) return undefined;
    words.push(...head, ...new Array<number>(8 - given).fill(0), ...rest, ...v4Words);
  } else {
    if (given !== 8) return undefined;
    words.push(...head, ...v4Words);
  }
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >>> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** RFC 5952 §4 canonical text: lower case, no leading zeros, the longest run (≥ 2) of zero words as `::`. */
export function formatIpv6(a: Uint8Array): string {
  const w = Array.from({ length: 8 }, (_, i) => (a[2 * i]! << 8) | a[2 * i + 1]!);
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = (ws: number[]): string => ws.map((x) => x.toString(16)).join(':');
  return best < 0 ? hex(w) : `${hex(w.slice(0, best))}::${hex(w.slice(best + bestLen))}`;
}

function rtattr(buf: DataView, off: number, type: number, len: number): number {
  buf.setUint16(off, 4 + len, true);
  buf.setUint16(off + 2, type, true);
  return off + 4;
}

/** The RTM_NEWADDR request adding `cidr` with IFA_F_NODAD on interface `ifindex`. */
export function encodeNewAddr6(cidr: Ipv6Cidr, ifindex: number, seq: number): Uint8Array {
  const out = new Uint8Array(NEWADDR6_LEN);
  const v = new DataView(out.buffer);
  v.setUint32(0, NEWADDR6_LEN, true);
  v.setUint16(4, RTM_NEWADDR, true);
  v.setUint16(6, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, true);
  v.setUint32(8, seq >>> 0, true);
  v.setUint32(12, 0, true);
  out[16] = AF_INET6;
  out[17] = cidr.prefixLength;
  out[18] = IFA_F_NODAD;
  out[19] = 0; // RT_SCOPE_UNIVERSE
  v.setUint32(20, ifindex >>> 0, true);
  let off = rtattr(v, 24, IFA_LOCAL, 16);
  out.set(cidr.address, off);
  off = rtattr(v, off + 16, IFA_ADDRESS, 16);
  out.set(cidr.address, off);
  off = rtattr(v, off + 16, IFA_FLAGS, 4);
  v.setUint32(off, IFA_F_NODAD, true);
  return out;
}

/**
 * The errno of the NLMSG_ERROR answering request `seq` in `buf[0, len)`: 0 for success, a
 * positive errno for a refusal, undefined when the bytes hold no such answer (messages for
 * other sequence numbers are skipped; anything malformed ends the walk).
 */
export function decodeAck(buf: Uint8Array, len: number, seq: number): number | undefined {
  const v = new DataView(buf.buffer, buf.byteOffset, Math.min(len, buf.byteLength));
  let off = 0;
  while (off + NLMSG_HDRLEN <= v.byteLength) {
    const mlen = v.getUint32(off, true);
    if (mlen < NLMSG_HDRLEN || off + mlen > v.byteLength) return undefined;
    if (v.getUint16(off + 4, true) === NLMSG_ERROR && v.getUint32(off + 8, true) === seq >>> 0 && mlen >= NLMSG_HDRLEN + 4) {
      return 0 - v.getInt32(off + NLMSG_HDRLEN, true) || 0; // never -0
    }
    off += (mlen + 3) & ~3;
  }
  return undefined;
}

/*
 * Routes through the device (RTM_NEWROUTE; linux/rtnetlink.h), e.g. a namespace's default
 * route via the gateway the stack plays (slirp4netns: `default via 10.0.2.2`).
 *
 *   nlmsghdr   type = RTM_NEWROUTE (24), flags = REQUEST|ACK|CREATE|REPLACE (what
 *              `ip route replace` sends: the route is the one asked for afterwards, whether
 *              or not one with the same destination and metric was there)
 *   rtmsg      u8 family, u8 dst_len, u8 src_len = 0, u8 tos = 0, u8 table = RT_TABLE_MAIN
 *              (254), u8 protocol = RTPROT_BOOT (3, `ip route`'s default), u8 scope
 *              (UNIVERSE with a gateway, LINK without), u8 type = RTN_UNICAST (1), u32 flags = 0
 *   rtattr     RTA_DST (1): the destination, network order (absent for a default route)
 *   rtattr     RTA_OIF (4): u32 interface index
 *   rtattr     RTA_GATEWAY (5): the next hop, network order (absent for an on-link route)
 */
const RTM_NEWROUTE = 24;
const NLM_F_REPLACE = 0x100;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_GATEWAY = 5;
const RT_TABLE_MAIN = 254;
const RTPROT_BOOT = 3;
const RT_SCOPE_UNIVERSE = 0;
const RT_SCOPE_LINK = 253;
const RTN_UNICAST = 1;
const AF_INET = 2;

/** A route as given: `{ dst: 'default', via: '10.0.2.2' }`, `{ dst: '10.8.0.0/16' }` (on-link), `{ dst: '::/0', via: 'fd00::2' }`. */
export interface TunRoute {
  /** `default` (needs `via`, whose family it takes), or a CIDR whose host bits are zero (`0.0.0.0/0`, `10.8.0.0/16`, `::/0`, `fd08::/64`). */
  dst: string;
  /** The next hop (an address on the device's subnet); without it the destination is on-link (the device is point to point). */
  via?: string;
}

/** A validated route. */
export interface Route {
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  dst: Uint8Array;
  dstLen: number;
  via: Uint8Array | undefined;
  /** `default via 10.0.2.2`, `10.8.0.0/16`, for messages. */
  text: string;
}

/** Most routes one call adds. */
export const MAX_ROUTES = 16;

function parseAddress(text: string, option: string): { family: 4 | 6; bytes: Uint8Array } {
  if (text.includes(':')) return { family: 6, bytes: parseIpv6Cidr(`${text}/128`, option).address };
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/u.exec(text);
  const octets = m ? [m[1], m[2], m[3], m[4]].map(Number) : [];
  if (!m || octets.some((o) => o > 255)) throw new RangeError('bad');
  return { family: 4, bytes: Uint8Array.from(octets) };
}

function formatAddress(b: Uint8Array): string {
  return b.length === 4 ? b.join('.') : formatIpv6(b);
}

/** Validates one route (ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE, before any system call). */
export function parseRoute(value: unknown): Route {
  const shape = 'like { dst: "default", via: "10.0.2.2" } or { dst: "10.8.0.0/16" }';
  if (typeof value !== 'object' || value === null || typeof (value as TunRoute).dst !== 'string'
    || ((value as TunRoute).via !== undefined && typeof (value as TunRoute).via !== 'string')) {
    throw argError('ERR_INVALID_ARG_TYPE', `Each of the "routes" must be an object ${shape}`);
  }
  const { dst, via } = value as TunRoute;
  const bad = (why: string): Error => argError('ERR_INVALID_ARG_VALUE', `The route ${JSON.stringify(value)} ${why}`);
  let gw: { family: 4 | 6; bytes: Uint8Array } | undefined;
  if (via !== undefined) {
    try {
      gw = parseAddress(via, 'routes');
    } catch {
      throw bad(`has an invalid "via" (an IPv4 or IPv6 address, no prefix): ${JSON.stringify(via)}`);
    }
  }
  if (dst === 'default') {
    if (gw === undefined) throw bad('needs "via" (its family says which default route); for an on-link default route say "0.0.0.0/0" or "::/0"');
    const family = gw.family;
    return { family, dst: new Uint8Array(family === 4 ? 4 : 16), dstLen: 0, via: gw.bytes, text: `default via ${formatAddress(gw.bytes)}` };
  }
  const m = /^([^/]+)\/(\d{1,3})$/u.exec(dst);
  let net: { family: 4 | 6; bytes: Uint8Array };
  try {
    if (!m) throw new RangeError('bad');
    net = parseAddress(m[1]!, 'routes');
  } catch {
    throw bad(`has an invalid "dst": "default" or a CIDR like "10.8.0.0/16" or "fd08::/64", got ${JSON.stringify(dst)}`);
  }
  const dstLen = Number(m[2]);
  const bits = net.bytes.length * 8;
  if (dstLen > bits) throw bad(`has a prefix longer than ${bits} bits`);
  for (let i = 0; i < bits; i++) {
    if (i >= dstLen && (net.bytes[i >> 3]! & (0x80 >> (i & 7))) !== 0) {
      throw bad(`has host bits set in "dst" (the network of ${dst} is not ${formatAddress(net.bytes)})`);
    }
  }
  if (gw !== undefined && gw.family !== net.family) throw bad('mixes an IPv4 and an IPv6 address');
  const text = `${dstLen === 0 ? 'default' : `${formatAddress(net.bytes)}/${dstLen}`}${gw === undefined ? '' : ` via ${formatAddress(gw.bytes)}`}`;
  return { family: net.family, dst: net.bytes, dstLen, via: gw?.bytes, text };
}

/** Validates the `routes` option: an array of at most MAX_ROUTES routes. */
export function parseRoutes(value: unknown): Route[] {
  if (!Array.isArray(value)) throw argError('ERR_INVALID_ARG_TYPE', 'The "routes" option must be an array like [{ dst: "default", via: "10.0.2.2" }]');
  if (value.length > MAX_ROUTES) throw argError('ERR_OUT_OF_RANGE', `The "routes" option takes at most ${MAX_ROUTES} routes, got ${value.length}`);
  return value.map(parseRoute);
}

/** The RTM_NEWROUTE request adding (or replacing) `route` through interface `ifindex`. */
export function encodeNewRoute(route: Route, ifindex: number, seq: number): Uint8Array {
  const alen = route.dst.length;
  const len = NLMSG_HDRLEN + 12 + (route.dstLen > 0 ? 4 + alen : 0) + 8 + (route.via !== undefined ? 4 + alen : 0);
  const out = new Uint8Array(len);
  const v = new DataView(out.buffer);
  v.setUint32(0, len, true);
  v.setUint16(4, RTM_NEWROUTE, true);
  v.setUint16(6, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, true);
  v.setUint32(8, seq >>> 0, true);
  v.setUint32(12, 0, true);
  out[16] = route.family === 4 ? AF_INET : AF_INET6;
  out[17] = route.dstLen;
  out[18] = 0; // src_len
  out[19] = 0; // tos
  out[20] = RT_TABLE_MAIN;
  out[21] = RTPROT_BOOT;
  out[22] = route.via !== undefined ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
  out[23] = RTN_UNICAST;
  v.setUint32(24, 0, true); // rtm_flags
  let off = 28;
  if (route.dstLen > 0) {
    off = rtattr(v, off, RTA_DST, alen);
    out.set(route.dst, off);
    off += alen;
  }
  off = rtattr(v, off, RTA_OIF, 4);
  v.setUint32(off, ifindex >>> 0, true);
  off += 4;
  if (route.via !== undefined) {
    off = rtattr(v, off, RTA_GATEWAY, alen);
    out.set(route.via, off);
  }
  return out;
}
