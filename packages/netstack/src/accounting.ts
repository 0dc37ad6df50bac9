/**
 * Receive accounting: do a stack's counters explain every packet it received?
 *
 *   const { violations, drops, delivered } = checkAccounting(stack.stats());
 *   // violations: [] when every identity holds; else one line per broken identity
 *
 * The identities (each layer's stats file states its own):
 *   IP    InReceives + ReasmOKs = InHdrErrors + InAddrErrors + ReasmReqds + InUnknownProtos + InDelivers
 *         InHdrErrors = dropped[InTruncatedPkts, InBadVersion, InBadHeaderLength, InBadTotalLength, InCsumErrors]
 *         InAddrErrors = dropped[InMartianSrc, InNotForUs];  InUnknownProtos = dropped[InUnknownProtos]
 *         fragments (ReasmReqds), when the reassembler counts its drops in fragments and the
 *         fragments it used (ReasmFragsUsed present):
 *           ReasmReqds = fragments held now + ReasmFragsUsed + dropped[Reasm*]
 *         exact when `reassemblyFragments` (held now) is given, else held >= 0. Without
 *         ReasmFragsUsed (Reasm* per datagram): each fragment is dropped on its own (ReasmDeadFrags,
 *         ReasmBadFrags, ReasmDuplicates), discards its datagram without being kept
 *         (ReasmOverlapFrags, -TooBig-, -Inconsistent-, -NoMemory-: one fragment each), or is kept;
 *         a completed datagram took at least 2 kept fragments and a timed-out one at least 1:
 *           kept = ReasmReqds - those drops >= 2 ReasmOKs + ReasmTimeout
 *   IP6   (with IPv6: `ip6`, `icmp6` present) Ip6InReceives + Ip6ReasmOKs = Ip6InTruncatedPkts + Ip6InHdrErrors
 *           + Ip6InAddrErrors + Ip6ReasmReqds + Ip6InUnknownProtos + Ip6InDelivers
 *   IP -> transports  InDelivers = icmp.InMsgs + udp.InReceives + tcp.InSegs; with IPv6,
 *         InDelivers + ip6.Ip6InDelivers - ip6.dropped.Ip6InNoNextHeader (delivered to a
 *         discard, as Linux counts it) = icmp.InMsgs + icmp6.Icmp6InMsgs + udp.InReceives + tcp.InSegs
 *   ICMP  InMsgs = InErrors + InEchos + InEchoReps + InRedirects + InOther + InErrorsRouted
 *         InErrors = InCsumErrors + InTruncated + InErrorsNotOurs
 *   UDP   InReceives = InDelivers + InCsumErrors + InHdrErrors + NoPorts + IgnoredMulti + RcvbufDrops
 *                  + ForeignDrops + FlowRefused + FlowTableFull + FlowMemoryDrops + FlowRcvbufErrors
 *   TCP   InSegs = InDelivers + InErrs + dropped[Broadcast, NoSocket, ListenRst, ListenAck,
 *                  ListenNoSyn, ListenOverflow, SynQueueFull, TableFull, InterceptSynAbsorbed,
 *                  InterceptFull, InterceptStray]
 *         InErrs = dropped[Truncated, BadDataOffset, BadOption, BadChecksum, BadPort]
 *
 * "Delivered" means a transport (or the ICMP layer) took the packet: a TCP segment handed to
 * a connection, an echo request answered, a datagram queued on a socket. `drops` lists every
 * receive-path drop reason with its count (zeros left out), `delivered` the delivered counts.
 * The input is `Stack.stats()` (flattened: `ip['dropped.InNotForUs']`, `tcp['dropped.NoSocket']`).
 */

export type FlatStats = Record<string, Record<string, number>>;

export interface AccountingReport {
  /** One line per identity that does not hold (empty: every received packet is explained). */
  violations: string[];
  /** Receive-path drops by reason, as `layer.reason` (zeros left out). */
  drops: Record<string, number>;
  /** Packets each layer passed on or consumed. */
  delivered: Record<string, number>;
}

const IP_HDR = ['InTruncatedPkts', 'InBadVersion', 'InBadHeaderLength', 'InBadTotalLength', 'InCsumErrors'];
const IP_ADDR = ['InMartianSrc', 'InNotForUs'];
const REASM_FRAGMENT = ['ReasmDeadFrags', 'ReasmBadFrags', 'ReasmDuplicates'];
const REASM_KILL = ['ReasmOverlapFrags', 'ReasmTooBigFrags', 'ReasmInconsistentFrags', 'ReasmNoMemoryFrags'];
const TCP_PARSE = ['Truncated', 'BadDataOffset', 'BadOption', 'BadChecksum', 'BadPort'];
const TCP_LAYER = [
  'Broadcast', 'NoSocket', 'ListenRst', 'ListenAck', 'ListenNoSyn', 'ListenOverflow', 'SynQueueFull', 'TableFull',
  'InterceptSynAbsorbed', 'InterceptFull', 'InterceptStray',
];
/** UDP receive drops (flows to foreign destinations after the socket ones). */
const UDP_DROPS = ['InCsumErrors', 'InHdrErrors', 'NoPorts', 'IgnoredMulti', 'RcvbufDrops', 'ForeignDrops', 'FlowRefused', 'FlowTableFull', 'FlowMemoryDrops', 'FlowRcvbufErrors'];
/** Segments a connection took and then discarded (or whose data it discarded): a subset of InDelivers. */
const TCP_CONN = ['OutOfWindow', 'NoAck', 'BadAck', 'AckUnsent', 'AckTooOld', 'ReassemblyFull'];

export interface AccountingOptions {
  /** Fragments the reassembler holds now (0 when `ip.reassemblyUsage().datagrams` is 0): makes the fragment identity exact. */
  reassemblyFragments?: number;
}

export function checkAccounting(stats: FlatStats, options: AccountingOptions = {}): AccountingReport {
  const violations: string[] = [];
  const drops: Record<string, number> = {};
  const get = (layer: string, key: string): number => {
    const v = stats[layer]?.[key];
    if (v === undefined) {
      violations.push(`${layer}.${key}: no such counter`);
      return 0;
    }
    return v;
  };
  const sum = (layer: string, keys: readonly string[], prefix = ''): number => keys.reduce((a, k) => a + get(layer, prefix + k), 0);
  const eq = (name: string, left: number, right: number, terms: string): void => {
    if (left !== right) violations.push(`${name}: ${left} != ${right} (${terms})`);
  };
  const drop = (layer: string, keys: readonly string[], prefix = ''): void => {
    for (const k of keys) {
      const v = get(layer, prefix + k);
      if (v !== 0) drops[`${layer}.${k}`] = v;
    }
  };

  // ---- IP
  const ip = (k: string): number => get('ip', k);
  eq('ip receive', ip('InReceives') + ip('ReasmOKs'),
    ip('InHdrErrors') + ip('InAddrErrors') + ip('ReasmReqds') + ip('InUnknownProtos') + ip('InDelivers'),
    'InReceives + ReasmOKs = InHdrErrors + InAddrErrors + ReasmReqds + InUnknownProtos + InDelivers');
  eq('ip InHdrErrors', ip('InHdrErrors'), sum('ip', IP_HDR, 'dropped.'), IP_HDR.join(' + '));
  eq('ip InAddrErrors', ip('InAddrErrors'), sum('ip', IP_ADDR, 'dropped.'), IP_ADDR.join(' + '));
  eq('ip InUnknownProtos', ip('InUnknownProtos'), ip('dropped.InUnknownProtos'), 'dropped.InUnknownProtos');
  const ipStats = stats['ip'] ?? {};
  const reasm = Object.keys(ipStats).filter((k) => k.startsWith('dropped.Reasm')).map((k) => k.slice('dropped.'.length));
  const present = (keys: readonly string[]): string[] => keys.filter((k) => `dropped.${k}` in ipStats);
  if ('ReasmFragsUsed' in ipStats) {
    const held = ip('ReasmReqds') - ip('ReasmFragsUsed') - sum('ip', reasm, 'dropped.');
    const terms = 'ReasmReqds = held + ReasmFragsUsed + dropped[Reasm*]';
    if (options.reassemblyFragments !== undefined) eq('ip fragments held', held, options.reassemblyFragments, terms);
    else if (held < 0) violations.push(`ip fragments: ${held} held (${terms})`);
  } else {
    const kept = ip('ReasmReqds') - sum('ip', present(REASM_FRAGMENT), 'dropped.') - sum('ip', present(REASM_KILL), 'dropped.');
    const minKept = 2 * ip('ReasmOKs') + ip('ReasmTimeout');
    if (kept < minKept) {
      violations.push(`ip fragments: ${kept} kept (ReasmReqds - per-fragment drops) < ${minKept} (2 ReasmOKs + ReasmTimeout)`);
    }
  }
  drop('ip', [...IP_HDR, ...IP_ADDR, 'InUnknownProtos', ...reasm], 'dropped.');

  // ---- IPv6 (a dual stack)
  const has6 = stats['ip6'] !== undefined;
  const ip6 = (k: string): number => get('ip6', k);
  if (has6) {
    eq('ip6 receive', ip6('Ip6InReceives') + ip6('Ip6ReasmOKs'),
      ip6('Ip6InTruncatedPkts') + ip6('Ip6InHdrErrors') + ip6('Ip6InAddrErrors') + ip6('Ip6ReasmReqds') + ip6('Ip6InUnknownProtos') + ip6('Ip6InDelivers'),
      'Ip6InReceives + Ip6ReasmOKs = Ip6InTruncatedPkts + Ip6InHdrErrors + Ip6InAddrErrors + Ip6ReasmReqds + Ip6InUnknownProtos + Ip6InDelivers');
    for (const [k, v] of Object.entries(stats['ip6']!)) if (k.startsWith('dropped.') && v !== 0) drops[`ip6.${k.slice('dropped.'.length)}`] = v;
  }

  // ---- IP -> transports (the stack registers exactly ICMP, UDP and TCP; ICMPv6 with IPv6)
  const icmp = (k: string): number => get('icmp', k);
  const udp = (k: string): number => get('udp', k);
  const tcp = (k: string): number => get('tcp', k);
  if (has6) {
    eq('ip -> transports', ip('InDelivers') + ip6('Ip6InDelivers') - (stats['ip6']!['dropped.Ip6InNoNextHeader'] ?? 0),
      icmp('InMsgs') + get('icmp6', 'Icmp6InMsgs') + udp('InReceives') + tcp('InSegs'),
      'ip.InDelivers + ip6.Ip6InDelivers - ip6.dropped.Ip6InNoNextHeader = icmp.InMsgs + icmp6.Icmp6InMsgs + udp.InReceives + tcp.InSegs');
  } else {
    eq('ip -> transports', ip('InDelivers'), icmp('InMsgs') + udp('InReceives') + tcp('InSegs'),
      'ip.InDelivers = icmp.InMsgs + udp.InReceives + tcp.InSegs');
  }

  // ---- ICMP
  eq('icmp receive', icmp('InMsgs'),
    icmp('InErrors') + icmp('InEchos') + icmp('InEchoReps') + icmp('InRedirects') + icmp('InOther') + icmp('InErrorsRouted'),
    'InMsgs = InErrors + InEchos + InEchoReps + InRedirects + InOther + InErrorsRouted');
  eq('icmp InErrors', icmp('InErrors'), icmp('InCsumErrors') + icmp('InTruncated') + icmp('InErrorsNotOurs'),
    'InErrors = InCsumErrors + InTruncated + InErrorsNotOurs');
  drop('icmp', ['InCsumErrors', 'InTruncated', 'InErrorsNotOurs', 'EchoIgnored', 'EchoForeign', 'EchoReplyUnmatched', 'EchoReplyCorrupt', 'InRedirects', 'InOther']);

  // ---- UDP
  eq('udp receive', udp('InReceives'), udp('InDelivers') + sum('udp', UDP_DROPS, ''), `InReceives = InDelivers + ${UDP_DROPS.join(' + ')}`);
  drop('udp', UDP_DROPS);

  // ---- TCP
  eq('tcp receive', tcp('InSegs'), tcp('InDelivers') + tcp('InErrs') + sum('tcp', TCP_LAYER, 'dropped.'),
    `InSegs = InDelivers + InErrs + ${TCP_LAYER.join(' + ')}`);
  eq('tcp InErrs', tcp('InErrs'), sum('tcp', TCP_PARSE, 'dropped.'), TCP_PARSE.join(' + '));
  drop('tcp', [...TCP_PARSE, ...TCP_LAYER], 'dropped.');

  const delivered: Record<string, number> = {
    'ip.InDelivers': ip('InDelivers'),
    'icmp.InEchos answered': icmp('InEchos') - icmp('EchoIgnored') - icmp('EchoForeign'),
    'icmp.InEchoReps matched': icmp('InEchoReps') - icmp('EchoReplyUnmatched') - icmp('EchoReplyCorrupt'),
    'icmp.InErrorsRouted': icmp('InErrorsRouted'),
    'udp.InDelivers': udp('InDelivers'),
    'tcp.InDelivers': tcp('InDelivers'),
  };
  // Discarded by a connection after delivery (subset of tcp.InDelivers), reported beside the drops.
  for (const k of TCP_CONN) {
    const v = get('tcp', `dropped.${k}`);
    if (v !== 0) drops[`tcp.conn.${k}`] = v;
  }
  return { violations, drops, delivered };
}
