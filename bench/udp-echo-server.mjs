// The kernel's reference UDP echo on port 7 (node:dgram on the kernel stack), for
// the veth baseline. Prints 'ready' once bound.
import dgram from 'node:dgram';
const sock = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
sock.on('message', (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
sock.bind(Number(process.argv[2] ?? 7), process.argv[3] ?? '0.0.0.0', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
