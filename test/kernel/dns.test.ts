/**
 * Names through the stack against a real DNS server: dnsmasq (Debian's dnsmasq-base,
 * installed when missing) runs in the test's own namespace on the kernel side, on an
 * address of the namespace's lo (10.7.9.1, there before any stack starts: the stack reaches
 * it through its gateway, the kernel side of tun1). `netstack fetch --dns 10.7.9.1
 * http://web.internal:8080/` must resolve the name with the stack's own resolver (dnsmasq
 * logs the query as coming from the stack's address) and fetch from a kernel-side
 * node:http server that sees the stack's address as its peer. Also `ping --dns` by name,
 * and an unknown name failing with ENOTFOUND.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netns, cli, repoRoot } from './netns.js';

const DNS_ADDR = '10.7.9.1';
/** dnsmasq listens here too: a server the stack reaches over IPv6. */
const DNS_ADDR6 = 'fd07:9::1';
const STACK = ['--tun', 'tun1', '--kernel-addr', '10.7.1.1/24', '--addr', '10.7.1.2'];
/** The same device with IPv6 too: web.internal's AAAA record is the kernel side's fd07:1::1. */
const STACK6 = [...STACK, '--kernel-addr6', 'fd07:1::1/64', '--addr6', 'fd07:1::2'];

let ns: Netns;
let dir: string;
let dnsmasq: ChildProcess;
let dnsLog = '';
let web: ChildProcess;
let web6: ChildProcess;

function ensureDnsmasq(): void {
  if (spawnSync('sh', ['-c', 'command -v dnsmasq']).status === 0) return;
  if (process.getuid?.() !== 0) throw new Error('dnsmasq is missing: apt-get install -y dnsmasq-base');
  const r = spawnSync('sh', ['-c', 'apt-get install -y -qq dnsmasq-base || (apt-get update -qq && apt-get install -y -qq dnsmasq-base)'], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) throw new Error(`apt-get install dnsmasq-base failed: ${r.stderr}`);
}

function waitOutput(child: ChildProcess, re: RegExp, what: string, timeoutMs = 20_000): Promise<string> {
  return new Promise((resolveWait, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${out}`)), timeoutMs);
    const on = (d: Buffer): void => { out += d.toString(); if (re.test(out)) { clearTimeout(timer); resolveWait(out); } };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${what} exited ${code}: ${out}`)); });
  });
}

beforeAll(async () => {
  ensureDnsmasq();
  ns = Netns.create('dns');
  dir = mkdtempSync(join(tmpdir(), 'netstack-dns-'));
  // On the namespace's lo (this kernel has no dummy devices): a local address like any other.
  ns.runSync('ip', ['addr', 'add', `${DNS_ADDR}/32`, 'dev', 'lo']);
  ns.runSync('ip', ['-6', 'addr', 'add', `${DNS_ADDR6}/128`, 'dev', 'lo', 'nodad']);
  // 60 addresses for big.internal: about 1 KB of answer, over UDP's 512 octets (TC set: TCP).
  writeFileSync(join(dir, 'hosts'), Array.from({ length: 60 }, (_, i) => `10.7.2.${i + 1} big.internal\n`).join(''));
  dnsmasq = ns.spawn('dnsmasq', [
    `--addn-hosts=${join(dir, 'hosts')}`,
    '--no-daemon', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--bind-interfaces', `--listen-address=${DNS_ADDR}`, `--listen-address=${DNS_ADDR6}`,
    '--port=53', '--address=/web.internal/10.7.1.1', '--address=/web.internal/fd07:1::1', '--local=/internal/', '--log-queries', '--log-facility=-',
    `--pid-file=${join(dir, 'dnsmasq.pid')}`, '--cache-size=0',
  ]);
  dnsmasq.stdout!.on('data', (d: Buffer) => { dnsLog += d.toString(); });
  dnsmasq.stderr!.on('data', (d: Buffer) => { dnsLog += d.toString(); });
  await waitOutput(dnsmasq, /started, version/, 'dnsmasq');
  web = ns.spawn(process.execPath, ['-e', `
    require('node:http').createServer((req, res) => res.end('peer ' + req.socket.remoteAddress + ' host ' + req.headers.host + '\\n'))
      .listen(8080, '0.0.0.0', () => console.log('listening'));
    setTimeout(() => process.exit(0), 120000).unref();
  `]);
  await waitOutput(web, /listening/, 'http server');
  web6 = ns.spawn(process.execPath, ['-e', `
    require('node:http').createServer((req, res) => res.end('peer ' + req.socket.remoteAddress + ' host ' + req.headers.host + '\\n'))
      .listen({ port: 8086, host: '::', ipv6Only: true }, () => console.log('listening'));
    setTimeout(() => process.exit(0), 120000).unref();
  `]);
  await waitOutput(web6, /listening/, 'http server (IPv6)');
}, 320_000);

afterAll(async () => {
  web?.kill('SIGTERM');
  web6?.kill('SIGTERM');
  dnsmasq?.kill('SIGTERM');
  await ns?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('a real DNS server (dnsmasq) on the kernel side', () => {
  it('netstack fetch --dns resolves web.internal through the stack and fetches over the stack', async () => {
    const before = dnsLog.length;
    const r = await ns.run(process.execPath, [cli, 'fetch', '-m', '20', ...STACK, '--dns', DNS_ADDR, 'http://web.internal:8080/'], { timeoutMs: 40_000 });
    expect(r.code, r.stderr).toBe(0);
    // The kernel-side server saw the stack's address: the HTTP went over the stack.
    expect(r.stdout).toBe('peer 10.7.1.2 host web.internal:8080\n');
    // dnsmasq saw the A query come from the stack's address: the DNS went over the stack's UDP.
    expect(dnsLog.slice(before)).toMatch(/query\[A\] web\.internal from 10\.7\.1\.2/);
    expect(dnsLog.slice(before)).toMatch(/config web\.internal is 10\.7\.1\.1/);
    expect(ns.links()).not.toContain('tun1');
  });

  it('an unknown name fails with ENOTFOUND (dnsmasq answers NXDOMAIN), exit 1', async () => {
    const r = await ns.run(process.execPath, [cli, 'fetch', '-m', '20', ...STACK, '--dns', DNS_ADDR, 'http://nothing.internal:8080/'], { timeoutMs: 40_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ENOTFOUND nothing\.internal/);
    expect(dnsLog).toMatch(/query\[A\] nothing\.internal from 10\.7\.1\.2/);
  });

  it('a truncated answer from dnsmasq is asked again over TCP through the stack, whole', async () => {
    const script = `
      import { createStack } from ${JSON.stringify(join(repoRoot, 'packages/netstack/dist/index.js'))};
      const stack = await createStack({ tun: { name: 'tun1', kernelAddress: '10.7.1.1/24' }, address: '10.7.1.2', dns: ['${DNS_ADDR}'] });
      try {
        const records = await stack.dns.promises.resolve4('big.internal', { ttl: true });
        const addr = await stack.dns.promises.lookup('web.internal');
        console.log(JSON.stringify({ records, addr, dns: stack.stats().dns, udp: stack.stats().udp, tcp: stack.stats().tcp }));
      } finally { await stack.close(); }
    `;
    const r = await ns.run(process.execPath, ['--input-type=module', '-e', script], { timeoutMs: 40_000 });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.records.map((x: { address: string }) => x.address).sort()).toEqual(Array.from({ length: 60 }, (_, i) => `10.7.2.${i + 1}`).sort());
    expect(out.addr).toEqual({ address: '10.7.1.1', family: 4 });
    expect(out.dns.TcpFallbacks).toBe(1);
    expect(out.dns.OutTcp).toBe(1);
    expect(out.dns.OutUdp).toBe(2);
    expect(out.udp.OutDatagrams).toBe(2);
    expect(out.tcp.ActiveOpens).toBe(1);
    expect(out.dns.InMalformed + out.dns.InIdMismatch + out.dns.InQuestionMismatch).toBe(0);
    console.log(`dnsmasq over the stack: ${out.records.length} A records via TCP after TC; dns counters ${JSON.stringify(out.dns)}`);
  });

  it('netstack ping --dns pings a name', async () => {
    const r = await ns.run(process.execPath, [cli, 'ping', '-c', '1', ...STACK, '--dns', DNS_ADDR, 'web.internal'], { timeoutMs: 40_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^PING web\.internal \(10\.7\.1\.1\) from 10\.7\.1\.2/);
    expect(r.stdout).toMatch(/1 packets transmitted, 1 received/);
  });

  it('netstack ping -6 --dns pings a name by its AAAA record, asked over the stack', async () => {
    const before = dnsLog.length;
    const r = await ns.run(process.execPath, [cli, 'ping', '-6', '-c', '1', ...STACK6, '--dns', DNS_ADDR, 'web.internal'], { timeoutMs: 40_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^PING web\.internal \(fd07:1::1\) from fd07:1::2/);
    expect(r.stdout).toMatch(/1 packets transmitted, 1 received/);
    expect(dnsLog.slice(before)).toMatch(/query\[AAAA\] web\.internal from 10\.7\.1\.2/);
    expect(dnsLog.slice(before)).not.toMatch(/query\[A\] /);
  });

  it('a DNS server reached over IPv6 ([addr]:port): the query comes from the stack\'s IPv6 address', async () => {
    const before = dnsLog.length;
    const r = await ns.run(process.execPath, [cli, 'fetch', '-m', '20', ...STACK6, '--dns', `[${DNS_ADDR6}]:53`, 'http://web.internal:8086/'], { timeoutMs: 40_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('peer fd07:1::2 host web.internal:8086\n');
    const log = dnsLog.slice(before);
    expect(log).toMatch(/query\[AAAA\] web\.internal from fd07:1::2/);
    expect(log).not.toMatch(/from 10\.7\.1\.2/);
  });

  it('netstack fetch -6 --dns fetches a name by its AAAA record: the server sees the stack\'s IPv6 address', async () => {
    const before = dnsLog.length;
    const r = await ns.run(process.execPath, [cli, 'fetch', '-6', '-m', '20', ...STACK6, '--dns', DNS_ADDR, 'http://web.internal:8086/'], { timeoutMs: 40_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('peer fd07:1::2 host web.internal:8086\n');
    expect(dnsLog.slice(before)).toMatch(/query\[AAAA\] web\.internal from 10\.7\.1\.2/);
    expect(ns.links()).not.toContain('tun1');
  });
});
