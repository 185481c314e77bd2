import { afterEach, describe, expect, it } from 'vitest';
import { toHex } from '../test/hex.js';
import {
  MAX_BIGINT_BYTES,
  MAX_DEPTH,
  Packet,
  PacketError,
  type PacketErrorCode,
  type PacketValue,
} from './index.js';

/** Hex of the packet after the version byte and the value count, i.e. of the single value. */
function valueHex(value: PacketValue): string {
  const hex = toHex(new Packet(value).encode());
  expect(hex.slice(0, 4)).toBe('0101');
  return hex.slice(4);
}

function encodeError(...values: unknown[]): PacketError {
  try {
    new Packet(...(values as PacketValue[])).encode();
  } catch (error) {
    if (error instanceof PacketError) return error;
    throw error;
  }
  throw new Error('expected encode to throw');
}

function expectEncodeError(value: unknown, code: PacketErrorCode, path: string): PacketError {
  const error = encodeError('first', value);
  expect(error.code).toBe(code);
  expect(error.path).toBe(path);
  expect(error.message).toContain(path);
  return error;
}

describe('exact bytes per tag (README "Wire format")', () => {
  it.each([
    [null, 'c0'],
    [false, 'c1'],
    [true, 'c2'],
    [0, '00'],
    [127, '7f'],
    [128, 'c38001'],
    [300, 'c3ac02'],
    [2 ** 31, 'c38080808008'],
    [1_732_451_200_000, 'c380d88df1b532'],
    [Number.MAX_SAFE_INTEGER, 'c3ffffffffffffff0f'],
    [-1, 'ff'],
    [-32, 'e0'],
    [-33, 'c420'],
    [-Number.MAX_SAFE_INTEGER, 'c4feffffffffffff0f'],
    [-0, 'c50000000000000080'],
    [1.5, 'c5000000000000f83f'],
    [Infinity, 'c5000000000000f07f'],
    [Number.MAX_SAFE_INTEGER + 1, 'c50000000000004043'],
    ['', '80'],
    ['hi', '826869'],
    ['é', '82c3a9'],
    ['a'.repeat(32), `c620${'61'.repeat(32)}`],
    [new Uint8Array([0xca, 0xfe]), 'c702cafe'],
    [new Uint8Array(0), 'c700'],
    [[], 'a0'],
    [[1, 'a'], 'a2018161'],
    [{}, 'b0'],
    [{ id: 7 }, 'b102696407'],
    [0n, 'ca00'],
    [255n, 'ca01ff'],
    [256n, 'ca020001'],
    [-1n, 'cb0101'],
    [2n ** 64n, 'ca09000000000000000001'],
  ] as [PacketValue, string][])('%o → %s', (value, hex) => {
    expect(valueHex(value)).toBe(hex);
  });

  it('uses the long array and object forms from 16 items on', () => {
    expect(valueHex(Array.from({ length: 15 }, () => 0))).toBe(`af${'00'.repeat(15)}`);
    expect(valueHex(Array.from({ length: 16 }, () => 0))).toBe(`c810${'00'.repeat(16)}`);
    const sixteen = Object.fromEntries(
      Array.from({ length: 16 }, (_, i) => [String.fromCharCode(97 + i), i]),
    );
    const body = Array.from(
      { length: 16 },
      (_, i) => `01${(97 + i).toString(16)}${i.toString(16).padStart(2, '0')}`,
    );
    expect(valueHex(sixteen)).toBe(`c910${body.join('')}`);
  });

  it('keeps 200 object entries intact when the header has to grow after the fact', () => {
    const wide = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, 'v'.repeat(i % 40)]));
    expect(valueHex(wide).slice(0, 6)).toBe('c9c801');
    expect(Packet.decode(new Packet(wide).encode()).values[0]).toEqual(wide);
  });

  it('writes a key longer than 127 bytes with a two-byte length', () => {
    const key = 'k'.repeat(200);
    expect(valueHex({ [key]: 1 })).toBe(`b1c801${'6b'.repeat(200)}01`);
  });

  it('gives a 64+ unit non-ASCII string its exact length (encodeInto path)', () => {
    const text = 'é'.repeat(64); // 64 units, 128 bytes: the guessed 1-byte varint grows to 2
    expect(valueHex(text)).toBe(`c68001${'c3a9'.repeat(64)}`);
  });
});

describe('encode errors name the path of the bad value', () => {
  it.each([
    [undefined, 'undefined'],
    [() => 1, 'a function'],
    [Symbol('s'), 'a symbol'],
    [new Map(), 'a Map'],
    [new Set(), 'a Set'],
    [new Date(0), 'a Date'],
    [/re/, 'a RegExp'],
    [new Int8Array(1), 'an Int8Array'],
    [new Uint8ClampedArray(1), 'a Uint8ClampedArray'],
    [new ArrayBuffer(1), 'an ArrayBuffer'],
    [new (class User {})(), 'an instance of User'],
    [Object(1), 'a Number'],
    [Object.create({ inherited: true }), 'an instance of Object'],
  ])('rejects %o as %s', (value, description) => {
    const error = expectEncodeError(value, 'ANTT_PACKET_UNSUPPORTED_VALUE', 'values[1]');
    expect(error.message).toContain(description);
  });

  it('names nested paths like values[2].user.tags[0]', () => {
    const error = encodeError(1, 2, { user: { name: 'ada', tags: [undefined] } });
    expect(error.code).toBe('ANTT_PACKET_UNSUPPORTED_VALUE');
    expect(error.path).toBe('values[2].user.tags[0]');
    expect(error.message).toBe(
      'cannot encode undefined at values[2].user.tags[0]: a packet holds null, booleans, numbers, bigints, ' +
        'strings, Uint8Array, arrays and plain objects',
    );
  });

  it('quotes keys that are not identifiers', () => {
    expectEncodeError(
      { 'a b': { '0': [new Map()] } },
      'ANTT_PACKET_UNSUPPORTED_VALUE',
      'values[1]["a b"]["0"][0]',
    );
  });

  it('rejects holes in sparse arrays as undefined', () => {
    // biome-ignore lint/suspicious/noSparseArray: the hole is the point of the test
    expectEncodeError([1, , 3], 'ANTT_PACKET_UNSUPPORTED_VALUE', 'values[1][1]');
  });

  it('rejects a lone surrogate in a string with its position', () => {
    const error = expectEncodeError({ text: 'ok\uD800x' }, 'ANTT_PACKET_INVALID_STRING', 'values[1].text');
    expect(error.message).toContain('U+D800 at index 2');
    expect(expectEncodeError(['\uDC00'], 'ANTT_PACKET_INVALID_STRING', 'values[1][0]').message).toContain(
      'U+DC00 at index 0',
    );
    const pairThenLone = `${'😀'.repeat(3)}\uDBFF`;
    expect(expectEncodeError(pairThenLone, 'ANTT_PACKET_INVALID_STRING', 'values[1]').message).toContain(
      'U+DBFF at index 6',
    );
  });

  it('rejects a lone surrogate in a long string (native path) and in a key', () => {
    const long = `${'a'.repeat(100)}\uDFFF${'b'.repeat(10)}`;
    expect(expectEncodeError(long, 'ANTT_PACKET_INVALID_STRING', 'values[1]').message).toContain(
      'at index 100',
    );
    const error = expectEncodeError(
      { 'bad\uD83Dkey': 1 },
      'ANTT_PACKET_INVALID_STRING',
      'values[1]["bad\\ud83dkey"]',
    );
    expect(error.message).toContain('object key');
  });

  it('accepts MAX_DEPTH levels and rejects one more', () => {
    const nest = (levels: number): PacketValue => {
      let value: PacketValue = 0;
      for (let i = 0; i < levels; i++) value = [value];
      return value;
    };
    expect(() => new Packet(nest(MAX_DEPTH)).encode()).not.toThrow();
    const error = encodeError(nest(MAX_DEPTH + 1));
    expect(error.code).toBe('ANTT_PACKET_TOO_DEEP');
    expect(error.path).toBe(`values[0]${'[0]'.repeat(MAX_DEPTH)}`);
  });

  it('reports a cycle as such, naming both ends', () => {
    const root: Record<string, unknown> = { name: 'root', children: [] };
    (root.children as unknown[]).push({ parent: root });
    const error = encodeError(root);
    expect(error.code).toBe('ANTT_PACKET_CYCLIC');
    expect(error.path).toBe('values[0].children[0].parent');
    expect(error.message).toContain('same object as its ancestor values[0]');
    const selfList: unknown[] = [];
    selfList.push(selfList);
    expect(encodeError(selfList).code).toBe('ANTT_PACKET_CYCLIC');
  });

  it('allows the same object twice when it is not its own ancestor', () => {
    const shared = { x: 1 };
    expect(Packet.decode(new Packet([shared, shared]).encode()).values).toEqual([[{ x: 1 }, { x: 1 }]]);
  });

  it('rejects a bigint past MAX_BIGINT_BYTES', () => {
    const tooBig = 1n << BigInt(MAX_BIGINT_BYTES * 8);
    const error = expectEncodeError({ n: tooBig }, 'ANTT_PACKET_TOO_LARGE', 'values[1].n');
    expect(error.message).toContain(String(MAX_BIGINT_BYTES));
    expect(() => new Packet(tooBig - 1n).encode()).not.toThrow();
  });

  it('leaves the encoder usable after an error', () => {
    encodeError({ a: [1, 2, undefined] });
    expect(Packet.decode(new Packet({ a: [1, 2, 3] }).encode()).values).toEqual([{ a: [1, 2, 3] }]);
  });
});

describe('a polluted Object.prototype', () => {
  afterEach(() => {
    delete (Object.prototype as Record<string, unknown>).polluted;
  });

  it('does not leak inherited keys into packets', () => {
    (Object.prototype as Record<string, unknown>).polluted = 'yes';
    const decoded = Packet.decode(new Packet({ own: 1 }, [{ a: { b: 2 } }]).encode());
    delete (Object.prototype as Record<string, unknown>).polluted;
    expect(Object.keys(decoded.values[0] as object)).toEqual(['own']);
    expect(decoded.values[1]).toEqual([{ a: { b: 2 } }]);
  });
});
