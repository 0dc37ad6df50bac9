/**
 * The seed's "app B": a WireGuard tunnel on a TUN device. The kernel routes packets into the
 * device; each is encrypted to the peer whose allowed IPs hold its destination
 * (@netstack/wireguard's pure `WireGuardDevice`, cryptokey routing, whitepaper §2) and sent
 * in a UDP datagram through the kernel's own stack (node:dgram); a datagram from a peer is
 * authenticated and decrypted, and its inner packet written to the device for the kernel.
 *
 * The protocol knows no clock: time is `performance.now()` passed in, and one real timer is
 * armed at the device's `pollAt()` (unref'd, as the stack's: the device and the sockets keep
 * the process alive, not the timer).
 */
import dgram from 'node:dgram';
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { disableUdpGso, enableUdpGso, TunDevice, UDP_GSO_MAX_BYTES, UDP_GSO_MAX_SEGMENTS, type Link, type PacketMeta, type TunOptions } from '@netstack/tun';
import { forEachSegment } from './segment.js';
import { Coalescer } from './gro.js';
import {
  PrivateKey, WireGuardDevice,
  type Endpoint, type Outgoing, type PeerStatus, type Timers, type WireGuardStats,
} from '@netstack/wireguard';

export interface TunnelPeer {
  /** base64 (as wg) or 32 bytes. */
  publicKey: string | Uint8Array;
  presharedKey?: string | Uint8Array;
  /** Prefixes: '10.100.0.2/32', 'fd00:100::/64'. */
  allowedIPs: string[];
  /** An IP literal and port (resolve host names first). Without it the peer must reach us first. */
  endpoint?: Endpoint;
  /** Seconds (0 or absent: off). */
  persistentKeepalive?: number;
}

export interface TunnelOptions {
  /** A device (a `Link`) already open; the tunnel reads and writes it and leaves it open on close(). */
  device?: Link;
  /** Or: open a TUN device with these options (closed, so removed, on close()). `ipv4Only` is forced false. */
  tun?: TunOptions;
  privateKey: string | Uint8Array;
  /** UDP port for both families (default 0: the kernel picks one). */
  listenPort?: number;
  peers: TunnelPeer[];
  /** The tunnel MTU (inner packets; default the device's). */
  mtu?: number;
  /** Protocol timers, for tests (e.g. a short `rekeyAfterTime`). */
  timers?: Partial<Timers>;
  /**
   * Handshake messages with a valid mac1 per second beyond which the tunnel answers them
   * with cookie replies (whitepaper §5.3, "under load"; wireguard-go's test is its handshake
   * queue 1/8 full). Junk (a bad mac1) does not count: it costs one keyed BLAKE2s, not a DH.
   * Default 1000.
   */
  underLoadRate?: number;
  /**
   * With a device that has TSO and checksum offload (`tun.offload`), coalesce consecutive
   * inner TCP segments of a flow into super-segments before writing them (GRO-style). Default true.
   */
  coalesce?: boolean;
  /**
   * Datagrams that may wait in a socket's send queue (libuv queues a send the kernel's full
   * buffer refuses, without a bound of its own); beyond, dropped and counted, as a full
   * device queue would. Default 4096.
   */
  maxSendQueue?: number;
  /** Unref the UDP sockets: they do not keep the process alive (a stack on a WireGuard link decides that). */
  unref?: boolean;
  /**
   * Drop UDP packets from the tunnel's own port read from the device (its datagrams routed
   * back into it, TunRxLoopDrops) instead of encrypting them again. Default true; false for a
   * device whose UDP ports are not the kernel's (a userspace stack: createWireGuardLink).
   */
  dropOwnDatagrams?: boolean;
  /**
   * Send the datagrams cut from one TSO super-segment in one call, segmented by the kernel
   * (UDP GSO, `UDP_SEGMENT`; @netstack/tun enableUdpGso) instead of one `dgram.send` each.
   * Used only with a device that hands over super-segments; the first send the kernel refuses
   * (a path that cannot do it: IPsec, an underlay MTU below the datagrams) turns it off for
   * that socket (UdpTxGsoFallbacks). Default true.
   */
  udpGso?: boolean;
  /** UDP socket buffer sizes asked for (SO_RCVBUF/SO_SNDBUF; the kernel caps them at rmem_max/wmem_max). Default 4 MiB. */
  socketBufferSize?: number;
}

/** The adapter's own counters (the protocol's are in `wireguard`, the device's in `device`). */
export interface TunnelCounters {
  /** Packets read from the device and handed to the protocol. */
  TunRxPackets: number;
  TunRxBytes: number;
  /** Inner packets written to the device. */
  TunTxPackets: number;
  TunTxBytes: number;
  /** Inner packets the device refused (its counters say why). */
  TunTxDropped: number;
  UdpRxDatagrams: number;
  UdpRxBytes: number;
  UdpTxDatagrams: number;
  UdpTxBytes: number;
  /** Sends the kernel refused (the callback's error), or with no socket of the endpoint's family. */
  UdpTxErrors: number;
  /** Datagrams not sent because the socket's send queue (libuv's, behind a full kernel buffer) held `maxSendQueue` already. */
  UdpTxQueueDrops: number;
  /** Handshake messages with a valid mac1 handled as under load (junk does not count toward the load). */
  UdpRxUnderLoad: number;
  /** UDP GSO sends (several datagrams in one call) and the datagrams in them (also in UdpTxDatagrams). */
  UdpTxGsoSends: number;
  UdpTxGsoDatagrams: number;
  /** Sockets whose UDP GSO was turned off after the kernel refused a send (then sent one by one). */
  UdpTxGsoFallbacks: number;
  /** Times the timer fired. */
  TimerFires: number;
  /** TSO super-segments read from the device (offload on), and the segments cut from them. */
  TunRxGsoPackets: number;
  TunRxGsoSegments: number;
  /** Partial checksums completed (NEEDS_CSUM packets that were not super-segments). */
  TunRxCsumCompleted: number;
  /** Offloaded packets that could not be cut or completed (dropped). */
  TunRxOffloadErrors: number;
  /** Receive coalescing (offload on): super-segments written and the inner packets in them. */
  TunTxGroPackets: number;
  TunTxGroSegments: number;
  /**
   * UDP packets from the tunnel's own port read from the device: its datagrams routed into
   * itself (an endpoint behind a /0 with no underlay route), dropped rather than encrypted again.
   */
  TunRxLoopDrops: number;
}

export interface TunnelStats {
  tunnel: TunnelCounters;
  wireguard: WireGuardStats;
  device: ReturnType<Link['stats']>;
  /** The protocol's table sizes (peers, indices, staged packets, rate-limited sources…): their bounds are in @netstack/wireguard's README. */
  tables: WireGuardDevice['sizes'];
}

function newCounters(): TunnelCounters {
  return {
    TunRxPackets: 0, TunRxBytes: 0, TunTxPackets: 0, TunTxBytes: 0, TunTxDropped: 0,
    UdpRxDatagrams: 0, UdpRxBytes: 0, UdpTxDatagrams: 0, UdpTxBytes: 0, UdpTxErrors: 0, UdpTxQueueDrops: 0, UdpRxUnderLoad: 0,
    UdpTxGsoSends: 0, UdpTxGsoDatagrams: 0, UdpTxGsoFallbacks: 0,
    TimerFires: 0, TunRxGsoPackets: 0, TunRxGsoSegments: 0, TunRxCsumCompleted: 0, TunRxOffloadErrors: 0,
    TunTxGroPackets: 0, TunTxGroSegments: 0, TunRxLoopDrops: 0,
  };
}

/**
 * dgram's `lookup` for endpoints that are IP literals already (the config's host names are
 * resolved once, before the tunnel starts): answers at once. The default (dns.lookup) answers
 * an IP literal on the next tick, i.e. one deferred call per datagram sent.
 */
function literal(family: 4 | 6): (address: string, options: unknown, callback: (err: Error | null, address: string, family: number) => void) => void {
  return (address, _options, callback) => { callback(null, address, family); };
}

function bind(sock: dgram.Socket, port: number, address: string): Promise<void> {
  return new Promise((ok, fail) => {
    const onError = (err: Error): void => { fail(err); };
    sock.once('error', onError);
    sock.bind({ port, address, exclusive: true }, () => { sock.off('error', onError); ok(); });
  });
}

export class Tunnel {
  readonly device: Link;
  readonly wg: WireGuardDevice;
  readonly publicKey: string;
  readonly counters = newCounters();
  /** The UDP port both sockets listen on. */
  listenPort = 0;
  /** Why there is no IPv6 socket (undefined when there is one). */
  ipv6Unavailable: string | undefined;
  private readonly ownsDevice: boolean;
  private sock4: dgram.Socket | undefined;
  private sock6: dgram.Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private closedFlag = false;
  private loadSecond = 0;
  private loadCount = 0;
  private readonly underLoadRate: number;
  private loadNow = 0;
  /**
   * Under load (§5.3): the adapter's judgement, asked by the protocol for each handshake
   * message with a valid mac1 (those that can cost a DH). Counted per second of the clock;
   * past the rate, initiations and responses need a valid mac2, and get a cookie reply otherwise.
   */
  private readonly judgeLoad = (): boolean => {
    const second = Math.floor(this.loadNow / 1000);
    if (second !== this.loadSecond) { this.loadSecond = second; this.loadCount = 0; }
    const under = ++this.loadCount > this.underLoadRate;
    if (under) this.counters.UdpRxUnderLoad++;
    return under;
  };
  private readonly maxSendQueue: number;
  private readonly dropOwn: boolean;
  /** Where super-segments are cut (one at a time: encapsulate copies what it keeps). */
  private readonly scratch = new Uint8Array(65535);
  private segmentNow = 0;
  /** The datagrams of the super-segment being cut (sent together: `sendBatch`). */
  private readonly batch: Outgoing[] = [];
  private readonly emitSegment = (seg: Uint8Array): void => {
    for (const o of this.wg.encapsulate(seg, this.segmentNow)) this.batch.push(o);
  };
  /** UDP GSO segment size per socket (0: off): the largest datagram, tunnel MTU + 32. */
  private gso4 = 0;
  private gso6 = 0;
  private readonly wantGso: boolean;
  /** The tunnel MTU (inner packets). */
  private readonly mtu: number;
  private readonly onGsoSent4 = (err: Error | null): void => { if (err) this.gsoFailed(4); };
  private readonly onGsoSent6 = (err: Error | null): void => { if (err) this.gsoFailed(6); };
  /** GRO-style coalescing of inner packets towards the device (when it has TSO and checksum offload). */
  private readonly gro: Coalescer | undefined;
  private groScheduled = false;
  private readonly groFlush = (): void => {
    this.groScheduled = false;
    this.gro?.flush();
  };
  private readonly onSent = (err: Error | null): void => { if (err) this.counters.UdpTxErrors++; };

  /** Use createTunnel (it binds the sockets and starts the tunnel). */
  constructor(options: TunnelOptions, device: Link, ownsDevice: boolean) {
    this.device = device;
    this.ownsDevice = ownsDevice;
    this.underLoadRate = options.underLoadRate ?? 1000;
    this.maxSendQueue = options.maxSendQueue ?? 4096;
    this.dropOwn = options.dropOwnDatagrams !== false;
    this.wantGso = options.udpGso !== false;
    this.mtu = options.mtu ?? device.mtu;
    const raw = typeof options.privateKey === 'string' ? Uint8Array.from(Buffer.from(options.privateKey, 'base64')) : options.privateKey;
    this.wg = new WireGuardDevice({
      privateKey: raw,
      mtu: options.mtu ?? device.mtu,
      ...(options.timers !== undefined ? { timers: options.timers } : {}),
      peers: options.peers.map((p) => ({
        publicKey: p.publicKey,
        allowedIps: p.allowedIPs,
        ...(p.presharedKey !== undefined ? { presharedKey: p.presharedKey } : {}),
        ...(p.endpoint !== undefined ? { endpoint: { address: p.endpoint.address, port: p.endpoint.port } } : {}),
        ...(p.persistentKeepalive !== undefined ? { persistentKeepalive: p.persistentKeepalive } : {}),
      })),
    });
    this.publicKey = Buffer.from(new PrivateKey(raw).publicKey).toString('base64');
    this.gro = options.coalesce !== false && Coalescer.usable(device) ? new Coalescer(device) : undefined;
  }

  /** @internal */
  async start(options: TunnelOptions): Promise<void> {
    const size = options.socketBufferSize ?? 4 << 20;
    const s4 = dgram.createSocket({ type: 'udp4', recvBufferSize: size, sendBufferSize: size, lookup: literal(4) });
    this.sock4 = s4;
    await bind(s4, options.listenPort ?? 0, '0.0.0.0');
    this.listenPort = s4.address().port;
    s4.on('message', (msg, rinfo) => { this.datagram(msg, rinfo); });
    s4.on('error', () => { this.counters.UdpTxErrors++; });
    const s6 = dgram.createSocket({ type: 'udp6', ipv6Only: true, recvBufferSize: size, sendBufferSize: size, lookup: literal(6) });
    try {
      await bind(s6, this.listenPort, '::');
      this.sock6 = s6;
      s6.on('message', (msg, rinfo) => { this.datagram(msg, rinfo); });
      s6.on('error', () => { this.counters.UdpTxErrors++; });
    } catch (err) {
      // IPv6 off in this namespace (EAFNOSUPPORT, EADDRNOTAVAIL): IPv4 endpoints only.
      this.ipv6Unavailable = `no IPv6 UDP socket: ${(err as Error & { code?: string }).code ?? (err as Error).message}`;
      s6.close();
    }
    // UDP GSO only where super-segments come from the device (its TSO): the cuts are same-sized datagrams.
    const o = this.device.offload;
    if (this.wantGso && o !== undefined && (o.tso4 || o.tso6 === true)) {
      const size = this.mtu + 32; // transport header 16 + tag 16 around a payload padded at most to the MTU
      if (enableUdpGso(s4, size)) this.gso4 = size;
      if (this.sock6 !== undefined && enableUdpGso(this.sock6, size)) this.gso6 = size;
    }
    if (options.unref === true) {
      s4.unref();
      this.sock6?.unref();
    }
    this.device.setReceiver({ packet: (p, meta) => { this.packet(p, meta); } });
    // Peers with an endpoint and a persistent keepalive start at once (wg does the same on `up`).
    const now = performance.now();
    for (const k of this.wg.peerKeys()) {
      const st = this.wg.peer(k);
      if (st?.endpoint !== undefined && st.persistentKeepalive > 0) this.send(this.wg.initiateHandshake(k, now));
    }
    this.arm();
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** A packet the kernel routed into the device: encrypt it to its peer. */
  private packet(p: Uint8Array, meta?: PacketMeta): void {
    if (this.closedFlag) return;
    const c = this.counters;
    c.TunRxPackets++;
    c.TunRxBytes += p.length;
    if (this.dropOwn && isFromPort(p, this.listenPort)) {
      c.TunRxLoopDrops++;
      return;
    }
    const now = performance.now();
    if (meta !== undefined && (meta.gsoType !== 0 || meta.csumPartial)) {
      // Offloads on: cut a TSO super-segment into MSS-sized segments, or complete a partial
      // checksum, before encryption (the far end's kernel verifies what it gets).
      this.segmentNow = now;
      const n = forEachSegment(p, meta.gsoType, meta.gsoSize, meta.csumPartial, this.scratch, this.emitSegment);
      this.sendBatch(this.batch);
      this.batch.length = 0;
      if (n < 0) c.TunRxOffloadErrors++;
      else if (meta.gsoType !== 0) { c.TunRxGsoPackets++; c.TunRxGsoSegments += n; } else c.TunRxCsumCompleted++;
    } else {
      this.send(this.wg.encapsulate(p, now));
    }
    this.arm();
  }

  private datagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (this.closedFlag) return;
    const c = this.counters;
    c.UdpRxDatagrams++;
    c.UdpRxBytes += msg.length;
    const now = performance.now();
    this.loadNow = now;
    const inner = this.wg.decapsulate(new Uint8Array(msg.buffer, msg.byteOffset, msg.length), { address: rinfo.address, port: rinfo.port }, now, this.judgeLoad);
    this.send(this.wg.takeOutgoing());
    if (inner !== undefined && this.gro !== undefined) {
      // Coalesced with the next ones of this batch of datagrams; written at the latest once
      // the event loop has delivered the batch (setImmediate runs after the poll phase).
      c.TunTxPackets++;
      c.TunTxBytes += inner.length;
      this.gro.add(inner);
      if (!this.groScheduled) {
        this.groScheduled = true;
        setImmediate(this.groFlush);
      }
    } else if (inner !== undefined) {
      if (this.device.send(inner)) {
        c.TunTxPackets++;
        c.TunTxBytes += inner.length;
      } else {
        c.TunTxDropped++;
      }
    }
    this.arm();
  }

  /**
   * Datagrams in order, those of a run to one endpoint sent in one UDP GSO call where the
   * socket has it: every datagram of the run but the last exactly the segment size, the last
   * at most that, within the kernel's bounds; anything else one by one (`send`).
   */
  private sendBatch(out: Outgoing[]): void {
    let i = 0;
    while (i < out.length) {
      const first = out[i]!;
      const v6 = isIP(first.endpoint.address) === 6;
      const size = v6 ? this.gso6 : this.gso4;
      const sock = v6 ? this.sock6 : this.sock4;
      if (size === 0 || sock === undefined || first.datagram.length !== size) {
        this.sendOne(first);
        i++;
        continue;
      }
      const max = Math.min(UDP_GSO_MAX_SEGMENTS, Math.floor(UDP_GSO_MAX_BYTES / size));
      let j = i + 1;
      while (j < out.length && j - i < max) {
        const o = out[j]!;
        if (o.endpoint.port !== first.endpoint.port || o.endpoint.address !== first.endpoint.address || o.datagram.length > size) break;
        j++;
        if (o.datagram.length < size) break; // a shorter datagram ends the run
      }
      if (j - i === 1) {
        this.sendOne(first);
        i = j;
        continue;
      }
      const c = this.counters;
      const k = j - i;
      if (sock.getSendQueueCount() >= this.maxSendQueue) {
        c.UdpTxQueueDrops += k;
        i = j;
        continue;
      }
      const list: Uint8Array[] = [];
      let bytes = 0;
      for (let x = i; x < j; x++) {
        const d = out[x]!.datagram;
        list.push(d);
        bytes += d.length;
      }
      c.UdpTxDatagrams += k;
      c.UdpTxBytes += bytes;
      c.UdpTxGsoSends++;
      c.UdpTxGsoDatagrams += k;
      sock.send(list, first.endpoint.port, first.endpoint.address, v6 ? this.onGsoSent6 : this.onGsoSent4);
      i = j;
    }
  }

  /** A GSO send refused (EIO, EINVAL: the path cannot): that socket sends one by one from now on. */
  private gsoFailed(family: 4 | 6): void {
    const c = this.counters;
    c.UdpTxErrors++;
    const sock = family === 6 ? this.sock6 : this.sock4;
    if ((family === 6 ? this.gso6 : this.gso4) === 0) return;
    if (family === 6) this.gso6 = 0;
    else this.gso4 = 0;
    c.UdpTxGsoFallbacks++;
    // UDP_SEGMENT 0: off again for every send on the socket (a single datagram then fragments as before).
    if (sock !== undefined && !this.closedFlag) disableUdpGso(sock);
  }

  private sendOne(o: Outgoing): void {
    const c = this.counters;
    const v6 = isIP(o.endpoint.address) === 6;
    const sock = v6 ? this.sock6 : this.sock4;
    if (sock === undefined) {
      c.UdpTxErrors++;
      return;
    }
    if (sock.getSendQueueCount() >= this.maxSendQueue) {
      c.UdpTxQueueDrops++;
      return;
    }
    c.UdpTxDatagrams++;
    c.UdpTxBytes += o.datagram.length;
    // With GSO on, a refused single send (a datagram beyond the path MTU) turns it off too.
    const gso = v6 ? this.gso6 : this.gso4;
    sock.send(o.datagram, o.endpoint.port, o.endpoint.address, gso === 0 ? this.onSent : v6 ? this.onGsoSent6 : this.onGsoSent4);
  }

  private send(out: Outgoing[]): void {
    for (const o of out) this.sendOne(o);
  }

  /** One timer, at the protocol's earliest deadline; re-armed only when that comes sooner. */
  private arm(): void {
    if (this.closedFlag) return;
    const at = this.wg.pollAt();
    if (at >= this.timerAt) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerAt = at;
    if (at === Infinity) { this.timer = undefined; return; }
    this.timer = setTimeout(this.fire, Math.max(0, Math.ceil(at - performance.now()))).unref();
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.timerAt = Infinity;
    if (this.closedFlag) return;
    this.counters.TimerFires++;
    this.send(this.wg.poll(performance.now()));
    this.arm();
  };

  stats(): TunnelStats {
    const g = this.gro?.stats;
    const tunnel = { ...this.counters };
    if (g !== undefined) {
      tunnel.TunTxGroPackets = g.GroPackets;
      tunnel.TunTxGroSegments = g.GroSegments;
      tunnel.TunTxDropped += g.GroDropped;
    }
    return { tunnel, wireguard: { ...this.wg.stats }, device: this.device.stats(), tables: this.wg.sizes };
  }

  /** Each peer's status (`wg show`'s fields); `lastHandshake` is on the `performance.now()` clock. */
  peers(): PeerStatus[] {
    return this.wg.peerKeys().map((k) => this.wg.peer(k)).filter((p): p is PeerStatus => p !== undefined);
  }

  /** A `wg show`-like text. */
  status(name = 'name' in this.device ? String((this.device as { name: unknown }).name) : 'tunnel'): string {
    const now = performance.now();
    const lines = [`interface: ${name}`, `  public key: ${this.publicKey}`, '  private key: (hidden)', `  listening port: ${this.listenPort}`];
    for (const p of this.peers()) {
      lines.push('', `peer: ${p.publicKey}`);
      if (p.endpoint !== undefined) lines.push(`  endpoint: ${isIP(p.endpoint.address) === 6 ? `[${p.endpoint.address}]` : p.endpoint.address}:${p.endpoint.port}`);
      lines.push(`  allowed ips: ${p.allowedIps.length > 0 ? p.allowedIps.map(canonical).join(', ') : '(none)'}`);
      if (p.lastHandshake !== undefined) lines.push(`  latest handshake: ${ago(now - p.lastHandshake)}`);
      if (p.rxBytes > 0 || p.txBytes > 0) lines.push(`  transfer: ${bytes(p.rxBytes)} received, ${bytes(p.txBytes)} sent`);
      if (p.persistentKeepalive > 0) lines.push(`  persistent keepalive: every ${p.persistentKeepalive} seconds`);
    }
    return lines.join('\n');
  }

  /** Stops the timer, closes both sockets, and closes the device if the tunnel opened it (which removes it). Idempotent. */
  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.device.setReceiver({ packet: () => {} });
    for (const s of [this.sock4, this.sock6]) {
      try { s?.close(); } catch { /* already closed */ }
    }
    if (this.ownsDevice) this.device.close();
  }
}

/**
 * An unfragmented (or first-fragment) UDP packet whose source port is `port`: the tunnel's own
 * datagram come back through the device. IPv4 with its options; IPv6 with UDP right after the
 * fixed header (the kernel's own UDP has no extension headers).
 */
function isFromPort(p: Uint8Array, port: number): boolean {
  const v = p[0]! >> 4;
  let l4: number;
  if (v === 4) {
    if (p[9] !== 17 || (((p[6]! & 0x1f) << 8) | p[7]!) !== 0) return false;
    l4 = (p[0]! & 0x0f) * 4;
  } else if (v === 6) {
    if (p[6] !== 17) return false;
    l4 = 40;
  } else {
    return false;
  }
  return p.length >= l4 + 8 && ((p[l4]! << 8) | p[l4 + 1]!) === port;
}

/** A prefix as wg shows it (RFC 5952 IPv6 text). */
function canonical(prefix: string): string {
  try {
    const [addr, len] = ipaddr.parseCIDR(prefix);
    return `${addr.toString()}/${len}`;
  } catch {
    return prefix;
  }
}

function ago(ms: number): string {
  let s = Math.max(0, Math.floor(ms / 1000));
  if (s === 0) return 'Now';
  const parts: string[] = [];
  for (const [unit, n] of [['hour', 3600], ['minute', 60], ['second', 1]] as const) {
    const v = Math.floor(s / n);
    s -= v * n;
    if (v > 0) parts.push(`${v} ${unit}${v === 1 ? '' : 's'}`);
  }
  return `${parts.join(', ')} ago`;
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return i === 0 ? `${n} B` : `${v.toFixed(2)} ${units[i]}`;
}

/**
 * Opens (or takes) the device, binds the UDP sockets (IPv4 and, where the namespace has it,
 * IPv6, on one port), and starts forwarding. Rejects (closing what it opened) if a socket
 * cannot bind or the options are wrong.
 */
export async function createTunnel(options: TunnelOptions): Promise<Tunnel> {
  if ((options.device === undefined) === (options.tun === undefined)) throw new TypeError('createTunnel: give exactly one of device and tun');
  const device = options.device ?? TunDevice.open({ ...options.tun, ipv4Only: false });
  let t: Tunnel | undefined;
  try {
    t = new Tunnel(options, device, options.device === undefined);
    await t.start(options);
    return t;
  } catch (err) {
    if (t !== undefined) t.close();
    else if (options.device === undefined) device.close();
    throw err;
  }
}
