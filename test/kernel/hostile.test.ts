/**
 * Hostile and odd input to `netstack serve` from the kernel side: a spoofed
 * UDP datagram from source port 0 to UDP echo (it used to kill the process), and bad
 * HTTP requests. The process must live on, count what it refused, and keep serving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Netns, Server, repoRoot } from './netns.js';

const STACK = '10.7.0.2';
let ns: Netns;
let server: Server;

beforeAll(async () => {
  ns = Netns.create('hostile');
  server = await ns.serve(['--stats']);
});

afterAll(async () => {
  await ns?.close();
});

/** One's-complement sum of 16-bit words. */
function sum16(b: Buffer, init = 0): number {
  let s = init;
  for (let i = 0; i + 1 < b.length; i += 2) s += b.readUInt16BE(i);
  if (b.length & 1) s += b[b.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** An IPv4/UDP datagram src:sport -> dst:dport with correct checksums. */
function udpPacket(src: string, sport: number, dst: string, dport: number, payload: Buffer): Buffer {
  const ip = Buffer.alloc(20);
  const udp = Buffer.alloc(8);
  const total = 20 + 8 + payload.length;
  ip[0] = 0x45; ip.writeUInt16BE(total, 2); ip.writeUInt16BE(1, 4); ip[8] = 64; ip[9] = 17;
  Buffer.from(src.split('.').map(Number)).copy(ip, 12);
  Buffer.from(dst.split('.').map(Number)).copy(ip, 16);
  ip.writeUInt16BE(~sum16(ip) & 0xffff, 10);
  udp.writeUInt16BE(sport, 0); udp.writeUInt16BE(dport, 2); udp.writeUInt16BE(8 + payload.length, 4);
  const pseudo = Buffer.concat([ip.subarray(12, 20), Buffer.from([0, 17]), Buffer.from([(8 + payload.length) >> 8, (8 + payload.length) & 0xff])]);
  const c = ~sum16(Buffer.concat([udp, payload]), sum16(pseudo)) & 0xffff;
  udp.writeUInt16BE(c === 0 ? 0xffff : c, 6);
  return Buffer.concat([ip, udp, payload]);
}

/** Sends `request` to the stack's HTTP port from a kernel-side client; resolves with the whole answer. */
async function rawHttp(request: string): Promise<string> {
  const r = await ns.run(process.execPath, ['-e', `
    const s = require('node:net').connect(80, '${STACK}');
    let out = '';
    s.on('data', (d) => { out += d; });
    s.on('error', (e) => { out += 'ERROR ' + e.code; });
    s.on('close', () => process.stdout.write(out));
    s.end(${JSON.stringify(request)});
    setTimeout(() => { process.stdout.write(out + ' TIMEOUT'); process.exit(0); }, 10000).unref();
  `], { timeoutMs: 20_000 });
  return r.stdout;
}

describe('netstack serve under hostile input', () => {
  it('a UDP datagram from source port 0 to echo :7 is refused and counted; the process lives and echoes on', async () => {
    const pkt = udpPacket('10.7.0.9', 0, STACK, 7, Buffer.from('ping'));
    const r = await ns.run(process.execPath, [join(repoRoot, 'test/kernel/fixtures/raw-send.mjs'), pkt.toString('hex')], { timeoutMs: 20_000 });
    expect(r.stdout, r.stderr).toContain('"sent":1');
    // Still serving: a real echo and a ping after it (an ordered channel behind the raw packet).
    const echo = await ns.run(process.execPath, [join(repoRoot, 'test/kernel/fixtures/udp-client.mjs'), STACK, '7', '1-64'], { timeoutMs: 30_000 });
    expect(JSON.parse(echo.stdout.trim())).toMatchObject({ failures: [], count: 64 });
    const ping = await ns.run('ping', ['-c', '1', '-W', '3', STACK], { timeoutMs: 10_000 });
    expect(ping.stdout).toMatch(/1 received/);
    expect(server.child.exitCode).toBeNull();
  });

  it('bad HTTP requests get 400 and the connection closes; good ones still work', async () => {
    expect(await rawHttp('BLAH\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    expect(await rawHttp('GET / HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    expect(await rawHttp('\x00\x01\x02\xff garbage\r\n\r\n')).toMatch(/^HTTP\/1\.1 400 Bad Request/);
    expect(await rawHttp('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(server.child.exitCode).toBeNull();
  });

  it('on SIGTERM: exit 0, and the counters say what was refused', async () => {
    const { code } = await server.stop();
    expect(code, server.stderr).toBe(0);
    const line = server.stdout.split('\n').find((l) => l.startsWith('stats '));
    expect(line, server.stdout).toBeDefined();
    const stats = JSON.parse(line!.slice(6));
    // The spoofed datagram reached UDP echo (delivered) and was refused by the service.
    expect(stats.services.UdpEchoRefused).toBe(1);
    expect(stats.udp.InDatagrams).toBeGreaterThanOrEqual(65);
    expect(stats.services.HttpBadRequests).toBe(3);
    expect(stats.stack.InternalErrors).toBe(0);
  });
});
