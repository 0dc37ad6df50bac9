/**
 * A DNS stub resolver (RFC 1035 §7, RFC 1123 §6.1.3) as a state machine: it reads no
 * clock and arms no timer. Time is an argument (`resolve(…, now)`, `poll(now)`), and
 * `pollAt()` says when it next needs to run; the facade (stack.ts) folds that into the
 * stack's one timer. Bytes leave and arrive through `ResolverIo` (dns/index.ts binds it to the
 * stack's own UDP and TCP).
 *
 * One query per (name, type) at a time; later askers of the same question wait on it.
 * A query walks a fixed list of attempts: round r = 0 … tries-1, each server in order,
 * attempt timeout `timeout · 2^r` (c-ares's back-off). An attempt ends early on an
 * answer, on SERVFAIL / NOTIMP / REFUSED (the next server is asked at once, as c-ares
 * does), or on an ICMP port unreachable from the server (ECONNREFUSED). When every
 * attempt is spent, the query fails with the last attempt's error (ETIMEOUT when it
 * timed out).
 *
 * Transport: UDP first, each attempt from a fresh local port chosen at random with a
 * fresh random ID (RFC 5452 §4, §9.2). A response is accepted only when it comes from
 * the server's address and port, carries the ID, QR set, opcode 0 and echoes the
 * question (name case-insensitively, type, class: RFC 5452 §9.1); anything else,
 * including what does not parse, is dropped and counted and the attempt keeps waiting.
 * A truncated answer (TC, RFC 1035 §4.2.1; RFC 7766 §5) is asked again over TCP to the same
 * server, messages framed with a 2-octet length (RFC 1035 §4.2.2).
 *
 * Cache: answers are kept for their smallest TTL along the CNAME chain (capped at
 * `maxTtl`); NXDOMAIN and NODATA for the SOA's negative TTL (RFC 2308 §5: min of the SOA
 * record's TTL and its MINIMUM, capped at `maxNegativeTtl`), not at all without an SOA.
 * Bounded both in entries and in bytes (an estimate of what each entry holds in the heap: see
 * `entryCost`), least recently used evicted first.
 */
import { randomInt as cryptoRandomInt } from 'node:crypto';
import {
  CLASS_IN,
  RCODE_FORMERR,
  RCODE_NOERROR,
  RCODE_NOTIMP,
  RCODE_NXDOMAIN,
  RCODE_REFUSED,
  RCODE_SERVFAIL,
  TYPE_A,
  TYPE_AAAA,
  TYPE_CNAME,
  TYPE_SOA,
  emitDnsMessage,
  nameToLabels,
  parseDnsMessage,
  queryMessage,
  sameName,
  type DnsMessage,
} from './wire.js';

/** node:dns error codes the resolver produces. */
export type DnsErrorCode =
  | 'ENOTFOUND' // NXDOMAIN (or a name that cannot be asked)
  | 'ENODATA' // the name exists, no record of the type
  | 'ETIMEOUT'
  | 'ESERVFAIL'
  | 'EREFUSED'
  | 'ENOTIMP'
  | 'EFORMERR'
  | 'EBADRESP'
  | 'ECONNREFUSED'
  | 'EBADNAME'
  | 'ENOMEM' // the table of queries in flight is full
  | 'ECANCELLED';

export interface DnsAnswer {
  /** Addresses in the order the server gave them, each with the seconds it may still be used. */
  addresses: { address: string; ttl: number }[];
}

export type ResolveCallback = (err: DnsErrorCode | undefined, answer?: DnsAnswer) => void;

export interface DnsServer {
  /** IPv4 address (dotted) or IPv6 address (RFC 5952 text). */
  address: string;
  port: number;
}

/** A UDP channel the io opened for one attempt (a local port, datagrams to the server). */
export interface UdpChannel {
  send(bytes: Uint8Array): string | undefined;
  close(): void;
}

/** A TCP channel to a server; `write` queues, the io calls back with bytes and the end. */
export interface TcpChannel {
  write(bytes: Uint8Array): void;
  close(): void;
}

export interface UdpHandlers {
  datagram(bytes: Uint8Array, srcAddress: string, srcPort: number, now: number): void;
  /** An ICMP error for the server (ECONNREFUSED and friends). */
  error(code: string, now: number): void;
}

export interface TcpHandlers {
  data(bytes: Uint8Array, now: number): void;
  /** The connection ended (code: an errno such as ECONNREFUSED, or undefined for a clean end). */
  end(code: string | undefined, now: number): void;
}

/** How the resolver reaches the network. Both calls return an errno code on failure. */
export interface ResolverIo {
  /** Binds UDP `localPort` (EADDRINUSE when taken), connected to `server`. */
  openUdp(localPort: number, server: DnsServer, handlers: UdpHandlers): UdpChannel | string;
  openTcp(server: DnsServer, handlers: TcpHandlers): TcpChannel | string;
}

export interface ResolverOptions {
  servers: readonly DnsServer[];
  /** First attempt's timeout, ms (default 2000, c-ares's); doubled each round. */
  timeout?: number;
  /** Rounds over the server list (default 4, node:dns's `tries`). */
  tries?: number;
  /** Cache bound in entries (default 1000; 0 disables the cache). */
  maxCacheEntries?: number;
  /** Cache bound in estimated bytes (default 1 MiB). */
  maxCacheBytes?: number;
  /** Longest a positive answer is kept, s (default 86400). */
  maxTtl?: number;
  /** Longest a negative answer is kept, s (default 10800: RFC 2308 §5's upper end). */
  maxNegativeTtl?: number;
  /** Distinct questions in flight at once (default 256); beyond, ENOMEM. */
  maxQueries?: number;
  /** Askers waiting on one question (default 1024); beyond, ENOMEM. */
  maxWaiters?: number;
  /** Uniform random integer in [0, n) (default crypto.randomInt): IDs and ports (RFC 5452 §9.2). */
  randomInt?: (n: number) => number;
  /** Local ports to choose from (default [49152, 65535]). */
  portRange?: readonly [number, number];
}

/** Counters, named like /proc/net/snmp's. */
export interface ResolverStats {
  Queries: number;
  OutUdp: number;
  OutTcp: number;
  Retransmits: number;
  Timeouts: number;
  TcpFallbacks: number;
  InResponses: number;
  /** Datagrams dropped: could not be parsed. */
  InMalformed: number;
  /** Dropped: the ID was not the query's. */
  InIdMismatch: number;
  /** Dropped: the question was not echoed, QR clear or opcode not 0. */
  InQuestionMismatch: number;
  /** Dropped: not from the server's address and port. */
  InWrongSource: number;
  InServfail: number;
  InRefused: number;
  InNxdomain: number;
  CacheHits: number;
  CacheNegativeHits: number;
  CacheMisses: number;
  CacheEvictions: number;
  CacheEntries: number;
  CacheBytes: number;
  QueriesInFlight: number;
  Failures: number;
}

type Phase = 'udp' | 'tcp';

interface Attempt {
  server: DnsServer;
  timeout: number;
}

interface Query {
  readonly key: string;
  readonly name: string;
  readonly type: number;
  readonly waiters: ResolveCallback[];
  attempts: Attempt[];
  next: number;
  phase: Phase;
  server: DnsServer | undefined;
  id: number;
  deadline: number;
  udp: UdpChannel | undefined;
  tcp: TcpChannel | undefined;
  tcpBuf: Uint8Array | undefined;
  tcpLen: number;
  lastError: DnsErrorCode;
  /** Bumped per attempt: callbacks from an older attempt's channel are ignored. */
  gen: number;
  done: boolean;
}

interface CacheEntry {
  expires: number;
  /** Undefined for a negative entry. */
  answer: { address: string; expires: number }[] | undefined;
  error: DnsErrorCode | undefined;
  bytes: number;
}

/** Estimated heap bytes of a cache entry: key string, Map slot, entry object, address strings and records. */
export function entryCost(key: string, addresses: readonly { address: string }[] | undefined): number {
  let n = 200 + 2 * key.length;
  if (addresses !== undefined) for (const a of addresses) n += 72 + 2 * a.address.length;
  return n;
}

const MAX_CNAME_CHAIN = 16;
const TCP_MAX_MESSAGE = 65535;

export class DnsResolver {
  /** The servers asked, in order (replaced by `setServers`). */
  servers: readonly DnsServer[];
  private readonly timeout: number;
  private readonly tries: number;
  private readonly maxCacheEntries: number;
  private readonly maxCacheBytes: number;
  private readonly maxTtl: number;
  private readonly maxNegativeTtl: number;
  private readonly maxQueries: number;
  private readonly maxWaiters: number;
  private readonly randomInt: (n: number) => number;
  private readonly portLow: number;
  private readonly portCount: number;
  private readonly queries = new Map<string, Query>();
  private readonly cache = new Map<string, CacheEntry>();
  private cacheBytes = 0;
  private closed = false;
  private readonly counters: ResolverStats = {
    Queries: 0, OutUdp: 0, OutTcp: 0, Retransmits: 0, Timeouts: 0, TcpFallbacks: 0, InResponses: 0, InMalformed: 0,
    InIdMismatch: 0, InQuestionMismatch: 0, InWrongSource: 0, InServfail: 0, InRefused: 0, InNxdomain: 0,
    CacheHits: 0, CacheNegativeHits: 0, CacheMisses: 0, CacheEvictions: 0, CacheEntries: 0, CacheBytes: 0,
    QueriesInFlight: 0, Failures: 0,
  };

  constructor(private readonly io: ResolverIo, options: ResolverOptions) {
    this.servers = options.servers.map((s) => ({ ...s }));
    this.timeout = options.timeout ?? 2000;
    this.tries = options.tries ?? 4;
    this.maxCacheEntries = options.maxCacheEntries ?? 1000;
    this.maxCacheBytes = options.maxCacheBytes ?? 1024 * 1024;
    this.maxTtl = options.maxTtl ?? 86400;
    this.maxNegativeTtl = options.maxNegativeTtl ?? 10800;
    this.maxQueries = options.maxQueries ?? 256;
    this.maxWaiters = options.maxWaiters ?? 1024;
    if (options.randomInt !== undefined) this.randomInt = options.randomInt;
    else this.randomInt = defaultRandomInt;
    const [lo, hi] = options.portRange ?? [49152, 65535];
    this.portLow = lo;
    this.portCount = hi - lo + 1;
  }

  stats(): ResolverStats {
    return { ...this.counters, CacheEntries: this.cache.size, CacheBytes: this.cacheBytes, QueriesInFlight: this.queries.size };
  }

  /**
   * Asks for records of `type` (A; AAAA once the stack has IPv6) at `name`. `cb` is
   * called exactly once, possibly from inside this call (a cache hit): the facade
   * defers it. Returns nothing to cancel; `close()` fails everything pending.
   */
  resolve(name: string, type: number, now: number, cb: ResolveCallback): void {
    if (this.closed) { cb('ECANCELLED'); return; }
    const canonical = name.endsWith('.') ? name.slice(0, -1) : name;
    if (nameToLabels(canonical) === undefined || canonical === '') { cb('EBADNAME'); return; }
    const key = `${type}:${canonical.toLowerCase()}`;
    const hit = this.fromCache(key, now);
    if (hit !== undefined) { hit(cb); return; }
    this.counters.CacheMisses++;
    const running = this.queries.get(key);
    if (running !== undefined) {
      if (running.waiters.length >= this.maxWaiters) { cb('ENOMEM'); return; }
      running.waiters.push(cb);
      return;
    }
    if (this.servers.length === 0) { cb('ECONNREFUSED'); return; }
    if (this.queries.size >= this.maxQueries) { cb('ENOMEM'); return; }
    const attempts: Attempt[] = [];
    for (let r = 0; r < this.tries; r++) for (const server of this.servers) attempts.push({ server, timeout: this.timeout * 2 ** r });
    const q: Query = {
      key, name: canonical, type, waiters: [cb], attempts, next: 0, phase: 'udp', server: undefined, id: 0,
      deadline: Infinity, udp: undefined, tcp: undefined, tcpBuf: undefined, tcpLen: 0, lastError: 'ETIMEOUT', gen: 0, done: false,
    };
    this.queries.set(key, q);
    this.counters.Queries++;
    this.nextAttempt(q, now);
  }

  /** The earliest deadline of any query in flight, or Infinity. */
  pollAt(): number {
    let at = Infinity;
    for (const q of this.queries.values()) if (q.deadline < at) at = q.deadline;
    return at;
  }

  /** Expires attempts whose deadline has passed (RFC 1035 §7.2: retransmission). */
  poll(now: number): void {
    for (const q of [...this.queries.values()]) {
      if (q.done || q.deadline > now) continue;
      this.counters.Timeouts++;
      q.lastError = 'ETIMEOUT';
      this.nextAttempt(q, now);
    }
  }

  /** Fails everything pending with ECANCELLED and forgets the cache. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const q of [...this.queries.values()]) this.finish(q, 'ECANCELLED', undefined);
    this.cache.clear();
    this.cacheBytes = 0;
  }

  /** Drops every cached answer. */
  clearCache(): void {
    this.cache.clear();
    this.cacheBytes = 0;
  }

  /**
   * Replaces the servers (node:dns setServers; a DHCP lease's option 6): new queries ask
   * these, queries in flight finish with the attempts they planned. The cache is cleared:
   * its answers came from the old servers (often another network).
   */
  setServers(servers: readonly DnsServer[]): void {
    this.servers = servers.map((s) => ({ ...s }));
    this.clearCache();
  }

  // ---- attempts -----------------------------------------------------------------

  private closeChannels(q: Query): void {
    q.udp?.close();
    q.tcp?.close();
    q.udp = undefined;
    q.tcp = undefined;
    q.tcpBuf = undefined;
    q.tcpLen = 0;
  }

  /** Starts the next attempt over UDP, or fails the query when none is left. */
  private nextAttempt(q: Query, now: number): void {
    for (;;) {
      this.closeChannels(q);
      q.gen++;
      const a = q.attempts[q.next++];
      if (a === undefined) { this.finish(q, q.lastError, undefined); return; }
      if (q.next > 1) this.counters.Retransmits++;
      q.phase = 'udp';
      q.server = a.server;
      q.id = this.randomInt(0x10000);
      q.deadline = now + a.timeout;
      const gen = q.gen;
      const handlers: UdpHandlers = {
        datagram: (bytes, src, sport, t) => { if (q.gen === gen && !q.done) this.onUdp(q, bytes, src, sport, t); },
        error: (code, t) => { if (q.gen === gen && !q.done) this.onUdpError(q, code, t); },
      };
      // RFC 5452 §9.2: a random source port per query; a few draws, then any free port.
      let ch: UdpChannel | string = 'EADDRINUSE';
      for (let i = 0; i < 8 && ch === 'EADDRINUSE'; i++) ch = this.io.openUdp(this.portLow + this.randomInt(this.portCount), a.server, handlers);
      if (ch === 'EADDRINUSE') ch = this.io.openUdp(0, a.server, handlers);
      if (typeof ch === 'string') { q.lastError = 'ECONNREFUSED'; continue; }
      q.udp = ch;
      const err = ch.send(emitDnsMessage(queryMessage(q.id, q.name, q.type)));
      if (err !== undefined) { q.lastError = 'ECONNREFUSED'; continue; }
      this.counters.OutUdp++;
      return;
    }
  }

  private onUdpError(q: Query, _code: string, now: number): void {
    // ICMP port/host unreachable from the server: this attempt is over (c-ares: ECONNREFUSED).
    q.lastError = 'ECONNREFUSED';
    this.nextAttempt(q, now);
  }

  private onUdp(q: Query, bytes: Uint8Array, src: string, sport: number, now: number): void {
    const s = q.server!;
    if (src !== s.address || sport !== s.port) { this.counters.InWrongSource++; return; }
    const m = this.validate(q, bytes);
    if (m === undefined) return; // dropped and counted; the attempt keeps waiting
    if (m.tc) {
      // RFC 1035 §4.2.1, RFC 7766 §5: the whole answer did not fit; ask again over TCP.
      this.counters.TcpFallbacks++;
      this.startTcp(q, now);
      return;
    }
    this.onResponse(q, m, now);
  }

  private startTcp(q: Query, now: number): void {
    this.closeChannels(q);
    q.gen++;
    const gen = q.gen;
    q.phase = 'tcp';
    q.id = this.randomInt(0x10000);
    q.deadline = now + q.attempts[q.next - 1]!.timeout;
    const ch = this.io.openTcp(q.server!, {
      data: (bytes, t) => { if (q.gen === gen && !q.done) this.onTcpData(q, bytes, t); },
      end: (code, t) => {
        if (q.gen !== gen || q.done) return;
        // Refused or reset: the server cannot be reached; a clean close before a whole answer: a bad response.
        q.lastError = code === undefined ? 'EBADRESP' : 'ECONNREFUSED';
        this.nextAttempt(q, t);
      },
    });
    if (typeof ch === 'string') { q.lastError = 'ECONNREFUSED'; this.nextAttempt(q, now); return; }
    q.tcp = ch;
    const msg = emitDnsMessage(queryMessage(q.id, q.name, q.type));
    const framed = new Uint8Array(2 + msg.length);
    framed[0] = msg.length >> 8;
    framed[1] = msg.length & 0xff;
    framed.set(msg, 2);
    ch.write(framed);
    this.counters.OutTcp++;
  }

  /** RFC 1035 §4.2.2: each message is preceded by its length in two octets. */
  private onTcpData(q: Query, bytes: Uint8Array, now: number): void {
    let buf = q.tcpBuf;
    const need = q.tcpLen + bytes.length;
    if (buf === undefined || buf.length < need) {
      const grown = new Uint8Array(Math.min(2 + TCP_MAX_MESSAGE, Math.max(need, 512)));
      if (buf !== undefined) grown.set(buf.subarray(0, q.tcpLen));
      buf = grown;
      q.tcpBuf = buf;
    }
    const take = Math.min(bytes.length, buf.length - q.tcpLen);
    buf.set(bytes.subarray(0, take), q.tcpLen);
    q.tcpLen += take;
    if (q.tcpLen < 2) return;
    const len = (buf[0]! << 8) | buf[1]!;
    if (q.tcpLen < 2 + len) return;
    const m = this.validate(q, buf.subarray(2, 2 + len));
    if (m === undefined) {
      // On a stream a bad answer cannot be skipped to wait for a good one: this attempt failed.
      q.lastError = 'EBADRESP';
      this.nextAttempt(q, now);
      return;
    }
    this.onResponse(q, m, now);
  }

  /** RFC 5452 §9.1 and RFC 1035 §7.3: the response matches the query in flight, or it is dropped and counted. */
  private validate(q: Query, bytes: Uint8Array): DnsMessage | undefined {
    const m = parseDnsMessage(bytes);
    const c = this.counters;
    if (typeof m === 'string') { c.InMalformed++; return undefined; }
    if (m.id !== q.id) { c.InIdMismatch++; return undefined; }
    const qq = m.questions[0];
    if (!m.qr || m.opcode !== 0 || m.questions.length !== 1 || qq === undefined || !sameName(qq.name, q.name) || qq.type !== q.type || qq.class !== CLASS_IN) {
      // A FORMERR may come back without the question (RFC 6891 §7): still ours by ID, source and port.
      if (m.qr && m.rcode === RCODE_FORMERR && m.questions.length === 0) return m;
      c.InQuestionMismatch++;
      return undefined;
    }
    c.InResponses++;
    return m;
  }

  private onResponse(q: Query, m: DnsMessage, now: number): void {
    const c = this.counters;
    switch (m.rcode) {
      case RCODE_NOERROR: break;
      case RCODE_NXDOMAIN: {
        c.InNxdomain++;
        this.storeNegative(q, m, 'ENOTFOUND', now);
        this.finish(q, 'ENOTFOUND', undefined);
        return;
      }
      case RCODE_SERVFAIL: c.InServfail++; q.lastError = 'ESERVFAIL'; this.nextAttempt(q, now); return;
      case RCODE_REFUSED: c.InRefused++; q.lastError = 'EREFUSED'; this.nextAttempt(q, now); return;
      case RCODE_NOTIMP: q.lastError = 'ENOTIMP'; this.nextAttempt(q, now); return;
      case RCODE_FORMERR: q.lastError = 'EFORMERR'; this.nextAttempt(q, now); return;
      default: q.lastError = 'EBADRESP'; this.nextAttempt(q, now); return;
    }
    // Follow the CNAME chain from the question's name inside the answer section (RFC 1034 §3.6.2).
    let owner = q.name;
    let ttl = Infinity;
    for (let hop = 0; hop < MAX_CNAME_CHAIN; hop++) {
      const cname = m.answers.find((r) => r.type === TYPE_CNAME && r.class === CLASS_IN && sameName(r.name, owner));
      if (cname === undefined || cname.data.kind !== 'NAME') break;
      ttl = Math.min(ttl, cname.ttl);
      owner = cname.data.name;
    }
    const addresses: { address: string; ttl: number }[] = [];
    for (const r of m.answers) {
      if (r.type !== q.type || r.class !== CLASS_IN || !sameName(r.name, owner)) continue;
      if (r.data.kind !== 'A' && r.data.kind !== 'AAAA') continue;
      addresses.push({ address: r.data.address, ttl: Math.min(r.ttl, ttl, this.maxTtl) });
    }
    if (addresses.length === 0) {
      // NODATA (RFC 2308 §2.2): the name exists, the type does not.
      this.storeNegative(q, m, 'ENODATA', now);
      this.finish(q, 'ENODATA', undefined);
      return;
    }
    const minTtl = Math.min(...addresses.map((a) => a.ttl));
    this.store(q.key, now + minTtl * 1000, addresses.map((a) => ({ address: a.address, expires: now + a.ttl * 1000 })), undefined);
    this.finish(q, undefined, { addresses });
  }

  private finish(q: Query, err: DnsErrorCode | undefined, answer: DnsAnswer | undefined): void {
    if (q.done) return;
    q.done = true;
    q.deadline = Infinity;
    this.closeChannels(q);
    q.gen++;
    this.queries.delete(q.key);
    if (err !== undefined) this.counters.Failures++;
    for (const cb of q.waiters) {
      if (answer === undefined) cb(err);
      else cb(undefined, { addresses: answer.addresses.map((a) => ({ ...a })) });
    }
  }

  // ---- cache --------------------------------------------------------------------

  private fromCache(key: string, now: number): ((cb: ResolveCallback) => void) | undefined {
    const e = this.cache.get(key);
    if (e === undefined) return undefined;
    if (e.expires <= now) {
      this.drop(key, e);
      return undefined;
    }
    // Least recently used goes first: a hit moves to the back of the Map's order.
    this.cache.delete(key);
    this.cache.set(key, e);
    if (e.answer === undefined) {
      this.counters.CacheNegativeHits++;
      const err = e.error!;
      return (cb) => cb(err);
    }
    this.counters.CacheHits++;
    const addresses = e.answer
      .filter((a) => a.expires > now)
      .map((a) => ({ address: a.address, ttl: Math.max(0, Math.floor((a.expires - now) / 1000)) }));
    return (cb) => cb(undefined, { addresses });
  }

  private storeNegative(q: Query, m: DnsMessage, err: DnsErrorCode, now: number): void {
    // RFC 2308 §5: the SOA in the authority section gives the negative TTL; without one, nothing is cached.
    const soa = m.authorities.find((r) => r.type === TYPE_SOA && r.data.kind === 'SOA');
    if (soa === undefined || soa.data.kind !== 'SOA') return;
    const ttl = Math.min(soa.ttl, soa.data.soa.minimum, this.maxNegativeTtl);
    if (ttl <= 0) return;
    this.store(q.key, now + ttl * 1000, undefined, err);
  }

  private store(key: string, expires: number, answer: CacheEntry['answer'], error: DnsErrorCode | undefined): void {
    if (this.maxCacheEntries === 0 || expires <= 0) return;
    const old = this.cache.get(key);
    if (old !== undefined) this.drop(key, old);
    const bytes = entryCost(key, answer);
    if (bytes > this.maxCacheBytes) return;
    // Evict least recently used until the new entry fits both bounds.
    for (const [k, e] of this.cache) {
      if (this.cache.size < this.maxCacheEntries && this.cacheBytes + bytes <= this.maxCacheBytes) break;
      this.drop(k, e);
      this.counters.CacheEvictions++;
    }
    this.cache.set(key, { expires, answer, error, bytes });
    this.cacheBytes += bytes;
  }

  private drop(key: string, e: CacheEntry): void {
    this.cache.delete(key);
    this.cacheBytes -= e.bytes;
  }
}

function defaultRandomInt(n: number): number {
  return cryptoRandomInt(n);
}

export { TYPE_A, TYPE_AAAA };
