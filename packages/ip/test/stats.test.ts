import { describe, expect, it } from 'vitest';
import { IPV4_DROP_REASONS, PARSE_DROP_REASON, newIpv4Counters } from '../src/index.js';

describe('counter names: one style (PascalCase, as /proc/net/snmp), drop reasons included', () => {
  it('every drop reason is PascalCase, In/Out/Reasm/Error like the counters beside it', () => {
    const bad = IPV4_DROP_REASONS.filter((r) => !/^(In|Out|Reasm|Error)[A-Z][A-Za-z]*$/.test(r));
    expect(bad).toEqual([]);
    expect(new Set(IPV4_DROP_REASONS).size).toBe(IPV4_DROP_REASONS.length);
  });

  it('every counter is PascalCase too', () => {
    const names = Object.keys(newIpv4Counters()).filter((k) => k !== 'dropped');
    expect(names.filter((k) => !/^[A-Z][A-Za-z]*$/.test(k))).toEqual([]);
  });

  it('a reason named like a counter is all of that counter, never a part (InHdrErrors, InAddrErrors, OutDiscards are split)', () => {
    const counters = new Set(Object.keys(newIpv4Counters()));
    const shared = IPV4_DROP_REASONS.filter((r) => counters.has(r));
    expect(shared.sort()).toEqual(['InUnknownProtos', 'OutNoRoutes', 'ReasmDuplicates']);
  });

  it('each parseIpv4 refusal maps to a drop reason, and none shares one', () => {
    const reasons = Object.values(PARSE_DROP_REASON);
    expect(reasons.every((r) => IPV4_DROP_REASONS.includes(r))).toBe(true);
    expect(new Set(reasons).size).toBe(reasons.length);
    expect(Object.keys(PARSE_DROP_REASON).sort()).toEqual(['bad-checksum', 'bad-ihl', 'bad-source', 'bad-total-length', 'bad-version', 'truncated']);
  });
});
