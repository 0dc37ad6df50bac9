/**
 * The protocol-number table both IP layers dispatch through (RFC 8200 §4's Next Header and
 * RFC 791's Protocol share one number space, IANA's "Assigned Internet Protocol Numbers").
 * `slots` is read directly on the receive path (no call per packet).
 */
import { checkInteger, codedError } from './errors.js';
import type { TransportProtocol } from './registration.js';

export class TransportTable {
  /** The transport of each protocol number, or undefined. */
  readonly slots: (TransportProtocol | undefined)[] = new Array<TransportProtocol | undefined>(256).fill(undefined);

  /** Installs the transport for `t.protocol`. Throws ERR_INVALID_STATE if another one holds it. */
  register(t: TransportProtocol): void {
    if (typeof t !== 'object' || t === null || typeof t.receive !== 'function') throw codedError(TypeError, 'ERR_INVALID_ARG_TYPE', 'transport must be a TransportProtocol');
    const p = checkInteger(t.protocol, 'transport.protocol', 0, 255);
    const held = this.slots[p];
    if (held !== undefined && held !== t) throw codedError(Error, 'ERR_INVALID_STATE', `protocol ${p} already has a transport`);
    this.slots[p] = t;
  }

  /** Removes the transport for `protocol` (no-op when none). */
  unregister(protocol: number): void {
    this.slots[checkInteger(protocol, 'protocol', 0, 255)] = undefined;
  }
}
