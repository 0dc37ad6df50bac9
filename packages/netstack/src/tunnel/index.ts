export { createTunnel, Tunnel, type TunnelOptions, type TunnelPeer, type TunnelCounters, type TunnelStats } from './tunnel.js';
export { parseWgConfig, WgConfigError, type WgConfig, type WgPeerConfig, type WgEndpoint } from './config.js';
export { createWireGuardLink, WireGuardLink, type WireGuardLinkOptions } from './link.js';
