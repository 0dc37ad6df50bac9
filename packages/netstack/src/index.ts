export { Stack, createStack } from './stack.js';
export type { StackOptions, Clock, TunOptions, PingOptions, PingResult, LinkInfo } from './stack.js';
export { NetstackError } from './errors.js';
export { createLinkPair } from '@netstack/tun';
export { Capture, type CaptureOptions } from './capture.js';
export type { StackDns, DnsOption, DnsResolverOptions, LookupOptions, LookupAddress, ResolveOptions, RecordWithTtl, DnsErrorCode, ResolverStats } from './dns/index.js';
