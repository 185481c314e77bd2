/**
 * The sealed record layer of a secured connection (sans-IO). After the Noise handshake, the byte stream
 * of frames (`u32 length | u8 type | payload`, exactly as on an insecure connection) is cut into records,
 * each sealed on its own:
 *
 * ```
 * u32 sealed length (big-endian) | AEAD ciphertext of up to MAX_RECORD_PLAINTEXT_BYTES | 16-byte tag
 * ```
 *
 * - The AEAD nonce is a counter per direction, 0, 1, 2, ... (implicit, never sent): TCP delivers records
 *   in order, so no replay window is needed, and a dropped, repeated or reordered record fails to open.
 * - The length prefix is the associated data: changing it fails authentication too.
 * - Frame types and lengths are inside the ciphertext, so an observer sees record sizes only.
 *
 * The writer seals a batch of small frames as one record, and a large message's payload in records of
 * its own, straight from the caller's buffer; the reader opens a record whose payload is one whole
 * message into a buffer that becomes the delivered message (no copy after decryption).
 */
import { AuthError, ProtocolError } from '@antt/core';
import { type OpeningKey, SEAL_OVERHEAD_BYTES, type SealingKey } from '@antt/secure';
import type { FrameInput } from './frame-decoder.js';

export const RECORD_PREFIX_BYTES = 4;
/**
 * Largest plaintext in one record. 1 MiB keeps the per-record cost (one createCipheriv, ~10 µs) below
 * 2 % at AES-GCM's ~800 MB/s and lets a 1 MiB message travel as one record (opened without a copy),
 * while bounding what a reader buffers before it can authenticate anything.
 */
export const MAX_RECORD_PLAINTEXT_BYTES = 1024 * 1024;
const MAX_RECORD_SEALED_BYTES = MAX_RECORD_PLAINTEXT_BYTES + SEAL_OVERHEAD_BYTES;

/** Records at least this large are sealed into recycled buffers (smaller ones into fresh buffers). */
const RECYCLE_MIN_BYTES = 256 * 1024;
/** Recycled record buffers kept per connection while none is in use. */
const RECYCLE_KEEP = 4;
const RECYCLED_BUFFER_BYTES = RECORD_PREFIX_BYTES + MAX_RECORD_SEALED_BYTES;

/**
 * Seals plaintext into records with an implicit counter nonce. Each record is one buffer, length prefix
 * and sealed body together (one socket write). Large records are sealed into buffers handed back with
 * {@link release} once the socket has written them: a fresh 1 MiB buffer per record costs its page
 * faults on first touch, which measured as much sender CPU as the AES-GCM itself.
 */
export class RecordSealer {
  readonly #key: SealingKey;
  #counter = 0;
  readonly #free: ArrayBuffer[] = [];
  /** Backing stores this sealer created: only these are taken back. */
  readonly #ours = new WeakSet<ArrayBuffer>();
  #allocated = 0;

  constructor(key: SealingKey) {
    this.#key = key;
  }

  get recordsSealed(): number {
    return this.#counter;
  }

  /** Recycled-size buffers allocated so far (reuse keeps this at the number in flight at once). */
  get recycledBuffersAllocated(): number {
    return this.#allocated;
  }

  /**
   * Seals `plaintext` (at most {@link MAX_RECORD_PLAINTEXT_BYTES}) as the next record; returns the
   * record, prefix included, to be written before any other record is sealed. `plaintext` must not
   * share memory with a buffer given to {@link release}.
   */
  seal(plaintext: Uint8Array): Buffer {
    const sealedLength = plaintext.byteLength + SEAL_OVERHEAD_BYTES;
    const total = RECORD_PREFIX_BYTES + sealedLength;
    let record: Buffer;
    if (total >= RECYCLE_MIN_BYTES) {
      let backing = this.#free.pop();
      if (backing === undefined) {
        backing = new ArrayBuffer(RECYCLED_BUFFER_BYTES);
        this.#ours.add(backing);
        this.#allocated++;
      }
      record = Buffer.from(backing, 0, total);
    } else {
      record = Buffer.allocUnsafe(total);
    }
    record.writeUInt32BE(sealedLength, 0);
    this.#key.sealInto(this.#counter++, record.subarray(0, RECORD_PREFIX_BYTES), plaintext, record, 4);
    return record;
  }

  /**
   * Takes back a record returned by {@link seal} once nothing reads it any more (the socket's write
   * callback); later records may then be sealed into the same memory. Other buffers are ignored.
   */
  release(record: Buffer): void {
    const backing = record.buffer as ArrayBuffer;
    if (this.#ours.has(backing) && this.#free.length < RECYCLE_KEEP && !this.#free.includes(backing)) {
      this.#free.push(backing);
    }
  }
}

export interface RecordOpenerOptions {
  key: OpeningKey;
  /** Names the peer in error messages. */
  peer: string;
  /** Receives each record's plaintext (a fresh buffer, never reused). */
  inner: FrameInput;
}

/**
 * Reassembles records from the socket's chunks (or from reads straight into the record being assembled)
 * and hands their plaintext to the frame decoder. A record that does not open ends the connection with
 * AuthError; a length outside the record limits with ProtocolError, before anything is allocated.
 */
export class RecordOpener implements FrameInput {
  readonly #options: RecordOpenerOptions;
  readonly #prefix = Buffer.alloc(RECORD_PREFIX_BYTES);
  #prefixFilled = 0;
  #record: Buffer | undefined;
  #recordFilled = 0;
  /**
   * Records spanning reads are assembled here, reused: opening writes the plaintext to a fresh buffer,
   * so the sealed bytes are not needed afterwards, and a reused buffer saves the page faults of a new
   * one per record. Grows to the largest record seen (at most MAX_RECORD_SEALED_BYTES).
   */
  #assembly: Buffer | undefined;
  #counter = 0;
  #stopped = false;

  constructor(options: RecordOpenerOptions) {
    this.#options = options;
  }

  get recordsOpened(): number {
    return this.#counter;
  }

  get atFrameBoundary(): boolean {
    return this.#prefixFilled === 0 && this.#record === undefined && this.#options.inner.atFrameBoundary;
  }

  stop(): void {
    this.#stopped = true;
    this.#record = undefined;
    this.#assembly = undefined;
    this.#options.inner.stop();
  }

  push(chunk: Buffer): void {
    const end = chunk.length;
    let offset = 0;
    while (offset < end && !this.#stopped) {
      const record = this.#record;
      if (record !== undefined) {
        const take = Math.min(record.length - this.#recordFilled, end - offset);
        chunk.copy(record, this.#recordFilled, offset, offset + take);
        this.#recordFilled += take;
        offset += take;
        if (this.#recordFilled === record.length) this.#open(record);
        continue;
      }
      let length: number;
      let prefix: Buffer;
      if (this.#prefixFilled === 0 && end - offset >= RECORD_PREFIX_BYTES) {
        prefix = chunk.subarray(offset, offset + RECORD_PREFIX_BYTES);
        length = this.#checkLength(chunk.readUInt32BE(offset));
        offset += RECORD_PREFIX_BYTES;
      } else {
        const take = Math.min(RECORD_PREFIX_BYTES - this.#prefixFilled, end - offset);
        chunk.copy(this.#prefix, this.#prefixFilled, offset, offset + take);
        this.#prefixFilled += take;
        offset += take;
        if (this.#prefixFilled < RECORD_PREFIX_BYTES) return;
        this.#prefixFilled = 0;
        prefix = this.#prefix;
        length = this.#checkLength(prefix.readUInt32BE(0));
      }
      if (end - offset >= length) {
        // Opening reads the view and writes a fresh buffer, so even a reused chunk needs no copy.
        this.#openWith(prefix, chunk.subarray(offset, offset + length));
        offset += length;
      } else {
        if (this.#assembly === undefined || this.#assembly.length < length) {
          this.#assembly = Buffer.allocUnsafe(length);
        }
        this.#record = this.#assembly.subarray(0, length);
        this.#recordFilled = 0;
        this.#prefix.set(prefix);
      }
    }
  }

  readTarget(minBytes: number): Buffer | undefined {
    const record = this.#record;
    if (record === undefined || this.#stopped || record.length - this.#recordFilled < minBytes)
      return undefined;
    return record.subarray(this.#recordFilled);
  }

  commitRead(bytes: number): void {
    const record = this.#record;
    if (record === undefined || this.#stopped) return;
    this.#recordFilled += bytes;
    if (this.#recordFilled >= record.length) this.#open(record);
  }

  describePosition(): string {
    if (this.#record !== undefined) {
      return `in the middle of a sealed record (${this.#recordFilled} of ${this.#record.length} bytes)`;
    }
    if (this.#prefixFilled > 0) {
      return `in the middle of a sealed record's length (${this.#prefixFilled} of ${RECORD_PREFIX_BYTES} bytes)`;
    }
    return `in the middle of a frame split across sealed records (${this.#options.inner.describePosition()})`;
  }

  #open(record: Buffer): void {
    this.#record = undefined;
    this.#openWith(this.#prefix, record);
  }

  #openWith(prefix: Buffer, sealed: Buffer): void {
    const plaintext = this.#options.key.open(this.#counter, prefix, sealed);
    if (plaintext === null) {
      this.stop();
      throw new AuthError(
        `the connection to ${this.#options.peer} was closed: a frame failed authentication: the stream was ` +
          'tampered with (or corrupted) on the way; nothing from it was delivered',
      );
    }
    this.#counter++;
    if (plaintext.length > 0) this.#options.inner.push(plaintext as Buffer);
  }

  #checkLength(length: number): number {
    if (length < SEAL_OVERHEAD_BYTES || length > MAX_RECORD_SEALED_BYTES) {
      this.stop();
      throw new ProtocolError(
        `the peer at ${this.#options.peer} sent a sealed record of ${length} bytes; records carry ` +
          `${SEAL_OVERHEAD_BYTES} to ${MAX_RECORD_SEALED_BYTES} bytes: the stream was tampered with or is corrupt`,
      );
    }
    return length;
  }
}
