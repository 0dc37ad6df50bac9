// Types of bench/sim-core.mjs for the TypeScript that imports it (test/bench-sim.test.ts).
import type { VirtualClock, seededRandom } from '@netstack/common';
import type { createShaper, parseImpairSpec } from '@netstack/tun';
import type { TcpLayer, TcpLayerOptions } from '@netstack/tcp';

/** The simulator's own parts (the shaper and the clock), from one tree. */
export interface SimShared {
  createShaper: typeof createShaper;
  parseImpairSpec: typeof parseImpairSpec;
  VirtualClock: typeof VirtualClock;
  seededRandom: typeof seededRandom;
}

/** A tree's TCP: what the simulator uses of packages/tcp's exports. */
export interface SimTcp {
  TcpLayer: typeof TcpLayer;
}

export interface SimTransferOptions {
  /** Shaper spec of the data direction (A to B), without seed. */
  data: string;
  /** Shaper spec of the ACK direction (B to A), without seed. */
  ack: string;
  seed: number;
  cc: 'cubic' | 'newreno';
  size: number;
  /** Virtual-time bound in ms (default 600 000). */
  limitMs?: number;
  maxEvents?: number;
  layerOptions?: TcpLayerOptions;
}

export interface SimResult {
  ok: boolean;
  why: string | undefined;
  size: number;
  received: number;
  badBytes: number;
  doneAtMs: number;
  /** size / doneAtMs in MB/s (10^6 bytes per virtual second); 0 when not ok. */
  mbps: number;
  events: number;
  retransSegs: number;
  outSegs: number;
  /** The sender's layer counters at the end (TcpLayer.stats()). */
  sender: Record<string, number>;
  data: { lost: number; queueDropped: number; queued: number; queueDelayMeanMs: number };
  ack: { lost: number };
}

export interface SimSample extends SimResult {
  scenario: string;
  cc: 'cubic' | 'newreno';
  seed: number;
  column: string;
}

export interface SimColumn {
  name: string;
  tcp: SimTcp;
  layerOptions?: TcpLayerOptions;
}

export interface SimRow {
  scenario: string;
  cc: 'cubic' | 'newreno';
  cur: number;
  base: number;
  ratio: number;
  seedRatios: number[];
  failures: SimSample[];
  baseFailures: SimSample[];
  curRetrans: number;
  baseRetrans: number;
  queued: boolean;
  curQueueMs: number;
  baseQueueMs: number;
  pass: boolean;
}

/** The period of the transfer's byte pattern (a prime). */
export const PERIOD: number;
/** The transfer's bytes: byte i of the stream is block[i % PERIOD]; block[x] = block[x % PERIOD] for every x. */
export function patternBlock(seededRandom: SimShared['seededRandom'], seed: number): Uint8Array;
export function importFrom(root: string, rel: string): Promise<unknown>;
export function loadShared(root: string): Promise<SimShared>;
export function loadTcp(root: string): Promise<SimTcp>;
export function simTransfer(shared: SimShared, tcp: SimTcp, options: SimTransferOptions): SimResult;
export function median(xs: number[]): number;
export function runMatrix(
  shared: SimShared,
  columns: SimColumn[],
  options: {
    scenarios: Record<string, { data: string; ack: string }>;
    ccs: ('cubic' | 'newreno')[];
    seeds: number;
    size: number;
    limitMs?: number;
    onSample?: (s: SimSample) => void;
  },
): Promise<SimSample[]>;
export function compare(samples: SimSample[], current: string, baseline: string, threshold: number): SimRow[];
