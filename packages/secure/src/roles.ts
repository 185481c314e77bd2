/**
 * Choosing handshake roles when both sides dial at once. Each side already sends a random value before
 * the handshake (a connection id or nonce); comparing them as unsigned big-endian numbers gives both
 * sides the same answer without another round trip: the larger value is the initiator.
 */
import { AnttError, ErrorCode, ProtocolError } from '@antt/core';

export type HandshakeRole = 'initiator' | 'responder';

/** 'initiator' when localNonce > remoteNonce; ProtocolError when equal (pick new nonces and retry). */
export function chooseRoles(localNonce: Uint8Array, remoteNonce: Uint8Array): HandshakeRole {
  if (localNonce.length !== remoteNonce.length || localNonce.length === 0) {
    throw new AnttError(
      ErrorCode.INVALID_ARGUMENT,
      `role nonces must be non-empty and of equal length (got ${localNonce.length} and ${remoteNonce.length} bytes)`,
    );
  }
  const order = Buffer.compare(localNonce, remoteNonce);
  if (order === 0) throw new ProtocolError('both sides picked the same role nonce; pick new random nonces');
  return order > 0 ? 'initiator' : 'responder';
}
