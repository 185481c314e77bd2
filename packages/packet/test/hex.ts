/**
 * Test helpers: write byte strings the way the README does, as hex with optional spaces and comments.
 */

/** `bytes('01 02 | c3 ff 01')` → Uint8Array [1, 2, 0xc3, 0xff, 1]. `|` and whitespace are ignored. */
export function bytes(hexText: string): Uint8Array {
  const digits = hexText.replace(/[\s|]/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(digits)) throw new Error(`not hex bytes: ${hexText}`);
  return Uint8Array.from(digits.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
}

/** Lowercase hex without separators. */
export function toHex(data: Uint8Array): string {
  return Array.from(data, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** Unsigned LEB128, for building length fields by hand (also past 2^53, to test rejection). */
export function varint(value: bigint | number): string {
  let rest = BigInt(value);
  const out: number[] = [];
  do {
    const group = Number(rest & 0x7fn);
    rest >>= 7n;
    out.push(rest > 0n ? group | 0x80 : group);
  } while (rest > 0n);
  return out.map((byte) => byte.toString(16).padStart(2, '0')).join(' ');
}

/**
 * The seed for randomised tests: ANTT_TEST_SEED when set (to replay a failure), else `fallback`.
 */
export function testSeed(fallback: number): number {
  const fromEnv = process.env.ANTT_TEST_SEED;
  if (fromEnv === undefined || fromEnv === '') return fallback;
  const seed = Number(fromEnv);
  if (!Number.isInteger(seed)) throw new Error(`ANTT_TEST_SEED must be an integer, got ${fromEnv}`);
  return seed | 0;
}
