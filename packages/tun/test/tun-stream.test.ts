/**
 * The device over a libuv read stream (libc `readStream`, uv-stream.ts), on the scripted
 * libc in stream mode: one packet per wake-up read by "libuv" ('uvread'), and the device's
 * own reads ('read') only when it reads on: a full-sized packet, a burst, or a probe.
 * The real stream on a real tun: test/kernel/tun-device.test.ts and the gateway's tests.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeLibc } from './fake-libc.js';

const holder = vi.hoisted(() => ({ libc: undefined as unknown }));
vi.mock('../src/libc.js', () => ({ libc: () => holder.libc }));

const { TunDevice, closeAllTunDevices } = await import('../src/index.js');

let sys: FakeLibc;
beforeEach(() => {
  sys = new FakeLibc({ stream: true });
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
const reads = (): number => sys.calls.filter((c) => c.fn === 'read').length;

describe('TunDevice over a libuv read stream', () => {
  it('reads through the stream, not the koffi poll, on a duplicate fd', () => {
    const dev = TunDevice.open({ mtu: 1500 });
    expect(sys.syscalls()).toContain('readStream');
    expect(sys.syscalls()).not.toContain('poll');
    expect(sys.openFds.size).toBe(2); // the tun fd and the stream's duplicate
    dev.close();
  });

  it('a lone small packet per wake-up costs no read of its own: no EAGAIN read, until every 8th wake-up probes', () => {
    const dev = TunDevice.open({ mtu: 1500 });
    const events: string[] = [];
    dev.setReceiver({ packet: (p) => void events.push(`p${p[1]}`), batchEnd: () => void events.push('end') });
    for (let i = 1; i <= 7; i++) {
      sys.rx.push(ipv4(64, i));
      sys.fireReadable();
    }
    expect(events).toEqual(['p1', 'end', 'p2', 'end', 'p3', 'end', 'p4', 'end', 'p5', 'end', 'p6', 'end', 'p7', 'end']);
    expect(reads()).toBe(0);
    sys.rx.push(ipv4(64, 8));
    sys.fireReadable(); // the 8th: reads on once, finds the queue empty (EAGAIN)
    expect(reads()).toBe(1);
    expect(events.slice(-2)).toEqual(['p8', 'end']);
    sys.rx.push(ipv4(64, 9));
    sys.fireReadable();
    expect(reads()).toBe(1); // the probe found nothing: back to one packet per wake-up
    expect(dev.stats()).toMatchObject({ RxPackets: 9, RxDropped: 0 });
    dev.close();
  });

  it('a full-sized packet (the MTU) reads on until EAGAIN: a bulk sender\'s queue in one wake-up and one batchEnd', () => {
    const dev = TunDevice.open({ mtu: 1500 });
    const events: string[] = [];
    dev.setReceiver({ packet: (p) => void events.push(`p${p[1]}`), batchEnd: () => void events.push('end') });
    sys.rx.push(ipv4(1500, 1), ipv4(1500, 2), ipv4(52, 3), ipv4(1500, 4));
    sys.fireReadable();
    expect(events).toEqual(['p1', 'p2', 'p3', 'p4', 'end']);
    expect(reads()).toBe(4); // three packets and the EAGAIN
    dev.close();
  });

  it('a burst found by a probe is read on at every wake-up until reading on finds nothing', () => {
    const dev = TunDevice.open({ mtu: 1500 });
    let packets = 0;
    let batches = 0;
    dev.setReceiver({ packet: () => void packets++, batchEnd: () => void batches++ });
    // Seven lone packets: no probe yet.
    for (let i = 0; i < 7; i++) {
      sys.rx.push(ipv4(64));
      sys.fireReadable();
    }
    // Then a burst of small packets: the 8th wake-up probes and drains them all.
    for (let i = 0; i < 20; i++) sys.rx.push(ipv4(64));
    sys.fireReadable();
    expect(packets).toBe(27);
    expect(sys.rx).toHaveLength(0);
    // Burst mode: the next wake-up reads on at once (finds 3 more), the one after too (finds none), then not.
    sys.rx.push(ipv4(64), ipv4(64), ipv4(64), ipv4(64));
    sys.fireReadable();
    expect(packets).toBe(31);
    const before = reads();
    sys.rx.push(ipv4(64));
    sys.fireReadable(); // still in burst mode: reads on, EAGAIN
    expect(reads()).toBe(before + 1);
    sys.rx.push(ipv4(64));
    sys.fireReadable(); // the last reading on found nothing: no read
    expect(reads()).toBe(before + 1);
    expect(batches).toBe(11); // one per wake-up that delivered
    dev.close();
  });

  it('reading on is bounded by the read budget (the first packet counts); the rest waits for the next wake-up', () => {
    const dev = TunDevice.open({ mtu: 1500, readBudget: 4 });
    const events: string[] = [];
    dev.setReceiver({ packet: (p) => void events.push(`p${p[1]}`), batchEnd: () => void events.push('end') });
    for (let i = 1; i <= 6; i++) sys.rx.push(ipv4(1500, i));
    sys.fireReadable();
    expect(events).toEqual(['p1', 'p2', 'p3', 'p4', 'end']);
    sys.fireReadable();
    expect(events.slice(5)).toEqual(['p5', 'p6', 'end']);
    dev.close();
  });

  it('a wake-up that reads nothing (EAGAIN) delivers nothing and calls no batchEnd', () => {
    const dev = TunDevice.open({ mtu: 1500 });
    let batches = 0;
    dev.setReceiver({ packet: () => {}, batchEnd: () => void batches++ });
    sys.fireReadable();
    expect(batches).toBe(0);
    expect(reads()).toBe(0);
    dev.close();
  });

  it('a stream read error stops reading and is reported once through onError', () => {
    const errors: { code: string; syscall?: string | undefined }[] = [];
    const dev = TunDevice.open({ mtu: 1500, onError: (e) => void errors.push(e) });
    dev.setReceiver({ packet: () => {} });
    sys.readErrno = 77; // EBADFD: the device went away
    sys.fireReadable();
    expect(errors).toEqual([expect.objectContaining({ code: 'EBADFD', syscall: 'read' })]);
    expect(sys.pollState.stopped).toBe(true);
    expect(dev.stats()).toMatchObject({ RxErrors: 1 });
    expect(dev.pollNow()).toBe(0); // reading has stopped for pollNow too
    dev.close();
  });

  it('end of file (UV_EOF) is a read failure too', () => {
    const errors: { code: string }[] = [];
    const dev = TunDevice.open({ mtu: 1500, onError: (e) => void errors.push(e) });
    sys.streamRead!(-4095);
    expect(errors).toEqual([expect.objectContaining({ code: 'EIO', syscall: 'read' })]);
    dev.close();
  });

  it('close() from inside the receiver ends the wake-up: no reading on, no batchEnd, both fds closed', () => {
    const dev = TunDevice.open({ mtu: 1500 });
    const fd = dev.fd;
    let batches = 0;
    dev.setReceiver({ packet: () => dev.close(), batchEnd: () => void batches++ });
    sys.rx.push(ipv4(1500), ipv4(1500));
    sys.fireReadable();
    expect(batches).toBe(0);
    expect(reads()).toBe(0);
    expect(sys.rx).toHaveLength(1);
    expect(sys.pollState.closed).toBe(true);
    expect(sys.openFds.size).toBe(0);
    expect(sys.openFds.has(fd)).toBe(false);
  });

  it('ref() and unref() reach the stream; they are safe after close()', () => {
    const dev = TunDevice.open();
    dev.unref();
    expect(sys.pollState.refed).toBe(false);
    dev.ref();
    expect(sys.pollState.refed).toBe(true);
    dev.close();
    dev.unref();
    dev.ref();
  });
});
