/**
 * The delayed ACK of a "pushed" segment goes when the application has read everything
 * (Linux's ICSK_ACK_PUSHED / ICSK_ACK_PUSHED2, set in tcp_measure_rcv_mss and acted on in
 * tcp_cleanup_rbuf), unless the connection is interactive (pingpong: our reply carries it).
 *
 * Why (bench --impaired (b)/(f)/(a) up, captures of A's relay device): a Linux sender ends
 * each write with PSH; against a Linux receiver a lone PSH segment was ACKed at once in all but
 * 0-35 of ~800 per 4 MiB, against netstack 560-610 of them waited > 1 ms for the next segment
 * (the sender's next paced pair), a quarter of all segments. Virtual time throughout.
 */
import { describe, expect, it } from 'vitest';
import { ACK, PSH } from '../src/index.js';
import { REMOTE_ISS, established } from './harness.js';

const R = REMOTE_ISS + 1;
const big = (n: number, c = 0x61) => new Uint8Array(n).fill(c);

describe('delayed ACK of a pushed segment (Linux tcp_measure_rcv_mss / tcp_cleanup_rbuf)', () => {
  it('a lone full-sized segment with PSH is ACKed when the read empties the buffer, not at 40 ms', () => {
    const t = established();
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: big(1460) });
    t.send({ seq: R + 1460, ack: t.iss + 1, flags: ACK, payload: big(1460) });
    t.recv({ flags: ACK, ack: R + 2920 }); // every second full-sized segment (unchanged)
    t.advance(3);
    t.send({ seq: R + 2920, ack: t.iss + 1, flags: ACK | PSH, payload: big(1460) });
    t.recvNothing(); // not on arrival: the application has not read yet
    expect(t.read().length).toBe(3 * 1460);
    t.recv({ flags: ACK, ack: R + 3 * 1460 }); // at the read, 3 ms: not the timer's 43 ms
    t.advance(50); t.recvNothing();
  });

  it('without PSH a lone full-sized segment still waits for the next one or the timer', () => {
    const t = established();
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: big(1460) });
    expect(t.read().length).toBe(1460);
    t.recvNothing();
    t.advance(39); t.recvNothing();
    t.advance(40); t.recv({ flags: ACK, ack: R + 1460 });
  });

  it('a read that leaves bytes behind does not ACK: the application has not caught up', () => {
    const t = established();
    t.send({ seq: R, ack: t.iss + 1, flags: ACK, payload: big(1460) });
    t.send({ seq: R + 1460, ack: t.iss + 1, flags: ACK, payload: big(1460) });
    t.recv({ flags: ACK, ack: R + 2920 });
    t.send({ seq: R + 2920, ack: t.iss + 1, flags: ACK | PSH, payload: big(1460) });
    expect(t.read(3000).length).toBe(3000);
    t.recvNothing();
    expect(t.read().length).toBe(1380);
    t.recv({ flags: ACK, ack: R + 3 * 1460 });
  });

  it('a small segment read at once is ACKed at the read (no 40 ms stall of a Nagle sender)', () => {
    const t = established();
    t.send({ seq: R, ack: t.iss + 1, flags: ACK | PSH, payload: 'abc' });
    expect(t.read()).toBe('abc');
    t.recvNothing(); // the connection's first data: a reply would carry the ACK (see below)
    t.advance(40); t.recv({ flags: ACK, ack: R + 3 }); // none came: the timer
    t.advance(100);
    t.send({ seq: R + 3, ack: t.iss + 1, flags: ACK | PSH, payload: 'def' });
    t.recvNothing();
    expect(t.read()).toBe('def');
    t.recv({ flags: ACK, ack: R + 6 }); // at the read, not at 140 ms
  });

  it("a new connection's first request is not ACKed at the read: the reply carries the ACK", () => {
    const t = established();
    t.send({ seq: R, ack: t.iss + 1, flags: ACK | PSH, payload: 'GET /' });
    expect(t.read()).toBe('GET /');
    t.recvNothing();
    t.write('200');
    t.recv({ flags: ACK | PSH, ack: R + 5, payload: '200' });
  });

  it('interactive (we replied within the delayed-ACK interval): the reply carries the ACK, no extra ACK at the read', () => {
    const t = established();
    t.send({ seq: R, ack: t.iss + 1, flags: ACK | PSH, payload: 'q1' });
    t.write('a1'); // a reply within 40 ms of the request: pingpong (Linux tcp_event_data_sent)
    t.recv({ flags: ACK | PSH, ack: R + 2, payload: 'a1' });
    expect(t.read()).toBe('q1');
    t.recvNothing();
    t.advance(5);
    t.send({ seq: R + 2, ack: t.iss + 3, flags: ACK | PSH, payload: 'q2' });
    expect(t.read()).toBe('q2');
    t.recvNothing(); // interactive: waits for the reply
    t.write('a2');
    t.recv({ flags: ACK | PSH, ack: R + 4, payload: 'a2' });
    // Two small segments ("pushed twice", ICSK_ACK_PUSHED2) are ACKed at the read even so.
    t.advance(10);
    t.send({ seq: R + 4, ack: t.iss + 5, flags: ACK | PSH, payload: 'x' });
    t.send({ seq: R + 5, ack: t.iss + 5, flags: ACK | PSH, payload: 'y' });
    expect(t.read()).toBe('xy');
    t.recv({ flags: ACK, ack: R + 6 });
  });

  it('the delayed-ACK timer ends interactive mode (Linux tcp_delack_timer_handler)', () => {
    const t = established();
    t.send({ seq: R, ack: t.iss + 1, flags: ACK | PSH, payload: 'q1' });
    t.write('a1');
    t.recv({ flags: ACK | PSH, ack: R + 2, payload: 'a1' });
    expect(t.read()).toBe('q1');
    t.advance(5);
    t.send({ seq: R + 2, ack: t.iss + 3, flags: ACK | PSH, payload: 'q2' });
    expect(t.read()).toBe('q2');
    t.recvNothing(); // interactive: no reply comes ...
    t.advance(45); t.recv({ flags: ACK, ack: R + 4 }); // ... the timer ACKs and ends the mode
    t.advance(100);
    t.send({ seq: R + 4, ack: t.iss + 3, flags: ACK | PSH, payload: 'q3' });
    expect(t.read()).toBe('q3');
    t.recv({ flags: ACK, ack: R + 6 }); // bulk again: ACKed at the read
  });
});
