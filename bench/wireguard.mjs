// `pnpm bench --wireguard` (bash scripts/bench --wireguard): `netstack tunnel` beside
// wireguard-go, in one run (issue 14's benchmark). Two private namespaces joined by a veth:
//
//   A (client)                                        B (server: bench/kernel-tcp-server.mjs)
//   tunnel wa 10.100.0.1/24  <== WireGuard ==>  tunnel wb 10.100.0.2/24, HTTP :80, discard :9
//   veth 10.99.0.1/24 ------------------------------ veth 10.99.0.2/24   (UDP 51820 both ends)
//
// Each tunnel is `netstack tunnel --config` or wireguard-go (configured with `wg`); pairs:
// wireguard-go on both ends, netstack on both ends, and mixed (netstack in A, wireguard-go
// in B); with --offload both (the default), the netstack pairs twice, without and with
// `netstack tunnel --offload`. Per pair: ping RTT through the tunnel (idle), then
// single-stream TCP between kernel sockets (bench/wireguard-xfer.mjs): 'down' = A GETs
// /bytes/SIZE from B (B's tunnel encrypts, A's decrypts), 'up' = A writes SIZE bytes into
// B's discard (A's tunnel encrypts). Each transfer is bounded by --timeout; the figure is
// bytes/s from the connect to the last byte, the median of --reps. CPU per GB: user+system
// time of the tunnel processes (/proc/PID/stat, all threads) across the transfer, per GB
// moved, for each end and their sum. The veth alone (no tunnel) is measured as a reference.
// Then the netstack-over-WireGuard client: a node process in A whose only network is
// createStack({ wireguard }) (bench/wireguard-stack-client.mjs, no TUN device) downloads
// from B behind wireguard-go, beside the tunnel's download through the same wireguard-go.
//
// Ratios printed: netstack/wireguard-go (homogeneous pairs), mixed / the better homogeneous
// pair, stack client / tunnel (mixed pair's download). Goals (issue 14): >= 0.5, >= 0.9, >= 0.5.
// Every sample goes to results/wireguard-<timestamp>.json. Namespaces are removed at the end,
// also on Ctrl-C/SIGTERM.
//
// Usage: node bench/wireguard.mjs [--quick] [--reps N] [--size BYTES] [--timeout S]
//          [--offload both|on|off] [--pairs LIST] [--no-stack] [--strict]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { nsKit, intOption } from './lib/ns.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = resolve(root, 'packages/netstack/bin/netstack.js');
const MB = 1e6;
const PORT = 51820;
const MTU = 1420;

const PAIRS = ['wgo-wgo', 'ns-ns', 'ns-wgo'];
const USAGE = `usage: pnpm bench --wireguard [options]   (root: makes network namespaces)
  --quick            a short run: --size 50 MB, --reps 1, --timeout 30
  --reps N           transfers per cell, the median reported (default 3; --quick 1)
  --size BYTES       bytes per transfer (default 200000000; --quick 50000000)
  --timeout S        each transfer's bound in seconds (default 60; --quick 30)
  --offload MODE     netstack tunnel's TUN offloads (TSO cut before encryption, GRO on
                     receive): off, on, or both (each netstack pair twice) (default both)
  --pairs LIST       subset of ${PAIRS.join(',')} (A-B: netstack tunnel 'ns' or
                     wireguard-go 'wgo' in A (client) and B (server)) (default all)
  --no-stack         leave out the createStack({ wireguard }) client
  --strict           exit 1 when a transfer failed or timed out (never a timing assertion)
Ratios: netstack/wireguard-go (goal >= 0.5), mixed/better homogeneous pair (goal >= 0.9),
stack client/tunnel download through the same wireguard-go (goal >= 0.5).`;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    reps: { type: 'string' },
    size: { type: 'string' },
    timeout: { type: 'string' },
    offload: { type: 'string', default: 'both' },
    pairs: { type: 'string', default: PAIRS.join(',') },
    'no-stack': { type: 'boolean' },
    strict: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) { console.log(USAGE); process.exit(0); }
const usage = (msg) => { console.error(`bench --wireguard: ${msg}\n${USAGE}`); process.exit(2); };
const clampInt = (v, lo, hi, name) => intOption(v, lo, hi, name, usage);
const quick = Boolean(values.quick);
const reps = clampInt(values.reps ?? (quick ? 1 : 3), 1, 50, 'reps');
const size = clampInt(values.size ?? (quick ? 50_000_000 : 200_000_000), 100_000, 8_000_000_000, 'size');
const timeoutS = clampInt(values.timeout ?? (quick ? 30 : 60), 5, 900, 'timeout');
if (!['off', 'on', 'both'].includes(values.offload)) usage(`--offload must be off, on or both, got '${values.offload}'`);
const offloads = values.offload === 'both' ? [false, true] : [values.offload === 'on'];
const pairNames = values.pairs.split(',').filter(Boolean);
for (const p of pairNames) if (!PAIRS.includes(p)) usage(`unknown pair '${p}'`);
if (pairNames.length === 0) usage('--pairs is empty');
if (process.getuid() !== 0) { console.error('bench --wireguard: needs root to make network namespaces'); process.exit(1); }
for (const tool of ['wireguard-go', 'wg', 'ping', 'ip']) {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) { console.error(`bench --wireguard: needs '${tool}' (scripts/bench installs it)`); process.exit(1); }
}

// ---------------------------------------------------------------- namespaces and processes
const dir = mkdtempSync(join(tmpdir(), 'netstack-bench-wg-'));
const { sh, inNs, mkns, spawnIn, ready, runIn, stop } = nsKit('nsw', 'bench --wireguard', { onCleanup: () => rmSync(dir, { recursive: true, force: true }) });
/** A long-running process in `ns`; resolves once its output matches `readyRe`. */
const startIn = (ns, cmd, args, readyRe, what) => ready(spawnIn(ns, cmd, args), readyRe, what);
const clockTicks = Number(sh('getconf', ['CLK_TCK']).trim()) || 100;
/** User + system CPU seconds of a process and all its threads so far (/proc/PID/stat fields 14, 15). */
function cpuSeconds(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / clockTicks;
  } catch {
    return NaN;
  }
}

// ---------------------------------------------------------------- the topology
const A = mkns('a');
const B = mkns('b');
sh('ip', ['link', 'add', 'vwa', 'netns', A, 'type', 'veth', 'peer', 'name', 'vwb', 'netns', B]);
inNs(A, 'ip', ['addr', 'add', '10.99.0.1/24', 'dev', 'vwa']);
inNs(B, 'ip', ['addr', 'add', '10.99.0.2/24', 'dev', 'vwb']);
inNs(A, 'ip', ['link', 'set', 'vwa', 'up']);
inNs(B, 'ip', ['link', 'set', 'vwb', 'up']);
// What a socket that asks for no size gets (this Debian wireguard-go, 0.0.20220316; releases
// since 0.0.20230223 ask for 7 MiB): read-only in a namespace, so said, not changed.
const rmemNow = inNs(B, 'sysctl', ['-n', 'net.core.rmem_default']).trim();
const server = await startIn(B, process.execPath, [resolve(root, 'bench/kernel-tcp-server.mjs')], /ready/, 'the kernel TCP server in B');

const key = (s) => createHash('sha256').update(`netstack-bench-wireguard-${s}`).digest().toString('base64');
const KEYS = { A: key('a'), B: key('b') };
const PUB = { A: inNs(A, 'wg', ['pubkey'], { input: `${KEYS.A}\n` }).trim(), B: inNs(A, 'wg', ['pubkey'], { input: `${KEYS.B}\n` }).trim() };
const SIDE = {
  A: { ns: A, addr: '10.100.0.1', under: '10.99.0.1', other: 'B' },
  B: { ns: B, addr: '10.100.0.2', under: '10.99.0.2', other: 'A' },
};
// wireguard-go's UAPI socket is /var/run/wireguard/NAME.sock for every namespace: unique names.
const devName = (side) => `w${side.toLowerCase()}${process.pid % 1_000_000}`;

/** A wg-quick config for `side` (A knows B's endpoint and starts; B learns A's). */
function wgConf(side, { address = true } = {}) {
  const s = SIDE[side];
  const o = SIDE[s.other];
  return `[Interface]\nPrivateKey = ${KEYS[side]}\n${address ? `Address = ${s.addr}/24\n` : ''}ListenPort = ${PORT}\nMTU = ${MTU}\n\n` +
    `[Peer]\nPublicKey = ${PUB[s.other]}\nAllowedIPs = ${o.addr}/32\n${side === 'A' ? `Endpoint = ${o.under}:${PORT}\n` : ''}`;
}

/** Starts one end: `netstack tunnel` (kind 'ns') or wireguard-go ('wgo'). Resolves with { child, pid, stopFn }. */
async function startEnd(side, kind, offload) {
  const s = SIDE[side];
  const dev = devName(side);
  if (kind === 'ns') {
    const file = join(dir, `${side}.conf`);
    writeFileSync(file, wgConf(side), { mode: 0o600 });
    // NETSTACK_BENCH_TUNNEL_NODE_ARGS: node flags for the netstack tunnels and the stack client (e.g. '--cpu-prof --cpu-prof-dir=/tmp/p'), to profile them.
    const nodeArgs = (process.env.NETSTACK_BENCH_TUNNEL_NODE_ARGS ?? '').split(' ').filter(Boolean);
    const child = await startIn(s.ns, process.execPath, [...nodeArgs, cli, 'tunnel', '--config', file, '--tun', dev, offload ? '--offload' : '--no-offload'], /ready/, `netstack tunnel in ${side}`);
    return { child, pid: child.pid };
  }
  const child = await startIn(s.ns, 'env', ['LOG_LEVEL=verbose', 'wireguard-go', '-f', dev], /UAPI listener started/, `wireguard-go in ${side}`);
  const keyFile = join(dir, `${side}.key`);
  writeFileSync(keyFile, `${KEYS[side]}\n`, { mode: 0o600 });
  const o = SIDE[s.other];
  inNs(s.ns, 'wg', ['set', dev, 'listen-port', String(PORT), 'private-key', keyFile, 'peer', PUB[s.other], 'allowed-ips', `${o.addr}/32`,
    ...(side === 'A' ? ['endpoint', `${o.under}:${PORT}`] : [])]);
  inNs(s.ns, 'ip', ['addr', 'add', `${s.addr}/24`, 'dev', dev]);
  inNs(s.ns, 'ip', ['link', 'set', dev, 'mtu', String(MTU), 'up']);
  return { child, pid: child.pid };
}

/** ping through the tunnel: the first (handshake) apart, then 20 at 50 ms, idle; avg RTT in ms. */
async function pingRtt(quickCount = 20) {
  const first = await runIn(A, 'ping', ['-c', '1', '-W', '10', SIDE.B.addr], 15_000);
  if (first.status !== 0) throw new Error(`no ping through the tunnel: ${first.stdout}${first.stderr}`);
  const r = await runIn(A, 'ping', ['-c', String(quickCount), '-i', '0.05', '-q', '-W', '2', SIDE.B.addr], 30_000);
  const m = /= ([\d.]+)\/([\d.]+)\/([\d.]+)\/([\d.]+) ms/.exec(r.stdout);
  return m ? { avg: Number(m[2]), min: Number(m[1]), max: Number(m[3]), received: Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0) } : { avg: NaN, min: NaN, max: NaN, received: 0 };
}

/** A few /proc/net/snmp counters of a namespace: TCP retransmissions, UDP receive/send buffer drops. */
function snmp(ns) {
  const lines = inNs(ns, 'cat', ['/proc/net/snmp']).split('\n');
  const out = {};
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const k = lines[i].trim().split(/\s+/);
    const v = lines[i + 1].trim().split(/\s+/);
    const proto = k[0].replace(':', '');
    if (proto !== 'Tcp' && proto !== 'Udp') continue;
    for (let j = 1; j < k.length; j++) if (['RetransSegs', 'RcvbufErrors', 'SndbufErrors', 'InErrors'].includes(k[j])) out[`${proto}${k[j]}`] = Number(v[j]);
  }
  return out;
}
const snmpDiff = (a, b) => Object.fromEntries(Object.keys(b).map((k) => [k, b[k] - (a[k] ?? 0)]));

/** One transfer through A -> B's 10.100.0.2 (or the veth's 10.99.0.2), with the CPU of `pids` across it. */
async function transfer(dirn, host, pids) {
  const snmp0 = [snmp(A), snmp(B)];
  const cpu0 = pids.map(cpuSeconds);
  const r = await runIn(A, process.execPath, [resolve(root, 'bench/wireguard-xfer.mjs'), dirn, host, String(size), String(timeoutS * 1000)], timeoutS * 1000 + 10_000);
  const cpu1 = pids.map(cpuSeconds);
  const kernel = { A: snmpDiff(snmp0[0], snmp(A)), B: snmpDiff(snmp0[1], snmp(B)) };
  let x;
  try { x = JSON.parse(r.stdout.trim().split('\n').at(-1)); } catch { x = { bytes: 0, ms: NaN, done: false, error: r.stderr.trim().slice(-200) || `status ${r.status}` }; }
  const gb = x.bytes / 1e9;
  return { ...x, mbps: x.bytes / MB / (x.ms / 1000), cpuPerGb: pids.map((_, i) => (cpu1[i] - cpu0[i]) / gb), kernel };
}

const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

// ---------------------------------------------------------------- the run
const runs = [];
const kinds = { ns: 'netstack', wgo: 'wireguard-go' };
for (const p of pairNames) {
  const [ka, kb] = p.split('-');
  const variants = ka === 'ns' || kb === 'ns' ? offloads : [false];
  for (const offload of variants) runs.push({ key: `${p}${offload ? '+o' : ''}`, a: ka, b: kb, offload, label: `${kinds[ka]}${ka === 'ns' && offload ? ' --offload' : ''} <-> ${kinds[kb]}${kb === 'ns' && offload ? ' --offload' : ''}` });
}

const results = { veth: null, pairs: {}, stack: null };
const failures = [];
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '-');
console.error(`bench --wireguard: ${(size / MB).toFixed(0)} MB per transfer, ${reps} rep(s), timeout ${timeoutS} s; ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), Linux ${release()}; wireguard-go ${/v[\d.]+/.exec(sh('wireguard-go', ['--version']))?.[0] ?? '?'} (its socket buffers: net.core.rmem_default ${rmemNow}; netstack tunnel asks for 4 MiB)`);

// The veth alone: what the path gives without any tunnel.
{
  const down = []; const up = [];
  for (let i = 0; i < reps; i++) {
    down.push(await transfer('down', SIDE.B.under, []));
    up.push(await transfer('up', SIDE.B.under, []));
  }
  results.veth = { down, up };
  console.error(`  veth (no tunnel): down ${fmt(median(down.map((x) => x.mbps)))} MB/s, up ${fmt(median(up.map((x) => x.mbps)))} MB/s`);
}

for (const run of runs) {
  let endA;
  let endB;
  try {
    endB = await startEnd('B', run.b, run.offload);
    endA = await startEnd('A', run.a, run.offload);
    const pids = [endA.pid, endB.pid];
    const rtt = await pingRtt();
    const down = []; const up = [];
    for (let i = 0; i < reps; i++) {
      const d = await transfer('down', SIDE.B.addr, pids);
      const u = await transfer('up', SIDE.B.addr, pids);
      for (const [x, w] of [[d, 'down'], [u, 'up']]) if (!x.done) failures.push(`${run.label} ${w}: ${x.error ?? `timed out after ${(x.bytes / MB).toFixed(1)} MB`}`);
      down.push(d); up.push(u);
    }
    results.pairs[run.key] = { label: run.label, rtt, down, up };
    const k = (xs, side, key) => xs.reduce((n, x) => n + (x.kernel?.[side]?.[key] ?? 0), 0);
    console.error(`  ${run.label}: rtt ${fmt(rtt.avg, 3)} ms, down ${fmt(median(down.map((x) => x.mbps)))} MB/s, up ${fmt(median(up.map((x) => x.mbps)))} MB/s` +
      ` (TCP retransmitted: down ${k(down, 'B', 'TcpRetransSegs')}, up ${k(up, 'A', 'TcpRetransSegs')}; UDP receive-buffer drops: A ${k([...down, ...up], 'A', 'UdpRcvbufErrors')}, B ${k([...down, ...up], 'B', 'UdpRcvbufErrors')})`);
  } catch (err) {
    failures.push(`${run.label}: ${err.message}`);
    console.error(`  ${run.label}: FAILED ${err.message}`);
  } finally {
    await stop(endA?.child);
    await stop(endB?.child);
  }
}

if (!values['no-stack']) {
  // B: wireguard-go; A: no device, a node process with createStack({ wireguard }).
  let endB;
  try {
    endB = await startEnd('B', 'wgo', false);
    const samples = [];
    for (let i = 0; i < reps; i++) {
      const cpuB0 = cpuSeconds(endB.pid);
      const nodeArgs = (process.env.NETSTACK_BENCH_TUNNEL_NODE_ARGS ?? '').split(' ').filter(Boolean);
      const r = await runIn(A, process.execPath, [...nodeArgs, resolve(root, 'bench/wireguard-stack-client.mjs'), JSON.stringify({
        config: wgConf('A', { address: false }), address: SIDE.A.addr, host: SIDE.B.addr, bytes: size, timeoutMs: timeoutS * 1000,
      })], timeoutS * 1000 + 30_000);
      const cpuB1 = cpuSeconds(endB.pid);
      let x;
      try { x = JSON.parse(r.stdout.trim().split('\n').at(-1)); } catch { x = { bytes: 0, ms: NaN, done: false, cpuMs: NaN, error: r.stderr.trim().slice(-200) || `status ${r.status}` }; }
      const gb = x.bytes / 1e9;
      const s = { ...x, mbps: x.bytes / MB / (x.ms / 1000), cpuPerGb: [x.cpuMs / 1000 / gb, (cpuB1 - cpuB0) / gb] };
      if (!s.done) failures.push(`stack client down: ${s.error ?? `timed out after ${(s.bytes / MB).toFixed(1)} MB`}`);
      samples.push(s);
      // The next client binds the same port: this one is gone (runIn waited for its exit).
    }
    results.stack = { label: 'createStack({ wireguard }) <-> wireguard-go', down: samples };
    console.error(`  createStack({ wireguard }) client <- wireguard-go: down ${fmt(median(samples.map((x) => x.mbps)))} MB/s`);
  } catch (err) {
    failures.push(`stack client: ${err.message}`);
  } finally {
    await stop(endB?.child);
  }
}
await stop(server);

// ---------------------------------------------------------------- the table
const cell = (xs, f) => median(xs.map(f));
const rows = [];
const head = ['pair (A client <-> B server)', 'rtt ms', 'down MB/s', 'up MB/s', 'CPU s/GB down A+B', 'CPU s/GB up A+B'];
const cpuText = (xs) => {
  const a = cell(xs, (x) => x.cpuPerGb[0]);
  const b = cell(xs, (x) => x.cpuPerGb[1]);
  return Number.isFinite(a) ? `${fmt(a + b, 2)} (${fmt(a, 2)}+${fmt(b, 2)})` : '-';
};
if (results.veth) rows.push(['veth, no tunnel (reference)', '-', fmt(cell(results.veth.down, (x) => x.mbps)), fmt(cell(results.veth.up, (x) => x.mbps)), '-', '-']);
for (const run of runs) {
  const r = results.pairs[run.key];
  if (!r) { rows.push([run.label, 'failed', '', '', '', '']); continue; }
  rows.push([run.label, fmt(r.rtt.avg, 3), fmt(cell(r.down, (x) => x.mbps)), fmt(cell(r.up, (x) => x.mbps)), cpuText(r.down), cpuText(r.up)]);
}
if (results.stack) rows.push(['createStack({ wireguard }) <-> wireguard-go', '-', fmt(cell(results.stack.down, (x) => x.mbps)), '-', cpuText(results.stack.down), '-']);
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
console.log(`\nWireGuard: single-stream TCP through the tunnel, ${(size / MB).toFixed(0)} MB per transfer, median of ${reps}; down = B sends, up = A sends`);
console.log(line(head));
for (const r of rows) console.log(line(r));

const mb = (k, d) => (results.pairs[k] ? cell(results.pairs[k][d], (x) => x.mbps) : NaN);
const ratios = [];
const goal = (v, g) => (Number.isFinite(v) ? `${v.toFixed(2)} ${v >= g ? 'ok' : `below ${g}`}` : '-');
for (const offload of offloads) {
  const ns = `ns-ns${offload ? '+o' : ''}`;
  const mixed = `ns-wgo${offload ? '+o' : ''}`;
  const tag2 = offload ? ' (netstack --offload)' : '';
  for (const d of ['down', 'up']) {
    if (results.pairs[ns] && results.pairs['wgo-wgo']) ratios.push([`netstack/wireguard-go ${d}${tag2}`, goal(mb(ns, d) / mb('wgo-wgo', d), 0.5)]);
    const homogeneous = [mb(ns, d), mb('wgo-wgo', d)].filter(Number.isFinite);
    if (results.pairs[mixed] && homogeneous.length > 0) {
      ratios.push([`mixed/better homogeneous ${d}${tag2}${homogeneous.length === 1 ? ' (one pair measured)' : ''}`, goal(mb(mixed, d) / Math.max(...homogeneous), 0.9)]);
      // Which end limits the mixed pair: against each homogeneous pair (no goal: information).
      for (const [k, name] of [[ns, 'netstack'], ['wgo-wgo', 'wireguard-go']]) {
        if (results.pairs[k]) ratios.push([`  mixed/${name} pair ${d}${tag2}`, fmt(mb(mixed, d) / mb(k, d), 2)]);
      }
    }
  }
  if (results.stack && results.pairs[mixed]) ratios.push([`stack client/tunnel down${tag2}`, goal(cell(results.stack.down, (x) => x.mbps) / mb(mixed, 'down'), 0.5)]);
}
if (ratios.length > 0) {
  console.log('\nratios (goal: netstack/wireguard-go >= 0.5, mixed >= 0.9 of the better pair, stack client >= 0.5 of the tunnel)');
  const w = Math.max(...ratios.map((r) => r[0].length));
  for (const [k, v] of ratios) console.log(`  ${k.padEnd(w)}  ${v}`);
}
console.log('\nCPU s/GB: user+system seconds of the tunnel processes (A+B; the stack client row: its own process + wireguard-go in B) per GB moved.');

mkdirSync(resolve(root, 'results'), { recursive: true });
const file = resolve(root, `results/wireguard-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify({ host: hostname(), cpus: cpus().length, kernel: release(), size, reps, timeoutS, rmemDefault: Number(rmemNow), results, ratios, failures }, null, 1));
console.log(`samples: ${file}`);
if (failures.length > 0) {
  console.error(`\n${failures.length} failure(s):\n  ${failures.join('\n  ')}`);
  if (values.strict) process.exit(1);
}
