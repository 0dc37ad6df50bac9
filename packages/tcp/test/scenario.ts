/** The two-sided transfer scenario used by the simulation tests. */
import { expect } from 'vitest';
import type { TcpConnection, TcpError, TcpHandler } from '../src/index.js';
import { SIM_A as A, SIM_B as B, Sim } from './netsim.js';

/** Byte equality without vitest's slow element-wise diff on large arrays. */
export function sameBytes(got: number[], want: Uint8Array): void {
  expect(got.length).toBe(want.length);
  expect(Buffer.compare(Buffer.from(got), Buffer.from(want.buffer, want.byteOffset, want.length))).toBe(0);
}

const PORT = 8080;

interface Side {
  name: string;
  conn: TcpConnection | undefined;
  toSend: Uint8Array;
  sent: number;
  chunks: number[];
  chunkIdx: number;
  readSizes: number[];
  readIdx: number;
  received: number[];
  gotFin: boolean;
  shutdownDone: boolean;
  closed: boolean;
  error: TcpError | undefined;
  readPending: boolean;
}

function side(name: string, toSend: Uint8Array, chunks: number[], readSizes: number[]): Side {
  return { name, conn: undefined, toSend, sent: 0, chunks, chunkIdx: 0, readSizes, readIdx: 0, received: [], gotFin: false, shutdownDone: false, closed: false, error: undefined, readPending: false };
}

/** One application endpoint: writes its bytes in chunks, reads in chunks (sometimes late), closes after EOF. */
function app(sim: Sim, s: Side, readDelay: number): TcpHandler {
  const pump = (c: TcpConnection) => {
    while (s.sent < s.toSend.length) {
      const size = s.chunks[s.chunkIdx++ % s.chunks.length]!;
      const n = c.write(s.toSend.subarray(s.sent, Math.min(s.toSend.length, s.sent + size)), sim.now);
      s.sent += n;
      if (n === 0) return; // wait for onWritable
    }
    if (!s.shutdownDone) { s.shutdownDone = true; c.shutdown(sim.now); }
    maybeClose(c);
  };
  const maybeClose = (c: TcpConnection) => {
    if (s.gotFin && s.shutdownDone && c.readableLength === 0 && c.state !== 'CLOSED') c.close(sim.now);
  };
  const drain = (c: TcpConnection) => {
    s.readPending = false;
    for (;;) {
      const size = s.readSizes[s.readIdx++ % s.readSizes.length]!;
      const buf = new Uint8Array(size);
      const n = c.read(buf, sim.now);
      for (let i = 0; i < n; i++) s.received.push(buf[i]!);
      if (n === 0) break;
    }
    maybeClose(c);
  };
  const scheduleRead = (c: TcpConnection) => {
    if (s.readPending) return;
    s.readPending = true;
    sim.at(sim.now + readDelay, () => { if (c.state !== 'CLOSED' || c.readableLength > 0) drain(c); });
  };
  return {
    onEstablished: (c) => { s.conn = c; pump(c); },
    onWritable: (c) => pump(c),
    onReadable: (c) => scheduleRead(c),
    onRemoteFin: (c) => { s.gotFin = true; scheduleRead(c); },
    onClosed: (_c, err) => { s.closed = true; s.error = err; },
  };
}

export function runTransfer(seed: number, loss: number, aData: Uint8Array, bData: Uint8Array, chunks: number[], readSizes: number[], bufSize: number, opts: { ws: boolean; ts: boolean; readDelay: number; clean?: boolean }) {
  const sim = new Sim(seed, opts.clean ? { loss: 0, duplicate: 0, delay: 5, jitter: 0 } : { loss, duplicate: 0.03, delay: 5, jitter: 15 });
  const layerOpts = { sendBufferSize: bufSize, receiveBufferSize: bufSize, windowScaling: opts.ws, timestamps: opts.ts, msl: 1000, maxRetries: 30, synRetries: 30 };
  const la = sim.host(A, layerOpts);
  const lb = sim.host(B, layerOpts);
  const a = side('A', aData, chunks, readSizes);
  const b = side('B', bData, chunks.slice().reverse(), readSizes.slice().reverse());
  const bh = app(sim, b, opts.readDelay);
  lb.listen({ port: PORT }, {
    onAcceptable: (l) => {
      const c = l.accept(bh);
      if (c === undefined) return;
      b.conn = c;
      bh.onEstablished!(c);
      if (c.readableLength > 0 || c.remoteFinReceived) { if (c.remoteFinReceived) b.gotFin = true; bh.onReadable!(c); }
    },
  });
  sim.at(0, () => { a.conn = la.connect({ remoteAddress: B, remotePort: PORT }, sim.now, app(sim, a, opts.readDelay)); });
  const finished = sim.run(400_000);
  return { sim, la, lb, a, b, finished };
}

