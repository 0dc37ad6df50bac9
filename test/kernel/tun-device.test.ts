/**
 * TunDevice against the real kernel. Every test makes its own network namespace
 * (`ns-tun-<pid>-<rand>`), runs the fixture inside it with `ip netns exec`, and deletes the
 * namespace afterwards; nothing touches the machine's own namespace. The fixture imports
 * the BUILT package (packages/tun/dist), which beforeAll builds.
 */
import { execFile, execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readPcap } from '@netstack/tun';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FIXTURE = resolve(repoRoot, 'test/kernel/fixtures/tun-fixture.mjs');
const PING = '/usr/bin/ping';
const DIST_URL = pathToFileURL(resolve(repoRoot, 'packages/tun/dist/index.js')).href;
const EVENT_TIMEOUT = 10_000;

interface FixtureEvent {
  event: string;
  [key: string]: unknown;
}

interface Stats {
  RxPackets: number;
  RxDropped: number;
  TxPackets: number;
  TxDropped: number;
}

interface StatsEvent extends FixtureEvent {
  stats: Stats;
  delivered: { ipv4: number; other: number; echoRequests: number; echoReplies: number };
}

const namespaces: string[] = [];
const fixtures: Fixture[] = [];

function makeNetns(): string {
  const name = `ns-tun-${process.pid}-${randomBytes(4).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name]);
  namespaces.push(name);
  return name;
}

/** Runs a command inside the namespace, bounded in time. */
function inNs(ns: string, ...cmd: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', timeout: 15_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function inNsAsync(ns: string, ...cmd: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile('ip', ['netns', 'exec', ns, ...cmd], { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      done({ code, stdout, stderr });
    });
  });
}

class Fixture {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #events: FixtureEvent[] = [];
  #waiters: { name: string; resolve: (e: FixtureEvent) => void }[] = [];
  stderr = '';

  constructor(ns: string, config: object, env: Record<string, string> = {}) {
    this.child = spawn('ip', ['netns', 'exec', ns, process.execPath, FIXTURE, JSON.stringify(config)], { env: { ...process.env, ...env } });
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((done) => this.child.on('exit', (code, signal) => done({ code, signal })));
    createInterface({ input: this.child.stdout }).on('line', (line) => {
      let event: FixtureEvent;
      try {
        event = JSON.parse(line) as FixtureEvent;
      } catch {
        this.stderr += `unparsable stdout line: ${line}\n`;
        return;
      }
      const i = this.#waiters.findIndex((w) => w.name === event.event);
      if (i >= 0) this.#waiters.splice(i, 1)[0]!.resolve(event);
      else this.#events.push(event);
    });
    fixtures.push(this);
  }

  /** The next event named `name` (or 'error', which fails the wait unless asked for). */
  next<T extends FixtureEvent = FixtureEvent>(name: string, timeoutMs = EVENT_TIMEOUT): Promise<T> {
    const queued = this.#events.findIndex((e) => e.event === name || (e.event === 'error' && name !== 'error'));
    if (queued >= 0) {
      const e = this.#events.splice(queued, 1)[0]!;
      if (e.event === 'error' && name !== 'error') return Promise.reject(new Error(`fixture failed: ${JSON.stringify(e)}`));
      return Promise.resolve(e as T);
    }
    return new Promise<T>((res, rej) => {
      const timer = setTimeout(() => {
        rej(new Error(`no "${name}" event from the fixture within ${timeoutMs} ms; stderr: ${this.stderr}`));
      }, timeoutMs);
      const waiter = {
        name,
        resolve: (e: FixtureEvent) => {
          clearTimeout(timer);
          res(e as T);
        },
      };
      this.#waiters.push(waiter);
      // A fixture that dies or reports an error before the event fails the wait at once.
      void this.exited.then(({ code, signal }) => {
        if (!this.#waiters.includes(waiter)) return;
        clearTimeout(timer);
        const err = this.#events.find((e) => e.event === 'error');
        rej(new Error(`fixture exited (${code ?? signal}) before "${name}": ${JSON.stringify(err)} ${this.stderr}`));
      });
    });
  }

  command(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  async stats(): Promise<StatsEvent> {
    this.command('stats');
    return this.next<StatsEvent>('stats');
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

/** A counter from /proc/net/snmp ("Ip: Forwarding ..." header line, then the values line). */
function snmpValue(snmp: string, group: string, field: string): number {
  const lines = snmp.split('\n').filter((l) => l.startsWith(`${group}: `));
  const names = lines[0]?.split(/\s+/) ?? [];
  const values = lines[1]?.split(/\s+/) ?? [];
  const i = names.indexOf(field);
  if (i < 1) throw new Error(`no ${group} ${field} in /proc/net/snmp`);
  return Number(values[i]);
}

function linkExists(ns: string, dev: string): boolean {
  return inNs(ns, 'ip', 'link', 'show', 'dev', dev).status === 0;
}

beforeAll(() => {
  execFileSync(resolve(repoRoot, 'node_modules/.bin/tsc'), ['-b', 'packages/tun'], { cwd: repoRoot, stdio: 'inherit' });
  if (!existsSync(resolve(repoRoot, 'packages/tun/dist/index.js'))) throw new Error('packages/tun did not build');
});

afterEach(async () => {
  for (const f of fixtures.splice(0)) {
    f.kill();
    await f.exited;
  }
  for (const ns of namespaces.splice(0)) {
    spawnSync('ip', ['netns', 'del', ns]);
  }
});

describe('TunDevice on a real tun, in a private namespace', () => {
  it('creates tun0, configures address, MTU and UP from Node, and removes it on close without leaking fds', async () => {
    const ns = makeNetns();
    const fx = new Fixture(ns, { open: { name: 'tun0', mtu: 1400, kernelAddress: '10.7.0.1/24' } });
    const ready = await fx.next('ready');
    expect(ready).toMatchObject({ name: 'tun0', mtu: 1400 });

    const addr = inNs(ns, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'tun0');
    expect(addr.stdout).toMatch(/inet 10\.7\.0\.1\/24 /);
    const link = inNs(ns, 'ip', '-o', 'link', 'show', 'dev', 'tun0');
    expect(link.stdout).toMatch(/<[^>]*\bUP\b[^>]*>/);
    expect(link.stdout).toMatch(/ mtu 1400 /);
    expect(inNs(ns, 'ip', 'route', 'show', 'dev', 'tun0').stdout).toMatch(/^10\.7\.0\.0\/24 /m);

    fx.command('close');
    const closed = await fx.next('closed');
    expect(closed.fdsAfter).toBe(closed.fdsBefore);
    expect(closed.sendAfterClose).toBe(false);
    expect(linkExists(ns, 'tun0')).toBe(false);
  });

  it.each([
    ['Node\'s libuv stream on a duplicate descriptor (the default)', {}, 2],
    ['the koffi poll with NETSTACK_TUN_WAIT=poll', { NETSTACK_TUN_WAIT: 'poll' }, 1],
  ] as const)('waits through %s: the ping is answered, every descriptor of /dev/net/tun closed on close()', async (_, env, fds) => {
    if (!existsSync(PING)) throw new Error(`${PING} is missing: install iputils-ping to run this test`);
    const ns = makeNetns();
    const fx = new Fixture(ns, { open: { name: 'tun0', kernelAddress: '10.7.0.1/24' }, echo: true }, env);
    const ready = await fx.next('ready');
    expect(ready.tunFds).toBe(fds);
    const ping = await inNsAsync(ns, PING, '-c', '3', '-W', '2', '-i', '0.2', '10.7.0.2');
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);
    expect(ping.stdout).toMatch(/3 packets transmitted, 3 received/);
    fx.command('close');
    const closed = await fx.next('closed');
    expect(closed.tunFds).toBe(0);
    expect(closed.fdsAfter).toBe(closed.fdsBefore);
    expect(linkExists(ns, 'tun0')).toBe(false);
  });

  it('reads back a kernel-chosen name', async () => {
    const ns = makeNetns();
    const fx = new Fixture(ns, { open: {} });
    const ready = await fx.next('ready');
    expect(ready.name).toMatch(/^tun\d+$/);
    expect(linkExists(ns, String(ready.name))).toBe(true);
  });

  it('leaks no descriptor over 50 open/close cycles', async () => {
    const ns = makeNetns();
    const fx = new Fixture(ns, { open: { name: 'tun0', kernelAddress: '10.7.0.1/24' }, cycles: 50 });
    const cycled = await fx.next('cycled');
    expect(cycled.cycles).toBe(50);
    expect(cycled.fdsAfter).toBe(cycled.fdsBefore);
    expect(linkExists(ns, 'tun0')).toBe(false);
  });

  it('the kernel removes the device when the process is killed with SIGKILL', async () => {
    const ns = makeNetns();
    const fx = new Fixture(ns, { open: { name: 'tun0', kernelAddress: '10.7.0.1/24' } });
    await fx.next('ready');
    expect(linkExists(ns, 'tun0')).toBe(true);
    fx.kill();
    const exit = await fx.exited;
    expect(exit.signal).toBe('SIGKILL');
    expect(linkExists(ns, 'tun0')).toBe(false);
  });

  // The device installs no signal handler (signals are the CLI's policy): a program that
  // sets none is ended by SIGINT/SIGTERM (Node's default action, no 'exit' event), and the
  // kernel closes the fd and removes the non-persistent device, as for SIGKILL.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    it(`a program with no handler dies of ${sig} and the kernel removes the device`, async () => {
      const ns = makeNetns();
      const fx = new Fixture(ns, { open: { name: 'tun0', kernelAddress: '10.7.0.1/24' } });
      await fx.next('ready');
      expect(linkExists(ns, 'tun0')).toBe(true);
      fx.child.kill(sig);
      const exit = await fx.exited;
      expect(exit).toEqual({ code: null, signal: sig });
      expect(linkExists(ns, 'tun0')).toBe(false);
    });
  }

  it('attaches to a persistent tun0 that already has the address and is up', async () => {
    const ns = makeNetns();
    for (const cmd of [
      ['ip', 'tuntap', 'add', 'dev', 'tun0', 'mode', 'tun'],
      ['ip', 'addr', 'add', '10.7.0.1/24', 'dev', 'tun0'],
      ['ip', 'link', 'set', 'tun0', 'up'],
    ]) {
      expect(inNs(ns, ...cmd).status, cmd.join(' ')).toBe(0);
    }
    const fx = new Fixture(ns, { open: { name: 'tun0', kernelAddress: '10.7.0.1/24', mtu: 1500 }, echo: true });
    const ready = await fx.next('ready');
    expect(ready).toMatchObject({ name: 'tun0', mtu: 1500 });
    const addrs = inNs(ns, 'ip', '-o', '-4', 'addr', 'show', 'dev', 'tun0').stdout.trim().split('\n');
    expect(addrs).toHaveLength(1);
    expect(addrs[0]).toMatch(/inet 10\.7\.0\.1\/24 /);

    // The attached device carries traffic.
    const ping = await inNsAsync(ns, PING, '-c', '1', '-W', '2', '10.7.0.2');
    expect(ping.code, ping.stdout + ping.stderr).toBe(0);

    fx.command('close');
    await fx.next('closed');
    expect(linkExists(ns, 'tun0')).toBe(true); // persistent: it outlives our fd
    expect(inNs(ns, 'ip', 'link', 'del', 'tun0').status).toBe(0);
  });

  it('refuses a second open of an attached device with EBUSY, in the same and in another process', async () => {
    const ns = makeNetns();
    const fx = new Fixture(ns, { open: { name: 'tun0' } });
    await fx.next('ready');
    fx.command('open-again');
    const again = await fx.next('open-again');
    expect(again.code).toBe('EBUSY');

    const other = new Fixture(ns, { open: { name: 'tun0' } });
    const err = await other.next('error');
    expect(err.code).toBe('EBUSY');
    expect(String(err.message)).toMatch(/in use/);
    expect((await other.exited).code).toBe(1);
  });

  it('answers the kernel ping: ping -c 3 -W 2 10.7.0.2 succeeds, and capture() records both directions', async () => {
    if (!existsSync(PING)) throw new Error(`${PING} is missing: install iputils-ping to run this test`);
    const ns = makeNetns();
    const dir = mkdtempSync(resolve(tmpdir(), 'netstack-tun-'));
    try {
      const pcap = resolve(dir, 'ping.pcap');
      const fx = new Fixture(ns, { open: { name: 'tun0', kernelAddress: '10.7.0.1/24' }, echo: true, pcap });
      await fx.next('ready');
      const ping = await inNsAsync(ns, PING, '-c', '3', '-W', '2', '-i', '0.2', '10.7.0.2');
      expect(ping.code, ping.stdout + ping.stderr).toBe(0);
      expect(ping.stdout).toMatch(/3 packets transmitted, 3 received/);
      const s = await fx.stats();
      expect(s.delivered.echoRequests).toBe(3);
      expect(s.delivered.echoReplies).toBe(3);
      expect(s.stats.TxPackets).toBe(3);
      expect(s.stats.TxDropped).toBe(0);
      // The kernel threw nothing away silently (bad header or checksum).
      const snmp = inNs(ns, 'cat', '/proc/net/snmp').stdout;
      expect(snmpValue(snmp, 'Ip', 'InHdrErrors')).toBe(0);
      expect(snmpValue(snmp, 'Icmp', 'InCsumErrors')).toBe(0);
      expect(snmpValue(snmp, 'Icmp', 'InEchoReps')).toBe(3);

      fx.command('close');
      await fx.next('closed');
      const file = readPcap(readFileSync(pcap));
      expect(file.linkType).toBe(101);
      const icmp = file.records.filter((r) => r.data[0] === 0x45 && r.data[9] === 1);
      expect(icmp.map((r) => `${r.data[20]}:${r.data.slice(16, 20).join('.')}`)).toEqual([
        '8:10.7.0.2',
        '0:10.7.0.1',
        '8:10.7.0.2',
        '0:10.7.0.1',
        '8:10.7.0.2',
        '0:10.7.0.1',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('drops and counts IPv6 packets in ipv4Only mode (the default), and delivers them without it', async () => {
    for (const ipv4Only of [true, false]) {
      const ns = makeNetns();
      const fx = new Fixture(ns, { open: { name: 'tun0', kernelAddress: '10.7.0.1/24', ipv4Only } });
      await fx.next('ready');
      expect(inNs(ns, 'ip', '-6', 'addr', 'add', 'fd00::1/64', 'dev', 'tun0', 'nodad').status).toBe(0);
      const ping6 = await inNsAsync(ns, PING, '-6', '-c', '2', '-W', '1', '-i', '0.2', 'fd00::2');
      expect(ping6.stdout).toMatch(/2 packets transmitted/); // sent, never answered
      const ping4 = await inNsAsync(ns, PING, '-c', '1', '-W', '1', '10.7.0.9');
      expect(ping4.stdout).toMatch(/1 packets transmitted/);
      const s = await fx.stats();
      expect(s.delivered.ipv4).toBeGreaterThanOrEqual(1);
      if (ipv4Only) {
        expect(s.delivered.other).toBe(0);
        expect(s.stats.RxDropped).toBeGreaterThanOrEqual(2);
      } else {
        expect(s.delivered.other).toBeGreaterThanOrEqual(2);
        expect(s.stats.RxDropped).toBe(0);
      }
      expect(s.stats.RxPackets).toBe(s.delivered.ipv4 + s.delivered.other);
    }
  });

  it('unref() lets the process exit with the device open; the kernel then removes it', async () => {
    const ns = makeNetns();
    const script = `
      const { TunDevice } = await import(${JSON.stringify(DIST_URL)});
      const dev = TunDevice.open({ name: 'tun0', kernelAddress: '10.7.0.1/24' });
      dev.unref();
      console.log('ready');`;
    const r = await inNsAsync(ns, process.execPath, '--input-type=module', '-e', script);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('ready');
    expect(linkExists(ns, 'tun0')).toBe(false);
  });

  it('keeps reading after garbage collection when the caller keeps no reference', async () => {
    const ns = makeNetns();
    const script = `
      const { TunDevice } = await import(${JSON.stringify(DIST_URL)});
      TunDevice.open({ name: 'tun0', kernelAddress: '10.7.0.1/24' }).setReceiver({
        packet(p) {
          if (p[9] === 1) { console.log('icmp'); process.exit(0); }
        },
      });
      for (let i = 0; i < 5; i++) globalThis.gc();
      setTimeout(() => { for (let i = 0; i < 5; i++) globalThis.gc(); console.log('ready'); }, 0);
      setTimeout(() => process.exit(3), 15000).unref();`;
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--expose-gc', '--input-type=module', '-e', script]);
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    const lines = createInterface({ input: child.stdout });
    const ready = new Promise<string>((done) => lines.once('line', done));
    try {
      expect(await ready).toBe('ready');
      await inNsAsync(ns, PING, '-c', '1', '-W', '1', '10.7.0.2'); // unanswered; the fixture sees it
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

