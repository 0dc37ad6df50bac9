// `pnpm bench`: netstack beside the kernel's own stack over a veth pair, and beside
// the compiled peers of ../shared/peers when they are built, measured in ONE run,
// each in private network namespaces made here and deleted afterwards. Every load
// is bounded in count and time. Prints a table with ratios to each reference.
//
// Usage: node bench/run.mjs [--reps N] [--seconds S] [--tests ping,flood,udp] [--no-peers]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const peersDir = resolve(root, '../shared/peers/.build');
const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '3' },
    tests: { type: 'string', default: 'ping,flood,udp' },
    'no-peers': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('usage: pnpm bench [--reps N] [--seconds S] [--tests ping,flood,udp] [--no-peers]');
  process.exit(0);
}
if (process.getuid() !== 0) { console.error('bench: needs root to make network namespaces'); process.exit(1); }
const reps = Math.max(1, Math.min(20, Number(values.reps)));
const seconds = Math.max(1, Math.min(30, Number(values.seconds)));
const tests = values.tests.split(',');
const ADDR = '10.7.0.2';
const tag = `nsb-${process.pid}`;
const namespaces = [];

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 60_000 });
  if (opts.check !== false && r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message}`);
  return r.stdout ?? '';
}
const inNs = (ns, cmd, args, opts) => sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);
function mkns(name) {
  sh('ip', ['netns', 'add', name]);
  namespaces.push(name);
  inNs(name, 'ip', ['link', 'set', 'lo', 'up']);
  return name;
}
function cleanup() {
  for (const p of procs) { try { p.kill('SIGKILL'); } catch {} }
  for (const n of namespaces.splice(0)) sh('ip', ['netns', 'del', n], { check: false });
}
process.on('exit', cleanup);
for (const s of ['SIGINT', 'SIGTERM']) process.on(s, () => { cleanup(); process.exit(130); });

const procs = new Set();
function startIn(ns, cmd, args, readyRe) {
  const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.add(child);
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${cmd} not ready: ${out}`)), 30_000);
    const check = () => { if (!readyRe || readyRe.test(out)) { clearTimeout(timer); res(child); } };
    child.stdout.on('data', check);
    child.on('exit', (c) => { clearTimeout(timer); rej(new Error(`${cmd} exited ${c}: ${out}`)); });
    if (!readyRe) setTimeout(check, 0);
  });
}
async function waitPing(ns) {
  for (let i = 0; i < 100; i++) {
    if (spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c', '1', '-W', '1', ADDR]).status === 0) return;
  }
  throw new Error(`no answer from ${ADDR} in ${ns}`);
}
function makeTun(ns) {
  // The peers' contract: a persistent tun0, configured and up, that the stack attaches to.
  inNs(ns, 'ip', ['tuntap', 'add', 'dev', 'tun0', 'mode', 'tun']);
  inNs(ns, 'ip', ['addr', 'add', '10.7.0.1/24', 'dev', 'tun0']);
  inNs(ns, 'ip', ['link', 'set', 'tun0', 'up']);
}

/** Each target: set up, returns { client: ns, stop() }. */
const targets = {
  netstack: async () => {
    const ns = mkns(`${tag}-ours`);
    makeTun(ns);
    const p = await startIn(ns, process.execPath, [resolve(root, 'packages/netstack/bin/netstack.js'), 'serve', '--tun', 'tun0'], /ready/);
    await waitPing(ns);
    return { client: ns, stop: () => p.kill('SIGTERM') };
  },
  kernel: async () => {
    const a = mkns(`${tag}-kc`);
    const b = mkns(`${tag}-ks`);
    sh('ip', ['link', 'add', 'veth0', 'netns', a, 'type', 'veth', 'peer', 'name', 'veth1', 'netns', b]);
    inNs(a, 'ip', ['addr', 'add', '10.7.0.1/24', 'dev', 'veth0']);
    inNs(b, 'ip', ['addr', 'add', `${ADDR}/24`, 'dev', 'veth1']);
    inNs(a, 'ip', ['link', 'set', 'veth0', 'up']);
    inNs(b, 'ip', ['link', 'set', 'veth1', 'up']);
    const p = await startIn(b, process.execPath, [resolve(root, 'bench/udp-echo-server.mjs'), '7'], /ready/);
    await waitPing(a);
    return { client: a, stop: () => p.kill('SIGTERM') };
  },
};
if (!values['no-peers'] && existsSync(resolve(peersDir, 'peer-server'))) {
  targets.gvisor = async () => {
    const ns = mkns(`${tag}-gv`);
    makeTun(ns);
    const p = await startIn(ns, resolve(peersDir, 'peer-server'), ['-stack', 'gvisor', '-tun', 'tun0'], null);
    await waitPing(ns);
    return { client: ns, stop: () => p.kill('SIGTERM') };
  };
}
if (!values['no-peers'] && existsSync(resolve(peersDir, 'lwip-peer'))) {
  targets.lwip = async () => {
    const ns = mkns(`${tag}-lw`);
    makeTun(ns);
    const p = await startIn(ns, resolve(peersDir, 'lwip-peer'), ['-t', 'tun0', '-a', ADDR], null);
    await waitPing(ns);
    return { client: ns, stop: () => p.kill('SIGTERM') };
  };
}

const measures = {
  // Round-trip time of the kernel's ping, 500 requests 2 ms apart (as ../shared/peers/bench.sh, with more samples).
  ping: { unit: 'ms', better: 'lower', run: (ns) => {
    const out = inNs(ns, 'ping', ['-q', '-c', '500', '-i', '0.002', '-W', '1', ADDR], { timeout: 30_000 });
    return Number(out.match(/= [\d.]+\/([\d.]+)\//)?.[1] ?? NaN);
  } },
  // Echo replies per second under a kernel-side flood with 32 requests in flight.
  flood: { unit: 'replies/s', better: 'higher', run: (ns) => {
    const out = inNs(ns, 'ping', ['-f', '-l', '32', '-q', '-w', String(seconds), ADDR], { timeout: (seconds + 10) * 1000, check: false });
    const m = out.match(/(\d+) packets transmitted, (\d+) received/);
    const t = out.match(/time (\d+)ms/);
    return m && t ? Math.round(Number(m[2]) / (Number(t[1]) / 1000)) : NaN;
  } },
  // UDP echo datagrams per second (64 bytes, 32 in flight) from a kernel-side node:dgram client.
  udp: { unit: 'datagrams/s', better: 'higher', supports: (t) => t !== 'gvisor' || true, run: (ns) => {
    const out = inNs(ns, process.execPath, [resolve(root, 'bench/udp-flood.mjs'), ADDR, '7', String(seconds), '64', '32'], { timeout: (seconds + 15) * 1000 });
    return JSON.parse(out.trim()).perSecond;
  } },
};

const median = (xs) => { const s = xs.filter(Number.isFinite).sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
const results = {};
console.log(`bench: targets ${Object.keys(targets).join(', ')}; tests ${tests.join(', ')}; ${reps} reps, interleaved`);
const running = {};
try {
  for (const [name, up] of Object.entries(targets)) running[name] = await up();
  for (let rep = 0; rep < reps; rep++) {
    for (const test of tests) {
      for (const name of Object.keys(targets)) {
        let v = NaN;
        try { v = measures[test].run(running[name].client); } catch (e) { console.error(`  ${name} ${test}: ${e.message.split('\n')[0]}`); }
        ((results[test] ??= {})[name] ??= []).push(v);
      }
    }
  }
} finally {
  for (const r of Object.values(running)) r.stop();
  cleanup();
}

const names = Object.keys(targets);
const refs = names.filter((n) => n !== 'netstack');
const fmt = (v) => (Number.isFinite(v) ? (v >= 100 ? String(Math.round(v)) : v.toFixed(3)) : 'n/a');
const lines = [];
lines.push(`| test | unit | ${names.join(' | ')} | ${refs.map((r) => `netstack vs ${r}`).join(' | ')} |`);
lines.push(`|${'---|'.repeat(2 + names.length + refs.length)}`);
for (const test of tests) {
  const m = Object.fromEntries(names.map((n) => [n, median(results[test][n])]));
  // Ratio > 1 always means netstack is better (faster, or shorter round trip).
  const ratio = (r) => (measures[test].better === 'higher' ? m.netstack / m[r] : m[r] / m.netstack);
  lines.push(`| ${test} | ${measures[test].unit} (${measures[test].better} is better) | ${names.map((n) => fmt(m[n])).join(' | ')} | ${refs.map((r) => `${fmt(ratio(r))}x`).join(' | ')} |`);
}
console.log(`\nMedians of ${reps}; a ratio above 1 means netstack did better than that reference.\n`);
console.log(lines.join('\n'));
