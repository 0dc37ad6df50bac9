import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JS helper shared with scripts/check-layers.mjs
import { layeringViolations, cycles, sourceGraph } from '../scripts/lib/imports.mjs';

describe('layering (design card: common, then tun and ip at the bottom, only netstack knows all)', () => {
  it('reads every package source', () => {
    expect(sourceGraph().length).toBeGreaterThan(6);
  });
  it('no package imports a layer it may not, and koffi stays in tun and host', () => {
    expect(layeringViolations()).toEqual([]);
  });
  it('detects a violation when one is present', () => {
    const fake = [{ pkg: 'ip', file: 'packages/ip/src/x.ts', specs: ['@netstack/udp', 'koffi'] }];
    expect(layeringViolations(fake)).toHaveLength(2);
  });
  it('common is a leaf: it imports no @netstack package; tun and ip may use it but still not each other', () => {
    const fake = [
      { pkg: 'common', file: 'packages/common/src/x.ts', specs: ['@netstack/tun'], typeSpecs: ['@netstack/ip'] },
      { pkg: 'tun', file: 'packages/tun/src/x.ts', specs: ['@netstack/common', '@netstack/ip'] },
      { pkg: 'ip', file: 'packages/ip/src/x.ts', specs: ['@netstack/common'], typeSpecs: ['@netstack/tun'] },
    ];
    expect(layeringViolations(fake)).toEqual([
      'packages/common/src/x.ts imports @netstack/tun',
      'packages/common/src/x.ts imports @netstack/ip',
      'packages/tun/src/x.ts imports @netstack/ip',
      'packages/ip/src/x.ts imports @netstack/tun',
    ]);
  });
  it('ethernet sits between the device and IP and knows neither: it imports common only, and tun and ip do not import it', () => {
    const fake = [
      { pkg: 'ethernet', file: 'packages/ethernet/src/x.ts', specs: ['@netstack/common', '@netstack/ip'], typeSpecs: ['@netstack/tun'] },
      { pkg: 'ip', file: 'packages/ip/src/x.ts', specs: ['@netstack/ethernet'] },
      { pkg: 'tun', file: 'packages/tun/src/x.ts', specs: ['@netstack/ethernet'] },
      { pkg: 'netstack', file: 'packages/netstack/src/x.ts', specs: ['@netstack/ethernet', '@netstack/tun', '@netstack/ip'] },
    ];
    expect(layeringViolations(fake)).toEqual([
      'packages/ethernet/src/x.ts imports @netstack/ip',
      'packages/ethernet/src/x.ts imports @netstack/tun',
      'packages/ip/src/x.ts imports @netstack/ethernet',
      'packages/tun/src/x.ts imports @netstack/ethernet',
    ]);
  });
  it('wireguard knows no device and no stack: only common, never tun, ip or a transport', () => {
    const fake = [
      { pkg: 'wireguard', file: 'packages/wireguard/src/x.ts', specs: ['@netstack/common', '@netstack/tun'], typeSpecs: ['@netstack/ip', '@netstack/netstack'] },
      { pkg: 'tun', file: 'packages/tun/src/x.ts', specs: ['@netstack/wireguard'] },
    ];
    expect(layeringViolations(fake)).toEqual([
      'packages/wireguard/src/x.ts imports @netstack/tun',
      'packages/wireguard/src/x.ts imports @netstack/ip',
      'packages/wireguard/src/x.ts imports @netstack/netstack',
      'packages/tun/src/x.ts imports @netstack/wireguard',
    ]);
    expect(sourceGraph().some((f: { pkg: string }) => f.pkg === 'wireguard')).toBe(true);
  });
  it('host (the ICMP echo socket) talks to the kernel through koffi and knows no protocol: only netstack imports it', () => {
    const fake = [
      { pkg: 'host', file: 'packages/host/src/x.ts', specs: ['koffi', '@netstack/ip', '@netstack/icmp'], typeSpecs: ['@netstack/common'] },
      { pkg: 'icmp', file: 'packages/icmp/src/x.ts', specs: ['@netstack/host', 'koffi'] },
      { pkg: 'netstack', file: 'packages/netstack/src/x.ts', specs: ['@netstack/host'] },
    ];
    expect(layeringViolations(fake)).toEqual([
      'packages/host/src/x.ts imports @netstack/ip',
      'packages/host/src/x.ts imports @netstack/icmp',
      'packages/host/src/x.ts imports @netstack/common',
      'packages/icmp/src/x.ts imports @netstack/host',
      'packages/icmp/src/x.ts imports koffi (only packages/tun and packages/host may)',
    ]);
    expect(sourceGraph().some((f: { pkg: string }) => f.pkg === 'host')).toBe(true);
  });
  it('has no import cycle between files or packages', () => {
    expect(cycles()).toEqual([]);
  });
  it('detects a cycle when one is present', () => {
    const fake = [
      { pkg: 'ip', file: 'packages/ip/src/a.ts', specs: ['./b.js'] },
      { pkg: 'ip', file: 'packages/ip/src/b.ts', specs: ['./a.js'] },
    ];
    expect(cycles(fake).length).toBeGreaterThan(0);
  });
  it('counts type-only imports as edges: a cycle through `import type` is a cycle too', () => {
    const fake = [
      { pkg: 'tcp', file: 'packages/tcp/src/a.ts', specs: ['./b.js'], typeSpecs: [] },
      { pkg: 'tcp', file: 'packages/tcp/src/b.ts', specs: [], typeSpecs: ['./a.js'] },
    ];
    expect(cycles(fake)).toEqual(['packages/tcp/src/a.ts -> packages/tcp/src/b.ts -> packages/tcp/src/a.ts']);
  });
});
