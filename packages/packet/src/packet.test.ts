import { describe, expect, it } from 'vitest';
import { toHex } from '../test/hex.js';
import { MAX_DEPTH, PACKET_FORMAT_VERSION, Packet, PacketError, type PacketValue } from './index.js';

function roundTrip(...values: PacketValue[]): Packet {
  const packet = new Packet(...values);
  const decoded = Packet.decode(packet.encode());
  expect(decoded.equals(packet)).toBe(true);
  // Canonical: encoding what was decoded gives the very same bytes.
  expect(toHex(decoded.encode())).toBe(toHex(packet.encode()));
  return decoded;
}

describe('Packet API', () => {
  it('keeps values in order and exposes them', () => {
    const packet = new Packet(1, 'text', new Uint8Array([1, 2]));
    expect(packet.values).toEqual([1, 'text', new Uint8Array([1, 2])]);
    expect(packet.values.length).toBe(3);
  });

  it('encodes a packet with no values to version + zero count', () => {
    expect(toHex(new Packet().encode())).toBe('0100');
    expect(Packet.decode(new Uint8Array([1, 0])).values).toEqual([]);
  });

  it('starts every packet with the format version byte', () => {
    expect(PACKET_FORMAT_VERSION).toBe(1);
    expect(new Packet('x').encode()[0]).toBe(PACKET_FORMAT_VERSION);
  });

  it('exports the depth limit', () => {
    expect(MAX_DEPTH).toBe(64);
  });

  it('returns independent results for successive encodes', () => {
    const first = new Packet('first').encode();
    const second = new Packet('second').encode();
    expect(Packet.decode(first).values).toEqual(['first']);
    expect(Packet.decode(second).values).toEqual(['second']);
  });

  it('never rewrites a small packet handed out earlier, across many slabs', () => {
    const encoded = Array.from({ length: 2_000 }, (_, i) => new Packet(i, 'x'.repeat(i % 300)).encode());
    expect(encoded[0]!.buffer.byteLength).toBeGreaterThan(encoded[0]!.length); // pooled: a view into a slab
    encoded.forEach((bytes, i) => {
      expect(Packet.decode(bytes).values).toEqual([i, 'x'.repeat(i % 300)]);
    });
  });

  it('gives large packets their own exactly sized ArrayBuffer', () => {
    const encoded = new Packet(new Uint8Array(10_000)).encode();
    expect(encoded.byteOffset).toBe(0);
    expect(encoded.buffer.byteLength).toBe(encoded.length);
  });

  it('survives an encode called from inside an encode (a getter)', () => {
    const inner = new Packet('inner');
    const value = {
      get nested() {
        return inner.encode();
      },
    };
    const decoded = Packet.decode(new Packet(value, 'after').encode());
    const nestedBytes = (decoded.values[0] as { nested: Uint8Array }).nested;
    expect(Packet.decode(nestedBytes).values).toEqual(['inner']);
    expect(decoded.values[1]).toBe('after');
  });

  it('decodes from a Buffer and from a view at an offset', () => {
    const encoded = new Packet({ a: 1 }, 'b').encode();
    expect(Packet.decode(Buffer.from(encoded)).values).toEqual([{ a: 1 }, 'b']);
    const padded = new Uint8Array(encoded.length + 7);
    padded.set(encoded, 5);
    expect(Packet.decode(padded.subarray(5, 5 + encoded.length)).values).toEqual([{ a: 1 }, 'b']);
  });

  it('throws PacketError with a code for bad input, and instanceof works', () => {
    const error = captureError(() => Packet.decode(new Uint8Array([2, 0])));
    expect(error).toBeInstanceOf(PacketError);
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('ANTT_PACKET_UNSUPPORTED_VERSION');
    expect(error.name).toBe('PacketError');
    expect(error.offset).toBe(0);
  });

  it('recognises a PacketError from another copy of the package by its brand', () => {
    const foreign = Object.assign(new Error('x'), { code: 'ANTT_PACKET_TRUNCATED' });
    Object.defineProperty(foreign, Symbol.for('antt.packet.PacketError'), { value: true });
    expect(foreign instanceof PacketError).toBe(true);
    expect(new Error('plain') instanceof PacketError).toBe(false);
    expect((null as unknown) instanceof PacketError).toBe(false);
  });
});

describe('round trips of every kind of value', () => {
  it('null and booleans', () => {
    roundTrip(null, true, false);
  });

  it('integers around every encoding boundary', () => {
    roundTrip(0, 1, 127, 128, 255, 256, 16_383, 16_384, 2 ** 21, 2 ** 28 - 1, 2 ** 28, 2 ** 31 - 1, 2 ** 31);
    roundTrip(-1, -32, -33, -128, -129, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 40));
  });

  it('MAX_SAFE_INTEGER and its neighbours', () => {
    const max = Number.MAX_SAFE_INTEGER;
    const decoded = roundTrip(max, max - 1, max + 1, max + 2, -max, -max - 1, -max - 2);
    expect(decoded.values).toEqual([max, max - 1, max + 1, max + 2, -max, -max - 1, -max - 2]);
  });

  it('-0 stays -0 and 0 stays 0', () => {
    const decoded = roundTrip(-0, 0);
    expect(Object.is(decoded.values[0], -0)).toBe(true);
    expect(Object.is(decoded.values[1], 0)).toBe(true);
    expect(new Packet(-0).equals(new Packet(0))).toBe(false);
  });

  it('NaN, Infinity and extreme doubles', () => {
    const values = [Number.NaN, Infinity, -Infinity, Number.MIN_VALUE, -Number.MAX_VALUE, 0.1, 1 / 3, 1e300];
    const decoded = roundTrip(...values);
    expect(Number.isNaN(decoded.values[0])).toBe(true);
    expect(decoded.values.slice(1)).toEqual(values.slice(1));
  });

  it('sends every NaN as the canonical quiet NaN', () => {
    const payloadNaN = new Float64Array(new BigUint64Array([0x7ff0_0000_dead_beefn]).buffer)[0]!;
    expect(Number.isNaN(payloadNaN)).toBe(true);
    expect(toHex(new Packet(payloadNaN).encode())).toBe('0101c5000000000000f87f');
  });

  it('bigints of every size and sign, as bigints', () => {
    const huge = 3n ** 5000n;
    const decoded = roundTrip(0n, 1n, -1n, 255n, 256n, -(2n ** 64n), 2n ** 63n - 1n, huge, -huge);
    expect(decoded.values[0]).toBe(0n);
    expect(decoded.values[7]).toBe(huge);
    expect(decoded.values[8]).toBe(-huge);
    expect(typeof decoded.values[1]).toBe('bigint');
    expect(new Packet(1n).equals(new Packet(1))).toBe(false);
  });

  it('strings: empty, ASCII, every UTF-8 length, BOM, astral, long', () => {
    roundTrip(
      '',
      'a',
      'é',
      '€',
      '😀',
      '\uFEFF',
      '\uFEFFstarts with a BOM',
      '\u0000nul',
      'a'.repeat(31),
      'a'.repeat(32),
    );
    roundTrip(
      'x'.repeat(63),
      'x'.repeat(64),
      'é'.repeat(64),
      '😀'.repeat(100),
      'mixed ascii then é'.repeat(20),
    );
    roundTrip('z'.repeat(100_000), 'ü'.repeat(50_000));
  });

  it('a short string that turns out longer than 31 bytes moves to the long header', () => {
    const text = `${'a'.repeat(30)}é`; // 31 units, 32 bytes
    expect(toHex(new Packet(text).encode()).slice(0, 8)).toBe('0101c620');
    roundTrip(text);
  });

  it('bytes: empty, small, large, from a Buffer and from a view at an offset', () => {
    const big = new Uint8Array(70_000).map((_, i) => i * 7);
    const decoded = roundTrip(new Uint8Array(0), new Uint8Array([0, 255]), big, Buffer.from('buffer'));
    expect(decoded.values[3]).toBeInstanceOf(Uint8Array);
    expect(Buffer.isBuffer(decoded.values[3])).toBe(false);
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    expect(Packet.decode(new Packet(backing.subarray(2, 5)).encode()).values[0]).toEqual(
      new Uint8Array([1, 2, 3]),
    );
  });

  it('empty array and object; arrays and objects past the fix forms', () => {
    roundTrip([], {}, [[]], [{}], { a: {} });
    const wide = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`key${i}`, i]));
    const long = Array.from({ length: 300 }, (_, i) => i);
    roundTrip(
      wide,
      long,
      Array.from({ length: 16 }, () => null),
    );
  });

  it('objects with a null prototype, awkward keys and integer-like keys', () => {
    const bare = Object.assign(Object.create(null) as Record<string, PacketValue>, { x: 1 });
    roundTrip(bare, { '': 1, 'a b': 2, ключ: 3, '😀': 4, constructor: 5, toString: 6, '10': 7, '2': 8 });
  });

  it('nests up to MAX_DEPTH on both sides', () => {
    let deep: PacketValue = 'leaf';
    for (let i = 0; i < MAX_DEPTH; i++) deep = i % 2 === 0 ? [deep] : { d: deep };
    roundTrip(deep);
  });
});

describe('equals', () => {
  it('is deep and bit-exact', () => {
    const make = () => new Packet({ list: [1, 'two', new Uint8Array([3])], n: Number.NaN, z: -0 });
    expect(make().equals(make())).toBe(true);
    expect(new Packet(Number.NaN).equals(new Packet(Number.NaN))).toBe(true);
    expect(new Packet(0).equals(new Packet(-0))).toBe(false);
    expect(new Packet([1]).equals(new Packet([1, 2]))).toBe(false);
    expect(new Packet([]).equals(new Packet({}))).toBe(false);
    expect(new Packet(new Uint8Array(0)).equals(new Packet([]))).toBe(false);
    expect(new Packet('1').equals(new Packet(1))).toBe(false);
    expect(new Packet(null).equals(new Packet({}))).toBe(false);
    expect(new Packet({ a: 1 }).equals(new Packet({ b: 1 }))).toBe(false);
    expect(new Packet({ a: 1 }).equals(new Packet({ a: 1, b: 2 }))).toBe(false);
  });

  it('compares bytes by content, Buffer or not, aligned or not', () => {
    const content = new Uint8Array(257).map((_, i) => i);
    const shifted = new Uint8Array(300);
    shifted.set(content, 3);
    expect(new Packet(content).equals(new Packet(Buffer.from(content)))).toBe(true);
    expect(new Packet(content).equals(new Packet(shifted.subarray(3, 260)))).toBe(true);
    const different = content.slice();
    different[200] = 0;
    expect(new Packet(content).equals(new Packet(different))).toBe(false);
  });

  it('ignores object key order', () => {
    expect(new Packet({ a: 1, b: 2 }).equals(new Packet({ b: 2, a: 1 }))).toBe(true);
  });

  it('is false for anything that is not a Packet', () => {
    expect(new Packet().equals({ values: [] } as unknown as Packet)).toBe(false);
  });
});

function captureError(run: () => unknown): PacketError {
  try {
    run();
  } catch (error) {
    if (error instanceof PacketError) return error;
    throw error;
  }
  throw new Error('expected a PacketError');
}
