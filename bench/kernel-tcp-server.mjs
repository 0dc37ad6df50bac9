// The kernel's reference TCP services (node:http and node:net on the kernel stack),
// used for the veth baseline only when ../shared/peers/.build/peer-server is not
// built: HTTP/1.1 :80 GET /bytes/N (Content-Length, keep-alive and Connection:
// close), TCP echo :7 and TCP discard :9 — the peers' contract. Prints 'ready'
// once all three listen. Usage: node kernel-tcp-server.mjs [BIND]
import http from 'node:http';
import net from 'node:net';

const bind = process.argv[2] ?? '0.0.0.0';
const chunk = Buffer.alloc(256 << 10, 0x61);

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
web.keepAliveTimeout = 30_000;
const echo = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
const discard = net.createServer((s) => { s.on('error', () => {}); s.on('data', () => {}); s.on('end', () => s.end()); });

let listening = 0;
const up = () => { if (++listening === 3) process.stdout.write('ready\n'); };
web.listen(80, bind, up);
echo.listen(7, bind, up);
discard.listen(9, bind, up);
process.on('SIGTERM', () => process.exit(0));
