/**
 * The device side of IPv6 without privileges: IPv6 CIDR parsing (RFC 4291 §2.2, RFC 5952
 * text), the RTM_NEWADDR request (golden bytes computed independently with Python's
 * struct from linux/netlink.h, if_addr.h), the ack decoder, and TunDevice's kernelAddress
 * handling over the scripted libc: IPv4 by ioctl, IPv6 by rtnetlink with IFA_F_NODAD, the
 * IPv6-off cases reported (device.ipv6 false + a reason), never thrown. The kernel side is
 * test/kernel/tun-ipv6.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeLibc } from './fake-libc.js';
import { decodeAck, encodeNewAddr6, formatIpv6, parseIpv6Cidr } from '../src/netlink.js';

const holder = vi.hoisted(() => ({ libc: undefined as unknown }));
vi.mock('../src/libc.js', () => ({ libc: () => holder.libc }));

const { TunDevice, closeAllTunDevices } = await import('../src/index.js');

const SIOCSIFADDR = 0x8916;
const SIOCSIFFLAGS = 0x8914;
const SIOCGIFINDEX = 0x8933;
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

let sys: FakeLibc;
beforeEach(() => {
  sys = new FakeLibc();
  holder.libc = sys;
});
afterEach(() => {
  closeAllTunDevices();
});

describe('IPv6 CIDR text (RFC 4291 §2.2 in, RFC 5952 out)', () => {
  it('parses the usual forms and prints them canonically', () => {
    const cases: [string, string, number][] = [
      ['fd07::1/64', 'fd07::1', 64],
      ['FD07:0:0:0:0:0:0:1/64', 'fd07::1', 64],
      ['fd07::1', 'fd07::1', 128],
      ['2001:db8:0:0:1:0:0:1/48', '2001:db8::1:0:0:1', 48],
      ['2001:0db8:0000:0000:0000:0000:0002:0001/127', '2001:db8::2:1', 127],
      ['::ffff:10.7.0.1/96', '::ffff:a07:1', 96],
      ['1:2:3:4:5:6:7:8/128', '1:2:3:4:5:6:7:8', 128],
      ['1:0:3:4:5:6:7:8/64', '1:0:3:4:5:6:7:8', 64], // a single zero word is not ::
      ['fe80::1/64', 'fe80::1', 64],
    ];
    for (const [text, addr, len] of cases) {
      const c = parseIpv6Cidr(text);
      expect(c.text, text).toBe(`${addr}/${len}`);
      expect(c.prefixLength).toBe(len);
    }
    expect(hex(parseIpv6Cidr('fd07::1/64').address)).toBe('fd070000000000000000000000000001');
    expect(formatIpv6(new Uint8Array(16))).toBe('::');
  });

  it('refuses what is not an IPv6 CIDR, as ERR_INVALID_ARG_VALUE', () => {
    for (const bad of ['fd07::1/0', 'fd07::1/129', 'fd07:::1', '1::2::3', 'fd07::g', '12345::1', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', 'fe80::1%tun0/64', '::1.2.3.256', '', '/64']) {
      expect(() => parseIpv6Cidr(bad), bad).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    }
  });
});

describe('RTM_NEWADDR (rtnetlink) for an IPv6 address with IFA_F_NODAD', () => {
  it('golden bytes: fd07::1/64 on ifindex 7, seq 1', () => {
    expect(hex(encodeNewAddr6(parseIpv6Cidr('fd07::1/64'), 7, 1))).toBe(
      '48000000' + '1400' + '0506' + '01000000' + '00000000' // nlmsghdr: len 72, RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE
      + '0a' + '40' + '02' + '00' + '07000000' // ifaddrmsg: AF_INET6, /64, IFA_F_NODAD, universe, index 7
      + '1400' + '0200' + 'fd070000000000000000000000000001' // IFA_LOCAL
      + '1400' + '0100' + 'fd070000000000000000000000000001' // IFA_ADDRESS
      + '0800' + '0800' + '02000000', // IFA_FLAGS: IFA_F_NODAD
    );
  });

  it('decodes the NLMSG_ERROR answer of its own sequence number only', () => {
    const ack = (seq: number, error: number): number[] => {
      const b = Buffer.alloc(36);
      b.writeUInt32LE(36, 0);
      b.writeUInt16LE(2, 4);
      b.writeUInt32LE(seq, 8);
      b.writeInt32LE(error, 16);
      return [...b];
    };
    expect(decodeAck(Uint8Array.from(ack(1, 0)), 36, 1)).toBe(0);
    expect(decodeAck(Uint8Array.from(ack(1, -13)), 36, 1)).toBe(13);
    expect(decodeAck(Uint8Array.from([...ack(9, -17), ...ack(2, -17)]), 72, 2)).toBe(17);
    expect(decodeAck(Uint8Array.from(ack(1, 0)), 36, 2)).toBeUndefined();
    expect(decodeAck(Uint8Array.from(ack(1, 0)), 20, 1)).toBeUndefined(); // truncated
    const broken = Uint8Array.from(ack(1, 0));
    broken[0] = 4; // nlmsg_len below the header
    expect(decodeAck(broken, 36, 1)).toBeUndefined();
    expect(decodeAck(new Uint8Array(0), 0, 1)).toBeUndefined();
  });
});

describe('TunDevice kernelAddress with IPv6', () => {
  const ioctls = (): number[] => sys.calls.filter((c) => c.fn === 'ioctlPtr').map((c) => c.args[1] as number);

  it('a mixed array: IPv4 by SIOCSIFADDR, the link up, then IPv6 by RTM_NEWADDR with nodad on the device index', () => {
    sys.ifIndex = 42;
    const dev = TunDevice.open({ name: 'tun0', kernelAddress: ['10.7.0.1/24', 'fd07::1/64'] });
    expect(dev.ipv6).toBe(true);
    expect(dev.ipv6Disabled).toBeUndefined();
    const order = ioctls();
    expect(order.indexOf(SIOCSIFADDR)).toBeLessThan(order.indexOf(SIOCSIFFLAGS));
    expect(order.indexOf(SIOCSIFFLAGS)).toBeLessThan(order.indexOf(SIOCGIFINDEX));
    expect(sys.netlinkSent.map(hex)).toEqual([hex(encodeNewAddr6(parseIpv6Cidr('fd07::1/64'), 42, 1))]);
    expect(sys.calls.find((c) => c.fn === 'socket' && c.args[0] === 16)?.args).toEqual([16, 3 | 0o2000000, 0]);
    expect(sys.calls.find((c) => c.fn === 'recv')?.args[2]).toBe(0x40); // MSG_DONTWAIT: never blocks
    expect([...sys.openFds]).toEqual([dev.fd]); // both short-lived sockets closed
  });

  it('a single string still works, IPv4 or IPv6; several IPv6 addresses each get a request', () => {
    TunDevice.open({ name: 'tun0', kernelAddress: '10.7.0.1/24' });
    expect(sys.netlinkSent).toHaveLength(0);
    expect(sys.calls.some((c) => c.fn === 'readText')).toBe(true); // IPv6 state is read anyway
    TunDevice.open({ name: 'tun1', kernelAddress: 'fd07::1/64' });
    expect(sys.netlinkSent).toHaveLength(1);
    expect(ioctls().filter((r) => r === SIOCSIFADDR)).toHaveLength(1); // only tun0's IPv4
    TunDevice.open({ name: 'tun2', kernelAddress: ['fd07::1/64', 'fd08::1/64'] });
    expect(sys.netlinkSent).toHaveLength(3);
    expect(sys.netlinkSent[2]![17]).toBe(64);
  });

  it('bad kernelAddress values throw before any system call', () => {
    const bad: [unknown, string][] = [
      [['10.7.0.1/24', '10.8.0.1/24'], 'ERR_INVALID_ARG_VALUE'],
      [[], 'ERR_INVALID_ARG_VALUE'],
      [['fd07::1/64', 5], 'ERR_INVALID_ARG_TYPE'],
      [5, 'ERR_INVALID_ARG_TYPE'],
      [['fd07::1/200'], 'ERR_INVALID_ARG_VALUE'],
      [Array.from({ length: 17 }, (_, i) => `fd07::${i + 1}/64`), 'ERR_OUT_OF_RANGE'],
    ];
    for (const [value, code] of bad) {
      expect(() => TunDevice.open({ kernelAddress: value as string }), JSON.stringify(value)).toThrow(expect.objectContaining({ code }));
    }
    expect(sys.calls).toHaveLength(0);
  });

  it('IPv6 disabled in the namespace (all.disable_ipv6 = 1): IPv4 configured, IPv6 skipped and said, no request', () => {
    sys.files.set('/proc/sys/net/ipv6/conf/all/disable_ipv6', '1\n');
    const dev = TunDevice.open({ name: 'tun0', kernelAddress: ['10.7.0.1/24', 'fd07::1/64'] });
    expect(dev.ipv6).toBe(false);
    expect(dev.ipv6Disabled).toBe('IPv6 is disabled in this network namespace (net.ipv6.conf.all.disable_ipv6 = 1)');
    expect(sys.netlinkSent).toHaveLength(0);
    expect(ioctls()).toContain(SIOCSIFADDR);
  });

  it('IPv6 disabled on the device only, or no IPv6 in the kernel at all: the reason names it', () => {
    sys.files.set('/proc/sys/net/ipv6/conf/tun0/disable_ipv6', '1\n');
    const a = TunDevice.open({ name: 'tun0', kernelAddress: 'fd07::1/64' });
    expect(a.ipv6Disabled).toBe('IPv6 is disabled on tun0 (net.ipv6.conf.tun0.disable_ipv6 = 1)');
    sys.files.set('/proc/sys/net/ipv6/conf/all/disable_ipv6', undefined);
    const b = TunDevice.open({ name: 'tun1', kernelAddress: 'fd07::1/64' });
    expect(b.ipv6).toBe(false);
    expect(b.ipv6Disabled).toMatch(/^IPv6 is not available: .*cannot be read/);
    expect(sys.netlinkSent).toHaveLength(0);
  });

  it('an MTU below 1280 means no IPv6 (RFC 8200 §5), without asking the kernel', () => {
    const dev = TunDevice.open({ name: 'tun0', mtu: 1279, kernelAddress: ['10.7.0.1/24', 'fd07::1/64'] });
    expect(dev.ipv6Disabled).toBe('IPv6 needs an MTU of at least 1280 (RFC 8200 §5); tun0 has 1279');
    expect(sys.netlinkSent).toHaveLength(0);
    dev.configure({ mtu: 1280 });
    expect(dev.ipv6).toBe(true); // read again on every configure
  });

  it('the kernel refusing with EACCES / EAFNOSUPPORT is reported as IPv6 off; EEXIST is fine; anything else throws', () => {
    sys.netlinkErrno = 13;
    const a = TunDevice.open({ name: 'tun0', kernelAddress: ['10.7.0.1/24', 'fd07::1/64'] });
    expect(a.ipv6Disabled).toBe('IPv6 is disabled on tun0: the kernel refused fd07::1/64 (EACCES)');
    sys.netlinkErrno = 97;
    expect(TunDevice.open({ name: 'tun1', kernelAddress: 'fd07::1/64' }).ipv6Disabled).toMatch(/not available.*EAFNOSUPPORT/);
    sys.netlinkErrno = 17;
    expect(TunDevice.open({ name: 'tun2', kernelAddress: 'fd07::1/64' }).ipv6).toBe(true);
    sys.netlinkErrno = 22;
    const before = new Set(sys.openFds);
    expect(() => TunDevice.open({ name: 'tun3', kernelAddress: 'fd07::1/64' })).toThrow(
      expect.objectContaining({ code: 'EINVAL', syscall: 'ioctl', message: expect.stringMatching(/add address fd07::1\/64 on tun3/) }),
    );
    expect(sys.openFds).toEqual(before); // the tun fd and both sockets closed
  });

  it('configure() adds an IPv6 address to an open device', () => {
    const dev = TunDevice.open({ name: 'tun0', kernelAddress: '10.7.0.1/24' });
    dev.configure({ kernelAddress: ['fd07::1/64'] });
    expect(sys.netlinkSent.map((r) => r[17])).toEqual([64]);
    expect(dev.ipv6).toBe(true);
  });
});
