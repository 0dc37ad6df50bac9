/**
 * Kernel-facing: ECN (RFC 3168) with the kernel's TCP as the peer, in private
 * namespaces made here. This kernel has no ECN-marking qdisc (no netem, red, codel), so
 * congestion marks come from the stack's own shaper: `--impair ce=P%` marks ECN-capable
 * packets CE in both directions, as an AQM router on the path would.
 *
 * With net.ipv4.tcp_ecn=1 in the namespace curl asks for ECN: the stack must agree,
 * send its data ECT(0) (the kernel's IpExt InECT0Pkts counts them), echo CE marks on
 * the kernel's data with ECE until the kernel's CWR (so the kernel reacted), and halve
 * its own window on the kernel's ECE with CWR after; every byte exact both ways.
 * With the default tcp_ecn=2 the kernel does not ask, and nothing is ECN.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { Netns, Server } from './netns.js';

const STACK = '10.7.0.2';
const N = 8_000_000;

function patternSha(n: number): string {
  const h = createHash('sha256');
  const chunk = Buffer.alloc(65536);
  for (let i = 0; i < chunk.length; i++) chunk[i] = i & 0xff;
  for (let done = 0; done < n; done += chunk.length) h.update(chunk.subarray(0, Math.min(chunk.length, n - done)));
  return h.digest('hex');
}

interface Run { ns: Netns; server: Server; before: Record<string, number> }

async function start(tcpEcn: number, impair: string): Promise<Run> {
  const ns = Netns.create('ecn');
  ns.runSync('sysctl', ['-q', '-w', `net.ipv4.tcp_ecn=${tcpEcn}`]);
  const server = await ns.serve(['--stats', '--impair', impair]);
  return { ns, server, before: ns.netstat() };
}

/** GET /bytes/N (sha256 of what arrived) and POST N bytes to /sink (the stack's sha256 of what it got). */
async function transfer(r: Run): Promise<void> {
  const get = await r.ns.run('sh', ['-c', `curl -sS -m 60 http://${STACK}/bytes/${N} | sha256sum`], { timeoutMs: 70_000 });
  expect(get.code, get.stderr).toBe(0);
  expect(get.stdout.split(' ')[0]).toBe(patternSha(N));
  const post = await r.ns.run('sh', ['-c', `head -c ${N} /dev/zero | curl -sS -m 60 --data-binary @- -H 'Content-Type: application/octet-stream' http://${STACK}/sink`], { timeoutMs: 70_000 });
  expect(post.code, post.stderr).toBe(0);
  const answer = JSON.parse(post.stdout);
  expect(answer.bytes).toBe(N);
  expect(answer.sha256).toBe(createHash('sha256').update(Buffer.alloc(N)).digest('hex'));
}

async function stop(r: Run): Promise<{ tcp: Record<string, number>; impair: Record<string, number>; kernel: Record<string, number> }> {
  const kernel = r.ns.netstat();
  const { code } = await r.server.stop();
  expect(code, r.server.stderr).toBe(0);
  const stats = JSON.parse(r.server.stdout.split('\n').find((l) => l.startsWith('stats '))!.slice(6));
  const delta: Record<string, number> = {};
  for (const k of Object.keys(kernel)) delta[k] = kernel[k]! - (r.before[k] ?? 0);
  return { tcp: stats.tcp, impair: stats.impair, kernel: delta };
}

const runs: Run[] = [];
afterAll(async () => {
  for (const r of runs) await r.ns.close();
});

describe('ECN with the kernel as the peer (RFC 3168)', () => {
  it('tcp_ecn=1: negotiated; our data ECT(0); CE marks echoed and answered by CWR both ways; bytes exact', { timeout: 120_000 }, async () => {
    const r = await start(1, 'ce=1%,seed=11');
    runs.push(r);
    await transfer(r);
    const { tcp, impair, kernel } = await stop(r);
    console.log(`ecn: tcp ${JSON.stringify({ n: tcp.EcnNegotiated, ce: tcp.EcnCeReceived, ece: tcp.EcnEceReductions, cwrOut: tcp.EcnCwrSent, cwrIn: tcp.EcnCwrReceived, rtx: tcp.RetransSegs })} ` +
      `impair ce ${impair.CeMarked}; kernel InECT0 ${kernel['IpExt.InECT0Pkts']} InCE ${kernel['IpExt.InCEPkts']}`);
    expect(tcp.EcnNegotiated).toBe(2); // the GET's and the POST's connection
    expect(kernel['IpExt.InECT0Pkts']).toBeGreaterThan(1000); // the stack's data went out ECT(0)
    expect(impair.CeMarked).toBeGreaterThan(20);
    expect(kernel['IpExt.InCEPkts']).toBeGreaterThan(0); // marks on our data reached the kernel ...
    expect(tcp.EcnEceReductions).toBeGreaterThan(0); // ... which echoed ECE, and we reduced
    expect(tcp.EcnCwrSent).toBeGreaterThan(0);
    expect(tcp.EcnCeReceived).toBeGreaterThan(0); // marks on the kernel's data reached us ...
    expect(tcp.EcnCwrReceived).toBeGreaterThan(0); // ... we echoed ECE, and the kernel answered CWR
    expect(tcp.RetransSegs).toBe(0); // marks, not losses
  });

  it('tcp_ecn=2 (the default): the kernel does not ask, nothing is ECN-capable, nothing is marked', { timeout: 120_000 }, async () => {
    const r = await start(2, 'ce=1%,seed=11');
    runs.push(r);
    await transfer(r);
    const { tcp, impair, kernel } = await stop(r);
    expect(tcp.EcnNegotiated).toBe(0);
    expect(kernel['IpExt.InECT0Pkts']).toBe(0);
    expect(impair.CeMarked).toBe(0);
    expect([tcp.EcnEceReductions, tcp.EcnCwrSent, tcp.EcnCeReceived, tcp.EcnCwrReceived]).toEqual([0, 0, 0, 0]);
  });
});
