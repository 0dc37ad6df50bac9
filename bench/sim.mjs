// `pnpm bench --sim` (bash scripts/bench --sim): the simulation throughput regression guard
// of issue 15 ("throughput in simulation at least the previous release's for the same
// seeds, as a benchmark, not a timed assertion").
//
// Issue 15's scenarios (a)-(g) (bench/impaired-scenarios.mjs, the specs of bench --impaired)
// on the deterministic simulator (bench/sim-core.mjs: two TcpLayers through the project's
// shaper on a virtual clock), for each --cc, over seeds 1..N, a bulk transfer of --size
// bytes from A to B (one direction: the simulated path has the same TCP at both ends, so
// "netstack sending" and "netstack receiving" are the same run). Two columns on the same
// cells: the current tree's TCP (its packages/tcp/dist, built by scripts/bench; or --current
// REV's) and a baseline revision's, built in a temporary git worktree under /tmp (removed
// afterwards).
// The simulator, the shaper and the clock are this tree's for both: only the TCP differs.
//
// Figures are virtual-time throughput (bytes / virtual seconds until the receiver read the
// last byte): exact and repeatable, whatever the machine or its load. A cell's verdict is
// the ratio of the medians over seeds, current / baseline; --strict exits 1 when a cell is
// below --threshold. Every transfer is also checked (bytes exact, clean close): a failed one
// in the current tree exits 1 always. Every sample goes to results/sim-<timestamp>.json.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { SCENARIOS } from './impaired-scenarios.mjs';
import { compare, loadShared, loadTcp, median, runMatrix } from './sim-core.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1 << 20;

const USAGE = `usage: pnpm bench --sim [options]   (no root, no network: a simulation)
  Issue 15's scenarios on the deterministic simulator, the current tree's TCP against a
  baseline revision's on the same seeds: a throughput regression guard.
  --baseline REV     the revision to compare with (any git revision: a commit, a branch,
                     HEAD~3, a tag). Default: where this branch left main, git merge-base HEAD main
                     (HEAD itself on main, or without a main branch): the ratios then show
                     what the branch and its uncommitted changes do. Built in a temporary
                     worktree under /tmp (pnpm install --offline, tsc -b packages/tcp), removed
                     at the end. When packages/ is the same in REV and in the working tree,
                     the current tree stands for it (nothing to build; every ratio is 1).
  --baseline-dir DIR a built tree to use as the baseline instead (e.g. another worktree)
  --current REV      the current column from a revision instead of the working tree (built
                     like the baseline), e.g. a helper's branch before merging it:
                     --current s21-x (baseline: git merge-base s21-x main)
  --no-baseline      the current tree only (figures, no ratios)
  --seeds N          seeds 1..N per cell, the median reported (default 15: with 5, one
                     chaotic seed moved a cell's median by a third)
  --scenarios LIST   subset of ${Object.keys(SCENARIOS).join(',')} (default all):
${Object.entries(SCENARIOS).map(([k, s]) => `                       ${k}: ${s.what}`).join('\n')}
  --cc LIST          congestion controls (default cubic,newreno)
  --size B           bytes per transfer (default 16 MiB)
  --pacing on|off    TcpLayerOptions.pacing for both columns (default: each TCP's own
                     default, on since 3166f77; a build without pacing ignores it)
  --threshold X      the lowest acceptable ratio of medians current/baseline (default 0.95)
  --strict           exit 1 when a cell's ratio is below --threshold
  --keep             keep the temporary worktrees (their paths are printed)
Each transfer is bounded to 600 s of virtual time; a transfer that does not finish, or
delivers a wrong byte, fails (counted as 0 MB/s) and a failure of the current tree exits 1.
The default run: 7 scenarios x 2 cc x 15 seeds x 2 columns = 420 transfers of 16 MiB,
about a minute and a half of CPU plus the baseline's build (seconds to a minute).`;

const { values } = parseArgs({
  options: {
    baseline: { type: 'string' },
    current: { type: 'string' },
    'baseline-dir': { type: 'string' },
    'no-baseline': { type: 'boolean' },
    seeds: { type: 'string', default: '15' },
    scenarios: { type: 'string' },
    cc: { type: 'string', default: 'cubic,newreno' },
    size: { type: 'string', default: String(16 * MiB) },
    pacing: { type: 'string' },
    threshold: { type: 'string', default: '0.95' },
    strict: { type: 'boolean' },
    keep: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) { console.log(USAGE); process.exit(0); }
const usage = (msg) => { console.error(`bench --sim: ${msg}\n${USAGE}`); process.exit(2); };
const seeds = Number(values.seeds);
if (!Number.isInteger(seeds) || seeds < 1 || seeds > 100) usage('--seeds must be an integer in 1..100');
const size = Number(values.size);
if (!Number.isInteger(size) || size < 1 || size > 1 << 30) usage('--size must be an integer number of bytes in 1..1 GiB');
const threshold = Number(values.threshold);
if (!(threshold > 0 && threshold <= 10)) usage('--threshold must be a number in (0, 10]');
if (values.pacing !== undefined && values.pacing !== 'on' && values.pacing !== 'off') usage('--pacing must be on or off');
/** Layer options for both columns (--pacing). */
const layerOptions = values.pacing === undefined ? undefined : { pacing: values.pacing === 'on' };
const ccs = values.cc.split(',').filter(Boolean);
for (const c of ccs) if (c !== 'cubic' && c !== 'newreno') usage(`unknown congestion control '${c}'`);
const keys = values.scenarios === undefined ? Object.keys(SCENARIOS) : values.scenarios.split(',').filter(Boolean);
for (const k of keys) if (!(k in SCENARIOS)) usage(`unknown scenario '${k}'`);
const scenarios = Object.fromEntries(keys.map((k) => [k, SCENARIOS[k]]));
const chosen = [values.baseline !== undefined, values['baseline-dir'] !== undefined, values['no-baseline'] === true].filter(Boolean).length;
if (chosen > 1) usage('give one of --baseline, --baseline-dir, --no-baseline');

const git = (...args) => {
  const r = spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
};
const log = (m) => console.error(`[sim] ${m}`);

for (const pkg of ['tcp', 'tun', 'common', 'ip']) {
  if (!existsSync(join(root, `packages/${pkg}/dist/index.js`))) {
    console.error(`bench --sim: packages/${pkg}/dist is missing: build first (pnpm exec tsc -b; scripts/bench does)`);
    process.exit(1);
  }
}

// ------------------------------------------------------------------ the two TCPs
const head = git('rev-parse', 'HEAD');
const dirty = git('status', '--porcelain', '--', 'packages') !== '';
/** Temporary worktrees made here, removed at the end (unless --keep). */
const worktrees = [];
const cleanup = () => {
  if (values.keep) return;
  for (const w of worktrees.splice(0)) {
    spawnSync('git', ['worktree', 'remove', '--force', w], { cwd: root, stdio: 'ignore' });
    rmSync(w, { recursive: true, force: true });
  }
};
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { cleanup(); process.exit(130); });
/** Built trees by commit, so two columns of one commit share one build. */
const built = new Map();

/**
 * A revision's built tree: the working tree itself when packages/ there is the same as the
 * revision's (tracked files equal, nothing untracked: the same TCP, nothing to build), else
 * a worktree of it under /tmp, installed offline and built (packages/tcp and what it needs).
 */
function treeOf(revText, option) {
  const rev = git('rev-parse', '--verify', '--quiet', `${revText}^{commit}`);
  if (rev === undefined) usage(`${option} ${revText}: not a revision of this repository`);
  const subject = git('log', '-1', '--format=%h %s', rev) ?? rev;
  let label = `${revText} = ${subject.length > 100 ? `${subject.slice(0, 97)}...` : subject}`;
  const same = spawnSync('git', ['diff', '--quiet', rev, '--', 'packages'], { cwd: root }).status === 0 &&
    git('ls-files', '--others', '--exclude-standard', '--', 'packages') === '';
  if (same) return { root, label: `${label} (packages/ as in the working tree: its build, nothing to build)` };
  let dir = built.get(rev);
  if (dir === undefined) {
    dir = mkdtempSync(join(tmpdir(), `netstack-sim-${rev.slice(0, 12)}-`));
    rmSync(dir, { recursive: true, force: true }); // git worktree add wants to create it
    log(`building ${rev.slice(0, 12)} in ${dir}`);
    const step = (cmd, args) => {
      const r = spawnSync(cmd, args, { cwd: cmd === 'git' ? root : dir, encoding: 'utf8' });
      if (r.status !== 0) {
        console.error(`bench --sim: ${cmd} ${args.join(' ')} failed:\n${(r.stderr || r.stdout || '').slice(-2000)}` +
          (cmd === 'pnpm' ? '\n(an older lockfile may want packages the local store lacks: build that tree yourself and give --baseline-dir)' : ''));
        cleanup();
        process.exit(1);
      }
    };
    step('git', ['worktree', 'add', '--detach', dir, rev]);
    worktrees.push(dir);
    step('pnpm', ['install', '--frozen-lockfile', '--offline']);
    step('pnpm', ['exec', 'tsc', '-b', 'packages/tcp']);
    built.set(rev, dir);
    if (values.keep) label += ` (kept in ${dir})`;
  }
  return { root: dir, label };
}

let cur;
if (values.current !== undefined) cur = treeOf(values.current, '--current');
else cur = { root, label: `the working tree at ${head?.slice(0, 12) ?? '?'}${dirty ? ' with uncommitted changes under packages/' : ''}` };
let base;
if (values['no-baseline']) {
  base = undefined;
} else if (values['baseline-dir'] !== undefined) {
  const dir = resolve(values['baseline-dir']);
  if (!existsSync(join(dir, 'packages/tcp/dist/index.js'))) usage(`--baseline-dir ${dir}: no packages/tcp/dist/index.js (build it: pnpm exec tsc -b)`);
  const rev = spawnSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: dir, encoding: 'utf8' }).stdout?.trim();
  base = { root: dir, label: `${dir}${rev ? ` (at ${rev}, plus whatever is uncommitted there)` : ''}` };
} else {
  base = treeOf(values.baseline ?? (git('merge-base', values.current ?? 'HEAD', 'main')?.slice(0, 12) ?? 'HEAD'), '--baseline');
  if (values.baseline === undefined) base.label = `merge-base ${values.current ?? 'HEAD'} main: ${base.label}`;
}
if (base !== undefined && base.root === cur.root) base.label += '; the same build as the current column: every ratio is exactly 1';
const baseRoot = base?.root;
const baseLabel = base?.label;

// ------------------------------------------------------------------ run
const shared = await loadShared(root);
const columns = [{ name: 'current', tcp: await loadTcp(cur.root), layerOptions }];
// The same build in both columns: the baseline's samples are the current ones (deterministic).
const sameBuild = baseRoot !== undefined && baseRoot === cur.root;
if (baseRoot !== undefined && !sameBuild) columns.push({ name: 'baseline', tcp: await loadTcp(baseRoot), layerOptions });
log(`current: ${cur.label}`);
if (baseLabel !== undefined) log(`baseline: ${baseLabel}`);
log(`${Object.keys(scenarios).length} scenario(s) x ${ccs.length} cc x ${seeds} seed(s) x ${columns.length} column(s), ${size} bytes each${values.pacing !== undefined ? `, pacing ${values.pacing}` : ''}`);

const t0 = performance.now();
const cpu0 = process.cpuUsage();
let n = 0;
const total = Object.keys(scenarios).length * ccs.length * seeds * columns.length;
let samples;
try {
  samples = await runMatrix(shared, columns, {
    scenarios, ccs, seeds, size,
    onSample: (s) => {
      n++;
      if (!s.ok) log(`FAILED ${s.column} (${s.scenario}) ${s.cc} seed ${s.seed}: ${s.why}`);
      if (n % 10 === 0 || n === total) log(`${n}/${total} transfers`);
    },
  });
} finally {
  cleanup();
}
if (sameBuild) samples = samples.concat(samples.map((x) => ({ ...x, column: 'baseline' })));
const wallS = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);

// ------------------------------------------------------------------ report
const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : String(x));
const pad = (s, w) => String(s).padEnd(w);
const lpad = (s, w) => String(s).padStart(w);
const lines = [];
lines.push('');
lines.push(`bench --sim: issue 15's scenarios in the deterministic simulator, ${(size / MiB).toFixed(size % MiB ? 2 : 0)} MiB per transfer, seeds 1..${seeds}${values.pacing !== undefined ? `, pacing ${values.pacing}` : ''}, median MB/s of virtual time`);
if (baseRoot === undefined) {
  lines.push(`${pad('scenario', 9)}${pad('cc', 9)}${lpad('MB/s', 9)}${lpad('min', 9)}${lpad('max', 9)}${lpad('rtx segs', 10)}${lpad('queue ms', 10)}`);
  for (const k of Object.keys(scenarios)) {
    for (const cc of ccs) {
      const xs = samples.filter((s) => s.scenario === k && s.cc === cc);
      const mb = xs.map((s) => s.mbps);
      lines.push(`${pad(`(${k})`, 9)}${pad(cc, 9)}${lpad(fmt(median(mb)), 9)}${lpad(fmt(Math.min(...mb)), 9)}${lpad(fmt(Math.max(...mb)), 9)}${lpad(median(xs.map((s) => s.retransSegs)), 10)}${lpad(xs.some((s) => s.data.queued > 0) ? fmt(median(xs.map((s) => s.data.queueDelayMeanMs)), 1) : '-', 10)}`);
    }
  }
}
let rows = [];
if (baseRoot !== undefined) {
  rows = compare(samples, 'current', 'baseline', threshold);
  lines.push(`${pad('scenario', 9)}${pad('cc', 9)}${lpad('current', 9)}${lpad('baseline', 10)}${lpad('ratio', 8)}  ${pad('per-seed ratios', 6 * seeds + 2)}${lpad('rtx segs cur/base', 18)}${lpad('queue ms cur/base', 19)}`);
  for (const r of rows) {
    const q = r.queued ? `${fmt(r.curQueueMs, 1)}/${fmt(r.baseQueueMs, 1)}` : '-';
    lines.push(`${pad(`(${r.scenario})`, 9)}${pad(r.cc, 9)}${lpad(fmt(r.cur), 9)}${lpad(fmt(r.base), 10)}${lpad(fmt(r.ratio), 8)}${r.pass ? ' ' : '!'} ${pad(r.seedRatios.map((x) => fmt(x)).join(' '), 6 * seeds + 2)}${lpad(`${r.curRetrans}/${r.baseRetrans}`, 18)}${lpad(q, 19)}`);
  }
  const ratios = rows.map((r) => r.ratio).filter((x) => Number.isFinite(x) && x > 0);
  const geo = Math.exp(ratios.reduce((a, x) => a + Math.log(x), 0) / ratios.length);
  lines.push(`ratio of medians current/baseline per cell: median ${fmt(median(ratios))}, geometric mean ${fmt(geo)}, lowest ${fmt(Math.min(...ratios))}; threshold ${threshold} ('!' marks a cell below it or with a failed transfer)`);
}
lines.push('Virtual time: these figures are exact and repeat bit for bit on any machine under any load (seeded shaper, virtual clock,');
lines.push('fixed ISN keys); they are not wall-clock speeds. A change to the TCP moves them chaotically seed by seed, hence medians.');
lines.push(`(queue ms: mean time in the bottleneck queue of the data direction, (c) and (g); rtx segs: the sender's RetransSegs, median)`);
lines.push(`current: ${cur.label}`);
if (baseLabel !== undefined) lines.push(`baseline: ${baseLabel}`);
lines.push(`wall ${fmt(wallS, 1)} s, CPU ${fmt((cpu.user + cpu.system) / 1e6, 1)} s for ${n} transfers run (the only figures here that depend on the machine)`);
console.log(lines.join('\n'));

const resultsDir = join(root, 'results');
mkdirSync(resultsDir, { recursive: true });
const file = join(resultsDir, `sim-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ size, seeds, ccs, scenarios, threshold, pacing: values.pacing ?? null, current: cur.label, baseline: baseLabel ?? null, rows, samples }, null, 1));
console.log(`samples: ${file}`);

const failedCurrent = samples.filter((s) => s.column === 'current' && !s.ok);
if (failedCurrent.length > 0) {
  console.error(`bench --sim: ${failedCurrent.length} transfer(s) of the current tree failed (see above)`);
  process.exit(1);
}
const below = rows.filter((r) => !r.pass);
if (values.strict && below.length > 0) {
  console.error(`bench --sim --strict: ${below.length} cell(s) below ${threshold}x the baseline: ${below.map((r) => `(${r.scenario}) ${r.cc} ${fmt(r.ratio)}`).join(', ')}`);
  process.exit(1);
}
