/**
 * The handshake a transport drives: Noise XX (or XXpsk3 with a passphrase) wrapped in Antt's framing,
 * plus the authorization checks and a confirm message. Sans-IO: feed it bytes, send what it returns.
 *
 *     initiator                                   responder
 *     writeMessage()  ── 1: e ──────────────────▶ readMessage()
 *     readMessage()   ◀── 2: e, ee, s, es ─────── writeMessage()    (initiator checks responder's id)
 *     writeMessage()  ── 3: s, se [, psk] ──────▶ readMessage()     (responder checks passphrase, id)
 *     readMessage()   ◀── 4: confirm ──────────── writeMessage()
 *
 * Keys exist on both sides after message 3 (`complete`); the initiator is sure the responder accepted
 * it after message 4 (`confirmed`). A side that fails sends `rejectMessage()` so the other side fails
 * quickly with the same cause instead of waiting for its handshake timeout.
 */
import { AnttError, AuthError, ErrorCode, ProtocolError } from '@antt/core';
import { aeadBackendFor } from './aead-backend.js';
import { type AllowedPeers, allowedPeersPredicate } from './allowed-peers.js';
import {
  decodeHeader,
  encodeMessage,
  encodeSuite,
  HANDSHAKE_VERSION,
  MessageType,
  protocolNameOf,
  RejectReason,
  rejectToError,
  type Suite,
} from './handshake-message.js';
import type { Identity } from './identity.js';
import { aeadOpen, aeadSeal, type CipherName, NONCE_BYTES } from './noise/aead.js';
import { HandshakeState, NoiseAuthenticationError, PSK_BYTES } from './noise/handshake-state.js';
import { hkdfLabel } from './noise/hkdf.js';
import { derivePassphraseKey } from './passphrase.js';
import { type PeerId, peerIdFromPublicKey } from './peer-id.js';
import type { HandshakeRole } from './roles.js';
import { OpeningKey, SealingKey, type TransportKeys } from './transport-keys.js';

/**
 * The initiator's cipher when none is given (the responder follows the initiator). With the
 * @antt/native addon both ciphers write into the caller's buffer on Node's OpenSSL, and AES-256-GCM
 * (AES-NI) is the faster of the two (0.6 against 1.1 µs per 1200-byte seal, 4.4 against 4.1 GB/s at
 * 1 MiB; `cd packages/native && pnpm bench`), so it is AESGCM. Without the addon but with libsodium
 * (sodium-native) it is ChaChaPoly: node:crypto spends ~5-13 µs per createCipheriv whichever the
 * cipher, libsodium ~2 µs per 1200 bytes into the caller's buffer. With neither, node's AES-256-GCM
 * beats node's ChaCha20-Poly1305 on large frames, so AESGCM again. Machines without AES instructions
 * should pass cipher: 'ChaChaPoly'. Key generations (transport-keys.ts) keep either cipher inside its
 * per-key limits.
 */
export function defaultCipher(): CipherName {
  return aeadBackendFor('ChaChaPoly') === 'sodium-native' ? 'ChaChaPoly' : 'AESGCM';
}
const CONFIRM_LABEL = 'antt/1 confirm';
const TRANSPORT_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

export type HandshakeStep = 'write' | 'read' | 'done' | 'failed';

export interface SecureHandshakeOptions {
  role: HandshakeRole;
  identity: Identity;
  /** Transport name bound into the prologue, for example 'udp' or 'tcp'. */
  transport: string;
  /** Extra bytes both sides know (connection ids, rendezvous name): bound into the prologue. */
  prologue?: Uint8Array;
  /** Who may connect (authorized_keys-style). */
  allowedPeers?: AllowedPeers;
  /** 32-byte pre-shared key from derivePassphraseKey(); switches the handshake to XXpsk3. */
  psk?: Uint8Array;
  /** Accept any peer (still encrypted); the application checks `remotePeerId` itself. */
  acceptAnyPeer?: boolean;
  /** The initiator's AEAD choice; the responder follows the initiator. */
  cipher?: CipherName;
  /** Replay window of the OpeningKey from split(): packets, or false for ordered streams. */
  replayWindow?: number | false;
}

export interface SecureHandshakeCreateOptions extends Omit<SecureHandshakeOptions, 'psk'> {
  psk?: Uint8Array;
  passphrase?: string;
  /** Context for the passphrase key (both sides must use the same), see derivePassphraseKey. */
  passphraseContext?: string;
  signal?: AbortSignal;
}

const EMPTY = new Uint8Array(0);

export class SecureHandshake {
  readonly role: HandshakeRole;
  readonly localPeerId: PeerId;
  private readonly options: SecureHandshakeOptions;
  private readonly isAllowed: ((peerId: PeerId) => boolean) | null;
  private readonly prologue: Buffer;
  private suite: Suite;
  private noise: HandshakeState | null = null;
  private nextType: MessageType = MessageType.FIRST;
  private state: HandshakeStep;
  private peerId: PeerId | undefined;
  private secrets: { send: Buffer; receive: Buffer; confirm: Buffer; hash: Buffer } | null = null;
  private splitDone = false;
  private confirmedFlag = false;
  private error: AnttError | undefined;
  private readonly reasons = new WeakMap<AnttError, RejectReason>();

  constructor(options: SecureHandshakeOptions) {
    if (options.role !== 'initiator' && options.role !== 'responder') {
      throw new AnttError(ErrorCode.INVALID_ARGUMENT, `role must be 'initiator' or 'responder'`);
    }
    if (!options.identity?.keyPair) {
      throw new AnttError(
        ErrorCode.INVALID_ARGUMENT,
        'a SecureHandshake needs an identity (Identity.loadOrCreate)',
      );
    }
    if (typeof options.transport !== 'string' || !TRANSPORT_NAME.test(options.transport)) {
      throw new AnttError(ErrorCode.INVALID_ARGUMENT, `transport must be a short lower-case name like 'udp'`);
    }
    if (options.psk !== undefined && options.psk.length !== PSK_BYTES) {
      throw new AnttError(
        ErrorCode.INVALID_ARGUMENT,
        `psk must be ${PSK_BYTES} bytes (use derivePassphraseKey)`,
      );
    }
    if (!options.allowedPeers && !options.psk && !options.acceptAnyPeer) {
      throw new AnttError(
        ErrorCode.INVALID_ARGUMENT,
        'say who may connect: allowedPeers, a passphrase, or acceptAnyPeer: true (encrypted but ' +
          'unauthenticated: anyone who knows your address can connect)',
      );
    }
    this.role = options.role;
    this.options = options;
    this.localPeerId = options.identity.peerId;
    this.isAllowed = options.allowedPeers ? allowedPeersPredicate(options.allowedPeers) : null;
    this.prologue = Buffer.concat([
      Buffer.from(`antt/${HANDSHAKE_VERSION}\0${options.transport}\0`, 'ascii'),
      options.prologue ?? EMPTY,
    ]);
    this.suite = { psk: options.psk !== undefined, cipher: options.cipher ?? defaultCipher() };
    this.state = this.role === 'initiator' ? 'write' : 'read';
  }

  /** Like the constructor, but also accepts `passphrase` (derived with scrypt, cached). */
  static async create(options: SecureHandshakeCreateOptions): Promise<SecureHandshake> {
    const { passphrase, passphraseContext, signal, ...rest } = options;
    const psk =
      passphrase !== undefined
        ? await derivePassphraseKey(passphrase, {
            ...(passphraseContext !== undefined ? { context: passphraseContext } : {}),
            ...(signal ? { signal } : {}),
          })
        : options.psk;
    return new SecureHandshake({ ...rest, ...(psk ? { psk } : {}) });
  }

  /** What the transport should do next. */
  get nextStep(): HandshakeStep {
    return this.state;
  }

  /** Keys are available (after message 3 on both sides). */
  get complete(): boolean {
    return this.secrets !== null;
  }

  /** The handshake is finished: the responder wrote, or the initiator read, the confirm message. */
  get confirmed(): boolean {
    return this.confirmedFlag;
  }

  get failed(): boolean {
    return this.state === 'failed';
  }

  /** The last error readMessage raised, terminal or not (report it when the handshake times out). */
  get lastError(): AnttError | undefined {
    return this.error;
  }

  /** The peer's id, once its static key has been authenticated (message 2 or 3). */
  get remotePeerId(): PeerId | undefined {
    return this.peerId;
  }

  get remotePublicKey(): Uint8Array | undefined {
    return this.noise?.remoteStaticKey ? new Uint8Array(this.noise.remoteStaticKey) : undefined;
  }

  /** The AEAD both sides use (the initiator's choice). */
  get cipher(): CipherName {
    return this.suite.cipher;
  }

  /** Noise handshake hash: a channel binding both sides share once complete. */
  get handshakeHash(): Uint8Array | undefined {
    return this.secrets ? new Uint8Array(this.secrets.hash) : undefined;
  }

  /** Produces the next handshake message carrying `payload` (cleartext in message 1: no secrets there). */
  writeMessage(payload: Uint8Array = EMPTY): Uint8Array {
    if (this.state !== 'write') {
      throw new AnttError(
        ErrorCode.INVALID_STATE,
        `writeMessage() called when the handshake expects to ${this.state === 'read' ? 'read a message' : `be ${this.state}`}`,
      );
    }
    const type = this.nextType;
    if (type === MessageType.CONFIRM) {
      const secrets = this.secrets!;
      const body = aeadSeal(
        this.suite.cipher,
        secrets.confirm,
        Buffer.alloc(NONCE_BYTES),
        secrets.hash,
        payload,
      );
      this.confirmedFlag = true;
      this.state = 'done';
      return encodeMessage(type, encodeSuite(this.suite), body);
    }
    if (type === MessageType.FIRST) this.noise = this.newNoise();
    const body = this.noise!.writeMessage(payload);
    this.afterMessage();
    return encodeMessage(type, encodeSuite(this.suite), body);
  }

  /**
   * Consumes the peer's handshake message and returns its payload. Throws AuthError or ProtocolError.
   * When `failed` is false after a throw, the message was ignored and nothing changed (a datagram
   * transport may keep waiting for the genuine message); when true, the handshake is over: send
   * `rejectMessage()` and close.
   */
  readMessage(message: Uint8Array): Uint8Array {
    if (this.state !== 'read') {
      throw new AnttError(
        ErrorCode.INVALID_STATE,
        `readMessage() called when the handshake expects to ${this.state === 'write' ? 'write a message' : `be ${this.state}`}`,
      );
    }
    try {
      return this.read(message);
    } catch (error) {
      const anttError = AnttError.is(error)
        ? error
        : new ProtocolError(`unexpected failure reading a handshake message: ${String(error)}`, {
            cause: error,
          });
      this.error = anttError;
      throw anttError;
    }
  }

  /** A message telling the peer why this side gave up (defaults to the last error). */
  rejectMessage(error: unknown = this.error): Uint8Array {
    let reason: RejectReason = RejectReason.PROTOCOL;
    if (AnttError.is(error)) {
      reason =
        this.reasons.get(error) ?? (error.code === ErrorCode.AUTH ? RejectReason.AUTHENTICATION : reason);
    }
    return encodeMessage(MessageType.REJECT, reason, EMPTY);
  }

  /** Transport keys for both directions; available once `complete`, and only once (nonce safety). */
  split(): TransportKeys {
    if (!this.secrets)
      throw new AnttError(ErrorCode.INVALID_STATE, 'split() called before the handshake completed');
    if (this.splitDone)
      throw new AnttError(ErrorCode.INVALID_STATE, 'split() may be called only once per handshake');
    this.splitDone = true;
    const replayWindow = this.options.replayWindow;
    return {
      send: new SealingKey(this.suite.cipher, this.secrets.send),
      receive: new OpeningKey(this.suite.cipher, this.secrets.receive, {
        ...(replayWindow !== undefined ? { replayWindow } : {}),
      }),
    };
  }

  private read(message: Uint8Array): Uint8Array {
    const header = decodeHeader(message);
    if (header.type === MessageType.REJECT) throw this.fail(rejectToError(header.reason));
    if (header.type !== this.nextType) {
      throw new ProtocolError(`expected handshake message ${this.nextType}, got message ${header.type}`);
    }
    if (header.type === MessageType.CONFIRM) {
      const secrets = this.secrets!;
      const payload = aeadOpen(
        this.suite.cipher,
        secrets.confirm,
        Buffer.alloc(NONCE_BYTES),
        secrets.hash,
        header.body,
      );
      if (payload === null)
        throw new AuthError('the confirm message failed authentication (tampered in transit?)');
      this.confirmedFlag = true;
      this.state = 'done';
      return payload;
    }
    if (header.type === MessageType.FIRST) this.acceptSuite(header.suite);
    else if (header.suite.psk !== this.suite.psk || header.suite.cipher !== this.suite.cipher) {
      throw new ProtocolError('the peer changed the handshake suite mid-handshake');
    }
    const noise = this.noise ?? this.newNoise();
    let payload: Uint8Array;
    try {
      payload = noise.readMessage(header.body);
    } catch (error) {
      throw this.explain(error, header.type);
    }
    this.noise = noise;
    if (noise.remoteStaticKey && !this.peerId) {
      const peerId = peerIdFromPublicKey(noise.remoteStaticKey);
      if (this.isAllowed && !this.isAllowed(peerId)) {
        throw this.fail(
          new AuthError(`peer id ${peerId} is not in the allowed list`),
          RejectReason.PEER_NOT_ALLOWED,
        );
      }
      this.peerId = peerId;
    }
    this.afterMessage();
    return payload;
  }

  /** The responder follows the initiator's cipher; a passphrase on one side only is an error. */
  private acceptSuite(suite: Suite): void {
    if (suite.psk !== this.suite.psk) {
      const why = suite.psk
        ? 'the peer uses a passphrase but none is configured here'
        : 'a passphrase is configured here but the peer did not use one';
      throw this.fail(new AuthError(why), RejectReason.PASSPHRASE_MISMATCH);
    }
    this.suite = { psk: this.suite.psk, cipher: suite.cipher };
  }

  private explain(error: unknown, type: MessageType): AnttError {
    if (error instanceof NoiseAuthenticationError) {
      if (this.suite.psk && type === MessageType.THIRD && error.part === 'payload') {
        const passphraseError = new AuthError(
          'the peer did not prove it knows the passphrase (wrong passphrase?)',
          {
            cause: error,
          },
        );
        this.reasons.set(passphraseError, RejectReason.PASSPHRASE);
        return passphraseError;
      }
      return new AuthError(
        `handshake message ${type} failed authentication: tampered in transit, or the peer binds a different ` +
          'context into the handshake (transport, connection ids)',
        { cause: error },
      );
    }
    if (AnttError.is(error)) return error;
    return new ProtocolError(`handshake message ${type} is malformed`, { cause: error });
  }

  private fail(error: AnttError, reason?: RejectReason): AnttError {
    if (reason !== undefined) this.reasons.set(error, reason);
    this.state = 'failed';
    return error;
  }

  private newNoise(): HandshakeState {
    return new HandshakeState({
      protocolName: protocolNameOf(this.suite),
      initiator: this.role === 'initiator',
      prologue: this.prologue,
      s: this.options.identity.keyPair,
      ...(this.suite.psk ? { psks: [this.options.psk!] } : {}),
    });
  }

  private afterMessage(): void {
    const noise = this.noise!;
    if (noise.isComplete && !this.secrets) {
      const [initiatorToResponder, responderToInitiator] = noise.split();
      const i2r = initiatorToResponder.key!;
      const r2i = responderToInitiator.key!;
      const initiator = this.role === 'initiator';
      this.secrets = {
        send: initiator ? i2r : r2i,
        receive: initiator ? r2i : i2r,
        confirm: hkdfLabel(r2i, CONFIRM_LABEL, 32),
        hash: Buffer.from(noise.getHandshakeHash()),
      };
      // After message 3 the responder owes the confirm message; the initiator waits for it.
      this.nextType = MessageType.CONFIRM;
      this.state = initiator ? 'read' : 'write';
      return;
    }
    this.nextType = (this.nextType + 1) as MessageType;
    this.state = noise.isMyTurn ? 'write' : 'read';
  }
}
