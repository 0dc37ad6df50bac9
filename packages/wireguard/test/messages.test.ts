/** The four messages' layouts, against bytes written out by hand from whitepaper §5.4.2-§5.4.7. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  COOKIE_REPLY_LEN, emitCookieReply, emitInitiation, emitResponse, emitTransport, INITIATION_LEN, messageType, parseCookieReply,
  parseInitiation, parseResponse, parseTransport, RESPONSE_LEN,
} from '../src/index.js';

const fill = (n: number, v: number): Uint8Array => new Uint8Array(n).fill(v);
const hx = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('golden bytes', () => {
  it('initiation: 148 bytes, type 1 + 3 zero bytes, sender LE, then ephemeral, static, timestamp, mac1, mac2', () => {
    const b = emitInitiation({ sender: 0x11223344, ephemeral: fill(32, 0xaa), encryptedStatic: fill(48, 0xbb), encryptedTimestamp: fill(28, 0xcc), mac1: fill(16, 0xdd), mac2: fill(16, 0xee) });
    expect(b.length).toBe(INITIATION_LEN);
    expect(hx(b)).toBe('01000000' + '44332211' + 'aa'.repeat(32) + 'bb'.repeat(48) + 'cc'.repeat(28) + 'dd'.repeat(16) + 'ee'.repeat(16));
    const r = parseInitiation(b)!;
    expect(r.sender).toBe(0x11223344);
    expect([r.ephemeral, r.encryptedStatic, r.encryptedTimestamp, r.mac1, r.mac2].map((x) => x.length)).toEqual([32, 48, 28, 16, 16]);
    expect(hx(r.mac2)).toBe('ee'.repeat(16));
  });
  it('response: 92 bytes: type 2, sender, receiver, ephemeral, empty, mac1, mac2', () => {
    const b = emitResponse({ sender: 1, receiver: 0xfffffffe, ephemeral: fill(32, 1), encryptedNothing: fill(16, 2), mac1: fill(16, 3), mac2: fill(16, 4) });
    expect(b.length).toBe(RESPONSE_LEN);
    expect(hx(b)).toBe('02000000' + '01000000' + 'feffffff' + '01'.repeat(32) + '02'.repeat(16) + '03'.repeat(16) + '04'.repeat(16));
    expect(parseResponse(b)).toMatchObject({ sender: 1, receiver: 0xfffffffe });
  });
  it('cookie reply: 64 bytes: type 3, receiver, 24-byte nonce, 32-byte sealed cookie', () => {
    const b = emitCookieReply({ receiver: 0x01020304, nonce: fill(24, 9), encryptedCookie: fill(32, 8) });
    expect(b.length).toBe(COOKIE_REPLY_LEN);
    expect(hx(b)).toBe('03000000' + '04030201' + '09'.repeat(24) + '08'.repeat(32));
    expect(parseCookieReply(b)!.receiver).toBe(0x01020304);
  });
  it('transport: type 4, receiver, 64-bit LE counter, then the sealed packet (at least the 16-byte tag)', () => {
    const b = emitTransport({ receiver: 7, counter: 2 ** 40 + 5, encryptedPacket: fill(16, 0x5a) });
    expect(hx(b)).toBe('04000000' + '07000000' + '0500000000010000' + '5a'.repeat(16));
    expect(parseTransport(b)).toMatchObject({ receiver: 7, counter: 2 ** 40 + 5 });
  });
});

describe('what parse refuses', () => {
  it('wrong lengths, a nonzero reserved byte, unknown types, short transport', () => {
    const init = emitInitiation({ sender: 0, ephemeral: fill(32, 0), encryptedStatic: fill(48, 0), encryptedTimestamp: fill(28, 0), mac1: fill(16, 0), mac2: fill(16, 0) });
    expect(messageType(init)).toBe(1);
    expect(messageType(init.subarray(0, 147))).toBeUndefined();
    expect(messageType(Uint8Array.from([...init, 0]))).toBeUndefined();
    const reserved = Uint8Array.from(init);
    reserved[2] = 1;
    expect(messageType(reserved)).toBeUndefined();
    expect(messageType(Uint8Array.of(5, 0, 0, 0, ...fill(60, 0)))).toBeUndefined();
    expect(messageType(Uint8Array.of(4, 0, 0, 0, ...fill(27, 0)))).toBeUndefined(); // 31 < 32
    expect(messageType(Uint8Array.of(4, 0, 0, 0, ...fill(28, 0)))).toBe(4);
    expect(parseResponse(init)).toBeUndefined();
  });
  it('a counter at or above 2^53 reads as Infinity (then refused as past the limit)', () => {
    const b = emitTransport({ receiver: 1, counter: 0, encryptedPacket: fill(16, 0) });
    b[15] = 0x80;
    expect(parseTransport(b)!.counter).toBe(Infinity);
  });
  it('arbitrary bytes: every parser returns a record or undefined, never throws', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
      for (const f of [parseInitiation, parseResponse, parseCookieReply, parseTransport, messageType]) f(b);
    }));
  });
});
