/**
 * The published types show the API only. `stripInternal` (tsconfig.base.json) leaves every
 * declaration whose doc comment says `@internal` out of the emitted dist/**\/*.d.ts; this
 * reads those files as they would be packed and finds none left (the doc comments stay in
 * the .d.ts, so a kept internal member would show its tag). Then the declarations are
 * type-checked on their own with skipLibCheck off: a public declaration that still names a
 * stripped one (a class implementing an interface whose members were stripped, a type
 * naming an internal type) fails there, where a consumer with skipLibCheck on would get a
 * silent `any`.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGES = ['common', 'tun', 'host', 'ip', 'ethernet', 'icmp', 'udp', 'tcp', 'wireguard', 'netstack'];
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function walkSources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walkSources(p, out);
    else if (e.name.endsWith('.ts')) out.push(p);
  }
  return out;
}

/** `file:line: text` of every line of a declaration file that carries an `@internal` tag. */
function internalTags(file: string, text: string): string[] {
  return text.split('\n').flatMap((line, i) => (/@internal\b/.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : []));
}

function declarations(pkg: string): string[] {
  return walk(join(repo, 'packages', pkg, 'dist'));
}

beforeAll(() => {
  // The declarations as packed: build (a no-op when up to date).
  const r = spawnSync(process.execPath, [tsc, '-b'], { cwd: repo, encoding: 'utf8', timeout: 170_000 });
  expect(r.status, r.stdout + r.stderr).toBe(0);
}, 180_000);

describe('published .d.ts: the API only (stripInternal)', () => {
  it('detects an @internal member when one is present', () => {
    const dts = 'export declare class C {\n    /** @internal the table chain */\n    next: C | undefined;\n    get id(): number;\n}\n';
    expect(internalTags('x.d.ts', dts)).toEqual(['x.d.ts:2: /** @internal the table chain */']);
    expect(internalTags('x.d.ts', dts.replace(/ *\/\*\* @internal[^\n]*\n/, ''))).toEqual([]);
  });

  it('the sources do tag members @internal (so the check below has something to find)', () => {
    const src = readFileSync(join(repo, 'packages/tcp/src/connection.ts'), 'utf8');
    expect(src.match(/@internal\b/g)?.length ?? 0).toBeGreaterThan(10);
  });

  it('no constructor is tagged @internal in the sources: stripped, it would read as a public one without arguments', () => {
    const found: string[] = [];
    for (const pkg of PACKAGES) {
      for (const f of walkSources(join(repo, 'packages', pkg, 'src'))) {
        const lines = readFileSync(f, 'utf8').split('\n');
        lines.forEach((line, i) => {
          if (/^\s*constructor\(/.test(line) && /@internal\b/.test(lines[i - 1] ?? '')) found.push(`${relative(repo, f)}:${i + 1}`);
        });
      }
    }
    expect(found).toEqual([]);
  });

  for (const pkg of PACKAGES) {
    it(`@netstack/${pkg}: no @internal declaration in dist/**/*.d.ts, doc comments kept`, () => {
      const files = declarations(pkg);
      expect(files.length).toBeGreaterThan(0);
      const texts = files.map((f) => [relative(repo, f), readFileSync(f, 'utf8')] as const);
      // The scan relies on the doc comments being emitted (no removeComments).
      expect(texts.some(([, t]) => t.includes('/**'))).toBe(true);
      expect(texts.flatMap(([f, t]) => internalTags(f, t))).toEqual([]);
    });
  }

  it('the declarations type-check on their own (skipLibCheck off): none names a stripped declaration', () => {
    const files = PACKAGES.flatMap(declarations);
    const r = spawnSync(process.execPath, [
      tsc, '--noEmit', '--skipLibCheck', 'false', '--strict', '--exactOptionalPropertyTypes',
      '--target', 'ES2022', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--types', 'node',
      ...files,
    ], { cwd: repo, encoding: 'utf8', timeout: 110_000 });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  }, 120_000);
});
