/**
 * Which library runs the per-datagram and per-frame AEAD of SealingKey and OpeningKey.
 *
 * node:crypto pays a fixed ~13 µs per createCipheriv/createDecipheriv (object set-up, option checks,
 * a fresh output buffer), which dominates a 1200-byte datagram. libsodium (through the optional
 * `sodium-native` binding) encrypts ChaCha20-Poly1305 straight into a caller's buffer in ~2 µs per
 * 1200 bytes, and streams faster too (`pnpm bench`). So ChaChaPoly runs on libsodium when the binding
 * loads, and on node:crypto otherwise; AESGCM always runs on node:crypto (sodium-native has no
 * AES-GCM). Both libraries implement the same RFC 8439 construction, so bytes sealed by one open with
 * the other: two peers need not agree on a backend, only on the cipher (the handshake negotiates it).
 *
 * The binding is loaded lazily, once, inside try/catch: a missing package, a platform without a
 * prebuild or a broken install all mean node:crypto, never an error.
 */
import { createRequire } from 'node:module';
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

export type AeadBackendName = 'sodium-native' | 'node:crypto';

let sodium: SodiumAead | null | undefined;
let nodeOnly = false;

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

/** libsodium's AEAD calls, or null when sodium-native is not available (or switched off). */
export function sodiumAead(): SodiumAead | null {
  if (nodeOnly) return null;
  if (sodium === undefined) sodium = loadSodium();
  return sodium;
}

/** The library that keys created from now on use for `cipher`. */
export function aeadBackendFor(cipher: CipherName): AeadBackendName {
  return cipher === 'ChaChaPoly' && sodiumAead() !== null ? 'sodium-native' : 'node:crypto';
}

/**
 * Internal switch for tests and benchmarks (not exported from the package): 'node:crypto' makes keys
 * created afterwards ignore sodium-native, as on a machine without it; 'auto' restores the default.
 */
export function setAeadBackend(choice: 'auto' | 'node:crypto'): void {
  nodeOnly = choice === 'node:crypto';
}
