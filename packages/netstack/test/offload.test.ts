/**
 * Two stacks on an in-memory link with offloads on both ends (createLinkPair({ offload: true })):
 * TCP super-segments with partial checksums cross as they are and are taken whole by the
 * other stack. 1 MB each way, exact; the counters prove the offload path carried it.
 */
import { once } from 'node:events';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createStack, createLinkPair } from '@netstack/netstack';

const MB = 1 << 20;
const pattern = (n: number, k: number): Buffer => { const b = Buffer.alloc(n); for (let i = 0; i < n; i++) b[i] = (i * k + 7) & 0xff; return b; };
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('two stacks with offloads on a memory link', () => {
  it('1 MB each way, exact, through super-segments', async () => {
    const { a, b } = createLinkPair({ mtu: 1500, offload: true, queueLimit: 4096 });
    const s1 = await createStack({ link: a, address: '10.0.0.1' });
    const s2 = await createStack({ link: b, address: '10.0.0.2' });
    try {
      expect(s1.linkInfo().offload).toEqual({ tso4: true, csum: true });
      const toServer = pattern(MB, 13);
      const toClient = pattern(MB, 7);
      let serverGot = Buffer.alloc(0);
      const server = s2.tcp.createServer((sock) => {
        const chunks: Buffer[] = [];
        sock.on('data', (d: Buffer) => chunks.push(d));
        sock.on('end', () => { serverGot = Buffer.concat(chunks); sock.end(toClient); });
      }).listen(5001);
      const client = s1.tcp.connect({ host: '10.0.0.2', port: 5001 });
      await once(client, 'connect');
      const back: Buffer[] = [];
      client.on('data', (d: Buffer) => back.push(d));
      client.end(toServer);
      await once(client, 'end');
      expect(sha(serverGot)).toBe(sha(toServer));
      expect(sha(Buffer.concat(back))).toBe(sha(toClient));
      for (const s of [s1, s2]) {
        const st = s.stats();
        expect(st.tcp!.OutGsoSegs).toBeGreaterThan(0);
        expect(st.tcp!.InCsumTrusted).toBeGreaterThan(0);
        expect(st.tcp!.InCsumErrors).toBe(0);
        expect(st.link!.TxGsoPackets).toBeGreaterThan(0);
        expect(st.link!.RxGsoPackets).toBeGreaterThan(0);
        expect(st.ip!.InGsoDatagrams).toBeGreaterThan(0);
      }
      server.close();
    } finally {
      await s1.close();
      await s2.close();
    }
  }, 30_000);

  it('impair cannot be combined with an offload link', async () => {
    const { a } = createLinkPair({ offload: true });
    await expect(createStack({ link: a, address: '10.0.0.1', impair: 'loss=1%' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });
});
