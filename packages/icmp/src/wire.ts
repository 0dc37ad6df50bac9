/**
 * ICMPv4 on the wire (RFC 792), in two levels:
 *
 * - `IcmpPacket`: a thin view over the bytes of one ICMP message, with named field
 *   offsets. `IcmpPacket.checked(bytes)` makes the one length check (8 bytes, the
 *   fixed header); after it no accessor can read out of bounds.
 * - `IcmpRepr`: a small validated record of the messages this stack understands
 *   (echo request/reply, destination unreachable, source quench, time exceeded,
 *   parameter problem), with `parseIcmp`, `emitIcmp` and `icmpBufferLen`.
 *
 * The checksum covers the whole ICMP message (RFC 792, "Checksum"). Parsing never
 * throws: it returns a reason string that the layer counts. `Uint8Array`s in a
 * parsed record are views into the packet, valid as long as its bytes are.
 *
 * Reserved ("unused") fields are ignored on receive (RFC 1122 §1.2.2 robustness)
 * and written as zero on emit.
 */
import { checksum, readAddress, sum16 } from '@netstack/ip';
import { ICMP_HEADER_LEN, IcmpHeaderView } from './header.js';

/** ICMP message types (RFC 792). */
export const IcmpType = {
  EchoReply: 0,
  DestinationUnreachable: 3,
  SourceQuench: 4,
  Redirect: 5,
  EchoRequest: 8,
  TimeExceeded: 11,
  ParameterProblem: 12,
} as const;

/** Destination unreachable codes (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1). */
export const UnreachableCode = {
  Net: 0,
  Host: 1,
  Protocol: 2,
  Port: 3,
  FragmentationNeeded: 4,
  SourceRouteFailed: 5,
  NetUnknown: 6,
  HostUnknown: 7,
  HostIsolated: 8,
  NetProhibited: 9,
  HostProhibited: 10,
  NetTos: 11,
  HostTos: 12,
  AdminProhibited: 13,
  HostPrecedenceViolation: 14,
  PrecedenceCutoff: 15,
} as const;

/** Types that are ICMP error messages (RFC 1122 §3.2.2: never answered with an error). */
export function isIcmpErrorType(type: number): boolean {
  return type === 3 || type === 4 || type === 5 || type === 11 || type === 12;
}

export { ICMP_HEADER_LEN };

const POINTER = 4; // parameter problem
const NEXT_HOP_MTU = 6; // destination unreachable, code 4 (RFC 1191 §4)

/** A view over one ICMP message (the shared header in header.ts). Valid while `bytes` is. */
export class IcmpPacket extends IcmpHeaderView {
  /** The one length check: undefined when shorter than the fixed header. */
  static checked(bytes: Uint8Array): IcmpPacket | undefined {
    return bytes.length >= ICMP_HEADER_LEN ? new IcmpPacket(bytes) : undefined;
  }

  /** Parameter problem (RFC 792): the octet where the error was found (8 bits). */
  get pointer(): number { return this.bytes[POINTER]!; }
  set pointer(v: number) { this.bytes[POINTER] = v; }
  get nextHopMtu(): number { return this.view.getUint16(NEXT_HOP_MTU); }
  set nextHopMtu(v: number) { this.view.setUint16(NEXT_HOP_MTU, v); }

  /** The sum over the whole message, checksum included, is 0xffff when intact. */
  verifyChecksum(): boolean { return sum16(this.bytes) === 0xffff; }
  fillChecksum(): void {
    this.checksum = 0;
    this.checksum = checksum(this.bytes);
  }
}

export type IcmpRepr =
  | { kind: 'echoRequest'; ident: number; seqNo: number; data: Uint8Array }
  | { kind: 'echoReply'; ident: number; seqNo: number; data: Uint8Array }
  /** `quoted`: the IP header and leading payload bytes of the datagram in error. */
  | { kind: 'destinationUnreachable'; code: number; nextHopMtu: number; quoted: Uint8Array }
  | { kind: 'sourceQuench'; code: number; quoted: Uint8Array }
  | { kind: 'timeExceeded'; code: number; quoted: Uint8Array }
  | { kind: 'parameterProblem'; code: number; pointer: number; quoted: Uint8Array };

/** Why a received message was not turned into a record. */
export type IcmpParseError = 'truncated' | 'checksum' | 'unsupported';

/**
 * Parses a checked packet. Echo codes other than 0 are accepted (RFC 1122 §1.2.2);
 * `nextHopMtu` is read for every destination unreachable (it is 0 unless code 4).
 */
export function parseIcmp(packet: IcmpPacket, options?: { verifyChecksum?: boolean }): IcmpRepr | IcmpParseError {
  if (packet.bytes.length < ICMP_HEADER_LEN) return 'truncated';
  if (options?.verifyChecksum !== false && !packet.verifyChecksum()) return 'checksum';
  const code = packet.msgCode;
  switch (packet.msgType) {
    case IcmpType.EchoRequest:
      return { kind: 'echoRequest', ident: packet.echoIdent, seqNo: packet.echoSeqNo, data: packet.data };
    case IcmpType.EchoReply:
      return { kind: 'echoReply', ident: packet.echoIdent, seqNo: packet.echoSeqNo, data: packet.data };
    case IcmpType.DestinationUnreachable:
      return { kind: 'destinationUnreachable', code, nextHopMtu: packet.nextHopMtu, quoted: packet.data };
    case IcmpType.SourceQuench:
      return { kind: 'sourceQuench', code, quoted: packet.data };
    case IcmpType.TimeExceeded:
      return { kind: 'timeExceeded', code, quoted: packet.data };
    case IcmpType.ParameterProblem:
      return { kind: 'parameterProblem', code, pointer: packet.pointer, quoted: packet.data };
    default:
      return 'unsupported';
  }
}

export function icmpBufferLen(repr: IcmpRepr): number {
  switch (repr.kind) {
    case 'echoRequest':
    case 'echoReply':
      return ICMP_HEADER_LEN + repr.data.length;
    default:
      return ICMP_HEADER_LEN + repr.quoted.length;
  }
}

/** Writes `repr` front to back into `packet` (at least `icmpBufferLen(repr)` bytes) and fills the checksum. */
export function emitIcmp(repr: IcmpRepr, packet: IcmpPacket): void {
  const len = icmpBufferLen(repr);
  const bytes = packet.bytes.subarray(0, len);
  const p = bytes.length === packet.bytes.length ? packet : new IcmpPacket(bytes);
  p.rest = 0;
  switch (repr.kind) {
    case 'echoRequest':
    case 'echoReply':
      p.msgType = repr.kind === 'echoRequest' ? IcmpType.EchoRequest : IcmpType.EchoReply;
      p.msgCode = 0;
      p.echoIdent = repr.ident;
      p.echoSeqNo = repr.seqNo;
      bytes.set(repr.data, ICMP_HEADER_LEN);
      break;
    case 'destinationUnreachable':
      p.msgType = IcmpType.DestinationUnreachable;
      p.msgCode = repr.code;
      p.nextHopMtu = repr.nextHopMtu;
      bytes.set(repr.quoted, ICMP_HEADER_LEN);
      break;
    case 'sourceQuench':
    case 'timeExceeded':
      p.msgType = repr.kind === 'sourceQuench' ? IcmpType.SourceQuench : IcmpType.TimeExceeded;
      p.msgCode = repr.code;
      bytes.set(repr.quoted, ICMP_HEADER_LEN);
      break;
    case 'parameterProblem':
      p.msgType = IcmpType.ParameterProblem;
      p.msgCode = repr.code;
      p.pointer = repr.pointer;
      bytes.set(repr.quoted, ICMP_HEADER_LEN);
      break;
  }
  p.fillChecksum();
}

/** The fields of a quoted IPv4 datagram that an ICMP error carries (RFC 792). */
export interface QuotedDatagram {
  src: number;
  dst: number;
  protocol: number;
  headerLength: number;
  /** Fragment offset in 8-byte units. */
  fragmentOffset: number;
  /** The quoted bytes after the quoted IP header (transport header first). */
  transport: Uint8Array;
}

/**
 * Reads the IPv4 header at the start of an ICMP error's quoted data. Undefined
 * unless it is version 4 with a sane header length and at least `minTransport`
 * bytes follow it (RFC 792: the header + 64 bits of data; RFC 1122 §3.2.2).
 */
export function parseQuotedIpv4(quoted: Uint8Array, minTransport = 8): QuotedDatagram | undefined {
  if (quoted.length < 20) return undefined;
  const vihl = quoted[0]!;
  const headerLength = (vihl & 0x0f) * 4;
  if (vihl >>> 4 !== 4 || headerLength < 20 || quoted.length < headerLength + minTransport) return undefined;
  return {
    src: readAddress(quoted, 12),
    dst: readAddress(quoted, 16),
    protocol: quoted[9]!,
    headerLength,
    fragmentOffset: ((quoted[6]! << 8) | quoted[7]!) & 0x1fff,
    transport: quoted.subarray(headerLength),
  };
}
