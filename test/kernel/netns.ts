/**
 * A private network namespace for one kernel-facing test file: created with a
 * unique name, every process of the test runs inside it (`ip netns exec`), and it
 * is deleted afterwards with whatever devices it holds. Nothing is ever created in
 * the machine's own namespace.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const cli = resolve(repoRoot, 'packages/netstack/bin/netstack.js');

export function requireKernelTools(): void {
  if (process.getuid?.() !== 0) throw new Error('kernel-facing tests need root (CAP_NET_ADMIN) to create network namespaces');
  for (const tool of ['ip', 'ping']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      throw new Error(`kernel-facing tests need '${tool}' (scripts/test installs it: apt-get install -y iputils-ping iproute2)`);
    }
  }
  if (!existsSync(resolve(repoRoot, 'packages/netstack/dist/index.js'))) {
    throw new Error('packages are not built: run scripts/test (it runs tsc -b first)');
  }
}

export interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

let counter = 0;

export class Netns {
  readonly name: string;
  private readonly children = new Set<ChildProcess>();

  private constructor(name: string) { this.name = name; }

  static create(tag = 't'): Netns {
    requireKernelTools();
    const name = `netstack-${tag}-${process.pid}-${++counter}-${Math.floor(Math.random() * 1e6)}`;
    const r = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ip netns add ${name}: ${r.stderr.trim()}`);
    const ns = new Netns(name);
    ns.runSync('ip', ['link', 'set', 'lo', 'up']);
    return ns;
  }

  /** Runs a command to completion inside the namespace, bounded by `timeoutMs`. */
  run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string | Buffer } = {}): Promise<RunResult> {
    return new Promise((resolveRun, reject) => {
      const child = this.spawn(cmd, args);
      let stdout = '';
      let stderr = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
      child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
      child.on('error', (e) => { clearTimeout(timer); reject(e); });
      child.on('close', (code, signal) => { clearTimeout(timer); resolveRun({ code, signal, stdout, stderr }); });
      if (opts.input !== undefined) child.stdin!.end(opts.input);
      else child.stdin!.end();
    });
  }

  /** Turns IPv6 on (false) or off (true) for the namespace and the devices made in it afterwards (net.ipv6.conf.{all,default}.disable_ipv6). */
  setIpv6Disabled(disabled: boolean): void {
    const v = disabled ? 1 : 0;
    this.runSync('sh', ['-c', `echo ${v} > /proc/sys/net/ipv6/conf/all/disable_ipv6; echo ${v} > /proc/sys/net/ipv6/conf/default/disable_ipv6`]);
  }

  runSync(cmd: string, args: string[]): string {
    const r = spawnSync('ip', ['netns', 'exec', this.name, cmd, ...args], { encoding: 'utf8', timeout: 30_000 });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} in ${this.name}: ${r.stderr?.trim() || r.error?.message || `status ${r.status}`}`);
    return r.stdout;
  }

  /** Starts a long-running process inside the namespace; killed by close() if still alive. */
  spawn(cmd: string, args: string[]): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.name, cmd, ...args], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    return child;
  }

  /** Starts `netstack serve` and resolves once it printed its ready line. */
  async serve(args: string[] = [], timeoutMs = 20_000): Promise<Server> {
    const child = this.spawn(process.execPath, [cli, 'serve', ...args]);
    const server = new Server(child);
    await server.waitFor(/ready/, timeoutMs);
    return server;
  }

  /**
   * Starts fixtures/tcp-http-server.mjs (kernel side) serving `size` bytes on `port`;
   * resolves once it listens, with the body's sha256 and its output so far (each
   * request's `peer ADDRESS PORT URL` line lands in `out()`).
   */
  async httpFixture(port: number, size: number, lingerMs = 60_000): Promise<{ child: ChildProcess; sha256: string; out(): string }> {
    const child = this.spawn(process.execPath, [resolve(repoRoot, 'test/kernel/fixtures/tcp-http-server.mjs'), String(port), String(size), String(lingerMs)]);
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d; });
    const sha256 = await new Promise<string>((resolveListen, reject) => {
      const timer = setTimeout(() => reject(new Error(`server fixture did not start: ${out}`)), 20_000);
      const check = (): void => {
        const m = out.match(/listening (\d+) (\d+) ([0-9a-f]{64})/);
        if (m) { clearTimeout(timer); resolveListen(m[3]!); }
      };
      child.stdout!.on('data', check);
      child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`server fixture exited ${code}: ${out}`)); });
    });
    return { child, sha256, out: () => out };
  }

  /** Interfaces present in the namespace (names). */
  links(): string[] {
    return this.runSync('ip', ['-o', 'link', 'show']).split('\n').filter(Boolean).map((l) => l.split(': ')[1]!.split('@')[0]!);
  }

  /**
   * /proc/net/snmp of the namespace as { 'Ip.InHdrErrors': n, ... }: the kernel's
   * silent drops of what we wrote (bad checksums, bad headers) show up here.
   */
  snmp(): Record<string, number> {
    return this.procTable('/proc/net/snmp');
  }

  /** /proc/net/netstat of the namespace as { 'IpExt.InECT0Pkts': n, 'TcpExt.…': n, ... }. */
  netstat(): Record<string, number> {
    return this.procTable('/proc/net/netstat');
  }

  /** A /proc/net table of header/value line pairs, keyed `Proto.Name`. */
  private procTable(file: string): Record<string, number> {
    const lines = this.runSync('cat', [file]).trim().split('\n');
    const out: Record<string, number> = {};
    for (let i = 0; i + 1 < lines.length; i += 2) {
      const keys = lines[i]!.split(/\s+/);
      const vals = lines[i + 1]!.split(/\s+/);
      const proto = keys[0]!.replace(':', '');
      for (let k = 1; k < keys.length; k++) out[`${proto}.${keys[k]}`] = Number(vals[k]);
    }
    return out;
  }

  exists(): boolean {
    return spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').some((l) => l.split(' ')[0] === this.name);
  }

  async close(): Promise<void> {
    for (const c of this.children) c.kill('SIGKILL');
    await Promise.all([...this.children].map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r)))));
    spawnSync('ip', ['netns', 'del', this.name]);
  }
}

/** A `netstack serve` child: its output, awaited line by line. */
export class Server {
  stdout = '';
  stderr = '';
  private waiters: Array<() => void> = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { this.stdout += d; this.wake(); });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.stderr += d; this.wake(); });
    this.exited = new Promise((r) => child.on('exit', (code, signal) => { this.wake(); r({ code, signal }); }));
  }

  private wake(): void { for (const w of this.waiters.splice(0)) w(); }

  /** Resolves when stdout (or stderr) matches `re`; rejects on exit or after `timeoutMs`. */
  waitFor(re: RegExp, timeoutMs = 20_000, from: 'stdout' | 'stderr' = 'stdout'): Promise<RegExpMatchArray> {
    return new Promise((resolveWait, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${re} (stdout: ${this.stdout.slice(-500)} stderr: ${this.stderr.slice(-500)})`)), timeoutMs);
      const check = (): void => {
        const m = this[from].match(re);
        if (m) { clearTimeout(timer); resolveWait(m); return; }
        if (this.child.exitCode !== null || this.child.signalCode !== null) {
          clearTimeout(timer);
          reject(new Error(`serve exited (${this.child.exitCode ?? this.child.signalCode}) before ${re}: ${this.stderr.slice(-800)}`));
          return;
        }
        this.waiters.push(check);
      };
      check();
    });
  }

  /** SIGTERM, then resolves with the exit status. */
  async stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    this.child.kill('SIGTERM');
    return this.exited;
  }
}

/** `netstack serve --stats` counters: { layer: { counter: n } } (flattened keys, e.g. 'dropped.NoSocket'). */
export type Stats = Record<string, Record<string, number>>;

/** The `stats {...}` lines `netstack serve` printed so far (one per SIGUSR2, one at exit). */
export function statsLines(s: Server): string[] {
  return s.stdout.split('\n').filter((l) => l.startsWith('stats '));
}

/** SIGUSR2 to `netstack serve`: it prints its counters; resolves with them (bounded wait, 2 s). */
export async function liveStats(s: Server): Promise<Stats> {
  const before = statsLines(s).length;
  s.child.kill('SIGUSR2');
  for (let i = 0; i < 200 && statsLines(s).length === before; i++) await new Promise((r) => setTimeout(r, 10));
  const lines = statsLines(s);
  if (lines.length === before) throw new Error(`no stats line after SIGUSR2: ${s.stderr.slice(-300)}`);
  return JSON.parse(lines[lines.length - 1]!.slice(6)) as Stats;
}

/** One counter of a stats snapshot, 0 when absent. */
export const statCount = (s: Stats, layer: string, key: string): number => s[layer]?.[key] ?? 0;
