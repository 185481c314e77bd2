/**
 * Who may connect, and whether a connection is secured at all: the options every Antt transport takes,
 * with one rule and one set of error messages, checked once in a constructor so a mistake fails at
 * startup, not at the first connection.
 */
import { AnttError, ErrorCode } from '@antt/core';
import { type AllowedPeers, allowedPeersPredicate } from './allowed-peers.js';
import { Identity } from './identity.js';
import { SecureContext } from './secure-context.js';

export interface TransportSecurityOptions {
  /**
   * This side's long-term key pair. Default: a fresh ephemeral identity per connection, so the peer id
   * changes every time; a stable peer id (one others can put in their `allowedPeers`) needs
   * `await Identity.loadOrCreate(path)`.
   */
  identity?: Identity;
  /** A secret both peers know (Noise XXpsk3; stretched with scrypt, cached per passphrase and context). */
  passphrase?: string;
  /** Both peers must use the same context (for example a rendezvous name). */
  passphraseContext?: string;
  /** Peer ids allowed to connect, or a function deciding per peer id (Noise XX plus this check). */
  allowedPeers?: Iterable<string> | ((peerId: string) => boolean);
  /** Encrypted, but any peer may connect: read `remotePeerId` and decide yourself. */
  acceptAnyPeer?: true;
  /**
   * **No handshake, no encryption, no authentication**: anyone on the path can read and forge the
   * traffic. For benchmarks and debugging only; emits one `SecurityWarning` per process.
   */
  insecure?: true;
}

export type ResolvedSecurity =
  | { secured: false }
  | {
      secured: true;
      identity: Identity;
      passphrase: string | undefined;
      passphraseContext: string | undefined;
      allowedPeers: ((peerId: string) => boolean) | undefined;
      acceptAnyPeer: boolean;
    };

export const SECURITY_CHOICES =
  'passphrase (a secret both peers know), allowedPeers (the peer ids that may connect), acceptAnyPeer: ' +
  'true (encrypted, but anyone who knows your address can connect) or insecure: true (no encryption, no ' +
  'authentication: benchmarks and debugging only)';

export function resolveSecurityOptions(options: TransportSecurityOptions): ResolvedSecurity {
  const { passphrase, allowedPeers, acceptAnyPeer, insecure, identity, passphraseContext } = options;
  if (insecure !== undefined && insecure !== true) throw invalid('option insecure must be true or absent');
  if (acceptAnyPeer !== undefined && acceptAnyPeer !== true) {
    throw invalid('option acceptAnyPeer must be true or absent');
  }
  const chosen = [
    passphrase !== undefined && 'passphrase',
    allowedPeers !== undefined && 'allowedPeers',
    acceptAnyPeer === true && 'acceptAnyPeer',
  ].filter((name): name is string => typeof name === 'string');
  if (insecure === true) {
    if (chosen.length > 0) {
      throw invalid(
        `option insecure: true turns authentication and encryption off, so it cannot be combined with ` +
          `${chosen.join(' or ')}: choose one`,
      );
    }
    return { secured: false };
  }
  if (chosen.length === 0) {
    throw invalid(`say who may connect: give one of ${SECURITY_CHOICES}`);
  }
  if (passphrase !== undefined && (typeof passphrase !== 'string' || passphrase.length === 0)) {
    throw invalid('option passphrase must be a non-empty string');
  }
  if (passphraseContext !== undefined && typeof passphraseContext !== 'string') {
    throw invalid('option passphraseContext must be a string');
  }
  // Duck-typed: an Identity from the other module format (ESM/CJS) is a different class.
  if (identity !== undefined && (typeof identity?.peerId !== 'string' || !identity.keyPair)) {
    throw invalid('option identity must be an Identity from @antt/secure (Identity.loadOrCreate(path))');
  }
  let allowed: ((peerId: string) => boolean) | undefined;
  if (allowedPeers !== undefined) {
    if (typeof allowedPeers !== 'function' && !isIterable(allowedPeers)) {
      throw invalid('option allowedPeers must be a list of peer ids or a function (peerId) => boolean');
    }
    // Parsed now (a typo throws ANTT_ERR_INVALID_ARGUMENT here), and once: an iterator can be read once.
    allowed = allowedPeersPredicate(allowedPeers as AllowedPeers) as (peerId: string) => boolean;
  }
  return {
    secured: true,
    identity: identity ?? Identity.generate(),
    passphrase,
    passphraseContext,
    allowedPeers: allowed,
    acceptAnyPeer: acceptAnyPeer === true,
  };
}

/** The endpoint's SecureContext (stretches the passphrase; scrypt results are cached per process). */
export function createSecureContext(
  security: Extract<ResolvedSecurity, { secured: true }>,
  signal?: AbortSignal,
): Promise<SecureContext> {
  return SecureContext.create({
    identity: security.identity,
    ...(signal ? { signal } : {}),
    acceptAnyPeer: security.acceptAnyPeer,
    ...(security.allowedPeers ? { allowedPeers: security.allowedPeers } : {}),
    ...(security.passphrase !== undefined ? { passphrase: security.passphrase } : {}),
    ...(security.passphraseContext !== undefined ? { passphraseContext: security.passphraseContext } : {}),
  });
}

function isIterable(value: unknown): value is Iterable<string> {
  return typeof value === 'object' && value !== null && Symbol.iterator in value;
}

function invalid(message: string): AnttError {
  return new AnttError(ErrorCode.INVALID_ARGUMENT, message);
}
