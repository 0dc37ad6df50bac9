/**
 * Ports of Node's own test/parallel/test-net-*.js cases, rewritten against our
 * API (stack.tcp instead of node:net; two stacks back to back instead of
 * localhost). Each is named after the Node test it ports; the comment says what
 * the original checks. `mustCall` is common.mustCall: the callback must run
 * exactly `n` times before the test ends.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { Socket } from '../src/net/index.js';
import { Socket as NetSocket } from '../src/net/index.js';
import { A_ADDR, B_ADDR, createPair, type Pair } from './harness-net.js';

let pair: Pair | undefined;
let checks: (() => void)[] = [];
afterEach(() => {
  pair?.close();
  pair = undefined;
  checks = [];
});

/** common.mustCall: `fn` must be called exactly `n` times (verified by verifyMustCalls). */
function mustCall<A extends unknown[]>(fn: (...args: A) => void = () => {}, n = 1): (...args: A) => void {
  let calls = 0;
  const name = fn.name || '<anonymous>';
  checks.push(() => expect(calls, `mustCall(${name}) calls`).toBe(n));
  return (...args: A) => { calls++; fn(...args); };
}
const mustNotCall = (what: string) => (...args: unknown[]): void => { throw new Error(`mustNotCall: ${what} ${String(args[0])}`); };
function verifyMustCalls(): void { for (const c of checks) c(); }

describe('ports of node test/parallel/test-net-*', () => {
  // test-net-server-close.js: server.close() returns the server; sockets the
  // server accepted still get 'close' when destroyed, and the server emits
  // 'close' once they are all gone.
  it('test-net-server-close', async () => {
    pair = createPair();
    const { a, b } = pair;
    const sockets: Socket[] = [];
    const server = b.api.createServer((c) => {
      c.on('close', mustCall());
      sockets.push(c);
      if (sockets.length === 2) {
        expect(server.close()).toBe(server);
        sockets.forEach((s) => s.destroy());
      }
    });
    const serverClosed = new Promise<void>((resolve) => server.on('close', mustCall(() => resolve())));
    expect(server.listen(0, () => {
      const port = server.address()!.port;
      a.api.createConnection({ host: B_ADDR, port }).on('error', () => {}).resume();
      a.api.createConnection({ host: B_ADDR, port }).on('error', () => {}).resume();
    })).toBe(server);
    await serverClosed;
    await new Promise((r) => setImmediate(r));
    verifyMustCalls();
  });

  // test-net-connect-immediate-finish.js: end() right after connect(), before
  // the connection exists, must not throw; the connect failure is still
  // reported as 'error' with its code and syscall. (The original uses an
  // unresolvable host -> ENOTFOUND/getaddrinfo; we have no resolver, so a
  // refused port -> ECONNREFUSED/connect.)
  it('test-net-connect-immediate-finish', async () => {
    pair = createPair();
    const client = pair.a.api.connect({ host: B_ADDR, port: 80 });
    const error = new Promise<void>((resolve) => client.once('error', mustCall((err: NodeJS.ErrnoException) => {
      expect(err.code).toBe('ECONNREFUSED');
      expect(err.errno).toBe(-111);
      expect(err.syscall).toBe('connect');
      resolve();
    })));
    client.end();
    await error;
    verifyMustCalls();
  });

  // test-net-write-after-end-nt.js: after the peer ended and we ended too, a
  // write() returns false, calls its callback, and the EPIPE 'error' comes on a
  // later tick, not from inside write().
  it('test-net-write-after-end-nt', async () => {
    pair = createPair();
    const server = pair.b.api.createServer((socket) => {
      socket.resume();
      socket.on('error', mustNotCall('server socket error'));
      socket.end();
    }).listen(0);
    await once(server, 'listening');
    const done = new Promise<void>((resolve) => {
      const client = pair!.a.api.connect(server.address()!.port, B_ADDR, () => {
        let hasError = false;
        client.on('error', mustCall((err: NodeJS.ErrnoException) => {
          hasError = true;
          expect(err.code).toBe('EPIPE');
          server.close();
          resolve();
        }));
        client.on('end', mustCall(() => {
          const ret = client.write('hello', mustCall());
          expect(ret).toBe(false);
          expect(hasError, 'The error should be emitted in the next tick.').toBe(false);
        }));
        client.end();
      });
    });
    await done;
    await new Promise((r) => setImmediate(r));
    verifyMustCalls();
  });

  // test-net-bytes-stats.js: two connections each write 'foo' then end('bar');
  // the server's sockets count bytesRead 6 each, the client bytesWritten 6 each
  // (12 in all). (The original reconnects the same socket object; our sockets
  // connect once, so each round uses a new one.)
  it('test-net-bytes-stats', async () => {
    pair = createPair();
    let bytesRead = 0;
    let bytesWritten = 0;
    const tcp = pair.b.api.createServer((s) => {
      s.resume();
      s.on('end', () => { bytesRead += s.bytesRead; });
    });
    tcp.listen(0);
    await once(tcp, 'listening');
    for (let count = 1; count <= 2; count++) {
      const socket = pair.a.api.createConnection(tcp.address()!.port, B_ADDR);
      socket.on('connect', mustCall(() => {
        socket.write('foo', mustCall(() => { socket.end('bar'); }));
      }));
      socket.on('finish', mustCall(() => { bytesWritten += socket.bytesWritten; }));
      socket.resume();
      await once(socket, 'close');
    }
    await once(tcp.close(), 'close');
    expect(bytesRead).toBe(12);
    expect(bytesWritten).toBe(12);
    verifyMustCalls();
  });

  // test-net-allow-half-open.js: allowHalfOpen is false by default; after the
  // peer's FIN the socket ends its side but is not destroyed straight away: not
  // in the tick after 'end', not at 'finish'; 'close' follows.
  it('test-net-allow-half-open', async () => {
    pair = createPair();
    const server = pair.b.api.createServer(mustCall((socket: Socket) => { socket.end(Buffer.alloc(1024)); })).listen(0);
    await once(server, 'listening');
    const socket = pair.a.api.connect(server.address()!.port, B_ADDR);
    expect(socket.allowHalfOpen).toBe(false);
    socket.resume();
    socket.on('end', mustCall(() => {
      process.nextTick(() => {
        // Ensure socket is not destroyed straight away without proper shutdown.
        expect(socket.destroyed).toBe(false);
        server.close();
      });
    }));
    socket.on('finish', mustCall(() => { expect(socket.destroyed).toBe(false); }));
    await new Promise<void>((resolve) => socket.on('close', mustCall(() => resolve())));
    verifyMustCalls();
  });

  // test-net-server-max-connections.js: with maxConnections = N/2, of N clients
  // the first N/2 are served (get data), the rest are closed by the server
  // without data; every client sees 'close'. (N = 20 in the original; 10 here.)
  it('test-net-server-max-connections', async () => {
    pair = createPair();
    const N = 10;
    const waits: (() => void)[] = [];
    const server = pair.b.api.createServer(mustCall((connection: Socket) => {
      connection.write('hello');
      waits.push(() => { connection.end(); });
    }, N / 2));
    server.maxConnections = N / 2;
    server.listen(0);
    await once(server, 'listening');
    let closes = 0;
    const allClosed = new Promise<void>((resolve) => {
      const makeConnection = (index: number): void => {
        const c = pair!.a.api.createConnection(server.address()!.port, B_ADDR);
        let gotData = false;
        c.on('connect', () => {
          if (index + 1 < N) makeConnection(index + 1);
          c.on('close', () => {
            closes++;
            if (index < server.maxConnections!) expect(gotData, `${index} should have gotten data`).toBe(true);
            else expect(gotData, `${index} should not have gotten data`).toBe(false);
            if (closes === N / 2) {
              let cb;
              while ((cb = waits.shift()) !== undefined) cb();
              server.close();
            }
            if (closes === N) resolve();
          });
        });
        c.on('end', () => { c.end(); });
        c.on('data', (b: Buffer) => { gotData = true; expect(b.length).toBeGreaterThan(0); });
        c.on('error', mustNotCall('client error'));
      };
      makeConnection(0);
    });
    await allClosed;
    verifyMustCalls();
  });

  // test-net-local-address-port.js / test-net-socket-local-address.js: the
  // server socket's localAddress/localPort are the listening address/port, the
  // client's localAddress/localPort (including an explicit localPort) are what
  // the server sees as remoteAddress/remotePort.
  it('test-net-local-address-port', async () => {
    pair = createPair();
    const server = pair.b.api.createServer(mustCall((socket: Socket) => {
      expect(socket.localAddress).toBe(B_ADDR);
      expect(socket.localPort).toBe(server.address()!.port);
      expect(socket.remoteAddress).toBe(A_ADDR);
      expect(socket.remotePort).toBe(40001);
      socket.on('end', () => { server.close(); });
      socket.resume();
    }));
    server.listen(0, B_ADDR);
    await once(server, 'listening');
    const client = pair.a.api.createConnection({ port: server.address()!.port, host: B_ADDR, localAddress: A_ADDR, localPort: 40001 });
    client.once('connect', mustCall(() => {
      expect(client.localAddress).toBe(A_ADDR);
      expect(client.localPort).toBe(40001);
      client.end();
    }));
    await once(server, 'close');
    verifyMustCalls();
  });

  // test-net-remote-address-port.js: remoteAddress/remotePort/remoteFamily and
  // localPort on both ends of a connection agree with each other.
  it('test-net-remote-address-port', async () => {
    pair = createPair();
    let conns = 0;
    const server = pair.b.api.createServer(mustCall((socket: Socket) => {
      conns++;
      expect(socket.remoteAddress).toBe(A_ADDR);
      expect(socket.remoteFamily).toBe('IPv4');
      expect(socket.remotePort).toBeGreaterThan(0);
      expect(socket.remotePort).not.toBe(server.address()!.port);
      socket.on('end', () => { if (conns === 2) server.close(); });
      socket.resume();
    }, 2));
    server.listen(0);
    await once(server, 'listening');
    const clientsClosed: Promise<unknown>[] = [];
    for (let i = 0; i < 2; i++) {
      const client = pair.a.api.connect(server.address()!.port, B_ADDR);
      clientsClosed.push(once(client, 'close'));
      client.on('connect', mustCall(() => {
        expect(client.remoteAddress).toBe(B_ADDR);
        expect(client.remoteFamily).toBe('IPv4');
        expect(client.remotePort).toBe(server.address()!.port);
        client.end();
      }));
      client.on('close', mustCall(() => {
        // Still known after close.
        expect(client.remoteAddress).toBe(B_ADDR);
        expect(client.remoteFamily).toBe('IPv4');
      }));
    }
    await Promise.all([once(server, 'close'), ...clientsClosed]);
    verifyMustCalls();
  });

  // test-net-after-close.js: once closed, calling methods and reading
  // properties of the socket does not throw.
  it('test-net-after-close', async () => {
    pair = createPair();
    const server = pair.b.api.createServer((s) => { s.end(); });
    server.listen(0);
    await once(server, 'listening');
    const c = pair.a.api.createConnection(server.address()!.port, B_ADDR);
    c.resume();
    await new Promise<void>((resolve) => c.on('close', mustCall(() => {
      expect(c.pending).toBe(true);
      expect(() => {
        c.setNoDelay();
        c.setKeepAlive();
        void c.bufferSize;
        c.pause();
        c.resume();
        c.address();
        void c.remoteAddress;
        void c.remotePort;
      }).not.toThrow();
      server.close();
      resolve();
    })));
    verifyMustCalls();
  });

  // test-net-socket-destroy-twice.js: destroy() twice on a connecting socket
  // emits 'close' once and no error.
  it('test-net-socket-destroy-twice', async () => {
    pair = createPair();
    const socket = pair.a.api.connect({ host: B_ADDR, port: 9 });
    socket.on('error', mustNotCall('error'));
    const closed = new Promise<void>((resolve) => socket.on('close', mustCall(() => resolve())));
    socket.destroy();
    socket.destroy();
    await closed;
    await new Promise((r) => setImmediate(r));
    verifyMustCalls();
  });

  // test-net-end-without-connect.js: end() on a socket that never connected
  // calls its callback and leaves the socket not writable.
  it('test-net-end-without-connect', async () => {
    const sock = new NetSocket();
    await new Promise<void>((resolve) => sock.end(mustCall(() => {
      expect(sock.writable).toBe(false);
      resolve();
    })));
    verifyMustCalls();
  });

  // test-net-socket-timeout.js: setTimeout() rejects non-numbers
  // (ERR_INVALID_ARG_TYPE) and negative/non-finite numbers (ERR_OUT_OF_RANGE),
  // accepts valid ones, and a connected idle socket emits 'timeout'.
  it('test-net-socket-timeout', async () => {
    const s = new NetSocket();
    const nonNumericDelays = ['100', true, false, undefined, null, '', {}, () => {}, []];
    const badRangeDelays = [-0.001, -1, -Infinity, Infinity, NaN];
    const validDelays = [0, 0.001, 1, 1e6];
    for (const d of nonNumericDelays) expect(() => s.setTimeout(d as number, () => {})).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    for (const d of badRangeDelays) expect(() => s.setTimeout(d, () => {})).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    for (const d of validDelays) s.setTimeout(d, () => {});
    s.setTimeout(0);
    pair = createPair();
    const server = pair.b.api.createServer((c) => { c.write('hello'); });
    server.listen(0);
    await once(server, 'listening');
    const socket = pair.a.api.createConnection(server.address()!.port, B_ADDR);
    await new Promise<void>((resolve) => socket.setTimeout(100, mustCall(() => {
      socket.destroy();
      server.close();
      resolve();
    })));
    verifyMustCalls();
  });
});
