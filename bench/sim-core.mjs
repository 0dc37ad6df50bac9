// The simulator of `pnpm bench --sim` (bench/sim.mjs): one bulk TCP transfer between two
// TcpLayers over issue 15's impaired path, in virtual time, deterministic for a seed.
//
// What it is made of, and why so:
//  - The TcpLayer class is a parameter (`tcp`: the module namespace of a built
//    packages/tcp/dist/index.js), so the same simulator drives the current tree's TCP and
//    a baseline revision's: only the TCP differs between the two columns of the bench.
//  - The path is the project's own shaper (packages/tun/src/impair.ts, createShaper: the
//    one `netstack relay` puts between the namespaces of `bench --impaired`), one per
//    direction, each with its own seeded stream (data seed=S, ACKs seed=S+1, as the relay),
//    on @netstack/common's VirtualClock. So the specs are the very strings of bench
//    --impaired (bench/impaired-scenarios.mjs), rate limit and drop-tail queue included.
//    The shaper and the clock always come from THIS tree (`shared`), whatever TCP runs.
//  - Each segment crosses the shaper with 20 bytes in front of it standing for the IPv4
//    header (zeros: version 0, so no CE marking can apply), so the bottleneck serialises
//    1500-byte packets for 1460-byte segments, as on the real path; the receiver gets the
//    segment alone, as the IP layer hands it up. Link MTU 1500 (MSS 1460).
//  - The loop is packages/tcp/test/netsim.ts's: the earliest of the clock's next timer and
//    each layer's pollAt() runs next, network events before timers at the same instant.
//
// The application (as rack-sim.test.ts's bulk()): A connects at time 0, writes `size` bytes
// of a seeded pattern and closes; B reads, compares every byte with the pattern, closes on
// A's FIN. Throughput: size / the virtual time at which B had read the last byte (the
// handshake included), in MB/s (10^6 bytes per virtual second).
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';

const MTU = 1500;
const IP_HEADER = 20;
const PORT = 8080;
/** The pattern repeats with this period (a prime, so it never lines up with segment sizes). */
export const PERIOD = 65521;

/** Imports a built tree's module (an absolute path under `root`). */
export async function importFrom(root, rel) {
  return import(pathToFileURL(join(root, rel)).href);
}

/** The shaper and clock of a built tree (the simulator's own parts: this tree's). */
export async function loadShared(root) {
  const impair = await importFrom(root, 'packages/tun/dist/impair.js');
  const common = await importFrom(root, 'packages/common/dist/index.js');
  return { createShaper: impair.createShaper, parseImpairSpec: impair.parseImpairSpec, VirtualClock: common.VirtualClock, seededRandom: common.seededRandom };
}

/** A built tree's TCP: its packages/tcp/dist/index.js (TcpLayer and what it exports). */
export async function loadTcp(root) {
  return importFrom(root, 'packages/tcp/dist/index.js');
}

/**
 * The transfer's bytes: PERIOD seeded bytes and the first 65536 of them again, so a chunk
 * of up to 64 KiB of the stream from any offset i is block.subarray(i % PERIOD, ...): byte x
 * of the block is byte x % PERIOD (the writer and the reader cut the stream at different
 * places, so this must hold for every x).
 */
export function patternBlock(seededRandom, seed) {
  const block = new Uint8Array(PERIOD + 65536);
  const prand = seededRandom(seed ^ 0x5eed);
  for (let i = 0; i < PERIOD; i++) block[i] = Math.floor(prand() * 256);
  for (let i = PERIOD; i < block.length; i++) block[i] = block[i - PERIOD];
  return block;
}

/** RFC 1071 checksum of the TCP segment over the IPv4 pseudo-header: true when it verifies. */
function checksumVerifies(src, dst, seg) {
  let sum = ((src >>> 16) & 0xffff) + (src & 0xffff) + ((dst >>> 16) & 0xffff) + (dst & 0xffff) + 6 + seg.length;
  const n = seg.length & ~1;
  for (let i = 0; i < n; i += 2) sum += (seg[i] << 8) | seg[i + 1];
  if (seg.length & 1) sum += seg[seg.length - 1] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

/**
 * One transfer. `shared` from loadShared (this tree), `tcp` from loadTcp (any tree).
 * Options: data, ack (shaper specs without seed), seed, cc ('cubic' | 'newreno'), size
 * (bytes), limitMs (virtual-time bound: past it the transfer counts as stalled), maxEvents.
 * Returns the figures and whether the transfer was correct (ok: every byte exact, both
 * ends closed without error, nothing left armed).
 */
export function simTransfer(shared, tcp, { data, ack, seed, cc, size, limitMs = 600_000, maxEvents = 20_000_000, layerOptions = {} }) {
  const { createShaper, parseImpairSpec, VirtualClock, seededRandom } = shared;
  const clock = new VirtualClock();
  const rand = seededRandom(seed);
  const A = 0x0a000001;
  const B = 0x0a000002;
  const layers = new Map();
  let badChecksums = 0;
  let depth = 0;
  const deliver = (src, dst, packet) => {
    const seg = packet.slice(IP_HEADER);
    const l = layers.get(dst);
    if (l === undefined) return;
    const d = { src, dst, protocol: 6, ttl: 64, tos: 0, payload: seg, packet: seg, headerLength: 0, toBroadcast: false, reassembled: false };
    if (depth > 0) clock.setTimer(() => l.receive(d, clock.now()), 0); // a shaper without delay answered inside a send
    else l.receive(d, clock.now());
  };
  const shaperAt = new Map([
    [A, createShaper(parseImpairSpec(`${data},seed=${seed}`), (p) => deliver(A, B, p), { scheduler: clock })],
    [B, createShaper(parseImpairSpec(`${ack},seed=${seed + 1}`), (p) => deliver(B, A, p), { scheduler: clock })],
  ]);
  const transmit = (src, dst, packet) => {
    if (!checksumVerifies(src, dst, packet.subarray(IP_HEADER))) badChecksums++;
    depth++;
    try { shaperAt.get(src).push(packet); } finally { depth--; }
    return undefined;
  };
  const host = (addr) => {
    const ip = {
      address: addr,
      mtu: MTU,
      sourceFor: () => addr,
      pathMtu: () => MTU,
      send(dst, _p, payload) {
        const buf = new Uint8Array(IP_HEADER + payload.length);
        buf.set(payload, IP_HEADER);
        return transmit(addr, dst, buf);
      },
      sendWith(dst, _p, length, writer) {
        const buf = new Uint8Array(IP_HEADER + length);
        writer.writePayload(buf, IP_HEADER, addr, dst);
        return transmit(addr, dst, buf);
      },
      reportUnreachable() {},
    };
    const isnKey = new Uint8Array(16);
    for (let i = 0; i < 16; i++) isnKey[i] = Math.floor(rand() * 256);
    const layer = new tcp.TcpLayer(ip, { msl: 1000, maxRetries: 30, synRetries: 30, congestionControl: cc, isnKey, ...layerOptions });
    layers.set(addr, layer);
    return layer;
  };
  const la = host(A);
  const lb = host(B);

  // The data: byte i of the stream is block[i % PERIOD] (patternBlock).
  const block = patternBlock(seededRandom, seed);
  const r = { received: 0, badBytes: 0, badAt: [], doneAt: NaN, closedA: false, closedB: false, errA: undefined, errB: undefined };
  let written = 0;
  const pump = (c) => {
    while (written < size) {
      const off = written % PERIOD;
      const len = Math.min(65536, size - written);
      const k = c.write(block.subarray(off, off + len), clock.now());
      written += k;
      if (k < len) return; // onWritable follows
    }
    if (c.state === 'ESTABLISHED' || c.state === 'CLOSE-WAIT') c.close(clock.now());
  };
  const buf = new Uint8Array(65536);
  lb.listen({ port: PORT }, {
    onAcceptable: (l) => {
      while (l.accept({
        onReadable: (k) => {
          for (;;) {
            const got = k.read(buf, clock.now());
            if (got === 0) break;
            const off = r.received % PERIOD;
            if (Buffer.compare(buf.subarray(0, got), block.subarray(off, off + got)) !== 0) {
              for (let i = 0; i < got; i++) {
                if (buf[i] === block[off + i]) continue;
                if (r.badBytes++ < 8) r.badAt.push(r.received + i);
              }
            }
            r.received += got;
            if (r.received === size) r.doneAt = clock.now();
          }
        },
        onRemoteFin: (k) => { if (k.readableLength === 0) k.close(clock.now()); },
        onClosed: (_k, e) => { r.closedB = true; r.errB = e; },
      }) !== undefined) { /* accept every queued connection */ }
    },
  });
  la.connect({ remoteAddress: B, remotePort: PORT }, 0, {
    onEstablished: pump,
    onWritable: pump,
    onClosed: (_c, e) => { r.closedA = true; r.errA = e; },
  });

  // The loop (netsim.ts's): the earliest of the shapers' next release and the layers' timers.
  let events = 0;
  let stalled = false;
  for (;;) {
    if (events++ >= maxEvents) { stalled = true; break; }
    let next = clock.nextAt();
    let timerLayer;
    for (const l of layers.values()) {
      const p = l.pollAt();
      if (p < next) { next = p; timerLayer = l; }
    }
    if (next === Infinity) break;
    if (next > limitMs) { stalled = true; break; }
    clock.advanceTo(next);
    if (timerLayer !== undefined) timerLayer.poll(clock.now());
    else clock.fireDue();
  }
  const st = la.stats();
  const dataStats = shaperAt.get(A).stats();
  const ackStats = shaperAt.get(B).stats();
  for (const s of shaperAt.values()) s.close();
  const ok = !stalled && r.received === size && r.badBytes === 0 && badChecksums === 0 && r.closedA && r.closedB &&
    r.errA === undefined && r.errB === undefined && la.pollAt() === Infinity && lb.pollAt() === Infinity;
  const why = ok ? undefined
    : stalled ? `stalled at ${clock.now().toFixed(0)} ms virtual with ${r.received} of ${size} bytes read`
      : r.received !== size ? `${r.received} of ${size} bytes read`
        : r.badBytes > 0 ? `${r.badBytes} byte(s) differ from what was sent, at offsets ${r.badAt.join(', ')}${r.badBytes > 8 ? ', ...' : ''}`
          : badChecksums > 0 ? `${badChecksums} segment(s) with a bad checksum`
            : !(r.closedA && r.closedB) ? 'a connection did not close'
              : r.errA !== undefined || r.errB !== undefined ? `closed with an error: ${r.errA?.code ?? r.errA ?? ''} ${r.errB?.code ?? r.errB ?? ''}`
                : 'a timer left armed after both closed';
  return {
    ok,
    why,
    size,
    received: r.received,
    badBytes: r.badBytes,
    doneAtMs: r.doneAt,
    mbps: ok ? size / r.doneAt / 1000 : 0,
    events,
    retransSegs: st.RetransSegs ?? 0,
    outSegs: st.OutSegs ?? 0,
    /** The sender's layer counters at the end (TcpLayer.stats(): RetransTimeouts, SpuriousRecoveries, ...). */
    sender: { ...st },
    data: { lost: dataStats.Lost, queueDropped: dataStats.QueueDropped, queued: dataStats.QueuedPackets, queueDelayMeanMs: dataStats.QueuedPackets > 0 ? dataStats.QueueDelaySumMs / dataStats.QueuedPackets : 0 },
    ack: { lost: ackStats.Lost },
  };
}

/** The median of numbers (the mean of the middle two for an even count). */
export function median(xs) {
  const s = xs.slice().sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  return s.length % 2 === 1 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Every cell (scenario x congestion control x seed) for each column ({ name, tcp }), the
 * columns one after another on the same cell. `scenarios`: { key: { data, ack } }; seeds 1..N.
 * `onSample(sample)` sees each transfer as it ends. The event loop gets a turn between
 * transfers (a signal's handler can run). Resolves to the samples:
 * { scenario, cc, seed, column, ...simTransfer's result }.
 */
export async function runMatrix(shared, columns, { scenarios, ccs, seeds, size, limitMs, onSample }) {
  const samples = [];
  for (const [scenario, sc] of Object.entries(scenarios)) {
    for (const cc of ccs) {
      for (let seed = 1; seed <= seeds; seed++) {
        for (const { name, tcp, layerOptions } of columns) {
          const r = simTransfer(shared, tcp, { data: sc.data, ack: sc.ack, seed, cc, size, ...(limitMs !== undefined ? { limitMs } : {}), ...(layerOptions !== undefined ? { layerOptions } : {}) });
          const sample = { scenario, cc, seed, column: name, ...r };
          samples.push(sample);
          onSample?.(sample);
          await new Promise((res) => setImmediate(res));
        }
      }
    }
  }
  return samples;
}

/**
 * The guard's verdict per cell (scenario x cc): the median throughput over the seeds of
 * `current` and of `baseline` (a failed transfer counts as 0 MB/s), their ratio, the
 * per-seed ratios, and `pass`: every current transfer correct and ratio >= threshold.
 */
export function compare(samples, current, baseline, threshold) {
  const rows = [];
  const keyOf = (s) => `${s.scenario} ${s.cc}`;
  const cells = new Map();
  for (const s of samples) {
    let c = cells.get(keyOf(s));
    if (c === undefined) cells.set(keyOf(s), (c = { scenario: s.scenario, cc: s.cc, cur: [], base: [] }));
    if (s.column === current) c.cur.push(s);
    else if (s.column === baseline) c.base.push(s);
  }
  for (const c of cells.values()) {
    const cur = median(c.cur.map((s) => s.mbps));
    const base = median(c.base.map((s) => s.mbps));
    const bySeed = new Map(c.base.map((s) => [s.seed, s.mbps]));
    const seedRatios = c.cur.map((s) => s.mbps / (bySeed.get(s.seed) ?? NaN));
    const failures = c.cur.filter((s) => !s.ok);
    const baseFailures = c.base.filter((s) => !s.ok);
    const ratio = cur / base;
    rows.push({
      scenario: c.scenario, cc: c.cc, cur, base, ratio, seedRatios, failures, baseFailures,
      curRetrans: median(c.cur.map((s) => s.retransSegs)), baseRetrans: median(c.base.map((s) => s.retransSegs)),
      queued: [...c.cur, ...c.base].some((s) => s.data.queued > 0),
      curQueueMs: median(c.cur.map((s) => s.data.queueDelayMeanMs)), baseQueueMs: median(c.base.map((s) => s.data.queueDelayMeanMs)),
      pass: failures.length === 0 && c.cur.length > 0 && !(ratio < threshold) && !Number.isNaN(ratio),
    });
  }
  return rows;
}
