/**
 * @netstack/wireguard against wireguard-go, a WireGuard implementation nobody here wrote.
 *
 * Two private namespaces joined by a veth (192.0.2.1 | 192.0.2.2). In B, wireguard-go runs
 * wg0 (10.9.0.2/24), configured with `wg`; in A, test/kernel/fixtures/wg-peer.mjs drives the
 * pure WireGuardDevice over a node:dgram socket on 192.0.2.1:51821 (10.9.0.1 inside).
 *
 * - initiate: our side starts the handshake with an ICMP echo request to 10.9.0.2; the
 *   kernel behind wireguard-go answers, and the reply comes back through the tunnel; then
 *   the same with ICMPv6 to fd00:9::2 (the inner IPv6 path and its source check).
 * - respond: `ping 10.9.0.1` in B makes wireguard-go start the handshake; our side answers
 *   the echo request, and ping exits 0.
 *
 * - rekey: REKEY_AFTER_TIME set to 1 s on our side; wireguard-go takes the new handshake.
 * - roaming: our address changes and wireguard-go follows; its port changes and we follow
 *   (checked to fail with the endpoint update on transport packets removed).
 *
 * Each run's transcript (every call into the device and what it sent) is what
 * packages/wireguard/test/fixtures/wireguard-go-*.json hold; with UPDATE_WG_FIXTURES=1 the
 * run rewrites them. packages/wireguard/test/transcript.test.ts replays them offline.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Netns, repoRoot } from './netns.js';

const fixture = resolve(repoRoot, 'test/kernel/fixtures/wg-peer.mjs');
const OUR_KEY = createHash('sha256').update('netstack-wireguard-interop-a').digest();
const THEIR_KEY = createHash('sha256').update('netstack-wireguard-interop-b').digest();

function b64(k: Buffer): string {
  return k.toString('base64');
}

beforeAll(() => {
  // Never skip silently: the interop needs wireguard-go and wg (apt-get install -y --no-install-recommends wireguard-go wireguard-tools).
  for (const tool of ['wireguard-go', 'wg']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      throw new Error(`this test needs '${tool}': apt-get install -y --no-install-recommends wireguard-go wireguard-tools`);
    }
  }
});

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

interface Setup { a: Netns; b: Netns; ourPublic: string; theirPublic: string }

async function setup(weKnowEndpoint: boolean, theyKnowEndpoint: boolean): Promise<Setup> {
  const a = Netns.create('wga');
  cleanup.push(() => a.close());
  const b = Netns.create('wgb');
  cleanup.push(() => b.close());
  a.runSync('ip', ['link', 'add', 'vwa', 'type', 'veth', 'peer', 'name', 'vwb']);
  a.runSync('ip', ['link', 'set', 'vwb', 'netns', b.name]);
  a.runSync('ip', ['addr', 'add', '192.0.2.1/24', 'dev', 'vwa']);
  a.runSync('ip', ['link', 'set', 'vwa', 'up']);
  b.runSync('ip', ['addr', 'add', '192.0.2.2/24', 'dev', 'vwb']);
  b.runSync('ip', ['link', 'set', 'vwb', 'up']);

  const ourPublic = b.runSync('sh', ['-c', `echo ${b64(OUR_KEY)} | wg pubkey`]).trim();
  const theirPublic = b.runSync('sh', ['-c', `echo ${b64(THEIR_KEY)} | wg pubkey`]).trim();
  const dir = mkdtempSync(join(tmpdir(), 'netstack-wg-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const keyFile = join(dir, 'key');
  writeFileSync(keyFile, b64(THEIR_KEY) + '\n', { mode: 0o600 });

  // wireguard-go in the foreground, verbose: it says when its UAPI socket is up.
  const wgo = b.spawn('env', ['LOG_LEVEL=verbose', 'wireguard-go', '-f', 'wg0']);
  let log = '';
  await new Promise<void>((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`wireguard-go did not start: ${log}`)), 10_000);
    const on = (d: Buffer): void => {
      log += d.toString();
      if (/UAPI listener started/.test(log)) {
        clearTimeout(timer);
        ready();
      }
    };
    wgo.stdout!.on('data', on);
    wgo.stderr!.on('data', on);
    wgo.on('exit', (code) => { clearTimeout(timer); fail(new Error(`wireguard-go exited ${code}: ${log}`)); });
  });
  cleanup.push(() => { wgo.kill('SIGTERM'); });
  b.runSync('wg', ['set', 'wg0', 'listen-port', '51820', 'private-key', keyFile,
    'peer', ourPublic, 'allowed-ips', '10.9.0.1/32,fd00:9::1/128', ...(theyKnowEndpoint ? ['endpoint', '192.0.2.1:51821'] : [])]);
  b.runSync('ip', ['addr', 'add', '10.9.0.2/24', 'dev', 'wg0']);
  b.runSync('ip', ['addr', 'add', 'fd00:9::2/64', 'dev', 'wg0', 'nodad']);
  b.runSync('ip', ['link', 'set', 'wg0', 'up']);
  void weKnowEndpoint;
  return { a, b, ourPublic, theirPublic };
}

function peerConfig(s: Setup, mode: 'initiate' | 'respond' | 'rekey' | 'roam', underLoad = false): string {
  return JSON.stringify({
    privateKey: OUR_KEY.toString('hex'),
    seed: `interop-${mode}${underLoad ? '-load' : ''}`,
    underLoad,
    localIp: '10.9.0.1',
    peerIp: '10.9.0.2',
    ...(mode === 'initiate' ? { localIp6: 'fd00:9::1', peerIp6: 'fd00:9::2' } : {}),
    // REKEY_TIMEOUT short too: no two initiations are closer than it, and the first was at 0.
    ...(mode === 'rekey' ? { timers: { rekeyAfterTime: 1000, rekeyTimeout: 500 } } : {}),
    listen: { address: '192.0.2.1', port: 51821 },
    peer: { publicKey: s.theirPublic, allowedIps: ['10.9.0.2/32', 'fd00:9::2/128'], ...(mode !== 'respond' ? { endpoint: { address: '192.0.2.2', port: 51820 } } : {}) },
  });
}

interface Transcript {
  mode: string;
  stats: Record<string, number>;
  inner?: string;
  replies?: string[];
  events: Array<{ call: string; out: unknown[] }>;
}

function saveFixture(mode: string, t: Transcript, s: Setup): void {
  if (process.env.UPDATE_WG_FIXTURES !== '1') return;
  const path = resolve(repoRoot, `packages/wireguard/test/fixtures/wireguard-go-${mode}.json`);
  const wgVersion = spawnSync('wireguard-go', ['--version'], { encoding: 'utf8' }).stdout.trim().split('\n')[0];
  writeFileSync(path, JSON.stringify({ recordedWith: wgVersion, theirPublic: s.theirPublic, ourPublic: s.ourPublic, ...t }, null, 1) + '\n');
}

describe('@netstack/wireguard ↔ wireguard-go over a veth', () => {
  it('we initiate: handshake, then an ICMP echo and an ICMPv6 echo through the tunnel, answered by the kernel behind wireguard-go', async () => {
    const s = await setup(true, false);
    const r = await s.a.run(process.execPath, [fixture, 'initiate', peerConfig(s, 'initiate')], { timeoutMs: 15_000 });
    const t = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Transcript;
    expect(r.code, r.stderr + r.stdout).toBe(0);
    expect(t.stats).toMatchObject({ OutInitiations: 1, InResponses: 1, InDataPackets: 2, InHandshakeErrors: 0, InDecryptErrors: 0 });
    // The inner packet: ICMP echo reply (type 0) from 10.9.0.2 to 10.9.0.1, our payload back.
    const inner = Buffer.from(t.inner!, 'hex');
    expect(inner[9]).toBe(1);
    expect(inner[20]).toBe(0);
    expect([...inner.subarray(12, 20)].join('.')).toBe('10.9.0.2.10.9.0.1');
    expect(inner.subarray(28).toString()).toBe('netstack wireguard');
    // Then IPv6 inside the same session: an ICMPv6 echo reply (129) from fd00:9::2.
    const inner6 = Buffer.from(t.replies![1]!, 'hex');
    expect(inner6[0]! >> 4).toBe(6);
    expect(inner6[40]).toBe(129);
    expect(inner6.subarray(8, 24).toString('hex')).toBe('fd000009000000000000000000000002');
    expect(inner6.subarray(48).toString()).toBe('netstack wireguard v6');
    // wireguard-go agrees: it has a handshake with us and counted the bytes.
    const dump = s.b.runSync('wg', ['show', 'wg0', 'dump']).trim().split('\n');
    const peer = dump.find((l) => l.startsWith(s.ourPublic))!.split('\t');
    expect(Number(peer[4])).toBeGreaterThan(0); // latest handshake (Unix seconds)
    expect(Number(peer[5])).toBeGreaterThan(0); // rx bytes
    saveFixture('initiate', t, s);
  });

  it('rekey after a short REKEY_AFTER_TIME (test settings: 1 s, REKEY_TIMEOUT 0.5 s): wireguard-go takes the new handshake mid-session', async () => {
    const s = await setup(true, false);
    const r = await s.a.run(process.execPath, [fixture, 'rekey', peerConfig(s, 'rekey')], { timeoutMs: 20_000 });
    const t = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Transcript;
    expect(r.code, r.stderr + r.stdout).toBe(0);
    // Echo 1 on the first session; echo 2 on it too, with the new initiation beside it; echo 3 on the second.
    expect(t.stats).toMatchObject({ OutInitiations: 2, InResponses: 2, InDataPackets: 3, InHandshakeErrors: 0, InDecryptErrors: 0, InUnknownIndex: 0 });
    expect(t.replies!.map((h) => Buffer.from(h, 'hex').readUInt16BE(26))).toEqual([1, 2, 3]);
    saveFixture('rekey', t, s);
  });

  it('roaming both ways: wireguard-go follows our new address, and we follow its new port', async () => {
    const s = await setup(true, false);
    const child = s.a.spawn(process.execPath, [fixture, 'roam', peerConfig(s, 'roam')]);
    let out = '';
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    const waitFor = (what: string): Promise<void> => new Promise((ready, fail) => {
      const timer = setTimeout(() => fail(new Error(`no ${what}: ${out} ${err}`)), 10_000);
      const check = (): void => { if (out.includes(what)) { clearTimeout(timer); ready(); } };
      child.stdout!.on('data', check);
      check();
    });
    await waitFor('phase1');
    // Our side moves: 192.0.2.1 -> 192.0.2.5. Echo 2 leaves from the new address.
    // (the old one first: deleting a primary address takes its secondaries along)
    s.a.runSync('ip', ['addr', 'del', '192.0.2.1/24', 'dev', 'vwa']);
    s.a.runSync('ip', ['addr', 'add', '192.0.2.5/24', 'dev', 'vwa']);
    child.stdin!.write('go\n');
    await waitFor('phase2');
    expect(s.b.runSync('wg', ['show', 'wg0', 'endpoints'])).toContain('192.0.2.5:51821');
    // wireguard-go's side moves: its socket to port 51830 (changing its address instead would
    // test wireguard-go's sticky source address, not us). Its ping reaches us from there, and
    // our answer goes where the authenticated packet came from (nothing listens on 51820 now).
    s.b.runSync('wg', ['set', 'wg0', 'listen-port', '51830']);
    const ping = await s.b.run('ping', ['-c', '1', '-W', '5', '10.9.0.1'], { timeoutMs: 10_000 });
    expect(ping.code, ping.stdout + ping.stderr + out + err).toBe(0);
    child.stdin!.write('end\n');
    expect(await exited, err).toBe(0);
    const t = JSON.parse(out.trim().split('\n').at(-1)!) as { stats: Record<string, number>; events: Array<{ call: string; out: Array<{ to: { address: string; port: number } }> }> };
    const last = t.events.filter((e) => e.call === 'encapsulate').at(-1)!;
    expect(last.out.map((o) => o.to)).toEqual([{ address: '192.0.2.2', port: 51830 }]);
    expect(t.stats).toMatchObject({ InHandshakeErrors: 0, InDecryptErrors: 0, InSourceErrors: 0 });
  });

  async function theyInitiate(underLoad: boolean): Promise<Transcript> {
    const s = await setup(false, true);
    const child = s.a.spawn(process.execPath, [fixture, 'respond', peerConfig(s, 'respond', underLoad)]);
    let out = '';
    let err = '';
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { err += d; });
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    await new Promise<void>((ready, fail) => {
      const timer = setTimeout(() => fail(new Error(`peer did not start: ${out} ${err}`)), 10_000);
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('listening')) { clearTimeout(timer); ready(); }
      });
    });
    // Under load the first initiation gets our cookie reply; wireguard-go retransmits after
    // REKEY_TIMEOUT (5 s + jitter) with mac2: the echo request waits that long in its queue.
    const ping = await s.b.run('ping', ['-c', '1', '-W', '12', '10.9.0.1'], { timeoutMs: 15_000 });
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    expect(await exited, err).toBe(0);
    const t = JSON.parse(out.trim().split('\n').at(-1)!) as Transcript;
    expect(t.stats).toMatchObject({ InInitiations: 1, OutResponses: 1, InDataPackets: 1, OutDataPackets: 1, InHandshakeErrors: 0 });
    const inner = Buffer.from(t.inner!, 'hex');
    expect(inner[20]).toBe(8); // the echo request we answered
    saveFixture(underLoad ? 'respond-load' : 'respond', t, s);
    return t;
  }

  it('they initiate: `ping 10.9.0.1` behind wireguard-go; we answer the echo', async () => {
    const t = await theyInitiate(false);
    expect(t.stats.InCookieChallenges).toBe(0);
  });

  it('they initiate while we are under load: our cookie reply, wireguard-go\'s retry with a valid mac2, then the echo', async () => {
    const t = await theyInitiate(true);
    // wireguard-go took our XChaCha20-Poly1305 cookie reply and computed mac2 from it.
    expect(t.stats).toMatchObject({ InCookieChallenges: 1, OutCookieReplies: 1, InInitiations: 1 });
  }, 30_000);
});
