export { PingSocket, pingGroupRange, addressBytes, errnoName, type PingSocketOptions, type PingSocketStats, type PingSocketError, type CodedError } from './ping-socket.js';
export type { HostLibc, MsgBuffers, PollEvents, PollHandle } from './libc.js';
export { UdpSocket, type UdpSocketOptions, type UdpSocketStats, type UdpSocketError } from './udp-socket.js';
