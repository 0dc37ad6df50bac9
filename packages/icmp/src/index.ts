export * from './wire.js';
export * from './layer.js';
