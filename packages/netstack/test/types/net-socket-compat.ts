/**
 * Type test: checked by `tsc -p packages/netstack/tsconfig.typecheck.json`
 * (test/types.test.ts runs it). A netstack Socket goes wherever Node's own types ask for a
 * `net.Socket`, and the socket classes and option types are exported by name.
 * Never run: it only has to compile.
 */
import * as http from 'node:http';
import type * as net from 'node:net';
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type {
  Socket, Server, UdpSocket, SocketOptions, TcpConnectOptions, ConnectOptions, ServerOptions, UdpSocketOptions, RemoteInfo, Stack, TcpApi,
} from '@netstack/netstack';

declare const stack: Stack;

// The socket classes by name.
const tcpApi: TcpApi = stack.tcp;
const s: Socket = new stack.tcp.Socket({ allowHalfOpen: false } satisfies SocketOptions);
s.connect({ port: 5432, host: '10.0.0.2' } satisfies TcpConnectOptions);
const c: Socket = tcpApi.connect({ port: 80, host: '10.0.0.2', noDelay: true } satisfies ConnectOptions);
const srv: Server = stack.tcp.createServer({ allowHalfOpen: true } satisfies ServerOptions);
const u: UdpSocket = stack.udp.createSocket({ type: 'udp4' } satisfies UdpSocketOptions);
u.on('message', (_m: Buffer, r: RemoteInfo) => r.port);

// Where Node's types want a net.Socket.
const asNet: net.Socket = s;
const attempted: string[] = s.autoSelectFamilyAttemptedAddresses;
const fromAgent: net.Socket = c;
function takesNetSocket(sock: net.Socket): string | undefined {
  return sock.remoteAddress;
}
takesNetSocket(s);
srv.on('connection', (peer: net.Socket) => takesNetSocket(peer));

// http: createConnection returning an unconnected-then-connected socket; an Agent subclass.
http.request({
  host: '10.0.0.2',
  createConnection: (opts, _oncreate) => new stack.tcp.Socket().connect(Number(opts.port ?? 80), opts.host ?? '10.0.0.2'),
});
class StackAgent extends http.Agent {
  override createConnection(opts: http.ClientRequestArgs, cb?: (err: Error | null, stream: Duplex) => void): Duplex {
    const sock = new stack.tcp.Socket();
    sock.connect(Number(opts.port ?? 80), opts.host ?? '10.0.0.2');
    cb?.(null, sock);
    return sock;
  }
}
new StackAgent({ keepAlive: true });

// tls over a netstack socket.
tls.connect({ socket: s, servername: 'example.internal' });
// http.Server accepts our sockets as connections.
http.createServer().emit('connection', c);

void [asNet, attempted, fromAgent];
