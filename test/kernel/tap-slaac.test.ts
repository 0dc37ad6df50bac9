/**
 * Kernel-facing, TAP + SLAAC + DAD (issue 13): two stacks with address ['10.x.0.2', 'slaac']
 * on TAP devices in a private namespace, a real router on the kernel side (radvd from
 * Debian, installed when missing) advertising fd07::/64 and fd08::/64. The fixture
 * (fixtures/tap-slaac.mjs) prints what happened.
 *
 * Proven (each can fail): A forms fd07::EUI-64 of its MAC from the RA after DAD and takes
 * radvd's link-local address (the kernel's, as `ip addr` shows it) as its default router;
 * the kernel reaches that address (ping, its neighbour table holds A's MAC for it), A reaches
 * the kernel on-link and an address off its prefix (fd99::1, through the router). B's
 * would-be address is already the kernel's: B's DAD probe is answered by the kernel, B
 * reports 'addressConflict' (phase 'probe', the kernel side's MAC) and serves only its
 * link-local address. A's router also advertises MTU 1400 and Cur Hop Limit 37 (RFC 4861
 * §6.3.4): the kernel sees A's replies with hop limit 37, and a 1448-byte reply arrives as
 * fragments the kernel reassembles (it would fit the TAP's 1500 whole).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Netns, repoRoot, statCount, statsLines, type Stats } from './netns.js';

let ns: Netns;

function ensureRadvd(): void {
  if (spawnSync('sh', ['-c', 'command -v radvd']).status === 0) return;
  if (process.getuid?.() !== 0) throw new Error('radvd is missing: apt-get install -y radvd');
  const r = spawnSync('sh', ['-c', 'apt-get install -y -qq radvd || (apt-get update -qq && apt-get install -y -qq radvd)'], {
    encoding: 'utf8', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (r.status !== 0) throw new Error(`apt-get install radvd failed: ${r.stderr}`);
}

beforeAll(() => {
  ensureRadvd();
  ns = Netns.create('tapslaac');
}, 360_000);

afterAll(async () => {
  await ns?.close();
});

describe('SLAAC and DAD over TAP against radvd (private namespace)', () => {
  it('A gets fd07::EUI-64 and the router from the RA; B\'s DAD finds its address taken by the kernel', async () => {
    const r = await ns.run(process.execPath, [join(repoRoot, 'test/kernel/fixtures/tap-slaac.mjs')], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout.trim());
    expect(o.error, `${o.error}\nradvd: ${o.radvdLog}`).toBeUndefined();
    expect(o.linkInfoA).toMatchObject({ type: 'tap', mac: '02:00:00:00:0f:02', slaac: true });
    // Before any RA: the link-local address of the MAC (02 → 00: the U/L bit, RFC 4291 §2.5.1).
    expect(o.initialA).toEqual(['fe80::ff:fe00:f02']);
    expect(o.changeA.addresses).toEqual(['fe80::ff:fe00:f02', 'fd07::ff:fe00:f02']);
    expect(o.addressesA).toEqual(['fe80::ff:fe00:f02', 'fd07::ff:fe00:f02']);
    // The default router is radvd's source: the kernel side's link-local address.
    expect(o.kernelLinkLocal).toMatch(/^fe80::/);
    expect(o.changeA.gateway).toBe(o.kernelLinkLocal);
    expect(o.kernelPingsA).toBe('3');
    // RFC 4861 §6.3.4: the RA's Cur Hop Limit (37) and MTU (1400, below the TAP's 1500) applied.
    expect(o.replyHopLimits).toEqual([37]);
    expect(o.bigPingA).toBe('1');
    expect(o.kernelReassembled).toBe(1);
    expect(o.ethA.RaMtuIgnored).toBe(0);
    expect(o.kernelNeigh).toMatch(/fd07::ff:fe00:f02 lladdr 02:00:00:00:0f:02 (REACHABLE|STALE|DELAY)/);
    expect(o.aPingsKernel).toBe('ok');
    expect(o.aPingsOffLink).toBe('ok');
    expect(o.ethA['addr6.SlaacAdded']).toBe(1);
    expect(o.ethA['addr6.DadSucceeded']).toBe(2); // link-local and fd07::…
    expect(o.ethA['addr6.DadDuplicates']).toBe(0);
    expect(o.ethA.NdpOutDadProbes).toBe(2);
    expect(o.ethA.NdpInRouterAdverts).toBeGreaterThanOrEqual(1);
    // B: the kernel answered the probe for fd08::ff:fe00:f03 (its own, added beforehand).
    expect(o.conflictB).toEqual({ address: 'fd08::ff:fe00:f03', mac: o.kernelMac, phase: 'probe', defended: false });
    expect(o.addressesB).toEqual(['fe80::ff:fe00:f03']);
    expect(o.ethB['addr6.DadDuplicates']).toBe(1);
  }, 150_000);

  it('netstack serve --tap --slaac: ready with the link-local address, the RA\'s address said on stderr; the kernel pings it and the stack answered', async () => {
    const server = await ns.serve(['--tap', '--tap-name', 'tapsv', '--mac', '02:00:00:00:0e:02', '--slaac', '--stats']);
    const dir = mkdtempSync(join(tmpdir(), 'netstack-radvd-'));
    try {
      // Ready at once, with the link-local address of the MAC (no static fd07::2).
      expect(server.stdout).toMatch(/ready on tapsv: kernel 10\.7\.0\.1\/24 fd07::1\/64, stack 10\.7\.0\.2 fe80::ff:fe00:e02,/);
      const conf = join(dir, 'radvd.conf');
      writeFileSync(conf, 'interface tapsv {\n  AdvSendAdvert on;\n  MinRtrAdvInterval 3;\n  MaxRtrAdvInterval 4;\n  prefix fd07::/64 { AdvOnLink on; AdvAutonomous on; };\n};\n');
      ns.spawn('radvd', ['-n', '-C', conf, '-p', join(dir, 'radvd.pid'), '-m', 'stderr']);
      const line = await server.waitFor(/netstack: ipv6 (.*fd07::ff:fe00:e02.*) router (fe80::\S+)/, 30_000, 'stderr');
      expect(line[1]!.split(' ')).toEqual(['fe80::ff:fe00:e02', 'fd07::ff:fe00:e02']);
      const ping = await ns.run('ping', ['-6', '-c', '3', '-i', '0.2', '-W', '2', 'fd07::ff:fe00:e02']);
      expect(ping.stdout).toMatch(/3 received/);
      const { code } = await server.stop();
      expect(code, server.stderr).toBe(0);
      const stats = JSON.parse(statsLines(server).at(-1)!.slice(6)) as Stats;
      // The stack answered the echoes (only it holds fd07::ff:fe00:e02), and took the RA.
      expect(statCount(stats, 'icmp6', 'Icmp6InEchos')).toBeGreaterThanOrEqual(3);
      expect(statCount(stats, 'icmp6', 'Icmp6OutEchoReplies')).toBeGreaterThanOrEqual(3);
      expect(statCount(stats, 'eth', 'addr6.SlaacAdded')).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('--slaac usage: needs --tap; contradicts --addr6 and --no-ipv6', async () => {
    for (const [args, msg] of [
      [['--slaac'], /--slaac needs --tap/],
      [['--tap', '--slaac', '--addr6', 'fd07::2'], /--slaac contradicts --addr6/],
      [['--tap', '--slaac', '--no-ipv6'], /--slaac contradicts --no-ipv6/],
    ] as const) {
      const r = await ns.run(process.execPath, [join(repoRoot, 'packages/netstack/bin/netstack.js'), 'serve', ...args]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(msg);
      expect(ns.links()).toEqual(['lo']);
    }
  });
});
