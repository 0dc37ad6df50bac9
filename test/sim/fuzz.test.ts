/**
 * The fuzzer in CI (`pnpm fuzz` runs the same thing with 10^6 packets): 10^5 packets into
 * a stack with every `netstack serve` service on, then the pass criteria of fuzz.ts:
 * nothing escapes, every received packet is explained by a counter, the stack is empty
 * and its memory flat at the quiet points, and ping/UDP/TCP/HTTP still work byte-exactly.
 * A failure prints the reproduction command (seed and count) and the packets that threw.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { runFuzz } from '@netstack/netstack/fuzz';
import { checkAccounting, createProbeLink, createStack } from '@netstack/netstack';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const SEED = Number(process.env['FUZZ_SEED'] ?? 20261207) >>> 0;
const COUNT = Number(process.env['FUZZ_COUNT'] ?? 100_000);

describe('fuzz', () => {
  it(`${COUNT} packets (seed ${SEED}): nothing escapes, every drop counted, memory flat, services byte-exact`, async () => {
    const res = await runFuzz({ seed: SEED, count: COUNT, gc });
    const report = [
      `reproduce: ${res.reproduce} (or FUZZ_SEED=${SEED} FUZZ_COUNT=${COUNT} pnpm exec vitest run test/sim/fuzz.test.ts)`,
      `${res.packetsPerSecond} packets/s; quiet points: ${res.quiet.map((q) => `${q.packets}: ${((q.heapUsed + q.arrayBuffers) / 1048576).toFixed(2)} MiB, ${q.connections} connections`).join('; ')}`,
      ...res.failures,
      ...res.escapes.map((e) => `#${e.index} ${e.where}: ${e.error}\n${e.packetHex}`),
    ].join('\n');
    console.log(report.split('\n').slice(0, 2).join('\n'));
    expect(res.injected).toBe(COUNT);
    expect(res.quiet.length).toBe(2);
    expect(res.checks.map((c) => c.name)).toHaveLength(9);
    expect(res.failures, report).toEqual([]);
  }, 120_000);

  it('checkAccounting finds a packet that went missing', async () => {
    // The identity must be able to fail: take a real stack's counters and lose one datagram.
    const probe = createProbeLink();
    const stack = await createStack({ link: probe.link, address: '10.0.0.2' });
    const sock = stack.udp.createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(7, resolve));
    // 10.0.0.9:5000 -> 10.0.0.2:7, "ping".
    probe.inject(Uint8Array.from(Buffer.from('4500002000010000401166c20a0000090a00000213880007000cf96b70696e67', 'hex')));
    const stats = stack.stats();
    expect(checkAccounting(stats).violations).toEqual([]);
    expect(stats['udp']!['InReceives']).toBe(1);
    stats['udp']!['InDelivers']!--;
    expect(checkAccounting(stats).violations).toEqual([
      'udp receive: 1 != 0 (InReceives = InDelivers + InCsumErrors + InHdrErrors + NoPorts + IgnoredMulti + RcvbufDrops + ForeignDrops + FlowRefused + FlowTableFull + FlowMemoryDrops + FlowRcvbufErrors)',
    ]);
    sock.close();
    await stack.close();
  });
});
