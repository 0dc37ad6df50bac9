/**
 * The `netns` and `routes` options without privileges, over the scripted libc: the order of
 * the calls (the thread enters the target, creates and configures, comes back, and only
 * then starts polling), cleanup on every failure (back home, tun fd and namespace fds
 * closed), the abort when the thread cannot come back, configure() re-entering, the
 * RTM_NEWROUTE bytes (golden bytes computed independently with Python's struct from
 * linux/rtnetlink.h), route validation, and IPv6 routes skipped where IPv6 is off.
 * The kernel side is test/kernel/tun-netns.test.ts at the root.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeLibc } from './fake-libc.js';
import { encodeNewRoute, parseRoute } from '../src/netlink.js';
import { CLONE_NEWNET, resolveNetns } from '../src/netns.js';

const holder = vi.hoisted(() => ({ libc: undefined as unknown }));
vi.mock('../src/libc.js', () => ({ libc: () => holder.libc }));

const { TunDevice, closeAllTunDevices } = await import('../src/index.js');

const SIOCGIFFLAGS = 0x8913;
const SIOCSIFFLAGS = 0x8914;
const SIOCSIFMTU = 0x8922;
const THREAD = '/proc/thread-self/ns/net';
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

let sys: FakeLibc;
beforeEach(() => {
  sys = new FakeLibc();
  holder.libc = sys;
});
afterEach(() => {
  closeAllTunDevices();
});

/** The calls as short names: open:PATH, setns:PATH (where the thread went), poll, ... */
function trace(s: FakeLibc): string[] {
  const paths = new Map<number, string>();
  let next = 10;
  const out: string[] = [];
  for (const c of s.calls) {
    if (c.fn === 'open') {
      paths.set(next++, c.args[0] as string);
      out.push(`open:${String(c.args[0])}`);
    } else if (c.fn === 'socket') {
      next++;
      out.push(`socket:${String(c.args[0])}`);
    } else if (c.fn === 'setns') {
      out.push(`setns:${paths.get(c.args[0] as number) ?? '?'}`);
    } else if (c.fn === 'close') {
      out.push(`close:${paths.get(c.args[0] as number) ?? 'socket'}`);
    } else out.push(c.fn);
  }
  return out;
}

describe('netns option: where each step happens', () => {
  it('resolves a name, a process id and a path; refuses bad values before any system call', () => {
    expect(resolveNetns('blue')).toMatchObject({ path: '/run/netns/blue', kind: 'name' });
    expect(resolveNetns(1234)).toMatchObject({ path: '/proc/1234/ns/net', kind: 'pid' });
    expect(resolveNetns('/var/run/netns/x')).toMatchObject({ path: '/var/run/netns/x', kind: 'path' });
    expect(resolveNetns('42')).toMatchObject({ path: '/run/netns/42', kind: 'name' }); // digits in a string are a name
    for (const [bad, code] of [[0, 'ERR_OUT_OF_RANGE'], [-1, 'ERR_OUT_OF_RANGE'], [1.5, 'ERR_OUT_OF_RANGE'], ['', 'ERR_INVALID_ARG_VALUE'], ['..', 'ERR_INVALID_ARG_VALUE'], ['a\0b', 'ERR_INVALID_ARG_VALUE'], [{}, 'ERR_INVALID_ARG_TYPE'], [true, 'ERR_INVALID_ARG_TYPE']] as const) {
      expect(() => TunDevice.open({ netns: bad as never }), String(bad)).toThrow(expect.objectContaining({ code }));
    }
    expect(sys.calls).toEqual([]);
  });

  it('enters the target, creates and configures there, comes back, then polls', () => {
    const dev = TunDevice.open({ name: 'nat0', netns: 'blue', kernelAddress: '10.0.2.100/24', mtu: 65520, routes: [{ dst: 'default', via: '10.0.2.2' }] });
    const t = trace(sys);
    const enter = t.indexOf('setns:/run/netns/blue');
    const leave = t.indexOf(`setns:${THREAD}`);
    expect(t.slice(0, 2)).toEqual(['open:/run/netns/blue', `open:${THREAD}`]);
    expect(enter).toBe(2);
    expect(leave).toBeGreaterThan(enter);
    // Everything that creates or configures is inside the window: /dev/net/tun, both sockets, the sysctl reads.
    const inside = t.slice(enter + 1, leave);
    expect(inside[0]).toBe('open:/dev/net/tun');
    expect(inside).toContain('ioctlPtr');
    expect(inside.filter((x) => x === 'socket:2')).toHaveLength(2); // lo up, then the device's ioctls
    expect(inside).toContain('socket:16'); // rtnetlink for the route
    expect(inside).toContain('readText');
    expect(t.slice(leave + 1)).toEqual([`close:${THREAD}`, 'poll']);
    expect(sys.setnsCalls).toHaveLength(2);
    expect(sys.calls.filter((c) => c.fn === 'setns').every((c) => c.args[1] === CLONE_NEWNET)).toBe(true);
    expect(sys.threadNetns).toBe('own');
    // lo first (its flags read, and set: the fake starts with every link down), then the device.
    const named = (request: number): string[] => sys.calls.filter((c) => c.fn === 'ioctlPtr' && c.args[1] === request).map((c) => Buffer.from(c.args[2] as Uint8Array).toString('latin1', 0, 16).replace(/\0.*/s, ''));
    expect(named(SIOCGIFFLAGS)).toEqual(['lo', 'nat0']);
    expect(named(SIOCSIFFLAGS)[0]).toBe('lo');
    expect(dev.netns).toBe('/run/netns/blue');
    // The tun fd and the namespace fd stay open; close() closes both.
    expect(sys.openFds.size).toBe(2);
    dev.close();
    expect(sys.openFds.size).toBe(0);
  });

  it('without netns: no setns, no namespace file, lo untouched', () => {
    TunDevice.open({ name: 'tun0', kernelAddress: '10.7.0.1/24' });
    expect(sys.calls.some((c) => c.fn === 'setns' || (c.fn === 'open' && String(c.args[0]).includes('/ns/')))).toBe(false);
    const flagSets = sys.calls.filter((c) => c.fn === 'ioctlPtr' && c.args[1] === SIOCSIFFLAGS);
    expect(flagSets.map((c) => Buffer.from(c.args[2] as Uint8Array).toString('latin1', 0, 2))).toEqual(['tu']);
  });

  it('a missing namespace is ENOENT, with nothing opened and no setns', () => {
    sys.failures.push({ fn: 'open', errno: 2 });
    expect(() => TunDevice.open({ netns: 'nope' })).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'open', message: expect.stringContaining('ip netns add nope') }));
    expect(sys.setnsCalls).toEqual([]);
    expect(sys.openFds.size).toBe(0);
  });

  it('setns refused (EPERM, EINVAL): the error says why, both fds closed, still home, no device', () => {
    for (const [errno, code, text] of [[1, 'EPERM', 'CAP_SYS_ADMIN'], [22, 'EINVAL', 'is not a network namespace']] as const) {
      sys = new FakeLibc();
      holder.libc = sys;
      sys.failures.push({ fn: 'setns', errno });
      expect(() => TunDevice.open({ netns: 4321 })).toThrow(expect.objectContaining({ code, syscall: 'setns', message: expect.stringContaining(text) }));
      expect(sys.calls.some((c) => c.fn === 'open' && c.args[0] === '/dev/net/tun')).toBe(false);
      expect(sys.openFds.size).toBe(0);
      expect(sys.threadNetns).toBe('own');
    }
  });

  it('a failure inside the namespace: back home, the tun fd and both namespace fds closed', () => {
    sys.failures.push({ fn: 'ioctlPtr', request: SIOCSIFMTU, errno: 22 });
    expect(() => TunDevice.open({ netns: 'blue', mtu: 65520 })).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(sys.threadNetns).toBe('own');
    expect(sys.setnsCalls).toHaveLength(2);
    expect(sys.openFds.size).toBe(0);
    expect(sys.calls.some((c) => c.fn === 'poll')).toBe(false);
  });

  it('when the thread cannot come back, the process aborts with a clear message', () => {
    // The first setns (in) succeeds, the second (back) fails.
    const setns = sys.setns.bind(sys);
    let n = 0;
    sys.setns = (fd, type) => (++n === 2 ? ((sys.lastErrno = 12), -1) : setns(fd, type));
    expect(() => TunDevice.open({ netns: 'blue' })).toThrow(/abort/);
    expect(sys.aborted).toHaveLength(1);
    expect(sys.aborted[0]).toMatch(/FATAL: cannot return to the process's own network namespace.*"blue".*ENOMEM.*aborting/);
  });

  it('configure() enters the device\'s namespace again and comes back', () => {
    const dev = TunDevice.open({ name: 'nat0', netns: '/proc/77/ns/net' });
    sys.calls = [];
    dev.configure({ mtu: 9000, routes: [{ dst: '10.8.0.0/16' }] });
    const t = trace(sys);
    expect(sys.setnsCalls).toHaveLength(4);
    expect(sys.threadNetns).toBe('own');
    const mtuAt = sys.calls.findIndex((c) => c.fn === 'ioctlPtr' && c.args[1] === SIOCSIFMTU);
    const setnsAt = sys.calls.map((c, i) => (c.fn === 'setns' ? i : -1)).filter((i) => i >= 0);
    expect(setnsAt).toHaveLength(2);
    expect(mtuAt).toBeGreaterThan(setnsAt[0]!);
    expect(mtuAt).toBeLessThan(setnsAt[1]!);
    expect(t).toContain('socket:16');
    expect(dev.mtu).toBe(9000);
  });
});

describe('routes (RTM_NEWROUTE)', () => {
  it('encodes default routes and an on-link one (golden bytes)', () => {
    expect(hex(encodeNewRoute(parseRoute({ dst: 'default', via: '10.0.2.2' }), 7, 1))).toBe(
      '2c00000018000505010000000000000002000000fe030001000000000800040007000000080005000a000202');
    expect(hex(encodeNewRoute(parseRoute({ dst: 'default', via: 'fd00::2' }), 7, 2))).toBe(
      '380000001800050502000000000000000a000000fe03000100000000080004000700000014000500fd000000000000000000000000000002');
    expect(hex(encodeNewRoute(parseRoute({ dst: '10.8.0.0/16' }), 7, 3))).toBe(
      '2c00000018000505030000000000000002100000fe03fd0100000000080001000a0800000800040007000000');
    expect(parseRoute({ dst: '0.0.0.0/0', via: '10.0.2.2' }).text).toBe('default via 10.0.2.2');
    expect(parseRoute({ dst: '::/0' })).toMatchObject({ family: 6, dstLen: 0, via: undefined });
  });

  it('refuses malformed routes as argument errors', () => {
    const bad: [unknown, string][] = [
      [{ dst: 'default' }, 'needs "via"'],
      [{ dst: 'default', via: '10.0.2.256' }, 'invalid "via"'],
      [{ dst: 'default', via: '10.0.2.2/24' }, 'invalid "via"'],
      [{ dst: '10.8.0.1/16' }, 'host bits'],
      [{ dst: '10.8.0.0/33' }, 'longer than 32'],
      [{ dst: '10.8.0.0' }, 'invalid "dst"'],
      [{ dst: 'fd08::/64', via: '10.0.2.2' }, 'mixes'],
    ];
    for (const [route, text] of bad) {
      expect(() => parseRoute(route), JSON.stringify(route)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE', message: expect.stringContaining(text) }));
    }
    expect(() => parseRoute('default')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => TunDevice.open({ routes: 'x' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => TunDevice.open({ routes: Array.from({ length: 17 }, () => ({ dst: '::/0' })) })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(sys.calls).toEqual([]);
  });

  it('sends routes after the addresses; IPv6 routes are skipped where IPv6 is off', () => {
    TunDevice.open({ name: 'nat0', kernelAddress: ['10.0.2.100/24', 'fd00::100/64'], routes: [{ dst: 'default', via: '10.0.2.2' }, { dst: 'default', via: 'fd00::2' }] });
    expect(sys.netlinkSent.map((m) => m[4])).toEqual([20, 24, 24]); // RTM_NEWADDR, then RTM_NEWROUTE ×2
    closeAllTunDevices();
    sys = new FakeLibc();
    holder.libc = sys;
    sys.files.set('/proc/sys/net/ipv6/conf/all/disable_ipv6', '1\n');
    const dev = TunDevice.open({ name: 'nat0', kernelAddress: ['10.0.2.100/24', 'fd00::100/64'], routes: [{ dst: 'default', via: '10.0.2.2' }, { dst: 'default', via: 'fd00::2' }] });
    expect(dev.ipv6).toBe(false);
    expect(sys.netlinkSent.map((m) => [m[4], m[16]])).toEqual([[24, 2]]); // the IPv4 route only
  });

  it('a refused route names it and closes the device (ENETUNREACH: the gateway is off the subnet)', () => {
    sys.netlinkErrno = 101;
    expect(() => TunDevice.open({ name: 'nat0', netns: 'blue', kernelAddress: '10.0.2.100/24', routes: [{ dst: 'default', via: '192.168.9.1' }] }))
      .toThrow(expect.objectContaining({ code: 'ENETUNREACH', message: expect.stringContaining('default via 192.168.9.1') }));
    expect(sys.openFds.size).toBe(0);
    expect(sys.threadNetns).toBe('own');
  });
});
