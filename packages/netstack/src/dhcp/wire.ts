/**
 * DHCP messages on the wire (RFC 2131 §2 the BOOTP-shaped message, RFC 2132 the options),
 * as the rest of the project reads packets: a thin view over the fixed part
 * (`DhcpPacket`: one length check, then no accessor can fail) and a validated record
 * (`DhcpMessage`) with `parseDhcp`, `emitDhcp` and `dhcpBufferLen`.
 *
 * Contract:
 *  - `parseDhcp(bytes)` never throws and reads nothing past `bytes`: anything it cannot
 *    represent (shorter than the fixed part and the magic cookie, another cookie, hlen
 *    over 16, an option whose length runs past its field, an overload option (52) with a
 *    bad value or outside the options field, an option the client reads with a wrong length) is
 *    returned as a `DhcpParseError` string. Callers count and drop.
 *  - Option overload (RFC 2132 §9.3) is handled: options continue in `file` (1), `sname`
 *    (2) or both (3), read in RFC 2131 §4.1's order (options, then file, then sname); an
 *    overloaded field's text is then not a name (`file` / `sname` read as '').
 *  - An option that appears more than once is concatenated (RFC 3396 §7), so a long one
 *    split by a server reads whole; `emitDhcp` splits values over 255 octets the same way.
 *  - A missing End (255) ends the field at its last octet (servers that stop at the
 *    field's end are read); Pad (0) is skipped.
 *  - Addresses are @netstack/ip's IPv4 numbers; `chaddr` a 48-bit MAC number (htype 1,
 *    hlen 6: the only hardware this client has), else the first 6 octets of the field;
 *    `hlen` is kept so a reader can refuse another kind.
 *  - `emitDhcp` writes the message front to back into one zeroed buffer of
 *    `dhcpBufferLen(msg)` octets, at least 300 (RFC 951's BOOTP size: 236 + a 64-octet
 *    vendor area; RFC 1542 §2.1 lets relays drop anything shorter, and ISC dhclient and
 *    BusyBox udhcpc pad to it too); the options end with End and zero padding.
 */

/** RFC 2131 §2: op, htype, hlen, hops, xid, secs, flags, 4 addresses, chaddr 16, sname 64, file 128. */
export const DHCP_FIXED_LEN = 236;
/** RFC 2131 §3: the first four octets of options, 99.130.83.99. */
export const MAGIC_COOKIE = 0x63825363;
/** The fixed part and the cookie: the shortest message that parses. */
export const DHCP_MIN_LEN = DHCP_FIXED_LEN + 4;
/** RFC 951 / RFC 1542 §2.1: the shortest message emitted. */
export const BOOTP_MIN_LEN = 300;
export const DHCP_SERVER_PORT = 67;
export const DHCP_CLIENT_PORT = 68;

export const OP_BOOTREQUEST = 1;
export const OP_BOOTREPLY = 2;
/** RFC 1700 hardware type: Ethernet (10 Mb). */
export const HTYPE_ETHERNET = 1;
/** RFC 2131 §2 flags: the leftmost bit asks the server to broadcast its replies. */
export const FLAG_BROADCAST = 0x8000;

const SNAME_OFF = 44;
const SNAME_LEN = 64;
const FILE_OFF = 108;
const FILE_LEN = 128;

/** RFC 2132 §9.6 message types. */
export const DHCPDISCOVER = 1;
export const DHCPOFFER = 2;
export const DHCPREQUEST = 3;
export const DHCPDECLINE = 4;
export const DHCPACK = 5;
export const DHCPNAK = 6;
export const DHCPRELEASE = 7;
export const DHCPINFORM = 8;

/** RFC 2132 option codes read or written here. */
export const OPT_PAD = 0;
export const OPT_SUBNET_MASK = 1; // §3.3
export const OPT_ROUTER = 3; // §3.5
export const OPT_DNS = 6; // §3.8
export const OPT_HOST_NAME = 12; // §3.14
export const OPT_INTERFACE_MTU = 26; // §5.1
export const OPT_REQUESTED_IP = 50; // §9.1
export const OPT_LEASE_TIME = 51; // §9.2
export const OPT_OVERLOAD = 52; // §9.3
export const OPT_MESSAGE_TYPE = 53; // §9.6
export const OPT_SERVER_ID = 54; // §9.7
export const OPT_PARAMETER_LIST = 55; // §9.8
export const OPT_MESSAGE = 56; // §9.9
export const OPT_MAX_MESSAGE_SIZE = 57; // §9.10
export const OPT_RENEWAL_TIME = 58; // §9.11 (T1)
export const OPT_REBINDING_TIME = 59; // §9.12 (T2)
export const OPT_CLIENT_ID = 61; // §9.14
export const OPT_END = 255;

/** A lease time of all ones is infinite (RFC 2131 §3.3). */
export const INFINITE_LEASE = 0xffffffff;

export type DhcpParseError =
  | 'truncated' // shorter than the fixed part and the cookie
  | 'bad-cookie'
  | 'bad-hlen' // hardware address length over 16
  | 'option-overrun' // an option's length runs past its field
  | 'bad-overload' // option 52 with a value not 1..3, or found in file / sname
  | 'bad-option'; // an option read here with a length its RFC does not allow

/** A view over the fixed part (RFC 2131 §2, Figure 1). Check `DhcpPacket.fits` first. */
export class DhcpPacket {
  private readonly v: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  static fits(bytes: Uint8Array): boolean { return bytes.length >= DHCP_MIN_LEN; }
  get op(): number { return this.v.getUint8(0); }
  set op(x: number) { this.v.setUint8(0, x); }
  get htype(): number { return this.v.getUint8(1); }
  set htype(x: number) { this.v.setUint8(1, x); }
  get hlen(): number { return this.v.getUint8(2); }
  set hlen(x: number) { this.v.setUint8(2, x); }
  get hops(): number { return this.v.getUint8(3); }
  set hops(x: number) { this.v.setUint8(3, x); }
  get xid(): number { return this.v.getUint32(4); }
  set xid(x: number) { this.v.setUint32(4, x); }
  get secs(): number { return this.v.getUint16(8); }
  set secs(x: number) { this.v.setUint16(8, x); }
  get flags(): number { return this.v.getUint16(10); }
  set flags(x: number) { this.v.setUint16(10, x); }
  get ciaddr(): number { return this.v.getUint32(12); }
  set ciaddr(x: number) { this.v.setUint32(12, x); }
  get yiaddr(): number { return this.v.getUint32(16); }
  set yiaddr(x: number) { this.v.setUint32(16, x); }
  get siaddr(): number { return this.v.getUint32(20); }
  set siaddr(x: number) { this.v.setUint32(20, x); }
  get giaddr(): number { return this.v.getUint32(24); }
  set giaddr(x: number) { this.v.setUint32(24, x); }
  /** chaddr's first 6 octets as a 48-bit number. */
  get chaddrMac(): number { return this.v.getUint16(28) * 0x100000000 + this.v.getUint32(30); }
  set chaddrMac(m: number) { this.v.setUint16(28, Math.floor(m / 0x100000000)); this.v.setUint32(30, m >>> 0); }
  get cookie(): number { return this.v.getUint32(DHCP_FIXED_LEN); }
  set cookie(x: number) { this.v.setUint32(DHCP_FIXED_LEN, x); }
  /** The sname field (64 octets). */
  get sname(): Uint8Array { return this.bytes.subarray(SNAME_OFF, SNAME_OFF + SNAME_LEN); }
  /** The file field (128 octets). */
  get file(): Uint8Array { return this.bytes.subarray(FILE_OFF, FILE_OFF + FILE_LEN); }
  /** The options after the cookie. */
  get options(): Uint8Array { return this.bytes.subarray(DHCP_MIN_LEN); }
}

/** The options this client reads or writes, decoded; anything else kept as bytes in `other`. */
export interface DhcpOptions {
  messageType?: number;
  subnetMask?: number;
  routers?: number[];
  dnsServers?: number[];
  hostName?: string;
  /** Option 26, as given (the client ignores values under 68, RFC 2132 §5.1's minimum). */
  mtu?: number;
  requestedIp?: number;
  /** Seconds; INFINITE_LEASE is forever. */
  leaseTime?: number;
  serverId?: number;
  parameterRequestList?: number[];
  /** Option 56: a server's text (a NAK's reason). */
  message?: string;
  maxMessageSize?: number;
  /** T1, seconds. */
  renewalTime?: number;
  /** T2, seconds. */
  rebindingTime?: number;
  clientId?: Uint8Array;
  /** Other options in the order first seen: code and (concatenated) value, copied. */
  other?: { code: number; data: Uint8Array }[];
}

export interface DhcpMessage {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  /** The BROADCAST flag (RFC 2131 §2, Figure 2). */
  broadcast: boolean;
  ciaddr: number;
  yiaddr: number;
  siaddr: number;
  giaddr: number;
  /** 48-bit MAC (chaddr's first 6 octets). */
  chaddr: number;
  /** Printable text up to the first NUL ('' when overloaded with options). */
  sname: string;
  file: string;
  options: DhcpOptions;
}

/** Options with a fixed or minimum length the parser checks (RFC 2132). */
function lengthOk(code: number, len: number): boolean {
  switch (code) {
    case OPT_SUBNET_MASK: case OPT_REQUESTED_IP: case OPT_LEASE_TIME: case OPT_SERVER_ID:
    case OPT_RENEWAL_TIME: case OPT_REBINDING_TIME:
      return len === 4;
    case OPT_ROUTER: case OPT_DNS: // §3.5, §3.8: one or more addresses
      return len >= 4 && len % 4 === 0;
    case OPT_MESSAGE_TYPE: case OPT_OVERLOAD:
      return len === 1;
    case OPT_INTERFACE_MTU: case OPT_MAX_MESSAGE_SIZE:
      return len === 2;
    case OPT_CLIENT_ID: // §9.14: type and at least one octet
      return len >= 2;
    case OPT_PARAMETER_LIST: case OPT_HOST_NAME: case OPT_MESSAGE: // §9.8, §3.14, §9.9: minimum length 1
      return len >= 1;
    default:
      return true;
  }
}

/** One option field's contents appended to `acc` (code → pieces); 'end' when End was seen. */
function scan(field: Uint8Array, acc: Map<number, Uint8Array[]>, inOptions: boolean): DhcpParseError | undefined {
  let i = 0;
  while (i < field.length) {
    const code = field[i]!;
    if (code === OPT_PAD) { i++; continue; }
    if (code === OPT_END) return undefined;
    if (i + 1 >= field.length) return 'option-overrun';
    const len = field[i + 1]!;
    const end = i + 2 + len;
    if (end > field.length) return 'option-overrun';
    // RFC 2132 §9.3: the overload option is only in the options field.
    if (code === OPT_OVERLOAD && !inOptions) return 'bad-overload';
    const piece = field.subarray(i + 2, end);
    const list = acc.get(code);
    if (list === undefined) acc.set(code, [piece]);
    else list.push(piece);
    i = end;
  }
  return undefined;
}

function concat(pieces: Uint8Array[]): Uint8Array {
  if (pieces.length === 1) return pieces[0]!.slice();
  let n = 0;
  for (const p of pieces) n += p.length;
  const out = new Uint8Array(n);
  n = 0;
  for (const p of pieces) { out.set(p, n); n += p.length; }
  return out;
}

const u32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

function addresses(b: Uint8Array): number[] {
  const out: number[] = [];
  for (let o = 0; o + 4 <= b.length; o += 4) out.push(u32(b, o));
  return out;
}

/** Printable ASCII up to the first NUL; other octets as \xHH (a name from the wire is only shown, never interpreted). */
function text(b: Uint8Array): string {
  let s = '';
  for (const c of b) {
    if (c === 0) break;
    s += c >= 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s;
}

/** Parses a message; an error string for anything it cannot represent (never throws). */
export function parseDhcp(bytes: Uint8Array): DhcpMessage | DhcpParseError {
  if (!DhcpPacket.fits(bytes)) return 'truncated';
  const p = new DhcpPacket(bytes);
  if (p.cookie !== MAGIC_COOKIE) return 'bad-cookie';
  if (p.hlen > 16) return 'bad-hlen';
  const acc = new Map<number, Uint8Array[]>();
  let err = scan(p.options, acc, true);
  if (err !== undefined) return err;
  let overload = 0;
  const ov = acc.get(OPT_OVERLOAD);
  if (ov !== undefined) {
    if (ov.length !== 1 || ov[0]!.length !== 1) return 'bad-overload';
    overload = ov[0]![0]!;
    if (overload < 1 || overload > 3) return 'bad-overload';
    acc.delete(OPT_OVERLOAD);
  }
  // RFC 2131 §4.1: the options field first, then 'file', then 'sname'.
  if ((overload & 1) !== 0 && (err = scan(p.file, acc, false)) !== undefined) return err;
  if ((overload & 2) !== 0 && (err = scan(p.sname, acc, false)) !== undefined) return err;

  const options: DhcpOptions = {};
  for (const [code, pieces] of acc) {
    const v = concat(pieces);
    if (!lengthOk(code, v.length)) return 'bad-option';
    switch (code) {
      case OPT_MESSAGE_TYPE: options.messageType = v[0]!; break;
      case OPT_SUBNET_MASK: options.subnetMask = u32(v, 0); break;
      case OPT_ROUTER: options.routers = addresses(v); break;
      case OPT_DNS: options.dnsServers = addresses(v); break;
      case OPT_HOST_NAME: options.hostName = text(v); break;
      case OPT_INTERFACE_MTU: options.mtu = (v[0]! << 8) | v[1]!; break;
      case OPT_REQUESTED_IP: options.requestedIp = u32(v, 0); break;
      case OPT_LEASE_TIME: options.leaseTime = u32(v, 0); break;
      case OPT_SERVER_ID: options.serverId = u32(v, 0); break;
      case OPT_PARAMETER_LIST: options.parameterRequestList = Array.from(v); break;
      case OPT_MESSAGE: options.message = text(v); break;
      case OPT_MAX_MESSAGE_SIZE: options.maxMessageSize = (v[0]! << 8) | v[1]!; break;
      case OPT_RENEWAL_TIME: options.renewalTime = u32(v, 0); break;
      case OPT_REBINDING_TIME: options.rebindingTime = u32(v, 0); break;
      case OPT_CLIENT_ID: options.clientId = v; break;
      default: (options.other ??= []).push({ code, data: v });
    }
  }
  return {
    op: p.op,
    htype: p.htype,
    hlen: p.hlen,
    hops: p.hops,
    xid: p.xid,
    secs: p.secs,
    broadcast: (p.flags & FLAG_BROADCAST) !== 0,
    ciaddr: p.ciaddr,
    yiaddr: p.yiaddr,
    siaddr: p.siaddr,
    giaddr: p.giaddr,
    chaddr: p.chaddrMac,
    sname: (overload & 2) !== 0 ? '' : text(p.sname),
    file: (overload & 1) !== 0 ? '' : text(p.file),
    options,
  };
}

const latin1 = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
const be32 = (x: number): number[] => [(x >>> 24) & 0xff, (x >>> 16) & 0xff, (x >>> 8) & 0xff, x & 0xff];
const be16 = (x: number): number[] => [(x >>> 8) & 0xff, x & 0xff];

/**
 * The options as [code, value] in the order written: Message Type first (as servers and
 * other clients expect), then the rest in a fixed order; `other` last.
 */
function encodeOptions(o: DhcpOptions): [number, Uint8Array][] {
  const out: [number, Uint8Array][] = [];
  const put = (code: number, v: ArrayLike<number> | undefined): void => { if (v !== undefined) out.push([code, Uint8Array.from(v)]); };
  put(OPT_MESSAGE_TYPE, o.messageType === undefined ? undefined : [o.messageType]);
  put(OPT_CLIENT_ID, o.clientId);
  put(OPT_REQUESTED_IP, o.requestedIp === undefined ? undefined : be32(o.requestedIp));
  put(OPT_SERVER_ID, o.serverId === undefined ? undefined : be32(o.serverId));
  put(OPT_LEASE_TIME, o.leaseTime === undefined ? undefined : be32(o.leaseTime));
  put(OPT_RENEWAL_TIME, o.renewalTime === undefined ? undefined : be32(o.renewalTime));
  put(OPT_REBINDING_TIME, o.rebindingTime === undefined ? undefined : be32(o.rebindingTime));
  put(OPT_SUBNET_MASK, o.subnetMask === undefined ? undefined : be32(o.subnetMask));
  put(OPT_ROUTER, o.routers?.flatMap(be32));
  put(OPT_DNS, o.dnsServers?.flatMap(be32));
  put(OPT_INTERFACE_MTU, o.mtu === undefined ? undefined : be16(o.mtu));
  put(OPT_MAX_MESSAGE_SIZE, o.maxMessageSize === undefined ? undefined : be16(o.maxMessageSize));
  put(OPT_HOST_NAME, o.hostName === undefined ? undefined : latin1(o.hostName));
  put(OPT_MESSAGE, o.message === undefined ? undefined : latin1(o.message));
  put(OPT_PARAMETER_LIST, o.parameterRequestList);
  for (const x of o.other ?? []) put(x.code, x.data);
  return out;
}

/** Octets the options take on the wire: 2 + ≤255 per piece (RFC 3396 splitting), End included. */
function optionsLen(list: [number, Uint8Array][]): number {
  let n = 1;
  for (const [, v] of list) n += v.length === 0 ? 2 : v.length + 2 * Math.ceil(v.length / 255);
  return n;
}

/** Octets `emitDhcp(msg)` writes: the fixed part, the cookie, the options and End, at least 300. */
export function dhcpBufferLen(msg: DhcpMessage): number {
  return Math.max(BOOTP_MIN_LEN, DHCP_MIN_LEN + optionsLen(encodeOptions(msg.options)));
}

/** Writes `msg` (options only in the options field: no overload) into a new buffer, or into `into` (at least `dhcpBufferLen` octets, zeroed here). */
export function emitDhcp(msg: DhcpMessage, into?: Uint8Array): Uint8Array {
  const list = encodeOptions(msg.options);
  const len = Math.max(BOOTP_MIN_LEN, DHCP_MIN_LEN + optionsLen(list));
  const buf = into === undefined ? new Uint8Array(len) : into.subarray(0, len);
  if (buf.length < len) throw new RangeError(`emitDhcp needs ${len} octets, got ${buf.length}`);
  buf.fill(0);
  const p = new DhcpPacket(buf);
  p.op = msg.op;
  p.htype = msg.htype;
  p.hlen = msg.hlen;
  p.hops = msg.hops;
  p.xid = msg.xid >>> 0;
  p.secs = Math.min(0xffff, msg.secs);
  p.flags = msg.broadcast ? FLAG_BROADCAST : 0;
  p.ciaddr = msg.ciaddr >>> 0;
  p.yiaddr = msg.yiaddr >>> 0;
  p.siaddr = msg.siaddr >>> 0;
  p.giaddr = msg.giaddr >>> 0;
  p.chaddrMac = msg.chaddr;
  buf.set(latin1(msg.sname).subarray(0, SNAME_LEN - 1), SNAME_OFF);
  buf.set(latin1(msg.file).subarray(0, FILE_LEN - 1), FILE_OFF);
  p.cookie = MAGIC_COOKIE;
  let o = DHCP_MIN_LEN;
  for (const [code, v] of list) {
    let at = 0;
    do { // RFC 3396 §5: a value over 255 octets as consecutive instances of the option
      const n = Math.min(255, v.length - at);
      buf[o++] = code;
      buf[o++] = n;
      buf.set(v.subarray(at, at + n), o);
      o += n;
      at += n;
    } while (at < v.length);
  }
  buf[o] = OPT_END;
  return buf;
}

/** A subnet mask's prefix length, or undefined when its ones are not contiguous (RFC 950 §2.1 allowed them; RFC 1519 and every stack since do not). */
export function maskToPrefix(mask: number): number | undefined {
  const m = mask >>> 0;
  const inv = ~m >>> 0;
  if ((inv & (inv + 1)) !== 0) return undefined; // the zeros must be a run of low bits
  let n = 0;
  for (let x = m; x !== 0; x = (x << 1) >>> 0) n++;
  return n;
}
