/**
 * The `netstack` command line: serve, ping, fetch, demo, relay, tunnel.
 *
 * Every command works in the network namespace it is started in. `demo` is the one
 * that makes its own private namespace (unshare), so it is safe to run anywhere.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import dgram from 'node:dgram';
import http from 'node:http';
import { createWriteStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { isIP, isIPv4 } from 'node:net';
import { createStack, type Stack } from './stack.js';
import type { StackLease } from './dhcp/wiring.js';
import { checkDnsOption } from './dns/index.js';
import type { Capture } from './capture.js';
import { startServices } from './services.js';
import { untilSignal } from './signals.js';
import { nat, natOptions, NAT_HELP } from './gateway/nat-cli.js';
import { formatImpairSpec, openRelay, parseImpairSpec, relaySpecs, type ImpairSpec, type TunDevice, type TunRelay, type TunRoute } from '@netstack/tun';
import { lookup } from 'node:dns/promises';
import { basename } from 'node:path';
import ipaddr from 'ipaddr.js';
import { createTunnel, type TunnelPeer } from './tunnel/tunnel.js';
import { DEFAULT_TIMERS, type Timers } from '@netstack/wireguard';
import { parseWgConfig, WgConfigError, type WgConfig } from './tunnel/config.js';
import { addUnderlayRoutes, removeUnderlayRoutes, splitDefault, underlayRoutes, type UnderlayRoute } from './tunnel/underlay-routes.js';

/** The device and stack flags of serve, ping and fetch (deviceOptions below). */
const DEVICE_HELP = `  --tun NAME           device name (default tun0)
  --kernel-addr CIDR   kernel side address and prefix (default 10.7.0.1/24)
  --addr ADDR          the stack's IPv4 address, inside --kernel-addr's subnet; serve
                       takes it repeated, for several (the first is the primary)
                       (default 10.7.0.2)
  --mtu N              device MTU, 68..65535 (default 1500)
  --pcap FILE          record both directions to FILE (pcap, LINKTYPE_RAW) as the
                       wire carries them: checksums complete, TCP super-segments
                       (offloads) as one record each, up to 64 KB (default none)
  --pcap-max-bytes N   the capture file stops growing at N bytes (default 1 GiB)
  --impair SPEC        impair the link both ways, deterministic for a seed:
                       loss=3%,dup=1%,reorder=25%,delay=5ms,corrupt=0.1%,seed=N
                       (ce=P% marks ECN-capable packets CE instead), also
                       rate=100mbit,queue=100 (a bottleneck), gel=P/R (bursty
                       loss), and up:SPEC;down:SPEC (up: what the stack sends)
                       (default none)
  --ecn MODE           ECN (RFC 3168): passive (accepted when the peer asks),
                       on (also asked for on outgoing connections), off (default passive)
  --cc NAME            TCP congestion control: cubic or newreno (default cubic)
  --pacing MODE        TCP sender pacing (Linux's internal pacing): on or off (default
                       the stack's: on)
  --no-offload         do not negotiate TUN (or TAP) offloads (by default IFF_VNET_HDR with
                       checksum + TCP segmentation offload: 64 KB TCP
                       super-segments both ways; off when --impair is given)
                       (default: offloads on)`;

/** The spec text of --impair, shared by the help of serve/ping/fetch and relay. */
const IMPAIR_HELP = `                       loss=3%,dup=1%,reorder=25%,delay=5ms,corrupt=0.1%,ce=1%,
                       rate=100mbit,queue=100,queuebytes=150000 (a bottleneck: a
                       drop-tail queue of packets/bytes served at the rate),
                       gel=P/R[/LB[/LG]] (bursty loss: good->bad P, bad->good R, loss
                       LB in bad (100%), LG in good (0%)), seed=N`;

const HELP: Record<string, string> = {
  nat: NAT_HELP,
  main: `netstack: a userspace TCP/IP stack on a Linux TUN device

Usage: netstack <command> [options]

Commands:
  serve   create a TUN device and serve ICMP, UDP/TCP echo, TCP discard and HTTP on it
  ping    ping a host on the kernel side from the stack
  fetch   HTTP GET a URL on the kernel side, with the stack as the client
  demo    in a private network namespace: the kernel's ping, UDP and TCP clients
          answered by the stack over IPv4 and IPv6, with a pcap capture (--tap: over
          TAP, with DHCP and a bridge to a second namespace)
  relay   join two network namespaces with a TUN device in each, through the
          impairment shaper in each direction (a path for two stacks to share)
  nat     give a network namespace network access through the stack (user-mode
          networking, as slirp4netns and pasta)
  tunnel  a WireGuard tunnel on a TUN device, from a wg-quick config (wg0.conf)
Options:
  --version            print the version and exit
  -h, --help           this help
Run 'netstack <command> --help' for its options. Usage errors exit 2, runtime
failures 1, each with one line on stderr.`,
  serve: `Usage: netstack serve [options]

Creates (or attaches to) a TUN device (a TAP with --tap: the stack is then a host
on its Ethernet segment) in the current network namespace, gives the
kernel side an address in each family (IPv4 and IPv6, unless --no-ipv6), and
serves from the stack's own addresses, over both families: ICMP echo, UDP
echo :7, TCP echo :7, TCP discard :9 and HTTP/1.1 :80 (node:http over our TCP):
GET / (a short text), GET /bytes/N (N bytes, byte i = i % 256), POST /sink
(answers {"bytes":N,"sha256":"..."}). Closed ports answer RST / ICMP port
unreachable. Prints a line containing 'ready' once serving; exits 0 on
SIGINT/SIGTERM after removing the device. SIGUSR2 prints the counters now, as a
'stats {...}' line (the --stats format), and keeps serving.

Options:
${DEVICE_HELP}
  --addr6 ADDR         the stack's IPv6 address, inside --kernel-addr6's prefix: the
                       same services over IPv6 (ICMPv6 echo, UDP, TCP) (default fd07::2)
  --kernel-addr6 CIDR  the kernel side's IPv6 address and prefix (default fd07::1/64).
                       Where the namespace has IPv6 off, the stack serves IPv4 only and
                       says so in one line on stderr
  --no-ipv6            serve IPv4 only (default off: both families)
  --no-ipv4            serve IPv6 only: the stack and the kernel side have IPv6
                       addresses only, IPv4 from the stack is ENETUNREACH (default
                       off: both families)
  --tap                a TAP device instead of the TUN: the stack is a host on an
                       Ethernet segment with its own MAC, answers ARP and neighbour
                       solicitations, and resolves the kernel side's MAC itself;
                       --pcap then records Ethernet frames (LINKTYPE_ETHERNET, ARP
                       included); offloads as on a TUN (--no-offload: none)
                       (default off: TUN)
  --tap-name NAME      the TAP device's name (default tap0; --tun is for TUN)
  --mac MAC            the stack's MAC on the TAP, e.g. 02:00:00:00:00:02 (default:
                       random, locally administered)
  --dhcp               with --tap: the stack's IPv4 address, prefix, router, DNS
                       servers and MTU come from a DHCP server on the segment
                       (instead of --addr); 'ready' is printed once the lease is
                       bound (after its ARP probe) and names it; renewals and
                       losses are said on stderr; SIGINT/SIGTERM RELEASE the lease
                       (default off: the static --addr)
  --dhcp-timeout SEC   with --dhcp: give up (exit 1) when no lease is bound within
                       SEC seconds (default 60)
  --slaac              with --tap: the stack's IPv6 addresses come from router
                       advertisements on the segment (RFC 4862: a link-local
                       address from the MAC, one per advertised /64, the router as
                       default gateway, the RA's MTU and hop limit) instead of
                       --addr6; 'ready' names the link-local address, and each
                       change is said on stderr ('netstack: ipv6 ...')
                       (default off: the static --addr6)
  --stats              print the stack's counters as JSON on exit (tcp.connections:
                       the TCP table's size when the signal came) (default off)
  -h, --help           this help`,
  ping: `Usage: netstack ping [options] [HOST]

Pings HOST (default: the kernel side, 10.7.0.1) from the stack, through a TUN
device it creates in the current network namespace.

HOST is an IPv4 address, localhost (the stack's own loopback, 127.0.0.1), or a
name with --dns (its A record); or an IPv6 address (ICMPv6 echo, RFC 4443), or a
name with -6 and --dns (its AAAA record): then the stack has IPv6 too (--addr6,
default fd07::2; the kernel side --kernel-addr6, default fd07::1/64), and -6 with
no HOST pings the kernel side's IPv6 address (-6 localhost: ::1).

Options:
  -6, --ipv6           ping over IPv6 (HOST, if given, an IPv6 address or a name,
                       resolved to its AAAA record) (default: IPv6 when HOST is an
                       IPv6 address, else IPv4)
  --addr6 ADDR         the stack's IPv6 address (default fd07::2 when pinging IPv6)
  --kernel-addr6 CIDR  the kernel side's IPv6 address and prefix (default fd07::1/64)
  -c, --count N        number of echo requests, 1..1000000 (default 4)
  -s, --size SIZE      payload bytes, 0..65507 (IPv6: 0..65527) (default 56)
  -i, --interval SECONDS  interval (default 1)
  -W, --wait SECONDS   time to wait for each reply (default 1)
  --dns SERVER         resolve a HOST name with the stack's own resolver asking SERVER
                       (an IPv4 address[:port] or IPv6 [address]:port; repeat for
                       more; A records, AAAA with -6), or 'host' for the host's resolver (default: none,
                       addresses and localhost only)
  --stats              print the stack's counters on exit, as a 'stats {...}' line
                       on stdout (default off)
${DEVICE_HELP}
  -h, --help           this help`,
  fetch: `Usage: netstack fetch [options] URL

Fetches URL (http://HOST[:PORT]/path: an IPv4 address, an IPv6 address in
brackets as http://[fd07::1]:8080/, or a name with --dns) with node:http over
the stack's TCP, through a TUN device it creates in the current network
namespace. An IPv6 URL (or -6) gives the stack IPv6 too (--addr6, default fd07::2;
the kernel side --kernel-addr6, default fd07::1/64). The body goes to stdout (or
-o FILE); the status line, size, time and sha256 go to stderr.

Options:
  -6, --ipv6           fetch over IPv6: the URL's host an IPv6 address, or a name
                       resolved to its AAAA record (default: IPv6 when the URL's
                       host is an IPv6 address, else IPv4)
  --addr6 ADDR         the stack's IPv6 address (default fd07::2 when fetching over IPv6)
  --kernel-addr6 CIDR  the kernel side's IPv6 address and prefix (default fd07::1/64)
  -o, --output FILE    write the body to FILE (default stdout)
  -m, --max-time SECONDS  give up after this long (default 30)
  --wireguard FILE     no TUN device: the stack's link is a WireGuard session of
                       FILE (wg-quick format); its Address(es) are the stack's,
                       the outer UDP goes through a kernel socket; no root needed
                       (the device flags are then unused) (default: none)
  --dns SERVER         resolve the URL's name with the stack's own resolver asking
                       SERVER over the stack (an IPv4 address[:port] or IPv6
                       [address]:port; repeat for more; A records, AAAA with -6), or 'host' for the host's resolver
                       (default: none)
  --stats              print the stack's counters on exit, as a 'stats {...}' line
                       on stderr (default off): tcp.ActiveOpens shows the request
                       went through the stack
  --tap                a TAP device instead of the TUN: the stack is a host on an
                       Ethernet segment and resolves the kernel side's MAC itself
                       (ARP, neighbour solicitation); no offloads (default off: TUN)
  --tap-name NAME      the TAP device's name (default tap0; --tun is for TUN)
  --mac MAC            the stack's MAC on the TAP (default: random, locally
                       administered)
${DEVICE_HELP}
  -h, --help           this help`,
  relay: `Usage: netstack relay --a NETNS --b NETNS [options]

Opens a TUN device in each of two network namespaces (a name from 'ip netns add',
a PID, or a path), while this process stays in its own, and forwards every IP
packet (IPv4 and IPv6) read from one to the other, through the impairment shaper
in each direction: namespace A reaches B's addresses through the relay and back.
The devices have no offloads (plain packets up to the MTU). Prints a line
containing 'ready' once relaying; exits 0 on SIGINT/SIGTERM after removing both
devices. SIGUSR2 prints the counters now, as a 'stats {...}' line, and keeps going.

Options:
  --a NETNS            namespace of side A (default: none, required)
  --b NETNS            namespace of side B (default: none, required)
  --a-addr CIDR        A's device address; repeat for more, one IPv4 and IPv6 ones
                       (default 10.9.0.1/24 and fd09::1/64)
  --b-addr CIDR        B's device address, the same way (default 10.9.0.2/24 and
                       fd09::2/64)
  --a-name NAME        A's device name (default relay0)
  --b-name NAME        B's device name (default relay0)
  --mtu N              both devices' MTU, 68..65535 (default 1500)
  --txqueuelen N       raise both devices' txqueuelen to N packets, 1..65536: what the
                       kernel queues for the relay to read before it drops (such drops
                       are not the shaper's; 'ip -s link' shows them as TX dropped)
                       (default the kernel's, 500)
  --impair SPEC        impair both directions alike, each with its own shaper
                       (B->A seeded seed+1), or up:SPEC;down:SPEC (up: A->B,
                       down: B->A); SPEC as
${IMPAIR_HELP}
                       (default none)
  --impair-ab SPEC     impair A->B only (instead of --impair) (default none)
  --impair-ba SPEC     impair B->A only (instead of --impair) (default none)
  --stats              print the counters on exit, as a 'stats {...}' line: per
                       direction ab and ba, packets read, forwarded, refused, and
                       what the shaper did (Lost, BurstLost, QueueDropped, ...)
                       (default off)
  -h, --help           this help`,
  tunnel: `Usage: netstack tunnel --config FILE [options]

A WireGuard tunnel (interoperates with wireguard-go and the kernel's wireguard):
reads FILE in wg-quick's format ([Interface] PrivateKey, Address, ListenPort,
MTU; [Peer] PublicKey, PresharedKey, AllowedIPs, Endpoint, PersistentKeepalive),
creates a TUN device with the interface's addresses and on-link routes for the
peers' allowed IPs, encrypts each packet the kernel routes into it to the right
peer, and sends it in a UDP datagram through the kernel's own stack; datagrams
from the peers are decrypted and their packets written to the device. Prints a
line containing 'ready' once the device is up (before any handshake). SIGUSR1
prints a 'wg show'-like status, SIGUSR2 the counters as a 'stats {...}' line;
exits 0 on SIGINT/SIGTERM after removing the device. An allowed IP of /0 takes
everything but the tunnel's own UDP: its two halves (0.0.0.0/1 and 128.0.0.0/1,
::/1 and 8000::/1) are routed to the device, and each peer endpoint gets a host
route through its present path ('ip route get'), removed at exit.

Options:
  --config FILE        the wg-quick configuration (default: none, required)
  --tun NAME           device name (default FILE's name without .conf, as
                       wg-quick, when it is a valid interface name; else wg0)
  --listen-port N      UDP port, 0..65535, instead of the config's ListenPort
                       (default the config's, else 0: any)
  --offload            negotiate TUN offloads: the kernel hands over TCP
                       super-segments up to 64 KB, cut into MTU-sized segments
                       before encryption (as wireguard-go), and takes received
                       segments of a flow coalesced (GRO-style) (default on)
  --no-offload         a plain TUN device: one packet per read and per write
                       (default off)
  --stats              print the status and the counters on exit, as a
                       'stats {...}' line (default off)
  -h, --help           this help`,
  demo: `Usage: netstack demo [options]

Makes a private network namespace (unshare -n as root, unshare -rn otherwise),
runs 'netstack serve' inside it, then against the stack: the kernel's own ping
(56, 1472 and 4000 bytes), a kernel-side UDP echo client, curl (GET /, a 20 MB
download, a 10 MB POST checked by sha256), nc to TCP echo and a closed port;
the same over IPv6 (fd07::1 -> fd07::2), each proved by the stack's own
counters: ping -6 (56, 1452 and 4000 bytes), a kernel-side udp6 echo client
(1, 1452, 8000 bytes), a closed UDP port (ICMPv6 port unreachable: ECONNREFUSED),
curl -g of a 10 MB download and a 10 MB POST checked by sha256, nc -6 to TCP
echo, a closed TCP port (RST); then 'netstack fetch' from a kernel-side node:http
server over IPv4 and over IPv6 (http://[fd07:1::1]:8080/, on a second device),
the server seeing the stack's address. Prints what happened and the stack's
counters, checks the capture with tshark (checksum validation on: no bad
checksum, nothing malformed, IPv6 packets in it) when it is installed, keeps
the capture, and removes everything. Where the namespace has IPv6 off, the IPv6
checks are skipped, and said so.

With --tap, the same over TAP devices: the stack is a host on tap0's Ethernet
segment (the kernel ARPs for 10.7.0.2 and the stack answers with its MAC,
02:00:00:00:07:02), its IPv4 address leased by DHCP from dnsmasq on the segment
(a static 10.7.0.2 where dnsmasq is not installed, said so); 'fetch' runs over a
TAP too. Then tap0 joins a Linux bridge br0 with a veth to a second private
namespace, whose client 10.7.0.3 reaches the stack across layer 2 (ping, ping -6,
curl of 10 MB checked by sha256): the stack learns that client by ARP and
resolves 10.7.0.4 itself (its counters shown). The capture is Ethernet
(LINKTYPE_ETHERNET): tshark must find ARP, DHCP (when leased) and IP in it.

Options:
  --pcap FILE          where to keep the capture of 'serve' (default netstack-demo.pcap, here;
                       the stacks of 'fetch' record to FILE without .pcap + -fetch.pcap
                       and -fetch6.pcap)
  --tap                the demo over TAP devices, with DHCP and a bridge to a second
                       namespace (above) (default off: TUN)
  --inside             internal: run the checks in the current namespace, as the
                       demo's own child does inside the namespace it made (default off)
  -h, --help           this help`,
};

const deviceOptions = {
  tun: { type: 'string', default: 'tun0' },
  'kernel-addr': { type: 'string', default: '10.7.0.1/24' },
  addr: { type: 'string', default: '10.7.0.2' },
  mtu: { type: 'string', default: '1500' },
  pcap: { type: 'string' },
  'pcap-max-bytes': { type: 'string' },
  impair: { type: 'string' },
  ecn: { type: 'string', default: 'passive' },
  cc: { type: 'string' },
  pacing: { type: 'string' },
  'no-offload': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const serveOptions = {
  ...deviceOptions, stats: { type: 'boolean' }, addr6: { type: 'string' }, 'kernel-addr6': { type: 'string' },
  'no-ipv6': { type: 'boolean' }, 'no-ipv4': { type: 'boolean' },
  // Repeatable, and their defaults applied by serveFamilies (so --no-ipv4 can tell what was typed).
  addr: { type: 'string', multiple: true }, 'kernel-addr': { type: 'string' },
  tap: { type: 'boolean' }, 'tap-name': { type: 'string' }, mac: { type: 'string' },
  dhcp: { type: 'boolean' }, 'dhcp-timeout': { type: 'string' }, slaac: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];
/** --dns (ping, fetch): servers for the stack's resolver, or 'host'. */
const dnsOption = { dns: { type: 'string', multiple: true } } as const satisfies ParseArgsConfig['options'];

const pingOptions = {
  ...deviceOptions,
  ...dnsOption,
  ipv6: { type: 'boolean', short: '6' },
  addr6: { type: 'string' },
  'kernel-addr6': { type: 'string' },
  stats: { type: 'boolean' },
  count: { type: 'string', short: 'c', default: '4' },
  size: { type: 'string', short: 's', default: '56' },
  interval: { type: 'string', short: 'i', default: '1' },
  wait: { type: 'string', short: 'W', default: '1' },
} as const satisfies ParseArgsConfig['options'];
const fetchOptions = {
  ...deviceOptions,
  ...dnsOption,
  ipv6: { type: 'boolean', short: '6' },
  addr6: { type: 'string' },
  'kernel-addr6': { type: 'string' },
  stats: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  'max-time': { type: 'string', short: 'm', default: '30' },
  wireguard: { type: 'string' },
  tap: { type: 'boolean' }, 'tap-name': { type: 'string' }, mac: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];
const demoOptions = {
  pcap: { type: 'string', default: 'netstack-demo.pcap' },
  tap: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  inside: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

const relayOptions = {
  a: { type: 'string' },
  b: { type: 'string' },
  'a-addr': { type: 'string', multiple: true },
  'b-addr': { type: 'string', multiple: true },
  'a-name': { type: 'string', default: 'relay0' },
  'b-name': { type: 'string', default: 'relay0' },
  mtu: { type: 'string', default: '1500' },
  txqueuelen: { type: 'string' },
  impair: { type: 'string' },
  'impair-ab': { type: 'string' },
  'impair-ba': { type: 'string' },
  stats: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

const tunnelOptions = {
  config: { type: 'string' },
  tun: { type: 'string' },
  'listen-port': { type: 'string' },
  offload: { type: 'boolean' },
  'no-offload': { type: 'boolean' },
  stats: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

/** Every command's flags, as parsed (the help test checks each is documented). */
export const commandOptions: Readonly<Record<string, NonNullable<ParseArgsConfig['options']>>> = {
  serve: serveOptions, ping: pingOptions, fetch: fetchOptions, demo: demoOptions, relay: relayOptions, tunnel: tunnelOptions, nat: natOptions,
};

/** A mistake in the command line: one line on stderr, exit status 2. */
class UsageError extends Error {}

function parse<T extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: T, positionals = false) {
  try {
    return parseArgs({ args, options, allowPositionals: positionals, strict: true });
  } catch (err) {
    // node:util's messages name the flag but run on with advice about '--'; keep one line.
    const e = err as Error & { code?: string };
    const unknown = e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'([^']+)'/.exec(e.message) : null;
    throw new UsageError(unknown ? `unknown option '${unknown[1]}'` : e.message.split('\n')[0]!);
  }
}

/** `flag` as the user types it: '--mtu', '-c'. */
function intOption(flag: string, text: string | undefined, min: number, max: number): number {
  const n = Number(text);
  if (text === undefined || !/^\s*-?\d+\s*$/.test(text) || !Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${flag} must be an integer in ${min}..${max}, got '${text}'`);
  return n;
}

function numOption(flag: string, text: string | undefined, min: number, max: number): number {
  const n = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new UsageError(`${flag} must be a number in ${min}..${max}, got '${text}'`);
  return n;
}

/**
 * createStack's options as the CLI's flags: an argument error from createStack (its
 * `option` property when it has one, else the option named in its message) is reported
 * as a usage error naming the flag the user typed.
 */
const FLAG_OF_OPTION: ReadonlyArray<[option: string, flag: string]> = [
  ['tun.kernelAddress', '--kernel-addr'],
  ['tun.name', '--tun'],
  ['tun.mtu', '--mtu'],
  ['tun.offload', '--no-offload'],
  ['tap.kernelAddress', '--kernel-addr'],
  ['tap.name', '--tap-name'],
  ['tap.mtu', '--mtu'],
  ['tap.mac', '--mac'],
  ['tcpOptions.congestionControl', '--cc'],
  ['tcpOptions.ecn', '--ecn'],
  ['gateway', '--addr'],
  ['prefixLength', '--kernel-addr'],
  ['address', '--addr'],
  ['impair', '--impair'],
  ['pcap', '--pcap'],
];

/** The createStack option an error is about, from its `option` property or its message. */
function optionOf(err: Error & { option?: unknown }): string | undefined {
  if (typeof err.option === 'string') {
    const option = err.option.replace(/^options\./, '');
    if (FLAG_OF_OPTION.some(([o]) => o === option)) return option;
  }
  for (const [option] of FLAG_OF_OPTION) if (err.message.includes(`options.${option}`)) return option;
  // parseImpairSpec's messages speak of 'impairment'.
  if (/\bimpair/.test(err.message)) return 'impair';
  return undefined;
}

/** A createStack failure said in terms of the flags given (a usage error when it is an argument error). */
function stackError(err: unknown, v: DeviceValues): Error {
  if (!(err instanceof Error)) return new Error(String(err));
  const e = err as Error & { code?: string; option?: unknown };
  const option = optionOf(e);
  const argument = typeof e.code === 'string' && /^ERR_(INVALID_ARG|OUT_OF_RANGE)/.test(e.code);
  if (option === undefined || !argument) return e;
  // The CLI gives no gateway: the kernel side is the gateway, so the stack's address is off its subnet.
  if (option === 'gateway') return new UsageError(`--addr ${v.addr} is not inside --kernel-addr ${v['kernel-addr']} (the kernel side is the stack's gateway)`);
  // An IPv6 address or prefix (createStack says "IPv6" of those): the flags of serve's dual stack.
  if (v.addr6 !== undefined && (option === 'address' || option === 'tun.kernelAddress' || option === 'tap.kernelAddress') && /IPv6|::/.test(e.message)) {
    const flag6 = option === 'address' ? '--addr6' : '--kernel-addr6';
    const value6 = option === 'address' ? v.addr6 : (v['kernel-addr6'] ?? 'fd07::1/64');
    const node6 = /^The (?:property|argument) '[^']*' (.*?)\.? Received .*$/s.exec(e.message);
    if (node6) return new UsageError(`${flag6} ${node6[1]}, got '${value6}'`);
    return new UsageError(`${flag6} ${value6}: ${e.message.replace(/^options\.\S+ /, '')}`);
  }
  const flag = FLAG_OF_OPTION.find(([o]) => o === option)![1];
  const given: Record<string, string | undefined> = {
    '--addr': v.addr, '--kernel-addr': v['kernel-addr'], '--tun': v.tun, '--mtu': v.mtu, '--impair': v.impair, '--pcap': v.pcap, '--ecn': v.ecn, '--cc': v.cc,
    '--tap-name': v['tap-name'], '--mac': v.mac,
  };
  const value = given[flag];
  // Node's style, "The property 'options.x' must be ... Received ...", said of the flag.
  const nodeStyle = /^The (?:property|argument) '[^']*' (.*?)\.? Received (.*)$/s.exec(e.message);
  if (nodeStyle) return new UsageError(`${flag} ${nodeStyle[1]}, got ${nodeStyle[2]}`);
  if (!e.message.includes(`options.${option}`)) return new UsageError(`${flag}${value === undefined ? '' : ` '${value}'`}: ${e.message}`);
  // Every option the message names, said as its flag (the table is ordered longest first).
  let text = e.message;
  for (const [o, f] of FLAG_OF_OPTION) text = text.split(`options.${o}`).join(f);
  return new UsageError(text);
}

type DeviceValues = {
  tun: string; 'kernel-addr': string; addr: string; mtu: string; pcap?: string | undefined; 'pcap-max-bytes'?: string | undefined;
  impair?: string | undefined;
  'no-offload'?: boolean | undefined; ecn?: string | undefined; cc?: string | undefined; pacing?: string | undefined;
  dns?: string[] | undefined;
  /** serve only: the stack's IPv4 addresses after `addr` (--addr repeated). */
  moreAddr?: string[] | undefined;
  /** serve only: no IPv4 at all (--no-ipv4; `addr` and `kernel-addr` are then unused). */
  noIpv4?: boolean | undefined;
  /** serve only: the stack's IPv6 address and the kernel side's IPv6 prefix. */
  addr6?: string | undefined;
  'kernel-addr6'?: string | undefined;
  /** serve only: a TAP device (--tap), its name and the stack's MAC. */
  tap?: boolean | undefined;
  'tap-name'?: string | undefined;
  mac?: string | undefined;
  /** serve only: the IPv4 address by DHCP (--dhcp, with --tap). */
  dhcp?: boolean | undefined;
  /** serve only: the IPv6 addresses by SLAAC (--slaac, with --tap). */
  slaac?: boolean | undefined;
};

function dnsServers(values: string[]): string[] | 'host' {
  if (values.length === 1 && values[0] === 'host') return 'host';
  values.forEach((v, i) => {
    try {
      checkDnsOption([v]);
    } catch {
      throw new UsageError(`--dns must be an IPv4 address[:port], an IPv6 address ([addr]:port) or 'host', got '${values[i]}'`);
    }
  });
  return values;
}

/** Default of --pcap-max-bytes: the capture stops growing at 1 GiB (stack.capture's default). */
const PCAP_MAX_BYTES = 2 ** 30;

async function stackFromOptions(v: DeviceValues): Promise<Stack> {
  const maxBytes = v['pcap-max-bytes'] === undefined ? PCAP_MAX_BYTES : intOption('--pcap-max-bytes', v['pcap-max-bytes'], 24, Number.MAX_SAFE_INTEGER);
  if (v['pcap-max-bytes'] !== undefined && v.pcap === undefined) throw new UsageError('--pcap-max-bytes needs --pcap FILE');
  const mtu = intOption('--mtu', v.mtu, 68, 65535);
  const tcpOptions = {
    ecn: ecnOption(v.ecn), ...(v.cc !== undefined ? { congestionControl: ccOption(v.cc) } : {}),
    ...(v.pacing !== undefined ? { pacing: pacingOption(v.pacing) } : {}),
  };
  if (v.dhcp === true && v.tap !== true) throw new UsageError('--dhcp needs --tap (DHCP runs on an Ethernet segment)');
  if (v.slaac === true && v.tap !== true) throw new UsageError('--slaac needs --tap (router advertisements come on an Ethernet segment)');
  const addrs4 = v.noIpv4 === true || v.dhcp === true ? [] : [v.addr, ...(v.moreAddr ?? [])];
  for (const a of addrs4) if (!isIPv4(a)) throw new UsageError(`--addr must be an IPv4 address, got '${a}'`);
  if (v['kernel-addr6'] !== undefined && v.addr6 === undefined && v.slaac !== true) throw new UsageError('--kernel-addr6 needs --addr6 ADDR');
  if (v.addr6 !== undefined && isIP(v.addr6) !== 6) throw new UsageError(`--addr6 must be an IPv6 address, got '${v.addr6}'`);
  const kernel6 = v.addr6 === undefined && v.slaac !== true ? undefined : v['kernel-addr6'] ?? 'fd07::1/64';
  // The stack's IPv6: the static --addr6, or 'slaac' (addresses from router advertisements).
  const own6 = v.slaac === true ? ['slaac'] : v.addr6 !== undefined ? [v.addr6] : [];
  const dns = v.dns !== undefined ? dnsServers(v.dns) : undefined;
  if (v.tap !== true && (v['tap-name'] !== undefined || v.mac !== undefined)) throw new UsageError(`${v.mac !== undefined ? '--mac' : '--tap-name'} needs --tap`);
  const kernelAddress = kernel6 === undefined ? v['kernel-addr'] : v.noIpv4 === true ? [kernel6] : [v['kernel-addr'], kernel6];
  let stack: Stack;
  try {
    stack = await createStack({
      ...(v.tap === true
        ? { tap: { name: v['tap-name'] ?? 'tap0', kernelAddress, mtu, ...(v.mac !== undefined ? { mac: v.mac } : {}), ...(v['no-offload'] === true ? { offload: false } : {}) } }
        : { tun: { name: v.tun, kernelAddress, mtu, ...(v['no-offload'] === true ? { offload: false } : {}) } }),
      address: v.dhcp === true ? ['dhcp', ...own6]
        : own6.length === 0 && addrs4.length === 1 ? v.addr : [...addrs4, ...own6],
      ...(v.impair !== undefined ? { impair: v.impair } : {}),
      tcpOptions,
      ...(dns !== undefined ? { dns } : {}),
      // Started by createStack itself, so the packets it sends (a DHCP DISCOVER, ARP probes) are in it.
      ...(v.pcap !== undefined ? { pcap: { path: v.pcap, maxBytes } } : {}),
    });
  } catch (err) {
    const e = err as Error & { code?: string; option?: unknown };
    if (v.pcap !== undefined && e.option === 'pcap' && !/^ERR_/.test(e.code ?? '')) {
      throw Object.assign(new Error(`--pcap ${v.pcap}: cannot write the capture (${e.code ?? e.message})`), e.code !== undefined ? { code: e.code } : {});
    }
    throw stackError(err, v);
  }
  if (stack.pcapCapture !== undefined) captures.set(stack, stack.pcapCapture);
  return stack;
}

/** The --pcap capture of a stack made by stackFromOptions. */
const captures = new WeakMap<Stack, Capture>();

/** Closes the stack (and its capture); says on stderr when the capture is incomplete. */
async function closeStack(stack: Stack): Promise<void> {
  await stack.close();
  const c = captures.get(stack);
  if (c === undefined) return;
  if (c.error !== undefined) {
    const e = c.error as Error & { code?: string };
    process.stderr.write(`netstack: capture ${c.path} stopped by an error (${e.code ?? e.message}) after ${c.packets} packets; ${c.notWritten} not written\n`);
  } else if (c.limitReached) {
    process.stderr.write(`netstack: capture ${c.path} reached --pcap-max-bytes (${c.maxBytes}): ${c.packets} packets written, ${c.notWritten} not written\n`);
  }
}

/** Counters of the --pcap capture, for --stats. */
function captureStats(stack: Stack): Record<string, number> | undefined {
  const c = captures.get(stack);
  return c === undefined ? undefined : { Packets: c.packets, Bytes: c.bytes, NotWritten: c.notWritten, MaxBytes: c.maxBytes };
}

function ecnOption(text: string | undefined): boolean | 'passive' {
  if (text === undefined || text === 'passive') return 'passive';
  if (text === 'on') return true;
  if (text === 'off') return false;
  throw new UsageError(`--ecn must be on, passive or off, got '${text}'`);
}

function pacingOption(text: string): boolean {
  if (text === 'on') return true;
  if (text === 'off') return false;
  throw new UsageError(`--pacing must be on or off, got '${text}'`);
}

function ccOption(text: string): 'cubic' | 'newreno' {
  if (text === 'cubic' || text === 'newreno') return text;
  throw new UsageError(`--cc must be cubic or newreno, got '${text}'`);
}

/**
 * serve's families: both by default (the stack fd07::2, the kernel side fd07::1/64, beside
 * IPv4), IPv4 only with --no-ipv6. The IPv6 defaults are applied here, not by parseArgs,
 * so that --no-ipv6 beside an IPv6 flag the user typed is a usage error.
 */
function serveFamilies(
  values: Omit<DeviceValues, 'addr' | 'kernel-addr'> & {
    addr?: string[] | undefined; 'kernel-addr'?: string | undefined; 'no-ipv6'?: boolean | undefined; 'no-ipv4'?: boolean | undefined;
    'dhcp-timeout'?: string | undefined;
  },
): DeviceValues {
  const { addr, 'kernel-addr': kernelAddr, ...rest } = values;
  if (values.dhcp === true) {
    const typed = values['no-ipv4'] === true ? '--no-ipv4' : addr !== undefined ? '--addr' : undefined;
    if (typed !== undefined) throw new UsageError(`--dhcp contradicts ${typed} (the lease gives the IPv4 address)`);
  } else if (values['dhcp-timeout'] !== undefined) {
    throw new UsageError('--dhcp-timeout needs --dhcp');
  }
  if (values.slaac === true) {
    // The router advertisements give the stack's IPv6 addresses; the kernel side keeps --kernel-addr6.
    const typed = values['no-ipv6'] === true ? '--no-ipv6' : values.addr6 !== undefined ? '--addr6' : undefined;
    if (typed !== undefined) throw new UsageError(`--slaac contradicts ${typed} (router advertisements give the IPv6 addresses)`);
    if (values.tap !== true) throw new UsageError('--slaac needs --tap (router advertisements come on an Ethernet segment)');
    const { addr6: _none, ...noAddr6 } = serveFamilies({ ...values, slaac: false });
    return { ...noAddr6, slaac: true };
  }
  if (values['no-ipv4'] === true) {
    // IPv6 only: the kernel side too (its IPv4 address would be of no use to the stack).
    const typed = values['no-ipv6'] === true ? '--no-ipv6' : addr !== undefined ? '--addr' : kernelAddr !== undefined ? '--kernel-addr' : undefined;
    if (typed !== undefined) throw new UsageError(`--no-ipv4 contradicts ${typed}`);
    return { ...rest, addr: '', 'kernel-addr': '', noIpv4: true, addr6: values.addr6 ?? 'fd07::2', 'kernel-addr6': values['kernel-addr6'] ?? 'fd07::1/64' };
  }
  const v: DeviceValues = { ...rest, addr: addr?.[0] ?? '10.7.0.2', moreAddr: addr?.slice(1) ?? [], 'kernel-addr': kernelAddr ?? '10.7.0.1/24' };
  if (values['no-ipv6'] === true) {
    const typed = v.addr6 !== undefined ? '--addr6' : v['kernel-addr6'] !== undefined ? '--kernel-addr6' : undefined;
    if (typed !== undefined) throw new UsageError(`--no-ipv6 contradicts ${typed}`);
    return v;
  }
  return { ...v, addr6: v.addr6 ?? 'fd07::2', 'kernel-addr6': v['kernel-addr6'] ?? 'fd07::1/64' };
}

async function serve(args: string[]): Promise<number> {
  const { values } = parse(args, serveOptions);
  if (values.help) return help('serve');
  // Watched from the start, so a signal during set-up still ends in a clean close;
  // given back if set-up fails, or the failure would swallow the user's first Ctrl-C.
  const signals = untilSignal();
  let stack: Stack;
  let services: Awaited<ReturnType<typeof startServices>>;
  const dhcpTimeout = values['dhcp-timeout'] === undefined ? 60 : numOption('--dhcp-timeout', values['dhcp-timeout'], 0.001, 86400);
  try {
    stack = await stackFromOptions(serveFamilies(values));
    try {
      services = await startServices(stack);
    } catch (err) {
      await closeStack(stack);
      throw err;
    }
  } catch (err) {
    signals.cancel();
    throw err;
  }
  const stopped = signals.signal;
  if (values.dhcp === true) {
    // DHCP: said on stderr as it goes; 'ready' waits for the first lease (bounded), a signal meanwhile ends it cleanly.
    stack.on('lease', (l) => {
      if (l.type !== 'acquired') process.stderr.write(`netstack: dhcp lease ${l.type}: ${describeLease(l)}\n`);
    });
    stack.on('leaseLost', (l) => { process.stderr.write(`netstack: dhcp lease lost: ${l.address} (${l.reason})\n`); });
    process.stderr.write(`netstack: waiting for a DHCP lease on ${stack.linkInfo().name} (mac ${stack.linkInfo().mac ?? '?'})\n`);
    const got = await Promise.race([
      stack.whenAddress({ timeout: dhcpTimeout * 1000 }).then(() => 'bound' as const, (e: Error) => e),
      stopped.then(() => 'signal' as const),
    ]);
    if (got !== 'bound') {
      await services.close();
      await closeStack(stack);
      if (got === 'signal') return 0;
      throw Object.assign(new Error(`no DHCP lease within ${dhcpTimeout} s on ${stack.linkInfo().name}`), { code: 'ETIMEDOUT' });
    }
  }
  const link = stack.linkInfo();
  const offload = link.offload === undefined ? 'off' : `csum=${link.offload.csum} tso4=${link.offload.tso4} tso6=${link.offload.tso6 === true} uso4=${link.offload.uso4 === true} uso6=${link.offload.uso6 === true}`;
  // SIGUSR2: the counters of the running stack (SIGUSR1 is Node's inspector signal).
  const printStats = (): void => {
    const now = stack.stats();
    now.tcp = { ...now.tcp, connections: stack.tcpLayer.connectionCount };
    process.stdout.write(`stats ${JSON.stringify(now)}\n`);
  };
  process.on('SIGUSR2', printStats);
  // TAP: another station claims the stack's address (RFC 5227): said on stderr, serving goes on.
  stack.on('addressConflict', (c) => {
    process.stderr.write(`netstack: address conflict: ${c.address} is claimed by ${c.mac} (${c.phase === 'probe' ? 'while probing: not taken' : c.defended ? 'defended, kept' : 'kept'})\n`);
  });
  // SLAAC: each change of the IPv6 addresses or router, said on stderr as it comes.
  if (values.slaac === true) {
    stack.on('address6', (c) => {
      process.stderr.write(`netstack: ipv6 ${c.addresses.join(' ')}${c.gateway !== undefined ? ` router ${c.gateway}` : ''}\n`);
    });
  }
  // IPv6 (the default) where the namespace has it off: IPv4 only, said in one line (not an error).
  if (stack.ipv6Disabled !== undefined) process.stderr.write(`netstack: serving IPv4 only: ${stack.ipv6Disabled}\n`);
  const kernel = [link.kernelAddress, ...link.kernelAddress6].filter((a) => a !== '').join(' ');
  const own = [...stack.addresses4, ...stack.addresses6].join(' ');
  // On a TAP: the MACs of both ends (the kernel side's is the device's own).
  const macs = link.type === 'tap' ? `, mac ${link.mac ?? '?'} (kernel side ${link.kernelMac ?? '?'})` : '';
  const lease = stack.lease;
  const dhcp = lease === undefined ? '' : `, dhcp lease ${describeLease(lease)}`;
  process.stdout.write(`netstack ready on ${link.name}: kernel ${kernel}, stack ${own}${macs}, mtu ${link.mtu}, offload ${offload}${dhcp}; serving ${services.describe()}\n`);
  await stopped;
  process.off('SIGUSR2', printStats);
  // A gauge beside the counters: the TCP table (every state but LISTEN) when the signal came.
  const connections = stack.tcpLayer.connectionCount;
  await services.close();
  const stats = stack.stats();
  stats.tcp = { ...stats.tcp, connections };
  stats.services = { ...services.stats() };
  await closeStack(stack);
  const pcap = captureStats(stack);
  if (pcap !== undefined) stats.pcap = pcap;
  if (values.stats) process.stdout.write(`stats ${JSON.stringify(stats)}\n`);
  return 0;
}

/** One line for a DHCP lease: '10.7.0.50/24 router 10.7.0.1 dns 10.7.0.1 mtu 1400 from 10.7.0.1 until <ISO>'. */
function describeLease(l: StackLease): string {
  const parts = [`${l.address}/${l.prefixLength}`, `router ${l.gateway ?? 'none'}`, `dns ${l.dns.length > 0 ? l.dns.join(',') : 'none'}`];
  if (l.mtu !== undefined) parts.push(`mtu ${l.mtu}`);
  parts.push(`from ${l.server}`, l.expires === null ? 'forever' : `until ${l.expires.toISOString()}`);
  return parts.join(' ');
}

async function ping(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, pingOptions, true);
  if (values.help) return help('ping');
  if (positionals.length > 1) throw new UsageError(`ping takes one HOST, got ${positionals.length}`);
  // IPv6 (RFC 4443 echo) when asked (-6, --addr6) or when HOST is an IPv6 literal: the stack gets
  // an IPv6 address as serve's --addr6 gives it one (default fd07::2, kernel side fd07::1/64).
  // A name with -6 is resolved to its AAAA records, without to its A records (--dns).
  const v6 = values.ipv6 === true || values.addr6 !== undefined || (positionals[0] !== undefined && isIP(positionals[0]) === 6);
  if (v6 && positionals[0] !== undefined && isIP(positionals[0]) === 4) {
    throw new UsageError(`with -6 or --addr6, HOST must be an IPv6 address or a name, got '${positionals[0]}'`);
  }
  const kernel6 = values['kernel-addr6'] ?? 'fd07::1/64';
  const device: DeviceValues = v6 ? { ...values, addr6: values.addr6 ?? 'fd07::2', 'kernel-addr6': kernel6 } : values;
  let host = positionals[0] ?? (v6 ? kernel6.split('/')[0]! : values['kernel-addr'].split('/')[0]!);
  const count = intOption('-c', values.count, 1, 1_000_000);
  const size = intOption('-s', values.size, 0, v6 ? 65527 : 65507);
  const intervalMs = numOption('-i', values.interval, 0, 3600) * 1000;
  const timeout = numOption('-W', values.wait, 0.001, 3600) * 1000;
  // A name needs a resolver (--dns); 'localhost' is the stack's own loopback, 127.0.0.1 (::1 with -6).
  if (host === 'localhost') host = v6 ? '::1' : '127.0.0.1';
  if (isIP(host) === 0 && values.dns === undefined) {
    throw new UsageError(`HOST must be an IPv4 or IPv6 address (or a name, with --dns), got '${host}'`);
  }
  if (v6 && isIP(kernel6.split('/')[0]!) !== 6) throw new UsageError(`--kernel-addr6 must be an IPv6 CIDR, got '${kernel6}'`);
  const stack = await stackFromOptions(device);
  if (v6 && stack.ip6 === undefined) {
    // As ping -6 where no interface has IPv6: "connect: Network is unreachable".
    await closeStack(stack);
    throw Object.assign(new Error(`cannot ping ${host}: ${stack.ipv6Disabled ?? 'the stack has no IPv6 address'}`), { code: 'ENETUNREACH' });
  }
  const abort = new AbortController();
  const signals = untilSignal();
  void signals.signal.then(() => abort.abort());
  let received = 0;
  let sent = 0;
  const rtts: number[] = [];
  let name = host;
  if (isIP(name) === 0) {
    // A name: resolved by the stack (--dns), as ping resolves before its first echo: AAAA with -6, else A.
    try {
      host = (await stack.dns.promises.lookup(name, { family: v6 ? 6 : 4 }) as { address: string }).address;
    } catch (err) {
      signals.cancel();
      await closeStack(stack);
      throw err;
    }
    name = `${name} (${host})`;
  }
  process.stdout.write(`PING ${name} from ${v6 ? stack.addresses6[0]! : stack.address}: ${size} data bytes\n`);
  try {
    for (let i = 0; i < count && !abort.signal.aborted; i++) {
      const started = performance.now();
      sent++;
      try {
        const r = await stack.ping(host, { size, timeout, signal: abort.signal });
        received++;
        rtts.push(r.rttMs);
        process.stdout.write(`${r.bytes} bytes from ${host}: icmp_seq=${r.seq} ttl=${r.ttl} time=${r.rttMs.toFixed(3)} ms\n`);
      } catch (err) {
        if (abort.signal.aborted) break;
        process.stdout.write(`no reply from ${host}: icmp_seq=${i + 1} (${(err as Error & { code?: string }).code ?? (err as Error).message})\n`);
      }
      const left = intervalMs - (performance.now() - started);
      if (i + 1 < count && left > 0 && !abort.signal.aborted) await delay(left, abort.signal);
    }
  } finally {
    signals.cancel();
    await closeStack(stack);
    if (values.stats) process.stdout.write(`stats ${JSON.stringify(stack.stats())}\n`);
  }
  const loss = sent === 0 ? 0 : Math.round((100 * (sent - received)) / sent);
  process.stdout.write(`--- ${host} ping statistics ---\n${sent} packets transmitted, ${received} received, ${loss}% packet loss\n`);
  if (rtts.length) {
    const avg = rtts.reduce((a, b) => a + b, 0) / rtts.length;
    process.stdout.write(`rtt min/avg/max = ${Math.min(...rtts).toFixed(3)}/${avg.toFixed(3)}/${Math.max(...rtts).toFixed(3)} ms\n`);
  }
  return received > 0 ? 0 : 1;
}

/**
 * fetch --wireguard FILE: a stack whose link is the WireGuard session of a wg-quick config
 * (createStack({ wireguard })), with the config's Address(es) as its own; no device.
 */
async function wireGuardStack(file: string, dns: string[] | undefined): Promise<Stack> {
  let text: string;
  let config: WgConfig;
  try {
    text = readFileSync(file, 'utf8');
    config = parseWgConfig(text);
  } catch (err) {
    if (err instanceof WgConfigError) throw new UsageError(`--wireguard ${file}: ${err.message}`);
    throw err;
  }
  if (config.addresses.length === 0) throw new UsageError(`--wireguard ${file}: [Interface] has no Address (the stack's own)`);
  const v4 = config.addresses.filter((a) => isIPv4(a.split('/')[0]!));
  const v6 = config.addresses.filter((a) => !isIPv4(a.split('/')[0]!));
  const servers = dns !== undefined ? dnsServers(dns) : undefined;
  return createStack({
    wireguard: { config: text },
    address: config.addresses.map((a) => a.split('/')[0]!),
    ...(v4[0] !== undefined ? { prefixLength: Number(v4[0].split('/')[1]) } : {}),
    ...(v6[0] !== undefined ? { prefixLength6: Number(v6[0].split('/')[1]) } : {}),
    ...(servers !== undefined ? { dns: servers } : {}),
  });
}

async function fetchCmd(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, fetchOptions, true);
  if (values.help) return help('fetch');
  if (positionals.length !== 1) throw new UsageError(`fetch takes one URL, got ${positionals.length}`);
  let url: URL;
  try {
    url = new URL(positionals[0]!);
  } catch {
    throw new UsageError(`not a URL: '${positionals[0]}'`);
  }
  if (url.protocol !== 'http:') throw new UsageError(`only http:// URLs, got '${url.protocol}'`);
  const timeoutMs = numOption('-m', values['max-time'], 0.001, 3600) * 1000;
  // WHATWG URL keeps an IPv6 literal's brackets in hostname: http://[fd07::1]:8080/.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  // IPv6 as ping's: asked for (-6, --addr6) or an IPv6 literal in the URL; a name with -6 is
  // resolved to its AAAA records (connect's family 6).
  const v6 = values.ipv6 === true || values.addr6 !== undefined || isIP(host) === 6;
  if (v6 && isIP(host) === 4) throw new UsageError(`with -6 or --addr6, the URL's host must be an IPv6 address or a name, got '${host}'`);
  const kernel6 = values['kernel-addr6'] ?? 'fd07::1/64';
  if (values['kernel-addr6'] !== undefined && !v6) throw new UsageError('--kernel-addr6 needs -6, --addr6 or an IPv6 URL');
  if (v6 && isIP(kernel6.split('/')[0]!) !== 6) throw new UsageError(`--kernel-addr6 must be an IPv6 CIDR, got '${kernel6}'`);
  const device: DeviceValues = v6 ? { ...values, addr6: values.addr6 ?? 'fd07::2', 'kernel-addr6': kernel6 } : values;
  const port = Number(url.port || 80);
  const stack = values.wireguard !== undefined ? await wireGuardStack(values.wireguard, values.dns) : await stackFromOptions(device);
  if (v6 && stack.ip6 === undefined) {
    // As curl -6 where no interface has IPv6: the network is unreachable.
    await closeStack(stack);
    throw Object.assign(new Error(`cannot fetch over IPv6: ${stack.ipv6Disabled ?? 'the stack has no IPv6 address'}`), { code: 'ENETUNREACH' });
  }
  const started = performance.now();
  try {
    const { status, code, bytes, sha256 } = await new Promise<{ status: string; code: number; bytes: number; sha256: string }>((resolveFetch, reject) => {
      const req = http.get(url, { createConnection: () => stack.tcp.connect({ host, port, ...(v6 ? { family: 6 } : {}) }), timeout: timeoutMs }, (res) => {
        const hash = createHash('sha256');
        let n = 0;
        const out = values.output !== undefined ? createWriteStream(values.output) : process.stdout;
        res.on('data', (chunk: Buffer) => { n += chunk.length; hash.update(chunk); });
        res.pipe(out, { end: values.output !== undefined });
        res.on('end', () => resolveFetch({ status: `HTTP/${res.httpVersion} ${res.statusCode} ${res.statusMessage}`, code: res.statusCode ?? 0, bytes: n, sha256: hash.digest('hex') }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', reject);
    });
    const secs = (performance.now() - started) / 1000;
    process.stderr.write(`${status}; ${bytes} bytes in ${secs.toFixed(3)} s (${(bytes / secs / 1e6).toFixed(1)} MB/s); sha256 ${sha256}\n`);
    return code >= 200 && code < 300 ? 0 : 1;
  } finally {
    await closeStack(stack);
    if (values.stats) process.stderr.write(`stats ${JSON.stringify(stack.stats())}\n`);
  }
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((res) => {
    const t = setTimeout(done, ms);
    function done(): void { clearTimeout(t); signal.removeEventListener('abort', done); res(); }
    signal.addEventListener('abort', done, { once: true });
  });
}

// ---- demo ------------------------------------------------------------------

const binPath = resolve(fileURLToPath(import.meta.url), '../../bin/netstack.js');

async function demo(args: string[]): Promise<number> {
  const { values } = parse(args, demoOptions);
  if (values.help) return help('demo');
  const pcap = resolve(values.pcap);
  if (values.inside) return demoInside(pcap, values.tap === true);
  // A private network namespace that lives exactly as long as the processes in it.
  const asRoot = process.getuid?.() === 0;
  const unshareArgs = asRoot ? ['--net'] : ['--map-root-user', '--net'];
  const probe = spawnSync('unshare', [...unshareArgs, 'true'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    const why = probe.error ? probe.error.message : probe.stderr.trim();
    throw new Error(
      `demo needs a private network namespace and could not make one (unshare ${unshareArgs.join(' ')}: ${why}). ` +
        'Run it as root (sudo), or enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, kernel.apparmor_restrict_unprivileged_userns=0).',
    );
  }
  process.stdout.write(`netstack demo: private network namespace via 'unshare ${unshareArgs.join(' ')}'\n`);
  const child = spawn('unshare', [...unshareArgs, process.execPath, binPath, 'demo', '--inside', '--pcap', pcap, ...(values.tap === true ? ['--tap'] : [])], { stdio: 'inherit' });
  const code: number = await new Promise((res) => child.on('exit', (c, s) => res(c ?? (s ? 1 : 0))));
  if (code === 0) process.stdout.write(`\ncapture kept: ${pcap} (and ${values.pcap.replace(/\.pcap$/, '')}-fetch.pcap, -fetch6.pcap; open them in Wireshark, or: tshark -r ${values.pcap})\nthe namespace and the device are gone with the demo's processes.\n`);
  return code;
}

function runTool(cmd: string, args: string[], timeoutMs: number): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs });
  if (r.error) return { ok: false, out: `${cmd}: ${r.error.message}` };
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}` };
}

async function demoInside(pcap: string, tap: boolean): Promise<number> {
  const ok = (b: boolean): string => (b ? 'ok  ' : 'FAIL');
  runTool('ip', ['link', 'set', 'lo', 'up'], 5000);
  const dev = tap ? 'tap0' : 'tun0';
  // TAP: the stack's IPv4 address by DHCP from dnsmasq on the segment, where dnsmasq is installed.
  const dhcp = tap ? await startDemoDhcp() : undefined;
  const leased = typeof dhcp === 'object' ? dhcp : undefined;
  if (typeof dhcp === 'string') process.stdout.write(`skip DHCP: ${dhcp}; the stack takes the static 10.7.0.2\n`);
  if (leased !== undefined) process.stdout.write(`dnsmasq serves DHCP on tap0 (and later br0): 10.7.0.2 for ${DEMO_MAC}, router 10.7.0.1, lease 2 min\n`);
  const serveArgs = tap ? ['--tap', '--mac', DEMO_MAC, ...(leased !== undefined ? ['--dhcp', '--dhcp-timeout', '30'] : [])] : [];
  const server = spawn(process.execPath, [binPath, 'serve', ...serveArgs, '--pcap', pcap, '--stats'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  server.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  const ready = await new Promise<boolean>((res) => {
    const timer = setTimeout(() => res(false), leased !== undefined ? 40_000 : 20_000);
    server.stdout.on('data', () => { if (/ready/.test(out)) { clearTimeout(timer); res(true); } });
    server.on('exit', () => { clearTimeout(timer); res(false); });
  });
  if (!ready) {
    server.kill('SIGKILL');
    leased?.stop();
    throw new Error(`netstack serve did not become ready: ${out.trim()}${leased !== undefined ? `; dnsmasq: ${leased.log().trim().split('\n').slice(-3).join(' | ')}` : ''}`);
  }
  process.stdout.write(out);
  const statsCount = (): number => out.split('\n').filter((l) => l.startsWith('stats ')).length;
  // SIGUSR2: serve prints a 'stats {...}' line of its counters now; resolves with them (2 s bound).
  const liveStats = (): Promise<DemoStats | undefined> => new Promise((res) => {
    const before = statsCount();
    const done = (): void => {
      clearTimeout(timer);
      server.stdout.off('data', onData);
      const line = out.split('\n').filter((l) => l.startsWith('stats ')).at(-1);
      res(statsCount() > before && line !== undefined ? JSON.parse(line.slice(6)) as DemoStats : undefined);
    };
    const onData = (): void => { if (statsCount() > before && out.endsWith('\n')) done(); };
    const timer = setTimeout(done, 2000);
    server.stdout.on('data', onData);
    server.kill('SIGUSR2');
  });
  let failures = 0;
  // Each check runs between two SIGUSR2 snapshots of serve's counters: d(layer, key) is a
  // counter's change across it, so the stack's own count proves it carried the check.
  const n = (s: DemoStats | undefined, layer: string, key: string): number => s?.[layer]?.[key] ?? 0;
  const counted = async <T>(run: () => T | Promise<T>): Promise<{ r: T; d: (layer: string, key: string) => number; after: DemoStats | undefined }> => {
    const before = await liveStats();
    const r = await run();
    const after = await liveStats();
    return { r, d: (layer, key) => n(after, layer, key) - n(before, layer, key), after };
  };
  const report = (good: boolean, line: string): void => {
    process.stdout.write(`${ok(good)} ${line}\n`);
    if (!good) failures++;
  };
  const macs = / mac (\S+) \(kernel side (\S+)\)/.exec(out);
  const stackMac = macs?.[1] ?? '?';
  const kernelMac = macs?.[2] ?? '?';
  if (tap) {
    process.stdout.write(`\n== TAP: the stack is a host on tap0's Ethernet segment, mac ${stackMac} (the kernel side's: ${kernelMac}) ==\n`);
    if (leased !== undefined) {
      const lease = /dhcp lease (\S+) router (\S+) dns (\S+) (?:mtu \d+ )?from (\S+)/.exec(out);
      const ack = leased.log().split('\n').find((l) => /DHCPACK\(tap0\) 10\.7\.0\.2 /.test(l) && l.includes(stackMac));
      report(lease?.[1] === '10.7.0.2/24' && lease[2] === '10.7.0.1' && lease[4] === '10.7.0.1' && ack !== undefined,
        `dhcp: the stack leased ${lease?.[1] ?? 'nothing'} (router ${lease?.[2] ?? '?'}) from ${lease?.[4] ?? '?'}; dnsmasq: ${ack?.replace(/^.*?(DHCPACK)/, '$1') ?? 'no DHCPACK for it'}`);
    }
  }
  process.stdout.write('\n== the kernel\'s ping against the stack (10.7.0.1 -> 10.7.0.2) ==\n');
  for (const size of [56, 1472, 4000]) {
    const r = runTool('ping', ['-c', '3', '-i', '0.2', '-W', '2', '-s', String(size), '10.7.0.2'], 15_000);
    const summary = r.out.split('\n').filter((l) => /packets transmitted|rtt/.test(l)).join('; ');
    process.stdout.write(`${ok(r.ok)} ping -s ${String(size).padEnd(4)}  ${summary || r.out.trim()}\n`);
    if (!r.ok) failures++;
  }
  if (tap) {
    // The kernel asked for 10.7.0.2 by ARP and the stack answered from its own MAC.
    const neigh = runTool('ip', ['neigh', 'show', 'dev', 'tap0', '10.7.0.2'], 5000).out.trim();
    const s = await liveStats();
    report(neigh.includes(`lladdr ${stackMac}`) && n(s, 'eth', 'ArpInRequests') >= 1 && n(s, 'eth', 'ArpOutReplies') >= 1,
      `ARP: the kernel's neighbour table: ${neigh || 'no entry for 10.7.0.2'}; netstack: eth.ArpInRequests ${n(s, 'eth', 'ArpInRequests')}, ` +
      `eth.ArpOutReplies ${n(s, 'eth', 'ArpOutReplies')}, eth.ArpOutAnnouncements ${n(s, 'eth', 'ArpOutAnnouncements')}, neighbour table eth.arp.Entries ${n(s, 'eth', 'arp.Entries')}`);
  }
  process.stdout.write('\n== a kernel-side UDP client against the stack\'s echo on port 7 ==\n');
  for (const size of [1, 1472, 8000]) {
    const result = await udpEcho('10.7.0.2', 7, size, 2000);
    process.stdout.write(`${ok(result.ok)} udp ${String(size).padStart(5)} bytes: ${result.detail}\n`);
    if (!result.ok) failures++;
  }
  const closed = await udpEcho('10.7.0.2', 9999, 16, 2000);
  const refused = closed.error === 'ECONNREFUSED';
  process.stdout.write(`${ok(refused)} udp to closed port 9999: ${closed.error ?? closed.detail} (ICMP port unreachable from the stack)\n`);
  if (!refused) failures++;

  process.stdout.write('\n== the kernel\'s curl and nc against the stack\'s TCP ==\n');
  {
    const r = runTool('curl', ['-sS', '-m', '10', 'http://10.7.0.2/'], 15_000);
    process.stdout.write(`${ok(r.ok)} curl http://10.7.0.2/  -> ${r.out.trim()}\n`);
    if (!r.ok) failures++;
  }
  {
    const size = 20_000_000; // keeps the capture small enough to open comfortably
    const r = runTool('curl', ['-sS', '-m', '60', '-o', '/dev/null', '-w', '%{size_download} %{speed_download}', `http://10.7.0.2/bytes/${size}`], 70_000);
    const [got, speed] = r.out.trim().split(' ').map(Number);
    const good = r.ok && got === size;
    process.stdout.write(`${ok(good)} curl /bytes/${size}  -> ${got} bytes at ${((speed ?? 0) / 1e6).toFixed(0)} MB/s\n`);
    if (!good) failures++;
  }
  {
    const body = Buffer.alloc(10_000_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 13 + 7) & 0xff;
    const want = createHash('sha256').update(body).digest('hex');
    const r = spawnSync('curl', ['-sS', '-m', '30', '--data-binary', '@-', 'http://10.7.0.2/sink'], { input: body, encoding: 'utf8', timeout: 40_000 });
    const good = r.status === 0 && r.stdout.includes(want);
    process.stdout.write(`${ok(good)} curl POST /sink 10 MB  -> ${r.stdout.trim() || r.stderr.trim()}${good ? ' (sha256 matches)' : ''}\n`);
    if (!good) failures++;
  }
  {
    const r = spawnSync('nc', ['-N', '10.7.0.2', '7'], { input: 'hello over our TCP\n', encoding: 'utf8', timeout: 10_000 });
    const good = r.stdout === 'hello over our TCP\n';
    process.stdout.write(`${ok(good)} nc to echo :7  -> ${JSON.stringify(r.stdout)}\n`);
    if (!good) failures++;
  }
  {
    const r = runTool('curl', ['-sS', '-m', '5', 'http://10.7.0.2:81/'], 10_000);
    const refused = !r.ok && /Couldn't connect|refused/i.test(r.out);
    process.stdout.write(`${ok(refused)} curl to closed port 81  -> ${r.out.trim()} (RST from the stack)\n`);
    if (!refused) failures++;
  }

  process.stdout.write('\n== IPv6: the kernel\'s tools against the stack (fd07::1 -> fd07::2), each proved by the stack\'s counters ==\n');
  const serving6 = / stack \S+ fd07::2,/.test(out);
  if (!serving6) {
    // serve runs IPv4 only where the namespace has IPv6 off (its stderr line says so above).
    process.stdout.write('skip IPv6: serve runs IPv4 only in this namespace\n');
  } else {
    for (const size of [56, 1452, 4000]) {
      const { r, d } = await counted(() => runTool('ping', ['-6', '-c', '2', '-i', '0.2', '-W', '2', '-s', String(size), 'fd07::2'], 15_000));
      const summary = r.out.split('\n').filter((l) => /packets transmitted|rtt/.test(l)).join('; ');
      const [replies, reasm, frag] = [d('icmp6', 'Icmp6OutEchoReplies'), d('ip6', 'Ip6ReasmOKs'), d('ip6', 'Ip6FragOKs')];
      // 1452 bytes of data make a 1500-byte packet, the MTU: whole both ways; 4000 in fragments both ways.
      const whole = size === 4000 ? reasm === 2 && frag === 2 : reasm === 0 && frag === 0;
      report(r.ok && replies === 2 && whole, `ping -6 -s ${String(size).padEnd(4)}  ${summary || r.out.trim()}\n` +
        `       netstack: icmp6.Icmp6OutEchoReplies +${replies}, ip6.Ip6ReasmOKs +${reasm}, ip6.Ip6FragOKs +${frag}`);
    }
    for (const size of [1, 1452, 8000]) {
      const { r, d } = await counted(() => udpEcho('fd07::2', 7, size, 2000));
      const [inDg, outDg, reasm] = [d('udp', 'InDatagrams'), d('udp', 'OutDatagrams'), d('ip6', 'Ip6ReasmOKs')];
      // 1452 bytes of UDP payload: a 1500-byte packet, whole; 8000 reassembled by the stack.
      report(r.ok && inDg === 1 && outDg === 1 && reasm === (size === 8000 ? 1 : 0),
        `udp6 ${String(size).padStart(5)} bytes to [fd07::2]:7: ${r.detail}; netstack: udp.InDatagrams +${inDg}, udp.OutDatagrams +${outDg}, ip6.Ip6ReasmOKs +${reasm}`);
    }
    {
      const { r, d } = await counted(() => udpEcho('fd07::2', 9999, 16, 2000));
      const unreach = d('icmp6', 'Icmp6OutDestUnreachs');
      report(r.error === 'ECONNREFUSED' && unreach === 1,
        `udp6 to closed port 9999: ${r.error ?? r.detail} (ICMPv6 port unreachable from the stack: icmp6.Icmp6OutDestUnreachs +${unreach})`);
    }
    {
      const size = 10_000_000;
      const pattern = Buffer.alloc(size);
      for (let i = 0; i < size; i++) pattern[i] = i % 256;
      const want = createHash('sha256').update(pattern).digest('hex');
      const t0 = performance.now();
      const { r, d } = await counted(() => spawnSync('curl', ['-sS', '-g', '-m', '30', `http://[fd07::2]/bytes/${size}`], { timeout: 40_000, maxBuffer: size + (1 << 20) }));
      const secs = (performance.now() - t0) / 1000;
      const body = r.stdout as Buffer | null;
      const got = body === null ? '' : createHash('sha256').update(body).digest('hex');
      const [opens, delivered] = [d('tcp', 'PassiveOpens'), d('ip6', 'Ip6InDelivers')];
      report(r.status === 0 && body?.length === size && got === want && opens === 1 && delivered > 0,
        `curl -g 'http://[fd07::2]/bytes/${size}'  -> ${body?.length ?? 0} bytes in ${secs.toFixed(2)} s${got === want ? ' (sha256 matches)' : ` ${String(r.stderr).trim()}`}; ` +
        `netstack: tcp.PassiveOpens +${opens}, ip6.Ip6InDelivers +${delivered}`);
    }
    {
      const body = Buffer.alloc(10_000_000);
      for (let i = 0; i < body.length; i++) body[i] = (i * 13 + 7) & 0xff;
      const want = createHash('sha256').update(body).digest('hex');
      const { r, d } = await counted(() => spawnSync('curl', ['-sS', '-g', '-m', '30', '--data-binary', '@-', 'http://[fd07::2]/sink'], { input: body, encoding: 'utf8', timeout: 40_000 }));
      const [opens, delivered] = [d('tcp', 'PassiveOpens'), d('ip6', 'Ip6InDelivers')];
      const good = r.status === 0 && r.stdout.includes(want) && r.stdout.includes(`"bytes":${body.length}`) && opens === 1 && delivered > 0;
      report(good, `curl -g POST 'http://[fd07::2]/sink' 10 MB  -> ${r.stdout.trim() || r.stderr.trim()}${r.stdout.includes(want) ? ' (sha256 matches)' : ''}; ` +
        `netstack: tcp.PassiveOpens +${opens}, ip6.Ip6InDelivers +${delivered}`);
    }
    {
      const line = 'hello over our TCP, IPv6\n';
      const { r, d } = await counted(() => spawnSync('nc', ['-6', '-N', 'fd07::2', '7'], { input: line, encoding: 'utf8', timeout: 10_000 }));
      const [opens, delivered] = [d('tcp', 'PassiveOpens'), d('ip6', 'Ip6InDelivers')];
      report(r.stdout === line && opens === 1 && delivered > 0, `nc -6 fd07::2 7 (echo)  -> ${JSON.stringify(r.stdout)}${r.stderr ? ` ${r.stderr.trim()}` : ''}; netstack: tcp.PassiveOpens +${opens}, ip6.Ip6InDelivers +${delivered}`);
    }
    {
      const { r, d } = await counted(() => runTool('curl', ['-sS', '-g', '-m', '5', 'http://[fd07::2]:81/'], 10_000));
      const refused = !r.ok && /Couldn't connect|refused/i.test(r.out);
      const rsts = d('tcp', 'OutRsts');
      report(refused && rsts >= 1, `curl -g to closed port [fd07::2]:81  -> ${r.out.trim()} (RST from the stack: tcp.OutRsts +${rsts})`);
    }
  }

  process.stdout.write('\n== the stack as a client: netstack fetch from a kernel-side node:http server ==\n');
  {
    // The server says who asked: 10.7.1.1 and fd07:1::1 are the kernel's own addresses, so a
    // client on the kernel's TCP would reach it too (over loopback); only the stack comes
    // from 10.7.1.2 or fd07:1::2. One server per family (the IPv6 one IPv6 only), port 8080.
    const handler: http.RequestListener = (req, res) => res.end(`hello from the kernel side, ${req.socket.remoteAddress} asked for ${req.url}\n`);
    const kernelServer = http.createServer(handler);
    await new Promise<void>((res) => kernelServer.listen(8080, '0.0.0.0', () => res()));
    const kernelServer6 = serving6 ? http.createServer(handler) : undefined;
    if (kernelServer6 !== undefined) await new Promise<void>((res) => kernelServer6.listen({ port: 8080, host: '::', ipv6Only: true }, () => res()));
    const base = pcap.replace(/\.pcap$/, '');
    const fetches: Array<{ url: string; peer: string; pcapFile: string; args: string[] }> = [
      { url: 'http://10.7.1.1:8080/from-netstack', peer: '10.7.1.2', pcapFile: `${base}-fetch.pcap`, args: [] },
    ];
    if (serving6) fetches.push({ url: 'http://[fd07:1::1]:8080/from-netstack', peer: 'fd07:1::2', pcapFile: `${base}-fetch6.pcap`, args: ['--kernel-addr6', 'fd07:1::1/64', '--addr6', 'fd07:1::2'] });
    for (const f of fetches) {
      const device = tap ? ['--tap', '--tap-name', 'tap1'] : ['--tun', 'tun1'];
      const child = spawn(process.execPath, [binPath, 'fetch', '--stats', '--pcap', f.pcapFile, ...device, '--kernel-addr', '10.7.1.1/24', '--addr', '10.7.1.2', ...f.args, f.url], { stdio: ['ignore', 'pipe', 'pipe'] });
      let fout = '';
      let ferr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => { fout += d; });
      child.stderr.setEncoding('utf8').on('data', (d: string) => { ferr += d; });
      const fcode: number | null = await new Promise((res) => child.on('exit', (c) => res(c)));
      const statsLine = ferr.split('\n').find((l) => l.startsWith('stats '));
      const fstats = statsLine === undefined ? undefined : (JSON.parse(statsLine.slice(6)) as DemoStats);
      const opens = fstats?.tcp?.ActiveOpens;
      const v6 = f.peer.includes(':');
      const delivered = (v6 ? fstats?.ip6?.Ip6InDelivers : fstats?.ip?.InDelivers) ?? 0;
      // Over a TAP the fetching stack resolved the kernel side's MAC itself: ARP (IPv4) or a neighbour solicitation (IPv6).
      const resolvedBy = v6 ? 'eth.NdpOutSolicits' : 'eth.ArpOutRequests';
      const asked = fstats?.eth?.[v6 ? 'NdpOutSolicits' : 'ArpOutRequests'] ?? 0;
      const good = fcode === 0 && fout.includes(`, ${f.peer} asked for /from-netstack`) && opens === 1 && delivered > 0 && (!tap || asked >= 1);
      process.stdout.write(`${ok(good)} netstack fetch ${v6 ? `'${f.url}'` : f.url}  -> ${fout.trim()}\n     ${ferr.split('\n').filter((l) => l && !l.startsWith('stats ')).join('\n     ')}\n` +
        `     the server saw the stack's address (${f.peer}); the stack's TCP counted ${opens ?? 'no'} active open(s), ${fstats?.tcp?.InSegs ?? 0} segments in; ${v6 ? 'ip6.Ip6InDelivers' : 'ip.InDelivers'} ${delivered}` +
        `${tap ? `; ${resolvedBy} ${asked} (it resolved the kernel side's MAC itself)` : ''}\n`);
      if (!good) failures++;
    }
    kernelServer.close();
    kernelServer6?.close();
  }

  // TAP: the bridge stays until serve's RELEASE (on SIGTERM) reached dnsmasq on br0.
  const removeBridge = tap ? await demoBridge({ kernelMac, stackMac, serving6, counted, report, n }) : undefined;

  server.kill('SIGTERM');
  const code: number | null = await new Promise((res) => server.on('exit', (c) => res(c)));
  // The last stats line: serve's --stats on exit (the earlier ones are the SIGUSR2 snapshots).
  const statsLine = out.split('\n').filter((l) => l.startsWith('stats ')).at(-1);
  if (statsLine) printCounters(JSON.parse(statsLine.slice(6)));
  const gone = !runTool('ip', ['link', 'show', dev], 5000).ok;
  process.stdout.write(`\n${ok(code === 0)} serve exited with ${code} on SIGTERM\n${ok(gone)} ${dev} removed\n`);
  if (code !== 0 || !gone) failures++;
  if (leased !== undefined) {
    // On SIGTERM the stack RELEASEs its lease (RFC 2131 §4.4.6); tap0 was a port of br0 by then.
    const released = await leased.waitLog(/DHCPRELEASE\((?:br0|tap0)\) 10\.7\.0\.2 /, 5000);
    const line = leased.log().split('\n').find((l) => /DHCPRELEASE/.test(l));
    report(released, `dhcp: the lease released on exit; dnsmasq: ${line?.replace(/^.*?(DHCPRELEASE)/, '$1') ?? 'no DHCPRELEASE'}`);
    leased.stop();
  }
  if (removeBridge !== undefined) report(removeBridge(), 'br0 removed');
  const tapWants: CaptureWant[] = [
    { label: 'ARP', test: (f) => f.protocols.includes('arp') },
    { label: 'IPv4', test: (f) => f.protocols.includes('ip') },
    ...(leased !== undefined ? [{ label: 'DHCP', test: (f: CaptureFrame) => f.protocols.includes('dhcp') }] : []),
    { label: 'from 10.7.0.3 across the bridge', test: (f) => f.src === '10.7.0.3' },
  ];
  const check = checkCapture(pcap, / stack \S+ fd07::2,/.test(out), tap ? tapWants : []);
  process.stdout.write(`${check.ok === undefined ? 'skip' : ok(check.ok)} capture: ${check.detail}\n`);
  if (check.ok === false) failures++;
  process.stdout.write(failures === 0 ? '\ndemo: all checks passed\n' : `\ndemo: ${failures} check(s) failed\n`);
  return failures === 0 ? 0 : 1;
}

/** The TAP demo's MAC (locally administered; 07:02 as in 10.7.0.2): dnsmasq keeps 10.7.0.2 for it. */
const DEMO_MAC = '02:00:00:00:07:02';

/** Resolves after `ms` (a bounded poll's step, never a synchronisation by itself). */
const pause = (ms: number): Promise<void> => new Promise((res) => setTimeout(res, ms));

/** dnsmasq serving DHCP to the TAP demo: its log, a bounded wait for a line of it, and its end. */
interface DemoDhcp { log(): string; waitLog(re: RegExp, ms: number): Promise<boolean>; stop(): void }

/**
 * dnsmasq (Debian's dnsmasq-base) as the DHCP server of the demo's segment: on tap0 and,
 * once it is bridged, br0 (whichever holds 10.7.0.1/24); no DNS (--port=0); 10.7.0.2 kept
 * for DEMO_MAC (a one-address range besides), router 10.7.0.1, lease 2 min (its least).
 * A string when dnsmasq is not installed (the demo then says so and uses the static
 * address). Killed on exit whatever happens, so a failed demo leaves nothing running.
 */
async function startDemoDhcp(): Promise<DemoDhcp | string> {
  if (spawnSync('sh', ['-c', 'command -v dnsmasq']).status !== 0) return 'dnsmasq is not installed (apt-get install dnsmasq-base)';
  const dir = mkdtempSync(join(tmpdir(), 'netstack-demo-dhcp-'));
  // In a user namespace (the demo without root) only root is mapped: dnsmasq must stay root, not become 'nobody'.
  let userns = true;
  try { userns = !/^\s*0\s+0\s+4294967295\s*$/.test(readFileSync('/proc/self/uid_map', 'utf8')); } catch { /* keep true */ }
  const child: ChildProcess = spawn('dnsmasq', [
    '--no-daemon', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', '--port=0', '--interface=tap0', '--interface=br0',
    '--dhcp-range=10.7.0.2,10.7.0.2,255.255.255.0,2m', `--dhcp-host=${DEMO_MAC},10.7.0.2`, '--dhcp-option=option:router,10.7.0.1',
    '--dhcp-authoritative', `--dhcp-leasefile=${join(dir, 'leases')}`, `--pid-file=${join(dir, 'dnsmasq.pid')}`,
    '--log-dhcp', '--log-facility=-', ...(userns ? ['--user=root'] : []),
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  let exited = false;
  const stop = (): void => {
    process.off('exit', stop);
    if (!exited) child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', stop);
  child.on('exit', () => { exited = true; });
  child.on('error', (e) => { log += `${e.message}\n`; exited = true; });
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { log += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { log += d; });
  const waitLog = (re: RegExp, ms: number): Promise<boolean> => new Promise((res) => {
    if (re.test(log)) { res(true); return; }
    const done = (v: boolean): void => { clearTimeout(timer); child.stdout!.off('data', on); child.stderr!.off('data', on); child.off('exit', gone); res(v); };
    // Registered after the log's own listeners: `log` already holds the chunk.
    const on = (): void => { if (re.test(log)) done(true); };
    const gone = (): void => done(re.test(log));
    const timer = setTimeout(() => done(false), ms);
    child.stdout!.on('data', on);
    child.stderr!.on('data', on);
    child.on('exit', gone);
  });
  if (!(await waitLog(/started, version/, 10_000))) {
    stop();
    throw new Error(`dnsmasq did not start: ${log.trim().split('\n').slice(-3).join(' | ')}`);
  }
  return { log: () => log, waitLog, stop };
}

interface BridgeContext {
  kernelMac: string;
  stackMac: string;
  serving6: boolean;
  counted: <T>(run: () => T | Promise<T>) => Promise<{ r: T; d: (layer: string, key: string) => number; after: DemoStats | undefined }>;
  report: (good: boolean, line: string) => void;
  n: (s: DemoStats | undefined, layer: string, key: string) => number;
}

/**
 * The TAP demo's second part: tap0 becomes a port of a Linux bridge br0 (the kernel side's
 * addresses move to br0, as on a host whose NIC is bridged), and a veth pair joins br0 to a
 * second private network namespace (a child process made by `unshare --net`; commands run
 * in it with nsenter), whose client 10.7.0.3 (and 10.7.0.4, fd07::3) reaches the stack
 * across layer 2. The veth pair and the namespace are removed before it returns; br0 by the
 * function it returns (true when removed), once serve has exited.
 */
async function demoBridge(c: BridgeContext): Promise<() => boolean> {
  const report = c.report;
  const removeBridge = (): boolean => runTool('ip', ['link', 'del', 'br0'], 5000).ok;
  process.stdout.write('\n== a Linux bridge: br0 joins tap0 and a veth to a second private namespace, whose client 10.7.0.3 reaches the stack across layer 2 ==\n');
  // The second namespace: a process that waits in it (bounded: 300 s), killed at the end.
  const peer = spawn('unshare', ['--net', 'sh', '-c', 'echo up; exec sleep 300'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const killPeer = (): void => { process.off('exit', killPeer); peer.kill('SIGKILL'); };
  process.on('exit', killPeer);
  const up = await new Promise<boolean>((res) => {
    const timer = setTimeout(() => res(false), 5000);
    peer.stdout.setEncoding('utf8').on('data', (d: string) => { if (d.includes('up')) { clearTimeout(timer); res(true); } });
    peer.on('exit', () => { clearTimeout(timer); res(false); });
    peer.on('error', () => { clearTimeout(timer); res(false); });
  });
  if (!up || peer.pid === undefined) {
    killPeer();
    report(false, 'a second network namespace (unshare --net) could not be made');
    return () => true;
  }
  const inPeer = (cmd: string, args: string[]): string[] => [`--net=/proc/${peer.pid}/ns/net`, cmd, ...args];
  const steps: Array<[string, string[]]> = [
    // br0 keeps the kernel side's MAC (tap0's), so the stack's neighbour entry for 10.7.0.1 stays right.
    ['ip', ['link', 'add', 'br0', ...(c.kernelMac !== '?' ? ['address', c.kernelMac] : []), 'type', 'bridge']],
    ['ip', ['link', 'set', 'tap0', 'master', 'br0']],
    ['ip', ['addr', 'flush', 'dev', 'tap0', 'scope', 'global']],
    ['ip', ['addr', 'add', '10.7.0.1/24', 'dev', 'br0']],
    ...(c.serving6 ? [['ip', ['-6', 'addr', 'add', 'fd07::1/64', 'dev', 'br0', 'nodad']] as [string, string[]]] : []),
    ['ip', ['link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1', 'netns', String(peer.pid)]],
    ['ip', ['link', 'set', 'veth0', 'master', 'br0']],
    ['ip', ['link', 'set', 'veth0', 'up']],
    ['ip', ['link', 'set', 'br0', 'up']],
    ['nsenter', inPeer('ip', ['link', 'set', 'lo', 'up'])],
    ['nsenter', inPeer('ip', ['addr', 'add', '10.7.0.3/24', 'dev', 'veth1'])],
    ['nsenter', inPeer('ip', ['addr', 'add', '10.7.0.4/24', 'dev', 'veth1'])],
    ...(c.serving6 ? [['nsenter', inPeer('ip', ['-6', 'addr', 'add', 'fd07::3/64', 'dev', 'veth1', 'nodad'])]] as Array<[string, string[]]> : []),
    ['nsenter', inPeer('ip', ['link', 'set', 'veth1', 'up'])],
  ];
  for (const [cmd, args] of steps) {
    const r = runTool(cmd, args, 5000);
    if (!r.ok) {
      report(false, `${cmd} ${args.join(' ')}: ${r.out.trim()}`);
      runTool('ip', ['link', 'del', 'veth0'], 5000);
      killPeer();
      removeBridge();
      return () => true;
    }
  }
  // Both ports forwarding (STP off: at once, once the carrier is up); bounded, 5 s.
  let ports = '';
  for (let i = 0; i < 100; i++) {
    ports = runTool('bridge', ['link', 'show'], 5000).out;
    if (/tap0.*state forwarding/.test(ports) && /veth0.*state forwarding/.test(ports)) break;
    await pause(50);
  }
  report(/tap0.*state forwarding/.test(ports) && /veth0.*state forwarding/.test(ports),
    `br0 (mac ${c.kernelMac}, 10.7.0.1/24${c.serving6 ? ', fd07::1/64' : ''}) with ports tap0 (the stack's segment) and veth0 (to the namespace of 10.7.0.3${c.serving6 ? ', fd07::3' : ''}): both forwarding`);
  {
    const { r, d, after } = await c.counted(() => runTool('nsenter', inPeer('ping', ['-c', '3', '-i', '0.2', '-W', '2', '-I', '10.7.0.3', '10.7.0.2']), 15_000));
    const summary = r.out.split('\n').filter((l) => /packets transmitted|rtt/.test(l)).join('; ');
    report(r.ok && d('icmp', 'InEchos') === 3, `ping 10.7.0.3 -> 10.7.0.2 across br0  ${summary || r.out.trim()}; netstack: icmp.InEchos +${d('icmp', 'InEchos')}`);
    // The client asked for 10.7.0.2 by ARP (broadcast, flooded by br0); the stack answered and,
    // being the target, learned the asker (RFC 826): a new entry in its neighbour table.
    report(d('eth', 'ArpInRequests') >= 1 && d('eth', 'ArpOutReplies') >= 1 && c.n(after, 'eth', 'arp.Entries') >= 2,
      `the stack learned 10.7.0.3 by ARP: eth.ArpInRequests +${d('eth', 'ArpInRequests')}, eth.ArpOutReplies +${d('eth', 'ArpOutReplies')}; ` +
      `its neighbour table now ${c.n(after, 'eth', 'arp.Entries')} entries (the kernel side, 10.7.0.3), eth.arp.Entries +${d('eth', 'arp.Entries')}`);
  }
  {
    const size = 10_000_000;
    const pattern = Buffer.alloc(size);
    for (let i = 0; i < size; i++) pattern[i] = i % 256;
    const want = createHash('sha256').update(pattern).digest('hex');
    const t0 = performance.now();
    const { r, d } = await c.counted(() => spawnSync('nsenter', inPeer('curl', ['-sS', '-m', '30', '--interface', '10.7.0.3', `http://10.7.0.2/bytes/${size}`]), { timeout: 40_000, maxBuffer: size + (1 << 20) }));
    const secs = (performance.now() - t0) / 1000;
    const body = r.stdout as Buffer | null;
    const got = body === null ? '' : createHash('sha256').update(body).digest('hex');
    report(r.status === 0 && body?.length === size && got === want && d('tcp', 'PassiveOpens') === 1,
      `curl --interface 10.7.0.3 http://10.7.0.2/bytes/${size}  -> ${body?.length ?? 0} bytes in ${secs.toFixed(2)} s${got === want ? ' (sha256 matches)' : ` ${String(r.stderr).trim()}`}; ` +
      `netstack: tcp.PassiveOpens +${d('tcp', 'PassiveOpens')}, eth.OutSent +${d('eth', 'OutSent')} frames`);
  }
  {
    // Layer 2 both ways: the client's kernel holds the stack's MAC; br0 learned it on tap0.
    const neigh = runTool('nsenter', inPeer('ip', ['neigh', 'show', 'dev', 'veth1', '10.7.0.2']), 5000).out.trim();
    const fdb = runTool('bridge', ['fdb', 'show', 'br', 'br0'], 5000).out.split('\n').find((l) => l.startsWith(`${c.stackMac} dev tap0`))?.trim();
    report(neigh.includes(`lladdr ${c.stackMac}`) && fdb !== undefined, `the client's neighbour table: ${neigh || 'no entry'}; br0's forwarding table: ${fdb ?? `no ${c.stackMac} on tap0`}`);
  }
  {
    // From 10.7.0.4: the client's kernel knows the stack's MAC already (no request from .4), so
    // the stack's echo reply waits for its own ARP request, answered by the client's kernel.
    const { r, d } = await c.counted(() => runTool('nsenter', inPeer('ping', ['-c', '2', '-i', '0.2', '-W', '2', '-I', '10.7.0.4', '10.7.0.2']), 15_000));
    const summary = r.out.split('\n').filter((l) => /packets transmitted/.test(l)).join('; ');
    report(r.ok && d('eth', 'ArpOutRequests') >= 1 && d('eth', 'ArpInReplies') >= 1,
      `ping 10.7.0.4 -> 10.7.0.2  ${summary || r.out.trim()}; the stack resolved 10.7.0.4 itself: eth.ArpOutRequests +${d('eth', 'ArpOutRequests')}, ` +
      `eth.ArpInReplies +${d('eth', 'ArpInReplies')}, eth.OutQueued +${d('eth', 'OutQueued')} (the reply waited for it)`);
  }
  if (c.serving6) {
    const { r, d } = await c.counted(() => runTool('nsenter', inPeer('ping', ['-6', '-c', '2', '-i', '0.2', '-W', '2', 'fd07::2']), 15_000));
    const summary = r.out.split('\n').filter((l) => /packets transmitted/.test(l)).join('; ');
    report(r.ok && d('icmp6', 'Icmp6OutEchoReplies') === 2 && d('eth', 'NdpInSolicits') >= 1,
      `ping -6 fd07::3 -> fd07::2  ${summary || r.out.trim()}; neighbour discovery across br0: eth.NdpInSolicits +${d('eth', 'NdpInSolicits')}, eth.NdpOutAdverts +${d('eth', 'NdpOutAdverts')}`);
  }
  // The veth pair (both ends) and the second namespace go now; br0 once serve has exited.
  const del = runTool('ip', ['link', 'del', 'veth0'], 5000);
  killPeer();
  report(del.ok && !runTool('ip', ['link', 'show', 'veth0'], 5000).ok, 'the veth pair removed, the second namespace ended');
  return removeBridge;
}

/** Wireshark's expert severity "Error" (PI_ERROR, 0x00800000): a field value at least this is an error. */
const PI_ERROR = 0x00800000;

/**
 * tshark's verdict on a capture, checksum validation on: packets, TCP packets, and frames
 * with a bad IPv4/TCP/UDP/ICMP/ICMPv6 checksum, a malformed packet or an expert error (must be 0);
 * with want6 (serve ran both families), IPv6 packets must be in it; each of `wants` must
 * match at least one packet. One pass of tshark (a TAP capture has a frame per segment:
 * tens of thousands), listing each frame's protocols, source, expert severities and
 * checksum statuses (0: bad), counted here. A TCP checksum of 0xffff where 0x0000 was
 * computed is the same one's-complement sum (RFC 1624 §3; tshark calls it bad): allowed in
 * the kernel's packets (Linux sends it now and then over a TAP without offloads), counted
 * and said, never in the stack's (`own`: its addresses). ok undefined when tshark is not
 * installed (said, not hidden).
 */
function checkCapture(file: string, want6: boolean, wants: CaptureWant[] = [], own: readonly string[] = ['10.7.0.2', 'fd07::2']): { ok: boolean | undefined; detail: string } {
  if (spawnSync('sh', ['-c', 'command -v tshark']).status !== 0) return { ok: undefined, detail: 'tshark not installed, not checked (apt-get install tshark)' };
  const checksums = ['ip', 'tcp', 'udp', 'icmp', 'icmpv6'].map((p) => `${p}.checksum.status`);
  const r = spawnSync('tshark', ['-r', file, '-n', '-o', 'ip.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
    '-T', 'fields', ...['frame.protocols', 'ip.src', '_ws.expert.severity', 'ipv6.src', 'tcp.checksum', 'tcp.checksum_calculated', ...checksums].flatMap((f) => ['-e', f])],
    { encoding: 'utf8', timeout: 120_000, maxBuffer: 512 << 20 });
  if (r.status !== 0) return { ok: false, detail: `tshark could not read ${file}: ${String(r.stderr).trim().split('\n').at(-1) ?? ''}` };
  let bad = 0;
  let ffff = 0;
  const frames: CaptureFrame[] = r.stdout.split('\n').filter(Boolean).map((l) => {
    const [protocols = '', src = '', severity = '', src6 = '', tcpSum = '', tcpCalc = '', ipStatus = '', tcpStatus = '', ...status] = l.split('\t');
    const values = (f: string): number[] => (f === '' ? [] : f.split(',').map(Number));
    const protos = protocols.split(':');
    // The outer header's source (an ICMP error lists the quoted packet's after it).
    const from = (src.split(',')[0] || src6.split(',')[0]) ?? '';
    const rfc1624 = values(tcpStatus)[0] === 0 && Number(tcpSum.split(',')[0]) === 0xffff && Number(tcpCalc.split(',')[0]) === 0 && !own.includes(from);
    if (rfc1624) ffff++;
    // Malformed: the _ws.malformed pseudo-protocol; a checksum status 0 is PROTO_CHECKSUM_E_BAD.
    const badSum = [ipStatus, ...status].some((f) => values(f).includes(0)) || (!rfc1624 && values(tcpStatus).includes(0));
    if (protos.includes('_ws.malformed') || values(severity).some((v) => v >= PI_ERROR) || badSum) bad++;
    return { protocols: protos, src };
  });
  const count = (test: (f: CaptureFrame) => boolean): number => frames.reduce((k, f) => k + (test(f) ? 1 : 0), 0);
  const all = frames.length;
  const tcp = count((f) => f.protocols.includes('tcp'));
  const ip6 = count((f) => f.protocols.includes('ipv6'));
  const wanted = wants.map((w) => ({ ...w, count: count(w.test) }));
  // IPv6 packets must be in it when serve ran both families (then the demo's IPv6 checks ran).
  const ok = bad === 0 && all > 0 && (!want6 || ip6 > 0) && wanted.every((w) => w.count > 0);
  const more = wanted.map((w) => `, ${w.count} ${w.label}`).join('');
  const kernelFfff = ffff > 0 ? ` (and ${ffff} of the kernel's TCP checksums written 0xffff for 0x0000, the same sum: RFC 1624)` : '';
  return { ok, detail: `tshark with checksum validation: ${all} packets (${tcp} TCP, ${ip6} IPv6${more}), ${bad} with a bad checksum, malformed or an expert error${kernelFfff}` };
}

function printCounters(stats: Record<string, unknown>): void {
  process.stdout.write('\n== the stack\'s counters ==\n');
  for (const [layer, counters] of Object.entries(stats)) {
    if (!counters || typeof counters !== 'object') continue;
    const parts = Object.entries(counters as Record<string, unknown>)
      .filter(([, v]) => typeof v === 'number' && v !== 0)
      .map(([k, v]) => `${k}=${v as number}`);
    process.stdout.write(`${layer.padEnd(6)} ${parts.join(' ') || '(all zero)'}\n`);
  }
}

type DemoStats = Record<string, Record<string, number> | undefined>;

/** A frame of a capture as checkCapture sees it: tshark's frame.protocols (eth, ethertype, ip, tcp, ...) and ip.src. */
interface CaptureFrame { protocols: string[]; src: string }
/** A kind of packet the capture must hold (checkCapture), counted. */
interface CaptureWant { label: string; test: (f: CaptureFrame) => boolean }

interface EchoResult { ok: boolean; detail: string; error?: string }

/** One datagram to host:port from a kernel socket (udp6 for an IPv6 host); checks the echo is exact. */
function udpEcho(host: string, port: number, size: number, timeoutMs: number): Promise<EchoResult> {
  return new Promise((res) => {
    const sock = dgram.createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    const payload = Buffer.alloc(size);
    for (let i = 0; i < size; i++) payload[i] = (i * 7 + 3) & 0xff;
    const started = performance.now();
    const finish = (r: EchoResult): void => { clearTimeout(timer); sock.close(); res(r); };
    const timer = setTimeout(() => finish({ ok: false, detail: `no answer within ${timeoutMs} ms` }), timeoutMs);
    sock.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, detail: err.message, ...(err.code ? { error: err.code } : {}) }));
    sock.on('message', (msg) => {
      const exact = msg.equals(payload);
      finish({ ok: exact, detail: `${exact ? 'echoed exactly' : `echo differs (${msg.length} bytes back)`} in ${(performance.now() - started).toFixed(2)} ms` });
    });
    // connect() so that an ICMP port unreachable surfaces as ECONNREFUSED (Linux semantics).
    sock.connect(port, host, () => sock.send(payload));
  });
}

/** A spec of --impair/--impair-ab/--impair-ba, or a usage error naming the flag. */
function impairOption(flag: string, text: string, directional: boolean): ImpairSpec {
  let spec: ImpairSpec;
  try {
    spec = parseImpairSpec(text);
  } catch (err) {
    throw new UsageError(`${flag} '${text}': ${(err as Error).message}`);
  }
  if (!directional && spec.down !== undefined) throw new UsageError(`${flag} is one direction: give a plain SPEC, not up:/down:`);
  return spec;
}

/** A --a/--b namespace: digits are a PID, anything else a name or a path. */
const netnsOption = (text: string): string | number => (/^\d+$/.test(text) ? Number(text) : text);

async function relay(args: string[]): Promise<number> {
  const { values: v } = parse(args, relayOptions);
  if (v.help) return help('relay');
  if (v.a === undefined || v.b === undefined) throw new UsageError(`${v.a === undefined ? '--a' : '--b'} NETNS is required`);
  const mtu = intOption('--mtu', v.mtu, 68, 65535);
  const txq = v.txqueuelen === undefined ? {} : { txQueueLen: intOption('--txqueuelen', v.txqueuelen, 1, 65536) };
  if (v.impair !== undefined && (v['impair-ab'] !== undefined || v['impair-ba'] !== undefined)) {
    throw new UsageError(`--impair contradicts ${v['impair-ab'] !== undefined ? '--impair-ab' : '--impair-ba'} (give both directions with --impair-ab and --impair-ba)`);
  }
  let specs: { ab?: ImpairSpec; ba?: ImpairSpec } = {};
  if (v.impair !== undefined) specs = relaySpecs(impairOption('--impair', v.impair, true));
  if (v['impair-ab'] !== undefined) specs.ab = impairOption('--impair-ab', v['impair-ab'], false);
  if (v['impair-ba'] !== undefined) specs.ba = impairOption('--impair-ba', v['impair-ba'], false);
  const addrs = (flag: string, given: string[] | undefined, defaults: string[]): string[] => {
    const list = given ?? defaults;
    for (const c of list) {
      const [addr, len, extra] = c.split('/');
      const family = isIP(addr ?? '');
      if (family === 0 || len === undefined || extra !== undefined || !/^\d+$/.test(len) || Number(len) > (family === 4 ? 32 : 128)) {
        throw new UsageError(`${flag} must be an IPv4 or IPv6 CIDR like 10.9.0.1/24, got '${c}'`);
      }
    }
    if (list.filter((c) => isIPv4(c.split('/')[0]!)).length > 1) throw new UsageError(`${flag}: at most one IPv4 address per device`);
    return list;
  };
  const aAddr = addrs('--a-addr', v['a-addr'], ['10.9.0.1/24', 'fd09::1/64']);
  const bAddr = addrs('--b-addr', v['b-addr'], ['10.9.0.2/24', 'fd09::2/64']);
  const signals = untilSignal();
  let r: TunRelay;
  try {
    r = openRelay(
      { name: v['a-name'], netns: netnsOption(v.a), kernelAddress: aAddr, mtu, ...txq },
      { name: v['b-name'], netns: netnsOption(v.b), kernelAddress: bAddr, mtu, ...txq },
      specs,
    );
  } catch (err) {
    signals.cancel();
    throw err;
  }
  const statsNow = (): Record<string, unknown> => ({ ...r.stats(), devices: r.deviceStats() });
  const printStats = (): void => { process.stdout.write(`stats ${JSON.stringify(statsNow())}\n`); };
  process.on('SIGUSR2', printStats);
  const side = (d: TunDevice, addrList: string[]): string =>
    `${d.netns ?? 'own namespace'} ${d.name} ${addrList.filter((c) => d.ipv6 || isIPv4(c.split('/')[0]!)).join(' ')}${d.ipv6 ? '' : ` (IPv4 only: ${d.ipv6Disabled ?? 'no IPv6'})`}`;
  const shown = (s: ImpairSpec | undefined): string => (s === undefined ? 'none' : formatImpairSpec(s));
  process.stdout.write(`netstack relay ready: A ${side(r.a, aAddr)} <-> B ${side(r.b, bAddr)}, mtu ${r.a.mtu}; a->b ${shown(specs.ab)}; b->a ${shown(specs.ba)}\n`);
  await signals.signal;
  process.off('SIGUSR2', printStats);
  const stats = statsNow();
  r.close();
  if (v.stats) process.stdout.write(`stats ${JSON.stringify(stats)}\n`);
  return 0;
}

/**
 * The routes of a tunnel: one on-link route per allowed IP, except those the interface's own
 * subnets already cover (the kernel made those routes with the addresses). A /0 becomes its
 * two halves (0.0.0.0/1 and 128.0.0.0/1, ::/1 and 8000::/1), and its family is returned in
 * `defaults`: the peers' endpoints of that family then need host routes through the underlay
 * (tunnel/underlay-routes.ts), or the tunnel's own UDP would go into the tunnel. Returns the
 * routes and what was left out (nothing today), for the user.
 */
export function tunnelRoutes(config: Pick<WgConfig, 'addresses' | 'peers'>): { routes: TunRoute[]; skipped: string[]; defaults: Set<4 | 6> } {
  const nets = config.addresses.map((a) => ipaddr.parseCIDR(a));
  const routes: TunRoute[] = [];
  const skipped: string[] = [];
  const defaults = new Set<4 | 6>();
  const seen = new Set<string>();
  const add = (prefix: string): void => {
    if (seen.has(prefix)) return;
    seen.add(prefix);
    routes.push({ dst: prefix });
  };
  for (const p of config.peers) {
    for (const prefix of p.allowedIPs) {
      const [addr, len] = ipaddr.parseCIDR(prefix);
      if (len === 0) {
        const family = addr.kind() === 'ipv4' ? 4 : 6;
        defaults.add(family);
        for (const half of splitDefault(family)) add(half);
        continue;
      }
      if (nets.some(([n, l]) => n.kind() === addr.kind() && l <= len && addr.match(n, l))) continue;
      add(prefix);
    }
  }
  return { routes, skipped, defaults };
}

/**
 * A test hook, not a flag: NETSTACK_TUNNEL_TIMERS='{"rekeyAfterTime":1000,...}' overrides the
 * protocol's timers (ms), so a test sees a rekey in a second instead of two minutes.
 */
function testTimers(): { timers?: Partial<Timers> } {
  const text = process.env.NETSTACK_TUNNEL_TIMERS;
  if (text === undefined || text === '') return {};
  let t: unknown;
  try {
    t = JSON.parse(text);
  } catch {
    throw new UsageError(`NETSTACK_TUNNEL_TIMERS is not JSON: '${text}'`);
  }
  if (typeof t !== 'object' || t === null || Object.entries(t).some(([k, v]) => !(k in DEFAULT_TIMERS) || typeof v !== 'number' || !(v > 0))) {
    throw new UsageError(`NETSTACK_TUNNEL_TIMERS must name timers (${Object.keys(DEFAULT_TIMERS).join(', ')}) with positive numbers, got '${text}'`);
  }
  return { timers: t as Partial<Timers> };
}

async function tunnel(args: string[]): Promise<number> {
  const { values: v } = parse(args, tunnelOptions);
  if (v.help) return help('tunnel');
  if (v.offload === true && v['no-offload'] === true) throw new UsageError('--offload and --no-offload contradict each other');
  if (v.config === undefined) throw new UsageError('--config FILE is required');
  const listenOverride = v['listen-port'] === undefined ? undefined : intOption('--listen-port', v['listen-port'], 0, 65535);
  const fileName = basename(v.config).replace(/\.conf$/, '');
  const name = v.tun ?? (/^[a-zA-Z0-9_=+.-]{1,15}$/.test(fileName) ? fileName : 'wg0');
  let config: WgConfig;
  try {
    config = parseWgConfig(readFileSync(v.config, 'utf8'));
  } catch (err) {
    if (err instanceof WgConfigError) throw new UsageError(`${v.config}: ${err.message}`);
    throw err;
  }
  for (const i of config.ignored) process.stderr.write(`netstack tunnel: ${v.config}: line ${i.line}: ${i.key} is wg-quick's, not acted on here\n`);
  if (config.addresses.filter((a) => isIPv4(a.split('/')[0]!)).length > 1) throw new UsageError(`${v.config}: at most one IPv4 Address per device`);
  const peers: TunnelPeer[] = [];
  for (const p of config.peers) {
    let endpoint: TunnelPeer['endpoint'];
    if (p.endpoint !== undefined) {
      const address = isIP(p.endpoint.host) !== 0 ? p.endpoint.host : (await lookup(p.endpoint.host)).address;
      endpoint = { address, port: p.endpoint.port };
    }
    peers.push({
      publicKey: p.publicKey,
      allowedIPs: p.allowedIPs,
      ...(p.presharedKey !== undefined ? { presharedKey: p.presharedKey } : {}),
      ...(endpoint !== undefined ? { endpoint } : {}),
      ...(p.persistentKeepalive !== undefined ? { persistentKeepalive: p.persistentKeepalive } : {}),
    });
  }
  const { routes, skipped, defaults } = tunnelRoutes(config);
  for (const s of skipped) process.stderr.write(`netstack tunnel: not routed: ${s}\n`);
  // A /0 peer: host routes keep the endpoints on the underlay, added before the device takes the default.
  let underlay: UnderlayRoute[] = [];
  if (defaults.size > 0) {
    const u = underlayRoutes(peers.flatMap((p) => (p.endpoint !== undefined ? [p.endpoint.address] : [])), defaults);
    for (const n of u.notes) process.stderr.write(`netstack tunnel: ${n}\n`);
    underlay = addUnderlayRoutes(u.routes, (text) => process.stderr.write(`netstack tunnel: ${text}\n`));
  }
  const signals = untilSignal();
  let t: Awaited<ReturnType<typeof createTunnel>>;
  try {
    t = await createTunnel({
      // Offloads by default: fewer reads and writes, less CPU per byte (pnpm bench --wireguard measures both).
      tun: { name, mtu: config.mtu ?? 1420, offload: v['no-offload'] !== true, ...(config.addresses.length > 0 ? { kernelAddress: config.addresses } : {}), routes },
      privateKey: config.privateKey,
      listenPort: listenOverride ?? config.listenPort ?? 0,
      peers,
      ...testTimers(),
    });
  } catch (err) {
    signals.cancel();
    removeUnderlayRoutes(underlay);
    throw err;
  }
  const dev = t.device as TunDevice;
  const status = (): void => { process.stdout.write(`${t.status(dev.name)}\n`); };
  const printStats = (): void => { process.stdout.write(`stats ${JSON.stringify(t.stats())}\n`); };
  // SIGUSR1 is Node's inspector signal: a listener replaces that (wg's users expect a status there).
  process.on('SIGUSR1', status);
  process.on('SIGUSR2', printStats);
  const addrs = config.addresses.filter((a) => dev.ipv6 || isIPv4(a.split('/')[0]!));
  process.stdout.write(`netstack tunnel ready on ${dev.name}: ${addrs.join(' ') || 'no address'}, mtu ${dev.mtu}${dev.offload ? `, offload ${Object.entries(dev.offload).filter(([, on]) => on === true).map(([k]) => k).join('+')}` : ''}, listening on UDP port ${t.listenPort}, public key ${t.publicKey}, ${peers.length} peer${peers.length === 1 ? '' : 's'}${routes.length > 0 ? `, routes ${routes.map((r) => r.dst).join(' ')}` : ''}${underlay.length > 0 ? `, underlay ${underlay.map((r) => r.text).join(', ')}` : ''}${dev.ipv6 ? '' : ` (IPv4 only: ${dev.ipv6Disabled ?? 'no IPv6'})`}\n`);
  await signals.signal;
  process.off('SIGUSR1', status);
  process.off('SIGUSR2', printStats);
  const stats = t.stats();
  const text = t.status(dev.name);
  t.close();
  removeUnderlayRoutes(underlay);
  if (v.stats) process.stdout.write(`${text}\nstats ${JSON.stringify(stats)}\n`);
  return 0;
}

function help(cmd: string): number {
  process.stdout.write(`${HELP[cmd] ?? HELP.main}\n`);
  return 0;
}

/** The version of this package (package.json sits beside dist/ and src/, in the repo and in the tarball). */
function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * Runs one command. Resolves with the exit status: 0, 1 for a runtime failure, 2 for
 * a usage error; a failure is one line on stderr naming the flag at fault.
 */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'serve': return await serve(rest);
      case 'ping': return await ping(rest);
      case 'fetch': return await fetchCmd(rest);
      case 'demo': return await demo(rest);
      case 'relay': return await relay(rest);
      case 'nat': return await nat(rest, (m) => new UsageError(m));
      case 'tunnel': return await tunnel(rest);
      case '--version':
      case '-V':
        process.stdout.write(`netstack ${version()}\n`);
        return 0;
      case '-h':
      case '--help':
        return help('main');
      case 'help':
        if (rest[0] !== undefined && !(rest[0] in HELP)) throw new UsageError(`no command '${rest[0]}' (try 'netstack --help')`);
        return help(rest[0] ?? 'main');
      case undefined:
        process.stderr.write(`${HELP.main}\n`);
        return 2;
      default:
        throw new UsageError(`unknown command '${cmd}' (try 'netstack --help')`);
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    const message = `${e.message}${e.code && !e.message.includes(e.code) ? ` (${e.code})` : ''}`.replace(/\s*\n\s*/g, ' ');
    const usage = err instanceof UsageError;
    process.stderr.write(`netstack${cmd === undefined || cmd.startsWith('-') ? '' : ` ${cmd}`}: ${message}${usage && cmd !== undefined && cmd in HELP ? ` (see 'netstack ${cmd} --help')` : ''}\n`);
    return usage ? 2 : 1;
  }
}
