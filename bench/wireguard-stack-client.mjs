// The netstack-over-WireGuard client of `pnpm bench --wireguard` (bench/wireguard.mjs): a
// plain node process, no TUN device, whose only network is a WireGuard session
// (createStack({ wireguard: { config } })). GETs /bytes/1 (the handshake and a first
// connection, not timed), then /bytes/BYTES from bench/kernel-tcp-server.mjs behind the
// peer, counting the body, bounded in time.
//   node wireguard-stack-client.mjs '{"config": "...", "address": "10.100.0.1", "host": "10.100.0.2", "bytes": N, "timeoutMs": T}'
// Prints one JSON line: { bytes, ms, done, cpuMs, linkTx, linkRx } (cpuMs: this process's
// user+system CPU during the timed transfer: the stack and the tunnel both live here; linkTx,
// linkRx: the inner packets the stack sent and received meanwhile).
import { createStack } from '../packages/netstack/dist/index.js';

const o = JSON.parse(process.argv[2]);
const stack = await createStack({ wireguard: { config: o.config }, address: o.address, prefixLength: 24 });
setTimeout(() => { process.stdout.write(`${JSON.stringify({ bytes: 0, ms: 0, done: false, error: 'timeout' })}\n`); process.exit(1); }, o.timeoutMs + 15_000).unref();

function get(size, timeoutMs) {
  return new Promise((resolve) => {
    let t0 = 0;
    let bytes = 0;
    let cpu0 = process.cpuUsage();
    let link0 = stack.stats().link;
    let finished = false;
    const finish = (done) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      const cpu = process.cpuUsage(cpu0);
      const link = stack.stats().link;
      sock.destroy();
      // Packets the stack sent (ACKs, mostly) and received through the WireGuard link during the transfer.
      resolve({ bytes, ms: performance.now() - t0, done, cpuMs: (cpu.user + cpu.system) / 1000, linkTx: link.TxPackets - link0.TxPackets, linkRx: link.RxPackets - link0.RxPackets });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    const sock = stack.tcp.connect({ host: o.host, port: 80 });
    sock.on('error', (e) => { process.stderr.write(`stack client: ${e.message}\n`); finish(false); });
    sock.on('connect', () => {
      t0 = performance.now();
      cpu0 = process.cpuUsage();
      link0 = stack.stats().link;
      sock.write(`GET /bytes/${size} HTTP/1.1\r\nHost: ${o.host}\r\nConnection: close\r\n\r\n`);
    });
    let head = '';
    let inBody = false;
    sock.on('data', (d) => {
      if (inBody) {
        bytes += d.length;
      } else {
        head += Buffer.from(d).toString('latin1');
        const i = head.indexOf('\r\n\r\n');
        if (i < 0) return;
        inBody = true;
        bytes += Buffer.byteLength(head.slice(i + 4), 'latin1');
      }
      if (bytes >= size) finish(bytes === size);
    });
    sock.on('end', () => finish(bytes === size));
  });
}

const warm = await get(1, 15_000);
const r = warm.done ? await get(o.bytes, o.timeoutMs) : { ...warm, error: 'the first request failed' };
process.stdout.write(`${JSON.stringify(r)}\n`);
await stack.close();
process.exit(r.done ? 0 : 1);
