/**
 * Kernel-facing: 10 000 concurrent TCP connections from the
 * kernel's TCP (a node:net client in the namespace) to `netstack serve`'s echo :7,
 * all held open at the same time, each with its own payload echoed exactly, then
 * all closed; afterwards the stack's connection table is empty.
 *
 * Connections are opened in bounded waves (bench/conns-client.mjs: at most WAVE
 * handshakes, echoes or closes in flight). The bound that matters is the
 * listener's: `serve` listens with node's default backlog, 511, which is also the
 * SYN queue bound of the core (packages/tcp/src/layer.ts); past it the stack answers
 * with SYN cookies (no window scaling, SACK or timestamps), past the accept queue it
 * drops SYNs (a 1 s retransmission for the kernel). WAVE stays well below both, and
 * the stats check that neither happened.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Netns, Server, repoRoot } from './netns.js';

const STACK = '10.7.0.2';
const COUNT = 10_000;
const WAVE = 256;
const client = join(repoRoot, 'bench/conns-client.mjs');

let ns: Netns;
let server: Server;
let snmpBefore: Record<string, number>;

beforeAll(async () => {
  ns = Netns.create('scale');
  server = await ns.serve(['--stats']);
  snmpBefore = ns.snmp();
});

afterAll(async () => {
  await ns?.close();
});

describe(`${COUNT} concurrent TCP connections to echo :7`, () => {
  it(`the kernel opens ${COUNT}, holds them all, each echoes its own payload exactly, all close cleanly`, { timeout: 60_000 }, async () => {
    // One socket per connection on the kernel side: raise the client's soft fd limit to its hard one.
    const hard = Number((await ns.run('bash', ['-c', 'ulimit -Hn'])).stdout.trim());
    expect(hard === Infinity || Number.isNaN(hard) || hard >= COUNT + 100, `hard fd limit ${hard} < ${COUNT + 100}`).toBe(true);
    // `ip netns exec` execs the stack in place: this pid is the stack process (its RSS is measured).
    const pid = server.child.pid!;
    expect(readFileSync(`/proc/${pid}/comm`, 'utf8').trim()).toBe(basename(process.execPath).slice(0, 15));
    const r = await ns.run('bash', ['-c', 'ulimit -n "$(ulimit -Hn)" && exec "$0" "$@"', process.execPath, client,
      STACK, '7', String(COUNT), '--wave', String(WAVE), '--pid', String(pid), '--timeout-ms', '45000'], { timeoutMs: 50_000 });
    const line = r.stdout.trim().split('\n').pop() ?? '';
    expect(line.startsWith('{'), `client printed no result (code ${r.code ?? r.signal}): ${r.stdout.slice(-300)} ${r.stderr.slice(-500)}`).toBe(true);
    const res = JSON.parse(line);
    const summary = JSON.stringify({ ...res, bad: res.bad.slice(0, 3) });
    expect(res.error, summary).toBeUndefined();
    expect(res.errors, summary).toEqual({});
    expect(res.bad, summary).toEqual([]);
    expect(res, summary).toMatchObject({ connected: COUNT, maxOpen: COUNT, openAtHold: COUNT, echoed: COUNT, closedClean: COUNT });
    expect(r.code, r.stderr).toBe(0);
    const perConn = ((res.rssHoldKB - res.rssBeforeKB) * 1024) / COUNT;
    console.log(`${COUNT} connections: connect ${res.ms.connect} ms, echo ${res.ms.echo} ms, close ${res.ms.close} ms; ` +
      `stack RSS ${(res.rssBeforeKB / 1024).toFixed(0)} MB before, ${(res.rssHoldKB / 1024).toFixed(0)} MB with all open ` +
      `(${(perConn / 1024).toFixed(1)} KiB per connection, RSS delta / ${COUNT})`);
    // RSS, not heap: it also counts V8's free space and the allocator's slack. A sanity
    // bound against a blow-up (e.g. full 256 KiB buffers per idle connection).
    expect(perConn).toBeLessThan(64 * 1024);
  });

  it('afterwards the stack\'s TCP table is empty, with no listen drop, SYN cookie or reset on the way', async () => {
    // A barrier, not a sleep: the kernel queued its last ACKs to tun0 before the client
    // saw its sockets close; an echo reply means the stack has read everything before it.
    const ping = await ns.run('ping', ['-c', '1', '-W', '5', STACK], { timeoutMs: 10_000 });
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    const { code } = await server.stop();
    expect(code, server.stderr).toBe(0);
    const statsLine = server.stdout.split('\n').find((l) => l.startsWith('stats '));
    expect(statsLine, server.stdout).toBeDefined();
    const tcp = JSON.parse(statsLine!.slice(6)).tcp;
    console.log(`stack tcp stats: ${JSON.stringify(Object.fromEntries(Object.entries(tcp).filter(([, v]) => v !== 0)))}`);
    expect(tcp.connections).toBe(0);
    expect(tcp.CurrEstab).toBe(0);
    expect(tcp.PassiveOpens).toBe(COUNT);
    expect(tcp).toMatchObject({ SyncookiesSent: 0, ListenOverflows: 0, ListenDrops: 0, EstabResets: 0, OutRsts: 0, RstsReceived: 0, InCsumErrors: 0 });
    const after = ns.snmp();
    expect(after['Tcp.InCsumErrors']).toBe(snmpBefore['Tcp.InCsumErrors']);
    expect(after['Ip.InHdrErrors']).toBe(snmpBefore['Ip.InHdrErrors']);
    expect(after['Tcp.ActiveOpens']! - snmpBefore['Tcp.ActiveOpens']!).toBe(COUNT);
  });
});
