/**
 * Kernel-facing, hostile: a kernel-side client opening and closing HTTP connections to
 * `netstack serve` as fast as it can ("Connection: close": the stack closes first, so
 * each connection it served waits in TIME-WAIT on the stack's side for 60 s), from 8
 * local addresses so that the kernel's ports never run out. Before TIME-WAIT was bounded
 * this filled the whole table (65 536) in about 15 s, and every new connection, anyone's,
 * was dropped for a minute (TableFull). Now at most maxTimeWait (16 384) wait, the rest
 * skip TIME-WAIT (TimeWaitOverflows), and a normal client is served during and after.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Netns, Server, liveStats, repoRoot, statCount } from './netns.js';

const STACK = '10.7.0.2';
const MAX_TIME_WAIT = 16_384;
const LOCALS = Array.from({ length: 8 }, (_, i) => `10.7.0.${11 + i}`);
let ns: Netns;
let server: Server;

beforeAll(async () => {
  ns = Netns.create('churn');
  server = await ns.serve(['--stats']);
  for (const a of LOCALS) ns.runSync('ip', ['addr', 'add', `${a}/24`, 'dev', 'tun0']);
});

afterAll(async () => {
  await ns?.close();
});

async function curl(): Promise<string> {
  const r = await ns.run('curl', ['-s', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', `http://${STACK}/bytes/1000`], { timeoutMs: 10_000 });
  return r.stdout;
}

describe('netstack serve under connection churn (TIME-WAIT flood)', () => {
  it('TIME-WAIT stays within maxTimeWait, no SYN is dropped for a full table, curl is served during and after', { timeout: 30_000 }, async () => {
    const churn = ns.run(process.execPath, [join(repoRoot, 'test/kernel/fixtures/http-churn.mjs'), STACK, '6', '100', ...LOCALS], { timeoutMs: 25_000 });
    await new Promise((r) => setTimeout(r, 4000)); // mid-flood: a bystander's request
    const during = await curl();
    const r = await churn;
    const res = JSON.parse(r.stdout.trim()) as { ok: number; fail: number };
    expect(res.fail, r.stdout).toBe(0);
    // The flood is only a test of the bound if it closed more connections than the bound.
    expect(res.ok, 'connections closed by the flood').toBeGreaterThan(MAX_TIME_WAIT + 2000);
    expect(during).toBe('200');
    expect(await curl()).toBe('200');
    const s = await liveStats(server);
    expect(statCount(s, 'tcp', 'dropped.TableFull')).toBe(0);
    expect(statCount(s, 'tcp', 'TimeWaitOverflows')).toBeGreaterThan(0);
    expect(server.child.exitCode).toBeNull();
    const stop = await server.stop();
    expect(stop.code).toBe(0);
    const line = server.stdout.split('\n').filter((l) => l.startsWith('stats ')).pop()!;
    const connections = (JSON.parse(line.slice(6)) as { tcp: { connections: number } }).tcp.connections;
    expect(connections).toBeLessThanOrEqual(MAX_TIME_WAIT);
  });
});
