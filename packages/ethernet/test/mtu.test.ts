/** EthernetInterface.setMtu: the IP MTU changed at runtime (a DHCP lease's option 26). */
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '@netstack/common';
import { EthernetInterface } from '@netstack/ethernet';

function frames() {
  const sent: Uint8Array[] = [];
  const link = { mtu: 1514, send: (f: Uint8Array): boolean => { sent.push(f.slice()); return true; }, setReceiver: (): void => {} };
  return { link, sent };
}

/** An IPv4 packet of `len` bytes to 255.255.255.255 (what the interface reads of it: version and destination). */
function broadcast(len: number): Uint8Array {
  const p = new Uint8Array(len);
  p[0] = 0x45;
  p.fill(0xff, 16, 20);
  return p;
}

describe('EthernetInterface.setMtu', () => {
  it('lowers and raises the largest packet send takes, within 68..link.mtu - 14', () => {
    const { link, sent } = frames();
    const eth = new EthernetInterface({ link, clock: new VirtualClock(), mac: '02:00:00:00:00:02' });
    expect(eth.mtu).toBe(1500);
    eth.setMtu(1400);
    expect(eth.mtu).toBe(1400);
    expect(eth.send(broadcast(1401))).toBe(false);
    expect(eth.send(broadcast(1400))).toBe(true);
    expect(eth.counters().ethernet.OutDropTooBig).toBe(1);
    eth.setMtu(1500);
    expect(eth.send(broadcast(1500))).toBe(true);
    expect(sent.map((f) => f.length)).toEqual([1414, 1514]);
    for (const bad of [67, 1501, 1400.5]) expect(() => eth.setMtu(bad)).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(eth.mtu).toBe(1500);
  });

  it('an interface made with a smaller mtu may be raised to the link\'s', () => {
    const { link } = frames();
    const eth = new EthernetInterface({ link, clock: new VirtualClock(), mtu: 576 });
    eth.setMtu(1500);
    expect(eth.send(broadcast(1500))).toBe(true);
  });
});
