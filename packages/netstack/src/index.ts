export { Stack, createStack } from './stack.js';
export type { StackOptions, Clock, TunOptions, PingOptions, PingResult, LinkInfo, StackAddress6Change } from './stack.js';
export type { TapOptions, AddressConflictEvent } from './tap.js';
export type { DhcpStackOptions, StackLease, StackLeaseLost } from './dhcp/wiring.js';
export { NetstackError } from './errors.js';
export { createLinkPair, createProbeLink, type ProbeLink, type ProbeLinkOptions, type ProbeLinkStats } from '@netstack/tun';
export { checkAccounting, type AccountingOptions, type AccountingReport, type FlatStats } from './accounting.js';
export { Capture, type CaptureOptions } from './capture.js';
export type { StackDns, DnsOption, DnsResolverOptions, LookupOptions, LookupAddress, ResolveOptions, RecordWithTtl, DnsErrorCode, ResolverStats } from './dns/index.js';
// The socket classes and their option types, for users' annotations (`import type { Socket } ...`)
// and `instanceof`; make sockets with `stack.tcp` / `stack.udp`.
export { Socket, Server } from './net/index.js';
export type {
  TcpApi, SocketOptions, TcpConnectOptions, ConnectOptions, AddressInfo, ServerOptions, ConnectionListener, ListenOptionsNet, ErrnoError,
  InterceptInfo, InterceptDecision, InterceptListener, InterceptAcceptOptions,
} from './net/index.js';
export { UdpSocket, UdpFlowSocket } from './dgram/index.js';
export type { UdpApi, UdpSocketOptions, RemoteInfo, BindOptions, SendCallback, FlowListener, FlowRemoteInfo } from './dgram/index.js';
export { createGateway, type Gateway, type GatewayOptions, type GatewayLimits, type GatewayStats, type GatewayFlowInfo, type GatewayVerdict, type PublishOptions } from './gateway/gateway.js';
export type { EchoRelayStats } from './gateway/echo-relay.js';
export { createTunnel, Tunnel, parseWgConfig, WgConfigError, createWireGuardLink, WireGuardLink } from './tunnel/index.js';
export type { TunnelOptions, TunnelPeer, TunnelCounters, TunnelStats, WgConfig, WgPeerConfig, WgEndpoint, WireGuardLinkOptions } from './tunnel/index.js';
