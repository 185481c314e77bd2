/**
 * The one error type `@antt/packet` throws. Callers branch on `code`, which is stable across releases;
 * the message is for people and may be reworded.
 */

/** Every code a PacketError can carry, with the side (decode, encode or both) that raises it. */
export const PACKET_ERROR_CODES = [
  // Decoding untrusted bytes.
  'ANTT_PACKET_TRUNCATED',
  'ANTT_PACKET_TRAILING_BYTES',
  'ANTT_PACKET_UNKNOWN_TAG',
  'ANTT_PACKET_INVALID_UTF8',
  'ANTT_PACKET_UNSUPPORTED_VERSION',
  // Both sides: nesting beyond the limit, or a size beyond a limit.
  'ANTT_PACKET_TOO_DEEP',
  'ANTT_PACKET_TOO_LARGE',
  // Encoding values.
  'ANTT_PACKET_INVALID_STRING',
  'ANTT_PACKET_UNSUPPORTED_VALUE',
  'ANTT_PACKET_CYCLIC',
  // A caller passed something that is not a Uint8Array, or a bad option.
  'ANTT_PACKET_INVALID_ARGUMENT',
] as const;

export type PacketErrorCode = (typeof PACKET_ERROR_CODES)[number];

export interface PacketErrorDetails {
  /** Decode errors: offset in the input of the byte that could not be read or made no sense. */
  readonly offset?: number;
  /** Encode errors: where the offending value sits, e.g. `values[2].user.tags[0]`. */
  readonly path?: string;
}

/**
 * Brand shared by every copy of this class. A program can load both the ESM and the CJS build of
 * `@antt/packet` (the dual-package hazard); `instanceof` then answers by brand, not by identity.
 */
const PACKET_ERROR_BRAND = Symbol.for('antt.packet.PacketError');

export class PacketError extends Error {
  override readonly name = 'PacketError';
  readonly code: PacketErrorCode;
  /** Decode errors: offset of the byte in the input that the message is about. */
  readonly offset: number | undefined;
  /** Encode errors: path of the value that could not be encoded. */
  readonly path: string | undefined;

  constructor(code: PacketErrorCode, message: string, details: PacketErrorDetails = {}) {
    super(message);
    this.code = code;
    this.offset = details.offset;
    this.path = details.path;
  }

  /** True for a PacketError from any loaded copy of this package. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return (
      typeof value === 'object' &&
      value !== null &&
      (value as { [PACKET_ERROR_BRAND]?: unknown })[PACKET_ERROR_BRAND] === true
    );
  }
}

Object.defineProperty(PacketError.prototype, PACKET_ERROR_BRAND, { value: true });
