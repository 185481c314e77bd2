/**
 * Rendezvous messages over TCP: each one is a 16-bit big-endian length and the message, exactly as it
 * travels in a UDP datagram (RFC 4571 frames RTP the same way). Used by the server's TCP listener and by
 * `connect({ transport: 'tcp' })`, for hosts whose routers drop UDP.
 */
import { ProtocolError } from '@antt/core';
import { isRendezvousMessage, MessageType, RENDEZVOUS_HEADER_BYTES, RelayStatus } from './protocol.js';

export const FRAME_LENGTH_BYTES = 2;
/**
 * The largest rendezvous message is a PEER-INFO with two 64-byte names and nine IPv6 addresses (about
 * 330 bytes); 512 leaves room and keeps a connection's buffer small.
 */
export const MAX_TCP_FRAME_BYTES = 512;
/** RELAY-INFO's status byte sits right after the header. */
const RELAY_INFO_STATUS_OFFSET = RENDEZVOUS_HEADER_BYTES;

export function encodeFrame(message: Uint8Array): Uint8Array {
  if (message.length > MAX_TCP_FRAME_BYTES) {
    throw new ProtocolError(
      `rendezvous message of ${message.length} bytes is over the ${MAX_TCP_FRAME_BYTES}-byte TCP frame limit`,
    );
  }
  const frame = new Uint8Array(FRAME_LENGTH_BYTES + message.length);
  frame[0] = message.length >>> 8;
  frame[1] = message.length & 0xff;
  frame.set(message, FRAME_LENGTH_BYTES);
  return frame;
}

/** True for a RELAY-INFO that grants a relay: after it, the TCP connection carries the peer's bytes. */
export function isRelayGranted(message: Uint8Array): boolean {
  return (
    isRendezvousMessage(message) &&
    message[3] === MessageType.RELAY_INFO &&
    message.length > RELAY_INFO_STATUS_OFFSET &&
    message[RELAY_INFO_STATUS_OFFSET] === RelayStatus.ALLOCATED
  );
}

/**
 * Splits a byte stream into frames. `push` returns the complete frames; a length of 0, over the limit,
 * or a frame that is not a rendezvous message throws `ProtocolError` (the caller closes the connection).
 * `stopAfter` lets the caller end framing after a given frame: the bytes after it are returned by
 * {@link rest} untouched (a relay's first bytes).
 */
export class FrameReader {
  #buffer: Uint8Array = new Uint8Array(0);
  #stopped = false;

  constructor(readonly stopAfter: (frame: Uint8Array) => boolean = () => false) {}

  push(chunk: Uint8Array): Uint8Array[] {
    if (this.#stopped) throw new ProtocolError('frame reader used after it stopped');
    this.#buffer = this.#buffer.length === 0 ? new Uint8Array(chunk) : concat(this.#buffer, chunk);
    const frames: Uint8Array[] = [];
    while (this.#buffer.length >= FRAME_LENGTH_BYTES) {
      const length = (this.#buffer[0]! << 8) | this.#buffer[1]!;
      if (length < RENDEZVOUS_HEADER_BYTES || length > MAX_TCP_FRAME_BYTES) {
        throw new ProtocolError(
          `malformed rendezvous TCP frame: length ${length} (from ${RENDEZVOUS_HEADER_BYTES} to ${MAX_TCP_FRAME_BYTES} bytes)`,
        );
      }
      if (this.#buffer.length < FRAME_LENGTH_BYTES + length) break;
      const frame = this.#buffer.slice(FRAME_LENGTH_BYTES, FRAME_LENGTH_BYTES + length);
      this.#buffer = this.#buffer.subarray(FRAME_LENGTH_BYTES + length);
      if (!isRendezvousMessage(frame)) {
        throw new ProtocolError('malformed rendezvous TCP frame: no rendezvous magic 0x52 0x56');
      }
      frames.push(frame);
      if (this.stopAfter(frame)) {
        this.#stopped = true;
        break;
      }
    }
    return frames;
  }

  /** Goes on framing after a stop that did not end the framing (a RELAY-ALLOC that was refused). */
  resume(): Uint8Array[] {
    this.#stopped = false;
    return this.push(new Uint8Array(0));
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  /** Bytes received after the last frame returned (after a stop: the start of the relayed stream). */
  rest(): Uint8Array {
    return this.#buffer;
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
