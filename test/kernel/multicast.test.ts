/**
 * Kernel-facing: the kernel sends IPv4 multicast into tun0 (a route for
 * 224.0.0.0/4 through the device, inside a private namespace made here) and the stack
 * delivers it only to what joined: a socket that joined the group hears it; a group no
 * socket joined, and a source-specific group from a source not listed, are dropped by
 * the stack's IP layer. On TUN no IGMP is involved: membership only filters delivery.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Netns, Server, repoRoot } from './netns.js';

let ns: Netns;

beforeAll(() => {
  ns = Netns.create('mcast');
});

afterAll(async () => {
  await ns?.close();
});

// The kernel-side sender: one datagram per line of argv, "group port text", in order, from 10.7.0.1.
const SENDER = `
const dgram = require('node:dgram');
const s = dgram.createSocket('udp4');
s.bind(4000, '10.7.0.1', async () => {
  s.setMulticastInterface('10.7.0.1');
  for (const spec of process.argv.slice(1)) {
    const [group, port, text] = spec.split(' ');
    await new Promise((r, j) => s.send(text, Number(port), group, (e) => (e ? j(e) : r())));
  }
  s.close();
});
`;

describe('multicast from the kernel into tun0', () => {
  it('reaches the socket that joined; an unjoined group and an unlisted source do not', async () => {
    const rx = new Server(ns.spawn(process.execPath, [join(repoRoot, 'test/kernel/fixtures/multicast-receiver.mjs')]));
    await rx.waitFor(/ready/);
    ns.runSync('ip', ['route', 'add', '224.0.0.0/4', 'dev', 'tun0']);
    const sent = await ns.run(process.execPath, ['-e', SENDER, '239.7.7.7 5000 first', '239.8.8.8 5001 unjoined', '232.7.7.7 5002 ssm', '239.7.7.7 5000 end'], { timeoutMs: 15_000 });
    expect(sent.code, sent.stderr).toBe(0);
    const m = await rx.waitFor(/^\{.*\}$/m, 20_000);
    const res = JSON.parse(m[0]);
    expect(res.heard).toEqual({
      joined: ['first from 10.7.0.1', 'end from 10.7.0.1'],
      notJoined: [],
      ssm: [],
    });
    // The two refused datagrams were dropped by the IP layer (no member), not by UDP.
    expect(res.InAddrErrors).toBeGreaterThanOrEqual(2);
    await rx.exited;
  }, 40_000);
});
