/**
 * HandshakeState (Noise spec rev 34 §5.3): runs a handshake pattern over a SymmetricState. Errors are
 * AnttErrors: ProtocolError for malformed messages, AuthError when a message fails authentication.
 * `readMessage` is atomic: when it throws, the state is exactly as before the call, so a datagram
 * transport can drop a forged or corrupted message and keep waiting for the real one.
 */
import { AnttError, AuthError, ErrorCode, ProtocolError } from '@antt/core';
import { TAG_BYTES } from './aead.js';
import type { CipherState } from './cipher-state.js';
import { DH_BYTES, dh, generateKeyPair, type KeyPair } from './dh.js';
import { type ProtocolName, parseProtocolName, type Token } from './patterns.js';
import { SymmetricState } from './symmetric-state.js';

/** §3: every Noise message fits in 65535 bytes. */
export const MAX_NOISE_MESSAGE_BYTES = 65535;
export const PSK_BYTES = 32;

/** A handshake message failed authentication; `part` says whether the static key or the payload did. */
export class NoiseAuthenticationError extends AuthError {
  readonly part: 'static key' | 'payload';
  readonly messageNumber: number;

  constructor(part: 'static key' | 'payload', messageNumber: number, options?: { cause?: unknown }) {
    super(`the ${part} in handshake message ${messageNumber} failed authentication`, options);
    this.name = 'NoiseAuthenticationError';
    this.part = part;
    this.messageNumber = messageNumber;
  }
}

export interface HandshakeStateOptions {
  /** For example `Noise_XX_25519_ChaChaPoly_SHA256`. */
  protocolName: string;
  initiator: boolean;
  prologue?: Uint8Array;
  /** Local static key pair (required when the pattern sends `s`). */
  s?: KeyPair;
  /** Local ephemeral key pair: only for test vectors; normally generated. */
  e?: KeyPair;
  /** Remote static public key known in advance (pre-message patterns). */
  rs?: Uint8Array;
  psks?: readonly Uint8Array[];
}

export class HandshakeState {
  readonly protocol: ProtocolName;
  readonly initiator: boolean;
  private symmetricState: SymmetricState;
  private readonly s: KeyPair | undefined;
  private e: KeyPair | undefined;
  private rs: Buffer | undefined;
  private re: Buffer | undefined;
  private readonly psks: Buffer[];
  private pskIndex = 0;
  private messageIndex = 0;
  private cipherStates: [CipherState, CipherState] | null = null;

  constructor(options: HandshakeStateOptions) {
    this.protocol = parseProtocolName(options.protocolName);
    this.initiator = options.initiator;
    this.s = options.s;
    this.e = options.e;
    this.rs = options.rs ? Buffer.from(options.rs) : undefined;
    this.psks = (options.psks ?? []).map((psk) => Buffer.from(psk));
    if (this.psks.length !== this.protocol.pskCount || this.psks.some((psk) => psk.length !== PSK_BYTES)) {
      throw new AnttError(
        ErrorCode.INVALID_ARGUMENT,
        `${this.protocol.name} needs ${this.protocol.pskCount} pre-shared key(s) of ${PSK_BYTES} bytes`,
      );
    }
    const sendsStatic = this.protocol.pattern.messages.some(
      (tokens, index) => (index % 2 === 0) === this.initiator && tokens.includes('s'),
    );
    if (sendsStatic && !this.s) {
      throw new AnttError(ErrorCode.INVALID_ARGUMENT, `${this.protocol.name} needs a local static key pair`);
    }
    this.symmetricState = SymmetricState.initialize(this.protocol.name, this.protocol.cipher);
    this.symmetricState.mixHash(options.prologue ?? new Uint8Array(0));
    const [initiatorPre, responderPre] = this.protocol.pattern.preMessages;
    for (const token of initiatorPre) this.mixPreMessage(token, this.initiator);
    for (const token of responderPre) this.mixPreMessage(token, !this.initiator);
  }

  /** True once the last handshake message has been written or read. */
  get isComplete(): boolean {
    return this.cipherStates !== null;
  }

  /** True when the next step is writeMessage (false when reading, or when complete). */
  get isMyTurn(): boolean {
    return !this.isComplete && (this.messageIndex % 2 === 0) === this.initiator;
  }

  /** Index of the next handshake message (0-based). */
  get nextMessageIndex(): number {
    return this.messageIndex;
  }

  get remoteStaticKey(): Buffer | undefined {
    return this.rs;
  }

  get localEphemeralKey(): Buffer | undefined {
    return this.e?.publicKey;
  }

  getHandshakeHash(): Buffer {
    return this.symmetricState.getHandshakeHash();
  }

  writeMessage(payload: Uint8Array = new Uint8Array(0)): Buffer {
    this.expectTurn(true);
    const tokens = this.protocol.pattern.messages[this.messageIndex]!;
    const parts: Buffer[] = [];
    const ss = this.symmetricState;
    for (const token of tokens) {
      switch (token) {
        case 'e': {
          this.e ??= generateKeyPair();
          parts.push(this.e.publicKey);
          ss.mixHash(this.e.publicKey);
          if (this.protocol.pskCount > 0) ss.mixKey(this.e.publicKey);
          break;
        }
        case 's':
          parts.push(ss.encryptAndHash(this.s!.publicKey));
          break;
        case 'psk':
          ss.mixKeyAndHash(this.psks[this.pskIndex++]!);
          break;
        default:
          ss.mixKey(this.dhToken(token));
      }
    }
    parts.push(ss.encryptAndHash(payload));
    const message = Buffer.concat(parts);
    if (message.length > MAX_NOISE_MESSAGE_BYTES) {
      throw new AnttError(
        ErrorCode.MESSAGE_TOO_LARGE,
        `handshake message of ${message.length} bytes exceeds Noise's ${MAX_NOISE_MESSAGE_BYTES}-byte limit`,
      );
    }
    this.advance();
    return message;
  }

  readMessage(message: Uint8Array): Buffer {
    this.expectTurn(false);
    if (message.length > MAX_NOISE_MESSAGE_BYTES) {
      throw new ProtocolError(
        `handshake message of ${message.length} bytes exceeds ${MAX_NOISE_MESSAGE_BYTES}`,
      );
    }
    const saved = { ss: this.symmetricState, re: this.re, rs: this.rs, pskIndex: this.pskIndex };
    this.symmetricState = saved.ss.clone();
    try {
      return this.readTokens(Buffer.from(message.buffer, message.byteOffset, message.byteLength));
    } catch (error) {
      this.symmetricState = saved.ss;
      this.re = saved.re;
      this.rs = saved.rs;
      this.pskIndex = saved.pskIndex;
      throw error;
    }
  }

  /** §5.3 Split: [initiator → responder, responder → initiator]. */
  split(): [CipherState, CipherState] {
    if (!this.cipherStates) {
      throw new AnttError(ErrorCode.INVALID_STATE, 'split() called before the handshake completed');
    }
    return this.cipherStates;
  }

  private readTokens(message: Buffer): Buffer {
    const tokens = this.protocol.pattern.messages[this.messageIndex]!;
    const ss = this.symmetricState;
    let offset = 0;
    const take = (bytes: number, what: string): Buffer => {
      if (message.length - offset < bytes) {
        throw new ProtocolError(
          `handshake message ${this.messageIndex + 1} is too short: ${message.length} bytes, missing the ${what}`,
        );
      }
      const part = message.subarray(offset, offset + bytes);
      offset += bytes;
      return part;
    };
    for (const token of tokens) {
      switch (token) {
        case 'e': {
          const re = Buffer.from(take(DH_BYTES, 'ephemeral key'));
          this.re = re;
          ss.mixHash(re);
          if (this.protocol.pskCount > 0) ss.mixKey(re);
          break;
        }
        case 's': {
          const sealed = take(DH_BYTES + (ss.hasKey() ? TAG_BYTES : 0), 'static key');
          this.rs = this.decrypt(ss, sealed, 'static key');
          break;
        }
        case 'psk':
          ss.mixKeyAndHash(this.psks[this.pskIndex]!);
          this.pskIndex++;
          break;
        default:
          ss.mixKey(this.dhToken(token));
      }
    }
    const rest = message.subarray(offset);
    if (ss.hasKey() && rest.length < TAG_BYTES) {
      throw new ProtocolError(
        `handshake message ${this.messageIndex + 1} is too short for its authentication tag`,
      );
    }
    const payload = this.decrypt(ss, rest, 'payload');
    this.advance();
    return payload;
  }

  private decrypt(ss: SymmetricState, sealed: Uint8Array, part: 'static key' | 'payload'): Buffer {
    try {
      return ss.decryptAndHash(sealed);
    } catch (cause) {
      throw new NoiseAuthenticationError(part, this.messageIndex + 1, { cause });
    }
  }

  private dhToken(token: Exclude<Token, 'e' | 's' | 'psk'>): Buffer {
    // §7.3: "es" is DH(initiator's e, responder's s); the responder computes it from its own s and re.
    const local = (kind: 'e' | 's'): KeyPair => {
      const pair = kind === 'e' ? this.e : this.s;
      if (!pair) throw new AnttError(ErrorCode.INVALID_STATE, `missing local ${kind} key for ${token}`);
      return pair;
    };
    const remote = (kind: 'e' | 's'): Buffer => {
      const key = kind === 'e' ? this.re : this.rs;
      if (!key) throw new ProtocolError(`missing remote ${kind} key for ${token}`);
      return key;
    };
    const [first, second] = [token[0] as 'e' | 's', token[1] as 'e' | 's'];
    return this.initiator ? dh(local(first), remote(second)) : dh(local(second), remote(first));
  }

  private mixPreMessage(token: Token, local: boolean): void {
    const key = token === 'e' ? (local ? this.e?.publicKey : this.re) : local ? this.s?.publicKey : this.rs;
    if (!key) throw new AnttError(ErrorCode.INVALID_ARGUMENT, `pre-message needs the ${token} key`);
    this.symmetricState.mixHash(key);
  }

  private expectTurn(writing: boolean): void {
    if (this.isComplete) {
      throw new AnttError(ErrorCode.INVALID_STATE, 'the handshake is already complete');
    }
    if (this.isMyTurn !== writing) {
      throw new AnttError(
        ErrorCode.INVALID_STATE,
        `handshake message ${this.messageIndex + 1} is to be ${writing ? 'read' : 'written'} by this side, not ${writing ? 'written' : 'read'}`,
      );
    }
  }

  private advance(): void {
    this.messageIndex++;
    if (this.messageIndex === this.protocol.pattern.messages.length) {
      this.cipherStates = this.symmetricState.split();
    }
  }
}
