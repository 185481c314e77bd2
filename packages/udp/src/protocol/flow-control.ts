/**
 * Per-connection flow control: the receiver advertises the highest stream offset it will accept (in every
 * ACK frame), the sender never sends past it. The window follows what the application has not read
 * (BaseConnection's receive queue) and never exceeds the out-of-order cap, so a sender can never make the
 * receiver hold more than that cap out of order.
 */

/** What both sides assume the peer accepts before its first ACK frame says otherwise. */
export const INITIAL_FLOW_WINDOW_BYTES = 256 * 1024;

export class ReceiveWindow {
  /** The limit most recently advertised. */
  advertised = INITIAL_FLOW_WINDOW_BYTES;
  readonly #capBytes: number;

  constructor(capBytes: number) {
    this.#capBytes = capBytes;
  }

  /** The limit to advertise now, never below one already advertised (a sender may have acted on it). */
  limit(readOffset: number, applicationWindowBytes: number): number {
    const next = readOffset + Math.min(applicationWindowBytes, this.#capBytes);
    if (next > this.advertised) this.advertised = next;
    return this.advertised;
  }

  /** Whether the window opened enough since the last advertisement to tell the sender unprompted. */
  worthUpdating(readOffset: number, applicationWindowBytes: number): boolean {
    const next = readOffset + Math.min(applicationWindowBytes, this.#capBytes);
    return next - this.advertised >= this.#capBytes / 4;
  }
}

export class SendWindow {
  /** The peer's latest limit (monotonic: a reordered older ACK cannot shrink it). */
  limit: number;

  constructor(initialBytes = INITIAL_FLOW_WINDOW_BYTES) {
    this.limit = initialBytes;
  }

  update(limit: number): boolean {
    if (limit <= this.limit) return false;
    this.limit = limit;
    return true;
  }
}
