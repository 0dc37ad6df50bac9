/**
 * A relay between two links: every packet read from A is sent on B and back, each
 * direction through its own shaper (impair.ts `createShaper`): the instrument that puts
 * two stacks (Linux and Linux, or Linux and netstack) on the same impaired path.
 *
 *   namespace A                relay process                 namespace B
 *   relay0 10.9.0.1/24  ──►  A.read → shaper a→b → B.send  ──►  relay0 10.9.0.2/24
 *   fd09::1/64          ◄──  A.send ← shaper b→a ← B.read  ◄──  fd09::2/64
 *
 * `relayLinks(a, b, …)` works on any two `Link`s (memory links in tests); `openRelay(…)`
 * opens the two TUN devices, each in its own network namespace (TunDevice.open's `netns`),
 * while the process stays in its own. The devices are opened without offloads: the relay
 * forwards plain IP packets up to the MTU, no virtio-net header, so it has no GSO
 * metadata to carry; a kernel sender's TSO/GSO is segmented by the kernel before the TUN.
 * Both families are relayed (`ipv4Only: false`): whatever the kernel routes to one
 * device leaves the other one.
 *
 * Bounds: each shaper holds at most `maxQueued` (default 4096) packets plus its
 * bottleneck queue's bound; the device's own read budget bounds a batch.
 */
import type { Link } from './link.js';
import { createShaper, type DirectionalShaper, type ImpairOptions, type ImpairSpec, type ImpairStats } from './impair.js';
import { TunDevice, type TunOptions, type TunStats } from './tun-device.js';

/** One direction's counters: what was read from the source, what the shaper did, what was written. */
export interface RelayDirectionStats extends ImpairStats {
  /** Packets read from the source link. */
  Packets: number;
  Bytes: number;
  /** Packets the destination link accepted (after the shaper; duplicates count twice). */
  Forwarded: number;
  ForwardedBytes: number;
  /** Packets the destination link refused (its send returned false: full, closed, write error). */
  SendFailed: number;
}

export interface RelayStats {
  /** A → B. */
  ab: RelayDirectionStats;
  /** B → A. */
  ba: RelayDirectionStats;
}

export interface RelayOptions extends ImpairOptions {
  /** The impairment A → B (absent: none). Its `down` is ignored (one direction). */
  ab?: ImpairSpec;
  /** The impairment B → A (absent: none). */
  ba?: ImpairSpec;
}

export interface Relay {
  readonly a: Link;
  readonly b: Link;
  stats(): RelayStats;
  /** Packets held by both shapers (bottleneck queues and delay). */
  queued(): number;
  /** Stops forwarding, drops what the shapers hold, closes both links. Idempotent. */
  close(): void;
}

const UNIMPAIRED: ImpairSpec = { loss: 0, dup: 0, reorder: 0, corrupt: 0, delayMs: 0, seed: 1 };

/**
 * The two directions' specs from one `--impair` text already parsed: a plain spec gives
 * both directions the same settings, each its own shaper, B → A seeded `seed + 1` (so the
 * two directions do not draw the same numbers); `up:…;down:…` gives up to A → B and down
 * to B → A.
 */
export function relaySpecs(spec: ImpairSpec): { ab: ImpairSpec; ba: ImpairSpec } {
  const { down, ...up } = spec;
  if (down !== undefined) return { ab: up, ba: down };
  return { ab: up, ba: { ...up, seed: (up.seed + 1) >>> 0 } };
}

/** Joins `a` and `b`: each packet read on one is sent on the other through that direction's shaper. */
export function relayLinks(a: Link, b: Link, options: RelayOptions = {}): Relay {
  const shaperOptions: ImpairOptions = {
    ...(options.scheduler !== undefined ? { scheduler: options.scheduler } : {}),
    ...(options.maxQueued !== undefined ? { maxQueued: options.maxQueued } : {}),
  };
  const counters = { ab: newCounters(), ba: newCounters() };
  const direction = (to: Link, c: Counters, spec: ImpairSpec | undefined): DirectionalShaper =>
    createShaper(spec ?? UNIMPAIRED, (p) => {
      if (to.send(p)) {
        c.Forwarded++;
        c.ForwardedBytes += p.length;
      } else {
        c.SendFailed++;
      }
    }, shaperOptions);
  const ab = direction(b, counters.ab, options.ab);
  const ba = direction(a, counters.ba, options.ba);
  let closed = false;
  a.setReceiver({
    packet: (p) => {
      counters.ab.Packets++;
      counters.ab.Bytes += p.length;
      ab.push(p);
    },
  });
  b.setReceiver({
    packet: (p) => {
      counters.ba.Packets++;
      counters.ba.Bytes += p.length;
      ba.push(p);
    },
  });
  return {
    a,
    b,
    stats: () => ({ ab: { ...counters.ab, ...ab.stats() }, ba: { ...counters.ba, ...ba.stats() } }),
    queued: () => ab.queued() + ba.queued(),
    close: () => {
      if (closed) return;
      closed = true;
      ab.close();
      ba.close();
      a.close();
      b.close();
    },
  };
}

type Counters = Omit<RelayDirectionStats, keyof ImpairStats>;
const newCounters = (): Counters => ({ Packets: 0, Bytes: 0, Forwarded: 0, ForwardedBytes: 0, SendFailed: 0 });

/** The TUN options of one side: offloads are off (see above); both families are relayed. */
export type RelaySideOptions = Omit<TunOptions, 'offload' | 'ipv4Only' | 'mode'>;

export interface TunRelay extends Relay {
  readonly a: TunDevice;
  readonly b: TunDevice;
  /** The two devices' own counters (kernel-side refusals show in their TxDropped). */
  deviceStats(): { a: TunStats; b: TunStats };
}

/**
 * Opens a TUN device for each side (typically each in its own namespace: `netns`) and
 * relays between them. If B cannot be opened, A is closed again (nothing is left) and
 * the error is thrown.
 */
export function openRelay(a: RelaySideOptions, b: RelaySideOptions, options: RelayOptions = {}): TunRelay {
  const devA = TunDevice.open({ ...a, mode: 'tun', offload: false, ipv4Only: false });
  let devB: TunDevice;
  try {
    devB = TunDevice.open({ ...b, mode: 'tun', offload: false, ipv4Only: false });
  } catch (err) {
    devA.close();
    throw err;
  }
  const relay = relayLinks(devA, devB, options);
  return { ...relay, a: devA, b: devB, deviceStats: () => ({ a: devA.stats(), b: devB.stats() }) };
}
