/**
 * DH25519 (Noise spec rev 34 §12.1) with node:crypto's X25519. Raw 32-byte keys go in and out through
 * the fixed DER prefixes of PKCS#8 and SPKI for the X25519 OID 1.3.101.110 (RFC 8410).
 */
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { AnttError, AuthError, ErrorCode } from '@antt/core';

export const DH_BYTES = 32;

const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');

export interface KeyPair {
  readonly publicKey: Buffer;
  readonly privateKey: Buffer;
  /** node's handle for the private key, kept so every DH does not re-import it. */
  readonly keyObject: KeyObject;
}

export function generateKeyPair(): KeyPair {
  const { privateKey } = generateKeyPairSync('x25519');
  return keyPairFromObject(privateKey);
}

export function keyPairFromPrivateKey(privateKey: Uint8Array): KeyPair {
  if (privateKey.length !== DH_BYTES) {
    throw new AnttError(
      ErrorCode.INVALID_ARGUMENT,
      `an X25519 private key has ${DH_BYTES} bytes, got ${privateKey.length}`,
    );
  }
  const keyObject = createPrivateKey({
    key: Buffer.concat([PKCS8_PREFIX, privateKey]),
    format: 'der',
    type: 'pkcs8',
  });
  return keyPairFromObject(keyObject);
}

function keyPairFromObject(keyObject: KeyObject): KeyPair {
  const pkcs8 = keyObject.export({ format: 'der', type: 'pkcs8' });
  const spki = createPublicKey(keyObject).export({ format: 'der', type: 'spki' });
  return {
    privateKey: Buffer.from(pkcs8.subarray(pkcs8.length - DH_BYTES)),
    publicKey: Buffer.from(spki.subarray(spki.length - DH_BYTES)),
    keyObject,
  };
}

/**
 * DH(key_pair, public_key). A peer that sends a low-order point makes the shared secret all zeros:
 * OpenSSL refuses it and so do we (Noise §12.1 allows either behaviour), as an AuthError.
 */
export function dh(keyPair: KeyPair, publicKey: Uint8Array): Buffer {
  let secret: Buffer;
  try {
    const peer = createPublicKey({
      key: Buffer.concat([SPKI_PREFIX, publicKey]),
      format: 'der',
      type: 'spki',
    });
    secret = diffieHellman({ privateKey: keyPair.keyObject, publicKey: peer });
  } catch (cause) {
    throw new AuthError('the peer sent an invalid X25519 public key', { cause });
  }
  if (secret.every((byte) => byte === 0)) {
    throw new AuthError('the peer sent a low-order X25519 public key');
  }
  return secret;
}
