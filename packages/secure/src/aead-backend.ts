/**
 * Which library runs the per-datagram and per-frame AEAD of SealingKey and OpeningKey.
 *
 * node:crypto pays a fixed ~5-13 µs per createCipheriv/createDecipheriv (object set-up, option checks,
 * a fresh output buffer), which dominates a 1200-byte datagram. Two optional libraries avoid it by
 * writing straight into the caller's buffer:
 * - `@antt/native` (this workspace's addon, on the OpenSSL Node itself runs on): both ciphers, one
 *   OpenSSL context per key kept for the key's life, ~0.6 µs per 1200-byte AES-GCM seal;
 * - `sodium-native` (libsodium): ChaCha20-Poly1305 only, ~2 µs per 1200 bytes.
 * A key uses the first that loads, in that order, and node:crypto otherwise. All of them implement the
 * same RFC 8439 / NIST GCM constructions, so bytes sealed by one open with any other: two peers need not
 * agree on a backend, only on the cipher (the handshake negotiates it).
 *
 * Both are loaded lazily, once, inside try/catch: a missing package, an addon that was not built, a
 * platform without a prebuild or a broken install all mean the next backend, never an error.
 */
import { createRequire } from 'node:module';
import { loadNative, type NativeAddon } from '@antt/native';
import type { CipherName } from './noise/aead.js';

/** The two libsodium calls used here (sodium-native's signatures; it ships no type declarations). */
export interface SodiumAead {
  /** Writes ciphertext || tag into `c` (exactly m.length + 16 bytes); `c` may be `m` itself. */
  crypto_aead_chacha20poly1305_ietf_encrypt(
    c: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  /** Writes the plaintext into `m` (exactly c.length - 16 bytes); throws when the tag does not verify. */
  crypto_aead_chacha20poly1305_ietf_decrypt(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    ad: Uint8Array,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
}

export type AeadBackendName = '@antt/native' | 'sodium-native' | 'node:crypto';

/**
 * 'auto': the fastest that loads. 'sodium-native': skip the addon (sodium-native for ChaChaPoly, as on
 * a machine where the addon could not be built). 'node:crypto': neither library.
 */
export type AeadBackendChoice = 'auto' | 'sodium-native' | 'node:crypto';

let sodium: SodiumAead | null | undefined;
let choice: AeadBackendChoice = 'auto';

function loadSodium(): SodiumAead | null {
  try {
    const binding = createRequire(import.meta.url)('sodium-native') as Partial<SodiumAead>;
    if (
      typeof binding.crypto_aead_chacha20poly1305_ietf_encrypt === 'function' &&
      typeof binding.crypto_aead_chacha20poly1305_ietf_decrypt === 'function'
    ) {
      return binding as SodiumAead;
    }
  } catch {
    // Not installed, no prebuild for this platform, or an ABI mismatch: node:crypto does the work.
  }
  return null;
}

/** The addon's AEAD calls, or null when @antt/native is not built (or switched off). */
export function nativeAead(): NativeAddon | null {
  if (choice !== 'auto') return null;
  return loadNative();
}

/** libsodium's AEAD calls, or null when sodium-native is not available (or switched off). */
export function sodiumAead(): SodiumAead | null {
  if (choice === 'node:crypto') return null;
  if (sodium === undefined) sodium = loadSodium();
  return sodium;
}

/** The library that keys created from now on use for `cipher`. */
export function aeadBackendFor(cipher: CipherName): AeadBackendName {
  if (nativeAead() !== null) return '@antt/native';
  return cipher === 'ChaChaPoly' && sodiumAead() !== null ? 'sodium-native' : 'node:crypto';
}

/**
 * Internal switch for tests and benchmarks (not exported from the package): keys created afterwards
 * use the backends `next` allows, as on a machine without the skipped libraries; 'auto' restores the
 * default.
 */
export function setAeadBackend(next: AeadBackendChoice): void {
  choice = next;
}
