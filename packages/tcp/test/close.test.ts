import { describe, expect, it } from 'vitest';
import { ACK, FIN, PSH, RST, SYN } from '../src/index.js';
import { REMOTE_ISS, established, listening } from './harness.js';

const R = REMOTE_ISS + 1;

describe('FIN processing (RFC 9293 §3.10.7.4 eighth)', () => {
  it('ESTABLISHED + FIN -> CLOSE-WAIT, ACK at once, onRemoteFin', () => {
    const t = established();
    t.send({ seq: R, ack: t.iss + 1, flags: FIN | ACK });
    t.recv({ flags: ACK, ack: R + 1 });
    expect(t.conn.state).toBe('CLOSE-WAIT');
    expect(t.conn.remoteFinReceived).toBe(true);
    expect(t.events.log).toEqual(['remote-fin']);
  });

  it('FIN with data: data readable, FIN acked after it', () => {
    const t = established();
    t.send({ seq: R, ack: t.iss + 1, flags: FIN | ACK | PSH, payload: 'bye' });
    t.recv({ flags: ACK, ack: R + 4 });
    expect(t.read()).toBe('bye');
    expect(t.events.log).toEqual(['readable', 'remote-fin']);
  });

  it('a FIN past a hole waits for the hole to fill', () => {
    const t = established();
    t.send({ seq: R + 3, ack: t.iss + 1, flags: FIN | ACK, payload: 'def' });
    t.recv({ flags: ACK, ack: R });
    expect(t.conn.state).toBe('ESTABLISHED');
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: 'abc' });
    t.recv({ flags: ACK, ack: R + 7 });
    expect(t.conn.state).toBe('CLOSE-WAIT');
    expect(t.read()).toBe('abcdef');
  });

  it('CLOSE-WAIT: a retransmitted FIN is ACKed again; shutdown -> LAST-ACK; ACK -> CLOSED', () => {
    const t = established();
    t.send({ seq: R, ack: t.iss + 1, flags: FIN | ACK });
    t.recv({ ack: R + 1 });
    t.send({ seq: R, ack: t.iss + 1, flags: FIN | ACK });
    t.recv({ flags: ACK, ack: R + 1 });
    t.write('last words');
    t.recv({ payload: 'last words' });
    t.conn.shutdown(t.now);
    t.recv({ flags: FIN | ACK, seq: t.iss + 11, ack: R + 1 }); // a bare FIN is not held by Nagle
    expect(t.conn.state).toBe('LAST-ACK');
  });

  it('LAST-ACK: the ACK of our FIN closes (no error)', () => {
    const t = established();
    t.send({ seq: R, ack: t.iss + 1, flags: FIN | ACK });
    t.drain();
    t.conn.close(t.now);
    t.recv({ flags: FIN | ACK, seq: t.iss + 1, ack: R + 1 });
    expect(t.conn.state).toBe('LAST-ACK');
    t.send({ seq: R + 1, ack: t.iss + 2, flags: ACK });
    expect(t.conn.state).toBe('CLOSED');
    expect(t.events.log).toEqual(['remote-fin', 'closed']);
    expect(t.layer.connectionCount).toBe(0);
  });

  it('FIN-WAIT-1 -> FIN-WAIT-2 on ACK; FIN -> TIME-WAIT; CLOSED at exactly 2*MSL', () => {
    const t = established();
    t.conn.shutdown(t.now);
    t.recv({ flags: FIN | ACK, seq: t.iss + 1, ack: R });
    expect(t.conn.state).toBe('FIN-WAIT-1');
    t.send({ seq: R, ack: t.iss + 2, flags: ACK });
    expect(t.conn.state).toBe('FIN-WAIT-2');
    t.advance(1000);
    t.send({ seq: R, ack: t.iss + 2, flags: FIN | ACK });
    t.recv({ flags: ACK, seq: t.iss + 2, ack: R + 1 });
    expect(t.conn.state).toBe('TIME-WAIT');
    expect(t.events.log).toEqual(['remote-fin', 'closed']);
    expect(t.layer.pollAt()).toBe(1000 + 60_000);
    t.advance(1000 + 60_000 - 1);
    expect(t.conn.state).toBe('TIME-WAIT');
    t.advance(1000 + 60_000);
    expect(t.conn.state).toBe('CLOSED');
    expect(t.layer.connectionCount).toBe(0);
    expect(t.events.log).toEqual(['remote-fin', 'closed']); // onClosed once
  });

  it('TIME-WAIT: a retransmitted FIN is ACKed and restarts 2*MSL', () => {
    const t = established({ msl: 1000 });
    t.conn.shutdown(t.now);
    t.drain();
    t.send({ seq: R, ack: t.iss + 2, flags: FIN | ACK });
    t.drain();
    t.advance(1500);
    t.send({ seq: R, ack: t.iss + 2, flags: FIN | ACK });
    t.recv({ flags: ACK, ack: R + 1 });
    t.advance(3499);
    expect(t.conn.state).toBe('TIME-WAIT');
    t.advance(3500);
    expect(t.conn.state).toBe('CLOSED');
  });

  it('FIN-WAIT-1 + FIN (simultaneous close) -> CLOSING; ACK -> TIME-WAIT', () => {
    const t = established();
    t.conn.shutdown(t.now);
    t.recv({ flags: FIN | ACK, seq: t.iss + 1 });
    t.send({ seq: R, ack: t.iss + 1, flags: FIN | ACK }); // their FIN crosses ours
    t.recv({ flags: ACK, ack: R + 1 });
    expect(t.conn.state).toBe('CLOSING');
    t.send({ seq: R + 1, ack: t.iss + 2, flags: ACK });
    expect(t.conn.state).toBe('TIME-WAIT');
  });

  it('FIN-WAIT-1 + FIN,ACK acknowledging our FIN -> TIME-WAIT directly', () => {
    const t = established();
    t.conn.shutdown(t.now);
    t.drain();
    t.send({ seq: R, ack: t.iss + 2, flags: FIN | ACK });
    t.recv({ flags: ACK, ack: R + 1 });
    expect(t.conn.state).toBe('TIME-WAIT');
  });

  it('half-close: after shutdown the peer can still send us data', () => {
    const t = established();
    t.conn.shutdown(t.now);
    t.drain();
    t.send({ seq: R, ack: t.iss + 2, flags: ACK, payload: 'more' });
    expect(t.conn.state).toBe('FIN-WAIT-2');
    expect(t.read()).toBe('more');
    expect(() => t.write('x')).toThrow(expect.objectContaining({ code: 'EPIPE' }));
  });

  it('the FIN follows queued data and is retransmitted with it', () => {
    const t = established();
    t.write('a');
    t.recv({ payload: 'a' });
    t.write('bc'); // held by Nagle
    t.recvNothing();
    t.conn.shutdown(t.now); // the FIN releases the runt and rides on it
    t.recv({ flags: ACK | PSH | FIN, seq: t.iss + 2, payload: 'bc' });
    t.advance(200);
    t.recv({ flags: ACK | PSH | FIN, seq: t.iss + 1, payload: 'abc' });
  });

  it('a FIN lost: retransmitted alone on RTO', () => {
    const t = established();
    t.conn.shutdown(t.now);
    t.recv({ flags: FIN | ACK });
    t.advance(200);
    t.recv({ flags: FIN | ACK, seq: t.iss + 1 });
  });

  it('close() in FIN-WAIT-2 is bounded by finWait2Timeout', () => {
    const t = established({ finWait2Timeout: 5000 });
    t.conn.close(t.now);
    t.drain();
    t.send({ seq: R, ack: t.iss + 2, flags: ACK });
    expect(t.conn.state).toBe('FIN-WAIT-2');
    t.advance(4999);
    expect(t.conn.state).toBe('FIN-WAIT-2');
    t.advance(5000);
    expect(t.conn.state).toBe('CLOSED');
  });

  it('close() with unread data sends RST (RFC 1122 §4.2.2.13)', () => {
    const t = established();
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: 'unread' });
    t.conn.close(t.now);
    t.recv({ flags: RST | ACK, seq: t.iss + 1 });
    expect(t.conn.state).toBe('CLOSED');
  });

  it('data arriving after close() draws RST', () => {
    const t = established();
    t.conn.close(t.now);
    t.drain();
    t.send({ seq: R, ack: t.iss + 2, flags: ACK, payload: 'late' });
    t.recv({ flags: RST | ACK });
    expect(t.conn.state).toBe('CLOSED');
  });

  it('abort() sends RST and closes without an error', () => {
    const t = established();
    t.conn.abort(t.now);
    t.recv({ flags: RST | ACK, seq: t.iss + 1, ack: R });
    expect(t.events.log).toEqual(['closed']);
    expect(t.layer.stats().OutRsts).toBe(1);
  });

  it('RST in TIME-WAIT closes (no error: already reported)', () => {
    const t = established();
    t.conn.shutdown(t.now);
    t.drain();
    t.send({ seq: R, ack: t.iss + 2, flags: FIN | ACK });
    t.drain();
    t.send({ seq: R + 1, flags: RST });
    expect(t.conn.state).toBe('CLOSED');
    expect(t.events.log).toEqual(['remote-fin', 'closed']);
  });
});

describe('TIME-WAIT reuse (RFC 9293 §3.10.7.4, RFC 6191)', () => {
  function serverInTimeWait(options = {}) {
    const { t, accepted } = listening(options);
    t.send({ seq: REMOTE_ISS, flags: SYN, options: { mss: 1460 } });
    const sa = t.recv({ flags: SYN | ACK });
    t.send({ seq: R, ack: sa.seq + 1, flags: ACK });
    const c = accepted[0]!;
    c.close(t.now); // server closes first -> ends in TIME-WAIT
    const fin = t.recv({ flags: FIN | ACK });
    t.send({ seq: R, ack: fin.seq + 1, flags: FIN | ACK });
    t.recv({ flags: ACK });
    expect(c.state).toBe('TIME-WAIT');
    return { t, c, oldSndNxt: fin.seq + 1, accepted };
  }

  it('a SYN with a higher sequence number reopens it, with a higher ISS', () => {
    const { t, c, oldSndNxt, accepted } = serverInTimeWait();
    t.send({ seq: R + 100_000, flags: SYN, options: { mss: 1460 } });
    const sa = t.recv({ flags: SYN | ACK, ack: R + 100_001 });
    expect(c.state).toBe('CLOSED');
    expect(((sa.seq - oldSndNxt) | 0) > 0).toBe(true);
    expect(t.layer.stats().TimeWaitReused).toBe(1);
    t.send({ seq: R + 100_001, ack: sa.seq + 1, flags: ACK });
    expect(accepted).toHaveLength(2);
  });

  it('a SYN with an old sequence number is not accepted: challenge ACK', () => {
    const { t, c } = serverInTimeWait();
    t.send({ seq: REMOTE_ISS - 5, flags: SYN });
    t.recv({ flags: ACK, ack: R + 1 });
    expect(c.state).toBe('TIME-WAIT');
  });
});

describe('TIME-WAIT holds no buffer storage (RFC 9293 §3.10.7.4: only the TCB waits)', () => {
  it('gives the send buffer back at once, and the receive buffer once its bytes are read', () => {
    const t = established();
    const sendBuf = (t.conn as unknown as { sendBuf: { allocated: number } }).sendBuf;
    const recvBuf = (t.conn as unknown as { recvBuf: { allocated: number; length: number } }).recvBuf;
    t.write('abc');
    t.drain();
    t.conn.shutdown(t.now);
    t.drain(); // our FIN
    // The peer acknowledges our data and FIN, then sends data and its own FIN.
    t.send({ seq: R, ack: t.iss + 5, flags: ACK | PSH, payload: 'hello' });
    t.send({ seq: R + 5, ack: t.iss + 5, flags: FIN | ACK });
    expect(t.conn.state).toBe('TIME-WAIT');
    expect(sendBuf.allocated).toBe(0);
    expect(recvBuf.length).toBe(5); // unread bytes stay readable in TIME-WAIT
    expect(recvBuf.allocated).toBeGreaterThan(0);
    expect(t.read()).toBe('hello');
    expect(recvBuf.allocated).toBe(0);
    expect(t.conn.state).toBe('TIME-WAIT');
  });
});
