// "The internet" of `pnpm bench --nat` (bench/nat.mjs), on ADDRESS (argv[2]) in namespace W:
//   HTTP :80   GET /bytes/N: N bytes (byte i = i % 256); GET /hello: 2 bytes "ok" (wrk's
//              target; a request with 'connection: close' gets its connection closed)
//   TCP  :7    echo
//   TCP  :9    counted discard: the client sends 'N\n' then N bytes; once it has read them
//              the server answers 'N' (no half-close needed: pasta 2023-03 does not carry
//              a guest's FIN followed by the server's answer and FIN correctly)
//   UDP  :7    echo
// Prints 'listening' once every listener is bound.
import http from 'node:http';
import net from 'node:net';
import dgram from 'node:dgram';

const address = process.argv[2];
const pattern = Buffer.alloc(256 * 1024);
for (let i = 0; i < pattern.length; i++) pattern[i] = i % 256;

const server = http.createServer((req, res) => {
  if (req.url === '/hello') {
    res.writeHead(200, { 'content-length': 2, 'content-type': 'text/plain' });
    res.end('ok');
    return;
  }
  const m = /^\/bytes\/(\d+)$/.exec(req.url ?? '');
  if (!m) { res.writeHead(404).end(); return; }
  let left = Number(m[1]);
  res.writeHead(200, { 'content-length': left, 'content-type': 'application/octet-stream' });
  // The pattern's period (256) divides its length: every chunk starts at a multiple of 256.
  const more = () => {
    while (left > 0) {
      const n = Math.min(left, pattern.length);
      left -= n;
      if (!res.write(n === pattern.length ? pattern : pattern.subarray(0, n))) { res.once('drain', more); return; }
    }
    res.end();
  };
  more();
});
server.keepAliveTimeout = 30_000;
const echo = net.createServer({ allowHalfOpen: true }, (s) => { s.setNoDelay(true); s.on('error', () => {}); s.pipe(s); });
const discard = net.createServer((s) => {
  let want = -1, n = 0, head = '';
  s.on('error', () => {});
  s.on('data', (d) => {
    if (want < 0) {
      head += d.toString('latin1');
      const i = head.indexOf('\n');
      if (i < 0) { if (head.length > 32) s.destroy(); return; }
      want = Number(head.slice(0, i));
      n = head.length - i - 1;
    } else n += d.length;
    if (n >= want) s.end(`${n}`);
  });
});
const udp = dgram.createSocket('udp4');
udp.on('message', (msg, r) => udp.send(msg, r.port, r.address));
let up = 0;
const ready = () => { if (++up === 4) console.log('listening'); };
server.listen(80, address, 511, ready);
echo.listen(7, address, ready);
discard.listen(9, address, ready);
udp.bind(7, address, ready);
