// The Linux endpoint of `pnpm bench --impaired` (bench/impaired.mjs), run in namespace C:
// HTTP/1.1 :80 GET /bytes/N (N bytes of 0x61) and TCP discard :9 (reads everything,
// closes its side after the peer's FIN), as bench/kernel-tcp-server.mjs, with every
// accepted socket's congestion control set to CC before it sends (bench/tcp-cc.mjs).
// Prints 'ready' once both listen. Usage: node impaired-linux-server.mjs CC|default
import http from 'node:http';
import net from 'node:net';
import { setCongestion } from './tcp-cc.mjs';

const cc = process.argv[2] ?? 'default';
const chunk = Buffer.alloc(256 << 10, 0x61);
const onSocket = (s) => { if (cc !== 'default') setCongestion(s, cc); };
const web = http.createServer((req, res) => {
  const m = /^\/bytes\/(\d+)$/.exec(req.url ?? '');
  if (req.method !== 'GET' || !m) { res.writeHead(404).end('not found\n'); return; }
  let left = Number(m[1]);
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(left) });
  const pump = () => {
    while (left > 0) {
      const k = Math.min(left, chunk.length);
      left -= k;
      if (!res.write(k === chunk.length ? chunk : chunk.subarray(0, k))) { res.once('drain', pump); return; }
    }
    res.end();
  };
  pump();
});
web.on('connection', onSocket);
const discard = net.createServer((s) => { onSocket(s); s.on('error', () => {}); s.on('data', () => {}); s.on('end', () => s.end()); });
let listening = 0;
const up = () => { if (++listening === 2) process.stdout.write(`ready (cc ${cc})\n`); };
web.listen(80, '0.0.0.0', up);
discard.listen(9, '0.0.0.0', up);
process.on('SIGTERM', () => process.exit(0));
