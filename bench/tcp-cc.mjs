// setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name) for a node:net socket, through koffi
// (@netstack/tun's dependency, no new one): `pnpm bench --impaired`'s Linux endpoints use
// it to run one congestion control per socket. Why per socket: a network namespace other
// than the machine's may only default to an algorithm in the machine's
// net.ipv4.tcp_allowed_congestion_control (EPERM otherwise; on this machine reno and bbr),
// and the bench never changes the machine's own settings; with CAP_NET_ADMIN a socket may
// take any loaded algorithm (tcp(7): TCP_CONGESTION).
import { createRequire } from 'node:module';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const IPPROTO_TCP = 6;
const TCP_CONGESTION = 13; // <netinet/tcp.h>
let setsockopt;
let errnoOf;
function bind() {
  const require = createRequire(resolve(dirname(fileURLToPath(import.meta.url)), '../packages/tun/package.json'));
  const koffi = require('koffi');
  const libc = koffi.load('libc.so.6');
  setsockopt = libc.func('int setsockopt(int fd, int level, int name, const char *value, uint32_t len)');
  errnoOf = koffi.errno;
}
/** Sets `name` (e.g. 'cubic') on the socket's fd; throws with the errno on failure. */
export function setCongestion(socket, name) {
  if (!setsockopt) bind();
  const fd = socket._handle?.fd;
  if (!(fd >= 0)) throw new Error('TCP_CONGESTION: the socket has no fd');
  const v = Buffer.from(name);
  if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, v, v.length) !== 0) throw new Error(`setsockopt(TCP_CONGESTION, ${name}): errno ${errnoOf()}`);
}
