/**
 * UTF-8 on both sides, checked against the platform's codecs: the decoder (through Packet.decode, so
 * the ASCII fast path, the string caches and the platform path are all covered) must accept exactly
 * what fatal TextDecoder accepts and produce the same string; the encoder's JavaScript UTF-8 writer
 * must produce TextEncoder's bytes and refuse lone surrogates.
 */

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { testSeed } from '../test/hex.js';
import { Packet, PacketError } from './index.js';
import { findLoneSurrogate, isWellFormed, readAscii, writeUtf8 } from './utf8.js';

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const platformEncoder = new TextEncoder();
const seed = testSeed(0x0075_7466);
const TAG_STRING = 0xc6;

/** The platform's verdict: the string, or undefined where fatal TextDecoder throws. */
function platformDecode(data: Uint8Array): string | undefined {
  try {
    return strict.decode(data);
  } catch {
    return undefined;
  }
}

/** `data` as a packet holding one string value, and one holding it as an object key. */
function asStringPacket(data: Uint8Array): Uint8Array {
  const header = data.length <= 31 ? [0x80 | data.length] : [TAG_STRING, data.length];
  return Uint8Array.from([1, 1, ...header, ...data]);
}

function asKeyPacket(data: Uint8Array): Uint8Array {
  return Uint8Array.from([1, 1, 0xb1, data.length, ...data, 0xc0]);
}

/** What Packet.decode makes of the bytes as a string: the string, or undefined for INVALID_UTF8. */
function packetDecode(packet: Uint8Array, asKey: boolean): string | undefined {
  try {
    const value = Packet.decode(packet).values[0];
    return asKey ? Object.keys(value as object)[0] : (value as string);
  } catch (error) {
    if (error instanceof PacketError && error.code === 'ANTT_PACKET_INVALID_UTF8') return undefined;
    throw error;
  }
}

function check(data: Uint8Array, mismatches: string[], asKey = false): void {
  const expected = platformDecode(data);
  const ours = packetDecode(asKey ? asKeyPacket(data) : asStringPacket(data), asKey);
  if (ours !== expected) {
    mismatches.push(
      `${asKey ? 'key' : 'string'} ${Array.from(data)}: ${JSON.stringify(ours)} vs ${JSON.stringify(expected)}`,
    );
  }
}

/** Most inputs here are invalid, so most decodes throw: skip stack capture, which dominates the cost. */
function withoutStackTraces(run: () => void): void {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    run();
  } finally {
    Error.stackTraceLimit = limit;
  }
}

describe('decoding agrees with the platform decoder (WHATWG, fatal)', () => {
  it('on every 1- and 2-byte input', () => {
    const mismatches: string[] = [];
    withoutStackTraces(() => {
      for (let first = 0; first < 256; first++) {
        check(Uint8Array.of(first), mismatches);
        check(Uint8Array.of(first), mismatches, true);
        for (let second = 0; second < 256; second++) check(Uint8Array.of(first, second), mismatches);
      }
    });
    expect(mismatches).toEqual([]);
  });

  it('on 3- and 4-byte inputs for every lead E0..FF and second byte, with boundary continuations', () => {
    const mismatches: string[] = [];
    withoutStackTraces(() => {
      for (let second = 0; second < 256; second++) {
        for (const third of [0x7f, 0x80, 0xbf, 0xc0]) {
          for (let lead = 0xe0; lead <= 0xef; lead++) check(Uint8Array.of(lead, second, third), mismatches);
          for (let lead = 0xf0; lead <= 0xff; lead++)
            check(Uint8Array.of(lead, second, third, 0x80), mismatches);
        }
      }
    });
    expect(mismatches).toEqual([]);
  });

  it('on random byte strings biased towards UTF-8 lead and continuation bytes, as values and as keys', () => {
    const byte = fc.oneof(
      fc.integer({ min: 0x20, max: 0x7f }),
      fc.integer({ min: 0x80, max: 0xbf }),
      fc.integer({ min: 0xc0, max: 0xff }),
    );
    withoutStackTraces(() => {
      fc.assert(
        fc.property(fc.array(byte, { maxLength: 100 }), fc.boolean(), (list, asKey) => {
          const data = Uint8Array.from(list);
          return (
            packetDecode(asKey ? asKeyPacket(data) : asStringPacket(data), asKey) === platformDecode(data)
          );
        }),
        { numRuns: 4_000, seed },
      );
    });
  });

  it('keeps a leading BOM (the platform decoder would strip it without ignoreBOM)', () => {
    expect(packetDecode(asStringPacket(Uint8Array.of(0xef, 0xbb, 0xbf, 0x61)), false)).toBe('\uFEFFa');
    const long = Uint8Array.from([0xef, 0xbb, 0xbf, ...new Array(60).fill(0x61)]);
    expect(packetDecode(asStringPacket(long), false)).toBe(`\uFEFF${'a'.repeat(60)}`);
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
        const target = new Uint8Array(text.length * 3 + 4);
        return (
          writeUtf8(text, from, target, 2) === 2 + expected.length &&
          Buffer.from(target.subarray(2, 2 + expected.length)).equals(expected)
        );
      }),
      { numRuns: 500, seed },
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
