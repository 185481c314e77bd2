/**
 * Fuzz: Packet.decode on 100,000+ hostile inputs (valid packets mutated by bit flips, byte stores,
 * truncations, insertions, deletions, splices and length-field rewrites, plus plain random bytes).
 * The only acceptable outcomes are a PacketError or a packet that survives its own round trip; any
 * other exception (RangeError, TypeError, stack overflow...) fails the test with the input in hex.
 *
 * Deterministic: one seed drives everything (default below; ANTT_TEST_SEED replays another).
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { valuesArbitrary } from '../test/arbitraries.js';
import { bytes, testSeed, toHex, varint } from '../test/hex.js';
import { type DecodeOptions, MAX_DEPTH, Packet, PacketError } from './index.js';

const FUZZ_CASES = 100_000;
const CORPUS_PACKETS = 400;
const DEFAULT_SEED = 0x5eed_2024;
const seed = testSeed(DEFAULT_SEED);

/** Mulberry32: a small, seedable PRNG so every run mutates the same way. */
function prng(start: number): () => number {
  let state = start >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Bytes that sit on the format's boundaries: tags, fix-form edges, varint continuation. */
const INTERESTING_BYTES = [
  0x00, 0x01, 0x7f, 0x80, 0x81, 0x9f, 0xa0, 0xaf, 0xb0, 0xbf, 0xc0, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9,
  0xca, 0xcb, 0xcc, 0xdf, 0xe0, 0xed, 0xf4, 0xff,
];
/** Lengths a hostile peer would claim. */
const INTERESTING_LENGTHS = [
  0,
  1,
  15,
  16,
  31,
  32,
  127,
  128,
  255,
  65_535,
  2 ** 31,
  2 ** 40,
  2 ** 53 - 1,
  2n ** 53n,
  2n ** 64n,
];
const LENGTH_TAGS = new Set([0xc3, 0xc4, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xcb]);

/** Hand-made packets that reach every tag, so mutations start from every kind of header. */
const HANDMADE_CORPUS = [
  '01 00',
  '01 03 c0 c1 c2',
  '01 04 00 7f e0 ff',
  `01 02 c3 ${varint(2 ** 53 - 1)} c4 ${varint(1000)}`,
  '01 01 c5 00 00 00 00 00 00 f8 7f',
  '01 02 83 616263 c6 20 6161616161616161616161616161616161616161616161616161616161616161',
  '01 01 c7 03 010203',
  '01 01 a2 b1 01 61 a0 c8 10 00000000000000000000000000000000',
  '01 01 c9 01 09 5f5f70726f746f5f5f b0',
  '01 02 ca 02 ff 01 cb 01 05',
  `01 01 ${'a1 '.repeat(MAX_DEPTH)} 00`,
  '01 01 84 f0 9f 98 80',
].map(bytes);

type Mutation = (input: Uint8Array, random: () => number, corpus: readonly Uint8Array[]) => Uint8Array;

const pick = <T>(random: () => number, list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
const index = (random: () => number, length: number) => Math.floor(random() * length);

const MUTATIONS: readonly [string, Mutation][] = [
  [
    'bit flips',
    (input, random) => {
      const out = input.slice();
      const flips = 1 + index(random, 3);
      for (let i = 0; i < flips && out.length > 0; i++)
        out[index(random, out.length)]! ^= 1 << index(random, 8);
      return out;
    },
  ],
  [
    'byte store',
    (input, random) => {
      const out = input.slice();
      if (out.length > 0) {
        out[index(random, out.length)] =
          random() < 0.5 ? pick(random, INTERESTING_BYTES) : index(random, 256);
      }
      return out;
    },
  ],
  ['truncation', (input, random) => input.slice(0, index(random, input.length))],
  [
    'insertion',
    (input, random) => {
      const at = index(random, input.length + 1);
      const extra = Uint8Array.from({ length: 1 + index(random, 8) }, () =>
        random() < 0.5 ? pick(random, INTERESTING_BYTES) : index(random, 256),
      );
      return concat(input.subarray(0, at), extra, input.subarray(at));
    },
  ],
  [
    'deletion',
    (input, random) => {
      const at = index(random, input.length);
      return concat(input.subarray(0, at), input.subarray(at + 1 + index(random, 8)));
    },
  ],
  [
    'length-field rewrite',
    (input, random) => {
      // Find a header (a length-carrying tag or a fix form) and make it claim something else.
      for (let attempt = 0; attempt < 8; attempt++) {
        const at = index(random, input.length);
        const tag = input[at]!;
        if (LENGTH_TAGS.has(tag)) {
          const oldLength = varintLength(input, at + 1);
          const claim = bytes(varint(pick(random, INTERESTING_LENGTHS)));
          return concat(input.subarray(0, at + 1), claim, input.subarray(at + 1 + oldLength));
        }
        if (tag >= 0x80 && tag < 0xc0) {
          const out = input.slice();
          const span = tag < 0xa0 ? 0x1f : 0x0f;
          const base = tag & ~span;
          out[at] = base | ((tag + (random() < 0.5 ? 1 : span)) & span);
          return out;
        }
      }
      return input;
    },
  ],
  [
    'splice',
    (input, random, corpus) => {
      const other = pick(random, corpus);
      return concat(
        input.subarray(0, index(random, input.length + 1)),
        other.subarray(index(random, other.length)),
      );
    },
  ],
  [
    'duplicate slice',
    (input, random) => {
      const from = index(random, input.length);
      const to = from + index(random, 16);
      const at = index(random, input.length + 1);
      return concat(input.subarray(0, at), input.subarray(from, to), input.subarray(at));
    },
  ],
  [
    'random bytes',
    (_, random) => {
      const out = Uint8Array.from({ length: index(random, 48) }, () => index(random, 256));
      if (out.length > 0 && random() < 0.9) out[0] = 1;
      return out;
    },
  ],
];

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Bytes taken by the varint at `at` (up to the end of input if it never terminates). */
function varintLength(input: Uint8Array, at: number): number {
  let length = 0;
  while (at + length < input.length && input[at + length]! >= 0x80) length++;
  return Math.min(length + 1, input.length - at);
}

const OPTION_CHOICES: readonly (DecodeOptions | undefined)[] = [
  undefined,
  undefined,
  undefined,
  { maxDepth: 3 },
  { maxItems: 10 },
  { maxBytes: 64 },
];

describe('decoder fuzz', () => {
  it(`${FUZZ_CASES} hostile inputs raise only PacketError`, () => {
    console.info(`[packet fuzz] seed ${seed}; replay with ANTT_TEST_SEED=${seed}`);
    const random = prng(seed);
    const generated = fc
      .sample(valuesArbitrary, { numRuns: CORPUS_PACKETS, seed })
      .map((values) => new Packet(...values).encode().slice());
    const corpus = [...HANDMADE_CORPUS, ...generated];
    const outcomes = new Map<string, number>();
    for (let run = 0; run < FUZZ_CASES; run++) {
      const [name, mutate] = pick(random, MUTATIONS);
      let input = mutate(pick(random, corpus), random, corpus);
      // Stack a second mutation now and then: single edits rarely break two invariants at once.
      if (random() < 0.25) input = pick(random, MUTATIONS)[1](input, random, corpus);
      const options = pick(random, OPTION_CHOICES);
      let outcome: string;
      try {
        const decoded = Packet.decode(input, options);
        // Whatever decodes must be a packet in its own right: encodable, and stable across a round trip.
        if (!Packet.decode(decoded.encode()).equals(decoded))
          throw new Error('decoded packet does not round-trip');
        outcome = 'decoded';
      } catch (error) {
        if (!(error instanceof PacketError)) {
          const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
          throw new Error(
            `case ${run} (${name}, options ${JSON.stringify(options)}) threw ${detail} for input ${toHex(input)}; ` +
              `replay with ANTT_TEST_SEED=${seed}`,
          );
        }
        outcome = error.code;
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    console.info(
      `[packet fuzz] outcomes: ${[...outcomes]
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')}`,
    );
    // The mutations must actually reach the decoder's error paths, not just bounce off the version byte.
    for (const code of [
      'ANTT_PACKET_TRUNCATED',
      'ANTT_PACKET_TRAILING_BYTES',
      'ANTT_PACKET_UNKNOWN_TAG',
      'ANTT_PACKET_INVALID_UTF8',
      'ANTT_PACKET_TOO_LARGE',
      'ANTT_PACKET_TOO_DEEP',
      'ANTT_PACKET_UNSUPPORTED_VERSION',
      'decoded',
    ]) {
      expect(outcomes.get(code) ?? 0, code).toBeGreaterThan(0);
    }
  }, 60_000);
});
