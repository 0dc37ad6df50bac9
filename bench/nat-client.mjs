// The guest's client of `pnpm bench --nat` (bench/nat.mjs; runs in G). node:net/dgram only.
// Prints one JSON line, exits 0 (a failure is { error }).
//   up HOST PORT BYTES TIMEOUT_MS       'BYTES\n' then BYTES to the counted discard, which
//                                       answers the count once read: { bytes, ms } (connect ->
//                                       answer), an error unless the count is BYTES
//   echo HOST PORT SECONDS SIZE         one connection, SIZE-byte messages one at a time:
//                                       { roundTrips, perSecond }
//   echo-cpu HOST PORT TRIPS WARMUP PID SIZE
//                                       like echo, counted: WARMUP round trips, then TRIPS
//                                       measured, the CPU time of process PID (the gateway)
//                                       read from /proc around them: { trips, ms, utime,
//                                       stime (s, clock ticks), runNs (schedstat, all threads) }
//   udp HOST PORT SECONDS SIZE WINDOW   WINDOW datagrams in flight to the UDP echo, a lost
//                                       one replaced after 200 ms: { received, sent, perSecond }
import net from 'node:net';
import dgram from 'node:dgram';

const [cmd, ...a] = process.argv.slice(2);
const out = (o) => { console.log(JSON.stringify(o)); process.exit(0); };
const hardLimit = setTimeout(() => out({ error: 'timeout' }), cmd === 'up' ? Number(a[3]) : cmd === 'echo-cpu' ? 120_000 : (Number(a[2]) + 15) * 1000);
hardLimit.unref();

if (cmd === 'up') {
  const [host, port, bytes] = [a[0], Number(a[1]), Number(a[2])];
  const chunk = Buffer.alloc(256 * 1024, 0x5a);
  const t0 = performance.now();
  let left = bytes;
  let answer = '';
  const s = net.connect({ host, port }, () => {
    s.write(`${bytes}\n`);
    const more = () => {
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        left -= n;
        if (!s.write(n === chunk.length ? chunk : chunk.subarray(0, n))) { s.once('drain', more); return; }
      }
    };
    more();
  });
  s.setEncoding('utf8');
  s.on('data', (d) => { answer += d; });
  s.on('end', () => {
    const ms = performance.now() - t0;
    out(Number(answer) === bytes ? { bytes, ms } : { error: `the server read ${answer || 'nothing'} of ${bytes}` });
  });
  s.on('error', (e) => out({ error: e.code ?? e.message }));
} else if (cmd === 'echo') {
  const [host, port, seconds, size] = [a[0], Number(a[1]), Number(a[2]), Number(a[3])];
  const msg = Buffer.alloc(size, 0x61);
  let got = 0, trips = 0, t0 = 0;
  const s = net.connect({ host, port, noDelay: true }, () => { t0 = performance.now(); s.write(msg); });
  s.on('data', (d) => {
    got += d.length;
    while (got >= size) {
      got -= size;
      trips++;
      const ms = performance.now() - t0;
      if (ms >= seconds * 1000) { s.destroy(); out({ roundTrips: trips, perSecond: trips / (ms / 1000) }); return; }
      s.write(msg);
    }
  });
  s.on('error', (e) => out({ error: e.code ?? e.message }));
} else if (cmd === 'echo-cpu') {
  const [host, port, trips, warmup, pid, size] = [a[0], Number(a[1]), Number(a[2]), Number(a[3]), a[4], Number(a[5] ?? 64)];
  const { readFileSync, readdirSync } = await import('node:fs');
  const ticks = 100; // CLK_TCK on Linux
  const cpu = () => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    let runNs = 0;
    for (const t of readdirSync(`/proc/${pid}/task`)) runNs += Number(readFileSync(`/proc/${pid}/task/${t}/schedstat`, 'utf8').split(' ')[0]);
    return { utime: Number(f[11]) / ticks, stime: Number(f[12]) / ticks, runNs };
  };
  const msg = Buffer.alloc(size, 0x61);
  let got = 0, n = 0, c0, t0 = 0;
  const s = net.connect({ host, port, noDelay: true }, () => s.write(msg));
  s.on('data', (d) => {
    got += d.length;
    while (got >= size) {
      got -= size;
      n++;
      if (n === warmup && process.env.NAT_CPU_PAUSE === '1') {
        // The harness attaches a profiler now: 'warm' on stdout, the measured part once a
        // line arrives on stdin.
        console.log('warm');
        process.stdin.once('data', () => { process.stdin.pause(); c0 = cpu(); t0 = performance.now(); s.write(msg); });
        return;
      }
      if (n === warmup) { c0 = cpu(); t0 = performance.now(); }
      if (n === warmup + trips) {
        const c1 = cpu(), ms = performance.now() - t0;
        s.destroy();
        out({ trips, ms, utime: c1.utime - c0.utime, stime: c1.stime - c0.stime, runNs: c1.runNs - c0.runNs });
        return;
      }
      s.write(msg);
    }
  });
  s.on('error', (e) => out({ error: e.code ?? e.message }));
} else if (cmd === 'udp') {
  const [host, port, seconds, size, window] = [a[0], Number(a[1]), Number(a[2]), Number(a[3]), Number(a[4])];
  const sock = dgram.createSocket('udp4');
  const msg = Buffer.alloc(size, 0x62);
  let sent = 0, received = 0, t0 = 0;
  const send = () => { sent++; sock.send(msg); };
  sock.on('error', (e) => out({ error: e.code ?? e.message }));
  sock.on('message', () => {
    received++;
    const ms = performance.now() - t0;
    if (ms >= seconds * 1000) { out({ received, sent, perSecond: received / (ms / 1000) }); return; }
    send();
  });
  sock.connect(port, host, () => {
    t0 = performance.now();
    for (let i = 0; i < window; i++) send();
    // Lost datagrams (a reply per datagram keeps the window full): nothing back in 200 ms
    // means the window emptied; it is refilled.
    let last = received;
    setInterval(() => {
      if (received === last) for (let i = 0; i < window; i++) send();
      last = received;
      const ms = performance.now() - t0;
      if (ms >= seconds * 1000 + 500) out({ received, sent, perSecond: received / (ms / 1000) });
    }, 200);
  });
} else {
  out({ error: `unknown command ${cmd}` });
}
