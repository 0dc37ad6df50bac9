/** A segment on virtual time: a learning switch, raw ports to inject and capture frames. */
import { VirtualClock } from '@netstack/common';
import { LearningSwitch, emitArp, emitEthernet, parseMac, type ArpRepr, type SwitchOptions, type SwitchPort } from '../src/index.js';

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/[\s|]+/g, ''), 'hex'));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
export const mac = (s: string): number => parseMac(s)!;
export const ip = (s: string): number => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);

export class Segment {
  readonly clock = new VirtualClock();
  readonly sw: LearningSwitch;

  constructor(options: SwitchOptions = {}) {
    this.sw = new LearningSwitch({ autoDeliver: false, clock: this.clock, ...options });
  }

  /** A port that records what reaches it (copies). */
  capture(): { port: SwitchPort; frames: Uint8Array[]; take(): Uint8Array[] } {
    const port = this.sw.port();
    const rec = {
      port,
      frames: [] as Uint8Array[],
      take(): Uint8Array[] {
        const f = rec.frames;
        rec.frames = [];
        return f;
      },
    };
    port.setReceiver({ packet: (f) => { rec.frames.push(f.slice()); } });
    return rec;
  }

  /** Delivers frames and fires timers, in time order, until `ms` from now (bounded). */
  run(ms: number): void {
    const target = this.clock.now() + ms;
    for (let guard = 0; guard < 100_000; guard++) {
      for (let i = 0; i < 1000 && this.sw.pump() > 0; i++);
      const at = this.clock.nextAt();
      if (at > target) break;
      this.clock.fireDue();
    }
    this.clock.advanceTo(target);
  }
}

/** An ARP frame (42 bytes). */
export function arpFrame(dst: number, src: number, a: ArpRepr): Uint8Array {
  const b = new Uint8Array(42);
  emitEthernet({ dst, src, ethertype: 0x0806 }, b);
  emitArp(a, b, 14);
  return b;
}

/** An Ethernet frame around `payload`. */
export function frame(dst: number, src: number, ethertype: number, payload: Uint8Array): Uint8Array {
  const b = new Uint8Array(14 + payload.length);
  emitEthernet({ dst, src, ethertype }, b);
  b.set(payload, 14);
  return b;
}

/** A minimal IPv4 header (no checksum needed by the interface) to `dst`, with `len` total bytes. */
export function ipv4(src: number, dst: number, len = 28, protocol = 17): Uint8Array {
  const p = new Uint8Array(len);
  p[0] = 0x45;
  p[2] = len >> 8;
  p[3] = len & 0xff;
  p[8] = 64;
  p[9] = protocol;
  new DataView(p.buffer).setUint32(12, src);
  new DataView(p.buffer).setUint32(16, dst);
  for (let i = 20; i < len; i++) p[i] = i & 0xff;
  return p;
}
