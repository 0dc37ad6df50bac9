/**
 * The TUN device's IPv6 side against the real kernel, each case in a private namespace made
 * here (Netns.create; never the machine's own), running a small script over the BUILT
 * package (packages/tun/dist; build first) inside it:
 * - `kernelAddress: ['10.7.0.1/24', 'fd07::1/64']`: the IPv6 address is on the device
 *   (`ip -6 addr`), without `tentative`, with its prefix route (and on a TAP, where only
 *   nodad keeps it from being tentative for a second); the kernel's own
 *   `ping -6 fd07::2` arrives on the device and its bytes are read: version 6, next header
 *   58, source fd07::1, ICMPv6 echo request.
 * - IPv6 disabled in the namespace (all.disable_ipv6 = 1) or for new devices only
 *   (default.disable_ipv6 = 1): the IPv4 side works, device.ipv6 is false with the reason,
 *   nothing is thrown, and no IPv6 address appears.
 * - Offloads reported truthfully: a separate probe (python3's fcntl.ioctl on its own tun)
 *   asks the kernel for TSO6 and USO4|USO6; whatever it accepts must be reported on. Then
 *   both are shown to work end to end: a kernel UDP_SEGMENT send over IPv6 comes over as
 *   ONE super-datagram the device splits into the datagrams meant (partial checksums equal
 *   to the IPv6 pseudo-header sum), and a kernel TCP/IPv6 connection (its SYN answered by a
 *   hand-made SYN-ACK) sends its first flight as a TCPV6 super-segment (gso_type 4).
 * Every loop is bounded in time (the script gives up after 8 s) and count.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { Netns, repoRoot } from './netns.js';

const DIST_URL = pathToFileURL(resolve(repoRoot, 'packages/tun/dist/index.js')).href;

/**
 * argv[1]: JSON { open, cmd?: [file, ...args], want: 'echo6' | 'udp6:N' | 'tcp6-gso' | 'cmd' | 'none' }
 * ('cmd': until the command exited).
 * Opens the device, reports `ip` views, runs `cmd` inside the namespace, collects IPv6
 * packets until `want` is met or 8 s pass, prints one JSON line and exits.
 */
const SCRIPT = String.raw`
const { TunDevice } = await import(process.env.TUN_DIST);
const { execFileSync, spawn } = await import('node:child_process');
const cfg = JSON.parse(process.argv[1]);
const out = { packets: [], cmd: null };
let dev;
try {
  dev = TunDevice.open(cfg.open);
} catch (e) {
  console.log(JSON.stringify({ error: { code: e.code, message: e.message } }));
  process.exit(0);
}
out.ipv6 = dev.ipv6;
out.ipv6Disabled = dev.ipv6Disabled ?? null;
out.offload = dev.offload ?? null;
const ip = (...a) => execFileSync('ip', a, { encoding: 'utf8' });
out.addr6 = ip('-6', '-o', 'addr', 'show', 'dev', dev.name);
out.addr4 = ip('-4', '-o', 'addr', 'show', 'dev', dev.name);
out.route6 = ip('-6', 'route', 'show', 'dev', dev.name);
out.disableAll = execFileSync('cat', ['/proc/sys/net/ipv6/conf/all/disable_ipv6'], { encoding: 'utf8' }).trim();

function sum16(b, s) { for (let i = 0; i + 1 < b.length; i += 2) s += (b[i] << 8) | b[i + 1]; if (b.length & 1) s += b[b.length - 1] << 8; while (s > 0xffff) s = (s & 0xffff) + (s >>> 16); return s; }
function pseudo6(p, len, nh) { return sum16(p.subarray(8, 40), len + nh); }

let done = false;
let wantCount = cfg.want.startsWith('udp6:') ? Number(cfg.want.slice(5)) : 0;
let udp = 0;
function synAck(syn) {
  // RFC 9293 §3.1 header with an MSS option; addresses and ports swapped; full checksum (RFC 8200 §8.1).
  const p = new Uint8Array(40 + 24);
  p.set([0x60, 0, 0, 0, 0, 24, 6, 64]);
  p.set(syn.subarray(24, 40), 8);
  p.set(syn.subarray(8, 24), 24);
  const t = p.subarray(40);
  t.set(syn.subarray(42, 44), 0);
  t.set(syn.subarray(40, 42), 2);
  t.set([0, 0, 0x30, 0x39], 4); // our ISN
  const ack = (((syn[44] << 24) >>> 0) + (syn[45] << 16) + (syn[46] << 8) + syn[47] + 1) >>> 0;
  t.set([ack >>> 24, (ack >>> 16) & 0xff, (ack >>> 8) & 0xff, ack & 0xff], 8);
  t.set([6 << 4, 0x12, 0xff, 0xff, 0, 0, 0, 0, 2, 4, 1440 >> 8, 1440 & 0xff], 12);
  const c = ~sum16(t, pseudo6(p, 24, 6)) & 0xffff;
  t[16] = c >>> 8; t[17] = c & 0xff;
  return p;
}
dev.setReceiver({
  packet(p, meta) {
    if (p[0] >> 4 !== 6 || out.packets.length >= 200) return;
    const nh = p[6];
    const rec = { len: p.length, nh, src: Buffer.from(p.subarray(8, 24)).toString('hex'), type: p[40], gsoType: meta?.gsoType ?? 0, gsoSize: meta?.gsoSize ?? 0, csumPartial: meta?.csumPartial ?? false };
    if (nh === 58 && p[40] === 128) rec.head = Buffer.from(p.subarray(0, 48)).toString('hex');
    if (nh === 17 && p.length >= 48) {
      const ulen = (p[44] << 8) | p[45];
      rec.udpLen = ulen;
      rec.payloadLen = (p[4] << 8) | p[5];
      rec.csumIsPseudo = ((p[46] << 8) | p[47]) === pseudo6(p, ulen, 17);
      rec.data = Buffer.from(p.subarray(48)).toString('hex');
      udp++;
    }
    if (nh === 6 && (p[53] & 0x02) && !(p[53] & 0x10)) dev.send(synAck(p)); // a SYN: answer it
    out.packets.push(rec);
    if (cfg.want === 'echo6' && nh === 58 && p[40] === 128) done = true;
    if (wantCount > 0 && udp >= wantCount) done = true;
    if (cfg.want === 'tcp6-gso' && nh === 6 && rec.gsoType !== 0) done = true;
  },
});
if (cfg.cmd) {
  const child = spawn(cfg.cmd[0], cfg.cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let so = '';
  child.stdout.on('data', (d) => { so += d; });
  child.stderr.on('data', (d) => { so += d; });
  child.on('exit', (code) => { out.cmd = { code, out: so.slice(0, 2000) }; });
  setTimeout(() => child.kill('SIGKILL'), 8000).unref();
}
const started = Date.now();
await new Promise((r) => { const t = setInterval(() => { if (done || cfg.want === 'none' || (cfg.want === 'cmd' && out.cmd !== null) || Date.now() - started > 8000) { clearInterval(t); r(); } }, 20); });
out.stats = dev.stats();
dev.close();
console.log(JSON.stringify(out));
process.exit(0);
`;

interface Rec { len: number; nh: number; src: string; type: number; gsoType: number; gsoSize: number; csumPartial: boolean; head?: string; udpLen?: number; payloadLen?: number; csumIsPseudo?: boolean; data?: string }
interface Out {
  error?: { code: string; message: string };
  ipv6: boolean; ipv6Disabled: string | null; offload: Record<string, boolean> | null;
  addr6: string; addr4: string; route6: string; disableAll: string;
  packets: Rec[]; cmd: { code: number | null; out: string } | null; stats: Record<string, number>;
}

let ns: Netns | undefined;
afterEach(async () => {
  await ns?.close();
  ns = undefined;
});

async function runDevice(n: Netns, cfg: object): Promise<Out> {
  const r = await n.run('env', [`TUN_DIST=${DIST_URL}`, process.execPath, '--input-type=module', '-e', SCRIPT, JSON.stringify(cfg)], { timeoutMs: 30_000 });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Out;
}

const FD07_1 = 'fd070000000000000000000000000001';
const DUAL = ['10.7.0.1/24', 'fd07::1/64'];

/** Asks the kernel directly (python3 fcntl.ioctl on a tun of its own) which TUNSETOFFLOAD flag sets it takes. */
const PROBE = String.raw`
import fcntl, json, os, struct
fd = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH22x', b'probe6', 0x0001 | 0x1000 | 0x4000))
def takes(flags):
    try:
        fcntl.ioctl(fd, 0x400454d0, flags)
        return True
    except OSError:
        return False
print(json.dumps({'tso6': takes(0x01 | 0x02 | 0x04), 'uso': takes(0x01 | 0x20 | 0x40)}))
`;

/** UDP_SEGMENT (103) send over IPv6: 4 x 1000 + 345 bytes in one send, datagram k starting with k. */
const USO6_SENDER = String.raw`
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_UDP, 103, 1000)
sizes = [1000, 1000, 1000, 1000, 345]
buf = b''.join(bytes([k]) + bytes(((k * 31 + i * 7) & 0xff) for i in range(n - 1)) for k, n in enumerate(sizes))
print(s.sendto(buf, ('fd07::2', 9)))
`;

/** A kernel TCP/IPv6 client: connects to [fd07::2]:80 and writes 200 KB (the first flight is what counts). */
const TCP6_CLIENT = String.raw`
import socket
s = socket.create_connection(('fd07::2', 80), timeout=3)
try:
    s.sendall(b'x' * 200000)
except OSError as e:
    print('stopped', e)
`;

describe('TUN device, IPv6 (kernel)', () => {
  it('configures the kernel-side IPv6 address with nodad (no tentative), its prefix route, and reads the kernel\'s ping -6 from the device', async () => {
    ns = Netns.create('v6a');
    const o = await runDevice(ns, { open: { name: 'tun0', kernelAddress: DUAL, ipv4Only: false }, cmd: ['ping', '-6', '-c', '1', '-W', '1', 'fd07::2'], want: 'echo6' });
    expect(o.error).toBeUndefined();
    expect(o.ipv6).toBe(true);
    expect(o.ipv6Disabled).toBeNull();
    expect(o.addr6).toMatch(/inet6 fd07::1\/64 scope global/);
    expect(o.addr6).not.toMatch(/tentative/);
    expect(o.addr4).toMatch(/inet 10\.7\.0\.1\/24/);
    expect(o.route6).toMatch(/^fd07::\/64 /m);
    const echo = o.packets.find((p) => p.nh === 58 && p.type === 128);
    expect(echo, JSON.stringify(o.packets)).toBeDefined();
    const head = Buffer.from(echo!.head!, 'hex');
    expect(head[0]! >> 4).toBe(6); // version
    expect(head[6]).toBe(58); // next header: ICMPv6
    expect(head.subarray(8, 24).toString('hex')).toBe(FD07_1); // source fd07::1
    expect(head.subarray(24, 40).toString('hex')).toBe('fd070000000000000000000000000002');
    expect(head[40]).toBe(128); // echo request (RFC 4443 §4.1)
    expect(o.stats.RxDropped).toBe(0);
  });

  it('on a TAP device, where the kernel would run DAD, the address is usable at once too (nodad)', async () => {
    // A TUN is IFF_NOARP, so the kernel skips DAD there anyway (addrconf_dad_begin); a TAP
    // is where IFA_F_NODAD shows: without it this address reads `tentative` for about 1 s.
    ns = Netns.create('v6t');
    const o = await runDevice(ns, { open: { name: 'tap0', mode: 'tap', kernelAddress: ['fd07::1/64'] }, want: 'none' });
    expect(o.error).toBeUndefined();
    expect(o.ipv6).toBe(true);
    const line = o.addr6.split('\n').find((l) => l.includes('fd07::1/64'));
    expect(line, o.addr6).toBeDefined();
    expect(line).not.toMatch(/tentative/);
  });

  it('with ipv4Only (the default) the same IPv6 traffic is dropped and counted, never delivered', async () => {
    ns = Netns.create('v6b');
    const o = await runDevice(ns, { open: { name: 'tun0', kernelAddress: DUAL }, cmd: ['ping', '-6', '-c', '2', '-i', '0.2', '-W', '1', 'fd07::2'], want: 'cmd' });
    expect(o.ipv6).toBe(true); // the kernel side has IPv6; the filter is ours
    expect(o.cmd?.out).toMatch(/2 packets transmitted/);
    expect(o.packets).toHaveLength(0);
    expect(o.stats.RxDropped).toBeGreaterThanOrEqual(2);
    expect(o.stats.RxPackets).toBe(0);
  });

  it('IPv6 disabled in the namespace: IPv4 configured, device.ipv6 false with the reason, no IPv6 address, no throw', async () => {
    ns = Netns.create('v6c');
    ns.runSync('sh', ['-c', 'echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6']);
    const o = await runDevice(ns, { open: { name: 'tun0', kernelAddress: DUAL, ipv4Only: false }, want: 'none' });
    expect(o.error).toBeUndefined();
    expect(o.disableAll).toBe('1');
    expect(o.ipv6).toBe(false);
    expect(o.ipv6Disabled).toBe('IPv6 is disabled in this network namespace (net.ipv6.conf.all.disable_ipv6 = 1)');
    expect(o.addr6).toBe('');
    expect(o.addr4).toMatch(/inet 10\.7\.0\.1\/24/);
  });

  it('IPv6 disabled for new devices only (default.disable_ipv6 = 1): the device\'s own sysctl is read and named', async () => {
    ns = Netns.create('v6d');
    ns.runSync('sh', ['-c', 'echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6']);
    const o = await runDevice(ns, { open: { name: 'tun0', kernelAddress: DUAL, ipv4Only: false }, want: 'none' });
    expect(o.error).toBeUndefined();
    expect(o.disableAll).toBe('0');
    expect(o.ipv6).toBe(false);
    expect(o.ipv6Disabled).toBe('IPv6 is disabled on tun0 (net.ipv6.conf.tun0.disable_ipv6 = 1)');
    expect(o.addr6).toBe('');
    expect(o.addr4).toMatch(/inet 10\.7\.0\.1\/24/);
  });

  it('TSO6 and USO6 are reported on exactly when the kernel takes them (independent probe)', async () => {
    ns = Netns.create('v6e');
    const probe = await ns.run('python3', ['-c', PROBE]);
    expect(probe.code, probe.stderr).toBe(0);
    const kernel = JSON.parse(probe.stdout) as { tso6: boolean; uso: boolean };
    const o = await runDevice(ns, { open: { name: 'tun0', kernelAddress: DUAL, ipv4Only: false, offload: true }, want: 'none' });
    expect(o.offload).toMatchObject({ csum: true, tso4: true, tso6: kernel.tso6, uso4: kernel.uso, uso6: kernel.uso });
    // This kernel (6.18) has both: a silent fallback would pass the line above only if the probe also failed.
    expect(kernel).toEqual({ tso6: true, uso: true });
  });

  it('a kernel UDP_SEGMENT send over IPv6 arrives as one super-datagram, split into the 5 datagrams meant', async () => {
    ns = Netns.create('v6f');
    const o = await runDevice(ns, { open: { name: 'tun0', kernelAddress: DUAL, ipv4Only: false, offload: true }, cmd: ['python3', '-c', USO6_SENDER], want: 'udp6:5' });
    expect(o.offload?.uso6).toBe(true);
    const udp = o.packets.filter((p) => p.nh === 17);
    expect(udp.map((p) => p.len), JSON.stringify(o.cmd)).toEqual([1048, 1048, 1048, 1048, 393]);
    udp.forEach((p, k) => {
      expect(p.src).toBe(FD07_1);
      expect(p.payloadLen).toBe(p.len - 40);
      expect(p.udpLen).toBe(p.len - 40);
      expect(p.csumPartial).toBe(true);
      expect(p.csumIsPseudo).toBe(true); // partial = the IPv6 pseudo-header sum for its own length
      const data = Buffer.from(p.data!, 'hex');
      expect(data[0]).toBe(k);
      for (let i = 1; i < data.length; i++) if (data[i] !== (((k * 31) + (i - 1) * 7) & 0xff)) throw new Error(`datagram ${k} byte ${i}`);
    });
    expect(o.stats.RxUsoPackets).toBe(1); // one super-datagram crossed the device
    expect(o.stats.RxUsoSegments).toBe(5);
    expect(o.stats.RxUsoDropped).toBe(0);
  });

  it('a kernel TCP/IPv6 sender hands over TCPV6 super-segments (gso_type 4) larger than the MTU', async () => {
    ns = Netns.create('v6g');
    const o = await runDevice(ns, { open: { name: 'tun0', kernelAddress: DUAL, ipv4Only: false, offload: true }, cmd: ['python3', '-c', TCP6_CLIENT], want: 'tcp6-gso' });
    expect(o.offload?.tso6).toBe(true);
    const tcp = o.packets.filter((p) => p.nh === 6);
    const gso = tcp.find((p) => p.gsoType !== 0);
    expect(gso, JSON.stringify({ tcp: tcp.slice(0, 5), cmd: o.cmd })).toBeDefined();
    expect(gso!.gsoType & 0x7f).toBe(4); // VIRTIO_NET_HDR_GSO_TCPV6
    expect(gso!.len).toBeGreaterThan(1500);
    expect(gso!.gsoSize).toBe(1440); // the MSS our SYN-ACK offered (MTU 1500 - 60 also allows it)
    expect(gso!.src).toBe(FD07_1);
  });
});
