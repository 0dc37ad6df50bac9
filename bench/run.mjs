// `pnpm bench`: netstack beside the kernel's own stack over a veth pair, and beside
// the compiled peers of ../shared/peers when they are built, measured in ONE run,
// each in private network namespaces made here and deleted afterwards. Every load
// is bounded in count and time. Prints a table with ratios to each reference and
// writes every sample to results/bench-<timestamp>.json.
//
// --family 6: every test over IPv6 (the kernel side fd07::1 -> fd07::2: netstack
// serve's default dual stack, and the veth ends given those addresses with nodad)
// AND over IPv4 (10.7.0.1 -> 10.7.0.2) against the SAME processes in the same run,
// so the table shows per test netstack IPv6, netstack IPv4, kernel IPv6, kernel IPv4
// and the ratios IPv6/IPv4 (issue 11's goal: each IPv6 figure within 10 % of IPv4).
// Each of those measurements is proved to have gone over its family by the
// receiver's own counters (netstack: ip6.Ip6InReceives / ip.InReceives from a
// SIGUSR2 stats line; kernel: /proc/net/snmp6 and /proc/net/snmp of the server's
// namespace), or it is a failure and the bench exits 1. The peers (gVisor, lwIP)
// are skipped: their servers in ../shared/peers listen on IPv4 only. The kernel
// side then serves with the node:http/node:net fixture on '::' (the Go peer-server
// listens on tcp4 only). --family 4 (the default) is the IPv4-only run as before.
//
// --tap: netstack over a TAP device (serve --tap: Ethernet frames, ARP, its own MAC) as a
// third target beside netstack over TUN and the kernel's veth, same tests, same run, with
// the ratio TAP/TUN per row and issue 13's goal check (each TAP figure within 10 % of
// TUN's). Offloads on both devices by default (--no-offload: off on both).
//
// Usage: node bench/run.mjs [--quick] [--reps N] [--seconds S] [--mtu 1500|65000]
//          [--tests ping,flood,udp,down,up,echo,rps,rpsclose,conns] [--conns N] [--targets a,b] [--no-peers]
//          [--no-offload] [--family 4|6] [--tap]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, mkdirSync, writeFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { cpus, release, hostname } from 'node:os';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { nsKit } from './lib/ns.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const peersDir = resolve(root, '../shared/peers/.build');
// conns first: its RSS figures mean something only in a process not yet grown by the bulk tests.
const ALL_TESTS = ['conns', 'ping', 'flood', 'udp', 'down', 'up', 'echo', 'rps', 'rpsclose'];
const USAGE = `usage: pnpm bench [options]
  --quick            short run (reps 1, smaller sizes, 2 s loads): ~2-3 min for all targets
  --reps N           repetitions, interleaved target by target (default 3; --quick 1)
  --seconds S        duration of flood and udp (default 3; --quick 2)
  --tests LIST       subset of ${ALL_TESTS.join(',')} (default all; --family 6: all but conns)
  --targets LIST     subset of netstack,kernel,gvisor,lwip (default all that exist; with --tap: netstack,tap,kernel)
  --family 4|6       4 (default): IPv4 only. 6: every test over IPv6 (fd07::1 -> fd07::2) and
                     over IPv4 against the same netstack and kernel processes, with the
                     ratios IPv6/IPv4; each measurement proved by the receiver's IP counters
                     to have gone over its family (else a failure, exit 1). Peers skipped
  --mtu N            1500 (default) or up to 65535, e.g. 65000: tun0 MTU of the contract
                     targets (ip link set tun0 mtu N; netstack also gets --mtu N), both veth ends
  --down-size B      download bytes (default 1 GiB; --quick 200 MiB); targets whose probe
                     download runs below --slow MB/s get --down-slow (100 MiB; --quick 20 MiB)
  --up-size B        upload bytes to discard :9 (default 200 MiB; --quick 50 MiB; slow: /10)
  --echo-size B      bytes through echo :7 (default 100 MiB; --quick 20 MiB; slow: /10)
  --slow MBPS        probe threshold for the reduced sizes (default 50)
  --wrk-time S       wrk duration for rps and rpsclose (default 5; --quick 2)
  --conns N          connections the conns test holds open at once (default 1000)
  --quiet-busy P     before each measurement wait until the machine is at most P% busy
                     (default 25; the machine is shared) ...
  --quiet-wait S     ... for at most S seconds (default 10; --quick 2), then go on anyway
  --no-peers         kernel and netstack only
  --no-offload       netstack without TUN offloads (serve --no-offload): one syscall per
                     MTU-sized packet, so the per-packet cost of the stack shows (with --tap:
                     without TAP offloads either)
  --tap              netstack over a TAP too (serve --tap: frames, ARP; tap0 10.7.0.1/24 in
                     its own namespace), beside netstack over TUN and the kernel, with the
                     ratios TAP/TUN and the goal check (each TAP figure within 10 % of TUN's).
                     Peers are not measured (pnpm bench --tap)
  --no-warmup        skip the unmeasured warm-up (2000 pings, 1 s of HTTP) of every target
Ratios: a ratio above 1 means netstack did better (higher rate, shorter RTT, less memory).
pnpm bench --impaired [options]: TCP on bad networks, netstack against Linux through the same
  impaired path (netstack relay): bench/impaired.mjs, its own --help.`;
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    reps: { type: 'string' },
    seconds: { type: 'string' },
    tests: { type: 'string' },
    family: { type: 'string', default: '4' },
    targets: { type: 'string' },
    mtu: { type: 'string', default: '1500' },
    'down-size': { type: 'string' },
    'up-size': { type: 'string' },
    'echo-size': { type: 'string' },
    slow: { type: 'string', default: '50' },
    'wrk-time': { type: 'string' },
    conns: { type: 'string', default: '1000' },
    'quiet-busy': { type: 'string', default: '25' },
    'quiet-wait': { type: 'string' },
    'no-peers': { type: 'boolean' },
    'no-offload': { type: 'boolean' },
    'no-warmup': { type: 'boolean' },
    tap: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) { console.log(USAGE); process.exit(0); }
if (process.getuid() !== 0) { console.error('bench: needs root to make network namespaces'); process.exit(1); }
const quick = Boolean(values.quick);
const clampInt = (v, lo, hi, name) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < lo || n > hi) { console.error(`bench: --${name} must be an integer in ${lo}..${hi}`); process.exit(2); }
  return n;
};
const reps = clampInt(values.reps ?? (quick ? 1 : 3), 1, 20, 'reps');
const seconds = clampInt(values.seconds ?? (quick ? 2 : 3), 1, 30, 'seconds');
const wrkTime = clampInt(values['wrk-time'] ?? (quick ? 2 : 5), 1, 30, 'wrk-time');
const quietBusy = clampInt(values['quiet-busy'], 0, 100, 'quiet-busy');
const quietWait = clampInt(values['quiet-wait'] ?? (quick ? 2 : 10), 0, 120, 'quiet-wait');
const mtu = clampInt(values.mtu, 576, 65535, 'mtu');
const connsCount = clampInt(values.conns, 1, 15000, 'conns');
const slowMBps = Number(values.slow);
const MiB = 1 << 20;
const big = {
  down: clampInt(values['down-size'] ?? (quick ? 200 : 1024) * MiB, 1, 16 * 1024 * MiB, 'down-size'),
  up: clampInt(values['up-size'] ?? (quick ? 50 : 200) * MiB, 1, 4096 * MiB, 'up-size'),
  echo: clampInt(values['echo-size'] ?? (quick ? 20 : 100) * MiB, 1, 4096 * MiB, 'echo-size'),
};
const slow = { down: Math.min(big.down, (quick ? 20 : 100) * MiB), up: Math.max(1, Math.floor(big.up / 10)), echo: Math.max(1, Math.floor(big.echo / 10)) };
const probeSize = quick ? 20 * MiB : 100 * MiB;
if (values.family !== '4' && values.family !== '6') { console.error(`bench: --family must be 4 or 6\n${USAGE}`); process.exit(2); }
const fam6 = values.family === '6';
/** --tap: a third target, netstack over a TAP device, compared with netstack over TUN. */
const tapMode = Boolean(values.tap);
const tests = (values.tests ?? ALL_TESTS.filter((t) => !fam6 || t !== 'conns').join(',')).split(',').filter(Boolean);
for (const t of tests) if (!ALL_TESTS.includes(t)) { console.error(`bench: unknown test ${t}\n${USAGE}`); process.exit(2); }
tests.sort((a, b) => ALL_TESTS.indexOf(a) - ALL_TESTS.indexOf(b)); // always in ALL_TESTS order (conns first)
const ADDR = '10.7.0.2';
const ADDR6 = 'fd07::2';
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

// Namespaces and processes: bench/lib/ns.mjs (the other namespace benches' helpers), with
// one cleanup at exit or on a signal that kills every process and deletes every namespace.
const { sh, inNs, mkns: mkKitNs, spawnIn, cleanup } = nsKit('nsb', 'bench');
/** A namespace `nsb-PID-suffix` with its loopback up; IPv6 on whatever the machine's defaults (a new device inherits 'default'). */
function mkns(suffix) {
  const name = mkKitNs(suffix);
  if (fam6 || tapMode) inNs(name, 'sysctl', ['-q', '-w', 'net.ipv6.conf.all.disable_ipv6=0', 'net.ipv6.conf.default.disable_ipv6=0']);
  return name;
}

// ---------------------------------------------------------------- /proc accounting
/** The process that really is the stack (or server): `ip netns exec` execs in place, but
 * follow children through any wrapper (ip, bash, timeout) to the first real program. */
function realPid(pid) {
  for (let depth = 0; depth < 5; depth++) {
    let comm;
    try { comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim(); } catch { return pid; }
    if (!['ip', 'bash', 'sh', 'timeout', 'time'].includes(comm)) return pid;
    let kids = [];
    try { kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch {}
    if (kids.length === 0) return pid;
    pid = kids[0];
  }
  return pid;
}
function cpuTicks(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime + stime (fields 14, 15)
  } catch { return NaN; }
}
function statusMB(pid, key) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch { return NaN; }
}
function machineTicks() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] || 0);
  return { total: f.reduce((a, b) => a + b, 0), idle };
}
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };

// ---------------------------------------------------------------- targets
function startIn(ns, cmd, args, readyRe) {
  const child = spawnIn(ns, cmd, args);
  // serve's 'stats {...}' lines (SIGUSR2), kept whole for the --family 6 proof.
  child.statsCount = 0;
  let partial = '';
  child.stdout.on('data', (d) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    if (partial.length > 1 << 20) partial = '';
    for (const l of lines) if (l.startsWith('stats ')) { child.statsCount++; child.lastStats = l.slice(6); }
  });
  let ready = false;
  return new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`${cmd} not ready: ${child.log()}`)), 30_000);
    const check = () => { if (!ready && (!readyRe || readyRe.test(child.log()))) { ready = true; clearTimeout(timer); res(child); } };
    child.stdout.on('data', check);
    child.stderr.on('data', check);
    child.exited.then((x) => { if (!ready) { clearTimeout(timer); rej(new Error(`${cmd} exited ${x.code ?? x.signal}: ${child.log()}`)); } });
    if (!readyRe) setTimeout(check, 0);
  });
}
/** The addresses a target is measured at: IPv4, and with --family 6 IPv6 too. */
const addrs = () => (fam6 ? [ADDR6, ADDR] : [ADDR]);
/** An address as the host part of a URL (RFC 3986 §3.2.2: an IPv6 literal in brackets; curl needs -g for them). */
const urlHost = (addr) => (isIPv6(addr) ? `[${addr}]` : addr);
const curlFam = (addr) => (isIPv6(addr) ? ['-g'] : []);
const pingFam = (addr) => (isIPv6(addr) ? ['-6'] : []);
async function waitPing(ns) {
  for (const addr of addrs()) {
    let ok = false;
    for (let i = 0; i < 100 && !ok; i++) ok = spawnSync('ip', ['netns', 'exec', ns, 'ping', ...pingFam(addr), '-c', '1', '-W', '1', addr]).status === 0;
    if (!ok) throw new Error(`no answer from ${addr} in ${ns}`);
  }
}
async function waitHttp(ns) {
  for (const addr of addrs()) {
    let ok = false;
    for (let i = 0; i < 150 && !ok; i++) {
      const r = spawnSync('ip', ['netns', 'exec', ns, 'curl', ...curlFam(addr), '-s', '-m', '1', '-o', '/dev/null', '-w', '%{http_code}', `http://${urlHost(addr)}/bytes/1`], { encoding: 'utf8' });
      ok = r.stdout === '200';
      if (!ok) await new Promise((r) => setTimeout(r, 200));
    }
    if (!ok) throw new Error(`no HTTP answer from ${addr}:80 in ${ns} within 30 s`);
  }
}
function makeTun(ns) {
  // The peers' contract: a persistent tun0, configured, with the MTU set, and up, that the stack attaches to.
  inNs(ns, 'ip', ['tuntap', 'add', 'dev', 'tun0', 'mode', 'tun']);
  inNs(ns, 'ip', ['addr', 'add', '10.7.0.1/24', 'dev', 'tun0']);
  inNs(ns, 'ip', ['link', 'set', 'tun0', 'mtu', String(mtu)]);
  inNs(ns, 'ip', ['link', 'set', 'tun0', 'up']);
}
async function contract(ns, cmd, args, readyRe) {
  makeTun(ns);
  const p = await startIn(ns, cmd, args, readyRe);
  // serve runs IPv4 only where the namespace has IPv6 off: its ready line then names no fd07::2.
  if (fam6 && !p.log().split('\n').some((l) => /ready/.test(l) && l.includes(` ${ADDR6}`))) {
    throw new Error(`${cmd} serves no IPv6 at ${ADDR6}: ${p.log().trim().split('\n').slice(-3).join(' / ')}`);
  }
  await waitPing(ns);
  if (tests.some((t) => !['ping', 'flood', 'udp'].includes(t))) await waitHttp(ns);
  return { client: ns, pid: realPid(p.pid), child: p, procKind: 'stack', command: [cmd, ...args].join(' ') };
}

/** Each target: set up, returns { client: ns, pid, procKind, child, command, extra? }. */
const targets = {
  netstack: async () => contract(mkns('ours'), process.execPath,
    [resolve(root, 'packages/netstack/bin/netstack.js'), 'serve', '--tun', 'tun0', '--mtu', String(mtu), ...(values['no-offload'] ? ['--no-offload'] : [])], /ready/),
  // --tap: serve --tap makes tap0 itself (kernel side 10.7.0.1/24 and fd07::1/64, the MTU, up):
  // the kernel then ARPs for 10.7.0.2 and the stack answers with its own MAC.
  ...(tapMode ? {
    tap: async () => {
      const ns = mkns('tap');
      const args = [resolve(root, 'packages/netstack/bin/netstack.js'), 'serve', '--tap', '--tap-name', 'tap0', '--mtu', String(mtu), ...(values['no-offload'] ? ['--no-offload'] : [])];
      const p = await startIn(ns, process.execPath, args, /ready/);
      if (fam6 && !p.log().split('\n').some((l) => /ready/.test(l) && l.includes(` ${ADDR6}`))) throw new Error(`serve --tap serves no IPv6 at ${ADDR6}: ${p.log().trim()}`);
      await waitPing(ns);
      if (tests.some((t) => !['ping', 'flood', 'udp'].includes(t))) await waitHttp(ns);
      return { client: ns, pid: realPid(p.pid), child: p, procKind: 'stack', command: ['node', ...args].join(' '), ready: p.log().split('\n').find((l) => /ready/.test(l)) };
    },
  } : {}),
  kernel: async () => {
    const a = mkns('kc');
    const b = mkns('ks');
    sh('ip', ['link', 'add', 'veth0', 'netns', a, 'type', 'veth', 'peer', 'name', 'veth1', 'netns', b]);
    inNs(a, 'ip', ['addr', 'add', '10.7.0.1/24', 'dev', 'veth0']);
    inNs(b, 'ip', ['addr', 'add', `${ADDR}/24`, 'dev', 'veth1']);
    if (fam6) {
      // nodad: usable at once, as netstack serve configures tun0's fd07::1/64.
      inNs(a, 'ip', ['addr', 'add', 'fd07::1/64', 'dev', 'veth0', 'nodad']);
      inNs(b, 'ip', ['addr', 'add', `${ADDR6}/64`, 'dev', 'veth1', 'nodad']);
    }
    inNs(a, 'ip', ['link', 'set', 'veth0', 'mtu', String(mtu)]);
    inNs(b, 'ip', ['link', 'set', 'veth1', 'mtu', String(mtu)]);
    inNs(a, 'ip', ['link', 'set', 'veth0', 'up']);
    inNs(b, 'ip', ['link', 'set', 'veth1', 'up']);
    // UDP echo stays node:dgram (as before this file served TCP), bound first; the TCP
    // server is the peers' Go peer-server -stack kernel when built (its own UDP :7 bind
    // then fails and it logs so), else a node:http/node:net fixture.
    // --family 6: both servers on '::', dual-stack (IPv4 arrives v4-mapped), one process each for both families.
    const bind = fam6 ? ['::'] : [];
    const udp = await startIn(b, process.execPath, [resolve(root, 'bench/udp-echo-server.mjs'), '7', ...bind], /ready/);
    // The Go peer-server listens on tcp4 only: not for --family 6.
    const goServer = fam6 ? '/nonexistent' : resolve(peersDir, 'peer-server');
    // One fd per connection on this side (the conns test): soft fd limit up to the hard one.
    // `exec` keeps the pid; realPid() follows bash to the server either way.
    const withFds = ['-c', 'ulimit -n "$(ulimit -Hn)"; exec "$0" "$@"'];
    const tcp = existsSync(goServer)
      ? await startIn(b, 'bash', [...withFds, goServer, '-stack', 'kernel'], /ready/)
      : await startIn(b, 'bash', [...withFds, process.execPath, resolve(root, 'bench/kernel-tcp-server.mjs'), ...bind], /ready/);
    await waitPing(a);
    await waitHttp(a);
    return { client: a, server: b, pid: realPid(tcp.pid), child: tcp, extraChildren: [udp], procKind: 'server',
      command: existsSync(goServer) ? `${goServer} -stack kernel (+ node bench/udp-echo-server.mjs for UDP)` : `node bench/kernel-tcp-server.mjs${fam6 ? ' ::' : ''} (+ node bench/udp-echo-server.mjs${fam6 ? ' 7 ::' : ''})` };
  },
};
const noPeers = values['no-peers'] || tapMode;
const peersSkipped = fam6 && !noPeers && (existsSync(resolve(peersDir, 'peer-server')) || existsSync(resolve(peersDir, 'lwip-peer')));
if (!fam6 && !noPeers && existsSync(resolve(peersDir, 'peer-server'))) {
  targets.gvisor = async () => contract(mkns('gv'), resolve(peersDir, 'peer-server'), ['-stack', 'gvisor', '-tun', 'tun0', '-addr', ADDR], null);
}
if (!fam6 && !noPeers && existsSync(resolve(peersDir, 'lwip-peer'))) {
  targets.lwip = async () => contract(mkns('lw'), resolve(peersDir, 'lwip-peer'), ['-t', 'tun0', '-a', ADDR], null);
}
if (values.targets) {
  const want = values.targets.split(',');
  for (const n of Object.keys(targets)) if (!want.includes(n)) delete targets[n];
}

// ---------------------------------------------------------------- measures
// Each run(target, column) returns a number, or { value, ...extra }; column.addr is
// the address measured (IPv4, or with --family 6 IPv6 or IPv4). The caller adds the CPU
// of the stack (or server) process and the whole machine's busy share meanwhile.
const mbps = (bytes, s) => bytes / s / 1e6;
function timed(fn) { const t0 = performance.now(); const r = fn(); return { r, s: (performance.now() - t0) / 1000 }; }
function bashIn(ns, script, timeoutS) {
  return spawnSync('ip', ['netns', 'exec', ns, 'bash', '-c', script], { encoding: 'utf8', timeout: (timeoutS + 15) * 1000 });
}
function wrk(t, c, extra) {
  const out = inNs(t.client, 'timeout', [String(wrkTime + 30), 'wrk', '-t1', '-c16', `-d${wrkTime}s`, ...extra, `http://${urlHost(c.addr)}/bytes/100`], { timeout: (wrkTime + 40) * 1000, check: false });
  const rps = Number(out.match(/^Requests\/sec:\s+([\d.]+)/m)?.[1] ?? NaN);
  const se = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const non2xx = Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0);
  const errors = (se ? se.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + non2xx;
  if (!Number.isFinite(rps)) throw new Error(`wrk gave no rate: ${out.trim().split('\n').slice(-2).join(' / ')}`);
  return { value: rps, errors, requests: Number(out.match(/(\d+) requests in/)?.[1] ?? NaN) };
}
const measures = {
  // Round-trip time of the kernel's ping, 500 requests 2 ms apart (as ../shared/peers/bench.sh, with more samples).
  ping: { unit: 'ms', better: 'lower', run: (t, c) => {
    const out = inNs(t.client, 'ping', [...pingFam(c.addr), '-q', '-c', quick ? '200' : '500', '-i', '0.002', '-W', '1', c.addr], { timeout: 30_000 });
    return Number(out.match(/= [\d.]+\/([\d.]+)\//)?.[1] ?? NaN);
  } },
  // Echo replies per second under a kernel-side flood with 32 requests in flight.
  flood: { unit: 'replies/s', better: 'higher', run: (t, c) => {
    const out = inNs(t.client, 'ping', [...pingFam(c.addr), '-f', '-l', '32', '-q', '-w', String(seconds), c.addr], { timeout: (seconds + 10) * 1000, check: false });
    const m = out.match(/(\d+) packets transmitted, (\d+) received/);
    const tm = out.match(/time (\d+)ms/);
    return m && tm ? Math.round(Number(m[2]) / (Number(tm[1]) / 1000)) : NaN;
  } },
  // UDP echo datagrams per second (64 bytes, 32 in flight) from a kernel-side node:dgram client.
  udp: { unit: 'datagrams/s', better: 'higher', run: (t, c) => {
    const out = inNs(t.client, process.execPath, [resolve(root, 'bench/udp-flood.mjs'), c.addr, '7', String(seconds), '64', '32'], { timeout: (seconds + 15) * 1000 });
    return JSON.parse(out.trim()).perSecond;
  } },
  // curl GET /bytes/N (1 GiB, or 100 MiB for a target whose probe ran below --slow MB/s).
  down: { unit: 'MB/s', better: 'higher', run: (t, c) => {
    const size = t.sizes.down;
    const limit = Math.min(300, Math.ceil(30 + size / 5e6));
    const out = inNs(t.client, 'curl', [...curlFam(c.addr), '-s', '-m', String(limit), '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{speed_download}', `http://${urlHost(c.addr)}/bytes/${size}`], { timeout: (limit + 10) * 1000, check: false });
    const [code, got, speed] = out.trim().split(' ');
    if (code !== '200' || Number(got) !== size) throw new Error(`curl: status ${code}, ${got} of ${size} bytes`);
    return { value: Number(speed) / 1e6, bytes: size };
  } },
  // 200 MiB of zeros into TCP discard :9 with `nc -N`, timed from start to nc's exit.
  up: { unit: 'MB/s', better: 'higher', run: (t, c) => {
    const size = t.sizes.up;
    const limit = quick ? 60 : 120;
    const { r, s } = timed(() => bashIn(t.client, `head -c ${size} /dev/zero | timeout ${limit} nc -N ${c.addr} 9 >/dev/null; exit \${PIPESTATUS[1]}`, limit));
    if (r.status !== 0) throw new Error(`nc to :9 exited ${r.status ?? r.signal}: ${(r.stderr ?? '').trim()}`);
    return { value: mbps(size, s), bytes: size, seconds: s };
  } },
  // 100 MiB through TCP echo :7 with `nc -N`; what comes back is compared byte for byte (count and content).
  echo: { unit: 'MB/s', better: 'higher', run: (t, c) => {
    const size = t.sizes.echo;
    const limit = quick ? 60 : 120;
    const script = `head -c ${size} /dev/zero | timeout ${limit} nc -N ${c.addr} 7 | cmp - <(head -c ${size} /dev/zero); s=("\${PIPESTATUS[@]}"); [ "\${s[1]}" = 0 ] || exit 100; exit \${s[2]}`;
    const { r, s } = timed(() => bashIn(t.client, script, limit));
    if (r.status !== 0) throw new Error(r.status === 100 ? 'nc to :7 failed or timed out' : `echoed bytes differ: ${(r.stdout + r.stderr).trim()}`);
    return { value: mbps(size, s), bytes: size, seconds: s };
  } },
  // wrk -t1 -c16 keep-alive GET /bytes/100: requests per second.
  rps: { unit: 'req/s', better: 'higher', run: (t, c) => wrk(t, c, []) },
  // The same with Connection: close, so every request is a new TCP connection.
  rpsclose: { unit: 'conn/s', better: 'higher', run: (t, c) => wrk(t, c, ['-H', 'Connection: close']) },
  // --conns (1000) connections to echo :7 held open at once, each idle after one small
  // echo: RSS of the stack process (kernel: of the server) with all of them open, and
  // (that RSS - the RSS just before) / count. The kernel's own socket memory is in no process.
  conns: { unit: 'MB', better: 'lower', procRow: true, run: (t, c) => {
    const r = connsClient(t, c.addr, connsCount, 60);
    if (r.connected !== connsCount || r.echoed !== connsCount) {
      throw new Error(`${r.connected} of ${connsCount} connected, ${r.echoed} echoed${r.error ? `; ${r.error}` : ''}; errors ${JSON.stringify(r.errors)}${r.bad.length ? `; first bad: ${JSON.stringify(r.bad[0])}` : ''}`);
    }
    const perConnKB = (r.rssHoldKB - r.rssBeforeKB) / connsCount;
    return { value: r.rssHoldKB / 1024, perConnKB, rssBeforeMB: r.rssBeforeKB / 1024, hwmHoldMB: r.hwmHoldKB / 1024,
      closedClean: r.closedClean, ms: r.ms, note: `${fmtNum(perConnKB)} KB per connection (RSS ${fmtNum(r.rssBeforeKB / 1024)} -> ${fmtNum(r.rssHoldKB / 1024)} MB)` };
  } },
};
/** bench/conns-client.mjs in the client namespace: `count` connections to echo :7, held, then closed. */
function connsClient(t, addr, count, timeoutS) {
  const args = [process.execPath, resolve(root, 'bench/conns-client.mjs'), addr, '7', String(count), '--wave', '128', '--pid', String(t.pid), '--timeout-ms', String(timeoutS * 1000)];
  const r = bashIn(t.client, `ulimit -n "$(ulimit -Hn)"; exec ${args.map((a) => `'${a}'`).join(' ')}`, timeoutS);
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  if (!line.startsWith('{')) throw new Error(`conns-client printed no result (${r.status ?? r.signal}): ${(r.stderr ?? '').trim().split('\n').slice(-2).join(' / ')}`);
  return JSON.parse(line);
}
const fmtNum = (v) => (Number.isFinite(v) ? (Math.abs(v) >= 100 ? String(Math.round(v)) : v.toFixed(1)) : 'n/a');
const tcpTests = new Set(['down', 'up', 'echo']);

// ---------------------------------------------------------------- run
const median = (xs) => { const s = xs.filter(Number.isFinite).sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
const samples = [];
const startedAt = new Date();
console.log(`bench: targets ${Object.keys(targets).join(', ')}; tests ${tests.join(', ')}; MTU ${mtu}; ${reps} rep(s), interleaved${quick ? '; quick' : ''}${values['no-offload'] ? '; netstack --no-offload' : ''}`);
if (tapMode) console.log(`  --tap: 'netstack' is netstack serve over TUN (tun0), 'tap' netstack serve --tap over TAP (tap0, Ethernet, ARP), 'kernel' the kernel over a veth pair; peers not measured`);
if (fam6) {
  console.log(`  family 6: every test over IPv6 (fd07::1 -> ${ADDR6}) and over IPv4 (10.7.0.1 -> ${ADDR}) against the same processes; each measurement proved by the receiver's IP input counters`);
  console.log(`  peers (gVisor, lwIP): ${peersSkipped ? 'skipped' : 'not measured'} for --family 6 (their servers in ../shared/peers listen on IPv4 only); kernel side: node fixtures on '::'`);
}
const running = {};
const setupErrors = {};

/** Waits (bounded) until the whole machine is at most quietBusy% busy; returns the last busy% seen. */
async function waitQuiet() {
  const t0 = performance.now();
  for (;;) {
    const a = machineTicks();
    await new Promise((r) => setTimeout(r, 300));
    const b = machineTicks();
    const busy = (1 - (b.idle - a.idle) / (b.total - a.total)) * 100;
    if (busy <= quietBusy || performance.now() - t0 >= quietWait * 1000) return { busy, waitedS: (performance.now() - t0) / 1000 };
  }
}

/** --family 6: the receiver's IP input counters by family, { 4, 6 }: netstack's from a
 * 'stats {...}' line it prints on SIGUSR2 (ip.InReceives, ip6.Ip6InReceives), the
 * kernel's from /proc/net/snmp and /proc/net/snmp6 of the server's namespace. */
async function ipInReceives(t) {
  if (t.server) {
    const out = inNs(t.server, 'cat', ['/proc/net/snmp', '/proc/net/snmp6']);
    const [keys, vals] = out.split('\n').filter((l) => l.startsWith('Ip: ')).map((l) => l.trim().split(/\s+/));
    return { 4: Number(vals?.[keys?.indexOf('InReceives') ?? -1]), 6: Number(out.match(/^Ip6InReceives\s+(\d+)/m)?.[1]) };
  }
  const before = t.child.statsCount;
  process.kill(t.pid, 'SIGUSR2');
  const t0 = performance.now();
  while (t.child.statsCount === before && performance.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 10));
  if (t.child.statsCount === before) throw new Error('no stats line within 3 s of SIGUSR2');
  const st = JSON.parse(t.child.lastStats);
  return { 4: Number(st.ip?.InReceives), 6: Number(st.ip6?.Ip6InReceives) };
}
/** The proof that a measurement went over its family: the receiver took at least
 * PROOF_MIN packets of that family (a tiny --down-size still makes a handshake, a
 * request, ACKs and FINs), and of the other at most a tenth as many plus a handful
 * (the kernel's router solicitations and MLD reports on tun0). */
const PROOF_MIN = 5;
function familyProof(c, a, b) {
  const other = c.family === 6 ? 4 : 6;
  const mine = b[c.family] - a[c.family];
  const theirs = b[other] - a[other];
  const what = `IPv${c.family} packets in +${mine}, IPv${other} +${theirs} (${c.target === 'netstack' ? 'netstack ip6.Ip6InReceives / ip.InReceives' : 'server /proc/net/snmp6 Ip6InReceives / snmp Ip InReceives'})`;
  const ok = Number.isFinite(mine) && Number.isFinite(theirs) && mine >= PROOF_MIN && theirs <= 3 + mine / 10;
  return { ok, what };
}

async function measureOne(c, test, rep, quiet) {
  const name = c.name;
  const t = running[c.target];
  const sample = { target: name, test, rep, value: NaN, busyBeforePct: quiet.busy, quietWaitS: quiet.waitedS };
  if (fam6) Object.assign(sample, { stackTarget: c.target, family: c.family, addr: c.addr });
  if (!alive(t.pid)) {
    const x = t.child.exitInfo;
    sample.error = `${t.procKind} process ${t.pid} is gone${x ? ` (exited at ${x.at} with ${x.signal ?? `status ${x.code}`})` : ''}`;
  } else {
    let in0;
    if (fam6) { try { in0 = await ipInReceives(t); } catch (e) { sample.error = `family proof: ${e.message}`; } }
    const c0 = cpuTicks(t.pid);
    const m0 = machineTicks();
    const t0 = performance.now();
    try {
      const r = measures[test].run(t, c);
      Object.assign(sample, typeof r === 'object' ? r : { value: r });
    } catch (e) { sample.error = e.message.split('\n')[0]; }
    const wall = (performance.now() - t0) / 1000;
    const c1 = cpuTicks(t.pid);
    const m1 = machineTicks();
    if (fam6 && in0 && !sample.error) {
      try {
        const proof = familyProof(c, in0, await ipInReceives(t));
        sample.familyProof = proof.what;
        if (!proof.ok) sample.error = `NOT proved over IPv${c.family}: ${proof.what}`;
      } catch (e) { sample.error = `family proof: ${e.message}`; }
    }
    sample.wallS = wall;
    sample.procCpuPct = ((c1 - c0) / CLK_TCK / wall) * 100;
    sample.machineBusyPct = (1 - (m1.idle - m0.idle) / (m1.total - m0.total)) * 100;
    sample.procHwmMB = statusMB(t.pid, 'VmHWM');
    sample.procRssMB = statusMB(t.pid, 'VmRSS');
  }
  if (sample.error) console.error(`  ${name} ${test} rep ${rep + 1}: ${sample.error}`);
  samples.push(sample);
  const v = Number.isFinite(sample.value) ? (sample.value >= 100 ? Math.round(sample.value) : sample.value.toFixed(3)) : 'n/a';
  console.log(`  rep ${rep + 1} ${test} ${name}: ${v} ${measures[test].unit}${tcpTests.has(test) || test.startsWith('rps') ? `, ${t.procKind} CPU ${Math.round(sample.procCpuPct)}%` : ''}${sample.note ? `, ${sample.note}` : ''}${sample.familyProof && !sample.error ? `; ${sample.familyProof.replace(/ \(.*\)$/, '')}` : ''}`);
}

try {
  for (const [name, up] of Object.entries(targets)) {
    try {
      running[name] = await up();
      running[name].name = name;
      console.log(`  ${name}: up (${running[name].procKind} pid ${running[name].pid}, ${readFileSync(`/proc/${running[name].pid}/comm`, 'utf8').trim()})`);
      if (tapMode && name !== 'kernel') {
        // What each device agreed (offloads), from serve's ready line.
        const ready = running[name].child.log().split('\n').find((l) => /ready/.test(l)) ?? '';
        running[name].offload = ready.match(/offload ([^;,]+)/)?.[1] ?? 'unknown';
        console.log(`  ${name}: offload ${running[name].offload}`);
      }
    } catch (e) {
      setupErrors[name] = e.message.split('\n').slice(0, 3).join(' / ');
      console.error(`  ${name}: setup failed: ${setupErrors[name]}`);
    }
  }
  // Sizes per target from a probe download, as ../shared/peers/bench.sh does.
  for (const [name, t] of Object.entries(running)) {
    t.sizes = { ...big };
    if (!tests.some((x) => tcpTests.has(x))) continue;
    // --family 6: probed over IPv6; both families of a target then move the same sizes.
    const out = inNs(t.client, 'curl', [...curlFam(addrs()[0]), '-s', '-m', '60', '-o', '/dev/null', '-w', '%{speed_download}', `http://${urlHost(addrs()[0])}/bytes/${probeSize}`], { timeout: 70_000, check: false });
    t.probeMBps = Number(out) / 1e6 || 0;
    if (t.probeMBps < slowMBps) t.sizes = { ...slow };
    console.log(`  ${name}: probe ${(probeSize / MiB)} MiB at ${t.probeMBps.toFixed(1)} MB/s -> down ${t.sizes.down / MiB} MiB, up ${t.sizes.up / MiB} MiB, echo ${t.sizes.echo / MiB} MiB`);
  }
  // Warm-up, the same for every target and not measured: a JIT-compiled stack
  // (ours) pays for compilation and tier-up during its first thousands of
  // packets, which a compiled peer does not; a benchmark of steady state skips
  // that. Bounded: 2000 pings at 1 ms, and 1 s of HTTP load per target.
  if (!values['no-warmup']) {
    for (const [name, t] of Object.entries(running)) {
      for (const addr of addrs()) { // --family 6: both families' code paths
        inNs(t.client, 'ping', [...pingFam(addr), '-q', '-c', '2000', '-i', '0.001', '-W', '1', addr], { timeout: 30_000, check: false });
        if (tests.some((x) => tcpTests.has(x) || x.startsWith('rps'))) {
          inNs(t.client, 'wrk', ['-t1', '-c16', '-d1s', `http://${urlHost(addr)}/bytes/100`], { timeout: 15_000, check: false });
        }
        // The code paths of many connections compiled before conns measures an RSS delta.
        if (tests.includes('conns')) { try { connsClient(t, addr, 200, 30); } catch {} }
      }
      console.log(`  ${name}: warmed up`);
    }
  }
  for (let rep = 0; rep < reps; rep++) {
    for (const test of tests) {
      // --family 6: IPv6 then IPv4 of each target in odd repetitions, IPv4 first in even ones.
      for (const t of Object.values(running)) {
        const fams = addrs().map((addr) => ({ name: fam6 ? `${t.name} IPv${isIPv6(addr) ? 6 : 4}` : t.name, target: t.name, addr, family: isIPv6(addr) ? 6 : 4 }));
        if (rep % 2 === 1) fams.reverse();
        for (const c of fams) await measureOne(c, test, rep, await waitQuiet());
      }
    }
  }
  for (const [name, t] of Object.entries(running)) {
    // A process that died early: its peak as last read after a measurement.
    t.peakRssMB = alive(t.pid) ? statusMB(t.pid, 'VmHWM') : Math.max(...samples.filter((s) => s.target === name && Number.isFinite(s.procHwmMB)).map((s) => s.procHwmMB));
    t.exitedEarly = t.child.exitInfo;
    t.endRssMB = statusMB(t.pid, 'VmRSS');
    t.cpuTotalS = cpuTicks(t.pid) / CLK_TCK;
  }
} finally {
  for (const t of Object.values(running)) {
    for (const c of [t.child, ...(t.extraChildren ?? [])]) { try { c.kill('SIGTERM'); } catch {} }
  }
  await new Promise((r) => setTimeout(r, 300));
  cleanup();
}

// ---------------------------------------------------------------- table
// The table's columns: one per target, or with --family 6 two ('<target> IPv6', '<target> IPv4').
const targetNames = Object.keys(running);
const names = fam6 ? targetNames.flatMap((n) => [`${n} IPv6`, `${n} IPv4`]) : targetNames;
const targetOf = (col) => (fam6 ? col.replace(/ IPv[46]$/, '') : col);
const refs = names.filter((n) => n !== 'netstack' && !(tapMode && n === 'tap'));
// The ratio columns: netstack against each reference, or with --family 6 each
// target's IPv6 against its IPv4 (issue 11's goal), and netstack IPv6 against the kernel's IPv6.
const ratioCols = fam6
  ? [...targetNames.map((n) => ({ head: `${n} IPv6/IPv4`, a: `${n} IPv6`, b: `${n} IPv4` })),
    ...(running.netstack ? targetNames.filter((n) => n !== 'netstack').map((n) => ({ head: `netstack vs ${n} (IPv6)`, a: 'netstack IPv6', b: `${n} IPv6` })) : [])]
  : [
    // --tap: TAP against TUN first (issue 13's goal), then each netstack against the kernel.
    ...(tapMode && running.tap && running.netstack ? [{ head: 'TAP/TUN', a: 'tap', b: 'netstack' }] : []),
    ...refs.map((r) => ({ head: `netstack vs ${r}`, a: 'netstack', b: r })),
    ...(tapMode && running.tap ? refs.map((r) => ({ head: `tap vs ${r}`, a: 'tap', b: r })) : []),
  ];
const fmt = (v) => (Number.isFinite(v) ? (Math.abs(v) >= 100 ? String(Math.round(v)) : v >= 10 ? v.toFixed(1) : v.toFixed(3)) : 'n/a');
const pick = (test, name, key = 'value') => samples.filter((s) => s.test === test && s.target === name && !s.error).map((s) => s[key]);
const rows = [];
// conns: the first repetition only (a fresh process after the warm-up); later ones inherit
// the heap of the tests before them and their RSS deltas can even be negative.
const first = (xs) => (xs.length > 0 ? xs[0] : NaN);
for (const test of tests) {
  const label = test === 'conns' ? `conns: RSS with ${connsCount} open (rep 1)` : test;
  const agg = test === 'conns' ? first : median;
  rows.push({ label, unit: measures[test].unit, better: measures[test].better, procRow: measures[test].procRow === true, m: Object.fromEntries(names.map((n) => [n, agg(pick(test, n))])) });
  if (test === 'conns') {
    rows.push({ label: 'conns: per connection (rep 1)', unit: 'KB, RSS delta / count', better: 'lower', procRow: true, m: Object.fromEntries(names.map((n) => [n, first(pick('conns', n, 'perConnKB'))])) });
  }
}
if (tests.includes('down')) {
  // CPU of the stack process (kernel: of the server process only; the kernel's own work is in no process).
  rows.push({ label: 'down: CPU', unit: '% of a core', better: null, procRow: true, m: Object.fromEntries(names.map((n) => [n, median(pick('down', n, 'procCpuPct'))])) });
  rows.push({ label: 'down: CPU per GB', unit: 'CPU-s/GB', better: 'lower', procRow: true,
    m: Object.fromEntries(names.map((n) => [n, median(samples.filter((s) => s.test === 'down' && s.target === n && !s.error).map((s) => (s.procCpuPct / 100) * s.wallS / (s.bytes / 1e9)))])) });
  rows.push({ label: 'down: machine busy', unit: '% of all cores', better: null, m: Object.fromEntries(names.map((n) => [n, median(pick('down', n, 'machineBusyPct'))])) });
}
if (tapMode) {
  // --tap: the stack's CPU per packet in the packet-rate rows, which a busy shared machine
  // distorts less than the rates themselves: CPU-s of the stack process during the
  // measurement / (rate x the test's seconds), in µs (the rate's own window, so approximate).
  for (const test of ['flood', 'udp'].filter((x) => tests.includes(x))) {
    rows.push({ label: `${test}: CPU per packet`, unit: 'µs of CPU per reply (approx.)', better: 'lower', procRow: true,
      m: Object.fromEntries(names.map((n) => [n, median(samples.filter((s) => s.test === test && s.target === n && !s.error)
        .map((s) => ((s.procCpuPct / 100) * s.wallS) / (s.value * seconds) * 1e6))])) });
  }
}
rows.push({ label: 'peak RSS (VmHWM)', unit: 'MB', better: 'lower', procRow: true, m: Object.fromEntries(names.map((n) => [n, running[targetOf(n)].peakRssMB])) });
const lines = [];
lines.push(`| test | unit | ${names.join(' | ')} | ${ratioCols.map((r) => r.head).join(' | ')} |`);
lines.push(`|${'---|'.repeat(2 + names.length + ratioCols.length)}`);
/** a's figure against b's, > 1 when a did better (faster, shorter round trip, less CPU or memory). */
const ratioOf = (row, { a, b }) => (row.better === 'higher' ? row.m[a] / row.m[b] : row.m[b] / row.m[a]);
for (const row of rows) {
  // Ratio > 1 always means netstack (--family 6: IPv6) is better.
  const ratio = (r) => {
    if (!row.better || (row.procRow && running[targetOf(r.b)].procKind !== 'stack')) return '—';
    if (row.label.startsWith('peak RSS') && targetOf(r.a) === targetOf(r.b)) return '—'; // one process for both families
    const x = ratioOf(row, r);
    return Number.isFinite(x) ? `${fmt(x)}x` : 'n/a';
  };
  const cell = (n) => `${fmt(row.m[n])}${row.procRow && running[targetOf(n)].procKind !== 'stack' ? ' (server)' : ''}${row.label.startsWith('peak RSS') && running[targetOf(n)].exitedEarly ? ' (until it exited)' : ''}`;
  const unit = row.better ? `${row.unit} (${row.better} is better)` : row.unit;
  lines.push(`| ${row.label} | ${unit} | ${names.map(cell).join(' | ')} | ${ratioCols.map(ratio).join(' | ')} |`);
}
const sizesNote = targetNames.map((n) => `${n} ${running[n].sizes.down / MiB}/${running[n].sizes.up / MiB}/${running[n].sizes.echo / MiB}`).join(', ');
console.log(`\nMTU ${mtu}; medians of ${reps} rep(s)${quick ? ' (quick)' : ''}; a ratio above 1 means ${fam6 ? 'IPv6 did better than IPv4 (X IPv6/IPv4), or netstack better than that reference' : 'netstack did better than that reference'}.`);
if (tests.some((x) => tcpTests.has(x))) console.log(`Sizes down/up/echo MiB: ${sizesNote}. CPU and RSS are of the stack process; for the kernel, of the server process only (the kernel's own work is in no process).\n`);
else console.log('');
console.log(lines.join('\n'));
if (tests.includes('conns')) {
  console.log(`\nconns: ${connsCount} connections to echo :7 open at once, each idle after one small echo; RSS of the stack process (kernel: of the server, the kernel's socket memory is in no process) while all are open, and per connection (that RSS - the RSS just before they opened) / ${connsCount}, in KB.`);
}

// The goals: TCP download and upload MB/s, and new connections per second, at least gVisor's.
const goal = [];
if (running.gvisor && running.netstack) {
  for (const [test, what] of [['down', 'download MB/s'], ['up', 'upload MB/s'], ['rpsclose', 'new connections/s']]) {
    if (!tests.includes(test)) continue;
    const row = rows.find((r) => r.label === test);
    const a = row.m.netstack;
    const b = row.m.gvisor;
    const verdict = Number.isFinite(a) && Number.isFinite(b) ? (a >= b ? 'met' : 'NOT met') : 'unknown';
    goal.push(`${what} ${fmt(a)} vs ${fmt(b)} (${fmt(a / b)}x): ${verdict}`);
  }
}
if (fam6) {
  // Issue 11: each netstack IPv6 figure within 10 % of the same figure over IPv4 in this run.
  const goal6 = rows.filter((r) => tests.includes(r.label) && r.better).map((row) => {
    const x = running.netstack ? ratioOf(row, { a: 'netstack IPv6', b: 'netstack IPv4' }) : NaN;
    return Number.isFinite(x) ? `${row.label} ${fmt(x)}x ${x >= 0.9 ? 'met' : 'NOT met'}` : `${row.label} unknown`;
  });
  if (goal6.length) console.log(`\nIPv6 goal check (netstack IPv6 within 10 % of netstack IPv4 in this run, i.e. IPv6/IPv4 >= 0.9x, MTU ${mtu}): ${goal6.join('; ')}`);
  if (tests.includes('conns')) console.log('conns is in no goal check with --family 6: both families run in one process, so rep 1 of the second family (IPv4) holds its connections in a process the first one (IPv6) has already grown.');
} else if (tapMode) {
  // Issue 13: each netstack figure over TAP within 10 % of the same figure over TUN in this run.
  const goalTap = rows.filter((r) => tests.includes(r.label) && r.better).map((row) => {
    const x = running.tap && running.netstack ? ratioOf(row, { a: 'tap', b: 'netstack' }) : NaN;
    return Number.isFinite(x) ? `${row.label} ${fmt(x)}x ${x >= 0.9 ? 'met' : 'NOT met'}` : `${row.label} unknown`;
  });
  if (goalTap.length) console.log(`\nTAP goal check (netstack over TAP within 10 % of netstack over TUN in this run, i.e. TAP/TUN >= 0.9x, MTU ${mtu}; offload TUN ${running.netstack?.offload ?? '?'}, TAP ${running.tap?.offload ?? '?'}): ${goalTap.join('; ')}`);
} else if (goal.length) console.log(`\nGoal check (netstack >= gVisor, MTU ${mtu}): ${goal.join('; ')}`);
else if (tests.some((t) => ['down', 'up', 'rpsclose'].includes(t))) console.log('\nGoal check: needs both netstack and gvisor measured');
const busyBefore = samples.map((s) => s.busyBeforePct);
console.log(`\nMachine busy just before each measurement (other work on this shared machine): median ${fmt(median(busyBefore))}%, max ${fmt(Math.max(...busyBefore.filter(Number.isFinite)))}%; ${busyBefore.filter((b) => b > quietBusy).length} of ${busyBefore.length} measurements started above ${quietBusy}% after waiting ${quietWait} s.`);
const failures = samples.filter((s) => s.error);
for (const [n, t] of Object.entries(running)) {
  if (t.exitedEarly) console.log(`\n${n} exited during the run (${t.exitedEarly.signal ?? `status ${t.exitedEarly.code}`} at ${t.exitedEarly.at}); last output: ${t.child.log().trim().split('\n').slice(-5).join(' / ') || '(none)'}`);
}
if (failures.length || Object.keys(setupErrors).length) {
  console.log(`\nFailures: ${[...Object.entries(setupErrors).map(([n, e]) => `${n} setup: ${e}`), ...failures.map((s) => `${s.target} ${s.test} rep ${s.rep + 1}: ${s.error}`)].join('; ')}`);
  // --family 6 fails loudly: a figure that may not have gone over its family is no figure.
  if (fam6) process.exitCode = 1;
}

const outDir = resolve(root, 'results');
mkdirSync(outDir, { recursive: true });
const outFile = resolve(outDir, `bench-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(outFile, `${JSON.stringify({
  startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(),
  machine: { hostname: hostname(), cpus: cpus().length, kernel: release(), node: process.version },
  options: { quick, reps, quietBusy, quietWait, seconds, wrkTime, mtu, family: fam6 ? 6 : 4, noOffload: Boolean(values['no-offload']), tap: tapMode, tests, conns: connsCount, slowMBps, sizes: { big, slow, probe: probeSize } },
  targets: Object.fromEntries(targetNames.map((n) => {
    const t = running[n];
    return [n, { command: t.command, offload: t.offload, procKind: t.procKind, pid: t.pid, sizes: t.sizes, probeMBps: t.probeMBps, peakRssMB: t.peakRssMB, endRssMB: t.endRssMB, cpuTotalS: t.cpuTotalS, exitedEarly: t.exitedEarly ?? null, logTail: t.child.log().slice(-2000) }];
  })),
  setupErrors,
  medians: Object.fromEntries(rows.map((r) => [r.label, { unit: r.unit, better: r.better, ...r.m }])),
  goal,
  samples,
}, null, 1)}\n`);
console.log(`\nRaw results: ${outFile}`);
