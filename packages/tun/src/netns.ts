/**
 * Creating the device inside another network namespace while the process stays in its own
 * (`TunDevice.open({ netns })`): the namespace slirp4netns and pasta attach to, without
 * moving the process, its event loop or its outbound sockets.
 *
 * Mechanism (setns(2); namespaces(7)): setns(fd, CLONE_NEWNET) "reassociates the calling
 * thread" with the network namespace `fd` refers to (a /proc/PID/ns/net link or a bind
 * mount of one, such as /run/netns/NAME from `ip netns add`). It changes the calling
 * thread only: libuv's threadpool and V8's threads stay where they are. The device code
 * runs synchronously on the main thread between two setns calls:
 *
 *   own = open("/proc/thread-self/ns/net")      the thread's namespace, to come back to
 *   setns(target, CLONE_NEWNET)
 *   open("/dev/net/tun"), TUNSETIFF, ioctls, rtnetlink, /proc/sys/net reads
 *   setns(own, CLONE_NEWNET)                    always (finally); failing here aborts
 *   close(own)
 *
 * Why this is enough:
 * - The device is created in the namespace of whoever opened /dev/net/tun: tun_chr_open()
 *   allocates the tun file's socket in `current->nsproxy->net_ns`, and tun_set_iff()
 *   creates (or finds) the device in that socket's namespace (drivers/net/tun.c). The fd
 *   keeps it there after the thread returns; reads and writes on it need no namespace.
 * - A socket belongs to the namespace it was created in (sock_net(sk), for its whole life),
 *   so the AF_INET ioctl socket and the NETLINK_ROUTE socket opened inside act on the
 *   namespace's interfaces, addresses and routes.
 * - /proc/sys/net resolves against the calling thread's namespace at lookup time, so the
 *   disable_ipv6 sysctls read inside are the target's (readFileSync runs on the calling
 *   thread: libuv's synchronous fs calls never use the threadpool).
 * - Everything in between is synchronous koffi calls (they run on the calling thread; no
 *   `.async`) and synchronous fs reads; no await, no callback, no timer, no threadpool work
 *   can run in the window, and nothing else in the process creates sockets on this thread
 *   meanwhile (JavaScript is single-threaded; the event loop does not turn).
 * - A thread created in the window would inherit the namespace (clone copies the creator's
 *   nsproxy); none is: libuv starts its threadpool on the first asynchronous request, which
 *   cannot be made in the window, V8's platform threads exist from startup, and libc is
 *   loaded through koffi before the window opens.
 *
 * Coming back: if the second setns fails (it cannot, with the fd we opened ourselves and the
 * privileges the first one needed, short of a kernel refusal such as ENOMEM), the main
 * thread would go on in the wrong namespace: every socket Node opens afterwards would live
 * there. That is not survivable: the process writes one clear line to stderr and aborts.
 *
 * Privileges: setns needs CAP_SYS_ADMIN in the caller's user namespace and in the one that
 * owns the target (setns(2), "Network, IPC, time, and UTS namespaces"); creating the device
 * and configuring it need CAP_NET_ADMIN over the target (root, or the owner of a rootless
 * namespace as slirp4netns is).
 */
import { argError, Errno, errnoName, sysError, type CodedError } from './errors.js';
import type { Libc } from './libc.js';
import { O_CLOEXEC } from './ifreq.js';

/** setns(2) nstype: the fd must refer to a network namespace. */
export const CLONE_NEWNET = 0x40000000;
const O_RDONLY = 0;
/** The calling thread's own network namespace (Linux 3.17+; the main thread's is also /proc/self). */
export const THREAD_NETNS = '/proc/thread-self/ns/net';
/** Where `ip netns add NAME` bind-mounts a namespace. */
export const NETNS_RUN_DIR = '/run/netns';

/** `netns` as given: a name under /run/netns, a process id, or a path to a namespace file. */
export type NetnsTarget = string | number;

export interface ResolvedNetns {
  /** The file opened: /run/netns/NAME, /proc/PID/ns/net or the path. */
  path: string;
  kind: 'name' | 'pid' | 'path';
  /** How the user named it, for messages: `"blue"`, `PID 1234`, `/var/run/netns/x`. */
  label: string;
}

/**
 * Validates `netns` before any system call: a positive integer is a process id
 * (/proc/PID/ns/net), a string containing `/` a path, any other string a name made by
 * `ip netns add` (/run/netns/NAME). A string of digits is a name, not a process id (`ip
 * netns` names may be digits); a command line maps a numeric argument to a number itself.
 */
export function resolveNetns(value: unknown): ResolvedNetns {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw argError('ERR_OUT_OF_RANGE', `The "netns" option as a process id must be a positive integer, got ${value}`);
    }
    return { path: `/proc/${value}/ns/net`, kind: 'pid', label: `of process ${value}` };
  }
  if (typeof value !== 'string') {
    throw argError('ERR_INVALID_ARG_TYPE', 'The "netns" option must be a namespace name (ip netns), a process id or a path to a namespace file');
  }
  if (value.length === 0 || value.includes('\0') || value.length > 4096) {
    throw argError('ERR_INVALID_ARG_VALUE', `The "netns" option must be a namespace name, a process id or a path, got ${JSON.stringify(value)}`);
  }
  if (value.includes('/')) return { path: value, kind: 'path', label: value };
  if (value === '.' || value === '..' || value.length > 255) {
    throw argError('ERR_INVALID_ARG_VALUE', `The "netns" option is not a valid namespace name: ${JSON.stringify(value)}`);
  }
  return { path: `${NETNS_RUN_DIR}/${value}`, kind: 'name', label: JSON.stringify(value) };
}

/** Opens the namespace file (O_RDONLY | O_CLOEXEC); throws a coded error saying what is missing. */
export function openNetns(sys: Libc, ns: ResolvedNetns): number {
  const fd = sys.open(ns.path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) return fd;
  throw openNetnsError(sys.errno(), ns);
}

function openNetnsError(errno: number, ns: ResolvedNetns): CodedError {
  if (errno === Errno.ENOENT || errno === Errno.ENOTDIR) {
    const what = ns.kind === 'name'
      ? `network namespace ${ns.label} does not exist (no ${ns.path}; create it with \`ip netns add ${ns.label.slice(1, -1)}\`)`
      : ns.kind === 'pid'
        ? `no process ${ns.label.slice('of process '.length)} (${ns.path} does not exist)`
        : `network namespace file ${ns.path} does not exist`;
    return sysError(errno, 'open', what);
  }
  if (errno === Errno.EACCES || errno === Errno.EPERM) {
    return sysError(errno, 'open', `cannot open the network namespace ${ns.label} (${ns.path}): permission denied; entering another namespace needs CAP_SYS_ADMIN over it (root, or the owner of its user namespace)`);
  }
  return sysError(errno, 'open', `cannot open the network namespace ${ns.label} (${ns.path})`);
}

/**
 * Runs `fn` with the calling thread in the network namespace `nsFd` refers to, and puts the
 * thread back in its own namespace afterwards, whatever `fn` did (returned or threw).
 * `fn` must be synchronous: a returned promise is refused (after coming back) as a bug,
 * because its continuation would run in the process's own namespace anyway.
 * If it cannot come back, `sys.abort` ends the process (libc.ts).
 * Throws EINVAL when `nsFd` is not a network namespace, EPERM without the capability.
 */
export function inNetns<T>(sys: Libc, nsFd: number, ns: ResolvedNetns, fn: () => T): T {
  const own = sys.open(THREAD_NETNS, O_RDONLY | O_CLOEXEC);
  if (own < 0) {
    throw sysError(sys.errno(), 'open', `cannot open ${THREAD_NETNS} (the thread's own network namespace, to come back to): is /proc mounted?`);
  }
  try {
    if (sys.setns(nsFd, CLONE_NEWNET) < 0) throw setnsError(sys.errno(), ns);
    let result: T;
    try {
      result = fn();
    } finally {
      // No await, no callback between the two setns calls (see the file comment).
      if (sys.setns(own, CLONE_NEWNET) < 0) {
        const errno = sys.errno();
        sys.abort(`@netstack/tun: FATAL: cannot return to the process's own network namespace after configuring a device in ${ns.label} (setns: ${errnoName(errno)}); aborting rather than running in the wrong namespace`);
      }
    }
    if (typeof (result as { then?: unknown } | null)?.then === 'function') {
      throw new TypeError('inNetns: the function must be synchronous (setns moves only the calling thread, and only until it returns)');
    }
    return result;
  } finally {
    sys.close(own);
  }
}

function setnsError(errno: number, ns: ResolvedNetns): CodedError {
  switch (errno) {
    case Errno.EINVAL:
      return sysError(errno, 'setns', `${ns.path} is not a network namespace (${ns.label})`);
    case Errno.EPERM:
      // A rootless namespace's owner has the capability only inside its user namespace, and
      // a multithreaded process (Node is one) cannot join a user namespace (setns(2)): it
      // must be started inside it.
      return sysError(errno, 'setns', `cannot enter the network namespace ${ns.label}: it needs CAP_SYS_ADMIN in the process's own user namespace and in the one owning the namespace (run as root; for a rootless namespace, start the process inside its user namespace, e.g. \`nsenter --user --preserve-credentials -t PID\`)`);
    default:
      return sysError(errno, 'setns', `cannot enter the network namespace ${ns.label}`);
  }
}
