/**
 * CipherState (Noise spec rev 34 §5.1): a key `k` (or none) and a 64-bit nonce counter `n`.
 * We keep `n` as a JS number, so one CipherState stops at 2^53 messages instead of 2^64 - 1; Antt's
 * transport sealing does not use CipherState counters at all (see transport-keys.ts).
 */
import { AnttError, AuthError, ErrorCode } from '@antt/core';
import { aeadOpen, aeadSeal, type CipherName, KEY_BYTES, noiseNonce } from './aead.js';

/** §5.1: the nonce 2^64 - 1 is reserved; we stop earlier, at the largest exact JS integer. */
const MAX_NONCE = Number.MAX_SAFE_INTEGER;

const ZEROS_32 = new Uint8Array(32);
const EMPTY = new Uint8Array(0);

export class CipherState {
  readonly cipher: CipherName;
  private k: Buffer | null = null;
  private n = 0;

  constructor(cipher: CipherName) {
    this.cipher = cipher;
  }

  initializeKey(key: Uint8Array | null): void {
    this.k = key === null ? null : Buffer.from(key.subarray(0, KEY_BYTES));
    this.n = 0;
  }

  hasKey(): boolean {
    return this.k !== null;
  }

  /** The current nonce; exposed for tests and for transports that want to inspect progress. */
  get nonce(): number {
    return this.n;
  }

  setNonce(nonce: number): void {
    this.n = nonce;
  }

  /** The raw key, for split() consumers that derive their own transport keys. */
  get key(): Buffer | null {
    return this.k;
  }

  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Buffer {
    if (this.k === null) return Buffer.from(plaintext);
    this.checkNonce();
    const sealed = aeadSeal(this.cipher, this.k, noiseNonce(this.cipher, this.n), ad, plaintext);
    this.n++;
    return sealed;
  }

  /** Throws AuthError when authentication fails; `n` only advances on success (§5.1). */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Buffer {
    if (this.k === null) return Buffer.from(ciphertext);
    this.checkNonce();
    const plaintext = aeadOpen(this.cipher, this.k, noiseNonce(this.cipher, this.n), ad, ciphertext);
    if (plaintext === null) throw new AuthError('a Noise message failed authentication');
    this.n++;
    return plaintext;
  }

  /** §4.2 REKEY: k = first 32 bytes of ENCRYPT(k, 2^64 - 1, empty, zeros). */
  rekey(): void {
    if (this.k === null) return;
    const maxNonce = Buffer.alloc(12, 0xff);
    maxNonce.fill(0, 0, 4);
    const next = aeadSeal(this.cipher, this.k, maxNonce, EMPTY, ZEROS_32);
    this.k = next.subarray(0, KEY_BYTES);
  }

  clone(): CipherState {
    const copy = new CipherState(this.cipher);
    copy.k = this.k;
    copy.n = this.n;
    return copy;
  }

  private checkNonce(): void {
    if (this.n >= MAX_NONCE) {
      throw new AnttError(
        ErrorCode.INVALID_STATE,
        'this Noise CipherState used all its nonces; rekey or reconnect',
      );
    }
  }
}
