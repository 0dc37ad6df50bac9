/**
 * The host side of multicast listener reporting as one pure state machine, shared by IGMP
 * (IPv4: RFC 1112 v1, RFC 2236 v2, RFC 3376 v3) and MLD (IPv6: RFC 2710 MLDv1, which is
 * IGMPv2 in ICMPv6 clothes, and RFC 3810 MLDv2, which is IGMPv3's): the groups this
 * interface listens to, the reports they call for, and the timers. `now` is an argument;
 * `pollAt()` / `poll(now)`; what it wants sent goes to `send(message, now)`, encoded by
 * igmp.ts or mld.ts. G is the group's key (an IPv4 number, or a 16-character IPv6 string).
 *
 * - Versions 1, 2, 3 (IGMPv1/v2/v3; MLD uses 2 for MLDv1 and 3 for MLDv2). The host runs
 *   in the highest version unless an older querier was heard within the Older Version
 *   Querier Present Timeout (RFC 3376 §7.2.1, RFC 3810 §8.2.1); changing down cancels
 *   every pending response and retransmission.
 * - Joining (the first reference): v3 sends a State-Change Report (CHANGE_TO_EXCLUDE_MODE
 *   with no sources: "any source", RFC 3376 §5.1) at once (on the poll at the same `now`,
 *   so changes made together share one report) and [Robustness Variable] − 1
 *   more times at random in (0, Unsolicited Report Interval = 1 s); v1/v2 send a report at
 *   once and repeat it robustness − 1 times at random in (0, 10 s) (RFC 2236 §3).
 * - Leaving (the last reference): v3, CHANGE_TO_INCLUDE_MODE with no sources, as often;
 *   v2, a Leave Group to all-routers when we were the last to report (RFC 2236 §3); v1,
 *   nothing. A rejoin during the retransmissions turns them back into a join.
 * - Queries (RFC 3376 §5.2): a general query in v3 arms the interface timer (one report
 *   of every group's MODE_IS_EXCLUDE record); a group-specific query arms the group's
 *   timer (MODE_IS_EXCLUDE), a group-and-source-specific one a MODE_IS_INCLUDE of the
 *   queried sources (none excluded); each at random in (0, Max Resp Time), never later
 *   than a pending earlier one. In v1/v2 every group concerned arms its own timer; another
 *   host's report for the group cancels ours (v1/v2 suppression; v3 has none).
 * - A v3 query's QRV and QQIC are adopted as the Robustness Variable and Query Interval.
 * - Groups that are never reported (224.0.0.1, ff02::1, scopes 0 and 1) are the caller's
 *   to leave out (`reportable` in the constructor).
 * - Bounded: at most `maxGroups` groups (a join past it is refused and counted).
 */

export type McastVersion = 1 | 2 | 3;

/** RFC 3376 §4.2.12 / RFC 3810 §5.2.12 record types. */
export const MODE_IS_INCLUDE = 1;
export const MODE_IS_EXCLUDE = 2;
export const CHANGE_TO_INCLUDE_MODE = 3;
export const CHANGE_TO_EXCLUDE_MODE = 4;
export const ALLOW_NEW_SOURCES = 5;
export const BLOCK_OLD_SOURCES = 6;

/** A group's reception state on the interface (RFC 3376 §3.2): INCLUDE {} is "not a member". */
export interface GroupFilter<G> {
  mode: 'include' | 'exclude';
  sources: readonly G[];
}

export interface GroupRecord<G> {
  type: number;
  group: G;
  sources: readonly G[];
}

/** What the machine asks to send: a v1/v2 report of one group, a v2 leave, or a v3 report. */
export type McastMessage<G> =
  | { kind: 'report'; version: 1 | 2; group: G }
  | { kind: 'leave'; group: G }
  | { kind: 'v3'; records: GroupRecord<G>[] };

/** A query as the wire said it (igmp.ts / mld.ts decode the Max Resp Code and QQIC). */
export interface McastQuery<G> {
  version: McastVersion;
  /** Undefined: a general query. */
  group: G | undefined;
  maxRespMs: number;
  /** v3: a group-and-source-specific query's sources. */
  sources: readonly G[];
  /** v3: the querier's robustness variable (0: none said). */
  qrv: number;
  /** v3: the querier's query interval in ms (0: none said). */
  qqiMs: number;
}

export interface McastParams {
  /** RFC 3376 §8.1 / RFC 3810 §9.1: 2. */
  robustness: number;
  /** §8.2 Query Interval: 125 s. */
  queryIntervalMs: number;
  /** §8.3 Query Response Interval: 10 s. */
  queryResponseIntervalMs: number;
  /** §8.11 Unsolicited Report Interval of v3: 1 s. */
  unsolicitedV3Ms: number;
  /** RFC 2236 §8.10 Unsolicited Report Interval of v1/v2: 10 s. */
  unsolicitedV2Ms: number;
  /** The highest version spoken (3; 2 forces IGMPv2 / MLDv1 as Linux's force_igmp_version). */
  maxVersion: McastVersion;
  /** The most groups tracked. */
  maxGroups: number;
}

export const DEFAULT_MCAST_PARAMS: McastParams = {
  robustness: 2, queryIntervalMs: 125_000, queryResponseIntervalMs: 10_000, unsolicitedV3Ms: 1000, unsolicitedV2Ms: 10_000,
  maxVersion: 3, maxGroups: 1024,
};

export interface McastStats {
  Groups: number;
  Joins: number;
  Leaves: number;
  /** Joins refused: maxGroups reached. */
  GroupsFull: number;
  QueriesGeneral: number;
  QueriesGroup: number;
  QueriesGroupSource: number;
  /** Queries from an older-version querier (switching the host down). */
  OlderQuerier: number;
  /** Our pending v1/v2 report cancelled by another host's (suppression). */
  Suppressed: number;
  MessagesSent: number;
}

interface Group<G> {
  /** Any-source joins (`join`): while > 0 the state is EXCLUDE {}. */
  refs: number;
  /** The state set by `setFilter` (the sockets' merged filters), INCLUDE {} by default. */
  filter: GroupFilter<G>;
  /** v1/v2: we sent the last report heard for the group (RFC 2236 §3 "flag"). */
  lastReporter: boolean;
  /** The group's response (or, v1/v2, unsolicited repeat) timer. */
  timer: number;
  /** v3 group-and-source-specific pending sources; undefined: a group-specific response. */
  pendingSources: G[] | undefined;
  /** v1/v2: unsolicited repeats still to send. */
  repeats: number;
  /** v3: a state change's records, still to be (re)transmitted `left` times. */
  change: { records: GroupRecord<G>[]; left: number } | undefined;
}

const EMPTY: GroupFilter<never> = { mode: 'include', sources: [] };

function isMember<G>(f: GroupFilter<G>): boolean {
  return f.mode === 'exclude' || f.sources.length > 0;
}

function sameFilter<G>(a: GroupFilter<G>, b: GroupFilter<G>): boolean {
  return a.mode === b.mode && a.sources.length === b.sources.length && a.sources.every((x) => b.sources.includes(x));
}

const minus = <G>(a: readonly G[], b: readonly G[]): G[] => a.filter((x) => !b.includes(x));

export class GroupMembership<G> {
  readonly #send: (m: McastMessage<G>, now: number) => void;
  readonly #p: McastParams;
  readonly #random: () => number;
  readonly #groups = new Map<G, Group<G>>();
  #robustness: number;
  #queryIntervalMs: number;
  #queryResponseMs: number;
  #v1Until = -Infinity;
  #v2Until = -Infinity;
  /** v3: the general-query response. */
  #ifTimer = Infinity;
  /** v3: the next State-Change Report retransmission. */
  #changeTimer = Infinity;
  readonly #c: McastStats = {
    Groups: 0, Joins: 0, Leaves: 0, GroupsFull: 0, QueriesGeneral: 0, QueriesGroup: 0, QueriesGroupSource: 0, OlderQuerier: 0,
    Suppressed: 0, MessagesSent: 0,
  };

  constructor(send: (m: McastMessage<G>, now: number) => void, params: Partial<McastParams> = {}, random: () => number = Math.random) {
    this.#send = send;
    this.#p = { ...DEFAULT_MCAST_PARAMS, ...params };
    this.#random = random;
    this.#robustness = this.#p.robustness;
    this.#queryIntervalMs = this.#p.queryIntervalMs;
    this.#queryResponseMs = this.#p.queryResponseIntervalMs;
  }

  /** The Host Compatibility Mode at `now` (RFC 3376 §7.2.1). */
  version(now: number): McastVersion {
    if (this.#v1Until > now) return 1;
    if (this.#v2Until > now || this.#p.maxVersion === 2) return Math.min(2, this.#p.maxVersion) as McastVersion;
    return this.#p.maxVersion;
  }

  get robustness(): number {
    return this.#robustness;
  }

  /** The groups joined (not those only retransmitting their leave). */
  groups(): G[] {
    const out: G[] = [];
    for (const [g, s] of this.#groups) if (this.#member(s)) out.push(g);
    return out;
  }

  has(group: G): boolean {
    const s = this.#groups.get(group);
    return s !== undefined && this.#member(s);
  }

  /** The group's reception state: EXCLUDE {} while joined any-source, else the filter set. */
  filter(group: G): GroupFilter<G> {
    const s = this.#groups.get(group);
    return s === undefined ? EMPTY : this.#state(s);
  }

  #state(s: Group<G>): GroupFilter<G> {
    return s.refs > 0 ? { mode: 'exclude', sources: [] } : s.filter;
  }

  #member(s: Group<G>): boolean {
    return s.refs > 0 || isMember(s.filter);
  }

  #get(group: G): Group<G> | undefined {
    let s = this.#groups.get(group);
    if (s !== undefined) return s;
    if (this.#groups.size >= this.#p.maxGroups) {
      this.#c.GroupsFull++;
      return undefined;
    }
    s = { refs: 0, filter: EMPTY, lastReporter: false, timer: Infinity, pendingSources: undefined, repeats: 0, change: undefined };
    this.#groups.set(group, s);
    return s;
  }

  /**
   * Sets the group's source filter (RFC 3376 §3.2, the merge of the sockets' filters:
   * EXCLUDE {} when one is any-source, else INCLUDE of the union of their sources;
   * INCLUDE {} leaves). A change is reported as RFC 3376 §5.1 says (ALLOW / BLOCK within a
   * mode, TO_IN / TO_EX across). False when the table is full.
   */
  setFilter(group: G, filter: GroupFilter<G>, now: number): boolean {
    const s = isMember(filter) ? this.#get(group) : this.#groups.get(group);
    if (s === undefined) return !isMember(filter);
    const before = this.#state(s);
    s.filter = { mode: filter.mode, sources: [...new Set(filter.sources)] };
    this.#changed(group, s, before, now);
    return true;
  }

  /** One more any-source reference to `group`; the first sends the join. False when the table is full. */
  join(group: G, now: number): boolean {
    const s = this.#get(group);
    if (s === undefined) return false;
    const before = this.#state(s);
    s.refs++;
    this.#changed(group, s, before, now);
    return true;
  }

  /** One any-source reference less; the last sends the leave (or the change to the filter left). False when not joined. */
  leave(group: G, now: number): boolean {
    const s = this.#groups.get(group);
    if (s === undefined || s.refs === 0) return false;
    const before = this.#state(s);
    s.refs--;
    this.#changed(group, s, before, now);
    return true;
  }

  /** The group's state went from `before` to its current one: report it. */
  #changed(group: G, s: Group<G>, before: GroupFilter<G>, now: number): void {
    const after = this.#state(s);
    if (sameFilter(before, after)) {
      if (!this.#member(s) && s.change === undefined) this.#groups.delete(group);
      return;
    }
    const was = isMember(before);
    const is = isMember(after);
    if (!was && is) this.#c.Joins++;
    if (was && !is) this.#c.Leaves++;
    const v = this.version(now);
    if (v === 3) {
      // RFC 3376 §5.1: sent at once, then robustness − 1 more times. The first goes out on
      // the next poll at `now` (so changes made together, as an interface's addresses, share
      // one report: Linux's igmp_ifc_event timer). A change while an earlier one is still
      // being retransmitted is sent as the whole new state (TO_IN / TO_EX), which covers both.
      const whole: GroupRecord<G> = { type: after.mode === 'include' ? CHANGE_TO_INCLUDE_MODE : CHANGE_TO_EXCLUDE_MODE, group, sources: after.sources };
      let records: GroupRecord<G>[];
      if (s.change !== undefined || before.mode !== after.mode) records = [whole];
      else {
        const [allow, block] = after.mode === 'include'
          ? [minus(after.sources, before.sources), minus(before.sources, after.sources)]
          : [minus(before.sources, after.sources), minus(after.sources, before.sources)];
        records = [];
        if (allow.length > 0) records.push({ type: ALLOW_NEW_SOURCES, group, sources: allow });
        if (block.length > 0) records.push({ type: BLOCK_OLD_SOURCES, group, sources: block });
      }
      s.timer = Infinity;
      s.pendingSources = undefined;
      s.change = { records, left: this.#robustness };
      this.#changeTimer = now;
      return;
    }
    // v1/v2 carry no sources: a report when the host becomes a member, a leave when it stops.
    s.change = undefined;
    if (!was && is) {
      s.timer = Infinity;
      s.repeats = this.#robustness - 1;
      this.#reportV12(group, s, v, now);
    } else if (was && !is) {
      // RFC 2236 §3: a Leave Group when we were the last host to report (never in v1).
      if (v === 2 && s.lastReporter) this.#emit({ kind: 'leave', group }, now);
      this.#groups.delete(group);
    }
  }

  /** A v1/v2 report of `group`, and its next unsolicited repeat if any is left. */
  #reportV12(group: G, s: Group<G>, v: McastVersion, now: number): void {
    s.lastReporter = true;
    this.#emit({ kind: 'report', version: v === 1 ? 1 : 2, group }, now);
    if (s.repeats > 0) {
      s.repeats--;
      s.timer = now + this.#delay(this.#p.unsolicitedV2Ms);
    } else s.timer = Infinity;
  }

  /** v3: one report of every pending state change; leaves that are done are forgotten. */
  #sendChanges(now: number): void {
    const records: GroupRecord<G>[] = [];
    let more = false;
    for (const [group, s] of this.#groups) {
      if (s.change === undefined || s.change.left <= 0) continue;
      records.push(...s.change.records);
      s.change.left--;
      if (s.change.left > 0) more = true;
      else {
        s.change = undefined;
        if (!this.#member(s)) this.#groups.delete(group);
      }
    }
    if (records.length > 0) this.#emit({ kind: 'v3', records }, now);
    this.#changeTimer = more ? now + this.#delay(this.#p.unsolicitedV3Ms) : Infinity;
  }

  /** A query from the link (already validated by the codec). */
  query(q: McastQuery<G>, now: number): void {
    if (q.group === undefined) this.#c.QueriesGeneral++;
    else if (q.sources.length > 0) this.#c.QueriesGroupSource++;
    else this.#c.QueriesGroup++;
    const before = this.version(now);
    if (q.version < 3) {
      // RFC 3376 §7.2.1: Older Version Querier Present Timeout = robustness × QI + QRI.
      const until = now + this.#robustness * this.#queryIntervalMs + this.#queryResponseMs;
      if (q.version === 1) this.#v1Until = until;
      else this.#v2Until = until;
      this.#c.OlderQuerier++;
    } else {
      if (q.qrv > 0) this.#robustness = q.qrv;
      if (q.qqiMs > 0) this.#queryIntervalMs = q.qqiMs;
    }
    if (q.maxRespMs > 0) this.#queryResponseMs = q.maxRespMs;
    const v = this.version(now);
    if (v < before) this.#cancelAll();
    // RFC 1112 / RFC 2236 §4: v1 queries say no time: 10 s (100 tenths). A v2/v3 Max Resp
    // Time of 0 means at once (Linux: one jiffy).
    const maxResp = q.version === 1 ? 10_000 : Math.max(1, q.maxRespMs);
    const at = now + this.#delay(maxResp);
    if (v < 3) {
      // RFC 2236 §3: each group concerned starts its timer, or keeps an earlier one.
      for (const [group, s] of this.#groups) {
        if (!this.#member(s) || (q.group !== undefined && q.group !== group)) continue;
        if (at < s.timer) s.timer = at;
        s.repeats = 0;
      }
      return;
    }
    // RFC 3376 §5.2, the four rules.
    if (this.#ifTimer <= at) return; // 1
    if (q.group === undefined) { // 2
      this.#ifTimer = at;
      return;
    }
    const s = this.#groups.get(q.group);
    if (s === undefined || !this.#member(s)) return;
    if (s.timer === Infinity) { // 3
      s.timer = at;
      s.pendingSources = q.sources.length > 0 ? [...q.sources] : undefined;
      return;
    }
    // 4: the earlier time; a group-specific query (or a pending one) wins over sources.
    s.timer = Math.min(s.timer, at);
    if (q.sources.length === 0 || s.pendingSources === undefined) s.pendingSources = undefined;
    else for (const x of q.sources) if (!s.pendingSources.includes(x) && s.pendingSources.length < 1024) s.pendingSources.push(x);
  }

  /** Another host's v1/v2 report of `group` (RFC 2236 §3: ours is then not needed). */
  heard(group: G, now: number): void {
    const s = this.#groups.get(group);
    if (s === undefined || !this.#member(s) || this.version(now) === 3) return;
    if (s.timer !== Infinity) this.#c.Suppressed++;
    s.timer = Infinity;
    s.repeats = 0;
    s.lastReporter = false;
  }

  #cancelAll(): void {
    this.#ifTimer = Infinity;
    this.#changeTimer = Infinity;
    for (const [group, s] of this.#groups) {
      s.timer = Infinity;
      s.pendingSources = undefined;
      s.repeats = 0;
      s.change = undefined;
      if (!this.#member(s)) this.#groups.delete(group);
    }
  }

  pollAt(): number {
    let at = Math.min(this.#ifTimer, this.#changeTimer);
    for (const s of this.#groups.values()) if (s.timer < at) at = s.timer;
    return at;
  }

  poll(now: number): void {
    const v = this.version(now);
    if (this.#changeTimer <= now) this.#sendChanges(now);
    if (this.#ifTimer <= now) {
      this.#ifTimer = Infinity;
      const records: GroupRecord<G>[] = [];
      for (const [group, s] of this.#groups) if (this.#member(s)) records.push(this.#current(group, s));
      if (records.length > 0 && v === 3) this.#emit({ kind: 'v3', records }, now);
    }
    const records: GroupRecord<G>[] = [];
    for (const [group, s] of this.#groups) {
      if (s.timer > now) continue;
      s.timer = Infinity;
      if (!this.#member(s)) continue;
      if (v < 3) {
        this.#reportV12(group, s, v, now);
        continue;
      }
      const pending = s.pendingSources;
      s.pendingSources = undefined;
      if (pending === undefined) {
        records.push(this.#current(group, s));
        continue;
      }
      // RFC 3376 §5.2, a group-and-source query for B: INCLUDE(A) answers IS_IN(A ∩ B),
      // EXCLUDE(X) answers IS_IN(B − X); nothing when that is empty.
      const f = this.#state(s);
      const asked = f.mode === 'include' ? pending.filter((x) => f.sources.includes(x)) : minus(pending, f.sources);
      if (asked.length > 0) records.push({ type: MODE_IS_INCLUDE, group, sources: asked });
    }
    if (records.length > 0) this.#emit({ kind: 'v3', records }, now);
  }

  /** A Current-State Record (RFC 3376 §4.2.12): IS_IN(A) or IS_EX(X). */
  #current(group: G, s: Group<G>): GroupRecord<G> {
    const f = this.#state(s);
    return { type: f.mode === 'include' ? MODE_IS_INCLUDE : MODE_IS_EXCLUDE, group, sources: f.sources };
  }

  /** Forgets every group and timer, sending nothing (the interface is going away). */
  clear(): void {
    this.#groups.clear();
    this.#ifTimer = Infinity;
    this.#changeTimer = Infinity;
  }

  stats(): McastStats {
    let n = 0;
    for (const s of this.#groups.values()) if (this.#member(s)) n++;
    return { ...this.#c, Groups: n };
  }

  #emit(m: McastMessage<G>, now: number): void {
    this.#c.MessagesSent++;
    this.#send(m, now);
  }

  /** Random in [0, max) ms, at least 1 ms later so a timer never fires in the call that armed it. */
  #delay(max: number): number {
    return Math.max(1, Math.floor(this.#random() * max));
  }
}
