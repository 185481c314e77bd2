/**
 * Property: every value a packet can carry comes back bit-exactly, and re-encoding what was decoded
 * gives the same bytes (the encoding is canonical). fast-check prints the seed and the shrunk
 * counterexample on failure; set ANTT_TEST_SEED to replay a run.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { valuesArbitrary } from '../test/arbitraries.js';
import { testSeed } from '../test/hex.js';
import { Packet } from './index.js';

const PROPERTY_RUNS = 10_000;
const seed = testSeed(Date.now() | 0);

describe('round trip (property)', () => {
  it(`${PROPERTY_RUNS} random packets decode to equal values and re-encode to the same bytes`, () => {
    console.info(`[packet property] seed ${seed}; replay with ANTT_TEST_SEED=${seed}`);
    fc.assert(
      fc.property(valuesArbitrary, (values) => {
        const packet = new Packet(...values);
        const encoded = packet.encode();
        const decoded = Packet.decode(encoded);
        expect(decoded.equals(packet)).toBe(true);
        expect(Buffer.from(decoded.encode()).equals(encoded)).toBe(true);
      }),
      { numRuns: PROPERTY_RUNS, seed },
    );
  }, 60_000);
});
