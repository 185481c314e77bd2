/**
 * What a packet can carry, and how error messages name a value and where it sits.
 */

/**
 * A value a packet can carry. Everything else (undefined, functions, symbols, Map, Set, Date, class
 * instances, typed arrays other than Uint8Array) is refused at encode with ANTT_PACKET_UNSUPPORTED_VALUE.
 *
 * - `number`: every IEEE 754 double, bit-exact, including -0, ±Infinity and NaN (NaN's payload bits are
 *   not kept: every NaN is sent as the canonical quiet NaN).
 * - `bigint`: any sign, up to 2^23 bits of magnitude; it decodes as a bigint, never as a number.
 * - `string`: well-formed UTF-16 only (no lone surrogates), sent as UTF-8.
 * - `Uint8Array`: any view, Buffer included; decodes as a plain Uint8Array view into the input bytes.
 * - arrays and plain objects (prototype Object.prototype or null) with string keys, nested at most
 *   MAX_DEPTH (64) deep. Only own enumerable string keys are sent, as with JSON.
 */
export type PacketValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | readonly PacketValue[]
  | { readonly [key: string]: PacketValue };

/** Identifier-like keys print as `.name`; anything else prints as `["a key"]`. */
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/**
 * The path of the value at `level`, e.g. `values[2].user.tags[0]`: `pathKeys[0]` is the index among
 * the packet's values and `pathKeys[n]` the index or key inside the container at level n - 1.
 */
export function formatPath(pathKeys: readonly (string | number)[], level: number): string {
  let path = `values[${pathKeys[0]}]`;
  for (let at = 1; at <= level; at++) {
    const key = pathKeys[at]!;
    if (typeof key === 'number') path += `[${key}]`;
    else if (IDENTIFIER.test(key)) path += `.${key}`;
    // JSON.stringify escapes quotes, control characters and lone surrogates, so the path stays printable.
    else path += `[${JSON.stringify(key)}]`;
  }
  return path;
}

/** A short phrase for an unsupported value: "undefined", "a function", "a Map", "an instance of User". */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'undefined':
      return 'undefined';
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    case 'object': {
      if (value === null) return 'null';
      const name = constructorName(value);
      if (name === undefined) return 'an object with a non-plain prototype';
      // "a Uint8ClampedArray" but "an Int8Array", "an instance of User".
      return /^[aeio]/i.test(name) ? `an ${name}` : `a ${name}`;
    }
    default:
      return typeof value;
  }
}

function constructorName(value: object): string | undefined {
  try {
    const maker = (Object.getPrototypeOf(value) as { constructor?: unknown } | null)?.constructor;
    if (typeof maker === 'function' && maker.name !== '') {
      return BUILTIN_NAMES.has(maker.name) ? maker.name : `instance of ${maker.name}`;
    }
  } catch {
    // A Proxy trap or a throwing getter: fall back to the generic description.
  }
  return undefined;
}

/** Built-ins named as such ("a Map"); anything else is "an instance of X" to point at the user's class. */
const BUILTIN_NAMES = new Set([
  'Map',
  'Set',
  'WeakMap',
  'WeakSet',
  'Date',
  'RegExp',
  'Error',
  'Promise',
  'ArrayBuffer',
  'SharedArrayBuffer',
  'DataView',
  'Int8Array',
  'Uint8ClampedArray',
  'Int16Array',
  'Uint16Array',
  'Int32Array',
  'Uint32Array',
  'Float32Array',
  'Float64Array',
  'BigInt64Array',
  'BigUint64Array',
  'String',
  'Number',
  'Boolean',
  'Symbol',
  'BigInt',
]);
