/** Decodes an IPv4/TCP packet into one line, for traces in failure reports. */
export function describePacket(p: Uint8Array): string {
  const ihl = (p[0]! & 15) * 4;
  const proto = p[9]!;
  const total = (p[2]! << 8) | p[3]!;
  const frag = ((p[6]! << 8) | p[7]!);
  const fragText = (frag & 0x3fff) !== 0 ? ` frag off=${(frag & 0x1fff) * 8}${frag & 0x2000 ? '+' : ''}` : '';
  if (proto !== 6 || (frag & 0x1fff) !== 0) return `proto ${proto} len ${total}${fragText}`;
  const t = p.subarray(ihl);
  const u32 = (i: number) => ((t[i]! << 24) | (t[i + 1]! << 16) | (t[i + 2]! << 8) | t[i + 3]!) >>> 0;
  const hl = (t[12]! >>> 4) * 4;
  const f = t[13]!;
  const flags = ['F', 'S', 'R', 'P', '.', 'U'].filter((_, i) => f & (1 << i)).join('');
  let opts = '';
  for (let i = 20; i < hl;) {
    const kind = t[i]!;
    if (kind === 0) break;
    if (kind === 1) { i++; continue; }
    const len = t[i + 1]!;
    if (len < 2) break;
    if (kind === 8 && len === 10) opts += ` ts ${u32(i + 2)}/${u32(i + 6)}`;
    else if (kind === 2) opts += ` mss ${(t[i + 2]! << 8) | t[i + 3]!}`;
    else if (kind === 3) opts += ` ws ${t[i + 2]}`;
    else opts += ` opt${kind}`;
    i += len;
  }
  return `${(t[0]! << 8) | t[1]!}>${(t[2]! << 8) | t[3]!} [${flags}] seq ${u32(4)} ack ${u32(8)} win ${(t[14]! << 8) | t[15]!} len ${total - ihl - hl}${opts}`;
}
