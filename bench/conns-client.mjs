// Many concurrent TCP connections from the kernel side to an echo server (TCP :7),
// run inside a network namespace by the benchmark's `conns` test and by
// test/kernel/scale.test.ts. Prints one JSON line on stdout.
//
//   node bench/conns-client.mjs HOST PORT COUNT [--wave W] [--pid PID] [--timeout-ms T]
//
// 1. connects COUNT sockets, at most W handshakes in flight at a time (so the
//    server's SYN and accept queues are never flooded), and keeps every one open;
// 2. once all are open: sends a distinct small payload on each (at most W echoes
//    outstanding) and checks that exactly those bytes come back;
// 3. with every connection open and idle: reads VmRSS/VmHWM of process PID (the
//    stack, or the server), as `rssHoldKB`/`hwmHoldKB` (and VmRSS at the start as
//    `rssBeforeKB`);
// 4. ends every socket (at most W closes in flight) and waits for the server's FIN
//    and 'close' on each.
// Every phase is bounded: a phase that outlives --timeout-ms (default 45 s in all)
// makes the script print what it has and exit 2. The caller must allow COUNT + ~50
// open files (`ulimit -n`).
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { wave: { type: 'string', default: '256' }, pid: { type: 'string' }, 'timeout-ms': { type: 'string', default: '45000' } },
});
const [host, portText, countText] = positionals;
const port = Number(portText);
const count = Number(countText);
const wave = Number(values.wave);
const pid = values.pid;
const timeoutMs = Number(values['timeout-ms']);
if (!host || !(port > 0) || !(count > 0) || !(wave > 0) || !(timeoutMs > 0)) {
  console.error('usage: conns-client.mjs HOST PORT COUNT [--wave W] [--pid PID] [--timeout-ms T]');
  process.exit(2);
}

/** VmRSS and VmHWM of `pid` in kB (undefined without a pid, NaN when unreadable). */
function memKB(p) {
  if (p === undefined) return { rss: undefined, hwm: undefined };
  try {
    const s = readFileSync(`/proc/${p}/status`, 'utf8');
    const get = (k) => Number(s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'))?.[1] ?? NaN);
    return { rss: get('VmRSS'), hwm: get('VmHWM') };
  } catch { return { rss: NaN, hwm: NaN }; }
}

const t0 = performance.now();
const result = {
  count, wave, connected: 0, echoed: 0, closedClean: 0, maxOpen: 0, openAtHold: 0,
  errors: {}, bad: [], rssBeforeKB: memKB(pid).rss, rssHoldKB: undefined, hwmHoldKB: undefined, ms: {}, phase: 'connect',
};
const deadline = setTimeout(() => {
  result.error = `timed out in phase ${result.phase} after ${timeoutMs} ms`;
  result.ms.total = Math.round(performance.now() - t0);
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(2);
}, timeoutMs);

const conns = new Array(count);
let open = 0;
const countError = (e) => { const k = e.code ?? e.message; result.errors[k] = (result.errors[k] ?? 0) + 1; };
const badOne = (i, why) => { if (result.bad.length < 10) result.bad.push({ i, why }); };

/** Runs `fn(i)` (a promise) for i in 0..n-1 with at most `limit` in flight. */
async function pool(n, limit, fn) {
  let next = 0;
  const worker = async () => { while (next < n) await fn(next++); };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

function connectOne(i) {
  return new Promise((resolve) => {
    const c = { sock: net.connect({ host, port }), got: [], gotLen: 0, ended: false, error: null, onData: null, onEnd: null, closed: null };
    conns[i] = c;
    const s = c.sock;
    s.setNoDelay(true);
    c.closed = new Promise((r) => s.once('close', r));
    s.on('data', (d) => { c.got.push(d); c.gotLen += d.length; c.onData?.(); });
    s.on('end', () => { c.ended = true; c.onEnd?.(); });
    s.on('error', (e) => { if (c.error === null) { c.error = e; countError(e); } c.onData?.(); c.onEnd?.(); resolve(); });
    s.once('connect', () => {
      open++;
      s.once('close', () => { open--; });
      result.connected++;
      if (open > result.maxOpen) result.maxOpen = open;
      resolve();
    });
  });
}

function echoOne(i) {
  const c = conns[i];
  if (c.error !== null || c.sock.readyState !== 'open') return Promise.resolve();
  return new Promise((resolve) => {
    const payload = Buffer.from(`conn ${i} ${randomBytes(8).toString('hex')}\n`);
    const done = () => { c.onData = null; c.onEnd = null; resolve(); };
    c.onEnd = () => { badOne(i, c.error !== null ? `error ${c.error.code ?? c.error.message}` : 'the server\'s FIN before the echo'); done(); };
    c.onData = () => {
      if (c.error !== null) { c.onEnd(); return; }
      if (c.gotLen < payload.length) return;
      done();
      const got = Buffer.concat(c.got);
      if (got.equals(payload)) result.echoed++;
      else badOne(i, `echo differs: sent ${JSON.stringify(payload.toString())}, got ${JSON.stringify(got.toString())}`);
    };
    c.sock.write(payload);
  });
}

function closeOne(i) {
  const c = conns[i];
  if (c.error !== null) return c.closed;
  const before = c.gotLen;
  c.sock.end();
  return c.closed.then(() => {
    if (c.error === null && c.ended && c.gotLen === before) result.closedClean++;
    else if (c.error === null) badOne(i, c.ended ? 'data after our FIN' : 'closed without the server\'s FIN');
  });
}

let t = performance.now();
await pool(count, wave, connectOne);
result.ms.connect = Math.round(performance.now() - t);
result.phase = 'echo';
t = performance.now();
await pool(count, wave, echoOne);
result.ms.echo = Math.round(performance.now() - t);
// Every connection is open and idle now (nothing in flight but the last ACKs).
result.openAtHold = open;
const m = memKB(pid);
result.rssHoldKB = m.rss;
result.hwmHoldKB = m.hwm;
result.phase = 'close';
t = performance.now();
await pool(count, wave, closeOne);
result.ms.close = Math.round(performance.now() - t);
result.ms.total = Math.round(performance.now() - t0);
delete result.phase;
clearTimeout(deadline);
process.stdout.write(`${JSON.stringify(result)}\n`);
