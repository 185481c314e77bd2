/**
 * Deep equality with the codec's own notion of "the same value": what survives an encode/decode round
 * trip unchanged. That is stricter than `===` for numbers (Object.is: -0 is not 0, NaN is NaN) and
 * looser for bytes (compared by content, so a Buffer equals a Uint8Array holding the same bytes).
 */

import type { PacketValue } from './packet-value.js';

/** Byte arrays at least this long are compared a 32-bit word at a time when both views are aligned. */
const WORD_COMPARE_MIN_BYTES = 64;

export function valuesEqual(left: readonly PacketValue[], right: readonly PacketValue[]): boolean {
  if (left.length !== right.length) return false;
  for (let i = 0; i < left.length; i++) {
    if (!valueEqual(left[i], right[i])) return false;
  }
  return true;
}

export function valueEqual(left: unknown, right: unknown): boolean {
  if (typeof left !== typeof right) return false;
  switch (typeof left) {
    case 'number':
      return Object.is(left, right);
    case 'object':
      return objectEqual(left, right as object | null);
    default:
      // strings, booleans and bigints compare by value; anything else by identity.
      return left === right;
  }
}

function objectEqual(left: object | null, right: object | null): boolean {
  if (left === right) return true;
  if (left === null || right === null) return false;
  if (Array.isArray(left)) {
    return Array.isArray(right) && valuesEqual(left as PacketValue[], right as PacketValue[]);
  }
  if (left instanceof Uint8Array) return right instanceof Uint8Array && bytesEqual(left, right);
  if (Array.isArray(right) || right instanceof Uint8Array) return false;
  return recordEqual(left as Record<string, unknown>, right as Record<string, unknown>);
}

/** Same own enumerable keys (in any order: key order is not part of a value's meaning) and equal values. */
function recordEqual(left: Record<string, unknown>, right: Record<string, unknown>): boolean {
  const keys = Object.keys(left);
  if (keys.length !== Object.keys(right).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(right, key)) return false;
    if (!valueEqual(left[key], right[key])) return false;
  }
  return true;
}

export function bytesEqual(left: Uint8Array, right: Uint8Array): boolean {
  const length = left.length;
  if (length !== right.length) return false;
  let start = 0;
  // Compare four bytes at a time when both views are 4-byte aligned; decoded views often are not.
  if (length >= WORD_COMPARE_MIN_BYTES && left.byteOffset % 4 === 0 && right.byteOffset % 4 === 0) {
    const words = length >>> 2;
    const leftWords = new Uint32Array(left.buffer, left.byteOffset, words);
    const rightWords = new Uint32Array(right.buffer, right.byteOffset, words);
    for (let i = 0; i < words; i++) {
      if (leftWords[i] !== rightWords[i]) return false;
    }
    start = words << 2;
  }
  for (let i = start; i < length; i++) {
    if (left[i] !== right[i]) return false;
  }
  return true;
}
