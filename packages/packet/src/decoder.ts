/**
 * Bytes to values, for bytes that may come from anyone. Every read is bounds-checked against the input,
 * every length is checked against what the input can still hold before anything is allocated for it,
 * and every failure is a PacketError with a stable code and the offset it is about.
 *
 * The cursor lives in module state (`input`, `pos`, `end`): decoding never runs user code, so there is
 * no re-entrancy to guard, and module variables are the cheapest state V8 can keep.
 */

import { PacketError } from './packet-error.js';
import type { PacketValue } from './packet-value.js';
import { readCachedKey, readCachedValue } from './string-cache.js';
import { readAscii, readUtf8Native } from './utf8.js';
import {
  MAX_BIGINT_BYTES,
  MAX_DEPTH,
  MAX_STRING_BYTES,
  MAX_VARINT_BYTES,
  MIN_ARRAY_ITEM_BYTES,
  MIN_OBJECT_ENTRY_BYTES,
  PACKET_FORMAT_VERSION,
  TAG_ARRAY,
  TAG_BYTES,
  TAG_FALSE,
  TAG_FIXARRAY,
  TAG_FIXINT_MAX,
  TAG_FIXOBJECT,
  TAG_FIXSTR,
  TAG_FLOAT64,
  TAG_NEGATIVE_BIGINT,
  TAG_NEGATIVE_FIXINT,
  TAG_NEGATIVE_INT,
  TAG_NULL,
  TAG_OBJECT,
  TAG_POSITIVE_BIGINT,
  TAG_STRING,
  TAG_TRUE,
  TAG_UINT,
} from './wire-format.js';

/** Limits for one decode. Each can only tighten the format's own limits, never widen them. */
export interface DecodeOptions {
  /** Refuse inputs longer than this many bytes (ANTT_PACKET_TOO_LARGE). Default: no limit. */
  readonly maxBytes?: number;
  /** Deepest array/object nesting accepted (ANTT_PACKET_TOO_DEEP). Default and ceiling: MAX_DEPTH (64). */
  readonly maxDepth?: number;
  /** Most values in the whole packet, counting every top-level value, array element and object entry
   *  (ANTT_PACKET_TOO_LARGE). Default: no limit beyond the input's size. */
  readonly maxItems?: number;
}

/** Strings shorter than this (in bytes) are tried as ASCII in JavaScript first; longer ones, and any
 *  non-ASCII string, go to TextDecoder. */
const NATIVE_STRING_MIN_BYTES = 48;
/** Below this many bytes a bigint is assembled from numbers; above, from a hex string. */
const SMALL_BIGINT_BYTES = 6;
const HEX_PAIRS = Array.from({ length: 256 }, (_, byte) => byte.toString(16).padStart(2, '0'));
/** Float64 bytes are read through this scratch pair (no DataView per decode). */
const float64 = new Float64Array(1);
const float64Bytes = new Uint8Array(float64.buffer);
/** Typed arrays use the platform's byte order; the wire is little-endian (every mainstream CPU is). */
const PLATFORM_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const EMPTY_INPUT = new Uint8Array(0);

let input: Uint8Array = EMPTY_INPUT;
let pos = 0;
let end = 0;
let maxDepth = MAX_DEPTH;
/** Values counted so far against `maxItems`. Kept as a small integer that grows: a counter that starts
 *  at Infinity would be a boxed double in V8, reallocated on every update. */
let itemsCounted = 0;
let maxItems = Number.POSITIVE_INFINITY;

/** Decodes one packet; returns its values. Throws only PacketError. */
export function decodePacket(bytes: Uint8Array, options?: DecodeOptions): PacketValue[] {
  if (!(bytes instanceof Uint8Array) && !isForeignUint8Array(bytes)) {
    throw new PacketError(
      'ANTT_PACKET_INVALID_ARGUMENT',
      `Packet.decode expects a Uint8Array (or Buffer), got ${bytes === null ? 'null' : typeof bytes}`,
    );
  }
  if (options === undefined) {
    maxDepth = MAX_DEPTH;
    maxItems = Number.POSITIVE_INFINITY;
  } else {
    applyOptions(options, bytes.length);
  }
  input = bytes;
  pos = 0;
  end = bytes.length;
  itemsCounted = 0;
  try {
    if (end === 0) throw truncated(0, 'empty input: a packet starts with a version byte');
    const version = input[pos++]!;
    if (version !== PACKET_FORMAT_VERSION) {
      throw new PacketError(
        'ANTT_PACKET_UNSUPPORTED_VERSION',
        `packet format version ${version} is not supported; this decoder reads version ${PACKET_FORMAT_VERSION}`,
        { offset: 0 },
      );
    }
    const count = readVarint();
    checkRoom(count, MIN_ARRAY_ITEM_BYTES, 1, 'packet');
    const values: PacketValue[] = new Array(count);
    for (let i = 0; i < count; i++) values[i] = readValue(0);
    if (pos !== end) {
      throw new PacketError(
        'ANTT_PACKET_TRAILING_BYTES',
        `${end - pos} bytes follow the last of the packet's ${count} values (at byte ${pos})`,
        { offset: pos },
      );
    }
    return values;
  } finally {
    input = EMPTY_INPUT; // do not pin the caller's buffer between calls
  }
}

/** A Uint8Array from another realm (a vm context, a worker's structured clone) fails `instanceof`. */
function isForeignUint8Array(value: unknown): boolean {
  return (
    ArrayBuffer.isView(value) &&
    (value as { [Symbol.toStringTag]?: string })[Symbol.toStringTag] === 'Uint8Array'
  );
}

/** Validates `options` and loads them into the decoder state; checks maxBytes at once. */
function applyOptions(options: DecodeOptions, inputBytes: number): void {
  const maxBytes = limitOption(options.maxBytes, 'maxBytes', Number.POSITIVE_INFINITY);
  const maxItemsOption = limitOption(options.maxItems, 'maxItems', Number.POSITIVE_INFINITY);
  const maxDepthOption = limitOption(options.maxDepth, 'maxDepth', MAX_DEPTH);
  if (maxDepthOption > MAX_DEPTH) {
    throw new PacketError(
      'ANTT_PACKET_INVALID_ARGUMENT',
      `maxDepth ${maxDepthOption} is above the format's limit of ${MAX_DEPTH}; options can only tighten it`,
    );
  }
  if (inputBytes > maxBytes) {
    throw new PacketError(
      'ANTT_PACKET_TOO_LARGE',
      `packet is ${inputBytes} bytes; maxBytes allows ${maxBytes}`,
      {
        offset: 0,
      },
    );
  }
  maxDepth = maxDepthOption;
  maxItems = maxItemsOption;
}

function limitOption(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value >= 0) || (!Number.isInteger(value) && value !== Infinity)) {
    throw new PacketError(
      'ANTT_PACKET_INVALID_ARGUMENT',
      `${name} must be a non-negative integer or Infinity, got ${String(value)}`,
    );
  }
  return value;
}

function readValue(level: number): PacketValue {
  if (pos >= end) throw truncated(pos, 'expected a value');
  const tag = input[pos++]!;
  if (tag <= TAG_FIXINT_MAX) return tag;
  if (tag < TAG_FIXARRAY) return readString(tag - TAG_FIXSTR);
  if (tag < TAG_FIXOBJECT) return readArray(tag - TAG_FIXARRAY, level, pos - 1);
  if (tag < TAG_NULL) return readObject(tag - TAG_FIXOBJECT, level, pos - 1);
  if (tag >= TAG_NEGATIVE_FIXINT) return tag - 0x100;
  const tagAt = pos - 1;
  switch (tag) {
    case TAG_NULL:
      return null;
    case TAG_FALSE:
      return false;
    case TAG_TRUE:
      return true;
    case TAG_UINT:
      return readVarint();
    case TAG_NEGATIVE_INT:
      return -1 - readVarint();
    case TAG_FLOAT64:
      return readFloat64();
    case TAG_STRING:
      return readString(readVarint());
    case TAG_BYTES:
      return readBytes(readVarint());
    case TAG_ARRAY:
      return readArray(readVarint(), level, tagAt);
    case TAG_OBJECT:
      return readObject(readVarint(), level, tagAt);
    case TAG_POSITIVE_BIGINT:
      return readBigInt(false);
    case TAG_NEGATIVE_BIGINT:
      return readBigInt(true);
    default:
      throw new PacketError(
        'ANTT_PACKET_UNKNOWN_TAG',
        `unknown tag 0x${tag.toString(16)} at byte ${tagAt} (0xcc-0xdf are reserved)`,
        { offset: tagAt },
      );
  }
}

/** LEB128: 7 bits per byte, least significant group first, high bit set on every byte but the last. */
function readVarint(): number {
  const start = pos;
  if (pos >= end) throw truncated(start, 'varint cut short');
  let byte = input[pos++]!;
  if (byte < 0x80) return byte;
  let value = byte & 0x7f;
  let scale = 0x80;
  for (let index = 1; index < MAX_VARINT_BYTES; index++) {
    if (pos >= end) throw truncated(start, 'varint cut short');
    byte = input[pos++]!;
    // The 8th byte may only carry bits 49..52: anything more is above 2^53 - 1 or runs on.
    if (index === MAX_VARINT_BYTES - 1 && byte > 0x0f) break;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return value;
    scale *= 0x80;
  }
  throw new PacketError(
    'ANTT_PACKET_TOO_LARGE',
    `varint at byte ${start} is above 2^53 - 1 (or longer than ${MAX_VARINT_BYTES} bytes)`,
    { offset: start },
  );
}

/**
 * A container that claims `count` items of at least `minBytesEach` bytes must fit in the bytes left;
 * this runs before anything is allocated for it, so a lying count costs nothing. Then the count is
 * charged to the maxItems budget.
 */
function checkRoom(count: number, minBytesEach: number, headerAt: number, what: string): void {
  const left = end - pos;
  if (count * minBytesEach > left) {
    throw truncated(
      headerAt,
      `${what} at byte ${headerAt} claims ${count} items but only ${left} bytes remain`,
    );
  }
  itemsCounted += count;
  if (itemsCounted > maxItems) {
    throw new PacketError(
      'ANTT_PACKET_TOO_LARGE',
      `${what} at byte ${headerAt} brings the packet past maxItems`,
      {
        offset: headerAt,
      },
    );
  }
}

function readFloat64(): number {
  if (pos + 8 > end) throw truncated(pos - 1, 'float64 needs 8 bytes');
  if (PLATFORM_IS_LITTLE_ENDIAN) {
    for (let i = 0; i < 8; i++) float64Bytes[i] = input[pos + i]!;
  } else {
    for (let i = 0; i < 8; i++) float64Bytes[7 - i] = input[pos + i]!;
  }
  pos += 8;
  return float64[0]!;
}

function readString(length: number): string {
  const start = pos;
  if (length > end - start)
    throw truncated(start, `string claims ${length} bytes but only ${end - start} remain`);
  if (length > MAX_STRING_BYTES) {
    throw new PacketError(
      'ANTT_PACKET_TOO_LARGE',
      `string at byte ${start} is ${length} bytes; the limit is ${MAX_STRING_BYTES}`,
      { offset: start },
    );
  }
  pos = start + length;
  // Short ASCII is built in JavaScript (cached when enum-like); everything else goes to the platform
  // decoder, which beats a JavaScript UTF-8 decoder on non-ASCII even for a few bytes (measured 1.5-2x).
  const text =
    length < NATIVE_STRING_MIN_BYTES
      ? (readCachedValue(input, start, length) ??
        readAscii(input, start, length) ??
        readUtf8Native(input, start, length))
      : readUtf8Native(input, start, length);
  if (text === undefined) {
    throw new PacketError('ANTT_PACKET_INVALID_UTF8', `string at byte ${start} is not valid UTF-8`, {
      offset: start,
    });
  }
  return text;
}

function readKey(): string {
  const start = pos;
  // Keys are almost always shorter than 128 bytes: a one-byte varint, read inline.
  const first = start < end ? input[start]! : 0x80;
  let length: number;
  if (first < 0x80) {
    length = first;
    pos = start + 1;
  } else {
    length = readVarint();
  }
  if (length > end - pos)
    throw truncated(start, `object key claims ${length} bytes but only ${end - pos} remain`);
  const cached = readCachedKey(input, pos, length);
  if (cached !== undefined) {
    pos += length;
    return cached;
  }
  return readString(length);
}

function readBytes(length: number): Uint8Array {
  const start = pos;
  if (length > end - start)
    throw truncated(start, `bytes claim ${length} bytes but only ${end - start} remain`);
  pos = start + length;
  // A view, not a copy: large payloads cost nothing to decode (README: "Byte payloads are views").
  return new Uint8Array(input.buffer, input.byteOffset + start, length);
}

function enter(level: number, what: string, tagAt: number): number {
  const depth = level + 1;
  if (depth > maxDepth) {
    throw new PacketError(
      'ANTT_PACKET_TOO_DEEP',
      `${what} at byte ${tagAt} is nested ${depth} deep; the limit is ${maxDepth}`,
      { offset: tagAt },
    );
  }
  return depth;
}

function readArray(count: number, level: number, tagAt: number): PacketValue[] {
  const depth = enter(level, 'array', tagAt);
  checkRoom(count, MIN_ARRAY_ITEM_BYTES, tagAt, 'array');
  const array: PacketValue[] = new Array(count);
  for (let i = 0; i < count; i++) array[i] = readValue(depth);
  return array;
}

function readObject(count: number, level: number, tagAt: number): Record<string, PacketValue> {
  const depth = enter(level, 'object', tagAt);
  checkRoom(count, MIN_OBJECT_ENTRY_BYTES, tagAt, 'object');
  // An ordinary object, as JSON.parse makes; "__proto__" becomes an own property (below), so no key can
  // reach a prototype. A repeated key keeps its last value, as in JSON.parse.
  const object: Record<string, PacketValue> = {};
  for (let i = 0; i < count; i++) {
    const key = readKey();
    const value = readValue(depth);
    if (key === '__proto__') {
      Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
    } else {
      object[key] = value;
    }
  }
  return object;
}

function readBigInt(negative: boolean): bigint {
  const start = pos;
  const length = readVarint();
  if (length > end - pos)
    throw truncated(start, `bigint claims ${length} bytes but only ${end - pos} remain`);
  if (length > MAX_BIGINT_BYTES) {
    throw new PacketError(
      'ANTT_PACKET_TOO_LARGE',
      `bigint at byte ${start} is ${length} bytes; the limit is ${MAX_BIGINT_BYTES}`,
      { offset: start },
    );
  }
  let magnitude: bigint;
  if (length <= SMALL_BIGINT_BYTES) {
    // 6 bytes = 48 bits: exact in a double, so plain arithmetic is enough.
    let value = 0;
    for (let i = length - 1; i >= 0; i--) value = value * 0x100 + input[pos + i]!;
    magnitude = BigInt(value);
  } else {
    let hex = '';
    for (let i = length - 1; i >= 0; i--) hex += HEX_PAIRS[input[pos + i]!]!;
    magnitude = BigInt(`0x${hex}`);
  }
  pos += length;
  return negative ? -magnitude : magnitude;
}

function truncated(offset: number, detail: string): PacketError {
  return new PacketError('ANTT_PACKET_TRUNCATED', `packet truncated: ${detail}`, { offset });
}
