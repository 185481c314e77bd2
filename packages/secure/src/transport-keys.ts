/**
 * Sealing and opening datagrams and frames after the handshake, with explicit packet numbers.
 *
 * Each direction gets its own key and 12-byte IV, derived from that direction's Noise split() key with
 * HKDF-Expand (labels "antt/1 key", "antt/1 iv"). The AEAD nonce is the IV XOR the 64-bit big-endian
 * packet number (the construction of RFC 9001 §5.3), so a nonce is never reused as long as a packet
 * number is never sealed twice, which SealingKey enforces by requiring packet numbers to increase.
 *
 * Every KEY_UPDATE_INTERVAL_PACKETS packets the key moves to the next generation,
 * key(g) = HKDF-Expand(base, "antt/1 key " + g): both sides compute g from the packet number, so no
 * signalling is needed, and AES-256-GCM stays far below its per-key usage limits (RFC 9001 §6.6).
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { AnttError, ErrorCode } from '@antt/core';
import { type CipherName, KEY_BYTES, NONCE_BYTES, nodeCipherName, TAG_BYTES } from './noise/aead.js';
import { hkdfLabel } from './noise/hkdf.js';
import { DEFAULT_REPLAY_WINDOW_PACKETS, ReplayWindow } from './replay-window.js';

/** 2^22 packets of up to 64 KiB keep AES-GCM under 2^34 blocks per key (RFC 9001 §6.6, Appendix B.1). */
export const KEY_UPDATE_INTERVAL_PACKETS = 2 ** 22;
export const SEAL_OVERHEAD_BYTES = TAG_BYTES;
const KEY_LABEL = 'antt/1 key';
const IV_LABEL = 'antt/1 iv';

export type PacketNumber = bigint | number;

/** Converts to a safe non-negative integer, or returns -1. */
function toPacketNumber(value: PacketNumber): number {
  if (typeof value === 'bigint') {
    return value >= 0n && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : -1;
  }
  return Number.isSafeInteger(value) && value >= 0 ? value : -1;
}

abstract class DirectionKey {
  readonly cipher: CipherName;
  protected readonly algorithm: 'chacha20-poly1305' | 'aes-256-gcm';
  private readonly secret: Buffer;
  private readonly iv: Buffer;
  private readonly nonce = Buffer.alloc(NONCE_BYTES);
  private generations: { generation: number; key: KeyObject }[] = [];

  constructor(cipher: CipherName, secret: Uint8Array) {
    if (secret.length !== KEY_BYTES) {
      throw new AnttError(ErrorCode.INVALID_ARGUMENT, `a transport secret has ${KEY_BYTES} bytes`);
    }
    this.cipher = cipher;
    this.algorithm = nodeCipherName(cipher);
    this.secret = Buffer.from(secret);
    this.iv = hkdfLabel(this.secret, IV_LABEL, NONCE_BYTES);
  }

  /** The 12-byte nonce for `packetNumber`; reused buffer, valid until the next call. */
  protected nonceFor(packetNumber: number): Buffer {
    const nonce = this.nonce;
    this.iv.copy(nonce);
    const high = Math.floor(packetNumber / 2 ** 32);
    const low = packetNumber >>> 0;
    nonce.writeUInt32BE((nonce.readUInt32BE(4) ^ high) >>> 0, 4);
    nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ low) >>> 0, 8);
    return nonce;
  }

  /**
   * Key for the generation `packetNumber` falls in; keeps the two most recent generations. A KeyObject
   * rather than raw bytes: node then skips re-importing the key on every createCipheriv (measurably
   * faster for aes-256-gcm, see bench/).
   */
  protected keyFor(packetNumber: number): KeyObject {
    const generation = Math.floor(packetNumber / KEY_UPDATE_INTERVAL_PACKETS);
    for (const entry of this.generations) if (entry.generation === generation) return entry.key;
    const key = createSecretKey(hkdfLabel(this.secret, `${KEY_LABEL} ${generation}`, KEY_BYTES));
    this.generations = [{ generation, key }, ...this.generations].slice(0, 2);
    return key;
  }
}

export class SealingKey extends DirectionKey {
  private lastPacketNumber = -1;
  private count = 0;

  /** Datagrams or frames sealed so far. */
  get sealedCount(): number {
    return this.count;
  }

  /**
   * Encrypts `plaintext` and authenticates it together with `header` (associated data, sent in clear);
   * returns ciphertext || 16-byte tag. Packet numbers must increase strictly: sealing the same number
   * twice would reuse a nonce, so it throws (retransmit the sealed bytes, or use a new packet number).
   */
  seal(packetNumber: PacketNumber, header: Uint8Array, plaintext: Uint8Array): Uint8Array {
    const out = Buffer.allocUnsafe(plaintext.length + TAG_BYTES);
    this.sealInto(packetNumber, header, plaintext, out, 0);
    return out;
  }

  /**
   * {@link seal}, writing ciphertext || tag into `out` at `offset` instead of a fresh buffer (one
   * allocation and one copy less per datagram); returns the bytes written (plaintext length + 16).
   * `plaintext` may be the very bytes it is written over (sealing a datagram in place): the cipher has
   * read all of it before anything is written. Throws like {@link seal}, and when `out` is too short.
   */
  sealInto(
    packetNumber: PacketNumber,
    header: Uint8Array,
    plaintext: Uint8Array,
    out: Uint8Array,
    offset: number,
  ): number {
    const pn = toPacketNumber(packetNumber);
    if (pn < 0) {
      throw new AnttError(
        ErrorCode.INVALID_ARGUMENT,
        `packet number ${packetNumber} is not an integer in 0..2^53-1`,
      );
    }
    if (pn <= this.lastPacketNumber) {
      throw new AnttError(
        ErrorCode.INVALID_STATE,
        `packet number ${pn} was not above the last sealed one (${this.lastPacketNumber}): that would reuse a nonce`,
      );
    }
    const length = plaintext.length + TAG_BYTES;
    if (offset < 0 || offset + length > out.length) {
      throw new AnttError(
        ErrorCode.INVALID_ARGUMENT,
        `sealing ${plaintext.length} bytes needs ${length} bytes at offset ${offset} of a ${out.length}-byte buffer`,
      );
    }
    // The tag length is the default (16) of both ciphers, and GCM and ChaCha20-Poly1305 need no
    // plaintext length for the AAD: no option objects to validate on this per-datagram path.
    const cipher = createCipheriv(this.algorithm as 'aes-256-gcm', this.keyFor(pn), this.nonceFor(pn));
    cipher.setAAD(header);
    // update() returns a new buffer: it has read all of `plaintext` before `out` is written.
    const body = cipher.update(plaintext);
    out.set(body, offset);
    cipher.final();
    out.set(cipher.getAuthTag(), offset + plaintext.length);
    this.lastPacketNumber = pn;
    this.count++;
    return length;
  }
}

export interface OpeningKeyOptions {
  /** Replay window in packets (multiple of 32), or false for ordered streams that need none. */
  replayWindow?: number | false;
}

export interface OpeningStats {
  /** Datagrams or frames that authenticated and were returned. */
  opened: number;
  /** Dropped: the AEAD tag did not verify (forged, corrupted, wrong key, wrong header). */
  rejectedAuthentication: number;
  /** Dropped: a packet number already seen, or older than the replay window. */
  rejectedReplay: number;
  /** Dropped: shorter than the tag, or a packet number outside 0..2^53-1. */
  rejectedMalformed: number;
}

export class OpeningKey extends DirectionKey {
  readonly replayWindow: ReplayWindow | null;
  private readonly counters: OpeningStats = {
    opened: 0,
    rejectedAuthentication: 0,
    rejectedReplay: 0,
    rejectedMalformed: 0,
  };

  constructor(cipher: CipherName, secret: Uint8Array, options: OpeningKeyOptions = {}) {
    super(cipher, secret);
    const window = options.replayWindow ?? DEFAULT_REPLAY_WINDOW_PACKETS;
    this.replayWindow = window === false ? null : new ReplayWindow(window);
  }

  get stats(): Readonly<OpeningStats> {
    return { ...this.counters };
  }

  /**
   * Verifies and decrypts; returns null (and counts why) for anything that is not authentic and new.
   * Never throws for bad input from the network.
   */
  open(packetNumber: PacketNumber, header: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    const pn = toPacketNumber(packetNumber);
    if (
      pn < 0 ||
      !(sealed instanceof Uint8Array) ||
      sealed.length < TAG_BYTES ||
      !(header instanceof Uint8Array)
    ) {
      this.counters.rejectedMalformed++;
      return null;
    }
    if (this.replayWindow && !this.replayWindow.check(pn)) {
      this.counters.rejectedReplay++;
      return null;
    }
    const bodyLength = sealed.length - TAG_BYTES;
    const decipher = createDecipheriv(this.algorithm as 'aes-256-gcm', this.keyFor(pn), this.nonceFor(pn), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(header, { plaintextLength: bodyLength });
    decipher.setAuthTag(sealed.subarray(bodyLength));
    const body = decipher.update(sealed.subarray(0, bodyLength));
    try {
      decipher.final();
    } catch {
      this.counters.rejectedAuthentication++;
      return null;
    }
    this.replayWindow?.commit(pn);
    this.counters.opened++;
    return body;
  }
}

/** Both directions of a secured connection, as returned by SecureHandshake.split(). */
export interface TransportKeys {
  readonly send: SealingKey;
  readonly receive: OpeningKey;
}
