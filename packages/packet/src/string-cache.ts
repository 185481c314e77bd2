/**
 * Short strings repeat: a stream of chat messages spells the keys "from", "text" and "sentAt", and
 * values such as "chat" or a room name, thousands of times. Decoding each one afresh costs a string
 * allocation, and for keys V8 must then find the new string in its internal string table before it can
 * use it as a property name. A cache hands back the very same string for the same bytes instead, so
 * both costs go away after the first message. (V8's own JSON.parse does the same for short strings.)
 *
 * Each cache is a direct-mapped table: a hash of the bytes picks one slot, the slot's string is
 * compared byte by byte (so a collision can never return a wrong string) and replaced on a miss. Only
 * ASCII is cached; anything else falls through to the ordinary decoder, which validates UTF-8.
 */

import { readAscii } from './utf8.js';

/** Longest object key (in bytes) worth caching; longer keys are rare and cost more to compare. */
const KEY_CACHE_MAX_BYTES = 32;
/** Longest string value worth caching: values are more often unique (ids, text), and a miss costs a
 *  hash and an eviction, so only enum-like short values are tried. */
const VALUE_CACHE_MAX_BYTES = 12;
/** Slots per cache: a power of two so the hash maps to a slot with a mask. A protocol has tens of
 *  keys, not thousands; a small table stays in the CPU's L1/L2 cache, which is most of its speed. */
const CACHE_SLOTS = 1024;
const SLOT_MASK = CACHE_SLOTS - 1;
/** Multipliers from MurmurHash3's finaliser: odd constants that spread a few input bits over all 32. */
const MIX_A = 0x85ebca6b;
const MIX_B = 0xc2b2ae35;
/** Bytes packed into each slot's head word. */
const HEAD_BYTES = 4;

/**
 * One cache. Each slot keeps, beside its string, the string's length, its first four bytes packed in
 * one 32-bit word, and the bytes after those, all in flat typed arrays: a lookup of a key of up to four
 * bytes ("id", "type", "room") is then one integer comparison, and the string object is touched only
 * on a hit.
 */
class StringCache {
  readonly strings: string[] = new Array<string>(CACHE_SLOTS).fill('');
  readonly lengths = new Int16Array(CACHE_SLOTS).fill(-1);
  readonly heads = new Int32Array(CACHE_SLOTS);
  readonly tails: Uint8Array;
  readonly tailBytes: number;

  constructor(readonly maxBytes: number) {
    this.tailBytes = maxBytes - HEAD_BYTES;
    this.tails = new Uint8Array(CACHE_SLOTS * this.tailBytes);
  }
}

const keyCache = new StringCache(KEY_CACHE_MAX_BYTES);
const valueCache = new StringCache(VALUE_CACHE_MAX_BYTES);

/**
 * The object key spelled by `length` bytes at `start`, cached; undefined when it is not short ASCII.
 * The caller has checked that the bytes are in bounds.
 */
export function readCachedKey(source: Uint8Array, start: number, length: number): string | undefined {
  if (length > KEY_CACHE_MAX_BYTES) return undefined;
  return lookUp(keyCache, source, start, length);
}

/** As readCachedKey, for short string values. */
export function readCachedValue(source: Uint8Array, start: number, length: number): string | undefined {
  if (length > VALUE_CACHE_MAX_BYTES) return undefined;
  return lookUp(valueCache, source, start, length);
}

function lookUp(cache: StringCache, source: Uint8Array, start: number, length: number): string | undefined {
  // The first four bytes (zero-padded) as one word, then a hash of the word, the length and the last
  // byte: short strings of one protocol differ there almost always, and a collision merely costs a
  // miss, never a wrong answer (the compare below).
  let head = 0;
  switch (length) {
    case 0:
      break;
    case 1:
      head = source[start]!;
      break;
    case 2:
      head = source[start]! | (source[start + 1]! << 8);
      break;
    case 3:
      head = source[start]! | (source[start + 1]! << 8) | (source[start + 2]! << 16);
      break;
    default:
      head =
        source[start]! | (source[start + 1]! << 8) | (source[start + 2]! << 16) | (source[start + 3]! << 24);
  }
  let hash = Math.imul(head ^ (length << 27), MIX_A);
  hash = Math.imul(hash ^ (hash >>> 15) ^ (length > 0 ? source[start + length - 1]! : 0), MIX_B);
  const slot = (hash ^ (hash >>> 13)) & SLOT_MASK;
  const tails = cache.tails;
  const base = slot * cache.tailBytes - HEAD_BYTES;
  if (cache.heads[slot] === head && cache.lengths[slot] === length) {
    let same = HEAD_BYTES;
    while (same < length && tails[base + same] === source[start + same]) same++;
    if (same >= length) return cache.strings[slot];
  }
  const text = readAscii(source, start, length);
  if (text !== undefined) {
    cache.strings[slot] = text;
    cache.lengths[slot] = length;
    cache.heads[slot] = head;
    for (let i = HEAD_BYTES; i < length; i++) tails[base + i] = source[start + i]!;
  }
  return text;
}
