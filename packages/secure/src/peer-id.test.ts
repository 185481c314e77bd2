import { AnttError, ErrorCode } from '@antt/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPeerId, parsePeerId, peerIdFromPublicKey } from './peer-id.js';

describe('peer ids', () => {
  it('are 8 dashed groups of 4 base32 characters, stable for a key', () => {
    const id = peerIdFromPublicKey(new Uint8Array(32));
    expect(id).toMatch(/^([A-Z2-7]{4}-){7}[A-Z2-7]{4}$/);
    expect(peerIdFromPublicKey(new Uint8Array(32))).toBe(id);
    // SHA-256 of 32 zero bytes starts 66687aad...: base32 of 0x66 0x68 0x7a 0xad... begins "MZUH".
    expect(id.startsWith('MZUH')).toBe(true);
  });

  it('round-trip through formatting variations', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.boolean(), (key, lower) => {
        const id = peerIdFromPublicKey(key);
        const typed = lower ? id.toLowerCase().replace(/-/g, ' ') : id.replace(/-/g, '');
        expect(parsePeerId(typed)).toBe(id);
        expect(parsePeerId(`antt:${id}`)).toBe(id);
      }),
      { numRuns: 200 },
    );
  });

  it('accept 0, 1 and 8 for the letters O, I and B', () => {
    const id = parsePeerId('OIBA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA');
    expect(parsePeerId('018a-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa-aaaa')).toBe(id);
  });

  it('reject bad text with a clear AnttError', () => {
    for (const text of ['', 'abc', 'MZUH-!!!!', 'A'.repeat(33), 'A'.repeat(31)]) {
      let error: unknown;
      try {
        parsePeerId(text);
      } catch (caught) {
        error = caught;
      }
      expect(AnttError.is(error)).toBe(true);
      expect((error as AnttError).code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect((error as Error).message).toMatch(/not a peer id/);
    }
    expect(isPeerId('nope')).toBe(false);
    expect(() => peerIdFromPublicKey(new Uint8Array(31))).toThrow(/32-byte public key/);
  });
});
