/**
 * Kernel-facing, TAP multicast (issue 13): IGMP and MLD reports of a stack on a TAP device,
 * judged by the Linux bridge's IGMP/MLD snooping in a private namespace (the bridge is also
 * the querier: IGMPv3, then IGMPv2; MLDv2). The bridge's multicast database listing the
 * group on the TAP port is the proof that the real kernel understood the report; its
 * staying there past the membership interval proves the stack answered the queries; its
 * leaving proves the leave; a source-specific join makes an (S, G) entry. The fixture (fixtures/tap-multicast.mjs) does the steps and
 * prints what it saw; the pcap it took opens in tshark with nothing malformed, and tshark's
 * own dissector reads the reports (TTL 1, Router Alert, the group records).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Netns, repoRoot } from './netns.js';

let ns: Netns;
let dir: string;

beforeAll(() => {
  ns = Netns.create('tapmc');
  dir = mkdtempSync(join(tmpdir(), 'netstack-tapmc-'));
});

afterAll(async () => {
  await ns?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

function tshark(file: string, filter: string, fields: string[]): string[] {
  const r = spawnSync('tshark', ['-r', file, '-n', '-o', 'ip.check_checksum:TRUE', '-Y', filter, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], {
    encoding: 'utf8', timeout: 120_000, maxBuffer: 64 << 20,
  });
  if (r.status !== 0) throw new Error(`tshark -Y '${filter}': ${r.stderr || r.error?.message}`);
  return r.stdout.split('\n').filter(Boolean);
}

describe('IGMP and MLD over TAP, judged by a snooping Linux bridge that is also the querier', () => {
  it('join, kept by answers to queries, MLDv2 solicited-node group, leave, IGMPv2 fallback, leave on close', async () => {
    const pcap = join(dir, 'mc.pcap');
    const r = await ns.run(process.execPath, [join(repoRoot, 'test/kernel/fixtures/tap-multicast.mjs'), pcap], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const o = JSON.parse(r.stdout.trim());
    expect(o.error, JSON.stringify(o, null, 1)).toBeUndefined();
    // 1. The bridge learned the group on the TAP port from the stack's unsolicited report.
    expect(o.mdbJoined).toMatch(/dev br0 port tapm0 grp 239\.1\.2\.3 temp/);
    // 2. Over 7.5 s (membership interval 5 s) it stayed: the querier's queries were heard and answered.
    expect(o.queriesHeld).toBeGreaterThanOrEqual(4);
    expect(o.igmpVersionHeld).toBe(0); // an IGMPv3 querier: no fallback
    // 3. MLDv2 for fd07::2's solicited-node group.
    expect(o.mldMs).toBeLessThan(10_000);
    expect(o.mldQueries).toBeGreaterThan(0);
    // A udp6 socket's addMembership / dropMembership, by MLDv2.
    expect(o.join6Ms).toBeLessThan(10_000);
    expect(o.leave6Ms).toBeLessThan(10_000);
    // 4–6. Leaves: dropMembership (v3 and v2) and the socket's close.
    expect(o.leaveMs).toBeLessThan(10_000);
    // Source-specific: the bridge's IGMPv3 snooping made an (S, G) entry from our ALLOW record, and removed it after our BLOCK.
    expect(o.mdbSsm).toMatch(/dev br0 port tapm0 grp 232\.1\.1\.1 src 10\.7\.0\.1 temp/);
    expect(o.ssmLeaveMs).toBeLessThan(10_000);
    expect(o.joinV2Ms).toBeLessThan(10_000);
    expect(o.v2Sent).toBeGreaterThanOrEqual(4); // the join, then answers to the v2 queries over 7.5 s (membership 5 s)
    expect(o.leaveV2Ms).toBeLessThan(10_000);
    expect(o.closeMs).toBeLessThan(10_000);
    expect(o.mdbEnd).not.toMatch(/port tapm0 grp 239\./);
    expect(o.eth.IgmpInInvalid).toBe(0);
    // RFC 3810 §5.1.14: a query from a source that is not link-local is dropped. The bridge
    // sends its first ones from fd07::1 (its link-local address is still tentative then):
    // exactly those are the MLD packets counted invalid. (General queries, to ff02::1: the
    // group-specific ones after a leave go to a group whose MAC the stack no longer accepts.)
    const offLinkQueries = tshark(pcap, 'icmpv6.type == 130 && ipv6.dst == ff02::1 && !(ipv6.src == fe80::/10)', ['ipv6.src']);
    expect(offLinkQueries.length).toBeGreaterThan(0);
    expect(o.eth.MldInInvalid).toBe(offLinkQueries.length);
    expect(o.eth.MldInQueries).toBeGreaterThanOrEqual(tshark(pcap, 'icmpv6.type == 130 && ipv6.dst == ff02::1 && ipv6.src == fe80::/10', ['ipv6.src']).length);

    // The capture, read by tshark's dissectors: nothing malformed, checksums right.
    expect(tshark(pcap, '_ws.malformed || _ws.expert.severity >= "error"', ['frame.number'])).toEqual([]);
    const v3 = tshark(pcap, `igmp.type == 0x22 && eth.src == 02:00:00:00:0e:02`, ['ip.ttl', 'ip.opt.type', 'ip.dst', 'igmp.record_type', 'igmp.maddr', 'igmp.checksum.status']);
    expect(v3.length).toBeGreaterThanOrEqual(4);
    for (const line of v3) {
      const [ttl, opt, dst, , , ck] = line.split('\t');
      expect([ttl, opt, dst, ck]).toEqual(['1', '148', '224.0.0.22', '1']); // checksum status 1: good
    }
    // A join (CHANGE_TO_EXCLUDE_MODE = 4), an answer (MODE_IS_EXCLUDE = 2) and a leave (CHANGE_TO_INCLUDE_MODE = 3) of 239.1.2.3.
    const kinds = new Set(v3.filter((l) => l.includes('239.1.2.3')).map((l) => l.split('\t')[3]));
    expect([...kinds].sort()).toEqual(['2', '3', '4']);
    // The source-specific records: ALLOW_NEW_SOURCES (5) of 10.7.0.1 for 232.1.1.1, then for the
    // drop BLOCK_OLD_SOURCES (6) of it, or CHANGE_TO_INCLUDE_MODE (3) {} when the ALLOW was still
    // being retransmitted (the whole state), and MODE_IS_INCLUDE (1) {10.7.0.1} in answers to
    // the queries meanwhile; nothing else.
    const ssm = new Set(tshark(pcap, 'igmp.type == 0x22 && igmp.maddr == 232.1.1.1 && eth.src == 02:00:00:00:0e:02', ['igmp.record_type', 'igmp.saddr']));
    expect(ssm).toContain('5\t10.7.0.1');
    expect(ssm.has('6\t10.7.0.1') || ssm.has('3\t')).toBe(true);
    for (const r of ssm) expect(['1\t10.7.0.1', '5\t10.7.0.1', '6\t10.7.0.1', '3\t']).toContain(r);
    // IGMPv2: a report to the group itself, a Leave to 224.0.0.2.
    expect(tshark(pcap, 'igmp.type == 0x16 && eth.src == 02:00:00:00:0e:02', ['ip.dst']).map((l) => l.trim())).toContain('239.1.2.4');
    expect(tshark(pcap, 'igmp.type == 0x17 && eth.src == 02:00:00:00:0e:02', ['ip.dst', 'igmp.maddr'])).toContain('224.0.0.2\t239.1.2.4');
    // MLDv2 reports: hop limit 1, to ff02::16, a record for ff02::1:ff00:2.
    const mld = tshark(pcap, 'icmpv6.type == 143 && eth.src == 02:00:00:00:0e:02', ['ipv6.hlim', 'ipv6.dst', 'icmpv6.mldr.mar.multicast_address', 'icmpv6.checksum.status']);
    expect(mld.length).toBeGreaterThanOrEqual(2);
    for (const line of mld) expect(line).toMatch(/^1\tff02::16\t.*\t1$/);
    expect(mld.filter((l) => l.includes('ff02::1:ff00:2')).length).toBeGreaterThanOrEqual(2);
    expect(mld.filter((l) => l.includes('ff0e::1:2')).length).toBeGreaterThanOrEqual(2); // join and leave
  }, 150_000);
});
