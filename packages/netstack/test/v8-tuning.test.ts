// The CLI's V8 tuning (src/v8-tuning.ts): with it, a function reaches TurboFan after far
// fewer calls; a budget given on the command line is left alone. Each check runs in a
// child process (V8 flags are per process), with concurrent recompilation off so that
// "optimised" is decided by the call count alone, not by a background thread's timing.
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const tuning = resolve(dirname(fileURLToPath(import.meta.url)), '../dist/v8-tuning.js');
const bin = resolve(dirname(fileURLToPath(import.meta.url)), '../bin/netstack.js');

/** Runs `calls` calls of a small function defined after tuneTiering() (or not); 'turbofan' or 'not', and tuneTiering's result. */
function run(tune: boolean, calls: number, extra: string[] = []): { tier: string; set: string } {
  const script = `
    const { tuneTiering } = await import(${JSON.stringify(tuning)});
    const set = ${tune} ? tuneTiering() : 'untouched';
    const f = new Function('x', 'let a = 0; for (let j = 0; j < 4; j++) a = (a * 31 + x + j) | 0; return a;');
    let s = 0;
    for (let i = 0; i < ${calls}; i++) s += f(i);
    const status = %GetOptimizationStatus(f);
    console.log(JSON.stringify({ tier: (status & 64) !== 0 ? 'turbofan' : 'not', set: String(set), s }));
  `;
  const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--no-concurrent-recompilation', ...extra, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim()) as { tier: string; set: string };
}

describe('V8 tuning of the CLI (v8-tuning.ts)', () => {
  it('optimises a function after 200 calls with the tuning, not without (the default budget needs several hundred more)', () => {
    expect(run(false, 200)).toMatchObject({ tier: 'not', set: 'untouched' });
    expect(run(true, 200)).toMatchObject({ tier: 'turbofan', set: 'true' });
    // Both optimise in the end: the tuning moves when, not whether.
    expect(run(false, 3000).tier).toBe('turbofan');
  });

  it('leaves a budget given on the command line alone', () => {
    expect(run(true, 200, ['--interrupt-budget=67584'])).toMatchObject({ tier: 'not', set: 'false' });
  });

  it('the CLI starts with it (bin/netstack.js sets it, then loads the stack)', () => {
    const r = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\d+\.\d+\.\d+/);
  });
});
