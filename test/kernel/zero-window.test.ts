/**
 * Kernel-facing: zero window, persist and the window update, with the kernel's
 * TCP as the receiver, in a private namespace made here. A kernel-side node client asks
 * the stack for GET /bytes/N and reads nothing: the kernel's receive buffer fills and it
 * advertises a zero window; the stack probes it (its counters, read live with SIGUSR2,
 * show the probes). The client then resumes: every byte must arrive exactly, and the
 * stack's capture (--pcap) shows that the probes carried no data (SEG.SEQ = SND.UNA - 1)
 * and how long the stack took from the kernel's window update to its next data segment.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcap } from '@netstack/tun';
import { Netns, repoRoot, liveStats, statsLines } from './netns.js';

const STACK = '10.7.0.2';
const N = 8_000_000;
const client = join(repoRoot, 'test/kernel/fixtures/tcp-zero-window-client.mjs');

function patternSha(n: number): string {
  const h = createHash('sha256');
  const chunk = Buffer.alloc(65536);
  for (let i = 0; i < chunk.length; i++) chunk[i] = i & 0xff;
  for (let done = 0; done < n; done += chunk.length) h.update(chunk.subarray(0, Math.min(chunk.length, n - done)));
  return h.digest('hex');
}

interface Seg { t: number; fromStack: boolean; seq: number; ack: number; flags: number; window: number; len: number }

/** The TCP segments of the connection kernel:port <-> stack:80 in a LINKTYPE_RAW capture. */
function segments(file: string, port: number): Seg[] {
  const out: Seg[] = [];
  for (const r of readPcap(readFileSync(file)).records) {
    const d = r.data;
    if (d.length < 40 || d[0]! >> 4 !== 4 || d[9] !== 6) continue;
    const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
    const ihl = (d[0]! & 15) * 4;
    const src = `${d[12]}.${d[13]}.${d[14]}.${d[15]}`;
    const sport = v.getUint16(ihl);
    const dport = v.getUint16(ihl + 2);
    const fromStack = src === STACK;
    if (fromStack ? !(sport === 80 && dport === port) : !(sport === port && dport === 80)) continue;
    const doff = (d[ihl + 12]! >> 4) * 4;
    out.push({
      t: r.timeMs, fromStack, seq: v.getUint32(ihl + 4), ack: v.getUint32(ihl + 8), flags: d[ihl + 13]!,
      window: v.getUint16(ihl + 14), len: v.getUint16(2) - ihl - doff,
    });
  }
  return out;
}

let ns: Netns | undefined;
let dir: string | undefined;
afterAll(async () => {
  await ns?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('zero window with the kernel as the receiver (RFC 9293 §3.8.6.1)', () => {
  it('the kernel application stops reading, the stack probes, the application resumes: data at once, bytes exact', { timeout: 90_000 }, async () => {
    dir = mkdtempSync(join(tmpdir(), 'netstack-zwin-'));
    const pcap = join(dir, 'zero-window.pcap');
    ns = Netns.create('zwin');
    const server = await ns.serve(['--stats', '--pcap', pcap]);
    const c = ns.spawn(process.execPath, [client, STACK, '80', String(N)]);
    let cout = '';
    let cerr = '';
    c.stdout!.setEncoding('utf8').on('data', (d: string) => { cout += d; });
    c.stderr!.setEncoding('utf8').on('data', (d: string) => { cerr += d; });
    const exited = new Promise<number | null>((r) => c.on('close', (code) => r(code)));
    for (let i = 0; i < 500 && !cout.includes('"paused"'); i++) await new Promise((r) => setTimeout(r, 10));
    expect(cout, cerr).toContain('"paused"');
    const port = JSON.parse(cout.split('\n')[0]!).port as number;

    // Until the stack's counters show three probes of the kernel's zero window (200, 600, 1400 ms).
    let probes = 0;
    for (let i = 0; i < 150 && probes < 3; i++) {
      probes = (await liveStats(server)).tcp!.WindowProbes!;
      if (probes < 3) await new Promise((r) => setTimeout(r, 100));
    }
    expect(probes).toBeGreaterThanOrEqual(3);
    // What the kernel holds for the client (ss Recv-Q): its receive buffer, full.
    const ss = ns.runSync('ss', ['-tnH', 'state', 'established', `( sport = :${port} )`]).trim().split(/\s+/);
    const queued = Number(ss[0]);
    expect(queued).toBeGreaterThan(0);

    c.stdin!.write(`resume ${queued}\n`);
    const code = await exited;
    const r = JSON.parse(cout.trim().split('\n').pop()!);
    expect(code, cerr).toBe(0);
    expect(r).toMatchObject({ status: 200, body: N, firstBad: -1, error: null, sha256: patternSha(N) });

    expect((await server.stop()).code, server.stderr).toBe(0);
    const lines = statsLines(server);
    const tcp = JSON.parse(lines[lines.length - 1]!.slice(6)).tcp as Record<string, number>;
    expect(tcp.WindowProbes).toBeGreaterThanOrEqual(probes);

    // The capture, in the stack's order of events (received segments are recorded before
    // the stack handles them). No data ever left while the kernel's last window was zero,
    // and every segment the stack sent then was a probe: a pure ACK at SND.UNA - 1.
    const segs = segments(pcap, port);
    let wnd = -1;
    let una = 0;
    let episodes = 0;
    const intoZero: Seg[] = [];
    const probeSegs: Seg[] = [];
    for (const s of segs) {
      if (!s.fromStack) {
        if (s.window === 0 && wnd !== 0) episodes++;
        wnd = s.window;
        una = s.ack;
      } else if (wnd === 0) {
        if (s.len > 0) intoZero.push(s);
        else if (s.flags === 0x10 && s.seq === ((una - 1) >>> 0)) probeSegs.push(s);
      }
    }
    expect(episodes).toBeGreaterThan(0);
    expect(intoZero, 'data sent into a zero window').toEqual([]);
    expect(probeSegs.length).toBeGreaterThanOrEqual(3);
    // The last episode's end: the kernel's window update after the resume.
    const lastZero = segs.findLastIndex((s) => !s.fromStack && s.window === 0);
    const opened = segs.findIndex((s, i) => i > lastZero && !s.fromStack && s.window > 0);
    expect(opened).toBeGreaterThan(lastZero);
    una = segs[opened]!.ack;
    const data = segs.findIndex((s, i) => i > opened && s.fromStack && s.len > 0);
    expect(data).toBeGreaterThan(opened);
    expect(segs[data]!.seq).toBe(una); // from SND.UNA
    const openToData = segs[data]!.t - segs[opened]!.t;
    const gaps = probeSegs.map((s, i) => (i === 0 ? 0 : s.t - probeSegs[i - 1]!.t)).slice(1).map((x) => Math.round(x));
    console.log(`zero window: ${episodes} episode(s), ${probeSegs.length} probes in the capture (gaps ${gaps.join(', ')} ms), counters WindowProbes ${tcp.WindowProbes}; ` +
      `kernel queue at resume ${queued} B; window open -> stack data ${openToData.toFixed(3)} ms (capture); ` +
      `client: resume -> first byte beyond the queue ${r.msBeyondQueued} ms, ${N} B done in ${r.msEnd} ms`);
    expect(openToData).toBeLessThan(150); // at once: not an RTO (200 ms floor) nor a probe interval (load on a shared machine aside)
  });
});
