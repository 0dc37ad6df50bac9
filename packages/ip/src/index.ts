export * from './address.js';
export * from './checksum.js';
export * from './registration.js';
