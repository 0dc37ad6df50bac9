export * from './wire.js';
export * from './layer.js';
export type { ErrnoError, CodedError as NodeStyleError } from '@netstack/ip';
