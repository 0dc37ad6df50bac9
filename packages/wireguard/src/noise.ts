/**
 * The Noise_IKpsk2 handshake of whitepaper §5.4.2-§5.4.5, and the MAC1/MAC2 cookie
 * machinery of §5.4.4 and §5.4.7, as functions over plain state records. The device
 * (device.ts) owns the records, the index table and the timers; nothing here reads a clock
 * (times are arguments) or keeps module state besides the constants.
 *
 * Each function's steps are the whitepaper's lines in order: C is the chaining key, H the
 * hash, and every `mixHash`/`mixKey` is one "H := HASH(H ‖ x)" / "C := KDF1(C, x)".
 */
import { equal, hash, kdf1, kdf2, kdf3, mac, open, PrivateKey, seal, tai64n, taiAfter, xopen, xseal } from './crypto.js';
import type { CookieReplyRepr, InitiationRepr, ResponseRepr } from './messages.js';

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** §5.4: the protocol's name and identifier. */
export const CONSTRUCTION = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';
export const IDENTIFIER = 'WireGuard v1 zx2c4 Jason@zx2c4.com';
export const LABEL_MAC1 = 'mac1----';
export const LABEL_COOKIE = 'cookie--';

/** Ci := HASH(CONSTRUCTION); Hi := HASH(Ci ‖ IDENTIFIER). */
export const INITIAL_CHAIN_KEY = hash(text(CONSTRUCTION));
export const INITIAL_HASH = hash(INITIAL_CHAIN_KEY, text(IDENTIFIER));

const EMPTY = new Uint8Array(0);

export type HandshakeState = 'zeroed' | 'initiation-created' | 'initiation-consumed' | 'response-created' | 'response-consumed';

/** One peer's handshake in progress (wireguard-go's `Handshake`). */
export interface Handshake {
  state: HandshakeState;
  hash: Uint8Array;
  chainKey: Uint8Array;
  localEphemeral: PrivateKey | undefined;
  remoteEphemeral: Uint8Array | undefined;
  /** Our index for this handshake in the device's index table, or -1. */
  localIndex: number;
  remoteIndex: number;
  /** The greatest TAI64N accepted from this peer (§5.1's replay protection). */
  lastTimestamp: Uint8Array;
  /** When the last initiation from this peer was accepted (flood limit), ms. */
  lastInitiationConsumption: number;
  /** When we last sent an initiation or response, ms. */
  lastSentHandshake: number;
}

export function newHandshake(): Handshake {
  return {
    state: 'zeroed', hash: EMPTY, chainKey: EMPTY, localEphemeral: undefined, remoteEphemeral: undefined,
    localIndex: -1, remoteIndex: 0, lastTimestamp: new Uint8Array(12), lastInitiationConsumption: -Infinity, lastSentHandshake: -Infinity,
  };
}

export function clearHandshake(h: Handshake): void {
  h.state = 'zeroed';
  h.hash = EMPTY;
  h.chainKey = EMPTY;
  h.localEphemeral = undefined;
  h.remoteEphemeral = undefined;
  h.localIndex = -1;
}

/** The static identities one handshake is between. */
export interface Identity {
  localStatic: PrivateKey;
  remoteStatic: Uint8Array;
  presharedKey: Uint8Array;
  /** DH(local static, remote static), precomputed; undefined when it is zero (a bad key). */
  staticStatic: Uint8Array | undefined;
}

/**
 * §5.4.2, initiator: fills `ephemeral`, `encryptedStatic`, `encryptedTimestamp` of a new
 * initiation (sender and MACs are the caller's) and leaves `hs` in 'initiation-created'.
 */
export function createInitiation(hs: Handshake, id: Identity, ephemeral: PrivateKey, wallMs: number): Omit<InitiationRepr, 'sender' | 'mac1' | 'mac2'> | undefined {
  if (id.staticStatic === undefined) return undefined;
  let c = INITIAL_CHAIN_KEY;
  let h = hash(INITIAL_HASH, id.remoteStatic); // H := HASH(Hi ‖ Spub_r)
  const e = ephemeral.publicKey;
  c = kdf1(c, e); // C := KDF1(C, Epub_i)
  h = hash(h, e); // H := HASH(H ‖ Epub_i)
  const es = ephemeral.dh(id.remoteStatic);
  if (es === undefined) return undefined;
  let k: Uint8Array;
  [c, k] = kdf2(c, es); // (C, κ) := KDF2(C, DH(Epriv_i, Spub_r))
  const encryptedStatic = seal(k, 0, id.localStatic.publicKey, h); // AEAD(κ, 0, Spub_i, H)
  h = hash(h, encryptedStatic);
  [c, k] = kdf2(c, id.staticStatic); // (C, κ) := KDF2(C, DH(Spriv_i, Spub_r))
  const encryptedTimestamp = seal(k, 0, tai64n(wallMs), h); // AEAD(κ, 0, TAI64N(), H)
  h = hash(h, encryptedTimestamp);
  hs.state = 'initiation-created';
  hs.hash = h;
  hs.chainKey = c;
  hs.localEphemeral = ephemeral;
  return { ephemeral: e, encryptedStatic, encryptedTimestamp };
}

/** The responder's first half of §5.4.2: what an initiation reveals before the peer is known. */
export interface OpenedInitiation {
  remoteStatic: Uint8Array;
  hash: Uint8Array;
  chainKey: Uint8Array;
  /** Continues with the peer's precomputed DH(Spriv_r, Spub_i); returns the timestamp or undefined. */
  timestamp(staticStatic: Uint8Array): { timestamp: Uint8Array; hash: Uint8Array; chainKey: Uint8Array } | undefined;
}

/** §5.4.2, responder: decrypts the initiator's static key (to find the peer). */
export function openInitiation(local: PrivateKey, msg: InitiationRepr): OpenedInitiation | undefined {
  let h = hash(INITIAL_HASH, local.publicKey);
  h = hash(h, msg.ephemeral);
  let c = kdf1(INITIAL_CHAIN_KEY, msg.ephemeral);
  const es = local.dh(msg.ephemeral);
  if (es === undefined) return undefined;
  let k: Uint8Array;
  [c, k] = kdf2(c, es);
  const remoteStatic = open(k, 0, msg.encryptedStatic, h);
  if (remoteStatic === undefined) return undefined;
  h = hash(h, msg.encryptedStatic);
  const h1 = h;
  const c1 = c;
  return {
    remoteStatic,
    hash: h1,
    chainKey: c1,
    timestamp(ss) {
      const [c2, k2] = kdf2(c1, ss);
      const timestamp = open(k2, 0, msg.encryptedTimestamp, h1);
      if (timestamp === undefined) return undefined;
      return { timestamp, hash: hash(h1, msg.encryptedTimestamp), chainKey: c2 };
    },
  };
}

export type ConsumeFailure = 'decrypt' | 'replay' | 'flood';

/**
 * §5.4.2 responder, second half: the timestamp must be newer than any accepted before
 * (§5.1) and initiations are limited to one per `floodMs` per peer (wireguard-go's 50/s).
 * On success `hs` is 'initiation-consumed'.
 */
export function consumeInitiation(hs: Handshake, id: Identity, opened: OpenedInitiation, msg: InitiationRepr, now: number, floodMs: number): ConsumeFailure | undefined {
  if (id.staticStatic === undefined) return 'decrypt';
  const t = opened.timestamp(id.staticStatic);
  if (t === undefined) return 'decrypt';
  if (!taiAfter(t.timestamp, hs.lastTimestamp)) return 'replay';
  if (now - hs.lastInitiationConsumption <= floodMs) return 'flood';
  hs.hash = t.hash;
  hs.chainKey = t.chainKey;
  hs.remoteIndex = msg.sender;
  hs.remoteEphemeral = Uint8Array.from(msg.ephemeral);
  hs.lastTimestamp = Uint8Array.from(t.timestamp);
  hs.lastInitiationConsumption = now;
  hs.state = 'initiation-consumed';
  return undefined;
}

/** §5.4.3, responder: the response's ephemeral and empty AEAD; `hs` becomes 'response-created'. */
export function createResponse(hs: Handshake, id: Identity, ephemeral: PrivateKey): Omit<ResponseRepr, 'sender' | 'receiver' | 'mac1' | 'mac2'> | undefined {
  if (hs.state !== 'initiation-consumed' || hs.remoteEphemeral === undefined) return undefined;
  const e = ephemeral.publicKey;
  let h = hash(hs.hash, e); // H := HASH(H ‖ Epub_r)
  let c = kdf1(hs.chainKey, e); // C := KDF1(C, Epub_r)
  const ee = ephemeral.dh(hs.remoteEphemeral);
  const se = ephemeral.dh(id.remoteStatic);
  if (ee === undefined || se === undefined) return undefined;
  c = kdf1(c, ee); // C := KDF1(C, DH(Epriv_r, Epub_i))
  c = kdf1(c, se); // C := KDF1(C, DH(Epriv_r, Spub_i))
  const [c2, tau, k] = kdf3(c, id.presharedKey); // (C, τ, κ) := KDF3(C, Q)
  h = hash(h, tau);
  const encryptedNothing = seal(k, 0, EMPTY, h); // AEAD(κ, 0, ε, H)
  h = hash(h, encryptedNothing);
  hs.hash = h;
  hs.chainKey = c2;
  hs.localEphemeral = ephemeral;
  hs.state = 'response-created';
  return { ephemeral: e, encryptedNothing };
}

/** §5.4.3, initiator: checks a response to our initiation; `hs` becomes 'response-consumed'. */
export function consumeResponse(hs: Handshake, id: Identity, msg: ResponseRepr): boolean {
  if (hs.state !== 'initiation-created' || hs.localEphemeral === undefined) return false;
  let h = hash(hs.hash, msg.ephemeral);
  let c = kdf1(hs.chainKey, msg.ephemeral);
  const ee = hs.localEphemeral.dh(msg.ephemeral);
  const se = id.localStatic.dh(msg.ephemeral);
  if (ee === undefined || se === undefined) return false;
  c = kdf1(c, ee);
  c = kdf1(c, se);
  const [c2, tau, k] = kdf3(c, id.presharedKey);
  h = hash(h, tau);
  if (open(k, 0, msg.encryptedNothing, h) === undefined) return false;
  h = hash(h, msg.encryptedNothing);
  hs.hash = h;
  hs.chainKey = c2;
  hs.remoteIndex = msg.sender;
  hs.state = 'response-consumed';
  return true;
}

/**
 * §5.4.5: the transport keys from the final chaining key, (send, receive) from our side;
 * the handshake is zeroed. Undefined when no handshake is complete.
 */
export function deriveKeys(hs: Handshake): { send: Uint8Array; receive: Uint8Array; isInitiator: boolean } | undefined {
  let out: { send: Uint8Array; receive: Uint8Array; isInitiator: boolean } | undefined;
  if (hs.state === 'response-consumed') {
    const [t1, t2] = kdf2(hs.chainKey, EMPTY); // (Tsend_i, Trecv_i) := KDF2(C, ε)
    out = { send: t1, receive: t2, isInitiator: true };
  } else if (hs.state === 'response-created') {
    const [t1, t2] = kdf2(hs.chainKey, EMPTY); // (Trecv_r, Tsend_r) := KDF2(C, ε)
    out = { send: t2, receive: t1, isInitiator: false };
  }
  if (out !== undefined) {
    hs.hash = EMPTY;
    hs.chainKey = EMPTY;
    hs.localEphemeral = undefined;
    hs.state = 'zeroed';
  }
  return out;
}

// ---------------------------------------------------------------- MAC1, MAC2 and cookies (§5.4.4, §5.4.7)

/** Keys derived from a static public key: MAC1's key and the cookie reply's XAEAD key. */
export function macKeys(publicKey: Uint8Array): { mac1Key: Uint8Array; cookieKey: Uint8Array } {
  return { mac1Key: hash(text(LABEL_MAC1), publicKey), cookieKey: hash(text(LABEL_COOKIE), publicKey) };
}

/** The sender side of the cookie mechanism, one per peer (wireguard-go's CookieGenerator). */
export interface CookieGenerator {
  mac1Key: Uint8Array;
  cookieKey: Uint8Array;
  cookie: Uint8Array | undefined;
  cookieSet: number;
  lastMac1: Uint8Array | undefined;
}

export function newCookieGenerator(peerPublic: Uint8Array): CookieGenerator {
  return { ...macKeys(peerPublic), cookie: undefined, cookieSet: -Infinity, lastMac1: undefined };
}

/**
 * Writes mac1 and mac2 into the last 32 bytes of a handshake message (§5.4.4):
 * mac1 := MAC(HASH(LABEL_MAC1 ‖ Spub_m'), msg_α); mac2 := MAC(cookie, msg_β) when a cookie
 * younger than `refreshMs` is held, else zeros.
 */
export function addMacs(gen: CookieGenerator, msg: Uint8Array, now: number, refreshMs: number): void {
  const m1 = msg.length - 32;
  const m2 = msg.length - 16;
  const mac1 = mac(gen.mac1Key, msg.subarray(0, m1));
  msg.set(mac1, m1);
  gen.lastMac1 = mac1;
  if (gen.cookie !== undefined && now - gen.cookieSet <= refreshMs) msg.set(mac(gen.cookie, msg.subarray(0, m2)), m2);
  else msg.fill(0, m2);
}

/** Takes a cookie reply for our last handshake message; false when it does not open. */
export function consumeCookieReply(gen: CookieGenerator, reply: CookieReplyRepr, now: number): boolean {
  if (gen.lastMac1 === undefined) return false;
  const cookie = xopen(gen.cookieKey, reply.nonce, reply.encryptedCookie, gen.lastMac1);
  if (cookie === undefined || cookie.length !== 16) return false;
  gen.cookie = cookie;
  gen.cookieSet = now;
  return true;
}

/** The receiver side: MAC1 always, MAC2 and cookie replies under load (wireguard-go's CookieChecker). */
export interface CookieChecker {
  mac1Key: Uint8Array;
  cookieKey: Uint8Array;
  /** Rm of §5.4.7, changed every `refreshMs`. */
  secret: Uint8Array;
  secretSet: number;
}

export function newCookieChecker(localPublic: Uint8Array): CookieChecker {
  return { ...macKeys(localPublic), secret: new Uint8Array(32), secretSet: -Infinity };
}

export function checkMac1(chk: CookieChecker, msg: Uint8Array): boolean {
  const m1 = msg.length - 32;
  return equal(mac(chk.mac1Key, msg.subarray(0, m1)), msg.subarray(m1, m1 + 16));
}

/** τ := MAC(Rm, Am'): the cookie for a source address (IP bytes ‖ port, §5.4.7). */
function cookieFor(chk: CookieChecker, source: Uint8Array): Uint8Array {
  return mac(chk.secret, source);
}

export function checkMac2(chk: CookieChecker, msg: Uint8Array, source: Uint8Array, now: number, refreshMs: number): boolean {
  if (now - chk.secretSet > refreshMs) return false;
  const m2 = msg.length - 16;
  return equal(mac(cookieFor(chk, source), msg.subarray(0, m2)), msg.subarray(m2));
}

/**
 * A cookie reply to a handshake message that lacked a valid mac2 under load: the cookie
 * for `source`, XAEAD-sealed under HASH(LABEL_COOKIE ‖ Spub_m) with the message's mac1
 * as associated data (§5.4.7). Renews Rm when older than `refreshMs`.
 */
export function createCookieReply(chk: CookieChecker, msg: Uint8Array, receiver: number, source: Uint8Array, now: number, refreshMs: number, random: (n: number) => Uint8Array): CookieReplyRepr {
  if (now - chk.secretSet > refreshMs) {
    chk.secret = random(32);
    chk.secretSet = now;
  }
  const m1 = msg.length - 32;
  const nonce = random(24);
  return { receiver, nonce, encryptedCookie: xseal(chk.cookieKey, nonce, cookieFor(chk, source), msg.subarray(m1, m1 + 16)) };
}
