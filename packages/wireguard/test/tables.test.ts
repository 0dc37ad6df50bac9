/** The replay window (RFC 6479) and the allowed IPs (longest prefix match) on their own. */
import { describe, expect, it } from 'vitest';
import { AllowedIps, parseIp, parsePrefix, REPLAY_WINDOW, ReplayWindow } from '../src/index.js';

describe('ReplayWindow', () => {
  it('is at least 2048 bits (the issue) and RFC 6479 sized: 8160', () => {
    expect(REPLAY_WINDOW).toBeGreaterThanOrEqual(2048);
    expect(REPLAY_WINDOW).toBe(8160);
  });
  it('edges: first counter 0, duplicate, the window\'s last slot, one past it, a jump that clears the ring', () => {
    const w = new ReplayWindow();
    const L = 1e9;
    expect(w.check(0, L)).toBe(true);
    expect(w.check(0, L)).toBe(false);
    expect(w.check(10_000, L)).toBe(true);
    expect(w.check(10_000 - REPLAY_WINDOW, L)).toBe(true);
    expect(w.check(10_000 - REPLAY_WINDOW - 1, L)).toBe(false);
    expect(w.check(9_999, L)).toBe(true);
    expect(w.check(9_999, L)).toBe(false);
    expect(w.check(1_000_000, L)).toBe(true); // far ahead: every old bit cleared
    expect(w.check(1_000_000 - 1, L)).toBe(true);
    expect(w.check(1_000_000 - 32 * 256 + 40, L)).toBe(true); // a slot that held 9_999's word before
  });
  it('the limit: counters at or past REJECT_AFTER_MESSAGES and non-numbers are refused', () => {
    const w = new ReplayWindow();
    expect(w.check(4, 5)).toBe(true);
    expect(w.check(5, 5)).toBe(false);
    expect(w.check(Infinity, 5)).toBe(false);
    expect(w.check(Number.NaN, 5)).toBe(false);
  });
});

describe('AllowedIps', () => {
  it('longest prefix wins, IPv4 and IPv6 apart, default routes', () => {
    const t = new AllowedIps<string>();
    t.insert('0.0.0.0/0', 'default4');
    t.insert('10.0.0.0/8', 'ten');
    t.insert('10.1.0.0/16', 'ten-one');
    t.insert('10.1.2.3/32', 'host');
    t.insert('::/0', 'default6');
    t.insert('fd00::/8', 'ula');
    t.insert('fd00:1::/32', 'ula-1');
    const at = (a: string): string | undefined => t.lookup(parseIp(a)!);
    expect(at('10.1.2.3')).toBe('host');
    expect(at('10.1.2.4')).toBe('ten-one');
    expect(at('10.2.0.1')).toBe('ten');
    expect(at('192.0.2.1')).toBe('default4');
    expect(at('fd00:1::5')).toBe('ula-1');
    expect(at('fd00:2::5')).toBe('ula');
    expect(at('2001:db8::1')).toBe('default6');
    expect(at('::ffff:10.1.2.3')).toBe('default6'); // an IPv6 address, not IPv4
  });
  it('a prefix given to another value moves (wg semantics); removeValue drops all of one peer', () => {
    const t = new AllowedIps<string>();
    t.insert('10.0.0.0/24', 'a');
    t.insert('10.0.0.7/24', 'b'); // same prefix after masking
    expect(t.lookup(parseIp('10.0.0.1')!)).toBe('b');
    expect(t.entries('b')).toEqual(['10.0.0.0/24']);
    t.insert('fd00::1/128', 'b');
    expect(t.entries('b')).toEqual(['10.0.0.0/24', 'fd00:0:0:0:0:0:0:1/128']);
    expect(t.removeValue('b')).toBe(2);
    expect(t.lookup(parseIp('10.0.0.1')!)).toBeUndefined();
  });
  it('bounded: inserting past maxEntries throws (configuration, not wire input)', () => {
    const t = new AllowedIps<number>(3);
    t.insert('10.0.0.1', 1);
    t.insert('10.0.0.2', 2);
    t.insert('10.0.0.3', 3);
    expect(() => t.insert('10.0.0.4', 4)).toThrow(/full/);
    t.insert('10.0.0.3', 5); // replacing an existing prefix is allowed
    expect(t.size).toBe(3);
  });
  it('parses textual addresses and prefixes, and refuses malformed ones', () => {
    expect(parsePrefix('10.0.0.0/33')).toBeUndefined();
    expect(parsePrefix('fd00::/129')).toBeUndefined();
    expect(parseIp('1.2.3')).toBeUndefined();
    expect(parseIp('1:2:3:4:5:6:7:8:9')).toBeUndefined();
    expect(Buffer.from(parseIp('1::2')!).toString('hex')).toBe('00010000000000000000000000000002');
    expect(Buffer.from(parseIp('::ffff:1.2.3.4')!).toString('hex')).toBe('00000000000000000000ffff01020304');
    expect(() => new AllowedIps().insert('nonsense', 1)).toThrow(/not an IP prefix/);
  });
});
