import type { Socket } from 'node:net';
import { abortReasonToError } from '@antt/core';
import { MAX_RECORD_PLAINTEXT_BYTES, type RecordSealer } from './sealed-records.js';
import { FRAME_HEADER_BYTES, FrameType, writeFrameHeader } from './wire-format.js';

/** Small frames are copied into a batch of this size and written together. */
const BATCH_BYTES = 64 * 1024;
/**
 * Messages up to this size are copied into the batch (send() resolves at once); larger ones are written
 * from the caller's buffer and send() resolves when the kernel has taken them, so the caller may reuse it.
 */
const COPY_LIMIT_BYTES = 16 * 1024;
/** A batch this small is copied out on flush so the batch buffer can be reused. */
const COPY_OUT_FLUSH_BYTES = 4 * 1024;
/** send() waits while Node holds more than this many bytes the kernel has not taken yet. */
export const WRITE_HIGH_WATER_BYTES = 1024 * 1024;

interface TurnWaiter {
  wake(): void;
  fail(error: Error): void;
}

/**
 * Writes frames to a socket: batches small frames (so 100,000 tiny messages make a few hundred writes),
 * writes large messages without copying, and makes send() wait, in order, while the socket's write
 * buffer is over {@link WRITE_HIGH_WATER_BYTES}. The socket's own errors are the connection's business.
 *
 * With a {@link RecordSealer} (a secured connection) every write is sealed first: a batch becomes one
 * record, a large message's payload follows its header's record in records of its own, sealed from the
 * caller's buffer (the sealed copy is the only one). Records are sealed and written in one order, so the
 * counter nonces match the reader's.
 */
export class FrameWriter {
  readonly #socket: Socket;
  readonly #closedError: () => Error;
  readonly #sealer: RecordSealer | undefined;
  #batch = Buffer.allocUnsafe(BATCH_BYTES);
  #used = 0;
  #flushScheduled = false;
  readonly #waiters: TurnWaiter[] = [];
  /** A waiter was woken and has not written yet: later callers queue behind it. */
  #turnHanded = false;
  #lastWriteAt = 0;
  #failed: Error | undefined;

  constructor(socket: Socket, closedError: () => Error, sealer?: RecordSealer) {
    this.#socket = socket;
    this.#closedError = closedError;
    this.#sealer = sealer;
    socket.on('drain', () => this.#wakeNext());
  }

  /** performance.now() of the last frame written, for the heartbeat. */
  get lastWriteAt(): number {
    return this.#lastWriteAt;
  }

  /** Bytes Node holds for the kernel plus the unflushed batch. */
  get bufferedBytes(): number {
    return this.#socket.writableLength + this.#used;
  }

  async writeMessage(message: Uint8Array, signal: AbortSignal | undefined): Promise<void> {
    if (this.#failed) throw this.#failed;
    if (this.#turnHanded || this.#waiters.length > 0 || this.#overHighWater()) {
      await this.#waitTurn(signal);
      this.#turnHanded = false;
      if (this.#failed) throw this.#failed;
    }
    const length = message.byteLength;
    if (length <= COPY_LIMIT_BYTES) {
      this.#reserve(FRAME_HEADER_BYTES + length);
      writeFrameHeader(this.#batch, this.#used, FrameType.DATA, length);
      this.#batch.set(message, this.#used + FRAME_HEADER_BYTES);
      this.#used += FRAME_HEADER_BYTES + length;
      this.#scheduleFlush();
      this.#lastWriteAt = performance.now();
      this.#wakeNext();
      return;
    }
    this.#reserve(FRAME_HEADER_BYTES);
    writeFrameHeader(this.#batch, this.#used, FrameType.DATA, length);
    this.#used += FRAME_HEADER_BYTES;
    this.#lastWriteAt = performance.now();
    if (this.#sealer) return this.#writeSealedPayload(this.#sealer, message);
    // Corked, the batch (ending in this header) and the payload leave in one writev: no tiny segment.
    this.#socket.cork();
    this.flush();
    const written = new Promise<void>((resolve, reject) => {
      this.#socket.write(message, (error) => {
        if (error) reject(this.#failed ?? this.#closedError());
        else resolve();
      });
    });
    this.#socket.uncork();
    this.#wakeNext();
    await written;
  }

  /**
   * PING, PONG and CLOSE go out with the next flush and never wait for their turn. A PONG does not count
   * as activity for the heartbeat, so both sides keep sending their own PINGs and both measure RTT.
   */
  writeControl(type: FrameType, payload: Uint8Array = new Uint8Array(0)): void {
    if (this.#failed) return;
    this.#reserve(FRAME_HEADER_BYTES + payload.byteLength);
    writeFrameHeader(this.#batch, this.#used, type, payload.byteLength);
    this.#batch.set(payload, this.#used + FRAME_HEADER_BYTES);
    this.#used += FRAME_HEADER_BYTES + payload.byteLength;
    if (type !== FrameType.PONG) this.#lastWriteAt = performance.now();
    this.#scheduleFlush();
  }

  /** Hands the batch to the socket now. */
  flush(): void {
    const used = this.#used;
    if (used === 0 || this.#failed) return;
    if (this.#sealer) {
      // Sealing copies, so the batch buffer is free again at once.
      this.#used = 0;
      this.#writeRecord(this.#sealer, this.#batch.subarray(0, used));
      return;
    }
    let out: Buffer;
    if (used <= COPY_OUT_FLUSH_BYTES) {
      out = Buffer.allocUnsafe(used);
      this.#batch.copy(out, 0, 0, used);
    } else {
      out = this.#batch.subarray(0, used);
      this.#batch = Buffer.allocUnsafe(BATCH_BYTES);
    }
    this.#used = 0;
    this.#socket.write(out);
  }

  /** The connection ended: every waiting send() fails with `error`, later ones too. */
  fail(error: Error): void {
    if (this.#failed) return;
    this.#failed = error;
    this.#used = 0;
    for (const waiter of this.#waiters.splice(0)) waiter.fail(error);
  }

  /**
   * Seals `plaintext` as one record and writes it; the record's buffer goes back to the sealer once the
   * socket has written it (or failed to).
   */
  #writeRecord(sealer: RecordSealer, plaintext: Uint8Array, callback?: (error?: Error | null) => void): void {
    const record = sealer.seal(plaintext);
    this.#socket.write(record, (error) => {
      sealer.release(record);
      callback?.(error);
    });
  }

  /**
   * The payload of a large message on a secured connection: the batch (ending in the message's header)
   * goes out as one record, then the payload in records of up to MAX_RECORD_PLAINTEXT_BYTES, all in one
   * synchronous pass so no other record can come between them. Like the insecure path, which hands the
   * whole message to the socket at once, the sealed copy of one message may sit in the socket buffer;
   * send() waits for it to drain before the next large message starts.
   */
  async #writeSealedPayload(sealer: RecordSealer, message: Uint8Array): Promise<void> {
    let written: Promise<void> | undefined;
    this.#socket.cork();
    this.flush();
    for (let offset = 0; offset < message.byteLength; offset += MAX_RECORD_PLAINTEXT_BYTES) {
      const end = Math.min(offset + MAX_RECORD_PLAINTEXT_BYTES, message.byteLength);
      const piece = message.subarray(offset, end);
      if (end < message.byteLength) {
        this.#writeRecord(sealer, piece);
        continue;
      }
      written = new Promise<void>((resolve, reject) => {
        this.#writeRecord(sealer, piece, (error) => {
          if (error) reject(this.#failed ?? this.#closedError());
          else resolve();
        });
      });
    }
    this.#socket.uncork();
    this.#wakeNext();
    await written;
  }

  #overHighWater(): boolean {
    return this.#socket.writableLength >= WRITE_HIGH_WATER_BYTES;
  }

  #reserve(bytes: number): void {
    if (this.#used + bytes > this.#batch.length) this.flush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // nextTick runs once the sender's chain of resolved promises yields, so a tight send loop fills
    // whole batches and a lone message still leaves in the same turn of the event loop.
    process.nextTick(() => {
      this.#flushScheduled = false;
      this.flush();
    });
  }

  #wakeNext(): void {
    if (this.#turnHanded || this.#waiters.length === 0 || this.#overHighWater()) return;
    this.#turnHanded = true;
    this.#waiters.shift()!.wake();
  }

  #waitTurn(signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortReasonToError(signal, 'send()'));
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const index = this.#waiters.indexOf(waiter);
        if (index >= 0) this.#waiters.splice(index, 1);
        reject(abortReasonToError(signal!, 'send()'));
        // The next in line may be able to go now.
        this.#wakeNext();
      };
      const waiter: TurnWaiter = {
        wake: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        fail: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.push(waiter);
      // Flush what is batched so the socket can drain and wake us.
      this.flush();
      if (this.#waiters[0] === waiter) this.#wakeNext();
    });
  }
}
