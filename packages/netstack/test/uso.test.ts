/**
 * UDP segmentation on receive, through the whole stack without a device: a link that does
 * what TunDevice does with a UDP_L4 read (UdpSegmenter in place, each datagram with
 * meta.csumPartial) feeds a stack; the IP layer must accept every datagram (its rewritten
 * header checksum and lengths) and a UDP socket must get exactly the datagrams the sender
 * meant, none counted as an error. The real device against the kernel: test/kernel/offload.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { createStack } from '@netstack/netstack';
import { UdpSegmenter, newPacketMeta, type Link, type LinkReceiver, type LinkStats } from '@netstack/tun';

/** RFC 1071 sum, folded, not complemented. */
function onesSum(b: Uint8Array, from: number, to: number, start = 0): number {
  let s = start;
  for (let i = from; i < to; i += 2) s += (b[i]! << 8) | (b[i + 1] ?? 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** A UDP super-datagram 10.0.0.1:5000 -> 10.0.0.2:7000 as the kernel hands it to a tun with USO. */
function superDatagram(payload: Uint8Array): Uint8Array {
  const total = 28 + payload.length;
  const p = new Uint8Array(total);
  p.set([0x45, 0, total >>> 8, total & 0xff, 0xab, 0xcd, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
  const ipc = ~onesSum(p, 0, 20) & 0xffff;
  p[10] = ipc >>> 8;
  p[11] = ipc & 0xff;
  const ulen = 8 + payload.length;
  const partial = onesSum(Uint8Array.of(10, 0, 0, 1, 10, 0, 0, 2, 0, 17, ulen >>> 8, ulen & 0xff), 0, 12);
  p.set([0x13, 0x88, 0x1b, 0x58, ulen >>> 8, ulen & 0xff, partial >>> 8, partial & 0xff], 20);
  p.set(payload, 28);
  return p;
}

/** The receive half of a TunDevice with USO, minus the fd. */
class UsoLink implements Link {
  readonly mtu = 1500;
  readonly offload = { tso4: false, csum: true, uso4: true };
  #receiver: LinkReceiver | undefined;
  readonly #seg = new UdpSegmenter();
  readonly #meta = newPacketMeta();
  rx = 0;
  send(): boolean { return true; }
  setReceiver(r: LinkReceiver): void { this.#receiver = r; }
  stats(): LinkStats { return { RxPackets: this.rx, RxBytes: 0, TxPackets: 0, TxBytes: 0, TxDropped: 0, RxDropped: 0 }; }
  close(): void {}
  inject(packet: Uint8Array, gsoSize: number): void {
    const n = this.#seg.begin(packet, gsoSize, true, 20, 6);
    if (typeof n === 'string') throw new Error(n);
    this.#meta.csumPartial = true;
    for (let k = 0; k < n; k++) { this.rx++; this.#receiver!.packet(this.#seg.segment(k), this.#meta); }
    this.#receiver!.batchEnd?.();
  }
}

describe('a split UDP super-datagram through the stack', () => {
  it('64 x 1000 bytes and a short last one reach a socket exactly, as separate datagrams', async () => {
    const link = new UsoLink();
    const stack = await createStack({ link, address: '10.0.0.2' });
    try {
      expect(stack.linkInfo().offload).toEqual({ tso4: false, csum: true, uso4: true });
      const got: Buffer[] = [];
      const sock = stack.udp.createSocket('udp4', (msg, rinfo) => {
        expect(rinfo).toMatchObject({ address: '10.0.0.1', port: 5000 });
        got.push(msg);
      });
      await new Promise<void>((r) => sock.bind(7000, r));
      const payload = new Uint8Array(64 * 1000 + 321);
      for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >>> 10)) & 0xff;
      link.inject(superDatagram(payload), 1000);
      expect(got.map((m) => m.length)).toEqual([...Array(64).fill(1000), 321]);
      got.forEach((m, k) => expect(m.equals(payload.subarray(k * 1000, (k + 1) * 1000))).toBe(true));
      const st = stack.stats();
      expect(st.udp).toMatchObject({ InDatagrams: 65, InErrors: 0, InCsumErrors: 0 });
      expect(st.ip).toMatchObject({ InReceives: 65, InDelivers: 65, InHdrErrors: 0, InChecksumVerified: 65, InGsoDatagrams: 0 });
      sock.close();
    } finally {
      await stack.close();
    }
  });
});
