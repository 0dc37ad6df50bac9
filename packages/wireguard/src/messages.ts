/**
 * The four WireGuard messages (whitepaper §5.4.2-§5.4.7), as views over the bytes and
 * records with parse/emit. All integers are little endian; the first 4 bytes are the type
 * (1..4) followed by 3 reserved zero bytes, read together as one 32-bit word (as the
 * reference implementations do), so a nonzero reserved byte makes an unknown type.
 *
 *   initiation  148 B: type | sender | ephemeral 32 | static 32+16 | timestamp 12+16 | mac1 16 | mac2 16
 *   response     92 B: type | sender | receiver | ephemeral 32 | empty 0+16 | mac1 16 | mac2 16
 *   cookie reply 64 B: type | receiver | nonce 24 | cookie 16+16
 *   transport  >=32 B: type | receiver | counter 8 | packet n+16
 *
 * Parsed records hold subarrays of the message: valid while the caller's buffer is.
 */

export const MessageType = { Initiation: 1, Response: 2, CookieReply: 3, Transport: 4 } as const;

export const INITIATION_LEN = 148;
export const RESPONSE_LEN = 92;
export const COOKIE_REPLY_LEN = 64;
export const TRANSPORT_HEADER_LEN = 16;
/** An empty (keepalive) transport message: header and tag. */
export const TRANSPORT_MIN_LEN = 32;

/** The type of a well-formed message (length exactly right, reserved bytes zero), else undefined. */
export function messageType(b: Uint8Array): number | undefined {
  if (b.length < 4) return undefined;
  const t = b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24);
  switch (t) {
    case MessageType.Initiation: return b.length === INITIATION_LEN ? t : undefined;
    case MessageType.Response: return b.length === RESPONSE_LEN ? t : undefined;
    case MessageType.CookieReply: return b.length === COOKIE_REPLY_LEN ? t : undefined;
    case MessageType.Transport: return b.length >= TRANSPORT_MIN_LEN ? t : undefined;
    default: return undefined;
  }
}

function u32(b: Uint8Array, o: number): number {
  return (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
}
function putU32(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
  b[o + 2] = (v >>> 16) & 0xff;
  b[o + 3] = (v >>> 24) & 0xff;
}

/** §5.4.2 handshake initiation. */
export interface InitiationRepr {
  sender: number;
  ephemeral: Uint8Array; // 32
  encryptedStatic: Uint8Array; // 48
  encryptedTimestamp: Uint8Array; // 28
  mac1: Uint8Array; // 16
  mac2: Uint8Array; // 16
}

/** §5.4.3 handshake response. */
export interface ResponseRepr {
  sender: number;
  receiver: number;
  ephemeral: Uint8Array; // 32
  encryptedNothing: Uint8Array; // 16
  mac1: Uint8Array;
  mac2: Uint8Array;
}

/** §5.4.7 cookie reply. */
export interface CookieReplyRepr {
  receiver: number;
  nonce: Uint8Array; // 24
  encryptedCookie: Uint8Array; // 32
}

/** §5.4.6 transport data: `counter` is a safe integer (see `readCounter`). */
export interface TransportRepr {
  receiver: number;
  counter: number;
  encryptedPacket: Uint8Array; // n + 16
}

export function parseInitiation(b: Uint8Array): InitiationRepr | undefined {
  if (messageType(b) !== MessageType.Initiation) return undefined;
  return {
    sender: u32(b, 4),
    ephemeral: b.subarray(8, 40),
    encryptedStatic: b.subarray(40, 88),
    encryptedTimestamp: b.subarray(88, 116),
    mac1: b.subarray(116, 132),
    mac2: b.subarray(132, 148),
  };
}

export function emitInitiation(r: InitiationRepr, b: Uint8Array = new Uint8Array(INITIATION_LEN)): Uint8Array {
  putU32(b, 0, MessageType.Initiation);
  putU32(b, 4, r.sender);
  b.set(r.ephemeral, 8);
  b.set(r.encryptedStatic, 40);
  b.set(r.encryptedTimestamp, 88);
  b.set(r.mac1, 116);
  b.set(r.mac2, 132);
  return b;
}

export function parseResponse(b: Uint8Array): ResponseRepr | undefined {
  if (messageType(b) !== MessageType.Response) return undefined;
  return {
    sender: u32(b, 4),
    receiver: u32(b, 8),
    ephemeral: b.subarray(12, 44),
    encryptedNothing: b.subarray(44, 60),
    mac1: b.subarray(60, 76),
    mac2: b.subarray(76, 92),
  };
}

export function emitResponse(r: ResponseRepr, b: Uint8Array = new Uint8Array(RESPONSE_LEN)): Uint8Array {
  putU32(b, 0, MessageType.Response);
  putU32(b, 4, r.sender);
  putU32(b, 8, r.receiver);
  b.set(r.ephemeral, 12);
  b.set(r.encryptedNothing, 44);
  b.set(r.mac1, 60);
  b.set(r.mac2, 76);
  return b;
}

export function parseCookieReply(b: Uint8Array): CookieReplyRepr | undefined {
  if (messageType(b) !== MessageType.CookieReply) return undefined;
  return { receiver: u32(b, 4), nonce: b.subarray(8, 32), encryptedCookie: b.subarray(32, 64) };
}

export function emitCookieReply(r: CookieReplyRepr, b: Uint8Array = new Uint8Array(COOKIE_REPLY_LEN)): Uint8Array {
  putU32(b, 0, MessageType.CookieReply);
  putU32(b, 4, r.receiver);
  b.set(r.nonce, 8);
  b.set(r.encryptedCookie, 32);
  return b;
}

/**
 * The 64-bit counter as a number; counters at or above 2^53 read as Infinity (no session
 * gets there: REJECT_AFTER_TIME rekeys every 3 minutes, and 2^53 packets take years at any
 * rate; the replay check rejects Infinity like any counter past the limit).
 */
export function readCounter(b: Uint8Array, o: number): number {
  const lo = u32(b, o);
  const hi = u32(b, o + 4);
  return hi >= 0x200000 ? Infinity : hi * 0x100000000 + lo;
}

export function parseTransport(b: Uint8Array): TransportRepr | undefined {
  if (messageType(b) !== MessageType.Transport) return undefined;
  return { receiver: u32(b, 4), counter: readCounter(b, 8), encryptedPacket: b.subarray(16) };
}

/** Writes the 16-byte transport header (type, receiver, counter) at the front of `b`. */
export function emitTransportHeader(receiver: number, counter: number, b: Uint8Array): void {
  putU32(b, 0, MessageType.Transport);
  putU32(b, 4, receiver);
  putU32(b, 8, counter >>> 0);
  putU32(b, 12, Math.floor(counter / 0x100000000));
}

export function emitTransport(r: TransportRepr, b: Uint8Array = new Uint8Array(TRANSPORT_HEADER_LEN + r.encryptedPacket.length)): Uint8Array {
  emitTransportHeader(r.receiver, r.counter, b);
  b.set(r.encryptedPacket, 16);
  return b;
}

export { u32 as readU32LE };
