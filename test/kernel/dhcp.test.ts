/**
 * The DHCP client (packages/netstack/src/dhcp) against a real server: dnsmasq (Debian's
 * dnsmasq-base) in the test's own namespace, serving DHCP on a TUN device whose kernel side
 * is 10.7.1.1/24. TAP is not wired into createStack yet, so a small harness script in the
 * namespace stands in for the stack: it frames the client's datagrams as IPv4/UDP 68 → 67
 * itself (source 0.0.0.0 before a lease, as the client says) and hands every IPv4/UDP
 * datagram to port 68 read from the device to `client.input`. DHCP does not need a MAC on
 * the wire (chaddr is in the message and the client asks for broadcast replies), so a TUN
 * link carries the whole protocol. The packets are src/dhcp/frame.ts's (`dhcpClientPacket`,
 * `dhcpServerPayload`): the kernel checks their checksums before dnsmasq sees them.
 *
 * Proven (each can fail): the lease (address in dnsmasq's range, /24, router, DNS, MTU
 * from dnsmasq's options) arrives through DISCOVER/OFFER/REQUEST/ACK; dnsmasq's lease file
 * holds our MAC and address; a renewal at T1 goes unicast to dnsmasq from the leased
 * address and is ACKed, a rebinding at T2 broadcast and ACKed (the client's clock is
 * moved forward: time is its argument); close() RELEASEs and dnsmasq's lease file no longer
 * holds the lease. Every wait is bounded (the script gives up after 15 s).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Netns, repoRoot } from './netns.js';

const TUN_DIST = pathToFileURL(resolve(repoRoot, 'packages/tun/dist/index.js')).href;
const DHCP_DIST = pathToFileURL(resolve(repoRoot, 'packages/netstack/dist/dhcp/client.js')).href;
const FRAME_DIST = pathToFileURL(resolve(repoRoot, 'packages/netstack/dist/dhcp/frame.js')).href;
const MAC = '02:00:5e:10:00:42';

/**
 * The harness: opens tun1 (10.7.1.1/24 on the kernel side), runs a DhcpClient on it, and
 * prints one JSON line per step: `acquired`, then on stdin `renew`, `rebind`, `close`, each
 * answered by the line of what followed. Packets out: `dhcpClientPacket`; in: what
 * `dhcpServerPayload` takes (the rest counted in `drops`).
 */
const SCRIPT = String.raw`
const { TunDevice } = await import(process.env.TUN_DIST);
const { DhcpClient } = await import(process.env.DHCP_DIST);
const readline = await import('node:readline');
const dev = TunDevice.open({ name: 'tun1', kernelAddress: '10.7.1.1/24' });
const { dhcpClientPacket, dhcpServerPayload } = await import(process.env.FRAME_DIST);
const dot = (a) => [a >>> 24, (a >>> 16) & 255, (a >>> 8) & 255, a & 255].join('.');
const sent = [];
const drops = {};
let offset = 0;
const now = () => performance.now() + offset;
let waiting;
const events = [];
const client = new DhcpClient({
  send(bytes, to) { sent.push({ type: bytes[242], to: dot(to.address), from: dot(to.source) }); dev.send(dhcpClientPacket(bytes, to)); },
  apply(lease) { events.push({ apply: dot(lease.address) }); },
  remove(lease) { events.push({ remove: dot(lease.address) }); },
  event(e) {
    const l = e.lease;
    events.push({ type: e.type, address: dot(l.address), prefixLength: l.prefixLength, gateway: l.gateway === undefined ? null : dot(l.gateway),
      dns: l.dnsServers.map(dot), mtu: l.mtu ?? null, server: dot(l.serverId), leaseTime: l.leaseTime, t1: l.renewalTime, t2: l.rebindingTime });
    if (waiting !== undefined) { const w = waiting; waiting = undefined; setImmediate(w); }
  },
}, { mac: parseInt(process.env.MAC.replaceAll(':', ''), 16), hostName: 'netstack-dhcp' });
let timer;
const arm = () => { clearTimeout(timer); const at = client.pollAt(); if (at !== Infinity) timer = setTimeout(() => { client.poll(now()); arm(); }, Math.max(0, at - now())); };
dev.setReceiver({
  packet(p) {
    const m = dhcpServerPayload(p);
    if (typeof m === 'string') { drops[m] = (drops[m] ?? 0) + 1; return; }
    client.input(m, now());
    arm();
  },
});
const step = (f) => new Promise((r) => { const give = setTimeout(() => { waiting = undefined; r(); }, 15000); waiting = () => { clearTimeout(give); r(); }; f(); arm(); });
const report = (what) => { console.log(JSON.stringify({ what, state: client.state, events: events.splice(0), sent: sent.splice(0), stats: client.stats(), drops })); };
await step(() => client.start(now()));
report('acquired');
const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (line === 'renew') { offset += client.lease.renewAt - now(); await step(() => client.poll(now())); report('renew'); }
  if (line === 'rebind') { offset += client.lease.rebindAt - now(); await step(() => client.poll(now())); report('rebind'); }
  if (line === 'close') { client.close(now()); await new Promise((r) => setTimeout(r, 300)); report('close'); dev.close(); process.exit(0); }
}
`;

let ns: Netns;
let dir: string;
let dnsmasq: ChildProcess;
let log = '';
let harness: ChildProcess;
let lines: string[] = [];
const waiters: (() => void)[] = [];

function ensureDnsmasq(): void {
  if (spawnSync('sh', ['-c', 'command -v dnsmasq']).status === 0) return;
  if (process.getuid?.() !== 0) throw new Error('dnsmasq is missing: apt-get install -y dnsmasq-base');
  const r = spawnSync('sh', ['-c', 'apt-get install -y -qq dnsmasq-base || (apt-get update -qq && apt-get install -y -qq dnsmasq-base)'], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (r.status !== 0) throw new Error(`apt-get install dnsmasq-base failed: ${r.stderr}`);
}

interface Step {
  what: string;
  state: string;
  events: Record<string, unknown>[];
  sent: { type: number; to: string; from: string }[];
  stats: Record<string, number>;
  drops: Record<string, number>;
}

async function nextLine(timeoutMs = 20_000): Promise<Step> {
  const t0 = Date.now();
  while (lines.length === 0) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`harness silent; dnsmasq log:\n${log}`);
    await new Promise<void>((r) => { const t = setTimeout(r, 500); waiters.push(() => { clearTimeout(t); r(); }); });
  }
  return JSON.parse(lines.shift()!) as Step;
}

const leases = (): string => readFileSync(join(dir, 'leases'), 'utf8');

beforeAll(async () => {
  ensureDnsmasq();
  ns = Netns.create('dhcp');
  dir = mkdtempSync(join(tmpdir(), 'netstack-dhcp-'));
  // dnsmasq first (wildcard socket on port 67; no DNS: --port=0); tun1 appears after, and a
  // range on its subnet is served once it has 10.7.1.1/24. Lease 2 min: dnsmasq's least.
  dnsmasq = ns.spawn('dnsmasq', [
    '--no-daemon', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--port=0', '--interface=tun1',
    '--dhcp-range=10.7.1.50,10.7.1.60,255.255.255.0,2m', '--dhcp-option=option:router,10.7.1.1',
    '--dhcp-option=option:dns-server,10.7.1.1', '--dhcp-option=option:mtu,1400', '--dhcp-authoritative',
    `--dhcp-leasefile=${join(dir, 'leases')}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`, '--log-dhcp', '--log-facility=-',
  ]);
  dnsmasq.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
  dnsmasq.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  const t0 = Date.now();
  while (!/started, version/.test(log)) {
    if (Date.now() - t0 > 20_000) throw new Error(`dnsmasq did not start: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  harness = ns.spawn('env', [`TUN_DIST=${TUN_DIST}`, `DHCP_DIST=${DHCP_DIST}`, `FRAME_DIST=${FRAME_DIST}`, `MAC=${MAC}`, process.execPath, '--input-type=module', '-e', SCRIPT]);
  let buf = '';
  harness.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts.filter((l) => l.startsWith('{')));
    for (const w of waiters.splice(0)) w();
  });
  harness.stderr!.on('data', (d: Buffer) => { log += `[harness] ${d.toString()}`; });
}, 320_000);

afterAll(async () => {
  if (process.env.DHCP_DEBUG) console.log(log);
  harness?.kill('SIGKILL');
  await ns?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe('DHCP client against dnsmasq (over TUN, in a private namespace)', () => {
  it('acquires, renews at T1 (unicast), rebinds at T2 (broadcast) and releases on close', async () => {
    const a = await nextLine();
    expect(a.what).toBe('acquired');
    expect(a.state, log).toBe('BOUND');
    expect(a.sent.map((s) => [s.type, s.to, s.from])).toEqual([[1, '255.255.255.255', '0.0.0.0'], [3, '255.255.255.255', '0.0.0.0']]);
    const got = a.events.find((e) => e['type'] === 'acquired')!;
    const address = got['address'] as string;
    expect(address).toMatch(/^10\.7\.1\.(5\d|60)$/);
    expect(got).toMatchObject({ prefixLength: 24, gateway: '10.7.1.1', dns: ['10.7.1.1'], mtu: 1400, server: '10.7.1.1', leaseTime: 120, t1: 60, t2: 105 });
    expect(leases().toLowerCase()).toContain(`${MAC} ${address}`);
    expect(log).toMatch(new RegExp(`DHCPACK\\(tun1\\) ${address.replaceAll('.', '\\.')} ${MAC}`));

    harness.stdin!.write('renew\n');
    const r = await nextLine();
    expect(r.sent).toEqual([{ type: 3, to: '10.7.1.1', from: address }]); // RENEWING: unicast from the lease
    expect(r.events.map((e) => e['type'])).toEqual(['renewed']);
    expect(r.state).toBe('BOUND');

    harness.stdin!.write('rebind\n');
    const b = await nextLine();
    // One poll past T2 of the renewed lease: the T1 REQUEST (unicast) and at once the T2 one
    // (broadcast, a new xid: dnsmasq's answer to the first is dropped and counted).
    expect(b.sent).toEqual([{ type: 3, to: '10.7.1.1', from: address }, { type: 3, to: '255.255.255.255', from: address }]);
    expect(b.state).toBe('BOUND');
    expect(b.events.map((e) => e['type'])).toEqual(['renewed']);

    const before = leases();
    expect(before.toLowerCase()).toContain(MAC);
    harness.stdin!.write('close\n');
    const c = await nextLine();
    expect(c.sent).toEqual([{ type: 7, to: '10.7.1.1', from: address }]);
    expect(c.events).toEqual([{ remove: address }, expect.objectContaining({ type: 'lost' })]);
    const t0 = Date.now();
    while (leases().toLowerCase().includes(MAC) && Date.now() - t0 < 5000) await new Promise((res) => setTimeout(res, 100));
    expect(leases().toLowerCase()).not.toContain(MAC);
    expect(log).toMatch(/DHCPRELEASE\(tun1\)/);
    expect(c.stats['InMalformed']! + c.stats['InChaddrMismatch']! + c.stats['InBadReply']!).toBe(0);
  }, 60_000);
});
