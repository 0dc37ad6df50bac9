import { afterEach, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { createStack, createLinkPair, type Stack } from '@netstack/netstack';

const open: Stack[] = [];
async function pair(mtu = 1500): Promise<[Stack, Stack]> {
  const { a, b } = createLinkPair({ mtu });
  const s1 = await createStack({ link: a, address: '10.0.0.1' });
  const s2 = await createStack({ link: b, address: '10.0.0.2' });
  open.push(s1, s2);
  return [s1, s2];
}
afterEach(async () => { await Promise.all(open.splice(0).map((s) => s.close())); });

describe('createStack on an in-memory link', () => {
  it('pings the other stack, with the reply matched and timed', async () => {
    const [s1] = await pair();
    const r = await s1.ping('10.0.0.2', { size: 56 });
    expect(r.bytes).toBe(64);
    expect(r.ttl).toBe(64);
    expect(r.rttMs).toBeGreaterThanOrEqual(0);
  });

  it('pings with 20000 bytes through fragmentation at MTU 576', async () => {
    const [s1, s2] = await pair(576);
    const r = await s1.ping('10.0.0.2', { size: 20000, timeout: 5000 });
    expect(r.bytes).toBe(20008);
    expect(s2.stats().ip!.ReasmOKs).toBe(1);
    expect(s1.stats().ip!.ReasmOKs).toBe(1);
  });

  it('concurrent pings do not mix', async () => {
    const [s1] = await pair();
    const rs = await Promise.all([10, 100, 1000, 3000].map((size) => s1.ping('10.0.0.2', { size })));
    expect(rs.map((r) => r.bytes)).toEqual([18, 108, 1008, 3008]);
    expect(new Set(rs.map((r) => r.seq)).size).toBe(4);
  });

  it('a ping to an address nobody answers times out with ETIMEDOUT, through the facade timer', async () => {
    const [s1] = await pair();
    await expect(s1.ping('10.0.0.9', { timeout: 50 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
  });

  it("a ping's failure is Node's error, made by the facade from the core's code (negative errno, syscall, address)", async () => {
    const [s1] = await pair();
    const err = await s1.ping('10.0.0.9', { timeout: 50 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ETIMEDOUT', errno: -110, syscall: 'ping', address: '10.0.0.9', message: 'ping ETIMEDOUT 10.0.0.9' });
  });

  it('an aborted ping rejects with AbortError', async () => {
    const [s1] = await pair();
    const ac = new AbortController();
    const p = s1.ping('10.0.0.9', { timeout: 10_000, signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    expect(s1.icmp.outstandingPings).toBe(0);
  });

  it('UDP between two stacks, dgram-style, exact for 65507 bytes', async () => {
    const [s1, s2] = await pair();
    const server = s2.udp.createSocket('udp4');
    server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address));
    server.bind(7);
    await once(server, 'listening');
    const client = s1.udp.createSocket('udp4');
    const payload = Buffer.alloc(65507);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 31) & 0xff;
    client.send(payload, 7, '10.0.0.2');
    const [msg, rinfo] = (await once(client, 'message')) as [Buffer, { address: string; port: number }];
    expect(msg.equals(payload)).toBe(true);
    expect(rinfo).toMatchObject({ address: '10.0.0.2', port: 7 });
    client.close();
    server.close();
  });

  it('a connected UDP socket sees ECONNREFUSED from the other stack', async () => {
    const [s1] = await pair();
    const client = s1.udp.createSocket('udp4');
    client.connect(9, '10.0.0.2');
    await once(client, 'connect');
    client.send('x');
    const [err] = (await once(client, 'error')) as [NodeJS.ErrnoException];
    expect(err.code).toBe('ECONNREFUSED');
    expect(s1.stats().icmp!.InDestUnreachs).toBe(1);
    client.close();
  });

  it('counts garbage from the link and keeps working', async () => {
    const { a, b } = createLinkPair({ mtu: 1500 });
    const s2 = await createStack({ link: b, address: '10.0.0.2' });
    open.push(s2);
    for (const junk of [Uint8Array.of(0x60, 0, 0, 0), Uint8Array.of(0x45), new Uint8Array(40).fill(0x45)]) a.send(junk);
    a.setReceiver({ packet() {} });
    const s1 = await createStack({ link: a, address: '10.0.0.1' });
    open.push(s1);
    await s1.ping('10.0.0.2');
    expect(s2.stats().ip!.InHdrErrors).toBeGreaterThanOrEqual(3);
  });
});

describe('createStack arguments', () => {
  it('rejects a bad address with ERR_INVALID_ARG_VALUE', async () => {
    const { a } = createLinkPair();
    await expect(createStack({ link: a, address: '10.0.0.256' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });
  it('needs exactly one of tun and link', async () => {
    await expect(createStack({ address: '10.0.0.1' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
  });
  it('needs exactly one of tun, tap and link; a bad tap option is refused before any device is opened', async () => {
    const { a } = createLinkPair();
    await expect(createStack({ link: a, tap: {}, address: '10.0.0.1' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: /exactly one of options.tun, options.tap and options.link/ });
    await expect(createStack({ tun: {}, tap: {}, address: '10.0.0.1' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    for (const mac of ['01:00:5e:00:00:01', 'ff:ff:ff:ff:ff:ff', '00:00:00:00:00:00', '02:00:00:00:00', 'x']) {
      await expect(createStack({ tap: { mac }, address: '10.7.0.2' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', option: 'tap.mac' });
    }
    await expect(createStack({ tap: 'tap0' as never, address: '10.7.0.2' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', option: 'tap' });
    // The kernel side is checked as for a TUN, and named as the tap's.
    await expect(createStack({ tap: { kernelAddress: 'nope' }, address: '10.7.0.2' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', option: 'tap.kernelAddress' });
    await expect(createStack({ tap: { kernelAddress: '10.8.0.1/24' }, address: '10.7.0.2' })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE', message: /options\.tap\.kernelAddress/ });
  });
  it('a clock must have now, setTimer and cancel: refused before the link is touched (a bad one was taken, and close() threw)', async () => {
    const { a } = createLinkPair();
    for (const clock of [5, {}, { now: () => 0, setTimer: () => 0 }, null]) {
      await expect(createStack({ link: a, address: '10.0.0.1', clock: clock as never }), String(clock)).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE', option: 'clock' });
    }
    expect(a.closed).toBe(false);
  });
  it('linkInfo() says what the stack runs on: a link given as `link`', async () => {
    const [s1] = await pair();
    expect(s1.linkInfo()).toMatchObject({ type: 'link', name: 'memory' });
    expect(s1.linkInfo().mac).toBeUndefined();
  });
  it('ping rejects a bad size with ERR_OUT_OF_RANGE', async () => {
    const [s1] = await pair();
    await expect(s1.ping('10.0.0.2', { size: 70000 })).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
  });
  it("ping rejects a bad timeout with Node's ERR_OUT_OF_RANGE / ERR_INVALID_ARG_TYPE (the facade's check, not the core's)", async () => {
    const [s1] = await pair();
    await expect(s1.ping('10.0.0.2', { timeout: 0 })).rejects.toMatchObject({
      code: 'ERR_OUT_OF_RANGE', message: 'The value of "options.timeout" is out of range. It must be a finite number > 0. Received 0',
    });
    await expect(s1.ping('10.0.0.2', { timeout: '5' as unknown as number })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARG_TYPE', message: `The "options.timeout" property must be of type number. Received type string ('5')`,
    });
    expect(s1.icmp.outstandingPings).toBe(0);
  });
  it('close() is idempotent and closes the link', async () => {
    const [s1] = await pair();
    await s1.close();
    await s1.close();
    expect(s1.stats().link!.TxPackets).toBe(0);
  });
});
