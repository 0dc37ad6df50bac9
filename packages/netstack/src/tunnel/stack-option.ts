/**
 * `createStack({ wireguard })`: the stack's link is a WireGuard session (link.ts). Given a
 * wg-quick configuration (its text) or the keys and peers themselves; host-name endpoints
 * are resolved once, as wg does.
 */
import { isIP } from 'node:net';
import { lookup } from 'node:dns/promises';
import { parseWgConfig } from './config.js';
import { createWireGuardLink, type WireGuardLink } from './link.js';
import type { TunnelPeer } from './tunnel.js';
import type { Timers } from '@netstack/wireguard';

export interface StackWireGuardOptions {
  /** A wg-quick configuration's text ([Interface] PrivateKey, ListenPort, MTU; [Peer] ...); its Address is not used: give the stack's `address`. */
  config?: string;
  /** Or the keys and peers (with `config`, these override its values). */
  privateKey?: string | Uint8Array;
  listenPort?: number;
  peers?: TunnelPeer[];
  /** The tunnel MTU (default the config's, else 1420). */
  mtu?: number;
  timers?: Partial<Timers>;
}

export async function wireGuardLinkFor(o: StackWireGuardOptions): Promise<WireGuardLink> {
  const c = o.config === undefined ? undefined : parseWgConfig(o.config);
  const privateKey = o.privateKey ?? c?.privateKey;
  if (privateKey === undefined) throw Object.assign(new TypeError('options.wireguard needs config or privateKey'), { code: 'ERR_INVALID_ARG_VALUE' });
  let peers = o.peers;
  if (peers === undefined && c !== undefined) {
    peers = [];
    for (const p of c.peers) {
      const e = p.endpoint;
      const address = e === undefined ? undefined : isIP(e.host) !== 0 ? e.host : (await lookup(e.host)).address;
      peers.push({
        publicKey: p.publicKey,
        allowedIPs: p.allowedIPs,
        ...(p.presharedKey !== undefined ? { presharedKey: p.presharedKey } : {}),
        ...(e !== undefined && address !== undefined ? { endpoint: { address, port: e.port } } : {}),
        ...(p.persistentKeepalive !== undefined ? { persistentKeepalive: p.persistentKeepalive } : {}),
      });
    }
  }
  const listenPort = o.listenPort ?? c?.listenPort;
  const mtu = o.mtu ?? c?.mtu;
  return createWireGuardLink({
    privateKey,
    peers: peers ?? [],
    ...(listenPort !== undefined ? { listenPort } : {}),
    ...(mtu !== undefined ? { mtu } : {}),
    ...(o.timers !== undefined ? { timers: o.timers } : {}),
  });
}
