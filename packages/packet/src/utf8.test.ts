import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { testSeed } from '../test/hex.js';
import { findLoneSurrogate, isWellFormed, readAscii, readUtf8, writeUtf8 } from './utf8.js';

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const platformEncoder = new TextEncoder();
const seed = testSeed(0x0075_7466);

/** The platform's verdict: the string, or undefined where fatal TextDecoder throws. */
function platformDecode(data: Uint8Array): string | undefined {
  try {
    return strict.decode(data);
  } catch {
    return undefined;
  }
}

function check(data: Uint8Array, mismatches: string[]): void {
  const ours = readUtf8(data, 0, data.length);
  const expected = platformDecode(data);
  if (ours !== expected)
    mismatches.push(`${Array.from(data)}: ${JSON.stringify(ours)} vs ${JSON.stringify(expected)}`);
}

describe('readUtf8 agrees with the platform decoder (WHATWG, fatal)', () => {
  it('on every 1- and 2-byte input', () => {
    const mismatches: string[] = [];
    const pair = new Uint8Array(2);
    for (let first = 0; first < 256; first++) {
      check(Uint8Array.of(first), mismatches);
      pair[0] = first;
      for (let second = 0; second < 256; second++) {
        pair[1] = second;
        check(pair, mismatches);
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('on every 3-byte input led by E0..EF and every 4-byte lead with interesting continuations', () => {
    const mismatches: string[] = [];
    const continuations = [0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0];
    const triple = new Uint8Array(3);
    const quad = new Uint8Array(4);
    for (let second = 0; second < 256; second++) {
      for (const third of continuations) {
        for (let lead = 0xe0; lead <= 0xef; lead++) {
          triple.set([lead, second, third]);
          check(triple, mismatches);
        }
        for (let lead = 0xf0; lead <= 0xff; lead++) {
          quad.set([lead, second, third, 0x80]);
          check(quad, mismatches);
        }
      }
    }
    expect(mismatches).toEqual([]);
  });

  it('on random short byte strings biased towards UTF-8 lead and continuation bytes', () => {
    const byte = fc.oneof(
      fc.integer({ min: 0, max: 0x7f }),
      fc.integer({ min: 0x80, max: 0xbf }),
      fc.integer({ min: 0xc0, max: 0xff }),
    );
    fc.assert(
      fc.property(fc.array(byte, { maxLength: 24 }), (list) => {
        const data = Uint8Array.from(list);
        return readUtf8(data, 0, data.length) === platformDecode(data);
      }),
      { numRuns: 10_000, seed },
    );
  });

  it('keeps a leading BOM (the platform decoder would strip it without ignoreBOM)', () => {
    expect(readUtf8(Uint8Array.of(0xef, 0xbb, 0xbf, 0x61), 0, 4)).toBe('\uFEFFa');
  });
});

describe('encoding side', () => {
  it('writeUtf8 matches TextEncoder on well-formed strings', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), fc.nat({ max: 5 }), (text, skip) => {
        const from = Math.min(skip, text.length);
        // Never start in the middle of a surrogate pair.
        if (from > 0 && text.charCodeAt(from) >= 0xdc00 && text.charCodeAt(from) <= 0xdfff) return true;
        const expected = platformEncoder.encode(text.slice(from));
        const target = new Uint8Array(expected.length + 4);
        return (
          writeUtf8(text, from, target, 2) === 2 + expected.length &&
          Buffer.from(target.subarray(2, 2 + expected.length)).equals(expected)
        );
      }),
      { numRuns: 1_000, seed },
    );
  });

  it.each([
    ['', -1],
    ['plain', -1],
    ['😀', -1],
    ['\uD800', 0],
    ['a\uDC00', 1],
    ['😀\uD83D', 2],
    ['\uD83D\uD83D\uDE00', 0],
    ['\uDE00\uD83D', 0],
  ])('findLoneSurrogate(%j) is %i, and the other checks agree', (text, expected) => {
    expect(findLoneSurrogate(text)).toBe(expected);
    expect(isWellFormed(text)).toBe(expected === -1);
    expect(writeUtf8(text, 0, new Uint8Array(text.length * 3), 0) === -1).toBe(expected !== -1);
  });

  it('readAscii refuses any byte >= 0x80 and builds every length up to 40', () => {
    const data = Uint8Array.from({ length: 40 }, (_, i) => 0x30 + i);
    for (let length = 0; length <= 40; length++) {
      expect(readAscii(data, 0, length)).toBe(String.fromCharCode(...data.subarray(0, length)));
    }
    expect(readAscii(Uint8Array.of(0x61, 0x80), 0, 2)).toBeUndefined();
  });
});
