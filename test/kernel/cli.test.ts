/**
 * Kernel-facing: the `netstack` command line as a user
 * meets it. Exit status 2 and one line naming the flag for a usage mistake, 1 and one
 * line for a runtime failure, at once; `--version`; `--help` of every command lists
 * every flag with its default; a failed `createStack` leaves no device behind and no
 * handle keeping the process alive. Every command runs in a private namespace, so a
 * regression that opened a device could not touch the machine's own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { commandOptions } from '@netstack/netstack/cli';
import { Netns, Server, cli, repoRoot } from './netns.js';

let ns: Netns;

beforeAll(() => {
  ns = Netns.create('cli');
});

afterAll(async () => {
  await ns?.close();
});

interface Timed { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

/** `netstack ARGS` in the namespace; killed after 10 s (the assertions want far less). */
async function netstack(args: string[]): Promise<Timed> {
  const t0 = performance.now();
  const r = await ns.run(process.execPath, [cli, ...args], { timeoutMs: 10_000 });
  return { ...r, ms: performance.now() - t0 };
}

/** One line on stderr, nothing on stdout, the given status, and promptly (node's start-up included). */
function expectOneLine(r: Timed, code: number, line: RegExp): void {
  expect(r.signal, r.stderr).toBeNull();
  expect(r.code, r.stderr).toBe(code);
  expect(r.stderr.endsWith('\n') && r.stderr.split('\n').length === 2, JSON.stringify(r.stderr)).toBe(true);
  expect(r.stderr).toMatch(line);
  expect(r.stdout).toBe('');
  expect(r.ms).toBeLessThan(5000);
}

describe('usage, version and help', () => {
  it('no arguments: the usage on stderr, exit 2', async () => {
    const r = await netstack([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^netstack: a userspace TCP\/IP stack/);
    expect(r.stderr).toMatch(/Usage: netstack <command>/);
  });

  it('--version prints the package version, exit 0', async () => {
    const { version } = JSON.parse(readFileSync(join(repoRoot, 'packages/netstack/package.json'), 'utf8')) as { version: string };
    const r = await netstack(['--version']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`netstack ${version}\n`);
  });

  it('netstack help CMD is CMD --help', async () => {
    const [a, b] = await Promise.all([netstack(['help', 'ping']), netstack(['ping', '--help'])]);
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/^Usage: netstack ping/);
    expect(a.stdout).toBe(b.stdout);
  });

  for (const cmd of Object.keys(commandOptions)) {
    it(`${cmd} --help lists every flag with its default`, async () => {
      const r = await netstack([cmd, '--help']);
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stdout.split('\n');
      for (const [name, opt] of Object.entries(commandOptions[cmd]!)) {
        // The flag's entry: its line, and the continuation lines up to the next flag.
        const start = lines.findIndex((l) => new RegExp(`^  (-\\w, )?--${name}\\b`).test(l));
        expect(start, `${cmd} --help does not list --${name}`).toBeGreaterThanOrEqual(0);
        if (opt.short !== undefined) expect(lines[start]).toContain(`-${opt.short}, --${name}`);
        let end = start + 1;
        while (end < lines.length && /^ {6,}\S/.test(lines[end]!)) end++;
        const entry = lines.slice(start, end).join(' ');
        if (name === 'help') continue;
        expect(entry, `--${name} in ${cmd} --help`).toMatch(/\(default/);
        if (typeof opt.default === 'string' && name !== 'pcap-max-bytes') expect(entry, `--${name} in ${cmd} --help`).toContain(`default ${opt.default}`);
      }
    });
  }
});

describe('usage errors: exit 2 and one line naming the flag typed, before anything is opened', () => {
  const cases: Array<[string[], RegExp]> = [
    [['ping', '-c', '0'], /^netstack ping: -c must be an integer in 1\.\.1000000, got '0'/],
    [['ping', '-c', '1', 'web.internal'], /^netstack ping: HOST must be an IPv4 or IPv6 address \(or a name, with --dns\), got 'web.internal'/],
    [['ping', '-c', '1', '--dns', 'nine', 'web.internal'], /^netstack ping: --dns must be an IPv4 address\[:port\], an IPv6 address \(\[addr\]:port\) or 'host', got 'nine'/],
    [['ping', '-W', 'soon'], /^netstack ping: -W must be a number/],
    [['serve', '--mtu', '5'], /^netstack serve: --mtu must be an integer in 68\.\.65535, got '5'/],
    [['serve', '--addr', 'ten'], /^netstack serve: --addr must be an IPv4 address, got 'ten'/],
    [['serve', '--frobnicate'], /^netstack serve: unknown option '--frobnicate'/],
    [['serve', '--ecn', 'maybe'], /^netstack serve: --ecn must be on, passive or off/],
    [['fetch'], /^netstack fetch: fetch takes one URL, got 0/],
    [['fetch', 'ftp://10.7.0.1/'], /^netstack fetch: only http:\/\/ URLs/],
    [['fetch', '-6', 'http://10.7.0.1/'], /^netstack fetch: with -6 or --addr6, the URL's host must be an IPv6 address or a name, got '10\.7\.0\.1'/],
    [['fetch', '--kernel-addr6', 'fd07::1/64', 'http://10.7.0.1/'], /^netstack fetch: --kernel-addr6 needs -6, --addr6 or an IPv6 URL/],
    [['fetch', '--addr6', 'ten', 'http://[fd07::1]/'], /^netstack fetch: --addr6 must be an IPv6 address, got 'ten'/],
    [['ping', '-6', '-c', '1', '10.7.0.1'], /^netstack ping: with -6 or --addr6, HOST must be an IPv6 address or a name, got '10\.7\.0\.1'/],
    [['ping', '-6', '-c', '1', 'web.internal'], /^netstack ping: HOST must be an IPv4 or IPv6 address \(or a name, with --dns\), got 'web.internal'/],
    [['frobnicate'], /^netstack frobnicate: unknown command 'frobnicate'/],
    [['help', 'frobnicate'], /^netstack help: no command 'frobnicate'/],
  ];
  for (const [args, line] of cases) {
    it(`netstack ${args.join(' ')}`, async () => {
      const r = await netstack(args);
      expectOneLine(r, 2, line);
      expect(r.stderr).not.toMatch(/options\./);
      expect(ns.links()).toEqual(['lo']);
    });
  }
});

/**
 * `ip -o monitor link` in the namespace, synchronised before use: the monitor has
 * started once it reports a change we make to lo (its MTU, set twice).
 */
async function linkMonitor(): Promise<{ child: ChildProcess; text: () => string }> {
  const child = ns.spawn('ip', ['-o', 'monitor', 'link']);
  let text = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { text += d; });
  // Each step changes the MTU (a set to the same value makes no event).
  for (let i = 0; i < 50 && !/: lo: .*mtu 6553[45]/.test(text); i++) {
    ns.runSync('ip', ['link', 'set', 'lo', 'mtu', i % 2 === 0 ? '65535' : '65534']);
    await new Promise<void>((r) => { child.stdout!.once('data', () => r()); setTimeout(r, 100); });
  }
  ns.runSync('ip', ['link', 'set', 'lo', 'mtu', '65536']);
  expect(text).toMatch(/: lo: .*mtu 6553[45]/);
  return { child, text: () => text };
}

describe('createStack fails after the device was opened: one line, at once, the device gone', () => {
  const cases: Array<[string, string[], number, RegExp]> = [
    ['an address outside the kernel subnet', ['serve', '--addr', '10.9.0.2'], 2, /^netstack serve: --addr 10\.9\.0\.2 is outside the kernel side's subnet 10\.7\.0\.0\/24 \(--kernel-addr 10\.7\.0\.1\/24\)/],
    ['a bad --impair spec', ['serve', '--impair', 'loss=200%'], 2, /^netstack serve: --impair 'loss=200%': bad impairment loss '200%'/],
    ['an unwritable --pcap', ['serve', '--pcap', '/nonexistent-netstack-dir/x.pcap'], 1, /^netstack serve: --pcap \/nonexistent-netstack-dir\/x\.pcap: cannot write the capture \(ENOENT\)/],
    ['ping with an unwritable --pcap', ['ping', '-c', '1', '--pcap', '/nonexistent-netstack-dir/x.pcap'], 1, /^netstack ping: --pcap .*cannot write the capture \(ENOENT\)/],
  ];
  for (const [what, args, code, line] of cases) {
    it(`${what}: exit ${code}`, async () => {
      const monitor = await linkMonitor();
      try {
        const r = await netstack(args);
        expectOneLine(r, code, line);
        expect(r.stderr).not.toMatch(/options\./);
        // Either the failure came after the device existed (so its removal is what is
        // tested), or createStack found it before opening anything (the address and the
        // impairment spec are checked first): either way, no device is left.
        if (what.includes('--pcap')) expect(monitor.text()).toMatch(/^\d+: tun0:/m);
        expect(ns.links()).toEqual(['lo']);
      } finally {
        monitor.child.kill('SIGTERM');
      }
    });
  }

  it('serve still runs and exits 0 on SIGINT after all that', async () => {
    const server = await ns.serve();
    const { code } = await new Promise<{ code: number | null }>((r) => {
      server.child.once('exit', (c) => r({ code: c }));
      server.child.kill('SIGINT');
    });
    expect(code, server.stderr).toBe(0);
    expect(ns.links()).toEqual(['lo']);
  });
});

describe('ping stops on a signal (signals.ts, the CLI\'s policy)', () => {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it(`ping -c 1000 -i 0.2: ${sig} after the first reply prints the summary, exits 0, the device gone`, async () => {
      const p = new Server(ns.spawn(process.execPath, [cli, 'ping', '-c', '1000', '-i', '0.2']));
      try {
        await p.waitFor(/bytes from 10\.7\.0\.1: icmp_seq=1 /, 10_000);
        p.child.kill(sig);
        const exit = await p.exited;
        expect(exit, p.stderr).toEqual({ code: 0, signal: null });
        const m = p.stdout.match(/(\d+) packets transmitted, (\d+) received/);
        expect(m, p.stdout).not.toBeNull();
        // Stopped long before the 1000 (200 s): the signal ended the loop.
        expect(Number(m![1])).toBeLessThan(100);
        expect(Number(m![2])).toBeGreaterThanOrEqual(1);
        expect(ns.links()).toEqual(['lo']);
      } finally {
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      }
    });
  }
});

describe('netstack fetch over IPv6: the stack is the client', () => {
  it("fetch 'http://[fd07::1]:8080/…': a kernel-side server on :: sees the stack's fd07::2 as its peer", async () => {
    // The kernel's own server, IPv6 only: it answers with the peer address it saw.
    const web = new Server(ns.spawn(process.execPath, ['-e', `
      require('node:http').createServer((req, res) => res.end('peer ' + req.socket.remoteAddress + ' ' + req.socket.remoteFamily + ' host ' + req.headers.host + ' url ' + req.url + '\\n'))
        .listen({ port: 8080, host: '::', ipv6Only: true }, () => console.log('listening'));
      setTimeout(() => process.exit(0), 30000).unref();
    `]));
    try {
      await web.waitFor(/listening/, 10_000);
      const r = await netstack(['fetch', '--stats', '-m', '5', 'http://[fd07::1]:8080/over-v6']);
      expect(r.code, r.stderr).toBe(0);
      // fd07::2 is the stack's address, on no kernel interface: only the stack can have asked.
      expect(r.stdout).toBe('peer fd07::2 IPv6 host [fd07::1]:8080 url /over-v6\n');
      expect(r.stderr).toMatch(new RegExp(`^HTTP/1\\.1 200 OK; ${r.stdout.length} bytes in `, 'm'));
      const stats = JSON.parse(r.stderr.split('\n').find((l) => l.startsWith('stats '))!.slice(6)) as Record<string, Record<string, number>>;
      expect(stats.tcp!.ActiveOpens).toBe(1);
      expect(stats.ip6!.Ip6InDelivers).toBeGreaterThan(0);
      expect(stats.ip!.InDelivers).toBe(0); // nothing of it over IPv4
      // --addr6 / --kernel-addr6 give other addresses; the peer says which.
      const o = await netstack(['fetch', '-m', '5', '--kernel-addr6', 'fd07:9::1/64', '--addr6', 'fd07:9::77', 'http://[fd07:9::1]:8080/other']);
      expect(o.code, o.stderr).toBe(0);
      expect(o.stdout).toBe('peer fd07:9::77 IPv6 host [fd07:9::1]:8080 url /other\n');
      expect(ns.links()).toEqual(['lo']);
    } finally {
      web.child.kill('SIGTERM');
      await web.exited;
    }
  });

  it('fetch over IPv6 where the namespace has IPv6 off: exit 1, one line (ENETUNREACH), the device gone', async () => {
    const off = Netns.create('cli6off');
    try {
      off.setIpv6Disabled(true);
      const t0 = performance.now();
      const r = await off.run(process.execPath, [cli, 'fetch', '-m', '5', 'http://[fd07::1]:8080/'], { timeoutMs: 10_000 });
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^netstack fetch: cannot fetch over IPv6: .*IPv6.* \(ENETUNREACH\)$/m);
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(off.links()).toEqual(['lo']);
    } finally {
      await off.close();
    }
  });
});

describe('runtime failures: exit 1, one line', () => {
  it('fetch from a port nobody listens on', async () => {
    const r = await netstack(['fetch', '-m', '5', 'http://10.7.0.1:1/']);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^netstack fetch: .*ECONNREFUSED/);
    expect(r.ms).toBeLessThan(5000);
    expect(ns.links()).toEqual(['lo']);
  });
});
