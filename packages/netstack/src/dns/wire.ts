/**
 * DNS messages on the wire (RFC 1035 §4), as the rest of the project reads packets:
 * a thin view over the fixed header (`DnsHeaderView`: one length check, then no
 * accessor can fail) and a validated record (`DnsMessage`) with `parseDnsMessage`,
 * `emitDnsMessage` and `dnsBufferLen`.
 *
 * Contract:
 *  - `parseDnsMessage(bytes)` never throws: anything it cannot represent (short
 *    header, a name that runs off the end, a label over 63 octets, a name over 255
 *    octets, a compression pointer that does not point strictly backwards, which also
 *    makes pointer loops impossible, RDATA whose length disagrees with its type, bytes
 *    left after the last section) is returned as a `DnsParseError` string. Callers count and drop.
 *  - Names are in presentation form without the final dot ("web.internal"; the root
 *    is ""), letters as received (compare with `sameName`, RFC 4343 case-insensitivity);
 *    octets other than printable ASCII, '.' and '\\' in a label are written \DDD.
 *  - Records the stub understands are decoded (A, AAAA, CNAME, NS, PTR, SOA); any other
 *    type keeps its RDATA as bytes (`raw`), copied out of the message.
 *  - `emitDnsMessage(msg, { compress })` writes a whole message front to back into one
 *    buffer of `dnsBufferLen(msg, { compress })` bytes; with `compress` a name repeats
 *    as a pointer to its earlier suffix (RFC 1035 §4.1.4), as servers answer.
 */

export const DNS_HEADER_LEN = 12;
/** RFC 1035 §2.3.4: a name is at most 255 octets on the wire, a label at most 63. */
export const MAX_NAME_WIRE = 255;
export const MAX_LABEL = 63;
/** RFC 1035 §4.2.1: a UDP message without EDNS is at most 512 octets. */
export const UDP_MAX_MESSAGE = 512;

export const TYPE_A = 1;
export const TYPE_NS = 2;
export const TYPE_CNAME = 5;
export const TYPE_SOA = 6;
export const TYPE_PTR = 12;
export const TYPE_AAAA = 28;
export const CLASS_IN = 1;

/** RFC 1035 §4.1.1 RCODE values (and RFC 6895's names). */
export const RCODE_NOERROR = 0;
export const RCODE_FORMERR = 1;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;
export const RCODE_NOTIMP = 4;
export const RCODE_REFUSED = 5;

/** A view over the fixed 12-octet header (RFC 1035 §4.1.1). Check `DnsHeaderView.fits` first. */
export class DnsHeaderView {
  private readonly v: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  static fits(bytes: Uint8Array): boolean { return bytes.length >= DNS_HEADER_LEN; }
  get id(): number { return this.v.getUint16(0); }
  set id(x: number) { this.v.setUint16(0, x); }
  get flags(): number { return this.v.getUint16(2); }
  set flags(x: number) { this.v.setUint16(2, x); }
  get qr(): boolean { return (this.flags & 0x8000) !== 0; }
  get opcode(): number { return (this.flags >> 11) & 0xf; }
  get aa(): boolean { return (this.flags & 0x0400) !== 0; }
  get tc(): boolean { return (this.flags & 0x0200) !== 0; }
  get rd(): boolean { return (this.flags & 0x0100) !== 0; }
  get ra(): boolean { return (this.flags & 0x0080) !== 0; }
  get rcode(): number { return this.flags & 0xf; }
  get qdcount(): number { return this.v.getUint16(4); }
  set qdcount(x: number) { this.v.setUint16(4, x); }
  get ancount(): number { return this.v.getUint16(6); }
  set ancount(x: number) { this.v.setUint16(6, x); }
  get nscount(): number { return this.v.getUint16(8); }
  set nscount(x: number) { this.v.setUint16(8, x); }
  get arcount(): number { return this.v.getUint16(10); }
  set arcount(x: number) { this.v.setUint16(10, x); }
}

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

export interface SoaData {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  /** RFC 2308 §4: the negative-caching TTL. */
  minimum: number;
}

export type DnsRecordData =
  | { kind: 'A'; address: string }
  | { kind: 'AAAA'; address: string }
  | { kind: 'NAME'; name: string } // CNAME, NS, PTR
  | { kind: 'SOA'; soa: SoaData }
  | { kind: 'raw'; bytes: Uint8Array };

export interface DnsRecord {
  name: string;
  type: number;
  class: number;
  /** Seconds (RFC 1035 §3.2.1; RFC 2181 §8: a value with the top bit set is read as 0). */
  ttl: number;
  data: DnsRecordData;
}

export interface DnsMessage {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  rcode: number;
  questions: DnsQuestion[];
  answers: DnsRecord[];
  authorities: DnsRecord[];
  additionals: DnsRecord[];
}

export type DnsParseError =
  | 'short-header'
  | 'truncated'
  | 'bad-label'
  | 'name-too-long'
  | 'bad-pointer'
  | 'bad-rdata'
  | 'trailing-bytes';

/** RFC 4343: names compare without regard to ASCII case. */
export function sameName(a: string, b: string): boolean {
  return a.length === b.length && a.toLowerCase() === b.toLowerCase();
}

class ParseFail {
  constructor(readonly why: DnsParseError) {}
}

/**
 * Reads the name at `at`; returns it and the offset after it in the message (after
 * the first pointer, when there is one). RFC 1035 §4.1.4: a pointer must point
 * strictly before the start of the labels it ends, so each jump goes backwards and a
 * loop cannot exist.
 */
function readName(b: Uint8Array, at: number): [string, number] {
  let name = '';
  let wire = 0;
  let pos = at;
  let end = -1;
  let floor = at; // a pointer must land below the labels already read
  for (;;) {
    if (pos >= b.length) throw new ParseFail('truncated');
    const len = b[pos]!;
    if (len === 0) {
      wire += 1;
      if (wire > MAX_NAME_WIRE) throw new ParseFail('name-too-long');
      if (end < 0) end = pos + 1;
      return [name, end];
    }
    const top = len & 0xc0;
    if (top === 0xc0) {
      if (pos + 1 >= b.length) throw new ParseFail('truncated');
      const target = ((len & 0x3f) << 8) | b[pos + 1]!;
      if (target >= floor) throw new ParseFail('bad-pointer');
      if (end < 0) end = pos + 2;
      pos = target;
      floor = target;
      continue;
    }
    if (top !== 0) throw new ParseFail('bad-label'); // 0x40/0x80: extended label types (RFC 6891 §5), not used
    if (pos + 1 + len > b.length) throw new ParseFail('truncated');
    wire += 1 + len;
    if (wire > MAX_NAME_WIRE) throw new ParseFail('name-too-long');
    if (name !== '') name += '.';
    for (let i = pos + 1; i <= pos + len; i++) {
      const c = b[i]!;
      if (c === 0x2e || c === 0x5c) name += `\\${String.fromCharCode(c)}`;
      else if (c > 0x20 && c < 0x7f) name += String.fromCharCode(c);
      else name += `\\${c.toString().padStart(3, '0')}`;
    }
    pos += 1 + len;
  }
}

function u16(b: Uint8Array, at: number): number {
  if (at + 2 > b.length) throw new ParseFail('truncated');
  return (b[at]! << 8) | b[at + 1]!;
}

function u32(b: Uint8Array, at: number): number {
  if (at + 4 > b.length) throw new ParseFail('truncated');
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function formatIpv6(b: Uint8Array, at: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((b[at + 2 * i]! << 8) | b[at + 2 * i + 1]!);
  // RFC 5952 §4.2: the longest run (2+) of zero groups becomes '::'.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) { best = i; bestLen = j - i; }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function readRecord(b: Uint8Array, at: number): [DnsRecord, number] {
  const [name, p] = readName(b, at);
  const type = u16(b, p);
  const klass = u16(b, p + 2);
  const rawTtl = u32(b, p + 4);
  const rdlen = u16(b, p + 8);
  const start = p + 10;
  const end = start + rdlen;
  if (end > b.length) throw new ParseFail('truncated');
  let data: DnsRecordData;
  if (type === TYPE_A && klass === CLASS_IN) {
    if (rdlen !== 4) throw new ParseFail('bad-rdata');
    data = { kind: 'A', address: `${b[start]}.${b[start + 1]}.${b[start + 2]}.${b[start + 3]}` };
  } else if (type === TYPE_AAAA && klass === CLASS_IN) {
    if (rdlen !== 16) throw new ParseFail('bad-rdata');
    data = { kind: 'AAAA', address: formatIpv6(b, start) };
  } else if (type === TYPE_CNAME || type === TYPE_NS || type === TYPE_PTR) {
    const [n, q] = readName(b, start);
    if (q !== end) throw new ParseFail('bad-rdata');
    data = { kind: 'NAME', name: n };
  } else if (type === TYPE_SOA) {
    const [mname, q1] = readName(b, start);
    const [rname, q2] = readName(b, q1);
    if (q2 + 20 !== end) throw new ParseFail('bad-rdata');
    data = { kind: 'SOA', soa: { mname, rname, serial: u32(b, q2), refresh: u32(b, q2 + 4), retry: u32(b, q2 + 8), expire: u32(b, q2 + 12), minimum: u32(b, q2 + 16) } };
  } else {
    data = { kind: 'raw', bytes: b.slice(start, end) };
  }
  // RFC 2181 §8: TTLs are 31-bit; one with the top bit set is treated as zero.
  return [{ name, type, class: klass, ttl: rawTtl > 0x7fffffff ? 0 : rawTtl, data }, end];
}

/** Parses a whole message; never throws (see the module's contract). */
export function parseDnsMessage(bytes: Uint8Array): DnsMessage | DnsParseError {
  if (!DnsHeaderView.fits(bytes)) return 'short-header';
  const h = new DnsHeaderView(bytes);
  try {
    let at = DNS_HEADER_LEN;
    const questions: DnsQuestion[] = [];
    for (let i = 0; i < h.qdcount; i++) {
      const [name, p] = readName(bytes, at);
      questions.push({ name, type: u16(bytes, p), class: u16(bytes, p + 2) });
      at = p + 4;
    }
    const sections: DnsRecord[][] = [[], [], []];
    const counts = [h.ancount, h.nscount, h.arcount];
    for (let s = 0; s < 3; s++) {
      for (let i = 0; i < counts[s]!; i++) {
        const [r, p] = readRecord(bytes, at);
        sections[s]!.push(r);
        at = p;
      }
    }
    if (at > bytes.length) return 'truncated';
    if (at !== bytes.length) return 'trailing-bytes';
    return {
      id: h.id, qr: h.qr, opcode: h.opcode, aa: h.aa, tc: h.tc, rd: h.rd, ra: h.ra, rcode: h.rcode,
      questions, answers: sections[0]!, authorities: sections[1]!, additionals: sections[2]!,
    };
  } catch (e) {
    if (e instanceof ParseFail) return e.why;
    return 'truncated'; // unreachable: every read is checked
  }
}

// ---- emit ------------------------------------------------------------------------

/** A name in presentation form as wire labels (octets); undefined when it cannot be one. */
export function nameToLabels(name: string): Uint8Array[] | undefined {
  if (name === '' || name === '.') return [];
  const text = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  const labels: Uint8Array[] = [];
  let cur: number[] = [];
  let wire = 1;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    if (ch > 0x7f) return undefined; // IDNs are the caller's to encode (punycode)
    if (ch === 0x2e) {
      if (cur.length === 0 || cur.length > MAX_LABEL) return undefined;
      labels.push(Uint8Array.from(cur));
      wire += cur.length + 1;
      cur = [];
      continue;
    }
    if (ch === 0x5c) {
      const d = /^\d{3}/.exec(text.slice(i + 1, i + 4));
      if (d !== null) { const v = Number(d[0]); if (v > 255) return undefined; cur.push(v); i += 3; continue; }
      if (i + 1 >= text.length) return undefined;
      cur.push(text.charCodeAt(++i));
      continue;
    }
    cur.push(ch);
  }
  if (cur.length === 0 || cur.length > MAX_LABEL) return undefined;
  labels.push(Uint8Array.from(cur));
  wire += cur.length + 1;
  return wire > MAX_NAME_WIRE ? undefined : labels;
}

export interface EmitOptions {
  /** Repeat names as pointers to earlier suffixes (RFC 1035 §4.1.4). Default false. */
  compress?: boolean;
}

function rdataOf(r: DnsRecord): { bytes?: Uint8Array; names?: string[]; tail?: Uint8Array } {
  const d = r.data;
  switch (d.kind) {
    case 'A': {
      const p = d.address.split('.').map(Number);
      if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new TypeError(`not an IPv4 address: ${d.address}`);
      return { bytes: Uint8Array.from(p) };
    }
    case 'AAAA': return { bytes: parseIpv6(d.address) };
    case 'NAME': return { names: [d.name] };
    case 'SOA': {
      const tail = new Uint8Array(20);
      const v = new DataView(tail.buffer);
      [d.soa.serial, d.soa.refresh, d.soa.retry, d.soa.expire, d.soa.minimum].forEach((x, i) => v.setUint32(4 * i, x >>> 0));
      return { names: [d.soa.mname, d.soa.rname], tail };
    }
    case 'raw': return { bytes: d.bytes };
  }
}

function parseIpv6(text: string): Uint8Array {
  const out = new Uint8Array(16);
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t];
  if (groups.length !== 8) throw new TypeError(`not an IPv6 address: ${text}`);
  groups.forEach((g, i) => { const n = parseInt(g, 16); out[2 * i] = n >> 8; out[2 * i + 1] = n & 0xff; });
  return out;
}

/** Writes names (with compression when a table is given) and counts octets. */
class NameWriter {
  readonly table: Map<string, number> | undefined;
  constructor(compress: boolean, private readonly out: Uint8Array | undefined) {
    this.table = compress ? new Map() : undefined;
  }
  /** Writes `name` at `at`; returns the offset after it. */
  name(name: string, at: number): number {
    const labels = nameToLabels(name);
    if (labels === undefined) throw new TypeError(`not a domain name: ${name}`);
    const out = this.out;
    for (let i = 0; i < labels.length; i++) {
      if (this.table !== undefined) {
        const key = labels.slice(i).map((l) => String.fromCharCode(...l).toLowerCase()).join('.');
        const prev = this.table.get(key);
        if (prev !== undefined) {
          if (out !== undefined) { out[at] = 0xc0 | (prev >> 8); out[at + 1] = prev & 0xff; }
          return at + 2;
        }
        if (at < 0x4000) this.table.set(key, at);
      }
      const l = labels[i]!;
      if (out !== undefined) { out[at] = l.length; out.set(l, at + 1); }
      at += 1 + l.length;
    }
    if (out !== undefined) out[at] = 0;
    return at + 1;
  }
}

function write(msg: DnsMessage, out: Uint8Array | undefined, compress: boolean): number {
  const w = new NameWriter(compress, out);
  const v = out === undefined ? undefined : new DataView(out.buffer, out.byteOffset, out.byteLength);
  if (v !== undefined) {
    v.setUint16(0, msg.id);
    v.setUint16(2, (msg.qr ? 0x8000 : 0) | ((msg.opcode & 0xf) << 11) | (msg.aa ? 0x0400 : 0) | (msg.tc ? 0x0200 : 0)
      | (msg.rd ? 0x0100 : 0) | (msg.ra ? 0x0080 : 0) | (msg.rcode & 0xf));
    v.setUint16(4, msg.questions.length);
    v.setUint16(6, msg.answers.length);
    v.setUint16(8, msg.authorities.length);
    v.setUint16(10, msg.additionals.length);
  }
  let at = DNS_HEADER_LEN;
  for (const q of msg.questions) {
    at = w.name(q.name, at);
    v?.setUint16(at, q.type);
    v?.setUint16(at + 2, q.class);
    at += 4;
  }
  for (const r of [...msg.answers, ...msg.authorities, ...msg.additionals]) {
    at = w.name(r.name, at);
    v?.setUint16(at, r.type);
    v?.setUint16(at + 2, r.class);
    v?.setUint32(at + 4, r.ttl >>> 0);
    const lenAt = at + 8;
    at += 10;
    const rd = rdataOf(r);
    const start = at;
    if (rd.bytes !== undefined) { out?.set(rd.bytes, at); at += rd.bytes.length; }
    for (const n of rd.names ?? []) at = w.name(n, at);
    if (rd.tail !== undefined) { out?.set(rd.tail, at); at += rd.tail.length; }
    v?.setUint16(lenAt, at - start);
  }
  return at;
}

/** Octets `emitDnsMessage(msg, options)` writes. Throws TypeError for a name that cannot be encoded. */
export function dnsBufferLen(msg: DnsMessage, options: EmitOptions = {}): number {
  return write(msg, undefined, options.compress === true);
}

/** Writes `msg` into a new buffer of exactly `dnsBufferLen(msg, options)` octets. */
export function emitDnsMessage(msg: DnsMessage, options: EmitOptions = {}): Uint8Array {
  const out = new Uint8Array(dnsBufferLen(msg, options));
  write(msg, out, options.compress === true);
  return out;
}

/** A standard query (RD set, RFC 1035 §4.1.1) for one question. */
export function queryMessage(id: number, name: string, type: number): DnsMessage {
  return {
    id, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, rcode: 0,
    questions: [{ name, type, class: CLASS_IN }], answers: [], authorities: [], additionals: [],
  };
}
