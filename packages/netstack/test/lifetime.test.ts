/**
 * Node's lifetime rules, on a link pair, in child processes: what
 * keeps the process alive is exactly what would in Node (a listening server, a connecting
 * or open socket, a bound UDP socket, a pending ping), `unref()` on each lets it exit,
 * `stack.unref()` lets it exit whatever is open, and after `stack.close()` nothing is left.
 *
 * Each child prints `ready` once its set-up is done (the test times from there) and
 * whatever it observed; "still alive" is checked by waiting a bounded time after `ready`
 * and killing it (the assertion is that it had not exited by itself).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const DIST = resolve(here, '../dist/index.js');

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** ms from the child's `ready` line to its exit (or to the kill). */
  afterReady: number;
  killed: boolean;
}

/**
 * Runs `body` (an ES module body; `createStack`, `createLinkPair`, `once` and `ready()` are in
 * scope) in a child. With `killAfterMs`, the child is killed that long after `ready` if it has
 * not exited by then (`killed`); every child is killed at 20 s whatever happens.
 */
function runChild(body: string, killAfterMs?: number): Promise<ChildResult> {
  if (!existsSync(DIST)) throw new Error('packages are not built: run scripts/test (it runs tsc -b first)');
  const script = `
    import { createStack, createLinkPair } from ${JSON.stringify(pathToFileURL(DIST).href)};
    import { once } from 'node:events';
    const ready = () => console.log('ready');
    ${body}`;
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let readyAt: number | undefined;
    let killed = false;
    let killTimer: NodeJS.Timeout | undefined;
    const hard = setTimeout(() => { killed = true; child.kill('SIGKILL'); }, 20_000);
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (readyAt === undefined && /^ready$/m.test(stdout)) {
        readyAt = performance.now();
        if (killAfterMs !== undefined) killTimer = setTimeout(() => { killed = true; child.kill('SIGKILL'); }, killAfterMs);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', fail);
    child.on('close', (code, signal) => {
      clearTimeout(hard);
      if (killTimer !== undefined) clearTimeout(killTimer);
      const afterReady = readyAt === undefined ? NaN : performance.now() - readyAt;
      done({ code, signal, stdout, stderr, afterReady, killed });
    });
  });
}

/** Two stacks on a link pair: `a` (10.0.0.1) and `b` (10.0.0.2); 10.0.0.3 is silent. */
const TWO = `
  const pair = createLinkPair();
  const a = await createStack({ link: pair.a, address: '10.0.0.1', tcpOptions: { rtoInitial: 100, synRetries: 2 } });
  const b = await createStack({ link: pair.b, address: '10.0.0.2' });`;

/** How long a child that should stay alive is watched; one that should not must exit well within it. */
const WATCH_MS = 1000;

describe('process lifetime (link pair)', () => {
  it('a listening server keeps the process alive', async () => {
    const r = await runChild(`${TWO}
      b.tcp.createServer().listen(7, ready);`, WATCH_MS);
    expect(r.killed, r.stderr).toBe(true);
    expect(r.afterReady).toBeGreaterThanOrEqual(WATCH_MS - 50);
  });

  it('server.unref(): the process exits at once, with code 0', async () => {
    const r = await runChild(`${TWO}
      const srv = b.tcp.createServer().listen(7, () => { srv.unref(); ready(); });`, 5000);
    expect(r.killed, r.stderr).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    expect(r.afterReady).toBeLessThan(WATCH_MS);
  });

  it('server.unref() then ref(): alive again', async () => {
    const r = await runChild(`${TWO}
      const srv = b.tcp.createServer().listen(7, () => { srv.unref(); srv.ref(); ready(); });`, WATCH_MS);
    expect(r.killed, r.stderr).toBe(true);
  });

  it('stack.unref(): the process exits at once although a server listens', async () => {
    const r = await runChild(`${TWO}
      b.tcp.createServer().listen(7, () => { b.unref(); ready(); });`, 5000);
    expect(r.killed, r.stderr).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    expect(r.afterReady).toBeLessThan(WATCH_MS);
  });

  it('awaiting a connect to a silent host fails with ETIMEDOUT after the SYN retries (not exit code 13)', async () => {
    // rtoInitial 100 ms, 2 retries: SYNs at 0, 100, 300 ms, failure at 700 ms.
    const r = await runChild(`${TWO}
      const s = a.tcp.connect(7, '10.0.0.3');
      ready();
      const t0 = performance.now();
      try { await once(s, 'connect'); console.log('connected'); }
      catch (e) { console.log(e.code, e.syscall, Math.round(performance.now() - t0)); }`);
    expect(r.killed, r.stderr).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    const [code, syscall, ms] = r.stdout.trim().split('\n').pop()!.split(' ');
    expect(code).toBe('ETIMEDOUT');
    expect(syscall).toBe('connect');
    expect(Number(ms)).toBeGreaterThanOrEqual(650);
    expect(Number(ms)).toBeLessThan(5000);
  });

  it('an unref()\'d pending connect does not hold the process', async () => {
    const r = await runChild(`${TWO}
      const s = a.tcp.connect(7, '10.0.0.3');
      s.on('error', (e) => console.log('error', e.code));
      s.unref();
      ready();`, 5000);
    expect(r.killed, r.stderr).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    expect(r.afterReady).toBeLessThan(500); // before the connect's own 700 ms timeout
    expect(r.stdout).not.toMatch(/error/);
  });

  it('an open connection keeps the process alive; unref() on both sockets lets it exit', async () => {
    const alive = await runChild(`${TWO}
      const srv = b.tcp.createServer((s) => { s.on('error', () => {}); }).listen(7, () => srv.unref());
      const c = a.tcp.connect(7, '10.0.0.2', ready);`, WATCH_MS);
    expect(alive.killed, alive.stderr).toBe(true);
    const gone = await runChild(`${TWO}
      const srv = b.tcp.createServer((s) => { s.unref(); }).listen(7, () => srv.unref());
      const c = a.tcp.connect(7, '10.0.0.2', () => { c.unref(); ready(); });`, 5000);
    expect(gone.killed, gone.stderr).toBe(false);
    expect(gone.code, gone.stderr).toBe(0);
    expect(gone.afterReady).toBeLessThan(WATCH_MS);
  });

  it('a bound UDP socket keeps the process alive; unref()\'d, or closed, it does not', async () => {
    const alive = await runChild(`${TWO}
      const u = b.udp.createSocket('udp4');
      u.bind(7, ready);`, WATCH_MS);
    expect(alive.killed, alive.stderr).toBe(true);
    const unrefd = await runChild(`${TWO}
      const u = b.udp.createSocket('udp4');
      u.bind(7, () => { u.unref(); ready(); });`, 5000);
    expect(unrefd.killed, unrefd.stderr).toBe(false);
    expect(unrefd.code).toBe(0);
    expect(unrefd.afterReady).toBeLessThan(WATCH_MS);
    const closed = await runChild(`${TWO}
      const u = b.udp.createSocket('udp4');
      u.bind(7, () => { u.close(); ready(); });`, 5000);
    expect(closed.killed, closed.stderr).toBe(false);
    expect(closed.afterReady).toBeLessThan(WATCH_MS);
  });

  it('a pending ping keeps the process alive until its timeout', async () => {
    const r = await runChild(`${TWO}
      const t0 = performance.now();
      a.ping('10.0.0.3', { timeout: 800 }).then(() => console.log('reply'), (e) => console.log(e.code, Math.round(performance.now() - t0)));
      ready();`);
    expect(r.killed, r.stderr).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    const [code, ms] = r.stdout.trim().split('\n').pop()!.split(' ');
    expect(code).toBe('ETIMEDOUT');
    expect(Number(ms)).toBeGreaterThanOrEqual(750);
    expect(r.afterReady).toBeGreaterThanOrEqual(750);
  });

  it('after stack.close() nothing is left: the process exits at once', async () => {
    const r = await runChild(`${TWO}
      const srv = b.tcp.createServer((s) => s.on('error', () => {})).listen(7);
      const u = a.udp.createSocket('udp4'); u.bind(5000);
      const c = a.tcp.connect(7, '10.0.0.2');
      c.on('error', (e) => console.log('client', e.code));
      const p = a.ping('10.0.0.3', { timeout: 60000 }).catch((e) => console.log('ping', e.code));
      await once(c, 'connect');
      await a.close();
      await b.close();
      await p;
      ready();`, 5000);
    expect(r.killed, r.stderr).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    expect(r.afterReady).toBeLessThan(WATCH_MS);
    expect(r.stdout).toMatch(/^client ECONNABORTED$/m);
    expect(r.stdout).toMatch(/^ping ECONNABORTED$/m);
  });
});

describe('createStack() failures leave nothing behind (link pair)', () => {
  const dir = mkdtempSync(resolve(tmpdir(), 'netstack-lifetime-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, options, code, option] of [
    ['an unwritable pcap path', `{ link: pair.a, address: '10.0.0.1', pcap: '/nonexistent-dir/x.pcap' }`, 'ENOENT', 'pcap'],
    ['a bad impair spec', `{ link: pair.a, address: '10.0.0.1', impair: 'loss=200%' }`, 'ERR_INVALID_ARG_VALUE', 'impair'],
    ['a bad TCP option (after the pcap file was opened)', `{ link: pair.a, address: '10.0.0.1', pcap: process.env.PCAP, tcpOptions: { maxBufferMemory: -1 } }`, 'ERR_INVALID_ARG_VALUE', 'tcpOptions'],
    ['a gateway off the subnet', `{ link: pair.a, address: '10.0.0.1', gateway: '10.9.0.1' }`, 'ERR_INVALID_ARG_VALUE', 'gateway'],
    ['a bad address', `{ link: pair.a, address: '10.0.0' }`, 'ERR_INVALID_ARG_VALUE', 'address'],
  ] as const) {
    it(`${name}: rejects with code ${code} and option '${option}', and the process exits by itself`, async () => {
      process.env.PCAP = resolve(dir, 'x.pcap');
      const r = await runChild(`
        const pair = createLinkPair();
        try { await createStack(${options}); console.log('created'); }
        catch (e) { console.log(e.code, e.option); console.error(e.message); }
        ready();`, 5000);
      expect(r.killed, r.stderr).toBe(false);
      expect(r.code, r.stderr).toBe(0);
      expect(r.afterReady).toBeLessThan(WATCH_MS);
      expect(r.stdout.split('\n')[0]).toBe(`${code} ${option}`);
    });
  }
});
