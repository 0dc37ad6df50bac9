/**
 * One bidirectional TCP transfer through the whole stack (sockets, TCP, IP, shaper,
 * link) under the simulation driver, with what each side saw recorded.
 */
import { expect } from 'vitest';
import type { Stack } from '@netstack/netstack';
import type { TcpLayerOptions } from '@netstack/tcp';
import { Sim, patternBytes, type ImpairParams, type SimOptions } from './driver.js';

export type EndOrder = 'client-first' | 'server-first' | 'both';

export interface TransferParams {
  /** The Sim's family (default: the run's, FAMILY). */
  family?: 4 | 6;
  seed: number;
  mtu: number;
  impair?: ImpairParams;
  clientBytes: number;
  serverBytes: number;
  /** Write sizes, used in turn until the payload is written. */
  clientChunks: number[];
  serverChunks: number[];
  /** Virtual ms between writes (0: back to back, honouring back-pressure). */
  gapMs: number;
  endOrder: EndOrder;
  msl?: number;
  /** Virtual time bound for the whole transfer. */
  limitMs?: number;
  trace?: SimOptions['trace'];
  /** TCP send and receive buffer per connection (default: the layer's 256 KiB). */
  buffer?: number;
  /** A slow reader: after each 'data' a reader pauses this many virtual ms (0: reads at once). */
  readPauseMs?: number;
  /** Extra TCP layer options (both stacks). */
  tcpOptions?: TcpLayerOptions;
}

export interface Side {
  chunks: Buffer[];
  ended: boolean;
  finished: boolean;
  closed: boolean;
  hadError: boolean | undefined;
  errors: Error[];
  wrote: number;
}

export interface TransferResult {
  sim: Sim;
  client: Side;
  server: Side;
  clientData: Buffer;
  serverData: Buffer;
  outcome: string;
  /** Virtual ms when both sockets had emitted 'close'. */
  closedAt: number;
  leaks: string[];
  serverClosed: boolean;
}

export const PORT = 8080;

export type Socket = ReturnType<Stack['tcp']['connect']>;

function newSide(): Side {
  return { chunks: [], ended: false, finished: false, closed: false, hadError: undefined, errors: [], wrote: 0 };
}

function observe(sim: Sim, s: Socket, side: Side, readPauseMs: number): void {
  s.on('data', (d: Buffer) => {
    side.chunks.push(d);
    if (readPauseMs > 0 && !s.isPaused()) {
      s.pause();
      sim.clock.setTimer(() => s.resume(), readPauseMs);
    }
  });
  s.on('end', () => { side.ended = true; });
  s.on('finish', () => { side.finished = true; });
  s.on('error', (e: Error) => side.errors.push(e));
  s.on('close', (hadError: boolean) => { side.closed = true; side.hadError = hadError; });
}

/**
 * Writes `data` in `chunks`-sized pieces: after a write that returns false, waits
 * for 'drain'; between writes waits `gapMs` of virtual time. Calls `done` when
 * everything was handed to the socket.
 */
function writer(sim: Sim, s: Socket, side: Side, data: Buffer, chunks: number[], gapMs: number, done: () => void): () => void {
  let off = 0;
  let k = 0;
  const step = (): void => {
    while (off < data.length) {
      const n = Math.min(chunks[k++ % chunks.length]!, data.length - off);
      const ok = s.write(data.subarray(off, off + n));
      off += n;
      side.wrote = off;
      if (off >= data.length) break;
      if (!ok) { s.once('drain', step); return; }
      if (gapMs > 0) { sim.clock.setTimer(step, gapMs); return; }
    }
    done();
  };
  return step;
}

export async function runTransfer(p: TransferParams): Promise<TransferResult> {
  const msl = p.msl ?? 500;
  const sim = await Sim.create({
    ...(p.family !== undefined ? { family: p.family } : {}),
    mtu: p.mtu,
    seed: p.seed,
    ...(p.impair !== undefined ? { impair: p.impair } : {}),
    ...(p.trace !== undefined ? { trace: p.trace } : {}),
    // Generous retry budgets: 20% loss each way may lose a SYN 7 times (the default
    // synRetries), which is TCP working as specified, not what is under test.
    tcpOptions: {
      msl, synRetries: 20, maxRetries: 30, rtoMax: 10_000,
      ...(p.buffer !== undefined ? { sendBufferSize: p.buffer, receiveBufferSize: p.buffer } : {}),
      ...p.tcpOptions,
    },
  });
  const clientData = patternBytes(p.clientBytes, p.seed * 7 + 1);
  const serverData = patternBytes(p.serverBytes, p.seed * 7 + 2);
  const client = newSide();
  const server = newSide();
  let serverSocket: Socket | undefined;
  let clientWritten = false;
  let serverWritten = false;

  const maybeEnd = (): void => {
    const c = clientSocket;
    const s = serverSocket;
    if (clientWritten && !c.writableEnded) {
      if (p.endOrder !== 'server-first' || client.ended) c.end();
    }
    if (s !== undefined && serverWritten && !s.writableEnded) {
      if (p.endOrder !== 'client-first' || server.ended) s.end();
    }
  };

  const srv = sim.b.tcp.createServer({ allowHalfOpen: true }, (s) => {
    serverSocket = s;
    observe(sim, s, server, p.readPauseMs ?? 0);
    s.on('end', maybeEnd);
    writer(sim, s, server, serverData, p.serverChunks, p.gapMs, () => { serverWritten = true; maybeEnd(); })();
  });
  srv.listen(PORT);
  let serverClosed = false;
  srv.on('close', () => { serverClosed = true; });

  const clientSocket = sim.a.tcp.connect({ host: sim.bAddr, port: PORT, allowHalfOpen: true });
  observe(sim, clientSocket, client, p.readPauseMs ?? 0);
  clientSocket.on('end', maybeEnd);
  writer(sim, clientSocket, client, clientData, p.clientChunks, p.gapMs, () => { clientWritten = true; maybeEnd(); })();

  let outcome: string = await sim.run({ until: () => client.closed && server.closed, forMs: p.limitMs ?? 3_600_000 });
  const closedAt = sim.clock.now();
  srv.close();
  // Past TIME-WAIT (2 MSL) and every other deadline: the run ends when no timer is left.
  outcome += '/' + (await sim.run({ forMs: 4 * msl + 120_000 }));
  await sim.settle();
  const leaks = sim.leaks();
  return { sim, client, server, clientData, serverData, outcome, closedAt, leaks, serverClosed };
}

/** Compares without printing megabytes: the first differing offset and lengths. */
export function diffBytes(got: Buffer, want: Buffer): string | undefined {
  if (got.equals(want)) return undefined;
  const n = Math.min(got.length, want.length);
  let i = 0;
  while (i < n && got[i] === want[i]) i++;
  return `got ${got.length} bytes, want ${want.length}; first difference at offset ${i}`;
}

export interface TransferSummary { virtualMs: number; retrans: number; csum: number; InErrs: number; corrupted: number }

/** Runs one transfer and checks property 1 on it; throws with a readable message. */
export async function checkTransfer(p: TransferParams): Promise<TransferSummary> {
  const r = await runTransfer(p);
  try {
    const ctx = `outcome ${r.outcome} at ${r.closedAt} ms`;
    expect(r.outcome, ctx).toMatch(/^until\/quiet$/);
    expect(diffBytes(Buffer.concat(r.server.chunks), r.clientData), `server read (${ctx})`).toBeUndefined();
    expect(diffBytes(Buffer.concat(r.client.chunks), r.serverData), `client read (${ctx})`).toBeUndefined();
    expect(r.client.errors.map(String), 'client errors').toEqual([]);
    expect(r.server.errors.map(String), 'server errors').toEqual([]);
    expect([r.client.ended, r.client.finished, r.client.hadError], 'client end/finish/hadError').toEqual([true, true, false]);
    expect([r.server.ended, r.server.finished, r.server.hadError], 'server end/finish/hadError').toEqual([true, true, false]);
    expect(r.leaks, 'leaks').toEqual([]);
    expect(r.sim.a.tcpLayer.pollAt()).toBe(Infinity);
    expect(r.sim.b.tcpLayer.pollAt()).toBe(Infinity);
    expect(r.serverClosed, "server 'close'").toBe(true);
    const sa = r.sim.a.stats();
    const sb = r.sim.b.stats();
    return {
      virtualMs: r.closedAt,
      retrans: (sa.tcp!['RetransSegs'] ?? 0) + (sb.tcp!['RetransSegs'] ?? 0),
      csum: (sa.tcp!['InCsumErrors'] ?? 0) + (sb.tcp!['InCsumErrors'] ?? 0),
      InErrs: (sa.tcp!['InErrs'] ?? 0) + (sb.tcp!['InErrs'] ?? 0),
      corrupted: sa.impair?.['Corrupted'] ?? 0,
    };
  } finally {
    await r.sim.close();
  }
}

