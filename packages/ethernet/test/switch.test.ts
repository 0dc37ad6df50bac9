/** The learning switch: learns, forwards, floods, ages, stays bounded. */
import { describe, expect, it } from 'vitest';
import { MAC_BROADCAST } from '../src/index.js';
import { Segment, frame, mac } from './helpers.js';

const M = [mac('02:00:00:00:00:01'), mac('02:00:00:00:00:02'), mac('02:00:00:00:00:03')];
const body = new Uint8Array(46);

function three(options: ConstructorParameters<typeof Segment>[0] = {}) {
  const seg = new Segment(options);
  const ports = [seg.capture(), seg.capture(), seg.capture()];
  const counts = () => ports.map((p) => p.take().length);
  return { seg, ports, counts };
}

describe('LearningSwitch', () => {
  it('floods an unknown destination, learns the source, then forwards to the learned port only', () => {
    const { seg, ports, counts } = three();
    ports[0]!.port.send(frame(M[1]!, M[0]!, 0x0800, body));
    seg.run(0);
    expect(counts()).toEqual([0, 1, 1]);
    ports[1]!.port.send(frame(M[0]!, M[1]!, 0x0800, body)); // M0 known: port 0 only
    seg.run(0);
    expect(counts()).toEqual([1, 0, 0]);
    ports[0]!.port.send(frame(M[1]!, M[0]!, 0x0800, body)); // M1 learned from the reply
    seg.run(0);
    expect(counts()).toEqual([0, 1, 0]);
    expect(seg.sw.lookup(M[0]!)).toBe(0);
    expect(seg.sw.lookup(M[1]!)).toBe(1);
    expect(seg.sw.stats()).toMatchObject({ InFrames: 3, Flooded: 1, Forwarded: 2, Learned: 2, Entries: 2 });
  });

  it('broadcast and multicast are flooded; a destination on the sending port is filtered', () => {
    const { seg, ports, counts } = three();
    ports[0]!.port.send(frame(MAC_BROADCAST, M[0]!, 0x0806, body));
    ports[0]!.port.send(frame(mac('01:00:5e:00:00:01'), M[0]!, 0x0800, body));
    seg.run(0);
    expect(counts()).toEqual([0, 2, 2]);
    ports[0]!.port.send(frame(M[0]!, M[2]!, 0x0800, body)); // M2 learned on port 0, M0 is there too
    seg.run(0);
    expect(counts()).toEqual([0, 0, 0]);
    expect(seg.sw.stats()).toMatchObject({ Filtered: 1, Flooded: 2 });
  });

  it('forgets a station after the ageing time (virtual), then floods again', () => {
    const { seg, ports, counts } = three({ agingMs: 1000 });
    ports[1]!.port.send(frame(MAC_BROADCAST, M[1]!, 0x0806, body));
    seg.run(999);
    counts();
    ports[0]!.port.send(frame(M[1]!, M[0]!, 0x0800, body));
    seg.run(1);
    expect(counts()).toEqual([0, 1, 0]);
    ports[0]!.port.send(frame(M[1]!, M[0]!, 0x0800, body));
    seg.run(0);
    expect(counts()).toEqual([0, 1, 1]);
    expect(seg.sw.stats().Aged).toBe(1);
  });

  it('a station that moves is learned on its new port', () => {
    const { seg, ports, counts } = three();
    ports[1]!.port.send(frame(MAC_BROADCAST, M[1]!, 0x0806, body));
    ports[2]!.port.send(frame(MAC_BROADCAST, M[1]!, 0x0806, body));
    seg.run(0);
    counts();
    ports[0]!.port.send(frame(M[1]!, M[0]!, 0x0800, body));
    seg.run(0);
    expect(counts()).toEqual([0, 0, 1]);
    expect(seg.sw.stats().Moves).toBe(1);
  });

  it('bounded: a MAC flood keeps the table at tableSize (least recently seen evicted) and costs only flooding', () => {
    const { seg, ports, counts } = three({ tableSize: 8 });
    for (let i = 0; i < 1000; i++) ports[2]!.port.send(frame(M[0]!, 0x020000100000 + i, 0x0800, body));
    seg.run(0);
    expect(seg.sw.stats()).toMatchObject({ Entries: 8, Learned: 1000, Evicted: 992 });
    counts();
    // A real station still gets through (flooded, then learned again).
    ports[0]!.port.send(frame(M[1]!, M[0]!, 0x0800, body));
    seg.run(0);
    expect(counts()).toEqual([0, 1, 1]);
  });

  it('per-port queue bound: frames beyond queueLimit are dropped and counted; bad frames refused', () => {
    const { seg, ports, counts } = three({ queueLimit: 2 });
    for (let i = 0; i < 5; i++) ports[0]!.port.send(frame(MAC_BROADCAST, M[0]!, 0x0806, body));
    seg.run(0);
    expect(counts()).toEqual([0, 2, 2]);
    expect(seg.sw.stats().TxDropped).toBe(6);
    expect(ports[1]!.port.stats().RxDropped).toBe(3);
    expect(ports[0]!.port.send(new Uint8Array(13))).toBe(false);
    expect(ports[0]!.port.send(new Uint8Array(1515))).toBe(false);
    expect(seg.sw.stats().InErrors).toBe(2);
  });

  it('delivers on its own (setImmediate) by default', async () => {
    const { LearningSwitch } = await import('../src/index.js');
    const sw = new LearningSwitch();
    const a = sw.port();
    const b = sw.port();
    const got: number[] = [];
    b.setReceiver({ packet: (f) => { got.push(f.length); } });
    a.send(frame(MAC_BROADCAST, M[0]!, 0x0806, body));
    expect(got).toEqual([]);
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual([60]);
    sw.close();
  });
});

describe('LearningSwitch property', () => {
  it('arbitrary frames from arbitrary ports never throw; every accepted frame is forwarded, flooded or filtered', async () => {
    const fc = (await import('fast-check')).default;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(3), fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.tuple(fc.constantFrom(...M, MAC_BROADCAST), fc.constantFrom(...M)).map(([d, s]) => frame(d, s, 0x0800, body)))), { maxLength: 80 }),
        (sends) => {
          const seg = new Segment({ tableSize: 2, queueLimit: 8 });
          const ports = [0, 1, 2, 3].map(() => seg.capture());
          for (const [p, f] of sends) ports[p]!.port.send(f);
          seg.run(0);
          const s = seg.sw.stats();
          expect(s.InFrames).toBe(sends.length);
          expect(s.InErrors + s.Filtered + s.Forwarded + s.Flooded).toBe(s.InFrames);
          expect(s.Entries).toBeLessThanOrEqual(2);
        },
      ),
      { numRuns: 200, seed: 0x5eed },
    );
  });
});
