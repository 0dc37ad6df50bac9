/**
 * `netstack nat --netns NAME|PID|PATH`: the gateway of gateway.ts as a command (cli.ts
 * dispatches here). Prints a line containing 'ready' once the namespace has its network;
 * exits 0 on SIGINT/SIGTERM after removing the device; SIGUSR2 prints the counters.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createGateway, parseHostPort, type Gateway } from './gateway.js';
import { untilSignal } from '../signals.js';

export const natOptions = {
  netns: { type: 'string' },
  tap: { type: 'boolean' },
  mtu: { type: 'string' },
  dns: { type: 'string' },
  'allow-host-loopback': { type: 'boolean' },
  publish: { type: 'string', multiple: true },
  'no-ipv6': { type: 'boolean' },
  socks5: { type: 'string' },
  'socks5-user': { type: 'string' },
  'max-tcp': { type: 'string' },
  'max-udp': { type: 'string' },
  'max-connecting': { type: 'string' },
  stats: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export const NAT_HELP = `Usage: netstack nat --netns NAME|PID|PATH [options]

Gives a network namespace network access through the stack (user-mode networking,
as slirp4netns and pasta): a TUN device 'tap0' is created INSIDE the namespace with
10.0.2.100/24 and fd00::100/64, default routes via 10.0.2.2 and fd00::2, while this
process and its sockets stay in their own namespace. Every TCP connection and UDP
flow the namespace makes is re-originated here by an ordinary socket: its peers see
this namespace's address. 10.0.2.3 (fd00::3) port 53 forwards DNS (UDP and TCP) to
--dns. 10.0.2.2 (fd00::2) is this host: refused unless --allow-host-loopback.
ICMP echo (ping) to any address is relayed through this host's unprivileged ICMP
socket where net.ipv4.ping_group_range admits this process's group; otherwise it
is answered 'administratively prohibited' (no raw socket is used). UDP errors
upstream (port unreachable...) reach the namespace as ICMP.
Prints a line containing 'ready' once the namespace has its network; exits 0 on
SIGINT/SIGTERM after removing the device. SIGUSR2 prints the counters as a
'stats {...}' line and keeps serving.

Options:
  --netns NS           the namespace: a name (ip netns add NAME), a PID, or a path
                       to a network namespace file (default none: required)
  --tap                a TAP device (Ethernet: ARP, neighbour discovery; the stack
                       answers for 10.0.2.2 and 10.0.2.3 by proxy ARP) instead of TUN,
                       same addresses (default off: TUN)
  --mtu N              the device's MTU, 68..65535, at most 65521 with --tap
                       (default 65520)
  --dns UPSTREAM       DNS server for 10.0.2.3: IP, IP:PORT or [IPv6]:PORT (default:
                       the first nameserver of /etc/resolv.conf)
  --allow-host-loopback
                       10.0.2.2 reaches this host's 127.0.0.1 (fd00::2: ::1)
                       (default off: refused with RST)
  --publish SPEC       HOSTPORT:NSPORT[/udp]: listen on this host's HOSTPORT (all
                       addresses) and forward into the namespace's 10.0.2.100:NSPORT;
                       repeat for several (default none)
  --socks5 HOST:PORT   the tun2socks mode: every TCP connection through this SOCKS5
                       proxy (CONNECT), every UDP flow through a UDP ASSOCIATE of its
                       own, DNS to --dns included (default none: direct)
  --socks5-user USER   RFC 1929 username for --socks5; the password is read from the
                       environment variable NETSTACK_SOCKS5_PASSWORD (default none: no
                       authentication)
  --no-ipv6            IPv4 only in the namespace (default off: both families)
  --max-tcp N          TCP connections at once; more are refused with RST, or end
                       the oldest not established for a second (default 4096)
  --max-udp N          UDP flows at once; a new one ends the least recently active
                       (default 1024)
  --max-connecting N   TCP connections not yet established both ways at once (the
                       upstream connect pending, or the namespace's handshake not
                       completed); more are refused with RST, or end the oldest
                       if it waited a second (default 1024)
  --stats              print the gateway's and the stack's counters as JSON on exit
                       (default off)
  -h, --help           this help`;

type UsageErrorFactory = (message: string) => Error;

function int(flag: string, text: string | undefined, min: number, max: number, usage: UsageErrorFactory): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw usage(`${flag} must be an integer in ${min}..${max}, got '${text}'`);
  return n;
}

export async function nat(args: string[], usage: UsageErrorFactory): Promise<number> {
  let v;
  try {
    v = parseArgs({ args, options: natOptions, strict: true, allowPositionals: false }).values;
  } catch (err) {
    throw usage((err as Error).message.split('\n')[0]!);
  }
  if (v.help) { process.stdout.write(`${NAT_HELP}\n`); return 0; }
  if (v.netns === undefined || v.netns === '') throw usage('--netns is required');
  const netns = /^\d+$/.test(v.netns) ? Number(v.netns) : v.netns;
  const mtu = int('--mtu', v.mtu, 68, v.tap === true ? 65521 : 65535, usage);
  const maxTcp = int('--max-tcp', v['max-tcp'], 1, 1 << 20, usage);
  const maxUdp = int('--max-udp', v['max-udp'], 1, 1 << 20, usage);
  const maxConnecting = int('--max-connecting', v['max-connecting'], 1, 1 << 20, usage);
  if (v.dns !== undefined && parseHostPort(v.dns) === undefined) throw usage(`--dns must be IP, IP:PORT or [IPv6]:PORT, got '${v.dns}'`);
  const publishes = (v.publish ?? []).map((p) => {
    const m = /^(\d+):(\d+)(?:\/(tcp|udp))?$/.exec(p);
    const hostPort = m ? Number(m[1]) : -1, guestPort = m ? Number(m[2]) : -1;
    if (!m || hostPort > 65535 || guestPort < 1 || guestPort > 65535) throw usage(`--publish must be HOSTPORT:NSPORT[/udp], got '${p}'`);
    return { hostPort, guestPort, protocol: (m[3] ?? 'tcp') as 'tcp' | 'udp' };
  });
  let socks5: { proxy: { host: string; port: number }; auth?: { username: string; password: string } } | undefined;
  if (v.socks5 !== undefined) {
    const proxy = parseHostPort(v.socks5, 1080);
    if (proxy === undefined) throw usage(`--socks5 must be HOST:PORT, got '${v.socks5}'`);
    socks5 = { proxy };
    if (v['socks5-user'] !== undefined) {
      const password = process.env.NETSTACK_SOCKS5_PASSWORD;
      if (password === undefined) throw usage('--socks5-user needs the password in NETSTACK_SOCKS5_PASSWORD');
      socks5.auth = { username: v['socks5-user'], password };
    }
  } else if (v['socks5-user'] !== undefined) throw usage('--socks5-user needs --socks5');
  const signals = untilSignal();
  let gw: Gateway | undefined;
  try {
    gw = await createGateway({
      netns,
      ...(v.tap === true ? { tap: true } : {}),
      ...(mtu !== undefined ? { mtu } : {}),
      ...(v.dns !== undefined ? { dns: v.dns } : {}),
      allowHostLoopback: v['allow-host-loopback'] === true,
      ipv6: v['no-ipv6'] !== true,
      ...(socks5 !== undefined ? { socks5 } : {}),
      limits: { ...(maxTcp !== undefined ? { maxTcp } : {}), ...(maxUdp !== undefined ? { maxUdp } : {}), ...(maxConnecting !== undefined ? { maxConnecting } : {}) },
    });
    const published: string[] = [];
    for (const p of publishes) {
      const port = await gw.publish(p);
      published.push(`${port}->${p.guestPort}/${p.protocol}`);
    }
    const g = gw;
    const statsNow = (): unknown => ({ gateway: g.stats(), stack: g.stack.stats() });
    const printStats = (): void => { process.stdout.write(`stats ${JSON.stringify(statsNow())}\n`); };
    process.on('SIGUSR2', printStats);
    const a = g.addresses;
    const info = g.stack.linkInfo();
    process.stdout.write(`netstack nat ready: ${g.device} in ${typeof netns === 'number' ? `pid ${netns}` : netns}: guest ${a.guest}/24${info.kernelAddress6.length > 0 ? ` ${a.guest6}/64` : ''}, gateway ${a.gateway}, dns ${a.dns} -> ${g.dnsUpstream.host}:${g.dnsUpstream.port}, mtu ${info.mtu}${info.type === 'tap' ? ', tap' : ''}${published.length > 0 ? `, publish ${published.join(' ')}` : ''}${v['allow-host-loopback'] ? ', host loopback allowed' : ''}${socks5 !== undefined ? `, via socks5 ${v.socks5}` : ''}\n`);
    await signals.signal;
    process.off('SIGUSR2', printStats);
    const stats = statsNow();
    await g.close();
    gw = undefined;
    if (v.stats) process.stdout.write(`stats ${JSON.stringify(stats)}\n`);
    return 0;
  } finally {
    signals.cancel();
    if (gw !== undefined) await gw.close();
  }
}
