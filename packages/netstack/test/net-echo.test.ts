/**
 * Echo over two stacks back to back: exact bytes both ways, node's event order,
 * exact byte counters.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { Socket } from '../src/net/index.js';
import { B_ADDR, collect, createLinkPairHosts, createPair, randomBytes, type Pair } from './harness-net.js';

let pair: Pair | undefined;
afterEach(() => { pair?.close(); pair = undefined; });

/** Writes `data` in pieces of pseudo-random sizes (1 byte .. 40 KiB), honouring back-pressure. */
async function writeChunked(s: Socket, data: Buffer, seed: number): Promise<void> {
  let x = seed;
  let off = 0;
  while (off < data.length) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const size = 1 + (x % (x % 3 === 0 ? 40_960 : 1500));
    const piece = data.subarray(off, Math.min(data.length, off + size));
    off += piece.length;
    if (!s.write(piece)) await once(s, 'drain');
  }
}

describe('echo', () => {
  it('1 MB random bytes, arbitrary chunking, come back exactly; counters are exact', async () => {
    pair = createPair({ virtual: true });
    const { a, b } = pair;
    const serverLog: string[] = [];
    const server = b.api.createServer((sock) => {
      for (const ev of ['end', 'finish', 'close']) sock.on(ev, (h?: boolean) => serverLog.push(ev + (h === undefined ? '' : `:${h}`)));
      sock.pipe(sock);
    });
    server.listen(7);
    await once(server, 'listening');
    const data = randomBytes(1 << 20, 42);
    const client = a.api.connect({ host: B_ADDR, port: 7 });
    const clientLog: string[] = [];
    for (const ev of ['connect', 'ready', 'end', 'finish']) client.on(ev, () => clientLog.push(ev));
    const closed = once(client, 'close');
    const echoed = collect(client);
    await once(client, 'connect');
    await writeChunked(client, data, 7);
    client.end();
    const got = await echoed;
    const [hadError] = await closed as [boolean];
    clientLog.push(`close:${hadError}`);
    expect(got.length).toBe(data.length);
    expect(got.equals(data)).toBe(true);
    expect(client.bytesWritten).toBe(data.length);
    expect(client.bytesRead).toBe(data.length);
    // The client half-closes first: 'finish' before 'end', then 'close' (false).
    expect(clientLog).toEqual(['connect', 'ready', 'finish', 'end', 'close:false']);
    await once(server.close(), 'close');
    // The server side sees the FIN ('end'), pipe ends it ('finish'), then 'close'.
    expect(serverLog).toEqual(['end', 'finish', 'close:false']);
  });

  it('server pushes 1 MB to the client and both sides count it', async () => {
    pair = createPair({ virtual: true });
    const { a, b } = pair;
    const data = randomBytes(1 << 20, 3);
    let serverSock: Socket | undefined;
    const server = b.api.createServer((sock) => {
      serverSock = sock;
      sock.resume();
      void writeChunked(sock, data, 11).then(() => sock.end());
    }).listen(8080);
    await once(server, 'listening');
    const client = a.api.connect(8080, B_ADDR);
    const got = await collect(client);
    expect(got.equals(data)).toBe(true);
    await once(client, 'close');
    await once(server.close(), 'close');
    expect(serverSock!.bytesWritten).toBe(data.length);
    expect(serverSock!.bytesRead).toBe(0);
    expect(client.bytesRead).toBe(data.length);
    expect(client.bytesWritten).toBe(0);
  });

  it('several connections at once, each echoed exactly', async () => {
    pair = createPair({ virtual: true });
    const { a, b } = pair;
    const server = b.api.createServer((sock) => sock.pipe(sock)).listen(9);
    await once(server, 'listening');
    const results = await Promise.all([1, 2, 3, 4, 5].map(async (i) => {
      const data = randomBytes(50_000 * i, i);
      const c = a.api.connect({ host: B_ADDR, port: 9 });
      const got = collect(c);
      await writeChunked(c, data, i);
      c.end();
      return (await got).equals(data);
    }));
    expect(results).toEqual([true, true, true, true, true]);
    await once(server.close(), 'close');
  });
});

describe("over @netstack/tun's createLinkPair (the facade's in-memory link)", () => {
  it('1 MB echo is exact', async () => {
    pair = createLinkPairHosts({ virtual: true });
    const { a, b } = pair;
    const server = b.api.createServer((sock) => sock.pipe(sock)).listen(7);
    await once(server, 'listening');
    const data = randomBytes(1 << 20, 1234);
    const c = a.api.connect({ host: B_ADDR, port: 7 });
    const echoed = collect(c);
    await writeChunked(c, data, 5);
    c.end();
    const got = await echoed;
    expect(got.equals(data)).toBe(true);
    await once(server.close(), 'close');
  });
});
