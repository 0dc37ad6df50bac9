/**
 * Link-local addresses and zone ids through the node:net and node:dgram facades (issue 11),
 * against the kernel's own node:net / node:dgram in the same private namespace (Netns.create;
 * never the machine's own). The stack holds fe80::2 beside 10.7.0.2 and fd07::2 on a TUN
 * device named tun6z; the kernel side fe80::1/64 (nodad) on it. Both sides connect to each
 * other by `fe80::…%tun6z` and see each other's addresses with the zone, consistently; and
 * the same mistakes made on both sides (no zone, a zone naming no interface, a local address
 * the host does not hold, a mapped address with ipv6Only) give the same code and message
 * from the stack as node gives from the kernel. Bounded: every wait has a timeout.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Netns, repoRoot } from './netns.js';

const SCRIPT = `
import net from 'node:net';
import dgram from 'node:dgram';
import { once } from 'node:events';
import { createStack } from ${JSON.stringify(join(repoRoot, 'packages/netstack/dist/index.js'))};
const Z = 'tun6z';
const stack = await createStack({ tun: { name: Z, kernelAddress: ['10.7.0.1/24', 'fd07::1/64', 'fe80::1/64'] }, address: ['10.7.0.2', 'fd07::2', 'fe80::2'] });
const out = {};
const bounded = (p, what) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error('timeout: ' + what)), 5000))]);
const failure = (s) => bounded(new Promise((res) => { s.once('error', (e) => res(e.code + ' | ' + e.message)); s.once('listening', () => res('listening')); s.once('connect', () => res('connect')); }), 'failure');
try {
  // Kernel server on fe80::1%tun6z, the stack connects to it.
  const k = net.createServer((c) => c.end(JSON.stringify({ remote: c.remoteAddress, local: c.localAddress })));
  k.listen(8080, 'fe80::1%' + Z);
  await bounded(once(k, 'listening'), 'kernel listen');
  out.kernelServer = k.address();
  const c = stack.tcp.connect(8080, 'fe80::1%' + Z);
  let text = '';
  c.setEncoding('utf8');
  c.on('data', (d) => { text += d; });
  await bounded(once(c, 'end'), 'stack to kernel');
  out.stackClient = { remote: c.remoteAddress, local: c.localAddress, family: c.remoteFamily, kernelSaw: JSON.parse(text) };
  // Stack server on fe80::2%tun6z, the kernel connects to it.
  const s = stack.tcp.createServer((x) => x.end(JSON.stringify({ remote: x.remoteAddress, local: x.localAddress })));
  s.listen(7, 'fe80::2%' + Z);
  await bounded(once(s, 'listening'), 'stack listen');
  out.stackServer = s.address();
  const kc = net.connect(7, 'fe80::2%' + Z);
  let t2 = '';
  kc.setEncoding('utf8');
  kc.on('data', (d) => { t2 += d; });
  await bounded(once(kc, 'end'), 'kernel to stack');
  out.kernelClient = { remote: kc.remoteAddress, local: kc.localAddress, stackSaw: JSON.parse(t2) };
  // The same mistakes on both sides; the peer's address written X in the messages.
  const pairs = [];
  const mistakes = [
    ['connect, no zone', (api, peer) => api.connect(7, peer)],
    ['connect, unknown zone', (api, peer) => api.connect(7, peer + '%nosuch')],
    ['connect, foreign localAddress', (api, peer) => api.connect({ host: peer + '%' + Z, port: 7, localAddress: '2001:db8::5' })],
    ['listen, no zone', (api, _peer, own) => api.createServer().listen(0, own)],
    ['listen, mapped with ipv6Only', (api) => api.createServer().listen({ port: 0, host: '::ffff:10.9.9.9', ipv6Only: true })],
    ['listen, foreign', (api) => api.createServer().listen(0, '2001:db8::5')],
  ];
  for (const [what, make] of mistakes) {
    const kernel = await failure(make(net, 'fe80::2', 'fe80::1'));
    const ours = await failure(make(stack.tcp, 'fe80::1', 'fe80::2'));
    pairs.push([what, kernel.replaceAll('fe80::2', 'X').replaceAll('fe80::1', 'X'), ours.replaceAll('fe80::1', 'X').replaceAll('fe80::2', 'X')]);
  }
  // dgram: bind without a zone, with it; a send to the kernel's link-local socket; rinfo both ways.
  const udpErr = (sock, f) => bounded(new Promise((res) => { sock.once('error', (e) => res(e.code + ' | ' + e.message)); f(() => res('ok')); }), 'udp');
  const kb = dgram.createSocket('udp6');
  const sb = stack.udp.createSocket('udp6');
  pairs.push(['udp bind, no zone',
    (await udpErr(kb, (ok) => kb.bind(0, 'fe80::1', ok))).replaceAll('fe80::1', 'X'),
    (await udpErr(sb, (ok) => sb.bind(0, 'fe80::2', ok))).replaceAll('fe80::2', 'X')]);
  const ku = dgram.createSocket('udp6');
  await new Promise((res) => ku.bind(9999, 'fe80::1%' + Z, res));
  const su = stack.udp.createSocket('udp6');
  await new Promise((res) => su.bind(9999, 'fe80::2%' + Z, res));
  ku.on('message', (m, r) => ku.send(m, r.port, r.address));
  const got = bounded(new Promise((res) => su.once('message', (m, r) => res({ m: m.toString(), r }))), 'udp echo');
  su.send('zone', 9999, 'fe80::1%' + Z);
  out.udp = { stackSocket: su.address(), kernelSocket: ku.address(), echo: await got };
  ku.close(); su.close(); k.close(); s.close();
  out.pairs = pairs;
} finally {
  await stack.close();
}
console.log(JSON.stringify(out));
`;

describe('link-local addresses with zone ids, the stack against the kernel\'s own node', () => {
  let ns: Netns;
  beforeAll(() => {
    ns = Netns.create('net6z');
    ns.setIpv6Disabled(false);
  });
  afterAll(async () => { await ns?.close(); });

  it('both sides connect by fe80::…%tun6z, see each other with the zone, and fail alike', async () => {
    const r = await ns.run(process.execPath, ['--input-type=module', '-e', SCRIPT], { timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, any>;
    expect(out['kernelServer']).toMatchObject({ address: 'fe80::1%tun6z', family: 'IPv6' });
    expect(out['stackServer']).toMatchObject({ address: 'fe80::2%tun6z', family: 'IPv6', port: 7 });
    // Stack -> kernel: each side's view of the other agrees, zones included.
    const sc = out['stackClient'];
    expect([sc.remote, sc.local, sc.family]).toEqual(['fe80::1%tun6z', 'fe80::2%tun6z', 'IPv6']);
    expect(sc.kernelSaw).toEqual({ remote: 'fe80::2%tun6z', local: 'fe80::1%tun6z' });
    // Kernel -> stack (the kernel picks its source among its link-local addresses).
    const kc = out['kernelClient'];
    expect(kc.remote).toBe('fe80::2%tun6z');
    expect(kc.stackSaw).toEqual({ remote: kc.local, local: 'fe80::2%tun6z' });
    expect(out['udp'].stackSocket).toMatchObject({ address: 'fe80::2%tun6z', family: 'IPv6', port: 9999 });
    expect(out['udp'].echo).toEqual({ m: 'zone', r: { address: 'fe80::1%tun6z', family: 'IPv6', port: 9999, size: 4 } });
    // The same mistakes: the same code and message on both sides.
    for (const [what, kernel, ours] of out['pairs'] as [string, string, string][]) {
      console.log(`${what}: node ${kernel}`);
      expect(ours, what).toBe(kernel);
    }
    expect((out['pairs'] as unknown[]).length).toBe(7);
  }, 90_000);
});
