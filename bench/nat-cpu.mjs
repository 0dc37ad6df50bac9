// The gateway's CPU per small TCP round trip (issue 12's echo row, as CPU rather than wall
// time: the machine is shared, and a round trip's wall time moves with everyone's load,
// its CPU time much less). Root: makes network namespaces (all deleted at the end).
//
// Topology of bench/nat.mjs: G (guest) -> the gateway in H -> W's echo on 10.8.0.1:7. For
// each gateway and repetition a fresh G; the client in G (bench/nat-client.mjs echo-cpu)
// makes WARMUP round trips of SIZE bytes, then TRIPS more with the gateway's CPU read from
// /proc around them: utime and stime (clock ticks) and the scheduler's run time (all
// threads). Prints per-sample lines and the medians, µs per round trip.
//
// Usage: node bench/nat-cpu.mjs [--gateways netstack,slirp4netns] (netstack:K=V+K2=V2: netstack
//          with these environment variables, e.g. netstack:NETSTACK_TUN_WAIT=poll; netstack@DIR: the
//          build in checkout DIR, e.g. a worktree of an older commit: A/B in one run) [--trips N] [--warmup N]
//          [--reps N] [--size B] [--node-args '...'] [--perf FILE] [--tap]
//   --node-args  extra node options for the netstack gateway (e.g. --perf-basic-prof,
//                --cpu-prof --cpu-prof-dir=DIR)
//   --log FILE   the netstack gateway's stdout and stderr, whole (e.g. for --trace-deopt)
//   --download B instead of echo round trips: curl GET /bytes/B in G, the gateway's CPU over it
//                (µs per MB in the 'per round trip' columns: the download path's CPU, e.g. to
//                check that a change for small round trips costs bulk transfers nothing)
//   --wrk S      instead: wrk -t1 -c16 -dS on GET /hello (keep-alive), the gateway's CPU per request
//                (after 2 s unmeasured unless --warmup 0; --perf attaches after it)
//   --close      with --wrk: 'Connection: close' (a new TCP connection per request)
//   --callgrind DIR  run netstack gateways under valgrind's callgrind, counting nothing until
//                the warm-up is done (callgrind_control -z) and dumping after the measured
//                round trips: user-space instructions per round trip, independent of the
//                machine's load (valgrind runs it ~50x slower: use small --trips)
//   --perf FILE  perf record -g of the gateway (first netstack sample) during the measured round
//                trips (strace:FILE: strace -c -f instead)
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { nsKit } from './lib/ns.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = resolve(root, 'packages/netstack/bin/netstack.js');
const CLIENT = resolve(root, 'bench/nat-client.mjs');
const SERVER = '10.8.0.1';

const { values } = parseArgs({
  options: {
    gateways: { type: 'string', default: 'netstack,slirp4netns' },
    trips: { type: 'string', default: '20000' },
    warmup: { type: 'string', default: '2000' },
    reps: { type: 'string', default: '3' },
    size: { type: 'string', default: '64' },
    'node-args': { type: 'string', default: '' },
    perf: { type: 'string' },
    tap: { type: 'boolean' },
    log: { type: 'string' },
    callgrind: { type: 'string' },
    download: { type: 'string' },
    wrk: { type: 'string' },
    close: { type: 'boolean' },
  },
});
const gateways = values.gateways.split(',').filter(Boolean);
const trips = Number(values.trips), warmup = Number(values.warmup), reps = Number(values.reps), size = Number(values.size);
const nodeArgs = values['node-args'].split(' ').filter(Boolean);
if (process.getuid() !== 0) { console.error('nat-cpu: needs root to make network namespaces'); process.exit(1); }

const { sh, inNs, mkns, delns, spawnIn: startIn, until, runIn: runInKit, stop: stopKit } = nsKit('nsc', 'nat-cpu');
/** A bounded run in `ns`; with `onWarm`, the client pauses after its warm-up ('warm') until onWarm() resolves ('go'). */
function runIn(ns, cmd, args, timeoutMs, onWarm) {
  return runInKit(ns, cmd, args, timeoutMs, {
    maxOutput: 64 << 20,
    stdin: onWarm ? 'pipe' : 'ignore',
    env: { NAT_CPU_PAUSE: onWarm ? '1' : '0' },
    onStdout: (child, stdout) => {
      if (onWarm && stdout.includes('warm\n')) { const f = onWarm; onWarm = undefined; f().then(() => child.stdin.write('go\n')); }
    },
  });
}
const stop = (child) => stopKit(child, 10_000);

const H = mkns('h');
const W = mkns('w');
sh('ip', ['-n', H, 'link', 'add', 'h0', 'type', 'veth', 'peer', 'name', 'w0', 'netns', W]);
inNs(H, 'ip', ['addr', 'add', '10.8.0.2/24', 'dev', 'h0']);
inNs(H, 'ip', ['link', 'set', 'h0', 'up']);
inNs(H, 'ip', ['route', 'add', 'default', 'via', SERVER]);
inNs(W, 'ip', ['addr', 'add', `${SERVER}/24`, 'dev', 'w0']);
inNs(W, 'ip', ['link', 'set', 'w0', 'up']);
const servers = startIn(W, process.execPath, [resolve(root, 'bench/nat-servers.mjs'), SERVER]);
await until(servers, () => servers.log().includes('listening'), 20_000, 'servers in W');

/** Gateways profiled already (--perf: the first sample of each). */
const perfDone = new Set();
async function sample(kind, rep) {
  const g = mkns(`g${rep}-${kind.replace(/[^a-z0-9]/gi, '').slice(0, 16)}`);
  let child;
  try {
    if (kind.startsWith('netstack')) {
      // 'netstack:K=V+K2=V2': the same gateway with these environment variables; 'netstack@DIR':
      // the one built in another checkout (a worktree of an older commit): A/B in one run.
      const [head, envText] = kind.split(':');
      const env = Object.fromEntries((envText ?? '').split('+').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
      const dir = head.includes('@') ? head.slice(head.indexOf('@') + 1) : undefined;
      const vg = values.callgrind ? ['valgrind', '--tool=callgrind', '--separate-threads=yes', '--smc-check=all-non-file', `--callgrind-out-file=${values.callgrind}/cg.${kind.replace(/[^a-z0-9]/gi, '')}.${rep}.%p`, process.execPath] : [process.execPath];
      child = startIn(H, vg[0], [...vg.slice(1), ...nodeArgs, dir ? resolve(dir, 'packages/netstack/bin/netstack.js') : cli, 'nat', '--netns', g, '--no-ipv6', '--dns', SERVER, ...(values.tap ? ['--tap'] : [])], env);
      if (values.log) { const f = createWriteStream(values.log, { flags: 'a' }); child.stdout.pipe(f); child.stderr.pipe(f); }
    }
    else child = startIn(H, 'slirp4netns', ['--configure', '--mtu=65520', '--disable-host-loopback', '--netns-type=path', `/run/netns/${g}`, 'tap0']);
    const ready = () => (!kind.startsWith('netstack') || child.log().includes('ready')) && /default via/.test(inNs(g, 'ip', ['-4', 'route', 'show', 'default'], { check: false }));
    await until(child, ready, values.callgrind ? 300_000 : 20_000, kind);
    let perf, onWarm;
    if (values.callgrind && kind.startsWith('netstack')) {
      onWarm = async () => { sh('callgrind_control', ['-z', String(child.pid)], { timeout: 60_000 }); };
    }
    if (values.perf && !perfDone.has(kind)) {
      perfDone.add(kind);
      // One file per gateway when there are several: FILE.KIND.
      const file = gateways.length > 1 ? `${values.perf}.${kind.replace(/[^a-z0-9]/gi, '')}` : values.perf;
      // Attached after the warm-up (the client waits), so the profile holds the steady state only.
      onWarm = async () => {
        perf = values.perf.startsWith('strace:')
          ? spawn('strace', [...(process.env.STRACE_FULL ? ['-tt'] : ['-c']), '-f', '-o', file.slice(7), '-p', String(child.pid)], { stdio: ['ignore', 'ignore', 'pipe'] })
          : spawn('perf', ['record', '-g', ...(process.env.PERF_EVENT ? ['-e', process.env.PERF_EVENT] : []), '-o', file, '-p', String(child.pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
        // perf says nothing until it ends; give it time to attach to every thread.
        await new Promise((r) => setTimeout(r, 1000));
      };
    }
    if (values.wrk) {
      const stat = () => { const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8'); const x = f.slice(f.lastIndexOf(')') + 2).split(' '); return [Number(x[11]) / 100, Number(x[12]) / 100]; };
      const wrk = (s) => runIn(g, 'wrk', ['-t1', '-c16', `-d${s}s`, '--timeout', '5s', ...(values.close ? ['-H', 'Connection: close'] : []), `http://${SERVER}/hello`], (Number(s) + 20) * 1000);
      // Unmeasured first, as the echo's warm-up: a JIT-compiled gateway's first requests run
      // in V8's interpreter; slirp4netns gets the same.
      if (warmup > 0) await wrk(2);
      if (onWarm) await onWarm();
      const t0 = performance.now(), c0 = stat();
      const w = await wrk(values.wrk);
      const c1 = stat(), ms = performance.now() - t0;
      if (perf) { perf.kill('SIGINT'); await new Promise((r) => perf.on('exit', r)); }
      // As after the echo's round trips: the dump holds the measured requests only (Ir / requests).
      if (values.callgrind && kind.startsWith('netstack')) sh('callgrind_control', ['-d', String(child.pid)], { timeout: 60_000 });
      const n = Number(/(\d+) requests in/.exec(w.stdout)?.[1] ?? NaN);
      if (!(n > 0)) throw new Error(`wrk: ${w.stdout.slice(-300)} ${w.stderr.slice(-200)}`);
      return { trips: n, ms, utime: c1[0] - c0[0], stime: c1[1] - c0[1], runNs: 0, perMB: true };
    }
    if (values.download) {
      const stat = () => { const f = readFileSync(`/proc/${child.pid}/stat`, 'utf8'); const x = f.slice(f.lastIndexOf(')') + 2).split(' '); return [Number(x[11]) / 100, Number(x[12]) / 100]; };
      const bytes = Number(values.download);
      const t0 = performance.now(), c0 = stat();
      const d = await runIn(g, 'curl', ['-sS', '-o', '/dev/null', '-w', '%{size_download}', `http://${SERVER}/bytes/${bytes}`], 300_000);
      const c1 = stat(), ms = performance.now() - t0;
      if (Number(d.stdout) !== bytes) throw new Error(`curl: ${d.stdout} of ${bytes} ${d.stderr.slice(-200)}`);
      // Scaled so that us(x) below gives µs per MB: trips = bytes / 1e6.
      return { trips: bytes / 1e6, ms, utime: c1[0] - c0[0], stime: c1[1] - c0[1], runNs: 0, perMB: true };
    }
    const r = await runIn(g, process.execPath, [CLIENT, 'echo-cpu', SERVER, '7', String(trips), String(warmup), String(child.pid), String(size)], 130_000, onWarm);
    if (perf) { perf.kill('SIGINT'); await new Promise((r) => perf.on('exit', r)); }
    if (values.callgrind && kind.startsWith('netstack')) sh('callgrind_control', ['-d', String(child.pid)], { timeout: 60_000 });
    const o = JSON.parse(r.stdout.trim().split('\n').pop() || '{}');
    if (o.error || o.trips === undefined) throw new Error(`client: ${o.error ?? r.stderr.slice(-300)}`);
    return o;
  } finally {
    if (child) await stop(child);
    delns(g);
  }
}

const us = (s, o) => (s * 1e6) / (o?.perMB ? o.trips : trips);
const results = Object.fromEntries(gateways.map((g) => [g, []]));
console.log(`nat-cpu: ${gateways.join(', ')}; ${reps} rep(s) of ${trips} round trips of ${size} B (after ${warmup}); load ${sh('cat', ['/proc/loadavg']).trim()}`);
for (let rep = 0; rep < reps; rep++) {
  for (let i = 0; i < gateways.length; i++) {
    const kind = gateways[(i + rep) % gateways.length];
    const o = await sample(kind, rep);
    const row = { user: us(o.utime, o), sys: us(o.stime, o), run: o.runNs / 1e3 / o.trips, rate: o.trips / (o.ms / 1000) };
    results[kind].push(row);
    console.log(`  rep ${rep + 1} ${kind}: user ${row.user.toFixed(1)} µs, sys ${row.sys.toFixed(1)} µs, run ${row.run.toFixed(1)} µs per round trip; ${row.rate.toFixed(0)} round trips/s (load ${sh('cat', ['/proc/loadavg']).trim().split(' ')[0]})`);
  }
}
await stop(servers);
const median = (xs) => { const v = [...xs].sort((a, b) => a - b); const m = v.length >> 1; return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2; };
console.log('\nmedians (and the lowest sample: the least disturbed by the machine\'s other load), µs of the gateway\'s CPU per round trip:');
for (const g of gateways) {
  const r = results[g];
  const min = (xs) => Math.min(...xs);
  console.log(`  ${g.padEnd(12)} user ${median(r.map((x) => x.user)).toFixed(1)}  sys ${median(r.map((x) => x.sys)).toFixed(1)}  user+sys ${median(r.map((x) => x.user + x.sys)).toFixed(1)}  run ${median(r.map((x) => x.run)).toFixed(1)}  (${median(r.map((x) => x.rate)).toFixed(0)} round trips/s)` +
    `;  lowest: user ${min(r.map((x) => x.user)).toFixed(1)} sys ${min(r.map((x) => x.sys)).toFixed(1)} run ${min(r.map((x) => x.run)).toFixed(1)}`);
}
