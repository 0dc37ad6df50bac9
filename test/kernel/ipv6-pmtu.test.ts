/**
 * Path MTU discovery over IPv6 against the kernel (issue 11, RFC 8201): a real Packet Too Big
 * from the kernel, as a router sends it, lowers what netstack sends.
 *
 * Two private namespaces made here (Netns.create; never the machine's own): in A,
 * `netstack serve` (tun0: kernel fd07::1/64, stack fd07::2, MTU 1500) and a veth to B
 * (A fd08::1/64, B fd08::2, ::3 and ::4/64), with IPv6 forwarding on in A and the route to
 * fd08::/64 given a LOCKED MTU of 1280 (`mtu lock 1280`: a forwarding kernel honours only a
 * locked route MTU). So A's kernel is a router whose next hop toward B is 1280 bytes wide:
 * whatever the stack sends B that is bigger is dropped and answered with ICMPv6 Packet Too Big
 * (RFC 4443 §3.2, MTU 1280) to fd07::2, and nothing bigger than 1280 bytes ever reaches B.
 * - TCP: B's curl downloads 20 MB from [fd07::2]. B advertises MSS 1440 (its own link is
 *   1500), so the stack starts with 1500-byte segments; the kernel drops them with Packet Too
 *   Big; the stack must lower the path MTU (Ip6PmtuUpdates) and the connection's MSS to
 *   1280 − 60 and resend, or the download never completes. It completes exact (i % 256 and
 *   sha256), in at least 20 MB / 1208 packets at B, on average no bigger than 1280, and
 *   none of them a fragment (the IP layer alone, once it lowered the path MTU, would have cut
 *   TCP's 1500-byte segments into fragments: a stack whose TCP ignores Packet Too Big fails here).
 * - ICMPv6: B pings fd07::2 from fd08::3 with 1400 bytes (1448-byte replies): the first reply is
 *   too big and lost (Packet Too Big); the stack then fragments the next replies to fit 1280
 *   (fragmentation at the source, RFC 8200 §4.5) and B reassembles them.
 * - UDP: the same from B's udp6 socket on fd08::4 to the stack's UDP echo :7: the first 1400-byte
 *   echo is lost, the next two and an 8000-byte one arrive exact in fragments of at most 1280.
 * That netstack did it is proved by its counters (SIGUSR2 stats: icmp6 Icmp6InPktTooBigs,
 * ip6 Ip6PmtuUpdates / Ip6FragOKs) beside A's and B's /proc/net/snmp6. Every curl and ping is
 * bounded (-m, -c, -W, run timeouts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { Netns, type Server, liveStats, statCount, type Stats } from './netns.js';

const n = statCount;
const delta = (before: Stats, after: Stats, layer: string, key: string): number => n(after, layer, key) - n(before, layer, key);

/** /proc/net/snmp6 of a namespace as { Icmp6OutPktTooBigs: n, ... } (per-type lines appear once non-zero: read with ?? 0). */
function snmp6(ns: Netns): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of ns.runSync('cat', ['/proc/net/snmp6']).split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k !== undefined && v !== undefined) out[k] = Number(v);
  }
  return out;
}
const kd = (before: Record<string, number>, after: Record<string, number>, key: string): number => (after[key] ?? 0) - (before[key] ?? 0);

/** sha256 of the first `size` bytes of /bytes/N's pattern (byte i = i % 256), computed here. */
function patternSha256(size: number): string {
  const block = Buffer.alloc(65536);
  for (let i = 0; i < block.length; i++) block[i] = i & 0xff;
  const h = createHash('sha256');
  let left = size;
  for (; left >= block.length; left -= block.length) h.update(block);
  h.update(block.subarray(0, left));
  return h.digest('hex');
}

/** `curl -6 -g URL` in `where` from its address `from`: the body's length, sha256 and first byte that is not i % 256. */
function curl6(where: Netns, url: string, from: string, maxSeconds: number): Promise<{ code: number | null; bytes: number; firstBad: number; sha256: string; info: string; stderr: string }> {
  return new Promise((resolveCurl, reject) => {
    const child = where.spawn('curl', ['-6', '-g', '--interface', from, '-sS', '-m', String(maxSeconds), '-w', '%{stderr}\n%{http_code} %{size_download}\n', url]);
    const hash = createHash('sha256');
    let bytes = 0;
    let firstBad = -1;
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      hash.update(chunk);
      if (firstBad < 0) for (let i = 0; i < chunk.length; i++) if (chunk[i] !== ((bytes + i) & 0xff)) { firstBad = bytes + i; break; }
      bytes += chunk.length;
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), (maxSeconds + 10) * 1000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolveCurl({ code, bytes, firstBad, sha256: hash.digest('hex'), info: stderr.trim().split('\n').pop() ?? '', stderr });
    });
  });
}

describe('a Packet Too Big from the kernel, as a router, lowers what netstack sends over IPv6', () => {
  let a: Netns;
  let b: Netns;
  let server: Server;

  beforeAll(async () => {
    a = Netns.create('pmtuA');
    b = Netns.create('pmtuB');
    for (const ns of [a, b]) ns.setIpv6Disabled(false);
    server = await a.serve(['--stats']);
    a.runSync('sh', ['-c', 'echo 1 > /proc/sys/net/ipv6/conf/all/forwarding']);
    a.runSync('ip', ['link', 'add', 'vA', 'type', 'veth', 'peer', 'name', 'vB', 'netns', b.name]);
    // vA hands B single packets, never GSO super-packets (a segmentation-offloaded segment from
    // the stack, forwarded whole through the veth, would reach B as one big packet): every
    // packet B counts is one that crossed the 1280 route.
    a.runSync('ip', ['link', 'set', 'dev', 'vA', 'gso_max_size', '1280']);
    a.runSync('ip', ['link', 'set', 'vA', 'up']);
    b.runSync('ip', ['link', 'set', 'vB', 'up']);
    a.runSync('ip', ['-6', 'addr', 'add', 'fd08::1/64', 'dev', 'vA', 'nodad']);
    b.runSync('ip', ['-6', 'addr', 'add', 'fd08::2/64', 'dev', 'vB', 'nodad']);
    b.runSync('ip', ['-6', 'addr', 'add', 'fd08::3/64', 'dev', 'vB', 'nodad']);
    b.runSync('ip', ['-6', 'addr', 'add', 'fd08::4/64', 'dev', 'vB', 'nodad']);
    b.runSync('ip', ['-6', 'route', 'add', 'fd07::/64', 'via', 'fd08::1']);
    // The prefix route itself (same proto and metric, so replaced, not shadowed), its MTU locked.
    a.runSync('ip', ['-6', 'route', 'replace', 'fd08::/64', 'dev', 'vA', 'proto', 'kernel', 'metric', '256', 'mtu', 'lock', '1280']);
    expect(a.runSync('ip', ['-6', 'route', 'show', 'fd08::/64'])).toMatch(/mtu lock 1280/);
    // A barrier, not a sleep: B joins each address's solicited-node group a moment after the
    // address is added (its MLD report), and until then drops A's neighbour solicitations for
    // it. Once A's kernel has pinged both addresses, it can forward to them (at most 5 s each).
    for (const addr of ['fd08::2', 'fd08::3', 'fd08::4']) {
      const r = await a.run('ping', ['-6', '-c', '1', '-w', '5', addr], { timeoutMs: 10_000 });
      expect(r.stdout, r.stderr).toMatch(/1 received/);
    }
  }, 30_000);

  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('20 MB from [fd07::2] to B [fd08::2]: the kernel\'s Packet Too Big lowers the stack\'s MSS mid-connection; the download completes exact', async () => {
    const size = 20_000_000;
    const want = patternSha256(size);
    const before = await liveStats(server);
    const ka0 = snmp6(a);
    const kb0 = snmp6(b);
    const t0 = performance.now();
    const r = await curl6(b, 'http://[fd07::2]/bytes/20000000', 'fd08::2', 30);
    const seconds = (performance.now() - t0) / 1000;
    const after = await liveStats(server);
    const ka1 = snmp6(a);
    const kb1 = snmp6(b);
    const tooBigs = kd(ka0, ka1, 'Icmp6OutPktTooBigs');
    console.log(`PMTU 1280: 20 MB in ${seconds.toFixed(2)} s after ${tooBigs} Packet Too Big; stack retransmitted ${delta(before, after, 'tcp', 'RetransSegs')} segments; ` +
      `B got ${kd(kb0, kb1, 'Ip6InReceives')} packets, ${Math.round(kd(kb0, kb1, 'Ip6InOctets') / kd(kb0, kb1, 'Ip6InReceives'))} bytes on average`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.info).toBe(`200 ${size}`);
    expect(r.bytes).toBe(size);
    expect(r.firstBad).toBe(-1);
    expect(r.sha256).toBe(want);
    // The kernel (A, forwarding) sent Packet Too Big, the stack received each one, and
    // lowered its path MTU to B once.
    expect(tooBigs).toBeGreaterThanOrEqual(1);
    expect(kd(ka0, ka1, 'Icmp6OutType2')).toBe(tooBigs);
    expect(delta(before, after, 'icmp6', 'Icmp6InPktTooBigs')).toBe(tooBigs);
    expect(delta(before, after, 'ip6', 'Ip6PmtuUpdates')).toBe(1);
    // Only what was in flight before the first Packet Too Big came back was too big: not
    // one Packet Too Big per segment for the rest of the transfer.
    expect(tooBigs).toBeLessThan(200);
    expect(delta(before, after, 'tcp', 'RetransSegs')).toBeGreaterThanOrEqual(1);
    // Nothing above 1280 bytes crosses A's route to B, so B got the 20 MB in segments of at
    // most 1280 − 40 − 20 − 12 (timestamps) = 1208 bytes.
    expect(kd(kb0, kb1, 'Ip6InReceives')).toBeGreaterThanOrEqual(Math.ceil(size / 1208));
    expect(kd(kb0, kb1, 'Ip6InOctets') / kd(kb0, kb1, 'Ip6InReceives')).toBeLessThanOrEqual(1280);
    // And TCP itself made its segments smaller: none was cut into IPv6 fragments at the
    // source to fit (which the IP layer alone, having lowered the path MTU, would do).
    expect(delta(before, after, 'ip6', 'Ip6FragOKs')).toBe(0);
    expect(kd(kb0, kb1, 'Ip6ReasmReqds')).toBe(0);
    expect(kd(kb0, kb1, 'Ip6InOctets') / kd(kb0, kb1, 'Ip6InReceives')).toBeGreaterThan(1200);
    expect(kd(ka0, ka1, 'Ip6InTooBigErrors')).toBe(tooBigs);
    expect(n(after, 'stack', 'InternalErrors')).toBe(0);
  }, 60_000);

  it('ping -6 -s 1400 from B [fd08::3]: the first reply is too big and lost; the stack fragments the next ones to fit 1280', async () => {
    const before = await liveStats(server);
    const ka0 = snmp6(a);
    const kb0 = snmp6(b);
    const r = await b.run('ping', ['-6', '-c', '3', '-i', '0.3', '-W', '1', '-I', 'fd08::3', '-s', '1400', 'fd07::2'], { timeoutMs: 20_000 });
    const after = await liveStats(server);
    const ka1 = snmp6(a);
    const kb1 = snmp6(b);
    const diff = (x: Record<string, number>, y: Record<string, number>): Record<string, number> => Object.fromEntries(Object.keys(y).filter((k) => y[k] !== (x[k] ?? 0)).map((k) => [k, y[k]! - (x[k] ?? 0)]));
    const why = `${r.stdout}${r.stderr}\nstack: ${JSON.stringify(diff(before['ip6']!, after['ip6']!))} ${JSON.stringify(diff(before['icmp6']!, after['icmp6']!))} ${JSON.stringify(diff(before['link']!, after['link']!))}` +
      `\nA: ${JSON.stringify(diff(ka0, ka1))}\nB: ${JSON.stringify(diff(kb0, kb1))}\nA neigh: ${a.runSync('ip', ['-6', 'neigh'])}\nB neigh: ${b.runSync('ip', ['-6', 'neigh'])}`;
    expect(r.stdout, why).toMatch(/3 packets transmitted, 2 received/);
    expect(r.stdout).not.toMatch(/icmp_seq=1 /);
    expect(r.stdout).toMatch(/1408 bytes from fd07::2: icmp_seq=2 /);
    expect(r.stdout).toMatch(/1408 bytes from fd07::2: icmp_seq=3 /);
    // The stack answered all three; the first (1448 bytes) met the 1280 route.
    expect(delta(before, after, 'icmp6', 'Icmp6OutEchoReplies')).toBe(3);
    expect(kd(ka0, ka1, 'Icmp6OutPktTooBigs')).toBe(1);
    expect(delta(before, after, 'icmp6', 'Icmp6InPktTooBigs')).toBe(1);
    expect(delta(before, after, 'ip6', 'Ip6PmtuUpdates')).toBe(1);
    // Replies 2 and 3 left in fragments (the stack's, at the source) that B put back together.
    expect(delta(before, after, 'ip6', 'Ip6FragOKs')).toBe(2);
    expect(delta(before, after, 'ip6', 'Ip6FragCreates')).toBe(4);
    expect(kd(kb0, kb1, 'Ip6ReasmOKs')).toBe(2);
  }, 30_000);

  it('UDP echo of 1400 bytes to B [fd08::4]: the first reply is too big and lost; the next ones (and 8000 bytes) leave in fragments that fit', async () => {
    // B's udp6 socket on fd08::4 sends each payload to [fd07::2]:7 and waits (bounded, 1 s) for its echo.
    const CLIENT = `
      const s = require('node:dgram').createSocket('udp6');
      const out = [];
      s.bind(0, 'fd08::4', async () => {
        for (const size of [1400, 1400, 1400, 8000]) {
          const p = Buffer.alloc(size);
          for (let i = 0; i < size; i++) p[i] = (i * 7 + out.length) & 0xff;
          out.push(await new Promise((res) => {
            const t = setTimeout(() => { s.removeAllListeners('message'); res('timeout'); }, 1000);
            s.once('message', (m, r) => { clearTimeout(t); res(m.equals(p) && r.address === 'fd07::2' ? 'exact' : 'wrong'); });
            s.send(p, 7, 'fd07::2');
          }));
        }
        console.log(JSON.stringify(out));
        s.close();
      });`;
    const before = await liveStats(server);
    const ka0 = snmp6(a);
    const kb0 = snmp6(b);
    const r = await b.run(process.execPath, ['-e', CLIENT], { timeoutMs: 20_000 });
    const after = await liveStats(server);
    const ka1 = snmp6(a);
    const kb1 = snmp6(b);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual(['timeout', 'exact', 'exact', 'exact']);
    expect(delta(before, after, 'udp', 'OutDatagrams')).toBe(4);
    expect(kd(ka0, ka1, 'Icmp6OutPktTooBigs')).toBe(1);
    expect(delta(before, after, 'icmp6', 'Icmp6InPktTooBigs')).toBe(1);
    expect(delta(before, after, 'ip6', 'Ip6PmtuUpdates')).toBe(1);
    // 1408 bytes of UDP in 2 fragments of ≤ 1232 payload bytes each, twice; 8008 in 7.
    expect(delta(before, after, 'ip6', 'Ip6FragOKs')).toBe(3);
    expect(delta(before, after, 'ip6', 'Ip6FragCreates')).toBe(2 + 2 + 7);
    // B's own 8000-byte request came in fragments (B's link is 1500 wide) the stack reassembled.
    expect(delta(before, after, 'ip6', 'Ip6ReasmOKs')).toBe(1);
    expect(kd(kb0, kb1, 'Ip6ReasmOKs')).toBe(3);
  }, 30_000);

  it('exits 0 on SIGTERM, with no internal error', async () => {
    const { code } = await server.stop();
    expect(code).toBe(0);
    expect(a.links()).not.toContain('tun0');
  }, 20_000);
});
