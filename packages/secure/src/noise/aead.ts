/**
 * The two Noise cipher functions (spec rev 34 §12.3, §12.4) on top of node:crypto. Noise fixes the
 * 96-bit nonce layout per cipher: ChaChaPoly puts the 64-bit counter little-endian after 4 zero bytes,
 * AESGCM puts it big-endian after 4 zero bytes.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

export type CipherName = 'ChaChaPoly' | 'AESGCM';

export const KEY_BYTES = 32;
export const TAG_BYTES = 16;
export const NONCE_BYTES = 12;

const NODE_CIPHER: Record<CipherName, 'chacha20-poly1305' | 'aes-256-gcm'> = {
  ChaChaPoly: 'chacha20-poly1305',
  AESGCM: 'aes-256-gcm',
};

export function nodeCipherName(cipher: CipherName): 'chacha20-poly1305' | 'aes-256-gcm' {
  return NODE_CIPHER[cipher];
}

/** Writes the Noise nonce for counter `n` (n < 2^53) into a fresh 12-byte buffer. */
export function noiseNonce(cipher: CipherName, n: number): Buffer {
  const nonce = Buffer.alloc(NONCE_BYTES);
  const high = Math.floor(n / 2 ** 32);
  const low = n >>> 0;
  if (cipher === 'ChaChaPoly') {
    nonce.writeUInt32LE(low, 4);
    nonce.writeUInt32LE(high, 8);
  } else {
    nonce.writeUInt32BE(high, 4);
    nonce.writeUInt32BE(low, 8);
  }
  return nonce;
}

/** AEAD encryption with an explicit 12-byte nonce: returns ciphertext || 16-byte tag. */
export function aeadSeal(
  cipher: CipherName,
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  plaintext: Uint8Array,
): Buffer {
  // The cast picks node's CipherCCM-free GCM/ChaCha overload; both accept authTagLength.
  const c = createCipheriv(NODE_CIPHER[cipher] as 'aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  c.setAAD(ad, { plaintextLength: plaintext.length });
  const out = Buffer.allocUnsafe(plaintext.length + TAG_BYTES);
  const body = c.update(plaintext);
  body.copy(out, 0);
  const rest = c.final();
  rest.copy(out, body.length);
  c.getAuthTag().copy(out, plaintext.length);
  return out;
}

/** AEAD decryption; returns null when the tag does not verify (never throws for bad input). */
export function aeadOpen(
  cipher: CipherName,
  key: Uint8Array,
  nonce: Uint8Array,
  ad: Uint8Array,
  sealed: Uint8Array,
): Buffer | null {
  if (sealed.length < TAG_BYTES) return null;
  const bodyLength = sealed.length - TAG_BYTES;
  const d = createDecipheriv(NODE_CIPHER[cipher] as 'aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  d.setAAD(ad, { plaintextLength: bodyLength });
  d.setAuthTag(sealed.subarray(bodyLength));
  const body = d.update(sealed.subarray(0, bodyLength));
  try {
    const rest = d.final();
    return rest.length === 0 ? body : Buffer.concat([body, rest]);
  } catch {
    return null;
  }
}
