// What the namespace benches (run, impaired, nat, nat-cpu, wireguard) share: private network
// namespaces named after the bench and its pid, processes started in them, and one cleanup
// that kills every process and deletes every namespace at exit or on a signal (the
// network-safety rule: nothing a bench makes outlives it).
import { spawn, spawnSync } from 'node:child_process';

/**
 * `prefix`: the namespaces' name prefix (e.g. 'nsn': nsn-PID-h); `label`: what the signal
 * message names ('bench --nat'); `onCleanup`: more to remove (a temporary directory).
 */
export function nsKit(prefix, label, { onCleanup } = {}) {
  const tag = `${prefix}-${process.pid}`;
  const namespaces = [];
  const procs = new Set();

  /** A bounded synchronous command; throws on a non-zero status unless `check: false`. */
  function sh(cmd, args, opts = {}) {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: opts.timeout ?? 30_000, maxBuffer: 16 << 20, input: opts.input });
    if (opts.check !== false && r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error?.message || `status ${r.status}`}`);
    return r.stdout ?? '';
  }
  const inNs = (ns, cmd, args, opts) => sh('ip', ['netns', 'exec', ns, cmd, ...args], opts);
  /** A new namespace `${tag}-${suffix}` with its loopback up, removed by cleanup(). */
  function mkns(suffix) {
    const name = `${tag}-${suffix}`;
    sh('ip', ['netns', 'add', name]);
    namespaces.push(name);
    inNs(name, 'ip', ['link', 'set', 'lo', 'up']);
    return name;
  }
  function delns(name) {
    const i = namespaces.indexOf(name);
    if (i >= 0) namespaces.splice(i, 1);
    sh('ip', ['netns', 'del', name], { check: false });
  }
  function cleanup() {
    for (const p of procs) { try { p.kill('SIGKILL'); } catch {} }
    procs.clear();
    for (const n of namespaces.splice(0)) sh('ip', ['netns', 'del', n], { check: false });
    onCleanup?.();
  }
  process.on('exit', cleanup);
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(s, () => { console.error(`\n${label}: ${s}, removing the namespaces`); cleanup(); process.exit(130); });

  /**
   * A long-running process in `ns` (`ip netns exec` execs it: the child's PID is the
   * process's): `child.log()` the last 32-64 KiB of its output, `child.exited` a promise of
   * `child.exitInfo` ({ code, signal, at: the ISO time it ended }).
   */
  function spawnIn(ns, cmd, args, env) {
    const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) });
    procs.add(child);
    let out = '';
    const keep = (d) => { out += d; if (out.length > 65536) out = out.slice(-32768); };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.log = () => out;
    child.exited = new Promise((res) => child.on('exit', (code, signal) => { procs.delete(child); child.exitInfo = { code, signal, at: new Date().toISOString() }; res(child.exitInfo); }));
    return child;
  }
  /** Resolves with `child` once its output matches `readyRe`; rejects after 30 s or when it exits. */
  function ready(child, readyRe, what) {
    return new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`${what} not ready in 30 s: ${child.log().trim().slice(-300)}`)), 30_000);
      const check = () => { if (readyRe.test(child.log())) { clearTimeout(timer); res(child); } };
      child.stdout.on('data', check);
      child.stderr.on('data', check);
      child.exited.then((x) => { clearTimeout(timer); rej(new Error(`${what} exited (${x.signal ?? x.code}): ${child.log().trim().slice(-300)}`)); });
    });
  }
  /** Resolves once `check()` is true (polled every 50 ms), rejects after `ms` or when `child` exits. */
  async function until(child, check, ms, what) {
    const t0 = performance.now();
    while (performance.now() - t0 < ms) {
      if (child.exitInfo) throw new Error(`${what} exited (${child.exitInfo.signal ?? child.exitInfo.code}): ${child.log().trim().slice(-300)}`);
      if (check()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`${what} not ready in ${ms / 1000} s: ${child.log().trim().slice(-300)}`);
  }
  /**
   * A bounded run to completion in `ns`, asynchronous (a signal to the bench is handled at
   * once, and kills it): { status, signal, stdout, stderr }, each kept up to `maxOutput`
   * (default 1 MiB). `onStdout(child, stdout)` sees the output as it grows; `stdin: 'pipe'`
   * and `env` as spawn's.
   */
  function runIn(ns, cmd, args, timeoutMs, { maxOutput = 1 << 20, onStdout, stdin = 'ignore', env } = {}) {
    return new Promise((res) => {
      const child = spawn('ip', ['netns', 'exec', ns, cmd, ...args], { stdio: [stdin, 'pipe', 'pipe'], ...(env ? { env: { ...process.env, ...env } } : {}) });
      procs.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d) => { if (stdout.length < maxOutput) stdout += d; onStdout?.(child, stdout); });
      child.stderr.setEncoding('utf8').on('data', (d) => { if (stderr.length < maxOutput) stderr += d; });
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      child.on('close', (status, signal) => { clearTimeout(timer); procs.delete(child); res({ status, signal, stdout, stderr }); });
    });
  }
  /** SIGTERM, then SIGKILL after `graceMs`; resolves with the exit info. */
  async function stop(child, graceMs = 5000) {
    if (!child || child.exitInfo) return child?.exitInfo;
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    const x = await child.exited;
    clearTimeout(t);
    return x;
  }
  return { tag, namespaces, procs, sh, inNs, mkns, delns, cleanup, spawnIn, ready, until, runIn, stop };
}

/** An integer option within [lo, hi], else `usage(message)` (which exits). */
export function intOption(v, lo, hi, name, usage) {
  const n = Number(v);
  if (!Number.isInteger(n) || n < lo || n > hi) usage(`--${name} must be an integer in ${lo}..${hi}`);
  return n;
}
