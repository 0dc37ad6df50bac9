/**
 * The packages as a user outside the monorepo gets them. Every
 * package is packed with `pnpm pack` (which rewrites `workspace:^` and applies
 * `publishConfig`), the tarballs are installed together with `npm install` into a
 * fresh project under the system's temp directory, and that project runs the
 * README's example (ESM), a CommonJS `require`, the `netstack` command, and `tsc
 * --noEmit` on a TypeScript consumer under moduleResolution node16, bundler and node.
 *
 * Needs the npm registry for the third-party dependencies (koffi, ipaddr.js, denque,
 * @types/node); every command is bounded in time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PACKAGES = ['common', 'tun', 'host', 'ip', 'ethernet', 'icmp', 'udp', 'tcp', 'wireguard', 'netstack'];
const tsc = join(repo, 'node_modules/typescript/bin/tsc');

let dir: string;
let tarballs: string;
let app: string;
/** package name -> tarball file name */
const packed = new Map<string, string>();

function run(cmd: string, args: string[], cwd: string, timeoutMs: number, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, ...env }, maxBuffer: 32 << 20 });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  return r;
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  if (r.status !== 0) throw new Error(`${what} exited ${r.status ?? r.signal}:\n${r.stdout.slice(-2000)}\n${r.stderr.slice(-3000)}`);
  return r.stdout;
}

function tarList(file: string): string[] {
  return ok(run('tar', ['tzf', join(tarballs, file)], tarballs, 10_000), `tar tzf ${file}`).split('\n').filter(Boolean);
}

function tarRead(file: string, member: string): string {
  return ok(run('tar', ['xzfO', join(tarballs, file), member], tarballs, 10_000), `tar x ${member}`);
}

/** Every condition name used anywhere in an exports map. */
function conditions(exportsField: unknown, out = new Set<string>()): Set<string> {
  if (exportsField && typeof exportsField === 'object') {
    for (const [k, v] of Object.entries(exportsField)) {
      if (!k.startsWith('.')) out.add(k);
      conditions(v, out);
    }
  }
  return out;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'netstack-pack-'));
  tarballs = join(dir, 'tarballs');
  app = join(dir, 'app');
  // The tarballs hold dist/: build it (a no-op when up to date).
  ok(run(process.execPath, [tsc, '-b'], repo, 120_000), 'tsc -b');
  for (const p of PACKAGES) {
    ok(run('pnpm', ['pack', '--pack-destination', tarballs], join(repo, 'packages', p), 30_000), `pnpm pack in packages/${p}`);
  }
  for (const f of readdirSync(tarballs)) {
    const name = JSON.parse(tarRead(f, 'package/package.json')).name as string;
    packed.set(name, f);
  }
}, 180_000);

afterAll(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('the packed tarballs', () => {
  it('one per package', () => {
    expect([...packed.keys()].sort()).toEqual(PACKAGES.map((p) => `@netstack/${p}`).sort());
  });

  for (const p of PACKAGES) {
    // Several tar runs each: 5 s (vitest's default) was once too little on a loaded 2-core machine.
    it(`@netstack/${p}: a complete manifest, no workspace-only parts, no build info, maps that resolve`, { timeout: 30_000 }, () => {
      const file = packed.get(`@netstack/${p}`)!;
      const files = tarList(file);
      const manifest = JSON.parse(tarRead(file, 'package/package.json'));
      for (const field of ['name', 'version', 'description', 'license', 'repository', 'engines', 'type', 'exports', 'main', 'types', 'files']) {
        expect(manifest[field], `${field} in @netstack/${p}`).toBeDefined();
      }
      expect(manifest.engines.node).toBe('>=20');
      expect(manifest.type).toBe('module');
      expect(manifest.exports['.']).toMatchObject({ types: './dist/index.d.ts', import: './dist/index.js', default: './dist/index.js' });
      // The monorepo's test-only condition points at sources; the published manifest has none.
      expect([...conditions(manifest.exports)].sort()).toEqual(['default', 'import', 'types']);
      expect(manifest.publishConfig?.exports).toBeUndefined();
      for (const [dep, range] of Object.entries({ ...manifest.dependencies } as Record<string, string>)) {
        expect(range, `${dep} in @netstack/${p}`).not.toMatch(/^workspace:/);
        if (dep.startsWith('@netstack/')) expect(range).toBe(`^${manifest.version}`);
      }
      expect(files).toContain('package/README.md');
      expect(files).toContain('package/LICENSE');
      expect(files).toContain(`package/${manifest.main.replace(/^\.\//, '')}`);
      expect(files).toContain(`package/${manifest.types.replace(/^\.\//, '')}`);
      expect(files.filter((f) => /tsbuildinfo|\.test\.|\/test\//.test(f))).toEqual([]);
      // Every source map (.js.map, .d.ts.map) points at files that are in the tarball.
      const maps = files.filter((f) => f.endsWith('.map'));
      expect(maps.length).toBeGreaterThan(0);
      const missing: string[] = [];
      for (const m of maps) {
        const { sources } = JSON.parse(tarRead(file, m)) as { sources: string[] };
        for (const s of sources) {
          const target = join(dirname(m), s);
          if (!files.includes(target)) missing.push(`${m} -> ${s}`);
        }
      }
      expect(missing).toEqual([]);
    });
  }
});

describe('installed with npm into a project outside the monorepo', () => {
  beforeAll(() => {
    const deps = Object.fromEntries([...packed].map(([name, f]) => [name, `file:../tarballs/${f}`]));
    writeFileSync(join(dir, 'package.json'), '{}\n'); // stops npm from looking further up for a project root
    ok(run('mkdir', ['-p', app], dir, 5000), 'mkdir');
    writeFileSync(join(app, 'package.json'), JSON.stringify({
      name: 'consumer', private: true, type: 'module',
      dependencies: deps,
      // The @netstack/* dependencies between the packages resolve to these tarballs,
      // never to whatever the registry holds under those names.
      overrides: deps,
      devDependencies: { '@types/node': '^20.19.0' },
    }, null, 2));
    ok(run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--fetch-timeout=20000', '--fetch-retries=1', '--loglevel=error'], app, 90_000), 'npm install');
  }, 120_000);

  it('each @netstack package is installed once, from its tarball', () => {
    const lock = JSON.parse(readFileSync(join(app, 'package-lock.json'), 'utf8')) as { packages: Record<string, { resolved?: string; version?: string }> };
    const ours = Object.entries(lock.packages).filter(([path]) => /node_modules\/@netstack\//.test(path));
    expect(ours.map(([path]) => path).sort()).toEqual(PACKAGES.map((p) => `node_modules/@netstack/${p}`).sort());
    for (const [path, entry] of ours) expect(entry.resolved, path).toMatch(/^file:\.\.\/tarballs\//);
    // Real copies, not links into the monorepo.
    expect(existsSync(join(app, 'node_modules/@netstack/netstack/src/index.ts'))).toBe(true);
    expect(readFileSync(join(app, 'node_modules/@netstack/netstack/dist/index.js'), 'utf8')).toBe(readFileSync(join(repo, 'packages/netstack/dist/index.js'), 'utf8'));
  });

  it('the README example runs as written (ESM): a TCP echo and a UDP echo between two stacks', { timeout: 30_000 }, () => {
    const readme = readFileSync(join(repo, 'packages/netstack/README.md'), 'utf8');
    const code = /<!-- example: echo\.mjs[^>]*-->\s*```js\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(code, 'the example block in packages/netstack/README.md').toBeDefined();
    // The root README's API example is the same program, so it runs as written too.
    const root = readFileSync(join(repo, 'README.md'), 'utf8');
    const rootCode = /## The API[\s\S]*?```js\n([\s\S]*?)```/.exec(root)?.[1];
    expect(rootCode, 'the first js block of the root README\'s API section').toBe(code);
    writeFileSync(join(app, 'echo.mjs'), code!);
    const r = run(process.execPath, ['echo.mjs'], app, 15_000);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('tcp: hello over TCP\nudp: hello over UDP from 10.0.0.1:7\n');
  });

  it('CommonJS: require() works where Node loads ES modules synchronously, else the documented ERR_REQUIRE_ESM', { timeout: 30_000 }, () => {
    writeFileSync(join(app, 'main.cjs'), `
try {
  const ns = require('@netstack/netstack');
  const ip = require('@netstack/ip');
  console.log(JSON.stringify({ ok: typeof ns.createStack === 'function' && typeof ns.createLinkPair === 'function' && typeof ip.parseIpv4 === 'function' }));
} catch (err) {
  console.log(JSON.stringify({ code: err.code }));
}
`);
    const r = run(process.execPath, ['main.cjs'], app, 15_000);
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout.trim()) as { ok?: boolean; code?: string };
    if (process.features.require_module === true) expect(result).toEqual({ ok: true });
    else expect(result).toEqual({ code: 'ERR_REQUIRE_ESM' });
  });

  it('the netstack command is installed: npx netstack --version, and no arguments exits 2', { timeout: 30_000 }, () => {
    const { version } = JSON.parse(readFileSync(join(repo, 'packages/netstack/package.json'), 'utf8')) as { version: string };
    const v = run('npx', ['--no-install', 'netstack', '--version'], app, 15_000);
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout).toBe(`netstack ${version}\n`);
    const none = run(join(app, 'node_modules/.bin/netstack'), [], app, 15_000);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/Usage: netstack <command>/);
  });

  const consumer = `import { createStack, createLinkPair, NetstackError, type Stack, type StackOptions } from '@netstack/netstack';
import { parseIpv4, type Ipv4Repr } from '@netstack/ip';
import type { TcpLayer } from '@netstack/tcp';
import type { UdpLayer } from '@netstack/udp';
import type { IcmpLayer } from '@netstack/icmp';
import { TunDevice } from '@netstack/tun';

export async function make(): Promise<Stack> {
  const { a } = createLinkPair({ mtu: 1500 });
  const options: StackOptions = { link: a, address: '10.0.0.1' };
  const stack = await createStack(options);
  const tcp: TcpLayer = stack.tcpLayer;
  const n: number = tcp.connectionCount;
  void n;
  return stack;
}
export type Layers = [Ipv4Repr | undefined, UdpLayer | undefined, IcmpLayer | undefined];
export const parse: typeof parseIpv4 = parseIpv4;
export const isError = (e: unknown): e is NetstackError => e instanceof NetstackError;
export const open: typeof TunDevice.open = TunDevice.open;
`;
  const configs: Record<string, Record<string, unknown>> = {
    node16: { module: 'node16', moduleResolution: 'node16' },
    bundler: { module: 'esnext', moduleResolution: 'bundler' },
    'node (node10, main/types fields)': { module: 'commonjs', moduleResolution: 'node' },
  };
  for (const [label, options] of Object.entries(configs)) {
    it(`tsc --noEmit, moduleResolution ${label}, the packages' own declarations checked too`, { timeout: 60_000 }, () => {
      const name = `tsconfig.${label.split(' ')[0]}.json`;
      const sub = join(app, `ts-${label.split(' ')[0]}`);
      ok(run('mkdir', ['-p', sub], app, 5000), 'mkdir');
      writeFileSync(join(sub, 'consumer.ts'), consumer);
      writeFileSync(join(sub, name), JSON.stringify({
        compilerOptions: {
          ...options, target: 'es2022', strict: true, noEmit: true, types: ['node'],
          // Check the shipped .d.ts files as well, not only our use of them.
          skipLibCheck: false
        },
        files: ['consumer.ts'],
      }));
      const r = run(process.execPath, [tsc, '-p', name], sub, 60_000);
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    });
  }
});
