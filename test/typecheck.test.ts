/**
 * Every package's tests (and sources, and the cross-package tests here) type-check:
 * `tsc --noEmit -p tsconfig.test.json`, strict as the sources are. Vitest strips types
 * without checking them, so without this a type error in a test would pass unseen.
 */
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');

describe('types', () => {
  it('tsc --noEmit -p tsconfig.test.json: every test of every package type-checks', () => {
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '--noEmit', '-p', resolve(repo, 'tsconfig.test.json')], { cwd: repo, encoding: 'utf8', timeout: 170_000 });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 180_000);
});
