// The gateway's pure helpers: the upstream DNS text and /etc/resolv.conf (gateway.ts).
import { describe, expect, it } from 'vitest';
import net from 'node:net';
import fc from 'fast-check';
import { firstNameserver, forbidden, parseHostPort } from '../../src/gateway/gateway.js';

describe('parseHostPort', () => {
  it('takes IP, IP:PORT, [IPv6]:PORT, bare IPv6 and names, default port 53', () => {
    expect(parseHostPort('10.8.0.1')).toEqual({ host: '10.8.0.1', port: 53 });
    expect(parseHostPort('10.8.0.1:5353')).toEqual({ host: '10.8.0.1', port: 5353 });
    expect(parseHostPort('[fd08::1]:5353')).toEqual({ host: 'fd08::1', port: 5353 });
    expect(parseHostPort('[fd08::1]')).toEqual({ host: 'fd08::1', port: 53 });
    expect(parseHostPort('fd08::1')).toEqual({ host: 'fd08::1', port: 53 });
    expect(parseHostPort('proxy.local:1080', 1080)).toEqual({ host: 'proxy.local', port: 1080 });
    expect(parseHostPort('proxy.local', 1080)).toEqual({ host: 'proxy.local', port: 1080 });
  });
  it('refuses bad ports and shapes', () => {
    for (const bad of ['10.8.0.1:0', '10.8.0.1:65536', '10.8.0.1:x', ':53', '[10.8.0.1]:53', '[fd08::1]:99999', '']) {
      expect(parseHostPort(bad), bad).toBeUndefined();
    }
  });
});

describe('firstNameserver', () => {
  it('takes the first nameserver line, skipping comments and other keywords, dropping a zone', () => {
    expect(firstNameserver('# generated\nsearch example\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n')).toBe('192.0.2.53');
    expect(firstNameserver('nameserver fe80::1%eth0\n')).toBe('fe80::1');
    expect(firstNameserver('; nameserver 1.1.1.1\n#nameserver 9.9.9.9\noptions ndots:1\n')).toBeUndefined();
    expect(firstNameserver('')).toBeUndefined();
  });
});

describe('forbidden destinations', () => {
  /** The definition (the regular-expression version the gateway used before session 20). */
  const reference = (address: string): boolean => {
    if (net.isIPv4(address)) {
      const first = Number(address.split('.')[0]);
      return first === 127 || first === 0;
    }
    const a = address.toLowerCase();
    return a === '::1' || a === '::' || a.startsWith('::ffff:') || /^::(\d+\.){3}\d+$/.test(a);
  };

  it('loopback, unspecified and IPv4-mapped/compatible IPv6 are; other addresses and names are not', () => {
    for (const a of ['127.0.0.1', '127.255.255.254', '0.0.0.0', '0.1.2.3', '::1', '::', '::ffff:10.8.0.1', '::FFFF:127.0.0.1', '::10.8.0.1']) expect(forbidden(a)).toBe(true);
    for (const a of ['10.8.0.1', '1.2.3.4', '128.0.0.1', '12.7.0.1', '00.1.2.3', '127.example.com', '0.example', 'example.com', 'fd08::1', '2001:db8::1', '::2', '']) expect(forbidden(a)).toBe(false);
  });

  it('agrees with the definition on any dotted quad, IPv6 address and string', () => {
    const octets = fc.oneof(fc.constantFrom('0', '127', '00', '010', '255', '256'), fc.integer({ min: 0, max: 300 }).map(String));
    const quad = fc.tuple(octets, octets, octets, octets).map((o) => o.join('.'));
    const text = fc.oneof(quad, fc.ipV6(), quad.map((q) => `::ffff:${q}`), quad.map((q) => `::${q}`), fc.string(), fc.constantFrom('127.', '0.', '127.0.0', '0.0.0.0.0'));
    fc.assert(fc.property(text, (a) => forbidden(a) === reference(a)), { numRuns: 5000 });
  });
});
