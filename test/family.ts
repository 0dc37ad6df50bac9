/**
 * The address family a run of the family-neutral tests uses. The trace tests of tcp and
 * udp and the whole-stack simulation run twice, once per family, by project rather than
 * by copy: vitest.config.ts declares `tcp`/`udp`/`sim` (IPv4) and `tcp6`/`udp6`/`sim6`
 * (the same files, `provide: { family: 6 }`); the harnesses read the family here and
 * take their addresses, pseudo-header and MTU from it. Files that are inherently one
 * family (golden IPv4 bytes, IPv4 offload, IGMP) are left out of the `*6` projects.
 */
import { inject } from 'vitest';

export type Family = 4 | 6;

declare module 'vitest' {
  export interface ProvidedContext {
    family: Family;
  }
}

/** 6 in the `*6` projects, else 4. */
export const FAMILY: Family = inject('family') === 6 ? 6 : 4;

/** "IPv4" or "IPv6", for test names and messages. */
export const FAMILY_NAME = FAMILY === 6 ? 'IPv6' : 'IPv4';

/** Extra bytes of network header over IPv4's 20: an IPv6 header is 40 (RFC 8200 §3). */
export const NET_HEADER = FAMILY === 6 ? 40 : 20;

/**
 * Whether a transport segment's checksum verifies over the pseudo-header of the family of
 * `src`/`dst`, laid out as bytes here (not through the code under test): RFC 9293 §3.1 /
 * RFC 768 for IPv4 (12 bytes), RFC 8200 §8.1 for IPv6 (40 bytes: addresses, 32-bit
 * upper-layer length, 3 zero bytes, next header).
 */
export function checksumVerifies(protocol: number, src: number | string, dst: number | string, seg: Uint8Array): boolean {
  let ph: Uint8Array;
  if (typeof src === 'number' && typeof dst === 'number') {
    ph = new Uint8Array(12);
    const v = new DataView(ph.buffer);
    v.setUint32(0, src);
    v.setUint32(4, dst);
    ph[9] = protocol;
    v.setUint16(10, seg.length);
  } else if (typeof src === 'string' && typeof dst === 'string' && src.length === 16 && dst.length === 16) {
    ph = new Uint8Array(40);
    for (let i = 0; i < 16; i++) { ph[i] = src.charCodeAt(i); ph[16 + i] = dst.charCodeAt(i); }
    new DataView(ph.buffer).setUint32(32, seg.length);
    ph[39] = protocol;
  } else {
    throw new Error('checksumVerifies: mixed or malformed addresses');
  }
  let sum = 0;
  for (const b of [ph, seg]) {
    for (let i = 0; i < b.length; i += 2) sum += (b[i]! << 8) | (b[i + 1] ?? 0);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}
