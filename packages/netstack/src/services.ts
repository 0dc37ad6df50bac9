/**
 * The services `netstack serve` offers on the stack's address: ICMP echo (always,
 * by the icmp layer) and UDP echo on port 7 (RFC 862). TCP services come with TCP.
 */
import type { Stack } from './stack.js';

export interface Services {
  describe(): string;
  close(): Promise<void>;
}

export async function startServices(stack: Stack): Promise<Services> {
  const echo = stack.udp.createSocket('udp4');
  echo.on('message', (msg: Buffer, rinfo: { address: string; port: number }) => {
    echo.send(msg, rinfo.port, rinfo.address);
  });
  // A send that fails (e.g. the kernel side went away) is counted by the layer; the service goes on.
  echo.on('error', () => {});
  await new Promise<void>((resolve) => echo.bind(7, resolve));
  return {
    describe: () => 'icmp echo, udp echo :7',
    close: () => new Promise<void>((resolve) => echo.close(() => resolve())),
  };
}
