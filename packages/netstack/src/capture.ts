/**
 * `stack.capture(path, options)`: a pcap capture started and stopped at run time, shaped
 * like `fs.promises.open` / `FileHandle`:
 *
 *   const cap = await stack.capture('x.pcap', { maxBytes: 100e6 });
 *   ...
 *   await cap.close();   // flushed and closed; also done by stack.close()
 *
 * What the file holds (see @netstack/tun CaptureLink): both directions as the wire carries
 * them, checksums complete (computed on a copy, only while capturing), TSO/GSO
 * super-segments whole. Bounded: at `maxBytes` (default 1 GiB) the file stops growing and
 * further packets count in `notWritten`. The capture never throws into the stack: a write
 * error (ENOSPC) stops it and is kept in `error`.
 */
import { PcapCapture, type CaptureLink, type PcapCaptureOptions } from '@netstack/tun';

export interface CaptureOptions {
  /** Most bytes the file may reach, pcap headers included (default 1 GiB; Infinity: no bound). */
  maxBytes?: number;
  /** Bytes kept of each packet (default 65535: whole packets, super-segments included). */
  snaplen?: number;
}

export class Capture {
  readonly path: string;
  readonly #file: PcapCapture;
  readonly #link: CaptureLink;
  readonly #onClose: (c: Capture) => void;

  /** Use stack.capture() (not tagged internal: a stripped constructor would read as a public one without arguments). */
  constructor(path: string, file: PcapCapture, link: CaptureLink, onClose: (c: Capture) => void) {
    this.path = path;
    this.#file = file;
    this.#link = link;
    this.#onClose = onClose;
    link.addTap(file);
  }

  /** Packets written to the file. */
  get packets(): number { return this.#file.packets; }
  /** Bytes of the file (buffered ones included). */
  get bytes(): number { return this.#file.bytes; }
  /** The size bound (bytes). */
  get maxBytes(): number { return this.#file.maxBytes; }
  /** Packets not written: the size bound was reached, or the file failed (see `error`). */
  get notWritten(): number { return this.#file.notWritten; }
  /** The file reached `maxBytes` and stopped growing. */
  get limitReached(): boolean { return this.#file.limitReached; }
  /** The file error (ENOSPC, EIO...) that stopped the capture, if any. */
  get error(): Error | undefined { return this.#file.error; }
  get closed(): boolean { return this.#file.closed; }

  /** Stops the capture, flushes and closes the file. Idempotent; resolves also after a file error (see `error`). */
  close(): Promise<void> {
    this.#link.removeTap(this.#file);
    this.#file.close();
    this.#onClose(this);
    return Promise.resolve();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** Opens the file (throws the fs error: EACCES, ENOENT, EISDIR...; or an argument error). */
export function openCapture(path: string, options: CaptureOptions, link: CaptureLink, onClose: (c: Capture) => void): Capture {
  const o: PcapCaptureOptions = {
    ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
    ...(options.snaplen !== undefined ? { snaplen: options.snaplen } : {}),
    // LINKTYPE_RAW on a TUN or a link of IP packets, LINKTYPE_ETHERNET at a TAP device.
    linkType: link.linkType,
  };
  return new Capture(path, PcapCapture.open(path, o), link, onClose);
}
