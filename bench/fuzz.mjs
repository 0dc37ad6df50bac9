// pnpm fuzz: the fuzzer (packages/netstack/src/fuzz.ts) against the built stack, in this
// process, no device and no privileges. See the README ("Fuzzing").
//
//   pnpm fuzz [--seed N] [--count N] [--quiet-points N] [--json FILE] [--no-checks]
//
// Prints packets/s, the mix, drops by reason, memory at the quiet points, the service
// checks and the reproduction command; exits 1 when a pass criterion fails (the failures
// are listed, each escaped exception with the packet that threw, as hex).
import { parseArgs } from 'node:util';
import { writeFileSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import v8 from 'node:v8';
import vm from 'node:vm';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    count: { type: 'string', default: '1000000' },
    json: { type: 'string' },
    'quiet-points': { type: 'string', default: '2' },
    'no-checks': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (values.help) {
  console.log('pnpm fuzz [--seed N] [--count N (default 1000000)] [--quiet-points N (default 2, evenly spaced)] [--json FILE] [--no-checks]');
  process.exit(0);
}
const seed = values.seed !== undefined ? Number(values.seed) >>> 0 : Math.floor(Math.random() * 2 ** 32) >>> 0;
const count = Number(values.count);
if (!Number.isInteger(count) || count < 1) {
  console.error(`--count must be a positive integer, got ${values.count}`);
  process.exit(2);
}

v8.setFlagsFromString('--expose-gc');
const gc = globalThis.gc ?? vm.runInNewContext('gc');

const { runFuzz } = await import(pathToFileURL(resolve(root, 'packages/netstack/dist/fuzz.js')).href);
const t = (s) => `[fuzz] ${s}`;
console.log(t(`seed ${seed}, ${count} packets; reproduce: pnpm fuzz --seed ${seed} --count ${count}`));

const nq = Math.max(1, Number(values['quiet-points']) | 0);
const quietAt = Array.from({ length: nq }, (_, i) => (i + 1) / nq);
const res = await runFuzz({ seed, count, gc, quietAt, log: (line) => console.log(t(line)), skipServiceChecks: values['no-checks'] === true });

const mb = (b) => `${(b / 1048576).toFixed(2)} MiB`;
console.log('');
console.log(`packets injected   ${res.injected} in ${(res.elapsedMs / 1000).toFixed(1)} s: ${res.packetsPerSecond} packets/s (quiet points excluded); the stack sent ${res.sent}; virtual time ${(res.virtualMs / 1000).toFixed(0)} s`);
console.log(`mix                ${Object.entries(res.mix).map(([k, v]) => `${k} ${v}`).join(', ')} (packets beyond these: fragment trains and peer segments queued by them)`);
console.log('delivered          ' + Object.entries(res.accounting.delivered).map(([k, v]) => `${k} ${v}`).join(', '));
console.log('drops by reason:');
for (const [k, v] of Object.entries(res.accounting.drops).sort((a, b) => b[1] - a[1])) console.log(`  ${k.padEnd(34)} ${v}`);
console.log('quiet points (after resetting the peers, 30 virtual minutes, 2 full GCs):');
for (const q of res.quiet) {
  console.log(`  at ${String(q.packets).padStart(8)} packets: heapUsed ${mb(q.heapUsed)}, arrayBuffers ${mb(q.arrayBuffers)}, rss ${mb(q.rss)}; connections ${q.connections}, reassembly ${q.reassemblyDatagrams} datagrams ${q.reassemblyBytes} B, timers ${q.timers}`);
}
for (let i = 1; i < res.quiet.length; i++) {
  const a = res.quiet[i - 1], b = res.quiet[i];
  console.log(`  growth ${a.packets} -> ${b.packets}: ${mb(b.heapUsed + b.arrayBuffers - a.heapUsed - a.arrayBuffers)} (heapUsed + arrayBuffers)`);
}
if (res.checks.length > 0) console.log('service checks: ' + res.checks.map((c) => `${c.name} ${c.ok ? 'ok' : 'FAILED'}`).join(', '));
if (res.escapes.length > 0) {
  console.log('escaped exceptions (first 3 of each):');
  for (const e of res.escapes) console.log(`  #${e.index} ${e.where}: ${e.error}\n    packet: ${e.packetHex.split('\n').join('\n            ')}`);
}
if (values.json) writeFileSync(values.json, JSON.stringify(res, null, 1));
console.log('');
if (res.failures.length > 0) {
  console.log(`FAILED (${res.failures.length}):`);
  for (const f of res.failures) console.log(`  ${f}`);
} else {
  console.log('PASSED: nothing escaped, every received packet is accounted for, memory flat between quiet points, services byte-exact');
}
console.log(`reproduce: ${res.reproduce}`);
process.exit(res.failures.length > 0 ? 1 : 0);
