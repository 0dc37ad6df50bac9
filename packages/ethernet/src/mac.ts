/**
 * MAC addresses (IEEE 802 48-bit), as numbers: 0x02_00_5e_10_00_01 is 02:00:5e:10:00:01.
 * A 48-bit value is exact in a double, compares with `===`, and is a Map key as it is, like
 * @netstack/ip's IPv4 addresses. Bit 0 of the first octet is the group (multicast) bit,
 * bit 1 the locally administered bit (IEEE 802-2014 §8.2).
 */

export type MacAddress = number;

export const MAC_BROADCAST: MacAddress = 0xffff_ffff_ffff;
export const MAC_ZERO: MacAddress = 0;
const TWO_32 = 0x1_0000_0000;

/** The first octet (group and local bits live there). */
function firstOctet(mac: MacAddress): number {
  return Math.floor(mac / 0x100_0000_0000) & 0xff;
}

/** Group bit set: multicast or broadcast (IEEE 802 "I/G" bit). */
export function isMulticastMac(mac: MacAddress): boolean {
  return (firstOctet(mac) & 1) === 1;
}

export function isBroadcastMac(mac: MacAddress): boolean {
  return mac === MAC_BROADCAST;
}

/** Unicast and not all zeros: an address a host may have. */
export function isUnicastMac(mac: MacAddress): boolean {
  return mac !== MAC_ZERO && !isMulticastMac(mac);
}

/** Locally administered ("U/L" bit set). */
export function isLocalMac(mac: MacAddress): boolean {
  return (firstOctet(mac) & 2) === 2;
}

/** Reads 6 bytes at `off` (the caller checked the length). */
export function readMac(b: Uint8Array, off: number): MacAddress {
  const hi = (b[off]! << 8) | b[off + 1]!;
  const lo = ((b[off + 2]! << 24) | (b[off + 3]! << 16) | (b[off + 4]! << 8) | b[off + 5]!) >>> 0;
  return hi * TWO_32 + lo;
}

export function writeMac(b: Uint8Array, off: number, mac: MacAddress): void {
  const hi = Math.floor(mac / TWO_32);
  const lo = mac % TWO_32;
  b[off] = hi >>> 8;
  b[off + 1] = hi & 0xff;
  b[off + 2] = lo >>> 24;
  b[off + 3] = (lo >>> 16) & 0xff;
  b[off + 4] = (lo >>> 8) & 0xff;
  b[off + 5] = lo & 0xff;
}

/** `02:00:5e:10:00:01` (lower case, colons, as `ip link` prints). */
export function formatMac(mac: MacAddress): string {
  let s = '';
  for (let i = 5; i >= 0; i--) {
    const octet = Math.floor(mac / 2 ** (8 * i)) & 0xff;
    s += (i < 5 ? ':' : '') + octet.toString(16).padStart(2, '0');
  }
  return s;
}

const MAC_RE = /^([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})[:-]([0-9a-f]{1,2})$/i;

/** Six hex octets separated by `:` (or `-`); undefined when the text is not one. */
export function parseMac(text: string): MacAddress | undefined {
  if (typeof text !== 'string') return undefined;
  const m = MAC_RE.exec(text);
  if (m === null) return undefined;
  const sep = text.includes(':') && text.includes('-');
  if (sep) return undefined;
  let v = 0;
  for (let i = 1; i <= 6; i++) v = v * 256 + parseInt(m[i]!, 16);
  return v;
}

/**
 * A random locally administered unicast address (first octet `x2`, `x6`, `xa` or `xe`,
 * as Linux's eth_random_addr): U/L bit set, group bit clear. `random` returns [0, 1)
 * (a seeded one from @netstack/common in tests).
 */
export function randomMac(random: () => number = Math.random): MacAddress {
  let v = 0;
  for (let i = 0; i < 6; i++) {
    let octet = Math.floor(random() * 256) & 0xff;
    if (i === 0) octet = (octet & 0xfe) | 0x02;
    v = v * 256 + octet;
  }
  return v;
}

/**
 * RFC 1112 §6.4: an IPv4 host group maps to 01:00:5e plus its low 23 bits (so 32 groups
 * share a MAC; the IP layer's membership filter tells them apart).
 */
export function ipv4MulticastMac(group: number): MacAddress {
  return 0x01_00_5e_00_00_00 + ((group >>> 0) & 0x7f_ffff);
}

/** RFC 2464 §7: an IPv6 multicast address maps to 33:33 plus its low 32 bits (bytes 12..15). */
export function ipv6MulticastMac(address: Uint8Array): MacAddress {
  const lo = ((address[12]! << 24) | (address[13]! << 16) | (address[14]! << 8) | address[15]!) >>> 0;
  return 0x3333 * TWO_32 + lo;
}
