import { ErrorCode } from '@antt/core';
import { describe, expect, it } from 'vitest';
import { KEY_UPDATE_INTERVAL_PACKETS, OpeningKey, SealingKey } from './transport-keys.js';

const secret = new Uint8Array(32).fill(1);
const other = new Uint8Array(32).fill(2);
const header = Uint8Array.of(0x40, 1, 2, 3);
const text = (bytes: Uint8Array | null) => (bytes ? Buffer.from(bytes).toString() : null);

for (const cipher of ['ChaChaPoly', 'AESGCM'] as const) {
  describe(`sealing with ${cipher}`, () => {
    it('opens what was sealed, with 16 bytes of overhead', () => {
      const send = new SealingKey(cipher, secret);
      const receive = new OpeningKey(cipher, secret);
      const sealed = send.seal(1n, header, Buffer.from('hello'));
      expect(sealed).toHaveLength(5 + 16);
      expect(text(receive.open(1, header, sealed))).toBe('hello');
      expect(receive.stats.opened).toBe(1);
    });

    it('drops and counts tampered ciphertext, tag or header, and the wrong key', () => {
      const send = new SealingKey(cipher, secret);
      const receive = new OpeningKey(cipher, secret);
      const wrongKey = new OpeningKey(cipher, other);
      const sealed = send.seal(5, header, Buffer.from('payload'));
      for (let byte = 0; byte < sealed.length; byte++) {
        const tampered = Uint8Array.from(sealed);
        tampered[byte]! ^= 1;
        expect(receive.open(5, header, tampered)).toBeNull();
      }
      expect(receive.open(5, Uint8Array.of(0x40, 1, 2, 4), sealed)).toBeNull();
      expect(receive.open(6, header, sealed)).toBeNull();
      expect(wrongKey.open(5, header, sealed)).toBeNull();
      expect(receive.stats.rejectedAuthentication).toBe(sealed.length + 2);
      // Failed attempts did not consume the packet number: the genuine one still opens.
      expect(text(receive.open(5, header, sealed))).toBe('payload');
    });

    it('drops replays and malformed input without throwing', () => {
      const send = new SealingKey(cipher, secret);
      const receive = new OpeningKey(cipher, secret);
      const sealed = send.seal(9, header, Buffer.from('x'));
      expect(receive.open(9, header, sealed)).not.toBeNull();
      expect(receive.open(9, header, sealed)).toBeNull();
      expect(receive.open(-1, header, sealed)).toBeNull();
      expect(receive.open(2n ** 64n, header, sealed)).toBeNull();
      expect(receive.open(10, header, new Uint8Array(3))).toBeNull();
      expect(receive.stats).toEqual({
        opened: 1,
        rejectedAuthentication: 0,
        rejectedReplay: 1,
        rejectedMalformed: 3,
      });
    });

    it('refuses to seal a packet number twice (nonce reuse)', () => {
      const send = new SealingKey(cipher, secret);
      send.seal(3, header, new Uint8Array(1));
      expect(() => send.seal(3, header, new Uint8Array(1))).toThrow(
        expect.objectContaining({ code: ErrorCode.INVALID_STATE }),
      );
      expect(() => send.seal(2, header, new Uint8Array(1))).toThrow(/reuse a nonce/);
      expect(() => send.seal(-4, header, new Uint8Array(1))).toThrow(/not an integer/);
      expect(send.sealedCount).toBe(1);
    });

    it('moves to a new key generation across the update interval, both sides in step', () => {
      const send = new SealingKey(cipher, secret);
      const receive = new OpeningKey(cipher, secret);
      const last = KEY_UPDATE_INTERVAL_PACKETS - 1;
      const before = send.seal(last, header, Buffer.from('old'));
      const after = send.seal(last + 1, header, Buffer.from('new'));
      expect(text(receive.open(last + 1, header, after))).toBe('new');
      expect(text(receive.open(last, header, before))).toBe('old');
      // Same plaintext and nonce position, different generation: different ciphertext.
      const a = new SealingKey(cipher, secret).seal(0, header, Buffer.from('same'));
      const b = new SealingKey(cipher, secret).seal(KEY_UPDATE_INTERVAL_PACKETS, header, Buffer.from('same'));
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false);
    });

    it('needs no replay window for ordered streams', () => {
      const send = new SealingKey(cipher, secret);
      const receive = new OpeningKey(cipher, secret, { replayWindow: false });
      const sealed = send.seal(0, header, Buffer.alloc(65536, 7));
      expect(receive.open(0, header, sealed)).toHaveLength(65536);
      expect(receive.replayWindow).toBeNull();
    });
  });
}
