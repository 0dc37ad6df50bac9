// The TCP core's cost per small round trip, without a device or an IP layer: two TcpLayers
// joined by a fake offloading IP in this process (buffers reused, checksums vouched for, as a
// TUN link with offloads gives them), one connection, 64-byte echo round trips: per round
// trip each layer receives one data segment carrying an ACK, hands it to the reader, and
// sends one carrying the reply and the ACK (issue 12's echo row, TCP only).
//
//   node packages/tcp/bench/echo.mjs [ROOT] [WARMUP] [TRIPS]     (ROOT: a checkout, built; default this one)
//
// Prints ns per round trip (wall time: noisy on a shared machine). For instructions, run it
// under callgrind with CG=1: the counters are zeroed after the warm-up and dumped after the
// measured trips (callgrind_control), so the main thread's file `OUT.1-01` holds only them:
//   CG=1 valgrind --tool=callgrind --separate-threads=yes --smc-check=all-non-file \
//     --callgrind-out-file=/tmp/cg/cg.%p node packages/tcp/bench/echo.mjs . 20000 20000
//   grep ^summary /tmp/cg/cg.*.1-01        # Ir; divide by TRIPS (both layers' work, and the fake IP's)
// Add --perf-basic-prof to node and resolve the JIT addresses callgrind names with /tmp/perf-PID.map.
// Session 22: 27.5k Ir per round trip at d0e1c9f, 24.1k after the three commits of issue 12's TCP work
// (three runs each agreed within ±300: the JIT state after 20000 warm-up trips is stable here).
import { spawn } from 'node:child_process';
import { resolve, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(process.argv[2] ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../..'));
const WARM = Number(process.argv[3] ?? 20000), TRIPS = Number(process.argv[4] ?? 200000);
const { TcpLayer } = await import(pathToFileURL(root + '/packages/tcp/dist/index.js').href);
const A_ADDR = 0x0a000001, B_ADDR = 0x0a000002;
let now = 1000;
const queue = [];
const pools = new Map();
class FakeIp {
  constructor(address) { this.address = address; this.mtu = 1500; this.checksumOffload = true; }
  sourceFor() { return this.address; }
  pathMtu() { return 1500; }
  networkHeaderLength() { return 20; }
  maxSegmentPayload() { return 65515; }
  send() { throw new Error('unexpected send'); }
  sendWith(dst, proto, length, w, o) { return this.sendSegment(dst, proto, length, w, 0, 16, o); }
  sendSegment(dst, proto, length, w, _gso, _csumOff, o) {
    let pool = pools.get(length);
    if (pool === undefined) pools.set(length, pool = { i: 0, bufs: Array.from({ length: 8 }, () => new Uint8Array(length)) });
    const buf = pool.bufs[pool.i++ & 7];
    w.writePayload(buf, 0, this.address, dst);
    queue.push({ to: dst, d: { src: this.address, dst, protocol: 6, ttl: 64, tos: o?.tos ?? 0, payload: buf, packet: buf, headerLength: 0, toBroadcast: false, reassembled: false, checksumVerified: true } });
    return undefined;
  }
  reportUnreachable() {}
}
const A = new TcpLayer(new FakeIp(A_ADDR), { isnKey: new Uint8Array(16) });
const B = new TcpLayer(new FakeIp(B_ADDR), { isnKey: new Uint8Array(16).fill(1) });
const layers = new Map([[A_ADDR, A], [B_ADDR, B]]);
function pump() { while (queue.length) { const { to, d } = queue.shift(); layers.get(to).receive(d, now); } }
const rbuf = new Uint8Array(4096);
const msg = new Uint8Array(64).fill(7);
let got = 0, bGot = 0, server;
B.listen({ port: 7 }, { onAcceptable(l) { let c; while ((c = l.accept({ onReadable(c) { bGot += c.read(rbuf, now); } }))) server = c; } });
const client = A.connect({ remoteAddress: B_ADDR, remotePort: 7 }, now, { onReadable(c) { got += c.read(rbuf, now); } });
pump();
function trip() {
  now += 0.01;
  client.write(msg, now); pump();
  if (bGot !== 64) throw new Error(`server read ${bGot}`);
  bGot = 0;
  now += 0.01;
  server.write(msg, now); pump();
  if (got !== 64) throw new Error(`client read ${got}`);
  got = 0;
  if (A.pollAt() <= now) A.poll(now);
  if (B.pollAt() <= now) B.poll(now);
}
for (let i = 0; i < WARM; i++) trip();
const ctl = (a) => new Promise((res) => spawn('callgrind_control', [a, String(process.pid)], { stdio: 'ignore' }).on('exit', res));
if (process.env.CG) { await new Promise((r) => setTimeout(r, 200)); await ctl('-z'); }
const t0 = process.hrtime.bigint();
for (let i = 0; i < TRIPS; i++) trip();
const t1 = process.hrtime.bigint();
if (process.env.CG) await ctl('-d');
console.log(`${(Number(t1 - t0) / TRIPS).toFixed(0)} ns per round trip; segments out: ${A.stats().OutSegs} + ${B.stats().OutSegs}`);
