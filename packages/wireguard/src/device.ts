/**
 * A WireGuard interface as a pure object: peers, the index table, sessions, timers and
 * cryptokey routing, with no socket, no device and no clock. The adapter that owns a UDP
 * socket and a TUN device (or a netstack) does four things:
 *
 *   wg.encapsulate(innerPacket, now)            -> datagrams to send ({ endpoint, datagram }[])
 *   wg.decapsulate(datagram, from, now, load?)  -> the inner packet, or undefined
 *   wg.takeOutgoing()                           -> datagrams that receive produced (responses,
 *                                                  keepalives, packets released by a new session)
 *   wg.pollAt() / wg.poll(now)                  -> the earliest timer deadline; run due timers
 *
 * `now` is in milliseconds on any monotonic clock (performance.now(), a virtual clock).
 * TAI64N timestamps need wall-clock time: `now + wallClockOffset` (an option; by default
 * Date.now() - performance.now() read once at construction).
 *
 * Bad input is dropped and counted (`stats`), never thrown: every datagram handed to
 * `decapsulate` ends in exactly one In* counter after InDatagrams. Tables are bounded:
 * peers (`maxPeers`), the index table (4 entries per peer: a handshake and 3 sessions), the
 * allowed IPs (`maxAllowedIps`), the staged packets per peer (`maxStaged`), the outbox
 * (`maxOutgoing`).
 *
 * Timers follow wireguard-go's timers.go (itself the Linux kernel's timers.c): see `Timers`.
 */
import { randomBytes } from 'node:crypto';
import { AllowedIps, parseIp } from './allowedips.js';
import { counterNonce, openRaw, PrivateKey, sealRaw, TAG_LEN } from './crypto.js';
import {
  emitCookieReply, emitInitiation, emitResponse, emitTransportHeader, INITIATION_LEN, MessageType, messageType,
  parseCookieReply, parseInitiation, parseResponse, readCounter, readU32LE, RESPONSE_LEN, TRANSPORT_HEADER_LEN,
} from './messages.js';
import {
  addMacs, checkMac1, checkMac2, clearHandshake, consumeCookieReply, consumeInitiation, consumeResponse, createCookieReply,
  createInitiation, createResponse, deriveKeys, newCookieChecker, newCookieGenerator, newHandshake, openInitiation,
  type CookieChecker, type CookieGenerator, type Handshake, type Identity,
} from './noise.js';
import { RateLimiter } from './ratelimiter.js';
import { ReplayWindow } from './replay.js';

/** Where a datagram came from or goes to (the outer UDP address). */
export interface Endpoint {
  address: string;
  port: number;
}

export interface Outgoing {
  endpoint: Endpoint;
  datagram: Uint8Array;
}

/** The protocol's timing constants (whitepaper §6.1, wireguard-go constants.go), in ms. Overridable for tests. */
export interface Timers {
  rekeyAfterMessages: number;
  rejectAfterMessages: number;
  rekeyAfterTime: number;
  rejectAfterTime: number;
  rekeyAttemptTime: number;
  rekeyTimeout: number;
  /** Retransmissions and new handshakes wait up to this much more, at random (wireguard-go: 334 ms). */
  rekeyTimeoutJitterMax: number;
  keepaliveTimeout: number;
  cookieRefreshTime: number;
  /** At most one initiation per peer accepted per this interval (wireguard-go: 20 ms, 50/s). */
  handshakeInitiationRate: number;
}

export const DEFAULT_TIMERS: Readonly<Timers> = {
  rekeyAfterMessages: 2 ** 60,
  // The whitepaper's 2^64 - 2^13 - 1 is beyond a JS number's integers; the counter is a
  // number, so the hard limit is 2^53 - 1 (unreachable within REJECT_AFTER_TIME anyway).
  rejectAfterMessages: Number.MAX_SAFE_INTEGER,
  rekeyAfterTime: 120_000,
  rejectAfterTime: 180_000,
  rekeyAttemptTime: 90_000,
  rekeyTimeout: 5_000,
  rekeyTimeoutJitterMax: 334,
  keepaliveTimeout: 10_000,
  cookieRefreshTime: 120_000,
  handshakeInitiationRate: 20,
};

export interface PeerConfig {
  /** The peer's static public key: 32 bytes or base64 (as in wg's config). */
  publicKey: Uint8Array | string;
  presharedKey?: Uint8Array | string;
  /** Prefixes as text: '10.0.0.2/32', 'fd00::/64'. */
  allowedIps?: string[];
  endpoint?: Endpoint;
  /** Seconds; 0 or absent: off. */
  persistentKeepalive?: number;
}

export interface WireGuardOptions {
  privateKey: Uint8Array | string;
  peers?: PeerConfig[];
  /** The tunnel MTU: transport payloads are padded to a multiple of 16 up to it (default 1420). */
  mtu?: number;
  timers?: Partial<Timers>;
  /** Uniform in [0, 1): the timers' jitter (pass a seeded generator for reproducible traces). */
  random?: () => number;
  /** Random bytes: ephemeral keys, indices, cookie secrets and nonces (default crypto.randomBytes). */
  randomBytes?: (n: number) => Uint8Array;
  /** Added to `now` to get Unix-epoch milliseconds for TAI64N. */
  wallClockOffset?: number;
  maxPeers?: number;
  maxAllowedIps?: number;
  /** Packets waiting for a session, per peer (wireguard-go: 128). */
  maxStaged?: number;
  maxOutgoing?: number;
  /**
   * Under load, handshake messages with a valid mac2 per source (an IPv4 address, an IPv6
   * /64) and second, with bursts of `burst` (wireguard-go: 20 and 5), remembering at most
   * `maxSources` sources (default 8192; a new source beyond is refused).
   */
  rateLimit?: { perSecond?: number; burst?: number; maxSources?: number };
}

/** The counters: every datagram in ends in exactly one of the In* after InDatagrams. */
export interface WireGuardStats {
  InDatagrams: number;
  /** Unknown type, wrong length, nonzero reserved bytes. */
  InHdrErrors: number;
  InMac1Errors: number;
  /** Under load without a valid mac2: answered with a cookie reply, not processed. */
  InCookieChallenges: number;
  /** An initiation or response that does not decrypt, names no known peer or index, or comes in the wrong state. */
  InHandshakeErrors: number;
  /** An initiation whose TAI64N is not newer than the last one accepted from that peer. */
  InHandshakeReplays: number;
  InHandshakeFloods: number;
  /** Under load, a handshake message with a valid mac2 beyond its source's rate (or from a new source with the table full). */
  InRateLimited: number;
  InInitiations: number;
  InResponses: number;
  InCookieReplies: number;
  InCookieErrors: number;
  InUnknownIndex: number;
  /** A transport message for a session older than REJECT_AFTER_TIME. */
  InExpired: number;
  InDecryptErrors: number;
  /** Counter seen before, too old for the window, or past REJECT_AFTER_MESSAGES. */
  InReplays: number;
  InKeepalives: number;
  InDataPackets: number;
  /** Inner source not in the allowed IPs of the peer it came from. */
  InSourceErrors: number;
  /** Inner packet neither a well-formed IPv4 nor IPv6 header. */
  InInnerErrors: number;
  InInternalErrors: number;
  OutDataPackets: number;
  OutKeepalives: number;
  OutInitiations: number;
  OutResponses: number;
  OutCookieReplies: number;
  /** No peer's allowed IPs contain the destination. */
  OutNoRoutes: number;
  OutInnerErrors: number;
  /** A message for a peer with no known endpoint. */
  OutNoEndpoint: number;
  /** Packets dropped from a peer's staging queue (full, or the handshake given up). */
  OutStagedDrops: number;
  OutHandshakeFailures: number;
  OutQueueDrops: number;
}

function zeroStats(): WireGuardStats {
  return {
    InDatagrams: 0, InHdrErrors: 0, InMac1Errors: 0, InCookieChallenges: 0, InHandshakeErrors: 0, InHandshakeReplays: 0,
    InHandshakeFloods: 0, InRateLimited: 0, InInitiations: 0, InResponses: 0, InCookieReplies: 0, InCookieErrors: 0, InUnknownIndex: 0,
    InExpired: 0, InDecryptErrors: 0, InReplays: 0, InKeepalives: 0, InDataPackets: 0, InSourceErrors: 0, InInnerErrors: 0,
    InInternalErrors: 0, OutDataPackets: 0, OutKeepalives: 0, OutInitiations: 0, OutResponses: 0, OutCookieReplies: 0,
    OutNoRoutes: 0, OutInnerErrors: 0, OutNoEndpoint: 0, OutStagedDrops: 0, OutHandshakeFailures: 0, OutQueueDrops: 0,
  };
}

/** One direction pair of transport keys (wireguard-go's Keypair). */
class Keypair {
  sendCounter = 0;
  readonly replay = new ReplayWindow();
  constructor(
    readonly send: Uint8Array,
    readonly receive: Uint8Array,
    readonly isInitiator: boolean,
    readonly created: number,
    readonly localIndex: number,
    readonly remoteIndex: number,
  ) {}
}

/** A peer's state. Times are ms; Infinity means a timer is not pending. */
class Peer {
  readonly handshake: Handshake = newHandshake();
  readonly identity: Identity;
  readonly cookies: CookieGenerator;
  readonly key: string;
  endpoint: Endpoint | undefined;
  persistentKeepalive: number; // ms, 0 = off
  current: Keypair | undefined;
  previous: Keypair | undefined;
  next: Keypair | undefined;
  staged: Uint8Array[] = [];
  // timers.go
  retransmitHandshakeAt = Infinity;
  sendKeepaliveAt = Infinity;
  newHandshakeAt = Infinity;
  zeroKeyMaterialAt = Infinity;
  persistentKeepaliveAt = Infinity;
  handshakeAttempts = 0;
  needAnotherKeepalive = false;
  sentLastMinuteHandshake = false;
  lastHandshake = -Infinity;
  rxBytes = 0;
  txBytes = 0;

  constructor(local: PrivateKey, remote: Uint8Array, psk: Uint8Array, endpoint: Endpoint | undefined, keepaliveMs: number) {
    this.key = Buffer.from(remote).toString('base64');
    this.identity = { localStatic: local, remoteStatic: remote, presharedKey: psk, staticStatic: local.dh(remote) };
    this.cookies = newCookieGenerator(remote);
    this.endpoint = endpoint;
    this.persistentKeepalive = keepaliveMs;
  }
}

/** What `peer()` reports, like one peer of `wg show`. */
export interface PeerStatus {
  publicKey: string;
  endpoint: Endpoint | undefined;
  allowedIps: string[];
  /** `now` of the last completed handshake, or undefined. */
  lastHandshake: number | undefined;
  rxBytes: number;
  txBytes: number;
  persistentKeepalive: number;
  hasSession: boolean;
}

interface IndexEntry {
  peer: Peer;
  keypair: Keypair | undefined; // undefined: the peer's handshake
}

function key32(k: Uint8Array | string, what: string): Uint8Array {
  const b = typeof k === 'string' ? Uint8Array.from(Buffer.from(k, 'base64')) : k;
  if (b.length !== 32) throw Object.assign(new TypeError(`${what} must be 32 bytes (or their base64)`), { code: 'ERR_INVALID_ARG_VALUE' });
  return Uint8Array.from(b);
}

/** The source address bytes ‖ port (little endian, as wireguard-go's netip.AddrPort) for cookies. */
function sourceBytes(e: Endpoint): Uint8Array {
  const ip = parseIp(e.address) ?? new Uint8Array(0);
  const out = new Uint8Array(ip.length + 2);
  out.set(ip);
  out[ip.length] = e.port & 0xff;
  out[ip.length + 1] = (e.port >> 8) & 0xff;
  return out;
}

const PADDING = 16;

export class WireGuardDevice {
  readonly stats: WireGuardStats = zeroStats();
  readonly publicKey: Uint8Array;
  private readonly local: PrivateKey;
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly randomBytes: (n: number) => Uint8Array;
  private readonly wallClockOffset: number;
  private readonly mtu: number;
  private readonly maxPeers: number;
  private readonly maxStaged: number;
  private readonly maxOutgoing: number;
  private readonly peers = new Map<string, Peer>();
  private readonly index = new Map<number, IndexEntry>();
  private readonly allowed: AllowedIps<Peer>;
  private readonly checker: CookieChecker;
  private readonly limiter: RateLimiter;
  private outbox: Outgoing[] = [];

  constructor(options: WireGuardOptions) {
    this.local = new PrivateKey(key32(options.privateKey, 'privateKey'));
    this.publicKey = this.local.publicKey;
    this.timers = { ...DEFAULT_TIMERS, ...options.timers };
    this.random = options.random ?? Math.random;
    this.randomBytes = options.randomBytes ?? ((n) => randomBytes(n));
    this.wallClockOffset = options.wallClockOffset ?? Date.now() - performance.now();
    this.mtu = options.mtu ?? 1420;
    this.maxPeers = options.maxPeers ?? 1024;
    this.maxStaged = options.maxStaged ?? 128;
    this.maxOutgoing = options.maxOutgoing ?? 4096;
    this.allowed = new AllowedIps(options.maxAllowedIps ?? 65536);
    this.checker = newCookieChecker(this.publicKey);
    const rl = options.rateLimit;
    this.limiter = new RateLimiter(rl?.perSecond ?? 20, rl?.burst ?? 5, rl?.maxSources ?? 8192);
    for (const p of options.peers ?? []) this.addPeer(p);
  }

  // ------------------------------------------------------------ configuration

  /** Adds (or replaces) a peer. Throws on a bad key or prefix, or past `maxPeers`. `now` arms a persistent keepalive at once. */
  addPeer(config: PeerConfig, now?: number): void {
    const remote = key32(config.publicKey, 'publicKey');
    const k = Buffer.from(remote).toString('base64');
    if (this.peers.has(k)) this.removePeer(k);
    if (this.peers.size >= this.maxPeers) throw Object.assign(new RangeError(`at most ${this.maxPeers} peers`), { code: 'ERR_OUT_OF_RANGE' });
    const psk = config.presharedKey === undefined ? new Uint8Array(32) : key32(config.presharedKey, 'presharedKey');
    const peer = new Peer(this.local, remote, psk, config.endpoint, (config.persistentKeepalive ?? 0) * 1000);
    this.peers.set(k, peer);
    try {
      for (const prefix of config.allowedIps ?? []) this.allowed.insert(prefix, peer);
    } catch (err) {
      this.removePeer(k); // all or nothing
      throw err;
    }
    // wireguard-go sends a keepalive when a peer with persistent keepalive comes up.
    if (peer.persistentKeepalive > 0 && now !== undefined) peer.persistentKeepaliveAt = now;
  }

  removePeer(publicKey: Uint8Array | string): boolean {
    const k = typeof publicKey === 'string' ? publicKey : Buffer.from(publicKey).toString('base64');
    const peer = this.peers.get(k);
    if (peer === undefined) return false;
    this.zeroKeyMaterial(peer);
    this.allowed.removeValue(peer);
    this.peers.delete(k);
    return true;
  }

  /** Sets a peer's endpoint (as `wg set … endpoint`). */
  setEndpoint(publicKey: Uint8Array | string, endpoint: Endpoint): void {
    const peer = this.peerOf(publicKey);
    if (peer !== undefined) peer.endpoint = endpoint;
  }

  peer(publicKey: Uint8Array | string): PeerStatus | undefined {
    const p = this.peerOf(publicKey);
    if (p === undefined) return undefined;
    return {
      publicKey: p.key, endpoint: p.endpoint, allowedIps: this.allowed.entries(p),
      lastHandshake: p.lastHandshake === -Infinity ? undefined : p.lastHandshake,
      rxBytes: p.rxBytes, txBytes: p.txBytes, persistentKeepalive: p.persistentKeepalive / 1000,
      hasSession: p.current !== undefined,
    };
  }

  peerKeys(): string[] {
    return [...this.peers.keys()];
  }

  /** Table sizes, for the bounds tests. */
  get sizes(): { peers: number; indices: number; allowedIps: number; staged: number; outgoing: number; rateLimitedSources: number } {
    let staged = 0;
    for (const p of this.peers.values()) staged += p.staged.length;
    return {
      peers: this.peers.size, indices: this.index.size, allowedIps: this.allowed.size, staged, outgoing: this.outbox.length,
      rateLimitedSources: this.limiter.size,
    };
  }

  private peerOf(publicKey: Uint8Array | string): Peer | undefined {
    return this.peers.get(typeof publicKey === 'string' ? publicKey : Buffer.from(publicKey).toString('base64'));
  }

  // ------------------------------------------------------------ the adapter's calls

  /**
   * An inner IP packet to send: routed by destination through the allowed IPs to a peer,
   * encrypted when a session is up, else staged while a handshake starts. Returns (and
   * drains) everything that is to be sent now.
   */
  encapsulate(packet: Uint8Array, now: number): Outgoing[] {
    try {
      const dst = innerDestination(packet);
      if (dst === undefined) {
        this.stats.OutInnerErrors++;
      } else {
        const peer = this.allowed.lookup(dst);
        if (peer === undefined) this.stats.OutNoRoutes++;
        else if (peer.staged.length === 0 && peer.endpoint !== undefined && this.usable(peer.current, now)) {
          this.sendPackets(peer, peer.current!, [packet], now); // the fast path: no copy, no queue
        } else {
          this.stage(peer, Uint8Array.from(packet));
          this.sendStaged(peer, now);
        }
      }
    } catch {
      this.stats.InInternalErrors++;
    }
    return this.takeOutgoing();
  }

  /** Initiates a handshake with a peer now (as a first packet would). */
  initiateHandshake(publicKey: Uint8Array | string, now: number): Outgoing[] {
    try {
      const peer = this.peerOf(publicKey);
      if (peer !== undefined) this.sendInitiation(peer, now, false);
    } catch {
      this.stats.InInternalErrors++;
    }
    return this.takeOutgoing();
  }

  /**
   * A datagram received from `from`. Returns the inner packet to deliver, or undefined
   * (a handshake message, a keepalive, or a drop: see `stats`). Anything it makes to send
   * waits in `takeOutgoing()`. `underLoad`: the adapter's judgement (wireguard-go: a
   * handshake queue over 1/8 full); then handshake messages need a valid mac2 (§5.3). As a
   * function it is asked only for a handshake message whose mac1 is valid (the ones that
   * can cost a DH), so junk, dropped for about the cost of one keyed BLAKE2s, never makes
   * the real peers pay a cookie round trip.
   */
  decapsulate(datagram: Uint8Array, from: Endpoint, now: number, underLoad: boolean | (() => boolean) = false): Uint8Array | undefined {
    this.stats.InDatagrams++;
    try {
      switch (messageType(datagram)) {
        case MessageType.Transport: return this.receiveTransport(datagram, from, now);
        case MessageType.Initiation: this.receiveInitiation(datagram, from, now, underLoad); return undefined;
        case MessageType.Response: this.receiveResponse(datagram, from, now, underLoad); return undefined;
        case MessageType.CookieReply: this.receiveCookieReply(datagram, now); return undefined;
        default: this.stats.InHdrErrors++; return undefined;
      }
    } catch {
      this.stats.InInternalErrors++;
      return undefined;
    }
  }

  /** The datagrams waiting to be sent, in order; the outbox is emptied. */
  takeOutgoing(): Outgoing[] {
    const out = this.outbox;
    this.outbox = [];
    return out;
  }

  /** The earliest timer deadline over all peers (Infinity: none). */
  pollAt(): number {
    let t = Infinity;
    for (const p of this.peers.values()) {
      t = Math.min(t, p.retransmitHandshakeAt, p.sendKeepaliveAt, p.newHandshakeAt, p.zeroKeyMaterialAt, p.persistentKeepaliveAt);
    }
    return t;
  }

  /** Runs every timer due at `now`; returns (and drains) what they send. */
  poll(now: number): Outgoing[] {
    try {
      for (const p of this.peers.values()) this.runTimers(p, now);
    } catch {
      this.stats.InInternalErrors++;
    }
    return this.takeOutgoing();
  }

  // ------------------------------------------------------------ receive

  private checkMacs(msg: Uint8Array, from: Endpoint, now: number, underLoad: boolean | (() => boolean)): boolean {
    if (!checkMac1(this.checker, msg)) {
      this.stats.InMac1Errors++;
      return false;
    }
    if (typeof underLoad === 'function' ? underLoad() : underLoad) {
      const src = sourceBytes(from);
      if (!checkMac2(this.checker, msg, src, now, this.timers.cookieRefreshTime)) {
        const sender = readU32LE(msg, 4);
        const reply = createCookieReply(this.checker, msg, sender, src, now, this.timers.cookieRefreshTime, this.randomBytes);
        this.stats.InCookieChallenges++;
        this.stats.OutCookieReplies++;
        this.output(from, emitCookieReply(reply));
        return false;
      }
      // The cookie proved the source, not its rate: each message that follows costs a DH
      // (wireguard-go RoutineHandshake, "check ratelimiter" after the mac2).
      if (!this.limiter.allow(src.subarray(0, src.length - 2), now)) {
        this.stats.InRateLimited++;
        return false;
      }
    }
    return true;
  }

  private receiveInitiation(msg: Uint8Array, from: Endpoint, now: number, underLoad: boolean | (() => boolean)): void {
    if (!this.checkMacs(msg, from, now, underLoad)) return;
    const repr = parseInitiation(msg)!;
    const opened = openInitiation(this.local, repr);
    const peer = opened === undefined ? undefined : this.peers.get(Buffer.from(opened.remoteStatic).toString('base64'));
    if (opened === undefined || peer === undefined) {
      this.stats.InHandshakeErrors++;
      return;
    }
    const fail = consumeInitiation(peer.handshake, peer.identity, opened, repr, now, this.timers.handshakeInitiationRate);
    if (fail !== undefined) {
      if (fail === 'replay') this.stats.InHandshakeReplays++;
      else if (fail === 'flood') this.stats.InHandshakeFloods++;
      else this.stats.InHandshakeErrors++;
      return;
    }
    this.stats.InInitiations++;
    peer.rxBytes += msg.length;
    this.anyAuthenticatedPacketTraversal(peer, now);
    this.anyAuthenticatedPacketReceived(peer);
    peer.endpoint = from; // roaming: the endpoint follows the last authenticated packet
    this.sendResponse(peer, now);
  }

  private receiveResponse(msg: Uint8Array, from: Endpoint, now: number, underLoad: boolean | (() => boolean)): void {
    if (!this.checkMacs(msg, from, now, underLoad)) return;
    const repr = parseResponse(msg)!;
    const entry = this.index.get(repr.receiver);
    if (entry === undefined || entry.keypair !== undefined || !consumeResponse(entry.peer.handshake, entry.peer.identity, repr)) {
      this.stats.InHandshakeErrors++;
      return;
    }
    const peer = entry.peer;
    this.stats.InResponses++;
    peer.rxBytes += msg.length;
    peer.endpoint = from;
    this.anyAuthenticatedPacketTraversal(peer, now);
    this.anyAuthenticatedPacketReceived(peer);
    this.beginSession(peer, now);
    this.sessionDerived(peer, now);
    this.handshakeComplete(peer, now);
    this.sendKeepalive(peer, now); // key confirmation for the responder (§5.4.5)
  }

  private receiveCookieReply(msg: Uint8Array, now: number): void {
    const repr = parseCookieReply(msg)!;
    const entry = this.index.get(repr.receiver);
    if (entry === undefined || !consumeCookieReply(entry.peer.cookies, repr, now)) {
      this.stats.InCookieErrors++;
      return;
    }
    this.stats.InCookieReplies++;
  }

  private receiveTransport(msg: Uint8Array, from: Endpoint, now: number): Uint8Array | undefined {
    const entry = this.index.get(readU32LE(msg, 4));
    const kp = entry?.keypair;
    if (entry === undefined || kp === undefined) {
      this.stats.InUnknownIndex++;
      return undefined;
    }
    if (now - kp.created >= this.timers.rejectAfterTime) {
      this.stats.InExpired++;
      return undefined;
    }
    const counter = readCounter(msg, 8);
    if (!(counter < this.timers.rejectAfterMessages)) {
      this.stats.InReplays++;
      return undefined;
    }
    const plain = openRaw(kp.receive, counterNonce(counter), msg.subarray(TRANSPORT_HEADER_LEN));
    if (plain === undefined) {
      this.stats.InDecryptErrors++;
      return undefined;
    }
    // The window is moved only by authenticated packets (§5.4.6).
    if (!kp.replay.check(counter, this.timers.rejectAfterMessages)) {
      this.stats.InReplays++;
      return undefined;
    }
    const peer = entry.peer;
    if (kp === peer.next) {
      // The first packet on the responder's new session confirms it: rotate (wireguard-go ReceivedWithKeypair).
      if (peer.previous !== undefined) this.deleteKeypair(peer.previous);
      peer.previous = peer.current;
      peer.current = kp;
      peer.next = undefined;
      this.handshakeComplete(peer, now);
      peer.endpoint = from;
      this.sendStaged(peer, now);
    }
    peer.rxBytes += msg.length;
    peer.endpoint = from;
    this.keepKeyFreshReceiving(peer, now);
    this.anyAuthenticatedPacketTraversal(peer, now);
    this.anyAuthenticatedPacketReceived(peer);
    if (plain.length === 0) {
      this.stats.InKeepalives++;
      return undefined;
    }
    this.dataReceived(peer, now);
    const inner = trimInner(plain);
    if (inner === undefined) {
      this.stats.InInnerErrors++;
      return undefined;
    }
    const src = inner[0]! >> 4 === 4 ? inner.subarray(12, 16) : inner.subarray(8, 24);
    if (this.allowed.lookup(src) !== peer) {
      this.stats.InSourceErrors++;
      return undefined;
    }
    this.stats.InDataPackets++;
    return inner;
  }

  // ------------------------------------------------------------ send

  private output(endpoint: Endpoint, datagram: Uint8Array): void {
    if (this.outbox.length >= this.maxOutgoing) {
      this.stats.OutQueueDrops++;
      return;
    }
    this.outbox.push({ endpoint, datagram });
  }

  private stage(peer: Peer, packet: Uint8Array): void {
    if (peer.staged.length >= this.maxStaged) {
      peer.staged.shift(); // wireguard-go drops the oldest
      this.stats.OutStagedDrops++;
    }
    peer.staged.push(packet);
  }

  /** A session we may still send on (REJECT_AFTER_MESSAGES, REJECT_AFTER_TIME). */
  private usable(kp: Keypair | undefined, now: number): boolean {
    return kp !== undefined && kp.sendCounter < this.timers.rejectAfterMessages && now - kp.created < this.timers.rejectAfterTime;
  }

  /** wireguard-go SendStagedPackets: encrypt what waits on the current session, or start a handshake. */
  private sendStaged(peer: Peer, now: number): void {
    if (peer.staged.length === 0) return;
    const kp = peer.current;
    if (!this.usable(kp, now)) {
      this.sendInitiation(peer, now, false);
      return;
    }
    if (peer.endpoint === undefined) {
      this.stats.OutNoEndpoint += peer.staged.length;
      peer.staged = [];
      return;
    }
    const packets = peer.staged;
    peer.staged = [];
    this.sendPackets(peer, kp!, packets, now);
  }

  /** Encrypts `packets` on `kp` to the peer's endpoint, then the timers of a send (timers.go). */
  private sendPackets(peer: Peer, kp: Keypair, packets: Uint8Array[], now: number): void {
    const endpoint = peer.endpoint!;
    let data = false;
    for (const p of packets) {
      if (kp.sendCounter >= this.timers.rejectAfterMessages) {
        this.stats.OutStagedDrops++;
        continue;
      }
      const datagram = this.seal(kp, p);
      if (p.length === 0) this.stats.OutKeepalives++;
      else {
        this.stats.OutDataPackets++;
        data = true;
      }
      peer.txBytes += datagram.length;
      this.output(endpoint, datagram);
    }
    this.anyAuthenticatedPacketTraversal(peer, now);
    this.anyAuthenticatedPacketSent(peer);
    if (data) this.dataSent(peer, now);
    this.keepKeyFreshSending(peer, now);
  }

  /** §5.4.6: header ‖ AEAD(Tsend, counter, packet padded to 16 within the MTU, ε). */
  private seal(kp: Keypair, packet: Uint8Array): Uint8Array {
    const counter = kp.sendCounter++;
    let padded = (packet.length + PADDING - 1) & ~(PADDING - 1);
    if (padded > this.mtu) padded = Math.max(packet.length, this.mtu);
    const plain = padded === packet.length ? packet : new Uint8Array(padded);
    if (plain !== packet) plain.set(packet);
    const out = new Uint8Array(TRANSPORT_HEADER_LEN + padded + TAG_LEN);
    emitTransportHeader(kp.remoteIndex, counter, out);
    sealRaw(kp.send, counterNonce(counter), plain, undefined, out, TRANSPORT_HEADER_LEN);
    return out;
  }

  private sendKeepalive(peer: Peer, now: number): void {
    if (peer.staged.length === 0) peer.staged.push(new Uint8Array(0));
    this.sendStaged(peer, now);
  }

  /** wireguard-go SendHandshakeInitiation: at most one per REKEY_TIMEOUT. */
  private sendInitiation(peer: Peer, now: number, isRetry: boolean): void {
    if (!isRetry) peer.handshakeAttempts = 0;
    const hs = peer.handshake;
    if (now - hs.lastSentHandshake < this.timers.rekeyTimeout) return;
    hs.lastSentHandshake = now;
    const eph = PrivateKey.generate(this.randomBytes);
    const body = createInitiation(hs, peer.identity, eph, now + this.wallClockOffset);
    if (body === undefined) return;
    const sender = this.newIndex(peer, undefined, hs.localIndex);
    if (sender === undefined) return;
    hs.localIndex = sender;
    const msg = emitInitiation({ sender, ...body, mac1: new Uint8Array(16), mac2: new Uint8Array(16) }, new Uint8Array(INITIATION_LEN));
    addMacs(peer.cookies, msg, now, this.timers.cookieRefreshTime);
    this.anyAuthenticatedPacketTraversal(peer, now);
    this.anyAuthenticatedPacketSent(peer);
    if (peer.endpoint === undefined) this.stats.OutNoEndpoint++;
    else {
      this.stats.OutInitiations++;
      peer.txBytes += msg.length;
      this.output(peer.endpoint, msg);
    }
    this.handshakeInitiated(peer, now);
  }

  private sendResponse(peer: Peer, now: number): void {
    const hs = peer.handshake;
    hs.lastSentHandshake = now;
    const sender = this.newIndex(peer, undefined, hs.localIndex);
    if (sender === undefined) return;
    hs.localIndex = sender;
    const body = createResponse(hs, peer.identity, PrivateKey.generate(this.randomBytes));
    if (body === undefined) return;
    const msg = emitResponse({ sender, receiver: hs.remoteIndex, ...body, mac1: new Uint8Array(16), mac2: new Uint8Array(16) }, new Uint8Array(RESPONSE_LEN));
    addMacs(peer.cookies, msg, now, this.timers.cookieRefreshTime);
    this.beginSession(peer, now);
    this.sessionDerived(peer, now);
    this.anyAuthenticatedPacketTraversal(peer, now);
    this.anyAuthenticatedPacketSent(peer);
    this.stats.OutResponses++;
    peer.txBytes += msg.length;
    this.output(peer.endpoint!, msg);
  }

  /** §5.4.5 and wireguard-go BeginSymmetricSession: derive the keys, move the handshake's index to them, rotate. */
  private beginSession(peer: Peer, now: number): void {
    const hs = peer.handshake;
    const localIndex = hs.localIndex;
    const remoteIndex = hs.remoteIndex;
    const keys = deriveKeys(hs);
    if (keys === undefined) return;
    const kp = new Keypair(keys.send, keys.receive, keys.isInitiator, now, localIndex, remoteIndex);
    this.index.set(localIndex, { peer, keypair: kp });
    hs.localIndex = -1;
    if (kp.isInitiator) {
      if (peer.next !== undefined) {
        // A session we were responder of, never confirmed: it becomes the previous one.
        if (peer.previous !== undefined) this.deleteKeypair(peer.previous);
        peer.previous = peer.next;
        peer.next = undefined;
        if (peer.current !== undefined) this.deleteKeypair(peer.current);
      } else {
        if (peer.previous !== undefined) this.deleteKeypair(peer.previous);
        peer.previous = peer.current;
      }
      peer.current = kp;
    } else {
      // The responder may not send on it until the initiator has used it (§5.4.5's key confirmation).
      if (peer.next !== undefined) this.deleteKeypair(peer.next);
      peer.next = kp;
      if (peer.previous !== undefined) this.deleteKeypair(peer.previous);
      peer.previous = undefined;
    }
  }

  private deleteKeypair(kp: Keypair): void {
    const e = this.index.get(kp.localIndex);
    if (e !== undefined && e.keypair === kp) this.index.delete(kp.localIndex);
  }

  /** A fresh random 32-bit index, unused; `old` (the slot being replaced) is freed first. */
  private newIndex(peer: Peer, keypair: Keypair | undefined, old: number): number | undefined {
    if (old >= 0) {
      const e = this.index.get(old);
      if (e !== undefined && e.keypair === undefined && e.peer === peer) this.index.delete(old);
    }
    if (this.index.size >= 4 * this.maxPeers) return undefined;
    for (let tries = 0; tries < 32; tries++) {
      const b = this.randomBytes(4);
      const i = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
      if (!this.index.has(i)) {
        this.index.set(i, { peer, keypair });
        return i;
      }
    }
    return undefined;
  }

  private zeroKeyMaterial(peer: Peer): void {
    for (const kp of [peer.current, peer.previous, peer.next]) if (kp !== undefined) this.deleteKeypair(kp);
    peer.current = peer.previous = peer.next = undefined;
    const hs = peer.handshake;
    if (hs.localIndex >= 0) {
      const e = this.index.get(hs.localIndex);
      if (e !== undefined && e.keypair === undefined) this.index.delete(hs.localIndex);
    }
    clearHandshake(hs);
    this.stats.OutStagedDrops += peer.staged.length;
    peer.staged = [];
  }

  // ------------------------------------------------------------ key freshness (whitepaper §6.2)

  private keepKeyFreshSending(peer: Peer, now: number): void {
    const kp = peer.current;
    if (kp === undefined) return;
    if (kp.sendCounter > this.timers.rekeyAfterMessages || (kp.isInitiator && now - kp.created > this.timers.rekeyAfterTime)) {
      this.sendInitiation(peer, now, false);
    }
  }

  private keepKeyFreshReceiving(peer: Peer, now: number): void {
    if (peer.sentLastMinuteHandshake) return;
    const kp = peer.current;
    const t = this.timers;
    if (kp !== undefined && kp.isInitiator && now - kp.created > t.rejectAfterTime - t.keepaliveTimeout - t.rekeyTimeout) {
      peer.sentLastMinuteHandshake = true;
      this.sendInitiation(peer, now, false);
    }
  }

  // ------------------------------------------------------------ timers (wireguard-go timers.go)

  private jitter(): number {
    return Math.floor(this.random() * this.timers.rekeyTimeoutJitterMax);
  }

  /** After an authenticated data packet is sent. */
  private dataSent(peer: Peer, now: number): void {
    if (peer.newHandshakeAt === Infinity) peer.newHandshakeAt = now + this.timers.keepaliveTimeout + this.timers.rekeyTimeout + this.jitter();
  }

  /** After an authenticated data packet is received. */
  private dataReceived(peer: Peer, now: number): void {
    if (peer.sendKeepaliveAt === Infinity) peer.sendKeepaliveAt = now + this.timers.keepaliveTimeout;
    else peer.needAnotherKeepalive = true;
  }

  private anyAuthenticatedPacketSent(peer: Peer): void {
    peer.sendKeepaliveAt = Infinity;
  }

  private anyAuthenticatedPacketReceived(peer: Peer): void {
    peer.newHandshakeAt = Infinity;
  }

  private handshakeInitiated(peer: Peer, now: number): void {
    peer.retransmitHandshakeAt = now + this.timers.rekeyTimeout + this.jitter();
  }

  private handshakeComplete(peer: Peer, now: number): void {
    peer.retransmitHandshakeAt = Infinity;
    peer.handshakeAttempts = 0;
    peer.sentLastMinuteHandshake = false;
    peer.lastHandshake = now;
  }

  private sessionDerived(peer: Peer, now: number): void {
    peer.zeroKeyMaterialAt = now + 3 * this.timers.rejectAfterTime;
  }

  private anyAuthenticatedPacketTraversal(peer: Peer, now: number): void {
    if (peer.persistentKeepalive > 0) peer.persistentKeepaliveAt = now + peer.persistentKeepalive;
  }

  private runTimers(peer: Peer, now: number): void {
    const t = this.timers;
    if (peer.retransmitHandshakeAt <= now) {
      peer.retransmitHandshakeAt = Infinity;
      if (peer.handshakeAttempts > Math.floor(t.rekeyAttemptTime / t.rekeyTimeout)) {
        // Given up after REKEY_ATTEMPT_TIME: drop what waits, keep no residue past 3 × REJECT_AFTER_TIME.
        this.stats.OutHandshakeFailures++;
        peer.sendKeepaliveAt = Infinity;
        this.stats.OutStagedDrops += peer.staged.length;
        peer.staged = [];
        if (peer.zeroKeyMaterialAt === Infinity) peer.zeroKeyMaterialAt = now + 3 * t.rejectAfterTime;
      } else {
        peer.handshakeAttempts++;
        this.sendInitiation(peer, now, true);
      }
    }
    if (peer.sendKeepaliveAt <= now) {
      peer.sendKeepaliveAt = Infinity;
      this.sendKeepalive(peer, now);
      if (peer.needAnotherKeepalive) {
        peer.needAnotherKeepalive = false;
        peer.sendKeepaliveAt = now + t.keepaliveTimeout;
      }
    }
    if (peer.newHandshakeAt <= now) {
      // Data sent, nothing heard for KEEPALIVE_TIMEOUT + REKEY_TIMEOUT: try a new handshake.
      peer.newHandshakeAt = Infinity;
      this.sendInitiation(peer, now, false);
    }
    if (peer.zeroKeyMaterialAt <= now) {
      peer.zeroKeyMaterialAt = Infinity;
      this.zeroKeyMaterial(peer);
    }
    if (peer.persistentKeepaliveAt <= now) {
      peer.persistentKeepaliveAt = Infinity;
      if (peer.persistentKeepalive > 0) this.sendKeepalive(peer, now);
    }
  }
}

/** The destination of an inner IPv4 or IPv6 packet, or undefined when it is neither. */
function innerDestination(p: Uint8Array): Uint8Array | undefined {
  if (p.length >= 20 && p[0]! >> 4 === 4) return p.subarray(16, 20);
  if (p.length >= 40 && p[0]! >> 4 === 6) return p.subarray(24, 40);
  return undefined;
}

/** A decrypted packet cut to its IP length (the padding off), or undefined when the header is bad. */
function trimInner(p: Uint8Array): Uint8Array | undefined {
  const v = p[0]! >> 4;
  if (v === 4) {
    if (p.length < 20) return undefined;
    const len = (p[2]! << 8) | p[3]!;
    if (len < 20 || len > p.length) return undefined;
    return p.subarray(0, len);
  }
  if (v === 6) {
    if (p.length < 40) return undefined;
    const len = ((p[4]! << 8) | p[5]!) + 40;
    if (len > p.length) return undefined;
    return p.subarray(0, len);
  }
  return undefined;
}
