import { ProtocolError } from '@antt/core';
import {
  FRAME_HEADER_BYTES,
  FrameType,
  frameTypeName,
  isFrameType,
  MAX_CONTROL_PAYLOAD_BYTES,
} from './wire-format.js';

/** Where a connection's received bytes go: the frame decoder, or the sealed record layer in front of it. */
export interface FrameInput {
  push(chunk: Buffer): void;
  /** The unfilled rest of the buffer being assembled, if at least `minBytes` are missing. */
  readTarget(minBytes: number): Buffer | undefined;
  /** `bytes` were written into the view {@link readTarget} returned. */
  commitRead(bytes: number): void;
  /** True between frames: a stream that ends here ended cleanly. */
  readonly atFrameBoundary: boolean;
  /** Where the stream stopped, for an error when it ends mid-frame. */
  describePosition(): string;
  stop(): void;
}

export interface FrameDecoderOptions {
  /** Largest DATA payload accepted; a longer length prefix is a protocol error before anything is allocated. */
  maxMessageBytes: number;
  /** Names the peer in error messages. */
  peer: string;
  /** One whole application message. May be a view into the chunk being decoded: do not keep `chunk`. */
  onMessage(message: Uint8Array): void;
  /** A PING, PONG or CLOSE frame with its (small) payload, valid only during the call. */
  onControl(type: FrameType, payload: Buffer): void;
  /** Chunks are reused after push() returns: messages inside one chunk are copied out. */
  transientChunks?: boolean;
}

/**
 * Turns the byte stream after the handshake into frames, incrementally (sans-IO: feed it chunks). A
 * message that lies inside one chunk is handed out as a view without copying; a message that spans
 * chunks gets one buffer of its exact size, and each chunk is copied into it once. Anything that is not a
 * well-formed frame throws ProtocolError and nothing else.
 */
export class FrameDecoder implements FrameInput {
  readonly #options: FrameDecoderOptions;
  readonly #header = Buffer.alloc(FRAME_HEADER_BYTES);
  #headerFilled = 0;
  #type: FrameType = FrameType.DATA;
  #payload: Buffer | undefined;
  #payloadFilled = 0;
  /**
   * A header ended exactly at the end of a chunk: its payload buffer is allocated only when needed, so
   * a payload that then arrives whole in the next chunk (a sealed record of its own) is a view of it.
   */
  #pendingLength: number | undefined;
  #stopped = false;
  #framesDecoded = 0;

  constructor(options: FrameDecoderOptions) {
    this.#options = options;
  }

  get framesDecoded(): number {
    return this.#framesDecoded;
  }

  /** True between frames: a stream that ends here ended cleanly. */
  get atFrameBoundary(): boolean {
    return this.#headerFilled === 0 && this.#payload === undefined && this.#pendingLength === undefined;
  }

  /** Stops decoding, even in the middle of a chunk (the connection ended from a callback). */
  stop(): void {
    this.#stopped = true;
    this.#payload = undefined;
    this.#pendingLength = undefined;
  }

  push(chunk: Buffer): void {
    const end = chunk.length;
    let offset = 0;
    while (offset < end && !this.#stopped) {
      const pending = this.#pendingLength;
      if (pending !== undefined) {
        this.#pendingLength = undefined;
        if (end - offset >= pending) {
          this.#emitView(chunk.subarray(offset, offset + pending));
          offset += pending;
          continue;
        }
        this.#payload = Buffer.allocUnsafe(pending);
        this.#payloadFilled = 0;
      }
      const payload = this.#payload;
      if (payload !== undefined) {
        const take = Math.min(payload.length - this.#payloadFilled, end - offset);
        chunk.copy(payload, this.#payloadFilled, offset, offset + take);
        this.#payloadFilled += take;
        offset += take;
        if (this.#payloadFilled === payload.length) {
          this.#payload = undefined;
          this.#emit(this.#type, payload);
        }
        continue;
      }
      let length: number;
      if (this.#headerFilled === 0 && end - offset >= FRAME_HEADER_BYTES) {
        length = chunk.readUInt32BE(offset);
        this.#type = this.#checkHeader(chunk[offset + 4]!, length);
        offset += FRAME_HEADER_BYTES;
      } else {
        const take = Math.min(FRAME_HEADER_BYTES - this.#headerFilled, end - offset);
        chunk.copy(this.#header, this.#headerFilled, offset, offset + take);
        this.#headerFilled += take;
        offset += take;
        if (this.#headerFilled < FRAME_HEADER_BYTES) return;
        this.#headerFilled = 0;
        length = this.#header.readUInt32BE(0);
        this.#type = this.#checkHeader(this.#header[4]!, length);
      }
      if (end - offset >= length) {
        this.#emitView(chunk.subarray(offset, offset + length));
        offset += length;
      } else if (offset === end) {
        this.#pendingLength = length;
      } else {
        this.#payload = Buffer.allocUnsafe(length);
        this.#payloadFilled = 0;
      }
    }
  }

  /** The unfilled rest of the message being assembled, if at least `minBytes` are missing. */
  readTarget(minBytes: number): Buffer | undefined {
    if (this.#pendingLength !== undefined && !this.#stopped && this.#pendingLength >= minBytes) {
      this.#payload = Buffer.allocUnsafe(this.#pendingLength);
      this.#payloadFilled = 0;
      this.#pendingLength = undefined;
    }
    const payload = this.#payload;
    if (payload === undefined || this.#stopped || payload.length - this.#payloadFilled < minBytes)
      return undefined;
    return payload.subarray(this.#payloadFilled);
  }

  /** `bytes` were written into the view {@link readTarget} returned. */
  commitRead(bytes: number): void {
    const payload = this.#payload;
    if (payload === undefined || this.#stopped) return;
    this.#payloadFilled += bytes;
    if (this.#payloadFilled >= payload.length) {
      this.#payload = undefined;
      this.#emit(this.#type, payload);
    }
  }

  /** Describes where the stream stopped, for an error when it ends mid-frame. */
  describePosition(): string {
    if (this.#pendingLength !== undefined) {
      return `in the middle of a ${frameTypeName(this.#type)} frame (0 of ${this.#pendingLength} payload bytes)`;
    }
    if (this.#payload !== undefined) {
      return `in the middle of a ${frameTypeName(this.#type)} frame (${this.#payloadFilled} of ${this.#payload.length} payload bytes)`;
    }
    return `in the middle of a frame header (${this.#headerFilled} of ${FRAME_HEADER_BYTES} bytes)`;
  }

  #checkHeader(type: number, length: number): FrameType {
    if (!isFrameType(type)) {
      throw new ProtocolError(
        `the peer at ${this.#options.peer} sent a frame of ${frameTypeName(type)}: the stream is corrupt or ` +
          'the peer speaks another protocol version',
      );
    }
    if (type === FrameType.DATA) {
      if (length > this.#options.maxMessageBytes) {
        throw new ProtocolError(
          `the peer at ${this.#options.peer} sent a message of ${length} bytes, over this connection's ` +
            `limit of ${this.#options.maxMessageBytes} bytes (option maxMessageBytes)`,
        );
      }
    } else if (length > MAX_CONTROL_PAYLOAD_BYTES) {
      throw new ProtocolError(
        `the peer at ${this.#options.peer} sent a ${frameTypeName(type)} frame of ${length} bytes; ` +
          `control frames carry at most ${MAX_CONTROL_PAYLOAD_BYTES}`,
      );
    }
    return type;
  }

  #emitView(view: Buffer): void {
    const transient = this.#options.transientChunks && this.#type === FrameType.DATA;
    this.#emit(this.#type, transient ? Buffer.from(view) : view);
  }

  #emit(type: FrameType, payload: Buffer): void {
    this.#framesDecoded++;
    if (type === FrameType.DATA) this.#options.onMessage(payload);
    else this.#options.onControl(type, payload);
  }
}
