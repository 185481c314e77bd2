/**
 * `@antt/packet`: Antt's message codec. A {@link Packet} is an ordered list of values (null, booleans,
 * numbers, bigints, strings, byte arrays, arrays and plain objects) that encodes to a compact binary
 * form and decodes back bit-exactly. Decoding is safe on untrusted bytes: it throws only
 * {@link PacketError}, with a stable `code`.
 *
 * @example
 * ```ts
 * import { Packet, PacketError } from '@antt/packet';
 *
 * const packet = new Packet(1, 'hello', new Uint8Array([0xca, 0xfe]), { user: 'ada', tags: ['a', 'b'] });
 * const bytes = packet.encode(); // Uint8Array, starts with the format version byte 0x01
 *
 * const decoded = Packet.decode(bytes, { maxBytes: 64 * 1024 });
 * console.log(decoded.equals(packet)); // true
 * console.log(decoded.values[1]); // 'hello'
 *
 * try {
 *   Packet.decode(new Uint8Array([0x01, 0x01, 0xcc]));
 * } catch (error) {
 *   if (error instanceof PacketError) console.log(error.code); // 'ANTT_PACKET_UNKNOWN_TAG'
 * }
 * ```
 *
 * The wire format is specified in the package README ("Wire format").
 *
 * @packageDocumentation
 */

export type { DecodeOptions } from './decoder.js';
export { Packet } from './packet.js';
export {
  PACKET_ERROR_CODES,
  PacketError,
  type PacketErrorCode,
  type PacketErrorDetails,
} from './packet-error.js';
export type { PacketValue } from './packet-value.js';
export { MAX_BIGINT_BYTES, MAX_DEPTH, MAX_STRING_BYTES, PACKET_FORMAT_VERSION } from './wire-format.js';
