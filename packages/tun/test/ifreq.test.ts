import { describe, expect, it } from 'vitest';
import {
  ifreq,
  IFREQ_SIZE,
  parseIpv4Cidr,
  readIfAddr,
  readIfFlags,
  readIfMtu,
  readIfName,
  validateIfName,
  writeIfAddr,
  writeIfFlags,
  writeIfMtu,
} from '../src/ifreq.js';

describe('struct ifreq encoding', () => {
  it('is 40 bytes with the NUL-terminated name at offset 0', () => {
    const req = ifreq('tun0');
    expect(req.length).toBe(IFREQ_SIZE);
    expect([...req.subarray(0, 6)]).toEqual([0x74, 0x75, 0x6e, 0x30, 0, 0]);
    expect(readIfName(req)).toBe('tun0');
  });

  it('keeps a 15-byte name with its terminating NUL inside the 16-byte field', () => {
    const req = ifreq('abcdefghijklmno');
    expect(req[14]).toBe('o'.charCodeAt(0));
    expect(req[15]).toBe(0);
    expect(readIfName(req)).toBe('abcdefghijklmno');
  });

  it('writes flags at offset 16 as a signed int16, sign-extending 0x8000 (IFF_TUN_EXCL)', () => {
    const req = ifreq('tun0');
    writeIfFlags(req, 0x8000 | 0x1000 | 0x0001);
    expect([...req.subarray(16, 18)]).toEqual([0x01, 0x90]);
    expect(req.readInt16LE(16)).toBe(-0x6fff);
    expect(readIfFlags(req)).toBe(0x9001);
    writeIfFlags(req, 0xffff);
    expect(readIfFlags(req)).toBe(0xffff);
    writeIfFlags(req, 0x1001);
    expect(req.readUInt16LE(16)).toBe(0x1001);
    expect(() => writeIfFlags(req, 0x10000)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
  });

  it('reads back negative flags from the kernel as unsigned', () => {
    const req = ifreq('tun0');
    req.writeInt16LE(-1, 16);
    expect(readIfFlags(req)).toBe(0xffff);
  });

  it('writes the MTU as int32 at offset 16', () => {
    const req = ifreq('tun0');
    writeIfMtu(req, 65535);
    expect([...req.subarray(16, 20)]).toEqual([0xff, 0xff, 0, 0]);
    expect(readIfMtu(req)).toBe(65535);
  });

  it('writes a sockaddr_in at offset 16: AF_INET little-endian, port 0, address in network order', () => {
    const req = ifreq('tun0');
    req.fill(0xee, 16);
    writeIfAddr(req, Uint8Array.of(10, 7, 0, 1));
    expect([...req.subarray(16, 32)]).toEqual([2, 0, 0, 0, 10, 7, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect([...readIfAddr(req)]).toEqual([10, 7, 0, 1]);
    expect(readIfName(req)).toBe('tun0');
  });
});

describe('interface names', () => {
  it.each(['tun0', 'tun%d', 'a', 'abcdefghijklmno', 'tap-é1'])('accepts %j', (name) => {
    expect(validateIfName(name)).toBe(name);
  });
  it.each(['', 'abcdefghijklmnop', 'ééééééééé'.slice(0, 8), '.', '..', 'a/b', 'a:b', 'a b'])('refuses %j', (name) => {
    expect(() => validateIfName(name)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
});

describe('IPv4 CIDR parsing', () => {
  it.each([
    ['10.7.0.1/24', [10, 7, 0, 1], 24, [255, 255, 255, 0]],
    ['192.168.1.9/31', [192, 168, 1, 9], 31, [255, 255, 255, 254]],
    ['10.0.0.1/1', [10, 0, 0, 1], 1, [128, 0, 0, 0]],
    ['10.0.0.1', [10, 0, 0, 1], 32, [255, 255, 255, 255]],
  ])('%s', (text, address, prefixLength, netmask) => {
    const cidr = parseIpv4Cidr(text);
    expect([...cidr.address]).toEqual(address);
    expect(cidr.prefixLength).toBe(prefixLength);
    expect([...cidr.netmask]).toEqual(netmask);
  });
  it.each(['10.7.0/24', '10.7.0.1/0', '10.7.0.1/33', '300.1.1.1/8', ' 10.7.0.1/24', '10.7.0.1/24x'])('refuses %j', (text) => {
    expect(() => parseIpv4Cidr(text)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
});
