// Issue 15's scenarios (a)-(g): the impairment of the data direction and of the ACK
// direction, as shaper specs without seed (packages/tun/src/impair.ts). One list for the
// benchmarks that use them: bench/impaired.mjs puts them on a real path through
// `netstack relay`; bench/sim.mjs puts them on the deterministic simulator (the same
// shaper on a virtual clock). Each adds seed=S to the data direction and seed=S+1 to the
// ACKs. BDPs at MTU 1500: (c) 100 Mbit/s x 50 ms = 625 000 bytes, (g) 20 Mbit/s x 20 ms
// = 50 000 bytes (x 4).
export const SCENARIOS = {
  a: { what: '5 ms, 3 % loss, 25 % reorder, 1 % dup (both ways)', data: 'loss=3%,dup=1%,reorder=25%,delay=5ms', ack: 'loss=3%,dup=1%,reorder=25%,delay=5ms' },
  b: { what: '20 ms RTT, 1 % loss (both ways)', data: 'loss=1%,delay=10ms', ack: 'loss=1%,delay=10ms' },
  c: { what: '50 ms RTT, 0.1 % loss, 100 Mbit/s, 1-BDP queue', data: 'loss=0.1%,delay=25ms,rate=100mbit,queuebytes=625000', ack: 'loss=0.1%,delay=25ms' },
  d: { what: 'reordering only: 25 %, 5 ms (both ways)', data: 'reorder=25%,delay=5ms', ack: 'reorder=25%,delay=5ms' },
  e: { what: 'ACK path only: (a) on the ACKs, data clean', data: 'delay=5ms', ack: 'loss=3%,dup=1%,reorder=25%,delay=5ms' },
  f: { what: 'bursty loss: gel=0.5%/30% (bad mean 3.3 packets), 5 ms (both ways)', data: 'gel=0.5%/30%,delay=5ms', ack: 'gel=0.5%/30%,delay=5ms' },
  g: { what: 'bufferbloat: 20 Mbit/s, 20 ms RTT, 4-BDP queue (200 000 B)', data: 'delay=10ms,rate=20mbit,queuebytes=200000', ack: 'delay=10ms' },
};
