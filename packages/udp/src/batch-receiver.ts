/**
 * Many datagrams per wake-up on the receive path, through the optional @antt/native addon (Linux:
 * recvmmsg on a dup of the endpoint's socket, watched by libuv). dgram makes one system call, one fresh
 * Buffer, one address object and one 'message' event per datagram; here a batch of up to
 * RECEIVE_SLOTS datagrams costs one call and one callback, and each datagram is a view into one reused
 * buffer.
 *
 * Because that buffer is reused for the next batch, whoever keeps bytes of a datagram past its
 * delivery must copy them (the endpoint copies everything but DATA packets, and the reassembly copies
 * the out-of-order frames it holds).
 *
 * A datagram longer than a slot (a peer configured for larger datagrams than this endpoint) is
 * lost to the kernel's truncation; the receiver then hands the socket back to dgram for good, so only
 * that one is lost (the sender retransmits it, or its MTU probe simply failed).
 */
import type { Socket } from 'node:dgram';
import {
  loadNative,
  type NativeAddon,
  type NativeReceiverHandle,
  RECEIVE_META_INTS,
  resumeDgramReading,
  stopDgramReading,
  udpSocketFd,
} from '@antt/native';

/** Datagrams per batch. */
const RECEIVE_SLOTS = 32;
/**
 * Smallest slot: Antt's own ceiling on loopback paths (options.ts). An endpoint configured to send larger
 * datagrams gets slots of its own largest datagram (its peers are expected to be configured alike).
 */
export const RECEIVE_SLOT_BYTES = 16_384;

type ReceiveAddon = Required<Pick<NativeAddon, 'startReceiver' | 'stopReceiver' | 'formatAddress'>>;

/** Where a datagram came from, shaped like dgram's RemoteInfo; shared by datagrams from one source. */
export interface BatchSource {
  readonly address: string;
  readonly family: 'IPv4' | 'IPv6';
  readonly port: number;
  readonly size: number;
}

let enabled = true;

/** Internal switch for tests and benchmarks (not exported from the package): false keeps dgram reading. */
export function setBatchReceives(on: boolean): void {
  enabled = on;
}

function receiveAddon(): ReceiveAddon | null {
  const native = loadNative();
  if (
    native === null ||
    typeof native.startReceiver !== 'function' ||
    typeof native.stopReceiver !== 'function' ||
    typeof native.formatAddress !== 'function'
  ) {
    return null;
  }
  return native as ReceiveAddon;
}

export interface BatchReceiverStats {
  /** Batches read (recvmmsg calls that returned datagrams). */
  batches: number;
  /** Datagrams they carried. */
  datagrams: number;
}

export class BatchReceiver {
  readonly #addon: ReceiveAddon;
  readonly #socket: Socket;
  readonly #onDatagram: (datagram: Buffer, from: BatchSource) => void;
  readonly #data: Uint8Array;
  readonly #meta = new Int32Array(RECEIVE_SLOTS * RECEIVE_META_INTS);
  readonly #views: Buffer[];
  #handle: NativeReceiverHandle | undefined;
  /** The last source seen, reused while datagrams keep coming from it. */
  #source: BatchSource | undefined;
  readonly #sourceKey = new Int32Array(6);
  readonly stats: BatchReceiverStats = { batches: 0, datagrams: 0 };

  private constructor(
    addon: ReceiveAddon,
    socket: Socket,
    onDatagram: (datagram: Buffer, from: BatchSource) => void,
    slotBytes: number,
  ) {
    this.#addon = addon;
    this.#socket = socket;
    this.#onDatagram = onDatagram;
    this.#data = new Uint8Array(RECEIVE_SLOTS * slotBytes);
    this.#views = Array.from({ length: RECEIVE_SLOTS }, (_, i) =>
      Buffer.from(this.#data.buffer, i * slotBytes, slotBytes),
    );
  }

  /**
   * Takes over reading of the bound `socket` with slots of `largestDatagramBytes` (at least
   * RECEIVE_SLOT_BYTES), or returns null (dgram keeps reading, its 'message' events as before) when
   * the addon is missing, switched off, or cannot watch this socket.
   */
  static start(
    socket: Socket,
    onDatagram: (datagram: Buffer, from: BatchSource) => void,
    largestDatagramBytes = RECEIVE_SLOT_BYTES,
  ): BatchReceiver | null {
    const addon = enabled ? receiveAddon() : null;
    const fd = addon ? udpSocketFd(socket) : -1;
    if (addon === null || fd < 0) return null;
    const slotBytes = Math.max(RECEIVE_SLOT_BYTES, Math.min(largestDatagramBytes, 65_536));
    const receiver = new BatchReceiver(addon, socket, onDatagram, slotBytes);
    const handle = addon.startReceiver(fd, receiver.#data, slotBytes, receiver.#meta, receiver.#onBatch);
    if (typeof handle === 'number') return null;
    if (!stopDgramReading(socket)) {
      addon.stopReceiver(handle);
      return null;
    }
    receiver.#handle = handle;
    return receiver;
  }

  get running(): boolean {
    return this.#handle !== undefined;
  }

  /** No more datagrams from here (the socket is closing, or dgram takes over). */
  stop(): void {
    if (this.#handle === undefined) return;
    this.#addon.stopReceiver(this.#handle);
    this.#handle = undefined;
  }

  readonly #onBatch = (count: number): void => {
    if (this.#handle === undefined) return;
    this.stats.batches++;
    const meta = this.#meta;
    // Every datagram of the batch is delivered, even if the receiver stops meanwhile: they were read.
    for (let i = 0; i < count; i++) {
      const m = i * RECEIVE_META_INTS;
      const length = meta[m]!;
      if (length < 0) {
        // Longer than a slot: the kernel truncated it. dgram (which sizes its reads per datagram) reads
        // everything after this batch; the rest of this batch still goes out below.
        this.#handBack();
        continue;
      }
      this.stats.datagrams++;
      this.#onDatagram(this.#views[i]!.subarray(0, length), this.#sourceOf(i, m, length));
    }
  };

  #sourceOf(index: number, m: number, length: number): BatchSource {
    const meta = this.#meta;
    const key = this.#sourceKey;
    const source = this.#source;
    if (
      source !== undefined &&
      key[0] === meta[m + 1] &&
      key[1] === meta[m + 2] &&
      key[2] === meta[m + 3] &&
      key[3] === meta[m + 4] &&
      key[4] === meta[m + 5] &&
      key[5] === meta[m + 6]
    ) {
      return source;
    }
    for (let k = 0; k < 6; k++) key[k] = meta[m + 1 + k]!;
    const fresh: BatchSource = {
      address: this.#addon.formatAddress(meta, index),
      family: meta[m + 1] === 6 ? 'IPv6' : 'IPv4',
      port: meta[m + 2]!,
      size: length,
    };
    this.#source = fresh;
    return fresh;
  }

  #handBack(): void {
    if (this.#handle === undefined) return;
    const handle = this.#handle;
    this.#handle = undefined;
    this.#addon.stopReceiver(handle);
    resumeDgramReading(this.#socket);
  }
}
