import { describe, expect, it } from 'vitest';
import { createProbeLink, newPacketMeta, type LinkReceiver } from '@netstack/tun';

/** A receiver that records calls and answers each packet by sending it back, reversed. */
function echoReceiver(probe: ReturnType<typeof createProbeLink>, log: string[]): LinkReceiver {
  return {
    packet(p, meta) {
      log.push(`packet ${Buffer.from(p).toString('hex')}${meta ? ' meta' : ''}`);
      probe.link.send(p.slice().reverse());
    },
    batchEnd() { log.push('batchEnd'); },
  };
}

describe('createProbeLink', () => {
  it('inject delivers one packet then ends the batch; what is sent is captured as copies', () => {
    const probe = createProbeLink({ mtu: 100 });
    const log: string[] = [];
    probe.link.setReceiver(echoReceiver(probe, log));
    const buf = Uint8Array.of(1, 2, 3);
    expect(probe.inject(buf)).toBe(true);
    expect(log).toEqual(['packet 010203', 'batchEnd']);
    buf.fill(9); // the caller may reuse its buffer: the capture is a copy
    expect(probe.sent.map((p) => [...p])).toEqual([[3, 2, 1]]);
    expect(probe.take().map((p) => [...p])).toEqual([[3, 2, 1]]);
    expect(probe.sent).toEqual([]);
    expect(probe.stats()).toMatchObject({ RxPackets: 1, RxBytes: 3, TxPackets: 1, TxBytes: 3, TxDropped: 0, CaptureDropped: 0 });
  });

  it('injectBatch and deliver/endBatch: one batchEnd per batch, none without a packet', () => {
    const probe = createProbeLink();
    const log: string[] = [];
    probe.link.setReceiver(echoReceiver(probe, log));
    probe.endBatch(); // nothing open: no batchEnd
    expect(probe.injectBatch([Uint8Array.of(1), Uint8Array.of(2)])).toBe(2);
    probe.deliver(Uint8Array.of(3), newPacketMeta());
    probe.deliver(Uint8Array.of(4));
    expect(log).toEqual(['packet 01', 'packet 02', 'batchEnd', 'packet 03 meta', 'packet 04']);
    probe.endBatch();
    probe.endBatch();
    expect(log.slice(5)).toEqual(['batchEnd']);
  });

  it('onSend sees every packet; capture is bounded and counts what it discards; over-MTU sends are refused', () => {
    const probe = createProbeLink({ mtu: 4, capture: 2 });
    const seen: number[] = [];
    probe.onSend = (p) => seen.push(p[0]!);
    for (let i = 0; i < 5; i++) expect(probe.link.send(Uint8Array.of(i))).toBe(true);
    expect(probe.link.send(new Uint8Array(5))).toBe(false);
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    expect(probe.sent.map((p) => p[0])).toEqual([3, 4]);
    expect(probe.stats()).toMatchObject({ TxPackets: 5, TxDropped: 1, CaptureDropped: 3 });
  });

  it('without a receiver, or closed, nothing is delivered and it is counted', () => {
    const probe = createProbeLink();
    expect(probe.inject(Uint8Array.of(1))).toBe(false);
    const log: string[] = [];
    probe.link.setReceiver(echoReceiver(probe, log));
    probe.close();
    expect(probe.inject(Uint8Array.of(1))).toBe(false);
    expect(probe.link.send(Uint8Array.of(1))).toBe(false);
    expect(log).toEqual([]);
    expect(probe.stats()).toMatchObject({ RxPackets: 0, RxDropped: 2, TxDropped: 1 });
  });

  it('a receiver that throws still gets its batchEnd, and the exception reaches the caller', () => {
    const probe = createProbeLink();
    const log: string[] = [];
    probe.link.setReceiver({ packet() { throw new Error('boom'); }, batchEnd() { log.push('batchEnd'); } });
    expect(() => probe.inject(Uint8Array.of(1))).toThrow('boom');
    expect(log).toEqual(['batchEnd']);
  });

  it('validates its options', () => {
    expect(() => createProbeLink({ mtu: 0 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => createProbeLink({ capture: -1 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => createProbeLink({ offload: 1 as unknown as boolean })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});
