/**
 * @antt/native: an optional Node-API addon for the two hot paths of Antt's transports (see
 * src/antt_native.c): AEAD sealing and opening into the caller's buffers with the OpenSSL that Node
 * itself runs on, and many UDP datagrams per system call (sendmmsg with UDP GSO, recvmmsg; Linux).
 *
 * Nothing here is required: {@link loadNative} returns null when the addon was not built (no C compiler
 * or Node headers at install time, an unsupported platform) or when `ANTT_NATIVE=0` is set, and
 * @antt/secure and @antt/udp then use node:crypto and dgram, with the same bytes on the wire.
 */
import type { Socket } from 'node:dgram';
import { createRequire } from 'node:module';

/** An AEAD key's OpenSSL context, for one direction; freed with the object. */
export type NativeAeadHandle = { readonly __brand: 'NativeAeadHandle' };

/** 0: AES-256-GCM, 1: ChaCha20-Poly1305 (RFC 8439). */
export type NativeCipher = 0 | 1;

export interface NativeAddon {
  /** A context for `key` (32 bytes); `encrypt` chooses seal or open. */
  createAead(cipher: NativeCipher, key: Uint8Array, encrypt: boolean): NativeAeadHandle;
  /** Writes ciphertext || 16-byte tag at out[offset]; returns plaintext.length + 16. In place is fine. */
  seal(
    handle: NativeAeadHandle,
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    out: Uint8Array,
    offset: number,
  ): number;
  /** Writes the plaintext at out[offset]; returns its length, or -1 when the tag does not verify. */
  open(
    handle: NativeAeadHandle,
    nonce: Uint8Array,
    aad: Uint8Array,
    sealed: Uint8Array,
    out: Uint8Array,
    offset: number,
  ): number;
  /** Linux only: a sockaddr for an IPv4/IPv6 literal, or null for anything else. */
  socketAddress?(host: string, port: number): Buffer | null;
  /**
   * Linux only: sends `datagrams[0..count)` to `address` with one sendmmsg(); `gso` groups equal-sized
   * runs into UDP GSO messages. Returns how many datagrams the kernel took (the rest are the caller's to
   * send another way), or -errno when it took none for an error other than a full buffer.
   */
  sendBatch?(fd: number, address: Buffer, datagrams: Uint8Array[], count: number, gso: boolean): number;
  /**
   * Linux only: reads the UDP socket `fd` (through a dup, watched by libuv; the caller stops its own
   * reading) with recvmmsg() in batches of up to `data.length / slotBytes` datagrams (at most 256).
   * Datagram i lands at `data[i * slotBytes]`; `meta[i * 8 ...]` holds its length (-1: it was longer than
   * a slot and is lost), family (4 or 6), port and address bytes; then `onBatch(count)` runs. Both arrays
   * are reused for the next batch. Returns a handle, or -errno when the descriptor cannot be watched.
   */
  startReceiver?(
    fd: number,
    data: Uint8Array,
    slotBytes: number,
    meta: Int32Array,
    onBatch: (count: number) => void,
  ): NativeReceiverHandle | number;
  /** Linux only: no more batches from this receiver (idempotent). */
  stopReceiver?(handle: NativeReceiverHandle): void;
  /** Linux only: the source address of datagram `index` of the current batch, as inet_ntop writes it. */
  formatAddress?(meta: Int32Array, index: number): string;
}

/** Ints per datagram in startReceiver's `meta`: length, family, port, 4 of address, 1 spare. */
export const RECEIVE_META_INTS = 8;

/** A running batch receiver; stops when stopped or garbage-collected. */
export type NativeReceiverHandle = { readonly __brand: 'NativeReceiverHandle' };

let addon: NativeAddon | null | undefined;
let reason = '';

function load(): NativeAddon | null {
  if (process.env.ANTT_NATIVE === '0') {
    reason = 'switched off by ANTT_NATIVE=0';
    return null;
  }
  const require = createRequire(import.meta.url);
  // dist/index.js sits next to the addon; src/index.ts (the workspace's "source" condition) one level up.
  const errors: string[] = [];
  for (const path of ['./antt_native.node', '../dist/antt_native.node']) {
    try {
      const loaded = require(path) as Partial<NativeAddon>;
      if (typeof loaded.createAead === 'function' && typeof loaded.seal === 'function') {
        return loaded as NativeAddon;
      }
      errors.push(`${path}: not the expected addon`);
    } catch (error) {
      errors.push(`${path}: ${(error as Error).message.split('\n')[0]}`);
    }
  }
  reason = `the addon did not load (${errors.join('; ')})`;
  return null;
}

/** The addon, or null when it is unavailable (then {@link nativeUnavailableReason} says why). */
export function loadNative(): NativeAddon | null {
  if (addon === undefined) addon = load();
  return addon;
}

/** Why {@link loadNative} returned null; empty when the addon is loaded. */
export function nativeUnavailableReason(): string {
  loadNative();
  return reason;
}

/** dgram's libuv handle wrapper for `socket`, from its internal state (undefined once closed). */
function dgramHandle(socket: Socket): object | undefined {
  const state = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  if (!state) return undefined;
  const handle = (socket as unknown as Record<symbol, { handle?: unknown } | undefined>)[state]?.handle;
  return typeof handle === 'object' && handle !== null ? handle : undefined;
}

/**
 * The file descriptor of a bound dgram socket, or -1 when it cannot be found (not bound yet, closed, a
 * platform without descriptors, or a Node whose internals changed). Read through dgram's internal state
 * rather than the deprecated `socket._handle`, so no deprecation warning is printed.
 */
export function udpSocketFd(socket: Socket): number {
  const fd = (dgramHandle(socket) as { fd?: unknown } | undefined)?.fd;
  return typeof fd === 'number' && Number.isInteger(fd) && fd >= 0 ? fd : -1;
}

/**
 * Stops dgram's own reading of a bound socket (so a native receiver is its only reader); false when
 * dgram's internals are not as expected, and then nothing changed.
 */
export function stopDgramReading(socket: Socket): boolean {
  const handle = dgramHandle(socket) as { recvStop?: () => number } | undefined;
  if (typeof handle?.recvStop !== 'function') return false;
  return handle.recvStop() === 0;
}

/** Resumes dgram's own reading after {@link stopDgramReading}. */
export function resumeDgramReading(socket: Socket): boolean {
  const handle = dgramHandle(socket) as { recvStart?: () => number } | undefined;
  if (typeof handle?.recvStart !== 'function') return false;
  return handle.recvStart() === 0;
}
