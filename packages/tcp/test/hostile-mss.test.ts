/**
 * A peer announcing a tiny MSS (1..64) to make the stack send one header per few octets:
 * the per-segment overhead amplification Linux guards with TCP_MIN_SND_MSS (48). Here the
 * floor is `minMss` (88 by default, layer.ts): whatever the SYN says, no segment carries
 * fewer octets than that unless the data itself is shorter. Checked against netstack serve
 * with scapy (a peer with MSS 1, 48 or 64 downloading 20 kB: segments of 88).
 */
import { describe, expect, it } from 'vitest';
import { established } from './harness.js';

describe('tiny peer MSS (RFC 9293 §3.7.1; Linux TCP_MIN_SND_MSS)', () => {
  for (const mss of [0, 1, 48, 64, 87]) {
    it(`an MSS option of ${mss} is raised to minMss (88): a 1000-octet write leaves in 88-octet segments`, () => {
      const t = established({}, { mss });
      expect(t.conn.stats.sndMss).toBe(88);
      t.write(new Uint8Array(1000));
      const lens = t.drain().map((s) => s.payload.length);
      expect(lens.length).toBeGreaterThan(0);
      expect(lens.every((n) => n === 88)).toBe(true);
    });
  }
  it('minMss can be set (here 536): a peer MSS of 1 then gives 536-octet segments', () => {
    const t = established({ minMss: 536 }, { mss: 1 });
    expect(t.conn.stats.sndMss).toBe(536);
  });
});
