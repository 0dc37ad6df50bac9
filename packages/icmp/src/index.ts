export * from './wire.js';
export * from './layer.js';
export type { ErrnoError, NodeStyleError } from './errors.js';
