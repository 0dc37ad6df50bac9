/**
 * Where user code runs (events.ts): a handler that throws, on every event type the
 * sockets emit, never unwinds the stack. Child processes, because a thrown handler is
 * an uncaught exception of the process (Node's semantics), which vitest would report
 * as its own failure: `survive` collects them with an 'uncaughtException' handler and
 * checks the stacks kept working; `die` has no handler and must exit with the user's
 * error. Runs the built packages (scripts/test builds first).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const fixture = resolve(here, 'fixtures/throwing-handlers.mjs');

function run(mode: 'survive' | 'die'): { status: number | null; stdout: string; stderr: string } {
  if (!existsSync(resolve(here, '../dist/index.js'))) throw new Error('packages are not built: run scripts/test (it runs tsc -b first)');
  const r = spawnSync(process.execPath, [fixture, mode], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('user handlers that throw', () => {
  it('with an uncaughtException handler: every error surfaces, no datagram of the batch is lost, every socket and both stacks keep working', () => {
    const r = run('survive');
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
    // UDP: 200 datagrams to a throwing socket interleaved with 200 to an echo socket in one
    // burst: each thrower 'message' ran (and threw), every echo came back.
    expect(res.udp.thrownMessages).toBe(200);
    expect(res.udp.echoed).toBe(200);
    expect(res.udp.udpB.InDatagrams).toBe(400);
    expect(res.udp.udpB.RcvbufErrors).toBe(0);
    // TCP echo through a server whose 'connection', 'end', 'close' throw: exact.
    expect(res.tcp).toEqual([true, true, true, true, true]);
    // A socket whose 'data' listener throws on every chunk: every byte read, counted right.
    expect(res.data).toEqual({ counted: 300_000, bytesRead: 300_000 });
    // A writer whose 'drain' and write callback throw: every byte reached the server.
    expect(res.sink.sunk).toBe(1_001_000);
    expect(res.sink.bytesWritten).toBe(1_001_000);
    expect(res.ping).toBe(true);
    expect(res.udpAfter).toBe('after');
    expect(res.tcpAfter).toBe('tcp after');
    const count = (m: string): number => res.caught.filter((x: string) => x === `user boom: ${m}`).length;
    expect(count('message')).toBe(200);
    expect(count('connection')).toBe(6);
    expect(count('close')).toBe(6);
    expect(count('end')).toBe(6);
    expect(count('data')).toBeGreaterThanOrEqual(5); // 300 000 bytes arrive in several chunks
    for (const m of ['listening', 'server listening', 'drain', 'write callback', 'error ECONNREFUSED']) expect(count(m), m).toBe(1);
    // Only user errors surfaced: nothing from the stack itself.
    expect(res.caught.filter((x: string) => !x.startsWith('user boom: '))).toEqual([]);
    expect(res.stackB.InternalErrors).toBe(0);
  }, 60_000);

  it('without a handler: the process exits 1 with the user\'s error, not a stack error', () => {
    const r = run('die');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('Error: user boom: message');
    expect(r.stderr).not.toContain('fixture deadline');
  }, 60_000);
});
