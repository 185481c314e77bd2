import { ProtocolError } from '@antt/core';
import {
  HELLO_BODY_BYTES,
  HELLO_FLAG_SECURED,
  HELLO_MAGIC,
  HELLO_PREFIX_BYTES,
  type Hello,
  NONCE_BYTES,
  PROTOCOL_VERSION,
  previewBytes,
} from './wire-format.js';

/** The most bytes a HELLO can take: prefix plus a body length that fits in one byte. */
const MAX_HELLO_BYTES = HELLO_PREFIX_BYTES + 0xff;

export type HelloResult =
  | { done: false }
  | {
      done: true;
      hello: Hello;
      /** The HELLO exactly as received (bound into the Noise prologue). */
      raw: Buffer;
      /** Bytes after the HELLO in the last chunk: the first frames. */
      rest: Buffer;
    };

/**
 * Reads the peer's HELLO from the first bytes of the stream, incrementally, checking the magic as soon as
 * each byte arrives so a non-Antt peer (HTTP server, SSH banner, random bytes) is recognised at once.
 * Throws ProtocolError, naming what the peer sent; never anything else.
 */
export class HelloReader {
  readonly #peer: string;
  readonly #buffer = Buffer.alloc(MAX_HELLO_BYTES);
  #length = 0;
  /** Everything seen so far (bounded), to quote it in an error. */
  #seen: Buffer[] = [];
  #seenBytes = 0;

  constructor(peer: string) {
    this.#peer = peer;
  }

  /** Bytes received so far. Zero means the peer has not said anything. */
  get bytesSeen(): number {
    return this.#seenBytes;
  }

  push(chunk: Buffer): HelloResult {
    // Copied: the chunk may be a reused read buffer.
    if (this.#seenBytes < 256) this.#seen.push(Buffer.from(chunk.subarray(0, 256)));
    this.#seenBytes += chunk.length;
    let offset = 0;
    while (offset < chunk.length) {
      const need = this.#needed() - this.#length;
      if (need <= 0) break;
      const take = Math.min(need, chunk.length - offset);
      chunk.copy(this.#buffer, this.#length, offset, offset + take);
      const before = this.#length;
      this.#length += take;
      offset += take;
      this.#check(before);
    }
    if (this.#length < this.#needed()) return { done: false };
    const hello = this.#decode();
    const raw = Buffer.from(this.#buffer.subarray(0, this.#length));
    return { done: true, hello, raw, rest: chunk.subarray(offset) };
  }

  /** What the peer sent, for a message when it fell silent or closed mid-way. */
  describeSeen(): string {
    return previewBytes(Buffer.concat(this.#seen));
  }

  #needed(): number {
    return this.#length < HELLO_PREFIX_BYTES ? HELLO_PREFIX_BYTES : HELLO_PREFIX_BYTES + this.#buffer[9]!;
  }

  #check(from: number): void {
    const magicEnd = Math.min(this.#length, HELLO_MAGIC.length);
    for (let i = from; i < magicEnd; i++) {
      if (this.#buffer[i] !== HELLO_MAGIC[i]) {
        throw new ProtocolError(
          `the peer at ${this.#peer} answered with '${this.describeSeen()}': it is not an Antt peer ` +
            `(expected an Antt TCP handshake starting with '${HELLO_MAGIC.toString('latin1')}')`,
        );
      }
    }
    if (from <= 8 && this.#length > 8) {
      const version = this.#buffer[8]!;
      if (version !== PROTOCOL_VERSION) {
        throw new ProtocolError(
          `the peer at ${this.#peer} speaks Antt TCP protocol version ${version}; this one speaks ` +
            `version ${PROTOCOL_VERSION}: update the older side so both match`,
        );
      }
    }
    if (from <= 9 && this.#length > 9 && this.#buffer[9]! < HELLO_BODY_BYTES) {
      throw new ProtocolError(
        `the peer at ${this.#peer} sent a malformed Antt handshake (body of ${this.#buffer[9]} bytes, ` +
          `version ${PROTOCOL_VERSION} needs ${HELLO_BODY_BYTES})`,
      );
    }
  }

  #decode(): Hello {
    const b = this.#buffer;
    const roleByte = b[10]!;
    if (roleByte > 1) {
      throw new ProtocolError(
        `the peer at ${this.#peer} sent a malformed Antt handshake (role byte ${roleByte})`,
      );
    }
    const maxMessageBytes = b.readUInt32BE(28);
    const idleTimeoutMs = b.readUInt32BE(32);
    if (idleTimeoutMs === 0) {
      throw new ProtocolError(`the peer at ${this.#peer} sent a malformed Antt handshake (idle timeout 0)`);
    }
    return {
      version: b[8]!,
      role: roleByte === 0 ? 'client' : 'server',
      secured: (b[11]! & HELLO_FLAG_SECURED) !== 0,
      nonce: Buffer.from(b.subarray(12, 12 + NONCE_BYTES)),
      maxMessageBytes,
      idleTimeoutMs,
    };
  }
}
