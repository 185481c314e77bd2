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
 *
 * Both ciphers run on the @antt/native addon when it is built; otherwise ChaCha20-Poly1305 runs on
 * libsodium when sodium-native loads, and the rest on node:crypto (aead-backend.ts); the bytes on the
 * wire are the same either way.
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import { AnttError, ErrorCode } from '@antt/core';
import type { NativeAddon, NativeAeadHandle } from '@antt/native';
import {
  type AeadBackendName,
  aeadBackendFor,
  nativeAead,
  type SodiumAead,
  sodiumAead,
} from './aead-backend.js';
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

/**
 * True when `a` and `b` share memory without starting at the same byte. libsodium (like most AEAD
 * code) handles exact aliasing (in place) but not a shifted overlap, so such input is copied first.
 */
function overlapsShifted(a: Uint8Array, b: Uint8Array): boolean {
  return overlapsShiftedAt(a, b, 0, b.byteLength);
}

/** {@link overlapsShifted} for b[offset, offset + length), without creating that view. */
function overlapsShiftedAt(a: Uint8Array, b: Uint8Array, offset: number, length: number): boolean {
  if (a.buffer !== b.buffer) return false;
  const start = b.byteOffset + offset;
  if (a.byteOffset === start) return false;
  return a.byteOffset < start + length && start < a.byteOffset + a.byteLength;
}

interface Generation {
  generation: number;
  /** Raw key bytes (libsodium takes them as they are). */
  bytes: Buffer;
  /** node:crypto's handle, created only on that backend. */
  object: KeyObject | undefined;
  /** The addon's OpenSSL context for this direction, created only on that backend. */
  handle: NativeAeadHandle | undefined;
}

abstract class DirectionKey {
  readonly cipher: CipherName;
  /** The library sealing or opening for this key (see aead-backend.ts); peers may differ. */
  readonly backend: AeadBackendName;
  /** The addon's calls when `backend` is @antt/native, else null. */
  protected readonly native: NativeAddon | null;
  /** libsodium's calls when `backend` is sodium-native, else null. */
  protected readonly sodium: SodiumAead | null;
  private readonly encrypts: boolean;
  protected readonly algorithm: 'chacha20-poly1305' | 'aes-256-gcm';
  private readonly secret: Buffer;
  private readonly iv: Buffer;
  private readonly nonce = Buffer.alloc(NONCE_BYTES);
  private generations: Generation[] = [];

  constructor(cipher: CipherName, secret: Uint8Array, encrypts: boolean) {
    if (secret.length !== KEY_BYTES) {
      throw new AnttError(ErrorCode.INVALID_ARGUMENT, `a transport secret has ${KEY_BYTES} bytes`);
    }
    this.cipher = cipher;
    this.backend = aeadBackendFor(cipher);
    this.native = this.backend === '@antt/native' ? nativeAead() : null;
    this.encrypts = encrypts;
    this.sodium = this.backend === 'sodium-native' ? sodiumAead() : null;
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

  /** The generation `packetNumber` falls in; keeps the two most recent generations. */
  private generationFor(packetNumber: number): Generation {
    const generation = Math.floor(packetNumber / KEY_UPDATE_INTERVAL_PACKETS);
    for (const entry of this.generations) if (entry.generation === generation) return entry;
    const bytes = hkdfLabel(this.secret, `${KEY_LABEL} ${generation}`, KEY_BYTES);
    const entry: Generation = {
      generation,
      bytes,
      object: this.backend === 'node:crypto' ? createSecretKey(bytes) : undefined,
      handle: this.native?.createAead(this.cipher === 'AESGCM' ? 0 : 1, bytes, this.encrypts),
    };
    this.generations = [entry, ...this.generations].slice(0, 2);
    return entry;
  }

  /** The addon's context for `packetNumber`'s generation. */
  protected handleFor(packetNumber: number): NativeAeadHandle {
    return this.generationFor(packetNumber).handle as NativeAeadHandle;
  }

  /** Key bytes for libsodium. */
  protected keyBytesFor(packetNumber: number): Buffer {
    return this.generationFor(packetNumber).bytes;
  }

  /**
   * Key for node:crypto. A KeyObject rather than raw bytes: node then skips re-importing the key on
   * every createCipheriv (measurably faster for aes-256-gcm, see bench/).
   */
  protected keyObjectFor(packetNumber: number): KeyObject {
    const entry = this.generationFor(packetNumber);
    entry.object ??= createSecretKey(entry.bytes);
    return entry.object;
  }
}

export class SealingKey extends DirectionKey {
  private lastPacketNumber = -1;
  private count = 0;

  constructor(cipher: CipherName, secret: Uint8Array) {
    super(cipher, secret, true);
  }

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
   * {@link seal}, writing ciphertext || tag into `out` at `offset` instead of a fresh buffer; returns the
   * bytes written (plaintext length + 16). On the addon and libsodium nothing is allocated: the cipher
   * writes straight into `out`. `plaintext` may be the very bytes it is written over (sealing a datagram in place), or
   * overlap them at another offset (then it is copied first). Throws like {@link seal}, and when `out`
   * is too short.
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
    if (!Number.isInteger(offset) || offset < 0 || offset + length > out.length) {
      throw new AnttError(
        ErrorCode.INVALID_ARGUMENT,
        `sealing ${plaintext.length} bytes needs ${length} bytes at offset ${offset} of a ${out.length}-byte buffer`,
      );
    }
    const native = this.native;
    const sodium = this.sodium;
    if (native !== null) {
      // The addon writes at `offset` itself: no subarray view per datagram.
      const shifted = overlapsShiftedAt(plaintext, out, offset, length);
      const source = shifted ? new Uint8Array(plaintext) : plaintext;
      native.seal(this.handleFor(pn), this.nonceFor(pn), header, source, out, offset);
    } else if (sodium !== null) {
      const target = out.subarray(offset, offset + length);
      const source = overlapsShifted(plaintext, target) ? new Uint8Array(plaintext) : plaintext;
      sodium.crypto_aead_chacha20poly1305_ietf_encrypt(
        target,
        source,
        header,
        null,
        this.nonceFor(pn),
        this.keyBytesFor(pn),
      );
    } else {
      // The tag length is the default (16) of both ciphers, and GCM and ChaCha20-Poly1305 need no
      // plaintext length for the AAD: no option objects to validate on this per-datagram path.
      const cipher = createCipheriv(
        this.algorithm as 'aes-256-gcm',
        this.keyObjectFor(pn),
        this.nonceFor(pn),
      );
      cipher.setAAD(header);
      // update() returns a new buffer: it has read all of `plaintext` before `out` is written.
      const body = cipher.update(plaintext);
      out.set(body, offset);
      cipher.final();
      out.set(cipher.getAuthTag(), offset + plaintext.length);
    }
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
    super(cipher, secret, false);
    const window = options.replayWindow ?? DEFAULT_REPLAY_WINDOW_PACKETS;
    this.replayWindow = window === false ? null : new ReplayWindow(window);
  }

  get stats(): Readonly<OpeningStats> {
    return { ...this.counters };
  }

  /**
   * Verifies and decrypts into a fresh buffer; returns null (and counts why) for anything that is not
   * authentic and new. Never throws for bad input from the network.
   */
  open(packetNumber: PacketNumber, header: Uint8Array, sealed: Uint8Array): Uint8Array | null {
    const pn = this.admit(packetNumber, header, sealed);
    if (pn < 0) return null;
    const bodyLength = sealed.length - TAG_BYTES;
    let body: Uint8Array | null;
    if (this.native !== null) {
      body = Buffer.allocUnsafe(bodyLength);
      if (this.native.open(this.handleFor(pn), this.nonceFor(pn), header, sealed, body, 0) < 0) body = null;
    } else if (this.sodium !== null) {
      body = Buffer.allocUnsafe(bodyLength);
      if (!this.openWithSodium(pn, header, sealed, body)) body = null;
    } else {
      body = this.openWithNode(pn, header, sealed);
    }
    if (body === null) {
      this.counters.rejectedAuthentication++;
      return null;
    }
    this.accept(pn);
    return body;
  }

  /**
   * {@link open}, writing the plaintext (sealed.length - 16 bytes) into `out` at `offset`; returns its
   * length, or -1 for anything {@link open} drops (counted the same way). `out` may be the very bytes of
   * `sealed` (opening a datagram in place; nothing is allocated on the addon or libsodium) or overlap them at another
   * offset. On -1 the plaintext's range of `out` holds unspecified bytes (libsodium zeroes it), which is
   * why in-place opening suits a datagram that is dropped when it fails. Never throws for bad input from
   * the network; throws when `out` is too short for `sealed` (a caller's bug).
   */
  openInto(
    packetNumber: PacketNumber,
    header: Uint8Array,
    sealed: Uint8Array,
    out: Uint8Array,
    offset: number,
  ): number {
    const bodyLength = sealed instanceof Uint8Array ? sealed.length - TAG_BYTES : 0;
    if (!Number.isInteger(offset) || offset < 0 || offset + bodyLength > out.length) {
      throw new AnttError(
        ErrorCode.INVALID_ARGUMENT,
        `opening ${bodyLength} bytes needs room at offset ${offset} of a ${out.length}-byte buffer`,
      );
    }
    const pn = this.admit(packetNumber, header, sealed);
    if (pn < 0) return -1;
    let opened: boolean;
    if (this.native !== null) {
      const shifted = overlapsShiftedAt(sealed, out, offset, bodyLength);
      const source = shifted ? new Uint8Array(sealed) : sealed;
      opened = this.native.open(this.handleFor(pn), this.nonceFor(pn), header, source, out, offset) >= 0;
    } else if (this.sodium !== null) {
      const target = out.subarray(offset, offset + bodyLength);
      const source = overlapsShifted(sealed, target) ? new Uint8Array(sealed) : sealed;
      opened = this.openWithSodium(pn, header, source, target);
    } else {
      const body = this.openWithNode(pn, header, sealed);
      if (body !== null) out.set(body, offset);
      opened = body !== null;
    }
    if (!opened) {
      this.counters.rejectedAuthentication++;
      return -1;
    }
    this.accept(pn);
    return bodyLength;
  }

  /** The packet number if `sealed` may be opened at all, else -1 (counted as malformed or replayed). */
  private admit(packetNumber: PacketNumber, header: Uint8Array, sealed: Uint8Array): number {
    const pn = toPacketNumber(packetNumber);
    if (
      pn < 0 ||
      !(sealed instanceof Uint8Array) ||
      sealed.length < TAG_BYTES ||
      !(header instanceof Uint8Array)
    ) {
      this.counters.rejectedMalformed++;
      return -1;
    }
    if (this.replayWindow && !this.replayWindow.check(pn)) {
      this.counters.rejectedReplay++;
      return -1;
    }
    return pn;
  }

  private accept(pn: number): void {
    this.replayWindow?.commit(pn);
    this.counters.opened++;
  }

  /** libsodium checks the tag before it writes anything but zeroes `body` when the tag is wrong. */
  private openWithSodium(pn: number, header: Uint8Array, sealed: Uint8Array, body: Uint8Array): boolean {
    try {
      (this.sodium as SodiumAead).crypto_aead_chacha20poly1305_ietf_decrypt(
        body,
        null,
        sealed,
        header,
        this.nonceFor(pn),
        this.keyBytesFor(pn),
      );
      return true;
    } catch {
      return false;
    }
  }

  /** The plaintext in a buffer of node's, or null when the tag does not verify. */
  private openWithNode(pn: number, header: Uint8Array, sealed: Uint8Array): Buffer | null {
    const bodyLength = sealed.length - TAG_BYTES;
    const decipher = createDecipheriv(
      this.algorithm as 'aes-256-gcm',
      this.keyObjectFor(pn),
      this.nonceFor(pn),
      { authTagLength: TAG_BYTES },
    );
    decipher.setAAD(header, { plaintextLength: bodyLength });
    decipher.setAuthTag(sealed.subarray(bodyLength));
    const body = decipher.update(sealed.subarray(0, bodyLength));
    try {
      decipher.final();
    } catch {
      return null;
    }
    return body;
  }
}

/** Both directions of a secured connection, as returned by SecureHandshake.split(). */
export interface TransportKeys {
  readonly send: SealingKey;
  readonly receive: OpeningKey;
}
