/**
 * Kernel-facing: the kernel's own ping and a kernel-side UDP client are
 * answered by `netstack serve` on tun0, inside a private namespace made here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPcap } from '@netstack/tun';
import { Netns, Server, cli, repoRoot } from './netns.js';

const STACK = '10.7.0.2';
let ns: Netns;
let server: Server;
let dir: string;
let pcapPath: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'netstack-k-'));
  pcapPath = join(dir, 'serve.pcap');
  ns = Netns.create('fnd');
  server = await ns.serve(['--pcap', pcapPath, '--stats']);
});

afterAll(async () => {
  await ns?.close();
  rmSync(dir, { recursive: true, force: true });
});


describe('the kernel\'s ping is answered by the stack', () => {
  it('tun0 is up with the kernel side 10.7.0.1/24', () => {
    const addr = ns.runSync('ip', ['-o', '-4', 'addr', 'show', 'dev', 'tun0']);
    expect(addr).toContain('10.7.0.1/24');
    expect(ns.runSync('ip', ['-o', 'link', 'show', 'tun0'])).toMatch(/[<,]UP[,>]/);
  });

  for (const size of [56, 1472, 4000, 20000, 65000]) {
    it(`ping -s ${size}${size > 1472 ? ' (fragmented both ways)' : ''} gets every reply`, async () => {
      const before = ns.snmp();
      const r = await ns.run('ping', ['-c', '3', '-i', '0.2', '-W', '3', '-s', String(size), STACK], { timeoutMs: 20_000 });
      expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);
      const after = ns.snmp();
      // Nothing we wrote was thrown away by the kernel as malformed.
      expect(after['Ip.InHdrErrors']).toBe(before['Ip.InHdrErrors']);
      expect(after['Icmp.InCsumErrors']).toBe(before['Icmp.InCsumErrors']);
      if (size > 1472) expect(after['Ip.ReasmOKs']! - before['Ip.ReasmOKs']!).toBeGreaterThanOrEqual(3);
    });
  }

  it('ping -f for 2 s loses nothing', async () => {
    const r = await ns.run('ping', ['-f', '-w', '2', '-q', STACK], { timeoutMs: 15_000 });
    const m = r.stdout.match(/(\d+) packets transmitted, (\d+) received/);
    expect(m, r.stdout + r.stderr).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(100);
    // ping -w stops at the deadline; a request in flight at that instant is not a loss of ours.
    expect(Number(m![1]) - Number(m![2])).toBeLessThanOrEqual(1);
  });
});

describe('UDP echo from a kernel-side node:dgram client', () => {
  const client = join(repoRoot, 'test/kernel/fixtures/udp-client.mjs');
  it('every size 1..1472 comes back exact', async () => {
    const r = await ns.run(process.execPath, [client, STACK, '7', '1-1472'], { timeoutMs: 90_000 });
    const res = JSON.parse(r.stdout.trim());
    expect(res.failures).toEqual([]);
    expect(res.count).toBe(1472);
  });
  it('8000 and 65507 bytes (fragmented) come back exact', async () => {
    const r = await ns.run(process.execPath, [client, STACK, '7', '8000,65507'], { timeoutMs: 20_000 });
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ ok: true, count: 2 });
  });
  it('a datagram to a closed port gives the kernel socket ECONNREFUSED', async () => {
    const r = await ns.run(process.execPath, [client, STACK, '9999', '16', '1500'], { timeoutMs: 20_000 });
    const res = JSON.parse(r.stdout.trim());
    expect(res.failures).toEqual([{ size: 16, why: 'ECONNREFUSED' }]);
  });
});

describe('netstack ping from the stack to the kernel side', () => {
  it('gets replies from the kernel', async () => {
    // A second device in the same namespace, so the running server is untouched.
    const before = ns.snmp();
    const r = await ns.run(process.execPath, [cli, 'ping', '--stats', '--tun', 'tun1', '--kernel-addr', '10.7.1.1/24', '--addr', '10.7.1.2', '-c', '3', '-i', '0.1', '-s', '1000', '10.7.1.1'], { timeoutMs: 20_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);
    // The echoes went through the stack and the kernel answered them: both sides counted 3.
    const stats = JSON.parse(r.stdout.split('\n').find((l) => l.startsWith('stats '))!.slice(6));
    expect(stats.icmp).toMatchObject({ OutEchos: 3, InEchoReps: 3 });
    const after = ns.snmp();
    expect(after['Icmp.InEchos']! - before['Icmp.InEchos']!).toBeGreaterThanOrEqual(3);
    expect(after['Icmp.OutEchoReps']! - before['Icmp.OutEchoReps']!).toBeGreaterThanOrEqual(3);
    expect(ns.links()).not.toContain('tun1');
  });
});

describe('shutdown and capture', () => {
  it('exits 0 on SIGTERM, removes tun0, and the pcap holds both directions', async () => {
    const { code } = await server.stop();
    expect(code).toBe(0);
    expect(ns.links()).not.toContain('tun0');
    const stats = JSON.parse(server.stdout.split('\n').find((l) => l.startsWith('stats '))!.slice(6));
    expect(stats.icmp.InEchos).toBeGreaterThan(100);
    const { records } = readPcap(readFileSync(pcapPath));
    const echoes = records.filter((r) => r.data[9] === 1 && r.data[20] === 8 && ((r.data[6]! & 0x1f) | r.data[7]!) === 0);
    const replies = records.filter((r) => r.data[9] === 1 && r.data[20] === 0 && ((r.data[6]! & 0x1f) | r.data[7]!) === 0);
    expect(echoes.length).toBeGreaterThan(100);
    expect(replies.length).toBeGreaterThan(100);
    const udp = records.filter((r) => r.data[9] === 17);
    expect(udp.length).toBeGreaterThan(2 * 1472);
  });
  it('the namespace is removed by close()', async () => {
    await ns.close();
    expect(ns.exists()).toBe(false);
  });
});
