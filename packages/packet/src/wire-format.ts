/**
 * The Antt packet wire format, version 1: tag bytes, size classes and hard limits shared by the encoder
 * and the decoder. README.md ("Wire format") is the normative description; keep the two in step, and
 * `src/readme.test.ts` checks the worked example there against this code.
 *
 * Layout of a packet: `version:u8` `count:varint` then `count` values. Every value starts with one tag
 * byte; the high bits of the tag pick the kind and, for the small "fix" forms, the low bits carry the
 * value or the length so that common small messages cost one byte per header.
 */

/** First byte of every packet. A decoder rejects any other version with `ANTT_PACKET_UNSUPPORTED_VERSION`. */
export const PACKET_FORMAT_VERSION = 1;

/**
 * Deepest nesting of arrays and objects a packet may hold: a top-level array is at depth 1, an array
 * inside it at depth 2, and so on. Scalars add no depth. 64 is far beyond any real message and keeps
 * both the recursive encoder and decoder a few kilobytes of stack away from overflow.
 */
export const MAX_DEPTH = 64;

/**
 * Largest bigint magnitude, in bytes (8,388,608 bits). V8 refuses bigints above 2^30 bits with a
 * RangeError; a smaller, documented cap keeps a hostile packet from asking for that and keeps
 * `BigInt('0x…')` parsing cheap.
 */
export const MAX_BIGINT_BYTES = 1024 * 1024;

/**
 * Longest UTF-8 string payload, in bytes (256 MiB). V8 strings top out near 2^29 UTF-16 units; capping
 * the byte length below that means a string that passes this check can always be materialised.
 */
export const MAX_STRING_BYTES = 256 * 1024 * 1024;

/** Largest value a length or integer varint may carry: Number.MAX_SAFE_INTEGER (2^53 - 1). */
export const MAX_VARINT_VALUE = Number.MAX_SAFE_INTEGER;

/** A varint never needs more than 8 bytes: 8 x 7 = 56 bits covers the 53 a safe integer has. */
export const MAX_VARINT_BYTES = 8;

// Tag ranges. Each "fix" range keeps its payload in the low bits of the tag.
/** 0x00-0x7f: the integer 0..127 itself. */
export const TAG_FIXINT_MAX = 0x7f;
/** 0x80-0x9f: a string whose UTF-8 length (0..31) is `tag & 0x1f`. */
export const TAG_FIXSTR = 0x80;
export const FIXSTR_MAX_BYTES = 0x1f;
/** 0xa0-0xaf: an array of `tag & 0x0f` (0..15) values. */
export const TAG_FIXARRAY = 0xa0;
/** 0xb0-0xbf: an object of `tag & 0x0f` (0..15) entries. */
export const TAG_FIXOBJECT = 0xb0;
export const FIXCONTAINER_MAX_ITEMS = 0x0f;
/** 0xe0-0xff: the integer -32..-1, i.e. the tag read as a signed byte. */
export const TAG_NEGATIVE_FIXINT = 0xe0;
export const NEGATIVE_FIXINT_MIN = -32;

// Single tags, 0xc0-0xcb. 0xcc-0xdf are reserved and decode as ANTT_PACKET_UNKNOWN_TAG.
export const TAG_NULL = 0xc0;
export const TAG_FALSE = 0xc1;
export const TAG_TRUE = 0xc2;
/** varint n: the integer n (0 <= n <= 2^53 - 1). */
export const TAG_UINT = 0xc3;
/** varint n: the integer -1 - n, so -2^53 <= value <= -1. */
export const TAG_NEGATIVE_INT = 0xc4;
/** 8 bytes: IEEE 754 binary64, little-endian. */
export const TAG_FLOAT64 = 0xc5;
/** varint length, then that many bytes of UTF-8. */
export const TAG_STRING = 0xc6;
/** varint length, then that many raw bytes. */
export const TAG_BYTES = 0xc7;
/** varint count, then that many values. */
export const TAG_ARRAY = 0xc8;
/** varint count, then that many entries of (key: varint length + UTF-8 bytes, value). */
export const TAG_OBJECT = 0xc9;
/** varint length, then that many bytes of magnitude, least significant byte first. */
export const TAG_POSITIVE_BIGINT = 0xca;
/** As TAG_POSITIVE_BIGINT; the value is minus the magnitude. */
export const TAG_NEGATIVE_BIGINT = 0xcb;

/**
 * Smallest number of bytes one array element can take (a one-byte tag). A count larger than the bytes
 * left cannot be honest, so the decoder refuses it before allocating the array.
 */
export const MIN_ARRAY_ITEM_BYTES = 1;
/** Smallest object entry: a one-byte key length (empty key) and a one-byte value. */
export const MIN_OBJECT_ENTRY_BYTES = 2;

/** Bytes the shortest varint for `value` takes (value is a non-negative safe integer). */
export function varintSize(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  if (value < 0x10000000) return 4;
  // Past 2^28 shifts would overflow int32, so count 7-bit groups with division.
  let size = 4;
  let rest = Math.floor(value / 0x10000000);
  while (rest > 0) {
    size++;
    rest = Math.floor(rest / 0x80);
  }
  return size;
}
