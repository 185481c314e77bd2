/**
 * @packageDocumentation
 * Authenticated, encrypted Antt connections, without sockets: identities and peer ids, a Noise XX
 * handshake (XXpsk3 with a passphrase) driven by the transport, and per-datagram / per-frame AEAD
 * sealing with a replay window. Two sides in memory:
 *
 * ```ts
 * import { Identity, SecureHandshake } from '@antt/secure';
 *
 * const alice = Identity.generate();
 * const bob = Identity.generate();
 * const initiator = new SecureHandshake({ role: 'initiator', identity: alice, transport: 'udp', allowedPeers: [bob.peerId] });
 * const responder = new SecureHandshake({ role: 'responder', identity: bob, transport: 'udp', allowedPeers: [alice.peerId] });
 *
 * responder.readMessage(initiator.writeMessage()); // 1: e
 * initiator.readMessage(responder.writeMessage()); // 2: e, ee, s, es  (alice checks bob's id)
 * responder.readMessage(initiator.writeMessage()); // 3: s, se         (bob checks alice's id)
 * initiator.readMessage(responder.writeMessage()); // 4: confirm
 *
 * const a = initiator.split();
 * const b = responder.split();
 * const header = new Uint8Array([0x01, 0, 0, 0, 7]); // the transport's clear header, authenticated
 * const sealed = a.send.seal(7, header, new TextEncoder().encode('hello'));
 * console.log(new TextDecoder().decode(b.receive.open(7, header, sealed)!), initiator.remotePeerId === bob.peerId);
 * ```
 *
 * Transports keep a {@link SecureContext} per endpoint and call `context.handshake({ role, transport })`
 * per connection; see the README for the datagram and stream integration sketches.
 */
export type { AeadBackendName } from './aead-backend.js';
export {
  type AllowedPeers,
  allowedPeersPredicate,
  loadAllowedPeers,
  parseAllowedPeers,
} from './allowed-peers.js';
export { AMPLIFICATION_FACTOR, AmplificationLimiter } from './amplification-limiter.js';
export {
  decodeHeader as decodeHandshakeHeader,
  HANDSHAKE_HEADER_BYTES,
  HANDSHAKE_VERSION,
  MessageType as HandshakeMessageType,
  RejectReason,
} from './handshake-message.js';
export { Identity, type IdentityFileOptions } from './identity.js';
export { INSECURE_WARNING_CODE, warnInsecure } from './insecure.js';
export type { CipherName } from './noise/aead.js';
export { CipherState } from './noise/cipher-state.js';
export { generateKeyPair, type KeyPair, keyPairFromPrivateKey } from './noise/dh.js';
export {
  HandshakeState,
  type HandshakeStateOptions,
  MAX_NOISE_MESSAGE_BYTES,
  NoiseAuthenticationError,
} from './noise/handshake-state.js';
export { SymmetricState } from './noise/symmetric-state.js';
export {
  clearPassphraseKeyCache,
  derivePassphraseKey,
  PASSPHRASE_KEY_BYTES,
  type PassphraseKeyOptions,
  SCRYPT_N,
  SCRYPT_P,
  SCRYPT_R,
} from './passphrase.js';
export { isPeerId, type PeerId, parsePeerId, peerIdFromPublicKey } from './peer-id.js';
export { DEFAULT_REPLAY_WINDOW_PACKETS, ReplayWindow } from './replay-window.js';
export { chooseRoles, type HandshakeRole } from './roles.js';
export {
  type ConnectionSecurityOptions,
  SecureContext,
  type SecureContextOptions,
} from './secure-context.js';
export {
  defaultCipher,
  type HandshakeStep,
  SecureHandshake,
  type SecureHandshakeCreateOptions,
  type SecureHandshakeOptions,
} from './secure-handshake.js';
export {
  KEY_UPDATE_INTERVAL_PACKETS,
  OpeningKey,
  type OpeningKeyOptions,
  type OpeningStats,
  type PacketNumber,
  SEAL_OVERHEAD_BYTES,
  SealingKey,
  type TransportKeys,
} from './transport-keys.js';
export {
  createSecureContext,
  type ResolvedSecurity,
  resolveSecurityOptions,
  SECURITY_CHOICES,
  type TransportSecurityOptions,
} from './transport-options.js';
