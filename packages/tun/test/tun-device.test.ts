/**
 * TunDevice logic over a scripted libc (no privileges): argument errors before any system
 * call, errno mapping, configuration ioctls, the drain loop and send accounting.
 * The real kernel is exercised by test/kernel/tun-device.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeLibc } from './fake-libc.js';

const holder = vi.hoisted(() => ({ libc: undefined as unknown }));
vi.mock('../src/libc.js', () => ({ libc: () => holder.libc }));

const { TunDevice, closeAllTunDevices } = await import('../src/index.js');

const TUNSETIFF = 0x400454ca;
const SIOCSIFADDR = 0x8916;
const SIOCSIFNETMASK = 0x891c;
const SIOCSIFFLAGS = 0x8914;
const SIOCSIFMTU = 0x8922;

let sys: FakeLibc;
beforeEach(() => {
  sys = new FakeLibc();
  holder.libc = sys;
});
afterEach(() => {
  closeAllTunDevices();
});

const ipv4 = (len = 20, tag = 0): Uint8Array => {
  const p = new Uint8Array(len);
  p[0] = 0x45;
  p[1] = tag;
  return p;
};
const ipv6 = (): Uint8Array => Uint8Array.of(0x60, 0, 0, 0, 0, 0, 58, 255);

function catchError(fn: () => unknown): Error & { code?: string; errno?: number; syscall?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected a throw');
}

describe('argument errors are thrown before any system call', () => {
  it.each([
    [{ name: 'a-name-of-16-byt' }, 'ERR_INVALID_ARG_VALUE', /1 to 15 bytes/],
    [{ name: 'é'.repeat(8) }, 'ERR_INVALID_ARG_VALUE', /16 bytes/],
    [{ name: '' }, 'ERR_INVALID_ARG_VALUE', /1 to 15/],
    [{ name: 'tun/0' }, 'ERR_INVALID_ARG_VALUE', /not a valid interface name/],
    [{ name: 7 }, 'ERR_INVALID_ARG_TYPE', /must be a string/],
    [{ mtu: 67 }, 'ERR_OUT_OF_RANGE', />= 68 and <= 65535, got 67/],
    [{ mtu: 65536 }, 'ERR_OUT_OF_RANGE', /got 65536/],
    [{ mtu: 1500.5 }, 'ERR_INVALID_ARG_TYPE', /integer/],
    [{ kernelAddress: '10.7.0.1/33' }, 'ERR_INVALID_ARG_VALUE', /10\.7\.0\.1\/24/],
    [{ kernelAddress: '10.7.0.256/24' }, 'ERR_INVALID_ARG_VALUE', /kernelAddress/],
    [{ mode: 'tunnel' }, 'ERR_INVALID_ARG_VALUE', /'tun' or 'tap'/],
    [{ mode: 'tap', ipv4Only: true }, 'ERR_INVALID_ARG_VALUE', /tun mode only/],
    [{ up: 'yes' }, 'ERR_INVALID_ARG_TYPE', /boolean/],
    [{ readBudget: 0 }, 'ERR_OUT_OF_RANGE', /readBudget/],
  ])('%j -> %s', (options, code, message) => {
    const err = catchError(() => TunDevice.open(options as never));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
    expect(sys.calls).toEqual([]);
  });

  it('accepts the boundary values 15 bytes, MTU 68 and 65535', () => {
    TunDevice.open({ name: 'abcdefghijklmno', mtu: 68 }).close();
    TunDevice.open({ name: 'x', mtu: 65535 }).close();
    expect(sys.calls.filter((c) => c.fn === 'open')).toHaveLength(2);
  });
});

describe('system errors carry the errno name and say what to do', () => {
  it('ENOENT from open: /dev/net/tun is missing', () => {
    sys.failures.push({ fn: 'open', errno: 2 });
    const err = catchError(() => TunDevice.open());
    expect(err).toMatchObject({ code: 'ENOENT', errno: 2, syscall: 'open' });
    expect(err.message).toMatch(/\/dev\/net\/tun does not exist/);
  });

  it('EPERM from open or TUNSETIFF: needs CAP_NET_ADMIN', () => {
    sys.failures.push({ fn: 'open', errno: 1 });
    expect(catchError(() => TunDevice.open()).message).toMatch(/CAP_NET_ADMIN.*unshare -rn/);
    sys.failures.push({ fn: 'ioctlPtr', request: TUNSETIFF, errno: 1 });
    const err = catchError(() => TunDevice.open({ name: 'tun0' }));
    expect(err).toMatchObject({ code: 'EPERM', syscall: 'ioctl' });
    expect(err.message).toMatch(/CAP_NET_ADMIN/);
    expect(sys.openFds.size).toBe(0); // the tun fd was closed on the way out
  });

  it('EBUSY from TUNSETIFF: the name is in use', () => {
    sys.failures.push({ fn: 'ioctlPtr', request: TUNSETIFF, errno: 16 });
    const err = catchError(() => TunDevice.open({ name: 'tun0' }));
    expect(err).toMatchObject({ code: 'EBUSY', errno: 16 });
    expect(err.message).toMatch(/tun0 is in use/);
    expect(sys.openFds.size).toBe(0);
  });

  it('EEXIST from SIOCSIFADDR (address already there) is not an error', () => {
    sys.failures.push({ fn: 'ioctlPtr', request: SIOCSIFADDR, errno: 17 });
    const dev = TunDevice.open({ name: 'tun0', kernelAddress: '10.7.0.1/24' });
    expect(sys.calls.some((c) => c.args[1] === SIOCSIFNETMASK)).toBe(true);
    dev.close();
  });

  it('a failing configuration ioctl closes both the socket and the tun fd', () => {
    sys.failures.push({ fn: 'ioctlPtr', request: SIOCSIFMTU, errno: 22 });
    const err = catchError(() => TunDevice.open({ name: 'tun0', mtu: 9000 }));
    expect(err).toMatchObject({ code: 'EINVAL', syscall: 'ioctl' });
    expect(err.message).toMatch(/set MTU 9000 on tun0/);
    expect(sys.openFds.size).toBe(0);
  });
});

describe('open and configure', () => {
  it('opens non-blocking and close-on-exec, sets IFF_TUN|IFF_NO_PI|IFF_NAPI and reads back the name', () => {
    const dev = TunDevice.open();
    expect(sys.calls[0]).toEqual({ fn: 'open', args: ['/dev/net/tun', 0o2 | 0o4000 | 0o2000000] });
    const setiff = sys.calls.find((c) => c.args[1] === TUNSETIFF)!;
    const req = Buffer.from(setiff.args[2] as Uint8Array);
    expect(req.subarray(0, 6).toString('latin1')).toBe('tun%d\0');
    expect(req.readUInt16LE(16)).toBe(0x1011);
    expect(dev.name).toBe('tun0');
    expect(dev.fd).toBeGreaterThanOrEqual(0);
    dev.close();
  });

  it('passes IFF_TAP through in tap mode', () => {
    const dev = TunDevice.open({ mode: 'tap' });
    const setiff = sys.calls.find((c) => c.args[1] === TUNSETIFF)!;
    expect(Buffer.from(setiff.args[2] as Uint8Array).readUInt16LE(16)).toBe(0x1012);
    expect(dev.mode).toBe('tap');
    dev.close();
  });

  it('a TAP reads its own MAC (SIOCGIFHWADDR) and reports frames of mtu + 14; a TUN has neither', () => {
    sys.ifHwaddr = [0xe2, 0xa8, 0x73, 0x6d, 0x2d, 0xf2];
    const tap = TunDevice.open({ mode: 'tap', mtu: 1500 });
    expect(tap.kernelMac).toBe('e2:a8:73:6d:2d:f2');
    expect(tap.mtu).toBe(1500);
    expect(tap.frameMtu).toBe(1514);
    // No vnet header and no version filter on a TAP: an ARP frame (EtherType 0x0806, first nibble 0) is delivered.
    expect(tap.offload).toBeUndefined();
    tap.close();
    const hw = sys.calls.filter((c) => c.args[1] === 0x8927);
    expect(hw).toHaveLength(1);
    expect(Buffer.from(hw[0]!.args[2] as Uint8Array).subarray(0, 5).toString('latin1')).toBe('tap0\0');
    sys.calls.length = 0;
    const tun = TunDevice.open({ mtu: 1500 });
    expect(tun.kernelMac).toBeUndefined();
    expect(tun.frameMtu).toBe(1500);
    expect(sys.calls.some((c) => c.args[1] === 0x8927)).toBe(false);
    tun.close();
    expect(sys.openFds.size).toBe(0);
  });

  it('napi: false opens without IFF_NAPI', () => {
    const dev = TunDevice.open({ napi: false });
    const setiff = sys.calls.find((c) => c.args[1] === TUNSETIFF)!;
    expect(Buffer.from(setiff.args[2] as Uint8Array).readUInt16LE(16)).toBe(0x1001);
    dev.close();
  });

  it('falls back to a plain open when the kernel refuses IFF_NAPI with EINVAL', () => {
    sys.failures.push({ fn: 'ioctlPtr', request: TUNSETIFF, errno: 22 });
    const dev = TunDevice.open({ name: 'tun0' });
    const setiffs = sys.calls.filter((c) => c.args[1] === TUNSETIFF);
    expect(setiffs.map((c) => Buffer.from(c.args[2] as Uint8Array).readUInt16LE(16))).toEqual([0x1011, 0x1001]);
    expect(dev.fd).toBeGreaterThanOrEqual(0);
    dev.close();
  });

  it('sets MTU, address, netmask and IFF_UP through a socket that is closed afterwards', () => {
    const dev = TunDevice.open({ name: 'tun0', mtu: 1400, kernelAddress: '10.7.0.1/24' });
    const addr = sys.calls.find((c) => c.args[1] === SIOCSIFADDR)!.args[2] as Uint8Array;
    expect([...addr.subarray(16, 24)]).toEqual([2, 0, 0, 0, 10, 7, 0, 1]);
    const mask = sys.calls.find((c) => c.args[1] === SIOCSIFNETMASK)!.args[2] as Uint8Array;
    expect([...mask.subarray(20, 24)]).toEqual([255, 255, 255, 0]);
    expect(sys.ifMtu).toBe(1400);
    expect(sys.ifFlags & 1).toBe(1);
    expect(dev.mtu).toBe(1400);
    expect(sys.openFds.size).toBe(1); // only the tun fd
    dev.close();
    expect(sys.openFds.size).toBe(0);
  });

  it('txQueueLen raises the kernel queue towards the reader, never lowers it, and leaves it alone when unset', () => {
    const dev = TunDevice.open({ name: 'tun0' });
    expect(sys.calls.some((c) => c.args[1] === 0x8942 || c.args[1] === 0x8943)).toBe(false);
    expect(dev.txQueueLen).toBeUndefined();
    dev.close();
    const raised = TunDevice.open({ name: 'tun0', txQueueLen: 1000 });
    expect(sys.ifTxQlen).toBe(1000);
    expect(raised.txQueueLen).toBe(1000);
    raised.close();
    sys.ifTxQlen = 5000;
    const kept = TunDevice.open({ name: 'tun0', txQueueLen: 1000 });
    expect(sys.ifTxQlen).toBe(5000);
    expect(kept.txQueueLen).toBe(5000);
    kept.configure({ txQueueLen: 8000 });
    expect(sys.ifTxQlen).toBe(8000);
    expect(kept.txQueueLen).toBe(8000);
    kept.close();
    expect(catchError(() => TunDevice.open({ txQueueLen: 0 })).code).toBe('ERR_OUT_OF_RANGE');
    expect(catchError(() => TunDevice.open({ txQueueLen: 1.5 })).code).toBe('ERR_INVALID_ARG_TYPE');
  });

  it('keeps the kernel MTU when none is given, and skips SIOCSIFFLAGS when already up', () => {
    sys.ifMtu = 9000;
    sys.ifFlags = 0x1 | 0x40 | 0x1000;
    const dev = TunDevice.open({ name: 'tun0' });
    expect(dev.mtu).toBe(9000);
    expect(sys.calls.some((c) => c.args[1] === SIOCSIFFLAGS)).toBe(false);
    dev.configure({ up: false });
    expect(sys.ifFlags).toBe(0x40 | 0x1000);
    dev.configure({ mtu: 1280 });
    expect(dev.mtu).toBe(1280);
    dev.close();
    expect(catchError(() => dev.configure({ mtu: 1500 })).code).toBe('EBADF');
  });
});

describe('receive path', () => {
  it('drains until EAGAIN, delivers views, then calls batchEnd once', () => {
    const dev = TunDevice.open();
    const seen: number[] = [];
    const events: string[] = [];
    dev.setReceiver({
      packet: (p) => {
        seen.push(p[1]!);
        events.push(`packet:${p.length}`);
      },
      batchEnd: () => events.push('batchEnd'),
    });
    sys.rx.push(ipv4(20, 1), ipv4(40, 2), ipv4(60, 3));
    sys.fireReadable();
    expect(seen).toEqual([1, 2, 3]);
    expect(events).toEqual(['packet:20', 'packet:40', 'packet:60', 'batchEnd']);
    expect(dev.stats()).toMatchObject({ RxPackets: 3, RxBytes: 120, RxDropped: 0 });
    dev.close();
  });

  it('stops at the read budget and goes on at the next readability callback', () => {
    const dev = TunDevice.open({ readBudget: 4 });
    let batches = 0;
    let packets = 0;
    dev.setReceiver({ packet: () => void packets++, batchEnd: () => void batches++ });
    for (let i = 0; i < 10; i++) sys.rx.push(ipv4());
    sys.fireReadable();
    expect([packets, batches]).toEqual([4, 1]);
    sys.fireReadable();
    sys.fireReadable();
    expect([packets, batches]).toEqual([10, 3]);
    dev.close();
  });

  it('reuses the view it hands over for packets of the same length (no view allocated per packet)', () => {
    const dev = TunDevice.open();
    const views: Uint8Array[] = [];
    const firstBytes: number[] = [];
    dev.setReceiver({ packet: (p) => { views.push(p); firstBytes.push(p[1]!); } });
    sys.rx.push(ipv4(1500, 1), ipv4(52, 2), ipv4(1500, 3), ipv4(52, 4));
    sys.fireReadable();
    expect(firstBytes).toEqual([1, 2, 3, 4]);
    expect(views.map((v) => v.length)).toEqual([1500, 52, 1500, 52]);
    expect(views[2]).toBe(views[0]);
    expect(views[3]).toBe(views[1]);
    dev.close();
  });

  it('pollNow() drains what is queued now, synchronously, in batches of the read budget, and returns the count', () => {
    const dev = TunDevice.open({ readBudget: 4 });
    const events: string[] = [];
    dev.setReceiver({ packet: (p) => void events.push(`p${p[1]}`), batchEnd: () => void events.push('end') });
    expect(dev.pollNow()).toBe(0);
    expect(events).toEqual([]); // nothing queued: one read, EAGAIN, no batchEnd
    for (let i = 1; i <= 10; i++) sys.rx.push(ipv4(20, i));
    expect(dev.pollNow()).toBe(10);
    expect(events).toEqual(['p1', 'p2', 'p3', 'p4', 'end', 'p5', 'p6', 'p7', 'p8', 'end', 'p9', 'p10', 'end']);
    expect(dev.stats()).toMatchObject({ RxPackets: 10 });
    sys.fireReadable(); // the poll callback afterwards finds the queue empty
    expect(events.length).toBe(13);
    dev.close();
    sys.rx.push(ipv4());
    expect(dev.pollNow()).toBe(0); // closed: no read at all
    expect(sys.rx.length).toBe(1);
  });

  it('pollNow() is bounded (1024 reads) when the queue never empties, and stops after a read error', () => {
    const dev = TunDevice.open();
    let packets = 0;
    let batches = 0;
    dev.setReceiver({ packet: () => void packets++, batchEnd: () => void batches++ });
    for (let i = 0; i < 1500; i++) sys.rx.push(ipv4());
    expect(dev.pollNow()).toBe(1024);
    expect(batches).toBe(4); // 256 each
    expect(sys.rx.length).toBe(1500 - 1024);
    sys.rx.length = 0;
    const errors: string[] = [];
    const failing = TunDevice.open({ onError: (e) => void errors.push(e.code ?? '') });
    failing.setReceiver({ packet() {} });
    sys.readErrno = 5; // EIO
    expect(failing.pollNow()).toBe(0);
    expect(failing.pollNow()).toBe(0);
    expect(errors).toEqual(['EIO']);
    dev.close();
    failing.close();
  });

  it('drops and counts non-IPv4 packets by default, delivers them with ipv4Only: false', () => {
    const dev = TunDevice.open();
    const got: number[] = [];
    dev.setReceiver({ packet: (p) => void got.push(p[0]! >> 4) });
    sys.rx.push(ipv6(), ipv4(), ipv6());
    sys.fireReadable();
    expect(got).toEqual([4]);
    expect(dev.stats()).toMatchObject({ RxPackets: 1, RxDropped: 2 });
    dev.close();

    const open = TunDevice.open({ ipv4Only: false });
    const all: number[] = [];
    open.setReceiver({ packet: (p) => void all.push(p[0]! >> 4) });
    sys.rx.push(ipv6(), ipv4());
    sys.fireReadable();
    expect(all).toEqual([6, 4]);
    open.close();
  });

  it('counts packets read while no receiver is set as dropped', () => {
    const dev = TunDevice.open();
    sys.rx.push(ipv4(), ipv4());
    sys.fireReadable();
    expect(dev.stats()).toMatchObject({ RxPackets: 0, RxDropped: 2 });
    dev.close();
  });

  it('close() from inside the receiver ends the batch and closes the poll before the fd', () => {
    const dev = TunDevice.open();
    const fd = dev.fd;
    let count = 0;
    let batchEnds = 0;
    dev.setReceiver({
      packet: () => {
        if (++count === 2) dev.close();
      },
      batchEnd: () => void batchEnds++,
    });
    sys.rx.push(ipv4(), ipv4(), ipv4(), ipv4());
    sys.fireReadable();
    expect(count).toBe(2);
    expect(batchEnds).toBe(0);
    expect(sys.rx).toHaveLength(2);
    expect(sys.pollState.closed).toBe(true);
    expect(sys.openFds.has(fd)).toBe(false);
    const closeCall = sys.calls.findIndex((c) => c.fn === 'close' && c.args[0] === fd);
    expect(closeCall).toBeGreaterThan(0);
  });

  it('a read error other than EAGAIN stops polling and is reported once through onError', () => {
    const errors: { code: string }[] = [];
    const dev = TunDevice.open({ onError: (e) => void errors.push(e) });
    dev.setReceiver({ packet: () => {} });
    sys.rx.push(ipv4());
    sys.readErrno = 77; // EBADFD: the device went away
    sys.fireReadable();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'EBADFD', syscall: 'read' });
    expect(sys.pollState.stopped).toBe(true);
    expect(dev.stats()).toMatchObject({ RxPackets: 1, RxErrors: 1 });
    dev.close();
  });

  it('a poll error status is reported like a read error', () => {
    const errors: { code: string }[] = [];
    const dev = TunDevice.open({ onError: (e) => void errors.push(e) });
    sys.pollCallback!(-9, { readable: false, writable: false, disconnect: false });
    expect(errors[0]).toMatchObject({ code: 'EBADF', syscall: 'poll' });
    dev.close();
  });
});

describe('send path', () => {
  it('writes each packet with one write() and counts it', () => {
    const dev = TunDevice.open({ mtu: 1500 });
    const p = ipv4(100);
    expect(dev.send(p)).toBe(true);
    expect(dev.send(p.subarray(0, 50))).toBe(true);
    expect(sys.written.map((w) => w.length)).toEqual([100, 50]);
    expect(dev.stats()).toMatchObject({ TxPackets: 2, TxBytes: 150, TxDropped: 0 });
    dev.close();
  });

  it('drops and counts EAGAIN/ENOBUFS, oversize, empty, and sends after close', () => {
    const dev = TunDevice.open({ mtu: 1500 });
    sys.writeErrno = 105; // ENOBUFS
    expect(dev.send(ipv4())).toBe(false);
    sys.writeErrno = 11; // EAGAIN
    expect(dev.send(ipv4())).toBe(false);
    sys.writeErrno = 0;
    expect(dev.send(ipv4(1501))).toBe(false);
    expect(dev.send(new Uint8Array(0))).toBe(false);
    dev.close();
    expect(dev.send(ipv4())).toBe(false);
    expect(dev.stats()).toMatchObject({ TxPackets: 0, TxDropped: 5, TxErrors: 2, LastTxErrno: 11 });
    expect(sys.calls.filter((c) => c.fn === 'write')).toHaveLength(2);
  });
});

describe('life cycle', () => {
  it('close() is idempotent and ref()/unref() are safe after it', () => {
    const dev = TunDevice.open();
    dev.unref();
    expect(sys.pollState.refed).toBe(false);
    dev.ref();
    expect(sys.pollState.refed).toBe(true);
    dev.close();
    dev.close();
    dev.unref();
    dev.ref();
    expect(dev.fd).toBe(-1);
    expect(dev.closed).toBe(true);
    expect(sys.calls.filter((c) => c.fn === 'close')).toHaveLength(2); // socket + tun fd
  });

  it('closeAllTunDevices() closes every open device', () => {
    const a = TunDevice.open();
    const b = TunDevice.open();
    closeAllTunDevices();
    expect([a.closed, b.closed]).toEqual([true, true]);
    expect(sys.openFds.size).toBe(0);
  });
});
