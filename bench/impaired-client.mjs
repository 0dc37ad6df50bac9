// The client side of `pnpm bench --impaired` (bench/impaired.mjs), run by the bench in
// namespace A (always Linux): one bounded TCP transfer, timed from the connection's
// establishment to its completion, printed as one JSON line.
//
//   get HOST SIZE PATTERN TIMEOUT_MS [SS_MS [CC]]   HTTP GET http://HOST/bytes/SIZE: the server
//       sends (download); every byte is checked against PATTERN ('mod256': byte i is
//       i % 256, netstack serve's; 'a': 0x61, bench/kernel-tcp-server.mjs's).
//   put HOST SIZE TIMEOUT_MS [SS_MS [CC]]           SIZE zero bytes into TCP discard HOST:9, then
//       FIN; done when the server closes its side (it has read everything) (upload).
//
// Done: {ok:true, bytes, ms}. Past TIMEOUT_MS: {ok:false, timedOut:true, bytes, ms} (bytes
// received, or for put written into the socket), exit 0: the bench shows "timed out".
// A failure (reset, wrong bytes): {ok:false, error, bytes, ms}. With SS_MS, `ss -tin` of
// this connection (this namespace's Linux end) every SS_MS ms and once at completion, raw,
// in `ss` (at most 2000 samples, a bound on memory); for put, the one marked final is the
// last seen while data was in flight (within ~20 ms of the end, or the last periodic one). CC (not 'default'): this socket's
// congestion control (TCP_CONGESTION, bench/tcp-cc.mjs), set before any data is sent.
import http from 'node:http';
import net from 'node:net';
import { execFile, spawnSync } from 'node:child_process';
import { setCongestion } from './tcp-cc.mjs';

const [mode, host, ...rest] = process.argv.slice(2);
const size = Number(rest[0]);
const timeoutMs = Number(mode === 'get' ? rest[2] : rest[1]);
const ssMs = Number(mode === 'get' ? rest[3] : rest[2]) || 0;
const cc = (mode === 'get' ? rest[4] : rest[3]) ?? 'default';
if ((mode !== 'get' && mode !== 'put') || !host || !(size > 0) || !(timeoutMs > 0)) {
  console.error('usage: impaired-client.mjs get HOST SIZE mod256|a TIMEOUT_MS [SS_MS] | put HOST SIZE TIMEOUT_MS [SS_MS]');
  process.exit(2);
}

let t0 = NaN;
let bytes = 0;
let localPort = 0;
const ss = [];
let ssTimer;
const ssArgs = () => ['-tin', 'dst', host, 'and', 'sport', '=', `:${localPort}`];
function sampleAsync() {
  if (ss.length >= 2000 || !localPort) return;
  execFile('ss', ssArgs(), { timeout: 2000 }, (err, out) => { if (!err && ss.length < 2000) ss.push({ ms: Math.round(performance.now() - t0), out: out.trim() }); });
}
// put: after the last byte went into the socket, the connection's last state with data
// still in flight (every 20 ms, the latest kept): at 'end' it is gone (TIME-WAIT, no tcp_info).
let tail = null;
let tailTimer;
function sampleTail() {
  if (!ssMs || !localPort) return;
  tailTimer = setInterval(() => execFile('ss', ssArgs(), { timeout: 2000 }, (err, out) => {
    if (!err && out.includes('bytes_acked')) tail = { ms: Math.round(performance.now() - t0), final: true, out: out.trim() };
  }), 20);
}
function sampleNow() {
  if (!ssMs || !localPort) return;
  const r = spawnSync('ss', ssArgs(), { encoding: 'utf8', timeout: 2000 });
  const out = (r.stdout ?? '').trim();
  if (out.includes('bytes_acked')) { ss.push({ ms: Math.round(performance.now() - t0), final: true, out }); return; }
  // put: at 'end' the connection is gone from ss; the last state seen with counters stands for it.
  const last = tail ?? [...ss].reverse().find((x) => x.out.includes('bytes_acked'));
  if (last) ss.push({ ...last, final: true });
}
function started(sock) {
  if (cc !== 'default') setCongestion(sock, cc);
  t0 = performance.now();
  localPort = sock.localPort ?? 0;
  if (ssMs) ssTimer = setInterval(sampleAsync, ssMs);
}
let done = false;
function finish(result) {
  if (done) return;
  done = true;
  clearInterval(ssTimer);
  clearInterval(tailTimer);
  const ms = Number.isFinite(t0) ? performance.now() - t0 : 0;
  process.stdout.write(`${JSON.stringify({ ...result, bytes, ms, ...(ssMs ? { ss } : {}) })}\n`);
  process.exit(0);
}
setTimeout(() => { sampleNow(); finish({ ok: false, timedOut: true }); }, timeoutMs).unref();

if (mode === 'get') {
  const pattern = rest[1];
  if (pattern !== 'mod256' && pattern !== 'a') { console.error(`bad pattern ${pattern}`); process.exit(2); }
  const req = http.get({ host, port: 80, path: `/bytes/${size}`, agent: false });
  req.on('socket', (s) => s.once('connect', () => started(s)));
  req.on('response', (rsp) => {
    if (rsp.statusCode !== 200) { finish({ ok: false, error: `HTTP ${rsp.statusCode}` }); return; }
    rsp.on('data', (d) => {
      for (let i = 0; i < d.length; i++) {
        const want = pattern === 'a' ? 0x61 : (bytes + i) & 255;
        if (d[i] !== want) { finish({ ok: false, error: `byte ${bytes + i} is ${d[i]}, not ${want}` }); return; }
      }
      bytes += d.length;
      if (bytes === size) { sampleNow(); finish({ ok: true }); }
      else if (bytes > size) finish({ ok: false, error: `more than ${size} bytes` });
    });
    rsp.on('end', () => finish(bytes === size ? { ok: true } : { ok: false, error: `ended after ${bytes} of ${size} bytes` }));
    rsp.on('error', (e) => finish({ ok: false, error: e.code ?? e.message }));
  });
  req.on('error', (e) => finish({ ok: false, error: e.code ?? e.message }));
} else {
  const chunk = Buffer.alloc(1 << 16);
  const s = net.connect(9, host, () => {
    started(s);
    const pump = () => {
      while (bytes < size) {
        const n = Math.min(chunk.length, size - bytes);
        bytes += n;
        if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) { s.once('drain', pump); return; }
      }
      s.end();
      sampleTail();
    };
    pump();
  });
  s.on('data', () => {});
  // The discard server closes its side once it has read our FIN, i.e. everything.
  s.on('end', () => { sampleNow(); finish(bytes === size ? { ok: true } : { ok: false, error: `closed after ${bytes} of ${size} bytes written` }); });
  s.on('error', (e) => finish({ ok: false, error: e.code ?? e.message }));
}
