export * from './wire.js';
export * from './wire6.js';
export { IcmpHeaderView } from './header.js';
export * from './layer.js';
export * from './ping.js';
export { IcmpErrorSender, TokenBucket, type ErrorSenderCounters, type Subnet } from './reporter.js';
export * from './layer6.js';
