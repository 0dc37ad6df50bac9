/**
 * stack.capture(path, options): a pcap capture started and stopped at run time on a stack
 * over an in-memory link with offloads (createLinkPair({ offload: true }), no device). The
 * file is parsed back and every IPv4 header, TCP and UDP checksum verified with the
 * project's own checksum functions (@netstack/ip): offloaded segments cross the link with
 * partial sums, the file must hold them complete.
 */
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createStack, createLinkPair, type Stack } from '@netstack/netstack';
import { readPcap } from '@netstack/tun';
import { checksum, pseudoHeaderSum, sum16 } from '@netstack/ip';

let dir: string;
beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'netstack-capture-')); });
afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

const pattern = (n: number): Buffer => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = (i * 13 + 7) & 0xff; return b; };

interface Checked { tcp: number; udp: number; other: number; bad: string[]; big: number; from: Set<number> }

/** Verifies every record: IPv4 header checksum and Total Length, and the TCP/UDP checksum of whole datagrams. */
function verify(file: string): Checked {
  const out: Checked = { tcp: 0, udp: 0, other: 0, bad: [], big: 0, from: new Set() };
  readPcap(readFileSync(file)).records.forEach((r, i) => {
    const p = r.data;
    const ihl = (p[0]! & 0x0f) * 4;
    const total = (p[2]! << 8) | p[3]!;
    if (total !== p.length) out.bad.push(`#${i}: total length ${total} != ${p.length}`);
    if (checksum(p, 0, ihl) !== 0) out.bad.push(`#${i}: IPv4 header checksum`);
    if (total > 1500) out.big++;
    const view = new DataView(p.buffer, p.byteOffset, p.byteLength);
    const src = view.getUint32(12);
    out.from.add(src);
    const fragment = (view.getUint16(6) & 0x3fff) !== 0;
    const proto = p[9]!;
    if ((proto === 6 || proto === 17) && !fragment) {
      const sum = sum16(p, ihl, total, pseudoHeaderSum(src, view.getUint32(16), proto, total - ihl));
      if (sum !== 0xffff) out.bad.push(`#${i}: ${proto === 6 ? 'TCP' : 'UDP'} checksum`);
      if (proto === 6) out.tcp++; else out.udp++;
    } else out.other++;
  });
  return out;
}

async function pairOfStacks(offload: boolean): Promise<[Stack, Stack]> {
  const { a, b } = createLinkPair({ mtu: 1500, offload, queueLimit: 4096 });
  return [await createStack({ link: a, address: '10.0.0.1' }), await createStack({ link: b, address: '10.0.0.2' })];
}

/** 256 KB each way over TCP echo-like exchange, a UDP echo and a ping. */
async function traffic(s1: Stack, s2: Stack): Promise<void> {
  const server = s2.tcp.createServer((sock) => {
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('end', () => sock.end(Buffer.concat(chunks)));
  }).listen(5001);
  const client = s1.tcp.connect({ host: '10.0.0.2', port: 5001 });
  await once(client, 'connect');
  const back: Buffer[] = [];
  client.on('data', (d: Buffer) => back.push(d));
  client.end(pattern(256 * 1024));
  await once(client, 'end');
  expect(Buffer.concat(back).equals(pattern(256 * 1024))).toBe(true);
  server.close();
  const echo = s2.udp.createSocket('udp4');
  echo.on('message', (m, r) => echo.send(m, r.port, r.address));
  echo.bind(7);
  const c = s1.udp.createSocket('udp4');
  const got = once(c, 'message');
  c.send(pattern(1200), 7, '10.0.0.2');
  expect((await got)[0]).toEqual(pattern(1200));
  c.close();
  echo.close();
  await s1.ping('10.0.0.2', { size: 3000 }); // fragmented both ways
}

describe('stack.capture()', () => {
  it('with offloads, the file holds complete IPv4, TCP and UDP checksums and consistent lengths, both directions', async () => {
    const [s1, s2] = await pairOfStacks(true);
    const file = join(dir, 'x.pcap');
    try {
      const cap = await s1.capture(file);
      await traffic(s1, s2);
      const st = s1.stats();
      expect(st.link!.TxCsumOffload).toBeGreaterThan(0); // partial sums did cross the link
      expect(st.link!.RxCsumPartial).toBeGreaterThan(0);
      await cap.close();
      expect(cap.closed).toBe(true);
      const v = verify(file);
      expect(v.bad).toEqual([]);
      expect(v.tcp).toBeGreaterThan(10);
      expect(v.udp).toBe(2);
      expect(v.other).toBeGreaterThan(0); // ICMP and fragments
      expect(v.big).toBeGreaterThan(0); // super-segments recorded whole
      expect(v.from.size).toBe(2); // both directions
      expect(cap.packets).toBe(readPcap(readFileSync(file)).records.length);
      expect(cap.bytes).toBe(statSync(file).size);
    } finally {
      await s1.close();
      await s2.close();
    }
  }, 30_000);

  it('starts and stops at run time: only what passed in between is in the file; stack.close() closes the rest', async () => {
    const [s1, s2] = await pairOfStacks(true);
    const first = join(dir, 'first.pcap');
    const second = join(dir, 'second.pcap');
    try {
      await s1.ping('10.0.0.2');
      const cap = await s1.capture(first);
      await s1.ping('10.0.0.2', { size: 100 });
      await cap.close();
      await cap.close(); // idempotent
      await s1.ping('10.0.0.2', { size: 200 });
      expect(readPcap(readFileSync(first)).records.map((r) => r.data.length)).toEqual([128, 128]);
      const cap2 = await s1.capture(second);
      await s1.ping('10.0.0.2', { size: 300 });
      await s1.close(); // flushes and closes cap2
      expect(cap2.closed).toBe(true);
      expect(readPcap(readFileSync(second)).records.map((r) => r.data.length)).toEqual([328, 328]);
    } finally {
      await s1.close();
      await s2.close();
    }
  });

  it('is bounded by maxBytes: the file never passes it, the rest is counted', async () => {
    const [s1, s2] = await pairOfStacks(true);
    const file = join(dir, 'bounded.pcap');
    try {
      const cap = await s1.capture(file, { maxBytes: 100_000 });
      await traffic(s1, s2);
      await cap.close();
      expect(cap.limitReached).toBe(true);
      expect(cap.notWritten).toBeGreaterThan(0);
      expect(statSync(file).size).toBeLessThanOrEqual(100_000);
      expect(statSync(file).size).toBe(cap.bytes);
      expect(verify(file).bad).toEqual([]);
    } finally {
      await s1.close();
      await s2.close();
    }
  }, 30_000);

  it('errors are Node-style, as rejections, never a crash', async () => {
    const [s1, s2] = await pairOfStacks(false);
    try {
      await expect(s1.capture(join(dir, 'no', 'such', 'dir.pcap'))).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open' });
      await expect(s1.capture(dir)).rejects.toMatchObject({ code: 'EISDIR' });
      await expect(s1.capture(join(dir, 'x.pcap'), { maxBytes: -1 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
      await expect(s1.capture(42 as unknown as string)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
      await expect(createStack({ link: createLinkPair().a, address: '10.0.0.9', pcap: join(dir, 'no', 'x.pcap') })).rejects.toMatchObject({ code: 'ENOENT' });
      await s1.ping('10.0.0.2'); // the stack goes on
      await s1.close();
      await expect(s1.capture(join(dir, 'late.pcap'))).rejects.toMatchObject({ code: 'ERR_STACK_CLOSED' });
    } finally {
      await s1.close();
      await s2.close();
    }
  });

  it('the pcap option captures from the start, and without offloads the sums were complete already', async () => {
    const { a, b } = createLinkPair({ mtu: 1500 });
    const file = join(dir, 'opt.pcap');
    const s1 = await createStack({ link: a, address: '10.0.0.1', pcap: file });
    const s2 = await createStack({ link: b, address: '10.0.0.2' });
    try {
      await traffic(s1, s2);
    } finally {
      await s1.close();
      await s2.close();
    }
    const v = verify(file);
    expect(v.bad).toEqual([]);
    expect(v.big).toBe(0);
    expect(v.tcp).toBeGreaterThan(100);
  }, 30_000);

  it('the pcap option as { path, maxBytes }: the bound is the capture\'s, stack.pcapCapture is it; a bad value is ERR_INVALID_ARG_TYPE', async () => {
    const { a, b } = createLinkPair({ mtu: 1500 });
    const file = join(dir, 'opt-bounded.pcap');
    const s1 = await createStack({ link: a, address: '10.0.0.1', pcap: { path: file, maxBytes: 4096 } });
    const s2 = await createStack({ link: b, address: '10.0.0.2' });
    try {
      expect(s1.pcapCapture?.path).toBe(file);
      expect(s1.pcapCapture?.maxBytes).toBe(4096);
      expect(s2.pcapCapture).toBeUndefined();
      await traffic(s1, s2);
      expect(s1.pcapCapture?.notWritten).toBeGreaterThan(0);
    } finally {
      await s1.close();
      await s2.close();
    }
    expect(statSync(file).size).toBeLessThanOrEqual(4096);
    for (const pcap of [{ path: '' }, { maxBytes: 1 }, null, 7]) {
      await expect(createStack({ link: createLinkPair().a, address: '10.0.0.9', pcap: pcap as never })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', option: 'pcap' });
    }
  }, 30_000);
});
