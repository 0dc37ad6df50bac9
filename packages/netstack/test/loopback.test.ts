/**
 * Loopback: a stack reaches its own address and 127.0.0.0/8 without
 * the link, as Linux's lo: same TCP and UDP semantics, counted (ip.OutLoopback), and
 * the link sees nothing. Before, a connect to the stack's own address sent SYNs out of
 * the link and hung for two minutes.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { createLinkPair } from '@netstack/tun';
import { createStack, type Stack } from '../src/index.js';

const ADDR = '10.0.0.1';
let stack: Stack | undefined;
afterEach(async () => { await stack?.close(); stack = undefined; });

async function alone(offload = false): Promise<Stack> {
  // One end of a pair with nobody on the other: whatever leaves by the link is lost.
  const { a } = createLinkPair({ mtu: 1500, offload });
  stack = await createStack({ link: a, address: ADDR });
  return stack;
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

async function echoThrough(s: Stack, host: string, size: number): Promise<{ got: Buffer; sent: Buffer; peer: string | undefined; local: string | undefined }> {
  let peer: string | undefined;
  let local: string | undefined;
  const srv = s.tcp.createServer({ allowHalfOpen: true }, (sock) => { peer = sock.remoteAddress; local = sock.localAddress; sock.pipe(sock); });
  await new Promise<void>((r) => srv.listen(7, r));
  const sent = Buffer.alloc(size);
  for (let i = 0; i < size; i++) sent[i] = (i * 7 + 3) & 0xff;
  const c = s.tcp.connect({ host, port: 7 });
  const parts: Buffer[] = [];
  c.on('data', (d: Buffer) => parts.push(d));
  c.end(sent);
  await once(c, 'close');
  srv.close();
  return { got: Buffer.concat(parts), sent, peer, local };
}

describe('loopback', () => {
  for (const offload of [false, true]) {
    it(`TCP to the stack's own address: 4 MB echoed exactly, nothing on the link${offload ? ' (offload link: super-segments looped whole)' : ''}`, async () => {
      const s = await alone(offload);
      const r = await echoThrough(s, ADDR, 4 << 20);
      expect(sha(r.got)).toBe(sha(r.sent));
      expect(r.peer).toBe(ADDR);
      const st = s.stats();
      expect(st.link!['TxPackets']).toBe(0);
      expect(st.ip!['OutLoopback']).toBeGreaterThan(100);
      // The loopback MSS (65535 - 40): few, large segments.
      expect(st.tcp!['OutSegs']).toBeLessThan(1000);
    });
  }

  it('TCP to 127.0.0.1: source and destination 127.0.0.1, exact bytes', async () => {
    const s = await alone();
    const r = await echoThrough(s, '127.0.0.1', 100_000);
    expect(r.got.equals(r.sent)).toBe(true);
    expect(r.peer).toBe('127.0.0.1');
    expect(r.local).toBe('127.0.0.1');
    expect(s.stats().link!['TxPackets']).toBe(0);
  });

  it('a closed port on loopback refuses at once (RST), ECONNREFUSED', async () => {
    const s = await alone();
    const c = s.tcp.connect({ host: ADDR, port: 9 });
    const [err] = await once(c, 'error') as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNREFUSED');
    expect(s.stats().link!['TxPackets']).toBe(0);
  });

  it('UDP to the own address and to 127.0.0.1, with the right source in rinfo', async () => {
    const s = await alone();
    const server = s.udp.createSocket('udp4');
    const got: { msg: string; from: string }[] = [];
    server.on('message', (m, r) => got.push({ msg: m.toString(), from: r.address }));
    await new Promise<void>((r) => server.bind(5000, r));
    const bound127 = s.udp.createSocket('udp4');
    await new Promise<void>((r) => bound127.bind(5001, '127.0.0.1', r));
    const client = s.udp.createSocket('udp4');
    client.send('to-own', 5000, ADDR);
    client.send('to-lo', 5000, '127.0.0.1');
    client.send('to-127-socket', 5001, '127.0.0.1');
    const third = once(bound127, 'message');
    await new Promise<void>((resolve) => { const t = setInterval(() => { if (got.length === 2) { clearInterval(t); resolve(); } }, 1); });
    expect(got).toEqual([{ msg: 'to-own', from: ADDR }, { msg: 'to-lo', from: '127.0.0.1' }]);
    const [m, rinfo] = await third as [Buffer, { address: string }];
    expect(m.toString()).toBe('to-127-socket');
    expect(rinfo.address).toBe('127.0.0.1');
    expect(s.stats().link!['TxPackets']).toBe(0);
    for (const x of [server, bound127, client]) x.close();
  });

  it('a connected UDP socket to a closed loopback port hears ECONNREFUSED (ICMP port unreachable over lo, as Linux)', async () => {
    const s = await alone();
    const c = s.udp.createSocket('udp4');
    await new Promise<void>((r) => c.connect(9999, '127.0.0.1', () => r()));
    c.send('x');
    const [err] = await once(c, 'error') as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNREFUSED');
    c.close();
  });

  it('ping to the own address and to 127.0.0.1', async () => {
    const s = await alone();
    expect((await s.ping(ADDR, { timeout: 1000 })).rttMs).toBeGreaterThanOrEqual(0);
    expect((await s.ping('127.0.0.1', { timeout: 1000 })).rttMs).toBeGreaterThanOrEqual(0);
    expect(s.stats().link!['TxPackets']).toBe(0);
  });

  it('127/8 never arrives from the link (RFC 1122 §3.2.1.3 (g)): dropped as a bad source', async () => {
    const { a, b } = createLinkPair({ mtu: 1500 });
    stack = await createStack({ link: a, address: ADDR });
    const srv = stack.udp.createSocket('udp4');
    let received = 0;
    srv.on('message', () => { received++; });
    await new Promise<void>((r) => srv.bind(7, r));
    // 127.0.0.1:1000 -> 10.0.0.1:7, valid checksums.
    const pkt = Buffer.from('4500001f0001000040110000' + '7f000001' + '0a000001' + '03e80007000b0000' + '686921', 'hex');
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += pkt.readUInt16BE(i);
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    pkt.writeUInt16BE(~sum & 0xffff, 10);
    b.send(pkt);
    const before = stack.stats().ip!['dropped.InMartianSrc'] ?? 0;
    await new Promise<void>((resolve) => { const t = setInterval(() => { if ((stack!.stats().ip!['InReceives'] ?? 0) >= 1) { clearInterval(t); resolve(); } }, 1); });
    expect(stack.stats().ip!['dropped.InMartianSrc']).toBe(before + 1);
    expect(received).toBe(0);
    srv.close();
  });
});

describe('loopback and forged sources', () => {
  it('a datagram from the link forged with the stack\'s own address as source is dropped (Linux\'s martian check): no echo loop over lo', async () => {
    const { a, b } = createLinkPair({ mtu: 1500 });
    const s = await createStack({ link: a, address: ADDR });
    try {
      const echo = s.udp.createSocket('udp4');
      let heard = 0;
      echo.on('message', (m, r) => { heard++; echo.send(m, r.port, r.address); });
      await new Promise<void>((r) => echo.bind(7, r));
      // 10.0.0.1:7 -> 10.0.0.1:7 from the link: would echo to itself forever.
      const pkt = Buffer.from('4500001f00010000401100000a0000010a00000100070007000b0000686921', 'hex');
      let sum = 0;
      for (let i = 0; i < 20; i += 2) sum += pkt.readUInt16BE(i);
      while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
      pkt.writeUInt16BE(~sum & 0xffff, 10);
      b.send(pkt);
      await new Promise<void>((resolve) => { const t = setInterval(() => { if ((s.stats().ip!['InReceives'] ?? 0) >= 1) { clearInterval(t); resolve(); } }, 1); });
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      expect(s.stats().ip!['dropped.InMartianSrc']).toBe(1);
      expect(heard).toBe(0);
      expect(s.stats().ip!['OutLoopback']).toBe(0);
      echo.close();
    } finally {
      await s.close();
    }
  });
});

describe('listening on the loopback', () => {
  it("a server listening on 127.0.0.1 (or 'localhost') is reached there, not on the stack's address", async () => {
    const { a } = createLinkPair({ mtu: 1500 });
    const s = await createStack({ link: a, address: ADDR });
    try {
      const srv = s.tcp.createServer((sock) => sock.end('hi'));
      await new Promise<void>((r) => srv.listen(8000, 'localhost', r));
      expect(srv.address()).toMatchObject({ address: '127.0.0.1', port: 8000 });
      const c = s.tcp.connect({ host: '127.0.0.1', port: 8000 });
      const parts: Buffer[] = [];
      c.on('data', (d: Buffer) => parts.push(d));
      await once(c, 'close');
      expect(Buffer.concat(parts).toString()).toBe('hi');
      const other = s.tcp.connect({ host: ADDR, port: 8000 });
      const [err] = await once(other, 'error') as [NodeJS.ErrnoException];
      expect(err.code).toBe('ECONNREFUSED');
      srv.close();
    } finally {
      await s.close();
    }
  });
});
