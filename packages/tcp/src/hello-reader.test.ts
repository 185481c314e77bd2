import { randomBytes } from 'node:crypto';
import { AnttError, ErrorCode } from '@antt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

/** fast-check prints the seed of a failing run; ANTT_TEST_SEED replays it. */
const FUZZ = process.env.ANTT_TEST_SEED ? { seed: Number(process.env.ANTT_TEST_SEED) } : {};

import { HelloReader } from './hello-reader.js';
import { encodeHello, HELLO_BYTES } from './wire-format.js';

const PEER = '198.51.100.7:4456';

function hello(): Buffer {
  return encodeHello({
    role: 'server',
    secured: false,
    nonce: randomBytes(16),
    maxMessageBytes: 5000,
    idleTimeoutMs: 1234,
  });
}

function protocolError(run: () => unknown): AnttError {
  try {
    run();
  } catch (error) {
    if (AnttError.is(error) && error.code === ErrorCode.PROTOCOL) return error;
    throw error;
  }
  throw new Error('expected a ProtocolError');
}

describe('HelloReader', () => {
  it('reads a HELLO whole or byte by byte and returns what follows', () => {
    const bytes = Buffer.concat([hello(), Buffer.from('rest')]);
    const whole = new HelloReader(PEER).push(bytes);
    expect(whole.done && whole.hello).toMatchObject({
      role: 'server',
      maxMessageBytes: 5000,
      idleTimeoutMs: 1234,
    });
    expect(whole.done && whole.rest.toString()).toBe('rest');
    const reader = new HelloReader(PEER);
    for (let i = 0; i < HELLO_BYTES - 1; i++) expect(reader.push(bytes.subarray(i, i + 1)).done).toBe(false);
    const last = reader.push(bytes.subarray(HELLO_BYTES - 1));
    expect(last.done).toBe(true);
  });

  it('names what a non-Antt peer sent', () => {
    const http = Buffer.from('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    expect(protocolError(() => new HelloReader(PEER).push(http)).message).toBe(
      "the peer at 198.51.100.7:4456 answered with 'HTTP/1.1 400 Bad Request': it is not an Antt peer " +
        "(expected an Antt TCP handshake starting with 'ANTT/TCP')",
    );
    expect(protocolError(() => new HelloReader(PEER).push(Buffer.of(0, 1, 0xff))).message).toMatch(
      /answered with '\\x00\\x01\\xff'/,
    );
  });

  it('refuses another protocol version, naming both', () => {
    const bytes = hello();
    bytes[8] = 1;
    expect(protocolError(() => new HelloReader(PEER).push(bytes)).message).toMatch(
      /speaks Antt TCP protocol version 1; this one speaks version 2: update the older side/,
    );
  });

  it('throws nothing but ProtocolError on random or mutated bytes', () => {
    const valid = hello();
    const mutated = fc
      .array(fc.record({ at: fc.nat(valid.length - 1), value: fc.integer({ min: 0, max: 255 }) }), {
        minLength: 1,
      })
      .map((edits) => {
        const copy = Buffer.from(valid);
        for (const edit of edits) copy[edit.at] = edit.value;
        return copy;
      });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
          mutated,
        ),
        fc.nat(40),
        (bytes, chunk) => {
          const reader = new HelloReader(PEER);
          try {
            for (let i = 0; i < bytes.length; i += chunk + 1) {
              if (reader.push(bytes.subarray(i, i + chunk + 1)).done) break;
            }
          } catch (error) {
            if (!(AnttError.is(error) && error.code === ErrorCode.PROTOCOL)) throw error;
          }
        },
      ),
      FUZZ,
    );
  });
});
