// TAP vs TUN: CPU of 'netstack serve' per ping -f reply (a bounded count), interleaved, measured
// from /proc/PID/schedstat (exact run time), /proc/PID/stat (user/sys, 100 Hz ticks) and
// /proc/PID/status (context switches). Root; makes two private namespaces and removes them.
//   N=300000 REPS=4 node packages/ethernet/bench/flood-cpu.mjs
//   PERF=1 (perf record -g per run into /tmp/flood-cpu-*), PERF=stat (syscall counts), NODEARGS='--perf-basic-prof'
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
const root = process.env.ROOT ?? new URL('../../..', import.meta.url).pathname.replace(/\/$/, '');
const N = Number(process.env.N ?? 100000);
const REPS = Number(process.env.REPS ?? 3);
const extraTun = (process.env.TUNARGS ?? '').split(' ').filter(Boolean);
const extraTap = (process.env.TAPARGS ?? '').split(' ').filter(Boolean);
const sh = (c, a, check = true) => { const r = spawnSync(c, a, { encoding: 'utf8' }); if (check && r.status !== 0) throw new Error(`${c} ${a.join(' ')}: ${r.stderr}`); return r.stdout; };
const inNs = (ns, c, a, check) => sh('ip', ['netns', 'exec', ns, c, ...a], check);
const nss = [];
const procs = [];
function mkns(n) { sh('ip', ['netns', 'add', n]); nss.push(n); inNs(n, 'ip', ['link', 'set', 'lo', 'up']); inNs(n, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0']); return n; }
function cleanup() { for (const p of procs) try { p.kill('SIGKILL'); } catch {} for (const n of nss) sh('ip', ['netns', 'del', n], false); }
process.on('exit', cleanup); process.on('SIGINT', () => process.exit(1)); process.on('SIGTERM', () => process.exit(1));
function start(ns, args) {
  const p = spawn('ip', ['netns', 'exec', ns, process.execPath, ...(process.env.NODEARGS ?? '').split(' ').filter(Boolean), `${root}/packages/netstack/bin/netstack.js`, 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(p);
  let out = '';
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error('not ready ' + out)), 30000);
    const on = (d) => { out += d; if (/ready/.test(out)) { clearTimeout(t); res(p); } };
    p.stdout.on('data', on); p.stderr.on('data', on);
  });
}
function realPid(pid) { for (let i = 0; i < 5; i++) { const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); if (comm !== 'ip') return pid; const k = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).map(Number); pid = k[0]; } return pid; }
function cpu(pid) { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); const st = readFileSync(`/proc/${pid}/status`, 'utf8'); return { u: Number(f[11]), s: Number(f[12]), ns: Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]), vcs: Number(st.match(/^voluntary_ctxt_switches:\s+(\d+)/m)[1]), ncs: Number(st.match(/^nonvoluntary_ctxt_switches:\s+(\d+)/m)[1]) }; }
function waitPing(ns) { for (let i = 0; i < 100; i++) if (spawnSync('ip', ['netns', 'exec', ns, 'ping', '-c1', '-W1', '10.7.0.2']).status === 0) return; throw new Error('no ping'); }
const tunNs = mkns(`ftcpu-tun-${process.pid}`), tapNs = mkns(`ftcpu-tap-${process.pid}`);
inNs(tunNs, 'ip', ['tuntap', 'add', 'dev', 'tun0', 'mode', 'tun']);
inNs(tunNs, 'ip', ['addr', 'add', '10.7.0.1/24', 'dev', 'tun0']);
inNs(tunNs, 'ip', ['link', 'set', 'tun0', 'up']);
const tun = await start(tunNs, ['--tun', 'tun0', ...extraTun]);
const tap = await start(tapNs, ['--tap', '--tap-name', 'tap0', ...extraTap]);
waitPing(tunNs); waitPing(tapNs);
const targets = [['tun', tunNs, realPid(tun.pid)], ['tap', tapNs, realPid(tap.pid)]];
const hz = 100;
const res = { tun: [], tap: [] };
for (let r = 0; r < REPS; r++) for (const [name, ns, pid] of targets) {
  const perf = process.env.PERF ? spawn('perf', process.env.PERF === 'stat' ? ['stat', '-x,', '-o', `/tmp/flood-cpu-stat-${name}-${r}.txt`, '-e', 'syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_poll,context-switches,task-clock', '-p', String(pid)] : ['record', '-q', '-g', '-o', `/tmp/flood-cpu-perf-${name}-${r}.data`, '-p', String(pid)], { stdio: 'ignore' }) : undefined;
  if (perf) await new Promise((r) => setTimeout(r, 500));
  const a = cpu(pid); const t0 = performance.now();
  const out = inNs(ns, 'bash', ['-c', `ping -f -l 32 -q -c ${N} -w 30 10.7.0.2; times`], false);
  const wall = (performance.now() - t0) / 1000; const b = cpu(pid);
  const recv = Number(out.match(/(\d+) received/)?.[1]);
  const tl = out.trim().split('\n').pop().match(/(\d+)m([\d.]+)s (\d+)m([\d.]+)s/);
  const pu = tl ? (Number(tl[1]) * 60 + Number(tl[2])) : NaN, ps = tl ? (Number(tl[3]) * 60 + Number(tl[4])) : NaN;
  const row = { recv, rate: Math.round(recv / wall), usr: ((b.u - a.u) / hz) / recv * 1e6, sys: ((b.s - a.s) / hz) / recv * 1e6, pingUsr: pu / recv * 1e6, pingSys: ps / recv * 1e6, cpu: (b.ns - a.ns) / recv / 1000, vcs: (b.vcs - a.vcs) / recv, ncs: (b.ncs - a.ncs) / recv };
  if (perf) { perf.kill('SIGINT'); await new Promise((r) => perf.on('exit', r)); }
  res[name].push(row);
  console.log(name, JSON.stringify(Object.fromEntries(Object.entries(row).map(([k, v]) => [k, Math.round(v * 100) / 100]))));
}
const med = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const k of ['rate', 'cpu', 'usr', 'sys', 'pingUsr', 'pingSys', 'vcs', 'ncs']) console.log(k, 'tun', med(res.tun.map((r) => r[k])).toFixed(2), 'tap', med(res.tap.map((r) => r[k])).toFixed(2));
if (process.env.HOLD) { console.log('holding', targets.map((t) => t.join(':')).join(' ')); await new Promise((r) => setTimeout(r, Number(process.env.HOLD) * 1000)); }

for (const [, , pid] of targets) process.kill(pid, 'SIGINT');
await Promise.all([tun, tap].map((p) => new Promise((r) => p.on('exit', r))));
process.exit(0);
