/**
 * Input before timers: Node runs expired timers before it polls for I/O, so
 * after a busy stretch the stack's one timer can fire while the ACK that cancels a
 * retransmission or tail-loss-probe timer already sits unread in the device. The
 * facade's timer callback therefore drains the link first (`link.pollNow()`).
 *
 * Deterministic: stack A sits behind a device-like link whose received packets wait in
 * a queue (the kernel's receive queue) until read; each stack has its own manual clock;
 * the wire moves only when pumped. A sends one segment, B acknowledges it, the ACK
 * reaches A's device queue, and then, before any readability callback, A's clock reaches
 * its retransmission deadline and its timer fires.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createLinkPair, type Link, type LinkReceiver, type LinkStats, type LinkPair } from '@netstack/tun';
import { createStack, type Clock, type Stack } from '../src/index.js';

interface Timer { at: number; fn: () => void }

/** Time moves only when the test says so. */
class ManualClock implements Clock {
  t = 0;
  readonly timers = new Set<Timer>();
  now(): number { return this.t; }
  setTimer(fn: () => void, ms: number): unknown {
    const h = { at: this.t + Math.max(0, ms), fn };
    this.timers.add(h);
    return h;
  }
  cancel(handle: unknown): void { this.timers.delete(handle as Timer); }
  nextAt(): number {
    let at = Infinity;
    for (const h of this.timers) at = Math.min(at, h.at);
    return at;
  }
  /** Advances to the earliest timer and fires what is due then; returns how many fired. */
  fireNext(): number {
    const at = this.nextAt();
    if (at === Infinity) return 0;
    this.t = Math.max(this.t, at);
    const due = [...this.timers].filter((h) => h.at <= this.t);
    for (const h of due) { this.timers.delete(h); h.fn(); }
    return due.length;
  }
}

/**
 * A device in front of a link end: what arrives waits in `queue` until read, by
 * `readable()` (what a device's poll callback does) or by `pollNow()` (Link.pollNow).
 */
class QueueingLink implements Link {
  readonly queue: Uint8Array[] = [];
  private receiver: LinkReceiver = { packet() {} };
  /** `budget`: packets per batch, as a TUN device's read budget (pollNow reads batch after batch). */
  constructor(private readonly inner: Link, private readonly budget = Infinity) {
    inner.setReceiver({ packet: (p) => void this.queue.push(p.slice()) });
  }
  get mtu(): number { return this.inner.mtu; }
  send(packet: Uint8Array): boolean { return this.inner.send(packet); }
  setReceiver(receiver: LinkReceiver): void { this.receiver = receiver; }
  stats(): LinkStats { return this.inner.stats(); }
  close(): void { this.inner.close(); }
  readable(): number {
    const batch = this.queue.splice(0, this.budget);
    for (const p of batch) this.receiver.packet(p);
    if (batch.length > 0) this.receiver.batchEnd?.();
    return batch.length;
  }
  pollNow(): number {
    let n = 0;
    while (this.queue.length > 0) n += this.readable();
    return n;
  }
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Moves packets both ways (A reading its device as its poll callback would) until quiet; bounded. */
async function settleLinks(pair: LinkPair, devA: QueueingLink): Promise<void> {
  let idle = 0;
  for (let i = 0; i < 1000 && idle < 3; i++) {
    const moved = pair.pump() + devA.readable();
    await turn();
    idle = moved === 0 && pair.pending() === 0 && devA.queue.length === 0 ? idle + 1 : 0;
  }
  expect(idle, 'the link did not go quiet').toBe(3);
}

let stacks: Stack[] = [];
let pair: LinkPair | undefined;
afterEach(async () => {
  await Promise.all(stacks.map((s) => s.close()));
  stacks = [];
  pair?.close();
  pair = undefined;
});

describe('the facade timer reads pending input before it runs protocol timers', () => {
  it('an ACK queued in the device cancels the retransmission timer that fires before the next read', async () => {
    pair = createLinkPair({ autoDeliver: false });
    const devA = new QueueingLink(pair.a);
    const clockA = new ManualClock();
    const clockB = new ManualClock();
    const a = await createStack({ link: devA, address: '10.0.0.1', clock: clockA });
    const b = await createStack({ link: pair.b, address: '10.0.0.2', clock: clockB });
    stacks = [a, b];
    b.tcp.createServer((s) => { s.on('error', () => {}); s.resume(); }).listen(9);

    const settle = (): Promise<void> => settleLinks(pair!, devA);

    const c = a.tcp.connect({ host: '10.0.0.2', port: 9 });
    c.on('error', () => {}); // afterEach's stack.close() aborts it (ECONNABORTED)
    let connected = false;
    c.once('connect', () => { connected = true; });
    await settle();
    expect(connected).toBe(true);
    const tcpA = (): { RetransSegs: number; TlpProbes: number } => a.stats().tcp as unknown as { RetransSegs: number; TlpProbes: number };
    const before = tcpA();

    // A sends one segment; B gets it and acknowledges it (its delayed ACK runs on B's own clock).
    c.write('one segment');
    for (let i = 0; i < 3; i++) await turn();
    expect(pair.pump()).toBe(1); // A's data segment to B
    for (let i = 0; i < 3; i++) await turn();
    for (let i = 0; i < 10 && pair.pending() === 0; i++) clockB.fireNext();
    expect(pair.pending()).toBe(1); // B's ACK, on the wire
    pair.pump();
    expect(devA.queue.length).toBe(1); // ... and now unread in A's device

    // A's clock reaches its earliest deadline (retransmission or tail loss probe) before A
    // reads its device: Node's timers phase comes before its poll phase.
    const deadline = clockA.nextAt();
    expect(deadline).toBeLessThan(Infinity);
    expect(clockA.fireNext()).toBe(1);

    expect(devA.queue.length).toBe(0); // the timer read the ACK first
    const after = tcpA();
    expect(after.TlpProbes - before.TlpProbes, 'tail loss probes').toBe(0);
    expect(after.RetransSegs - before.RetransSegs, 'retransmitted segments').toBe(0);
    expect(pair.pending(), 'nothing went out').toBe(0);
    expect(clockA.nextAt()).toBe(Infinity); // nothing in flight, no timer armed
    c.destroy();
  });

  it('each batch of that drain is a bracket of its own: the application runs between them, as after a readability callback', async () => {
    pair = createLinkPair({ autoDeliver: false });
    // One packet per batch: a TUN device's read budget in small.
    const devA = new QueueingLink(pair.a, 1);
    const clockA = new ManualClock();
    const clockB = new ManualClock();
    const a = await createStack({ link: devA, address: '10.0.0.1', clock: clockA });
    const b = await createStack({ link: pair.b, address: '10.0.0.2', clock: clockB });
    stacks = [a, b];
    let serverSide: import('../src/index.js').Socket | undefined;
    b.tcp.createServer((s) => { s.on('error', () => {}); s.setNoDelay(true); serverSide = s; }).listen(9);
    const settle = (): Promise<void> => settleLinks(pair!, devA);
    const c = a.tcp.connect({ host: '10.0.0.2', port: 9 });
    c.on('error', () => {});
    await settle();
    expect(serverSide).toBeDefined();
    // What A's application saw, and how many packets still waited in A's device then.
    const seen: number[] = [];
    c.on('data', (d: Buffer) => { seen.push(devA.queue.length); void d; });
    // A has data in flight (its timer armed); B sends three segments, which wait in A's device.
    c.write('x');
    for (let i = 0; i < 3; i++) await turn();
    expect(pair.pump()).toBe(1);
    for (let i = 0; i < 3; i++) await turn();
    serverSide!.write(Buffer.alloc(3 * 1460, 7));
    for (let i = 0; i < 3; i++) await turn();
    pair.pump();
    const queued = devA.queue.length;
    expect(queued).toBeGreaterThanOrEqual(3);
    // A's timer fires before any readability callback: it drains the device, one batch at a time.
    expect(clockA.fireNext()).toBe(1);
    expect(devA.queue.length).toBe(0);
    for (let i = 0; i < 3; i++) await turn();
    // 'data' is emitted on the stream's own tick, so count the bytes rather than the calls;
    // what matters is that the readable side was fed between batches: the first delivery
    // happened while packets still waited (the old single bracket fed it only at the end).
    expect(c.bytesRead).toBe(3 * 1460);
    expect(seen.length).toBeGreaterThan(0);
    expect(Math.max(...seen), `queue lengths at each 'data': ${seen.join(',')}`).toBeGreaterThan(0);
    c.destroy();
  });
});
