import { describe, expect, it } from 'vitest';
import { icmpErrorErrno } from '../src/index.js';

describe('icmpErrorErrno: the one ICMP-to-errno table (Linux icmp_err_convert, net/ipv4/icmp.c)', () => {
  it('destination unreachable codes 0-15', () => {
    // Written out from the RFC 792 / RFC 1812 code names and Linux's table, one row per code.
    const linux: [string, boolean][] = [
      ['ENETUNREACH', false], ['EHOSTUNREACH', false], ['ENOPROTOOPT', true], ['ECONNREFUSED', true],
      ['EMSGSIZE', false], ['EOPNOTSUPP', false], ['ENETUNREACH', true], ['EHOSTDOWN', true],
      ['ENONET', true], ['ENETUNREACH', true], ['EHOSTUNREACH', true], ['ENETUNREACH', false],
      ['EHOSTUNREACH', false], ['EHOSTUNREACH', true], ['EHOSTUNREACH', true], ['EHOSTUNREACH', true],
    ];
    linux.forEach(([code, fatal], i) => expect(icmpErrorErrno(3, i), `code ${i}`).toEqual({ code, fatal }));
  });

  it('codes above 15 are a soft EHOSTUNREACH (udp_err, ping_err); time exceeded soft; parameter problem fatal EPROTO', () => {
    expect(icmpErrorErrno(3, 16)).toEqual({ code: 'EHOSTUNREACH', fatal: false });
    expect(icmpErrorErrno(3, 255)).toEqual({ code: 'EHOSTUNREACH', fatal: false });
    expect(icmpErrorErrno(11, 0)).toEqual({ code: 'EHOSTUNREACH', fatal: false });
    expect(icmpErrorErrno(12, 0)).toEqual({ code: 'EPROTO', fatal: true });
  });

  it('source quench (RFC 6633 §3) and other types report nothing', () => {
    expect(icmpErrorErrno(4, 0)).toBeUndefined();
    expect(icmpErrorErrno(0, 0)).toBeUndefined();
    expect(icmpErrorErrno(5, 1)).toBeUndefined();
  });
});
