import { configDefaults, defineConfig } from 'vitest/config';

// Tests import workspace packages through their "source" export condition, so they
// run against src/*.ts without a build. Kernel-facing tests spawn the built CLI
// (scripts/test builds first) and live in their own project so they can run alone.
// The 'source' condition must reach vite's SSR resolver (the one node tests use),
// not only the client one, or tests silently run the last build.
const resolve = { conditions: ['source'] };
const ssr = { resolve: { conditions: ['source'], externalConditions: ['source'] } };
const unit = (name: string, include: string[], exclude: string[] = []) => ({
  resolve,
  ssr,
  test: { name, include, exclude: [...configDefaults.exclude, ...exclude], environment: 'node' as const },
});
// The family-neutral trace tests again over IPv6 (test/family.ts reads `family`): the same
// files, not copies. Left out: files that are one family by nature (named beside each).
const ipv6 = (name: string, include: string[], exclude: string[]) => {
  const p = unit(name, include, exclude);
  return { ...p, test: { ...p.test, provide: { family: 6 as const } } };
};

export default defineConfig({
  test: {
    projects: [
      unit('common', ['packages/common/test/**/*.test.ts']),
      unit('tun', ['packages/tun/test/**/*.test.ts']),
      unit('host', ['packages/host/test/**/*.test.ts']),
      unit('ip', ['packages/ip/test/**/*.test.ts']),
      unit('ethernet', ['packages/ethernet/test/**/*.test.ts']),
      unit('icmp', ['packages/icmp/test/**/*.test.ts']),
      unit('udp', ['packages/udp/test/**/*.test.ts']),
      unit('tcp', ['packages/tcp/test/**/*.test.ts']),
      unit('netstack', ['packages/netstack/test/**/*.test.ts']),
      unit('wireguard', ['packages/wireguard/test/**/*.test.ts']),
      unit('sim', ['test/sim/**/*.test.ts', 'test/*.test.ts']),
      ipv6('tcp6', ['packages/tcp/test/**/*.test.ts'], [
        'packages/tcp/test/wire.test.ts', // golden bytes with IPv4 pseudo-header checksums
        'packages/tcp/test/offload.test.ts', // TSO/checksum offload: the IPv4 path (sendSegment is IPv4's)
        'packages/tcp/test/family.test.ts', // IPv6 already, with MTU 1500 (MSS 1440)
        'packages/tcp/test/ports.test.ts', // names both families itself (wildcards, IPv6 vs IPv4 binds)
        'packages/tcp/test/{ring,scoreboard,recovery}.test.ts', // no addresses: data structures, recovery on a fake host
      ]),
      ipv6('udp6', ['packages/udp/test/**/*.test.ts'], [
        'packages/udp/test/wire.test.ts', // golden bytes with IPv4 pseudo-header checksums
        'packages/udp/test/family.test.ts', // IPv6 already (zero checksum, pseudo-header)
      ]),
      ipv6('sim6', ['test/sim/**/*.test.ts'], [
        'test/sim/driver.test.ts', // the driver itself (virtual clock, determinism), not a protocol
        'test/sim/fuzz.test.ts', // hand-built IPv4 packets into one stack (ProbeLink)
      ]),
      {
        resolve,
        ssr,
        test: {
          name: 'kernel',
          include: ['test/kernel/**/*.test.ts'],
          environment: 'node' as const,
          // Each file owns a network namespace; run them one at a time so the
          // machine's 2 cores are not oversubscribed by concurrent stacks.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
