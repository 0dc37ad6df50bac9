/**
 * @netstack/tcp: an RFC 9293 TCP as a pure protocol core. See `layer.ts` for the
 * endpoint API contract, `connection.ts` for the state machine, `host.ts` for the
 * interface between them, `wire.ts` for the segment format.
 */
export * from './seq.js';
export * from './wire.js';
export { RingBuffer, Assembler, MemoryAccount } from './ring.js';
export { DeadlineHeap } from './heap.js';
export type { HeapEntry } from './heap.js';
export { NewReno, initialWindow } from './congestion.js';
export type { CongestionControl, CongestionControlName } from './congestion.js';
export { Cubic, CUBIC_C, CUBIC_BETA, CUBIC_ALPHA, HYSTART } from './cubic.js';
export type { CubicOptions, CubicSnapshot } from './cubic.js';
export { flowLabel, generateIsn, timestampOffset, makeSynCookie, checkSynCookie, cookieMssIndex, COOKIE_MSS_TABLE, COOKIE_PERIOD_MS } from './isn.js';
export { TcpError } from './errors.js';
export type { TcpErrorCode } from './errors.js';
export { TcpConnection } from './connection.js';
export type { TcpHandler, TcpConnectionStats } from './connection.js';
export { TcpLayer } from './layer.js';
export { TcpListener } from './listener.js';
export type { ListenHandler } from './listener.js';
export { InterceptRequest, INTERCEPT_REFUSALS, INTERCEPT_REQUEST_OVERHEAD, INTERCEPT_MAX_COPY, interceptCost } from './intercept.js';
export type { InterceptHandler, InterceptRefusal, InterceptOutcome } from './intercept.js';
export type { TcpState, TcpConnectionOptions, TcpLayerOptions, TcpStats, TcpDropCounters, ListenOptions, ConnectOptions, InterceptLimits } from './types.js';
