/**
 * UTF-8 helpers for the codec's hot paths. Short strings are cheaper to convert in JavaScript than to
 * hand to TextEncoder/TextDecoder (each call crosses into C++ and allocates a view), so the encoder
 * writes short strings itself and the decoder builds short ASCII itself; everything else goes to the
 * platform codecs, which measured faster than JavaScript on non-ASCII input of any length.
 *
 * Decoding validity is the platform decoder's in fatal mode, i.e. the WHATWG Encoding "UTF-8 decode"
 * algorithm, which matches the Unicode Standard, Table 3-7: no overlong forms, no surrogate code points
 * (U+D800..U+DFFF), nothing above U+10FFFF.
 */

/** One scratch `TextDecoder`: fatal so that bad bytes throw instead of turning into U+FFFD, and
 *  `ignoreBOM` so that a leading U+FEFF survives the round trip like any other character. */
const strictDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

const FIRST_HIGH_SURROGATE = 0xd800;
const FIRST_LOW_SURROGATE = 0xdc00;
const LAST_LOW_SURROGATE = 0xdfff;
/** Code points encoded in 2, 3 and 4 bytes start here. */
const FIRST_TWO_BYTE = 0x80;
const FIRST_THREE_BYTE = 0x800;
const FIRST_FOUR_BYTE = 0x10000;

/** Index of the first lone surrogate in `text`, or -1 if it is well-formed UTF-16. */
export function findLoneSurrogate(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < FIRST_HIGH_SURROGATE || unit > LAST_LOW_SURROGATE) continue;
    if (unit >= FIRST_LOW_SURROGATE) return i;
    const next = text.charCodeAt(i + 1);
    if (!(next >= FIRST_LOW_SURROGATE && next <= LAST_LOW_SURROGATE)) return i;
    i++;
  }
  return -1;
}

type WellFormedCheck = (text: string) => boolean;
/** ES2024 `String.prototype.isWellFormed` is native (and SIMD-fast) on Node 20+; the scan is a fallback. */
const nativeIsWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;
export const isWellFormed: WellFormedCheck =
  nativeIsWellFormed === undefined
    ? (text) => findLoneSurrogate(text) === -1
    : (text) => nativeIsWellFormed.call(text);

/**
 * Writes `text` from unit `from` on as UTF-8 into `target` at `offset`; returns the offset after it,
 * or -1 if the string holds a lone surrogate (which has no UTF-8 form). One pass: the caller sized
 * `target` for the worst case (3 bytes per unit) and fixes its header afterwards if needed.
 */
export function writeUtf8(text: string, from: number, target: Uint8Array, offset: number): number {
  let at = offset;
  for (let i = from; i < text.length; i++) {
    let unit = text.charCodeAt(i);
    if (unit < FIRST_TWO_BYTE) {
      target[at++] = unit;
    } else if (unit < FIRST_THREE_BYTE) {
      target[at++] = 0xc0 | (unit >> 6);
      target[at++] = 0x80 | (unit & 0x3f);
    } else if (unit < FIRST_HIGH_SURROGATE || unit > LAST_LOW_SURROGATE) {
      target[at++] = 0xe0 | (unit >> 12);
      target[at++] = 0x80 | ((unit >> 6) & 0x3f);
      target[at++] = 0x80 | (unit & 0x3f);
    } else {
      const next = text.charCodeAt(i + 1); // NaN past the end, which fails the range test
      if (unit >= FIRST_LOW_SURROGATE || !(next >= FIRST_LOW_SURROGATE && next <= LAST_LOW_SURROGATE)) {
        return -1;
      }
      unit = FIRST_FOUR_BYTE + ((unit - FIRST_HIGH_SURROGATE) << 10) + (next - FIRST_LOW_SURROGATE);
      i++;
      target[at++] = 0xf0 | (unit >> 18);
      target[at++] = 0x80 | ((unit >> 12) & 0x3f);
      target[at++] = 0x80 | ((unit >> 6) & 0x3f);
      target[at++] = 0x80 | (unit & 0x3f);
    }
  }
  return at;
}

/**
 * Writes well-formed `text` with the platform encoder; returns the number of bytes written. `target`
 * must have room for 3 bytes per UTF-16 unit (the worst case).
 */
export function writeUtf8Native(text: string, target: Uint8Array, offset: number, room: number): number {
  return encoder.encodeInto(text, target.subarray(offset, offset + room)).written;
}

/** Longest run `readAscii` turns into a string with a single String.fromCharCode call. */
const FROM_CHAR_CODE_RUN = 8;
const fromCharCode = String.fromCharCode;

/**
 * The string spelled by `length` bytes at `start` if they are all ASCII, else undefined. For short
 * strings this beats every alternative measured on Node 20 (string concatenation, fromCharCode.apply,
 * TextDecoder, Buffer#latin1Slice) by 2-5x: fixed-arity fromCharCode calls are inlined by TurboFan.
 */
export function readAscii(source: Uint8Array, start: number, length: number): string | undefined {
  let bits = 0;
  for (let i = start; i < start + length; i++) bits |= source[i]!;
  if (bits >= 0x80) return undefined;
  return asciiRun(source, start, length);
}

function asciiRun(s: Uint8Array, at: number, length: number): string {
  switch (length) {
    case 0:
      return '';
    case 1:
      return fromCharCode(s[at]!);
    case 2:
      return fromCharCode(s[at]!, s[at + 1]!);
    case 3:
      return fromCharCode(s[at]!, s[at + 1]!, s[at + 2]!);
    case 4:
      return fromCharCode(s[at]!, s[at + 1]!, s[at + 2]!, s[at + 3]!);
    case 5:
      return fromCharCode(s[at]!, s[at + 1]!, s[at + 2]!, s[at + 3]!, s[at + 4]!);
    case 6:
      return fromCharCode(s[at]!, s[at + 1]!, s[at + 2]!, s[at + 3]!, s[at + 4]!, s[at + 5]!);
    case 7:
      return fromCharCode(s[at]!, s[at + 1]!, s[at + 2]!, s[at + 3]!, s[at + 4]!, s[at + 5]!, s[at + 6]!);
    default: {
      const head = fromCharCode(
        s[at]!,
        s[at + 1]!,
        s[at + 2]!,
        s[at + 3]!,
        s[at + 4]!,
        s[at + 5]!,
        s[at + 6]!,
        s[at + 7]!,
      );
      return length === FROM_CHAR_CODE_RUN
        ? head
        : head + asciiRun(s, at + FROM_CHAR_CODE_RUN, length - FROM_CHAR_CODE_RUN);
    }
  }
}

/** Strict platform decode of `length` bytes at `start`; undefined if they are not valid UTF-8. */
export function readUtf8Native(source: Uint8Array, start: number, length: number): string | undefined {
  try {
    return strictDecoder.decode(source.subarray(start, start + length));
  } catch {
    // Fatal TextDecoder throws a TypeError for malformed input; the caller turns that into a PacketError.
    return undefined;
  }
}
