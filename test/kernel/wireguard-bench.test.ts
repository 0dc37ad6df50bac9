/**
 * `pnpm bench --wireguard` (bench/wireguard.mjs) as a correctness check, never a timing
 * assertion: every pair (wireguard-go both ends, netstack tunnel both ends with and without
 * offloads, mixed with and without) and the createStack({ wireguard }) client, 2 MB per
 * transfer, one rep, --strict.
 *
 * Network safety: the bench makes its own namespaces (nsw-PID-{a,b}) and deletes them; this
 * test checks that none is left. Every transfer is bounded (--timeout).
 *
 * Proven (each can fail): every transfer completed with its exact byte count (the address
 * it reaches, 10.100.0.2, exists only behind the tunnel); the ping through each pair got its
 * 20 answers; the CPU read for each end is its tunnel process's (more than zero for the
 * transfer); the stack client's packets went through its WireGuard link; the table and
 * the ratio lines are printed; no namespace is left.
 */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { repoRoot, requireKernelTools } from './netns.js';

interface Xfer { bytes: number; done: boolean; mbps: number; cpuPerGb: number[]; linkRx?: number; linkTx?: number }
interface Results {
  size: number;
  results: { pairs: Record<string, { rtt: { received: number; avg: number }; down: Xfer[]; up: Xfer[] }>; stack: { down: Xfer[] } | null; veth: { down: Xfer[]; up: Xfer[] } };
  failures: string[];
}

function runBench(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string; pid: number }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [resolve(repoRoot, 'bench/wireguard.mjs'), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); res({ code, out, pid: child.pid! }); });
  });
}

describe('pnpm bench --wireguard (quick, as a correctness check)', () => {
  it('every pair and the stack client: each transfer exact through the tunnel, pings answered, CPU read from the tunnel processes, no namespace left', async () => {
    requireKernelTools();
    for (const tool of ['wireguard-go', 'wg']) {
      if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`this test needs '${tool}': apt-get install -y --no-install-recommends wireguard-go wireguard-tools`);
    }
    const size = 2_000_000;
    const r = await runBench(['--quick', '--size', String(size), '--timeout', '30', '--strict'], 240_000);
    expect(r.code, r.out.slice(-2000)).toBe(0);
    const file = /^samples: (.+)$/m.exec(r.out)?.[1];
    expect(file).toBeDefined();
    const res = JSON.parse(readFileSync(file!, 'utf8')) as Results;
    rmSync(file!);
    expect(res.failures).toEqual([]);
    expect(Object.keys(res.results.pairs).sort()).toEqual(['ns-ns', 'ns-ns+o', 'ns-wgo', 'ns-wgo+o', 'wgo-wgo']);
    for (const [key, p] of Object.entries(res.results.pairs)) {
      expect(p.rtt.received, key).toBe(20);
      for (const x of [...p.down, ...p.up]) {
        expect(x.done, key).toBe(true);
        expect(x.bytes, key).toBe(size);
        expect(x.mbps, key).toBeGreaterThan(0);
        // Both ends' tunnel processes worked for the transfer (10 ms ticks: 2 MB is enough to see one in the sum).
        expect(x.cpuPerGb.length, key).toBe(2);
        expect(x.cpuPerGb[0]! + x.cpuPerGb[1]!, key).toBeGreaterThan(0);
      }
    }
    const stack = res.results.stack!.down[0]!;
    expect(stack.done).toBe(true);
    expect(stack.bytes).toBe(size);
    expect(stack.linkRx).toBeGreaterThan(0);
    expect(stack.linkTx).toBeGreaterThan(0);
    expect(r.out).toMatch(/^wireguard-go <-> wireguard-go +[\d.]+ +[\d.]+ +[\d.]+/m);
    expect(r.out).toMatch(/^netstack --offload <-> wireguard-go +[\d.]+/m);
    expect(r.out).toMatch(/^createStack\(\{ wireguard \}\) <-> wireguard-go +- +[\d.]+/m);
    expect(r.out).toMatch(/netstack\/wireguard-go down \(netstack --offload\) +[\d.]+ /);
    expect(r.out).toMatch(/mixed\/better homogeneous up +[\d.]+ /);
    expect(r.out).toMatch(/stack client\/tunnel down +[\d.]+ /);
    const left = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').filter((l) => l.startsWith(`nsw-${r.pid}-`));
    expect(left).toEqual([]);
  }, 300_000);
});
