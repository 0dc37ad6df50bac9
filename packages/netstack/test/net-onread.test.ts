/**
 * `onread` (node:net's option, on the stack's Socket): received bytes go into one reused
 * buffer and to the callback, never through 'data'; false from the callback stops reading
 * (the core's buffer fills, the window closes) until resume(); the FIN still ends the
 * stream. The gateway's relay reads the guest's connections this way.
 */
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import type { Socket } from '../src/net/index.js';
import { B_ADDR, coreConn, createPair, randomBytes, until, type Pair } from './harness-net.js';

let pair: Pair | undefined;
afterEach(() => { pair?.close(); pair = undefined; });

/** A server on `b` port 7 that writes `data` to each connection and ends it. */
async function sender(p: Pair, data: Buffer): Promise<void> {
  const server = p.b.api.createServer((s) => { s.end(data); });
  server.listen(7);
  await once(server, 'listening');
}

describe('Socket onread', () => {
  it('every byte through the one buffer, in order, none as data; end follows the FIN', async () => {
    pair = createPair({ virtual: true });
    const data = randomBytes(1 << 20, 3);
    await sender(pair, data);
    const buffer = Buffer.alloc(4096);
    const got: Buffer[] = [];
    const seen = new Set<Uint8Array>();
    let dataEvents = 0;
    const s = new pair.a.api.Socket({ onread: { buffer, callback: (n, buf) => { seen.add(buf); got.push(Buffer.from(buf.subarray(0, n))); } } });
    s.on('data', () => { dataEvents++; });
    s.connect({ host: B_ADDR, port: 7 });
    await once(s, 'end');
    expect(Buffer.concat(got).equals(data)).toBe(true);
    expect([...seen]).toEqual([buffer]);
    expect(got.every((c) => c.length <= buffer.length)).toBe(true);
    expect(dataEvents).toBe(0);
    expect(s.bytesRead).toBe(data.length);
    s.destroy();
  });

  it('false pauses: no callback until resume(), the bytes wait in the core (window closed); then the rest, exact', async () => {
    pair = createPair({ virtual: true });
    const data = randomBytes(2 << 20, 4);
    await sender(pair, data);
    const got: Buffer[] = [];
    let calls = 0;
    let stop = true;
    const s = new pair.a.api.Socket({
      onread: {
        buffer: () => Buffer.alloc(16 * 1024),
        callback: (n, buf) => { calls++; got.push(Buffer.from(buf.subarray(0, n))); return !stop; },
      },
    });
    s.connect({ host: B_ADDR, port: 7 });
    await once(s, 'connect');
    const core = coreConn(pair.a, s.localPort!)!;
    // One callback, then nothing while the core's receive buffer fills up (the window closes).
    await until(() => calls === 1 && core.readableLength > 128 * 1024 && core.stats.rcvWnd < 1 << core.stats.rcvWndShift);
    expect(calls).toBe(1);
    stop = false;
    s.resume();
    await once(s, 'end');
    expect(Buffer.concat(got).equals(data)).toBe(true);
    s.destroy();
  });

  it('validates like node: a callback that is not a function, a buffer that is not one', () => {
    pair = createPair({ virtual: true });
    const { api } = pair.a;
    expect(() => new api.Socket({ onread: { buffer: Buffer.alloc(8), callback: 1 as never } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => new api.Socket({ onread: { buffer: 'x' as never, callback: () => {} } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    let made = 0;
    const s: Socket = new api.Socket({ onread: { buffer: () => { made++; return Buffer.alloc(8); }, callback: () => {} } });
    expect(made).toBe(1);
    s.destroy();
  });
});
