/**
 * The SOCKS5 client (packages/netstack/src/gateway/socks5.ts) against a real SOCKS5
 * server: Debian's dante-server (`danted`, installed when missing), in namespaces this
 * file makes and removes:
 *
 *   C (client)  c0 10.9.1.2/24, fd00:9:1::2/64 ──veth── p0 10.9.1.1/24, fd00:9:1::1/64  P (proxy)
 *                                                         lo: 10.9.2.1, fd00:9:2::1 (echo servers)
 *                                                             10.9.3.1, fd00:9:3::1 (dante's external side)
 *
 * C has no route to 10.9.2.1 (checked: a direct connect is ENETUNREACH), so only the proxy
 * can carry the traffic, and the echo servers see dante's external address as their peer,
 * at the very port dante reported as BND. Two dante instances: :1080 without
 * authentication, :1081 with RFC 1929 username/password, checked against a passwd/shadow
 * pair bind-mounted for danted alone (inside `ip netns exec`'s private mount namespace:
 * the machine's /etc is not touched). dante resolves `echo.s5.test` through a hosts file
 * mounted the same way; the client cannot resolve it, so ATYP 3 is proved by the echo.
 * The client runs inside C as test/kernel/fixtures/socks5-client.mjs (from the built dist).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Netns, repoRoot } from './netns.js';

const CLIENT = resolve(repoRoot, 'test/kernel/fixtures/socks5-client.mjs');
const ECHO = resolve(repoRoot, 'test/kernel/fixtures/socks5-echo.mjs');
const PROXY = { host: '10.9.1.1', port: 1080 };
const PROXY6 = { host: 'fd00:9:1::1', port: 1080 };
const PROXY_AUTH = { host: '10.9.1.1', port: 1081 };
const USER = 's5user';
const PASSWORD = 's3cret-pw';
// crypt(3) SHA-512 of PASSWORD, made with `openssl passwd -6 -salt s5saltxx s3cret-pw`.
const PASSWORD_HASH = '$6$s5saltxx$pfYKOVjegybTXBeEYuXkwCky1ZR9uFXci91PmHrsR/68IUYuM15N5YfV/9U53Xxuagt4A6AX2hhEPaAxAhgzc/';

let c: Netns;
let p: Netns;
let dir: string;
const dante: ChildProcess[] = [];
let danteLog = '';
let echoOut = '';

function ensureDante(): void {
  if (spawnSync('sh', ['-c', 'command -v danted']).status === 0) return;
  if (process.getuid?.() !== 0) throw new Error('danted is missing: apt-get install -y dante-server');
  // Debian's own /etc/danted.conf names no internal address, so the package's service (if an
  // init starts it at all) exits at once: nothing listens in the machine's namespace.
  const r = spawnSync('sh', ['-c', 'apt-get install -y -qq dante-server || (apt-get update -qq && apt-get install -y -qq dante-server)'], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0 || spawnSync('sh', ['-c', 'command -v danted']).status !== 0) throw new Error(`apt-get install dante-server failed: ${r.stderr}`);
}

function waitOutput(child: ChildProcess, re: RegExp, what: string, timeoutMs = 20_000): Promise<void> {
  return new Promise((resolveWait, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${out}`)), timeoutMs);
    const on = (d: Buffer): void => { out += d.toString(); if (re.test(out)) { clearTimeout(timer); resolveWait(); } };
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${what} exited ${code}: ${out}`)); });
  });
}

function danteConf(port: number, method: 'none' | 'username'): string {
  return [
    'logoutput: stderr',
    `internal: 10.9.1.1 port = ${port}`,
    `internal: fd00:9:1::1 port = ${port}`,
    'external: 10.9.3.1',
    'external: fd00:9:3::1',
    `socksmethod: ${method}`,
    'clientmethod: none',
    'user.privileged: root',
    'user.unprivileged: nobody',
    'client pass {\n  from: 0/0 to: 0/0\n  log: connect disconnect error\n}',
    // The ruleset refuses 10.9.6.0/24: REP X'02' "connection not allowed by ruleset".
    'socks block {\n  from: 0/0 to: 10.9.6.0/24\n  log: connect error\n}',
    'socks pass {\n  from: 0/0 to: 0/0\n  command: connect udpassociate udpreply\n  log: connect disconnect error\n}',
    '',
  ].join('\n');
}

async function startDante(port: number, method: 'none' | 'username'): Promise<void> {
  const conf = join(dir, `danted-${port}.conf`);
  writeFileSync(conf, danteConf(port, method));
  // `ip netns exec` runs the command in a mount namespace of its own (slave of the
  // machine's): these bind mounts are danted's alone and go away with it.
  const mounts = ['passwd', 'shadow', 'hosts'].map((f) => `mount --bind ${join(dir, f)} /etc/${f}`).join(' && ');
  const d = p.spawn('sh', ['-c', `${mounts} && exec danted -f ${conf}`]);
  d.stdout!.on('data', (x: Buffer) => { danteLog += x.toString(); });
  d.stderr!.on('data', (x: Buffer) => { danteLog += x.toString(); });
  dante.push(d);
  await waitOutput(d, /Dante\/server\[\d+\/\d+\] v[\d.]+ running/, `danted :${port}`);
}

interface ClientResult {
  ok: boolean;
  code?: string;
  stage?: string;
  reply?: number;
  message?: string;
  [k: string]: unknown;
}

async function client(scenario: Record<string, unknown>): Promise<ClientResult> {
  const r = await c.run(process.execPath, [CLIENT, JSON.stringify(scenario)], { timeoutMs: 40_000 });
  const last = r.stdout.trim().split('\n').pop() ?? '';
  if (!last.startsWith('{')) throw new Error(`client fixture printed no result (code ${r.code}): ${r.stdout} ${r.stderr}`);
  return JSON.parse(last) as ClientResult;
}

/** The lines the echo servers printed since `mark`. */
const echoSince = (mark: number): string[] => echoOut.slice(mark).split('\n').filter(Boolean);

beforeAll(async () => {
  ensureDante();
  c = Netns.create('s5c');
  p = Netns.create('s5p');
  c.setIpv6Disabled(false);
  p.setIpv6Disabled(false);
  c.runSync('ip', ['link', 'add', 'c0', 'type', 'veth', 'peer', 'name', 'p0', 'netns', p.name]);
  c.runSync('ip', ['addr', 'add', '10.9.1.2/24', 'dev', 'c0']);
  c.runSync('ip', ['addr', 'add', 'fd00:9:1::2/64', 'dev', 'c0', 'nodad']);
  c.runSync('ip', ['link', 'set', 'c0', 'up']);
  p.runSync('ip', ['addr', 'add', '10.9.1.1/24', 'dev', 'p0']);
  p.runSync('ip', ['addr', 'add', 'fd00:9:1::1/64', 'dev', 'p0', 'nodad']);
  p.runSync('ip', ['link', 'set', 'p0', 'up']);
  for (const a of ['10.9.2.1/32', '10.9.3.1/32', 'fd00:9:2::1/128', 'fd00:9:3::1/128']) p.runSync('ip', ['addr', 'add', a, 'dev', 'lo']);
  // What dante meets beyond: a host-unreachable and a prohibited route (the kernel answers
  // its connect() at once with EHOSTUNREACH / EACCES, which dante reports as REP 4 / REP 1).
  p.runSync('ip', ['route', 'add', 'unreachable', '10.9.5.0/24']);
  p.runSync('ip', ['route', 'add', 'prohibit', '10.9.7.0/24']);

  dir = mkdtempSync(join(tmpdir(), 'netstack-socks5-'));
  writeFileSync(join(dir, 'passwd'), `root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n${USER}:x:64999:65534:socks5 test:/nonexistent:/usr/sbin/nologin\n`);
  writeFileSync(join(dir, 'shadow'), `${USER}:${PASSWORD_HASH}:19000:0:99999:7:::\n`);
  chmodSync(join(dir, 'shadow'), 0o600);
  writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost\n10.9.2.1 echo.s5.test\n');
  await startDante(1080, 'none');
  await startDante(1081, 'username');

  const echo = p.spawn(process.execPath, [ECHO, JSON.stringify({
    tcp: [['10.9.2.1', 7], ['fd00:9:2::1', 7]],
    udp: [['10.9.2.1', 7], ['fd00:9:2::1', 7]],
    lingerMs: 170_000,
  })]);
  echo.stdout!.on('data', (x: Buffer) => { echoOut += x.toString(); });
  await waitOutput(echo, /listening/, 'echo servers');
}, 320_000);

afterAll(async () => {
  // danted's mother takes its children with it on SIGTERM; wait for it (bounded), then
  // SIGKILL whatever of ours is still in the namespace before it goes.
  for (const d of dante) d.kill('SIGTERM');
  await Promise.all(dante.map((d) => new Promise((r) => {
    if (d.exitCode !== null || d.signalCode !== null) { r(null); return; }
    const t = setTimeout(r, 5000);
    d.once('exit', () => { clearTimeout(t); r(null); });
  })));
  if (p) {
    for (let i = 0; i < 50; i++) {
      const pids = spawnSync('ip', ['netns', 'pids', p.name], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
      const stray = pids.filter((pid) => spawnSync('ps', ['-o', 'comm=', '-p', pid], { encoding: 'utf8' }).stdout.trim().startsWith('danted'));
      if (stray.length === 0) break;
      if (i === 49) for (const pid of stray) process.kill(Number(pid), 'SIGKILL');
      else await new Promise((r) => setTimeout(r, 100));
    }
  }
  await c?.close();
  await p?.close();
  expect(c?.exists()).toBe(false);
  expect(p?.exists()).toBe(false);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('CONNECT through dante (RFC 1928 §4-§6)', () => {
  it('the client namespace has no route to the echo servers: only the proxy can carry it', async () => {
    const r = await client({ op: 'direct', destination: { address: '10.9.2.1', port: 7 }, timeoutMs: 3000 });
    expect(r).toMatchObject({ ok: false, code: 'ENETUNREACH' });
  });

  it('IPv4 destination (ATYP 1): 1 MiB echoed exact; the echo server\'s peer is dante\'s external address at the BND dante reported', async () => {
    const mark = echoOut.length;
    const logMark = danteLog.length;
    const r = await client({ op: 'connect', proxy: PROXY, destination: { address: '10.9.2.1', port: 7 }, bytes: 1 << 20, timeoutMs: 10_000 });
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true, sentLength: 1 << 20, gotLength: 1 << 20 });
    expect(r.gotSha).toBe(r.sentSha);
    const bound = r.bound as { address: string; family: string; port: number };
    expect(bound).toMatchObject({ address: '10.9.3.1', family: 'IPv4' });
    expect(echoSince(mark)).toContain(`tcp-peer 10.9.2.1 10.9.3.1 ${bound.port}`);
    // dante's own account: the client's connection and where it carried it.
    const [localAddr, localPort] = (r.local as string).split(':');
    expect(localAddr).toBe('10.9.1.2');
    expect(danteLog.slice(logMark)).toContain(`tcp/connect [: ${localAddr}.${localPort} 10.9.1.1.1080 -> 10.9.3.1.${bound.port} 10.9.2.1.7`);
  });

  it('IPv6 destination (ATYP 4), through the proxy reached over IPv6 too', async () => {
    const mark = echoOut.length;
    const r = await client({ op: 'connect', proxy: PROXY6, destination: { address: 'fd00:9:2::1', port: 7 }, bytes: 100_000, timeoutMs: 10_000 });
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true, gotLength: 100_000, bound: { address: 'fd00:9:3::1', family: 'IPv6' } });
    expect(r.gotSha).toBe(r.sentSha);
    expect(echoSince(mark)).toContain(`tcp-peer fd00:9:2::1 fd00:9:3::1 ${(r.bound as { port: number }).port}`);
  });

  it('a domain name (ATYP 3) is resolved by the proxy, not the client', async () => {
    const mark = echoOut.length;
    const r = await client({ op: 'connect', proxy: PROXY, destination: { host: 'echo.s5.test', port: 7 }, bytes: 4096, timeoutMs: 10_000 });
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true, gotLength: 4096 });
    expect(r.gotSha).toBe(r.sentSha);
    expect(echoSince(mark)).toContain(`tcp-peer 10.9.2.1 10.9.3.1 ${(r.bound as { port: number }).port}`);
  });

  it('a closed port: REP X\'05\' as ECONNREFUSED', async () => {
    const r = await client({ op: 'connect', proxy: PROXY, destination: { address: '10.9.2.1', port: 9 }, bytes: 1, timeoutMs: 10_000 });
    expect(r).toMatchObject({ ok: false, code: 'ECONNREFUSED', stage: 'reply', reply: 5 });
    expect(danteLog).toMatch(/10\.9\.2\.1\.9 -> 0: remote peer error \(Connection refused\)/);
  });
});

describe('failure replies and the deadline', () => {
  for (const [dst, why, code, rep] of [
    ['10.9.5.1', 'an unreachable route', 'EHOSTUNREACH', 4],
    ['10.9.6.1', 'dante\'s ruleset (socks block)', 'EACCES', 2],
    ['10.9.7.1', 'a prohibit route (dante has no REP for EACCES)', 'ERR_SOCKS5_GENERAL_FAILURE', 1],
  ] as const) {
    it(`${dst}, refused by ${why}: REP ${rep} as ${code}`, async () => {
      const r = await client({ op: 'connect', proxy: PROXY, destination: { address: dst, port: 7 }, bytes: 1, timeoutMs: 10_000 });
      expect(r, JSON.stringify(r)).toMatchObject({ ok: false, code, stage: 'reply', reply: rep });
    });
  }

  it('the proxy itself refusing is ECONNREFUSED too, but at stage "proxy" with no REP: the gateway can tell the two apart', async () => {
    const r = await client({ op: 'connect', proxy: { host: '10.9.1.1', port: 1099 }, destination: { address: '10.9.2.1', port: 7 }, bytes: 1, timeoutMs: 10_000 });
    expect(r).toMatchObject({ ok: false, code: 'ECONNREFUSED', stage: 'proxy' });
    expect(r.reply).toBeUndefined();
  });

  it('a silent destination (a neighbour that never answers ARP): ETIMEDOUT at our deadline, before dante gives up', async () => {
    const t0 = performance.now();
    const r = await client({ op: 'connect', proxy: PROXY, destination: { address: '10.9.1.99', port: 7 }, bytes: 1, timeoutMs: 1000 });
    const ms = performance.now() - t0;
    expect(r, JSON.stringify(r)).toMatchObject({ ok: false, code: 'ETIMEDOUT', stage: 'timeout' });
    expect(r.message).toMatch(/no reply within 1000 ms/);
    // The fixture's own start-up is in this too; the bound is loose, the stage is the proof.
    expect(ms).toBeLessThan(15_000);
  });
});

describe('username/password (RFC 1929) against dante\'s system-password check', () => {
  it('the right password: connected, and dante logs the user', async () => {
    const logMark = danteLog.length;
    const r = await client({ op: 'connect', proxy: PROXY_AUTH, auth: { username: USER, password: PASSWORD }, destination: { address: '10.9.2.1', port: 7 }, bytes: 10_000, timeoutMs: 10_000 });
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true, gotLength: 10_000 });
    expect(r.gotSha).toBe(r.sentSha);
    expect(danteLog.slice(logMark)).toContain(`tcp/connect [: username%${USER}@10.9.1.2.`);
  });

  it('a wrong password: ERR_SOCKS5_AUTH_FAILED', async () => {
    const r = await client({ op: 'connect', proxy: PROXY_AUTH, auth: { username: USER, password: 'wrong' }, destination: { address: '10.9.2.1', port: 7 }, bytes: 1, timeoutMs: 10_000 });
    expect(r).toMatchObject({ ok: false, code: 'ERR_SOCKS5_AUTH_FAILED', stage: 'auth' });
    expect(danteLog).toContain(`system password authentication failed for user "${USER}"`);
  });

  it('no credentials for a proxy that wants them: ERR_SOCKS5_NO_ACCEPTABLE_METHODS', async () => {
    const r = await client({ op: 'connect', proxy: PROXY_AUTH, destination: { address: '10.9.2.1', port: 7 }, bytes: 1, timeoutMs: 10_000 });
    expect(r).toMatchObject({ ok: false, code: 'ERR_SOCKS5_NO_ACCEPTABLE_METHODS', stage: 'method' });
  });
});

describe('UDP ASSOCIATE through dante (RFC 1928 §7)', () => {
  const SIZES = [0, 1, 100, 1400, 1473, 8000, 32768, 65000];
  type UdpResult = { results: Array<{ size: number; accepted: boolean; echoed: boolean; from: { address: string; port: number } | null }>; stats: Record<string, number>; relay: { address: string; port: number } };

  it('IPv4 destination: every size echoed exact, from the destination; the echo server saw dante\'s external address', async () => {
    const mark = echoOut.length;
    const logMark = danteLog.length;
    const r = await client({ op: 'udp', proxy: PROXY, destination: { address: '10.9.2.1', port: 7 }, sizes: SIZES, timeoutMs: 10_000 }) as ClientResult & UdpResult;
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(r.relay.address).toBe('10.9.1.1');
    for (const x of r.results) expect(x, JSON.stringify(x)).toMatchObject({ accepted: true, echoed: true, from: { address: '10.9.2.1', port: 7 } });
    expect(r.stats).toMatchObject({ InDatagrams: SIZES.length, OutDatagrams: SIZES.length, InHdrErrors: 0, InFragments: 0, InWrongSource: 0, OutDiscards: 0, OutErrors: 0 });
    const peers = echoSince(mark).filter((l) => l.startsWith('udp-peer 10.9.2.1 '));
    expect(peers.map((l) => Number(l.split(' ')[4]))).toEqual(SIZES);
    for (const l of peers) expect(l.split(' ')[2]).toBe('10.9.3.1');
    // Closing the association closed the control connection, and dante ended the association with it.
    expect(danteLog.slice(logMark)).toMatch(/udp\/udpassociate \]: .*10\.9\.2\.1\.7 .*local client closed/);
  });

  it('IPv6 destination, through the proxy reached over IPv6 (an IPv6 relay)', async () => {
    const mark = echoOut.length;
    const r = await client({ op: 'udp', proxy: PROXY6, destination: { address: 'fd00:9:2::1', port: 7 }, sizes: [1, 1400, 9000], timeoutMs: 10_000 }) as ClientResult & UdpResult;
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(r.relay.address).toBe('fd00:9:1::1');
    for (const x of r.results) expect(x, JSON.stringify(x)).toMatchObject({ echoed: true, from: { address: 'fd00:9:2::1', port: 7 } });
    expect(echoSince(mark).filter((l) => l.startsWith('udp-peer fd00:9:2::1 fd00:9:3::1 '))).toHaveLength(3);
  });

  it('with username/password, to a domain name the proxy resolves', async () => {
    const r = await client({ op: 'udp', proxy: PROXY_AUTH, auth: { username: USER, password: PASSWORD }, destination: { host: 'echo.s5.test', port: 7 }, sizes: [5, 500], timeoutMs: 10_000 }) as ClientResult & UdpResult;
    expect(r.ok, JSON.stringify(r)).toBe(true);
    for (const x of r.results) expect(x, JSON.stringify(x)).toMatchObject({ echoed: true, from: { address: '10.9.2.1', port: 7 } });
  });

  it('a misbehaving relay (scripted, in the client namespace): strangers not delivered, bad headers and fragments dropped and counted; a burst over the pending bound dropped and counted; the proxy closing the control connection closes the association', async () => {
    const r = await client({ op: 'fake-relay' });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(r.delivered).toEqual([{ data: 'good', rinfo: { address: '10.9.2.1', family: 'IPv4', port: 7, size: 4 } }]);
    // The stranger's datagram never reaches the association: its socket is connected to the relay.
    expect(r.before).toMatchObject({ InDatagrams: 1, InWrongSource: 0, InHdrErrors: 1, InFragments: 1, OutDatagrams: 16, OutDiscards: 84, OutErrors: 0 });
    expect(r.burst).toEqual({ accepted: 16, pendingAtBurst: { sends: 16, bytes: expect.any(Number) }, pendingAfter: { sends: 0, bytes: 0 }, relayed: 16 });
    expect(r.closeResult).toBe('closed');
    expect(r.isClosed).toBe(true);
    expect(r.sendAfter).toBe(false);
    expect(r.after).toMatchObject({ OutDiscards: 85, OutDatagrams: 16 });
  });
});
