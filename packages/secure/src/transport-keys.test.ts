import { ErrorCode } from '@antt/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AeadBackendChoice,
  type AeadBackendName,
  nativeAead,
  setAeadBackend,
  sodiumAead,
} from './aead-backend.js';
import { KEY_UPDATE_INTERVAL_PACKETS, OpeningKey, SealingKey } from './transport-keys.js';

const secret = new Uint8Array(32).fill(1);
const other = new Uint8Array(32).fill(2);
const header = Uint8Array.of(0x40, 1, 2, 3);
const text = (bytes: Uint8Array | null) => (bytes ? Buffer.from(bytes).toString() : null);

const SETUPS = [
  { cipher: 'ChaChaPoly', backend: '@antt/native' },
  { cipher: 'AESGCM', backend: '@antt/native' },
  { cipher: 'ChaChaPoly', backend: 'sodium-native' },
  { cipher: 'ChaChaPoly', backend: 'node:crypto' },
  { cipher: 'AESGCM', backend: 'node:crypto' },
] as const satisfies readonly { cipher: string; backend: AeadBackendName }[];

for (const { cipher, backend } of SETUPS) {
  // Both libraries are optional: without one (aead-backend.test.ts checks each loads where installed,
  // and @antt/native's own tests that CI builds it) its rows have nothing to run on.
  const choice: AeadBackendChoice = backend === '@antt/native' ? 'auto' : backend;
  const missing =
    (backend === '@antt/native' && nativeAead() === null) ||
    (backend === 'sodium-native' && sodiumAead() === null);
  describe.skipIf(missing)(`sealing with ${cipher} on ${backend}`, () => {
    beforeEach(() => setAeadBackend(choice));
    afterEach(() => setAeadBackend('auto'));

    it(`runs on ${backend}`, () => {
      expect(new SealingKey(cipher, secret).backend).toBe(backend);
      expect(new OpeningKey(cipher, secret).backend).toBe(backend);
    });

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

    it('seals and opens in place, and through buffers that overlap at another offset', () => {
      const plaintext = Buffer.from('a datagram payload, sealed where it lies');
      const expected = new SealingKey(cipher, secret).seal(0, header, plaintext);
      // In place: ciphertext || tag over the payload, the tag in the room behind it.
      const datagram = Buffer.alloc(4 + plaintext.length + 16);
      plaintext.copy(datagram, 4);
      const send = new SealingKey(cipher, secret);
      const body = datagram.subarray(4, 4 + plaintext.length);
      expect(send.sealInto(0, header, body, datagram, 4)).toBe(plaintext.length + 16);
      expect(datagram.subarray(4)).toEqual(Buffer.from(expected));
      const receive = new OpeningKey(cipher, secret, { replayWindow: false });
      expect(receive.openInto(0, header, datagram.subarray(4), datagram, 4)).toBe(plaintext.length);
      expect(datagram.subarray(4, 4 + plaintext.length)).toEqual(plaintext);
      // Shifted: the plaintext starts 3 bytes before (then after) where the sealed bytes go.
      for (const [from, to] of [
        [0, 3],
        [3, 0],
      ] as const) {
        const buffer = Buffer.alloc(3 + plaintext.length + 16);
        plaintext.copy(buffer, from);
        const shifted = new SealingKey(cipher, secret);
        shifted.sealInto(0, header, buffer.subarray(from, from + plaintext.length), buffer, to);
        expect(buffer.subarray(to, to + plaintext.length + 16)).toEqual(Buffer.from(expected));
        const sealed = buffer.subarray(to, to + plaintext.length + 16);
        expect(receive.openInto(0, header, sealed, buffer, from)).toBe(plaintext.length);
        expect(buffer.subarray(from, from + plaintext.length)).toEqual(plaintext);
      }
    });

    it('openInto drops and counts like open, and refuses an output buffer too short', () => {
      const send = new SealingKey(cipher, secret);
      const receive = new OpeningKey(cipher, secret);
      const sealed = send.seal(4, header, Buffer.from('in a buffer of yours'));
      const out = Buffer.alloc(64, 0xee);
      const forged = Uint8Array.from(sealed);
      forged[0]! ^= 1;
      expect(receive.openInto(4, header, forged, out, 10)).toBe(-1);
      expect(receive.openInto(4, header, new Uint8Array(15), out, 0)).toBe(-1);
      expect(receive.stats).toMatchObject({ rejectedAuthentication: 1, rejectedMalformed: 1 });
      // Failed attempts touched only the plaintext's range of `out`, and not the packet number.
      expect(out.subarray(0, 10).every((byte) => byte === 0xee)).toBe(true);
      expect(receive.openInto(4, header, sealed, out, 10)).toBe(20);
      expect(text(out.subarray(10, 30))).toBe('in a buffer of yours');
      expect(receive.openInto(4, header, sealed, out, 10)).toBe(-1);
      expect(receive.stats.rejectedReplay).toBe(1);
      expect(() => receive.openInto(5, header, sealed, out, 50)).toThrow(
        expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
      );
      expect(() => send.sealInto(5, header, new Uint8Array(10), out, 40)).toThrow(/needs 26 bytes/);
    });
  });
}
