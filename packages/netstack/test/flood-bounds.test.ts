/**
 * The bounds of the transport tables hold under floods: a child process with
 * --expose-gc floods a stack through an in-memory link and measures what it holds
 * (fixtures/flood-bounds.mjs). The bounds are the ones the package READMEs state.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));

describe('table bounds under floods', () => {
  it('SYN queue, out-of-order queue, UDP receive queue and TCP buffer memory hold their bounds', () => {
    if (!existsSync(resolve(here, '../dist/index.js'))) throw new Error('packages are not built: run scripts/test (it runs tsc -b first)');
    const r = spawnSync(process.execPath, ['--expose-gc', resolve(here, 'fixtures/flood-bounds.mjs')], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
    // 100 000 SYNs: the SYN queue stays at its 128 (SYN cookies beyond), the memory at
    // most twice 128 half-open connections of 8 KiB.
    expect(res.synFlood.peakConnections).toBe(128);
    expect(res.synFlood.cookiesSent).toBe(100_000 - 128);
    expect(res.synFlood.bytes).toBeLessThanOrEqual(2 * res.synFlood.boundBytes);
    // 50 000 one-byte segments at random offsets of one connection's window: every one
    // held or dropped within the receive buffer (256 KiB) and 256 ranges (maxOutOfOrderRanges).
    expect(res.oooFlood.outOfOrder).toBe(50_000);
    expect(res.oooFlood.bytes).toBeLessThanOrEqual(2 * res.oooFlood.boundBytes);
    // UDP: a batch queues at most recvBufferSize (212 992 bytes, 1400 + 256 per datagram)
    // for a socket; the rest is RcvbufErrors, every datagram accounted for.
    expect(res.udpFlood.delivered).toBe(20 * res.udpFlood.perBatchBound);
    expect(res.udpFlood.InDatagrams + res.udpFlood.RcvbufErrors).toBe(res.udpFlood.sent);
    // TCP buffers: 64 connections that would hold 16 MiB stay at maxBufferMemory (4 MiB)
    // plus at most 4 KiB per buffer; once read, every byte arrives exact (no stall), and
    // closing gives every byte of storage back.
    const m = res.bufferMemory;
    expect(m.peakGauge).toBeLessThanOrEqual(m.limit + m.connections * 2 * m.guaranteed);
    expect(m.peakGauge).toBeGreaterThanOrEqual(m.limit * 0.9); // the limit did bind
    expect(m.memoryPressure).toBeGreaterThan(0);
    expect(m.exact).toBe(m.connections);
    expect(m.total).toBe(m.connections * 1024 * 1024);
    expect(m.afterClose).toBe(0);
  }, 120_000);
});
