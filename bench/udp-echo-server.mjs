// The kernel's reference UDP echo on port 7 (node:dgram on the kernel stack), for
// the veth baseline. Prints 'ready' once bound. Usage: node udp-echo-server.mjs [PORT] [BIND]:
// BIND an IPv6 address (bench --family 6: '::') makes a udp6 socket, dual-stack (IPv4 v4-mapped).
import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
const sock = dgram.createSocket({ type: isIPv6(process.argv[3] ?? '') ? 'udp6' : 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
sock.bind(Number(process.argv[2] ?? 7), process.argv[3] ?? '0.0.0.0', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
