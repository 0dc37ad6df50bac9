/**
 * What an idle TCP connection costs in memory, on each side.
 *
 * Two stacks back to back on an in-memory link pair, in this process: the server is
 * exactly what `netstack serve` runs (startServices: TCP echo :7 is a node:net-shaped
 * socket piped to itself), the client a node:net-shaped socket per connection. Each
 * of N connections carries one small echo, then sits idle, ESTABLISHED on both sides.
 *
 * Memory is the JS heap (heapUsed) plus what lives outside it but belongs to it
 * (`external`: the storage of ArrayBuffers and Buffers, e.g. TCP ring buffers), after
 * full garbage collections. Both stacks share this heap, so the sides are told apart
 * by taking one away: with the N connections idle (M1), the link is cut, the client
 * stack closed and forgotten, and what remains (M2) is the server with its N
 * connections. Server per connection = (M2 - M0) / N, exact; client = (M1 - M2) / N,
 * which also carries the client stack's own fixed cost (tables, buffers: a few
 * hundred KB, a few tens of bytes per connection at N = 10 000).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createLinkPair, type LinkPair } from '@netstack/tun';
import { createStack, type Stack } from '../src/index.js';
import type { Socket } from '../src/net/index.js';
import { startServices, type Services } from '../src/services.js';

const N = 10_000;
/** Connections in their handshake or echo at a time (well under the listen backlog, 511). */
const WAVE = 256;
/**
 * A generous, honest bound (the figures are printed): measured 7.5-7.6 KiB on the
 * server side and 6.2 KiB on the client side (node 20), of which 384 B are ArrayBuffer
 * storage: the SACK scoreboard (256 B) and the two ring buffers, which start empty and
 * grow on first use (64 B each after one small echo). Before the rings grew lazily
 * (4 KiB each up front) the figures were 15.0-15.4 and 13.6-14.0 KiB.
 */
const BOUND = 11 * 1024;
const SERVER = '10.0.0.2';

// Full garbage collections on demand, without a command-line flag for the test runner.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Mem { heap: number; external: number; arrayBuffers: number }
function measure(): Mem {
  for (let i = 0; i < 4; i++) gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}
const total = (m: Mem): number => m.heap + m.external;

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Waits (bounded: 10 s) until `cond()` holds, re-checking every few ms. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > 10_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Runs `fn(i)` for i in 0..n-1 with at most `limit` in flight. */
async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => { while (next < n) await fn(next++); };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

/** Connects to echo :7, sends a distinct payload and resolves with the socket once the exact echo came back. */
function echoedConnection(stack: Stack, i: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(`idle ${i}\n`);
    const s = stack.tcp.connect({ host: SERVER, port: 7 });
    const got: Buffer[] = [];
    let n = 0;
    const onData = (d: Buffer): void => {
      got.push(d);
      n += d.length;
      if (n < payload.length) return;
      s.off('data', onData);
      const back = Buffer.concat(got);
      if (back.equals(payload)) resolve(s);
      else reject(new Error(`connection ${i}: sent ${JSON.stringify(payload.toString())}, got ${JSON.stringify(back.toString())}`));
    };
    s.on('data', onData);
    s.once('error', reject);
    s.once('connect', () => s.write(payload));
  });
}

let pair: LinkPair | undefined;
let server: Stack | undefined;
let client: Stack | undefined;
let services: Services | undefined;

afterAll(async () => {
  await services?.close();
  await client?.close();
  await server?.close();
  pair?.close();
});

/** Both stacks quiet: nothing on the wire, no TCP timer armed (no delayed ACK, no retransmission). */
function quiet(): boolean {
  return pair!.pending() === 0 && server!.tcpLayer.pollAt() === Infinity && (client === undefined || client.tcpLayer.pollAt() === Infinity);
}

describe('memory per idle TCP connection', () => {
  it(`${N} idle established connections: under ${BOUND / 1024} KiB each on each side`, { timeout: 120_000 }, async () => {
    // Deep enough queues for WAVE handshakes in flight (the default, 1024, would do too).
    pair = createLinkPair({ mtu: 1500, queueLimit: 4096 });
    server = await createStack({ link: pair.b, address: SERVER });
    client = await createStack({ link: pair.a, address: '10.0.0.1' });
    services = await startServices(server);

    // Warm-up, not measured: compiles the paths and fills the pools once. Reset, so
    // nothing stays in TIME-WAIT (its storage would leave the table mid-measurement).
    const warm: Socket[] = [];
    await pool(300, WAVE, async (i) => { warm.push(await echoedConnection(client!, i)); });
    for (const s of warm.splice(0)) s.resetAndDestroy();
    await until(() => server!.tcpLayer.connectionCount === 0 && client!.tcpLayer.connectionCount === 0 && quiet(), 'the warm-up connections to go');
    for (let i = 0; i < 3; i++) await turn();

    const m0 = measure();
    const held: Socket[] = new Array(N);
    const t0 = performance.now();
    await pool(N, WAVE, async (i) => { held[i] = await echoedConnection(client!, i); });
    const openMs = performance.now() - t0;
    await until(quiet, 'both stacks to go idle');
    expect(server.tcpLayer.connectionCount).toBe(N);
    expect(client.tcpLayer.connectionCount).toBe(N);
    expect(server.stats().tcp!.CurrEstab).toBe(N);
    const m1 = measure();

    // Take the client away: cut the wire first, so its resets never reach the server.
    pair.a.close();
    await client.close();
    client = undefined;
    held.fill(undefined as unknown as Socket);
    for (let i = 0; i < 3; i++) await turn();
    const m2 = measure();
    expect(server.tcpLayer.connectionCount).toBe(N);
    expect(server.stats().tcp!.CurrEstab).toBe(N);

    const per = (a: Mem, b: Mem) => ({
      total: (total(b) - total(a)) / N,
      heap: (b.heap - a.heap) / N,
      buffers: (b.arrayBuffers - a.arrayBuffers) / N,
    });
    const srv = per(m0, m2);
    const cli = per(m2, m1);
    const fmt = (x: { total: number; heap: number; buffers: number }): string =>
      `${Math.round(x.total)} B (JS heap ${Math.round(x.heap)} B, ArrayBuffer storage ${Math.round(x.buffers)} B)`;
    console.log(`${N} idle connections (opened with one echo each in ${(openMs / 1000).toFixed(1)} s): ` +
      `server ${fmt(srv)} per connection; client ${fmt(cli)} per connection`);
    expect(srv.total).toBeGreaterThan(0);
    expect(srv.total).toBeLessThan(BOUND);
    expect(cli.total).toBeGreaterThan(0);
    expect(cli.total).toBeLessThan(BOUND);
  });
});
