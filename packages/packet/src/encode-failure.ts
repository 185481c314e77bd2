/**
 * How the encoder reports a value it cannot encode, with the path to it (`values[2].user.tags[0]`).
 *
 * The walk does not track the path as it goes: that would cost a store per value on the hot path for
 * the benefit of the rare failure. Instead the walk throws an EncodeFailure, every container frame on
 * the way out adds its index or key (a try/catch costs nothing until something is thrown), and the
 * top level turns the result into the PacketError the caller sees.
 */

import { PacketError, type PacketErrorCode } from './packet-error.js';
import { describeValue, formatPath } from './packet-value.js';
import { findLoneSurrogate } from './utf8.js';
import { MAX_BIGINT_BYTES, MAX_DEPTH, MAX_STRING_BYTES } from './wire-format.js';

export class EncodeFailure {
  /** Indexes and keys from the failing value up to (not including) the packet's value list. */
  readonly segments: (string | number)[] = [];

  constructor(
    readonly code: PacketErrorCode,
    /** Writes the message once the path is known. */
    readonly explain: (path: string) => string,
  ) {}
}

/** Called by a container frame for an error thrown below it; other errors (a getter's) pass through. */
export function withSegment(error: unknown, key: string | number): unknown {
  if (error instanceof EncodeFailure) error.segments.push(key);
  return error;
}

/** Called at the top with the index of the packet value that failed. */
export function toPacketError(error: unknown, index: number, values: readonly unknown[]): unknown {
  if (!(error instanceof EncodeFailure)) return error;
  const keys = [index, ...error.segments.reverse()];
  if (error.code === 'ANTT_PACKET_TOO_DEEP') {
    const cycle = findCycle(values, keys);
    if (cycle !== undefined) return cycle;
  }
  const path = formatPath(keys, keys.length - 1);
  return new PacketError(error.code, error.explain(path), { path });
}

export function unsupportedValue(value: unknown): EncodeFailure {
  return new EncodeFailure(
    'ANTT_PACKET_UNSUPPORTED_VALUE',
    (path) =>
      `cannot encode ${describeValue(value)} at ${path}: a packet holds null, booleans, numbers, bigints, ` +
      'strings, Uint8Array, arrays and plain objects',
  );
}

export function invalidString(text: string, isKey: boolean): EncodeFailure {
  const index = findLoneSurrogate(text);
  const unit = text.charCodeAt(index).toString(16).toUpperCase();
  return new EncodeFailure(
    'ANTT_PACKET_INVALID_STRING',
    (path) =>
      `${isKey ? 'object key' : 'string'} at ${path} has a lone surrogate U+${unit} at index ${index}; only ` +
      'well-formed UTF-16 has a UTF-8 form (fix the string, e.g. with String.prototype.toWellFormed())',
  );
}

export function stringTooLarge(byteLength: number): EncodeFailure {
  return new EncodeFailure(
    'ANTT_PACKET_TOO_LARGE',
    (path) => `string at ${path} is ${byteLength} bytes of UTF-8; the limit is ${MAX_STRING_BYTES}`,
  );
}

export function bigintTooLarge(byteLength: number): EncodeFailure {
  return new EncodeFailure(
    'ANTT_PACKET_TOO_LARGE',
    (path) =>
      `bigint at ${path} needs ${byteLength} bytes; the limit is ${MAX_BIGINT_BYTES} (${MAX_BIGINT_BYTES * 8} bits)`,
  );
}

export function tooDeep(): EncodeFailure {
  return new EncodeFailure(
    'ANTT_PACKET_TOO_DEEP',
    (path) => `value at ${path} nests deeper than ${MAX_DEPTH} arrays/objects, the format's limit`,
  );
}

/**
 * Nesting passed MAX_DEPTH: walk the path from the top to tell a cycle (a container that is its own
 * ancestor) from an honestly deep value. A cycle longer than MAX_DEPTH stays "too deep", which it is.
 */
function findCycle(values: readonly unknown[], keys: readonly (string | number)[]): PacketError | undefined {
  const seenAt = new Map<unknown, number>();
  let node: unknown = values;
  for (let level = 0; level < keys.length; level++) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string | number, unknown>)[keys[level]!];
    const ancestorLevel = seenAt.get(node);
    if (ancestorLevel !== undefined) {
      const cyclePath = formatPath(keys, level);
      return new PacketError(
        'ANTT_PACKET_CYCLIC',
        `cyclic structure: ${cyclePath} is the same object as its ancestor ${formatPath(keys, ancestorLevel)}; ` +
          'a packet holds trees',
        { path: cyclePath },
      );
    }
    if (typeof node === 'object' && node !== null) seenAt.set(node, level);
  }
  return undefined;
}
