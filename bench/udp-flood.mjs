// Kernel-side UDP echo load: keeps WINDOW datagrams of SIZE bytes in flight to
// HOST:PORT for SECONDS (bounded in time and count) and prints
// {"sent":N,"received":N,"perSecond":N}. Usage: node udp-flood.mjs HOST PORT SECONDS [SIZE] [WINDOW]
// HOST an IPv4 or IPv6 address (a udp6 socket for the latter).
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';

const [host, port, secondsText, sizeText, windowText] = process.argv.slice(2);
const seconds = Math.min(Number(secondsText), 60);
const size = Number(sizeText ?? 64);
const window = Number(windowText ?? 32);
const maxCount = 50_000_000;
const sock = dgram.createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
const payload = Buffer.alloc(size, 0x5a);
let sent = 0;
let received = 0;
let inFlight = 0;
let done = false;
const started = performance.now();
const pump = () => {
  while (!done && inFlight < window && sent < maxCount) { sent++; inFlight++; sock.send(payload); }
};
sock.on('message', () => { received++; inFlight--; pump(); });
// Lost datagrams would stall the window: refill it every 50 ms.
const refill = setInterval(() => { inFlight = Math.min(inFlight, window / 2); pump(); }, 50);
sock.connect(Number(port), host, () => pump());
sock.on('error', () => { inFlight = Math.max(0, inFlight - 1); });
setTimeout(() => {
  done = true;
  clearInterval(refill);
  const elapsed = (performance.now() - started) / 1000;
  process.stdout.write(`${JSON.stringify({ sent, received, perSecond: Math.round(received / elapsed) })}\n`);
  sock.close();
}, seconds * 1000);
