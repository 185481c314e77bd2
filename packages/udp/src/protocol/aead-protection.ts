/**
 * DATA packets of a secured connection: sealed with the AEAD keys the Noise handshake produced
 * (@antt/secure). Nonce = the packet number (never reused in a direction: lost data goes out again under
 * a new number), associated data = the clear 18-byte header (version, type, connection ID, packet
 * number), so a header changed on the way fails like a changed payload. Opening checks the replay window
 * first (RFC 4303 §3.4.3): a datagram seen before, or older than the window, is not even decrypted.
 *
 * Both directions work in place on the datagram buffer: `SealingKey.sealInto` writes ciphertext and tag
 * behind the header of the pooled send buffer that goes to the socket, and `OpeningKey.openInto` writes
 * the plaintext over the ciphertext it came from. On libsodium (ChaChaPoly, the default where
 * sodium-native loads) neither allocates anything per datagram; node:crypto returns a fresh buffer that
 * is copied into place. A datagram that fails to open is dropped, so its bytes need not survive.
 */
import { SEAL_OVERHEAD_BYTES, type TransportKeys } from '@antt/secure';
import type { PacketProtection } from './protection.js';

/** {@link AeadProtection.open}'s answer for a packet number already seen or too old. */
export const OPEN_REPLAYED = -2;
/** {@link AeadProtection.open}'s answer for a datagram that failed authentication (forged, corrupted). */
export const OPEN_FORGED = -1;

export class AeadProtection implements PacketProtection {
  readonly overheadBytes = SEAL_OVERHEAD_BYTES;
  readonly #keys: TransportKeys;

  constructor(keys: TransportKeys) {
    this.#keys = keys;
  }

  seal(datagram: Uint8Array, headerBytes: number, payloadEnd: number, packetNumber: number): number {
    return (
      headerBytes +
      this.#keys.send.sealInto(
        packetNumber,
        datagram.subarray(0, headerBytes),
        datagram.subarray(headerBytes, payloadEnd),
        datagram,
        headerBytes,
      )
    );
  }

  /** Where the payload ends, {@link OPEN_REPLAYED} or {@link OPEN_FORGED}. Never throws. */
  open(datagram: Uint8Array, headerBytes: number, packetNumber: number): number {
    const receive = this.#keys.receive;
    if (receive.replayWindow && !receive.replayWindow.check(packetNumber)) return OPEN_REPLAYED;
    const bodyBytes = receive.openInto(
      packetNumber,
      datagram.subarray(0, headerBytes),
      datagram.subarray(headerBytes),
      datagram,
      headerBytes,
    );
    return bodyBytes < 0 ? OPEN_FORGED : headerBytes + bodyBytes;
  }
}
