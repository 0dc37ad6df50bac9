export { PingSocket, pingGroupRange, addressBytes, errnoName, type PingSocketOptions, type PingSocketStats, type CodedError } from './ping-socket.js';
export type { HostLibc, PollEvents, PollHandle } from './libc.js';
