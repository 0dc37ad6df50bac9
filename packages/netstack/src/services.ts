/**
 * The services `netstack serve` offers on the stack's address:
 *   ICMP echo                      (the icmp layer itself)
 *   UDP echo :7                    RFC 862
 *   TCP echo :7, discard :9        RFC 862, RFC 863
 *   HTTP/1.1 :80 by node:http over our TCP sockets:
 *     GET /          a short text
 *     GET /bytes/N   exactly N bytes (Content-Length), byte i = i % 256
 *     POST /sink     consumes the body, answers {"bytes":N,"sha256":"<hex>"}
 * Closed ports answer RST (TCP) and ICMP port unreachable (UDP).
 */
import http from 'node:http';
import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { Stack } from './stack.js';
import type { Socket } from './net/index.js';

export interface Services {
  describe(): string;
  /** What the services refused (wire input they never answer), netstat-style names. */
  stats(): ServiceStats;
  close(): Promise<void>;
}

export interface ServiceStats {
  /** UDP echo requests not answered: source port 0 (Linux's sendto refuses it with EINVAL) or 7 (an echo loop), or a send the socket refused. */
  UdpEchoRefused: number;
  /** Bad HTTP requests answered with 400 (node:http's 'clientError'). */
  HttpBadRequests: number;
  /** Requests whose headers took longer than headersTimeout (60 s) or whole request longer than requestTimeout (300 s): 408, closed. */
  HttpRequestTimeouts: number;
  /** TCP echo and discard connections closed after idleTimeout (5 min) without a byte either way. */
  TcpIdleTimeouts: number;
}

/** node:http's own request deadlines, as a listening node:http server has them; smaller ones for tests. */
export interface ServiceOptions {
  http?: Pick<http.ServerOptions, 'headersTimeout' | 'requestTimeout' | 'connectionsCheckingInterval'>;
  /** TCP echo and discard: a connection idle this long (ms) is closed. Default 300 000. */
  idleTimeout?: number;
}

/** Largest /bytes/N served: 64 GiB (bounded, like everything else). */
export const MAX_BYTES = 64 * 2 ** 30;
const CHUNK = 64 * 1024; // a multiple of 256, so every chunk of the pattern is the same
const PATTERN = Buffer.alloc(CHUNK);
for (let i = 0; i < CHUNK; i++) PATTERN[i] = i & 0xff;

export function httpHandler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = req.url ?? '/';
  const bytes = /^\/bytes\/(\d{1,12})$/.exec(url);
  if (req.method === 'GET' && url === '/') {
    const body = 'netstack: a userspace TCP/IP stack in TypeScript, answering from inside a Node process.\n';
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  } else if (req.method === 'GET' && bytes) {
    const n = Number(bytes[1]);
    if (n > MAX_BYTES) {
      res.writeHead(413, { 'Content-Type': 'text/plain' }).end(`at most ${MAX_BYTES} bytes\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': n });
    let left = n;
    const pump = (): void => {
      while (left > 0) {
        const len = Math.min(left, CHUNK);
        left -= len;
        const more = res.write(len === CHUNK ? PATTERN : PATTERN.subarray(0, len));
        if (!more && left > 0) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    res.on('close', () => { left = 0; });
    pump();
  } else if (req.method === 'POST' && url === '/sink') {
    const hash = createHash('sha256');
    let count = 0;
    req.on('error', () => {}); // the client went away mid-body: nothing to answer
    req.on('data', (chunk: Buffer) => { count += chunk.length; hash.update(chunk); });
    req.on('end', () => {
      const body = JSON.stringify({ bytes: count, sha256: hash.digest('hex') });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
  } else {
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
  }
}

export async function startServices(stack: Stack, options: ServiceOptions = {}): Promise<Services> {
  const counters: ServiceStats = { UdpEchoRefused: 0, HttpBadRequests: 0, HttpRequestTimeouts: 0, TcpIdleTimeouts: 0 };
  // With an IPv6 address, one dual-stack udp6 socket on [::]:7 answers both families
  // (IPv4 senders appear as ::ffff:a.b.c.d and are answered there, as Node's would be).
  const udpEcho = stack.udp.createSocket(stack.addresses6.length > 0 ? 'udp6' : 'udp4');
  udpEcho.on('message', (msg: Buffer, rinfo: { address: string; port: number }) => {
    // Wire input never makes a service throw: a datagram from port 0 cannot be answered
    // (node:dgram's send throws ERR_SOCKET_BAD_PORT, as Linux's sendto fails EINVAL).
    // Nor is one from port 7 answered: two echo services (or this one and itself, over
    // the loopback) would bounce a datagram between them forever.
    if (rinfo.port === 0 || rinfo.port === 7) {
      counters.UdpEchoRefused++;
      return;
    }
    try {
      udpEcho.send(msg, rinfo.port, rinfo.address);
    } catch {
      counters.UdpEchoRefused++;
    }
  });
  // A failed send (e.g. the kernel side went away) is counted by the layer; the service goes on.
  udpEcho.on('error', () => {});
  await new Promise<void>((resolve) => udpEcho.bind(7, resolve));

  const ignoreErrors = (s: Duplex): void => { s.on('error', () => {}); };
  // Echo and discard hold a connection while the client likes, but not an idle one for
  // ever: a peer that completes handshakes (the kernel side sees every SYN-ACK, so it
  // can for any source address, holding no state itself) and then says nothing would
  // otherwise keep its slots in the connection table for good, locking everyone out once
  // the table is full. Idle = no byte either way (node's socket timeout).
  const idleTimeout = options.idleTimeout ?? 300_000;
  const closeWhenIdle = (s: Socket): void => {
    s.setTimeout(idleTimeout, () => { counters.TcpIdleTimeouts++; s.destroy(); });
  };
  const echo = stack.tcp.createServer({ allowHalfOpen: true }, (s) => {
    ignoreErrors(s);
    closeWhenIdle(s);
    s.pipe(s);
  });
  const discard = stack.tcp.createServer({ allowHalfOpen: true }, (s) => {
    ignoreErrors(s);
    closeWhenIdle(s);
    s.resume();
    s.on('end', () => s.end());
  });
  const httpServer = http.createServer({ keepAliveTimeout: 30_000, ...options.http }, httpHandler);
  // Slowloris: node:http enforces headersTimeout and requestTimeout from a timer it starts on
  // 'listening' (its connections list); this server never listens (the stack's sockets are
  // handed to it), so without this a client trickling one header line every few seconds
  // held its connection forever (thousands of them, seen against netstack serve).
  httpServer.emit('listening');
  // A request node:http cannot parse gets 400, one too slow 408 (node's default answers,
  // kept), counted; then the connection is closed as node's default does (destroy once
  // the answer is written: a client that never closes its side holds nothing); a socket
  // error past the response is the client's going away.
  httpServer.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const timeout = err.code === 'ERR_HTTP_REQUEST_TIMEOUT';
    if (timeout) counters.HttpRequestTimeouts++;
    else counters.HttpBadRequests++;
    const status = timeout ? '408 Request Timeout' : '400 Bad Request';
    socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`, () => socket.destroy());
  });
  const web = stack.tcp.createServer((s) => {
    ignoreErrors(s);
    httpServer.emit('connection', s);
  });
  const listen = (srv: typeof echo, port: number): Promise<void> =>
    new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, () => { srv.off('error', reject); resolve(); });
    });
  await Promise.all([listen(echo, 7), listen(discard, 9), listen(web, 80)]);

  return {
    describe: () => 'icmp echo, udp echo :7, tcp echo :7, tcp discard :9, http :80 (/, /bytes/N, POST /sink)',
    stats: () => ({ ...counters }),
    // Stops listening; connections still open are reset by stack.close(), as the
    // kernel resets a process's sockets when it exits.
    close: async () => {
      for (const srv of [echo, discard, web]) srv.close();
      httpServer.closeAllConnections();
      httpServer.close(); // stops the request-deadline timer started on 'listening'
      await new Promise<void>((resolve) => udpEcho.close(() => resolve()));
    },
  };
}
