/**
 * Argument checks for `createStack({ wireguard })`, with Node's error codes and messages
 * (node-errors.ts), made before any socket is bound: a bad key, port, prefix or endpoint
 * rejects with the property path named (`options.wireguard.peers[0].publicKey`), never with
 * a TypeError from deep inside, and never by silently making a peer without routes (a
 * misspelt `allowedIps` for `allowedIPs`). The keys and peers are the ones
 * `createTunnel`/`createWireGuardLink` take (tunnel/tunnel.ts `TunnelPeer`); a wg-quick
 * `config` text is checked by its own parser (tunnel/config.ts, line-numbered errors).
 */
import { isIP } from 'node:net';
import { parsePrefix } from '@netstack/wireguard';
import { invalidArgType, invalidArgValue, outOfRange } from './node-errors.js';

/** Base64 of exactly 32 bytes, as `wg` writes a key (44 characters, one '=' of padding). */
const KEY_BASE64 = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function checkKey(v: unknown, name: string): void {
  if (typeof v === 'string') {
    if (!KEY_BASE64.test(v)) throw invalidArgValue(name, v, 'must be 32 bytes in base64 (44 characters, as `wg genkey` prints)');
  } else if (v instanceof Uint8Array) {
    if (v.length !== 32) throw invalidArgValue(name, `<${v.length} bytes>`, 'must be 32 bytes');
  } else {
    throw invalidArgType(name, 'of type string (base64) or an instance of Uint8Array', v);
  }
}

function checkInteger(v: unknown, name: string, min: number, max: number): void {
  if (typeof v !== 'number') throw invalidArgType(name, 'of type number', v);
  if (!Number.isInteger(v) || v < min || v > max) throw outOfRange(name, `an integer >= ${min} and <= ${max}`, v);
}

/** Throws (Node-style, see above) when `o` is not a valid `options.wireguard`. */
export function checkWireGuardOptions(o: unknown): void {
  const base = 'options.wireguard';
  if (!isRecord(o)) throw invalidArgType(base, 'of type object', o);
  if (o.config !== undefined && typeof o.config !== 'string') throw invalidArgType(`${base}.config`, 'of type string (a wg-quick configuration\'s text)', o.config);
  if (o.privateKey !== undefined) checkKey(o.privateKey, `${base}.privateKey`);
  else if (o.config === undefined) throw invalidArgValue(base, '<object>', 'must have a privateKey (or a config)');
  if (o.listenPort !== undefined) checkInteger(o.listenPort, `${base}.listenPort`, 0, 65535);
  if (o.mtu !== undefined) checkInteger(o.mtu, `${base}.mtu`, 68, 65535);
  if (o.timers !== undefined && !isRecord(o.timers)) throw invalidArgType(`${base}.timers`, 'of type object', o.timers);
  if (o.peers === undefined) {
    if (o.config === undefined) throw invalidArgType(`${base}.peers`, 'an instance of Array', o.peers);
    return;
  }
  if (!Array.isArray(o.peers)) throw invalidArgType(`${base}.peers`, 'an instance of Array', o.peers);
  const seen = new Set<string>();
  (o.peers as unknown[]).forEach((p, i) => {
    const at = `${base}.peers[${i}]`;
    if (!isRecord(p)) throw invalidArgType(at, 'of type object', p);
    checkKey(p.publicKey, `${at}.publicKey`);
    const k = typeof p.publicKey === 'string' ? p.publicKey : Buffer.from(p.publicKey as Uint8Array).toString('base64');
    if (seen.has(k)) throw invalidArgValue(`${at}.publicKey`, p.publicKey, 'must not repeat an earlier peer\'s key');
    seen.add(k);
    if (p.presharedKey !== undefined) checkKey(p.presharedKey, `${at}.presharedKey`);
    if (!Array.isArray(p.allowedIPs)) {
      const hint = p.allowedIps !== undefined ? ' (spelt allowedIPs, as in wg-quick\'s AllowedIPs)' : '';
      throw invalidArgType(`${at}.allowedIPs`, `an instance of Array of prefixes such as '10.0.0.0/24'${hint}`, p.allowedIPs);
    }
    (p.allowedIPs as unknown[]).forEach((a, j) => {
      if (typeof a !== 'string') throw invalidArgType(`${at}.allowedIPs[${j}]`, 'of type string', a);
      if (parsePrefix(a) === undefined) throw invalidArgValue(`${at}.allowedIPs[${j}]`, a, "must be an IPv4 or IPv6 prefix such as '10.0.0.0/24' or 'fd00::/64'");
    });
    if (p.endpoint !== undefined) {
      const e = p.endpoint;
      if (!isRecord(e)) throw invalidArgType(`${at}.endpoint`, 'of type object ({ address, port })', e);
      if (typeof e.address !== 'string' || isIP(e.address) === 0) {
        throw invalidArgValue(`${at}.endpoint.address`, e.address, 'must be an IPv4 or IPv6 address (resolve host names first)');
      }
      checkInteger(e.port, `${at}.endpoint.port`, 1, 65535);
    }
    if (p.persistentKeepalive !== undefined) checkInteger(p.persistentKeepalive, `${at}.persistentKeepalive`, 0, 65535);
  });
}
