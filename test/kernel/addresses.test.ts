/**
 * The stack's addresses against the kernel (issue 11, "Addresses"), each in a private
 * namespace (Netns.create; never the machine's own), on createStack's options through
 * fixtures/stack-serve.mjs (`netstack serve`'s services on the stack):
 * - several IPv4 addresses (['10.7.0.2', '10.7.0.3', 'fd07::2']): the kernel's ping and
 *   curl reach each, the replies come from the address asked (ping prints it; curl's TCP
 *   would not connect otherwise), and the stack's counters (SIGUSR2) count each;
 * - an IPv6-only stack ('fd07::2' with kernelAddress ['fd07::1/64']): ping -6 and curl
 *   over IPv6 work, the IPv4 layer receives and sends nothing.
 * Every wait is bounded (ping -c/-W, curl -m, run timeouts).
 */
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Netns, Server, cli, liveStats, repoRoot, statCount as n } from './netns.js';

const FIXTURE = resolve(repoRoot, 'test/kernel/fixtures/stack-serve.mjs');

let ns: Netns | undefined;
let server: Server | undefined;
afterEach(async () => {
  if (server !== undefined && server.child.exitCode === null) await server.stop();
  await ns?.close();
  ns = undefined;
  server = undefined;
});

async function start(options: object): Promise<{ ns: Netns; server: Server; info: { address: string; addresses4: string[]; addresses6: string[] } }> {
  ns = Netns.create('addr');
  ns.setIpv6Disabled(false);
  server = new Server(ns.spawn(process.execPath, [FIXTURE, JSON.stringify(options)]));
  const m = await server.waitFor(/ready (.*)\n/, 20_000);
  return { ns, server, info: JSON.parse(m[1]!) as { address: string; addresses4: string[]; addresses6: string[] } };
}

async function ping(ns: Netns, host: string, six = false): Promise<string> {
  const r = await ns.run('ping', [...(six ? ['-6'] : []), '-c', '2', '-i', '0.2', '-W', '2', host], { timeoutMs: 15_000 });
  expect(r.code, `ping ${host}: ${r.stdout} ${r.stderr}`).toBe(0);
  return r.stdout;
}

async function curl(ns: Netns, url: string): Promise<string> {
  const r = await ns.run('curl', ['-sS', '-g', '-m', '20', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{remote_ip}', url], { timeoutMs: 30_000 });
  expect(r.code, `curl ${url}: ${r.stderr}`).toBe(0);
  return r.stdout.trim();
}

describe('several IPv4 addresses on a tun', () => {
  it('the kernel pings and fetches from 10.7.0.2 and 10.7.0.3; each answers from itself; counted', async () => {
    const { ns, server, info } = await start({ address: ['10.7.0.2', '10.7.0.3', 'fd07::2'], tun: { kernelAddress: ['10.7.0.1/24', 'fd07::1/64'] } });
    expect(info).toMatchObject({ address: '10.7.0.2', addresses4: ['10.7.0.2', '10.7.0.3'], addresses6: ['fd07::2'] });
    const before = await liveStats(server);
    for (const host of ['10.7.0.2', '10.7.0.3']) {
      const out = await ping(ns, host);
      expect(out.match(new RegExp(`bytes from ${host.replace(/\./g, '\\.')}:`, 'g'))).toHaveLength(2);
    }
    expect(await curl(ns, 'http://10.7.0.3/bytes/100000')).toBe('200 100000 10.7.0.3');
    expect(await curl(ns, 'http://10.7.0.2/bytes/100000')).toBe('200 100000 10.7.0.2');
    expect(await curl(ns, 'http://[fd07::2]/bytes/1000')).toBe('200 1000 fd07::2');
    // A third address the stack does not have: the kernel's ping goes unanswered, the stack counts it.
    const none = await ns.run('ping', ['-c', '1', '-W', '1', '10.7.0.4'], { timeoutMs: 10_000 });
    expect(none.code).not.toBe(0);
    const after = await liveStats(server);
    const d = (layer: string, key: string): number => n(after, layer, key) - n(before, layer, key);
    expect(d('icmp', 'InEchos')).toBe(4);
    expect(d('icmp', 'OutEchoReps')).toBe(4);
    expect(d('tcp', 'PassiveOpens')).toBe(3);
    expect(d('ip', 'dropped.InNotForUs')).toBeGreaterThanOrEqual(1);
    expect(n(after, 'stack', 'InternalErrors')).toBe(0);
    expect((await server.stop()).code).toBe(0);
  }, 60_000);
});

describe('an IPv6-only stack on a tun', () => {
  it("'fd07::2' with kernelAddress ['fd07::1/64']: ping -6 and curl over IPv6; the IPv4 layer sees nothing", async () => {
    const { ns, server, info } = await start({ address: 'fd07::2', tun: { kernelAddress: ['fd07::1/64'] } });
    expect(info).toMatchObject({ address: 'fd07::2', addresses4: [], addresses6: ['fd07::2'], link: { kernelAddress: '', kernelAddress6: ['fd07::1/64'] } });
    // The kernel side has no IPv4 address on the device.
    expect(ns.runSync('ip', ['-4', '-o', 'addr', 'show']).trim().split('\n').filter((l) => !/ lo /.test(l))).toEqual([]);
    const before = await liveStats(server);
    const out = await ping(ns, 'fd07::2', true);
    expect(out.match(/bytes from fd07::2:/g)).toHaveLength(2);
    expect(await curl(ns, 'http://[fd07::2]/bytes/200000')).toBe('200 200000 fd07::2');
    const after = await liveStats(server);
    const d = (layer: string, key: string): number => n(after, layer, key) - n(before, layer, key);
    expect(d('icmp6', 'Icmp6InEchos')).toBe(2);
    expect(d('tcp', 'PassiveOpens')).toBe(1);
    expect(d('ip6', 'Ip6InDelivers')).toBeGreaterThan(10);
    // Nothing over IPv4, either way.
    expect(n(after, 'ip', 'InDelivers')).toBe(0);
    expect(n(after, 'ip', 'OutRequests')).toBe(0);
    expect(n(after, 'stack', 'InternalErrors')).toBe(0);
    expect((await server.stop()).code).toBe(0);
  }, 60_000);
});

describe('netstack serve: --addr repeated, --no-ipv4', () => {
  it('--addr 10.7.0.2 --addr 10.7.0.3: both served (ping from each); the ready line names both', async () => {
    ns = Netns.create('addrcli');
    ns.setIpv6Disabled(false);
    server = await ns.serve(['--addr', '10.7.0.2', '--addr', '10.7.0.3', '--stats']);
    expect(server.stdout).toMatch(/ready on tun0: kernel 10\.7\.0\.1\/24 fd07::1\/64, stack 10\.7\.0\.2 10\.7\.0\.3 fd07::2,/);
    expect((await ping(ns, '10.7.0.3')).match(/bytes from 10\.7\.0\.3:/g)).toHaveLength(2);
    expect(await curl(ns, 'http://10.7.0.3/bytes/1000')).toBe('200 1000 10.7.0.3');
    const s = await liveStats(server);
    expect(n(s, 'icmp', 'InEchos')).toBe(2);
  }, 60_000);

  it('--no-ipv4: IPv6 only, the kernel side without IPv4; ping -6 and curl', async () => {
    ns = Netns.create('addrcli6');
    ns.setIpv6Disabled(false);
    server = await ns.serve(['--no-ipv4', '--stats']);
    expect(server.stdout).toMatch(/ready on tun0: kernel fd07::1\/64, stack fd07::2,/);
    expect((await ping(ns, 'fd07::2', true)).match(/bytes from fd07::2:/g)).toHaveLength(2);
    expect(await curl(ns, 'http://[fd07::2]/bytes/1000')).toBe('200 1000 fd07::2');
    const s = await liveStats(server);
    expect(n(s, 'icmp6', 'Icmp6InEchos')).toBe(2);
    expect(n(s, 'ip', 'InDelivers')).toBe(0);
  }, 60_000);

  it('--no-ipv4 beside --addr, --kernel-addr or --no-ipv6 is a usage error (exit 2, before anything opens)', async () => {
    ns = Netns.create('addrcli-err');
    for (const [args, flag] of [[['--addr', '10.7.0.2'], '--addr'], [['--kernel-addr', '10.7.0.1/24'], '--kernel-addr'], [['--no-ipv6'], '--no-ipv6']] as const) {
      const r = await ns.run(process.execPath, [cli, 'serve', '--no-ipv4', ...args], { timeoutMs: 15_000 });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.split('\n')[0]).toMatch(new RegExp(`^netstack serve: --no-ipv4 contradicts ${flag}\\b`));
    }
    expect(ns.links()).toEqual(['lo']);
  }, 60_000);
});

describe('an IPv6-only stack where the namespace has IPv6 off', () => {
  it('createStack fails with EAFNOSUPPORT and leaves no device; serve --no-ipv4 exits 1 with one line', async () => {
    ns = Netns.create('addr-noip6');
    ns.setIpv6Disabled(true);
    server = new Server(ns.spawn(process.execPath, ['-e', `
      import('${resolve(repoRoot, 'packages/netstack/dist/index.js')}').then(({ createStack }) => createStack({ address: 'fd07::2', tun: {} }))
        .then(() => console.log('created'), (e) => console.log('failed', e.code, e.option, e.message));
    `]));
    const m = await server.waitFor(/(created|failed .*)\n/, 20_000);
    expect(m[1]).toMatch(/^failed EAFNOSUPPORT address an IPv6-only stack cannot run here: IPv6 is disabled .*disable_ipv6/); // not 'iPv6'
    await server.exited;
    expect(ns.links()).toEqual(['lo']);
    const r = await ns.run(process.execPath, [cli, 'serve', '--no-ipv4'], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^netstack serve: an IPv6-only stack cannot run here: IPv6 is disabled .* \(EAFNOSUPPORT\)\n$/);
    expect(ns.links()).toEqual(['lo']);
  }, 60_000);
});
