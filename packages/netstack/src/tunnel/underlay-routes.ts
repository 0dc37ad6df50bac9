/**
 * A peer with AllowedIPs 0.0.0.0/0 (or ::/0): everything goes through the tunnel except the
 * tunnel's own UDP to the peers. wg-quick does that with policy routing (a fwmark on its
 * socket, a second table, `suppress_prefixlength 0`); a node:dgram socket cannot carry a
 * fwmark, so `netstack tunnel` does what OpenVPN's def1 does:
 *
 * - the default is routed as two halves on the device (0.0.0.0/1 and 128.0.0.0/1; ::/1 and
 *   8000::/1), more specific than any default route, which stays in the table untouched;
 * - each peer endpoint of that family gets a host route (/32, /128) through the path it has
 *   now (`ip route get`: its gateway and device), added before the device comes up and removed
 *   at exit, so the encrypted datagrams keep leaving by the underlay.
 *
 * A peer that roams to an address nobody routed this way would be reached through the
 * tunnel itself (the kernel's choice): its datagrams are then dropped by the tunnel
 * (TunRxLoopDrops), not re-encrypted. Needs iproute2's `ip` (as wg-quick does).
 */
import { spawnSync } from 'node:child_process';
import { isIP } from 'node:net';

/** A host route to one endpoint through the underlay, as `ip route add` takes it. */
export interface UnderlayRoute {
  /** 'ADDR/32' or 'ADDR/128'. */
  dst: string;
  via?: string;
  dev: string;
  /** `ip route` text, for messages: '10.98.0.2/32 via 10.99.0.254 dev eth0'. */
  text: string;
}

/** The two halves that stand for a /0 of `family` (more specific than a default route). */
export function splitDefault(family: 4 | 6): [string, string] {
  return family === 4 ? ['0.0.0.0/1', '128.0.0.0/1'] : ['::/1', '8000::/1'];
}

/**
 * `ip route get ADDR` parsed: the gateway and device the kernel uses now, or undefined for
 * an address that is local (the peer on this host) or has no route.
 */
export function parseRouteGet(out: string): { via?: string; dev: string } | undefined {
  const line = out.split('\n')[0] ?? '';
  if (/^(local|unreachable|prohibit|blackhole|throw)\b/.test(line)) return undefined;
  const dev = /\bdev (\S+)/.exec(line)?.[1];
  if (dev === undefined || dev === 'lo') return undefined;
  const via = /\bvia (?:inet6 )?(\S+)/.exec(line)?.[1];
  return via === undefined ? { dev } : { via, dev };
}

/** `via GW` as `ip route` takes it (an IPv4 destination through an IPv6 next hop says `via inet6 GW`). */
function viaArgs(r: UnderlayRoute): string[] {
  if (r.via === undefined) return [];
  return isIP(r.via) === 6 && r.dst.includes('.') ? ['via', 'inet6', r.via] : ['via', r.via];
}

function ip(args: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8', timeout: 10_000 });
  if (r.error !== undefined) return { ok: false, out: '', err: (r.error as NodeJS.ErrnoException).code === 'ENOENT' ? "iproute2's 'ip' is not installed" : r.error.message };
  return { ok: r.status === 0, out: r.stdout, err: r.stderr.trim() };
}

/**
 * The host routes that keep each endpoint of a /0 family on its present path (undefined
 * entries left out: local or unroutable endpoints, said in `notes`).
 */
export function underlayRoutes(endpoints: readonly string[], families: ReadonlySet<4 | 6>): { routes: UnderlayRoute[]; notes: string[] } {
  const routes: UnderlayRoute[] = [];
  const notes: string[] = [];
  const seen = new Set<string>();
  for (const address of endpoints) {
    const family = isIP(address);
    if ((family !== 4 && family !== 6) || !families.has(family) || seen.has(address)) continue;
    seen.add(address);
    const r = ip([`-${family}`, 'route', 'get', address]);
    if (!r.ok) { notes.push(`no underlay route for endpoint ${address}: ${r.err}`); continue; }
    const path = parseRouteGet(r.out);
    if (path === undefined) { notes.push(`endpoint ${address} is local or unroutable: no underlay route added`); continue; }
    const dst = `${address}/${family === 4 ? 32 : 128}`;
    routes.push({ dst, ...path, text: `${dst}${path.via !== undefined ? ` via ${path.via}` : ''} dev ${path.dev}` });
  }
  return { routes, notes };
}

/** Adds the routes; returns those added (a route already there is left alone, and not removed later). */
export function addUnderlayRoutes(routes: readonly UnderlayRoute[], warn: (text: string) => void): UnderlayRoute[] {
  const added: UnderlayRoute[] = [];
  for (const r of routes) {
    const res = ip(['route', 'add', r.dst, ...viaArgs(r), 'dev', r.dev]);
    if (res.ok) added.push(r);
    else warn(`underlay route ${r.text} not added: ${res.err}`);
  }
  return added;
}

/** Removes the routes `addUnderlayRoutes` added. */
export function removeUnderlayRoutes(routes: readonly UnderlayRoute[]): void {
  for (const r of routes) ip(['route', 'del', r.dst, ...viaArgs(r), 'dev', r.dev]);
}
