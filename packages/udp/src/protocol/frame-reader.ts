/**
 * Reads the frames of one opened DATA packet (README "Wire format": PADDING, PING, ACK, STREAM,
 * STREAM_FIN, RESET, PATH_CHALLENGE, PATH_RESPONSE) and hands each to the part of the connection it
 * concerns. It checks the encoding only; what a frame means is the handler's business. A truncated or
 * unknown frame is a protocol violation, never an exception.
 */
import { readAckRanges } from './ack-ranges.js';
import { PATH_DATA_BYTES } from './path-validation.js';
import { FrameType, HEADER_BYTES, WireReader } from './wire.js';

/** Ranges an ACK frame may list, so one frame fits in any datagram. */
const ACK_RANGE_SCRATCH = 256;

/** {@link FrameReader.read}'s answers besides "ack-eliciting or not". */
export const FrameRead = {
  NOT_ACK_ELICITING: 0,
  ACK_ELICITING: 1,
  /** The packet broke the protocol: {@link FrameReader.violation} says how. */
  VIOLATION: -1,
  /** A RESET frame: the connection ended; the rest of the packet is not read. */
  RESET: -2,
} as const;
export type FrameRead = (typeof FrameRead)[keyof typeof FrameRead];

export interface FrameHandler {
  /** Reading stops when this turns true (the connection closed while processing a frame). */
  readonly stopped: boolean;
  /** An ACK frame; returns what is wrong with it, or undefined. `ranges` is flat [hi, lo, ...]. */
  onAck(
    ranges: readonly number[],
    count: number,
    ackDelayMs: number,
    cumulativeOffset: number,
    flowLimit: number,
    now: number,
  ): string | undefined;
  onStream(offset: number, data: Uint8Array, fin: boolean, now: number): void;
  /** A PATH_CHALLENGE or PATH_RESPONSE frame with its 8 bytes. */
  onPathFrame(frameType: number, data: Uint8Array): void;
  onReset(code: number): void;
}

export class FrameReader {
  /** What the last packet read as {@link FrameRead.VIOLATION} got wrong. */
  violation = '';
  readonly #reader = new WireReader();
  readonly #ackRanges: number[] = new Array(ACK_RANGE_SCRATCH).fill(0);
  readonly #ackDelay = { micros: 0 };

  /** Reads `datagram[HEADER_BYTES, payloadEnd)`: whether it was ack-eliciting, or why reading stopped. */
  read(datagram: Uint8Array, payloadEnd: number, now: number, handler: FrameHandler): FrameRead {
    const reader = this.#reader;
    reader.reset(datagram, HEADER_BYTES, payloadEnd);
    let ackEliciting = false;
    while (reader.remaining > 0 && !handler.stopped) {
      const frameType = reader.uint8();
      if (frameType === FrameType.PADDING) break;
      if (frameType === FrameType.PING) {
        ackEliciting = true;
      } else if (frameType === FrameType.ACK) {
        const ranges = this.#ackRanges;
        const count = readAckRanges(reader, ranges, this.#ackDelay);
        if (count < 0) return this.#violation('a malformed ACK frame');
        const cumulativeOffset = reader.varint();
        const flowLimit = reader.varint();
        if (!reader.ok) return this.#violation('a truncated ACK frame');
        const ackDelayMs = this.#ackDelay.micros / 1000;
        const wrong = handler.onAck(ranges, count, ackDelayMs, cumulativeOffset, flowLimit, now);
        if (wrong !== undefined) return this.#violation(wrong);
      } else if (frameType === FrameType.STREAM || frameType === FrameType.STREAM_FIN) {
        ackEliciting = true;
        const offset = reader.uint48();
        const length = reader.uint16();
        if (!reader.ok || length > reader.remaining) return this.#violation('a truncated STREAM frame');
        const data = datagram.subarray(reader.pos, reader.pos + length);
        reader.pos += length;
        handler.onStream(offset, data, frameType === FrameType.STREAM_FIN, now);
      } else if (frameType === FrameType.PATH_CHALLENGE || frameType === FrameType.PATH_RESPONSE) {
        if (reader.remaining < PATH_DATA_BYTES) return this.#violation('a truncated path frame');
        const data = datagram.subarray(reader.pos, reader.pos + PATH_DATA_BYTES);
        reader.pos += PATH_DATA_BYTES;
        handler.onPathFrame(frameType, data);
      } else if (frameType === FrameType.RESET) {
        handler.onReset(reader.uint8());
        return FrameRead.RESET;
      } else {
        return this.#violation(`an unknown frame type 0x${frameType.toString(16)}`);
      }
    }
    if (!reader.ok) return this.#violation('a truncated frame');
    return ackEliciting ? FrameRead.ACK_ELICITING : FrameRead.NOT_ACK_ELICITING;
  }

  #violation(what: string): FrameRead {
    this.violation = what;
    return FrameRead.VIOLATION;
  }
}
