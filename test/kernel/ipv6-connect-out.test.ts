/**
 * The stack connects out over IPv6 (issue 11, "Tests"): in a private namespace made here
 * (Netns.create; never the machine's own), a kernel-side node:net server listens on
 * [::]:8080 (ipv6Only) and a script over the BUILT netstack (packages/netstack/dist; build
 * first) makes a stack on tun0 (kernel 10.7.0.1/24 + fd07::1/64, stack 10.7.0.2 + fd07::2)
 * and opens `stack.tcp.connect({ host: 'fd07::1', port: 8080 })`. It sends 5 MB of random
 * bytes and its FIN; the server hashes them, then answers 5 MB of its own and closes. Both
 * directions are checked by sha256 at both ends. That netstack carried it over IPv6: the
 * kernel server saw the peer fd07::2 (family IPv6), the stack's socket reports fd07::2 →
 * fd07::1 (IPv6), and the stack's counters (tcp ActiveOpens 1, ip6 sent and received, the
 * IPv4 layer sent nothing). Bounded: the script gives up after 30 s, the server after 60 s.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, repoRoot } from './netns.js';

const DIST_URL = pathToFileURL(resolve(repoRoot, 'packages/netstack/dist/index.js')).href;
const SIZE = 5_000_000;

/** Kernel side: argv PORT BYTES. Prints `listening SHA256` (of what it will send), `peer ADDR PORT FAMILY`, `got N SHA256`. */
const SERVER = `
const net = require('node:net');
const { createHash } = require('node:crypto');
const [port, size] = process.argv.slice(1).map(Number);
const body = Buffer.allocUnsafe(size);
let x = 0x9e3779b9;
for (let i = 0; i < size; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; body[i] = x & 0xff; }
const srv = net.createServer((s) => {
  console.log('peer ' + s.remoteAddress + ' ' + s.remotePort + ' ' + s.remoteFamily);
  const h = createHash('sha256');
  let n = 0;
  s.on('data', (d) => { h.update(d); n += d.length; });
  s.on('end', () => { console.log('got ' + n + ' ' + h.digest('hex')); s.end(body); });
  s.on('error', (e) => console.log('error ' + e.code));
});
srv.listen({ port, host: '::', ipv6Only: true }, () => console.log('listening ' + createHash('sha256').update(body).digest('hex')));
setTimeout(() => process.exit(3), 60000).unref();
`;

/** The stack's side (ESM, over dist): argv PORT BYTES; one JSON line. */
const CLIENT = `
import { createStack } from ${JSON.stringify(DIST_URL)};
import { createHash, randomFillSync } from 'node:crypto';
import { once } from 'node:events';
const [port, size] = process.argv.slice(1).map(Number);
setTimeout(() => { console.log(JSON.stringify({ error: 'timeout' })); process.exit(2); }, 30000).unref();
const stack = await createStack({ tun: { name: 'tun0', kernelAddress: ['10.7.0.1/24', 'fd07::1/64'] }, address: ['10.7.0.2', 'fd07::2'] });
const up = randomFillSync(Buffer.allocUnsafe(size));
const s = stack.tcp.connect({ host: 'fd07::1', port });
await once(s, 'connect');
const seen = { local: s.localAddress, localFamily: s.localFamily, remote: s.remoteAddress, remoteFamily: s.remoteFamily, remotePort: s.remotePort };
s.end(up);
const h = createHash('sha256');
let down = 0;
for await (const d of s) { h.update(d); down += d.length; }
const st = stack.stats();
const pick = (o, keys) => Object.fromEntries(keys.map((k) => [k, o[k]]));
console.log(JSON.stringify({ ...seen, up: size, upSha256: createHash('sha256').update(up).digest('hex'), down, downSha256: h.digest('hex'),
  tcp: pick(st.tcp, ['ActiveOpens', 'PassiveOpens', 'InCsumErrors', 'RetransSegs']), ip6: pick(st.ip6, ['Ip6OutRequests', 'Ip6InReceives', 'Ip6InDelivers']),
  ip: pick(st.ip, ['OutRequests', 'InReceives']), link: pick(st.link, ['TxBytes', 'RxBytes']), internal: st.stack.InternalErrors }));
await stack.close();
`;

describe('the stack connects out over IPv6 to a kernel-side server', () => {
  let ns: Netns;
  beforeAll(() => {
    ns = Netns.create('ip6out');
    ns.setIpv6Disabled(false);
  });
  afterAll(async () => { await ns?.close(); });

  it('stack.tcp.connect([fd07::1]:8080): 5 MB up and 5 MB down, sha256 at both ends; the server saw fd07::2', async () => {
    const server = ns.spawn(process.execPath, ['-e', SERVER, '8080', String(SIZE)]);
    let out = '';
    server.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    try {
      const serverSha = await new Promise<string>((resolveListen, reject) => {
        const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 20_000);
        server.stdout!.on('data', () => {
          const m = /listening ([0-9a-f]{64})/.exec(out);
          if (m) { clearTimeout(timer); resolveListen(m[1]!); }
        });
        server.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server exited ${code}: ${out}`)); });
      });
      const r = await ns.run(process.execPath, ['--input-type=module', '-e', CLIENT, '8080', String(SIZE)], { timeoutMs: 40_000 });
      const line = r.stdout.trim().split('\n').pop() ?? '';
      expect(line.startsWith('{'), `client printed no result (code ${r.code ?? r.signal}): ${r.stdout.slice(-300)} ${r.stderr.slice(-800)}`).toBe(true);
      const res = JSON.parse(line);
      expect(res.error, line).toBeUndefined();
      // The stack's socket: IPv6 both ends.
      expect(res).toMatchObject({ local: 'fd07::2', localFamily: 'IPv6', remote: 'fd07::1', remoteFamily: 'IPv6', remotePort: 8080 });
      // The kernel server saw the stack's IPv6 address, once, and got exactly what the stack sent.
      const peers = out.match(/^peer .*$/gm);
      expect(peers, out).toEqual([expect.stringMatching(/^peer fd07::2 \d+ IPv6$/)]);
      expect(out).toContain(`got ${SIZE} ${res.upSha256}`);
      // ... and the stack got exactly what the server sent.
      expect(res.down).toBe(SIZE);
      expect(res.downSha256).toBe(serverSha);
      // netstack carried it, over IPv6 only.
      expect(res.tcp).toMatchObject({ ActiveOpens: 1, PassiveOpens: 0, InCsumErrors: 0 });
      expect(res.ip6.Ip6OutRequests).toBeGreaterThan(SIZE / 65536);
      expect(res.ip6.Ip6InDelivers).toBeGreaterThan(SIZE / 65536);
      expect(res.ip.OutRequests).toBe(0);
      expect(res.link.TxBytes).toBeGreaterThan(SIZE);
      expect(res.link.RxBytes).toBeGreaterThan(SIZE);
      expect(res.internal).toBe(0);
      expect(r.code, r.stderr).toBe(0);
      expect(ns.links()).not.toContain('tun0');
    } finally {
      server.kill('SIGTERM');
    }
  }, 60_000);
});
