export { Stack, createStack } from './stack.js';
export type { StackOptions, Clock, TunOptions, PingOptions, PingResult, LinkInfo } from './stack.js';
export { NetstackError } from './errors.js';
export { createLinkPair, createProbeLink, type ProbeLink, type ProbeLinkOptions, type ProbeLinkStats } from '@netstack/tun';
export { checkAccounting, type AccountingOptions, type AccountingReport, type FlatStats } from './accounting.js';
export { Capture, type CaptureOptions } from './capture.js';
export type { StackDns, DnsOption, DnsResolverOptions, LookupOptions, LookupAddress, ResolveOptions, RecordWithTtl, DnsErrorCode, ResolverStats } from './dns/index.js';
