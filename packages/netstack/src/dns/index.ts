/**
 * `stack.dns`: name resolution shaped like node:dns (`lookup`, `promises.lookup`,
 * `resolve4`), answered by one of three back-ends chosen by `createStack({ dns })`:
 *
 *  - a list of servers (`dns: ['10.7.0.1']`): the stub resolver of resolver.ts, its
 *    queries carried by the stack's own UDP (and TCP on truncation), its time the
 *    stack's clock (virtual in simulation);
 *  - `'host'`: node:dns itself (the host's getaddrinfo and c-ares, in the process's
 *    network namespace, not through the stack);
 *  - nothing: IP literals and `localhost` only; every other name fails with ENOTFOUND.
 *
 * With a server list or with nothing, `localhost` and `*.localhost` are 127.0.0.1 (and ::1
 * on a stack that serves IPv6) without a query (RFC 6761 §6.3). `lookup` with `family: 6` asks the servers for AAAA
 * records (RFC 3596) when the stack serves IPv6; on an IPv4-only stack no AAAA query is
 * sent and it fails with ENOTFOUND, as getaddrinfo with AI_ADDRCONFIG does on a host
 * without IPv6 addresses. `family` 0 (the default) asks for A records, and on a stack that
 * serves IPv6 for AAAA too (in parallel; IPv4 answers first unless `order: 'ipv6first'`).
 *
 * Errors are node:dns's: `lookup` fails as getaddrinfo does (`getaddrinfo ENOTFOUND
 * name` for NXDOMAIN and NODATA, `EAI_AGAIN` for timeouts and server failures, with
 * `errno`, `code`, `syscall: 'getaddrinfo'`, `hostname`, and the resolver's own code
 * in `cause`); `resolve4` as c-ares does (`queryA ETIMEOUT name`: ENOTFOUND, ENODATA,
 * ETIMEOUT, ESERVFAIL, EREFUSED, EBADRESP, ECONNREFUSED …, `syscall: 'queryA'`).
 * Callbacks always run on a later tick, never inside the stack's work.
 */
import dns from 'node:dns';
import { isIP } from 'node:net';
import { ANY, IPV6_ANY, formatAddress, parseIpAddress, type IpAddress } from '@netstack/ip';
import type { SocketHost, UdpEndpoint } from '@netstack/udp';
import { codedError, invalidArgType, invalidArgValue, outOfRange } from '../node-errors.js';
import { DnsResolver, TYPE_A, TYPE_AAAA, type DnsErrorCode, type DnsServer, type ResolverIo, type ResolverOptions, type ResolverStats, type TcpChannel } from './resolver.js';

export { DnsResolver, type DnsErrorCode, type DnsServer, type ResolverIo, type ResolverOptions, type ResolverStats } from './resolver.js';

export interface LookupOptions {
  /** 0 (any), 4 or 6; 'IPv4' / 'IPv6' accepted as node does. */
  family?: number | 'IPv4' | 'IPv6' | undefined;
  /** getaddrinfo flags (dns.ADDRCONFIG, dns.V4MAPPED, dns.ALL): validated, otherwise without effect here. */
  hints?: number | undefined;
  all?: boolean | undefined;
  verbatim?: boolean | undefined;
  order?: 'ipv4first' | 'ipv6first' | 'verbatim' | undefined;
}

export interface LookupAddress {
  address: string;
  family: number;
}

/** As node's: on an error, `address` is undefined whatever the type says (node's own types say the same). */
export type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

export interface ResolveOptions {
  /** Answer `{ address, ttl }` records instead of strings. */
  ttl?: boolean;
}

export interface RecordWithTtl {
  address: string;
  ttl: number;
}

/** Where names are resolved: servers the stub resolver asks through the stack, or the host's resolver. */
export type DnsOption = readonly string[] | 'host';

/** Options of the stub resolver, beside the server list (`createStack({ dnsOptions })`). */
export type DnsResolverOptions = Omit<ResolverOptions, 'servers'>;

export interface StackDns {
  /** node:dns.lookup over the stack: `(hostname[, options], callback)`. */
  lookup(hostname: string, callback: LookupCallback): void;
  lookup(hostname: string, options: LookupOptions | number, callback: LookupCallback): void;
  /** node:dns.resolve4: A records, `{ ttl: true }` for `{ address, ttl }`. */
  resolve4(hostname: string, callback: (err: NodeJS.ErrnoException | null, addresses?: string[] | RecordWithTtl[]) => void): void;
  resolve4(hostname: string, options: ResolveOptions, callback: (err: NodeJS.ErrnoException | null, addresses?: string[] | RecordWithTtl[]) => void): void;
  readonly promises: {
    lookup(hostname: string, options?: LookupOptions | number): Promise<LookupAddress | LookupAddress[]>;
    resolve4(hostname: string, options?: ResolveOptions): Promise<string[] | RecordWithTtl[]>;
  };
  /** The servers asked, as node:dns's getServers(): [] without servers, ['host'] with the host's resolver. */
  getServers(): string[];
  /**
   * node:dns's setServers: the stub resolver asks these from now on ('a.b.c.d', 'a.b.c.d:port',
   * IPv6 forms; [] for none), the cache is cleared, and a DHCP lease's servers no longer replace
   * them. Queries in flight finish with the servers they started with.
   */
  setServers(servers: readonly string[]): void;
  /** The stub resolver's counters (all zero with 'host' or without servers). */
  stats(): ResolverStats;
  /** Drops every cached answer. */
  clearCache(): void;
}

/** libuv's getaddrinfo errnos (uv.h): what node reports in `errno` for lookup failures. */
const UV_EAI_AGAIN = -3001;
const UV_EAI_CANCELED = -3003;
const UV_EAI_MEMORY = -3006;
const UV_EAI_NONAME = -3008;

/** node's dnsException for getaddrinfo: code, errno, syscall, hostname (lib/internal/errors.js). */
function lookupError(code: DnsErrorCode, hostname: string, query = 'queryA'): NodeJS.ErrnoException & { hostname: string } {
  let errno: number;
  let shown: string;
  switch (code) {
    case 'ENOTFOUND': case 'ENODATA': case 'EBADNAME': errno = UV_EAI_NONAME; shown = 'ENOTFOUND'; break;
    case 'ENOMEM': errno = UV_EAI_MEMORY; shown = 'EAI_MEMORY'; break;
    case 'ECANCELLED': errno = UV_EAI_CANCELED; shown = 'EAI_CANCELED'; break;
    default: errno = UV_EAI_AGAIN; shown = 'EAI_AGAIN'; // timeouts, server failures: "temporary failure"
  }
  const e = new Error(`getaddrinfo ${shown} ${hostname}`) as NodeJS.ErrnoException & { hostname: string };
  e.errno = errno;
  e.code = shown;
  e.syscall = 'getaddrinfo';
  e.hostname = hostname;
  if (shown !== code) Object.defineProperty(e, 'cause', { value: resolveError(code, query, hostname), enumerable: false, configurable: true, writable: true });
  return e;
}

/** node's dnsException for c-ares queries: `queryA CODE name`, errno undefined. */
function resolveError(code: DnsErrorCode, syscall: string, hostname: string): NodeJS.ErrnoException & { hostname: string } {
  const e = new Error(`${syscall} ${code} ${hostname}`) as NodeJS.ErrnoException & { hostname: string };
  (e as { errno?: number | undefined }).errno = undefined;
  e.code = code;
  e.syscall = syscall;
  e.hostname = hostname;
  return e;
}

const VALID_HINTS = dns.ADDRCONFIG | dns.V4MAPPED | dns.ALL;

/** What a back-end answers for a record type (A or AAAA): addresses with their TTLs, or a resolver error code. */
type Backend = (name: string, type: number, cb: (err: DnsErrorCode | undefined, addrs?: RecordWithTtl[]) => void) => void;

/** What the stack gives the DNS facade. */
export interface DnsHost {
  udp: SocketHost;
  /** Opens a TCP connection through the stack (the node:net-shaped API). */
  connectTcp(address: string, port: number): import('node:stream').Duplex;
  now(): number;
  /** Re-arm the stack's timer after the resolver's deadlines changed. */
  schedule(): void;
  /**
   * The stack's count of ref'd handles (lifetime.ts): a lookup in progress holds one,
   * as libuv's getaddrinfo request keeps Node's loop alive.
   */
  hold?(delta: 1 | -1): void;
  /** Whether the stack serves IPv6 now: then `lookup` with family 6 asks for AAAA records. */
  ipv6?(): boolean;
}

/** The resolver's timer hooks, for the stack's one timer (pollAt/poll), and close. */
export interface DnsRuntime {
  readonly api: StackDns;
  /** A DHCP lease's servers (dotted quads; [] when the lease ends): used unless the user named servers. True when applied. */
  leaseServers(servers: readonly string[]): boolean;
  pollAt(): number;
  poll(now: number): void;
  close(): void;
}

function isLocalhost(name: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  return n === 'localhost' || n.endsWith('.localhost');
}

/** Binds the resolver's io to the stack's UDP layer (one endpoint per attempt) and TCP sockets. */
function stackIo(host: DnsHost): ResolverIo {
  return {
    openUdp(localPort, server, h) {
      const dst = parseIpAddress(server.address)!;
      const udp = host.udp;
      let open = true;
      const ep: UdpEndpoint = {
        localAddr: ANY, localPort: 0, remoteAddr: ANY, remotePort: 0, reuseAddr: false, order: 0, mcTtl: 1, mcLoop: true, memberships: [],
        onDatagram: (payload, src, srcPort, now) => { if (open) h.datagram(payload, formatAddress(src), srcPort, now); return true; },
        onError: (code, now) => { if (open) h.error(code, now); },
        close: () => { if (open) { open = false; udp.unbind(ep); } },
      };
      // The wildcard of the server's family (an IPv6 server: from one of our IPv6 addresses).
      const err = udp.bind(ep, typeof dst === 'number' ? ANY : IPV6_ANY, localPort);
      if (err !== undefined) return err;
      const cerr = udp.connect(ep, dst, server.port);
      if (cerr !== undefined) { udp.unbind(ep); return cerr; }
      return {
        send: (bytes) => udp.send(ep, dst, server.port, [bytes], bytes.length),
        close: () => ep.close(),
      };
    },
    openTcp(server, h): TcpChannel | string {
      let s: import('node:stream').Duplex;
      try {
        s = host.connectTcp(server.address, server.port);
      } catch (e) {
        return (e as { code?: string }).code ?? 'ECONNREFUSED';
      }
      let ended = false;
      s.on('data', (b: Buffer) => { h.data(b, host.now()); host.schedule(); });
      s.on('error', (e: NodeJS.ErrnoException) => { if (!ended) { ended = true; h.end(e.code ?? 'ECONNRESET', host.now()); host.schedule(); } });
      s.on('close', () => { if (!ended) { ended = true; h.end(undefined, host.now()); host.schedule(); } });
      return {
        write: (bytes) => { s.write(bytes); },
        close: () => { ended = true; s.destroy(); },
      };
    },
  };
}

/** Makes `stack.dns` for a stack. */
export function createDns(option: DnsOption | undefined, resolverOptions: DnsResolverOptions, host: DnsHost): DnsRuntime {
  let resolver: DnsResolver | undefined;
  /** 'host': node:dns; else the stub resolver over `servers` (none: ENOTFOUND). */
  let mode: 'host' | 'servers' = option === 'host' ? 'host' : 'servers';
  let servers: string[] = option === 'host' ? ['host'] : [];
  /** The servers were named by the user (the `dns` option or `setServers`): a DHCP lease's do not replace them. */
  let userSet = option !== undefined;
  const notFound: Backend = (_name, _type, cb) => process.nextTick(cb, 'ENOTFOUND');
  let backend: Backend = notFound;
  const useServers = (list: DnsServer[]): void => {
    mode = 'servers';
    servers = list.map((s) => (s.port === 53 ? s.address : s.address.includes(':') ? `[${s.address}]:${s.port}` : `${s.address}:${s.port}`));
    if (list.length === 0) {
      resolver?.setServers([]);
      backend = notFound;
      return;
    }
    if (resolver !== undefined) resolver.setServers(list);
    else resolver = new DnsResolver(stackIo(host), { ...resolverOptions, servers: list });
    const r = resolver;
    backend = (name, type, cb) => {
      host.hold?.(1);
      r.resolve(name, type, host.now(), (err, answer) => {
        // The resolver may answer from inside this call or from the packet path: never run user code there.
        process.nextTick(() => { host.hold?.(-1); cb(err, answer?.addresses); });
      });
      host.schedule();
    };
  };
  if (option !== undefined && option !== 'host') useServers(option.map((text, i) => parseServer(text, i)));

  const lookup = (hostname: unknown, options: unknown, callback?: unknown): void => {
    let family = 0;
    let all = false;
    if (typeof options === 'function') { callback = options; options = undefined; }
    if (hostname !== undefined && hostname !== null && hostname !== '' && typeof hostname !== 'string') {
      throw invalidArgType('hostname', 'of type string', hostname);
    }
    if (typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback);
    if (typeof options === 'number') {
      if (options !== 0 && options !== 4 && options !== 6) throw invalidArgValue('family', options, 'must be one of: 0, 4, 6');
      family = options;
    } else if (options !== undefined && options !== null) {
      if (typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
      const o = options as LookupOptions;
      if (o.hints !== undefined && o.hints !== null) {
        if (typeof o.hints !== 'number') throw invalidArgType('options.hints', 'of type number', o.hints);
        if ((o.hints & ~VALID_HINTS) !== 0) throw codedError(TypeError, 'ERR_INVALID_ARG_VALUE', `The argument 'hints' is invalid. Received ${o.hints}`);
      }
      if (o.family !== undefined && o.family !== null) {
        if (o.family === 'IPv4') family = 4;
        else if (o.family === 'IPv6') family = 6;
        else if (o.family === 0 || o.family === 4 || o.family === 6) family = o.family;
        else throw invalidArgValue('options.family', o.family, 'must be one of: 0, 4, 6');
      }
      if (o.all !== undefined && typeof o.all !== 'boolean') throw invalidArgType('options.all', 'of type boolean', o.all);
      all = o.all === true;
    }
    const cb = callback as (err: NodeJS.ErrnoException | null, address?: string | LookupAddress[], family?: number) => void;
    const answer = (addrs: LookupAddress[]): void => {
      if (all) cb(null, addrs);
      else cb(null, addrs[0]!.address, addrs[0]!.family);
    };
    // Both families' answers in one list: IPv4 first (what glibc's RFC 6724 §6 sort gives for
    // private IPv4 beside ULA IPv6, and Node's 'ipv4first'), IPv6 first with order 'ipv6first'
    // (or the legacy verbatim: false).
    const o = typeof options === 'object' && options !== null ? options as LookupOptions : undefined;
    const ipv6First = o?.order === 'ipv6first';
    const ordered = (v4s: LookupAddress[], v6s: LookupAddress[]): LookupAddress[] => (ipv6First ? [...v6s, ...v4s] : [...v4s, ...v6s]);
    if (hostname === undefined || hostname === null || hostname === '') {
      // node: an empty hostname answers null (a connect then goes to localhost).
      process.nextTick(() => (all ? cb(null, []) : cb(null, null as unknown as string, family === 6 ? 6 : 4)));
      return;
    }
    const name = hostname as string;
    const literal = isIP(name);
    if (literal !== 0) {
      process.nextTick(answer, [{ address: name, family: literal }]);
      return;
    }
    const v6 = host.ipv6?.() === true;
    if (mode !== 'host' && isLocalhost(name)) {
      // RFC 6761 §6.3: loopback, without asking anyone (::1 too on a stack that serves IPv6).
      const v4Loop = { address: '127.0.0.1', family: 4 };
      const v6Loop = { address: '::1', family: 6 };
      if (family === 6 && !v6) process.nextTick(cb, lookupError('ENOTFOUND', name));
      else if (family === 6) process.nextTick(answer, [v6Loop]);
      else process.nextTick(answer, family === 0 && v6 ? ordered([v4Loop], [v6Loop]) : [v4Loop]);
      return;
    }
    if (mode === 'host') {
      // The host's getaddrinfo: on an IPv4-only stack IPv4 answers unless IPv6 is asked for; on a
      // dual stack family 0 takes both, in the stack's order; its errors as they are.
      const hints = o?.hints ?? 0;
      const fam = family === 0 && v6 ? 0 : family === 6 ? 6 : 4;
      dns.lookup(name, { family: fam, all: true, hints }, (err, addrs) => (err ? cb(err) : answer(fam === 0 ? ordered(addrs.filter((x) => x.family === 4), addrs.filter((x) => x.family === 6)) : addrs)));
      return;
    }
    if (family === 0 && v6) {
      // A dual stack asks both (getaddrinfo with AI_ADDRCONFIG on a host with both families),
      // in parallel; one family's failure is not the name's while the other answers.
      let a: LookupAddress[] | DnsErrorCode | undefined;
      let aaaa: LookupAddress[] | DnsErrorCode | undefined;
      const done = (): void => {
        if (a === undefined || aaaa === undefined) return;
        const v4s = typeof a === 'string' ? [] : a;
        const v6s = typeof aaaa === 'string' ? [] : aaaa;
        if (v4s.length + v6s.length > 0) answer(ordered(v4s, v6s));
        // Both failed: the A query's error names it (a missing AAAA alone is not news).
        else cb(typeof a === 'string' ? lookupError(a, name) : lookupError(aaaa as DnsErrorCode, name, 'queryAaaa'));
      };
      backend(name, TYPE_A, (err, addrs) => { a = err ?? addrs!.map((x) => ({ address: x.address, family: 4 })); done(); });
      backend(name, TYPE_AAAA, (err, addrs) => { aaaa = err ?? addrs!.map((x) => ({ address: x.address, family: 6 })); done(); });
      return;
    }
    if (family === 6) {
      // No AAAA is asked when the stack has no IPv6 address (getaddrinfo with AI_ADDRCONFIG).
      if (!v6) {
        process.nextTick(cb, lookupError('ENOTFOUND', name));
        return;
      }
      backend(name, TYPE_AAAA, (err, addrs) => {
        if (err !== undefined) cb(lookupError(err, name, 'queryAaaa'));
        else answer(addrs!.map((a) => ({ address: a.address, family: 6 })));
      });
      return;
    }
    backend(name, TYPE_A, (err, addrs) => {
      if (err !== undefined) cb(lookupError(err, name));
      else answer(addrs!.map((a) => ({ address: a.address, family: 4 })));
    });
  };

  const resolve4 = (hostname: unknown, options: unknown, callback?: unknown): void => {
    if (typeof options === 'function') { callback = options; options = undefined; }
    if (typeof hostname !== 'string') throw invalidArgType('name', 'of type string', hostname);
    if (typeof callback !== 'function') throw invalidArgType('callback', 'of type function', callback);
    const withTtl = options !== undefined && options !== null && (options as ResolveOptions).ttl === true;
    const cb = callback as (err: NodeJS.ErrnoException | null, addresses?: string[] | RecordWithTtl[]) => void;
    if (mode === 'host') {
      dns.resolve4(hostname, { ttl: withTtl }, cb as (err: NodeJS.ErrnoException | null, a: string[] | RecordWithTtl[]) => void);
      return;
    }
    if (resolver === undefined) {
      process.nextTick(cb, resolveError('ECONNREFUSED', 'queryA', hostname));
      return;
    }
    backend(hostname, TYPE_A, (err, addrs) => {
      if (err !== undefined) cb(resolveError(err, 'queryA', hostname));
      else cb(null, withTtl ? addrs! : addrs!.map((a) => a.address));
    });
  };

  const api: StackDns = {
    lookup: lookup as StackDns['lookup'],
    resolve4: resolve4 as StackDns['resolve4'],
    promises: {
      lookup: (hostname, options) => new Promise((res, rej) => {
        lookup(hostname, options ?? {}, (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => {
          if (err) rej(err);
          else res(Array.isArray(address) ? address : { address: address!, family: family! });
        });
      }),
      resolve4: (hostname, options) => new Promise((res, rej) => {
        resolve4(hostname, options ?? {}, (err: NodeJS.ErrnoException | null, a?: string[] | RecordWithTtl[]) => (err ? rej(err) : res(a!)));
      }),
    },
    getServers: () => [...servers],
    setServers: (list: unknown) => {
      if (!Array.isArray(list)) throw invalidArgType('servers', 'an instance of Array', list);
      const parsed = list.map((text, i) => parseServer(text, i, 'servers'));
      userSet = true;
      useServers(parsed);
    },
    stats: () => (resolver ?? idle()).stats(),
    clearCache: () => resolver?.clearCache(),
  };
  return {
    api,
    leaseServers: (list) => {
      if (userSet) return false;
      useServers(list.map((text, i) => parseServer(text, i, 'lease.dns')));
      return true;
    },
    pollAt: () => resolver?.pollAt() ?? Infinity,
    poll: (now) => resolver?.poll(now),
    close: () => resolver?.close(),
  };
}

/** Throws ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE for a `dns` option createStack cannot use. */
export function checkDnsOption(option: unknown): void {
  if (option === undefined || option === 'host') return;
  if (!Array.isArray(option)) throw invalidArgType('options.dns', "an array of server addresses or 'host'", option);
  option.forEach((text, i) => parseServer(text, i));
}

/**
 * Checks createStack's `dnsOptions` before anything is opened: every bound a number in its
 * range (a NaN timeout never fired, so its query never ended), `randomInt` a function,
 * `portRange` [lo, hi] inside 1..65535.
 */
export function checkDnsResolverOptions(options: unknown): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object') throw invalidArgType('options.dnsOptions', 'of type object', options);
  const o = options as Record<string, unknown>;
  const check = (key: string, min: number, integer: boolean): void => {
    const v = o[key];
    if (v === undefined) return;
    const name = `options.dnsOptions.${key}`;
    if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v);
    if (!Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) throw outOfRange(name, `${integer ? 'an integer' : 'a finite number'} ${min === 0 ? '>= 0' : min === 1 && integer ? '>= 1' : '> 0'}`, v);
  };
  check('timeout', Number.MIN_VALUE, false);
  for (const k of ['tries', 'maxQueries', 'maxWaiters']) check(k, 1, true);
  for (const k of ['maxCacheEntries', 'maxCacheBytes', 'maxTtl', 'maxNegativeTtl']) check(k, 0, false);
  if (o.randomInt !== undefined && typeof o.randomInt !== 'function') throw invalidArgType('options.dnsOptions.randomInt', 'of type function', o.randomInt);
  const r = o.portRange;
  if (r !== undefined) {
    if (!Array.isArray(r) || r.length !== 2) throw invalidArgType('options.dnsOptions.portRange', 'an array [low, high]', r);
    const [lo, hi] = r as unknown[];
    if (typeof lo !== 'number' || typeof hi !== 'number' || !Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 65535 || lo > hi) {
      throw outOfRange('options.dnsOptions.portRange', 'two integers 1 <= low <= high <= 65535', JSON.stringify(r));
    }
  }
}

let idleResolver: DnsResolver | undefined;
/** A resolver that never runs, for the counters of a stack without one (all zero). */
function idle(): DnsResolver {
  return (idleResolver ??= new DnsResolver({ openUdp: () => 'ENETUNREACH', openTcp: () => 'ENETUNREACH' }, { servers: [] }));
}

/** 'a.b.c.d', 'a.b.c.d:port', an IPv6 literal, or '[IPv6]:port' (node:dns setServers' forms); RFC 5952 text kept. */
function parseServer(text: unknown, i: number, name = 'options.dns'): DnsServer {
  if (typeof text !== 'string') throw invalidArgType(`${name}[${i}]`, 'of type string', text);
  const m = /^(\d+\.\d+\.\d+\.\d+)(?::(\d+))?$/.exec(text) ?? /^\[([0-9a-fA-F:.]+)\](?::(\d+))?$/.exec(text) ?? /^([0-9a-fA-F:.]*:[0-9a-fA-F:.]*)()$/.exec(text);
  const addr: IpAddress | undefined = m === null ? undefined : parseIpAddress(m[1]!);
  const port = m?.[2] === undefined || m[2] === '' ? 53 : Number(m[2]);
  if (m === null || addr === undefined || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw invalidArgValue(`${name}[${i}]`, text, "must be an IPv4 or IPv6 address, optionally with ':port' (IPv6 as '[addr]:port')");
  }
  return { address: formatAddress(addr), port };
}
