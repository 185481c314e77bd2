/**
 * fast-check arbitraries for everything a packet can carry, tuned to hit the codec's edges: every
 * tag's boundaries (fixint 127/128, fixstr 31/32 bytes, fix containers 15/16 items, varint byte
 * counts), -0, NaN, huge bigints, non-ASCII and astral strings, "__proto__" keys and Buffers.
 */

import fc from 'fast-check';
import type { PacketValue } from '../src/index.js';

const edgeNumbers = fc.constantFrom(
  0,
  -0,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  127,
  128,
  -32,
  -33,
  2 ** 31 - 1,
  2 ** 31,
  -(2 ** 31),
  2 ** 28,
  2 ** 53 - 1,
  -(2 ** 53 - 1),
  2 ** 53,
  -(2 ** 53),
  2 ** 53 + 2,
  Number.MIN_VALUE,
  -Number.MIN_VALUE,
  Number.MAX_VALUE,
  Number.EPSILON,
  0.1,
  1e21,
);

export const numberArbitrary: fc.Arbitrary<number> = fc.oneof(
  edgeNumbers,
  fc.integer({ min: -40, max: 140 }),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double(),
);

export const bigintArbitrary: fc.Arbitrary<bigint> = fc.oneof(
  fc.bigInt({ min: -(2n ** 64n), max: 2n ** 64n }),
  fc.bigInt({ min: -(2n ** 2000n), max: 2n ** 2000n }),
  fc.constantFrom(0n, -1n, 1n, 255n, 256n, -256n, 2n ** 48n, 2n ** 56n - 1n),
);

/** Well-formed strings only: the codec refuses lone surrogates, and they are tested on their own. */
export const stringArbitrary: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', minLength: 60, maxLength: 200 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 60, maxLength: 120 }) },
  fc.constantFrom(
    '',
    '\uFEFF',
    '\uFEFFbom',
    'é',
    '😀',
    'a'.repeat(31),
    'a'.repeat(32),
    'a'.repeat(127),
    'a'.repeat(128),
  ),
);

export const keyArbitrary: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', '0', '1', 'a b', 'ключ') },
);

export const bytesArbitrary: fc.Arbitrary<Uint8Array> = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 120, maxLength: 400 }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 40 }).map((array) => Buffer.from(array)) },
);

/** Builds an object the safe way, so that a "__proto__" key becomes an own property as on decode. */
function objectFrom(
  entries: readonly (readonly [string, PacketValue])[],
  nullPrototype: boolean,
): PacketValue {
  const object: Record<string, PacketValue> = nullPrototype ? Object.create(null) : {};
  for (const [key, value] of entries) {
    Object.defineProperty(object, key, { value, writable: true, enumerable: true, configurable: true });
  }
  return object;
}

export const scalarArbitrary: fc.Arbitrary<PacketValue> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  numberArbitrary,
  bigintArbitrary,
  stringArbitrary,
  bytesArbitrary,
);

/** Any PacketValue, nested a few levels (the depth limit has its own tests). */
export const valueArbitrary: fc.Arbitrary<PacketValue> = fc.letrec<{ value: PacketValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', maxDepth: 4 },
    { weight: 6, arbitrary: scalarArbitrary },
    { weight: 3, arbitrary: fc.array(tie('value'), { maxLength: 4, size: 'small' }) },
    {
      weight: 3,
      arbitrary: fc
        .tuple(fc.array(fc.tuple(keyArbitrary, tie('value')), { maxLength: 4, size: 'small' }), fc.boolean())
        .map(([entries, nullPrototype]) => objectFrom(entries, nullPrototype)),
    },
    // Wide containers of scalars cross the 15-item fix-form boundary without blowing up the size.
    { weight: 1, arbitrary: fc.array(scalarArbitrary, { minLength: 14, maxLength: 20 }) },
    {
      weight: 1,
      arbitrary: fc
        .array(fc.tuple(keyArbitrary, scalarArbitrary), { minLength: 14, maxLength: 20 })
        .map((entries) => objectFrom(entries, false)),
    },
  ),
})).value;

/** The values of one packet. */
export const valuesArbitrary: fc.Arbitrary<PacketValue[]> = fc.array(valueArbitrary, {
  minLength: 1,
  maxLength: 4,
});
