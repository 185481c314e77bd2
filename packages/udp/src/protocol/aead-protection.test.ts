import { OpeningKey, SealingKey } from '@antt/secure';
import { describe, expect, it } from 'vitest';
import { AeadProtection, OPEN_FORGED, OPEN_REPLAYED } from './aead-protection.js';
import { HEADER_BYTES } from './wire.js';

const secret = new Uint8Array(32).fill(7);
const PAYLOAD = Buffer.from('stream frame bytes, sealed and opened where they lie');

/** A datagram as the connection builds it: header, payload, room for the tag. */
function datagram(packetNumber: number): Buffer {
  const bytes = Buffer.alloc(HEADER_BYTES + PAYLOAD.length + 16);
  bytes.fill(0xa7, 0, HEADER_BYTES);
  bytes.writeUInt32BE(packetNumber, HEADER_BYTES - 4);
  PAYLOAD.copy(bytes, HEADER_BYTES);
  return bytes;
}

for (const cipher of ['ChaChaPoly', 'AESGCM'] as const) {
  describe(`AeadProtection with ${cipher}`, () => {
    const pair = () => ({
      sender: new AeadProtection({
        send: new SealingKey(cipher, secret),
        receive: new OpeningKey(cipher, secret),
      }),
      receiver: new AeadProtection({
        send: new SealingKey(cipher, secret),
        receive: new OpeningKey(cipher, secret),
      }),
    });

    it('seals and opens in place: the payload is back behind the header', () => {
      const { sender, receiver } = pair();
      const bytes = datagram(3);
      const header = Buffer.from(bytes.subarray(0, HEADER_BYTES));
      expect(sender.seal(bytes, HEADER_BYTES, HEADER_BYTES + PAYLOAD.length, 3)).toBe(bytes.length);
      expect(bytes.subarray(HEADER_BYTES, HEADER_BYTES + PAYLOAD.length).equals(PAYLOAD)).toBe(false);
      expect(receiver.open(bytes, HEADER_BYTES, 3)).toBe(HEADER_BYTES + PAYLOAD.length);
      expect(bytes.subarray(0, HEADER_BYTES).equals(header)).toBe(true);
      expect(bytes.subarray(HEADER_BYTES, HEADER_BYTES + PAYLOAD.length).equals(PAYLOAD)).toBe(true);
    });

    it('tells forged from replayed datagrams, and a forgery does not stop the genuine one', () => {
      const { sender, receiver } = pair();
      const bytes = datagram(9);
      sender.seal(bytes, HEADER_BYTES, HEADER_BYTES + PAYLOAD.length, 9);
      const genuine = Buffer.from(bytes);
      bytes[HEADER_BYTES + 2]! ^= 0x10;
      expect(receiver.open(bytes, HEADER_BYTES, 9)).toBe(OPEN_FORGED);
      expect(receiver.open(Buffer.from(genuine), HEADER_BYTES, 9)).toBe(HEADER_BYTES + PAYLOAD.length);
      expect(receiver.open(Buffer.from(genuine), HEADER_BYTES, 9)).toBe(OPEN_REPLAYED);
    });
  });
}
