/**
 * Fixtures of the node:dgram facade's tests: a UDP core (UdpLayer) on a fake or real IP
 * layer with the facade's `createSocket` beside it, and datagram builders.
 */
import type { IpOutput } from '@netstack/ip';
import { UdpLayer, type UdpLayerOptions } from '@netstack/udp';
import { createUdpApi, type UdpApi, type UdpApiOptions } from '../../src/dgram/index.js';

export { FakeIp, ip, type Sent } from '../../../ip/test/fake-ip.js';
export { parseSent, udpIn, rawIn, tick, hex, toHex, type UdpSpec } from '../../../udp/test/helpers.js';

/** A UDP core and the dgram facade over it, as a stack wires them (without its event queue: 'message' is emitted at once). */
export type DgramLayer = UdpLayer & Pick<UdpApi, 'createSocket'>;

export function dgramLayer(ip: IpOutput, options: UdpLayerOptions & UdpApiOptions = {}): DgramLayer {
  const udp = new UdpLayer(ip, options);
  return Object.assign(udp, { createSocket: createUdpApi(udp, options).createSocket });
}
