// The gateway's pure helpers: the upstream DNS text and /etc/resolv.conf (gateway.ts).
import { describe, expect, it } from 'vitest';
import { firstNameserver, parseHostPort } from '../../src/gateway/gateway.js';

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
