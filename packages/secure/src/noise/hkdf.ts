/**
 * HASH, HMAC-HASH and HKDF exactly as Noise spec rev 34 §4.3 defines them, for SHA256. This is RFC 5869
 * HKDF with the chaining key as salt and an empty info string, written out with node's createHmac so the
 * correspondence with the spec is visible line by line.
 */
import { createHash, createHmac } from 'node:crypto';

export const HASH_BYTES = 32;

const EMPTY = new Uint8Array(0);

export function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const part of parts) h.update(part);
  return h.digest();
}

export function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const h = createHmac('sha256', key);
  for (const part of parts) h.update(part);
  return h.digest();
}

/** Noise §4.3 HKDF(chaining_key, input_key_material, num_outputs) for num_outputs 2 or 3. */
export function hkdf(chainingKey: Uint8Array, inputKeyMaterial: Uint8Array, outputs: 2): [Buffer, Buffer];
export function hkdf(
  chainingKey: Uint8Array,
  inputKeyMaterial: Uint8Array,
  outputs: 3,
): [Buffer, Buffer, Buffer];
export function hkdf(chainingKey: Uint8Array, inputKeyMaterial: Uint8Array, outputs: 2 | 3): Buffer[] {
  const tempKey = hmacSha256(chainingKey, inputKeyMaterial);
  const output1 = hmacSha256(tempKey, Uint8Array.of(0x01));
  const output2 = hmacSha256(tempKey, output1, Uint8Array.of(0x02));
  if (outputs === 2) return [output1, output2];
  const output3 = hmacSha256(tempKey, output2, Uint8Array.of(0x03));
  return [output1, output2, output3];
}

/** RFC 5869 expand-only with a label, used outside Noise to derive transport keys from split() keys. */
export function hkdfLabel(secret: Uint8Array, label: string, bytes: number): Buffer {
  const info = Buffer.from(label, 'utf8');
  const out = Buffer.allocUnsafe(bytes);
  let previous: Uint8Array = EMPTY;
  let offset = 0;
  for (let counter = 1; offset < bytes; counter++) {
    previous = hmacSha256(secret, previous, info, Uint8Array.of(counter));
    offset += Buffer.from(previous).copy(out, offset);
  }
  return out;
}
