/**
 * A scripted stand-in for the libc bindings, so the device logic (validation order, error
 * mapping, the drain loop, send accounting) runs without privileges. Every call is logged.
 */
import type { Libc, PollEvents, PollHandle, ReadStream } from '../src/libc.js';

export type Call = { fn: string; args: unknown[] };

export class FakeLibc implements Libc {
  calls: Call[] = [];
  lastErrno = 0;
  /** Errno to fail the next matching call with (one-shot per entry). */
  failures: { fn: string; request?: number; errno: number }[] = [];
  /** Packets the tun fd returns, in order; then EAGAIN. */
  rx: Uint8Array[] = [];
  /** Errno read() returns once `rx` is empty (default EAGAIN). */
  readErrno = 11;
  written: Uint8Array[] = [];
  writeErrno = 0;
  /** Kernel-side state the configuration ioctls act on. */
  ifFlags = 0;
  ifMtu = 1500;
  ifTxQlen = 500;
  openFds = new Set<number>();
  /** Interface index SIOCGIFINDEX reads back. */
  ifIndex = 7;
  /** What SIOCGIFHWADDR answers: ARPHRD_ETHER and this MAC (a TAP's), or nothing (a TUN's: family 0). */
  ifHwaddr: number[] | undefined = undefined;
  /**
   * Files readText() returns (sysctls); a path not here reads as '0\n' when it ends in
   * disable_ipv6 (IPv6 on), else undefined. Set a value to undefined to make it unreadable.
   */
  files = new Map<string, string | undefined>();
  /** What the fake rtnetlink answers each RTM_NEWADDR with: 0 or a positive errno (default 0). */
  netlinkErrno = 0;
  /** Requests sent on netlink sockets, in order. */
  netlinkSent: Uint8Array[] = [];
  #netlinkFds = new Set<number>();
  #netlinkAnswers: Uint8Array[] = [];
  pollCallback: ((status: number, events: PollEvents) => void) | undefined;
  pollState = { refed: true, stopped: false, closed: false };
  #nextFd = 10;
  /**
   * With `stream: true` the fake offers `readStream` (the libuv stream the real libc uses
   * where Node's binding is there): fireReadable() then reads ONE packet as uv__read does
   * (logged as 'uvread') and hands its length over; the device's own reads stay 'read'.
   */
  readonly streamMode: boolean;
  streamRead: ((n: number) => void) | undefined;
  #streamBuffer: Uint8Array | undefined;

  constructor(options: { stream?: boolean } = {}) {
    this.streamMode = options.stream === true;
    // Without stream mode the method is absent, as in a libc without Node's binding.
    if (!this.streamMode) Object.defineProperty(this, 'readStream', { value: undefined });
  }

  readStream?(fd: number, buffer: Uint8Array, onRead: (n: number) => void): ReadStream | undefined {
    this.calls.push({ fn: 'readStream', args: [fd] });
    const dup = this.#nextFd++;
    this.openFds.add(dup);
    this.streamRead = onRead;
    this.#streamBuffer = buffer;
    this.pollState = { refed: true, stopped: false, closed: false };
    const state = this.pollState;
    return {
      stop: () => { state.stopped = true; },
      close: () => {
        if (state.closed) return;
        state.closed = true;
        this.calls.push({ fn: 'close', args: [dup] });
        this.openFds.delete(dup);
      },
      ref: () => { if (!state.closed) state.refed = true; },
      unref: () => { if (!state.closed) state.refed = false; },
    };
  }

  #fail(fn: string, request?: number): boolean {
    const i = this.failures.findIndex((f) => f.fn === fn && (f.request === undefined || f.request === request));
    if (i < 0) return false;
    this.lastErrno = this.failures.splice(i, 1)[0]!.errno;
    return true;
  }

  open(path: string, flags: number): number {
    this.calls.push({ fn: 'open', args: [path, flags] });
    if (this.#fail('open')) return -1;
    const fd = this.#nextFd++;
    this.openFds.add(fd);
    this.#paths.set(fd, path === '/proc/thread-self/ns/net' ? 'own' : path);
    return fd;
  }

  close(fd: number): number {
    this.calls.push({ fn: 'close', args: [fd] });
    this.openFds.delete(fd);
    return 0;
  }

  read(fd: number, buf: Uint8Array, len: number): number {
    this.calls.push({ fn: 'read', args: [fd, len] });
    const packet = this.rx.shift();
    if (packet === undefined) {
      this.lastErrno = this.readErrno;
      return -1;
    }
    const n = Math.min(packet.length, len);
    buf.set(packet.subarray(0, n));
    return n;
  }

  write(fd: number, buf: Uint8Array, len: number): number {
    this.calls.push({ fn: 'write', args: [fd, len] });
    if (this.writeErrno !== 0) {
      this.lastErrno = this.writeErrno;
      return -1;
    }
    this.written.push(buf.slice(0, len));
    return len;
  }

  /** writev(2) of the pieces (undefined: this libc has none, as a libc without writev: the device copies). */
  writeGather: ((fd: number, a: Uint8Array, b: Uint8Array, c: Uint8Array | undefined) => number) | undefined = (fd, a, b, c) => {
    const len = a.length + b.length + (c === undefined ? 0 : c.length);
    this.calls.push({ fn: 'writeGather', args: [fd, c === undefined ? 2 : 3, len] });
    if (this.writeErrno !== 0) {
      this.lastErrno = this.writeErrno;
      return -1;
    }
    const joined = new Uint8Array(len);
    joined.set(a, 0);
    joined.set(b, a.length);
    if (c !== undefined) joined.set(c, a.length + b.length);
    this.written.push(joined);
    return len;
  };

  ioctlPtr(fd: number, request: number, arg: Uint8Array): number {
    this.calls.push({ fn: 'ioctlPtr', args: [fd, request, Uint8Array.from(arg)] });
    if (this.#fail('ioctlPtr', request)) return -1;
    const view = new DataView(arg.buffer, arg.byteOffset, arg.byteLength);
    switch (request) {
      case 0x400454ca: {
        // TUNSETIFF: the kernel replaces %d by a number.
        const name = Buffer.from(arg.subarray(0, 16)).toString('latin1').replace(/\0.*$/s, '');
        if (name.includes('%d')) Buffer.from(arg.buffer, arg.byteOffset).write(`${name.replace('%d', '0')}\0`, 0, 'latin1');
        break;
      }
      case 0x8913:
        view.setInt16(16, (this.ifFlags << 16) >> 16, true);
        break;
      case 0x8914:
        this.ifFlags = view.getInt16(16, true) & 0xffff;
        break;
      case 0x8921:
        view.setInt32(16, this.ifMtu, true);
        break;
      case 0x8922:
        this.ifMtu = view.getInt32(16, true);
        break;
      case 0x8942:
        view.setInt32(16, this.ifTxQlen, true);
        break;
      case 0x8927:
        if (this.ifHwaddr !== undefined) {
          view.setUint16(16, 1, true);
          for (let i = 0; i < 6; i++) view.setUint8(18 + i, this.ifHwaddr[i]!);
        }
        break;
      case 0x8933:
        view.setInt32(16, this.ifIndex, true);
        break;
      case 0x8943:
        this.ifTxQlen = view.getInt32(16, true);
        break;
    }
    return 0;
  }

  ioctlInt(fd: number, request: number, arg: number): number {
    this.calls.push({ fn: 'ioctlInt', args: [fd, request, arg] });
    return this.#fail('ioctlInt', request) ? -1 : 0;
  }

  socket(domain: number, type: number, protocol: number): number {
    this.calls.push({ fn: 'socket', args: [domain, type, protocol] });
    if (this.#fail('socket')) return -1;
    const fd = this.#nextFd++;
    this.openFds.add(fd);
    if (domain === 16) this.#netlinkFds.add(fd);
    return fd;
  }

  send(fd: number, buf: Uint8Array, len: number, flags: number): number {
    this.calls.push({ fn: 'send', args: [fd, len, flags] });
    if (this.#fail('send')) return -1;
    if (!this.#netlinkFds.has(fd)) throw new Error('send on a socket that is not netlink');
    const req = buf.slice(0, len);
    this.netlinkSent.push(req);
    // NLMSG_ERROR: nlmsghdr (len 36, type 2, seq of the request), s32 -errno, the request's header.
    const ack = new Uint8Array(36);
    const v = new DataView(ack.buffer);
    v.setUint32(0, 36, true);
    v.setUint16(4, 2, true);
    v.setUint32(8, new DataView(req.buffer).getUint32(8, true), true);
    v.setInt32(16, -this.netlinkErrno, true);
    ack.set(req.subarray(0, 16), 20);
    this.#netlinkAnswers.push(ack);
    return len;
  }

  recv(fd: number, buf: Uint8Array, len: number, flags: number): number {
    this.calls.push({ fn: 'recv', args: [fd, len, flags] });
    const a = this.#netlinkAnswers.shift();
    if (a === undefined) {
      this.lastErrno = 11;
      return -1;
    }
    buf.set(a.subarray(0, Math.min(a.length, len)));
    return Math.min(a.length, len);
  }

  /** The fd of the namespace each setns() call entered, in order. */
  setnsCalls: number[] = [];
  /** Which namespace the (fake) thread is in: the path opened for the fd it entered last; 'own' at first. */
  threadNetns = 'own';
  #paths = new Map<number, string>();
  /** Messages abort() was called with (it throws instead of ending the process). */
  aborted: string[] = [];

  setns(fd: number, nstype: number): number {
    this.calls.push({ fn: 'setns', args: [fd, nstype] });
    if (this.#fail('setns')) return -1;
    this.setnsCalls.push(fd);
    this.threadNetns = this.#paths.get(fd) ?? `fd ${fd}`;
    return 0;
  }

  abort(message: string): never {
    this.aborted.push(message);
    throw new Error(`abort: ${message}`);
  }

  readText(path: string): string | undefined {
    this.calls.push({ fn: 'readText', args: [path] });
    if (this.files.has(path)) return this.files.get(path);
    return path.endsWith('/disable_ipv6') ? '0\n' : undefined;
  }

  errno(): number {
    return this.lastErrno;
  }

  poll(fd: number, callback: (status: number, events: PollEvents) => void): PollHandle {
    this.calls.push({ fn: 'poll', args: [fd] });
    this.pollCallback = callback;
    this.pollState = { refed: true, stopped: false, closed: false };
    const state = this.pollState;
    return {
      stop: () => {
        if (state.closed) throw new Error('stop() after close() would crash koffi');
        state.stopped = true;
      },
      close: () => {
        if (state.closed) throw new Error('close() twice');
        state.closed = true;
      },
      ref: () => {
        if (state.closed) throw new Error('ref() after close() would crash koffi');
        state.refed = true;
      },
      unref: () => {
        if (state.closed) throw new Error('unref() after close() would crash koffi');
        state.refed = false;
      },
    };
  }

  /**
   * Fires the poll callback as libuv would on readability; in stream mode, one uv__read:
   * the next packet into the device's buffer (or nothing on EAGAIN, or the read error,
   * after which reading stops).
   */
  fireReadable(): void {
    if (this.streamMode) {
      if (this.streamRead === undefined || this.pollState.closed || this.pollState.stopped) throw new Error('stream not reading');
      this.calls.push({ fn: 'uvread', args: [] });
      const packet = this.rx.shift();
      if (packet === undefined) {
        if (this.readErrno === 11) { this.streamRead(0); return; }
        this.pollState.stopped = true;
        this.streamRead(-this.readErrno);
        return;
      }
      const buf = this.#streamBuffer!;
      const n = Math.min(packet.length, buf.length);
      buf.set(packet.subarray(0, n));
      this.streamRead(n);
      return;
    }
    if (this.pollCallback === undefined || this.pollState.closed || this.pollState.stopped) {
      throw new Error('poll not active');
    }
    this.pollCallback(0, { readable: true, writable: false, disconnect: false });
  }

  syscalls(): string[] {
    return this.calls.map((c) => c.fn);
  }
}
