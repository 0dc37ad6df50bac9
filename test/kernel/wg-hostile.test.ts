/**
 * `netstack tunnel` under a hostile or broken WireGuard peer, from the UDP side, while it
 * carries a real peer's traffic (wireguard-go, configured with `wg`).
 *
 *   namespace A                                      namespace B
 *   netstack tunnel (wg0 10.100.0.1/24)              wireguard-go (10.100.0.2/24)
 *   peers: B (10.100.0.2/32), C (10.100.0.3/32)      + the attacker (fixtures/wg-attacker.mjs)
 *        |  UDP 51820                                   from 10.99.0.2 and 10.99.0.10-49
 *   veth vta 10.99.0.1/24  <------------------------>  veth vtb
 *
 * Every datagram the attacker sends must land in exactly one of the tunnel's In* counters,
 * nothing may throw, the tables stay within their bounds, the endpoint moves only on
 * authenticated packets, and ping keeps working through it. Every wait and loop is bounded;
 * everything lives in the two namespaces the test creates.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cli, liveStats, Netns, repoRoot, Server, statCount, type Stats } from './netns.js';

const A_KEY = createHash('sha256').update('netstack-hostile-a').digest().toString('base64');
const B_KEY = createHash('sha256').update('netstack-hostile-b').digest().toString('base64');
const C_KEY = createHash('sha256').update('netstack-hostile-c').digest().toString('base64');
const attacker = resolve(repoRoot, 'test/kernel/fixtures/wg-attacker.mjs');
const WG_PORT = 51820;
const SOURCES = Array.from({ length: 40 }, (_, i) => `10.99.0.${10 + i}`);
const INSIDER = '10.99.0.60';

beforeAll(() => {
  for (const tool of ['wireguard-go', 'wg', 'python3']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      throw new Error(`this test needs '${tool}': apt-get install -y --no-install-recommends wireguard-go wireguard-tools python3`);
    }
  }
});

let cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

interface Setup {
  a: Netns;
  b: Netns;
  bDev: string;
  aPublic: string;
  tunnel: Server;
  /** wg set … peer A (again): forgets every session with A. */
  readdA(): void;
  /** wireguard-go's log (verbose) so far. */
  wgoLog(): string;
}

const pubkey = (ns: Netns, key: string): string => ns.runSync('sh', ['-c', `echo ${key} | wg pubkey`]).trim();

/** wireguard-go (verbose log) on `dev` in `ns`, started and stopped with the test; B's private key written to a file for `wg set`. */
async function startWireguardGo(ns: Netns, dev: string, dir: string): Promise<{ keyFile: string; log: () => string }> {
  const wgo = ns.spawn('env', ['LOG_LEVEL=verbose', 'wireguard-go', '-f', dev]);
  let log = '';
  await new Promise<void>((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`wireguard-go did not start: ${log}`)), 10_000);
    const on = (d: Buffer): void => { log += d.toString(); if (/UAPI listener started/.test(log)) { clearTimeout(timer); ready(); } };
    wgo.stdout!.on('data', on);
    wgo.stderr!.on('data', on);
  });
  cleanup.push(async () => {
    if (wgo.exitCode !== null || wgo.signalCode !== null) return;
    const gone = new Promise((r) => wgo.once('exit', r));
    wgo.kill('SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
  });
  const keyFile = join(dir, 'b.key');
  writeFileSync(keyFile, B_KEY + '\n', { mode: 0o600 });
  return { keyFile, log: () => log };
}

/** A: netstack tunnel with peers B and C and no endpoint for either (B reaches it first); B: wireguard-go knowing A. */
async function setup(): Promise<Setup> {
  const a = Netns.create('wha');
  cleanup.push(() => a.close());
  const b = Netns.create('whb');
  cleanup.push(() => b.close());
  a.runSync('ip', ['link', 'add', 'vta', 'type', 'veth', 'peer', 'name', 'vtb']);
  a.runSync('ip', ['link', 'set', 'vtb', 'netns', b.name]);
  a.runSync('ip', ['addr', 'add', '10.99.0.1/24', 'dev', 'vta']);
  a.runSync('ip', ['link', 'set', 'vta', 'up']);
  b.runSync('ip', ['addr', 'add', '10.99.0.2/24', 'dev', 'vtb']);
  for (const s of [...SOURCES, INSIDER]) b.runSync('ip', ['addr', 'add', `${s}/24`, 'dev', 'vtb']);
  b.runSync('ip', ['link', 'set', 'vtb', 'up']);
  const dir = mkdtempSync(join(tmpdir(), 'netstack-wgh-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  const aPublic = pubkey(a, A_KEY);
  const bPublic = pubkey(b, B_KEY);
  const cPublic = pubkey(b, C_KEY);
  const aFile = join(dir, 'wg0.conf');
  writeFileSync(aFile, `[Interface]\nPrivateKey = ${A_KEY}\nAddress = 10.100.0.1/24\nListenPort = ${WG_PORT}\nMTU = 1420\n\n` +
    `[Peer]\nPublicKey = ${bPublic}\nAllowedIPs = 10.100.0.2/32\n\n[Peer]\nPublicKey = ${cPublic}\nAllowedIPs = 10.100.0.3/32\n`, { mode: 0o600 });
  const bDev = `wgh${process.pid % 1_000_000}`;
  const { keyFile, log } = await startWireguardGo(b, bDev, dir);
  const readdA = (): void => {
    b.runSync('wg', ['set', bDev, 'peer', aPublic, 'remove']);
    b.runSync('wg', ['set', bDev, 'peer', aPublic, 'allowed-ips', '10.100.0.1/32', 'endpoint', `10.99.0.1:${WG_PORT}`]);
  };
  b.runSync('wg', ['set', bDev, 'listen-port', String(WG_PORT), 'private-key', keyFile]);
  readdA();
  b.runSync('ip', ['addr', 'add', '10.100.0.2/24', 'dev', bDev]);
  b.runSync('ip', ['link', 'set', bDev, 'up']);
  const tunnel = new Server(a.spawn(process.execPath, [cli, 'tunnel', '--config', aFile, '--tun', 'wg0', '--stats']));
  cleanup.push(async () => { if (tunnel.child.exitCode === null) await tunnel.stop(); });
  await tunnel.waitFor(/ready/, 20_000);
  return { a, b, bDev, aPublic, tunnel, readdA, wgoLog: log };
}

async function ping(ns: Netns, args: string[], count = 3): Promise<void> {
  const r = await ns.run('ping', ['-c', String(count), '-i', '0.2', '-W', '5', ...args], { timeoutMs: 20_000 });
  expect(r.code, `${ns.name} ping ${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(0);
  expect(r.stdout).toMatch(new RegExp(`${count} received`));
}

interface AttackResult { sent: number; received: number; cookieReplies: number; responses: number; kinds: Record<string, number> }

async function attack(b: Netns, cfg: Record<string, unknown>, timeoutMs = 40_000): Promise<AttackResult> {
  const r = await b.run(process.execPath, [attacker, JSON.stringify({ target: { address: '10.99.0.1', port: WG_PORT }, ...cfg })], { timeoutMs });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as AttackResult;
}

const IN_OUTCOMES = [
  'InHdrErrors', 'InMac1Errors', 'InCookieChallenges', 'InHandshakeErrors', 'InHandshakeReplays', 'InHandshakeFloods', 'InRateLimited',
  'InInitiations', 'InResponses', 'InCookieReplies', 'InCookieErrors', 'InUnknownIndex', 'InExpired', 'InDecryptErrors', 'InReplays',
  'InKeepalives', 'InDataPackets', 'InSourceErrors', 'InInnerErrors', 'InInternalErrors',
];

/** The outcomes that are drops (everything but accepted messages). */
const DROPS = IN_OUTCOMES.filter((k) => !['InInitiations', 'InResponses', 'InCookieReplies', 'InKeepalives', 'InDataPackets'].includes(k));

function delta(s1: Stats, s2: Stats): (k: string, layer?: string) => number {
  return (k, layer = 'wireguard') => statCount(s2, layer, k) - statCount(s1, layer, k);
}

/** Every datagram in is in exactly one outcome counter; nothing thrown; the tables within their bounds (2 peers). */
function checkInvariants(s: Stats): void {
  const w = s.wireguard!;
  expect(IN_OUTCOMES.reduce((n, k) => n + (w[k] ?? 0), 0)).toBe(w.InDatagrams);
  expect(w.InInternalErrors).toBe(0);
  const t = s.tables!;
  expect(t.peers).toBe(2);
  expect(t.indices).toBeLessThanOrEqual(8); // 4 per peer: a handshake and 3 sessions
  expect(t.staged).toBeLessThanOrEqual(2 * 128);
  expect(t.rateLimitedSources).toBeLessThanOrEqual(8192);
}

describe('netstack tunnel under a hostile peer (the UDP side), carrying wireguard-go\'s traffic', () => {
  it('malformed messages of every type and length; the real peer\'s initiation, response-less transport and bad-tag copies replayed from another address: each dropped and counted once, the endpoint stays; inner sources outside the allowed IPs dropped', async () => {
    const s = await setup();
    // Capture what wireguard-go sends A (its initiation and transport packets) on B's veth.
    const capture = new Server(s.b.spawn('python3', ['-c', CAPTURE, 'vtb', String(WG_PORT)]));
    await capture.waitFor(/^ready$/m, 10_000);
    await ping(s.b, ['10.100.0.1']); // B initiates: A learns B's endpoint from the initiation
    await ping(s.a, ['10.100.0.2']);
    capture.child.kill('SIGTERM');
    await capture.exited;
    const captured = JSON.parse(capture.stdout.split('\n').find((l) => l.startsWith('['))!) as string[];
    const types = captured.map((h) => parseInt(h.slice(0, 2), 16));
    expect(types.filter((t) => t === 1).length, JSON.stringify(types)).toBeGreaterThanOrEqual(1);
    expect(types.filter((t) => t === 4).length).toBeGreaterThanOrEqual(6);

    const s1 = await liveStats(s.tunnel);
    // With 2500 junk initiations (bad mac1) within a second or two: more than the 1000 a second
    // that would put the tunnel under load, were junk counted.
    const bad = await attack(s.b, { mode: 'malformed', sources: [SOURCES[0]], targetPublic: s.aPublic, junk: 2500 });
    const rep = await attack(s.b, { mode: 'replay', sources: [SOURCES[1]], replay: captured });
    const sent = bad.sent + rep.sent;
    let s2 = await liveStats(s.tunnel);
    for (let i = 0; i < 100 && DROPS.reduce((n, k) => n + delta(s1, s2)(k), 0) < sent; i++) {
      await new Promise((r) => setTimeout(r, 50));
      s2 = await liveStats(s.tunnel);
    }
    const d = delta(s1, s2);
    // Each one dropped, in exactly one counter; nothing accepted, nothing answered.
    expect(DROPS.reduce((n, k) => n + d(k), 0)).toBe(sent);
    expect(d('InInitiations') + d('InResponses') + d('InDataPackets') + d('InCookieReplies')).toBe(0);
    expect(d('OutResponses') + d('OutCookieReplies')).toBe(0);
    expect(d('InHdrErrors')).toBeGreaterThanOrEqual(bad.kinds.reserved!);
    expect(d('InMac1Errors')).toBeGreaterThanOrEqual(bad.kinds.junk!);
    // Junk costs a keyed BLAKE2s, not a DH: it does not put the tunnel under load (the real peer pays no cookie round trip).
    expect(d('UdpRxUnderLoad', 'tunnel')).toBe(0);
    // The replays: each initiation's TAI64N is not newer; each transport counter already seen; each flipped bit fails the tag.
    expect(d('InHandshakeReplays')).toBe(rep.kinds.replay1 ?? 0);
    expect(d('InReplays')).toBe(rep.kinds.replay4!);
    expect(d('InDecryptErrors')).toBe(rep.kinds.badTag!);
    checkInvariants(s2);
    // The endpoint did not move to the attacker's address: A's pings still reach B.
    s.tunnel.child.kill('SIGUSR1');
    await s.tunnel.waitFor(/endpoint: 10\.99\.0\.2:51820/, 5000);
    expect(s.tunnel.stdout).not.toMatch(/endpoint: 10\.99\.0\.1[01]:/);
    await ping(s.a, ['10.100.0.2']);

    // Cryptokey routing: B (authenticated) sends from 10.100.0.77, outside its allowed IPs on A.
    s.b.runSync('ip', ['addr', 'add', '10.100.0.77/24', 'dev', s.bDev]);
    const s3 = await liveStats(s.tunnel);
    const r = await s.b.run('ping', ['-c', '3', '-i', '0.2', '-W', '1', '-I', '10.100.0.77', '10.100.0.1'], { timeoutMs: 15_000 });
    expect(r.code).not.toBe(0);
    const s4 = await liveStats(s.tunnel);
    expect(delta(s3, s4)('InSourceErrors')).toBe(3);
    expect(delta(s3, s4)('TunTxPackets', 'tunnel')).toBe(0);
    await ping(s.b, ['10.100.0.1']);
    checkInvariants(await liveStats(s.tunnel));
    expect(s.tunnel.child.exitCode).toBe(null);
  }, 60_000);

  it('an initiation flood (valid mac1, unknown key) from 40 addresses that take the cookie replies, and a configured peer that never finishes a handshake: under load, cookies, the per-source limit; wireguard-go handshakes again meanwhile and ping goes on', async () => {
    const s = await setup();
    await ping(s.b, ['10.100.0.1']);
    const s1 = await liveStats(s.tunnel);
    const MS = 9000;
    const flood = attack(s.b, { mode: 'flood', sources: SOURCES, targetPublic: s.aPublic, rate: 2500, ms: MS });
    const insider = attack(s.b, { mode: 'insider', sources: [INSIDER], targetPublic: s.aPublic, privateKey: C_KEY, rate: 200, ms: MS });
    // Under load within a few seconds (more than 1000 handshake messages in a second).
    for (let i = 0; i < 100; i++) {
      if (statCount(await liveStats(s.tunnel), 'tunnel', 'UdpRxUnderLoad') > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(statCount(await liveStats(s.tunnel), 'tunnel', 'UdpRxUnderLoad')).toBeGreaterThan(0);
    // wireguard-go forgets its session: its next packet needs a new handshake, through the flood
    // (under load: a cookie reply first, then its retry with mac2 REKEY_TIMEOUT later).
    s.readdA();
    const r = await s.b.run('ping', ['-c', '1', '-w', '20', '10.100.0.1'], { timeoutMs: 25_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const [f, ins] = await Promise.all([flood, insider]);
    const s2 = await liveStats(s.tunnel);
    const d = delta(s1, s2);
    expect(d('OutCookieReplies')).toBeGreaterThan(0);
    expect(f.cookieReplies).toBeGreaterThan(0);
    // The crafters held cookies: their later initiations carried a valid mac2 and met the per-source limit.
    expect(d('InRateLimited')).toBeGreaterThan(0);
    // What reached a DH: at most the handshakes of the seconds not under load (1000 each) plus 20/s and a burst of 5 per source.
    const dh = d('InHandshakeErrors') + d('InInitiations') + d('InHandshakeFloods') + d('InHandshakeReplays');
    const secs = Math.ceil(MS / 1000) + 4;
    expect(dh).toBeLessThanOrEqual(secs * (1000 + 41 * 20) + 41 * 5);
    expect(dh).toBeLessThan(f.sent + ins.sent);
    // The insider's handshakes: answered at most 50/s (the per-peer flood limit), never confirmed.
    expect(ins.responses).toBeGreaterThan(0);
    expect(ins.responses).toBeLessThanOrEqual(secs * 50);
    checkInvariants(s2);
    process.stdout.write(`wg-hostile flood: sent ${f.sent} + ${ins.sent}, cookie replies ${d('OutCookieReplies')}, rate-limited ${d('InRateLimited')}, to a DH ${dh}, under load ${d('UdpRxUnderLoad', 'tunnel')}, tables ${JSON.stringify(s2.tables)}, wireguard-go took a cookie: ${/Receiving cookie response/.test(s.wgoLog())}\n`);
    await ping(s.a, ['10.100.0.2']);
    await ping(s.b, ['10.100.0.1']);
    expect(s.tunnel.child.exitCode).toBe(null);
  }, 60_000);

  it('a stack with `wireguard` options and no device (a plain node process) under the same flood and malformed messages: the WireGuard counters account for each, ping from behind wireguard-go answered by the stack, a fetch through it exact', async () => {
    const a = Netns.create('whsa');
    cleanup.push(() => a.close());
    const b = Netns.create('whsb');
    cleanup.push(() => b.close());
    a.runSync('ip', ['link', 'add', 'vta', 'type', 'veth', 'peer', 'name', 'vtb']);
    a.runSync('ip', ['link', 'set', 'vtb', 'netns', b.name]);
    a.runSync('ip', ['addr', 'add', '10.99.0.1/24', 'dev', 'vta']);
    a.runSync('ip', ['link', 'set', 'vta', 'up']);
    b.runSync('ip', ['addr', 'add', '10.99.0.2/24', 'dev', 'vtb']);
    for (const src of SOURCES) b.runSync('ip', ['addr', 'add', `${src}/24`, 'dev', 'vtb']);
    b.runSync('ip', ['link', 'set', 'vtb', 'up']);
    const dir = mkdtempSync(join(tmpdir(), 'netstack-wghs-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const aPublic = pubkey(a, A_KEY);
    const bPublic = pubkey(b, B_KEY);
    const bDev = `wgs${process.pid % 1_000_000}`;
    const { keyFile } = await startWireguardGo(b, bDev, dir);
    b.runSync('wg', ['set', bDev, 'listen-port', String(WG_PORT), 'private-key', keyFile, 'peer', aPublic, 'allowed-ips', '10.100.0.2/32', 'endpoint', `10.99.0.1:${WG_PORT}`]);
    b.runSync('ip', ['addr', 'add', '10.100.0.1/24', 'dev', bDev]);
    b.runSync('ip', ['link', 'set', bDev, 'up']);
    const http = await b.httpFixture(8080, 1_000_000, 60_000);
    cleanup.push(() => { http.child.kill('SIGTERM'); });
    const node = new Server(a.spawn(process.execPath, [resolve(repoRoot, 'test/kernel/fixtures/wg-stack-node.mjs'), JSON.stringify({
      wireguard: { privateKey: A_KEY, listenPort: WG_PORT, peers: [{ publicKey: bPublic, allowedIPs: ['10.100.0.1/32'] }] },
      address: '10.100.0.2', fetch: 'http://10.100.0.1:8080/big',
    })]));
    cleanup.push(() => { if (node.child.exitCode === null) node.child.kill('SIGKILL'); });
    await node.waitFor(/serving/, 20_000);
    await ping(b, ['10.100.0.2']); // wireguard-go initiates; the stack answers
    const bad = await attack(b, { mode: 'malformed', sources: [SOURCES[0]], targetPublic: aPublic });
    const f = await attack(b, { mode: 'flood', sources: SOURCES, targetPublic: aPublic, rate: 2500, ms: 4000 });
    await ping(b, ['10.100.0.2']);
    node.child.stdin!.write('go\n');
    const [, sha, bytes] = await node.waitFor(/fetched (\w+) (\d+)/, 30_000);
    expect(sha).toBe(http.sha256);
    expect(Number(bytes)).toBe(1_000_000);
    node.child.stdin!.write('end\n');
    const [, json] = await node.waitFor(/stats (.*)\n/, 10_000);
    const link = (JSON.parse(json!) as { link: Record<string, number> }).link;
    expect(IN_OUTCOMES.reduce((n, k) => n + (link[k] ?? 0), 0)).toBe(link.InDatagrams);
    expect(link.InDatagrams).toBeGreaterThanOrEqual(bad.sent + f.sent);
    expect(link.InInternalErrors).toBe(0);
    expect(link.UdpRxUnderLoad).toBeGreaterThan(0);
    expect(link.OutCookieReplies).toBeGreaterThan(0);
    expect(link.InRateLimited, JSON.stringify({ link, f })).toBeGreaterThan(0);
    expect((await node.exited).code).toBe(0);
  }, 60_000);
});

/** python3: print 'ready', then the UDP payloads B sends from port PORT to port PORT on DEV, as hex, on SIGTERM. */
const CAPTURE = `
import socket, struct, sys, json, signal
dev, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))  # ETH_P_ALL: outgoing packets reach only these
s.bind((dev, 0))
s.settimeout(0.1)
stop = []
signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
print('ready', flush=True)
out = []
while not stop and len(out) < 1000:
    try:
        pkt, addr = s.recvfrom(65535)
    except socket.timeout:
        continue
    except InterruptedError:
        continue
    if addr[2] != socket.PACKET_OUTGOING or pkt[12:14] != b'\\x08\\x00':
        continue
    ip = pkt[14:]
    if ip[0] >> 4 != 4 or ip[9] != 17:
        continue
    ihl = (ip[0] & 15) * 4
    sport, dport = struct.unpack('!HH', ip[ihl:ihl + 4])
    if sport == port and dport == port:
        out.append(ip[ihl + 8:].hex())
print(json.dumps(out), flush=True)
`;
