/**
 * `Packet`: an ordered list of values that travels as one message. It replaces the Python prototype's
 * `Packet(1, "text", b"bytes")`, `generate()` and `Packet().parse(raw)` with `new Packet(...)`,
 * `encode()` and `Packet.decode(bytes)`.
 */

import { type DecodeOptions, decodePacket } from './decoder.js';
import { encodePacket } from './encoder.js';
import type { PacketValue } from './packet-value.js';
import { valuesEqual } from './value-equality.js';

export class Packet {
  /**
   * The packet's values, in order. Typed read-only, and meant to be: a packet is a message, not a
   * container to edit. It is not frozen at run time, because Object.freeze costs more than decoding a
   * small message's header; neither are the values inside (decoded byte payloads are views into the
   * input buffer).
   */
  readonly values: readonly PacketValue[];

  /**
   * Values are checked when the packet is encoded, not here, so building a packet costs nothing
   * beyond the array.
   */
  constructor(...values: PacketValue[]) {
    this.values = values;
  }

  /**
   * Decodes bytes produced by `encode()` (or any encoder of the format in README.md). Safe on untrusted
   * input: every failure is a PacketError with a stable `code`, and no length field can make it allocate
   * more than the input could hold.
   *
   * Byte payloads come back as Uint8Array views into `bytes`, not copies: mutating `bytes` afterwards
   * changes them, and holding one keeps the whole input alive. Copy (`payload.slice()`) to detach.
   */
  static decode(bytes: Uint8Array, options?: DecodeOptions): Packet {
    const packet = new Packet();
    // Adopt the decoded array as is: `new Packet(...values)` would copy it, and a spread of a very long
    // array can hit the engine's limit on argument count.
    (packet as { values: readonly PacketValue[] }).values = decodePacket(bytes, options);
    return packet;
  }

  /**
   * Encodes the packet. Throws PacketError for values the format cannot carry (code
   * ANTT_PACKET_UNSUPPORTED_VALUE, ANTT_PACKET_INVALID_STRING, ANTT_PACKET_TOO_DEEP,
   * ANTT_PACKET_CYCLIC or ANTT_PACKET_TOO_LARGE), naming the value's path such as `values[2].user.tags[0]`.
   *
   * The result is a new Uint8Array that owns its ArrayBuffer exactly (safe to transfer or keep).
   */
  encode(): Uint8Array<ArrayBuffer> {
    return encodePacket(this.values);
  }

  /**
   * Deep, bit-exact equality of the values: numbers compare with Object.is (so -0 differs from 0 and NaN
   * equals NaN), bigints and strings by value, Uint8Arrays (Buffers included) by content, arrays element
   * by element, and objects by their own enumerable keys in any order.
   */
  equals(other: Packet): boolean {
    return other instanceof Packet && valuesEqual(this.values, other.values);
  }
}
