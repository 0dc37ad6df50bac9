/**
 * The wg-quick configuration format (wg-quick(8), wg(8) "CONFIGURATION FILE FORMAT"): an INI
 * file with one `[Interface]` and any number of `[Peer]` sections. Keys are case-insensitive
 * (as wg's config.c and wg-quick's `${key,,}`), `#` starts a comment, list values are
 * comma-separated and a repeated list key adds to the list (AllowedIPs, Address).
 *
 * Read here: `[Interface] PrivateKey, Address, ListenPort, MTU`, `[Peer] PublicKey,
 * PresharedKey, AllowedIPs, Endpoint, PersistentKeepalive`. wg-quick's other keys (DNS,
 * Table, PreUp, PostUp, PreDown, PostDown, SaveConfig, FwMark) are accepted and not acted
 * on: each one is listed in `ignored` with its line, so a caller can say so. Anything else is
 * an error, as is a malformed value: `WgConfigError` with the 1-based line number.
 */
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export interface WgEndpoint {
  /** An IP literal, or a host name to resolve (as wg does, once). */
  host: string;
  port: number;
}

export interface WgPeerConfig {
  publicKey: string;
  presharedKey?: string;
  /** Prefixes with host bits cleared (as wg shows them): '10.100.0.2/32', 'fd00::/64'. */
  allowedIPs: string[];
  endpoint?: WgEndpoint;
  /** Seconds, 1..65535; absent when off. */
  persistentKeepalive?: number;
}

export interface WgConfig {
  privateKey: string;
  /** The interface addresses with their prefix length, as written: '10.100.0.1/24', 'fd00:100::1/64'. */
  addresses: string[];
  listenPort?: number;
  mtu?: number;
  peers: WgPeerConfig[];
  /** wg-quick keys accepted but not acted on, with their line. */
  ignored: Array<{ key: string; line: number }>;
}

export class WgConfigError extends Error {
  readonly line: number;
  constructor(line: number, message: string) {
    super(line > 0 ? `line ${line}: ${message}` : message);
    this.name = 'WgConfigError';
    this.line = line;
  }
}

const IGNORED_KEYS = new Set(['dns', 'table', 'preup', 'postup', 'predown', 'postdown', 'saveconfig', 'fwmark']);

/** A WireGuard key: base64 of exactly 32 bytes (44 characters, one '=' of padding). */
function key(text: string, line: number, what: string): string {
  if (!/^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/.test(text)) throw new WgConfigError(line, `${what} must be 32 bytes in base64 (44 characters), got '${text}'`);
  return text;
}

function integer(text: string, line: number, what: string, min: number, max: number): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) throw new WgConfigError(line, `${what} must be an integer in ${min}..${max}, got '${text}'`);
  return Number(text);
}

function list(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** A CIDR (an address alone is /32 or /128), checked; `mask` clears the host bits. */
export function parseCidr(text: string, line: number, what: string, mask: boolean): { address: string; length: number; family: 4 | 6; text: string } {
  const [addr = '', len, extra] = text.split('/');
  const family = isIP(addr);
  if (family === 0 || extra !== undefined || (len !== undefined && !/^\d+$/.test(len))) throw new WgConfigError(line, `${what}: '${text}' is not an IPv4 or IPv6 address with an optional /prefix`);
  const max = family === 4 ? 32 : 128;
  const length = len === undefined ? max : Number(len);
  if (length > max) throw new WgConfigError(line, `${what}: prefix length ${length} is more than ${max} in '${text}'`);
  let address = addr;
  if (mask) {
    const b = ipaddr.parse(addr).toByteArray();
    for (let i = 0; i < b.length; i++) {
      const keep = Math.max(0, Math.min(8, length - 8 * i));
      b[i] = b[i]! & ((0xff00 >> keep) & 0xff);
    }
    address = ipaddr.fromByteArray(b).toString();
  }
  return { address, length, family: family as 4 | 6, text: `${address}/${length}` };
}

/** `host:port`, `[v6]:port` (wg's form for IPv6). */
function endpoint(text: string, line: number): WgEndpoint {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:[\]]+):(\d+)$/.exec(text);
  if (!m) throw new WgConfigError(line, `Endpoint must be host:port or [IPv6]:port, got '${text}'`);
  const host = m[1]!;
  if (text.startsWith('[') && isIP(host) !== 6) throw new WgConfigError(line, `Endpoint: '${host}' in brackets is not an IPv6 address`);
  return { host, port: integer(m[2]!, line, 'Endpoint port', 1, 65535) };
}

/** Parses a wg-quick configuration. Throws `WgConfigError` (with the line) on anything it cannot take. */
export function parseWgConfig(text: string): WgConfig {
  let section: 'interface' | 'peer' | undefined;
  let privateKey: string | undefined;
  let interfaceLine = 0;
  const addresses: string[] = [];
  let listenPort: number | undefined;
  let mtu: number | undefined;
  const peers: Array<Partial<WgPeerConfig> & { allowedIPs: string[]; line: number }> = [];
  const ignored: Array<{ key: string; line: number }> = [];
  const seen = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const line = lines[i]!.replace(/#.*$/, '').trim();
    if (line === '') continue;
    const head = /^\[\s*([A-Za-z]+)\s*\]$/.exec(line);
    if (head) {
      const name = head[1]!.toLowerCase();
      if (name === 'interface') {
        if (interfaceLine !== 0) throw new WgConfigError(n, `a second [Interface] (the first is on line ${interfaceLine})`);
        interfaceLine = n;
        section = 'interface';
      } else if (name === 'peer') {
        peers.push({ allowedIPs: [], line: n });
        section = 'peer';
      } else {
        throw new WgConfigError(n, `unknown section [${head[1]}] (expected [Interface] or [Peer])`);
      }
      seen.clear();
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) throw new WgConfigError(n, `expected 'Key = Value' or a [Section], got '${line}'`);
    const rawKey = line.slice(0, eq).trim();
    const k = rawKey.toLowerCase();
    const value = line.slice(eq + 1).trim();
    if (section === undefined) throw new WgConfigError(n, `'${rawKey}' before any [Interface] or [Peer] section`);
    if (k !== 'address' && k !== 'allowedips' && !IGNORED_KEYS.has(k)) {
      if (seen.has(k)) throw new WgConfigError(n, `${rawKey} given twice in this section`);
      seen.add(k);
    }
    if (section === 'interface') {
      switch (k) {
        case 'privatekey': privateKey = key(value, n, 'PrivateKey'); break;
        case 'address':
          for (const a of list(value)) addresses.push(parseCidr(a, n, 'Address', false).text);
          break;
        case 'listenport': listenPort = integer(value, n, 'ListenPort', 0, 65535); break;
        case 'mtu': mtu = integer(value, n, 'MTU', 576, 65535); break;
        default:
          if (IGNORED_KEYS.has(k)) ignored.push({ key: rawKey, line: n });
          else throw new WgConfigError(n, `unknown key '${rawKey}' in [Interface] (PrivateKey, Address, ListenPort, MTU)`);
      }
    } else {
      const peer = peers.at(-1)!;
      switch (k) {
        case 'publickey': peer.publicKey = key(value, n, 'PublicKey'); break;
        case 'presharedkey': peer.presharedKey = key(value, n, 'PresharedKey'); break;
        case 'allowedips':
          for (const a of list(value)) peer.allowedIPs.push(parseCidr(a, n, 'AllowedIPs', true).text);
          break;
        case 'endpoint': peer.endpoint = endpoint(value, n); break;
        case 'persistentkeepalive':
          if (value.toLowerCase() !== 'off') {
            const s = integer(value, n, 'PersistentKeepalive', 0, 65535);
            if (s > 0) peer.persistentKeepalive = s;
          }
          break;
        default:
          throw new WgConfigError(n, `unknown key '${rawKey}' in [Peer] (PublicKey, PresharedKey, AllowedIPs, Endpoint, PersistentKeepalive)`);
      }
    }
  }
  if (interfaceLine === 0) throw new WgConfigError(0, 'no [Interface] section');
  if (privateKey === undefined) throw new WgConfigError(interfaceLine, '[Interface] has no PrivateKey');
  const keys = new Map<string, number>();
  const out: WgPeerConfig[] = [];
  for (const p of peers) {
    if (p.publicKey === undefined) throw new WgConfigError(p.line, '[Peer] has no PublicKey');
    const dup = keys.get(p.publicKey);
    if (dup !== undefined) throw new WgConfigError(p.line, `the same PublicKey as the [Peer] on line ${dup}`);
    keys.set(p.publicKey, p.line);
    out.push({
      publicKey: p.publicKey,
      allowedIPs: p.allowedIPs,
      ...(p.presharedKey !== undefined ? { presharedKey: p.presharedKey } : {}),
      ...(p.endpoint !== undefined ? { endpoint: p.endpoint } : {}),
      ...(p.persistentKeepalive !== undefined ? { persistentKeepalive: p.persistentKeepalive } : {}),
    });
  }
  return {
    privateKey,
    addresses,
    ...(listenPort !== undefined ? { listenPort } : {}),
    ...(mtu !== undefined ? { mtu } : {}),
    peers: out,
    ignored,
  };
}
