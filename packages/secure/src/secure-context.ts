/**
 * Per-endpoint security settings, resolved once (identity loaded, passphrase stretched), then one
 * SecureHandshake per connection without waiting. This is what a transport keeps on its endpoint.
 */
import { AnttError, ErrorCode } from '@antt/core';
import { type AllowedPeers, allowedPeersPredicate } from './allowed-peers.js';
import type { Identity } from './identity.js';
import type { CipherName } from './noise/aead.js';
import { derivePassphraseKey } from './passphrase.js';
import type { PeerId } from './peer-id.js';
import type { HandshakeRole } from './roles.js';
import { SecureHandshake } from './secure-handshake.js';

export interface SecureContextOptions {
  identity: Identity;
  allowedPeers?: AllowedPeers;
  passphrase?: string;
  /** Both sides must use the same context (for example the rendezvous name). */
  passphraseContext?: string;
  acceptAnyPeer?: boolean;
  cipher?: CipherName;
  signal?: AbortSignal;
}

export interface ConnectionSecurityOptions {
  role: HandshakeRole;
  transport: string;
  prologue?: Uint8Array;
  /** Per-connection override of the endpoint's allow list. */
  allowedPeers?: AllowedPeers;
  replayWindow?: number | false;
  /**
   * The transport's preferred cipher, used when the endpoint's options name none (else defaultCipher()).
   * Only the initiator's choice counts; the responder follows it.
   */
  cipher?: CipherName;
}

export class SecureContext {
  readonly identity: Identity;
  private readonly allowedPeers: AllowedPeers | undefined;
  private readonly psk: Uint8Array | undefined;
  private readonly acceptAnyPeer: boolean;
  private readonly cipher: CipherName | undefined;

  private constructor(options: SecureContextOptions, psk: Uint8Array | undefined) {
    this.identity = options.identity;
    this.allowedPeers = options.allowedPeers;
    this.psk = psk;
    this.acceptAnyPeer = options.acceptAnyPeer ?? false;
    this.cipher = options.cipher;
  }

  static async create(options: SecureContextOptions): Promise<SecureContext> {
    options.signal?.throwIfAborted();
    if (!options.allowedPeers && options.passphrase === undefined && !options.acceptAnyPeer) {
      throw new AnttError(
        ErrorCode.INVALID_ARGUMENT,
        'say who may connect: allowedPeers, passphrase, or acceptAnyPeer: true (encrypted but ' +
          'unauthenticated: anyone who knows your address can connect)',
      );
    }
    // Parse the allow list now so a typo fails at startup, not at the first connection.
    if (options.allowedPeers && typeof options.allowedPeers !== 'function') {
      allowedPeersPredicate(options.allowedPeers);
    }
    const psk =
      options.passphrase === undefined
        ? undefined
        : await derivePassphraseKey(options.passphrase, {
            ...(options.passphraseContext !== undefined ? { context: options.passphraseContext } : {}),
            ...(options.signal ? { signal: options.signal } : {}),
          });
    return new SecureContext(options, psk);
  }

  get peerId(): PeerId {
    return this.identity.peerId;
  }

  /** A fresh handshake for one connection. */
  handshake(options: ConnectionSecurityOptions): SecureHandshake {
    const allowedPeers = options.allowedPeers ?? this.allowedPeers;
    return new SecureHandshake({
      role: options.role,
      identity: this.identity,
      transport: options.transport,
      acceptAnyPeer: this.acceptAnyPeer,
      ...(options.prologue ? { prologue: options.prologue } : {}),
      ...(allowedPeers ? { allowedPeers } : {}),
      ...(this.psk ? { psk: this.psk } : {}),
      ...((this.cipher ?? options.cipher) ? { cipher: this.cipher ?? options.cipher } : {}),
      ...(options.replayWindow !== undefined ? { replayWindow: options.replayWindow } : {}),
    });
  }
}
