import { describe, expect, it } from 'vitest';
import { createLinkPair, type LinkReceiver } from '../src/index.js';

const pkt = (...bytes: number[]): Uint8Array => Uint8Array.from([0x45, ...bytes]);

/** A receiver that records payload tags and batch boundaries; resolves when `n` packets arrived. */
function recorder(n = Infinity): LinkReceiver & { log: string[]; arrived: Promise<void>; batchEnd(): void } {
  let done!: () => void;
  let count = 0;
  const r = {
    log: [] as string[],
    arrived: new Promise<void>((res) => (done = res)),
    packet(p: Uint8Array) {
      r.log.push(`p${p[1] ?? ''}`);
      if (++count >= n) done();
    },
    batchEnd() {
      r.log.push('end');
    },
  };
  return r;
}

describe('createLinkPair: automatic delivery', () => {
  it('delivers what one end sends to the other, asynchronously, in order, then batchEnd', async () => {
    const { a, b } = createLinkPair();
    const rb = recorder(3);
    b.setReceiver(rb);
    expect(a.send(pkt(1))).toBe(true);
    expect(a.send(pkt(2))).toBe(true);
    expect(a.send(pkt(3))).toBe(true);
    expect(rb.log).toEqual([]); // not synchronously
    await rb.arrived;
    expect(rb.log).toEqual(['p1', 'p2', 'p3', 'end']);
    expect(a.stats()).toMatchObject({ TxPackets: 3, TxBytes: 6, TxDropped: 0 });
    expect(b.stats()).toMatchObject({ RxPackets: 3, RxBytes: 6, RxDropped: 0 });
  });

  it('ping-pongs between two receivers through the event loop', async () => {
    const pair = createLinkPair();
    const ra = recorder(5);
    pair.a.setReceiver({
      packet(p) {
        ra.packet(p);
        if (p[1]! < 10) pair.a.send(pkt(p[1]! + 1));
      },
    });
    pair.b.setReceiver({ packet: (p) => void pair.b.send(pkt(p[1]! + 1)) });
    pair.a.send(pkt(0));
    await ra.arrived;
    expect(ra.log).toEqual(['p1', 'p3', 'p5', 'p7', 'p9']);
  });

  it('copies on send: the sender may reuse its buffer at once', async () => {
    const { a, b } = createLinkPair();
    const rb = recorder(2);
    const kept: Uint8Array[] = [];
    b.setReceiver({ packet: (p) => (kept.push(p.slice()), rb.packet(p)) });
    const buf = pkt(1, 1, 1);
    a.send(buf);
    buf[1] = 2;
    a.send(buf);
    buf.fill(0xff);
    await rb.arrived;
    expect(kept.map((p) => [...p])).toEqual([
      [0x45, 1, 1, 1],
      [0x45, 2, 1, 1],
    ]);
  });
});

describe('createLinkPair: pollNow (Link.pollNow)', () => {
  it('delivers at once what is queued towards that end only, then batchEnd; the scheduled delivery finds it gone', async () => {
    const { a, b } = createLinkPair();
    const ra = recorder();
    const rb = recorder();
    a.setReceiver(ra);
    b.setReceiver(rb);
    a.send(pkt(1));
    a.send(pkt(2));
    b.send(pkt(9));
    expect(b.pollNow()).toBe(2);
    expect(rb.log).toEqual(['p1', 'p2', 'end']);
    expect(ra.log).toEqual([]);
    expect(b.pollNow()).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect(rb.log).toEqual(['p1', 'p2', 'end']);
    expect(ra.log).toEqual(['p9', 'end']);
  });

  it('moves nothing with autoDeliver: false (the caller pumps)', () => {
    const pair = createLinkPair({ autoDeliver: false });
    const rb = recorder();
    pair.b.setReceiver(rb);
    pair.a.send(pkt(1));
    expect(pair.b.pollNow()).toBe(0);
    expect(pair.pending()).toBe(1);
    expect(pair.pump()).toBe(1);
    expect(rb.log).toEqual(['p1', 'end']);
  });
});

describe('createLinkPair: bounds and drops', () => {
  it('drops and counts overflow beyond queueLimit', () => {
    const pair = createLinkPair({ queueLimit: 3, autoDeliver: false });
    const results = [1, 2, 3, 4, 5].map((i) => pair.a.send(pkt(i)));
    expect(results).toEqual([true, true, true, false, false]);
    expect(pair.a.stats()).toMatchObject({ TxPackets: 3, TxDropped: 2 });
    expect(pair.pending()).toBe(3);
    // The other direction has its own queue.
    expect(pair.b.send(pkt(9))).toBe(true);
  });

  it('drops packets over the MTU and empty packets', () => {
    const pair = createLinkPair({ mtu: 68, autoDeliver: false });
    expect(pair.a.mtu).toBe(68);
    expect(pair.a.send(new Uint8Array(68))).toBe(true);
    expect(pair.a.send(new Uint8Array(69))).toBe(false);
    expect(pair.a.send(new Uint8Array(0))).toBe(false);
    expect(pair.a.stats()).toMatchObject({ TxPackets: 1, TxBytes: 68, TxDropped: 2 });
  });

  it('counts packets arriving at an end without a receiver as RxDropped', () => {
    const pair = createLinkPair({ autoDeliver: false });
    pair.a.send(pkt(1));
    expect(pair.pump()).toBe(0);
    expect(pair.b.stats()).toMatchObject({ RxPackets: 0, RxDropped: 1 });
  });

  it('lets a filter lose packets on the wire (the shaper hook), seeing each with its direction', () => {
    const seen: string[] = [];
    const pair = createLinkPair({
      autoDeliver: false,
      filter: (p, dir) => {
        seen.push(`${dir}:${p[1]}`);
        return p[1]! % 2 === 0 ? 'drop' : 'pass';
      },
    });
    const rb = recorder();
    const ra = recorder();
    pair.b.setReceiver(rb);
    pair.a.setReceiver(ra);
    for (const i of [1, 2, 3, 4]) expect(pair.a.send(pkt(i))).toBe(true);
    pair.b.send(pkt(5));
    pair.pump();
    expect(seen).toEqual(['a->b:1', 'a->b:2', 'a->b:3', 'a->b:4', 'b->a:5']);
    expect(rb.log).toEqual(['p1', 'p3', 'end']);
    expect(ra.log).toEqual(['p5', 'end']);
    expect(pair.stats().Filtered).toBe(2);
    expect(pair.a.stats()).toMatchObject({ TxPackets: 4, TxDropped: 0 });
  });

  it('refuses bad options with a code', () => {
    expect(() => createLinkPair({ mtu: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => createLinkPair({ queueLimit: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => createLinkPair({ autoDeliver: 1 as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});

describe('createLinkPair: manual pump', () => {
  it('moves nothing until pump(); pump() delivers one round and returns the count', async () => {
    const pair = createLinkPair({ autoDeliver: false });
    const rb = recorder();
    const ra = recorder();
    pair.a.setReceiver(ra);
    pair.b.setReceiver({
      packet(p) {
        rb.packet(p);
        pair.b.send(pkt(p[1]! + 10)); // answered next round
      },
      batchEnd: () => rb.batchEnd(),
    });
    pair.a.send(pkt(1));
    pair.a.send(pkt(2));
    await new Promise<void>((res) => setImmediate(res));
    await new Promise<void>((res) => setImmediate(res));
    expect(rb.log).toEqual([]);
    expect(pair.pending()).toBe(2);

    expect(pair.pump()).toBe(2);
    expect(rb.log).toEqual(['p1', 'p2', 'end']);
    expect(ra.log).toEqual([]);
    expect(pair.pending()).toBe(2);
    expect(pair.pump()).toBe(2);
    expect(ra.log).toEqual(['p11', 'p12', 'end']);
    expect(pair.pump()).toBe(0);
    expect(pair.pending()).toBe(0);
  });
});

describe('createLinkPair: close', () => {
  it('is idempotent, drops what is queued, and refuses sends in both directions', () => {
    const pair = createLinkPair({ autoDeliver: false });
    pair.b.setReceiver(recorder());
    pair.a.send(pkt(1));
    pair.b.close();
    pair.b.close();
    expect(pair.b.closed).toBe(true);
    expect(pair.pending()).toBe(0);
    expect(pair.b.stats().RxDropped).toBe(1);
    expect(pair.a.send(pkt(2))).toBe(false);
    expect(pair.b.send(pkt(3))).toBe(false);
    expect(pair.a.stats().TxDropped).toBe(1);
    expect(pair.b.stats().TxDropped).toBe(1);
  });

  it('cancels a scheduled delivery: nothing arrives after close', async () => {
    const pair = createLinkPair();
    const ra = recorder();
    pair.b.setReceiver(ra);
    pair.a.send(pkt(1));
    pair.close();
    await new Promise<void>((res) => setImmediate(res));
    await new Promise<void>((res) => setImmediate(res));
    expect(ra.log).toEqual([]);
    expect(pair.a.closed && pair.b.closed).toBe(true);
  });
});
