/**
 * Known answers for every primitive WireGuard uses: each vector is the published one, so a
 * wrong rotation, byte order or nonce layout fails here before any handshake is tried.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { blake2s } from '../src/blake2s.js';
import { counterNonce, hash, hchacha20, hmac, kdf1, kdf2, kdf3, mac, openRaw, PrivateKey, sealRaw, tai64n, taiAfter, x25519, xopen, xseal } from '../src/crypto.js';

const h = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const hx = (b: Uint8Array | undefined): string => (b === undefined ? 'undefined' : Buffer.from(b).toString('hex'));
const seq = (first: number, n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (first + i) & 0xff);
const LADIES = new TextEncoder().encode("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");

describe('X25519 (RFC 7748)', () => {
  it('§5.2 test vectors (the second u has its top bit set: it must be masked)', () => {
    expect(hx(x25519(h('a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4'), h('e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c'))))
      .toBe('c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552');
    expect(hx(x25519(h('4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d'), h('e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493'))))
      .toBe('95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957');
  });
  it('§5.2 one iteration from 9', () => {
    const nine = new Uint8Array(32);
    nine[0] = 9;
    expect(hx(x25519(nine, nine))).toBe('422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079');
  });
  it('§6.1 Diffie-Hellman: public keys and the shared secret', () => {
    const alice = new PrivateKey(h('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'));
    const bob = new PrivateKey(h('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'));
    expect(hx(alice.publicKey)).toBe('8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a');
    expect(hx(bob.publicKey)).toBe('de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f');
    expect(hx(alice.dh(bob.publicKey))).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
    expect(hx(bob.dh(alice.publicKey))).toBe('4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742');
  });
  it('a small-order point gives no secret (undefined, not an exception)', () => {
    const k = PrivateKey.generate();
    expect(k.dh(new Uint8Array(32))).toBeUndefined();
    const one = new Uint8Array(32);
    one[0] = 1;
    expect(k.dh(one)).toBeUndefined();
  });
  it('a DH with the raw public key wrapped each time stays far below a millisecond (JWK, not DER)', () => {
    // A generous bound for a shared machine (measured alone: ~7 us wrap + ~37 us DH).
    const k = PrivateKey.generate();
    const peer = PrivateKey.generate().publicKey;
    const n = 300;
    const t = performance.now();
    for (let i = 0; i < n; i++) k.dh(peer);
    expect((performance.now() - t) / n).toBeLessThan(1);
  });
});

describe('ChaCha20-Poly1305 (RFC 8439 §2.8.2)', () => {
  const key = seq(0x80, 32);
  const nonce = h('070000004041424344454647');
  const ad = h('50515253c0c1c2c3c4c5c6c7');
  const ct = 'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116';
  it('seals to the published ciphertext and tag, and opens', () => {
    const sealed = sealRaw(key, nonce, LADIES, ad);
    expect(hx(sealed)).toBe(ct + '1ae10b594f09e26a7e902ecbd0600691');
    expect(hx(openRaw(key, nonce, sealed, ad))).toBe(hx(LADIES));
  });
  it('a flipped bit in ciphertext, tag or AD opens to undefined', () => {
    const sealed = sealRaw(key, nonce, LADIES, ad);
    for (const i of [0, 50, sealed.length - 1]) {
      const bad = Uint8Array.from(sealed);
      bad[i]! ^= 1;
      expect(openRaw(key, nonce, bad, ad)).toBeUndefined();
    }
    expect(openRaw(key, nonce, sealed, h('50515253c0c1c2c3c4c5c6c6'))).toBeUndefined();
    expect(openRaw(key, nonce, sealed.subarray(0, 10), ad)).toBeUndefined();
  });
  it('the transport nonce is 4 zero bytes then the 64-bit counter little endian (§5.4.6)', () => {
    expect(hx(counterNonce(0x0102030405, Buffer.alloc(12)))).toBe('000000000504030201000000');
    expect(hx(counterNonce(2 ** 53 - 1, Buffer.alloc(12)))).toBe('00000000ffffffffffff1f00');
  });
});

describe('BLAKE2s (RFC 7693)', () => {
  it('Appendix B: BLAKE2s-256("abc"), in TypeScript and through node:crypto', () => {
    const abc = new TextEncoder().encode('abc');
    const want = '508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86675982';
    expect(hx(blake2s(abc))).toBe(want);
    expect(hx(hash(abc))).toBe(want);
  });
  it('Appendix E self-test: the hash of 48 keyed and unkeyed hashes of lengths 16..32', () => {
    // RFC 7693 Appendix E's selftest_seq (a Fibonacci byte generator) and its grand hash.
    const selftestSeq = (len: number, seed: number): Uint8Array => {
      const out = new Uint8Array(len);
      let a = Math.imul(0xdead4bad, seed) >>> 0;
      let b = 1;
      for (let i = 0; i < len; i++) {
        const t = (a + b) >>> 0;
        a = b;
        b = t;
        out[i] = (t >>> 24) & 0xff;
      }
      return out;
    };
    const parts: Uint8Array[] = [];
    for (const outLen of [16, 20, 28, 32]) {
      for (const inLen of [0, 3, 64, 65, 255, 1024]) {
        const input = selftestSeq(inLen, inLen);
        parts.push(blake2s(input, outLen));
        parts.push(blake2s(input, outLen, selftestSeq(outLen, outLen)));
      }
    }
    const all = Buffer.concat(parts);
    expect(hx(blake2s(all))).toBe('6a411f08ce25adcdfb02aba641451cec53c598b24f4fc787fbdc88797f4c1dfe');
  });
  it('the BLAKE2 team\'s keyed vectors (blake2s-kat: key 00..1f, input 00..n-1) at the block edges', () => {
    const key = seq(0, 32);
    const kat: [number, string][] = [
      [0, '48a8997da407876b3d79c0d92325ad3b89cbb754d86ab71aee047ad345fd2c49'],
      [1, '40d15fee7c328830166ac3f918650f807e7e01e177258cdc0a39b11f598066f1'],
      [63, 'c65382513f07460da39833cb666c5ed82e61b9e998f4b0c4287cee56c3cc9bcd'],
      [64, '8975b0577fd35566d750b362b0897a26c399136df07bababbde6203ff2954ed4'],
      [65, '21fe0ceb0052be7fb0f004187cacd7de67fa6eb0938d927677f2398c132317a8'],
      [255, '3fb735061abc519dfe979e54c1ee5bfad0a9d858b3315bad34bde999efd724dd'],
    ];
    for (const [n, want] of kat) expect(hx(blake2s(seq(0, n), 32, key)), `length ${n}`).toBe(want);
  });
  it('unkeyed, it agrees with node:crypto\'s blake2s256 on arbitrary input', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      expect(hx(blake2s(b))).toBe(createHash('blake2s256').update(b).digest('hex'));
    }), { numRuns: 200 });
  });
  it('MAC is keyed BLAKE2s with a 16-byte output (differs from a truncated 32-byte one: the length is a parameter)', () => {
    const key = seq(0, 32);
    const m = mac(key, seq(0, 10));
    expect(m.length).toBe(16);
    expect(hx(m)).not.toBe(hx(blake2s(seq(0, 10), 32, key).subarray(0, 16)));
  });
});

describe('HMAC-BLAKE2s and the KDF (whitepaper §5.4)', () => {
  it('node\'s createHmac(\'blake2s256\') is RFC 2104 HMAC over BLAKE2s (checked against our own BLAKE2s)', () => {
    const ref = (key: Uint8Array, msg: Uint8Array): Uint8Array => {
      const k = new Uint8Array(64);
      k.set(key.length > 64 ? blake2s(key) : key);
      const ipad = k.map((x) => x ^ 0x36);
      const opad = k.map((x) => x ^ 0x5c);
      return blake2s(Buffer.concat([opad, blake2s(Buffer.concat([ipad, msg]))]));
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 100 }), (key, msg) => {
      expect(hx(hmac(key, msg))).toBe(hx(ref(key, msg)));
    }), { numRuns: 100 });
  });
  it('KDF1/2/3 give wireguard-go\'s known answers (device/kdf_test.go)', () => {
    const cases = [
      ['746573742d6b6579', '746573742d696e707574', '6f0e5ad38daba1bea8a0d213688736f19763239305e0f58aba697f9ffc41c633', 'df1194df20802a4fe594cde27e92991c8cae66c366e8106aaa937a55fa371e8a', 'fac6e2745a325f5dc5d11a5b165aad08b0ada28e7b4e666b7c077934a4d76c24'],
      ['776972656775617264', '776972656775617264', '491d43bbfdaa8750aaf535e334ecbfe5129967cd64635101c566d4caefda96e8', '1e71a379baefd8a79aa4662212fcafe19a23e2b609a3db7d6bcba8f560e3d25f', '31e1ae48bddfbe5de38f295e5452b1909a1b4e38e183926af3780b0c1e1f0160'],
      ['', '', '8387b46bf43eccfcf349552a095d8315c4055beb90208fb1be23b894bc2ed5d0', '58a0e5f6faefccf4807bff1f05fa8a9217945762040bcec2f4b4a62bdfe0e86e', '0ce6ea98ec548f8e281e93e32db65621c45eb18dc6f0a7ad94178610a2f7338e'],
    ] as const;
    for (const [key, input, t0, t1, t2] of cases) {
      expect(kdf3(h(key), h(input)).map(hx)).toEqual([t0, t1, t2]);
      expect(kdf2(h(key), h(input)).map(hx)).toEqual([t0, t1]);
      expect(hx(kdf1(h(key), h(input)))).toBe(t0);
    }
  });
});

describe('XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha)', () => {
  it('§2.2.1: HChaCha20 over node\'s ChaCha20 block function', () => {
    expect(hx(hchacha20(seq(0, 32), h('000000090000004a0000000031415927')))).toBe('82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc');
  });
  it('§A.3.1: the AEAD vector (first 32 bytes of ciphertext and the tag) and it opens', () => {
    const key = seq(0x80, 32);
    const nonce = seq(0x40, 24);
    const ad = h('50515253c0c1c2c3c4c5c6c7');
    const sealed = xseal(key, nonce, LADIES, ad);
    expect(hx(sealed.subarray(0, 32))).toBe('bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb');
    expect(hx(sealed.subarray(sealed.length - 16))).toBe('c0875924c1c7987947deafd8780acf49');
    expect(hx(xopen(key, nonce, sealed, ad))).toBe(hx(LADIES));
    sealed[3]! ^= 0x80;
    expect(xopen(key, nonce, sealed, ad)).toBeUndefined();
  });
});

describe('TAI64N (§5.4.2)', () => {
  it('2^62 + seconds, big endian, nanoseconds rounded down to 2^24', () => {
    // 2020-01-01T00:00:00.5Z = 1577836800.5 s
    expect(hx(tai64n(1577836800500))).toBe('400000005e0be100' + (Math.floor(500e6 / 2 ** 24) * 2 ** 24).toString(16).padStart(8, '0'));
  });
  it('orders by time', () => {
    expect(taiAfter(tai64n(2000), tai64n(1000))).toBe(true);
    expect(taiAfter(tai64n(1000), tai64n(1000))).toBe(false);
    expect(taiAfter(tai64n(1000), tai64n(2000))).toBe(false);
    expect(taiAfter(tai64n(2 ** 33 * 1000), tai64n(1000))).toBe(true);
  });
});
