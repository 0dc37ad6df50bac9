/**
 * `pnpm bench --impaired` (bench/impaired.mjs) as a correctness check, never a timing
 * assertion (issue 15: "a quick version of the matrix runs in CI"): two scenarios, both
 * directions, Linux and netstack, one seed, 1 MiB transfers, --strict.
 *
 * Network safety: the bench makes its own namespaces (nsi-PID-{h,a,b,c}) and deletes them;
 * this test checks that none is left. Every transfer is bounded (--timeout).
 *
 * Proven (each can fail): every cell was measured (exit 0 with --strict: no transfer
 * failed, timed out or lacked the relay's data-direction packets; downloads checked byte
 * for byte); each transfer's data crossed the relay's shaper in the direction the bench
 * says (reordering counted there, and in the bottleneck scenario the queue was used in the
 * data direction only); Linux's end ran the congestion control asked for (`ss -tin` of A's
 * socket names it: on a machine whose default is bbr, a silently ignored TCP_CONGESTION
 * shows); the table has a ratio per netstack cell; no namespace is left.
 */
import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { repoRoot, requireKernelTools } from './netns.js';

interface Sample {
  scenario: string; dir: 'down' | 'up'; target: string; col: string; error?: string; value: number; bytes: number;
  relay: Record<'ab' | 'ba', Record<string, number>>; ss?: Array<{ out: string; final?: boolean }>;
}

function runBench(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string; pid: number }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [resolve(repoRoot, 'bench/impaired.mjs'), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); res({ code, out, pid: child.pid! }); });
  });
}

describe('pnpm bench --impaired (quick, as a correctness check)', () => {
  it('reordering (d) and bufferbloat (g), both directions, Linux and netstack: every transfer exact and through the shaper, Linux on cubic, no namespace left', async () => {
    requireKernelTools();
    const r = await runBench(['--quick', '--scenarios', 'd,g', '--cc', 'cubic', '--size', String(1 << 20), '--timeout', '30', '--ss', '--strict'], 240_000);
    expect(r.code, r.out.slice(-2000)).toBe(0);
    const file = /^Raw results: (.+)$/m.exec(r.out)?.[1];
    expect(file).toBeDefined();
    const res = JSON.parse(readFileSync(file!, 'utf8')) as { samples: Sample[]; table: string[] };
    rmSync(file!);
    // 2 scenarios x 2 directions x {Linux, netstack cubic}.
    expect(res.samples).toHaveLength(8);
    let sampled = 0;
    for (const s of res.samples) {
      const what = `${s.scenario} ${s.dir} ${s.col}`;
      expect(s.error, what).toBeUndefined();
      expect(s.bytes, what).toBe(1 << 20);
      expect(s.value, what).toBeGreaterThan(0);
      const [data, ack] = s.dir === 'down' ? [s.relay.ba!, s.relay.ab!] : [s.relay.ab!, s.relay.ba!];
      expect(data.Forwarded, what).toBeGreaterThanOrEqual(Math.floor((1 << 20) / 1460));
      if (s.scenario === 'd') expect(data.Reordered, what).toBeGreaterThan(0);
      if (s.scenario === 'g') {
        expect(data.QueuedPackets, what).toBeGreaterThan(0);
        expect(ack.QueuedPackets, what).toBe(0);
      }
      // A's socket (Linux) as ss saw it: the congestion control the bench set. A 1 MiB transfer
      // can end before the first sample (then nothing is seen); what is seen must be cubic.
      const seen = (s.ss ?? []).map((x) => x.out).join('\n');
      if (seen.trim() !== '') {
        sampled++;
        expect(seen, what).toMatch(/\bcubic\b/);
        expect(seen, what).not.toMatch(/\bbbr\b/);
      }
    }
    expect(sampled, 'transfers with an ss sample').toBeGreaterThanOrEqual(2);
    expect(res.table.some((l) => /^\| d \| down \| [\d.]+ \| [\d.]+ \| [\d.]+x \|$/.test(l)), res.table.join('\n')).toBe(true);
    expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).not.toContain(`nsi-${r.pid}-`);
  }, 300_000);
});
