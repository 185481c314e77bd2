/**
 * Passphrases become Noise pre-shared keys with scrypt (RFC 7914), which is memory-hard: each guess costs
 * 128 · N · r bytes of memory (32 MiB here) and tens of milliseconds.
 *
 * Both ends must derive the same key before they talk, so the salt cannot be random: it is a fixed
 * protocol label plus an optional context (for instance the rendezvous name both ends type), which
 * at least makes precomputed tables specific to Antt and to that context. Derived keys are cached per
 * (passphrase, context) so reconnecting does not pay again.
 */
import { scrypt } from 'node:crypto';
import { AnttError, ErrorCode } from '@antt/core';
import { sha256 } from './noise/hkdf.js';

/** scrypt cost parameters: N = 2^15, r = 8, p = 1 (RFC 7914 §2's interactive-login recommendation). */
export const SCRYPT_N = 2 ** 15;
export const SCRYPT_R = 8;
export const SCRYPT_P = 1;
export const PASSPHRASE_KEY_BYTES = 32;
export const PASSPHRASE_SALT_LABEL = 'antt/1 passphrase';
/** 128 · N · r = 32 MiB, plus headroom for node's own accounting. */
const SCRYPT_MAX_MEMORY_BYTES = 64 * 1024 * 1024;
const CACHE_ENTRIES = 16;

const cache = new Map<string, Promise<Uint8Array>>();

export interface PassphraseKeyOptions {
  /** Both ends must pass the same context (for example a rendezvous name); default ''. */
  context?: string;
  signal?: AbortSignal;
}

/** Derives the 32-byte pre-shared key for `passphrase` (cached per passphrase and context). */
export function derivePassphraseKey(
  passphrase: string,
  options: PassphraseKeyOptions = {},
): Promise<Uint8Array> {
  options.signal?.throwIfAborted();
  if (typeof passphrase !== 'string' || passphrase.length === 0) {
    return Promise.reject(
      new AnttError(ErrorCode.INVALID_ARGUMENT, 'the passphrase must be a non-empty string'),
    );
  }
  const context = options.context ?? '';
  const salt = Buffer.from(`${PASSPHRASE_SALT_LABEL}\0${context}`, 'utf8');
  const password = Buffer.from(passphrase.normalize('NFC'), 'utf8');
  // The cache key is a hash so the map does not hold the passphrase itself.
  const cacheKey = sha256(salt, Uint8Array.of(0), password).toString('hex');
  const cached = cache.get(cacheKey);
  if (cached) {
    cache.delete(cacheKey);
    cache.set(cacheKey, cached);
    return cached;
  }
  const derived = new Promise<Uint8Array>((resolve, reject) => {
    scrypt(
      password,
      salt,
      PASSPHRASE_KEY_BYTES,
      { N: SCRYPT_N, r: SCRYPT_R, p: SCRYPT_P, maxmem: SCRYPT_MAX_MEMORY_BYTES },
      (error, key) => {
        if (error) {
          cache.delete(cacheKey);
          reject(
            new AnttError(ErrorCode.INVALID_ARGUMENT, `scrypt failed: ${error.message}`, { cause: error }),
          );
        } else resolve(new Uint8Array(key));
      },
    );
  });
  cache.set(cacheKey, derived);
  if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value!);
  return derived;
}

/** Forgets every cached passphrase key (for tests, or after a passphrase change). */
export function clearPassphraseKeyCache(): void {
  cache.clear();
}
