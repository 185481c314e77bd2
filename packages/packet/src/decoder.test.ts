import { describe, expect, it } from 'vitest';
import { bytes, varint } from '../test/hex.js';
import {
  type DecodeOptions,
  MAX_BIGINT_BYTES,
  MAX_DEPTH,
  Packet,
  PacketError,
  type PacketErrorCode,
} from './index.js';

function decodeError(input: unknown, options?: DecodeOptions): PacketError {
  try {
    Packet.decode(input as Uint8Array, options);
  } catch (error) {
    if (error instanceof PacketError) return error;
    throw error;
  }
  throw new Error('expected decode to throw');
}

function expectCode(hex: string, code: PacketErrorCode, options?: DecodeOptions): PacketError {
  const error = decodeError(bytes(hex), options);
  expect(error.code).toBe(code);
  return error;
}

const decodeOne = (hex: string, options?: DecodeOptions) => {
  const values = Packet.decode(bytes(hex), options).values;
  expect(values.length).toBe(1);
  return values[0];
};

describe('every decode error code, from hand-built bytes', () => {
  it.each([
    ['empty input', ''],
    ['no value count', '01'],
    ['count promises a value that is missing', '01 01'],
    ['count larger than the bytes left', `01 ${varint(5)} c0 c0`],
    ['varint cut short', '01 01 c3 80'],
    ['float64 with 2 of 8 bytes', '01 01 c5 00 00'],
    ['fixstr longer than the input', '01 01 85 61 62'],
    ['string longer than the input', '01 01 c6 05 61'],
    ['bytes longer than the input', '01 01 c7 03 00'],
    ['fixarray with too few elements', '01 01 a3 00 00'],
    ['array count larger than the input', `01 01 c8 ${varint(10)} 00`],
    ['object entry count larger than the input', '01 01 b2 01 61 00'],
    ['object key cut short', '01 01 b1 05 61'],
    ['object key without its value', '01 01 b1 01 61'],
    ['bigint magnitude cut short', '01 01 ca 04 01 02'],
    ['bigint length cut short', '01 01 cb'],
  ])('ANTT_PACKET_TRUNCATED: %s', (_, hex) => {
    const error = expectCode(hex, 'ANTT_PACKET_TRUNCATED');
    expect(error.message).toMatch(/^packet truncated: /);
    expect(error.offset).toBeGreaterThanOrEqual(0);
  });

  it('ANTT_PACKET_TRAILING_BYTES: bytes after the last value', () => {
    expect(expectCode('01 00 00', 'ANTT_PACKET_TRAILING_BYTES').offset).toBe(2);
    expect(expectCode('01 01 c0 c0 c0', 'ANTT_PACKET_TRAILING_BYTES').message).toContain('2 bytes follow');
  });

  it('ANTT_PACKET_UNKNOWN_TAG: every reserved tag 0xcc-0xdf', () => {
    for (let tag = 0xcc; tag <= 0xdf; tag++) {
      const error = expectCode(`01 01 ${tag.toString(16)}`, 'ANTT_PACKET_UNKNOWN_TAG');
      expect(error.offset).toBe(2);
      expect(error.message).toContain(`0x${tag.toString(16)}`);
    }
  });

  it.each([
    ['a lone 0xff', '81 ff'],
    ['a stray continuation byte', '81 80'],
    ['an overlong NUL (c0 80)', '82 c0 80'],
    ['an overlong slash (e0 80 af)', '83 e0 80 af'],
    ['a UTF-16 surrogate (ed a0 80)', '83 ed a0 80'],
    ['a code point past U+10FFFF (f4 90 80 80)', '84 f4 90 80 80'],
    ['a lead byte 0xf8', '85 f8 88 80 80 80'],
    ['a sequence cut by the end of the string', '82 e2 82'],
    ['a bad byte in a long string (platform decoder)', `c6 ${varint(60)} ${'61 '.repeat(59)} ff`],
  ])('ANTT_PACKET_INVALID_UTF8: %s', (_, valueHex) => {
    expect(expectCode(`01 01 ${valueHex}`, 'ANTT_PACKET_INVALID_UTF8').offset).toBeGreaterThan(2);
  });

  it('ANTT_PACKET_INVALID_UTF8: in an object key', () => {
    expectCode('01 01 b1 02 c3 28 00', 'ANTT_PACKET_INVALID_UTF8');
  });

  it('ANTT_PACKET_TOO_DEEP: one array more than MAX_DEPTH', () => {
    const deepest = `01 01 ${'a1 '.repeat(MAX_DEPTH)} 00`;
    expect(() => Packet.decode(bytes(deepest))).not.toThrow();
    const error = expectCode(`01 01 ${'a1 '.repeat(MAX_DEPTH + 1)} 00`, 'ANTT_PACKET_TOO_DEEP');
    expect(error.offset).toBe(2 + MAX_DEPTH);
  });

  it('ANTT_PACKET_TOO_DEEP: maxDepth tightens the limit, objects count too', () => {
    expect(decodeOne('01 01 a1 b1 01 61 00', { maxDepth: 2 })).toEqual([{ a: 0 }]);
    expectCode('01 01 a1 b1 01 61 a0', 'ANTT_PACKET_TOO_DEEP', { maxDepth: 2 });
    expectCode('01 01 a0', 'ANTT_PACKET_TOO_DEEP', { maxDepth: 0 });
    expect(decodeOne('01 01 07', { maxDepth: 0 })).toBe(7);
  });

  it('ANTT_PACKET_TOO_LARGE: varints past 2^53 - 1 or past 8 bytes', () => {
    expect(decodeOne(`01 01 c3 ${varint(2 ** 53 - 1)}`)).toBe(2 ** 53 - 1);
    expectCode(`01 01 c3 ${varint(2n ** 53n)}`, 'ANTT_PACKET_TOO_LARGE');
    expectCode('01 01 c3 80 80 80 80 80 80 80 80 00', 'ANTT_PACKET_TOO_LARGE');
    expectCode(`01 01 c6 ${varint(2n ** 60n)}`, 'ANTT_PACKET_TOO_LARGE');
  });

  it('ANTT_PACKET_TOO_LARGE: maxBytes and maxItems', () => {
    const packet = new Packet([1, 2, 3], { a: [4, 5] }).encode();
    expect(Packet.decode(packet, { maxBytes: packet.length }).values.length).toBe(2);
    expect(decodeError(packet, { maxBytes: packet.length - 1 }).code).toBe('ANTT_PACKET_TOO_LARGE');
    // 2 top-level values + 3 array elements + 1 object entry + 2 array elements = 8 items.
    expect(Packet.decode(packet, { maxItems: 8 }).values.length).toBe(2);
    expect(decodeError(packet, { maxItems: 7 }).code).toBe('ANTT_PACKET_TOO_LARGE');
    expect(decodeError(packet, { maxItems: 1 }).code).toBe('ANTT_PACKET_TOO_LARGE');
  });

  it('ANTT_PACKET_TOO_LARGE: a bigint longer than MAX_BIGINT_BYTES', () => {
    const length = MAX_BIGINT_BYTES + 1;
    const header = bytes(`01 01 ca ${varint(length)}`);
    const input = new Uint8Array(header.length + length);
    input.set(header);
    input[input.length - 1] = 1;
    expect(decodeError(input).code).toBe('ANTT_PACKET_TOO_LARGE');
  });

  it('ANTT_PACKET_UNSUPPORTED_VERSION: any first byte but 1', () => {
    for (const version of [0x00, 0x02, 0x7f, 0xff]) {
      const error = expectCode(
        `${version.toString(16).padStart(2, '0')} 00`,
        'ANTT_PACKET_UNSUPPORTED_VERSION',
      );
      expect(error.message).toContain(`version ${version}`);
    }
  });

  it('ANTT_PACKET_INVALID_ARGUMENT: not a Uint8Array, or bad options', () => {
    for (const input of ['01 00', null, undefined, [1, 0], new ArrayBuffer(2)]) {
      expect(decodeError(input).code).toBe('ANTT_PACKET_INVALID_ARGUMENT');
    }
    const valid = bytes('01 00');
    for (const options of [
      { maxDepth: MAX_DEPTH + 1 },
      { maxDepth: -1 },
      { maxItems: 1.5 },
      { maxBytes: Number.NaN },
      { maxBytes: '10' as unknown as number },
    ]) {
      expect(decodeError(valid, options).code).toBe('ANTT_PACKET_INVALID_ARGUMENT');
    }
    expect(Packet.decode(valid, { maxBytes: Infinity, maxItems: 0, maxDepth: 0 }).values).toEqual([]);
  });
});

describe('lying lengths cost nothing', () => {
  const CLAIMED = 2n ** 40n;

  it.each([
    ['top-level count', `01 ${varint(CLAIMED)}`],
    ['string', `01 01 c6 ${varint(CLAIMED)} 61 62`],
    ['bytes', `01 01 c7 ${varint(CLAIMED)} 61 62`],
    ['array', `01 01 c8 ${varint(CLAIMED)} 00`],
    ['object', `01 01 c9 ${varint(CLAIMED)} 01 61 00`],
    ['bigint', `01 01 ca ${varint(CLAIMED)} 01`],
    ['object key', `01 01 b1 ${varint(CLAIMED)} 61`],
  ])('a %s claiming 2^40 fails fast, before allocating', (_, hex) => {
    const input = bytes(hex);
    globalThis.gc?.();
    const before = process.memoryUsage();
    const startedAt = performance.now();
    const error = decodeError(input);
    const elapsedMs = performance.now() - startedAt;
    const after = process.memoryUsage();
    expect(['ANTT_PACKET_TRUNCATED', 'ANTT_PACKET_TOO_LARGE']).toContain(error.code);
    expect(elapsedMs).toBeLessThan(50);
    // Allocating for the claim would be 1 TiB; anything near a megabyte would mean a partial attempt.
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(1024 * 1024);
    expect(after.heapUsed - before.heapUsed).toBeLessThan(8 * 1024 * 1024);
  });
});

describe('untrusted keys cannot reach a prototype', () => {
  it('"__proto__" becomes an own property and changes no prototype', () => {
    // { "__proto__": { "polluted": true } }
    const decoded = decodeOne('01 01 b1 09 5f5f70726f746f5f5f b1 08 706f6c6c75746564 c2') as Record<
      string,
      unknown
    >;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(Object.hasOwn(decoded, '__proto__')).toBe(true);
    expect(Object.keys(decoded)).toEqual(['__proto__']);
    expect(decoded.polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value).toEqual({ polluted: true });
  });

  it('a repeated "__proto__" or other key keeps the last value', () => {
    const proto = '09 5f5f70726f746f5f5f';
    const decoded = decodeOne(`01 01 b3 ${proto} 01 01 61 02 ${proto} 03`) as Record<string, unknown>;
    expect(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value).toBe(3);
    expect(decoded.a).toBe(2);
    expect(decodeOne('01 01 b2 01 61 01 01 61 02')).toEqual({ a: 2 });
  });

  it('"constructor" and "prototype" are plain own keys', () => {
    const decoded = decodeOne('01 01 b2 0b 636f6e7374727563746f72 01 09 70726f746f74797065 02') as Record<
      string,
      unknown
    >;
    expect(decoded.constructor).toBe(1);
    expect(decoded.prototype).toBe(2);
    expect(Object.prototype.constructor).toBe(Object);
  });
});

describe('byte payloads are views into the input', () => {
  it('shares memory with the input: no copy, and mutation shows through', () => {
    const input = new Packet({ data: new Uint8Array([1, 2, 3]) }).encode();
    const data = (Packet.decode(input).values[0] as { data: Uint8Array }).data;
    expect(data.buffer).toBe(input.buffer);
    expect(data.byteOffset).toBe(input.byteOffset + input.length - 3);
    input[input.length - 1] = 99;
    expect(data[2]).toBe(99);
  });

  it('is a plain Uint8Array even when the input is a Buffer', () => {
    const input = Buffer.from(new Packet(new Uint8Array([7])).encode());
    const data = Packet.decode(input).values[0] as Uint8Array;
    expect(Buffer.isBuffer(data)).toBe(false);
    expect(data.constructor).toBe(Uint8Array);
    expect(data.buffer).toBe(input.buffer);
  });
});

describe('tolerant where the format allows', () => {
  it('accepts non-shortest varints and bigint magnitudes', () => {
    expect(decodeOne('01 01 c3 80 00')).toBe(0);
    expect(decodeOne('01 01 c3 85 80 80 00')).toBe(5);
    expect(decodeOne('01 01 c6 82 00 61 62')).toBe('ab');
    expect(decodeOne('01 01 ca 03 05 00 00')).toBe(5n);
    expect(decodeOne('01 81 00 c0')).toBeNull();
  });

  it('reads the edges of the integer tags', () => {
    expect(decodeOne(`01 01 c4 ${varint(2 ** 53 - 1)}`)).toBe(-(2 ** 53));
    expect(decodeOne('01 01 c3 05')).toBe(5);
    expect(decodeOne('01 01 cb 00')).toBe(0n);
    expect(decodeOne('01 01 cb 07 01 00 00 00 00 00 01')).toBe(-(2n ** 48n + 1n));
  });

  it('reads any NaN bit pattern as NaN', () => {
    expect(Number.isNaN(decodeOne('01 01 c5 ef be ad de 00 00 f0 7f'))).toBe(true);
    expect(Number.isNaN(decodeOne('01 01 c5 00 00 00 00 00 00 f8 ff'))).toBe(true);
  });

  it('keeps keys apart that share length, first, middle and last byte (string cache)', () => {
    const keys = ['abxa', 'acxa', 'adxa', 'a\u007fxa', 'abya'];
    for (let round = 0; round < 3; round++) {
      const object = Object.fromEntries(keys.map((key, i) => [key, i]));
      expect(Packet.decode(new Packet(object, keys).encode()).values).toEqual([object, keys]);
    }
  });

  it('decodes non-ASCII keys and values that never enter the string cache', () => {
    expect(Packet.decode(new Packet({ ключ: 'значение', '😀': '😀' }).encode()).values).toEqual([
      { ключ: 'значение', '😀': '😀' },
    ]);
  });
});

describe('inputs from elsewhere', () => {
  it('accepts a Uint8Array from another realm', async () => {
    const { runInNewContext } = await import('node:vm');
    const foreign = runInNewContext('new Uint8Array([1, 1, 0x81, 0x61])') as Uint8Array;
    expect(foreign instanceof Uint8Array).toBe(false);
    expect(Packet.decode(foreign).values).toEqual(['a']);
  });
});
