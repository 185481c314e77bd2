/**
 * The sending half of a connection's byte stream. Messages become `length (u32) | bytes` records in one
 * ordered stream per direction; STREAM frames carry `(offset, bytes)` slices of it, so retransmitting a
 * lost frame is "send this offset range again", in a new packet.
 *
 * Small messages are copied into shared 256 KiB blocks (one allocation for many messages, and the caller
 * may reuse its buffer as soon as `send()` resolves). Messages of {@link REFERENCE_THRESHOLD_BYTES} or
 * more are referenced, not copied, so a large message is never held twice; the connection then resolves
 * `send()` only once the peer has acknowledged all of it.
 *
 * Memory: everything from the peer's cumulative acknowledgement to the write end is held, and the
 * connection stops accepting messages past its send-buffer limit.
 */
import { writeUint32 } from './wire.js';

export const LENGTH_PREFIX_BYTES = 4;
/** Copy blocks: small messages are packed into them back to back, a record may span two. */
const BLOCK_BYTES = 256 * 1024;
/** Freed blocks kept for reuse, so a steady transfer allocates nothing. */
const MAX_FREE_BLOCKS = 8;
export const REFERENCE_THRESHOLD_BYTES = 1024 * 1024;

interface Chunk {
  offset: number;
  bytes: Uint8Array;
  /** Bytes of `bytes` in use (a block fills up as messages are appended). */
  length: number;
}

export class SendStream {
  /** End of everything written. */
  writeOffset = 0;
  /** Next byte never sent before. */
  sendOffset = 0;
  /** The peer received everything below this. */
  ackedOffset = 0;
  /** Where the stream ends once the application closed it, else -1. */
  finOffset = -1;
  finSent = false;
  finAcked = false;
  /** Bytes retransmitted, for stats. */
  retransmittedBytes = 0;

  // The frame chosen by nextFrame().
  frameOffset = 0;
  frameLength = 0;
  frameFin = false;
  frameIsRetransmission = false;

  readonly #chunks: Chunk[] = [];
  readonly #freeBlocks: Uint8Array[] = [];
  readonly #prefix = new Uint8Array(LENGTH_PREFIX_BYTES);
  #chunkHead = 0;
  #tail: Chunk | undefined;
  /** Lost ranges waiting to be sent again: parallel arrays from #lostHead. */
  readonly #lostOffset: number[] = [];
  readonly #lostLength: number[] = [];
  readonly #lostFin: boolean[] = [];
  #lostHead = 0;

  /** Bytes held: written but not yet acknowledged in order. */
  get bufferedBytes(): number {
    return this.writeOffset - this.ackedOffset;
  }

  get hasRetransmissions(): boolean {
    return this.#lostHead < this.#lostOffset.length;
  }

  /** Appends one message record; returns the stream offset where it ends. */
  write(message: Uint8Array): number {
    const length = message.byteLength;
    writeUint32(this.#prefix, 0, length);
    if (length >= REFERENCE_THRESHOLD_BYTES) {
      this.#copyIn(this.#prefix, LENGTH_PREFIX_BYTES);
      this.#chunks.push({ offset: this.writeOffset, bytes: message, length });
      this.writeOffset += length;
      this.#tail = undefined;
    } else {
      this.#copyIn(this.#prefix, LENGTH_PREFIX_BYTES);
      this.#copyIn(message, length);
    }
    return this.writeOffset;
  }

  /** Copies bytes into the tail block, continuing in new (or recycled) blocks as they fill. */
  #copyIn(source: Uint8Array, length: number): void {
    let from = 0;
    while (from < length) {
      let tail = this.#tail;
      if (tail === undefined || tail.length === tail.bytes.byteLength) {
        tail = {
          offset: this.writeOffset,
          bytes: this.#freeBlocks.pop() ?? new Uint8Array(BLOCK_BYTES),
          length: 0,
        };
        this.#chunks.push(tail);
        this.#tail = tail;
      }
      const take = Math.min(length - from, tail.bytes.byteLength - tail.length);
      if (take <= 16) {
        const bytes = tail.bytes;
        for (let i = 0; i < take; i++) bytes[tail.length + i] = source[from + i]!;
      } else
        tail.bytes.set(
          from === 0 && take === length ? source : source.subarray(from, from + take),
          tail.length,
        );
      tail.length += take;
      from += take;
      this.writeOffset += take;
    }
  }

  finish(): void {
    if (this.finOffset < 0) this.finOffset = this.writeOffset;
  }

  /** Whether a frame could go out now, given the peer's flow-control limit. */
  hasSendable(flowLimit: number): boolean {
    if (this.hasRetransmissions) return true;
    if (this.sendOffset < this.writeOffset && this.sendOffset < flowLimit) return true;
    return this.finOffset >= 0 && !this.finSent && this.sendOffset === this.finOffset;
  }

  /** New data is waiting but the peer's window does not allow it. */
  isFlowBlocked(flowLimit: number): boolean {
    return this.sendOffset < this.writeOffset && this.sendOffset >= flowLimit;
  }

  /**
   * Picks the next frame of at most `maxBytes` data bytes: lost ranges first (RFC 9002 leaves the order
   * to the sender; old data first keeps the receiver's reassembly buffer small), then new data. Sets the
   * `frame*` fields; returns false when there is nothing to send.
   */
  nextFrame(maxBytes: number, flowLimit: number): boolean {
    while (this.#lostHead < this.#lostOffset.length) {
      const at = this.#lostHead;
      let offset = this.#lostOffset[at]!;
      let length = this.#lostLength[at]!;
      const fin = this.#lostFin[at]!;
      const end = offset + length;
      if (end <= this.ackedOffset && (!fin || this.finAcked)) {
        this.#popLost();
        continue;
      }
      if (offset < this.ackedOffset) {
        offset = this.ackedOffset;
        length = end - offset;
      }
      this.frameIsRetransmission = true;
      if (length > maxBytes) {
        this.frameOffset = offset;
        this.frameLength = maxBytes;
        this.frameFin = false;
        this.#lostOffset[at] = offset + maxBytes;
        this.#lostLength[at] = length - maxBytes;
      } else {
        this.frameOffset = offset;
        this.frameLength = length;
        this.frameFin = fin;
        this.#popLost();
      }
      this.retransmittedBytes += this.frameLength;
      return true;
    }
    this.frameIsRetransmission = false;
    const available = Math.min(this.writeOffset, flowLimit) - this.sendOffset;
    const length = available > 0 ? Math.min(available, maxBytes) : 0;
    const fin = this.finOffset >= 0 && !this.finSent && this.sendOffset + length === this.finOffset;
    if (length === 0 && !fin) return false;
    this.frameOffset = this.sendOffset;
    this.frameLength = length;
    this.frameFin = fin;
    this.sendOffset += length;
    if (fin) this.finSent = true;
    return true;
  }

  /** Copies stream bytes `[offset, offset + length)` into `out` at `at`. */
  copy(offset: number, length: number, out: Uint8Array, at: number): void {
    let index = this.#findChunk(offset);
    let pos = offset;
    let written = at;
    const end = offset + length;
    while (pos < end) {
      const chunk = this.#chunks[index]!;
      const from = pos - chunk.offset;
      const take = Math.min(chunk.length - from, end - pos);
      if (take < 64) {
        const bytes = chunk.bytes;
        for (let i = 0; i < take; i++) out[written + i] = bytes[from + i]!;
      } else out.set(chunk.bytes.subarray(from, from + take), written);
      pos += take;
      written += take;
      index++;
    }
  }

  /** The peer's cumulative acknowledgement: frees whole chunks below it. */
  onAcked(cumulativeOffset: number): void {
    if (cumulativeOffset <= this.ackedOffset) return;
    this.ackedOffset = Math.min(cumulativeOffset, this.writeOffset);
    const chunks = this.#chunks;
    while (this.#chunkHead < chunks.length) {
      const chunk = chunks[this.#chunkHead]!;
      if (chunk === this.#tail || chunk.offset + chunk.length > this.ackedOffset) break;
      chunks[this.#chunkHead++] = undefined as unknown as Chunk;
      // Recycle copy blocks (referenced messages belong to the application).
      if (chunk.bytes.byteLength === BLOCK_BYTES && this.#freeBlocks.length < MAX_FREE_BLOCKS) {
        this.#freeBlocks.push(chunk.bytes);
      }
    }
    if (this.#chunkHead > 64 && this.#chunkHead * 2 > chunks.length) {
      chunks.splice(0, this.#chunkHead);
      this.#chunkHead = 0;
    }
  }

  /** A packet carrying `[offset, offset + length)` (and maybe the end) was lost: queue it again. */
  onLost(offset: number, length: number, fin: boolean): void {
    if (offset + length <= this.ackedOffset && !fin) return;
    this.#lostOffset.push(offset);
    this.#lostLength.push(length);
    this.#lostFin.push(fin);
  }

  #popLost(): void {
    this.#lostHead++;
    if (this.#lostHead === this.#lostOffset.length) {
      this.#lostOffset.length = 0;
      this.#lostLength.length = 0;
      this.#lostFin.length = 0;
      this.#lostHead = 0;
    }
  }

  #findChunk(offset: number): number {
    const chunks = this.#chunks;
    let lo = this.#chunkHead;
    let hi = chunks.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (chunks[mid]!.offset <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
}
