/**
 * `struct ifreq` and the constants of the tun/netdevice ioctls, as pure byte encoders.
 *
 * Layout on Linux (x86-64, arm64), 40 bytes:
 *   0..15  ifr_name, NUL-terminated (IFNAMSIZ 16: at most 15 name bytes)
 *   16..   a union: ifr_flags (signed int16), ifr_mtu (int32), ifr_addr / ifr_netmask
 *          (struct sockaddr_in: family u16 in host order, port u16 big-endian, address 4 bytes
 *          in network order, 8 bytes of zero padding)
 *
 * Everything here is validation and encoding; nothing calls the kernel.
 */
import { argError } from './errors.js';

export const IFREQ_SIZE = 40;
export const IFNAMSIZ = 16;
const UNION_OFFSET = 16;

// linux/if_tun.h
export const TUNSETIFF = 0x400454ca;
export const TUNSETPERSIST = 0x400454cb;
export const TUNGETIFF = 0x800454d2;
export const IFF_TUN = 0x0001;
export const IFF_TAP = 0x0002;
export const IFF_NO_PI = 0x1000;
/** Queue written packets on the device's own NAPI context (drained in order by one poller). */
export const IFF_NAPI = 0x0010;
export const IFF_TUN_EXCL = 0x8000;

// linux/sockios.h
export const SIOCGIFFLAGS = 0x8913;
export const SIOCSIFFLAGS = 0x8914;
export const SIOCGIFADDR = 0x8915;
export const SIOCSIFADDR = 0x8916;
export const SIOCSIFNETMASK = 0x891c;
/** ifr_ifindex (int32 at 16): the interface index rtnetlink names the device by. */
export const SIOCGIFINDEX = 0x8933;
/** The device's hardware address (ifr_hwaddr: a sockaddr, sa_family ARPHRD_ETHER, the MAC in sa_data). */
export const SIOCGIFHWADDR = 0x8927;
/** ARPHRD_ETHER (if_arp.h): the sa_family of an Ethernet device's hwaddr. */
export const ARPHRD_ETHER = 1;
export const SIOCGIFMTU = 0x8921;
export const SIOCSIFMTU = 0x8922;
/** ifr_qlen (int32 at 16): the device's txqueuelen, here the packets the kernel queues for the reader. */
export const SIOCGIFTXQLEN = 0x8942;
export const SIOCSIFTXQLEN = 0x8943;
/** Largest txQueueLen accepted (tun sizes a ring of pointers to it: 512 KiB at this bound). */
export const MAX_TX_QUEUE_LEN = 65536;

// linux/if.h
export const IFF_UP = 0x1;
export const IFF_RUNNING = 0x40;

// sys/socket.h, fcntl.h (x86-64 / arm64 generic values)
export const AF_INET = 2;
export const SOCK_DGRAM = 2;
export const SOCK_CLOEXEC = 0o2000000;
export const O_RDWR = 0o2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;

export const MIN_MTU = 68;
export const MAX_MTU = 65535;

/**
 * Validates an interface name the way the kernel's `dev_valid_name` does, so a bad name is
 * refused before any system call. `%d` is allowed: the kernel picks the number.
 */
export function validateIfName(name: unknown): string {
  if (typeof name !== 'string') {
    throw argError('ERR_INVALID_ARG_TYPE', `The "name" option must be a string, got ${typeof name}`);
  }
  const bytes = Buffer.byteLength(name, 'utf8');
  if (bytes === 0 || bytes >= IFNAMSIZ) {
    throw argError(
      'ERR_INVALID_ARG_VALUE',
      `The "name" option must be 1 to ${IFNAMSIZ - 1} bytes long, got ${bytes} bytes: ${JSON.stringify(name)}`,
    );
  }
  if (name === '.' || name === '..' || /[/:\s\0]/u.test(name)) {
    throw argError('ERR_INVALID_ARG_VALUE', `The "name" option is not a valid interface name: ${JSON.stringify(name)}`);
  }
  return name;
}

export function validateMtu(mtu: unknown): number {
  if (typeof mtu !== 'number' || !Number.isInteger(mtu)) {
    throw argError('ERR_INVALID_ARG_TYPE', `The "mtu" option must be an integer, got ${String(mtu)}`);
  }
  if (mtu < MIN_MTU || mtu > MAX_MTU) {
    throw argError('ERR_OUT_OF_RANGE', `The "mtu" option must be >= ${MIN_MTU} and <= ${MAX_MTU}, got ${mtu}`);
  }
  return mtu;
}

export function validateTxQueueLen(qlen: unknown): number {
  if (typeof qlen !== 'number' || !Number.isInteger(qlen)) {
    throw argError('ERR_INVALID_ARG_TYPE', `The "txQueueLen" option must be an integer, got ${String(qlen)}`);
  }
  if (qlen < 1 || qlen > MAX_TX_QUEUE_LEN) {
    throw argError('ERR_OUT_OF_RANGE', `The "txQueueLen" option must be >= 1 and <= ${MAX_TX_QUEUE_LEN}, got ${qlen}`);
  }
  return qlen;
}

/** A new zeroed ifreq with the name set (validated). */
export function ifreq(name: string): Buffer {
  const buf = Buffer.alloc(IFREQ_SIZE);
  buf.write(validateIfName(name), 0, IFNAMSIZ - 1, 'utf8');
  return buf;
}

export function readIfName(req: Uint8Array): string {
  const field = req.subarray(0, IFNAMSIZ);
  const end = field.indexOf(0);
  return Buffer.from(field.buffer, field.byteOffset, end === -1 ? IFNAMSIZ : end).toString('utf8');
}

/**
 * `ifr_flags` is a signed 16-bit field. Flags are written from their unsigned bit pattern
 * (0x8000 = IFF_TUN_EXCL would make writeInt16LE throw), and read back unsigned.
 */
export function writeIfFlags(req: Buffer, flags: number): void {
  if (!Number.isInteger(flags) || flags < 0 || flags > 0xffff) {
    throw argError('ERR_OUT_OF_RANGE', `ifr_flags must fit in 16 bits, got ${flags}`);
  }
  req.writeInt16LE((flags << 16) >> 16, UNION_OFFSET);
}

export function readIfFlags(req: Buffer): number {
  return req.readInt16LE(UNION_OFFSET) & 0xffff;
}

export function writeIfMtu(req: Buffer, mtu: number): void {
  req.writeInt32LE(mtu, UNION_OFFSET);
}

export function readIfMtu(req: Buffer): number {
  return req.readInt32LE(UNION_OFFSET);
}

/** ifr_qlen: an int32 at the union, like ifr_mtu. */
export const writeIfQlen = writeIfMtu;
export const readIfQlen = readIfMtu;
/** ifr_ifindex: an int32 at the union too. */
export const readIfIndex = readIfMtu;

/**
 * The MAC of a SIOCGIFHWADDR answer as `aa:bb:cc:dd:ee:ff` (ifr_hwaddr at offset 16:
 * sa_family, then the 6 bytes in sa_data); undefined when the family is not ARPHRD_ETHER
 * (a TUN device has no hardware address).
 */
export function readIfHwaddr(req: Uint8Array): string | undefined {
  if ((req[UNION_OFFSET]! | (req[UNION_OFFSET + 1]! << 8)) !== ARPHRD_ETHER) return undefined;
  const out: string[] = [];
  for (let i = 0; i < 6; i++) out.push(req[UNION_OFFSET + 2 + i]!.toString(16).padStart(2, '0'));
  return out.join(':');
}

/** Writes a `sockaddr_in` (AF_INET, port 0) for `address` (4 bytes, network order) at offset 16. */
export function writeIfAddr(req: Buffer, address: Uint8Array): void {
  if (address.length !== 4) throw argError('ERR_INVALID_ARG_VALUE', 'an IPv4 address is 4 bytes');
  req.fill(0, UNION_OFFSET, IFREQ_SIZE);
  req.writeUInt16LE(AF_INET, UNION_OFFSET); // sa_family is host order (little-endian here)
  req.writeUInt16BE(0, UNION_OFFSET + 2); // sin_port
  req.set(address, UNION_OFFSET + 4); // sin_addr, network order
}

export function readIfAddr(req: Buffer): Uint8Array {
  return Uint8Array.from(req.subarray(UNION_OFFSET + 4, UNION_OFFSET + 8));
}

export interface Ipv4Cidr {
  /** 4 bytes, network order. */
  address: Uint8Array;
  prefixLength: number;
  /** 4 bytes, network order. */
  netmask: Uint8Array;
}

/** Parses `"a.b.c.d/len"` (len 1..32; without `/len`, 32). */
export function parseIpv4Cidr(text: unknown, option = 'kernelAddress'): Ipv4Cidr {
  if (typeof text !== 'string') {
    throw argError('ERR_INVALID_ARG_TYPE', `The "${option}" option must be a string like "10.7.0.1/24"`);
  }
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/u.exec(text);
  const octets = m ? [m[1], m[2], m[3], m[4]].map(Number) : [];
  const prefixLength = m?.[5] === undefined ? 32 : Number(m[5]);
  if (!m || octets.some((o) => o > 255) || prefixLength < 1 || prefixLength > 32) {
    throw argError('ERR_INVALID_ARG_VALUE', `The "${option}" option must look like "10.7.0.1/24", got ${JSON.stringify(text)}`);
  }
  const mask = prefixLength === 32 ? 0xffffffff : ~(0xffffffff >>> prefixLength) >>> 0;
  const netmask = new Uint8Array([mask >>> 24, (mask >>> 16) & 0xff, (mask >>> 8) & 0xff, mask & 0xff]);
  return { address: Uint8Array.from(octets), prefixLength, netmask };
}
