/**
 * The gateway's ICMP echo relay (issue 12): an echo request the guest sends to any
 * destination (the stack's `icmp.foreignEcho` / `icmp6.foreignEcho` hooks, `anyAddress`)
 * is re-sent from this process through the host's unprivileged ICMP echo socket
 * (`PingSocket` of @netstack/host: SOCK_DGRAM + IPPROTO_ICMP / IPPROTO_ICMPV6), and the
 * host's echo reply goes back to the guest FROM the original destination, with the
 * guest's identifier and sequence number (`answerForeignEcho`: the reply mirrors the
 * guest's request, RFC 792 / RFC 4443 §4.2). As slirp4netns and pasta do.
 *
 * - One host socket per family, opened at the first echo that needs it (or at the start
 *   with `prepare`, as the gateway does: the first echo then pays no socket, no binding of
 *   libc in @netstack/host, no poll handle). The kernel writes
 *   its own identifier into every request it sends, so guests' echoes are told apart by
 *   the sequence number: each relayed echo gets a fresh one (16 bits per family; those in
 *   use are skipped), and the reply's sequence number and sender find the guest's echo.
 * - Where the host refuses the socket (`net.ipv4.ping_group_range` excludes this
 *   process's group: EACCES; or no ICMP socket support) the guest's echo is answered at
 *   once with destination unreachable "communication administratively prohibited"
 *   (ICMPv4 code 13, RFC 1812 §5.2.7.1; ICMPv6 code 1, RFC 4443 §3.1): the truth (this
 *   host's policy forbids it), which `ping` prints as "Packet filtered" / "Administratively
 *   prohibited", where host unreachable would send the user looking for a routing fault.
 *   The socket is tried again at the next echo (a sysctl changed since works at once).
 *   No raw socket is ever opened, and none is offered.
 * - A send the host refuses maps as a connect error does: ENETUNREACH -> net unreachable,
 *   EHOSTUNREACH -> host unreachable, EACCES/EPERM -> administratively prohibited; others
 *   (EAGAIN: the socket's buffer full) drop the echo (counted).
 * - Bounded: at most `maxOutstanding` echoes waiting and `maxBytes` of their copies (a
 *   guest's request, up to 64 KiB, is kept until its reply). At either bound the oldest
 *   waiting echoes give way if they have waited `STALE_MS` (a second) or more
 *   (IcmpEchoEvicted: a reply after that is unmatched), else the new one is dropped
 *   (IcmpEchoDroppedLimit): pings to silent addresses cannot hold the relay for the whole
 *   `timeout`, while a burst of pings to a slow but live host keeps its replies. An echo
 *   with no reply after `timeout` ms is forgotten (IcmpEchoExpired; checked at every echo,
 *   reply and stats(): no timer).
 * - A reply whose data differs from the request's is dropped (IcmpEchoRepliesCorrupt):
 *   the guest's reply is built from its own request.
 * - The gateway is a router hop (`hop`): an echo with TTL 1 is answered with time exceeded
 *   from the gateway's address (RFC 1812 §5.3.1); the others leave with TTL - 1 (IP_TTL /
 *   IPV6_UNICAST_HOPS per send). The host socket has IP_RECVERR (IPV6_RECVERR) on: an ICMP
 *   error a router or the destination sends about a relayed echo (time exceeded,
 *   unreachable, fragmentation needed / packet too big with its MTU) goes to the guest FROM
 *   that router, quoting the guest's own echo (its IP header and first 64 bytes, kept
 *   while it waits): the guest's `traceroute -I` / `mtr` see every hop.
 * - No wait for a reply that is already there: right after a send the socket is read
 *   (`receiveNow`): where the destination is on a local link (a veth, a bridge), the host's
 *   kernel has answered before sendto() returned, and the reply goes to the guest in the
 *   same turn as its request (IcmpEchoRepliesAtOnce), with no wake-up of the event loop
 *   for the socket's readability; else that read finds nothing (one EAGAIN) and the reply
 *   comes through the socket's readability watch.
 */
import net from 'node:net';
import { PingSocket, addressBytes, type PingSocketError } from '@netstack/host';
import { addressBytes as ipAddressBytes, formatAddress, ipv6FromBytes, parseIpAddress, readAddress, type InboundDatagram, type IpAddress, type Ipv4Address, type Ipv6Address } from '@netstack/ip';
import type { Stack } from '../stack.js';

/** What the relay needs of a host echo socket (PingSocket; tests pass their own). */
export interface EchoSocket {
  /** Sends one echo request with hop limit `ttl` (the kernel writes the identifier and checksum); the errno name when refused. */
  send(dst: Uint8Array, message: Uint8Array, ttl?: number): string | undefined;
  /** Reads the replies already queued, now, each to the factory's `onMessage` (PingSocket.receiveNow); optional. */
  receiveNow?(): number;
  close(): void;
}

/** Opens the host's echo socket of `family` (throws a coded Error when the host refuses: EACCES...); `onError` gets the ICMP errors about its requests (IP_RECVERR). */
export type EchoSocketFactory = (family: 4 | 6, onMessage: (message: Uint8Array, from: Uint8Array) => void, onError: (error: PingSocketError) => void) => EchoSocket;

/** What to do with one echo: relay it to `dst` (the destination, or a policy's rewrite), answer it here, or refuse it with ICMP. */
export type EchoRoute = { relay: string } | 'local' | { refuse: 'net-unreachable' | 'host-unreachable' | 'admin-prohibited' | 'drop'; why: 'policy' | 'host' };

export interface EchoRelayOptions {
  /** Echoes waiting for a reply at once (default 1024). */
  maxOutstanding?: number;
  /** Bytes of the requests kept while they wait (default 1 MiB). */
  maxBytes?: number;
  /** ms an echo waits for its reply (default 10 000, ping's -W). */
  timeout?: number;
  /** Where each echo goes. */
  route: (dst: string, family: 'IPv4' | 'IPv6', src: string, id: number) => EchoRoute;
  /**
   * The gateway's router address per family (10.0.2.2, fd00::2): an echo arriving with
   * TTL (hop limit) 1 is answered from it with time exceeded, as the router it is (RFC 1812
   * §5.3.1), and the others are relayed with one less, so a guest's `traceroute -I` sees
   * the gateway, then each hop beyond. Absent: relayed with the host's default TTL.
   */
  hop?: { 4?: string; 6?: string };
  /**
   * Open the host sockets now (IPv4, and IPv6 where the stack has it) rather than at the
   * first echo of each family, so that echo does not wait for them. A refusal now is
   * silent: the first echo tries again (and is refused, counted, as without this).
   */
  prepare?: boolean;
  /** The stack's clock (ms; default performance.now(), the stack's real clock): `timeout` is counted in it. */
  now?: () => number;
  /** The host socket (default: PingSocket.open, unref'd). */
  openSocket?: EchoSocketFactory;
}

export interface EchoRelayStats {
  /** Echo requests the guest sent to a foreign destination. */
  IcmpEchoRequests: number;
  /** Sent out through the host's echo socket. */
  IcmpEchoRelayed: number;
  /** Replies relayed back to the guest. */
  IcmpEchoReplies: number;
  /** Of IcmpEchoReplies, those already queued when their request had been sent: read at once, relayed in the same turn (a destination on a local link). */
  IcmpEchoRepliesAtOnce: number;
  /** Answered here (the gateway's own addresses). */
  IcmpEchoLocal: number;
  /** Refused: this host allows no ICMP echo socket (ping_group_range), or has none. */
  IcmpEchoRefusedSocket: number;
  /** Refused by the gateway's rules (loopback, unspecified destinations; the SOCKS5 mode). */
  IcmpEchoRefusedHost: number;
  /** Refused by the embedder's policy. */
  IcmpEchoRefusedPolicy: number;
  /** The host's sendto() refused it (answered with the matching unreachable, or dropped). */
  IcmpEchoSendErrors: number;
  /** Dropped: `maxOutstanding` or `maxBytes` reached, and no echo waiting a second or more to give way. */
  IcmpEchoDroppedLimit: number;
  /** Forgotten unanswered after a second or more, to make room for a new echo at a bound. */
  IcmpEchoEvicted: number;
  /** Forgotten with no reply after `timeout`. */
  IcmpEchoExpired: number;
  /** Replies from the host matching no echo waiting (late, or not from its destination). */
  IcmpEchoRepliesUnmatched: number;
  /** Replies whose data differs from the request's: dropped. */
  IcmpEchoRepliesCorrupt: number;
  /** ICMP errors from beyond (time exceeded, unreachable, fragmentation needed / packet too big) passed on to the guest from their sender. */
  IcmpEchoErrors: number;
  /** ICMP errors from beyond matching no echo waiting, or of a kind not passed on. */
  IcmpEchoErrorsUnmatched: number;
  /** Echoes with TTL 1 answered with time exceeded from the gateway's own address (`hop`). */
  IcmpEchoTtlExceeded: number;
  /** Echoes waiting now. */
  IcmpEchoOutstanding: number;
}

export interface EchoRelay {
  stats(): EchoRelayStats;
  close(): void;
}

/** Bytes charged per waiting echo beyond its request's: the entry, its Map slot, the addresses. */
const ENTRY_OVERHEAD = 200;
/** ms an echo must have waited to give way to a new one at a bound (ping's default interval; gateway.ts's STALE_MS for connections). */
const STALE_MS = 1000;

interface Waiting {
  family: 4 | 6;
  seq: number;
  /** The guest's request (a copy): the reply mirrors it. */
  request: InboundDatagram;
  /** Where it was relayed. */
  dst: Uint8Array;
  expires: number;
  bytes: number;
}

const defaultSocket: EchoSocketFactory = (family, onMessage, onError) => PingSocket.open({ family, onMessage, onError }).unref();

/** Bytes of the guest's datagram kept for an error's quote: its IP header and the ICMP message's start (RFC 792: at least 8; traceroute matches on id/seq). */
const QUOTE_DATA = 64;

/** ICMPv4 destination-unreachable codes as transports speak them; the IPv6 layer maps them (RFC 4443 §3.1). */
const UNREACH_CODE = { 'net-unreachable': 0, 'host-unreachable': 1, 'admin-prohibited': 13 } as const;

/** The key of a waiting echo: its family and the sequence number it was relayed with. */
function keyOf(family: 4 | 6, seq: number): number {
  return family * 0x10000 + seq;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Installs the relay on `stack` (anyAddress) as its foreignEcho hooks. */
export function startEchoRelay(stack: Stack, options: EchoRelayOptions): EchoRelay {
  const maxOutstanding = options.maxOutstanding ?? 1024;
  const maxBytes = options.maxBytes ?? 1024 * 1024;
  const timeout = options.timeout ?? 10_000;
  const open = options.openSocket ?? defaultSocket;
  const clock = options.now ?? (() => performance.now());
  const st: EchoRelayStats = {
    IcmpEchoRequests: 0, IcmpEchoRelayed: 0, IcmpEchoReplies: 0, IcmpEchoRepliesAtOnce: 0, IcmpEchoLocal: 0, IcmpEchoRefusedSocket: 0, IcmpEchoRefusedHost: 0,
    IcmpEchoRefusedPolicy: 0, IcmpEchoSendErrors: 0, IcmpEchoDroppedLimit: 0, IcmpEchoEvicted: 0, IcmpEchoExpired: 0,
    IcmpEchoRepliesUnmatched: 0, IcmpEchoRepliesCorrupt: 0, IcmpEchoErrors: 0, IcmpEchoErrorsUnmatched: 0,
    IcmpEchoTtlExceeded: 0, IcmpEchoOutstanding: 0,
  };
  /** By keyOf(family, seq), in the order sent (= the order they expire: one timeout for all). */
  const waiting = new Map<number, Waiting>();
  let bytes = 0;
  const nextSeq = { 4: 0, 6: 0 };
  const sockets: { 4: EchoSocket | undefined; 6: EchoSocket | undefined } = { 4: undefined, 6: undefined };
  let closed = false;

  const forget = (w: Waiting): void => {
    waiting.delete(keyOf(w.family, w.seq));
    bytes -= w.bytes;
    st.IcmpEchoOutstanding = waiting.size;
  };
  /** Forgets the echoes whose time is up (the oldest first: one timeout for all). No timer: run at each echo, reply and stats(). */
  const expire = (now: number): void => {
    for (const w of waiting.values()) {
      if (w.expires > now) break;
      forget(w);
      st.IcmpEchoExpired++;
    }
  };

  /** Room for an echo of `cost` bytes, the oldest stale echoes forgotten to make it (sent = expires - timeout). */
  const makeRoom = (cost: number, now: number): boolean => {
    for (const w of waiting.values()) {
      if (waiting.size < maxOutstanding && bytes + cost <= maxBytes) break;
      if (now - (w.expires - timeout) < STALE_MS) break;
      forget(w);
      st.IcmpEchoEvicted++;
    }
    return waiting.size < maxOutstanding && bytes + cost <= maxBytes;
  };

  const hopOf = (family: 4 | 6): IpAddress | undefined => {
    const t = options.hop?.[family];
    return t === undefined ? undefined : parseIpAddress(t);
  };
  const hop4 = hopOf(4);
  const hop6 = hopOf(6);

  /** An ICMP error from beyond about one of our requests (IP_RECVERR): to the guest, from its sender, quoting the guest's echo. */
  const onError = (family: 4 | 6, e: PingSocketError): void => {
    expire(clock());
    const m = e.message;
    const w = m.length >= 8 ? waiting.get(keyOf(family, (m[6]! << 8) | m[7]!)) : undefined;
    if (w === undefined) { st.IcmpEchoErrorsUnmatched++; return; }
    let sent: boolean;
    if (family === 4) {
      // RFC 792: 3 destination unreachable (code 4 with the next-hop MTU, RFC 1191), 11 time exceeded.
      if ((e.type !== 3 && e.type !== 11) || e.offender.length !== 4) { st.IcmpEchoErrorsUnmatched++; return; }
      sent = stack.icmp.relayError(e.type, e.code, e.info, w.request, readAddress(e.offender, 0), clock());
    } else {
      // RFC 4443: 1 destination unreachable, 2 packet too big (the MTU), 3 time exceeded.
      const from = e.offender.length === 16 ? ipv6FromBytes(e.offender) : undefined;
      if ((e.type !== 1 && e.type !== 2 && e.type !== 3) || from === undefined || stack.icmp6 === undefined) { st.IcmpEchoErrorsUnmatched++; return; }
      sent = stack.icmp6.relayError(e.type, e.code, e.info, w.request as InboundDatagram<Ipv6Address>, from, clock());
    }
    // The echo is answered (an error ends it): forgotten.
    forget(w);
    if (sent) st.IcmpEchoErrors++;
    stack.schedule();
  };

  /** A reply from the host socket of `family`. */
  const onReply = (family: 4 | 6, message: Uint8Array, from: Uint8Array): void => {
    // RFC 792 echo reply type 0 / RFC 4443 §4.2 type 129, code 0, at least the 8-byte header.
    if (message.length < 8 || message[0] !== (family === 4 ? 0 : 129)) { st.IcmpEchoRepliesUnmatched++; return; }
    expire(clock());
    const seq = (message[6]! << 8) | message[7]!;
    const w = waiting.get(keyOf(family, seq));
    if (w === undefined || !sameBytes(w.dst, from)) { st.IcmpEchoRepliesUnmatched++; return; }
    forget(w);
    if (!sameBytes(message.subarray(8), w.request.payload.subarray(8))) { st.IcmpEchoRepliesCorrupt++; return; }
    const ok = family === 4
      ? stack.icmp.answerForeignEcho(w.request as InboundDatagram<Ipv4Address>)
      : stack.icmp6?.answerForeignEcho(w.request as InboundDatagram<Ipv6Address>) ?? false;
    if (ok) st.IcmpEchoReplies++;
    stack.schedule();
  };

  const refuse = (d: InboundDatagram, kind: 'net-unreachable' | 'host-unreachable' | 'admin-prohibited' | 'drop', now: number): void => {
    if (kind !== 'drop') stack.dual.reportUnreachable(UNREACH_CODE[kind], d, now);
  };

  const hook = (family: 4 | 6) => (d: InboundDatagram, now: number): boolean => {
    if (closed) return false;
    st.IcmpEchoRequests++;
    expire(now);
    const p = d.payload;
    const dst = formatAddress(d.dst);
    let r: EchoRoute;
    try {
      r = options.route(dst, family === 4 ? 'IPv4' : 'IPv6', formatAddress(d.src), (p[4]! << 8) | p[5]!);
    } catch {
      r = { refuse: 'admin-prohibited', why: 'policy' };
    }
    if (r === 'local') {
      // The gateway's own addresses (10.0.2.2, 10.0.2.3): answered here, as slirp4netns does.
      const ok = family === 4 ? stack.icmp.answerForeignEcho(d as InboundDatagram<Ipv4Address>) : stack.icmp6?.answerForeignEcho(d as InboundDatagram<Ipv6Address>) ?? false;
      if (ok) st.IcmpEchoLocal++;
      return true;
    }
    if ('refuse' in r) {
      if (r.why === 'host') st.IcmpEchoRefusedHost++; else st.IcmpEchoRefusedPolicy++;
      refuse(d, r.refuse, now);
      return true;
    }
    // The destination as it came (the usual case) needs no parsing back from text.
    const to = r.relay === dst ? ipAddressBytes(d.dst) : addressBytes(r.relay);
    if (to === undefined || to.length !== (family === 4 ? 4 : 16) || (r.relay !== dst && net.isIP(r.relay) === 0)) {
      st.IcmpEchoRefusedPolicy++;
      refuse(d, 'admin-prohibited', now);
      return true;
    }
    // RFC 1812 §5.3.1: a router does not forward a datagram whose TTL it would take to 0.
    const hop = family === 4 ? hop4 : hop6;
    if (hop !== undefined && d.ttl <= 1) {
      const sent = family === 4
        ? stack.icmp.relayError(11, 0, 0, d as InboundDatagram<Ipv4Address>, hop as Ipv4Address, now)
        : stack.icmp6?.relayError(3, 0, 0, d as InboundDatagram<Ipv6Address>, hop as Ipv6Address, now) ?? false;
      if (sent) st.IcmpEchoTtlExceeded++;
      return true;
    }
    const quoteLength = Math.min(d.packet.length, d.headerLength + QUOTE_DATA);
    if (!makeRoom(p.length + quoteLength + ENTRY_OVERHEAD, now)) { st.IcmpEchoDroppedLimit++; return true; }
    let sock = sockets[family];
    if (sock === undefined) {
      try {
        sock = openSocket(family);
      } catch {
        // ping_group_range (EACCES), or no ICMP socket in this kernel: refused, never a raw socket.
        st.IcmpEchoRefusedSocket++;
        refuse(d, 'admin-prohibited', now);
        return true;
      }
    }
    // A sequence number not in use (at most maxOutstanding < 65536 are).
    let seq = nextSeq[family];
    for (let i = 0; i < 65536 && waiting.has(keyOf(family, seq)); i++) seq = (seq + 1) & 0xffff;
    if (waiting.has(keyOf(family, seq))) { st.IcmpEchoDroppedLimit++; return true; }
    nextSeq[family] = (seq + 1) & 0xffff;
    const out = p.slice();
    out[2] = 0; out[3] = 0; // checksum: the kernel's
    out[4] = 0; out[5] = 0; // identifier: the kernel's
    out[6] = seq >> 8; out[7] = seq & 0xff;
    const err = sock.send(to, out, hop !== undefined ? d.ttl - 1 : undefined);
    if (err !== undefined) {
      st.IcmpEchoSendErrors++;
      refuse(d, err === 'ENETUNREACH' ? 'net-unreachable' : err === 'EHOSTUNREACH' ? 'host-unreachable' : err === 'EACCES' || err === 'EPERM' ? 'admin-prohibited' : 'drop', now);
      return true;
    }
    st.IcmpEchoRelayed++;
    // The copy the reply mirrors: the guest's request as it came (payload; the addresses and
    // TOS), and the start of its datagram, which an error from beyond quotes.
    const request: InboundDatagram = {
      src: d.src, dst: d.dst, protocol: d.protocol, ttl: d.ttl, tos: d.tos, payload: p.slice(), packet: d.packet.slice(0, quoteLength),
      headerLength: d.headerLength, toBroadcast: false, reassembled: false, checksumVerified: false, foreign: true,
    };
    const w: Waiting = { family, seq, request, dst: to, expires: now + timeout, bytes: p.length + quoteLength + ENTRY_OVERHEAD };
    waiting.set(keyOf(family, seq), w);
    bytes += w.bytes;
    st.IcmpEchoOutstanding = waiting.size;
    // The reply may be there already (a local link: the kernel ran the destination's answer
    // before sendto() returned): relayed now, in this turn, rather than after the event
    // loop's next wake-up for the socket. Registered first, so the reply finds its echo.
    if (sock.receiveNow !== undefined) {
      const before = st.IcmpEchoReplies;
      sock.receiveNow();
      st.IcmpEchoRepliesAtOnce += st.IcmpEchoReplies - before;
    }
    return true;
  };

  /** Opens the host socket of `family` (throws what the factory throws). */
  const openSocket = (family: 4 | 6): EchoSocket => {
    const sock = open(family, (m, from) => onReply(family, m, from), (e) => onError(family, e));
    sockets[family] = sock;
    return sock;
  };
  if (options.prepare === true) {
    for (const f of stack.icmp6 !== undefined ? [4, 6] as const : [4] as const) {
      try { openSocket(f); } catch { /* refused now: the first echo tries again */ }
    }
  }

  stack.icmp.foreignEcho = hook(4);
  if (stack.icmp6 !== undefined) stack.icmp6.foreignEcho = hook(6) as (d: InboundDatagram<Ipv6Address>, now: number) => boolean;

  return {
    stats: () => { if (!closed) expire(clock()); return { ...st }; },
    close: () => {
      if (closed) return;
      closed = true;
      stack.icmp.foreignEcho = undefined;
      if (stack.icmp6 !== undefined) stack.icmp6.foreignEcho = undefined;
      waiting.clear();
      bytes = 0;
      st.IcmpEchoOutstanding = 0;
      for (const f of [4, 6] as const) { sockets[f]?.close(); sockets[f] = undefined; }
    },
  };
}
