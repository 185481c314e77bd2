/**
 * The seal/open step every datagram passes through, so that a later release can authenticate and encrypt
 * each datagram with an AEAD without touching the rest of the protocol.
 *
 * Today's {@link ChecksumProtection} appends a CRC-32 over header and payload: UDP's own 16-bit checksum
 * is optional over IPv4 and is recomputed by every middlebox that rewrites a datagram, so it does not
 * catch corruption introduced on the way (the impairment relay flips bits in user space, as a broken
 * router would). CRC-32 detects every error of up to 3 bits in a datagram of this size.
 *
 * An AEAD replaces it with: nonce = packet number (never reused per direction, see wire.ts), associated
 * data = the 18-byte header, a 16-byte tag ({@link RESERVED_TAG_BYTES} is always kept free in the size
 * budget, whatever the protection in use).
 */
import { crc32 } from 'node:zlib';
import { readUint32, writeUint32 } from './wire.js';

/** Room kept in every datagram for an AEAD tag (AES-GCM and ChaCha20-Poly1305 both use 16 bytes). */
export const RESERVED_TAG_BYTES = 16;
const CRC_BYTES = 4;

export interface PacketProtection {
  /** Bytes `seal` appends; at most {@link RESERVED_TAG_BYTES}. */
  readonly overheadBytes: number;
  /**
   * Protects `datagram[0, payloadEnd)` in place (header bytes `[0, headerBytes)` are authenticated but
   * stay readable) and appends the tag. Returns the datagram's final length.
   */
  seal(datagram: Uint8Array, headerBytes: number, payloadEnd: number, packetNumber: number): number;
  /**
   * Checks and unprotects `datagram` in place. The endpoint checks an INIT from an unknown peer before it
   * creates state for it, and the new connection opens the same datagram again: an implementation that
   * decrypts in place must recognise a datagram it already opened (or the INIT must stay unencrypted, as
   * in most handshakes). Returns where the payload ends, or -1 when the datagram is
   * not authentic (corrupted, forged, or for another key): the caller drops and counts it.
   */
  open(datagram: Uint8Array, headerBytes: number, packetNumber: number): number;
}

/** Integrity only: a CRC-32 trailer over header and payload. No confidentiality, no authenticity. */
export class ChecksumProtection implements PacketProtection {
  readonly overheadBytes = CRC_BYTES;

  seal(datagram: Uint8Array, _headerBytes: number, payloadEnd: number): number {
    writeUint32(datagram, payloadEnd, crc32(datagram.subarray(0, payloadEnd)));
    return payloadEnd + CRC_BYTES;
  }

  open(datagram: Uint8Array, headerBytes: number): number {
    const payloadEnd = datagram.length - CRC_BYTES;
    if (payloadEnd < headerBytes) return -1;
    const expected = readUint32(datagram, payloadEnd);
    return crc32(datagram.subarray(0, payloadEnd)) === expected ? payloadEnd : -1;
  }
}
