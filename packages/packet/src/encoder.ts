/**
 * Values to bytes, written straight into their final memory.
 *
 * Allocating an ArrayBuffer is the single most expensive step of encoding a small message in V8
 * (~0.4 µs, more than encoding a chat message takes). So, like Node's own Buffer pool, packets of up to
 * POOLED_PACKET_MAX_BYTES are written into a shared slab and returned as views of it; the slab is
 * replaced, never rewritten, so a returned view stays valid forever. Larger packets are built in a
 * private scratch buffer and returned as an exact copy that owns its ArrayBuffer.
 *
 * The walk is a recursive switch on `typeof`; validation happens on the way (there is no separate
 * checking pass). Failures carry the path to the bad value out through the container frames
 * (encode-failure.ts).
 */

import {
  bigintTooLarge,
  invalidString,
  stringTooLarge,
  tooDeep,
  toPacketError,
  unsupportedValue,
  withSegment,
} from './encode-failure.js';
import type { PacketValue } from './packet-value.js';
import { isWellFormed, writeUtf8, writeUtf8Native } from './utf8.js';
import {
  FIXCONTAINER_MAX_ITEMS,
  FIXSTR_MAX_BYTES,
  MAX_BIGINT_BYTES,
  MAX_DEPTH,
  MAX_STRING_BYTES,
  NEGATIVE_FIXINT_MIN,
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
  TAG_NEGATIVE_INT,
  TAG_NULL,
  TAG_OBJECT,
  TAG_POSITIVE_BIGINT,
  TAG_STRING,
  TAG_TRUE,
  TAG_UINT,
  varintSize,
} from './wire-format.js';

/** Size of one shared slab. A retained small packet keeps its whole slab alive, so this stays modest. */
const SLAB_BYTES = 32 * 1024;
/** Packets up to this size are returned as slab views; larger ones get their own ArrayBuffer. */
const POOLED_PACKET_MAX_BYTES = 2 * 1024;
/** Slab views start on 8-byte boundaries, so a Float64Array or Uint32Array over one is possible. */
const SLAB_ALIGNMENT_BYTES = 8;
/** Initial size of the private scratch buffer that large packets are built in. */
const INITIAL_SCRATCH_BYTES = 64 * 1024;
/** After an encode the scratch buffer is dropped if it grew past this, so one big packet does not pin
 *  memory for the life of the process. */
const MAX_RETAINED_SCRATCH_BYTES = 8 * 1024 * 1024;
/** Strings with fewer UTF-16 units than this are converted in JavaScript; longer ones go to
 *  TextEncoder.encodeInto, whose fixed call cost is then repaid by its speed per byte. */
const NATIVE_STRING_MIN_UNITS = 64;
/** Worst-case UTF-8 bytes per UTF-16 unit (a BMP character above U+07FF). */
const MAX_UTF8_BYTES_PER_UNIT = 3;
/** Tag plus the longest varint: room any header needs. */
const MAX_HEADER_BYTES = 9;
/** Canonical quiet NaN, 0x7ff8000000000000, as little-endian bytes (see README, "Numbers"). */
const CANONICAL_NAN_HIGH_BYTES = [0xf8, 0x7f] as const;
const TWO_POW_31 = 0x80000000;
const TWO_POW_28 = 0x10000000;

let slab = new Uint8Array(SLAB_BYTES);
let slabView = new DataView(slab.buffer);
/** Where the next pooled packet starts in `slab`. */
let slabUsed = 0;
let scratch: Uint8Array<ArrayBuffer> | undefined;

/** The buffer being written (the slab or the scratch buffer), its DataView, the packet's first byte
 *  in it, and the write position. */
let target = slab;
let targetView = slabView;
let start = 0;
let pos = 0;
/** for-in is several times faster than Object.keys but also lists inherited enumerable keys; it is
 *  used only while Object.prototype has none (checked per encode: someone may have polluted it). */
let objectPrototypeIsClean = true;
/** True while an encode runs; a getter that encodes re-entrantly gets its own state. */
let busy = false;

/** Encodes `values` as one packet. Throws PacketError for values the format cannot hold. */
export function encodePacket(values: readonly PacketValue[]): Uint8Array<ArrayBuffer> {
  if (busy) return encodeReentrant(values);
  busy = true;
  try {
    // Every pooled packet must fit in what is left of the slab; the old slab lives on in earlier views.
    if (slabUsed > SLAB_BYTES - POOLED_PACKET_MAX_BYTES) replaceSlab();
    target = slab;
    targetView = slabView;
    start = pos = slabUsed;
    objectPrototypeIsClean = !hasEnumerableKeys(Object.prototype);
    const count = values.length;
    ensure(1 + MAX_HEADER_BYTES);
    target[pos++] = PACKET_FORMAT_VERSION;
    writeVarint(count);
    for (let i = 0; i < count; i++) {
      try {
        writeValue(values[i], 0);
      } catch (error) {
        throw toPacketError(error, i, values);
      }
    }
    return finish();
  } finally {
    busy = false;
  }
}

function finish(): Uint8Array<ArrayBuffer> {
  const length = pos - start;
  if (target === slab && length <= POOLED_PACKET_MAX_BYTES) {
    slabUsed = (pos + SLAB_ALIGNMENT_BYTES - 1) & ~(SLAB_ALIGNMENT_BYTES - 1);
    return new Uint8Array(slab.buffer, start, length);
  }
  const packet = target.slice(start, pos);
  if (target.length > MAX_RETAINED_SCRATCH_BYTES) scratch = undefined;
  target = slab; // drop the reference to a large scratch buffer
  targetView = slabView;
  return packet;
}

function replaceSlab(): void {
  slab = new Uint8Array(SLAB_BYTES);
  slabView = new DataView(slab.buffer);
  slabUsed = 0;
}

function hasEnumerableKeys(object: object): boolean {
  for (const _ in object) return true;
  return false;
}

/** Rare path: a getter or Proxy trap called encode during an encode. Park the outer state and run. */
function encodeReentrant(values: readonly PacketValue[]): Uint8Array<ArrayBuffer> {
  const saved = {
    slab,
    slabView,
    slabUsed,
    scratch,
    target,
    targetView,
    start,
    pos,
  };
  replaceSlab();
  scratch = undefined;
  busy = false;
  try {
    return encodePacket(values);
  } finally {
    ({ slab, slabView, slabUsed, scratch, target, targetView, start, pos } = saved);
    busy = true;
  }
}

function ensure(bytes: number): void {
  if (pos + bytes > target.length) grow(bytes);
}

/** Out of room: move the packet so far to the scratch buffer (doubling it as needed) and go on there. */
function grow(bytes: number): void {
  const written = pos - start;
  const needed = written + bytes;
  let next = scratch;
  if (next === undefined || next.length < needed) {
    // Doubling keeps the number of copies logarithmic in the packet size.
    next = new Uint8Array(
      Math.max(needed, INITIAL_SCRATCH_BYTES, target === scratch ? target.length * 2 : 0),
    );
    scratch = next;
  }
  next.set(target.subarray(start, pos));
  target = next;
  targetView = new DataView(next.buffer);
  start = 0;
  pos = written;
}

function writeValue(value: unknown, level: number): void {
  switch (typeof value) {
    case 'string':
      writeString(value, false);
      return;
    case 'number':
      writeNumber(value);
      return;
    case 'boolean':
      ensure(1);
      target[pos++] = value ? TAG_TRUE : TAG_FALSE;
      return;
    case 'object':
      if (value === null) {
        ensure(1);
        target[pos++] = TAG_NULL;
      } else if (Array.isArray(value)) {
        writeArray(value, level);
      } else if (value instanceof Uint8Array) {
        writeBytes(value);
      } else {
        writeObject(value, level);
      }
      return;
    case 'bigint':
      writeBigInt(value);
      return;
    default:
      throw unsupportedValue(value);
  }
}

function writeVarint(value: number): void {
  if (value < TWO_POW_31) {
    while (value >= 0x80) {
      target[pos++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    target[pos++] = value;
    return;
  }
  // Past 2^31 bit operators would truncate to int32. Split once into the low 28 bits (four full
  // groups) and the rest (< 2^25, int32-safe): one division instead of one per group.
  const high = Math.floor(value / TWO_POW_28);
  const low = value - high * TWO_POW_28;
  target[pos++] = (low & 0x7f) | 0x80;
  target[pos++] = ((low >>> 7) & 0x7f) | 0x80;
  target[pos++] = ((low >>> 14) & 0x7f) | 0x80;
  target[pos++] = ((low >>> 21) & 0x7f) | 0x80;
  let rest = high;
  while (rest >= 0x80) {
    target[pos++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  target[pos++] = rest;
}

function writeNumber(value: number): void {
  ensure(MAX_HEADER_BYTES);
  if ((value | 0) === value) {
    if (value >= 0) {
      if (value > TAG_FIXINT_MAX) {
        target[pos++] = TAG_UINT;
        writeVarint(value);
      } else if (value === 0 && 1 / value < 0) {
        writeFloat64(value); // -0 passes the int32 test but is not an integer on the wire
      } else {
        target[pos++] = value;
      }
    } else if (value >= NEGATIVE_FIXINT_MIN) {
      target[pos++] = value & 0xff;
    } else {
      target[pos++] = TAG_NEGATIVE_INT;
      writeVarint(-1 - value);
    }
  } else if (Number.isSafeInteger(value)) {
    if (value > 0) {
      target[pos++] = TAG_UINT;
      writeVarint(value);
    } else {
      target[pos++] = TAG_NEGATIVE_INT;
      writeVarint(-1 - value);
    }
  } else {
    writeFloat64(value);
  }
}

function writeFloat64(value: number): void {
  target[pos++] = TAG_FLOAT64;
  if (Number.isNaN(value)) {
    // Every NaN goes out as the canonical quiet NaN so equal packets have equal bytes.
    target.fill(0, pos, pos + 6);
    target[pos + 6] = CANONICAL_NAN_HIGH_BYTES[0];
    target[pos + 7] = CANONICAL_NAN_HIGH_BYTES[1];
  } else {
    targetView.setFloat64(pos, value, true);
  }
  pos += 8;
}

/**
 * Writes a string value (tagged: fixstr or TAG_STRING) or an object key (untagged varint length).
 * ASCII is assumed first: the header is sized for one byte per unit and the units are copied straight
 * across; the first non-ASCII unit hands the rest of the string to the exact-length path.
 */
function writeString(text: string, isKey: boolean): void {
  const units = text.length;
  if (units >= NATIVE_STRING_MIN_UNITS) {
    writeLongString(text, isKey);
    return;
  }
  ensure(MAX_HEADER_BYTES + units * MAX_UTF8_BYTES_PER_UNIT);
  const header = headerSize(units, isKey);
  const out = target; // a local: the loop then needs no reload of the module variable per byte
  let at = pos + header;
  for (let i = 0; i < units; i++) {
    const unit = text.charCodeAt(i);
    if (unit >= 0x80) {
      finishUnicodeString(text, i, header, isKey);
      return;
    }
    out[at++] = unit;
  }
  writeStringHeader(units, isKey);
  pos = at;
}

/**
 * The ASCII prefix `text[0..asciiUnits)` is already written after a `guessedHeader`-byte gap at `pos`.
 * Encode the rest right behind it, then fix the gap if the real length needs a longer header (room
 * for that was reserved: 3 bytes per unit plus a full header).
 */
function finishUnicodeString(text: string, asciiUnits: number, guessedHeader: number, isKey: boolean): void {
  const bodyAt = pos + guessedHeader;
  const bodyEnd = writeUtf8(text, asciiUnits, target, bodyAt + asciiUnits);
  if (bodyEnd < 0) throw invalidString(text, isKey);
  const byteLength = bodyEnd - bodyAt;
  const header = headerSize(byteLength, isKey);
  if (header !== guessedHeader) target.copyWithin(pos + header, bodyAt, bodyEnd);
  writeStringHeader(byteLength, isKey);
  pos += byteLength;
}

function writeLongString(text: string, isKey: boolean): void {
  if (!isWellFormed(text)) throw invalidString(text, isKey);
  const units = text.length;
  const room = units * MAX_UTF8_BYTES_PER_UNIT;
  ensure(MAX_HEADER_BYTES + room);
  // Guess the header from the unit count (exact for ASCII); UTF-8 is never shorter, so a wrong guess
  // only ever needs the body moved right, which copyWithin does in place.
  const guessedHeader = headerSize(units, isKey);
  const bodyStart = pos + guessedHeader;
  const byteLength = writeUtf8Native(text, target, bodyStart, room);
  if (byteLength > MAX_STRING_BYTES) throw stringTooLarge(byteLength);
  const header = headerSize(byteLength, isKey);
  if (header !== guessedHeader) target.copyWithin(pos + header, bodyStart, bodyStart + byteLength);
  writeStringHeader(byteLength, isKey);
  pos += byteLength;
}

function headerSize(byteLength: number, isKey: boolean): number {
  if (isKey) return varintSize(byteLength);
  return byteLength <= FIXSTR_MAX_BYTES ? 1 : 1 + varintSize(byteLength);
}

function writeStringHeader(byteLength: number, isKey: boolean): void {
  if (isKey) {
    writeVarint(byteLength);
  } else if (byteLength <= FIXSTR_MAX_BYTES) {
    target[pos++] = TAG_FIXSTR | byteLength;
  } else {
    target[pos++] = TAG_STRING;
    writeVarint(byteLength);
  }
}

function writeBytes(bytes: Uint8Array): void {
  const length = bytes.length;
  ensure(MAX_HEADER_BYTES + length);
  target[pos++] = TAG_BYTES;
  writeVarint(length);
  target.set(bytes, pos);
  pos += length;
}

function writeArray(array: readonly unknown[], level: number): void {
  const depth = level + 1;
  if (depth > MAX_DEPTH) throw tooDeep();
  const count = array.length;
  ensure(MAX_HEADER_BYTES);
  if (count <= FIXCONTAINER_MAX_ITEMS) {
    target[pos++] = TAG_FIXARRAY | count;
  } else {
    target[pos++] = TAG_ARRAY;
    writeVarint(count);
  }
  for (let i = 0; i < count; i++) {
    try {
      writeValue(array[i], depth);
    } catch (error) {
      throw withSegment(error, i);
    }
  }
}

function writeObject(object: object, level: number): void {
  const prototype = Object.getPrototypeOf(object);
  // Only plain data: a class instance, Map, Date, boxed primitive... would lose its meaning on the wire.
  if (prototype !== Object.prototype && prototype !== null) throw unsupportedValue(object);
  const depth = level + 1;
  if (depth > MAX_DEPTH) throw tooDeep();
  const record = object as Record<string, unknown>;
  if (!objectPrototypeIsClean && prototype !== null) {
    writeObjectByKeys(record, depth);
    return;
  }
  // The entry count is known only after the loop: reserve the one-byte fixobject header, and in the
  // rare case of more than 15 entries move the body right to make room for TAG_OBJECT and a varint.
  ensure(1);
  const headerOffset = pos - start; // relative: a grow() during the loop moves the packet
  pos++;
  let count = 0;
  for (const key in record) {
    try {
      writeString(key, true);
      writeValue(record[key], depth);
    } catch (error) {
      throw withSegment(error, key);
    }
    count++;
  }
  if (count <= FIXCONTAINER_MAX_ITEMS) {
    target[start + headerOffset] = TAG_FIXOBJECT | count;
    return;
  }
  const extra = varintSize(count);
  ensure(extra);
  const headerAt = start + headerOffset;
  target.copyWithin(headerAt + 1 + extra, headerAt + 1, pos);
  const bodyEnd = pos + extra;
  target[headerAt] = TAG_OBJECT;
  pos = headerAt + 1;
  writeVarint(count);
  pos = bodyEnd;
}

/** The slow, always-correct walk used while Object.prototype carries enumerable (polluting) keys. */
function writeObjectByKeys(record: Record<string, unknown>, depth: number): void {
  const keys = Object.keys(record);
  const count = keys.length;
  ensure(MAX_HEADER_BYTES);
  if (count <= FIXCONTAINER_MAX_ITEMS) {
    target[pos++] = TAG_FIXOBJECT | count;
  } else {
    target[pos++] = TAG_OBJECT;
    writeVarint(count);
  }
  for (let i = 0; i < count; i++) {
    const key = keys[i]!;
    try {
      writeString(key, true);
      writeValue(record[key], depth);
    } catch (error) {
      throw withSegment(error, key);
    }
  }
}

/** Hex digit value by char code, for turning `bigint.toString(16)` into bytes without parseInt. */
function hexDigit(code: number): number {
  return code <= 0x39 ? code - 0x30 : code - 0x57; // '0'..'9', then 'a'..'f'
}

function writeBigInt(value: bigint): void {
  const negative = value < 0n;
  const hex = value === 0n ? '' : (negative ? -value : value).toString(16);
  const byteLength = (hex.length + 1) >> 1;
  if (byteLength > MAX_BIGINT_BYTES) throw bigintTooLarge(byteLength);
  ensure(MAX_HEADER_BYTES + byteLength);
  target[pos++] = negative ? TAG_NEGATIVE_BIGINT : TAG_POSITIVE_BIGINT;
  writeVarint(byteLength);
  // Least significant byte first: walk the hex digits from the right, two at a time.
  for (let digit = hex.length; digit > 0; digit -= 2) {
    const low = hexDigit(hex.charCodeAt(digit - 1));
    const high = digit >= 2 ? hexDigit(hex.charCodeAt(digit - 2)) : 0;
    target[pos++] = (high << 4) | low;
  }
}
