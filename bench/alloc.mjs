// What the stack allocates per packet, on a real TUN device: `netstack serve`'s stack
// and services run in this process (inside a private network namespace made here and
// deleted afterwards), a kernel-side load runs against it, and V8's GC profiler counts
// every byte allocated on the JS heap meanwhile (used heap at the end - at the start,
// plus what each garbage collection freed) and what ArrayBuffer storage came and went.
//
//   node bench/alloc.mjs [--tests down,up,udp,flood] [--reps N] [--no-offload]
//                        [--down-size B] [--up-size B] [--seconds S] [--sites] [--root DIR]
//
//   down   curl GET /bytes/N (default 200 MB)          the stack sends TCP data
//   up     nc to discard :9 (default 50 MB of zeros)    the stack receives TCP data
//   udp    bench/udp-flood.mjs to UDP echo :7 (64 B, 32 in flight, --seconds)
//   flood  ping -f -l 32 (--seconds)
//
// Prints, per test, the medians over --reps of: throughput, link packets (both ways),
// JS heap bytes allocated per link packet, ArrayBuffer bytes per packet, scavenges.
// --sites adds the top allocation sites of the last repetition (sampling heap profiler,
// objects collected by GC included; a sample every 256 bytes). --root measures another
// checkout's build (e.g. a baseline), with this script.
// Needs root (network namespaces). Every load is bounded in time.
import { spawn, spawnSync } from 'node:child_process';
import { resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import v8 from 'node:v8';

const here = dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    tests: { type: 'string', default: 'down,up,udp,flood' },
    reps: { type: 'string', default: '3' },
    'no-offload': { type: 'boolean' },
    'down-size': { type: 'string', default: '200000000' },
    'up-size': { type: 'string', default: '50000000' },
    seconds: { type: 'string', default: '2' },
    sites: { type: 'boolean' },
    root: { type: 'string', default: resolve(here, '..') },
    inside: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
});
const ADDR = '10.7.0.2';
const ALL = ['down', 'up', 'udp', 'flood'];

if (values.inside !== undefined) await inside(values.inside);
else await outside();

async function outside() {
  if (values.help) {
    console.log('usage: node bench/alloc.mjs [--tests down,up,udp,flood] [--reps N] [--no-offload] [--down-size B] [--up-size B] [--seconds S] [--sites] [--root DIR]');
    return;
  }
  if (process.getuid() !== 0) { console.error('alloc: needs root to make a network namespace'); process.exit(1); }
  const tests = values.tests.split(',').filter(Boolean);
  for (const t of tests) if (!ALL.includes(t)) { console.error(`alloc: unknown test ${t}`); process.exit(2); }
  const reps = Math.max(1, Math.min(20, Number(values.reps) || 1));
  const rows = {};
  console.log(`alloc: ${values.root}; tests ${tests.join(',')}; ${reps} rep(s); offload ${values['no-offload'] ? 'off' : 'on'}`);
  for (let rep = 0; rep < reps; rep++) {
    for (const test of tests) {
      const ns = `nsa-${process.pid}-${rep}-${test}`;
      const add = spawnSync('ip', ['netns', 'add', ns], { encoding: 'utf8' });
      if (add.status !== 0) throw new Error(`ip netns add: ${add.stderr}`);
      try {
        spawnSync('ip', ['netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up']);
        const args = [fileURLToPath(import.meta.url), '--inside', test, '--root', values.root, '--down-size', values['down-size'],
          '--up-size', values['up-size'], '--seconds', values.seconds,
          ...(values['no-offload'] ? ['--no-offload'] : []), ...(values.sites && rep === reps - 1 ? ['--sites'] : [])];
        const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, ...args], { encoding: 'utf8', timeout: 180_000 });
        const line = (r.stdout ?? '').trim().split('\n').filter((l) => l.startsWith('{')).pop();
        if (r.status !== 0 || line === undefined) {
          console.log(`  rep ${rep + 1} ${test}: failed (${r.status ?? r.signal}): ${(r.stderr ?? '').trim().split('\n').slice(-3).join(' / ')}`);
          continue;
        }
        const res = JSON.parse(line);
        (rows[test] ??= []).push(res);
        console.log(`  rep ${rep + 1} ${test}: ${res.rate} ${res.unit}, ${res.packets} packets, ${res.heapPerPacket} B heap + ${res.arrayBufferPerPacket} B ArrayBuffer per packet, ${res.scavenges} scavenges`);
        if (res.sites) console.log(res.sites.map((s) => `      ${s}`).join('\n'));
      } finally {
        // Processes started inside are ours: end them by pid, then the namespace.
        const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout.trim().split(/\s+/).filter(Boolean);
        for (const p of pids) { try { process.kill(Number(p), 'SIGKILL'); } catch {} }
        spawnSync('ip', ['netns', 'del', ns]);
      }
    }
  }
  const median = (xs) => { const s = xs.filter(Number.isFinite).sort((a, b) => a - b); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
  console.log('\n| test | rate | packets | JS heap B/packet | ArrayBuffer B/packet | scavenges |\n|---|---|---|---|---|---|');
  for (const test of tests) {
    const rs = rows[test] ?? [];
    if (rs.length === 0) continue;
    const m = (k) => median(rs.map((r) => r[k]));
    console.log(`| ${test} | ${m('rate')} ${rs[0].unit} | ${m('packets')} | ${m('heapPerPacket')} | ${m('arrayBufferPerPacket')} | ${m('scavenges')} |`);
  }
}

async function inside(test) {
  const dist = (p) => pathToFileURL(resolve(values.root, 'packages/netstack/dist', p)).href;
  const { createStack } = await import(dist('index.js'));
  const { startServices } = await import(dist('services.js'));
  const stack = await createStack({
    tun: { name: 'tun0', kernelAddress: '10.7.0.1/24', mtu: 1500, ...(values['no-offload'] ? { offload: false } : {}) },
    address: ADDR,
  });
  const services = await startServices(stack);
  const seconds = Math.max(1, Math.min(30, Number(values.seconds) || 2));
  const downSize = Number(values['down-size']);
  const upSize = Number(values['up-size']);
  const load = {
    down: ['curl', ['-s', '-m', '120', '-o', '/dev/null', '-w', '%{http_code} %{size_download}', `http://${ADDR}/bytes/${downSize}`]],
    up: ['bash', ['-c', `head -c ${upSize} /dev/zero | timeout 120 nc -N ${ADDR} 9 >/dev/null`]],
    udp: [process.execPath, [resolve(here, 'udp-flood.mjs'), ADDR, '7', String(seconds), '64', '32']],
    flood: ['ping', ['-f', '-l', '32', '-q', '-w', String(seconds), ADDR]],
  }[test];
  let session;
  if (values.sites) {
    const { Session } = await import('node:inspector/promises');
    session = new Session();
    session.connect();
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  }
  const link0 = stack.stats().link;
  const gcp = new v8.GCProfiler();
  const h0 = v8.getHeapStatistics();
  gcp.start();
  const t0 = performance.now();
  const out = await new Promise((done) => {
    const child = spawn(load[0], load[1], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => { text += d; });
    child.on('exit', (code) => done({ code, text }));
  });
  const secs = (performance.now() - t0) / 1000;
  const gc = gcp.stop();
  const h1 = v8.getHeapStatistics();
  const link1 = stack.stats().link;
  let heap = h1.used_heap_size - h0.used_heap_size;
  let ext = Math.max(0, h1.external_memory - h0.external_memory);
  let scavenges = 0;
  for (const s of gc.statistics) {
    heap += s.beforeGC.heapStatistics.usedHeapSize - s.afterGC.heapStatistics.usedHeapSize;
    ext += Math.max(0, s.beforeGC.heapStatistics.externalMemory - s.afterGC.heapStatistics.externalMemory);
    if (s.gcType === 'Scavenge') scavenges++;
  }
  const packets = (link1.RxPackets - link0.RxPackets) + (link1.TxPackets - link0.TxPackets);
  let rate;
  let unit;
  if (test === 'down') {
    const [code, got] = out.text.trim().split(' ');
    if (code !== '200' || Number(got) !== downSize) throw new Error(`curl: ${out.text}`);
    rate = +(downSize / secs / 1e6).toFixed(1); unit = 'MB/s';
  } else if (test === 'up') {
    if (out.code !== 0) throw new Error(`nc exited ${out.code}`);
    rate = +(upSize / secs / 1e6).toFixed(1); unit = 'MB/s';
  } else if (test === 'udp') {
    rate = JSON.parse(out.text.trim()).perSecond; unit = 'datagrams/s';
  } else {
    const m = out.text.match(/(\d+) packets transmitted, (\d+) received/);
    rate = m ? Math.round(Number(m[2]) / secs) : NaN; unit = 'replies/s';
  }
  const res = {
    test, rate, unit, seconds: +secs.toFixed(2), packets,
    heapPerPacket: Math.round(heap / packets), arrayBufferPerPacket: Math.round(ext / packets), scavenges,
  };
  if (session) {
    const { profile } = await session.post('HeapProfiler.stopSampling');
    res.sites = topSites(profile, 12);
  }
  console.log(JSON.stringify(res));
  await services.close();
  await stack.close();
  process.exit(0);
}

/** The allocating frame and its two callers, by share of the sampled bytes. */
function topSites(profile, n) {
  const sites = new Map();
  let total = 0;
  const name = (cf) => `${cf.functionName || '(anonymous)'} ${cf.url.replace(/^.*\/(packages\/|node:)/, '$1').replace('/dist/', '/')}:${cf.lineNumber + 1}`;
  const walk = (node, stack) => {
    const s = [...stack, name(node.callFrame)];
    if (node.selfSize > 0) {
      total += node.selfSize;
      const k = s.slice(-3).reverse().join(' <- ');
      sites.set(k, (sites.get(k) ?? 0) + node.selfSize);
    }
    for (const c of node.children) walk(c, s);
  };
  walk(profile.head, []);
  return [...sites].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, v]) => `${(100 * v / total).toFixed(1).padStart(5)}%  ${k}`);
}
