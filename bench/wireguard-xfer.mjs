// The kernel-side TCP client of `pnpm bench --wireguard` (bench/wireguard.mjs): one
// single-stream transfer against bench/kernel-tcp-server.mjs, bounded in time.
//   node wireguard-xfer.mjs down HOST BYTES TIMEOUT_MS   GET /bytes/BYTES on :80, the body counted
//   node wireguard-xfer.mjs up HOST BYTES TIMEOUT_MS     BYTES into discard :9, done at the server's FIN
// Prints one JSON line: { bytes, ms, done } (ms from the connect to the last byte; done false
// when the time bound cut the transfer, bytes then what had moved).
import net from 'node:net';

const [mode, host, sizeText, timeoutText] = process.argv.slice(2);
const size = Number(sizeText);
const timeoutMs = Number(timeoutText ?? 60_000);
if ((mode !== 'down' && mode !== 'up') || !host || !(size > 0)) {
  console.error('usage: wireguard-xfer.mjs down|up HOST BYTES [TIMEOUT_MS]');
  process.exit(2);
}

let t0 = 0;
let bytes = 0;
let finished = false;
const finish = (done) => {
  if (finished) return;
  finished = true;
  process.stdout.write(`${JSON.stringify({ bytes, ms: performance.now() - t0, done })}\n`);
  process.exit(done ? 0 : 1);
};
setTimeout(() => finish(false), timeoutMs).unref();

const sock = net.connect({ host, port: mode === 'down' ? 80 : 9 });
sock.setNoDelay(true);
sock.on('error', (e) => { console.error(`wireguard-xfer: ${e.message}`); finish(false); });
sock.on('connect', () => {
  t0 = performance.now();
  if (mode === 'down') {
    sock.write(`GET /bytes/${size} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    let head = '';
    let inBody = false;
    sock.on('data', (d) => {
      if (inBody) {
        bytes += d.length;
      } else {
        head += d.toString('latin1');
        const i = head.indexOf('\r\n\r\n');
        if (i < 0) return;
        if (!/^HTTP\/1\.1 200/.test(head)) { console.error(`wireguard-xfer: ${head.split('\r\n')[0]}`); finish(false); }
        inBody = true;
        bytes += Buffer.byteLength(head.slice(i + 4), 'latin1');
      }
      if (bytes >= size) finish(bytes === size);
    });
    sock.on('end', () => finish(bytes === size));
  } else {
    const chunk = Buffer.alloc(256 << 10, 0x62);
    let left = size;
    const pump = () => {
      while (left > 0) {
        const k = Math.min(left, chunk.length);
        left -= k;
        bytes += k;
        if (!sock.write(k === chunk.length ? chunk : chunk.subarray(0, k))) { sock.once('drain', pump); return; }
      }
      sock.end();
    };
    pump();
    // The discard server ends its side once it read our FIN: every byte arrived.
    sock.on('data', () => {});
    sock.on('end', () => finish(left === 0));
  }
});
