/**
 * A deterministic network simulator (after smoltcp's tests/netsim.rs): two
 * TcpLayers back to back through a seeded channel that drops, duplicates and
 * delays (so reorders) segments, driven by a tiny virtual-time event loop.
 */
import { PROTO_TCP, type IpAddress, type IpOutput, type PayloadWriter, type SendError, type SendOptions } from '@netstack/ip';
import { TcpLayer } from '../src/index.js';
import type { TcpLayerOptions } from '../src/index.js';
import { checksumVerifies } from '../../../test/family.js';
import { MTU, datagram, hostAddress, seeded } from './harness.js';

/**
 * The two hosts the simulations use, in the run's family (10.0.0.1/2 or fd00::1/2). The
 * link MTU is the harness's (1500 over IPv4, 1520 over IPv6): the same MSS, 1460, for
 * both, so a seed cuts the stream at the same places and the tuned expectations (tail
 * probes seen, throughput ratios) hold for both families.
 */
export const SIM_A = hostAddress(1);
export const SIM_B = hostAddress(2);

export interface LinkParams {
  loss: number;
  duplicate: number;
  delay: number;
  jitter: number;
  /** Probability that a segment is held back by `reorderDelay` more (those behind it overtake it). */
  reorder?: number;
  reorderDelay?: number;
  /**
   * Bursty loss besides `loss`: a Gilbert–Elliott chain per direction (per sender), moved per
   * segment good→bad with probability `p` and bad→good with `r`, every segment lost while bad
   * (as bench --impaired's gel=P/R). Unset: no random draw is spent on it (seeds replay as before).
   */
  burst?: { p: number; r: number };
}

interface Ev { at: number; order: number; run: () => void }

export class Sim {
  now = 0;
  private q: Ev[] = [];
  private order = 0;
  readonly rand: () => number;
  readonly layers = new Map<IpAddress, TcpLayer>();
  /** Segments whose checksum did not verify over the family's pseudo-header (must stay 0). */
  badChecksums = 0;
  delivered = 0;
  dropped = 0;

  constructor(seed: number, readonly link: LinkParams) {
    this.rand = seeded(seed);
  }

  /** Adds a host at `addr` with its own TcpLayer. */
  host(addr: IpAddress, options: TcpLayerOptions = {}): TcpLayer {
    const sim = this;
    const ip: IpOutput = {
      address: addr,
      mtu: MTU,
      sourceFor: () => addr,
      pathMtu: () => MTU,
      send(dst: IpAddress, _p: number, payload: Uint8Array, _o?: SendOptions): SendError | undefined {
        sim.transmit(addr, dst, payload.slice());
        return undefined;
      },
      sendWith(dst: IpAddress, _p: number, length: number, writer: PayloadWriter, _o?: SendOptions): SendError | undefined {
        const buf = new Uint8Array(length);
        writer.writePayload(buf, 0, addr, dst);
        sim.transmit(addr, dst, buf);
        return undefined;
      },
      reportUnreachable() {},
    };
    const key = new Uint8Array(16);
    for (let i = 0; i < 16; i++) key[i] = Math.floor(this.rand() * 256);
    const layer = new TcpLayer(ip, { isnKey: key, ...options });
    this.layers.set(addr, layer);
    return layer;
  }

  /** Gilbert–Elliott state per sending address (LinkParams.burst): true while bad. */
  private bad = new Map<IpAddress, boolean>();

  private transmit(src: IpAddress, dst: IpAddress, bytes: Uint8Array): void {
    if (!checksumVerifies(PROTO_TCP, src, dst, bytes)) this.badChecksums++;
    const ge = this.link.burst;
    let burstLost = false;
    if (ge !== undefined) {
      const was = this.bad.get(src) ?? false;
      const bad = was ? !(this.rand() < ge.r) : this.rand() < ge.p;
      this.bad.set(src, bad);
      burstLost = bad;
    }
    const copies = burstLost || this.rand() < this.link.loss ? 0 : this.rand() < this.link.duplicate ? 2 : 1;
    if (copies === 0) this.dropped++;
    for (let i = 0; i < copies; i++) {
      let at = this.now + this.link.delay + this.rand() * this.link.jitter;
      if (this.link.reorder !== undefined && this.rand() < this.link.reorder) at += this.link.reorderDelay ?? 0;
      this.at(at, () => {
        const l = this.layers.get(dst);
        if (l === undefined) return;
        this.delivered++;
        l.receive(datagram(bytes, src, dst), this.now);
      });
    }
  }

  /** Schedules an application or network event. */
  at(t: number, run: () => void): void {
    const ev = { at: Math.max(t, this.now), order: this.order++, run };
    // Insertion keeps the queue sorted by (at, order); test traffic is small.
    let i = this.q.length;
    while (i > 0 && (this.q[i - 1]!.at > ev.at || (this.q[i - 1]!.at === ev.at && this.q[i - 1]!.order > ev.order))) i--;
    this.q.splice(i, 0, ev);
  }

  /** Runs until nothing is queued and no timer is armed, or `limit` events ran. Returns false on the limit. */
  run(limit = 500_000, until = Infinity): boolean {
    const quiet = this.runEvents(limit, until);
    if (this.badChecksums > 0) throw new Error(`${this.badChecksums} segment(s) with a checksum that does not verify over the pseudo-header`);
    return quiet;
  }

  private runEvents(limit: number, until: number): boolean {
    for (let n = 0; n < limit; n++) {
      let next = this.q.length > 0 ? this.q[0]!.at : Infinity;
      let timerLayer: TcpLayer | undefined;
      for (const l of this.layers.values()) {
        const p = l.pollAt();
        if (p < next) { next = p; timerLayer = l; }
      }
      if (next === Infinity || next > until) return true;
      this.now = Math.max(this.now, next);
      if (timerLayer !== undefined) timerLayer.poll(this.now);
      else this.q.shift()!.run();
    }
    return false;
  }
}
