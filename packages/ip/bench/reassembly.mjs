// Reassembly insert rate (fragments/s): empty table vs full table, and as one datagram fills.
// Prints figures only (no pass/fail). Runs the built package: `pnpm exec tsc -b` first.
//   node packages/ip/bench/reassembly.mjs [path/to/ip/dist/index.js]
// (the optional path measures another build, e.g. an older commit's, with the same API).
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const target = process.argv[2] ? pathToFileURL(resolve(process.argv[2])).href : new URL('../dist/index.js', import.meta.url).href;
const { DEFAULT_REASSEMBLY_LIMITS, Reassembler, emitIpv4, newIpv4Counters } = await import(target);

const US = 0x0a070002;
const PEER = 0x0a070001;
const out = new Uint8Array(65535);
const scratch = new Uint8Array(20 + 1480);
const repr = {
  src: PEER, dst: US, protocol: 17, ttl: 64, tos: 0, identification: 0, dontFragment: false, moreFragments: true,
  fragmentOffset: 0, headerLength: 20, payloadLength: 0, totalLength: 0,
};

function add(r, src, id, offset, length, more, now) {
  repr.src = src;
  repr.identification = id;
  repr.fragmentOffset = offset;
  repr.payloadLength = length;
  repr.totalLength = 20 + length;
  repr.moreFragments = more;
  emitIpv4(repr, scratch, 0);
  return r.add(repr, scratch.subarray(0, 20 + length), now, out);
}

/** Fills `r` with never-completing single-fragment datagrams from many sources until its cap binds. */
function fill(r, n) {
  for (let i = 0; i < n; i++) add(r, 0x0b000000 + i, i & 0xffff, 0, 8, true, 0);
}

/** 4000-byte datagrams as 1480 + 1480 + 1040, completed: fragments/s. */
function legit(r, count) {
  const t0 = performance.now();
  let done = 0;
  for (let i = 0; i < count; i++) {
    add(r, PEER, i & 0xffff, 0, 1480, true, 1);
    add(r, PEER, i & 0xffff, 1480, 1480, true, 1);
    if (add(r, PEER, i & 0xffff, 2960, 1040, false, 1) > 0) done++;
  }
  const s = (performance.now() - t0) / 1000;
  return { rate: (3 * count) / s, done };
}

/**
 * 8-byte fragments into one datagram, every other block (never completes), in a scattered
 * order (block j * 1637 mod 4000): rate for the first `k` and the last `k` of 4000.
 */
function filling(r, k) {
  const rate = (from, to, id) => {
    const t0 = performance.now();
    for (let j = from; j < to; j++) add(r, PEER, id, ((j * 1637) % 4000) * 16, 8, true, 2);
    return (to - from) / ((performance.now() - t0) / 1000);
  };
  const per = 4000; // 4000 fragments (offsets up to 64000)
  let first = 0;
  let lastRate = 0;
  const rounds = 20;
  for (let id = 0; id < rounds; id++) {
    first += rate(0, k, 1000 + id);
    rate(k, per - k, 1000 + id);
    lastRate += rate(per - k, per, 1000 + id);
  }
  return { first: first / rounds, last: lastRate / rounds };
}

/** Tiny fragments from many sources into a full table: each one evicts (new code) or is refused (old). */
function flood(r, count) {
  const t0 = performance.now();
  for (let i = 0; i < count; i++) add(r, 0x0c000000 + i, i & 0xffff, 0, 8, true, 3);
  return count / ((performance.now() - t0) / 1000);
}

const fmt = (x) => `${Math.round(x).toLocaleString('en')}/s`;
const limits = { ...DEFAULT_REASSEMBLY_LIMITS };
// Warm up the JIT on a throw-away reassembler.
{
  const w = new Reassembler(limits, newIpv4Counters());
  fill(w, 20_000);
  legit(w, 20_000);
  filling(new Reassembler({ ...limits, maxReassemblyBytesPerSource: limits.maxReassemblyBytes }, newIpv4Counters()), 500);
}
const empty = new Reassembler(limits, newIpv4Counters());
const e = legit(empty, 100_000);
const full = new Reassembler(limits, newIpv4Counters());
fill(full, 100_000);
const heldBefore = full.datagrams;
const f = legit(full, 100_000);
const fl = flood(full, 500_000);
const one = filling(new Reassembler({ ...limits, maxReassemblyBytesPerSource: limits.maxReassemblyBytes }, newIpv4Counters()), 500);
console.log(`reassembly insert rate (${target.replace(/^file:\/\//, '')}, Node ${process.version})`);
console.log(`  4000-byte datagrams, empty table:           ${fmt(e.rate)} fragments (${e.done.toLocaleString('en')} delivered)`);
console.log(`  4000-byte datagrams, table full (${heldBefore.toLocaleString('en')} held): ${fmt(f.rate)} fragments (${f.done.toLocaleString('en')} delivered)`);
console.log(`  tiny fragments into the full table:         ${fmt(fl)}`);
console.log(`  8-byte fragments into one datagram: first 500 ${fmt(one.first)}, last 500 of 4000 ${fmt(one.last)}`);
