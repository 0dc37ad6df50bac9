/**
 * Lifetime on a TUN device, in a private namespace:
 *  - a failed createStack() closes what it opened (the device is gone before the
 *    rejection is seen) and leaves nothing that keeps the process alive: the child exits
 *    by itself, at once, code 0, with the error's `code` and `option`;
 *  - a listening server keeps the process alive on a TUN device, unref()'d it does not,
 *    and after stack.close() the process exits at once with the device removed.
 * Each child prints `ready` when set up; "still alive" means not exited a bounded time
 * after that (then killed).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Netns, repoRoot } from './netns.js';

const DIST = pathToFileURL(resolve(repoRoot, 'packages/netstack/dist/index.js')).href;
let ns: Netns;

beforeAll(() => { ns = Netns.create('life'); });
afterAll(async () => { await ns?.close(); });

interface ChildResult { code: number | null; stdout: string; stderr: string; afterReady: number; killed: boolean }

/** Runs an ES module body in the namespace; `createStack`, `ready()` and `tunPresent()` are in scope. */
function runChild(body: string, killAfterMs = 5000): Promise<ChildResult> {
  const script = `
    import { createStack } from ${JSON.stringify(DIST)};
    import { spawnSync } from 'node:child_process';
    const ready = () => console.log('ready');
    const tunPresent = () => spawnSync('ip', ['link', 'show', 'tun0']).status === 0;
    ${body}`;
  return new Promise((done, fail) => {
    const child = ns.spawn(process.execPath, ['--input-type=module', '-e', script]);
    let stdout = '';
    let stderr = '';
    let readyAt: number | undefined;
    let killed = false;
    let killTimer: NodeJS.Timeout | undefined;
    const hard = setTimeout(() => { killed = true; child.kill('SIGKILL'); }, 20_000);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (readyAt === undefined && /^ready$/m.test(stdout)) {
        readyAt = performance.now();
        killTimer = setTimeout(() => { killed = true; child.kill('SIGKILL'); }, killAfterMs);
      }
    });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(hard);
      if (killTimer !== undefined) clearTimeout(killTimer);
      done({ code, stdout, stderr, afterReady: readyAt === undefined ? NaN : performance.now() - readyAt, killed });
    });
  });
}

const TUN = `tun: { name: 'tun0', kernelAddress: '10.7.0.1/24' }`;

describe('createStack() on a TUN device: a failure leaves nothing behind', () => {
  for (const [name, extra, expected] of [
    ['an address outside the kernel side\'s subnet', `address: '10.9.0.2'`, 'ERR_INVALID_ARG_VALUE address'],
    ['a bad impair spec', `address: '10.7.0.2', impair: 'loss=200%'`, 'ERR_INVALID_ARG_VALUE impair'],
    ['an unwritable pcap path (after the device opened)', `address: '10.7.0.2', pcap: '/nonexistent-netstack-dir/x.pcap'`, 'ENOENT pcap'],
    ['a bad TCP option (after the device and the pcap file opened)', `address: '10.7.0.2', pcap: '/dev/null', tcpOptions: { maxBufferMemory: -1 }`, 'ERR_INVALID_ARG_VALUE tcpOptions'],
  ] as const) {
    it(`${name}: rejects (${expected}), the device is gone, the process exits by itself`, async () => {
      const r = await runChild(`
        try { await createStack({ ${TUN}, ${extra} }); console.log('created'); }
        catch (e) { console.log(e.code, e.option); console.log(tunPresent() ? 'tun0 present' : 'tun0 gone'); console.error(e.message); }
        ready();`);
      expect(r.killed, `${r.stdout}\n${r.stderr}`).toBe(false);
      expect(r.code, r.stderr).toBe(0);
      expect(r.afterReady).toBeLessThan(1000);
      const lines = r.stdout.trim().split('\n');
      expect(lines[0]).toBe(expected);
      expect(lines[1]).toBe('tun0 gone');
      expect(ns.links()).not.toContain('tun0');
    });
  }
});

describe('process lifetime on a TUN device', () => {
  it('a listening server keeps the process alive; unref()\'d it does not; after stack.close() nothing is left', async () => {
    const alive = await runChild(`
      const stack = await createStack({ ${TUN}, address: '10.7.0.2' });
      stack.tcp.createServer().listen(7, ready);`, 1000);
    expect(alive.killed, alive.stderr).toBe(true);
    expect(alive.afterReady).toBeGreaterThanOrEqual(950);

    const unrefd = await runChild(`
      const stack = await createStack({ ${TUN}, address: '10.7.0.2' });
      const srv = stack.tcp.createServer().listen(7, () => { srv.unref(); ready(); });`);
    expect(unrefd.killed, unrefd.stderr).toBe(false);
    expect(unrefd.code, unrefd.stderr).toBe(0);
    expect(unrefd.afterReady).toBeLessThan(1000);

    const closed = await runChild(`
      const stack = await createStack({ ${TUN}, address: '10.7.0.2' });
      const srv = stack.tcp.createServer().listen(7);
      const u = stack.udp.createSocket('udp4'); u.bind(7);
      await new Promise((r) => srv.on('listening', r));
      await stack.close();
      console.log(tunPresent() ? 'tun0 present' : 'tun0 gone');
      ready();`);
    expect(closed.killed, closed.stderr).toBe(false);
    expect(closed.code, closed.stderr).toBe(0);
    expect(closed.afterReady).toBeLessThan(1000);
    expect(closed.stdout.trim().split('\n')[0]).toBe('tun0 gone');
    expect(ns.links()).not.toContain('tun0');
  }, 30_000);
});
