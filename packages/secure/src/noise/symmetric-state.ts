/**
 * SymmetricState (Noise spec rev 34 §5.2): the chaining key `ck`, the handshake hash `h`, and the
 * CipherState they feed.
 */
import { type CipherName, KEY_BYTES } from './aead.js';
import { CipherState } from './cipher-state.js';
import { HASH_BYTES, hkdf, sha256 } from './hkdf.js';

const EMPTY = new Uint8Array(0);

export class SymmetricState {
  private ck: Buffer;
  private h: Buffer;
  private readonly cipherState: CipherState;

  private constructor(ck: Buffer, h: Buffer, cipherState: CipherState) {
    this.ck = ck;
    this.h = h;
    this.cipherState = cipherState;
  }

  /** §5.2 InitializeSymmetric: h = name padded with zeros if it fits in HASHLEN, else HASH(name). */
  static initialize(protocolName: string, cipher: CipherName): SymmetricState {
    const name = Buffer.from(protocolName, 'ascii');
    let h: Buffer;
    if (name.length <= HASH_BYTES) {
      h = Buffer.alloc(HASH_BYTES);
      name.copy(h);
    } else {
      h = sha256(name);
    }
    return new SymmetricState(Buffer.from(h), h, new CipherState(cipher));
  }

  mixKey(inputKeyMaterial: Uint8Array): void {
    const [ck, tempK] = hkdf(this.ck, inputKeyMaterial, 2);
    this.ck = ck;
    this.cipherState.initializeKey(tempK.subarray(0, KEY_BYTES));
  }

  mixHash(data: Uint8Array): void {
    this.h = sha256(this.h, data);
  }

  mixKeyAndHash(inputKeyMaterial: Uint8Array): void {
    const [ck, tempH, tempK] = hkdf(this.ck, inputKeyMaterial, 3);
    this.ck = ck;
    this.mixHash(tempH);
    this.cipherState.initializeKey(tempK.subarray(0, KEY_BYTES));
  }

  getHandshakeHash(): Buffer {
    return this.h;
  }

  hasKey(): boolean {
    return this.cipherState.hasKey();
  }

  encryptAndHash(plaintext: Uint8Array): Buffer {
    const ciphertext = this.cipherState.encryptWithAd(this.h, plaintext);
    this.mixHash(ciphertext);
    return ciphertext;
  }

  decryptAndHash(ciphertext: Uint8Array): Buffer {
    const plaintext = this.cipherState.decryptWithAd(this.h, ciphertext);
    this.mixHash(ciphertext);
    return plaintext;
  }

  /** §5.2 Split: two CipherStates, the first for initiator → responder. */
  split(): [CipherState, CipherState] {
    const [tempK1, tempK2] = hkdf(this.ck, EMPTY, 2);
    const c1 = new CipherState(this.cipherState.cipher);
    const c2 = new CipherState(this.cipherState.cipher);
    c1.initializeKey(tempK1.subarray(0, KEY_BYTES));
    c2.initializeKey(tempK2.subarray(0, KEY_BYTES));
    return [c1, c2];
  }

  clone(): SymmetricState {
    return new SymmetricState(this.ck, this.h, this.cipherState.clone());
  }
}
