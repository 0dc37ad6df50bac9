/**
 * TIME-WAIT is bounded (Linux's tcp_max_tw_buckets): a peer that opens and closes
 * connections fast, the stack closing first (an HTTP "Connection: close"), leaves each in
 * TIME-WAIT for 2 MSL. Unbounded, they filled the whole table (65 536) against netstack
 * serve in about 15 s from the kernel side, and every new connection, anyone's, was then
 * dropped (TableFull) for a minute. Beyond `maxTimeWait` a connection skips TIME-WAIT:
 * the peer's FIN is still acknowledged, then the TCB is deleted (TimeWaitOverflows).
 */
import { describe, expect, it } from 'vitest';
import { ACK, Ctx, FIN, REMOTE, REMOTE_ISS, REMOTE_PORT, SYN } from './harness.js';
import type { TcpConnection } from '../src/index.js';

/** An active open on `port`, then our close, the peer's ACK+FIN: returns the connection and the segments we sent last. */
function openAndClose(t: Ctx, port: number): TcpConnection {
  const c = t.layer.connect({ remoteAddress: REMOTE, remotePort: REMOTE_PORT, localPort: port }, t.now, t.handler);
  const iss = t.recv({ flags: SYN }).seq;
  t.send({ dstPort: port, seq: REMOTE_ISS, ack: iss + 1, flags: SYN | ACK, options: { mss: 1460 } });
  t.recv({ flags: ACK });
  c.close(t.now);
  t.recv({ flags: FIN | ACK, seq: iss + 1 });
  t.send({ dstPort: port, seq: REMOTE_ISS + 1, ack: iss + 2, flags: FIN | ACK });
  t.recv({ flags: ACK, seq: iss + 2, ack: REMOTE_ISS + 2 }); // the peer's FIN is acknowledged either way
  return c;
}

describe('TIME-WAIT bound (maxTimeWait, Linux tcp_max_tw_buckets)', () => {
  it('beyond maxTimeWait a closing connection is deleted at once, so TIME-WAIT never fills the table', () => {
    const t = new Ctx({ maxConnections: 4, maxTimeWait: 2 });
    const states: string[] = [];
    for (let i = 0; i < 6; i++) states.push(openAndClose(t, 40_000 + i).state);
    expect(states).toEqual(['TIME-WAIT', 'TIME-WAIT', 'CLOSED', 'CLOSED', 'CLOSED', 'CLOSED']);
    expect(t.layer.connectionCount).toBe(2);
    expect(t.layer.stats().TimeWaitOverflows).toBe(4);
    expect(t.layer.stats().dropped.TableFull).toBe(0);
    // 2 MSL later the two TIME-WAIT connections are gone; the next ones wait again.
    t.advance(t.now + 60_000);
    expect(t.layer.connectionCount).toBe(0);
    expect(openAndClose(t, 41_000).state).toBe('TIME-WAIT');
  });
});
