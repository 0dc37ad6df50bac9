/**
 * The fuzzer: a stack with every `netstack serve` service on (ICMP echo, UDP echo :7, TCP
 * echo :7, discard :9, HTTP :80), on a probe link, with a virtual clock, fed `count` packets:
 *
 *   - valid ICMP echo requests, UDP datagrams and TCP segments, half of them mutated
 *     (any IPv4, ICMP, UDP or TCP header field set to an edge or random value, options,
 *     lengths, flags, bit flips, truncation, trailing bytes; checksums usually fixed up
 *     afterwards so the mutation gets past them);
 *   - random bytes, and random payloads behind a valid IPv4 header;
 *   - fragment trains with random sizes, order, duplicates, overlaps with other bytes,
 *     gaps, bad lengths and offsets, on a small pool of IDs so trains collide;
 *   - ICMP errors quoting packets the stack sent (PMTU, unreachables, quench, redirect);
 *   - stateful TCP peers that complete handshakes (with random options) to echo, discard
 *     and HTTP, send data and requests, acknowledge what the stack sends, then misbehave:
 *     bad and old SEQ, ACKs of unsent or ancient data, zero and shrinking windows, in-window
 *     RSTs, SYNs in ESTABLISHED, data beyond the window, FIN games, URG, bad timestamps.
 *
 * Time advances between batches (mostly milliseconds, sometimes seconds or a minute), so
 * retransmission, persist, reassembly and TIME-WAIT timers fire. Pass criteria (`failures`):
 *   - nothing escapes: no exception from the link's receiver (`inject`), from a timer, or
 *     uncaught (the offending batch is recorded as hex);
 *   - every received packet is explained by a counter (`checkAccounting`), and the link
 *     delivered exactly what IP counted;
 *   - at each quiet point (peers reset, 30 virtual minutes run out every timer, two full
 *     GCs) the stack holds no connection, reassembly or timer, and the JS heap + ArrayBuffer
 *     memory does not grow from one quiet point to the next by more than `maxGrowthBytes`;
 *   - afterwards a second stack, attached through the probe link, pings (56 and 4000
 *     bytes), echoes UDP, echoes TCP, discards, GETs and POSTs over HTTP, byte-exactly.
 *
 * Deterministic for a seed (the TCP layer's randomness and ISN key are seeded too), except
 * for node:http's Date header.
 */
import http from 'node:http';
import { createHash } from 'node:crypto';
import { createProbeLink, type Link, type LinkReceiver, type LinkStats, type ProbeLink } from '@netstack/tun';
import { checksum, pseudoHeaderSum, formatAddress } from '@netstack/ip';
import { VirtualClock, seededRandom } from '@netstack/common';
import { createStack, type Stack } from './stack.js';
import { startServices } from './services.js';
import { checkAccounting, type AccountingReport } from './accounting.js';

export interface FuzzOptions {
  seed: number;
  /** Packets to inject (default 1e6). */
  count?: number;
  /** Quiet points, as fractions of `count` (default [0.5, 1]); memory growth is compared between consecutive ones. */
  quietAt?: number[];
  /** A full GC (`global.gc` under --expose-gc); without it memory is not measured. */
  gc?: () => void;
  /** Growth of heapUsed + arrayBuffers allowed between consecutive quiet points (default 4 MiB). */
  maxGrowthBytes?: number;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Skip the closing service checks (default false). */
  skipServiceChecks?: boolean;
}

export interface FuzzEscape {
  /** Packet index at which it happened (the batch's last packet for batch-end, timer and uncaught ones). */
  index: number;
  where: 'inject' | 'batchEnd' | 'timer' | 'uncaught';
  error: string;
  /** The packet (inject) or the whole batch (others), hex, one packet per line. */
  packetHex: string;
}

export interface QuietPoint {
  packets: number;
  virtualMs: number;
  heapUsed: number;
  arrayBuffers: number;
  external: number;
  rss: number;
  connections: number;
  /** Those connections: state, ports, queued bytes (for the report). */
  connectionStates: string[];
  reassemblyDatagrams: number;
  reassemblyBytes: number;
  timers: number;
  outstandingPings: number;
}

export interface FuzzResult {
  seed: number;
  count: number;
  injected: number;
  sent: number;
  elapsedMs: number;
  packetsPerSecond: number;
  virtualMs: number;
  mix: Record<string, number>;
  escapes: FuzzEscape[];
  /** Escapes by error message (all of them; `escapes` keeps the first 3 of each). */
  escapeCounts: Record<string, number>;
  quiet: QuietPoint[];
  accounting: AccountingReport;
  checks: { name: string; ok: boolean; detail: string }[];
  stats: Record<string, Record<string, number>>;
  failures: string[];
  reproduce: string;
}

// ------------------------------------------------------------------ randomness, time

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

// ------------------------------------------------------------------ packet building

const TARGET = 0x0a000002; // 10.0.0.2
const PEER_STACK = 0x0a000001; // 10.0.0.1: the closing checks' stack (no fuzz packet comes from it)
const PEER_BASE = 0x0a000064; // 10.0.0.100.. : the stateful TCP peers
const PEERS = 8;
const FIN = 1, SYN = 2, RST = 4, PSH = 8, ACK = 16, URG = 32;

const hex = (p: Uint8Array): string => Buffer.from(p.buffer, p.byteOffset, p.length).toString('hex');

interface IpFields {
  src: number;
  dst: number;
  proto: number;
  ttl?: number;
  tos?: number;
  id?: number;
  /** Flags and fragment offset word (DF 0x4000, MF 0x2000, offset in 8-byte units). */
  frag?: number;
  options?: Uint8Array;
}

/** An IPv4 datagram around `payload` with a correct header checksum. */
function ipv4(f: IpFields, payload: Uint8Array): Uint8Array {
  const optLen = f.options?.length ?? 0;
  const hl = 20 + optLen;
  const p = new Uint8Array(hl + payload.length);
  p[0] = 0x40 | (hl >> 2);
  p[1] = f.tos ?? 0;
  const total = p.length;
  p[2] = total >> 8; p[3] = total & 0xff;
  const id = f.id ?? 0;
  p[4] = id >> 8; p[5] = id & 0xff;
  const frag = f.frag ?? 0;
  p[6] = frag >> 8; p[7] = frag & 0xff;
  p[8] = f.ttl ?? 64;
  p[9] = f.proto;
  put32(p, 12, f.src);
  put32(p, 16, f.dst);
  if (f.options !== undefined) p.set(f.options, 20);
  p.set(payload, hl);
  fixIpChecksum(p);
  return p;
}

function put32(p: Uint8Array, o: number, v: number): void {
  p[o] = v >>> 24; p[o + 1] = (v >>> 16) & 0xff; p[o + 2] = (v >>> 8) & 0xff; p[o + 3] = v & 0xff;
}
function get32(p: Uint8Array, o: number): number {
  return ((p[o]! << 24) | (p[o + 1]! << 16) | (p[o + 2]! << 8) | p[o + 3]!) >>> 0;
}
function put16(p: Uint8Array, o: number, v: number): void {
  p[o] = (v >>> 8) & 0xff; p[o + 1] = v & 0xff;
}

function fixIpChecksum(p: Uint8Array): void {
  if (p.length < 20) return;
  const hl = Math.min((p[0]! & 15) * 4, p.length);
  if (hl < 20) return;
  p[10] = 0; p[11] = 0;
  put16(p, 10, checksum(p, 0, hl));
}

/** Recomputes the transport checksum of an unfragmented datagram when its header allows it. */
function fixTransportChecksum(p: Uint8Array): void {
  if (p.length < 20) return;
  const hl = (p[0]! & 15) * 4;
  const total = Math.min((p[2]! << 8) | p[3]!, p.length);
  if (hl < 20 || hl >= total) return;
  if ((((p[6]! << 8) | p[7]!) & 0x3fff) !== 0) return; // a fragment: its transport header is elsewhere
  const proto = p[9]!;
  const len = total - hl;
  const src = get32(p, 12);
  const dst = get32(p, 16);
  if (proto === 6 && len >= 18) {
    p[hl + 16] = 0; p[hl + 17] = 0;
    put16(p, hl + 16, checksum(p, hl, total, pseudoHeaderSum(src, dst, 6, len)));
  } else if (proto === 17 && len >= 8) {
    p[hl + 6] = 0; p[hl + 7] = 0;
    const c = checksum(p, hl, total, pseudoHeaderSum(src, dst, 17, len));
    put16(p, hl + 6, c === 0 ? 0xffff : c);
  } else if (proto === 1 && len >= 4) {
    p[hl + 2] = 0; p[hl + 3] = 0;
    put16(p, hl + 2, checksum(p, hl, total));
  }
}

function udpBytes(src: number, dst: number, sport: number, dport: number, data: Uint8Array, noChecksum = false): Uint8Array {
  const u = new Uint8Array(8 + data.length);
  put16(u, 0, sport); put16(u, 2, dport); put16(u, 4, u.length);
  u.set(data, 8);
  if (!noChecksum) {
    const c = checksum(u, 0, u.length, pseudoHeaderSum(src, dst, 17, u.length));
    put16(u, 6, c === 0 ? 0xffff : c);
  }
  return u;
}

interface TcpFields {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgent?: number;
  options?: Uint8Array;
}

function tcpBytes(src: number, dst: number, f: TcpFields, data: Uint8Array): Uint8Array {
  const optLen = f.options?.length ?? 0;
  const hl = 20 + optLen;
  const t = new Uint8Array(hl + data.length);
  put16(t, 0, f.sport); put16(t, 2, f.dport);
  put32(t, 4, f.seq >>> 0); put32(t, 8, f.ack >>> 0);
  t[12] = (hl >> 2) << 4;
  t[13] = f.flags & 0xff;
  put16(t, 14, f.window & 0xffff);
  put16(t, 18, f.urgent ?? 0);
  if (f.options !== undefined) t.set(f.options, 20);
  t.set(data, hl);
  put16(t, 16, checksum(t, 0, t.length, pseudoHeaderSum(src, dst, 6, t.length)));
  return t;
}

function icmpBytes(type: number, code: number, rest: number, data: Uint8Array): Uint8Array {
  const m = new Uint8Array(8 + data.length);
  m[0] = type; m[1] = code;
  put32(m, 4, rest >>> 0);
  m.set(data, 8);
  put16(m, 2, checksum(m));
  return m;
}

/** TCP options: MSS, window scale, SACK-permitted, timestamps, SACK blocks; NOP-padded to 4. */
function tcpOptions(o: { mss?: number; ws?: number; sackOk?: boolean; ts?: [number, number]; sack?: [number, number][] }): Uint8Array {
  const b: number[] = [];
  if (o.mss !== undefined) b.push(2, 4, (o.mss >> 8) & 0xff, o.mss & 0xff);
  if (o.ws !== undefined) b.push(1, 3, 3, o.ws & 0xff);
  if (o.sackOk) b.push(1, 1, 4, 2);
  if (o.ts !== undefined) {
    b.push(1, 1, 8, 10);
    for (const v of o.ts) b.push(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  }
  if (o.sack !== undefined && o.sack.length > 0) {
    b.push(1, 1, 5, 2 + 8 * o.sack.length);
    for (const [l, r] of o.sack) for (const v of [l, r]) b.push(v >>> 24, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
  }
  while (b.length % 4 !== 0) b.push(1);
  return new Uint8Array(b.slice(0, 40));
}

// ------------------------------------------------------------------ the generator

type Kind = 'icmp' | 'udp' | 'tcp' | 'mutant' | 'random' | 'random-ipv4' | 'fragments' | 'icmp-error' | 'peer';
const KINDS: [Kind, number][] = [
  ['icmp', 8], ['udp', 12], ['tcp', 12], ['mutant', 14], ['random', 5], ['random-ipv4', 7],
  ['fragments', 8], ['icmp-error', 5], ['peer', 29],
];
const KIND_TOTAL = KINDS.reduce((a, [, w]) => a + w, 0);

type PeerState = 'closed' | 'syn-sent' | 'est' | 'fin-sent';

interface Peer {
  addr: number;
  port: number;
  dport: number;
  state: PeerState;
  iss: number;
  sndNxt: number;
  /** Highest sequence end the stack sent (what the peer acknowledges). */
  stackMax: number;
  synAckSeen: boolean;
  /** The stack's latest acknowledgment (its RCV.NXT), -1 before the first. */
  stackAck: number;
  stackFin: boolean;
  /** The stack reset this connection: nothing left to clean up. */
  stackReset: boolean;
  ts: boolean;
  tsVal: number;
  tsEcr: number;
  wait: number;
  steps: number;
  life: number;
  zeroWindow: boolean;
}

/** RFC 5961 §3.2: only an RST at exactly RCV.NXT resets; the stack's latest ACK says where that is. */
function exactSeq(peer: Peer): number {
  return peer.stackAck >= 0 ? peer.stackAck : peer.sndNxt;
}

const HTTP_REQUESTS = [
  'GET / HTTP/1.1\r\nHost: 10.0.0.2\r\n\r\n',
  'GET /bytes/3000 HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /bytes/99999999999 HTTP/1.1\r\n\r\n',
  'POST /sink HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789',
  'POST /sink HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n',
  'GET /nope HTTP/1.0\r\n\r\n',
  'GARBAGE\r\n\r\n',
  'GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n',
  'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n' + 'X: y\r\n'.repeat(50) + '\r\n',
];

class Generator {
  readonly mix: Record<string, number> = {};
  private readonly pending: Uint8Array[] = [];
  /** Copies of some packets the stack sent (for ICMP errors quoting them). */
  private readonly recentSent: Uint8Array[] = [];
  /** Copies of some valid packets made here (templates for mutation). */
  private readonly templates: Uint8Array[] = [];
  readonly peers: Peer[] = [];
  private readonly peerByKey = new Map<number, Peer>();

  constructor(private readonly r: () => number) {
    for (let i = 0; i < PEERS; i++) {
      this.peers.push({
        addr: PEER_BASE + i, port: 0, dport: 7, state: 'closed', iss: 0, sndNxt: 0, stackMax: 0, synAckSeen: false, stackAck: -1,
        stackFin: false, stackReset: false, ts: false, tsVal: 1, tsEcr: 0, wait: 0, steps: 0, life: 0, zeroWindow: false,
      });
    }
  }

  private int(n: number): number { return Math.floor(this.r() * n); }
  private pick<T>(a: readonly T[]): T { return a[this.int(a.length)]!; }
  private chance(p: number): boolean { return this.r() < p; }
  private bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  private u32(): number { return (this.int(0x10000) * 0x10000 + this.int(0x10000)) >>> 0; }
  private len(): number {
    const x = this.r();
    return x < 0.5 ? this.int(64) : x < 0.85 ? this.int(1400) : this.int(4000);
  }

  private src(): number {
    const x = this.r();
    if (x < 0.85) return 0x0a000003 + this.int(60); // on-link hosts
    if (x < 0.9) return 0x0a000064 + this.int(PEERS); // the peers' addresses
    return this.pick([0, 0xffffffff, 0x7f000001, 0x0a0000ff, 0xe0000001, 0x0a000002, 0xc0a80001, 0xf0000001, this.u32()]);
  }
  private dst(): number {
    if (this.r() < 0.94) return TARGET;
    return this.pick([0xffffffff, 0x0a0000ff, 0xe0000001, 0x0a000003, 0, this.u32()]);
  }
  private port(): number {
    const x = this.r();
    if (x < 0.3) return 7;
    if (x < 0.45) return 9;
    if (x < 0.6) return 80;
    if (x < 0.65) return 0;
    return this.int(65536);
  }

  /** The stack sent `p` (borrowed): feeds the peers, keeps a few copies to quote. */
  observe(p: Uint8Array): void {
    if (p.length >= 40 && p[9] === 6 && (p[0]! & 15) === 5) {
      const dst = get32(p, 16);
      const t = 20;
      const sport = (p[t]! << 8) | p[t + 1]!;
      const dport = (p[t + 2]! << 8) | p[t + 3]!;
      const peer = this.peerByKey.get(dst * 65536 + dport);
      if (peer !== undefined && peer.port === dport && sport === peer.dport) {
        const seq = get32(p, t + 4);
        const ack = get32(p, t + 8);
        const flags = p[t + 13]!;
        const doff = (p[t + 12]! >> 4) * 4;
        const total = (p[2]! << 8) | p[3]!;
        const dataLen = total - 20 - doff;
        if (flags & RST) {
          peer.state = 'closed';
          peer.stackReset = true;
          if (!this.peers.includes(peer)) this.peerByKey.delete(dst * 65536 + dport);
        } else {
          if ((flags & (SYN | ACK)) === (SYN | ACK) && peer.state === 'syn-sent' && ack === ((peer.iss + 1) >>> 0)) {
            peer.synAckSeen = true;
            peer.stackMax = (seq + 1) >>> 0;
          } else if (peer.state !== 'syn-sent') {
            if (flags & ACK) peer.stackAck = ack;
            const end = (seq + dataLen + (flags & FIN ? 1 : 0)) >>> 0;
            if (((end - peer.stackMax) | 0) > 0) peer.stackMax = end;
            if (flags & FIN) peer.stackFin = true;
          }
          // RFC 7323: echo the stack's latest TSval.
          if (peer.ts) {
            for (let o = t + 20; o < t + doff;) {
              const k = p[o]!;
              if (k === 0) break;
              if (k === 1) { o++; continue; }
              const l = p[o + 1]!;
              if (l < 2) break;
              if (k === 8 && l === 10) peer.tsEcr = get32(p, o + 2);
              o += l;
            }
          }
        }
      }
    }
    if (this.recentSent.length < 64) this.recentSent.push(p.slice());
    else if (this.chance(1 / 16)) this.recentSent[this.int(64)] = p.slice();
  }

  next(): Uint8Array {
    const q = this.pending.shift();
    if (q !== undefined) return q;
    let x = this.r() * KIND_TOTAL;
    let kind: Kind = 'random';
    for (const [k, w] of KINDS) {
      if ((x -= w) < 0) { kind = k; break; }
    }
    this.mix[kind] = (this.mix[kind] ?? 0) + 1;
    switch (kind) {
      case 'icmp': return this.maybeMutate(this.icmpEcho());
      case 'udp': return this.maybeMutate(this.udp());
      case 'tcp': return this.maybeMutate(this.tcpRaw());
      case 'mutant': return this.mutant();
      case 'random': return this.bytes(this.len());
      case 'random-ipv4': {
        const proto = this.chance(0.7) ? this.pick([1, 6, 17]) : this.int(256);
        return ipv4({ src: this.src(), dst: this.dst(), proto, ttl: this.int(256), id: this.int(65536) }, this.bytes(this.len()));
      }
      case 'fragments': this.fragments(); return this.pending.shift() ?? this.bytes(20);
      case 'icmp-error': return this.icmpError();
      case 'peer': this.peerStep(); return this.pending.shift() ?? this.icmpEcho();
    }
  }

  private keep(p: Uint8Array): Uint8Array {
    if (this.templates.length < 128) this.templates.push(p);
    else if (this.chance(1 / 8)) this.templates[this.int(128)] = p;
    return p;
  }

  private icmpEcho(): Uint8Array {
    const type = this.chance(0.85) ? 8 : this.pick([0, 13, 15, 17, 9, 10, this.int(256)]);
    const m = icmpBytes(type, this.chance(0.9) ? 0 : this.int(256), this.u32(), this.bytes(this.len()));
    return this.keep(ipv4({ src: this.src(), dst: this.dst(), proto: 1, tos: this.chance(0.9) ? 0 : this.int(256), id: this.int(65536) }, m));
  }

  private udp(): Uint8Array {
    const src = this.src();
    const dst = this.dst();
    const sport = this.chance(0.1) ? 0 : this.port();
    const data = this.bytes(this.len());
    return this.keep(ipv4({ src, dst, proto: 17, id: this.int(65536), frag: this.chance(0.5) ? 0x4000 : 0 }, udpBytes(src, dst, sport, this.port(), data, this.chance(0.1))));
  }

  private tcpRaw(): Uint8Array {
    const src = this.src();
    const dst = this.dst();
    const flags = this.chance(0.5) ? this.pick([SYN, ACK, RST, FIN | ACK, RST | ACK, SYN | ACK, PSH | ACK, 0, SYN | FIN, 0xff]) : this.int(256);
    const options = this.chance(0.5) ? this.randomTcpOptions() : undefined;
    const t = tcpBytes(src, dst, {
      sport: this.port(), dport: this.port(), seq: this.u32(), ack: this.u32(), flags, window: this.int(65536),
      urgent: this.chance(0.1) ? this.int(65536) : 0, ...(options !== undefined ? { options } : {}),
    }, this.bytes(this.chance(0.5) ? 0 : this.len() % 1400));
    return this.keep(ipv4({ src, dst, proto: 6, id: this.int(65536), frag: 0x4000, tos: this.chance(0.2) ? this.int(4) : 0 }, t));
  }

  private randomTcpOptions(): Uint8Array {
    if (this.chance(0.3)) {
      const n = 4 * this.int(11);
      return this.bytes(n); // garbage: bad kinds, lengths 0/1, lengths past the header
    }
    const sack: [number, number][] = [];
    for (let i = this.int(5); i > 0; i--) sack.push([this.u32(), this.u32()]);
    return tcpOptions({
      ...(this.chance(0.5) ? { mss: this.pick([0, 1, 88, 536, 1460, 65535, this.int(65536)]) } : {}),
      ...(this.chance(0.4) ? { ws: this.pick([0, 7, 14, 15, 255]) } : {}),
      sackOk: this.chance(0.4),
      ...(this.chance(0.4) ? { ts: [this.u32(), this.u32()] as [number, number] } : {}),
      sack,
    });
  }

  private maybeMutate(p: Uint8Array): Uint8Array {
    return this.chance(0.5) ? this.mutate(p, 1 + this.int(3)) : p;
  }

  private mutant(): Uint8Array {
    const base = this.templates.length > 0 && this.chance(0.8) ? this.pick(this.templates) : this.pick([this.icmpEcho(), this.udp(), this.tcpRaw()]);
    return this.mutate(base, 1 + this.int(4));
  }

  /** `n` mutations of a copy of `p`: header fields set to edge or random values, bit flips, truncation, extension. */
  private mutate(src: Uint8Array, n: number): Uint8Array {
    let p = src.slice();
    for (let i = 0; i < n; i++) {
      const m = this.int(10);
      if (m <= 3 && p.length >= 20) this.mutateIpField(p);
      else if (m <= 6) this.mutateTransportField(p);
      else if (m === 7 && p.length > 0) p[this.int(p.length)]! ^= 1 << this.int(8);
      else if (m === 8) p = p.subarray(0, this.int(p.length + 1)).slice();
      else {
        const tail = this.bytes(1 + this.int(64));
        const q = new Uint8Array(p.length + tail.length);
        q.set(p);
        q.set(tail, p.length);
        p = q;
      }
    }
    if (this.chance(0.7)) fixTransportChecksum(p);
    if (this.chance(0.85)) fixIpChecksum(p);
    return p;
  }

  private edge16(v: number): number {
    return this.pick([0, 1, 0xffff, 0x7fff, 0x8000, (v + 1) & 0xffff, (v - 1) & 0xffff, this.int(65536)]);
  }

  private mutateIpField(p: Uint8Array): void {
    switch (this.int(12)) {
      case 0: p[0] = this.pick([0x45, 0x46, 0x4f, 0x44, 0x40, 0x65, 0x05, this.int(256)]); break;
      case 1: p[1] = this.int(256); break;
      case 2: put16(p, 2, this.pick([0, 19, 20, 21, p.length - 1, p.length + 1, p.length + 8, 65535, this.edge16((p[2]! << 8) | p[3]!)])); break;
      case 3: put16(p, 4, this.int(8)); break; // small ID pool: collides with fragment trains
      case 4: put16(p, 6, this.pick([0x2000, 0x4000, 0x6000, 0x8000, 0x1fff, 0x2001, 0x3fff, this.int(65536)])); break;
      case 5: p[8] = this.pick([0, 1, 255]); break;
      case 6: p[9] = this.pick([0, 1, 2, 4, 6, 17, 41, 47, 50, 132, 255, this.int(256)]); break;
      case 7: put16(p, 10, this.int(65536)); break;
      case 8: put32(p, 12, this.src()); break;
      case 9: put32(p, 16, this.pick([TARGET, 0xffffffff, 0x0a0000ff, 0xe0000001, 0x0a000003, this.u32()])); break;
      case 10: { // options: grow the header (IHL) over what follows, with option-looking bytes
        const words = 1 + this.int(10);
        const opt = this.chance(0.5) ? this.bytes(words * 4) : new Uint8Array(words * 4).fill(this.pick([0, 1, 7, 68, 131, 137, 148]));
        const hl = 20 + opt.length;
        if (p.length < 20) break;
        const q = new Uint8Array(p.length + opt.length);
        q.set(p.subarray(0, 20));
        q.set(opt, 20);
        q.set(p.subarray(20), hl);
        q[0] = 0x40 | (hl >> 2);
        put16(q, 2, q.length);
        p.set(q.subarray(0, p.length)); // the caller's length stays; what overflows is lost (a truncated datagram)
        break;
      }
      default: p[this.int(20)] = this.int(256);
    }
  }

  private mutateTransportField(p: Uint8Array): void {
    const hl = p.length >= 20 ? Math.max(20, (p[0]! & 15) * 4) : 0;
    if (p.length < hl + 4) {
      if (p.length > 0) p[this.int(p.length)] = this.int(256);
      return;
    }
    const proto = p[9];
    const room = p.length - hl;
    if (proto === 6 && room >= 20) {
      switch (this.int(9)) {
        case 0: put16(p, hl + this.pick([0, 2]), this.port()); break;
        case 1: put32(p, hl + 4, this.u32()); break;
        case 2: put32(p, hl + 8, this.u32()); break;
        case 3: p[hl + 12] = (this.int(16) << 4) | (p[hl + 12]! & 15); break;
        case 4: p[hl + 13] = this.int(256); break;
        case 5: put16(p, hl + 14, this.edge16((p[hl + 14]! << 8) | p[hl + 15]!)); break;
        case 6: put16(p, hl + 18, this.int(65536)); p[hl + 13]! |= URG; break;
        case 7: put16(p, hl + 16, this.int(65536)); break;
        default: {
          const doff = (p[hl + 12]! >> 4) * 4;
          if (doff > 20 && hl + doff <= p.length) p[hl + 20 + this.int(doff - 20)] = this.pick([0, 1, 2, 3, 4, 5, 8, 255, this.int(256)]);
          else p[hl + 12] = (this.int(16) << 4);
        }
      }
    } else if (proto === 17 && room >= 8) {
      switch (this.int(4)) {
        case 0: put16(p, hl + this.pick([0, 2]), this.port()); break;
        case 1: put16(p, hl + 4, this.pick([0, 7, 8, 9, room - 1, room, room + 1, 65535, this.int(65536)])); break;
        case 2: put16(p, hl + 6, this.pick([0, 0xffff, this.int(65536)])); break;
        default: p[hl + this.int(room)] = this.int(256);
      }
    } else if (proto === 1 && room >= 8) {
      switch (this.int(4)) {
        case 0: p[hl] = this.pick([0, 3, 4, 5, 8, 11, 12, 13, 14, 15, 16, 17, 18, this.int(256)]); break;
        case 1: p[hl + 1] = this.int(256); break;
        case 2: put32(p, hl + 4, this.u32()); break;
        default: p[hl + this.int(room)] = this.int(256);
      }
    } else {
      p[hl + this.int(room)] = this.int(256);
    }
  }

  /** A train of fragments of one datagram: random cut, order, duplicates, overlaps, gaps, bad pieces. */
  private fragments(): void {
    const src = this.chance(0.8) ? 0x0a000003 + this.int(4) : this.src();
    const proto = this.pick([1, 17, 17, 6]);
    const payloadLen = 16 + this.int(this.chance(0.9) ? 4000 : 65000);
    let body: Uint8Array;
    if (proto === 1) body = icmpBytes(8, 0, this.u32(), this.bytes(payloadLen - 8));
    else if (proto === 17) body = udpBytes(src, TARGET, this.port(), this.pick([7, 9, 7, this.port()]), this.bytes(payloadLen - 8));
    else body = tcpBytes(src, TARGET, { sport: this.port(), dport: this.port(), seq: this.u32(), ack: this.u32(), flags: this.int(256), window: 1000 }, this.bytes(Math.max(0, payloadLen - 20)));
    const id = this.int(64); // a small pool: trains collide (overlaps, tombstones) as well as complete
    const pieces: { off: number; data: Uint8Array; mf: boolean }[] = [];
    for (let off = 0; off < body.length;) {
      const size = Math.min(body.length - off, 8 * (1 + this.int(this.chance(0.5) ? 4 : 185)));
      pieces.push({ off, data: body.subarray(off, off + size), mf: off + size < body.length });
      off += size;
    }
    const out: { off: number; data: Uint8Array; mf: boolean }[] = [];
    for (const piece of pieces) {
      if (this.chance(0.05)) continue; // a gap: never completes, held until the timeout
      out.push(piece);
      if (this.chance(0.05)) out.push(piece); // exact duplicate
      if (this.chance(0.04)) { // overlap with other bytes
        const shift = 8 * this.int(3);
        out.push({ off: Math.max(0, piece.off - shift), data: this.bytes(Math.max(8, piece.data.length)), mf: true });
      }
      if (this.chance(0.02)) out.push({ off: piece.off, data: piece.data.subarray(0, Math.max(1, piece.data.length - 1 - this.int(7))), mf: true }); // MF, length not a multiple of 8
      if (this.chance(0.02)) out.push({ off: 8 * (8100 + this.int(92)), data: this.bytes(8 * (1 + this.int(30))), mf: this.chance(0.5) }); // past 65535
      if (this.chance(0.02)) out.push({ off: piece.off, data: piece.data, mf: !piece.mf }); // disagrees on the end
    }
    if (this.chance(0.5)) {
      for (let i = out.length - 1; i > 0; i--) {
        const j = this.int(i + 1);
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
    }
    const df = this.chance(0.1) ? 0x4000 : 0;
    for (const f of out.slice(0, 200)) {
      const frag = df | (f.mf ? 0x2000 : 0) | ((f.off >> 3) & 0x1fff);
      const pkt = ipv4({ src, dst: TARGET, proto, id, frag, ttl: 64 }, f.data);
      this.pending.push(this.chance(0.05) ? this.mutate(pkt, 1) : pkt);
    }
  }

  /** An ICMP error quoting something the stack sent (or a mutation of it). */
  private icmpError(): Uint8Array {
    const quoted0 = this.recentSent.length > 0 ? this.pick(this.recentSent) : this.tcpRaw();
    let quoted = quoted0.subarray(0, this.pick([8, 20, 27, 28, 48, 576, quoted0.length]));
    if (this.chance(0.2)) quoted = this.mutate(quoted, 1);
    const [type, code] = this.pick<[number, number]>([
      [3, 4], [3, 4], [3, 3], [3, 2], [3, 1], [3, 0], [3, this.int(16)], [11, 0], [11, 1], [12, 0], [4, 0], [5, 1], [3, 13],
    ]);
    const rest = type === 3 && code === 4 ? this.pick([0, 68, 67, 296, 576, 1000, 1400, 1499, 1500, 9000, 65535, this.int(65536)]) : this.chance(0.8) ? 0 : this.u32();
    const from = quoted0.length >= 20 ? get32(quoted0, 16) : this.src();
    return ipv4({ src: this.chance(0.7) ? from : this.src(), dst: TARGET, proto: 1 }, icmpBytes(type, code, rest, quoted));
  }

  // ---- the stateful TCP peers

  private peerSeg(peer: Peer, flags: number, seq: number, ack: number, data: Uint8Array, o: { window?: number; urgent?: number; options?: Uint8Array } = {}): void {
    let options = o.options;
    if (options === undefined && peer.ts && !(flags & SYN)) {
      options = tcpOptions({ ts: [peer.tsVal, peer.tsEcr] });
    }
    peer.tsVal = (peer.tsVal + 1 + this.int(3)) >>> 0;
    const t = tcpBytes(peer.addr, TARGET, {
      sport: peer.port, dport: peer.dport, seq: seq >>> 0, ack: ack >>> 0, flags,
      window: o.window ?? (peer.zeroWindow ? 0 : 65535), ...(o.urgent !== undefined ? { urgent: o.urgent } : {}),
      ...(options !== undefined ? { options } : {}),
    }, data);
    const p = ipv4({ src: peer.addr, dst: TARGET, proto: 6, id: this.int(65536), frag: 0x4000 }, t);
    this.pending.push(p);
    if (this.chance(0.1)) this.keep(p);
  }

  private peerData(peer: Peer): Uint8Array {
    if (peer.dport === 80 && this.chance(0.7)) {
      const req = this.pick(HTTP_REQUESTS);
      return new Uint8Array(Buffer.from(this.chance(0.8) ? req : req.slice(0, this.int(req.length))));
    }
    return this.bytes(1 + this.int(this.chance(0.7) ? 200 : 1400));
  }

  private peerStep(): void {
    const peer = this.pick(this.peers);
    peer.steps++;
    switch (peer.state) {
      case 'closed': {
        // The old connection stays known (a zombie) until a quiet point: the peer may have
        // left it with an RST the stack did not take (delayed ACK: RCV.NXT moved on), and the
        // quiet point resets it at the stack's latest ACK.
        const old = this.peerByKey.get(peer.addr * 65536 + peer.port);
        if (old === peer) {
          this.peerByKey.delete(peer.addr * 65536 + peer.port);
          if (!peer.stackReset) this.peerByKey.set(peer.addr * 65536 + peer.port, { ...peer, state: 'closed' });
          if (this.peerByKey.size > 4096) { // forget the oldest, resetting it once more on the way
            const [k, z] = this.peerByKey.entries().next().value!;
            this.peerByKey.delete(k);
            if (!this.peers.includes(z)) this.peerSeg(z, RST, exactSeq(z), 0, new Uint8Array(0));
          }
        }
        do peer.port = 1024 + this.int(64000); while (this.peerByKey.has(peer.addr * 65536 + peer.port)); // a fresh 4-tuple
        this.peerByKey.set(peer.addr * 65536 + peer.port, peer);
        peer.dport = this.pick([7, 7, 9, 80, 80, 80, 1 + this.int(65535)]);
        peer.iss = this.u32();
        peer.sndNxt = (peer.iss + 1) >>> 0;
        peer.state = 'syn-sent';
        peer.synAckSeen = false;
        peer.stackAck = -1;
        peer.stackFin = false;
        peer.stackReset = false;
        peer.zeroWindow = false;
        peer.ts = this.chance(0.6);
        peer.tsVal = this.u32();
        peer.tsEcr = 0;
        peer.wait = 0;
        peer.steps = 0;
        peer.life = 10 + this.int(this.chance(0.8) ? 60 : 400);
        const options = tcpOptions({
          mss: this.pick([1460, 1460, 536, 88, 65535, 0, 1]),
          ...(this.chance(0.6) ? { ws: this.pick([0, 2, 7, 14, 15]) } : {}),
          sackOk: this.chance(0.6),
          ...(peer.ts ? { ts: [peer.tsVal, 0] as [number, number] } : {}),
        });
        this.peerSeg(peer, SYN | (this.chance(0.1) ? 0xc0 : 0), peer.iss, 0, new Uint8Array(0), { options, window: this.pick([65535, 1024, 0, 1]) });
        return;
      }
      case 'syn-sent': {
        if (!peer.synAckSeen) {
          if (++peer.wait > 4) { this.peerSeg(peer, RST, peer.sndNxt, 0, new Uint8Array(0)); peer.state = 'closed'; }
          return;
        }
        peer.state = 'est';
        this.peerSeg(peer, ACK, peer.sndNxt, peer.stackMax, new Uint8Array(0));
        return;
      }
      case 'est':
        if (peer.steps > peer.life) {
          if (this.chance(0.5)) {
            this.peerSeg(peer, FIN | ACK, peer.sndNxt, peer.stackMax, new Uint8Array(0));
            peer.sndNxt = (peer.sndNxt + 1) >>> 0;
            peer.state = 'fin-sent';
            peer.wait = 0;
          } else {
            this.peerSeg(peer, RST | (this.chance(0.5) ? ACK : 0), exactSeq(peer), peer.stackMax, new Uint8Array(0));
            peer.state = 'closed';
          }
          return;
        }
        this.misbehave(peer);
        return;
      case 'fin-sent':
        if (peer.stackFin) {
          this.peerSeg(peer, ACK, peer.sndNxt, peer.stackMax, new Uint8Array(0));
          peer.state = 'closed'; // we sent the first FIN: our TIME-WAIT is nobody's business
          return;
        }
        if (++peer.wait > 8) {
          this.peerSeg(peer, RST, exactSeq(peer), 0, new Uint8Array(0));
          peer.state = 'closed';
          return;
        }
        if (this.chance(0.2)) this.peerSeg(peer, ACK | (this.chance(0.3) ? FIN : 0), this.chance(0.7) ? peer.sndNxt : (peer.sndNxt - 1) >>> 0, peer.stackMax, this.chance(0.3) ? this.peerData(peer) : new Uint8Array(0));
        else this.peerSeg(peer, ACK, peer.sndNxt, peer.stackMax, new Uint8Array(0), { window: this.chance(0.2) ? 0 : 65535 });
        return;
    }
  }

  /** One step of an ESTABLISHED peer: mostly valid traffic, then the games. */
  private misbehave(peer: Peer): void {
    const x = this.int(100);
    const none = new Uint8Array(0);
    if (x < 30) { // valid data, acknowledging everything the stack sent
      // Go back to what the stack acknowledged (a peer that retransmits what was refused).
      if (peer.stackAck >= 0 && peer.stackAck !== peer.sndNxt && this.chance(0.9)) peer.sndNxt = peer.stackAck;
      const data = this.peerData(peer);
      this.peerSeg(peer, ACK | PSH, peer.sndNxt, peer.stackMax, data);
      peer.sndNxt = (peer.sndNxt + data.length) >>> 0;
    } else if (x < 45) { // a pure ACK, sometimes closing or reopening the window
      if (this.chance(0.15)) peer.zeroWindow = !peer.zeroWindow;
      this.peerSeg(peer, ACK, peer.sndNxt, peer.stackMax, none, { window: peer.zeroWindow ? 0 : this.pick([65535, 65535, 1, 100, 2920]) });
    } else if (x < 50) { // data at a wrong SEQ: far ahead, or old (an overlapping retransmission with other bytes)
      const off = this.chance(0.5) ? this.u32() : -(1 + this.int(100_000));
      this.peerSeg(peer, ACK, peer.sndNxt + off, peer.stackMax, this.peerData(peer));
    } else if (x < 55) { // ACK of data never sent, or of ancient data
      const ack = this.chance(0.5) ? peer.stackMax + 1 + this.int(1_000_000) : peer.stackMax - 70_000 - this.int(1 << 30);
      this.peerSeg(peer, ACK, peer.sndNxt, ack, this.chance(0.5) ? this.peerData(peer) : none);
    } else if (x < 58) { // no ACK flag
      this.peerSeg(peer, PSH, peer.sndNxt, 0, this.peerData(peer));
    } else if (x < 62) { // RST inside the window but not at RCV.NXT: a challenge ACK (RFC 5961 §3)
      this.peerSeg(peer, RST, exactSeq(peer) + 1 + this.int(30_000), 0, none);
    } else if (x < 65) { // SYN in ESTABLISHED (RFC 5961 §4)
      this.peerSeg(peer, SYN | (this.chance(0.5) ? ACK : 0), this.chance(0.5) ? peer.sndNxt : this.u32(), peer.stackMax, none, { options: tcpOptions({ mss: 1460 }) });
    } else if (x < 68) { // data beyond the window
      this.peerSeg(peer, ACK, peer.sndNxt + 300_000 + this.int(1 << 20), peer.stackMax, this.peerData(peer));
    } else if (x < 71) { // FIN games: FIN with data, FIN at a wrong SEQ, data after FIN
      const data = this.chance(0.5) ? this.peerData(peer) : none;
      if (this.chance(0.5)) {
        this.peerSeg(peer, FIN | ACK, peer.sndNxt, peer.stackMax, data);
        peer.sndNxt = (peer.sndNxt + data.length + 1) >>> 0;
        peer.state = 'fin-sent';
        peer.wait = 0;
        if (this.chance(0.5)) this.peerSeg(peer, ACK, peer.sndNxt, peer.stackMax, this.peerData(peer)); // data after FIN
      } else {
        this.peerSeg(peer, FIN | ACK, peer.sndNxt + 1 + this.int(5000), peer.stackMax, data);
      }
    } else if (x < 74) { // urgent data
      const data = this.peerData(peer);
      this.peerSeg(peer, ACK | URG | PSH, peer.sndNxt, peer.stackMax, data, { urgent: this.int(65536) });
      peer.sndNxt = (peer.sndNxt + data.length) >>> 0;
    } else if (x < 78) { // bad timestamps (PAWS), garbage SACK blocks
      const options = this.chance(0.5)
        ? tcpOptions({ ts: [(peer.tsVal - 1_000_000_000) >>> 0, peer.tsEcr] })
        : tcpOptions({ ts: [peer.tsVal, peer.tsEcr], sack: [[this.u32(), this.u32()], [peer.stackMax - 100, peer.stackMax + 100]] });
      this.peerSeg(peer, ACK, peer.sndNxt, peer.stackMax, this.chance(0.5) ? none : this.peerData(peer), { options });
    } else if (x < 82) { // duplicate ACKs (fast retransmit on data the stack has in flight)
      for (let i = 0; i < 3; i++) this.peerSeg(peer, ACK, peer.sndNxt, peer.stackMax - 1 - this.int(2000), none);
    } else if (x < 84) { // random flags at the right place
      this.peerSeg(peer, this.int(256) & ~RST, peer.sndNxt, peer.stackMax, this.chance(0.5) ? none : this.peerData(peer));
    } else if (x < 86) { // the exact RST
      this.peerSeg(peer, RST | ACK, exactSeq(peer), peer.stackMax, none);
      peer.state = 'closed';
    } else { // plain ACK of everything, window open
      peer.zeroWindow = false;
      this.peerSeg(peer, ACK, peer.sndNxt, peer.stackMax, none);
    }
  }

  /** Resets every peer connection (at a quiet point). */
  resetPeers(): Uint8Array[] {
    this.pending.length = 0;
    for (const peer of this.peerByKey.values()) {
      if (!this.peers.includes(peer)) this.peerSeg(peer, RST, exactSeq(peer), 0, new Uint8Array(0));
    }
    for (const [k, peer] of this.peerByKey) if (!this.peers.includes(peer)) this.peerByKey.delete(k);
    for (const peer of this.peers) {
      // RFC 5961 §3.2: only an RST at exactly RCV.NXT resets; the stack's last ACK says where that is.
      if (peer.state !== 'closed') this.peerSeg(peer, RST, exactSeq(peer), 0, new Uint8Array(0));
      peer.state = 'closed';
    }
    return this.pending.splice(0);
  }

  /** Packets injected so far in the current batch (for the record of an escape). */
  clearPending(): void { this.pending.length = 0; }
}

// ------------------------------------------------------------------ the run

/** Runs the fuzzer; see the module comment. Never throws for what the stack does (it is recorded). */
export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const seed = options.seed >>> 0;
  const count = options.count ?? 1_000_000;
  const log = options.log ?? ((): void => {});
  const maxGrowth = options.maxGrowthBytes ?? 4 * 1024 * 1024;
  const quietAt = (options.quietAt ?? [0.5, 1]).map((f) => Math.min(count, Math.max(1, Math.round(f * count))));
  const r = seededRandom(seed);
  const clock = new VirtualClock();
  const probe = createProbeLink({ mtu: 1500, capture: 0 });
  const stack = await createStack({
    link: probe.link, address: formatAddress(TARGET), clock,
    tcpOptions: { isnKey: new Uint8Array(16).map((_, i) => (seed * (i + 7)) & 0xff) },
  });
  const services = await startServices(stack);
  const gen = new Generator(r);
  let sent = 0;
  let toPeerStack: Uint8Array[] | undefined;
  probe.onSend = (p) => {
    sent++;
    if (toPeerStack !== undefined) toPeerStack.push(p.slice());
    else gen.observe(p);
  };

  const escapes: FuzzEscape[] = [];
  const escapeCounts: Record<string, number> = {};
  let batch: Uint8Array[] = [];
  let injected = 0;
  const record = (where: FuzzEscape['where'], e: unknown, packets: Uint8Array[]): void => {
    const msg = e instanceof Error ? `${(e as { code?: string }).code ?? e.name}: ${e.message}` : String(e);
    const key = `${where}: ${msg}`;
    escapeCounts[key] = (escapeCounts[key] ?? 0) + 1;
    if (escapeCounts[key]! <= 3) {
      const stackLine = e instanceof Error ? (e.stack ?? '').split('\n').slice(0, 4).join(' | ') : '';
      escapes.push({ index: injected, where, error: `${msg}${stackLine ? ` [${stackLine}]` : ''}`, packetHex: packets.map(hex).join('\n') });
    }
  };
  const onUncaught = (e: unknown): void => record('uncaught', e, batch);
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  const onTimerError = (e: unknown): void => record('timer', e, batch);

  const quiet: QuietPoint[] = [];
  const failures: string[] = [];
  const checks: FuzzResult['checks'] = [];
  const start = performance.now();
  let elapsedFuzz = 0;
  try {
    let nextQuiet = 0;
    while (injected < count) {
      const n = Math.min(1 + Math.floor(r() * 32), count - injected);
      batch = [];
      for (let i = 0; i < n; i++) {
        const p = gen.next();
        batch.push(p);
        injected++;
        try {
          probe.deliver(p);
        } catch (e) {
          record('inject', e, [p]);
        }
      }
      try {
        probe.endBatch();
      } catch (e) {
        record('batchEnd', e, batch);
      }
      const x = r();
      const dt = x < 0.8 ? r() * 2 : x < 0.95 ? 10 + r() * 290 : x < 0.99 ? 1000 + r() * 4000 : 30_000 + r() * 31_000;
      clock.advance(dt, onTimerError);
      await turn();
      if (nextQuiet < quietAt.length && injected >= quietAt[nextQuiet]!) {
        nextQuiet++;
        const t0 = performance.now();
        const q = await quietPoint(stack, clock, probe, gen, injected, options.gc, onTimerError);
        quiet.push(q);
        elapsedFuzz -= performance.now() - t0;
        log(`quiet point at ${injected} packets: heapUsed ${mb(q.heapUsed)} arrayBuffers ${mb(q.arrayBuffers)} rss ${mb(q.rss)}; connections ${q.connections}, reassembly ${q.reassemblyDatagrams}/${q.reassemblyBytes} B, timers ${q.timers}`);
      }
      if (injected % 100_000 < n) log(`${injected} packets, ${Math.round(injected / ((performance.now() - start) / 1000))}/s, ${Object.keys(escapeCounts).length} distinct escapes`);
    }
    elapsedFuzz += performance.now() - start;
    batch = [];

    // ---- what the fuzz run must leave
    const afterFuzz = checkAccounting(stack.stats(), stack.ip.reassemblyUsage().datagrams === 0 ? { reassemblyFragments: 0 } : {});
    for (const v of afterFuzz.violations) failures.push(`accounting after the fuzz: ${v}`);
    const linkRx = stack.stats()['link']!['RxPackets']!;
    const ipRx = stack.stats()['ip']!['InReceives']!;
    if (linkRx !== ipRx) failures.push(`link delivered ${linkRx} packets, IP counted ${ipRx}`);
    for (const q of quiet) {
      const held: string[] = [];
      if (q.connections !== 0) held.push(`${q.connections} TCP connection(s) (${q.connectionStates.join(', ')})`);
      if (q.reassemblyDatagrams !== 0 || q.reassemblyBytes !== 0) held.push(`reassembly ${q.reassemblyDatagrams} datagrams ${q.reassemblyBytes} B`);
      if (q.outstandingPings !== 0) held.push(`${q.outstandingPings} pings`);
      if (held.length > 0) failures.push(`quiet point at ${q.packets}: the stack still holds ${held.join(', ')}`);
    }
    if (options.gc !== undefined) {
      for (let i = 1; i < quiet.length; i++) {
        const a = quiet[i - 1]!;
        const b = quiet[i]!;
        const growth = b.heapUsed + b.arrayBuffers - (a.heapUsed + a.arrayBuffers);
        if (growth > maxGrowth) failures.push(`memory grew by ${mb(growth)} between the quiet points at ${a.packets} and ${b.packets} packets (limit ${mb(maxGrowth)})`);
      }
    }

    // ---- the services still work, byte-exactly
    if (options.skipServiceChecks !== true) {
      toPeerStack = [];
      await serviceChecks(probe, clock, toPeerStack, checks, onTimerError, log);
      for (const c of checks) if (!c.ok) failures.push(`service check ${c.name}: ${c.detail}`);
    }
  } finally {
    process.off('uncaughtException', onUncaught);
    process.off('unhandledRejection', onUncaught);
    await services.close().catch(() => {});
    await stack.close();
  }
  const stats = stack.stats();
  const accounting = checkAccounting(stats, stack.ip.reassemblyUsage().datagrams === 0 ? { reassemblyFragments: 0 } : {});
  for (const v of accounting.violations) failures.push(`accounting at the end: ${v}`);
  for (const [k, v] of Object.entries(escapeCounts)) failures.push(`escaped ${v} time(s): ${k}`);
  // A layer bug the stack caught at the batch (and re-threw on the next tick) is a failure even if nothing saw it.
  const internal = stats['stack']?.['InternalErrors'] ?? 0;
  if (internal > 0) failures.push(`the stack caught ${internal} internal error(s) (stack.InternalErrors)`);
  const elapsedMs = Math.max(1, elapsedFuzz);
  return {
    seed, count, injected, sent, elapsedMs, packetsPerSecond: Math.round(injected / (elapsedMs / 1000)), virtualMs: clock.now(),
    mix: gen.mix, escapes, escapeCounts, quiet, accounting, checks, stats, failures,
    reproduce: `pnpm fuzz --seed ${seed} --count ${count}`,
  };
}

const mb = (b: number): string => `${(b / 1048576).toFixed(2)} MiB`;

/** Resets the peers, runs 30 virtual minutes of timers, collects garbage, measures. */
async function quietPoint(
  stack: Stack, clock: VirtualClock, probe: ProbeLink, gen: Generator, packets: number, gc: (() => void) | undefined, onError: (e: unknown) => void,
): Promise<QuietPoint> {
  // Let delayed ACKs out first: the resets go to the stack's latest RCV.NXT.
  for (let i = 0; i < 10; i++) {
    clock.advance(100, onError);
    await turn();
  }
  try {
    probe.injectBatch(gen.resetPeers());
  } catch (e) {
    onError(e);
  }
  const until = clock.now() + 30 * 60_000;
  while (clock.now() < until) {
    const next = Math.min(clock.nextAt(), until);
    clock.advance(Math.max(0, next - clock.now()), onError);
    await turn();
    if (clock.nextAt() === Infinity) break;
  }
  for (let i = 0; i < 4; i++) await turn();
  if (gc !== undefined) {
    gc();
    await turn();
    gc();
  }
  const m = process.memoryUsage();
  const r = stack.ip.reassemblyUsage();
  return {
    packets, virtualMs: clock.now(), heapUsed: m.heapUsed, arrayBuffers: m.arrayBuffers, external: m.external, rss: m.rss,
    connections: stack.tcpLayer.connectionCount,
    connectionStates: stack.tcpLayer.connections().slice(0, 10).map((c) => `${c.state} ${formatAddress(c.remoteAddress)}:${c.remotePort}->${c.localPort}`),
    reassemblyDatagrams: r.datagrams, reassemblyBytes: r.bytes, timers: clock.pending,
    outstandingPings: stack.icmp.outstandingPings,
  };
}

/**
 * A second stack (10.0.0.1) attached to the probe link: what it sends is injected into the
 * fuzzed stack, what the fuzzed stack sends is delivered to it. Then ping, UDP echo, TCP echo,
 * discard and HTTP, each checked byte for byte, each bounded in virtual and real time.
 */
async function serviceChecks(
  probe: ProbeLink, clock: VirtualClock, toPeer: Uint8Array[], checks: FuzzResult['checks'],
  onError: (e: unknown) => void, log: (line: string) => void,
): Promise<void> {
  const toTarget: Uint8Array[] = [];
  let rx: LinkReceiver | undefined;
  const counters: LinkStats = { RxPackets: 0, RxBytes: 0, TxPackets: 0, TxBytes: 0, TxDropped: 0, RxDropped: 0 };
  const link: Link = {
    mtu: 1500,
    send(p) { counters.TxPackets++; toTarget.push(p.slice()); return true; },
    setReceiver(receiver) { rx = receiver; },
    stats: () => ({ ...counters }),
    close() {},
  };
  const peer = await createStack({ link, address: formatAddress(PEER_STACK), clock });
  const pump = (): number => {
    let moved = 0;
    if (toTarget.length > 0) {
      const b = toTarget.splice(0);
      moved += b.length;
      try { probe.injectBatch(b); } catch (e) { onError(e); }
    }
    if (toPeer.length > 0 && rx !== undefined) {
      const b = toPeer.splice(0);
      moved += b.length;
      for (const p of b) rx.packet(p);
      rx.batchEnd?.();
    }
    return moved;
  };
  /** Drives both stacks until `p` settles; virtual time moves only when nothing else does. */
  const drive = async <T>(name: string, p: Promise<T>, virtualMs = 120_000): Promise<T | Error> => {
    let done = false;
    let out: T | Error = new Error('timed out');
    p.then((v) => { out = v; done = true; }, (e: unknown) => { out = e instanceof Error ? e : new Error(String(e)); done = true; });
    const vEnd = clock.now() + virtualMs;
    const rEnd = performance.now() + 20_000;
    let idle = 0;
    while (!done && clock.now() < vEnd && performance.now() < rEnd) {
      const moved = pump();
      await turn();
      if (moved > 0) { idle = 0; continue; }
      if (++idle < 3) continue;
      const next = clock.nextAt();
      clock.advance(next === Infinity ? 10 : Math.max(0, Math.min(next, vEnd) - clock.now()), onError);
    }
    if (!done) log(`service check ${name}: not settled (virtual ${clock.now()} ms)`);
    return out;
  };
  const check = (name: string, ok: boolean, detail: string): void => { checks.push({ name, ok, detail }); log(`check ${name}: ${ok ? 'ok' : 'FAILED'} ${detail}`); };
  const pattern = (n: number, s: number): Buffer => {
    const b = Buffer.alloc(n);
    const rr = seededRandom(s);
    for (let i = 0; i < n; i++) b[i] = Math.floor(rr() * 256);
    return b;
  };
  const targetAddr = formatAddress(TARGET);
  try {
    for (const size of [56, 4000]) {
      const res = await drive(`ping ${size}`, peer.ping(targetAddr, { size, timeout: 5000 }));
      check(`ping -s ${size}`, !(res instanceof Error), res instanceof Error ? res.message : `${res.bytes} bytes, ttl ${res.ttl}`);
    }

    for (const size of [1, 1000, 3000]) {
      const msg = pattern(size, size);
      const sock = peer.udp.createSocket('udp4');
      const got = new Promise<Buffer>((resolve) => sock.on('message', (m: Buffer) => resolve(m)));
      sock.send(msg, 7, targetAddr);
      const res = await drive(`udp ${size}`, got);
      sock.close();
      check(`udp echo ${size} B`, !(res instanceof Error) && res.equals(msg), res instanceof Error ? res.message : `${res.length} bytes back`);
    }

    {
      const msg = pattern(300_000, 7);
      const res = await drive('tcp echo', new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        const s = peer.tcp.connect({ host: targetAddr, port: 7 }, () => { s.end(msg); });
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('end', () => resolve(Buffer.concat(chunks)));
        s.on('error', reject);
      }));
      check('tcp echo 300000 B', !(res instanceof Error) && res.equals(msg), res instanceof Error ? res.message : `${res.length} bytes back`);
    }

    {
      const res = await drive('discard', new Promise<number>((resolve, reject) => {
        const s = peer.tcp.connect({ host: targetAddr, port: 9 }, () => { s.end(pattern(100_000, 9)); });
        let got = 0;
        s.on('data', (c: Buffer) => { got += c.length; });
        s.on('end', () => resolve(got));
        s.on('error', reject);
      }));
      check('tcp discard 100000 B', res === 0, res instanceof Error ? res.message : `${res} bytes back, then FIN`);
    }

    // An agent whose every connection is the peer stack's (an Agent always uses its own
    // createConnection; a request-level createConnection is ignored with `agent: false`,
    // which would open a real socket).
    class PeerAgent extends http.Agent {
      override createConnection(): import('node:net').Socket {
        return peer.tcp.connect({ host: targetAddr, port: 80 }) as unknown as import('node:net').Socket;
      }
    }
    const agent = new PeerAgent({ keepAlive: false });
    const request = (method: string, path: string, body?: Buffer): Promise<{ status: number; body: Buffer }> =>
      new Promise((resolve, reject) => {
        const req = http.request({ method, path, host: targetAddr, agent }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(body);
      });
    {
      const n = 200_000;
      const res = await drive('http get', request('GET', `/bytes/${n}`));
      let ok = !(res instanceof Error) && res.status === 200 && res.body.length === n;
      if (ok && !(res instanceof Error)) for (let i = 0; i < n; i++) if (res.body[i] !== (i & 0xff)) { ok = false; break; }
      check(`http GET /bytes/${n}`, ok, res instanceof Error ? res.message : `status ${res.status}, ${res.body.length} bytes`);
    }
    {
      const body = pattern(150_000, 80);
      const want = JSON.stringify({ bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
      const res = await drive('http post', request('POST', '/sink', body));
      check('http POST /sink 150000 B', !(res instanceof Error) && res.status === 200 && res.body.toString() === want,
        res instanceof Error ? res.message : `status ${res.status}, ${res.body.toString()}`);
    }
  } finally {
    await peer.close();
    pump();
  }
}
