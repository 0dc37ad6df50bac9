import { describe, expect, it } from 'vitest';
import { EventQueue, type Notifiable } from '../src/events.js';

/** A target that logs its name when notified, and may run `then` (user code calling back into the queue). */
function target(log: string[], name: string, then?: () => void): Notifiable {
  return { notifyQueued: false, notify: () => { log.push(name); then?.(); } };
}

describe('EventQueue', () => {
  it('runs posts in order, once each, across many hold/release brackets (its slots reused)', () => {
    const q = new EventQueue();
    const log: string[] = [];
    for (let round = 0; round < 5; round++) {
      const n = 3 + (round % 3) * 2; // 3, 5, 7, 3, 5: a longer round, then shorter ones in the same slots
      const ts = Array.from({ length: n }, (_, i) => target(log, `${round}.${i}`));
      q.hold();
      for (const t of ts) { q.post(t); q.post(t); } // posted twice: queued once
      expect(q.length).toBe(n);
      expect(log).toEqual([]);
      q.release();
      expect(q.length).toBe(0);
      expect(log).toEqual(ts.map((_, i) => `${round}.${i}`));
      expect(ts.every((t) => !t.notifyQueued)).toBe(true);
      log.length = 0;
    }
  });

  it('runs what a notification posts after what was queued before it (FIFO), a hold inside one included', () => {
    const q = new EventQueue();
    const log: string[] = [];
    const late = target(log, 'late');
    const inner = target(log, 'inner');
    const a = target(log, 'a', () => q.post(late));
    const b = target(log, 'b', () => { q.hold(); q.post(inner); expect(log).not.toContain('inner'); q.release(); });
    const c = target(log, 'c');
    q.hold();
    q.post(a);
    q.post(b);
    q.post(c);
    q.release();
    expect(log).toEqual(['a', 'b', 'c', 'late', 'inner']); // FIFO: the inner post went behind 'late'
    // Outside a hold a post runs at once, in the emptied queue.
    q.post(target(log, 'now'));
    expect(log.at(-1)).toBe('now');
    expect(q.length).toBe(0);
  });

  it('a burst larger than the kept array, then small rounds: order and length stay right', () => {
    const q = new EventQueue();
    const log: number[] = [];
    const make = (i: number): Notifiable => ({ notifyQueued: false, notify: () => { log.push(i); } });
    q.hold();
    for (let i = 0; i < 5000; i++) q.post(make(i));
    expect(q.length).toBe(5000);
    q.release();
    expect(log).toHaveLength(5000);
    expect(log.every((v, i) => v === i)).toBe(true);
    log.length = 0;
    q.hold();
    for (let i = 0; i < 3; i++) q.post(make(i));
    expect(q.length).toBe(3);
    q.release();
    expect(log).toEqual([0, 1, 2]);
  });

  it('posts that keep coming while it drains (more than 4096) all run, in order', () => {
    const q = new EventQueue();
    const log: number[] = [];
    let next = 0;
    const make = (i: number): Notifiable => ({ notifyQueued: false, notify: () => { log.push(i); if (next < 10_000) q.post(make(next++)); } });
    q.hold();
    for (; next < 10; next++) q.post(make(next));
    q.release();
    expect(log).toHaveLength(10_000);
    expect(log.every((v, i) => v === i)).toBe(true);
    expect(q.length).toBe(0);
  });
});
