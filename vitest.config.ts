import { defineConfig } from 'vitest/config';

// Tests import workspace packages through their "source" export condition, so they
// run against src/*.ts without a build. Kernel-facing tests spawn the built CLI
// (scripts/test builds first) and live in their own project so they can run alone.
// The 'source' condition must reach vite's SSR resolver (the one node tests use),
// not only the client one, or tests silently run the last build.
const resolve = { conditions: ['source'] };
const ssr = { resolve: { conditions: ['source'], externalConditions: ['source'] } };
const unit = (name: string, include: string[]) => ({
  resolve,
  ssr,
  test: { name, include, environment: 'node' as const },
});

export default defineConfig({
  test: {
    projects: [
      unit('common', ['packages/common/test/**/*.test.ts']),
      unit('tun', ['packages/tun/test/**/*.test.ts']),
      unit('ip', ['packages/ip/test/**/*.test.ts']),
      unit('ethernet', ['packages/ethernet/test/**/*.test.ts']),
      unit('icmp', ['packages/icmp/test/**/*.test.ts']),
      unit('udp', ['packages/udp/test/**/*.test.ts']),
      unit('tcp', ['packages/tcp/test/**/*.test.ts']),
      unit('netstack', ['packages/netstack/test/**/*.test.ts']),
      unit('sim', ['test/sim/**/*.test.ts', 'test/*.test.ts']),
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
