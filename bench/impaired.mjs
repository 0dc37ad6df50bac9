// `pnpm bench --impaired` (bash scripts/bench --impaired): TCP on bad networks, netstack
// against Linux on THE SAME impaired path (issue 15's instrument). A matrix of scenarios
// x directions x {Linux, netstack per --cc}, medians over seeds, printed as a table with
// the ratio netstack/Linux per cell; every sample to results/impaired-<timestamp>.json.
//
// The path (namespaces made here, all deleted at the end, also on Ctrl-C/SIGTERM):
//
//   A (Linux client) --relay0== netstack relay in H ==relay0-- B (Linux router, ip_forward=1)
//                                                                 |-- tun0: netstack serve --cc X (10.7.N.2)
//                                                                 '-- veth: Linux in C (10.8.0.2)
//
// `netstack relay` runs in H and joins A and B through its shaper, one per direction
// (--impair-ab / --impair-ba, each with its own seed). netstack sits behind B's
// forwarding on its own TUN; the Linux endpoint sits in C behind the same forwarding
// (a veth to B), so both paths cross the relay and one kernel forwarding hop in B.
// The Linux endpoint serves with bench/impaired-linux-server.mjs (HTTP :80 /bytes/N,
// discard :9); netstack serve with its own HTTP and discard.
//
// Directions: 'down' = the endpoint sends (A GETs /bytes/SIZE: netstack sending to Linux
// vs Linux sending to Linux); 'up' = A sends into discard :9 (Linux sending to netstack vs
// Linux sending to Linux). Each scenario names the impairment of the DATA direction and
// of the ACK direction; the bench maps them onto A->B / B->A for each direction.
//
// Each transfer gets a FRESH relay (same scenario, same seed for Linux and netstack), so
// both stacks meet the same shaper from the same random state; the relay's SIGUSR2
// counters are read right after the connection-free start and after the transfer (Lost,
// BurstLost, QueueDropped, Duplicated, Reordered per direction; QueueDelaySumMs /
// QueuedPackets = mean time in the bottleneck queue, the queueing delay a sender causes).
// The kernel's own drops before the relay (relay0 TX dropped in A and B: the relay fell
// behind) are recorded too. The transfer is proved by its bytes (download: every byte
// checked against the server's pattern; upload: the discard server read all before
// closing) and by the relay's data-direction packet count. Linux's per-destination
// metrics cache is off (net.ipv4.tcp_no_metrics_save=1 in A and C) so one run's ssthresh
// does not seed the next. Linux's congestion control on A's and C's sockets is --linux-cc
// (default cubic, as netstack's; set per socket with TCP_CONGESTION, as a namespace may only
// default to what the machine allows, e.g. reno or bbr; named in the output); --cc applies to netstack sending (down); 'up' measures netstack as the
// receiver, with the first --cc only. The relay's own ceiling is about 95 MB/s at MTU 1500:
// figures near it measure the relay, not the stacks.
//
// Usage: node bench/impaired.mjs [--quick] [--seeds N] [--scenarios a,b,...] [--dirs down,up]
//          [--cc cubic,newreno] [--linux-cc cubic] [--size BYTES] [--timeout S] [--ss]
//          [--targets linux,netstack] [--txqueuelen N] [--strict]
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, release, hostname } from 'node:os';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
// The scenarios (a)-(g): shared with bench/sim.mjs (the simulator's regression guard).
import { SCENARIOS } from './impaired-scenarios.mjs';
import { nsKit, intOption } from './lib/ns.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = resolve(root, 'packages/netstack/bin/netstack.js');
const MiB = 1 << 20;

const DIRS = {
  down: { what: 'endpoint sends (netstack -> Linux)', dataDir: 'ba' },
  up: { what: 'Linux sends to endpoint (Linux -> netstack)', dataDir: 'ab' },
};

const USAGE = `usage: pnpm bench --impaired [options]   (root: makes network namespaces)
  --quick            a short smoke run: 1 seed, --size 4 MiB, --timeout 40 (a few
                     minutes for all scenarios; the default run takes tens of minutes:
                     under 3 % loss a CUBIC sender moves well under 1 MB/s)
  --seeds N          seeds per cell, the median reported (default 3; --quick 1)
  --scenarios LIST   subset of ${Object.keys(SCENARIOS).join(',')} (default all):
${Object.entries(SCENARIOS).map(([k, s]) => `                       ${k}: ${s.what}`).join('\n')}
  --dirs LIST        down (the endpoint sends: netstack -> Linux), up (Linux -> the
                     endpoint: netstack receiving) (default down,up)
  --cc LIST          netstack's congestion control(s) for down, serve --cc (default cubic,newreno);
                     up uses the first only (the receiver's)
  --targets LIST     linux,netstack (default both)
  --linux-cc NAME    Linux's congestion control on A's and C's sockets (TCP_CONGESTION, any of
                     /proc/sys/net/ipv4/tcp_available_congestion_control), or 'default' for
                     what a new namespace inherits, e.g. bbr (default cubic: netstack's default)
  --size B           bytes per transfer (default 20 MiB; --quick 4 MiB)
  --timeout S        each transfer's bound in seconds: past it the cell says "timed out"
                     (default 120; --quick 40)
  --ss               sample 'ss -tin' of A's (Linux) end every 250 ms into the raw JSON
  --ss-ms N          ... every N ms instead (10..1000; at most 2000 samples a transfer)
  --txqueuelen N     the relay devices' txqueuelen (relay --txqueuelen): what the kernel
                     queues for the relay to read; drops there are not the shaper's and are
                     reported per transfer as 'kernel tx drops' (default 1000)
  --baseline DIR     also measure another build of netstack (a worktree's root, built) as a
                     column 'netstack CC (baseline)', first --cc, in the same run on the same
                     seeds: before/after figures for a change without the machine's drift
  --serve-arg ARG    one more argument for every 'netstack serve' (not the baseline's),
                     repeatable: e.g. --serve-arg=--no-offload (an experiment's knob)
  --capture DIR      capture A's relay device (headers, 96 B a packet) per transfer with
                     tshark into DIR/<scenario>-<dir>-<column>-seed<N>.pcap
  --strict           exit 1 when any transfer failed or timed out (a correctness check for
                     CI: bytes exact, no stall; never a timing assertion)
Topology: A (Linux client) <-> netstack relay (in H, shaper per direction) <-> B (forwards)
  -> netstack serve on a TUN in B, or Linux in C behind a veth: the same relay and one
  forwarding hop for both. A fresh relay per transfer, same seed for both stacks.
Ratio: netstack / Linux MB/s, above 1 means netstack did better.`;

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean' },
    seeds: { type: 'string' },
    scenarios: { type: 'string' },
    dirs: { type: 'string', default: 'down,up' },
    cc: { type: 'string', default: 'cubic,newreno' },
    targets: { type: 'string', default: 'linux,netstack' },
    'linux-cc': { type: 'string', default: 'cubic' },
    size: { type: 'string' },
    timeout: { type: 'string' },
    ss: { type: 'boolean' },
    'ss-ms': { type: 'string' },
    strict: { type: 'boolean' },
    txqueuelen: { type: 'string', default: '1000' },
    baseline: { type: 'string' },
    'serve-arg': { type: 'string', multiple: true },
    capture: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) { console.log(USAGE); process.exit(0); }
const usage = (msg) => { console.error(`bench --impaired: ${msg}\n${USAGE}`); process.exit(2); };
const clampInt = (v, lo, hi, name) => intOption(v, lo, hi, name, usage);
const list = (v, allowed, name) => {
  const xs = v.split(',').filter(Boolean);
  for (const x of xs) if (!allowed.includes(x)) usage(`unknown ${name} '${x}'`);
  if (xs.length === 0) usage(`--${name} is empty`);
  return xs;
};
const quick = Boolean(values.quick);
const seeds = clampInt(values.seeds ?? (quick ? 1 : 3), 1, 50, 'seeds');
const size = clampInt(values.size ?? (quick ? 4 : 20) * MiB, 1024, 1024 * MiB, 'size');
const timeoutS = clampInt(values.timeout ?? (quick ? 40 : 120), 5, 900, 'timeout');
const scenarios = list(values.scenarios ?? Object.keys(SCENARIOS).join(','), Object.keys(SCENARIOS), 'scenarios');
const dirs = list(values.dirs, Object.keys(DIRS), 'dirs');
const ccs = list(values.cc, ['cubic', 'newreno'], 'cc');
const targetKinds = list(values.targets, ['linux', 'netstack'], 'targets');
const ssMs = values.ss || values['ss-ms'] !== undefined ? clampInt(values['ss-ms'] ?? 250, 10, 1000, 'ss-ms') : 0;
const baseCli = values.baseline ? resolve(values.baseline, 'packages/netstack/bin/netstack.js') : null;
if (baseCli && !existsSync(resolve(values.baseline, 'packages/netstack/dist/cli.js'))) usage(`--baseline ${values.baseline}: no built netstack there (run pnpm exec tsc -b in it)`);
const serveArgs = values['serve-arg'] ?? [];
const captureDir = values.capture ? resolve(values.capture) : null;
const txqueuelen = clampInt(values.txqueuelen, 1, 65536, 'txqueuelen');
const linuxCcWanted = values['linux-cc'];
if (!/^[a-z0-9_]+$/.test(linuxCcWanted)) usage(`bad --linux-cc '${linuxCcWanted}'`);
if (process.getuid() !== 0) { console.error('bench --impaired: needs root to make network namespaces'); process.exit(1); }

// ---------------------------------------------------------------- namespaces and processes
const { sh, inNs, mkns, cleanup, spawnIn, ready, runIn: runInKit, stop } = nsKit('nsi', 'bench --impaired');

/** A long-running process in `ns`; resolves once its output matches `readyRe`. Keeps its 'stats {...}' lines. */
function startIn(ns, cmd, args, readyRe, what) {
  const child = spawnIn(ns, cmd, args);
  let partial = '';
  child.stats = [];
  child.statsCount = 0;
  child.stdout.on('data', (d) => {
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    if (partial.length > 1 << 20) partial = '';
    for (const l of lines) if (l.startsWith('stats ')) { child.statsCount++; child.stats.push(l.slice(6)); if (child.stats.length > 8) child.stats.shift(); }
  });
  return ready(child, readyRe, what);
}
/** A bounded run to completion in `ns` (output kept up to 64 MiB: the client's JSON). */
const runIn = (ns, cmd, args, timeoutMs) => runInKit(ns, cmd, args, timeoutMs, { maxOutput: 64 << 20 });
/** SIGUSR2 -> the next 'stats {...}' line, parsed (bounded wait). */
async function statsOf(child, what) {
  const before = child.statsCount;
  child.kill('SIGUSR2');
  const t0 = performance.now();
  const fresh = () => child.statsCount > before;
  while (!fresh() && performance.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 10));
  if (!fresh()) throw new Error(`${what}: no stats line within 3 s of SIGUSR2`);
  return JSON.parse(child.stats[child.stats.length - 1]);
}
const txDropped = (ns) => Number(/TX:[^\n]*\n\s*\d+\s+\d+\s+\d+\s+(\d+)/.exec(inNs(ns, 'ip', ['-s', 'link', 'show', 'relay0'], { check: false }))?.[1] ?? NaN);
const snmpTcp = (ns, key) => {
  const ls = inNs(ns, 'cat', ['/proc/net/snmp']).split('\n').filter((l) => l.startsWith('Tcp: ')).map((l) => l.trim().split(/\s+/));
  return Number(ls[1]?.[ls[0]?.indexOf(key) ?? -1]);
};
/** A's TcpExt counters (/proc/net/netstat) that say how its receiver ACKed: per transfer, as deltas. */
const TCPEXT_KEYS = ['TCPBacklogCoalesce', 'DelayedACKs', 'DelayedACKLocked', 'TCPHPHits', 'TCPOFOQueue', 'TCPOFOMerge', 'TCPRcvCoalesce', 'TCPBacklogDrop', 'TCPPureAcks'];
const tcpExt = (ns) => {
  const ls = inNs(ns, 'cat', ['/proc/net/netstat']).split('\n').filter((l) => l.startsWith('TcpExt: ')).map((l) => l.trim().split(/\s+/));
  return Object.fromEntries(TCPEXT_KEYS.map((k) => [k, Number(ls[1]?.[ls[0]?.indexOf(k) ?? -1])]));
};

// ---------------------------------------------------------------- the path
const H = mkns('h'); // the relay's own namespace (never the machine's)
const A = mkns('a'); // Linux client
const B = mkns('b'); // Linux router: relay0 <-> tun* (netstack) and veth (C)
const C = mkns('c'); // Linux endpoint
const LINUX_ADDR = '10.8.0.2';
const nsAddr = (i) => `10.7.${i}.2`;
const servers = {}; // cc -> netstack serve child
let relay = null;
/** The Linux endpoint's and A's congestion control (the namespace's default, shown). */
let linuxCc = '';

async function setUpPath() {
  inNs(B, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
  for (const ns of [A, C]) {
    inNs(ns, 'sysctl', ['-q', '-w', 'net.ipv4.tcp_no_metrics_save=1']);
  }
  // Per socket (TCP_CONGESTION, bench/tcp-cc.mjs): a namespace's default may only be one the
  // machine allows (tcp_allowed_congestion_control), and the machine's settings are not ours to change.
  const nsDefault = inNs(C, 'sysctl', ['-n', 'net.ipv4.tcp_congestion_control']).trim();
  linuxCc = linuxCcWanted === 'default' ? nsDefault : linuxCcWanted;
  // C behind B: a veth, C's default route through B.
  sh('ip', ['link', 'add', 'vb', 'netns', B, 'type', 'veth', 'peer', 'name', 'vc', 'netns', C]);
  inNs(B, 'ip', ['addr', 'add', '10.8.0.1/24', 'dev', 'vb']);
  inNs(C, 'ip', ['addr', 'add', `${LINUX_ADDR}/24`, 'dev', 'vc']);
  inNs(B, 'ip', ['link', 'set', 'vb', 'up']);
  inNs(C, 'ip', ['link', 'set', 'vc', 'up']);
  inNs(C, 'ip', ['route', 'add', 'default', 'via', '10.8.0.1']);
  if (targetKinds.includes('linux')) {
    servers.linux = await startIn(C, process.execPath, [resolve(root, 'bench/impaired-linux-server.mjs'), linuxCc], /ready/, 'Linux server in C');
  }
  if (targetKinds.includes('netstack')) {
    // One serve per --cc, each on its own TUN in B (10.7.N.1 kernel side, 10.7.N.2 the stack; the stack's gateway is B).
    for (const [i, cc] of ccs.entries()) {
      servers[cc] = await startIn(B, process.execPath, [cli, 'serve', '--no-ipv6', '--tun', `tun${i}`, '--kernel-addr', `10.7.${i}.1/24`, '--addr', nsAddr(i), '--cc', cc, ...serveArgs],
        /ready/, `netstack serve --cc ${cc}`);
    }
    if (baseCli) {
      const i = ccs.length;
      servers.base = await startIn(B, process.execPath, [baseCli, 'serve', '--no-ipv6', '--tun', `tun${i}`, '--kernel-addr', `10.7.${i}.1/24`, '--addr', nsAddr(i), '--cc', ccs[0]],
        /ready/, `baseline netstack serve --cc ${ccs[0]}`);
    }
  }
}
/** A fresh relay in H between A and B with these per-direction specs; A's routes through it. */
async function startRelay(ab, ba) {
  if (relay) await stop(relay);
  relay = null;
  const args = [cli, 'relay', '--a', A, '--b', B, '--a-addr', '10.9.0.1/24', '--b-addr', '10.9.0.2/24', '--txqueuelen', String(txqueuelen)];
  if (ab) args.push('--impair-ab', ab);
  if (ba) args.push('--impair-ba', ba);
  relay = await startIn(H, process.execPath, args, /ready/, 'relay');
  // The relay's device in A is new: A's routes to the endpoints go through it.
  inNs(A, 'ip', ['route', 'replace', '10.7.0.0/16', 'dev', 'relay0']);
  inNs(A, 'ip', ['route', 'replace', '10.8.0.0/24', 'dev', 'relay0']);
  return relay;
}
const diff = (a, b) => Object.fromEntries(Object.keys(b).filter((k) => typeof b[k] === 'number').map((k) => [k, k === 'QueueHighWater' || k === 'QueueDelayMaxMs' ? b[k] : b[k] - (a[k] ?? 0)]));

/** A few fields of one `ss -tin` entry (the Linux end A at the end of a transfer), numbers. */
function ssFields(out) {
  const num = (re) => { const m = re.exec(out); return m ? Number(m[1]) : NaN; };
  return {
    cc: /\t\s*(\w+) wscale/.exec(out)?.[1] ?? null,
    segsOut: num(/\bsegs_out:(\d+)/), segsIn: num(/\bsegs_in:(\d+)/), cwnd: num(/\bcwnd:(\d+)/), ssthresh: num(/\bssthresh:(\d+)/),
    retrans: num(/\bretrans:\d+\/(\d+)/), bytesRetrans: num(/\bbytes_retrans:(\d+)/), dsackDups: num(/\bdsack_dups:(\d+)/),
    reordSeen: num(/\breord_seen:(\d+)/), rwndLimitedPct: num(/\brwnd_limited:\d+ms\(([\d.]+)%\)/), sndWnd: num(/\bsnd_wnd:(\d+)/),
    rcvSpace: num(/\brcv_space:(\d+)/), rcvOoopack: num(/\brcv_ooopack:(\d+)/), rttMs: num(/\brtt:([\d.]+)\//),
  };
}

/** One transfer: fresh relay, client in A, counters before/after. Returns the sample. */
async function transfer({ scenario, dir, target, cc, seed, key }) {
  const sc = SCENARIOS[scenario];
  const dataSpec = `${sc.data},seed=${seed}`;
  const ackSpec = `${sc.ack},seed=${seed + 1}`;
  const [ab, ba] = DIRS[dir].dataDir === 'ab' ? [dataSpec, ackSpec] : [ackSpec, dataSpec];
  const host = target === 'linux' ? LINUX_ADDR : nsAddr(key === 'base' ? ccs.length : ccs.indexOf(cc));
  const sample = { scenario, dir, target, cc: target === 'linux' ? linuxCc : cc, seed, size, ab, ba, host, value: NaN };
  const r = await startRelay(ab, ba);
  const server = servers[target === 'linux' ? 'linux' : key === 'base' ? 'base' : cc];
  const ends = target === 'linux' ? [A, C] : [A];
  const retrans0 = ends.map((ns) => snmpTcp(ns, 'RetransSegs'));
  const ext0 = tcpExt(A);
  const outSegs0 = snmpTcp(A, 'OutSegs');
  const tx0 = { a: txDropped(A), b: txDropped(B) };
  const rel0 = await statsOf(r, 'relay');
  const ns0 = target === 'netstack' ? await statsOf(server, `serve --cc ${cc}`).catch(() => null) : null;
  const args = dir === 'down'
    ? ['get', host, String(size), target === 'linux' ? 'a' : 'mod256', String(timeoutS * 1000), String(ssMs), linuxCc]
    : ['put', host, String(size), String(timeoutS * 1000), String(ssMs), linuxCc];
  let cap = null;
  if (captureDir) {
    mkdirSync(captureDir, { recursive: true });
    const file = resolve(captureDir, `${scenario}-${dir}-${target === 'linux' ? 'linux' : `${cc}${key === 'base' ? '-base' : ''}`}-seed${seed}.pcap`);
    cap = await startIn(A, 'tshark', ['-i', 'relay0', '-s', '96', '-w', file], /Capturing on/, 'tshark in A');
  }
  const c = await runIn(A, process.execPath, [resolve(root, 'bench/impaired-client.mjs'), ...args], (timeoutS + 20) * 1000);
  if (cap) await stop(cap);
  const line = (c.stdout ?? '').trim().split('\n').pop() ?? '';
  let res;
  try { res = JSON.parse(line); } catch { res = { ok: false, error: `client printed no result (${c.status ?? c.signal}): ${(c.stderr ?? '').trim().slice(-200)}` }; }
  const rel1 = await statsOf(r, 'relay');
  const ns1 = ns0 ? await statsOf(server, `serve --cc ${cc}`).catch(() => null) : null;
  sample.relay = { ab: diff(rel0.ab, rel1.ab), ba: diff(rel0.ba, rel1.ba) };
  sample.kernelTxDropped = { a: txDropped(A) - tx0.a, b: txDropped(B) - tx0.b };
  sample.tcpExtA = diff(ext0, tcpExt(A));
  sample.tcpExtA.OutSegs = snmpTcp(A, 'OutSegs') - outSegs0;
  sample.linuxRetransSegs = Object.fromEntries(ends.map((ns, i) => [ns === A ? 'A' : 'C', snmpTcp(ns, 'RetransSegs') - retrans0[i]]));
  if (ns0 && ns1) sample.netstackTcp = diff(ns0.tcp ?? {}, ns1.tcp ?? {});
  sample.bytes = res.bytes;
  sample.ms = res.ms;
  if (res.ss) { sample.ss = res.ss; sample.ssFinal = ssFields(res.ss.filter((x) => x.final).pop()?.out ?? ''); }
  const data = sample.relay[DIRS[dir].dataDir];
  if (res.ok) {
    sample.value = res.bytes / (res.ms / 1000) / 1e6;
    // The proof: the relay carried at least the payload in full-sized packets in the data direction.
    const floor = Math.floor(size / 1460);
    if (!(data.Forwarded >= floor)) { sample.error = `relay forwarded ${data.Forwarded} data packets, fewer than ${floor}`; sample.value = NaN; }
  } else if (res.timedOut) {
    sample.timedOut = true;
    sample.error = `timed out after ${timeoutS} s (${(res.bytes / MiB).toFixed(1)} MiB ${dir === 'down' ? 'received' : 'written'})`;
  } else sample.error = res.error;
  sample.queueDelayMeanMs = data.QueuedPackets > 0 ? data.QueueDelaySumMs / data.QueuedPackets : NaN;
  sample.queueDelayMaxMs = data.QueueDelayMaxMs;
  return sample;
}

// ---------------------------------------------------------------- run
const startedAt = new Date();
const samples = [];
const cols = [...(targetKinds.includes('linux') ? [{ target: 'linux', cc: null, head: 'Linux' }] : []),
  ...(targetKinds.includes('netstack') ? ccs.map((cc) => ({ target: 'netstack', cc, head: `netstack ${cc}` })) : []),
  ...(baseCli && targetKinds.includes('netstack') ? [{ target: 'netstack', cc: ccs[0], key: 'base', head: `netstack ${ccs[0]} (baseline)` }] : [])];
const colsFor = (dir) => cols.filter((c) => c.target === 'linux' || dir === 'down' || c.cc === ccs[0]);
let failed = false;
try {
  await setUpPath();
  console.log(`bench --impaired: scenarios ${scenarios.join(',')}; directions ${dirs.join(',')}; ${cols.map((c) => c.head).join(', ')}; ` +
    `${seeds} seed(s); ${(size / MiB).toFixed(size % MiB ? 2 : 0)} MiB per transfer, bounded to ${timeoutS} s${quick ? '; quick' : ''}; Linux cc ${linuxCc}${ssMs ? '; ss -tin sampled' : ''}`);
  // Warm-up, unmeasured, without impairment: every endpoint answers through the relay (the
  // path works), and netstack's JIT has compiled its data path before the first figure.
  await startRelay(null, null);
  for (const col of cols) {
    const host = col.target === 'linux' ? LINUX_ADDR : nsAddr(col.key === 'base' ? ccs.length : ccs.indexOf(col.cc));
    for (const args of [['get', host, String(4 * MiB), col.target === 'linux' ? 'a' : 'mod256', '20000', '0', linuxCc], ['put', host, String(4 * MiB), '20000', '0', linuxCc]]) {
      const out = (await runIn(A, process.execPath, [resolve(root, 'bench/impaired-client.mjs'), ...args], 40_000)).stdout.trim();
      if (!out.includes('"ok":true')) throw new Error(`warm-up ${args[0]} ${col.head} through the clean relay failed: ${out.slice(0, 300)}`);
    }
  }
  console.log('  warm-up: every endpoint answered through the clean relay');
  for (let seed = 1; seed <= seeds; seed++) {
    for (const scenario of scenarios) {
      for (const dir of dirs) {
        const order = colsFor(dir);
        if (seed % 2 === 0) order.reverse(); // interleaved: who goes first alternates
        for (const col of order) {
          const s = await transfer({ scenario, dir, target: col.target, cc: col.cc, seed, key: col.key });
          s.col = col.head;
          samples.push(s);
          const q = SCENARIOS[scenario].data.includes('rate=') ? `, queue mean ${s.queueDelayMeanMs.toFixed(1)} ms max ${Number(s.queueDelayMaxMs).toFixed(1)} ms, dropped ${s.relay[DIRS[dir].dataDir].QueueDropped}` : '';
          const d = s.relay[DIRS[dir].dataDir];
          console.log(`  seed ${seed} ${scenario} ${dir} ${col.head}: ${s.error ? s.error : `${s.value.toFixed(2)} MB/s`} (data dir lost ${d.Lost}${d.BurstLost ? ` (in bursts ${d.BurstLost})` : ''}, ` +
            `reordered ${d.Reordered}, dup ${d.Duplicated}${q}; kernel tx drops ${s.kernelTxDropped.a + s.kernelTxDropped.b}; ` +
            `A: out segs ${s.tcpExtA.OutSegs}, backlog-coalesced ${s.tcpExtA.TCPBacklogCoalesce}, delayed ACKs ${s.tcpExtA.DelayedACKs})`);
        }
      }
    }
  }
} catch (e) {
  failed = true;
  console.error(`bench --impaired: ${e.message}`);
} finally {
  if (relay) await stop(relay).catch(() => {});
  for (const s of Object.values(servers)) await stop(s).catch(() => {});
  cleanup();
}

// ---------------------------------------------------------------- table
const median = (xs) => { const s = xs.filter(Number.isFinite).sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
const fmt = (v) => (Number.isFinite(v) ? (Math.abs(v) >= 100 ? String(Math.round(v)) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) : 'n/a');
const cellOf = (scenario, dir, col) => {
  const ss = samples.filter((s) => s.scenario === scenario && s.dir === dir && s.col === col.head);
  const ok = ss.filter((s) => !s.error);
  const timedOut = ss.filter((s) => s.timedOut).length;
  const failedN = ss.length - ok.length - timedOut;
  const value = median(ok.map((s) => s.value));
  let text = ss.length === 0 ? '—' : ok.length === 0 ? (timedOut ? 'timed out' : 'failed') : fmt(value);
  if (ok.length && (timedOut || failedN)) text += ` (${[timedOut && `${timedOut} timed out`, failedN && `${failedN} failed`].filter(Boolean).join(', ')})`;
  return { value, text, ss, qMean: median(ok.map((s) => s.queueDelayMeanMs)), qMax: median(ok.map((s) => s.queueDelayMaxMs)) };
};
const heads = ['scenario', 'direction', ...cols.flatMap((c) => (c.target === 'linux' ? [`${c.head} MB/s`] : [`${c.head} MB/s`, ...(targetKinds.includes('linux') ? [`${c.head}/Linux`] : [])]))];
const lines = [`| ${heads.join(' | ')} |`, `|${'---|'.repeat(heads.length)}`];
const qLines = ['| scenario | direction | stack | MB/s | mean queueing delay ms | max ms | queue drops |', '|---|---|---|---|---|---|---|'];
for (const scenario of scenarios) {
  for (const dir of dirs) {
    const linux = targetKinds.includes('linux') ? cellOf(scenario, dir, cols[0]) : null;
    const cells = [];
    for (const col of cols) {
      if (!colsFor(dir).includes(col)) { cells.push('—'); if (col.target === 'netstack' && linux) cells.push('—'); continue; }
      const c = cellOf(scenario, dir, col);
      cells.push(c.text);
      if (col.target === 'netstack' && linux) { const x = c.value / linux.value; cells.push(Number.isFinite(x) ? `${fmt(x)}x` : 'n/a'); }
      if (SCENARIOS[scenario].data.includes('rate=') && c.ss.length) {
        const drops = median(c.ss.filter((s) => !s.error).map((s) => s.relay[DIRS[dir].dataDir].QueueDropped));
        qLines.push(`| ${scenario} | ${dir} | ${col.head} | ${c.text} | ${fmt(c.qMean)} | ${fmt(c.qMax)} | ${fmt(drops)} |`);
      }
    }
    lines.push(`| ${scenario} | ${dir} | ${cells.join(' | ')} |`);
  }
}
console.log(`\nMedians over ${seeds} seed(s) of ${(size / MiB).toFixed(size % MiB ? 2 : 0)} MiB transfers${quick ? ' (quick: a smoke run, not figures)' : ''}; MB/s from A's client (connection established -> last byte);` +
  ` ratio netstack/Linux, above 1 means netstack did better. down: the endpoint sends to Linux in A; up: Linux in A sends to the endpoint. Linux cc ${linuxCc || 'n/a'}.`);
for (const s of scenarios) console.log(`  (${s}) ${SCENARIOS[s].what}: data ${SCENARIOS[s].data}; ACKs ${SCENARIOS[s].ack}`);
console.log(`\n${lines.join('\n')}`);
if (qLines.length > 2) console.log(`\nBottleneck queue (the relay's, data direction; QueueDelaySumMs / QueuedPackets, medians):\n${qLines.join('\n')}`);
if (ssMs) {
  // The evidence the issue asks for, from A's socket at each transfer's end (down: A receives, its
  // ACKs; up: A sends, its retransmissions and what the receiver's window allowed), and netstack's own counters.
  const ev = ['| scenario | direction | stack | A segs out | A retrans | A dsack_dups | A rwnd_limited % | A snd_wnd | A rcv_ooopack | netstack RetransSegs | netstack PawsDrops |', '|---|---|---|---|---|---|---|---|---|---|---|'];
  for (const scenario of scenarios) for (const dir of dirs) for (const col of colsFor(dir)) {
    const ok = samples.filter((x) => x.scenario === scenario && x.dir === dir && x.col === col.head && x.ssFinal);
    if (!ok.length) continue;
    const m = (f) => fmt(median(ok.map(f)));
    ev.push(`| ${scenario} | ${dir} | ${col.head} | ${m((x) => x.ssFinal.segsOut)} | ${m((x) => x.ssFinal.retrans)} | ${m((x) => x.ssFinal.dsackDups)} | ${m((x) => x.ssFinal.rwndLimitedPct)} | ` +
      `${m((x) => x.ssFinal.sndWnd)} | ${m((x) => x.ssFinal.rcvOoopack)} | ${col.target === 'netstack' ? m((x) => x.netstackTcp?.RetransSegs) : '—'} | ${col.target === 'netstack' ? m((x) => x.netstackTcp?.PawsDrops) : '—'} |`);
  }
  console.log(`\nss -tin of A (Linux) at each transfer's end, medians (n/a: ss did not show the field):\n${ev.join('\n')}`);
}
const failures = samples.filter((s) => s.error);
if (failures.length) console.log(`\nNot measured: ${failures.map((s) => `${s.scenario} ${s.dir} ${s.col} seed ${s.seed}: ${s.error}`).join('; ')}`);
const txd = samples.filter((s) => s.kernelTxDropped.a + s.kernelTxDropped.b > 0);
if (txd.length) {
  console.log(`\nKernel drops before the relay (relay0 TX dropped in A/B: the relay read too late, e.g. on a busy machine; losses the shaper did not choose) in ${txd.length} of ${samples.length} transfers: ` +
    txd.map((s) => `${s.scenario} ${s.dir} ${s.col} seed ${s.seed}: ${s.kernelTxDropped.a}/${s.kernelTxDropped.b}`).join('; '));
}
const outDir = resolve(root, 'results');
mkdirSync(outDir, { recursive: true });
const outFile = resolve(outDir, `impaired-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(outFile, `${JSON.stringify({
  startedAt: startedAt.toISOString(), finishedAt: new Date().toISOString(),
  machine: { hostname: hostname(), cpus: cpus().length, kernel: release(), node: process.version },
  options: { quick, seeds, size, timeoutS, scenarios, dirs, ccs, targets: targetKinds, ssMs, linuxCc },
  scenarios: Object.fromEntries(scenarios.map((s) => [s, SCENARIOS[s]])),
  table: lines, queueTable: qLines,
  samples,
}, null, 1)}\n`);
console.log(`\nRaw results: ${outFile}`);
if (failed || (values.strict && (failures.length || samples.length === 0))) process.exitCode = 1;
