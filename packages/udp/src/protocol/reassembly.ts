/**
 * The receiving half of a connection's byte stream: puts STREAM frames back in order and cuts the stream
 * into messages.
 *
 * - In-order bytes go straight into the message being assembled: a message's buffer is allocated once,
 *   at its full size, when its 4-byte length arrives, and frames are copied into it; a large message is
 *   never held twice.
 * - Out-of-order frames wait in a sorted list, copied out of the received datagram (whose memory the
 *   endpoint may reuse for the next one), and are counted against a hard byte cap; a frame that would exceed it is dropped and counted (the sender
 *   resends it). The flow-control window never invites more than the cap, so only a misbehaving sender
 *   hits it.
 * - A delayed duplicate of bytes already delivered is ignored, never re-requested.
 */
import { LENGTH_PREFIX_BYTES } from './send-stream.js';

export const StreamResult = {
  ACCEPTED: 0,
  /** Everything in the frame was already received. */
  DUPLICATE: 1,
  /** Dropped: it would exceed the out-of-order cap. */
  OVER_CAP: 2,
  /** The peer broke the protocol (a message over the limit, data past the end). */
  PROTOCOL_ERROR: 3,
} as const;
export type StreamResult = (typeof StreamResult)[keyof typeof StreamResult];

export class Reassembly {
  /** Everything below this was received in order and handed to the message parser. */
  readOffset = 0;
  /** Where the peer said the stream ends, or -1. */
  finalOffset = -1;
  /** Bytes held out of order. */
  outOfOrderBytes = 0;
  /** Set when a PROTOCOL_ERROR result was returned. */
  errorMessage = '';

  readonly #capBytes: number;
  readonly #maxMessageBytes: number;
  readonly #deliver: (message: Uint8Array) => void;
  readonly #starts: number[] = [];
  readonly #frames: Uint8Array[] = [];
  // Message parser state.
  readonly #prefix = new Uint8Array(LENGTH_PREFIX_BYTES);
  #prefixFill = 0;
  #message: Uint8Array | undefined;
  #messageFill = 0;

  constructor(capBytes: number, maxMessageBytes: number, deliver: (message: Uint8Array) => void) {
    this.#capBytes = capBytes;
    this.#maxMessageBytes = maxMessageBytes;
    this.#deliver = deliver;
  }

  /** The stream ended and every byte up to its end was delivered. */
  get complete(): boolean {
    return this.finalOffset >= 0 && this.readOffset >= this.finalOffset;
  }

  /** True while a message is partly assembled or its length is partly read. */
  get midMessage(): boolean {
    return this.#message !== undefined || this.#prefixFill > 0;
  }

  receive(offset: number, data: Uint8Array, fin: boolean): StreamResult {
    const end = offset + data.byteLength;
    if (fin) {
      if (this.finalOffset >= 0 && this.finalOffset !== end)
        return this.#fail('the peer moved the end of its stream');
      if (end < this.readOffset) return this.#fail('the peer ended its stream before data it already sent');
      this.finalOffset = end;
    } else if (this.finalOffset >= 0 && end > this.finalOffset) {
      return this.#fail('the peer sent data past the end of its stream');
    }
    if (end <= this.readOffset)
      return data.byteLength === 0 && fin ? StreamResult.ACCEPTED : StreamResult.DUPLICATE;
    if (offset <= this.readOffset) {
      if (!this.#consume(data.subarray(this.readOffset - offset))) return StreamResult.PROTOCOL_ERROR;
      this.readOffset = end;
      return this.#drain() ? StreamResult.ACCEPTED : StreamResult.PROTOCOL_ERROR;
    }
    return this.#hold(offset, data);
  }

  #hold(offset: number, data: Uint8Array): StreamResult {
    const starts = this.#starts;
    // Binary search for the insertion point: first start > offset.
    let lo = 0;
    let hi = starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid]! <= offset) lo = mid + 1;
      else hi = mid;
    }
    const before = lo - 1;
    if (before >= 0 && starts[before]! + this.#frames[before]!.byteLength >= offset + data.byteLength) {
      return StreamResult.DUPLICATE;
    }
    if (this.outOfOrderBytes + data.byteLength > this.#capBytes) return StreamResult.OVER_CAP;
    starts.splice(lo, 0, offset);
    // A copy: the datagram's memory may be reused once it has been processed (batched receives).
    this.#frames.splice(lo, 0, Uint8Array.prototype.slice.call(data));
    this.outOfOrderBytes += data.byteLength;
    return StreamResult.ACCEPTED;
  }

  /** Feeds held frames that have become in-order. */
  #drain(): boolean {
    const starts = this.#starts;
    const frames = this.#frames;
    let taken = 0;
    while (taken < starts.length && starts[taken]! <= this.readOffset) {
      const start = starts[taken]!;
      const frame = frames[taken]!;
      this.outOfOrderBytes -= frame.byteLength;
      const end = start + frame.byteLength;
      taken++;
      if (end > this.readOffset) {
        if (!this.#consume(frame.subarray(this.readOffset - start))) return false;
        this.readOffset = end;
      }
    }
    if (taken > 0) {
      starts.splice(0, taken);
      frames.splice(0, taken);
    }
    return true;
  }

  /** Cuts in-order bytes into messages. */
  #consume(bytes: Uint8Array): boolean {
    let pos = 0;
    const length = bytes.byteLength;
    while (pos < length) {
      let message = this.#message;
      if (message === undefined) {
        let size: number;
        if (this.#prefixFill === 0 && length - pos >= LENGTH_PREFIX_BYTES) {
          size =
            ((bytes[pos]! << 24) | (bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!) >>> 0;
          pos += LENGTH_PREFIX_BYTES;
        } else {
          while (this.#prefixFill < LENGTH_PREFIX_BYTES && pos < length)
            this.#prefix[this.#prefixFill++] = bytes[pos++]!;
          if (this.#prefixFill < LENGTH_PREFIX_BYTES) return true;
          const p = this.#prefix;
          size = ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
          this.#prefixFill = 0;
        }
        if (size > this.#maxMessageBytes) {
          this.#fail(`the peer sent a message of ${size} bytes, over the limit of ${this.#maxMessageBytes}`);
          return false;
        }
        if (size === 0) {
          this.#deliver(new Uint8Array(0));
          continue;
        }
        // A whole small message in this frame: one copy, straight out.
        if (length - pos >= size) {
          this.#deliver(Uint8Array.prototype.slice.call(bytes, pos, pos + size));
          pos += size;
          continue;
        }
        message = new Uint8Array(size);
        this.#message = message;
        this.#messageFill = 0;
      }
      const take = Math.min(message.byteLength - this.#messageFill, length - pos);
      message.set(bytes.subarray(pos, pos + take), this.#messageFill);
      this.#messageFill += take;
      pos += take;
      if (this.#messageFill === message.byteLength) {
        this.#message = undefined;
        this.#deliver(message);
      }
    }
    return true;
  }

  #fail(message: string): StreamResult {
    this.errorMessage = message;
    return StreamResult.PROTOCOL_ERROR;
  }
}
