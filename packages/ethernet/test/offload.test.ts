/**
 * Offloads through the interface (a TAP with a vnet header): `offload` / `offloadHeadroom`
 * taken from the frame link, `sendOffload` framing the IP layer's packet in place in its
 * headroom with csumStart + 14, a packet that must wait for ARP queued with its checksum
 * completed (it leaves by plain send), a super-segment for an unresolved neighbour dropped
 * and counted, and received meta handed up with the payload.
 */
import { VirtualClock, type LinkOffload, type PacketMeta } from '@netstack/common';
import { describe, expect, it } from 'vitest';
import { ARP_REPLY, EthernetInterface, type FrameLink, type FrameReceiver } from '../src/index.js';
import { arpFrame, frame, hex, ip, mac, toHex } from './helpers.js';

const US_MAC = mac('02:00:5e:10:00:02');
const PEER_MAC = mac('52:54:00:12:34:56');
const US = ip('10.7.0.2');
const PEER = ip('10.7.0.1');

interface OffloadCall { frame: Uint8Array; sameBuffer: boolean; byteOffset: number; gsoSize: number; csumStart: number; csumOffset: number }

/** A frame link with offloads that records what it is given (copies, and where the frame lay). */
class OffloadLink implements FrameLink {
  readonly mtu = 1514;
  readonly offload: LinkOffload = { csum: true, tso4: true, tso6: true };
  readonly offloadHeadroom = 12;
  receiver: FrameReceiver | undefined;
  sent: Uint8Array[] = [];
  offloaded: OffloadCall[] = [];
  watch: ArrayBufferLike | undefined;
  send(f: Uint8Array): boolean {
    this.sent.push(f.slice());
    return true;
  }
  sendOffload(f: Uint8Array, gsoSize: number, csumStart: number, csumOffset: number): boolean {
    this.offloaded.push({ frame: f.slice(), sameBuffer: f.buffer === this.watch, byteOffset: f.byteOffset, gsoSize, csumStart, csumOffset });
    return true;
  }
  setReceiver(r: FrameReceiver): void {
    this.receiver = r;
  }
}

/** RFC 1071 sum over [start, end), folded, not complemented. */
function onesSum(b: Uint8Array, start: number, end: number, init = 0): number {
  let s = init;
  for (let i = start; i < end; i += 2) s += (b[i]! << 8) | (i + 1 < end ? b[i + 1]! : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/**
 * A TCP/IPv4 packet US -> PEER with `data` payload bytes, as the IP layer hands it to
 * sendOffload: at `headroom` in a larger buffer, the TCP checksum field holding the
 * pseudo-header sum (partial).
 */
function tcpPacket(data: number, headroom = 26, dst = PEER): Uint8Array {
  const total = 40 + data;
  const buf = new Uint8Array(headroom + total);
  const p = buf.subarray(headroom);
  p.set([0x45, 0, total >>> 8, total & 0xff, 0, 1, 0x40, 0, 64, 6, 0, 0]);
  new DataView(p.buffer, p.byteOffset).setUint32(12, US);
  new DataView(p.buffer, p.byteOffset).setUint32(16, dst);
  p.set([0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff], 20);
  for (let i = 0; i < data; i++) p[40 + i] = (i * 7) & 0xff;
  const ph = onesSum(Uint8Array.of(...p.subarray(12, 20), 0, 6, (20 + data) >>> 8, (20 + data) & 0xff), 0, 12);
  p[36] = ph >>> 8;
  p[37] = ph & 0xff;
  return p;
}

/** The TCP checksum of an IPv4 packet verifies (the pseudo-header included). */
function tcpChecksumOk(p: Uint8Array): boolean {
  const len = p.length - 20;
  const ph = onesSum(Uint8Array.of(...p.subarray(12, 20), 0, 6, len >>> 8, len & 0xff), 0, 12);
  return onesSum(p, 20, p.length, ph) === 0xffff;
}

function setup() {
  const clock = new VirtualClock();
  const link = new OffloadLink();
  const eth = new EthernetInterface({ link, mac: US_MAC, clock, random: () => 0, ipv4: { address: US, prefixLength: 24 } });
  const received: { p: Uint8Array; meta: PacketMeta | undefined }[] = [];
  eth.setReceiver({ packet: (p, meta) => { received.push({ p: p.slice(), meta: meta === undefined ? undefined : { ...meta } }); } });
  link.sent = []; // the announcement
  /** The peer answers our ARP request (a unicast reply: REACHABLE). */
  const resolve = (): void => {
    link.receiver!.packet(arpFrame(US_MAC, PEER_MAC, { operation: ARP_REPLY, senderMac: PEER_MAC, senderIp: PEER, targetMac: US_MAC, targetIp: US }));
    link.receiver!.batchEnd?.();
  };
  return { clock, link, eth, received, resolve };
}

describe('offloads through the interface', () => {
  it('takes the link\'s offloads; headroom = 14 + the link\'s own', () => {
    const { eth } = setup();
    expect(eth.offload).toEqual({ csum: true, tso4: true, tso6: true });
    expect(eth.offloadHeadroom).toBe(26);
    const plain: FrameLink = { mtu: 1514, send: () => true, setReceiver: () => {} };
    const e2 = new EthernetInterface({ link: plain, clock: new VirtualClock() });
    expect(e2.offload).toBeUndefined();
    expect(e2.offloadHeadroom).toBeUndefined();
    // Offloads declared without sendOffload are not offered.
    const half = { mtu: 1514, offload: { csum: true, tso4: true }, send: () => true, setReceiver: () => {} } as FrameLink;
    expect(new EthernetInterface({ link: half, clock: new VirtualClock() }).offload).toBeUndefined();
  });

  it('a resolved neighbour: the frame is written in the packet\'s headroom (no copy), csumStart + 14, gso passed', () => {
    const { link, eth, resolve } = setup();
    expect(eth.send(tcpPacket(10).slice())).toBe(true); // starts resolution (queued)
    resolve();
    link.sent = [];
    const p = tcpPacket(60_000);
    link.watch = p.buffer;
    expect(eth.sendOffload(p, 1448, 20, 16)).toBe(true);
    expect(link.offloaded).toHaveLength(1);
    const call = link.offloaded[0]!;
    expect(call).toMatchObject({ sameBuffer: true, byteOffset: 12, gsoSize: 1448, csumStart: 34, csumOffset: 16 });
    expect(toHex(call.frame.subarray(0, 14))).toBe(toHex(hex('52 54 00 12 34 56 02 00 5e 10 00 02 08 00')));
    expect(toHex(call.frame.subarray(14))).toBe(toHex(p));
    expect(eth.counters().ethernet).toMatchObject({ OutSent: 1, OutOffload: 1, OutOffloadGso: 1, OutQueued: 1, OutFlushed: 1 });
    expect(eth.stats()).toMatchObject({ TxPackets: 2, TxDropped: 0 });
  });

  it('without headroom the packet is copied behind the header (still one call)', () => {
    const { link, eth, resolve } = setup();
    eth.send(tcpPacket(10).slice());
    resolve();
    const p = tcpPacket(3000).slice(); // byteOffset 0
    expect(eth.sendOffload(p, 1448, 20, 16)).toBe(true);
    const call = link.offloaded[0]!;
    expect(call).toMatchObject({ sameBuffer: false, gsoSize: 1448, csumStart: 34 });
    expect(toHex(call.frame.subarray(14))).toBe(toHex(p));
  });

  it('a packet that must wait for ARP is queued with its checksum completed and leaves by plain send', () => {
    const { link, eth, resolve } = setup();
    const p = tcpPacket(1000);
    expect(tcpChecksumOk(p)).toBe(false);
    const before = p.slice();
    expect(eth.sendOffload(p, 1448, 20, 16)).toBe(true);
    expect(toHex(p)).toBe(toHex(before)); // the caller's bytes untouched
    expect(link.sent).toHaveLength(1); // the ARP request
    resolve();
    expect(link.offloaded).toHaveLength(0);
    expect(link.sent).toHaveLength(2);
    const f = link.sent[1]!;
    expect(toHex(f.subarray(0, 14))).toBe(toHex(hex('52 54 00 12 34 56 02 00 5e 10 00 02 08 00')));
    expect(tcpChecksumOk(f.subarray(14))).toBe(true);
    expect(eth.counters().ethernet).toMatchObject({ OutQueued: 1, OutFlushed: 1, OutOffload: 0 });
  });

  it('a super-segment for an unresolved neighbour is dropped and counted (it could not leave by plain send)', () => {
    const { link, eth } = setup();
    expect(eth.sendOffload(tcpPacket(20_000), 1448, 20, 16)).toBe(false);
    expect(link.offloaded).toHaveLength(0);
    expect(link.sent).toHaveLength(0);
    expect(eth.counters().ethernet).toMatchObject({ OutPackets: 1, OutDropGsoUnresolved: 1, OutQueued: 0 });
    expect(eth.stats().TxDropped).toBe(1);
  });

  it('refuses what the link cannot take: a super-segment without gsoSize, bad offsets', () => {
    const { eth, resolve } = setup();
    eth.send(tcpPacket(10).slice());
    resolve();
    expect(eth.sendOffload(tcpPacket(2000), 0, 20, 16)).toBe(false);
    expect(eth.sendOffload(tcpPacket(100), 1448, 10, 16)).toBe(false);
    expect(eth.counters().ethernet).toMatchObject({ OutDropTooBig: 1, OutDropMalformed: 1 });
  });

  it('received frames hand their meta up with the IP payload', () => {
    const { link, received } = setup();
    const meta: PacketMeta = { csumPartial: true, dataValid: false, gsoType: 1, gsoSize: 1460 };
    const p = tcpPacket(30_000).slice();
    link.receiver!.packet(frame(US_MAC, PEER_MAC, 0x0800, p), meta);
    expect(received).toHaveLength(1);
    expect(received[0]!.meta).toEqual(meta);
    expect(toHex(received[0]!.p)).toBe(toHex(p));
  });
});
